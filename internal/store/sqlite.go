package store

import (
	"database/sql"
	"fmt"
	"os"
	"syscall"

	_ "github.com/glebarez/go-sqlite" // the "sqlite" database/sql driver
)

// enableWAL puts the SQLite database at path, created if missing, in WAL
// mode, which lets readers run beside the writer, once and for all
// processes: the mode is kept in the file.
//
// Switching a database to WAL needs it to itself, and when connections of
// several processes opening a new database switch at once, SQLite answers
// some of them SQLITE_BUSY at once, without waiting out the busy timeout.
// So the switch is made here, by one process at a time, under an exclusive
// lock on a file beside the database, and the pool's connections never
// switch modes.
func enableWAL(path string) error {
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: open the SQLite lock file: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("store: lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("store: open sqlite database: %w", err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return fmt.Errorf("store: open sqlite database: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("store: sqlite database %s cannot use WAL mode (it is in %s mode)", path, mode)
	}
	return nil
}
