package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// NewPlain returns a logger for commands that run and exit: one plain line
// per record on w, "tokend: " and the message, "warning: " or "error: "
// before it above info, its attributes after it as key=value.
func NewPlain(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(&plainHandler{w: w, level: level, mu: &sync.Mutex{}})
}

type plainHandler struct {
	w     io.Writer
	level slog.Leveler
	mu    *sync.Mutex
	attrs []slog.Attr
}

func (h *plainHandler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.level != nil {
		min = h.level.Level()
	}
	return l >= min
}

func (h *plainHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("tokend: ")
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("error: ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	}
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		if a.Equal(slog.Attr{}) {
			return true
		}
		b.WriteString(" " + a.Key + "=")
		v := a.Value.Resolve().String()
		if strings.ContainsAny(v, " \t\"=") {
			v = `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`
		}
		b.WriteString(v)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *plainHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

// WithGroup is not used by tokend's commands; a group's attributes are
// written without the group's name.
func (h *plainHandler) WithGroup(string) slog.Handler { return h }
