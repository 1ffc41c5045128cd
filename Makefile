# amped — one entry point: make, make test, make demo, make bench.
# Outputs go to build/ only.  V=1 shows full commands.
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:
.PHONY: all binaries deps test demo bench clean vmlinux experiments

B        := build
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := x86

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

WARN     := -Wall -Wextra -Werror -Wno-unused-parameter
# Frame pointers: ampstat walks user stacks with bpf_get_stack (no DWARF unwinding).
CFLAGS   ?= -O2 -g -fno-omit-frame-pointer
CFLAGS   += $(WARN) -std=gnu11 -D_GNU_SOURCE -Iuser -Iinclude -I$(B)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS   := $(shell pkg-config --libs fuse3 2>/dev/null)

# Shared userspace modules (each file is a module with its own header).
AE_SRC     := user/ae.c user/ae_epoll.c user/ae_poll.c user/ae_select.c
COMMON_SRC := user/http.c $(AE_SRC)
AMPED_SRC  := $(wildcard user/amped/*.c) $(COMMON_SRC)
AMPED_HDR  := $(wildcard user/*.h user/amped/*.h include/*.h)

BPF_SRC    := $(wildcard bpf/*.bpf.c)
BPF_OBJ    := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.bpf.o,$(BPF_SRC))
BPF_SKEL   := $(patsubst bpf/%.bpf.c,$(B)/%.skel.h,$(BPF_SRC))

BINS := $(B)/amped $(B)/asan/amped $(B)/slowfs \
        $(B)/tests/test_http $(B)/tests/test_resp $(B)/tests/test_srpt $(B)/tests/test_ult $(B)/tests/test_ult_asan \
        $(B)/tests/bpf_smoke $(B)/tests/usdt_smoke

# Bare `make` builds everything: the components included below define
# targets of their own (tests/fuzz/fuzz.mk's `fuzz`), and without this the
# first of them would become the default goal.
.DEFAULT_GOAL := all

# Each further component (user/X/X.mk, tests/X/X.mk) adds its own rules and
# appends its outputs to BINS; they see every variable above.
include $(sort $(wildcard user/*/*.mk tests/*/*.mk))

# Every entry point first makes sure the tool chain is there, then builds in a
# sub-make, so that flags read from pkg-config see freshly installed packages
# and no compile races the installer under -j.
all: deps
	$(Q)$(MAKE) --no-print-directory binaries

binaries: $(BINS)

deps:
	$(Q)scripts/deps.sh

$(B)/amped: $(AMPED_SRC) $(AMPED_HDR) | $(B)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(AMPED_SRC) -lpthread -luring

$(B)/asan/amped: $(AMPED_SRC) $(AMPED_HDR) | $(B)/asan
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) -o $@ $(AMPED_SRC) -lpthread -luring

$(B)/slowfs: $(wildcard user/slowfs/*.c user/slowfs/*.h) | $(B)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(FUSE_CFLAGS) -o $@ $(filter %.c,$^) $(FUSE_LIBS) -lm

$(B)/tests/test_http: tests/unit/test_http.c user/http.c user/http.h tests/unit/tap.h | $(B)/tests
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) -Itests/unit -o $@ $(filter %.c,$^)

# resp.c with the modules it reads (an entry from fcache.c, the date from proc.c).
RESP_TEST_SRC := tests/unit/test_resp.c user/amped/resp.c user/amped/fcache.c user/amped/proc.c user/http.c
$(B)/tests/test_resp: $(RESP_TEST_SRC) $(AMPED_HDR) tests/unit/tap.h | $(B)/tests
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) -Itests/unit -Iuser/amped -o $@ $(RESP_TEST_SRC)

$(B)/tests/test_srpt: tests/unit/test_srpt.c user/amped/srpt.c user/amped/srpt.h tests/unit/tap.h | $(B)/tests
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) -Itests/unit -Iuser/amped -o $@ $(filter %.c,$^)

# ult.c with what it stands on (the loop, the clock); optimized, so that the
# switch cost it prints means something, and under the sanitizers, which
# must follow the stack switches.
ULT_TEST_SRC := tests/unit/test_ult.c user/amped/ult.c user/amped/proc.c user/http.c $(AE_SRC)
$(B)/tests/test_ult: $(ULT_TEST_SRC) $(AMPED_HDR) tests/unit/tap.h | $(B)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -Iuser/amped -o $@ $(ULT_TEST_SRC)
$(B)/tests/test_ult_asan: $(ULT_TEST_SRC) $(AMPED_HDR) tests/unit/tap.h | $(B)/tests
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) -Itests/unit -Iuser/amped -o $@ $(ULT_TEST_SRC)

# BPF: .bpf.c -> .bpf.o -> .skel.h -> binary
$(B)/bpf/%.bpf.o: bpf/%.bpf.c vmlinux/vmlinux.h $(wildcard include/*.h) $(wildcard bpf/*.h) | $(B)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		-Ivmlinux -Iinclude -I/usr/include/x86_64-linux-gnu -c $< -o $@
	$(Q)llvm-strip -g $@ 2>/dev/null || true

$(B)/%.skel.h: $(B)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(B)/tests/bpf_smoke: tests/unit/bpf_smoke.c $(B)/smoke.skel.h tests/unit/tap.h | $(B)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -o $@ $< -lbpf -lelf -lz

$(B)/tests/usdt_smoke: tests/unit/usdt_smoke.c $(B)/usdt_smoke.skel.h tests/unit/tap.h | $(B)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -o $@ $< -lbpf -lelf -lz

$(B) $(B)/asan $(B)/bpf $(B)/tests:
	$(Q)mkdir -p $@

# Regenerate the checked-in vmlinux.h from this machine's kernel BTF.
vmlinux:
	scripts/gen-vmlinux.sh

test: all
	$(Q)scripts/run-tests.sh

demo: all
	$(Q)scripts/demo.sh

# CPU time per request against the peers (lighttpd, nginx, h2o) and the
# floor, with goals, latency under load and bytes per idle connection
# (AMPED_BASELINE=old/amped adds it side by side); every model of amped with
# Flash's ablation, ampload against wrk, and what ampstat costs.
bench: all
	$(Q)scripts/bench.sh
	$(Q)scripts/bench-models.sh
	$(Q)scripts/bench-pollers.sh
	$(Q)scripts/bench-ampload.sh
	$(Q)scripts/bench-ampstat.sh

# The lab: every experiment, plotted, with REPORT.md/.html (QUICK=1: short).
experiments: all
	$(Q)scripts/experiments.sh

clean:
	rm -rf $(B)
