/*
 * wsclient.h: the client side of the exchange connections: URLs, TCP + TLS (OpenSSL), the WebSocket
 * upgrade and frames (RFC 6455, client role), and a one-shot HTTP(S) GET for REST snapshots and backfills.
 *
 * TLS: certificates are always verified (peer chain against the system store, plus an optional extra CA
 * file, and the host name or IP address in the URL). There is no switch to turn verification off; tests
 * trust their self-signed mock certificate through ca_file.
 *
 * I/O model: blocking with deadlines for the short control steps (connect, TLS and upgrade handshakes,
 * a REST GET, sending a small control frame), non-blocking for the stream: td_wsc_recv() waits at most
 * timeout_ms for one whole data message. Pings from the server are answered inside td_wsc_recv() (Binance
 * disconnects a client that does not pong within a minute); pongs update last_pong_ns; a close frame is
 * answered and reported as TD_EOF.
 *
 * Bounds: the receive buffer holds at most max_message + 14 bytes (default 4 MiB): a larger message is a
 * protocol error (close 1009) and the connection is dropped; a fragmented message is assembled by
 * td_ws_rx_t under the same cap. A response head is capped at 16 KiB, a GET body at max_body.
 *
 * Inbound frame parsing is net/ws.c's td_ws_rx_feed() with require_mask = false, plus the client's own rule
 * that a masked server frame is a protocol error (close 1002); what is new here (the
 * response-head parser and the chunked decoder) is pure and fuzzed by tests/fuzz/fuzz_wsclient.c.
 *
 * Threading: a td_wsc_t belongs to one thread (the feed runner's). The pure functions are thread-safe.
 */
#ifndef TD_FEED_WSCLIENT_H
#define TD_FEED_WSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/ws.h"

typedef struct td_url {
    bool tls;           /* wss / https */
    bool websocket;     /* ws / wss */
    char host[256];     /* without brackets */
    uint16_t port;
    char path[2048];    /* path + query, starts with '/' */
} td_url_t;

/* "ws://h[:p]/path", "wss://...", "http://...", "https://..." -> out. TD_EINVAL if malformed. */
int td_url_parse(const char *url, td_url_t *out);

/* ---- HTTP response heads ---- */
typedef struct td_http_resp {
    int status;
    size_t head_len;          /* bytes up to and including the blank line */
    int64_t content_length;   /* -1 if absent */
    bool chunked;
    bool upgrade_websocket;   /* Upgrade: websocket */
    bool connection_upgrade;  /* Connection: upgrade */
    char accept[32];          /* Sec-WebSocket-Accept, "" if absent */
} td_http_resp_t;

#define TD_HTTP_MAX_RESP_HEAD (16u << 10)

/* Parses a response head from buf: head_len (> 0), TD_EAGAIN (incomplete, and within the cap) or
 * TD_EPROTO (malformed, or larger than TD_HTTP_MAX_RESP_HEAD). */
int td_http_parse_response(const char *buf, size_t len, td_http_resp_t *out);

/* Decodes a chunked body in place: returns the decoded length once the last chunk (and its trailer) is
 * complete, with *consumed the raw bytes it spanned; TD_EAGAIN if more bytes are needed; TD_EPROTO. */
int64_t td_http_dechunk(char *buf, size_t len, size_t *consumed);

/* ---- the client ---- */
typedef struct td_wsc_config {
    const char *ca_file;      /* extra PEM CA bundle to trust (besides the system's); NULL for none */
    int timeout_ms;           /* connect / handshake / GET deadline (default 10000) */
    size_t max_message;       /* default 4 MiB */
} td_wsc_config_t;

typedef struct td_wsc td_wsc_t;

typedef struct td_wsc_stats {
    uint64_t frames_in, bytes_in, pings_in, pongs_in, pings_out;
} td_wsc_stats_t;

td_wsc_t *td_wsc_create(const td_wsc_config_t *cfg);
void td_wsc_destroy(td_wsc_t *c);          /* NULL is a no-op; closes the connection */

/* Connects and upgrades (blocking, deadline cfg.timeout_ms). TD_OK, or an error with a reason in err. */
int td_wsc_connect(td_wsc_t *c, const char *url, char *err, size_t errlen);
bool td_wsc_connected(const td_wsc_t *c);
/* Drops the connection (a close frame is attempted when `graceful`). Safe when not connected. */
void td_wsc_close(td_wsc_t *c, bool graceful, uint16_t code);

/* Waits up to timeout_ms for a data message: 1 and *msg (TEXT/BINARY; data valid until the next call), 0
 * when none arrived in time, TD_EOF when the server closed (close frame or TCP end), TD_EPROTO for a
 * protocol violation (a close with the code was sent), TD_EIO for a socket or TLS error. After a negative
 * return the connection is closed. */
int td_wsc_recv(td_wsc_t *c, int timeout_ms, td_ws_msg_t *msg);

/* Sends a masked frame (text, ping, pong, close); blocking up to the deadline. TD_OK or TD_EIO. */
int td_wsc_send(td_wsc_t *c, int opcode, const void *data, size_t len);
const td_wsc_stats_t *td_wsc_stats(const td_wsc_t *c);
int64_t td_wsc_last_pong_ns(const td_wsc_t *c);    /* monotonic; 0 if none */
const char *td_wsc_error(const td_wsc_t *c);       /* the reason of the last failure */

/* Builds a masked client frame header for len payload bytes; returns its length (<= 14). */
size_t td_ws_client_header(uint8_t out[14], int opcode, uint64_t len, const uint8_t key[4]);

/* One HTTP(S) GET (Connection: close). On TD_OK, *body (NUL-terminated, td_free it) holds the decoded
 * body of *blen bytes and *status the HTTP status (any). Bodies above max_body are TD_ENOBUFS. */
int td_http_get(const char *url, const td_wsc_config_t *cfg, size_t max_body, int *status, char **body, size_t *blen,
                char *err, size_t errlen);

#endif
