package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// ErrNoListen is Listen's error on a database that cannot notify changes:
// SQLite, whose readers poll ChangeSeq instead.
var ErrNoListen = errors.New("store: this database does not notify changes")

// Listener is a connection of its own, apart from the pool, that listens on
// ChangeChannel: through it a replica learns of changes committed by any
// other the moment they commit, and proves at each Seq that it is still
// connected, so that it missed nothing.
type Listener struct {
	s    *Store
	conn *pgx.Conn
}

// Listen opens a Listener, within ctx's deadline.
func (s *Store) Listen(ctx context.Context) (*Listener, error) {
	if s.dialect != Postgres {
		return nil, ErrNoListen
	}
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return nil, s.wrap(ctx, err, "")
	}
	if _, err := conn.Exec(ctx, "LISTEN "+ChangeChannel); err != nil {
		conn.Close(context.Background())
		return nil, s.wrap(ctx, err, "")
	}
	return &Listener{s: s, conn: conn}, nil
}

// Wait waits until a change is notified, or ctx ends; it returns nil for a
// notification and ctx's error otherwise. A Listener whose Wait returns
// another error is broken: close it and listen anew.
func (l *Listener) Wait(ctx context.Context) error {
	_, err := l.conn.WaitForNotification(ctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return l.s.wrap(ctx, err, "")
}

// Seq returns the number of the latest committed change, read on the
// listening connection: that it answers proves the listener is connected.
func (l *Listener) Seq(ctx context.Context) (int64, error) {
	var seq int64
	err := l.conn.QueryRow(ctx, "SELECT seq FROM change_counter WHERE id = 1").Scan(&seq)
	return seq, l.s.wrap(ctx, err, "")
}

// Close closes the listening connection.
func (l *Listener) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	return l.conn.Close(ctx)
}
