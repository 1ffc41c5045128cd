/* conn — the dispatcher's per-connection state machine.
 *
 *   READ  --head parsed--> translate (path cache, else a helper) --> WAIT
 *   WAIT  --job done-----> respond: 304/206/416/200, small bodies from memory,
 *                          large ones by sendfile a chunk at a time, each
 *                          chunk checked for residency first and, if not
 *                          resident, brought in by a helper (WAIT again)
 *   WRITE --all sent-----> READ (keep-alive; next pipelined head) or close
 *   LINGER: after an error we stop writing, read and drop what the client
 *           still sends, then close, so our answer is not lost to a RST.
 * Handlers run to completion; nothing here waits, except the jobs SPED runs
 * inline by design.
 *
 * Which ready response is written first (--sched): fcfs writes a response
 * as soon as it is ready and then whenever epoll says its socket can take
 * more.  srpt puts ready responses in a heap ordered by the bytes they have
 * left; once per loop turn the dispatcher writes a quantum to the one with
 * the fewest, puts it back, and goes on until every ready socket is full or
 * the turn's budget is spent (size-based scheduling: Harchol-Balter,
 * Schroeder, Bansal, Agrawal, "Size-based scheduling to improve web
 * performance", ACM TOCS 2003, who did it in the kernel's queues below
 * the sockets, where the link was the bottleneck; here it orders the
 * dispatcher's writes, and what a send buffer already holds drains as its
 * client reads). */
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
#include <sys/sdt.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "amped.h"
#include "http.h"

static void conn_cb(struct ae_loop *l, int fd, void *data, int mask);

enum cstate { CS_READ, CS_WAIT, CS_WRITE, CS_LINGER };
enum dkind { DL_NONE, DL_IDLE, DL_HEADER, DL_SEND, DL_LINGER };

#define CHUNK_BYTES (512 * 1024)
#define SRPT_QUANTUM_BYTES (64 * 1024)	/* written per pick */
#define SRPT_TURN_BYTES (1024 * 1024)	/* then look for new events */
#define HBUF_BYTES 1024
#define LINGER_MS 2000

struct conn {
	int fd;
	uint32_t id;
	enum cstate state;
	int idx;			/* in conns[] */
	bool in_process;		/* inside conn_process(): no re-entry */
	int busy;			/* callbacks on the stack: free later */
	bool dead;			/* closed while busy */
	bool small_pending;		/* a helper is reading a small file whole */
	bool close_after;		/* close when the response is out */
	bool keepalive;
	bool head_only;
	char *in;
	size_t in_len, in_cap;
	uint64_t discard;		/* request body bytes still to drop */
	uint64_t deadline_ms;
	enum dkind dkind;
	int ready_idx;			/* srpt: in ready[], + 1; 0 when not */
	uint64_t ready_key;		/* srpt: bytes left when it joined */
	uint64_t ready_seq;		/* srpt: ties go to the earlier */
	uint64_t quota;			/* srpt: bytes this write may send; 0 any */
	/* the request being served; pointers into in[] stay valid until
	 * request_finish() consumes the head */
	size_t head_len;
	uint64_t req_id, start_ns;
	struct amped_phases ph;		/* for request_done (amped_usdt.h) */
	uint32_t rflags;
	int status;
	int minor;
	const char *method, *target;
	size_t method_len, target_len;
	const char *h_range, *h_inm, *h_ims, *h_ifrange;
	size_t h_range_len, h_inm_len, h_ims_len, h_ifrange_len;
	char key[4200];
	size_t key_len;
	struct fentry *fe;
	struct conn *wait_next;
	struct job job;
	bool job_pending;
	/* output: header bytes, then a memory body or a file range */
	char hbuf[HBUF_BYTES];
	char *out;
	size_t out_len, out_off;
	const char *body;
	size_t body_len, body_off;
	uint64_t file_off, file_end, checked_until;
	uint64_t body_bytes;
	char peer[INET6_ADDRSTRLEN];
};

/* Per thread: the MT model runs one copy of this state in each worker. */
static __thread struct conn **conns;
static __thread int nconns, conns_cap;
static __thread int listen_fd = -1;
static __thread bool accepting, draining;
static __thread uint32_t next_conn_id;
static __thread uint64_t next_req_id;
static __thread uint64_t accept_retry_ms;
/* srpt: responses ready to write, a min-heap on (ready_key, ready_seq) */
static __thread struct conn **ready;
static __thread int nready, ready_cap;
static __thread uint64_t ready_clock;
static __thread uint64_t sent_bytes;	/* by conn_write, for the turn's budget */
/* MP and MT workers: one connection at a time, nothing registered with an
 * event loop.  Their sockets are non-blocking and every wait is a poll()
 * bounded by the connection's deadline (as APR does for Apache's
 * timeouts): SO_SNDTIMEO would bound each piece that sendfile() splices,
 * not the call, and a stalled client would hold a worker for several
 * timeouts.  Disk reads inside sendfile() still block, which is the point
 * of these models. */
static __thread bool blocking;
/* The request this thread serves, for tracers: the global in processes
 * with one dispatcher; a thread's own copy in MT workers. */
static __thread volatile struct amped_current *cur = &amped_current;

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
static int wait_fd(int fd, short events, int timeout_ms);
static void respond_entry(struct conn *c);
static void set_deadline(struct conn *c, enum dkind k, int ms);

/* ---------------- srpt: the ready heap ---------------- */

static uint64_t bytes_left(const struct conn *c)
{
	return (c->out_len - c->out_off) + (c->body_len - c->body_off) +
	       (c->file_end - c->file_off);
}

static bool ready_less(const struct conn *a, const struct conn *b)
{
	return a->ready_key < b->ready_key ||
	       (a->ready_key == b->ready_key && a->ready_seq < b->ready_seq);
}

static void ready_place(int i, struct conn *c)
{
	ready[i] = c;
	c->ready_idx = i + 1;
}

static void ready_up(int i)
{
	struct conn *c = ready[i];
	while (i > 0) {
		int p = (i - 1) / 2;
		if (!ready_less(c, ready[p]))
			break;
		ready_place(i, ready[p]);
		i = p;
	}
	ready_place(i, c);
}

static void ready_down(int i)
{
	struct conn *c = ready[i];
	for (;;) {
		int l = 2 * i + 1, m;
		if (l >= nready)
			break;
		m = l + 1 < nready && ready_less(ready[l + 1], ready[l]) ? l + 1 : l;
		if (!ready_less(ready[m], c))
			break;
		ready_place(i, ready[m]);
		i = m;
	}
	ready_place(i, c);
}

static void ready_remove(struct conn *c)
{
	int i = c->ready_idx - 1;

	if (i < 0)
		return;
	c->ready_idx = 0;
	struct conn *last = ready[--nready];
	if (i == nready)
		return;
	ready_place(i, last);
	ready_down(i);
	ready_up(last->ready_idx - 1);
}

/* c has something to write and its socket may take it.  0 ok, -1 ENOMEM. */
static int ready_push(struct conn *c)
{
	if (c->ready_idx)
		ready_remove(c);	/* its key changed */
	if (nready == ready_cap) {
		int cap = ready_cap ? ready_cap * 2 : 256;
		struct conn **n = realloc(ready, (size_t)cap * sizeof(*n));
		if (!n)
			return -1;
		ready = n;
		ready_cap = cap;
	}
	c->ready_key = bytes_left(c);
	c->ready_seq = ++ready_clock;
	/* waiting for its turn is the server's doing, not the client's: no
	 * send (or header) deadline runs meanwhile */
	set_deadline(c, DL_NONE, 0);
	ready[nready++] = c;
	ready_up(nready - 1);
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

/* errno -> HTTP status, in one place. */
static int status_from_errno(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return 404;
	case EACCES:
	case EPERM:
	case EXDEV:		/* RESOLVE_BENEATH: a path or symlink leaving the root */
	case ELOOP:
	case EISDIR:		/* a directory without index.html: no listings */
		return 403;
	case ENAMETOOLONG:
		return 414;
	case EAGAIN:
	case EMFILE:
	case ENFILE:
	case ENOMEM:
		return 503;
	default:
		return 500;
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
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
		extern void accept_cb(struct ae_loop *, int, void *, int);
		if (ae_set(loop, listen_fd, AE_READABLE, accept_cb, NULL) == 0)
			accepting = true;
	}
}

static void conn_destroy(struct conn *c)
{
	ready_remove(c);
	fc_put(c->fe);
	c->fe = NULL;
	/* close() takes the socket out of the epoll set; helpers never hold
	 * client sockets (they close every inherited fd at start) */
	ae_forget(loop, c->fd);
	close(c->fd);
	conns[c->idx] = conns[--nconns];
	conns[c->idx]->idx = c->idx;
	if (c->out != c->hbuf)
		free(c->out);
	free(c->in);
	free(c);
	resume_accepting();
}

/* Close a connection.  Callers up the stack may still hold c: then it is
 * only marked dead and conn_leave() frees it. */
static void conn_free(struct conn *c)
{
	if (c->dead)
		return;
	if (c->job_pending) {
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
	if (c->job_pending) {
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
	c->out = c->hbuf;
	c->idx = nconns;
	conns[nconns++] = c;
	if (cfg.access_log) {
		if (ss->ss_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, c->peer, sizeof(c->peer));
		else if (ss->ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, c->peer, sizeof(c->peer));
	}
	c->state = CS_READ;
	set_deadline(c, DL_IDLE, cfg.header_timeout_ms);
	return c;
}

void accept_cb(struct ae_loop *l, int lfd, void *data, int mask)
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
		struct conn *c = conn_new(fd, &ss);
		if (!c)
			return;
		/* The listener has TCP_DEFER_ACCEPT: the request is usually
		 * here already, so read it now and skip an epoll round trip
		 * (conn_read registers the socket if it is not). */
		conn_cb(loop, fd, c, AE_READABLE);
	}
}

int conn_listen_start(int lfd)
{
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

static int out_reserve(struct conn *c, size_t n)
{
	if (n <= HBUF_BYTES) {
		c->out = c->hbuf;
		return 0;
	}
	c->out = malloc(n);
	if (!c->out) {
		c->out = c->hbuf;
		return -1;
	}
	return 0;
}

static const char *conn_field(const struct conn *c)
{
	return c->keepalive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
}

/* A status with a small HTML body (or none: HEAD, 304).  Errors that leave
 * the request stream in doubt close the connection. */
static void respond_simple(struct conn *c, int status, const char *extra)
{
	char body[256];
	int blen = 0;
	bool keep = status == 301 || status == 304 || status == 403 ||
		    status == 404 || status == 416;

	if (!keep)
		c->keepalive = false;
	c->status = status;
	if (status != 304)
		blen = snprintf(body, sizeof(body),
				"<html><head><title>%d %s</title></head><body><h1>%d %s</h1></body></html>\n",
				status, reason(status), status, reason(status));
	size_t need = 256 + date_fields_len + (extra ? strlen(extra) : 0) + (size_t)blen;
	if (out_reserve(c, need) < 0) {
		c->keepalive = false;
		conn_linger(c);
		return;
	}
	int n = snprintf(c->out, need, "HTTP/1.1 %d %s\r\n%s", status, reason(status), date_fields);
	if (status != 304)
		n += snprintf(c->out + n, need - (size_t)n,
			      "Content-Type: text/html\r\nContent-Length: %d\r\n", blen);
	n += snprintf(c->out + n, need - (size_t)n, "%s%s", extra ? extra : "", conn_field(c));
	if (!c->head_only && status != 304) {
		memcpy(c->out + n, body, (size_t)blen);
		n += blen;
		c->body_bytes = (uint64_t)blen;
	}
	c->out_len = (size_t)n;
	c->out_off = 0;
	c->state = CS_WRITE;
	conn_send(c);
}

/* Percent-encode a path for a Location header. */
static size_t url_encode(const char *s, size_t n, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < n && o + 4 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("/-._~!$&'()*+,;=:@", ch)) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return o;
}

static bool is_resident(struct conn *c, uint64_t off, uint64_t len)
{
	struct fentry *e = c->fe;
	long pg = 4096;
	uint64_t a = off & ~(uint64_t)(pg - 1);
	uint64_t npages = (off + len - a + (uint64_t)pg - 1) / (uint64_t)pg;

	/* MP and MT workers block anyway: they just read, as such servers do */
	if (len == 0 || blocking)
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
	c->rflags |= AMPED_RF_RESIDENT_MISS | (model_offloads() ? AMPED_RF_HELPER_READ : AMPED_RF_INLINE_BLOCK);
	DTRACE_PROBE4(amped, residency_miss, c->req_id, off, len, cfg.residency);
}

static void submit_read(struct conn *c, uint64_t off, uint64_t len)
{
	struct job *j = &c->job;

	memset(j, 0, sizeof(*j));
	j->op = AMPED_OP_READ;
	j->req_id = c->req_id;
	j->fe = c->fe;
	j->conn = c;
	j->off = off;
	j->len = len;
	note_miss(c, off, len);
	c->job_pending = true;
	wait_job(c);
	job_submit(j);
}

static bool etag_equal_strong(const struct conn *c, const char *v, size_t n)
{
	return n == c->fe->etag_len && memcmp(v, c->fe->etag, n) == 0;
}

static void respond_entry(struct conn *c)
{
	struct fentry *e = c->fe;
	uint64_t first = 0, last = 0;
	int status = 200;
	char extra[768];
	size_t extra_len = 0;

	if (e->kind == FE_REDIRECT) {
		char loc[4400 + 16], enc[4400];
		url_encode(c->key, c->key_len, enc, sizeof(enc));
		snprintf(loc, sizeof(loc), "Location: %s/\r\n", enc);
		respond_simple(c, 301, loc);
		return;
	}
	if (e->kind != FE_FILE) {
		respond_simple(c, status_from_errno(e->err), NULL);
		return;
	}
	/* RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since. */
	if (c->h_inm) {
		if (hp_etag_match(c->h_inm, c->h_inm_len, e->etag, e->etag_len)) {
			char f[160];
			snprintf(f, sizeof(f), "ETag: %s\r\nLast-Modified: %s\r\n", e->etag, e->lastmod);
			respond_simple(c, 304, f);
			return;
		}
	} else if (c->h_ims) {
		time_t t;
		if (hp_parse_http_date(c->h_ims, c->h_ims_len, &t) == 0 && e->mtime.tv_sec <= t) {
			char f[160];
			snprintf(f, sizeof(f), "ETag: %s\r\nLast-Modified: %s\r\n", e->etag, e->lastmod);
			respond_simple(c, 304, f);
			return;
		}
	}
	if (c->h_range) {
		bool use = true;
		if (c->h_ifrange) {
			time_t t;
			if (c->h_ifrange_len > 0 && (c->h_ifrange[0] == '"' || c->h_ifrange[0] == 'W'))
				use = etag_equal_strong(c, c->h_ifrange, c->h_ifrange_len);
			else
				use = hp_parse_http_date(c->h_ifrange, c->h_ifrange_len, &t) == 0 &&
				      t == e->mtime.tv_sec;
		}
		int r = use ? hp_parse_range(c->h_range, c->h_range_len, e->size, &first, &last) : 0;
		if (r < 0) {
			char f[64];
			snprintf(f, sizeof(f), "Content-Range: bytes */%" PRIu64 "\r\n", e->size);
			respond_simple(c, 416, f);
			return;
		}
		if (r > 0) {
			status = 206;
			int n = snprintf(extra, sizeof(extra),
				"Content-Type: %s\r\nContent-Length: %" PRIu64 "\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n"
				"Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n",
				e->ctype, last - first + 1, first, last, e->size, e->lastmod, e->etag);
			if (n < 0 || (size_t)n >= sizeof(extra)) {
				respond_simple(c, 500, NULL);
				return;
			}
			extra_len = (size_t)n;
		}
	}
	if (status == 200) {
		first = 0;
		last = e->size ? e->size - 1 : 0;
	}
	c->status = status;
	uint64_t blen = e->size ? last - first + 1 : 0;

	/* header: status line, Server+Date, fields, Connection */
	char fbuf[512];
	const char *fields;
	size_t flen;
	if (status == 206) {
		fields = extra;
		flen = extra_len;
	} else {
		flen = fc_header_fields(e, fbuf, sizeof(fbuf), &fields);
	}
	const char *sl = status == 200 ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 206 Partial Content\r\n";
	size_t sllen = strlen(sl);
	const char *cf = conn_field(c);
	size_t cflen = strlen(cf);
	char *o = c->hbuf;
	c->out = c->hbuf;
	if (sllen + date_fields_len + flen + cflen > HBUF_BYTES) {
		respond_simple(c, 500, NULL);
		return;
	}
	memcpy(o, sl, sllen);
	o += sllen;
	memcpy(o, date_fields, date_fields_len);
	o += date_fields_len;
	memcpy(o, fields, flen);
	o += flen;
	memcpy(o, cf, cflen);
	o += cflen;
	c->out_len = (size_t)(o - c->hbuf);
	c->out_off = 0;
	c->state = CS_WRITE;
	if (c->head_only || blen == 0) {
		conn_send(c);
		return;
	}
	c->body_bytes = blen;
	/* Small files are kept in memory once their pages were resident:
	 * header and body then leave in one writev. */
	if (e->size <= SMALL_BODY_MAX && cfg.map_cache && !e->body) {
		if (!is_resident(c, 0, e->size)) {
			c->file_off = first;	/* remember the range across the job */
			c->file_end = last + 1;
			c->small_pending = true;
			submit_read(c, 0, e->size);
			return;
		}
		char *b = malloc(e->size);
		if (b && pread(e->fd, b, e->size, 0) == (ssize_t)e->size)
			e->body = b;
		else
			free(b);
	}
	if (e->body) {
		c->body = e->body + first;
		c->body_len = (size_t)blen;
		c->body_off = 0;
	} else {
		c->file_off = first;
		c->file_end = last + 1;
		c->checked_until = first;
	}
	conn_send(c);
}

/* ---------------- request handling ---------------- */

static bool method_is(const struct conn *c, const char *m)
{
	size_t n = strlen(m);
	return c->method_len == n && memcmp(c->method, m, n) == 0;
}

static void request_finish(struct conn *c)
{
	uint64_t dur_start = c->start_ns;

	if (cfg.access_log)
		alog_write(c->peer, c->method, c->method_len, c->target, c->target_len,
			   c->minor, c->status, c->body_bytes);
	if (c->keepalive)
		c->rflags |= AMPED_RF_KEEPALIVE;
	AMPED_REQUEST_DONE(amped_current.sample_mask, c->id, c->req_id, c->status, c->body_bytes,
			   dur_start, c->rflags, &c->ph);
	memset(&c->ph, 0, sizeof(c->ph));
	cur->req_id = 0;
	__atomic_fetch_add(&amped_current.requests_done, 1, __ATOMIC_RELAXED);
	fc_put(c->fe);
	c->fe = NULL;
	if (c->out != c->hbuf) {
		free(c->out);
		c->out = c->hbuf;
	}
	c->out_len = c->out_off = 0;
	c->body = NULL;
	c->body_len = c->body_off = 0;
	c->file_off = c->file_end = c->checked_until = 0;
	c->body_bytes = 0;
	c->h_range = c->h_inm = c->h_ims = c->h_ifrange = NULL;
	c->rflags = 0;
	c->status = 0;
	c->method = c->target = NULL;
	c->method_len = c->target_len = 0;
	c->head_only = false;
	c->small_pending = false;
	/* consume the head; pipelined bytes move to the front */
	if (c->head_len) {
		memmove(c->in, c->in + c->head_len, c->in_len - c->head_len);
		c->in_len -= c->head_len;
		c->head_len = 0;
	}
	c->state = CS_READ;
}

static bool content_lengths_agree(const struct hp_request *r)
{
	const struct hp_header *first = NULL;

	for (size_t i = 0; i < r->num_headers; i++) {
		const struct hp_header *h = &r->headers[i];
		if (h->name_len != 14 || strncasecmp(h->name, "content-length", 14) != 0)
			continue;
		if (!first)
			first = h;
		else if (h->value_len != first->value_len ||
			 memcmp(h->value, first->value, h->value_len) != 0)
			return false;
	}
	return true;
}

static void start_request(struct conn *c, const struct hp_request *r, size_t head_len)
{
	const struct hp_header *h;
	int trailing = 0;

	c->head_len = head_len;
	c->req_id = ++next_req_id;
	c->start_ns = mono_ns();
	c->rflags = 0;
	c->method = r->method;
	c->method_len = r->method_len;
	c->target = r->target;
	c->target_len = r->target_len;
	c->minor = r->minor_version;
	c->head_only = false;
	c->body_bytes = 0;
	cur->start_ns = c->start_ns;
	cur->conn_id = c->id;
	cur->req_id = c->req_id;
	cur->method = r->method;

	h = hp_find_header(r, "connection");
	if (r->minor_version >= 1)
		c->keepalive = !(h && hp_has_token(h->value, h->value_len, "close"));
	else
		c->keepalive = h && hp_has_token(h->value, h->value_len, "keep-alive");
	if (draining)
		c->keepalive = false;

	if (method_is(c, "HEAD"))
		c->head_only = true;
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
	/* RFC 9112 §3.2: a 1.1 request without Host is a 400. */
	/* ... and so is one with two Host fields (§3.2) or with Content-Length
	 * fields that disagree (§6.3: the framing cannot be trusted). */
	if ((r->minor_version >= 1 && !hp_find_header(r, "host")) ||
	    hp_count_header(r, "host") > 1 || !content_lengths_agree(r)) {
		respond_simple(c, 400, NULL);
		return;
	}
	if (hp_find_header(r, "transfer-encoding")) {
		respond_simple(c, 501, NULL);
		return;
	}
	h = hp_find_header(r, "content-length");
	if (h) {
		uint64_t n = 0;
		if (h->value_len == 0 || h->value_len > 18) {
			respond_simple(c, h->value_len > 18 ? 413 : 400, NULL);
			return;
		}
		for (size_t i = 0; i < h->value_len; i++) {
			if (h->value[i] < '0' || h->value[i] > '9') {
				respond_simple(c, 400, NULL);
				return;
			}
			n = n * 10 + (uint64_t)(h->value[i] - '0');
		}
		if (n > cfg.max_body_bytes) {
			respond_simple(c, 413, NULL);
			return;
		}
		c->discard = n;
	}
	if ((h = hp_find_header(r, "range"))) {
		c->h_range = h->value;
		c->h_range_len = h->value_len;
	}
	if ((h = hp_find_header(r, "if-none-match"))) {
		c->h_inm = h->value;
		c->h_inm_len = h->value_len;
	}
	if ((h = hp_find_header(r, "if-modified-since"))) {
		c->h_ims = h->value;
		c->h_ims_len = h->value_len;
	}
	if ((h = hp_find_header(r, "if-range"))) {
		c->h_ifrange = h->value;
		c->h_ifrange_len = h->value_len;
	}

	c->key[0] = '/';
	int n = hp_decode_path(r->target, r->target_len, c->key + 1, sizeof(c->key) - 3, &trailing);
	if (n < 0) {
		respond_simple(c, n == -1 ? 400 : n == -2 ? 403 : 414, NULL);
		return;
	}
	c->key_len = (size_t)n + 1;
	if (trailing && n > 0)
		c->key[c->key_len++] = '/';
	c->key[c->key_len] = '\0';
	if (c->key_len >= AMPED_PATH_MAX) {	/* a helper message carries at most this */
		respond_simple(c, 414, NULL);
		return;
	}
	cur->path = c->key;
	DTRACE_PROBE3(amped, request_start, c->id, c->req_id, c->key);

	struct fentry *e = fc_lookup(c->key, c->key_len);
	if (e && e->kind != FE_PENDING) {
		c->fe = e;
		respond_entry(c);
		return;
	}
	if (!e) {
		e = fc_begin(c->key, c->key_len);
		if (!e) {
			respond_simple(c, 503, NULL);
			return;
		}
		c->fe = e;
		c->wait_next = e->waiters;
		e->waiters = c;
		struct job *j = &c->job;
		memset(j, 0, sizeof(*j));
		j->op = AMPED_OP_OPEN;
		j->req_id = c->req_id;
		j->fe = e;
		j->conn = c;
		c->job_pending = true;
		c->rflags |= model_offloads() ? AMPED_RF_HELPER_OPEN : AMPED_RF_INLINE_BLOCK;
		wait_job(c);
		job_submit(j);
		return;
	}
	/* someone else's translation of the same path is in flight */
	c->fe = e;
	c->wait_next = e->waiters;
	e->waiters = c;
	c->rflags |= AMPED_RF_HELPER_OPEN;
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
	struct fentry *e = c->fe;

	if (c->job.err && c->small_pending) {
		/* nothing sent yet: the header waits with the body */
		c->small_pending = false;
		c->file_off = c->file_end = 0;
		c->out_len = c->out_off = 0;
		c->body_bytes = 0;
		respond_simple(c, status_from_errno(c->job.err), NULL);
		return;
	}
	if (c->job.err) {
		/* The header and part of the body may be out already: the status
		 * cannot change.  No helper could warm the pages (busy, or died
		 * twice): send them anyway, blocking if need be, since the read
		 * ahead was only advice.  A real read error ends the connection. */
		if (c->job.err != EAGAIN) {
			conn_free(c);
			return;
		}
		c->checked_until = c->job.off + c->job.len;
		conn_send(c);
		return;
	}
	if (c->small_pending) {
		/* the small-file read: pages are in memory now */
		c->small_pending = false;
		if (!e->body) {
			char *b = malloc(e->size);
			if (b && pread(e->fd, b, e->size, 0) == (ssize_t)e->size)
				e->body = b;
			else
				free(b);
		}
		uint64_t first = c->file_off, len = c->file_end - c->file_off;
		if (e->body) {
			c->body = e->body + first;
			c->body_len = (size_t)len;
			c->body_off = 0;
			c->file_off = c->file_end = 0;
		} else {
			c->checked_until = c->file_end;
		}
	} else {
		c->checked_until = c->job.off + c->job.len;
	}
	conn_send(c);
}

void job_done(struct job *j)
{
	AMPED_PH_JOB(&j->conn->ph, j->start_ns, j->sent_ns);
	if (j->op == AMPED_OP_READ) {
		struct conn *c = j->conn;
		c->job_pending = false;
		resume(c, resume_send);
		return;
	}
	struct fentry *e = j->fe;
	j->conn->job_pending = false;
	fc_complete(e, j->err, j->kind, j->fd, &j->st);
	struct conn *w = e->waiters;
	e->waiters = NULL;
	while (w) {
		struct conn *next = w->wait_next;
		w->wait_next = NULL;
		resume(w, respond_entry);
		w = next;
	}
}

/* ---------------- I/O ---------------- */

static void conn_process(struct conn *c)
{
	struct hp_request r;

	c->in_process = true;
	while (!c->dead && c->state == CS_READ) {
		if (c->discard) {
			size_t n = c->discard < c->in_len ? (size_t)c->discard : c->in_len;
			memmove(c->in, c->in + n, c->in_len - n);
			c->in_len -= n;
			c->discard -= n;
			if (c->discard)
				break;
		}
		if (c->in_len == 0) {
			if (draining) {
				c->in_process = false;
				conn_free(c);
				return;
			}
			break;
		}
		if (c->dkind == DL_IDLE)
			set_deadline(c, DL_HEADER, cfg.header_timeout_ms);
		int rc = hp_parse_request(c->in, c->in_len, &r);
		if (rc == HP_INCOMPLETE) {
			bool has_nl = memchr(c->in, '\n', c->in_len) != NULL;
			if (!has_nl && c->in_len > (size_t)cfg.max_line_bytes)
				respond_simple(c, 414, NULL);
			else if (c->in_len >= c->in_cap)
				respond_simple(c, 431, NULL);
			break;
		}
		if (rc < 0) {
			c->minor = 1;
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
		if (c->in_len == 0 && c->dkind != DL_IDLE)
			set_deadline(c, DL_IDLE, cfg.keepalive_timeout_ms);
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
	if (!c->quota)
		return false;
	c->quota = w < c->quota ? c->quota - w : 0;
	return c->quota == 0 && bytes_left(c) > 0 && ready_push(c) == 0;
}

/* Returns 0 if the connection is still there, -1 if it was closed. */
static int conn_write(struct conn *c)
{
	if (!c->ph.resp_ns && amped_current.trace)
		c->ph.resp_ns = mono_ns();
again:
	for (;;) {
		ssize_t w;

		if (c->out_off < c->out_len || c->body_off < c->body_len) {
			struct iovec iov[2];
			int n = 0;
			if (c->out_off < c->out_len)
				iov[n++] = (struct iovec){ c->out + c->out_off, c->out_len - c->out_off };
			if (c->body_off < c->body_len)
				iov[n++] = (struct iovec){ (char *)c->body + c->body_off, c->body_len - c->body_off };
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
			/* MSG_MORE: a header followed by sendfile leaves in one segment */
			int flags = MSG_NOSIGNAL | (c->file_off < c->file_end ? MSG_MORE : 0);
			w = sendmsg(c->fd, &mh, flags);
			if (w < 0)
				goto wouldblock_or_error;
			size_t hw = c->out_len - c->out_off;
			if ((size_t)w <= hw) {
				c->out_off += (size_t)w;
			} else {
				c->out_off = c->out_len;
				c->body_off += (size_t)w - hw;
			}
			if (c->dkind == DL_SEND)
				set_deadline(c, DL_SEND, cfg.send_timeout_ms);
			if (quantum_spent(c, (size_t)w))
				return 0;
			continue;
		}
		if (c->file_off < c->file_end) {
			if (c->file_off >= c->checked_until) {
				uint64_t len = c->file_end - c->file_off;
				if (len > CHUNK_BYTES)
					len = CHUNK_BYTES;
				if (!is_resident(c, c->file_off, len)) {
					if (model_offloads()) {
						submit_read(c, c->file_off, len);
						return 0;
					}
					/* SPED reads in place, blocking the loop (and
					 * without recursing once per chunk) */
					note_miss(c, c->file_off, len);
					if (job_run_read(c->fe->fd, c->file_off, len) != 0) {
						conn_free(c);
						return -1;
					}
				}
				c->checked_until = c->file_off + len;
			}
			off_t off = (off_t)c->file_off;
			size_t want = (size_t)(c->checked_until - c->file_off);
			if (c->quota && want > c->quota)
				want = (size_t)c->quota;
			w = sendfile(c->fd, c->fe->fd, &off, want);
			if (w < 0)
				goto wouldblock_or_error;
			if (w == 0) {
				/* the file shrank under us: the promised length
				 * cannot be kept, so the connection must end */
				conn_free(c);
				return -1;
			}
			c->file_off = (uint64_t)off;
			if (c->dkind == DL_SEND)
				set_deadline(c, DL_SEND, cfg.send_timeout_ms);
			if (quantum_spent(c, (size_t)w))
				return 0;
			continue;
		}
		/* response complete */
		bool keep = c->keepalive && !draining;
		bool error_close = !c->keepalive && c->status >= 400;
		request_finish(c);
		if (!keep) {
			if (error_close || c->in_len > 0)
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
	if (!c->in) {
		c->in_cap = (size_t)cfg.max_header_bytes;
		c->in = malloc(c->in_cap);
		if (!c->in) {
			conn_free(c);
			return;
		}
	}
	if (c->in_len >= c->in_cap) {
		conn_process(c);
		return;
	}
	ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (blocking) {
		int e = errno;
		clock_refresh();
		errno = e;
		if (r < 0 && errno == EINTR)
			return;		/* the worker loop looks at the stop flag */
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* the wait ended: the deadline passed, or the
			 * wake-up for the access log */
			if (c->dkind != DL_NONE && now_ms + 20 >= c->deadline_ms)
				conn_expire(c);
			return;
		}
	}
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			if (ae_mask(loop, c->fd) != AE_READABLE &&
			    watch(c, AE_READABLE) < 0)
				conn_free(c);
			return;
		}
		conn_free(c);
		return;
	}
	if (r == 0) {
		conn_free(c);		/* the client closed */
		return;
	}
	if (!c->in_len && amped_current.trace)
		c->ph.first_ns = mono_ns();
	c->in_len += (size_t)r;
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
			    (c->ready_idx || ready_push(c) == 0))
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
	if (c->dkind == DL_HEADER && c->in_len > 0 && c->state == CS_READ) {
		c->keepalive = false;
		c->minor = 1;
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
	resume_accepting();
}

void conn_drain_idle(void)
{
	for (int i = 0; i < nconns;) {
		struct conn *c = conns[i];
		if (c->state == CS_READ && c->in_len == 0) {
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
		c->job_pending = false;
		conn_free(c);
	}
	free(conns);
	conns = NULL;
	free(ready);
	ready = NULL;
	nready = ready_cap = 0;
}

bool conn_run_ready(void)
{
	uint64_t start = sent_bytes;

	while (nready > 0 && sent_bytes - start < SRPT_TURN_BYTES) {
		struct conn *c = ready[0];
		ready_remove(c);
		conn_enter(c);
		c->quota = SRPT_QUANTUM_BYTES;
		int rc = conn_write(c);
		c->quota = 0;
		if (rc == 0 && !c->dead && c->state == CS_READ && !c->in_process)
			conn_process(c);
		conn_leave(c);
	}
	return nready > 0;
}

/* ---------------- blocking workers (MP, MT) ---------------- */

void conn_worker_init(int worker_idx, bool own_current)
{
	static __thread struct amped_current mine;

	blocking = true;
	/* request ids stay unique across workers */
	next_req_id = (uint64_t)worker_idx << 48;
	next_conn_id = (uint32_t)worker_idx << 24;
	if (own_current)
		cur = &mine;
}

/* poll() one fd: >0 ready, 0 timed out, -1 error (EINTR: a signal, such
 * as the stop request). */
static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = poll(&p, 1, timeout_ms);
	int e = errno;
	clock_refresh();
	errno = e;
	return r;
}

/* Serve one connection to its end, waiting in poll() for the client and in
 * sendfile()/pread() for the disk, as MP and MT servers do. */
void conn_serve_blocking(int fd, const struct sockaddr_storage *ss)
{
	struct conn *c;
	clock_refresh();
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		close(fd);
		return;
	}
	c = conn_new(fd, ss);
	if (!c)
		return;
	conn_enter(c);
	while (!c->dead) {
		if (c->state == CS_LINGER) {
			/* read and drop what the client still sends, briefly */
			char buf[4096];
			uint64_t until = now_ms + LINGER_MS;
			while (now_ms < until && wait_fd(fd, POLLIN, (int)(until - now_ms)) > 0 &&
			       read(fd, buf, sizeof(buf)) > 0)
				;
			conn_free(c);
			break;
		}
		if (amped_stop_requested && !draining) {
			draining = true;
			c->keepalive = false;
		}
		if (draining && c->state == CS_READ && c->in_len == 0) {
			conn_free(c);
			break;
		}
		alog_tick();
		int ms = c->dkind == DL_NONE ? cfg.header_timeout_ms :
			 c->deadline_ms > now_ms ? (int)(c->deadline_ms - now_ms) : 1;
		if (ms > 500 && cfg.access_log)
			ms = 500;	/* wake to flush the log within a second */
		/* Whatever the wait's outcome, conn_read() looks: data, EOF,
		 * or EAGAIN with the deadline checked. */
		wait_fd(fd, POLLIN, ms);
		conn_read(c);
	}
	conn_leave(c);
}
