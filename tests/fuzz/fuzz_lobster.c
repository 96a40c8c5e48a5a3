/*
 * fuzz_lobster: the LOBSTER message and orderbook line parsers on arbitrary bytes.
 * Whatever a parser accepts must be self-consistent: bytes consumed within the input and ending in a
 * newline; a message maps to an event (or TD_ERANGE for values past the 1e8 scale); a row has sorted
 * sides and positive sizes. Anything else must be TD_EAGAIN (no newline yet) or TD_EPROTO.
 * Small inputs also go through the file source (both modes) and td_lobster_verify() as whole files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "core/log.h"
#include "feed/lobster.h"

static td_lobster_row_t row;

static void check_row(size_t size, int rc)
{
    if (rc == TD_EAGAIN || rc == TD_EPROTO) return;
    if (rc <= 0 || (size_t)rc > size) abort();
    if (row.nlevels == 0 || row.nask > row.nlevels || row.nbid > row.nlevels) abort();
    for (uint32_t i = 0; i < row.nask; i++)
        if (row.ask[i].size <= 0 || row.ask[i].price <= 0 || (i && row.ask[i].price <= row.ask[i - 1].price)) abort();
    for (uint32_t i = 0; i < row.nbid; i++)
        if (row.bid[i].size <= 0 || row.bid[i].price <= 0 || (i && row.bid[i].price >= row.bid[i - 1].price)) abort();
}

static char dir[64];

static void cleanup(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/FZ_2012-06-21_x_message_2.csv", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/FZ_2012-06-21_x_orderbook_2.csv", dir);
    unlink(path);
    rmdir(dir);
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
}

/* Whole files: input = MESSAGES [NUL ORDERBOOK]. The source (both modes) and the verifier must take any
 * content without crashing, leaking or reading out of bounds, and report through their return codes. */
static void files(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        td_log_min_level = TD_LOG_ERROR; /* malformed rows are the point here; their warnings are noise */
        snprintf(dir, sizeof dir, "/tmp/fuzz_lobster_XXXXXX");
        if (!mkdtemp(dir)) abort();
        atexit(cleanup);
    }
    const uint8_t *nul = memchr(data, 0, size);
    char mpath[128], bpath[128], args[300], err[256];
    snprintf(mpath, sizeof mpath, "%s/FZ_2012-06-21_x_message_2.csv", dir);
    snprintf(bpath, sizeof bpath, "%s/FZ_2012-06-21_x_orderbook_2.csv", dir);
    write_file(mpath, data, nul ? (size_t)(nul - data) : size);
    if (nul) write_file(bpath, nul + 1, size - (size_t)(nul - data) - 1);
    static td_event_t evs[64];
    for (int mode = 0; mode < 2; mode++) {
        if (!nul && mode) break;
        snprintf(args, sizeof args, "%s%s%s%s", mpath, nul ? "," : "", nul ? bpath : "", mode ? ",reconcile=0" : "");
        td_source_t *src = td_lobster_open(args, err, sizeof err);
        if (!src) continue; /* e.g. a malformed row 1 */
        int n;
        while ((n = src->next(src, evs, 64)) > 0)
            ;
        if (n != TD_EOF) abort();
        td_source_destroy(src);
    }
    if (nul) {
        static td_lobster_verify_stats_t st;
        int rc = td_lobster_verify(mpath, bpath, &st, NULL);
        if (rc != TD_OK && rc != TD_EPROTO) abort();
        if (rc == TD_OK && st.matched != st.rows) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size <= 4096) files(data, size);
    const char *buf = (const char *)data;
    td_lobster_msg_t m;
    int rc = td_lobster_parse_msg(buf, size, &m);
    if (rc >= 0) {
        if (rc == 0 || (size_t)rc > size || buf[rc - 1] != '\n') abort();
        if (m.type < 1 || m.type > 7 || (m.direction != 1 && m.direction != -1)) abort();
        if (m.order_id > TD_LOBSTER_MAX_ORDER_ID || m.time_ns < 0) abort();
        td_lobster_ctx_t ctx = { .sym = 1, .exch = 1, .day_utc_ns = 1340251200LL * 1000000000LL };
        td_event_t ev;
        int e = td_lobster_to_event(&m, &ctx, 1, &ev);
        if (e != TD_OK && e != TD_ERANGE) abort();
        if (e == TD_OK && ev.type == TD_EV_NONE) abort();
    } else if (rc != TD_EAGAIN && rc != TD_EPROTO) {
        abort();
    }
    /* the same bytes as an orderbook row, at the widest and a narrow level count */
    check_row(size, td_lobster_parse_row(buf, size, TD_LOBSTER_MAX_LEVELS, &row));
    check_row(size, td_lobster_parse_row(buf, size, 2, &row));
    /* the time field alone */
    int64_t ns;
    const char *comma = memchr(buf, ',', size);
    size_t tlen = comma ? (size_t)(comma - buf) : size;
    rc = td_lobster_parse_time(buf, tlen, &ns);
    if (rc == TD_OK ? ns < 0 : rc != TD_EPROTO) abort();
    return 0;
}
