// Package logging builds tokend's structured logger: slog, as JSON or
// text, on a buffered writer that a background goroutine flushes every
// FlushInterval, and at Close. Logging a request then costs a copy into
// memory under a short lock, not a write to the terminal or pipe under the
// handler's lock, which under load queued every request behind the one
// writing.
package logging

import (
	"bufio"
	"io"
	"log/slog"
	"sync"
	"time"
)

// FlushInterval bounds how long a log line waits in the buffer.
const FlushInterval = 100 * time.Millisecond

// bufferSize is what the buffer holds before a write flushes it.
const bufferSize = 64 << 10

// Writer is an io.Writer that buffers what is written to it, and flushes it
// to the underlying writer every FlushInterval, when the buffer is full, and
// at Close. It is safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// NewWriter returns a Writer over w and starts its flusher.
func NewWriter(w io.Writer) *Writer {
	bw := &Writer{buf: bufio.NewWriterSize(w, bufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go bw.flushEvery(FlushInterval)
	return bw
}

// Write buffers p. A line is never split between flushes.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Available() < len(p) {
		if err := w.buf.Flush(); err != nil {
			return 0, err
		}
	}
	return w.buf.Write(p)
}

// Flush writes what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Flush()
}

// Close stops the flusher and flushes what is left. Writes after Close are
// buffered but flushed only by Flush.
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
			w.Flush() // a failing log destination is nothing to report to
		}
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
