/* fuzz_wsclient: the client-side parsers of feed/wsclient.c on arbitrary bytes, as a server (or a
 * man-in-the-middle without TLS) could send them:
 *  - td_http_parse_response(): on every prefix of the input the answer is EAGAIN until one fixed head length,
 *    then that same length (incremental contract); a parsed head lies inside the input;
 *  - td_http_dechunk() on the bytes after the head: the decoded length never exceeds what it consumed, and
 *    consumed never exceeds the input;
 *  - the frame stream after the head through td_ws_rx_feed() in client mode (no masking required), as
 *    td_wsc_recv() drives it: consumed counts stay inside the buffer, errors carry 1002/1007/1009;
 *  - td_url_parse() on the input as a string: host and path are NUL-terminated and the path starts '/'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "feed/wsclient.h"
#include "net/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 18)) return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = 0;

    td_http_resp_t r;
    int full = td_http_parse_response(buf, size, &r);
    if (full > 0 && (size_t)full > size) abort();
    if (full > 0 && (r.head_len != (size_t)full || r.status < 100 || r.status > 599)) abort();
    /* a few prefixes must agree with the full answer */
    for (size_t cut = 0; cut < size; cut += 1 + size / 16) {
        int pr = td_http_parse_response(buf, cut, &r);
        if (pr == TD_EPROTO && full != TD_EPROTO) abort();
        if (pr > 0 && pr != full) abort();
    }
    size_t body_off = full > 0 ? (size_t)full : 0;

    /* chunked body */
    char *copy = malloc(size - body_off + 1);
    memcpy(copy, buf + body_off, size - body_off);
    size_t used = 0;
    int64_t d = td_http_dechunk(copy, size - body_off, &used);
    if (d >= 0 && (used > size - body_off || (size_t)d > used)) abort();
    if (d < 0 && d != TD_EAGAIN && d != TD_EPROTO) abort();
    free(copy);

    /* frames after the head, client mode */
    td_ws_rx_t rx;
    td_ws_rx_init(&rx, 4096, false);
    char *frames = buf + body_off;
    size_t have = size - body_off;
    for (int guard = 0; guard < 10000 && have > 0; guard++) {
        td_ws_msg_t m;
        int rc = td_ws_rx_feed(&rx, frames, have, &m);
        if (rc == TD_EAGAIN) break;
        if (rc < 0) {
            if (rc != TD_EPROTO) abort();
            if (rx.close_code != 1002 && rx.close_code != 1007 && rx.close_code != 1009) abort();
            break;
        }
        if (rc == 0 || (size_t)rc > have) abort();
        if ((m.kind == TD_WS_TEXT || m.kind == TD_WS_BINARY) && m.len > 4096) abort();
        if (m.kind == TD_WS_TEXT && !td_utf8_valid(m.data, m.len)) abort();
        frames += rc;
        have -= (size_t)rc;
    }
    td_ws_rx_free(&rx);

    td_url_t u;
    if (td_url_parse(buf, &u) == TD_OK) {
        if (u.path[0] != '/' || strlen(u.host) >= sizeof u.host || u.host[0] == 0 || u.port == 0) abort();
    }
    free(buf);
    return 0;
}
