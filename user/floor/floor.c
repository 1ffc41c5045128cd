/* floor — the physical limit of this machine's loopback path: an epoll
 * server that answers every request head (bytes up to "\r\n\r\n") with one
 * fixed response, without parsing the request.
 *
 * `make bench` measures every server's CPU time per request against it:
 * what a web server costs beyond this is its own work (parsing, path
 * translation, file I/O, headers), not the kernel's TCP path, which no
 * server can avoid.  It is not an HTTP server: it serves the same bytes
 * for every path and method.
 *
 * Contract:
 *  - The response is "200 OK" with Content-Length: BODY and a body of BODY
 *    bytes (default 1024, --body-bytes N), the letters 'a' + (i * 7) % 26
 *    for byte i, so a test can compare it with a file it writes itself.
 *  - A head that contains "connection: close" (any case) is answered with
 *    "Connection: close" and the connection is closed after the response;
 *    any other is kept alive.  Pipelined heads are answered in order.
 *  - A head longer than FL_IN_BYTES, or EOF or an error from the client,
 *    closes the connection without an answer.
 *  - Prints "floor: listening on http://ADDR:PORT/ ..." once it accepts.
 * Exit status: 0 stopped by SIGTERM/SIGINT, 1 runtime error, 2 usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ae.h"

#define FL_IN_BYTES 8192		/* a head longer than this closes */
#define FL_MAX_BODY_BYTES (64u << 20)

struct fl_conn {
	size_t in_len;
	size_t out_off;		/* bytes of the current response written */
	unsigned pending;	/* responses owed, the current one included */
	int close_after;	/* the last owed response says Connection: close */
	char in[FL_IN_BYTES];
};

struct fl_resp {
	char *buf;
	size_t len;
};

static struct fl_resp fl_keep, fl_close;
static volatile sig_atomic_t fl_exiting;
static int fl_listen_fd = -1;

static void fl_on_signal(int sig)
{
	(void)sig;
	fl_exiting = 1;
}

/* fl_build: the fixed response, with or without "Connection: close".
 * Returns 0, or -1 when out of memory. */
static int fl_build(struct fl_resp *r, size_t body_bytes, int close)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nServer: floor\r\n"
			 "Content-Type: application/octet-stream\r\n"
			 "Content-Length: %zu\r\n%s\r\n",
			 body_bytes, close ? "Connection: close\r\n" : "");
	r->len = (size_t)n + body_bytes;
	r->buf = malloc(r->len);
	if (!r->buf)
		return -1;
	memcpy(r->buf, head, (size_t)n);
	for (size_t i = 0; i < body_bytes; i++)
		r->buf[(size_t)n + i] = (char)('a' + (i * 7) % 26);
	return 0;
}

static void fl_drop(struct ae_loop *loop, int fd, struct fl_conn *c)
{
	ae_forget(loop, fd);
	close(fd);
	free(c);
}

/* fl_has_close: whether the head [p, p+len) holds "connection: close".
 * A substring test, not a parse: enough for the clients of the bench. */
static int fl_has_close(const char *p, size_t len)
{
	static const char key[] = "connection: close";
	const size_t klen = sizeof(key) - 1;

	for (size_t i = 0; i + klen <= len; i++)
		if ((p[i] | 0x20) == 'c' && strncasecmp(p + i, key, klen) == 0)
			return 1;
	return 0;
}

static void fl_on_conn(struct ae_loop *loop, int fd, void *data, int mask);

/* fl_flush: write what is owed.  Returns 0 when the connection lives on
 * (everything written, or the rest waits for EPOLLOUT), -1 when it was
 * closed (error, or the last response of a Connection: close). */
static int fl_flush(struct ae_loop *loop, int fd, struct fl_conn *c)
{
	while (c->pending) {
		const struct fl_resp *r = (c->pending == 1 && c->close_after) ? &fl_close : &fl_keep;
		ssize_t n = write(fd, r->buf + c->out_off, r->len - c->out_off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (ae_set(loop, fd, AE_WRITABLE, fl_on_conn, c) < 0)
					goto drop;
				return 0;
			}
			goto drop;
		}
		c->out_off += (size_t)n;
		if (c->out_off == r->len) {
			c->out_off = 0;
			c->pending--;
		}
	}
	if (c->close_after)
		goto drop;
	if (ae_set(loop, fd, AE_READABLE, fl_on_conn, c) < 0)
		goto drop;
	return 0;
drop:
	fl_drop(loop, fd, c);
	return -1;
}

static void fl_on_conn(struct ae_loop *loop, int fd, void *data, int mask)
{
	struct fl_conn *c = data;

	if (c->pending) {	/* waiting to write: reads wait too */
		fl_flush(loop, fd, c);
		return;
	}
	for (;;) {
		size_t space = sizeof(c->in) - c->in_len;
		ssize_t n = read(fd, c->in + c->in_len, space);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* wait for more (a new connection joins epoll here) */
			if (ae_set(loop, fd, AE_READABLE, fl_on_conn, c) < 0)
				fl_drop(loop, fd, c);
			return;
		}
		if (n <= 0) {
			fl_drop(loop, fd, c);
			return;
		}
		c->in_len += (size_t)n;
		/* Answer every complete head; keep a partial one for later. */
		size_t start = 0;
		for (;;) {
			char *end = memmem(c->in + start, c->in_len - start, "\r\n\r\n", 4);
			if (!end)
				break;
			size_t head_len = (size_t)(end - (c->in + start)) + 4;
			c->pending++;
			start += head_len;
			if (fl_has_close(end - (head_len - 4), head_len)) {
				c->close_after = 1;
				c->in_len = start;	/* what follows a close is ignored */
				break;
			}
		}
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
		if (c->in_len == sizeof(c->in)) {	/* a head that never ends */
			fl_drop(loop, fd, c);
			return;
		}
		if (c->pending) {
			fl_flush(loop, fd, c);
			return;
		}
		if ((size_t)n < space) {	/* most likely empty: save a read */
			if (ae_set(loop, fd, AE_READABLE, fl_on_conn, c) < 0)
				fl_drop(loop, fd, c);
			return;
		}
	}
}

static void fl_on_accept(struct ae_loop *loop, int lfd, void *data, int mask)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* EAGAIN: drained; EMFILE and the like: the backlog
			 * keeps the rest until a connection closes. */
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				perror("floor: accept4");
			return;
		}
		struct fl_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		/* TCP_DEFER_ACCEPT: the request is most likely here, so read
		 * it at once; the socket joins epoll only when it has to wait
		 * (a Connection: close exchange never does). */
		fl_on_conn(loop, fd, c, AE_READABLE);
	}
}

static void fl_usage(FILE *f)
{
	fprintf(f,
		"usage: floor [--addr ADDR] [--port N] [--body-bytes N]\n"
		"Answer every HTTP request head with one fixed response and no parsing:\n"
		"the lower bound of a web server's CPU time per request on loopback.\n\n"
		"  --addr ADDR        IPv4 address to listen on (default 127.0.0.1)\n"
		"  --port N           port; 0 picks a free one (default 0)\n"
		"  --body-bytes N     response body size (default 1024)\n"
		"  -h, --help         this text\n\n"
		"A head with \"Connection: close\" is answered and the connection closed;\n"
		"others are kept alive.  Prints \"floor: listening on URL\" once ready.\n"
		"Exit status: 0 stopped by SIGTERM/SIGINT, 1 runtime error, 2 usage error.\n\n"
		"examples:\n"
		"  floor --port 8090\n"
		"  floor --port 0 --body-bytes 102400\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "body-bytes", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *addr = "127.0.0.1";
	unsigned long port = 0, body_bytes = 1024;
	struct ae_loop *loop = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	struct rlimit rl;
	char *end;
	int opt, err = 1;
	const int one = 1;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			errno = 0;
			port = strtoul(optarg, &end, 10);
			if (errno || *end || port > 65535) {
				fprintf(stderr, "floor: bad --port '%s'\n", optarg);
				return 2;
			}
			break;
		case 'b':
			errno = 0;
			body_bytes = strtoul(optarg, &end, 10);
			if (errno || *end || *optarg == '-' || body_bytes > FL_MAX_BODY_BYTES) {
				fprintf(stderr, "floor: bad --body-bytes '%s' (0..%u)\n", optarg,
					FL_MAX_BODY_BYTES);
				return 2;
			}
			break;
		case 'h':
			fl_usage(stdout);
			return 0;
		default:
			fl_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		if (optind == argc)
			fprintf(stderr, "floor: bad --addr '%s' (IPv4 only)\n", addr);
		fl_usage(stderr);
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);

	/* Idle-connection benches hold thousands of connections: take the
	 * hard fd limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		perror("floor: getrlimit");
		goto cleanup;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sact = { .sa_handler = fl_on_signal };
	if (sigaction(SIGTERM, &sact, NULL) < 0 || sigaction(SIGINT, &sact, NULL) < 0) {
		perror("floor: sigaction");
		goto cleanup;
	}
	if (fl_build(&fl_keep, body_bytes, 0) < 0 || fl_build(&fl_close, body_bytes, 1) < 0) {
		fprintf(stderr, "floor: out of memory\n");
		goto cleanup;
	}
	loop = ae_create(rl.rlim_cur > 1u << 20 ? 1 << 20 : (int)rl.rlim_cur);
	if (!loop) {
		perror("floor: ae_create");
		goto cleanup;
	}
	fl_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fl_listen_fd < 0 ||
	    setsockopt(fl_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    /* accepted sockets inherit it: no setsockopt per connection */
	    setsockopt(fl_listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    /* wake up only when a request has arrived (1 s at most) */
	    setsockopt(fl_listen_fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one)) < 0 ||
	    bind(fl_listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fl_listen_fd, 4096) < 0 ||
	    getsockname(fl_listen_fd, (struct sockaddr *)&sa, &salen) < 0 ||
	    ae_set(loop, fl_listen_fd, AE_READABLE, fl_on_accept, NULL) < 0) {
		fprintf(stderr, "floor: listen on %s:%lu: %s\n", addr, port, strerror(errno));
		goto cleanup;
	}
	printf("floor: listening on http://%s:%u/ (body %lu bytes)\n", addr, ntohs(sa.sin_port),
	       body_bytes);
	fflush(stdout);
	while (!fl_exiting) {
		if (ae_poll(loop, -1) < 0) {
			perror("floor: epoll_wait");
			goto cleanup;
		}
	}
	err = 0;
cleanup:
	/* Connections still open are closed by exit. */
	if (fl_listen_fd >= 0)
		close(fl_listen_fd);
	ae_destroy(loop);
	free(fl_keep.buf);
	free(fl_close.buf);
	return err;
}
