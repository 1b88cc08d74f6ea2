package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
)

// failure is what kind of trouble a database error is.
type failure int

const (
	// refused: the database answered and refused the statement, or
	// something else went wrong in tokend; it is an internal error.
	refused failure = iota
	// canceled: the caller gave up, typically a client that hung up. The
	// database is fine.
	canceled
	// busy: the database is up but could not take the statement in time,
	// such as SQLite's write lock held past the busy timeout. Worth a
	// retry; not an outage.
	busy
	// outage: the database could not be reached, or did not answer in
	// time.
	outage
)

// classify tells what kind of trouble err is, from a database of the
// dialect. It looks only at errors that reach it from the database driver,
// so a network error here is the database connection's.
func classify(dialect string, err error) failure {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		// Class 08 is connection exceptions, 57P01–57P03 the server
		// shutting down or starting, 53300 too many connections.
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "57P0"), pgErr.Code == "53300":
			return outage
		// 57014 is a statement canceled by the client's request.
		case pgErr.Code == "57014":
			return canceled
		// Deadlocks and serialization failures: the statement lost a
		// race and may be retried.
		case pgErr.Code == "40P01", pgErr.Code == "40001", pgErr.Code == "55P03":
			return busy
		}
		return refused
	}
	var sqliteErr interface{ Code() int }
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() & 0xff { // the primary result code
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return busy
		case 9: // SQLITE_INTERRUPT: the statement's context ended
			if errors.Is(err, context.Canceled) {
				return canceled
			}
			return busy
		}
		return refused
	}
	// SQLite is a local file: a deadline that passes is time spent
	// waiting for the write lock, never an unreachable database.
	if dialect == SQLite && errors.Is(err, context.DeadlineExceeded) {
		return busy
	}
	// A caller that hung up first: pgx reports any statement whose
	// context ended as a timeout, canceled or past its deadline, and a
	// request canceled just as its statement was sent must not mark the
	// database down for every other request.
	if errors.Is(err, context.Canceled) {
		return canceled
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return outage
	}
	// A pooled connection found closed is one connection's trouble, not
	// the database's: the driver closes a connection whose statement was
	// canceled, and database/sql hands on what it could not retry. A
	// database that is down fails the next connection attempt.
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return busy
	}
	var connectErr *pgconn.ConnectError
	var opErr *net.OpError
	if errors.As(err, &connectErr) || errors.As(err, &opErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return outage
	}
	return refused
}

// Details of the errors wrap returns.
const (
	detailOutage   = "The database is unavailable; try again shortly."
	detailBusy     = "The database is busy; try again."
	detailCanceled = "The request was canceled."
)

// wrap translates a database error of a call made with ctx into an
// application error. notFound is the detail for a missing row; "" treats a
// missing row as internal. A database that cannot be reached, is busy, or
// was given up on is unavailable; only an outage says the database is
// down, and never for a call whose caller hung up: the driver closes a
// connection whose statement was canceled, and reports that as a lost
// connection or a timeout.
func (s *Store) wrap(ctx context.Context, err error, notFound string) error {
	var appErr *apitoken.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &appErr):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound) && notFound != "":
		return apitoken.Errorf(apitoken.NotFound, "%s", notFound)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return &apitoken.Error{Code: apitoken.Conflict, Detail: "already exists", Err: err}
	}
	f := classify(s.dialect, err)
	if f == outage && errors.Is(ctx.Err(), context.Canceled) {
		f = canceled
	}
	switch f {
	case outage:
		s.noticeOutage()
		return &apitoken.Error{Code: apitoken.Unavailable, Detail: detailOutage, Err: fmt.Errorf("%w: %w", ErrOutage, err)}
	case busy:
		return &apitoken.Error{Code: apitoken.Unavailable, Detail: detailBusy, Err: err}
	case canceled:
		return &apitoken.Error{Code: apitoken.Unavailable, Detail: detailCanceled, Err: err}
	}
	return &apitoken.Error{Code: apitoken.Internal, Detail: "Internal error.", Err: err}
}

// ErrOutage is in the chain of every error that means the database could
// not be reached or did not answer in time, as opposed to a busy database,
// a canceled request or a refused statement. Test for it with errors.Is.
var ErrOutage = errors.New("store: database unreachable")
