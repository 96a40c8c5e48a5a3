/*
 * store.h: tickd's history store, backend-neutral (the embedded store in store.c now; ClickHouse and
 * PostgreSQL later behind the same calls). See docs/STORAGE.md and the essay at the top of store.c for the
 * on-disk format and the durability promise of each fsync policy.
 *
 * What goes in (in engine order, through a bounded SPSC ring to one writer thread):
 *   - every normalized event (td_event_t, all types) with the symbol's out `seq` after it was applied;
 *   - the engine's resolved trades, NBBO changes and closed candles, as the engine emits them (td_out_t
 *     TD_OUT_TRADE / TD_OUT_NBBO / TD_OUT_CANDLE);
 *   - per-symbol engine state (last price, day stats, open candles, seq) sampled through a callback at
 *     every flush, so a restart continues where the store left off.
 * Symbols and exchanges are stored by name (ids are per process), so a store outlives the interning.
 *
 * Ring full policy: the producer (the engine thread) waits for the writer (backpressure reaches the feeds,
 * nothing is dropped: this is regulated data). Never silently: every wait is counted (stats.ring_waits),
 * logged rate-limited, and the backlog is readable at any time (td_store_backlog).
 *
 * Threading: td_store_append*() and td_store_sync() from one producer thread; the query functions
 * (td_store_ticks_*, td_store_candles, td_store_restore_state) from any thread, concurrently with the
 * writer (each cursor belongs to one thread); td_store_stats()/td_store_backlog() from anywhere.
 * td_store_open()/td_store_close() by the owner, with no other call in flight.
 */
#ifndef TD_STORE_H
#define TD_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bar/candle.h"
#include "core/event.h"
#include "engine/engine.h"

/* Stored-record type for NBBO changes, beside the td_ev_type_t values of ordinary events. Layout in a
 * td_event_t: u.quote = best bid/ask prices and sizes, exch = bid exchange, side = ask exchange,
 * flags = td_nbbo_state_t. */
#define TD_SREC_NBBO 32
/* Stored-record type for the engine's resolved trades (TD_OUT_TRADE), what REST /ticks serves from history.
 * Layout in a td_event_t: side = aggressor, exch, flags = the trade's td_ev_flags, src_seq = 0,
 * u.trade.price/qty, u.trade.trade_id; the stored seq is the trade's own out seq. (The NBBO at the trade is
 * not repeated: the TD_SREC_NBBO records before it in the same stream give it.) */
#define TD_SREC_TRADE 33

#define TD_STORE_FSYNC_OFF   (-1) /* never fsync (only at close) */
#define TD_STORE_FSYNC_BATCH 0    /* fsync after every batch the writer writes */
/* N > 0: fsync at most every N ms */

/* Records per sealed block: 8192 measured 0.08-0.13 B/event smaller than 4096 on the simulator and the LOBSTER
 * samples (more references find their order inside the block; headers and zstd tables amortize), and a block
 * still decodes in well under a millisecond. */
#define TD_STORE_BLOCK_EVENTS 8192

#define TD_STORE_DEFAULT_TICK_TTL_DAYS (7 * 366) /* 7 years, rounded up */

typedef struct td_store_options {
    int fsync_ms;              /* TD_STORE_FSYNC_OFF, TD_STORE_FSYNC_BATCH or N ms */
    int flush_ms;              /* write pending blocks at least this often (default 1000; batch: ASAP) */
    bool read_only;            /* open for queries only: no writer, no recovery truncation, no lock */
    size_t ring_capacity;      /* records; default 1 << 16 */
    int tick_ttl_days;         /* 0 = default (7 years); < 0 = keep forever */
    int candle_ttl_days[TD_IV_COUNT]; /* 0 = forever (default) */
    int cold_after_days;       /* > 0 with cold_dir: partitions older than this move to cold_dir */
    char cold_dir[512];
    int retention_every_s;     /* the writer applies retention this often (default 3600); < 0 = only on call */
    /* The open partition is compacted (like a seal) once the small blocks of frequent flushes in it reach this
     * many bytes and half the file (default 16 MB; < 0 = never): --fsync batch under a slow feed writes a
     * block per symbol per flush, and those would otherwise stay small until the day is sealed. */
    long long compact_min_bytes;
    int zstd_level;            /* default 1; 0 = store raw columns (no zstd) */
    uint32_t block_events;     /* records per block at most (default TD_STORE_BLOCK_EVENTS, max 65536) */
    /* Samples the engine's state of a symbol at flush time (writer thread); may be NULL. */
    bool (*state_fn)(void *ctx, uint32_t sym, td_sym_snap_t *out);
    void *state_ctx;
} td_store_options_t;

typedef struct td_store_stats {
    _Atomic uint64_t appended;        /* records accepted by td_store_append* (producer) */
    _Atomic uint64_t written;         /* records whose blocks are in the files (survive kill -9) */
    _Atomic uint64_t synced;          /* records fsynced (survive power loss) */
    _Atomic uint64_t ring_waits;      /* producer found the ring full and waited */
    _Atomic uint64_t blocks_written;
    _Atomic uint64_t bytes_written;
    _Atomic uint64_t fsyncs;
    _Atomic uint64_t write_errors;    /* I/O errors (each logged); the writer retries at the next flush */
    _Atomic uint64_t recovered_blocks_dropped; /* torn/corrupt tail blocks cut at open */
    _Atomic uint64_t recovered_bytes_dropped;
    _Atomic uint64_t corrupt_blocks;  /* blocks that failed their checksum or decode at read time */
    _Atomic uint64_t partitions_dropped; /* retention */
    _Atomic uint64_t partitions_moved;   /* to the cold directory */
    _Atomic uint64_t compactions;        /* open partitions compacted (compact_min_bytes) */
} td_store_stats_t;

typedef struct td_store td_store_t;

void td_store_options_default(td_store_options_t *o);
/* Applies tickd's retention flags to o: tick_ttl_days (0 = keep o's, -1 = forever), candle_ttl
 * "IV=DAYS|forever,..." (NULL or "" = unchanged), cold_dir (NULL or "" = none) and cold_after_days (<= 0: 30).
 * TD_OK, or TD_EINVAL with a message naming the flag in err. */
int td_store_set_retention(td_store_options_t *o, int tick_ttl_days, const char *candle_ttl, const char *cold_dir,
                           int cold_after_days, char *err, size_t errlen);

/* Opens (creating) the store in dir; recovers the open partitions (see store.c) and, unless read_only,
 * starts the writer thread. Returns TD_OK or a negative TD_E* with a message in err. */
int td_store_open(const char *dir, const td_store_options_t *opt, td_store_t **out, char *err, size_t errlen);
/* Drains the ring, writes and fsyncs everything, stops the writer, frees. NULL is a no-op. */
void td_store_close(td_store_t *s);

/* ---- producer side (one thread, normally the engine) ---- */
/* Appends events with the symbol's out seq after each (seqs may be NULL = 0). Waits when the ring is full
 * (counted). Returns TD_OK, or TD_EINVAL on a read-only store. */
int td_store_append(td_store_t *s, const td_event_t *evs, const uint64_t *seqs, size_t n);
/* Appends an engine out record: TD_OUT_TRADE (stored as a TD_SREC_TRADE tick: the price and the quantity
 * the engine resolved, which an ITCH/LOBSTER execution event does not carry), TD_OUT_NBBO (a TD_SREC_NBBO
 * tick) and TD_OUT_CANDLE (a closed candle); other types are ignored (markers are stored as their events). */
int td_store_append_out(td_store_t *s, const td_out_t *o);
/* Waits until everything appended before the call is written and fsynced (whatever the policy). */
int td_store_sync(td_store_t *s);
/* Any thread (REST reads): asks the writer to flush (no fsync) and waits until everything appended before
 * the call is readable, at most timeout_ms. A tick query that reaches up to "now" calls this first so the
 * answer has no hole between the stored history and the live stream. TD_OK, or TD_EAGAIN on timeout. */
int td_store_make_visible(td_store_t *s, int timeout_ms);
/* The visible seq of sym (any thread, lock-free): every stored record of sym with seq <= this value is
 * readable by the queries below now and stays so (until retention drops its partition). It only grows.
 * The writer raises it after a flush whose writes all succeeded (to the largest seq it has written for sym:
 * a symbol's records are appended in seq order, so everything at or below it is in the files); it is never
 * raised past records the writer had to drop (a failed block), so it never covers a hole. At open it is
 * the largest seq of the symbol's blocks in the three newest tick partitions (what restart uses too); 0 if
 * none. REST /ticks uses it to join the store with the in-memory ring of recent trades: stored records with
 * seq <= W, then in-memory ones with seq > W (no duplicate, and no hole while the ring still holds
 * everything above W). sym > TD_SYM_MAX gives 0. */
uint64_t td_store_visible_seq(const td_store_t *s, uint32_t sym);
/* Records in the ring not yet taken by the writer. Any thread. */
size_t td_store_backlog(const td_store_t *s);
const td_store_stats_t *td_store_stats(const td_store_t *s);

/* ---- queries (any thread) ---- */
typedef struct td_store_tick {
    td_event_t ev;   /* ev.sym/ev.exch are ids interned in this process */
    uint64_t seq;    /* the symbol's out seq after this event (0 if not recorded) */
} td_store_tick_t;

typedef struct td_store_cursor td_store_cursor_t;

/* Ticks of sym with from_ns <= exch_ns <= to_ns, in stored (engine) order per UTC day, days ascending; at
 * most limit (0 = no limit). Corrupt blocks are skipped and counted. */
int td_store_ticks_open(td_store_t *s, uint32_t sym, int64_t from_ns, int64_t to_ns, size_t limit,
                        td_store_cursor_t **out);
/* Type masks: bit t selects records of type t (td_ev_type_t, TD_SREC_*; all below 64). TD_STORE_ALL_TYPES
 * selects every record, whatever its type. */
#define TD_STORE_TYPE_BIT(t) (1ull << (t))
#define TD_STORE_ALL_TYPES UINT64_MAX
/* Like td_store_ticks_open, only records whose type is in type_mask; limit counts matching records. */
int td_store_ticks_open_types(td_store_t *s, uint32_t sym, int64_t from_ns, int64_t to_ns, size_t limit,
                              uint64_t type_mask, td_store_cursor_t **out);
/* The general filter: type mask, and after_seq < seq <= max_seq (blocks entirely at or below after_seq are not
 * even read: their index entry gives their max seq). limit counts matching records. */
typedef struct td_store_tick_filter {
    uint64_t type_mask;  /* TD_STORE_ALL_TYPES: every type */
    uint64_t after_seq;  /* 0: no lower bound */
    uint64_t max_seq;    /* UINT64_MAX: no upper bound */
} td_store_tick_filter_t;
int td_store_ticks_open_filter(td_store_t *s, uint32_t sym, int64_t from_ns, int64_t to_ns, size_t limit,
                               const td_store_tick_filter_t *f, td_store_cursor_t **out);
/* Fills up to max ticks; returns the count (0 at the end) or a negative TD_E*. */
int td_store_ticks_next(td_store_cursor_t *c, td_store_tick_t *out, size_t max);
/* Damaged blocks this cursor skipped so far (each also counted in stats.corrupt_blocks): a reader that must
 * not hide a hole (REST /ticks) reports its answer incomplete when this is not 0. */
uint64_t td_store_ticks_skipped(const td_store_cursor_t *c);
void td_store_ticks_close(td_store_cursor_t *c);

/* Closed candles of sym at interval iv with from_s <= time <= to_s, ascending, at most max (and at most
 * limit if limit > 0, the earliest ones). Returns the count or a negative TD_E*. */
int td_store_candles(td_store_t *s, uint32_t sym, td_interval_t iv, int64_t from_s, int64_t to_s,
                     size_t limit, td_candle_t *out, size_t max);

/* The REST merge: the stored closed candles of [from_s, to_s], then the ones closed so recently that the writer
 * has not flushed them yet (kept in memory, the last 8 per symbol and interval), then the engine's open candle
 * `live` (if has_live and it falls in the range). Candles at or after live->time are never taken from the
 * store (no duplicate); closed candles reach the merge from memory until they are on disk (no hole); with a
 * limit, the live candle comes only after every earlier one fitted. Returns the count or a negative TD_E*. */
int td_store_candles_merged(td_store_t *s, uint32_t sym, td_interval_t iv, int64_t from_s, int64_t to_s,
                            size_t limit, const td_candle_t *live, bool has_live, td_candle_t *out,
                            size_t max);

/* ---- restart ---- */
/* Extra seq skipped at every restart: more than the out records that can have been issued and lost with
 * the ring and the unsynced tail, so seq never goes back as a client sees it. */
#define TD_STORE_SEQ_RESTART_GAP (1ull << 32)

/* The state to restore for sym: the last stored engine state, with seq moved past everything issued
 * before the restart, and open candles that the store already holds as closed removed (no candle is
 * emitted twice). false if the store knows nothing about sym. */
bool td_store_restore_state(td_store_t *s, uint32_t sym, td_sym_snap_t *out);
/* Calls fn for every symbol the state log knows (interning names); for start-up restore loops. */
void td_store_each_state_symbol(td_store_t *s, void (*fn)(void *ctx, uint32_t sym), void *ctx);

/* ---- retention and maintenance ---- */
/* Drops tick partitions older than the TTL and candle partitions past their interval's TTL, moves old
 * partitions to the cold directory; now_s is the reference time. Returns partitions removed/moved or a
 * negative TD_E*. Runs in the caller's thread (the writer also runs it once a day). */
int td_store_retention(td_store_t *s, int64_t now_s);

/* ---- verification (tickctl verify) ---- */
typedef struct td_store_verify_report {
    uint64_t partitions, blocks, events, bad_blocks, bad_bytes;
} td_store_verify_report_t;
/* Checks every block of every partition under dir (and its index); calls report(ctx, line) for each
 * damage found (file, offset, reason). Returns TD_OK if all is whole, TD_EPROTO if damage was found. */
int td_store_verify(const char *dir, td_store_verify_report_t *rep, void (*report)(void *ctx, const char *line),
                    void *ctx);

#endif
