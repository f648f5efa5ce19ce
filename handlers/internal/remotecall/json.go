package remotecall

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxJSONDepth bounds the nesting of remote JSON documents. CheckJSON keeps
// its own stack, so a hostile answer cannot drive deep recursion.
const maxJSONDepth = 512

// ErrDuplicateKey is wrapped by CheckJSON when an object repeats a member
// name.
var ErrDuplicateKey = errors.New("duplicate key")

// CheckJSON reports whether b is exactly one JSON value with no object that
// repeats a member name, nested at most 512 levels deep.
//
// Remote answers are read by two parsers (gjson for subject_from,
// extra_from and decision paths, which takes the first of two equal keys,
// and encoding/json, which takes the last), so {"allow":true,"allow":false}
// could mean "allow" to one reader and "deny" to another. Rejecting
// duplicates makes every parser agree (SECURITY D-17). Key names are
// compared after unescaping, so "a" and "\u0061" collide.
//
// Error texts name a repeated member, so operators can find it, but never
// quote a value or the offending text, which may hold a credential.
func CheckJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		object, wantKey bool
		keys            map[string]struct{}
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) && len(stack) == 0 {
				// Only the first read can end here: the loop stops after
				// the top-level value.
				return errors.New("invalid JSON: empty body")
			}
			return fmt.Errorf("invalid JSON: %w", scrubJSONError(err))
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top >= 0 && stack[top].object {
					stack[top].wantKey = true
				}
				if len(stack) == maxJSONDepth {
					return errors.New("invalid JSON: nested too deeply")
				}
				stack = append(stack, frame{object: t == '{', wantKey: t == '{'})
			default:
				stack = stack[:top]
			}
		case string:
			if top >= 0 && stack[top].object && stack[top].wantKey {
				f := &stack[top]
				if f.keys == nil {
					f.keys = make(map[string]struct{}, 8)
				}
				if _, dup := f.keys[t]; dup {
					return fmt.Errorf("invalid JSON: %w %q", ErrDuplicateKey, t)
				}
				f.keys[t] = struct{}{}
				f.wantKey = false
				continue
			}
			if top >= 0 && stack[top].object {
				stack[top].wantKey = true
			}
		default:
			if top >= 0 && stack[top].object {
				stack[top].wantKey = true
			}
		}
		if len(stack) == 0 {
			break
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: data after the top-level value")
	}
	return nil
}

// scrubJSONError keeps the offset of encoding/json's syntax errors (whose
// texts quote the offending character) and drops anything else.
func scrubJSONError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("syntax error at offset %d", se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return io.ErrUnexpectedEOF
	}
	return errors.New("malformed document")
}
