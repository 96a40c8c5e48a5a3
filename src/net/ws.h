/*
 * ws.h: RFC 6455 server side: the upgrade handshake, an incremental parser for client frames, UTF-8
 * validation, and outbound frame headers.
 *
 * Inbound: td_ws_rx_feed() takes the bytes received so far and returns how many it consumed (one whole
 * frame), TD_EAGAIN (the next frame is incomplete: call again with more bytes, from the same start), or
 * TD_EPROTO with rx->close_code (1002 protocol, 1007 bad UTF-8, 1009 too big) and rx->error set: the
 * caller sends that close frame and stops reading. A consumed frame may or may not complete a message:
 * msg->kind is TD_WS_NONE for a non-final fragment. An unfragmented message is delivered zero-copy (payload
 * unmasked in place in the caller's buffer, which is why the buffer is not const); a fragmented one is
 * assembled in rx's own buffer, capped at max_message. Control frames (ping/pong/close) may arrive between
 * fragments and are delivered at once. Text is validated incrementally, so bad UTF-8 fails at the fragment
 * that carries it.
 *
 * Outbound: td_ws_frame_header() writes the 2/4/10-byte unmasked header, so a payload is framed once and the
 * same bytes (td_ws_frame_nbuf()) go to every subscriber.
 *
 * Threading: an rx belongs to one connection (one thread); everything else is pure.
 */
#ifndef TD_NET_WS_H
#define TD_NET_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/buf.h"
#include "net/http.h"

enum {
    TD_WS_OP_CONT = 0x0,
    TD_WS_OP_TEXT = 0x1,
    TD_WS_OP_BINARY = 0x2,
    TD_WS_OP_CLOSE = 0x8,
    TD_WS_OP_PING = 0x9,
    TD_WS_OP_PONG = 0xA,
};

enum {
    TD_WS_CLOSE_NORMAL = 1000,
    TD_WS_CLOSE_GOING_AWAY = 1001,
    TD_WS_CLOSE_PROTOCOL = 1002,
    TD_WS_CLOSE_NO_STATUS = 1005, /* never sent: "the close frame had no code" */
    TD_WS_CLOSE_ABNORMAL = 1006,  /* never sent: "the TCP connection ended without a close frame" */
    TD_WS_CLOSE_BAD_DATA = 1007,
    TD_WS_CLOSE_POLICY = 1008,
    TD_WS_CLOSE_TOO_BIG = 1009,
    TD_WS_CLOSE_INTERNAL = 1011,
};

#define TD_WS_MAX_HEADER 14       /* 2 + 8 extended length + 4 mask (inbound); outbound is at most 10 */
#define TD_WS_MAX_CONTROL 125

/* ---- handshake ---- */

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)), 28 chars + NUL. The key must be
 * the base64 of 16 bytes (24 chars); else TD_EPROTO. */
int td_ws_accept_key(td_slice_t key, char out[29]);

/* Checks an upgrade request: GET, HTTP/1.1, Upgrade: websocket, Connection: upgrade, Version 13, a valid
 * key. 0 and the accept value in accept_out, or TD_EPROTO with *status (400, or 426 for a wrong version: the
 * answer must then carry "Sec-WebSocket-Version: 13") and *why. */
int td_ws_check_upgrade(const td_http_req_t *req, char accept_out[29], int *status, const char **why);

/* Is this request asking for a WebSocket upgrade at all (so it should not be routed as plain HTTP)? */
bool td_ws_is_upgrade(const td_http_req_t *req);

/* Does Sec-WebSocket-Protocol offer this subprotocol? (comma-separated, case-sensitive per RFC 6455) */
bool td_ws_offers_protocol(const td_http_req_t *req, const char *proto);

/* The 101 response; subprotocol NULL for none. Returns its length or TD_ENOBUFS. */
int td_ws_handshake_response(char *dst, size_t cap, const char accept[29], const char *subprotocol);

/* ---- UTF-8 ---- */

/* Incremental validator: feed any split of a text; valid iff every td_utf8_feed() returned true and
 * td_utf8_done() is true at the end (no code point cut off). Rejects overlongs, surrogates, > U+10FFFF. */
typedef struct td_utf8 {
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* allowed range of the next continuation byte */
} td_utf8_t;

static inline void td_utf8_init(td_utf8_t *u) { u->need = 0; u->lo = 0x80; u->hi = 0xBF; }
bool td_utf8_feed(td_utf8_t *u, const uint8_t *s, size_t n);
static inline bool td_utf8_done(const td_utf8_t *u) { return u->need == 0; }
bool td_utf8_valid(const void *s, size_t n);

/* ---- inbound frames ---- */

typedef enum { TD_WS_NONE = 0, TD_WS_TEXT, TD_WS_BINARY, TD_WS_PING, TD_WS_PONG, TD_WS_CLOSE } td_ws_kind_t;

typedef struct td_ws_msg {
    td_ws_kind_t kind;
    const char *data; /* valid until the next feed or the caller's buffer changes */
    size_t len;
    uint16_t close_code;     /* TD_WS_CLOSE: the peer's code, or 1005 when it sent none */
    const char *close_reason; /* TD_WS_CLOSE: points into data, close_reason_len bytes, valid UTF-8 */
    size_t close_reason_len;
} td_ws_msg_t;

typedef struct td_ws_rx {
    size_t max_message;  /* data message cap (assembled fragments too) -> 1009 */
    bool require_mask;   /* true for a server (clients must mask) */
    bool in_message;     /* a fragmented message is open */
    uint8_t msg_opcode;  /* its TD_WS_OP_TEXT / TD_WS_OP_BINARY */
    td_utf8_t utf8;
    char *assembly;      /* fragment buffer, grows up to max_message */
    size_t assembly_len, assembly_cap;
    uint16_t close_code; /* on TD_EPROTO */
    const char *error;   /* on TD_EPROTO */
} td_ws_rx_t;

void td_ws_rx_init(td_ws_rx_t *rx, size_t max_message, bool require_mask);
void td_ws_rx_free(td_ws_rx_t *rx);
int td_ws_rx_feed(td_ws_rx_t *rx, char *buf, size_t len, td_ws_msg_t *msg);

/* ---- outbound frames ---- */

/* Writes an unmasked frame header to out (room for 10 bytes); returns its length. */
size_t td_ws_frame_header(uint8_t out[10], int opcode, bool fin, uint64_t payload_len);

/* A buffer holding one complete unmasked frame (header + payload), refs = 1, ready to share. */
td_nbuf_t *td_ws_frame_nbuf(int opcode, const void *payload, size_t len);

/* Close frame payload: 2-byte code + reason (cut to fit 125 bytes at a UTF-8 boundary). Returns length. */
size_t td_ws_close_payload(uint8_t out[TD_WS_MAX_CONTROL], uint16_t code, const char *reason);

/* Masks/unmasks in place (the XOR is its own inverse); `offset` = position of data[0] in the payload. */
void td_ws_mask(char *data, size_t len, const uint8_t key[4], size_t offset);

#endif
