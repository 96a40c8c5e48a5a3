/*
 * bench_json_feeds: messages per second on one core for the exchange message parsers, on the real frames of
 * the recordings in ../shared/data, looped in memory (no I/O, no allocation in the loop):
 *   Binance depthUpdate, bookTicker, aggTrade (spot + USD-M futures frames, td_bn_parse + event build)
 *   Binance depthUpdate through the sync (parse + td_bn_sync_depth applying to a live symbol)
 *   Coinbase l2update (td_cb_handle on synced products, events to a counter)
 * Peer, measured in the same run on the same frames: jsmn tokenizing alone (td_json_parse), the floor
 * any jsmn-based parser pays. DEPENDENCIES.md measured jsmn at 4.6 M msg/s on a 118-byte message.
 * Each figure runs ~0.4 s of thread CPU time (2 shared cores: keep it short), so it is a per-core rate even
 * when the machine is busy. Usage: bench_json_feeds [cpu_seconds_per_case].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/common.h"
#include "feed/binance.h"
#include "feed/coinbase.h"
#include "feed/json.h"

typedef struct frames { const char **s; size_t *len; size_t n, cap, bytes; } frames_t;

static void add(frames_t *f, const char *s, size_t len)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 256;
        f->s = td_realloc(f->s, f->cap * sizeof *f->s);
        f->len = td_realloc(f->len, f->cap * sizeof *f->len);
    }
    f->s[f->n] = s;
    f->len[f->n++] = len;
    f->bytes += len;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "bench_json_feeds: cannot open %s\n", path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = td_malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) exit(2);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Splits "<ts>: <json>" lines; calls fn for each JSON frame. */
static void frames_of(char *buf, size_t len, void (*fn)(void *, const char *, size_t), void *ctx)
{
    for (char *s = buf; s < buf + len;) {
        char *nl = memchr(s, '\n', (size_t)(buf + len - s));
        char *end = nl ? nl : buf + len;
        char *colon = memchr(s, ':', (size_t)(end - s));
        if (colon && s[0] >= '0' && s[0] <= '9' && colon + 2 < end) fn(ctx, colon + 2, (size_t)(end - colon - 2));
        s = end + 1;
    }
}

static frames_t bn_depth, bn_ticker, bn_trade, cb_l2, cb_snap;
static td_bn_parser_t *bnp;

static void classify_bn(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    td_bn_msg_t m;
    if (td_bn_parse(bnp, s, n, &m) < 0) return;
    if (m.kind == TD_BN_DEPTH) add(&bn_depth, s, n);
    else if (m.kind == TD_BN_BOOKTICKER) add(&bn_ticker, s, n);
    else if (m.kind == TD_BN_AGGTRADE) add(&bn_trade, s, n);
}

static void classify_cb(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    if (memmem(s, n < 40 ? n : 40, "\"l2update\"", 10)) add(&cb_l2, s, n);
    else if (memmem(s, n < 40 ? n : 40, "\"snapshot\"", 10)) add(&cb_snap, s, n);
}

static uint64_t sink;
static void count_ev(void *ctx, const td_event_t *ev) { (void)ctx; sink += (uint64_t)ev->u.level.qty; }

typedef int (*case_fn)(const char *s, size_t n);

static int run_bn(const char *s, size_t n)
{
    td_bn_msg_t m;
    td_event_t ev;
    int rc = td_bn_parse(bnp, s, n, &m);
    if (rc > 0 && td_bn_msg_events(&m, 1, 0, &ev, 1)) sink += (uint64_t)ev.src_seq;
    return rc;
}

static td_json_t peer_json;
static int run_jsmn(const char *s, size_t n) { return td_json_parse(&peer_json, s, n) == TD_OK ? (int)n : -1; }

static td_cb_feed_t *cbf;
static int run_cb(const char *s, size_t n) { return td_cb_handle(cbf, s, n, 0, count_ev, NULL, NULL); }

/* The sync needs one unbroken chain: replay the frames as live updates of one synthetic chain by
 * rewriting U/u would change the frames, so instead apply each parsed frame as the next link. */
static td_bn_sync_t bsync;
static uint64_t chain;
static int run_sync(const char *s, size_t n)
{
    td_bn_msg_t m;
    int rc = td_bn_parse(bnp, s, n, &m);
    if (rc < 0) return rc;
    uint64_t len = m.final_id - m.first_id;
    m.first_id = chain + 1;
    m.final_id = chain + 1 + len;
    m.prev_final_id = chain;
    m.has_prev = true;
    m.sym = bsync.sym;
    chain = m.final_id;
    td_bn_sync_depth(&bsync, &m, 0, count_ev, NULL);
    return rc;
}

static void bench(const char *name, const frames_t *f, case_fn fn, double secs)
{
    if (f->n == 0) { printf("%-34s no frames\n", name); return; }
    for (size_t i = 0; i < f->n; i++) /* warm up + check every frame parses */
        if (fn(f->s[i], f->len[i]) < 0) { fprintf(stderr, "%s: frame %zu rejected\n", name, i); exit(1); }
    uint64_t msgs = 0;
    int64_t t0 = td_thread_cpu_ns(), deadline = t0 + (int64_t)(secs * 1e9), t1;
    do {
        for (size_t i = 0; i < f->n; i++) fn(f->s[i], f->len[i]);
        msgs += f->n;
    } while ((t1 = td_thread_cpu_ns()) < deadline);
    double el = (double)(t1 - t0) / 1e9;
    printf("%-34s %8.2f M msg/s  %7.1f MB/s  (%zu frames, avg %zu B, %llu msgs in %.2fs)\n", name,
           (double)msgs / el / 1e6, (double)msgs * ((double)f->bytes / (double)f->n) / el / 1e6, f->n,
           f->bytes / f->n, (unsigned long long)msgs, el);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.4;
    const char *root = getenv("TD_SHARED_DATA");
    char path[4096];
    if (!root || !*root) root = "../shared/data";
    bnp = td_bn_parser_create();
    const char *bfiles[] = { "binance/BINANCE.ws.1.0", "binance/BINANCE_FUTURES.ws.1.0" };
    char *bufs[3];
    size_t lens[3];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", root, bfiles[i]);
        bufs[i] = slurp(path, &lens[i]);
        frames_of(bufs[i], lens[i], classify_bn, NULL);
    }
    snprintf(path, sizeof path, "%s/coinbase/COINBASE.ws.28.0", root);
    bufs[2] = slurp(path, &lens[2]);
    frames_of(bufs[2], lens[2], classify_cb, NULL);

    cbf = td_cb_create(3);
    for (size_t i = 0; i < cb_snap.n; i++) td_cb_handle(cbf, cb_snap.s[i], cb_snap.len[i], 0, count_ev, NULL, NULL);
    td_json_init(&peer_json, 4096, 1 << 22);
    td_bn_parse(bnp, bn_depth.s[0], bn_depth.len[0], &(td_bn_msg_t){ 0 });
    td_bn_msg_t first;
    td_bn_parse(bnp, bn_depth.s[0], bn_depth.len[0], &first);
    td_bn_sync_init(&bsync, first.sym, 1, false); /* spot rules: the synthetic chain is U = prev u + 1 */
    td_bn_snapshot_t snap = { .last_update_id = 0 };
    td_bn_sync_snapshot(&bsync, &snap, 0, count_ev, NULL);
    chain = 0;

    printf("bench_json_feeds: one core (thread CPU time), frames from ../shared/data looped in memory, %.1fs per case\n", secs);
    bench("binance depthUpdate (parse)", &bn_depth, run_bn, secs);
    bench("binance depthUpdate (parse+sync)", &bn_depth, run_sync, secs);
    bench("binance bookTicker", &bn_ticker, run_bn, secs);
    bench("binance aggTrade", &bn_trade, run_bn, secs);
    bench("coinbase l2update", &cb_l2, run_cb, secs);
    printf("peer: jsmn tokenize only (td_json_parse), same frames\n");
    bench("  jsmn: binance depthUpdate", &bn_depth, run_jsmn, secs);
    bench("  jsmn: binance bookTicker", &bn_ticker, run_jsmn, secs);
    bench("  jsmn: binance aggTrade", &bn_trade, run_jsmn, secs);
    bench("  jsmn: coinbase l2update", &cb_l2, run_jsmn, secs);
    if (bsync.gaps) { fprintf(stderr, "unexpected gaps in the synthetic chain\n"); return 1; }
    printf("(sink %llu)\n", (unsigned long long)(sink & 1));
    td_bn_sync_free(&bsync);
    td_json_free(&peer_json);
    td_cb_destroy(cbf);
    td_bn_parser_destroy(bnp);
    for (int i = 0; i < 3; i++) td_free(bufs[i]);
    return 0;
}
