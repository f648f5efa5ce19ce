package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Defaults of `portcullis health`.
const (
	defaultHealthEndpoint = "http://127.0.0.1:4456"
	defaultHealthTimeout  = 3 * time.Second
	// maxHealthBody bounds what is read of an answer: the health endpoints
	// answer a few hundred bytes; anything longer is not theirs.
	maxHealthBody = 64 << 10
	// maxHealthEcho bounds the part of a failing answer put in the error.
	maxHealthEcho = 512
)

// healthCmd is `portcullis health alive|ready`: one GET of the HTTP API's
// /health/alive or /health/ready, exit code 0 on 200 and 1 otherwise, for
// scripts, container HEALTHCHECKs and exec probes (the image has no shell
// or curl).
func healthCmd() *cobra.Command {
	var endpoint string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Ask a running server whether it is alive or ready (exit code 0 or 1)",
		// Without these a mistyped probe ("health live") would print the
		// help and exit 0: a probe that always passes.
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("health: name the probe: alive or ready")
		},
	}
	for _, probe := range []struct{ name, short string }{
		{"alive", "Exit 0 if the server answers /health/alive with 200"},
		{"ready", "Exit 0 if the server answers /health/ready with 200 (rules loaded, not draining)"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   probe.name,
			Short: probe.short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return probeHealth(cmd.Context(), cmd.OutOrStdout(), endpoint, probe.name, timeout)
			},
		})
	}
	cmd.PersistentFlags().StringVarP(&endpoint, "endpoint", "e", defaultHealthEndpoint, "base URL of the HTTP API (serve.api)")
	cmd.PersistentFlags().DurationVar(&timeout, "timeout", defaultHealthTimeout, "give up after this long (connect and answer)")
	return cmd
}

// probeHealth GETs <endpoint>/health/<probe> and prints the answer on 200;
// any other outcome is an error naming the URL and, for an answer, its
// status and body (the readiness body says what is not ready).
func probeHealth(ctx context.Context, out io.Writer, endpoint, probe string, timeout time.Duration) error {
	target, err := healthURL(endpoint, probe)
	if err != nil {
		return err
	}
	if timeout <= 0 {
		return fmt.Errorf("--timeout: must be positive (got %s)", timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("--endpoint: %w", err)
	}
	client := &http.Client{
		// A redirect is not an answer from the health endpoint: report it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("GET %s: no answer within %s", target, timeout)
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is already in our message
		}
		return fmt.Errorf("GET %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	if err != nil {
		return fmt.Errorf("GET %s: read answer: %w", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", target, resp.Status, oneLine(body))
	}
	_, err = fmt.Fprintln(out, oneLine(body))
	return err
}

// healthURL joins the endpoint (scheme, host and an optional path prefix)
// and /health/<probe>.
func healthURL(endpoint, probe string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--endpoint: %q is not an http(s) URL such as %s", endpoint, defaultHealthEndpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--endpoint: %q must not have a query or fragment", endpoint)
	}
	return u.JoinPath("health", probe).String(), nil
}

// oneLine compacts a JSON answer, or collapses whitespace in any other,
// and bounds it, so an answer prints as one line.
func oneLine(body []byte) string {
	var buf bytes.Buffer
	s := ""
	if json.Compact(&buf, bytes.TrimSpace(body)) == nil {
		s = buf.String()
	} else {
		s = strings.Join(strings.Fields(string(body)), " ")
	}
	if len(s) > maxHealthEcho {
		s = s[:maxHealthEcho] + "..."
	}
	if s == "" {
		s = "(empty answer)"
	}
	return s
}
