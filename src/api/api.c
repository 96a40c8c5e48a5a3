/*
 * api.c: the API's lifecycle and the engine -> I/O thread hand-off (see api.h).
 *
 * The wake protocol: the engine appends to the ring (td_api_emit, per record), and at the end of each of
 * its input batches (td_api_batch_end) it swaps each I/O thread's wake_pending flag
 * to 1 and calls td_server_wake only if it was 0. The I/O thread stores 0 before it drains the ring, so
 * a record appended after the drain started finds the flag 0 and wakes the thread again: no record waits
 * for an unrelated event, and a busy engine costs at most one eventfd write per I/O loop turn.
 *
 * Threading: td_api_emit on the engine thread; create/start/stop/destroy on the owner thread.
 */
#include "api/api.h"

#include <string.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"

td_api_t *td_api_create(const td_api_config_t *cfg)
{
    td_api_t *a = td_calloc(1, sizeof *a);
    a->cfg = *cfg;
    if (!a->cfg.host) a->cfg.host = "127.0.0.1";
    if (a->cfg.threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        a->cfg.threads = n > 0 ? (int)n : 1;
    }
    if (!a->cfg.out_cap) a->cfg.out_cap = 4u << 20;
    if (a->cfg.slow_close_ms <= 0) a->cfg.slow_close_ms = 5000;
    if (a->cfg.slow_conflate_ms <= 0) a->cfg.slow_conflate_ms = 250;
    if (!a->cfg.max_subscriptions) a->cfg.max_subscriptions = 200;
    a->nthreads = a->cfg.threads;
    a->ring = td_bcast_create(TD_API_RING, sizeof(td_out_t));
    a->recent = td_recent_create();
    a->thr = td_calloc((size_t)a->nthreads, sizeof *a->thr);
    for (int i = 0; i < a->nthreads; i++) {
        a->thr[i].api = a;
        a->thr[i].index = i;
        td_jb_init(&a->thr[i].scratch, API_MAX_BODY);
    }
    td_server_config_t sc;
    memset(&sc, 0, sizeof sc);
    sc.host = a->cfg.host;
    sc.port = a->cfg.port;
    sc.threads = a->nthreads;
    sc.out_cap = a->cfg.out_cap;
    sc.handlers.on_http_request = api_http;
    sc.handlers.on_ws_upgrade = api_ws_upgrade;
    sc.handlers.on_ws_open = api_ws_open;
    sc.handlers.on_ws_message = api_ws_message;
    sc.handlers.on_ws_close = api_ws_close;
    sc.handlers.on_out_cap = api_out_cap;
    sc.handlers.on_turn = api_turn;
    sc.handlers.on_wake = api_wake;
    sc.user = a;
    a->srv = td_server_create(&sc);
    if (!a->srv) {
        td_api_destroy(a);
        return NULL;
    }
    return a;
}

void td_api_emit(void *ctx, const td_out_t *o)
{
    td_api_t *a = ctx;
    td_bcast_write(a->ring, o);
    if (o->type == TD_OUT_TRADE || o->type == TD_OUT_CANDLE) td_recent_add(a->recent, o);
}

void td_api_batch_end(void *ctx)
{
    td_api_t *a = ctx;
    if (!atomic_load_explicit(&a->running, memory_order_acquire)) return;
    for (int i = 0; i < a->nthreads; i++) {
        api_thread_t *t = &a->thr[i];
        if (atomic_load_explicit(&t->wake_pending, memory_order_relaxed)) continue;
        if (atomic_exchange_explicit(&t->wake_pending, 1, memory_order_seq_cst) == 0) td_server_wake(a->srv, i);
    }
}

void td_api_set_store(td_api_t *a, struct td_store *store) { a->store = store; }

int td_api_start(td_api_t *a, td_engine_t *engine)
{
    a->eng = engine;
    a->start_ns = td_now_ns();
    int rc = td_server_start(a->srv);
    if (rc != 0) return rc;
    atomic_store_explicit(&a->running, true, memory_order_release);
    return 0;
}

void td_api_add_source(td_api_t *a, td_source_t *src)
{
    if (a->cfg.nsources < TD_API_MAX_SOURCES) a->cfg.sources[a->cfg.nsources++] = src;
}

uint16_t td_api_port(const td_api_t *a) { return td_server_port(a->srv); }

void td_api_stop(td_api_t *a)
{
    if (!a) return;
    atomic_store_explicit(&a->running, false, memory_order_release);
    if (a->srv) td_server_stop(a->srv);
}

void td_api_destroy(td_api_t *a)
{
    if (!a) return;
    td_api_stop(a);
    td_server_destroy(a->srv);
    for (int i = 0; i < a->nthreads; i++) {
        api_stream_destroy(a->thr[i].stream);
        td_jb_free(&a->thr[i].scratch);
        td_free(a->thr[i].candle_buf);
        td_free(a->thr[i].tick_buf);
    }
    td_free(a->thr);
    td_bcast_destroy(a->ring);
    td_recent_destroy(a->recent);
    td_free(a);
}
