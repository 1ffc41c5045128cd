/* alog — the Common Log Format access log, buffered: one write(2) per
 * 64 KiB or per second, and at exit. */
#ifndef AMPED_ALOG_H
#define AMPED_ALOG_H

#include <stddef.h>
#include <stdint.h>

int alog_open(const char *path);	/* 0 ok, -1 error (errno set) */
/* Several threads of this process will write (MT): take a lock from now on. */
void alog_threaded(void);
void alog_write(const char *host, const char *method, size_t mlen,
		const char *target, size_t tlen, int minor, int status,
		uint64_t bytes);
void alog_tick(void);			/* flush if the buffer is a second old */
void alog_close(void);			/* flush and close; accepts a closed log */

#endif
