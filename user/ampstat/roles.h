/* roles — which role a thread plays.
 *
 * A role is a name and one or more rules; a thread takes the role of the
 * first rule it matches, in this order: the --role rules as given, the
 * built-in profile of the target's server (roles_target), amped's
 * built-in names, and last "other".
 *
 * amped's built-ins follow its thread names (prctl PR_SET_NAME,
 * include/amped_names.h), model by model:
 *   amped, amted, sped, uring   amped-disp -> dispatcher, amped-help-N ->
 *                               helpers, iou-wrk-N -> iou-wrk (io_uring's)
 *   symped                      amped-main -> supervisor (the parent), each
 *                               process's amped-disp -> dispatcher
 *   mp, mt                      amped-main -> supervisor (mp), amped-boss ->
 *                               boss (mt's accepting thread), amped-work-N
 *                               -> workers
 *   hybrid                      amped-main -> supervisor; per process its
 *                               listener amped-boss -> boss and its pool's
 *                               amped-work-N -> workers
 *   ult                         the one kernel thread that runs the
 *                               scheduler and every user-level thread is
 *                               amped-disp -> dispatcher (it is the event
 *                               loop); its disk workers amped-help-N ->
 *                               helpers
 *   seda                        amped-s-STAGE-N -> stage-STAGE: stage-acc,
 *                               stage-http (event loops), stage-file
 *
 * Servers that do not name their threads need more than the name: every
 * thread of nginx is "nginx".  A rule (roles_add("NAME=PATTERN")) is
 *   REGEX            the thread name (comm) matches the extended regex
 *   comm:REGEX       the same, for a regex that starts with "word:"
 *   cmd:REGEX        the process title matches: /proc/PID/cmdline with
 *                    NULs as spaces ("nginx: worker process")
 *   exe:REGEX        the basename of the process's executable matches
 *   leader:[RULE]    the thread is its process's main thread (tid == pid)
 *                    and RULE, if given, matches
 *   thread:[RULE]    the thread is not its process's main thread, and RULE
 *                    matches (nginx's thread pool: thread:cmd:worker)
 * A text before the first ':' made only of a-z letters is a selector; an
 * unknown one is an error.  A NAME given twice takes threads matching
 * either rule.  Titles and executables are read from /proc when a thread's
 * process is first seen and again at most every 200 ms, and kept for a
 * process that has exited.
 *
 * Built-in profiles, chosen by the basename of the target's executable:
 *   nginx*     master       leader:cmd:^nginx: master process
 *              worker       leader:cmd:^nginx: worker process
 *              cache        leader:cmd:^nginx: cache (manager|loader)
 *              aio-threads  thread:exe:^nginx   (nginx makes threads only
 *                           for its thread pools: `aio threads`)
 *   lighttpd*  event-loop   leader:exe:^lighttpd
 *
 *   roles_add(spec)     0, or -EINVAL (bad spec, selector or regex; message
 *                       on stderr), -ENOSPC (too many rules or roles).
 *   roles_target(pid)   choose the profile for the server pid runs; call
 *                       before roles_count/roles_of.  Returns the profile's
 *                       name ("nginx", "lighttpd") or NULL for none.
 *   roles_of_task(tgid, tid, comm)
 *                       the role index of a thread, 0 <= i < roles_count().
 *   roles_of(comm)      the same knowing only the name (maps keyed by
 *                       comm): rules with leader:, thread:, cmd: or exe:
 *                       never match.
 *   roles_watch(tgids, n, now)
 *                       notes the role of every live thread of the
 *                       processes tgids[0..n) (/proc/PID/task), at most once
 *                       a second unless now: call it while tracing, so a
 *                       thread that exits before the report keeps the role
 *                       it had (maps keyed by tid), and with now just
 *                       before reading, as a worker's title may have
 *                       changed since.
 *   roles_of_thread(tgid, tid, comm)
 *                       the role roles_watch last noted for tid in tgid;
 *                       for a thread it never saw, roles_of_task (right
 *                       while the process lives or its title and
 *                       executable were read), or roles_of(comm) when
 *                       tgid <= 0.
 *   roles_sum_tid(rows, &n, tid, a, b)
 *                       adds a thread's two figures to the row of its role
 *                       (roles_of_thread, its comm read now from /proc;
 *                       gone and never watched: other) in rows[0..n), at
 *                       most ROLES_MAX rows; counts the thread in it.  For
 *                       sums kept in BPF maps keyed by tid.
 *   roles_name(i)       its name.
 *   roles_free()        frees the compiled patterns and forgets every rule,
 *                       the profile and the threads noted.
 */
#ifndef AMPSTAT_ROLES_H
#define AMPSTAT_ROLES_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define ROLES_MAX 32
#define ROLES_RULES_MAX 64

int roles_add(const char *spec);
const char *roles_target(pid_t pid);
int roles_of_task(pid_t tgid, pid_t tid, const char *comm);
int roles_of(const char *comm);
void roles_watch(const pid_t *tgids, int n, bool now);
int roles_of_thread(pid_t tgid, pid_t tid, const char *comm);
struct roles_sum {
	int role, threads;
	uint64_t a, b;
};
void roles_sum_tid(struct roles_sum *rows, int *n, pid_t tid, uint64_t a, uint64_t b);
int roles_count(void);
const char *roles_name(int i);
void roles_free(void);

#endif
