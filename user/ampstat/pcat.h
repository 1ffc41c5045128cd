/* pcat — the categories of `ampstat profile` (as Pariag et al.'s Table 1
 * groups a server's CPU time) and the one table of rules that puts a
 * sample into one of them.
 *
 * A rule is a pattern and a category: a glob (fnmatch) on a frame's name
 * as --folded prints it ("tcp_sendmsg", "[libc.so.6]" for code no symbol
 * covers), or "exe:GLOB" on the basename of the file a user frame is
 * mapped from.  A sample's frames are tried from the leaf outwards, and at
 * each frame the rules in the order they were added; the first rule that
 * matches decides.  No match: PCAT_OTHER_USER for a sample taken in user
 * mode, PCAT_OTHER_KERNEL for one in the kernel.
 *
 *   pcat_new()              an empty table; NULL when out of memory.
 *   pcat_add(t, pat, cat)   appends a rule (pat copied).  0, or -EINVAL
 *                           (empty glob, bad category), -ENOSPC (more
 *                           than PCAT_RULES_MAX), -ENOMEM.
 *   pcat_read(t, path)      appends the rules of a file: "PATTERN CATEGORY"
 *                           lines, '#' comments, blank lines.  0, or -1
 *                           after a message naming the file and line.
 *   pcat_builtin(t)         appends the built-in table.  0 / -ENOSPC /
 *                           -ENOMEM.
 *   pcat_list(t, f)         writes the rules in their order, as pcat_read
 *                           reads them.
 *   pcat_match(t, frames, n, user, &decided)
 *                           the category of a sample whose n frames are
 *                           frames[0] (the leaf) .. frames[n-1]; decided:
 *                           the index of the frame that matched, or -1.
 *   pcat_of(name)           the category called name ("net"), or -1.
 *   pcat_free(t)            accepts NULL.
 *   pcat_id[c], pcat_title[c]  a category's short name and its title. */
#ifndef AMPSTAT_PCAT_H
#define AMPSTAT_PCAT_H
#include <stdbool.h>
#include <stdio.h>

enum pcat_cat {
	PCAT_NET, PCAT_EVENT, PCAT_SCHED, PCAT_FS, PCAT_COPY, PCAT_HTTP, PCAT_ULT, PCAT_MEM,
	PCAT_OTHER_USER, PCAT_OTHER_KERNEL, PCAT_N
};

#define PCAT_RULES_MAX 1024

struct pcat;

struct pcat_frame {
	const char *name;	/* as --folded prints it */
	const char *file;	/* a user frame's mapped file (basename), or NULL */
};

extern const char *const pcat_id[PCAT_N];
extern const char *const pcat_title[PCAT_N];

struct pcat *pcat_new(void);
int pcat_add(struct pcat *t, const char *pat, int cat);
int pcat_read(struct pcat *t, const char *path);
int pcat_builtin(struct pcat *t);
void pcat_list(const struct pcat *t, FILE *f);
int pcat_match(const struct pcat *t, const struct pcat_frame *frames, int n, bool user, int *decided);
int pcat_of(const char *name);
void pcat_free(struct pcat *t);

#endif
