package envoy

import (
	"bytes"
	"math"
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// ReadCheckRequest decodes the wire form of a CheckRequest into r and
// translates it: the outcome is always that of proto.Unmarshal followed
// by ToRequest. err is the decoding error (the gRPC server answers it
// with an error status); otherwise malformed is ToRequest's error, and r
// is zero then, else what ToRequest returns. vals, which may be nil, is
// room for header values that r.Header then uses (callers that keep r in
// a larger allocation save one).
//
// The well-formed requests Envoy sends are read straight into r (see
// fastRequest); anything else takes the standard path, so that an
// unusual or hostile message is judged exactly as before. Nothing in r
// refers to wire.
func ReadCheckRequest(wire []byte, r *pipeline.Request, vals []string) (malformed, err error) {
	if fastRequest(wire, r, vals) {
		return nil, nil
	}
	req := &authv3.CheckRequest{}
	if err := proto.Unmarshal(wire, req); err != nil {
		return nil, err
	}
	tr, malformed := ToRequest(req)
	if tr != nil {
		*r = *tr
	}
	return malformed, nil
}

// Field numbers of the CheckRequest parts fastRequest reads
// (envoy/service/auth/v3/attribute_context.proto and
// envoy/config/core/v3); TestWireFieldNumbers checks them against the
// generated descriptors.
const (
	fCheckAttributes = 1

	fAttrSource      = 1
	fAttrDestination = 2
	fAttrRequest     = 4
	fAttrContextExt  = 10
	fAttrMetadata    = 11
	fAttrTLSSession  = 12

	fPeerAddress     = 1
	fPeerService     = 2
	fPeerLabels      = 3
	fPeerPrincipal   = 4
	fPeerCertificate = 5

	fAddrSocket   = 1
	fAddrPipe     = 2
	fAddrInternal = 3

	fSocketAddress   = 2
	fSocketPortValue = 3
	fSocketNamedPort = 4

	fPipePath = 1

	fRequestHTTP = 2

	fHTTPID        = 1
	fHTTPMethod    = 2
	fHTTPHeaders   = 3
	fHTTPPath      = 4
	fHTTPHost      = 5
	fHTTPScheme    = 6
	fHTTPProtocol  = 10
	fHTTPBody      = 11
	fHTTPRawBody   = 12
	fHTTPHeaderMap = 13

	fTLSSNI = 1

	fHeaderMapHeaders = 1

	fHeaderKey      = 1
	fHeaderValue    = 2
	fHeaderRawValue = 3

	fEntryKey   = 1
	fEntryValue = 2

	fMetadataFilter = 1

	fStructFieldsIn = 1
	fListValues     = 1

	fValueNull   = 1
	fValueNumber = 2
	fValueStr    = 3
	fValueBool   = 4
	fValueStruct = 5
	fValueList   = 6
)

// Descriptors of the messages whose fields fastRequest does not all read:
// it checks the fields it skips against them (see skipField).
var (
	mdCheckRequest = (&authv3.CheckRequest{}).ProtoReflect().Descriptor()
	mdAttributes   = (&authv3.AttributeContext{}).ProtoReflect().Descriptor()
	mdPeer         = (&authv3.AttributeContext_Peer{}).ProtoReflect().Descriptor()
	mdRequest      = (&authv3.AttributeContext_Request{}).ProtoReflect().Descriptor()
	mdHTTP         = (&authv3.AttributeContext_HttpRequest{}).ProtoReflect().Descriptor()
	mdTLSSession   = (&authv3.AttributeContext_TLSSession{}).ProtoReflect().Descriptor()
	mdAddress      = (&corev3.Address{}).ProtoReflect().Descriptor()
	mdSocket       = (&corev3.SocketAddress{}).ProtoReflect().Descriptor()
	mdPipe         = (&corev3.Pipe{}).ProtoReflect().Descriptor()
	mdHeaderMap    = (&corev3.HeaderMap{}).ProtoReflect().Descriptor()
	mdHeaderValue  = (&corev3.HeaderValue{}).ProtoReflect().Descriptor()
	mdMetadata     = (&corev3.Metadata{}).ProtoReflect().Descriptor()
	mdStruct       = (&structpb.Struct{}).ProtoReflect().Descriptor()
	mdValue        = (&structpb.Value{}).ProtoReflect().Descriptor()
	mdListValue    = (&structpb.ListValue{}).ProtoReflect().Descriptor()
)

const (
	// maxSkipDepth bounds the nesting fastRequest checks in a skipped
	// field (route metadata Structs, say); deeper ones take the standard
	// path, whose own limit is protowire.DefaultRecursionLimit.
	maxSkipDepth = 64
	// minBodyHole is the body size from which fastRequest leaves the body
	// out of the string its other fields share (see wireReader.hole).
	minBodyHole = 256
)

// fastRequest reads wire, a CheckRequest in protobuf wire form, straight
// into r, which becomes the pipeline.Request that proto.Unmarshal and
// ToRequest would give, without building the generated messages (their
// header map was ~9% of a check's CPU). The header values are cut from
// vals when it is long enough. It returns false, and leaves r zero,
// whenever it cannot vouch for exactly that outcome; the caller then
// takes the standard path. That is: on any decoding error; a singular
// message field that appears twice (the standard decoder merges them);
// two members of a oneof (address, port, a metadata Value's kind); a
// header key that appears twice in the headers map (case-insensitively);
// a map entry with other fields than its key and value; packed or group
// encodings, or nesting deeper than maxSkipDepth, in the fields it skips
// or in metadata; and every request ToRequest would refuse, so that
// malformed requests get exactly ToRequest's error.
//
// Fields it does not translate are still checked as proto.Unmarshal would
// (wire types, UTF-8 of string fields, nested messages) against the
// generated descriptors, so a message the standard decoder refuses is
// never accepted here.
//
// Every string of the Request is a substring of one copy of wire: one
// allocation instead of one per string, and nothing aliases the caller's
// (pooled) buffer. A body of minBodyHole bytes or more is copied on its
// own and left out of that string, so a header value kept by a cache does
// not keep the body alive.
func fastRequest(wire []byte, r *pipeline.Request, vals []string) bool {
	*r = pipeline.Request{}
	if !readRequest(wire, r, vals) {
		*r = pipeline.Request{}
		return false
	}
	return true
}

// readRequest is fastRequest without the reset of r on failure.
func readRequest(wire []byte, r *pipeline.Request, vals []string) bool {
	d := wireReader{wire: wire, r: r, vals: vals}
	d.hole = bodySpan(wire)
	var sb strings.Builder
	sb.Grow(len(wire) - (d.hole[1] - d.hole[0]))
	sb.Write(wire[:d.hole[0]])
	sb.Write(wire[d.hole[1]:])
	d.s = sb.String()

	attrs, ok := soleMessage(wire, mdCheckRequest, fCheckAttributes)
	if !ok {
		return false // missing attributes (ToRequest's error) or odd
	}
	return d.attributes(attrs)
}

// soleMessage returns the message field num of b, a message of type md,
// checking every other field as skipField does. ok is false when the field
// is missing or repeated (a merge, left to the standard decoder) or when
// anything does not read.
func soleMessage(b []byte, md protoreflect.MessageDescriptor, field protowire.Number) (msg []byte, ok bool) {
	seen := false
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		if num == field && typ == protowire.BytesType {
			if seen {
				return nil, false
			}
			seen = true
			msg, n = protowire.ConsumeBytes(b)
		} else {
			n = skipField(md, num, typ, b, 0)
		}
		if n < 0 {
			return nil, false
		}
		b = b[n:]
	}
	return msg, seen
}

// wireReader holds the message fastRequest reads, the string its strings
// are cut from, and where the Request goes.
type wireReader struct {
	wire []byte
	// s is wire as a string, without the bytes wire[hole[0]:hole[1]].
	s    string
	hole [2]int
	r    *pipeline.Request
	vals []string // see values
}

// values returns n strings for header values: d.vals when it is long
// enough, else a new array.
func (d *wireReader) values(n int) []string {
	if n <= len(d.vals) {
		return d.vals[:n:n]
	}
	return make([]string, n)
}

// str returns v, a sub-slice of d.wire outside the hole, as a substring
// of d.s, or false when it is not valid UTF-8 (a proto3 string field must
// be; the standard decoder fails then).
func (d *wireReader) str(v []byte) (string, bool) {
	if !utf8.Valid(v) {
		return "", false
	}
	return d.sub(v)
}

// strField reads the value of a string field at the start of b: the
// string (see str) and its length, or n < 0 when it does not read.
func (d *wireReader) strField(b []byte) (string, int) {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return "", -1
	}
	if s, ok := d.str(v); ok {
		return s, n
	}
	return "", -1
}

// sub returns v, a sub-slice of d.wire, as a substring of d.s. Its offset
// in d.wire follows from the capacities, as every slice the reader
// handles is cut from d.wire by protowire. A v that overlaps the hole is
// refused (false): only a body can be there, and bodies are copied.
func (d *wireReader) sub(v []byte) (string, bool) {
	if len(v) == 0 {
		return "", true
	}
	off := cap(d.wire) - cap(v)
	switch {
	case off >= d.hole[1]:
		off -= d.hole[1] - d.hole[0]
	case off+len(v) > d.hole[0] && d.hole[1] > d.hole[0]:
		return "", false
	}
	return d.s[off : off+len(v)], true
}

// attributes reads AttributeContext and builds the Request.
func (d *wireReader) attributes(b []byte) bool {
	var (
		src, dst, req, meta, tls []byte
		seen                     [fAttrTLSSession + 1]bool
		ctx                      map[string]string
	)
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		key := num
		if typ != protowire.BytesType {
			key = 0 // not a field read here: skipField checks it
		}
		var v []byte
		switch key {
		case fAttrSource, fAttrDestination, fAttrRequest, fAttrMetadata, fAttrTLSSession:
			if seen[num] {
				return false // the standard decoder would merge both
			}
			seen[num] = true
			v, n = protowire.ConsumeBytes(b)
			switch num {
			case fAttrSource:
				src = v
			case fAttrDestination:
				dst = v
			case fAttrRequest:
				req = v
			case fAttrMetadata:
				meta = v
			case fAttrTLSSession:
				tls = v
			}
		case fAttrContextExt:
			n = d.mapEntry(b, &ctx)
		default:
			n = skipField(mdAttributes, num, typ, b, 0)
		}
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	if !seen[fAttrRequest] {
		return false // ToRequest: missing attributes.request
	}
	if !d.request(req) {
		return false
	}
	r := d.r
	var ok bool
	if seen[fAttrSource] {
		if r.Source, ok = d.peer(src); !ok {
			return false
		}
	}
	if seen[fAttrDestination] {
		if r.Destination, ok = d.peer(dst); !ok {
			return false
		}
	}
	if seen[fAttrTLSSession] {
		if r.SNI, ok = d.tlsSession(tls); !ok {
			return false
		}
	}
	if r.Metadata, ok = d.metadata(meta); !ok {
		return false
	}
	r.Context = ctx
	return true
}

// request reads AttributeContext.Request; only http is translated.
func (d *wireReader) request(b []byte) bool {
	http, ok := soleMessage(b, mdRequest, fRequestHTTP)
	if !ok {
		return false // missing attributes.request.http (ToRequest's error) or odd
	}
	return d.http(http)
}

// http reads AttributeContext.HttpRequest in two passes: the first checks
// every field and keeps the last value of each scalar, as the standard
// decoder does; the second builds the headers from header_map when it has
// entries, else from the headers map, as ToRequest does.
func (d *wireReader) http(msg []byte) bool {
	var (
		line          requestLine
		body, rawBody []byte
		headerMap     []byte
		seenMap       bool
		mapN, listN   int
	)
	for b := msg; len(b) > 0; {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		key := num
		if typ != protowire.BytesType {
			key = 0 // not a field read here: skipField checks it
		}
		var v []byte
		switch key {
		case fHTTPID, fHTTPMethod, fHTTPPath, fHTTPHost, fHTTPScheme, fHTTPProtocol:
			var s string
			s, n = d.strField(b)
			switch num {
			case fHTTPID:
				line.id = s
			case fHTTPMethod:
				line.method = s
			case fHTTPPath:
				line.path = s
			case fHTTPHost:
				line.host = s
			case fHTTPScheme:
				line.scheme = s
			case fHTTPProtocol:
				line.protocol = s
			}
		case fHTTPHeaders:
			if v, n = protowire.ConsumeBytes(b); n >= 0 {
				if _, _, ok := d.entry(v); !ok {
					return false
				}
				mapN++
			}
		case fHTTPBody:
			if v, n = protowire.ConsumeBytes(b); n >= 0 {
				if !utf8.Valid(v) {
					return false
				}
				body = v
			}
		case fHTTPRawBody:
			rawBody, n = protowire.ConsumeBytes(b)
		case fHTTPHeaderMap:
			if seenMap {
				return false
			}
			seenMap = true
			if headerMap, n = protowire.ConsumeBytes(b); n >= 0 {
				var ok bool
				if listN, ok = d.countHeaderMap(headerMap); !ok {
					return false
				}
			}
		default:
			n = skipField(mdHTTP, num, typ, b, 0)
		}
		if n < 0 {
			return false
		}
		b = b[n:]
	}

	var (
		h  pipeline.Header
		ok bool
	)
	if listN > 0 {
		h, ok = d.headersFromList(headerMap, listN)
	} else {
		h, ok = d.headersFromMap(msg, mapN)
	}
	if !ok {
		return false
	}
	r := d.r
	if line.translate(r, h) != nil {
		return false // ToRequest's error comes from ToRequest
	}
	// As ToRequest: raw_body when it has bytes, else body. Both are
	// copied: the standard decoder copies them too, and the body must not
	// live in the string the other fields share (see bodySpan).
	if len(rawBody) > 0 {
		r.Body = bytes.Clone(rawBody)
	} else if len(body) > 0 {
		r.Body = bytes.Clone(body)
	}
	return true
}

// headersFromMap is ToRequest's headersFromMap over the wire entries of
// the headers map (n of them, already checked by http). A key that comes
// twice, exactly or in another case, is left to the standard path: the
// map keeps the last of exact duplicates, and the order of case variants
// is the map's iteration order.
func (d *wireReader) headersFromMap(msg []byte, n int) (pipeline.Header, bool) {
	h := make(pipeline.Header, n)
	vals := d.values(n)
	i := 0
	for b := msg; len(b) > 0; {
		num, typ, m := protowire.ConsumeField(b)
		if m < 0 {
			return nil, false
		}
		if num == fHTTPHeaders && typ == protowire.BytesType {
			_, _, tn := protowire.ConsumeTag(b)
			v, _ := protowire.ConsumeBytes(b[tn:])
			k, val, _ := d.entry(v)
			if checkHeader(k, val) != nil {
				return nil, false
			}
			k = lowerASCII(k)
			if _, dup := h[k]; dup {
				return nil, false
			}
			vals[i] = val
			h[k] = vals[i : i+1 : i+1]
			i++
		}
		b = b[m:]
	}
	return h, true
}

// countHeaderMap checks a HeaderMap and counts its headers.
func (d *wireReader) countHeaderMap(b []byte) (int, bool) {
	n := 0
	for len(b) > 0 {
		num, typ, m := consumeTag(b)
		if m < 0 {
			return 0, false
		}
		b = b[m:]
		if num == fHeaderMapHeaders && typ == protowire.BytesType {
			var v []byte
			if v, m = protowire.ConsumeBytes(b); m >= 0 {
				if _, _, ok := d.headerValue(v); !ok {
					return 0, false
				}
				n++
			}
		} else {
			m = skipField(mdHeaderMap, num, typ, b, 0)
		}
		if m < 0 {
			return 0, false
		}
		b = b[m:]
	}
	return n, true
}

// headersFromList is ToRequest's headersFromList over a HeaderMap that
// countHeaderMap checked and found n headers in.
func (d *wireReader) headersFromList(b []byte, n int) (pipeline.Header, bool) {
	h := make(pipeline.Header, n)
	vals := d.values(n)
	i := 0
	for len(b) > 0 {
		num, typ, m := protowire.ConsumeField(b)
		if m < 0 {
			return nil, false
		}
		if num == fHeaderMapHeaders && typ == protowire.BytesType {
			_, _, tn := protowire.ConsumeTag(b)
			hv, _ := protowire.ConsumeBytes(b[tn:])
			k, v, _ := d.headerValue(hv)
			if checkHeader(k, v) != nil {
				return nil, false
			}
			k = lowerASCII(k)
			if old, dup := h[k]; dup {
				h[k] = append(old, v)
			} else {
				vals[i] = v
				h[k] = vals[i : i+1 : i+1]
			}
			i++
		}
		b = b[m:]
	}
	return h, true
}

// headerValue reads a HeaderValue: its key, and its value as
// headersFromList takes it (raw_value when it has bytes, else value).
func (d *wireReader) headerValue(b []byte) (key, value string, ok bool) {
	var raw []byte
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return "", "", false
		}
		b = b[n:]
		switch {
		case typ != protowire.BytesType:
			n = skipField(mdHeaderValue, num, typ, b, 0)
		case num == fHeaderKey:
			key, n = d.strField(b)
		case num == fHeaderValue:
			value, n = d.strField(b)
		case num == fHeaderRawValue:
			raw, n = protowire.ConsumeBytes(b)
		default:
			n = skipField(mdHeaderValue, num, typ, b, 0)
		}
		if n < 0 {
			return "", "", false
		}
		b = b[n:]
	}
	if len(raw) > 0 {
		// bytes: any value, invalid UTF-8 included
		if value, ok = d.sub(raw); !ok {
			return "", "", false
		}
	}
	return key, value, true
}

// mapEntry reads the map<string, string> entry at the start of b into *m,
// made on first use, and returns its length, or -1 when it does not read.
func (d *wireReader) mapEntry(b []byte, m *map[string]string) int {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return -1
	}
	k, val, ok := d.entry(v)
	if !ok {
		return -1
	}
	if *m == nil {
		*m = make(map[string]string)
	}
	(*m)[k] = val
	return n
}

// entry reads a map<string, string> entry. Anything but its key and
// value fields is left to the standard path.
func (d *wireReader) entry(b []byte) (key, value string, ok bool) {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 || typ != protowire.BytesType || (num != fEntryKey && num != fEntryValue) {
			return "", "", false
		}
		b = b[n:]
		s, n := d.strField(b)
		if n < 0 {
			return "", "", false
		}
		if num == fEntryKey {
			key = s
		} else {
			value = s
		}
		b = b[n:]
	}
	return key, value, true
}

// peer reads AttributeContext.Peer as toPeer translates it.
func (d *wireReader) peer(b []byte) (pipeline.Peer, bool) {
	var (
		p        pipeline.Peer
		seenAddr bool
	)
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return p, false
		}
		b = b[n:]
		var v []byte
		switch {
		case typ != protowire.BytesType:
			n = skipField(mdPeer, num, typ, b, 0)
		case num == fPeerAddress:
			if seenAddr {
				return p, false
			}
			seenAddr = true
			if v, n = protowire.ConsumeBytes(b); n >= 0 && !d.address(v, &p) {
				return p, false
			}
		case num == fPeerLabels:
			n = d.mapEntry(b, &p.Labels)
		case num == fPeerService:
			p.Service, n = d.strField(b)
		case num == fPeerPrincipal:
			p.Principal, n = d.strField(b)
		case num == fPeerCertificate:
			p.Certificate, n = d.strField(b)
		default:
			n = skipField(mdPeer, num, typ, b, 0)
		}
		if n < 0 {
			return p, false
		}
		b = b[n:]
	}
	return p, true
}

// address reads a core Address into p. Its oneof must have one member at
// most: the standard decoder keeps the last, or merges repeats.
func (d *wireReader) address(b []byte, p *pipeline.Peer) bool {
	members := 0
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == fAddrSocket || num == fAddrPipe || num == fAddrInternal) {
			if members++; members > 1 {
				return false
			}
		}
		var v []byte
		switch {
		case typ == protowire.BytesType && num == fAddrSocket:
			if v, n = protowire.ConsumeBytes(b); n >= 0 && !d.socketAddress(v, p) {
				return false
			}
		case typ == protowire.BytesType && num == fAddrPipe:
			if v, n = protowire.ConsumeBytes(b); n >= 0 && !d.pipe(v, p) {
				return false
			}
		default: // envoy_internal_address among them: no address
			n = skipField(mdAddress, num, typ, b, 0)
		}
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// socketAddress reads the address and port_value of a SocketAddress.
func (d *wireReader) socketAddress(b []byte, p *pipeline.Peer) bool {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch {
		case num == fSocketNamedPort:
			return false // shares a oneof with port_value
		case num == fSocketAddress && typ == protowire.BytesType:
			p.Address, n = d.strField(b)
		case num == fSocketPortValue && typ == protowire.VarintType:
			var x uint64
			x, n = protowire.ConsumeVarint(b)
			p.Port = uint32(x) // as the standard decoder truncates
		default:
			n = skipField(mdSocket, num, typ, b, 0)
		}
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// pipe reads the path of a Pipe, which toPeer reports as the address.
func (d *wireReader) pipe(b []byte, p *pipeline.Peer) bool {
	p.Address, p.Port = "", 0
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if num == fPipePath && typ == protowire.BytesType {
			p.Address, n = d.strField(b)
		} else {
			n = skipField(mdPipe, num, typ, b, 0)
		}
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// tlsSession reads the sni of a TLSSession.
func (d *wireReader) tlsSession(b []byte) (string, bool) {
	var sni string
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		if num == fTLSSNI && typ == protowire.BytesType {
			sni, n = d.strField(b)
		} else {
			n = skipField(mdTLSSession, num, typ, b, 0)
		}
		if n < 0 {
			return "", false
		}
		b = b[n:]
	}
	return sni, true
}

// metadata reads metadata_context as toMetadata translates it: each
// filter_metadata namespace's Struct as structpb's AsMap gives it, nil
// without any. An entry or Value field that appears twice in one message
// (merged by the standard decoder) is left to the standard path.
func (d *wireReader) metadata(b []byte) (map[string]map[string]any, bool) {
	var out map[string]map[string]any
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		if num == fMetadataFilter && typ == protowire.BytesType {
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n < 0 {
				return nil, false
			}
			ns, fields, ok := d.structEntry(v, true, 0)
			if !ok {
				return nil, false
			}
			m, ok := fields.(map[string]any)
			if !ok { // an entry without a Struct: AsMap of nil
				m = map[string]any{}
			}
			if out == nil {
				out = make(map[string]map[string]any)
			}
			out[ns] = m
		} else {
			n = skipField(mdMetadata, num, typ, b, 0)
		}
		if n < 0 {
			return nil, false
		}
		b = b[n:]
	}
	return out, true
}

// structEntry reads a map entry whose value is a Struct (isStruct) or a
// Value: its key, and the value as AsMap or AsInterface gives it (nil
// when the entry has none).
func (d *wireReader) structEntry(b []byte, isStruct bool, depth int) (string, any, bool) {
	var (
		key  string
		val  any
		seen bool
	)
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 || typ != protowire.BytesType || (num != fEntryKey && num != fEntryValue) {
			return "", nil, false
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", nil, false
		}
		var ok bool
		if num == fEntryKey {
			key, ok = d.str(v)
		} else if !seen {
			seen = true
			if isStruct {
				val, ok = d.structMap(v, depth+1)
			} else {
				val, ok = d.value(v, depth+1)
			}
		}
		if !ok {
			return "", nil, false
		}
		b = b[n:]
	}
	return key, val, true
}

// structMap reads a Struct as AsMap gives it: never nil.
func (d *wireReader) structMap(b []byte, depth int) (map[string]any, bool) {
	if depth > maxSkipDepth {
		return nil, false
	}
	m := map[string]any{}
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		if num == fStructFieldsIn && typ == protowire.BytesType {
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n < 0 {
				return nil, false
			}
			k, val, ok := d.structEntry(v, false, depth)
			if !ok {
				return nil, false
			}
			m[k] = val
		} else {
			n = skipField(mdStruct, num, typ, b, depth)
		}
		if n < 0 {
			return nil, false
		}
		b = b[n:]
	}
	return m, true
}

// value reads a Value as AsInterface gives it: nil, float64, string,
// bool, map[string]any or []any. More than one kind field is left to the
// standard path (it keeps the last, or merges two structs or lists).
func (d *wireReader) value(b []byte, depth int) (any, bool) {
	if depth > maxSkipDepth {
		return nil, false
	}
	var (
		out   any
		kinds int
	)
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		ok := true
		switch {
		case num == fValueNull && typ == protowire.VarintType:
			_, n = protowire.ConsumeVarint(b)
			out = nil
		case num == fValueNumber && typ == protowire.Fixed64Type:
			var x uint64
			x, n = protowire.ConsumeFixed64(b)
			out = number(math.Float64frombits(x))
		case num == fValueBool && typ == protowire.VarintType:
			var x uint64
			x, n = protowire.ConsumeVarint(b)
			out = protowire.DecodeBool(x)
		case typ == protowire.BytesType && (num == fValueStr || num == fValueStruct || num == fValueList):
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n < 0 {
				return nil, false
			}
			switch num {
			case fValueStr:
				out, ok = d.str(v)
			case fValueStruct:
				out, ok = d.structMap(v, depth+1)
			default:
				out, ok = d.list(v, depth+1)
			}
		default:
			kinds-- // not a kind: checked, not counted
			n = skipField(mdValue, num, typ, b, depth)
		}
		if kinds++; n < 0 || !ok || kinds > 1 {
			return nil, false
		}
		b = b[n:]
	}
	return out, true
}

// number is a number_value as AsInterface gives it: the JSON names of
// NaN and the infinities as strings, other numbers as they are.
func number(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

// list reads a ListValue as AsSlice gives it: never nil.
func (d *wireReader) list(b []byte, depth int) ([]any, bool) {
	if depth > maxSkipDepth {
		return nil, false
	}
	l := []any{}
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		if num == fListValues && typ == protowire.BytesType {
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n < 0 {
				return nil, false
			}
			x, ok := d.value(v, depth+1)
			if !ok {
				return nil, false
			}
			l = append(l, x)
		} else {
			n = skipField(mdListValue, num, typ, b, depth)
		}
		if n < 0 {
			return nil, false
		}
		b = b[n:]
	}
	return l, true
}

// consumeTag is protowire.ConsumeTag that also refuses the field numbers
// above protowire.MaxValidNumber, as the standard decoder does.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1
	}
	return num, typ, n
}

// skipField checks the value of field num of a message md, which the
// caller does not translate, and returns its length, or -1 whenever the
// standard decoder could refuse it or read it differently. An unknown
// field is kept by the standard decoder, and is only checked to be
// well-formed. A known one must have its declared wire type (packed
// repeated scalars and groups are left to the standard path), a string
// must be valid UTF-8, and a message is checked field by field.
func skipField(md protoreflect.MessageDescriptor, num protowire.Number, typ protowire.Type, b []byte, depth int) int {
	if typ == protowire.StartGroupType || typ == protowire.EndGroupType {
		return -1
	}
	n := protowire.ConsumeFieldValue(num, typ, b)
	if n < 0 {
		return -1
	}
	fd := md.Fields().ByNumber(num)
	if fd == nil {
		return n
	}
	if typ != wireType(fd.Kind()) {
		return -1
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		if v, _ := protowire.ConsumeBytes(b); !utf8.Valid(v) {
			return -1
		}
	case protoreflect.MessageKind:
		if v, _ := protowire.ConsumeBytes(b); !validMessage(fd.Message(), v, depth+1) {
			return -1
		}
	}
	return n
}

// validMessage checks every field of b, a message md, with skipField.
func validMessage(md protoreflect.MessageDescriptor, b []byte, depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if n = skipField(md, num, typ, b, depth); n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// wireType is the wire type of an unpacked field of kind k; groups have
// none here (-1), as skipField leaves them to the standard path.
func wireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.BoolKind, protoreflect.EnumKind,
		protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		return protowire.VarintType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	}
	return -1
}

// bodySpan returns where the body of the first attributes.request.http
// lies in wire when it is at least minBodyHole bytes (the larger of body
// and raw_body), or an empty span. It only looks: fastRequest checks the
// message.
func bodySpan(wire []byte) [2]int {
	msg := wire
	for _, num := range [...]protowire.Number{fCheckAttributes, fAttrRequest, fRequestHTTP} {
		if msg = firstMessage(msg, num); msg == nil {
			return [2]int{}
		}
	}
	var span [2]int
	for b := msg; len(b) > 0; {
		num, typ, n := protowire.ConsumeField(b)
		if n < 0 {
			return [2]int{}
		}
		if (num == fHTTPBody || num == fHTTPRawBody) && typ == protowire.BytesType {
			_, _, tn := protowire.ConsumeTag(b)
			v, _ := protowire.ConsumeBytes(b[tn:])
			if len(v) >= minBodyHole && len(v) > span[1]-span[0] {
				start := cap(wire) - cap(v)
				span = [2]int{start, start + len(v)}
			}
		}
		b = b[n:]
	}
	return span
}

// firstMessage returns the value of the first field num of b, a message,
// or nil.
func firstMessage(b []byte, num protowire.Number) []byte {
	for len(b) > 0 {
		n, typ, m := protowire.ConsumeField(b)
		if m < 0 {
			return nil
		}
		if n == num && typ == protowire.BytesType {
			_, _, tn := protowire.ConsumeTag(b)
			v, _ := protowire.ConsumeBytes(b[tn:])
			return v
		}
		b = b[m:]
	}
	return nil
}
