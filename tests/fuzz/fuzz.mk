# tests/fuzz — libFuzzer harnesses for the request parser and path decoding.
#   make fuzz                 run each harness FUZZ_SECONDS (default 60)
#   make fuzz FUZZ_SECONDS=600
# Binaries go to build/fuzz/; the growing corpus to build/fuzz/corpus-NAME
# (seeded from tests/fuzz/corpus/NAME, which stays small and checked in);
# crash inputs to build/fuzz/crash-NAME-*.  Needs clang's libFuzzer runtime
# (libclang-rt-14-dev).
.PHONY: fuzz

FUZZ_SECONDS ?= 60
FUZZ_NAMES   := request path
FUZZ_BINS    := $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_NAMES))
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer $(WARN) -std=gnu11 -D_GNU_SOURCE -Iuser

BINS += $(FUZZ_BINS)

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c user/http.c user/http.h
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^)

fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)
	$(Q)set -e; for n in $(FUZZ_NAMES); do \
		mkdir -p $(B)/fuzz/corpus-$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
		$(B)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-max_len=8192 -print_final_stats=1 -dict=tests/fuzz/http.dict \
			-artifact_prefix=$(B)/fuzz/crash-$$n- \
			$(B)/fuzz/corpus-$$n tests/fuzz/corpus/$$n 2>$(B)/fuzz/$$n.log || \
			{ tail -40 $(B)/fuzz/$$n.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' $(B)/fuzz/$$n.log; \
	done
