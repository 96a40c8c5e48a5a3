/* test_obook.c: the order-level book against a naive reference (an unsorted array of live orders scanned
 * linearly; levels rebuilt by sorting) on seeded random streams that grow and shrink the book, comparing
 * return codes, infos, order lookups, best levels and counts after every step and full depth plus the L3
 * FIFO every few steps; then edge cases and memory (per-order target, back to baseline when emptied). */
#include "testutil.h"

#include <string.h>

#include "book/book.h"
#include "book_check.h"
#include "core/common.h"
#include "core/event.h"
#include "core/rng.h"

/* ---- naive reference ---- */
typedef struct rorder {
    uint64_t id;
    int side;
    int64_t price, qty;
    uint64_t seq; /* time priority: larger = later */
} rorder_t;

typedef struct ref {
    rorder_t *o;
    size_t n, cap;
    uint64_t seq;
} ref_t;

static long ref_find(const ref_t *r, uint64_t id)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->o[i].id == id) return (long)i;
    return -1;
}

static void ref_remove(ref_t *r, long i) { r->o[i] = r->o[--r->n]; }

static int64_t ref_level_qty(const ref_t *r, int side, int64_t price, size_t skip)
{
    int64_t q = 0;
    for (size_t i = 0; i < r->n; i++)
        if (i != skip && r->o[i].side == side && r->o[i].price == price) q += r->o[i].qty;
    return q;
}

static bool would_overflow(const ref_t *r, int side, int64_t price, int64_t qty, size_t skip)
{
    int64_t q = ref_level_qty(r, side, price, skip), s;
    return __builtin_add_overflow(q, qty, &s);
}

static int ref_add(ref_t *r, uint64_t id, int side, int64_t price, int64_t qty)
{
    if ((side != 0 && side != 1) || price <= 0 || qty <= 0) return TD_EINVAL;
    if (ref_find(r, id) >= 0) return TD_EEXIST;
    if (would_overflow(r, side, price, qty, SIZE_MAX)) return TD_ERANGE;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->o = realloc(r->o, r->cap * sizeof *r->o);
    }
    r->o[r->n++] = (rorder_t){.id = id, .side = side, .price = price, .qty = qty, .seq = ++r->seq};
    return TD_OK;
}

static int ref_reduce(ref_t *r, uint64_t id, int64_t qty, td_order_info_t *info)
{
    if (qty <= 0) return TD_EINVAL;
    long i = ref_find(r, id);
    if (i < 0) return TD_ENOENT;
    rorder_t *o = &r->o[i];
    *info = (td_order_info_t){.order_id = id, .price = o->price, .side = (uint8_t)o->side};
    if (qty < o->qty) {
        o->qty -= qty;
        info->qty = o->qty;
        info->removed = qty;
        return TD_OK;
    }
    info->qty = 0;
    info->removed = o->qty;
    int rc = qty > o->qty ? TD_ERANGE : TD_OK;
    ref_remove(r, i);
    return rc;
}

static int ref_delete(ref_t *r, uint64_t id, td_order_info_t *info)
{
    long i = ref_find(r, id);
    if (i < 0) return TD_ENOENT;
    rorder_t *o = &r->o[i];
    *info = (td_order_info_t){.order_id = id, .price = o->price, .qty = 0, .removed = o->qty, .side = (uint8_t)o->side};
    ref_remove(r, i);
    return TD_OK;
}

static int ref_replace(ref_t *r, uint64_t id, uint64_t new_id, int64_t price, int64_t qty, td_order_info_t *info)
{
    if (price <= 0 || qty <= 0) return TD_EINVAL;
    long i = ref_find(r, id);
    if (i < 0) return TD_ENOENT;
    if (new_id != id && ref_find(r, new_id) >= 0) return TD_EEXIST;
    rorder_t *o = &r->o[i];
    if (would_overflow(r, o->side, price, qty, (size_t)i)) return TD_ERANGE;
    *info = (td_order_info_t){.order_id = id, .price = o->price, .qty = 0, .removed = o->qty, .side = (uint8_t)o->side};
    o->id = new_id;
    o->price = price;
    o->qty = qty;
    o->seq = ++r->seq;
    return TD_OK;
}

/* Levels of a side, best first, by sorting a copy of the orders: slow and plain. */
static int side_of_sort;
static int cmp_orders(const void *a, const void *b)
{
    const rorder_t *x = a, *y = b;
    if (x->price != y->price) return (x->price < y->price) == (side_of_sort == TD_ASK) ? -1 : 1;
    return x->seq < y->seq ? -1 : 1;
}

static size_t ref_levels(const ref_t *r, int side, td_level_t *out, rorder_t *tmp)
{
    size_t m = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->o[i].side == side) tmp[m++] = r->o[i];
    side_of_sort = side;
    qsort(tmp, m, sizeof *tmp, cmp_orders);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (k == 0 || out[k - 1].price != tmp[i].price) out[k++] = (td_level_t){.price = tmp[i].price};
        out[k - 1].qty += tmp[i].qty;
        out[k - 1].count++;
    }
    return k;
}

static bool info_eq(const td_order_info_t *a, const td_order_info_t *b)
{
    return a->order_id == b->order_id && a->price == b->price && a->qty == b->qty && a->removed == b->removed &&
           a->side == b->side;
}

#define INFO_FMT "{id %llu px %lld qty %lld removed %lld side %u}"
#define INFO_ARGS(i) (unsigned long long)(i).order_id, (long long)(i).price, (long long)(i).qty, (long long)(i).removed, (i).side

/* ---- the comparison ---- */
typedef struct cmp_ctx {
    td_level_t *got, *want;
    rorder_t *tmp;
    td_order_info_t *l3;
    size_t cap;
} cmp_ctx_t;

static void compare_top(const td_obook_t *b, const ref_t *r, long step)
{
    TD_CHECK(td_obook_norders(b) == r->n, "step %ld: norders %zu want %zu", step, td_obook_norders(b), r->n);
    const td_lbook_t *lb = td_obook_levels(b);
    for (int side = 0; side < 2; side++) {
        long m = -1;
        for (size_t i = 0; i < r->n; i++)
            if (r->o[i].side == side &&
                (m < 0 || (side == TD_BID ? r->o[i].price > r->o[m].price : r->o[i].price < r->o[m].price)))
                m = (long)i;
        td_level_t lv;
        int rc = td_lbook_best(lb, side, &lv);
        if (m < 0) {
            TD_CHECK(rc == TD_ENOENT, "step %ld side %d: best on an empty side gave %d", step, side, rc);
            continue;
        }
        int64_t px = r->o[m].price, q = 0;
        uint32_t c = 0;
        for (size_t i = 0; i < r->n; i++)
            if (r->o[i].side == side && r->o[i].price == px) q += r->o[i].qty, c++;
        TD_CHECK(rc == TD_OK && lv.price == px && lv.qty == q && lv.count == c,
                 "step %ld side %d: best %lld x %lld (%u), want %lld x %lld (%u)", step, side, (long long)lv.price,
                 (long long)lv.qty, lv.count, (long long)px, (long long)q, c);
    }
}

static void compare_full(const td_obook_t *b, const ref_t *r, cmp_ctx_t *c, td_rng_t *rng, long step)
{
    const td_lbook_t *lb = td_obook_levels(b);
    const char *why = book_check(lb);
    TD_CHECK(why == NULL, "step %ld: level structure: %s", step, why);
    for (int side = 0; side < 2; side++) {
        size_t nw = ref_levels(r, side, c->want, c->tmp);
        size_t ng = td_lbook_depth(lb, side, c->got, c->cap);
        TD_CHECK(ng == nw, "step %ld side %d: %zu levels, want %zu", step, side, ng, nw);
        for (size_t i = 0; i < nw; i++)
            TD_CHECK(c->got[i].price == c->want[i].price && c->got[i].qty == c->want[i].qty &&
                         c->got[i].count == c->want[i].count,
                     "step %ld side %d level %zu: %lld x %lld (%u), want %lld x %lld (%u)", step, side, i,
                     (long long)c->got[i].price, (long long)c->got[i].qty, c->got[i].count,
                     (long long)c->want[i].price, (long long)c->want[i].qty, c->want[i].count);
        /* the L3 view of one level: same orders in the same time priority (tmp is sorted by price, seq) */
        if (nw == 0) continue;
        int64_t px = c->want[td_rng_below(rng, nw)].price;
        size_t nl = td_obook_orders_at(b, side, px, c->l3, c->cap), k = 0;
        size_t m = 0;
        for (size_t i = 0; i < r->n; i++) m += r->o[i].side == side;
        for (size_t i = 0; i < m; i++) {
            if (c->tmp[i].price != px) continue;
            TD_CHECK(k < nl && c->l3[k].order_id == c->tmp[i].id && c->l3[k].qty == c->tmp[i].qty &&
                         c->l3[k].price == px && c->l3[k].side == side,
                     "step %ld side %d px %lld: FIFO position %zu differs", step, side, (long long)px, k);
            k++;
        }
        TD_CHECK(k == nl, "step %ld: orders_at gave %zu orders, want %zu", step, nl, k);
    }
}

/* ---- the random stream ---- */
static uint64_t pick_id(td_rng_t *rng, const ref_t *r, uint64_t next_id)
{
    unsigned x = (unsigned)td_rng_below(rng, 100);
    if (x < 85 && r->n) return r->o[td_rng_below(rng, r->n)].id;  /* live */
    if (x < 95) return td_rng_below(rng, next_id + 1);             /* probably dead, maybe reused */
    return td_rng_next(rng);                                       /* unknown, anywhere in 64 bits */
}

static int64_t pick_price(td_rng_t *rng, int64_t *mid, int64_t spread)
{
    if (td_rng_below(rng, 50) == 0) *mid += (int64_t)td_rng_below(rng, 3) - 1;
    if (*mid < spread + 2) *mid = spread + 2;
    unsigned x = (unsigned)td_rng_below(rng, 2000);
    if (x == 0) return INT64_MAX;
    if (x == 1) return 1;
    int64_t off = (int64_t)(td_rng_below(rng, (uint64_t)spread) * td_rng_below(rng, (uint64_t)spread) / (uint64_t)spread);
    return *mid + (td_rng_below(rng, 2) ? off : -off);
}

static int64_t pick_qty(td_rng_t *rng)
{
    unsigned x = (unsigned)td_rng_below(rng, 1000);
    if (x == 0) return INT64_MAX - (int64_t)td_rng_below(rng, 10);  /* overflow the level total */
    if (x < 5) return 0;                                             /* invalid */
    return (int64_t)td_rng_below(rng, 500) + 1;
}

static void run_random(uint64_t seed, long steps, int64_t spread, size_t high)
{
    td_rng_t rng;
    td_rng_seed(&rng, seed);
    ref_t r = {0};
    cmp_ctx_t c = {.cap = 4 * high + 1024};
    c.got = malloc(c.cap * sizeof *c.got);
    c.want = malloc(c.cap * sizeof *c.want);
    c.tmp = malloc(c.cap * sizeof *c.tmp);
    c.l3 = malloc(c.cap * sizeof *c.l3);
    td_obook_t *b = td_obook_create();
    size_t base = td_obook_mem_bytes(b);
    int64_t mid = 100000;
    uint64_t next_id = 1;
    size_t target;
    long emptied = 0;
    for (long step = 0; step < steps; step++) {
        /* swing the live count between ~0 and `high` so growth, compaction and emptying all happen */
        long phase = step / 5000;
        target = phase % 2 == 0 ? high : phase % 4 == 1 ? 0 : 20;
        bool grow = r.n < target;
        unsigned op = (unsigned)td_rng_below(&rng, 100);
        if (target == 0 && td_rng_below(&rng, 10)) op = 80 + op % 10; /* drain: mostly deletes */
        /* hints only: they must be safe for any id, live or not, and change nothing */
        td_obook_prefetch_slot(b, pick_id(&rng, &r, next_id));
        td_obook_prefetch_order(b, pick_id(&rng, &r, next_id));
        uint64_t v0 = td_lbook_version(td_obook_levels(b));
        int rc = 0, want_rc = 0;
        bool changed = false;
        td_order_info_t gi = {0}, wi = {0};
        if (op < (grow ? 55u : target == 0 ? 2u : 25u)) {
            uint64_t id = td_rng_below(&rng, 20) == 0 ? pick_id(&rng, &r, next_id) : next_id++;
            int side = td_rng_below(&rng, 500) == 0 ? 2 : (int)td_rng_below(&rng, 2);
            int64_t price = pick_price(&rng, &mid, spread), qty = pick_qty(&rng);
            want_rc = ref_add(&r, id, side, price, qty);
            rc = td_obook_add(b, id, side, price, qty);
            TD_CHECK(rc == want_rc, "step %ld: add(%llu, %d, %lld, %lld) = %d, want %d", step,
                     (unsigned long long)id, side, (long long)price, (long long)qty, rc, want_rc);
            changed = rc == TD_OK;
        } else if (op < 80) {
            uint64_t id = pick_id(&rng, &r, next_id);
            long i = ref_find(&r, id);
            int64_t open = i >= 0 ? r.o[i].qty : 100, qty;
            unsigned how = (unsigned)td_rng_below(&rng, 10);
            if (how == 0) qty = open;                                     /* exactly everything */
            else if (how == 1) { /* more than open (saturating: an order can hold up to INT64_MAX) */
                if (__builtin_add_overflow(open, 1 + (int64_t)td_rng_below(&rng, 50), &qty)) qty = INT64_MAX;
            }
            else if (how == 2 && td_rng_below(&rng, 10) == 0) qty = -(int64_t)td_rng_below(&rng, 2); /* invalid */
            else qty = (int64_t)td_rng_below(&rng, (uint64_t)open) + 1;
            want_rc = ref_reduce(&r, id, qty, &wi);
            rc = op < 55 ? td_obook_exec(b, id, qty, &gi) : td_obook_cancel(b, id, qty, &gi);
            TD_CHECK(rc == want_rc, "step %ld: %s(%llu, %lld) = %d, want %d", step, op < 55 ? "exec" : "cancel",
                     (unsigned long long)id, (long long)qty, rc, want_rc);
            if (rc == TD_OK || rc == TD_ERANGE)
                TD_CHECK(info_eq(&gi, &wi), "step %ld: info " INFO_FMT " want " INFO_FMT, step, INFO_ARGS(gi), INFO_ARGS(wi));
            changed = rc == TD_OK || rc == TD_ERANGE;
        } else if (op < 90) {
            uint64_t id = pick_id(&rng, &r, next_id);
            want_rc = ref_delete(&r, id, &wi);
            bool with_info = td_rng_below(&rng, 4) != 0;
            rc = td_obook_delete(b, id, with_info ? &gi : NULL);
            if (!with_info) gi = wi;
            TD_CHECK(rc == want_rc, "step %ld: delete(%llu) = %d, want %d", step, (unsigned long long)id, rc, want_rc);
            if (rc == TD_OK) TD_CHECK(info_eq(&gi, &wi), "step %ld: delete info " INFO_FMT " want " INFO_FMT, step, INFO_ARGS(gi), INFO_ARGS(wi));
            changed = rc == TD_OK;
        } else if (op < 97) {
            uint64_t id = pick_id(&rng, &r, next_id), new_id;
            unsigned how = (unsigned)td_rng_below(&rng, 10);
            if (how == 0) new_id = id;                          /* same id: re-queued */
            else if (how < 3) new_id = pick_id(&rng, &r, next_id); /* likely live: TD_EEXIST */
            else new_id = next_id++;
            int64_t price = td_rng_below(&rng, 3) == 0 && ref_find(&r, id) >= 0 ? r.o[ref_find(&r, id)].price
                                                                               : pick_price(&rng, &mid, spread);
            int64_t qty = pick_qty(&rng);
            want_rc = ref_replace(&r, id, new_id, price, qty, &wi);
            rc = td_obook_replace(b, id, new_id, price, qty, &gi);
            TD_CHECK(rc == want_rc, "step %ld: replace(%llu -> %llu, %lld, %lld) = %d, want %d", step,
                     (unsigned long long)id, (unsigned long long)new_id, (long long)price, (long long)qty, rc, want_rc);
            if (rc == TD_OK) TD_CHECK(info_eq(&gi, &wi), "step %ld: replace info " INFO_FMT " want " INFO_FMT, step, INFO_ARGS(gi), INFO_ARGS(wi));
            changed = rc == TD_OK;
        } else {
            uint64_t id = pick_id(&rng, &r, next_id);
            long i = ref_find(&r, id);
            rc = td_obook_get(b, id, &gi);
            TD_CHECK(rc == (i < 0 ? TD_ENOENT : TD_OK), "step %ld: get(%llu) = %d", step, (unsigned long long)id, rc);
            if (i >= 0) {
                wi = (td_order_info_t){.order_id = id, .price = r.o[i].price, .qty = r.o[i].qty, .side = (uint8_t)r.o[i].side};
                TD_CHECK(info_eq(&gi, &wi), "step %ld: get info " INFO_FMT " want " INFO_FMT, step, INFO_ARGS(gi), INFO_ARGS(wi));
            }
        }
        uint64_t v1 = td_lbook_version(td_obook_levels(b));
        TD_CHECK(changed ? v1 > v0 : v1 == v0, "step %ld: version %llu -> %llu, changed=%d", step,
                 (unsigned long long)v0, (unsigned long long)v1, changed);
        compare_top(b, &r, step);
        if (step % 8 == 0 || r.n < 10) compare_full(b, &r, &c, &rng, step);
        if (r.n == 0) {
            emptied++;
            TD_CHECK(td_obook_mem_bytes(b) == base, "step %ld: empty book holds %zu bytes, baseline %zu", step,
                     td_obook_mem_bytes(b), base);
        }
    }
    TD_CHECK(emptied > 0 || steps < 8000, "the stream never emptied the book");
    compare_full(b, &r, &c, &rng, steps);
    td_obook_destroy(b);
    free(r.o);
    free(c.got);
    free(c.want);
    free(c.tmp);
    free(c.l3);
}

static void test_random_top_heavy(void **state)
{
    (void)state;
    uint64_t seed = td_test_seed();
    run_random(seed, td_test_sanitized() ? 20000 : 60000, 30, 1500);
}

static void test_random_wide(void **state)
{
    (void)state;
    uint64_t seed = td_test_seed(); /* same seed as its sibling test: the printed seed replays both */
    run_random(seed, td_test_sanitized() ? 15000 : 40000, 2000, 2500);
}

/* ---- edge cases ---- */
static uint64_t version(const td_obook_t *b) { return td_lbook_version(td_obook_levels(b)); }

static void want_level(const td_obook_t *b, int side, int64_t px, int64_t qty, uint32_t count)
{
    td_level_t lv;
    int rc = td_lbook_get(td_obook_levels(b), side, px, &lv);
    if (qty == 0) {
        if (rc != TD_ENOENT) fail_msg("level %lld on side %d should be gone", (long long)px, side);
        return;
    }
    if (rc != TD_OK || lv.qty != qty || lv.count != count)
        fail_msg("level %lld side %d: rc %d, %lld x %u, want %lld x %u", (long long)px, side, rc, (long long)lv.qty,
                 lv.count, (long long)qty, count);
}

static void test_edges(void **state)
{
    (void)state;
    td_obook_t *b = td_obook_create();
    td_order_info_t info;
    td_level_t lv;
    /* bad arguments */
    assert_int_equal(td_obook_add(b, 1, 2, 100, 1), TD_EINVAL);
    assert_int_equal(td_obook_add(b, 1, TD_BID, 0, 1), TD_EINVAL);
    assert_int_equal(td_obook_add(b, 1, TD_BID, 100, 0), TD_EINVAL);
    assert_int_equal(td_obook_add(b, 1, TD_BID, 100, -3), TD_EINVAL);
    assert_int_equal(version(b), 0);
    /* empty book */
    assert_int_equal(td_lbook_best(td_obook_levels(b), TD_BID, &lv), TD_ENOENT);
    assert_int_equal(td_obook_exec(b, 1, 1, &info), TD_ENOENT);
    assert_int_equal(td_obook_cancel(b, 1, 1, &info), TD_ENOENT);
    assert_int_equal(td_obook_delete(b, 1, &info), TD_ENOENT);
    assert_int_equal(td_obook_replace(b, 1, 2, 100, 1, &info), TD_ENOENT);
    assert_int_equal(td_obook_get(b, 1, &info), TD_ENOENT);
    assert_int_equal(td_obook_orders_at(b, TD_BID, 100, &info, 1), 0);

    /* ids at the ends of the range, duplicates */
    assert_int_equal(td_obook_add(b, 0, TD_BID, 100, 10), TD_OK);
    assert_int_equal(td_obook_add(b, UINT64_MAX, TD_BID, 100, 20), TD_OK);
    assert_int_equal(td_obook_add(b, 7, TD_ASK, 101, 5), TD_OK);
    uint64_t v = version(b);
    assert_int_equal(td_obook_add(b, 7, TD_BID, 99, 5), TD_EEXIST);
    assert_int_equal(version(b), v);
    want_level(b, TD_BID, 100, 30, 2);
    want_level(b, TD_BID, 99, 0, 0);

    /* exec: partial, invalid, more than open (removed, TD_ERANGE, info filled) */
    assert_int_equal(td_obook_exec(b, 0, 0, &info), TD_EINVAL);
    assert_int_equal(td_obook_exec(b, 0, 4, &info), TD_OK);
    assert_int_equal(info.qty, 6);
    assert_int_equal(info.removed, 4);
    assert_int_equal(info.price, 100);
    want_level(b, TD_BID, 100, 26, 2);
    assert_int_equal(td_obook_exec(b, 0, 9, &info), TD_ERANGE);
    assert_int_equal(info.order_id, 0);
    assert_int_equal(info.qty, 0);
    assert_int_equal(info.removed, 6);
    assert_int_equal(info.side, TD_BID);
    assert_int_equal(td_obook_get(b, 0, &info), TD_ENOENT);
    want_level(b, TD_BID, 100, 20, 1);
    /* cancel everything removes the order */
    assert_int_equal(td_obook_cancel(b, UINT64_MAX, 20, &info), TD_OK);
    assert_int_equal(info.removed, 20);
    want_level(b, TD_BID, 100, 0, 0);
    assert_int_equal(td_lbook_best(td_obook_levels(b), TD_BID, &lv), TD_ENOENT);
    assert_int_equal(td_obook_norders(b), 1);

    /* replace: onto a live id changes nothing; to another price moves the order to the back there */
    assert_int_equal(td_obook_add(b, 8, TD_ASK, 102, 3), TD_OK);
    assert_int_equal(td_obook_add(b, 9, TD_ASK, 102, 4), TD_OK);
    v = version(b);
    assert_int_equal(td_obook_replace(b, 7, 8, 102, 50, &info), TD_EEXIST);
    assert_int_equal(td_obook_replace(b, 7, 70, 0, 50, &info), TD_EINVAL);
    assert_int_equal(td_obook_replace(b, 7, 70, 102, 0, &info), TD_EINVAL);
    assert_int_equal(td_obook_replace(b, 1234, 70, 102, 1, &info), TD_ENOENT);
    assert_int_equal(version(b), v);
    want_level(b, TD_ASK, 101, 5, 1);
    want_level(b, TD_ASK, 102, 7, 2);
    assert_int_equal(td_obook_replace(b, 7, 70, 102, 50, &info), TD_OK);
    assert_int_equal(info.order_id, 7);
    assert_int_equal(info.price, 101);
    assert_int_equal(info.removed, 5);
    assert_true(version(b) > v);
    want_level(b, TD_ASK, 101, 0, 0);
    want_level(b, TD_ASK, 102, 57, 3);
    assert_int_equal(td_obook_get(b, 7, &info), TD_ENOENT);
    assert_int_equal(td_obook_get(b, 70, &info), TD_OK);
    assert_int_equal(info.qty, 50);
    td_order_info_t q[4];
    assert_int_equal(td_obook_orders_at(b, TD_ASK, 102, q, 4), 3);
    assert_int_equal(q[0].order_id, 8);
    assert_int_equal(q[1].order_id, 9);
    assert_int_equal(q[2].order_id, 70);
    /* same id, same price: loses priority */
    assert_int_equal(td_obook_replace(b, 8, 8, 102, 3, &info), TD_OK);
    assert_int_equal(td_obook_orders_at(b, TD_ASK, 102, q, 4), 3);
    assert_int_equal(q[0].order_id, 9);
    assert_int_equal(q[2].order_id, 8);
    assert_int_equal(td_obook_orders_at(b, TD_ASK, 102, q, 2), 2); /* max respected */

    /* extreme prices and level totals that would overflow */
    assert_int_equal(td_obook_add(b, 100, TD_BID, INT64_MAX, INT64_MAX), TD_OK);
    assert_int_equal(td_obook_add(b, 101, TD_BID, INT64_MAX, 1), TD_ERANGE);
    assert_int_equal(td_obook_get(b, 101, &info), TD_ENOENT);
    assert_int_equal(td_obook_add(b, 101, TD_BID, 1, INT64_MAX), TD_OK);
    assert_int_equal(td_obook_replace(b, 101, 102, INT64_MAX, 1, &info), TD_ERANGE);
    assert_int_equal(td_obook_get(b, 101, &info), TD_OK);
    assert_int_equal(td_obook_replace(b, 100, 103, INT64_MAX, INT64_MAX, &info), TD_OK); /* its own qty is freed */
    assert_int_equal(td_lbook_best(td_obook_levels(b), TD_BID, &lv), TD_OK);
    assert_int_equal(lv.price, INT64_MAX);
    assert_int_equal(lv.qty, INT64_MAX);
    assert_int_equal(lv.count, 1);
    assert_int_equal(td_obook_delete(b, 103, NULL), TD_OK);
    assert_int_equal(td_lbook_best(td_obook_levels(b), TD_BID, &lv), TD_OK);
    assert_int_equal(lv.price, 1);

    /* clear: empty, reusable, same ids accepted again */
    v = version(b);
    td_obook_clear(b);
    assert_true(version(b) > v);
    assert_int_equal(td_obook_norders(b), 0);
    assert_int_equal(td_lbook_nlevels(td_obook_levels(b), TD_ASK), 0);
    assert_int_equal(td_obook_get(b, 8, &info), TD_ENOENT);
    assert_int_equal(td_obook_add(b, 8, TD_ASK, 5, 5), TD_OK);
    td_obook_destroy(b);
    td_obook_destroy(NULL);
}

/* Bytes per live order stay under the target at every size, and an emptied or cleared book is back at its
 * creation footprint. */
static void test_memory(void **state)
{
    (void)state;
    td_obook_t *b = td_obook_create();
    size_t base = td_obook_mem_bytes(b);
    uint32_t n = td_test_sanitized() ? 200000 : 1000000;
    td_rng_t rng;
    td_rng_seed(&rng, 42);
    double worst = 0;
    for (int round = 0; round < 2; round++) {
        for (uint32_t i = 0; i < n; i++) {
            int side = (int)(i & 1);
            int64_t px = 10000 + (side ? 1 : -1) * (int64_t)(1 + td_rng_below(&rng, 500));
            assert_int_equal(td_obook_add(b, (uint64_t)i * 1000003u + round, side, px, 100), TD_OK);
            if (i >= 65536 && i % 1024 == 0) { /* below that, the fixed pools and 500 levels a side dominate */
                double per = (double)td_obook_mem_bytes(b) / (double)(i + 1);
                if (per > worst) worst = per;
            }
        }
        print_message("bytes per live order: %.1f at %u orders, worst %.1f (target <= 64)\n",
                      (double)td_obook_mem_bytes(b) / n, n, worst);
        assert_true(worst <= 64.0);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = (uint32_t)(((uint64_t)k * 7919) % n);
            assert_int_equal(td_obook_delete(b, (uint64_t)i * 1000003u + round, NULL), TD_OK);
            uint32_t live = n - k - 1;
            if (live >= 1000 && live % 4096 == 0) {
                double per = (double)td_obook_mem_bytes(b) / (double)live;
                /* while shrinking, memory may lag by up to the 4x compaction threshold */
                assert_true(per <= 4 * 64.0);
            }
        }
        assert_int_equal(td_obook_norders(b), 0);
        assert_int_equal(td_obook_mem_bytes(b), base);
    }
    for (uint32_t i = 0; i < 5000; i++) td_obook_add(b, i, TD_ASK, 100 + i % 300, 1);
    td_obook_clear(b);
    assert_int_equal(td_obook_mem_bytes(b), base);
    td_obook_destroy(b);
}

/* Many orders at one level, removed from the middle, front and back: the FIFO links hold. */
static void test_fifo(void **state)
{
    (void)state;
    td_obook_t *b = td_obook_create();
    for (uint64_t id = 1; id <= 1000; id++) assert_int_equal(td_obook_add(b, id, TD_BID, 500, (int64_t)id), TD_OK);
    for (uint64_t id = 2; id <= 1000; id += 3) assert_int_equal(td_obook_delete(b, id, NULL), TD_OK);
    assert_int_equal(td_obook_delete(b, 1, NULL), TD_OK);
    assert_int_equal(td_obook_delete(b, 1000, NULL), TD_OK);
    td_order_info_t *q = malloc(1000 * sizeof *q);
    size_t n = td_obook_orders_at(b, TD_BID, 500, q, 1000);
    uint64_t prev = 0;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(q[i].order_id > prev);
        assert_true(q[i].order_id % 3 != 2);
        prev = q[i].order_id;
        sum += q[i].qty;
    }
    td_level_t lv;
    assert_int_equal(td_lbook_best(td_obook_levels(b), TD_BID, &lv), TD_OK);
    assert_int_equal(lv.count, n);
    assert_int_equal(lv.qty, sum);
    free(q);
    td_obook_destroy(b);
}

/* The id table under id patterns that stress hashing: sequential, strided by powers of two (all ids in
 * one residue class), high bits only, random 64-bit; filled to just under the 3/4 load where it grows, so
 * long probe runs and saturated displacements occur. Every id must stay findable through deletes (which
 * shift entries back) and re-adds. */
static uint64_t pattern_id(int pat, uint64_t i, uint64_t salt)
{
    switch (pat) {
    case 0: return i + 1;
    case 1: return i << 4;
    case 2: return i << 20;
    case 3: return i << 32;
    case 4: return (i << 40) | 7;
    case 5: return (i * 0x9E3779B97F4A7C15ULL) ^ salt; /* distinct: odd multiplier is a bijection */
    default: return ~i;
    }
}

static void test_id_patterns(void **state)
{
    (void)state;
    uint64_t salt = td_test_seed();
    uint32_t n = td_test_sanitized() ? 40000 : 190000;
    td_order_info_t info;
    for (int pat = 0; pat < 7; pat++) {
        td_obook_t *b = td_obook_create();
        size_t base = td_obook_mem_bytes(b);
        for (uint32_t i = 0; i < n; i++)
            TD_CHECK(td_obook_add(b, pattern_id(pat, i, salt), (int)(i & 1), 1000 + i % 97, 1) == TD_OK,
                     "pattern %d: add %u", pat, i);
        for (uint32_t i = 0; i < n; i++)
            TD_CHECK(td_obook_get(b, pattern_id(pat, i, salt), &info) == TD_OK && info.order_id == pattern_id(pat, i, salt),
                     "pattern %d: get %u", pat, i);
        for (uint32_t i = 0; i < n; i += 2) TD_CHECK(td_obook_delete(b, pattern_id(pat, i, salt), NULL) == TD_OK, "pattern %d: delete %u", pat, i);
        for (uint32_t i = 0; i < n; i++) {
            int rc = td_obook_get(b, pattern_id(pat, i, salt), &info);
            TD_CHECK(rc == (i % 2 ? TD_OK : TD_ENOENT), "pattern %d: get %u after deletes = %d", pat, i, rc);
        }
        for (uint32_t i = 0; i < n; i += 2) TD_CHECK(td_obook_add(b, pattern_id(pat, i, salt), TD_ASK, 5, 2) == TD_OK, "pattern %d: re-add %u", pat, i);
        for (uint32_t i = 0; i < n; i++) TD_CHECK(td_obook_exec(b, pattern_id(pat, i, salt), 2, &info) == (i % 2 ? TD_ERANGE : TD_OK), "pattern %d: exec %u", pat, i);
        TD_CHECK(td_obook_norders(b) == 0 && td_obook_mem_bytes(b) == base, "pattern %d: not empty at the end", pat);
        td_obook_destroy(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_random_top_heavy),
        cmocka_unit_test(test_random_wide),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_id_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
