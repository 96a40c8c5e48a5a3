/* test_ring.c: the SPSC ring keeps order and loses nothing across threads, with random claim/peek sizes,
 * wrap-around, and the full/empty edges; push_wait stops when asked. */
#include "testutil.h"

#include <pthread.h>

#include "core/rng.h"
#include "core/ring.h"

typedef struct { td_spsc_t *r; uint64_t n; uint64_t seed; } ctx_t;

static void *producer(void *arg)
{
    ctx_t *c = arg;
    td_rng_t rng;
    td_rng_seed(&rng, c->seed);
    uint64_t next = 0;
    while (next < c->n) {
        void *slots;
        size_t want = 1 + td_rng_below(&rng, 64);
        if (want > c->n - next) want = (size_t)(c->n - next);
        size_t got = td_spsc_claim_wait(c->r, want, &slots, NULL);
        uint64_t *s = slots;
        for (size_t i = 0; i < got; i++) s[i] = next++;
        td_spsc_publish(c->r, got);
    }
    return NULL;
}

static void test_threaded_order(void **state)
{
    (void)state;
    uint64_t seed = td_test_seed();
    ctx_t c = { td_spsc_create(1000, sizeof(uint64_t)), td_test_sanitized() ? 300000 : 5000000, seed };
    assert_int_equal(td_spsc_capacity(c.r), 1024);
    pthread_t t;
    pthread_create(&t, NULL, producer, &c);
    td_rng_t rng;
    td_rng_seed(&rng, seed ^ 1);
    uint64_t expect = 0;
    while (expect < c.n) {
        void *slots;
        size_t n = td_spsc_peek(c.r, 1 + td_rng_below(&rng, 100), &slots);
        const uint64_t *s = slots;
        for (size_t i = 0; i < n; i++) {
            TD_CHECK(s[i] == expect, "got %llu want %llu", (unsigned long long)s[i], (unsigned long long)expect);
            expect++;
        }
        td_spsc_release(c.r, n);
    }
    pthread_join(t, NULL);
    assert_int_equal(td_spsc_size(c.r), 0);
    td_spsc_destroy(c.r);
}

static void test_full_and_empty(void **state)
{
    (void)state;
    td_spsc_t *r = td_spsc_create(4, sizeof(int));
    int v;
    assert_false(td_spsc_pop(r, &v));
    for (int i = 0; i < 4; i++) assert_true(td_spsc_push(r, &i));
    assert_false(td_spsc_push(r, &v)); /* full: caller's policy */
    assert_int_equal(td_spsc_size(r), 4);
    for (int i = 0; i < 4; i++) {
        assert_true(td_spsc_pop(r, &v));
        assert_int_equal(v, i);
    }
    /* contiguous claims stop at the wrap point */
    for (int i = 0; i < 3; i++) assert_true(td_spsc_push(r, &i));
    for (int i = 0; i < 3; i++) assert_true(td_spsc_pop(r, &v));
    void *slots;
    assert_int_equal(td_spsc_claim(r, 4, &slots), 1); /* index 3 to the end */
    td_spsc_destroy(r);
}

static void test_push_wait_stops(void **state)
{
    (void)state;
    td_spsc_t *r = td_spsc_create(2, sizeof(int));
    _Atomic bool stop = true;
    int v = 1;
    assert_true(td_spsc_push(r, &v));
    assert_true(td_spsc_push(r, &v));
    assert_false(td_spsc_push_wait(r, &v, &stop)); /* full and stopping: returns instead of blocking */
    assert_true(atomic_load(&r->full_waits) >= 1);
    td_spsc_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threaded_order),
        cmocka_unit_test(test_full_and_empty),
        cmocka_unit_test(test_push_wait_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
