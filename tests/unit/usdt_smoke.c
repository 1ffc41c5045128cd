/* usdt_smoke — attaches bpf/usdt_smoke.bpf.c to a running amped's
 * request_done USDT probe, makes requests with curl, and checks the counts.
 * usage: usdt_smoke AMPED_BINARY PID URL
 * Exit 0 all passed, 1 a check failed.  Skipped without BPF unless
 * AMPED_REQUIRE_BPF=1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "tap.h"
#include "usdt_smoke.skel.h"

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !getenv("AMPED_BPF_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	const char *req = getenv("AMPED_REQUIRE_BPF");
	int require = req && strcmp(req, "1") == 0;
	struct usdt_smoke_bpf *skel = NULL;
	struct bpf_link *link = NULL;
	char cmd[1024];
	int err = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: usdt_smoke AMPED_BINARY PID URL\n");
		return 2;
	}
	libbpf_set_print(quiet_print);
	skel = usdt_smoke_bpf__open_and_load();
	if (!skel) {
		err = -errno;
		goto unavailable;
	}
	link = bpf_program__attach_usdt(skel->progs.on_request_done, atoi(argv[2]),
					argv[1], "amped", "request_done", NULL);
	if (!link) {
		err = -errno;
		goto unavailable;
	}
	ok(1, "attached to amped:request_done in %s (pid %s)", argv[1], argv[2]);

	/* 10 hits on an existing file, 3 misses */
	snprintf(cmd, sizeof(cmd),
		 "for i in 1 2 3 4 5 6 7 8 9 10; do curl -s -o /dev/null --max-time 5 '%sindex.html'; done;"
		 "for i in 1 2 3; do curl -s -o /dev/null --max-time 5 '%sno-such-file'; done", argv[3], argv[3]);
	ok(system(cmd) == 0, "curl requests ran");
	__u64 ok2 = skel->bss->done_by_class[2], c4 = skel->bss->done_by_class[4];
	ok(ok2 == 10, "request_done fired for each 2xx (%llu == 10)", (unsigned long long)ok2);
	ok(c4 == 3, "request_done fired for each 4xx (%llu == 3)", (unsigned long long)c4);
	ok(skel->bss->bad_args == 0, "probe arguments sane (bad=%llu)",
	   (unsigned long long)skel->bss->bad_args);
	ok(skel->bss->bytes_total > 0, "body bytes reported (%llu)",
	   (unsigned long long)skel->bss->bytes_total);
	bpf_link__destroy(link);
	usdt_smoke_bpf__destroy(skel);
	return done_testing();

unavailable:
	bpf_link__destroy(link);
	usdt_smoke_bpf__destroy(skel);
	if (require) {
		ok(0, "BPF required (AMPED_REQUIRE_BPF=1) but USDT attach failed: %s", strerror(-err));
		return done_testing();
	}
	printf("1..0 # SKIP BPF/USDT unavailable (%s)\n", strerror(-err));
	return 0;
}
