# upcalld - the one top-level GNU Makefile.
#
#   make            build daemon, tools, agent          (build/)
#   make deps       install Debian packages (idempotent, quiet when done)
#   make check      unit tests (plain + ASan/UBSan), lab tests on real guests,
#                   the Xen lab
#   make check-unit unit tests only
#   make check-lab  lab tests only
#   make check-xen  the Xen lab only
#   make demo       boot a lab guest and show what upcalld sees
#   make bench      benchmarks, printing figures
#   make fuzz       libFuzzer run of the upcall frame decoder (clang)
#   make install    install into $(DESTDIR)$(PREFIX)

PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR  ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/upcalld
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system

B     := build
BA    := build/asan
CC    ?= cc
PKGS  := yaml-0.1 libbpf json-c libsystemd openssl libelf
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wvla -Wno-unused-parameter
HARDEN  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection \
           -fPIE -fcf-protection
INCS    := -Ihypervisor-hooks -Idaemon/vmi -Idaemon -Iguest-services
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(HARDEN) $(INCS) $(PKG_CFLAGS) -MMD -MP
LDFLAGS_H  := -pie -Wl,-z,relro,-z,now,-z,noexecstack -Wl,--as-needed
LIBS    := $(PKG_LIBS) -lm

SAN_CFLAGS := -std=gnu11 $(WARN) -O1 -g -fno-omit-frame-pointer \
              -fsanitize=address,undefined -fno-sanitize-recover=all \
              $(INCS) $(PKG_CFLAGS) -MMD -MP -DUPCALLD_SANITIZE
SAN_LDFLAGS := -fsanitize=address,undefined

# Xen: only the xen backend includes Xen headers, and only when they exist.
HAVE_XEN := $(if $(wildcard /usr/include/xenctrl.h),1,)
XEN_SRCS := $(wildcard hypervisor-hooks/xen*.c hypervisor-hooks/xport_xen.c)
XEN_LIBS := -lxenctrl -lxenforeignmemory -lxenevtchn -lxenstore -lxenvchan \
            -lxengnttab -lxentoollog

# The agent's Xen vchan (guest-services/agent_xen.c) is built in when the
# static Xen libraries exist; without them the agent is virtio-serial only.
AGENT_XEN_A := $(wildcard $(shell $(CC) -print-file-name=libxenvchan.a))
ifneq ($(AGENT_XEN_A),)
AGENT_XEN_LIBS := -lxenvchan -lxengnttab -lxenevtchn -lxenstore \
                  -lxentoolcore -lxentoollog
$(B)/guest-services/agent_xen.o $(B)/liar/guest-services/agent_xen.o: \
	ALL_CFLAGS += -DAGENT_HAVE_XEN
endif

# Program entry points: every other .c in these directories is library code.
PROG_MAINS := daemon/upcalld.c daemon/upcallctl.c daemon/vmi/vmictl.c \
              daemon/vmi/mkprofile.c
AGENT_SRCS := $(wildcard guest-services/agent*.c)
# The wire codec (guest-services/wire*.c) goes into the daemon and the agent.
WIRE_SRCS  := $(wildcard guest-services/wire*.c)

LIB_SRCS := $(filter-out $(PROG_MAINS) $(XEN_SRCS), \
              $(wildcard hypervisor-hooks/*.c daemon/vmi/*.c daemon/*.c) \
              $(WIRE_SRCS))
ifeq ($(HAVE_XEN),1)
LIB_SRCS += $(XEN_SRCS)
LIBS     += $(XEN_LIBS)
ALL_CFLAGS += -DHAVE_XEN
SAN_CFLAGS += -DHAVE_XEN
endif
LIB_SRCS := $(sort $(wildcard $(LIB_SRCS)))

UNIT_SRCS := $(wildcard tests/check_*.c)
LAB_SRCS  := $(wildcard tests/lab/lab_*.c)
LABSUP_SRCS := $(wildcard tests/lab/labsup*.c)
GUEST_SRCS := $(wildcard tests/lab/guest/*.c)
BENCH_SRCS := $(wildcard bench/bench_*.c)

obj   = $(patsubst %.c,$(B)/%.o,$(1))
aobj  = $(patsubst %.c,$(BA)/%.o,$(1))

PROGS := $(foreach m,$(wildcard $(PROG_MAINS)),$(B)/$(notdir $(basename $(m))))
UNIT_BINS := $(patsubst tests/%.c,$(B)/tests/%,$(UNIT_SRCS))
UNIT_ABINS := $(patsubst tests/%.c,$(BA)/tests/%,$(UNIT_SRCS))
LAB_BINS  := $(patsubst tests/lab/%.c,$(B)/tests/lab/%,$(LAB_SRCS))
GUEST_BINS := $(patsubst tests/lab/guest/%.c,$(B)/guest/%,$(GUEST_SRCS))
BENCH_BINS := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRCS))
AGENT := $(if $(AGENT_SRCS),$(B)/upcalld-agent,)

.PHONY: all deps check check-build check-all check-unit check-lab check-xen demo demo-run bench fuzz install clean
.SECONDARY:

all: $(PROGS) $(AGENT)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BA)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -c -o $@ $<

$(B)/libupcalld.a: $(call obj,$(LIB_SRCS))
	@rm -f $@
	ar rcs $@ $^

$(BA)/libupcalld.a: $(call aobj,$(LIB_SRCS))
	@rm -f $@
	ar rcs $@ $^

$(B)/%: $(B)/daemon/%.o $(B)/libupcalld.a
	$(CC) $(LDFLAGS_H) -o $@ $^ $(LIBS)

$(B)/%: $(B)/daemon/vmi/%.o $(B)/libupcalld.a
	$(CC) $(LDFLAGS_H) -o $@ $^ $(LIBS)

# The agent runs inside guests with no libraries: link it statically.
$(B)/upcalld-agent: $(call obj,$(AGENT_SRCS) $(WIRE_SRCS))
	$(CC) -static -o $@ $^ -Wl,-Bstatic $(AGENT_XEN_LIBS) -lcrypto -lpthread

$(B)/tests/%: $(B)/tests/%.o $(B)/libupcalld.a
	$(CC) $(LDFLAGS_H) -o $@ $^ $(LIBS) $(CHECK_LIBS)

$(BA)/tests/%: $(BA)/tests/%.o $(BA)/libupcalld.a
	$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LIBS) $(CHECK_LIBS)

$(LAB_BINS): $(B)/tests/lab/%: $(B)/tests/lab/%.o $(call obj,$(LABSUP_SRCS)) $(B)/libupcalld.a
	$(CC) $(LDFLAGS_H) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(LIBS) $(CHECK_LIBS)

# Guest-side helpers (tests/lab/guest/): static, copied into lab guests' /usr/bin.
$(B)/guest/%: tests/lab/guest/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -O2 -static -o $@ $<

# Test-only lying agent: the real agent sources built with -DUPCALLD_AGENT_LIES
# plus tests/lab/liar/*.c; lab guests get it as /usr/bin/upcalld-agent-liar.
LIAR := $(if $(AGENT_SRCS),$(B)/guest/upcalld-agent-liar,)
GUEST_BINS += $(LIAR)

$(B)/liar/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DUPCALLD_AGENT_LIES -c -o $@ $<

$(B)/guest/upcalld-agent-liar: $(patsubst %.c,$(B)/liar/%.o,$(AGENT_SRCS) $(WIRE_SRCS) \
				$(wildcard tests/lab/liar/*.c))
	@mkdir -p $(dir $@)
	$(CC) -static -o $@ $^ -Wl,-Bstatic $(AGENT_XEN_LIBS) -lcrypto -lpthread

$(B)/bench/%: $(B)/bench/%.o $(B)/libupcalld.a
	$(CC) $(LDFLAGS_H) -o $@ $^ $(LIBS)

# --- dependencies -----------------------------------------------------------
deps:
	@tests/lab/deps.sh

# --- tests ------------------------------------------------------------------
# The two quick-start targets install what they need, then re-enter make so
# that pkg-config sees the freshly installed libraries.
check: deps
	@$(MAKE) --no-print-directory -j2 check-build
	@$(MAKE) --no-print-directory check-all

# Build everything the tests need in parallel; the tests themselves run one
# program at a time (lab guests and sanitizers are heavy on two cores).
check-build: all $(UNIT_BINS) $(UNIT_ABINS) $(LAB_BINS) $(GUEST_BINS)

# The Xen lab comes last, on its own (one TCG machine at a time).
check-all: all check-unit check-lab
	@$(MAKE) --no-print-directory check-xen
	@echo "check: unit, lab and Xen lab tests passed"

check-unit: $(UNIT_BINS) $(UNIT_ABINS)
	@tests/run-unit.sh $(UNIT_BINS) $(UNIT_ABINS)

check-lab: all $(LAB_BINS) $(GUEST_BINS)
	@tests/lab/run-lab.sh $(LAB_BINS)

# The Xen lab (Xen + dom0 + a PVH domU under QEMU TCG): the smoke test, then
# the daemon scenario (upcalld in dom0 against the lying agent); about 4
# minutes, part of check.
check-xen: all $(GUEST_BINS)
	@tests/lab/xenlab.sh check

demo: deps
	@$(MAKE) --no-print-directory demo-run

demo-run: all
	@tests/lab/demo.sh

bench: all $(BENCH_BINS) $(GUEST_BINS)
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done
	@echo "== bench/lab_bench.sh"; bench/lab_bench.sh

FUZZ_SRCS := tests/fuzz/fuzz_wire.c $(WIRE_SRCS)
fuzz: $(B)/fuzz_wire
	@mkdir -p $(B)/fuzz-corpus
	$(B)/fuzz_wire -max_total_time=$${FUZZ_SECONDS:-60} $(B)/fuzz-corpus

$(B)/fuzz_wire: $(FUZZ_SRCS)
	@mkdir -p $(B)
	clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined $(INCS) -o $@ $^ -lcrypto

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/upcalld/rules.d $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(PREFIX)/share/upcalld/rules
	for p in $(PROGS); do install -m 0755 $$p $(DESTDIR)$(SBINDIR)/; done
	if [ -n "$(AGENT)" ]; then install -m 0755 $(AGENT) $(DESTDIR)$(LIBEXECDIR)/; fi
	if [ -f etc/upcalld.yaml ]; then \
	    install -m 0640 etc/upcalld.yaml $(DESTDIR)$(SYSCONFDIR)/upcalld/; fi
	install -m 0644 etc/upcalld.service $(DESTDIR)$(UNITDIR)/
	# the agent and its unit are for guests: shipped, not installed here
	install -d $(DESTDIR)$(PREFIX)/share/upcalld/guest
	install -m 0644 etc/upcalld-agent.service $(DESTDIR)$(PREFIX)/share/upcalld/guest/
	for r in rules/*.yaml; do [ -f "$$r" ] && install -m 0644 $$r \
	    $(DESTDIR)$(PREFIX)/share/upcalld/rules/; done; true

clean:
	rm -rf $(B)

# The compiler writes the .d files; no rule makes them. Saying so stops make
# from searching its pattern rules (build/%: ...) for each one on every run.
$(B)/%.d: ;
-include $(shell find $(B) -name '*.d' 2>/dev/null)
