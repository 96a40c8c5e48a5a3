/* test_live_wsclient.c: the WebSocket/HTTP client pieces: URL parsing, response heads, the chunked decoder
 * (against a naive reference on random chunkings), client frame headers, and the client's frame handling
 * against a scripted raw-socket server: frames arriving in the same read as the 101, pings answered with
 * the same payload (also between fragments), fragmented and 16-bit-length messages, masked outbound
 * frames, a server close answered, an oversized frame refused, a wrong Sec-WebSocket-Accept refused, and
 * td_http_get with Content-Length, chunked and read-to-close bodies. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include "core/common.h"
#include "core/rng.h"
#include "feed/wsclient.h"
#include "net/ws.h"

static void test_url_parse(void **state)
{
    (void)state;
    td_url_t u;
    assert_int_equal(td_url_parse("wss://stream.binance.com:9443/stream", &u), 0);
    assert_true(u.tls && u.websocket);
    assert_string_equal(u.host, "stream.binance.com");
    assert_int_equal(u.port, 9443);
    assert_string_equal(u.path, "/stream");
    assert_int_equal(td_url_parse("ws://127.0.0.1:80", &u), 0);
    assert_string_equal(u.path, "/");
    assert_int_equal(td_url_parse("https://api.binance.com/api/v3/depth?symbol=X&limit=5", &u), 0);
    assert_int_equal(u.port, 443);
    assert_false(u.websocket);
    assert_string_equal(u.path, "/api/v3/depth?symbol=X&limit=5");
    assert_int_equal(td_url_parse("http://[::1]:8080/x", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8080);
    assert_int_equal(td_url_parse("http://h?x=1", &u), 0);
    assert_string_equal(u.path, "/?x=1");
    assert_int_equal(td_url_parse("ftp://x", &u), TD_EINVAL);
    assert_int_equal(td_url_parse("ws://", &u), TD_EINVAL);
    assert_int_equal(td_url_parse("ws://h:0/", &u), TD_EINVAL);
    assert_int_equal(td_url_parse("ws://h:70000/", &u), TD_EINVAL);
    assert_int_equal(td_url_parse("ws://h/a b", &u), TD_EINVAL);
    assert_int_equal(td_url_parse("ws://h/a\r\nX: y", &u), TD_EINVAL);
    assert_int_equal(td_url_parse("ws://[::1/", &u), TD_EINVAL);
}

static void test_response_head(void **state)
{
    (void)state;
    td_http_resp_t r;
    const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";
    size_t n = strlen(ok);
    int h = td_http_parse_response(ok, n, &r);
    assert_int_equal(h, (int)n - 4);
    assert_int_equal(r.status, 101);
    assert_true(r.upgrade_websocket && r.connection_upgrade);
    assert_string_equal(r.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    for (size_t k = 0; k < (size_t)h; k++) assert_int_equal(td_http_parse_response(ok, k, &r), TD_EAGAIN);
    const char *cl = "HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\n";
    assert_true(td_http_parse_response(cl, strlen(cl), &r) > 0);
    assert_int_equal(r.content_length, 12);
    const char *ch = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n";
    assert_true(td_http_parse_response(ch, strlen(ch), &r) > 0);
    assert_true(r.chunked);
    assert_int_equal(r.content_length, -1);
    static const char *const bad[] = {
        "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 200 OK\nX: y\r\n\r\n", "junk\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(bad); i++)
        TD_CHECK(td_http_parse_response(bad[i], strlen(bad[i]), &r) == TD_EPROTO, "accepted: %s", bad[i]);
    /* a head that never ends is refused at the cap, not buffered forever */
    static char big[TD_HTTP_MAX_RESP_HEAD + 10];
    memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
    memset(big + 17, 'a', sizeof big - 17);
    assert_int_equal(td_http_parse_response(big, sizeof big, &r), TD_EPROTO);
}

static void test_dechunk_random(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    static char body[5000], wire[20000], copy[20000];
    for (int round = 0; round < 500; round++) {
        size_t blen = td_rng_below(&rng, sizeof body);
        for (size_t i = 0; i < blen; i++) body[i] = (char)('a' + td_rng_below(&rng, 26));
        size_t w = 0, off = 0;
        while (off < blen) {
            size_t c = 1 + td_rng_below(&rng, 700);
            if (c > blen - off) c = blen - off;
            w += (size_t)sprintf(wire + w, td_rng_below(&rng, 2) ? "%zx\r\n" : "%zX;ext=1\r\n", c);
            memcpy(wire + w, body + off, c);
            w += c;
            memcpy(wire + w, "\r\n", 2);
            w += 2;
            off += c;
        }
        w += (size_t)sprintf(wire + w, td_rng_below(&rng, 2) ? "0\r\n\r\n" : "0\r\nX-Trailer: 1\r\n\r\n");
        /* every prefix is "need more" */
        size_t cut = td_rng_below(&rng, w);
        memcpy(copy, wire, cut);
        size_t used = 0;
        TD_CHECK(td_http_dechunk(copy, cut, &used) == TD_EAGAIN, "prefix %zu of %zu not EAGAIN", cut, w);
        memcpy(copy, wire, w);
        int64_t d = td_http_dechunk(copy, w, &used);
        TD_CHECK(d == (int64_t)blen && used == w && memcmp(copy, body, blen) == 0, "round %d: %lld of %zu", round,
                 (long long)d, blen);
    }
    char b1[] = "zz\r\n";
    size_t used;
    assert_int_equal(td_http_dechunk(b1, 4, &used), TD_EPROTO);
    char b2[] = "3\r\nabcX\r\n0\r\n\r\n";
    assert_int_equal(td_http_dechunk(b2, strlen(b2), &used), TD_EPROTO);
    char b3[] = "1234567890abcdef0\r\n";
    assert_int_equal(td_http_dechunk(b3, strlen(b3), &used), TD_EPROTO);
}

static void test_client_header(void **state)
{
    (void)state;
    uint8_t h[14], key[4] = { 1, 2, 3, 4 };
    assert_int_equal(td_ws_client_header(h, TD_WS_OP_TEXT, 5, key), 6);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 0x85);
    assert_memory_equal(h + 2, key, 4);
    assert_int_equal(td_ws_client_header(h, TD_WS_OP_PONG, 300, key), 8);
    assert_int_equal(h[1], 0xFE);
    assert_int_equal(h[2] << 8 | h[3], 300);
    assert_int_equal(td_ws_client_header(h, TD_WS_OP_BINARY, 70000, key), 14);
    assert_int_equal(h[1], 0xFF);
    /* a server parser (which requires masking) reads our frames back */
    char frame[64];
    size_t hl = td_ws_client_header((uint8_t *)frame, TD_WS_OP_TEXT, 5, key);
    memcpy(frame + hl, "hello", 5);
    td_ws_mask(frame + hl, 5, key, 0);
    td_ws_rx_t rx;
    td_ws_rx_init(&rx, 1024, true);
    td_ws_msg_t m;
    assert_int_equal(td_ws_rx_feed(&rx, frame, hl + 5, &m), (int)(hl + 5));
    assert_int_equal(m.kind, TD_WS_TEXT);
    assert_memory_equal(m.data, "hello", 5);
    td_ws_rx_free(&rx);
}

/* ---- a scripted server ---- */

typedef struct script {
    int lfd;
    int mode;            /* 0 = the full conversation, 1 = wrong accept, 2 = oversized frame, 3 = HTTP bodies,
                            4 = a masked server frame */
    /* what the server saw from the client */
    char got[8][400];
    int kinds[8];
    int ngot;
    bool all_masked;
    char err[200];
} script_t;

static size_t frame(char *out, int op, bool fin, const void *p, size_t n)
{
    size_t h = td_ws_frame_header((uint8_t *)out, op, fin, n);
    memcpy(out + h, p, n);
    return h + n;
}

static int read_head(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap - 1) {
        ssize_t r = recv(fd, buf + n, 1, 0);
        if (r <= 0) return -1;
        n++;
        buf[n] = 0;
        if (n >= 4 && !memcmp(buf + n - 4, "\r\n\r\n", 4)) return (int)n;
    }
    return -1;
}

static void *server_main(void *arg)
{
    script_t *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    char head[4096];
    if (read_head(fd, head, sizeof head) < 0) { snprintf(s->err, sizeof s->err, "no request head"); goto out; }
    if (s->mode == 3) {
        const char *resp;
        if (strstr(head, "GET /cl ")) resp = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"a\":\"cl\"}\n";
        else if (strstr(head, "GET /chunked ")) resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n6\r\n:\"ch\"}\r\n0\r\n\r\n";
        else resp = "HTTP/1.0 404 Not Found\r\n\r\nnot here";
        send(fd, resp, strlen(resp), MSG_NOSIGNAL);
        goto out;
    }
    const char *k = strstr(head, "Sec-WebSocket-Key: ");
    if (!k) { snprintf(s->err, sizeof s->err, "no key"); goto out; }
    k += 19;
    td_slice_t ks = { k, strcspn(k, "\r") };
    char accept[29];
    td_ws_accept_key(ks, accept);
    if (s->mode == 1) accept[0] = accept[0] == 'A' ? 'B' : 'A';
    static char out[70000];
    size_t n = (size_t)sprintf(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    if (s->mode == 4) {
        static const char masked[] = "\x81\x85\x01\x02\x03\x04" "ignored"; /* mask bit set */
        memcpy(out + n, masked, 11);
        n += 11;
        send(fd, out, n, MSG_NOSIGNAL);
        goto drain;
    }
    if (s->mode == 2) {
        uint8_t h[10];
        size_t hl = td_ws_frame_header(h, TD_WS_OP_TEXT, true, 65000);
        memcpy(out + n, h, hl);
        n += hl;
        memset(out + n, 'x', 65000);
        n += 65000;
        send(fd, out, n, MSG_NOSIGNAL);
        goto drain;
    }
    n += frame(out + n, TD_WS_OP_TEXT, true, "hello", 5); /* in the same read as the 101 */
    n += frame(out + n, TD_WS_OP_PING, true, "p1", 2);
    n += frame(out + n, TD_WS_OP_TEXT, false, "frag", 4);
    n += frame(out + n, TD_WS_OP_PING, true, "p2", 2);   /* control frame between fragments */
    n += frame(out + n, TD_WS_OP_CONT, true, "ment", 4);
    n += frame(out + n, TD_WS_OP_BINARY, true, "\x00\x01", 2);
    char big[300];
    memset(big, 'y', sizeof big);
    n += frame(out + n, TD_WS_OP_TEXT, true, big, sizeof big);
    send(fd, out, n, MSG_NOSIGNAL);
drain:;
    /* read client frames: pong p1, pong p2, text "echo", then we close and expect the close echo */
    td_ws_rx_t rx;
    td_ws_rx_init(&rx, 1 << 16, true);
    static char in[70000];
    size_t len = 0;
    s->all_masked = true;
    bool sent_close = false;
    while (s->ngot < 8) {
        td_ws_msg_t m;
        int r = td_ws_rx_feed(&rx, in, len, &m);
        if (r > 0) {
            if (!(in[1] & 0x80)) s->all_masked = false;
            s->kinds[s->ngot] = m.kind;
            snprintf(s->got[s->ngot], sizeof s->got[0], "%.*s", (int)(m.len < 399 ? m.len : 399), m.data ? m.data : "");
            if (m.kind == TD_WS_CLOSE) snprintf(s->got[s->ngot], sizeof s->got[0], "close %u", m.close_code);
            s->ngot++;
            memmove(in, in + r, len - (size_t)r);
            len -= (size_t)r;
            if (m.kind == TD_WS_CLOSE) break;
            if (m.kind == TD_WS_TEXT && !sent_close) {
                uint8_t pl[TD_WS_MAX_CONTROL];
                size_t pn = td_ws_close_payload(pl, 4001, "bye");
                char c[200];
                size_t cn = frame(c, TD_WS_OP_CLOSE, true, pl, pn);
                send(fd, c, cn, MSG_NOSIGNAL);
                sent_close = true;
            }
            continue;
        }
        if (r == TD_EPROTO) { snprintf(s->err, sizeof s->err, "client frame: %s", rx.error); break; }
        ssize_t got = recv(fd, in + len, sizeof in - len, 0);
        if (got <= 0) break;
        len += (size_t)got;
    }
    td_ws_rx_free(&rx);
out:
    close(fd);
    return NULL;
}

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(fd, (struct sockaddr *)&a, sizeof a);
    listen(fd, 4);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_client_conversation(void **state)
{
    (void)state;
    script_t s;
    memset(&s, 0, sizeof s);
    int port;
    s.lfd = listen_any(&port);
    pthread_t th;
    pthread_create(&th, NULL, server_main, &s);
    td_wsc_config_t cfg = { .timeout_ms = 3000, .max_message = 4096 };
    td_wsc_t *c = td_wsc_create(&cfg);
    char url[64], err[256] = "";
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/stream", port);
    assert_int_equal(td_wsc_connect(c, url, err, sizeof err), 0);
    td_ws_msg_t m;
    assert_int_equal(td_wsc_recv(c, 2000, &m), 1);
    assert_int_equal(m.kind, TD_WS_TEXT);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "hello", 5);
    assert_int_equal(td_wsc_recv(c, 2000, &m), 1);
    assert_int_equal(m.len, 8);
    assert_memory_equal(m.data, "fragment", 8);
    assert_int_equal(td_wsc_recv(c, 2000, &m), 1);
    assert_int_equal(m.kind, TD_WS_BINARY);
    assert_int_equal(td_wsc_recv(c, 2000, &m), 1);
    assert_int_equal(m.len, 300);
    assert_int_equal(td_wsc_stats(c)->pings_in, 2);
    assert_int_equal(td_wsc_recv(c, 10, &m), 0); /* nothing more yet */
    assert_int_equal(td_wsc_send(c, TD_WS_OP_TEXT, "echo", 4), 0);
    assert_int_equal(td_wsc_recv(c, 2000, &m), TD_EOF); /* the server's close, answered */
    assert_false(td_wsc_connected(c));
    assert_non_null(strstr(td_wsc_error(c), "4001"));
    pthread_join(th, NULL);
    close(s.lfd);
    assert_string_equal(s.err, "");
    assert_true(s.all_masked);
    assert_int_equal(s.ngot, 4);
    assert_int_equal(s.kinds[0], TD_WS_PONG);
    assert_string_equal(s.got[0], "p1");
    assert_int_equal(s.kinds[1], TD_WS_PONG);
    assert_string_equal(s.got[1], "p2");
    assert_string_equal(s.got[2], "echo");
    assert_string_equal(s.got[3], "close 4001");
    td_wsc_destroy(c);
}

static void test_client_refusals(void **state)
{
    (void)state;
    for (int mode = 1; mode <= 4; mode++) {
        if (mode == 3) continue;
        script_t s;
        memset(&s, 0, sizeof s);
        s.mode = mode;
        int port;
        s.lfd = listen_any(&port);
        pthread_t th;
        pthread_create(&th, NULL, server_main, &s);
        td_wsc_config_t cfg = { .timeout_ms = 3000, .max_message = 4096 };
        td_wsc_t *c = td_wsc_create(&cfg);
        char url[64], err[256] = "";
        snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
        int rc = td_wsc_connect(c, url, err, sizeof err);
        if (mode == 1) {
            assert_int_equal(rc, TD_EIO);
            assert_non_null(strstr(err, "Accept"));
        } else {
            assert_int_equal(rc, 0);
            td_ws_msg_t m;
            assert_int_equal(td_wsc_recv(c, 2000, &m), TD_EPROTO); /* 65000 > max_message: close 1009 */
            assert_false(td_wsc_connected(c));
        }
        td_wsc_destroy(c);
        shutdown(s.lfd, SHUT_RDWR);
        pthread_join(th, NULL);
        close(s.lfd);
        if (mode == 2) {
            assert_int_equal(s.ngot, 1);
            assert_string_equal(s.got[0], "close 1009");
        }
        if (mode == 4) {
            assert_int_equal(s.ngot, 1);
            assert_string_equal(s.got[0], "close 1002");
        }
    }
    /* nobody listening: a clean error, no hang */
    td_wsc_t *c = td_wsc_create(NULL);
    char err[256];
    int port;
    int lfd = listen_any(&port);
    close(lfd);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    assert_int_equal(td_wsc_connect(c, url, err, sizeof err), TD_EIO);
    td_wsc_destroy(c);
}

static void test_http_get(void **state)
{
    (void)state;
    static const char *const paths[] = { "/cl", "/chunked", "/missing" };
    static const char *const bodies[] = { "{\"a\":\"cl\"}\n", "{\"a\":\"ch\"}", "not here" };
    static const int statuses[] = { 200, 200, 404 };
    for (int i = 0; i < 3; i++) {
        script_t s;
        memset(&s, 0, sizeof s);
        s.mode = 3;
        int port;
        s.lfd = listen_any(&port);
        pthread_t th;
        pthread_create(&th, NULL, server_main, &s);
        char url[64], err[256] = "", *body = NULL;
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, paths[i]);
        int status = 0;
        size_t blen = 0;
        td_wsc_config_t cfg = { .timeout_ms = 3000 };
        assert_int_equal(td_http_get(url, &cfg, 1 << 20, &status, &body, &blen, err, sizeof err), 0);
        assert_int_equal(status, statuses[i]);
        assert_int_equal(blen, strlen(bodies[i]));
        assert_string_equal(body, bodies[i]);
        td_free(body);
        pthread_join(th, NULL);
        close(s.lfd);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_response_head),
        cmocka_unit_test(test_dechunk_random),
        cmocka_unit_test(test_client_header),
        cmocka_unit_test(test_client_conversation),
        cmocka_unit_test(test_client_refusals),
        cmocka_unit_test(test_http_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
