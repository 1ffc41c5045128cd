/* proc — amped's process-wide state: the configuration, the clock, the
 * listening socket, the stop signals.  Every module reads these here;
 * nothing reaches back into main.c.
 *
 * Per thread (each dispatcher, each MT worker): `loop`, `now_ms` and the
 * date strings; each dispatcher's slot of `amped_current`.  Per process:
 * `cfg`, `root_fd`, `amped_stop_requested`. */
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
	int poller;			/* enum ae_poller: epoll, poll, select */
	bool poller_set;		/* --poller given */
	int ult_stack_kb;		/* ult: each user-level thread's stack */
	bool ult_ucontext;		/* ult: switch with swapcontext, not the asm switch */
	const char *stage_threads;	/* seda: "http=N,file=N" (model_seda.c parses) */
	int stage_queue;		/* seda: each stage's queue bound */
	int threads;			/* hybrid: most worker threads per process */
	int min_spare, max_spare;	/* hybrid: idle worker threads kept per process */
	int helpers;
	int workers;			/* symped: processes; mp/mt: processes/threads */
	int dispatchers;		/* event loops (threads) of amped, amted,
					   sped, uring: 1 unless --dispatchers */
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
/* This thread's number among the process's dispatchers (0 when it has
 * one, and in threads that are not dispatchers): helpers take names and
 * ids from it. */
extern __thread int disp_index;
/* Read by tracers (include/amped_usdt.h): the request being served, one
 * slot per dispatcher (slot 0 in a process with one). */
extern volatile struct amped_current amped_current[AMPED_DISP_MAX];
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
/* Block those three in the calling thread, and so in the threads it starts
 * from now on; *mask gets the set. */
void proc_block_loop_signals(sigset_t *mask);

/* poll() one fd, then refresh the clock: >0 ready, 0 timed out, -1 error
 * (EINTR: a signal, such as the stop request).  fd < 0 waits for nothing
 * but the timeout (poll ignores it), or, in a user-level thread, until
 * blocking work finishes somewhere (ult.h). */
int wait_fd(int fd, short events, int timeout_ms);
/* Set on a thread whose blocking workers are user-level threads (ult): its
 * wait_fd parks the calling user-level thread instead of the kernel one. */
extern __thread int (*wait_fd_hook)(int fd, short events, int timeout_ms);
/* wait_fd without the hook: always the kernel thread's poll(). */
int poll_fd(int fd, short events, int timeout_ms);

/* ---- an event loop ---- */
/* How many fds an event loop should be able to hold: RLIMIT_NOFILE
 * (1024 if unknown or absurd). */
int loop_setsize(void);
/* The ae callback for proc_signalfd()'s fd: reaps children on SIGCHLD
 * (a helper that died is replaced by its backend), sets *(volatile
 * sig_atomic_t *)data on SIGTERM/SIGINT. */
void proc_signal_cb(struct ae_loop *l, int fd, void *data, int mask);
/* When blocking work still out must give up, given the stop's deadline
 * (now_ms clock): what is left of it, at least 100 ms, at most 2 s; in
 * mono_ns() time. */
uint64_t stop_grace_ns(uint64_t stop_deadline_ms);

#endif
