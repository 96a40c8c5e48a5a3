/*
 * loop.c: the epoll loop behind loop.h.
 *
 * Invariants:
 * - fds[fd].mask == 0 means "not registered"; an event for such an fd (deleted earlier in the same turn)
 *   is dropped, which is why callbacks may close other connections safely.
 * - heap[0..nheap) is a binary min-heap on deadline_ns; heap[i]->heap_idx == i + 1.
 * - wake_pending is 1 from the first td_loop_wake() until the loop has read the eventfd: later wakes skip
 *   the write() syscall. The loop clears the flag *before* running the wake callback, so a wake that
 *   races with the callback is never lost (it re-arms the eventfd and the next turn runs the callback).
 */
#include "net/loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"

#define MAX_HOOKS 8
#define MAX_POSTS 4096
#define EVENTS_PER_WAIT 256

typedef struct fd_entry {
    unsigned mask; /* TD_EV_READ|TD_EV_WRITE requested; 0 = free slot */
    bool registered;
    td_io_cb cb;
    void *arg;
} fd_entry_t;

typedef struct post_node {
    struct post_node *next;
    td_post_cb fn;
    void *arg;
} post_node_t;

struct td_loop {
    int epfd;
    int wakefd;
    int max_fds;
    fd_entry_t *fds;
    int nfds_alloc;

    td_timer_t **heap;
    size_t nheap, heap_cap;

    struct { td_hook_cb cb; void *arg; } hooks[MAX_HOOKS];
    int nhooks;

    td_post_cb wake_cb;
    void *wake_arg;
    _Atomic int wake_pending;
    _Atomic bool stop;

    pthread_mutex_t post_mu;
    post_node_t *post_head, *post_tail;
    size_t npost;

    pthread_t thread;
    _Atomic bool running;
    int64_t now_ns;
    uint64_t turns;
    struct epoll_event events[EVENTS_PER_WAIT];
};

static void wake_read(td_loop_t *loop, int fd, unsigned events, void *arg);

td_loop_t *td_loop_create(int max_fds)
{
    td_loop_t *loop = td_calloc(1, sizeof *loop);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->wakefd < 0) {
        td_log_error("loop", "epoll_create1/eventfd: %s", strerror(errno));
        goto fail;
    }
    loop->max_fds = max_fds > 0 ? max_fds : 1024;
    pthread_mutex_init(&loop->post_mu, NULL);
    loop->now_ns = td_mono_ns();
    if (td_loop_add(loop, loop->wakefd, TD_EV_READ, wake_read, NULL) != 0) goto fail;
    return loop;
fail:
    if (loop->epfd >= 0) close(loop->epfd);
    if (loop->wakefd >= 0) close(loop->wakefd);
    td_free(loop);
    return NULL;
}

void td_loop_destroy(td_loop_t *loop)
{
    if (!loop) return;
    post_node_t *n = loop->post_head;
    while (n) {
        post_node_t *next = n->next;
        td_free(n);
        n = next;
    }
    close(loop->epfd);
    close(loop->wakefd);
    pthread_mutex_destroy(&loop->post_mu);
    td_free(loop->fds);
    td_free(loop->heap);
    td_free(loop);
}

static uint32_t to_epoll(unsigned mask)
{
    uint32_t ev = 0;
    if (mask & TD_EV_READ) ev |= EPOLLIN | EPOLLRDHUP;
    if (mask & TD_EV_WRITE) ev |= EPOLLOUT;
    return ev;
}

int td_loop_add(td_loop_t *loop, int fd, unsigned mask, td_io_cb cb, void *arg)
{
    if (fd < 0 || fd >= loop->max_fds) return TD_ERANGE;
    if (fd >= loop->nfds_alloc) {
        int n = loop->nfds_alloc ? loop->nfds_alloc : 64;
        while (n <= fd) n *= 2;
        if (n > loop->max_fds) n = loop->max_fds;
        loop->fds = td_realloc(loop->fds, (size_t)n * sizeof *loop->fds);
        memset(loop->fds + loop->nfds_alloc, 0, (size_t)(n - loop->nfds_alloc) * sizeof *loop->fds);
        loop->nfds_alloc = n;
    }
    fd_entry_t *fe = &loop->fds[fd];
    if (fe->registered) return TD_EEXIST;
    struct epoll_event ev = { .events = to_epoll(mask), .data.fd = fd };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) return -errno;
    fe->registered = true;
    fe->mask = mask;
    fe->cb = cb;
    fe->arg = arg;
    return 0;
}

int td_loop_mod(td_loop_t *loop, int fd, unsigned mask)
{
    if (fd < 0 || fd >= loop->nfds_alloc || !loop->fds[fd].registered) return TD_ENOENT;
    fd_entry_t *fe = &loop->fds[fd];
    if (fe->mask == mask) return 0;
    struct epoll_event ev = { .events = to_epoll(mask), .data.fd = fd };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) != 0) return -errno;
    fe->mask = mask;
    return 0;
}

int td_loop_del(td_loop_t *loop, int fd)
{
    if (fd < 0 || fd >= loop->nfds_alloc || !loop->fds[fd].registered) return TD_ENOENT;
    /* Errors ignored on purpose: the fd may already be closed, which removed it from the epoll set. */
    (void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    memset(&loop->fds[fd], 0, sizeof loop->fds[fd]);
    return 0;
}

/* ---- timers: binary min-heap of caller-owned td_timer_t ---- */

static void heap_set(td_loop_t *loop, size_t i, td_timer_t *t)
{
    loop->heap[i] = t;
    t->heap_idx = i + 1;
}

static void heap_up(td_loop_t *loop, size_t i)
{
    td_timer_t *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->deadline_ns <= t->deadline_ns) break;
        heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, t);
}

static void heap_down(td_loop_t *loop, size_t i)
{
    td_timer_t *t = loop->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= loop->nheap) break;
        if (c + 1 < loop->nheap && loop->heap[c + 1]->deadline_ns < loop->heap[c]->deadline_ns) c++;
        if (loop->heap[c]->deadline_ns >= t->deadline_ns) break;
        heap_set(loop, i, loop->heap[c]);
        i = c;
    }
    heap_set(loop, i, t);
}

void td_timer_init(td_timer_t *t, td_timer_cb cb, void *arg)
{
    memset(t, 0, sizeof *t);
    t->cb = cb;
    t->arg = arg;
}

void td_timer_stop(td_loop_t *loop, td_timer_t *t)
{
    if (!t->heap_idx) return;
    size_t i = t->heap_idx - 1;
    t->heap_idx = 0;
    loop->nheap--;
    if (i == loop->nheap) return;
    td_timer_t *last = loop->heap[loop->nheap];
    heap_set(loop, i, last);
    heap_up(loop, i);
    heap_down(loop, last->heap_idx - 1);
}

void td_timer_start(td_loop_t *loop, td_timer_t *t, int64_t delay_ns)
{
    td_timer_stop(loop, t);
    t->deadline_ns = td_mono_ns() + (delay_ns > 0 ? delay_ns : 0);
    if (loop->nheap == loop->heap_cap) {
        loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        loop->heap = td_realloc(loop->heap, loop->heap_cap * sizeof *loop->heap);
    }
    heap_set(loop, loop->nheap, t);
    loop->nheap++;
    heap_up(loop, loop->nheap - 1);
}

static void run_timers(td_loop_t *loop)
{
    /* A timer callback may re-arm itself with delay 0; bounding the count per turn keeps I/O flowing. */
    for (size_t budget = loop->nheap + 16; budget > 0 && loop->nheap > 0; budget--) {
        td_timer_t *t = loop->heap[0];
        if (t->deadline_ns > loop->now_ns) break;
        td_timer_stop(loop, t);
        t->cb(loop, t->arg);
    }
}

/* ---- hooks, wakeups, posts ---- */

int td_loop_add_hook(td_loop_t *loop, td_hook_cb cb, void *arg)
{
    if (loop->nhooks == MAX_HOOKS) return TD_ENOBUFS;
    loop->hooks[loop->nhooks].cb = cb;
    loop->hooks[loop->nhooks].arg = arg;
    loop->nhooks++;
    return 0;
}

void td_loop_set_wake_cb(td_loop_t *loop, td_post_cb cb, void *arg)
{
    loop->wake_cb = cb;
    loop->wake_arg = arg;
}

void td_loop_wake(td_loop_t *loop)
{
    if (atomic_exchange_explicit(&loop->wake_pending, 1, memory_order_acq_rel)) return;
    uint64_t one = 1;
    /* EAGAIN means the counter is already nonzero: the loop will wake anyway. */
    ssize_t r = write(loop->wakefd, &one, sizeof one);
    (void)r;
}

static void run_posts(td_loop_t *loop)
{
    pthread_mutex_lock(&loop->post_mu);
    post_node_t *n = loop->post_head;
    loop->post_head = loop->post_tail = NULL;
    loop->npost = 0;
    pthread_mutex_unlock(&loop->post_mu);
    while (n) {
        post_node_t *next = n->next;
        n->fn(loop, n->arg);
        td_free(n);
        n = next;
    }
}

static void wake_read(td_loop_t *loop, int fd, unsigned events, void *arg)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    atomic_store_explicit(&loop->wake_pending, 0, memory_order_release);
    run_posts(loop); /* every post wakes the loop after queueing, so none waits past this turn */
    if (loop->wake_cb) loop->wake_cb(loop, loop->wake_arg);
}

int td_loop_post(td_loop_t *loop, td_post_cb fn, void *arg)
{
    post_node_t *n = td_malloc(sizeof *n);
    n->next = NULL;
    n->fn = fn;
    n->arg = arg;
    pthread_mutex_lock(&loop->post_mu);
    if (loop->npost >= MAX_POSTS) {
        pthread_mutex_unlock(&loop->post_mu);
        td_free(n);
        return TD_ENOBUFS;
    }
    if (loop->post_tail) loop->post_tail->next = n;
    else loop->post_head = n;
    loop->post_tail = n;
    loop->npost++;
    pthread_mutex_unlock(&loop->post_mu);
    td_loop_wake(loop);
    return 0;
}

void td_loop_stop(td_loop_t *loop)
{
    atomic_store(&loop->stop, true);
    td_loop_wake(loop);
}

bool td_loop_in_thread(const td_loop_t *loop)
{
    return atomic_load(&loop->running) && pthread_equal(loop->thread, pthread_self());
}

int64_t td_loop_now_ns(const td_loop_t *loop) { return loop->now_ns; }
uint64_t td_loop_turns(const td_loop_t *loop) { return loop->turns; }

/* ---- the loop ---- */

int td_loop_run(td_loop_t *loop)
{
    loop->thread = pthread_self();
    atomic_store(&loop->running, true);
    int busy = 0;
    int rc = 0;
    while (!atomic_load_explicit(&loop->stop, memory_order_acquire)) {
        int timeout_ms = -1;
        if (busy) timeout_ms = 0;
        else if (loop->nheap > 0) {
            int64_t wait_ns = loop->heap[0]->deadline_ns - td_mono_ns();
            /* Round up so a timer is never woken for just before its deadline (a spin). */
            timeout_ms = wait_ns <= 0 ? 0 : (int)((wait_ns + TD_NS_PER_MS - 1) / TD_NS_PER_MS);
        }
        int n = epoll_wait(loop->epfd, loop->events, EVENTS_PER_WAIT, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = -errno;
            td_log_error("loop", "epoll_wait: %s", strerror(errno));
            break;
        }
        loop->now_ns = td_mono_ns();
        loop->turns++;
        for (int i = 0; i < n; i++) {
            int fd = loop->events[i].data.fd;
            uint32_t e = loop->events[i].events;
            if (fd >= loop->nfds_alloc) continue;
            fd_entry_t *fe = &loop->fds[fd];
            if (!fe->registered) continue; /* deleted by an earlier callback in this turn */
            unsigned fired = 0;
            if ((e & (EPOLLIN | EPOLLRDHUP)) && (fe->mask & TD_EV_READ)) fired |= TD_EV_READ;
            if ((e & EPOLLOUT) && (fe->mask & TD_EV_WRITE)) fired |= TD_EV_WRITE;
            if (e & (EPOLLERR | EPOLLHUP)) fired |= TD_EV_ERROR;
            if (fired) fe->cb(loop, fd, fired, fe->arg);
        }
        run_timers(loop);
        busy = 0;
        for (int h = 0; h < loop->nhooks; h++) busy |= loop->hooks[h].cb(loop, loop->hooks[h].arg);
    }
    atomic_store(&loop->running, false);
    atomic_store(&loop->stop, false); /* so the loop can run again */
    return rc;
}
