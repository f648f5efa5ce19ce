package rulestore

import (
	"strconv"
	"testing"
)

// The cache of decoded blocks keeps no more than maxDecodedFiles files: a
// directory whose rule files come and go under new names must not keep
// the rules of every file it ever held.
func TestDecodeBlocksCacheIsBounded(t *testing.T) {
	doc := []byte("- id: a\n  match: {url: 'https://api.test/a', methods: [GET]}\n  authenticators: [{handler: anonymous}]\n  authorizer: {handler: allow}\n  mutators: [{handler: noop}]\n")
	for i := range maxDecodedFiles + 10 {
		if _, ok := decodeBlocks("rules-"+strconv.Itoa(i)+".yaml", doc); !ok {
			t.Fatalf("rules-%d.yaml: not decoded by blocks", i)
		}
	}
	lastDecoded.Lock()
	n := len(lastDecoded.files)
	lastDecoded.Unlock()
	if n > maxDecodedFiles {
		t.Errorf("the cache holds %d files, want at most %d", n, maxDecodedFiles)
	}
}
