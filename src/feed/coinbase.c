/*
 * coinbase.c: Coinbase legacy and Advanced Trade messages to events (contract in coinbase.h).
 *
 * Two phases per frame, so a bad frame changes nothing: (1) parse and validate everything into a staging
 * list of events (book updates of one product in one message are preceded by a TD_EV_NONE marker that
 * carries the product, so phase 2 can count messages); (2) walk the staging list against the per-product
 * state: apply snapshots, drop updates of products without a valid book, check sequences, emit.
 *
 * Invariant: an update reaches the emitter only for a product whose book was built from a snapshot and
 * has seen no gap since; otherwise it is dropped and counted (td_cb_product_t.unsynced).
 */
#include "feed/coinbase.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "core/decimal.h"
#include "core/symbols.h"
#include "feed/json.h"

/* Advanced Trade market_trades "side": treated as the maker's side (as in the legacy feed), so inverted to
 * get the aggressor. Flip to 0 if Coinbase documents it as the taker side. */
#define CB_AT_SIDE_IS_MAKER 1

#define CB_MAX_STAGED (1u << 22) /* events from one frame */

struct td_cb_feed {
    uint8_t exch;
    td_json_t json;
    td_event_t *stage;
    size_t nstage, capstage;
    td_cb_product_t *prod; /* indexed by symbol id */
    size_t nprod;
    bool legacy;           /* the current frame is legacy: its sequences are full-channel ones */
    bool have_seqnum;
    uint64_t next_seqnum;
    uint64_t gaps;
    td_sym_cache_t syms;
    char err[160];
};

static const char *const kind_names[TD_CB_KIND_COUNT] = {
    [TD_CB_UNKNOWN] = "unknown",   [TD_CB_SUBSCRIBE] = "subscribe",   [TD_CB_SUBSCRIPTIONS] = "subscriptions",
    [TD_CB_SNAPSHOT] = "snapshot", [TD_CB_L2UPDATE] = "l2update",     [TD_CB_TICKER] = "ticker",
    [TD_CB_MATCH] = "match",       [TD_CB_LAST_MATCH] = "last_match", [TD_CB_HEARTBEAT] = "heartbeat",
    [TD_CB_ERROR] = "error",       [TD_CB_AT_L2] = "l2_data",         [TD_CB_AT_TRADES] = "market_trades",
    [TD_CB_AT_TICKER] = "at_ticker", [TD_CB_AT_HEARTBEATS] = "heartbeats", [TD_CB_AT_OTHER] = "at_other",
};

const char *td_cb_kind_name(td_cb_kind_t k) { return (unsigned)k < TD_CB_KIND_COUNT ? kind_names[k] : "?"; }

td_cb_feed_t *td_cb_create(uint8_t exch)
{
    td_cb_feed_t *f = td_calloc(1, sizeof *f);
    f->exch = exch;
    td_json_init(&f->json, 512, 1 << 23);
    return f;
}

void td_cb_destroy(td_cb_feed_t *f)
{
    if (!f) return;
    td_json_free(&f->json);
    td_free(f->stage);
    td_free(f->prod);
    td_free(f);
}

const char *td_cb_error(const td_cb_feed_t *f) { return f->err; }
uint64_t td_cb_gaps(const td_cb_feed_t *f) { return f->gaps; }

const td_cb_product_t *td_cb_product(const td_cb_feed_t *f, uint32_t sym)
{
    return sym < f->nprod && f->prod[sym].seen ? &f->prod[sym] : NULL;
}

static td_cb_product_t *product(td_cb_feed_t *f, uint32_t sym)
{
    if (sym >= f->nprod) {
        size_t n = f->nprod ? f->nprod : 64;
        while (n <= sym) n *= 2;
        f->prod = td_realloc(f->prod, n * sizeof *f->prod);
        memset(f->prod + f->nprod, 0, (n - f->nprod) * sizeof *f->prod);
        f->nprod = n;
    }
    f->prod[sym].seen = true;
    return &f->prod[sym];
}

__attribute__((format(printf, 2, 3))) static int fail(td_cb_feed_t *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof f->err, fmt, ap);
    va_end(ap);
    return TD_EPROTO;
}

static td_event_t *stage(td_cb_feed_t *f, uint8_t type, uint32_t sym, int64_t exch_ns)
{
    if (f->nstage == f->capstage) {
        if (f->capstage >= CB_MAX_STAGED) return NULL;
        f->capstage = f->capstage ? f->capstage * 2 : 256;
        f->stage = td_realloc(f->stage, f->capstage * sizeof *f->stage);
    }
    td_event_t *ev = &f->stage[f->nstage++];
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->side = TD_SIDE_NONE;
    ev->exch = f->exch;
    ev->sym = sym;
    ev->exch_ns = exch_ns;
    return ev;
}
#define STAGE(f, ev, type, sym, ns)                                         \
    do {                                                                    \
        if (!((ev) = stage((f), (type), (sym), (ns))))                      \
            return fail((f), "message too large");                          \
    } while (0)

static int get_sym(td_cb_feed_t *f, int obj, uint32_t *out)
{
    *out = 0; /* set on every path: callers test the result, but -O3 cannot see that fail() returns non-zero */
    int tok = td_json_find(&f->json, obj, "product_id");
    if (tok < 0) return fail(f, "missing product_id");
    uint32_t id = td_json_sym(&f->json, tok, &f->syms);
    if (!id) return fail(f, "bad product_id (not a string, characters, length, or table full)");
    *out = id;
    return TD_OK;
}

/* min: 1 = must be > 0, 0 = must be >= 0 */
static int get_dec(td_cb_feed_t *f, int tok, const char *what, int min, int64_t *out)
{
    if (tok < 0) return fail(f, "missing %s", what);
    int rc = td_json_dec(&f->json, tok, out);
    if (rc == TD_ERANGE) return fail(f, "%s out of range", what);
    if (rc != TD_OK) return fail(f, "%s is not a decimal", what);
    if (*out < 0 || (min > 0 && *out == 0)) return fail(f, "%s must be %s", what, min ? "> 0" : ">= 0");
    return TD_OK;
}

static int get_time(td_cb_feed_t *f, int tok, int64_t *out)
{
    const char *s;
    size_t len;
    *out = 0;
    if (tok < 0) return TD_OK; /* optional everywhere */
    if (td_json_str(&f->json, tok, &s, &len) != TD_OK || td_parse_rfc3339_ns(s, len, out) != TD_OK)
        return fail(f, "bad time");
    return TD_OK;
}

/* "buy"/"bid" -> TD_BID, "sell"/"offer"/"ask" -> TD_ASK (case-insensitive for BUY/SELL). */
static int get_side(td_cb_feed_t *f, int tok, uint8_t *out)
{
    char s[8];
    int n = td_json_str_copy(&f->json, tok, s, sizeof s);
    if (n <= 0) return fail(f, "bad side");
    for (int i = 0; i < n; i++) s[i] = (char)(s[i] | 0x20);
    if (!strcmp(s, "buy") || !strcmp(s, "bid")) *out = TD_BID;
    else if (!strcmp(s, "sell") || !strcmp(s, "offer") || !strcmp(s, "ask")) *out = TD_ASK;
    else return fail(f, "bad side");
    return TD_OK;
}

/* ---- legacy ---- */

static int stage_snapshot_side(td_cb_feed_t *f, int arr, uint8_t side, uint32_t sym)
{
    const td_json_t *j = &f->json;
    if (!td_json_is(j, arr, TD_JSON_ARRAY)) return fail(f, "snapshot side is not an array");
    for (int e = td_json_first_elem(j, arr); e > 0; e = td_json_next_elem(j, arr, e)) {
        if (!td_json_is(j, e, TD_JSON_ARRAY) || j->tok[e].size < 2) return fail(f, "bad snapshot level");
        int64_t px, qty;
        int pe = e + 1, qe = td_json_skip(j, pe);
        if (get_dec(f, pe, "price", 1, &px) || get_dec(f, qe, "size", 0, &qty)) return TD_EPROTO;
        if (qty == 0) continue;
        td_event_t *ev;
        STAGE(f, ev, TD_EV_LEVEL_SET, sym, 0);
        ev->flags = TD_EVF_SNAPSHOT;
        ev->side = side;
        ev->u.level.price = px;
        ev->u.level.qty = qty;
    }
    return TD_OK;
}

static int legacy_snapshot(td_cb_feed_t *f)
{
    uint32_t sym;
    td_event_t *ev;
    if (get_sym(f, 0, &sym)) return TD_EPROTO;
    STAGE(f, ev, TD_EV_BOOK_CLEAR, sym, 0);
    if (stage_snapshot_side(f, td_json_find(&f->json, 0, "bids"), TD_BID, sym) ||
        stage_snapshot_side(f, td_json_find(&f->json, 0, "asks"), TD_ASK, sym))
        return TD_EPROTO;
    STAGE(f, ev, TD_EV_RESYNC, sym, 0);
    return TD_OK;
}

static int legacy_l2update(td_cb_feed_t *f)
{
    const td_json_t *j = &f->json;
    uint32_t sym;
    int64_t t;
    td_event_t *ev;
    if (get_sym(f, 0, &sym) || get_time(f, td_json_find(j, 0, "time"), &t)) return TD_EPROTO;
    int arr = td_json_find(j, 0, "changes");
    if (!td_json_is(j, arr, TD_JSON_ARRAY)) return fail(f, "missing changes");
    STAGE(f, ev, TD_EV_NONE, sym, t); /* message marker */
    for (int e = td_json_first_elem(j, arr); e > 0; e = td_json_next_elem(j, arr, e)) {
        if (!td_json_is(j, e, TD_JSON_ARRAY) || j->tok[e].size != 3) return fail(f, "bad change");
        int se = e + 1, pe = td_json_skip(j, se), qe = td_json_skip(j, pe);
        uint8_t side;
        int64_t px, qty;
        if (get_side(f, se, &side) || get_dec(f, pe, "price", 1, &px) || get_dec(f, qe, "size", 0, &qty))
            return TD_EPROTO;
        STAGE(f, ev, qty ? TD_EV_LEVEL_SET : TD_EV_LEVEL_DEL, sym, t);
        ev->side = side;
        ev->u.level.price = px;
        ev->u.level.qty = qty;
    }
    return TD_OK;
}

static int legacy_match(td_cb_feed_t *f)
{
    const td_json_t *j = &f->json;
    uint32_t sym;
    int64_t t, px, qty;
    uint64_t trade_id, seq = 0;
    uint8_t maker;
    td_event_t *ev;
    if (get_sym(f, 0, &sym) || get_time(f, td_json_find(j, 0, "time"), &t) ||
        get_dec(f, td_json_find(j, 0, "price"), "price", 1, &px) ||
        get_dec(f, td_json_find(j, 0, "size"), "size", 1, &qty) || get_side(f, td_json_find(j, 0, "side"), &maker))
        return TD_EPROTO;
    if (td_json_u64(j, td_json_find(j, 0, "trade_id"), &trade_id) != TD_OK) return fail(f, "bad trade_id");
    int st = td_json_find(j, 0, "sequence");
    if (st >= 0 && td_json_u64(j, st, &seq) != TD_OK) return fail(f, "bad sequence");
    STAGE(f, ev, TD_EV_TRADE, sym, t);
    ev->side = maker == TD_BID ? TD_ASK : TD_BID; /* the maker's side is given: the aggressor is the other */
    ev->src_seq = seq;
    ev->u.trade.price = px;
    ev->u.trade.qty = qty;
    ev->u.trade.trade_id = trade_id;
    return TD_OK;
}

static int optional_dec(td_cb_feed_t *f, int obj, const char *key, int64_t *out)
{
    int tok = td_json_find(&f->json, obj, key);
    *out = 0;
    if (tok < 0) return TD_OK;
    return get_dec(f, tok, key, 0, out);
}

static int stage_quote(td_cb_feed_t *f, int obj, const char *bid_qty_key, const char *ask_qty_key, int64_t t,
                       uint64_t seq)
{
    const td_json_t *j = &f->json;
    uint32_t sym;
    int64_t bid, ask, bq, aq;
    td_event_t *ev;
    if (get_sym(f, obj, &sym) || get_dec(f, td_json_find(j, obj, "best_bid"), "best_bid", 0, &bid) ||
        get_dec(f, td_json_find(j, obj, "best_ask"), "best_ask", 0, &ask) ||
        optional_dec(f, obj, bid_qty_key, &bq) || optional_dec(f, obj, ask_qty_key, &aq))
        return TD_EPROTO;
    STAGE(f, ev, TD_EV_QUOTE, sym, t);
    ev->src_seq = seq;
    ev->u.quote.bid_px = bid;
    ev->u.quote.bid_qty = bq;
    ev->u.quote.ask_px = ask;
    ev->u.quote.ask_qty = aq;
    return TD_OK;
}

static int legacy_ticker(td_cb_feed_t *f)
{
    const td_json_t *j = &f->json;
    int64_t t;
    uint64_t seq = 0;
    if (get_time(f, td_json_find(j, 0, "time"), &t)) return TD_EPROTO;
    int st = td_json_find(j, 0, "sequence");
    if (st >= 0 && td_json_u64(j, st, &seq) != TD_OK) return fail(f, "bad sequence");
    return stage_quote(f, 0, "best_bid_size", "best_ask_size", t, seq);
}

/* ---- Advanced Trade ---- */

static int at_l2(td_cb_feed_t *f, int events, int64_t t)
{
    const td_json_t *j = &f->json;
    for (int e = td_json_first_elem(j, events); e > 0; e = td_json_next_elem(j, events, e)) {
        if (!td_json_is(j, e, TD_JSON_OBJECT)) return fail(f, "l2_data event is not an object");
        uint32_t sym;
        if (get_sym(f, e, &sym)) return TD_EPROTO;
        int ty = td_json_find(j, e, "type");
        bool snap;
        if (ty >= 0 && TD_JSON_EQ(j, ty, "snapshot")) snap = true;
        else if (ty >= 0 && TD_JSON_EQ(j, ty, "update")) snap = false;
        else return fail(f, "bad l2_data event type");
        int ups = td_json_find(j, e, "updates");
        if (!td_json_is(j, ups, TD_JSON_ARRAY)) return fail(f, "missing updates");
        td_event_t *ev;
        STAGE(f, ev, snap ? TD_EV_BOOK_CLEAR : TD_EV_NONE, sym, t);
        for (int u = td_json_first_elem(j, ups); u > 0; u = td_json_next_elem(j, ups, u)) {
            if (!td_json_is(j, u, TD_JSON_OBJECT)) return fail(f, "bad update");
            uint8_t side;
            int64_t px, qty;
            if (get_side(f, td_json_find(j, u, "side"), &side) ||
                get_dec(f, td_json_find(j, u, "price_level"), "price_level", 1, &px) ||
                get_dec(f, td_json_find(j, u, "new_quantity"), "new_quantity", 0, &qty))
                return TD_EPROTO;
            if (snap && qty == 0) continue;
            STAGE(f, ev, qty ? TD_EV_LEVEL_SET : TD_EV_LEVEL_DEL, sym, t);
            ev->flags = snap ? TD_EVF_SNAPSHOT : 0;
            ev->side = side;
            ev->u.level.price = px;
            ev->u.level.qty = qty;
        }
        if (snap) STAGE(f, ev, TD_EV_RESYNC, sym, t);
    }
    return TD_OK;
}

static int at_trades(td_cb_feed_t *f, int events)
{
    const td_json_t *j = &f->json;
    for (int e = td_json_first_elem(j, events); e > 0; e = td_json_next_elem(j, events, e)) {
        int trades = td_json_find(j, e, "trades");
        if (!td_json_is(j, trades, TD_JSON_ARRAY)) return fail(f, "missing trades");
        for (int k = td_json_first_elem(j, trades); k > 0; k = td_json_next_elem(j, trades, k)) {
            uint32_t sym;
            int64_t t, px, qty;
            uint8_t side;
            uint64_t trade_id = 0;
            if (!td_json_is(j, k, TD_JSON_OBJECT)) return fail(f, "bad trade");
            if (get_sym(f, k, &sym) || get_time(f, td_json_find(j, k, "time"), &t) ||
                get_dec(f, td_json_find(j, k, "price"), "price", 1, &px) ||
                get_dec(f, td_json_find(j, k, "size"), "size", 1, &qty) || get_side(f, td_json_find(j, k, "side"), &side))
                return TD_EPROTO;
            /* trade ids are numeric strings today; anything else is kept as 0 rather than rejected */
            if (td_json_u64(j, td_json_find(j, k, "trade_id"), &trade_id) != TD_OK) trade_id = 0;
            td_event_t *ev;
            STAGE(f, ev, TD_EV_TRADE, sym, t);
            ev->side = CB_AT_SIDE_IS_MAKER ? (side == TD_BID ? TD_ASK : TD_BID) : side;
            ev->u.trade.price = px;
            ev->u.trade.qty = qty;
            ev->u.trade.trade_id = trade_id;
        }
    }
    return TD_OK;
}

static int at_ticker(td_cb_feed_t *f, int events, int64_t t)
{
    const td_json_t *j = &f->json;
    for (int e = td_json_first_elem(j, events); e > 0; e = td_json_next_elem(j, events, e)) {
        int tickers = td_json_find(j, e, "tickers");
        if (!td_json_is(j, tickers, TD_JSON_ARRAY)) return fail(f, "missing tickers");
        for (int k = td_json_first_elem(j, tickers); k > 0; k = td_json_next_elem(j, tickers, k)) {
            if (!td_json_is(j, k, TD_JSON_OBJECT)) return fail(f, "bad ticker");
            if (stage_quote(f, k, "best_bid_quantity", "best_ask_quantity", t, 0)) return TD_EPROTO;
        }
    }
    return TD_OK;
}

/* ---- phase 2 ---- */

static void emit_staged(td_cb_feed_t *f, int64_t recv_ns, td_cb_emit_fn emit, void *ctx)
{
    uint32_t cur = 0; /* product of the current update run (ids, not pointers: product() may realloc) */
    bool cur_ok = false;
    for (size_t i = 0; i < f->nstage; i++) {
        td_event_t *ev = &f->stage[i];
        ev->recv_ns = recv_ns;
        td_cb_product_t *p = product(f, ev->sym);
        switch (ev->type) {
        case TD_EV_NONE: /* start of one product's updates in this message */
            cur = ev->sym;
            cur_ok = p->synced;
            if (cur_ok) p->applied++;
            else p->unsynced++;
            continue;
        case TD_EV_BOOK_CLEAR:
            p->synced = true;
            p->snapshots++;
            if (p->gap_open) { p->resyncs++; p->gap_open = false; }
            cur = 0;
            break;
        case TD_EV_LEVEL_SET:
        case TD_EV_LEVEL_DEL:
            if (!(ev->flags & TD_EVF_SNAPSHOT) && !(cur == ev->sym && cur_ok)) continue;
            break;
        case TD_EV_TRADE:
        case TD_EV_QUOTE:
            if (f->legacy && ev->src_seq) {
                if (ev->src_seq < p->last_seq) p->seq_backwards++;
                else p->last_seq = ev->src_seq;
            }
            break;
        default:
            break;
        }
        emit(ctx, ev);
    }
}

/* Advanced Trade sequence_num check: a skip is a gap on every product of the connection. */
static void check_seqnum(td_cb_feed_t *f, uint64_t seq, int64_t t, int64_t recv_ns, td_cb_emit_fn emit, void *ctx)
{
    if (f->have_seqnum && seq != f->next_seqnum) {
        td_event_t ev;
        memset(&ev, 0, sizeof ev);
        ev.type = TD_EV_GAP;
        ev.side = TD_SIDE_NONE;
        ev.exch = f->exch;
        ev.sym = 0;
        ev.src_seq = seq;
        ev.exch_ns = t;
        ev.recv_ns = recv_ns;
        ev.u.gap.expected = f->next_seqnum;
        ev.u.gap.received = seq;
        emit(ctx, &ev);
        f->gaps++;
        for (size_t s = 0; s < f->nprod; s++)
            if (f->prod[s].seen && (f->prod[s].synced || f->prod[s].gap_open)) {
                if (f->prod[s].synced) f->prod[s].gaps++;
                f->prod[s].synced = false;
                f->prod[s].gap_open = true;
            }
    }
    f->have_seqnum = true;
    f->next_seqnum = seq + 1;
}

int td_cb_handle(td_cb_feed_t *f, const char *json, size_t len, int64_t recv_ns, td_cb_emit_fn emit, void *ctx,
                 td_cb_kind_t *kind_out)
{
    td_json_t *j = &f->json;
    td_cb_kind_t kind = TD_CB_UNKNOWN;
    f->err[0] = '\0';
    f->nstage = 0;
    if (kind_out) *kind_out = TD_CB_UNKNOWN;
    int rc = td_json_parse(j, json, len);
    if (rc != TD_OK) return fail(f, rc == TD_ENOBUFS ? "too many JSON tokens" : "malformed JSON");
    if (!td_json_is(j, 0, TD_JSON_OBJECT)) return fail(f, "not a JSON object");

    int ty = td_json_find(j, 0, "type");
    int ch = td_json_find(j, 0, "channel");
    if (ty >= 0 && ch < 0) {
        f->legacy = true;
        if (!td_json_is(j, ty, TD_JSON_STRING)) return fail(f, "\"type\" is not a string");
        if (TD_JSON_EQ(j, ty, "l2update")) kind = TD_CB_L2UPDATE, rc = legacy_l2update(f);
        else if (TD_JSON_EQ(j, ty, "snapshot")) kind = TD_CB_SNAPSHOT, rc = legacy_snapshot(f);
        else if (TD_JSON_EQ(j, ty, "ticker")) kind = TD_CB_TICKER, rc = legacy_ticker(f);
        else if (TD_JSON_EQ(j, ty, "match")) kind = TD_CB_MATCH, rc = legacy_match(f);
        else if (TD_JSON_EQ(j, ty, "last_match")) kind = TD_CB_LAST_MATCH, rc = legacy_match(f);
        else if (TD_JSON_EQ(j, ty, "subscriptions")) kind = TD_CB_SUBSCRIPTIONS;
        else if (TD_JSON_EQ(j, ty, "subscribe")) kind = TD_CB_SUBSCRIBE;
        else if (TD_JSON_EQ(j, ty, "heartbeat")) kind = TD_CB_HEARTBEAT;
        else if (TD_JSON_EQ(j, ty, "error")) kind = TD_CB_ERROR;
        if (rc != TD_OK) return TD_EPROTO;
        if (kind_out) *kind_out = kind;
        emit_staged(f, recv_ns, emit, ctx);
        return (int)len;
    }
    if (ch < 0) return (int)len; /* valid JSON of no known schema: TD_CB_UNKNOWN */

    f->legacy = false;
    if (!td_json_is(j, ch, TD_JSON_STRING)) return fail(f, "\"channel\" is not a string");
    uint64_t seq;
    if (td_json_u64(j, td_json_find(j, 0, "sequence_num"), &seq) != TD_OK) return fail(f, "bad sequence_num");
    int64_t t;
    if (get_time(f, td_json_find(j, 0, "timestamp"), &t)) return TD_EPROTO;
    int events = td_json_find(j, 0, "events");
    bool needs_events = true;
    if (TD_JSON_EQ(j, ch, "l2_data")) kind = TD_CB_AT_L2;
    else if (TD_JSON_EQ(j, ch, "market_trades")) kind = TD_CB_AT_TRADES;
    else if (TD_JSON_EQ(j, ch, "ticker") || TD_JSON_EQ(j, ch, "ticker_batch")) kind = TD_CB_AT_TICKER;
    else if (TD_JSON_EQ(j, ch, "heartbeats")) kind = TD_CB_AT_HEARTBEATS, needs_events = false;
    else if (TD_JSON_EQ(j, ch, "subscriptions") || TD_JSON_EQ(j, ch, "candles") || TD_JSON_EQ(j, ch, "status"))
        kind = TD_CB_AT_OTHER, needs_events = false;
    else needs_events = false; /* unknown channel: still counts for sequence_num */
    if (needs_events) {
        if (!td_json_is(j, events, TD_JSON_ARRAY)) return fail(f, "missing events");
        if (kind == TD_CB_AT_L2) rc = at_l2(f, events, t);
        else if (kind == TD_CB_AT_TRADES) rc = at_trades(f, events);
        else rc = at_ticker(f, events, t);
        if (rc != TD_OK) return TD_EPROTO;
    }
    if (kind_out) *kind_out = kind;
    check_seqnum(f, seq, t, recv_ns, emit, ctx);
    emit_staged(f, recv_ns, emit, ctx);
    return (int)len;
}
