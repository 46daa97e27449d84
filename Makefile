# lipa: one GNU Makefile. `make` builds bin/, `make run` starts the demo,
# `make check` runs every test under ASan+UBSan, `make bench` measures,
# `make fuzz` fuzzes the parsers (clang and libFuzzer).
#
# Sources are found by folder, so a new provider or module is a new file:
#   src/*/*.c      -> build/<variant>/liblipa.a (everything but src/main.c)
#   src/main.c     -> bin/lipad
#   tools/X/*.c    -> bin/lipa-X (a folder of tools/ without C files, like
#                     tools/systemd, is no tool)
#   tests/unit/check_*.c -> one Check runner per module (with runner.c, fake.c)
#   tests/fuzz/NAME.c    -> one fuzz target: build/fuzz/fuzzers/NAME
#                           (libFuzzer) and build/san/tests/fuzz_NAME (the
#                           replay of its kept inputs in make check)

PKGS     := libmicrohttpd sqlite3 libpq libcurl libpcre2-8 openssl jansson yaml-0.1
CC       ?= cc
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

# SANITIZER=1 builds the ASan+UBSan variant into build/san (used by make check).
# FUZZ=1 builds the fuzzing variant into build/fuzz (used by make fuzz): the
# same sanitizers under clang, with libFuzzer's coverage on every object.
FUZZ_CC  ?= clang
ifeq ($(FUZZ),1)
VARIANT  := fuzz
CC       := $(FUZZ_CC)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
BINDIR   := build/fuzz/bin
else ifeq ($(SANITIZER),1)
VARIANT  := san
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
BINDIR   := build/san/bin
else
VARIANT  := rel
OPT      := -O2 -g
BINDIR   := bin
endif
OBJDIR   := build/$(VARIANT)
CFLAGS   := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Isrc $(PKG_CFLAGS) -MMD -MP
LDFLAGS  := $(OPT)
LDLIBS   := $(PKG_LIBS) -lpthread -lm

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(OBJDIR)/%.o) $(OBJDIR)/lipa_version.o $(OBJDIR)/openapi_json.o
# what --version prints (util/version.h): git describe at build time, or
# `make LIPA_VERSION=1.2.0` (a tarball without .git), else "unreleased"
LIPA_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo unreleased)
LIB      := $(OBJDIR)/liblipa.a
TOOLS    := $(sort $(patsubst tools/%/,%,$(dir $(wildcard tools/*/*.c))))
TOOL_BIN := $(TOOLS:%=$(BINDIR)/lipa-%)
UNIT_SRC := $(wildcard tests/unit/check_*.c)
UNIT_SUPPORT := $(OBJDIR)/tests/unit/runner.o $(OBJDIR)/tests/unit/fake.o $(OBJDIR)/tests/support/testdb.o
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(OBJDIR)/tests/%)
E2E_SRC  := $(wildcard tests/e2e/*.c)
# fuzz.c (the wrapped log, HTTP client and headers) and replay.c (a main for
# make check) are shared, fuzz_app.c is included by the targets that need a
# real app; every other file in tests/fuzz/ is a target.
FUZZ_TARGETS ?= $(patsubst tests/fuzz/%.c,%,$(filter-out tests/fuzz/fuzz.c tests/fuzz/replay.c tests/fuzz/fuzz_app.c,\
                  $(wildcard tests/fuzz/*.c)))
FUZZ_WRAP := -Wl,--wrap=log_event -Wl,--wrap=httpc_do -Wl,--wrap=http_header
FUZZ_SECONDS ?= 30
FUZZ_MERGE ?= 0

.PHONY: all deps deps-quiet deps-check lint-openapi docs-api run check menu-graph check-schema check-install install uninstall unit-bin e2e-bin fuzz-replay-bin fuzz fuzz-bin bench bench-cluster bench-store bench-hops bench-instr \
        bench-memory bench-migrate clean lint
.SECONDARY:
# V=1 shows the full commands
ifeq ($(V),1)
Q :=
else
Q := @
endif
all: deps-quiet $(BINDIR)/lipad $(TOOL_BIN)

deps:
	@tools/deps.sh
deps-quiet:
	@tools/deps.sh --quiet
deps-check:
	@LIPA_CHECK_DEPS=1 tools/deps.sh

$(OBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# rewritten only when the version changed, so a build that changed nothing
# relinks nothing
FORCE:
$(OBJDIR)/lipa_version.c: FORCE
	@mkdir -p $(dir $@)
	@printf '#include "util/version.h"\nconst char lipa_version[] = "%s";\n' '$(subst ",,$(LIPA_VERSION))' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(OBJDIR)/lipa_version.o: $(OBJDIR)/lipa_version.c
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# docs/openapi.json, the API's description, compiled into lipad as bytes
# (app/openapi.h), so GET /openapi.json serves the document of the very
# build and needs no file at run time; od is in coreutils
$(OBJDIR)/openapi_json.c: docs/openapi.json
	@mkdir -p $(dir $@)
	@{ printf '/* generated from docs/openapi.json by the Makefile */\n#include "app/openapi.h"\n'; \
	   printf 'const char app_openapi_json[] = {\n'; \
	   od -An -v -tx1 $< | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	   printf '0};\n'; } >$@.tmp && mv $@.tmp $@
$(OBJDIR)/openapi_json.o: $(OBJDIR)/openapi_json.c
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# made afresh each time: ar only adds and replaces members, so a file
# removed or renamed would otherwise live on in the archive
$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BINDIR)/lipad: $(OBJDIR)/src/main.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.SECONDEXPANSION:
$(BINDIR)/lipa-%: $$(foreach f,$$(wildcard tools/$$*/*.c),$(OBJDIR)/$$(basename $$f).o) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OBJDIR)/tests/check_%: $(OBJDIR)/tests/unit/check_%.o $(UNIT_SUPPORT) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(OBJDIR)/tests/run_e2e: $(E2E_SRC:%.c=$(OBJDIR)/%.o) $(OBJDIR)/tests/support/testdb.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(OBJDIR)/tests/fuzz_%: $(OBJDIR)/tests/fuzz/%.o $(OBJDIR)/tests/fuzz/fuzz.o $(OBJDIR)/tests/fuzz/replay.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $(FUZZ_WRAP) -o $@ $^ $(LDLIBS)

$(OBJDIR)/fuzzers/%: $(OBJDIR)/tests/fuzz/%.o $(OBJDIR)/tests/fuzz/fuzz.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -fsanitize=fuzzer $(FUZZ_WRAP) -o $@ $^ $(LDLIBS)

unit-bin: $(UNIT_BIN)
e2e-bin: $(OBJDIR)/tests/run_e2e $(BINDIR)/lipad $(TOOL_BIN)
fuzz-replay-bin: $(FUZZ_TARGETS:%=$(OBJDIR)/tests/fuzz_%)
fuzz-bin: $(FUZZ_TARGETS:%=$(OBJDIR)/fuzzers/%)

# The tree's own rules first (bin/lipa-lint: banned calls, layers, library
# owners, headers used, no cycle, nothing outside), Redocly's lint of
# docs/openapi.json (make lint-openapi), then the schema's two
# dialects against each other (check-schema), then the whole suite under
# ASan+UBSan: make install into a temporary folder and the systemd unit
# (tests/install/install.sh, on the binaries just built), the TLS sample in
# front of a lipad (tests/install/tls.sh), unit runners, the
# replay of every kept fuzz input, then end-to-end journeys against the
# real lipad and the sandbox on loopback.
check: deps-check
	@$(MAKE) --no-print-directory SANITIZER=1 lint
	@tools/openapi/lint.sh
	@tests/pg/schema.sh
	@$(MAKE) --no-print-directory SANITIZER=1 unit-bin fuzz-replay-bin e2e-bin
	@LIPA_TEST_BIN=build/san/bin tests/install/install.sh SANITIZER=1
	@LIPA_TEST_BIN=build/san/bin tests/install/tls.sh
	@tools/run-tests.sh build/san

# db/*.sql (SQLite) and their twins db/pg/*.sql give the same schema, in a
# throwaway PostgreSQL (tools/pg.sh) that is removed afterwards.
check-schema: deps
	@tests/pg/schema.sh

# make install DESTDIR=... as a package build would; the unit checked by
# systemd-analyze verify; the installed lipad run as the unit runs it (its
# environment, its user), asked /api/health and a USSD purchase, backed up,
# stopped by SIGTERM; then docs/nginx-tls.conf in front of a lipad
# (tests/install/tls.sh, on the binaries make install built).
check-install: deps-check
	@tests/install/install.sh
	@tests/install/tls.sh

# Each target for FUZZ_SECONDS (30) with its kept corpus
# (tests/fuzz/corpus/NAME) and crashes; what it finds stays in build/fuzz
# unless FUZZ_MERGE=1 (tools/fuzz.sh). Installs clang and libFuzzer first.
fuzz:
	@LIPA_FUZZ_DEPS=1 tools/deps.sh
	@$(MAKE) --no-print-directory FUZZ=1 FUZZ_TARGETS="$(FUZZ_TARGETS)" fuzz-bin
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_MERGE=$(FUZZ_MERGE) tools/fuzz.sh build/fuzz $(FUZZ_TARGETS)

# deps first, then a fresh make: the flags come from pkg-config when the
# Makefile is read, which must happen after a fresh machine got the packages
run: deps
	@$(MAKE) --no-print-directory all
	@tools/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@tools/bench.sh

bench-cluster: deps
	@$(MAKE) --no-print-directory all
	@tools/bench-cluster.sh

bench-store: deps
	@$(MAKE) --no-print-directory all
	@tools/bench-store.sh

bench-hops: deps
	@$(MAKE) --no-print-directory all
	@tools/bench-hops.sh

bench-instr: deps
	@$(MAKE) --no-print-directory all
	@tools/bench-instr.sh

bench-memory: deps
	@$(MAKE) --no-print-directory all
	@tools/bench-memory.sh

# The picture of the menus: `lipa-menu graph menus` as docs/menus.dot, drawn
# by Graphviz (installed when missing) as docs/menus.svg and docs/menus.png.
# Commit all three: make check (check_menu) fails while docs/menus.dot is
# not what the menus give.
menu-graph:
	@LIPA_GRAPH_DEPS=1 tools/deps.sh
	@$(MAKE) --no-print-directory $(BINDIR)/lipa-menu
	$(BINDIR)/lipa-menu graph menus > docs/menus.dot
	dot -Tsvg docs/menus.dot -o docs/menus.svg
	dot -Tpng -Gdpi=80 docs/menus.dot -o docs/menus.png

bench-migrate: deps
	@$(MAKE) --no-print-directory all
	@tools/bench-migrate.sh

# the linter needs nothing but libc, so it builds before (and without) the rest
$(BINDIR)/lipa-lint: $(OBJDIR)/tools/lint/main.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

lint: $(BINDIR)/lipa-lint
	@$(BINDIR)/lipa-lint

# docs/openapi.json by Redocly's CLI (tools/openapi/redocly.yaml says
# which rules are off and why); node and npm from make deps-check, the CLI
# from npm into build/node
lint-openapi:
	@tools/openapi/lint.sh

# docs/api-reference.md, the API reference in Markdown, made from
# docs/openapi.json (tools/openapi/reference.mjs); committed, and
# lint-openapi fails when it is not what the document gives
docs-api:
	@node tools/openapi/reference.mjs docs/openapi.json >docs/api-reference.md.tmp
	@mv docs/api-reference.md.tmp docs/api-reference.md

clean:
	rm -rf build bin

# make install: lipad as a systemd service (docs/operations.md, "Running as
# a service"). PREFIX is /usr/local, where a locally built program goes on
# Debian (/usr belongs to the package manager); a package build passes
# PREFIX=/usr and DESTDIR. The unit goes where systemd looks under PREFIX
# (/usr/local/lib/systemd/system and /usr/lib/systemd/system both are);
# with another PREFIX set UNITDIR=/etc/systemd/system. The settings file
# goes to SYSCONFDIR/lipa (/etc/lipa), 0600, and only when there is none:
# an operator's file is never overwritten. Installed tools: the ones an
# operator runs against a live service (the sandbox, the seeder, the
# benchmark drivers and the linter are for the demo and the tree).
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DESTDIR    ?=
INSTALL_TOOLS := backup dial menu migrate
SHARE      := $(PREFIX)/share/lipa
INSTALL_SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SHARE)/menus $(DESTDIR)$(SHARE)/db/pg \
	           $(DESTDIR)$(PREFIX)/share/doc/lipa $(DESTDIR)$(UNITDIR)
	install -m 755 $(BINDIR)/lipad $(INSTALL_TOOLS:%=$(BINDIR)/lipa-%) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 menus/*.yaml $(DESTDIR)$(SHARE)/menus/
	install -m 644 db/*.sql $(DESTDIR)$(SHARE)/db/
	install -m 644 db/pg/*.sql $(DESTDIR)$(SHARE)/db/pg/
	install -m 644 README.md docs/*.md docs/*.conf docs/openapi.json $(DESTDIR)$(PREFIX)/share/doc/lipa/
	$(INSTALL_SUBST) tools/systemd/lipad.service.in > $(DESTDIR)$(UNITDIR)/lipad.service
	chmod 644 $(DESTDIR)$(UNITDIR)/lipad.service
	install -d -m 755 $(DESTDIR)$(SYSCONFDIR)/lipa
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/lipa/lipa.env ]; then \
	  echo "install: $(DESTDIR)$(SYSCONFDIR)/lipa/lipa.env exists, left as it is" \
	       "(the new example: tools/systemd/lipa.env.in)"; \
	else \
	  (umask 077; $(INSTALL_SUBST) tools/systemd/lipa.env.in > $(DESTDIR)$(SYSCONFDIR)/lipa/lipa.env) && \
	  echo "install: wrote $(DESTDIR)$(SYSCONFDIR)/lipa/lipa.env: set LIPA_ADMIN_KEY and LIPA_PEPPER"; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

# leaves SYSCONFDIR/lipa (the settings and secrets) and /var/lib/lipa (the
# database) where they are
uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	  systemctl disable --now lipad.service 2>/dev/null || true; fi
	rm -f $(DESTDIR)$(PREFIX)/bin/lipad $(INSTALL_TOOLS:%=$(DESTDIR)$(PREFIX)/bin/lipa-%)
	rm -f $(DESTDIR)$(UNITDIR)/lipad.service
	rm -rf $(DESTDIR)$(SHARE) $(DESTDIR)$(PREFIX)/share/doc/lipa
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

-include $(shell find build -name '*.d' 2>/dev/null)
