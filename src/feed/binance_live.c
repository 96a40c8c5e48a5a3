/*
 * binance_live.c: the Binance spot and USD-M futures adapter of the live source (see live.h).
 *
 * Connection: <ws>/stream (combined streams), then SUBSCRIBE control messages for <sym>@depth@100ms,
 * <sym>@aggTrade and <sym>@bookTicker, at most SUB_PARAMS streams per message and one message every
 * SUB_INTERVAL_MS (4/s, under the 5/s limit); 3 streams a symbol and <= 1024 a connection caps a source at
 * 341 symbols. Replies ({"result":null,"id":N}) are counted.
 *
 * Book sync: one td_bn_sync_t per symbol. A symbol that needs a snapshot (after connect or a gap) gets one
 * from GET <rest>/api/v3/depth (futures /fapi/v1/depth)?symbol=S&limit=1000 once it has buffered at least
 * one diff (Binance's documented order: buffer, then fetch), one symbol per tick, retried every
 * SNAP_RETRY_MS on failure or when the snapshot is older than the buffered stream.
 *
 * REST limits: HTTP 429 / 418 pause all REST calls of the source for rest_pause_ms (default 60 s;
 * Retry-After is not read).
 *
 * Trade backfill: the last aggTrade id per symbol is remembered across connections; when an aggTrade
 * arrives with id a > last + 1, the missing ids are fetched from GET .../aggTrades?symbol=S&fromId=last+1
 * &limit=min(1000, a-last-1) and emitted (in id order) before it. At most 1000 per jump: a longer outage
 * leaves the rest missing (logged), which the GAP already told the engine about.
 *
 * Threading: everything here runs on the feed runner's thread (called from live.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"
#include "core/symbols.h"
#include "feed/binance.h"
#include "feed/json.h"
#include "feed/live_internal.h"

#define SUB_PARAMS 150
#define SUB_INTERVAL_MS 250
#define SNAP_RETRY_MS 1000
#define STREAMS_PER_SYMBOL 3
#define MAX_STREAMS 1024
#define MAX_REST_BODY (16u << 20)

typedef struct bn_sym {
    td_bn_sync_t sync;
    int64_t snap_next_ns;       /* monotonic: earliest next snapshot attempt */
    uint64_t last_agg;          /* last aggTrade id seen (0 = none) */
} bn_sym_t;

typedef struct bn_live {
    bool futures;
    td_bn_parser_t *parser;
    bn_sym_t *syms;
    uint32_t sub_next;          /* next stream index to subscribe */
    uint32_t sub_id;
    int64_t sub_next_ns;
    uint64_t replies;
    int64_t rest_pause_until_ns; /* monotonic: no REST call before this (after HTTP 429 / 418) */
    td_json_t json;             /* for aggTrades bodies */
} bn_live_t;

/* Checks a REST answer: true if usable. HTTP 429 (rate limit) and 418 (IP ban for ignoring 429) pause every
 * REST call of the source for REST_PAUSE_MS, as Binance asks; symbols stay stale meanwhile. */
static bool rest_ok(td_live_t *l, bn_live_t *b, const char *what, const char *url, int rc, int status,
                    const char *err)
{
    if (rc == TD_OK && status == 200) return true;
    if (rc == TD_OK && (status == 429 || status == 418)) {
        b->rest_pause_until_ns = td_mono_ns() + (int64_t)l->o.rest_pause_ms * TD_NS_PER_MS;
        td_log_warn("live", "%s: %s %s: HTTP %d: REST paused for %u ms", l->base.name, what, url, status,
                    l->o.rest_pause_ms);
        return false;
    }
    char why[64];
    if (rc == TD_OK) snprintf(why, sizeof why, "HTTP %d", status);
    TD_LOG_RATELIMITED(TD_LOG_WARN, "live", 2, "%s: %s %s: %s", l->base.name, what, url, rc == TD_OK ? why : err);
    return false;
}

static const char *default_ws(bool futures) { return futures ? "wss://fstream.binance.com" : "wss://stream.binance.com:9443"; }
static const char *default_rest(bool futures) { return futures ? "https://fapi.binance.com" : "https://api.binance.com"; }

static void trim_slash(char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == '/') s[--n] = 0;
}

static int bn_init(td_live_t *l, char *err, size_t errlen)
{
    bn_live_t *b = l->ex;
    if (l->nsyms * STREAMS_PER_SYMBOL > MAX_STREAMS) {
        snprintf(err, errlen, "%s: %u symbols need %u streams; Binance allows %u a connection: split the symbols "
                 "over several --feed", l->base.name, l->nsyms, l->nsyms * STREAMS_PER_SYMBOL, MAX_STREAMS);
        return TD_EINVAL;
    }
    const char *ews = getenv(b->futures ? "TD_BINANCE_FUTURES_WS" : "TD_BINANCE_SPOT_WS");
    const char *erest = getenv(b->futures ? "TD_BINANCE_FUTURES_REST" : "TD_BINANCE_SPOT_REST");
    if (!l->o.ws[0]) snprintf(l->o.ws, sizeof l->o.ws, "%s", ews && *ews ? ews : default_ws(b->futures));
    if (!l->o.rest[0]) snprintf(l->o.rest, sizeof l->o.rest, "%s", erest && *erest ? erest : default_rest(b->futures));
    trim_slash(l->o.ws);
    trim_slash(l->o.rest);
    if (l->o.max_age_s == 0) l->o.max_age_s = 85000; /* < 24 h */
    td_url_t u;
    if (td_url_parse(l->o.ws, &u) != TD_OK || !u.websocket) { snprintf(err, errlen, "bad ws URL %s", l->o.ws); return TD_EINVAL; }
    if (td_url_parse(l->o.rest, &u) != TD_OK || u.websocket) { snprintf(err, errlen, "bad rest URL %s", l->o.rest); return TD_EINVAL; }
    for (uint32_t i = 0; i < l->nsyms; i++) {
        for (char *c = l->names[i]; *c; c++)
            if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a'); /* stream names are lower case */
        td_bn_sync_init(&b->syms[i].sync, l->syms[i], l->exch, b->futures);
    }
    return TD_OK;
}

static int bn_ws_url(td_live_t *l, char *url, size_t cap)
{
    int n = snprintf(url, cap, "%s/stream", l->o.ws);
    return n > 0 && (size_t)n < cap ? TD_OK : TD_ENOBUFS;
}

static int bn_on_open(td_live_t *l)
{
    bn_live_t *b = l->ex;
    b->sub_next = 0;
    b->sub_next_ns = 0;
    return TD_OK; /* subscriptions go out from tick, paced */
}

static void bn_on_reset(td_live_t *l)
{
    bn_live_t *b = l->ex;
    for (uint32_t i = 0; i < l->nsyms; i++) {
        td_bn_sync_free(&b->syms[i].sync);
        td_bn_sync_init(&b->syms[i].sync, l->syms[i], l->exch, b->futures);
        b->syms[i].snap_next_ns = 0;
    }
    b->sub_next = 0;
}

static void send_subscriptions(td_live_t *l, bn_live_t *b, int64_t now)
{
    static const char *const kinds[STREAMS_PER_SYMBOL] = { "depth@100ms", "aggTrade", "bookTicker" };
    uint32_t total = l->nsyms * STREAMS_PER_SYMBOL;
    if (b->sub_next >= total || now < b->sub_next_ns) return;
    char msg[SUB_PARAMS * (LIVE_NAME_MAX + 16) + 64];
    int n = snprintf(msg, sizeof msg, "{\"method\":\"SUBSCRIBE\",\"params\":[");
    uint32_t k = 0;
    for (; k < SUB_PARAMS && b->sub_next < total; k++, b->sub_next++) {
        uint32_t s = b->sub_next / STREAMS_PER_SYMBOL, kind = b->sub_next % STREAMS_PER_SYMBOL;
        n += snprintf(msg + n, sizeof msg - (size_t)n, "%s\"%s@%s\"", k ? "," : "", l->names[s], kinds[kind]);
    }
    n += snprintf(msg + n, sizeof msg - (size_t)n, "],\"id\":%u}", ++b->sub_id);
    b->sub_next_ns = now + SUB_INTERVAL_MS * TD_NS_PER_MS;
    if (td_live_send_text(l, msg, (size_t)n) != TD_OK) td_live_fail(l, "sending SUBSCRIBE failed");
}

static void fetch_snapshot(td_live_t *l, bn_live_t *b, uint32_t i, int64_t now)
{
    bn_sym_t *s = &b->syms[i];
    s->snap_next_ns = now + SNAP_RETRY_MS * TD_NS_PER_MS;
    char url[1400], err[256] = "";
    snprintf(url, sizeof url, "%s%s?symbol=%s&limit=1000", l->o.rest, b->futures ? "/fapi/v1/depth" : "/api/v3/depth",
             td_sym_name(l->syms[i]));
    int status = 0;
    char *body = NULL;
    size_t blen = 0;
    int rc = td_http_get(url, &l->wcfg, MAX_REST_BODY, &status, &body, &blen, err, sizeof err);
    int64_t recv_ns = td_now_ns();
    if (!rest_ok(l, b, "snapshot", url, rc, status, err)) {
        td_free(body);
        return;
    }
    td_bn_snapshot_t snap;
    if (td_bn_parse_snapshot(b->parser, body, blen, &snap) < 0) {
        td_live_bad(l, td_bn_parser_error(b->parser), body, blen);
        td_free(body);
        return;
    }
    rc = td_bn_sync_snapshot(&s->sync, &snap, recv_ns, td_live_emit, l);
    if (rc == TD_ERANGE)
        td_log_info("live", "%s: snapshot of %s (lastUpdateId %" PRIu64 ") older than the buffered stream; retrying",
                    l->base.name, td_sym_name(l->syms[i]), snap.last_update_id);
    else if (rc == TD_OK) {
        s->snap_next_ns = 0;
        td_log_info("live", "%s: %s synced from a snapshot (lastUpdateId %" PRIu64 ", %zu bids, %zu asks)",
                    l->base.name, td_sym_name(l->syms[i]), snap.last_update_id, snap.nbids, snap.nasks);
    }
    td_free(body);
}

static void bn_tick(td_live_t *l, int64_t now)
{
    bn_live_t *b = l->ex;
    send_subscriptions(l, b, now);
    if (now < b->rest_pause_until_ns) return;
    for (uint32_t i = 0; i < l->nsyms; i++) {
        bn_sym_t *s = &b->syms[i];
        if (td_bn_sync_needs_snapshot(&s->sync) && s->sync.nbuf > 0 && now >= s->snap_next_ns) {
            fetch_snapshot(l, b, i, now);
            return; /* one REST call per tick */
        }
    }
}

/* Fetches aggTrades [from, before) and emits them. */
static void backfill(td_live_t *l, bn_live_t *b, uint32_t i, uint64_t from, uint64_t before)
{
    uint64_t want = before - from;
    uint64_t limit = want > 1000 ? 1000 : want;
    char url[1400], err[256] = "";
    snprintf(url, sizeof url, "%s%s?symbol=%s&fromId=%" PRIu64 "&limit=%" PRIu64, l->o.rest,
             b->futures ? "/fapi/v1/aggTrades" : "/api/v3/aggTrades", td_sym_name(l->syms[i]), from, limit);
    int status = 0;
    char *body = NULL;
    size_t blen = 0;
    int rc = td_http_get(url, &l->wcfg, MAX_REST_BODY, &status, &body, &blen, err, sizeof err);
    int64_t recv_ns = td_now_ns();
    if (!rest_ok(l, b, "backfill", url, rc, status, err)) {
        td_free(body);
        return;
    }
    td_json_t *j = &b->json;
    if (td_json_parse(j, body, blen) != TD_OK || !td_json_is(j, 0, TD_JSON_ARRAY)) {
        td_live_bad(l, "aggTrades backfill: not a JSON array", body, blen);
        td_free(body);
        return;
    }
    uint64_t got = 0;
    for (int e = td_json_first_elem(j, 0); e > 0; e = td_json_next_elem(j, 0, e)) {
        td_bn_msg_t m;
        memset(&m, 0, sizeof m);
        m.kind = TD_BN_AGGTRADE;
        m.sym = l->syms[i];
        bool maker = false;
        int ka = td_json_find(j, e, "a"), kp = td_json_find(j, e, "p"), kq = td_json_find(j, e, "q"),
            kt = td_json_find(j, e, "T"), km = td_json_find(j, e, "m");
        if (ka < 0 || kp < 0 || kq < 0 || kt < 0 || km < 0 || td_json_u64(j, ka, &m.trade_id) != TD_OK ||
            td_json_dec(j, kp, &m.price) != TD_OK || td_json_dec(j, kq, &m.qty) != TD_OK ||
            td_json_i64(j, kt, &m.txn_ms) != TD_OK || td_json_bool(j, km, &maker) != TD_OK || m.price <= 0 ||
            m.qty < 0 || m.txn_ms < 0 || m.txn_ms > 32503680000000LL) {
            td_live_bad(l, "aggTrades backfill: bad element", body + j->tok[e].start,
                        (size_t)(j->tok[e].end - j->tok[e].start));
            continue;
        }
        if (m.trade_id < from || m.trade_id >= before) continue;
        m.aggressor = maker ? TD_ASK : TD_BID;
        td_event_t ev;
        if (td_bn_msg_events(&m, l->exch, recv_ns, &ev, 1) == 1) {
            td_live_emit(l, &ev);
            got++;
        }
    }
    atomic_fetch_add_explicit(&l->health.backfilled, got, memory_order_relaxed);
    td_log_info("live", "%s: backfilled %" PRIu64 " of %" PRIu64 " missed aggTrades of %s", l->base.name, got, want,
                td_sym_name(l->syms[i]));
    td_free(body);
}

static void bn_on_text(td_live_t *l, const char *json, size_t len, int64_t recv_ns)
{
    bn_live_t *b = l->ex;
    td_bn_msg_t m;
    if (td_bn_parse(b->parser, json, len, &m) < 0) {
        td_live_bad(l, td_bn_parser_error(b->parser), json, len);
        return;
    }
    int i = m.kind == TD_BN_REPLY || m.kind == TD_BN_UNKNOWN ? -1 : td_live_sym_index(l, m.sym);
    switch (m.kind) {
    case TD_BN_REPLY:
        b->replies++;
        return;
    case TD_BN_UNKNOWN:
        td_live_bad(l, "unknown message type", json, len);
        return;
    default:
        break;
    }
    if (i < 0) {
        td_live_bad(l, "message for a symbol this feed did not subscribe", json, len);
        return;
    }
    bn_sym_t *s = &b->syms[i];
    switch (m.kind) {
    case TD_BN_DEPTH:
        td_bn_sync_depth(&s->sync, &m, recv_ns, td_live_emit, l);
        break;
    case TD_BN_AGGTRADE:
        if (s->last_agg && m.trade_id <= s->last_agg) break; /* duplicate (replayed after a reconnect) */
        if (s->last_agg && m.trade_id > s->last_agg + 1 && l->o.backfill && td_mono_ns() >= b->rest_pause_until_ns) {
            /* the parser's levels are not in use for aggTrade, but backfill reuses only the json; keep m */
            td_bn_msg_t cur = m;
            backfill(l, b, (uint32_t)i, s->last_agg + 1, m.trade_id);
            m = cur;
        }
        s->last_agg = m.trade_id;
        /* fall through */
    case TD_BN_TRADE:
    case TD_BN_BOOKTICKER: {
        td_event_t ev;
        if (td_bn_msg_events(&m, l->exch, recv_ns, &ev, 1) == 1) td_live_emit(l, &ev);
        break;
    }
    default: /* kline: no event type yet (binance.h) */
        break;
    }
}

static void bn_destroy(td_live_t *l)
{
    bn_live_t *b = l->ex;
    if (!b) return;
    if (b->syms)
        for (uint32_t i = 0; i < l->nsyms; i++) td_bn_sync_free(&b->syms[i].sync);
    td_free(b->syms);
    td_bn_parser_destroy(b->parser);
    td_json_free(&b->json);
    td_free(b);
    l->ex = NULL;
}

static int bn_init_spot(td_live_t *l, char *err, size_t errlen);
static int bn_init_futures(td_live_t *l, char *err, size_t errlen);

static const live_ops_t spot_ops = { "BINANCE", bn_init_spot, bn_ws_url, bn_on_open, bn_on_text, bn_on_reset, bn_tick, bn_destroy };
static const live_ops_t futures_ops = { "BINANCE_FUTURES", bn_init_futures, bn_ws_url, bn_on_open, bn_on_text, bn_on_reset, bn_tick, bn_destroy };

static int init_common(td_live_t *l, bool futures, char *err, size_t errlen)
{
    bn_live_t *b = td_calloc(1, sizeof *b);
    l->ex = b;
    b->futures = futures;
    b->parser = td_bn_parser_create();
    b->syms = td_calloc(l->nsyms ? l->nsyms : 1, sizeof *b->syms);
    td_json_init(&b->json, 256, 1 << 20);
    return bn_init(l, err, errlen);
}

static int bn_init_spot(td_live_t *l, char *err, size_t errlen) { return init_common(l, false, err, errlen); }
static int bn_init_futures(td_live_t *l, char *err, size_t errlen) { return init_common(l, true, err, errlen); }

td_source_t *td_live_binance_spot_open(const char *args, char *err, size_t errlen)
{
    return td_live_open(&spot_ops, "binance-spot", args, err, errlen);
}

td_source_t *td_live_binance_futures_open(const char *args, char *err, size_t errlen)
{
    return td_live_open(&futures_ops, "binance-futures", args, err, errlen);
}
