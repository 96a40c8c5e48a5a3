/*
 * server.c: connections, I/O threads and the write-batching flush behind server.h.
 *
 * Connection states:
 *   HTTP      parsing requests (keep-alive, pipelined)
 *   WS        an open WebSocket
 *   WS_CLOSING we sent a close frame and wait for the peer's (or closing_deadline)
 *   LINGER    our side is shut down for writing; input is read and dropped until EOF or the deadline
 *             (closing with unread input would send a RST that can destroy our last response in flight)
 * Orthogonal flags: close_after_flush (go to LINGER once the queue is empty), dead (fd closed; the struct
 * is freed at the end of the turn, so pointers held during the turn stay valid).
 *
 * Invariants:
 * - c->in_dirty iff c is in io->dirty; a conn waiting for EPOLLOUT (want_write) is not added, because its
 *   flush happens on the writable event.
 * - out_bytes == the sum of q[i].len over the queue; q[qhead] may be partially written (its off advanced).
 * - Private buffers (TD_NBUF_PRIVATE) are referenced only by this conn's queue, so appending to the tail
 *   one is safe; shared buffers are never written after being queued.
 * - on_ws_close is called exactly once for a conn with ws_open_notified, before dead or on entering
 *   WS_CLOSING.
 */
#include "net/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"

#define SCRATCH_SIZE (64 * 1024)
#define RBUF_KEEP (16 * 1024)     /* an empty read buffer larger than this is freed (Redis habit) */
#define PRIVATE_BUF_MIN 2048
#define TD_NBUF_PRIVATE 1u
#define ACCEPTS_PER_EVENT 64
#define SWEEP_NS (250 * TD_NS_PER_MS)

typedef enum { ST_HTTP, ST_WS, ST_WS_CLOSING, ST_LINGER } conn_state_t;

typedef struct out_ent {
    td_nbuf_t *b;
    uint32_t off, len;
} out_ent_t;

typedef struct io io_t;

struct td_conn {
    io_t *io;
    int fd;
    uint64_t id;
    td_conn_t *prev, *next; /* io->conns list */
    conn_state_t state;
    bool close_after_flush, in_dirty, want_write, dead, ws_open_notified, keep_alive, responded, in_cap_cb;
    bool ping_sent, read_paused, sent_continue, is_head;
    bool deferred;          /* the current request is answered later (td_conn_http_defer) */
    uint32_t defer_seq;     /* which deferral a late answer belongs to */
    int64_t defer_since_ns;

    char *rbuf; /* incomplete input carried between reads */
    size_t rlen, rcap, prev_len;

    out_ent_t *q; /* ring */
    size_t qhead, qlen, qcap, out_bytes;

    td_ws_rx_t rx;
    int64_t last_rx_ns, req_start_ns, closing_deadline_ns;
    void *user;
    td_conn_t *grave_next;
};

struct io {
    td_server_t *srv;
    int idx;
    td_loop_t *loop;
    pthread_t thread;
    bool thread_started;
    int listen_fd;
    td_conn_t *conns;
    size_t nconns;
    td_conn_t **dirty;
    size_t ndirty, dirty_cap;
    td_conn_t **deferred; /* conns waiting for td_server_http_respond_later(); few, so a plain array */
    size_t ndeferred, deferred_cap;
    td_conn_t *graveyard;
    char *scratch;
    td_http_req_t req;
    td_timer_t sweep, accept_resume, drain_timer;
    bool draining;
    struct {
        _Atomic uint64_t accepted, closed, http_requests, http_errors, ws_opened, ws_messages_in,
            ws_protocol_errors, writes, bytes_out, out_cap_hits, timeouts;
    } st;
};

struct td_server {
    td_server_config_t cfg;
    io_t *io;
    int nthreads;
    uint16_t port;
    size_t rbuf_max;
    _Atomic uint64_t next_id;
    bool started, stopped;
    _Atomic bool stopping; /* read by other threads: late answers are refused once shutdown begins */
};

#define STAT_ADD(io, field, n) atomic_fetch_add_explicit(&(io)->st.field, (n), memory_order_relaxed)

static void conn_event(td_loop_t *loop, int fd, unsigned events, void *arg);
static void conn_abort(td_conn_t *c);
static void begin_linger(td_conn_t *c);
static void flush_conn(td_conn_t *c);
static size_t process_input(td_conn_t *c, char *buf, size_t len);
static void keep_tail(td_conn_t *c, char *buf, size_t total, size_t used);

/* ---- output queue ---- */

static void mark_dirty(td_conn_t *c)
{
    if (c->in_dirty || c->want_write || c->dead) return;
    io_t *io = c->io;
    if (io->ndirty == io->dirty_cap) {
        io->dirty_cap = io->dirty_cap ? io->dirty_cap * 2 : 256;
        io->dirty = td_realloc(io->dirty, io->dirty_cap * sizeof *io->dirty);
    }
    io->dirty[io->ndirty++] = c;
    c->in_dirty = true;
}

static void queue_push(td_conn_t *c, td_nbuf_t *b, uint32_t off, uint32_t len)
{
    if (c->qlen == c->qcap) {
        size_t ncap = c->qcap ? c->qcap * 2 : 16;
        out_ent_t *nq = td_malloc(ncap * sizeof *nq);
        for (size_t i = 0; i < c->qlen; i++) nq[i] = c->q[(c->qhead + i) % c->qcap];
        td_free(c->q);
        c->q = nq;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qlen) % c->qcap] = (out_ent_t){ b, off, len };
    c->qlen++;
    c->out_bytes += len;
    mark_dirty(c);
}

static void queue_clear(td_conn_t *c)
{
    for (size_t i = 0; i < c->qlen; i++) td_nbuf_unref(c->q[(c->qhead + i) % c->qcap].b);
    c->qlen = 0;
    c->qhead = 0;
    c->out_bytes = 0;
}

/* Copies into the private tail buffer when it has room, else a new private buffer. No cap check. */
static void queue_copy(td_conn_t *c, const void *data, size_t len)
{
    if (len == 0) return;
    if (c->qlen) {
        out_ent_t *t = &c->q[(c->qhead + c->qlen - 1) % c->qcap];
        if ((t->b->flags & TD_NBUF_PRIVATE) && t->off + t->len == t->b->len && t->b->cap - t->b->len >= len) {
            memcpy(t->b->data + t->b->len, data, len);
            t->b->len += (uint32_t)len;
            t->len += (uint32_t)len;
            c->out_bytes += len;
            mark_dirty(c);
            return;
        }
    }
    td_nbuf_t *b = td_nbuf_new(len > PRIVATE_BUF_MIN ? len : PRIVATE_BUF_MIN);
    b->flags = TD_NBUF_PRIVATE;
    memcpy(b->data, data, len);
    b->len = (uint32_t)len;
    queue_push(c, b, 0, (uint32_t)len);
}

static bool can_send(td_conn_t *c)
{
    return !c->dead && !c->close_after_flush && (c->state == ST_HTTP || c->state == ST_WS);
}

static int check_cap(td_conn_t *c, size_t len)
{
    td_server_t *s = c->io->srv;
    if (c->out_bytes + len <= s->cfg.out_cap) return 0;
    STAT_ADD(c->io, out_cap_hits, 1);
    if (c->in_cap_cb) return TD_ENOBUFS;
    if (s->cfg.handlers.on_out_cap) {
        c->in_cap_cb = true;
        s->cfg.handlers.on_out_cap(c, c->out_bytes, len, s->cfg.user);
        c->in_cap_cb = false;
    } else if (c->state == ST_WS) {
        td_conn_ws_close(c, TD_WS_CLOSE_POLICY, "slow consumer");
    } else {
        c->close_after_flush = true;
        mark_dirty(c);
    }
    return TD_ENOBUFS;
}

int td_conn_send_buf(td_conn_t *c, td_nbuf_t *b, size_t off, size_t len)
{
    if (!can_send(c)) return TD_EIO;
    if (off + len > b->len) return TD_EINVAL;
    if (len == 0) return 0;
    int rc = check_cap(c, len);
    if (rc) return rc;
    queue_push(c, td_nbuf_ref(b), (uint32_t)off, (uint32_t)len);
    return 0;
}

int td_conn_send_copy(td_conn_t *c, const void *data, size_t len)
{
    if (!can_send(c)) return TD_EIO;
    int rc = check_cap(c, len);
    if (rc) return rc;
    queue_copy(c, data, len);
    return 0;
}

static void ws_queue_frame(td_conn_t *c, int opcode, const void *data, size_t len)
{
    uint8_t h[10];
    size_t hn = td_ws_frame_header(h, opcode, true, len);
    queue_copy(c, h, hn);
    queue_copy(c, data, len);
}

int td_conn_ws_send(td_conn_t *c, int opcode, const void *data, size_t len)
{
    if (!can_send(c) || c->state != ST_WS) return TD_EIO;
    int rc = check_cap(c, len + 10);
    if (rc) return rc;
    ws_queue_frame(c, opcode, data, len);
    return 0;
}

/* ---- flushing: one writev per connection per turn ---- */

/* Reading stops while the peer half-closed with answers pending, or while a request is deferred (its
 * pipelined successors wait in rbuf, and the limits stay enforced by not reading more). */
static void update_mask(td_conn_t *c)
{
    unsigned mask = (c->read_paused || c->deferred ? 0 : TD_EV_READ) | (c->want_write ? TD_EV_WRITE : 0);
    td_loop_mod(c->io->loop, c->fd, mask);
}

static void set_write_interest(td_conn_t *c, bool on)
{
    if (c->want_write == on) return;
    c->want_write = on;
    update_mask(c);
}

static void flush_conn(td_conn_t *c)
{
    if (c->dead) return;
    io_t *io = c->io;
    int batch = io->srv->cfg.write_batch;
    while (c->qlen) {
        struct iovec iov[IOV_MAX];
        int n = 0;
        size_t want = 0;
        for (size_t i = 0; i < c->qlen && n < batch; i++) {
            out_ent_t *e = &c->q[(c->qhead + i) % c->qcap];
            iov[n].iov_base = e->b->data + e->off;
            iov[n].iov_len = e->len;
            want += e->len;
            n++;
        }
        /* sendmsg, not writev: MSG_NOSIGNAL turns a peer's reset into EPIPE instead of a process-killing
         * SIGPIPE, without touching the process's signal dispositions. */
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        STAT_ADD(io, writes, 1);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                set_write_interest(c, true);
                return;
            }
            conn_abort(c); /* EPIPE, ECONNRESET: the peer is gone */
            return;
        }
        STAT_ADD(io, bytes_out, (uint64_t)w);
        size_t left = (size_t)w;
        c->out_bytes -= left;
        while (left) {
            out_ent_t *e = &c->q[c->qhead];
            if (left >= e->len) {
                left -= e->len;
                td_nbuf_unref(e->b);
                c->qhead = (c->qhead + 1) % c->qcap;
                c->qlen--;
            } else {
                e->off += (uint32_t)left;
                e->len -= (uint32_t)left;
                left = 0;
            }
        }
        if ((size_t)w < want) { /* the socket buffer is full: skip the EAGAIN round trip */
            set_write_interest(c, true);
            return;
        }
    }
    c->qhead = 0;
    if (c->qcap > 256) { /* a burst grew the ring: give it back rather than hold it for the conn's life */
        td_free(c->q);
        c->q = NULL;
        c->qcap = 0;
    }
    set_write_interest(c, false);
    if (c->close_after_flush && c->state != ST_LINGER) begin_linger(c);
}

/* ---- closing ---- */

static void notify_ws_close(td_conn_t *c, uint16_t code)
{
    if (!c->ws_open_notified) return;
    c->ws_open_notified = false;
    td_server_t *s = c->io->srv;
    if (s->cfg.handlers.on_ws_close) s->cfg.handlers.on_ws_close(c, code, s->cfg.user);
}

static void undefer(td_conn_t *c)
{
    io_t *io = c->io;
    c->deferred = false;
    for (size_t i = 0; i < io->ndeferred; i++)
        if (io->deferred[i] == c) {
            io->deferred[i] = io->deferred[--io->ndeferred];
            break;
        }
}

static void conn_abort(td_conn_t *c)
{
    if (c->dead) return;
    io_t *io = c->io;
    notify_ws_close(c, TD_WS_CLOSE_ABNORMAL);
    if (c->deferred) undefer(c);
    c->dead = true;
    td_loop_del(io->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    queue_clear(c);
    if (c->prev) c->prev->next = c->next;
    else io->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    io->nconns--;
    c->grave_next = io->graveyard;
    io->graveyard = c;
    STAT_ADD(io, closed, 1);
}

static void conn_free(td_conn_t *c)
{
    td_ws_rx_free(&c->rx);
    td_free(c->rbuf);
    td_free(c->q);
    td_free(c);
}

static void begin_linger(td_conn_t *c)
{
    c->state = ST_LINGER;
    c->rlen = 0;
    c->closing_deadline_ns = td_loop_now_ns(c->io->loop) + c->io->srv->cfg.close_timeout_ms * TD_NS_PER_MS;
    if (shutdown(c->fd, SHUT_WR) != 0) {
        conn_abort(c);
        return;
    }
    if (c->deferred) undefer(c); /* its answer can no longer be sent */
    c->read_paused = false;
    update_mask(c); /* read (and drop) until EOF */
}

static void close_after_flush(td_conn_t *c)
{
    c->close_after_flush = true;
    if (c->closing_deadline_ns == 0)
        c->closing_deadline_ns = td_loop_now_ns(c->io->loop) + c->io->srv->cfg.close_timeout_ms * TD_NS_PER_MS;
    if (!c->want_write) mark_dirty(c);
}

void td_conn_ws_close(td_conn_t *c, uint16_t code, const char *reason)
{
    if (c->dead || c->state != ST_WS || c->close_after_flush) return;
    uint8_t payload[TD_WS_MAX_CONTROL];
    size_t n = td_ws_close_payload(payload, code, reason);
    ws_queue_frame(c, TD_WS_OP_CLOSE, payload, n); /* past the cap on purpose: it is the last frame */
    c->state = ST_WS_CLOSING;
    c->closing_deadline_ns = td_loop_now_ns(c->io->loop) + c->io->srv->cfg.close_timeout_ms * TD_NS_PER_MS;
    notify_ws_close(c, code);
}

void td_conn_close(td_conn_t *c)
{
    if (c->dead) return;
    if (c->state == ST_WS) td_conn_ws_close(c, TD_WS_CLOSE_NORMAL, "");
    else if (c->state == ST_HTTP) close_after_flush(c);
}

/* A protocol error from the peer: send close `code` and stop reading its messages. */
static void ws_fail(td_conn_t *c, uint16_t code, const char *why)
{
    STAT_ADD(c->io, ws_protocol_errors, 1);
    TD_LOG_RATELIMITED(TD_LOG_INFO, "net", 10, "conn %llu: websocket close %u: %s", (unsigned long long)c->id,
                       code, why);
    if (c->state == ST_WS) td_conn_ws_close(c, code, why);
    close_after_flush(c);
}

/* ---- HTTP ---- */

/* Queues head (+ body copy or a body reference). The cap applies only behind earlier queued output: one
 * response of any size is fine (the handler bounds it), an unread pipeline of them is not. */
static int http_respond(td_conn_t *c, int status, const char *content_type, const void *body, td_nbuf_t *body_buf,
                        size_t off, size_t len, const char *extra_headers)
{
    if (!can_send(c) || c->state != ST_HTTP) return TD_EIO;
    if (c->responded) return TD_EINVAL; /* one answer per request, in order */
    char head[2048];
    int hn = td_http_response_head(head, sizeof head, status, content_type, len, c->keep_alive, extra_headers);
    if (hn < 0) return hn;
    if (c->out_bytes) {
        int rc = check_cap(c, (size_t)hn + len);
        if (rc) return rc;
    }
    queue_copy(c, head, (size_t)hn);
    if (c->is_head) len = 0; /* same head, Content-Length included; no body (RFC 9110 9.3.2) */
    if (body_buf && len) queue_push(c, td_nbuf_ref(body_buf), (uint32_t)off, (uint32_t)len);
    else queue_copy(c, body, len);
    c->responded = true;
    if (!c->keep_alive) close_after_flush(c);
    return 0;
}

int td_conn_http_respond(td_conn_t *c, int status, const char *content_type, const void *body, size_t len,
                         const char *extra_headers)
{
    return http_respond(c, status, content_type, body, NULL, 0, len, extra_headers);
}

int td_conn_http_respond_buf(td_conn_t *c, int status, const char *content_type, td_nbuf_t *body, size_t off,
                             size_t len, const char *extra_headers)
{
    if (off + len > body->len) return TD_EINVAL;
    return http_respond(c, status, content_type, NULL, body, off, len, extra_headers);
}

int td_conn_http_error(td_conn_t *c, int status, const char *code, const char *message, const char *extra_headers)
{
    char body[1024];
    int n = td_http_error_body(body, sizeof body, code ? code : td_http_error_code(status), message ? message : "");
    if (n < 0) n = td_http_error_body(body, sizeof body, td_http_error_code(status), "error");
    if (status >= 400 && status < 500) STAT_ADD(c->io, http_errors, 1);
    return td_conn_http_respond(c, status, "application/json", body, (size_t)n, extra_headers);
}

/* ---- deferred answers ---- */

td_conn_handle_t td_conn_http_defer(td_conn_t *c)
{
    td_conn_handle_t h = { .id = c->id, .seq = 0, .thread = c->io->idx };
    if (!can_send(c) || c->state != ST_HTTP || c->responded || c->deferred) return h; /* seq 0 never matches */
    io_t *io = c->io;
    if (io->ndeferred == io->deferred_cap) {
        io->deferred_cap = io->deferred_cap ? io->deferred_cap * 2 : 16;
        io->deferred = td_realloc(io->deferred, io->deferred_cap * sizeof *io->deferred);
    }
    io->deferred[io->ndeferred++] = c;
    c->deferred = true;
    c->defer_seq = c->defer_seq + 1 ? c->defer_seq + 1 : 1;
    c->defer_since_ns = td_loop_now_ns(io->loop);
    h.seq = c->defer_seq;
    return h;
}

typedef struct late_answer {
    io_t *io;
    td_conn_handle_t h;
    int status;
    char *content_type, *extra_headers;
    td_nbuf_t *body;
} late_answer_t;

/* After a deferred request is answered: parse what was pipelined behind it, then read again. */
static void resume(td_conn_t *c)
{
    if (c->rlen && !c->dead) keep_tail(c, c->rbuf, c->rlen, process_input(c, c->rbuf, c->rlen));
    if (!c->dead) update_mask(c);
}

static void deliver_late(td_loop_t *loop, void *arg)
{
    late_answer_t *a = arg;
    io_t *io = a->io;
    td_conn_t *c = NULL;
    for (size_t i = 0; i < io->ndeferred; i++)
        if (io->deferred[i]->id == a->h.id && io->deferred[i]->defer_seq == a->h.seq) c = io->deferred[i];
    if (c) { /* else the client left or the request timed out: the answer has nobody to go to */
        undefer(c);
        c->responded = false;
        if (a->body) http_respond(c, a->status, a->content_type, NULL, a->body, 0, a->body->len, a->extra_headers);
        else http_respond(c, a->status, a->content_type, "", NULL, 0, 0, a->extra_headers);
        resume(c);
    }
    td_nbuf_unref(a->body);
    td_free(a->content_type);
    td_free(a->extra_headers);
    td_free(a);
}

int td_server_http_respond_later(td_server_t *s, td_conn_handle_t h, int status, const char *content_type,
                                 td_nbuf_t *body, const char *extra_headers)
{
    if (h.thread < 0 || h.thread >= s->nthreads || h.seq == 0) return TD_EINVAL;
    if (atomic_load(&s->stopping)) return TD_EIO; /* a post to a stopped loop would never run */
    late_answer_t *a = td_calloc(1, sizeof *a);
    a->io = &s->io[h.thread];
    a->h = h;
    a->status = status;
    a->content_type = content_type ? td_strdup(content_type) : NULL;
    a->extra_headers = extra_headers ? td_strdup(extra_headers) : NULL;
    a->body = body ? td_nbuf_ref(body) : NULL;
    int rc = td_loop_post(a->io->loop, deliver_late, a);
    if (rc != 0) {
        td_nbuf_unref(a->body);
        td_free(a->content_type);
        td_free(a->extra_headers);
        td_free(a);
    }
    return rc;
}

static void handle_upgrade(td_conn_t *c, const td_http_req_t *req)
{
    td_server_t *s = c->io->srv;
    char accept[29];
    int status;
    const char *why;
    if (td_ws_check_upgrade(req, accept, &status, &why) != 0) {
        c->keep_alive = false;
        td_conn_http_error(c, status, NULL, why, status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL);
        return;
    }
    const char *proto = NULL;
    if (s->cfg.handlers.on_ws_upgrade) {
        int st = s->cfg.handlers.on_ws_upgrade(c, req, &proto, s->cfg.user);
        if (st != 0) {
            if (!c->responded) td_conn_http_error(c, st, NULL, td_http_reason(st), NULL);
            return;
        }
    }
    char resp[512];
    int n = td_ws_handshake_response(resp, sizeof resp, accept, proto);
    if (n < 0) {
        td_conn_http_error(c, 500, NULL, "subprotocol name too long", NULL);
        return;
    }
    queue_copy(c, resp, (size_t)n);
    c->responded = true;
    c->state = ST_WS;
    td_ws_rx_init(&c->rx, s->cfg.ws_max_message, true);
    c->ws_open_notified = true;
    STAT_ADD(c->io, ws_opened, 1);
    if (s->cfg.handlers.on_ws_open) s->cfg.handlers.on_ws_open(c, req, s->cfg.user);
}

static void handle_request(td_conn_t *c, const td_http_req_t *req)
{
    td_server_t *s = c->io->srv;
    STAT_ADD(c->io, http_requests, 1);
    c->responded = false;
    c->keep_alive = req->keep_alive && !c->io->draining;
    c->is_head = td_slice_eq(req->method, "HEAD");
    if (td_ws_is_upgrade(req)) {
        handle_upgrade(c, req);
        return;
    }
    if (s->cfg.handlers.on_http_request) s->cfg.handlers.on_http_request(c, req, s->cfg.user);
    else td_conn_http_error(c, 404, NULL, "no such route", NULL);
    if (c->deferred) {
        update_mask(c);
        return;
    }
    if (!c->responded && can_send(c)) {
        td_log_error("net", "handler did not answer %.*s %.*s", (int)req->method.n, req->method.p,
                     (int)req->path.n, req->path.p);
        td_conn_http_error(c, 500, NULL, "the handler produced no response", NULL);
    }
}

/* ---- input ---- */

static void handle_ws_msg(td_conn_t *c, const td_ws_msg_t *m)
{
    td_server_t *s = c->io->srv;
    switch (m->kind) {
    case TD_WS_TEXT:
    case TD_WS_BINARY:
        if (c->state != ST_WS) return; /* after our close frame, data is dropped (RFC 6455 5.5.1) */
        STAT_ADD(c->io, ws_messages_in, 1);
        if (s->cfg.handlers.on_ws_message)
            s->cfg.handlers.on_ws_message(c, m->kind == TD_WS_TEXT ? TD_WS_OP_TEXT : TD_WS_OP_BINARY, m->data,
                                          m->len, s->cfg.user);
        return;
    case TD_WS_PING:
        if (c->state == ST_WS) ws_queue_frame(c, TD_WS_OP_PONG, m->data, m->len);
        return;
    case TD_WS_CLOSE:
        if (c->state == ST_WS) {
            /* The peer starts the handshake: echo its code (none if it sent none), then close. */
            uint8_t payload[2];
            size_t n = 0;
            if (m->close_code != TD_WS_CLOSE_NO_STATUS) {
                payload[0] = (uint8_t)(m->close_code >> 8);
                payload[1] = (uint8_t)m->close_code;
                n = 2;
            }
            ws_queue_frame(c, TD_WS_OP_CLOSE, payload, n);
            c->state = ST_WS_CLOSING;
            notify_ws_close(c, m->close_code);
        }
        close_after_flush(c);
        return;
    default:
        return;
    }
}

/* Parses as much of buf as possible; returns the bytes consumed. */
static size_t process_input(td_conn_t *c, char *buf, size_t len)
{
    io_t *io = c->io;
    td_server_t *s = io->srv;
    size_t off = 0;
    while (off < len && !c->dead && !c->close_after_flush && !c->deferred) {
        if (c->state == ST_HTTP) {
            int rc = td_http_parse_request(buf + off, len - off, off == 0 ? c->prev_len : 0, &s->cfg.http, &io->req);
            if (rc == TD_EAGAIN) {
                c->prev_len = io->req.head_len ? 0 : len - off;
                if (!c->req_start_ns) c->req_start_ns = td_loop_now_ns(io->loop);
                /* curl waits a second for this before sending a body over 1 KiB */
                if (io->req.head_len && !c->sent_continue &&
                    td_http_header_has_token(&io->req, "expect", "100-continue")) {
                    queue_copy(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                    c->sent_continue = true;
                }
                break;
            }
            c->prev_len = 0;
            c->req_start_ns = 0;
            c->sent_continue = false;
            if (rc < 0) {
                c->keep_alive = false;
                c->responded = false;
                td_conn_http_error(c, io->req.status, NULL, io->req.error, NULL);
                close_after_flush(c);
                break;
            }
            off += (size_t)rc;
            handle_request(c, &io->req);
        } else if (c->state == ST_WS || c->state == ST_WS_CLOSING) {
            td_ws_msg_t m;
            int rc = td_ws_rx_feed(&c->rx, buf + off, len - off, &m);
            if (rc == TD_EAGAIN) break;
            if (rc < 0) {
                ws_fail(c, c->rx.close_code, c->rx.error);
                break;
            }
            off += (size_t)rc;
            handle_ws_msg(c, &m);
        } else {
            break;
        }
    }
    return off;
}

static void conn_read(td_conn_t *c)
{
    io_t *io = c->io;
    td_server_t *s = io->srv;
    if (c->state == ST_LINGER) {
        ssize_t r = read(c->fd, io->scratch, SCRATCH_SIZE);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) conn_abort(c);
        return;
    }
    char *buf;
    size_t space;
    if (c->rlen == 0) {
        buf = io->scratch;
        space = SCRATCH_SIZE;
    } else {
        if (c->rcap - c->rlen < 4096 && c->rcap < s->rbuf_max) {
            size_t ncap = c->rcap * 2 > c->rlen + 4096 ? c->rcap * 2 : c->rlen + 4096;
            if (ncap > s->rbuf_max) ncap = s->rbuf_max;
            c->rbuf = td_realloc(c->rbuf, ncap);
            c->rcap = ncap;
        }
        if (c->rlen == c->rcap) { /* cannot happen: the parsers reject anything this large first */
            conn_abort(c);
            return;
        }
        buf = c->rbuf;
        space = c->rcap - c->rlen;
    }
    char *dst = buf == c->rbuf ? c->rbuf + c->rlen : buf;
    ssize_t r = read(c->fd, dst, space);
    if (r < 0) {
        if (errno != EAGAIN && errno != EINTR) conn_abort(c);
        return;
    }
    if (r == 0) {
        /* EOF. A client that half-closes after its requests still gets the answers already queued. */
        if (c->qlen && c->state == ST_HTTP) {
            c->read_paused = true;
            update_mask(c);
            c->keep_alive = false;
            close_after_flush(c);
        } else {
            conn_abort(c);
        }
        return;
    }
    c->last_rx_ns = td_loop_now_ns(io->loop);
    c->ping_sent = false;
    size_t total = (buf == c->rbuf ? c->rlen : 0) + (size_t)r;
    keep_tail(c, buf, total, process_input(c, buf, total));
}

/* Keeps the unparsed tail of buf (the thread's scratch or c->rbuf) in c->rbuf for the next read. */
static void keep_tail(td_conn_t *c, char *buf, size_t total, size_t used)
{
    io_t *io = c->io;
    if (c->dead) return;
    size_t left = total - used;
    if (c->close_after_flush || c->state == ST_LINGER) left = 0; /* the rest will never be parsed */
    if (buf == io->scratch) {
        if (left) {
            if (c->rcap < left) {
                size_t ncap = left > 4096 ? left : 4096;
                td_free(c->rbuf);
                c->rbuf = td_malloc(ncap);
                c->rcap = ncap;
            }
            memcpy(c->rbuf, buf + used, left);
        }
    } else if (left && used) {
        memmove(c->rbuf, c->rbuf + used, left);
    }
    c->rlen = left;
    if (c->rlen == 0 && c->rcap > RBUF_KEEP) {
        td_free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
}

static void conn_event(td_loop_t *loop, int fd, unsigned events, void *arg)
{
    td_conn_t *c = arg;
    if (events & TD_EV_WRITE) flush_conn(c);
    if (!c->dead && (events & TD_EV_READ)) conn_read(c);
    if (!c->dead && (events & TD_EV_ERROR) && !(events & TD_EV_READ)) conn_abort(c);
}

/* ---- accept ---- */

static void accept_resume(td_loop_t *loop, void *arg)
{
    io_t *io = arg;
    if (io->listen_fd >= 0) td_loop_mod(loop, io->listen_fd, TD_EV_READ);
}

static void on_accept(td_loop_t *loop, int lfd, unsigned events, void *arg)
{
    io_t *io = arg;
    td_server_t *s = io->srv;
    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
            /* Out of fds: with level triggering the listener would fire in a busy loop, so pause it. */
            TD_LOG_RATELIMITED(TD_LOG_WARN, "net", 1, "accept: %s; pausing accepts for 100 ms", strerror(errno));
            td_loop_mod(loop, lfd, 0);
            td_timer_start(loop, &io->accept_resume, 100 * TD_NS_PER_MS);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        td_conn_t *c = td_calloc(1, sizeof *c);
        c->io = io;
        c->fd = fd;
        c->id = atomic_fetch_add(&s->next_id, 1) + 1;
        c->state = ST_HTTP;
        c->last_rx_ns = td_loop_now_ns(loop);
        if (td_loop_add(loop, fd, TD_EV_READ, conn_event, c) != 0) {
            TD_LOG_RATELIMITED(TD_LOG_WARN, "net", 1, "fd %d beyond the loop's table; dropped", fd);
            close(fd);
            td_free(c);
            continue;
        }
        c->next = io->conns;
        if (io->conns) io->conns->prev = c;
        io->conns = c;
        io->nconns++;
        STAT_ADD(io, accepted, 1);
    }
}

/* ---- per-turn work, timeouts, shutdown ---- */

static int turn_hook(td_loop_t *loop, void *arg)
{
    io_t *io = arg;
    td_server_t *s = io->srv;
    int busy = 0;
    if (s->cfg.handlers.on_turn) busy = s->cfg.handlers.on_turn(s, io->idx, s->cfg.user);
    /* Flushing can mark more conns dirty only by closing them (begin_linger does not queue), so one pass
     * over the list as it grows is complete. */
    for (size_t i = 0; i < io->ndirty; i++) {
        td_conn_t *c = io->dirty[i];
        c->in_dirty = false;
        flush_conn(c);
    }
    io->ndirty = 0;
    while (io->graveyard) {
        td_conn_t *c = io->graveyard;
        io->graveyard = c->grave_next;
        conn_free(c);
    }
    if (io->draining && io->nconns == 0) td_loop_stop(loop);
    return busy;
}

static void sweep(td_loop_t *loop, void *arg)
{
    io_t *io = arg;
    td_server_t *s = io->srv;
    int64_t now = td_loop_now_ns(loop);
    int64_t idle_ns = s->cfg.idle_timeout_ms * TD_NS_PER_MS;
    int64_t req_ns = s->cfg.request_timeout_ms * TD_NS_PER_MS;
    int64_t ping_ns = s->cfg.ws_ping_interval_ms * TD_NS_PER_MS;
    td_conn_t *next;
    for (td_conn_t *c = io->conns; c; c = next) {
        next = c->next; /* c may be aborted below */
        if (c->state == ST_LINGER || c->state == ST_WS_CLOSING || c->close_after_flush) {
            if (now > c->closing_deadline_ns) {
                STAT_ADD(io, timeouts, 1);
                conn_abort(c);
            }
        } else if (c->state == ST_HTTP) {
            if (c->deferred && now - c->defer_since_ns > req_ns) {
                STAT_ADD(io, timeouts, 1);
                undefer(c); /* a late answer for this deferral is now dropped (defer_seq) */
                c->responded = false;
                td_conn_http_error(c, 503, NULL, "the answer took too long", "Retry-After: 1\r\n");
                resume(c);
            } else if (c->deferred) {
                /* waiting for the application, not for the client */
            } else if (c->req_start_ns && now - c->req_start_ns > req_ns) {
                STAT_ADD(io, timeouts, 1);
                c->keep_alive = false;
                c->responded = false;
                td_conn_http_error(c, 408, NULL, "request not completed in time", NULL);
                close_after_flush(c);
            } else if (!c->req_start_ns && c->qlen == 0 && now - c->last_rx_ns > idle_ns) {
                STAT_ADD(io, timeouts, 1);
                close_after_flush(c);
            }
        } else if (c->state == ST_WS && ping_ns > 0) {
            if (now - c->last_rx_ns > 2 * ping_ns) {
                STAT_ADD(io, timeouts, 1);
                td_conn_ws_close(c, TD_WS_CLOSE_GOING_AWAY, "ping timeout");
            } else if (now - c->last_rx_ns > ping_ns && !c->ping_sent) {
                ws_queue_frame(c, TD_WS_OP_PING, "", 0);
                c->ping_sent = true;
            }
        }
    }
    td_timer_start(loop, &io->sweep, SWEEP_NS);
}

static void drain_deadline(td_loop_t *loop, void *arg)
{
    io_t *io = arg;
    while (io->conns) conn_abort(io->conns);
    td_loop_stop(loop);
}

static void drain_start(td_loop_t *loop, void *arg)
{
    io_t *io = arg;
    if (io->draining) return;
    io->draining = true;
    if (io->listen_fd >= 0) {
        td_loop_del(loop, io->listen_fd);
        close(io->listen_fd);
        io->listen_fd = -1;
    }
    td_conn_t *next;
    for (td_conn_t *c = io->conns; c; c = next) {
        next = c->next;
        if (c->state == ST_WS) td_conn_ws_close(c, TD_WS_CLOSE_GOING_AWAY, "server shutting down");
        else if (c->state == ST_HTTP && c->deferred) c->keep_alive = false; /* close after its answer */
        else if (c->state == ST_HTTP && !c->req_start_ns) close_after_flush(c);
    }
    td_timer_start(loop, &io->drain_timer, io->srv->cfg.close_timeout_ms * TD_NS_PER_MS);
}

static void on_wake(td_loop_t *loop, void *arg)
{
    io_t *io = arg;
    if (io->srv->cfg.handlers.on_wake) io->srv->cfg.handlers.on_wake(io->srv, io->idx, io->srv->cfg.user);
}

static void *io_main(void *arg)
{
    io_t *io = arg;
    td_loop_run(io->loop);
    return NULL;
}

/* ---- server ---- */

td_server_t *td_server_create(const td_server_config_t *cfg)
{
    td_server_t *s = td_calloc(1, sizeof *s);
    s->cfg = *cfg;
    td_server_config_t *c = &s->cfg;
    if (!c->host) c->host = "127.0.0.1";
    if (c->threads <= 0) c->threads = 1;
    if (c->backlog <= 0) c->backlog = 1024;
    if (c->http.max_head == 0) c->http = td_http_default_limits;
    if (c->ws_max_message == 0) c->ws_max_message = 64 * 1024;
    if (c->out_cap == 0) c->out_cap = 4u << 20;
    if (c->write_batch <= 0 || c->write_batch > IOV_MAX) c->write_batch = IOV_MAX;
    if (c->idle_timeout_ms <= 0) c->idle_timeout_ms = 60000;
    if (c->request_timeout_ms <= 0) c->request_timeout_ms = 10000;
    if (c->ws_ping_interval_ms == 0) c->ws_ping_interval_ms = 30000;
    if (c->close_timeout_ms <= 0) c->close_timeout_ms = 3000;
    if (c->http.max_head + c->http.max_body > INT_MAX / 2 || c->ws_max_message > INT_MAX / 2) {
        td_log_error("net", "server limits too large");
        td_free(s);
        return NULL;
    }
    s->rbuf_max = c->http.max_head + c->http.max_body;
    if (c->ws_max_message + TD_WS_MAX_HEADER > s->rbuf_max) s->rbuf_max = c->ws_max_message + TD_WS_MAX_HEADER;

    struct rlimit rl;
    int max_fds = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)(1 << 24))
        max_fds = (int)rl.rlim_cur;
    s->nthreads = c->threads;
    s->io = td_calloc((size_t)s->nthreads, sizeof *s->io);
    for (int i = 0; i < s->nthreads; i++) {
        io_t *io = &s->io[i];
        io->srv = s;
        io->idx = i;
        io->listen_fd = -1;
        io->loop = td_loop_create(max_fds);
        if (!io->loop) {
            td_server_destroy(s);
            return NULL;
        }
        io->scratch = td_malloc(SCRATCH_SIZE);
        td_timer_init(&io->sweep, sweep, io);
        td_timer_init(&io->accept_resume, accept_resume, io);
        td_timer_init(&io->drain_timer, drain_deadline, io);
        td_loop_add_hook(io->loop, turn_hook, io);
        td_loop_set_wake_cb(io->loop, on_wake, io);
    }
    return s;
}

static int listen_socket(const td_server_t *s, uint16_t port, uint16_t *bound)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sa4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)&ss;
    socklen_t sl;
    if (inet_pton(AF_INET, s->cfg.host, &sa4->sin_addr) == 1) {
        sa4->sin_family = AF_INET;
        sa4->sin_port = htons(port);
        sl = sizeof *sa4;
    } else if (inet_pton(AF_INET6, s->cfg.host, &sa6->sin6_addr) == 1) {
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons(port);
        sl = sizeof *sa6;
    } else {
        td_log_error("net", "bad listen address %s (an IPv4 or IPv6 literal)", s->cfg.host);
        return TD_EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, s->cfg.backlog) != 0) {
        int e = -errno;
        td_log_error("net", "listen on %s:%u: %s", s->cfg.host, port, strerror(errno));
        close(fd);
        return e;
    }
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound = ntohs(ss.ss_family == AF_INET ? sa4->sin_port : sa6->sin6_port);
    return fd;
}

int td_server_start(td_server_t *s)
{
    if (s->started) return TD_EINVAL;
    uint16_t port = s->cfg.port;
    for (int i = 0; i < s->nthreads; i++) {
        /* The first socket picks the port (maybe 0 -> free); the others join it through SO_REUSEPORT. */
        int fd = listen_socket(s, port, &port);
        if (fd < 0) {
            for (int k = 0; k < i; k++) {
                close(s->io[k].listen_fd);
                s->io[k].listen_fd = -1;
            }
            return fd;
        }
        s->io[i].listen_fd = fd;
    }
    s->port = port;
    for (int i = 0; i < s->nthreads; i++) {
        io_t *io = &s->io[i];
        td_loop_add(io->loop, io->listen_fd, TD_EV_READ, on_accept, io);
        td_timer_start(io->loop, &io->sweep, SWEEP_NS);
    }
    s->started = true;
    for (int i = 0; i < s->nthreads; i++) {
        int rc = pthread_create(&s->io[i].thread, NULL, io_main, &s->io[i]);
        if (rc != 0) {
            td_log_error("net", "pthread_create: %s", strerror(rc));
            td_server_stop(s);
            return -rc;
        }
        s->io[i].thread_started = true;
    }
    td_log_info("net", "listening on %s:%u with %d I/O thread(s)", s->cfg.host, s->port, s->nthreads);
    return 0;
}

uint16_t td_server_port(const td_server_t *s) { return s->port; }
int td_server_threads(const td_server_t *s) { return s->nthreads; }
td_loop_t *td_server_loop(td_server_t *s, int thread) { return s->io[thread].loop; }

int td_server_post(td_server_t *s, int thread, td_post_cb fn, void *arg)
{
    if (thread < 0 || thread >= s->nthreads) return TD_EINVAL;
    return td_loop_post(s->io[thread].loop, fn, arg);
}

void td_server_wake(td_server_t *s, int thread)
{
    if (thread >= 0 && thread < s->nthreads) td_loop_wake(s->io[thread].loop);
}

void td_server_stop(td_server_t *s)
{
    if (!s->started || s->stopped) return;
    s->stopped = true;
    atomic_store(&s->stopping, true);
    for (int i = 0; i < s->nthreads; i++) {
        if (!s->io[i].thread_started) continue;
        if (td_loop_post(s->io[i].loop, drain_start, &s->io[i]) != 0) td_loop_stop(s->io[i].loop);
    }
    for (int i = 0; i < s->nthreads; i++)
        if (s->io[i].thread_started) pthread_join(s->io[i].thread, NULL);
}

void td_server_destroy(td_server_t *s)
{
    if (!s) return;
    td_server_stop(s);
    for (int i = 0; i < s->nthreads; i++) {
        io_t *io = &s->io[i];
        if (!io->loop) continue;
        while (io->conns) conn_abort(io->conns); /* no-op after a stop; covers a never-started server */
        while (io->graveyard) {
            td_conn_t *c = io->graveyard;
            io->graveyard = c->grave_next;
            conn_free(c);
        }
        if (io->listen_fd >= 0) close(io->listen_fd);
        td_loop_destroy(io->loop);
        td_free(io->dirty);
        td_free(io->deferred);
        td_free(io->scratch);
    }
    td_free(s->io);
    td_free(s);
}

void td_server_stats(const td_server_t *s, td_server_stats_t *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < s->nthreads; i++) {
        const io_t *io = &s->io[i];
#define SUM(f) out->f += atomic_load_explicit(&io->st.f, memory_order_relaxed)
        SUM(accepted); SUM(closed); SUM(http_requests); SUM(http_errors); SUM(ws_opened); SUM(ws_messages_in);
        SUM(ws_protocol_errors); SUM(writes); SUM(bytes_out); SUM(out_cap_hits); SUM(timeouts);
#undef SUM
    }
}

size_t td_server_each_ws(td_server_t *s, int thread, void (*fn)(td_conn_t *c, void *arg), void *arg)
{
    size_t n = 0;
    td_conn_t *next;
    for (td_conn_t *c = s->io[thread].conns; c; c = next) {
        next = c->next;
        if (c->dead || c->state != ST_WS || c->close_after_flush) continue;
        fn(c, arg);
        n++;
    }
    return n;
}

void td_conn_set_user(td_conn_t *c, void *user) { c->user = user; }
void *td_conn_user(const td_conn_t *c) { return c->user; }
uint64_t td_conn_id(const td_conn_t *c) { return c->id; }
int td_conn_thread(const td_conn_t *c) { return c->io->idx; }
td_server_t *td_conn_server(const td_conn_t *c) { return c->io->srv; }
size_t td_conn_out_bytes(const td_conn_t *c) { return c->out_bytes; }
bool td_conn_is_ws(const td_conn_t *c) { return !c->dead && c->state == ST_WS && !c->close_after_flush; }
