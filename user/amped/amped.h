/* amped internals shared by the dispatcher's modules.
 *
 * Modules: main.c (options, start-up, shutdown), conn.c (per-connection
 * state machine and HTTP responses), fcache.c (path, open-file and header
 * caches), helper.c (helper processes and the job protocol), alog.c
 * (buffered Common Log Format access log), uring.c (the same blocking work
 * as io_uring operations).  Everything here runs on the dispatcher thread
 * except helper_main(), which runs in a helper process, and the AMTED
 * helper threads' loop. */
#ifndef AMPED_AMPED_H
#define AMPED_AMPED_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "ae.h"
#include "amped_names.h"
#include "amped_usdt.h"

/* amped/amted: a dispatcher plus helper processes/threads for blocking work;
 * sped: one dispatcher that blocks; symped: N independent SPED processes;
 * mp/mt: a process/thread per connection with blocking I/O; uring: one
 * dispatcher whose blocking work is asynchronous io_uring operations. */
enum model { MODEL_AMPED, MODEL_SPED, MODEL_AMTED, MODEL_SYMPED, MODEL_MP, MODEL_MT,
	     MODEL_URING };
/* Which ready response a dispatcher writes first: in the order events come
 * (fcfs), or the one with the fewest bytes left (srpt). */
enum sched { SCHED_FCFS, SCHED_SRPT };
enum symped_listen { SYMPED_REUSEPORT, SYMPED_SHARED };
enum residency { RES_MINCORE, RES_CACHESTAT, RES_NONE };

struct config {
	const char *root;
	const char *addr;
	int port;
	enum model model;
	enum sched sched;
	int helpers;
	int workers;			/* symped: processes; mp/mt: processes/threads */
	enum symped_listen symped_listen;
	const char *access_log;
	enum residency residency;
	bool path_cache, map_cache, header_cache;
	int max_conns;
	int max_header_bytes;
	int max_line_bytes;
	int header_timeout_ms;
	int keepalive_timeout_ms;
	int send_timeout_ms;
	int shutdown_timeout_ms;
	int cache_entries;
	int cache_valid_ms;
	uint64_t max_body_bytes;	/* a GET body larger than this -> 413 */
	int verbose;
};

extern struct config cfg;
extern __thread struct ae_loop *loop;	/* this thread's event loop */
extern int root_fd;
extern __thread uint64_t now_ms;	/* CLOCK_MONOTONIC, updated per loop turn */
extern volatile struct amped_current amped_current;
/* set by SIGTERM/SIGINT where workers block (MP, MT, SYMPED parents) */
extern volatile sig_atomic_t amped_stop_requested;

const char *model_name(enum model m);
/* Does the model hand blocking work off -- to helpers or to io_uring --
 * and carry on (else it runs inline and blocks)? */
static inline bool model_offloads(void)
{
	return cfg.model == MODEL_AMPED || cfg.model == MODEL_AMTED ||
	       cfg.model == MODEL_URING;
}
/* Is the model one event loop per process or thread (so --sched applies)? */
static inline bool model_event_driven(void)
{
	return cfg.model != MODEL_MP && cfg.model != MODEL_MT;
}

uint64_t mono_ns(void);

/* ---- fcache: one entry per translated path ---- */
enum fe_kind { FE_PENDING, FE_FILE, FE_REDIRECT, FE_ERROR };

struct conn;

struct fentry {
	char *key;			/* "/" + decoded path (+ "/" if the target had one) */
	size_t key_len;
	uint32_t hash;
	struct fentry *hnext;
	struct fentry *lru_prev, *lru_next;
	bool in_hash;
	int refs;			/* connections using it + 1 while in the cache */
	enum fe_kind kind;
	int err;			/* FE_ERROR: errno of the translation */
	int fd;				/* -1 if not open */
	void *map;			/* whole-file PROT_READ mapping for mincore; never touched */
	uint64_t size;
	struct timespec mtime;
	ino_t ino;
	uint64_t validated_ms;
	char *body;			/* copy of a small file, once its pages were resident */
	char etag[64];
	size_t etag_len;
	char lastmod[32];
	const char *ctype;
	char *hdr;			/* cached header fields for a 200 (header cache) */
	size_t hdr_len;
	struct conn *waiters;		/* connections waiting for FE_PENDING to finish */
};

#define SMALL_BODY_MAX (16 * 1024)
#define AMPED_PATH_MAX 4096	/* longest decoded path, NUL included */

void fc_init(void);
/* Find a usable entry for key.  Returns it with a reference taken, or NULL
 * if translation is needed (then call fc_begin to create a pending one). */
struct fentry *fc_lookup(const char *key, size_t key_len);
struct fentry *fc_begin(const char *key, size_t key_len);	/* ref taken; NULL on ENOMEM */
/* A translation finished: fill e from an open result (fd owned by e now). */
void fc_complete(struct fentry *e, int err, int kind, int fd, const struct stat *st);
void fc_put(struct fentry *e);		/* drop a reference; accepts NULL */
/* Header fields of a 200 for e (Content-Type .. Accept-Ranges), cached or
 * built into buf.  Returns length. */
size_t fc_header_fields(struct fentry *e, char *buf, size_t size, const char **out);
void fc_flush_all(void);

/* ---- helper: blocking work, in helper processes (AMPED), helper threads
 * (AMTED), io_uring (uring) or inline (SPED) ---- */
struct job {
	int op;				/* AMPED_OP_OPEN / AMPED_OP_READ */
	uint64_t req_id;
	struct fentry *fe;		/* OPEN: the pending entry; READ: the file */
	struct conn *conn;		/* READ: the connection to resume */
	uint64_t off, len;
	int tries;
	int helper;			/* index while in service, -1 queued */
	uint32_t seq;
	uint64_t start_ns;
	uint64_t sent_ns;		/* a helper took it (0: ran inline) */
	struct job *next;
	/* results */
	int err;
	int kind;
	int fd;
	struct stat st;
};

/* Result kinds of an OPEN job */
#define OPEN_FILE      1
#define OPEN_REDIRECT  2	/* a directory named without a trailing slash */
#define OPEN_NOINDEX   3	/* a directory without index.html */

int helpers_start(void);		/* 0 ok, -1 error */
void helpers_stop(int timeout_ms);
/* 0 when openat2(RESOLVE_BENEATH) works on root_fd, else -errno. */
int path_confinement_check(int root_fd);
/* Queue a job; its completion calls job_done() from the event loop (AMPED,
 * AMTED, uring) or before returning (SPED). */
void job_submit(struct job *j);
void job_done(struct job *j);		/* in conn.c */
/* A backend finished j with err (0 or an errno): probe, then job_done(). */
void job_finish(struct job *j, int err);
/* Before the loop sleeps: hand over work queued during this turn. */
void helpers_flush(void);
/* key ("/" + decoded path [+ "/"]) -> path relative to the root in rel
 * ("." for the root); *trailing set if the request named a directory.
 * 0 ok, -1 (ENAMETOOLONG) if rel cannot hold it. */
int job_rel_path(const char *key, char *rel, size_t size, int *trailing);
/* The blocking work itself; used by helpers and by SPED inline. */
void job_run_open(const char *path, int *err, int *kind, int *fd, struct stat *st);
int job_run_read(int fd, uint64_t off, uint64_t len);	/* 0 or errno */
void helpers_child_exited(void);
/* ---- uring: the jobs as io_uring operations (model uring) ---- */
int ur_start(void);			/* 0 ok, -1 after a message */
void ur_submit(struct job *j);		/* completes through job_finish() */
void ur_flush(void);			/* submit the SQEs queued this turn */
int ur_busy(void);			/* jobs queued or in flight */
/* Cancel what is in flight, wait for it until deadline_ns, close the ring.
 * Jobs still out are abandoned: their connections are gone by then. */
void ur_stop(uint64_t deadline_ns);
void helpers_sweep(void);	/* SIGCHLD: reap */
int helpers_busy(void);

/* ---- conn ---- */
int conn_listen_start(int lfd);
void conn_stop_accepting(void);
int conn_count(void);
void conn_sweep(void);			/* timeouts; call a few times a second */
void conn_drain_idle(void);		/* shutdown: close idle connections */
void conn_close_all(void);
/* --sched srpt: write ready responses, fewest bytes left first, for up to
 * a turn's budget.  Returns true if some are still ready (poll, don't
 * sleep). */
bool conn_run_ready(void);

/* ---- alog ---- */
int alog_open(const char *path);	/* 0 ok, -1 error */
void alog_write(const char *host, const char *method, size_t mlen,
		const char *target, size_t tlen, int minor, int status,
		uint64_t bytes);
void alog_tick(void);			/* flush if the buffer is a second old */
void alog_close(void);			/* flush and close */

/* ---- time strings, refreshed once per second ---- */
extern __thread char date_fields[64];	/* "Server: amped\r\nDate: ...\r\n" */
extern __thread size_t date_fields_len;
extern __thread char clf_date[40];	/* "10/Oct/2000:13:55:36 +0000" */
void clock_refresh(void);		/* per thread */

/* ---- event loop of one dispatcher (amped, amted, sped, a symped child) ---- */
int run_dispatcher(int lfd);		/* exit status */
int make_listener(char *url, size_t url_size);	/* fd, or -1 after a message */
/* ---- models.c: the models with several processes or threads ---- */
int run_symped(int lfd, const char *url);
int run_mp(int lfd);
int run_mt(int lfd);
/* blocking workers (conn.c) */
void conn_worker_init(int worker_idx, bool own_current);
struct sockaddr_storage;
void conn_serve_blocking(int fd, const struct sockaddr_storage *ss);

#endif
