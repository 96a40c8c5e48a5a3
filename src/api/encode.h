/*
 * encode.h: the server-to-client messages of API.md, in JSON and in tickd's compact MessagePack schema.
 *
 * JSON (API.md): one object per message, decimals exact (td_dec_fmt), event times in ms, candle times in
 * seconds. Extensions: "snapshot":true on the messages sent at subscribe time, "conflated":true on
 * messages of a conflated stream (earlier updates were skipped: the seq jump shows how many records).
 *
 * MessagePack (?encoding=msgpack, docs/BINARY.md): data messages are arrays with a type code first and
 * fixed positions; decimals are (mantissa, exponent) pairs with one price exponent and one size exponent
 * per message, so 185.42 costs 3 bytes instead of 9 for a float64. Control messages (subscribed, error,
 * pong...) are maps with the JSON keys. A tick is about 4x smaller than its JSON.
 *
 * Threading: pure functions writing into the caller's buffer.
 */
#ifndef TD_API_ENCODE_H
#define TD_API_ENCODE_H

#include <stdbool.h>
#include <stdint.h>

#include "api/jbuf.h"
#include "bar/candle.h"
#include "book/nbbo.h"
#include "engine/engine.h"

enum { TD_ENC_JSON = 0, TD_ENC_MSGPACK = 1 };

/* message flags */
#define TD_MSG_CONFLATED 1u
#define TD_MSG_SNAPSHOT 2u

/* MessagePack data message type codes (first array element) */
enum { TD_MP_TICK = 1, TD_MP_NBBO = 2, TD_MP_TRADE = 3, TD_MP_CANDLE = 4, TD_MP_BOOK = 5, TD_MP_STATUS = 6 };

typedef struct td_msg_trade {
    uint32_t sym;
    int64_t price, qty, bid, ask; /* bid/ask: the NBBO when it printed (tick only) */
    uint8_t exch, side;
    int64_t exch_ns, recv_ns;     /* recv_ns 0: unknown (left out) */
    uint64_t seq, trade_id;
} td_msg_trade_t;

void td_enc_tick(td_jb_t *b, int enc, const td_msg_trade_t *m, unsigned flags);
void td_enc_trade(td_jb_t *b, int enc, const td_msg_trade_t *m, unsigned flags);
void td_enc_nbbo(td_jb_t *b, int enc, uint32_t sym, const td_nbbo_t *n, int64_t exch_ns, uint64_t seq,
                 unsigned flags);
void td_enc_candle(td_jb_t *b, int enc, uint32_t sym, td_interval_t iv, const td_candle_t *c, bool closed,
                   uint64_t seq, unsigned flags);
/* depth: levels per side (<= what the snapshot holds); seq: the message's seq */
void td_enc_book(td_jb_t *b, int enc, uint32_t sym, const td_book_snap_t *bk, int depth, uint64_t seq,
                 unsigned flags);
void td_enc_status(td_jb_t *b, int enc, const td_out_t *o, unsigned flags);

/* The trade fields of a TRADE out record. */
void td_msg_from_out(td_msg_trade_t *m, const td_out_t *o);

/* Control messages: {"type":"pong"}, {"type":"error","code":..,"message":..}, notices. id: a JSON text
 * (a quoted string or an integer) echoed as "id", or NULL. */
void td_enc_pong(td_jb_t *b, int enc, const char *id);
void td_enc_error(td_jb_t *b, int enc, const char *code, const char *message, const char *id);
void td_enc_notice(td_jb_t *b, int enc, const char *code, const char *message);

#endif
