package dbtest

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// CPUMeter measures the CPU time a benchmark costs: the test process's,
// and, when PostgreSQL runs on the same host, that of the server processes
// serving one database. On a shared machine the wall time moves with the
// load; the CPU time much less.
type CPUMeter struct {
	db       *sql.DB
	process  time.Duration
	backends map[int]time.Duration
}

// StartCPU starts measuring, the server's side over the database db is
// connected to (nil: the process only).
func StartCPU(db *sql.DB) *CPUMeter {
	m := &CPUMeter{db: db, process: ProcessCPU()}
	m.backends, _ = m.serverCPU()
	return m
}

// Stop returns the CPU time used since StartCPU by the process and by the
// database's server processes; ok is false when the server's could not
// be read (SQLite, or a server on another host). A server process that
// ended meanwhile is not counted.
func (m *CPUMeter) Stop() (process, server time.Duration, ok bool) {
	process = ProcessCPU() - m.process
	now, ok := m.serverCPU()
	for pid, d := range now {
		server += d - m.backends[pid]
	}
	return process, server, ok
}

// Report stops the meter and reports the rate of b's operations, each
// one unit ("row"), and the CPU time each cost the process
// (go-cpu-µs/unit) and the server (pg-cpu-µs/unit).
func (m *CPUMeter) Report(b *testing.B, unit string) {
	process, server, ok := m.Stop()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit+"s/s")
	b.ReportMetric(float64(process.Microseconds())/float64(b.N), "go-cpu-µs/"+unit)
	if ok {
		b.ReportMetric(float64(server.Microseconds())/float64(b.N), "pg-cpu-µs/"+unit)
	}
}

// ProcessCPU returns the CPU time the process has used.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU returns the CPU time each PostgreSQL server process of the
// database has used, read from /proc.
func (m *CPUMeter) serverCPU() (map[int]time.Duration, bool) {
	if m.db == nil {
		return nil, false
	}
	rows, err := m.db.Query("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		return nil, false // not PostgreSQL
	}
	defer rows.Close()
	used := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			return nil, false
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the command's closing parenthesis: utime and
		// stime are the 12th and 13th, in clock ticks (100 a second on
		// Linux).
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		used[pid] = time.Duration(ut+st) * 10 * time.Millisecond
	}
	return used, len(used) > 0 && rows.Err() == nil
}
