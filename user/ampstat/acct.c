/* acct — see acct.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ampstat/acct.h"
#include "ampstat/mode.h"
#include "ampstat/roles.h"
#include "ampstat/sess.h"

const char *const acct_bucket_name[AB_N] = { "user", "kernel", "blocked_io", "wait_idle",
					     "wait_other", "runq", "steal" };

static __u64 sub0(__u64 a, __u64 b)
{
	return a > b ? a - b : 0;
}

int acct_init(struct acct *a, struct tr *tr)
{
	memset(a, 0, sizeof(*a));
	a->tr = tr;
	a->nroles = roles_count();
	a->role_d = calloc((size_t)a->nroles, sizeof(*a->role_d));
	a->role_tot = calloc((size_t)a->nroles, sizeof(*a->role_tot));
	a->role_live = calloc((size_t)a->nroles, sizeof(*a->role_live));
	return a->role_d && a->role_tot && a->role_live ? 0 : -ENOMEM;
}

int acct_open(struct acct *a, struct tr **tr, struct sess *s, const struct tr_opts *o)
{
	char err[256] = "";

	if (tr_open(tr, s, o, err, sizeof(err))) {
		fprintf(stderr, "ampstat: %s\n", err);
		return 1;
	}
	if (acct_init(a, *tr)) {
		fprintf(stderr, "ampstat: out of memory\n");
		return 1;
	}
	/* the programs are attached: forks from now on are followed in the
	 * kernel, so this scan of the children misses nothing */
	mode_targets_children(&s->mt, s->pid);
	if (tr_seed(*tr) < 0) {
		fprintf(stderr, "ampstat: seeding thread states (iter/task): %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

static void collect(void *ctx, const struct ampstat_thread *t, const struct ampstat_samples *s)
{
	struct acct *a = ctx;

	if (a->nsnap == a->snapcap) {
		int n = a->snapcap ? a->snapcap * 2 : 256;
		struct ampstat_thread *x = realloc(a->snap, (size_t)n * sizeof(*x));
		struct ampstat_samples *y;

		if (!x)
			return;
		a->snap = x;
		y = realloc(a->ssnap, (size_t)n * sizeof(*y));
		if (!y)
			return;
		a->ssnap = y;
		a->snapcap = n;
	}
	a->snap[a->nsnap] = *t;
	a->ssnap[a->nsnap++] = *s;
}

static struct acct_thread *find_thr(struct acct *a, __u32 tid, __u64 start_ns)
{
	struct acct_thread *u;

	for (int i = 0; i < a->nth; i++)
		if (a->th[i].tid == tid && a->th[i].start_ns == start_ns)
			return &a->th[i];
	if (a->nth == a->cap) {
		int n = a->cap ? a->cap * 2 : 64;
		struct acct_thread *x = realloc(a->th, (size_t)n * sizeof(*x));

		if (!x)
			return NULL;
		a->th = x;
		a->cap = n;
	}
	u = &a->th[a->nth++];
	memset(u, 0, sizeof(*u));
	u->tid = tid;
	u->start_ns = start_ns;
	u->last_t = start_ns;
	u->sc_fd = -1;
	return u;
}

static void add_sum(struct acct_sum *a, const struct acct_sum *b)
{
	a->wall_ns += b->wall_ns;
	for (int i = 0; i < AB_N; i++)
		a->ns[i] += b->ns[i];
	a->nvcsw += b->nvcsw;
	a->nivcsw += b->nivcsw;
	a->cache_access += b->cache_access;
	a->cache_miss += b->cache_miss;
	a->syscalls += b->syscalls;
}

/* the stretch (u->last_t, teff] of one thread, from its cumulative
 * state times cum and samples s */
static void stretch(struct acct_thread *u, const struct ampstat_thread *t,
		    const struct ampstat_samples *s, const __u64 *cum, __u64 teff)
{
	struct acct_sum *d = &u->d;
	__u64 dsu = sub0(s->user, u->prev_su), dsk = sub0(s->kernel, u->prev_sk);
	__u64 on = sub0(cum[AS_ONCPU], u->prev[AS_ONCPU]);

	d->threads = 1;
	d->wall_ns = teff - u->last_t;
	d->ns[AB_BLOCKED] = sub0(cum[AS_BLOCKED], u->prev[AS_BLOCKED]);
	d->ns[AB_IDLE] = sub0(cum[AS_WAIT_IDLE], u->prev[AS_WAIT_IDLE]);
	d->ns[AB_OTHER] = sub0(cum[AS_WAIT_OTHER], u->prev[AS_WAIT_OTHER]);
	d->ns[AB_RUNQ] = sub0(cum[AS_RUNQ], u->prev[AS_RUNQ]);
	d->ns[AB_STEAL] = sub0(cum[AS_STEAL], u->prev[AS_STEAL]);
	if (dsu + dsk == 0) {
		dsu = s->user;
		dsk = s->kernel;
	}
	d->ns[AB_USER] = dsu + dsk ? (__u64)((double)on * (double)dsu / (double)(dsu + dsk)) : 0;
	d->ns[AB_KERNEL] = on - d->ns[AB_USER];
	d->nvcsw = sub0(t->nvcsw, u->prev_nv);
	d->nivcsw = sub0(t->nivcsw, u->prev_niv);
	d->cache_access = sub0(s->cache_access, u->prev_ca);
	d->cache_miss = sub0(s->cache_miss, u->prev_cm);
	add_sum(&u->tot, d);
	u->tot.threads = 1;
}

/* field 1 (on CPU) and 2 (run-queue wait) of a thread's schedstat */
static int schedstat(__u32 tgid, __u32 tid, __u64 *run, __u64 *delay)
{
	char path[64];
	unsigned long long r, d;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%u/task/%u/schedstat", tgid, tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fscanf(f, "%llu %llu", &r, &d);
	fclose(f);
	if (n != 2)
		return -1;
	*run = r;
	*delay = d;
	return 0;
}

/* the kernel's figures for the stretch just accounted (acct.h) */
static void reference(struct acct_thread *u, const struct ampstat_thread *t, __u64 T, bool baseline)
{
	__u64 run, delay;
	bool had = u->ref_run || u->ref_delay;

	memset(&u->ref, 0, sizeof(u->ref));
	if (t->exit_ns || schedstat(t->tgid, t->tid, &run, &delay)) {
		u->ref_run = u->ref_delay = 0;
		return;
	}
	if (had && !baseline) {
		u->ref.ok = true;
		u->ref.skew_ns = mode_now_ns() - T;
		u->ref.run_ns = sub0(run, u->ref_run);
		u->ref.delay_ns = sub0(delay, u->ref_delay);
		if (t->state == AS_RUNQ && T > t->ts_ns)
			u->ref.runq_open_ns = T - t->ts_ns;
	}
	u->ref_run = run;
	u->ref_delay = delay;
}

static void one_thread(struct acct *a, const struct ampstat_thread *t,
		       const struct ampstat_samples *s, __u64 T, bool baseline)
{
	struct acct_thread *u = find_thr(a, t->tid, t->start_ns);
	__u64 cum[AMPSTAT_NSLOT], teff = t->exit_ns ? t->exit_ns : T;

	if (!u || u->dead)
		return;
	memcpy(cum, t->state_ns, sizeof(cum));
	if (teff > t->ts_ns && !t->exit_ns)
		cum[t->state & (AMPSTAT_NSLOT - 1)] += teff - t->ts_ns;
	u->tgid = t->tgid;
	u->unwoken = t->unwoken;
	u->seen = true;
	memcpy(u->comm, t->comm, sizeof(u->comm));
	u->comm[AMPSTAT_COMM_LEN - 1] = 0;
	u->role = roles_of_task((pid_t)u->tgid, (pid_t)u->tid, u->comm);
	if (!baseline && teff > u->last_t) {
		stretch(u, t, s, cum, teff);
		if (u->role >= 0 && u->role < a->nroles) {
			add_sum(&a->role_d[u->role], &u->d);
			a->role_d[u->role].threads++;
		}
	}
	memcpy(u->prev, cum, sizeof(cum));
	u->prev_su = s->user;
	u->prev_sk = s->kernel;
	u->prev_nv = t->nvcsw;
	u->prev_niv = t->nivcsw;
	u->prev_ca = s->cache_access;
	u->prev_cm = s->cache_miss;
	reference(u, t, T, baseline);
	if (teff > u->last_t)
		u->last_t = teff;
	if (t->exit_ns) {
		u->dead = true;
		tr_forget(a->tr, t->tid, t->start_ns);
	}
}

static void forget_dead(struct acct *a)
{
	int j = 0;

	if (a->nth <= ACCT_MAX_DEAD)
		return;
	for (int i = 0; i < a->nth; i++) {
		if (!a->th[i].dead)
			a->th[j++] = a->th[i];
		else if (a->th[i].sc_fd >= 0)
			close(a->th[i].sc_fd);
	}
	a->forgotten += a->nth - j;
	a->nth = j;
}

void acct_update(struct acct *a, bool baseline)
{
	__u64 T, t0 = mode_now_ns();

	a->nsnap = 0;
	tr_threads(a->tr, collect, a);
	/* T after the reads: every entry's open stretch is then extended to
	 * the same instant, and its states sum to T - start exactly */
	T = mode_now_ns();
	a->snap_ns = T - t0;
	memset(a->role_d, 0, (size_t)a->nroles * sizeof(*a->role_d));
	memset(a->role_live, 0, (size_t)a->nroles * sizeof(*a->role_live));
	for (int i = 0; i < a->nth; i++) {
		memset(&a->th[i].d, 0, sizeof(a->th[i].d));
		a->th[i].seen = false;
	}
	for (int i = 0; i < a->nsnap; i++)
		one_thread(a, &a->snap[i], &a->ssnap[i], T, baseline);
	for (int i = 0; i < a->nth; i++) {
		struct acct_thread *u = &a->th[i];

		if (u->dead || u->role < 0 || u->role >= a->nroles)
			continue;
		a->role_live[u->role] += u->seen;
		/* live threads with no stretch this time still count as threads */
		if (!u->d.threads && !baseline && u->last_t >= a->t_ns)
			a->role_d[u->role].threads++;
	}
	for (int r = 0; !baseline && r < a->nroles; r++) {
		int thr = a->role_tot[r].threads;

		add_sum(&a->role_tot[r], &a->role_d[r]);
		a->role_tot[r].threads = thr;
	}
	forget_dead(a);
	a->t_prev_ns = baseline ? T : a->t_ns;
	a->t_ns = T;
}

int acct_live(const struct acct *a, int role)
{
	return role >= 0 && role < a->nroles ? a->role_live[role] : 0;
}

int acct_role_threads(const struct acct *a, int role)
{
	int n = 0;

	for (int i = 0; i < a->nth; i++)
		n += a->th[i].role == role && a->th[i].tot.threads;
	return n;
}

double acct_hit_ratio(const struct acct_sum *s)
{
	if (!s->cache_access)
		return -1;
	return s->cache_miss >= s->cache_access ? 0.0
						: 1.0 - (double)s->cache_miss / (double)s->cache_access;
}

void acct_free(struct acct *a)
{
	if (!a)
		return;
	for (int i = 0; i < a->nth; i++)
		if (a->th[i].sc_fd >= 0)
			close(a->th[i].sc_fd);
	free(a->th);
	free(a->snap);
	free(a->ssnap);
	free(a->role_d);
	free(a->role_tot);
	free(a->role_live);
	memset(a, 0, sizeof(*a));
}
