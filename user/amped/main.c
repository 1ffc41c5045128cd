/* amped — a Flash-style static-file HTTP/1.1 server.
 * main: options, start-up, the event loop's outer turn, graceful stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "amped.h"
#include "http.h"

struct config cfg = {
	.addr = "127.0.0.1",
	.port = 8080,
	.model = MODEL_AMPED,
	.helpers = 8,
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
volatile sig_atomic_t amped_stop_requested;
/* Read by tracers (include/amped_usdt.h); `used` keeps it in the binary. */
__attribute__((used)) volatile struct amped_current amped_current;
__thread char date_fields[64];
__thread size_t date_fields_len;
__thread char clf_date[40];

static volatile sig_atomic_t exiting;

static void signal_cb(struct ae_loop *l, int fd, void *data, int mask)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			helpers_child_exited();
		else
			exiting = 1;
	}
}

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

static void usage(FILE *f)
{
	fprintf(f,
"usage: amped --root DIR [options]\n"
"Serve static files over HTTP/1.1 with Flash's AMPED architecture: one\n"
"event-driven dispatcher, helper processes for work that may block; or with\n"
"one of the models it is compared with.\n"
"\n"
"  --root DIR                document root (required)\n"
"  --addr ADDR               listen address, IPv4 or IPv6 (default 127.0.0.1)\n"
"  --port N                  port; 0 picks a free one (default 8080)\n"
"  --model M                 the concurrency model (default amped):\n"
"                            amped   one event-driven dispatcher; helper processes do\n"
"                                    open/stat and disk reads (Flash's AMPED)\n"
"                            amted   the same with helper threads\n"
"                            sped    one dispatcher doing that work inline, blocking\n"
"                            symped  N independent SPED processes on one port\n"
"                            mp      N processes, one connection each, blocking I/O\n"
"                            mt      a boss thread accepting for N worker threads\n"
"                            uring   one dispatcher; open/stat and disk reads are\n"
"                                    asynchronous io_uring operations (the kernel's\n"
"                                    iou-wrk threads do what would block)\n"
"  --sched S                 fcfs|srpt: which ready response an event-driven model\n"
"                            (all but mp, mt) writes first: in the order events\n"
"                            arrive, or the one with the fewest bytes left, a\n"
"                            64 KiB quantum at a time (default fcfs)\n"
"  --helpers N               helper processes/threads for amped/amted, most io-wq\n"
"                            workers for uring (default 8)\n"
"  --workers N               processes for symped (default: CPUs), processes or\n"
"                            threads for mp/mt (default 64)\n"
"  --symped-listen M         reuseport: a listening socket per process (SO_REUSEPORT);\n"
"                            shared: one socket inherited by all (default reuseport)\n"
"  --access-log FILE         Common Log Format log, flushed every second (default off)\n"
"  --residency M             mincore|cachestat|none: how the dispatcher tells whether\n"
"                            a file's pages are in memory (default mincore); the\n"
"                            kernel shows it only to root or the file's owner\n"
"  --no-path-cache           translate every request's path again\n"
"  --no-map-cache            keep no open files or small-file copies between requests\n"
"  --no-header-cache         build every response header afresh\n"
"  --cache-entries N         path/open-file cache size (default 1024)\n"
"  --cache-valid-ms N        re-check a cached path after this long (default 1000)\n"
"  --max-conns N             open connections; more wait in the backlog (default 10000)\n"
"  --max-header-bytes N      request head limit, else 431 (default 8192)\n"
"  --max-line-bytes N        request-target limit, else 414 (default 4096)\n"
"  --max-body-bytes N        a GET/HEAD body larger than this gets 413 (default 65536)\n"
"  --header-timeout-ms N     time to send a request head, else 408 (default 10000)\n"
"  --keepalive-timeout-ms N  idle keep-alive connections closed after (default 5000)\n"
"  --send-timeout-ms N       client must accept data within (default 30000)\n"
"  --shutdown-timeout-ms N   on SIGTERM, in-flight responses get this long (default 5000)\n"
"  -v, --verbose             log helper restarts and errors to stderr\n"
"  -h, --help                this text\n"
"\n"
"Prints \"amped: listening on URL (model M, ...)\" once ready.\n"
"Exit status: 0 stopped by SIGTERM/SIGINT, 1 runtime error, 2 usage error.\n"
"\n"
"examples:\n"
"  amped --root /srv/www --port 8080\n"
"  amped --root site --port 0 --model sped --access-log access.log\n"
"  amped --root site --port 0 --model uring --sched srpt\n");
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

enum {
	O_ROOT = 256, O_ADDR, O_PORT, O_MODEL, O_HELPERS, O_LOG, O_RES, O_NOPATH,
	O_NOMAP, O_NOHDR, O_CENTRIES, O_CVALID, O_MAXCONN, O_MAXHDR, O_MAXLINE,
	O_MAXBODY, O_HDRTO, O_KATO, O_SENDTO, O_SHUTTO, O_WORKERS, O_SYMLISTEN,
	O_SCHED
};

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, 0, O_ROOT },
		{ "addr", required_argument, 0, O_ADDR },
		{ "port", required_argument, 0, O_PORT },
		{ "model", required_argument, 0, O_MODEL },
		{ "helpers", required_argument, 0, O_HELPERS },
		{ "access-log", required_argument, 0, O_LOG },
		{ "residency", required_argument, 0, O_RES },
		{ "no-path-cache", no_argument, 0, O_NOPATH },
		{ "no-map-cache", no_argument, 0, O_NOMAP },
		{ "no-header-cache", no_argument, 0, O_NOHDR },
		{ "cache-entries", required_argument, 0, O_CENTRIES },
		{ "cache-valid-ms", required_argument, 0, O_CVALID },
		{ "max-conns", required_argument, 0, O_MAXCONN },
		{ "max-header-bytes", required_argument, 0, O_MAXHDR },
		{ "max-line-bytes", required_argument, 0, O_MAXLINE },
		{ "max-body-bytes", required_argument, 0, O_MAXBODY },
		{ "header-timeout-ms", required_argument, 0, O_HDRTO },
		{ "keepalive-timeout-ms", required_argument, 0, O_KATO },
		{ "send-timeout-ms", required_argument, 0, O_SENDTO },
		{ "shutdown-timeout-ms", required_argument, 0, O_SHUTTO },
		{ "workers", required_argument, 0, O_WORKERS },
		{ "symped-listen", required_argument, 0, O_SYMLISTEN },
		{ "sched", required_argument, 0, O_SCHED },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c, bad = 0, v;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case O_ROOT: cfg.root = optarg; break;
		case O_ADDR: cfg.addr = optarg; break;
		case O_PORT: bad |= parse_int(optarg, 0, 65535, &cfg.port); break;
		case O_MODEL:
			bad = 1;
			for (enum model m = MODEL_AMPED; m <= MODEL_URING; m++) {
				if (!strcmp(optarg, model_name(m))) {
					cfg.model = m;
					bad = 0;
				}
			}
			break;
		case O_WORKERS: bad |= parse_int(optarg, 1, 4096, &cfg.workers); break;
		case O_SCHED:
			if (!strcmp(optarg, "fcfs"))
				cfg.sched = SCHED_FCFS;
			else if (!strcmp(optarg, "srpt"))
				cfg.sched = SCHED_SRPT;
			else
				bad = 1;
			break;
		case O_SYMLISTEN:
			if (!strcmp(optarg, "reuseport"))
				cfg.symped_listen = SYMPED_REUSEPORT;
			else if (!strcmp(optarg, "shared"))
				cfg.symped_listen = SYMPED_SHARED;
			else
				bad = 1;
			break;
		case O_HELPERS: bad |= parse_int(optarg, 1, 256, &cfg.helpers); break;
		case O_LOG: cfg.access_log = optarg; break;
		case O_RES:
			if (!strcmp(optarg, "mincore"))
				cfg.residency = RES_MINCORE;
			else if (!strcmp(optarg, "cachestat"))
				cfg.residency = RES_CACHESTAT;
			else if (!strcmp(optarg, "none"))
				cfg.residency = RES_NONE;
			else
				bad = 1;
			break;
		case O_NOPATH: cfg.path_cache = false; break;
		case O_NOMAP: cfg.map_cache = false; break;
		case O_NOHDR: cfg.header_cache = false; break;
		case O_CENTRIES: bad |= parse_int(optarg, 1, 100000, &cfg.cache_entries); break;
		case O_CVALID: bad |= parse_int(optarg, 0, 86400000, &cfg.cache_valid_ms); break;
		case O_MAXCONN: bad |= parse_int(optarg, 1, 1000000, &cfg.max_conns); break;
		case O_MAXHDR: bad |= parse_int(optarg, 256, 1 << 20, &cfg.max_header_bytes); break;
		case O_MAXLINE: bad |= parse_int(optarg, 64, 1 << 20, &cfg.max_line_bytes); break;
		case O_MAXBODY: bad |= parse_int(optarg, 0, 1 << 30, &v); cfg.max_body_bytes = (uint64_t)v; break;
		case O_HDRTO: bad |= parse_int(optarg, 1, 86400000, &cfg.header_timeout_ms); break;
		case O_KATO: bad |= parse_int(optarg, 1, 86400000, &cfg.keepalive_timeout_ms); break;
		case O_SENDTO: bad |= parse_int(optarg, 1, 86400000, &cfg.send_timeout_ms); break;
		case O_SHUTTO: bad |= parse_int(optarg, 0, 86400000, &cfg.shutdown_timeout_ms); break;
		case 'v': cfg.verbose++; break;
		case 'h': usage(stdout); exit(0);
		default: bad = 1; break;
		}
		if (bad) {
			if (c != '?')
				fprintf(stderr, "amped: bad value for --%s: %s\n",
					opts[c >= O_ROOT ? c - O_ROOT : 0].name, optarg ? optarg : "");
			break;
		}
	}
	if (!bad && optind < argc) {
		fprintf(stderr, "amped: unexpected argument: %s\n", argv[optind]);
		bad = 1;
	}
	if (!bad && cfg.sched == SCHED_SRPT && !model_event_driven()) {
		/* a blocking worker writes one response; there is no choice */
		fprintf(stderr, "amped: --sched srpt needs an event-driven model "
			"(amped, amted, sped, symped, uring), not %s\n", model_name(cfg.model));
		bad = 1;
	}
	if (!bad && cfg.workers == 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		cfg.workers = cfg.model == MODEL_SYMPED ? (int)(ncpu > 0 ? ncpu : 2) : 64;
	}
	if (!bad && !cfg.root) {
		fprintf(stderr, "amped: --root DIR is required\n");
		bad = 1;
	}
	if (bad) {
		fprintf(stderr, "Try 'amped --help'.\n");
		return -1;
	}
	return 0;
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
	    (cfg.model == MODEL_SYMPED && cfg.symped_listen == SYMPED_REUSEPORT &&
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

const char *model_name(enum model m)
{
	static const char *const names[] = { "amped", "sped", "amted", "symped", "mp", "mt",
					      "uring" };
	return (unsigned)m < sizeof(names) / sizeof(names[0]) ? names[m] : "?";
}

/* One event-driven dispatcher on lfd until SIGTERM/SIGINT: amped, amted,
 * sped, and each symped process.  Returns the exit status. */
int run_dispatcher(int lfd)
{
	sigset_t mask;
	int err = 1, sfd = -1;
	uint64_t stop_deadline = 0;
	struct rlimit rl;

	prctl(PR_SET_NAME, AMPED_COMM_DISP);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		rl.rlim_cur = 1024;
	loop = ae_create((int)(rl.rlim_cur > 0 && rl.rlim_cur < 1 << 20 ? rl.rlim_cur : 1024));
	if (!loop) {
		perror("amped: event loop");
		goto cleanup;
	}
	ae_on_wake(loop, clock_refresh);
	clock_refresh();
	fc_init();
	/* Signals arrive as events; helpers unblock them after fork. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		perror("amped: signalfd");
		goto cleanup;
	}
	if (ae_set(loop, sfd, AE_READABLE, signal_cb, NULL) < 0) {
		perror("amped: watching signals");
		goto cleanup;
	}
	if (helpers_start() < 0)
		goto cleanup;
	if (conn_listen_start(lfd) < 0) {
		perror("amped: watching the listener");
		goto cleanup;
	}
	lfd = -1;			/* conn owns it now */

	uint64_t next_tick = 0;
	for (;;) {
		/* now_ms: refreshed by ae_poll on each wake-up (ae_on_wake) */
		if ((exiting || amped_stop_requested) && !stop_deadline) {
			conn_stop_accepting();
			conn_drain_idle();
			stop_deadline = now_ms + (uint64_t)cfg.shutdown_timeout_ms;
		}
		if (stop_deadline && (conn_count() == 0 || now_ms >= stop_deadline))
			break;
		if (now_ms >= next_tick) {
			conn_sweep();
			helpers_sweep();
			alog_tick();
			next_tick = now_ms + 100;
		}
		/* srpt: responses still ready after this turn's budget mean
		 * look for events, but do not sleep */
		bool more = cfg.sched == SCHED_SRPT && conn_run_ready();
		helpers_flush();
		/* wake at least every 100 ms for timeouts and the log */
		if (ae_poll(loop, more ? 0 : 100) < 0 && errno != EINTR) {
			perror("amped: epoll_wait");
			goto cleanup;
		}
	}
	err = 0;
cleanup:
	{
		/* what is left of the shutdown budget, at least 100 ms; helpers
		 * (and io_uring) first, so that no job still in service writes
		 * into a connection or entry freed below */
		long left = stop_deadline > now_ms ? (long)(stop_deadline - now_ms) : 0;
		helpers_stop(left < 100 ? 100 : left > 2000 ? 2000 : (int)left);
	}
	conn_close_all();
	fc_flush_all();
	if (lfd >= 0)
		close(lfd);
	if (sfd >= 0)
		close(sfd);
	ae_destroy(loop);
	loop = NULL;
	return err;
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	char url[128];
	int err = 1, lfd = -1;

	if (parse_args(argc, argv) < 0)
		return 2;

	/* Use every fd we are allowed; keep room for the caches and helpers. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		/* MT keeps one cache per worker thread (no locks on the hot
		 * path); the --cache-entries budget is split between them so
		 * the process holds about as many fds as the other models. */
		if (cfg.model == MODEL_MT) {
			int per = cfg.cache_entries / cfg.workers;
			cfg.cache_entries = per < 16 ? 16 : per;
		}
		long room = (long)rl.rlim_cur - cfg.cache_entries - 2 * cfg.helpers - 64;
		if (cfg.model == MODEL_MT)
			room = (long)rl.rlim_cur - (long)cfg.cache_entries * cfg.workers - 64;
		if (room < 16) {
			fprintf(stderr, "amped: RLIMIT_NOFILE %ld too low for these cache sizes\n",
				(long)rl.rlim_cur);
			return 1;
		}
		if (cfg.max_conns > room) {
			fprintf(stderr, "amped: --max-conns %d lowered to %ld (RLIMIT_NOFILE %ld)\n",
				cfg.max_conns, room, (long)rl.rlim_cur);
			cfg.max_conns = (int)room;
		}
	}
	signal(SIGPIPE, SIG_IGN);

	root_fd = open(cfg.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		fprintf(stderr, "amped: --root %s: %s\n", cfg.root, strerror(errno));
		goto cleanup;
	}
	{
		/* Without openat2 (Linux < 5.6, a seccomp filter, valgrind 3.19)
		 * nothing confines paths to the root: refuse to start rather
		 * than answer 500 to everything or fall back to something
		 * weaker. */
		int e = path_confinement_check(root_fd);
		if (e == -ENOSYS || e == -EPERM) {
			fprintf(stderr, "amped: openat2(2) is unavailable (%s): it is needed to keep "
				"every path beneath --root (Linux 5.6 or later, not blocked by seccomp)\n",
				strerror(-e));
			goto cleanup;
		}
	}
	if (cfg.access_log && alog_open(cfg.access_log) < 0) {
		fprintf(stderr, "amped: --access-log %s: %s\n", cfg.access_log, strerror(errno));
		goto cleanup;
	}
	lfd = make_listener(url, sizeof(url));
	if (lfd < 0)
		goto cleanup;
	{
		const char *sched = cfg.sched == SCHED_SRPT ? "srpt" : "fcfs";
		if (cfg.model == MODEL_AMPED || cfg.model == MODEL_AMTED)
			printf("amped: listening on %s (model %s, %d helpers, sched %s)\n", url,
			       model_name(cfg.model), cfg.helpers, sched);
		else if (cfg.model == MODEL_SPED)
			printf("amped: listening on %s (model sped, 0 helpers, sched %s)\n", url, sched);
		else if (cfg.model == MODEL_URING)
			printf("amped: listening on %s (model uring, %d io-wq workers, sched %s)\n", url,
			       cfg.helpers, sched);
		else if (cfg.model == MODEL_SYMPED)
			printf("amped: listening on %s (model symped, %d workers, sched %s)\n", url,
			       cfg.workers, sched);
		else
			printf("amped: listening on %s (model %s, %d workers)\n", url,
			       model_name(cfg.model), cfg.workers);
	}
	fflush(stdout);

	switch (cfg.model) {
	case MODEL_SYMPED:
		err = run_symped(lfd, url);
		break;
	case MODEL_MP:
		err = run_mp(lfd);
		break;
	case MODEL_MT:
		err = run_mt(lfd);
		break;
	default:
		err = run_dispatcher(lfd);
		break;
	}
	lfd = -1;			/* the model closed it */
cleanup:
	alog_close();
	if (lfd >= 0)
		close(lfd);
	if (root_fd >= 0)
		close(root_fd);
	return err;
}
