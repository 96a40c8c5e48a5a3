/*
 * static.h: serves the dashboard's built files (web/dist) over tickd's HTTP server.
 *
 * The API router calls td_static_serve() for every path it does not own (anything outside /v1/, /healthz,
 * /metrics). It answers GET/HEAD of files under `root` with the right Content-Type, a precompressed variant
 * (name.br, name.gz written by the web build) when the client's Accept-Encoding allows it, an ETag
 * (If-None-Match -> 304), and Cache-Control: hashed names under /assets/ are immutable for a year, every
 * other file (index.html) is revalidated on each load (no-cache), so a new build shows on the next reload.
 * When the dashboard is not built, "/" gets a short HTML page saying so (503) instead of a bare 404.
 *
 * Threading: call on the connection's I/O thread (from on_http_request). It reads the file synchronously:
 * files are small and local (the page cache answers), and no lock is taken.
 */
#ifndef TD_API_STATIC_H
#define TD_API_STATIC_H

#include "net/server.h"

#define TD_STATIC_MAX_FILE (32u << 20) /* a larger file is refused (500): dist holds no such thing */

/* Answers the request and returns 0, or returns TD_ENOENT without answering when the path is not a static
 * file (not GET/HEAD, an API path, a name that cannot be a file of ours, no such file): the caller then
 * answers 404/405 itself. root is the directory with index.html (td_static_default_root()). */
int td_static_serve(td_conn_t *c, const td_http_req_t *req, const char *root);

/* Where the built dashboard is: $TD_WEB_ROOT if set; else web/dist next to the binary's source tree
 * (<dir of /proc/self/exe>/../web/dist, i.e. build/tickd -> web/dist) if it has index.html; else
 * "web/dist" relative to the working directory. The string is static, computed once (thread-safe). */
const char *td_static_default_root(void);

/* The Content-Type for a file name, by extension ("application/octet-stream" when unknown). */
const char *td_static_content_type(const char *name);

#endif
