/*
 * api_internal.h: what api.c (lifecycle, metrics), rest.c (REST routes) and stream.c (WebSocket
 * fan-out) share. Not for use outside src/api.
 *
 * Threading: a thread_t belongs to its I/O thread; its counters are written by that thread only (relaxed
 * load + store) and read by any thread for /metrics.
 */
#ifndef TD_API_INTERNAL_H
#define TD_API_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "api/api.h"
#include "store/store.h"
#include "api/jbuf.h"
#include "api/recent.h"
#include "core/bcast.h"
#include "net/server.h"
#include "obs/metrics.h"

#define API_MAX_BODY (8u << 20) /* largest REST body we build; past it: 500 with a clear message */

typedef struct api_stream api_stream_t; /* stream.c's per-thread state */

typedef struct api_counters {
    _Atomic uint64_t ws_clients;         /* gauge */
    _Atomic uint64_t subscriptions;      /* gauge: (client, symbol) pairs */
    _Atomic uint64_t msgs_out;           /* data messages delivered (queued to a socket) */
    _Atomic uint64_t frames_out;         /* WebSocket frames queued (a batch is one frame) */
    _Atomic uint64_t records_in;         /* out records read from the ring */
    _Atomic uint64_t lapped;             /* records lost to ring overruns (clients resynced) */
    _Atomic uint64_t resyncs;            /* subscriptions re-snapshotted after a lap */
    _Atomic uint64_t catchup_drains;     /* drains done in catch-up mode (thread far behind) */
    _Atomic uint64_t catchup_skipped;    /* records superseded within a catch-up drain */
    _Atomic uint64_t conflated_msgs;     /* updates replaced by a newer one before sending */
    _Atomic uint64_t slow_conflated;     /* clients switched to conflation by the slow-consumer policy */
    _Atomic uint64_t slow_closed;        /* clients closed 1008 for staying stuck */
    _Atomic uint64_t slow_now;           /* gauge: clients currently in forced conflation */
    _Atomic uint64_t client_errors;      /* error messages sent to clients */
    _Atomic uint64_t rest_requests;
    _Atomic uint64_t rest_304;
    _Atomic uint64_t rest_store_errors;  /* REST answers that failed reading the store (500) */
    _Atomic uint64_t ticks_flushes;      /* /ticks joins that had the store flush (ring lapped since W) */
    _Atomic uint64_t ticks_incomplete;   /* /ticks answers with "complete":false */
    _Atomic uint64_t wakes;              /* wakeups from the engine handled */
    _Atomic uint64_t ring_lag;           /* gauge: records in the ring this thread has not read yet */
    _Atomic uint64_t batch_bytes;        /* gauge: bytes waiting in batching windows */
} api_counters_t;

typedef struct api_thread {
    struct td_api *api;
    int index;
    _Atomic int wake_pending;   /* set by the engine thread when it woke us; cleared before draining */
    api_counters_t ctr;
    td_lat_hist_t latency;      /* recv_ns -> queued to the socket, per delivery */
    td_jb_t scratch;            /* REST bodies and per-client messages */
    void *candle_buf;           /* REST: TD_REST_MAX_CANDLES candles, allocated on first use */
    void *tick_buf;             /* REST: 2 x TD_REST_MAX_TICKS ticks (answer + ring snapshot), on first use */
    api_stream_t *stream;
} api_thread_t;

/* How long a book subscriber's or a REST /book caller's interest keeps a symbol's book snapshots at the
 * fast rate (renewed on every BOOK record a subscribed thread encodes, and on every /book call). */
#define TD_API_BOOK_WANT_MS 5000

struct td_api {
    td_api_config_t cfg;
    td_server_t *srv;
    td_engine_t *eng;
    td_bcast_t *ring;
    td_recent_t *recent;
    td_store_t *store;          /* history for /candles and /ticks (NULL: the in-memory rings only) */
    int nthreads;
    api_thread_t *thr;
    _Atomic bool running;
    int64_t start_ns;           /* wall clock at start, for uptime */
};

#define CTR_ADD(t, f, n) \
    atomic_store_explicit(&(t)->ctr.f, atomic_load_explicit(&(t)->ctr.f, memory_order_relaxed) + (n), memory_order_relaxed)
#define CTR_SUB(t, f, n) \
    atomic_store_explicit(&(t)->ctr.f, atomic_load_explicit(&(t)->ctr.f, memory_order_relaxed) - (n), memory_order_relaxed)

/* rest.c */
void api_http(td_conn_t *c, const td_http_req_t *req, void *user);
void api_metrics(td_api_t *a, td_jb_t *b);

/* stream.c */
api_stream_t *api_stream_create(api_thread_t *t);
void api_stream_destroy(api_stream_t *s);
int api_ws_upgrade(td_conn_t *c, const td_http_req_t *req, const char **subprotocol, void *user);
void api_ws_open(td_conn_t *c, const td_http_req_t *req, void *user);
void api_ws_message(td_conn_t *c, int opcode, const char *data, size_t len, void *user);
void api_ws_close(td_conn_t *c, uint16_t code, void *user);
void api_out_cap(td_conn_t *c, size_t queued, size_t want, void *user);
int api_turn(td_server_t *s, int thread, void *user);
void api_wake(td_server_t *s, int thread, void *user);

#endif
