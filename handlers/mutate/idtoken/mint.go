package idtoken

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// decodeClaims parses the rendered template: exactly one JSON object.
// Numbers keep their text (json.Number), so large integers survive the
// round trip unchanged.
func decodeClaims(rendered []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(rendered))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON object")
	}
	return obj, nil
}

// mint builds and signs the compact JWS, returning the header value (with
// the Bearer prefix when the header is Authorization) and exp.
func (m *Mutator) mint(sg *signer, rendered []byte, subject string, now time.Time) (string, int64, error) {
	claims := map[string]any{}
	if m.claims != nil { // a template that renders nothing is an error too
		c, err := decodeClaims(rendered)
		if err != nil {
			return "", 0, pipeline.Internal("id_token_claims_invalid", "id_token claims did not render to a JSON object", err)
		}
		claims = c
	}
	// The reserved claims are set after the template, so a template (or a
	// value injected into it) cannot choose who issued the token, whom it
	// is about or how long it lives (Oathkeeper test-rule9).
	iat := now.Unix()
	exp := now.Add(m.ttl).Unix()
	claims["iss"] = m.issuer
	claims["sub"] = subject
	claims["iat"] = iat
	claims["nbf"] = iat
	claims["exp"] = exp
	claims["jti"] = uuid.NewString()
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", 0, pipeline.Internal("id_token_claims_invalid", "id_token claims cannot be encoded", err)
	}

	enc := base64.RawURLEncoding
	n := len(m.prefix) + len(sg.header) + 1 + enc.EncodedLen(len(payload)) + 1 + enc.EncodedLen(sg.sigLen)
	b := make([]byte, 0, n)
	b = append(b, m.prefix...)
	b = append(b, sg.header...)
	b = append(b, '.')
	b = enc.AppendEncode(b, payload)
	sig, err := sg.sign.Sign(b[len(m.prefix):], sg.key)
	if err != nil {
		return "", 0, pipeline.Internal("id_token_sign_failed", "id_token could not be signed", err)
	}
	b = append(b, '.')
	b = enc.AppendEncode(b, sig)
	return string(b), exp, nil
}
