package replica

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/maypok86/otter/v2"

	"github.com/tokend/tokend/internal/apitoken"
)

// BenchmarkStateMemory fills a state with one million tokens of a thousand
// users, as Credential would after a million first uses, and reports the
// heap the state holds per token and the process's resident memory with it
// full. Run it with -benchtime 1x:
//
//	go test -run '^$' -bench StateMemory -benchtime 1x ./internal/replica/
func BenchmarkStateMemory(b *testing.B) {
	const tokens, users = 1_000_000, 1000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := &State{
			tokens: otter.Must(&otter.Options[uuid.UUID, tokenEntry]{MaximumSize: tokens}),
			users:  otter.Must(&otter.Options[uuid.UUID, apitoken.User]{MaximumSize: tokens}),
		}
		now := time.Now().UTC()
		owners := make([]uuid.UUID, users)
		for i := range owners {
			owners[i] = uuid.Must(uuid.NewV7())
			s.users.Set(owners[i], apitoken.User{ID: owners[i].String(), Email: "user" + strconv.Itoa(i) + "@example.com",
				Role: apitoken.RoleMember, CreatedAt: now, UpdatedAt: now})
		}
		hash := make([]byte, 32)
		for i := range tokens {
			t := apitoken.Token{Hash: hash, Enabled: true, Expiration: now.Add(time.Hour), ClaimExpiration: now.Add(time.Hour),
				CreatedAt: now, UpdatedAt: now}
			s.tokens.Set(uuid.Must(uuid.NewV7()), entryOf(&t, owners[i%users]))
		}
		s.tokens.CleanUp()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n := s.tokens.EstimatedSize(); n < tokens*99/100 {
			b.Fatalf("the state holds %d tokens, want about %d", n, tokens)
		}
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/tokens, "heap-bytes/token")
		b.ReportMetric(float64(rss())/(1<<20), "RSS-MiB")
		runtime.KeepAlive(s)
	}
}

// rss returns the process's resident set size in bytes, from /proc.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
