package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tokend/tokend/internal/dbtest"
)

// process is tokend serve running as a process of its own, which the test
// can kill.
type process struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	URL    string
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildTokend builds cmd/tokend once per test binary.
func buildTokend(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tokend-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "tokend")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/tokend: %v", buildErr)
	}
	return builtBin
}

// startProcess runs the binary's serve with the environment and waits
// until it is ready.
func startProcess(t *testing.T, bin string, env testEnv) *process {
	t.Helper()
	p := &process{stderr: &syncBuffer{}}
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env.with("TOKEND_LISTEN", "127.0.0.1:0") {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if addr := listeningAt(p.stderr.String()); addr != "" {
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					p.URL = "http://" + addr
					return p
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tokend not ready after 30s:\n%s", p.stderr)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// TestOutboxSurvivesKill9 kills tokend with SIGKILL while a delivery is in
// flight (the receiver holds the request unanswered), starts it again on
// the same database, and checks that the delivery arrives, signed, with
// the same webhook-id.
func TestOutboxSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building the binary")
	}
	bin := buildTokend(t)
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			var mu sync.Mutex
			var ids []string
			var bodies [][]byte
			var headers []http.Header
			first := make(chan string, 1)
			release := make(chan struct{})
			receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				n := len(ids)
				ids = append(ids, r.Header.Get("webhook-id"))
				bodies, headers = append(bodies, body), append(headers, r.Header.Clone())
				mu.Unlock()
				if n == 0 {
					first <- r.Header.Get("webhook-id")
					<-release // the first attempt never gets an answer
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			defer receiver.Close()
			defer close(release)

			env := newEnv(t, dialect).with("TOKEND_WEBHOOK_ALLOW_PRIVATE", "true", "TOKEND_WEBHOOK_POLL", "50ms",
				"TOKEND_WEBHOOK_TIMEOUT", "500ms", "TOKEND_LOG_LEVEL", "debug")
			p := startProcess(t, bin, env)
			token := strings.TrimSpace(readPath(t, filepath.Join(env["TOKEND_DATA_DIR"], "bootstrap-token")))

			created := call(t, http.MethodPost, p.URL+"/webhooks", token, mustMarshal(t, map[string]any{"data": map[string]any{
				"type": "webhook", "attributes": map[string]any{"url": receiver.URL, "events": []string{"webhook.updated"}}}})).
				expect(t, http.StatusCreated)
			var doc struct {
				Data struct {
					ID         string `json:"id"`
					Attributes struct {
						Secret string `json:"secret"`
					} `json:"attributes"`
				} `json:"data"`
			}
			json.Unmarshal(created.Body, &doc)
			call(t, http.MethodPatch, p.URL+"/webhooks/"+doc.Data.ID, token, mustMarshal(t, map[string]any{"data": map[string]any{
				"type": "webhook", "id": doc.Data.ID, "attributes": map[string]any{"description": "after the kill"}}})).
				expect(t, http.StatusOK)

			var eventID string
			select {
			case eventID = <-first:
			case <-time.After(20 * time.Second):
				t.Fatalf("no delivery began:\n%s", p.stderr)
			}
			// Mid-delivery: the request is sent, no answer has come.
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			p.cmd.Wait()

			startProcess(t, bin, env)
			deadline := time.Now().Add(30 * time.Second)
			for {
				mu.Lock()
				n := len(ids)
				mu.Unlock()
				if n >= 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the delivery did not arrive after the restart")
				}
				<-time.After(20 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			if ids[1] != eventID {
				t.Errorf("after the restart webhook-id %s, want the same event %s", ids[1], eventID)
			}
			wh, err := standardwebhooks.NewWebhook(doc.Data.Attributes.Secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(bodies[1], headers[1]); err != nil {
				t.Errorf("the delivery after the restart does not verify: %v", err)
			}
			if !bytes.Equal(bodies[0], bodies[1]) {
				t.Errorf("the body changed across attempts:\n%s\n%s", bodies[0], bodies[1])
			}
		})
	}
}

func readPath(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
