/*
 * cmsg.h: the client-to-server WebSocket messages of API.md, parsed from JSON.
 *
 *   {"action":"subscribe","symbols":["AAPL","TSLA"],"channels":["tick","nbbo"]}
 *   {"action":"unsubscribe","symbols":["TSLA"]}          {"action":"ping"}
 * Extensions (per connection): "tier":"full"|"conflated", "interval_ms":N (conflation interval),
 * "batch_ms":N (batching window), "id": a string or integer echoed back in the reply.
 *
 * The parser is a strict RFC 8259 recursive-descent reader (depth-limited, no allocation): the whole
 * text must be one JSON object, unknown keys are skipped (so clients may send more than we read), and
 * every way to be wrong gives a code for the client ("bad_json", "bad_request", "too_many_symbols") and a
 * message that says where. Symbol names are kept as given (the caller upper-cases through the registry);
 * names over TD_SYM_NAME_MAX bytes are a bad_request.
 *
 * Threading: pure; any thread.
 */
#ifndef TD_API_CMSG_H
#define TD_API_CMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/symbols.h"

#define TD_CMSG_MAX_SYMBOLS  256
#define TD_CMSG_MAX_CHANNELS 16
#define TD_CMSG_CHANNEL_MAX  23
#define TD_CMSG_MAX_DEPTH    16

typedef enum td_cmsg_action {
    TD_CMSG_UNKNOWN = 0,
    TD_CMSG_SUBSCRIBE,
    TD_CMSG_UNSUBSCRIBE,
    TD_CMSG_PING,
} td_cmsg_action_t;

typedef struct td_cmsg {
    td_cmsg_action_t action;
    char action_name[32];     /* as sent (cut), for the unknown_action error */
    size_t nsymbols;
    char symbols[TD_CMSG_MAX_SYMBOLS][TD_SYM_NAME_MAX + 1];
    bool has_channels;
    size_t nchannels;
    char channels[TD_CMSG_MAX_CHANNELS][TD_CMSG_CHANNEL_MAX + 1];
    char tier[16];            /* "" when absent */
    int64_t interval_ms;      /* -1 when absent */
    int64_t batch_ms;         /* -1 when absent */
    char id[48];              /* the request id as JSON text (a quoted string or an integer), "" if none */
} td_cmsg_t;

/* TD_OK, or TD_EPROTO with *code and a message in err. */
int td_cmsg_parse(const char *s, size_t n, td_cmsg_t *out, const char **code, char *err, size_t errlen);

#endif
