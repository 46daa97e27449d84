# lipa: one GNU Makefile. `make` builds bin/, `make run` starts the demo,
# `make check` runs every test under ASan+UBSan, `make bench` measures,
# `make fuzz` fuzzes the parsers (clang and libFuzzer).
#
# Sources are found by folder, so a new provider or module is a new file:
#   src/*/*.c      -> build/<variant>/liblipa.a (everything but src/main.c)
#   src/main.c     -> bin/lipad
#   tools/X/*.c    -> bin/lipa-X
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
LIB_OBJ  := $(LIB_SRC:%.c=$(OBJDIR)/%.o)
LIB      := $(OBJDIR)/liblipa.a
TOOLS    := $(patsubst tools/%/,%,$(wildcard tools/*/))
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

.PHONY: all deps deps-quiet run check check-schema unit-bin e2e-bin fuzz-replay-bin fuzz fuzz-bin bench bench-cluster bench-store bench-hops \
        bench-memory clean lint
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

$(OBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
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
# owners, headers used, no cycle, nothing outside), then the schema's two
# dialects against each other (check-schema), then the whole suite under
# ASan+UBSan: unit runners, the replay of every kept fuzz input, then
# end-to-end journeys against the real lipad and the sandbox on loopback.
check: deps
	@$(MAKE) --no-print-directory SANITIZER=1 lint
	@tests/pg/schema.sh
	@$(MAKE) --no-print-directory SANITIZER=1 unit-bin fuzz-replay-bin e2e-bin
	@tools/run-tests.sh build/san

# db/*.sql (SQLite) and their twins db/pg/*.sql give the same schema, in a
# throwaway PostgreSQL (tools/pg.sh) that is removed afterwards.
check-schema: deps
	@tests/pg/schema.sh

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

bench-memory: deps
	@$(MAKE) --no-print-directory all
	@tools/bench-memory.sh

# the linter needs nothing but libc, so it builds before (and without) the rest
$(BINDIR)/lipa-lint: $(OBJDIR)/tools/lint/main.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

lint: $(BINDIR)/lipa-lint
	@$(BINDIR)/lipa-lint

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
