/* test_bcast.c: the broadcast ring delivers every record in order to readers that keep up, tells a lapped
 * reader exactly how many it lost, and never hands out a torn record while the writer races ahead. */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>

#include "core/bcast.h"

typedef struct { uint64_t pos, a, b, c, check; } rec_t;

static rec_t make(uint64_t pos)
{
    rec_t r = { pos, pos * 3, pos ^ 0xabcdef, ~pos, 0 };
    r.check = r.pos + r.a + r.b + r.c;
    return r;
}

static void test_single_thread(void **state)
{
    (void)state;
    td_bcast_t *b = td_bcast_create(8, sizeof(rec_t));
    td_bcast_reader_t r;
    td_bcast_reader_init(&r, b);
    rec_t out;
    uint64_t lost;
    assert_int_equal(td_bcast_read(&r, &out, &lost), TD_BCAST_EMPTY);
    for (uint64_t i = 0; i < 5; i++) {
        rec_t x = make(i);
        td_bcast_write(b, &x);
    }
    for (uint64_t i = 0; i < 5; i++) {
        assert_int_equal(td_bcast_read(&r, &out, &lost), TD_BCAST_OK);
        assert_int_equal(out.pos, i);
    }
    assert_int_equal(td_bcast_read(&r, &out, &lost), TD_BCAST_EMPTY);

    /* fall 20 behind on a ring of 8: lapped, told how many, then reads the oldest still held */
    for (uint64_t i = 5; i < 25; i++) {
        rec_t x = make(i);
        td_bcast_write(b, &x);
    }
    assert_int_equal(td_bcast_read(&r, &out, &lost), TD_BCAST_LAPPED);
    uint64_t resume = 5 + lost;
    assert_true(lost >= 12 && lost <= 13);
    assert_int_equal(td_bcast_read(&r, &out, &lost), TD_BCAST_OK);
    assert_int_equal(out.pos, resume);
    /* a reader created now sees only new records */
    td_bcast_reader_t late;
    td_bcast_reader_init(&late, b);
    assert_int_equal(td_bcast_read(&late, &out, &lost), TD_BCAST_EMPTY);
    td_bcast_destroy(b);
}

typedef struct { td_bcast_t *b; uint64_t n; _Atomic int started; } wctx_t;

static void *writer(void *arg)
{
    wctx_t *w = arg;
    while (atomic_load(&w->started) < 2) sched_yield();
    for (uint64_t i = 0; i < w->n; i++) {
        rec_t x = make(i);
        td_bcast_write(w->b, &x);
        if ((i & 1023) == 0) sched_yield(); /* let the readers sometimes keep up, sometimes not */
    }
    return NULL;
}

typedef struct { wctx_t *w; uint64_t got, lost; int slow; } rctx_t;

static void *reader(void *arg)
{
    rctx_t *c = arg;
    td_bcast_reader_t r;
    td_bcast_reader_init(&r, c->w->b);
    atomic_fetch_add(&c->w->started, 1);
    uint64_t expect = 0, lost;
    rec_t out;
    while (expect < c->w->n) {
        int rc = td_bcast_read(&r, &out, &lost);
        if (rc == TD_BCAST_OK) {
            if (out.pos != expect || out.check != out.pos + out.a + out.b + out.c) {
                fprintf(stderr, "torn or out of order: pos %llu expect %llu\n", (unsigned long long)out.pos,
                        (unsigned long long)expect);
                abort();
            }
            expect++;
            c->got++;
            if (c->slow && (expect & 255) == 0) for (volatile int k = 0; k < 20000; k++) {}
        } else if (rc == TD_BCAST_LAPPED) {
            expect += lost;
            c->lost += lost;
        } else if (td_bcast_position(c->w->b) >= c->w->n && expect >= c->w->n) {
            break;
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    wctx_t w = { td_bcast_create(1024, sizeof(rec_t)), td_test_sanitized() ? 200000 : 3000000, 0 };
    rctx_t fast = { &w, 0, 0, 0 }, slow = { &w, 0, 0, 1 };
    pthread_t tw, tf, ts;
    pthread_create(&tf, NULL, reader, &fast);
    pthread_create(&ts, NULL, reader, &slow);
    pthread_create(&tw, NULL, writer, &w);
    pthread_join(tw, NULL);
    pthread_join(tf, NULL);
    pthread_join(ts, NULL);
    /* every record is either delivered intact and in order, or counted as lost */
    assert_int_equal(fast.got + fast.lost, w.n);
    assert_int_equal(slow.got + slow.lost, w.n);
    print_message("fast reader: %llu delivered, %llu lost; slow reader: %llu delivered, %llu lost\n",
                  (unsigned long long)fast.got, (unsigned long long)fast.lost, (unsigned long long)slow.got,
                  (unsigned long long)slow.lost);
    td_bcast_destroy(w.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_thread),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
