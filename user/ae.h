/* ae — a small level-triggered event loop (one loop per thread) over
 * epoll, poll or select, chosen when the loop is created.
 *
 * Callbacks have the shape (loop, fd, data, mask).  mask is a set of
 * AE_READABLE / AE_WRITABLE; an error or hang-up on the fd is reported as
 * both, so the callback finds out through its next read or write.
 * Return values: 0 done, -1 error with errno set.
 *
 * The backends differ in cost, not behaviour: epoll pays per change of a
 * watch and per ready fd; poll and select hand the kernel the whole watch
 * list on every wait and scan it again afterwards, so each wait costs in
 * proportion to the fds watched, idle ones included.  select cannot hold
 * an fd >= FD_SETSIZE (1024): ae_fits() tells the caller before it tries. */
#ifndef AMPED_AE_H
#define AMPED_AE_H

#define AE_NONE     0
#define AE_READABLE 1
#define AE_WRITABLE 2

enum ae_poller { AE_EPOLL, AE_POLL, AE_SELECT };

struct ae_loop;
typedef void ae_proc(struct ae_loop *loop, int fd, void *data, int mask);

/* setsize bounds the fds the loop can hold (fd < setsize); select lowers
 * it to FD_SETSIZE.  NULL on error.  ae_create is ae_create_with(AE_EPOLL). */
struct ae_loop *ae_create(int setsize);
struct ae_loop *ae_create_with(int setsize, enum ae_poller poller);
void ae_destroy(struct ae_loop *loop);	/* accepts NULL */

/* "epoll", "poll", "select"; ae_poller_parse: 0 ok, -1 unknown name. */
const char *ae_poller_name(enum ae_poller poller);
int ae_poller_parse(const char *name, enum ae_poller *out);
/* Can the loop watch fd at all?  (false: fd >= its setsize) */
int ae_fits(const struct ae_loop *loop, int fd);

/* Watch fd for mask (replacing any previous mask and callback).  A mask of
 * AE_NONE removes the fd from the watch list: even hang-ups are then not
 * reported, which is what a connection parked on a helper needs (no busy
 * loop).  fd beyond the setsize: -1, ERANGE. */
int ae_set(struct ae_loop *loop, int fd, int mask, ae_proc *proc, void *data);
/* Forget fd (call before close()).  Never fails. */
void ae_del(struct ae_loop *loop, int fd);
/* Forget fd that is about to be closed: epoll is not told, since close()
 * removes it from the epoll set anyway (saves a syscall per connection).
 * Only valid if no other process holds a copy of the fd. */
void ae_forget(struct ae_loop *loop, int fd);
int ae_mask(const struct ae_loop *loop, int fd);

/* Wait up to timeout_ms (-1: forever) and run the callbacks of ready fds.
 * Returns the number of events handled, 0 on timeout or EINTR, -1 on error. */
int ae_poll(struct ae_loop *loop, int timeout_ms);
/* fn runs after every wait, before the callbacks of its events (a cached
 * clock is refreshed there). */
void ae_on_wake(struct ae_loop *loop, void (*fn)(void));

#endif
