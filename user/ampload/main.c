/* ampload — closed, open and partly-open HTTP/1.1 load generation with
 * latency measured from intended send times.  See usage() and ampload.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>
#include "ampload.h"

static volatile int exiting;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: ampload [options] URL\n"
"       ampload gen-fileset --dir DIR --files N [--seed S]\n"
"\n"
"Workload (--mode):\n"
"  -m, --mode MODE        closed (default), open or partly-open\n"
"  -c, --conns N          closed: users (default 10); open: keep-alive connections\n"
"                         opened before the start (default 0; more are opened\n"
"                         as arrivals find none idle, up to --max-conns)\n"
"  -r, --rate R           open: requests/s; partly-open: sessions/s\n"
"      --arrivals D       poisson (default), det or uniform inter-arrival times\n"
"      --think MS         think time between a response and the next request (0)\n"
"      --think-dist D     fixed (default) or exp\n"
"      --p-return P       partly-open: probability of another request (0.5)\n"
"      --max-conns N      open/partly-open: connection cap (default 10000);\n"
"                         arrivals that find no connection wait in a FIFO\n"
"                         queue, and their latency still runs\n"
"      --conn-per-request one connection per request (HTTP/1.0 style), each\n"
"                         opened at its arrival (no cap but --max-conns)\n"
"Requests:\n"
"      --fileset MANIFEST request the files of a manifest (see gen-fileset),\n"
"                         relative to the URL's path\n"
"      --zipf A           Zipf popularity exponent over the manifest (1.0)\n"
"      --trace FILE       Common Log Format log: open mode replays its arrival\n"
"                         times, closed mode its path sequence\n"
"      --speed F          trace replay speed factor (1.0)\n"
"  -H, --header 'N: V'    add a request header (repeatable)\n"
"      --head             send HEAD instead of GET\n"
"      --req-id           name each request with a header X-Amped-Req: ID, ID =\n"
"                         (thread + 1) * 2^40 + its number in the thread's sends\n"
"                         (from 1), which amped hands to its tracers (ampstat)\n"
"Run length and statistics:\n"
"  -d, --duration S       measured seconds (default 10 unless --requests)\n"
"  -n, --requests N       measured requests\n"
"  -w, --warmup S         seconds excluded from the statistics (1)\n"
"  -t, --threads N        event-loop threads (1)\n"
"      --idle-poll-us US  while requests are in flight, poll this long after the\n"
"                         last event before sleeping (default 50 when the machine\n"
"                         has more CPUs than -t, else 0; 0: never): the server's\n"
"                         CPU then pays no wake-up IPI per response, at the cost\n"
"                         of the generator's own idle CPU time\n"
"      --timeout MS       per-request timeout (10000)\n"
"      --sla MS           report the share of requests slower than MS\n"
"      --batches N        batches for the confidence intervals (20)\n"
"      --ci PCT           confidence level in percent (99)\n"
"      --seed S           random seed (1); same seed, same arrivals and choices\n"
"      --json FILE        write everything, with the histogram, as JSON ('-': stdout)\n"
"  -q, --quiet            no human summary\n"
"  -h, --help\n"
"\n"
"Latency runs from a request's intended send time (its arrival, or the end\n"
"of the think time) to the last byte of the response, so a stalled server\n"
"cannot hide behind a generator that waits for it.  The summary gives\n"
"percentiles, confidence intervals for the mean and p99 from batch means\n"
"(with a warning when the run was too short), errors by kind, and the\n"
"generator's own send lateness; --json adds the histogram and a per-second\n"
"series.\n"
"Exit status: 0 ok, 1 runtime failure, 2 usage error.\n"
"\n"
"Examples:\n"
"  ampload -m closed -c 50 -d 10 http://127.0.0.1:8080/1k.bin\n"
"  ampload -m open -r 5000 -d 30 --sla 10 --json out.json http://127.0.0.1:8080/\n"
"  ampload -m partly-open -r 200 --p-return 0.8 --think 100 --think-dist exp URL\n"
"  ampload gen-fileset --dir /srv/www/set --files 1000 --seed 7\n"
"  ampload -m open -r 800 --fileset /srv/www/set/manifest.txt --zipf 1 \\\n"
"          http://127.0.0.1:8080/set/\n"
"  ampload -m open --trace access.log --speed 10 http://127.0.0.1:8080/\n");
}

#define USAGE_ERR(...) do { fprintf(stderr, "ampload: " __VA_ARGS__); \
	fprintf(stderr, "\n(try ampload --help)\n"); return AL_EXIT_USAGE; } while (0)

static int parse_double(const char *s, double *out, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out, uint64_t lo, uint64_t hi)
{
	char *end;
	unsigned long long v;

	if (*s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* http://host[:port][/path]; host is a name, an IPv4 address or [IPv6].
 * Returns 0, or -1 with a message in err. */
static int parse_url(struct al_config *cfg, const char *url, char *err, size_t errlen)
{
	const char *p, *hs, *he, *ps;
	char host[256], port[16] = "80";
	struct addrinfo hints = { 0 }, *res = NULL;
	int r;

	if (strncasecmp(url, "http://", 7)) {
		snprintf(err, errlen, "bad URL '%s': only http:// is supported", url);
		return -1;
	}
	hs = url + 7;
	if (*hs == '[') {
		he = strchr(hs, ']');
		if (!he) {
			snprintf(err, errlen, "bad URL '%s': unterminated [", url);
			return -1;
		}
		hs++;
		p = he + 1;
	} else {
		for (he = hs; *he && *he != ':' && *he != '/' && *he != '?'; he++)
			;
		p = he;
	}
	if (he == hs || (size_t)(he - hs) >= sizeof(host)) {
		snprintf(err, errlen, "bad URL '%s': no host", url);
		return -1;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = 0;
	if (*p == ':') {
		size_t n = 0;
		uint64_t v;
		for (ps = ++p; *p >= '0' && *p <= '9'; p++)
			n++;
		if (n == 0 || n > 5 || (*p && *p != '/' && *p != '?')) {
			snprintf(err, errlen, "bad URL '%s': bad port", url);
			return -1;
		}
		memcpy(port, ps, n);
		port[n] = 0;
		if (parse_u64(port, &v, 1, 65535) < 0) {
			snprintf(err, errlen, "bad URL '%s': bad port", url);
			return -1;
		}
	} else if (*p && *p != '/' && *p != '?') {
		snprintf(err, errlen, "bad URL '%s'", url);
		return -1;
	}
	if (!*p)
		p = "/";
	if (*p == '?') {
		snprintf(cfg->base_path, sizeof(cfg->base_path), "/%s", p);
	} else if (strlen(p) >= sizeof(cfg->base_path)) {
		snprintf(err, errlen, "URL path too long");
		return -1;
	} else {
		strcpy(cfg->base_path, p);
	}
	for (const char *c = cfg->base_path; *c; c++) {
		if ((unsigned char)*c <= ' ' || *c == 0x7f) {
			snprintf(err, errlen, "bad URL '%s': space or control character in the path", url);
			return -1;
		}
	}
	if (strchr(host, ':'))
		snprintf(cfg->hostport, sizeof(cfg->hostport), "[%s]:%s", host, port);
	else
		snprintf(cfg->hostport, sizeof(cfg->hostport), "%s:%s", host, port);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	r = getaddrinfo(host, port, &hints, &res);
	if (r || !res) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(r));
		return -2;
	}
	memcpy(&cfg->addr, res->ai_addr, res->ai_addrlen);
	cfg->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* One blocking connect with a time limit before the run, so that an
 * unreachable server is one clear error rather than a run full of them. */
static int probe(const struct al_config *cfg, char *err, size_t errlen)
{
	int fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd pfd;
	int soerr = 0, rc = -1;
	socklen_t sl = sizeof(soerr);

	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) < 0) {
		if (errno != EINPROGRESS) {
			soerr = errno;
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 3000) != 1) {
			soerr = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr)
			goto fail;
	}
	rc = 0;
	goto cleanup;
fail:
	snprintf(err, errlen, "cannot connect to %s: %s", cfg->hostport, strerror(soerr));
cleanup:
	close(fd);
	return rc;
}

static int gen_fileset(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, 0, 'D' },
		{ "files", required_argument, 0, 'N' },
		{ "seed", required_argument, 0, 'S' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *dir = NULL;
	uint64_t files = 0, seed = 1;
	char err[512];
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'D':
			dir = optarg;
			break;
		case 'N':
			if (parse_u64(optarg, &files, 1, 10000000) < 0)
				USAGE_ERR("--files wants 1..10000000, not '%s'", optarg);
			break;
		case 'S':
			if (parse_u64(optarg, &seed, 0, UINT64_MAX) < 0)
				USAGE_ERR("--seed wants a number, not '%s'", optarg);
			break;
		case 'h':
			usage(stdout);
			return AL_EXIT_OK;
		default:
			return AL_EXIT_USAGE;
		}
	}
	if (!dir || !files || optind != argc)
		USAGE_ERR("gen-fileset needs --dir DIR --files N");
	if (fs_generate(dir, (size_t)files, seed, err, sizeof(err)) < 0) {
		fprintf(stderr, "ampload: gen-fileset: %s\n", err);
		return AL_EXIT_RUNTIME;
	}
	printf("ampload: wrote %llu files and %s/manifest.txt\n", (unsigned long long)files, dir);
	return AL_EXIT_OK;
}

struct worker {
	pthread_t tid;
	struct en_thread *t;
	int rc;
};

/* Start-up handshake: every thread prepares its connections, then main
 * picks one start time for all (after the slowest thread was ready). */
static pthread_barrier_t ready, go;
static uint64_t start_ns;

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->rc = en_prepare(w->t, &exiting);
	pthread_barrier_wait(&ready);
	pthread_barrier_wait(&go);
	if (w->rc == 0) {
		en_start(w->t, start_ns);
		w->rc = en_run(w->t, &exiting);
	}
	return NULL;
}

enum {
	O_ARRIVALS = 256, O_THINK, O_THINK_DIST, O_P_RETURN, O_MAX_CONNS, O_CPR,
	O_FILESET, O_ZIPF, O_TRACE, O_SPEED, O_HEAD, O_TIMEOUT, O_SLA, O_BATCHES,
	O_CI, O_SEED, O_JSON, O_IDLE_POLL, O_REQ_ID,
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, 0, 'm' },
		{ "conns", required_argument, 0, 'c' },
		{ "rate", required_argument, 0, 'r' },
		{ "arrivals", required_argument, 0, O_ARRIVALS },
		{ "think", required_argument, 0, O_THINK },
		{ "think-dist", required_argument, 0, O_THINK_DIST },
		{ "p-return", required_argument, 0, O_P_RETURN },
		{ "max-conns", required_argument, 0, O_MAX_CONNS },
		{ "conn-per-request", no_argument, 0, O_CPR },
		{ "fileset", required_argument, 0, O_FILESET },
		{ "zipf", required_argument, 0, O_ZIPF },
		{ "trace", required_argument, 0, O_TRACE },
		{ "speed", required_argument, 0, O_SPEED },
		{ "header", required_argument, 0, 'H' },
		{ "head", no_argument, 0, O_HEAD },
		{ "req-id", no_argument, 0, O_REQ_ID },
		{ "duration", required_argument, 0, 'd' },
		{ "requests", required_argument, 0, 'n' },
		{ "warmup", required_argument, 0, 'w' },
		{ "threads", required_argument, 0, 't' },
		{ "idle-poll-us", required_argument, 0, O_IDLE_POLL },
		{ "timeout", required_argument, 0, O_TIMEOUT },
		{ "sla", required_argument, 0, O_SLA },
		{ "batches", required_argument, 0, O_BATCHES },
		{ "ci", required_argument, 0, O_CI },
		{ "seed", required_argument, 0, O_SEED },
		{ "json", required_argument, 0, O_JSON },
		{ "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct al_config cfg = {
		.mode = AL_CLOSED, .dist = AL_POISSON, .think_dist = AL_THINK_FIXED,
		.threads = 1, .conns = -1, .max_conns = 10000, .p_return = 0.5,
		.warmup_s = 1, .timeout_ms = 10000, .sla_ms = -1, .ci = 0.99,
		.batches = 20, .seed = 1, .speed = 1, .idle_poll_us = -1,
	};
	const char *fileset = NULL, *trace = NULL;
	double zipf = 1.0, v;
	uint64_t u;
	struct fs_set fs = { 0 };
	struct tr_trace tr = { 0 };
	struct worker *w = NULL;
	struct al_stats **st = NULL;
	struct sigaction sa = { 0 };
	char err[1024];
	uint64_t t0;
	int o, err_rc = AL_EXIT_RUNTIME, started = 0, failed = 0, rate_set = 0;

	if (argc > 1 && !strcmp(argv[1], "gen-fileset"))
		return gen_fileset(argc - 1, argv + 1);

	while ((o = getopt_long(argc, argv, "m:c:r:H:d:n:w:t:qh", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
			if (!strcmp(optarg, "closed"))
				cfg.mode = AL_CLOSED;
			else if (!strcmp(optarg, "open"))
				cfg.mode = AL_OPEN;
			else if (!strcmp(optarg, "partly-open") || !strcmp(optarg, "partly"))
				cfg.mode = AL_PARTLY;
			else
				USAGE_ERR("--mode wants closed, open or partly-open, not '%s'", optarg);
			break;
		case 'c':
			if (parse_u64(optarg, &u, 0, 1000000) < 0)
				USAGE_ERR("--conns wants 0..1000000, not '%s'", optarg);
			cfg.conns = (int)u;
			break;
		case 'r':
			if (parse_double(optarg, &cfg.rate, 1e-6, 1e8) < 0)
				USAGE_ERR("--rate wants a positive number, not '%s'", optarg);
			rate_set = 1;
			break;
		case O_ARRIVALS:
			if (!strcmp(optarg, "poisson"))
				cfg.dist = AL_POISSON;
			else if (!strcmp(optarg, "det") || !strcmp(optarg, "deterministic"))
				cfg.dist = AL_DET;
			else if (!strcmp(optarg, "uniform"))
				cfg.dist = AL_UNIFORM;
			else
				USAGE_ERR("--arrivals wants poisson, det or uniform, not '%s'", optarg);
			break;
		case O_THINK:
			if (parse_double(optarg, &cfg.think_ms, 0, 1e9) < 0)
				USAGE_ERR("--think wants milliseconds >= 0, not '%s'", optarg);
			break;
		case O_THINK_DIST:
			if (!strcmp(optarg, "fixed"))
				cfg.think_dist = AL_THINK_FIXED;
			else if (!strcmp(optarg, "exp") || !strcmp(optarg, "exponential"))
				cfg.think_dist = AL_THINK_EXP;
			else
				USAGE_ERR("--think-dist wants fixed or exp, not '%s'", optarg);
			break;
		case O_P_RETURN:
			if (parse_double(optarg, &cfg.p_return, 0, 0.999999) < 0)
				USAGE_ERR("--p-return wants 0 <= p < 1, not '%s'", optarg);
			break;
		case O_MAX_CONNS:
			if (parse_u64(optarg, &u, 1, 1000000) < 0)
				USAGE_ERR("--max-conns wants 1..1000000, not '%s'", optarg);
			cfg.max_conns = (int)u;
			break;
		case O_CPR:
			cfg.conn_per_request = 1;
			break;
		case O_FILESET:
			fileset = optarg;
			break;
		case O_ZIPF:
			if (parse_double(optarg, &zipf, 0, 10) < 0)
				USAGE_ERR("--zipf wants 0..10, not '%s'", optarg);
			break;
		case O_TRACE:
			trace = optarg;
			break;
		case O_SPEED:
			if (parse_double(optarg, &cfg.speed, 1e-6, 1e6) < 0)
				USAGE_ERR("--speed wants a positive factor, not '%s'", optarg);
			break;
		case 'H': {
			size_t l = strlen(cfg.extra_headers), n = strlen(optarg);
			if (!strchr(optarg, ':') || strpbrk(optarg, "\r\n"))
				USAGE_ERR("--header wants 'Name: value', not '%s'", optarg);
			if (l + n + 3 > sizeof(cfg.extra_headers))
				USAGE_ERR("too many headers");
			snprintf(cfg.extra_headers + l, sizeof(cfg.extra_headers) - l, "%s\r\n", optarg);
			break;
		}
		case O_REQ_ID:
			cfg.req_id = 1;
			break;
		case O_HEAD:
			cfg.head = 1;
			break;
		case 'd':
			if (parse_double(optarg, &cfg.duration_s, 0.001, 1e7) < 0)
				USAGE_ERR("--duration wants seconds > 0, not '%s'", optarg);
			break;
		case 'n':
			if (parse_u64(optarg, &cfg.requests, 1, UINT64_MAX / 2) < 0)
				USAGE_ERR("--requests wants a positive count, not '%s'", optarg);
			break;
		case 'w':
			if (parse_double(optarg, &cfg.warmup_s, 0, 1e6) < 0)
				USAGE_ERR("--warmup wants seconds >= 0, not '%s'", optarg);
			break;
		case 't':
			if (parse_u64(optarg, &u, 1, 256) < 0)
				USAGE_ERR("--threads wants 1..256, not '%s'", optarg);
			cfg.threads = (int)u;
			break;
		case O_IDLE_POLL:
			if (parse_u64(optarg, &u, 0, 10000) < 0)
				USAGE_ERR("--idle-poll-us wants 0..10000, not '%s'", optarg);
			cfg.idle_poll_us = (int)u;
			break;
		case O_TIMEOUT:
			if (parse_double(optarg, &cfg.timeout_ms, 1, 1e9) < 0)
				USAGE_ERR("--timeout wants milliseconds >= 1, not '%s'", optarg);
			break;
		case O_SLA:
			if (parse_double(optarg, &cfg.sla_ms, 0, 1e9) < 0)
				USAGE_ERR("--sla wants milliseconds >= 0, not '%s'", optarg);
			break;
		case O_BATCHES:
			if (parse_u64(optarg, &u, 2, 1000) < 0)
				USAGE_ERR("--batches wants 2..1000, not '%s'", optarg);
			cfg.batches = (int)u;
			break;
		case O_CI:
			if (parse_double(optarg, &v, 50, 99.99) < 0)
				USAGE_ERR("--ci wants a percentage in 50..99.99, not '%s'", optarg);
			cfg.ci = v / 100;
			break;
		case O_SEED:
			if (parse_u64(optarg, &cfg.seed, 0, UINT64_MAX) < 0)
				USAGE_ERR("--seed wants a number, not '%s'", optarg);
			break;
		case O_JSON:
			cfg.json_path = optarg;
			break;
		case 'q':
			cfg.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return AL_EXIT_OK;
		default:
			fprintf(stderr, "(try ampload --help)\n");
			return AL_EXIT_USAGE;
		}
	}
	if (optind != argc - 1)
		USAGE_ERR("%s", optind >= argc ? "missing URL" : "one URL only");
	cfg.url = argv[optind];

	/* Combinations that make no sense are usage errors, not surprises. */
	if (cfg.mode != AL_CLOSED && !rate_set && !(cfg.mode == AL_OPEN && trace))
		USAGE_ERR("--mode %s needs --rate", cfg.mode == AL_OPEN ? "open" : "partly-open");
	if (cfg.mode == AL_CLOSED && rate_set)
		USAGE_ERR("--rate is for open and partly-open modes; closed loop uses --conns");
	if (cfg.mode == AL_PARTLY && trace)
		USAGE_ERR("--trace works with closed or open mode");
	if (fileset && trace)
		USAGE_ERR("--fileset and --trace exclude each other");
	if (cfg.conns < 0)
		cfg.conns = cfg.mode == AL_CLOSED ? 10 : 0;
	if (cfg.mode == AL_CLOSED && cfg.conns < 1)
		USAGE_ERR("closed loop needs --conns >= 1");
	if (cfg.mode == AL_CLOSED && cfg.conns < cfg.threads)
		cfg.threads = cfg.conns;
	if (cfg.duration_s == 0 && cfg.requests == 0)
		cfg.duration_s = 10;
	if (cfg.max_conns < cfg.threads)
		cfg.max_conns = cfg.threads;

	if (parse_url(&cfg, cfg.url, err, sizeof(err)) < 0) {
		fprintf(stderr, "ampload: %s\n", err);
		return strncmp(err, "cannot resolve", 14) ? AL_EXIT_USAGE : AL_EXIT_RUNTIME;
	}
	if (fileset) {
		size_t l = strlen(cfg.base_path);
		if (fs_load(&fs, fileset, zipf, err, sizeof(err)) < 0) {
			fprintf(stderr, "ampload: --fileset %s\n", err);
			return AL_EXIT_USAGE;
		}
		if (l && cfg.base_path[l - 1] != '/' && l + 1 < sizeof(cfg.base_path))
			strcat(cfg.base_path, "/");
		cfg.fs = &fs;
	}
	if (trace) {
		if (tr_load(&tr, trace, err, sizeof(err)) < 0) {
			fprintf(stderr, "ampload: %s\n", err);
			err_rc = AL_EXIT_USAGE;
			goto cleanup;
		}
		if (tr.malformed)
			fprintf(stderr, "ampload: trace %s: skipped %zu malformed of %zu lines (first: line %zu)\n",
				trace, tr.malformed, tr.lines, tr.first_bad_line);
		cfg.tr = &tr;
	}
	if (probe(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "ampload: %s\n", err);
		goto cleanup;
	}

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
		fprintf(stderr, "ampload: sigaction: %s\n", strerror(errno));
		goto cleanup;
	}
	/* A server closing a connection we write to must be an error we
	 * count, not a signal that kills us. */
	signal(SIGPIPE, SIG_IGN);
	/* Thousands of connections need more than the usual soft limit of
	 * 1024 descriptors; take what the hard limit allows. */
	{
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	w = calloc((size_t)cfg.threads, sizeof(*w));
	st = calloc((size_t)cfg.threads, sizeof(*st));
	if (!w || !st) {
		fprintf(stderr, "ampload: out of memory\n");
		goto cleanup;
	}
	for (int i = 0; i < cfg.threads; i++) {
		w[i].t = en_create(&cfg, i, err, sizeof(err));
		if (!w[i].t) {
			fprintf(stderr, "ampload: thread %d: %s\n", i, err);
			goto cleanup;
		}
	}
	if (pthread_barrier_init(&ready, NULL, (unsigned)cfg.threads + 1) ||
	    pthread_barrier_init(&go, NULL, (unsigned)cfg.threads + 1)) {
		fprintf(stderr, "ampload: pthread_barrier_init failed\n");
		goto cleanup;
	}
	for (int i = 0; i < cfg.threads; i++) {
		int r = pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
		if (r) {
			/* The barriers count on every thread: give up at once. */
			fprintf(stderr, "ampload: pthread_create: %s\n", strerror(r));
			exit(AL_EXIT_RUNTIME);
		}
		started++;
	}
	pthread_barrier_wait(&ready);
	/* Start a little in the future so every thread begins together. */
	t0 = start_ns = al_now_ns() + 5000000u;
	pthread_barrier_wait(&go);
	for (int i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		if (w[i].rc < 0) {
			fprintf(stderr, "ampload: thread %d: %s\n", i, en_error(w[i].t));
			failed = 1;
		}
	}
	if (started < cfg.threads || failed)
		goto cleanup;
	{
		double elapsed_s = (double)(al_now_ns() - t0) / 1e9;
		uint64_t done = 0;
		for (int i = 0; i < cfg.threads; i++) {
			st[i] = (struct al_stats *)en_stats(w[i].t);
			done += st[i]->done + st[i]->warmup_done;
		}
		if (rep_write(&cfg, st, cfg.threads, elapsed_s) < 0)
			goto cleanup;
		if (!done && !exiting) {
			fprintf(stderr, "ampload: no request got a response\n");
			goto cleanup;
		}
	}
	err_rc = AL_EXIT_OK;
cleanup:
	if (w)
		for (int i = 0; i < cfg.threads; i++)
			en_destroy(w[i].t);
	free(w);
	free(st);
	fs_free(&fs);
	tr_free(&tr);
	return err_rc;
}
