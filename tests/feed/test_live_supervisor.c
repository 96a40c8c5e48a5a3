/* test_live_supervisor.c: the supervisor's pure policy: backoff delays stay inside their jitter bounds for
 * every attempt on seeded random streams, the circuit breaker walks CLOSED -> OPEN -> HALF_OPEN -> OPEN
 * (cool-down doubled, capped) -> HALF_OPEN -> CLOSED, and the health record copies out. */
#include "testutil.h"

#include <string.h>

#include "core/clock.h"
#include "core/rng.h"
#include "feed/supervisor.h"

static void test_backoff_bounds(void **state)
{
    (void)state;
    uint64_t seed = td_test_seed();
    td_rng_t rng;
    td_rng_seed(&rng, seed);
    static const uint32_t bases[] = { 1, 50, 500, 1000 }, caps[] = { 1, 400, 30000, 60000 };
    for (size_t bi = 0; bi < 4; bi++) {
        td_backoff_t b;
        td_backoff_init(&b, bases[bi], caps[bi]);
        for (int round = 0; round < 200; round++) {
            uint32_t prev_nominal = 0;
            for (uint32_t k = 0; k < 40; k++) {
                uint32_t d = td_backoff_nominal(&b, b.attempt);
                TD_CHECK(d >= prev_nominal, "nominal delay shrank at attempt %u", k);
                TD_CHECK(d <= b.max_ms && d >= b.base_ms, "nominal %u outside [%u, %u]", d, b.base_ms, b.max_ms);
                uint64_t expect = (uint64_t)b.base_ms << (k < 40 ? k : 40);
                if (expect > b.max_ms) expect = b.max_ms;
                TD_CHECK(d == expect, "nominal %u != %llu at attempt %u", d, (unsigned long long)expect, k);
                uint32_t delay = td_backoff_next(&b, &rng);
                TD_CHECK(delay >= d / 2 && delay <= d, "delay %u outside [%u, %u] at attempt %u", delay, d / 2, d, k);
                prev_nominal = d;
            }
            td_backoff_reset(&b);
            TD_CHECK(b.attempt == 0, "reset");
        }
    }
}

static void test_backoff_jitter_spreads(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    td_backoff_t b;
    td_backoff_init(&b, 1000, 1000);
    uint32_t lo = UINT32_MAX, hi = 0;
    uint64_t sum = 0;
    for (int i = 0; i < 10000; i++) {
        uint32_t d = td_backoff_next(&b, &rng);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        sum += d;
    }
    /* uniform on [500, 1000]: both ends reached closely, mean near 750 */
    TD_CHECK(lo < 520 && hi > 980, "jitter range [%u, %u] too narrow", lo, hi);
    TD_CHECK(sum / 10000 > 730 && sum / 10000 < 770, "mean %llu", (unsigned long long)(sum / 10000));
}

static void test_breaker_state_machine(void **state)
{
    (void)state;
    td_breaker_t b;
    td_breaker_init(&b, 3, 1000, 3000);
    int64_t t = 5 * TD_NS_PER_SEC;
    assert_int_equal(b.state, TD_BREAKER_CLOSED);
    assert_true(td_breaker_allow(&b, t));
    assert_false(td_breaker_failure(&b, t));
    assert_false(td_breaker_failure(&b, t));
    assert_true(td_breaker_allow(&b, t));
    assert_true(td_breaker_failure(&b, t)); /* third: opens */
    assert_int_equal(b.state, TD_BREAKER_OPEN);
    assert_int_equal(b.opened, 1);
    assert_false(td_breaker_allow(&b, t));
    assert_false(td_breaker_allow(&b, t + 999 * TD_NS_PER_MS));
    assert_true(td_breaker_allow(&b, t + 1000 * TD_NS_PER_MS)); /* cool-down over: one trial */
    assert_int_equal(b.state, TD_BREAKER_HALF_OPEN);
    t += 1000 * TD_NS_PER_MS;
    assert_true(td_breaker_failure(&b, t)); /* trial failed: open again, cool-down doubled */
    assert_int_equal(b.state, TD_BREAKER_OPEN);
    assert_int_equal(b.cur_cooldown_ms, 2000);
    assert_false(td_breaker_allow(&b, t + 1999 * TD_NS_PER_MS));
    assert_true(td_breaker_allow(&b, t + 2000 * TD_NS_PER_MS));
    t += 2000 * TD_NS_PER_MS;
    assert_true(td_breaker_failure(&b, t));
    assert_int_equal(b.cur_cooldown_ms, 3000); /* capped at max */
    t += 3000 * TD_NS_PER_MS;
    assert_true(td_breaker_allow(&b, t));
    assert_true(td_breaker_failure(&b, t));
    assert_int_equal(b.cur_cooldown_ms, 3000);
    t += 3000 * TD_NS_PER_MS;
    assert_true(td_breaker_allow(&b, t));
    td_breaker_success(&b); /* trial succeeded */
    assert_int_equal(b.state, TD_BREAKER_CLOSED);
    assert_int_equal(b.failures, 0);
    assert_int_equal(b.cur_cooldown_ms, 1000);
    assert_int_equal(b.opened, 4);
    /* a success in between resets the count: failures must be consecutive */
    assert_false(td_breaker_failure(&b, t));
    assert_false(td_breaker_failure(&b, t));
    td_breaker_success(&b);
    assert_false(td_breaker_failure(&b, t));
    assert_false(td_breaker_failure(&b, t));
    assert_int_equal(b.state, TD_BREAKER_CLOSED);
    assert_string_equal(td_breaker_state_name(TD_BREAKER_HALF_OPEN), "half-open");
}

/* Random failure/success/time streams against a naive model of the rules. */
static void test_breaker_random_vs_model(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    td_breaker_t b;
    td_breaker_init(&b, 4, 100, 800);
    int model_state = 0; /* 0 closed, 1 open, 2 half */
    uint32_t fails = 0, cd = 100;
    int64_t until = 0, t = 0;
    for (int i = 0; i < 20000; i++) {
        t += (int64_t)td_rng_below(&rng, 60) * TD_NS_PER_MS;
        bool allowed = td_breaker_allow(&b, t);
        bool m_allowed = model_state != 1 || t >= until;
        if (model_state == 1 && t >= until) model_state = 2;
        TD_CHECK(allowed == m_allowed, "step %d: allow %d vs model %d", i, allowed, m_allowed);
        if (!allowed) continue;
        if (td_rng_below(&rng, 3) == 0) {
            td_breaker_success(&b);
            model_state = 0; fails = 0; cd = 100;
        } else {
            bool opened = td_breaker_failure(&b, t);
            fails++;
            bool m_opened = false;
            if (model_state == 2) { cd = cd * 2 > 800 ? 800 : cd * 2; m_opened = true; }
            else if (fails >= 4) m_opened = true;
            if (m_opened) { model_state = 1; until = t + (int64_t)cd * TD_NS_PER_MS; }
            TD_CHECK(opened == m_opened, "step %d: opened %d vs model %d", i, opened, m_opened);
        }
        TD_CHECK((int)b.state == model_state, "step %d: state %d vs model %d", i, b.state, model_state);
    }
}

static void test_health_read(void **state)
{
    (void)state;
    td_feed_health_atomic_t h;
    memset(&h, 0, sizeof h);
    td_feed_health_t out;
    td_feed_health_read(&h, 1000, &out);
    assert_int_equal(out.last_msg_age_ns, -1);
    atomic_store(&h.state, TD_FEED_FALLBACK);
    atomic_store(&h.last_msg_ns, 400);
    atomic_store(&h.msgs_per_sec_milli, 12500);
    atomic_store(&h.reconnects, 3);
    td_feed_health_read(&h, 1000, &out);
    assert_int_equal(out.state, TD_FEED_FALLBACK);
    assert_int_equal(out.last_msg_age_ns, 600);
    assert_true(out.msgs_per_sec > 12.49 && out.msgs_per_sec < 12.51);
    assert_int_equal(out.reconnects, 3);
    assert_string_equal(td_feed_state_name(TD_FEED_OPEN_CIRCUIT), "open-circuit");
    assert_string_equal(td_feed_state_name(TD_FEED_LIVE), "live");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_backoff_jitter_spreads),
        cmocka_unit_test(test_breaker_state_machine),
        cmocka_unit_test(test_breaker_random_vs_model),
        cmocka_unit_test(test_health_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
