/*
 * bench_lobster: LOBSTER message rows per second on the GOOG level-10 sample (147,916 rows, looped in
 * memory), for: parse only; parse + map to td_event_t; parse + map + td_obook_t; the file source seed-only
 * and reconciling; the full lobster-verify replay (source, book, row parse, exposure and top-10 compare). Peer: the obvious sscanf("%lf,...") parser, measured
 * in the same run (it also loses exactness: the time goes through a double).
 * Short on purpose (well under a second per figure): the machine is shared. Times are thread CPU time.
 * Fixed input, no randomness.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "book/book.h"
#include "core/clock.h"
#include "core/common.h"
#include "feed/lobster.h"

#define FILE_REL "lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv"
#define BOOK_REL "lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); fclose(f); return NULL; }
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static volatile int64_t sink;

/* Rates use thread CPU time (td_thread_cpu_ns), not wall time: the machine is shared by several developers,
 * and a busy neighbour would otherwise show up as a slow parser. Everything measured runs on this thread. */
static void report(const char *what, uint64_t rows, int64_t ns, size_t bytes)
{
    printf("  %-34s %8.2f M rows/s  %7.1f ns/row  %7.1f MB/s\n", what, rows / (ns / 1e9) / 1e6,
           (double)ns / (double)rows, bytes / (ns / 1e9) / 1e6);
}

int main(void)
{
    const char *root = getenv("TD_SHARED_DATA");
    char path[4096], bpath[4096];
    snprintf(path, sizeof path, "%s/%s", root && *root ? root : "../shared/data", FILE_REL);
    snprintf(bpath, sizeof bpath, "%s/%s", root && *root ? root : "../shared/data", BOOK_REL);
    size_t len;
    char *buf = slurp(path, &len);
    if (!buf) {
        fprintf(stderr, "bench_lobster: cannot read %s (set TD_SHARED_DATA)\n", path);
        return 1;
    }
    const int loops = 8;
    printf("bench_lobster: %s, %zu bytes, looped %d times\n", FILE_REL, len, loops);
    td_lobster_ctx_t ctx = { .sym = 1, .exch = 1, .day_utc_ns = td_us_eastern_midnight_utc_ns(2012, 6, 21) };

    /* parse only */
    uint64_t rows = 0;
    int64_t acc = 0, t0 = td_thread_cpu_ns();
    for (int l = 0; l < loops; l++) {
        size_t pos = 0;
        td_lobster_msg_t m;
        while (pos < len) {
            int rc = td_lobster_parse_msg(buf + pos, len - pos, &m);
            if (rc <= 0) { fprintf(stderr, "parse failed at %zu\n", pos); return 1; }
            pos += (size_t)rc;
            acc += m.size;
            rows++;
        }
    }
    int64_t t1 = td_thread_cpu_ns();
    sink = acc;
    report("parse", rows, t1 - t0, len * loops);

    /* parse + map */
    rows = 0;
    t0 = td_thread_cpu_ns();
    for (int l = 0; l < loops; l++) {
        size_t pos = 0;
        td_lobster_msg_t m;
        td_event_t ev;
        while (pos < len) {
            int rc = td_lobster_parse_msg(buf + pos, len - pos, &m);
            if (rc <= 0) return 1;
            pos += (size_t)rc;
            if (td_lobster_to_event(&m, &ctx, ++rows, &ev) != TD_OK) return 1;
            acc += ev.u.order.qty;
        }
    }
    t1 = td_thread_cpu_ns();
    sink = acc;
    report("parse + map to td_event_t", rows, t1 - t0, len * loops);

    /* peer: sscanf with a double time (inexact, shown for scale) */
    rows = 0;
    t0 = td_thread_cpu_ns();
    for (int l = 0; l < loops; l++) {
        const char *p = buf, *end = buf + len;
        while (p < end) {
            double t;
            int type, dir;
            unsigned long long id;
            long long size, price;
            /* one line at a time: glibc's sscanf runs strlen over its whole input on every call */
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = (size_t)((nl ? nl : end) - p);
            char line[256];
            if (n >= sizeof line) return 1;
            memcpy(line, p, n);
            line[n] = '\0';
            if (sscanf(line, "%lf,%d,%llu,%lld,%lld,%d", &t, &type, &id, &size, &price, &dir) != 6) return 1;
            acc += size;
            p = nl ? nl + 1 : end;
            rows++;
        }
    }
    t1 = td_thread_cpu_ns();
    sink = acc;
    report("peer: sscanf(\"%lf,...\")", rows, t1 - t0, len * loops);

    /* parse + map + apply to a td_obook_t (what the engine does with the feed; without the file's seed and
     * reconciliation, reductions of orders from before 09:30 are simply unknown ids here) */
    rows = 0;
    uint64_t unknown = 0;
    td_obook_t *book = td_obook_create();
    t0 = td_thread_cpu_ns();
    for (int l = 0; l < loops; l++) {
        td_obook_clear(book);
        size_t pos = 0;
        td_lobster_msg_t m;
        td_event_t ev;
        td_order_info_t info;
        while (pos < len) {
            int rc = td_lobster_parse_msg(buf + pos, len - pos, &m);
            if (rc <= 0) return 1;
            pos += (size_t)rc;
            if (td_lobster_to_event(&m, &ctx, ++rows, &ev) != TD_OK) return 1;
            switch (ev.type) {
            case TD_EV_ORDER_ADD:
                rc = td_obook_add(book, ev.u.order.order_id, ev.side, ev.u.order.price, ev.u.order.qty);
                break;
            case TD_EV_ORDER_CANCEL: rc = td_obook_cancel(book, ev.u.order.order_id, ev.u.order.qty, &info); break;
            case TD_EV_ORDER_EXEC: rc = td_obook_exec(book, ev.u.order.order_id, ev.u.order.qty, &info); break;
            case TD_EV_ORDER_DELETE: rc = td_obook_delete(book, ev.u.order.order_id, &info); break;
            default: rc = TD_OK;
            }
            unknown += rc != TD_OK;
        }
    }
    t1 = td_thread_cpu_ns();
    report("parse + map + td_obook_t", rows, t1 - t0, len * loops);
    printf("  (book: %zu live orders at the end, %llu ops on unknown ids over all loops)\n",
           td_obook_norders(book), (unsigned long long)unknown);
    td_obook_destroy(book);

    /* the file source, seed only and reconciling (mmap, parse, map, mirror book, per-row corrections) */
    for (int mode = 0; mode < 2; mode++) {
        char args[8300], err[256];
        snprintf(args, sizeof args, "%s,%s,reconcile=%d", path, bpath, mode);
        static td_event_t evs[256];
        uint64_t events = 0;
        const int sloops = 2;
        t0 = td_thread_cpu_ns();
        for (int l = 0; l < sloops; l++) {
            td_source_t *src = td_lobster_open(args, err, sizeof err);
            if (!src) { fprintf(stderr, "%s\n", err); return 1; }
            int n;
            while ((n = src->next(src, evs, 256)) > 0) events += (uint64_t)n;
            td_source_destroy(src);
        }
        t1 = td_thread_cpu_ns();
        report(mode ? "source, reconcile=1 (+book/row)" : "source, reconcile=0", 147916ULL * sloops, t1 - t0,
               len * sloops);
        printf("  (%llu events per pass)\n", (unsigned long long)(events / sloops));
    }

    /* the full verification replay: source + book + orderbook row parse + exposure + compare */
    static td_lobster_verify_stats_t st;
    const int vloops = 2;
    t0 = td_thread_cpu_ns();
    for (int l = 0; l < vloops; l++)
        if (td_lobster_verify(path, bpath, &st, NULL) != TD_OK) {
            fprintf(stderr, "verify failed: %s\n", st.mismatch);
            return 1;
        }
    t1 = td_thread_cpu_ns();
    report("lobster-verify (book + check/row)", st.rows * vloops, t1 - t0, len * vloops);
    free(buf);
    return 0;
}
