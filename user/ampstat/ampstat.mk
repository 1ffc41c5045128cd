# ampstat — the companion CLI (user/ampstat/*.c) and its BPF programs
# (bpf/sched.bpf.c, bpf/oncpu.bpf.c); plus the load program its tests drive.
AMPSTAT_SRC := $(wildcard user/ampstat/*.c) user/lh.c
AMPSTAT_HDR := $(wildcard user/ampstat/*.h) $(wildcard include/ampstat_*.h) include/amped_usdt.h user/lh.h include/lh_layout.h
# ampstat_build_info{version=...}: the commit it was built from
AMPSTAT_VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

$(B)/ampstat: $(AMPSTAT_SRC) $(AMPSTAT_HDR) $(B)/sched.skel.h $(B)/oncpu.skel.h | $(B)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -DAMPSTAT_VERSION='"$(AMPSTAT_VERSION)"' -o $@ $(AMPSTAT_SRC) -lbpf -lelf -lz -lm

$(B)/tests/ampstat_load: tests/unit/ampstat_load.c | $(B)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< -lpthread

# roles, proc, usdt and the latency histogram without BPF, under the sanitizers
$(B)/tests/ampstat_unit: tests/unit/ampstat_unit.c user/ampstat/roles.c user/ampstat/proc.c \
		user/ampstat/usdt.c user/lh.c user/ampstat/roles.h user/ampstat/proc.h user/ampstat/usdt.h \
		user/lh.h include/lh_layout.h tests/unit/tap.h | $(B)/tests
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) -Itests/unit -o $@ $(filter %.c,$^) -lelf -lm

BINS += $(B)/ampstat $(B)/tests/ampstat_load $(B)/tests/ampstat_unit

# ampstat latency, blocked and handoff
$(B)/ampstat: $(B)/latency.skel.h $(B)/blocked.skel.h $(B)/handoff.skel.h

# the opt-in modes (syscalls, cache, serve, offcpu, profile): their skeletons, and
# syscall names from the kernel headers (x86_64)
UNISTD_64 := $(firstword $(wildcard /usr/include/x86_64-linux-gnu/asm/unistd_64.h /usr/include/asm/unistd_64.h))
$(B)/ampstat: $(B)/syscalls.skel.h $(B)/syscall_names.h $(B)/cache.skel.h $(B)/offcpu.skel.h \
		$(B)/profile.skel.h

$(B)/syscall_names.h: $(UNISTD_64) | $(B)
	$(call msg,GEN,$@)
	$(Q)sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9]*\)$$/[\2] = "\1",/p' $< > $@

$(B)/tests/ampstat_io: tests/unit/ampstat_io.c | $(B)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< -lpthread

BINS += $(B)/tests/ampstat_io

# the flame-graph renderer, without BPF, under the sanitizers
$(B)/tests/flame_unit: tests/unit/flame_unit.c user/ampstat/flame.c user/ampstat/flame.h \
		tests/unit/tap.h | $(B)/tests
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) -Itests/unit -o $@ $(filter %.c,$^) -lm

BINS += $(B)/tests/flame_unit

# The live page of `ampstat serve`: uPlot from npm (pinned by
# package-lock.json, installed by `npm ci` into build/web, offline from
# npm's cache after the first time), bundled with the page's own code into
# one HTML file that ampstat embeds as a byte array (build/ampstat_web.h).
WEB_DIR := user/ampstat/web
$(B)/web/node_modules/.package-lock.json: $(WEB_DIR)/package.json $(WEB_DIR)/package-lock.json
	$(call msg,NPM-CI,$(B)/web)
	$(Q)mkdir -p $(B)/web && cp $^ $(B)/web/
	$(Q)cd $(B)/web && npm ci --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
	$(Q)touch $@

$(B)/web/ampstat.html: $(addprefix $(WEB_DIR)/,index.html app.js style.css bundle.mjs) \
		$(B)/web/node_modules/.package-lock.json
	$(call msg,BUNDLE,$@)
	$(Q)node $(WEB_DIR)/bundle.mjs $(WEB_DIR) $(B)/web/node_modules $@

$(B)/ampstat_web.h: $(B)/web/ampstat.html
	$(call msg,XXD,$@)
	$(Q)cd $(B)/web && xxd -i -n ampstat_web_html ampstat.html | sed 's/^unsigned/static const unsigned/' > ../ampstat_web.h

$(B)/ampstat: $(B)/ampstat_web.h

# the rules of `ampstat profile`, without BPF, under the sanitizers
$(B)/tests/pcat_unit: tests/unit/pcat_unit.c user/ampstat/pcat.c user/ampstat/pcat.h \
		tests/unit/tap.h | $(B)/tests
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) -Itests/unit -o $@ $(filter %.c,$^)

BINS += $(B)/tests/pcat_unit
