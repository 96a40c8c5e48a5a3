/*
 * http.h: incremental HTTP/1.1 request parser, query strings, responses.
 *
 * Parser contract (picohttpparser's): td_http_parse_request() looks at the bytes received so far and
 * returns the size of the first complete request (head + Content-Length body) once it is all there,
 * TD_EAGAIN while it is not, or TD_EPROTO for bad input with req->status set to the HTTP status to answer
 * (400 syntax, 414 request line too long, 431 head too large or too many headers, 413 body too large,
 * 501 Transfer-Encoding, 505 version). It keeps no state between calls, so a request split across reads at
 * any byte gives exactly what one read gives, and pipelining is "consume the returned count, call again".
 * `prev_len` only lets it skip rescanning for the end of the head: pass the length given to the previous
 * call if that call returned TD_EAGAIN with req->head_len == 0 (head incomplete), else 0. Limits are
 * checked on partial input too, so a client cannot make us buffer more than the limits.
 *
 * Zero-copy: every td_slice_t points into the caller's buffer and is valid while that buffer is.
 *
 * Threading: pure functions; any thread.
 */
#ifndef TD_NET_HTTP_H
#define TD_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct td_slice {
    const char *p;
    size_t n;
} td_slice_t;

#define TD_HTTP_MAX_HEADERS 64 /* hard array size; td_http_limits_t.max_headers may lower it */

typedef struct td_http_limits {
    size_t max_line;     /* request line, bytes (default 8 KiB) -> 414 */
    size_t max_head;     /* request line + headers + blank line (default 16 KiB) -> 431 */
    size_t max_headers;  /* header count, <= TD_HTTP_MAX_HEADERS (default 64) -> 431 */
    size_t max_body;     /* Content-Length (default 1 MiB) -> 413 */
} td_http_limits_t;

extern const td_http_limits_t td_http_default_limits;

typedef struct td_http_header {
    td_slice_t name, value; /* value has surrounding blanks trimmed */
} td_http_header_t;

typedef struct td_http_req {
    td_slice_t method;
    td_slice_t target;     /* as sent: path?query */
    td_slice_t path;       /* target up to '?', still percent-encoded */
    td_slice_t query;      /* after '?', without it; n == 0 when none */
    int minor_version;     /* HTTP/1.x */
    size_t nheaders;
    td_http_header_t headers[TD_HTTP_MAX_HEADERS];
    size_t head_len;       /* bytes of request line + headers + blank line; 0 while the head is incomplete */
    uint64_t content_length;
    td_slice_t body;
    bool keep_alive;       /* after this request */
    bool upgrade;          /* "Connection: upgrade" and an Upgrade header are present */
    int status;            /* on TD_EPROTO: the status to answer */
    const char *error;     /* on TD_EPROTO: a short reason for the JSON error message */
} td_http_req_t;

/* Returns bytes of the complete request, TD_EAGAIN or TD_EPROTO (see above). lim NULL = defaults. */
int td_http_parse_request(const char *buf, size_t len, size_t prev_len, const td_http_limits_t *lim,
                          td_http_req_t *req);

/* First header with this name (case-insensitive), or NULL. */
const td_slice_t *td_http_header(const td_http_req_t *req, const char *name);
/* Does a comma-separated header (Connection, Upgrade...) contain this token (case-insensitive)? */
bool td_http_header_has_token(const td_http_req_t *req, const char *name, const char *token);
bool td_slice_eq(td_slice_t s, const char *lit);      /* exact */
bool td_slice_ieq(td_slice_t s, const char *lit);     /* ASCII case-insensitive */

/* ---- query strings and percent-decoding ---- */

/* Decodes %XX (and '+' as space when plus_is_space) from src into dst (cap bytes, no NUL added).
 * Returns the decoded length, TD_EPROTO on a bad escape, TD_ENOBUFS if it does not fit. dst may equal
 * src.p (decoding never grows). */
int td_http_pct_decode(td_slice_t src, char *dst, size_t cap, bool plus_is_space);

/* Iterates "a=1&b=2": returns true and the raw (still encoded) key and value for each pair; empty pairs
 * ("&&") are skipped; a pair without '=' has an empty value. *pos starts at 0. */
bool td_http_query_next(td_slice_t query, size_t *pos, td_slice_t *key, td_slice_t *value);

/* Finds `key` (compared after decoding) and decodes its value into dst as a NUL-terminated string.
 * Returns the value length, TD_ENOENT, TD_EPROTO (bad escape) or TD_ENOBUFS (cap too small). */
int td_http_query_get(td_slice_t query, const char *key, char *dst, size_t cap);

/* ---- responses ---- */

const char *td_http_reason(int status); /* "OK", "Not Found"...; "Unknown" otherwise */

/* Writes a response head with Content-Length, Content-Type (if non-NULL), Connection: keep-alive/close and
 * extra_headers (complete "Name: value\r\n" lines, or NULL). Returns its length or TD_ENOBUFS. */
int td_http_response_head(char *dst, size_t cap, int status, const char *content_type, size_t content_length,
                          bool keep_alive, const char *extra_headers);

/* API.md error body: {"error":{"code":"<code>","message":"<message, JSON-escaped>"}}. Returns the length
 * or TD_ENOBUFS. */
int td_http_error_body(char *dst, size_t cap, const char *code, const char *message);

/* The API.md error code for a status: 400 bad_request, 404 not_found, 413 payload_too_large, ... */
const char *td_http_error_code(int status);

/* Appends s (n bytes) JSON-escaped (without quotes) to dst; returns the length written or TD_ENOBUFS. */
int td_json_escape(char *dst, size_t cap, const char *s, size_t n);

#endif
