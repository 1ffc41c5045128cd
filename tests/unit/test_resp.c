/* test_resp — unit tests for user/amped/resp.c: statuses, header bytes and
 * body plans for real cache entries (fcache.c over a real file), with no
 * server and no socket.  Each answer is checked whole: status line, the
 * fields that must (and must not) be there, the Connection field, that
 * Content-Length matches the body, and the plan's byte range. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fcache.h"
#include "http.h"
#include "proc.h"
#include "resp.h"
#include "tap.h"
#include "work.h"

#define FILE_BYTES 1000

static char buf[8192];
static struct resp_plan plan;

static size_t entry(struct fentry *e, const struct resp_req *rq)
{
	memset(buf, 0, sizeof(buf));
	size_t n = resp_entry(buf, 1024, e, rq, &plan);
	ok(n <= 1024 && n == plan.head_len && n == strlen(buf),
	   "  head fits, head_len %zu is what was written", n);
	return n;
}

static int has(const char *field)
{
	return strstr(buf, field) != NULL;
}

static int ends_with(const char *tail)
{
	size_t n = strlen(buf), t = strlen(tail);
	return n >= t && memcmp(buf + n - t, tail, t) == 0;
}

/* A status page's Content-Length matches the bytes after the head. */
static int length_matches(void)
{
	const char *cl = strstr(buf, "Content-Length: ");
	const char *end = strstr(buf, "\r\n\r\n");
	if (!cl || !end)
		return 0;
	return (size_t)atoi(cl + 16) == strlen(end + 4);
}

static struct fentry *file_entry(const char *dir, const char *name, size_t bytes)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name + 1);
	FILE *f = fopen(path, "w");
	for (size_t i = 0; f && i < bytes; i++)
		fputc('a' + (int)(i % 26), f);
	if (f)
		fclose(f);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		exit(1);
	}
	struct fentry *e = fc_begin(name, strlen(name));
	fc_complete(e, 0, OPEN_FILE, fd, &st);
	return e;
}

int main(void)
{
	char dir[] = "/tmp/test_resp.XXXXXX";
	struct resp_req rq;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	cfg.residency = RES_NONE;
	clock_refresh();
	fc_init();
	struct fentry *e = file_entry(dir, "/a.txt", FILE_BYTES);
	struct fentry *empty = file_entry(dir, "/empty.txt", 0);
	ok(e->kind == FE_FILE && e->size == FILE_BYTES && e->etag_len > 2, "a real entry for a 1000-byte file");

	/* 200 */
	memset(&rq, 0, sizeof(rq));
	rq.keepalive = true;
	entry(e, &rq);
	ok(plan.status == 200 && !strncmp(buf, "HTTP/1.1 200 OK\r\n", 17), "GET -> 200");
	ok(has("Content-Length: 1000\r\n") && has("Content-Type: text/plain") &&
	   has("ETag: ") && has("Last-Modified: ") && has("Accept-Ranges: bytes\r\n") &&
	   has("Server: amped\r\nDate: "), "200 carries length, type, validators, Date");
	ok(ends_with("Connection: keep-alive\r\n\r\n") && plan.keepalive, "200 keeps the connection");
	ok(plan.file_first == 0 && plan.file_len == FILE_BYTES && plan.body_bytes == FILE_BYTES,
	   "200 plans the whole file as body");

	rq.keepalive = false;
	entry(e, &rq);
	ok(ends_with("Connection: close\r\n\r\n") && !plan.keepalive, "keep-alive off -> Connection: close");
	rq.keepalive = true;

	rq.head_only = true;
	entry(e, &rq);
	ok(plan.status == 200 && has("Content-Length: 1000\r\n") && plan.file_len == 0 &&
	   plan.body_bytes == 0, "HEAD -> 200 head with the length, no body");
	rq.head_only = false;

	memset(&rq, 0, sizeof(rq));
	rq.keepalive = true;
	entry(empty, &rq);
	ok(plan.status == 200 && has("Content-Length: 0\r\n") && plan.file_len == 0,
	   "empty file -> 200, Content-Length 0, no body");

	/* preconditions: If-None-Match before If-Modified-Since */
	char inm[80], future[40], past[40];
	snprintf(inm, sizeof(inm), "%s", e->etag);
	hp_format_http_date(e->mtime.tv_sec + 86400, future);
	hp_format_http_date(e->mtime.tv_sec - 86400, past);
	rq.cond.if_none_match = inm;
	rq.cond.if_none_match_len = strlen(inm);
	entry(e, &rq);
	ok(plan.status == 304 && !strncmp(buf, "HTTP/1.1 304 Not Modified\r\n", 27),
	   "If-None-Match: its ETag -> 304");
	ok(!has("Content-Length") && has("ETag: ") && has("Last-Modified: ") &&
	   plan.file_len == 0 && plan.body_bytes == 0 && plan.keepalive, "304: validators, no body, kept open");
	ok(resp_preconditions(e, &rq) == 304, "resp_preconditions says 304 too");
	rq.cond.if_none_match = "\"other\"";
	rq.cond.if_none_match_len = 7;
	rq.cond.if_modified_since = future;
	rq.cond.if_modified_since_len = strlen(future);
	entry(e, &rq);
	ok(plan.status == 200, "If-None-Match fails -> 200 even though If-Modified-Since would 304");
	rq.cond.if_none_match = NULL;
	entry(e, &rq);
	ok(plan.status == 304, "If-Modified-Since after the mtime -> 304");
	rq.cond.if_modified_since = e->lastmod;
	rq.cond.if_modified_since_len = strlen(e->lastmod);
	entry(e, &rq);
	ok(plan.status == 304, "If-Modified-Since equal to Last-Modified -> 304");
	rq.cond.if_modified_since = past;
	rq.cond.if_modified_since_len = strlen(past);
	entry(e, &rq);
	ok(plan.status == 200, "If-Modified-Since before the mtime -> 200");
	rq.cond.if_modified_since = "yesterday";
	rq.cond.if_modified_since_len = 9;
	entry(e, &rq);
	ok(plan.status == 200, "If-Modified-Since unparsable -> ignored, 200");
	rq.cond.if_modified_since = NULL;

	/* ranges */
	rq.range = "bytes=0-9";
	rq.range_len = 9;
	entry(e, &rq);
	ok(plan.status == 206 && !strncmp(buf, "HTTP/1.1 206 Partial Content\r\n", 30) &&
	   has("Content-Range: bytes 0-9/1000\r\n") && has("Content-Length: 10\r\n"),
	   "Range 0-9 -> 206 with Content-Range and Content-Length 10");
	ok(plan.file_first == 0 && plan.file_len == 10 && plan.body_bytes == 10, "206 plans bytes 0-9");
	rq.range = "bytes=-10";
	rq.range_len = 9;
	entry(e, &rq);
	ok(plan.status == 206 && has("Content-Range: bytes 990-999/1000\r\n") &&
	   plan.file_first == 990 && plan.file_len == 10, "suffix range -10 -> bytes 990-999");
	rq.range = "bytes=2000-";
	rq.range_len = 11;
	entry(e, &rq);
	ok(plan.status == 416 && has("Content-Range: bytes */1000\r\n") && plan.keepalive &&
	   plan.file_len == 0 && length_matches(), "unsatisfiable range -> 416 with */size, kept open");
	struct hp_ranges set;
	ok(resp_range(e, &rq, &set) == 416, "resp_range says 416 too");

	rq.range = "bytes=0-9";
	rq.range_len = 9;
	rq.cond.if_none_match = inm;
	rq.cond.if_none_match_len = strlen(inm);
	entry(e, &rq);
	ok(plan.status == 304, "Range with a matching If-None-Match -> 304 (preconditions first)");
	rq.cond.if_none_match = NULL;

	rq.cond.if_range = inm;
	rq.cond.if_range_len = strlen(inm);
	entry(e, &rq);
	ok(plan.status == 206, "If-Range: its ETag -> 206");
	rq.cond.if_range = "\"other\"";
	rq.cond.if_range_len = 7;
	entry(e, &rq);
	ok(plan.status == 200 && plan.file_len == FILE_BYTES, "If-Range: another ETag -> the whole file, 200");
	char weak[90];
	snprintf(weak, sizeof(weak), "W/%s", e->etag);
	rq.cond.if_range = weak;
	rq.cond.if_range_len = strlen(weak);
	entry(e, &rq);
	ok(plan.status == 200, "If-Range: a weak ETag never matches (strong comparison) -> 200");
	rq.cond.if_range = e->lastmod;
	rq.cond.if_range_len = strlen(e->lastmod);
	entry(e, &rq);
	ok(plan.status == 206, "If-Range: the Last-Modified date (%.3s) -> 206", e->lastmod);
	rq.cond.if_range = "Wed, 21 Oct 2015 07:28:00 GMT";
	rq.cond.if_range_len = strlen(rq.cond.if_range);
	ok(resp_preconditions(e, &rq) == 200,
	   "If-Range: a date on a Wednesday is a date (not a weak ETag) and does not match -> 200");
	rq.cond.if_range = past;
	rq.cond.if_range_len = strlen(past);
	entry(e, &rq);
	ok(plan.status == 200, "If-Range: another date -> 200");
	memset(&rq, 0, sizeof(rq));
	rq.keepalive = true;

	/* 412: If-Match, If-Unmodified-Since, before everything else */
	rq.cond.if_match = "\"other\"";
	rq.cond.if_match_len = 7;
	entry(e, &rq);
	ok(plan.status == 412 && !strncmp(buf, "HTTP/1.1 412 Precondition Failed\r\n", 34) &&
	   plan.keepalive && length_matches() && plan.file_len == 0,
	   "If-Match: another ETag -> 412 page, kept open, no file body");
	rq.cond.if_none_match = inm;
	rq.cond.if_none_match_len = strlen(inm);
	rq.range = "bytes=0-9";
	rq.range_len = 9;
	entry(e, &rq);
	ok(plan.status == 412, "a failing If-Match wins over a matching If-None-Match and a Range");
	rq.cond.if_match = inm;
	rq.cond.if_match_len = strlen(inm);
	entry(e, &rq);
	ok(plan.status == 304, "If-Match passes: If-None-Match then decides (304)");
	rq.cond.if_none_match = NULL;
	entry(e, &rq);
	ok(plan.status == 206, "If-Match passes, no If-None-Match: the Range (206)");
	rq.cond.if_match = NULL;
	rq.cond.if_unmodified_since = past;
	rq.cond.if_unmodified_since_len = strlen(past);
	entry(e, &rq);
	ok(plan.status == 412 && resp_preconditions(e, &rq) == 412,
	   "If-Unmodified-Since before the mtime -> 412");
	rq.cond.if_unmodified_since = future;
	rq.cond.if_unmodified_since_len = strlen(future);
	entry(e, &rq);
	ok(plan.status == 206, "If-Unmodified-Since after the mtime -> the Range goes on (206)");
	memset(&rq, 0, sizeof(rq));
	rq.keepalive = true;

	/* several ranges: multipart/byteranges */
	rq.range = "bytes=0-9,500-509,-5";
	rq.range_len = strlen(rq.range);
	rq.boundary_seed = 0x1234;
	size_t hn = entry(e, &rq);
	ok(plan.status == 206 && has("Content-Type: multipart/byteranges; boundary=amped0000000000001234\r\n") &&
	   !has("Content-Range: bytes 0-9/1000\r\nLast") && plan.parts.set.n == 3,
	   "three ranges -> 206 multipart/byteranges with the boundary from the seed, 3 parts");
	ok(ends_with("\r\n\r\n--amped0000000000001234\r\nContent-Type: text/plain\r\n"
		     "Content-Range: bytes 0-9/1000\r\n\r\n") && plan.file_first == 0 && plan.file_len == 10,
	   "the head ends with part 0's header; the plan's file range is part 0");
	{
		/* the whole body, assembled as conn.c sends it, matches
		 * Content-Length and holds each part's bytes */
		static char body[4096];
		char part[256];
		size_t bl = hn - (size_t)(strstr(buf, "\r\n\r\n") + 4 - buf);
		uint64_t f0 = plan.file_first, l0 = plan.file_len;
		memcpy(body, strstr(buf, "\r\n\r\n") + 4, bl);
		int fd = e->fd, good = 1;
		for (unsigned k = 1; k <= plan.parts.set.n; k++) {
			good &= pread(fd, body + bl, l0, (off_t)f0) == (ssize_t)l0;
			bl += l0;
			size_t pn = resp_part(part, sizeof(part), e, &plan.parts, k, &f0, &l0);
			good &= pn < sizeof(part);
			memcpy(body + bl, part, pn);
			bl += pn;
		}
		body[bl] = '\0';
		const char *cl = strstr(buf, "Content-Length: ");
		ok(good && cl && (size_t)atoll(cl + 16) == bl && plan.body_bytes == bl && l0 == 0,
		   "Content-Length %zu = part headers + parts + closing delimiter", bl);
		ok(strstr(body, "Content-Range: bytes 500-509/1000\r\n\r\nghijklmnop\r\n--amped") &&
		   strstr(body, "Content-Range: bytes 995-999/1000\r\n\r\nhijkl\r\n--amped0000000000001234--\r\n"),
		   "later parts carry their bytes; the body ends with the closing delimiter");
	}
	rq.head_only = true;
	entry(e, &rq);
	ok(plan.status == 206 && has("multipart/byteranges") && ends_with("Connection: keep-alive\r\n\r\n") &&
	   plan.file_len == 0 && plan.parts.set.n == 0, "HEAD with several ranges: the head only, no parts planned");
	rq.head_only = false;
	rq.range = "bytes=0-9,5-20";
	rq.range_len = strlen(rq.range);
	entry(e, &rq);
	ok(plan.status == 206 && has("Content-Range: bytes 0-20/1000\r\n") && plan.parts.set.n == 0 &&
	   plan.file_len == 21, "overlapping ranges coalesce -> a plain 206");
	memset(&rq, 0, sizeof(rq));
	rq.keepalive = true;

	/* redirects and translation errors */
	struct fentry *d = fc_begin("/a dir", 6);
	fc_complete(d, 0, OPEN_REDIRECT, -1, NULL);
	rq.key = "/a dir";
	rq.key_len = 6;
	entry(d, &rq);
	ok(plan.status == 301 && has("Location: /a%20dir/\r\n") && plan.keepalive && length_matches(),
	   "directory without its slash -> 301 to the percent-encoded path + /");
	static const struct { int err, status; bool keep; } errs[] = {
		{ ENOENT, 404, true }, { ENOTDIR, 404, true }, { EACCES, 403, true },
		{ EXDEV, 403, true }, { ELOOP, 403, true }, { EISDIR, 403, true },
		{ ENAMETOOLONG, 414, false }, { EAGAIN, 503, false }, { EMFILE, 503, false },
		{ EIO, 500, false },
	};
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		struct fentry x = { .kind = FE_ERROR, .err = errs[i].err };
		entry(&x, &rq);
		ok(plan.status == errs[i].status && plan.keepalive == errs[i].keep &&
		   has(errs[i].keep ? "Connection: keep-alive\r\n" : "Connection: close\r\n") &&
		   ends_with("</html>\n") &&
		   length_matches() && plan.body_bytes > 0,
		   "%s -> %d, %s, Content-Length matches its page", strerror(errs[i].err),
		   errs[i].status, errs[i].keep ? "kept open" : "closed");
	}

	/* status pages: sizes and HEAD */
	size_t need = resp_simple(buf, 16, 404, NULL, &rq, &plan);
	ok(need > 16 && need == plan.head_len, "a buffer too small: the bytes needed (%zu) come back", need);
	size_t again = resp_simple(buf, need, 404, NULL, &rq, &plan);
	buf[again] = '\0';
	ok(again == need && length_matches() && ends_with("</html>\n"), "with that many bytes it fits exactly");
	rq.head_only = true;
	need = resp_simple(buf, sizeof(buf), 405, "Allow: GET, HEAD\r\n", &rq, &plan);
	buf[need] = '\0';
	ok(plan.status == 405 && has("Allow: GET, HEAD\r\n") && has("Content-Length: ") &&
	   ends_with("Connection: close\r\n\r\n") && plan.body_bytes == 0, "HEAD 405: head only, extra field, closed");
	rq.head_only = false;
	char key[3001];
	memset(key, 0xe9, 3000);
	key[0] = '/';
	key[3000] = '\0';
	rq.key = key;
	rq.key_len = 3000;
	need = resp_entry(buf, 1024, d, &rq, &plan);
	ok(need > 1024, "a 301 with a 9 KB Location needs more than 1 KiB (%zu)", need);
	char *big = malloc(need + 1);
	size_t got = resp_entry(big, need, d, &rq, &plan);
	big[got] = '\0';
	ok(got == need && strstr(big, "Location: /%E9%E9") && plan.status == 301, "and fits in what it asked for");
	free(big);

	ok(resp_status_from_errno(EPERM) == 403 && resp_status_from_errno(ENOMEM) == 503 &&
	   resp_status_from_errno(0x7fff) == 500, "errno -> status in one place");
	ok(!strcmp(resp_reason(413), "Content Too Large") && !strcmp(resp_reason(999), "Internal Server Error"),
	   "reason phrases");

	fc_put(d);
	fc_put(e);
	fc_put(empty);
	fc_flush_all();
	char path[512];
	snprintf(path, sizeof(path), "%s/a.txt", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/empty.txt", dir);
	unlink(path);
	rmdir(dir);
	return done_testing();
}
