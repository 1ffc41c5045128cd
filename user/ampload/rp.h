/* rp — a resumable HTTP/1.x response parser for a load generator.
 *
 * Prefix rp_.  Bytes are fed as they arrive, in pieces of any size; only the
 * response head is copied (into the state, at most RP_HEAD_MAX bytes) —
 * body bytes are counted, never stored, since a load generator only needs
 * their number and where the response ends.  The end of the body comes from
 * Content-Length, chunked framing (RFC 9112 §7.1) or, lacking both, the
 * connection closing (§6.3).  1xx interim responses are skipped.
 *
 * rp_feed() returns:
 *   RP_MORE   every byte consumed, response not complete yet (not an error);
 *   RP_DONE   response complete; *used says how many bytes belong to it, the
 *             rest is the start of whatever comes next;
 *   RP_BAD    malformed or oversized head, or bad chunk framing. */
#ifndef AMPLOAD_RP_H
#define AMPLOAD_RP_H
#include <stddef.h>
#include <stdint.h>

#define RP_MORE 0
#define RP_DONE 1
#define RP_BAD  (-1)

#define RP_HEAD_MAX 4096

struct rp {
	int phase;		/* internal */
	int status;		/* valid once the head is parsed */
	int minor_version;
	int keep_alive;		/* 1 if the connection may carry another request */
	int no_body;		/* HEAD request: the head ends the response */
	int64_t content_length;	/* -1: none */
	int chunked;
	uint64_t body_bytes;	/* payload bytes (chunk framing excluded) */
	uint64_t chunk_left;
	int chunk_hex;		/* digits seen in the current size line */
	size_t head_len;
	char head[RP_HEAD_MAX];
};

/* Prepare for a response to a request; head_request: it was a HEAD. */
void rp_init(struct rp *p, int head_request);
int rp_feed(struct rp *p, const char *buf, size_t len, size_t *used);
/* The peer closed the connection.  RP_DONE if that ends a response
 * delimited by close; RP_BAD otherwise (a short body or head). */
int rp_eof(struct rp *p);
/* Has any byte of the current response arrived? */
int rp_started(const struct rp *p);

#endif
