/* gen_store_seeds.c: writes the seed corpus of fuzz_store_block from the encoder (not built by CMake):
 *   gcc -std=gnu11 -Isrc tests/fuzz/gen_store_seeds.c build/libtdcore.a -lzstd -lz -lssl -lcrypto -lpthread -lm -o /tmp/gen \
 *     && /tmp/gen tests/fuzz/corpus/fuzz_store_block
 * Each seed: one mode byte (bit 0: re-seal the first block's checksum), then blocks as in a partition file. */
#include <stdio.h>
#include <string.h>
#include "core/symbols.h"
#include "core/rng.h"
#include "store/store.h"
#include "store/store_internal.h"
static void put(const char *dir, const char *name, uint8_t mode, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    char p[512]; snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb"); fputc(mode, f); fwrite(a, 1, na, f); if (b) fwrite(b, 1, nb, f); fclose(f);
}
int main(int argc, char **argv)
{
    const char *dir = argv[1];
    uint8_t ex[2] = { td_exch_intern("NYSE", 4), td_exch_intern("NASDAQ", 6) };
    uint32_t sym = td_sym_intern("AAPL", 4);
    td_rng_t r; td_rng_seed(&r, 7);
    static td_blk_tick_t t[64]; static td_blk_candle_t c[16];
    td_blk_scratch_t s = {0};
    int64_t now = 1708612200000000000LL;
    for (int i = 0; i < 64; i++) {
        memset(&t[i], 0, sizeof t[i]);
        t[i].ev.type = (uint8_t)(1 + i % 13); if (i % 9 == 0) t[i].ev.type = TD_SREC_NBBO;
        t[i].ev.sym = sym; t[i].ev.exch = ex[i % 2]; t[i].ev.side = t[i].ev.type == TD_SREC_NBBO ? ex[1] : (uint8_t)(i % 2);
        t[i].ev.src_seq = 1000 + (uint64_t)i; now += (int64_t)td_rng_below(&r, 100000); t[i].ev.exch_ns = now; t[i].ev.recv_ns = now + 5000;
        t[i].ev.u.order.price = (int64_t)(18500 + td_rng_below(&r, 20)) * 1000000; t[i].ev.u.order.qty = 10000000000LL * (1 + i % 3);
        t[i].ev.u.order.order_id = 5000 + (uint64_t)i; t[i].seq = (uint64_t)i / 2;
    }
    for (int i = 0; i < 16; i++) { memset(&c[i], 0, sizeof c[i]); c[i].c.time = 1708612200 + 60 * i; c[i].c.open = 18500000000; c[i].c.high = 18510000000; c[i].c.low = 18490000000; c[i].c.close = 18505000000; c[i].c.volume = 120000000000; c[i].c.trade_count = 7; c[i].seq = (uint64_t)i; }
    /* layout 1 (the reader of old stores) keeps its seeds; layout 2 gets the same records plus real order flow */
    int n1 = td_blk_encode_ticks_v1(&s, "AAPL", t, 64, 1); uint8_t b1[65536]; memcpy(b1, s.out, (size_t)n1);
    int n2 = td_blk_encode_ticks_v1(&s, "AAPL", t, 20, 0); uint8_t b2[65536]; memcpy(b2, s.out, (size_t)n2);
    int n3 = td_blk_encode_candles(&s, "AAPL", TD_IV_1M, c, 16, 1); uint8_t b3[65536]; memcpy(b3, s.out, (size_t)n3);
    int n4 = td_blk_encode_candles(&s, "AAPL", TD_IV_1D, c, 5, 0); uint8_t b4[65536]; memcpy(b4, s.out, (size_t)n4);
    int n5 = td_blk_encode_ticks_v1(&s, "_EXCH", t, 3, 0); uint8_t b5[65536]; memcpy(b5, s.out, (size_t)n5);
    put(dir, "ticks_zstd", 0, b1, (size_t)n1, NULL, 0);
    put(dir, "ticks_raw", 1, b2, (size_t)n2, NULL, 0);
    put(dir, "candles_zstd", 0, b3, (size_t)n3, NULL, 0);
    put(dir, "candles_raw", 1, b4, (size_t)n4, NULL, 0);
    put(dir, "nosym_raw", 1, b5, (size_t)n5, NULL, 0);
    put(dir, "partition_two", 0, b2, (size_t)n2, b3, (size_t)n3);
    put(dir, "partition_torn", 0, b1, (size_t)n1, b2, (size_t)n2 / 2);
    int n6 = td_blk_encode_ticks(&s, "AAPL", t, 64, 1); uint8_t b6[65536]; memcpy(b6, s.out, (size_t)n6);
    /* order flow: adds, then executions, cancels, deletes and replaces of them, a resolved trade after each
     * execution and an NBBO change after some, so every branch of the order model has a seed */
    static td_blk_tick_t o[256];
    int no = 0;
    uint64_t next_id = 9000;
    for (int i = 0; i < 200 && no < 250; i++) {
        td_blk_tick_t *x = &o[no++];
        memset(x, 0, sizeof *x);
        x->ev.sym = sym; x->ev.exch = ex[i % 2]; x->ev.src_seq = 2000 + (uint64_t)i; now += (int64_t)td_rng_below(&r, 300000);
        x->ev.exch_ns = now; x->ev.recv_ns = now + 7000; x->seq = (uint64_t)no;
        x->ev.side = (uint8_t)td_rng_below(&r, 2); x->ev.u.order.price = (int64_t)(18500 + td_rng_below(&r, 9)) * 1000000;
        x->ev.u.order.qty = 10000000000LL * (int64_t)(1 + td_rng_below(&r, 5));
        if (i < 40 || td_rng_below(&r, 3) == 0) { x->ev.type = TD_EV_ORDER_ADD; x->ev.u.order.order_id = next_id++; continue; }
        x->ev.type = (uint8_t)(TD_EV_ORDER_EXEC + td_rng_below(&r, 4));
        x->ev.u.order.order_id = 9000 + td_rng_below(&r, next_id - 9000);
        if (x->ev.type == TD_EV_ORDER_REPLACE) x->ev.u.order.new_order_id = next_id++;
        if (x->ev.type == TD_EV_ORDER_EXEC) {
            td_blk_tick_t *y = &o[no++];
            *y = *x; y->ev.type = TD_SREC_TRADE; y->ev.src_seq = 0; y->ev.side ^= 1; y->seq = (uint64_t)no;
            y->ev.u.trade.trade_id = x->ev.src_seq;
        }
        if (td_rng_below(&r, 3) == 0) {
            td_blk_tick_t *y = &o[no++];
            memset(y, 0, sizeof *y);
            y->ev.type = TD_SREC_NBBO; y->ev.sym = sym; y->ev.exch = ex[0]; y->ev.side = ex[1]; y->ev.exch_ns = now;
            y->ev.recv_ns = now + 7000; y->seq = (uint64_t)no; y->ev.u.quote.bid_px = 18500000000; y->ev.u.quote.ask_px = 18501000000;
            y->ev.u.quote.bid_qty = 10000000000LL; y->ev.u.quote.ask_qty = 20000000000LL;
        }
    }
    int n7 = td_blk_encode_ticks(&s, "AAPL", o, (size_t)no, 1); uint8_t b7[65536]; memcpy(b7, s.out, (size_t)n7);
    int n8 = td_blk_encode_ticks(&s, "AAPL", o, (size_t)no, 0); uint8_t b8[65536]; memcpy(b8, s.out, (size_t)n8);
    put(dir, "ticks2_zstd", 0, b6, (size_t)n6, NULL, 0);
    put(dir, "ticks2_orders", 1, b7, (size_t)n7, NULL, 0);
    put(dir, "ticks2_orders_raw", 1, b8, (size_t)n8, NULL, 0);
    printf("%d %d %d %d %d %d %d %d\n", n1, n2, n3, n4, n5, n6, n7, n8);
    return 0;
}
