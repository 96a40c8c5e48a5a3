/*
 * live.c: the generic live source: spec parsing, the supervisor loop around one WebSocket connection, the
 * event queue, stale tracking and the health record (contract in live.h; adapters in live_internal.h).
 *
 * The supervisor is a small state machine driven by next() on the runner's thread:
 *   IDLE (waiting for next_attempt, or the circuit open) -> connect -> LIVE -> (error | close | stall |
 *   max age) -> IDLE with a backoff delay (or right away for a planned reconnect).
 * A connection counts as a success for the breaker and the backoff only once it delivered its first data
 * message: an exchange that accepts connections and then sends nothing (or only garbage that makes us drop
 * it) still opens the circuit.
 * When a connection is lost, every symbol gets GAP once per outage (outage_gap_sent) and the adapter
 * forgets its sync state; the resync comes from the adapter after the next connect.
 *
 * Queue bound: next() produces new events only when the queue is empty, and one step produces at most one
 * message's events, one snapshot's (one REST call per step) or one GAP per symbol; so the queue holds at
 * most max(largest message, largest snapshot, nsyms) events; inputs themselves are capped (4 MiB frames,
 * 16 MiB REST bodies), so memory does not grow with time.
 * next() never blocks longer than one connection attempt or one REST call (timeout_ms); when idle it
 * sleeps at most 5 ms so the runner can stop it promptly.
 */
#include "feed/live_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"
#include "core/symbols.h"

enum { PH_IDLE = 0, PH_LIVE };

/* ---- options ---- */

static void opts_defaults(live_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->stall_ms = 10000;
    o->backoff_ms = 500;
    o->backoff_max_ms = 30000;
    o->breaker = 5;
    o->cooldown_ms = 30000;
    o->ping_s = 60;
    o->timeout_ms = 10000;
    o->rest_pause_ms = 60000;
    o->backfill = true;
}

static int set_u32(const char *v, uint32_t *out)
{
    char *e;
    unsigned long long x = strtoull(v, &e, 10);
    if (e == v || *e || x > UINT32_MAX) return TD_EINVAL;
    *out = (uint32_t)x;
    return TD_OK;
}

static int set_str(const char *v, char *dst, size_t cap)
{
    if (strlen(v) >= cap) return TD_EINVAL;
    strcpy(dst, v);
    return TD_OK;
}

static int parse_opt(live_opts_t *o, const char *key, const char *v)
{
    uint32_t x = 0;
    if (!strcmp(key, "ws")) return set_str(v, o->ws, sizeof o->ws);
    if (!strcmp(key, "rest")) return set_str(v, o->rest, sizeof o->rest);
    if (!strcmp(key, "ca")) return set_str(v, o->ca, sizeof o->ca);
    if (!strcmp(key, "fallback")) return set_str(v, o->fallback, sizeof o->fallback);
    if (!strcmp(key, "api")) return set_str(v, o->api, sizeof o->api);
    if (!strcmp(key, "stall_ms")) return set_u32(v, &o->stall_ms);
    if (!strcmp(key, "backoff_ms")) return set_u32(v, &o->backoff_ms);
    if (!strcmp(key, "backoff_max_ms")) return set_u32(v, &o->backoff_max_ms);
    if (!strcmp(key, "breaker")) return set_u32(v, &o->breaker);
    if (!strcmp(key, "cooldown_ms")) return set_u32(v, &o->cooldown_ms);
    if (!strcmp(key, "ping_s")) return set_u32(v, &o->ping_s);
    if (!strcmp(key, "timeout_ms")) return set_u32(v, &o->timeout_ms);
    if (!strcmp(key, "rest_pause_ms")) return set_u32(v, &o->rest_pause_ms);
    if (!strcmp(key, "max_age_s")) { int rc = set_u32(v, &x); o->max_age_s = x; return rc; }
    if (!strcmp(key, "backfill")) { int rc = set_u32(v, &x); o->backfill = x != 0; return rc; }
    if (!strcmp(key, "seed")) { int rc = set_u32(v, &x); o->seed = x; return rc; }
    return TD_ENOENT;
}

/* ---- queue, stale, counters ---- */

static void recount_stale(td_live_t *l)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < l->nsyms; i++) n += atomic_load_explicit(&l->stale[i], memory_order_relaxed) != 0;
    atomic_store_explicit(&l->health.stale_symbols, n, memory_order_relaxed);
}

int td_live_sym_index(const td_live_t *l, uint32_t sym)
{
    for (uint32_t i = 0; i < l->nsyms; i++)
        if (l->syms[i] == sym) return (int)i;
    return -1;
}

/* Gap/resync bookkeeping happens when events are handed to the runner, so "stale" describes what the
 * consumer has seen: a symbol is stale from its GAP until its RESYNC has been returned by next(). */
static void account(td_live_t *l, const td_event_t *ev)
{
    if (ev->type == TD_EV_GAP) {
        atomic_fetch_add_explicit(&l->base.stats.gaps, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&l->health.gaps, 1, memory_order_relaxed);
        for (uint32_t i = 0; i < l->nsyms; i++)
            if (!ev->sym || l->syms[i] == ev->sym) atomic_store_explicit(&l->stale[i], 1, memory_order_relaxed);
        recount_stale(l);
    } else if (ev->type == TD_EV_RESYNC) {
        int i = td_live_sym_index(l, ev->sym);
        if (i >= 0 && atomic_load_explicit(&l->stale[i], memory_order_relaxed)) {
            atomic_store_explicit(&l->stale[i], 0, memory_order_relaxed);
            atomic_fetch_add_explicit(&l->base.stats.resyncs, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&l->health.resyncs, 1, memory_order_relaxed);
            recount_stale(l);
        }
        atomic_fetch_add_explicit(&l->health.snapshots, 1, memory_order_relaxed);
    }
}

void td_live_emit(void *ctx, const td_event_t *ev)
{
    td_live_t *l = ctx;
    if (l->qlen == l->qcap) {
        l->qcap = l->qcap ? l->qcap * 2 : 1024;
        l->q = td_realloc(l->q, l->qcap * sizeof *l->q);
    }
    l->q[l->qlen++] = *ev;
    atomic_fetch_add_explicit(&l->base.stats.events, 1, memory_order_relaxed);
}

void td_live_bad(td_live_t *l, const char *why, const char *data, size_t len)
{
    atomic_fetch_add_explicit(&l->base.stats.bad, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->health.bad, 1, memory_order_relaxed);
    char shown[81];
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof shown - 1; i++)
        shown[n++] = data[i] >= 0x20 && data[i] < 0x7f ? data[i] : '?';
    shown[n] = 0;
    TD_LOG_RATELIMITED(TD_LOG_WARN, "live", 5, "%s: connection %" PRIu64 " message %" PRIu64 ": %s: %s%s",
                       l->base.name, l->conn_no, l->msg_pos, why, shown, len > n ? "..." : "");
}

int td_live_send_text(td_live_t *l, const char *s, size_t n)
{
    return td_wsc_send(l->ws, TD_WS_OP_TEXT, s, n);
}

static void emit_gaps(td_live_t *l)
{
    int64_t now = td_now_ns();
    for (uint32_t i = 0; i < l->nsyms; i++) {
        td_event_t ev;
        memset(&ev, 0, sizeof ev);
        ev.type = TD_EV_GAP;
        ev.side = TD_SIDE_NONE;
        ev.exch = l->exch;
        ev.sym = l->syms[i];
        ev.recv_ns = now;
        td_live_emit(l, &ev);
    }
}

static void set_state(td_live_t *l, td_feed_state_t s)
{
    atomic_store_explicit(&l->health.state, (int)s, memory_order_relaxed);
}

/* ---- supervisor ---- */

static void open_fallback(td_live_t *l)
{
    if (!l->o.fallback[0] || l->fallback || l->fallback_done) return;
    char err[256] = "";
    l->fallback = td_source_open(l->o.fallback, err, sizeof err);
    if (!l->fallback) {
        td_log_error("live", "%s: fallback %s: %s", l->base.name, l->o.fallback, err);
        l->fallback_done = true;
        return;
    }
    l->used_fallback = true;
    td_log_warn("live", "%s: circuit open: switching to fallback %s", l->base.name, l->fallback->name);
}

static void close_fallback(td_live_t *l)
{
    if (!l->fallback) return;
    td_log_info("live", "%s: exchange back: leaving fallback %s", l->base.name, l->fallback->name);
    td_source_destroy(l->fallback);
    l->fallback = NULL;
}

/* The connection is gone. planned: a max-age reconnect (no backoff, not a failure). */
static void lost(td_live_t *l, const char *why, bool planned)
{
    int64_t now = td_mono_ns();
    if (l->ws && td_wsc_connected(l->ws)) td_wsc_close(l->ws, planned, TD_WS_CLOSE_NORMAL);
    if (l->phase == PH_LIVE || l->ever_connected) {
        if (!l->outage_gap_sent) {
            emit_gaps(l);
            l->outage_gap_sent = true;
        }
        l->ops->on_reset(l);
    }
    l->phase = PH_IDLE;
    if (planned) {
        td_log_info("live", "%s: planned reconnect: %s", l->base.name, why);
        l->next_attempt_ns = now;
        set_state(l, TD_FEED_CONNECTING);
        return;
    }
    atomic_fetch_add_explicit(&l->health.failures, 1, memory_order_relaxed);
    if (td_breaker_failure(&l->breaker, now)) {
        atomic_fetch_add_explicit(&l->health.circuit_opens, 1, memory_order_relaxed);
        td_log_error("live", "%s: %s; circuit open for %u ms after %u consecutive failures", l->base.name, why,
                     l->breaker.cur_cooldown_ms, l->breaker.failures);
        l->next_attempt_ns = l->breaker.open_until_ns;
        open_fallback(l);
        set_state(l, l->fallback ? TD_FEED_FALLBACK : TD_FEED_OPEN_CIRCUIT);
        return;
    }
    uint32_t delay = td_backoff_next(&l->backoff, &l->rng);
    TD_LOG_RATELIMITED(TD_LOG_WARN, "live", 2, "%s: %s; reconnecting in %u ms", l->base.name, why, delay);
    l->next_attempt_ns = now + (int64_t)delay * TD_NS_PER_MS;
    set_state(l, l->fallback ? TD_FEED_FALLBACK : TD_FEED_BACKOFF);
}

void td_live_fail(td_live_t *l, const char *why) { lost(l, why, false); }

static void try_connect(td_live_t *l, int64_t now)
{
    char url[4096], err[512] = "";
    if (l->ops->ws_url(l, url, sizeof url) != TD_OK) {
        lost(l, "cannot build the WebSocket URL", false);
        return;
    }
    set_state(l, TD_FEED_CONNECTING);
    int rc = td_wsc_connect(l->ws, url, err, sizeof err);
    if (rc != TD_OK) {
        lost(l, err, false);
        return;
    }
    l->conn_no++;
    l->msg_pos = 0;
    bool reconnect = l->ever_connected;
    l->ever_connected = true;
    atomic_fetch_add_explicit(&l->health.connects, 1, memory_order_relaxed);
    if (reconnect) atomic_fetch_add_explicit(&l->health.reconnects, 1, memory_order_relaxed);
    if (l->fallback || l->used_fallback) {
        /* the books the fallback built are replaced by the exchange's: a gap for every symbol */
        close_fallback(l);
        emit_gaps(l); /* again: the fallback's events may have resynced books that now change source */
        l->used_fallback = false;
        l->ops->on_reset(l);
    }
    l->phase = PH_LIVE;
    l->got_data = false;
    l->connected_at_ns = now;
    l->last_msg_ns = now; /* the stall clock starts at the subscription */
    l->last_ping_ns = now;
    td_log_info("live", "%s: connected (connection %" PRIu64 ")", l->base.name, l->conn_no);
    if (l->ops->on_open(l) != TD_OK) lost(l, "subscribing failed", false);
}

static void idle_sleep(int64_t until_mono)
{
    int64_t wait = until_mono - td_mono_ns();
    if (wait <= 0) return;
    if (wait > 5 * TD_NS_PER_MS) wait = 5 * TD_NS_PER_MS;
    struct timespec ts = { 0, (long)wait };
    nanosleep(&ts, NULL);
}

static void update_rate(td_live_t *l, int64_t now)
{
    if (l->rate_start_ns == 0) l->rate_start_ns = now;
    int64_t el = now - l->rate_start_ns;
    if (el >= TD_NS_PER_SEC) {
        uint64_t milli = (uint64_t)((double)l->rate_count * 1e12 / (double)el);
        atomic_store_explicit(&l->health.msgs_per_sec_milli, milli, memory_order_relaxed);
        l->rate_start_ns = now;
        l->rate_count = 0;
    }
}

static void step_live(td_live_t *l, int64_t now)
{
    /* One message per step: the queue then holds one message's events at most, and the stall, ping and
     * tick checks run between any two messages. */
    td_ws_msg_t msg;
    int r = td_wsc_recv(l->ws, 2, &msg);
    if (r < 0) {
        char why[320];
        snprintf(why, sizeof why, "connection lost: %s", td_wsc_error(l->ws));
        if (r == TD_EPROTO) {
            atomic_fetch_add_explicit(&l->base.stats.bad, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&l->health.bad, 1, memory_order_relaxed);
        }
        lost(l, why, false);
        return;
    }
    if (r == 1) {
        int64_t recv_ns = td_now_ns();
        now = td_mono_ns();
        l->last_msg_ns = now;
        l->msg_pos++;
        l->rate_count++;
        atomic_store_explicit(&l->health.last_msg_ns, now, memory_order_relaxed);
        atomic_fetch_add_explicit(&l->health.messages, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&l->base.stats.messages, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&l->base.stats.bytes, msg.len, memory_order_relaxed);
        if (!l->got_data) {
            l->got_data = true;
            l->outage_gap_sent = false;
            td_breaker_success(&l->breaker);
            td_backoff_reset(&l->backoff);
            set_state(l, TD_FEED_LIVE);
        }
        if (msg.kind != TD_WS_TEXT) td_live_bad(l, "binary frame where JSON text was expected", msg.data, msg.len);
        else l->ops->on_text(l, msg.data, msg.len, recv_ns);
        if (l->phase != PH_LIVE) return; /* the adapter dropped the connection */
    }
    if (l->o.stall_ms && now - l->last_msg_ns > (int64_t)l->o.stall_ms * TD_NS_PER_MS) {
        atomic_fetch_add_explicit(&l->health.stalls, 1, memory_order_relaxed);
        char why[96];
        snprintf(why, sizeof why, "stalled: no message for %u ms", l->o.stall_ms);
        lost(l, why, false);
        return;
    }
    if (l->o.max_age_s && now - l->connected_at_ns > (int64_t)l->o.max_age_s * TD_NS_PER_SEC) {
        lost(l, "connection reached max_age_s", true);
        return;
    }
    if (l->o.ping_s && now - l->last_ping_ns > (int64_t)l->o.ping_s * TD_NS_PER_SEC) {
        l->last_ping_ns = now;
        if (td_wsc_send(l->ws, TD_WS_OP_PING, "tickd", 5) != TD_OK) {
            lost(l, "ping failed", false);
            return;
        }
    }
    /* tick may block in a REST call; that time was not spent listening, so it does not count as silence */
    int64_t t0 = td_mono_ns();
    l->ops->tick(l, now);
    int64_t blocked = td_mono_ns() - t0;
    if (blocked > TD_NS_PER_MS) l->last_msg_ns += blocked;
}

static int drain(td_live_t *l, td_event_t *out, size_t max)
{
    size_t n = l->qlen - l->qhead;
    if (n > max) n = max;
    if (n > (size_t)INT32_MAX) n = INT32_MAX;
    memcpy(out, l->q + l->qhead, n * sizeof *out);
    for (size_t i = 0; i < n; i++) account(l, &out[i]);
    l->qhead += n;
    if (l->qhead == l->qlen) l->qhead = l->qlen = 0;
    return (int)n;
}

static int live_next(td_source_t *src, td_event_t *out, size_t max)
{
    td_live_t *l = (td_live_t *)src;
    if (max == 0) return TD_EINVAL;
    if (l->qhead < l->qlen) return drain(l, out, max);
    int64_t now = td_mono_ns();
    update_rate(l, now);
    if (l->phase == PH_LIVE) {
        step_live(l, now);
    } else if (now >= l->next_attempt_ns && td_breaker_allow(&l->breaker, now)) {
        try_connect(l, now);
    } else if (l->fallback) {
        int n = l->fallback->next(l->fallback, out, max);
        if (n == TD_EOF || n < 0) {
            td_log_info("live", "%s: fallback %s ended (%s)", l->base.name, l->fallback->name, td_strerror(n));
            td_source_destroy(l->fallback);
            l->fallback = NULL;
            l->fallback_done = true;
            set_state(l, TD_FEED_OPEN_CIRCUIT);
        } else if (n > 0) {
            return n;
        }
    } else {
        idle_sleep(l->next_attempt_ns);
    }
    if (l->qhead < l->qlen) return drain(l, out, max);
    return 0;
}

static void live_destroy(td_source_t *src)
{
    td_live_t *l = (td_live_t *)src;
    if (!l) return;
    if (l->ops && l->ops->destroy) l->ops->destroy(l);
    td_wsc_destroy(l->ws);
    td_source_destroy(l->fallback);
    td_free(l->syms);
    td_free(l->names);
    td_free((void *)l->stale);
    td_free(l->q);
    td_free(l);
}

td_source_t *td_live_open(const live_ops_t *ops, const char *kind, const char *args, char *err, size_t errlen)
{
    td_live_t *l = td_calloc(1, sizeof *l);
    l->base.kind = kind; /* a string literal of the adapter */
    l->base.next = live_next;
    l->base.destroy = live_destroy;
    l->ops = ops;
    opts_defaults(&l->o);
    const char *env_ca = getenv("TD_FEED_CA_FILE");
    if (env_ca && strlen(env_ca) < sizeof l->o.ca) strcpy(l->o.ca, env_ca);

    /* symbols up to the first ';', then options */
    const char *semi = strchr(args, ';');
    size_t slen = semi ? (size_t)(semi - args) : strlen(args);
    if (slen == 0) { snprintf(err, errlen, "%s: no symbols (usage %s:SYM,SYM[;opt=v...])", kind, kind); goto fail; }
    for (size_t i = 0, start = 0; i <= slen; i++) {
        if (i < slen && args[i] != ',') continue;
        size_t n = i - start;
        if (n == 0 || n >= LIVE_NAME_MAX) { snprintf(err, errlen, "%s: bad symbol list \"%.*s\"", kind, (int)slen, args); goto fail; }
        uint32_t id = td_sym_intern(args + start, n);
        if (!id) { snprintf(err, errlen, "%s: bad symbol \"%.*s\"", kind, (int)n, args + start); goto fail; }
        if (td_live_sym_index(l, id) < 0) {
            l->syms = td_realloc(l->syms, (l->nsyms + 1) * sizeof *l->syms);
            l->names = td_realloc(l->names, (l->nsyms + 1) * sizeof *l->names);
            l->syms[l->nsyms] = id;
            memcpy(l->names[l->nsyms], args + start, n);
            l->names[l->nsyms][n] = 0;
            l->nsyms++;
        }
        start = i + 1;
    }
    const char *p = semi;
    while (p && *p == ';') {
        p++;
        const char *eq = strchr(p, '=');
        const char *end = strchr(p, ';');
        if (!eq || (end && eq > end)) { snprintf(err, errlen, "%s: option \"%.*s\" has no '='", kind, (int)(end ? end - p : (long)strlen(p)), p); goto fail; }
        char key[32], val[1024];
        size_t kl = (size_t)(eq - p);
        bool is_fallback = kl == 8 && !strncmp(p, "fallback", 8);
        if (is_fallback) end = NULL; /* the rest of the spec */
        size_t vl = end ? (size_t)(end - eq - 1) : strlen(eq + 1);
        if (kl >= sizeof key || vl >= sizeof val) { snprintf(err, errlen, "%s: option too long", kind); goto fail; }
        memcpy(key, p, kl);
        key[kl] = 0;
        memcpy(val, eq + 1, vl);
        val[vl] = 0;
        int rc = parse_opt(&l->o, key, val);
        if (rc == TD_ENOENT) { snprintf(err, errlen, "%s: unknown option \"%s\" (see feed/live.h)", kind, key); goto fail; }
        if (rc != TD_OK) { snprintf(err, errlen, "%s: bad value for %s: \"%s\"", kind, key, val); goto fail; }
        p = end;
    }
    l->stale = td_calloc(l->nsyms, sizeof *l->stale);
    atomic_store(&l->health.symbols, l->nsyms);
    l->wcfg.ca_file = l->o.ca[0] ? l->o.ca : NULL;
    l->wcfg.timeout_ms = (int)(l->o.timeout_ms ? l->o.timeout_ms : 10000);
    l->wcfg.max_message = 4u << 20;
    l->ws = td_wsc_create(&l->wcfg);
    td_backoff_init(&l->backoff, l->o.backoff_ms, l->o.backoff_max_ms);
    td_breaker_init(&l->breaker, l->o.breaker, l->o.cooldown_ms, l->o.cooldown_ms * 10u > l->o.cooldown_ms ? l->o.cooldown_ms * 10u : l->o.cooldown_ms);
    td_rng_seed(&l->rng, l->o.seed ? l->o.seed : (uint64_t)td_now_ns());
    l->exch = td_exch_intern(ops->exch_name, strlen(ops->exch_name));
    if (!l->exch) { snprintf(err, errlen, "%s: exchange table full", kind); goto fail; }
    snprintf(l->base.name, sizeof l->base.name, "%s:%.*s", kind, (int)(slen < 40 ? slen : 40), args);
    if (ops->init(l, err, errlen) != TD_OK) goto fail;
    set_state(l, TD_FEED_CONNECTING);
    return &l->base;
fail:
    live_destroy(&l->base);
    return NULL;
}

bool td_live_is(const td_source_t *src) { return src && src->destroy == live_destroy; }

int td_feed_health(const td_source_t *src, td_feed_health_t *out)
{
    if (!td_live_is(src)) return TD_EINVAL;
    td_feed_health_read(&((const td_live_t *)src)->health, td_mono_ns(), out);
    return TD_OK;
}

bool td_live_symbol_stale(const td_source_t *src, uint32_t sym)
{
    if (!td_live_is(src)) return false;
    const td_live_t *l = (const td_live_t *)src;
    int i = td_live_sym_index(l, sym);
    return i >= 0 && atomic_load_explicit(&l->stale[i], memory_order_relaxed) != 0;
}
