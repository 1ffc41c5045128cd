/* fcache — Flash's caches, per dispatcher (per thread in MT): the path
 * cache (request path -> translation), the open-file cache (fd, residency
 * mapping, small-file bytes) and the header cache (a 200's fields). */
#ifndef AMPED_FCACHE_H
#define AMPED_FCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

enum fe_kind { FE_PENDING, FE_FILE, FE_REDIRECT, FE_ERROR };

struct conn;

struct fentry {
	char *key;			/* "/" + decoded path (+ "/" if the target had one) */
	size_t key_len;
	uint32_t hash;
	struct fentry *hnext;
	struct fentry *lru_prev, *lru_next;
	bool in_hash;
	int refs;			/* connections using it + 1 while in the cache */
	enum fe_kind kind;
	int err;			/* FE_ERROR: errno of the translation */
	int fd;				/* -1 if not open */
	void *map;			/* whole-file PROT_READ mapping for mincore; never touched */
	uint64_t size;
	struct timespec mtime;
	ino_t ino;
	uint64_t validated_ms;
	char *body;			/* copy of a small file, once its pages were resident */
	char etag[64];
	size_t etag_len;
	char lastmod[32];
	const char *ctype;
	char *hdr;			/* cached header fields for a 200 (header cache) */
	size_t hdr_len;
	struct conn *waiters;		/* connections waiting for FE_PENDING to finish */
};

#define SMALL_BODY_MAX (16 * 1024)

/* This thread's caches, sized by cfg.cache_entries; exits on ENOMEM. */
void fc_init(void);
/* Find a usable entry for key.  Returns it with a reference taken, or NULL
 * if translation is needed (then call fc_begin to create a pending one). */
struct fentry *fc_lookup(const char *key, size_t key_len);
struct fentry *fc_begin(const char *key, size_t key_len);	/* ref taken; NULL on ENOMEM */
/* A translation finished: fill e from an open result (fd owned by e now). */
void fc_complete(struct fentry *e, int err, int kind, int fd, const struct stat *st);
void fc_put(struct fentry *e);		/* drop a reference; accepts NULL */
/* Header fields of a 200 for e (Content-Type .. Accept-Ranges), cached or
 * built into buf.  Returns length (0 if buf is too small). */
size_t fc_header_fields(struct fentry *e, char *buf, size_t size, const char **out);
void fc_flush_all(void);		/* drop every entry (exit) */

#endif
