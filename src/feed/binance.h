/*
 * binance.h: Binance spot and USD-M futures market-data messages, and the diff-depth book sync.
 *
 * Two layers:
 *  1. td_bn_parse(): one WebSocket text frame (the combined-stream envelope {"stream":..,"data":{..}} or a
 *     bare payload) to a td_bn_msg_t: trade, aggTrade, bookTicker, depthUpdate, kline; subscription
 *     replies ({"result":..,"id":..}) are TD_BN_REPLY; valid JSON of another kind is TD_BN_UNKNOWN.
 *     td_bn_parse_snapshot() reads a REST /depth body. Prices and quantities go through td_dec_parse
 *     (exact, 1e8 scale): a negative quantity, a price <= 0 or a number that overflows is TD_EPROTO, and
 *     the reason is in td_bn_parser_error(). td_bn_msg_events() turns trades and quotes into events.
 *  2. td_bn_sync_t: the per-symbol state machine that keeps a price-level book whole from depthUpdate
 *     diffs and REST snapshots, exactly as Binance documents it (and ../shared/data/binance/SOURCE.md
 *     checks on the recordings):
 *       - until a snapshot (lastUpdateId L) is available, depth events are buffered (bounded);
 *       - spot: events with u <= L are dropped; the first applied must have U <= L+1 <= u; after that
 *         every U must be the previous u + 1;
 *       - futures: events with u < L are dropped; the first applied must have U <= L <= u; after that
 *         every pu must be the previous u (U/u themselves jump);
 *       - a snapshot is emitted as TD_EV_BOOK_CLEAR, its levels (TD_EVF_SNAPSHOT), TD_EV_RESYNC;
 *       - a broken chain emits TD_EV_GAP (u.gap.expected / received), stops applying, and the symbol
 *         waits (buffering again) for a newer snapshot: td_bn_sync_needs_snapshot() says so.
 *     A snapshot that is older than the buffered stream (the first buffered event past L does not
 *     bridge it) is not applied at all and the symbol keeps waiting. A snapshot arriving while the
 *     symbol is live is ignored (counted). An event with u <= the last applied u is a duplicate and is
 *     dropped (counted), not a gap.
 *
 * Events replayed from the buffer after a snapshot keep their own recv_ns (when their bytes arrived), so
 * they can be earlier than the snapshot events just before them.
 * Event fields: exch_ns = T (transaction time, futures depth / trades) when present, else E, in ms * 1e6;
 * src_seq = u for depth and bookTicker, the aggregate id a for aggTrade, t for trade, L for snapshot
 * events. Trade side = aggressor: "m": true means the buyer was the maker, so the aggressor sold (TD_ASK).
 * Klines are parsed into td_bn_kline_t; there is no kline event type yet (candles are built by tickd's own
 * candle builder from trades), so they produce no events.
 *
 * Threading: a parser and a sync state belong to one thread. td_sym_intern() is the only shared state.
 */
#ifndef TD_FEED_BINANCE_H
#define TD_FEED_BINANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

typedef enum td_bn_kind {
    TD_BN_UNKNOWN = 0,  /* valid JSON, not a message we handle */
    TD_BN_TRADE,
    TD_BN_AGGTRADE,
    TD_BN_BOOKTICKER,
    TD_BN_DEPTH,
    TD_BN_KLINE,
    TD_BN_REPLY,        /* {"result":...,"id":...} */
    TD_BN_KIND_COUNT
} td_bn_kind_t;

const char *td_bn_kind_name(td_bn_kind_t k); /* "depthUpdate", "bookTicker", "aggTrade", "kline", ... */

typedef struct td_bn_level { int64_t price, qty; } td_bn_level_t; /* qty 0 = delete */

typedef struct td_bn_kline {
    int64_t open_ms, close_ms;
    char interval[8];
    uint64_t first_trade_id, last_trade_id, ntrades;
    int64_t open, high, low, close;
    int64_t volume, quote_volume, taker_buy_volume, taker_buy_quote_volume;
    bool closed;
} td_bn_kline_t;

typedef struct td_bn_msg {
    td_bn_kind_t kind;
    uint32_t sym;        /* interned "s" */
    int64_t event_ms;    /* "E", 0 if absent (spot bookTicker) */
    int64_t txn_ms;      /* "T", 0 if absent */
    /* trade / aggTrade */
    uint64_t trade_id;   /* "t" or "a" */
    int64_t price, qty;
    uint8_t aggressor;   /* TD_BID (buyer took) / TD_ASK (seller took) */
    /* bookTicker */
    uint64_t update_id;  /* "u" */
    int64_t bid_px, bid_qty, ask_px, ask_qty;
    /* depthUpdate: levels point into the parser and stay valid until its next parse */
    uint64_t first_id, final_id, prev_final_id; /* U, u, pu */
    bool has_prev;                              /* pu present (futures) */
    const td_bn_level_t *bids, *asks;
    size_t nbids, nasks;
    /* kline */
    td_bn_kline_t kline;
} td_bn_msg_t;

typedef struct td_bn_snapshot {
    uint64_t last_update_id;
    int64_t event_ms, txn_ms;      /* futures only */
    const td_bn_level_t *bids, *asks;
    size_t nbids, nasks;
} td_bn_snapshot_t;

#define TD_BN_MAX_LEVELS 200000    /* per side per message: more is TD_EPROTO */

typedef struct td_bn_parser td_bn_parser_t;
td_bn_parser_t *td_bn_parser_create(void);
void td_bn_parser_destroy(td_bn_parser_t *p);
/* Parses one frame. Returns len (all consumed) or TD_EPROTO; on TD_EPROTO td_bn_parser_error() says why. */
int td_bn_parse(td_bn_parser_t *p, const char *json, size_t len, td_bn_msg_t *out);
/* Parses a REST depth body {"lastUpdateId":..,"bids":[..],"asks":[..]}: len or TD_EPROTO. */
int td_bn_parse_snapshot(td_bn_parser_t *p, const char *json, size_t len, td_bn_snapshot_t *out);
const char *td_bn_parser_error(const td_bn_parser_t *p);

/* Trades and quotes to events (0 for the other kinds); max >= 1. recv_ns is copied into the events. */
size_t td_bn_msg_events(const td_bn_msg_t *m, uint8_t exch, int64_t recv_ns, td_event_t *out, size_t max);

/* ---- diff-depth sync ---- */
typedef void (*td_bn_emit_fn)(void *ctx, const td_event_t *ev);

typedef enum td_bn_sync_state {
    TD_BN_SYNC_WAIT_SNAPSHOT = 0, /* buffering depth events until a usable snapshot arrives */
    TD_BN_SYNC_WAIT_FIRST,        /* snapshot applied; waiting for the event that bridges L */
    TD_BN_SYNC_LIVE,              /* applying every event */
} td_bn_sync_state_t;

const char *td_bn_sync_state_name(td_bn_sync_state_t s);

#define TD_BN_SYNC_MAX_BUFFERED 4096u        /* depth events held while waiting for a snapshot */
#define TD_BN_SYNC_MAX_BUFFERED_LEVELS (1u << 20)

typedef struct td_bn_buffered td_bn_buffered_t;

typedef struct td_bn_sync {
    uint32_t sym;
    uint8_t exch;
    bool futures;
    td_bn_sync_state_t state;
    bool gap_open;             /* a GAP was emitted and no snapshot has repaired it yet */
    uint64_t snapshot_id;      /* L of the snapshot in use */
    uint64_t prev_final_id;    /* u of the last applied event */
    /* the buffer of events waiting for a snapshot (owned) */
    td_bn_buffered_t *buf;
    size_t nbuf, capbuf;
    td_bn_level_t *buf_levels;
    size_t nbuf_levels, capbuf_levels;
    /* counters */
    uint64_t applied;          /* depth events applied (all snapshots) */
    uint64_t dropped;          /* older than the snapshot (u <= L spot, u < L futures) */
    uint64_t duplicates;       /* u <= last applied u while live */
    uint64_t overflowed;       /* buffered events discarded because the buffer was full */
    uint64_t gaps;
    uint64_t resyncs;          /* gaps repaired by a snapshot */
    uint64_t snapshots;        /* snapshots applied */
    uint64_t snapshots_ignored;/* snapshots that arrived while not needed */
    uint64_t snapshots_stale;  /* snapshots older than the buffered stream: not applied */
    uint64_t first_U, first_u; /* the first event applied after the latest snapshot */
    uint64_t gap_expected, gap_received; /* the latest gap */
} td_bn_sync_t;

void td_bn_sync_init(td_bn_sync_t *s, uint32_t sym, uint8_t exch, bool futures);
void td_bn_sync_free(td_bn_sync_t *s); /* frees the buffer; the struct is the caller's */

/* Feeds one depthUpdate of this symbol. Emits LEVEL_SET/LEVEL_DEL for applied events and GAP for a broken
 * chain. recv_ns is stamped on the events. Returns TD_OK, or TD_EINVAL if m is not depth for s->sym. */
int td_bn_sync_depth(td_bn_sync_t *s, const td_bn_msg_t *m, int64_t recv_ns, td_bn_emit_fn emit, void *ctx);
/* Offers a REST snapshot. Returns TD_OK if it was applied (CLEAR, levels, RESYNC, then the buffered events
 * that follow it), TD_EEXIST if the symbol did not need one (ignored), TD_ERANGE if it is older than the
 * buffered stream (not applied; still waiting). */
int td_bn_sync_snapshot(td_bn_sync_t *s, const td_bn_snapshot_t *snap, int64_t recv_ns, td_bn_emit_fn emit,
                        void *ctx);
static inline bool td_bn_sync_needs_snapshot(const td_bn_sync_t *s)
{
    return s->state == TD_BN_SYNC_WAIT_SNAPSHOT;
}

#endif
