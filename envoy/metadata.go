package envoy

import (
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Keys Portcullis always writes to dynamic_metadata. Envoy publishes them
// under the envoy.filters.http.ext_authz namespace (on OK and on Denied), so
// access logs read %DYNAMIC_METADATA(envoy.filters.http.ext_authz:rule_id)%.
const (
	metaRuleID   = "rule_id"
	metaDecision = "decision"
	metaReason   = "reason"
	metaSubject  = "subject"
)

// toMetadata decodes metadata_context.filter_metadata: namespace → Struct as
// a plain map. Envoy sends only the namespaces listed in
// metadata_context_namespaces (typically envoy.filters.http.jwt_authn);
// typed_filter_metadata is not decoded.
func toMetadata(md *corev3.Metadata) map[string]map[string]any {
	fm := md.GetFilterMetadata()
	if len(fm) == 0 {
		return nil
	}
	out := make(map[string]map[string]any, len(fm))
	for ns, s := range fm {
		out[ns] = s.AsMap()
	}
	return out
}

// dynamicMetadata builds CheckResponse.dynamic_metadata: every convertible
// entry of d.Session.Metadata, then rule_id, decision, reason and (when set)
// subject. The fixed keys are written last so a mutator cannot overwrite
// what access logs and rate limits rely on.
//
// Entries that do not convert are skipped: a value structpb cannot represent,
// or a key or string that is not valid UTF-8, which would make the whole
// response fail to marshal. That would surface as a gRPC error, i.e. Envoy's
// failure_mode_allow path, for the sake of a log field.
func dynamicMetadata(d *pipeline.Decision) *structpb.Struct {
	var extra map[string]any
	if d.Session != nil {
		extra = d.Session.Metadata
	}
	f := make(map[string]*structpb.Value, len(extra)+4)
	for k, v := range extra {
		if !utf8.ValidString(k) {
			continue
		}
		if pv, err := toValue(v); err == nil {
			f[k] = pv
		}
	}
	fv := new(fixedValues)
	fixed, n := fixedMetadata(d)
	for i, kv := range fixed[:n] {
		f[kv[0]] = fv.str(i, kv[1])
	}
	return &structpb.Struct{Fields: f}
}

// fixedMetadata returns the fixed keys of dynamic_metadata with their
// values, n of them: rule_id, decision, reason and (when set) subject.
func fixedMetadata(d *pipeline.Decision) (kv [4][2]string, n int) {
	decision := "deny"
	if d.Allowed {
		decision = "allow"
	}
	kv[0] = [2]string{metaRuleID, validUTF8(d.RuleID)}
	kv[1] = [2]string{metaDecision, decision}
	kv[2] = [2]string{metaReason, validUTF8(d.Reason)}
	if d.Subject == "" {
		return kv, 3
	}
	kv[3] = [2]string{metaSubject, validUTF8(d.Subject)}
	return kv, 4
}

// fixedValues backs the fixed string fields of dynamic_metadata: one
// allocation instead of two per field on every check.
type fixedValues struct {
	v [4]structpb.Value
	s [4]structpb.Value_StringValue
}

func (fv *fixedValues) str(i int, s string) *structpb.Value {
	fv.s[i].StringValue = s
	fv.v[i].Kind = &fv.s[i]
	return &fv.v[i]
}

// toValue is structpb.NewValue plus the two shapes mutators commonly build
// that NewValue rejects: []string and map[string]string.
func toValue(v any) (*structpb.Value, error) {
	switch x := v.(type) {
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return structpb.NewValue(l)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return structpb.NewValue(m)
	}
	return structpb.NewValue(v)
}

// validUTF8 replaces invalid UTF-8, which proto3 string fields must not
// carry.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
