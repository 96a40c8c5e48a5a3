/* test_ws.c: RFC 6455 pieces: the accept key, upgrade checks, the client-frame parser (masked, fragmented,
 * control, invalid, random splits of a frame stream) and UTF-8 validation against a naive reference. */
#include "testutil.h"

#include <string.h>

#include "core/common.h"
#include "core/rng.h"
#include "net/http.h"
#include "net/ws.h"

static td_slice_t sl(const char *s) { return (td_slice_t){ s, strlen(s) }; }

static void test_accept_key(void **state)
{
    (void)state;
    char out[29];
    assert_int_equal(td_ws_accept_key(sl("dGhlIHNhbXBsZSBub25jZQ=="), out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 section 1.3 */
    assert_int_equal(td_ws_accept_key(sl("dGhlIHNhbXBsZSBub25jZQ="), out), TD_EPROTO);
    assert_int_equal(td_ws_accept_key(sl("dGhlIHNhbXBsZSBub25jZQ!="), out), TD_EPROTO);
    assert_int_equal(td_ws_accept_key(sl("dGhlIHNhbXBsZSBub25jZ*=="), out), TD_EPROTO);
    assert_int_equal(td_ws_accept_key(sl(""), out), TD_EPROTO);
}

static int check(const char *raw, char accept[29], int *status)
{
    static td_http_req_t req;
    int rc = td_http_parse_request(raw, strlen(raw), 0, NULL, &req);
    assert_int_equal(rc, (int)strlen(raw));
    const char *why;
    return td_ws_check_upgrade(&req, accept, status, &why);
}

static void test_upgrade_checks(void **state)
{
    (void)state;
    char acc[29];
    int st;
    assert_int_equal(check("GET /v1/prices?api_key=k HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n"
                           "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, tickd.v1\r\n\r\n",
                           acc, &st),
                     0);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(check("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", acc, &st),
                     TD_EPROTO);
    assert_int_equal(st, 426);
    assert_int_equal(check("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n", acc, &st),
                     TD_EPROTO);
    assert_int_equal(st, 400);
    assert_int_equal(check("POST / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", acc, &st),
                     TD_EPROTO);
    assert_int_equal(check("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", acc, &st),
                     TD_EPROTO);

    td_http_req_t req;
    const char *raw = "GET / HTTP/1.1\r\nSec-WebSocket-Protocol: chat, tickd.v1\r\nUpgrade: websocket\r\n\r\n";
    assert_true(td_http_parse_request(raw, strlen(raw), 0, NULL, &req) > 0);
    assert_true(td_ws_offers_protocol(&req, "tickd.v1"));
    assert_true(td_ws_offers_protocol(&req, "chat"));
    assert_false(td_ws_offers_protocol(&req, "tickd"));
    assert_true(td_ws_is_upgrade(&req));
    char buf[256];
    int n = td_ws_handshake_response(buf, sizeof buf, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "tickd.v1");
    assert_true(n > 0);
    assert_string_equal(buf, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: tickd.v1\r\n\r\n");
}

/* ---- UTF-8 ---- */

static bool ref_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (i + len > n) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
        i += len;
    }
    return true;
}

static void test_utf8_cases(void **state)
{
    (void)state;
    static const char *valid[] = { "", "hello", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e", "\xf4\x8f\xbf\xbf",
                                   "\xed\x9f\xbf", "\xee\x80\x80", "\xc2\x80", "\xef\xbf\xbf",
                                   "{\"action\":\"subscribe\",\"symbols\":[\"AAPL\"]} \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5" };
    static const char *invalid[] = { "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80",
                                     "\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
                                     "\xf5\x80\x80\x80", "\xff", "\xfe", "\x80", "\xbf", "\xc3", "\xe2\x82", "\xc3\x28",
                                     "abc\xf0\x9d\x84", ("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited") };
    for (size_t i = 0; i < TD_ARRAY_LEN(valid); i++) {
        if (!td_utf8_valid(valid[i], strlen(valid[i]))) fail_msg("valid case %zu rejected", i);
        if (!ref_utf8((const uint8_t *)valid[i], strlen(valid[i]))) fail_msg("reference rejects valid %zu", i);
    }
    for (size_t i = 0; i < TD_ARRAY_LEN(invalid); i++) {
        if (td_utf8_valid(invalid[i], strlen(invalid[i]))) fail_msg("invalid case %zu accepted", i);
        if (ref_utf8((const uint8_t *)invalid[i], strlen(invalid[i]))) fail_msg("reference accepts invalid %zu", i);
    }
}

static void test_utf8_random_vs_reference(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    static const uint8_t interesting[] = { 0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2,
                                           0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff };
    uint8_t s[64];
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = td_rng_below(&rng, 24);
        for (size_t i = 0; i < n; i++)
            s[i] = td_rng_below(&rng, 3) ? interesting[td_rng_below(&rng, sizeof interesting)] : (uint8_t)td_rng_next(&rng);
        bool want = ref_utf8(s, n);
        TD_CHECK(td_utf8_valid(s, n) == want, "iter %d len %zu: want %d", iter, n, want);
        /* any split must agree */
        size_t cut = n ? td_rng_below(&rng, n + 1) : 0;
        td_utf8_t u;
        td_utf8_init(&u);
        bool got = td_utf8_feed(&u, s, cut) && td_utf8_feed(&u, s + cut, n - cut) && td_utf8_done(&u);
        TD_CHECK(got == want, "iter %d len %zu cut %zu: split says %d", iter, n, cut, got);
    }
}

/* ---- frames ---- */

/* Builds a client frame; returns its length. rsv: bits 0x70. */
static size_t mkframe(uint8_t *out, bool fin, int rsv, int op, const void *payload, size_t len, bool masked,
                      uint32_t keyseed)
{
    size_t h = 0;
    out[h++] = (uint8_t)((fin ? 0x80 : 0) | rsv | op);
    if (len < 126) out[h++] = (uint8_t)((masked ? 0x80 : 0) | len);
    else if (len <= 0xFFFF) {
        out[h++] = (uint8_t)((masked ? 0x80 : 0) | 126);
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = (uint8_t)((masked ? 0x80 : 0) | 127);
        for (int i = 0; i < 8; i++) out[h++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    uint8_t key[4] = { (uint8_t)keyseed, (uint8_t)(keyseed >> 8), (uint8_t)(keyseed >> 16), (uint8_t)(keyseed >> 24) };
    if (masked) {
        memcpy(out + h, key, 4);
        h += 4;
    }
    if (len) memcpy(out + h, payload, len);
    if (masked) td_ws_mask((char *)out + h, len, key, 0);
    return h + len;
}

static td_ws_rx_t rx;

static int feed(uint8_t *buf, size_t len, td_ws_msg_t *m) { return td_ws_rx_feed(&rx, (char *)buf, len, m); }

static void want_fail(uint8_t *buf, size_t len, uint16_t code)
{
    td_ws_msg_t m;
    int rc = feed(buf, len, &m);
    if (rc != TD_EPROTO || rx.close_code != code)
        fail_msg("feed = %d close %u, want TD_EPROTO close %u", rc, rx.close_code, code);
}

static void test_rfc_examples(void **state)
{
    (void)state;
    td_ws_rx_init(&rx, 1 << 20, true);
    td_ws_msg_t m;
    /* RFC 6455 5.7: a single-frame masked text message "Hello" */
    uint8_t hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    for (size_t i = 0; i < sizeof hello; i++) assert_int_equal(feed(hello, i, &m), TD_EAGAIN);
    assert_int_equal(feed(hello, sizeof hello, &m), 11);
    assert_int_equal(m.kind, TD_WS_TEXT);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "Hello", 5);
    /* unmasked: fine for a client parser, a protocol error from a client */
    uint8_t plain[] = { 0x81, 0x05, 'H', 'e', 'l', 'l', 'o' };
    want_fail(plain, sizeof plain, 1002);
    td_ws_rx_free(&rx);
    td_ws_rx_init(&rx, 1 << 20, false);
    assert_int_equal(feed(plain, sizeof plain, &m), 7);
    assert_int_equal(m.kind, TD_WS_TEXT);
    td_ws_rx_free(&rx);
}

static void test_fragments_and_control(void **state)
{
    (void)state;
    td_ws_rx_init(&rx, 1 << 20, true);
    td_ws_msg_t m;
    uint8_t b[256];
    size_t n = mkframe(b, false, 0, TD_WS_OP_TEXT, "Hel", 3, true, 0x11223344);
    assert_int_equal(feed(b, n, &m), (int)n);
    assert_int_equal(m.kind, TD_WS_NONE);
    n = mkframe(b, true, 0, TD_WS_OP_PING, "p1", 2, true, 7);
    assert_int_equal(feed(b, n, &m), (int)n);
    assert_int_equal(m.kind, TD_WS_PING);
    assert_memory_equal(m.data, "p1", 2);
    n = mkframe(b, false, 0, TD_WS_OP_CONT, "", 0, true, 9);
    assert_int_equal(feed(b, n, &m), (int)n);
    assert_int_equal(m.kind, TD_WS_NONE);
    n = mkframe(b, true, 0, TD_WS_OP_PONG, "", 0, true, 9);
    assert_int_equal(feed(b, n, &m), (int)n);
    assert_int_equal(m.kind, TD_WS_PONG);
    n = mkframe(b, true, 0, TD_WS_OP_CONT, "lo \xc3\xa9", 5, true, 0xdeadbeef);
    assert_int_equal(feed(b, n, &m), (int)n);
    assert_int_equal(m.kind, TD_WS_TEXT);
    assert_int_equal(m.len, 8);
    assert_memory_equal(m.data, "Hello \xc3\xa9", 8);

    /* a UTF-8 sequence split across fragments is fine */
    n = mkframe(b, false, 0, TD_WS_OP_TEXT, "\xe2\x82", 2, true, 1);
    assert_int_equal(feed(b, n, &m), (int)n);
    n = mkframe(b, true, 0, TD_WS_OP_CONT, "\xac", 1, true, 2);
    assert_int_equal(feed(b, n, &m), (int)n);
    assert_int_equal(m.kind, TD_WS_TEXT);
    assert_memory_equal(m.data, "\xe2\x82\xac", 3);

    /* binary in three fragments, 126- and 127-style lengths */
    static uint8_t big[70000], frame[70100];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 31);
    n = mkframe(frame, false, 0, TD_WS_OP_BINARY, big, 200, true, 5);
    assert_int_equal(feed(frame, n, &m), (int)n);
    n = mkframe(frame, false, 0, TD_WS_OP_CONT, big + 200, 69000, true, 6);
    assert_int_equal(n, 69000 + 14);
    assert_int_equal(feed(frame, n, &m), (int)n);
    n = mkframe(frame, true, 0, TD_WS_OP_CONT, big + 69200, 800, true, 7);
    assert_int_equal(feed(frame, n, &m), (int)n);
    assert_int_equal(m.kind, TD_WS_BINARY);
    assert_int_equal(m.len, 70000);
    assert_memory_equal(m.data, big, 70000);
    td_ws_rx_free(&rx);
}

static void test_close_frames(void **state)
{
    (void)state;
    td_ws_rx_init(&rx, 1024, true);
    td_ws_msg_t m;
    uint8_t b[256], p[128];
    size_t n = mkframe(b, true, 0, TD_WS_OP_CLOSE, "", 0, true, 3);
    assert_int_equal(feed(b, n, &m), (int)n);
    assert_int_equal(m.kind, TD_WS_CLOSE);
    assert_int_equal(m.close_code, 1005);
    size_t pn = td_ws_close_payload(p, 1000, "bye");
    n = mkframe(b, true, 0, TD_WS_OP_CLOSE, p, pn, true, 3);
    assert_int_equal(feed(b, n, &m), (int)n);
    assert_int_equal(m.close_code, 1000);
    assert_int_equal(m.close_reason_len, 3);
    assert_memory_equal(m.close_reason, "bye", 3);
    pn = td_ws_close_payload(p, 3000, NULL);
    n = mkframe(b, true, 0, TD_WS_OP_CLOSE, p, pn, true, 3);
    assert_int_equal(feed(b, n, &m), (int)n);
    assert_int_equal(m.close_code, 3000);

    static const uint16_t bad_codes[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535 };
    for (size_t i = 0; i < TD_ARRAY_LEN(bad_codes); i++) {
        pn = td_ws_close_payload(p, bad_codes[i], "x");
        n = mkframe(b, true, 0, TD_WS_OP_CLOSE, p, pn, true, 3);
        want_fail(b, n, 1002);
    }
    n = mkframe(b, true, 0, TD_WS_OP_CLOSE, "\x03", 1, true, 3);
    want_fail(b, n, 1002);
    pn = td_ws_close_payload(p, 1000, "\xff");
    n = mkframe(b, true, 0, TD_WS_OP_CLOSE, p, pn, true, 3);
    want_fail(b, n, 1007);

    /* our close payload never cuts a code point and never exceeds 125 bytes */
    char reason[200];
    memset(reason, 'a', sizeof reason);
    memcpy(reason + 121, "\xe2\x82\xac", 3);
    reason[199] = 0;
    pn = td_ws_close_payload(p, 1008, reason);
    assert_true(pn <= 125);
    assert_int_equal(pn, 2 + 121);
    assert_true(td_utf8_valid(p + 2, pn - 2));
    td_ws_rx_free(&rx);
}

static void test_invalid_frames(void **state)
{
    (void)state;
    uint8_t b[512];
    char payload[300];
    memset(payload, 'x', sizeof payload);
    td_ws_msg_t m;
    size_t n;
#define FRESH() (td_ws_rx_free(&rx), td_ws_rx_init(&rx, 100, true))
    td_ws_rx_init(&rx, 100, true);
    n = mkframe(b, true, 0x40, TD_WS_OP_TEXT, "a", 1, true, 1); want_fail(b, n, 1002); FRESH();      /* RSV1 */
    n = mkframe(b, true, 0x10, TD_WS_OP_TEXT, "a", 1, true, 1); want_fail(b, n, 1002); FRESH();      /* RSV3 */
    n = mkframe(b, true, 0, 3, "a", 1, true, 1); want_fail(b, n, 1002); FRESH();                      /* opcode 3 */
    n = mkframe(b, true, 0, 0xB, "a", 1, true, 1); want_fail(b, n, 1002); FRESH();                    /* opcode B */
    n = mkframe(b, false, 0, TD_WS_OP_PING, "a", 1, true, 1); want_fail(b, n, 1002); FRESH();         /* fragmented ping */
    n = mkframe(b, true, 0, TD_WS_OP_PING, payload, 126, true, 1); want_fail(b, 2, 1002); FRESH();    /* > 125, header only */
    n = mkframe(b, true, 0, TD_WS_OP_CONT, "a", 1, true, 1); want_fail(b, n, 1002); FRESH();          /* no message */
    n = mkframe(b, false, 0, TD_WS_OP_TEXT, "a", 1, true, 1);
    assert_int_equal(feed(b, n, &m), (int)n);
    n = mkframe(b, true, 0, TD_WS_OP_BINARY, "a", 1, true, 1); want_fail(b, n, 1002); FRESH();        /* new msg inside */
    n = mkframe(b, true, 0, TD_WS_OP_BINARY, payload, 101, true, 1); want_fail(b, 2, 1009); FRESH();  /* too big, early */
    n = mkframe(b, false, 0, TD_WS_OP_BINARY, payload, 60, true, 1);
    assert_int_equal(feed(b, n, &m), (int)n);
    n = mkframe(b, true, 0, TD_WS_OP_CONT, payload, 41, true, 1); want_fail(b, 2, 1009); FRESH();     /* assembled too big */
    n = mkframe(b, true, 0, TD_WS_OP_TEXT, "a\xff", 2, true, 1); want_fail(b, n, 1007); FRESH();
    n = mkframe(b, false, 0, TD_WS_OP_TEXT, "\xed\xa0", 2, true, 1); want_fail(b, n, 1007); FRESH();  /* early 1007 */
    n = mkframe(b, false, 0, TD_WS_OP_TEXT, "\xe2\x82", 2, true, 1);
    assert_int_equal(feed(b, n, &m), (int)n);
    n = mkframe(b, true, 0, TD_WS_OP_CONT, "", 0, true, 1); want_fail(b, n, 1007); FRESH();           /* ends mid-char */
    uint8_t huge[] = { 0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1 };
    want_fail(huge, sizeof huge, 1002);                                                                /* 64-bit MSB */
    td_ws_rx_free(&rx);
#undef FRESH
}

static void test_outbound(void **state)
{
    (void)state;
    uint8_t h[10];
    assert_int_equal(td_ws_frame_header(h, TD_WS_OP_TEXT, true, 0), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 0);
    assert_int_equal(td_ws_frame_header(h, TD_WS_OP_TEXT, true, 125), 2);
    assert_int_equal(h[1], 125);
    assert_int_equal(td_ws_frame_header(h, TD_WS_OP_BINARY, false, 126), 4);
    assert_int_equal(h[0], 0x02);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2] << 8 | h[3], 126);
    assert_int_equal(td_ws_frame_header(h, TD_WS_OP_TEXT, true, 65535), 4);
    assert_int_equal(td_ws_frame_header(h, TD_WS_OP_TEXT, true, 65536), 10);
    assert_int_equal(h[1], 127);
    assert_int_equal(h[7], 1);
    assert_int_equal(h[8], 0);

    /* a server frame parses back with a non-masking parser */
    td_nbuf_t *f = td_ws_frame_nbuf(TD_WS_OP_TEXT, "{\"type\":\"pong\"}", 15);
    assert_int_equal(f->len, 17);
    td_ws_rx_init(&rx, 1024, false);
    td_ws_msg_t m;
    assert_int_equal(td_ws_rx_feed(&rx, f->data, f->len, &m), 17);
    assert_int_equal(m.kind, TD_WS_TEXT);
    assert_memory_equal(m.data, "{\"type\":\"pong\"}", 15);
    td_ws_rx_free(&rx);
    td_nbuf_unref(f);
}

/* ---- random frame streams: one read vs. random split points ---- */

typedef struct rec {
    int rc;
    int kind;
    uint16_t code;
    size_t len;
    uint64_t hash;
} rec_t;

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
    return h;
}

static size_t run_stream(const uint8_t *stream, size_t n, const size_t *cuts, size_t ncuts, rec_t *out, size_t max)
{
    static char buf[1 << 17];
    size_t have = 0, fed = 0, got = 0;
    td_ws_rx_init(&rx, 4096, true);
    for (size_t k = 0; k <= ncuts; k++) {
        size_t upto = k < ncuts ? cuts[k] : n;
        memcpy(buf + have, stream + fed, upto - fed);
        have += upto - fed;
        fed = upto;
        while (got < max) {
            td_ws_msg_t m;
            int rc = td_ws_rx_feed(&rx, buf, have, &m);
            if (rc == TD_EAGAIN) break;
            out[got++] = (rec_t){ rc, rc < 0 ? -1 : (int)m.kind, rc < 0 ? rx.close_code : m.close_code, m.len,
                                  fnv(m.data, m.len) };
            if (rc < 0) goto done;
            memmove(buf, buf + rc, have - (size_t)rc);
            have -= (size_t)rc;
        }
    }
done:
    td_ws_rx_free(&rx);
    return got;
}

static void test_random_splits(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    static uint8_t stream[1 << 16];
    char payload[3000];
    for (int iter = 0; iter < 400; iter++) {
        size_t n = 0;
        bool open = false;
        int nframes = 1 + (int)td_rng_below(&rng, 30);
        for (int f = 0; f < nframes; f++) {
            size_t len = td_rng_below(&rng, 4) == 0 ? td_rng_below(&rng, 3000) : td_rng_below(&rng, 40);
            for (size_t i = 0; i < len; i++) payload[i] = (char)('a' + td_rng_below(&rng, 26));
            if (td_rng_below(&rng, 50) == 0 && len) payload[td_rng_below(&rng, len)] = (char)0xff; /* bad UTF-8 */
            int kind = (int)td_rng_below(&rng, 6);
            uint32_t key = (uint32_t)td_rng_next(&rng);
            int op;
            bool fin = true;
            if (kind == 0) {
                op = TD_WS_OP_PING;
                if (len > 125) len = 125;
            } else if (open) {
                op = TD_WS_OP_CONT;
                fin = td_rng_below(&rng, 3) == 0;
            } else {
                op = td_rng_below(&rng, 2) ? TD_WS_OP_TEXT : TD_WS_OP_BINARY;
                fin = td_rng_below(&rng, 2);
            }
            if (!fin) open = true;
            else if (op == TD_WS_OP_CONT || op == TD_WS_OP_TEXT || op == TD_WS_OP_BINARY) open = false;
            if (td_rng_below(&rng, 100) == 0) op = 5; /* reserved opcode */
            n += mkframe(stream + n, fin, 0, op, payload, len, td_rng_below(&rng, 200) != 0, key);
        }
        rec_t one[64], split[64];
        size_t n1 = run_stream(stream, n, NULL, 0, one, 64);
        size_t cuts[64], ncuts = td_rng_below(&rng, 64);
        for (size_t i = 0; i < ncuts; i++) cuts[i] = td_rng_below(&rng, n + 1);
        for (size_t i = 1; i < ncuts; i++)
            for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        size_t n2 = run_stream(stream, n, cuts, ncuts, split, 64);
        TD_CHECK(n1 == n2, "iter %d: %zu results one-shot vs %zu split", iter, n1, n2);
        for (size_t i = 0; i < n1; i++)
            TD_CHECK(one[i].rc == split[i].rc && one[i].kind == split[i].kind && one[i].code == split[i].code &&
                         one[i].len == split[i].len && one[i].hash == split[i].hash,
                     "iter %d result %zu: one-shot rc %d kind %d code %u len %zu vs split rc %d kind %d code %u len %zu",
                     iter, i, one[i].rc, one[i].kind, one[i].code, one[i].len, split[i].rc, split[i].kind,
                     split[i].code, split[i].len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_upgrade_checks),
        cmocka_unit_test(test_utf8_cases),
        cmocka_unit_test(test_utf8_random_vs_reference),
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_fragments_and_control),
        cmocka_unit_test(test_close_frames),
        cmocka_unit_test(test_invalid_frames),
        cmocka_unit_test(test_outbound),
        cmocka_unit_test(test_random_splits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
