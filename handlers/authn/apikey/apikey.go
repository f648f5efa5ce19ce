package apikey

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// maxKeyBytes bounds what is hashed; no generated key is longer.
const maxKeyBytes = 4 << 10

// Authenticator checks an API key against the SHA-256 digests of a keys
// file. It is immutable after New and safe for concurrent use.
type Authenticator struct {
	keys     map[[sha256.Size]byte]*key
	header   string
	query    string
	cookie   string
	prefix   string
	location string // for messages
}

// New validates c and loads its keys file.
func New(c Config) (pipeline.Authenticator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	keys, err := loadKeys(c.KeysFile)
	if err != nil {
		return nil, err
	}
	a := &Authenticator{keys: keys, header: strings.ToLower(c.In.Header), query: c.In.QueryParameter,
		cookie: c.In.Cookie, prefix: c.Prefix}
	switch {
	case a.header != "":
		a.location = fmt.Sprintf("header %q", c.In.Header)
	case a.query != "":
		a.location = fmt.Sprintf("query parameter %q", a.query)
	default:
		a.location = fmt.Sprintf("cookie %q", a.cookie)
	}
	return a, nil
}

// Authenticate looks the presented key up.
//
// The lookup never compares secrets: the presented key is hashed and its
// digest is the map key, so any timing difference in the lookup says
// something about a SHA-256 output the caller cannot steer, not about a
// stored key; the found digest is then confirmed with
// subtle.ConstantTimeCompare.
//
// No key (or a value without the prefix) means not responsible: a 401
// (api_key_missing) wrapping pipeline.ErrSkip. Two keys (a repeated
// header, parameter or cookie, or values Envoy joined with a comma) are a
// 401 (api_key_ambiguous), an unknown key a 401 (api_key_invalid).
func (a *Authenticator) Authenticate(_ context.Context, r *pipeline.Request, s *pipeline.Session) error {
	presented, err := a.extract(r)
	if err != nil {
		return err
	}
	if presented == "" {
		return pipeline.Unauthorized("api_key_missing", "no API key in "+a.location, pipeline.ErrSkip)
	}
	if len(presented) > maxKeyBytes {
		return pipeline.Unauthorized("api_key_invalid", "the API key is not valid", nil)
	}
	sum := sha256.Sum256([]byte(presented))
	k := a.keys[sum]
	if k == nil || subtle.ConstantTimeCompare(k.digest[:], sum[:]) != 1 {
		return pipeline.Unauthorized("api_key_invalid", "the API key is not valid", nil)
	}
	extra := make(map[string]any, len(k.extra)+1)
	maps.Copy(extra, k.extra)
	extra["api_key_id"] = k.id
	s.Subject, s.Extra = k.subject, extra
	return nil
}

// extract returns the key, "" when there is none of ours, or an
// api_key_ambiguous error.
func (a *Authenticator) extract(r *pipeline.Request) (string, error) {
	var vals []string
	switch {
	case a.header != "":
		vals = r.Header.Values(a.header)
	case a.query != "":
		if r.RawQuery != "" {
			vals = r.Query()[a.query]
		}
	default:
		if lines := r.Header.Values("cookie"); len(lines) > 0 {
			for _, c := range (&http.Request{Header: http.Header{"Cookie": lines}}).Cookies() {
				if c.Name == a.cookie {
					vals = append(vals, c.Value)
				}
			}
		}
	}
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		return "", a.ambiguous()
	}
	v := vals[0]
	if strings.IndexByte(v, ',') >= 0 {
		// Envoy joins a repeated header with a bare comma; generated keys
		// contain none, so a comma next to one of ours means two values.
		for _, part := range strings.Split(v, ",") {
			if _, ours := a.strip(strings.TrimLeft(part, " \t")); ours {
				return "", a.ambiguous()
			}
		}
		return "", nil
	}
	key, ours := a.strip(v)
	if !ours {
		return "", nil
	}
	return strings.Trim(key, " \t"), nil
}

// strip removes the prefix; ours is false when v lacks it.
func (a *Authenticator) strip(v string) (key string, ours bool) {
	if len(v) < len(a.prefix) || !strings.EqualFold(v[:len(a.prefix)], a.prefix) {
		return "", false
	}
	return v[len(a.prefix):], true
}

func (a *Authenticator) ambiguous() error {
	return pipeline.Unauthorized("api_key_ambiguous", "more than one API key in "+a.location, nil)
}

var _ pipeline.Authenticator = (*Authenticator)(nil)
