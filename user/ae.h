/* ae — a small level-triggered event loop over epoll (one loop per thread).
 *
 * Callbacks have the shape (loop, fd, data, mask).  mask is a set of
 * AE_READABLE / AE_WRITABLE; an error or hang-up on the fd is reported as
 * both, so the callback finds out through its next read or write.
 * Return values: 0 done, -1 error with errno set. */
#ifndef AMPED_AE_H
#define AMPED_AE_H

#define AE_NONE     0
#define AE_READABLE 1
#define AE_WRITABLE 2

struct ae_loop;
typedef void ae_proc(struct ae_loop *loop, int fd, void *data, int mask);

/* setsize bounds the fds the loop can hold (fd < setsize).  NULL on error. */
struct ae_loop *ae_create(int setsize);
void ae_destroy(struct ae_loop *loop);	/* accepts NULL */

/* Watch fd for mask (replacing any previous mask and callback).  A mask of
 * AE_NONE removes the fd from epoll: even hang-ups are then not reported,
 * which is what a connection parked on a helper needs (no busy loop). */
int ae_set(struct ae_loop *loop, int fd, int mask, ae_proc *proc, void *data);
/* Forget fd (call before close()).  Never fails. */
void ae_del(struct ae_loop *loop, int fd);
/* Forget fd without telling epoll: for an fd about to be closed, whose
 * close() removes it from the epoll set anyway (saves a syscall per
 * connection).  Only valid if no other process holds a copy of the fd. */
void ae_forget(struct ae_loop *loop, int fd);
int ae_mask(const struct ae_loop *loop, int fd);

/* Wait up to timeout_ms (-1: forever) and run the callbacks of ready fds.
 * Returns the number of events handled, 0 on timeout or EINTR, -1 on error. */
int ae_poll(struct ae_loop *loop, int timeout_ms);
/* fn runs after every wait, before the callbacks of its events (a cached
 * clock is refreshed there). */
void ae_on_wake(struct ae_loop *loop, void (*fn)(void));

#endif
