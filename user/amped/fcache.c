/* fcache — Flash's caches for the dispatcher.
 *
 * Path cache: key (decoded request path) -> translation result, valid for
 * cfg.cache_valid_ms, after which the next request translates again (like
 * lighttpd's stat cache: a file replaced on disk is seen within that time).
 * Open-file cache ("map cache"): an entry keeps its fd, a PROT_READ mapping
 * used only for mincore() residency checks (never dereferenced, so a file
 * truncated under us cannot SIGBUS the server), and for small files a copy
 * of the bytes once they were resident.  LRU-bounded by cfg.cache_entries.
 * Header cache: the header fields of the entry's 200 response. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fcache.h"
#include "proc.h"
#include "work.h"
#include "http.h"

/* Per thread: MT workers each keep their own caches (see README). */
static __thread struct fentry **buckets;
static __thread size_t nbuckets;
static __thread struct fentry lru;	/* sentinel: lru.lru_next is most recent */
static __thread int ncached;

static uint32_t hash_key(const char *s, size_t n)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

void fc_init(void)
{
	nbuckets = 64;
	while (nbuckets < (size_t)cfg.cache_entries * 2)
		nbuckets <<= 1;
	buckets = calloc(nbuckets, sizeof(*buckets));
	if (!buckets) {
		perror("amped: fcache");
		exit(1);
	}
	lru.lru_next = lru.lru_prev = &lru;
}

static void lru_unlink(struct fentry *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_front(struct fentry *e)
{
	e->lru_next = lru.lru_next;
	e->lru_prev = &lru;
	lru.lru_next->lru_prev = e;
	lru.lru_next = e;
}

static void drop_file(struct fentry *e)
{
	if (e->map)
		munmap(e->map, e->size);
	e->map = NULL;
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
	free(e->body);
	e->body = NULL;
}

static void unhash(struct fentry *e)
{
	struct fentry **pp;

	if (!e->in_hash)
		return;
	for (pp = &buckets[e->hash & (nbuckets - 1)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	e->in_hash = false;
	lru_unlink(e);
	ncached--;
	fc_put(e);			/* the cache's own reference */
}

void fc_put(struct fentry *e)
{
	if (!e)
		return;
	if (--e->refs > 0) {
		/* Without the map cache nothing stays open between requests:
		 * when only the cache's reference is left, let go of the file. */
		if (e->refs == 1 && e->in_hash && !cfg.map_cache)
			unhash(e);
		return;
	}
	drop_file(e);
	free(e->hdr);
	free(e->key);
	free(e);
}

struct fentry *fc_lookup(const char *key, size_t key_len)
{
	uint32_t h;
	struct fentry *e;

	if (!cfg.path_cache)
		return NULL;
	h = hash_key(key, key_len);
	for (e = buckets[h & (nbuckets - 1)]; e; e = e->hnext) {
		if (e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
			break;
	}
	if (!e)
		return NULL;
	if (e->kind != FE_PENDING && now_ms - e->validated_ms > (uint64_t)cfg.cache_valid_ms) {
		unhash(e);		/* stale: translate again */
		return NULL;
	}
	lru_unlink(e);
	lru_front(e);
	e->refs++;
	return e;
}

struct fentry *fc_begin(const char *key, size_t key_len)
{
	struct fentry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->key = malloc(key_len + 1);
	if (!e->key) {
		free(e);
		return NULL;
	}
	memcpy(e->key, key, key_len);
	e->key[key_len] = '\0';
	e->key_len = key_len;
	e->hash = hash_key(key, key_len);
	e->fd = -1;
	e->kind = FE_PENDING;
	e->refs = 1;			/* the caller's */
	if (cfg.path_cache) {
		struct fentry **b = &buckets[e->hash & (nbuckets - 1)];
		e->hnext = *b;
		*b = e;
		e->in_hash = true;
		e->refs++;		/* the cache's */
		lru_front(e);
		ncached++;
		/* Evict least recently used entries nobody is waiting on. */
		struct fentry *v = lru.lru_prev;
		while (ncached > cfg.cache_entries && v != &lru) {
			struct fentry *prev = v->lru_prev;
			if (v->kind != FE_PENDING)
				unhash(v);
			v = prev;
		}
	}
	return e;
}

/* Since Linux 5.2, mincore() and cachestat() tell page-cache state only to
 * a process that owns the file or may write it; for others mincore() says
 * "resident" for every page and cachestat() fails with EPERM.  The server
 * then cannot know when a read would block: say so once. */
static void warn_if_unobservable(const struct stat *st)
{
	static __thread bool warned;
	uid_t me = geteuid();

	if (warned || cfg.residency == RES_NONE || me == 0 || st->st_uid == me ||
	    (st->st_mode & S_IWOTH) || ((st->st_mode & S_IWGRP) && st->st_gid == getegid()))
		return;
	warned = true;
	fprintf(stderr, "amped: warning: the kernel hides the page-cache state of files this user "
		"neither owns nor may write; such files are treated as resident, so reads of cold "
		"data may block the dispatcher. Run as root or as the files' owner.\n");
}

void fc_complete(struct fentry *e, int err, int kind, int fd, const struct stat *st)
{
	e->validated_ms = now_ms;
	if (err || kind != OPEN_FILE) {
		if (fd >= 0)
			close(fd);
		e->kind = err ? FE_ERROR : kind == OPEN_REDIRECT ? FE_REDIRECT : FE_ERROR;
		e->err = err ? err : EISDIR;
		/* Failures are not cached: the next request tries again. */
		if (e->kind == FE_ERROR)
			unhash(e);
		return;
	}
	e->kind = FE_FILE;
	e->fd = fd;
	warn_if_unobservable(st);
	e->size = (uint64_t)st->st_size;
	e->mtime = st->st_mtim;
	e->ino = st->st_ino;
	if (cfg.residency == RES_MINCORE && e->size > 0) {
		e->map = mmap(NULL, e->size, PROT_READ, MAP_SHARED, fd, 0);
		if (e->map == MAP_FAILED)
			e->map = NULL;
	}
	e->etag_len = (size_t)snprintf(e->etag, sizeof(e->etag), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"",
				       (uint64_t)e->ino, e->size,
				       (uint64_t)st->st_mtim.tv_sec * UINT64_C(1000000000) + (uint64_t)st->st_mtim.tv_nsec);
	hp_format_http_date(st->st_mtim.tv_sec, e->lastmod);
	/* a key ending in '/' was served by its index.html */
	if (e->key[e->key_len - 1] == '/')
		e->ctype = hp_mime_type("index.html", 10);
	else
		e->ctype = hp_mime_type(e->key, e->key_len);
}

size_t fc_header_fields(struct fentry *e, char *buf, size_t size, const char **out)
{
	int n;

	if (e->hdr) {
		*out = e->hdr;
		return e->hdr_len;
	}
	n = snprintf(buf, size,
		     "Content-Type: %s\r\nContent-Length: %" PRIu64 "\r\n"
		     "Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n",
		     e->ctype, e->size, e->lastmod, e->etag);
	if (n < 0 || (size_t)n >= size)
		n = 0;
	*out = buf;
	if (cfg.header_cache && n > 0) {
		e->hdr = malloc((size_t)n);
		if (e->hdr) {
			memcpy(e->hdr, buf, (size_t)n);
			e->hdr_len = (size_t)n;
			*out = e->hdr;
		}
	}
	return (size_t)n;
}

void fc_flush_all(void)
{
	if (!buckets)		/* an early exit, before fc_init() */
		return;
	while (lru.lru_next != &lru)
		unhash(lru.lru_next);
	free(buckets);
	buckets = NULL;
}
