package match

import "fmt"

// Strategy selects how the "<...>" parts of a match.url are interpreted,
// like Oathkeeper's access_rules.matching_strategy.
type Strategy string

const (
	// Regexp treats each "<...>" as a regular expression and makes it a
	// capture group. It is Oathkeeper's default.
	Regexp Strategy = "regexp"
	// Glob treats each "<...>" as a gobwas/glob expression with '.' and '/'
	// as separators. Glob patterns have no capture groups.
	Glob Strategy = "glob"
)

// ParseStrategy validates a configured strategy name. The empty string means
// Regexp, as in Oathkeeper. Unknown names are an error here, at load time,
// where Oathkeeper only failed each request with a 500.
func ParseStrategy(s string) (Strategy, error) {
	switch Strategy(s) {
	case "", Regexp:
		return Regexp, nil
	case Glob:
		return Glob, nil
	}
	return "", fmt.Errorf("unknown matching strategy %q (known: glob, regexp)", s)
}
