/* ampstat — live attribution of a server's time to its dispatcher, helpers
 * and the kernel, from eBPF programs (bpf/sched.bpf.c, bpf/oncpu.bpf.c).
 * Subcommands live in their own files (cmd.h). */
#include <stdio.h>
#include <string.h>
#include "ampstat/cmd.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat COMMAND [options]\n"
"\n"
"commands:\n"
"  top -p PID     where the server's time goes, per role, live\n"
"  latency -p PID  request latency: histogram, phases, off-CPU share\n"
"  blocked -p PID  every time the dispatcher blocked: stacks, request\n"
"  syscalls -p PID  system calls per role: counts, time, latency (opt-in)\n"
"  cache -p PID   page-cache accesses and misses per role and file\n"
"  serve -p PID   the top figures for Prometheus at /metrics\n"
"  profile -p PID  CPU samples per role by category (network, epoll, ...)\n"
"  offcpu -p PID  off-CPU stacks per role (--folded for flame graphs)\n"
"  handoff -p PID  hand-offs dispatcher -> helper -> dispatcher, by phase\n"
"\n"
"`ampstat COMMAND -h` describes a command.  Needs root.\n"
"\n"
"examples:\n"
"  ampstat top -p $(pgrep -x amped)\n"
"  ampstat top -p 1234 -n 5 --json\n"
"\n"
"Exit status: 0 ok, 1 runtime error, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "top"))
		return cmd_top(argc - 1, argv + 1);
	if (!strcmp(argv[1], "latency"))
		return cmd_latency(argc - 1, argv + 1);
	if (!strcmp(argv[1], "blocked"))
		return cmd_blocked(argc - 1, argv + 1);
	if (!strcmp(argv[1], "syscalls"))
		return cmd_syscalls(argc - 1, argv + 1);
	if (!strcmp(argv[1], "cache"))
		return cmd_cache(argc - 1, argv + 1);
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "profile"))
		return cmd_profile(argc - 1, argv + 1);
	if (!strcmp(argv[1], "offcpu"))
		return cmd_offcpu(argc - 1, argv + 1);
	if (!strcmp(argv[1], "handoff"))
		return cmd_handoff(argc - 1, argv + 1);
	fprintf(stderr, "ampstat: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
