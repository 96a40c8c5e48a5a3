/*
 * itch50_enc.c: ITCH 5.0 encoder, the exact inverse of td_itch50_decode().
 *
 * Writes the 2-byte big-endian length prefix and the body, every field in wire order at the offsets the
 * decoder reads them from. Because the decoded struct keeps every body byte (raw alpha fields, the H
 * reserved byte, unknown bodies by pointer), encode(decode(bytes)) reproduces the input exactly. A
 * timestamp that does not fit the 48-bit field is refused (returns 0) rather than silently wrapped. Used by tests, benchmarks and (later) tickctl's
 * LOBSTER -> ITCH conversion; not on any hot path, so clarity wins over speed here.
 *
 * Threading: pure function; any thread.
 */
#include "feed/itch50.h"

#include <string.h>

static inline void put16(uint8_t *p, uint16_t v)
{
    v = __builtin_bswap16(v);
    memcpy(p, &v, sizeof v);
}

static inline void put32(uint8_t *p, uint32_t v)
{
    v = __builtin_bswap32(v);
    memcpy(p, &v, sizeof v);
}

static inline void put64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, sizeof v);
}

size_t td_itch50_encode(const td_itch_msg_t *m, uint8_t *out, size_t cap)
{
    if (m->type == TD_ITCH_UNKNOWN) {
        size_t n = m->u.unknown.len;
        if (n == 0 || !m->u.unknown.body || td_itch50_body_len(m->u.unknown.body[0]) != 0 || cap < 2 + n)
            return 0;
        put16(out, (uint16_t)n);
        memcpy(out + 2, m->u.unknown.body, n);
        return 2 + n;
    }
    size_t len = td_itch50_body_len(m->type);
    if (len == 0 || cap < 2 + len || m->timestamp >> 48) return 0;
    put16(out, (uint16_t)len);
    uint8_t *p = out + 2;
    p[0] = m->type;
    put16(p + 1, m->stock_locate);
    put16(p + 3, m->tracking_number);
    put16(p + 5, (uint16_t)(m->timestamp >> 32));
    put32(p + 7, (uint32_t)m->timestamp);

    switch (m->type) {
    case 'S':
        p[11] = m->u.system_event.event_code;
        break;
    case 'R': {
        const td_itch_stock_directory_t *r = &m->u.stock_directory;
        memcpy(p + 11, r->stock, 8);
        p[19] = r->market_category;
        p[20] = r->financial_status;
        put32(p + 21, r->round_lot_size);
        p[25] = r->round_lots_only;
        p[26] = r->issue_classification;
        memcpy(p + 27, r->issue_subtype, 2);
        p[29] = r->authenticity;
        p[30] = r->short_sale_threshold;
        p[31] = r->ipo_flag;
        p[32] = r->luld_ref_price_tier;
        p[33] = r->etp_flag;
        put32(p + 34, r->etp_leverage_factor);
        p[38] = r->inverse_indicator;
        break;
    }
    case 'H': {
        const td_itch_trading_action_t *h = &m->u.trading_action;
        memcpy(p + 11, h->stock, 8);
        p[19] = h->trading_state;
        p[20] = h->reserved;
        memcpy(p + 21, h->reason, 4);
        break;
    }
    case 'Y':
        memcpy(p + 11, m->u.reg_sho.stock, 8);
        p[19] = m->u.reg_sho.reg_sho_action;
        break;
    case 'L': {
        const td_itch_mpp_position_t *l = &m->u.mpp_position;
        memcpy(p + 11, l->mpid, 4);
        memcpy(p + 15, l->stock, 8);
        p[23] = l->primary_market_maker;
        p[24] = l->market_maker_mode;
        p[25] = l->market_participant_state;
        break;
    }
    case 'V':
        put64(p + 11, m->u.mwcb_decline.level1);
        put64(p + 19, m->u.mwcb_decline.level2);
        put64(p + 27, m->u.mwcb_decline.level3);
        break;
    case 'W':
        p[11] = m->u.mwcb_status.breached_level;
        break;
    case 'K': {
        const td_itch_ipo_quoting_t *k = &m->u.ipo_quoting;
        memcpy(p + 11, k->stock, 8);
        put32(p + 19, k->release_time);
        p[23] = k->release_qualifier;
        put32(p + 24, k->ipo_price);
        break;
    }
    case 'J': {
        const td_itch_luld_collar_t *j = &m->u.luld_collar;
        memcpy(p + 11, j->stock, 8);
        put32(p + 19, j->ref_price);
        put32(p + 23, j->upper_price);
        put32(p + 27, j->lower_price);
        put32(p + 31, j->extension);
        break;
    }
    case 'h':
        memcpy(p + 11, m->u.operational_halt.stock, 8);
        p[19] = m->u.operational_halt.market_code;
        p[20] = m->u.operational_halt.halt_action;
        break;
    case 'A':
    case 'F': {
        const td_itch_add_order_t *a = &m->u.add_order;
        put64(p + 11, a->order_ref);
        p[19] = a->side;
        put32(p + 20, a->shares);
        memcpy(p + 24, a->stock, 8);
        put32(p + 32, a->price);
        if (m->type == 'F') memcpy(p + 36, a->attribution, 4);
        break;
    }
    case 'E':
    case 'C': {
        const td_itch_order_executed_t *e = &m->u.order_executed;
        put64(p + 11, e->order_ref);
        put32(p + 19, e->executed_shares);
        put64(p + 23, e->match_number);
        if (m->type == 'C') {
            p[31] = e->printable;
            put32(p + 32, e->execution_price);
        }
        break;
    }
    case 'X':
        put64(p + 11, m->u.order_cancel.order_ref);
        put32(p + 19, m->u.order_cancel.cancelled_shares);
        break;
    case 'D':
        put64(p + 11, m->u.order_delete.order_ref);
        break;
    case 'U': {
        const td_itch_order_replace_t *u = &m->u.order_replace;
        put64(p + 11, u->original_order_ref);
        put64(p + 19, u->new_order_ref);
        put32(p + 27, u->shares);
        put32(p + 31, u->price);
        break;
    }
    case 'P': {
        const td_itch_trade_t *t = &m->u.trade;
        put64(p + 11, t->order_ref);
        p[19] = t->side;
        put32(p + 20, t->shares);
        memcpy(p + 24, t->stock, 8);
        put32(p + 32, t->price);
        put64(p + 36, t->match_number);
        break;
    }
    case 'Q': {
        const td_itch_cross_trade_t *q = &m->u.cross_trade;
        put64(p + 11, q->shares);
        memcpy(p + 19, q->stock, 8);
        put32(p + 27, q->cross_price);
        put64(p + 31, q->match_number);
        p[39] = q->cross_type;
        break;
    }
    case 'B':
        put64(p + 11, m->u.broken_trade.match_number);
        break;
    case 'I': {
        const td_itch_noii_t *n = &m->u.noii;
        put64(p + 11, n->paired_shares);
        put64(p + 19, n->imbalance_shares);
        p[27] = n->imbalance_direction;
        memcpy(p + 28, n->stock, 8);
        put32(p + 36, n->far_price);
        put32(p + 40, n->near_price);
        put32(p + 44, n->current_ref_price);
        p[48] = n->cross_type;
        p[49] = n->price_variation;
        break;
    }
    case 'N':
        memcpy(p + 11, m->u.rpii.stock, 8);
        p[19] = m->u.rpii.interest_flag;
        break;
    case 'O': {
        const td_itch_dlcr_t *o = &m->u.dlcr;
        memcpy(p + 11, o->stock, 8);
        p[19] = o->open_eligibility;
        put32(p + 20, o->min_allowable_price);
        put32(p + 24, o->max_allowable_price);
        put32(p + 28, o->near_execution_price);
        put64(p + 32, o->near_execution_time);
        put32(p + 40, o->lower_price_collar);
        put32(p + 44, o->upper_price_collar);
        break;
    }
    default:
        return 0; /* unreachable: len != 0 only for the types above */
    }
    return 2 + len;
}
