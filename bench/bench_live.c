/* bench_live.c: throughput of the live receive path on loopback, fed by a server thread that replays the
 * Binance USD-M futures recording (../shared/data/binance/BINANCE_FUTURES.ws.1.0, 1535 frames) as
 * pre-built WebSocket frames, looped:
 *   1. wsclient only: td_wsc_recv() (socket read, frame parse, zero-copy delivery)
 *   2. wsclient + td_bn_parse + events (trades/quotes) + td_bn_sync for depth (book sync as the live source
 *      does it; each symbol starts from a synthetic empty snapshot so diffs are applied, not buffered)
 * Prints messages/s and MB/s on one core for each. There is no peer measured in the same run: the
 * exchanges' own rates (Binance depth@100ms: 10 msg/s a symbol) are the yardstick, printed next to it.
 * Usage: bench_live [loops] (default 200). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/common.h"
#include "feed/binance.h"
#include "feed/wsclient.h"
#include "net/ws.h"

typedef struct server {
    int lfd;
    char *frames;
    size_t len;
    int loops;
} server_t;

static void *serve(void *arg)
{
    server_t *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    char head[4096];
    size_t n = 0;
    while (n < sizeof head - 1) {
        ssize_t r = recv(fd, head + n, 1, 0);
        if (r <= 0) break;
        n++;
        if (n >= 4 && !memcmp(head + n - 4, "\r\n\r\n", 4)) break;
    }
    head[n] = 0;
    const char *k = strstr(head, "Sec-WebSocket-Key: ");
    char accept_key[29] = "";
    if (k) {
        td_slice_t ks = { k + 19, strcspn(k + 19, "\r") };
        td_ws_accept_key(ks, accept_key);
    }
    char resp[256];
    int rl = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                         "Sec-WebSocket-Accept: %s\r\n\r\n", accept_key);
    send(fd, resp, (size_t)rl, MSG_NOSIGNAL);
    for (int i = 0; i < s->loops; i++) {
        size_t off = 0;
        while (off < s->len) {
            ssize_t w = send(fd, s->frames + off, s->len - off, MSG_NOSIGNAL);
            if (w <= 0) goto out;
            off += (size_t)w;
        }
    }
    uint8_t close_frame[4] = { 0x88, 0x02, 0x03, 0xe8 };
    send(fd, close_frame, 4, MSG_NOSIGNAL);
out:
    sleep(1);
    close(fd);
    return NULL;
}

static uint64_t g_events;
static void count_event(void *ctx, const td_event_t *ev) { (void)ctx; (void)ev; g_events++; }

static void run(const char *label, char *frames, size_t len, size_t nframes, int loops, bool parse)
{
    server_t s = { .frames = frames, .len = len, .loops = loops };
    s.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(s.lfd, (struct sockaddr *)&a, sizeof a);
    listen(s.lfd, 1);
    socklen_t al = sizeof a;
    getsockname(s.lfd, (struct sockaddr *)&a, &al);
    pthread_t th;
    pthread_create(&th, NULL, serve, &s);
    td_wsc_t *c = td_wsc_create(NULL);
    char url[64], err[256];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/stream", ntohs(a.sin_port));
    if (td_wsc_connect(c, url, err, sizeof err) != TD_OK) { fprintf(stderr, "connect: %s\n", err); exit(1); }
    td_bn_parser_t *p = td_bn_parser_create();
    td_bn_sync_t syncs[64];
    uint32_t sync_sym[64];
    size_t nsync = 0;
    uint64_t msgs = 0, bytes = 0, bad = 0;
    g_events = 0;
    int64_t t0 = td_mono_ns();
    for (;;) {
        td_ws_msg_t m;
        int r = td_wsc_recv(c, 1000, &m);
        if (r <= 0) break;
        msgs++;
        bytes += m.len;
        if (!parse) continue;
        td_bn_msg_t bm;
        if (td_bn_parse(p, m.data, m.len, &bm) < 0) { bad++; continue; }
        if (bm.kind == TD_BN_DEPTH) {
            size_t i = 0;
            while (i < nsync && sync_sym[i] != bm.sym) i++;
            if (i == nsync && nsync < 64) {
                td_bn_sync_init(&syncs[i], bm.sym, 1, true);
                sync_sym[i] = bm.sym;
                nsync++;
            }
            if (i < nsync) {
                if (td_bn_sync_needs_snapshot(&syncs[i])) {
                    td_bn_snapshot_t snap = { .last_update_id = bm.final_id };
                    td_bn_sync_snapshot(&syncs[i], &snap, 0, count_event, NULL);
                }
                td_bn_sync_depth(&syncs[i], &bm, 0, count_event, NULL);
                /* the recording loops: a chain break at the seam is a gap; resync right away */
                if (td_bn_sync_needs_snapshot(&syncs[i])) {
                    td_bn_sync_free(&syncs[i]);
                    td_bn_sync_init(&syncs[i], bm.sym, 1, true);
                }
            }
        } else {
            td_event_t ev;
            g_events += td_bn_msg_events(&bm, 1, 0, &ev, 1);
        }
    }
    double sec = (double)(td_mono_ns() - t0) / 1e9;
    printf("%-44s %9.0f msg/s  %7.1f MB/s  (%" PRIu64 " messages of %zu x %d, %" PRIu64 " events, %" PRIu64 " bad)\n",
           label, (double)msgs / sec, (double)bytes / sec / 1e6, msgs, nframes, loops, g_events, bad);
    for (size_t i = 0; i < nsync; i++) td_bn_sync_free(&syncs[i]);
    td_bn_parser_destroy(p);
    td_wsc_destroy(c);
    pthread_join(th, NULL);
    close(s.lfd);
}

int main(int argc, char **argv)
{
    int loops = argc > 1 ? atoi(argv[1]) : 200;
    const char *root = getenv("TD_SHARED_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/binance/BINANCE_FUTURES.ws.1.0", root && *root ? root : "../shared/data");
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(path, sizeof path, "../../shared/data/binance/BINANCE_FUTURES.ws.1.0");
        f = fopen(path, "r");
    }
    if (!f) { fprintf(stderr, "bench_live: cannot open the recording (set TD_SHARED_DATA)\n"); return 1; }
    size_t cap = 1 << 20, len = 0, nframes = 0;
    char *frames = malloc(cap);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    while ((ll = getline(&line, &lcap, f)) > 0) {
        char *js = strstr(line, ": {");
        if (!js) continue;
        js += 2;
        size_t n = strlen(js);
        while (n && (js[n - 1] == '\n' || js[n - 1] == '\r')) n--;
        while (len + n + 10 > cap) frames = realloc(frames, cap *= 2);
        len += td_ws_frame_header((uint8_t *)frames + len, TD_WS_OP_TEXT, true, n);
        memcpy(frames + len, js, n);
        len += n;
        nframes++;
    }
    free(line);
    fclose(f);
    printf("bench_live: loopback, one client core, Binance futures recording (%zu frames, %zu bytes) x %d\n",
           nframes, len, loops);
    run("wsclient recv only", frames, len, nframes, loops, false);
    run("wsclient + td_bn_parse + events + book sync", frames, len, nframes, loops, true);
    printf("yardstick: Binance depth@100ms = 10 msg/s a symbol; 1024 streams a connection < 10k msg/s\n");
    free(frames);
    return 0;
}
