/* test_api.c: the API's pure pieces: the client-message parser (accepted forms, every error code), the JSON
 * and MessagePack encoders (exact decimals, the compact schema decoded back, >= 3x smaller than JSON), the
 * REST route and query parsers, and the recent-history rings against a naive reference on a seeded random
 * stream, plus a concurrent reader that must never see a torn record. */
#include "testutil.h"

#include <pthread.h>
#include <string.h>

#include "api/cmsg.h"
#include "api/encode.h"
#include "api/jbuf.h"
#include "api/recent.h"
#include "api/rest.h"
#include "core/common.h"
#include "core/rng.h"
#include "core/symbols.h"

/* ---- client messages ---- */

static int parse(const char *s, td_cmsg_t *m, const char **code)
{
    char err[160];
    return td_cmsg_parse(s, strlen(s), m, code, err, sizeof err);
}

static void test_cmsg_ok(void **state)
{
    (void)state;
    static td_cmsg_t m;
    const char *code;
    assert_int_equal(parse("{\"action\":\"subscribe\",\"symbols\":[\"AAPL\",\"TSLA\"],\"channels\":[\"tick\",\"nbbo\"]}", &m, &code), TD_OK);
    assert_int_equal(m.action, TD_CMSG_SUBSCRIBE);
    assert_int_equal(m.nsymbols, 2);
    assert_string_equal(m.symbols[1], "TSLA");
    assert_true(m.has_channels);
    assert_int_equal(m.nchannels, 2);
    assert_string_equal(m.channels[1], "nbbo");
    assert_int_equal(parse(" { \"symbols\" : \"aapl\" , \"action\" : \"unsubscribe\" } ", &m, &code), TD_OK);
    assert_int_equal(m.action, TD_CMSG_UNSUBSCRIBE);
    assert_string_equal(m.symbols[0], "aapl");
    assert_false(m.has_channels);
    assert_int_equal(parse("{\"action\":\"ping\",\"id\":\"r\\u00e9\\ud83d\\ude00\",\"x\":{\"a\":[1,-2.5e3,true,null,\"\\n\"]}}", &m, &code), TD_OK);
    assert_int_equal(m.action, TD_CMSG_PING);
    assert_string_equal(m.id, "\"r\\u00e9\\ud83d\\ude00\"");
    assert_int_equal(parse("{\"action\":\"subscribe\",\"symbols\":[\"A\\u0041PL\"],\"tier\":\"conflated\",\"interval_ms\":250,\"batch_ms\":0,\"id\":12}", &m, &code), TD_OK);
    assert_string_equal(m.symbols[0], "AAPL");
    assert_string_equal(m.tier, "conflated");
    assert_int_equal(m.interval_ms, 250);
    assert_int_equal(m.batch_ms, 0);
    assert_string_equal(m.id, "12");
    assert_int_equal(parse("{\"action\":\"frob\"}", &m, &code), TD_OK);
    assert_int_equal(m.action, TD_CMSG_UNKNOWN);
    assert_string_equal(m.action_name, "frob");
}

static void test_cmsg_errors(void **state)
{
    (void)state;
    static td_cmsg_t m;
    static const struct { const char *in, *code; } cases[] = {
        { "", "bad_json" }, { "[]", "bad_json" }, { "{", "bad_json" }, { "{\"action\"", "bad_json" },
        { "{\"action\":\"ping\"", "bad_json" }, { "{\"action\":\"ping\",}", "bad_json" },
        { "{\"action\":\"ping\"} x", "bad_json" }, { "{'action':'ping'}", "bad_json" },
        { "{\"action\":\"p\\x\"}", "bad_json" }, { "{\"action\":\"\\ud800\"}", "bad_json" },
        { "{\"action\":\"ping\",\"x\":01}", "bad_json" }, { "{\"action\":\"ping\",\"x\":tru}", "bad_json" },
        { "{\"action\":\"ping\",\"x\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}", "bad_json" },
        { "{\"action\":\"a\tb\"}", "bad_json" },
        { "{}", "bad_request" }, { "{\"action\":1}", "bad_request" },
        { "{\"action\":\"subscribe\",\"symbols\":[1]}", "bad_request" },
        { "{\"action\":\"subscribe\",\"symbols\":{}}", "bad_request" },
        { "{\"action\":\"subscribe\",\"symbols\":[\"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\"]}", "bad_request" },
        { "{\"action\":\"subscribe\",\"interval_ms\":-1}", "bad_request" },
        { "{\"action\":\"subscribe\",\"interval_ms\":1.5}", "bad_request" },
        { "{\"action\":\"subscribe\",\"batch_ms\":99999999999999999999}", "bad_request" },
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(cases); i++) {
        const char *code = NULL;
        int rc = parse(cases[i].in, &m, &code);
        TD_CHECK(rc == TD_EPROTO && code && !strcmp(code, cases[i].code), "case %zu %s: rc %d code %s", i,
                 cases[i].in, rc, code ? code : "(null)");
    }
    /* too many symbols */
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof big, "{\"action\":\"subscribe\",\"symbols\":[");
    for (int i = 0; i <= TD_CMSG_MAX_SYMBOLS; i++) n += (size_t)snprintf(big + n, sizeof big - n, "%s\"S%d\"", i ? "," : "", i);
    snprintf(big + n, sizeof big - n, "]}");
    const char *code;
    assert_int_equal(parse(big, &m, &code), TD_EPROTO);
    assert_string_equal(code, "too_many_subscriptions");
}

/* ---- encoders ---- */

static void test_json_exact(void **state)
{
    (void)state;
    uint32_t sym = td_sym_intern("AAPL", 4);
    uint8_t ex = td_exch_intern("NASDAQ", 6);
    td_msg_trade_t m = { .sym = sym, .price = 18542000000, .qty = 120000000000, .bid = 18541000000,
                         .ask = 18543000000, .exch = ex, .side = TD_BID, .exch_ns = 1708632060123456789,
                         .recv_ns = 1708632060123999999, .seq = 918273, .trade_id = 5 };
    td_jb_t b;
    td_jb_init(&b, 4096);
    td_enc_tick(&b, TD_ENC_JSON, &m, 0);
    assert_false(b.err);
    td_jb_ch(&b, '\0');
    assert_string_equal(b.p, "{\"type\":\"tick\",\"symbol\":\"AAPL\",\"price\":185.42,\"bid\":185.41,\"ask\":185.43,"
                             "\"volume\":1200,\"exchange\":\"NASDAQ\",\"timestamp\":1708632060123,\"seq\":918273,"
                             "\"recv_ns\":1708632060123999999}");
    td_jb_reset(&b);
    td_enc_error(&b, TD_ENC_JSON, "bad_json", "quote \" and \\ and \x01", "\"x\"");
    td_jb_ch(&b, '\0');
    assert_string_equal(b.p, "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"quote \\\" and \\\\ and \\u0001\",\"id\":\"x\"}");
    td_jb_free(&b);
}

/* decodes the tick array the compact schema defines */
static size_t mp_int(const uint8_t *p, int64_t *v)
{
    if (p[0] <= 0x7f) { *v = p[0]; return 1; }
    if (p[0] >= 0xe0) { *v = (int8_t)p[0]; return 1; }
    int n = p[0] == 0xcc || p[0] == 0xd0 ? 1 : p[0] == 0xcd || p[0] == 0xd1 ? 2 : p[0] == 0xce || p[0] == 0xd2 ? 4 : 8;
    uint64_t u = 0;
    for (int i = 0; i < n; i++) u = u << 8 | p[1 + i];
    bool sgn = p[0] >= 0xd0;
    if (sgn && n < 8 && (u >> (8 * n - 1))) u |= ~0ull << (8 * n);
    *v = (int64_t)u;
    return (size_t)n + 1;
}

static void test_msgpack_tick(void **state)
{
    (void)state;
    uint32_t sym = td_sym_intern("AAPL", 4);
    uint8_t ex = td_exch_intern("NASDAQ", 6);
    td_msg_trade_t m = { .sym = sym, .price = 18542000000, .qty = 120000000000, .bid = 18541000000,
                         .ask = 18543500000, .exch = ex, .side = TD_BID, .exch_ns = 1708632060123456789,
                         .recv_ns = 1708632060123999999, .seq = 918273, .trade_id = 5 };
    td_jb_t j, b;
    td_jb_init(&j, 4096);
    td_jb_init(&b, 4096);
    td_enc_tick(&j, TD_ENC_JSON, &m, 0);
    td_enc_tick(&b, TD_ENC_MSGPACK, &m, 0);
    const uint8_t *p = (const uint8_t *)b.p;
    assert_int_equal(p[0], 0x9d); /* fixarray 13 */
    assert_int_equal(p[1], 1);    /* tick */
    assert_int_equal(p[2], 0xa4);
    assert_memory_equal(p + 3, "AAPL", 4);
    size_t i = 7;
    int64_t seq, px, bid, ask, pexp, vol, qexp, ts, rd;
    i += mp_int(p + i, &seq);
    i += mp_int(p + i, &px);
    i += mp_int(p + i, &bid);
    i += mp_int(p + i, &ask);
    i += mp_int(p + i, &pexp);
    i += mp_int(p + i, &vol);
    i += mp_int(p + i, &qexp);
    assert_int_equal(seq, 918273);
    assert_int_equal(pexp, -3); /* 185.435 needs 3 decimals: one exponent for the three prices */
    assert_int_equal(px, 185420);
    assert_int_equal(bid, 185410);
    assert_int_equal(ask, 185435);
    assert_int_equal(vol, 1200);
    assert_int_equal(qexp, 0);
    assert_int_equal(p[i], 0xa6);
    assert_memory_equal(p + i + 1, "NASDAQ", 6);
    i += 7;
    i += mp_int(p + i, &ts);
    i += mp_int(p + i, &rd);
    assert_int_equal(ts, 1708632060123);
    assert_int_equal(ts * 1000000 + rd, 1708632060123999999);
    assert_int_equal(p[i], 0); /* flags */
    assert_int_equal(i + 1, b.len);
    TD_CHECK(j.len >= 3 * b.len, "JSON %zu bytes, msgpack %zu: less than 3x", j.len, b.len);
    print_message("tick: JSON %zu B, msgpack %zu B (%.2fx)\n", j.len, b.len, (double)j.len / (double)b.len);
    td_jb_free(&j);
    td_jb_free(&b);
}

static void test_msgpack_ints(void **state)
{
    (void)state;
    td_jb_t b;
    td_jb_init(&b, 1024);
    int64_t vals[] = { 0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295LL, 4294967296LL, INT64_MAX,
                       -1, -32, -33, -128, -129, -32768, -32769, INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN };
    size_t sizes[] = { 1, 1, 1, 2, 2, 3, 3, 5, 5, 9, 9, 1, 1, 2, 2, 3, 3, 5, 5, 9, 9 };
    for (size_t k = 0; k < TD_ARRAY_LEN(vals); k++) {
        td_jb_reset(&b);
        td_mp_int(&b, vals[k]);
        TD_CHECK(b.len == sizes[k], "%lld: %zu bytes, want %zu", (long long)vals[k], b.len, sizes[k]);
        int64_t back;
        size_t n = mp_int((const uint8_t *)b.p, &back);
        TD_CHECK(n == b.len && back == vals[k], "%lld decoded as %lld", (long long)vals[k], (long long)back);
    }
    td_jb_free(&b);
}

static void test_jbuf_cap(void **state)
{
    (void)state;
    td_jb_t b;
    td_jb_init(&b, 300);
    for (int i = 0; i < 100; i++) td_jb_lit(&b, "0123456789");
    assert_int_equal(b.err, TD_ENOBUFS);
    assert_true(b.len <= 300);
    td_jb_reset(&b);
    assert_int_equal(b.err, 0);
    td_jb_free(&b);
}

/* ---- REST parsing ---- */

static void test_rest_route(void **state)
{
    (void)state;
    char sym[TD_SYM_NAME_MAX + 1];
    bool bad;
#define R(path) td_rest_route((td_slice_t){ path, strlen(path) }, sym, &bad)
    assert_int_equal(R("/v1/prices/aapl"), TD_ROUTE_PRICE);
    assert_string_equal(sym, "aapl");
    assert_int_equal(R("/v1/prices/BTC%2FUSD/candles"), TD_ROUTE_CANDLES);
    assert_string_equal(sym, "BTC/USD");
    assert_int_equal(R("/v1/prices/AAPL/book"), TD_ROUTE_BOOK);
    assert_int_equal(R("/v1/prices/AAPL/nbbo"), TD_ROUTE_NBBO);
    assert_int_equal(R("/v1/prices/AAPL/ticks"), TD_ROUTE_TICKS);
    assert_int_equal(R("/v1/prices/AAPL/other"), TD_ROUTE_NONE);
    assert_int_equal(R("/v1/prices"), TD_ROUTE_STREAM);
    assert_int_equal(R("/v1/symbols"), TD_ROUTE_SYMBOLS);
    assert_int_equal(R("/v1/alerts/abc"), TD_ROUTE_ALERTS);
    assert_int_equal(R("/v1/alertsx"), TD_ROUTE_NONE);
    assert_int_equal(R("/healthz"), TD_ROUTE_HEALTHZ);
    assert_int_equal(R("/metrics"), TD_ROUTE_METRICS);
    R("/v1/prices/A%20B");
    assert_true(bad);
    R("/v1/prices/%ZZ");
    assert_true(bad);
#undef R
}

static void test_rest_query(void **state)
{
    (void)state;
    td_rest_query_t q;
    char err[160];
#define Q(s) td_rest_parse_query((td_slice_t){ s, strlen(s) }, &q, err, sizeof err)
    assert_int_equal(Q("interval=5m&from=1708600000&to=1708632000&limit=10&depth=7&exchange=NYSE&zz=1"), TD_OK);
    assert_true(q.has_interval && q.interval == TD_IV_5M);
    assert_int_equal(q.from, 1708600000);
    assert_int_equal(q.to, 1708632000);
    assert_int_equal(q.limit, 10);
    assert_int_equal(q.depth, 7);
    assert_string_equal(q.exchange, "NYSE");
    assert_int_equal(Q("from=-5&from_ms=17&to_ms=18"), TD_OK);
    assert_int_equal(q.from, -5);
    assert_int_equal(q.to_ms, 18);
    assert_false(q.has_after_seq);
    assert_int_equal(Q("after_seq=9223372036854775807"), TD_OK);
    assert_true(q.has_after_seq && q.after_seq == (uint64_t)INT64_MAX);
    assert_int_equal(Q("after_seq=0&after_seq=5"), TD_OK); /* the first one counts, as for every key */
    assert_true(q.after_seq == 0);
    const char *bad[] = { "interval=2m", "from=x", "from=", "to=1e5", "limit=0", "limit=10001", "depth=0",
                          "depth=21", "exchange=", "exchange=ABCDEFGHIJKLMNOPQ", "from=99999999999999999999",
                          "from_ms=1.5", "limit=%41", "after_seq=-1", "after_seq=", "after_seq=1x",
                          "after_seq=9223372036854775808", "after_seq=18446744073709551615" };
    for (size_t i = 0; i < TD_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        TD_CHECK(Q(bad[i]) == TD_EPROTO && err[0], "%s accepted", bad[i]);
    }
#undef Q
}

/* ---- recent rings ---- */

static void test_recent_reference(void **state)
{
    (void)state;
    uint64_t seed = td_test_seed();
    td_rng_t rng;
    td_rng_seed(&rng, seed);
    td_recent_t *r = td_recent_create();
    uint32_t sym = td_sym_intern("REFT", 4);
    enum { N = 3 * TD_RECENT_TICKS };
    static td_recent_tick_t all[N];
    static td_recent_tick_t out[TD_REST_MAX_TICKS];
    int64_t t = 1000;
    for (int i = 0; i < N; i++) {
        td_out_t o;
        memset(&o, 0, sizeof o);
        o.type = TD_OUT_TRADE;
        o.sym = sym;
        o.seq = (uint64_t)i + 1;
        t += (int64_t)(td_rng_next(&rng) % 3); /* equal times happen */
        o.exch_ns = t;
        o.u.trade.price = (int64_t)(td_rng_next(&rng) % 100000) + 1;
        o.u.trade.qty = 1;
        td_recent_add(r, &o);
        all[i].exch_ns = t;
        all[i].seq = o.seq;
        if (i % 97 == 0 || i == N - 1) {
            /* the reference: the last TD_RECENT_TICKS records, filtered */
            int lo = i + 1 > TD_RECENT_TICKS ? i + 1 - TD_RECENT_TICKS : 0;
            int64_t from = all[lo].exch_ns + (int64_t)(td_rng_next(&rng) % 50);
            int64_t to = from + (int64_t)(td_rng_next(&rng) % 4000);
            size_t max = 1 + td_rng_next(&rng) % 3000;
            bool complete;
            size_t n = td_recent_ticks(r, sym, from, to, out, max, &complete);
            size_t k = 0;
            for (int j = lo; j <= i && k < max; j++) {
                if (all[j].exch_ns < from) continue;
                if (all[j].exch_ns > to) break;
                TD_CHECK(k < n && out[k].seq == all[j].seq, "step %d: entry %zu: seq %llu want %llu", i, k,
                         k < n ? (unsigned long long)out[k].seq : 0ull, (unsigned long long)all[j].seq);
                k++;
            }
            TD_CHECK(k == n, "step %d: %zu entries, reference %zu", i, n, k);
        }
    }
    bool complete;
    td_recent_ticks(r, sym, 0, INT64_MAX, out, 10, &complete);
    assert_false(complete); /* the oldest were overwritten */
    td_recent_destroy(r);
}

typedef struct race {
    td_recent_t *r;
    uint32_t sym;
    _Atomic int done;
    int bad;
} race_t;

static void *race_reader(void *arg)
{
    race_t *x = arg;
    static td_recent_tick_t out[512];
    while (!atomic_load(&x->done)) {
        bool complete;
        size_t n = td_recent_ticks(x->r, x->sym, INT64_MIN, INT64_MAX, out, 512, &complete);
        for (size_t i = 0; i < n; i++) {
            /* every field was written from the seq: a torn record breaks the relation */
            const td_recent_tick_t *t = &out[i];
            if (t->exch_ns != (int64_t)t->seq * 10 || t->price != (int64_t)t->seq * 7 || t->qty != (int64_t)t->seq) {
                if (!x->bad) fprintf(stderr, "torn: seq %llu ns %lld px %lld qty %lld (entry %zu of %zu)\n", (unsigned long long)t->seq, (long long)t->exch_ns, (long long)t->price, (long long)t->qty, i, n);
                x->bad++;
            }
            if (i && t->seq != out[i - 1].seq + 1) {
                if (!x->bad) fprintf(stderr, "gap: %llu after %llu (entry %zu of %zu)\n", (unsigned long long)t->seq, (unsigned long long)out[i - 1].seq, i, n);
                x->bad++;
            }
        }
    }
    return NULL;
}

static void test_recent_concurrent(void **state)
{
    (void)state;
    race_t x = { .r = td_recent_create(), .sym = td_sym_intern("RACE", 4) };
    pthread_t th;
    pthread_create(&th, NULL, race_reader, &x);
    int n = td_test_sanitized() ? 200000 : 2000000;
    for (int i = 1; i <= n; i++) {
        td_out_t o;
        memset(&o, 0, sizeof o);
        o.type = TD_OUT_TRADE;
        o.sym = x.sym;
        o.seq = (uint64_t)i;
        o.exch_ns = (int64_t)i * 10;
        o.u.trade.price = (int64_t)i * 7;
        o.u.trade.qty = i;
        td_recent_add(x.r, &o);
    }
    atomic_store(&x.done, 1);
    pthread_join(th, NULL);
    assert_int_equal(x.bad, 0);
    td_recent_destroy(x.r);
}

/* ---- engine book snapshots (the book channel's and /book's source) ---- */

typedef struct outs {
    td_out_t rec[256];
    int n;
} outs_t;

static void collect_out(void *ctx, const td_out_t *o)
{
    outs_t *c = ctx;
    if (c->n < 256) c->rec[c->n++] = *o;
}

static void level(td_engine_t *e, uint32_t sym, uint8_t exch, int side, int64_t px, int64_t qty)
{
    td_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = TD_EV_LEVEL_SET;
    ev.sym = sym;
    ev.exch = exch;
    ev.side = (uint8_t)side;
    ev.exch_ns = 1700000000000000000LL;
    ev.u.level.price = px;
    ev.u.level.qty = qty;
    td_engine_apply(e, &ev);
}

static void test_engine_book_snapshots(void **state)
{
    (void)state;
    static outs_t c;
    c.n = 0;
    td_engine_config_t cfg = { .emit = collect_out, .emit_ctx = &c };
    td_engine_t *e = td_engine_create(&cfg);
    uint32_t sym = td_sym_intern("BOOKT", 5);
    uint8_t nyse = td_exch_intern("NYSE", 4), arca = td_exch_intern("ARCA", 4);
    td_engine_want_book(e, sym, 60000); /* watched: the 10 ms rate applies */
    level(e, sym, nyse, TD_BID, 10000000000, 500);
    level(e, sym, nyse, TD_BID, 9900000000, 100);
    level(e, sym, arca, TD_BID, 10000000000, 700);
    level(e, sym, arca, TD_ASK, 10100000000, 300);
    td_engine_flush(e);
    td_book_snap_t b;
    assert_true(td_engine_book(e, sym, 0, &b));
    assert_int_equal(b.nbids, 3);
    assert_int_equal(b.nasks, 1);
    assert_int_equal(b.bids[0].price, 10000000000);
    assert_int_equal(b.bids[0].exch, arca); /* equal price: larger quantity first */
    assert_int_equal(b.bids[1].exch, nyse);
    assert_int_equal(b.bids[2].price, 9900000000);
    const td_out_t *last = &c.rec[c.n - 1];
    assert_int_equal(last->type, TD_OUT_BOOK);
    assert_int_equal(last->seq, b.seq);
    td_sym_snap_t snap;
    assert_true(td_engine_snapshot(e, sym, &snap));
    assert_int_equal(snap.seq, b.seq); /* the symbol snapshot includes the BOOK record's seq */
    assert_true(td_engine_book(e, sym, nyse, &b));
    assert_int_equal(b.exch, nyse);
    assert_int_equal(b.nbids, 2);
    assert_int_equal(b.nasks, 0);
    assert_false(td_engine_book(e, sym, td_exch_intern("BATS", 4), &b));
    /* a change within TD_BOOK_PERIOD_MS waits, then is published by a later flush */
    int before = c.n;
    level(e, sym, nyse, TD_ASK, 10200000000, 50);
    td_engine_flush(e);
    assert_true(td_engine_book(e, sym, nyse, &b));
    bool published_now = b.nasks == 1;
    struct timespec ts = { 0, (TD_BOOK_PERIOD_MS + 2) * 1000000L };
    nanosleep(&ts, NULL);
    td_engine_flush(e);
    assert_true(td_engine_book(e, sym, nyse, &b));
    assert_int_equal(b.nasks, 1);
    assert_int_equal(b.asks[0].qty, 50);
    int books = 0;
    for (int i = before; i < c.n; i++) books += c.rec[i].type == TD_OUT_BOOK;
    TD_CHECK(books == 1, "%d BOOK records for one rate-limited change (published at once: %d)", books, published_now);

    /* an unwatched symbol: its first book is published, a later change waits for the idle period */
    uint32_t cold = td_sym_intern("BOOKC", 5);
    level(e, cold, nyse, TD_BID, 10000000000, 10);
    td_engine_flush(e);
    assert_true(td_engine_book(e, cold, 0, &b));
    assert_int_equal(b.nbids, 1);
    level(e, cold, nyse, TD_ASK, 10100000000, 20);
    nanosleep(&ts, NULL);
    td_engine_flush(e);
    assert_true(td_engine_book(e, cold, 0, &b));
    assert_int_equal(b.nasks, 0); /* not yet: TD_BOOK_IDLE_PERIOD_MS */
    td_engine_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmsg_ok),          cmocka_unit_test(test_cmsg_errors),
        cmocka_unit_test(test_json_exact),       cmocka_unit_test(test_msgpack_tick),
        cmocka_unit_test(test_msgpack_ints),     cmocka_unit_test(test_jbuf_cap),
        cmocka_unit_test(test_rest_route),       cmocka_unit_test(test_rest_query),
        cmocka_unit_test(test_recent_reference), cmocka_unit_test(test_recent_concurrent),
        cmocka_unit_test(test_engine_book_snapshots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
