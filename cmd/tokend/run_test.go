package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/jsonapitest"
	"github.com/tokend/tokend/internal/store"
)

const testSecret = "cmd-test-secret-cmd-test-secret-0123456789"

// tokenPattern matches a tokend token anywhere in a text.
var tokenPattern = regexp.MustCompile(`v2\.public\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?`)

// testEnv is a process environment for run.
type testEnv map[string]string

func (e testEnv) getenv(name string) string { return e[name] }

// with returns a copy of the environment with the variables changed; an
// empty value unsets one.
func (e testEnv) with(kv ...string) testEnv {
	out := testEnv{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

// newEnv returns the environment of a tokend with its own data directory,
// on the database of the dialect: the SQLite file in the data directory
// (no TOKEND_DATABASE_URL, as on a bare machine) or a fresh PostgreSQL
// schema.
func newEnv(t *testing.T, dialect string) testEnv {
	t.Helper()
	env := testEnv{"TOKEND_DATA_DIR": t.TempDir(), "TOKEND_SECRET": testSecret}
	if dialect == store.Postgres {
		env["TOKEND_DATABASE_URL"] = dbtest.NewEmptyURL(t, store.Postgres)
	}
	return env
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a "tokend serve" running in the test.
type server struct {
	URL            string
	Env            testEnv
	Stdout, Stderr *syncBuffer

	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	err      error
}

// startServe runs "tokend serve" with the environment, on a port of its
// own choosing on loopback unless TOKEND_LISTEN is set, learns the address
// from the log, and waits until /readyz answers 200. The server is stopped
// when the test ends.
func startServe(t *testing.T, env testEnv) *server {
	t.Helper()
	if env["TOKEND_LISTEN"] == "" {
		env = env.with("TOKEND_LISTEN", "127.0.0.1:0")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{
		Env:    env,
		Stdout: &syncBuffer{}, Stderr: &syncBuffer{},
		cancel: cancel, done: make(chan error, 1),
	}
	go func() { s.done <- run(ctx, []string{"serve"}, env.getenv, s.Stdout, s.Stderr) }()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitReady(t, s)
	return s
}

// listeningAt returns the address the "tokend listening" log line names,
// or "" before that line is written.
func listeningAt(logs string) string {
	for _, line := range strings.Split(logs, "\n") {
		var l struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "tokend listening" {
			return l.Addr
		}
	}
	return ""
}

// waitReady waits for the server to log its address, then polls /readyz
// until it answers 200.
func waitReady(t *testing.T, s *server) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.stopOnce.Do(func() { s.err = err })
			t.Fatalf("serve ended before it was ready: %v\nstderr:\n%s", err, s.Stderr)
		default:
		}
		var err error
		if s.URL == "" {
			if addr := listeningAt(s.Stderr.String()); addr != "" {
				s.URL = "http://" + addr
			}
		}
		if s.URL != "" {
			var resp *http.Response
			resp, err = client.Get(s.URL + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 30s (last: %v)\nstderr:\n%s", err, s.Stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop cancels the server's context and returns what run returned.
func (s *server) stop() error {
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(30 * time.Second):
			s.err = errors.New("run did not return within 30s of its context ending")
		}
	})
	return s.err
}

// cli runs a tokend command to completion and returns its output.
func cli(t *testing.T, env testEnv, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = run(ctx, args, env.getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustCLI runs a command that must succeed and returns its stdout.
func mustCLI(t *testing.T, env testEnv, args ...string) string {
	t.Helper()
	out, errOut, err := cli(t, env, args...)
	if err != nil {
		t.Fatalf("tokend %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// onlyLine returns the one line out holds, failing the test unless out is
// exactly one line ending in a newline.
func onlyLine(t *testing.T, what, out string) string {
	t.Helper()
	line, ok := strings.CutSuffix(out, "\n")
	if !ok || line == "" || strings.ContainsAny(line, "\n\r\t ") {
		t.Fatalf("%s printed %q, want one line holding a single value", what, out)
	}
	return line
}

// httpResult is a response with its body read.
type httpResult struct {
	Status int
	Header http.Header
	Body   []byte
}

// call sends a request to a running server, with a bounded wait, and checks
// that a JSON:API answer is a valid JSON:API document.
func call(t *testing.T, method, url, token string, body []byte) httpResult {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/vnd.api+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Type") == "application/vnd.api+json" {
		jsonapitest.Validate(t, b)
	}
	return httpResult{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// expect fails the test unless the result has the status.
func (r httpResult) expect(t *testing.T, status int) httpResult {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d\n%s", r.Status, status, r.Body)
	}
	return r
}

// errorCode returns the code of the first error of an error document.
func (r httpResult) errorCode() string {
	var doc struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(r.Body, &doc) != nil || len(doc.Errors) == 0 {
		return ""
	}
	return doc.Errors[0].Code
}

// forwardAuth asks the server's forward-auth endpoint whether the token
// holds the scope, and returns the status and the subject it reports.
func forwardAuth(t *testing.T, s *server, token, scope string) (int, string) {
	t.Helper()
	r := call(t, http.MethodGet, s.URL+"/auth?scope="+url.QueryEscape(scope), token, nil)
	return r.Status, r.Header.Get("X-Token-Subject")
}

// bootstrapTokenFile returns where the server writes its bootstrap token.
func (s *server) bootstrapTokenFile() string {
	if f := s.Env["TOKEND_BOOTSTRAP_TOKEN_FILE"]; f != "" {
		return f
	}
	return filepath.Join(s.Env["TOKEND_DATA_DIR"], "bootstrap-token")
}

// bootstrapToken returns the bootstrap token the server's first start
// handed over: with stdout not a terminal, in a file only its owner can
// read, named by the log, with nothing on stdout.
func bootstrapToken(t *testing.T, s *server) string {
	t.Helper()
	path := s.bootstrapTokenFile()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the first start wrote no bootstrap token file: %v\nstderr:\n%s", err, s.Stderr)
	}
	token, ok := strings.CutSuffix(string(b), "\n")
	if !ok || !tokenPattern.MatchString(token) || tokenPattern.FindString(token) != token {
		t.Fatalf("the bootstrap token file holds %q, want one token and a newline", b)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("bootstrap token file mode = %v, %v; want 0600", info.Mode(), err)
	}
	if !strings.Contains(s.Stderr.String(), `"path":"`+path+`"`) {
		t.Errorf("the log does not name the bootstrap token file %s:\n%s", path, s.Stderr)
	}
	if out := s.Stdout.String(); tokenPattern.MatchString(out) {
		t.Errorf("the bootstrap token went to stdout too:\n%s", out)
	}
	return token
}

// keyID returns the kid in a token's footer.
func keyID(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 4 {
		t.Fatalf("token %q has no footer", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil {
		t.Fatalf("token footer: %v", err)
	}
	var f struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.KID == "" {
		t.Fatalf("token footer %s has no kid: %v", b, err)
	}
	return f.KID
}

// createTokenBody is the JSON:API document creating a token.
func createTokenBody(description, scope string, expiration time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"data": map[string]any{"type": "apiToken", "attributes": map[string]any{
		"description": description,
		"scope":       scope,
		"expiration":  expiration.UTC().Format("2006-01-02T15:04:05.000Z"),
	}}})
	return b
}

// createdToken returns the token of a create response.
func createdToken(t *testing.T, r httpResult) string {
	t.Helper()
	var doc struct {
		Data struct {
			Attributes struct {
				Token string `json:"token"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil || doc.Data.Attributes.Token == "" {
		t.Fatalf("create response has no token: %s", r.Body)
	}
	return doc.Data.Attributes.Token
}

func TestServeBootstrapsOnceAndGeneratesTheSecret(t *testing.T) {
	dataDir := t.TempDir()
	env := testEnv{"TOKEND_DATA_DIR": dataDir} // no TOKEND_SECRET, no database URL

	s := startServe(t, env)
	for _, path := range []string{"/healthz", "/readyz"} {
		r := call(t, http.MethodGet, s.URL+path, "", nil).expect(t, http.StatusOK)
		if !bytes.Contains(r.Body, []byte(`"status"`)) {
			t.Errorf("GET %s = %s, want a status document", path, r.Body)
		}
	}
	admin := bootstrapToken(t, s)
	if status, sub := forwardAuth(t, s, admin, "users-write api-tokens-write introspect"); status != http.StatusOK || sub == "" {
		t.Fatalf("the bootstrap token does not hold every scope: forward-auth = %d, subject %q", status, sub)
	}
	_, adminID := forwardAuth(t, s, admin, "users")
	if !strings.Contains(s.Stderr.String(), adminID) {
		t.Errorf("the log does not name the bootstrap admin %s:\n%s", adminID, s.Stderr)
	}
	r := call(t, http.MethodGet, s.URL+"/users/"+adminID+"/api-tokens", admin, nil).expect(t, http.StatusOK)
	if !bytes.Contains(r.Body, []byte("Bootstrap admin token")) {
		t.Errorf("the admin's tokens do not list the bootstrap token: %s", r.Body)
	}

	// The secret was generated into the data directory, with a warning.
	secret, err := os.ReadFile(filepath.Join(dataDir, "secret"))
	if err != nil || len(bytes.TrimSpace(secret)) < 32 {
		t.Fatalf("generated secret: %q, %v", secret, err)
	}
	if info, err := os.Stat(filepath.Join(dataDir, "secret")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode = %v, %v; want 0600", info.Mode(), err)
	}
	if !strings.Contains(s.Stderr.String(), "TOKEND_SECRET is not set: generated a secret") {
		t.Errorf("no warning about the generated secret:\n%s", s.Stderr)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("run returned %v after its context ended", err)
	}

	// A restart on the same database hands over no token, reuses the
	// secret (or it could not open its signing key), and still accepts
	// the token.
	if err := os.Remove(s.bootstrapTokenFile()); err != nil {
		t.Fatal(err)
	}
	again := startServe(t, env)
	if out := again.Stdout.String(); out != "" {
		t.Fatalf("a restart printed on stdout:\n%s", out)
	}
	if _, err := os.Stat(again.bootstrapTokenFile()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a restart wrote a bootstrap token file: %v", err)
	}
	if !strings.Contains(again.Stderr.String(), "using the secret generated earlier") {
		t.Errorf("no warning about the reused secret:\n%s", again.Stderr)
	}
	if status, _ := forwardAuth(t, again, admin, "users"); status != http.StatusOK {
		t.Errorf("after a restart, the bootstrap token gets %d, want 200", status)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	env := newEnv(t, store.SQLite)
	s := startServe(t, env)
	admin := bootstrapToken(t, s)
	_, adminID := forwardAuth(t, s, admin, "api-tokens-write")

	// A request is in flight: its headers are sent, its body only half.
	body := createTokenBody("in flight", "customers", time.Now().Add(time.Hour))
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/users/"+adminID+"/api-tokens", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/vnd.api+json")
	req.Header.Set("Authorization", "Bearer "+admin)
	type result struct {
		status int
		body   []byte
		err    error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		resc <- result{resp.StatusCode, b, err}
	}()
	half := len(body) / 2
	if _, err := pw.Write(body[:half]); err != nil {
		t.Fatal(err)
	}
	// Nothing signals that the server has accepted the connection and read
	// the headers; give it a moment.
	time.Sleep(200 * time.Millisecond)

	s.cancel()
	// Shutdown waits for the request: run does not return yet, and new
	// connections are refused.
	refused := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL, "http://"), time.Second); err != nil {
			refused = true
			break
		} else {
			c.Close()
		}
	}
	if !refused {
		t.Error("the server still accepts connections after its context ended")
	}
	select {
	case err := <-s.done:
		s.stopOnce.Do(func() { s.err = err })
		t.Fatalf("run returned %v with a request in flight", err)
	default:
	}

	if _, err := pw.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	res := <-resc
	if res.err != nil || res.status != http.StatusCreated {
		t.Fatalf("the in-flight request got %d, %v, want 201\n%s", res.status, res.err, res.body)
	}
	if !tokenPattern.Match(res.body) {
		t.Errorf("the in-flight create returned no token: %s", res.body)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("run returned %v, want nil after a graceful shutdown", err)
	}
	logs := s.Stderr.String()
	if !strings.Contains(logs, `"msg":"shutting down"`) || !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("the logs do not show the shutdown:\n%s", logs)
	}
}

// TestServeTimesOutSlowClients checks the server's header timeout: a
// client that starts a request and never finishes its headers is
// disconnected, rather than holding a connection for ever.
func TestServeTimesOutSlowClients(t *testing.T) {
	t.Parallel()
	s := startServe(t, newEnv(t, "sqlite"))
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: tokend\r\n")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			break // closed by the server (or the 20 s deadline, caught below)
		}
	}
	if took := time.Since(start); took < 4*time.Second || took > 10*time.Second {
		t.Fatalf("the server dropped the unfinished request after %s, want about its 5 s header timeout", took)
	}
}

// TestServeOnABadAddressMakesNoBootstrapToken checks that serve listens
// before it bootstraps: a start that cannot listen hands over no token, so
// the next start, which can, still hands over the one token.
func TestServeOnABadAddressMakesNoBootstrapToken(t *testing.T) {
	env := newEnv(t, store.SQLite)
	_, _, err := cli(t, env.with("TOKEND_LISTEN", "256.0.0.1:80"), "serve")
	if err == nil {
		t.Fatal("serve on a bad address succeeded")
	}
	s := startServe(t, env)
	if status, _ := forwardAuth(t, s, bootstrapToken(t, s), "users"); status != http.StatusOK {
		t.Fatalf("the bootstrap token of the second start gets %d", status)
	}
}

func TestPrintBootstrapMarksTheToken(t *testing.T) {
	var b bytes.Buffer
	printBootstrap(&b, apitoken.User{ID: "u1", Email: "admin@tokend.local"}, "v2.public.abc.def")
	if out := b.String(); !strings.Contains(out, "bootstrap admin token") || !strings.Contains(out, "token: v2.public.abc.def\n") ||
		!strings.Contains(out, "u1 (admin@tokend.local)") {
		t.Fatalf("banner:\n%s", out)
	}
}

// TestServeProfilesOnTheirOwnListener checks that TOKEND_PPROF_LISTEN
// serves Go's profiles on a listener of their own, and that the API's
// listener does not.
func TestServeProfilesOnTheirOwnListener(t *testing.T) {
	s := startServe(t, newEnv(t, store.SQLite).with("TOKEND_PPROF_LISTEN", "127.0.0.1:0"))
	var addr string
	for _, line := range strings.Split(s.Stderr.String(), "\n") {
		var l struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "serving profiles" {
			addr = l.Addr
		}
	}
	if addr == "" {
		t.Fatalf("no profile listener logged:\n%s", s.Stderr)
	}
	call(t, http.MethodGet, "http://"+addr+"/debug/pprof/", "", nil).expect(t, http.StatusOK)
	call(t, http.MethodGet, "http://"+addr+"/debug/pprof/block?debug=1", "", nil).expect(t, http.StatusOK)
	call(t, http.MethodGet, s.URL+"/debug/pprof/", "", nil).expect(t, http.StatusNotFound)
}
