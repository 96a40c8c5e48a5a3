/* test_nbbo.c: NBBO across venues: hand-written cases (ties, locked, crossed, empty sides, stale
 * transitions, venue capacity) and a seeded random stream checked step by step against a naive reference
 * that keeps every exchange's quote in a table and sorts all candidates from scratch. */
#include "testutil.h"

#include <string.h>

#include "book/nbbo.h"
#include "core/common.h"
#include "core/rng.h"

#define PX(x) ((int64_t)(x) * 100000000LL)

static void set_top(td_nbbo_calc_t *c, uint8_t exch, int64_t bp, int64_t bq, int64_t ap, int64_t aq)
{
    assert_int_equal(td_nbbo_set_top(c, exch, bp, bq, ap, aq), TD_OK);
}

static void want_nbbo(const td_nbbo_t *n, int64_t bp, int64_t bq, int bx, int64_t ap, int64_t aq, int ax,
                      td_nbbo_state_t st)
{
    assert_int_equal(n->bid_px, bp);
    assert_int_equal(n->bid_qty, bq);
    assert_int_equal(n->bid_exch, bx);
    assert_int_equal(n->ask_px, ap);
    assert_int_equal(n->ask_qty, aq);
    assert_int_equal(n->ask_exch, ax);
    assert_int_equal(n->state, st);
}

static void test_empty_and_single(void **state)
{
    (void)state;
    td_nbbo_calc_t c;
    td_nbbo_t n;
    td_nbbo_init(&c);
    assert_false(td_nbbo_update(&c, &n)); /* nothing to say yet */
    td_nbbo_compute(&c, &n);
    want_nbbo(&n, 0, 0, 0, 0, 0, 0, TD_NBBO_NORMAL);

    set_top(&c, 3, PX(100), 5, 0, 0); /* bid only */
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(100), 5, 3, 0, 0, 0, TD_NBBO_NORMAL);
    assert_false(td_nbbo_update(&c, &n));

    set_top(&c, 3, PX(100), 5, PX(101), 7);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(100), 5, 3, PX(101), 7, 3, TD_NBBO_NORMAL);

    /* Same values again: nothing new to publish. */
    set_top(&c, 3, PX(100), 5, PX(101), 7);
    assert_false(td_nbbo_update(&c, &n));

    /* A size change alone is a change. */
    set_top(&c, 3, PX(100), 6, PX(101), 7);
    assert_true(td_nbbo_update(&c, &n));
    assert_int_equal(n.bid_qty, 6);

    /* The venue's book empties: the NBBO becomes empty, which is news. */
    set_top(&c, 3, 0, 0, 0, 0);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, 0, 0, 0, 0, 0, 0, TD_NBBO_NORMAL);
    assert_int_equal(c.nvenues, 0);

    /* A price with zero size is an empty side; the price is dropped. */
    set_top(&c, 4, PX(99), 0, PX(102), 1);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, 0, 0, 0, PX(102), 1, 4, TD_NBBO_NORMAL);
}

static void test_best_and_ties(void **state)
{
    (void)state;
    td_nbbo_calc_t c;
    td_nbbo_t n;
    td_nbbo_init(&c);
    set_top(&c, 1, PX(100), 5, PX(103), 5);
    set_top(&c, 2, PX(101), 1, PX(104), 9);
    set_top(&c, 7, PX(99), 9, PX(102), 2);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(101), 1, 2, PX(102), 2, 7, TD_NBBO_NORMAL);

    /* Equal bid price: the larger size wins (its own size, not the sum). */
    set_top(&c, 1, PX(101), 5, PX(103), 5);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(101), 5, 1, PX(102), 2, 7, TD_NBBO_NORMAL);

    /* Equal price and size: the lower exchange id wins, whatever order they were set in. */
    set_top(&c, 2, PX(101), 5, PX(102), 2);
    assert_true(td_nbbo_update(&c, &n)); /* ask: 2 beats 7 at 102 x 2 */
    want_nbbo(&n, PX(101), 5, 1, PX(102), 2, 2, TD_NBBO_NORMAL);

    /* The best venue worsens: the next best takes over. */
    set_top(&c, 1, PX(90), 5, PX(103), 5);
    set_top(&c, 2, PX(91), 5, PX(110), 2);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(99), 9, 7, PX(102), 2, 7, TD_NBBO_NORMAL);

    /* The best venue's book empties. */
    set_top(&c, 7, 0, 0, 0, 0);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(91), 5, 2, PX(103), 5, 1, TD_NBBO_NORMAL);
}

static void test_locked_crossed(void **state)
{
    (void)state;
    td_nbbo_calc_t c;
    td_nbbo_t n;
    td_nbbo_init(&c);
    set_top(&c, 1, PX(100), 5, PX(102), 5);
    set_top(&c, 2, PX(99), 5, PX(101), 5);
    assert_true(td_nbbo_update(&c, &n));
    assert_int_equal(n.state, TD_NBBO_NORMAL);

    set_top(&c, 2, PX(99), 5, PX(100), 3);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(100), 5, 1, PX(100), 3, 2, TD_NBBO_LOCKED);

    set_top(&c, 2, PX(99), 5, PX(98), 3);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(100), 5, 1, PX(98), 3, 2, TD_NBBO_CROSSED);

    /* One side empty is never locked or crossed. */
    set_top(&c, 1, 0, 0, PX(102), 5);
    set_top(&c, 2, 0, 0, PX(98), 3);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, 0, 0, 0, PX(98), 3, 2, TD_NBBO_NORMAL);

    /* A single venue can be locked against itself (a bad feed): reported as such. */
    td_nbbo_init(&c);
    set_top(&c, 5, PX(10), 1, PX(10), 1);
    assert_true(td_nbbo_update(&c, &n));
    assert_int_equal(n.state, TD_NBBO_LOCKED);
    assert_string_equal(td_nbbo_state_name(TD_NBBO_LOCKED), "locked");
    assert_string_equal(td_nbbo_state_name(TD_NBBO_CROSSED), "crossed");
    assert_string_equal(td_nbbo_state_name(TD_NBBO_STALE), "stale");
    assert_string_equal(td_nbbo_state_name(TD_NBBO_NORMAL), "normal");
}

static void test_stale(void **state)
{
    (void)state;
    td_nbbo_calc_t c;
    td_nbbo_t n;
    td_nbbo_init(&c);
    set_top(&c, 1, PX(100), 5, PX(102), 5);
    set_top(&c, 2, PX(99), 5, PX(101), 5);
    assert_true(td_nbbo_update(&c, &n));

    /* A gap opened and closed between two updates with nothing else changed: nothing to publish. */
    assert_int_equal(td_nbbo_set_gap(&c, 2, true), TD_OK);
    assert_int_equal(td_nbbo_set_gap(&c, 2, false), TD_OK);
    assert_false(td_nbbo_update(&c, &n));

    /* Into stale: published once, with the last known prices. */
    assert_int_equal(td_nbbo_set_gap(&c, 2, true), TD_OK);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(100), 5, 1, PX(101), 5, 2, TD_NBBO_STALE);
    assert_false(td_nbbo_update(&c, &n));

    /* Quotes move, a second venue gaps, one gap closes: all silent while any gap is open. */
    set_top(&c, 1, PX(100), 9, PX(102), 5);
    assert_false(td_nbbo_update(&c, &n));
    assert_int_equal(td_nbbo_set_gap(&c, 1, true), TD_OK);
    assert_int_equal(td_nbbo_set_gap(&c, 1, true), TD_OK); /* idempotent */
    assert_false(td_nbbo_update(&c, &n));
    set_top(&c, 2, 0, 0, 0, 0); /* the gapped venue's book is cleared for its snapshot */
    assert_false(td_nbbo_update(&c, &n));
    assert_int_equal(td_nbbo_set_gap(&c, 2, false), TD_OK); /* venue 2 is empty and whole: dropped */
    assert_false(td_nbbo_update(&c, &n));
    td_nbbo_compute(&c, &n);
    assert_int_equal(n.state, TD_NBBO_STALE);

    /* Last gap closes: a fresh NBBO, even though its prices equal those of the stale message. */
    assert_int_equal(td_nbbo_set_gap(&c, 1, false), TD_OK);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(100), 9, 1, PX(102), 5, 1, TD_NBBO_NORMAL);
    assert_false(td_nbbo_update(&c, &n));

    /* A gap on an exchange that never quoted still makes the symbol stale. */
    assert_int_equal(td_nbbo_set_gap(&c, 9, true), TD_OK);
    assert_true(td_nbbo_update(&c, &n));
    assert_int_equal(n.state, TD_NBBO_STALE);
    assert_int_equal(td_nbbo_set_gap(&c, 9, false), TD_OK);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(100), 9, 1, PX(102), 5, 1, TD_NBBO_NORMAL);
    assert_int_equal(c.nvenues, 1);
    /* Closing a gap nobody opened is harmless. */
    assert_int_equal(td_nbbo_set_gap(&c, 11, false), TD_OK);
    assert_false(td_nbbo_update(&c, &n));

    /* Stale before anything was published. */
    td_nbbo_init(&c);
    assert_int_equal(td_nbbo_set_gap(&c, 1, true), TD_OK);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, 0, 0, 0, 0, 0, 0, TD_NBBO_STALE);
    assert_int_equal(td_nbbo_set_gap(&c, 1, false), TD_OK);
    assert_true(td_nbbo_update(&c, &n)); /* fresh (empty) NBBO after the stale one */
    want_nbbo(&n, 0, 0, 0, 0, 0, 0, TD_NBBO_NORMAL);
}

static void test_capacity_and_errors(void **state)
{
    (void)state;
    td_nbbo_calc_t c;
    td_nbbo_t n;
    td_nbbo_init(&c);
    for (int e = 1; e <= TD_NBBO_MAX_VENUES; e++) set_top(&c, (uint8_t)e, PX(100 - e), 1, PX(200 + e), 1);
    assert_int_equal(td_nbbo_set_top(&c, 40, PX(150), 1, PX(151), 1), TD_ENOBUFS);
    assert_int_equal(td_nbbo_set_gap(&c, 40, true), TD_ENOBUFS);
    assert_int_equal(td_nbbo_set_top(&c, 40, 0, 0, 0, 0), TD_OK); /* empty: nothing to keep */
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(99), 1, 1, PX(201), 1, 1, TD_NBBO_NORMAL); /* 40 was ignored */
    /* An existing venue can still update when full. */
    set_top(&c, 16, PX(150), 1, PX(216), 1);
    assert_true(td_nbbo_update(&c, &n));
    assert_int_equal(n.bid_exch, 16);
    /* A venue that empties frees its slot. */
    set_top(&c, 5, 0, 0, 0, 0);
    assert_int_equal(td_nbbo_set_top(&c, 40, PX(150), 2, PX(151), 1), TD_OK);
    assert_true(td_nbbo_update(&c, &n));
    want_nbbo(&n, PX(150), 2, 40, PX(151), 1, 40, TD_NBBO_NORMAL);

    assert_int_equal(td_nbbo_set_top(&c, 0, PX(1), 1, PX(2), 1), TD_EINVAL);
    assert_int_equal(td_nbbo_set_top(&c, 3, PX(1), -1, PX(2), 1), TD_EINVAL);
    assert_int_equal(td_nbbo_set_top(&c, 3, PX(1), 1, PX(2), -1), TD_EINVAL);
    assert_int_equal(td_nbbo_set_gap(&c, 0, true), TD_EINVAL);
    assert_false(td_nbbo_update(&c, &n)); /* the rejected calls changed nothing */
}

/* ---- naive reference: a table over every exchange id; best = first after a full sort ---- */

typedef struct ref_quote { int64_t px, qty; uint8_t exch; } ref_quote_t;

typedef struct ref {
    bool live[256];
    int64_t bid_px[256], bid_qty[256], ask_px[256], ask_qty[256];
    bool gap[256];
    int nlive;
    td_nbbo_t last;       /* last published (starts as the empty NBBO) */
} ref_t;

static int cmp_bid(const void *a, const void *b)
{
    const ref_quote_t *x = a, *y = b;
    if (x->px != y->px) return x->px > y->px ? -1 : 1;
    if (x->qty != y->qty) return x->qty > y->qty ? -1 : 1;
    return (int)x->exch - (int)y->exch;
}

static int cmp_ask(const void *a, const void *b)
{
    const ref_quote_t *x = a, *y = b;
    if (x->px != y->px) return x->px < y->px ? -1 : 1;
    if (x->qty != y->qty) return x->qty > y->qty ? -1 : 1;
    return (int)x->exch - (int)y->exch;
}

static void ref_relive(ref_t *r, int e)
{
    bool l = r->bid_qty[e] > 0 || r->ask_qty[e] > 0 || r->gap[e];
    if (l != r->live[e]) r->nlive += l ? 1 : -1;
    r->live[e] = l;
}

static int ref_set_top(ref_t *r, int e, int64_t bp, int64_t bq, int64_t ap, int64_t aq)
{
    bool empty = bq == 0 && aq == 0;
    if (!r->live[e] && !empty && r->nlive >= TD_NBBO_MAX_VENUES) return TD_ENOBUFS;
    r->bid_px[e] = bq ? bp : 0;
    r->bid_qty[e] = bq;
    r->ask_px[e] = aq ? ap : 0;
    r->ask_qty[e] = aq;
    ref_relive(r, e);
    return TD_OK;
}

static int ref_set_gap(ref_t *r, int e, bool gap)
{
    if (gap && !r->live[e] && r->nlive >= TD_NBBO_MAX_VENUES) return TD_ENOBUFS;
    r->gap[e] = gap;
    ref_relive(r, e);
    return TD_OK;
}

static void ref_compute(const ref_t *r, td_nbbo_t *n)
{
    ref_quote_t bids[256], asks[256];
    int nb = 0, na = 0;
    bool any_gap = false;
    for (int e = 1; e < 256; e++) {
        if (!r->live[e]) continue;
        any_gap |= r->gap[e];
        if (r->bid_qty[e] > 0) bids[nb++] = (ref_quote_t){ r->bid_px[e], r->bid_qty[e], (uint8_t)e };
        if (r->ask_qty[e] > 0) asks[na++] = (ref_quote_t){ r->ask_px[e], r->ask_qty[e], (uint8_t)e };
    }
    qsort(bids, (size_t)nb, sizeof bids[0], cmp_bid);
    qsort(asks, (size_t)na, sizeof asks[0], cmp_ask);
    memset(n, 0, sizeof *n);
    if (nb) { n->bid_px = bids[0].px; n->bid_qty = bids[0].qty; n->bid_exch = bids[0].exch; }
    if (na) { n->ask_px = asks[0].px; n->ask_qty = asks[0].qty; n->ask_exch = asks[0].exch; }
    if (any_gap) n->state = TD_NBBO_STALE;
    else if (nb && na && n->bid_px == n->ask_px) n->state = TD_NBBO_LOCKED;
    else if (nb && na && n->bid_px > n->ask_px) n->state = TD_NBBO_CROSSED;
    else n->state = TD_NBBO_NORMAL;
}

/* Field by field: the struct has padding, which memcmp would read. */
static bool nbbo_eq(const td_nbbo_t *a, const td_nbbo_t *b)
{
    return a->bid_px == b->bid_px && a->bid_qty == b->bid_qty && a->bid_exch == b->bid_exch &&
           a->ask_px == b->ask_px && a->ask_qty == b->ask_qty && a->ask_exch == b->ask_exch &&
           a->state == b->state;
}

static bool ref_update(ref_t *r, td_nbbo_t *n)
{
    ref_compute(r, n);
    bool changed;
    if (n->state == TD_NBBO_STALE) changed = r->last.state != TD_NBBO_STALE; /* once into stale */
    else changed = !nbbo_eq(n, &r->last);
    if (changed) r->last = *n;
    return changed;
}

static void run_random(td_rng_t *rng, int nexch, int steps, int *counts)
{
    uint8_t ids[64];
    /* Random distinct exchange ids, so that the tie-break by id is not the insertion order. */
    for (int i = 0; i < nexch; i++) {
        uint8_t id;
        bool dup;
        do {
            id = (uint8_t)(1 + td_rng_below(rng, 63));
            dup = false;
            for (int j = 0; j < i; j++) dup |= ids[j] == id;
        } while (dup);
        ids[i] = id;
    }
    td_nbbo_calc_t c;
    td_nbbo_init(&c);
    static ref_t r;
    memset(&r, 0, sizeof r);
    int64_t mid = PX(100);
    for (int step = 0; step < steps; step++) {
        int nops = 1 + (int)td_rng_below(rng, 3);
        for (int k = 0; k < nops; k++) {
            uint8_t e = ids[td_rng_below(rng, (uint64_t)nexch)];
            uint64_t what = td_rng_below(rng, 1000);
            int rc, want;
            if (what < 8) {
                rc = td_nbbo_set_gap(&c, e, true);
                want = ref_set_gap(&r, e, true);
            } else if (what < 60) {
                rc = td_nbbo_set_gap(&c, e, false);
                want = ref_set_gap(&r, e, false);
            } else {
                /* Small price grid and sizes so that ties, locks and crosses are common. */
                if (td_rng_below(rng, 50) == 0) mid += PX((int64_t)td_rng_below(rng, 5) - 2);
                int64_t bp = mid - PX((int64_t)td_rng_below(rng, 4));
                int64_t ap = mid + PX((int64_t)td_rng_below(rng, 4) - 1);
                int64_t bq = (int64_t)td_rng_below(rng, 4);
                int64_t aq = (int64_t)td_rng_below(rng, 4);
                if (what < 100) bq = aq = 0; /* the venue's book empties */
                rc = td_nbbo_set_top(&c, e, bp, bq, ap, aq);
                want = ref_set_top(&r, e, bp, bq, ap, aq);
            }
            TD_CHECK(rc == want, "step %d exch %u: rc %d want %d", step, e, rc, want);
        }
        td_nbbo_t got, exp;
        memset(&got, 0xAB, sizeof got);
        bool ch = td_nbbo_update(&c, &got);
        bool wch = ref_update(&r, &exp);
        TD_CHECK(ch == wch, "step %d: changed %d want %d (state want %s, venues %d)", step, ch, wch,
                 td_nbbo_state_name(exp.state), r.nlive);
        if (ch) {
            TD_CHECK(nbbo_eq(&got, &exp),
                     "step %d: got %lld x %lld @%u / %lld x %lld @%u %s, want %lld x %lld @%u / %lld x %lld @%u %s",
                     step, (long long)got.bid_px, (long long)got.bid_qty, got.bid_exch, (long long)got.ask_px,
                     (long long)got.ask_qty, got.ask_exch, td_nbbo_state_name(got.state),
                     (long long)exp.bid_px, (long long)exp.bid_qty, exp.bid_exch, (long long)exp.ask_px,
                     (long long)exp.ask_qty, exp.ask_exch, td_nbbo_state_name(exp.state));
            counts[got.state]++;
        }
        td_nbbo_t cur, rcur;
        td_nbbo_compute(&c, &cur);
        ref_compute(&r, &rcur);
        TD_CHECK(nbbo_eq(&cur, &rcur), "step %d: compute differs", step);
        TD_CHECK(c.nvenues == r.nlive, "step %d: %d venues, want %d", step, c.nvenues, r.nlive);
        if (td_rng_below(rng, 20) == 0) TD_CHECK(!td_nbbo_update(&c, &got), "step %d: repeat update", step);
    }
}

static void test_random_vs_reference(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    int steps = td_test_sanitized() ? 20000 : 60000;
    int counts[4] = { 0 };
    const int nexch[] = { 1, 2, 4, 8, 16, 24 }; /* 24: more exchanges than slots, so TD_ENOBUFS happens */
    for (size_t i = 0; i < TD_ARRAY_LEN(nexch); i++) run_random(&rng, nexch[i], steps, counts);
    /* The stream must actually exercise every state transition it claims to test. */
    for (int s = 0; s < 4; s++)
        TD_CHECK(counts[s] > 100, "only %d publications in state %s", counts[s],
                 td_nbbo_state_name((td_nbbo_state_t)s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_single), cmocka_unit_test(test_best_and_ties),
        cmocka_unit_test(test_locked_crossed),   cmocka_unit_test(test_stale),
        cmocka_unit_test(test_capacity_and_errors), cmocka_unit_test(test_random_vs_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
