package idtoken

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
)

// maxFileBytes caps a key set read from disk, as outbound caps one fetched
// over the network.
const maxFileBytes = outbound.DefaultMaxBodyBytes

// fetch reads the key set document at loc. Errors name the location
// without its query (which could hold a credential), never the content.
func (s *Signers) fetch(ctx context.Context, loc jwksLocation) ([]byte, error) {
	if loc.path != "" {
		return readFile(loc.path)
	}
	if s.client == nil {
		return nil, errNoClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks %s: %w", redactURL(loc), err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	// No inbound request: keys load at compile time and refresh in the
	// background, never on a client's behalf.
	resp, err := s.client.Do(ctx, req, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks %s: status %d", redactURL(loc), resp.StatusCode)
	}
	return resp.Body, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read jwks: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read jwks %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("read jwks %s: %w", path, errFileTooLarge)
	}
	return data, nil
}

var errFileTooLarge = errors.New("file larger than 1 MiB")

// redactURL returns loc for logs and errors: files by path, URLs without
// user info, query or fragment.
func redactURL(loc jwksLocation) string {
	if loc.path != "" {
		return "file://" + loc.path
	}
	u, err := url.Parse(loc.url)
	if err != nil {
		return "(invalid url)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return u.String()
}
