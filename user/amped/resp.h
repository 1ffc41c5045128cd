/* resp — what to answer to a request, decided and written out without any
 * I/O: the status (conditionals, ranges, errors, redirects), the header
 * bytes, and a plan for the body.  conn.c does the I/O: it reads the
 * request into a struct resp_req, calls resp_entry() or resp_simple(), and
 * writes what they produced.
 *
 * The order of evaluation follows RFC 9110 §13.2.2: preconditions first
 * (resp_preconditions(): If-Match, else If-Unmodified-Since -> 412;
 * If-None-Match, else If-Modified-Since -> 304; If-Range), then Range
 * (resp_range(): one range, or several as multipart/byteranges, with the
 * bound and coalescing of http.h).  New conditionals and range forms
 * belong in those two functions and in struct resp_plan. */
#ifndef AMPED_RESP_H
#define AMPED_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "http.h"

struct fentry;

/* The parts of a request a response depends on (pointers into the
 * request's buffer; NULL: the field was absent). */
struct resp_req {
	bool head_only;			/* HEAD: header only */
	bool keepalive;			/* the connection may stay open */
	const char *key;		/* "/" + decoded path: 301's Location */
	size_t key_len;
	const char *range;
	size_t range_len;
	struct hp_conditions cond;	/* If-Match, If-None-Match, ... */
	uint64_t boundary_seed;		/* a multipart boundary is made from it:
					   unpredictable, different per request */
};

/* The parts of a multipart/byteranges body. */
struct resp_parts {
	struct hp_ranges set;		/* set.n > 1 when the body is multipart */
	char boundary[HP_BOUNDARY_BYTES];
};

/* What was decided. */
struct resp_plan {
	int status;
	bool keepalive;			/* may be false when the request's was true */
	size_t head_len;		/* bytes written to the buffer: head, and the
					   body of a status page */
	uint64_t body_bytes;		/* body bytes the response carries (log) */
	/* a file body: bytes [file_first, file_first + file_len) of the
	 * entry, sent after the buffer; file_len 0: none */
	uint64_t file_first, file_len;
	/* multipart (parts.set.n > 1): the buffer ends with part 0's header
	 * and [file_first, +file_len) is part 0's bytes; resp_part() gives
	 * what comes before each later part, and the end.  HEAD: no body,
	 * no part header, parts.set.n 0. */
	struct resp_parts parts;
};

/* A status page for status (HTML body unless HEAD or 304), extra header
 * lines ("Name: value\r\n"...) or NULL.  Statuses that leave the request
 * stream in doubt turn keep-alive off.  Writes into buf and returns the
 * bytes needed: if that is more than size, nothing usable was written and
 * the caller calls again with a buffer that large. */
size_t resp_simple(char *buf, size_t size, int status, const char *extra,
		   const struct resp_req *rq, struct resp_plan *p);

/* The answer to rq for entry e (translated: FE_FILE, FE_REDIRECT or
 * FE_ERROR): 301, 4xx/5xx from the translation's errno, 304, 416, 206 or
 * 200.  The header of a 200/206 must fit in size (else the answer is a
 * 500); a status page may not, as resp_simple().  Returns the bytes
 * needed, as resp_simple(). */
size_t resp_entry(char *buf, size_t size, struct fentry *e,
		  const struct resp_req *rq, struct resp_plan *p);

/* The bytes before part k (0-based) of a multipart body: its header, with
 * [*first, *first + *len) set to its bytes; for k == mp->set.n, the closing
 * delimiter, *len 0.  Returns their length; they were written whole if
 * that is less than size (snprintf's rule).  256 bytes always hold them. */
size_t resp_part(char *buf, size_t size, const struct fentry *e,
		 const struct resp_parts *mp, unsigned k, uint64_t *first,
		 uint64_t *len);

/* The preconditions (RFC 9110 §13.2.2 steps 1-5): 0 go on (a Range
 * applies); 200 serve it all (If-Range did not match); 304; 412. */
int resp_preconditions(const struct fentry *e, const struct resp_req *rq);
/* Range against e: 200 (serve it all: no Range, or one that is ignored:
 * malformed, other unit, too many), 206 with set (one range or several),
 * or 416. */
int resp_range(const struct fentry *e, const struct resp_req *rq,
	       struct hp_ranges *set);

/* errno -> HTTP status, in one place. */
int resp_status_from_errno(int err);
const char *resp_reason(int status);

#endif
