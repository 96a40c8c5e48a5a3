/* fuzz_ws: td_ws_rx_feed on arbitrary bytes as a client frame stream (server side: masking required), once
 * in one piece and once in chunks chosen by the first input byte; both must give the same messages, close
 * codes and errors. Delivered text must be valid UTF-8; close codes on errors are 1002/1007/1009 only. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "net/ws.h"

typedef struct result {
    int rc, kind;
    uint16_t code;
    size_t len;
    uint64_t hash;
} result_t;

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
    return h;
}

static size_t run(const uint8_t *data, size_t size, size_t chunk, bool mask, result_t *out, size_t max)
{
    static char buf[1 << 16];
    td_ws_rx_t rx;
    td_ws_rx_init(&rx, 1024, mask);
    size_t have = 0, fed = 0, got = 0;
    while (got < max) {
        size_t add = chunk ? chunk : size;
        if (add > size - fed) add = size - fed;
        memcpy(buf + have, data + fed, add);
        have += add;
        fed += add;
        while (got < max) {
            td_ws_msg_t m;
            int rc = td_ws_rx_feed(&rx, buf, have, &m);
            if (rc == TD_EAGAIN) break;
            result_t *r = &out[got++];
            memset(r, 0, sizeof *r);
            r->rc = rc;
            if (rc < 0) {
                if (rc != TD_EPROTO) abort();
                if (rx.close_code != 1002 && rx.close_code != 1007 && rx.close_code != 1009) abort();
                r->code = rx.close_code;
                goto done;
            }
            if ((size_t)rc > have) abort();
            r->kind = (int)m.kind;
            r->code = m.close_code;
            r->len = m.len;
            r->hash = fnv(m.data, m.len);
            if (m.kind == TD_WS_TEXT && !td_utf8_valid(m.data, m.len)) abort();
            if ((m.kind == TD_WS_PING || m.kind == TD_WS_PONG || m.kind == TD_WS_CLOSE) && m.len > 125) abort();
            memmove(buf, buf + rc, have - (size_t)rc);
            have -= (size_t)rc;
        }
        if (fed == size) break;
    }
done:
    td_ws_rx_free(&rx);
    return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 32768) return 0;
    size_t chunk = (size_t)(data[0] & 0x7f) % 23 + 1;
    bool mask = !(data[0] & 0x80); /* mostly server mode; sometimes a client-side parser */
    data++;
    size--;
    result_t a[128], b[128];
    size_t na = run(data, size, 0, mask, a, 128);
    size_t nb = run(data, size, chunk, mask, b, 128);
    if (na != nb) abort();
    for (size_t i = 0; i < na; i++)
        if (a[i].rc != b[i].rc || a[i].kind != b[i].kind || a[i].code != b[i].code || a[i].len != b[i].len ||
            a[i].hash != b[i].hash)
            abort();
    /* framing our own output round-trips */
    if (size <= 300) {
        td_nbuf_t *f = td_ws_frame_nbuf(TD_WS_OP_BINARY, data, size);
        td_ws_rx_t rx;
        td_ws_rx_init(&rx, 1024, false);
        td_ws_msg_t m;
        int rc = td_ws_rx_feed(&rx, f->data, f->len, &m);
        if (rc != (int)f->len || m.kind != TD_WS_BINARY || m.len != size || (size && memcmp(m.data, data, size)))
            abort();
        td_ws_rx_free(&rx);
        td_nbuf_unref(f);
    }
    return 0;
}
