/* alog — Common Log Format access log, buffered in memory.
 * One write(2) per 64 KiB or per second, whichever comes first, and at
 * exit: a write per request would cost a syscall per request. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "alog.h"
#include "proc.h"

#define ALOG_BUF_BYTES (64 * 1024)

/* One buffer per process; threads of a process (MT) share it under a lock,
 * which a single-threaded writer does not pay for. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bool threaded;
#define LOCK() do { if (threaded) pthread_mutex_lock(&mu); } while (0)
#define UNLOCK() do { if (threaded) pthread_mutex_unlock(&mu); } while (0)

static int log_fd = -1;
static char buf[ALOG_BUF_BYTES];
static size_t used;
static uint64_t first_ms;		/* when the oldest buffered line was added */

int alog_open(const char *path)
{
	log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	return log_fd < 0 ? -1 : 0;
}

void alog_threaded(void)
{
	threaded = true;
}

static void flush(void)
{
	size_t off = 0;

	while (off < used) {
		ssize_t w = write(log_fd, buf + off, used - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;		/* disk full etc.: drop rather than stall serving */
		}
		off += (size_t)w;
	}
	used = 0;
}

/* Copy a request field, replacing bytes that would break the line format. */
static size_t put_clean(char *o, size_t room, const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k < room; i++) {
		unsigned char ch = (unsigned char)s[i];
		o[k++] = (ch < 0x20 || ch == '"' || ch == 0x7f) ? '?' : (char)ch;
	}
	return k;
}

void alog_write(const char *host, const char *method, size_t mlen,
		const char *target, size_t tlen, int minor, int status,
		uint64_t bytes)
{
	char line[8192 + 256];
	size_t n;

	if (log_fd < 0)
		return;
	n = (size_t)snprintf(line, sizeof(line), "%s - - [%s] \"", host[0] ? host : "-", clf_date);
	if (method && target) {
		n += put_clean(line + n, 64, method, mlen);
		line[n++] = ' ';
		n += put_clean(line + n, 8000, target, tlen);
		n += (size_t)snprintf(line + n, sizeof(line) - n, " HTTP/1.%d", minor);
	} else {
		line[n++] = '-';
	}
	if (bytes)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\" %d %" PRIu64 "\n", status, bytes);
	else
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\" %d -\n", status);
	if (n > sizeof(line))
		n = sizeof(line);
	LOCK();
	if (used + n > sizeof(buf))
		flush();
	if (used == 0)
		first_ms = now_ms;
	memcpy(buf + used, line, n);
	used += n;
	UNLOCK();
}

void alog_tick(void)
{
	if (log_fd < 0 || !used)
		return;
	LOCK();
	/* first_ms was set by whichever thread's clock: compare with care */
	if (used && now_ms >= first_ms && now_ms - first_ms >= 750)
		flush();
	UNLOCK();
}

void alog_close(void)
{
	if (log_fd < 0)
		return;
	LOCK();
	flush();
	UNLOCK();
	close(log_fd);
	log_fd = -1;
}
