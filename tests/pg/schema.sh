#!/usr/bin/env bash
# tests/pg/schema.sh: the SQLite migrations (db/*.sql) and their PostgreSQL
# twins (db/pg/*.sql) must give the same schema. Part of make check.
#
# Every db/NNN_name.sql has a twin db/pg/NNN_name.sql and the other way
# round, and no two migrations share a number (the store records a
# migration by its number alone). The SQLite files are applied in order to
# a fresh database with the sqlite3 shell, the PostgreSQL ones with psql to
# a throwaway cluster (tools/pg.sh, stopped and removed however this ends),
# each file in its own transaction as the store applies them. Then each
# side is described as one line per fact, and the two descriptions must be
# equal:
#   table T / view V / trigger G on T
#   column T.C TYPE null|not-null [identity] [default D]
#   primary key T (cols) / unique T (cols)
#   index NAME on T (cols) [unique] [where EXPR]
#   foreign key T (cols) references T2 (cols) on update A on delete A
#   check T EXPR
# Types follow one rule: SQLite INTEGER is bigint, TEXT text, REAL double
# precision, BLOB bytea, and an INTEGER PRIMARY KEY (the rowid) is a bigint
# identity; a SQLite type outside the rule matches nothing. Defaults are
# compared as written, less PostgreSQL's casts ('' and ''::text agree).
# Index and constraint names are compared where SQLite has them (CREATE
# INDEX); its unnamed UNIQUE, PRIMARY KEY and FOREIGN KEY constraints by
# table and columns. The WHERE of a partial index and CHECK expressions are
# compared loosely: as their words, literals and comparison operators in
# order, after PostgreSQL's rewrites are undone (casts dropped, "= ANY
# (ARRAY[...])" read as IN), so "status IN ('a','b')" agrees with
# "(status = ANY (ARRAY['a'::text, 'b'::text]))".
#
# Then it checks itself: a migration without its twin, and twins that
# differ by one column, type, default, index, unique constraint, foreign
# key or CHECK must each be caught and named.
set -euo pipefail
cd "$(dirname "$0")/../.."
export LC_ALL=C # migrations sort by name, byte by byte, as the store sorts them

tmp=$(mktemp -d)
cluster=$(mktemp -d) # apart: the server may run as another user, who cannot enter $tmp
cleanup() { tools/pg.sh stop "$cluster" >/dev/null 2>&1 || rm -rf "$cluster"; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "schema: $*" >&2; exit 1; }

command -v sqlite3 >/dev/null || die "no sqlite3 shell; run make deps"
pg_bin=${LIPA_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)}
psql=$pg_bin/psql
[ -x "$psql" ] || psql=$(command -v psql) || die "no psql; run make deps"

# ---- the files ----

# files SQLITE_DIR PG_DIR: every migration has its twin, and numbers are
# unique; names each problem on stdout
files() {
  local a=$1 b=$2 f n
  for f in "$a"/[0-9]*.sql; do
    [ -e "$f" ] || continue
    [ -f "$b/${f##*/}" ] || echo "$f has no PostgreSQL twin $b/${f##*/}"
  done
  for f in "$b"/[0-9]*.sql; do
    [ -e "$f" ] || continue
    [ -f "$a/${f##*/}" ] || echo "$f is the twin of no SQLite migration (no $a/${f##*/})"
  done
  for d in "$a" "$b"; do
    for f in "$d"/[0-9]*.sql; do
      [ -e "$f" ] || continue
      n=${f##*/}
      echo "${n%%[!0-9]*} $f"
    done | awk '{ v = $1 + 0; if (v in seen) print seen[v] " and " $2 " share the number " v; else seen[v] = $2 }'
  done
}

# ---- applying them ----

# sqlite_apply DB DIR: every migration of DIR into DB, in order
sqlite_apply() {
  local f
  {
    echo "PRAGMA foreign_keys = ON;"
    for f in "$2"/[0-9]*.sql; do
      [ -e "$f" ] || continue
      printf 'BEGIN IMMEDIATE;\n.read %s\nCOMMIT;\n' "$f"
    done
  } | sqlite3 -bail "$1" >/dev/null || die "the SQLite migrations of $2 do not apply (above)"
}

# pg_apply URI DIR: every migration of DIR, in order
pg_apply() {
  local f
  for f in "$2"/[0-9]*.sql; do
    [ -e "$f" ] || continue
    printf 'BEGIN;\n\\i %s\nCOMMIT;\n' "$f"
  done | "$psql" -X -q -v ON_ERROR_STOP=1 "$1" >/dev/null || die "the PostgreSQL migrations of $2 do not apply (above)"
}

# ---- describing a schema ----

SQLITE_DESCRIBE=$(cat <<'SQL'
CREATE TEMP VIEW t AS SELECT name, sql FROM sqlite_master
 WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\';
SELECT 'table ' || name FROM t;
SELECT 'view ' || name FROM sqlite_master WHERE type = 'view';
SELECT 'trigger ' || name || ' on ' || tbl_name FROM sqlite_master WHERE type = 'trigger';
SELECT 'column ' || t.name || '.' || p.name || ' ' ||
       CASE upper(p.type) WHEN 'INTEGER' THEN 'bigint' WHEN 'TEXT' THEN 'text'
            WHEN 'REAL' THEN 'double precision' WHEN 'BLOB' THEN 'bytea'
            ELSE 'no-rule-for-' || p.type END ||
       CASE WHEN p."notnull" OR p.pk > 0 THEN ' not-null' ELSE ' null' END ||
       CASE WHEN upper(p.type) = 'INTEGER' AND p.pk = 1 AND t.sql NOT LIKE '%without rowid%'
                 AND (SELECT count(*) FROM pragma_table_info(t.name) q WHERE q.pk > 0) = 1
            THEN ' identity' ELSE '' END ||
       coalesce(' default ' || p.dflt_value, '')
  FROM t, pragma_table_info(t.name) p;
SELECT 'primary key ' || t.name || ' (' ||
       (SELECT group_concat(name, ', ') FROM
          (SELECT q.name FROM pragma_table_info(t.name) q WHERE q.pk > 0 ORDER BY q.pk)) || ')'
  FROM t WHERE EXISTS (SELECT 1 FROM pragma_table_info(t.name) q WHERE q.pk > 0);
SELECT 'unique ' || t.name || ' (' ||
       (SELECT group_concat(name, ', ') FROM
          (SELECT ii.name FROM pragma_index_info(il.name) ii ORDER BY ii.seqno)) || ')'
  FROM t, pragma_index_list(t.name) il WHERE il.origin = 'u';
SELECT 'index ' || il.name || ' on ' || t.name || ' (' ||
       (SELECT group_concat(coalesce(name, '<expression>'), ', ') FROM
          (SELECT ii.name FROM pragma_index_info(il.name) ii ORDER BY ii.seqno)) || ')' ||
       CASE WHEN il."unique" THEN ' unique' ELSE '' END ||
       CASE WHEN il.partial THEN ' where' || char(9) ||
            (SELECT substr(s, instr(upper(s), ' WHERE ') + 7) FROM
               (SELECT replace(replace(replace(x.sql, char(13), ' '), char(10), ' '), char(9), ' ') AS s
                  FROM sqlite_master x WHERE x.type = 'index' AND x.name = il.name))
       ELSE '' END
  FROM t, pragma_index_list(t.name) il WHERE il.origin = 'c';
SELECT 'foreign key ' || t.name || ' (' || group_concat(f."from", ', ') || ') references ' ||
       f."table" || ' (' ||
       group_concat(coalesce(f."to", (SELECT q.name FROM pragma_table_info(f."table") q
                                       WHERE q.pk = f.seq + 1)), ', ') ||
       ') on update ' || lower(f.on_update) || ' on delete ' || lower(f.on_delete)
  FROM t, pragma_foreign_key_list(t.name) f GROUP BY t.name, f.id;
SELECT 'checksrc ' || name || char(9) || replace(replace(sql, char(13), ''), char(10), char(1)) FROM t;
SQL
)

PG_DESCRIBE=$(cat <<'SQL'
CREATE TEMP VIEW t AS SELECT oid, relname AS name FROM pg_class
 WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p');
CREATE TEMP VIEW k AS SELECT c.*, t.name AS tbl, f.relname AS ftbl,
       (SELECT string_agg(a.attname, ', ' ORDER BY x.i) FROM unnest(c.conkey) WITH ORDINALITY x(n, i)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = x.n) AS cols,
       (SELECT string_agg(a.attname, ', ' ORDER BY x.i) FROM unnest(c.confkey) WITH ORDINALITY x(n, i)
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = x.n) AS fcols
  FROM pg_constraint c JOIN t ON t.oid = c.conrelid LEFT JOIN pg_class f ON f.oid = c.confrelid;
SELECT 'table ' || name FROM t;
SELECT 'view ' || relname FROM pg_class
 WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('v', 'm');
SELECT 'trigger ' || g.tgname || ' on ' || t.name FROM pg_trigger g JOIN t ON t.oid = g.tgrelid
 WHERE NOT g.tgisinternal;
SELECT 'column ' || c.table_name || '.' || c.column_name || ' ' || c.data_type ||
       CASE c.is_nullable WHEN 'NO' THEN ' not-null' ELSE ' null' END ||
       CASE WHEN c.is_identity = 'YES' OR c.column_default LIKE 'nextval(%' THEN ' identity' ELSE '' END ||
       CASE WHEN c.column_default IS NULL OR c.column_default LIKE 'nextval(%' THEN ''
            ELSE ' default ' || regexp_replace(regexp_replace(c.column_default, '::[a-z ]+$', ''),
                                               '^''(-?[0-9.]+)''$', '\1') END
  FROM information_schema.columns c JOIN t ON t.name = c.table_name
 WHERE c.table_schema = current_schema();
SELECT CASE contype WHEN 'p' THEN 'primary key ' ELSE 'unique ' END || tbl || ' (' || cols || ')'
  FROM k WHERE contype IN ('p', 'u');
SELECT 'foreign key ' || tbl || ' (' || cols || ') references ' || ftbl || ' (' || fcols || ')' ||
       ' on update ' || CASE confupdtype WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict'
            WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' END ||
       ' on delete ' || CASE confdeltype WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict'
            WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' END
  FROM k WHERE contype = 'f';
SELECT 'checksrc ' || tbl || chr(9) || pg_get_constraintdef(oid) FROM k WHERE contype = 'c';
SELECT 'index ' || ic.relname || ' on ' || t.name || ' (' ||
       (SELECT string_agg(CASE WHEN i.indkey[n - 1] = 0 THEN '<expression>'
                               ELSE pg_get_indexdef(i.indexrelid, n, true) END, ', ' ORDER BY n)
          FROM generate_series(1, i.indnkeyatts) n) || ')' ||
       CASE WHEN i.indisunique THEN ' unique' ELSE '' END ||
       CASE WHEN i.indpred IS NOT NULL THEN ' where' || chr(9) || pg_get_expr(i.indpred, i.indrelid)
            ELSE '' END
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN t ON t.oid = i.indrelid
 WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'));
SQL
)

# Raw lines to the final ones: a partial index's WHERE and every CHECK of a
# table's definition become their loose form (see the top of this file).
NORMALIZE=$(cat <<'AWK'
# the words, literals and comparison operators of an SQL expression
function loose(s,   out, i, n, c, j, w) {
    gsub(/::(text|bigint|integer|smallint|numeric|boolean|double precision|character varying)(\[\])?/, "", s)
    gsub(/= ANY \(ARRAY\[/, " IN (", s)
    gsub(/<> ALL \(ARRAY\[/, " NOT IN (", s)
    gsub(/!~~/, " NOT LIKE ", s)
    gsub(/~~/, " LIKE ", s)
    out = ""; n = length(s)
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (c == "'") {                       # a literal, '' inside it
            for (j = i + 1; j <= n; j++)
                if (substr(s, j, 1) == "'") { if (substr(s, j + 1, 1) == "'") j++; else break }
            w = substr(s, i, j - i + 1); i = j
        } else if (c == "\"") {               # a quoted name
            j = index(substr(s, i + 1), "\""); if (!j) j = n - i
            w = tolower(substr(s, i + 1, j - 1)); i += j
        } else if (c ~ /[A-Za-z_]/) {
            for (j = i; j <= n && substr(s, j, 1) ~ /[A-Za-z0-9_]/; j++) ;
            w = tolower(substr(s, i, j - i)); i = j - 1
        } else if (c ~ /[0-9.]/) {
            for (j = i; j <= n && substr(s, j, 1) ~ /[0-9.]/; j++) ;
            w = substr(s, i, j - i); i = j - 1
        } else if (c ~ /[<>=!]/) {
            for (j = i; j <= n && substr(s, j, 1) ~ /[<>=!]/; j++) ;
            w = substr(s, i, j - i); i = j - 1
            if (w == "!=") w = "<>"; else if (w == "==") w = "="
        } else continue
        out = out (out == "" ? "" : " ") w
    }
    return out
}
# every CHECK (...) of a definition, its comments left out
function checks(tbl, s,   n, i, c, q, clean, u, d, j, k) {
    n = length(s); clean = ""; q = 0
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (!q && c == "-" && substr(s, i + 1, 1) == "-") {
            while (i <= n && substr(s, i, 1) != "\001") i++
            c = " "
        } else if (c == "\001") c = " "
        else if (c == "'") q = !q
        clean = clean c
    }
    u = toupper(clean); n = length(u); q = 0
    for (i = 1; i <= n; i++) {
        c = substr(u, i, 1)
        if (c == "'") { q = !q; continue }
        if (q || substr(u, i, 5) != "CHECK" || (i > 1 && substr(u, i - 1, 1) ~ /[A-Z0-9_"]/)) continue
        for (j = i + 5; j <= n && substr(u, j, 1) == " "; j++) ;
        if (substr(u, j, 1) != "(") continue
        d = 0
        for (k = j; k <= n; k++) {
            c = substr(u, k, 1)
            if (c == "'") { for (k++; k <= n && substr(u, k, 1) != "'"; k++) ; continue }
            if (c == "(") d++
            else if (c == ")" && --d == 0) break
        }
        print "check " tbl " " loose(substr(clean, j + 1, k - j - 1))
        i = k
    }
}
{
    t = index($0, "\t")
    if (!t) { print; next }
    head = substr($0, 1, t - 1); rest = substr($0, t + 1)
    if (head ~ /^checksrc /) checks(substr(head, 10), rest)
    else print head " " loose(rest)
}
AWK
)

# describe_sqlite DB / describe_pg URI [EXTRA]: the sorted description; for
# PostgreSQL, EXTRA (a file) is applied first in a transaction that is
# rolled back afterwards
describe_sqlite() {
  sqlite3 -bail -batch -noheader -list "$1" "$SQLITE_DESCRIBE" | awk "$NORMALIZE" | sort
}
describe_pg() {
  {
    echo "BEGIN;"
    [ -z "${2:-}" ] || printf '\\i %s\n' "$2"
    echo "$PG_DESCRIBE"
    echo "ROLLBACK;"
  } | "$psql" -X -q -A -t -v ON_ERROR_STOP=1 "$1" | awk "$NORMALIZE" | sort
}

# compare SQLITE_DESCRIPTION PG_DESCRIPTION (files): each difference on
# stdout; false when there is one
compare() {
  comm -23 "$1" "$2" | sed 's/^/  only in SQLite:     /'
  comm -13 "$1" "$2" | sed 's/^/  only in PostgreSQL: /'
  cmp -s "$1" "$2"
}

# ---- this tree ----

started=$(date +%s%N)
problems=$(files db db/pg)
[ -z "$problems" ] || die "$(printf 'db/ and db/pg/ are not twins:\n%s' "$(sed 's/^/  /' <<<"$problems")")"
uri=$(tools/pg.sh start "$cluster") || die "no PostgreSQL to compare with (tools/pg.sh start failed)"
sqlite_apply "$tmp/base.db" db
pg_apply "$uri" db/pg
describe_sqlite "$tmp/base.db" > "$tmp/sqlite.txt"
describe_pg "$uri" > "$tmp/pg.txt"
# An index only PostgreSQL needs (a query only its store runs, and which
# would cost SQLite's writers for nothing) is declared in its migration by
# a line "-- postgresql only: index NAME"; it must exist there, and is
# left out of the comparison. Nothing else may differ.
for name in $(sed -n 's/^-- postgresql only: index \([a-z0-9_]*\).*/\1/p' db/pg/*.sql); do
  grep -q "^index $name on " "$tmp/pg.txt" ||
    die "db/pg declares index $name PostgreSQL-only, but PostgreSQL has no such index"
  ! grep -q "^index $name on " "$tmp/sqlite.txt" ||
    die "db/pg declares index $name PostgreSQL-only, but SQLite has it too"
  grep -v "^index $name on " "$tmp/pg.txt" > "$tmp/pg-only.txt" && mv "$tmp/pg-only.txt" "$tmp/pg.txt"
done
[ -s "$tmp/sqlite.txt" ] || die "the SQLite schema came out empty"
if ! diffs=$(compare "$tmp/sqlite.txt" "$tmp/pg.txt"); then
  die "$(printf 'db/*.sql (SQLite) and db/pg/*.sql (PostgreSQL) give different schemas:\n%s\n(types: INTEGER is bigint, TEXT text, INTEGER PRIMARY KEY a bigint identity; tests/pg/schema.sh)' "$diffs")"
fi

# ---- the check checks itself ----

selftest_failed=0 planted=0
# caught WHAT EXPECTED OUTPUT: the check named the difference
caught() {
  planted=$((planted + 1))
  if ! grep -qF -- "$2" <<<"$3"; then
    echo "schema: self-test: $1 went unnoticed (expected \"$2\" in:)" >&2
    sed 's/^/    /' <<<"$3" >&2
    selftest_failed=1
  fi
}

# a migration without its twin, and a twin without its migration
mkdir -p "$tmp/tree/db/pg"
cp db/[0-9]*.sql "$tmp/tree/db/"
cp db/pg/[0-9]*.sql "$tmp/tree/db/pg/"
echo "ALTER TABLE payments ADD COLUMN selftest TEXT;" > "$tmp/tree/db/999_extra.sql"
caught "a migration without its PostgreSQL twin" "999_extra.sql has no PostgreSQL twin" \
  "$(files "$tmp/tree/db" "$tmp/tree/db/pg")"
mv "$tmp/tree/db/999_extra.sql" "$tmp/tree/db/pg/999_extra.sql"
caught "a PostgreSQL twin without its migration" "999_extra.sql is the twin of no SQLite migration" \
  "$(files "$tmp/tree/db" "$tmp/tree/db/pg")"
cp "$tmp/tree/db/pg/999_extra.sql" "$tmp/tree/db/999_extra.sql"
cp "$tmp/tree/db/999_extra.sql" "$tmp/tree/db/999_other.sql"
cp "$tmp/tree/db/999_extra.sql" "$tmp/tree/db/pg/999_other.sql"
caught "two migrations of one number" "share the number 999" "$(files "$tmp/tree/db" "$tmp/tree/db/pg")"

# mutant NAME SQLITE_SQL PG_SQL EXPECTED [NOT]: one more migration on each
# side, different by one thing, must be caught and named (and NOT, when
# given, must not be taken for a difference)
mutant() {
  cp "$tmp/base.db" "$tmp/m.db"
  printf '%s\n' "$2" | sqlite3 -bail "$tmp/m.db" || die "self-test $1: the SQLite side does not apply"
  printf '%s\n' "$3" > "$tmp/m.sql"
  describe_sqlite "$tmp/m.db" > "$tmp/m-sqlite.txt"
  describe_pg "$uri" "$tmp/m.sql" > "$tmp/m-pg.txt" || die "self-test $1: the PostgreSQL side does not apply"
  local out
  if out=$(compare "$tmp/m-sqlite.txt" "$tmp/m-pg.txt"); then out="(no difference found)"; fi
  caught "$1" "$4" "$out"
  if [ -n "${5:-}" ] && grep -qF -- "$5" <<<"$out"; then
    echo "schema: self-test: $1: \"$5\" taken for a difference" >&2
    selftest_failed=1
  fi
}
mutant "a column left out of the twin" \
  "ALTER TABLE payments ADD COLUMN selftest TEXT NOT NULL DEFAULT '';" \
  "SELECT 1;" \
  "only in SQLite:     column payments.selftest text not-null default ''"
mutant "an INTEGER that is not a bigint" \
  "ALTER TABLE payments ADD COLUMN selftest INTEGER;" \
  "ALTER TABLE payments ADD COLUMN selftest INTEGER;" \
  "only in PostgreSQL: column payments.selftest integer null"
mutant "a rowid that is not an identity" \
  "CREATE TABLE selftest (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);" \
  "CREATE TABLE selftest (id BIGINT PRIMARY KEY, at BIGINT NOT NULL);" \
  "only in SQLite:     column selftest.id bigint not-null identity"
mutant "another default" \
  "ALTER TABLE outbox ADD COLUMN selftest TEXT NOT NULL DEFAULT 'a';" \
  "ALTER TABLE outbox ADD COLUMN selftest TEXT NOT NULL DEFAULT 'b';" \
  "only in PostgreSQL: column outbox.selftest text not-null default 'b'"
mutant "a nullable column that is NOT NULL in the twin" \
  "ALTER TABLE outbox ADD COLUMN selftest TEXT;" \
  "ALTER TABLE outbox ADD COLUMN selftest TEXT NOT NULL DEFAULT '';" \
  "only in SQLite:     column outbox.selftest text null"
mutant "a partial index with another WHERE" \
  "CREATE INDEX payments_selftest ON payments(phone) WHERE status IN ('failed', 'timeout');" \
  "CREATE INDEX payments_selftest ON payments(phone) WHERE status IN ('failed', 'cancelled');" \
  "only in SQLite:     index payments_selftest on payments (phone) where status in 'failed' 'timeout'"
mutant "an index on other columns" \
  "CREATE INDEX payments_selftest ON payments(phone, id);" \
  "CREATE INDEX payments_selftest ON payments(id, phone);" \
  "only in PostgreSQL: index payments_selftest on payments (id, phone)"
mutant "an index that is not unique in the twin" \
  "CREATE UNIQUE INDEX payments_selftest ON payments(mpesa_receipt);" \
  "CREATE INDEX payments_selftest ON payments(mpesa_receipt);" \
  "only in SQLite:     index payments_selftest on payments (mpesa_receipt) unique"
mutant "a UNIQUE constraint left out" \
  "CREATE TABLE selftest (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE);" \
  "CREATE TABLE selftest (id TEXT PRIMARY KEY, code TEXT NOT NULL);" \
  "only in SQLite:     unique selftest (code)"
mutant "a foreign key left out" \
  "ALTER TABLE outbox ADD COLUMN selftest TEXT REFERENCES meters(id);" \
  "ALTER TABLE outbox ADD COLUMN selftest TEXT;" \
  "only in SQLite:     foreign key outbox (selftest) references meters (id) on update no action on delete no action"
mutant "another CHECK" \
  "$(printf "CREATE TABLE selftest (id TEXT PRIMARY KEY, -- CHECK (id <> 1) in a comment is none\n    n INTEGER NOT NULL CHECK (n > 0));")" \
  "CREATE TABLE selftest (id TEXT PRIMARY KEY, n BIGINT NOT NULL CHECK (n >= 0));" \
  "only in SQLite:     check selftest n > 0" "check selftest id"
[ "$selftest_failed" -eq 0 ] || die "the check itself is broken (above)"

took=$(( ($(date +%s%N) - started) / 1000000 ))
echo "schema: db/ and db/pg/ agree: $(grep -c '^table ' "$tmp/sqlite.txt") tables," \
     "$(grep -c '^column ' "$tmp/sqlite.txt") columns, $(grep -vcE '^(table|column) ' "$tmp/sqlite.txt")" \
     "keys, indexes and checks; $planted differences planted and caught (${took} ms)"
