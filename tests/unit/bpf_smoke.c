/* bpf_smoke — loads build/smoke.skel.h, attaches tp_btf/sched_switch and
 * checks that the kernel counted this process's voluntary sleeps.
 * Exit: 0 all passed; 1 a check failed.  Without root or BPF the test is
 * skipped, unless AMPED_REQUIRE_BPF=1, when that is a failure (CI). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "tap.h"
#include "smoke.skel.h"

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !getenv("AMPED_BPF_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(void)
{
	const char *req = getenv("AMPED_REQUIRE_BPF");
	int require = req && strcmp(req, "1") == 0;
	struct smoke_bpf *skel = NULL;
	int err;

	libbpf_set_print(quiet_print);
	skel = smoke_bpf__open();
	if (!skel) {
		err = -errno;
		goto unavailable;
	}
	skel->rodata->target_tgid = (__u32)getpid();
	err = smoke_bpf__load(skel);
	if (err)
		goto unavailable;
	err = smoke_bpf__attach(skel);
	if (err)
		goto unavailable;
	ok(1, "smoke.bpf.o loaded and attached to tp_btf/sched_switch");

	for (int i = 0; i < 20; i++) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	__u64 sw = __atomic_load_n(&skel->bss->switches_out, __ATOMIC_RELAXED);
	__u64 sl = __atomic_load_n(&skel->bss->sleeps_out, __ATOMIC_RELAXED);
	ok(sw >= 20, "counted %llu switches out of this process (>= 20 sleeps)",
	   (unsigned long long)sw);
	ok(sl >= 20 && sl <= sw, "counted %llu interruptible sleeps (20 <= n <= %llu)",
	   (unsigned long long)sl, (unsigned long long)sw);
	smoke_bpf__destroy(skel);
	return done_testing();

unavailable:
	smoke_bpf__destroy(skel);
	if (require) {
		ok(0, "BPF required (AMPED_REQUIRE_BPF=1) but load failed: %s",
		   strerror(-err));
		return done_testing();
	}
	printf("1..0 # SKIP BPF unavailable (%s); run as root or set AMPED_REQUIRE_BPF=1 to fail\n",
	       strerror(-err));
	return 0;
}
