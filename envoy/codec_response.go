package envoy

import (
	"encoding/binary"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Field numbers of the CheckResponse parts AppendCheckResponse writes
// (envoy/service/auth/v3/external_auth.proto, envoy/config/core/v3,
// envoy/type/v3, google/rpc/status.proto, google/protobuf/struct.proto and
// wrappers.proto); TestResponseFieldNumbers checks them.
const (
	fRespStatus   = 1
	fRespDenied   = 2
	fRespOK       = 3
	fRespMetadata = 4

	fStatusCode    = 1
	fStatusMessage = 2

	fOKHeaders         = 2
	fOKHeadersToRemove = 5
	fOKResponseHeaders = 6
	fOKQueryToSet      = 7
	fOKQueryToRemove   = 8

	fDeniedStatus   = 1
	fDeniedHeaders  = 2
	fDeniedBody     = 3
	fHTTPStatusCode = 1

	fOptionHeader     = 1
	fOptionAppend     = 2
	fHeaderValueKey   = 1
	fHeaderValueValue = 2
	fBoolValue        = 1

	fQueryKey   = 1
	fQueryValue = 2

	fStructFields     = 1
	fStructEntryKey   = 1
	fStructEntryValue = 2
	fValueString      = 3
)

// maxOneByteMsgLength is the longest message whose length takes one byte.
const maxOneByteMsgLength = 1<<7 - 1

// AppendCheckResponse appends the wire form of ToCheckResponse(d) to b,
// without building the generated messages: proto.Unmarshal of the result
// equals ToCheckResponse(d) (FuzzAppendCheckResponse checks it). Both
// share the rules of what is emitted and dropped (eachHeaderOption,
// removals, eachQueryParam, fixedMetadata); run ValidateDecision first,
// as for ToCheckResponse.
//
// The entries of d.Session.Metadata are the one part still encoded by the
// proto package, one value at a time: they are rare and of any shape.
func AppendCheckResponse(b []byte, d *pipeline.Decision) []byte {
	d = orInvalid(d)
	if d.Allowed {
		b = appendMessage(b, fRespStatus, nil) // google.rpc.Status{code: OK}
		start := len(b)
		b = beginMessage(b, fRespOK)
		if s := d.Session; s != nil {
			var orphans []string
			b, orphans = appendHeaderOptions(b, fOKHeaders, s.Header, true)
			for _, n := range removals(s.RemoveHeaders, s.Header, orphans) {
				b = protowire.AppendTag(b, fOKHeadersToRemove, protowire.BytesType)
				b = protowire.AppendString(b, n)
			}
			b, _ = appendHeaderOptions(b, fOKResponseHeaders, s.ResponseHeader, true)
			orphans = eachQueryParam(s.SetQuery, func(k, v string) {
				p := len(b)
				b = beginMessage(b, fOKQueryToSet)
				b = appendString(b, fQueryKey, k)
				b = appendString(b, fQueryValue, v)
				b = endMessage(b, p)
			})
			for _, n := range appendMissing(filterNames(s.RemoveQuery, validName), orphans) {
				b = protowire.AppendTag(b, fOKQueryToRemove, protowire.BytesType)
				b = protowire.AppendString(b, n)
			}
		}
		b = endMessage(b, start)
	} else {
		st := httpStatus(d.Denial.Status)
		p := len(b)
		b = beginMessage(b, fRespStatus)
		b = protowire.AppendTag(b, fStatusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(grpcCode(st)))
		b = appendString(b, fStatusMessage, validUTF8(d.Reason))
		b = endMessage(b, p)

		p = len(b)
		b = beginMessage(b, fRespDenied)
		q := len(b)
		b = beginMessage(b, fDeniedStatus)
		b = protowire.AppendTag(b, fHTTPStatusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(st))
		b = endMessage(b, q)
		b, _ = appendHeaderOptions(b, fDeniedHeaders, d.Denial.Header, false)
		b = appendValidUTF8(b, fDeniedBody, d.Denial.Body)
		b = endMessage(b, p)
	}
	return appendDynamicMetadata(b, d)
}

// appendHeaderOptions appends the options headerOptions builds from h as
// repeated field num, and returns the orphans.
func appendHeaderOptions(b []byte, num protowire.Number, h pipeline.Header, explicitAppend bool) ([]byte, []string) {
	if len(h) == 0 {
		return b, nil
	}
	orphans := eachHeaderOption(h, explicitAppend, func(k, v string, app appendMode) {
		p := len(b)
		b = beginMessage(b, num)
		q := len(b)
		b = beginMessage(b, fOptionHeader)
		b = appendString(b, fHeaderValueKey, k)
		b = appendString(b, fHeaderValueValue, v)
		b = endMessage(b, q)
		switch app {
		case appendFalse:
			b = appendMessage(b, fOptionAppend, nil) // BoolValue{value: false}
		case appendTrue:
			q = len(b)
			b = beginMessage(b, fOptionAppend)
			b = protowire.AppendTag(b, fBoolValue, protowire.VarintType)
			b = protowire.AppendVarint(b, 1)
			b = endMessage(b, q)
		}
		b = endMessage(b, p)
	})
	return b, orphans
}

// appendDynamicMetadata appends dynamic_metadata as dynamicMetadata
// builds it: the convertible entries of d.Session.Metadata that no fixed
// key replaces, then the fixed keys.
func appendDynamicMetadata(b []byte, d *pipeline.Decision) []byte {
	fixed, n := fixedMetadata(d)
	p := len(b)
	b = beginMessage(b, fRespMetadata)
	if d.Session != nil {
		for k, v := range d.Session.Metadata {
			if !utf8.ValidString(k) || slices.ContainsFunc(fixed[:n], func(kv [2]string) bool { return kv[0] == k }) {
				continue
			}
			pv, err := toValue(v)
			if err != nil {
				continue
			}
			q := len(b)
			b = beginMessage(b, fStructFields)
			b = appendString(b, fStructEntryKey, k)
			r := len(b)
			b = beginMessage(b, fStructEntryValue)
			enc, err := proto.MarshalOptions{}.MarshalAppend(b, pv)
			if err != nil {
				// toValue only returns values that marshal; were one not
				// to, dropping it keeps the decision on the wire.
				b = b[:q]
				continue
			}
			b = endMessage(enc, r)
			b = endMessage(b, q)
		}
	}
	for _, kv := range fixed[:n] {
		q := len(b)
		b = beginMessage(b, fStructFields)
		b = appendString(b, fStructEntryKey, kv[0])
		r := len(b)
		b = beginMessage(b, fStructEntryValue)
		// A oneof member is written even when empty: the kind is the value.
		b = protowire.AppendTag(b, fValueString, protowire.BytesType)
		b = protowire.AppendString(b, kv[1])
		b = endMessage(b, r)
		b = endMessage(b, q)
	}
	return endMessage(b, p)
}

// beginMessage appends the tag of the message field num and a one-byte
// length placeholder; endMessage(b, p), with p the length of b before,
// sets the length once the message is written.
func beginMessage(b []byte, num protowire.Number) []byte {
	return append(protowire.AppendTag(b, num, protowire.BytesType), 0)
}

// endMessage sets the length of the message begun at p (see
// beginMessage), moving its content when the length takes more than one
// byte.
func endMessage(b []byte, p int) []byte {
	start := p + protowire.SizeTag(1) // every field number here takes one byte
	n := len(b) - start - 1
	if n <= maxOneByteMsgLength {
		b[start] = byte(n)
		return b
	}
	var l [binary.MaxVarintLen64]byte
	enc := protowire.AppendVarint(l[:0], uint64(n))
	b = slices.Insert(b, start+1, enc[1:]...)
	copy(b[start:], enc)
	return b
}

// appendMessage appends the message field num with content msg.
func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), msg)
}

// appendString appends a proto3 string field, omitted when empty as the
// proto package does.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

// appendValidUTF8 appends a proto3 string field from bytes as
// validUTF8(string(v)) would give it, without the conversion.
func appendValidUTF8(b []byte, num protowire.Number, v []byte) []byte {
	if utf8.Valid(v) {
		if len(v) == 0 {
			return b
		}
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	return appendString(b, num, strings.ToValidUTF8(string(v), "\uFFFD"))
}
