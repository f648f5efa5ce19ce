package jwt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// MaxTokenBytes caps the token length before any decoding: large
// enough for any real access token, small enough that junk costs little.
const MaxTokenBytes = 16 << 10

// b64 decodes strictly: no padding, URL alphabet, and unused trailing bits
// must be zero, so every token has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

// header is the JOSE header fields Portcullis reads. Unknown members are
// ignored; jku, x5u, x5c and jwk in particular are never looked at.
type header struct {
	Alg  string          `json:"alg"`
	KID  *string         `json:"kid"`
	Typ  *string         `json:"typ"`
	Cty  *string         `json:"cty"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
}

// compact is a token split into its parts; header and signature decoded.
type compact struct {
	hdr          header
	signingInput string // b64u(header) "." b64u(payload)
	payload      []byte // decoded; parsed only after verification
	sig          []byte
}

// splitCompact checks the shape of a compact JWS and decodes its header
// and signature. tok has exactly two dots (checked by the caller).
func splitCompact(tok string) (*compact, error) {
	i := strings.IndexByte(tok, '.')
	j := strings.LastIndexByte(tok, '.')
	h, p, s := tok[:i], tok[i+1:j], tok[j+1:]
	if h == "" || p == "" {
		return nil, errEncoding.err()
	}
	hb, err := decodeSegment(h)
	if err != nil {
		return nil, errEncoding.err()
	}
	sig, err := decodeSegment(s)
	if err != nil {
		return nil, errEncoding.err()
	}
	pb, err := decodeSegment(p)
	if err != nil {
		return nil, errEncoding.err()
	}
	c := &compact{signingInput: tok[:j], payload: pb, sig: sig}
	if err := decodeObject(hb, &c.hdr); err != nil {
		return nil, errHeader.err()
	}
	return c, nil
}

// looksLikeJWS reports whether a token that does not have three parts
// still starts with a JOSE header segment, i.e. is a broken or unencoded
// (b64:false) JWS rather than an opaque token for another authenticator.
func looksLikeJWS(tok string) bool {
	i := strings.IndexByte(tok, '.')
	if i <= 0 {
		return false
	}
	b, err := decodeSegment(tok[:i])
	if err != nil {
		return false
	}
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

// validSegment reports whether s uses only the base64url alphabet and has
// a length an unpadded encoding can have. base64's decoder alone would skip
// \r and \n, which would let two different strings verify alike.
func validSegment(s string) bool {
	if len(s)%4 == 1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func decodeSegment(s string) ([]byte, error) {
	if !validSegment(s) {
		return nil, errors.New("invalid base64url")
	}
	return b64.DecodeString(s)
}

// decodePayload parses the (verified) payload into a claims map.
func decodePayload(b []byte) (map[string]any, error) {
	var claims map[string]any
	if err := decodeObject(b, &claims); err != nil {
		return nil, errPayload.err()
	}
	return claims, nil
}

// decodeObject decodes one JSON object into v after checking what
// encoding/json would let through silently: invalid UTF-8 (replaced by
// U+FFFD), duplicate member names (last one wins) and a top level that is
// not an object (null would decode to nothing). Any of those could make
// Portcullis and an upstream that re-reads the token disagree.
func decodeObject(b []byte, v any) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || !utf8.Valid(b) {
		return errors.New("not a json object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	if !uniqueMembers(b) {
		return errors.New("duplicate member name")
	}
	return nil
}
