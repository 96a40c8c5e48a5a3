/*
 * event.h: the one normalized event every feed produces and the engine consumes.
 *
 * Fixed size (64 bytes, one cache line) so rings are arrays and copies are two vector moves. Every event
 * carries: what happened (type, side, flags), where (interned symbol and exchange ids), the source's own
 * sequence number, the exchange timestamp and the receive time, plus a 32-byte payload whose meaning
 * depends on the type (see td_event_t.u).
 *
 * Units: prices and quantities are exact decimals scaled by TD_PX_SCALE / TD_QTY_SCALE (1e8), see
 * decimal.h. Times are nanoseconds since the Unix epoch: exch_ns as the exchange stamped it (sources that
 * stamp in ms give ms * 1e6), recv_ns from CLOCK_REALTIME when tickd read the bytes.
 *
 * Gaps: feed handlers detect sequence gaps in their source's own terms (Binance U/u/pu, ITCH sequence,
 * Coinbase sequence_num) and say so with TD_EV_GAP; after repair they send TD_EV_BOOK_CLEAR, the snapshot
 * (flag TD_EVF_SNAPSHOT), then TD_EV_RESYNC. The engine never infers gaps from src_seq itself.
 */
#ifndef TD_EVENT_H
#define TD_EVENT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

typedef enum td_ev_type {
    TD_EV_NONE = 0,
    TD_EV_TRADE,         /* a print: u.trade (price, qty, trade_id); side = aggressor (NONE if unknown) */
    TD_EV_QUOTE,         /* top of book from a BBO feed: u.quote; 0 qty means that side is empty */
    TD_EV_LEVEL_SET,     /* price-level book: the total at u.level.price is now u.level.qty (> 0) */
    TD_EV_LEVEL_DEL,     /* price-level book: the level at u.level.price is gone */
    TD_EV_ORDER_ADD,     /* order-level book: u.order (order_id, price, qty), side */
    TD_EV_ORDER_EXEC,    /* order executed for u.order.qty; u.order.price = execution price, 0 = the
                            order's own price. Also a trade unless TD_EVF_NONPRINT. */
    TD_EV_ORDER_CANCEL,  /* partial cancel: u.order.qty removed from order_id */
    TD_EV_ORDER_DELETE,  /* order_id removed entirely */
    TD_EV_ORDER_REPLACE, /* order_id replaced by new_order_id with u.order.price/qty; loses priority */
    TD_EV_BOOK_CLEAR,    /* empty the (sym, exch) book: a snapshot follows */
    TD_EV_STATUS,        /* trading status change: u.status */
    TD_EV_GAP,           /* a sequence gap opened on (sym, exch); sym 0 = every symbol of the exchange */
    TD_EV_RESYNC,        /* the gap on (sym, exch) is repaired: the book is whole again */
    TD_EV_TYPE_COUNT
} td_ev_type_t;

typedef enum td_side { TD_BID = 0, TD_ASK = 1, TD_SIDE_NONE = 2 } td_side_t;

enum td_ev_flags {
    TD_EVF_SNAPSHOT = 1 << 0, /* part of a snapshot (between BOOK_CLEAR and RESYNC) */
    TD_EVF_HIDDEN   = 1 << 1, /* trade against hidden liquidity (LOBSTER type 5, ITCH P) */
    TD_EVF_NONPRINT = 1 << 2, /* execution that must not update last price, volume or candles */
    TD_EVF_CROSS    = 1 << 3, /* auction / cross trade (LOBSTER type 6, ITCH Q) */
    TD_EVF_REPLAY   = 1 << 4, /* produced by a replay of stored history */
};

typedef enum td_trading_state {
    TD_STATE_UNKNOWN = 0,
    TD_STATE_TRADING,
    TD_STATE_HALTED,
    TD_STATE_PAUSED,
    TD_STATE_QUOTATION, /* quoting only (auction, quote resume) */
    TD_STATE_CLOSED,
} td_trading_state_t;

typedef struct td_event {
    uint8_t  type;    /* td_ev_type_t */
    uint8_t  side;    /* td_side_t */
    uint8_t  exch;    /* exchange id, see symbols.h */
    uint8_t  flags;   /* td_ev_flags */
    uint32_t sym;     /* symbol id, see symbols.h (0 = none) */
    uint64_t src_seq; /* the source's own sequence number, 0 if it has none */
    int64_t  exch_ns; /* exchange timestamp, ns since the Unix epoch */
    int64_t  recv_ns; /* when tickd received it, CLOCK_REALTIME ns */
    union {
        struct { int64_t price, qty; uint64_t order_id, new_order_id; } order;
        struct { int64_t price, qty; uint64_t trade_id, _unused; } trade;
        struct { int64_t bid_px, bid_qty, ask_px, ask_qty; } quote;
        struct { int64_t price, qty; } level;
        struct { uint32_t state; char reason[4]; } status;  /* td_trading_state_t, source's code */
        struct { uint64_t expected, received; } gap;         /* source seq expected and seen */
    } u;
} td_event_t;

static_assert(sizeof(td_event_t) == 64, "td_event_t must stay one cache line");

const char *td_ev_type_name(td_ev_type_t t);

/* A one-line human-readable rendering for logs and test failures; returns buf. */
char *td_event_describe(const td_event_t *ev, char *buf, size_t len);

#endif
