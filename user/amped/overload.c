/* overload — see overload.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "overload.h"

__attribute__((used)) volatile unsigned long amped_refused;

void overload_refuse(int fd, const char *why)
{
	char drop[4096], msg[512];
	int blen = (int)strlen(why) + 1;
	int n = snprintf(msg, sizeof(msg),
			 "HTTP/1.1 503 Service Unavailable\r\n"
			 "Server: amped\r\n"
			 "Content-Type: text/plain\r\n"
			 "Content-Length: %d\r\n"
			 "Retry-After: 1\r\n"
			 "Connection: close\r\n\r\n%s\n", blen, why);

	__atomic_fetch_add(&amped_refused, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 16 && read(fd, drop, sizeof(drop)) > 0; i++)
		;
	if (n > 0 && (size_t)n < sizeof(msg))
		(void)send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
	close(fd);
}
