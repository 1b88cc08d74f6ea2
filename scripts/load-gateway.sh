#!/usr/bin/env bash
# Load test of tokend behind a real nginx auth_request gateway, against the
# same nginx with a trivial authorization backend (scripts/trivialauth: a
# net/http handler that answers 200 and nothing else) in tokend's place.
#
#   scripts/load-gateway.sh                       # tokend on SQLite, in a temporary directory
#   TOKEND_DATABASE_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' \
#     scripts/load-gateway.sh                     # tokend on PostgreSQL
#
# With PostgreSQL the URL names a database to connect to for CREATE
# DATABASE: the script creates a database of its own next to it
# (tokend_load_<pid>), runs tokend there and drops it on exit; it never
# touches the database the URL names.
#
# Needs go, nginx with the auth_request module (Debian: nginx-light), wrk,
# curl, python3, and psql for PostgreSQL. It builds tokend and the trivial
# backend, starts tokend and creates a user and a customers token with the
# command line, then runs nginx as the current user with its own prefix,
# temporary and cache directories under a temporary directory. nginx serves
# deploy/nginx/tokend.conf (CONF= picks another file, such as
# deploy/nginx/tokend-microcache.conf) with only the upstream addresses and
# the listen address changed; the protected API is a `return 200` server in
# the same nginx. Each round starts nginx once per backend, warms it up
# (WARMUP, default 2s), then runs `wrk -t2 -c32 --latency` for DURATION
# (default 10s) on GET /customers with the token; the order of the two
# backends alternates between rounds (RUNS, default 3), so load from other
# processes on the machine falls on both alike. THREADS and CONNECTIONS
# change wrk's shape, NGINX (default: nginx on PATH, else /usr/sbin/nginx)
# the binary.
#
# It prints every run (requests/s, p99 latency, non-2xx answers, socket
# errors, and the connections nginx closed to the authorization backend,
# counted as TIME_WAIT sockets, which shows whether upstream keep-alive
# works), then per backend the median and range, and tokend's share of the
# trivial backend's throughput and its p99 relative to the trivial one's.
# It exits non-zero if any request through tokend was not answered 200.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/loadlib.sh

nginx_bin=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -x $nginx_bin ]] || { echo "$0: nginx is not installed (Debian: apt-get install nginx-light)" >&2; exit 1; }
conf=${CONF:-deploy/nginx/tokend.conf}
load_init ss

load_tokend
go build -o "$LOAD_WORK/trivialauth" ./scripts/trivialauth
trivial_addr="127.0.0.1:$(load_port)"
"$LOAD_WORK/trivialauth" -listen "$trivial_addr" 2>"$LOAD_WORK/trivialauth.err" &
LOAD_PIDS+=($!)
trivial_pid=$!
load_wait_port "${trivial_addr##*:}"

# start_nginx writes a configuration around $conf with the authorization
# backend at $1 and starts nginx; it sets nginx_pid and nginx_addr.
start_nginx() {
	local auth=$1 dir
	dir=$(mktemp -d "$LOAD_WORK/nginx.XXXXXX")
	mkdir -p "$dir/cache"
	local api_port listen_port
	api_port=$(load_port)
	listen_port=$(load_port)
	local site
	site=$(<"$conf")
	local -A repl=(
		["server tokend:8080;"]="server $auth;"
		["server api:9090;"]="server 127.0.0.1:$api_port;"
		["listen 80;"]="listen 127.0.0.1:$listen_port;"
	)
	local old
	for old in "${!repl[@]}"; do
		[[ $site == *"$old"* ]] || { echo "$0: $conf no longer contains '$old'" >&2; exit 1; }
		site=${site/"$old"/"${repl[$old]}"}
	done
	# The micro-cache's directory, when the file has one.
	site=${site//\/var\/cache\/nginx\/tokend-auth/$dir/cache}
	printf '%s\n' "$site" >"$dir/site.conf"
	cat >"$dir/nginx.conf" <<-EOF
		daemon off;
		master_process off;
		pid $dir/nginx.pid;
		error_log $dir/error.log warn;
		events { worker_connections 4096; }
		http {
		    access_log off;
		    client_body_temp_path $dir/body;
		    proxy_temp_path $dir/proxy;
		    fastcgi_temp_path $dir/fastcgi;
		    uwsgi_temp_path $dir/uwsgi;
		    scgi_temp_path $dir/scgi;
		    include $dir/site.conf;
		    # The protected API: as cheap as an upstream can be.
		    server {
		        listen 127.0.0.1:$api_port;
		        location / { return 200 '{}'; }
		    }
		}
	EOF
	"$nginx_bin" -t -q -p "$dir" -c "$dir/nginx.conf"
	"$nginx_bin" -p "$dir" -c "$dir/nginx.conf" 2>>"$dir/error.log" &
	nginx_pid=$!
	LOAD_PIDS+=("$nginx_pid")
	nginx_addr="127.0.0.1:$listen_port"
	nginx_dir=$dir
	load_wait_port "$listen_port"
}

# closed counts sockets in TIME_WAIT towards port $1: connections to it that
# the client side (nginx) closed within the last minute.
closed() {
	ss -Htan state time-wait "( dport = :$1 )" | wc -l
}

results=$LOAD_WORK/results
: >"$results"
failed=0
echo "database: $LOAD_DB; nginx config: $conf; wrk -t$LOAD_THREADS -c$LOAD_CONNECTIONS -d$LOAD_DURATION, $LOAD_RUNS rounds"
printf '%-8s %-8s %10s %10s %8s %8s %8s\n' round backend 'req/s' 'p99 ms' non-2xx errors closed
for round in $(seq 1 "$LOAD_RUNS"); do
	order=(tokend trivial)
	((round % 2)) || order=(trivial tokend)
	for backend in "${order[@]}"; do
		addr=$TOKEND_ADDR
		[[ $backend == trivial ]] && addr=$trivial_addr
		start_nginx "$addr"
		url="http://$nginx_addr/customers"
		WRK_DURATION=$LOAD_WARMUP load_wrk -H "Authorization: Bearer $TOKEND_LOAD_TOKEN" "$url" >/dev/null
		before=$(closed "${addr##*:}")
		read -r rps p99 bad errs < <(load_wrk -H "Authorization: Bearer $TOKEND_LOAD_TOKEN" "$url")
		after=$(closed "${addr##*:}")
		if grep -q '\[error\]\|\[crit\]\|\[alert\]' "$nginx_dir/error.log"; then
			echo "nginx logged errors:" >&2
			grep '\[error\]\|\[crit\]\|\[alert\]' "$nginx_dir/error.log" | sort | uniq -c | sort -rn | head -5 >&2
		fi
		load_stop "$nginx_pid"
		printf '%-8s %-8s %10s %10s %8s %8s %8s\n' "$round" "$backend" "$rps" "$p99" "$bad" "$errs" $((after - before))
		echo "$backend $rps $p99" >>"$results"
		if ((bad + errs > 0)); then
			failed=1
		fi
	done
done
load_stop "$trivial_pid"

echo
load_summary <"$results"
python3 - "$results" <<'EOF'
import sys, statistics as st
runs = {"tokend": [], "trivial": []}
for line in open(sys.argv[1]):
    b, rps, p99 = line.split()
    runs[b].append((float(rps), float(p99)))
rounds = list(zip(runs["tokend"], runs["trivial"]))
share = [t[0] / b[0] for t, b in rounds]
slow = [t[1] / b[1] for t, b in rounds]
med = lambda i, b: st.median(r[i] for r in runs[b])
print(f"tokend/trivial throughput: {med(0, 'tokend') / med(0, 'trivial'):.2f}x"
      f" (rounds {min(share):.2f}-{max(share):.2f}; target >= 0.8)")
print(f"tokend/trivial p99:        {med(1, 'tokend') / med(1, 'trivial'):.1f}x"
      f" (rounds {min(slow):.1f}-{max(slow):.1f}; target <= 2x or within 10 ms)")
EOF
cat "$LOAD_WORK/trivialauth.err"
if ((failed)); then
	echo "$0: some requests were not answered 200 or failed; the figures above are not valid" >&2
	exit 1
fi
