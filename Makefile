# taplinkd — see README.md. `make run` and `make check` are the two commands.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
UNITDIR    ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
SYSCTLDIR  ?= /usr/lib/sysctl.d
SYSCONFDIR ?= /etc
DATADIR    ?= $(PREFIX)/share
# The interpreter the Python package is installed for (Debian's own, not
# one on PATH from pyenv or a venv), and where its system modules live for
# PREFIX (scripts/python-site-dir.py; evaluated only by install/uninstall).
PYTHON3    ?= $(firstword $(wildcard /usr/bin/python3) python3)
PYTHONDIR  ?= $(shell $(PYTHON3) scripts/python-site-dir.py $(PREFIX))
PY_MODULES := $(notdir $(wildcard python/taplink/*.py))

CC ?= cc
# SANITIZE=1 builds everything with ASan+UBSan into its own tree, so a
# sanitized and a plain build never mix objects.
ifeq ($(SANITIZE),1)
BUILD ?= build/sanitize
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD ?= build
SANFLAGS :=
endif

PKGS      := libmnl libnftnl libnetfilter_conntrack libsystemd json-c inih
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_CFLAGS = $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   = $(shell pkg-config --libs cmocka 2>/dev/null)
JSONC_CFLAGS  = $(shell pkg-config --cflags json-c 2>/dev/null)
JSONC_LIBS    = $(shell pkg-config --libs json-c 2>/dev/null)

WARNFLAGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wno-unused-parameter
CFLAGS    ?= -O2 -g
BASEFLAGS := -std=gnu11 $(WARNFLAGS) -D_GNU_SOURCE -DTAPLINK_VERSION=\"$(VERSION)\" \
             -Iinclude -Isrc -I$(BUILD)/gen $(SANFLAGS) -MMD -MP
LDFLAGS   += $(SANFLAGS)

# --- daemon core: every src/*.c but main() -------------------------------
CORE_SRCS := $(filter-out src/taplinkd.c,$(wildcard src/*.c))
CORE_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CORE_SRCS))

# --- client library and CLI --------------------------------------------------
LIB_SRCS  := $(wildcard src/lib/*.c)
LIB_OBJS  := $(patsubst src/lib/%.c,$(BUILD)/obj/lib/%.o,$(LIB_SRCS))
CTL_SRCS  := $(wildcard src/ctl/*.c)
CTL_OBJS  := $(patsubst src/ctl/%.c,$(BUILD)/obj/ctl/%.o,$(CTL_SRCS))
LIB_SONAME := libtaplink.so.0

UNIT_SRCS  := $(wildcard tests/unit/test-*.c)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
ITEST_SRCS := $(wildcard tests/integration/test-*.c)
ITESTS     := $(patsubst tests/integration/%.c,$(BUILD)/itests/%,$(ITEST_SRCS))

BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
# build/bench/load is bench/load.c with its parts in bench/load/.
LOAD_PARTS := $(wildcard bench/load/*.c)

MANPAGES := $(wildcard docs/*.[1358])

.PHONY: all deps run check check-unit check-python check-integration check-fuzz check-chaos check-e2e \
        check-systemd check-idl check-valgrind e2e bench fuzz install uninstall clean format unit-tests itests

all: $(BUILD)/taplinkd $(BUILD)/taplinkctl $(BUILD)/libtaplink.so $(BUILD)/libtaplink.a \
     $(BUILD)/taplink.pc

# Installs whatever the build and the tests need that this machine lacks.
deps:
	@scripts/install-deps.sh

# `make run`: set up, build, and run the daemon in the foreground with the
# built-in defaults (or /etc/taplinkd/taplinkd.conf when it exists).
run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/taplinkd $(RUN_ARGS)

# `make check`: set up, build, then every test. Each stage prints its own
# summary; the first failing stage stops the run. The unit and integration
# tests run a second time built with ASan+UBSan (build/sanitize), unless this
# run is already SANITIZE=1.
# The builds use every CPU (BUILD_JOBS); the integration suites run JOBS at
# a time (scripts/run-integration-tests.sh; tests/README.md). No stage runs
# beside another: a TCG guest starved of CPU can panic at boot ("IO-APIC +
# timer doesn't work!"), and valgrind slows down as much as it lends.
CHECK_FUZZ_SECONDS ?= 10
CHAOS_ROUNDS ?= 120
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
JOBS ?= 4
check: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all unit-tests $(ITESTS)
	@$(MAKE) --no-print-directory check-unit check-python check-integration check-chaos check-fuzz \
		check-systemd check-idl check-valgrind check-e2e
ifneq ($(SANITIZE),1)
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) SANITIZE=1 all unit-tests itests
	@$(MAKE) --no-print-directory SANITIZE=1 check-unit check-integration check-chaos
endif

itests: $(ITESTS)

check-e2e: all
	@BUILD=$(BUILD) tests/e2e/run.sh

# The plain pass has clone slots made on the spot, the sanitized one from a
# pool of 2 (tests/chaos/clones.py).
CHAOS_CLONE_POOL ?= $(if $(filter 1,$(SANITIZE)),2,0)
check-chaos: all
	@BUILD=$(BUILD) tests/chaos/run.sh $(CHAOS_ROUNDS) --clone-pool $(CHAOS_CLONE_POOL)

check-fuzz:
	@BUILD=$(BUILD) FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS) tests/fuzz/run.sh

check-systemd: all
	@BUILD=$(BUILD) scripts/check-systemd.sh

check-idl:
	@scripts/check-idl.sh

# The daemon under valgrind memcheck for one integration run (plain build:
# valgrind and ASan do not mix).
check-valgrind: all
ifneq ($(SANITIZE),1)
	@BUILD=$(BUILD) scripts/check-valgrind.sh
endif

unit-tests: $(UNIT_TESTS)

check-unit: $(UNIT_TESTS)
	@scripts/run-unit-tests.sh $(UNIT_TESTS)

# The Python client's own tests (tests/python/), no daemon needed; its
# tests against the daemon are tests/integration/test_python_client.py.
check-python:
	@python3 -m unittest $(wildcard tests/python/test_*.py)

check-integration: all $(ITESTS)
	@BUILD=$(BUILD) JOBS=$(JOBS) scripts/run-integration-tests.sh $(ITESTS)

# `make e2e`: a real QEMU guest networked through a taplinkd fd (tests/e2e/).
e2e: deps all
	@BUILD=$(BUILD) tests/e2e/run.sh

# `make bench`: figures for acquire latency, churn, RSS, reconcile (bench/).
bench: deps all $(BENCH_BINS)
	@BUILD=$(BUILD) bench/run.sh

# `make fuzz FUZZ_SECONDS=N`: every libFuzzer harness for N seconds (tests/fuzz/).
FUZZ_SECONDS ?= 60
fuzz: deps
	@BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

# --- generated sources ---------------------------------------------------------
$(BUILD)/gen/varlink-idl.h: docs/io.taplinkd.varlink scripts/embed.sh
	@mkdir -p $(@D)
	scripts/embed.sh varlink_idl_text $< > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/taplinkd.o: $(BUILD)/gen/varlink-idl.h

# --- compilation ----------------------------------------------------------------
$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/obj/lib/%.o: src/lib/%.c
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(CFLAGS) $(JSONC_CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

$(BUILD)/obj/ctl/%.o: src/ctl/%.c
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libtaplinkd-core.a: $(CORE_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/taplinkd: $(BUILD)/obj/taplinkd.o $(BUILD)/libtaplinkd-core.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(BUILD)/libtaplink.so: $(LIB_OBJS) src/lib/libtaplink.sym
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(LIB_SONAME) \
		-Wl,--version-script=src/lib/libtaplink.sym -o $(BUILD)/$(LIB_SONAME) \
		$(LIB_OBJS) $(JSONC_LIBS)
	ln -sf $(LIB_SONAME) $@

$(BUILD)/libtaplink.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/taplinkctl: $(CTL_OBJS) $(BUILD)/libtaplink.a
	$(CC) $(LDFLAGS) -o $@ $(CTL_OBJS) $(BUILD)/libtaplink.a $(JSONC_LIBS)

$(BUILD)/taplink.pc: src/lib/taplink.pc.in Makefile
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# --- unit and C integration tests ----------------------------------------------------
# Each tests/unit/test-<x>.c (and tests/integration/test-<x>.c) is one binary.
# Near its top a test names what it links, so that it builds even while an
# unrelated module does not:
#     // MODULES: nft slot config      (src/nft.c, src/slot.c, src/config.c)
#     // MODULES: lib/client           (src/lib/client.c)
#     // WRAP: open64 ioctl            (-Wl,--wrap=, for faked syscalls)
# Tests are built without _FORTIFY_SOURCE so that wrapping works.
TEST_CFLAGS := -U_FORTIFY_SOURCE -Wno-missing-prototypes
test_modules = $(shell sed -n 's|^// MODULES: *||p' $(1))
test_objs = $(patsubst %,$(BUILD)/obj/%.o,$(call test_modules,$(1)))
test_wraps = $(addprefix -Wl$(,)--wrap=,$(shell sed -n 's|^// WRAP: *||p' $(1)))
, := ,

.SECONDEXPANSION:
$(BUILD)/tests/test-%: tests/unit/test-%.c $$(call test_objs,tests/unit/test-$$*.c)
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(CFLAGS) $(TEST_CFLAGS) $(PKG_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< \
		$(call test_wraps,$<) $(filter %.o,$^) $(LDFLAGS) $(PKG_LIBS) $(CMOCKA_LIBS) -lpthread -lm

$(BUILD)/itests/test-%: tests/integration/test-%.c $$(call test_objs,tests/integration/test-$$*.c)
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(CFLAGS) $(TEST_CFLAGS) $(PKG_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< \
		$(call test_wraps,$<) $(filter %.o,$^) $(LDFLAGS) $(PKG_LIBS) $(CMOCKA_LIBS) -lpthread -lm

# --- bench --------------------------------------------------------------------------
$(BUILD)/bench/%: bench/%.c $(BUILD)/libtaplinkd-core.a $(BUILD)/libtaplink.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< \
		$(BUILD)/libtaplinkd-core.a $(BUILD)/libtaplink.a $(PKG_LIBS) -lpthread -lm

$(BUILD)/bench/load: bench/load.c $(LOAD_PARTS) bench/load/load.h $(BUILD)/libtaplinkd-core.a \
		$(BUILD)/libtaplink.a
	@mkdir -p $(@D)
	$(CC) $(filter-out -MMD -MP,$(BASEFLAGS)) $(CFLAGS) $(PKG_CFLAGS) -o $@ bench/load.c $(LOAD_PARTS) \
		$(BUILD)/libtaplinkd-core.a $(BUILD)/libtaplink.a $(PKG_LIBS) -lpthread -lm

# --- install --------------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCTLDIR) $(DESTDIR)$(SYSCONFDIR)/taplinkd
	install -m 0755 $(BUILD)/taplinkd $(DESTDIR)$(SBINDIR)/taplinkd
	install -m 0755 $(BUILD)/taplinkctl $(DESTDIR)$(BINDIR)/taplinkctl
	install -m 0755 $(BUILD)/$(LIB_SONAME) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libtaplink.so
	install -m 0644 $(BUILD)/libtaplink.a $(DESTDIR)$(LIBDIR)/libtaplink.a
	install -m 0644 include/taplink.h $(DESTDIR)$(INCLUDEDIR)/taplink.h
	install -m 0644 $(BUILD)/taplink.pc $(DESTDIR)$(PKGCONFIGDIR)/taplink.pc
	set -e; for m in $(MANPAGES); do \
		s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	set -e; for u in systemd/*.service systemd/*.socket; do \
		[ -e "$$u" ] || continue; \
		sed 's|@SBINDIR@|$(SBINDIR)|g' $$u > $(DESTDIR)$(UNITDIR)/$${u##*/}; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/}; done
	[ ! -e systemd/taplinkd.sysusers.conf ] || \
		install -m 0644 systemd/taplinkd.sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/taplinkd.conf
	# The clone-slot drop-in: installed where systemd does not read it,
	# inactive until linked (taplinkd(8), "Clone slots").
	install -d $(DESTDIR)$(DATADIR)/taplinkd
	sed 's|@DATADIR@|$(DATADIR)|g' systemd/taplinkd.service.d/clone.conf > $(DESTDIR)$(DATADIR)/taplinkd/clone.conf
	chmod 0644 $(DESTDIR)$(DATADIR)/taplinkd/clone.conf
	[ ! -e systemd/taplinkd.sysctl.conf ] || \
		install -m 0644 systemd/taplinkd.sysctl.conf $(DESTDIR)$(SYSCTLDIR)/50-taplinkd.conf
	@test -n "$(PYTHONDIR)" || { echo "PYTHONDIR: cannot tell, set it" >&2; exit 1; }
	install -d $(DESTDIR)$(PYTHONDIR)/taplink
	install -m 0644 $(addprefix python/taplink/,$(PY_MODULES)) $(DESTDIR)$(PYTHONDIR)/taplink/

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/taplinkd $(DESTDIR)$(BINDIR)/taplinkctl \
		$(DESTDIR)$(LIBDIR)/$(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libtaplink.so \
		$(DESTDIR)$(LIBDIR)/libtaplink.a $(DESTDIR)$(INCLUDEDIR)/taplink.h \
		$(DESTDIR)$(PKGCONFIGDIR)/taplink.pc \
		$(DESTDIR)$(UNITDIR)/taplinkd.service $(DESTDIR)$(UNITDIR)/taplinkd.socket \
		$(DESTDIR)$(SYSUSERSDIR)/taplinkd.conf $(DESTDIR)$(SYSCTLDIR)/50-taplinkd.conf \
		$(DESTDIR)$(DATADIR)/taplinkd/clone.conf
	! [ -d $(DESTDIR)$(DATADIR)/taplinkd ] || rmdir $(DESTDIR)$(DATADIR)/taplinkd
	for m in $(MANPAGES); do s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; done
	@test -n "$(PYTHONDIR)" || { echo "PYTHONDIR: cannot tell, set it" >&2; exit 1; }
	rm -f $(addprefix $(DESTDIR)$(PYTHONDIR)/taplink/,$(PY_MODULES))
	rm -rf $(DESTDIR)$(PYTHONDIR)/taplink/__pycache__
	! [ -d $(DESTDIR)$(PYTHONDIR)/taplink ] || rmdir $(DESTDIR)$(PYTHONDIR)/taplink

format:
	clang-format -i $(wildcard src/*.[ch] src/lib/*.[ch] src/ctl/*.[ch] include/*.h \
		tests/unit/*.c tests/fuzz/*.c bench/*.[ch] bench/load/*.[ch])

clean:
	rm -rf build

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/lib/*.d $(BUILD)/obj/ctl/*.d $(BUILD)/tests/*.d \
	$(BUILD)/itests/*.d $(BUILD)/bench/*.d)
