/* engine — one event loop per thread (en_).
 *
 * Each thread owns its connections, its timers and its counters.  Time is
 * CLOCK_MONOTONIC in nanoseconds.  A request's latency runs from its
 * *intended* send time — the arrival instant drawn from the arrival process
 * (open, partly-open) or the end of the user's think time (closed) — to the
 * last byte of the response, so a server that stalls cannot make the
 * generator send less and hide the stall (no coordinated omission).
 *
 * Timers: the loop sleeps in epoll_wait on a timerfd armed (absolute,
 * CLOCK_MONOTONIC, no slack) a little before the next deadline and spins the
 * last EN_SPIN_NS, because a sleeping wake-up on this VM is tens of
 * microseconds late and the issue asks for ~100 us precision.  Arrivals and
 * the periodic tick are plain fields; only per-connection wake-ups (think
 * times) go through a heap.
 *
 * While requests are in flight the loop also polls (epoll_wait with a zero
 * timeout) for EN_IDLE_SPIN_NS (--idle-poll-us) after the last event before it sleeps, when
 * there are more CPUs than threads.  A generator that sleeps between
 * responses is woken by the server's CPU, which pays for it: on loopback
 * the server's send runs the client's TCP receive and its wake-up, an
 * inter-processor interrupt when the client sleeps.  Measured against
 * lighttpd on one CPU (closed loop, 50 connections): sleeping, ampload took
 * 0.1-0.3 such interrupts per request and ran at 0.96-0.97x wrk's rate
 * (median of paired rounds); polling, 0.002 and 1.03-1.2x.  The cost is
 * CPU time the generator's CPU had idle.  When another task competes for
 * that CPU a poller loses the wake-up priority a sleeper gets; telling
 * that apart from the kernel threads that preempt briefly anyway (a poller
 * is switched out involuntarily ~2 times per 10 ms on a quiet VM) did not
 * work out, so it is not tried.
 *
 * Who owns a connection: in the closed loop, a user (one each, kept for
 * the run, reopened if the server closes it); in the open loop, a shared
 * keep-alive pool — an arrival takes an idle connection or waits in a FIFO
 * for the first one ready while at most EN_CONNECTING new ones open (see
 * dispatch() and grow(); with --conn-per-request each arrival opens its
 * own); in the partly-open loop, a session, which opens its own
 * connection and says "Connection: close" on its last request.
 *
 * Random streams are per purpose and per user/session (rng_seed streams),
 * so with a fixed --seed the arrivals (times and, in the open loop, paths),
 * think times and session lengths do not depend on how events interleave. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "ae.h"
#include "amped_usdt.h"	/* AMPED_REQ_HEADER */
#include "ampload.h"
#include "rng.h"
#include "rp.h"

#define EN_SPIN_NS     50000u		/* spin this close to a deadline */
#define EN_TICK_NS     10000000u	/* timeouts and end-of-run checks */
#define EN_SCRATCH     65536u
#define EN_BACKLOG_MAX (1u << 20)	/* open loop: queued arrivals */
#define EN_ERR_PAUSE_NS 10000000u	/* a closed user's pause after an error */
#define EN_CONNECTING  16		/* connects in progress, per thread */
#define EN_IDLE_SPIN_NS 50000u		/* requests in flight: poll this long */

const char *const al_err_names[AL_E_COUNT] = {
	"refused", "reset", "timeout", "bad_status", "short_body",
	"bad_response", "connect", "overflow",
};

enum cstate { C_FREE, C_IDLE, C_PARKED, C_CONNECTING, C_SENDING, C_READING, C_THINKING };

/* A request that waits for a connection (open loop, pool exhausted). */
struct pend {
	uint64_t intended_ns;
	int32_t path;
	int32_t batch;		/* -1: not measured */
};

struct conn {
	struct en_thread *th;
	int fd;
	uint32_t idx;
	uint32_t gen;		/* invalidates stale wake-ups */
	int state;
	int has_req;
	int retried;
	int last_req;		/* partly-open: the session ends after this one */
	int growing;		/* connecting without a request (counted in connecting) */
	uint64_t reused;	/* responses received on this fd */
	struct pend req;
	uint64_t issue_ns, connect_start_ns, send_ns, first_ns;
	uint64_t think_start_ns, think_drawn_ns;
	size_t wlen, woff;
	const char *wdata;	/* the request: wbuf, or the thread's fixed one */
	char *wbuf;
	struct rng srng;	/* the user's / session's own stream */
	struct rp rp;
};

struct wake {
	uint64_t at_ns;
	uint32_t idx, gen;
};

struct en_thread {
	const struct al_config *cfg;
	int id;
	uint64_t req_seq;	/* --req-id: requests named so far */
	struct ae_loop *loop;
	int tfd;
	uint64_t armed_ns;
	/* The clock as of the event being handled: read once per loop turn,
	 * per read of a response and per finished connect, and used for the
	 * send, issue and finish times in between (one clock read per
	 * request in a closed loop, not four). */
	uint64_t now;
	uint64_t last_io_ns;	/* the last poll that returned events */
	uint64_t spin_ns;	/* poll this long before sleeping (0: never) */
	uint64_t t0_ns, t_meas_ns, t_end_ns, drain_ns, next_tick_ns, next_arrival_ns;
	int generating, arrivals;
	uint64_t quota, issued_measured;
	uint64_t session_seq;
	uint64_t prev_at_ns, prev_sent_ns;	/* last measured arrival */
	size_t trace_pos;
	double mean_gap_ns;	/* this thread's share of the arrival process */

	struct conn **conns;
	size_t nconns, maxconns;
	uint32_t *idle, *freel;
	size_t nidle, nfree;
	int active;		/* connections with a request in flight */
	int connecting;		/* connections opening without a request */

	struct pend *bl;
	size_t bl_head, bl_len, bl_cap;

	struct wake *heap;
	size_t nheap, capheap;

	struct rng arr_rng, path_rng;
	size_t req_max;
	char *fixed;		/* the request for the URL alone, built once */
	size_t fixed_len;
	char *scratch;
	struct al_stats st;
	char err[256];
};

static void on_conn(struct ae_loop *loop, int fd, void *data, int mask);
static void issue(struct en_thread *t, struct conn *c);
static void finish(struct en_thread *t, struct conn *c, int err_kind);

uint64_t al_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ wake heap */
static int heap_push(struct en_thread *t, uint64_t at, uint32_t idx, uint32_t gen)
{
	size_t i;

	if (t->nheap == t->capheap) {
		size_t cap = t->capheap ? 2 * t->capheap : 256;
		struct wake *h = realloc(t->heap, cap * sizeof(*h));
		if (!h)
			return -1;
		t->heap = h;
		t->capheap = cap;
	}
	i = t->nheap++;
	while (i > 0 && t->heap[(i - 1) / 2].at_ns > at) {
		t->heap[i] = t->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	t->heap[i] = (struct wake){ at, idx, gen };
	return 0;
}

static struct wake heap_pop(struct en_thread *t)
{
	struct wake top = t->heap[0], last = t->heap[--t->nheap];
	size_t i = 0, n = t->nheap;

	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && t->heap[l].at_ns < last.at_ns)
			m = l;
		if (l + 1 < n && t->heap[l + 1].at_ns < (m == i ? last.at_ns : t->heap[m].at_ns))
			m = l + 1;
		if (m == i)
			break;
		t->heap[i] = t->heap[m];
		i = m;
	}
	if (n)
		t->heap[i] = last;
	return top;
}

/* ------------------------------------------------------------ statistics */
static struct al_second *second(struct en_thread *t, uint64_t now)
{
	size_t s;

	if (now < t->t0_ns)
		return NULL;	/* before the start (connections opened ahead) */
	s = (size_t)((now - t->t0_ns) / 1000000000u);

	if (s >= t->st.nsec) {
		size_t n = t->st.nsec ? t->st.nsec : 64;
		struct al_second *p;
		while (n <= s)
			n *= 2;
		p = realloc(t->st.sec, n * sizeof(*p));
		if (!p)
			return NULL;
		memset(p + t->st.nsec, 0, (n - t->st.nsec) * sizeof(*p));
		t->st.sec = p;
		t->st.nsec = n;
	}
	return &t->st.sec[s];
}

/* Is a request intended at `at` part of the measurement, and in which
 * batch?  Returns the batch (>= 0) or -1 (warm-up).  Also ends generation
 * when the request quota is used up. */
static int32_t classify(struct en_thread *t, uint64_t at)
{
	const struct al_config *cfg = t->cfg;
	int32_t b;

	if (at < t->t_meas_ns)
		return -1;
	if (t->t_end_ns)
		b = (int32_t)((double)(at - t->t_meas_ns) * cfg->batches /
			      (double)(t->t_end_ns - t->t_meas_ns));
	else
		b = (int32_t)(t->issued_measured * (uint64_t)cfg->batches / t->quota);
	if (b >= cfg->batches)
		b = cfg->batches - 1;
	t->issued_measured++;
	t->st.sent++;
	if (!t->st.first_ns || at < t->st.first_ns)
		t->st.first_ns = at;
	return b;
}

static void stop_generating(struct en_thread *t, uint64_t now)
{
	if (!t->generating)
		return;
	t->generating = 0;
	t->drain_ns = now + (uint64_t)(t->cfg->timeout_ms * 1e6);
}

/* May another request be generated?  Checked before each one. */
static int may_generate(struct en_thread *t, uint64_t at)
{
	if (!t->generating)
		return 0;
	if (t->t_end_ns && at >= t->t_end_ns) {
		stop_generating(t, al_now_ns());
		return 0;
	}
	if (t->quota && at >= t->t_meas_ns && t->issued_measured >= t->quota) {
		stop_generating(t, al_now_ns());
		return 0;
	}
	return 1;
}

static void count_error(struct en_thread *t, struct conn *c, int kind, uint64_t now)
{
	struct al_second *s = second(t, now);

	if (s)
		s->errors++;
	if (c ? c->req.batch < 0 : now < t->t_meas_ns)
		return;
	t->st.errors[kind]++;
}

/* ------------------------------------------------------------ connections */
static struct conn *conn_new(struct en_thread *t)
{
	struct conn *c;

	if (t->nconns >= t->maxconns)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->wbuf = malloc(t->req_max);
	if (!c->wbuf) {
		free(c);
		return NULL;
	}
	c->th = t;
	c->fd = -1;
	c->idx = (uint32_t)t->nconns;
	c->state = C_FREE;
	t->conns[t->nconns++] = c;
	return c;
}

static void conn_close(struct en_thread *t, struct conn *c)
{
	if (c->fd >= 0) {
		ae_forget(t->loop, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	c->reused = 0;
}

/* Start a non-blocking connect.  0: started (or done), -1: failed at once
 * (the caller has been told through finish()). */
static int conn_open(struct en_thread *t, struct conn *c)
{
	const struct al_config *cfg = t->cfg;
	int one = 1, fd, kind;

	c->connect_start_ns = al_now_ns();
	fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		kind = AL_E_CONNECT;
		goto fail;
	}
	/* Requests are single small writes: do not let Nagle hold them. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->reused = 0;
	if (connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) < 0 &&
	    errno != EINPROGRESS) {
		kind = errno == ECONNREFUSED ? AL_E_REFUSED : AL_E_CONNECT;
		goto fail;
	}
	c->state = C_CONNECTING;
	if (ae_set(t->loop, fd, AE_WRITABLE, on_conn, c) < 0) {
		kind = AL_E_CONNECT;
		goto fail;
	}
	t->st.conns_opened++;
	return 0;
fail:
	finish(t, c, kind);
	return -1;
}

static void build_request(struct en_thread *t, struct conn *c)
{
	const struct al_config *cfg = t->cfg;
	const char *pre = cfg->base_path, *path = "";
	char id[64] = "";
	int n;

	/* Most runs send one URL: no formatting per request. */
	if (c->req.path < 0 && !c->last_req && t->fixed && !cfg->req_id) {
		c->wdata = t->fixed;
		c->wlen = t->fixed_len;
		c->woff = 0;
		return;
	}
	c->wdata = c->wbuf;
	if (c->req.path >= 0 && cfg->tr) {
		pre = "";
		path = cfg->tr->paths[c->req.path];
	} else if (c->req.path >= 0 && cfg->fs) {
		path = cfg->fs->path[c->req.path];
	}
	if (cfg->req_id)
		snprintf(id, sizeof(id), AMPED_REQ_HEADER ": %llu\r\n",
			 ((unsigned long long)(t->id + 1) << 40) + ++t->req_seq);
	n = snprintf(c->wbuf, t->req_max, "%s %s%s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n",
		     cfg->head ? "HEAD" : "GET", pre, path, cfg->hostport,
		     cfg->conn_per_request || c->last_req ? "Connection: close\r\n" : "",
		     id, cfg->extra_headers);
	c->wlen = n < 0 ? 0 : (size_t)n >= t->req_max ? t->req_max - 1 : (size_t)n;
	c->woff = 0;
}

static void conn_send(struct en_thread *t, struct conn *c)
{
	ssize_t n;

	if (!c->send_ns)
		c->send_ns = t->now;
	while (c->woff < c->wlen) {
		n = send(c->fd, c->wdata + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (n > 0) {
			c->woff += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* try again when writable; not an error */
			c->state = C_SENDING;
			if (ae_set(t->loop, c->fd, AE_WRITABLE, on_conn, c) < 0)
				finish(t, c, AL_E_CONNECT);
			return;
		}
		/* A kept-alive connection the server closed while idle:
		 * resend once on a fresh one, like a browser would. */
		if (c->reused && !c->retried) {
			c->retried = 1;
			conn_close(t, c);
			c->send_ns = 0;
			conn_open(t, c);
			return;
		}
		finish(t, c, AL_E_RESET);
		return;
	}
	c->state = C_READING;
	/* Connections stay registered for reading between requests, so this
	 * costs an epoll_ctl only after a connect or a partial write. */
	if (ae_mask(t->loop, c->fd) != AE_READABLE &&
	    ae_set(t->loop, c->fd, AE_READABLE, on_conn, c) < 0)
		finish(t, c, AL_E_CONNECT);
}

static void record(struct en_thread *t, struct conn *c, uint64_t now)
{
	const struct al_config *cfg = t->cfg;
	struct al_second *s = second(t, now);
	uint64_t lat = now - c->req.intended_ns;
	int st = c->rp.status / 100;

	if (s) {
		s->done++;
		s->body_bytes += c->rp.body_bytes;
		s->lat_sum_ns += (double)lat;
		if (lat > s->lat_max_ns)
			s->lat_max_ns = lat;
	}
	if (c->req.batch < 0) {
		t->st.warmup_done++;
		return;
	}
	t->st.done++;
	if (!t->t_end_ns || now < t->t_end_ns)
		t->st.done_in_window++;
	lh_record(&t->st.lat, lat);
	lh_record(&t->st.batch[c->req.batch], lat);
	if (c->first_ns && c->send_ns)
		lh_record(&t->st.ttfb, c->first_ns - c->send_ns);
	if (c->send_ns && now >= c->send_ns)
		lh_record(&t->st.from_send, now - c->send_ns);
	t->st.body_bytes += c->rp.body_bytes;
	t->st.status[st >= 1 && st <= 5 ? st : 0]++;
	if (cfg->sla_ms >= 0 && (double)lat > cfg->sla_ms * 1e6)
		t->st.sla_over++;
	if (now > t->st.last_ns)
		t->st.last_ns = now;
}

static void park(struct en_thread *t, struct conn *c)
{
	conn_close(t, c);
	c->state = C_PARKED;
}

static void schedule_wake(struct en_thread *t, struct conn *c, uint64_t at, uint64_t z)
{
	c->state = C_THINKING;
	c->think_start_ns = t->now;
	c->think_drawn_ns = z;
	c->gen++;
	if (heap_push(t, at, c->idx, c->gen) < 0)
		park(t, c);
}

static double think_ns(struct en_thread *t, struct conn *c)
{
	double m = t->cfg->think_ms * 1e6;

	if (m <= 0)
		return 0;
	return t->cfg->think_dist == AL_THINK_EXP ? rng_exp(&c->srng, m) : m;
}

static void dispatch_backlog(struct en_thread *t);
static void grow(struct en_thread *t);
static void fail_queued(struct en_thread *t, int kind, uint64_t now);

/* The request on c ended: a response (err_kind < 0) or an error.  Decide what
 * the connection's owner does next. */
static void finish(struct en_thread *t, struct conn *c, int err_kind)
{
	const struct al_config *cfg = t->cfg;
	uint64_t now = t->now;
	int keep = 0;

	if (c->has_req) {
		t->active--;
		c->has_req = 0;
		if (err_kind < 0) {
			record(t, c, now);
			if (c->rp.status >= 400)
				count_error(t, c, AL_E_STATUS, now);
			keep = c->rp.keep_alive && !cfg->conn_per_request;
			c->reused++;
		} else {
			count_error(t, c, err_kind, now);
		}
	} else if (c->growing) {
		/* a connection opened ahead of a request failed */
		c->growing = 0;
		t->connecting--;
		fail_queued(t, err_kind, now);
	}
	if (!keep)
		conn_close(t, c);

	switch (cfg->mode) {
	case AL_OPEN:
		if (c->fd >= 0) {
			c->state = C_IDLE;
			t->idle[t->nidle++] = c->idx;
		} else {
			c->state = C_FREE;
			t->freel[t->nfree++] = c->idx;
		}
		/* After an error the next tick serves the backlog: a server
		 * refusing at once would otherwise recurse once per request. */
		if (err_kind < 0) {
			dispatch_backlog(t);
			grow(t);
		}
		break;
	case AL_CLOSED: {
		uint64_t z = (uint64_t)think_ns(t, c);
		if (err_kind >= 0 && z < EN_ERR_PAUSE_NS)
			z = EN_ERR_PAUSE_NS;
		if (!may_generate(t, now + z))
			park(t, c);
		else if (z == 0)
			goto again;
		else
			schedule_wake(t, c, now + z, z);
		break;
	}
	case AL_PARTLY:
		if (err_kind < 0 && !c->last_req) {
			uint64_t z = (uint64_t)think_ns(t, c);
			if (may_generate(t, now + z)) {
				if (z == 0)
					goto again;
				schedule_wake(t, c, now + z, z);
				break;
			}
		}
		/* the user leaves */
		conn_close(t, c);
		c->state = C_FREE;
		t->freel[t->nfree++] = c->idx;
		if (err_kind < 0)
			grow(t);
		break;
	}
	return;
again:
	/* No think time: the next request is intended now. */
	c->req.intended_ns = now;
	c->req.batch = classify(t, now);
	c->req.path = -2;
	{
		struct al_second *s = second(t, now);
		if (s)
			s->sent++;
	}
	issue(t, c);
}

static int32_t pick_path(struct en_thread *t)
{
	const struct al_config *cfg = t->cfg;

	if (cfg->tr) {
		/* Closed loop replays the trace's path sequence; each thread
		 * walks its own stride of it, wrapping around. */
		const struct tr_entry *e = &cfg->tr->e[t->trace_pos];
		t->trace_pos += (size_t)cfg->threads;
		if (t->trace_pos >= cfg->tr->n)
			t->trace_pos = (size_t)t->id % cfg->tr->n;
		return (int32_t)e->path;
	}
	if (cfg->fs)
		return (int32_t)fs_pick(cfg->fs, rng_u01(&t->path_rng));
	return -1;
}

/* Send c->req on c, opening a connection if it has none. */
static void issue(struct en_thread *t, struct conn *c)
{
	if (!c->has_req) {
		c->has_req = 1;
		t->active++;
	}
	if (c->req.path == -2)
		c->req.path = pick_path(t);
	/* The session's return decision is drawn before the request goes
	 * out, so that its last request can say "Connection: close": the
	 * server then closes first and keeps the TIME_WAIT state, and a
	 * long run at thousands of sessions/s does not run the client out
	 * of ephemeral ports. */
	if (t->cfg->mode == AL_PARTLY)
		c->last_req = !(rng_u01(&c->srng) < t->cfg->p_return);
	c->retried = 0;
	c->issue_ns = t->now;
	c->send_ns = 0;
	c->first_ns = 0;
	rp_init(&c->rp, t->cfg->head);
	build_request(t, c);
	if (c->fd < 0)
		conn_open(t, c);
	else
		conn_send(t, c);
}

static void read_response(struct en_thread *t, struct conn *c)
{
	size_t used;
	ssize_t n;
	int r;

	n = recv(c->fd, t->scratch, EN_SCRATCH, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;		/* spurious wake-up: try again later */
	t->now = al_now_ns();	/* the response's end, or its first byte */
	if (n > 0) {
		if (!c->first_ns)
			c->first_ns = t->now;
		r = rp_feed(&c->rp, t->scratch, (size_t)n, &used);
		if (r == RP_MORE)
			return;
		if (r == RP_BAD) {
			finish(t, c, AL_E_PARSE);
			return;
		}
		/* We never pipeline: extra bytes mean the framing is off,
		 * so this connection cannot carry another request. */
		if (used < (size_t)n)
			c->rp.keep_alive = 0;
		finish(t, c, -1);
		return;
	}
	/* EOF or an error before the response ended. */
	if (!rp_started(&c->rp) && c->reused && !c->retried) {
		c->retried = 1;
		conn_close(t, c);
		c->send_ns = 0;
		c->first_ns = 0;
		build_request(t, c);
		conn_open(t, c);
		return;
	}
	if (n == 0 && rp_eof(&c->rp) == RP_DONE) {
		c->rp.keep_alive = 0;
		finish(t, c, -1);
		return;
	}
	if (n < 0 && errno != ECONNRESET && errno != EPIPE)
		finish(t, c, AL_E_RESET);
	else
		finish(t, c, rp_started(&c->rp) ? AL_E_SHORT : AL_E_RESET);
}

static void on_conn(struct ae_loop *loop, int fd, void *data, int mask)
{
	struct conn *c = data;
	struct en_thread *t = c->th;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	uint64_t now;

	(void)loop;
	(void)mask;
	switch (c->state) {
	case C_CONNECTING:
		now = t->now = al_now_ns();
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr) {
			conn_close(t, c);
			if (c->retried && c->has_req)
				finish(t, c, AL_E_RESET);
			else
				finish(t, c, soerr == ECONNREFUSED ? AL_E_REFUSED : AL_E_CONNECT);
			return;
		}
		/* Every connect counts, warm-up and pool included: closed
		 * loops connect only at the start, and the connect time is
		 * not part of the latency statistics anyway. */
		lh_record(&t->st.connect, now - c->connect_start_ns);
		if (!c->has_req) {
			/* opened ahead of a request (open loop pool) */
			if (ae_set(t->loop, fd, AE_READABLE, on_conn, c) < 0) {
				finish(t, c, AL_E_CONNECT);
				return;
			}
			if (c->growing) {
				c->growing = 0;
				t->connecting--;
			}
			c->state = C_IDLE;
			t->idle[t->nidle++] = c->idx;
			dispatch_backlog(t);
			grow(t);
			return;
		}
		conn_send(t, c);
		return;
	case C_SENDING:
		conn_send(t, c);
		return;
	case C_READING:
		read_response(t, c);
		return;
	case C_IDLE:
	case C_THINKING: {
		/* Between requests the only news is the server closing the
		 * connection (or garbage): drop the connection, keep the
		 * slot; the next request opens a new one. */
		char b[512];
		ssize_t n = read(fd, b, sizeof(b));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_close(t, c);
		if (c->state == C_IDLE) {
			for (size_t i = 0; i < t->nidle; i++) {
				if (t->idle[i] == c->idx) {
					t->idle[i] = t->idle[--t->nidle];
					break;
				}
			}
			c->state = C_FREE;
			t->freel[t->nfree++] = c->idx;
		}
		return;
	}
	default:
		ae_del(t->loop, fd);
		return;
	}
}

/* ------------------------------------------------------------ open loop */
static void start_on(struct en_thread *t, struct conn *c, const struct pend *p)
{
	c->req = *p;
	if (t->cfg->mode == AL_PARTLY) {
		/* Each session draws from its own stream, so what a session
		 * does does not depend on when other sessions' events ran. */
		rng_seed(&c->srng, t->cfg->seed,
			 (UINT64_C(3) << 60) | ((uint64_t)t->id << 40) | t->session_seq++);
		if (p->batch >= 0)
			t->st.sessions++;
	}
	issue(t, c);
}

static void dispatch_backlog(struct en_thread *t)
{
	while (t->bl_len && t->nidle) {
		struct pend p = t->bl[t->bl_head];
		t->bl_head = (t->bl_head + 1) % t->bl_cap;
		t->bl_len--;
		start_on(t, t->conns[t->idle[--t->nidle]], &p);
	}
}

/* Open connections for queued arrivals.  A keep-alive pool opens at most
 * EN_CONNECTING at a time: a connection that finishes its request soon
 * takes the next arrival anyway.  With --conn-per-request, and for
 * partly-open sessions, no connection ever comes back idle, so every
 * queued arrival needs a connect of its own, started at its arrival like
 * httperf does: a cap there turns a server whose accept queue is full (its
 * SYNs dropped and retried after 1 s) into a closed loop of EN_CONNECTING
 * connects, and the generator, not the server, sets the rate (measured
 * against nginx behind slowfs: 433 replies/s of 700/s offered, p50 4.5 s,
 * against httperf's 702/s, p50 0.2 s, on the same run).  --max-conns
 * bounds them. */
static void grow(struct en_thread *t)
{
	size_t cap = t->cfg->conn_per_request || t->cfg->mode == AL_PARTLY ? t->maxconns
									  : EN_CONNECTING;

	while ((size_t)t->connecting < cap && (size_t)t->connecting < t->bl_len) {
		struct conn *c = t->nfree ? t->conns[t->freel[--t->nfree]] : conn_new(t);
		if (!c)
			return;
		c->growing = 1;
		t->connecting++;
		conn_open(t, c);
	}
}

/* An arrival: an idle keep-alive connection takes it at once; otherwise
 * it queues (FIFO) for the first connection that is ready — one finishing
 * its request or one newly opened.  Letting each late arrival wait for a
 * connect of its own is what makes a generator collapse: under a burst the
 * connects are the expensive part, the generator falls further behind, and
 * more arrivals need more connects (measured: 50,000 req/s on loopback
 * went from 0.05 ms to 1.4 s mean latency that way).  Latency still runs
 * from the intended time, so the wait is measured, not hidden. */
static void dispatch(struct en_thread *t, const struct pend *p)
{
	if (t->nidle && !t->bl_len) {
		start_on(t, t->conns[t->idle[--t->nidle]], p);
		return;
	}
	if (t->bl_len == t->bl_cap) {
		if (p->batch >= 0)
			t->st.errors[AL_E_OVERFLOW]++;
		return;
	}
	t->bl[(t->bl_head + t->bl_len++) % t->bl_cap] = *p;
	if (p->batch >= 0)
		t->st.backlogged++;
	dispatch_backlog(t);
	grow(t);
}

/* A connection opened ahead of a request failed: the oldest queued
 * arrival fails with it, so a refusing server shows up as errors rather
 * than as a queue that never moves. */
static void fail_queued(struct en_thread *t, int kind, uint64_t now)
{
	struct pend p;
	struct al_second *s;

	if (!t->bl_len)
		return;
	p = t->bl[t->bl_head];
	t->bl_head = (t->bl_head + 1) % t->bl_cap;
	t->bl_len--;
	s = second(t, now);
	if (s)
		s->errors++;
	if (p.batch >= 0)
		t->st.errors[kind]++;
}

static uint64_t gap_ns(struct en_thread *t)
{
	switch (t->cfg->dist) {
	case AL_DET:
		return (uint64_t)t->mean_gap_ns;
	case AL_UNIFORM:
		return (uint64_t)(2 * t->mean_gap_ns * rng_u01(&t->arr_rng));
	case AL_POISSON:
	default:
		return (uint64_t)rng_exp(&t->arr_rng, t->mean_gap_ns);
	}
}

/* Next arrival of this thread: from the arrival process or the trace.
 * 0: no more. */
static uint64_t next_arrival(struct en_thread *t, uint64_t prev)
{
	const struct al_config *cfg = t->cfg;

	if (cfg->tr) {
		const struct tr_entry *e;
		if (t->trace_pos >= cfg->tr->n)
			return 0;
		e = &cfg->tr->e[t->trace_pos];
		return t->t0_ns + (uint64_t)((double)e->at_ns / cfg->speed);
	}
	return prev + gap_ns(t);
}

static void run_arrivals(struct en_thread *t, uint64_t now)
{
	const struct al_config *cfg = t->cfg;

	while (t->generating && t->next_arrival_ns && t->next_arrival_ns <= now) {
		uint64_t at = t->next_arrival_ns;
		struct pend p;

		if (!may_generate(t, at))
			return;
		p.intended_ns = at;
		p.batch = classify(t, at);
		if (p.batch >= 0) {
			lh_record(&t->st.late, now - at);
			if (t->prev_at_ns) {
				double g = (double)(at - t->prev_at_ns);
				double ga = (double)(now - t->prev_sent_ns);
				t->st.gap_n++;
				t->st.gap_sum_ns += g;
				t->st.gap_sumsq_ns2 += g * g;
				t->st.agap_sum_ns += ga;
				t->st.agap_sumsq_ns2 += ga * ga;
			}
			t->prev_at_ns = at;
			t->prev_sent_ns = now;
		}
		if (cfg->tr) {
			p.path = (int32_t)cfg->tr->e[t->trace_pos].path;
			t->trace_pos += (size_t)cfg->threads;
		} else {
			p.path = cfg->mode == AL_PARTLY ? -2 : pick_path(t);
		}
		{
			struct al_second *s = second(t, now);
			if (s)
				s->sent++;
		}
		t->next_arrival_ns = next_arrival(t, at);
		if (!t->next_arrival_ns)
			stop_generating(t, now);
		dispatch(t, &p);
	}
}

static void run_wakes(struct en_thread *t, uint64_t now)
{
	while (t->nheap && t->heap[0].at_ns <= now) {
		struct wake w = heap_pop(t);
		struct conn *c = t->conns[w.idx];

		if (c->gen != w.gen || c->state != C_THINKING)
			continue;
		if (!may_generate(t, w.at_ns)) {
			park(t, c);
			if (t->cfg->mode == AL_PARTLY) {
				c->state = C_FREE;
				t->freel[t->nfree++] = c->idx;
			}
			continue;
		}
		/* The think time as scheduled: a late wake-up is already in
		 * the latency, which runs from w.at_ns. */
		t->st.think_sum_ns += (double)c->think_drawn_ns;
		t->st.think_n++;
		c->req.intended_ns = w.at_ns;
		c->req.batch = classify(t, w.at_ns);
		c->req.path = -2;
		if (c->req.batch >= 0)
			lh_record(&t->st.late, now - w.at_ns);
		{
			struct al_second *s = second(t, now);
			if (s)
				s->sent++;
		}
		issue(t, c);
	}
}

static void tick(struct en_thread *t, uint64_t now)
{
	uint64_t limit = (uint64_t)(t->cfg->timeout_ms * 1e6);

	t->next_tick_ns = now + EN_TICK_NS;
	if (t->t_end_ns && now >= t->t_end_ns)
		stop_generating(t, now);
	dispatch_backlog(t);
	grow(t);
	for (size_t i = 0; i < t->nconns; i++) {
		struct conn *c = t->conns[i];
		if (c->has_req && now - c->issue_ns > limit)
			finish(t, c, AL_E_TIMEOUT);
	}
}

static void on_timer(struct ae_loop *loop, int fd, void *data, int mask)
{
	struct en_thread *t = data;
	uint64_t n;

	(void)loop;
	(void)mask;
	if (read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		t->armed_ns = 0;
}

/* Sleep until `deadline` minus the spin margin (or not at all) and handle
 * whatever the network delivers meanwhile.  -1 on a loop failure. */
static int wait_until(struct en_thread *t, uint64_t now, uint64_t deadline)
{
	int timeout = -1, n;

	if (deadline <= now + EN_SPIN_NS) {
		timeout = 0;
	} else if (t->spin_ns && t->active && now - t->last_io_ns < t->spin_ns) {
		/* Responses are due: poll rather than sleep (see the top). */
		timeout = 0;
	} else {
		uint64_t wake = deadline - EN_SPIN_NS;
		if (!t->armed_ns || wake < t->armed_ns) {
			struct itimerspec its = { 0 };
			its.it_value.tv_sec = (time_t)(wake / 1000000000u);
			its.it_value.tv_nsec = (long)(wake % 1000000000u);
			if (timerfd_settime(t->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
				return -1;
			t->armed_ns = wake;
		}
	}
	n = ae_poll(t->loop, timeout);
	if (n > 0)
		t->last_io_ns = now;
	return n < 0 ? -1 : 0;
}

int en_prepare(struct en_thread *t, volatile int *exiting)
{
	const struct al_config *cfg = t->cfg;
	int share = cfg->conns / cfg->threads + (t->id < cfg->conns % cfg->threads);
	uint64_t limit;

	if (cfg->mode != AL_OPEN || cfg->conn_per_request)
		return 0;
	/* Open the pool before the clock starts: a thousand connects at the
	 * first arrivals would put the generator milliseconds behind, and
	 * every late arrival then needs yet another new connection. */
	t->now = al_now_ns();
	for (int i = 0; i < share; i++) {
		struct conn *c = conn_new(t);
		if (!c)
			break;
		c->growing = 1;
		t->connecting++;
		conn_open(t, c);
	}
	limit = t->now + 5000000000u;
	while (!*exiting && t->nidle + t->nfree < t->nconns && al_now_ns() < limit) {
		if (ae_poll(t->loop, 10) < 0) {
			snprintf(t->err, sizeof(t->err), "event loop: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

void en_start(struct en_thread *t, uint64_t t0_ns)
{
	const struct al_config *cfg = t->cfg;

	t->t0_ns = t0_ns;
	t->t_meas_ns = t0_ns + (uint64_t)(cfg->warmup_s * 1e9);
	t->t_end_ns = cfg->duration_s > 0 ? t->t_meas_ns + (uint64_t)(cfg->duration_s * 1e9) : 0;
}

int en_run(struct en_thread *t, volatile int *exiting)
{
	const struct al_config *cfg = t->cfg;
	int share;

	/* Nothing may be sent before the common start: a request intended
	 * at t0 and sent earlier would get a negative latency. */
	{
		struct timespec ts = { .tv_sec = (time_t)(t->t0_ns / 1000000000u),
				       .tv_nsec = (long)(t->t0_ns % 1000000000u) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !*exiting)
			;
	}
	t->now = al_now_ns();
	/* This thread's share of users / connections. */
	share = cfg->conns / cfg->threads + (t->id < cfg->conns % cfg->threads);
	t->next_tick_ns = t->t0_ns;
	if (cfg->mode == AL_CLOSED) {
		if (cfg->tr)
			t->trace_pos = (size_t)t->id % cfg->tr->n;
		for (int i = 0; i < share; i++) {
			struct conn *c = conn_new(t);
			if (!c) {
				snprintf(t->err, sizeof(t->err), "out of memory");
				return -1;
			}
			rng_seed(&c->srng, cfg->seed,
				 (UINT64_C(2) << 60) | ((uint64_t)t->id << 40) | (uint64_t)i);
			c->req.intended_ns = t->t0_ns;
			c->req.batch = classify(t, t->t0_ns);
			c->req.path = -2;
			issue(t, c);
		}
	} else {
		t->arrivals = 1;
		if (cfg->tr) {
			t->trace_pos = (size_t)t->id;
			t->next_arrival_ns = next_arrival(t, t->t0_ns);
			if (!t->next_arrival_ns)
				stop_generating(t, t->t0_ns);
		} else if (cfg->dist == AL_DET) {
			/* Threads interleave evenly rather than fire together. */
			t->next_arrival_ns = t->t0_ns +
				(uint64_t)(t->mean_gap_ns * t->id / cfg->threads);
		} else {
			t->next_arrival_ns = t->t0_ns + gap_ns(t);
		}
	}

	for (;;) {
		uint64_t now = t->now = al_now_ns(), deadline;

		if (*exiting)
			break;
		if (now >= t->next_tick_ns)
			tick(t, now);
		if (t->arrivals)
			run_arrivals(t, now);
		run_wakes(t, now);
		/* Arrivals still queued for a connection count as in flight:
		 * the last one of a run often waits for its connect(). */
		if (!t->generating && ((t->active == 0 && t->bl_len == 0) || now >= t->drain_ns))
			break;
		deadline = t->next_tick_ns;
		if (t->generating && t->arrivals && t->next_arrival_ns &&
		    t->next_arrival_ns < deadline)
			deadline = t->next_arrival_ns;
		if (t->nheap && t->heap[0].at_ns < deadline)
			deadline = t->heap[0].at_ns;
		if (wait_until(t, al_now_ns(), deadline) < 0) {
			snprintf(t->err, sizeof(t->err), "event loop: %s", strerror(errno));
			return -1;
		}
	}
	/* Whatever is still in flight did not finish within the drain. */
	for (size_t i = 0; i < t->nconns; i++) {
		struct conn *c = t->conns[i];
		if (c->has_req && c->req.batch >= 0)
			t->st.unfinished++;
		conn_close(t, c);
	}
	t->st.unfinished += t->bl_len;
	return 0;
}

struct en_thread *en_create(const struct al_config *cfg, int id, char *err, size_t errlen)
{
	struct en_thread *t = calloc(1, sizeof(*t));
	struct rlimit rl;
	int setsize = 65536;

	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->cfg = cfg;
	t->id = id;
	t->tfd = -1;
	t->t0_ns = t->t_meas_ns = UINT64_MAX;	/* until en_start() */
	if (cfg->requests) {
		t->quota = cfg->requests / (uint64_t)cfg->threads +
			   ((uint64_t)id < cfg->requests % (uint64_t)cfg->threads);
		if (!t->quota)
			t->quota = 1;
	}
	t->generating = 1;
	t->spin_ns = cfg->idle_poll_us >= 0 ? (uint64_t)cfg->idle_poll_us * 1000u :
		     cfg->threads < sysconf(_SC_NPROCESSORS_ONLN) ? EN_IDLE_SPIN_NS : 0;
	if (cfg->rate > 0)
		t->mean_gap_ns = 1e9 * cfg->threads / cfg->rate;
	rng_seed(&t->arr_rng, cfg->seed, (UINT64_C(1) << 60) | (uint64_t)id);
	rng_seed(&t->path_rng, cfg->seed, (UINT64_C(4) << 60) | (uint64_t)id);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		setsize = (int)rl.rlim_cur + 16;
	if (cfg->mode == AL_CLOSED)
		t->maxconns = (size_t)(cfg->conns / cfg->threads + 1);
	else
		t->maxconns = (size_t)(cfg->max_conns / cfg->threads + 1);
	/* + 64: the --req-id header fits in the 128 bytes of slack */
	t->req_max = strlen(cfg->base_path) + strlen(cfg->hostport) +
		     strlen(cfg->extra_headers) + 128;
	if (cfg->fs)
		for (size_t i = 0; i < cfg->fs->n; i++)
			if (strlen(cfg->fs->path[i]) + 128 + strlen(cfg->base_path) +
			    strlen(cfg->hostport) + strlen(cfg->extra_headers) > t->req_max)
				t->req_max = strlen(cfg->fs->path[i]) + 128 +
					     strlen(cfg->base_path) + strlen(cfg->hostport) +
					     strlen(cfg->extra_headers);
	if (cfg->tr)
		for (size_t i = 0; i < cfg->tr->npaths; i++)
			if (strlen(cfg->tr->paths[i]) + 128 + strlen(cfg->hostport) +
			    strlen(cfg->extra_headers) > t->req_max)
				t->req_max = strlen(cfg->tr->paths[i]) + 128 +
					     strlen(cfg->hostport) + strlen(cfg->extra_headers);
	t->bl_cap = EN_BACKLOG_MAX;
	t->conns = calloc(t->maxconns, sizeof(*t->conns));
	t->idle = calloc(t->maxconns, sizeof(*t->idle));
	t->freel = calloc(t->maxconns, sizeof(*t->freel));
	t->bl = calloc(t->bl_cap, sizeof(*t->bl));
	t->scratch = malloc(EN_SCRATCH);
	t->fixed = malloc(t->req_max);
	if (t->fixed) {
		int n = snprintf(t->fixed, t->req_max, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s\r\n",
				 cfg->head ? "HEAD" : "GET", cfg->base_path, cfg->hostport,
				 cfg->conn_per_request ? "Connection: close\r\n" : "",
				 cfg->extra_headers);
		t->fixed_len = n > 0 && (size_t)n < t->req_max ? (size_t)n : 0;
	}
	t->st.batch = calloc((size_t)cfg->batches, sizeof(*t->st.batch));
	if (!t->conns || !t->idle || !t->freel || !t->bl || !t->scratch || !t->st.batch ||
	    !t->fixed || !t->fixed_len) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	lh_init(&t->st.lat);
	lh_init(&t->st.connect);
	lh_init(&t->st.ttfb);
	lh_init(&t->st.from_send);
	lh_init(&t->st.late);
	for (int i = 0; i < cfg->batches; i++)
		lh_init(&t->st.batch[i]);
	t->loop = ae_create(setsize);
	if (!t->loop) {
		snprintf(err, errlen, "ae_create: %s", strerror(errno));
		goto fail;
	}
	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->tfd < 0 || ae_set(t->loop, t->tfd, AE_READABLE, on_timer, t) < 0) {
		snprintf(err, errlen, "timerfd: %s", strerror(errno));
		goto fail;
	}
	return t;
fail:
	en_destroy(t);
	return NULL;
}

const struct al_stats *en_stats(const struct en_thread *t)
{
	return &t->st;
}

const char *en_error(const struct en_thread *t)
{
	return t->err;
}

void en_destroy(struct en_thread *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nconns; i++) {
		if (t->conns[i]->fd >= 0)
			close(t->conns[i]->fd);
		free(t->conns[i]->wbuf);
		free(t->conns[i]);
	}
	if (t->tfd >= 0)
		close(t->tfd);
	ae_destroy(t->loop);
	free(t->conns);
	free(t->idle);
	free(t->freel);
	free(t->bl);
	free(t->heap);
	free(t->scratch);
	free(t->fixed);
	free(t->st.batch);
	free(t->st.sec);
	free(t);
}
