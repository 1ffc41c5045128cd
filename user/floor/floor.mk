# floor — the trivial fixed-response epoll server `make bench` measures
# every server against (scripts/lib-bench.sh).  Included by the Makefile.
BINS += $(B)/floor

$(B)/floor: user/floor/floor.c $(AE_SRC) user/ae.h user/ae_backend.h | $(B)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ user/floor/floor.c $(AE_SRC)
