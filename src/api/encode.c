/*
 * encode.c: JSON and compact MessagePack encoders for every server-to-client message (see encode.h and
 * docs/BINARY.md). Both encoders of a message sit side by side so the two schemas cannot drift apart.
 * Threading: pure.
 */
#include "api/encode.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/symbols.h"

static const char *side_name(uint8_t side)
{
    return side == TD_BID ? "buy" : side == TD_ASK ? "sell" : "unknown";
}

static const char *state_name(uint8_t st)
{
    static const char *names[] = { "unknown", "trading", "halted", "paused", "quotation", "closed" };
    return st < TD_ARRAY_LEN(names) ? names[st] : "unknown";
}

/* ---- MessagePack decimals: one exponent for a group of values ---- */

static int decimals_needed(int64_t v)
{
    if (v == 0) return 0;
    int d = TD_DEC_DIGITS;
    while (d > 0 && v % 10 == 0) {
        v /= 10;
        d--;
    }
    return d;
}

static const int64_t pow10_tab[TD_DEC_DIGITS + 1] = { 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000 };

static int group_decimals(const int64_t *v, int n)
{
    int d = 0;
    for (int i = 0; i < n; i++) {
        int k = decimals_needed(v[i]);
        if (k > d) d = k;
    }
    return d;
}

static void mp_mant(td_jb_t *b, int64_t v, int d) { td_mp_int(b, v / pow10_tab[TD_DEC_DIGITS - d]); }

static int vol_decimals(td_vol_t v)
{
    if (v == 0) return 0;
    int d = TD_DEC_DIGITS;
    while (d > 0 && v % 10 == 0) {
        v /= 10;
        d--;
    }
    return d;
}

static void mp_vol_mant(td_jb_t *b, td_vol_t v, int d)
{
    td_vol_t m = v / pow10_tab[TD_DEC_DIGITS - d];
    if (m >= INT64_MIN && m <= INT64_MAX) td_mp_int(b, (int64_t)m);
    else td_mp_nil(b); /* past 9.2e18 units: not representable, say so rather than wrap */
}

static void json_price_or_null(td_jb_t *b, int64_t v)
{
    if (v) td_jb_dec(b, v);
    else td_jb_lit(b, "null");
}

static void json_flags(td_jb_t *b, unsigned flags)
{
    if (flags & TD_MSG_SNAPSHOT) td_jb_lit(b, ",\"snapshot\":true");
    if (flags & TD_MSG_CONFLATED) td_jb_lit(b, ",\"conflated\":true");
}

static int64_t ns_to_ms(int64_t ns)
{
    int64_t q = ns / TD_NS_PER_MS;
    return (ns % TD_NS_PER_MS < 0) ? q - 1 : q;
}

void td_msg_from_out(td_msg_trade_t *m, const td_out_t *o)
{
    m->sym = o->sym;
    m->price = o->u.trade.price;
    m->qty = o->u.trade.qty;
    m->bid = o->u.trade.bid_px;
    m->ask = o->u.trade.ask_px;
    m->exch = o->exch;
    m->side = o->side;
    m->exch_ns = o->exch_ns;
    m->recv_ns = o->recv_ns;
    m->seq = o->seq;
    m->trade_id = o->u.trade.trade_id;
}

void td_enc_tick(td_jb_t *b, int enc, const td_msg_trade_t *m, unsigned flags)
{
    if (enc == TD_ENC_MSGPACK) {
        /* [1, symbol, seq, price, bid, ask, price_exp, volume, size_exp, exchange, timestamp_ms,
         *  recv_ns - timestamp_ms*1e6, flags] */
        int64_t px[3] = { m->price, m->bid, m->ask };
        int pd = group_decimals(px, 3), qd = decimals_needed(m->qty);
        int64_t ts = ns_to_ms(m->exch_ns);
        td_mp_array(b, 13);
        td_mp_uint(b, TD_MP_TICK);
        td_mp_cstr(b, td_sym_name(m->sym));
        td_mp_uint(b, m->seq);
        mp_mant(b, m->price, pd);
        mp_mant(b, m->bid, pd);
        mp_mant(b, m->ask, pd);
        td_mp_int(b, -pd);
        mp_mant(b, m->qty, qd);
        td_mp_int(b, -qd);
        td_mp_cstr(b, td_exch_name(m->exch));
        td_mp_int(b, ts);
        if (m->recv_ns) td_mp_int(b, m->recv_ns - ts * TD_NS_PER_MS);
        else td_mp_nil(b);
        td_mp_uint(b, flags);
        return;
    }
    td_jb_lit(b, "{\"type\":\"tick\",\"symbol\":");
    td_jb_qstr(b, td_sym_name(m->sym));
    td_jb_lit(b, ",\"price\":");
    td_jb_dec(b, m->price);
    td_jb_lit(b, ",\"bid\":");
    json_price_or_null(b, m->bid);
    td_jb_lit(b, ",\"ask\":");
    json_price_or_null(b, m->ask);
    td_jb_lit(b, ",\"volume\":");
    td_jb_dec(b, m->qty);
    if (m->exch) {
        td_jb_lit(b, ",\"exchange\":");
        td_jb_qstr(b, td_exch_name(m->exch));
    }
    td_jb_lit(b, ",\"timestamp\":");
    td_jb_i64(b, ns_to_ms(m->exch_ns));
    td_jb_lit(b, ",\"seq\":");
    td_jb_u64(b, m->seq);
    if (m->recv_ns) {
        td_jb_lit(b, ",\"recv_ns\":");
        td_jb_i64(b, m->recv_ns);
    }
    json_flags(b, flags);
    td_jb_ch(b, '}');
}

void td_enc_trade(td_jb_t *b, int enc, const td_msg_trade_t *m, unsigned flags)
{
    if (enc == TD_ENC_MSGPACK) {
        /* [3, symbol, seq, price, price_exp, quantity, size_exp, side, exchange, trade_id, timestamp_ms,
         *  recv_ns - timestamp_ms*1e6, flags] */
        int pd = decimals_needed(m->price), qd = decimals_needed(m->qty);
        int64_t ts = ns_to_ms(m->exch_ns);
        td_mp_array(b, 13);
        td_mp_uint(b, TD_MP_TRADE);
        td_mp_cstr(b, td_sym_name(m->sym));
        td_mp_uint(b, m->seq);
        mp_mant(b, m->price, pd);
        td_mp_int(b, -pd);
        mp_mant(b, m->qty, qd);
        td_mp_int(b, -qd);
        td_mp_cstr(b, side_name(m->side));
        td_mp_cstr(b, td_exch_name(m->exch));
        td_mp_uint(b, m->trade_id);
        td_mp_int(b, ts);
        if (m->recv_ns) td_mp_int(b, m->recv_ns - ts * TD_NS_PER_MS);
        else td_mp_nil(b);
        td_mp_uint(b, flags);
        return;
    }
    td_jb_lit(b, "{\"type\":\"trade\",\"symbol\":");
    td_jb_qstr(b, td_sym_name(m->sym));
    td_jb_lit(b, ",\"price\":");
    td_jb_dec(b, m->price);
    td_jb_lit(b, ",\"quantity\":");
    td_jb_dec(b, m->qty);
    td_jb_lit(b, ",\"side\":");
    td_jb_qstr(b, side_name(m->side));
    if (m->exch) {
        td_jb_lit(b, ",\"exchange\":");
        td_jb_qstr(b, td_exch_name(m->exch));
    }
    if (m->trade_id) {
        td_jb_lit(b, ",\"trade_id\":");
        td_jb_u64(b, m->trade_id);
    }
    td_jb_lit(b, ",\"timestamp\":");
    td_jb_i64(b, ns_to_ms(m->exch_ns));
    td_jb_lit(b, ",\"seq\":");
    td_jb_u64(b, m->seq);
    if (m->recv_ns) {
        td_jb_lit(b, ",\"recv_ns\":");
        td_jb_i64(b, m->recv_ns);
    }
    json_flags(b, flags);
    td_jb_ch(b, '}');
}

void td_enc_nbbo(td_jb_t *b, int enc, uint32_t sym, const td_nbbo_t *n, int64_t exch_ns, uint64_t seq,
                 unsigned flags)
{
    if (enc == TD_ENC_MSGPACK) {
        /* [2, symbol, seq, best_bid, best_ask, price_exp, bid_size, ask_size, size_exp, bid_exchange,
         *  ask_exchange, state, timestamp_ms, flags] */
        int64_t px[2] = { n->bid_px, n->ask_px }, q[2] = { n->bid_qty, n->ask_qty };
        int pd = group_decimals(px, 2), qd = group_decimals(q, 2);
        td_mp_array(b, 14);
        td_mp_uint(b, TD_MP_NBBO);
        td_mp_cstr(b, td_sym_name(sym));
        td_mp_uint(b, seq);
        mp_mant(b, n->bid_px, pd);
        mp_mant(b, n->ask_px, pd);
        td_mp_int(b, -pd);
        mp_mant(b, n->bid_qty, qd);
        mp_mant(b, n->ask_qty, qd);
        td_mp_int(b, -qd);
        if (n->bid_exch) td_mp_cstr(b, td_exch_name(n->bid_exch));
        else td_mp_nil(b);
        if (n->ask_exch) td_mp_cstr(b, td_exch_name(n->ask_exch));
        else td_mp_nil(b);
        td_mp_cstr(b, td_nbbo_state_name((td_nbbo_state_t)n->state));
        td_mp_int(b, ns_to_ms(exch_ns));
        td_mp_uint(b, flags);
        return;
    }
    td_jb_lit(b, "{\"type\":\"nbbo\",\"symbol\":");
    td_jb_qstr(b, td_sym_name(sym));
    td_jb_lit(b, ",\"best_bid\":");
    json_price_or_null(b, n->bid_px);
    td_jb_lit(b, ",\"best_ask\":");
    json_price_or_null(b, n->ask_px);
    td_jb_lit(b, ",\"bid_size\":");
    td_jb_dec(b, n->bid_qty);
    td_jb_lit(b, ",\"ask_size\":");
    td_jb_dec(b, n->ask_qty);
    td_jb_lit(b, ",\"bid_exchange\":");
    if (n->bid_exch) td_jb_qstr(b, td_exch_name(n->bid_exch));
    else td_jb_lit(b, "null");
    td_jb_lit(b, ",\"ask_exchange\":");
    if (n->ask_exch) td_jb_qstr(b, td_exch_name(n->ask_exch));
    else td_jb_lit(b, "null");
    td_jb_lit(b, ",\"state\":");
    td_jb_qstr(b, td_nbbo_state_name((td_nbbo_state_t)n->state));
    td_jb_lit(b, ",\"timestamp\":");
    td_jb_i64(b, ns_to_ms(exch_ns));
    td_jb_lit(b, ",\"seq\":");
    td_jb_u64(b, seq);
    json_flags(b, flags);
    td_jb_ch(b, '}');
}

void td_enc_candle(td_jb_t *b, int enc, uint32_t sym, td_interval_t iv, const td_candle_t *c, bool closed,
                   uint64_t seq, unsigned flags)
{
    if (enc == TD_ENC_MSGPACK) {
        /* [4, symbol, seq, interval, time_s, open, high, low, close, price_exp, volume, size_exp,
         *  trade_count, closed, flags] */
        int64_t px[4] = { c->open, c->high, c->low, c->close };
        int pd = group_decimals(px, 4), qd = vol_decimals(c->volume);
        td_mp_array(b, 15);
        td_mp_uint(b, TD_MP_CANDLE);
        td_mp_cstr(b, td_sym_name(sym));
        td_mp_uint(b, seq);
        td_mp_cstr(b, td_interval_name(iv));
        td_mp_int(b, c->time);
        for (int i = 0; i < 4; i++) mp_mant(b, px[i], pd);
        td_mp_int(b, -pd);
        mp_vol_mant(b, c->volume, qd);
        td_mp_int(b, -qd);
        td_mp_uint(b, c->trade_count);
        td_mp_bool(b, closed);
        td_mp_uint(b, flags);
        return;
    }
    td_jb_lit(b, "{\"type\":\"candle\",\"symbol\":");
    td_jb_qstr(b, td_sym_name(sym));
    td_jb_lit(b, ",\"interval\":");
    td_jb_qstr(b, td_interval_name(iv));
    td_jb_lit(b, ",\"time\":");
    td_jb_i64(b, c->time);
    td_jb_lit(b, ",\"open\":");
    td_jb_dec(b, c->open);
    td_jb_lit(b, ",\"high\":");
    td_jb_dec(b, c->high);
    td_jb_lit(b, ",\"low\":");
    td_jb_dec(b, c->low);
    td_jb_lit(b, ",\"close\":");
    td_jb_dec(b, c->close);
    td_jb_lit(b, ",\"volume\":");
    td_jb_vol(b, c->volume);
    td_jb_lit(b, ",\"trade_count\":");
    td_jb_u64(b, c->trade_count);
    td_jb_cstr(b, closed ? ",\"closed\":true" : ",\"closed\":false");
    td_jb_lit(b, ",\"seq\":");
    td_jb_u64(b, seq);
    json_flags(b, flags);
    td_jb_ch(b, '}');
}

static void json_levels(td_jb_t *b, const td_clevel_t *lv, int n)
{
    td_jb_ch(b, '[');
    for (int i = 0; i < n; i++) {
        if (i) td_jb_ch(b, ',');
        td_jb_lit(b, "{\"price\":");
        td_jb_dec(b, lv[i].price);
        td_jb_lit(b, ",\"quantity\":");
        td_jb_dec(b, lv[i].qty);
        td_jb_lit(b, ",\"exchange\":");
        td_jb_qstr(b, td_exch_name(lv[i].exch));
        td_jb_ch(b, '}');
    }
    td_jb_ch(b, ']');
}

void td_enc_book(td_jb_t *b, int enc, uint32_t sym, const td_book_snap_t *bk, int depth, uint64_t seq,
                 unsigned flags)
{
    int nb = bk->nbids < depth ? bk->nbids : depth, na = bk->nasks < depth ? bk->nasks : depth;
    if (enc == TD_ENC_MSGPACK) {
        /* [5, symbol, seq, price_exp, size_exp, [[price, qty, exchange]...bids], [...asks], timestamp_ms,
         *  flags] */
        int pd = 0, qd = 0;
        for (int i = 0; i < nb; i++) {
            int k = decimals_needed(bk->bids[i].price), q = decimals_needed(bk->bids[i].qty);
            if (k > pd) pd = k;
            if (q > qd) qd = q;
        }
        for (int i = 0; i < na; i++) {
            int k = decimals_needed(bk->asks[i].price), q = decimals_needed(bk->asks[i].qty);
            if (k > pd) pd = k;
            if (q > qd) qd = q;
        }
        td_mp_array(b, 9);
        td_mp_uint(b, TD_MP_BOOK);
        td_mp_cstr(b, td_sym_name(sym));
        td_mp_uint(b, seq);
        td_mp_int(b, -pd);
        td_mp_int(b, -qd);
        for (int s = 0; s < 2; s++) {
            const td_clevel_t *lv = s ? bk->asks : bk->bids;
            int n = s ? na : nb;
            td_mp_array(b, (uint32_t)n);
            for (int i = 0; i < n; i++) {
                td_mp_array(b, 3);
                mp_mant(b, lv[i].price, pd);
                mp_mant(b, lv[i].qty, qd);
                td_mp_cstr(b, td_exch_name(lv[i].exch));
            }
        }
        td_mp_int(b, ns_to_ms(bk->exch_ns));
        td_mp_uint(b, flags);
        return;
    }
    td_jb_lit(b, "{\"type\":\"book\",\"symbol\":");
    td_jb_qstr(b, td_sym_name(sym));
    td_jb_lit(b, ",\"bids\":");
    json_levels(b, bk->bids, nb);
    td_jb_lit(b, ",\"asks\":");
    json_levels(b, bk->asks, na);
    td_jb_lit(b, ",\"timestamp\":");
    td_jb_i64(b, ns_to_ms(bk->exch_ns));
    td_jb_lit(b, ",\"seq\":");
    td_jb_u64(b, seq);
    json_flags(b, flags);
    td_jb_ch(b, '}');
}

void td_enc_status(td_jb_t *b, int enc, const td_out_t *o, unsigned flags)
{
    const char *event = o->type == TD_OUT_GAP ? "gap" : o->type == TD_OUT_RESYNC ? "resync" : "trading_state";
    if (enc == TD_ENC_MSGPACK) {
        /* [6, symbol, seq, exchange, event, trading_state, timestamp_ms, flags] */
        td_mp_array(b, 8);
        td_mp_uint(b, TD_MP_STATUS);
        td_mp_cstr(b, td_sym_name(o->sym));
        td_mp_uint(b, o->seq);
        td_mp_cstr(b, td_exch_name(o->exch));
        td_mp_cstr(b, event);
        if (o->type == TD_OUT_STATUS) td_mp_cstr(b, state_name(o->aux));
        else td_mp_nil(b);
        td_mp_int(b, ns_to_ms(o->exch_ns));
        td_mp_uint(b, flags);
        return;
    }
    td_jb_lit(b, "{\"type\":\"status\",\"symbol\":");
    td_jb_qstr(b, td_sym_name(o->sym));
    td_jb_lit(b, ",\"exchange\":");
    td_jb_qstr(b, td_exch_name(o->exch));
    td_jb_lit(b, ",\"event\":");
    td_jb_qstr(b, event);
    if (o->type == TD_OUT_STATUS) {
        td_jb_lit(b, ",\"trading_state\":");
        td_jb_qstr(b, state_name(o->aux));
    }
    td_jb_lit(b, ",\"timestamp\":");
    td_jb_i64(b, ns_to_ms(o->exch_ns));
    td_jb_lit(b, ",\"seq\":");
    td_jb_u64(b, o->seq);
    json_flags(b, flags);
    td_jb_ch(b, '}');
}

static void mp_id(td_jb_t *b, const char *id)
{
    if (id[0] == '"') td_mp_str(b, id + 1, strlen(id) - 2);
    else td_mp_uint(b, strtoull(id, NULL, 10));
}

void td_enc_pong(td_jb_t *b, int enc, const char *id)
{
    bool has_id = id && *id;
    if (enc == TD_ENC_MSGPACK) {
        td_mp_map(b, has_id ? 2 : 1);
        td_mp_cstr(b, "type");
        td_mp_cstr(b, "pong");
        if (has_id) {
            td_mp_cstr(b, "id");
            mp_id(b, id);
        }
        return;
    }
    td_jb_lit(b, "{\"type\":\"pong\"");
    if (has_id) {
        td_jb_lit(b, ",\"id\":");
        td_jb_cstr(b, id);
    }
    td_jb_ch(b, '}');
}

void td_enc_error(td_jb_t *b, int enc, const char *code, const char *message, const char *id)
{
    bool has_id = id && *id;
    if (enc == TD_ENC_MSGPACK) {
        td_mp_map(b, has_id ? 4 : 3);
        td_mp_cstr(b, "type");
        td_mp_cstr(b, "error");
        td_mp_cstr(b, "code");
        td_mp_cstr(b, code);
        td_mp_cstr(b, "message");
        td_mp_cstr(b, message);
        if (has_id) {
            td_mp_cstr(b, "id");
            mp_id(b, id);
        }
        return;
    }
    td_jb_lit(b, "{\"type\":\"error\",\"code\":");
    td_jb_qstr(b, code);
    td_jb_lit(b, ",\"message\":");
    td_jb_qstr(b, message);
    if (has_id) {
        td_jb_lit(b, ",\"id\":");
        td_jb_cstr(b, id);
    }
    td_jb_ch(b, '}');
}

void td_enc_notice(td_jb_t *b, int enc, const char *code, const char *message)
{
    if (enc == TD_ENC_MSGPACK) {
        td_mp_map(b, 3);
        td_mp_cstr(b, "type");
        td_mp_cstr(b, "notice");
        td_mp_cstr(b, "code");
        td_mp_cstr(b, code);
        td_mp_cstr(b, "message");
        td_mp_cstr(b, message);
        return;
    }
    td_jb_lit(b, "{\"type\":\"notice\",\"code\":");
    td_jb_qstr(b, code);
    td_jb_lit(b, ",\"message\":");
    td_jb_qstr(b, message);
    td_jb_ch(b, '}');
}
