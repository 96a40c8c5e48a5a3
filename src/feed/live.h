/*
 * live.h: live exchange sources (Binance spot, Binance USD-M futures, Coinbase) behind the td_source_t pull
 * interface, each with its own supervisor.
 *
 * Specs (--feed):
 *   binance-spot:btcusdt,ethusdt[;OPT=V...]    binance-futures:btcusdt[;...]    coinbase:BTC-USD,ETH-USD[;...]
 * Options (also settable by environment, the option wins):
 *   ws=URL          WebSocket base (TD_BINANCE_SPOT_WS, TD_BINANCE_FUTURES_WS, TD_COINBASE_WS); defaults
 *                   wss://stream.binance.com:9443, wss://fstream.binance.com, wss://advanced-trade-ws.coinbase.com.
 *                   Binance connects to <ws>/stream and subscribes with SUBSCRIBE messages.
 *   rest=URL        REST base (TD_BINANCE_SPOT_REST, TD_BINANCE_FUTURES_REST); defaults https://api.binance.com,
 *                   https://fapi.binance.com.
 *   ca=FILE         an extra PEM CA to trust (TD_FEED_CA_FILE). Certificates are always verified.
 *   api=advanced|legacy   Coinbase schema to subscribe with (default advanced).
 *   stall_ms=N      no data message for N ms while subscribed = reconnect (default 10000)
 *   backoff_ms=N, backoff_max_ms=N   reconnect delay base and cap (default 500, 30000), equal jitter
 *   breaker=N, cooldown_ms=N         failures that open the circuit (default 5), first cool-down (30000)
 *   fallback=SPEC   a source used while the circuit is open (e.g. fallback=recording:WS_FILE,HTTP_FILE);
 *                   must be the last option (it may contain ',' but not ';')
 *   max_age_s=N     planned reconnect after N s (Binance default 85000: before the exchange's 24 h cut)
 *   ping_s=N        client ping interval (default 60; 0 = off). Server pings are always answered.
 *   timeout_ms=N    connect / handshake / REST deadline (default 10000)
 *   rest_pause_ms=N Binance: after HTTP 429 / 418 from REST, no REST call for N ms (default 60000)
 *   backfill=0|1    Binance: fetch missed aggTrades by fromId after a reconnect or an id jump (default 1)
 *   seed=N          jitter seed (default: from the clock)
 *
 * Limits respected: Binance <= 1024 streams a connection (3 per symbol: at most 341 symbols per source;
 * more is refused at open), SUBSCRIBE control messages at most 4 a second (the limit is 5), server pings
 * answered at once, a planned reconnect before the 24 h disconnect. Coinbase: one subscribe per channel
 * including heartbeats, which keeps quiet products inside the stall window.
 *
 * Gaps: when a connection is lost (error, close, stall, planned reconnect), every symbol of the source gets
 * TD_EV_GAP (expected = received = 0: "unknown") and is stale until its resync: Binance fetches a REST
 * snapshot per symbol once it has buffered diffs (td_bn_sync_*), Coinbase gets a snapshot on subscribe;
 * both give BOOK_CLEAR + levels + TD_EV_RESYNC. Sequence breaks inside a connection are the parsers' gaps.
 * While the circuit is open with a fallback, the fallback's events pass through unchanged, and switching
 * back to the exchange is another GAP + resync.
 *
 * Bad input (malformed JSON, unknown types, protocol violations in frames) is counted in stats.bad and the
 * health record, logged at most 5 lines a second with the source name and the message's position on its
 * connection, and skipped; a WebSocket protocol error drops the connection (then GAP + resync).
 *
 * Threading: next() and destroy() on the runner's thread. td_feed_health() and td_live_symbol_stale() from
 * any thread (atomics).
 */
#ifndef TD_FEED_LIVE_H
#define TD_FEED_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed/source.h"
#include "feed/supervisor.h"

td_source_t *td_live_binance_spot_open(const char *args, char *err, size_t errlen);
td_source_t *td_live_binance_futures_open(const char *args, char *err, size_t errlen);
td_source_t *td_live_coinbase_open(const char *args, char *err, size_t errlen);

bool td_live_is(const td_source_t *src);
/* Copies the source's health: TD_OK, or TD_EINVAL if src is not a live source. Any thread. */
int td_feed_health(const td_source_t *src, td_feed_health_t *out);
/* Is this symbol of the source stale (a gap open)? false for a symbol the source does not carry. */
bool td_live_symbol_stale(const td_source_t *src, uint32_t sym);

#endif
