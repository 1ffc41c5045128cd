/* proc — process-wide state: configuration, clock, listener, signals. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "http.h"
#include "proc.h"

struct config cfg = {
	.addr = "127.0.0.1",
	.port = 8080,
	.helpers = 8,
	.dispatchers = 1,
	.ult_stack_kb = 64,
	.stage_queue = 1024,
	.threads = 64,
	.min_spare = 4,
	.max_spare = 16,
	.residency = RES_MINCORE,
	.path_cache = true,
	.map_cache = true,
	.header_cache = true,
	.max_conns = 10000,
	.max_header_bytes = 8192,
	.max_line_bytes = 4096,
	.header_timeout_ms = 10000,
	.keepalive_timeout_ms = 5000,
	.send_timeout_ms = 30000,
	.shutdown_timeout_ms = 5000,
	.cache_entries = 1024,
	.cache_valid_ms = 1000,
	.max_body_bytes = 64 * 1024,
};

__thread struct ae_loop *loop;
int root_fd = -1;
__thread uint64_t now_ms;
__thread int disp_index;
volatile sig_atomic_t amped_stop_requested;
/* `used` keeps it in the binary for tracers even if nothing read it. */
__attribute__((used)) volatile struct amped_current amped_current[AMPED_DISP_MAX];
__thread char date_fields[64];
__thread size_t date_fields_len;
__thread char clf_date[40];

uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void clock_refresh(void)
{
	static __thread time_t last;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec == last)
		return;
	last = ts.tv_sec;
	char d[32];
	hp_format_http_date(last, d);
	date_fields_len = (size_t)snprintf(date_fields, sizeof(date_fields),
					   "Server: amped\r\nDate: %s\r\n", d);
	struct tm tm;
	gmtime_r(&last, &tm);
	strftime(clf_date, sizeof(clf_date), "%d/%b/%Y:%H:%M:%S +0000", &tm);
}

int make_listener(char *url, size_t url_size)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int fd = -1, one = 1, family;

	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, cfg.addr, &s4->sin_addr) == 1) {
		family = AF_INET;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)cfg.port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, cfg.addr, &s6->sin6_addr) == 1) {
		family = AF_INET6;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)cfg.port);
		sl = sizeof(*s6);
	} else {
		fprintf(stderr, "amped: --addr %s: not an IPv4 or IPv6 address\n", cfg.addr);
		return -1;
	}
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    /* accepted sockets inherit TCP_NODELAY: whole responses leave in
	     * one write, so Nagle would only delay pipelined answers */
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    /* wake us only when the request has arrived (1 s at most) */
	    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one)) < 0 ||
	    (cfg.listen_reuseport &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
	    listen(fd, 4096) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		fprintf(stderr, "amped: listen on %s port %d: %s\n", cfg.addr, cfg.port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* port 0 chose one: later sockets (symped reuseport) take the same */
	cfg.port = ntohs(family == AF_INET ? s4->sin_port : s6->sin6_port);
	if (family == AF_INET)
		snprintf(url, url_size, "http://%s:%d/", cfg.addr, ntohs(s4->sin_port));
	else
		snprintf(url, url_size, "http://[%s]:%d/", cfg.addr, ntohs(s6->sin6_port));
	return fd;
}

static void on_stop(int sig)
{
	(void)sig;
	amped_stop_requested = 1;
}

static void on_wake(int sig)
{
	(void)sig;			/* only interrupts a blocking call */
}

void proc_stop_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;	/* no SA_RESTART: blocked calls return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_wake;
	sigaction(SIGUSR1, &sa, NULL);
}

void proc_block_loop_signals(sigset_t *mask)
{
	/* Signals arrive as events; helper processes unblock them after fork. */
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, mask, NULL);
}

int proc_signalfd(void)
{
	sigset_t mask;

	proc_block_loop_signals(&mask);
	return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

__thread int (*wait_fd_hook)(int fd, short events, int timeout_ms);

int wait_fd(int fd, short events, int timeout_ms)
{
	if (wait_fd_hook)
		return wait_fd_hook(fd, events, timeout_ms);
	return poll_fd(fd, events, timeout_ms);
}

int poll_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = poll(&p, 1, timeout_ms);
	int e = errno;

	clock_refresh();
	errno = e;
	return r;
}

void proc_signal_cb(struct ae_loop *l, int fd, void *data, int mask)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		} else {
			*(volatile sig_atomic_t *)data = 1;
		}
	}
}

uint64_t stop_grace_ns(uint64_t stop_deadline_ms)
{
	long left = stop_deadline_ms > now_ms ? (long)(stop_deadline_ms - now_ms) : 0;

	left = left < 100 ? 100 : left > 2000 ? 2000 : left;
	return mono_ns() + (uint64_t)left * 1000000ull;
}

int loop_setsize(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == 0 || rl.rlim_cur >= 1 << 20)
		return 1024;
	return (int)rl.rlim_cur;
}
