package logging

import (
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// encodeTimeWith returns what a JSON encoder writes for a line at t with
// the time encoder te.
func encodeTimeWith(t *testing.T, te zapcore.TimeEncoder, at time.Time) string {
	t.Helper()
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{TimeKey: "time", EncodeTime: te})
	buf, err := enc.EncodeEntry(zapcore.Entry{Time: at}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Free()
	return buf.String()
}

// sameAsISO8601 checks encodeLineTime against zap's encoder at t, on a
// cache miss and on the hit after it.
func sameAsISO8601(t *testing.T, at time.Time) {
	t.Helper()
	want := encodeTimeWith(t, zapcore.ISO8601TimeEncoder, at)
	for _, how := range []string{"formatted", "cached"} {
		if got := encodeTimeWith(t, encodeLineTime, at); got != want {
			t.Fatalf("%s: %v: got %s, zap writes %s", how, at, got, want)
		}
	}
}

// Line times are zap's ISO 8601 text, whatever the instant, the zone and
// the millisecond, and the cache never hands one time's text to another.
func TestLineTimeIsISO8601(t *testing.T) {
	base := time.Date(2026, 12, 3, 15, 4, 5, 999_999_999, time.UTC)
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("", 5*3600+30*60), time.FixedZone("", -7*3600), time.FixedZone("", 59)}
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		zones = append(zones, ny)
	}
	times := []time.Time{
		base,
		base.Add(time.Nanosecond), // the next second, and minute, and so on
		base.Add(-999_999_999),    // the same second, millisecond 0
		base.Add(-time.Millisecond),
		time.Date(1969, 12, 31, 23, 59, 59, 500_000_000, time.UTC), // before the epoch
		time.Date(-44, 3, 15, 12, 0, 0, 1_000_000, time.UTC),       // a negative year
		time.Date(12026, 1, 1, 0, 0, 0, 0, time.UTC),               // five digits
		time.Date(2026, 3, 8, 6, 59, 59, 999_000_000, time.UTC),    // New York's DST starts a millisecond later
		time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC),
		{}, // zero
	}
	for _, at := range times {
		for _, loc := range zones {
			sameAsISO8601(t, at.In(loc))
		}
	}
	// The same millisecond in two zones, one after the other.
	for range 2 {
		sameAsISO8601(t, base.In(zones[2]))
		sameAsISO8601(t, base.In(zones[3]))
	}
}

// FuzzLineTime holds encodeLineTime to zap's ISO 8601 text for any
// instant and offset.
func FuzzLineTime(f *testing.F) {
	f.Add(int64(1_796_310_000), int64(123_456_789), 0)
	f.Add(int64(-1), int64(999_999_999), -3600)
	f.Add(int64(253_402_300_799), int64(0), 50_400)
	f.Fuzz(func(t *testing.T, sec, nsec int64, offset int) {
		if offset < -18*3600 || offset > 18*3600 {
			offset %= 18 * 3600
		}
		sameAsISO8601(t, time.Unix(sec, nsec).In(time.FixedZone("", offset)))
	})
}

// BenchmarkLineTime compares a line's time with zap's encoder and with
// the per-millisecond cache, at a time that changes every call and one
// that does not.
func BenchmarkLineTime(b *testing.B) {
	enc := func(te zapcore.TimeEncoder) zapcore.Encoder {
		return zapcore.NewJSONEncoder(zapcore.EncoderConfig{TimeKey: "time", EncodeTime: te})
	}
	for _, tt := range []struct {
		name string
		te   zapcore.TimeEncoder
	}{{"zap", zapcore.ISO8601TimeEncoder}, {"cached", encodeLineTime}} {
		b.Run(tt.name, func(b *testing.B) {
			e := enc(tt.te)
			at := time.Now()
			for b.Loop() {
				buf, _ := e.EncodeEntry(zapcore.Entry{Time: at}, nil)
				buf.Free()
			}
		})
	}
}
