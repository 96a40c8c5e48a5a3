/*
 * sim.h: the simulator feed: order-level US-equity-style market data from a seeded model.
 *
 * Two faces:
 *   - td_sim_t, a pure generator (no clock, no sleeping) for tests and benchmarks: td_sim_generate() fills
 *     an array with the next events as fast as the CPU allows. Exchange time (exch_ns) is simulated: it
 *     starts at cfg.start_ns and advances by random inter-arrival times whose mean is 1/rate, so the
 *     stream of a given config and seed is identical on every run and every machine.
 *   - td_sim_open(), a td_source_t (source.h) for `--feed sim[:...]`: the same generator, started at the
 *     current wall-clock time and paced to the configured rate by batch (rate=0 or "max": unpaced).
 *
 * Spec (API.md, "Command line"), keys separated by ';', list items by ',':
 *   symbols=AAPL,MSFT,...   default AAPL,MSFT,AMZN,GOOGL,NVDA,TSLA,META,SPY (at most TD_SIM_MAX_SYMBOLS)
 *   exchanges=NYSE,...      default NYSE,NASDAQ,ARCA (at most TD_SIM_MAX_EXCHANGES)
 *   rate=N|max              events per second, default 20000; 0 or max = as fast as possible
 *   seed=S                  default 42: runs are reproducible unless asked otherwise
 *   gap_every=N             mean steps between injected wire losses, default 200000; 0 = never
 *   start=UNIX_SECONDS      first exchange timestamp; default now (source) / TD_SIM_DEFAULT_START (generator)
 *   max_orders=N            live orders per side of each (symbol, exchange) book, default 64, 4..256
 *   mode=orders|levels|quotes  what goes on the wire (default orders):
 *                           orders: ORDER_ADD / EXEC / CANCEL / DELETE / REPLACE and hidden TRADEs (ITCH-like);
 *                           levels: TRADE for each execution, then LEVEL_SET / LEVEL_DEL for every price level
 *                             the step changed (Binance/Coinbase-like depth); snapshots are LEVEL_SETs;
 *                           quotes: TRADE for each execution, then a QUOTE of the top of book when it changed
 *                             (a BBO feed); the snapshot is one QUOTE.
 *                           All three come from the same order-level model, so for a seed they show the same
 *                           market; trades derived from executions have side = the aggressor.
 *
 * Stream invariants (what tests check and consumers may rely on):
 *   - (orders mode) Every ORDER_EXEC / CANCEL / DELETE / REPLACE names an order that is live on that
 *     (symbol, exchange) book, with a quantity no larger than what is left. Order ids are unique per
 *     exchange, never reused. EXEC, CANCEL and DELETE carry the order's price; DELETE carries the quantity
 *     it removed. Executions are at the touch, oldest order first; their side is the resting order's.
 *   - Prices are positive multiples of $0.01, quantities positive multiples of 100 shares.
 *   - No single (symbol, exchange) book is ever crossed or locked; across exchanges the consolidated best
 *     bid/ask sometimes is, briefly (per-exchange price offsets and stale quotes): ~3% locked, ~0.3%
 *     crossed of the time with the defaults.
 *   - src_seq runs +1 per event on the wire of each exchange (all of its symbols). An injected loss drops
 *     the events of one generation step; in their place comes TD_EV_GAP (sym, exch, expected = first lost
 *     seq, received = the seq the next message of that exchange carries). That book then carries no events
 *     until it is repaired, a short while later (32..127 steps): TD_EV_BOOK_CLEAR, the snapshot, then
 *     TD_EV_RESYNC. The snapshot is one TD_EV_ORDER_ADD|TD_EVF_SNAPSHOT per live order in price-time order
 *     (bids best first, then asks best first); in levels mode one LEVEL_SET|SNAPSHOT per level in the same
 *     order; in quotes mode one QUOTE|SNAPSHOT. After the RESYNC the receiver's book equals the model
 *     exactly. The sim knows which book the lost message was for (as feeds with per-instrument sequence
 *     numbers do), so only that book is repaired.
 *   - Events the receiver side synthesizes (GAP, BOOK_CLEAR, snapshot adds, RESYNC) are not on the
 *     exchange's sequenced wire and carry src_seq 0.
 *   - exch_ns never decreases. The generator sets recv_ns = exch_ns; the source leaves recv_ns 0 for the
 *     runner to stamp.
 *
 * Threading: a td_sim_t or sim source is used by one thread at a time. Config parsing is reentrant. The
 * symbols and exchanges are interned (symbols.h) when the generator is created.
 */
#ifndef TD_FEED_SIM_H
#define TD_FEED_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/symbols.h"
#include "feed/source.h"

#define TD_SIM_MAX_SYMBOLS   512
#define TD_SIM_MAX_EXCHANGES 16
#define TD_SIM_DEFAULT_RATE  20000
#define TD_SIM_DEFAULT_SEED  42
#define TD_SIM_DEFAULT_GAP_EVERY 200000
#define TD_SIM_DEFAULT_MAX_ORDERS 64
#define TD_SIM_MAX_RATE      100000000ULL  /* 1e8 events/s: beyond that a simulated ns is too coarse */
#define TD_SIM_DEFAULT_START 1708612200LL  /* 2024-02-22 14:30:00 UTC, a NYSE open */

typedef enum td_sim_mode { TD_SIM_ORDERS = 0, TD_SIM_LEVELS, TD_SIM_QUOTES } td_sim_mode_t;

typedef struct td_sim_config {
    size_t nsym;
    char symbols[TD_SIM_MAX_SYMBOLS][TD_SYM_NAME_MAX + 1];
    size_t nexch;
    char exchanges[TD_SIM_MAX_EXCHANGES][TD_EXCH_NAME_MAX + 1];
    uint64_t rate;       /* events per second; 0 = unpaced (generator: time as if 1,000,000/s) */
    uint64_t seed;
    uint64_t gap_every;  /* mean generation steps between injected losses; 0 = none */
    int64_t start_ns;    /* first exch_ns; 0 = the default (see the file comment) */
    uint32_t max_orders; /* live orders per side per book */
    td_sim_mode_t mode;
} td_sim_config_t;

/* Fills cfg with the defaults above (start_ns = 0). */
void td_sim_config_default(td_sim_config_t *cfg);

/* Applies a spec (the part after "sim:", may be NULL or empty) on top of cfg. Returns TD_OK, or TD_EINVAL
 * with a message in err (unknown key, bad number, empty or bad name, too many symbols/exchanges,
 * duplicates); cfg is unspecified after an error. */
int td_sim_config_parse(td_sim_config_t *cfg, const char *args, char *err, size_t errlen);

typedef struct td_sim td_sim_t;

/* Creates a generator (interning its symbols and exchanges). Returns NULL with a message in err if the
 * config is invalid (same checks as the parser) or a name cannot be interned. */
td_sim_t *td_sim_create(const td_sim_config_t *cfg, char *err, size_t errlen);
void td_sim_destroy(td_sim_t *s); /* NULL is a no-op */

/* Writes the next min(max, ...) events into out and returns how many (always max: the sim never ends). */
size_t td_sim_generate(td_sim_t *s, td_event_t *out, size_t max);

/* Moves the simulated clock forward to at least now_ns (never back). The live source calls it so exchange
 * time follows the wall clock. */
void td_sim_sync_time(td_sim_t *s, int64_t now_ns);
int64_t td_sim_time(const td_sim_t *s);

/* ---- test hooks: read the model ---- */
typedef struct td_sim_order {
    uint64_t order_id;
    int64_t price; /* scaled, decimal.h */
    int64_t qty;   /* scaled */
    uint8_t side;  /* TD_BID / TD_ASK */
} td_sim_order_t;

/* The model's live orders of the (sym, exch) book in price-time order (bids best first, then asks best
 * first), up to max of them; returns the total count, or 0 for an unknown book. */
size_t td_sim_book(const td_sim_t *s, uint32_t sym, uint8_t exch, td_sim_order_t *out, size_t max);
/* Events generated but not yet returned by td_sim_generate (part of an unfinished step). */
size_t td_sim_pending(const td_sim_t *s);
/* Is the (sym, exch) book waiting for its repair after an injected loss? */
int td_sim_book_frozen(const td_sim_t *s, uint32_t sym, uint8_t exch);

/* ---- the source ---- */
/* Opens `--feed sim[:args]` (args = the part after "sim:", may be NULL or empty). NULL + err on a bad spec. */
td_source_t *td_sim_open(const char *args, char *err, size_t errlen);

/* Test hook: replaces the source's monotonic clock and sleep (both in ns) so pacing is checked without
 * real time. Must be called before the first next(). */
void td_sim_source_set_clock(td_source_t *src, int64_t (*mono_ns)(void *ctx),
                             void (*sleep_ns)(void *ctx, int64_t ns), void *ctx);

#endif
