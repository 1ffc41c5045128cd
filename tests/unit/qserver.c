/* qserver — an HTTP/1.1 test server with known service times, for ampload's
 * tests.  Each queue serves one request at a time, first come first served;
 * a request's service time is exponential (or fixed) with the given mean,
 * drawn from a seeded stream per queue, so M/M/1 (or M/D/1) theory applies.
 *
 * Service runs in virtual time: a request arriving at a (the instant its
 * head was read) starts at max(a, previous departure) and departs S later;
 * the response is written when the clock reaches the departure.  A late
 * wake-up therefore delays one response by microseconds but never pushes
 * the queue's later departures back, so the server's own scheduling noise
 * does not change the queueing the tests compare with theory.
 *
 * Requests go to queue k when their path starts with /q<k> (mod --queues),
 * else to queue 0: independent M/M/1 queues side by side, to get many
 * samples per second without shortening the service time.
 *
 * --stall-after-ms A --stall-ms D freezes service for D ms, A ms after the
 * first request: requests keep arriving and queue up.
 * --log FILE writes "A ns" per accepted connection and "R ns queue" per
 * request (CLOCK_MONOTONIC), for tests that check arrival processes.
 * SIGTERM/SIGINT: flush the log, exit 0. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "ae.h"
#include "rng.h"

#define QS_SETSIZE 65536
#define QS_INBUF   8192
#define QS_SPIN_NS 50000u

struct qconn {
	int fd;
	uint32_t gen;
	size_t inlen;
	int close_after;
	uint64_t owed;		/* responses due but not yet fully written */
	size_t woff;
	char in[QS_INBUF];
};

struct dep {
	uint64_t at_ns;
	int fd;
	uint32_t gen;
	int close_after;
};

struct queue {
	uint64_t last_dep_ns;
	struct rng rng;
};

static struct {
	int exp_dist;
	double mean_ns;
	int nqueues;
	uint64_t seed;
	uint64_t stall_after_ns, stall_ns, first_ns;
	struct queue *q;
	struct qconn *conns[QS_SETSIZE];
	struct dep *heap;
	size_t nheap, capheap;
	char *resp;
	size_t resp_len;
	FILE *log;
	double sum_resp_ns, sum_late_ns;	/* virtual response, write lateness */
	uint64_t nresp;
	uint32_t next_gen;	/* tells a reused fd's new connection apart */
	int tfd;
	uint64_t armed_ns;
	struct ae_loop *loop;
} S;

static volatile int exiting;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int heap_push(struct dep d)
{
	size_t i;
	if (S.nheap == S.capheap) {
		size_t cap = S.capheap ? 2 * S.capheap : 1024;
		struct dep *h = realloc(S.heap, cap * sizeof(*h));
		if (!h)
			return -1;
		S.heap = h;
		S.capheap = cap;
	}
	i = S.nheap++;
	while (i > 0 && S.heap[(i - 1) / 2].at_ns > d.at_ns) {
		S.heap[i] = S.heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	S.heap[i] = d;
	return 0;
}

static struct dep heap_pop(void)
{
	struct dep top = S.heap[0], last = S.heap[--S.nheap];
	size_t i = 0, n = S.nheap;
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && S.heap[l].at_ns < last.at_ns)
			m = l;
		if (l + 1 < n && S.heap[l + 1].at_ns < (m == i ? last.at_ns : S.heap[m].at_ns))
			m = l + 1;
		if (m == i)
			break;
		S.heap[i] = S.heap[m];
		i = m;
	}
	if (n)
		S.heap[i] = last;
	return top;
}

static void conn_free(struct qconn *c)
{
	ae_del(S.loop, c->fd);
	close(c->fd);
	S.conns[c->fd] = NULL;
	free(c);
}

static void on_conn(struct ae_loop *loop, int fd, void *data, int mask);

/* Write what is owed.  Returns -1 if the connection was closed. */
static int flush(struct qconn *c)
{
	while (c->owed) {
		ssize_t n = write(c->fd, S.resp + c->woff, S.resp_len - c->woff);
		if (n < 0 && errno == EAGAIN) {
			ae_set(S.loop, c->fd, AE_READABLE | AE_WRITABLE, on_conn, c);
			return 0;
		}
		if (n <= 0) {
			conn_free(c);
			return -1;
		}
		c->woff += (size_t)n;
		if (c->woff == S.resp_len) {
			c->woff = 0;
			c->owed--;
		}
	}
	if (c->close_after) {
		conn_free(c);
		return -1;
	}
	ae_set(S.loop, c->fd, AE_READABLE, on_conn, c);
	return 0;
}

static void arrive(struct qconn *c, const char *path, size_t plen, int close_after, uint64_t now)
{
	unsigned k = 0;
	struct queue *q;
	uint64_t start, svc, ws, we;

	if (plen >= 3 && path[1] == 'q' && path[2] >= '0' && path[2] <= '9') {
		for (size_t i = 2; i < plen && path[i] >= '0' && path[i] <= '9'; i++)
			k = k * 10 + (unsigned)(path[i] - '0');
	}
	k %= (unsigned)S.nqueues;
	q = &S.q[k];
	if (!S.first_ns)
		S.first_ns = now;
	if (S.log)
		fprintf(S.log, "R %llu %u\n", (unsigned long long)now, k);
	svc = (uint64_t)(S.exp_dist ? rng_exp(&q->rng, S.mean_ns) : S.mean_ns);
	start = now > q->last_dep_ns ? now : q->last_dep_ns;
	if (S.stall_ns) {
		/* The server is frozen during [ws, we): work cannot start
		 * in it, and work under way is held up for its length. */
		ws = S.first_ns + S.stall_after_ns;
		we = ws + S.stall_ns;
		if (start >= ws && start < we)
			start = we;
		else if (start < ws && start + svc > ws)
			svc += S.stall_ns;
	}
	q->last_dep_ns = start + svc;
	S.sum_resp_ns += (double)(q->last_dep_ns - now);
	if (heap_push((struct dep){ q->last_dep_ns, c->fd, c->gen, close_after }) < 0) {
		fprintf(stderr, "qserver: out of memory\n");
		exit(1);
	}
}

static void on_conn(struct ae_loop *loop, int fd, void *data, int mask)
{
	struct qconn *c = data;
	(void)loop;

	if ((mask & AE_WRITABLE) && c->owed) {
		if (flush(c) < 0)
			return;
	}
	if (!(mask & AE_READABLE))
		return;
	for (;;) {
		ssize_t n = read(fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
		char *end;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0 || c->close_after) {
			conn_free(c);
			return;
		}
		c->inlen += (size_t)n;
		while ((end = memmem(c->in, c->inlen, "\r\n\r\n", 4))) {
			size_t hl = (size_t)(end + 4 - c->in);
			char *sp = memchr(c->in, ' ', hl), *sp2;
			int close_after = 0;
			if (!sp || !(sp2 = memchr(sp + 1, ' ', hl - (size_t)(sp + 1 - c->in)))) {
				conn_free(c);
				return;
			}
			if (memmem(c->in, hl, "HTTP/1.0", 8) || memmem(c->in, hl, "onnection: close", 16))
				close_after = 1;
			arrive(c, sp + 1, (size_t)(sp2 - sp - 1), close_after, now_ns());
			memmove(c->in, c->in + hl, c->inlen - hl);
			c->inlen -= hl;
			if (close_after) {
				c->close_after = 1;
				/* stop reading; the response will close it */
				ae_set(S.loop, fd, AE_NONE, on_conn, c);
				return;
			}
		}
		if (c->inlen == sizeof(c->in)) {
			conn_free(c);
			return;
		}
		if ((size_t)n < sizeof(c->in))
			return;
	}
}

static void on_accept(struct ae_loop *loop, int lfd, void *data, int mask)
{
	(void)loop;
	(void)data;
	(void)mask;
	for (;;) {
		int one = 1, fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct qconn *c;
		if (fd < 0)
			return;
		if (fd >= QS_SETSIZE || !(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		if (S.log)
			fprintf(S.log, "A %llu\n", (unsigned long long)now_ns());
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->gen = ++S.next_gen;
		S.conns[fd] = c;
		if (ae_set(S.loop, fd, AE_READABLE, on_conn, c) < 0)
			conn_free(c);
	}
}

static void on_timer(struct ae_loop *loop, int fd, void *data, int mask)
{
	uint64_t n;
	(void)loop;
	(void)data;
	(void)mask;
	if (read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		S.armed_ns = 0;
}

static void depart(uint64_t now)
{
	while (S.nheap && S.heap[0].at_ns <= now) {
		struct dep d = heap_pop();
		struct qconn *c = S.conns[d.fd];
		S.sum_late_ns += (double)(now - d.at_ns);
		S.nresp++;
		if (!c || c->gen != d.gen)
			continue;
		c->owed++;
		if (d.close_after)
			c->close_after = 1;
		if (c->owed == 1)
			flush(c);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, 0, 'p' },
		{ "dist", required_argument, 0, 'D' },
		{ "mean-us", required_argument, 0, 'u' },
		{ "queues", required_argument, 0, 'k' },
		{ "seed", required_argument, 0, 's' },
		{ "size", required_argument, 0, 'z' },
		{ "stall-after-ms", required_argument, 0, 'a' },
		{ "stall-ms", required_argument, 0, 'S' },
		{ "log", required_argument, 0, 'l' },
		{ 0, 0, 0, 0 },
	};
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	struct sigaction sa = { 0 };
	long port = 0, size = 16;
	int o, lfd, one = 1;
	char hdr[128];

	S.exp_dist = 1;
	S.mean_ns = 1e6;
	S.nqueues = 1;
	S.seed = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p': port = atol(optarg); break;
		case 'D':
			if (!strcmp(optarg, "exp"))
				S.exp_dist = 1;
			else if (!strcmp(optarg, "fixed"))
				S.exp_dist = 0;
			else
				goto usage;
			break;
		case 'u': S.mean_ns = atof(optarg) * 1e3; break;
		case 'k': S.nqueues = atoi(optarg); break;
		case 's': S.seed = strtoull(optarg, NULL, 10); break;
		case 'z': size = atol(optarg); break;
		case 'a': S.stall_after_ns = (uint64_t)(atof(optarg) * 1e6); break;
		case 'S': S.stall_ns = (uint64_t)(atof(optarg) * 1e6); break;
		case 'l':
			S.log = fopen(optarg, "w");
			if (!S.log) {
				perror(optarg);
				return 1;
			}
			setvbuf(S.log, NULL, _IOFBF, 1 << 20);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || S.nqueues < 1 || S.mean_ns < 0 || size < 0 || size > (1 << 24) ||
	    port < 0 || port > 65535)
		goto usage;
	S.q = calloc((size_t)S.nqueues, sizeof(*S.q));
	if (!S.q)
		return 1;
	for (int i = 0; i < S.nqueues; i++)
		rng_seed(&S.q[i].rng, S.seed, 100 + (uint64_t)i);
	snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n\r\n", size);
	S.resp_len = strlen(hdr) + (size_t)size;
	S.resp = malloc(S.resp_len);
	if (!S.resp)
		return 1;
	memcpy(S.resp, hdr, strlen(hdr));
	memset(S.resp + strlen(hdr), 'x', (size_t)size);

	{
		/* Stalls leave thousands of connections open. */
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl) < 0) {
		perror("qserver: listen");
		return 1;
	}
	S.loop = ae_create(QS_SETSIZE);
	S.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!S.loop || S.tfd < 0 || ae_set(S.loop, lfd, AE_READABLE, on_accept, NULL) < 0 ||
	    ae_set(S.loop, S.tfd, AE_READABLE, on_timer, NULL) < 0) {
		perror("qserver: setup");
		return 1;
	}
	printf("qserver: listening on http://127.0.0.1:%d/\n", ntohs(sin.sin_port));
	fflush(stdout);

	while (!exiting) {
		uint64_t now = now_ns();
		int timeout = -1;
		depart(now);
		if (S.nheap) {
			uint64_t next = S.heap[0].at_ns;
			if (next <= now + QS_SPIN_NS) {
				timeout = 0;
			} else if (!S.armed_ns || next - QS_SPIN_NS < S.armed_ns) {
				struct itimerspec its = { 0 };
				S.armed_ns = next - QS_SPIN_NS;
				its.it_value.tv_sec = (time_t)(S.armed_ns / 1000000000u);
				its.it_value.tv_nsec = (long)(S.armed_ns % 1000000000u);
				timerfd_settime(S.tfd, TFD_TIMER_ABSTIME, &its, NULL);
			}
		}
		if (ae_poll(S.loop, timeout) < 0) {
			perror("qserver: epoll");
			return 1;
		}
	}
	/* For a test's diagnostics: the queue's own view of response times. */
	if (S.nresp)
		fprintf(stderr, "qserver: %llu responses, mean virtual response %.3f ms, mean write lateness %.3f ms\n",
			(unsigned long long)S.nresp, S.sum_resp_ns / (double)S.nresp / 1e6,
			S.sum_late_ns / (double)S.nresp / 1e6);
	if (S.log && fclose(S.log) != 0) {
		perror("qserver: log");
		return 1;
	}
	return 0;
usage:
	fprintf(stderr, "usage: qserver [--port P] [--dist exp|fixed] [--mean-us U] [--queues K]\n"
			"       [--seed S] [--size BYTES] [--stall-after-ms A --stall-ms D] [--log FILE]\n");
	return 2;
}
