/* test_loop.c: the epoll loop: the timer heap against a naive reference on seeded random start/stop/restart
 * streams, fd callbacks (including deleting another fd mid-turn), cross-thread wakeups (none lost), posts
 * from several threads, turn hooks and stop. */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "core/common.h"
#include "core/rng.h"
#include "net/loop.h"

/* ---- timers vs. a naive reference ---- */

#define NTIMERS 300

static td_timer_t timers[NTIMERS];
static int64_t fired_deadline[NTIMERS];
static int fired_order[NTIMERS * 2];
static int nfired;

static void on_timer(td_loop_t *loop, void *arg)
{
    int i = (int)(intptr_t)arg;
    fired_deadline[i] = timers[i].deadline_ns;
    fired_order[nfired++] = i;
    assert_false(td_timer_armed(&timers[i]));
}

static int stop_when_idle(td_loop_t *loop, void *arg)
{
    bool any = false;
    for (int i = 0; i < NTIMERS; i++) any |= td_timer_armed(&timers[i]);
    if (!any) td_loop_stop(loop);
    return 0;
}

static void test_timers_vs_reference(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    for (int round = 0; round < 4; round++) {
        td_loop_t *loop = td_loop_create(64);
        assert_non_null(loop);
        assert_int_equal(td_loop_add_hook(loop, stop_when_idle, NULL), 0);
        bool armed[NTIMERS] = { false };
        int64_t deadline[NTIMERS];
        for (int i = 0; i < NTIMERS; i++) td_timer_init(&timers[i], on_timer, (void *)(intptr_t)i);
        for (int step = 0; step < 5000; step++) {
            int i = (int)td_rng_below(&rng, NTIMERS);
            if (td_rng_below(&rng, 3) == 0) {
                td_timer_stop(loop, &timers[i]);
                armed[i] = false;
            } else {
                td_timer_start(loop, &timers[i], (int64_t)td_rng_below(&rng, 3000000)); /* 0-3 ms */
                armed[i] = true;
                deadline[i] = timers[i].deadline_ns;
            }
            TD_CHECK(td_timer_armed(&timers[i]) == armed[i], "step %d timer %d", step, i);
        }
        int want = 0;
        for (int i = 0; i < NTIMERS; i++) want += armed[i];
        nfired = 0;
        memset(fired_deadline, 0, sizeof fired_deadline);
        if (want) assert_int_equal(td_loop_run(loop), 0);
        TD_CHECK(nfired == want, "round %d: %d fired, %d armed", round, nfired, want);
        for (int k = 0; k < nfired; k++) {
            int i = fired_order[k];
            TD_CHECK(armed[i], "round %d: stopped timer %d fired", round, i);
            TD_CHECK(fired_deadline[i] == deadline[i], "round %d: timer %d deadline", round, i);
            if (k) TD_CHECK(fired_deadline[fired_order[k - 1]] <= fired_deadline[i], "round %d: out of order at %d", round, k);
            armed[i] = false; /* each fires once */
        }
        td_loop_destroy(loop);
    }
}

/* ---- fds ---- */

static int pipes[2][2];
static int reads_seen;

static void on_readable(td_loop_t *loop, int fd, unsigned events, void *arg)
{
    char b[16];
    assert_true(events & TD_EV_READ);
    assert_true(read(fd, b, sizeof b) > 0);
    reads_seen++;
    /* delete the other pipe in the same turn: its pending event must be dropped, not delivered */
    int other = fd == pipes[0][0] ? pipes[1][0] : pipes[0][0];
    td_loop_del(loop, other);
    td_loop_del(loop, fd);
    td_loop_stop(loop);
}

static void test_fds(void **state)
{
    (void)state;
    td_loop_t *loop = td_loop_create(1024);
    assert_int_equal(pipe(pipes[0]), 0);
    assert_int_equal(pipe(pipes[1]), 0);
    assert_int_equal(td_loop_add(loop, pipes[0][0], TD_EV_READ, on_readable, NULL), 0);
    assert_int_equal(td_loop_add(loop, pipes[1][0], TD_EV_READ, on_readable, NULL), 0);
    assert_int_equal(td_loop_add(loop, pipes[1][0], TD_EV_READ, on_readable, NULL), TD_EEXIST);
    assert_int_equal(td_loop_add(loop, 5000, TD_EV_READ, on_readable, NULL), TD_ERANGE);
    assert_int_equal(write(pipes[0][1], "a", 1), 1);
    assert_int_equal(write(pipes[1][1], "b", 1), 1);
    assert_int_equal(td_loop_run(loop), 0);
    assert_int_equal(reads_seen, 1);
    assert_int_equal(td_loop_mod(loop, pipes[0][0], TD_EV_READ), TD_ENOENT);
    for (int i = 0; i < 2; i++) {
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
    td_loop_destroy(loop);
}

/* ---- wakeups and posts from other threads ---- */

static _Atomic long published;
static long seen_last, wake_calls;

static void on_wake(td_loop_t *loop, void *arg)
{
    seen_last = atomic_load(&published);
    wake_calls++;
}

static void do_stop(td_loop_t *loop, void *arg) { td_loop_stop(loop); }

static void *waker(void *arg)
{
    td_loop_t *loop = arg;
    for (long i = 1; i <= 20000; i++) {
        atomic_store(&published, i);
        td_loop_wake(loop);
    }
    while (td_loop_post(loop, do_stop, NULL) != 0) sched_yield();
    return NULL;
}

static void test_wake_not_lost(void **state)
{
    (void)state;
    td_loop_t *loop = td_loop_create(64);
    td_loop_set_wake_cb(loop, on_wake, NULL);
    pthread_t t;
    pthread_create(&t, NULL, waker, loop);
    assert_int_equal(td_loop_run(loop), 0);
    pthread_join(t, NULL);
    /* the stop was posted after the last wake, so the callback has seen the final value */
    assert_int_equal(seen_last, 20000);
    assert_true(wake_calls >= 1 && wake_calls <= 20001);
    td_loop_destroy(loop);
}

static _Atomic int post_count;
static int turns_with_hook;

static void count_post(td_loop_t *loop, void *arg)
{
    assert_true(td_loop_in_thread(loop));
    if (++post_count == 4 * 1000) td_loop_stop(loop);
}

static void *poster(void *arg)
{
    td_loop_t *loop = arg;
    for (int i = 0; i < 1000; i++)
        while (td_loop_post(loop, count_post, NULL) == TD_ENOBUFS) sched_yield();
    return NULL;
}

static int hook(td_loop_t *loop, void *arg)
{
    turns_with_hook++;
    return 0;
}

static void test_posts(void **state)
{
    (void)state;
    td_loop_t *loop = td_loop_create(64);
    td_loop_add_hook(loop, hook, NULL);
    assert_false(td_loop_in_thread(loop));
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, poster, loop);
    assert_int_equal(td_loop_run(loop), 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    assert_int_equal(post_count, 4000);
    assert_true(turns_with_hook >= 1);
    assert_true(td_loop_turns(loop) >= 1);
    td_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers_vs_reference),
        cmocka_unit_test(test_fds),
        cmocka_unit_test(test_wake_not_lost),
        cmocka_unit_test(test_posts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
