/*
 * server.h: the HTTP/1.1 + WebSocket server: N I/O threads, each with its own epoll loop and its own
 * SO_REUSEPORT listening socket, so a connection lives and dies on one thread and needs no locks.
 *
 * Output model (the point of this module): every connection has a queue of references to refcounted
 * buffers (td_nbuf_t). A message for many clients is framed once and td_conn_send_buf() only takes a
 * reference. Nothing is written when something is queued: the connection is marked dirty, and at the end of
 * the loop turn (after handlers, timers and the on_turn handler) each dirty connection gets ONE writev of
 * everything queued for it. This joining of frames is what turns 0.1 M deliveries/s into millions
 * (DEPENDENCIES.md). A partial write arms EPOLLOUT and the rest goes when the socket drains. Each connection
 * has an output cap; going over it calls on_out_cap (the API layer's slow-consumer policy: conflate, then
 * close 1008); without a handler the connection is closed with 1008.
 *
 * Input: reads go into a per-thread scratch buffer and are parsed in place (zero-copy requests and frames);
 * only an incomplete tail is copied into the connection's own buffer, so 10k idle clients hold no read
 * memory. Request and frame sizes are capped by td_http_limits_t and ws_max_message.
 *
 * Lifetimes: req, data and slices passed to handlers are valid only during the call. A td_conn_t stays
 * valid until the end of the loop turn in which it closed, and on_ws_close is the last callback for it:
 * after on_ws_close, drop every reference to the connection.
 *
 * Threading: handlers run on the connection's I/O thread; td_conn_* functions may only be called there.
 * td_server_post(), td_server_wake() and td_server_stop() may be called from any thread except an I/O
 * thread (stop joins them). td_nbuf_t references may cross threads.
 */
#ifndef TD_NET_SERVER_H
#define TD_NET_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/buf.h"
#include "net/http.h"
#include "net/loop.h"
#include "net/ws.h"

typedef struct td_server td_server_t;
typedef struct td_conn td_conn_t;

typedef struct td_server_handlers {
    /* A plain HTTP request. Answer with td_conn_http_respond()/td_conn_http_error() before returning, or
     * take a handle with td_conn_http_defer() and answer later; returning with neither becomes a 500.
     * Answers stay in request order (pipelining). HEAD: answer as for GET, the body is left out. NULL: 404. */
    void (*on_http_request)(td_conn_t *c, const td_http_req_t *req, void *user);
    /* A valid WebSocket upgrade request: return 0 to accept (optionally setting *subprotocol to a string
     * that outlives the call, e.g. a literal), or an HTTP status (401, 403, 404...) to refuse with a JSON
     * error. NULL: accept everything. */
    int (*on_ws_upgrade)(td_conn_t *c, const td_http_req_t *req, const char **subprotocol, void *user);
    /* After the 101 response was queued; req is the upgrade request (path, query, headers). */
    void (*on_ws_open)(td_conn_t *c, const td_http_req_t *req, void *user);
    /* A complete text or binary message (opcode TD_WS_OP_TEXT/BINARY); text is valid UTF-8. */
    void (*on_ws_message)(td_conn_t *c, int opcode, const char *data, size_t len, void *user);
    /* The WebSocket session ended: code is what was sent or received (1006: the TCP connection just ended).
     * Called exactly once for every connection that got on_ws_open; nothing can be sent to it afterwards. */
    void (*on_ws_close)(td_conn_t *c, uint16_t code, void *user);
    /* Queuing `want` more bytes would pass out_cap (`queued` already waiting). The send that triggered it
     * returns TD_ENOBUFS and queued nothing. The handler may drop, conflate or close. NULL: close 1008. */
    void (*on_out_cap)(td_conn_t *c, size_t queued, size_t want, void *user);
    /* Once per loop turn of each I/O thread, before the flush: drain the engine's out-event ring here.
     * Return nonzero if there is more to do right away (the loop then polls instead of sleeping). */
    int (*on_turn)(td_server_t *s, int thread, void *user);
    /* After td_server_wake(s, thread) from any thread (coalesced). */
    void (*on_wake)(td_server_t *s, int thread, void *user);
} td_server_handlers_t;

typedef struct td_server_config {
    const char *host;            /* an IPv4 or IPv6 literal; default "127.0.0.1" */
    uint16_t port;               /* 0: a free port; read it back with td_server_port() */
    int threads;                 /* I/O threads, default 1 */
    int backlog;                 /* default 1024 */
    td_http_limits_t http;       /* zeros: td_http_default_limits */
    size_t ws_max_message;       /* default 64 KiB -> close 1009 */
    size_t out_cap;              /* per-connection queued output, default 4 MiB (one HTTP response may pass it) */
    int write_batch;             /* buffers per writev, default 1024 (IOV_MAX); 1 = one write per buffer */
    int64_t idle_timeout_ms;     /* HTTP keep-alive idle, default 60000 */
    int64_t request_timeout_ms;  /* a started request must be complete within this, default 10000 (408) */
    int64_t ws_ping_interval_ms; /* ping after this much silence, close after twice; default 30000, <0 off */
    int64_t close_timeout_ms;    /* closing handshake / lingering close / shutdown grace, default 3000 */
    td_server_handlers_t handlers;
    void *user;                  /* passed to every handler */
} td_server_config_t;

typedef struct td_server_stats {
    uint64_t accepted, closed, http_requests, http_errors, ws_opened, ws_messages_in, ws_protocol_errors;
    uint64_t writes, bytes_out, out_cap_hits, timeouts;
} td_server_stats_t;

td_server_t *td_server_create(const td_server_config_t *cfg); /* NULL on a bad config (logged) */
int td_server_start(td_server_t *s);   /* binds, listens, starts the threads; negative errno on failure */
uint16_t td_server_port(const td_server_t *s);
/* Graceful: stop accepting, close WebSockets with 1001, finish queued output, wait at most
 * close_timeout_ms, then join the threads. Idempotent. Not from an I/O thread. */
void td_server_stop(td_server_t *s);
void td_server_destroy(td_server_t *s); /* stops first if needed; NULL is a no-op */

int td_server_threads(const td_server_t *s);
td_loop_t *td_server_loop(td_server_t *s, int thread);
int td_server_post(td_server_t *s, int thread, td_post_cb fn, void *arg); /* run fn on that I/O thread */
void td_server_wake(td_server_t *s, int thread);                         /* -> on_wake, any thread */
void td_server_stats(const td_server_t *s, td_server_stats_t *out);     /* approximate, any thread */

/* Calls fn for every open WebSocket of this I/O thread (call on that thread); returns how many. Closing a
 * connection inside fn is allowed. */
size_t td_server_each_ws(td_server_t *s, int thread, void (*fn)(td_conn_t *c, void *arg), void *arg);

/* ---- connections (on their I/O thread only) ---- */

/* Queues a reference to b->data[off, off+len). 0, TD_ENOBUFS (over out_cap, see on_out_cap) or TD_EIO (the
 * connection is closing). The buffer must not change afterwards. */
int td_conn_send_buf(td_conn_t *c, td_nbuf_t *b, size_t off, size_t len);
/* Queues a copy (small per-client messages; consecutive copies share one buffer). Same returns. */
int td_conn_send_copy(td_conn_t *c, const void *data, size_t len);
/* Frames and queues one WebSocket message (a copy). For one payload to many clients use
 * td_ws_frame_nbuf() + td_conn_send_buf(). */
int td_conn_ws_send(td_conn_t *c, int opcode, const void *data, size_t len);
/* Starts the closing handshake (code 1000-4999, reason cut to fit). on_ws_close runs before it returns. */
void td_conn_ws_close(td_conn_t *c, uint16_t code, const char *reason);

/* Answers the current request. content_type NULL: none; extra_headers: "Name: value\r\n" lines or NULL. */
int td_conn_http_respond(td_conn_t *c, int status, const char *content_type, const void *body, size_t len,
                         const char *extra_headers);
/* Same, with the body as a reference to a shared buffer (a cached response sent to many clients). */
int td_conn_http_respond_buf(td_conn_t *c, int status, const char *content_type, td_nbuf_t *body, size_t off,
                             size_t len, const char *extra_headers);
/* API.md JSON error; code NULL: td_http_error_code(status). */
int td_conn_http_error(td_conn_t *c, int status, const char *code, const char *message, const char *extra_headers);

/* Deferred answers (a store query that must not block the I/O thread). Inside on_http_request, take a
 * handle and return without answering; reading from this connection pauses (pipelined requests wait).
 * Later, from any thread, td_server_http_respond_later() answers it (body may be NULL; it is referenced,
 * strings are copied) and the connection resumes. An answer for a connection that closed, or for a
 * request that already got 503 after request_timeout_ms, is dropped. 0, TD_EINVAL or TD_ENOBUFS. */
typedef struct td_conn_handle {
    uint64_t id;
    uint32_t seq;
    int thread;
} td_conn_handle_t;
td_conn_handle_t td_conn_http_defer(td_conn_t *c);
int td_server_http_respond_later(td_server_t *s, td_conn_handle_t h, int status, const char *content_type,
                                 td_nbuf_t *body, const char *extra_headers);

/* Graceful close: a WebSocket gets close 1000; HTTP finishes its queued output first. */
void td_conn_close(td_conn_t *c);

void td_conn_set_user(td_conn_t *c, void *user);
void *td_conn_user(const td_conn_t *c);
uint64_t td_conn_id(const td_conn_t *c);      /* unique per server */
int td_conn_thread(const td_conn_t *c);
td_server_t *td_conn_server(const td_conn_t *c);
size_t td_conn_out_bytes(const td_conn_t *c); /* queued, not yet written */
bool td_conn_is_ws(const td_conn_t *c);       /* an open WebSocket (not closing) */

#endif
