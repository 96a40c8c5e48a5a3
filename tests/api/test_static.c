/* test_static.c: td_static_serve() behind a real td_server on 127.0.0.1:0, driven by raw sockets: content
 * types, index.html for "/", precompressed variants chosen by Accept-Encoding (br over gzip, q=0 honoured),
 * ETag + If-None-Match -> 304, Cache-Control (immutable hashed assets, no-cache index.html), HEAD, traversal
 * and dotfile attempts left to the caller (TD_ENOENT -> 404 here), API paths not touched, and the "dashboard
 * not built" page when the root has no index.html. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "api/static.h"
#include "core/common.h"

static char root[256];
static char empty_root[256];

static void on_http(td_conn_t *c, const td_http_req_t *req, void *user)
{
    const char *r = td_slice_eq(req->query, "empty") ? empty_root : root;
    if (td_static_serve(c, req, r) == TD_ENOENT) td_conn_http_error(c, 404, NULL, "no such route", NULL);
}

static td_server_t *start(void)
{
    td_server_config_t cfg = { 0 };
    cfg.threads = 1;
    cfg.handlers.on_http_request = on_http;
    td_server_t *s = td_server_create(&cfg);
    assert_non_null(s);
    assert_int_equal(td_server_start(s), 0);
    return s;
}

static void write_file(const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

typedef struct resp {
    int status;
    char head[4096];
    char body[65536];
    size_t body_len;
} resp_t;

/* One request on a fresh connection; HEAD responses have no body whatever Content-Length says. */
static void request(td_server_t *s, const char *method, const char *target, const char *extra, resp_t *r)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(td_server_port(s)) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[2048];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n", method, target,
                     extra ? extra : "");
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    static char buf[1 << 17];
    size_t len = 0;
    for (;;) {
        ssize_t got = recv(fd, buf + len, sizeof buf - len, 0);
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fd);
    char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) fail_msg("no response head for %s %s", method, target);
    size_t hl = (size_t)(end - buf) + 4;
    assert_true(hl < sizeof r->head);
    memcpy(r->head, buf, hl);
    r->head[hl] = 0;
    assert_int_equal(sscanf(r->head, "HTTP/1.1 %d", &r->status), 1);
    r->body_len = len - hl;
    assert_true(r->body_len < sizeof r->body);
    memcpy(r->body, buf + hl, r->body_len);
    r->body[r->body_len] = 0;
}

/* The value of a response header ("" when absent), in a static buffer. */
static const char *header(const resp_t *r, const char *name)
{
    static char v[512];
    char key[128];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *p = strcasestr(r->head, key);
    if (!p) return "";
    p += strlen(key);
    const char *e = strstr(p, "\r\n");
    snprintf(v, sizeof v, "%.*s", (int)(e - p), p);
    return v;
}

#define WANT_HEADER(r, name, want)                                                                  \
    do {                                                                                            \
        if (strcmp(header(r, name), want) != 0)                                                     \
            fail_msg("%s: '%s', want '%s'\n%s", name, header(r, name), want, (r)->head);            \
    } while (0)

static int setup(void **state)
{
    snprintf(root, sizeof root, "/tmp/td_static_%d", (int)getpid());
    snprintf(empty_root, sizeof empty_root, "/tmp/td_static_%d/nothing", (int)getpid());
    mkdir(root, 0755);
    mkdir(empty_root, 0755);
    char p[512];
    snprintf(p, sizeof p, "%s/assets", root);
    mkdir(p, 0755);
    write_file("index.html", "<!doctype html><title>t</title>");
    write_file("assets/app-abc123.js", "console.log('plain')");
    write_file("assets/app-abc123.js.gz", "GZ");
    write_file("assets/app-abc123.js.br", "BR");
    write_file("assets/style-x1.css", "body{}");
    write_file("assets/style-x1.css.gz", "CSSGZ");
    write_file("logo.svg", "<svg/>");
    write_file(".secret", "no");
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_types_and_cache(void **state)
{
    td_server_t *s = start();
    resp_t r;
    request(s, "GET", "/", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "<!doctype html><title>t</title>");
    WANT_HEADER(&r, "Content-Type", "text/html; charset=utf-8");
    WANT_HEADER(&r, "Cache-Control", "no-cache");
    WANT_HEADER(&r, "Content-Encoding", "");

    request(s, "GET", "/assets/app-abc123.js", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "console.log('plain')");
    WANT_HEADER(&r, "Content-Type", "text/javascript; charset=utf-8");
    WANT_HEADER(&r, "Cache-Control", "public, max-age=31536000, immutable");
    WANT_HEADER(&r, "Vary", "Accept-Encoding");

    request(s, "GET", "/logo.svg", NULL, &r);
    assert_int_equal(r.status, 200);
    WANT_HEADER(&r, "Content-Type", "image/svg+xml");

    request(s, "GET", "/assets/style-x1.css", NULL, &r);
    WANT_HEADER(&r, "Content-Type", "text/css; charset=utf-8");

    request(s, "HEAD", "/assets/app-abc123.js", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    WANT_HEADER(&r, "Content-Length", "20");
    td_server_destroy(s);
}

static void test_encodings(void **state)
{
    td_server_t *s = start();
    resp_t r;
    request(s, "GET", "/assets/app-abc123.js", "Accept-Encoding: gzip, deflate, br, zstd\r\n", &r);
    assert_string_equal(r.body, "BR");
    WANT_HEADER(&r, "Content-Encoding", "br");
    WANT_HEADER(&r, "Content-Type", "text/javascript; charset=utf-8");

    request(s, "GET", "/assets/app-abc123.js", "Accept-Encoding: gzip\r\n", &r);
    assert_string_equal(r.body, "GZ");
    WANT_HEADER(&r, "Content-Encoding", "gzip");

    request(s, "GET", "/assets/app-abc123.js", "Accept-Encoding: br;q=0, gzip;q=0.5\r\n", &r);
    assert_string_equal(r.body, "GZ");

    request(s, "GET", "/assets/app-abc123.js", "Accept-Encoding: identity\r\n", &r);
    assert_string_equal(r.body, "console.log('plain')");

    request(s, "GET", "/assets/app-abc123.js", "Accept-Encoding: *;q=0\r\n", &r);
    assert_string_equal(r.body, "console.log('plain')");

    request(s, "GET", "/assets/app-abc123.js", "Accept-Encoding: *\r\n", &r);
    assert_string_equal(r.body, "BR");

    /* only a .gz exists for the css: br is asked first but not there */
    request(s, "GET", "/assets/style-x1.css", "Accept-Encoding: br, gzip\r\n", &r);
    assert_string_equal(r.body, "CSSGZ");
    WANT_HEADER(&r, "Content-Encoding", "gzip");
    td_server_destroy(s);
}

static void test_etag(void **state)
{
    td_server_t *s = start();
    resp_t r;
    request(s, "GET", "/assets/app-abc123.js", "Accept-Encoding: gzip\r\n", &r);
    char etag[128];
    snprintf(etag, sizeof etag, "%.120s", header(&r, "ETag"));
    assert_true(strlen(etag) > 2 && etag[0] == '"');

    char h[256];
    snprintf(h, sizeof h, "Accept-Encoding: gzip\r\nIf-None-Match: \"nope\", %s\r\n", etag);
    request(s, "GET", "/assets/app-abc123.js", h, &r);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.body_len, 0);
    WANT_HEADER(&r, "ETag", etag);

    /* the same tag does not match another variant (br has its own) */
    snprintf(h, sizeof h, "Accept-Encoding: br\r\nIf-None-Match: %s\r\n", etag);
    request(s, "GET", "/assets/app-abc123.js", h, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "BR");

    snprintf(h, sizeof h, "Accept-Encoding: gzip\r\nIf-None-Match: W/%s\r\n", etag);
    request(s, "GET", "/assets/app-abc123.js", h, &r);
    assert_int_equal(r.status, 304);
    td_server_destroy(s);
}

static void test_not_ours(void **state)
{
    td_server_t *s = start();
    resp_t r;
    static const char *const bad[] = {
        "/../etc/passwd", "/assets/../../etc/passwd", "/%2e%2e/etc/passwd", "/assets/%2e%2e/index.html",
        "/.secret", "/assets/", "/assets", "//etc/passwd", "/nothing-here.js", "/a%00b", "/v1/symbols",
        "/healthz", "/metrics", "/x\\y",
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(bad); i++) {
        request(s, "GET", bad[i], NULL, &r);
        if (r.status != 404) fail_msg("%s: status %d, want 404\n%s", bad[i], r.status, r.body);
    }
    request(s, "POST", "/index.html", "Content-Length: 0\r\n", &r);
    assert_int_equal(r.status, 404); /* not answered by the static handler: the caller's 404/405 */
    request(s, "GET", "/index.html?x=1", NULL, &r);
    assert_int_equal(r.status, 200);
    td_server_destroy(s);
}

static void test_not_built(void **state)
{
    td_server_t *s = start();
    resp_t r;
    request(s, "GET", "/?empty", NULL, &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "dashboard is not built"));
    assert_non_null(strstr(r.body, "make web"));
    WANT_HEADER(&r, "Content-Type", "text/html; charset=utf-8");
    WANT_HEADER(&r, "Cache-Control", "no-store");
    request(s, "GET", "/assets/app.js?empty", NULL, &r);
    assert_int_equal(r.status, 404);
    td_server_destroy(s);
}

static void test_content_type_table(void **state)
{
    assert_string_equal(td_static_content_type("a/b.JS"), "text/javascript; charset=utf-8");
    assert_string_equal(td_static_content_type("x.woff2"), "font/woff2");
    assert_string_equal(td_static_content_type("x.json"), "application/json");
    assert_string_equal(td_static_content_type("noext"), "application/octet-stream");
    assert_string_equal(td_static_content_type("dir.d/noext"), "application/octet-stream");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_and_cache), cmocka_unit_test(test_encodings), cmocka_unit_test(test_etag),
        cmocka_unit_test(test_not_ours),        cmocka_unit_test(test_not_built), cmocka_unit_test(test_content_type_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
