/* amped — a Flash-style static-file HTTP/1.1 server.
 * main: parse the options, take the process's resources (fds, the root,
 * the log, the listener), run the chosen model (model.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "ae.h"
#include "alog.h"
#include "amped_usdt.h"
#include "model.h"
#include "proc.h"
#include "work.h"

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
"  --model M                 the concurrency model (default %s):\n", models[0]->name);
	for (size_t i = 0; i < nmodels; i++) {
		const char *h = models[i]->help;
		fprintf(f, "%28s%-8s", "", models[i]->name);
		for (const char *nl; (nl = strchr(h, '\n')); h = nl + 1)
			fprintf(f, "%.*s\n%36s", (int)(nl - h), h, "");
		fprintf(f, "%s\n", h);
	}
	fprintf(f,
"  --sched S                 fcfs|srpt: which ready response an event-driven model\n"
"                            (all but mp, mt) writes first: in the order events\n"
"                            arrive, or the one with the fewest bytes left, a\n"
"                            64 KiB quantum at a time (default fcfs)\n"
"  --poller P                epoll|poll|select: how the event loops of amped, amted,\n"
"                            sped, symped, uring and ult wait (default epoll).\n"
"                            select holds fds below 1024 only: a connection whose\n"
"                            fd is 1024 or more is answered 503 and closed\n"
"  --ult-stack-kb N          ult: stack of each user-level thread, below a guard\n"
"                            page (default 64)\n"
"  --ult-switch S            ult: asm|ucontext: how a user-level thread switches\n"
"                            (default asm; ucontext adds a sigprocmask per switch)\n"
"  --stage-threads LIST      seda: threads per stage, e.g. http=2,file=8 (defaults:\n"
"                            acc=1, http=CPUs, file=8)\n"
"  --stage-queue N           seda: each stage's queue bound; a connection that\n"
"                            finds the http queue full is answered 503, a file\n"
"                            job that finds its queue full fails with EAGAIN\n"
"                            (503) (default 1024)\n"
"  --threads N               hybrid: most worker threads per process (default 64)\n"
"  --min-spare N / --max-spare N  hybrid: each process starts threads while fewer\n"
"                            than N are idle and ends idle ones while more than N\n"
"                            are (defaults 4 and 16)\n"
"  --dispatchers N|auto      event loops of amped, amted, sped and uring, as threads\n"
"                            named amped-disp-0..N-1, each with its own listening\n"
"                            socket (SO_REUSEPORT: the kernel spreads connections),\n"
"                            caches and helpers; auto: one per online CPU; at most\n"
"                            %d (default 1: one thread named amped-disp)\n"
"  --helpers N               helper processes/threads for amped/amted, most io-wq\n"
"                            workers for uring, per dispatcher (default 8)\n"
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
"  --max-conns N             open connections per dispatcher; more wait in the\n"
"                            backlog (default 10000)\n"
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
"  amped --root site --port 0 --model uring --sched srpt\n"
"  amped --root site --port 0 --dispatchers auto\n", AMPED_DISP_MAX);
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
	O_SCHED, O_POLLER, O_ULTSTACK, O_ULTSWITCH, O_STTHREADS, O_STQUEUE, O_THREADS, O_MINSPARE, O_MAXSPARE,
	O_DISPATCHERS
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
		{ "poller", required_argument, 0, O_POLLER },
		{ "ult-stack-kb", required_argument, 0, O_ULTSTACK },
		{ "ult-switch", required_argument, 0, O_ULTSWITCH },
		{ "stage-threads", required_argument, 0, O_STTHREADS },
		{ "stage-queue", required_argument, 0, O_STQUEUE },
		{ "threads", required_argument, 0, O_THREADS },
		{ "min-spare", required_argument, 0, O_MINSPARE },
		{ "max-spare", required_argument, 0, O_MAXSPARE },
		{ "dispatchers", required_argument, 0, O_DISPATCHERS },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c, bad = 0, v;
	bool dispatchers_set = false;

	cfg.model = models[0];

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case O_ROOT: cfg.root = optarg; break;
		case O_ADDR: cfg.addr = optarg; break;
		case O_PORT: bad |= parse_int(optarg, 0, 65535, &cfg.port); break;
		case O_MODEL:
			cfg.model = model_find(optarg);
			bad = !cfg.model;
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
		case O_POLLER: {
			enum ae_poller pl;
			bad = ae_poller_parse(optarg, &pl) < 0;
			cfg.poller = (int)pl;
			cfg.poller_set = true;
			break;
		}
		case O_ULTSTACK: bad |= parse_int(optarg, 16, 8192, &cfg.ult_stack_kb); break;
		case O_ULTSWITCH:
			if (!strcmp(optarg, "asm"))
				cfg.ult_ucontext = false;
			else if (!strcmp(optarg, "ucontext"))
				cfg.ult_ucontext = true;
			else
				bad = 1;
			break;
		case O_STTHREADS: cfg.stage_threads = optarg; break;
		case O_STQUEUE: bad |= parse_int(optarg, 1, 1 << 20, &cfg.stage_queue); break;
		case O_THREADS: bad |= parse_int(optarg, 1, 4096, &cfg.threads); break;
		case O_MINSPARE: bad |= parse_int(optarg, 0, 4096, &cfg.min_spare); break;
		case O_MAXSPARE: bad |= parse_int(optarg, 1, 4096, &cfg.max_spare); break;
		case O_SYMLISTEN:
			if (!strcmp(optarg, "reuseport"))
				cfg.symped_listen = SYMPED_REUSEPORT;
			else if (!strcmp(optarg, "shared"))
				cfg.symped_listen = SYMPED_SHARED;
			else
				bad = 1;
			break;
		case O_HELPERS: bad |= parse_int(optarg, 1, 256, &cfg.helpers); break;
		case O_DISPATCHERS:
			if (!strcmp(optarg, "auto")) {
				long n = sysconf(_SC_NPROCESSORS_ONLN);
				cfg.dispatchers = n < 1 ? 1 : n > AMPED_DISP_MAX ? AMPED_DISP_MAX : (int)n;
			} else {
				bad |= parse_int(optarg, 1, AMPED_DISP_MAX, &cfg.dispatchers);
			}
			dispatchers_set = true;
			break;
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
	if (!bad && cfg.sched == SCHED_SRPT && !cfg.model->event_driven) {
		/* a blocking worker writes one response; there is no choice */
		fprintf(stderr, "amped: --sched srpt needs an event-driven model (");
		for (size_t i = 0, n = 0; i < nmodels; i++)
			if (models[i]->event_driven)
				fprintf(stderr, "%s%s", n++ ? ", " : "", models[i]->name);
		fprintf(stderr, "), not %s\n", cfg.model->name);
		bad = 1;
	}
	if (!bad && cfg.poller_set && !cfg.model->polls) {
		fprintf(stderr, "amped: --poller applies to the models that wait in an event loop (");
		for (size_t i = 0, n = 0; i < nmodels; i++)
			if (models[i]->polls)
				fprintf(stderr, "%s%s", n++ ? ", " : "", models[i]->name);
		fprintf(stderr, "), not %s\n", cfg.model->name);
		bad = 1;
	}
	if (!bad && dispatchers_set && !cfg.model->dispatchers) {
		fprintf(stderr, "amped: --dispatchers applies to the models run by event loops of\n"
			"their own (");
		for (size_t i = 0, n = 0; i < nmodels; i++)
			if (models[i]->dispatchers)
				fprintf(stderr, "%s%s", n++ ? ", " : "", models[i]->name);
		fprintf(stderr, "), not %s\n", cfg.model->name);
		bad = 1;
	}
	/* several dispatchers: a listening socket each, on one port */
	if (cfg.dispatchers > 1)
		cfg.listen_reuseport = true;
	if (!bad && cfg.workers == 0)
		cfg.workers = cfg.model->default_workers ? cfg.model->default_workers() : 64;
	if (!bad && cfg.model->configure && cfg.model->configure() < 0)
		bad = 1;
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

int main(int argc, char **argv)
{
	struct rlimit rl;
	char url[128], desc[128];
	int err = 1, lfd = -1;

	if (parse_args(argc, argv) < 0)
		return 2;

	/* Use every fd we are allowed; keep room for the caches and helpers. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		/* each dispatcher has its caches, helpers and listener */
		long reserved = cfg.model->fds_reserved ? cfg.model->fds_reserved() :
				cfg.dispatchers * ((long)cfg.cache_entries + 2L * cfg.helpers + 64);
		long room = ((long)rl.rlim_cur - reserved) / cfg.dispatchers;
		if (room < 16) {
			fprintf(stderr, "amped: RLIMIT_NOFILE %ld too low for these cache sizes\n",
				(long)rl.rlim_cur);
			return 1;
		}
		if (cfg.max_conns > room) {
			fprintf(stderr, "amped: --max-conns %d lowered to %ld%s (RLIMIT_NOFILE %ld)\n",
				cfg.max_conns, room, cfg.dispatchers > 1 ? " per dispatcher" : "",
				(long)rl.rlim_cur);
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
	/* before the listening line, after which a tracer may look */
	amped_current[0].nslots = (unsigned int)cfg.dispatchers;
	cfg.model->describe(desc, sizeof(desc));
	if (cfg.model->polls) {
		size_t dl = strlen(desc);
		snprintf(desc + dl, sizeof(desc) - dl, ", poller %s",
			 ae_poller_name((enum ae_poller)cfg.poller));
	}
	if (cfg.dispatchers > 1) {
		size_t dl = strlen(desc);
		snprintf(desc + dl, sizeof(desc) - dl, ", %d dispatchers", cfg.dispatchers);
	}
	printf("amped: listening on %s (%s)\n", url, desc);
	fflush(stdout);

	err = cfg.model->run(lfd);
	lfd = -1;			/* the model closed it */
cleanup:
	alog_close();
	if (lfd >= 0)
		close(lfd);
	if (root_fd >= 0)
		close(root_fd);
	return err;
}
