# ampload — the load generator (issue 5), and the queueing test server its
# tests measure it against.  Included by the top-level Makefile.
AMPLOAD_SRC := $(wildcard user/ampload/*.c) user/lh.c $(AE_SRC)
AMPLOAD_HDR := $(wildcard user/ampload/*.h) user/lh.h include/lh_layout.h user/ae.h user/ae_backend.h

BINS += $(B)/ampload $(B)/asan/ampload $(B)/tests/qserver $(B)/tests/ampload_unit

$(B)/ampload: $(AMPLOAD_SRC) $(AMPLOAD_HDR) | $(B)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(AMPLOAD_SRC) -lpthread -lm

$(B)/asan/ampload: $(AMPLOAD_SRC) $(AMPLOAD_HDR) | $(B)/asan
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) -o $@ $(AMPLOAD_SRC) -lpthread -lm

$(B)/tests/qserver: tests/unit/qserver.c $(AE_SRC) user/ae.h user/ae_backend.h user/ampload/rng.h | $(B)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Iuser/ampload -o $@ tests/unit/qserver.c $(AE_SRC) -lm

# Unit tests of the response parser, histogram, Zipf choice, CLF parser
# and t quantiles: every module but main.c, under the sanitizers.
$(B)/tests/ampload_unit: tests/unit/ampload_unit.c $(filter-out user/ampload/main.c,$(AMPLOAD_SRC)) \
		$(AMPLOAD_HDR) tests/unit/tap.h | $(B)/tests
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) -Iuser/ampload -Itests/unit -o $@ \
		$(filter %.c,$^) -lpthread -lm
