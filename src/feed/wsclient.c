/*
 * wsclient.c: TCP + TLS connections, the WebSocket client and the HTTP GET (contract in wsclient.h).
 *
 * A conn_t is a socket plus an optional SSL; every blocking step polls the socket against an absolute
 * monotonic deadline, so no call can hang longer than cfg.timeout_ms whatever the peer does (a server that
 * accepts and then says nothing is the "stall" a feed must survive).
 *
 * The receive buffer of a td_wsc_t: [rpos, rlen) bytes read and not yet parsed; a delivered message's payload
 * stays in place (zero-copy) until the next call. The unparsed tail is moved to the front only when the
 * buffer's end is reached or rpos passes half of it, so each byte is moved O(1) times on average (moving
 * it after every frame made a large read quadratic). Invariant: rpos <= rlen <= rcap = max_message +
 * TD_WS_MAX_HEADER; one read asks for at most READ_CHUNK bytes.
 */
#include "feed/wsclient.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/clock.h"
#include "core/common.h"

#define READ_CHUNK (256u << 10)

/* ---- URLs ---- */

int td_url_parse(const char *url, td_url_t *out)
{
    memset(out, 0, sizeof *out);
    const char *p;
    if (!strncmp(url, "wss://", 6)) { out->tls = out->websocket = true; p = url + 6; }
    else if (!strncmp(url, "ws://", 5)) { out->websocket = true; p = url + 5; }
    else if (!strncmp(url, "https://", 8)) { out->tls = true; p = url + 8; }
    else if (!strncmp(url, "http://", 7)) p = url + 7;
    else return TD_EINVAL;
    const char *hend;
    const char *hstart = p;
    if (*p == '[') {
        hstart = p + 1;
        hend = strchr(hstart, ']');
        if (!hend) return TD_EINVAL;
        p = hend + 1;
    } else {
        hend = p + strcspn(p, ":/?");
        p = hend;
    }
    size_t hl = (size_t)(hend - hstart);
    if (hl == 0 || hl >= sizeof out->host) return TD_EINVAL;
    memcpy(out->host, hstart, hl);
    out->port = out->tls ? 443 : 80;
    if (*p == ':') {
        char *e;
        unsigned long port = strtoul(p + 1, &e, 10);
        if (e == p + 1 || port == 0 || port > 65535) return TD_EINVAL;
        out->port = (uint16_t)port;
        p = e;
    }
    if (*p && *p != '/' && *p != '?') return TD_EINVAL;
    int n = snprintf(out->path, sizeof out->path, "%s%s", *p == '/' ? "" : "/", p);
    if (n < 0 || (size_t)n >= sizeof out->path) return TD_EINVAL;
    for (const char *c = out->path; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f) return TD_EINVAL; /* no header injection */
    return TD_OK;
}

/* ---- response heads ---- */

static bool ieq_n(const char *a, size_t an, const char *lit)
{
    size_t n = strlen(lit);
    return an == n && !strncasecmp(a, lit, n);
}

static bool has_token(const char *v, size_t vn, const char *tok)
{
    size_t tl = strlen(tok), i = 0;
    while (i < vn) {
        while (i < vn && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t s = i;
        while (i < vn && v[i] != ',') i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e - s == tl && !strncasecmp(v + s, tok, tl)) return true;
    }
    return false;
}

int td_http_parse_response(const char *buf, size_t len, td_http_resp_t *out)
{
    memset(out, 0, sizeof *out);
    out->content_length = -1;
    size_t scan = len < TD_HTTP_MAX_RESP_HEAD ? len : TD_HTTP_MAX_RESP_HEAD;
    size_t head = 0;
    for (size_t i = 0; i + 3 < scan; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') { head = i + 4; break; }
    if (!head) return len >= TD_HTTP_MAX_RESP_HEAD ? TD_EPROTO : TD_EAGAIN;
    /* status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF */
    if (head < 14 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ')
        return TD_EPROTO;
    if (buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9')
        return TD_EPROTO;
    if (buf[12] != ' ' && buf[12] != '\r') return TD_EPROTO;
    out->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    const char *p = memchr(buf, '\n', head);
    if (!p || p[-1] != '\r') return TD_EPROTO;
    for (const char *c = buf + 12; c < p - 1; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t') return TD_EPROTO; /* reason phrase */
    p++;
    const char *end = buf + head - 2; /* the final CRLF */
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end + 2 - p));
        if (!eol || eol == p || eol[-1] != '\r') return TD_EPROTO;
        const char *line_end = eol - 1;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (!colon || colon == p) return TD_EPROTO;
        for (const char *c = p; c < colon; c++)
            if (*c <= ' ' || *c >= 0x7f) return TD_EPROTO;
        const char *v = colon + 1;
        while (v < line_end && (*v == ' ' || *v == '\t')) v++;
        const char *ve = line_end;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        size_t nl = (size_t)(colon - p), vl = (size_t)(ve - v);
        if (ieq_n(p, nl, "content-length")) {
            if (vl == 0 || vl > 15 || out->content_length >= 0) return TD_EPROTO;
            int64_t cl = 0;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9') return TD_EPROTO;
                cl = cl * 10 + (v[i] - '0');
            }
            out->content_length = cl;
        } else if (ieq_n(p, nl, "transfer-encoding")) {
            if (has_token(v, vl, "chunked")) out->chunked = true;
            else return TD_EPROTO; /* gzip etc.: we never ask for them */
        } else if (ieq_n(p, nl, "upgrade")) {
            if (has_token(v, vl, "websocket")) out->upgrade_websocket = true;
        } else if (ieq_n(p, nl, "connection")) {
            if (has_token(v, vl, "upgrade")) out->connection_upgrade = true;
        } else if (ieq_n(p, nl, "sec-websocket-accept")) {
            if (vl >= sizeof out->accept) return TD_EPROTO;
            memcpy(out->accept, v, vl);
            out->accept[vl] = 0;
        }
        p = eol + 1;
    }
    if (out->chunked) out->content_length = -1; /* RFC 9112 6.3: chunked wins */
    out->head_len = head;
    return (int)head;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int64_t td_http_dechunk(char *buf, size_t len, size_t *consumed)
{
    size_t in = 0, outp = 0;
    for (;;) {
        /* chunk-size [; ext] CRLF */
        size_t i = in;
        uint64_t size = 0;
        int digits = 0;
        while (i < len && hexval(buf[i]) >= 0) {
            if (++digits > 15) return TD_EPROTO;
            size = size * 16 + (uint64_t)hexval(buf[i]);
            i++;
        }
        if (i == len) return TD_EAGAIN;
        if (digits == 0) return TD_EPROTO;
        while (i < len && buf[i] != '\n') {
            if (buf[i] != ';' && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' && (buf[i] < 0x21 || buf[i] > 0x7e))
                return TD_EPROTO;
            if (i - in > 4096) return TD_EPROTO;
            i++;
        }
        if (i == len) return TD_EAGAIN;
        if (buf[i - 1] != '\r') return TD_EPROTO;
        i++;
        if (size == 0) {
            /* trailer lines until an empty line */
            for (;;) {
                const char *nl = memchr(buf + i, '\n', len - i);
                if (!nl) return TD_EAGAIN;
                size_t ll = (size_t)(nl - (buf + i));
                if (ll == 0 || buf[i + ll - 1] != '\r') return TD_EPROTO;
                i += ll + 1;
                if (ll == 1) break;
            }
            *consumed = i;
            return (int64_t)outp;
        }
        if (size > len - i || len - i - size < 2) return TD_EAGAIN;
        if (buf[i + size] != '\r' || buf[i + size + 1] != '\n') return TD_EPROTO;
        memmove(buf + outp, buf + i, size); /* outp <= i: decoding never grows */
        outp += size;
        in = i + size + 2;
        /* keep the raw tail where it is: it sits after outp, which only grows by what we read */
    }
}

/* ---- connections ---- */

typedef struct conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
} conn_t;

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - td_mono_ns();
    if (left <= 0) return 0;
    return (int)(left / TD_NS_PER_MS) + 1;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    int r;
    do r = poll(&pfd, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r;
}

static void ssl_reason(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s: %s", what, buf[0] ? buf : "connection closed");
    ERR_clear_error();
}

static void conn_close(conn_t *c)
{
    if (c->ssl) { SSL_free(c->ssl); c->ssl = NULL; }
    if (c->ctx) { SSL_CTX_free(c->ctx); c->ctx = NULL; }
    if (c->fd >= 0) { close(c->fd); c->fd = -1; }
}

static int conn_open(conn_t *c, const td_url_t *u, const td_wsc_config_t *cfg, int64_t deadline, char *err,
                     size_t errlen)
{
    c->fd = -1;
    c->ctx = NULL;
    c->ssl = NULL;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", u->port);
    int gai = getaddrinfo(u->host, port, &hints, &res);
    if (gai != 0) { snprintf(err, errlen, "resolve %s: %s", u->host, gai_strerror(gai)); return TD_EIO; }
    int rc = TD_EIO;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            snprintf(err, errlen, "connect %s:%u: %s", u->host, u->port, strerror(errno));
            close(fd);
            continue;
        }
        if (wait_fd(fd, POLLOUT, remaining_ms(deadline)) <= 0) {
            snprintf(err, errlen, "connect %s:%u: timed out", u->host, u->port);
            close(fd);
            continue;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) {
            snprintf(err, errlen, "connect %s:%u: %s", u->host, u->port, strerror(soerr));
            close(fd);
            continue;
        }
        c->fd = fd;
        rc = TD_OK;
        break;
    }
    freeaddrinfo(res);
    if (rc != TD_OK) return rc;
    if (!u->tls) return TD_OK;

    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) { ssl_reason(err, errlen, "TLS context"); goto fail; }
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_default_verify_paths(c->ctx);
    if (cfg->ca_file && *cfg->ca_file && SSL_CTX_load_verify_locations(c->ctx, cfg->ca_file, NULL) != 1) {
        ssl_reason(err, errlen, "TLS CA file");
        goto fail;
    }
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl) { ssl_reason(err, errlen, "TLS"); goto fail; }
    SSL_set_fd(c->ssl, c->fd);
    struct in6_addr a6;
    bool is_ip = inet_pton(AF_INET, u->host, &a6) == 1 || inet_pton(AF_INET6, u->host, &a6) == 1;
    X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(vp, u->host);
    } else {
        SSL_set_tlsext_host_name(c->ssl, u->host);
        SSL_set1_host(c->ssl, u->host);
    }
    for (;;) {
        int r = SSL_connect(c->ssl);
        if (r == 1) break;
        int e = SSL_get_error(c->ssl, r);
        short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (!ev) {
            long vr = SSL_get_verify_result(c->ssl);
            if (vr != X509_V_OK) snprintf(err, errlen, "TLS %s: certificate verify failed: %s", u->host,
                                          X509_verify_cert_error_string(vr));
            else ssl_reason(err, errlen, "TLS handshake");
            ERR_clear_error();
            goto fail;
        }
        if (wait_fd(c->fd, ev, remaining_ms(deadline)) <= 0) {
            snprintf(err, errlen, "TLS handshake with %s: timed out", u->host);
            goto fail;
        }
    }
    return TD_OK;
fail:
    conn_close(c);
    return TD_EIO;
}

/* Reads what is available: > 0 bytes, 0 if nothing came within timeout_ms, TD_EOF, TD_EIO. */
static int conn_read(conn_t *c, char *buf, size_t cap, int timeout_ms)
{
    if (cap == 0) return TD_ENOBUFS;
    if (cap > INT32_MAX) cap = INT32_MAX;
    for (int attempt = 0; attempt < 2; attempt++) {
        short want = POLLIN;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, buf, (int)cap);
            if (r > 0) return r;
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_ZERO_RETURN) return TD_EOF;
            if (e == SSL_ERROR_WANT_WRITE) want = POLLOUT;
            else if (e != SSL_ERROR_WANT_READ) {
                ERR_clear_error();
                return e == SSL_ERROR_SYSCALL && errno == 0 ? TD_EOF : TD_EIO;
            }
        } else {
            ssize_t r = recv(c->fd, buf, cap, 0);
            if (r > 0) return (int)r;
            if (r == 0) return TD_EOF;
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return TD_EIO;
        }
        if (attempt == 1) break;
        int w = wait_fd(c->fd, want, timeout_ms);
        if (w < 0) return TD_EIO;
        if (w == 0) return 0;
    }
    return 0;
}

static int conn_write_all(conn_t *c, const void *data, size_t len, int64_t deadline)
{
    const char *p = data;
    while (len > 0) {
        short want = POLLOUT;
        size_t chunk = len > INT32_MAX ? INT32_MAX : len;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, p, (int)chunk);
            if (r > 0) { p += r; len -= (size_t)r; continue; }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) want = POLLIN;
            else if (e != SSL_ERROR_WANT_WRITE) { ERR_clear_error(); return TD_EIO; }
        } else {
            ssize_t r = send(c->fd, p, chunk, MSG_NOSIGNAL);
            if (r > 0) { p += r; len -= (size_t)r; continue; }
            if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return TD_EIO;
        }
        if (wait_fd(c->fd, want, remaining_ms(deadline)) <= 0) return TD_EIO;
    }
    return TD_OK;
}

/* ---- WebSocket client ---- */

struct td_wsc {
    td_wsc_config_t cfg;
    char ca_file[512];
    conn_t conn;
    bool open;
    td_ws_rx_t rx;
    char *rbuf;
    size_t rpos, rlen, rcap; /* unparsed bytes are [rpos, rlen) */
    td_wsc_stats_t stats;
    int64_t last_pong_ns;
    char error[256];
};

size_t td_ws_client_header(uint8_t out[14], int opcode, uint64_t len, const uint8_t key[4])
{
    size_t n = 0;
    out[n++] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) out[n++] = (uint8_t)(0x80 | len);
    else if (len <= 0xffff) {
        out[n++] = 0x80 | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) out[n++] = (uint8_t)(len >> (8 * i));
    }
    memcpy(out + n, key, 4);
    return n + 4;
}

td_wsc_t *td_wsc_create(const td_wsc_config_t *cfg)
{
    td_wsc_t *c = td_calloc(1, sizeof *c);
    if (cfg) c->cfg = *cfg;
    if (c->cfg.timeout_ms <= 0) c->cfg.timeout_ms = 10000;
    if (c->cfg.max_message == 0) c->cfg.max_message = 4u << 20;
    if (c->cfg.ca_file) {
        snprintf(c->ca_file, sizeof c->ca_file, "%s", c->cfg.ca_file);
        c->cfg.ca_file = c->ca_file;
    }
    c->conn.fd = -1;
    c->rcap = c->cfg.max_message + TD_WS_MAX_HEADER;
    return c;
}

void td_wsc_close(td_wsc_t *c, bool graceful, uint16_t code)
{
    if (!c->open) return;
    if (graceful) {
        uint8_t pl[TD_WS_MAX_CONTROL];
        size_t n = td_ws_close_payload(pl, code, "");
        td_wsc_send(c, TD_WS_OP_CLOSE, pl, n);
    }
    conn_close(&c->conn);
    td_ws_rx_free(&c->rx);
    td_free(c->rbuf);
    c->rbuf = NULL;
    c->rpos = c->rlen = 0;
    c->open = false;
}

void td_wsc_destroy(td_wsc_t *c)
{
    if (!c) return;
    td_wsc_close(c, false, 0);
    td_free(c);
}

bool td_wsc_connected(const td_wsc_t *c) { return c->open; }
const td_wsc_stats_t *td_wsc_stats(const td_wsc_t *c) { return &c->stats; }
int64_t td_wsc_last_pong_ns(const td_wsc_t *c) { return c->last_pong_ns; }
const char *td_wsc_error(const td_wsc_t *c) { return c->error; }

int td_wsc_connect(td_wsc_t *c, const char *url, char *err, size_t errlen)
{
    td_wsc_close(c, false, 0);
    td_url_t u;
    if (td_url_parse(url, &u) != TD_OK || !u.websocket) {
        snprintf(err, errlen, "bad WebSocket URL \"%s\"", url);
        return TD_EINVAL;
    }
    int64_t deadline = td_mono_ns() + (int64_t)c->cfg.timeout_ms * TD_NS_PER_MS;
    int rc = conn_open(&c->conn, &u, &c->cfg, deadline, err, errlen);
    if (rc != TD_OK) return rc;

    uint8_t nonce[16];
    if (RAND_bytes(nonce, sizeof nonce) != 1) { snprintf(err, errlen, "no randomness for the key"); goto fail; }
    char key[32], expect[29];
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof nonce);
    td_slice_t ks = { key, strlen(key) };
    if (td_ws_accept_key(ks, expect) != TD_OK) { snprintf(err, errlen, "handshake key"); goto fail; }
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: tickd\r\n\r\n",
                     u.path, u.host, (unsigned)u.port, key);
    if (n < 0 || (size_t)n >= sizeof req) { snprintf(err, errlen, "URL too long"); goto fail; }
    if (conn_write_all(&c->conn, req, (size_t)n, deadline) != TD_OK) {
        snprintf(err, errlen, "sending the upgrade request failed");
        goto fail;
    }
    c->rbuf = td_malloc(c->rcap);
    c->rpos = c->rlen = 0;
    td_http_resp_t resp;
    for (;;) {
        int pr = td_http_parse_response(c->rbuf, c->rlen, &resp);
        if (pr > 0) break;
        if (pr == TD_EPROTO) { snprintf(err, errlen, "malformed upgrade response"); goto fail; }
        int left = remaining_ms(deadline);
        if (left == 0) { snprintf(err, errlen, "upgrade response: timed out"); goto fail; }
        int r = conn_read(&c->conn, c->rbuf + c->rlen, c->rcap - c->rlen, left);
        if (r < 0) { snprintf(err, errlen, "upgrade response: %s", r == TD_EOF ? "connection closed" : "read error"); goto fail; }
        c->rlen += (size_t)r;
    }
    if (resp.status != 101 || !resp.upgrade_websocket || !resp.connection_upgrade || strcmp(resp.accept, expect)) {
        snprintf(err, errlen, "upgrade refused: HTTP %d%s", resp.status,
                 resp.status == 101 ? " with a wrong Sec-WebSocket-Accept or Upgrade/Connection" : "");
        goto fail;
    }
    memmove(c->rbuf, c->rbuf + resp.head_len, c->rlen - resp.head_len); /* frames sent right after the 101 */
    c->rlen -= resp.head_len;
    td_ws_rx_init(&c->rx, c->cfg.max_message, false);
    c->open = true;
    c->error[0] = 0;
    return TD_OK;
fail:
    conn_close(&c->conn);
    td_free(c->rbuf);
    c->rbuf = NULL;
    c->rlen = 0;
    return TD_EIO;
}

int td_wsc_send(td_wsc_t *c, int opcode, const void *data, size_t len)
{
    if (!c->open) return TD_EIO;
    uint8_t key[4], hdr[14];
    if (RAND_bytes(key, 4) != 1) return TD_EIO;
    size_t hl = td_ws_client_header(hdr, opcode, len, key);
    size_t total = hl + len;
    char stackbuf[1024];
    char *frame = total <= sizeof stackbuf ? stackbuf : td_malloc(total);
    memcpy(frame, hdr, hl);
    if (len) memcpy(frame + hl, data, len);
    td_ws_mask(frame + hl, len, key, 0);
    int64_t deadline = td_mono_ns() + (int64_t)c->cfg.timeout_ms * TD_NS_PER_MS;
    int rc = conn_write_all(&c->conn, frame, total, deadline);
    if (frame != stackbuf) td_free(frame);
    if (rc == TD_OK && opcode == TD_WS_OP_PING) c->stats.pings_out++;
    return rc;
}

static int recv_fail(td_wsc_t *c, int rc, const char *why)
{
    snprintf(c->error, sizeof c->error, "%s", why);
    td_wsc_close(c, false, 0);
    return rc;
}

int td_wsc_recv(td_wsc_t *c, int timeout_ms, td_ws_msg_t *msg)
{
    if (!c->open) return TD_EIO;
    int64_t deadline = td_mono_ns() + (int64_t)timeout_ms * TD_NS_PER_MS;
    for (;;) {
        /* rpos is always at a frame boundary: RFC 6455 5.1, a client closes on a masked server frame */
        if (c->rlen - c->rpos >= 2 && (c->rbuf[c->rpos + 1] & 0x80)) {
            uint8_t pl[TD_WS_MAX_CONTROL];
            size_t n = td_ws_close_payload(pl, TD_WS_CLOSE_PROTOCOL, "");
            td_wsc_send(c, TD_WS_OP_CLOSE, pl, n);
            return recv_fail(c, TD_EPROTO, "protocol error from the server: masked frame");
        }
        int r = td_ws_rx_feed(&c->rx, c->rbuf + c->rpos, c->rlen - c->rpos, msg);
        if (r > 0) {
            c->stats.frames_in++;
            c->rpos += (size_t)r;
            switch (msg->kind) {
            case TD_WS_TEXT:
            case TD_WS_BINARY:
                return 1;
            case TD_WS_PING:
                c->stats.pings_in++;
                if (td_wsc_send(c, TD_WS_OP_PONG, msg->data, msg->len) != TD_OK)
                    return recv_fail(c, TD_EIO, "could not answer a ping");
                break;
            case TD_WS_PONG:
                c->stats.pongs_in++;
                c->last_pong_ns = td_mono_ns();
                break;
            case TD_WS_CLOSE: {
                char why[160];
                snprintf(why, sizeof why, "server closed the connection: %u %.*s", msg->close_code,
                         (int)(msg->close_reason_len < 100 ? msg->close_reason_len : 100),
                         msg->close_reason ? msg->close_reason : "");
                uint8_t pl[2] = { (uint8_t)(msg->close_code >> 8), (uint8_t)msg->close_code };
                if (msg->close_code == TD_WS_CLOSE_NO_STATUS) td_wsc_send(c, TD_WS_OP_CLOSE, NULL, 0);
                else td_wsc_send(c, TD_WS_OP_CLOSE, pl, 2);
                return recv_fail(c, TD_EOF, why);
            }
            default: /* a non-final fragment */
                break;
            }
            continue;
        }
        if (r == TD_EPROTO) {
            char why[160];
            snprintf(why, sizeof why, "protocol error from the server: %s", c->rx.error ? c->rx.error : "?");
            uint8_t pl[TD_WS_MAX_CONTROL];
            size_t n = td_ws_close_payload(pl, c->rx.close_code ? c->rx.close_code : TD_WS_CLOSE_PROTOCOL, "");
            td_wsc_send(c, TD_WS_OP_CLOSE, pl, n);
            return recv_fail(c, TD_EPROTO, why);
        }
        /* TD_EAGAIN: need more bytes */
        if (c->rpos == c->rlen) c->rpos = c->rlen = 0;
        if (c->rpos > 0 && (c->rlen == c->rcap || c->rpos >= c->rcap / 2)) {
            memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
            c->rlen -= c->rpos;
            c->rpos = 0;
        }
        if (c->rlen == c->rcap) return recv_fail(c, TD_EPROTO, "frame larger than the receive buffer");
        size_t room = c->rcap - c->rlen;
        if (room > READ_CHUNK) room = READ_CHUNK;
        int n = conn_read(&c->conn, c->rbuf + c->rlen, room, remaining_ms(deadline));
        if (n == 0) return 0;
        if (n < 0) return recv_fail(c, n == TD_EOF ? TD_EOF : TD_EIO, n == TD_EOF ? "connection closed by the server"
                                                                                  : "read error");
        c->rlen += (size_t)n;
        c->stats.bytes_in += (uint64_t)n;
    }
}

/* ---- HTTP GET ---- */

int td_http_get(const char *url, const td_wsc_config_t *cfg_in, size_t max_body, int *status, char **body,
                size_t *blen, char *err, size_t errlen)
{
    td_wsc_config_t cfg = cfg_in ? *cfg_in : (td_wsc_config_t){ 0 };
    if (cfg.timeout_ms <= 0) cfg.timeout_ms = 10000;
    *body = NULL;
    *blen = 0;
    td_url_t u;
    if (td_url_parse(url, &u) != TD_OK || u.websocket) {
        snprintf(err, errlen, "bad HTTP URL \"%s\"", url);
        return TD_EINVAL;
    }
    int64_t deadline = td_mono_ns() + (int64_t)cfg.timeout_ms * TD_NS_PER_MS;
    conn_t c;
    int rc = conn_open(&c, &u, &cfg, deadline, err, errlen);
    if (rc != TD_OK) return rc;
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%u\r\nAccept: application/json\r\nUser-Agent: tickd\r\n"
                     "Connection: close\r\n\r\n", u.path, u.host, (unsigned)u.port);
    size_t cap = TD_HTTP_MAX_RESP_HEAD + max_body + 4096, len = 0;
    char *buf = NULL;
    if (n < 0 || (size_t)n >= sizeof req) { snprintf(err, errlen, "URL too long"); rc = TD_EINVAL; goto out; }
    if (conn_write_all(&c, req, (size_t)n, deadline) != TD_OK) { snprintf(err, errlen, "sending the request failed"); rc = TD_EIO; goto out; }
    buf = td_malloc(cap + 1);
    td_http_resp_t resp;
    bool have_head = false, eof = false;
    for (;;) {
        if (!have_head) {
            int pr = td_http_parse_response(buf, len, &resp);
            if (pr == TD_EPROTO) { snprintf(err, errlen, "malformed HTTP response"); rc = TD_EPROTO; goto out; }
            if (pr > 0) have_head = true;
        }
        if (have_head) {
            size_t got = len - resp.head_len;
            if (resp.content_length >= 0 && (uint64_t)resp.content_length > max_body) { rc = TD_ENOBUFS; snprintf(err, errlen, "body too large"); goto out; }
            if (resp.content_length >= 0 && got >= (size_t)resp.content_length) { *blen = (size_t)resp.content_length; break; }
            if (resp.chunked) {
                size_t used;
                int64_t d = td_http_dechunk(buf + resp.head_len, got, &used);
                if (d >= 0) { *blen = (size_t)d; break; }
                if (d == TD_EPROTO) { snprintf(err, errlen, "malformed chunked body"); rc = TD_EPROTO; goto out; }
            }
            if (eof) {
                if (resp.content_length < 0 && !resp.chunked) { *blen = got; break; }
                snprintf(err, errlen, "connection closed before the body was complete");
                rc = TD_EIO;
                goto out;
            }
        } else if (eof) {
            snprintf(err, errlen, "connection closed before the response head");
            rc = TD_EIO;
            goto out;
        }
        if (len == cap) { snprintf(err, errlen, "response too large"); rc = TD_ENOBUFS; goto out; }
        int left = remaining_ms(deadline);
        if (left == 0) { snprintf(err, errlen, "GET %s: timed out", u.path); rc = TD_EIO; goto out; }
        int r = conn_read(&c, buf + len, cap - len, left);
        if (r == TD_EOF) eof = true;
        else if (r < 0) { snprintf(err, errlen, "GET %s: read error: %s", u.path, strerror(errno)); rc = TD_EIO; goto out; }
        else len += (size_t)r;
    }
    if (*blen > max_body) { snprintf(err, errlen, "body too large"); rc = TD_ENOBUFS; goto out; }
    memmove(buf, buf + resp.head_len, *blen);
    buf[*blen] = 0;
    *status = resp.status;
    *body = buf;
    buf = NULL;
    rc = TD_OK;
out:
    td_free(buf);
    conn_close(&c);
    return rc;
}
