/* ae — see ae.h.  epoll is hidden here; the rest of the server sees only
 * masks and callbacks. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "ae.h"

struct ae_file {
	int mask;
	ae_proc *proc;
	void *data;
};

struct ae_loop {
	int epfd;
	int setsize;
	struct ae_file *files;
	struct epoll_event *fired;
	void (*on_wake)(void);
};

#define AE_MAX_FIRED 256

struct ae_loop *ae_create(int setsize)
{
	struct ae_loop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	loop->epfd = -1;
	loop->setsize = setsize;
	loop->files = calloc((size_t)setsize, sizeof(*loop->files));
	loop->fired = calloc(AE_MAX_FIRED, sizeof(*loop->fired));
	if (!loop->files || !loop->fired)
		goto fail;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
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
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop->files);
	free(loop->fired);
	free(loop);
}

int ae_set(struct ae_loop *loop, int fd, int mask, ae_proc *proc, void *data)
{
	struct epoll_event ev = { 0 };
	struct ae_file *f;
	int op;

	if (fd < 0 || fd >= loop->setsize) {
		errno = ERANGE;
		return -1;
	}
	f = &loop->files[fd];
	if (mask == AE_NONE) {
		if (f->mask != AE_NONE)
			epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		f->mask = AE_NONE;
		f->proc = proc;
		f->data = data;
		return 0;
	}
	if (mask & AE_READABLE)
		ev.events |= EPOLLIN | EPOLLRDHUP;
	if (mask & AE_WRITABLE)
		ev.events |= EPOLLOUT;
	ev.data.fd = fd;
	op = f->mask == AE_NONE ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	if (f->mask != mask || op == EPOLL_CTL_ADD) {
		if (epoll_ctl(loop->epfd, op, fd, &ev) < 0)
			return -1;
	}
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
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->files[fd] = (struct ae_file){ 0 };
}

void ae_forget(struct ae_loop *loop, int fd)
{
	if (fd >= 0 && fd < loop->setsize)
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
	int n = epoll_wait(loop->epfd, loop->fired, AE_MAX_FIRED, timeout_ms);
	int e = errno;
	/* Callbacks stamp deadlines from the caller's cached clock: it must
	 * be the time of the wake-up, not of the wait's start. */
	if (loop->on_wake)
		loop->on_wake();
	if (n < 0)
		return e == EINTR ? 0 : (errno = e, -1);
	for (int i = 0; i < n; i++) {
		int fd = loop->fired[i].data.fd;
		uint32_t e = loop->fired[i].events;
		struct ae_file *f = &loop->files[fd];
		int mask = 0;

		if (e & (EPOLLIN | EPOLLRDHUP))
			mask |= AE_READABLE;
		if (e & EPOLLOUT)
			mask |= AE_WRITABLE;
		if (e & (EPOLLERR | EPOLLHUP))
			mask |= AE_READABLE | AE_WRITABLE;
		/* An earlier callback in this batch may have removed or
		 * re-armed the fd: only deliver what is still wanted. */
		mask &= f->mask;
		if (mask && f->proc)
			f->proc(loop, fd, f->data, mask);
	}
	return n;
}
