/* supervise — the parent of the process models (symped, mp).
 *
 * It only supervises: it replaces a child that dies, and on SIGTERM/SIGINT
 * passes the signal on, waits up to the shutdown timeout, then kills
 * stragglers.  Children notice the stop through amped_stop_requested (set
 * by proc_stop_handlers(), without SA_RESTART, so a blocked accept() or
 * read() returns EINTR). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "alog.h"
#include "model.h"
#include "proc.h"
#include "supervise.h"

static pid_t *kids;
static int nkids;

static pid_t spawn_child(int idx, child_fn fn, int lfd)
{
	pid_t pid = fork();
	if (pid == 0) {
		int rc = fn(idx, lfd);
		alog_close();		/* flush this process's lines */
		_exit(rc);
	}
	return pid;
}

static int live_kids(void)
{
	int n = 0;
	for (int i = 0; i < nkids; i++)
		n += kids[i] > 0;
	return n;
}

int supervise(int n, child_fn fn, int lfd, int first_lfd, bool keep_lfd)
{
	int status = 0;

	kids = calloc((size_t)n, sizeof(*kids));
	if (!kids)
		return 1;
	nkids = n;
	proc_stop_handlers();
	for (int i = 0; i < n; i++) {
		kids[i] = spawn_child(i, fn, i == 0 && first_lfd >= 0 ? first_lfd : lfd);
		if (kids[i] < 0) {
			perror("amped: fork");
			amped_stop_requested = 1;
			status = 1;
			break;
		}
	}
	if (first_lfd >= 0)
		close(first_lfd);	/* child 0 has it; we must not hold a queue */
	if (!keep_lfd && lfd >= 0)
		close(lfd);
	prctl(PR_SET_NAME, AMPED_COMM_MAIN);

	uint64_t last_spawn_ns = 0;
	while (!amped_stop_requested) {
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;		/* ECHILD: nobody left */
		}
		for (int i = 0; i < nkids; i++) {
			if (kids[i] != pid)
				continue;
			kids[i] = 0;
			if (amped_stop_requested)
				break;
			fprintf(stderr, "amped: %s process %d (pid %d) ended (status %d); starting another\n",
				cfg.model->name, i, (int)pid, st);
			/* a child that dies at once would make us spin */
			if (mono_ns() - last_spawn_ns < 100000000ull)
				usleep(100000);
			last_spawn_ns = mono_ns();
			kids[i] = spawn_child(i, fn, lfd);
			if (kids[i] < 0)
				kids[i] = 0;
		}
	}

	/* Stop: tell every child, wait, repeat the signal (one that arrived
	 * just before a child blocked in accept() would be missed), give up
	 * at the deadline. */
	uint64_t deadline = mono_ns() + (uint64_t)(cfg.shutdown_timeout_ms + 1000) * 1000000ull;
	uint64_t next_signal = 0;
	while (live_kids() > 0) {
		uint64_t now = mono_ns();
		if (now >= deadline) {
			for (int i = 0; i < nkids; i++) {
				if (kids[i] > 0) {
					kill(kids[i], SIGKILL);	/* our own child, by pid */
					waitpid(kids[i], NULL, 0);
					kids[i] = 0;
					status = 1;
				}
			}
			break;
		}
		if (now >= next_signal) {
			for (int i = 0; i < nkids; i++)
				if (kids[i] > 0)
					kill(kids[i], SIGTERM);
			next_signal = now + 200000000ull;
		}
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0) {
			usleep(5000);
			continue;
		}
		for (int i = 0; i < nkids; i++) {
			if (kids[i] == pid) {
				kids[i] = 0;
				if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
					status = 1;
			}
		}
	}
	if (keep_lfd && lfd >= 0)
		close(lfd);
	free(kids);
	kids = NULL;
	return status;
}
