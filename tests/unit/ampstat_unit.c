/* ampstat_unit — unit tests of ampstat's userspace modules that need no
 * BPF: roles (built-in names, --role priority, bad specs, selectors on
 * this process's title, executable and main thread) and proc (stat
 * parsing with awkward names, descendants, symbol address + counter read
 * in this very process), and the latency histogram as `ampstat latency`
 * reads it (bucket counts summed by bpf/latency.bpf.c with the layout of
 * include/lh_layout.h, turned into percentiles by user/lh.c).  TAP on
 * stdout; exit 0 iff all passed. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tap.h"
#include "lh.h"
#include "ampstat/proc.h"
#include "ampstat/roles.h"
#include "ampstat/usdt.h"

/* a data symbol of this executable, found through its ELF symtab */
__attribute__((used)) volatile uint64_t ampstat_unit_counter = 0x1234567890abcdefULL;

static int role_is(const char *comm, const char *want)
{
	return strcmp(roles_name(roles_of(comm)), want) == 0;
}

static int unit_first_site(const struct usdt_site *site, void *arg)
{
	*(struct usdt_site *)arg = *site;
	return 1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Requests' latencies with a long tail (10 us .. ~2 s), counted the way
 * the BPF program does (lh_index into a count array), read back with
 * lh_from_counts: every percentile within 1 % of the exact order statistic,
 * and a phase's percentiles never above the longest request. */
static void test_lat_hist(void)
{
	enum { N = 20000 };
	static uint64_t v[N], tot[LH_BUCKETS], phase[LH_BUCKETS];
	static struct lh h, hp;
	const double q[] = { 0.5, 0.9, 0.99, 0.999 };
	uint64_t x = 88172645463325252ULL, max = 0;
	double worst = 0;
	int above = 0;

	for (int i = 0; i < N; i++) {
		/* xorshift: fixed, so the run is the same every time */
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		double u = (double)(x >> 11) / 9007199254740992.0;
		v[i] = (uint64_t)(10000.0 / (1.0 - 0.9999 * u));	/* Pareto-like */
		tot[lh_index(v[i])]++;
		phase[lh_index(v[i] - v[i] / 100)]++;	/* a phase: nearly all of it */
		if (v[i] > max)
			max = v[i];
	}
	lh_from_counts(&h, tot, max);
	lh_from_counts(&hp, phase, max);
	qsort(v, N, sizeof(v[0]), cmp_u64);
	for (size_t k = 0; k < sizeof(q) / sizeof(q[0]); k++) {
		uint64_t exact = v[(size_t)(q[k] * N + 0.999999) - 1], got = lh_quantile_ns(&h, q[k]);
		double err = (double)(got > exact ? got - exact : exact - got) / (double)exact;
		if (err > worst)
			worst = err;
		diag("p%g: %llu ns (exact %llu)", q[k] * 100, (unsigned long long)got, (unsigned long long)exact);
	}
	ok(h.n == N, "latency histogram: %d requests counted", N);
	ok(worst <= 0.01, "latency histogram: p50..p99.9 within 1%% of the exact values (worst %.3f%%)",
	   100 * worst);
	for (double qq = 0.5; qq < 1; qq += 0.0001)
		if (lh_quantile_ns(&hp, qq) > max)
			above = 1;
	ok(!above, "latency histogram: a phase's percentiles never exceed the longest request");
}

int main(void)
{
	char comm[32];
	uint64_t addr = 0, v = 0;
	pid_t kids[8];
	int n, p[2];

	test_lat_hist();

	/* roles */
	ok(role_is("amped-disp", "dispatcher"), "amped-disp is the dispatcher");
	ok(role_is("amped-help-3", "helpers"), "amped-help-3 is a helper");
	ok(role_is("amped-work-12", "workers"), "amped-work-12 is a worker");
	ok(role_is("amped-boss", "boss"), "amped-boss is the boss");
	ok(role_is("iou-wrk-77", "iou-wrk"), "iou-wrk-77 is an io_uring worker");
	ok(role_is("amped-s-acc-0", "stage-acc") && role_is("amped-s-http-1", "stage-http") &&
	   role_is("amped-s-file-12", "stage-file"), "seda's threads are their stages");
	ok(role_is("amped-disp-0", "dispatcher") && role_is("amped-disp-17", "dispatcher"),
	   "amped-disp-N (--dispatchers) are dispatchers");
	ok(role_is("amped-disp-", "other") && role_is("amped-disp-1x", "other"),
	   "amped-disp- and amped-disp-1x are other");
	ok(role_is("amped-main", "supervisor"), "amped-main is the supervisor (symped, mp, hybrid)");
	ok(role_is("amped-dispx", "other"), "amped-dispx is other (anchored)");
	{
		struct roles_sum rs[ROLES_MAX];
		int nrs = 0;

		roles_sum_tid(rs, &nrs, getpid(), 1, 10);
		roles_sum_tid(rs, &nrs, getpid(), 2, 20);
		ok(nrs == 1 && rs[0].threads == 2 && rs[0].a == 3 && rs[0].b == 30 &&
		   !strcmp(roles_name(rs[0].role), "other"), "roles_sum_tid sums a thread's figures in its role's row");
	}
	ok(role_is("", "other"), "empty name is other");
	roles_free();
	ok(roles_add("noequals") != 0, "--role without = is refused");
	ok(roles_add("x=(") != 0, "--role with a bad regex is refused");
	ok(roles_add("=abc") != 0, "--role with an empty name is refused");
	ok(roles_add("front=^amped-d") == 0, "--role front=^amped-d accepted");
	ok(roles_add("nginx=^nginx$") == 0, "--role nginx=^nginx$ accepted");
	ok(role_is("amped-disp", "front"), "a --role is matched before the built-ins");
	ok(role_is("nginx", "nginx"), "second --role matches");
	ok(role_is("amped-help-0", "helpers"), "built-ins still apply after --roles");
	ok(roles_add("late=x") != 0, "roles cannot be added once in use");
	roles_free();

	/* selectors: this process is its own target */
	pid_t me = getpid();
	char cmd[256], exe[64];
	ok(proc_cmdline(me, cmd, sizeof(cmd)) == 0 && strstr(cmd, "ampstat_unit"), "title: '%s'", cmd);
	ok(proc_exe_name(me, exe, sizeof(exe)) == 0 && !strcmp(exe, "ampstat_unit"), "exe: '%s'", exe);
	ok(proc_cmdline(2, cmd, sizeof(cmd)) != 0, "a kernel thread has no title");
	ok(roles_add("x=bogus:y") == -EINVAL, "--role x=bogus:y: unknown selector refused");
	ok(roles_add("x=cmd:") == -EINVAL, "--role x=cmd: without a regex refused");
	ok(roles_add("x=leader:thread:") == -EINVAL, "--role x=leader:thread: refused");
	ok(roles_add("x=cmd:(") == -EINVAL, "--role x=cmd:( bad regex refused");
	ok(roles_add("main=leader:cmd:ampstat_unit") == 0, "leader:cmd: accepted");
	ok(roles_add("pool=thread:exe:^ampstat_unit$") == 0, "thread:exe: accepted");
	ok(roles_add("odd=comm:a:b") == 0, "comm: for a name holding ':'");
	ok(roles_add("odd=^z:") == 0, "a regex not starting with a-z: is a name pattern");
	ok(roles_add("any=thread:") == 0, "thread: alone accepted");
	ok(roles_target(me) == NULL, "no built-in profile for ampstat_unit");
	ok(roles_count() == 4 + 9 + 1, "roles: 4 named, 9 built-in, other (%d)", roles_count());
	ok(!strcmp(roles_name(roles_of_task(me, me, "whatever")), "main"), "the leader is 'main'");
	ok(!strcmp(roles_name(roles_of_task(me, me + 1, "whatever")), "pool"), "a thread is 'pool'");
	ok(!strcmp(roles_name(roles_of_task(me, me + 1, "amped-disp")), "pool"), "rules before built-ins");
	ok(!strcmp(roles_name(roles_of("whatever")), "other"), "by name alone, selectors never match");
	ok(!strcmp(roles_name(roles_of("a:b")), "odd") && !strcmp(roles_name(roles_of("z:")), "odd"),
	   "two rules, one role 'odd'");
	ok(!strcmp(roles_name(roles_of("amped-disp")), "dispatcher"), "built-ins by name alone");
	roles_free();
	ok(roles_add("w=thread:cmd:^nomatch") == 0 && !strcmp(roles_name(roles_of_task(me, me + 1, "")), "other"),
	   "a title that does not match: other");
	roles_free();
	for (n = 0; n < ROLES_MAX; n++) {
		char spec[32];
		snprintf(spec, sizeof(spec), "r%d=x", n);
		if (roles_add(spec))
			break;
	}
	ok(n > 0 && n < ROLES_MAX && roles_count() == n + 9 + 1 && roles_of("amped-boss") == n + 3,
	   "too many roles: refused at %d, built-ins still fit", n);
	roles_free();

	/* proc: a name with ") " in it must not confuse the stat parser */
	ok(proc_alive(getpid()), "this process is alive");
	prctl(PR_SET_NAME, "a) b (c");
	ok(proc_alive(getpid()), "alive with a name holding ') ('");
	ok(proc_comm(getpid(), comm, sizeof(comm)) == 0 && !strcmp(comm, "a) b (c"), "comm read back: '%s'", comm);
	ok(proc_tgid(getpid()) == getpid(), "a process is its own tgid");
	if (pipe(p))
		return 1;
	pid_t c = fork();
	if (c == 0) {
		char x;
		close(p[1]);
		(void)!read(p[0], &x, 1);	/* until the parent closes the pipe */
		_exit(0);
	}
	close(p[0]);
	n = proc_children(getpid(), kids, 8);
	ok(n == 1 && kids[0] == c, "proc_children finds the child (%d)", n);
	/* the child runs the same binary, as a forking server's workers do */
	ok(proc_find_exe("ampstat_unit") == getpid(), "proc_find_exe: the parent, not its child running the same binary");
	ok(proc_find_exe("no-such-binary-here") == 0, "proc_find_exe: 0 when nothing runs it");
	close(p[1]);
	waitpid(c, NULL, 0);
	ok(!proc_alive(c), "a reaped child is gone");
	ok(proc_sym_addr(getpid(), "ampstat_unit_counter", &addr) == 0 &&
	   addr == (uint64_t)(uintptr_t)&ampstat_unit_counter,
	   "symbol address from symtab + load bias is the real one");
	int rc = proc_read_u64(getpid(), addr, &v);
	ok(rc == 0 && v == ampstat_unit_counter, "counter read with process_vm_readv: %#llx",
	   (unsigned long long)v);
	ok(proc_sym_addr(getpid(), "no_such_symbol_here", &addr) == -ENOENT, "missing symbol: -ENOENT");
	{
		char pf[] = "/tmp/ampstat_unit_pidXXXXXX";
		int fd = mkstemp(pf);
		static const struct { const char *text; pid_t want; } cases[] = {
			{ "1234\n", 1234 }, { "1234", 1234 }, { "", -EINVAL }, { "abc\n", -EINVAL },
			{ "12 34\n", -EINVAL }, { "-5\n", -EINVAL }, { "0\n", -EINVAL }, { "1234\n\n", -EINVAL },
		};
		ok(fd >= 0, "a temporary pid file");
		close(fd);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			FILE *f = fopen(pf, "w");
			if (f) {
				fputs(cases[i].text, f);
				fclose(f);
			}
			pid_t got = proc_read_pidfile(pf);
			ok(got == cases[i].want, "proc_read_pidfile('%.*s'): %d", (int)strcspn(cases[i].text, "\n"),
			   cases[i].text, (int)got);
		}
		unlink(pf);
		ok(proc_read_pidfile(pf) == -ENOENT, "proc_read_pidfile: no file: -ENOENT");
	}

	/* usdt: argument registers, and the probes of the amped next to us */
	int bytes = 0;
	ok(usdt_arg_reg("-4@%esi 8@%rdi 8@-8(%rbp) 8@%r15", 1, &bytes) == 13 && bytes == 4,
	   "usdt_arg_reg: -4@%%esi is si (13), 4 bytes");
	ok(usdt_arg_reg("-4@%esi 8@%rdi 8@-8(%rbp) 8@%r15", 2, &bytes) == 14 && bytes == 8,
	   "usdt_arg_reg: 8@%%rdi is di (14), 8 bytes");
	ok(usdt_arg_reg("-4@%esi 8@%rdi 8@-8(%rbp) 8@%r15", 3, NULL) == -1,
	   "usdt_arg_reg: a memory operand is no register");
	ok(usdt_arg_reg("-4@%esi 8@%rdi 8@-8(%rbp) 8@%r15", 4, NULL) == 0,
	   "usdt_arg_reg: r15 is 0");
	ok(usdt_arg_reg("8@%rdi", 2, NULL) == -1, "usdt_arg_reg: no such argument");
	{
		struct usdt_site first = { 0 };
		int n = usdt_sites("build/amped", "amped", "request_done", unit_first_site, &first);
		ok(n >= 1 && first.off > 0, "usdt_sites: build/amped has amped:request_done (%d sites, "
		   "first at file offset %#zx)", n, first.off);
		ok(usdt_sites("build/amped", "amped", "no_such_probe", unit_first_site, &first) == 0,
		   "usdt_sites: no such probe, no site");
		ok(usdt_sites("/nonexistent", "amped", "request_done", unit_first_site, &first) == -1,
		   "usdt_sites: an unreadable file is -1");
	}
	return done_testing();
}
