/*
 * recording.h: a source that replays a cryptofeed raw recording (Binance spot, Binance USD-M futures or
 * Coinbase) through the same parsers and book-sync logic as the live feeds.
 *
 * args: "WS_FILE[,HTTP_FILE]".
 *   WS_FILE   line 1: "<wss URL> <-> <connect time>"; then "<recv unix secs>: <JSON frame>"; lines
 *             "<URL> <- <ts>: <JSON>" are our own outgoing requests (skipped); empty lines are skipped.
 *   HTTP_FILE lines "<request URL> -> <recv unix secs>: <JSON body>" (Binance /depth snapshots; other
 *             URLs, such as Coinbase /products, and non-URL lines are skipped).
 * The exchange comes from the URL on line 1 (stream.binance.* = BINANCE, fstream.binance.* =
 * BINANCE_FUTURES, *coinbase* = COINBASE; dstream.binance.*, COIN-M futures, is refused), else from the
 * file name (BINANCE_FUTURES*, BINANCE*, COINBASE*).
 *
 * Time: the two files are merged by receive time; a snapshot becomes available to the sync state machine
 * at its receive time (it is offered before any frame received at or after it), so the replay sees what
 * the live handler would have seen. recv_ns of every event is the recorded receive time.
 * exch_ns: messages that carry no exchange time (spot bookTicker, spot REST snapshots, Coinbase legacy
 * snapshots) get their receive time instead, so that a replay paced by exchange time (--speed N) never
 * sees a 0 in the middle of 2021 timestamps. Live handlers leave such events at 0.
 * Gaps: on a broken depth chain the symbol waits for the next snapshot of that symbol in the HTTP file;
 * if there is none, it stays stale and td_recording_symbols() reports it.
 *
 * Bad lines (no timestamp, bad JSON, a rejected message, a message of an unknown type) are counted in
 * stats.bad and logged, at most a few per second, with file:line; they are never fatal. stats.messages
 * counts frames and snapshots. The HTTP file is read in file order (cryptofeed writes it in time order).
 *
 * Threading: like every source, one thread calls next(); the query functions below must be called from
 * that thread too (or after it stopped).
 */
#ifndef TD_FEED_RECORDING_H
#define TD_FEED_RECORDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed/source.h"

td_source_t *td_recording_open(const char *args, char *err, size_t errlen);

/* Per-symbol book-sync report. */
typedef struct td_recording_sym {
    uint32_t sym;
    uint8_t exch;
    const char *state;         /* "live", "wait_snapshot", "wait_first" (Binance); "synced"/"unsynced" */
    bool synced;               /* the book is whole now (live, or waiting for the bridge right after a
                                  snapshot with nothing missed) */
    bool stale;                /* a gap is open and was not repaired */
    uint64_t applied;          /* depth / l2update messages applied */
    uint64_t dropped;          /* older than the snapshot (Binance) / before any snapshot (Coinbase) */
    uint64_t duplicates;
    uint64_t gaps;
    uint64_t resyncs;
    uint64_t snapshots;        /* snapshots applied */
    uint64_t snapshots_unused; /* offered but not needed, or older than the stream */
    uint64_t snapshot_id;      /* Binance: L of the latest applied snapshot */
    uint64_t first_U, first_u; /* Binance: the first event applied after it */
    uint64_t buffered;         /* Binance: events waiting for a snapshot now */
    uint64_t seq_backwards;    /* Coinbase legacy */
} td_recording_sym_t;

/* Copies up to max symbol reports (every symbol that had book data), in first-seen order; returns the
 * total number of symbols. src must come from td_recording_open(). */
size_t td_recording_symbols(td_source_t *src, td_recording_sym_t *out, size_t max);

/* Frames counted by message type name ("depthUpdate", "bookTicker", "aggTrade", "kline", "trade", "reply",
 * "unknown", "bad"; Coinbase: "snapshot", "l2update", "ticker", "match", "last_match", "subscriptions",
 * ...). "http_snapshot" counts snapshots read from the HTTP file. 0 for a name never seen. */
uint64_t td_recording_count(td_source_t *src, const char *type);
/* Iterates the non-zero counters: returns false past the end. */
bool td_recording_count_at(td_source_t *src, size_t i, const char **type, uint64_t *count);

/* Exchange id of the recording. */
uint8_t td_recording_exch(td_source_t *src);
/* Is this source a recording? */
bool td_recording_is(const td_source_t *src);

#endif
