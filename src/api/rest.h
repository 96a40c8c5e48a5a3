/*
 * rest.h: REST request parsing (routes and query parameters), separate from the handlers so it can be
 * fuzzed and unit-tested without a server.
 *
 * Routes (API.md): /v1/symbols, /v1/prices/{symbol}[/candles|/book|/nbbo|/ticks], /healthz, /metrics,
 * /v1/alerts[/{id}] (recognized so they answer 501 until the alerts issue lands).
 * Query parameters are validated strictly: a malformed or out-of-range value is a 400 with a message that
 * names the parameter and the accepted values; unknown parameters are ignored (clients may send more).
 *
 * Threading: pure.
 */
#ifndef TD_API_REST_H
#define TD_API_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bar/candle.h"
#include "core/symbols.h"
#include "net/http.h"

typedef enum td_route {
    TD_ROUTE_NONE = 0,   /* 404 */
    TD_ROUTE_HEALTHZ,
    TD_ROUTE_METRICS,
    TD_ROUTE_SYMBOLS,
    TD_ROUTE_PRICE,
    TD_ROUTE_CANDLES,
    TD_ROUTE_BOOK,
    TD_ROUTE_NBBO,
    TD_ROUTE_TICKS,
    TD_ROUTE_ALERTS,
    TD_ROUTE_STREAM,     /* /v1/prices without a symbol: the WebSocket endpoint */
} td_route_t;

/* Parses a (percent-encoded) path. For symbol routes, symbol gets the decoded name (NUL-terminated).
 * Returns the route, or TD_ROUTE_NONE; *bad_symbol is set when the symbol part is not a valid name. */
td_route_t td_rest_route(td_slice_t path, char symbol[TD_SYM_NAME_MAX + 1], bool *bad_symbol);

#define TD_REST_MAX_CANDLES 5000
#define TD_REST_MAX_TICKS 10000

typedef struct td_rest_query {
    bool has_interval, has_from, has_to, has_limit, has_depth, has_exchange, has_from_ms, has_to_ms, has_after_seq;
    td_interval_t interval;
    int64_t from, to;       /* seconds */
    int64_t from_ms, to_ms;
    int64_t limit;          /* 1..TD_REST_MAX_TICKS (routes cap further) */
    uint64_t after_seq;     /* /ticks: only trades with seq > after_seq (0..INT64_MAX) */
    int64_t depth;          /* 1..TD_BOOK_SNAP_DEPTH */
    char exchange[TD_EXCH_NAME_MAX + 1];
} td_rest_query_t;

/* TD_OK, or TD_EPROTO with a message for the 400 in err. */
int td_rest_parse_query(td_slice_t query, td_rest_query_t *q, char *err, size_t errlen);

#endif
