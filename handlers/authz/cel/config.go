package cel

import (
	"errors"
	"strings"
)

// maxExpressionBytes bounds the expression text; policies longer than this
// belong in a policy engine, not a rule.
const maxExpressionBytes = 16 << 10

// Config is the cel authorizer's config (a Portcullis handler; Oathkeeper
// maintainers suggested CEL for response matching in PR #1170).
type Config struct {
	// Expression is a CEL expression that must evaluate to a bool. It sees
	// request (method, scheme, host, path, query, headers,
	// context_extensions, peer), subject, extra and captures.
	Expression string `json:"expression"`
	// Message is the public message of a denial (optional).
	Message string `json:"message"`
}

// Validate checks the keys that need no compilation; New compiles the
// expression.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case strings.TrimSpace(c.Expression) == "":
		errs = append(errs, errors.New("expression: required"))
	case len(c.Expression) > maxExpressionBytes:
		errs = append(errs, errors.New("expression: longer than 16 KiB"))
	}
	if strings.ContainsAny(c.Message, "\r\n\x00") {
		errs = append(errs, errors.New("message: must be a single line"))
	}
	return errors.Join(errs...)
}
