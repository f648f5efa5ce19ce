// Package cachekey holds what the credential caches share to find an
// entry without a cryptographic hash on the hit path: a keyed fast hash
// (hash/maphash, one random seed per cache) picks the entry, and Equal
// compares the full key material stored in it, so a hash collision is a
// miss, never another credential's answer.
package cachekey

import (
	"crypto/subtle"
	"unsafe"
)

// Equal reports whether a and b are equal in time that depends only on
// their lengths, never on where they first differ: a caller that can
// time cache hits learns nothing about a stored credential.
func Equal(a, b string) bool { return EqualBytes(bytesOf(a), bytesOf(b)) }

// EqualBytes is Equal for key material held as bytes.
func EqualBytes(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// bytesOf views s as bytes without copying it (a token is up to 16 KiB,
// and the hit path must not allocate). ConstantTimeCompare only reads.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
