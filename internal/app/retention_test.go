package app_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/tokendtest"
)

const day = 24 * time.Hour

// logWatch is a server's log destination that hands over every line with
// the message msg.
type logWatch struct {
	msg   string
	lines chan map[string]any
}

func newLogWatch(msg string) *logWatch {
	return &logWatch{msg: msg, lines: make(chan map[string]any, 16)}
}

// Write takes one JSON line, as slog's JSON handler writes it.
func (w *logWatch) Write(p []byte) (int, error) {
	var line map[string]any
	if json.Unmarshal(p, &line) == nil && line["msg"] == w.msg {
		select {
		case w.lines <- line:
		default:
		}
	}
	return len(p), nil
}

// next returns the next line with the message, failing the test if none
// comes within 30 s.
func (w *logWatch) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case line := <-w.lines:
		return line
	case <-time.After(30 * time.Second):
		t.Fatalf("no log line %q", w.msg)
		return nil
	}
}

// pastToken returns a token of the user, signed by the key, created long
// ago, expiring at exp (its exp claim too) and revoked at revoked unless it
// is zero: a row as a token that old leaves.
func pastToken(userID, keyID string, exp, revoked time.Time) apitoken.Token {
	created := exp.Add(-30 * day)
	t := apitoken.Token{
		ID: uuid.Must(uuid.NewV7()).String(), UserID: userID, KeyID: keyID, Hash: []byte(uuid.NewString()),
		Description: "old token", Scope: "customers", Enabled: true, CreatedAt: created, UpdatedAt: created,
		Expiration: exp, ClaimExpiration: exp,
	}
	if !revoked.IsZero() {
		t.RevokedAt, t.UpdatedAt = &revoked, revoked
	}
	return t
}

// TestServePurgesAtStart starts a replica with the default retention on a
// database holding tokens that stopped working 401 days ago: it purges them
// as it starts, says how many in one log line, counts them in /metrics, and
// keeps the tokens within the retention and the revoked one whose exp claim
// has not passed. The first server, with retention off, purged nothing.
func TestServePurgesAtStart(t *testing.T) {
	for _, d := range dbtest.Dialects() {
		t.Run(d, func(t *testing.T) {
			first := tokendtest.Start(t, tokendtest.Options{DatabaseURL: dbtest.NewURL(t, d),
				Env: map[string]string{"TOKEND_TOKEN_RETENTION": "off"}})
			ctx := context.Background()
			key, err := first.Store.Keys.ActiveKey(ctx)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			user, keyID := first.AdminID, key.ID
			purged := []apitoken.Token{
				pastToken(user, keyID, now.Add(-401*day), time.Time{}),
				pastToken(user, keyID, now.Add(-300*day), now.Add(-401*day)),
			}
			kept := []apitoken.Token{
				pastToken(user, keyID, now.Add(-399*day), time.Time{}),
				pastToken(user, keyID, now.Add(30*day), now.Add(-401*day)),
			}
			if err := first.Store.Tokens.BulkCreate(ctx, append(append([]apitoken.Token{}, purged...), kept...)); err != nil {
				t.Fatal(err)
			}

			logs := newLogWatch("purged tokens past their retention")
			second := tokendtest.Start(t, tokendtest.Options{DatabaseURL: first.DatabaseURL, Replica: true, Logs: logs})
			line := logs.next(t)
			if line["tokens"] != float64(len(purged)) {
				t.Fatalf("the purge logged %v, want tokens=%d", line, len(purged))
			}
			for _, tok := range purged {
				if _, err := second.Store.Tokens.Get(ctx, user, tok.ID); apitoken.ErrorCode(err) != apitoken.NotFound {
					t.Errorf("token expired %s ago: %v, want it purged", now.Sub(tok.Expiration).Round(day), err)
				}
			}
			for _, tok := range kept {
				if _, err := second.Store.Tokens.Get(ctx, user, tok.ID); err != nil {
					t.Errorf("token expiring %s: %v, want it kept", tok.Expiration.Format(time.DateOnly), err)
				}
			}
			for s, want := range map[*tokendtest.Server]int{first: 0, second: len(purged)} {
				if n := s.Service.PurgedTokens(); n != int64(want) {
					t.Errorf("a server purged %d tokens, want %d", n, want)
				}
			}
			if _, body := getBody(t, second, "/metrics"); !strings.Contains(body, "\ntokend_tokens_purged_total 2\n") {
				t.Error("/metrics lacks tokend_tokens_purged_total 2")
			}
		})
	}
}

// getBody sends a GET with no token and returns the status and the body.
func getBody(t *testing.T, s *tokendtest.Server, path string) (int, string) {
	t.Helper()
	resp, err := client.Get(s.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}
