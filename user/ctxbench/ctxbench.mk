# ctxbench — context-switch cost, for the lab (scripts/experiments/ctx-switch.sh).
BINS += $(B)/ctxbench

$(B)/ctxbench: user/ctxbench/ctxbench.c | $(B)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< -lpthread
