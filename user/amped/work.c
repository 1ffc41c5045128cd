/* work — the blocking work: open beneath the root, read ahead.
 * Run by helper processes and threads, and inline by SPED, MP and MT. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "proc.h"
#include "work.h"

static int openat2_beneath(int dirfd, const char *rel, uint64_t flags)
{
	/* RESOLVE_BENEATH refuses "..", absolute symlinks and symlinks that
	 * leave the root (EXDEV); NO_MAGICLINKS refuses /proc-style links. */
	struct open_how how = {
		/* openat2 rejects O_PATH with any flag but a few */
		.flags = flags | O_CLOEXEC | (flags & O_PATH ? 0 : O_NOCTTY),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
}

int path_confinement_check(int root_fd)
{
	int fd = openat2_beneath(root_fd, ".", O_PATH);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* Open rel for reading only if it is a regular file or a directory: look
 * first with O_PATH, which opens nothing (a device or FIFO in the root is
 * never really opened, so no driver side effect and no blocking), then
 * open for real and check it is still the same file.  st gets its stat. */
static int open_beneath(int dirfd, const char *rel, struct stat *st)
{
	int pfd = openat2_beneath(dirfd, rel, O_PATH);
	if (pfd < 0)
		return -1;
	if (fstat(pfd, st) < 0) {
		close(pfd);
		return -1;
	}
	close(pfd);
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)) {
		errno = EACCES;		/* devices, FIFOs, sockets are never served */
		return -1;
	}
	struct stat st2;
	int fd = openat2_beneath(dirfd, rel, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st2) < 0 || st2.st_dev != st->st_dev || st2.st_ino != st->st_ino) {
		close(fd);
		errno = EAGAIN;		/* replaced under us: let the client retry */
		return -1;
	}
	*st = st2;
	return fd;
}

int job_rel_path(const char *key, char *rel, size_t size, int *trailing)
{
	size_t n = strlen(key);

	*trailing = 0;
	/* room for "/index.html" as well */
	if (n == 0 || n + 16 >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(rel, key + 1, n);	/* includes NUL */
	n--;
	if (n == 0 || rel[n - 1] == '/') {
		*trailing = 1;
		if (n > 0)
			rel[--n] = '\0';
	}
	if (n == 0)
		strcpy(rel, ".");
	return 0;
}

void job_run_open(const char *key, int *err, int *kind, int *fd_out, struct stat *st)
{
	char rel[4096 + 16];
	int trailing = 0, fd = -1;

	*err = 0;
	*kind = 0;
	*fd_out = -1;
	/* key is "/" + decoded path, plus "/" when the request had one. */
	if (job_rel_path(key, rel, sizeof(rel), &trailing) < 0) {
		*err = ENAMETOOLONG;
		return;
	}
	fd = open_beneath(root_fd, rel, st);
	if (fd < 0)
		goto fail;
	if (S_ISDIR(st->st_mode)) {
		close(fd);
		fd = -1;
		if (!trailing) {
			*kind = OPEN_REDIRECT;
			return;
		}
		strcat(rel, "/index.html");
		fd = open_beneath(root_fd, rel, st);
		if (fd < 0) {
			if (errno == ENOENT) {
				*kind = OPEN_NOINDEX;
				return;
			}
			goto fail;
		}
		if (S_ISDIR(st->st_mode)) {
			close(fd);
			*kind = OPEN_NOINDEX;
			return;
		}
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		*err = EACCES;		/* devices, FIFOs, sockets are never served */
		return;
	}
	*kind = OPEN_FILE;
	*fd_out = fd;
	return;
fail:
	*err = errno ? errno : EIO;
	if (fd >= 0)
		close(fd);
}

int job_run_read(int fd, uint64_t off, uint64_t len)
{
	static __thread char buf[128 * 1024];

	/* Reading brings the pages into the page cache; the dispatcher then
	 * sends them with sendfile without blocking (Flash's helpers touched
	 * the mapped pages for the same purpose). */
	while (len > 0) {
		size_t want = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		ssize_t r = pread(fd, buf, want, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (r == 0)
			break;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}
