/*
 * rest.c: the REST endpoints of API.md, /healthz and /metrics.
 *
 * Every answer is built from state readable from any thread without locks: engine snapshots (seqlock),
 * book snapshots, the recent-history rings (api/recent.h), counters; /candles and /ticks also read the store
 * (history joined to the rings without duplicate or hole: td_store_candles_merged, api/ticks.h). Bodies are built in the thread's
 * scratch buffer (capped at API_MAX_BODY) and copied once into the response.
 *
 * Caching (API.md): a candle range that ends before the open window is immutable: ETag + "public,
 * max-age=31536000, immutable"; a range that reaches the open candle (or that memory no longer holds
 * completely) gets "max-age=1". The ETag is a hash of the body, so If-None-Match works for both; a match
 * is answered 304 without a body.
 *
 * Threading: handlers run on the connection's I/O thread.
 */
#include "api/rest.h"
#include "api/static.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/encode.h"
#include "api/ticks.h"
#include "core/clock.h"
#include "core/common.h"
#include "core/decimal.h"
#include "core/log.h"
#include "feed/live.h"

/* ---- routes and parameters (pure) ---- */

static bool valid_symbol_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
           ch == '_' || ch == ':' || ch == '/' || ch == '-';
}

td_route_t td_rest_route(td_slice_t path, char symbol[TD_SYM_NAME_MAX + 1], bool *bad_symbol)
{
    *bad_symbol = false;
    symbol[0] = '\0';
    if (td_slice_eq(path, "/healthz")) return TD_ROUTE_HEALTHZ;
    if (td_slice_eq(path, "/metrics")) return TD_ROUTE_METRICS;
    if (td_slice_eq(path, "/v1/symbols") || td_slice_eq(path, "/v1/symbols/")) return TD_ROUTE_SYMBOLS;
    if (td_slice_eq(path, "/v1/prices") || td_slice_eq(path, "/v1/prices/")) return TD_ROUTE_STREAM;
    static const char alerts[] = "/v1/alerts";
    if (path.n >= sizeof alerts - 1 && memcmp(path.p, alerts, sizeof alerts - 1) == 0 &&
        (path.n == sizeof alerts - 1 || path.p[sizeof alerts - 1] == '/'))
        return TD_ROUTE_ALERTS;
    static const char prefix[] = "/v1/prices/";
    const size_t pn = sizeof prefix - 1;
    if (path.n <= pn || memcmp(path.p, prefix, pn) != 0) return TD_ROUTE_NONE;
    td_slice_t rest = { path.p + pn, path.n - pn };
    /* the symbol is the next segment; '/' inside a symbol must come percent-encoded (%2F) */
    size_t seg = 0;
    while (seg < rest.n && rest.p[seg] != '/') seg++;
    char raw[3 * (TD_SYM_NAME_MAX + 1)];
    td_slice_t sym_enc = { rest.p, seg };
    int n = td_http_pct_decode(sym_enc, raw, sizeof raw, false);
    if (n <= 0 || n > TD_SYM_NAME_MAX) {
        *bad_symbol = true;
    } else {
        for (int i = 0; i < n; i++)
            if (!valid_symbol_char(raw[i])) *bad_symbol = true;
        if (!*bad_symbol) {
            memcpy(symbol, raw, (size_t)n);
            symbol[n] = '\0';
        }
    }
    td_slice_t tail = { rest.p + seg, rest.n - seg };
    if (tail.n == 0 || td_slice_eq(tail, "/")) return TD_ROUTE_PRICE;
    if (td_slice_eq(tail, "/candles")) return TD_ROUTE_CANDLES;
    if (td_slice_eq(tail, "/book")) return TD_ROUTE_BOOK;
    if (td_slice_eq(tail, "/nbbo")) return TD_ROUTE_NBBO;
    if (td_slice_eq(tail, "/ticks")) return TD_ROUTE_TICKS;
    return TD_ROUTE_NONE;
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!*s) return TD_EPROTO;
    bool neg = *s == '-';
    const char *p = s + neg;
    if (!*p) return TD_EPROTO;
    uint64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return TD_EPROTO;
        if (v > (UINT64_MAX - 9) / 10) return TD_ERANGE;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > (uint64_t)INT64_MAX) return TD_ERANGE;
    }
    int64_t r = neg ? -(int64_t)v : (int64_t)v;
    if (r < lo || r > hi) return TD_ERANGE;
    *out = r;
    return TD_OK;
}

int td_rest_parse_query(td_slice_t query, td_rest_query_t *q, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    size_t pos = 0;
    td_slice_t k, v;
    while (td_http_query_next(query, &pos, &k, &v)) {
        char key[32], val[128];
        int kn = td_http_pct_decode(k, key, sizeof key - 1, true);
        if (kn < 0) continue; /* an unknown (or undecodable, over-long) key: ignored like any unknown one */
        key[kn] = '\0';
        int vn = td_http_pct_decode(v, val, sizeof val - 1, true);
        bool known = !strcmp(key, "interval") || !strcmp(key, "from") || !strcmp(key, "to") ||
                     !strcmp(key, "limit") || !strcmp(key, "depth") || !strcmp(key, "exchange") ||
                     !strcmp(key, "from_ms") || !strcmp(key, "to_ms") || !strcmp(key, "after_seq");
        if (!known) continue;
        if (vn < 0) {
            snprintf(err, errlen, "%s: bad value (bad percent-encoding or longer than %zu bytes)", key,
                     sizeof val - 1);
            return TD_EPROTO;
        }
        if (memchr(val, '\0', (size_t)vn)) {
            snprintf(err, errlen, "%s: bad value (NUL byte)", key);
            return TD_EPROTO;
        }
        val[vn] = '\0';
        int rc = TD_OK;
        if (!strcmp(key, "interval")) {
            if (q->has_interval) continue;
            if (td_interval_parse(val, (size_t)vn, &q->interval) != TD_OK) {
                snprintf(err, errlen, "interval must be one of 1s,10s,1m,5m,15m,1h,1d,1w");
                return TD_EPROTO;
            }
            q->has_interval = true;
        } else if (!strcmp(key, "from") || !strcmp(key, "to")) {
            bool from = key[0] == 'f';
            if (from ? q->has_from : q->has_to) continue;
            /* seconds: +-292 years around 1970 keeps every conversion to ns inside int64 */
            rc = parse_i64(val, -9000000000LL, 9000000000LL, from ? &q->from : &q->to);
            if (rc != TD_OK) {
                snprintf(err, errlen, "%s must be an integer of seconds since the Unix epoch", key);
                return TD_EPROTO;
            }
            if (from) q->has_from = true;
            else q->has_to = true;
        } else if (!strcmp(key, "from_ms") || !strcmp(key, "to_ms")) {
            bool from = !strcmp(key, "from_ms");
            if (from ? q->has_from_ms : q->has_to_ms) continue;
            rc = parse_i64(val, -9000000000000LL, 9000000000000LL, from ? &q->from_ms : &q->to_ms);
            if (rc != TD_OK) {
                snprintf(err, errlen, "%s must be an integer of milliseconds since the Unix epoch", key);
                return TD_EPROTO;
            }
            if (from) q->has_from_ms = true;
            else q->has_to_ms = true;
        } else if (!strcmp(key, "limit")) {
            if (q->has_limit) continue;
            if (parse_i64(val, 1, TD_REST_MAX_TICKS, &q->limit) != TD_OK) {
                snprintf(err, errlen, "limit must be an integer from 1 to %d", TD_REST_MAX_TICKS);
                return TD_EPROTO;
            }
            q->has_limit = true;
        } else if (!strcmp(key, "after_seq")) {
            if (q->has_after_seq) continue;
            int64_t after;
            if (parse_i64(val, 0, INT64_MAX, &after) != TD_OK) {
                snprintf(err, errlen, "after_seq must be an integer from 0 to %lld (a seq from an earlier answer)",
                         (long long)INT64_MAX);
                return TD_EPROTO;
            }
            q->after_seq = (uint64_t)after;
            q->has_after_seq = true;
        } else if (!strcmp(key, "depth")) {
            if (q->has_depth) continue;
            if (parse_i64(val, 1, TD_BOOK_SNAP_DEPTH, &q->depth) != TD_OK) {
                snprintf(err, errlen, "depth must be an integer from 1 to %d", TD_BOOK_SNAP_DEPTH);
                return TD_EPROTO;
            }
            q->has_depth = true;
        } else if (!strcmp(key, "exchange")) {
            if (q->has_exchange) continue;
            if (vn == 0 || vn > TD_EXCH_NAME_MAX) {
                snprintf(err, errlen, "exchange must be an exchange name (at most %d characters)",
                         TD_EXCH_NAME_MAX);
                return TD_EPROTO;
            }
            memcpy(q->exchange, val, (size_t)vn + 1);
            q->has_exchange = true;
        }
    }
    return TD_OK;
}

/* ---- responses ---- */

static api_thread_t *thread_of(td_api_t *a, td_conn_t *c) { return &a->thr[td_conn_thread(c)]; }

static void respond_body(td_conn_t *c, td_jb_t *b, const char *ctype, const char *extra)
{
    if (b->err) {
        td_conn_http_error(c, 500, "internal", "response too large; narrow the range or lower limit", NULL);
        return;
    }
    td_conn_http_respond(c, 200, ctype, b->p, b->len, extra);
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Does If-None-Match list this ETag (or "*")? */
static bool etag_matches(const td_http_req_t *req, const char *etag)
{
    const td_slice_t *inm = td_http_header(req, "If-None-Match");
    if (!inm) return false;
    size_t en = strlen(etag);
    for (size_t i = 0; i < inm->n; i++) {
        if (inm->p[i] == '*') return true;
        if (inm->n - i >= en && memcmp(inm->p + i, etag, en) == 0) return true;
    }
    return false;
}

/* Answers with an ETag; 304 when the client has it. */
static void respond_cached(td_api_t *a, td_conn_t *c, const td_http_req_t *req, td_jb_t *b, const char *cache)
{
    if (b->err) {
        respond_body(c, b, NULL, NULL);
        return;
    }
    char etag[24], extra[160];
    snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)fnv1a(b->p, b->len));
    snprintf(extra, sizeof extra, "ETag: %s\r\nCache-Control: %s\r\n", etag, cache);
    if (etag_matches(req, etag)) {
        CTR_ADD(thread_of(a, c), rest_304, 1);
        td_conn_http_respond(c, 304, NULL, NULL, 0, extra);
        return;
    }
    td_conn_http_respond(c, 200, "application/json", b->p, b->len, extra);
}

static void bad_request(td_conn_t *c, const char *msg) { td_conn_http_error(c, 400, "bad_request", msg, NULL); }

static void json_px_or_null(td_jb_t *b, int64_t v)
{
    if (v) td_jb_dec(b, v);
    else td_jb_lit(b, "null");
}

static int64_t ns_to_ms(int64_t ns) { return ns >= 0 ? ns / TD_NS_PER_MS : -((-ns + TD_NS_PER_MS - 1) / TD_NS_PER_MS); }

/* (last - ref) / ref * 100, rounded half away from zero to 4 decimals, as a scaled decimal */
static int64_t change_pct(int64_t last, int64_t ref)
{
    __int128 num = (__int128)(last - ref) * 100 * 10000 * 2;
    __int128 q = num / ref;
    q = q >= 0 ? (q + 1) / 2 : (q - 1) / 2;
    return (int64_t)(q * 10000); /* 4 decimals -> scale 1e8 */
}

static void route_price(td_api_t *a, td_conn_t *c, uint32_t sym, td_jb_t *b)
{
    td_sym_snap_t s;
    if (!td_engine_snapshot(a->eng, sym, &s)) memset(&s, 0, sizeof s);
    td_jb_lit(b, "{\"symbol\":");
    td_jb_qstr(b, td_sym_name(sym));
    td_jb_lit(b, ",\"last\":");
    json_px_or_null(b, s.trades ? s.last_px : 0);
    td_jb_lit(b, ",\"bid\":");
    json_px_or_null(b, s.nbbo.bid_px);
    td_jb_lit(b, ",\"ask\":");
    json_px_or_null(b, s.nbbo.ask_px);
    td_jb_lit(b, ",\"bid_size\":");
    td_jb_dec(b, s.nbbo.bid_qty);
    td_jb_lit(b, ",\"ask_size\":");
    td_jb_dec(b, s.nbbo.ask_qty);
    td_jb_lit(b, ",\"volume\":");
    td_jb_vol(b, s.day_volume);
    int64_t ref = s.prev_close ? s.prev_close : s.day_open;
    td_jb_lit(b, ",\"change_pct\":");
    if (s.trades && ref > 0) td_jb_dec(b, change_pct(s.last_px, ref));
    else td_jb_lit(b, "null");
    td_jb_lit(b, ",\"day_open\":");
    json_px_or_null(b, s.trades ? s.day_open : 0);
    td_jb_lit(b, ",\"day_high\":");
    json_px_or_null(b, s.trades ? s.day_high : 0);
    td_jb_lit(b, ",\"day_low\":");
    json_px_or_null(b, s.trades ? s.day_low : 0);
    td_jb_lit(b, ",\"prev_close\":");
    json_px_or_null(b, s.prev_close);
    td_jb_lit(b, ",\"trades\":");
    td_jb_u64(b, s.trades);
    td_jb_lit(b, ",\"state\":");
    td_jb_qstr(b, td_nbbo_state_name((td_nbbo_state_t)s.nbbo.state));
    td_jb_lit(b, ",\"timestamp\":");
    if (s.trades) td_jb_i64(b, ns_to_ms(s.last_ns));
    else td_jb_lit(b, "null");
    td_jb_lit(b, ",\"seq\":");
    td_jb_u64(b, s.seq);
    td_jb_ch(b, '}');
    respond_body(c, b, "application/json", "Cache-Control: no-store\r\n");
}

static void route_nbbo(td_api_t *a, td_conn_t *c, uint32_t sym, td_jb_t *b)
{
    td_sym_snap_t s;
    if (!td_engine_snapshot(a->eng, sym, &s)) memset(&s, 0, sizeof s);
    td_enc_nbbo(b, TD_ENC_JSON, sym, &s.nbbo, s.nbbo_ns, s.seq, 0);
    /* the WebSocket message without its "type": same field names for the same thing */
    static const char type_prefix[] = "{\"type\":\"nbbo\",";
    if (!b->err && b->len > sizeof type_prefix - 1 && memcmp(b->p, type_prefix, sizeof type_prefix - 1) == 0) {
        memmove(b->p + 1, b->p + sizeof type_prefix - 1, b->len - (sizeof type_prefix - 1));
        b->len -= sizeof type_prefix - 2;
    }
    respond_body(c, b, "application/json", "Cache-Control: no-store\r\n");
}

static void route_book(td_api_t *a, td_conn_t *c, uint32_t sym, const td_rest_query_t *q, td_jb_t *b)
{
    uint8_t exch = 0;
    if (q->has_exchange) {
        exch = td_exch_lookup(q->exchange, strlen(q->exchange));
        if (!exch) {
            char msg[96];
            snprintf(msg, sizeof msg, "unknown exchange '%s'", q->exchange);
            td_conn_http_error(c, 404, "not_found", msg, NULL);
            return;
        }
    }
    int depth = q->has_depth ? (int)q->depth : 10;
    td_book_snap_t bk;
    td_engine_want_book(a->eng, sym, TD_API_BOOK_WANT_MS); /* later calls see 10 ms-fresh books */
    if (!td_engine_book(a->eng, sym, exch, &bk)) {
        if (exch) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s has no book on %s", td_sym_name(sym), td_exch_name(exch));
            td_conn_http_error(c, 404, "not_found", msg, NULL);
            return;
        }
        memset(&bk, 0, sizeof bk);
    }
    td_enc_book(b, TD_ENC_JSON, sym, &bk, depth, bk.seq, 0);
    static const char type_prefix[] = "{\"type\":\"book\",";
    if (!b->err && memcmp(b->p, type_prefix, sizeof type_prefix - 1) == 0) {
        memmove(b->p + 1, b->p + sizeof type_prefix - 1, b->len - (sizeof type_prefix - 1));
        b->len -= sizeof type_prefix - 2;
    }
    if (exch) {
        /* say which book this is: insert "exchange" after the symbol */
        b->len--; /* drop '}' */
        td_jb_lit(b, ",\"exchange\":");
        td_jb_qstr(b, td_exch_name(exch));
        td_jb_ch(b, '}');
    }
    respond_body(c, b, "application/json", "Cache-Control: no-store\r\n");
}

static void candle_json(td_jb_t *b, const td_candle_t *k, bool closed)
{
    td_jb_lit(b, "{\"time\":");
    td_jb_i64(b, k->time);
    td_jb_lit(b, ",\"open\":");
    td_jb_dec(b, k->open);
    td_jb_lit(b, ",\"high\":");
    td_jb_dec(b, k->high);
    td_jb_lit(b, ",\"low\":");
    td_jb_dec(b, k->low);
    td_jb_lit(b, ",\"close\":");
    td_jb_dec(b, k->close);
    td_jb_lit(b, ",\"volume\":");
    td_jb_vol(b, k->volume);
    td_jb_lit(b, ",\"trade_count\":");
    td_jb_u64(b, k->trade_count);
    if (!closed) td_jb_lit(b, ",\"closed\":false");
    td_jb_ch(b, '}');
}

static void route_candles(td_api_t *a, td_conn_t *c, const td_http_req_t *req, uint32_t sym,
                          const td_rest_query_t *q, td_jb_t *b)
{
    td_interval_t iv = q->has_interval ? q->interval : TD_IV_1M;
    int64_t limit = q->has_limit ? q->limit : 500;
    if (limit > TD_REST_MAX_CANDLES) {
        char msg[64];
        snprintf(msg, sizeof msg, "limit must be an integer from 1 to %d", TD_REST_MAX_CANDLES);
        bad_request(c, msg);
        return;
    }
    int64_t from = q->has_from ? q->from : 0, to = q->has_to ? q->to : INT64_MAX / 2;
    if (from > to) {
        bad_request(c, "from must not be after to");
        return;
    }
    api_thread_t *t = thread_of(a, c);
    if (!t->candle_buf) t->candle_buf = td_malloc(TD_REST_MAX_CANDLES * sizeof(td_candle_t)); /* kept */
    td_candle_t *buf = t->candle_buf;
    td_sym_snap_t s;
    bool have = td_engine_snapshot(a->eng, sym, &s);
    bool open = have && (s.candle_mask & (1u << iv));
    size_t n;
    bool last_open, immutable; /* the last candle answered is the open one; the answer can be cached forever */
    if (a->store) {
        /* stored history + closed-but-unflushed + the open candle, merged without duplicate or hole */
        int got = td_store_candles_merged(a->store, sym, iv, from, to, (size_t)limit, open ? &s.candles[iv] : NULL,
                                          open, buf, (size_t)limit);
        if (got < 0) {
            CTR_ADD(t, rest_store_errors, 1);
            TD_LOG_RATELIMITED(TD_LOG_ERROR, "api", 5, "/candles of %s: reading the store failed: %s",
                               td_sym_name(sym), td_strerror(got));
            td_conn_http_error(c, 500, "internal", "candle store read failed", NULL);
            return;
        }
        n = (size_t)got;
        last_open = open && n && buf[n - 1].time == s.candles[iv].time;
        /* closed periods never change: only a range that ends before the open candle is immutable */
        immutable = open && to < s.candles[iv].time && (int64_t)n < limit;
    } else {
        bool complete;
        int64_t closed_end;
        n = td_recent_candles(a->recent, sym, iv, from, to, buf, (size_t)limit, &complete, &closed_end);
        /* everything before this start is final (the candle clock only moves forward) */
        int64_t final_before = open ? s.candles[iv].time : closed_end;
        immutable = complete && final_before > 0 && to < final_before && (int64_t)n < limit;
        last_open = open && s.candles[iv].time >= from && s.candles[iv].time <= to && (int64_t)n < limit &&
                    (n == 0 || buf[n - 1].time < s.candles[iv].time);
        if (last_open) buf[n++] = s.candles[iv]; /* n < limit <= the buffer's size */
    }
    td_jb_lit(b, "{\"symbol\":");
    td_jb_qstr(b, td_sym_name(sym));
    td_jb_lit(b, ",\"interval\":");
    td_jb_qstr(b, td_interval_name(iv));
    td_jb_lit(b, ",\"candles\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) td_jb_ch(b, ',');
        candle_json(b, &buf[i], !(last_open && i == n - 1));
    }
    td_jb_lit(b, "]}");
    respond_cached(a, c, req, b, immutable ? "public, max-age=31536000, immutable" : "public, max-age=1");
}

static void route_ticks(td_api_t *a, td_conn_t *c, uint32_t sym, const td_rest_query_t *q, td_jb_t *b)
{
    int64_t limit = q->has_limit ? q->limit : 1000;
    int64_t from = q->has_from_ms ? q->from_ms * TD_NS_PER_MS : INT64_MIN;
    int64_t to = q->has_to_ms ? q->to_ms * TD_NS_PER_MS + (TD_NS_PER_MS - 1) : INT64_MAX;
    if (from > to) {
        bad_request(c, "from_ms must not be after to_ms");
        return;
    }
    api_thread_t *t = thread_of(a, c);
    if (!t->tick_buf) t->tick_buf = td_malloc(2 * TD_REST_MAX_TICKS * sizeof(td_recent_tick_t)); /* kept */
    td_recent_tick_t *buf = t->tick_buf;
    bool complete;
    size_t n;
    if (a->store) {
        /* stored history (seq <= the store's visible seq) + the ring above it: api/ticks.h */
        td_ticks_query_t tq = { .sym = sym, .from_ns = from, .to_ns = to, .after_seq = q->after_seq,
                                .limit = (size_t)limit };
        td_ticks_result_t res;
        int got = td_ticks_merged(a->store, a->recent, &tq, buf, buf + TD_REST_MAX_TICKS, &res);
        if (got < 0) {
            CTR_ADD(t, rest_store_errors, 1);
            TD_LOG_RATELIMITED(TD_LOG_ERROR, "api", 5, "/ticks of %s: reading the store failed: %s", td_sym_name(sym),
                               td_strerror(got));
            td_conn_http_error(c, 500, "internal", "tick store read failed", NULL);
            return;
        }
        n = (size_t)got;
        complete = res.complete;
        if (res.flushed) CTR_ADD(t, ticks_flushes, 1);
    } else {
        n = td_recent_ticks_after(a->recent, sym, q->after_seq, from, to, buf, (size_t)limit, &complete, NULL);
    }
    td_jb_lit(b, "{\"symbol\":");
    td_jb_qstr(b, td_sym_name(sym));
    td_jb_lit(b, ",\"ticks\":[");
    for (size_t i = 0; i < n; i++) {
        const td_recent_tick_t *tk = &buf[i];
        if (i) td_jb_ch(b, ',');
        td_jb_lit(b, "{\"price\":");
        td_jb_dec(b, tk->price);
        td_jb_lit(b, ",\"volume\":");
        td_jb_dec(b, tk->qty);
        td_jb_lit(b, ",\"exchange\":");
        td_jb_qstr(b, td_exch_name(tk->exch));
        td_jb_lit(b, ",\"side\":");
        td_jb_cstr(b, tk->side == TD_BID ? "\"buy\"" : tk->side == TD_ASK ? "\"sell\"" : "\"unknown\"");
        td_jb_lit(b, ",\"trade_id\":");
        td_jb_u64(b, tk->trade_id);
        td_jb_lit(b, ",\"timestamp\":");
        td_jb_i64(b, ns_to_ms(tk->exch_ns));
        td_jb_lit(b, ",\"seq\":");
        td_jb_u64(b, tk->seq);
        td_jb_lit(b, ",\"recv_ns\":");
        td_jb_i64(b, tk->recv_ns);
        td_jb_ch(b, '}');
    }
    td_jb_lit(b, "],\"complete\":");
    td_jb_cstr(b, complete ? "true" : "false");
    if (!complete) CTR_ADD(t, ticks_incomplete, 1);
    td_jb_ch(b, '}');
    respond_body(c, b, "application/json", "Cache-Control: no-store\r\n");
}

static void route_symbols(td_api_t *a, td_conn_t *c, td_jb_t *b)
{
    td_jb_lit(b, "{\"symbols\":[");
    uint32_t n = td_sym_count();
    bool first = true;
    for (uint32_t id = 1; id <= n; id++) {
        td_sym_snap_t s;
        if (!td_engine_snapshot(a->eng, id, &s)) continue; /* interned but never traded or quoted here */
        if (!first) td_jb_ch(b, ',');
        first = false;
        td_jb_lit(b, "{\"symbol\":");
        td_jb_qstr(b, td_sym_name(id));
        td_jb_lit(b, ",\"exchanges\":[");
        for (int i = 0; i < s.nvenues; i++) {
            if (i) td_jb_ch(b, ',');
            td_jb_qstr(b, td_exch_name(s.venues[i]));
        }
        td_jb_lit(b, "],\"last\":");
        json_px_or_null(b, s.trades ? s.last_px : 0);
        td_jb_lit(b, ",\"trades\":");
        td_jb_u64(b, s.trades);
        td_jb_ch(b, '}');
    }
    td_jb_lit(b, "]}");
    respond_body(c, b, "application/json", "Cache-Control: no-store\r\n");
}

static void route_healthz(td_api_t *a, td_conn_t *c, td_jb_t *b)
{
    td_jb_lit(b, "{\"status\":\"ok\",\"uptime_s\":");
    td_jb_i64(b, (td_now_ns() - a->start_ns) / TD_NS_PER_SEC);
    td_jb_lit(b, ",\"symbols\":");
    td_jb_u64(b, td_sym_count());
    td_jb_lit(b, ",\"io_threads\":");
    td_jb_u64(b, (uint64_t)a->nthreads);
    td_jb_lit(b, ",\"feeds\":[");
    for (int i = 0; i < a->cfg.nsources; i++) {
        if (i) td_jb_ch(b, ',');
        td_jb_lit(b, "{\"name\":");
        td_jb_qstr(b, a->cfg.sources[i]->name);
        td_jb_lit(b, ",\"events\":");
        td_jb_u64(b, atomic_load(&a->cfg.sources[i]->stats.events));
        td_jb_ch(b, '}');
    }
    td_jb_lit(b, "]}");
    respond_body(c, b, "application/json", "Cache-Control: no-store\r\n");
}

void api_http(td_conn_t *c, const td_http_req_t *req, void *user)
{
    td_api_t *a = user;
    api_thread_t *t = thread_of(a, c);
    CTR_ADD(t, rest_requests, 1);
    char symname[TD_SYM_NAME_MAX + 1];
    bool bad_symbol;
    td_route_t r = td_rest_route(req->path, symname, &bad_symbol);
    if (r == TD_ROUTE_NONE) {
        if (td_static_serve(c, req, NULL) == 0) return; /* the dashboard's files (web/dist) */
        td_conn_http_error(c, 404, "not_found", "no such endpoint; see /v1/symbols, /v1/prices/{symbol}", NULL);
        return;
    }
    if (r == TD_ROUTE_ALERTS) {
        td_conn_http_error(c, 501, "not_implemented", "alerts are not available in this version", NULL);
        return;
    }
    if (r == TD_ROUTE_STREAM) {
        td_conn_http_error(c, 400, "bad_request", "/v1/prices is the WebSocket stream: send an Upgrade request",
                           NULL);
        return;
    }
    if (!td_slice_eq(req->method, "GET") && !td_slice_eq(req->method, "HEAD")) {
        td_conn_http_error(c, 405, "method_not_allowed", "only GET and HEAD are allowed here", "Allow: GET, HEAD\r\n");
        return;
    }
    td_jb_t *b = &t->scratch;
    td_jb_reset(b);
    switch (r) {
    case TD_ROUTE_HEALTHZ: route_healthz(a, c, b); return;
    case TD_ROUTE_METRICS:
        api_metrics(a, b);
        respond_body(c, b, "text/plain; version=0.0.4; charset=utf-8", "Cache-Control: no-store\r\n");
        return;
    case TD_ROUTE_SYMBOLS: route_symbols(a, c, b); return;
    default: break;
    }
    if (bad_symbol) {
        bad_request(c, "bad symbol: 1 to 31 characters from A-Z a-z 0-9 . _ : / -");
        return;
    }
    uint32_t sym = td_sym_lookup(symname, strlen(symname));
    td_sym_snap_t probe;
    if (!sym || !td_engine_snapshot(a->eng, sym, &probe)) {
        char msg[96];
        snprintf(msg, sizeof msg, "unknown symbol '%s'", symname);
        td_conn_http_error(c, 404, "not_found", msg, NULL);
        return;
    }
    td_rest_query_t q;
    char err[160];
    if (td_rest_parse_query(req->query, &q, err, sizeof err) != TD_OK) {
        bad_request(c, err);
        return;
    }
    switch (r) {
    case TD_ROUTE_PRICE: route_price(a, c, sym, b); break;
    case TD_ROUTE_NBBO: route_nbbo(a, c, sym, b); break;
    case TD_ROUTE_BOOK: route_book(a, c, sym, &q, b); break;
    case TD_ROUTE_CANDLES: route_candles(a, c, req, sym, &q, b); break;
    case TD_ROUTE_TICKS: route_ticks(a, c, sym, &q, b); break;
    default: td_conn_http_error(c, 404, "not_found", "no such endpoint", NULL); break;
    }
}

/* ---- /metrics ---- */

/* Live feeds (feed/live.h): supervisor state and connection health, one series per live source. */
static void live_feed_metrics(td_api_t *a, td_jb_t *b)
{
    static const char *states[] = { "connecting", "live", "backoff", "open-circuit", "fallback", "stopped" };
    struct { const char *name, *type, *help; } fam[] = {
        { "tickd_feed_state", "gauge", "live feed supervisor state (1 for the current state)" },
        { "tickd_feed_last_message_age_seconds", "gauge", "seconds since the last data message (-1: none yet)" },
        { "tickd_feed_reconnects_total", "counter", "reconnections after a lost or stalled connection" },
        { "tickd_feed_stalls_total", "counter", "connections dropped by the stall detector" },
        { "tickd_feed_circuit_opens_total", "counter", "times the circuit breaker opened" },
        { "tickd_feed_stale_symbols", "gauge", "symbols with an open gap" },
        { "tickd_feed_messages_per_second", "gauge", "data messages per second over the last second" },
    };
    bool any = false;
    for (int i = 0; i < a->cfg.nsources; i++) any |= td_live_is(a->cfg.sources[i]);
    if (!any) return;
    for (size_t f = 0; f < TD_ARRAY_LEN(fam); f++) {
        td_prom_family(b, fam[f].name, fam[f].type, fam[f].help);
        for (int i = 0; i < a->cfg.nsources; i++) {
            const td_source_t *src = a->cfg.sources[i];
            td_feed_health_t h;
            if (!td_live_is(src) || td_feed_health(src, &h) != TD_OK) continue;
            char feed[96], labels[192];
            td_jb_t lb;
            td_jb_init(&lb, 96);
            td_jb_qstr(&lb, src->name);
            snprintf(feed, sizeof feed, "%.*s", lb.err ? 2 : (int)lb.len, lb.err ? "\"\"" : lb.p);
            td_jb_free(&lb);
            if (f == 0) {
                for (size_t k = 0; k < TD_ARRAY_LEN(states); k++) {
                    snprintf(labels, sizeof labels, "feed=%s,state=\"%s\"", feed, states[k]);
                    td_prom_u64(b, fam[f].name, labels, !strcmp(td_feed_state_name(h.state), states[k]));
                }
                continue;
            }
            snprintf(labels, sizeof labels, "feed=%s", feed);
            double v;
            switch (f) {
            case 1: v = h.last_msg_age_ns < 0 ? -1.0 : (double)h.last_msg_age_ns / 1e9; break;
            case 2: v = (double)h.reconnects; break;
            case 3: v = (double)h.stalls; break;
            case 4: v = (double)h.circuit_opens; break;
            case 5: v = h.stale_symbols; break;
            default: v = h.msgs_per_sec; break;
            }
            td_prom_f64(b, fam[f].name, labels, v);
        }
    }
}

/* The embedded store: its backlog (the ring to the writer; full policy: the engine waits, counted), what is
 * durable, and damage found on disk. */
static void store_metrics(const td_store_t *st, td_jb_t *b)
{
    const td_store_stats_t *s = td_store_stats(st);
    struct { const char *name, *type, *help; uint64_t v; } rows[] = {
        { "tickd_store_backlog_records", "gauge", "records in the ring to the store's writer (not yet taken)", td_store_backlog(st) },
        { "tickd_store_appended_total", "counter", "records handed to the store", atomic_load(&s->appended) },
        { "tickd_store_written_total", "counter", "records written to the files (survive kill -9)", atomic_load(&s->written) },
        { "tickd_store_synced_total", "counter", "records fsynced (survive power loss)", atomic_load(&s->synced) },
        { "tickd_store_ring_waits_total", "counter", "times the engine waited for the store's writer (ring full)", atomic_load(&s->ring_waits) },
        { "tickd_store_blocks_written_total", "counter", "blocks written", atomic_load(&s->blocks_written) },
        { "tickd_store_bytes_written_total", "counter", "bytes written", atomic_load(&s->bytes_written) },
        { "tickd_store_fsyncs_total", "counter", "fsync calls", atomic_load(&s->fsyncs) },
        { "tickd_store_write_errors_total", "counter", "I/O errors writing (retried at the next flush)", atomic_load(&s->write_errors) },
        { "tickd_store_recovered_blocks_dropped_total", "counter", "torn or corrupt blocks cut by recovery at open", atomic_load(&s->recovered_blocks_dropped) },
        { "tickd_store_recovered_bytes_dropped_total", "counter", "bytes cut by recovery at open", atomic_load(&s->recovered_bytes_dropped) },
        { "tickd_store_corrupt_blocks_total", "counter", "blocks that failed their checksum or decode when read (skipped)", atomic_load(&s->corrupt_blocks) },
        { "tickd_store_partitions_dropped_total", "counter", "partitions removed by retention", atomic_load(&s->partitions_dropped) },
        { "tickd_store_partitions_moved_total", "counter", "partitions moved to the cold directory", atomic_load(&s->partitions_moved) },
        { "tickd_store_compactions_total", "counter", "open partitions compacted (small blocks of frequent flushes merged)", atomic_load(&s->compactions) },
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(rows); i++) {
        td_prom_family(b, rows[i].name, rows[i].type, rows[i].help);
        td_prom_u64(b, rows[i].name, NULL, rows[i].v);
    }
}

void api_metrics(td_api_t *a, td_jb_t *b)
{
    td_server_stats_t ss;
    td_server_stats(a->srv, &ss);
    uint64_t sum[sizeof(api_counters_t) / sizeof(uint64_t)];
    memset(sum, 0, sizeof sum);
    td_lat_snap_t lat;
    memset(&lat, 0, sizeof lat);
    for (int i = 0; i < a->nthreads; i++) {
        const _Atomic uint64_t *f = (const _Atomic uint64_t *)&a->thr[i].ctr;
        for (size_t k = 0; k < TD_ARRAY_LEN(sum); k++) sum[k] += atomic_load_explicit(&f[k], memory_order_relaxed);
        td_lat_add(&lat, &a->thr[i].latency);
    }
#define SUMF(f) sum[offsetof(api_counters_t, f) / sizeof(uint64_t)]
    struct { const char *name, *type, *help; uint64_t v; } rows[] = {
        { "tickd_connections_accepted_total", "counter", "TCP connections accepted", ss.accepted },
        { "tickd_connections_closed_total", "counter", "TCP connections closed", ss.closed },
        { "tickd_ws_clients", "gauge", "open WebSocket clients", SUMF(ws_clients) },
        { "tickd_ws_subscriptions", "gauge", "(client, symbol) subscriptions", SUMF(subscriptions) },
        { "tickd_ws_messages_out_total", "counter", "data messages delivered to WebSocket clients", SUMF(msgs_out) },
        { "tickd_ws_frames_out_total", "counter", "WebSocket data frames queued (a batch is one frame)", SUMF(frames_out) },
        { "tickd_ws_messages_in_total", "counter", "WebSocket messages received", ss.ws_messages_in },
        { "tickd_ws_protocol_errors_total", "counter", "WebSocket protocol errors (closed)", ss.ws_protocol_errors },
        { "tickd_ws_client_errors_total", "counter", "error messages sent to clients", SUMF(client_errors) },
        { "tickd_bytes_out_total", "counter", "bytes written to sockets", ss.bytes_out },
        { "tickd_socket_writes_total", "counter", "writev calls", ss.writes },
        { "tickd_http_requests_total", "counter", "HTTP requests", ss.http_requests },
        { "tickd_http_errors_total", "counter", "HTTP requests answered with an error", ss.http_errors },
        { "tickd_http_not_modified_total", "counter", "304 answers", SUMF(rest_304) },
        { "tickd_rest_store_errors_total", "counter", "REST answers that failed reading the store (500)", SUMF(rest_store_errors) },
        { "tickd_ticks_store_flushes_total", "counter", "/ticks answers that had the store flush first (more new trades than the ring holds)", SUMF(ticks_flushes) },
        { "tickd_ticks_incomplete_total", "counter", "/ticks answers marked complete:false", SUMF(ticks_incomplete) },
        { "tickd_timeouts_total", "counter", "connections timed out", ss.timeouts },
        { "tickd_out_cap_hits_total", "counter", "sends refused at the per-connection output cap", ss.out_cap_hits },
        { "tickd_slow_clients_conflated_total", "counter", "clients switched to conflation for reading too slowly", SUMF(slow_conflated) },
        { "tickd_slow_clients_closed_total", "counter", "slow clients closed with 1008", SUMF(slow_closed) },
        { "tickd_slow_clients", "gauge", "clients in forced conflation now", SUMF(slow_now) },
        { "tickd_conflated_updates_total", "counter", "updates replaced by a newer one before sending", SUMF(conflated_msgs) },
        { "tickd_out_records_read_total", "counter", "engine out records read by I/O threads", SUMF(records_in) },
        { "tickd_ring_lapped_records_total", "counter", "out records lost by lapped I/O threads (clients resynced)", SUMF(lapped) },
        { "tickd_ring_resyncs_total", "counter", "subscriptions re-snapshotted after a lap", SUMF(resyncs) },
        { "tickd_catchup_drains_total", "counter", "ring drains in catch-up mode (an I/O thread far behind)", SUMF(catchup_drains) },
        { "tickd_catchup_skipped_records_total", "counter", "records superseded by a newer one within a catch-up drain", SUMF(catchup_skipped) },
        { "tickd_ring_lag_records", "gauge", "out records not yet read by the I/O threads (sum)", SUMF(ring_lag) },
        { "tickd_batch_bytes", "gauge", "bytes waiting in batching windows", SUMF(batch_bytes) },
        { "tickd_io_wakeups_total", "counter", "engine wakeups of I/O threads", SUMF(wakes) },
    };
#undef SUMF
    for (size_t i = 0; i < TD_ARRAY_LEN(rows); i++) {
        td_prom_family(b, rows[i].name, rows[i].type, rows[i].help);
        td_prom_u64(b, rows[i].name, NULL, rows[i].v);
    }
    td_prom_lat_hist(b, "tickd_tick_to_client_seconds",
                     "recv_ns to the message being queued for the socket write of the same loop turn", &lat);

    if (a->eng) {
        const td_engine_stats_t *es = td_engine_stats(a->eng);
        struct { const char *name, *help; uint64_t v; } er[] = {
            { "tickd_engine_events_total", "events applied", atomic_load(&es->events) },
            { "tickd_engine_rejected_total", "events a book refused", atomic_load(&es->rejected) },
            { "tickd_engine_out_records_total", "out records emitted", atomic_load(&es->outs) },
            { "tickd_engine_nbbo_changes_total", "NBBO changes", atomic_load(&es->nbbo_changes) },
            { "tickd_engine_candles_closed_total", "candles closed", atomic_load(&es->candles_closed) },
            { "tickd_engine_late_trades_total", "trades older than the candle clock", atomic_load(&es->late_trades) },
        };
        for (size_t i = 0; i < TD_ARRAY_LEN(er); i++) {
            td_prom_family(b, er[i].name, "counter", er[i].help);
            td_prom_u64(b, er[i].name, NULL, er[i].v);
        }
        td_prom_family(b, "tickd_engine_live_orders", "gauge", "orders resting in order-level books");
        td_prom_u64(b, "tickd_engine_live_orders", NULL, atomic_load(&es->live_orders));
    }
    if (a->store) store_metrics(a->store, b);
    td_prom_family(b, "tickd_symbols", "gauge", "symbols interned");
    td_prom_u64(b, "tickd_symbols", NULL, td_sym_count());

    static const char *feed_names[] = { "messages", "events", "bad", "bytes", "gaps", "resyncs" };
    static const char *feed_help[] = { "source messages read", "normalized events produced",
                                       "malformed or rejected records", "input bytes", "sequence gaps detected",
                                       "gaps repaired" };
    for (int k = 0; k < 6; k++) {
        char name[64];
        snprintf(name, sizeof name, "tickd_feed_%s_total", feed_names[k]);
        td_prom_family(b, name, "counter", feed_help[k]);
        for (int i = 0; i < a->cfg.nsources; i++) {
            const td_source_t *src = a->cfg.sources[i];
            const _Atomic uint64_t *f = (const _Atomic uint64_t *)&src->stats;
            char labels[128];
            td_jb_t lb;
            td_jb_init(&lb, 96);
            td_jb_qstr(&lb, src->name); /* escapes quotes and backslashes as Prometheus wants */
            snprintf(labels, sizeof labels, "feed=%.*s,kind=\"%s\"", lb.err ? 2 : (int)lb.len, lb.err ? "\"\"" : lb.p,
                     src->kind);
            td_jb_free(&lb);
            td_prom_u64(b, name, labels, atomic_load_explicit(&f[k], memory_order_relaxed));
        }
    }
    live_feed_metrics(a, b);
}
