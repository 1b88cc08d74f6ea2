package logging_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/logging"
)

// syncBuffer is a bytes.Buffer safe for the flusher's writes.
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

func TestLinesAreBufferedThenFlushedWhole(t *testing.T) {
	var out syncBuffer
	log, w := logging.NewBuffered(&out, "json", nil)
	log.Info("one")
	if got := out.String(); got != "" {
		t.Fatalf("a line reached the destination at once: %q", got)
	}
	deadline := time.Now().Add(10 * logging.FlushInterval)
	for !strings.Contains(out.String(), `"msg":"one"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no flush within %s", 10*logging.FlushInterval)
		}
		time.Sleep(logging.FlushInterval / 4)
	}
	// Many concurrent lines arrive whole, none lost, by Close.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				log.Info("line", "writer", i, "pad", strings.Repeat("x", 200))
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1+8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 1+8*500)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Fatalf("a line was split: %q", l)
		}
	}
}

// blockingWriter blocks every Write until release is closed, and says when
// the first Write began.
type blockingWriter struct {
	entered chan struct{}
	once    sync.Once
	release chan struct{}
	syncBuffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return b.syncBuffer.Write(p)
}

func TestASlowDestinationDoesNotHoldLoggers(t *testing.T) {
	out := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	log, w := logging.NewBuffered(out, "json", nil)
	log.Info("first")
	<-out.entered // the flusher is now stuck writing "first"
	logged := make(chan struct{})
	go func() {
		for range 1000 {
			log.Info("while the destination is stuck", "pad", strings.Repeat("x", 200))
		}
		close(logged)
	}()
	select {
	case <-logged:
	case <-time.After(10 * time.Second):
		t.Fatal("logging waited for a stuck destination with far less than the buffer's bound waiting")
	}
	close(out.release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 1001 {
		t.Fatalf("%d lines written, want 1001", n)
	}
}

func TestWritesAfterCloseAreKeptAndFlushed(t *testing.T) {
	var out syncBuffer
	log, w := logging.NewBuffered(&out, "json", nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// More than the buffer's bound: a write must not wait for the
	// flusher that Close stopped.
	for range 5000 {
		log.Info("after close", "pad", strings.Repeat("x", 400))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 5000 {
		t.Fatalf("%d lines written, want 5000", n)
	}
}

func TestPlainLinesForCommands(t *testing.T) {
	var out bytes.Buffer
	log := logging.NewPlain(&out, nil)
	log.Debug("not shown")
	log.Info("applied migration", "migration", "0001_init")
	log.Warn("TOKEND_SECRET is not set: generated a secret", "path", "data/secret")
	log.With("user", "u1").Error("failed", "err", "a b")
	want := "tokend: applied migration migration=0001_init\n" +
		"tokend: warning: TOKEND_SECRET is not set: generated a secret path=data/secret\n" +
		"tokend: error: failed user=u1 err=\"a b\"\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}
