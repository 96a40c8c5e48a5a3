/*
 * api.h: tickd's public face: the REST endpoints and the WebSocket stream of API.md, served by the
 * src/net server on N I/O threads.
 *
 * Wiring (main.c): td_api_create() first, because the engine's emit callback is td_api_emit with the api
 * as context; then the engine; then td_api_start(api, engine) before the engine starts, so no out record
 * is emitted before the I/O threads follow the ring. Stop the API after the feeds and the engine.
 *
 * Engine -> I/O threads: td_api_emit (engine thread) appends every out record to a broadcast ring
 * (core/bcast.h, TD_API_RING records, overwrite-oldest) and to the recent-history rings (api/recent.h);
 * td_api_batch_end (engine thread, once per input batch) wakes each I/O thread, at most once per loop turn
 * of that thread (a flag the thread clears before it drains). Each I/O thread follows the ring with its own reader (see stream.c).
 *
 * Threading: td_api_emit from the engine thread only; the rest from the thread that created the api.
 */
#ifndef TD_API_H
#define TD_API_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "feed/source.h"

#define TD_API_RING (1u << 16) /* out records held for the I/O threads (about 7 MB) */
#define TD_API_MAX_SOURCES 32

typedef struct td_api_config {
    const char *host;         /* default 127.0.0.1 */
    uint16_t port;            /* 0: any free port (td_api_port) */
    int threads;              /* I/O threads; 0: one per core */
    size_t out_cap;           /* per-connection queued bytes before the slow-consumer policy, default 4 MiB */
    int64_t slow_close_ms;    /* a slow consumer still stuck this long after conflation is closed 1008 (5000) */
    int64_t slow_conflate_ms; /* conflation interval forced on a slow consumer (250) */
    size_t max_subscriptions; /* symbols per connection (200) */
    int64_t coalesce_us;      /* an I/O thread drains the ring at most this often (0: on every wakeup) */
    td_source_t *sources[TD_API_MAX_SOURCES]; /* for per-feed metrics (not owned) */
    int nsources;
} td_api_config_t;

typedef struct td_api td_api_t;

td_api_t *td_api_create(const td_api_config_t *cfg);
/* A feed whose stats /metrics and /healthz show (before td_api_start; not owned). */
void td_api_add_source(td_api_t *a, td_source_t *src);
/* The engine's emit and batch_end callbacks (ctx: the api). */
void td_api_emit(void *ctx, const td_out_t *o);
void td_api_batch_end(void *ctx);
/* History for REST /candles: stored closed candles merged with the recent and open ones (before
 * td_api_start; not owned). Without it, /candles answers from the in-memory rings. */
struct td_store;
void td_api_set_store(td_api_t *a, struct td_store *store);
/* Binds, starts the I/O threads. 0 or a negative errno (the port is taken...). */
int td_api_start(td_api_t *a, td_engine_t *engine);
uint16_t td_api_port(const td_api_t *a);
/* Closes WebSockets with 1001, finishes output, joins the I/O threads. Idempotent. */
void td_api_stop(td_api_t *a);
void td_api_destroy(td_api_t *a);

#endif
