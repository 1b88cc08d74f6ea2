// Package logging builds tokend's structured logger: slog, as JSON or
// text, on an asynchronous writer whose background goroutine writes what
// was logged every FlushInterval, and at Close. Logging a request then
// costs a copy into memory under a short lock: the slow write to the
// terminal, pipe or file happens outside every lock a request takes, where
// under load it used to queue every request behind the one writing.
package logging

import (
	"io"
	"log/slog"
	"sync"
	"time"
)

// FlushInterval bounds how long a log line waits in the buffer.
const FlushInterval = 100 * time.Millisecond

const (
	// flushSize is what the buffer holds before the flusher is woken
	// early.
	flushSize = 64 << 10
	// maxSize is what the buffer holds at most: a writer that finds it
	// full waits for the flusher, so a destination slower than the log
	// slows the logging down rather than grow memory without bound.
	maxSize = 1 << 20
)

// Writer is an io.Writer that collects what is written to it and writes it
// to the underlying writer from a goroutine of its own: every
// FlushInterval, as soon as flushSize bytes are waiting, and at Flush and
// Close. Lines are written whole and in order. It is safe for concurrent
// use.
type Writer struct {
	mu    sync.Mutex
	space sync.Cond // signalled when the flusher took the buffer
	buf   []byte

	// out serialises writes to dst, and owns spare, the buffer the
	// last write emptied.
	out   sync.Mutex
	dst   io.Writer
	spare []byte

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// NewWriter returns a Writer over w and starts its flusher.
func NewWriter(w io.Writer) *Writer {
	bw := &Writer{dst: w, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	bw.space.L = &bw.mu
	go bw.flushEvery(FlushInterval)
	return bw
}

// Write queues a copy of p. It waits only when maxSize bytes are already
// waiting.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	for len(w.buf) > 0 && len(w.buf)+len(p) > maxSize {
		select {
		case <-w.stop: // no flusher to wait for
			w.mu.Unlock()
			w.Flush()
			w.mu.Lock()
			continue
		default:
		}
		w.wake()
		w.space.Wait()
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= flushSize {
		w.wake()
	}
	w.mu.Unlock()
	return len(p), nil
}

// wake asks the flusher to write now.
func (w *Writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Flush writes what is waiting, and returns when it is written.
func (w *Writer) Flush() error {
	w.out.Lock()
	defer w.out.Unlock()
	w.mu.Lock()
	b := w.buf
	w.buf = w.spare[:0]
	w.space.Broadcast()
	w.mu.Unlock()
	if len(b) == 0 {
		w.spare = b
		return nil
	}
	_, err := w.dst.Write(b)
	if cap(b) > maxSize*2 {
		b = nil // keep no outsized buffer
	}
	w.spare = b
	return err
}

// Close stops the flusher and flushes what is left. Writes after Close are
// kept but written only by Flush.
func (w *Writer) Close() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		<-w.done
	}
	return w.Flush()
}

func (w *Writer) flushEvery(d time.Duration) {
	defer close(w.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		case <-w.kick:
		}
		w.Flush() // a failing log destination is nothing to report to
	}
}

// New returns a logger writing to w in the format, "json" or "text", at
// the level, unbuffered: for commands that run and exit.
func New(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// NewBuffered returns a logger like New's on a Writer over w, for a server,
// and the Writer to Close when it stops.
func NewBuffered(w io.Writer, format string, level slog.Leveler) (*slog.Logger, *Writer) {
	bw := NewWriter(w)
	return New(bw, format, level), bw
}
