/* roles — see roles.h. */
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "amped_names.h"
#include "ampstat/proc.h"
#include "ampstat/roles.h"

enum who { W_ANY, W_LEADER, W_THREAD };
enum src { S_NONE, S_COMM, S_CMD, S_EXE };

struct rule {
	int role;
	enum who who;
	enum src src;
	regex_t re;
	bool compiled;
};

#define PROFILE_RULES 4
struct profile {
	const char *name;	/* also the prefix of the executable's basename */
	const char *rules[PROFILE_RULES][2];
};

static const struct profile profiles[] = {
	{ "nginx", {
		{ "master", "leader:cmd:^nginx: master process" },
		{ "worker", "leader:cmd:^nginx: worker process" },
		{ "cache", "leader:cmd:^nginx: cache (manager|loader)" },
		{ "aio-threads", "thread:exe:^nginx" },
	} },
	{ "lighttpd", {
		{ "event-loop", "leader:exe:^lighttpd" },
	} },
};

static const char *builtin[][2] = {
	{ "dispatcher", "^" AMPED_COMM_DISP "(-[0-9]+)?$" },	/* one, or each of N */
	{ "helpers", "^" AMPED_COMM_HELP },
	{ "workers", "^" AMPED_COMM_WORK },
	{ "boss", "^" AMPED_COMM_BOSS "$" },
	{ "supervisor", "^" AMPED_COMM_MAIN "$" },	/* symped's, mp's, hybrid's parent */
	{ "iou-wrk", "^iou-wrk-" },
	{ "stage-acc", "^" AMPED_COMM_STAGE AMPED_STAGE_ACCEPT "-" },	/* seda's stages */
	{ "stage-http", "^" AMPED_COMM_STAGE AMPED_STAGE_HTTP "-" },
	{ "stage-file", "^" AMPED_COMM_STAGE AMPED_STAGE_FILE "-" },
};
#define NBUILTIN (int)(sizeof(builtin) / sizeof(builtin[0]))
#define BUILTIN_RULES (PROFILE_RULES + NBUILTIN)

static char names[ROLES_MAX][32];
static int nnames, other_idx;
static struct rule rules[ROLES_RULES_MAX];
static int nrules;			/* the --role rules first */
static const struct profile *prof;
static bool ready;

/* Process titles and executables by tgid: a small direct-mapped cache, so
 * a report over many threads reads /proc once per process. */
#define PC_SLOTS 256
#define PC_TTL_NS 200000000ULL
struct pcache {
	pid_t tgid;
	uint64_t read_ns;
	bool have_cmd, have_exe;
	char cmd[256];
	char exe[64];
};
static struct pcache *pc;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static const struct pcache *pc_get(pid_t tgid)
{
	struct pcache *e;
	uint64_t now = mono_ns();

	if (!pc && !(pc = calloc(PC_SLOTS, sizeof(*pc))))
		return NULL;
	e = &pc[(uint32_t)tgid % PC_SLOTS];
	if (e->tgid == tgid && e->read_ns && now - e->read_ns < PC_TTL_NS)
		return e;
	if (e->tgid != tgid) {
		e->tgid = tgid;
		e->have_cmd = e->have_exe = false;
	}
	/* nginx sets a worker's title just after the fork: read it again
	 * while the process lives; once gone, keep what was last seen */
	if (proc_cmdline(tgid, e->cmd, sizeof(e->cmd)) == 0)
		e->have_cmd = true;
	if (proc_exe_name(tgid, e->exe, sizeof(e->exe)) == 0)
		e->have_exe = true;
	e->read_ns = now;
	return e;
}

static int role_index(const char *name, size_t nlen)
{
	for (int i = 0; i < nnames; i++)
		if (strlen(names[i]) == nlen && !memcmp(names[i], name, nlen))
			return i;
	if (nnames == ROLES_MAX)
		return -ENOSPC;
	memcpy(names[nnames], name, nlen);
	names[nnames][nlen] = 0;
	return nnames++;
}

/* the selector before the first ':', if the text there is a-z only */
static int selector(const char *p, size_t *len)
{
	static const char *sel[] = { "comm", "cmd", "exe", "leader", "thread" };
	const char *c = strchr(p, ':');
	size_t n;

	if (!c || c == p)
		return -1;
	for (const char *q = p; q < c; q++)
		if (*q < 'a' || *q > 'z')
			return -1;
	n = (size_t)(c - p);
	*len = n + 1;
	for (int i = 0; i < (int)(sizeof(sel) / sizeof(sel[0])); i++)
		if (strlen(sel[i]) == n && !memcmp(sel[i], p, n))
			return i;
	return -2;
}

/* spec is NAME=PATTERN; label names it in messages */
static int compile(struct rule *r, const char *spec, const char *label)
{
	const char *eq = strchr(spec, '='), *p;
	size_t nlen, slen = 0;
	char msg[128];
	int e, idx;

	if (!eq) {
		fprintf(stderr, "ampstat: %s wants NAME=PATTERN, got '%s'\n", label, spec);
		return -EINVAL;
	}
	nlen = (size_t)(eq - spec);
	if (nlen == 0 || nlen >= sizeof(names[0])) {
		fprintf(stderr, "ampstat: %s %s: role name must be 1-%zu characters\n", label, spec,
			sizeof(names[0]) - 1);
		return -EINVAL;
	}
	memset(r, 0, sizeof(*r));
	p = eq + 1;
	for (;;) {
		int s = selector(p, &slen);

		if (s == -2) {
			fprintf(stderr, "ampstat: %s %s: unknown selector '%.*s' (known: comm: cmd: exe: "
					"leader: thread:; write comm:%s for a name pattern)\n",
				label, spec, (int)slen, p, p);
			return -EINVAL;
		}
		if (s == 3 || s == 4) {
			if (r->who != W_ANY) {
				fprintf(stderr, "ampstat: %s %s: leader: and thread: go once, before the "
						"pattern\n", label, spec);
				return -EINVAL;
			}
			r->who = s == 3 ? W_LEADER : W_THREAD;
			p += slen;
			continue;
		}
		if (s >= 0) {
			r->src = s == 0 ? S_COMM : s == 1 ? S_CMD : S_EXE;
			if (!p[slen]) {
				fprintf(stderr, "ampstat: %s %s: selector '%s' needs a regex\n", label, spec, p);
				return -EINVAL;
			}
			p += slen;
		} else {
			r->src = *p ? S_COMM : S_NONE;
		}
		break;
	}
	if (r->src == S_NONE && r->who == W_ANY) {
		fprintf(stderr, "ampstat: %s %s: empty pattern\n", label, spec);
		return -EINVAL;
	}
	if (r->src != S_NONE) {
		e = regcomp(&r->re, p, REG_EXTENDED | REG_NOSUB);
		if (e) {
			regerror(e, &r->re, msg, sizeof(msg));
			fprintf(stderr, "ampstat: %s %.*s: %s\n", label, (int)nlen, spec, msg);
			return -EINVAL;
		}
		r->compiled = true;
	}
	idx = role_index(spec, nlen);
	if (idx < 0) {
		if (r->compiled)
			regfree(&r->re);
		r->compiled = false;
		fprintf(stderr, "ampstat: at most %d roles\n", ROLES_MAX - 1);
		return idx;
	}
	r->role = idx;
	return 0;
}

/* built-ins after the user's rules: "NAME=PATTERN" from two strings */
static int add_builtin(const char *name, const char *pat)
{
	char spec[160];

	if (nrules == ROLES_RULES_MAX)
		return -ENOSPC;
	snprintf(spec, sizeof(spec), "%s=%s", name, pat);
	if (compile(&rules[nrules], spec, "built-in role"))
		return -EINVAL;
	nrules++;
	return 0;
}

/* roles_add leaves room for these, so they always fit */
static void init(void)
{
	if (ready)
		return;
	ready = true;
	for (int i = 0; prof && i < PROFILE_RULES && prof->rules[i][0]; i++)
		(void)add_builtin(prof->rules[i][0], prof->rules[i][1]);
	for (int i = 0; i < NBUILTIN; i++)
		(void)add_builtin(builtin[i][0], builtin[i][1]);
	other_idx = role_index("other", 5);
}

int roles_add(const char *spec)
{
	if (ready) {
		fprintf(stderr, "ampstat: roles must be added before use\n");
		return -EINVAL;
	}
	if (nrules == ROLES_RULES_MAX - BUILTIN_RULES || nnames == ROLES_MAX - BUILTIN_RULES - 1) {
		fprintf(stderr, "ampstat: --role %s: too many roles (at most %d)\n", spec,
			ROLES_MAX - BUILTIN_RULES - 1);
		return -ENOSPC;
	}
	if (compile(&rules[nrules], spec, "--role"))
		return -EINVAL;
	nrules++;
	return 0;
}

const char *roles_target(pid_t pid)
{
	char exe[64];

	if (ready || proc_exe_name(pid, exe, sizeof(exe)))
		return prof ? prof->name : NULL;
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (!strncmp(exe, profiles[i].name, strlen(profiles[i].name)))
			prof = &profiles[i];
	return prof ? prof->name : NULL;
}

static bool match(const struct rule *r, pid_t tgid, pid_t tid, const char *comm)
{
	const struct pcache *e;
	const char *s;

	if (r->who != W_ANY) {
		if (tgid <= 0)
			return false;
		if ((tid == tgid) != (r->who == W_LEADER))
			return false;
	}
	switch (r->src) {
	case S_NONE:
		return true;
	case S_COMM:
		s = comm;
		break;
	default:
		if (tgid <= 0 || !(e = pc_get(tgid)))
			return false;
		if (r->src == S_CMD ? !e->have_cmd : !e->have_exe)
			return false;
		s = r->src == S_CMD ? e->cmd : e->exe;
		break;
	}
	return regexec(&r->re, s, 0, NULL, 0) == 0;
}

int roles_of_task(pid_t tgid, pid_t tid, const char *comm)
{
	init();
	for (int i = 0; i < nrules; i++)
		if (match(&rules[i], tgid, tid, comm))
			return rules[i].role;
	return other_idx;
}

int roles_of(const char *comm)
{
	return roles_of_task(0, 0, comm);
}

/* tid -> role as last seen: open addressing on the tid, grown to at most
 * TS_MAX slots (a table kept at most half full); a reused tid overwrites
 * its slot. */
#define TS_MAX (1U << 17)
#define WATCH_NS 900000000ULL	/* "once a second" on a 0.5 s tick */
#define WATCH_TASKS 16384
struct tslot {
	pid_t tid;		/* 0: empty */
	pid_t tgid;
	int role;
};
static struct tslot *ts;
static uint32_t ts_cap, ts_used;
static uint64_t watch_ns;
static pid_t *watch_buf;

static struct tslot *ts_slot(struct tslot *tab, uint32_t cap, pid_t tid)
{
	uint32_t i = ((uint32_t)tid * 2654435761U) & (cap - 1);

	while (tab[i].tid && tab[i].tid != tid)
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static void ts_put(pid_t tgid, pid_t tid, int role)
{
	struct tslot *e;

	if (!ts || ((ts_used + 1) * 2 > ts_cap && ts_cap < TS_MAX)) {
		uint32_t cap = ts_cap ? ts_cap * 2 : 1024;
		struct tslot *n = calloc(cap, sizeof(*n));

		if (!n)
			return;
		for (uint32_t i = 0; i < ts_cap; i++)
			if (ts[i].tid)
				*ts_slot(n, cap, ts[i].tid) = ts[i];
		free(ts);
		ts = n;
		ts_cap = cap;
	}
	e = ts_slot(ts, ts_cap, tid);
	if (!e->tid) {
		if (ts_used + 1 >= ts_cap)	/* full at TS_MAX: keep one slot empty */
			return;
		ts_used++;
	}
	e->tid = tid;
	e->tgid = tgid;
	e->role = role;
}

void roles_watch(const pid_t *tgids, int n, bool now)
{
	uint64_t t = mono_ns();

	if (!now && watch_ns && t - watch_ns < WATCH_NS)
		return;
	watch_ns = t;
	init();
	if (!watch_buf && !(watch_buf = malloc(WATCH_TASKS * sizeof(*watch_buf))))
		return;
	for (int i = 0; i < n; i++) {
		int nt = proc_tasks(tgids[i], watch_buf, WATCH_TASKS);

		for (int j = 0; j < nt; j++) {
			char comm[32];

			if (proc_comm(watch_buf[j], comm, sizeof(comm)))
				continue;	/* exited meanwhile */
			ts_put(tgids[i], watch_buf[j], roles_of_task(tgids[i], watch_buf[j], comm));
		}
	}
}

int roles_of_thread(pid_t tgid, pid_t tid, const char *comm)
{
	const struct tslot *e;

	init();
	if (ts && tid > 0) {
		e = ts_slot(ts, ts_cap, tid);
		if (e->tid == tid && (tgid <= 0 || e->tgid == tgid))
			return e->role;
	}
	return tgid > 0 ? roles_of_task(tgid, tid, comm) : roles_of(comm);
}

void roles_sum_tid(struct roles_sum *rows, int *n, pid_t tid, uint64_t a, uint64_t b)
{
	char comm[32] = "";
	int role, i;

	if (proc_comm(tid, comm, sizeof(comm)))
		comm[0] = 0;
	role = roles_of_thread(0, tid, comm);
	for (i = 0; i < *n && rows[i].role != role; i++)
		;
	if (i == *n) {
		if (*n == ROLES_MAX)
			return;
		rows[(*n)++] = (struct roles_sum){ .role = role };
	}
	rows[i].threads++;
	rows[i].a += a;
	rows[i].b += b;
}

int roles_count(void)
{
	init();
	return nnames;
}

const char *roles_name(int i)
{
	init();
	return i >= 0 && i < nnames ? names[i] : "?";
}

void roles_free(void)
{
	for (int i = 0; i < ROLES_RULES_MAX; i++)
		if (rules[i].compiled) {
			regfree(&rules[i].re);
			rules[i].compiled = false;
		}
	nrules = nnames = other_idx = 0;
	prof = NULL;
	ready = false;
	free(pc);
	pc = NULL;
	free(ts);
	ts = NULL;
	ts_cap = ts_used = 0;
	watch_ns = 0;
	free(watch_buf);
	watch_buf = NULL;
}
