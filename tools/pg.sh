#!/usr/bin/env bash
# A throwaway PostgreSQL for tests: a fresh cluster in a directory of the
# caller's, run by an unprivileged user, on a free loopback port.
#
#   tools/pg.sh start DIR   makes the cluster in DIR (absent or empty),
#                           starts it, creates the database lipa and prints
#                           its libpq URI
#   tools/pg.sh uri DIR     prints that URI again
#   tools/pg.sh stop DIR    stops the cluster and removes DIR
#   tools/pg.sh restart DIR stops the server (fast: sessions are cut, as in
#                           a failover) and starts it again on its port
#
# The server listens on 127.0.0.1 only (password auth, a random password
# that is in the URI) and on a Unix socket in DIR (trust, reachable only by
# DIR's owner: DIR is 0700). PostgreSQL refuses to run as root, so as root
# the server runs as LIPA_PG_USER (default postgres, the user Debian's
# postgresql package creates) through setpriv, and DIR is handed to that
# user; as anyone else it runs as the caller. The server binaries are the
# newest under /usr/lib/postgresql/*/bin unless LIPA_PG_BIN names a
# directory. Durability is off (fsync=off): a test cluster lives for one
# run, and a crash of the machine loses nothing anyone keeps. LIPA_PG_CONF,
# if set, is appended to postgresql.conf (make bench-cluster's profile:
# shared_preload_libraries = 'pg_stat_statements').
set -euo pipefail

die() { echo "pg: $*" >&2; exit 1; }

usage() { die "usage: tools/pg.sh start DIR | uri DIR | stop DIR | restart DIR"; }

[ $# -eq 2 ] || usage
cmd=$1 dir=$2
[ -n "$dir" ] || usage
case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
marker=$dir/lipa-pg-cluster

bindir() {
  local d=${LIPA_PG_BIN:-}
  if [ -z "$d" ]; then
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  fi
  [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] ||
    die "no PostgreSQL server binaries (initdb, pg_ctl) under ${d:-/usr/lib/postgresql/*/bin}; run make deps"
  echo "$d"
}

# as CMD...: runs CMD as the cluster's owner, in DIR
if [ "$(id -u)" -eq 0 ]; then
  owner=${LIPA_PG_USER:-postgres}
  uid=$(id -u "$owner" 2>/dev/null) || die "running as root, and there is no user $owner to run PostgreSQL as (set LIPA_PG_USER)"
  [ "$uid" -ne 0 ] || die "LIPA_PG_USER=$owner is root; PostgreSQL needs an unprivileged user"
  gid=$(id -g "$owner")
  as() { (cd "$dir" && HOME=$dir setpriv --reuid="$uid" --regid="$gid" --init-groups -- "$@"); }
else
  owner=$(id -un)
  as() { (cd "$dir" && "$@"); }
fi

# Something already answers on 127.0.0.1:port.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local bin pw port="" uri
  bin=$(bindir)
  mkdir -p "$dir"
  [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
  chmod 700 "$dir"
  touch "$marker"
  [ "$(id -u)" -ne 0 ] || chown -R "$owner:" "$dir"
  as test -w "$dir" ||
    die "user $owner cannot write $dir (a parent directory it cannot enter?); use a directory under /tmp"
  pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  as sh -c 'umask 077; cat > pwfile' <<<"$pw"
  if ! as "$bin/initdb" -D "$dir/data" -U lipa --pwfile="$dir/pwfile" -E UTF8 --no-locale -N \
         --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    die "initdb failed in $dir/data"
  fi
  rm -f "$dir/pwfile"
  as sh -c 'cat >> data/postgresql.conf' <<CONF
# tools/pg.sh: a throwaway cluster for tests
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
full_page_writes = off
synchronous_commit = off
CONF
  if [ -n "${LIPA_PG_CONF:-}" ]; then
    as sh -c 'cat >> data/postgresql.conf' <<<"$LIPA_PG_CONF"
  fi
  # a port seen free may be taken before the server binds it: try another
  for _ in $(seq 20); do
    # above the ephemeral ports (32768-60999), which outgoing connections
    # take, and away from the e2e suite's ports (20000-32100)
    local p=$((61000 + RANDOM % 4500))
    port_busy "$p" && continue
    if as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $p" -w -t 60 start >/dev/null 2>&1; then
      port=$p
      break
    fi
    grep -q "could not bind\|could not create any TCP/IP sockets\|already in use" "$dir/server.log" 2>/dev/null ||
      { tail -n 20 "$dir/server.log" >&2 2>/dev/null || true; die "the server in $dir did not start"; }
  done
  [ -n "$port" ] || die "no free port for the server in $dir"
  uri="postgresql://lipa:$pw@127.0.0.1:$port/lipa"
  # the client is the caller (psql ignores a root's own settings: -X)
  "$bin/psql" -X -q -v ON_ERROR_STOP=1 "postgresql://lipa:$pw@127.0.0.1:$port/postgres" \
      -c 'CREATE DATABASE lipa' >/dev/null || die "cannot create the database lipa in $dir"
  (umask 077; printf '%s\n' "$uri" > "$dir/uri")
  echo "$uri"
}

stop() {
  [ -d "$dir" ] || return 0
  [ -f "$marker" ] || die "$dir was not made by tools/pg.sh start; not removing it"
  if [ -f "$dir/data/postmaster.pid" ]; then
    local bin pid
    bin=$(bindir)
    if ! as "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1; then
      # the server's own pid: the first line of the lock file it wrote
      pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
      case $pid in '' | *[!0-9]*) ;; *) kill -KILL "$pid" 2>/dev/null || true ;; esac
    fi
  fi
  rm -rf "$dir"
}

restart() {
  [ -f "$marker" ] || die "$dir was not made by tools/pg.sh start"
  local bin port
  bin=$(bindir)
  port=$(sed -E 's/.*:([0-9]+)\/.*/\1/' "$dir/uri")
  as "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || die "the server in $dir did not stop"
  as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 start >/dev/null 2>&1 ||
    { tail -n 20 "$dir/server.log" >&2 2>/dev/null || true; die "the server in $dir did not start again"; }
}

case $cmd in
  start) start ;;
  restart) restart ;;
  stop) stop ;;
  uri) [ -f "$dir/uri" ] || die "no cluster in $dir"; cat "$dir/uri" ;;
  *) usage ;;
esac
