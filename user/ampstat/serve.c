/* serve — `ampstat serve`: the figures of `ampstat top` (per-role time in
 * each bucket, context switches, page-cache accesses and misses, the
 * machine-wide kernel work, requests, ampstat's own BPF cost) as a
 * Prometheus text exposition (format 0.0.4) at http://ADDR:PORT/metrics.
 *
 * Prometheus wants counters: each thread's state times (include/ampstat_sched.h)
 * are read at every scrape and every second, and what each thread gained
 * since its last reading is added to its role's totals, so a role's
 * counters only grow, also when threads exit or are renamed.  On-CPU time
 * is split into user and kernel by the thread's CPU-clock samples in that
 * stretch (with none, by all its samples so far; with none at all, kernel),
 * as top does.
 *
 * The HTTP server is deliberately tiny: one thread, poll(2), one request
 * per connection (Connection: close), GET /metrics and GET / only,
 * requests over 8 KiB or slower than 5 s are dropped.  It listens on a
 * loopback address only: the figures describe a process's behaviour and
 * are not for the network. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "amped_usdt.h"
#include "ampstat/cmd.h"
#include "ampstat/acct.h"
#include "ampstat/proc.h"
#include "ampstat/reqs.h"
#include "ampstat/roles.h"
#include "ampstat/sess.h"
#include "ampstat/trace.h"

#define MAX_TGIDS 1024
#define MAX_CLIENTS 16
#define REQ_MAX 8192
#define CLIENT_TIMEOUT_NS 5000000000ULL

struct client {
	int fd;
	size_t len;
	__u64 since_ns;
	char buf[REQ_MAX];
};

struct serve {
	struct sess *s;
	struct tr_opts to;
	struct sockaddr_storage ss;
	socklen_t sslen;
	const char *listen_spec;
	int lfd;
	struct client cl[MAX_CLIENTS];
	struct tr *tr;
	struct acct a;
	struct reqs req;
	__u64 requests;
	__u64 scrapes;
	struct tr_kern k0;
	__u64 t0;
};

/* ---------------------------------------------------------------- figures */

static void update(struct serve *s, bool baseline)
{
	pid_t tg[MAX_TGIDS];
	int n;

	acct_update(&s->a, baseline);
	n = tr_tgids(s->tr, tg, MAX_TGIDS);
	s->requests += reqs_read(&s->req, tg, n, baseline);
}

/* ---------------------------------------------------------------- exposition */

struct buf {
	char *p;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 16384;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return;
		b->p = q;
		b->cap = cap;
	}
}

/* a label value: backslash, double quote and newline escaped */
static void blabel(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			bprintf(b, "\\%c", *s);
		else if (*s == '\n')
			bprintf(b, "\\n");
		else
			bprintf(b, "%c", *s);
	}
}

static void expose(struct serve *s, struct buf *b)
{
	int nroles = s->a.nroles;
	const struct acct_sum *rt = s->a.role_tot;
	struct tr_prog now[SESS_PROG_MAX];
	int np = sess_progs(s->s, now, SESS_PROG_MAX);
	const struct tr_prog *p0 = s->s->p0;
	struct tr_drops dr;
	struct tr_kern k;

	tr_drops(s->tr, &dr);
	bprintf(b, "# HELP ampstat_target_info The process ampstat traces (with the processes it forks).\n"
		   "# TYPE ampstat_target_info gauge\nampstat_target_info{pid=\"%d\",comm=\"", (int)s->s->pid);
	blabel(b, s->s->comm);
	bprintf(b, "\"} 1\n");
	/* the instant the counters below were read: wall time for them */
	bprintf(b, "# HELP ampstat_trace_seconds Seconds since ampstat attached, when the figures "
		   "below were read.\n# TYPE ampstat_trace_seconds gauge\nampstat_trace_seconds %.9f\n",
		(double)(s->a.t_ns - s->t0) / 1e9);
	bprintf(b, "# HELP ampstat_role_threads Live threads of the role.\n# TYPE ampstat_role_threads gauge\n");
	for (int r = 0; r < nroles; r++)
		bprintf(b, "ampstat_role_threads{role=\"%s\"} %d\n", roles_name(r), acct_live(&s->a, r));
	bprintf(b, "# HELP ampstat_role_seconds_total Thread time of the role by bucket: user, kernel "
		   "(on CPU), blocked_io (D state), wait_idle (epoll_wait), wait_other (other sleeps), "
		   "runq (runnable, not running).  The buckets of a role sum to its threads' wall time.\n"
		   "# TYPE ampstat_role_seconds_total counter\n");
	/* six buckets here: steal time counts as kernel time (the web view
	 * will name its metrics anew) */
	for (int r = 0; r < nroles; r++)
		for (int k = 0; k < AB_STEAL; k++)
			bprintf(b, "ampstat_role_seconds_total{role=\"%s\",bucket=\"%s\"} %.9f\n", roles_name(r),
				acct_bucket_name[k],
				(double)(rt[r].ns[k] + (k == AB_KERNEL ? rt[r].ns[AB_STEAL] : 0)) / 1e9);
	bprintf(b, "# HELP ampstat_role_context_switches_total Context switches of the role's threads.\n"
		   "# TYPE ampstat_role_context_switches_total counter\n");
	for (int r = 0; r < nroles; r++) {
		bprintf(b, "ampstat_role_context_switches_total{role=\"%s\",kind=\"voluntary\"} %llu\n",
			roles_name(r), (unsigned long long)rt[r].nvcsw);
		bprintf(b, "ampstat_role_context_switches_total{role=\"%s\",kind=\"involuntary\"} %llu\n",
			roles_name(r), (unsigned long long)rt[r].nivcsw);
	}
	bprintf(b, "# HELP ampstat_role_cache_pages_total Page-cache pages the role's threads accessed "
		   "(read, sendfile, mmap) and missed (added to the cache).\n"
		   "# TYPE ampstat_role_cache_pages_total counter\n");
	for (int r = 0; r < nroles; r++) {
		bprintf(b, "ampstat_role_cache_pages_total{role=\"%s\",kind=\"access\"} %llu\n",
			roles_name(r), (unsigned long long)rt[r].cache_access);
		bprintf(b, "ampstat_role_cache_pages_total{role=\"%s\",kind=\"miss\"} %llu\n",
			roles_name(r), (unsigned long long)rt[r].cache_miss);
	}
	if (tr_kern(s->tr, &k) == 0) {
		__u64 sq[3] = { k.s.softirq_target - s->k0.s.softirq_target,
				k.s.softirq_kthread - s->k0.s.softirq_kthread,
				k.s.softirq_other - s->k0.s.softirq_other };
		static const char *sqn[3] = { "softirq_in_target", "softirq_in_kthreads", "softirq_elsewhere" };

		bprintf(b, "# HELP ampstat_kernel_seconds_total Kernel work of the whole machine (not "
			   "attributable to a process): on-CPU time of kernel threads by class, exact; "
			   "softirq time by whose context it ran in, from CPU-clock samples.\n"
			   "# TYPE ampstat_kernel_seconds_total counter\n");
		for (int i = 0; i < AK_N; i++)
			bprintf(b, "ampstat_kernel_seconds_total{class=\"%s\"} %.9f\n", tr_kclass_name[i],
				(double)(k.ns[i] - s->k0.ns[i]) / 1e9);
		for (int i = 0; i < 3; i++)
			bprintf(b, "ampstat_kernel_seconds_total{class=\"%s\"} %.9f\n", sqn[i],
				(double)sq[i] * (double)k.period_ns / 1e9);
	}
	if (s->req.known)
		bprintf(b, "# HELP ampstat_requests_total Requests the server finished (amped's "
			   "amped_current.requests_done).\n# TYPE ampstat_requests_total counter\n"
			   "ampstat_requests_total %llu\n", (unsigned long long)s->requests);
	bprintf(b, "# HELP ampstat_bpf_run_seconds_total Run time of ampstat's BPF programs (bpf_stats).\n"
		   "# TYPE ampstat_bpf_run_seconds_total counter\n");
	for (int i = 0; i < np && i < s->s->nprogs; i++)
		bprintf(b, "ampstat_bpf_run_seconds_total{prog=\"%s\"} %.9f\n", now[i].name,
			(double)(now[i].run_ns - p0[i].run_ns) / 1e9);
	bprintf(b, "# HELP ampstat_bpf_runs_total Runs of ampstat's BPF programs.\n"
		   "# TYPE ampstat_bpf_runs_total counter\n");
	for (int i = 0; i < np && i < s->s->nprogs; i++)
		bprintf(b, "ampstat_bpf_runs_total{prog=\"%s\"} %llu\n", now[i].name,
			(unsigned long long)(now[i].runs - p0[i].runs));
	bprintf(b, "# HELP ampstat_dropped_total Events ampstat lost (full maps, torn reads).\n"
		   "# TYPE ampstat_dropped_total counter\n"
		   "ampstat_dropped_total{what=\"threads\"} %llu\nampstat_dropped_total{what=\"tgids\"} %llu\n"
		   "ampstat_dropped_total{what=\"samples\"} %llu\nampstat_dropped_total{what=\"torn\"} %llu\n",
		(unsigned long long)dr.threads, (unsigned long long)dr.tgids, (unsigned long long)dr.samples,
		(unsigned long long)dr.torn);
	bprintf(b, "# HELP ampstat_scrapes_total Scrapes of /metrics served.\n"
		   "# TYPE ampstat_scrapes_total counter\nampstat_scrapes_total %llu\n",
		(unsigned long long)s->scrapes);
}

/* ---------------------------------------------------------------- http */

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void respond(int fd, const char *status, const char *type, const char *body, size_t len,
		    bool head)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, type, len);

	send_all(fd, hdr, (size_t)n);
	if (!head)
		send_all(fd, body, len);
}

/* 1 when the request is complete and answered, 0 when more is needed */
static int handle(struct serve *s, struct client *c)
{
	char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *sp, *path;
	bool head;

	if (!end)
		end = memmem(c->buf, c->len, "\n\n", 2);
	if (!end)
		return 0;
	*end = 0;
	head = !strncmp(c->buf, "HEAD ", 5);
	if (strncmp(c->buf, "GET ", 4) && !head) {
		respond(c->fd, "405 Method Not Allowed", "text/plain", "GET only\n", 9, false);
		return 1;
	}
	path = c->buf + (head ? 5 : 4);
	sp = strpbrk(path, " \r\n");
	if (sp)
		*sp = 0;
	if (!strcmp(path, "/metrics") || !strncmp(path, "/metrics?", 9)) {
		struct buf b = { 0 };

		update(s, false);
		s->scrapes++;
		expose(s, &b);
		if (b.p)
			respond(c->fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", b.p, b.len, head);
		else
			respond(c->fd, "500 Internal Server Error", "text/plain", "out of memory\n", 14, head);
		free(b.p);
	} else if (!strcmp(path, "/")) {
		static const char idx[] = "ampstat serve: the figures are at /metrics\n";
		respond(c->fd, "200 OK", "text/plain", idx, sizeof(idx) - 1, head);
	} else {
		respond(c->fd, "404 Not Found", "text/plain", "not found: try /metrics\n", 24, head);
	}
	return 1;
}

/* "127.0.0.1:9464", "localhost:9464", "[::1]:9464"; loopback only */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon;
	char *end;
	long port;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof(host))
			return -1;
		memcpy(host, spec + 1, (size_t)(rb - spec - 1));
		host[rb - spec - 1] = 0;
		colon = rb + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			return -1;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = 0;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
			return -2;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
			return -2;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampstat serve -p PID [--listen ADDR:PORT] [-d SEC] [-i SEC] [--role NAME=PAT]...\n"
"                     [--sample-hz N] [-v]\n"
"\n"
"Serves the figures of `ampstat top` in the Prometheus text format at\n"
"http://ADDR:PORT/metrics, for an existing Prometheus to scrape: per role\n"
"the seconds of thread time in user, kernel, blocked_io, wait_idle,\n"
"wait_other and runq (counters), live threads, context switches, the\n"
"server's requests, and ampstat's own BPF run time.  Loopback only.\n"
"\n"
"  -p, --pid PID          the server to trace (with its child processes)\n"
"  -l, --listen ADDR:PORT where to listen (default 127.0.0.1:9464; a\n"
"                         loopback address; port 0 picks a free one)\n"
"  -d, --duration SEC     stop after SEC seconds (default: Ctrl-C or exit)\n"
"  -i, --interval SEC     how often the counters take in the threads' time\n"
"                         besides every scrape (default 1)\n"
"      --role NAME=PAT    a role for the threads PAT matches, as in `top`\n"
"                         (thread name, cmd:, exe:, leader:, thread:)\n"
"      --sample-hz N      CPU-clock samples per second and CPU for the\n"
"                         user/kernel split (default 1999)\n"
"  -v, --verbose          libbpf debug output\n"
"\n"
"examples:\n"
"  ampstat serve -p $(pgrep -x amped)\n"
"  ampstat serve -p 1234 --listen 127.0.0.1:9464 &  curl -s 127.0.0.1:9464/metrics\n"
"  ampstat serve -p 1234 --listen [::1]:0 --role pool='thread:cmd:^myserver'\n"
"\n"
"Exit status: 0 ok (Ctrl-C, duration, or the target exited), 1 runtime error\n"
"(not root, no BTF, no such process, cannot listen), 2 usage error.\n");
}

static int option(struct sess *sess, void *ctx, int c, const char *arg)
{
	struct serve *s = ctx;
	long v;

	(void)sess;
	switch (c) {
	case 'l':
		s->listen_spec = arg;
		switch (parse_listen(arg, &s->ss, &s->sslen)) {
		case 0:
			return 0;
		case -2:
			fprintf(stderr, "ampstat: --listen %s: not a loopback address; ampstat serves "
					"127.0.0.0/8 or ::1 only\n", arg);
			return 2;
		default:
			fprintf(stderr, "ampstat: --listen wants ADDR:PORT, e.g. 127.0.0.1:9464, got '%s'\n",
				arg);
			return 2;
		}
	case 'r': return roles_add(arg) ? 2 : 0;
	case 's':
		if (!mode_parse_long(arg, &v) || v < 10 || v > 20000) {
			fprintf(stderr, "ampstat: --sample-hz must be 10-20000, got '%s'\n", arg);
			return 2;
		}
		s->to.sample_hz = (int)v;
		return 0;
	}
	return 2;
}

/* listens on s->ss; the address it got, as text, in addr */
static int listen_on(struct serve *s, char *addr, size_t n)
{
	char h[INET6_ADDRSTRLEN];
	int one = 1;

	s->lfd = socket(s->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s->lfd, (struct sockaddr *)&s->ss, s->sslen) || listen(s->lfd, 64)) {
		fprintf(stderr, "ampstat: listen on %s: %s\n", s->listen_spec, strerror(errno));
		return -1;
	}
	s->sslen = sizeof(s->ss);
	getsockname(s->lfd, (struct sockaddr *)&s->ss, &s->sslen);
	if (s->ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&s->ss;
		inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
		snprintf(addr, n, "%s:%u", h, ntohs(a->sin_port));
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&s->ss;
		inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
		snprintf(addr, n, "[%s]:%u", h, ntohs(a->sin6_port));
	}
	return 0;
}

static int start(struct sess *sess, void *ctx)
{
	struct serve *s = ctx;
	char addr[INET6_ADDRSTRLEN + 16];

	s->s = sess;
	if (listen_on(s, addr, sizeof(addr)))
		return 1;
	if (acct_open(&s->a, &s->tr, sess, &s->to))
		return 1;
	reqs_init(&s->req, sess->pid);
	update(s, true);
	s->t0 = s->a.t_ns;
	tr_kern(s->tr, &s->k0);
	fprintf(stderr, "ampstat: tracing pid %d (%s): serving http://%s/metrics; Ctrl-C to stop\n",
		(int)sess->pid, sess->comm, addr);
	return 0;
}

static const char *tick(struct sess *sess, void *ctx)
{
	(void)sess;
	update(ctx, false);
	return NULL;
}

static void accept_clients(struct serve *s)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), slot = -1;

		if (fd < 0)
			return;	/* EAGAIN: all taken; other errors: try at the next poll */
		for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
			if (s->cl[i].fd < 0)
				slot = i;
		if (slot < 0) {
			respond(fd, "503 Service Unavailable", "text/plain", "busy\n", 5, false);
			close(fd);
			continue;
		}
		s->cl[slot].fd = fd;
		s->cl[slot].len = 0;
		s->cl[slot].since_ns = mode_now_ns();
	}
}

static void read_client(struct serve *s, struct client *cc)
{
	ssize_t r = recv(cc->fd, cc->buf + cc->len, sizeof(cc->buf) - 1 - cc->len, 0);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0) {
		cc->len += (size_t)r;
		cc->buf[cc->len] = 0;
		if (!handle(s, cc) && cc->len < sizeof(cc->buf) - 1)
			return;
	}
	close(cc->fd);
	cc->fd = -1;
}

/* the HTTP side, between the session's ticks */
static int poll_http(struct sess *sess, void *ctx, int timeout_ms)
{
	struct serve *s = ctx;
	struct pollfd pf[MAX_CLIENTS + 1];
	int n = 0, idx[MAX_CLIENTS + 1];
	__u64 now = mode_now_ns();

	(void)sess;
	pf[n].fd = s->lfd;
	pf[n].events = POLLIN;
	idx[n++] = -1;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (s->cl[i].fd < 0)
			continue;
		if (now - s->cl[i].since_ns > CLIENT_TIMEOUT_NS) {
			close(s->cl[i].fd);
			s->cl[i].fd = -1;
			continue;
		}
		pf[n].fd = s->cl[i].fd;
		pf[n].events = POLLIN;
		idx[n++] = i;
	}
	if (poll(pf, (nfds_t)n, timeout_ms) <= 0)
		return 0;
	if (pf[0].revents & POLLIN)
		accept_clients(s);
	for (int k = 1; k < n; k++)
		if (pf[k].revents & (POLLIN | POLLHUP | POLLERR))
			read_client(s, &s->cl[idx[k]]);
	return 0;
}

static int stop(struct sess *sess, void *ctx, const char *why)
{
	struct serve *s = ctx;

	(void)sess;
	fprintf(stderr, "ampstat: serve ends (%s) after %llu scrapes\n", why, (unsigned long long)s->scrapes);
	return 0;
}

static void cleanup(struct sess *sess, void *ctx)
{
	struct serve *s = ctx;

	(void)sess;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (s->cl[i].fd >= 0)
			close(s->cl[i].fd);
	if (s->lfd >= 0)
		close(s->lfd);
	acct_free(&s->a);
	tr_close(s->tr);
}

int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "role", required_argument, NULL, 'r' },
		{ "sample-hz", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct sess_cmd cmd = {
		.name = "serve", .usage = usage, .shortopts = "l:", .longopts = longopts,
		.option = option, .flags = SESS_INTERVAL, .interval_s = 1, .interval_min_s = 0.05,
		.start = start, .tick = tick, .poll = poll_http, .stop = stop, .cleanup = cleanup,
	};
	static struct serve s;

	memset(&s, 0, sizeof(s));
	s.to = (struct tr_opts){ .sample_hz = 1999, .pin = false, .follow_forks = true };
	s.lfd = -1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		s.cl[i].fd = -1;
	s.listen_spec = "127.0.0.1:9464";
	parse_listen(s.listen_spec, &s.ss, &s.sslen);
	return sess_run(&cmd, &s, argc, argv);
}
