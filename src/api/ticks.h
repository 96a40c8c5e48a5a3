/*
 * ticks.h: the trades REST /ticks answers: the store's history joined to the in-memory ring of recent trades
 * (api/recent.h) with no duplicate and no silent hole.
 *
 * The join (td_ticks_merged):
 *   1. W = td_store_visible_seq(sym): every stored record of sym with seq <= W is readable (store.h);
 *   2. R = the ring's trades with seq > W (a snapshot taken after W was read, so it holds everything newer
 *      than W that the engine had emitted, unless the ring has overwritten some: recent.h holds_after);
 *   3. the answer: stored TD_SREC_TRADE records in range with seq <= W (oldest first, up to limit), then
 *      R's trades in range until limit.
 * No duplicate: the two parts are split at W. No hole: the store part has every trade <= W, R every trade
 * > W when holds_after. When it does not (more than TD_RECENT_TICKS trades since the writer's last flush),
 * the store is asked to flush (td_store_make_visible, 200 ms at most) and the join redone once; if it still
 * does not hold, the answer is the store part alone, marked *complete = false (a contiguous run: the client
 * pages on later). A store part that fills the limit needs no ring part: complete. Damaged blocks skipped
 * by the store also make the answer incomplete.
 *
 * Threading: any thread (REST handlers run on I/O threads).
 */
#ifndef TD_API_TICKS_H
#define TD_API_TICKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/recent.h"
#include "store/store.h"

typedef struct td_ticks_query {
    uint32_t sym;
    int64_t from_ns, to_ns; /* inclusive, exchange time */
    uint64_t after_seq;     /* only trades with seq > after_seq (0: all) */
    size_t limit;           /* the oldest `limit` matching trades, >= 1 */
} td_ticks_query_t;

typedef struct td_ticks_result {
    bool complete;   /* the answer has every matching trade up to its last one (or all of them) */
    bool flushed;    /* the ring had lost trades above W: the store was asked to flush and the join redone */
} td_ticks_result_t;

/* Fills out (q->limit entries) with the join, oldest first, seq strictly increasing; scratch holds q->limit
 * entries too (the ring snapshot). Returns the count, or a negative TD_E* when the store could not be read. */
int td_ticks_merged(td_store_t *store, const td_recent_t *recent, const td_ticks_query_t *q, td_recent_tick_t *out,
                    td_recent_tick_t *scratch, td_ticks_result_t *res);

#endif
