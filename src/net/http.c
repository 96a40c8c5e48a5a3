/*
 * http.c: the request parser, query strings and response heads of http.h.
 *
 * The parser re-reads the request from the start on every call (picohttpparser does the same): requests are
 * small, the end-of-head scan resumes at prev_len, and being stateless is what makes split reads and
 * pipelining trivially identical to one-shot parsing. Checks run in a fixed order (leading blank lines,
 * request line length, request line syntax, head size, header syntax and count, framing headers, body
 * size), and each check only depends on bytes that a shorter prefix would also have, so a prefix never
 * gets a different error than the whole request.
 *
 * Strictness: single spaces in the request line; CRLF or bare LF line ends; no whitespace before a header
 * colon and no obs-fold (RFC 9112 lets a server reject both, and both are request-smuggling tools); no
 * Transfer-Encoding (REST bodies are small and always sent with Content-Length); duplicate
 * Content-Length headers must agree.
 */
#include "net/http.h"

#include <stdio.h>
#include <string.h>

#include "core/common.h"

const td_http_limits_t td_http_default_limits = {
    .max_line = 8192,
    .max_head = 16384,
    .max_headers = 64,
    .max_body = 1 << 20,
};

/* RFC 9110 tchar: ALPHA / DIGIT / "!#$%&'*+-.^_`|~". A table, because method and header-name scanning is
 * most of the parser's time. */
static const bool tchar_table[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,
    ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static inline bool is_tchar(unsigned char c) { return tchar_table[c]; }

static inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

static int fail(td_http_req_t *req, int status, const char *why)
{
    req->status = status;
    req->error = why;
    return TD_EPROTO;
}

/* Length of the line at p (to '\n', excluded, with one '\r' before it removed). */
static size_t line_len(const char *p, const char *nl)
{
    size_t n = (size_t)(nl - p);
    if (n > 0 && p[n - 1] == '\r') n--;
    return n;
}

static int parse_request_line(const char *p, size_t n, td_http_req_t *req)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i])) i++;
    if (i == 0 || i >= n || p[i] != ' ') return fail(req, 400, "malformed request line");
    req->method = (td_slice_t){ p, i };
    size_t t0 = ++i;
    while (i < n && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f) i++;
    if (i == t0 || i >= n || p[i] != ' ') return fail(req, 400, "malformed request target");
    req->target = (td_slice_t){ p + t0, i - t0 };
    const char *q = memchr(req->target.p, '?', req->target.n);
    if (q) {
        req->path = (td_slice_t){ req->target.p, (size_t)(q - req->target.p) };
        req->query = (td_slice_t){ q + 1, req->target.n - req->path.n - 1 };
    } else {
        req->path = req->target;
        req->query = (td_slice_t){ req->target.p + req->target.n, 0 };
    }
    i++;
    const char *v = p + i;
    size_t vn = n - i;
    if (vn == 8 && memcmp(v, "HTTP/1.", 7) == 0 && (v[7] == '0' || v[7] == '1')) {
        req->minor_version = v[7] - '0';
        return 0;
    }
    if (vn == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' &&
        v[7] <= '9')
        return fail(req, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
    return fail(req, 400, "malformed HTTP version");
}

static int parse_header_line(const char *p, size_t n, td_http_req_t *req, size_t max_headers)
{
    if (p[0] == ' ' || p[0] == '\t') return fail(req, 400, "folded header lines are not accepted");
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i])) i++;
    if (i == 0 || i >= n || p[i] != ':') return fail(req, 400, "malformed header name");
    size_t name_n = i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
    size_t v0 = i, vend = i;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return fail(req, 400, "control character in header value");
        if (c != ' ' && c != '\t') vend = i + 1;
    }
    if (req->nheaders >= max_headers) return fail(req, 431, "too many headers");
    td_http_header_t *h = &req->headers[req->nheaders++];
    h->name = (td_slice_t){ p, name_n };
    h->value = (td_slice_t){ p + v0, vend - v0 };
    return 0;
}

bool td_slice_eq(td_slice_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

bool td_slice_ieq(td_slice_t s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.n != n) return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s.p[i]) != lower(lit[i])) return false;
    return true;
}

const td_slice_t *td_http_header(const td_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (td_slice_ieq(req->headers[i].name, name)) return &req->headers[i].value;
    return NULL;
}

static bool list_has_token(td_slice_t v, const char *token)
{
    size_t i = 0;
    while (i < v.n) {
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ',')) i++;
        size_t s = i;
        while (i < v.n && v.p[i] != ',') i++;
        size_t e = i;
        while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t')) e--;
        if (e > s && td_slice_ieq((td_slice_t){ v.p + s, e - s }, token)) return true;
    }
    return false;
}

bool td_http_header_has_token(const td_http_req_t *req, const char *name, const char *token)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (td_slice_ieq(req->headers[i].name, name) && list_has_token(req->headers[i].value, token)) return true;
    return false;
}

/* Case-insensitive compare of a slice with a lower-case literal of known length (the caller checked it). */
static bool name_is(td_slice_t s, const char *lit)
{
    for (size_t i = 0; i < s.n; i++)
        if (lower(s.p[i]) != lit[i]) return false;
    return true;
}

/* One pass over the headers for what decides the framing and the connection's fate. Names are checked by
 * length first: most headers are dismissed by one comparison. */
static int parse_framing(td_http_req_t *req)
{
    bool have_cl = false, close = false, ka = false, conn_upgrade = false, upgrade = false;
    uint64_t cl = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const td_http_header_t *h = &req->headers[i];
        switch (h->name.n) {
        case 14:
            if (!name_is(h->name, "content-length")) break;
            if (h->value.n == 0 || h->value.n > 18) return fail(req, 400, "bad Content-Length");
            uint64_t v = 0;
            for (size_t k = 0; k < h->value.n; k++) {
                char c = h->value.p[k];
                if (c < '0' || c > '9') return fail(req, 400, "bad Content-Length");
                v = v * 10 + (uint64_t)(c - '0');
            }
            if (have_cl && v != cl) return fail(req, 400, "conflicting Content-Length headers");
            have_cl = true;
            cl = v;
            break;
        case 17:
            if (name_is(h->name, "transfer-encoding"))
                return fail(req, 501, "Transfer-Encoding is not supported; send Content-Length");
            break;
        case 10:
            if (!name_is(h->name, "connection")) break;
            close |= list_has_token(h->value, "close");
            ka |= list_has_token(h->value, "keep-alive");
            conn_upgrade |= list_has_token(h->value, "upgrade");
            break;
        case 7:
            upgrade |= name_is(h->name, "upgrade");
            break;
        default:
            break;
        }
    }
    req->content_length = cl;
    req->keep_alive = req->minor_version >= 1 ? !close : (ka && !close);
    req->upgrade = conn_upgrade && upgrade;
    return 0;
}

int td_http_parse_request(const char *buf, size_t len, size_t prev_len, const td_http_limits_t *lim,
                          td_http_req_t *req)
{
    if (!lim) lim = &td_http_default_limits;
    size_t max_headers = lim->max_headers < TD_HTTP_MAX_HEADERS ? lim->max_headers : TD_HTTP_MAX_HEADERS;
    /* A request line longer than the head limit must fail the same way whatever the split (see top). */
    size_t max_line = lim->max_line < lim->max_head ? lim->max_line : lim->max_head;
    req->nheaders = 0;
    req->head_len = 0;
    req->status = 0;
    req->error = NULL;
    req->content_length = 0;
    req->keep_alive = false;
    req->upgrade = false;
    req->body = (td_slice_t){ NULL, 0 };

    /* RFC 9112 2.2: ignore blank lines before a request (some clients send CRLF after a POST body). */
    size_t skip = 0;
    while (skip < len && (buf[skip] == '\n' || (buf[skip] == '\r'))) {
        if (buf[skip] == '\r' && (skip + 1 < len) && buf[skip + 1] != '\n')
            return fail(req, 400, "stray carriage return");
        skip++;
        if (skip > max_line) return fail(req, 400, "too many blank lines");
    }
    const char *p = buf + skip;
    size_t n = len - skip;
    if (n == 0) return TD_EAGAIN;

    const char *nl = memchr(p, '\n', n < max_line + 2 ? n : max_line + 2);
    if (!nl) {
        size_t seen = n - (p[n - 1] == '\r');
        if (seen > max_line) return fail(req, 414, "request line too long");
        if (skip + n > lim->max_head) return fail(req, 431, "request head too large");
        return TD_EAGAIN;
    }
    size_t ln = line_len(p, nl);
    if (ln > max_line) return fail(req, 414, "request line too long");
    if (memchr(p, '\r', ln)) return fail(req, 400, "stray carriage return");
    int rc = parse_request_line(p, ln, req);
    if (rc) return rc;

    /* Find the blank line ending the head: a '\n' followed by "\n" or "\r\n". */
    size_t from = (size_t)(nl - buf);
    if (prev_len > 3 && prev_len - 3 > from && prev_len <= len) from = prev_len - 3;
    const char *end = NULL;
    for (const char *q = buf + from; q < buf + len;) {
        const char *e = memchr(q, '\n', (size_t)(buf + len - q));
        if (!e || e + 1 >= buf + len) break;
        if (e[1] == '\n') { end = e + 2; break; }
        if (e[1] == '\r') {
            if (e + 2 >= buf + len) break;
            if (e[2] == '\n') { end = e + 3; break; }
        }
        q = e + 1;
    }
    if (!end) {
        if (len > lim->max_head) return fail(req, 431, "request head too large");
        return TD_EAGAIN;
    }
    size_t head_len = (size_t)(end - buf);
    if (head_len > lim->max_head) return fail(req, 431, "request head too large");
    req->head_len = head_len;

    for (const char *h = nl + 1; h < end;) {
        const char *e = memchr(h, '\n', (size_t)(end - h));
        size_t hn = line_len(h, e);
        if (hn == 0) break; /* the blank line */
        if (memchr(h, '\r', hn)) return fail(req, 400, "stray carriage return");
        rc = parse_header_line(h, hn, req, max_headers);
        if (rc) return rc;
        h = e + 1;
    }
    rc = parse_framing(req);
    if (rc) return rc;
    if (req->content_length > lim->max_body) return fail(req, 413, "request body too large");
    if (len - head_len < req->content_length) return TD_EAGAIN;
    req->body = (td_slice_t){ end, (size_t)req->content_length };
    return (int)(head_len + req->content_length);
}

/* ---- query strings ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int td_http_pct_decode(td_slice_t src, char *dst, size_t cap, bool plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < src.n; i++) {
        char c = src.p[i];
        if (c == '%') {
            if (i + 2 >= src.n) return TD_EPROTO;
            int hi = hexval(src.p[i + 1]), lo = hexval(src.p[i + 2]);
            if (hi < 0 || lo < 0) return TD_EPROTO;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (o >= cap) return TD_ENOBUFS;
        dst[o++] = c;
    }
    return (int)o;
}

bool td_http_query_next(td_slice_t query, size_t *pos, td_slice_t *key, td_slice_t *value)
{
    size_t i = *pos;
    while (i < query.n) {
        size_t s = i;
        while (i < query.n && query.p[i] != '&') i++;
        size_t e = i;
        if (i < query.n) i++; /* skip '&' */
        if (e == s) continue;
        const char *eq = memchr(query.p + s, '=', e - s);
        if (eq) {
            *key = (td_slice_t){ query.p + s, (size_t)(eq - (query.p + s)) };
            *value = (td_slice_t){ eq + 1, (size_t)(query.p + e - eq - 1) };
        } else {
            *key = (td_slice_t){ query.p + s, e - s };
            *value = (td_slice_t){ query.p + e, 0 };
        }
        *pos = i;
        return true;
    }
    *pos = i;
    return false;
}

int td_http_query_get(td_slice_t query, const char *key, char *dst, size_t cap)
{
    size_t pos = 0, key_n = strlen(key);
    td_slice_t k, v;
    char kbuf[256];
    while (td_http_query_next(query, &pos, &k, &v)) {
        int kn = td_http_pct_decode(k, kbuf, sizeof kbuf, true);
        if (kn < 0 || (size_t)kn != key_n || memcmp(kbuf, key, key_n) != 0) continue;
        if (cap == 0) return TD_ENOBUFS;
        int vn = td_http_pct_decode(v, dst, cap - 1, true);
        if (vn < 0) return vn;
        if (memchr(dst, '\0', (size_t)vn)) return TD_EPROTO; /* would silently truncate a C string */
        dst[vn] = '\0';
        return vn;
    }
    return TD_ENOENT;
}

/* ---- responses ---- */

const char *td_http_reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

const char *td_http_error_code(int status)
{
    switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 408: return "request_timeout";
    case 409: return "conflict";
    case 411: return "length_required";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    case 426: return "upgrade_required";
    case 429: return "rate_limited";
    case 431: return "headers_too_large";
    case 501: return "not_implemented";
    case 503: return "unavailable";
    case 505: return "http_version_not_supported";
    default: return status >= 500 ? "internal" : "error";
    }
}

int td_http_response_head(char *dst, size_t cap, int status, const char *content_type, size_t content_length,
                          bool keep_alive, const char *extra_headers)
{
    int n = snprintf(dst, cap, "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\nConnection: %s\r\n%s\r\n", status,
                     td_http_reason(status), content_type ? "Content-Type: " : "", content_type ? content_type : "",
                     content_type ? "\r\n" : "", content_length, keep_alive ? "keep-alive" : "close",
                     extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= cap) return TD_ENOBUFS;
    return n;
}

int td_json_escape(char *dst, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc = 0;
        switch (c) {
        case '"': esc = '"'; break;
        case '\\': esc = '\\'; break;
        case '\n': esc = 'n'; break;
        case '\r': esc = 'r'; break;
        case '\t': esc = 't'; break;
        default: break;
        }
        if (esc) {
            if (o + 2 > cap) return TD_ENOBUFS;
            dst[o++] = '\\';
            dst[o++] = esc;
        } else if (c < 0x20) {
            if (o + 6 > cap) return TD_ENOBUFS;
            memcpy(dst + o, "\\u00", 4);
            dst[o + 4] = hex[c >> 4];
            dst[o + 5] = hex[c & 15];
            o += 6;
        } else {
            if (o + 1 > cap) return TD_ENOBUFS;
            dst[o++] = (char)c;
        }
    }
    return (int)o;
}

int td_http_error_body(char *dst, size_t cap, const char *code, const char *message)
{
    static const char pre[] = "{\"error\":{\"code\":\"";
    static const char mid[] = "\",\"message\":\"";
    static const char post[] = "\"}}";
    size_t o = 0;
    if (cap < sizeof pre) return TD_ENOBUFS;
    memcpy(dst, pre, sizeof pre - 1);
    o = sizeof pre - 1;
    int n = td_json_escape(dst + o, cap - o, code, strlen(code));
    if (n < 0) return n;
    o += (size_t)n;
    if (cap - o < sizeof mid - 1) return TD_ENOBUFS;
    memcpy(dst + o, mid, sizeof mid - 1);
    o += sizeof mid - 1;
    n = td_json_escape(dst + o, cap - o, message, strlen(message));
    if (n < 0) return n;
    o += (size_t)n;
    if (cap - o < sizeof post - 1) return TD_ENOBUFS;
    memcpy(dst + o, post, sizeof post - 1);
    return (int)(o + sizeof post - 1);
}
