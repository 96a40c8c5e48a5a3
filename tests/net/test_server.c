/* test_server.c: the server in-process on 127.0.0.1:0 with a tiny handler, driven by raw sockets from the
 * test thread: keep-alive, pipelining, JSON errors (404/405/413/431/400/408), WebSocket upgrade, echo,
 * ping/pong, close handshake, bad frames (1002/1007/1009), output cap (1008), broadcast of one shared
 * buffer to 200 connections on 2 I/O threads, and graceful shutdown (1001).
 *
 * Client sockets are blocking with a 10 s receive timeout, so a bug shows up as a failed read, not a hang.
 * Real-client interoperability (python3-websockets) is left to the API layer's end-to-end tests. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

#include "core/common.h"
#include "core/rng.h"
#include "net/server.h"

/* ---- the application under test ---- */

static _Atomic int ws_opens, ws_closes;
static td_conn_handle_t deferred_handle;
static _Atomic bool deferred_ready;
static _Atomic int last_close_code;

static void on_http(td_conn_t *c, const td_http_req_t *req, void *user)
{
    if (td_slice_eq(req->path, "/healthz")) {
        if (!td_slice_eq(req->method, "GET") && !td_slice_eq(req->method, "HEAD")) {
            td_conn_http_error(c, 405, NULL, "use GET", "Allow: GET\r\n");
            return;
        }
        td_conn_http_respond(c, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
    } else if (td_slice_eq(req->path, "/echo")) {
        char q[64] = "";
        td_http_query_get(req->query, "tag", q, sizeof q);
        char hdr[128];
        snprintf(hdr, sizeof hdr, "X-Tag: %s\r\n", q);
        td_conn_http_respond(c, 200, "text/plain", req->body.p, req->body.n, hdr);
    } else if (td_slice_eq(req->path, "/cached")) {
        static td_nbuf_t *cached; /* one body shared by every response (immutable candles, say) */
        if (!cached) cached = td_nbuf_from("[1,2,3]", 7);
        td_conn_http_respond_buf(c, 200, "application/json", cached, 0, cached->len, "ETag: \"v1\"\r\n");
    } else if (td_slice_eq(req->path, "/later")) {
        deferred_handle = td_conn_http_defer(c); /* the test thread answers it */
        atomic_store(&deferred_ready, true);
    } else if (td_slice_eq(req->path, "/silent")) {
        /* no answer: the server must send 500 */
    } else {
        td_conn_http_error(c, 404, NULL, "no such route", NULL);
    }
}

static int on_upgrade(td_conn_t *c, const td_http_req_t *req, const char **proto, void *user)
{
    if (!td_slice_eq(req->path, "/ws")) return 404;
    if (td_ws_offers_protocol(req, "tickd.v1")) *proto = "tickd.v1";
    return 0;
}

static void on_open(td_conn_t *c, const td_http_req_t *req, void *user) { ws_opens++; }

static void on_msg(td_conn_t *c, int opcode, const char *data, size_t len, void *user)
{
    if (len == 8 && memcmp(data, "close-me", 8) == 0) {
        td_conn_ws_close(c, 4000, "bye");
        return;
    }
    if (len == 5 && memcmp(data, "flood", 5) == 0) { /* over the 64 KiB cap in one turn -> 1008 */
        char chunk[1000];
        memset(chunk, 'f', sizeof chunk);
        for (int i = 0; i < 200; i++)
            if (td_conn_ws_send(c, TD_WS_OP_BINARY, chunk, sizeof chunk) != 0) break;
        return;
    }
    if (len == 4 && memcmp(data, "bulk", 4) == 0) { /* 8 MB in one turn: more than the socket buffers hold */
        char chunk[1000];
        memset(chunk, 'b', sizeof chunk);
        for (uint32_t i = 0; i < 8192; i++) {
            memcpy(chunk, &i, 4);
            if (td_conn_ws_send(c, TD_WS_OP_BINARY, chunk, sizeof chunk) != 0) break;
        }
        return;
    }
    td_conn_ws_send(c, opcode, data, len);
}

static void on_close(td_conn_t *c, uint16_t code, void *user)
{
    ws_closes++;
    last_close_code = code;
}

static void short_timeouts(td_server_config_t *cfg)
{
    cfg->request_timeout_ms = 200;
    cfg->idle_timeout_ms = 300;
}

static td_server_t *start_server(int threads, void (*tweak)(td_server_config_t *))
{
    td_server_config_t cfg = { 0 };
    cfg.threads = threads;
    cfg.http = td_http_default_limits;
    cfg.http.max_body = 4096;
    cfg.http.max_head = 4096;
    cfg.ws_max_message = 8192;
    cfg.out_cap = 64 * 1024;
    cfg.close_timeout_ms = 2000;
    cfg.handlers.on_http_request = on_http;
    cfg.handlers.on_ws_upgrade = on_upgrade;
    cfg.handlers.on_ws_open = on_open;
    cfg.handlers.on_ws_message = on_msg;
    cfg.handlers.on_ws_close = on_close;
    if (tweak) tweak(&cfg);
    td_server_t *s = td_server_create(&cfg);
    assert_non_null(s);
    assert_int_equal(td_server_start(s), 0);
    assert_true(td_server_port(s) != 0);
    return s;
}

/* ---- a raw client ---- */

typedef struct client {
    int fd;
    size_t len;
    char buf[1 << 17];
} client_t;

static client_t *cl_connect(td_server_t *s)
{
    client_t *c = td_calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(td_server_port(s)) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return c;
}

static void cl_close(client_t *c)
{
    close(c->fd);
    td_free(c);
}

static void cl_send(client_t *c, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) fail_msg("send: %s", strerror(errno));
        b += w;
        n -= (size_t)w;
    }
}

static void cl_sends(client_t *c, const char *s) { cl_send(c, s, strlen(s)); }

/* Reads more into the buffer; returns bytes read (0 = EOF, -1 = error/timeout). */
static ssize_t cl_fill(client_t *c)
{
    if (c->len == sizeof c->buf) fail_msg("client buffer full");
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r > 0) c->len += (size_t)r;
    return r;
}

static void cl_consume(client_t *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* True when the server closed the connection (after any buffered bytes were consumed). */
static bool cl_eof(client_t *c)
{
    if (c->len) return false;
    ssize_t r = cl_fill(c);
    return r == 0 || (r < 0 && errno == ECONNRESET);
}

typedef struct resp {
    int status;
    char head[2048];
    char body[8192];
    size_t body_len;
} resp_t;

static void cl_response(client_t *c, resp_t *r)
{
    char *end;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
        if (cl_fill(c) <= 0) fail_msg("no complete response head (have %zu bytes)", c->len);
    size_t hl = (size_t)(end - c->buf) + 4;
    assert_true(hl < sizeof r->head);
    memcpy(r->head, c->buf, hl);
    r->head[hl] = 0;
    assert_int_equal(sscanf(r->head, "HTTP/1.1 %d", &r->status), 1);
    const char *cl = strcasestr(r->head, "Content-Length: ");
    assert_non_null(cl);
    size_t blen = strtoul(cl + 16, NULL, 10);
    assert_true(blen < sizeof r->body);
    while (c->len < hl + blen)
        if (cl_fill(c) <= 0) fail_msg("short body");
    memcpy(r->body, c->buf + hl, blen);
    r->body[blen] = 0;
    r->body_len = blen;
    cl_consume(c, hl + blen);
}

static void want_response(client_t *c, int status, const char *body)
{
    resp_t r;
    cl_response(c, &r);
    if (r.status != status) fail_msg("status %d, want %d (body %s)", r.status, status, r.body);
    if (body && strcmp(r.body, body) != 0) fail_msg("body '%s', want '%s'", r.body, body);
}

/* WebSocket client side: masked frames out, unmasked frames in. */
static void ws_send(client_t *c, bool fin, int op, const void *p, size_t n, bool mask)
{
    uint8_t f[70000];
    size_t h = 0;
    f[h++] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (n < 126) f[h++] = (uint8_t)((mask ? 0x80 : 0) | n);
    else {
        assert_true(n <= 0xFFFF);
        f[h++] = (uint8_t)((mask ? 0x80 : 0) | 126);
        f[h++] = (uint8_t)(n >> 8);
        f[h++] = (uint8_t)n;
    }
    uint8_t key[4] = { 0x12, 0x34, 0x56, 0x78 };
    if (mask) {
        memcpy(f + h, key, 4);
        h += 4;
    }
    memcpy(f + h, p, n);
    if (mask) td_ws_mask((char *)f + h, n, key, 0);
    cl_send(c, f, h + n);
}

typedef struct wsframe {
    int op;
    bool fin;
    size_t len;
    char data[70000];
} wsframe_t;

static bool ws_recv(client_t *c, wsframe_t *f)
{
    for (;;) {
        if (c->len >= 2) {
            const uint8_t *u = (const uint8_t *)c->buf;
            size_t h = 2, n = u[1] & 0x7F;
            assert_false(u[1] & 0x80); /* servers never mask */
            if (n == 126) {
                if (c->len < 4) goto more;
                n = (size_t)u[2] << 8 | u[3];
                h = 4;
            } else if (n == 127) {
                if (c->len < 10) goto more;
                n = 0;
                for (int i = 0; i < 8; i++) n = n << 8 | u[2 + i];
                h = 10;
            }
            if (c->len >= h + n) {
                assert_true(n <= sizeof f->data);
                f->op = u[0] & 0x0F;
                f->fin = u[0] & 0x80;
                f->len = n;
                memcpy(f->data, c->buf + h, n);
                cl_consume(c, h + n);
                return true;
            }
        }
    more:
        if (cl_fill(c) <= 0) return false;
    }
}

static wsframe_t frame; /* big: keep off the stack */

static void want_close(client_t *c, uint16_t code)
{
    while (ws_recv(c, &frame) && frame.op != TD_WS_OP_CLOSE) {
    }
    if (frame.op != TD_WS_OP_CLOSE) fail_msg("no close frame");
    assert_true(frame.len >= 2);
    uint16_t got = (uint16_t)((uint8_t)frame.data[0] << 8 | (uint8_t)frame.data[1]);
    if (got != code) fail_msg("close code %u, want %u (reason %.*s)", got, code, (int)frame.len - 2, frame.data + 2);
    assert_true(cl_eof(c)); /* and the server closes TCP */
}

static client_t *ws_connect(td_server_t *s, const char *extra)
{
    client_t *c = cl_connect(s);
    char req[512];
    snprintf(req, sizeof req,
             "GET /ws?symbols=AAPL HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n", extra ? extra : "");
    cl_sends(c, req);
    char *end;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
        if (cl_fill(c) <= 0) fail_msg("no handshake response");
    end[2] = 0; /* keep the last header's CRLF; the blank line is consumed below anyway */
    if (strncmp(c->buf, "HTTP/1.1 101 ", 13) != 0) fail_msg("handshake: %s", c->buf);
    assert_non_null(strstr(c->buf, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    if (extra && strstr(extra, "tickd.v1")) assert_non_null(strstr(c->buf, "Sec-WebSocket-Protocol: tickd.v1\r\n"));
    cl_consume(c, (size_t)(end - c->buf) + 4);
    return c;
}

/* ---- tests ---- */

static void test_keepalive_and_pipelining(void **state)
{
    (void)state;
    td_server_t *s = start_server(2, NULL);
    client_t *c = cl_connect(s);
    for (int i = 0; i < 3; i++) {
        cl_sends(c, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        want_response(c, 200, "{\"status\":\"ok\"}");
    }
    /* five requests in one write, answered in order on the same connection */
    cl_sends(c, "GET /healthz HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\nPOST /echo?tag=a%20b HTTP/1.1\r\n"
                "Content-Length: 5\r\n\r\nhelloDELETE /healthz HTTP/1.1\r\n\r\nGET /silent HTTP/1.1\r\n\r\n");
    want_response(c, 200, "{\"status\":\"ok\"}");
    want_response(c, 404, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such route\"}}");
    resp_t r;
    cl_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    assert_non_null(strstr(r.head, "X-Tag: a b\r\n"));
    cl_response(c, &r);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.head, "Allow: GET\r\n"));
    assert_string_equal(r.body, "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"use GET\"}}");
    want_response(c, 500, NULL);

    /* a shared body, and Expect: 100-continue (the body is sent only after the interim answer) */
    cl_sends(c, "GET /cached HTTP/1.1\r\n\r\n");
    cl_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "[1,2,3]");
    assert_non_null(strstr(r.head, "ETag: \"v1\"\r\n"));
    cl_sends(c, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    while (c->len < 25)
        if (cl_fill(c) <= 0) fail_msg("no 100 Continue");
    assert_memory_equal(c->buf, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    cl_consume(c, 25);
    cl_sends(c, "body");
    want_response(c, 200, "body");

    /* a request split into one-byte writes */
    const char *slow = "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    for (const char *p = slow; *p; p++) cl_send(c, p, 1);
    want_response(c, 200, "abc");
    cl_close(c);

    /* HTTP/1.0 and Connection: close end the connection after the answer */
    c = cl_connect(s);
    cl_sends(c, "GET /healthz HTTP/1.0\r\n\r\n");
    want_response(c, 200, NULL);
    assert_true(cl_eof(c));
    cl_close(c);
    c = cl_connect(s);
    cl_sends(c, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n");
    want_response(c, 200, NULL);
    assert_true(cl_eof(c)); /* the second request is never answered */
    cl_close(c);

    /* a client that half-closes after its request still gets the answer */
    c = cl_connect(s);
    cl_sends(c, "GET /healthz HTTP/1.1\r\n\r\n");
    shutdown(c->fd, SHUT_WR);
    want_response(c, 200, "{\"status\":\"ok\"}");
    assert_true(cl_eof(c));
    cl_close(c);
    td_server_destroy(s);
}

static void big_cap(td_server_config_t *cfg) { cfg->out_cap = 16u << 20; }

static void test_partial_writes(void **state)
{
    (void)state;
    td_server_t *s = start_server(1, big_cap);
    client_t *c = ws_connect(s, NULL);
    ws_send(c, true, TD_WS_OP_TEXT, "bulk", 4, true);
    usleep(100 * 1000); /* let the socket buffers fill so the server sees partial writes and EPOLLOUT */
    for (uint32_t i = 0; i < 8192; i++) {
        if (!ws_recv(c, &frame)) fail_msg("frame %u missing", i);
        assert_int_equal(frame.op, TD_WS_OP_BINARY);
        assert_int_equal(frame.len, 1000);
        uint32_t got;
        memcpy(&got, frame.data, 4);
        if (got != i) fail_msg("frame %u carries index %u", i, got);
    }
    td_server_stats_t st;
    td_server_stats(s, &st);
    assert_true(st.writes < 8192 / 4); /* frames were joined into few writes */
    ws_send(c, true, TD_WS_OP_TEXT, "ok", 2, true);
    assert_true(ws_recv(c, &frame));
    assert_memory_equal(frame.data, "ok", 2);
    cl_close(c);
    td_server_destroy(s);
}

static void wait_deferred(void)
{
    for (int i = 0; i < 10000 && !atomic_load(&deferred_ready); i++) usleep(1000);
    assert_true(atomic_load(&deferred_ready));
    atomic_store(&deferred_ready, false);
}

static void test_deferred_and_head(void **state)
{
    (void)state;
    td_server_t *s = start_server(2, short_timeouts);
    /* a deferred answer keeps its place in the pipeline: /later is answered before /healthz */
    client_t *c = cl_connect(s);
    cl_sends(c, "GET /later HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n");
    wait_deferred();
    td_nbuf_t *body = td_nbuf_from("{\"late\":true}", 13);
    assert_int_equal(td_server_http_respond_later(s, deferred_handle, 200, "application/json", body, "X-Late: 1\r\n"), 0);
    td_nbuf_unref(body);
    resp_t r;
    cl_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"late\":true}");
    assert_non_null(strstr(r.head, "X-Late: 1\r\n"));
    want_response(c, 200, "{\"status\":\"ok\"}");

    /* no answer within request_timeout_ms: 503, and the late answer is dropped */
    cl_sends(c, "GET /later HTTP/1.1\r\n\r\n");
    wait_deferred();
    cl_response(c, &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.head, "Retry-After: 1\r\n"));
    assert_int_equal(td_server_http_respond_later(s, deferred_handle, 200, NULL, NULL, NULL), 0);
    cl_sends(c, "HEAD /healthz HTTP/1.1\r\n\r\n"); /* HEAD: the GET head, no body */
    cl_sends(c, "GET /healthz HTTP/1.1\r\n\r\n");
    char *end;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
        if (cl_fill(c) <= 0) fail_msg("no HEAD response");
    if (strncmp(c->buf, "HTTP/1.1 200 OK\r\n", 17) != 0) fail_msg("HEAD answer: %.*s", (int)c->len, c->buf);
    assert_non_null(memmem(c->buf, (size_t)(end - c->buf), "Content-Length: 15\r\n", 20));
    cl_consume(c, (size_t)(end - c->buf) + 4);
    want_response(c, 200, "{\"status\":\"ok\"}"); /* so no body followed the HEAD answer */
    cl_close(c);

    /* the client leaves before the answer: it is dropped without harm */
    c = cl_connect(s);
    cl_sends(c, "GET /later HTTP/1.1\r\n\r\n");
    wait_deferred();
    cl_close(c);
    usleep(50 * 1000);
    body = td_nbuf_from("x", 1);
    td_server_http_respond_later(s, deferred_handle, 200, NULL, body, NULL);
    td_nbuf_unref(body);
    td_server_destroy(s);
}

static void test_http_errors(void **state)
{
    (void)state;
    td_server_t *s = start_server(1, NULL);
    client_t *c = cl_connect(s);
    cl_sends(c, "POST /echo HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
    want_response(c, 413, "{\"error\":{\"code\":\"payload_too_large\",\"message\":\"request body too large\"}}");
    assert_true(cl_eof(c));
    cl_close(c);

    c = cl_connect(s);
    char big[6000];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET / HTTP/1.1\r\nX-Big: ", 23);
    cl_send(c, big, sizeof big);
    want_response(c, 431, NULL);
    assert_true(cl_eof(c));
    cl_close(c);

    c = cl_connect(s);
    cl_sends(c, "HELLO\r\n\r\n");
    want_response(c, 400, NULL);
    assert_true(cl_eof(c));
    cl_close(c);

    c = cl_connect(s);
    cl_sends(c, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    want_response(c, 501, NULL);
    cl_close(c);

    /* upgrade refused by the application, and a wrong WebSocket version */
    c = cl_connect(s);
    cl_sends(c, "GET /other HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    want_response(c, 404, NULL);
    cl_sends(c, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n");
    resp_t r;
    cl_response(c, &r);
    assert_int_equal(r.status, 426);
    assert_non_null(strstr(r.head, "Sec-WebSocket-Version: 13\r\n"));
    cl_close(c);
    td_server_stats_t st;
    td_server_stats(s, &st);
    assert_true(st.http_errors >= 5);
    td_server_destroy(s);
}


static void test_timeouts(void **state)
{
    (void)state;
    td_server_t *s = start_server(1, short_timeouts);
    client_t *c = cl_connect(s);
    cl_sends(c, "GET /healthz HTTP/1.1\r\nHost: slow");
    want_response(c, 408, NULL);
    assert_true(cl_eof(c));
    cl_close(c);
    c = cl_connect(s);
    cl_sends(c, "GET /healthz HTTP/1.1\r\n\r\n");
    want_response(c, 200, NULL);
    assert_true(cl_eof(c)); /* idle keep-alive connection closed */
    cl_close(c);
    td_server_destroy(s);
}

static void test_websocket_session(void **state)
{
    (void)state;
    ws_opens = ws_closes = 0;
    td_server_t *s = start_server(1, NULL);
    client_t *c = ws_connect(s, "Sec-WebSocket-Protocol: chat, tickd.v1\r\n");

    ws_send(c, true, TD_WS_OP_TEXT, "{\"action\":\"ping\"}", 17, true);
    assert_true(ws_recv(c, &frame));
    assert_int_equal(frame.op, TD_WS_OP_TEXT);
    assert_true(frame.fin);
    assert_int_equal(frame.len, 17);
    assert_memory_equal(frame.data, "{\"action\":\"ping\"}", 17);

    ws_send(c, true, TD_WS_OP_PING, "abc", 3, true);
    assert_true(ws_recv(c, &frame));
    assert_int_equal(frame.op, TD_WS_OP_PONG);
    assert_int_equal(frame.len, 3);
    assert_memory_equal(frame.data, "abc", 3);

    /* fragmented text with a ping in the middle; a 1000-byte binary (16-bit length) */
    ws_send(c, false, TD_WS_OP_TEXT, "frag", 4, true);
    ws_send(c, true, TD_WS_OP_PING, "", 0, true);
    ws_send(c, true, TD_WS_OP_CONT, "mented", 6, true);
    assert_true(ws_recv(c, &frame));
    assert_int_equal(frame.op, TD_WS_OP_PONG);
    assert_true(ws_recv(c, &frame));
    assert_int_equal(frame.op, TD_WS_OP_TEXT);
    assert_int_equal(frame.len, 10);
    assert_memory_equal(frame.data, "fragmented", 10);
    static char bin[1000];
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (char)i;
    ws_send(c, true, TD_WS_OP_BINARY, bin, sizeof bin, true);
    assert_true(ws_recv(c, &frame));
    assert_int_equal(frame.op, TD_WS_OP_BINARY);
    assert_int_equal(frame.len, 1000);
    assert_memory_equal(frame.data, bin, 1000);

    /* client-initiated close: the code is echoed, then the server closes TCP */
    uint8_t cp[2] = { 0x03, 0xE8 };
    ws_send(c, true, TD_WS_OP_CLOSE, cp, 2, true);
    want_close(c, 1000);
    cl_close(c);

    /* server-initiated close (the app calls td_conn_ws_close) */
    c = ws_connect(s, NULL);
    ws_send(c, true, TD_WS_OP_TEXT, "close-me", 8, true);
    assert_true(ws_recv(c, &frame));
    assert_int_equal(frame.op, TD_WS_OP_CLOSE);
    assert_int_equal((uint8_t)frame.data[0] << 8 | (uint8_t)frame.data[1], 4000);
    ws_send(c, true, TD_WS_OP_CLOSE, frame.data, 2, true);
    assert_true(cl_eof(c));
    cl_close(c);

    td_server_destroy(s);
    assert_int_equal(ws_opens, 2);
    assert_int_equal(ws_closes, 2);
}

static void test_websocket_bad_frames(void **state)
{
    (void)state;
    ws_opens = ws_closes = 0;
    td_server_t *s = start_server(1, NULL);
    client_t *c = ws_connect(s, NULL);
    ws_send(c, true, TD_WS_OP_TEXT, "unmasked", 8, false);
    want_close(c, 1002);
    cl_close(c);

    c = ws_connect(s, NULL);
    ws_send(c, true, TD_WS_OP_TEXT, "bad \xff utf8", 10, true);
    want_close(c, 1007);
    cl_close(c);

    c = ws_connect(s, NULL);
    static char big[9000];
    memset(big, 'b', sizeof big);
    ws_send(c, true, TD_WS_OP_BINARY, big, sizeof big, true);
    want_close(c, 1009);
    cl_close(c);

    c = ws_connect(s, NULL);
    uint8_t rsv[] = { 0xC1, 0x80, 1, 2, 3, 4 }; /* RSV1 without an extension */
    cl_send(c, rsv, sizeof rsv);
    want_close(c, 1002);
    cl_close(c);

    /* a client that asks for more than out_cap in one turn gets close 1008 after what fitted */
    c = ws_connect(s, NULL);
    ws_send(c, true, TD_WS_OP_TEXT, "flood", 5, true);
    int got = 0;
    while (ws_recv(c, &frame) && frame.op == TD_WS_OP_BINARY) got++;
    assert_int_equal(frame.op, TD_WS_OP_CLOSE);
    assert_int_equal((uint8_t)frame.data[0] << 8 | (uint8_t)frame.data[1], 1008);
    assert_true(got > 0 && got < 200);
    cl_close(c);

    /* a client that vanishes without a close frame: on_ws_close(1006) */
    c = ws_connect(s, NULL);
    cl_close(c);
    td_server_destroy(s);
    assert_int_equal(ws_opens, 6);
    assert_int_equal(ws_closes, 6);
    assert_int_equal(last_close_code, 1006);
}

/* ---- broadcast: one buffer, 200 connections, 2 I/O threads ---- */

#define NCLIENTS 200
static td_nbuf_t *shared_frame;
static _Atomic int broadcast_sent;

static void send_shared(td_conn_t *c, void *arg)
{
    if (td_conn_send_buf(c, shared_frame, 0, shared_frame->len) == 0) broadcast_sent++;
}

static void do_broadcast(td_loop_t *loop, void *arg)
{
    td_server_t *s = arg;
    for (int t = 0; t < td_server_threads(s); t++)
        if (td_server_loop(s, t) == loop) td_server_each_ws(s, t, send_shared, NULL);
}

static void test_broadcast_shared_buffer(void **state)
{
    (void)state;
    ws_opens = ws_closes = 0;
    broadcast_sent = 0;
    td_server_t *s = start_server(2, NULL);
    static client_t *cs[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) cs[i] = ws_connect(s, NULL);
    /* every upgrade is answered only after on_ws_open ran, so all 200 are registered now */
    const char *msg = "{\"type\":\"tick\",\"symbol\":\"AAPL\",\"price\":185.42,\"seq\":1}";
    shared_frame = td_ws_frame_nbuf(TD_WS_OP_TEXT, msg, strlen(msg));
    for (int t = 0; t < td_server_threads(s); t++) assert_int_equal(td_server_post(s, t, do_broadcast, s), 0);
    for (int i = 0; i < NCLIENTS; i++) {
        if (!ws_recv(cs[i], &frame)) fail_msg("client %d got nothing", i);
        assert_int_equal(frame.op, TD_WS_OP_TEXT);
        assert_int_equal(frame.len, strlen(msg));
        assert_memory_equal(frame.data, msg, strlen(msg));
    }
    assert_int_equal(broadcast_sent, NCLIENTS);
    /* graceful shutdown: everyone gets close 1001, then the shared buffer is ours alone again */
    td_server_stop(s);
    for (int i = 0; i < NCLIENTS; i++) {
        assert_true(ws_recv(cs[i], &frame));
        assert_int_equal(frame.op, TD_WS_OP_CLOSE);
        assert_int_equal((uint8_t)frame.data[0] << 8 | (uint8_t)frame.data[1], 1001);
        cl_close(cs[i]);
    }
    assert_int_equal(atomic_load(&shared_frame->refs), 1);
    td_nbuf_unref(shared_frame);
    td_server_destroy(s);
    assert_int_equal(ws_opens, NCLIENTS);
    assert_int_equal(ws_closes, NCLIENTS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive_and_pipelining),
        cmocka_unit_test(test_deferred_and_head),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_websocket_session),
        cmocka_unit_test(test_websocket_bad_frames),
        cmocka_unit_test(test_partial_writes),
        cmocka_unit_test(test_broadcast_shared_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
