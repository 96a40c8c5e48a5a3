/*
 * main.c: flags and config to a running node. Only wiring lives here: parse the configuration, open the
 * feeds, start the engine and the feed threads, print a status line, and shut down cleanly on
 * SIGINT/SIGTERM (stop feeds, drain the engine, exit 0).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/config.h"
#include "core/decimal.h"
#include "core/log.h"
#include "core/symbols.h"
#include "api/api.h"
#include "engine/engine.h"
#include "feed/runner.h"
#include "feed/source.h"
#include "store/store.h"

#define FEED_RING_EVENTS (1u << 16)

static volatile sig_atomic_t stop_requested;

/* ---- store wiring: events and out records from the engine thread into the store; state back at start ---- */
/* What the engine's out records and input events reach in this node: the store (durable history) and
 * the API (live fan-out). One emit callback, so the order is the same for both. */
typedef struct store_link {
    td_store_t *store;
    td_engine_t *engine;
    td_api_t *api;
} store_link_t;

static void store_on_event(void *ctx, const td_event_t *ev, uint64_t seq)
{
    store_link_t *l = ctx;
    if (l->store) td_store_append(l->store, ev, &seq, 1);
}

static void store_on_out(void *ctx, const td_out_t *o)
{
    store_link_t *l = ctx;
    /* resolved trades (REST /ticks history), NBBO changes, closed candles; store.h td_store_append_out */
    if (l->store && (o->type == TD_OUT_TRADE || o->type == TD_OUT_NBBO || o->type == TD_OUT_CANDLE))
        td_store_append_out(l->store, o);
}

static void node_emit(void *ctx, const td_out_t *o)
{
    store_link_t *l = ctx;
    store_on_out(ctx, o);
    td_api_emit(l->api, o);
}

static void node_batch_end(void *ctx)
{
    store_link_t *l = ctx;
    td_api_batch_end(l->api);
}

static bool store_state(void *ctx, uint32_t sym, td_sym_snap_t *out)
{
    return td_engine_snapshot(ctx, sym, out);
}

static void store_restore_one(void *ctx, uint32_t sym)
{
    store_link_t *l = ctx;
    td_sym_snap_t snap;
    if (td_store_restore_state(l->store, sym, &snap)) td_engine_restore(l->engine, sym, &snap);
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int mkdir_p(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

static bool is_live_kind(const char *spec)
{
    return !strncmp(spec, "sim", 3) || !strncmp(spec, "binance", 7) || !strncmp(spec, "coinbase", 8);
}

static void status_line(const td_engine_t *e, const td_config_t *cfg, uint64_t *last_events, int64_t *last_ns)
{
    const td_engine_stats_t *st = td_engine_stats(e);
    uint64_t events = atomic_load(&st->events);
    int64_t now = td_mono_ns();
    double secs = (double)(now - *last_ns) / 1e9;
    double rate = secs > 0 ? (double)(events - *last_events) / secs : 0;
    *last_events = events;
    *last_ns = now;

    uint32_t sym = cfg->status_symbol[0] ? td_sym_lookup(cfg->status_symbol, strlen(cfg->status_symbol)) : 0;
    if (!sym && td_sym_count() > 0) sym = 1;
    char nbbo[256];
    snprintf(nbbo, sizeof nbbo, "%s: no quotes yet", sym ? td_sym_name(sym) : "no symbols");
    td_sym_snap_t snap;
    if (sym && td_engine_snapshot(e, sym, &snap) && (snap.nbbo.bid_px || snap.nbbo.ask_px)) {
        char b[TD_DEC_BUFSZ], a[TD_DEC_BUFSZ], bq[TD_DEC_BUFSZ], aq[TD_DEC_BUFSZ], l[TD_DEC_BUFSZ];
        td_dec_fmt(snap.nbbo.bid_px, b);
        td_dec_fmt(snap.nbbo.ask_px, a);
        td_dec_fmt(snap.nbbo.bid_qty, bq);
        td_dec_fmt(snap.nbbo.ask_qty, aq);
        td_dec_fmt(snap.last_px, l);
        snprintf(nbbo, sizeof nbbo, "%s nbbo %s x %s (%s %s / %s %s) %s last %s", td_sym_name(sym), b, a, bq,
                 td_exch_name(snap.nbbo.bid_exch), aq, td_exch_name(snap.nbbo.ask_exch),
                 td_nbbo_state_name((td_nbbo_state_t)snap.nbbo.state), l);
    }
    td_log_info("status", "%.0f events/s | %u symbols | %llu trades | %llu live orders | %s", rate,
                td_sym_count(), (unsigned long long)atomic_load(&st->by_type[TD_EV_ORDER_EXEC]) +
                                    atomic_load(&st->by_type[TD_EV_TRADE]),
                (unsigned long long)atomic_load(&st->live_orders), nbbo);
}

int main(int argc, char **argv)
{
    td_config_t cfg;
    char err[512];
    td_config_defaults(&cfg);
    int rc = td_config_parse_args(&cfg, argc, argv, err, sizeof err);
    if (rc == 1) return 0;
    if (rc != 0) {
        fprintf(stderr, "tickd: %s\n", err);
        return 2;
    }
    if (cfg.verbose) td_log_min_level = TD_LOG_DEBUG;
    if (cfg.role != TD_ROLE_ALL) {
        fprintf(stderr, "tickd: --role %s is not available in this version; run --role all\n",
                td_role_name(cfg.role));
        return 2;
    }
    if (mkdir_p(cfg.data_dir) != 0) {
        fprintf(stderr, "tickd: --data-dir %s: %s\n", cfg.data_dir, strerror(errno));
        return 1;
    }
    if (cfg.nfeeds == 0) cfg.feeds[cfg.nfeeds++] = td_strdup("sim");

    bool all_live = true;
    for (int i = 0; i < cfg.nfeeds; i++) all_live &= is_live_kind(cfg.feeds[i]);
    td_api_config_t acfg;
    memset(&acfg, 0, sizeof acfg);
    acfg.out_cap = cfg.out_cap;
    acfg.slow_close_ms = cfg.slow_close_ms;
    acfg.slow_conflate_ms = cfg.slow_conflate_ms;
    acfg.max_subscriptions = cfg.max_subscriptions;
    acfg.coalesce_us = cfg.coalesce_us;
    acfg.host = cfg.listen_host;
    acfg.port = (uint16_t)cfg.listen_port;
    acfg.threads = cfg.threads;
    td_api_t *api = td_api_create(&acfg);
    if (!api) {
        fprintf(stderr, "tickd: --listen %s:%d: cannot serve there\n", cfg.listen_host, cfg.listen_port);
        td_config_free(&cfg);
        return 2;
    }
    static store_link_t link;
    link.api = api;
    td_engine_config_t ecfg = { .wall_clock = all_live, .emit = node_emit, .emit_ctx = &link,
                                .batch_end = node_batch_end, .on_event = store_on_event, .on_event_ctx = &link };
    td_engine_t *engine = td_engine_create(&ecfg);
    link.engine = engine;
    td_store_options_t sopt;
    td_store_options_default(&sopt);
    sopt.fsync_ms = cfg.fsync_ms;
    if (td_store_set_retention(&sopt, cfg.tick_ttl_days, cfg.candle_ttl, cfg.cold_dir, cfg.cold_after_days, err,
                               sizeof err) != TD_OK) {
        fprintf(stderr, "tickd: %s\n", err);
        td_engine_destroy(engine);
        td_api_destroy(api);
        td_config_free(&cfg);
        return 2;
    }
    sopt.state_fn = store_state;
    sopt.state_ctx = engine;
    td_store_t *store;
    if (td_store_open(cfg.data_dir, &sopt, &store, err, sizeof err) != TD_OK) {
        fprintf(stderr, "tickd: --data-dir %s: %s\n", cfg.data_dir, err);
        td_engine_destroy(engine);
        td_api_destroy(api);
        td_config_free(&cfg);
        return 1;
    }
    link.store = store;
    td_api_set_store(api, store);
    td_store_each_state_symbol(store, store_restore_one, &link); /* restart: seq, last price, open candles */

    td_feed_runner_t *runners[TD_MAX_FEEDS];
    int nrunners = 0;
    for (int i = 0; i < cfg.nfeeds; i++) {
        td_source_t *src = td_source_open(cfg.feeds[i], err, sizeof err);
        if (!src) {
            fprintf(stderr, "tickd: --feed %s: %s\n", cfg.feeds[i], err);
            for (int k = 0; k < nrunners; k++) td_feed_runner_destroy(runners[k]);
            td_engine_destroy(engine);
            td_store_close(store);
            td_api_destroy(api);
            td_config_free(&cfg);
            return 2;
        }
        td_api_add_source(api, src);
        runners[nrunners] = td_feed_runner_create(src, FEED_RING_EVENTS, cfg.speed);
        td_engine_add_input(engine, td_feed_runner_ring(runners[nrunners]));
        nrunners++;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    td_log_info("tickd", "starting: role %s, %d feed(s), data dir %s, listen %s:%d", td_role_name(cfg.role),
                nrunners, cfg.data_dir, cfg.listen_host, cfg.listen_port);
    /* the API follows the engine's out records from the first one: start it before the engine */
    rc = td_api_start(api, engine);
    if (rc != 0) {
        fprintf(stderr, "tickd: --listen %s:%d: %s\n", cfg.listen_host, cfg.listen_port, strerror(-rc));
        for (int k = 0; k < nrunners; k++) td_feed_runner_destroy(runners[k]);
        td_engine_destroy(engine);
        td_api_destroy(api);
        td_config_free(&cfg);
        return 1;
    }
    td_log_info("tickd", "listening on http://%s:%u (REST /v1, WebSocket /v1/prices, /healthz, /metrics)",
                cfg.listen_host, (unsigned)td_api_port(api));
    if (td_engine_start(engine) != TD_OK) {
        fprintf(stderr, "tickd: cannot start the engine thread\n");
        return 1;
    }
    for (int i = 0; i < nrunners; i++) td_feed_runner_start(runners[i]);

    uint64_t last_events = 0;
    int64_t last_ns = td_mono_ns(), next_status = last_ns + (int64_t)cfg.status_interval_ms * TD_NS_PER_MS;
    while (!stop_requested) {
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        int64_t now = td_mono_ns();
        if (cfg.status_interval_ms > 0 && now >= next_status) {
            status_line(engine, &cfg, &last_events, &last_ns);
            next_status = now + (int64_t)cfg.status_interval_ms * TD_NS_PER_MS;
        }
    }

    td_log_info("tickd", "shutting down");
    for (int i = 0; i < nrunners; i++) td_feed_runner_stop(runners[i]);
    td_engine_stop(engine);
    td_api_stop(api); /* WebSockets get 1001 and their queued output */
    const td_engine_stats_t *st = td_engine_stats(engine);
    td_log_info("tickd", "stopped: %llu events applied, %llu rejected, %llu out records",
                (unsigned long long)atomic_load(&st->events), (unsigned long long)atomic_load(&st->rejected),
                (unsigned long long)atomic_load(&st->outs));
    const td_store_stats_t *ss = td_store_stats(store);
    td_log_info("tickd", "store: %llu records, %llu blocks, %llu bytes written, %llu ring waits, %llu corrupt "
                         "blocks skipped",
                (unsigned long long)atomic_load(&ss->appended), (unsigned long long)atomic_load(&ss->blocks_written),
                (unsigned long long)atomic_load(&ss->bytes_written), (unsigned long long)atomic_load(&ss->ring_waits),
                (unsigned long long)atomic_load(&ss->corrupt_blocks));
    td_store_close(store); /* drains the ring, writes, fsyncs */
    for (int i = 0; i < nrunners; i++) td_feed_runner_destroy(runners[i]);
    td_engine_destroy(engine);
    td_api_destroy(api);
    td_config_free(&cfg);
    return 0;
}
