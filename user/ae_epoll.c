/* ae_epoll — ae's epoll backend: the kernel keeps the watch list, a wait
 * returns only ready fds (at most AE_EPOLL_FIRED per call; the rest stay
 * ready for the next, level-triggered). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "ae_backend.h"

#define AE_EPOLL_FIRED 256

struct epoll_state {
	int epfd;
	struct epoll_event ev[AE_EPOLL_FIRED];
};

static int epoll_fired_cap(int setsize)
{
	(void)setsize;
	return AE_EPOLL_FIRED;
}

static int epoll_init(struct ae_loop *loop)
{
	struct epoll_state *s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		free(s);
		return -1;
	}
	loop->state = s;
	return 0;
}

static void epoll_free(struct ae_loop *loop)
{
	struct epoll_state *s = loop->state;
	if (!s)
		return;
	close(s->epfd);
	free(s);
	loop->state = NULL;
}

static int epoll_change(struct ae_loop *loop, int fd, int old, int new)
{
	struct epoll_state *s = loop->state;
	struct epoll_event ev = { 0 };

	if (new == AE_NONE)
		return epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
	if (new & AE_READABLE)
		ev.events |= EPOLLIN | EPOLLRDHUP;
	if (new & AE_WRITABLE)
		ev.events |= EPOLLOUT;
	ev.data.fd = fd;
	return epoll_ctl(s->epfd, old == AE_NONE ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
}

static void epoll_forget(struct ae_loop *loop, int fd, int old)
{
	(void)loop, (void)fd, (void)old;	/* close() takes it out */
}

static int epoll_wait_fired(struct ae_loop *loop, int timeout_ms)
{
	struct epoll_state *s = loop->state;
	int n = epoll_wait(s->epfd, s->ev, AE_EPOLL_FIRED, timeout_ms);

	for (int i = 0; i < n; i++) {
		uint32_t e = s->ev[i].events;
		int mask = 0;
		if (e & (EPOLLIN | EPOLLRDHUP))
			mask |= AE_READABLE;
		if (e & EPOLLOUT)
			mask |= AE_WRITABLE;
		if (e & (EPOLLERR | EPOLLHUP))
			mask |= AE_READABLE | AE_WRITABLE;
		loop->fired[i] = (struct ae_fired){ s->ev[i].data.fd, mask };
	}
	return n;
}

const struct ae_backend ae_epoll_backend = {
	.name = "epoll",
	.fired_cap = epoll_fired_cap,
	.init = epoll_init,
	.free = epoll_free,
	.change = epoll_change,
	.forget = epoll_forget,
	.wait = epoll_wait_fired,
};
