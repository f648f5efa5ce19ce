package apikey

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// hashPrefix starts every hash in the keys file. Only SHA-256 is accepted:
// API keys are random secrets of 128 bits or more (generate them with
// `openssl rand -hex 32`), for which a fast hash is already preimage-proof.
// Slow password hashes (argon2, bcrypt) protect low-entropy secrets; here
// they would cost tens of milliseconds of CPU per request, hand attackers
// a DoS lever, and rule out looking the key up by its digest.
const hashPrefix = "sha256:"

// Entry is one record of the keys file.
type Entry struct {
	// ID names the key in logs and Extra ("ci-deploy"); never the secret.
	ID string `json:"id"`
	// Hash is "sha256:" followed by the hex SHA-256 of the key.
	Hash string `json:"hash"`
	// Subject becomes the session subject.
	Subject string `json:"subject"`
	// Extra is copied into the session's Extra.
	Extra map[string]any `json:"extra"`
}

// key is a loaded entry.
type key struct {
	id, subject string
	extra       map[string]any
	digest      [sha256.Size]byte
}

// loadKeys reads and checks the keys file. Every error names the file and
// the entry; none contains a hash.
func loadKeys(path string) (map[[sha256.Size]byte]*key, error) {
	where := fmt.Sprintf("keys_file %q", path)
	raw, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in where
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	// JSON is YAML, so one path reads both; duplicate YAML keys are errors.
	doc, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(doc, &list); err != nil {
		return nil, fmt.Errorf("%s: want a list of keys", where)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s: no keys", where)
	}
	keys := make(map[[sha256.Size]byte]*key, len(list))
	ids := make(map[string]int, len(list))
	for i, item := range list {
		var e Entry
		dec := json.NewDecoder(bytes.NewReader(item))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("%s: keys[%d]: %s", where, i, strings.TrimPrefix(err.Error(), "json: "))
		}
		at := fmt.Sprintf("%s: keys[%d] (id %q)", where, i, e.ID)
		k, err := e.compile()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if j, dup := ids[e.ID]; dup {
			return nil, fmt.Errorf("%s: id: duplicate of keys[%d]", at, j)
		}
		ids[e.ID] = i
		if other, dup := keys[k.digest]; dup {
			return nil, fmt.Errorf("%s: hash: same key as id %q", at, other.id)
		}
		keys[k.digest] = k
	}
	return keys, nil
}

func (e *Entry) compile() (*key, error) {
	switch {
	case e.ID == "" || !printable(e.ID):
		return nil, errors.New("id: required, without control characters")
	case e.Subject == "" || !printable(e.Subject):
		return nil, errors.New("subject: required, without control characters")
	}
	h := strings.ToLower(e.Hash)
	if !strings.HasPrefix(h, hashPrefix) || len(h) != len(hashPrefix)+2*sha256.Size {
		return nil, errors.New(`hash: want "sha256:" followed by 64 hex digits (the SHA-256 of the key, not the key)`)
	}
	k := &key{id: e.ID, subject: e.Subject, extra: e.Extra}
	if _, err := hex.Decode(k.digest[:], []byte(h[len(hashPrefix):])); err != nil {
		return nil, errors.New("hash: not hexadecimal")
	}
	return k, nil
}
