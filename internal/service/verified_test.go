package service

import (
	"crypto/sha256"
	"strconv"
	"testing"

	"github.com/tokend/tokend/pkg/verifier"
)

func TestVerifiedCacheStaysBoundedAndKeepsTokensInUse(t *testing.T) {
	var vc verifiedCache
	key := func(i int) [32]byte { return sha256.Sum256([]byte(strconv.Itoa(i))) }
	hot := key(-1)
	vc.put(hot, &verifier.Claims{ID: "hot"})
	for i := 0; i < 5*verifiedCacheSize; i++ {
		vc.put(key(i), &verifier.Claims{ID: strconv.Itoa(i)})
		if i%1000 == 0 { // the hot token is used all along
			if c, ok := vc.get(hot); !ok || c.ID != "hot" {
				t.Fatalf("after %d other tokens the token in use was dropped", i)
			}
		}
		if n := len(vc.current) + len(vc.previous); n > 2*verifiedCacheSize {
			t.Fatalf("the cache holds %d tokens, more than %d", n, 2*verifiedCacheSize)
		}
	}
	if _, ok := vc.get(key(0)); ok {
		t.Fatal("a token unused for four generations is still cached")
	}
	if c, ok := vc.get(key(5*verifiedCacheSize - 1)); !ok || c.ID != strconv.Itoa(5*verifiedCacheSize-1) {
		t.Fatal("the latest token is not cached")
	}
}
