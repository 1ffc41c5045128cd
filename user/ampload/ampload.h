/* ampload internals shared by its modules.
 *
 *   main.c     command line, URL, start-up checks, threads, exit status
 *   engine.c   one event loop per thread: arrivals, users, connections (en_)
 *   report.c   merged statistics, confidence intervals, text and JSON (rep_)
 *   fileset.c  SPECweb99-like file sets, the manifest, Zipf choice (fs_)
 *   trace.c    Common Log Format traces (tr_)
 *   rp.c, ../lh.c response parser and histogram (lh shared with ampstat), with their own headers.
 *
 * Threads share only the read-only configuration and request sources; each
 * keeps its own counters, merged by main after the threads have joined. */
#ifndef AMPLOAD_H
#define AMPLOAD_H
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "lh.h"

#define AL_EXIT_OK      0
#define AL_EXIT_RUNTIME 1
#define AL_EXIT_USAGE   2

enum al_mode { AL_CLOSED, AL_OPEN, AL_PARTLY };
enum al_dist { AL_POISSON, AL_DET, AL_UNIFORM };	/* arrivals */
enum al_think { AL_THINK_FIXED, AL_THINK_EXP };

/* Error kinds, in report order. */
enum al_err {
	AL_E_REFUSED,	/* connect: ECONNREFUSED */
	AL_E_RESET,	/* ECONNRESET / EPIPE, or closed before a response */
	AL_E_TIMEOUT,	/* no complete response within --timeout */
	AL_E_STATUS,	/* a status >= 400 */
	AL_E_SHORT,	/* closed in the middle of a response */
	AL_E_PARSE,	/* a response that is not HTTP/1.x */
	AL_E_CONNECT,	/* other connect errors (EADDRNOTAVAIL, EMFILE ...) */
	AL_E_OVERFLOW,	/* open loop: arrivals dropped, backlog full */
	AL_E_COUNT
};
extern const char *const al_err_names[AL_E_COUNT];

/* ---- fileset / trace: where request paths come from ---- */
struct fs_set {
	size_t n;
	char **path;		/* relative to the URL's path, no leading '/' */
	uint64_t *size_bytes;
	double *cdf;		/* Zipf(alpha) cumulative popularity, by rank */
};
/* Write `files` files f000001.bin.. and manifest.txt into dir (created if
 * missing); the same seed gives the same set.  0, or -1 with err set. */
int fs_generate(const char *dir, size_t files, uint64_t seed, char *err, size_t errlen);
/* Read a manifest and build the Zipf(zipf_alpha) popularity over its lines
 * in order (alpha 0: uniform).  0, or -1 with err set (fs left empty). */
int fs_load(struct fs_set *fs, const char *manifest, double zipf_alpha, char *err, size_t errlen);
/* The file rank (0-based) for a uniform draw in (0, 1]. */
size_t fs_pick(const struct fs_set *fs, double u01);
void fs_free(struct fs_set *fs);	/* accepts an empty set */

struct tr_entry {
	uint64_t at_ns;		/* offset from the first entry, before --speed */
	uint32_t path;		/* index into tr_trace.paths */
};
struct tr_trace {
	size_t n;
	struct tr_entry *e;
	size_t npaths;
	char **paths;		/* as in the log: absolute, possibly with query */
	size_t lines, malformed;
	size_t first_bad_line;	/* 1-based, 0: none */
};
/* Read a whole trace, sorted by time.  Malformed lines are counted in
 * t->malformed and skipped.  0, or -1 with err set when the file cannot be
 * read or holds no valid line (t left empty). */
int tr_load(struct tr_trace *t, const char *file, char *err, size_t errlen);
/* Parse one CLF line: time (seconds since the epoch) and request path.
 * Returns 0 or -1 (malformed).  *path points into line. */
int tr_parse_line(const char *line, size_t len, int64_t *t_s, const char **path, size_t *path_len);
void tr_free(struct tr_trace *t);

/* ---- configuration (read-only once threads run) ---- */
struct al_config {
	enum al_mode mode;
	enum al_dist dist;
	enum al_think think_dist;
	int threads;
	int idle_poll_us;	/* -1: default (50 when CPUs > threads, else 0) */
	int conns;		/* closed: users; open: connections opened up front */
	int max_conns;		/* open / partly-open: per run, split over threads */
	double rate;		/* open: requests/s; partly-open: sessions/s */
	double think_ms;
	double p_return;
	double duration_s;	/* measured part; 0 with --requests only */
	uint64_t requests;	/* measured requests; 0: bounded by duration */
	double warmup_s;
	double timeout_ms;
	double sla_ms;		/* < 0: none */
	double ci;		/* confidence level, e.g. 0.99 */
	int batches;
	int conn_per_request;
	int head;		/* send HEAD instead of GET */
	int req_id;		/* --req-id: name each request (AMPED_REQ_HEADER) */
	uint64_t seed;
	double speed;		/* trace replay speed factor */
	const char *json_path;
	const char *url;
	int quiet;

	/* target */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char hostport[300];	/* Host header value */
	char base_path[1024];	/* path of the URL (starts with '/') */
	char extra_headers[4096];	/* each line ends in CRLF */

	const struct fs_set *fs;	/* NULL: the URL alone */
	const struct tr_trace *tr;	/* NULL: no trace */
};

/* ---- per-thread results ---- */
struct al_second {		/* one second of wall time since the start */
	uint64_t sent, done, errors, body_bytes;
	uint64_t lat_max_ns;
	double lat_sum_ns;
};

struct al_stats {
	struct lh lat, connect, ttfb, late;
	struct lh from_send;	/* its first byte sent .. the response's last:
				   what the server can see of a latency */
	struct lh *batch;	/* [cfg->batches] latency per batch */
	uint64_t done, sent, errors[AL_E_COUNT], sla_over;
	uint64_t done_in_window;	/* measured responses before the end */
	uint64_t body_bytes, conns_opened, sessions, backlogged;
	uint64_t status[6];	/* 1xx..5xx by first digit, [0] other */
	uint64_t unfinished;	/* still in flight when the run ended */
	uint64_t warmup_done;
	double think_sum_ns;	/* realised think times (closed / partly-open) */
	uint64_t think_n;
	uint64_t first_ns, last_ns;	/* measured window actually covered */
	/* Gaps between consecutive arrivals (open: requests, partly-open:
	 * sessions) as scheduled and as the generator emitted them. */
	uint64_t gap_n;
	double gap_sum_ns, gap_sumsq_ns2, agap_sum_ns, agap_sumsq_ns2;
	size_t nsec;
	struct al_second *sec;
};

struct en_thread;
/* Create thread `id`'s state (loop, timers).  NULL on error with a
 * message in err. */
struct en_thread *en_create(const struct al_config *cfg, int id, char *err, size_t errlen);
/* In the thread, before the clock starts: open the open loop's initial
 * connections and wait (up to 5 s) until they are connected.  0 ok, -1
 * runtime failure (en_error()). */
int en_prepare(struct en_thread *t, volatile int *exiting);
/* Set the run's start (CLOCK_MONOTONIC ns), the same for every thread. */
void en_start(struct en_thread *t, uint64_t t0_ns);
/* Run the thread's loop until its share of the run is done or *exiting
 * becomes nonzero.  0 ok, -1 runtime failure (en_error()). */
int en_run(struct en_thread *t, volatile int *exiting);
const struct al_stats *en_stats(const struct en_thread *t);
const char *en_error(const struct en_thread *t);
void en_destroy(struct en_thread *t);	/* accepts NULL */

uint64_t al_now_ns(void);

/* ---- report ---- */
struct rep_summary;
/* Merge the threads' statistics and print the summary (stdout) and JSON.
 * Returns 0, or -1 if the JSON file cannot be written. */
int rep_write(const struct al_config *cfg, struct al_stats *const *st, int nthreads,
	      double elapsed_s);
/* Student-t quantile, for the confidence intervals (exported for tests). */
double rep_t_quantile(double p, int df);

#endif
