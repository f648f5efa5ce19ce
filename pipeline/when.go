package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/netip"
	"strings"
)

// When is an error handler's "when" list in Oathkeeper's format: the handler
// is selected if any condition holds (OR); within one condition, the error
// and request parts must both hold (AND). An empty list always holds.
type When []WhenCondition

// WhenCondition is one entry of a When list.
type WhenCondition struct {
	// Error lists status keys ("unauthorized", "forbidden", "not_found",
	// "internal_server_error", "too_many_requests", ...).
	Error   []string     `json:"error,omitempty"`
	Request *WhenRequest `json:"request,omitempty"`
}

// WhenRequest conditions on the request. Both remote_ip (what Oathkeeper's
// code reads) and cidr (what its schema documents) are accepted.
type WhenRequest struct {
	Header   *WhenHeader `json:"header,omitempty"`
	RemoteIP *WhenIP     `json:"remote_ip,omitempty"`
	CIDR     *WhenIP     `json:"cidr,omitempty"`
}

// WhenHeader conditions on the request's Content-Type and Accept headers.
type WhenHeader struct {
	ContentType []string `json:"content_type,omitempty"`
	Accept      []string `json:"accept,omitempty"`
}

// WhenIP conditions on the client address.
type WhenIP struct {
	Match                     []string `json:"match"`
	RespectForwardedForHeader bool     `json:"respect_forwarded_for_header,omitempty"`
	prefixes                  []netip.Prefix
}

// UnmarshalJSON accepts both shapes in use: the object
// {match: [...], respect_forwarded_for_header: bool} that Oathkeeper's code
// reads, and the plain list of CIDRs its schema documents for cidr.
func (w *WhenIP) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		*w = WhenIP{Match: list}
		return nil
	}
	type plain WhenIP
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*w = WhenIP(p)
	return nil
}

// Validate parses the CIDRs; call it once at compile time.
func (w When) Validate() error {
	for i := range w {
		c := &w[i]
		for _, e := range c.Error {
			if e == "" || strings.ContainsAny(e, " ") {
				return fmt.Errorf("when[%d].error: invalid status key %q", i, e)
			}
		}
		if c.Request == nil {
			continue
		}
		// Media types are case-insensitive; the request side is lowered
		// by mime.ParseMediaType.
		if h := c.Request.Header; h != nil {
			for _, list := range [][]string{h.ContentType, h.Accept} {
				for j, m := range list {
					list[j] = strings.ToLower(strings.TrimSpace(m))
				}
			}
		}
		for _, ip := range []*WhenIP{c.Request.RemoteIP, c.Request.CIDR} {
			if ip == nil {
				continue
			}
			ip.prefixes = ip.prefixes[:0]
			for _, m := range ip.Match {
				p, err := parsePrefix(m)
				if err != nil {
					return fmt.Errorf("when[%d].request: %w", i, err)
				}
				ip.prefixes = append(ip.prefixes, p)
			}
		}
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("invalid cidr %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid ip %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Match reports whether the conditions select err for r.
func (w When) Match(r *Request, err error) bool {
	if len(w) == 0 {
		return true
	}
	for i := range w {
		if w[i].match(r, err) {
			return true
		}
	}
	return false
}

func (c *WhenCondition) match(r *Request, err error) bool {
	if len(c.Error) > 0 && !contains(c.Error, StatusKey(StatusOf(err))) {
		return false
	}
	if c.Request == nil {
		return true
	}
	if h := c.Request.Header; h != nil {
		if len(h.ContentType) > 0 && !mediaMatches(h.ContentType, r.Header.Get("content-type")) {
			return false
		}
		if len(h.Accept) > 0 && !mediaMatches(h.Accept, r.Header.Get("accept")) {
			return false
		}
	}
	for _, ip := range []*WhenIP{c.Request.RemoteIP, c.Request.CIDR} {
		if ip != nil && !ip.matches(r) {
			return false
		}
	}
	return true
}

func (w *WhenIP) matches(r *Request) bool {
	var addrs []string
	if r.Source.Address != "" {
		addrs = append(addrs, r.Source.Address)
	}
	if w.RespectForwardedForHeader {
		for _, v := range r.Header.Values("x-forwarded-for") {
			for _, a := range strings.Split(v, ",") {
				addrs = append(addrs, strings.TrimSpace(a))
			}
		}
	}
	for _, s := range addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		a = a.Unmap()
		for _, p := range w.prefixes {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

func mediaType(v string) string {
	if v == "" {
		return "application/octet-stream"
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(v))
	}
	return mt
}

// mediaMatches compares the media types of a request header (Accept or
// Content-Type; a missing header counts as application/octet-stream) to
// the handler's list. As in Oathkeeper, both headers are read as
// comma-separated lists with parameters dropped, the handler may use */*
// or type/*, and wildcards in the request are literal: a browser's
// "*/*;q=0.8" matches only a configured "*/*".
func mediaMatches(want []string, header string) bool {
	if header == "" {
		header = "application/octet-stream"
	}
	for _, part := range strings.Split(header, ",") {
		got := mediaType(part)
		for _, w := range want {
			switch {
			case w == "*/*", w == got:
				return true
			case strings.HasSuffix(w, "/*") && strings.HasPrefix(got, strings.TrimSuffix(w, "*")):
				return true
			}
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
