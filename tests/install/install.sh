#!/usr/bin/env bash
# tests/install/install.sh: `make install` and the systemd unit. Part of
# make check (make check-install alone); every failure stops it with the
# reason. Arguments are passed to make (make check passes SANITIZER=1, so
# the binaries it built are the ones installed); LIPA_TEST_BIN names the
# folder of the sandbox and the seeder (bin).
#
#  1. make install DESTDIR=$tmp/root puts the expected files where they
#     belong, with the paths filled in (PREFIX=/usr/local, and once more
#     with PREFIX=/usr), the settings file 0600; a second install leaves an
#     edited settings file as it is.
#  2. systemd-analyze verify finds nothing to say about the installed unit
#     (its ExecStart pointed at the installed lipad under $tmp, since verify
#     wants the program to exist), and does find a unit with a mistake
#     planted in it (verify exits 0 on a misspelt key, so any output fails).
#  3. The installed lipad, started as the unit starts it, without systemd
#     as PID 1 (CI has none): the unit's ExecStart, its Environment= lines
#     and then its EnvironmentFile= read as systemd reads it (the installed
#     settings file, its paths moved under $tmp), nothing else of this
#     shell's environment, its WorkingDirectory, UMask and LimitNOFILE, and,
#     when this runs as root, as a user of its own (an unused uid in
#     systemd's DynamicUser range, no supplementary groups, no new
#     privileges) owning the state directory (mode 0700), as systemd does
#     at each start. It refuses to start while LIPA_ADMIN_KEY and
#     LIPA_PEPPER are empty; with them, answers /api/health and a whole
#     USSD purchase against the sandbox (the token SMS arrives), is backed
#     up while it runs by the installed lipa-backup as root (the copy
#     checked, 0600, lipad serving on after it), reloads the menus on
#     SIGHUP (ExecReload), and stops with 0 on SIGTERM within the unit's
#     TimeoutStopSec.
set -euo pipefail
cd "$(dirname "$0")/../.."
tree=$PWD
bindir=${LIPA_TEST_BIN:-bin}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lipa-install-XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
started=$(date +%s%N)

die() {
  echo "install: $*" >&2
  exit 1
}
# logs NAME...: the last lines of each log, for a failure's reason
logs() {
  local f
  for f in "$@"; do
    [ -s "$tmp/$f" ] || continue
    echo "--- $f (last lines)" >&2
    tail -n 20 "$tmp/$f" >&2
  done
}

command -v systemd-analyze >/dev/null || die "no systemd-analyze; run make deps (Debian package systemd)"
command -v curl >/dev/null || die "no curl; run make deps"

# ---- 1. the files ----

root=$tmp/root
make --no-print-directory -s "$@" install DESTDIR="$root" > "$tmp/make.log" 2>&1 ||
  { cat "$tmp/make.log" >&2; die "make install DESTDIR=$root failed (above)"; }

p=$root/usr/local
for f in lipad lipa-backup lipa-dial lipa-menu lipa-migrate; do
  [ -x "$p/bin/$f" ] || die "$p/bin/$f missing or not executable"
done
for f in menus/*.yaml db/*.sql db/pg/*.sql; do
  cmp -s "$f" "$p/share/lipa/$f" || die "$p/share/lipa/$f missing or not the tree's $f"
done
[ "$(ls "$p/share/lipa/db/pg" | wc -l)" -eq "$(ls db/pg/*.sql | wc -l)" ] ||
  die "$p/share/lipa/db/pg holds other files than db/pg/*.sql"
for f in operations.md nginx-tls.conf nginx-lipa.conf; do
  [ -f "$p/share/doc/lipa/$f" ] || die "the docs ($f) are not in $p/share/doc/lipa"
done
unit=$p/lib/systemd/system/lipad.service
env_file=$root/etc/lipa/lipa.env
[ -f "$unit" ] || die "no unit at $unit"
[ -f "$env_file" ] || die "no settings file at $env_file"
[ "$(stat -c %a "$env_file")" = 600 ] || die "$env_file is mode $(stat -c %a "$env_file"), not 600 (it holds the secrets)"
! grep -n '@[A-Z]*@' "$unit" "$env_file" || die "a placeholder was left unfilled (above)"
# want FILE LINE: FILE has that line, exactly
want() { grep -qxF -- "$2" "$1" || die "$1 lacks the line '$2'"; }
want "$unit" "ExecStart=/usr/local/bin/lipad"
want "$unit" "EnvironmentFile=/etc/lipa/lipa.env"
want "$unit" "StateDirectory=lipa"
want "$unit" "Environment=LIPA_DB=/var/lib/lipa/lipa.db"
want "$unit" "Environment=LIPA_MENUS=/usr/local/share/lipa/menus"
want "$unit" "Environment=LIPA_MIGRATIONS=/usr/local/share/lipa/db"
want "$env_file" "LIPA_DB=/var/lib/lipa/lipa.db"
want "$env_file" "LIPA_MENUS=/usr/local/share/lipa/menus"
want "$env_file" "LIPA_MIGRATIONS=/usr/local/share/lipa/db"

# an edited settings file survives the next install
echo "# edited by the operator" >> "$env_file"
make --no-print-directory -s "$@" install DESTDIR="$root" > "$tmp/make.log" 2>&1 ||
  { cat "$tmp/make.log" >&2; die "the second make install failed (above)"; }
grep -qxF "# edited by the operator" "$env_file" || die "a second make install overwrote $env_file"

# PREFIX=/usr: a package build
make --no-print-directory -s "$@" install DESTDIR="$tmp/usr-root" PREFIX=/usr > "$tmp/make.log" 2>&1 ||
  { cat "$tmp/make.log" >&2; die "make install PREFIX=/usr failed (above)"; }
want "$tmp/usr-root/usr/lib/systemd/system/lipad.service" "ExecStart=/usr/bin/lipad"
want "$tmp/usr-root/usr/lib/systemd/system/lipad.service" "Environment=LIPA_MENUS=/usr/share/lipa/menus"
want "$tmp/usr-root/etc/lipa/lipa.env" "LIPA_MIGRATIONS=/usr/share/lipa/db"
[ -x "$tmp/usr-root/usr/bin/lipad" ] || die "PREFIX=/usr: no /usr/bin/lipad"
make --no-print-directory -s "$@" uninstall DESTDIR="$tmp/usr-root" PREFIX=/usr > "$tmp/make.log" 2>&1 ||
  { cat "$tmp/make.log" >&2; die "make uninstall failed (above)"; }
left=$(cd "$tmp/usr-root" && find . -type f | sort)
[ "$left" = "./etc/lipa/lipa.env" ] || die "make uninstall left (or took) other files than the settings: $left"

# ---- 2. systemd-analyze verify ----

# verify UNIT: what systemd-analyze says about it (nothing when all is well)
verify() { systemd-analyze verify "$1" 2>&1 || true; }
mkdir -p "$tmp/verify"
sed "s|^ExecStart=/usr/local/bin/lipad$|ExecStart=$p/bin/lipad|" "$unit" > "$tmp/verify/lipad.service"
out=$(verify "$tmp/verify/lipad.service")
[ -z "$out" ] || die "$(printf 'systemd-analyze verify on the installed unit:\n%s' "$out")"
sed 's/^ProtectHome=/ProtectHom=/' "$tmp/verify/lipad.service" > "$tmp/verify/planted.service"
out=$(verify "$tmp/verify/planted.service")
grep -q "ProtectHom" <<<"$out" || die "self-test: systemd-analyze verify did not notice a misspelt key (said: '$out')"

# ---- 3. the installed lipad ----

. tests/install/ports.sh # free_port, wait_http (the cwd is the tree's top)
lipa_port=$(free_port)
sandbox_port=$(free_port)
[ "$lipa_port" != "$sandbox_port" ] || sandbox_port=$((lipa_port + 1))
sandbox=http://127.0.0.1:$sandbox_port

# the installed settings file, its paths moved under $tmp as the unit's
# StateDirectory and the install would have them
conf=$tmp/lipa.env
state=$tmp/var/lib/lipa
mkdir -p "$state"
sed -e "s|^LIPA_DB=/var/lib/lipa/|LIPA_DB=$state/|" \
    -e "s|^LIPA_MENUS=/usr/local/|LIPA_MENUS=$p/|" \
    -e "s|^LIPA_MIGRATIONS=/usr/local/|LIPA_MIGRATIONS=$p/|" \
    -e "s|^LIPA_PORT=.*|LIPA_PORT=$lipa_port|" "$env_file" > "$conf"
chmod 600 "$conf"
for k in LIPA_DB LIPA_MENUS LIPA_MIGRATIONS; do
  grep -q "^$k=$tmp/" "$conf" || die "the settings file's $k was not moved under $tmp: $(grep "^$k=" "$conf")"
done

# unit KEY: the value of the unit's KEY= line (the last one), "" if none
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
# the unit's paths, moved under $tmp as above
moved() {
  sed -e "s|/var/lib/lipa|$state|" -e "s|^/usr/local/|$p/|" -e "s|\([= ]\)/usr/local/|\1$p/|" <<<"$1"
}
exec_start=$(moved "$(unit_value ExecStart)")
workdir=$(moved "$(unit_value WorkingDirectory)")
umask_unit=$(unit_value UMask)
nofile=$(unit_value LimitNOFILE)
[ "$(unit_value StateDirectory)" = lipa ] && [ "$workdir" = "$state" ] ||
  die "the unit's WorkingDirectory ($(unit_value WorkingDirectory)) is not its StateDirectory /var/lib/lipa"
[ "$exec_start" = "$p/bin/lipad" ] || die "the unit's ExecStart is not the installed lipad: $(unit_value ExecStart)"
[ -n "$umask_unit" ] && [ -n "$nofile" ] || die "the unit has no UMask= or LimitNOFILE="
[ "$(unit_value EnvironmentFile)" = /etc/lipa/lipa.env ] || die "the unit's EnvironmentFile is not /etc/lipa/lipa.env"

# unit_env: the environment systemd gives lipad, one NAME=value a line: the
# unit's Environment= lines, then the EnvironmentFile's lines as systemd
# reads them (comments and blank lines skipped, spaces around the key
# dropped, one pair of quotes around the value taken off; a later value
# wins).
unit_env() {
  local line k v
  sed -n 's/^Environment=//p' "$unit" | while IFS= read -r line; do moved "$line"; done
  while IFS= read -r line || [ -n "$line" ]; do
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    [[ $line == *=* ]] || continue
    k=${line%%=*}; v=${line#*=}
    k=${k//[[:space:]]/}
    v=${v#"${v%%[![:space:]]*}"}; v=${v%"${v##*[![:space:]]}"}
    if [[ $v =~ ^\"(.*)\"$ || $v =~ ^\'(.*)\'$ ]]; then v=${BASH_REMATCH[1]}; fi
    printf '%s=%s\n' "$k" "$v"
  done < "$conf"
}

# lipad's user: as root, an unused uid in systemd's DynamicUser range
# (61184-65519) that owns the state directory, as systemd makes one and
# gives it the directory at each start; otherwise this user
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  command -v setpriv >/dev/null || die "no setpriv (Debian package util-linux)"
  for uid in $(seq 61184 65519); do
    getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null || break
  done
  # the unit's user reaches the installed files as any user would
  chmod 755 "$tmp"
  run_as=(setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs)
fi
# hand_over: what systemd does to StateDirectory= at a start
hand_over() {
  chmod "$(unit_value StateDirectoryMode)" "$state"
  if [ ${#run_as[@]} -gt 0 ]; then chown -R "$uid:$uid" "$state"; fi
}

# lipad as the unit runs it: the unit's environment and nothing of this
# shell's (but the sanitizers' options), its working directory, umask and
# open-file limit, as its user. Called in a subshell, which it replaces: $!
# is lipad itself, for the signals.
run_lipad() {
  local envs=()
  mapfile -t envs < <(unit_env)
  cd "$workdir"
  umask "$umask_unit"
  ulimit -n "$nofile" 2>/dev/null || true
  exec "${run_as[@]}" env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
    "${envs[@]}" "$exec_start"
}

# the example as installed: no secrets, no start
hand_over
set +e
(run_lipad) > "$tmp/refused.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "LIPA_ADMIN_KEY: required" "$tmp/refused.log" ||
  { logs refused.log; die "lipad with the example's empty LIPA_ADMIN_KEY exited $rc, not 2 naming LIPA_ADMIN_KEY"; }

# the operator's part: secrets and providers (the sandbox's)
secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
admin_key=$(secret)
sed -i -e "s|^LIPA_ADMIN_KEY=.*|LIPA_ADMIN_KEY=$admin_key|" -e "s|^LIPA_PEPPER=.*|LIPA_PEPPER=$(secret)|" "$conf"
providers=(
  LIPA_DARAJA_URL="$sandbox" LIPA_AT_URL="$sandbox" LIPA_TUYA_URL="$sandbox" LIPA_PAYSTACK_URL="$sandbox"
  LIPA_DARAJA_KEY=sandbox-key LIPA_DARAJA_SECRET=sandbox-secret
  LIPA_AT_USERNAME=sandbox LIPA_AT_APIKEY=sandbox-at-key LIPA_AT_SENDER=LIPA
  LIPA_TUYA_CLIENT_ID=sandbox-tuya-id LIPA_TUYA_SECRET=sandbox-tuya-secret LIPA_PAYSTACK_SECRET=sk_test_sandbox
)
printf '%s\n' "${providers[@]}" >> "$conf"

env "${providers[@]}" "$tree/$bindir/lipa-sandbox" --port "$sandbox_port" --tuya-any-device \
  > "$tmp/sandbox.log" 2>&1 &
pids+=($!)
wait_http "$sandbox/sandbox/health" || { logs sandbox.log; die "the sandbox did not come up"; }

# the demo callers, with the installed migrations (lipa-seed reads the
# environment only)
conf_value() { sed -n "s/^$1=//p" "$conf" | tail -n 1; }
(cd "$state" && env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" LIPA_DB="$(conf_value LIPA_DB)" \
   LIPA_MIGRATIONS="$(conf_value LIPA_MIGRATIONS)" "$tree/$bindir/lipa-seed" demo) > "$tmp/seed.log" 2>&1 || { logs seed.log; die "lipa-seed demo failed"; }

hand_over # the seeder ran as root, as an operator's tools do with lipad stopped
(run_lipad) > "$tmp/lipad.log" 2>&1 &
lipad=$!
pids+=($lipad)
api=http://127.0.0.1:$lipa_port
wait_http "$api/api/health" || { logs lipad.log; die "the installed lipad did not answer /api/health"; }
[ -f "$state/lipa.db" ] || die "the database is not at $state/lipa.db (LIPA_DB of the settings file)"

# hop PHONE TEXT: lipad's answer to one USSD hop, as Africa's Talking sends it
session=ATUid_install_$$
hop() {
  curl -sf -X POST "$api/api/ussd" --data-urlencode "sessionId=$session" \
    --data-urlencode "serviceCode=*384*1234#" --data-urlencode "phoneNumber=$1" \
    --data-urlencode "networkCode=63902" --data-urlencode "text=$2" || echo "(no answer)"
}
phone=+254712345678
screen=$(hop "$phone" "")
grep -q "^CON Welcome to lipa" <<<"$screen" || { logs lipad.log; die "first USSD hop answered: $screen"; }
for text in 1 1*1 1*1*100; do
  screen=$(hop "$phone" "$text")
  [[ $screen == CON* ]] || { logs lipad.log; die "hop '$text' answered: $screen"; }
done
screen=$(hop "$phone" "1*1*100*1")
grep -q "^END .*M-Pesa PIN" <<<"$screen" || { logs lipad.log; die "the confirming hop answered: $screen"; }
sms=""
for _ in $(seq 300); do
  sms=$(curl -sf "$sandbox/sandbox/sms?phone=%2B254712345678" || true)
  grep -q "Token" <<<"$sms" && break
  sleep 0.1
done
grep -q "Token" <<<"$sms" || { logs lipad.log sandbox.log; die "no token SMS within 30 s of the purchase (sandbox has: $sms)"; }
if [ ${#run_as[@]} -gt 0 ]; then
  owner=$(stat -c %u "$state/lipa.db-intake.0")
  [ "$owner" = "$uid" ] || die "lipad's intake file belongs to uid $owner, not lipad's user $uid"
fi

# the backup an operator takes as root while the service runs
"$p/bin/lipa-backup" "$state/lipa.db" "$tmp/backup.db" > "$tmp/backup.log" 2>&1 ||
  { logs backup.log; die "lipa-backup of the running service failed"; }
grep -q ", integrity ok (" "$tmp/backup.log" || { logs backup.log; die "lipa-backup did not report a checked copy"; }
[ "$(stat -c %a "$tmp/backup.db")" = 600 ] || die "the backup is mode $(stat -c %a "$tmp/backup.db"), not 600"
n=$(sqlite3 "$tmp/backup.db" "SELECT count(*) FROM payments WHERE phone = '$phone'")
[ "$n" = 1 ] || die "the backup holds $n purchases of $phone, not 1"
session=ATUid_install_after_$$
screen=$(hop +254722000111 "")
grep -q "^CON " <<<"$screen" || { logs lipad.log; die "after the backup, a new session answered: $screen"; }

# ExecReload: SIGHUP reloads the installed menus
kill -HUP "$lipad"
for _ in $(seq 50); do grep -q "menus.reloaded" "$tmp/lipad.log" && break; sleep 0.1; done
grep -q "menus.reloaded" "$tmp/lipad.log" || { logs lipad.log; die "SIGHUP did not reload the menus"; }

# SIGTERM: stops with 0 well within the unit's TimeoutStopSec
stop_limit=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit")
[ -n "$stop_limit" ] || die "no TimeoutStopSec=Ns in the unit"
t0=$(date +%s%N)
kill -TERM "$lipad"
set +e
for _ in $(seq $((stop_limit * 10))); do kill -0 "$lipad" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$lipad" 2>/dev/null; then
  logs lipad.log
  die "lipad still running ${stop_limit} s after SIGTERM (systemd would SIGKILL it)"
fi
wait "$lipad"
rc=$?
set -e
stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" -eq 0 ] || { logs lipad.log; die "lipad exited $rc after SIGTERM, not 0"; }
grep -q "lipad.stopped" "$tmp/lipad.log" || { logs lipad.log; die "no lipad.stopped in the log after SIGTERM"; }

took=$(( ($(date +%s%N) - started) / 1000000 ))
as="this user"
[ ${#run_as[@]} -gt 0 ] && as="uid $uid"
echo "install: make install (PREFIX /usr/local and /usr), uninstall, systemd-analyze verify (and a planted" \
     "mistake caught), the installed lipad run as the unit runs it ($as): refused without secrets, health," \
     "a USSD purchase to its token SMS, a backup while it runs, SIGHUP reload, SIGTERM stop in ${stop_ms} ms" \
     "(${took} ms)"
