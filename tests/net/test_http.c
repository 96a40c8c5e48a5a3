/* test_http.c: the HTTP/1.1 request parser (edge cases, limits, pipelining under random splits), query
 * strings with percent-decoding, and response/error building. */
#include "testutil.h"

#include <string.h>

#include "core/common.h"
#include "core/rng.h"
#include "net/http.h"

static int parse(const char *s, td_http_req_t *req)
{
    return td_http_parse_request(s, strlen(s), 0, NULL, req);
}

static void want_status(const char *s, int status)
{
    td_http_req_t req;
    int rc = parse(s, &req);
    if (rc != TD_EPROTO || req.status != status)
        fail_msg("parse(%.60s...) = %d status %d, want TD_EPROTO status %d", s, rc, req.status, status);
}

static void test_simple_get(void **state)
{
    (void)state;
    td_http_req_t req;
    const char *s = "GET /v1/prices/AAPL/candles?interval=1m&from=1 HTTP/1.1\r\nHost: x\r\nX-Empty:\r\n"
                    "User-Agent:  curl/7.88 \r\n\r\n";
    int rc = parse(s, &req);
    assert_int_equal(rc, (int)strlen(s));
    assert_true(td_slice_eq(req.method, "GET"));
    assert_true(td_slice_eq(req.path, "/v1/prices/AAPL/candles"));
    assert_true(td_slice_eq(req.query, "interval=1m&from=1"));
    assert_true(td_slice_eq(req.target, "/v1/prices/AAPL/candles?interval=1m&from=1"));
    assert_int_equal(req.minor_version, 1);
    assert_int_equal(req.nheaders, 3);
    assert_true(td_slice_eq(*td_http_header(&req, "user-agent"), "curl/7.88"));
    assert_true(td_slice_eq(*td_http_header(&req, "HOST"), "x"));
    assert_int_equal(td_http_header(&req, "x-empty")->n, 0);
    assert_null(td_http_header(&req, "cookie"));
    assert_true(req.keep_alive);
    assert_false(req.upgrade);
    assert_int_equal(req.body.n, 0);
    assert_int_equal(req.head_len, strlen(s));
}

static void test_versions_and_keepalive(void **state)
{
    (void)state;
    td_http_req_t req;
    assert_true(parse("GET / HTTP/1.0\r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req) > 0);
    assert_true(req.keep_alive);
    assert_true(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);
    assert_true(parse("GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n", &req) > 0);
    assert_true(req.keep_alive);
    assert_true(req.upgrade);
    /* bare LF line ends are accepted, like picohttpparser */
    assert_int_equal(parse("GET /a HTTP/1.1\nHost: y\n\n", &req), 25);
    assert_true(td_slice_eq(*td_http_header(&req, "host"), "y"));
    /* leading blank lines are skipped and counted */
    assert_int_equal(parse("\r\n\r\nGET / HTTP/1.1\r\n\r\n", &req), 22);
    want_status("GET / HTTP/2.0\r\n\r\n", 505);
    want_status("GET / HTTP/1.2\r\n\r\n", 505);
    want_status("GET / HTTX/1.1\r\n\r\n", 400);
    want_status("GET / HTTP/1.1 \r\n\r\n", 400);
}

static void test_malformed(void **state)
{
    (void)state;
    want_status("GET  / HTTP/1.1\r\n\r\n", 400);          /* double space */
    want_status(" GET / HTTP/1.1\r\n\r\n", 400);
    want_status("GET /\x01 HTTP/1.1\r\n\r\n", 400);       /* control char in target */
    want_status("GET /\xff HTTP/1.1\r\n\r\n", 400);       /* non-ASCII target */
    want_status("G(T / HTTP/1.1\r\n\r\n", 400);           /* not a token */
    want_status("GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400);
    want_status("GET / HTTP/1.1\r\nName : v\r\n\r\n", 400); /* space before colon */
    want_status("GET / HTTP/1.1\r\n: v\r\n\r\n", 400);
    want_status("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400); /* obs-fold */
    want_status("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400);
    want_status("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400);
    want_status("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400);
    want_status("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
    want_status("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400);
    want_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
    want_status("\r\r", 400);
    td_http_req_t req;
    /* identical duplicate Content-Length is fine */
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab", &req), 59);
    /* obs-text in values is allowed */
    assert_true(parse("GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", &req) > 0);
}

static void test_incomplete(void **state)
{
    (void)state;
    const char *s = "POST /v1/alerts HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    size_t n = strlen(s);
    td_http_req_t req;
    for (size_t i = 0; i < n; i++) {
        int rc = td_http_parse_request(s, i, 0, NULL, &req);
        if (rc != TD_EAGAIN) fail_msg("prefix %zu: %d, want TD_EAGAIN", i, rc);
    }
    assert_int_equal(td_http_parse_request(s, n - 1, 0, NULL, &req), TD_EAGAIN);
    assert_int_equal(req.head_len, n - 5); /* head complete, body not: no prev_len hint next time */
    assert_int_equal(td_http_parse_request(s, 30, 0, NULL, &req), TD_EAGAIN);
    assert_int_equal(req.head_len, 0);
    assert_int_equal(td_http_parse_request(s, n, 30, NULL, &req), (int)n);
    assert_true(td_slice_eq(req.body, "hello"));
    assert_int_equal(req.content_length, 5);
}

static void test_limits(void **state)
{
    (void)state;
    td_http_limits_t lim = { .max_line = 64, .max_head = 256, .max_headers = 4, .max_body = 10 };
    td_http_req_t req;
    char buf[2048];

    /* request line: exactly at the limit passes, one more fails, also while incomplete */
    memset(buf, 0, sizeof buf);
    strcpy(buf, "GET /");
    memset(buf + 5, 'a', 64 - 5 - 9);
    strcat(buf, " HTTP/1.1\r\n\r\n");
    assert_int_equal(strlen(buf) - 4, 64);
    assert_int_equal(td_http_parse_request(buf, strlen(buf), 0, &lim, &req), (int)strlen(buf));
    strcpy(buf, "GET /");
    memset(buf + 5, 'a', 100);
    assert_int_equal(td_http_parse_request(buf, 105, 0, &lim, &req), TD_EPROTO);
    assert_int_equal(req.status, 414);
    assert_int_equal(td_http_parse_request(buf, 64, 0, &lim, &req), TD_EAGAIN);
    assert_int_equal(td_http_parse_request(buf, 65, 0, &lim, &req), TD_EPROTO);

    /* head size -> 431, even before the blank line arrives */
    strcpy(buf, "GET / HTTP/1.1\r\nX: ");
    size_t l = strlen(buf);
    memset(buf + l, 'b', 300);
    assert_int_equal(td_http_parse_request(buf, 200, 0, &lim, &req), TD_EAGAIN);
    assert_int_equal(td_http_parse_request(buf, 300, 0, &lim, &req), TD_EPROTO);
    assert_int_equal(req.status, 431);

    /* header count -> 431 */
    const char *many = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
    assert_int_equal(td_http_parse_request(many, strlen(many), 0, &lim, &req), TD_EPROTO);
    assert_int_equal(req.status, 431);
    lim.max_headers = 5;
    assert_int_equal(td_http_parse_request(many, strlen(many), 0, &lim, &req), (int)strlen(many));

    /* body -> 413 as soon as the head is in, without waiting for the body */
    const char *big = "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
    assert_int_equal(td_http_parse_request(big, strlen(big), 0, &lim, &req), TD_EPROTO);
    assert_int_equal(req.status, 413);
    const char *ok = "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
    assert_int_equal(td_http_parse_request(ok, strlen(ok), 0, &lim, &req), (int)strlen(ok));
}

/* ---- pipelining: a stream of requests parsed one-shot vs. fed in random pieces ---- */

typedef struct parsed {
    int rc;
    int status;
    char summary[256];
} parsed_t;

static void summarize(const td_http_req_t *req, int rc, parsed_t *out)
{
    out->rc = rc;
    out->status = rc == TD_EPROTO ? req->status : 0;
    if (rc > 0)
        snprintf(out->summary, sizeof out->summary, "%.*s|%.*s|%.*s|%zu|%d|%.*s", (int)req->method.n, req->method.p,
                 (int)req->path.n, req->path.p, (int)req->query.n, req->query.p, req->nheaders, req->keep_alive,
                 (int)req->body.n, req->body.p);
    else
        out->summary[0] = 0;
}

/* Parses a whole stream as a server does: buffer what arrived, consume complete requests. */
static size_t parse_stream(const char *s, size_t n, const size_t *cuts, size_t ncuts, parsed_t *out, size_t max_out)
{
    static char buf[1 << 16];
    size_t have = 0, got = 0, fed = 0, prev = 0;
    td_http_req_t req;
    for (size_t k = 0; k <= ncuts && got < max_out; k++) {
        size_t upto = k < ncuts ? cuts[k] : n;
        memcpy(buf + have, s + fed, upto - fed);
        have += upto - fed;
        fed = upto;
        for (;;) {
            int rc = td_http_parse_request(buf, have, prev, NULL, &req);
            if (rc == TD_EAGAIN) {
                prev = req.head_len ? 0 : have;
                break;
            }
            summarize(&req, rc, &out[got++]);
            prev = 0;
            if (rc < 0) return got;
            memmove(buf, buf + rc, have - (size_t)rc);
            have -= (size_t)rc;
            if (got == max_out) break;
        }
    }
    return got;
}

static const char *const pieces[] = {
    "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /v1/symbols?x=%41&y=b+c HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
    "POST /v1/alerts HTTP/1.1\r\nContent-Length: 27\r\nContent-Type: application/json\r\n\r\n{\"symbol\":\"AAPL\",\"x\":1.5}\r\n",
    "\r\n",
    "DELETE /v1/alerts/7 HTTP/1.1\nHost: b\n\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "POST /e HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
};

static void test_pipelining_random_splits(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    char stream[8192];
    for (int iter = 0; iter < 300; iter++) {
        size_t n = 0;
        int count = 1 + (int)td_rng_below(&rng, 12);
        for (int i = 0; i < count; i++) {
            const char *p = pieces[td_rng_below(&rng, TD_ARRAY_LEN(pieces))];
            memcpy(stream + n, p, strlen(p));
            n += strlen(p);
        }
        if (td_rng_below(&rng, 4) == 0) { /* sometimes end with garbage, so errors are compared too */
            memcpy(stream + n, "BAD REQUEST LINE\r\n\r\n", 20);
            n += 20;
        }
        parsed_t one[32], split[32];
        size_t n1 = parse_stream(stream, n, NULL, 0, one, 32);
        size_t cuts[64], ncuts = td_rng_below(&rng, 64);
        for (size_t i = 0; i < ncuts; i++) cuts[i] = td_rng_below(&rng, n + 1);
        for (size_t i = 1; i < ncuts; i++) /* insertion sort */
            for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        size_t n2 = parse_stream(stream, n, cuts, ncuts, split, 32);
        TD_CHECK(n1 == n2, "iter %d: %zu requests one-shot, %zu split", iter, n1, n2);
        for (size_t i = 0; i < n1; i++) {
            TD_CHECK(one[i].rc == split[i].rc && one[i].status == split[i].status &&
                         strcmp(one[i].summary, split[i].summary) == 0,
                     "iter %d req %zu: one-shot %d/%d '%s' vs split %d/%d '%s'", iter, i, one[i].rc, one[i].status,
                     one[i].summary, split[i].rc, split[i].status, split[i].summary);
        }
    }
}

/* ---- query strings ---- */

static td_slice_t sl(const char *s) { return (td_slice_t){ s, strlen(s) }; }

static void test_percent_decoding(void **state)
{
    (void)state;
    char out[64];
    int n = td_http_pct_decode(sl("a%20b%2Fc+d%e2%82%AC"), out, sizeof out, true);
    assert_int_equal(n, 10);
    assert_memory_equal(out, "a b/c d\xe2\x82\xac", 10);
    n = td_http_pct_decode(sl("a+b"), out, sizeof out, false);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "a+b", 3);
    assert_int_equal(td_http_pct_decode(sl("%"), out, sizeof out, true), TD_EPROTO);
    assert_int_equal(td_http_pct_decode(sl("%4"), out, sizeof out, true), TD_EPROTO);
    assert_int_equal(td_http_pct_decode(sl("ab%g1"), out, sizeof out, true), TD_EPROTO);
    assert_int_equal(td_http_pct_decode(sl("abcd"), out, 3, true), TD_ENOBUFS);
    assert_int_equal(td_http_pct_decode(sl(""), out, 0, true), 0);
    /* in place */
    char inplace[] = "x%41%42y";
    n = td_http_pct_decode(sl(inplace), inplace, sizeof inplace, true);
    assert_int_equal(n, 4);
    assert_memory_equal(inplace, "xABy", 4);
}

static void test_query(void **state)
{
    (void)state;
    char v[32];
    td_slice_t q = sl("interval=1m&&from=1708600000&sym%62ol=BRK%2EB&flag&empty=&to=a+b&api_key=%ZZ");
    assert_int_equal(td_http_query_get(q, "interval", v, sizeof v), 2);
    assert_string_equal(v, "1m");
    assert_int_equal(td_http_query_get(q, "from", v, sizeof v), 10);
    assert_string_equal(v, "1708600000");
    assert_int_equal(td_http_query_get(q, "symbol", v, sizeof v), 5); /* the key is decoded too */
    assert_string_equal(v, "BRK.B");
    assert_int_equal(td_http_query_get(q, "flag", v, sizeof v), 0);
    assert_int_equal(td_http_query_get(q, "empty", v, sizeof v), 0);
    assert_int_equal(td_http_query_get(q, "to", v, sizeof v), 3);
    assert_string_equal(v, "a b");
    assert_int_equal(td_http_query_get(q, "missing", v, sizeof v), TD_ENOENT);
    assert_int_equal(td_http_query_get(q, "api_key", v, sizeof v), TD_EPROTO);
    assert_int_equal(td_http_query_get(q, "from", v, 5), TD_ENOBUFS);
    assert_int_equal(td_http_query_get(sl("a=%00"), "a", v, sizeof v), TD_EPROTO);
    size_t pos = 0, count = 0;
    td_slice_t k, val;
    while (td_http_query_next(q, &pos, &k, &val)) count++;
    assert_int_equal(count, 7);
    pos = 0;
    assert_false(td_http_query_next(sl(""), &pos, &k, &val));
}

static void test_responses(void **state)
{
    (void)state;
    char buf[512];
    int n = td_http_response_head(buf, sizeof buf, 200, "application/json", 15, true, "X-A: b\r\n");
    assert_true(n > 0);
    assert_string_equal(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n"
                             "Connection: keep-alive\r\nX-A: b\r\n\r\n");
    n = td_http_response_head(buf, sizeof buf, 404, NULL, 0, false, NULL);
    assert_string_equal(buf, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_int_equal(td_http_response_head(buf, 20, 200, NULL, 0, true, NULL), TD_ENOBUFS);

    n = td_http_error_body(buf, sizeof buf, "bad_request", "interval must be \"1m\"\n\x01");
    assert_true(n > 0);
    buf[n] = 0;
    assert_string_equal(buf, "{\"error\":{\"code\":\"bad_request\",\"message\":\"interval must be \\\"1m\\\"\\n\\u0001\"}}");
    assert_int_equal(td_http_error_body(buf, 30, "bad_request", "long message here"), TD_ENOBUFS);
    assert_string_equal(td_http_error_code(413), "payload_too_large");
    assert_string_equal(td_http_error_code(431), "headers_too_large");
    assert_string_equal(td_http_reason(405), "Method Not Allowed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_versions_and_keepalive),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_pipelining_random_splits),
        cmocka_unit_test(test_percent_decoding),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_responses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
