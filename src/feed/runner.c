/* runner.c: the feed thread (see runner.h). Only the runner's thread calls the source's next(). */
#include "feed/runner.h"

#include <pthread.h>
#include <time.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"

#define PULL_BATCH 256

struct td_feed_runner {
    td_source_t *src;
    td_spsc_t *ring;
    double speed;
    pthread_t thread;
    bool started;
    _Atomic bool stop;
    _Atomic bool done;
};

td_feed_runner_t *td_feed_runner_create(td_source_t *src, size_t ring_capacity, double speed)
{
    td_feed_runner_t *r = td_calloc(1, sizeof *r);
    r->src = src;
    r->speed = speed;
    r->ring = td_spsc_create(ring_capacity, sizeof(td_event_t));
    return r;
}

td_spsc_t *td_feed_runner_ring(td_feed_runner_t *r) { return r->ring; }
td_source_t *td_feed_runner_source(td_feed_runner_t *r) { return r->src; }
bool td_feed_runner_done(const td_feed_runner_t *r) { return atomic_load(&r->done); }

static void sleep_ns(int64_t ns)
{
    struct timespec ts = { (time_t)(ns / TD_NS_PER_SEC), (long)(ns % TD_NS_PER_SEC) };
    nanosleep(&ts, NULL);
}

static void *runner_main(void *arg)
{
    td_feed_runner_t *r = arg;
    td_event_t batch[PULL_BATCH];
    int64_t t0_exch = 0, t0_wall = 0;
    td_log_info("feed", "%s: started", r->src->name);
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        int n = r->src->next(r->src, batch, PULL_BATCH);
        if (n == 0) {
            sleep_ns(100000); /* a live source with nothing ready */
            continue;
        }
        if (n < 0) {
            if (n == TD_EOF) td_log_info("feed", "%s: end of input", r->src->name);
            else td_log_error("feed", "%s: stopped: %s", r->src->name, td_strerror(n));
            break;
        }
        int64_t now = td_now_ns();
        for (int i = 0; i < n; i++) {
            td_event_t *ev = &batch[i];
            if (ev->recv_ns == 0) ev->recv_ns = now;
            if (r->speed > 0 && ev->exch_ns > 0) { /* events without an exchange time are not paced */
                if (t0_wall == 0) {
                    t0_wall = td_mono_ns();
                    t0_exch = ev->exch_ns;
                }
                int64_t due = t0_wall + (int64_t)((double)(ev->exch_ns - t0_exch) / r->speed);
                for (;;) {
                    int64_t wait = due - td_mono_ns();
                    if (wait <= 0 || atomic_load_explicit(&r->stop, memory_order_relaxed)) break;
                    sleep_ns(wait < TD_NS_PER_MS * 10 ? wait : TD_NS_PER_MS * 10);
                }
                ev->recv_ns = td_now_ns();
            }
        }
        for (int i = 0; i < n;) {
            void *slots;
            size_t got = td_spsc_claim_wait(r->ring, (size_t)(n - i), &slots, &r->stop);
            if (got == 0) goto out;
            memcpy(slots, &batch[i], got * sizeof(td_event_t));
            td_spsc_publish(r->ring, got);
            i += (int)got;
        }
    }
out:
    atomic_store(&r->done, true);
    return NULL;
}

int td_feed_runner_start(td_feed_runner_t *r)
{
    if (pthread_create(&r->thread, NULL, runner_main, r) != 0) return TD_ENOMEM;
    r->started = true;
    return TD_OK;
}

void td_feed_runner_stop(td_feed_runner_t *r)
{
    if (!r->started) return;
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    r->started = false;
}

void td_feed_runner_destroy(td_feed_runner_t *r)
{
    if (!r) return;
    td_feed_runner_stop(r);
    td_source_destroy(r->src);
    td_spsc_destroy(r->ring);
    td_free(r);
}
