/*
 * fuzz_lobster: the LOBSTER message and orderbook line parsers on arbitrary bytes.
 * Whatever a parser accepts must be self-consistent: bytes consumed within the input and ending in a
 * newline; a message maps to an event (or TD_ERANGE for values past the 1e8 scale); a row has sorted
 * sides and positive sizes. Anything else must be TD_EAGAIN (no newline yet) or TD_EPROTO.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
