/*
 * metrics.h: Prometheus text exposition (format 0.0.4) and latency histograms.
 *
 * A histogram has one writer thread (an I/O thread records the tick-to-client latency of what it
 * delivers) and any number of readers (a /metrics scrape on any I/O thread): the writer adds with a relaxed
 * load + store (no locked RMW on the hot path), readers sum several histograms bucket by bucket. Buckets
 * are fixed (TD_LAT_BOUNDS_US), so histograms of different threads add up.
 *
 * The writer functions append to a td_jb_t: "# HELP"/"# TYPE" once per family, then samples.
 *
 * Threading: td_lat_record from the histogram's owner thread only; everything else from any thread.
 */
#ifndef TD_OBS_METRICS_H
#define TD_OBS_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "api/jbuf.h"

#define TD_LAT_NBOUNDS 16 /* + the +Inf bucket */
extern const uint32_t TD_LAT_BOUNDS_US[TD_LAT_NBOUNDS];

typedef struct td_lat_hist {
    _Atomic uint64_t bucket[TD_LAT_NBOUNDS + 1]; /* non-cumulative; the last is +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;
} td_lat_hist_t;

/* Records `n` observations of latency_ns (negative latencies, from clock steps, count as 0). */
void td_lat_record(td_lat_hist_t *h, int64_t latency_ns, uint64_t n);
/* acc += h (acc is a plain snapshot, not shared). */
typedef struct td_lat_snap {
    uint64_t bucket[TD_LAT_NBOUNDS + 1];
    uint64_t count, sum_ns;
} td_lat_snap_t;
void td_lat_add(td_lat_snap_t *acc, const td_lat_hist_t *h);
/* The q-quantile (0..1) as the upper bound of its bucket, in microseconds; 0 when empty. */
double td_lat_quantile_us(const td_lat_snap_t *s, double q);

/* Exposition. `labels` is NULL or the inside of the braces: `feed="sim"`. */
void td_prom_family(td_jb_t *b, const char *name, const char *type, const char *help);
void td_prom_u64(td_jb_t *b, const char *name, const char *labels, uint64_t v);
void td_prom_f64(td_jb_t *b, const char *name, const char *labels, double v);
/* A histogram in seconds: name_bucket{le=...}, name_sum, name_count (family line included). */
void td_prom_lat_hist(td_jb_t *b, const char *name, const char *help, const td_lat_snap_t *s);

#endif
