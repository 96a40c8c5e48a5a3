/*
 * itch50.h: NASDAQ TotalView-ITCH 5.0: decoder, encoder, mapping to td_event_t, and a file source.
 *
 * Framing is the NASDAQ "binary file" layout of the public sample days (MMDDYYYY.NASDAQ_ITCH50): each
 * message is a 2-byte big-endian length, then the body. Every body starts with
 *   type(1) stock_locate(2) tracking_number(2) timestamp(6, ns since midnight, big-endian)
 * and every integer is big-endian. Alpha fields are kept as the raw bytes (space padded, not NUL
 * terminated) and integers as the raw values (prices in their implied-decimal units), so a decoded
 * message carries every byte of its body: td_itch50_encode(td_itch50_decode(bytes)) == bytes for every
 * message the decoder accepts, including the reserved byte of H and messages of unknown type.
 *
 * Decoder contract (picohttpparser style): td_itch50_decode() returns the bytes consumed (length prefix
 * included, > 0), TD_EAGAIN when buf holds only part of a message, TD_EPROTO on bad input: a zero length,
 * or a known type whose length is not the one the spec gives (checked as soon as the prefix and the type
 * byte are in, so a bad frame never waits for more input). A message of unknown type is not an error: it
 * decodes to TD_ITCH_UNKNOWN (u.unknown points into buf) and the caller counts and skips it. The decoder
 * never validates enumerated values (side 'B'/'S' etc.): that is the mapping's job, so the decoder stays
 * loss-free and branch-light.
 *
 * Mapping (td_itch50_map) turns decoded messages into tickd events for one session (one file/day); see
 * the table above td_itch50_map() below.
 *
 * Threading: decode/encode are pure functions (any thread). A td_itch50_ctx_t and a source belong to one
 * thread at a time (the feed runner's); the symbol registry they intern into is thread-safe.
 */
#ifndef TD_FEED_ITCH50_H
#define TD_FEED_ITCH50_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "feed/source.h"

/* Message types (the type byte). TD_ITCH_UNKNOWN is what a type the decoder does not know decodes to. */
typedef enum td_itch_type {
    TD_ITCH_UNKNOWN               = 0,
    TD_ITCH_SYSTEM_EVENT          = 'S',
    TD_ITCH_STOCK_DIRECTORY       = 'R',
    TD_ITCH_TRADING_ACTION        = 'H',
    TD_ITCH_REG_SHO               = 'Y',
    TD_ITCH_MPP_POSITION          = 'L', /* market participant position */
    TD_ITCH_MWCB_DECLINE          = 'V', /* market-wide circuit breaker decline levels */
    TD_ITCH_MWCB_STATUS           = 'W',
    TD_ITCH_IPO_QUOTING           = 'K',
    TD_ITCH_LULD_COLLAR           = 'J',
    TD_ITCH_OPERATIONAL_HALT      = 'h',
    TD_ITCH_ADD_ORDER             = 'A',
    TD_ITCH_ADD_ORDER_MPID        = 'F',
    TD_ITCH_ORDER_EXECUTED        = 'E',
    TD_ITCH_ORDER_EXECUTED_PRICE  = 'C',
    TD_ITCH_ORDER_CANCEL          = 'X',
    TD_ITCH_ORDER_DELETE          = 'D',
    TD_ITCH_ORDER_REPLACE         = 'U',
    TD_ITCH_TRADE                 = 'P', /* non-cross trade against a non-displayed order */
    TD_ITCH_CROSS_TRADE           = 'Q',
    TD_ITCH_BROKEN_TRADE          = 'B',
    TD_ITCH_NOII                  = 'I', /* net order imbalance indicator */
    TD_ITCH_RPII                  = 'N', /* retail price improvement indicator */
    TD_ITCH_DLCR_PRICE_DISCOVERY  = 'O', /* direct listing with capital raise */
} td_itch_type_t;

#define TD_ITCH_HEADER_LEN 11  /* type + locate + tracking + timestamp */
#define TD_ITCH_MAX_BODY   50  /* the longest known body (I) */
#define TD_ITCH_MAX_FRAME  (2 + 65535) /* the longest frame an unknown type can have */

/* Body length of a known type (length prefix excluded), 0 for an unknown type byte. */
size_t td_itch50_body_len(uint8_t type);

/* Per-type payloads, fields in wire order. Prices: Price(4) = 4 implied decimals unless noted. */
typedef struct { uint8_t event_code; } td_itch_system_event_t;
typedef struct {
    char stock[8];
    uint8_t market_category, financial_status;
    uint32_t round_lot_size;
    uint8_t round_lots_only, issue_classification;
    char issue_subtype[2];
    uint8_t authenticity, short_sale_threshold, ipo_flag, luld_ref_price_tier, etp_flag;
    uint32_t etp_leverage_factor;
    uint8_t inverse_indicator;
} td_itch_stock_directory_t;
typedef struct {
    char stock[8];
    uint8_t trading_state, reserved;
    char reason[4];
} td_itch_trading_action_t;
typedef struct { char stock[8]; uint8_t reg_sho_action; } td_itch_reg_sho_t;
typedef struct {
    char mpid[4];
    char stock[8];
    uint8_t primary_market_maker, market_maker_mode, market_participant_state;
} td_itch_mpp_position_t;
typedef struct { uint64_t level1, level2, level3; } td_itch_mwcb_decline_t; /* Price(8) */
typedef struct { uint8_t breached_level; } td_itch_mwcb_status_t;
typedef struct {
    char stock[8];
    uint32_t release_time; /* seconds since midnight */
    uint8_t release_qualifier;
    uint32_t ipo_price;
} td_itch_ipo_quoting_t;
typedef struct {
    char stock[8];
    uint32_t ref_price, upper_price, lower_price, extension;
} td_itch_luld_collar_t;
typedef struct { char stock[8]; uint8_t market_code, halt_action; } td_itch_operational_halt_t;
typedef struct {           /* A, and F with attribution */
    uint64_t order_ref;
    uint8_t side;          /* 'B' or 'S' */
    uint32_t shares;
    char stock[8];
    uint32_t price;
    char attribution[4];   /* F only */
} td_itch_add_order_t;
typedef struct {           /* E, and C with printable and price */
    uint64_t order_ref;
    uint32_t executed_shares;
    uint64_t match_number;
    uint8_t printable;     /* C only: 'Y' or 'N' */
    uint32_t execution_price; /* C only */
} td_itch_order_executed_t;
typedef struct { uint64_t order_ref; uint32_t cancelled_shares; } td_itch_order_cancel_t;
typedef struct { uint64_t order_ref; } td_itch_order_delete_t;
typedef struct {
    uint64_t original_order_ref, new_order_ref;
    uint32_t shares, price;
} td_itch_order_replace_t;
typedef struct {
    uint64_t order_ref;
    uint8_t side;
    uint32_t shares;
    char stock[8];
    uint32_t price;
    uint64_t match_number;
} td_itch_trade_t;
typedef struct {
    uint64_t shares;
    char stock[8];
    uint32_t cross_price;
    uint64_t match_number;
    uint8_t cross_type;
} td_itch_cross_trade_t;
typedef struct { uint64_t match_number; } td_itch_broken_trade_t;
typedef struct {
    uint64_t paired_shares, imbalance_shares;
    uint8_t imbalance_direction;
    char stock[8];
    uint32_t far_price, near_price, current_ref_price;
    uint8_t cross_type, price_variation;
} td_itch_noii_t;
typedef struct { char stock[8]; uint8_t interest_flag; } td_itch_rpii_t;
typedef struct {
    char stock[8];
    uint8_t open_eligibility;
    uint32_t min_allowable_price, max_allowable_price, near_execution_price;
    uint64_t near_execution_time;
    uint32_t lower_price_collar, upper_price_collar;
} td_itch_dlcr_t;
typedef struct {
    const uint8_t *body;   /* points into the decoder's input: valid while that buffer is */
    uint16_t len;          /* body length, >= 1 */
    uint8_t code;          /* the type byte */
} td_itch_unknown_t;

/* A decoded message. For TD_ITCH_UNKNOWN the header fields are not set (the body may be shorter than a
 * header); everything is in u.unknown. */
typedef struct td_itch_msg {
    uint8_t type;              /* td_itch_type_t */
    uint16_t stock_locate;
    uint16_t tracking_number;
    uint64_t timestamp;        /* ns since midnight, 48 bits */
    union {
        td_itch_system_event_t system_event;        /* S */
        td_itch_stock_directory_t stock_directory;  /* R */
        td_itch_trading_action_t trading_action;    /* H */
        td_itch_reg_sho_t reg_sho;                  /* Y */
        td_itch_mpp_position_t mpp_position;        /* L */
        td_itch_mwcb_decline_t mwcb_decline;        /* V */
        td_itch_mwcb_status_t mwcb_status;          /* W */
        td_itch_ipo_quoting_t ipo_quoting;          /* K */
        td_itch_luld_collar_t luld_collar;          /* J */
        td_itch_operational_halt_t operational_halt;/* h */
        td_itch_add_order_t add_order;              /* A F */
        td_itch_order_executed_t order_executed;    /* E C */
        td_itch_order_cancel_t order_cancel;        /* X */
        td_itch_order_delete_t order_delete;        /* D */
        td_itch_order_replace_t order_replace;      /* U */
        td_itch_trade_t trade;                      /* P */
        td_itch_cross_trade_t cross_trade;          /* Q */
        td_itch_broken_trade_t broken_trade;        /* B */
        td_itch_noii_t noii;                        /* I */
        td_itch_rpii_t rpii;                        /* N */
        td_itch_dlcr_t dlcr;                        /* O */
        td_itch_unknown_t unknown;
    } u;
} td_itch_msg_t;

/* Decodes one framed message from buf[0..len). See the contract at the top of this file. Writes only
 * the fields of the decoded type into *out. */
int td_itch50_decode(const uint8_t *buf, size_t len, td_itch_msg_t *out);

/* Writes m as a frame (2-byte length + body) into out[0..cap). Returns the bytes written, or 0 when cap
 * is too small, the timestamp needs more than 48 bits, or m->type is neither known nor TD_ITCH_UNKNOWN
 * with a body (whose first byte must be an unknown type). */
size_t td_itch50_encode(const td_itch_msg_t *m, uint8_t *out, size_t cap);

/* ---- mapping to tickd events ------------------------------------------------------------------ */

typedef struct td_itch50_counts {
    uint64_t messages;        /* messages mapped (= the last src_seq given out) */
    uint64_t events;          /* events written */
    uint64_t unknown_type;    /* TD_ITCH_UNKNOWN messages skipped */
    uint64_t unknown_locate;  /* order/trade/status messages whose locate no R message defined */
    uint64_t bad_symbol;      /* R messages whose stock name could not be interned */
    uint64_t bad_field;       /* bad enumerated value (side) or a quantity past the decimal range */
    uint64_t broken_trades;   /* B messages: logged, no event */
    uint64_t empty_crosses;   /* Q with 0 shares (no cross took place): no event */
    uint64_t ignored;         /* known types that produce no event (Y L V W K J h I N O, S, R) */
} td_itch50_counts_t;

/* One session's mapping state. Large (256 KiB for the locate table): allocate it, don't put it on a
 * stack. Plain data: no destroy needed. */
typedef struct td_itch50_ctx {
    int64_t midnight_ns;      /* session date 00:00 US Eastern, ns since the Unix epoch */
    uint8_t exch;             /* "NASDAQ" */
    uint8_t last_system_event;/* event code of the last S message, 0 before any */
    td_itch50_counts_t counts;
    uint32_t sym_by_locate[65536]; /* 0 = locate not defined by an R message */
} td_itch50_ctx_t;

/* Midnight of civil date y-m-d in US Eastern time, as ns since the Unix epoch: 05:00 UTC under EST,
 * 04:00 UTC under EDT. DST follows the US rules by year (2007+: second Sunday of March to first Sunday
 * of November; 1987-2006: first Sunday of April to last Sunday of October; 1970-1986: last Sunday of
 * April to last Sunday of October, without the 1974-75 exceptions), evaluated at midnight. Clocks change
 * on Sundays at 02:00 and NASDAQ sessions run on weekdays, so the offset at midnight holds for the whole
 * session; for a Sunday date the offset at midnight is used for the whole day (ITCH timestamps are
 * elapsed ns since midnight). Pure arithmetic: no TZ database, no setenv("TZ") (not thread-safe). Returns TD_OK or
 * TD_EINVAL for a date that does not exist or a year outside 1970..9999. */
int td_itch50_midnight_ns(int year, int month, int day, int64_t *out);

/* Starts a session: counters and the locate table zeroed, exchange "NASDAQ" interned. */
void td_itch50_ctx_init(td_itch50_ctx_t *ctx, int64_t midnight_ns);

/*
 * Maps one decoded message to at most one event. Every call is one source message: src_seq of the event
 * is the 1-based count of calls on ctx (the message number within the file, since this format has no
 * MoldUDP sequence). exch_ns = midnight_ns + timestamp; recv_ns is left 0 (the runner stamps it).
 *   R  interns the stock name (trimmed) and binds stock_locate to it; no event. NASDAQ suffix characters
 *      that the symbol registry does not accept are spelt with '/': '+' -> "/WS" (warrant), '^' -> "/RT"
 *      (right), '=' -> "/U" (unit), '*' -> "/CL" (called), '#' -> "/WI" (when issued), so "AIG+" is
 *      "AIG/WS" (no collisions: '/' never occurs in NASDAQ symbols). Other names count bad_symbol.
 *   A F -> ORDER_ADD (side from 'B'/'S'; F's MPID attribution is dropped)
 *   E   -> ORDER_EXEC, price 0 (= the order's price)
 *   C   -> ORDER_EXEC at the execution price, TD_EVF_NONPRINT when printable = 'N'
 *   X   -> ORDER_CANCEL,  D -> ORDER_DELETE,  U -> ORDER_REPLACE (order_id -> new_order_id, price, qty)
 *   P   -> TRADE, TD_EVF_HIDDEN, side NONE (P's side is the hidden resting order's, not the aggressor's;
 *          NASDAQ sends 'B' for every P), trade_id = match number
 *   Q   -> TRADE, TD_EVF_CROSS, side NONE, trade_id = match number; 0 shares (no cross) -> no event
 *   H   -> STATUS (H halted, P paused, Q quotation, T trading, else unknown), reason = the 4-char code
 *   B   -> no event: counted and logged (rate-limited); books are not rolled back
 *   S   -> no event: remembered in last_system_event and logged at info
 *   others (Y L V W K J h I N O) -> no event, counted as ignored
 * E C X D U messages do not carry the order's side: their events have side TD_SIDE_NONE (the book knows
 * it from the add). ITCH match numbers of E/C are not carried (td_event_t has no field for them).
 * Returns 1 (event written), 0 (nothing to emit), or a negative TD_E* for a message that is bad in
 * context and was counted: TD_ENOENT (locate never defined), TD_EPROTO (bad side / bad symbol),
 * TD_ERANGE (quantity overflows the decimal scale).
 */
int td_itch50_map(td_itch50_ctx_t *ctx, const td_itch_msg_t *m, td_event_t *out);

/* ---- file source ------------------------------------------------------------------------------- */

/*
 * Opens an ITCH 5.0 binary file as a td_source_t. args: "FILE" or "FILE,date=YYYY-MM-DD". Without a date
 * the first MMDDYYYY run of 8 digits in the file's base name that is a valid date is used (NASDAQ names
 * its files 12302019.NASDAQ_ITCH50), else 1970-01-01 with a warning. The file is mmap'ed read-only.
 * next() decodes and maps; messages that map to nothing are consumed silently, bad messages (unknown
 * locate, bad side) are counted in stats.bad and skipped. A truncated last message counts one bad and
 * ends the source with TD_EOF. A framing error (zero length, wrong length for a known type) cannot be
 * resynchronized in length-prefixed framing (any byte could be a length): it counts one bad, is logged
 * with its file offset, and every later next() returns TD_EPROTO (fatal: the runner stops the source).
 */
td_source_t *td_itch50_open(const char *args, char *err, size_t errlen);

/* The mapping counters of a source td_itch50_open() made (unknown types, broken trades, ... which
 * td_source_stats_t has no field for). Plain counters: read them on the thread that calls next(). */
const td_itch50_counts_t *td_itch50_source_counts(const td_source_t *src);

#endif
