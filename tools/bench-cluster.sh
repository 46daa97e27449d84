#!/usr/bin/env bash
# make bench-cluster: two lipads on one PostgreSQL behind nginx, then one
# lipad on SQLite (as make bench), each driven by the benchmark kit's run.sh
# (found in LIPA_BENCH_DIR) in the same run, so the two are measured on the
# same machine minutes apart.
#
# The cluster: a throwaway PostgreSQL (tools/pg.sh) seeded with
# LIPA_BENCH_CALLERS callers (default 1000), the sandbox, two lipads of one
# HTTP thread each on ports LIPA_CLUSTER_PORT+1 and +2, and nginx on
# LIPA_CLUSTER_PORT (default 8180) with the sample configuration
# docs/nginx-lipa.conf (its ports replaced, no access log) and
# LIPA_CLUSTER_NGINX_WORKERS worker processes (default 1). nginx runs from
# the prefix var/nginx (configuration, pid file, error log).
#
# For each part (each lipad, PostgreSQL with all its processes, nginx with
# its workers, the sandbox) the CPU it used while run.sh ran, from
# /proc/<pid>/stat, in seconds and in microseconds per hop; then hops per
# second and p99 of both, and their ratio. Figures go to
# docs/performance.md by hand.
#
# LIPA_CLUSTER_PG_SOCKET=1: the lipads reach PostgreSQL through its Unix
# socket instead of TCP on 127.0.0.1 (as on one machine; between machines
# it is TCP). LIPA_CLUSTER_PROFILE=1 loads pg_stat_statements into the
# PostgreSQL and prints, after the cluster's rounds, the statements that
# took the most of its time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bench_dir=${LIPA_BENCH_DIR:-}
[ -n "$bench_dir" ] && [ -x "$bench_dir/run.sh" ] ||
  { echo "bench-cluster: set LIPA_BENCH_DIR to the benchmark kit's folder (the one with run.sh)" >&2; exit 2; }
LIPA_BENCH_DEPS=1 LIPA_CLUSTER_DEPS=1 tools/deps.sh
nginx=$(command -v nginx || echo /usr/sbin/nginx)

lb_port=${LIPA_CLUSTER_PORT:-8180}
port1=$((lb_port + 1)) port2=$((lb_port + 2))
export LIPA_PORT=$port1 LIPA_SANDBOX_PORT=${LIPA_SANDBOX_PORT:-9191}
. tools/env.sh
export NPHONES=${LIPA_BENCH_CALLERS:-1000}
# one HTTP thread per lipad, as make bench (bench-start.sh says why)
export LIPA_THREADS=${LIPA_THREADS:-1}
# every request reaches the lipads from nginx's address
# (docs/operations.md, "Behind a proxy")
export LIPA_CONNECTIONS_PER_IP=0
workers=${LIPA_CLUSTER_NGINX_WORKERS:-1}
hz=$(getconf CLK_TCK)
prefix=$root/var/nginx
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

pgdir="" sp="" lp1="" lp2="" nginx_up=""
running() { local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$s" ] && [ "$s" != Z ]; }
# a lipad that does not stop on SIGTERM is killed, and said so
stop_lipad() {
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do running "$1" || break; sleep 0.1; done
  if running "$1"; then echo "bench-cluster: lipad $1 did not stop within 10 s of SIGTERM; killed" >&2; kill -9 "$1"; fi
  wait "$1" 2>/dev/null || true
}
# the sandbox first (it calls back), then nginx, then the lipads
stop_all() {
  if [ -n "$sp" ]; then kill "$sp" 2>/dev/null || true; wait "$sp" 2>/dev/null || true; sp=""; fi
  if [ -n "$nginx_up" ]; then
    local np
    np=$(cat "$prefix/nginx.pid" 2>/dev/null || true)
    "$nginx" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/error.log" -s stop 2>/dev/null || true
    for _ in $(seq 50); do [ -n "$np" ] && running "$np" || break; sleep 0.1; done
    nginx_up=""
  fi
  stop_lipad "$lp1"; stop_lipad "$lp2"; lp1="" lp2=""
  if [ -n "$pgdir" ]; then tools/pg.sh stop "$pgdir" || true; pgdir=""; fi
}
trap stop_all EXIT

# CPU ticks of a process and its children: its own utime + stime, what
# its children that exited used (cutime + cstime), and each live child's
# utime + stime. PostgreSQL's backends and nginx's workers are children of
# their first process.
ticks() {
  local p=$1 k
  {
    sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13 + $14 + $15}'
    for k in $(ps -o pid= --ppid "$p" || true); do
      sed 's/.*) //' "/proc/$k/stat" 2>/dev/null | awk '{print $12 + $13}' || true
    done
  } | awk '{s += $1} END {print s + 0}'
}
hops_of() { # port: USSD hops the lipad on it answered
  curl -sf "http://127.0.0.1:$1/metrics" | awk '/^lipa_ussd_hops_total / {print $2}'
}
start_sandbox() { # webhook-URL phase
  # the sandbox stands in for remote providers: it only gets idle CPU
  LIPA_SANDBOX_PAYSTACK_WEBHOOK=$1 chrt -i 0 bin/lipa-sandbox --port "$LIPA_SANDBOX_PORT" --tuya-any-device \
    --callback-delay-ms 2000 > "var/bench-cluster-$2-sandbox.log" 2>&1 &
  sp=$!
  wait_http "$sandbox/sandbox/health"
}
# run.sh through URL; the CPU of each part (the part=pid arguments)
# while it ran, into cpu[phase:part]; its median line into
# med[phase] as "hops/s p99 anchor-hops/s"
declare -A cpu med
measure() { # phase URL part=pid...
  local phase=$1 url=$2 kv
  shift 2
  declare -A before
  for kv in "$@"; do before[${kv%%=*}]=$(ticks "${kv#*=}"); done
  "$bench_dir/run.sh" "$url" | tee "var/bench-cluster-$phase.txt"
  for kv in "$@"; do
    cpu[$phase:${kv%%=*}]=$(( $(ticks "${kv#*=}") - ${before[${kv%%=*}]} ))
  done
  med[$phase]=$(awk '/^median:/ {print $3, $6, $10}' "var/bench-cluster-$phase.txt")
}

echo "== cluster: two lipads on PostgreSQL behind nginx (load average at start: $load_start)"
pgdir=$(mktemp -d /tmp/lipa-bench-cluster-pg.XXXXXX)
profile=${LIPA_CLUSTER_PROFILE:-}
if [ "$profile" = 1 ]; then
  uri=$(LIPA_PG_CONF="shared_preload_libraries = 'pg_stat_statements'" tools/pg.sh start "$pgdir")
  psql -X -q -v ON_ERROR_STOP=1 "$uri" -c 'CREATE EXTENSION pg_stat_statements'
else
  uri=$(tools/pg.sh start "$pgdir")
fi
pg_pid=$(head -n 1 "$pgdir/data/postmaster.pid")
if [ "${LIPA_CLUSTER_PG_SOCKET:-}" = 1 ]; then
  # the lipads reach the server through its Unix socket in pgdir (trust
  # for pgdir's owner, which they are or root is) instead of TCP
  uri="postgresql:///lipa?host=$pgdir&port=$(sed -n 4p "$pgdir/data/postmaster.pid")&user=lipa"
fi
LIPA_DB=$uri bin/lipa-seed bench "$NPHONES"
lb=http://127.0.0.1:$lb_port
start_sandbox "$lb/api/payments/webhook" cluster
# the providers call back through the balancer, to either lipad
LIPA_DB=$uri LIPA_PUBLIC_URL=$lb LIPA_PORT=$port1 bin/lipad 2> var/bench-cluster-lipad1.log &
lp1=$!
LIPA_DB=$uri LIPA_PUBLIC_URL=$lb LIPA_PORT=$port2 bin/lipad 2> var/bench-cluster-lipad2.log &
lp2=$!
wait_http "http://127.0.0.1:$port1/api/health"
wait_http "http://127.0.0.1:$port2/api/health"

# nginx: the sample's server block with this run's ports and no access log
# (a line per hop is not what is measured here), inside a main file of our
# own whose every path is under the prefix
rm -rf "$prefix"
mkdir -p "$prefix/tmp"
sed -e "s/^\( *listen \)8080;/\1127.0.0.1:$lb_port;/" \
    -e "s/^\( *server \)127\.0\.0\.1:8081 /\1127.0.0.1:$port1 /" \
    -e "s/^\( *server \)127\.0\.0\.1:8082 /\1127.0.0.1:$port2 /" \
    -e "s/^\( *access_log \)\/.*/\1off;/" docs/nginx-lipa.conf > "$prefix/lipa.conf"
for want in "listen 127.0.0.1:$lb_port;" "server 127.0.0.1:$port1 " "server 127.0.0.1:$port2 "; do
  grep -qF "$want" "$prefix/lipa.conf" ||
    { echo "bench-cluster: docs/nginx-lipa.conf changed: no '$want' after the port substitution" >&2; exit 1; }
done
if grep -q '^ *access_log /' "$prefix/lipa.conf"; then
  echo "bench-cluster: docs/nginx-lipa.conf: an access log left on" >&2; exit 1
fi
cat > "$prefix/nginx.conf" <<CONF
# made by tools/bench-cluster.sh for one run
worker_processes $workers;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    include $prefix/lipa.conf;
}
CONF
"$nginx" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/error.log" -t -q
"$nginx" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/error.log"
nginx_up=1
wait_http "$lb/api/health"
nginx_pid=$(cat "$prefix/nginx.pid")
echo "callers: $NPHONES, lipads on $port1 and $port2, nginx ($workers worker(s)) on $lb_port"
measure cluster "$lb" lipad1="$lp1" lipad2="$lp2" postgres="$pg_pid" nginx="$nginx_pid" sandbox="$sp"
h1=$(hops_of "$port1") h2=$(hops_of "$port2")
if [ "$profile" = 1 ]; then
  echo "PostgreSQL's statements by total time (pg_stat_statements, seeding included):"
  psql -X -q "$uri" -c "SELECT calls, round(total_exec_time) AS total_ms,
      round((total_exec_time / calls * 1000)::numeric, 1) AS mean_us, rows,
      left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query
    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15" | tee var/bench-cluster-statements.txt
fi
grep -h ' ERROR ' var/bench-cluster-lipad1.log var/bench-cluster-lipad2.log | awk '{print $3}' | sort | uniq -c |
  sed 's/^/lipad errors: /' || true
stop_all

load_mid=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== single: one lipad on SQLite (load average: $load_mid)"
export LIPA_DB=var/bench.db
rm -f var/bench.db var/bench.db-wal var/bench.db-shm var/bench.db-intake.0 var/bench.db-intake.1
bin/lipa-seed bench "$NPHONES"
start_sandbox "http://127.0.0.1:$port1/api/payments/webhook" single
LIPA_PORT=$port1 bin/lipad 2> var/bench-cluster-single-lipad.log &
lp1=$!
wait_http "http://127.0.0.1:$port1/api/health"
measure single "http://127.0.0.1:$port1" lipad1="$lp1" sandbox="$sp"
hs=$(hops_of "$port1")
stop_all

read -r c_rate c_p99 c_anchor <<<"${med[cluster]}"
read -r s_rate s_p99 s_anchor <<<"${med[single]}"
echo
echo "== summary (load average at the start $load_start, between the phases $load_mid," \
     "at the end $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-40s %9s %8s %14s\n' "median of the rounds" "hops/s" "p99 ms" "anchor hops/s"
printf '%-40s %9s %8s %14s\n' "cluster: 2 lipads, PostgreSQL, nginx" "$c_rate" "$c_p99" "$c_anchor"
printf '%-40s %9s %8s %14s\n' "single: 1 lipad, SQLite" "$s_rate" "$s_p99" "$s_anchor"
awk -v c="$c_rate" -v s="$s_rate" 'BEGIN {printf "cluster / single hops/s: %.2f\n", c / s}'
echo "hops answered: cluster $((h1 + h2)) (lipad 1 $h1, lipad 2 $h2), single $hs"
echo "CPU while run.sh ran (its anchor rounds included), seconds and us per hop answered:"
printf '  %-10s %20s %20s\n' part cluster single
for part in lipad1 lipad2 postgres nginx sandbox; do
  row=()
  for phase in cluster single; do
    t=${cpu[$phase:$part]:-}
    n=$([ "$phase" = cluster ] && echo $((h1 + h2)) || echo "$hs")
    if [ -z "$t" ]; then row+=(-); else
      row+=("$(awk -v t="$t" -v hz="$hz" -v n="$n" 'BEGIN {printf "%.1f s %6.1f us", t / hz, n ? t / hz * 1e6 / n : 0}')")
    fi
  done
  printf '  %-10s %20s %20s\n' "$part" "${row[0]}" "${row[1]}"
done
for phase in cluster single; do
  t=0
  for part in lipad1 lipad2 postgres nginx sandbox; do t=$((t + ${cpu[$phase:$part]:-0})); done
  n=$([ "$phase" = cluster ] && echo $((h1 + h2)) || echo "$hs")
  awk -v p="$phase" -v t="$t" -v hz="$hz" -v n="$n" \
    'BEGIN {printf "  all of %-7s %.1f s, %.1f us per hop\n", p, t / hz, n ? t / hz * 1e6 / n : 0}'
done
