/* supervisor.c: backoff, circuit breaker and health copy-out (contract in supervisor.h). Pure; the caller's
 * thread. */
#include "feed/supervisor.h"

#include "core/clock.h"

void td_backoff_init(td_backoff_t *b, uint32_t base_ms, uint32_t max_ms)
{
    b->base_ms = base_ms ? base_ms : 1;
    b->max_ms = max_ms < b->base_ms ? b->base_ms : max_ms;
    b->attempt = 0;
}

uint32_t td_backoff_nominal(const td_backoff_t *b, uint32_t k)
{
    uint64_t d = b->base_ms;
    for (uint32_t i = 0; i < k && d < b->max_ms; i++) d <<= 1; /* stops doubling at the cap: no overflow */
    return d > b->max_ms ? b->max_ms : (uint32_t)d;
}

uint32_t td_backoff_next(td_backoff_t *b, td_rng_t *rng)
{
    uint32_t d = td_backoff_nominal(b, b->attempt);
    if (b->attempt < 64) b->attempt++;
    uint32_t half = d / 2;
    return half + (uint32_t)td_rng_below(rng, (uint64_t)(d - half) + 1);
}

void td_breaker_init(td_breaker_t *b, uint32_t threshold, uint32_t cooldown_ms, uint32_t max_cooldown_ms)
{
    b->threshold = threshold ? threshold : 1;
    b->cooldown_ms = cooldown_ms;
    b->max_cooldown_ms = max_cooldown_ms < cooldown_ms ? cooldown_ms : max_cooldown_ms;
    b->state = TD_BREAKER_CLOSED;
    b->failures = 0;
    b->cur_cooldown_ms = cooldown_ms;
    b->open_until_ns = 0;
    b->opened = 0;
}

bool td_breaker_allow(td_breaker_t *b, int64_t now_ns)
{
    switch (b->state) {
    case TD_BREAKER_CLOSED:
        return true;
    case TD_BREAKER_OPEN:
        if (now_ns < b->open_until_ns) return false;
        b->state = TD_BREAKER_HALF_OPEN;
        return true;
    case TD_BREAKER_HALF_OPEN:
        return true; /* the one trial is in progress: its outcome decides */
    }
    return false;
}

void td_breaker_success(td_breaker_t *b)
{
    b->state = TD_BREAKER_CLOSED;
    b->failures = 0;
    b->cur_cooldown_ms = b->cooldown_ms;
}

static void open_now(td_breaker_t *b, int64_t now_ns)
{
    b->state = TD_BREAKER_OPEN;
    b->open_until_ns = now_ns + (int64_t)b->cur_cooldown_ms * TD_NS_PER_MS;
    b->opened++;
}

bool td_breaker_failure(td_breaker_t *b, int64_t now_ns)
{
    if (b->failures < UINT32_MAX) b->failures++;
    if (b->state == TD_BREAKER_HALF_OPEN) {
        uint64_t next = (uint64_t)b->cur_cooldown_ms * 2;
        b->cur_cooldown_ms = next > b->max_cooldown_ms ? b->max_cooldown_ms : (uint32_t)next;
        open_now(b, now_ns);
        return true;
    }
    if (b->state == TD_BREAKER_CLOSED && b->failures >= b->threshold) {
        open_now(b, now_ns);
        return true;
    }
    return false;
}

const char *td_breaker_state_name(td_breaker_state_t s)
{
    switch (s) {
    case TD_BREAKER_CLOSED: return "closed";
    case TD_BREAKER_OPEN: return "open";
    case TD_BREAKER_HALF_OPEN: return "half-open";
    }
    return "?";
}

const char *td_feed_state_name(td_feed_state_t s)
{
    static const char *const names[] = { "connecting", "live", "backoff", "open-circuit", "fallback", "stopped" };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

void td_feed_health_read(const td_feed_health_atomic_t *h, int64_t now_mono_ns, td_feed_health_t *o)
{
#define LD(x) atomic_load_explicit(&h->x, memory_order_relaxed)
    o->state = (td_feed_state_t)LD(state);
    int64_t last = LD(last_msg_ns);
    o->last_msg_age_ns = last ? now_mono_ns - last : -1;
    o->connects = LD(connects);
    o->reconnects = LD(reconnects);
    o->failures = LD(failures);
    o->stalls = LD(stalls);
    o->circuit_opens = LD(circuit_opens);
    o->messages = LD(messages);
    o->bad = LD(bad);
    o->gaps = LD(gaps);
    o->resyncs = LD(resyncs);
    o->backfilled = LD(backfilled);
    o->snapshots = LD(snapshots);
    o->msgs_per_sec = (double)LD(msgs_per_sec_milli) / 1000.0;
    o->stale_symbols = LD(stale_symbols);
    o->symbols = LD(symbols);
#undef LD
}
