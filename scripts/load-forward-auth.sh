#!/usr/bin/env bash
# Load test of forward-auth with wrk, straight at tokend (no gateway):
# requests per second and p99 latency of GET /auth?scope=customers with a
# valid token, against GET /healthz of the same tokend in the same run
# (same server, middleware and logging, no token check), and their ratio:
# how many /healthz requests one /auth request costs; and tokend's CPU
# time per request (from /proc), which sets what one core serves.
#
#   scripts/load-forward-auth.sh            # SQLite in a temporary directory
#   TOKEND_DATABASE_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' \
#     scripts/load-forward-auth.sh          # PostgreSQL
#
# With PostgreSQL the URL names a database to connect to for CREATE
# DATABASE: the script creates a database of its own next to it
# (tokend_load_<pid>), runs tokend there and drops it on exit; it never
# touches the database the URL names.
#
# Needs go, wrk (Debian: apt-get install wrk), curl, python3, and psql for
# PostgreSQL. DURATION (default 10s), CONNECTIONS (default 32), THREADS
# (default 2) shape the load; RUNS (default 3) rounds alternate which
# endpoint goes first, after a WARMUP (default 2s) of each.
# It exits non-zero if any /auth request was not answered 200.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/loadlib.sh
load_init
load_tokend

results=$LOAD_WORK/results
: >"$results"
failed=0
echo "database: $LOAD_DB; wrk -t$LOAD_THREADS -c$LOAD_CONNECTIONS -d$LOAD_DURATION, $LOAD_RUNS rounds"
printf '%-8s %-8s %10s %10s %12s %8s %8s\n' round endpoint 'req/s' 'p99 ms' 'cpu us/req' non-2xx errors
for round in $(seq 1 "$LOAD_RUNS"); do
	order=(auth healthz)
	((round % 2)) || order=(healthz auth)
	for endpoint in "${order[@]}"; do
		args=("http://$TOKEND_ADDR/healthz")
		[[ $endpoint == auth ]] &&
			args=(-H "Authorization: Bearer $TOKEND_LOAD_TOKEN" "http://$TOKEND_ADDR/auth?scope=customers")
		WRK_DURATION=$LOAD_WARMUP load_wrk "${args[@]}" >/dev/null
		cpu0=$(load_cpu_ms "$TOKEND_PID")
		read -r rps p99 bad errs < <(load_wrk "${args[@]}")
		cpu1=$(load_cpu_ms "$TOKEND_PID")
		# tokend's CPU time per request: what one request costs a core.
		cpu=$(python3 -c "print(round(($cpu1 - $cpu0) * 1000 / ($rps * ${LOAD_DURATION%s}), 1))")
		printf '%-8s %-8s %10s %10s %12s %8s %8s\n' "$round" "$endpoint" "$rps" "$p99" "$cpu" "$bad" "$errs"
		echo "$endpoint $rps $p99 $cpu" >>"$results"
		((bad + errs == 0)) || failed=1
	done
done

echo
load_summary <"$results"
python3 - "$results" <<'EOF'
import sys, statistics as st
runs = {"auth": [], "healthz": []}
cpu = {"auth": [], "healthz": []}
for line in open(sys.argv[1]):
    e, rps, p99, us = line.split()
    runs[e].append(float(rps))
    cpu[e].append(float(us))
cost = [h / a for a, h in zip(runs["auth"], runs["healthz"])]
print(f"/auth costs {st.median(runs['healthz']) / st.median(runs['auth']):.1f}x /healthz"
      f" (rounds {min(cost):.1f}-{max(cost):.1f}; target <= 1.5)")
for e in cpu:
    print(f"tokend CPU per /{e} request: {st.median(cpu[e]):.1f} us (rounds {min(cpu[e])}-{max(cpu[e])}):"
          f" {1e6 / st.median(cpu[e]):,.0f} requests/s per core")
EOF
if ((failed)); then
	echo "$0: some requests were not answered 200 or failed; the figures above are not valid" >&2
	exit 1
fi
