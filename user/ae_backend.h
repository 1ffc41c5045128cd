/* ae_backend — what ae.c shares with its notification backends
 * (ae_epoll.c, ae_poll.c, ae_select.c); nothing outside ae*.c includes it.
 *
 * ae.c keeps the callbacks and masks (files[]); a backend keeps only the
 * kernel's side of the watch list and reports ready fds into fired[]. */
#ifndef AMPED_AE_BACKEND_H
#define AMPED_AE_BACKEND_H

#include "ae.h"

struct ae_file {
	int mask;
	ae_proc *proc;
	void *data;
};

struct ae_fired {
	int fd;
	int mask;			/* AE_READABLE | AE_WRITABLE */
};

struct ae_backend {
	const char *name;
	/* Largest setsize it can hold (select: FD_SETSIZE); 0 none. */
	int max_setsize;
	/* fired[] entries one wait may fill, given setsize. */
	int (*fired_cap)(int setsize);
	/* Allocate loop->state.  0 ok, -1 errno set. */
	int (*init)(struct ae_loop *loop);
	void (*free)(struct ae_loop *loop);	/* accepts loop->state NULL */
	/* fd's mask goes from old to new (either may be AE_NONE).  0 ok, -1
	 * errno set, nothing changed. */
	int (*change)(struct ae_loop *loop, int fd, int old, int new);
	/* fd is about to be closed by the caller with mask old: drop it from
	 * user-space sets (epoll: nothing, close() removes it). */
	void (*forget)(struct ae_loop *loop, int fd, int old);
	/* Wait; fill fired[0..n).  n >= 0, or -1 errno set. */
	int (*wait)(struct ae_loop *loop, int timeout_ms);
};

struct ae_loop {
	const struct ae_backend *be;
	void *state;			/* the backend's */
	int setsize;
	struct ae_file *files;
	struct ae_fired *fired;
	int fired_cap;
	void (*on_wake)(void);
};

extern const struct ae_backend ae_epoll_backend, ae_poll_backend, ae_select_backend;

#endif
