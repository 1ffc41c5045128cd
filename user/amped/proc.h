/* proc — amped's process-wide state: the configuration, the clock, the
 * listening socket, the stop signals.  Every module reads these here;
 * nothing reaches back into main.c.
 *
 * Per thread (each dispatcher, each MT worker): `loop`, `now_ms` and the
 * date strings.  Per process: `cfg`, `root_fd`, `amped_current`,
 * `amped_stop_requested`. */
#ifndef AMPED_PROC_H
#define AMPED_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "amped_names.h"
#include "amped_usdt.h"

struct ae_loop;
struct model;

/* Which ready response a dispatcher writes first: in the order events come
 * (fcfs), or the one with the fewest bytes left (srpt). */
enum sched { SCHED_FCFS, SCHED_SRPT };
enum symped_listen { SYMPED_REUSEPORT, SYMPED_SHARED };
enum residency { RES_MINCORE, RES_CACHESTAT, RES_NONE };

struct config {
	const char *root;
	const char *addr;
	int port;
	const struct model *model;	/* from the table in models.c */
	enum sched sched;
	int helpers;
	int workers;			/* symped: processes; mp/mt: processes/threads */
	enum symped_listen symped_listen;
	bool listen_reuseport;		/* each process opens its own listener */
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
extern __thread struct ae_loop *loop;	/* this thread's event loop (NULL: none) */
extern int root_fd;			/* O_PATH fd of --root */
extern __thread uint64_t now_ms;	/* CLOCK_MONOTONIC_COARSE, refreshed per loop turn */
/* Read by tracers (include/amped_usdt.h): the request being served. */
extern volatile struct amped_current amped_current;
/* Set by SIGTERM/SIGINT where workers block (MP, MT, SYMPED parents). */
extern volatile sig_atomic_t amped_stop_requested;

/* ---- clock ---- */
uint64_t mono_ns(void);			/* CLOCK_MONOTONIC in ns */
extern __thread char date_fields[64];	/* "Server: amped\r\nDate: ...\r\n" */
extern __thread size_t date_fields_len;
extern __thread char clf_date[40];	/* "10/Oct/2000:13:55:36 +0000" */
/* now_ms and, once a second, the date strings; per thread. */
void clock_refresh(void);

/* ---- listener ---- */
/* A listening socket on cfg.addr:cfg.port (SO_REUSEPORT if
 * cfg.listen_reuseport); port 0 picks one and stores it in cfg.port.
 * url gets "http://ADDR:PORT/".  Returns the fd, or -1 after a message. */
int make_listener(char *url, size_t url_size);

/* ---- signals ---- */
/* Blocking processes and threads: SIGTERM/SIGINT set amped_stop_requested;
 * installed without SA_RESTART so a blocked accept() or read() returns
 * EINTR.  SIGUSR1 only interrupts a blocking call. */
void proc_stop_handlers(void);
/* Event loops: block SIGTERM, SIGINT, SIGCHLD and return a non-blocking
 * signalfd that delivers them, or -1 (errno set). */
int proc_signalfd(void);

/* poll() one fd, then refresh the clock: >0 ready, 0 timed out, -1 error
 * (EINTR: a signal, such as the stop request). */
int wait_fd(int fd, short events, int timeout_ms);

#endif
