/* amped_names — the names amped gives its threads and processes
 * (prctl(PR_SET_NAME), so /proc/PID/task/TID/comm and a task's comm in BPF).
 *
 * Tracers tell roles apart by these names: ampstat's role table, the
 * dispatcher filter of bpf/blocked.bpf.c.  Plain string macros, so that
 * this header is usable from userspace C and from BPF C alike.  A name is at
 * most 15 bytes (TASK_COMM_LEN - 1); the numbered ones are PREFIX + N.
 *
 *   AMPED_COMM_DISP    an event-driven dispatcher (amped, amted, sped, uring,
 *                      each symped process)
 *   AMPED_COMM_DISP_N  dispatcher N of several in one process (amped, amted,
 *                      sped, uring with --dispatchers 2 or more):
 *                      "amped-disp-N", N from 0; its slot of amped_current
 *                      is N (include/amped_usdt.h)
 *   AMPED_COMM_HELP    helper process or thread N (amped, amted): "amped-help-N";
 *                      with several dispatchers, dispatcher D's helper K is
 *                      number D * --helpers + K
 *   AMPED_COMM_MAIN    the supervising parent of symped and mp
 *   AMPED_COMM_BOSS    mt's accepting thread
 *   AMPED_COMM_WORK    blocking worker N (mp process, mt thread): "amped-work-N"
 *   AMPED_COMM_ULT     ult's one kernel thread: the scheduler and every
 *                      user-level thread run in it.  It plays the dispatcher's
 *                      part (waits for events, runs the handlers), so it
 *                      carries the dispatcher's name and every tracer treats
 *                      it as one; its helpers are AMPED_COMM_HELP threads.
 *   AMPED_COMM_STAGE   a thread of seda stage S, number N: "amped-s-S-N",
 *                      S one of the AMPED_STAGE_* below (short: a comm holds
 *                      15 bytes, "amped-s-file-99" fills it)
 */
#ifndef AMPED_NAMES_H
#define AMPED_NAMES_H

#define AMPED_COMM_DISP "amped-disp"
#define AMPED_COMM_DISP_N AMPED_COMM_DISP "-"
#define AMPED_COMM_HELP "amped-help-"
#define AMPED_COMM_MAIN "amped-main"
#define AMPED_COMM_BOSS "amped-boss"
#define AMPED_COMM_WORK "amped-work-"
#define AMPED_COMM_ULT  AMPED_COMM_DISP
#define AMPED_COMM_STAGE "amped-s-"
#define AMPED_STAGE_ACCEPT "acc"	/* accepts, queues for http */
#define AMPED_STAGE_HTTP   "http"	/* reads, parses, responds, sends */
#define AMPED_STAGE_FILE   "file"	/* path lookup (open/stat), cold reads */

#endif
