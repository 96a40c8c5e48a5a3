/* test_store.c: the store against naive references on seeded random streams.
 *   - block codec round trip: random events of every type (and NBBO records), extreme and realistic values,
 *     every codec path (zstd, raw by choice, raw because zstd did not shrink), 1..N records per block;
 *     candles likewise;
 *   - the store: random multi-symbol, multi-day streams written through the writer thread with small blocks,
 *     read back identical per symbol; random range queries (and ranges that start/end exactly at block and
 *     partition boundaries) against a filter over the reference; the same after reopening (sealed files);
 *   - candles: stored ranges and the merge with a live candle (no duplicate, no hole, limits);
 *   - damage: flipped bytes at random offsets and truncation: queries return only whole, genuine records in
 *     order, damage is counted, verify names it, recovery cuts a torn tail;
 *   - the engine's trades (TD_SREC_TRADE) round-trip with a type-mask cursor; the visible seq follows flushes
 *     and is restored at open;
 *   - restart state: seq moves past everything stored, open candles already stored as closed are dropped;
 *   - retention by whole partitions, with a cold directory. */
#include "testutil.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/rng.h"
#include "core/symbols.h"
#include "store/part.h"
#include "store/store.h"
#include "store/store_internal.h"

#define NSYM 5

static uint32_t syms[NSYM];
static uint8_t exchs[3];

static void setup_names(void)
{
    const char *names[NSYM] = { "STA", "STB", "STC.X", "STD-1", "STE" };
    for (int i = 0; i < NSYM; i++) syms[i] = td_sym_intern(names[i], strlen(names[i]));
    exchs[0] = td_exch_intern("XNYS", 4);
    exchs[1] = td_exch_intern("XNAS", 4);
    exchs[2] = td_exch_intern("ARCX", 4);
}

static void make_tmpdir(char *out, size_t len)
{
    snprintf(out, len, "/tmp/td_store_XXXXXX");
    if (!mkdtemp(out)) fail_msg("mkdtemp");
}

/* A test's start: names interned, a fresh directory, default options. */
static void begin(char *dir, size_t len, td_store_options_t *o)
{
    setup_names();
    make_tmpdir(dir, len);
    td_store_options_default(o);
}

static int64_t rand_word(td_rng_t *r)
{
    switch (td_rng_below(r, 6)) {
    case 0: return (int64_t)td_rng_next(r);
    case 1: return 0;
    case 2: return (int64_t)(td_rng_below(r, 40000) + 1) * 1000000; /* cents */
    case 3: return (int64_t)(td_rng_below(r, 50) + 1) * 10000000000LL; /* 100-share lots */
    case 4: return td_rng_below(r, 2) ? INT64_MIN : INT64_MAX;
    default: return (int64_t)td_rng_below(r, 1000) - 500;
    }
}

/* A random event of any type; with realistic != 0 times move forward by small steps from *t. */
static td_event_t rand_event(td_rng_t *r, uint32_t sym, int64_t *t, bool wild)
{
    td_event_t ev;
    memset(&ev, 0, sizeof ev);
    uint64_t k = td_rng_below(r, TD_EV_TYPE_COUNT + 2);
    ev.type = k == TD_EV_TYPE_COUNT ? TD_SREC_NBBO : k == TD_EV_TYPE_COUNT + 1 ? (uint8_t)td_rng_next(r) : (uint8_t)k;
    ev.exch = td_rng_below(r, 8) ? exchs[td_rng_below(r, 3)] : 0;
    ev.side = ev.type == TD_SREC_NBBO ? (td_rng_below(r, 4) ? exchs[td_rng_below(r, 3)] : 0) : (uint8_t)td_rng_below(r, 3);
    if (wild && ev.type != TD_SREC_NBBO && td_rng_below(r, 4) == 0) ev.side = (uint8_t)td_rng_next(r);
    ev.flags = (uint8_t)(wild ? td_rng_next(r) : td_rng_below(r, 8));
    ev.sym = sym;
    ev.src_seq = td_rng_below(r, 10) ? (uint64_t)(*t / 1000) + td_rng_below(r, 3) : (wild ? td_rng_next(r) : 0);
    int64_t step = (int64_t)td_rng_below(r, 2000000);
    if (td_rng_below(r, 50) == 0) step = -(int64_t)td_rng_below(r, 100000000); /* late */
    *t += step;
    ev.exch_ns = *t;
    if (wild && td_rng_below(r, 30) == 0) ev.exch_ns = (int64_t)td_rng_next(r);
    ev.recv_ns = ev.exch_ns + (int64_t)td_rng_below(r, 300000);
    if (wild && td_rng_below(r, 30) == 0) ev.recv_ns = (int64_t)td_rng_next(r);
    int64_t w[4];
    for (int i = 0; i < 4; i++) w[i] = wild ? rand_word(r) : (int64_t)(td_rng_below(r, 40000) + 1) * 1000000;
    memcpy(&ev.u, w, sizeof w);
    return ev;
}

static bool tick_eq(const td_event_t *a, const td_event_t *b) { return memcmp(a, b, sizeof *a) == 0; }

static void test_codec_roundtrip(void **state)
{
    (void)state;
    setup_names();
    td_rng_t r;
    td_rng_seed(&r, td_test_seed());
    td_blk_scratch_t enc = { 0 }, dec = { 0 };
    size_t rounds = td_test_sanitized() ? 60 : 300;
    td_blk_tick_t *in = td_malloc(5000 * sizeof *in), *out = td_malloc(5000 * sizeof *out);
    int paths_seen[2] = { 0, 0 };
    for (size_t round = 0; round < rounds; round++) {
        size_t n = 1 + td_rng_below(&r, round % 10 == 0 ? 5000 : 200);
        bool wild = td_rng_below(&r, 2);
        uint32_t sym = td_rng_below(&r, 10) ? syms[td_rng_below(&r, NSYM)] : 0;
        int64_t t = 1708612200LL * TD_NS_PER_SEC;
        for (size_t i = 0; i < n; i++) {
            in[i].ev = rand_event(&r, sym, &t, wild);
            in[i].seq = td_rng_below(&r, 4) ? i * 3 : (wild ? td_rng_next(&r) : 0);
        }
        int level = (int)td_rng_below(&r, 3); /* 0 = raw by choice */
        const char *name = sym ? td_sym_name(sym) : TD_STORE_NOSYM_NAME;
        /* both layouts: 2 is written, 1 must stay readable */
        int len = round & 1 ? td_blk_encode_ticks_v1(&enc, name, in, n, level) : td_blk_encode_ticks(&enc, name, in, n, level);
        TD_CHECK(len > 0, "encode: %d", len);
        td_blk_info_t info;
        TD_CHECK(td_blk_parse_header(enc.out, (size_t)len, &info) == TD_OK, "header");
        paths_seen[info.codec]++;
        int got = td_blk_decode_ticks(&dec, enc.out, (size_t)len, out, 5000);
        TD_CHECK(got == (int)n, "decoded %d of %zu (level %d)", got, n, level);
        for (size_t i = 0; i < n; i++) {
            char a[256], b[256];
            TD_CHECK(tick_eq(&in[i].ev, &out[i].ev) && in[i].seq == out[i].seq, "record %zu of %zu: %s vs %s", i,
                     n, td_event_describe(&in[i].ev, a, sizeof a), td_event_describe(&out[i].ev, b, sizeof b));
        }
        /* every truncation fails cleanly */
        size_t cut = td_rng_below(&r, (uint64_t)len);
        TD_CHECK(td_blk_decode_ticks(&dec, enc.out, cut, out, 5000) < 0, "truncated block decoded");
        /* a flipped byte is caught */
        uint8_t *copy = td_malloc((size_t)len);
        memcpy(copy, enc.out, (size_t)len);
        copy[td_rng_below(&r, (uint64_t)len)] ^= (uint8_t)(1 + td_rng_below(&r, 255));
        TD_CHECK(td_blk_decode_ticks(&dec, copy, (size_t)len, out, 5000) < 0, "flipped byte not detected");
        td_free(copy);
    }
    TD_CHECK(paths_seen[TD_BLK_RAW] > 0 && paths_seen[TD_BLK_ZSTD] > 0, "codec paths raw %d zstd %d",
             paths_seen[0], paths_seen[1]);

    /* candles */
    td_blk_candle_t *cin = td_malloc(3000 * sizeof *cin), *cout = td_malloc(3000 * sizeof *cout);
    for (size_t round = 0; round < rounds; round++) {
        size_t n = 1 + td_rng_below(&r, 3000);
        bool wild = td_rng_below(&r, 2);
        int64_t t = 1708612200;
        memset(cin, 0, n * sizeof *cin); /* padding too: records are compared with memcmp */
        for (size_t i = 0; i < n; i++) {
            td_candle_t *c = &cin[i].c;
            c->time = wild ? rand_word(&r) : (t += 60);
            c->open = wild ? rand_word(&r) : (int64_t)(td_rng_below(&r, 1000) + 100) * 1000000;
            c->high = wild ? rand_word(&r) : c->open + (int64_t)td_rng_below(&r, 50) * 1000000;
            c->low = wild ? rand_word(&r) : c->open - (int64_t)td_rng_below(&r, 50) * 1000000;
            c->close = wild ? rand_word(&r) : c->low + (int64_t)td_rng_below(&r, 50) * 1000000;
            c->volume = wild ? (td_vol_t)(((unsigned __int128)td_rng_next(&r) << 64) | td_rng_next(&r))
                             : (td_vol_t)td_rng_below(&r, 1000000) * 10000000000LL;
            c->trade_count = wild ? td_rng_next(&r) : td_rng_below(&r, 500);
            cin[i].seq = wild ? td_rng_next(&r) : i * 7;
        }
        int iv = (int)td_rng_below(&r, TD_IV_COUNT);
        int len = td_blk_encode_candles(&enc, "STA", (td_interval_t)iv, cin, n, (int)td_rng_below(&r, 3));
        TD_CHECK(len > 0, "encode candles %d", len);
        int got = td_blk_decode_candles(&dec, enc.out, (size_t)len, cout, 3000);
        TD_CHECK(got == (int)n, "candles decoded %d of %zu", got, n);
        for (size_t i = 0; i < n; i++)
            TD_CHECK(memcmp(&cin[i].c, &cout[i].c, sizeof cin[i].c) == 0 && cin[i].seq == cout[i].seq,
                     "candle %zu differs", i);
    }
    td_free(cin);
    td_free(cout);
    td_free(in);
    td_free(out);
    td_blk_scratch_free(&enc);
    td_blk_scratch_free(&dec);
}

/* ---- the store ---- */

typedef struct ref {
    td_store_tick_t *t;
    size_t n, cap;
} ref_t;

static void ref_add(ref_t *r, const td_event_t *ev, uint64_t seq)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->t = td_realloc(r->t, r->cap * sizeof *r->t);
    }
    r->t[r->n].ev = *ev;
    r->t[r->n].seq = seq;
    r->n++;
}

typedef struct keyed {
    int64_t day;
    size_t idx;
} keyed_t;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed_t *x = a, *y = b;
    if (x->day != y->day) return x->day < y->day ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* What a query must return: per UTC day ascending, stored order within the day, filtered by time. */
static size_t expect(const ref_t *r, int64_t from, int64_t to, size_t limit, td_store_tick_t *out)
{
    keyed_t *k = td_malloc((r->n + 1) * sizeof *k);
    size_t m = 0;
    for (size_t i = 0; i < r->n; i++) {
        const td_event_t *ev = &r->t[i].ev;
        if (ev->exch_ns < from || ev->exch_ns > to) continue;
        k[m].day = td_store_day_of_ns(ev->exch_ns);
        k[m].idx = i;
        m++;
    }
    qsort(k, m, sizeof *k, keyed_cmp);
    if (limit && m > limit) m = limit;
    for (size_t i = 0; i < m; i++) out[i] = r->t[k[i].idx];
    td_free(k);
    return m;
}

static size_t query_mask(td_store_t *s, uint32_t sym, int64_t from, int64_t to, size_t limit, uint64_t mask,
                         td_store_tick_t *out, size_t max)
{
    td_store_cursor_t *c;
    if (mask == TD_STORE_ALL_TYPES) TD_CHECK(td_store_ticks_open(s, sym, from, to, limit, &c) == TD_OK, "open cursor");
    else TD_CHECK(td_store_ticks_open_types(s, sym, from, to, limit, mask, &c) == TD_OK, "open cursor");
    size_t n = 0;
    for (;;) {
        size_t want = 1 + (n % 977);
        if (n + want > max) want = max - n;
        if (want == 0) break;
        int k = td_store_ticks_next(c, out + n, want);
        TD_CHECK(k >= 0, "next %d", k);
        if (k == 0) break;
        n += (size_t)k;
    }
    td_store_ticks_close(c);
    return n;
}

static size_t query(td_store_t *s, uint32_t sym, int64_t from, int64_t to, size_t limit, td_store_tick_t *out,
                    size_t max)
{
    return query_mask(s, sym, from, to, limit, TD_STORE_ALL_TYPES, out, max);
}

static void check_query(td_store_t *s, const ref_t *r, uint32_t sym, int64_t from, int64_t to, size_t limit,
                        td_store_tick_t *a, td_store_tick_t *b, size_t max)
{
    size_t ne = expect(r, from, to, limit, a);
    size_t ng = query(s, sym, from, to, limit, b, max);
    TD_CHECK(ne == ng, "sym %u [%lld, %lld] limit %zu: %zu expected, %zu returned", sym, (long long)from,
             (long long)to, limit, ne, ng);
    for (size_t i = 0; i < ne; i++)
        TD_CHECK(tick_eq(&a[i].ev, &b[i].ev) && a[i].seq == b[i].seq, "tick %zu of %zu differs", i, ne);
}

static void test_store_roundtrip(void **state)
{
    (void)state;
    setup_names();
    td_rng_t r;
    td_rng_seed(&r, td_test_seed() ^ 1);
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    td_store_options_t o;
    td_store_options_default(&o);
    o.block_events = 1 + (uint32_t)td_rng_below(&r, 300);
    o.fsync_ms = td_rng_below(&r, 2) ? TD_STORE_FSYNC_OFF : TD_STORE_FSYNC_BATCH;
    o.zstd_level = (int)td_rng_below(&r, 2);
    o.ring_capacity = 1024; /* small: the producer must wait now and then */
    td_store_t *s;
    char err[256];
    TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "open: %s", err);
    ref_t refs[NSYM + 1];
    memset(refs, 0, sizeof refs);
    size_t total = td_test_sanitized() ? 20000 : 120000;
    int64_t t[NSYM + 1];
    for (int i = 0; i <= NSYM; i++) t[i] = (1708560000LL + 86400 - 3600) * TD_NS_PER_SEC; /* crosses midnights */
    td_event_t batch[64];
    uint64_t seqs[64];
    uint64_t seqno[NSYM + 1] = { 0 };
    for (size_t done = 0; done < total;) {
        size_t n = 1 + td_rng_below(&r, 64);
        for (size_t i = 0; i < n; i++) {
            int k = (int)td_rng_below(&r, NSYM + 1);
            uint32_t sym = k == NSYM ? 0 : syms[k];
            batch[i] = rand_event(&r, sym, &t[k], false);
            /* spread over ~3 days */
            t[k] += (int64_t)td_rng_below(&r, 4000000000LL);
            seqs[i] = seqno[k] += td_rng_below(&r, 3);
            ref_add(&refs[k], &batch[i], seqs[i]);
        }
        TD_CHECK(td_store_append(s, batch, seqs, n) == TD_OK, "append");
        done += n;
        if (td_rng_below(&r, 200) == 0) td_store_sync(s);
    }
    TD_CHECK(td_store_sync(s) == TD_OK, "sync");
    size_t max = total + 10;
    td_store_tick_t *a = td_malloc(max * sizeof *a), *b = td_malloc(max * sizeof *b);
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k <= NSYM; k++) {
            uint32_t sym = k == NSYM ? 0 : syms[k];
            check_query(s, &refs[k], sym, INT64_MIN / 2, INT64_MAX / 2, 0, a, b, max);
            for (int q = 0; q < 20; q++) {
                const ref_t *rf = &refs[k];
                if (!rf->n) break;
                int64_t from = rf->t[td_rng_below(&r, rf->n)].ev.exch_ns, to = rf->t[td_rng_below(&r, rf->n)].ev.exch_ns;
                if (from > to) {
                    int64_t x = from;
                    from = to;
                    to = x;
                }
                if (q % 4 == 1) { /* exactly a UTC midnight */
                    from = (td_store_day_of_ns(from) + 1) * 86400 * TD_NS_PER_SEC;
                    to = from + (int64_t)td_rng_below(&r, 3600) * TD_NS_PER_SEC;
                }
                if (q % 4 == 2) to = from; /* a single instant */
                check_query(s, rf, sym, from, to, td_rng_below(&r, 3) ? 0 : 1 + td_rng_below(&r, 500), a, b, max);
            }
        }
        const td_store_stats_t *st = td_store_stats(s);
        TD_CHECK(atomic_load(&st->corrupt_blocks) == 0, "no corrupt blocks");
        /* pass 2: after a close (sealing) and a read-only reopen */
        td_store_close(s);
        td_store_options_t ro = o;
        ro.read_only = true;
        TD_CHECK(td_store_open(dir, &ro, &s, err, sizeof err) == TD_OK, "reopen: %s", err);
    }
    td_store_verify_report_t rep;
    TD_CHECK(td_store_verify(dir, &rep, NULL, NULL) == TD_OK, "verify");
    size_t appended = 0;
    for (int k = 0; k <= NSYM; k++) appended += refs[k].n;
    TD_CHECK(rep.events == appended, "verify counted %llu of %zu", (unsigned long long)rep.events, appended);
    td_store_close(s);
    for (int k = 0; k <= NSYM; k++) td_free(refs[k].t);
    td_free(a);
    td_free(b);
    td_test_rm_rf(dir);
}

static td_out_t candle_out(uint32_t sym, td_interval_t iv, int64_t time, int64_t px, uint64_t seq)
{
    td_out_t o;
    memset(&o, 0, sizeof o);
    o.type = TD_OUT_CANDLE;
    o.sym = sym;
    o.aux = (uint8_t)iv;
    o.seq = seq;
    o.u.candle.time = time;
    o.u.candle.open = o.u.candle.high = o.u.candle.low = o.u.candle.close = px;
    o.u.candle.volume = (td_vol_t)seq * 100;
    o.u.candle.trade_count = seq;
    return o;
}

static void test_candles_and_merge(void **state)
{
    (void)state;
    setup_names();
    td_rng_t r;
    td_rng_seed(&r, td_test_seed() ^ 2);
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    td_store_options_t o;
    td_store_options_default(&o);
    o.block_events = 1 + (uint32_t)td_rng_below(&r, 100);
    td_store_t *s;
    char err[256];
    TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "open: %s", err);
    /* 1m candles with gaps over 3 days, 1d candles over 2 years */
    enum { N = 3000 };
    static td_candle_t ref[N], got[N + 1], day_ref[800];
    int64_t t = 1708560000 - 7200;
    for (int i = 0; i < N; i++) {
        t += 60 * (1 + (int64_t)td_rng_below(&r, 3));
        td_out_t out = candle_out(syms[0], TD_IV_1M, t, 100000000 + i, (uint64_t)i + 1);
        ref[i] = out.u.candle;
        td_store_append_out(s, &out);
        if (i % 500 == 0) td_store_sync(s);
    }
    int64_t d = 1640995200; /* 2022-01-01 */
    for (int i = 0; i < 800; i++) {
        td_out_t out = candle_out(syms[1], TD_IV_1D, d + 86400LL * i, 5, (uint64_t)i + 1);
        day_ref[i] = out.u.candle;
        td_store_append_out(s, &out);
    }
    td_store_sync(s);
    for (int pass = 0; pass < 2; pass++) {
        for (int q = 0; q < 200; q++) {
            int i = (int)td_rng_below(&r, N), j = (int)td_rng_below(&r, N);
            if (i > j) {
                int x = i;
                i = j;
                j = x;
            }
            int64_t from = ref[i].time - (q % 2), to = ref[j].time + (q % 3 == 0 ? 59 : 0);
            size_t limit = q % 5 == 0 ? 1 + td_rng_below(&r, 100) : 0;
            int n = td_store_candles(s, syms[0], TD_IV_1M, from, to, limit, got, N);
            int want = j - i + 1;
            if (limit && (size_t)want > limit) want = (int)limit;
            TD_CHECK(n == want, "candles [%d, %d]: %d of %d", i, j, n, want);
            for (int k = 0; k < n; k++) TD_CHECK(memcmp(&got[k], &ref[i + k], sizeof got[k]) == 0, "candle %d", k);
            /* merge with a live candle at ref[j] (the engine's open candle): history before it, then it */
            td_candle_t live = ref[j];
            live.close += 1; /* the live one differs from anything stored */
            n = td_store_candles_merged(s, syms[0], TD_IV_1M, from, to, limit, &live, true, got, N + 1);
            want = j - i + 1;
            if (limit && (size_t)want > limit) want = (int)limit;
            TD_CHECK(n == want, "merged: %d of %d", n, want);
            for (int k = 0; k < n; k++) {
                const td_candle_t *w = (i + k == j) ? &live : &ref[i + k];
                TD_CHECK(memcmp(&got[k], w, sizeof got[k]) == 0, "merged candle %d of %d", k, n);
            }
        }
        int n = td_store_candles(s, syms[1], TD_IV_1D, d, d + 86400LL * 799, 0, got, N);
        TD_CHECK(n == 800, "1d candles across years: %d", n);
        for (int k = 0; k < n; k++) TD_CHECK(memcmp(&got[k], &day_ref[k], sizeof got[k]) == 0, "1d candle %d", k);
        td_store_close(s);
        TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "reopen: %s", err);
    }
    td_store_close(s);
    td_test_rm_rf(dir);
}

/* A candle closed a moment ago is in the merged answer before the writer flushed it: no hole. */
static void test_merge_unflushed(void **state)
{
    (void)state;
    setup_names();
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    td_store_options_t o;
    td_store_options_default(&o);
    o.fsync_ms = TD_STORE_FSYNC_OFF;
    o.flush_ms = 3600 * 1000; /* the writer will not flush during the test */
    td_store_t *s;
    char err[256];
    TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "open: %s", err);
    int64_t t0 = 1708612200;
    for (int i = 0; i < 5; i++) {
        td_out_t c = candle_out(syms[4], TD_IV_1M, t0 + 60 * i, 7 + i, (uint64_t)i + 1);
        td_store_append_out(s, &c);
        if (i == 2) td_store_sync(s); /* the first three reach the disk, the last two stay in memory */
    }
    td_candle_t live = candle_out(syms[4], TD_IV_1M, t0 + 300, 99, 9).u.candle;
    td_candle_t out[16];
    int n = td_store_candles_merged(s, syms[4], TD_IV_1M, t0, t0 + 1000, 0, &live, true, out, 16);
    TD_CHECK(n == 6, "merged %d candles, want 5 closed + live", n);
    for (int i = 0; i < 6; i++) TD_CHECK(out[i].time == t0 + 60 * i, "candle %d at %lld", i, (long long)out[i].time);
    TD_CHECK(out[5].open == 99, "the live candle last");
    n = td_store_candles_merged(s, syms[4], TD_IV_1M, t0, t0 + 1000, 4, &live, true, out, 16);
    TD_CHECK(n == 4 && out[3].time == t0 + 180, "limit 4: %d", n);
    /* ticks appended a moment ago become readable on request, without waiting for the flush period */
    td_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = TD_EV_TRADE;
    ev.sym = syms[4];
    ev.exch_ns = (t0 + 10) * TD_NS_PER_SEC;
    td_store_append(s, &ev, NULL, 1);
    TD_CHECK(td_store_make_visible(s, 10000) == TD_OK, "make visible");
    td_store_tick_t tk[4];
    TD_CHECK(query(s, syms[4], 0, INT64_MAX / 2, 0, tk, 4) == 1, "the fresh tick is readable");
    td_store_close(s);
    td_test_rm_rf(dir);
}

/* ---- the engine's trades (TD_SREC_TRADE) and the visible seq ---- */

static td_out_t trade_out(uint32_t sym, uint8_t exch, uint64_t seq, int64_t ns, int64_t px, int64_t qty)
{
    td_out_t o;
    memset(&o, 0, sizeof o);
    o.type = TD_OUT_TRADE;
    o.sym = sym;
    o.exch = exch;
    o.side = seq % 3 == 0 ? TD_ASK : TD_BID;
    o.aux = (uint8_t)(seq & 0x3);
    o.seq = seq;
    o.exch_ns = ns;
    o.recv_ns = ns + 1234;
    o.u.trade.price = px;
    o.u.trade.qty = qty;
    o.u.trade.trade_id = seq * 7 + 1;
    return o;
}

static void check_trade(const td_store_tick_t *t, const td_out_t *o)
{
    TD_CHECK(t->ev.type == TD_SREC_TRADE, "type %u", t->ev.type);
    TD_CHECK(t->seq == o->seq, "seq %llu, want %llu", (unsigned long long)t->seq, (unsigned long long)o->seq);
    TD_CHECK(t->ev.sym == o->sym && t->ev.exch == o->exch && t->ev.side == o->side && t->ev.flags == o->aux,
             "ids/side/flags of seq %llu", (unsigned long long)o->seq);
    TD_CHECK(t->ev.exch_ns == o->exch_ns && t->ev.recv_ns == o->recv_ns, "times of seq %llu", (unsigned long long)o->seq);
    TD_CHECK(t->ev.u.trade.price == o->u.trade.price && t->ev.u.trade.qty == o->u.trade.qty &&
                 t->ev.u.trade.trade_id == o->u.trade.trade_id && t->ev.src_seq == 0,
             "payload of seq %llu", (unsigned long long)o->seq);
}

/* Reads everything of sym matching mask. */
static size_t query_types(td_store_t *s, uint32_t sym, size_t limit, uint64_t mask, td_store_tick_t *out, size_t max)
{
    return query_mask(s, sym, 0, INT64_MAX / 2, limit, mask, out, max);
}

static void test_trades_and_visible_seq(void **state)
{
    (void)state;
    char dir[64];
    td_store_options_t o;
    begin(dir, sizeof dir, &o);
    o.fsync_ms = TD_STORE_FSYNC_OFF;
    o.flush_ms = 3600 * 1000; /* flushes only when asked: the visible seq moves only then */
    o.block_events = 64;      /* several blocks */
    td_store_t *s;
    char err[256];
    TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "open: %s", err);
    const uint32_t sym = syms[1], other = syms[2];
    TD_CHECK(td_store_visible_seq(s, sym) == 0, "nothing stored yet");
    TD_CHECK(td_store_visible_seq(s, TD_SYM_MAX + 1) == 0, "out of range");
    /* the stream the engine produces: event (seq before), trade, NBBO, ...; another symbol interleaved */
    enum { N = 500 };
    static td_out_t trades[N];
    int64_t t0 = 1708612200LL * TD_NS_PER_SEC;
    uint64_t seq = 100, oseq = 5000;
    for (int i = 0; i < N; i++) {
        td_event_t ev;
        memset(&ev, 0, sizeof ev);
        ev.type = TD_EV_ORDER_EXEC;
        ev.sym = sym;
        ev.exch = exchs[i % 3];
        ev.exch_ns = t0 + i * 1000;
        td_store_append(s, &ev, &seq, 1);
        trades[i] = trade_out(sym, exchs[i % 3], ++seq, ev.exch_ns, 1000000 + i, 100000000LL * (i % 7 + 1));
        td_store_append_out(s, &trades[i]);
        td_out_t nb;
        memset(&nb, 0, sizeof nb);
        nb.type = TD_OUT_NBBO;
        nb.sym = sym;
        nb.seq = ++seq;
        nb.exch_ns = ev.exch_ns;
        td_store_append_out(s, &nb);
        td_out_t ot = trade_out(other, exchs[0], ++oseq, ev.exch_ns, 5, 5);
        td_store_append_out(s, &ot);
        if (i == 199) {
            TD_CHECK(td_store_visible_seq(s, sym) == 0, "no flush yet: nothing visible");
            TD_CHECK(td_store_sync(s) == TD_OK, "sync");
            TD_CHECK(td_store_visible_seq(s, sym) == seq, "after sync: visible %llu, want %llu",
                     (unsigned long long)td_store_visible_seq(s, sym), (unsigned long long)seq);
            TD_CHECK(td_store_visible_seq(s, other) == oseq, "the other symbol's");
        }
    }
    uint64_t mid = td_store_visible_seq(s, sym);
    TD_CHECK(mid < seq, "the tail is not visible before it is flushed");
    TD_CHECK(td_store_make_visible(s, 10000) == TD_OK, "make visible");
    TD_CHECK(td_store_visible_seq(s, sym) == seq, "after make_visible: %llu, want %llu",
             (unsigned long long)td_store_visible_seq(s, sym), (unsigned long long)seq);
    /* every record of sym at or below the visible seq is readable now */
    static td_store_tick_t got[4 * N];
    size_t n = query_types(s, sym, 0, TD_STORE_ALL_TYPES, got, 4 * N);
    TD_CHECK(n == 3 * N, "all records: %zu", n);
    /* the type mask: exactly the trades, in order, with everything the engine said */
    n = query_types(s, sym, 0, TD_STORE_TYPE_BIT(TD_SREC_TRADE), got, 4 * N);
    TD_CHECK(n == N, "trades: %zu of %d", n, N);
    for (size_t i = 0; i < n; i++) check_trade(&got[i], &trades[i]);
    /* limit counts matching records only */
    n = query_types(s, sym, 7, TD_STORE_TYPE_BIT(TD_SREC_TRADE), got, 4 * N);
    TD_CHECK(n == 7 && got[6].seq == trades[6].seq, "limit 7: %zu", n);
    n = query_types(s, sym, 0, TD_STORE_TYPE_BIT(TD_SREC_TRADE) | TD_STORE_TYPE_BIT(TD_SREC_NBBO), got, 4 * N);
    TD_CHECK(n == 2 * N, "trades + NBBO: %zu", n);
    /* seq filter: (after_seq, max_seq] */
    td_store_tick_filter_t f = { TD_STORE_TYPE_BIT(TD_SREC_TRADE), trades[99].seq, trades[299].seq };
    td_store_cursor_t *c;
    TD_CHECK(td_store_ticks_open_filter(s, sym, 0, INT64_MAX / 2, 0, &f, &c) == TD_OK, "open filter");
    n = 0;
    int k;
    while ((k = td_store_ticks_next(c, got + n, 4 * N - n)) > 0) n += (size_t)k;
    td_store_ticks_close(c);
    TD_CHECK(n == 200 && got[0].seq == trades[100].seq && got[199].seq == trades[299].seq, "seq window: %zu", n);
    td_store_close(s);
    /* reopened: the trades are there and the visible seq is restored */
    o.read_only = true;
    TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "reopen: %s", err);
    TD_CHECK(td_store_visible_seq(s, sym) == seq, "restored visible %llu, want %llu",
             (unsigned long long)td_store_visible_seq(s, sym), (unsigned long long)seq);
    TD_CHECK(td_store_visible_seq(s, other) == oseq, "restored visible of the other symbol");
    n = query_types(s, sym, 0, TD_STORE_TYPE_BIT(TD_SREC_TRADE), got, 4 * N);
    TD_CHECK(n == N, "trades after reopen: %zu", n);
    for (size_t i = 0; i < n; i++) check_trade(&got[i], &trades[i]);
    td_store_close(s);
    td_test_rm_rf(dir);
}

/* ---- damage ---- */

static size_t list_tdb(const char *dir, char paths[][1024], size_t max)
{
    size_t n = 0;
    char sub[600];
    snprintf(sub, sizeof sub, "%s/ticks", dir);
    DIR *d = opendir(sub);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL && n < max) {
        size_t l = strlen(de->d_name);
        if (l > 4 && !strcmp(de->d_name + l - 4, ".tdb")) snprintf(paths[n++], 1024, "%s/%s", sub, de->d_name);
    }
    if (d) closedir(d);
    return n;
}

static void count_line(void *ctx, const char *line)
{
    (void)line;
    (*(int *)ctx)++;
}

/* got must be a subsequence of want (whole genuine records, in order). */
static void check_subsequence(const td_store_tick_t *want, size_t nw, const td_store_tick_t *got, size_t ng)
{
    size_t j = 0;
    for (size_t i = 0; i < ng; i++) {
        while (j < nw && !(tick_eq(&want[j].ev, &got[i].ev) && want[j].seq == got[i].seq)) j++;
        TD_CHECK(j < nw, "returned tick %zu of %zu is not a stored record in order", i, ng);
        j++;
    }
}

static void test_damage(void **state)
{
    (void)state;
    setup_names();
    td_rng_t r;
    td_rng_seed(&r, td_test_seed() ^ 3);
    int rounds = td_test_sanitized() ? 4 : 12;
    for (int round = 0; round < rounds; round++) {
        char dir[64];
        make_tmpdir(dir, sizeof dir);
        td_store_options_t o;
        td_store_options_default(&o);
        o.block_events = 50 + (uint32_t)td_rng_below(&r, 200);
        td_store_t *s;
        char err[256];
        TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "open: %s", err);
        ref_t ref = { 0 };
        int64_t t = 1708600000LL * TD_NS_PER_SEC;
        for (int i = 0; i < 6000; i++) {
            td_event_t ev = rand_event(&r, syms[2], &t, false);
            td_store_append(s, &ev, NULL, 1);
            ref_add(&ref, &ev, 0);
            if (i % 700 == 0) td_store_sync(s);
        }
        td_store_close(s); /* sealed: full blocks */
        /* reopen and append more in small batches, so there are many blocks */
        TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "open: %s", err);
        for (int i = 0; i < 2000; i++) {
            td_event_t ev = rand_event(&r, syms[2], &t, false);
            td_store_append(s, &ev, NULL, 1);
            ref_add(&ref, &ev, 0);
            if (i % 97 == 0) td_store_sync(s);
        }
        td_store_sync(s);
        td_store_close(s);

        char paths[8][1024];
        size_t np = list_tdb(dir, paths, 8);
        TD_CHECK(np >= 1, "partitions");
        const char *victim = paths[td_rng_below(&r, np)];
        struct stat st;
        stat(victim, &st);
        bool truncate_it = round % 3 == 2;
        FILE *f = fopen(victim, "r+b");
        if (truncate_it) {
            fclose(f);
            TD_CHECK(truncate(victim, (off_t)td_rng_below(&r, (uint64_t)st.st_size)) == 0, "truncate");
        } else {
            int flips = 1 + (int)td_rng_below(&r, 5);
            for (int k = 0; k < flips; k++) {
                long off = (long)td_rng_below(&r, (uint64_t)st.st_size);
                fseek(f, off, SEEK_SET);
                int c = fgetc(f);
                fseek(f, off, SEEK_SET);
                fputc(c ^ (int)(1 + td_rng_below(&r, 255)), f);
            }
            fclose(f);
        }
        int lines = 0;
        td_store_verify_report_t rep;
        int vrc = td_store_verify(dir, &rep, count_line, &lines);
        if (!truncate_it) TD_CHECK(vrc == TD_EPROTO && lines > 0, "verify missed the damage (rc %d)", vrc);

        /* read-only queries: only genuine records, in order */
        size_t max = ref.n + 10;
        td_store_tick_t *want = td_malloc(max * sizeof *want), *got = td_malloc(max * sizeof *got);
        size_t nw = expect(&ref, INT64_MIN / 2, INT64_MAX / 2, 0, want);
        td_store_options_t ro = o;
        ro.read_only = true;
        TD_CHECK(td_store_open(dir, &ro, &s, err, sizeof err) == TD_OK, "open ro: %s", err);
        size_t ng = query(s, syms[2], INT64_MIN / 2, INT64_MAX / 2, 0, got, max);
        check_subsequence(want, nw, got, ng);
        if (!truncate_it) TD_CHECK(ng < nw || atomic_load(&td_store_stats(s)->corrupt_blocks) == 0, "accounting");
        td_store_close(s);

        /* a writer open recovers: afterwards the files verify clean (except skipped middle damage) and a
         * truncation leaves a prefix */
        TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "open rw: %s", err);
        size_t ng2 = query(s, syms[2], INT64_MIN / 2, INT64_MAX / 2, 0, got, max);
        check_subsequence(want, nw, got, ng2);
        if (truncate_it) {
            /* per day, the stored records must be a prefix of that day's records */
            TD_CHECK(ng2 <= nw, "more than written");
        }
        td_store_close(s);
        td_free(want);
        td_free(got);
        td_free(ref.t);
        td_test_rm_rf(dir);
    }
}

/* ---- restart state ---- */

typedef struct fake_engine {
    td_sym_snap_t snap;
} fake_engine_t;

static bool fake_state(void *ctx, uint32_t sym, td_sym_snap_t *out)
{
    fake_engine_t *e = ctx;
    (void)sym;
    *out = e->snap;
    return true;
}

static void test_restart_state(void **state)
{
    (void)state;
    setup_names();
    char dir[64];
    make_tmpdir(dir, sizeof dir);
    fake_engine_t fe;
    memset(&fe, 0, sizeof fe);
    td_store_options_t o;
    td_store_options_default(&o);
    o.state_fn = fake_state;
    o.state_ctx = &fe;
    td_store_t *s;
    char err[256];
    TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "open: %s", err);
    /* the engine closed the 1m candle at 60 (stored) but the sampled state still shows it open (stale), and
     * the 1h candle at 0 is really open */
    fe.snap.seq = 500;
    fe.snap.last_px = 12345;
    fe.snap.day_high = 13000;
    fe.snap.candle_mask = (1u << TD_IV_1M) | (1u << TD_IV_1H);
    fe.snap.candles[TD_IV_1M].time = 1708560060;
    fe.snap.candles[TD_IV_1H].time = 1708560000;
    td_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = TD_EV_TRADE;
    ev.sym = syms[3];
    ev.exch_ns = 1708560100LL * TD_NS_PER_SEC;
    uint64_t seq = 700; /* stored blocks are ahead of the sampled state */
    td_store_append(s, &ev, &seq, 1);
    td_out_t c = candle_out(syms[3], TD_IV_1M, 1708560060, 5, 699);
    td_store_append_out(s, &c);
    td_store_sync(s);
    td_store_close(s);

    o.state_fn = NULL;
    TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "reopen: %s", err);
    td_sym_snap_t got;
    TD_CHECK(td_store_restore_state(s, syms[3], &got), "state known");
    TD_CHECK(got.seq == 700 + TD_STORE_SEQ_RESTART_GAP, "seq %llu", (unsigned long long)got.seq);
    TD_CHECK(got.last_px == 12345 && got.day_high == 13000, "prices");
    TD_CHECK(!(got.candle_mask & (1u << TD_IV_1M)), "the stored-closed 1m candle must not reopen");
    TD_CHECK(got.candle_mask & (1u << TD_IV_1H), "the open 1h candle continues");
    TD_CHECK(!td_store_restore_state(s, syms[4], &got), "unknown symbol");
    td_store_close(s);
    td_test_rm_rf(dir);
}

static void test_retention(void **state)
{
    (void)state;
    setup_names();
    char dir[64], cold[80];
    make_tmpdir(dir, sizeof dir);
    snprintf(cold, sizeof cold, "%s/cold", dir);
    td_store_options_t o;
    td_store_options_default(&o);
    o.tick_ttl_days = 10;
    o.retention_every_s = -1; /* the data is from 2023: only the explicit call below, with its "now" */
    o.candle_ttl_days[TD_IV_1M] = 5;
    o.cold_after_days = 3;
    snprintf(o.cold_dir, sizeof o.cold_dir, "%s", cold);
    td_store_t *s;
    char err[256];
    TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "open: %s", err);
    int64_t day0 = 19700; /* days since the epoch */
    for (int d = 0; d < 20; d++) {
        td_event_t ev;
        memset(&ev, 0, sizeof ev);
        ev.type = TD_EV_TRADE;
        ev.sym = syms[0];
        ev.exch_ns = (day0 + d) * 86400 * TD_NS_PER_SEC + 1000;
        td_store_append(s, &ev, NULL, 1);
        td_out_t c = candle_out(syms[0], TD_IV_1M, (day0 + d) * 86400, 5, (uint64_t)d + 1);
        td_store_append_out(s, &c);
    }
    td_store_sync(s);
    int64_t now = (day0 + 19) * 86400 + 100;
    int done = td_store_retention(s, now);
    TD_CHECK(done > 0, "retention did something");
    /* ticks: days older than 10 are gone; 4..10 days old are cold but still found */
    td_store_tick_t out[64];
    size_t n = query(s, syms[0], INT64_MIN / 2, INT64_MAX / 2, 0, out, 64);
    TD_CHECK(n == 11, "ticks kept: %zu", n);
    TD_CHECK(out[0].ev.exch_ns / TD_NS_PER_SEC / 86400 == day0 + 9, "oldest kept day");
    td_candle_t cs[64];
    int nc = td_store_candles(s, syms[0], TD_IV_1M, 0, INT64_MAX / 4, 0, cs, 64);
    TD_CHECK(nc == 6, "1m candles kept: %d", nc);
    td_store_close(s);
    td_test_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_roundtrip), cmocka_unit_test(test_store_roundtrip),
        cmocka_unit_test(test_candles_and_merge), cmocka_unit_test(test_merge_unflushed), cmocka_unit_test(test_damage),
        cmocka_unit_test(test_trades_and_visible_seq),
        cmocka_unit_test(test_restart_state), cmocka_unit_test(test_retention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
