/* rxstamp — see rxstamp.h. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "amped_usdt.h"
#include "proc.h"
#include "rxstamp.h"

/* The socket whose SO_TIMESTAMPNS keeps the kernel's stamping on (a
 * reference count on a static key: net_enable_timestamp) while traced;
 * -1 otherwise.  Shared by the process's threads (MT workers). */
static int holder = -1;

static void holder_sync(bool want)
{
	int fd = __atomic_load_n(&holder, __ATOMIC_RELAXED), one = 1, none = -1;

	if (want == (fd >= 0))
		return;
	if (!want) {
		fd = __atomic_exchange_n(&holder, -1, __ATOMIC_RELAXED);
		if (fd >= 0)
			close(fd);
		return;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;			/* no stamps: latency from the read */
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0 ||
	    !__atomic_compare_exchange_n(&holder, &none, fd, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		close(fd);		/* another thread won, or no stamping */
}

static uint64_t ts_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

ssize_t rxs_read(int fd, void *buf, size_t len, bool *on, uint64_t *arrive_ns)
{
	bool want = __atomic_load_n(&amped_current[0].trace, __ATOMIC_RELAXED) != 0;
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *cm;
	int flag = want;
	ssize_t r;

	*arrive_ns = 0;
	holder_sync(want);
	if (want != *on && setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &flag, sizeof(flag)) == 0)
		*on = want;
	if (!want || !*on)
		return read(fd, buf, len);
	r = recvmsg(fd, &mh, 0);
	if (r <= 0)
		return r;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
			struct timespec ts;
			uint64_t real, mono, at;
			int e = errno;

			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			/* the stamp is CLOCK_REALTIME: carried over to
			 * CLOCK_MONOTONIC by the clocks' offset now */
			mono = ts_ns(CLOCK_MONOTONIC);
			real = ts_ns(CLOCK_REALTIME);
			at = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
			if (at && at <= real && real - at < mono)
				*arrive_ns = mono - (real - at);
			errno = e;
		}
	}
	return r;
}
