package idtoken

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.uber.org/zap"
)

// PublicJWKS returns {"keys":[...]}: the public keys of every key set a
// live id_token mutator uses, in jwks_url order, deduplicated by kid (the
// first source wins; a kid that two sources use for different keys is
// logged). Every entry is rebuilt from the raw public key and carries only
// kty, the public members, kid, alg and use: never d, p, q, dp, dq, qi, k
// or oth (SECURITY_CASES F-07).
//
// All public keys of a set are published, not only the signer's, so a
// rotation can publish the next key before it signs and keep the previous
// one until the tokens it signed have expired. Keys of a source whose
// refreshes fail stay published: the tokens they signed are still valid.
func (s *Signers) PublicJWKS() ([]byte, error) {
	srcs := s.live()
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].loc.raw < srcs[j].loc.raw })
	out := struct {
		Keys []jwk.Key `json:"keys"`
	}{Keys: []jwk.Key{}}
	type published struct {
		key jwk.Key
		src *source
	}
	byKID := map[string]published{}
	for _, src := range srcs {
		keys := src.state.Load().keys
		if keys == nil {
			continue // never loaded: nothing to publish yet
		}
		for _, k := range keys.public {
			kid := k.KeyID()
			if prev, dup := byKID[kid]; dup {
				if !jwk.Equal(prev.key, k) {
					s.log.Warn("two id_token key sets use one kid for different keys; publishing the first",
						zap.String("kid", kid), zap.String("kept", redactURL(prev.src.loc)), zap.String("dropped", redactURL(src.loc)))
				}
				continue
			}
			byKID[kid] = published{k, src}
			out.Keys = append(out.Keys, k)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode jwks: %w", err)
	}
	return b, nil
}
