package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// durationHook decodes a Go duration string ("180ms", "1.5s") into a
// time.Duration field, with an error that says what is expected.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() || from.Kind() != reflect.String {
		return data, nil
	}
	d, err := time.ParseDuration(data.(string))
	if err != nil {
		return nil, fmt.Errorf("must be a duration such as 180ms, not %q", data)
	}
	return d, nil
}

// failedAt reports whether key, or an object above it, failed to decode:
// its value then reads as zero, and the decode error already says why.
func (l *configLocator) failedAt(key string) bool {
	for {
		if l.failed[key] {
			return true
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			return false
		}
		key = key[:i]
	}
}
