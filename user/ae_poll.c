/* ae_poll — ae's poll(2) backend: a dense pollfd array (pos[] maps an fd
 * to its slot; removal moves the last slot into the hole), handed whole to
 * the kernel on every wait and scanned whole afterwards. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include "ae_backend.h"

struct poll_state {
	struct pollfd *pfd;		/* [0, n) watched */
	int n;
	int *pos;			/* fd -> slot, -1 none */
};

static int poll_fired_cap(int setsize)
{
	return setsize;
}

static int poll_init(struct ae_loop *loop)
{
	struct poll_state *s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	s->pfd = calloc((size_t)loop->setsize, sizeof(*s->pfd));
	s->pos = malloc((size_t)loop->setsize * sizeof(*s->pos));
	loop->state = s;
	if (!s->pfd || !s->pos)
		return -1;
	for (int i = 0; i < loop->setsize; i++)
		s->pos[i] = -1;
	return 0;
}

static void poll_free(struct ae_loop *loop)
{
	struct poll_state *s = loop->state;
	if (!s)
		return;
	free(s->pfd);
	free(s->pos);
	free(s);
	loop->state = NULL;
}

static short poll_events(int mask)
{
	return (short)(((mask & AE_READABLE) ? POLLIN | POLLRDHUP : 0) |
		       ((mask & AE_WRITABLE) ? POLLOUT : 0));
}

static int poll_change(struct ae_loop *loop, int fd, int old, int new)
{
	struct poll_state *s = loop->state;
	int p = s->pos[fd];

	(void)old;
	if (new == AE_NONE) {
		if (p >= 0) {
			s->pfd[p] = s->pfd[--s->n];
			s->pos[s->pfd[p].fd] = p;
			s->pos[fd] = -1;
		}
		return 0;
	}
	if (p < 0) {
		p = s->n++;
		s->pos[fd] = p;
		s->pfd[p].fd = fd;
	}
	s->pfd[p].events = poll_events(new);
	return 0;
}

static void poll_forget(struct ae_loop *loop, int fd, int old)
{
	poll_change(loop, fd, old, AE_NONE);
}

static int poll_wait(struct ae_loop *loop, int timeout_ms)
{
	struct poll_state *s = loop->state;
	int r = poll(s->pfd, (nfds_t)s->n, timeout_ms), n = 0;

	if (r <= 0)
		return r;
	/* The cost select and poll are known for: every watched fd is looked
	 * at, ready or not. */
	for (int i = 0; i < s->n && n < r; i++) {
		short e = s->pfd[i].revents;
		int mask = 0;
		if (!e)
			continue;
		if (e & (POLLIN | POLLRDHUP))
			mask |= AE_READABLE;
		if (e & POLLOUT)
			mask |= AE_WRITABLE;
		if (e & (POLLERR | POLLHUP | POLLNVAL))
			mask |= AE_READABLE | AE_WRITABLE;
		loop->fired[n++] = (struct ae_fired){ s->pfd[i].fd, mask };
	}
	return n;
}

const struct ae_backend ae_poll_backend = {
	.name = "poll",
	.fired_cap = poll_fired_cap,
	.init = poll_init,
	.free = poll_free,
	.change = poll_change,
	.forget = poll_forget,
	.wait = poll_wait,
};
