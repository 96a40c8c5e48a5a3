/*
 * ticks.c: REST /ticks from the store plus the in-memory ring (the join and its invariants: ticks.h).
 */
#include "api/ticks.h"

#include <string.h>

#include "core/common.h"

#define STORE_BATCH 256
#define VISIBLE_WAIT_MS 200

static void from_stored(const td_store_tick_t *st, td_recent_tick_t *t)
{
    memset(t, 0, sizeof *t);
    t->exch_ns = st->ev.exch_ns;
    t->recv_ns = st->ev.recv_ns;
    t->price = st->ev.u.trade.price;
    t->qty = st->ev.u.trade.qty;
    t->seq = st->seq;
    t->trade_id = st->ev.u.trade.trade_id;
    t->exch = st->ev.exch;
    t->side = st->ev.side; /* TD_SREC_TRADE: the aggressor, as in the live record */
}

/* Stored trades with after_seq < seq <= w in range, oldest first, at most max. Returns the count or TD_E*;
 * *skipped gets the damaged blocks the cursor had to skip. */
static int store_part(td_store_t *store, const td_ticks_query_t *q, uint64_t w, td_recent_tick_t *out, size_t max,
                      uint64_t *skipped)
{
    *skipped = 0;
    if (w <= q->after_seq || max == 0) return 0;
    td_store_tick_filter_t f = { .type_mask = TD_STORE_TYPE_BIT(TD_SREC_TRADE), .after_seq = q->after_seq, .max_seq = w };
    td_store_cursor_t *c;
    int rc = td_store_ticks_open_filter(store, q->sym, q->from_ns, q->to_ns, max, &f, &c);
    if (rc != TD_OK) return rc;
    td_store_tick_t batch[STORE_BATCH];
    size_t n = 0;
    while (n < max) {
        rc = td_store_ticks_next(c, batch, STORE_BATCH);
        if (rc <= 0) break;
        for (int i = 0; i < rc && n < max; i++) from_stored(&batch[i], &out[n++]);
    }
    *skipped = td_store_ticks_skipped(c);
    td_store_ticks_close(c);
    return rc < 0 ? rc : (int)n;
}

int td_ticks_merged(td_store_t *store, const td_recent_t *recent, const td_ticks_query_t *q, td_recent_tick_t *out,
                    td_recent_tick_t *scratch, td_ticks_result_t *res)
{
    res->flushed = false;
    for (int attempt = 0;; attempt++) {
        /* order matters: W first, then the ring (so it holds everything above W it has not overwritten),
         * then the store (which holds everything at or below W) */
        uint64_t w = td_store_visible_seq(store, q->sym);
        uint64_t above = w > q->after_seq ? w : q->after_seq;
        bool ring_complete, holds;
        size_t nr = td_recent_ticks_after(recent, q->sym, above, q->from_ns, q->to_ns, scratch, q->limit,
                                          &ring_complete, &holds);
        uint64_t skipped;
        int ns = store_part(store, q, w, out, q->limit, &skipped);
        if (ns < 0) return ns;
        size_t n = (size_t)ns;
        if (n < q->limit && !holds && attempt == 0) {
            /* the ring lost trades the store has not made readable yet: flush and join again */
            (void)td_store_make_visible(store, VISIBLE_WAIT_MS);
            res->flushed = true;
            continue;
        }
        /* a full store part needs nothing newer; otherwise the ring must hold all above W. When it does not,
         * the answer is the store part alone (a contiguous run, marked incomplete): appending the ring
         * would put a hole inside it */
        res->complete = skipped == 0 && (n == q->limit || holds);
        if (holds)
            for (size_t i = 0; i < nr && n < q->limit; i++) out[n++] = scratch[i];
        return (int)n;
    }
}
