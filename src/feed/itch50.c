/*
 * itch50.c: NASDAQ TotalView-ITCH 5.0 decoder, the mapping to td_event_t, and the file source.
 *
 * Decoder. The hot path is one table lookup (expected body length by type byte), one compare against the
 * length prefix, one bounds check, then a switch that copies the fields of that type. The length check is
 * what makes every field load in the switch safe: each case reads only inside the body length the table
 * gives for its type. Integers are loaded with memcpy + __builtin_bswap (a single movbe/bswap load on
 * x86, no alignment assumptions). The header's tracking number and timestamp are one 8-byte load at body
 * offset 3 (2 + 6 bytes, always inside the 11-byte header). Nothing is allocated, nothing is validated
 * beyond framing (see itch50.h: the decoder is loss-free so the encoder can reproduce the bytes).
 *
 * Mapping. One flat array from stock_locate (16 bits) to symbol id: the lookup is a single load. Prices
 * and share counts are converted inline: a Price(4) is a uint32, so v * 10^4 is exactly
 * td_dec_from_scaled(v, 4) and cannot overflow (< 2^32 * 10^4 < 2^63); a 32-bit share count times 10^8
 * cannot overflow either. Only the 64-bit share count of Q needs a range check. test_itch50.c checks the
 * inline forms against td_dec_from_scaled/td_dec_from_int.
 *
 * Source. The file is mmap'ed and decoded in place; stats are published once per next() call (relaxed
 * atomic adds), not per message.
 *
 * Threading: decode and td_itch50_midnight_ns are pure. A ctx or a source is used by one thread at a time.
 */
#include "feed/itch50.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/decimal.h"
#include "core/log.h"
#include "core/symbols.h"

#define MOD "itch50"

/* ---- decoder -------------------------------------------------------------------------------------- */

/* Body length by type byte, from the ITCH 5.0 spec (see SOURCE.md). An unknown type's length is
 * UNKNOWN_LEN, which no 16-bit length prefix can equal: then one compare (prefix == expected) rejects a
 * wrong length and also a zero length, whatever byte follows the zero prefix. The table stores
 * length ^ UNKNOWN_LEN so that its zero-initialized entries are the unknown ones. */
#define UNKNOWN_LEN 0x10000u
#define K(t, n) [t] = (n) ^ UNKNOWN_LEN
static const uint32_t body_len_x[256] = {
    K('S', 12), K('R', 39), K('H', 25), K('Y', 20), K('L', 26), K('V', 35), K('W', 12), K('K', 28),
    K('J', 35), K('h', 21), K('A', 36), K('F', 40), K('E', 31), K('C', 36), K('X', 23), K('D', 19),
    K('U', 35), K('P', 44), K('Q', 40), K('B', 19), K('I', 50), K('N', 20), K('O', 48),
};
#undef K

static inline uint32_t expected_len(uint8_t type) { return body_len_x[type] ^ UNKNOWN_LEN; }

size_t td_itch50_body_len(uint8_t type) { return body_len_x[type] ? expected_len(type) : 0; }

static inline uint16_t be16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return __builtin_bswap16(v);
}

static inline uint32_t be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return __builtin_bswap32(v);
}

static inline uint64_t be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return __builtin_bswap64(v);
}

/* The rare paths of decode, kept out of line so the hot path stays small. */
static __attribute__((noinline, cold)) int decode_odd(const uint8_t *buf, size_t len, size_t mlen,
                                                       td_itch_msg_t *out)
{
    if (mlen == 0) return TD_EPROTO;               /* not even a type byte */
    if (body_len_x[buf[2]] != 0) return TD_EPROTO; /* known type, wrong length */
    if (len < 2 + mlen) return TD_EAGAIN;
    out->type = TD_ITCH_UNKNOWN;
    out->u.unknown.body = buf + 2;
    out->u.unknown.len = (uint16_t)mlen;
    out->u.unknown.code = buf[2];
    return (int)(2 + mlen);
}

int td_itch50_decode(const uint8_t *buf, size_t len, td_itch_msg_t *out)
{
    if (TD_UNLIKELY(len < 3)) {
        /* A zero length is bad as soon as it is visible; anything else needs the type byte first. */
        return (len == 2 && buf[0] == 0 && buf[1] == 0) ? TD_EPROTO : TD_EAGAIN;
    }
    size_t mlen = be16(buf);
    uint8_t type = buf[2];
    if (TD_UNLIKELY(mlen != expected_len(type))) return decode_odd(buf, len, mlen, out);
    if (TD_UNLIKELY(len < 2 + mlen)) return TD_EAGAIN;

    const uint8_t *p = buf + 2;
    uint64_t w = be64(p + 3);
    out->type = type;
    out->stock_locate = be16(p + 1);
    out->tracking_number = (uint16_t)(w >> 48);
    out->timestamp = w & 0xffffffffffffULL;

    switch (type) {
    case 'A':
    case 'F': {
        td_itch_add_order_t *a = &out->u.add_order;
        a->order_ref = be64(p + 11);
        a->side = p[19];
        a->shares = be32(p + 20);
        memcpy(a->stock, p + 24, 8);
        a->price = be32(p + 32);
        if (type == 'F') memcpy(a->attribution, p + 36, 4);
        break;
    }
    case 'E':
    case 'C': {
        td_itch_order_executed_t *e = &out->u.order_executed;
        e->order_ref = be64(p + 11);
        e->executed_shares = be32(p + 19);
        e->match_number = be64(p + 23);
        if (type == 'C') {
            e->printable = p[31];
            e->execution_price = be32(p + 32);
        }
        break;
    }
    case 'X':
        out->u.order_cancel.order_ref = be64(p + 11);
        out->u.order_cancel.cancelled_shares = be32(p + 19);
        break;
    case 'D':
        out->u.order_delete.order_ref = be64(p + 11);
        break;
    case 'U': {
        td_itch_order_replace_t *u = &out->u.order_replace;
        u->original_order_ref = be64(p + 11);
        u->new_order_ref = be64(p + 19);
        u->shares = be32(p + 27);
        u->price = be32(p + 31);
        break;
    }
    case 'P': {
        td_itch_trade_t *t = &out->u.trade;
        t->order_ref = be64(p + 11);
        t->side = p[19];
        t->shares = be32(p + 20);
        memcpy(t->stock, p + 24, 8);
        t->price = be32(p + 32);
        t->match_number = be64(p + 36);
        break;
    }
    case 'Q': {
        td_itch_cross_trade_t *q = &out->u.cross_trade;
        q->shares = be64(p + 11);
        memcpy(q->stock, p + 19, 8);
        q->cross_price = be32(p + 27);
        q->match_number = be64(p + 31);
        q->cross_type = p[39];
        break;
    }
    case 'B':
        out->u.broken_trade.match_number = be64(p + 11);
        break;
    case 'S':
        out->u.system_event.event_code = p[11];
        break;
    case 'R': {
        td_itch_stock_directory_t *r = &out->u.stock_directory;
        memcpy(r->stock, p + 11, 8);
        r->market_category = p[19];
        r->financial_status = p[20];
        r->round_lot_size = be32(p + 21);
        r->round_lots_only = p[25];
        r->issue_classification = p[26];
        memcpy(r->issue_subtype, p + 27, 2);
        r->authenticity = p[29];
        r->short_sale_threshold = p[30];
        r->ipo_flag = p[31];
        r->luld_ref_price_tier = p[32];
        r->etp_flag = p[33];
        r->etp_leverage_factor = be32(p + 34);
        r->inverse_indicator = p[38];
        break;
    }
    case 'H': {
        td_itch_trading_action_t *h = &out->u.trading_action;
        memcpy(h->stock, p + 11, 8);
        h->trading_state = p[19];
        h->reserved = p[20];
        memcpy(h->reason, p + 21, 4);
        break;
    }
    case 'Y':
        memcpy(out->u.reg_sho.stock, p + 11, 8);
        out->u.reg_sho.reg_sho_action = p[19];
        break;
    case 'L': {
        td_itch_mpp_position_t *l = &out->u.mpp_position;
        memcpy(l->mpid, p + 11, 4);
        memcpy(l->stock, p + 15, 8);
        l->primary_market_maker = p[23];
        l->market_maker_mode = p[24];
        l->market_participant_state = p[25];
        break;
    }
    case 'V':
        out->u.mwcb_decline.level1 = be64(p + 11);
        out->u.mwcb_decline.level2 = be64(p + 19);
        out->u.mwcb_decline.level3 = be64(p + 27);
        break;
    case 'W':
        out->u.mwcb_status.breached_level = p[11];
        break;
    case 'K': {
        td_itch_ipo_quoting_t *k = &out->u.ipo_quoting;
        memcpy(k->stock, p + 11, 8);
        k->release_time = be32(p + 19);
        k->release_qualifier = p[23];
        k->ipo_price = be32(p + 24);
        break;
    }
    case 'J': {
        td_itch_luld_collar_t *j = &out->u.luld_collar;
        memcpy(j->stock, p + 11, 8);
        j->ref_price = be32(p + 19);
        j->upper_price = be32(p + 23);
        j->lower_price = be32(p + 27);
        j->extension = be32(p + 31);
        break;
    }
    case 'h':
        memcpy(out->u.operational_halt.stock, p + 11, 8);
        out->u.operational_halt.market_code = p[19];
        out->u.operational_halt.halt_action = p[20];
        break;
    case 'I': {
        td_itch_noii_t *n = &out->u.noii;
        n->paired_shares = be64(p + 11);
        n->imbalance_shares = be64(p + 19);
        n->imbalance_direction = p[27];
        memcpy(n->stock, p + 28, 8);
        n->far_price = be32(p + 36);
        n->near_price = be32(p + 40);
        n->current_ref_price = be32(p + 44);
        n->cross_type = p[48];
        n->price_variation = p[49];
        break;
    }
    case 'N':
        memcpy(out->u.rpii.stock, p + 11, 8);
        out->u.rpii.interest_flag = p[19];
        break;
    case 'O': {
        td_itch_dlcr_t *o = &out->u.dlcr;
        memcpy(o->stock, p + 11, 8);
        o->open_eligibility = p[19];
        o->min_allowable_price = be32(p + 20);
        o->max_allowable_price = be32(p + 24);
        o->near_execution_price = be32(p + 28);
        o->near_execution_time = be64(p + 32);
        o->lower_price_collar = be32(p + 40);
        o->upper_price_collar = be32(p + 44);
        break;
    }
    default: /* unreachable: expected_len() matches a 16-bit length only for the cases above; a bad
              * table entry must still not become undefined behaviour */
        return TD_EPROTO;
    }
    return (int)(2 + mlen);
}

/* ---- session time ----------------------------------------------------------------------------------- */

static int days_in_month(int y, int m)
{
    static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Day of week, 0 = Sunday (1970-01-01 was a Thursday). */
static int weekday(int y, int m, int d) { return (int)((td_days_from_civil(y, m, d) % 7 + 11) % 7); }

/* Day of month of the n-th Sunday (n >= 1) of y-m, or of the last Sunday when n == 0. */
static int sunday_of(int y, int m, int n)
{
    if (n == 0) {
        int last = days_in_month(y, m);
        return last - weekday(y, m, last);
    }
    return 1 + (7 - weekday(y, m, 1)) % 7 + 7 * (n - 1);
}

int td_itch50_midnight_ns(int year, int month, int day, int64_t *out)
{
    if (year < 1970 || year > 9999 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
        return TD_EINVAL;
    int start_m, start_d, end_m, end_d;
    if (year >= 2007) {
        start_m = 3, start_d = sunday_of(year, 3, 2);
        end_m = 11, end_d = sunday_of(year, 11, 1);
    } else if (year >= 1987) {
        start_m = 4, start_d = sunday_of(year, 4, 1);
        end_m = 10, end_d = sunday_of(year, 10, 0);
    } else { /* 1967-1986; the 1974-75 energy-crisis years are not special-cased */
        start_m = 4, start_d = sunday_of(year, 4, 0);
        end_m = 10, end_d = sunday_of(year, 10, 0);
    }
    /* At 00:00 local the clocks have not changed yet on either transition Sunday (they change at 02:00):
     * the start Sunday's midnight is still EST, the end Sunday's midnight is still EDT. */
    int key = month * 32 + day;
    bool edt = key > start_m * 32 + start_d && key <= end_m * 32 + end_d;
    int64_t utc_hour = edt ? 4 : 5;
    *out = (td_days_from_civil(year, month, day) * 86400 + utc_hour * 3600) * 1000000000LL;
    return TD_OK;
}

/* ---- mapping ---------------------------------------------------------------------------------------- */

void td_itch50_ctx_init(td_itch50_ctx_t *ctx, int64_t midnight_ns)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->midnight_ns = midnight_ns;
    ctx->exch = td_exch_intern("NASDAQ", 6);
}

/* Price(4) to the tickd scale: exactly td_dec_from_scaled(v, 4), which cannot fail for 32 bits. */
static inline int64_t px4(uint32_t v) { return (int64_t)v * (TD_DEC_SCALE / 10000); }
/* A 32-bit share count to the tickd scale: exactly td_dec_from_int(v), which cannot fail for 32 bits. */
static inline int64_t qty32(uint32_t v) { return (int64_t)v * TD_DEC_SCALE; }

/* Interns an ITCH stock name (8 bytes, space padded) with NASDAQ suffix characters spelt out (itch50.h). */
static uint32_t intern_stock(const char stock[8])
{
    char name[TD_SYM_NAME_MAX + 1];
    size_t n = 0, len = 8;
    while (len > 0 && stock[len - 1] == ' ') len--;
    for (size_t i = 0; i < len; i++) {
        const char *spelt;
        switch (stock[i]) {
        case '+': spelt = "/WS"; break;
        case '^': spelt = "/RT"; break;
        case '=': spelt = "/U"; break;
        case '*': spelt = "/CL"; break;
        case '#': spelt = "/WI"; break;
        default: name[n++] = stock[i]; continue;
        }
        size_t k = strlen(spelt);
        memcpy(name + n, spelt, k); /* n + k <= 8 * 3 < sizeof name */
        n += k;
    }
    return td_sym_intern(name, n);
}

static int map_unknown_locate(td_itch50_ctx_t *ctx, const td_itch_msg_t *m)
{
    ctx->counts.unknown_locate++;
    TD_LOG_RATELIMITED(TD_LOG_WARN, MOD, 5, "message %llu type '%c': stock_locate %u was never defined",
                       (unsigned long long)ctx->counts.messages, m->type, m->stock_locate);
    return TD_ENOENT;
}

static int map_bad_field(td_itch50_ctx_t *ctx, const td_itch_msg_t *m, int rc, const char *what)
{
    ctx->counts.bad_field++;
    TD_LOG_RATELIMITED(TD_LOG_WARN, MOD, 5, "message %llu type '%c': %s",
                       (unsigned long long)ctx->counts.messages, m->type, what);
    return rc;
}

static int map_rare(td_itch50_ctx_t *ctx, const td_itch_msg_t *m, td_event_t *ev);

/* ITCH side byte to td_side_t; anything but 'B'/'S' is TD_SIDE_NONE, which an add rejects. A table, not
 * a branch: the side of the next add is a coin flip the branch predictor cannot learn. */
static const uint8_t side_of[256] = {
    [0 ... 'B' - 1] = TD_SIDE_NONE, ['B'] = TD_BID, ['B' + 1 ... 'S' - 1] = TD_SIDE_NONE, ['S'] = TD_ASK,
    ['S' + 1 ... 255] = TD_SIDE_NONE,
};

int td_itch50_map(td_itch50_ctx_t *ctx, const td_itch_msg_t *m, td_event_t *ev)
{
    uint64_t seq = ++ctx->counts.messages;
    /* Order and trade messages here (>99% of a real day); everything else in map_rare(). */
    uint8_t evtype, side = TD_SIDE_NONE, flags = 0;
    int64_t price = 0, qty;
    uint64_t id, id2 = 0;
    switch (m->type) {
    case 'A':
    case 'F':
        evtype = TD_EV_ORDER_ADD;
        side = side_of[m->u.add_order.side];
        price = px4(m->u.add_order.price), qty = qty32(m->u.add_order.shares), id = m->u.add_order.order_ref;
        break;
    case 'D':
        evtype = TD_EV_ORDER_DELETE;
        qty = 0, id = m->u.order_delete.order_ref;
        break;
    case 'U':
        evtype = TD_EV_ORDER_REPLACE;
        price = px4(m->u.order_replace.price), qty = qty32(m->u.order_replace.shares);
        id = m->u.order_replace.original_order_ref, id2 = m->u.order_replace.new_order_ref;
        break;
    case 'E':
        evtype = TD_EV_ORDER_EXEC;
        qty = qty32(m->u.order_executed.executed_shares), id = m->u.order_executed.order_ref;
        break;
    case 'C':
        evtype = TD_EV_ORDER_EXEC;
        price = px4(m->u.order_executed.execution_price);
        qty = qty32(m->u.order_executed.executed_shares), id = m->u.order_executed.order_ref;
        flags = m->u.order_executed.printable == 'N' ? TD_EVF_NONPRINT : 0;
        break;
    case 'X':
        evtype = TD_EV_ORDER_CANCEL;
        qty = qty32(m->u.order_cancel.cancelled_shares), id = m->u.order_cancel.order_ref;
        break;
    case 'P':
        evtype = TD_EV_TRADE, flags = TD_EVF_HIDDEN;
        price = px4(m->u.trade.price), qty = qty32(m->u.trade.shares), id = m->u.trade.match_number;
        break;
    default:
        return map_rare(ctx, m, ev);
    }
    uint32_t sym = ctx->sym_by_locate[m->stock_locate];
    if (TD_UNLIKELY(sym == 0)) return map_unknown_locate(ctx, m);
    if (TD_UNLIKELY(side == TD_SIDE_NONE && evtype == TD_EV_ORDER_ADD))
        return map_bad_field(ctx, m, TD_EPROTO, "bad side");
    /* One compound literal: the compiler writes the cache line with a few wide stores. */
    *ev = (td_event_t){ .type = evtype, .side = side, .exch = ctx->exch, .flags = flags, .sym = sym,
                        .src_seq = seq, .exch_ns = ctx->midnight_ns + (int64_t)m->timestamp, .recv_ns = 0,
                        .u.order = { price, qty, id, id2 } };
    ctx->counts.events++;
    return 1;
}

static void fill_header(td_itch50_ctx_t *ctx, const td_itch_msg_t *m, uint32_t sym, td_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->side = TD_SIDE_NONE;
    ev->exch = ctx->exch;
    ev->sym = sym;
    ev->src_seq = ctx->counts.messages;
    ev->exch_ns = ctx->midnight_ns + (int64_t)m->timestamp;
}

/* Everything but the order messages: directory, status, crosses, breaks, and the ignored types. */
static int map_rare(td_itch50_ctx_t *ctx, const td_itch_msg_t *m, td_event_t *ev)
{
    uint32_t sym;
    switch (m->type) {
    case 'R': {
        ctx->counts.ignored++;
        sym = intern_stock(m->u.stock_directory.stock);
        ctx->sym_by_locate[m->stock_locate] = sym;
        if (sym == 0) {
            ctx->counts.bad_symbol++;
            TD_LOG_RATELIMITED(TD_LOG_WARN, MOD, 5, "message %llu: stock \"%.8s\" (locate %u) is not a valid symbol",
                               (unsigned long long)ctx->counts.messages, m->u.stock_directory.stock,
                               m->stock_locate);
            return TD_EPROTO;
        }
        return 0;
    }
    case 'Q': {
        const td_itch_cross_trade_t *q = &m->u.cross_trade;
        sym = ctx->sym_by_locate[m->stock_locate];
        if (sym == 0) return map_unknown_locate(ctx, m);
        if (q->shares == 0) {
            ctx->counts.empty_crosses++;
            return 0;
        }
        if (q->shares > (uint64_t)(INT64_MAX / TD_DEC_SCALE))
            return map_bad_field(ctx, m, TD_ERANGE, "cross shares out of range");
        fill_header(ctx, m, sym, ev);
        ev->type = TD_EV_TRADE;
        ev->flags = TD_EVF_CROSS;
        ev->u.trade.price = px4(q->cross_price);
        ev->u.trade.qty = (int64_t)q->shares * TD_DEC_SCALE;
        ev->u.trade.trade_id = q->match_number;
        ctx->counts.events++;
        return 1;
    }
    case 'H': {
        const td_itch_trading_action_t *h = &m->u.trading_action;
        sym = ctx->sym_by_locate[m->stock_locate];
        if (sym == 0) return map_unknown_locate(ctx, m);
        fill_header(ctx, m, sym, ev);
        ev->type = TD_EV_STATUS;
        switch (h->trading_state) {
        case 'H': ev->u.status.state = TD_STATE_HALTED; break;
        case 'P': ev->u.status.state = TD_STATE_PAUSED; break;
        case 'Q': ev->u.status.state = TD_STATE_QUOTATION; break;
        case 'T': ev->u.status.state = TD_STATE_TRADING; break;
        default: ev->u.status.state = TD_STATE_UNKNOWN; break;
        }
        memcpy(ev->u.status.reason, h->reason, 4);
        ctx->counts.events++;
        return 1;
    }
    case 'B':
        ctx->counts.broken_trades++;
        TD_LOG_RATELIMITED(TD_LOG_WARN, MOD, 5, "message %llu: broken trade, match number %llu (locate %u); "
                           "not applied", (unsigned long long)ctx->counts.messages,
                           (unsigned long long)m->u.broken_trade.match_number, m->stock_locate);
        return 0;
    case 'S': {
        ctx->counts.ignored++;
        ctx->last_system_event = m->u.system_event.event_code;
        uint64_t s = m->timestamp / 1000000000u;
        TD_LOG_RATELIMITED(TD_LOG_INFO, MOD, 5, "system event '%c' at %02llu:%02llu:%02llu.%03llu ET",
                           m->u.system_event.event_code, (unsigned long long)(s / 3600),
                           (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60),
                           (unsigned long long)(m->timestamp / 1000000u % 1000));
        return 0;
    }
    case TD_ITCH_UNKNOWN:
        ctx->counts.unknown_type++;
        TD_LOG_RATELIMITED(TD_LOG_WARN, MOD, 5, "message %llu: unknown type 0x%02x (%u bytes) skipped",
                           (unsigned long long)ctx->counts.messages, m->u.unknown.code, m->u.unknown.len);
        return 0;
    default:
        ctx->counts.ignored++;
        return 0;
    }
}

/* ---- file source ------------------------------------------------------------------------------------ */

typedef struct itch_source {
    td_source_t base;        /* first: the runner sees only this */
    const uint8_t *data;     /* the mmap'ed file, NULL when empty */
    size_t size, pos;
    int final_rc;            /* 0 while running; then TD_EOF or TD_EPROTO for every later next() */
    td_itch50_ctx_t ctx;
} itch_source_t;

static int source_next(td_source_t *base, td_event_t *out, size_t max)
{
    itch_source_t *s = (itch_source_t *)base;
    if (s->final_rc) return s->final_rc;
    size_t n = 0, start = s->pos;
    uint64_t msgs = 0, bad = 0;
    size_t bad_tail = 0; /* bytes given up on at a truncated or bad frame: not "consumed" */
    /* Messages that map to nothing (R, Y, ...) are consumed without returning, so a batch is empty only
     * at the end of the file: 0 would mean "nothing ready yet", which a file never is. */
    while (n < max) {
        if (s->pos == s->size) {
            s->final_rc = TD_EOF;
            break;
        }
        td_itch_msg_t m;
        int rc = td_itch50_decode(s->data + s->pos, s->size - s->pos, &m);
        if (TD_UNLIKELY(rc < 0)) {
            bad++;
            if (rc == TD_EAGAIN) {
                td_log_warn(MOD, "%s: truncated last message at offset %zu (%zu bytes left); ending",
                            s->base.name, s->pos, s->size - s->pos);
                s->final_rc = TD_EOF;
            } else {
                const uint8_t *p = s->data + s->pos;
                size_t left = s->size - s->pos;
                td_log_error(MOD, "%s: bad frame at offset %zu (message %llu): length %u, type 0x%02x; "
                             "length-prefixed framing cannot resynchronize, stopping", s->base.name, s->pos,
                             (unsigned long long)s->ctx.counts.messages + 1, left >= 2 ? be16(p) : 0u,
                             left >= 3 ? p[2] : 0u);
                s->final_rc = TD_EPROTO;
            }
            bad_tail = s->size - s->pos;
            s->pos = s->size;
            break;
        }
        s->pos += (size_t)rc;
        msgs++;
        rc = td_itch50_map(&s->ctx, &m, &out[n]);
        if (rc > 0) n++;
        else if (rc < 0) bad++;
    }
    atomic_fetch_add_explicit(&s->base.stats.messages, msgs, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->base.stats.events, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->base.stats.bad, bad, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->base.stats.bytes, s->pos - start - bad_tail, memory_order_relaxed);
    if (n == 0) return s->final_rc;
    return (int)n;
}

static void source_destroy(td_source_t *base)
{
    itch_source_t *s = (itch_source_t *)base;
    if (!s) return;
    if (s->data) munmap((void *)s->data, s->size);
    td_free(s);
}

const td_itch50_counts_t *td_itch50_source_counts(const td_source_t *src)
{
    return &((const itch_source_t *)src)->ctx.counts;
}

/* "YYYY-MM-DD" exactly. */
static int parse_iso_date(const char *s, int *y, int *m, int *d)
{
    int n = -1;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", y, m, d, &n) != 3 || n != 10) return TD_EINVAL;
    for (int i = 0; i < 10; i++)
        if ((i == 4 || i == 7) ? s[i] != '-' : (s[i] < '0' || s[i] > '9')) return TD_EINVAL;
    int64_t unused;
    return td_itch50_midnight_ns(*y, *m, *d, &unused);
}

/* The first run of exactly 8 digits in name that reads as a valid MMDDYYYY date. */
static int date_from_name(const char *name, int *y, int *m, int *d)
{
    for (const char *p = name; *p;) {
        if (*p < '0' || *p > '9') { p++; continue; }
        const char *q = p;
        while (*q >= '0' && *q <= '9') q++;
        if (q - p == 8) {
            int v[8];
            for (int i = 0; i < 8; i++) v[i] = p[i] - '0';
            *m = v[0] * 10 + v[1];
            *d = v[2] * 10 + v[3];
            *y = v[4] * 1000 + v[5] * 100 + v[6] * 10 + v[7];
            int64_t unused;
            if (td_itch50_midnight_ns(*y, *m, *d, &unused) == TD_OK) return TD_OK;
        }
        p = q;
    }
    return TD_ENOENT;
}

td_source_t *td_itch50_open(const char *args, char *err, size_t errlen)
{
    itch_source_t *s = NULL;
    char *path = NULL;
    int fd = -1;
    if (!args || !*args) {
        snprintf(err, errlen, "itch50: expected FILE or FILE,date=YYYY-MM-DD");
        return NULL;
    }
    path = td_strdup(args);
    int y = 1970, mo = 1, d = 1;
    char *opt = strstr(path, ",date=");
    if (opt) {
        *opt = '\0';
        if (parse_iso_date(opt + 6, &y, &mo, &d) != TD_OK) {
            snprintf(err, errlen, "itch50: bad date \"%s\" (want YYYY-MM-DD)", opt + 6);
            goto fail;
        }
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!opt && date_from_name(base, &y, &mo, &d) != TD_OK) {
        y = 1970, mo = 1, d = 1;
        td_log_warn(MOD, "%s: no date in the file name and none given (FILE,date=YYYY-MM-DD); "
                    "timestamps are relative to 1970-01-01 ET", path);
    }
    int64_t midnight;
    td_itch50_midnight_ns(y, mo, d, &midnight); /* valid: checked above */

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "itch50: cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "itch50: %s is not a regular file", path);
        goto fail;
    }
    s = td_malloc(sizeof *s);
    memset(&s->base, 0, sizeof s->base);
    s->data = NULL;
    s->size = (size_t)st.st_size;
    s->pos = 0;
    s->final_rc = 0;
    if (s->size > 0) {
        void *map = mmap(NULL, s->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            snprintf(err, errlen, "itch50: cannot map %s: %s", path, strerror(errno));
            goto fail;
        }
        madvise(map, s->size, MADV_SEQUENTIAL);
        s->data = map;
    }
    close(fd);
    fd = -1;
    td_itch50_ctx_init(&s->ctx, midnight);
    s->base.kind = "itch50";
    snprintf(s->base.name, sizeof s->base.name, "itch50:%s", base);
    s->base.next = source_next;
    s->base.destroy = source_destroy;
    td_log_info(MOD, "%s: %zu bytes, session %04d-%02d-%02d", path, s->size, y, mo, d);
    td_free(path);
    return &s->base;
fail:
    if (fd >= 0) close(fd);
    td_free(s);
    td_free(path);
    return NULL;
}
