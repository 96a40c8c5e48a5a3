/*
 * coinbase_live.c: the Coinbase adapter of the live source (see live.h).
 *
 * api=advanced (default, wss://advanced-trade-ws.coinbase.com): one subscribe message per channel,
 *   {"type":"subscribe","product_ids":[..],"channel":C} for level2, market_trades, ticker and heartbeats
 *   (the heartbeats channel keeps the connection alive and inside the stall window when products are
 *   quiet). Market-data channels need no authentication.
 * api=legacy (the Exchange/Pro ws-feed): {"type":"subscribe","product_ids":[..],"channels":["level2",
 *   "heartbeat","ticker","matches"]}.
 * Both answer with a snapshot per product first, so a resync after a reconnect needs no REST call: the
 * driver emits GAP for every product when the connection drops, and the new connection's snapshots give
 * BOOK_CLEAR + levels + RESYNC. The td_cb_feed_t is recreated per connection, so no update from a new
 * connection can land on a book from the old one (they are dropped until that product's snapshot).
 * Subscribe messages are sent one per tick, at most SUB_INTERVAL_MS apart (Coinbase allows more; we do
 * not need more).
 * Bad input: a malformed level2 message (legacy: no sequence numbers to notice the loss later) and an
 * Advanced Trade sequence_num gap both drop the connection so that the next one starts from snapshots.
 * Trade backfill: not implemented for Coinbase (its REST trades endpoint is paginated by trade id; the
 * GAP marks the hole).
 *
 * Threading: everything here runs on the feed runner's thread (called from live.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"
#include "feed/coinbase.h"
#include "feed/live_internal.h"

#define SUB_INTERVAL_MS 100

typedef struct cb_live {
    bool legacy;
    td_cb_feed_t *feed;
    int sub_next;                /* next channel to subscribe; -1 = done */
    int64_t sub_next_ns;
} cb_live_t;

static const char *const advanced_channels[] = { "heartbeats", "level2", "market_trades", "ticker" };

static int cb_init(td_live_t *l, char *err, size_t errlen)
{
    cb_live_t *c = td_calloc(1, sizeof *c);
    l->ex = c;
    if (l->o.api[0] && strcmp(l->o.api, "advanced") && strcmp(l->o.api, "legacy")) {
        snprintf(err, errlen, "coinbase: api must be advanced or legacy");
        return TD_EINVAL;
    }
    c->legacy = !strcmp(l->o.api, "legacy");
    const char *ews = getenv("TD_COINBASE_WS");
    if (!l->o.ws[0])
        snprintf(l->o.ws, sizeof l->o.ws, "%s", ews && *ews ? ews
                 : c->legacy ? "wss://ws-feed.exchange.coinbase.com" : "wss://advanced-trade-ws.coinbase.com");
    td_url_t u;
    if (td_url_parse(l->o.ws, &u) != TD_OK || !u.websocket) { snprintf(err, errlen, "bad ws URL %s", l->o.ws); return TD_EINVAL; }
    for (uint32_t i = 0; i < l->nsyms; i++)
        for (char *p = l->names[i]; *p; p++)
            if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A'); /* product ids are upper case */
    c->feed = td_cb_create(l->exch);
    c->sub_next = -1;
    return TD_OK;
}

static int cb_ws_url(td_live_t *l, char *url, size_t cap)
{
    int n = snprintf(url, cap, "%s", l->o.ws);
    return n > 0 && (size_t)n < cap ? TD_OK : TD_ENOBUFS;
}

static int cb_on_open(td_live_t *l)
{
    cb_live_t *c = l->ex;
    c->sub_next = 0;
    c->sub_next_ns = 0;
    return TD_OK;
}

static void cb_on_reset(td_live_t *l)
{
    cb_live_t *c = l->ex;
    td_cb_destroy(c->feed);
    c->feed = td_cb_create(l->exch);
    c->sub_next = -1;
}

static void cb_tick(td_live_t *l, int64_t now)
{
    cb_live_t *c = l->ex;
    int nch = c->legacy ? 1 : (int)(sizeof advanced_channels / sizeof advanced_channels[0]);
    if (c->sub_next < 0 || c->sub_next >= nch || now < c->sub_next_ns) return;
    size_t cap = 256 + (size_t)l->nsyms * (LIVE_NAME_MAX + 3);
    char *msg = td_malloc(cap);
    size_t n = (size_t)snprintf(msg, cap, "{\"type\":\"subscribe\",\"product_ids\":[");
    for (uint32_t i = 0; i < l->nsyms; i++)
        n += (size_t)snprintf(msg + n, cap - n, "%s\"%s\"", i ? "," : "", l->names[i]);
    if (c->legacy) n += (size_t)snprintf(msg + n, cap - n, "],\"channels\":[\"level2\",\"heartbeat\",\"ticker\",\"matches\"]}");
    else n += (size_t)snprintf(msg + n, cap - n, "],\"channel\":\"%s\"}", advanced_channels[c->sub_next]);
    c->sub_next++;
    c->sub_next_ns = now + SUB_INTERVAL_MS * TD_NS_PER_MS;
    int rc = td_live_send_text(l, msg, n);
    td_free(msg);
    if (rc != TD_OK) td_live_fail(l, "sending subscribe failed");
}

static bool contains(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(s + i, lit, k)) return true;
    return false;
}

static void cb_on_text(td_live_t *l, const char *json, size_t len, int64_t recv_ns)
{
    cb_live_t *c = l->ex;
    td_cb_kind_t kind = TD_CB_UNKNOWN;
    uint64_t gaps_before = td_cb_gaps(c->feed);
    if (td_cb_handle(c->feed, json, len, recv_ns, td_live_emit, l, &kind) < 0) {
        td_live_bad(l, td_cb_error(c->feed), json, len);
        /* The legacy level2 channel has no sequence numbers: a book message we could not read is an update
         * we lost without any later way to notice. Resync (a new connection brings new snapshots) rather
         * than keep a book that may be wrong. Other malformed messages are only counted. */
        if (contains(json, len < 256 ? len : 256, "l2update") || contains(json, len < 256 ? len : 256, "l2_data") ||
            contains(json, len < 256 ? len : 256, "\"snapshot\""))
            td_live_fail(l, "malformed book message: resyncing");
        return;
    }
    if (kind == TD_CB_UNKNOWN) td_live_bad(l, "unknown message type", json, len);
    else if (kind == TD_CB_ERROR) td_live_bad(l, "error message from the exchange", json, len);
    /* Advanced Trade: a sequence_num gap made every book stale (td_cb emitted the GAP); only new snapshots
     * repair it, and a new subscription is how to get them. */
    if (td_cb_gaps(c->feed) != gaps_before) td_live_fail(l, "sequence_num gap: resubscribing for snapshots");
}

static void cb_destroy(td_live_t *l)
{
    cb_live_t *c = l->ex;
    if (!c) return;
    td_cb_destroy(c->feed);
    td_free(c);
    l->ex = NULL;
}

static const live_ops_t cb_ops = { "COINBASE", cb_init, cb_ws_url, cb_on_open, cb_on_text, cb_on_reset, cb_tick, cb_destroy };

td_source_t *td_live_coinbase_open(const char *args, char *err, size_t errlen)
{
    return td_live_open(&cb_ops, "coinbase", args, err, errlen);
}
