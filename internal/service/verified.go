package service

import (
	"sync"

	"github.com/tokend/tokend/pkg/verifier"
)

// verifiedCacheSize is how many tokens each generation of the cache holds.
const verifiedCacheSize = 10_000

// verifiedCache remembers the claims of tokens whose signature verified, by
// the SHA-256 of the token string, so that a token used again is not
// verified again: the Ed25519 check is most of the cost of authenticating.
// It remembers signatures only, never decisions: the validity period, the
// stored state, the signing key's status and the scopes are checked at every
// use.
//
// It keeps two generations of at most verifiedCacheSize tokens; when the
// current one is full it becomes the previous one, and the previous one is
// dropped, so tokens in use stay and memory stays bounded.
type verifiedCache struct {
	mu       sync.Mutex
	current  map[[32]byte]*verifier.Claims
	previous map[[32]byte]*verifier.Claims
}

func (vc *verifiedCache) get(sum [32]byte) (*verifier.Claims, bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if c, ok := vc.current[sum]; ok {
		return c, true
	}
	c, ok := vc.previous[sum]
	if ok {
		vc.putLocked(sum, c)
	}
	return c, ok
}

func (vc *verifiedCache) put(sum [32]byte, c *verifier.Claims) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	vc.putLocked(sum, c)
}

func (vc *verifiedCache) putLocked(sum [32]byte, c *verifier.Claims) {
	if vc.current == nil || len(vc.current) >= verifiedCacheSize {
		vc.previous, vc.current = vc.current, make(map[[32]byte]*verifier.Claims, verifiedCacheSize)
	}
	vc.current[sum] = c
}
