/*
 * supervisor.h: the policy half of a live feed's supervisor: reconnect backoff with jitter, the circuit
 * breaker, and the feed-health record that the metrics endpoint reads. The mechanism half (connections,
 * the stall detector, fallback switching, gap/resync after a reconnect) is in feed/live.c, which drives
 * these with its clock; everything here is pure and takes the time as an argument, so tests can drive
 * it without sleeping.
 *
 * Backoff: attempt k (0-based, consecutive failures) waits a delay drawn uniformly from
 * [d/2, d] with d = min(max_ms, base_ms * 2^k) ("equal jitter": never a thundering herd of clients
 * retrying in step, never retrying in under half the nominal delay).
 *
 * Circuit breaker: CLOSED counts consecutive failures; at `threshold` it OPENS for cooldown_ms (no
 * attempts at all: a failing exchange is not hammered); when the cool-down is over it is HALF_OPEN and
 * allows exactly one trial: success closes it, failure re-opens it with the cool-down doubled (up to
 * max_cooldown_ms). Any success resets the failure count and the cool-down.
 *
 * Health: written by the feed thread with relaxed atomic stores, read by any thread (metrics).
 * td_feed_health() (live.h) copies it out for a source.
 */
#ifndef TD_FEED_SUPERVISOR_H
#define TD_FEED_SUPERVISOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/rng.h"

typedef struct td_backoff {
    uint32_t base_ms, max_ms;
    uint32_t attempt;          /* consecutive failures so far */
} td_backoff_t;

void td_backoff_init(td_backoff_t *b, uint32_t base_ms, uint32_t max_ms);
/* The delay before the next attempt (ms), and counts this failure. */
uint32_t td_backoff_next(td_backoff_t *b, td_rng_t *rng);
/* The nominal (un-jittered) delay d for attempt k. */
uint32_t td_backoff_nominal(const td_backoff_t *b, uint32_t k);
static inline void td_backoff_reset(td_backoff_t *b) { b->attempt = 0; }

typedef enum td_breaker_state { TD_BREAKER_CLOSED = 0, TD_BREAKER_OPEN, TD_BREAKER_HALF_OPEN } td_breaker_state_t;

typedef struct td_breaker {
    uint32_t threshold;        /* consecutive failures that open it */
    uint32_t cooldown_ms, max_cooldown_ms;
    td_breaker_state_t state;
    uint32_t failures;         /* consecutive */
    uint32_t cur_cooldown_ms;
    int64_t open_until_ns;     /* monotonic */
    uint64_t opened;           /* times it opened */
} td_breaker_t;

void td_breaker_init(td_breaker_t *b, uint32_t threshold, uint32_t cooldown_ms, uint32_t max_cooldown_ms);
/* May we attempt now? OPEN turns HALF_OPEN once the cool-down has passed (and then allows one trial). */
bool td_breaker_allow(td_breaker_t *b, int64_t now_ns);
void td_breaker_success(td_breaker_t *b);
/* Records a failure; returns true if this failure opened (or re-opened) the breaker. */
bool td_breaker_failure(td_breaker_t *b, int64_t now_ns);
const char *td_breaker_state_name(td_breaker_state_t s);

/* ---- health ---- */
typedef enum td_feed_state {
    TD_FEED_CONNECTING = 0,  /* connecting or subscribing */
    TD_FEED_LIVE,            /* subscribed, messages flowing */
    TD_FEED_BACKOFF,         /* waiting before a reconnect */
    TD_FEED_OPEN_CIRCUIT,    /* circuit open, no fallback */
    TD_FEED_FALLBACK,        /* circuit open, events come from the fallback source */
    TD_FEED_STOPPED,
} td_feed_state_t;

const char *td_feed_state_name(td_feed_state_t s); /* "connecting", "live", "backoff", "open-circuit", ... */

typedef struct td_feed_health_atomic {
    _Atomic int state;               /* td_feed_state_t */
    _Atomic int64_t last_msg_ns;     /* monotonic time of the last data message, 0 = none yet */
    _Atomic uint64_t connects, reconnects, failures, stalls, circuit_opens;
    _Atomic uint64_t messages, bad, gaps, resyncs, backfilled, snapshots;
    _Atomic uint64_t msgs_per_sec_milli; /* messages/s over the last full second, x1000 */
    _Atomic uint32_t stale_symbols, symbols;
} td_feed_health_atomic_t;

typedef struct td_feed_health {
    td_feed_state_t state;
    int64_t last_msg_age_ns;         /* -1 when no message yet */
    uint64_t connects, reconnects, failures, stalls, circuit_opens;
    uint64_t messages, bad, gaps, resyncs, backfilled, snapshots;
    double msgs_per_sec;
    uint32_t stale_symbols, symbols;
} td_feed_health_t;

/* Copies h out (any thread); now_mono_ns for the message age. */
void td_feed_health_read(const td_feed_health_atomic_t *h, int64_t now_mono_ns, td_feed_health_t *out);

#endif
