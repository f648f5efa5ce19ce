package envoy

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestWireFieldNumbers checks the field numbers fastRequest reads against
// the generated descriptors: a renumbering in go-control-plane would
// otherwise read the wrong field.
func TestWireFieldNumbers(t *testing.T) {
	for _, tc := range []struct {
		md   protoreflect.MessageDescriptor
		name protoreflect.Name
		num  protowire.Number
		kind protoreflect.Kind
	}{
		{mdCheckRequest, "attributes", fCheckAttributes, protoreflect.MessageKind},
		{mdAttributes, "source", fAttrSource, protoreflect.MessageKind},
		{mdAttributes, "destination", fAttrDestination, protoreflect.MessageKind},
		{mdAttributes, "request", fAttrRequest, protoreflect.MessageKind},
		{mdAttributes, "context_extensions", fAttrContextExt, protoreflect.MessageKind},
		{mdAttributes, "metadata_context", fAttrMetadata, protoreflect.MessageKind},
		{mdAttributes, "tls_session", fAttrTLSSession, protoreflect.MessageKind},
		{mdPeer, "address", fPeerAddress, protoreflect.MessageKind},
		{mdPeer, "service", fPeerService, protoreflect.StringKind},
		{mdPeer, "labels", fPeerLabels, protoreflect.MessageKind},
		{mdPeer, "principal", fPeerPrincipal, protoreflect.StringKind},
		{mdPeer, "certificate", fPeerCertificate, protoreflect.StringKind},
		{mdAddress, "socket_address", fAddrSocket, protoreflect.MessageKind},
		{mdAddress, "pipe", fAddrPipe, protoreflect.MessageKind},
		{mdAddress, "envoy_internal_address", fAddrInternal, protoreflect.MessageKind},
		{mdSocket, "address", fSocketAddress, protoreflect.StringKind},
		{mdSocket, "port_value", fSocketPortValue, protoreflect.Uint32Kind},
		{mdSocket, "named_port", fSocketNamedPort, protoreflect.StringKind},
		{mdPipe, "path", fPipePath, protoreflect.StringKind},
		{mdRequest, "http", fRequestHTTP, protoreflect.MessageKind},
		{mdHTTP, "id", fHTTPID, protoreflect.StringKind},
		{mdHTTP, "method", fHTTPMethod, protoreflect.StringKind},
		{mdHTTP, "headers", fHTTPHeaders, protoreflect.MessageKind},
		{mdHTTP, "path", fHTTPPath, protoreflect.StringKind},
		{mdHTTP, "host", fHTTPHost, protoreflect.StringKind},
		{mdHTTP, "scheme", fHTTPScheme, protoreflect.StringKind},
		{mdHTTP, "protocol", fHTTPProtocol, protoreflect.StringKind},
		{mdHTTP, "body", fHTTPBody, protoreflect.StringKind},
		{mdHTTP, "raw_body", fHTTPRawBody, protoreflect.BytesKind},
		{mdHTTP, "header_map", fHTTPHeaderMap, protoreflect.MessageKind},
		{mdTLSSession, "sni", fTLSSNI, protoreflect.StringKind},
		{mdHeaderMap, "headers", fHeaderMapHeaders, protoreflect.MessageKind},
		{mdHeaderValue, "key", fHeaderKey, protoreflect.StringKind},
		{mdHeaderValue, "value", fHeaderValue, protoreflect.StringKind},
		{mdHeaderValue, "raw_value", fHeaderRawValue, protoreflect.BytesKind},
		{mdMetadata, "filter_metadata", fMetadataFilter, protoreflect.MessageKind},
		{mdStruct, "fields", fStructFieldsIn, protoreflect.MessageKind},
		{mdListValue, "values", fListValues, protoreflect.MessageKind},
		{mdValue, "null_value", fValueNull, protoreflect.EnumKind},
		{mdValue, "number_value", fValueNumber, protoreflect.DoubleKind},
		{mdValue, "string_value", fValueStr, protoreflect.StringKind},
		{mdValue, "bool_value", fValueBool, protoreflect.BoolKind},
		{mdValue, "struct_value", fValueStruct, protoreflect.MessageKind},
		{mdValue, "list_value", fValueList, protoreflect.MessageKind},
	} {
		fd := tc.md.Fields().ByName(tc.name)
		if fd == nil {
			t.Errorf("%s.%s: no such field", tc.md.FullName(), tc.name)
			continue
		}
		if fd.Number() != tc.num || fd.Kind() != tc.kind {
			t.Errorf("%s: field %d %v, fastRequest reads %d %v", fd.FullName(), fd.Number(), fd.Kind(), tc.num, tc.kind)
		}
	}
	// The map entries fastRequest reads: string keys, and string, Struct
	// or Value values.
	for _, tc := range []struct {
		fd    protoreflect.FieldDescriptor
		value protoreflect.FullName
	}{
		{mdAttributes.Fields().ByNumber(fAttrContextExt), ""},
		{mdPeer.Fields().ByNumber(fPeerLabels), ""},
		{mdHTTP.Fields().ByNumber(fHTTPHeaders), ""},
		{mdMetadata.Fields().ByNumber(fMetadataFilter), mdStruct.FullName()},
		{mdStruct.Fields().ByNumber(fStructFieldsIn), mdValue.FullName()},
	} {
		fd := tc.fd
		if !fd.IsMap() || fd.MapKey().Number() != fEntryKey || fd.MapValue().Number() != fEntryValue || fd.MapKey().Kind() != protoreflect.StringKind {
			t.Errorf("%s is not the map fastRequest reads", fd.FullName())
			continue
		}
		v := fd.MapValue()
		if tc.value == "" && v.Kind() != protoreflect.StringKind || tc.value != "" && (v.Message() == nil || v.Message().FullName() != tc.value) {
			t.Errorf("%s: map values are not what fastRequest reads", fd.FullName())
		}
	}
	if fd := mdListValue.Fields().ByNumber(fListValues); fd.Message().FullName() != mdValue.FullName() || !fd.IsList() {
		t.Errorf("%s is not the repeated Value fastRequest reads", fd.FullName())
	}
}

// TestWireReaderRefusesTheHole checks the guard of wireReader.sub: a
// slice overlapping the body left out of the shared string is refused
// rather than read from the wrong bytes.
func TestWireReaderRefusesTheHole(t *testing.T) {
	wire := []byte("0123456789")
	d := wireReader{wire: wire, s: "01236789", hole: [2]int{4, 6}}
	for _, tc := range []struct {
		lo, hi int
		want   string
		ok     bool
	}{
		{0, 4, "0123", true},
		{6, 10, "6789", true},
		{7, 8, "7", true},
		{3, 5, "", false},
		{4, 6, "", false},
		{5, 7, "", false},
		{2, 2, "", true},
	} {
		got, ok := d.sub(wire[tc.lo:tc.hi])
		if got != tc.want || ok != tc.ok {
			t.Errorf("sub(wire[%d:%d]) = %q, %v; want %q, %v", tc.lo, tc.hi, got, ok, tc.want, tc.ok)
		}
	}
}
