/*
 * engine.h: the sequencer. One thread owns every book, NBBO and candle and turns normalized events into
 * out events (what clients and the store see).
 *
 * Input: any number of SPSC rings of td_event_t (one per feed runner), drained round-robin in batches;
 * per source, order is kept; across sources, arrival order is the order (DESIGN.md). Tests and benchmarks
 * call td_engine_apply() directly on the same thread instead.
 *
 * Output: td_out_t records through the emit callback, each stamped with the symbol's out sequence `seq`,
 * which only grows (API.md: no client ever sees an older tick after a newer one). Out records are:
 *   TRADE  every printable trade, with the NBBO bid/ask at that moment (the `tick` and `trade` channels)
 *   NBBO   only when the published NBBO changes (td_nbbo_update semantics, stale included)
 *   CANDLE each closed candle exactly once (open candles are read from the snapshot)
 *   STATUS trading state changes; GAP / RESYNC markers per (symbol, exchange)
 *   BOOK   the symbol's books changed: a new td_book_snap_t was published (at most every
 *          TD_BOOK_PERIOD_MS per symbol; read it with td_engine_book)
 *
 * Snapshots: other threads (REST, WebSocket snapshots, the status line) read a per-symbol td_sym_snap_t
 * through td_engine_snapshot(); the engine publishes them with a seqlock for the symbols touched since the
 * last publish, at most once a millisecond under load and at once when input goes quiet, so readers never
 * lock, never see a torn value, and see state at most ~1 ms old (snap.seq says exactly how old).
 *
 * Time: the engine clock is the largest exchange time seen; optionally (live feeds) also the wall clock,
 * so candles close on time when trading is quiet.
 */
#ifndef TD_ENGINE_H
#define TD_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bar/candle.h"
#include "book/book.h"
#include "book/nbbo.h"
#include "core/event.h"
#include "core/ring.h"

typedef enum td_out_type {
    TD_OUT_TRADE = 1,
    TD_OUT_NBBO,
    TD_OUT_CANDLE,
    TD_OUT_STATUS,
    TD_OUT_GAP,
    TD_OUT_RESYNC,
    TD_OUT_BOOK,
} td_out_type_t;

typedef struct td_out {
    uint8_t type;     /* td_out_type_t */
    uint8_t exch;     /* trade: exchange; gap/resync/status: exchange; nbbo/candle/book: 0 */
    uint8_t side;     /* trade: aggressor side */
    uint8_t aux;      /* candle: td_interval_t; status: td_trading_state_t; trade: td_ev_flags */
    uint32_t sym;
    uint64_t seq;     /* per-symbol, strictly increasing */
    int64_t exch_ns;  /* exchange time of the event that caused this */
    int64_t recv_ns;  /* receive time of that event */
    union {
        struct { int64_t price, qty, bid_px, ask_px; uint64_t trade_id; } trade;
        td_nbbo_t nbbo;
        td_candle_t candle;
        struct { uint64_t expected, received; } gap;
    } u;
} td_out_t;

typedef void (*td_engine_emit_fn)(void *ctx, const td_out_t *out);

/* Called for every event before it is applied, with the symbol's out seq at that moment (0 if the symbol
 * has no state yet): the store's feed, so the stored event precedes the out records it causes. */
typedef void (*td_engine_event_fn)(void *ctx, const td_event_t *ev, uint64_t seq);

typedef struct td_engine_config {
    td_engine_emit_fn emit;  /* may be NULL */
    void *emit_ctx;
    /* Engine thread, after each batch of input events that emitted something (may be NULL): lets a
     * consumer of emit() signal other threads once per batch instead of once per record. */
    void (*batch_end)(void *emit_ctx);
    bool wall_clock;         /* also advance candle time with CLOCK_REALTIME (live feeds) */
    td_engine_event_fn on_event; /* may be NULL */
    void *on_event_ctx;
} td_engine_config_t;

/* What other threads may read about a symbol (seqlock-published at batch end). */
typedef struct td_sym_snap {
    uint64_t seq;                 /* last out seq of the symbol */
    int64_t last_px, last_qty, last_ns;
    uint64_t trades;
    td_nbbo_t nbbo;               /* last published NBBO */
    int64_t nbbo_ns;              /* exchange time of the event that published it */
    int64_t day_start_s;          /* UTC day of the day_* fields */
    int64_t day_open, day_high, day_low, prev_close;
    td_vol_t day_volume;
    td_candle_t candles[TD_IV_COUNT];
    uint8_t candle_mask;          /* open candles */
    uint8_t trading_state;
    uint8_t nvenues;
    uint8_t venues[TD_NBBO_MAX_VENUES];
} td_sym_snap_t;

/* Top of the books of a symbol, consolidated (exch 0) or of one exchange; published by the engine at
 * most every TD_BOOK_PERIOD_MS when the books changed, with the seq of the BOOK record announcing it. */
#define TD_BOOK_SNAP_DEPTH 20
#define TD_BOOK_PERIOD_MS 10
/* Symbols nobody has asked about publish their book at most this often (consolidation for thousands of
 * unwatched symbols 100 times a second would cost a core); see td_engine_want_book. */
#define TD_BOOK_IDLE_PERIOD_MS 1000
typedef struct td_book_snap {
    uint64_t seq;
    int64_t exch_ns;
    uint8_t exch;
    uint8_t nbids, nasks;
    td_clevel_t bids[TD_BOOK_SNAP_DEPTH], asks[TD_BOOK_SNAP_DEPTH];
} td_book_snap_t;

typedef struct td_engine_stats {
    _Atomic uint64_t events;          /* applied */
    _Atomic uint64_t by_type[TD_EV_TYPE_COUNT];
    _Atomic uint64_t rejected;        /* events a book refused (unknown order, duplicate, bad values) */
    _Atomic uint64_t unknown_orders;
    _Atomic uint64_t outs;            /* out records emitted */
    _Atomic uint64_t nbbo_changes;
    _Atomic uint64_t candles_closed;
    _Atomic uint64_t late_trades;
    _Atomic uint64_t venue_overflow;  /* more exchanges on a symbol than NBBO tracks */
    _Atomic uint64_t batches;
    _Atomic uint64_t live_orders;     /* refreshed at batch end */
} td_engine_stats_t;

typedef struct td_engine td_engine_t;

td_engine_t *td_engine_create(const td_engine_config_t *cfg);
void td_engine_destroy(td_engine_t *e);

/* Engine thread only (or a test's single thread). */
void td_engine_apply(td_engine_t *e, const td_event_t *ev);
/* The same for n events in order, with cache prefetching across the batch (what the engine thread uses). */
void td_engine_apply_batch(td_engine_t *e, const td_event_t *evs, size_t n);
/* Restart: puts back a symbol's seq, last trade, day statistics, trading state and open candles (from the
 * store, see store.h td_store_restore_state), so seq continues and no candle is emitted twice. Before
 * td_engine_start (or on the engine thread). */
void td_engine_restore(td_engine_t *e, uint32_t sym, const td_sym_snap_t *snap);
/* Ends a batch: publishes snapshots of the symbols touched since the last call. */
void td_engine_flush(td_engine_t *e);
/* Advances the engine clock (closes candles that ended); engine thread only. */
void td_engine_advance(td_engine_t *e, int64_t now_ns);

/* Read access for tests on the engine thread. NULL if the symbol/exchange has no such book. */
const td_obook_t *td_engine_obook(const td_engine_t *e, uint32_t sym, uint8_t exch);
const td_lbook_t *td_engine_levels(const td_engine_t *e, uint32_t sym, uint8_t exch);
/* Consolidated top-N of a side (engine thread only); returns entries written. */
size_t td_engine_consolidated(const td_engine_t *e, uint32_t sym, int side, td_clevel_t *out, size_t max);

/* Any thread: copies the symbol's last published snapshot; false if the symbol has none yet. */
bool td_engine_snapshot(const td_engine_t *e, uint32_t sym, td_sym_snap_t *out);

/* Any thread: the last published book snapshot of a symbol (exch 0: consolidated across exchanges, with
 * each level's exchange; else that exchange's own levels). false if none was published. */
bool td_engine_book(const td_engine_t *e, uint32_t sym, uint8_t exch, td_book_snap_t *out);
/* Any thread: someone watches sym's book (a book:N subscriber, a REST /book call) for the next for_ms: its
 * snapshots are published every TD_BOOK_PERIOD_MS instead of every TD_BOOK_IDLE_PERIOD_MS. */
void td_engine_want_book(td_engine_t *e, uint32_t sym, int64_t for_ms);

const td_engine_stats_t *td_engine_stats(const td_engine_t *e);

/* Heap bytes held by every order-level book and the live orders in them (engine thread only). */
size_t td_engine_order_book_mem(const td_engine_t *e, uint64_t *live_orders);

/* Threaded operation: inputs must be added before start. */
void td_engine_add_input(td_engine_t *e, td_spsc_t *ring);
int td_engine_start(td_engine_t *e);
/* Stops after draining what is in the rings; joins the thread. */
void td_engine_stop(td_engine_t *e);

#endif
