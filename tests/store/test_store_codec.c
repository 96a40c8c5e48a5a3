/* test_store_codec.c: the tick block layouts on real order flow (test_store.c covers random records).
 *   - round trips, bit for bit, of realistic streams through layout 2 (the writer's) and layout 1 (kept for
 *     reading old stores), at random block sizes: the simulator in its three modes, the LOBSTER samples, the
 *     ITCH sample, and the records a running node stores (events with their seq, NBBO changes and resolved
 *     trades out of a real engine);
 *   - layout 2 must be much smaller than layout 1 on order-level flow (its order model works) and never
 *     larger than a few bytes more on the rest;
 *   - the order model's corner cases: references to orders dead, reused, replaced, never seen, sources that
 *     send no price or size on executions, more than 4 exchanges, no exchange, any type byte;
 *   - the open partition is compacted while it is written (--fsync batch under a slow feed), readers keep
 *     getting every record, once;
 *   - sealing (compaction): runs of small blocks merge, full blocks of the current layout are copied byte for
 *     byte, layout-1 blocks come out in layout 2, and every record survives in order;
 *   - damage that passes the checksum (the block re-sealed after a byte is changed): the decoder fails
 *     cleanly or returns records that re-encode to a block decoding to the same records. */
#include "testutil.h"

#include <string.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/rng.h"
#include "core/symbols.h"
#include "engine/engine.h"
#include "feed/sim.h"
#include "feed/source.h"
#include "store/part.h"
#include "store/store.h"
#include "store/store_internal.h"

#include <fcntl.h>
#include <unistd.h>

#define MAXREC 20000

static td_blk_scratch_t enc, dec;
static td_blk_tick_t *in_buf, *out_buf;

/* Per-symbol record streams, as the store's writer groups them. */
typedef struct stream {
    td_blk_tick_t *r;
    size_t n, cap;
} stream_t;

static stream_t streams[TD_SYM_MAX + 1];

static void push(uint32_t sym, const td_event_t *ev, uint64_t seq)
{
    stream_t *s = &streams[sym];
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        td_blk_tick_t *nr = td_malloc(cap * sizeof *nr);
        if (s->n) memcpy(nr, s->r, s->n * sizeof *nr);
        td_free(s->r);
        s->r = nr;
        s->cap = cap;
    }
    s->r[s->n].ev = *ev;
    s->r[s->n].seq = seq;
    s->n++;
}

static void streams_clear(void)
{
    for (size_t i = 0; i <= TD_SYM_MAX; i++) {
        td_free(streams[i].r);
        memset(&streams[i], 0, sizeof streams[i]);
    }
}

typedef struct sizes {
    uint64_t v1, v2, recs;
} sizes_t;

static void roundtrip_block(const char *what, const td_blk_tick_t *recs, size_t n, int layout, sizes_t *sz)
{
    const char *name = recs[0].ev.sym ? td_sym_name(recs[0].ev.sym) : TD_STORE_NOSYM_NAME;
    int len = layout == 2 ? td_blk_encode_ticks(&enc, name, recs, n, 1) : td_blk_encode_ticks_v1(&enc, name, recs, n, 1);
    TD_CHECK(len > 0, "%.60s: encode layout %d: %d", what, layout, len);
    td_blk_info_t info;
    TD_CHECK(td_blk_parse_header(enc.out, (size_t)len, &info) == TD_OK, "%.60s: header", what);
    TD_CHECK(info.layout == (layout == 2 ? TD_BLK_LAYOUT2 : TD_BLK_LAYOUT1), "%.60s: layout %d", what, info.layout);
    int got = td_blk_decode_ticks(&dec, enc.out, (size_t)len, out_buf, MAXREC);
    TD_CHECK(got == (int)n, "%.60s: layout %d decoded %d of %zu", what, layout, got, n);
    for (size_t i = 0; i < n; i++) {
        char a[256], b[256];
        TD_CHECK(memcmp(&recs[i].ev, &out_buf[i].ev, sizeof recs[i].ev) == 0 && recs[i].seq == out_buf[i].seq,
                 "%.40s: layout %d record %zu of %zu: %.180s seq %llu vs %.180s seq %llu", what, layout, i, n,
                 td_event_describe(&recs[i].ev, a, sizeof a), (unsigned long long)recs[i].seq,
                 td_event_describe(&out_buf[i].ev, b, sizeof b), (unsigned long long)out_buf[i].seq);
    }
    if (layout == 2) sz->v2 += (uint64_t)len;
    else sz->v1 += (uint64_t)len;
}

/* Cuts every symbol's stream into blocks of random sizes (or `fixed`) and round-trips them both ways. */
static sizes_t roundtrip_streams(const char *what, td_rng_t *r, size_t fixed)
{
    sizes_t sz = { 0, 0, 0 };
    for (size_t sym = 0; sym <= TD_SYM_MAX; sym++) {
        const stream_t *s = &streams[sym];
        for (size_t off = 0; off < s->n;) {
            size_t bs = fixed ? fixed : 1 + td_rng_below(r, td_rng_below(r, 4) ? 4096 : 12000);
            if (bs > s->n - off) bs = s->n - off;
            roundtrip_block(what, s->r + off, bs, 2, &sz);
            roundtrip_block(what, s->r + off, bs, 1, &sz);
            off += bs;
            sz.recs += bs;
        }
    }
    return sz;
}

static void collect_events(const td_event_t *evs, size_t n)
{
    for (size_t i = 0; i < n; i++) push(evs[i].sym, &evs[i], i / 3);
}

static td_event_t *sim_events(td_sim_mode_t mode, uint64_t seed, size_t n)
{
    td_sim_config_t cfg;
    td_sim_config_default(&cfg);
    cfg.mode = mode;
    cfg.seed = seed;
    cfg.rate = 2000;
    char err[256];
    td_sim_t *sim = td_sim_create(&cfg, err, sizeof err);
    TD_CHECK(sim != NULL, "sim: %s", err);
    td_event_t *evs = td_malloc(n * sizeof *evs);
    for (size_t got = 0; got < n;) got += td_sim_generate(sim, evs + got, n - got < 4096 ? n - got : 4096);
    td_sim_destroy(sim);
    return evs;
}

static td_event_t *source_events(const char *label, const char *spec, size_t max, size_t *n)
{
    char err[256];
    td_source_t *src = td_source_open(spec, err, sizeof err);
    TD_CHECK(src != NULL, "%.60s: %.200s", label, err);
    td_event_t *evs = td_malloc(max * sizeof *evs);
    *n = 0;
    for (;;) {
        int k = src->next(src, evs + *n, max - *n < 256 ? max - *n : 256);
        if (k <= 0) break;
        *n += (size_t)k;
        if (*n == max) break;
    }
    td_source_destroy(src);
    return evs;
}

static void test_sim_modes(void **state)
{
    (void)state;
    td_rng_t r;
    td_rng_seed(&r, td_test_seed());
    size_t n = td_test_sanitized() ? 60000 : 300000;
    for (int mode = TD_SIM_ORDERS; mode <= TD_SIM_QUOTES; mode++) {
        td_event_t *evs = sim_events((td_sim_mode_t)mode, td_rng_next(&r), n);
        collect_events(evs, n);
        sizes_t sz = roundtrip_streams("sim", &r, 0);
        TD_CHECK(sz.recs == n, "records %llu", (unsigned long long)sz.recs);
        print_message("sim mode %d: layout 1 %.2f B/record, layout 2 %.2f\n", mode, (double)sz.v1 / (double)n,
                      (double)sz.v2 / (double)n);
        if (mode == TD_SIM_ORDERS)
            TD_CHECK(sz.v2 * 100 < sz.v1 * 90, "order model: layout 2 %llu bytes vs layout 1 %llu",
                     (unsigned long long)sz.v2, (unsigned long long)sz.v1);
        else
            TD_CHECK(sz.v2 <= sz.v1 + sz.v1 / 20, "layout 2 %llu bytes vs layout 1 %llu", (unsigned long long)sz.v2,
                     (unsigned long long)sz.v1);
        streams_clear();
        td_free(evs);
    }
}

static void test_real_files(void **state)
{
    (void)state;
    td_rng_t r;
    td_rng_seed(&r, td_test_seed());
    static const char *lob[][2] = {
        { "lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv", "lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv" },
        { "lobster/AMZN_2012-06-21_34200000_57600000_message_5.csv", "lobster/AMZN_2012-06-21_34200000_57600000_orderbook_5.csv" },
    };
    for (int f = 0; f < 3; f++) {
        char spec[8400];
        const char *label = f < 2 ? lob[f][0] : "itch50 sample";
        if (f < 2) {
            char m[4096];
            snprintf(m, sizeof m, "%s", td_test_data_path(lob[f][0]));
            snprintf(spec, sizeof spec, "lobster:%s,%s", m, td_test_data_path(lob[f][1]));
        } else {
            snprintf(spec, sizeof spec, "itch50:%s", td_test_data_path("nasdaq_itch50/sample_1000msgs.itch"));
        }
        size_t n;
        td_event_t *evs = source_events(label, spec, 400000, &n);
        TD_CHECK(n > (f < 2 ? 500u : 0u), "%.60s: %zu events", label, n);
        collect_events(evs, n);
        sizes_t sz = roundtrip_streams(label, &r, f < 2 ? 0 : 7);
        print_message("%s: %zu events, layout 1 %.2f B/record, layout 2 %.2f\n", label, n,
                      (double)sz.v1 / (double)n, (double)sz.v2 / (double)n);
        if (f < 2)
            TD_CHECK(sz.v2 * 100 < sz.v1 * 75, "%.60s: layout 2 %llu bytes vs layout 1 %llu", label,
                     (unsigned long long)sz.v2, (unsigned long long)sz.v1);
        streams_clear();
        td_free(evs);
    }
}

/* The records a running node stores: every event with its symbol's seq (on_event), then the NBBO changes and
 * resolved trades it causes (emit), in engine order. */
static void on_event(void *ctx, const td_event_t *ev, uint64_t seq)
{
    (void)ctx;
    push(ev->sym, ev, seq);
}

static void on_out(void *ctx, const td_out_t *o)
{
    (void)ctx;
    td_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.sym = o->sym;
    ev.exch_ns = o->exch_ns;
    ev.recv_ns = o->recv_ns;
    if (o->type == TD_OUT_NBBO) {
        ev.type = TD_SREC_NBBO;
        ev.exch = o->u.nbbo.bid_exch;
        ev.side = o->u.nbbo.ask_exch;
        ev.flags = (uint8_t)o->u.nbbo.state;
        ev.u.quote.bid_px = o->u.nbbo.bid_px;
        ev.u.quote.bid_qty = o->u.nbbo.bid_qty;
        ev.u.quote.ask_px = o->u.nbbo.ask_px;
        ev.u.quote.ask_qty = o->u.nbbo.ask_qty;
    } else if (o->type == TD_OUT_TRADE) {
        ev.type = TD_SREC_TRADE;
        ev.exch = o->exch;
        ev.side = o->side;
        ev.flags = o->aux;
        ev.u.trade.price = o->u.trade.price;
        ev.u.trade.qty = o->u.trade.qty;
        ev.u.trade.trade_id = o->u.trade.trade_id;
    } else {
        return;
    }
    push(o->sym, &ev, o->seq);
}

static void test_engine_stream(void **state)
{
    (void)state;
    td_rng_t r;
    td_rng_seed(&r, td_test_seed());
    size_t n = td_test_sanitized() ? 50000 : 200000;
    td_event_t *evs = sim_events(TD_SIM_ORDERS, td_rng_next(&r), n);
    for (size_t i = 0; i < n; i++) evs[i].recv_ns = evs[i].exch_ns + 20000 + (int64_t)td_rng_below(&r, 5000);
    td_engine_config_t cfg = { .emit = on_out, .on_event = on_event };
    td_engine_t *e = td_engine_create(&cfg);
    td_engine_apply_batch(e, evs, n);
    td_engine_destroy(e);
    size_t total = 0, trades = 0, nbbo = 0;
    for (size_t s = 0; s <= TD_SYM_MAX; s++) {
        total += streams[s].n;
        for (size_t i = 0; i < streams[s].n; i++) {
            trades += streams[s].r[i].ev.type == TD_SREC_TRADE;
            nbbo += streams[s].r[i].ev.type == TD_SREC_NBBO;
        }
    }
    TD_CHECK(trades > n / 50 && nbbo > n / 50, "the engine resolved %zu trades and %zu NBBO changes", trades, nbbo);
    sizes_t sz = roundtrip_streams("engine", &r, 0);
    TD_CHECK(sz.recs == total, "records");
    print_message("engine: %zu events -> %zu records (%zu trades, %zu NBBO): layout 1 %.2f B/event, layout 2 %.2f\n",
                  n, total, trades, nbbo, (double)sz.v1 / (double)n, (double)sz.v2 / (double)n);
    TD_CHECK(sz.v2 * 100 < sz.v1 * 90, "layout 2 %llu bytes vs layout 1 %llu", (unsigned long long)sz.v2,
             (unsigned long long)sz.v1);
    streams_clear();
    td_free(evs);
}

static td_event_t order_ev(uint8_t type, uint8_t exch, uint8_t side, int64_t px, int64_t qty, uint64_t id, uint64_t id2,
                           int64_t t)
{
    td_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.exch = exch;
    ev.side = side;
    ev.sym = td_sym_intern("CORNER", 6);
    ev.exch_ns = t;
    ev.recv_ns = t + 1000;
    ev.u.order.price = px;
    ev.u.order.qty = qty;
    ev.u.order.order_id = id;
    ev.u.order.new_order_id = id2;
    return ev;
}

static void test_corner_cases(void **state)
{
    (void)state;
    td_rng_t r;
    td_rng_seed(&r, td_test_seed());
    uint8_t ex[6];
    for (int i = 0; i < 6; i++) {
        char nm[8];
        snprintf(nm, sizeof nm, "CX%d", i);
        ex[i] = td_exch_intern(nm, strlen(nm));
    }
    size_t rounds = td_test_sanitized() ? 100 : 400;
    for (size_t round = 0; round < rounds; round++) {
        size_t n = 1 + td_rng_below(&r, 3000);
        uint64_t ids[64];
        size_t nids = 0;
        int64_t t = 1708612200LL * TD_NS_PER_SEC;
        int nex = 1 + (int)td_rng_below(&r, 6);
        for (size_t i = 0; i < n; i++) {
            uint8_t x = td_rng_below(&r, 20) ? ex[td_rng_below(&r, (uint64_t)nex)] : 0;
            uint8_t side = (uint8_t)td_rng_below(&r, 3);
            int64_t px = td_rng_below(&r, 5) ? (int64_t)(10000 + td_rng_below(&r, 50)) * 1000000 : 0;
            int64_t qty = td_rng_below(&r, 5) ? (int64_t)(1 + td_rng_below(&r, 9)) * 10000000000LL : 0;
            uint64_t k = td_rng_below(&r, 10);
            uint64_t ref = nids && td_rng_below(&r, 8) ? ids[td_rng_below(&r, nids)] : td_rng_next(&r) % 100000;
            uint64_t fresh = 1000 + i * 3 + td_rng_below(&r, 3);
            td_event_t ev;
            if (k < 3) { /* add, sometimes reusing a live id */
                uint64_t id = td_rng_below(&r, 10) ? fresh : ref;
                ev = order_ev(TD_EV_ORDER_ADD, x, side, px, qty, id, 0, t);
                if (nids < 64) ids[nids++] = id;
                else ids[td_rng_below(&r, 64)] = id;
            } else if (k < 8) { /* exec, cancel, delete, replace of a known (maybe dead) or unknown order */
                uint8_t type = (uint8_t)(TD_EV_ORDER_EXEC + td_rng_below(&r, 4));
                ev = order_ev(type, x, side, px, qty, ref, type == TD_EV_ORDER_REPLACE ? fresh : td_rng_below(&r, 3), t);
                if (type == TD_EV_ORDER_REPLACE && nids < 64) ids[nids++] = fresh;
            } else if (k == 8) { /* a resolved trade or NBBO record after it */
                ev = order_ev(td_rng_below(&r, 2) ? TD_SREC_TRADE : TD_SREC_NBBO, x, side, px, qty, td_rng_next(&r), 0, t);
                if (ev.type == TD_SREC_NBBO) ev.side = td_rng_below(&r, 4) ? ex[td_rng_below(&r, (uint64_t)nex)] : 0;
            } else { /* any type byte */
                ev = order_ev((uint8_t)td_rng_next(&r), x, (uint8_t)td_rng_next(&r), px, qty, td_rng_next(&r),
                              td_rng_next(&r), t);
                if (ev.type == TD_SREC_NBBO) ev.side = ex[0];
            }
            ev.src_seq = td_rng_below(&r, 4) ? 500 + i : td_rng_next(&r);
            ev.flags = (uint8_t)td_rng_below(&r, 4);
            t += (int64_t)td_rng_below(&r, 3) * (int64_t)td_rng_below(&r, 1000000);
            push(ev.sym, &ev, i);
        }
        roundtrip_streams("corner", &r, 0);
        streams_clear();
    }
}

static void test_resealed_damage(void **state)
{
    (void)state;
    td_rng_t r;
    td_rng_seed(&r, td_test_seed());
    size_t n = 6000;
    td_event_t *evs = sim_events(TD_SIM_ORDERS, 5, n);
    collect_events(evs, n);
    const stream_t *s = NULL;
    for (size_t i = 1; i <= TD_SYM_MAX && !s; i++)
        if (streams[i].n >= 300) s = &streams[i];
    TD_CHECK(s != NULL, "a busy symbol");
    size_t bn = s->n < 2000 ? s->n : 2000;
    int len = td_blk_encode_ticks(&enc, td_sym_name(s->r[0].ev.sym), s->r, bn, (int)td_rng_below(&r, 2));
    TD_CHECK(len > 0, "encode");
    uint8_t *orig = td_malloc((size_t)len), *copy = td_malloc((size_t)len);
    memcpy(orig, enc.out, (size_t)len);
    size_t rounds = td_test_sanitized() ? 1500 : 6000, decoded = 0;
    td_blk_scratch_t enc2 = { 0 };
    for (size_t round = 0; round < rounds; round++) {
        memcpy(copy, orig, (size_t)len);
        int flips = 1 + (int)td_rng_below(&r, 3);
        for (int f = 0; f < flips; f++) {
            size_t at = TD_BLK_HDR + td_rng_below(&r, (uint64_t)len - TD_BLK_HDR); /* payload (and exchange names) */
            copy[at] ^= (uint8_t)(1 + td_rng_below(&r, 255));
        }
        td_blk_seal(copy, (uint32_t)len);
        int got = td_blk_decode_ticks(&dec, copy, (size_t)len, in_buf, MAXREC);
        if (got <= 0) continue;
        decoded++;
        int len2 = td_blk_encode_ticks(&enc2, td_sym_name(in_buf[0].ev.sym ? in_buf[0].ev.sym : 1), in_buf,
                                       (size_t)got, 1);
        if (len2 == TD_ENOBUFS) continue;
        TD_CHECK(len2 > 0, "re-encode");
        int got2 = td_blk_decode_ticks(&dec, enc2.out, (size_t)len2, out_buf, MAXREC);
        TD_CHECK(got2 == got, "re-decoded %d of %d", got2, got);
        for (int i = 0; i < got; i++)
            TD_CHECK(memcmp(&in_buf[i].ev, &out_buf[i].ev, sizeof in_buf[i].ev) == 0 && in_buf[i].seq == out_buf[i].seq,
                     "record %d differs after re-encoding", i);
    }
    print_message("re-sealed damage: %zu of %zu mutated blocks still decoded (and re-encoded identically)\n", decoded,
                  rounds);
    td_blk_scratch_free(&enc2);
    td_free(orig);
    td_free(copy);
    streams_clear();
    td_free(evs);
}

typedef struct blocks {
    td_idx_entry_t e[4096];
    size_t n;
} blocks_t;

static void collect_block(void *ctx, uint64_t off, const td_blk_info_t *info, const char *damage)
{
    blocks_t *b = ctx;
    (void)damage;
    if (info && b->n < 4096) {
        b->e[b->n].offset = off;
        b->e[b->n].info = *info;
        b->n++;
    }
}

static void scan_file(const char *path, blocks_t *b, td_part_map_t *m)
{
    b->n = 0;
    TD_CHECK(td_part_map(path, m) == TD_OK, "map %s", path);
    uint64_t end;
    td_part_scan_mem(m->base, m->size, 0, collect_block, b, &end);
    TD_CHECK(end == m->size, "scan stopped at %llu of %llu", (unsigned long long)end, (unsigned long long)m->size);
}

static void test_seal(void **state)
{
    (void)state;
    td_rng_t r;
    td_rng_seed(&r, td_test_seed());
    const uint32_t BE = 512; /* block_events of the seal */
    size_t n = 20000;
    td_event_t *evs = sim_events(TD_SIM_ORDERS, td_rng_next(&r), n);
    collect_events(evs, n);
    char dir[] = "/tmp/td_seal_XXXXXX";
    TD_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char data[256], idx[256];
    snprintf(data, sizeof data, "%s/p.tdb", dir);
    snprintf(idx, sizeof idx, "%s/p.tdi", dir);
    /* a partition as the writer leaves it: per symbol, runs of small blocks (frequent flushes), full blocks,
     * some in layout 1 (an older store) */
    int fd = open(data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    TD_CHECK(fd >= 0, "create");
    size_t full_v2 = 0, written = 0;
    static uint32_t full_crc[4096];
    for (size_t sym = 1; sym <= TD_SYM_MAX; sym++) {
        const stream_t *st = &streams[sym];
        for (size_t off = 0; off < st->n;) {
            uint64_t k = td_rng_below(&r, 4);
            size_t bs = k == 0 ? BE : 1 + td_rng_below(&r, BE / 3);
            if (bs > st->n - off) bs = st->n - off;
            bool v1 = td_rng_below(&r, 5) == 0;
            int len = v1 ? td_blk_encode_ticks_v1(&enc, td_sym_name((uint32_t)sym), st->r + off, bs, 1)
                         : td_blk_encode_ticks(&enc, td_sym_name((uint32_t)sym), st->r + off, bs, 1);
            TD_CHECK(len > 0 && write(fd, enc.out, (size_t)len) == len, "write");
            if (!v1 && bs == BE && full_v2 < 4096) memcpy(&full_crc[full_v2++], enc.out + 8, 4);
            written++;
            off += bs;
        }
    }
    close(fd);
    bool changed;
    TD_CHECK(td_part_seal(data, idx, 1, BE, &changed, NULL) == TD_OK && changed, "seal");
    blocks_t *b = td_malloc(sizeof *b);
    td_part_map_t m;
    scan_file(data, b, &m);
    /* every record, in order per symbol, from layout-2 blocks; no two small blocks of a symbol in a row */
    size_t copied = 0, at[TD_SYM_MAX + 1];
    memset(at, 0, sizeof at);
    uint32_t prev_small_sym = 0;
    for (size_t i = 0; i < b->n; i++) {
        const td_blk_info_t *in = &b->e[i].info;
        TD_CHECK(in->layout == TD_BLK_LAYOUT2, "block %zu in layout %d after the seal", i, in->layout);
        int got = td_blk_decode_ticks(&dec, m.base + b->e[i].offset, in->len, out_buf, MAXREC);
        TD_CHECK(got == (int)in->count, "decode block %zu", i);
        uint32_t sym = out_buf[0].ev.sym;
        const stream_t *st = &streams[sym];
        TD_CHECK(at[sym] + (size_t)got <= st->n, "too many records of %s", td_sym_name(sym));
        TD_CHECK(memcmp(out_buf, st->r + at[sym], (size_t)got * sizeof *out_buf) == 0, "records of %s differ at %zu",
                 td_sym_name(sym), at[sym]);
        at[sym] += (size_t)got;
        bool small = in->count < BE;
        uint32_t crc;
        memcpy(&crc, m.base + b->e[i].offset + 8, 4);
        for (size_t k = 0; k < full_v2; k++)
            if (full_crc[k] == crc) {
                full_crc[k] = 0; /* copied byte for byte (the checksum covers the whole block) */
                copied++;
                break;
            }
        TD_CHECK(!(small && prev_small_sym == sym), "two small blocks of %s in a row", td_sym_name(sym));
        prev_small_sym = small ? sym : 0;
    }
    for (size_t sym = 1; sym <= TD_SYM_MAX; sym++)
        TD_CHECK(at[sym] == streams[sym].n, "%s: %zu of %zu records", td_sym_name((uint32_t)sym), at[sym],
                 streams[sym].n);
    TD_CHECK(b->n < written, "%zu blocks after the seal, %zu before", b->n, written);
    TD_CHECK(copied == full_v2, "%zu of %zu full layout-2 blocks copied as they were", copied, full_v2);
    td_part_unmap(&m);
    /* a second seal has nothing to merge: the files stay as they are */
    TD_CHECK(td_part_seal(data, idx, 1, BE, &changed, NULL) == TD_OK && !changed, "second seal rewrote the files");
    print_message("seal: %zu blocks (%zu full layout 2) -> %zu\n", written, full_v2, b->n);
    td_free(b);
    unlink(data);
    unlink(idx);
    rmdir(dir);
    streams_clear();
    td_free(evs);
}

static void test_compact_open(void **state)
{
    (void)state;
    td_rng_t r;
    td_rng_seed(&r, td_test_seed());
    size_t n = td_test_sanitized() ? 30000 : 60000;
    td_event_t *evs = sim_events(TD_SIM_ORDERS, td_rng_next(&r), n);
    char dir[] = "/tmp/td_compact_XXXXXX";
    TD_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    td_store_options_t o;
    td_store_options_default(&o);
    o.fsync_ms = TD_STORE_FSYNC_OFF; /* the syncs below make the small blocks; no fsync cost in the test */
    o.compact_min_bytes = 64 << 10;
    o.retention_every_s = -1;
    td_store_t *s;
    char err[256];
    TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "open: %s", err);
    /* a slow feed under --fsync batch: a flush (and so a block per symbol) every few events */
    size_t queries = 0;
    td_store_tick_t *got = td_malloc(n * sizeof *got);
    for (size_t i = 0; i < n;) {
        size_t k = 1 + td_rng_below(&r, 40);
        if (k > n - i) k = n - i;
        TD_CHECK(td_store_append(s, evs + i, NULL, k) == TD_OK, "append");
        i += k;
        TD_CHECK(td_store_sync(s) == TD_OK, "sync");
        if (td_rng_below(&r, 200) == 0) { /* a reader during compactions: every record of the symbol, once */
            uint32_t sym = evs[td_rng_below(&r, i)].sym;
            td_store_cursor_t *c;
            TD_CHECK(td_store_ticks_open(s, sym, INT64_MIN, INT64_MAX, 0, &c) == TD_OK, "cursor");
            size_t m = 0;
            int k2;
            while ((k2 = td_store_ticks_next(c, got + m, n - m)) > 0) m += (size_t)k2;
            td_store_ticks_close(c);
            size_t want = 0;
            for (size_t j = 0; j < i; j++)
                if (evs[j].sym == sym) {
                    TD_CHECK(want < m && memcmp(&got[want].ev, &evs[j], sizeof evs[j]) == 0,
                             "record %zu of %s after %zu appended", want, td_sym_name(sym), i);
                    want++;
                }
            TD_CHECK(m == want, "%s: %zu records read, %zu appended", td_sym_name(sym), m, want);
            queries++;
        }
    }
    const td_store_stats_t *st = td_store_stats(s);
    uint64_t compactions = atomic_load(&st->compactions), blocks = atomic_load(&st->blocks_written);
    TD_CHECK(compactions > 0, "no compaction after %llu blocks", (unsigned long long)blocks);
    td_store_verify_report_t vr;
    TD_CHECK(td_store_verify(dir, &vr, NULL, NULL) == TD_OK, "verify");
    TD_CHECK(vr.events == n, "verify counts %llu records of %zu", (unsigned long long)vr.events, n);
    /* after every flush either the small blocks are under 64 KB or under half the file (~6 B a record
     * compacted): at most a few thousand of the ~19,000 written remain */
    TD_CHECK(vr.blocks * 2 < blocks, "%llu blocks on disk after %llu written", (unsigned long long)vr.blocks,
             (unsigned long long)blocks);
    print_message("compaction: %llu blocks written, %llu compactions, %llu blocks on disk, %zu reads in between\n",
                  (unsigned long long)blocks, (unsigned long long)compactions, (unsigned long long)vr.blocks,
                  queries);
    td_store_close(s);
    td_test_rm_rf(dir);
    td_free(got);
    td_free(evs);
}

static int setup(void **state)
{
    (void)state;
    in_buf = td_malloc(MAXREC * sizeof *in_buf);
    out_buf = td_malloc(MAXREC * sizeof *out_buf);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    td_free(in_buf);
    td_free(out_buf);
    td_blk_scratch_free(&enc);
    td_blk_scratch_free(&dec);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_modes),      cmocka_unit_test(test_real_files),
        cmocka_unit_test(test_engine_stream),  cmocka_unit_test(test_corner_cases),
        cmocka_unit_test(test_seal),           cmocka_unit_test(test_resealed_damage),
        cmocka_unit_test(test_compact_open),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
