/*
 * ws.c: RFC 6455 for the server side (see ws.h for the contract).
 *
 * The frame parser is stateless per frame, like the HTTP parser: it re-reads the frame header from the
 * start of what it is given until the whole frame is there, and only then touches rx (fragment state) and
 * the buffer (unmasking in place). Errors that the header alone proves (reserved bits, unknown opcode,
 * fragmented or oversized control frame, unmasked client frame, 64-bit length with the top bit set,
 * continuation without a start, a new message inside a fragmented one, a message over max_message) are
 * reported as soon as the header bytes are in, so a client cannot make us buffer a frame we will refuse.
 * Because every check depends only on bytes of the current frame and on rx (which changes only when a frame
 * is consumed), any split of the input gives the same sequence of results as one read.
 *
 * SHA-1 and base64 for the handshake come from OpenSSL's libcrypto (DEPENDENCIES.md picks it for JWT
 * too); one call per connection is not worth owning a hash implementation for.
 */
#include "net/ws.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/common.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ---- handshake ---- */

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int td_ws_accept_key(td_slice_t key, char out[29])
{
    /* 16 random bytes in base64: 22 alphabet chars and "==" (RFC 6455 4.2.1 item 5). */
    if (key.n != 24 || key.p[22] != '=' || key.p[23] != '=') return TD_EPROTO;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(key.p[i])) return TD_EPROTO;
    char cat[24 + sizeof ws_guid];
    memcpy(cat, key.p, 24);
    memcpy(cat + 24, ws_guid, sizeof ws_guid - 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!EVP_Digest(cat, 24 + sizeof ws_guid - 1, md, &md_len, EVP_sha1(), NULL) || md_len != 20) return TD_EIO;
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 chars + NUL */
    return 0;
}

bool td_ws_is_upgrade(const td_http_req_t *req)
{
    return td_http_header_has_token(req, "upgrade", "websocket");
}

int td_ws_check_upgrade(const td_http_req_t *req, char accept_out[29], int *status, const char **why)
{
    *status = 400;
    if (!td_slice_eq(req->method, "GET")) { *why = "a WebSocket upgrade must be a GET"; return TD_EPROTO; }
    if (req->minor_version < 1) { *why = "a WebSocket upgrade needs HTTP/1.1"; return TD_EPROTO; }
    if (!td_http_header_has_token(req, "upgrade", "websocket")) { *why = "missing Upgrade: websocket"; return TD_EPROTO; }
    if (!td_http_header_has_token(req, "connection", "upgrade")) { *why = "missing Connection: Upgrade"; return TD_EPROTO; }
    const td_slice_t *ver = td_http_header(req, "sec-websocket-version");
    if (!ver || !td_slice_eq(*ver, "13")) {
        *status = 426;
        *why = "only Sec-WebSocket-Version 13 is supported";
        return TD_EPROTO;
    }
    const td_slice_t *key = td_http_header(req, "sec-websocket-key");
    if (!key || td_ws_accept_key(*key, accept_out) != 0) { *why = "missing or malformed Sec-WebSocket-Key"; return TD_EPROTO; }
    *status = 101;
    *why = NULL;
    return 0;
}

bool td_ws_offers_protocol(const td_http_req_t *req, const char *proto)
{
    size_t pn = strlen(proto);
    for (size_t h = 0; h < req->nheaders; h++) {
        if (!td_slice_ieq(req->headers[h].name, "sec-websocket-protocol")) continue;
        td_slice_t v = req->headers[h].value;
        size_t i = 0;
        while (i < v.n) {
            while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ',')) i++;
            size_t s = i;
            while (i < v.n && v.p[i] != ',' && v.p[i] != ' ' && v.p[i] != '\t') i++;
            if (i - s == pn && memcmp(v.p + s, proto, pn) == 0) return true;
        }
    }
    return false;
}

int td_ws_handshake_response(char *dst, size_t cap, const char accept[29], const char *subprotocol)
{
    int n = snprintf(dst, cap,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                     accept, subprotocol ? "Sec-WebSocket-Protocol: " : "", subprotocol ? subprotocol : "",
                     subprotocol ? "\r\n" : "");
    if (n < 0 || (size_t)n >= cap) return TD_ENOBUFS;
    return n;
}

/* ---- UTF-8 ---- */

bool td_utf8_feed(td_utf8_t *u, const uint8_t *s, size_t n)
{
    uint8_t need = u->need, lo = u->lo, hi = u->hi;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (need) {
            if (c < lo || c > hi) return false;
            need--;
            lo = 0x80;
            hi = 0xBF;
            i++;
            continue;
        }
        if (c < 0x80) {
            i++;
            /* ASCII dominates JSON: skip 8 bytes at a time while no byte has its top bit set. */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ULL) break;
                i += 8;
            }
            continue;
        }
        if (c < 0xC2) return false; /* stray continuation, or an overlong 2-byte form */
        if (c < 0xE0) {
            need = 1;
        } else if (c < 0xF0) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;      /* overlong 3-byte */
            else if (c == 0xED) hi = 0x9F; /* UTF-16 surrogates */
        } else if (c < 0xF5) {
            need = 3;
            if (c == 0xF0) lo = 0x90;      /* overlong 4-byte */
            else if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
        } else {
            return false;
        }
        i++;
    }
    u->need = need;
    u->lo = lo;
    u->hi = hi;
    return true;
}

bool td_utf8_valid(const void *s, size_t n)
{
    td_utf8_t u;
    td_utf8_init(&u);
    return td_utf8_feed(&u, s, n) && td_utf8_done(&u);
}

/* ---- inbound frames ---- */

void td_ws_rx_init(td_ws_rx_t *rx, size_t max_message, bool require_mask)
{
    memset(rx, 0, sizeof *rx);
    rx->max_message = max_message;
    rx->require_mask = require_mask;
    td_utf8_init(&rx->utf8);
}

void td_ws_rx_free(td_ws_rx_t *rx)
{
    td_free(rx->assembly);
    rx->assembly = NULL;
    rx->assembly_cap = rx->assembly_len = 0;
}

void td_ws_mask(char *data, size_t len, const uint8_t key[4], size_t offset)
{
    uint8_t k[4] = { key[offset & 3], key[(offset + 1) & 3], key[(offset + 2) & 3], key[(offset + 3) & 3] };
    uint32_t k32;
    memcpy(&k32, k, 4);
    uint64_t k64 = ((uint64_t)k32 << 32) | k32;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, data + i, 8);
        w ^= k64;
        memcpy(data + i, &w, 8);
    }
    for (; i < len; i++) data[i] ^= (char)k[i & 3];
}

static int rx_fail(td_ws_rx_t *rx, uint16_t code, const char *why)
{
    rx->close_code = code;
    rx->error = why;
    return TD_EPROTO;
}

static bool close_code_ok(uint16_t c)
{
    /* Codes a peer may send (RFC 6455 7.4.1 and the IANA registry); 1004-1006 and 1015 are reserved. */
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

static void assembly_append(td_ws_rx_t *rx, const char *p, size_t n)
{
    size_t want = rx->assembly_len + n; /* <= max_message, checked from the header */
    if (want > rx->assembly_cap) {
        size_t cap = rx->assembly_cap ? rx->assembly_cap : 1024;
        while (cap < want) cap *= 2;
        if (cap > rx->max_message) cap = rx->max_message;
        rx->assembly = td_realloc(rx->assembly, cap);
        rx->assembly_cap = cap;
    }
    if (n) memcpy(rx->assembly + rx->assembly_len, p, n);
    rx->assembly_len += n;
}

int td_ws_rx_feed(td_ws_rx_t *rx, char *buf, size_t len, td_ws_msg_t *msg)
{
    memset(msg, 0, sizeof *msg);
    if (len < 2) return TD_EAGAIN;
    const uint8_t *u = (const uint8_t *)buf;
    bool fin = u[0] & 0x80;
    int op = u[0] & 0x0F;
    bool masked = u[1] & 0x80;
    uint64_t plen = u[1] & 0x7F;

    if (u[0] & 0x70) return rx_fail(rx, TD_WS_CLOSE_PROTOCOL, "reserved bits set (no extension was negotiated)");
    bool control = op & 0x8;
    if (op != TD_WS_OP_CONT && op != TD_WS_OP_TEXT && op != TD_WS_OP_BINARY && op != TD_WS_OP_CLOSE &&
        op != TD_WS_OP_PING && op != TD_WS_OP_PONG)
        return rx_fail(rx, TD_WS_CLOSE_PROTOCOL, "reserved opcode");
    if (control && !fin) return rx_fail(rx, TD_WS_CLOSE_PROTOCOL, "fragmented control frame");
    if (control && plen > TD_WS_MAX_CONTROL) return rx_fail(rx, TD_WS_CLOSE_PROTOCOL, "control frame over 125 bytes");
    if (rx->require_mask && !masked) return rx_fail(rx, TD_WS_CLOSE_PROTOCOL, "client frames must be masked");
    if (op == TD_WS_OP_CONT && !rx->in_message) return rx_fail(rx, TD_WS_CLOSE_PROTOCOL, "continuation without a message");
    if ((op == TD_WS_OP_TEXT || op == TD_WS_OP_BINARY) && rx->in_message)
        return rx_fail(rx, TD_WS_CLOSE_PROTOCOL, "new message inside a fragmented one");

    size_t hdr = 2;
    if (plen == 126) {
        if (len < 4) return TD_EAGAIN;
        plen = ((uint64_t)u[2] << 8) | u[3];
        hdr = 4;
    } else if (plen == 127) {
        if (len < 10) return TD_EAGAIN;
        plen = 0;
        for (int i = 0; i < 8; i++) plen = (plen << 8) | u[2 + i];
        if (plen >> 63) return rx_fail(rx, TD_WS_CLOSE_PROTOCOL, "payload length with the top bit set");
        hdr = 10;
    }
    if (!control) {
        uint64_t total = op == TD_WS_OP_CONT ? rx->assembly_len + plen : plen;
        if (total > rx->max_message) return rx_fail(rx, TD_WS_CLOSE_TOO_BIG, "message too big");
    }
    uint8_t key[4] = { 0, 0, 0, 0 };
    if (masked) {
        if (len < hdr + 4) return TD_EAGAIN;
        memcpy(key, u + hdr, 4);
        hdr += 4;
    }
    if (len - hdr < plen) return TD_EAGAIN;

    /* The whole frame is here: from now on we may change rx and the buffer. */
    char *payload = buf + hdr;
    size_t n = (size_t)plen;
    if (masked) td_ws_mask(payload, n, key, 0);
    size_t consumed = hdr + n;

    switch (op) {
    case TD_WS_OP_PING:
    case TD_WS_OP_PONG:
        msg->kind = op == TD_WS_OP_PING ? TD_WS_PING : TD_WS_PONG;
        msg->data = payload;
        msg->len = n;
        return (int)consumed;
    case TD_WS_OP_CLOSE:
        if (n == 1) return rx_fail(rx, TD_WS_CLOSE_PROTOCOL, "close frame with a 1-byte payload");
        msg->kind = TD_WS_CLOSE;
        msg->data = payload;
        msg->len = n;
        msg->close_code = TD_WS_CLOSE_NO_STATUS;
        if (n >= 2) {
            msg->close_code = (uint16_t)(((uint8_t)payload[0] << 8) | (uint8_t)payload[1]);
            if (!close_code_ok(msg->close_code)) return rx_fail(rx, TD_WS_CLOSE_PROTOCOL, "invalid close code");
            msg->close_reason = payload + 2;
            msg->close_reason_len = n - 2;
            if (!td_utf8_valid(payload + 2, n - 2))
                return rx_fail(rx, TD_WS_CLOSE_BAD_DATA, "close reason is not valid UTF-8");
        }
        return (int)consumed;
    case TD_WS_OP_TEXT:
    case TD_WS_OP_BINARY:
        if (fin) {
            if (op == TD_WS_OP_TEXT && !td_utf8_valid(payload, n))
                return rx_fail(rx, TD_WS_CLOSE_BAD_DATA, "text message is not valid UTF-8");
            msg->kind = op == TD_WS_OP_TEXT ? TD_WS_TEXT : TD_WS_BINARY;
            msg->data = payload;
            msg->len = n;
            return (int)consumed;
        }
        rx->in_message = true;
        rx->msg_opcode = (uint8_t)op;
        rx->assembly_len = 0;
        td_utf8_init(&rx->utf8);
        break;
    default: /* TD_WS_OP_CONT */
        break;
    }
    /* A fragment: check the text so far, keep the bytes, deliver on the final one. */
    if (rx->msg_opcode == TD_WS_OP_TEXT && !td_utf8_feed(&rx->utf8, (const uint8_t *)payload, n))
        return rx_fail(rx, TD_WS_CLOSE_BAD_DATA, "text message is not valid UTF-8");
    assembly_append(rx, payload, n);
    if (!fin) return (int)consumed;
    if (rx->msg_opcode == TD_WS_OP_TEXT && !td_utf8_done(&rx->utf8))
        return rx_fail(rx, TD_WS_CLOSE_BAD_DATA, "text message ends inside a UTF-8 sequence");
    rx->in_message = false;
    msg->kind = rx->msg_opcode == TD_WS_OP_TEXT ? TD_WS_TEXT : TD_WS_BINARY;
    msg->data = rx->assembly;
    msg->len = rx->assembly_len;
    return (int)consumed;
}

/* ---- outbound frames ---- */

size_t td_ws_frame_header(uint8_t out[10], int opcode, bool fin, uint64_t payload_len)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    return 10;
}

td_nbuf_t *td_ws_frame_nbuf(int opcode, const void *payload, size_t len)
{
    td_nbuf_t *b = td_nbuf_new(len + 10);
    size_t h = td_ws_frame_header((uint8_t *)b->data, opcode, true, len);
    if (len) memcpy(b->data + h, payload, len);
    b->len = (uint32_t)(h + len);
    return b;
}

size_t td_ws_close_payload(uint8_t out[TD_WS_MAX_CONTROL], uint16_t code, const char *reason)
{
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    size_t n = reason ? strlen(reason) : 0;
    if (n > TD_WS_MAX_CONTROL - 2) {
        n = TD_WS_MAX_CONTROL - 2;
        while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80) n--; /* do not cut a code point */
    }
    if (n) memcpy(out + 2, reason, n);
    return 2 + n;
}
