/*
 * coinbase.h: Coinbase WebSocket market data to normalized events, in both schemas:
 *
 * Legacy Pro / Exchange feed (ws-feed.pro.coinbase.com, the recording in ../shared/data/coinbase):
 *   "snapshot"  -> TD_EV_BOOK_CLEAR, TD_EV_LEVEL_SET (TD_EVF_SNAPSHOT) per level, TD_EV_RESYNC
 *   "l2update"  -> LEVEL_SET / LEVEL_DEL per change ("size" is the new total; 0 deletes), exch_ns = "time".
 *                  Changes for a product with no snapshot yet are dropped (counted): no book to apply to.
 *   "match", "last_match" -> TD_EV_TRADE; "side" is the MAKER's side, so the aggressor is the other one.
 *   "ticker"    -> TD_EV_QUOTE from best_bid / best_ask, with best_bid_size / best_ask_size when present,
 *                  else qty 0. NOTE: event.h reads qty 0 as "that side is empty"; the legacy ticker does
 *                  not carry sizes, so a QUOTE from it with qty 0 means "size unknown", not "empty".
 *   Sequence: l2update has none, so level2 gaps cannot be seen. ticker/match/last_match carry the
 *   product's full-channel "sequence", which also counts orders we do not see, so jumps are normal and
 *   are NOT gaps; a sequence going backwards (reordering/replay) is counted in seq_backwards.
 *   "subscriptions", "heartbeat", "error" are recognized and produce no events.
 *
 * Advanced Trade (advanced-trade-ws.coinbase.com): {"channel":..,"timestamp":..,"sequence_num":N,
 *   "events":[..]}; sequence_num counts every message of the connection, so a skipped number is a gap:
 *   TD_EV_GAP with sym 0 (every product of the exchange), expected/received, and every product's book
 *   goes stale (updates dropped) until a new l2_data snapshot for it arrives.
 *   "l2_data": events {type snapshot|update, product_id, updates[{side bid|offer, event_time,
 *              price_level, new_quantity}]}: snapshot -> CLEAR + levels + RESYNC, update -> SET/DEL.
 *   "market_trades": events {trades[{trade_id, product_id, price, size, side, time}]} -> TRADE. We take
 *              "side" as the maker side like the legacy feed (Coinbase's convention; the Advanced Trade
 *              docs do not say) and invert it: see CB_AT_SIDE_IS_MAKER in coinbase.c.
 *   "ticker" / "ticker_batch": events {tickers[{product_id, best_bid, best_bid_quantity, best_ask,
 *              best_ask_quantity}]} -> QUOTE.
 *   "heartbeats", "subscriptions", "candles", "status": recognized, no events.
 *
 * Exchange id "COINBASE" (the caller interns it). A message is fully validated before any event is
 * emitted; a malformed one returns TD_EPROTO (reason in td_cb_error()) and changes no state.
 *
 * Threading: a td_cb_feed_t belongs to one thread.
 */
#ifndef TD_FEED_COINBASE_H
#define TD_FEED_COINBASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

typedef enum td_cb_kind {
    TD_CB_UNKNOWN = 0,
    /* legacy */
    TD_CB_SUBSCRIBE,     /* our own request, as recorded */
    TD_CB_SUBSCRIPTIONS,
    TD_CB_SNAPSHOT,
    TD_CB_L2UPDATE,
    TD_CB_TICKER,
    TD_CB_MATCH,
    TD_CB_LAST_MATCH,
    TD_CB_HEARTBEAT,
    TD_CB_ERROR,
    /* Advanced Trade, by channel */
    TD_CB_AT_L2,
    TD_CB_AT_TRADES,
    TD_CB_AT_TICKER,
    TD_CB_AT_HEARTBEATS,
    TD_CB_AT_OTHER,      /* subscriptions, candles, status */
    TD_CB_KIND_COUNT
} td_cb_kind_t;

/* "snapshot", "l2update", "ticker", "match", "last_match", ..., "l2_data", "market_trades", ... */
const char *td_cb_kind_name(td_cb_kind_t k);

typedef void (*td_cb_emit_fn)(void *ctx, const td_event_t *ev);

typedef struct td_cb_product {
    bool seen;
    bool synced;          /* a snapshot was applied and no gap since */
    bool gap_open;
    uint64_t last_seq;    /* legacy full-channel sequence from ticker/match */
    uint64_t applied;     /* l2update / l2_data update messages (per product) applied */
    uint64_t unsynced;    /* updates dropped because the product had no valid book */
    uint64_t snapshots;
    uint64_t gaps;        /* Advanced Trade sequence_num gaps that hit this product's book */
    uint64_t resyncs;     /* snapshots that repaired a gap */
    uint64_t seq_backwards;
} td_cb_product_t;

typedef struct td_cb_feed td_cb_feed_t;

td_cb_feed_t *td_cb_create(uint8_t exch);
void td_cb_destroy(td_cb_feed_t *f); /* NULL is a no-op */

/* Handles one frame: returns len or TD_EPROTO. *kind (may be NULL) gets the message kind, also for
 * frames that produce no events. Events get recv_ns. */
int td_cb_handle(td_cb_feed_t *f, const char *json, size_t len, int64_t recv_ns, td_cb_emit_fn emit, void *ctx,
                 td_cb_kind_t *kind);
const char *td_cb_error(const td_cb_feed_t *f);

/* Per-product state, NULL if the product was never seen. */
const td_cb_product_t *td_cb_product(const td_cb_feed_t *f, uint32_t sym);
/* Advanced Trade connection-level counters. */
uint64_t td_cb_gaps(const td_cb_feed_t *f);

#endif
