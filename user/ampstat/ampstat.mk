# ampstat — the companion CLI (user/ampstat/*.c) and its BPF programs
# (bpf/sched.bpf.c, bpf/oncpu.bpf.c); plus the load program its tests drive.
AMPSTAT_SRC := $(wildcard user/ampstat/*.c)
AMPSTAT_HDR := $(wildcard user/ampstat/*.h) $(wildcard include/ampstat_*.h) include/amped_usdt.h

$(B)/ampstat: $(AMPSTAT_SRC) $(AMPSTAT_HDR) $(B)/sched.skel.h $(B)/oncpu.skel.h | $(B)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(AMPSTAT_SRC) -lbpf -lelf -lz -lm

$(B)/tests/ampstat_load: tests/unit/ampstat_load.c | $(B)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< -lpthread

# roles, proc and usdt without BPF, under the sanitizers
$(B)/tests/ampstat_unit: tests/unit/ampstat_unit.c user/ampstat/roles.c user/ampstat/proc.c \
		user/ampstat/usdt.c user/ampstat/roles.h user/ampstat/proc.h user/ampstat/usdt.h \
		tests/unit/tap.h | $(B)/tests
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) -Itests/unit -o $@ $(filter %.c,$^) -lelf

BINS += $(B)/ampstat $(B)/tests/ampstat_load $(B)/tests/ampstat_unit

# ampstat latency and blocked
$(B)/ampstat: $(B)/latency.skel.h $(B)/blocked.skel.h

# the opt-in modes (syscalls, cache, serve, offcpu): their skeletons, and
# syscall names from the kernel headers (x86_64)
UNISTD_64 := $(firstword $(wildcard /usr/include/x86_64-linux-gnu/asm/unistd_64.h /usr/include/asm/unistd_64.h))
$(B)/ampstat: $(B)/syscalls.skel.h $(B)/syscall_names.h $(B)/cache.skel.h $(B)/offcpu.skel.h

$(B)/syscall_names.h: $(UNISTD_64) | $(B)
	$(call msg,GEN,$@)
	$(Q)sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9]*\)$$/[\2] = "\1",/p' $< > $@

$(B)/tests/ampstat_io: tests/unit/ampstat_io.c | $(B)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< -lpthread

BINS += $(B)/tests/ampstat_io
