package wwwauthenticate

import (
	"context"
	"fmt"
	"net/http"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// DefaultRealm is Oathkeeper's default realm. Browsers show it in the
// credentials prompt, so it reads as a message rather than an identifier.
const DefaultRealm = "Please authenticate."

// Config is the www_authenticate handler's config, with Oathkeeper's keys.
type Config struct {
	// Realm is the challenge's realm (default DefaultRealm).
	Realm string `json:"realm"`
	// When selects the failures this handler renders; empty means all.
	When pipeline.When `json:"when"`
}

// Validate applies the default realm and rejects a realm that cannot be
// put inside a quoted-string as is.
func (c *Config) Validate() error {
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	for i := 0; i < len(c.Realm); i++ {
		switch b := c.Realm[i]; {
		case b == '"', b == '\\':
			return fmt.Errorf("realm: must not contain %q", b)
		case b < ' ' && b != '\t', b == 0x7f:
			return fmt.Errorf("realm: control character %#02x at offset %d", b, i)
		}
	}
	return c.When.Validate()
}

// Handler answers with a Basic challenge. It is immutable and safe for
// concurrent use.
type Handler struct {
	challenge string
	when      pipeline.When
}

// New returns the handler for c, with the header value built once. It
// validates c itself, so it is safe to call without the registry.
func New(c Config) (pipeline.ErrorHandler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Handler{challenge: `Basic realm="` + c.Realm + `"`, when: c.When}, nil
}

// Handles reports whether the when conditions select err for r.
//
// Internal faults (5xx) are never handled: answering a dependency outage
// with a 401 challenge would tell the client its credentials are wrong and
// hide the fault from Envoy's stats; the next handler renders it.
func (h *Handler) Handles(r *pipeline.Request, err error) bool {
	return pipeline.StatusOf(err) < 500 && h.when.Match(r, err)
}

// unauthorized is the body, as Oathkeeper's http.Error writes it minus the
// trailing newline.
var unauthorized = []byte(http.StatusText(http.StatusUnauthorized))

// HandleError always answers 401 with the challenge, whatever the failure:
// selecting which failures get a challenge is the job of the when list.
// Nothing from the request or the failure is reflected.
func (h *Handler) HandleError(context.Context, *pipeline.Request, error) (pipeline.Denial, error) {
	return pipeline.Denial{
		Status: http.StatusUnauthorized,
		Header: pipeline.Header{
			"www-authenticate":       {h.challenge},
			"content-type":           {"text/plain; charset=utf-8"},
			"x-content-type-options": {"nosniff"},
		},
		Body: append([]byte(nil), unauthorized...),
	}, nil
}

var _ pipeline.ErrorHandler = (*Handler)(nil)
