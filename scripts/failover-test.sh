#!/usr/bin/env bash
# failover-test.sh: tokend through the failover of its PostgreSQL primary.
#
# The script starts two PostgreSQL clusters of its own on free ports: a
# primary and, cloned from it with pg_basebackup, a streaming standby that
# the primary waits for at every commit (synchronous replication, so a
# commit acknowledged to tokend is on both). It starts tokend with a
# multi-host URL (target_session_attrs=read-write) and runs
# scripts/crashtest's clients against it; under that load it stops the
# primary at once (pg_ctl stop -m immediate, as a crash would) and promotes
# the standby. tokend is never restarted: it must find the new primary on
# its own. Then crashtest checks that no acknowledged write was lost, that
# revocations still hold (at /auth too), and prints the counts and the
# longest time clients saw no acknowledged change (the downtime).
#
#   scripts/failover-test.sh            # 50 clients, failover after 10 s, 20 s after it
#   SHORT=1 scripts/failover-test.sh    # 10 clients, 3 s and 8 s: what CI runs
#
# It needs PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup;
# PGBIN to choose) and, when run as root, the postgres system user to own
# the clusters. Everything it starts is stopped, and every file removed,
# when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
for c in initdb pg_ctl pg_basebackup psql; do
	[[ -x $PGBIN/$c ]] || { echo "$0: $c is not in PGBIN=$PGBIN" >&2; exit 1; }
done
if [[ ${SHORT:-} == 1 ]]; then
	CLIENTS=${CLIENTS:-10} BEFORE=${BEFORE:-3s} AFTER=${AFTER:-8s}
else
	CLIENTS=${CLIENTS:-50} BEFORE=${BEFORE:-10s} AFTER=${AFTER:-20s}
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokend-failover.XXXXXX")
chmod 755 "$WORK"
# as_pg runs a PostgreSQL command as the owner of the clusters.
AS_PG=
if [[ $(id -u) == 0 ]]; then
	chown postgres: "$WORK"
	AS_PG="runuser -u postgres --"
fi
as_pg() { $AS_PG "$@"; }
cleanup() {
	for c in primary standby; do
		[[ -f $WORK/$c/postmaster.pid ]] && as_pg "$PGBIN/pg_ctl" -D "$WORK/$c" stop -m immediate >/dev/null 2>&1 || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PRIMARY=$(free_port)
STANDBY=$(free_port)

echo "failover-test: primary on $PRIMARY, standby on $STANDBY, in $WORK"
as_pg "$PGBIN/initdb" -D "$WORK/primary" -U postgres --auth=trust >"$WORK/initdb.log"
cat >>"$WORK/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PRIMARY
unix_socket_directories = '$WORK'
wal_level = replica
max_wal_senders = 4
synchronous_standby_names = '*'
synchronous_commit = on
fsync = on
EOF
as_pg "$PGBIN/pg_ctl" -D "$WORK/primary" -l "$WORK/primary.log" -w start >/dev/null
as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY" -U postgres -D "$WORK/standby" -R -X stream
# The standby listens on its own port and, once promoted, waits for no
# standby of its own (it has none).
cat >>"$WORK/standby/postgresql.auto.conf" <<EOF
port = $STANDBY
synchronous_standby_names = ''
EOF
as_pg "$PGBIN/pg_ctl" -D "$WORK/standby" -l "$WORK/standby.log" -w start >/dev/null

psql_at() { "$PGBIN/psql" -h 127.0.0.1 -p "$1" -U postgres -qAtX -v ON_ERROR_STOP=1 -c "$2" postgres; }
for _ in $(seq 1 100); do
	[[ $(psql_at "$PRIMARY" "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") == 1 ]] && break
	sleep 0.1
done
[[ $(psql_at "$PRIMARY" "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") == 1 ]] ||
	{ echo "$0: the standby did not become synchronous" >&2; exit 1; }
psql_at "$PRIMARY" "CREATE DATABASE tokend"

go build -o "$WORK/tokend" ./cmd/tokend
URL="postgres://postgres@127.0.0.1:$PRIMARY,127.0.0.1:$STANDBY/tokend?sslmode=disable&target_session_attrs=read-write"
DISRUPT="echo 'failover-test: stopping the primary, promoting the standby';
  $AS_PG $PGBIN/pg_ctl -D $WORK/primary stop -m immediate &&
  $AS_PG $PGBIN/pg_ctl -D $WORK/standby -w promote"
# crashtest's -every is when the failover starts, -settle how long the load
# runs after it.
go run ./scripts/crashtest -tokend "$WORK/tokend" -database "$URL" -fresh=false \
	-clients "$CLIENTS" -kills 0 -every "$BEFORE" -settle "$AFTER" -disrupt "$DISRUPT"
