/*
 * static.c: the dashboard's files over HTTP (see static.h for the contract).
 *
 * Safety: the request path is percent-decoded, then every segment must be a plain name (letters, digits,
 * '-', '_', '.', '~', '@', '+'; no segment starting with '.', so no "..", no dotfiles); anything else is
 * "not ours" (TD_ENOENT) before the file system is touched. The final component is opened with O_NOFOLLOW,
 * and only regular files are served.
 *
 * Compression: the web build writes name.br and name.gz next to each text asset. Brotli is preferred, then
 * gzip, when Accept-Encoding lists them with q > 0. Every answer carries Vary: Accept-Encoding and an ETag
 * that differs per variant (size, mtime, encoding), as caches require.
 */
#include "api/static.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/log.h"

#define PATH_CAP 1024

static const struct {
    const char *ext, *type;
} content_types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".mjs", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".json", "application/json" },
    { ".map", "application/json" },
    { ".webmanifest", "application/manifest+json" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".jpg", "image/jpeg" },
    { ".jpeg", "image/jpeg" },
    { ".gif", "image/gif" },
    { ".webp", "image/webp" },
    { ".ico", "image/x-icon" },
    { ".woff2", "font/woff2" },
    { ".woff", "font/woff" },
    { ".ttf", "font/ttf" },
    { ".txt", "text/plain; charset=utf-8" },
    { ".wasm", "application/wasm" },
};

const char *td_static_content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *slash = strrchr(name, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < TD_ARRAY_LEN(content_types); i++)
            if (!strcasecmp(dot, content_types[i].ext)) return content_types[i].type;
    return "application/octet-stream";
}

/* ---- the root directory ---- */

static char default_root[PATH_MAX];
static pthread_once_t default_root_once = PTHREAD_ONCE_INIT;

static bool has_index(const char *dir)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/index.html", dir);
    return access(p, R_OK) == 0;
}

static void find_default_root(void)
{
    const char *env = getenv("TD_WEB_ROOT");
    if (env && *env) {
        snprintf(default_root, sizeof default_root, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char cand[PATH_MAX];
            if (snprintf(cand, sizeof cand, "%s/../web/dist", exe) < (int)sizeof cand && has_index(cand)) {
                char *real = realpath(cand, NULL);
                snprintf(default_root, sizeof default_root, "%s", real ? real : cand);
                free(real);
                return;
            }
        }
    }
    snprintf(default_root, sizeof default_root, "web/dist");
}

const char *td_static_default_root(void)
{
    pthread_once(&default_root_once, find_default_root);
    return default_root;
}

/* ---- request checks ---- */

static bool is_name_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '_' || ch == '.' || ch == '~' || ch == '@' || ch == '+';
}

/* Decodes and checks the path; writes the file's path relative to root (no leading '/') into rel. */
static bool safe_rel_path(td_slice_t path, char *rel, size_t cap)
{
    char dec[PATH_CAP];
    int n = td_http_pct_decode(path, dec, sizeof dec - 1, false);
    if (n <= 0 || dec[0] != '/') return false;
    dec[n] = '\0';
    if (n == 1) {
        snprintf(rel, cap, "index.html");
        return true;
    }
    const char *p = dec + 1;
    while (*p) {
        if (*p == '.' || *p == '/') return false; /* dotfiles, "..", "//" */
        while (*p && *p != '/') {
            if (!is_name_char((unsigned char)*p)) return false;
            p++;
        }
        if (*p == '/') {
            p++;
            if (!*p) return false; /* a directory: "/assets/" */
        }
    }
    if ((size_t)n >= cap) return false;
    memcpy(rel, dec + 1, (size_t)n); /* includes the NUL */
    return true;
}

static bool is_api_path(td_slice_t path)
{
    static const char *const prefixes[] = { "/v1/", "/v1", "/healthz", "/metrics" };
    for (size_t i = 0; i < TD_ARRAY_LEN(prefixes); i++) {
        size_t k = strlen(prefixes[i]);
        if (path.n >= k && !memcmp(path.p, prefixes[i], k) &&
            (path.n == k || prefixes[i][k - 1] == '/' || path.p[k] == '/' || path.p[k] == '?'))
            return true;
    }
    return false;
}

/* Does Accept-Encoding allow `coding` (present with q > 0, or "*" with q > 0 and no explicit q=0)? */
static bool accepts_encoding(const td_http_req_t *req, const char *coding)
{
    const td_slice_t *h = td_http_header(req, "Accept-Encoding");
    if (!h) return false;
    size_t klen = strlen(coding), i = 0;
    int star = -1, exact = -1;
    while (i < h->n) {
        while (i < h->n && (h->p[i] == ' ' || h->p[i] == '\t' || h->p[i] == ',')) i++;
        size_t s = i;
        while (i < h->n && h->p[i] != ',' && h->p[i] != ';' && h->p[i] != ' ' && h->p[i] != '\t') i++;
        size_t tl = i - s;
        const char *tok = h->p + s;
        bool q_zero = false;
        /* parameters up to the next comma: only q matters */
        while (i < h->n && h->p[i] != ',') {
            if (h->p[i] == 'q' && i + 1 < h->n && h->p[i + 1] == '=') {
                size_t v = i + 2;
                q_zero = true; /* q=0, q=0.0, q=0.000 */
                if (v >= h->n || h->p[v] != '0') q_zero = false;
                for (v++; v < h->n && h->p[v] != ',' && h->p[v] != ';' && h->p[v] != ' '; v++)
                    if (h->p[v] != '.' && h->p[v] != '0') q_zero = false;
            }
            i++;
        }
        if (tl == klen && !strncasecmp(tok, coding, klen)) exact = !q_zero;
        else if (tl == 1 && tok[0] == '*') star = !q_zero;
    }
    return exact >= 0 ? exact == 1 : star == 1;
}

/* If-None-Match: "*" or a list containing etag (weak comparison: W/ prefixes ignored). */
static bool etag_matches(const td_http_req_t *req, const char *etag)
{
    const td_slice_t *h = td_http_header(req, "If-None-Match");
    if (!h) return false;
    size_t el = strlen(etag);
    for (size_t i = 0; i < h->n;) {
        while (i < h->n && (h->p[i] == ' ' || h->p[i] == ',')) i++;
        if (i < h->n && h->p[i] == '*') return true;
        if (i + 2 <= h->n && h->p[i] == 'W' && h->p[i + 1] == '/') i += 2;
        size_t s = i;
        while (i < h->n && h->p[i] != ',') i++;
        size_t e = i;
        while (e > s && h->p[e - 1] == ' ') e--;
        if (e - s == el && !memcmp(h->p + s, etag, el)) return true;
    }
    return false;
}

/* ---- answers ---- */

static const char not_built_page[] =
    "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content=\"width=device-width\">"
    "<title>tickd: dashboard not built</title>"
    "<style>body{font:15px/1.5 system-ui,sans-serif;background:#131722;color:#d1d4dc;max-width:40em;"
    "margin:10vh auto;padding:0 1em}code{background:#2a2e39;padding:.1em .4em;border-radius:3px}"
    "a{color:#5b8cff}</style>"
    "<h1>tickd is running, but the dashboard is not built</h1>"
    "<p>The web page's files were not found (tickd looks in <code>$TD_WEB_ROOT</code>, then "
    "<code>web/dist</code> next to the build directory). Build them with <code>make web</code> "
    "(needs <code>nodejs</code> and <code>npm</code> with access to the npm registry) and reload this page.</p>"
    "<p>The API works without it: <a href=\"/v1/symbols\">/v1/symbols</a>, <a href=\"/healthz\">/healthz</a>, "
    "<a href=\"/metrics\">/metrics</a>, and the WebSocket at <code>/v1/prices</code>.</p></html>\n";

static int read_all(int fd, char *dst, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, dst + got, len - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return TD_EIO;
        got += (size_t)n;
    }
    return TD_OK;
}

/* Opens root/rel (+ suffix) as a regular file; -1 if there is none. */
static int open_regular(const char *root, const char *rel, const char *suffix, struct stat *st)
{
    char full[PATH_MAX];
    if (snprintf(full, sizeof full, "%s/%s%s", root, rel, suffix) >= (int)sizeof full) return -1;
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

int td_static_serve(td_conn_t *c, const td_http_req_t *req, const char *root)
{
    if (!td_slice_eq(req->method, "GET") && !td_slice_eq(req->method, "HEAD")) return TD_ENOENT;
    if (is_api_path(req->path)) return TD_ENOENT;
    char rel[PATH_CAP];
    if (!safe_rel_path(req->path, rel, sizeof rel)) return TD_ENOENT;
    if (!root || !*root) root = td_static_default_root();

    struct stat st;
    int fd = open_regular(root, rel, "", &st);
    if (fd < 0) {
        if (!strcmp(rel, "index.html")) {
            td_conn_http_respond(c, 503, "text/html; charset=utf-8", not_built_page, sizeof not_built_page - 1,
                                 "Cache-Control: no-store\r\nRetry-After: 30\r\n");
            return TD_OK;
        }
        return TD_ENOENT;
    }

    /* A precompressed variant, if the client takes it and the build wrote it. */
    const char *encoding = NULL;
    static const char *const codings[][2] = { { "br", ".br" }, { "gzip", ".gz" } };
    for (size_t i = 0; i < TD_ARRAY_LEN(codings) && !encoding; i++) {
        if (!accepts_encoding(req, codings[i][0])) continue;
        struct stat zst;
        int zfd = open_regular(root, rel, codings[i][1], &zst);
        if (zfd < 0) continue;
        close(fd);
        fd = zfd;
        st = zst;
        encoding = codings[i][0];
    }

    if ((uint64_t)st.st_size > TD_STATIC_MAX_FILE) {
        close(fd);
        td_log_warn("static", "%s/%s: %lld bytes, over the %u limit", root, rel, (long long)st.st_size,
                    TD_STATIC_MAX_FILE);
        td_conn_http_error(c, 500, NULL, "file too large", NULL);
        return TD_OK;
    }

    char etag[96];
    snprintf(etag, sizeof etag, "\"%llx-%llx%s%s\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + (unsigned long long)st.st_mtim.tv_nsec,
             encoding ? "-" : "", encoding ? encoding : "");
    bool immutable = !strncmp(rel, "assets/", 7);
    char headers[512];
    snprintf(headers, sizeof headers,
             "ETag: %s\r\nCache-Control: %s\r\nVary: Accept-Encoding\r\nX-Content-Type-Options: nosniff\r\n%s%s%s",
             etag, immutable ? "public, max-age=31536000, immutable" : "no-cache", encoding ? "Content-Encoding: " : "",
             encoding ? encoding : "", encoding ? "\r\n" : "");

    if (etag_matches(req, etag)) {
        close(fd);
        td_conn_http_respond(c, 304, NULL, NULL, 0, headers);
        return TD_OK;
    }

    size_t len = (size_t)st.st_size;
    td_nbuf_t *body = td_nbuf_new(len ? len : 1);
    int rc = read_all(fd, body->data, len);
    close(fd);
    if (rc != TD_OK) {
        td_nbuf_unref(body);
        td_log_warn("static", "%s/%s: read failed", root, rel);
        td_conn_http_error(c, 500, NULL, "cannot read file", NULL);
        return TD_OK;
    }
    body->len = (uint32_t)len;
    td_conn_http_respond_buf(c, 200, td_static_content_type(rel), body, 0, len, headers);
    td_nbuf_unref(body);
    return TD_OK;
}
