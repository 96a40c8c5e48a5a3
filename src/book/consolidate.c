/*
 * consolidate.c: the consolidated depth of one symbol across its exchanges' price-level books.
 *
 * A k-way merge of the books' best-first level lists: each step scans the n cursors for the best next
 * entry, so the cost is O(max * n) with no allocation for the usual handful of venues (n is small: one
 * book per exchange). At equal prices every exchange keeps its own entry, ordered larger quantity first,
 * then lower exchange id (the order a SIP would show them in), then input position.
 *
 * Threading: reads the books; the caller must own them (engine thread) while this runs.
 */
#include "book/book_internal.h"

#include "core/common.h"
#include "core/event.h"

#define STACK_CURSORS 32

/* Is entry a (price pa, qty qa, exch ea) shown before entry b on this side? */
static inline bool before(int side, int64_t pa, int64_t qa, uint8_t ea, int64_t pb, int64_t qb, uint8_t eb)
{
    if (pa != pb) return side == TD_BID ? pa > pb : pa < pb;
    if (qa != qb) return qa > qb;
    return ea < eb;
}

size_t td_book_consolidate(const td_lbook_t *const *books, const uint8_t *exch, size_t n, int side,
                           td_clevel_t *out, size_t max)
{
    if ((side != 0 && side != 1) || max == 0 || n == 0) return 0;
    uint32_t stack_cur[STACK_CURSORS];
    uint32_t *cur = n <= STACK_CURSORS ? stack_cur : td_malloc(n * sizeof *cur);
    for (size_t i = 0; i < n; i++) cur[i] = books[i] ? books[i]->best[side] : TD_LB_NIL;
    size_t k = 0;
    while (k < max) {
        size_t pick = SIZE_MAX;
        int64_t bp = 0, bq = 0;
        for (size_t i = 0; i < n; i++) {
            if (cur[i] == TD_LB_NIL) continue;
            const td_lnode_t *lv = &books[i]->nodes[cur[i]];
            int64_t p = td_lb_price(lv);
            if (pick == SIZE_MAX || before(side, p, lv->qty, exch[i], bp, bq, exch[pick])) {
                pick = i;
                bp = p;
                bq = lv->qty;
            }
        }
        if (pick == SIZE_MAX) break;
        const td_lnode_t *lv = &books[pick]->nodes[cur[pick]];
        out[k++] = (td_clevel_t){.price = bp, .qty = bq, .count = lv->count, .exch = exch[pick]};
        cur[pick] = lv->next;
    }
    if (cur != stack_cur) td_free(cur);
    return k;
}
