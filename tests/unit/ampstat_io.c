/* ampstat_io — a process that does exactly the I/O it is told, for the
 * tests of `ampstat syscalls` and `ampstat cache` (tests/63-, 64-ampstat-*.t).
 *
 * usage: ampstat_io
 * Prints "ready PID" and reads commands from stdin, one a line; each is run
 * by a fresh thread named "am-io" (PR_SET_NAME), so that a tracer can tell
 * its calls from the main thread's (which reads the commands), and answers
 * "ok [N]" or "err MESSAGE".  EOF ends the process.
 *   reads N        N x read(2) of 1 byte from /dev/zero, and nothing else
 *   preads N       N x pread(2) of 1 byte from /dev/zero
 *   sleeps N       N x nanosleep(2) of 20 ms
 *   cold FILE      fdatasync and posix_fadvise(DONTNEED) of FILE; "ok R": R pages still
 *                  resident (mincore), which should be 0
 *   resident FILE  "ok R": pages of FILE resident (mincore)
 *   read FILE      reads FILE whole with read(2), 64 KiB at a time
 *   sendfile FILE  sendfile(2)s FILE whole to /dev/null
 *   mmap FILE      maps FILE and touches one byte of each page, in order
 * read, sendfile and mmap answer "ok P", P the pages of the file.
 * Exit status: 0, or 1 when a setup call failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct job {
	char cmd[32];
	char arg[4096];
	char out[256];
};

static long page_size;
static int zero_fd;

static long pages_of(off_t size)
{
	return (long)((size + page_size - 1) / page_size);
}

static long resident(int fd, off_t size, char *out, size_t n)
{
	unsigned char *vec;
	long np = pages_of(size), r = 0;
	void *p;

	if (size == 0)
		return 0;
	p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(out, n, "err mmap: %s", strerror(errno));
		return -1;
	}
	vec = malloc((size_t)np);
	if (!vec || mincore(p, (size_t)size, vec)) {
		snprintf(out, n, "err mincore: %s", strerror(errno));
		free(vec);
		munmap(p, (size_t)size);
		return -1;
	}
	for (long i = 0; i < np; i++)
		r += vec[i] & 1;
	free(vec);
	munmap(p, (size_t)size);
	return r;
}

static void file_job(struct job *j)
{
	static char buf[65536];
	struct stat st;
	int fd = open(j->arg, O_RDONLY | O_CLOEXEC);
	long r;

	if (fd < 0 || fstat(fd, &st)) {
		snprintf(j->out, sizeof(j->out), "err %.200s: %s", j->arg, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (!strcmp(j->cmd, "cold") || !strcmp(j->cmd, "resident")) {
		if (!strcmp(j->cmd, "cold")) {
			/* dirty pages stay: write them back first */
			int e = fdatasync(fd) ? errno : posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			if (e) {
				snprintf(j->out, sizeof(j->out), "err fdatasync/fadvise: %s", strerror(e));
				close(fd);
				return;
			}
		}
		r = resident(fd, st.st_size, j->out, sizeof(j->out));
		if (r >= 0)
			snprintf(j->out, sizeof(j->out), "ok %ld", r);
	} else if (!strcmp(j->cmd, "read")) {
		ssize_t n;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		if (n < 0)
			snprintf(j->out, sizeof(j->out), "err read: %s", strerror(errno));
		else
			snprintf(j->out, sizeof(j->out), "ok %ld", pages_of(st.st_size));
	} else if (!strcmp(j->cmd, "sendfile")) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		off_t off = 0;
		ssize_t n = 0;

		while (null >= 0 && off < st.st_size &&
		       (n = sendfile(null, fd, &off, (size_t)(st.st_size - off))) > 0)
			;
		if (null < 0 || n < 0)
			snprintf(j->out, sizeof(j->out), "err sendfile: %s", strerror(errno));
		else
			snprintf(j->out, sizeof(j->out), "ok %ld", pages_of(st.st_size));
		if (null >= 0)
			close(null);
	} else if (!strcmp(j->cmd, "mmap")) {
		volatile unsigned char sum = 0;
		unsigned char *p = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0)
					      : NULL;

		if (p == MAP_FAILED) {
			snprintf(j->out, sizeof(j->out), "err mmap: %s", strerror(errno));
		} else {
			for (off_t o = 0; o < st.st_size; o += page_size)
				sum += p[o];
			if (p)
				munmap(p, (size_t)st.st_size);
			snprintf(j->out, sizeof(j->out), "ok %ld", pages_of(st.st_size));
		}
	} else {
		snprintf(j->out, sizeof(j->out), "err unknown command '%s'", j->cmd);
	}
	close(fd);
}

static void *run(void *arg)
{
	struct job *j = arg;
	char c;

	prctl(PR_SET_NAME, "am-io");
	if (!strcmp(j->cmd, "sleeps")) {
		long n = atol(j->arg);
		struct timespec ts = { 0, 20000000L };

		for (long i = 0; i < n; i++)
			nanosleep(&ts, NULL);
		snprintf(j->out, sizeof(j->out), "ok %ld", n);
		return NULL;
	}
	if (!strcmp(j->cmd, "reads") || !strcmp(j->cmd, "preads")) {
		long n = atol(j->arg), done = 0;
		for (; done < n; done++) {
			ssize_t r = j->cmd[0] == 'r' ? read(zero_fd, &c, 1) : pread(zero_fd, &c, 1, 0);
			if (r != 1)
				break;
		}
		if (done == n)
			snprintf(j->out, sizeof(j->out), "ok %ld", n);
		else
			snprintf(j->out, sizeof(j->out), "err %s after %ld: %s", j->cmd, done, strerror(errno));
		return NULL;
	}
	file_job(j);
	return NULL;
}

int main(void)
{
	char line[4096 + 64];

	page_size = sysconf(_SC_PAGESIZE);
	zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (zero_fd < 0) {
		perror("ampstat_io: /dev/zero");
		return 1;
	}
	prctl(PR_SET_NAME, "am-main");
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	while (fgets(line, sizeof(line), stdin)) {
		struct job j = { 0 };
		pthread_t t;
		char *sp;

		line[strcspn(line, "\n")] = 0;
		sp = strchr(line, ' ');
		if (!sp) {
			printf("err usage: COMMAND ARG\n");
			continue;
		}
		*sp = 0;
		snprintf(j.cmd, sizeof(j.cmd), "%.31s", line);
		snprintf(j.arg, sizeof(j.arg), "%.4095s", sp + 1);
		if (pthread_create(&t, NULL, run, &j)) {
			printf("err pthread_create\n");
			continue;
		}
		pthread_join(t, NULL);
		printf("%s\n", j.out);
	}
	return 0;
}
