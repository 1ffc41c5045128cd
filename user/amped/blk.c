/* blk — what every backend of blocking work shares: the job's bookkeeping
 * on the way in and the helper_return probe on the way out. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sdt.h>
#include <unistd.h>
#include "blk.h"
#include "fcache.h"
#include "proc.h"

void blk_submit(const struct blk_ops *b, struct job *j)
{
	j->start_ns = mono_ns();
	j->sent_ns = 0;
	j->helper = -1;
	j->fd = -1;
	j->next = NULL;
	j->rflags = j->op == AMPED_OP_OPEN ? b->rf_open : b->rf_read;
	b->submit(j);
}

void blk_complete(struct job *j, int err)
{
	uint64_t service_ns = mono_ns() - j->start_ns;
	j->err = err;
	DTRACE_PROBE5(amped, helper_return, j->req_id, j->helper, j->op, err, service_ns);
	j->helper = -1;
	j->done(j);
}

void job_run_take(struct job *j, struct job_run *r, int helper)
{
	r->op = j->op;
	r->err = r->kind = 0;
	r->ofd = r->fd = -1;
	r->off = j->off;
	r->len = j->len;
	memset(&r->st, 0, sizeof(r->st));
	/* the key, or a copy of the fd: the entry may be freed and its fd
	 * closed once the owner stops, while this runs */
	if (r->op == AMPED_OP_OPEN)
		snprintf(r->key, sizeof(r->key), "%s", j->fe->key);
	else
		r->fd = fcntl(j->fe->fd, F_DUPFD_CLOEXEC, 0);
	j->helper = helper;
	j->sent_ns = mono_ns();
}

void job_run_do(struct job_run *r)
{
	if (r->op == AMPED_OP_OPEN)
		job_run_open(r->key, &r->err, &r->kind, &r->ofd, &r->st);
	else if (r->fd >= 0)
		r->err = job_run_read(r->fd, r->off, r->len);
	else
		r->err = EAGAIN;	/* no fd to spare: send without warming */
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

void job_run_store(struct job *j, const struct job_run *r)
{
	j->err = r->err;
	if (r->op == AMPED_OP_OPEN) {
		j->kind = r->kind;
		j->fd = r->ofd;
		j->st = r->st;
	}
}

void job_run_drop(struct job_run *r)
{
	if (r->ofd >= 0)
		close(r->ofd);
	r->ofd = -1;
}

void blk_complete_list(struct job *list, int *busy)
{
	struct job *rev = NULL;

	while (list) {
		struct job *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct job *next = rev->next;
		rev->next = NULL;
		(*busy)--;
		blk_complete(rev, rev->err);
		rev = next;
	}
}
