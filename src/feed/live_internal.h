/*
 * live_internal.h: what the exchange adapters (binance_live.c, coinbase_live.c) share with the generic live
 * driver (live.c). The driver owns the connection, the supervisor and the event queue; an adapter owns its
 * protocol state and reacts to four calls, all on the feed thread:
 *   on_open   a new connection is up: send subscriptions (now or from tick, rate-limited)
 *   on_text   one text message; emit events through td_live_emit()
 *   on_reset  the connection is gone: forget per-connection state (book sync); the driver emits the GAPs
 *   tick      every next() while connected: paced work (subscriptions, snapshots). At most one blocking
 *             REST call per tick, so the event queue holds at most one snapshot.
 */
#ifndef TD_FEED_LIVE_INTERNAL_H
#define TD_FEED_LIVE_INTERNAL_H

#include "core/rng.h"
#include "feed/live.h"
#include "feed/wsclient.h"

typedef struct td_live td_live_t;

typedef struct live_ops {
    const char *exch_name;
    int (*init)(td_live_t *l, char *err, size_t errlen);
    int (*ws_url)(td_live_t *l, char *url, size_t cap);
    int (*on_open)(td_live_t *l);
    void (*on_text)(td_live_t *l, const char *json, size_t len, int64_t recv_ns);
    void (*on_reset)(td_live_t *l);
    void (*tick)(td_live_t *l, int64_t now_mono);
    void (*destroy)(td_live_t *l);
} live_ops_t;

#define LIVE_NAME_MAX 32

typedef struct live_opts {
    char ws[1024], rest[1024], ca[512], fallback[1024], api[16];
    uint32_t stall_ms, backoff_ms, backoff_max_ms, breaker, cooldown_ms, ping_s, timeout_ms, rest_pause_ms;
    uint64_t max_age_s;
    bool backfill;
    uint64_t seed;
} live_opts_t;

struct td_live {
    td_source_t base;             /* first */
    const live_ops_t *ops;
    void *ex;                     /* the adapter's state */
    uint8_t exch;
    live_opts_t o;
    uint32_t nsyms;
    uint32_t *syms;               /* interned ids, by index */
    char (*names)[LIVE_NAME_MAX]; /* as given (Binance: lower case for stream names) */
    _Atomic uint8_t *stale;       /* by index */
    td_wsc_config_t wcfg;
    td_wsc_t *ws;
    /* supervisor */
    td_backoff_t backoff;
    td_breaker_t breaker;
    td_rng_t rng;
    int phase;
    bool ever_connected, got_data, outage_gap_sent, used_fallback;
    int64_t next_attempt_ns, connected_at_ns, last_msg_ns, last_ping_ns;
    uint64_t conn_no, msg_pos;
    td_source_t *fallback;
    bool fallback_done;
    /* events produced and not yet returned; see live.c for the bound */
    td_event_t *q;
    size_t qhead, qlen, qcap;
    int64_t rate_start_ns;
    uint64_t rate_count;
    td_feed_health_atomic_t health;
};

void td_live_emit(void *ctx, const td_event_t *ev);
/* Counts, logs (rate-limited, with source and position) and skips a bad message. */
void td_live_bad(td_live_t *l, const char *why, const char *data, size_t len);
int td_live_send_text(td_live_t *l, const char *s, size_t n);
/* Index of sym in the source's symbols, or -1. */
int td_live_sym_index(const td_live_t *l, uint32_t sym);
/* Drops the connection as failed (reason logged); the supervisor takes over. */
void td_live_fail(td_live_t *l, const char *why);

td_source_t *td_live_open(const live_ops_t *ops, const char *kind, const char *args, char *err, size_t errlen);

#endif
