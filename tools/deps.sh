#!/usr/bin/env bash
# Installs the Debian packages lipa builds, tests and benchmarks with, when
# missing: as root directly, otherwise through sudo. Fast when all are there.
# LIPA_BENCH_DEPS=1 adds what make bench needs, LIPA_CLUSTER_DEPS=1 the load
# balancer make bench-cluster puts in front of two lipads (nginx),
# LIPA_FUZZ_DEPS=1 what make fuzz needs, LIPA_INSTR_DEPS=1 valgrind (make
# bench-instr), LIPA_CHECK_DEPS=1 what make check needs beyond the build,
# LIPA_GRAPH_DEPS=1 Graphviz's dot, which make menu-graph draws the picture
# of the menus with (make check compares only the dot text, so it needs no
# Graphviz).
# postgresql is the server the tests start themselves (tools/pg.sh), libpq-dev
# the client library the store's PostgreSQL backend is to use (docs/postgresql.md).
# prometheus brings promtool, which the e2e metrics suite runs on /metrics
# (promtool check metrics); Debian ships it only with the server (about 19 MB
# to fetch), which on a machine run by systemd would start on port 9090, the
# port make run gives the sandbox: when installed here, it is stopped and
# disabled at once (lipa wants promtool only).
set -euo pipefail
quiet=${1:-}
pkgs=(build-essential pkg-config libmicrohttpd-dev libsqlite3-dev libcurl4-openssl-dev
      libpcre2-dev libssl-dev libjansson-dev libyaml-dev check libsubunit-dev sqlite3 curl
      postgresql libpq-dev prometheus)
missing=()
if [ "${LIPA_BENCH_DEPS:-}" = 1 ]; then # node may come from elsewhere than Debian
  command -v wrk >/dev/null || missing+=(wrk)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
# systemd-analyze checks the service unit (tests/install/install.sh), nginx
# and openssl the TLS sample (tests/install/tls.sh: a self-signed
# certificate, a USSD hop through nginx); a build alone needs none of them.
# node and npm run the OpenAPI document's linter (Redocly's CLI) and the
# JSON Schema validator of the end-to-end answers (tools/openapi/npm.sh
# installs both from npm into build/node); node may come from elsewhere
# than Debian
if [ "${LIPA_CHECK_DEPS:-}" = 1 ]; then
  pkgs+=(systemd openssl)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
# nginx (the binary, /usr/sbin/nginx) may be a build of the operator's own;
# Debian's starts a default site on port 80 when systemd runs the machine:
# when installed here, that is stopped and disabled at once (the tests and
# the benchmark start their own nginx)
if [ "${LIPA_CLUSTER_DEPS:-}" = 1 ] || [ "${LIPA_CHECK_DEPS:-}" = 1 ]; then
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
fi
# valgrind counts instructions for make bench-instr
if [ "${LIPA_INSTR_DEPS:-}" = 1 ]; then
  command -v valgrind >/dev/null || missing+=(valgrind)
fi
if [ "${LIPA_GRAPH_DEPS:-}" = 1 ]; then
  command -v dot >/dev/null || missing+=(graphviz)
fi
# libFuzzer (libclang_rt.fuzzer) is in the compiler-rt package of the default
# clang, libclang-rt-14-dev on Debian 12, which libclang-rt-dev pulls in
if [ "${LIPA_FUZZ_DEPS:-}" = 1 ]; then
  pkgs+=(clang libclang-rt-dev)
fi
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$quiet" = --quiet ]; then
  echo "deps: missing ${missing[*]}; run 'make deps' (or make run / make check, which install them)" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for daemon in prometheus nginx; do
  if [[ " ${missing[*]} " == *" $daemon "* ]] && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now "$daemon" >/dev/null 2>&1 || true
  fi
done
