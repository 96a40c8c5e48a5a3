/* fuzz_http: td_http_parse_request on arbitrary bytes as a pipelined stream, parsed once in one piece and
 * once in chunks chosen by the first input byte; both must give the same requests and errors, every slice
 * must lie inside the buffer, and query strings of parsed requests are decoded too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "net/http.h"

typedef struct result {
    int rc, status;
    size_t nheaders, path_off, path_n, query_n, body_n;
} result_t;

static const td_http_limits_t lim = { .max_line = 512, .max_head = 1024, .max_headers = 16, .max_body = 2048 };

static void check_slice(const char *buf, size_t len, td_slice_t s)
{
    if (s.n && (s.p < buf || s.p + s.n > buf + len)) abort();
}

static size_t run(const uint8_t *data, size_t size, size_t chunk, result_t *out, size_t max)
{
    static char buf[1 << 16];
    td_http_req_t req;
    size_t have = 0, fed = 0, got = 0, prev = 0;
    while (got < max) {
        size_t add = chunk ? chunk : size;
        if (add > size - fed) add = size - fed;
        memcpy(buf + have, data + fed, add);
        have += add;
        fed += add;
        for (;;) {
            int rc = td_http_parse_request(buf, have, prev, &lim, &req);
            if (rc == TD_EAGAIN) {
                prev = req.head_len ? 0 : have;
                break;
            }
            if (rc != TD_EPROTO && (rc <= 0 || (size_t)rc > have)) abort();
            result_t *r = &out[got++];
            memset(r, 0, sizeof *r);
            r->rc = rc;
            r->status = rc < 0 ? req.status : 0;
            if (rc < 0) {
                if (req.status != 400 && req.status != 413 && req.status != 414 && req.status != 431 &&
                    req.status != 501 && req.status != 505)
                    abort();
                return got;
            }
            check_slice(buf, have, req.method);
            check_slice(buf, have, req.path);
            check_slice(buf, have, req.query);
            check_slice(buf, have, req.body);
            for (size_t i = 0; i < req.nheaders; i++) {
                check_slice(buf, have, req.headers[i].name);
                check_slice(buf, have, req.headers[i].value);
            }
            r->nheaders = req.nheaders;
            r->path_off = (size_t)(req.path.p - buf);
            r->path_n = req.path.n;
            r->query_n = req.query.n;
            r->body_n = req.body.n;
            size_t pos = 0;
            td_slice_t k, v;
            char dec[2048];
            while (td_http_query_next(req.query, &pos, &k, &v)) {
                int n = td_http_pct_decode(v, dec, sizeof dec, true);
                if (n > (int)v.n) abort();
            }
            td_http_query_get(req.query, "symbol", dec, sizeof dec);
            memmove(buf, buf + rc, have - (size_t)rc);
            have -= (size_t)rc;
            prev = 0;
            if (got == max) return got;
        }
        if (fed == size) break;
    }
    return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384) return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    data++;
    size--;
    result_t a[64], b[64];
    size_t na = run(data, size, 0, a, 64);
    size_t nb = run(data, size, chunk, b, 64);
    if (na != nb) abort();
    for (size_t i = 0; i < na; i++)
        if (a[i].rc != b[i].rc || a[i].status != b[i].status || a[i].nheaders != b[i].nheaders ||
            a[i].path_n != b[i].path_n || a[i].query_n != b[i].query_n || a[i].body_n != b[i].body_n)
            abort();
    return 0;
}
