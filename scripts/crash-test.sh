#!/usr/bin/env bash
# crash-test.sh: tokend killed with SIGKILL under load, on SQLite and on
# PostgreSQL.
#
# For each database, scripts/crashtest starts a real tokend, runs 50
# clients creating and revoking tokens through the API, kills the server
# with SIGKILL 10 times at random moments and starts it again, then checks
# that every acknowledged (201/200) change is present, that nothing
# unacknowledged is half done (the lists' maintained totals equal what
# they list; a token present was asked for), and that /auth accepts every
# live token and refuses every revoked one. It prints the counts and exits
# non-zero on any loss.
#
#   scripts/crash-test.sh              # 50 clients, 10 kills about 2 s apart
#   SHORT=1 scripts/crash-test.sh      # 10 clients, 3 kills: what CI runs
#
# PostgreSQL: a database of its own is created beside the one
# TOKEND_TEST_DATABASE_URL names (default: postgres on 127.0.0.1:5432) and
# dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

if [[ ${SHORT:-} == 1 ]]; then
	CLIENTS=${CLIENTS:-10} KILLS=${KILLS:-3}
else
	CLIENTS=${CLIENTS:-50} KILLS=${KILLS:-10}
fi
PG=${TOKEND_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokend-crash.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/tokend" ./cmd/tokend
go build -o "$WORK/crashtest" ./scripts/crashtest
for db in sqlite "$PG"; do
	echo "crash-test: ${db%%://*}, $CLIENTS clients, $KILLS kills"
	"$WORK/crashtest" -tokend "$WORK/tokend" -database "$db" -clients "$CLIENTS" -kills "$KILLS"
done
