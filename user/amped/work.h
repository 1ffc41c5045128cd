/* work — the blocking work itself: translating a path to an open file
 * beneath the root, and reading a file's pages into the page cache.  Where
 * it runs (helper process, helper thread, inline) is blk.h's business;
 * io_uring does the same steps as operations (blk_uring.c). */
#ifndef AMPED_WORK_H
#define AMPED_WORK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define AMPED_PATH_MAX 4096	/* longest decoded path, NUL included */

/* Result kinds of an OPEN */
#define OPEN_FILE      1
#define OPEN_REDIRECT  2	/* a directory named without a trailing slash */
#define OPEN_NOINDEX   3	/* a directory without index.html */

/* 0 when openat2(RESOLVE_BENEATH) works on root_fd, else -errno. */
int path_confinement_check(int root_fd);
/* key ("/" + decoded path [+ "/"]) -> path relative to the root in rel
 * ("." for the root); *trailing set if the request named a directory.
 * 0 ok, -1 (ENAMETOOLONG) if rel cannot hold it. */
int job_rel_path(const char *key, char *rel, size_t size, int *trailing);
/* Translate key beneath root_fd.  *err 0 or an errno; *kind OPEN_*; *fd
 * the open file (OPEN_FILE only, else -1), *st its stat. */
void job_run_open(const char *key, int *err, int *kind, int *fd, struct stat *st);
/* Read [off, off + len) of fd so its pages are resident.  0 or an errno. */
int job_run_read(int fd, uint64_t off, uint64_t len);

#endif
