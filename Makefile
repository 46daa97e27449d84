# lipa: one GNU Makefile. `make` builds bin/, `make run` starts the demo,
# `make check` runs every test under ASan+UBSan, `make bench` measures.
#
# Sources are found by folder, so a new provider or module is a new file:
#   src/*/*.c      -> build/<variant>/liblipa.a (everything but src/main.c)
#   src/main.c     -> bin/lipad
#   tools/X/*.c    -> bin/lipa-X
#   tests/unit/check_*.c -> one Check runner per module

PKGS     := libmicrohttpd sqlite3 libcurl libpcre2-8 openssl jansson yaml-0.1
CC       ?= cc
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

# SANITIZER=1 builds the ASan+UBSan variant into build/san (used by make check).
ifeq ($(SANITIZER),1)
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
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(OBJDIR)/tests/%)
E2E_SRC  := $(wildcard tests/e2e/*.c)

.PHONY: all deps deps-quiet run check unit-bin e2e-bin bench bench-store bench-hops bench-memory clean lint
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

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
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

$(OBJDIR)/tests/check_%: $(OBJDIR)/tests/unit/check_%.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(OBJDIR)/tests/run_e2e: $(E2E_SRC:%.c=$(OBJDIR)/%.o) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

unit-bin: $(UNIT_BIN)
e2e-bin: $(OBJDIR)/tests/run_e2e $(BINDIR)/lipad $(TOOL_BIN)

# The whole suite under ASan+UBSan: unit runners, then end-to-end journeys
# against the real lipad and the sandbox on loopback.
check: deps
	@$(MAKE) --no-print-directory SANITIZER=1 unit-bin e2e-bin
	@tools/run-tests.sh build/san

# deps first, then a fresh make: the flags come from pkg-config when the
# Makefile is read, which must happen after a fresh machine got the packages
run: deps
	@$(MAKE) --no-print-directory all
	@tools/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@tools/bench.sh

bench-store: deps
	@$(MAKE) --no-print-directory all
	@tools/bench-store.sh

bench-hops: deps
	@$(MAKE) --no-print-directory all
	@tools/bench-hops.sh

bench-memory: deps
	@$(MAKE) --no-print-directory all
	@tools/bench-memory.sh

lint:
	@! grep -nE '\b(strcpy|sprintf|atoi|strtok|gets|strcat)\(' src/*/*.c tools/*/*.c || \
	  { echo "banned call above"; exit 1; }

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
