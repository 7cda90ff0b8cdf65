# meter2mqtt: small cooperating C programs that read meters and publish to MQTT.
#
#   make            build every program into bin/
#   make check      install missing Debian packages, build, run the bats suite
#                   against bin/, then against an ASan+UBSan build, a short fuzz
#                   run of every parser, and cppcheck
#   make demo       the toolkit doing its job, on this machine, without a meter
#   make install    PREFIX, DESTDIR, SYSCONFDIR honoured
#   make fuzz       longer fuzz runs (FUZZ_SECONDS each, default 300)
#   make bench      the benchmarks under t/bench (print figures, assert nothing)

VERSION    = 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
DATADIR   ?= $(PREFIX)/share/meter2mqtt
LIBEXECDIR ?= $(PREFIX)/lib/meter2mqtt
SYSCONFDIR ?= /etc
DESTDIR   ?=

CC        ?= cc
CFLAGS    ?= -O2 -g
PKGS       = libserialport jansson yajl yaml-0.1 libmosquitto libcurl libmicrohttpd libcrypto
# Recursive (=), not :=, so that "make check" can install the packages
# before pkg-config is first asked about them.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
# 64-bit time_t and off_t on 32-bit targets too (Debian 12's armhf default
# is 32 bits: dates past 2038 would fail); no-ops on 64-bit ones.
M2M_CFLAGS = -std=c17 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64 \
             -Wall -Wextra -Werror -Ilib $(PKG_CFLAGS) \
             -DM2M_VERSION='"$(VERSION)"' -DM2M_SYSCONFDIR='"$(SYSCONFDIR)"' \
             -DM2M_LIBEXECDIR='"$(LIBEXECDIR)"'
LDLIBS_ALL = $(PKG_LIBS) -lm

SANFLAGS   = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_CC   ?= clang
FUZZ_SECONDS ?= 300
CHECK_FUZZ_SECONDS ?= 10

PROGS      = $(patsubst src/%.c,%,$(wildcard src/*.c))
# lib/ is grouped by concern, one folder each, built into one archive:
# base (errors, text, files, arguments), line (the reading line), meter
# (ports and meter protocols), sink (queue, MQTT, HA), svc (config, services).
LIB_DIRS   = base line meter sink svc
LIB_SRC    = $(wildcard $(LIB_DIRS:%=lib/%/*.c))
LIB_HDR    = $(wildcard $(LIB_DIRS:%=lib/%/*.h))
TEST_TOOLS = $(patsubst t/tools/%.c,%,$(wildcard t/tools/*.c))
FUZZERS    = $(patsubst t/fuzz/%.c,%,$(wildcard t/fuzz/*.c))
SCRIPTS    = $(filter-out bin/m2m-deps bin/m2m-demo,$(shell git ls-files bin 2>/dev/null))
# Each program links only the libraries it uses, whatever the
# distribution's linker default is.
LDFLAGS   += -Wl,--as-needed
# Objects depend on the headers they include (-MMD), nothing more.
DEPFLAGS   = -MMD -MP

all: $(addprefix bin/,$(PROGS))

# The installation paths are compiled in (mtrcfg's defaults): objects are
# rebuilt when they change, so "make install PREFIX=/usr" never installs a
# binary that looks under /usr/local (the same trick as git's GIT-CFLAGS).
PATHS_DEF = $(VERSION) $(SYSCONFDIR) $(LIBEXECDIR)
build/paths.stamp: FORCE
	@mkdir -p build
	@echo '$(PATHS_DEF)' | cmp -s - $@ || echo '$(PATHS_DEF)' > $@
FORCE:

# ---- the normal build: build/obj, build/libm2m.a, bin/ ----
LIB_OBJ    = $(LIB_SRC:%.c=build/obj/%.o)
build/obj/%.o: %.c build/paths.stamp
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(M2M_CFLAGS) $(DEPFLAGS) -c -o $@ $<
build/libm2m.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^
bin/%: build/obj/src/%.o build/libm2m.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< build/libm2m.a $(LDLIBS_ALL)

# ---- the sanitizer build: same sources, build/asan ----
ASAN_OBJ   = $(LIB_SRC:%.c=build/asan/obj/%.o)
build/asan/obj/%.o: %.c build/paths.stamp
	@mkdir -p $(@D)
	$(CC) $(SANFLAGS) $(M2M_CFLAGS) $(DEPFLAGS) -c -o $@ $<
build/asan/libm2m.a: $(ASAN_OBJ)
	rm -f $@ && ar rcs $@ $^
build/asan/bin/%: build/asan/obj/src/%.o build/asan/libm2m.a
	@mkdir -p $(@D)
	$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $< build/asan/libm2m.a $(LDLIBS_ALL)
asan: $(addprefix build/asan/bin/,$(PROGS)) $(addprefix build/asan/t/,$(TEST_TOOLS))

# ---- test-only programs (unit drivers for lib/), both builds ----
build/t/%: build/obj/t/tools/%.o build/libm2m.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< build/libm2m.a $(LDLIBS_ALL)
build/asan/t/%: build/asan/obj/t/tools/%.o build/asan/libm2m.a
	@mkdir -p $(@D)
	$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $< build/asan/libm2m.a $(LDLIBS_ALL)
test-tools: $(addprefix build/t/,$(TEST_TOOLS))

-include $(shell find build/obj build/asan/obj build/fuzz/obj -name '*.d' 2>/dev/null)

# ---- fuzz harnesses (libFuzzer): t/fuzz/NAME.c -> build/fuzz/NAME ----
# The library is instrumented once (build/fuzz/libm2m.a), not once per
# harness; clang's warnings are not gcc's, so no -Werror here (make
# replay builds the same harnesses with it).
FUZZ_SAN   = -g -O1 -fno-sanitize-recover=all
FUZZ_OBJ   = $(LIB_SRC:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: %.c build/paths.stamp
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer-no-link,address,undefined $(filter-out -Werror,$(M2M_CFLAGS)) \
		$(DEPFLAGS) -c -o $@ $<
build/fuzz/libm2m.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^
build/fuzz/%: t/fuzz/%.c build/fuzz/libm2m.a | build/fuzz
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer,address,undefined $(filter-out -Werror,$(M2M_CFLAGS)) \
		-o $@ $< build/fuzz/libm2m.a $(LDLIBS_ALL)
fuzz-build: $(addprefix build/fuzz/,$(FUZZERS))
fuzz: fuzz-build
	@for f in $(FUZZERS); do mkdir -p build/fuzz/corpus-$$f; \
		echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
		build/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			build/fuzz/corpus-$$f t/fuzz/seeds/$$f || exit 1; done
# Each harness for CHECK_FUZZ_SECONDS, as many at once as make -j allows.
fuzz-short: $(addprefix fuzz-short-,$(FUZZERS))
fuzz-short-%: build/fuzz/%
	@mkdir -p build/fuzz/corpus-$*
	@build/fuzz/$* -max_total_time=$(CHECK_FUZZ_SECONDS) build/fuzz/corpus-$* t/fuzz/seeds/$* \
		>build/fuzz/$*.log 2>&1 || { tail -40 build/fuzz/$*.log; echo "fuzz: $* found a crash"; exit 1; }
	@echo "fuzz: $* for $(CHECK_FUZZ_SECONDS) s: $$(grep -c . build/fuzz/$*.log) log lines, no crash"

build/fuzz:
	mkdir -p $@

# ---- checks ----
deps:
	@bin/m2m-deps

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--std=c11 --inline-suppr -D_GNU_SOURCE -Ilib src lib t/tools t/fuzz t/cross

# Each suite runs the same tests: first the normal binaries, then the
# sanitizer ones ahead of them on PATH.  t/run-bats prints the closing
# "N passed, N failed, N skipped (T s)" line.
# Builds use every core (make check is often run without -j).  The short
# fuzz runs go beside the normal pass, at the lowest priority: the tests
# mostly wait on brokers and supervisors, and the fuzzers take the CPU they
# leave (a fuzzer's 10 s are by the clock; their report follows the pass).
NPROC     := $(shell nproc 2>/dev/null || echo 2)
check: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all test-tools asan replay fuzz-build
	@$(MAKE) --no-print-directory lint
	@{ nice -n 19 $(MAKE) --no-print-directory -j$(NPROC) fuzz-short > build/fuzz/short.log 2>&1; \
		echo $$? > build/fuzz/short.rc; } & \
	t/run-bats "$(CURDIR)/bin" "$(CURDIR)/build/t" normal; rc=$$?; \
	wait; cat build/fuzz/short.log; [ "$$(cat build/fuzz/short.rc)" = 0 ] && [ $$rc = 0 ]
	@t/run-bats "$(CURDIR)/build/asan/bin" "$(CURDIR)/build/asan/t" asan

test: all test-tools
	@t/run-bats "$(CURDIR)/bin" "$(CURDIR)/build/t" normal

demo: deps
	@$(MAKE) --no-print-directory all
	@bin/m2m-demo

bench: all
	@for b in t/bench/*; do [ -x "$$b" ] && "$$b"; done

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 0755 $(addprefix bin/,$(PROGS)) $(DESTDIR)$(BINDIR)
	for s in $(SCRIPTS); do install -m 0755 $$s $(DESTDIR)$(BINDIR); done
	for m in man/*.1; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1; done; true
	for m in man/*.5; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man5; done; true
	for m in man/*.7; do [ -f "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man7; done; true
	install -d $(DESTDIR)$(DATADIR)/runit $(DESTDIR)$(DATADIR)/examples/config.d
	cp -R runit/. $(DESTDIR)$(DATADIR)/runit/
	for f in $$(find $(DESTDIR)$(DATADIR)/runit -type f); do \
		sed -i -e 's|/etc/meter2mqtt|$(SYSCONFDIR)/meter2mqtt|g' \
			-e 's|/usr/local/share/meter2mqtt|$(DATADIR)|g' \
			-e 's|PATH=/usr/local/bin:|PATH=$(BINDIR):/usr/local/bin:|' "$$f"; done
	cp -R etc/. $(DESTDIR)$(DATADIR)/examples/
	install -d $(DESTDIR)$(LIBEXECDIR)/types
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/meter2mqtt/config.d
	[ -e $(DESTDIR)$(SYSCONFDIR)/meter2mqtt/config.yaml ] || [ ! -f etc/config.yaml ] || \
		install -m 0640 etc/config.yaml $(DESTDIR)$(SYSCONFDIR)/meter2mqtt/config.yaml

# ---- systemd: meter2mqtt.service and the script it starts (systemd/) ----
# systemd reads units from /usr/local/lib/systemd/system too; the Debian
# package puts them in /lib/systemd/system (debian/rules).
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
install: install-systemd
install-systemd:
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's|/usr/local/lib/meter2mqtt|$(LIBEXECDIR)|g' systemd/meter2mqtt.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/meter2mqtt.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/meter2mqtt.service
	sed -e 's|/etc/meter2mqtt|$(SYSCONFDIR)/meter2mqtt|g' \
		-e 's|^PATH=/usr/local/bin:|PATH=$(BINDIR):/usr/local/bin:|' systemd/svscan-boot \
		> $(DESTDIR)$(LIBEXECDIR)/svscan-boot
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/svscan-boot

# ---- the Debian package: make deb -> build/deb/meter2mqtt_VERSION_ARCH.deb ----
# Built by dpkg-buildpackage from a copy of the tracked (and new, not
# ignored) files, so neither this tree's build nor its parent directory is
# touched; lintian must find no error.
DEB_VERSION = $(shell dpkg-parsechangelog -S Version 2>/dev/null)
DEB_ARCH    = $(shell dpkg-architecture -qDEB_HOST_ARCH 2>/dev/null)
DEB         = build/deb/meter2mqtt_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_SRC     = $(wildcard $(filter-out build/% t/% .ci/%,$(shell git ls-files --cached --others --exclude-standard 2>/dev/null)))
deb: $(DEB)
$(DEB): $(DEB_SRC)
	@bin/m2m-deps
	rm -rf build/deb && mkdir -p build/deb/meter2mqtt-$(DEB_VERSION)
	tar -cf - $(DEB_SRC) | tar -xf - -C build/deb/meter2mqtt-$(DEB_VERSION)
	cd build/deb/meter2mqtt-$(DEB_VERSION) && dpkg-buildpackage -b -us -uc -j2 >../build.log 2>&1 || \
		{ tail -30 ../build.log; exit 1; }
	lintian --fail-on error $@ || { echo "make deb: lintian found errors in $@"; rm -f $@; exit 1; }
	@echo "make deb: $@"

# ---- 32-bit and ARM: cross builds run under qemu-user (t/cross) ----
# build/replay/NAME: the fuzz harness t/fuzz/NAME.c without libFuzzer, to
# replay its seeds with any compiler (a cross compiler has no fuzzer runtime).
build/replay/%: t/fuzz/%.c t/cross/replay.c build/libm2m.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $(M2M_CFLAGS) -o $@ $< t/cross/replay.c build/libm2m.a $(LDLIBS_ALL)
replay: $(addprefix build/replay/,$(FUZZERS))
# make cross ARCH=armhf (or arm64): installs the cross compiler and the
# multiarch -dev packages if missing, builds with them in build/cross/ARCH
# and runs t/cross/*.bats: every output compared with this machine's.
ARCH      ?= armhf
cross: all test-tools replay
	@t/cross/deps $(ARCH)
	@t/cross/check $(ARCH)

clean:
	rm -rf build $(addprefix bin/,$(PROGS))

.PHONY: FORCE all asan test-tools fuzz fuzz-build fuzz-short deps lint check test demo bench install clean \
        replay cross install-systemd deb
.SECONDARY:
