/*
 * binance.c: Binance message parsing (one pass over the payload's keys) and the diff-depth sync state
 * machine. The contract and the sync rules are in binance.h; this file's own invariants:
 *  - a message is fully validated before anything is emitted, so a bad frame never half-applies;
 *  - the sync buffer holds only events that arrived while waiting for a snapshot, in arrival order, and is
 *    bounded (TD_BN_SYNC_MAX_BUFFERED events / _LEVELS levels): when full it is emptied, which is safe
 *    because the bridge check on the next snapshot then fails loudly instead of applying a wrong book.
 */
#include "feed/binance.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "core/decimal.h"
#include "core/symbols.h"
#include "feed/json.h"

#define MS_MAX 9000000000000LL /* ms timestamps beyond year 2255 would overflow ns */

struct td_bn_parser {
    td_json_t json;
    td_bn_level_t *bids, *asks;
    size_t capb, capa;
    td_sym_cache_t syms;
    char err[160];
};

static const char *const kind_names[TD_BN_KIND_COUNT] = {
    [TD_BN_UNKNOWN] = "unknown", [TD_BN_TRADE] = "trade",       [TD_BN_AGGTRADE] = "aggTrade",
    [TD_BN_BOOKTICKER] = "bookTicker", [TD_BN_DEPTH] = "depthUpdate", [TD_BN_KLINE] = "kline",
    [TD_BN_REPLY] = "reply",
};

const char *td_bn_kind_name(td_bn_kind_t k) { return (unsigned)k < TD_BN_KIND_COUNT ? kind_names[k] : "?"; }

const char *td_bn_sync_state_name(td_bn_sync_state_t s)
{
    switch (s) {
    case TD_BN_SYNC_WAIT_SNAPSHOT: return "wait_snapshot";
    case TD_BN_SYNC_WAIT_FIRST: return "wait_first";
    case TD_BN_SYNC_LIVE: return "live";
    }
    return "?";
}

td_bn_parser_t *td_bn_parser_create(void)
{
    td_bn_parser_t *p = td_calloc(1, sizeof *p);
    td_json_init(&p->json, 256, 4 * TD_BN_MAX_LEVELS * 2 + 4096);
    return p;
}

void td_bn_parser_destroy(td_bn_parser_t *p)
{
    if (!p) return;
    td_json_free(&p->json);
    td_free(p->bids);
    td_free(p->asks);
    td_free(p);
}

const char *td_bn_parser_error(const td_bn_parser_t *p) { return p->err; }

__attribute__((format(printf, 2, 3))) static int fail(td_bn_parser_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    return TD_EPROTO;
}

/* The payload keys we read, as token indexes (-1 = absent). */
typedef struct keys {
    int e, E, T, s, U, u, pu, b, a, B, A, t, p, q, m, k;
} keys_t;

static void collect_keys(const td_json_t *j, int obj, keys_t *ks)
{
    memset(ks, 0xff, sizeof *ks); /* all -1 */
    for (int k = td_json_first_key(j, obj); k > 0; k = td_json_next_key(j, obj, k)) {
        const td_json_tok_t *t = &j->tok[k];
        int klen = t->end - t->start;
        const char *name = j->js + t->start;
        int v = k + 1;
        if (klen == 1) {
            switch (name[0]) {
            case 'e': ks->e = v; break;
            case 'E': ks->E = v; break;
            case 'T': ks->T = v; break;
            case 's': ks->s = v; break;
            case 'U': ks->U = v; break;
            case 'u': ks->u = v; break;
            case 'b': ks->b = v; break;
            case 'a': ks->a = v; break;
            case 'B': ks->B = v; break;
            case 'A': ks->A = v; break;
            case 't': ks->t = v; break;
            case 'p': ks->p = v; break;
            case 'q': ks->q = v; break;
            case 'm': ks->m = v; break;
            case 'k': ks->k = v; break;
            default: break;
            }
        } else if (klen == 2 && name[0] == 'p' && name[1] == 'u') {
            ks->pu = v;
        }
    }
}

static int get_ms(td_bn_parser_t *p, int tok, const char *what, int64_t *out)
{
    int64_t v;
    if (td_json_i64(&p->json, tok, &v) != TD_OK || v < 0 || v > MS_MAX)
        return fail(p, "bad %s timestamp", what);
    *out = v;
    return TD_OK;
}

static int get_u64(td_bn_parser_t *p, int tok, const char *what, uint64_t *out)
{
    if (tok < 0) return fail(p, "missing \"%s\"", what);
    if (td_json_u64(&p->json, tok, out) != TD_OK) return fail(p, "bad \"%s\"", what);
    return TD_OK;
}

/* min_sign: 1 = must be > 0, 0 = must be >= 0. */
static int get_dec(td_bn_parser_t *p, int tok, const char *what, int min_sign, int64_t *out)
{
    if (tok < 0) return fail(p, "missing \"%s\"", what);
    int rc = td_json_dec(&p->json, tok, out);
    if (rc == TD_ERANGE) return fail(p, "\"%s\" out of range", what);
    if (rc != TD_OK) return fail(p, "\"%s\" is not a decimal", what);
    if (*out < 0 || (min_sign > 0 && *out == 0)) return fail(p, "\"%s\" must be %s", what, min_sign ? "> 0" : ">= 0");
    return TD_OK;
}

static int get_sym(td_bn_parser_t *p, int tok, uint32_t *out)
{
    if (tok < 0) return fail(p, "missing \"s\"");
    uint32_t id = td_json_sym(&p->json, tok, &p->syms);
    if (!id) return fail(p, "bad symbol (not a string, characters, length, or table full)");
    *out = id;
    return TD_OK;
}

/* [[px, qty], ...] into *arr (grown as needed, capped at TD_BN_MAX_LEVELS). */
static int get_levels(td_bn_parser_t *p, int tok, const char *what, td_bn_level_t **arr, size_t *cap, size_t *n)
{
    const td_json_t *j = &p->json;
    *n = 0;
    if (tok < 0) return fail(p, "missing \"%s\"", what);
    if (!td_json_is(j, tok, TD_JSON_ARRAY)) return fail(p, "\"%s\" is not an array", what);
    size_t count = (size_t)j->tok[tok].size;
    if (count > TD_BN_MAX_LEVELS) return fail(p, "\"%s\" has too many levels", what);
    if (count > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < count) c *= 2;
        *arr = td_realloc(*arr, c * sizeof **arr);
        *cap = c;
    }
    size_t i = 0;
    for (int e = td_json_first_elem(j, tok); e > 0; e = td_json_next_elem(j, tok, e)) {
        if (!td_json_is(j, e, TD_JSON_ARRAY) || j->tok[e].size < 2) return fail(p, "bad level in \"%s\"", what);
        int pe = e + 1;
        int qe = td_json_skip(j, pe);
        td_bn_level_t *lv = &(*arr)[i];
        if (get_dec(p, pe, "price", 1, &lv->price) || get_dec(p, qe, "qty", 0, &lv->qty)) return TD_EPROTO;
        i++;
    }
    if (i != count) return fail(p, "bad level list in \"%s\"", what);
    *n = i;
    return TD_OK;
}

static int parse_kline(td_bn_parser_t *p, int k, td_bn_kline_t *kl)
{
    const td_json_t *j = &p->json;
    if (!td_json_is(j, k, TD_JSON_OBJECT)) return fail(p, "kline \"k\" is not an object");
    memset(kl, 0, sizeof *kl);
    int it = td_json_find(j, k, "i");
    if (it < 0 || td_json_str_copy(j, it, kl->interval, sizeof kl->interval) <= 0) return fail(p, "bad kline interval");
    if (get_ms(p, td_json_find(j, k, "t"), "kline open", &kl->open_ms) ||
        get_ms(p, td_json_find(j, k, "T"), "kline close", &kl->close_ms))
        return TD_EPROTO;
    /* "f"/"L" are -1 when the interval had no trades */
    int64_t f = -1, l = -1;
    if (td_json_i64(j, td_json_find(j, k, "f"), &f) != TD_OK || td_json_i64(j, td_json_find(j, k, "L"), &l) != TD_OK)
        return fail(p, "bad kline trade ids");
    kl->first_trade_id = f < 0 ? 0 : (uint64_t)f;
    kl->last_trade_id = l < 0 ? 0 : (uint64_t)l;
    if (get_u64(p, td_json_find(j, k, "n"), "n", &kl->ntrades)) return TD_EPROTO;
    if (get_dec(p, td_json_find(j, k, "o"), "o", 0, &kl->open) || get_dec(p, td_json_find(j, k, "h"), "h", 0, &kl->high) ||
        get_dec(p, td_json_find(j, k, "l"), "l", 0, &kl->low) || get_dec(p, td_json_find(j, k, "c"), "c", 0, &kl->close) ||
        get_dec(p, td_json_find(j, k, "v"), "v", 0, &kl->volume) ||
        get_dec(p, td_json_find(j, k, "q"), "q", 0, &kl->quote_volume) ||
        get_dec(p, td_json_find(j, k, "V"), "V", 0, &kl->taker_buy_volume) ||
        get_dec(p, td_json_find(j, k, "Q"), "Q", 0, &kl->taker_buy_quote_volume))
        return TD_EPROTO;
    if (td_json_bool(j, td_json_find(j, k, "x"), &kl->closed) != TD_OK) return fail(p, "bad kline \"x\"");
    return TD_OK;
}

int td_bn_parse(td_bn_parser_t *p, const char *json, size_t len, td_bn_msg_t *m)
{
    td_json_t *j = &p->json;
    p->err[0] = '\0';
    memset(m, 0, sizeof *m);
    int rc = td_json_parse(j, json, len);
    if (rc != TD_OK) return fail(p, rc == TD_ENOBUFS ? "too many JSON tokens" : "malformed JSON");
    if (!td_json_is(j, 0, TD_JSON_OBJECT)) return fail(p, "not a JSON object");
    int obj = 0;
    int data = td_json_find(j, 0, "data");
    if (data >= 0) {
        if (!td_json_is(j, data, TD_JSON_OBJECT)) return fail(p, "\"data\" is not an object");
        obj = data;
    }
    keys_t ks;
    collect_keys(j, obj, &ks);

    if (ks.e >= 0) {
        if (TD_JSON_EQ(j, ks.e, "depthUpdate")) m->kind = TD_BN_DEPTH;
        else if (TD_JSON_EQ(j, ks.e, "bookTicker")) m->kind = TD_BN_BOOKTICKER;
        else if (TD_JSON_EQ(j, ks.e, "aggTrade")) m->kind = TD_BN_AGGTRADE;
        else if (TD_JSON_EQ(j, ks.e, "trade")) m->kind = TD_BN_TRADE;
        else if (TD_JSON_EQ(j, ks.e, "kline")) m->kind = TD_BN_KLINE;
        else if (!td_json_is(j, ks.e, TD_JSON_STRING)) return fail(p, "\"e\" is not a string");
        else return (int)len; /* TD_BN_UNKNOWN */
    } else if (ks.u >= 0 && ks.s >= 0 && ks.b >= 0 && ks.B >= 0 && ks.a >= 0 && ks.A >= 0) {
        m->kind = TD_BN_BOOKTICKER; /* spot bookTicker carries no "e" */
    } else if (obj == 0 && td_json_find(j, 0, "result") >= 0 && td_json_find(j, 0, "id") >= 0) {
        m->kind = TD_BN_REPLY;
        return (int)len;
    } else {
        return (int)len; /* TD_BN_UNKNOWN */
    }

    if (get_sym(p, ks.s, &m->sym)) return TD_EPROTO;
    if (ks.E >= 0 && get_ms(p, ks.E, "E", &m->event_ms)) return TD_EPROTO;
    if (ks.T >= 0 && get_ms(p, ks.T, "T", &m->txn_ms)) return TD_EPROTO;

    switch (m->kind) {
    case TD_BN_DEPTH:
        if (get_u64(p, ks.U, "U", &m->first_id) || get_u64(p, ks.u, "u", &m->final_id)) return TD_EPROTO;
        if (m->first_id > m->final_id) return fail(p, "U > u");
        if (ks.pu >= 0) {
            if (get_u64(p, ks.pu, "pu", &m->prev_final_id)) return TD_EPROTO;
            m->has_prev = true;
        }
        if (get_levels(p, ks.b, "b", &p->bids, &p->capb, &m->nbids) ||
            get_levels(p, ks.a, "a", &p->asks, &p->capa, &m->nasks))
            return TD_EPROTO;
        m->bids = p->bids;
        m->asks = p->asks;
        break;
    case TD_BN_BOOKTICKER:
        if (get_u64(p, ks.u, "u", &m->update_id) || get_dec(p, ks.b, "b", 0, &m->bid_px) ||
            get_dec(p, ks.B, "B", 0, &m->bid_qty) || get_dec(p, ks.a, "a", 0, &m->ask_px) ||
            get_dec(p, ks.A, "A", 0, &m->ask_qty))
            return TD_EPROTO;
        break;
    case TD_BN_AGGTRADE:
    case TD_BN_TRADE: {
        if (get_u64(p, m->kind == TD_BN_AGGTRADE ? ks.a : ks.t, m->kind == TD_BN_AGGTRADE ? "a" : "t", &m->trade_id) ||
            get_dec(p, ks.p, "p", 1, &m->price) || get_dec(p, ks.q, "q", 1, &m->qty))
            return TD_EPROTO;
        bool buyer_maker;
        if (td_json_bool(j, ks.m, &buyer_maker) != TD_OK) return fail(p, "bad \"m\"");
        m->aggressor = buyer_maker ? TD_ASK : TD_BID;
        break;
    }
    case TD_BN_KLINE:
        if (parse_kline(p, ks.k, &m->kline)) return TD_EPROTO;
        break;
    default:
        break;
    }
    return (int)len;
}

int td_bn_parse_snapshot(td_bn_parser_t *p, const char *json, size_t len, td_bn_snapshot_t *out)
{
    td_json_t *j = &p->json;
    p->err[0] = '\0';
    memset(out, 0, sizeof *out);
    int rc = td_json_parse(j, json, len);
    if (rc != TD_OK) return fail(p, rc == TD_ENOBUFS ? "too many JSON tokens" : "malformed JSON");
    if (!td_json_is(j, 0, TD_JSON_OBJECT)) return fail(p, "not a JSON object");
    if (get_u64(p, td_json_find(j, 0, "lastUpdateId"), "lastUpdateId", &out->last_update_id)) return TD_EPROTO;
    int e = td_json_find(j, 0, "E"), t = td_json_find(j, 0, "T");
    if ((e >= 0 && get_ms(p, e, "E", &out->event_ms)) || (t >= 0 && get_ms(p, t, "T", &out->txn_ms)))
        return TD_EPROTO;
    if (get_levels(p, td_json_find(j, 0, "bids"), "bids", &p->bids, &p->capb, &out->nbids) ||
        get_levels(p, td_json_find(j, 0, "asks"), "asks", &p->asks, &p->capa, &out->nasks))
        return TD_EPROTO;
    out->bids = p->bids;
    out->asks = p->asks;
    return (int)len;
}

static int64_t ms_to_ns(int64_t ms) { return ms * 1000000LL; } /* ms <= MS_MAX: cannot overflow */

size_t td_bn_msg_events(const td_bn_msg_t *m, uint8_t exch, int64_t recv_ns, td_event_t *out, size_t max)
{
    if (max == 0) return 0;
    td_event_t *ev = out;
    memset(ev, 0, sizeof *ev);
    ev->exch = exch;
    ev->sym = m->sym;
    ev->recv_ns = recv_ns;
    ev->exch_ns = ms_to_ns(m->txn_ms ? m->txn_ms : m->event_ms);
    switch (m->kind) {
    case TD_BN_TRADE:
    case TD_BN_AGGTRADE:
        ev->type = TD_EV_TRADE;
        ev->side = m->aggressor;
        ev->src_seq = m->trade_id;
        ev->u.trade.price = m->price;
        ev->u.trade.qty = m->qty;
        ev->u.trade.trade_id = m->trade_id;
        return 1;
    case TD_BN_BOOKTICKER:
        ev->type = TD_EV_QUOTE;
        ev->side = TD_SIDE_NONE;
        ev->src_seq = m->update_id;
        ev->u.quote.bid_px = m->bid_px;
        ev->u.quote.bid_qty = m->bid_qty;
        ev->u.quote.ask_px = m->ask_px;
        ev->u.quote.ask_qty = m->ask_qty;
        return 1;
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* sync */

struct td_bn_buffered {
    uint64_t U, u, pu;
    bool has_pu;
    int64_t exch_ms;
    int64_t recv_ns;
    size_t lv_off;           /* into buf_levels: bids then asks */
    uint32_t nbids, nasks;
};

/* One depth event, live or from the buffer. */
typedef struct depth_view {
    uint64_t U, u, pu;
    bool has_pu;
    int64_t exch_ms, recv_ns;
    const td_bn_level_t *bids, *asks;
    size_t nbids, nasks;
} depth_view_t;

void td_bn_sync_init(td_bn_sync_t *s, uint32_t sym, uint8_t exch, bool futures)
{
    memset(s, 0, sizeof *s);
    s->sym = sym;
    s->exch = exch;
    s->futures = futures;
    s->state = TD_BN_SYNC_WAIT_SNAPSHOT;
}

void td_bn_sync_free(td_bn_sync_t *s)
{
    if (!s) return;
    td_free(s->buf);
    td_free(s->buf_levels);
    s->buf = NULL;
    s->buf_levels = NULL;
    s->nbuf = s->capbuf = s->nbuf_levels = s->capbuf_levels = 0;
}

static void buffer_clear(td_bn_sync_t *s) { s->nbuf = s->nbuf_levels = 0; }

static void buffer_push(td_bn_sync_t *s, const depth_view_t *d)
{
    size_t nl = d->nbids + d->nasks;
    if (s->nbuf >= TD_BN_SYNC_MAX_BUFFERED || s->nbuf_levels + nl > TD_BN_SYNC_MAX_BUFFERED_LEVELS) {
        s->overflowed += s->nbuf;
        buffer_clear(s);
        if (nl > TD_BN_SYNC_MAX_BUFFERED_LEVELS) { s->overflowed++; return; }
    }
    if (s->nbuf == s->capbuf) {
        s->capbuf = s->capbuf ? s->capbuf * 2 : 16;
        s->buf = td_realloc(s->buf, s->capbuf * sizeof *s->buf);
    }
    if (s->nbuf_levels + nl > s->capbuf_levels) {
        size_t c = s->capbuf_levels ? s->capbuf_levels : 256;
        while (c < s->nbuf_levels + nl) c *= 2;
        s->buf_levels = td_realloc(s->buf_levels, c * sizeof *s->buf_levels);
        s->capbuf_levels = c;
    }
    td_bn_buffered_t *b = &s->buf[s->nbuf++];
    b->U = d->U;
    b->u = d->u;
    b->pu = d->pu;
    b->has_pu = d->has_pu;
    b->exch_ms = d->exch_ms;
    b->recv_ns = d->recv_ns;
    b->lv_off = s->nbuf_levels;
    b->nbids = (uint32_t)d->nbids;
    b->nasks = (uint32_t)d->nasks;
    if (d->nbids) memcpy(s->buf_levels + s->nbuf_levels, d->bids, d->nbids * sizeof *d->bids);
    s->nbuf_levels += d->nbids;
    if (d->nasks) memcpy(s->buf_levels + s->nbuf_levels, d->asks, d->nasks * sizeof *d->asks);
    s->nbuf_levels += d->nasks;
}

static depth_view_t buffered_view(const td_bn_sync_t *s, size_t i)
{
    const td_bn_buffered_t *b = &s->buf[i];
    depth_view_t d = { b->U, b->u, b->pu, b->has_pu, b->exch_ms, b->recv_ns,
                       s->buf_levels + b->lv_off, s->buf_levels + b->lv_off + b->nbids, b->nbids, b->nasks };
    return d;
}

/* Removes the first k buffered events (their levels are a prefix of buf_levels). */
static void buffer_drop_front(td_bn_sync_t *s, size_t k)
{
    if (k == 0) return;
    if (k >= s->nbuf) { buffer_clear(s); return; }
    size_t lv = s->buf[k].lv_off;
    memmove(s->buf, s->buf + k, (s->nbuf - k) * sizeof *s->buf);
    s->nbuf -= k;
    memmove(s->buf_levels, s->buf_levels + lv, (s->nbuf_levels - lv) * sizeof *s->buf_levels);
    s->nbuf_levels -= lv;
    for (size_t i = 0; i < s->nbuf; i++) s->buf[i].lv_off -= lv;
}

static void base_event(const td_bn_sync_t *s, td_event_t *ev, uint8_t type, uint64_t seq, int64_t exch_ms,
                       int64_t recv_ns)
{
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->side = TD_SIDE_NONE;
    ev->exch = s->exch;
    ev->sym = s->sym;
    ev->src_seq = seq;
    ev->exch_ns = ms_to_ns(exch_ms);
    ev->recv_ns = recv_ns;
}

static void emit_levels(const td_bn_sync_t *s, td_event_t *tmpl, int side, const td_bn_level_t *lv, size_t n,
                        bool skip_zero, td_bn_emit_fn emit, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        if (lv[i].qty == 0 && skip_zero) continue;
        tmpl->type = lv[i].qty > 0 ? TD_EV_LEVEL_SET : TD_EV_LEVEL_DEL;
        tmpl->side = (uint8_t)side;
        tmpl->u.level.price = lv[i].price;
        tmpl->u.level.qty = lv[i].qty;
        emit(ctx, tmpl);
    }
    (void)s;
}

static void apply(td_bn_sync_t *s, const depth_view_t *d, td_bn_emit_fn emit, void *ctx)
{
    td_event_t ev;
    base_event(s, &ev, TD_EV_LEVEL_SET, d->u, d->exch_ms, d->recv_ns);
    emit_levels(s, &ev, TD_BID, d->bids, d->nbids, false, emit, ctx);
    emit_levels(s, &ev, TD_ASK, d->asks, d->nasks, false, emit, ctx);
    s->prev_final_id = d->u;
    s->applied++;
}

static void gap(td_bn_sync_t *s, const depth_view_t *d, uint64_t expected, uint64_t received, td_bn_emit_fn emit,
                void *ctx)
{
    td_event_t ev;
    base_event(s, &ev, TD_EV_GAP, d->u, d->exch_ms, d->recv_ns);
    ev.u.gap.expected = expected;
    ev.u.gap.received = received;
    emit(ctx, &ev);
    s->gaps++;
    s->gap_open = true;
    s->gap_expected = expected;
    s->gap_received = received;
    s->state = TD_BN_SYNC_WAIT_SNAPSHOT;
}

/* Applies, drops or rejects one event in WAIT_FIRST / LIVE. Returns true if it opened a gap. */
static bool process(td_bn_sync_t *s, const depth_view_t *d, td_bn_emit_fn emit, void *ctx)
{
    uint64_t L = s->snapshot_id;
    if (s->state == TD_BN_SYNC_WAIT_FIRST) {
        if (s->futures ? d->u < L : d->u <= L) { s->dropped++; return false; }
        uint64_t bridge = s->futures ? L : L + 1; /* u >= bridge holds here */
        if (d->U > bridge) { gap(s, d, bridge, d->U, emit, ctx); return true; }
        s->first_U = d->U;
        s->first_u = d->u;
        s->state = TD_BN_SYNC_LIVE;
        apply(s, d, emit, ctx);
        return false;
    }
    /* LIVE */
    if (d->u <= s->prev_final_id) { s->duplicates++; return false; }
    if (s->futures) {
        if (!d->has_pu || d->pu != s->prev_final_id) {
            gap(s, d, s->prev_final_id, d->has_pu ? d->pu : 0, emit, ctx);
            return true;
        }
    } else if (d->U != s->prev_final_id + 1) {
        gap(s, d, s->prev_final_id + 1, d->U, emit, ctx);
        return true;
    }
    apply(s, d, emit, ctx);
    return false;
}

int td_bn_sync_depth(td_bn_sync_t *s, const td_bn_msg_t *m, int64_t recv_ns, td_bn_emit_fn emit, void *ctx)
{
    if (m->kind != TD_BN_DEPTH || m->sym != s->sym) return TD_EINVAL;
    depth_view_t d = { m->first_id, m->final_id, m->prev_final_id, m->has_prev,
                       m->txn_ms ? m->txn_ms : m->event_ms, recv_ns, m->bids, m->asks, m->nbids, m->nasks };
    if (s->state == TD_BN_SYNC_WAIT_SNAPSHOT) {
        buffer_push(s, &d);
        return TD_OK;
    }
    if (process(s, &d, emit, ctx)) {
        /* The chain broke on this event: wait for a newer snapshot, keeping this event, which a snapshot
         * taken from now on may need as its bridge. */
        buffer_clear(s);
        buffer_push(s, &d);
    }
    return TD_OK;
}

int td_bn_sync_snapshot(td_bn_sync_t *s, const td_bn_snapshot_t *snap, int64_t recv_ns, td_bn_emit_fn emit,
                        void *ctx)
{
    if (s->state != TD_BN_SYNC_WAIT_SNAPSHOT) { s->snapshots_ignored++; return TD_EEXIST; }
    uint64_t L = snap->last_update_id;
    /* Is the snapshot older than what we buffered? The first buffered event it does not cover must bridge. */
    for (size_t i = 0; i < s->nbuf; i++) {
        const td_bn_buffered_t *b = &s->buf[i];
        if (s->futures ? b->u < L : b->u <= L) continue;
        if (b->U > (s->futures ? L : L + 1)) { s->snapshots_stale++; return TD_ERANGE; }
        break;
    }
    td_event_t ev;
    int64_t exch_ms = snap->txn_ms ? snap->txn_ms : snap->event_ms;
    base_event(s, &ev, TD_EV_BOOK_CLEAR, L, exch_ms, recv_ns);
    emit(ctx, &ev);
    ev.flags = TD_EVF_SNAPSHOT;
    emit_levels(s, &ev, TD_BID, snap->bids, snap->nbids, true, emit, ctx);
    emit_levels(s, &ev, TD_ASK, snap->asks, snap->nasks, true, emit, ctx);
    base_event(s, &ev, TD_EV_RESYNC, L, exch_ms, recv_ns);
    emit(ctx, &ev);
    if (s->gap_open) { s->resyncs++; s->gap_open = false; }
    s->snapshots++;
    s->snapshot_id = L;
    s->prev_final_id = 0;
    s->first_U = s->first_u = 0;
    s->state = TD_BN_SYNC_WAIT_FIRST;

    /* Replay what was buffered; if the chain breaks inside the buffer, keep the rest buffered. */
    for (size_t i = 0; i < s->nbuf; i++) {
        depth_view_t d = buffered_view(s, i);
        if (process(s, &d, emit, ctx)) {
            buffer_drop_front(s, i);
            return TD_OK;
        }
    }
    buffer_clear(s);
    return TD_OK;
}
