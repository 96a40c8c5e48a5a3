/* test_consolidate.c: td_book_consolidate against a naive merge (gather every level of every book, sort
 * by price best-first, larger qty, lower exchange id, input position) on seeded random books whose prices
 * collide often; plus edge cases (no books, empty books, max smaller than the depth). */
#include "testutil.h"

#include <string.h>

#include "book/book.h"
#include "core/common.h"
#include "core/event.h"
#include "core/rng.h"

#define MAXB 8
#define MAXL 256

typedef struct entry { td_clevel_t c; size_t pos; } entry_t;
static int sort_side;

static int cmp_entry(const void *pa, const void *pb)
{
    const entry_t *a = pa, *b = pb;
    if (a->c.price != b->c.price) return (a->c.price > b->c.price) == (sort_side == TD_BID) ? -1 : 1;
    if (a->c.qty != b->c.qty) return a->c.qty > b->c.qty ? -1 : 1;
    if (a->c.exch != b->c.exch) return a->c.exch < b->c.exch ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static size_t naive(const td_lbook_t *const *books, const uint8_t *exch, size_t n, int side, td_clevel_t *out,
                    size_t max)
{
    static entry_t all[MAXB * MAXL];
    static td_level_t lv[MAXL];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t m = td_lbook_depth(books[i], side, lv, MAXL);
        for (size_t j = 0; j < m; j++)
            all[k++] = (entry_t){.c = {.price = lv[j].price, .qty = lv[j].qty, .count = lv[j].count, .exch = exch[i]},
                                 .pos = i};
    }
    sort_side = side;
    qsort(all, k, sizeof *all, cmp_entry);
    if (k > max) k = max;
    for (size_t i = 0; i < k; i++) out[i] = all[i].c;
    return k;
}

static void test_random(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    td_lbook_t *books[MAXB];
    for (int i = 0; i < MAXB; i++) books[i] = td_lbook_create();
    static td_clevel_t got[MAXB * MAXL], want[MAXB * MAXL];
    int rounds = td_test_sanitized() ? 300 : 2000;
    for (int round = 0; round < rounds; round++) {
        size_t n = td_rng_below(&rng, MAXB + 1);
        uint8_t exch[MAXB];
        for (size_t i = 0; i < n; i++) {
            /* mostly distinct ids, sometimes a repeat (two feeds of one venue) */
            exch[i] = (uint8_t)(td_rng_below(&rng, 8) == 0 ? td_rng_below(&rng, 4) : 10 + i * 3 + td_rng_below(&rng, 3));
            td_lbook_clear(books[i]);
            size_t nl = td_rng_below(&rng, 40);
            int64_t range = 1 + (int64_t)td_rng_below(&rng, 60);
            for (size_t j = 0; j < nl; j++) {
                int side = (int)td_rng_below(&rng, 2);
                int64_t px = 1000 + (side == TD_BID ? -1 : 1) * (int64_t)td_rng_below(&rng, (uint64_t)range);
                int64_t qty = 1 + (int64_t)td_rng_below(&rng, 5); /* few sizes: equal qty ties happen */
                if (td_rng_below(&rng, 3) == 0) td_lbook_adjust(books[i], side, px, qty, 1);
                else td_lbook_set(books[i], side, px, qty);
            }
        }
        for (int side = 0; side < 2; side++) {
            size_t max = td_rng_below(&rng, 4) == 0 ? SIZE_MAX : td_rng_below(&rng, 60);
            size_t cap = max < MAXB * MAXL ? max : MAXB * MAXL;
            size_t nw = naive((const td_lbook_t *const *)books, exch, n, side, want, cap);
            size_t ng = td_book_consolidate((const td_lbook_t *const *)books, exch, n, side, got, cap);
            TD_CHECK(ng == nw, "round %d side %d: %zu entries, want %zu", round, side, ng, nw);
            for (size_t i = 0; i < nw; i++)
                TD_CHECK(got[i].price == want[i].price && got[i].qty == want[i].qty && got[i].count == want[i].count &&
                             got[i].exch == want[i].exch,
                         "round %d side %d entry %zu: %lld x %lld @%u, want %lld x %lld @%u", round, side, i,
                         (long long)got[i].price, (long long)got[i].qty, got[i].exch, (long long)want[i].price,
                         (long long)want[i].qty, want[i].exch);
        }
    }
    for (int i = 0; i < MAXB; i++) td_lbook_destroy(books[i]);
}

static void test_edges(void **state)
{
    (void)state;
    td_clevel_t out[8];
    assert_int_equal(td_book_consolidate(NULL, NULL, 0, TD_BID, out, 8), 0);
    td_lbook_t *a = td_lbook_create(), *b = td_lbook_create();
    const td_lbook_t *books[2] = {a, b};
    uint8_t exch[2] = {5, 2};
    assert_int_equal(td_book_consolidate(books, exch, 2, TD_ASK, out, 8), 0);
    td_lbook_set(a, TD_BID, 100, 10);
    td_lbook_set(b, TD_BID, 100, 10);
    td_lbook_set(b, TD_BID, 101, 1);
    td_lbook_set(a, TD_BID, 99, 30);
    assert_int_equal(td_book_consolidate(books, exch, 2, TD_BID, out, 0), 0);
    assert_int_equal(td_book_consolidate(books, exch, 2, 3, out, 8), 0);
    assert_int_equal(td_book_consolidate(books, exch, 2, TD_BID, out, 8), 4);
    assert_int_equal(out[0].price, 101);
    assert_int_equal(out[0].exch, 2);
    assert_int_equal(out[1].price, 100); /* equal price and qty: lower exchange id first */
    assert_int_equal(out[1].exch, 2);
    assert_int_equal(out[2].exch, 5);
    assert_int_equal(out[3].price, 99);
    td_lbook_set(a, TD_BID, 100, 11); /* larger qty now wins the tie */
    assert_int_equal(td_book_consolidate(books, exch, 2, TD_BID, out, 2), 2);
    assert_int_equal(out[1].exch, 5);
    assert_int_equal(out[1].qty, 11);
    assert_int_equal(td_book_consolidate(books, exch, 2, TD_ASK, out, 8), 0);
    td_lbook_destroy(a);
    td_lbook_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
