#!/usr/bin/env bash
# Load test of forward-auth with wrk: requests per second of
# GET /auth?scope=customers with a valid token, against GET /healthz of the
# same tokend in the same run (same server, middleware and logging, no token
# check), and their ratio.
#
#   scripts/load-forward-auth.sh            # SQLite in a temporary directory
#   TOKEND_DATABASE_URL=postgres://… scripts/load-forward-auth.sh
#
# With PostgreSQL, point it at a database or schema of its own (for example
# ?search_path=tokend_load, created beforehand): it creates tokend's tables.
#
# Needs wrk (Debian: apt-get install wrk). DURATION (default 10s),
# CONNECTIONS (default 32) and THREADS (default 2) shape the load.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }

duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
threads=${THREADS:-2}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/tokend" ./cmd/tokend
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export TOKEND_DATA_DIR="$work/data" TOKEND_LISTEN="127.0.0.1:$port" TOKEND_LOG_LEVEL=warn
export TOKEND_SECRET=${TOKEND_SECRET:-load-test-secret-load-test-secret-0123}
"$work/tokend" serve >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://$TOKEND_LISTEN/readyz" >/dev/null && break; sleep 0.1; done

user=$("$work/tokend" users create --email "load-$RANDOM@example.com" --role member 2>/dev/null)
token=$("$work/tokend" tokens create --user "$user" --scope customers --description load --expires 1h 2>/dev/null)

rps() { wrk -t"$threads" -c"$connections" -d"$duration" "$@" | awk '/Requests\/sec/ {print $2}'; }
base=$(rps "http://$TOKEND_LISTEN/healthz")
auth=$(rps -H "Authorization: Bearer $token" "http://$TOKEND_LISTEN/auth?scope=customers")
db=${TOKEND_DATABASE_URL:-sqlite}
echo "database:            ${db%%:*}"
echo "GET /healthz:        $base requests/s"
echo "GET /auth?scope=…:   $auth requests/s"
python3 -c "print(f'ratio:               {float($base)/float($auth):.1f}x the cost of /healthz')"
