package rulestore

import (
	"errors"
	"strings"
)

// ErrorLeaves lists the one-line errors inside err: the members of joins, each
// keeping the text of the wrappers around it ("no valid rules: a",
// "no valid rules: b"), and still unwrapping to its cause.
func ErrorLeaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, ErrorLeaves(e)...)
		}
		return out
	}
	if u := errors.Unwrap(err); u != nil {
		if inner := ErrorLeaves(u); len(inner) > 1 {
			if prefix, ok := strings.CutSuffix(err.Error(), u.Error()); ok {
				for i, e := range inner {
					inner[i] = &prefixed{prefix: prefix, err: e}
				}
				return inner
			}
		}
	}
	return []error{err}
}

type prefixed struct {
	prefix string
	err    error
}

func (p *prefixed) Error() string { return p.prefix + p.err.Error() }
func (p *prefixed) Unwrap() error { return p.err }

// ErrorLines lists the messages inside a (possibly joined) error, one
// line each, for printing every problem on its own line.
func ErrorLines(err error) []string {
	var out []string
	for _, e := range ErrorLeaves(err) {
		out = append(out, e.Error())
	}
	return out
}
