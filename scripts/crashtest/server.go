package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// server is one tokend process, started again on the same address after
// each kill.
type server struct {
	bin, dbURL, dataDir string
	addr, base          string
	logPath             string
	log                 *os.File
	cmd                 *exec.Cmd
	exited              chan struct{}
	adminToken          string
}

func newServer(bin, dbURL, work string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	logPath := filepath.Join(work, "tokend.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &server{bin: bin, dbURL: dbURL, dataDir: filepath.Join(work, "data"),
		addr: addr, base: "http://" + addr, logPath: logPath, log: log}, nil
}

// start starts tokend and waits until it is ready; the first start reads
// the bootstrap admin token.
func (s *server) start(ctx context.Context) error {
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = append(os.Environ(),
		"TOKEND_DATABASE_URL="+s.dbURL,
		"TOKEND_DATA_DIR="+s.dataDir,
		"TOKEND_LISTEN="+s.addr,
		"TOKEND_BOOTSTRAP_TOKEN_FILE="+filepath.Join(s.dataDir, "bootstrap-token"),
		"TOKEND_SECRET=crashtest-secret-6f1d0c9e4b7a2f3e8d5c1b0a9f8e7d6c",
		"TOKEND_LOG_LEVEL=warn",
		// The load is the test: no rate limit or quota stands in its way.
		"TOKEND_RATE_TOKEN_CREATES=off",
		"TOKEND_RATE_AUTH_FAILURES=off",
		"TOKEND_MAX_TOKENS_PER_USER=1000000",
	)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	fmt.Fprintf(s.log, "--- crashtest: starting tokend at %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(s.exited)
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		return err
	}
	if s.adminToken == "" {
		b, err := os.ReadFile(filepath.Join(s.dataDir, "bootstrap-token"))
		if err != nil {
			return fmt.Errorf("the bootstrap token: %w", err)
		}
		s.adminToken = strings.TrimSpace(string(b))
	}
	return nil
}

// waitReady polls /readyz until it answers 200.
func (s *server) waitReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("tokend exited while starting: see %s", s.logPath)
		default:
		}
		if resp, err := c.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := wait(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("tokend was not ready within %s: see %s", within, s.logPath)
}

// kill kills tokend with SIGKILL and waits until it is gone.
func (s *server) kill() error {
	fmt.Fprintf(s.log, "--- crashtest: SIGKILL at %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-s.exited
	return nil
}

// stop ends tokend, if it runs, with SIGTERM.
func (s *server) stop() {
	s.terminate()
	s.log.Close()
}

// restart ends tokend with SIGTERM, which lets the requests in flight
// finish, and starts it again.
func (s *server) restart(ctx context.Context) error {
	fmt.Fprintf(s.log, "--- crashtest: SIGTERM at %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	s.terminate()
	return s.start(ctx)
}

// terminate ends tokend, if it runs, with SIGTERM, and with SIGKILL if it
// has not exited 10 s later.
func (s *server) terminate() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// printLog writes the last n lines of tokend's output to w.
func (s *server) printLog(w io.Writer, n int) {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	fmt.Fprintf(w, "crashtest: the last %d lines of tokend's output:\n", min(n, len(lines)))
	for _, l := range lines[max(0, len(lines)-n):] {
		fmt.Fprintln(w, "  "+l)
	}
}

// database returns the URL tokend runs on, and what removes it at the end.
func database(ctx context.Context, c config, work string) (string, func(), error) {
	nothing := func() {}
	if c.database == "sqlite" {
		return "sqlite:" + filepath.Join(work, "tokend.db"), nothing, nil
	}
	if !strings.HasPrefix(c.database, "postgres://") && !strings.HasPrefix(c.database, "postgresql://") {
		return "", nil, fmt.Errorf("-database %q is neither sqlite nor a postgres:// URL", c.database)
	}
	if !c.fresh {
		return c.database, nothing, nil
	}
	name := "tokend_crashtest_" + randomHex(6)
	if err := adminExec(ctx, c.database, `CREATE DATABASE "`+name+`"`); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(c.database)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, c.database, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			fmt.Fprintln(os.Stderr, "crashtest: drop the test database:", err)
		}
	}
	return u.String(), drop, nil
}

// adminExec runs one statement on the database url names.
func adminExec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// shell runs a command with sh -c, its output going to w.
func shell(ctx context.Context, command string, w io.Writer) error {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Stdout, cmd.Stderr = w, w
	return cmd.Run()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// jitter returns a duration spread uniformly between d/2 and 3d/2.
func jitter(d time.Duration) time.Duration {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(d)+1))
	return d/2 + time.Duration(n.Int64())
}
