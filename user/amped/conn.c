/* conn — the per-connection state machine.
 *
 *   READ  --head parsed--> translate (path cache, else a blocking job) --> WAIT
 *   WAIT  --job done-----> respond (resp.h decides: 304/206/416/200...),
 *                          small bodies from memory, large ones by sendfile
 *                          a chunk at a time, each chunk checked for
 *                          residency first and, if not resident, brought in
 *                          by a job (WAIT again)
 *   WRITE --all sent-----> READ (keep-alive; next pipelined head) or close
 *   LINGER: after an error we stop writing, read and drop what the client
 *           still sends, then close, so our answer is not lost to a RST.
 * Handlers run to completion; nothing here waits except blocking work that
 * its backend runs inline (blk.h: SPED by design).  Jobs complete through
 * their callbacks (open_done, read_done); which backend runs them is the
 * caller's choice (conn_listen_start, conn_blocking_init).
 *
 * Which ready response is written first (--sched): fcfs writes a response
 * as soon as it is ready and then whenever epoll says its socket can take
 * more.  srpt puts ready responses in a queue ordered by the bytes they have
 * left (srpt.h); once per loop turn the dispatcher writes a quantum to the
 * one with the fewest, puts it back, and goes on until every ready socket is
 * full or the turn's budget is spent.  Harchol-Balter et al. did this in the
 * kernel's queues below the sockets, where the link was the bottleneck;
 * here it orders the dispatcher's writes, and what a send buffer already
 * holds drains as its client reads. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/sdt.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "ae.h"
#include "alog.h"
#include "blk.h"
#include "conn.h"
#include "fcache.h"
#include "http.h"
#include "overload.h"
#include "proc.h"
#include "resp.h"
#include "rxstamp.h"
#include "srpt.h"

static void conn_cb(struct ae_loop *l, int fd, void *data, int mask);
static void accept_cb(struct ae_loop *l, int lfd, void *data, int mask);

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

enum cstate { CS_READ, CS_WAIT, CS_WRITE, CS_LINGER };
enum dkind { DL_NONE, DL_IDLE, DL_HEADER, DL_SEND, DL_LINGER };

#define CHUNK_BYTES (512 * 1024)
#define SRPT_QUANTUM_BYTES (64 * 1024)	/* written per pick */
#define SRPT_TURN_BYTES (1024 * 1024)	/* then look for new events */
#define HBUF_BYTES 1024
#define LINGER_MS 2000

/* What a connection needs only while a request is in flight: taken from a
 * pool when input arrives, given back when the connection goes idle (issue:
 * thousands of idle keep-alive connections must cost little). */
struct req {
	struct conn *conn;
	struct req *next_free;
	bool small_pending;		/* a helper is reading a small file whole */
	bool head_only;
	uint64_t quota;			/* srpt: bytes this write may send; 0 any */
	/* the request being served; pointers into in[] stay valid until
	 * request_finish() consumes the head */
	size_t head_len;
	uint64_t req_id, start_ns;
	struct amped_phases ph;		/* for request_done (amped_usdt.h) */
	uint64_t arrive_last_ns;	/* traced: the last read's arrival stamp,
					   a pipelined head's arrival (rxstamp.h) */
	uint32_t rflags;
	int status;
	int minor;
	const char *method, *target;
	size_t method_len, target_len;
	const char *h_range;
	size_t h_range_len;
	struct hp_conditions cond;
	size_t key_len;
	struct fentry *fe;
	struct conn *wait_next;
	struct job job;
	bool job_pending;
	bool submitting;		/* inside blk_submit(): completion is the caller's */
	/* output: header bytes, then a memory body or a file range */
	char *out;
	size_t out_len, out_off;
	const char *body;
	size_t body_len, body_off;
	uint64_t file_off, file_end, checked_until;
	uint64_t body_bytes;
	struct multipart *mp;		/* parts still to send; NULL if none */
	struct hp_chunked chunked;	/* a chunked request body being dropped */
	size_t in_len, in_cap;
	char hbuf[HBUF_BYTES];
	char key[4200];
	char in[];			/* in_cap bytes: the request head(s) */
};

struct conn {
	int fd;
	uint32_t id;
	enum cstate state;
	int idx;			/* in conns[] */
	int busy;			/* callbacks on the stack: free later */
	bool in_process;		/* inside conn_process(): no re-entry */
	bool dead;			/* closed while busy */
	bool close_after;		/* close when the response is out */
	bool keepalive;
	bool chunked_body;		/* dropping one (rq->chunked): keep rq */
	enum dkind dkind;
	uint64_t deadline_ms;
	uint64_t discard;		/* request body bytes still to drop */
	struct srpt_node ready;		/* srpt: in readyq when queued */
	struct req *rq;			/* NULL while idle */
	char *peer;			/* client address, with --access-log only */
	bool rx_on;			/* rxstamp.h: its socket stamps reads */
	uint64_t accept_ns;		/* traced: accepted then, until its first
					   request takes it (amped_phases) */
};

/* A multipart/byteranges body in progress (resp.h decided its parts):
 * allocated only for such responses. */
struct multipart {
	struct resp_parts parts;
	unsigned next;			/* resp_part() index to send next */
};

/* Per thread: the MT model runs one copy of this state in each worker. */
static __thread struct conn **conns;
static __thread int nconns, conns_cap;
static __thread int listen_fd = -1;
static __thread bool accepting, draining;
static __thread uint32_t next_conn_id;
static __thread uint64_t next_req_id;
static __thread uint64_t accept_retry_ms;
static __thread const struct blk_ops *blk;	/* where blocking work runs */
/* srpt: responses ready to write, fewest bytes left first */
static __thread struct srpt readyq;
static __thread uint64_t sent_bytes;	/* by conn_write, for the turn's budget */
/* Driven by a blocking worker (worker.c): one connection at a time,
 * nothing registered with an event loop; a write that would block waits
 * in poll() here, and the disk is never checked for residency (sendfile()
 * blocks, which is the point of such workers). */
static __thread bool blocking;
/* The request this thread serves, for tracers: the global's slot 0 in
 * processes with one dispatcher, the dispatcher's own slot with several
 * (conn_dispatcher_init); a thread's own copy in MT workers. */
static __thread volatile struct amped_current *cur = &amped_current[0];

/* Register interest in c's socket, or nothing for a blocking worker. */
static int watch(struct conn *c, int mask)
{
	if (blocking)
		return 0;
	return ae_set(loop, c->fd, mask, conn_cb, c);
}

static void conn_process(struct conn *c);
static void conn_expire(struct conn *c);
static int conn_write(struct conn *c);
static void respond_entry(struct conn *c);
static void resume_send(struct conn *c);
static void open_done(struct job *j);
static void set_deadline(struct conn *c, enum dkind k, int ms);

/* ---------------- srpt: the ready queue (srpt.h) ---------------- */

static uint64_t bytes_left(const struct conn *c)
{
	const struct req *q = c->rq;
	uint64_t n = (q->out_len - q->out_off) + (q->body_len - q->body_off) +
		     (q->file_end - q->file_off);

	/* parts not queued yet; their headers count as the closing
	 * delimiter does, near enough for a priority */
	for (unsigned k = q->mp ? q->mp->next : 0; q->mp && k < q->mp->parts.set.n; k++)
		n += q->mp->parts.set.r[k].last - q->mp->parts.set.r[k].first + 1 +
		     hp_multipart_trailer(NULL, 0, q->mp->parts.boundary);
	return n;
}

static void ready_remove(struct conn *c)
{
	srpt_remove(&readyq, &c->ready);
}

/* c has something to write and its socket may take it.  0 ok, -1 ENOMEM. */
static int ready_push(struct conn *c)
{
	if (srpt_push(&readyq, &c->ready, bytes_left(c)) < 0)
		return -1;
	/* waiting for its turn is the server's doing, not the client's: no
	 * send (or header) deadline runs meanwhile */
	set_deadline(c, DL_NONE, 0);
	return 0;
}

/* A response (or more of it) can go out: now (fcfs), or when the turn's
 * scheduler picks it (srpt). */
static void conn_send(struct conn *c)
{
	c->state = CS_WRITE;
	if (cfg.sched != SCHED_SRPT || blocking || ready_push(c) < 0)
		conn_write(c);
}

/* ---------------- request state: a pool ---------------- */

/* Free request states kept for reuse, per thread.  Once a second, what the
 * pool did not need during that second (its low-water mark), beyond
 * REQ_POOL_KEEP, goes back to the kernel: the working set of a bursty load
 * stays pooled (measured: trimming every 100 ms cost an mmap/munmap pair
 * for 1 request in 150 at 20k requests/s, munmap ~13 us each), and idle
 * connections cost nothing of it a second or two later.  They are mmap'd (a request state, head buffer
 * included, is a few pages): munmap returns them at once, where free()
 * would leave them resident in the heap. */
#define REQ_POOL_KEEP 32
static __thread struct req *req_pool;
static __thread int req_pool_n, req_pool_low;
static __thread uint64_t req_pool_trim_ms;	/* next trim */

static size_t req_bytes(void)
{
	return sizeof(struct req) + (size_t)cfg.max_header_bytes;
}

#ifdef __SANITIZE_ADDRESS__
/* The sanitizer build takes them from malloc, whose redzones catch a
 * write past the head buffer; mmap'd pages have none. */
static struct req *req_map(void)
{
	struct req *q = calloc(1, req_bytes());
	return q ? q : MAP_FAILED;
}

static void req_unmap(struct req *q)
{
	free(q);
}
#else
static struct req *req_map(void)
{
	return mmap(NULL, req_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void req_unmap(struct req *q)
{
	munmap(q, req_bytes());
}
#endif

/* c gets a request state (in_len 0, output empty).  0 ok, -1 ENOMEM. */
static int req_take(struct conn *c)
{
	struct req *q = req_pool;

	if (q) {
		req_pool = q->next_free;
		if (--req_pool_n < req_pool_low)
			req_pool_low = req_pool_n;
	} else {
		q = req_map();
		if (q == MAP_FAILED)
			return -1;
		q->in_cap = (size_t)cfg.max_header_bytes;
	}
	q->conn = c;
	q->out = q->hbuf;
	c->rq = q;
	return 0;
}

/* c gives its request state back: nothing may point into it any more. */
static void req_give(struct conn *c)
{
	struct req *q = c->rq;

	if (!q)
		return;
	c->rq = NULL;
	fc_put(q->fe);
	if (q->out != q->hbuf)
		free(q->out);
	free(q->mp);
	/* the next user starts from a clean state up to the buffers */
	size_t cap = q->in_cap;
	memset(q, 0, offsetof(struct req, hbuf));
	q->in_cap = cap;
	q->next_free = req_pool;
	req_pool = q;
	req_pool_n++;
}

/* c waits for a request with nothing buffered: it is idle, and its request
 * state goes back to the pool (the next read takes one again). */
static void req_idle(struct conn *c)
{
	if (c->rq && c->rq->in_len == 0 && c->state == CS_READ && !c->dead && !c->in_process &&
	    !c->chunked_body)
		req_give(c);
}

/* Once a second: give back what the pool did not need in that second. */
static void req_pool_trim(void)
{
	if (now_ms < req_pool_trim_ms)
		return;
	req_pool_trim_ms = now_ms + 1000;
	for (int n = req_pool_low - REQ_POOL_KEEP; n > 0 && req_pool; n--) {
		struct req *q = req_pool;
		req_pool = q->next_free;
		req_pool_n--;
		req_unmap(q);
	}
	req_pool_low = req_pool_n;
}

static void req_pool_drain(void)
{
	while (req_pool) {
		struct req *q = req_pool;
		req_pool = q->next_free;
		req_unmap(q);
	}
	req_pool_n = req_pool_low = 0;
}

/* ---------------- connection lifetime ---------------- */

static void set_deadline(struct conn *c, enum dkind k, int ms)
{
	c->dkind = k;
	c->deadline_ms = k == DL_NONE ? 0 : now_ms + (uint64_t)ms;
}

static void resume_accepting(void)
{
	if (!accepting && !draining && listen_fd >= 0 && nconns < cfg.max_conns &&
	    now_ms >= accept_retry_ms) {
		if (ae_set(loop, listen_fd, AE_READABLE, accept_cb, NULL) == 0)
			accepting = true;
	}
}

static void conn_destroy(struct conn *c)
{
	ready_remove(c);
	req_give(c);
	/* close() takes the socket out of the epoll set; helpers never hold
	 * client sockets (they close every inherited fd at start) */
	ae_forget(loop, c->fd);
	close(c->fd);
	conns[c->idx] = conns[--nconns];
	conns[c->idx]->idx = c->idx;
	free(c->peer);
	free(c);
	resume_accepting();
}

/* Close a connection.  Callers up the stack may still hold c: then it is
 * only marked dead and conn_leave() frees it. */
static void conn_free(struct conn *c)
{
	if (c->dead)
		return;
	if (c->rq && c->rq->job_pending) {
		/* a helper still works for this connection: finish later */
		c->close_after = true;
		return;
	}
	if (c->busy) {
		c->dead = true;
		c->dkind = DL_NONE;
		ready_remove(c);
		ae_del(loop, c->fd);
		return;
	}
	conn_destroy(c);
}

static void conn_enter(struct conn *c)
{
	c->busy++;
}

static void conn_leave(struct conn *c)
{
	if (--c->busy == 0 && c->dead)
		conn_destroy(c);
}

/* Stop answering, drain what the client still sends, then close. */
static void conn_linger(struct conn *c)
{
	if (c->dead)
		return;
	if (c->rq && c->rq->job_pending) {
		c->close_after = true;
		return;
	}
	ready_remove(c);
	shutdown(c->fd, SHUT_WR);
	c->state = CS_LINGER;
	set_deadline(c, DL_LINGER, LINGER_MS);
	if (watch(c, AE_READABLE) < 0)
		conn_free(c);
}

/* A connection for an accepted socket; closes fd and returns NULL when
 * out of memory. */
static struct conn *conn_new(int fd, const struct sockaddr_storage *ss)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c || fd >= 0x7fffffff) {
		free(c);
		close(fd);
		return NULL;
	}
	if (nconns == conns_cap) {
		int cap = conns_cap ? conns_cap * 2 : 256;
		struct conn **n = realloc(conns, (size_t)cap * sizeof(*n));
		if (!n) {
			free(c);
			close(fd);
			return NULL;
		}
		conns = n;
		conns_cap = cap;
	}
	c->fd = fd;
	c->id = ++next_conn_id;
	c->idx = nconns;
	conns[nconns++] = c;
	if (cfg.access_log) {
		char peer[INET6_ADDRSTRLEN] = "";
		if (ss->ss_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, peer, sizeof(peer));
		else if (ss->ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, peer, sizeof(peer));
		c->peer = strdup(peer);	/* NULL: the log shows "-" */
	}
	c->state = CS_READ;
	/* where a model's accept stage hands the socket on (seda, MT, ULT),
	 * that hand-off counts as accept-queue time, not the socket's */
	c->accept_ns = cur->trace ? mono_ns() : 0;
	set_deadline(c, DL_IDLE, cfg.header_timeout_ms);
	return c;
}

static void accept_cb(struct ae_loop *l, int lfd, void *data, int mask)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd;

		if (nconns >= cfg.max_conns) {
			/* excess clients wait in the listen backlog */
			ae_set(loop, listen_fd, AE_NONE, NULL, NULL);
			accepting = false;
			return;
		}
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* out of fds: back off instead of spinning */
				ae_set(loop, listen_fd, AE_NONE, NULL, NULL);
				accepting = false;
				accept_retry_ms = now_ms + 100;
			}
			return;		/* EAGAIN, or the client gave up (ECONNABORTED) */
		}
		if (!ae_fits(loop, fd)) {
			/* --poller select: an fd this high cannot be watched */
			overload_refuse(fd, OVERLOAD_FD_LIMIT);
			continue;
		}
		struct conn *c = conn_new(fd, &ss);
		if (!c)
			return;
		/* The listener has TCP_DEFER_ACCEPT: the request is usually
		 * here already, so read it now and skip an epoll round trip
		 * (conn_read registers the socket if it is not). */
		conn_cb(loop, fd, c, AE_READABLE);
	}
}

/* Serve fd, accepted by another thread (seda's accept stage), in this
 * thread's loop, as accept_cb would have. */
void conn_take(int fd, const struct sockaddr_storage *ss)
{
	if (!ae_fits(loop, fd)) {
		overload_refuse(fd, OVERLOAD_FD_LIMIT);
		return;
	}
	if (nconns >= cfg.max_conns || draining) {
		overload_refuse(fd, "amped: this stage cannot take another connection");
		return;
	}
	struct conn *c = conn_new(fd, ss);
	if (c)
		conn_cb(loop, fd, c, AE_READABLE);
}

int conn_listen_start(int lfd, const struct blk_ops *b)
{
	blk = b;
	if (lfd < 0)
		return 0;	/* fed by conn_take() */
	listen_fd = lfd;
	accepting = false;
	resume_accepting();
	return accepting ? 0 : -1;
}

void conn_stop_accepting(void)
{
	draining = true;
	if (listen_fd >= 0) {
		ae_del(loop, listen_fd);
		close(listen_fd);
		listen_fd = -1;
	}
	accepting = false;
}

int conn_count(void)
{
	return nconns;
}

/* ---------------- responses ---------------- */

/* Per thread, random: no file can be written to hold a boundary made
 * from it. */
static uint64_t boundary_key(void)
{
	static __thread uint64_t key;

	if (!key && getrandom(&key, sizeof(key), GRND_NONBLOCK) != (ssize_t)sizeof(key))
		key = mono_ns() * 0x9e3779b97f4a7c15ULL;
	return key;
}

static void resp_req_of(const struct conn *c, struct resp_req *rq)
{
	rq->head_only = c->rq->head_only;
	rq->keepalive = c->keepalive;
	rq->key = c->rq->key;
	rq->key_len = c->rq->key_len;
	rq->range = c->rq->h_range;
	rq->range_len = c->rq->h_range_len;
	rq->cond = c->rq->cond;
	rq->boundary_seed = boundary_key() ^ (c->rq->req_id * 0x9e3779b97f4a7c15ULL);
}

static void send_body(struct conn *c, uint64_t first, uint64_t blen);

/* Answer with what resp.h decides: for entry e (respond_entry), or a
 * status page (e NULL: status, extra).  The head goes into hbuf, or into a
 * buffer of its own when it is larger (a long Location). */
static void respond(struct conn *c, struct fentry *e, int status, const char *extra)
{
	struct resp_req rq;
	struct resp_plan p;
	char *buf = c->rq->hbuf;
	size_t size = HBUF_BYTES;

	if (c->rq->out != c->rq->hbuf)
		free(c->rq->out);
	c->rq->out = c->rq->hbuf;
	free(c->rq->mp);		/* this answer replaces any planned */
	c->rq->mp = NULL;
	resp_req_of(c, &rq);
	for (;;) {
		size_t need = e ? resp_entry(buf, size, e, &rq, &p) :
			      resp_simple(buf, size, status, extra, &rq, &p);
		if (need <= size)
			break;
		if (buf != c->rq->hbuf || !(buf = malloc(need))) {
			if (buf != c->rq->hbuf)
				free(buf);
			c->rq->status = e ? 500 : status;
			c->keepalive = false;
			conn_linger(c);
			return;
		}
		size = need;
	}
	c->rq->out = buf;
	c->rq->status = p.status;
	c->keepalive = p.keepalive;
	c->rq->out_len = p.head_len;
	c->rq->out_off = 0;
	c->rq->body_bytes = p.body_bytes;
	c->state = CS_WRITE;
	if (p.file_len == 0) {
		conn_send(c);
		return;
	}
	if (p.parts.set.n > 1) {
		/* part 0 goes like any single range; mp_load() the rest */
		struct multipart *m = malloc(sizeof(*m));
		if (!m) {
			respond(c, NULL, 503, NULL);
			return;
		}
		m->parts = p.parts;
		m->next = 1;
		c->rq->mp = m;
	}
	send_body(c, p.file_first, p.file_len);
}

/* Once the head, the memory body and the file range are all out: queue
 * what comes before the next part (resp_part()) and that part's bytes,
 * from memory or as a file range that conn_write checks for residency like
 * any other; after the last part, the closing delimiter.  0 when the
 * multipart body is done (or there is none). */
static int mp_load(struct conn *c)
{
	struct req *q = c->rq;
	struct multipart *m = q->mp;
	struct fentry *e = q->fe;
	uint64_t first, len;

	if (!m)
		return 0;
	q->out = q->hbuf;
	q->out_off = 0;
	q->out_len = resp_part(q->hbuf, HBUF_BYTES, e, &m->parts, m->next++, &first, &len);
	if (len == 0) {
		free(m);
		q->mp = NULL;
	} else if (e->body) {
		q->body = e->body + first;
		q->body_len = (size_t)len;
		q->body_off = 0;
	} else {
		q->file_off = q->checked_until = first;
		q->file_end = first + len;
	}
	return 1;
}

static void respond_simple(struct conn *c, int status, const char *extra)
{
	respond(c, NULL, status, extra);
}

static void respond_entry(struct conn *c)
{
	respond(c, c->rq->fe, 0, NULL);
}

static bool is_resident(struct conn *c, uint64_t off, uint64_t len)
{
	struct fentry *e = c->rq->fe;
	long pg = 4096;
	uint64_t a = off & ~(uint64_t)(pg - 1);
	uint64_t npages = (off + len - a + (uint64_t)pg - 1) / (uint64_t)pg;

	/* MP and MT workers block anyway: they just read, as such servers
	 * do; ult's user-level threads hand cold pages to kernel threads */
	if (len == 0 || (blocking && blk == &blk_inline))
		return true;
	if (cfg.residency == RES_MINCORE && e->map) {
		unsigned char vec[CHUNK_BYTES / 4096 + 2];
		if (npages > sizeof(vec))
			npages = sizeof(vec);
		if (mincore((char *)e->map + a, npages * (uint64_t)pg, vec) < 0)
			return true;	/* cannot tell: do not stall */
		for (uint64_t i = 0; i < npages; i++)
			if (!(vec[i] & 1))
				return false;
		return true;
	}
	if (cfg.residency == RES_CACHESTAT) {
		struct { uint64_t off, len; } range = { a, npages * (uint64_t)pg };
		struct { uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted; } cs;
		if (syscall(451 /* cachestat */, e->fd, &range, &cs, 0) < 0)
			return true;
		/* the last page of the file may be partial; cachestat counts it */
		uint64_t last = (e->size + (uint64_t)pg - 1) / (uint64_t)pg;
		uint64_t want = npages;
		if (a / (uint64_t)pg + npages > last)
			want = last > a / (uint64_t)pg ? last - a / (uint64_t)pg : 0;
		return cs.nr_cache >= want;
	}
	return true;
}

static void wait_job(struct conn *c)
{
	c->state = CS_WAIT;
	set_deadline(c, DL_NONE, 0);
	/* no events while parked: a hang-up would otherwise fire forever */
	watch(c, AE_NONE);
}

static void note_miss(struct conn *c, uint64_t off, uint64_t len)
{
	c->rq->rflags |= AMPED_RF_RESIDENT_MISS | blk->rf_read;
	DTRACE_PROBE4(amped, residency_miss, c->rq->req_id, off, len, cfg.residency);
}

static void read_done(struct job *j);

/* Have [off, off + len) of c's file brought into memory.  Returns 1 while
 * the job is out (read_done() resumes c), 0 if it finished already (run
 * inline, or refused at once): the caller carries on with c->rq->job.err. */
static int submit_read(struct conn *c, uint64_t off, uint64_t len)
{
	struct job *j = &c->rq->job;

	memset(j, 0, sizeof(*j));
	j->op = AMPED_OP_READ;
	j->req_id = c->rq->req_id;
	j->fe = c->rq->fe;
	j->off = off;
	j->len = len;
	j->done = read_done;
	note_miss(c, off, len);
	c->rq->job_pending = true;
	c->rq->submitting = true;
	blk_submit(blk, j);
	c->rq->submitting = false;
	if (!c->rq->job_pending)
		return 0;
	wait_job(c);
	return 1;
}

/* The body of a 200/206: bytes [first, first + blen) of c's file, from
 * memory or by sendfile, brought into memory first if they are not. */
static void send_body(struct conn *c, uint64_t first, uint64_t blen)
{
	struct fentry *e = c->rq->fe;

	/* Small files are kept in memory once their pages were resident:
	 * header and body then leave in one writev. */
	if (e->size <= SMALL_BODY_MAX && cfg.map_cache && !e->body) {
		if (!is_resident(c, 0, e->size)) {
			c->rq->file_off = first;	/* remember the range across the job */
			c->rq->file_end = first + blen;
			c->rq->small_pending = true;
			if (submit_read(c, 0, e->size) == 0) {
				c->state = CS_WRITE;
				resume_send(c);
			}
			return;
		}
		char *b = malloc(e->size);
		if (b && pread(e->fd, b, e->size, 0) == (ssize_t)e->size)
			e->body = b;
		else
			free(b);
	}
	if (e->body) {
		c->rq->body = e->body + first;
		c->rq->body_len = (size_t)blen;
		c->rq->body_off = 0;
	} else {
		c->rq->file_off = first;
		c->rq->file_end = first + blen;
		c->rq->checked_until = first;
	}
	conn_send(c);
}

/* ---------------- request handling ---------------- */

static bool method_is(const struct conn *c, const char *m)
{
	size_t n = strlen(m);
	return c->rq->method_len == n && memcmp(c->rq->method, m, n) == 0;
}

static void request_finish(struct conn *c)
{
	uint64_t dur_start = c->rq->start_ns;

	if (cfg.access_log)
		alog_write(c->peer ? c->peer : "", c->rq->method, c->rq->method_len, c->rq->target, c->rq->target_len,
			   c->rq->minor, c->rq->status, c->rq->body_bytes);
	if (c->keepalive)
		c->rq->rflags |= AMPED_RF_KEEPALIVE;
	AMPED_REQUEST_DONE(cur, c->id, c->rq->req_id, c->rq->status, c->rq->body_bytes,
			   dur_start, c->rq->rflags, &c->rq->ph);
	memset(&c->rq->ph, 0, sizeof(c->rq->ph));
	/* a pipelined head came in with the last read at the latest */
	if (c->rq->head_len && c->rq->in_len > c->rq->head_len)
		c->rq->ph.arrive_ns = c->rq->arrive_last_ns;
	cur->req_id = 0;
	__atomic_fetch_add(&cur->requests_done, 1, __ATOMIC_RELAXED);
	fc_put(c->rq->fe);
	c->rq->fe = NULL;
	if (c->rq->out != c->rq->hbuf) {
		free(c->rq->out);
		c->rq->out = c->rq->hbuf;
	}
	c->rq->out_len = c->rq->out_off = 0;
	c->rq->body = NULL;
	c->rq->body_len = c->rq->body_off = 0;
	c->rq->file_off = c->rq->file_end = c->rq->checked_until = 0;
	c->rq->body_bytes = 0;
	c->rq->h_range = NULL;
	memset(&c->rq->cond, 0, sizeof(c->rq->cond));
	free(c->rq->mp);
	c->rq->mp = NULL;
	c->rq->rflags = 0;
	c->rq->status = 0;
	c->rq->method = c->rq->target = NULL;
	c->rq->method_len = c->rq->target_len = 0;
	c->rq->head_only = false;
	c->rq->small_pending = false;
	/* consume the head; pipelined bytes move to the front */
	if (c->rq->head_len) {
		memmove(c->rq->in, c->rq->in + c->rq->head_len, c->rq->in_len - c->rq->head_len);
		c->rq->in_len -= c->rq->head_len;
		c->rq->head_len = 0;
	}
	c->state = CS_READ;
}

/* The id a client gave its request (AMPED_REQ_HEADER: decimal digits);
 * 0 when there is none or it is not a number that fits. */
static uint64_t client_id(const struct hp_request *r)
{
	const struct hp_header *h = hp_find_header(r, AMPED_REQ_HEADER);
	uint64_t v = 0;

	if (!h || !h->value_len || h->value_len > 19)
		return 0;
	for (size_t i = 0; i < h->value_len; i++) {
		if (h->value[i] < '0' || h->value[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(h->value[i] - '0');
	}
	return v;
}

static void start_request(struct conn *c, const struct hp_request *r, size_t head_len)
{
	const struct hp_header *h;
	int trailing = 0;

	c->rq->head_len = head_len;
	c->rq->req_id = ++next_req_id;
	c->rq->start_ns = mono_ns();
	c->rq->rflags = 0;
	c->rq->method = r->method;
	c->rq->method_len = r->method_len;
	c->rq->target = r->target;
	c->rq->target_len = r->target_len;
	c->rq->minor = r->minor_version;
	c->rq->head_only = false;
	c->rq->body_bytes = 0;
	cur->start_ns = c->rq->start_ns;
	cur->conn_id = c->id;
	cur->req_id = c->rq->req_id;
	cur->method = r->method;
	if (cur->trace)
		c->rq->ph.client_id = client_id(r);

	h = hp_find_header(r, "connection");
	if (r->minor_version >= 1)
		c->keepalive = !(h && hp_has_token(h->value, h->value_len, "close"));
	else
		c->keepalive = h && hp_has_token(h->value, h->value_len, "keep-alive");
	if (draining)
		c->keepalive = false;

	if (method_is(c, "HEAD"))
		c->rq->head_only = true;
	else if (!method_is(c, "GET")) {
		static const char *const known[] = { "POST", "PUT", "DELETE", "OPTIONS",
						     "PATCH", "TRACE", "CONNECT" };
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			if (method_is(c, known[i])) {
				respond_simple(c, 405, "Allow: GET, HEAD\r\n");
				return;
			}
		}
		respond_simple(c, 501, NULL);
		return;
	}
	/* RFC 9112 §3.2: a 1.1 request without Host is a 400, and so is one
	 * with two Host fields. */
	if ((r->minor_version >= 1 && !hp_find_header(r, "host")) ||
	    hp_count_header(r, "host") > 1) {
		respond_simple(c, 400, NULL);
		return;
	}
	/* A body on GET/HEAD means nothing here: it is dropped once the
	 * answer is out (conn_process), within --max-body-bytes. */
	uint64_t body_len;
	int framing = hp_body_framing(r, cfg.max_body_bytes, &body_len);
	if (framing < 0) {
		respond_simple(c, framing == HP_TOO_LARGE ? 413 : framing == HP_UNSUPPORTED ? 501 : 400,
			       NULL);
		return;
	}
	if (framing == HP_BODY_LENGTH)
		c->discard = body_len;
	if (framing == HP_BODY_CHUNKED) {
		/* What came with the head is judged now, so that a bad or an
		 * oversized start gets its 400 or 413 instead of the file; the
		 * rest is judged as it arrives, after the answer. */
		struct hp_chunked peek = { 0 };
		size_t used;
		int pr = hp_chunked_discard(&peek, c->rq->in + head_len, c->rq->in_len - head_len,
					    cfg.max_body_bytes, &used);
		if (pr == HP_BAD || pr == HP_TOO_LARGE) {
			respond_simple(c, pr == HP_BAD ? 400 : 413, NULL);
			return;
		}
		memset(&c->rq->chunked, 0, sizeof(c->rq->chunked));
		c->chunked_body = true;
	}
	if ((h = hp_find_header(r, "range"))) {
		c->rq->h_range = h->value;
		c->rq->h_range_len = h->value_len;
	}
	hp_conditions_from_request(r, &c->rq->cond);

	c->rq->key[0] = '/';
	int n = hp_decode_path(r->target, r->target_len, c->rq->key + 1, sizeof(c->rq->key) - 3, &trailing);
	if (n < 0) {
		respond_simple(c, n == -1 ? 400 : n == -2 ? 403 : 414, NULL);
		return;
	}
	c->rq->key_len = (size_t)n + 1;
	if (trailing && n > 0)
		c->rq->key[c->rq->key_len++] = '/';
	c->rq->key[c->rq->key_len] = '\0';
	if (c->rq->key_len >= AMPED_PATH_MAX) {	/* a helper message carries at most this */
		respond_simple(c, 414, NULL);
		return;
	}
	cur->path = c->rq->key;
	DTRACE_PROBE3(amped, request_start, c->id, c->rq->req_id, c->rq->key);

	struct fentry *e = fc_lookup(c->rq->key, c->rq->key_len);
	if (e && e->kind != FE_PENDING) {
		c->rq->fe = e;
		respond_entry(c);
		return;
	}
	if (!e) {
		e = fc_begin(c->rq->key, c->rq->key_len);
		if (!e) {
			respond_simple(c, 503, NULL);
			return;
		}
		c->rq->fe = e;
		c->rq->wait_next = e->waiters;
		e->waiters = c;
		struct job *j = &c->rq->job;
		memset(j, 0, sizeof(*j));
		j->op = AMPED_OP_OPEN;
		j->req_id = c->rq->req_id;
		j->fe = e;
		j->done = open_done;
		c->rq->job_pending = true;
		c->rq->rflags |= blk->rf_open;
		wait_job(c);
		blk_submit(blk, j);
		return;
	}
	/* someone else's translation of the same path is in flight */
	c->rq->fe = e;
	c->rq->wait_next = e->waiters;
	e->waiters = c;
	c->rq->rflags |= AMPED_RF_HELPER_OPEN;
	wait_job(c);
}

/* After a wait, put the connection back in the loop and carry on. */
static void resume(struct conn *c, void (*step)(struct conn *))
{
	if (c->close_after) {
		c->close_after = false;
		conn_free(c);
		return;
	}
	conn_enter(c);
	c->state = CS_WRITE;
	step(c);
	if (!c->dead && c->state == CS_READ && !c->in_process)
		conn_process(c);
	conn_leave(c);
}

static void resume_send(struct conn *c)
{
	struct fentry *e = c->rq->fe;

	if (c->rq->job.err && c->rq->small_pending) {
		/* nothing sent yet: the header waits with the body */
		c->rq->small_pending = false;
		c->rq->file_off = c->rq->file_end = 0;
		c->rq->out_len = c->rq->out_off = 0;
		c->rq->body_bytes = 0;
		respond_simple(c, resp_status_from_errno(c->rq->job.err), NULL);
		return;
	}
	if (c->rq->job.err) {
		/* The header and part of the body may be out already: the status
		 * cannot change.  No helper could warm the pages (busy, or died
		 * twice): send them anyway, blocking if need be, since the read
		 * ahead was only advice.  A real read error ends the connection. */
		if (c->rq->job.err != EAGAIN) {
			conn_free(c);
			return;
		}
		c->rq->checked_until = c->rq->job.off + c->rq->job.len;
		conn_send(c);
		return;
	}
	if (c->rq->small_pending) {
		/* the small-file read: pages are in memory now */
		c->rq->small_pending = false;
		if (!e->body) {
			char *b = malloc(e->size);
			if (b && pread(e->fd, b, e->size, 0) == (ssize_t)e->size)
				e->body = b;
			else
				free(b);
		}
		uint64_t first = c->rq->file_off, len = c->rq->file_end - c->rq->file_off;
		if (e->body) {
			c->rq->body = e->body + first;
			c->rq->body_len = (size_t)len;
			c->rq->body_off = 0;
			c->rq->file_off = c->rq->file_end = 0;
		} else {
			c->rq->checked_until = c->rq->file_end;
		}
	} else {
		c->rq->checked_until = c->rq->job.off + c->rq->job.len;
	}
	conn_send(c);
}

/* c's READ job finished: send on (unless submit_read()'s caller, still on
 * the stack, carries on itself). */
static void read_done(struct job *j)
{
	struct conn *c = container_of(j, struct req, job)->conn;

	AMPED_PH_JOB(cur, &c->rq->ph, j->start_ns, j->sent_ns);
	c->rq->job_pending = false;
	if (!c->rq->submitting)
		resume(c, resume_send);
}

/* A translation finished: every connection waiting for the entry answers. */
static void open_done(struct job *j)
{
	struct conn *c = container_of(j, struct req, job)->conn;
	struct fentry *e = j->fe;

	AMPED_PH_JOB(cur, &c->rq->ph, j->start_ns, j->sent_ns);
	c->rq->job_pending = false;
	fc_complete(e, j->err, j->kind, j->fd, &j->st);
	struct conn *w = e->waiters;
	e->waiters = NULL;
	while (w) {
		struct conn *next = w->rq->wait_next;
		w->rq->wait_next = NULL;
		resume(w, respond_entry);
		w = next;
	}
}

/* ---------------- I/O ---------------- */

static void conn_process(struct conn *c)
{
	struct hp_request r;

	c->in_process = true;
	while (c->rq && !c->dead && c->state == CS_READ) {
		if (c->discard) {
			size_t n = c->discard < c->rq->in_len ? (size_t)c->discard : c->rq->in_len;
			memmove(c->rq->in, c->rq->in + n, c->rq->in_len - n);
			c->rq->in_len -= n;
			c->discard -= n;
			if (c->discard)
				break;
		}
		if (c->chunked_body) {
			size_t used;
			int cr = hp_chunked_discard(&c->rq->chunked, c->rq->in, c->rq->in_len,
						    cfg.max_body_bytes, &used);
			memmove(c->rq->in, c->rq->in + used, c->rq->in_len - used);
			c->rq->in_len -= used;
			if (cr == HP_INCOMPLETE)
				break;
			c->chunked_body = false;
			if (cr != 1) {
				/* the answer is out and the stream is lost from
				 * here: say so, and close */
				c->rq->minor = 1;
				respond_simple(c, cr == HP_BAD ? 400 : 413, NULL);
				break;
			}
		}
		if (c->rq->in_len == 0) {
			if (draining) {
				c->in_process = false;
				conn_free(c);
				return;
			}
			break;
		}
		if (c->dkind == DL_IDLE)
			set_deadline(c, DL_HEADER, cfg.header_timeout_ms);
		int rc = hp_parse_request(c->rq->in, c->rq->in_len, &r);
		if (rc == HP_INCOMPLETE) {
			bool has_nl = memchr(c->rq->in, '\n', c->rq->in_len) != NULL;
			if (!has_nl && c->rq->in_len > (size_t)cfg.max_line_bytes)
				respond_simple(c, 414, NULL);
			else if (c->rq->in_len >= c->rq->in_cap)
				respond_simple(c, 431, NULL);
			break;
		}
		if (rc < 0) {
			c->rq->minor = 1;
			respond_simple(c, rc == HP_TOO_MANY ? 431 : rc == HP_BAD_VERSION ? 505 : 400, NULL);
			break;
		}
		if (r.target_len > (size_t)cfg.max_line_bytes) {
			respond_simple(c, 414, NULL);
			break;
		}
		start_request(c, &r, (size_t)rc);
	}
	c->in_process = false;
	if (!c->dead && c->state == CS_READ) {
		if ((!c->rq || c->rq->in_len == 0) && c->dkind != DL_IDLE)
			set_deadline(c, DL_IDLE, cfg.keepalive_timeout_ms);
		req_idle(c);
		if (ae_mask(loop, c->fd) != AE_READABLE &&
		    watch(c, AE_READABLE) < 0)
			conn_free(c);
	}
}

/* w bytes went out.  True if that used up srpt's quantum for this pick
 * while more is left: c is back among the ready then. */
static bool quantum_spent(struct conn *c, size_t w)
{
	sent_bytes += w;
	if (!c->rq->quota)
		return false;
	c->rq->quota = w < c->rq->quota ? c->rq->quota - w : 0;
	return c->rq->quota == 0 && bytes_left(c) > 0 && ready_push(c) == 0;
}

/* Returns 0 if the connection is still there, -1 if it was closed. */
static int conn_write(struct conn *c)
{
	if (!c->rq->ph.resp_ns && cur->trace)
		c->rq->ph.resp_ns = mono_ns();
again:
	for (;;) {
		ssize_t w;

		if (c->rq->out_off < c->rq->out_len || c->rq->body_off < c->rq->body_len) {
			struct iovec iov[2];
			int n = 0;
			if (c->rq->out_off < c->rq->out_len)
				iov[n++] = (struct iovec){ c->rq->out + c->rq->out_off, c->rq->out_len - c->rq->out_off };
			if (c->rq->body_off < c->rq->body_len)
				iov[n++] = (struct iovec){ (char *)c->rq->body + c->rq->body_off, c->rq->body_len - c->rq->body_off };
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
			/* MSG_MORE: a header followed by sendfile leaves in one segment */
			int flags = MSG_NOSIGNAL | (c->rq->file_off < c->rq->file_end ? MSG_MORE : 0);
			w = sendmsg(c->fd, &mh, flags);
			if (w < 0)
				goto wouldblock_or_error;
			size_t hw = c->rq->out_len - c->rq->out_off;
			if ((size_t)w <= hw) {
				c->rq->out_off += (size_t)w;
			} else {
				c->rq->out_off = c->rq->out_len;
				c->rq->body_off += (size_t)w - hw;
			}
			if (c->dkind == DL_SEND)
				set_deadline(c, DL_SEND, cfg.send_timeout_ms);
			if (quantum_spent(c, (size_t)w))
				return 0;
			continue;
		}
		if (c->rq->file_off < c->rq->file_end) {
			if (c->rq->file_off >= c->rq->checked_until) {
				uint64_t len = c->rq->file_end - c->rq->file_off;
				if (len > CHUNK_BYTES)
					len = CHUNK_BYTES;
				if (!is_resident(c, c->rq->file_off, len)) {
					if (submit_read(c, c->rq->file_off, len))
						return 0;	/* read_done() sends on */
					/* done already (inline: SPED blocks here by
					 * design): carry on here rather than
					 * recursing once per chunk; as in
					 * resume_send(), EAGAIN sends anyway */
					if (c->rq->job.err && c->rq->job.err != EAGAIN) {
						conn_free(c);
						return -1;
					}
				}
				c->rq->checked_until = c->rq->file_off + len;
			}
			off_t off = (off_t)c->rq->file_off;
			size_t want = (size_t)(c->rq->checked_until - c->rq->file_off);
			if (c->rq->quota && want > c->rq->quota)
				want = (size_t)c->rq->quota;
			w = sendfile(c->fd, c->rq->fe->fd, &off, want);
			if (w < 0)
				goto wouldblock_or_error;
			if (w == 0) {
				/* the file shrank under us: the promised length
				 * cannot be kept, so the connection must end */
				conn_free(c);
				return -1;
			}
			c->rq->file_off = (uint64_t)off;
			if (c->dkind == DL_SEND)
				set_deadline(c, DL_SEND, cfg.send_timeout_ms);
			if (quantum_spent(c, (size_t)w))
				return 0;
			continue;
		}
		/* the next part of a multipart body, or its end */
		if (mp_load(c))
			continue;
		/* response complete */
		bool keep = c->keepalive && !draining;
		bool error_close = !c->keepalive && c->rq->status >= 400;
		request_finish(c);
		if (!keep) {
			if (error_close || c->rq->in_len > 0)
				conn_linger(c);
			else
				conn_free(c);
			return -1;
		}
		if (ae_mask(loop, c->fd) != AE_READABLE &&
		    watch(c, AE_READABLE) < 0) {
			conn_free(c);
			return -1;
		}
		set_deadline(c, DL_IDLE, cfg.keepalive_timeout_ms);
		return 0;
	}
wouldblock_or_error:
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		if (c->dkind != DL_SEND)
			set_deadline(c, DL_SEND, cfg.send_timeout_ms);
		if (blocking) {
			/* progress resets the deadline (above), as in the loop */
			int left = c->deadline_ms > now_ms ? (int)(c->deadline_ms - now_ms) : 0;
			int r = left > 0 ? wait_fd(c->fd, POLLOUT, left) : 0;
			if (r > 0 || (r < 0 && errno == EINTR))
				goto again;
			conn_free(c);	/* the client stopped reading */
			return -1;
		}
		if (watch(c, AE_WRITABLE) < 0) {
			conn_free(c);
			return -1;
		}
		return 0;
	}
	if (errno == EINTR)
		return conn_write(c);
	conn_free(c);			/* EPIPE, ECONNRESET: the client left */
	return -1;
}

static void conn_read(struct conn *c)
{
	if (!c->rq && req_take(c) < 0) {
		conn_free(c);
		return;
	}
	if (c->rq->in_len >= c->rq->in_cap) {
		conn_process(c);
		return;
	}
	uint64_t arrive_ns;
	ssize_t r = rxs_read(c->fd, c->rq->in + c->rq->in_len, c->rq->in_cap - c->rq->in_len, &c->rx_on,
			     &arrive_ns);
	if (blocking) {
		int e = errno;
		clock_refresh();
		errno = e;
		if (r < 0 && errno == EINTR) {
			req_idle(c);
			return;		/* the worker loop looks at the stop flag */
		}
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* the wait ended: the deadline passed, or the
			 * wake-up for the access log */
			if (c->dkind != DL_NONE && now_ms + 20 >= c->deadline_ms)
				conn_expire(c);
			else
				req_idle(c);
			return;
		}
	}
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			if (ae_mask(loop, c->fd) != AE_READABLE &&
			    watch(c, AE_READABLE) < 0)
				conn_free(c);
			else
				req_idle(c);
			return;
		}
		conn_free(c);
		return;
	}
	if (r == 0) {
		conn_free(c);		/* the client closed */
		return;
	}
	if (!c->rq->in_len && cur->trace) {
		c->rq->ph.first_ns = mono_ns();
		c->rq->ph.arrive_ns = arrive_ns;
		/* a new connection's first request waited in the accept queue */
		c->rq->ph.accept_ns = c->accept_ns;
		c->accept_ns = 0;
	}
	c->rq->arrive_last_ns = arrive_ns;
	c->rq->in_len += (size_t)r;
	conn_process(c);
}

static void conn_cb(struct ae_loop *l, int fd, void *data, int mask)
{
	struct conn *c = data;

	conn_enter(c);
	switch (c->state) {
	case CS_READ:
		conn_read(c);
		break;
	case CS_WRITE:
		if (mask & AE_WRITABLE) {
			/* srpt: the turn's scheduler decides when */
			if (cfg.sched == SCHED_SRPT && !blocking &&
			    (srpt_queued(&c->ready) || ready_push(c) == 0))
				break;
			if (conn_write(c) == 0 && !c->dead && c->state == CS_READ)
				conn_process(c);
		}
		break;
	case CS_LINGER: {
		char buf[4096];
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			conn_free(c);
		break;
	}
	case CS_WAIT:
		break;
	}
	cur->req_id = 0;
	conn_leave(c);
}

/* c's deadline passed: a half-sent head gets a 408, anything else closes. */
static void conn_expire(struct conn *c)
{
	if (c->dkind == DL_HEADER && c->rq && c->rq->in_len > 0 && c->state == CS_READ) {
		c->keepalive = false;
		c->rq->minor = 1;
		c->dkind = DL_NONE;
		conn_enter(c);
		respond_simple(c, 408, NULL);
		conn_leave(c);
	} else {
		conn_free(c);
	}
}

void conn_sweep(void)
{
	for (int i = 0; i < nconns;) {
		struct conn *c = conns[i];
		if (c->dkind == DL_NONE || now_ms < c->deadline_ms) {
			i++;
			continue;
		}
		conn_expire(c);
		/* conns[i] may now be another connection: look again */
		if (i < nconns && conns[i] == c)
			i++;
	}
	req_pool_trim();
	resume_accepting();
}

void conn_drain_idle(void)
{
	for (int i = 0; i < nconns;) {
		struct conn *c = conns[i];
		if (c->state == CS_READ && (!c->rq || c->rq->in_len == 0)) {
			conn_free(c);
			continue;
		}
		i++;
	}
}

void conn_close_all(void)
{
	while (nconns > 0) {
		struct conn *c = conns[0];
		if (c->rq)
			c->rq->job_pending = false;
		conn_free(c);
	}
	free(conns);
	conns = NULL;
	srpt_free(&readyq);
	req_pool_drain();
}

bool conn_run_ready(void)
{
	uint64_t start = sent_bytes;

	while (srpt_count(&readyq) > 0 && sent_bytes - start < SRPT_TURN_BYTES) {
		struct conn *c = container_of(srpt_min(&readyq), struct conn, ready);
		ready_remove(c);
		conn_enter(c);
		c->rq->quota = SRPT_QUANTUM_BYTES;
		int rc = conn_write(c);
		c->rq->quota = 0;
		if (rc == 0 && !c->dead && c->state == CS_READ && !c->in_process)
			conn_process(c);
		conn_leave(c);
	}
	return srpt_count(&readyq) > 0;
}

/* ---------------- a blocking worker's connection (worker.c) ---------------- */

void conn_blocking_init(int worker_idx, volatile struct amped_current *c, const struct blk_ops *b)
{
	blocking = true;
	blk = b;
	/* request ids stay unique across workers */
	next_req_id = (uint64_t)worker_idx << 48;
	next_conn_id = (uint32_t)worker_idx << 24;
	cur = c;
}

void conn_dispatcher_init(int idx, volatile struct amped_current *c)
{
	next_req_id = (uint64_t)idx << 48;
	next_conn_id = (uint32_t)idx << 24;
	cur = c;
}

struct conn *conn_adopt(int fd, const struct sockaddr_storage *ss)
{
	struct conn *c = conn_new(fd, ss);

	if (c)
		conn_enter(c);
	return c;
}

enum conn_next conn_next(struct conn *c, bool stopping, int *wait_ms)
{
	if (c->dead)
		return CONN_GONE;
	if (c->state == CS_LINGER) {
		*wait_ms = LINGER_MS;
		return CONN_LINGER;
	}
	if (stopping && !draining) {
		draining = true;
		c->keepalive = false;
	}
	if (draining && c->state == CS_READ && (!c->rq || c->rq->in_len == 0)) {
		conn_free(c);
		return CONN_GONE;
	}
	if (c->state == CS_WAIT) {
		*wait_ms = cfg.header_timeout_ms;
		return CONN_WAIT;
	}
	*wait_ms = c->dkind == DL_NONE ? cfg.header_timeout_ms :
		   c->deadline_ms > now_ms ? (int)(c->deadline_ms - now_ms) : 1;
	return CONN_INPUT;
}

void conn_input(struct conn *c)
{
	/* whatever the wait's outcome: data, EOF, or EAGAIN with the
	 * deadline checked */
	conn_read(c);
}

void conn_close(struct conn *c)
{
	conn_free(c);
}

void conn_release(struct conn *c)
{
	conn_leave(c);
}
