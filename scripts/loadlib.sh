# Shared by the load scripts (scripts/load-*.sh); sourced, not run.
#
# The sourcing script sets `set -euo pipefail`, cds to the repository root
# and calls load_init first. Everything started through these functions is
# stopped, and every file removed, when the script exits, however it exits.

# load_init makes the work directory and installs the clean-up.
load_init() {
	for c in go wrk curl python3 "$@"; do
		command -v "$c" >/dev/null || { echo "$0: $c is not installed" >&2; exit 1; }
	done
	LOAD_DURATION=${DURATION:-10s}
	LOAD_CONNECTIONS=${CONNECTIONS:-32}
	LOAD_THREADS=${THREADS:-2}
	LOAD_RUNS=${RUNS:-3}
	LOAD_WARMUP=${WARMUP:-2s}
	LOAD_PIDS=()
	LOAD_DROP_DB=
	LOAD_WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokend-load.XXXXXX")
	trap load_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

load_cleanup() {
	local pid
	for pid in "${LOAD_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${LOAD_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n $LOAD_DROP_DB ]]; then
		psql "$LOAD_ADMIN_URL" -qX -v ON_ERROR_STOP=1 \
			-c "DROP DATABASE IF EXISTS \"$LOAD_DROP_DB\" WITH (FORCE)" >/dev/null ||
			echo "$0: could not drop database $LOAD_DROP_DB" >&2
	fi
	rm -rf "$LOAD_WORK"
}

# load_stop stops one process started by these functions.
load_stop() {
	local pid=$1 rest=()
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for p in "${LOAD_PIDS[@]}"; do
		[[ $p == "$pid" ]] || rest+=("$p")
	done
	LOAD_PIDS=("${rest[@]}")
}

# load_port prints a free loopback TCP port.
load_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# load_wait_http waits up to 10 s for a URL to answer 2xx.
load_wait_http() {
	for _ in $(seq 1 100); do
		curl -fs -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "$0: $1 did not answer" >&2
	return 1
}

# load_wait_port waits up to 10 s for a TCP port on 127.0.0.1 to accept.
load_wait_port() {
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$0: nothing listens on port $1" >&2
	return 1
}

# load_tokend builds and starts tokend with a user and a customers token
# (TOKEND_LOAD_TOKEN), on SQLite in the work directory or, when
# TOKEND_DATABASE_URL is set, on a PostgreSQL database of its own created
# next to the one the URL names and dropped on exit. It sets TOKEND_ADDR
# and LOAD_DB (the database's kind, for the report).
load_tokend() {
	go build -o "$LOAD_WORK/tokend" ./cmd/tokend
	LOAD_DB=sqlite
	if [[ -n ${TOKEND_DATABASE_URL:-} ]]; then
		command -v psql >/dev/null || { echo "$0: psql is not installed" >&2; exit 1; }
		LOAD_DB=postgresql
		LOAD_ADMIN_URL=$TOKEND_DATABASE_URL
		local name="tokend_load_$$"
		psql "$LOAD_ADMIN_URL" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$name\"" >/dev/null
		LOAD_DROP_DB=$name
		TOKEND_DATABASE_URL=$(python3 -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$LOAD_ADMIN_URL" "$name")
		export TOKEND_DATABASE_URL
	fi
	TOKEND_ADDR="127.0.0.1:$(load_port)"
	export TOKEND_DATA_DIR="$LOAD_WORK/data" TOKEND_LISTEN="$TOKEND_ADDR"
	export TOKEND_LOG_LEVEL=${TOKEND_LOG_LEVEL:-warn}
	export TOKEND_SECRET=${TOKEND_SECRET:-load-test-secret-load-test-secret-0123}
	# Gateways connect from loopback; tokend believes their X-Forwarded-For.
	export TOKEND_TRUSTED_PROXIES=${TOKEND_TRUSTED_PROXIES:-127.0.0.1/32}
	"$LOAD_WORK/tokend" serve >"$LOAD_WORK/tokend.out" 2>"$LOAD_WORK/tokend.err" &
	TOKEND_PID=$!
	LOAD_PIDS+=("$TOKEND_PID")
	load_wait_http "http://$TOKEND_ADDR/readyz" || { cat "$LOAD_WORK/tokend.err" >&2; exit 1; }
	local user
	user=$("$LOAD_WORK/tokend" users create --email "load-$$@example.com" --role member 2>>"$LOAD_WORK/cli.err")
	TOKEND_LOAD_TOKEN=$("$LOAD_WORK/tokend" tokens create --user "$user" --scope customers \
		--description load --expires 1h 2>>"$LOAD_WORK/cli.err")
	local status
	status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEND_LOAD_TOKEN" \
		"http://$TOKEND_ADDR/auth?scope=customers")
	[[ $status == 200 ]] || { echo "$0: tokend answered $status to the load token" >&2; exit 1; }
}

# load_cpu_ms prints the CPU time, user and system, a process has used so
# far, in milliseconds.
load_cpu_ms() {
	awk -v tck="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / tck) }' "/proc/$1/stat"
}

# load_wrk runs wrk with the shared shape and prints one line:
# "requests/s p99-in-ms non-2xx-responses socket-errors". Extra arguments
# go to wrk (headers, the URL). WRK_DURATION overrides the duration.
load_wrk() {
	wrk -t"$LOAD_THREADS" -c"$LOAD_CONNECTIONS" -d"${WRK_DURATION:-$LOAD_DURATION}" --latency "$@" |
		awk '
		function ms(v) {
			if (v ~ /us$/) return v / 1000
			if (v ~ /ms$/) return v + 0
			if (v ~ /m$/) return v * 60000
			if (v ~ /s$/) return v * 1000
			return v
		}
		/^ +99%/ { p99 = ms($2) }
		/Requests\/sec/ { rps = $2 }
		/Non-2xx or 3xx responses/ { bad = $NF }
		/Socket errors/ { gsub(/,/, ""); errs = $4 + $6 + $8 + $10 }
		END { printf "%.0f %.2f %d %d\n", rps, p99, bad, errs }'
}

# load_summary reads lines "label requests/s p99 …" and prints, per label,
# the median, min and max of requests/s and of p99.
load_summary() {
	python3 -c '
import sys, statistics as st
runs = {}
for line in sys.stdin:
    f = line.split()
    runs.setdefault(f[0], []).append((float(f[1]), float(f[2])))
for label, rs in runs.items():
    rps = [r for r, _ in rs]; p99 = [p for _, p in rs]
    print(f"{label:<12} {st.median(rps):>9,.0f} req/s ({min(rps):,.0f}-{max(rps):,.0f})"
          f"   p99 {st.median(p99):7.2f} ms ({min(p99):.2f}-{max(p99):.2f})   runs {len(rs)}")
'
}
