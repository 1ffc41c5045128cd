/* mstats — see mstats.h. */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include "ampstat/mode.h"
#include "ampstat/mstats.h"
#include "ampstat/proc.h"

/* Each field is one aligned 64-bit word written by one thread: a single
 * process_vm_readv sees each whole (not the struct as one snapshot). */
static int read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };

	return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -errno;
}

int mstats_read(struct mstats *m)
{
	struct amped_ult_stats u;
	struct amped_seda_stats s;
	int err = 0;

	if (m->ult_addr) {
		if (!(err = read_mem(m->pid, m->ult_addr, &u, sizeof(u)))) {
			m->ult_prev = m->ult;
			m->ult = u;
			/* ult_init sets the stack size before the first thread */
			m->ult_on = m->ult_on || u.stack_bytes;
		}
	}
	if (m->seda_addr && !err) {
		if (!(err = read_mem(m->pid, m->seda_addr, &s, sizeof(s)))) {
			m->seda_prev = m->seda;
			m->seda = s;
			m->seda_on = m->seda_on || s.stage[0].threads;
		}
	}
	return err;
}

void mstats_init(struct mstats *m, pid_t pid)
{
	memset(m, 0, sizeof(*m));
	m->pid = pid;
	if (proc_sym_addr(pid, "amped_ult", &m->ult_addr))
		m->ult_addr = 0;
	if (proc_sym_addr(pid, "amped_seda", &m->seda_addr))
		m->seda_addr = 0;
	(void)mstats_read(m);
	m->ult0 = m->ult_prev = m->ult;
	m->seda0 = m->seda_prev = m->seda;
}

static unsigned long long d64(unsigned long long a, unsigned long long b)
{
	return a > b ? a - b : 0;
}

static double per_s(unsigned long long n, double dt_s)
{
	return dt_s > 0 ? (double)n / dt_s : 0.0;
}

static void print_ult(FILE *f, const struct amped_ult_stats *a, const struct amped_ult_stats *b,
		      double dt_s, uint64_t requests, bool json)
{
	unsigned long long sw = d64(b->switches, a->switches), cr = d64(b->created, a->created),
			   pf = d64(b->parks_fd, a->parks_fd), pj = d64(b->parks_job, a->parks_job);

	if (json) {
		fprintf(f, ",\"ult\":{\"switches\":%llu,\"switches_per_s\":%.1f,\"switches_per_request\":", sw,
			per_s(sw, dt_s));
		if (requests)
			fprintf(f, "%.2f", (double)sw / (double)requests);
		else
			fprintf(f, "null");
		fprintf(f, ",\"live\":%llu,\"created_per_s\":%.1f,\"parks_fd_per_s\":%.1f,"
			   "\"parks_job_per_s\":%.1f,\"stacks_mapped\":%llu,\"stack_bytes\":%llu,"
			   "\"switch\":\"%s\"}", b->live, per_s(cr, dt_s), per_s(pf, dt_s), per_s(pj, dt_s),
			b->stacks_mapped, b->stack_bytes, b->switch_asm ? "asm" : "ucontext");
		return;
	}
	fprintf(f, "ult: user-level switches/s %.0f", per_s(sw, dt_s));
	if (requests)
		fprintf(f, " (%.1f per request)", (double)sw / (double)requests);
	fprintf(f, "  threads live %llu, created/s %.0f  parks/s: on a socket %.0f, on a helper %.0f"
		   "  (%s switch, %llu KiB stacks)\n", b->live, per_s(cr, dt_s), per_s(pf, dt_s),
		per_s(pj, dt_s), b->switch_asm ? "asm" : "ucontext", b->stack_bytes / 1024);
}

static void print_seda(FILE *f, const struct amped_seda_stats *a, const struct amped_seda_stats *b,
		       double dt_s, bool json)
{
	if (json)
		fprintf(f, ",\"seda\":{\"stages\":[");
	else
		fprintf(f, "seda stages  %4s %6s %6s %9s %7s %10s %6s\n", "THR", "QUEUE", "CAP", "ITEMS/s",
			"REJ/s", "SERVICE", "BUSY");
	for (int i = 0; i < AMPED_SEDA_STAGES; i++) {
		const struct amped_stage_stats *x = &a->stage[i], *y = &b->stage[i];
		unsigned long long items = d64(y->items, x->items), busy = d64(y->busy_ns, x->busy_ns),
				   rej = d64(y->rejected, x->rejected);
		char name[sizeof(y->name) + 1];

		memcpy(name, (const char *)y->name, sizeof(y->name));
		name[sizeof(y->name)] = 0;
		if (json) {
			fprintf(f, "%s{\"stage\":", i ? "," : "");
			mode_json_str(f, name);
			fprintf(f, ",\"threads\":%llu,\"queue_len\":%llu,\"queue_cap\":%llu,\"items_per_s\":%.1f,"
				   "\"rejected_per_s\":%.1f,\"service_ns\":", y->threads, y->queue_len,
				y->queue_cap, per_s(items, dt_s), per_s(rej, dt_s));
			if (items)
				fprintf(f, "%.0f", (double)busy / (double)items);
			else
				fprintf(f, "null");
			fprintf(f, ",\"busy_ratio\":%.4f}", dt_s > 0 ? (double)busy / (dt_s * 1e9) : 0.0);
			continue;
		}
		char cap[24], svc[24];

		if (y->queue_cap)
			snprintf(cap, sizeof(cap), "%llu", y->queue_cap);
		else
			snprintf(cap, sizeof(cap), "-");
		if (items)
			snprintf(svc, sizeof(svc), "%.1f us", (double)busy / (double)items / 1e3);
		else
			snprintf(svc, sizeof(svc), "-");
		/* BUSY: threads of the stage working on average (1 = one thread) */
		fprintf(f, "  %-10s %4llu %6llu %6s %9.0f %7.0f %10s %6.2f\n", name, y->threads, y->queue_len,
			cap, per_s(items, dt_s), per_s(rej, dt_s), svc,
			dt_s > 0 ? (double)busy / (dt_s * 1e9) : 0.0);
	}
	if (json)
		fprintf(f, "]}");
}

void mstats_print(FILE *f, const struct mstats *m, bool summary, double dt_s, uint64_t requests, bool json)
{
	if (m->ult_on)
		print_ult(f, summary ? &m->ult0 : &m->ult_prev, &m->ult, dt_s, requests, json);
	if (m->seda_on)
		print_seda(f, summary ? &m->seda0 : &m->seda_prev, &m->seda, dt_s, json);
}
