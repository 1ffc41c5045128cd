/* roles — which role a thread plays, from its name.
 *
 * Built-in roles follow amped's thread names (prctl PR_SET_NAME):
 * amped-disp -> dispatcher, amped-help-N -> helpers, amped-work-N -> workers,
 * amped-boss -> boss, iou-wrk-N -> iou-wrk (io_uring's workers); anything
 * else -> other.  roles_add("NAME=REGEX") adds a role for another server;
 * added roles are matched first, in the order given.
 *
 *   roles_add(spec)     0, or -EINVAL (bad spec or regex; message on stderr),
 *                       -ENOSPC (too many roles).
 *   roles_of(comm)      the role index of a thread name, 0 <= i < roles_count().
 *   roles_name(i)       its name.
 *   roles_free()        frees the compiled patterns.
 */
#ifndef AMPSTAT_ROLES_H
#define AMPSTAT_ROLES_H

#define ROLES_MAX 32

int roles_add(const char *spec);
int roles_of(const char *comm);
int roles_count(void);
const char *roles_name(int i);
void roles_free(void);

#endif
