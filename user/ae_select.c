/* ae_select — ae's select(2) backend: two fd_sets copied for every wait,
 * every fd up to the highest watched one tested afterwards.  An fd_set
 * holds fds below FD_SETSIZE (1024) only — writing a larger one overflows
 * it — so the loop's setsize is capped there and ae_set() refuses beyond
 * (ERANGE); callers check ae_fits() and answer such connections
 * themselves. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include "ae_backend.h"

struct select_state {
	fd_set rfds, wfds;		/* what is watched */
	fd_set r, w;			/* the copies select() overwrites */
	int maxfd;			/* highest watched, -1 none */
};

static int select_fired_cap(int setsize)
{
	return setsize;
}

static int select_init(struct ae_loop *loop)
{
	struct select_state *s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	FD_ZERO(&s->rfds);
	FD_ZERO(&s->wfds);
	s->maxfd = -1;
	loop->state = s;
	return 0;
}

static void select_free(struct ae_loop *loop)
{
	free(loop->state);
	loop->state = NULL;
}

static int select_change(struct ae_loop *loop, int fd, int old, int new)
{
	struct select_state *s = loop->state;

	(void)old;
	if (fd >= FD_SETSIZE) {		/* ae_set checks setsize; belt and braces */
		errno = ERANGE;
		return -1;
	}
	if (new & AE_READABLE)
		FD_SET(fd, &s->rfds);
	else
		FD_CLR(fd, &s->rfds);
	if (new & AE_WRITABLE)
		FD_SET(fd, &s->wfds);
	else
		FD_CLR(fd, &s->wfds);
	if (new != AE_NONE && fd > s->maxfd)
		s->maxfd = fd;
	while (s->maxfd >= 0 && !FD_ISSET(s->maxfd, &s->rfds) && !FD_ISSET(s->maxfd, &s->wfds))
		s->maxfd--;
	return 0;
}

static void select_forget(struct ae_loop *loop, int fd, int old)
{
	select_change(loop, fd, old, AE_NONE);
}

static int select_wait(struct ae_loop *loop, int timeout_ms)
{
	struct select_state *s = loop->state;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int r, n = 0;

	memcpy(&s->r, &s->rfds, sizeof(s->r));
	memcpy(&s->w, &s->wfds, sizeof(s->w));
	r = select(s->maxfd + 1, &s->r, &s->w, NULL, timeout_ms < 0 ? NULL : &tv);
	if (r <= 0)
		return r;
	for (int fd = 0; fd <= s->maxfd && n < r; fd++) {
		int mask = 0;
		if (FD_ISSET(fd, &s->r))
			mask |= AE_READABLE;
		if (FD_ISSET(fd, &s->w))
			mask |= AE_WRITABLE;
		if (mask)
			loop->fired[n++] = (struct ae_fired){ fd, mask };
	}
	return n;
}

const struct ae_backend ae_select_backend = {
	.name = "select",
	.max_setsize = FD_SETSIZE,
	.fired_cap = select_fired_cap,
	.init = select_init,
	.free = select_free,
	.change = select_change,
	.forget = select_forget,
	.wait = select_wait,
};
