package session

import (
	"bytes"
	"encoding/json"

	"github.com/tidwall/gjson"

	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Parse fills s.Subject and s.Extra from a session-store answer with the
// GJSON paths subject_from and extra_from, as Oathkeeper does: a missing
// path reads as null, the subject must be a JSON string or null and extra an
// object or null, else 403. An empty body is a session without a subject
// (Oathkeeper's bearer-token e2e test relies on it); any other body must be
// valid JSON without duplicate keys (D-17).
//
// The value a path selects is decoded with encoding/json, and nothing is
// kept from the body but that value, so a mutator later sees exactly the
// subject this check accepted.
func Parse(body []byte, subjectFrom, extraFrom string, s *pipeline.Session) error {
	if len(bytes.TrimSpace(body)) == 0 {
		s.Subject, s.Extra = "", nil
		return nil
	}
	if err := remotecall.CheckJSON(body); err != nil {
		return pipeline.Forbidden(IDInvalidJSON, "the session store answer is not valid JSON", err)
	}
	var subject string
	if err := json.Unmarshal(raw(body, subjectFrom), &subject); err != nil {
		return pipeline.Forbidden(IDBadSubject, "subject_from does not select a string", nil)
	}
	var extra map[string]any
	if err := json.Unmarshal(raw(body, extraFrom), &extra); err != nil {
		return pipeline.Forbidden(IDBadExtra, "extra_from does not select an object", nil)
	}
	s.Subject, s.Extra = subject, extra
	return nil
}

var null = []byte("null")

// raw returns the JSON text at path, or null when the path selects nothing.
func raw(body []byte, path string) []byte {
	r := gjson.GetBytes(body, path)
	if r.Raw == "" {
		return null
	}
	return []byte(r.Raw)
}
