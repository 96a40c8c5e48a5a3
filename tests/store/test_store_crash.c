/* test_store_crash.c: kill -9 at random moments, many times, then check what survived.
 *
 * A child process opens the store (running recovery on what the previous child left), continues every
 * symbol's deterministic stream from where the store says it ends, appends as fast as it can with a random
 * fsync policy, and after each td_store_sync() reports through a pipe how many events of each symbol are
 * durable. The parent SIGKILLs it at a random moment, opens the store (recovery), and checks, per symbol,
 * that the stored events are exactly the stream's first m events (in order, identical, nothing else) with m
 * at least what the child last reported durable. Streams cross UTC midnights, so partitions roll over. */
#include "testutil.h"

#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/symbols.h"
#include "store/store.h"

#define NS 3
static uint32_t syms[NS];
static uint8_t exch;

static td_event_t stream_event(int s, uint64_t k)
{
    td_rng_t r;
    td_rng_seed(&r, (uint64_t)s * 1000003u + k);
    td_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = (uint8_t)(1 + td_rng_below(&r, TD_EV_TYPE_COUNT - 1));
    ev.side = (uint8_t)td_rng_below(&r, 2);
    ev.exch = exch;
    ev.sym = syms[s];
    ev.src_seq = k + 1;
    ev.exch_ns = (1708646400LL - 60) * TD_NS_PER_SEC + (int64_t)k * 20 * TD_NS_PER_MS; /* from 23:59 UTC */
    ev.recv_ns = ev.exch_ns + (int64_t)td_rng_below(&r, 100000);
    ev.u.order.price = (int64_t)(10000 + td_rng_below(&r, 100)) * 1000000;
    ev.u.order.qty = (int64_t)(1 + td_rng_below(&r, 10)) * 10000000000LL;
    ev.u.order.order_id = k * 7 + (uint64_t)s;
    return ev;
}

/* Counts the stored events of symbol s, checking they are the stream's prefix; -1 if they are not. */
static int64_t stored_prefix(td_store_t *st, int s, char *why, size_t whylen)
{
    td_store_cursor_t *c;
    if (td_store_ticks_open(st, syms[s], INT64_MIN / 2, INT64_MAX / 2, 0, &c) != TD_OK) return -1;
    td_store_tick_t buf[512];
    uint64_t k = 0;
    int n;
    while ((n = td_store_ticks_next(c, buf, 512)) > 0) {
        for (int i = 0; i < n; i++, k++) {
            td_event_t want = stream_event(s, k);
            if (memcmp(&want, &buf[i].ev, sizeof want) != 0) {
                snprintf(why, whylen, "symbol %d event %llu differs from the stream", s, (unsigned long long)k);
                td_store_ticks_close(c);
                return -1;
            }
        }
    }
    td_store_ticks_close(c);
    return (int64_t)k;
}

static void child(const char *dir, int wfd, uint64_t seed)
{
    td_log_min_level = TD_LOG_ERROR;
    td_rng_t r;
    td_rng_seed(&r, seed);
    td_store_options_t o;
    td_store_options_default(&o);
    int pol = (int)td_rng_below(&r, 3);
    o.fsync_ms = pol == 0 ? TD_STORE_FSYNC_BATCH : pol == 1 ? TD_STORE_FSYNC_OFF : 5;
    o.flush_ms = 2 + (int)td_rng_below(&r, 20);
    o.block_events = 16 + (uint32_t)td_rng_below(&r, 500);
    td_store_t *st;
    char err[256];
    if (td_store_open(dir, &o, &st, err, sizeof err) != TD_OK) _exit(3);
    uint64_t next[NS];
    char why[128];
    for (int s = 0; s < NS; s++) {
        int64_t m = stored_prefix(st, s, why, sizeof why);
        if (m < 0) _exit(4);
        next[s] = (uint64_t)m;
    }
    for (;;) {
        int n = 1 + (int)td_rng_below(&r, 200);
        for (int i = 0; i < n; i++) {
            int s = (int)td_rng_below(&r, NS);
            td_event_t ev = stream_event(s, next[s]++);
            td_store_append(st, &ev, NULL, 1);
        }
        if (td_rng_below(&r, 4) == 0) {
            uint64_t durable[NS];
            memcpy(durable, next, sizeof durable);
            td_store_sync(st);
            if (write(wfd, durable, sizeof durable) != (ssize_t)sizeof durable) _exit(5);
        }
    }
}

static void test_kill9(void **state)
{
    (void)state;
    const char *names[NS] = { "CRA", "CRB", "CRC" };
    for (int s = 0; s < NS; s++) syms[s] = td_sym_intern(names[s], 3);
    exch = td_exch_intern("XCRS", 4);
    uint64_t seed = td_test_seed();
    td_rng_t r;
    td_rng_seed(&r, seed);
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/td_crash_XXXXXX");
    if (!mkdtemp(dir)) fail_msg("mkdtemp");
    int rounds = td_test_sanitized() ? 8 : 30;
    uint64_t max_seen[NS] = { 0 };
    for (int round = 0; round < rounds; round++) {
        int p[2];
        if (pipe(p) != 0) fail_msg("pipe");
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            child(dir, p[1], seed + (uint64_t)round * 7919);
        }
        close(p[1]);
        /* let it run for a random while (some rounds kill it while it opens/recovers) */
        struct timespec ts = { 0, (long)(td_rng_below(&r, 150) + 1) * 1000000L };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        TD_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "round %d: child exited by itself (status %d)",
                 round, status);
        uint64_t durable[NS] = { 0 }, rep[NS];
        while (read(p[0], rep, sizeof rep) == (ssize_t)sizeof rep) memcpy(durable, rep, sizeof rep);
        close(p[0]);

        td_store_options_t o;
        td_store_options_default(&o);
        td_store_t *st;
        char err[256];
        td_log_min_level = TD_LOG_ERROR;
        TD_CHECK(td_store_open(dir, &o, &st, err, sizeof err) == TD_OK, "round %d: open: %s", round, err);
        for (int s = 0; s < NS; s++) {
            char why[128] = "";
            int64_t m = stored_prefix(st, s, why, sizeof why);
            TD_CHECK(m >= 0, "round %d: %s", round, why);
            TD_CHECK((uint64_t)m >= durable[s], "round %d: symbol %d has %lld events, %llu were reported durable",
                     round, s, (long long)m, (unsigned long long)durable[s]);
            if ((uint64_t)m > max_seen[s]) max_seen[s] = (uint64_t)m;
        }
        td_store_close(st);
        td_store_verify_report_t vr;
        TD_CHECK(td_store_verify(dir, &vr, NULL, NULL) == TD_OK, "round %d: damage left after recovery", round);
    }
    TD_CHECK(max_seen[0] + max_seen[1] + max_seen[2] > 0, "nothing was ever stored");
    print_message("crash test: %d kills, up to %llu/%llu/%llu events per symbol survived\n", rounds,
                  (unsigned long long)max_seen[0], (unsigned long long)max_seen[1], (unsigned long long)max_seen[2]);
    td_test_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_kill9) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
