/*
 * metrics.c: latency histograms and Prometheus text writers (see metrics.h).
 * Threading: see metrics.h; the bucket table is constant.
 */
#include "obs/metrics.h"

#include <stdio.h>

const uint32_t TD_LAT_BOUNDS_US[TD_LAT_NBOUNDS] = { 10,    25,    50,     100,    250,    500,    1000,    2500,
                                                    5000,  10000, 25000,  50000,  100000, 250000, 500000, 1000000 };

#define RELAXED_ADD(a, n) \
    atomic_store_explicit((a), atomic_load_explicit((a), memory_order_relaxed) + (n), memory_order_relaxed)

void td_lat_record(td_lat_hist_t *h, int64_t latency_ns, uint64_t n)
{
    if (latency_ns < 0) latency_ns = 0;
    uint64_t us = (uint64_t)latency_ns / 1000;
    int i = 0;
    while (i < TD_LAT_NBOUNDS && us > TD_LAT_BOUNDS_US[i]) i++;
    RELAXED_ADD(&h->bucket[i], n);
    RELAXED_ADD(&h->count, n);
    RELAXED_ADD(&h->sum_ns, (uint64_t)latency_ns * n);
}

void td_lat_add(td_lat_snap_t *acc, const td_lat_hist_t *h)
{
    for (int i = 0; i <= TD_LAT_NBOUNDS; i++) acc->bucket[i] += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
    acc->count += atomic_load_explicit(&h->count, memory_order_relaxed);
    acc->sum_ns += atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

double td_lat_quantile_us(const td_lat_snap_t *s, double q)
{
    uint64_t total = 0;
    for (int i = 0; i <= TD_LAT_NBOUNDS; i++) total += s->bucket[i];
    if (!total) return 0;
    double want = q * (double)total;
    uint64_t run = 0;
    for (int i = 0; i < TD_LAT_NBOUNDS; i++) {
        run += s->bucket[i];
        if ((double)run >= want) return TD_LAT_BOUNDS_US[i];
    }
    return 2.0 * TD_LAT_BOUNDS_US[TD_LAT_NBOUNDS - 1];
}

void td_prom_family(td_jb_t *b, const char *name, const char *type, const char *help)
{
    td_jb_lit(b, "# HELP ");
    td_jb_cstr(b, name);
    td_jb_ch(b, ' ');
    td_jb_cstr(b, help);
    td_jb_lit(b, "\n# TYPE ");
    td_jb_cstr(b, name);
    td_jb_ch(b, ' ');
    td_jb_cstr(b, type);
    td_jb_ch(b, '\n');
}

static void sample_head(td_jb_t *b, const char *name, const char *labels)
{
    td_jb_cstr(b, name);
    if (labels && *labels) {
        td_jb_ch(b, '{');
        td_jb_cstr(b, labels);
        td_jb_ch(b, '}');
    }
    td_jb_ch(b, ' ');
}

void td_prom_u64(td_jb_t *b, const char *name, const char *labels, uint64_t v)
{
    sample_head(b, name, labels);
    td_jb_u64(b, v);
    td_jb_ch(b, '\n');
}

void td_prom_f64(td_jb_t *b, const char *name, const char *labels, double v)
{
    char tmp[48];
    sample_head(b, name, labels);
    td_jb_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%.9g", v));
    td_jb_ch(b, '\n');
}

void td_prom_lat_hist(td_jb_t *b, const char *name, const char *help, const td_lat_snap_t *s)
{
    char n[128], le[48];
    td_prom_family(b, name, "histogram", help);
    snprintf(n, sizeof n, "%s_bucket", name);
    uint64_t run = 0;
    for (int i = 0; i < TD_LAT_NBOUNDS; i++) {
        run += s->bucket[i];
        snprintf(le, sizeof le, "le=\"%g\"", TD_LAT_BOUNDS_US[i] / 1e6);
        td_prom_u64(b, n, le, run);
    }
    run += s->bucket[TD_LAT_NBOUNDS];
    td_prom_u64(b, n, "le=\"+Inf\"", run);
    snprintf(n, sizeof n, "%s_sum", name);
    td_prom_f64(b, n, NULL, (double)s->sum_ns / 1e9);
    snprintf(n, sizeof n, "%s_count", name);
    td_prom_u64(b, n, NULL, s->count);
}
