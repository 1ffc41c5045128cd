/* ae — see ae.h.  The notification call is hidden in a backend
 * (ae_backend.h); here are the callbacks and masks every backend shares. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ae_backend.h"

static const struct ae_backend *const backends[] = {
	[AE_EPOLL] = &ae_epoll_backend,
	[AE_POLL] = &ae_poll_backend,
	[AE_SELECT] = &ae_select_backend,
};

const char *ae_poller_name(enum ae_poller poller)
{
	return backends[poller]->name;
}

int ae_poller_parse(const char *name, enum ae_poller *out)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(name, backends[i]->name)) {
			*out = (enum ae_poller)i;
			return 0;
		}
	return -1;
}

struct ae_loop *ae_create(int setsize)
{
	return ae_create_with(setsize, AE_EPOLL);
}

struct ae_loop *ae_create_with(int setsize, enum ae_poller poller)
{
	const struct ae_backend *be = backends[poller];
	struct ae_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	if (be->max_setsize && setsize > be->max_setsize)
		setsize = be->max_setsize;
	loop->be = be;
	loop->setsize = setsize;
	loop->fired_cap = be->fired_cap(setsize);
	loop->files = calloc((size_t)setsize, sizeof(*loop->files));
	loop->fired = calloc((size_t)loop->fired_cap, sizeof(*loop->fired));
	if (!loop->files || !loop->fired || be->init(loop) < 0)
		goto fail;
	return loop;
fail:
	ae_destroy(loop);
	return NULL;
}

void ae_destroy(struct ae_loop *loop)
{
	if (!loop)
		return;
	if (loop->be)
		loop->be->free(loop);
	free(loop->files);
	free(loop->fired);
	free(loop);
}

int ae_fits(const struct ae_loop *loop, int fd)
{
	return fd >= 0 && fd < loop->setsize;
}

int ae_set(struct ae_loop *loop, int fd, int mask, ae_proc *proc, void *data)
{
	struct ae_file *f;

	if (fd < 0 || fd >= loop->setsize) {
		errno = ERANGE;
		return -1;
	}
	f = &loop->files[fd];
	if (f->mask != mask && loop->be->change(loop, fd, f->mask, mask) < 0)
		return -1;
	f->mask = mask;
	f->proc = proc;
	f->data = data;
	return 0;
}

void ae_del(struct ae_loop *loop, int fd)
{
	if (fd < 0 || fd >= loop->setsize)
		return;
	if (loop->files[fd].mask != AE_NONE)
		loop->be->change(loop, fd, loop->files[fd].mask, AE_NONE);
	loop->files[fd] = (struct ae_file){ 0 };
}

void ae_forget(struct ae_loop *loop, int fd)
{
	if (fd < 0 || fd >= loop->setsize)
		return;
	if (loop->files[fd].mask != AE_NONE)
		loop->be->forget(loop, fd, loop->files[fd].mask);
	loop->files[fd] = (struct ae_file){ 0 };
}

int ae_mask(const struct ae_loop *loop, int fd)
{
	if (fd < 0 || fd >= loop->setsize)
		return AE_NONE;
	return loop->files[fd].mask;
}

void ae_on_wake(struct ae_loop *loop, void (*fn)(void))
{
	loop->on_wake = fn;
}

int ae_poll(struct ae_loop *loop, int timeout_ms)
{
	int n = loop->be->wait(loop, timeout_ms);
	int e = errno;
	/* Callbacks stamp deadlines from the caller's cached clock: it must
	 * be the time of the wake-up, not of the wait's start. */
	if (loop->on_wake)
		loop->on_wake();
	if (n < 0)
		return e == EINTR ? 0 : (errno = e, -1);
	for (int i = 0; i < n; i++) {
		int fd = loop->fired[i].fd;
		struct ae_file *f = &loop->files[fd];
		/* An earlier callback in this batch may have removed or
		 * re-armed the fd: only deliver what is still wanted. */
		int mask = loop->fired[i].mask & f->mask;
		if (mask && f->proc)
			f->proc(loop, fd, f->data, mask);
	}
	return n;
}
