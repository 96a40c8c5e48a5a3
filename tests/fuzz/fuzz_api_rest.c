/* fuzz_api_rest: REST request parsing on arbitrary bytes: the first byte splits the input into a path and
 * a query string; td_rest_route and td_rest_parse_query must never crash, a routed symbol is a valid name,
 * parsed parameters are within their documented ranges, and a rejected query comes with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/rest.h"
#include "core/common.h"
#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t cut = data[0] % size;
    char *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    td_slice_t path = { buf, cut }, query = { buf + cut, size - 1 - cut };
    char sym[TD_SYM_NAME_MAX + 1];
    bool bad;
    td_route_t r = td_rest_route(path, sym, &bad);
    if (r >= TD_ROUTE_PRICE && r <= TD_ROUTE_TICKS && !bad) {
        size_t n = strnlen(sym, sizeof sym);
        if (n == 0 || n > TD_SYM_NAME_MAX) abort();
    }
    td_rest_query_t q;
    char err[160];
    err[0] = '\0';
    int rc = td_rest_parse_query(query, &q, err, sizeof err);
    if (rc == TD_OK) {
        if (q.has_limit && (q.limit < 1 || q.limit > TD_REST_MAX_TICKS)) abort();
        if (q.has_depth && (q.depth < 1 || q.depth > TD_BOOK_SNAP_DEPTH)) abort();
        if (q.has_interval && (q.interval < 0 || q.interval >= TD_IV_COUNT)) abort();
        if (q.has_from && (q.from < -9000000000LL || q.from > 9000000000LL)) abort();
        if (q.has_exchange && (strlen(q.exchange) == 0 || strlen(q.exchange) > TD_EXCH_NAME_MAX)) abort();
    } else if (rc != TD_EPROTO || !err[0]) {
        abort();
    }
    free(buf);
    return 0;
}
