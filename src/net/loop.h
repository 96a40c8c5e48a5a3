/*
 * loop.h: one epoll event loop per I/O thread: fd readiness callbacks, timers, a cross-thread wakeup and a
 * clean stop. Redis ae.c is the model: a flat table indexed by fd, a "before wait" step, nothing hidden.
 *
 * Level-triggered, on purpose. Fan-out wants every socket written once per loop turn from the turn hooks
 * (the server flushes all connections that became dirty during the turn), not from readiness events; so
 * EPOLLOUT is armed only after a partial write and disarmed once the queue drains (rare for healthy
 * clients). For reads, level triggering lets a handler read one buffer's worth per turn and leave the rest
 * for the next turn (fairness between 10k sockets) without the "must drain to EAGAIN or lose the edge" rule
 * of edge triggering, whose violations are silent hangs. The cost, one epoll_ctl when EPOLLOUT toggles, is
 * paid only by slow readers.
 *
 * Turn order: epoll_wait -> fd callbacks (the wakeup runs posted functions, then the wake callback) ->
 * due timers -> turn hooks -> epoll_wait.
 * A turn hook returning nonzero means "I have more work": the next epoll_wait does not block.
 *
 * Timers are intrusive (td_timer_t lives in the caller's struct; no allocation, O(log n) start/stop in a
 * binary min-heap). Deadlines use the monotonic clock.
 *
 * Threading: everything runs on the thread that calls td_loop_run(). Only td_loop_wake(), td_loop_post()
 * and td_loop_stop() may be called from other threads. Before td_loop_run() starts (or after it returns),
 * the creating thread may register fds, timers and hooks.
 */
#ifndef TD_NET_LOOP_H
#define TD_NET_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct td_loop td_loop_t;

#define TD_EV_READ  1u
#define TD_EV_WRITE 2u
#define TD_EV_ERROR 4u /* EPOLLERR/EPOLLHUP: always reported to the callback, never requested */

/* events: the TD_EV_* that fired (READ/WRITE only when requested). */
typedef void (*td_io_cb)(td_loop_t *loop, int fd, unsigned events, void *arg);
typedef void (*td_timer_cb)(td_loop_t *loop, void *arg);
typedef void (*td_post_cb)(td_loop_t *loop, void *arg);
/* Returns nonzero if it still has work, so the loop polls without sleeping. */
typedef int (*td_hook_cb)(td_loop_t *loop, void *arg);

typedef struct td_timer {
    int64_t deadline_ns;     /* monotonic */
    size_t heap_idx;         /* index in the heap + 1; 0 when not armed */
    td_timer_cb cb;
    void *arg;
} td_timer_t;

/* max_fds: highest fd number + 1 that may be registered (the table grows up to it). */
td_loop_t *td_loop_create(int max_fds);
void td_loop_destroy(td_loop_t *loop); /* NULL is a no-op; does not close registered fds */

int td_loop_add(td_loop_t *loop, int fd, unsigned mask, td_io_cb cb, void *arg); /* TD_EEXIST, TD_ERANGE */
int td_loop_mod(td_loop_t *loop, int fd, unsigned mask);                          /* READ|WRITE, 0 = none */
int td_loop_del(td_loop_t *loop, int fd); /* safe inside callbacks; pending events for fd are dropped */

void td_timer_init(td_timer_t *t, td_timer_cb cb, void *arg);
void td_timer_start(td_loop_t *loop, td_timer_t *t, int64_t delay_ns); /* re-arms if already armed */
void td_timer_stop(td_loop_t *loop, td_timer_t *t);                    /* no-op if not armed */
static inline bool td_timer_armed(const td_timer_t *t) { return t->heap_idx != 0; }

/* Hooks run once per turn, in registration order, just before the loop waits. At most 8. */
int td_loop_add_hook(td_loop_t *loop, td_hook_cb cb, void *arg);

/* Called on the loop thread after td_loop_wake() from any thread (wakeups coalesce: N wakes before the
 * loop runs give one call). This is how the engine says "new out events are ready". */
void td_loop_set_wake_cb(td_loop_t *loop, td_post_cb cb, void *arg);
void td_loop_wake(td_loop_t *loop); /* any thread; async-signal-safe */

/* Runs fn(loop, arg) on the loop thread at the next turn. Any thread. Control-plane use (stop, config),
 * not the data path (that is a ring plus td_loop_wake). Bounded: TD_ENOBUFS past 4096 pending posts.
 * Posts still pending when the loop is destroyed are dropped without running (arg is not freed). */
int td_loop_post(td_loop_t *loop, td_post_cb fn, void *arg);

int td_loop_run(td_loop_t *loop);    /* until td_loop_stop(); 0 or a negative error from epoll_wait */
void td_loop_stop(td_loop_t *loop);  /* any thread; the current turn finishes first */
bool td_loop_in_thread(const td_loop_t *loop);
int64_t td_loop_now_ns(const td_loop_t *loop); /* monotonic time cached at the start of the turn */
uint64_t td_loop_turns(const td_loop_t *loop);

#endif
