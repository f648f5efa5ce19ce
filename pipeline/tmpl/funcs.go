package tmpl

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// Limits on what one rendering may build. Rule templates run on every
// request over values the client influences (claims, path captures), so a
// count taken from those values must not be able to exhaust memory.
const (
	// MaxOutputBytes caps the output of one rendering, and the result of
	// repeat, indent and nindent.
	MaxOutputBytes = 1 << 20
	// MaxSequenceLength caps the lists built by until, untilStep and seq.
	MaxSequenceLength = 10_000
)

// removed maps each sprig function that rule templates cannot call to the
// reason, which the load error shows. sprig's HermeticTxtFuncMap already
// drops the clock, random and environment functions it knows of; the rest
// of this list still reaches outside the template, depends on the clock
// or the process time zone, is random or costly, or changes the data the
// template is rendered over (the session, which can be shared with
// caches and later handlers).
var removed = func() map[string]string {
	m := map[string]string{}
	for reason, names := range map[string][]string{
		"it reads the process environment":        {"env", "expandenv"},
		"it resolves host names over the network": {"getHostByName"},
		"its result depends on the clock or time zone": {"now", "date", "dateInZone", "date_in_zone", "dateModify", "date_modify",
			"htmlDate", "htmlDateInZone", "ago", "durationRound", "toDate", "mustToDate"},
		"its result is random": {"randAlphaNum", "randAlpha", "randAscii", "randNumeric", "randBytes", "randInt",
			"shuffle", "uuidv4"},
		"it is a key, certificate, password or encryption function (costly or random)": {"bcrypt", "htpasswd",
			"derivePassword", "genPrivateKey", "genCA", "genCAWithKey", "genSelfSignedCert", "genSelfSignedCertWithKey",
			"genSignedCert", "genSignedCertWithKey", "buildCustomCert", "encryptAES", "decryptAES"},
		"it changes the data the template is rendered over": {"set", "unset", "merge", "mergeOverwrite", "mustMerge",
			"mustMergeOverwrite"},
	} {
		for _, n := range names {
			m[n] = reason
		}
	}
	return m
}()

// Unavailable returns, sorted, the names of the sprig functions that rule
// templates cannot call; a template that calls one does not load.
func Unavailable() []string {
	names := make([]string, 0, len(removed))
	for n := range removed {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var (
	funcsOnce sync.Once
	funcs     template.FuncMap
	// parseFuncs is funcs plus a stub for every removed name, so that
	// Parse can name a removed function and say why instead of text/
	// template's bare "not defined".
	parseFuncs template.FuncMap
)

// Funcs returns the template function map: sprig's HermeticTxtFuncMap
// without the functions Unavailable lists, with these changes:
//   - print X: "" for nil, else fmt's %v (Oathkeeper's one-argument print);
//   - printIndex LIST I: "" when out of range, else %v of LIST[I];
//   - jsonQuote X: X as a JSON value (strings quoted and escaped), for
//     building JSON payloads from untrusted values;
//   - repeat, indent and nindent fail beyond MaxOutputBytes, and until,
//     untilStep and seq beyond MaxSequenceLength elements;
//   - keys and values are in key order (sprig's order is random).
//
// The map is built once and must not be modified.
func Funcs() template.FuncMap {
	funcsOnce.Do(buildFuncs)
	return funcs
}

func buildFuncs() {
	m := sprig.HermeticTxtFuncMap()
	for n := range removed {
		delete(m, n)
	}
	bound(m)
	m["keys"] = func(dicts ...map[string]any) []string {
		var k []string
		for _, d := range dicts {
			for key := range d {
				k = append(k, key)
			}
		}
		sort.Strings(k)
		return k
	}
	m["values"] = func(dict map[string]any) []any {
		k := make([]string, 0, len(dict))
		for key := range dict {
			k = append(k, key)
		}
		sort.Strings(k)
		v := make([]any, len(k))
		for i, key := range k {
			v[i] = dict[key]
		}
		return v
	}
	m["print"] = func(v any) string {
		if v == nil {
			return ""
		}
		return fmt.Sprintf("%v", v)
	}
	m["printIndex"] = func(list any, i int) string {
		switch l := list.(type) {
		case []string:
			if i >= 0 && i < len(l) {
				return l[i]
			}
		case []any:
			if i >= 0 && i < len(l) && l[i] != nil {
				return fmt.Sprintf("%v", l[i])
			}
		}
		return ""
	}
	m["jsonQuote"] = jsonQuote
	funcs = m

	parseFuncs = make(template.FuncMap, len(m)+len(removed))
	for n, f := range m {
		parseFuncs[n] = f
	}
	for n := range removed {
		parseFuncs[n] = func(...any) (string, error) { return "", fmt.Errorf("function %q is not available", n) }
	}
}

// bound replaces sprig's functions whose output size is a count argument
// with versions that refuse counts beyond the limits. They call sprig's
// own implementations, so results within the limits are unchanged.
func bound(m template.FuncMap) {
	repeat := m["repeat"].(func(int, string) string)
	m["repeat"] = func(count int, s string) (string, error) {
		if count < 0 || (len(s) > 0 && count > MaxOutputBytes/len(s)) {
			return "", fmt.Errorf("repeat: %d copies exceed the output limit of %d bytes", count, MaxOutputBytes)
		}
		return repeat(count, s), nil
	}
	for _, name := range []string{"indent", "nindent"} {
		indent := m[name].(func(int, string) string)
		m[name] = func(spaces int, s string) (string, error) {
			if lines := strings.Count(s, "\n") + 1; spaces < 0 || spaces > (MaxOutputBytes-len(s))/lines {
				return "", fmt.Errorf("%s: %d spaces exceed the output limit of %d bytes", name, spaces, MaxOutputBytes)
			}
			return indent(spaces, s), nil
		}
	}
	until := m["until"].(func(int) []int)
	m["until"] = func(count int) ([]int, error) {
		if err := checkSequence("until", 0, float64(count), 1); err != nil {
			return nil, err
		}
		return until(count), nil
	}
	untilStep := m["untilStep"].(func(int, int, int) []int)
	m["untilStep"] = func(start, stop, step int) ([]int, error) {
		if err := checkSequence("untilStep", float64(start), float64(stop), float64(step)); err != nil {
			return nil, err
		}
		return untilStep(start, stop, step), nil
	}
	seq := m["seq"].(func(...int) string)
	m["seq"] = func(params ...int) (string, error) {
		var err error
		switch len(params) {
		case 1:
			err = checkSequence("seq", 1, float64(params[0]), 1)
		case 2:
			err = checkSequence("seq", float64(params[0]), float64(params[1]), 1)
		case 3:
			err = checkSequence("seq", float64(params[0]), float64(params[2]), float64(params[1]))
		}
		if err != nil {
			return "", err
		}
		return seq(params...), nil
	}
}

// checkSequence fails when a sequence from start to stop in steps of step
// could have more than MaxSequenceLength elements. It works in float64 so
// that extreme ints cannot overflow the arithmetic; a zero step is an
// empty sequence in sprig.
func checkSequence(name string, start, stop, step float64) error {
	if step == 0 {
		return nil
	}
	if n := math.Abs(stop-start) / math.Abs(step); n > MaxSequenceLength {
		return fmt.Errorf("%s: sequence longer than %d elements", name, MaxSequenceLength)
	}
	return nil
}

// jsonQuote is the template function of that name: v as JSON. The
// compiled fast path (renderQuoted) calls it too, so both give the same
// bytes.
func jsonQuote(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
