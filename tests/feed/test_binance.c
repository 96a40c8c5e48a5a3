/* test_binance.c: JSON helpers, Binance message parsing, the diff-depth sync state machine (synthetic and
 * on the two recordings), and gap injection with a repair by a later snapshot. */
#include "testutil.h"
#include "feed_testutil.h"

#include <string.h>

#include "core/common.h"
#include "core/decimal.h"
#include "core/event.h"
#include "core/rng.h"
#include "core/symbols.h"
#include "feed/binance.h"
#include "feed/json.h"
#include "feed/recording.h"

#define PX(s) dec(s)


/* ---- JSON helpers ---- */
static void test_json_helpers(void **state)
{
    (void)state;
    td_json_t j;
    td_json_init(&j, 4, 1000); /* tiny start: exercises the grow-and-retry path */
    const char *txt = "{\"a\":[1,2,{\"x\":\"y\"}],\"s\":\"A\\u0042\\n\\\"\",\"n\":-12,\"u\":\"18446744073709551615\","
                      "\"big\":18446744073709551616,\"b\":true,\"d\":\"0.00000001\",\"e\":\"1e-9\"}  \n";
    assert_int_equal(td_json_parse(&j, txt, strlen(txt)), TD_OK);
    int a = td_json_find(&j, 0, "a");
    assert_true(td_json_is(&j, a, TD_JSON_ARRAY));
    int e1 = td_json_first_elem(&j, a), e2 = td_json_next_elem(&j, a, e1), e3 = td_json_next_elem(&j, a, e2);
    assert_true(e3 > 0 && td_json_is(&j, e3, TD_JSON_OBJECT));
    assert_int_equal(td_json_next_elem(&j, a, e3), -1);
    char buf[16];
    assert_int_equal(td_json_str_copy(&j, td_json_find(&j, 0, "s"), buf, sizeof buf), 4);
    assert_string_equal(buf, "AB\n\"");
    assert_int_equal(td_json_str_copy(&j, td_json_find(&j, 0, "s"), buf, 4), TD_ENOBUFS);
    int64_t i64;
    uint64_t u64;
    bool b;
    assert_int_equal(td_json_i64(&j, td_json_find(&j, 0, "n"), &i64), TD_OK);
    assert_int_equal(i64, -12);
    assert_int_equal(td_json_u64(&j, td_json_find(&j, 0, "n"), &u64), TD_EPROTO);
    assert_int_equal(td_json_u64(&j, td_json_find(&j, 0, "u"), &u64), TD_OK);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(td_json_u64(&j, td_json_find(&j, 0, "big"), &u64), TD_ERANGE);
    assert_int_equal(td_json_bool(&j, td_json_find(&j, 0, "b"), &b), TD_OK);
    assert_true(b);
    assert_int_equal(td_json_dec(&j, td_json_find(&j, 0, "d"), &i64), TD_OK);
    assert_int_equal(i64, 1);
    assert_int_equal(td_json_dec(&j, td_json_find(&j, 0, "e"), &i64), TD_ERANGE);
    assert_int_equal(td_json_find(&j, 0, "x"), -1); /* not a key of the root */
    assert_int_equal(td_json_find(&j, a, "x"), -1); /* not an object */

    const char *bad[] = { "", "{", "{\"a\":1", "{\"a\":1}}", "{\"a\":1} x", "[1,2", "{\"a\" 1}", "{\"a\":tru}",
                          "{\"a\":\"\\q\"}", "{} {}", "\"unterminated" };
    for (size_t i = 0; i < TD_ARRAY_LEN(bad); i++) {
        int rc = td_json_parse(&j, bad[i], strlen(bad[i]));
        if (rc == TD_OK) fail_msg("parse accepted \"%s\"", bad[i]);
    }
    /* token cap */
    td_json_t small;
    td_json_init(&small, 16, 16);
    const char *many = "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]";
    assert_int_equal(td_json_parse(&small, many, strlen(many)), TD_ENOBUFS);
    td_json_free(&small);

    char out[8];
    assert_int_equal(td_json_unescape("\\ud83d\\ude00", 12, out, sizeof out), 4); /* U+1F600 */
    assert_int_equal(td_json_unescape("\\ud83d", 6, out, sizeof out), TD_EPROTO);
    assert_int_equal(td_json_unescape("\\u00e9", 6, out, sizeof out), 2);
    assert_int_equal(td_json_unescape("\\u12", 4, out, sizeof out), TD_EPROTO);
    td_json_free(&j);

    int64_t ns;
    assert_int_equal(td_parse_unix_secs_ns("1633998512.0633569", 18, &ns), TD_OK);
    assert_true(ns == 1633998512063356900LL);
    assert_int_equal(td_parse_unix_secs_ns("1633998512", 10, &ns), TD_OK);
    assert_true(ns == 1633998512000000000LL);
    assert_int_equal(td_parse_unix_secs_ns("16339.98.5", 10, &ns), TD_EPROTO);
    assert_int_equal(td_parse_unix_secs_ns("99999999999999999999", 20, &ns), TD_ERANGE);
    assert_int_equal(td_parse_rfc3339_ns("2021-04-17T16:43:37.075687Z", 27, &ns), TD_OK);
    assert_true(ns == 1618677817075687000LL);
    assert_int_equal(td_parse_rfc3339_ns("2023-02-09T20:32:50.714964855Z", 30, &ns), TD_OK);
    assert_true(ns == 1675974770714964855LL);
    assert_int_equal(td_parse_rfc3339_ns("2021-04-17T16:43:37+00:00", 25, &ns), TD_OK);
    assert_true(ns == 1618677817000000000LL);
    assert_int_equal(td_parse_rfc3339_ns("2021-04-17 16:43:37", 19, &ns), TD_EPROTO);
}

/* ---- parsing ---- */
static td_bn_parser_t *P;

static int parse(const char *s, td_bn_msg_t *m) { return td_bn_parse(P, s, strlen(s), m); }

static void test_parse_messages(void **state)
{
    (void)state;
    td_bn_msg_t m;
    td_event_t ev;
    uint8_t ex = td_exch_intern("BINANCE", 7);

    /* aggTrade from the spot recording: m=false, the buyer took */
    const char *agg = "{\"stream\":\"nknusdt@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":1633998523963,\"s\":\"NKNUSDT\","
                      "\"a\":15683430,\"p\":\"0.35280000\",\"q\":\"58.00000000\",\"f\":19862790,\"l\":19862790,"
                      "\"T\":1633998523963,\"m\":false,\"M\":true}}";
    assert_int_equal(parse(agg, &m), (int)strlen(agg));
    assert_int_equal(m.kind, TD_BN_AGGTRADE);
    assert_int_equal(m.sym, td_sym_lookup("NKNUSDT", 7));
    assert_int_equal(td_bn_msg_events(&m, ex, 42, &ev, 1), 1);
    assert_int_equal(ev.type, TD_EV_TRADE);
    assert_int_equal(ev.side, TD_BID);
    assert_true(ev.src_seq == 15683430 && ev.u.trade.trade_id == 15683430);
    assert_true(ev.u.trade.price == PX("0.3528") && ev.u.trade.qty == PX("58"));
    assert_true(ev.exch_ns == 1633998523963LL * 1000000 && ev.recv_ns == 42 && ev.exch == ex);

    /* bare trade payload, buyer is maker: the aggressor sold */
    const char *tr = "{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\",\"t\":7,\"p\":\"100.5\",\"q\":\"2\",\"T\":2,\"m\":true}";
    assert_true(parse(tr, &m) > 0);
    assert_int_equal(m.kind, TD_BN_TRADE);
    td_bn_msg_events(&m, ex, 0, &ev, 1);
    assert_int_equal(ev.side, TD_ASK);
    assert_true(ev.src_seq == 7 && ev.exch_ns == 2000000);

    /* spot bookTicker: no "e" */
    const char *bt = "{\"stream\":\"nknusdt@bookTicker\",\"data\":{\"u\":499869768,\"s\":\"NKNUSDT\",\"b\":\"0.35210000\","
                     "\"B\":\"672.00000000\",\"a\":\"0.35260000\",\"A\":\"3199.00000000\"}}";
    assert_true(parse(bt, &m) > 0);
    assert_int_equal(m.kind, TD_BN_BOOKTICKER);
    td_bn_msg_events(&m, ex, 0, &ev, 1);
    assert_int_equal(ev.type, TD_EV_QUOTE);
    assert_true(ev.src_seq == 499869768 && ev.u.quote.bid_px == PX("0.3521") && ev.u.quote.ask_qty == PX("3199"));
    assert_true(ev.exch_ns == 0);

    /* futures depth with pu and T */
    const char *fd = "{\"stream\":\"sushiusdt@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":1626992741037,"
                     "\"T\":1626992741024,\"s\":\"SUSHIUSDT\",\"U\":600859599090,\"u\":600859600917,\"pu\":600859598061,"
                     "\"b\":[[\"7.5040\",\"813\"],[\"7.6090\",\"0\"],[\"7.6110\",\"2\"]],\"a\":[[\"7.6150\",\"1563\"]]}}";
    assert_true(parse(fd, &m) > 0);
    assert_int_equal(m.kind, TD_BN_DEPTH);
    assert_true(m.first_id == 600859599090ULL && m.final_id == 600859600917ULL && m.has_prev &&
                m.prev_final_id == 600859598061ULL);
    assert_int_equal(m.nbids, 3);
    assert_int_equal(m.nasks, 1);
    assert_true(m.bids[1].price == PX("7.609") && m.bids[1].qty == 0);
    assert_true(m.txn_ms == 1626992741024LL);
    assert_int_equal(td_bn_msg_events(&m, ex, 0, &ev, 1), 0); /* depth goes through the sync */

    /* kline */
    const char *kl = "{\"stream\":\"nknusdt@kline_1m\",\"data\":{\"e\":\"kline\",\"E\":1633998523963,\"s\":\"NKNUSDT\","
                     "\"k\":{\"t\":1633998480000,\"T\":1633998539999,\"s\":\"NKNUSDT\",\"i\":\"1m\",\"f\":19862761,"
                     "\"L\":19862790,\"o\":\"0.35270000\",\"c\":\"0.35280000\",\"h\":\"0.35280000\",\"l\":\"0.35220000\","
                     "\"v\":\"25877.00000000\",\"n\":30,\"x\":false,\"q\":\"9116.04600000\",\"V\":\"58.00000000\","
                     "\"Q\":\"20.46240000\",\"B\":\"0\"}}}";
    assert_true(parse(kl, &m) > 0);
    assert_int_equal(m.kind, TD_BN_KLINE);
    assert_string_equal(m.kline.interval, "1m");
    assert_true(m.kline.open == PX("0.3527") && m.kline.high == PX("0.3528") && m.kline.volume == PX("25877"));
    assert_true(m.kline.ntrades == 30 && !m.kline.closed && m.kline.first_trade_id == 19862761);

    /* replies and unknown kinds are valid, not events */
    assert_true(parse("{\"result\":null,\"id\":1}", &m) > 0);
    assert_int_equal(m.kind, TD_BN_REPLY);
    assert_true(parse("{\"e\":\"24hrTicker\",\"s\":\"X\"}", &m) > 0);
    assert_int_equal(m.kind, TD_BN_UNKNOWN);
    assert_true(parse("{\"hello\":1}", &m) > 0);
    assert_int_equal(m.kind, TD_BN_UNKNOWN);

    /* an escaped symbol is unescaped before interning */
    const char *esc = "{\"e\":\"trade\",\"E\":1,\"s\":\"\\u0045THUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}";
    assert_true(parse(esc, &m) > 0);
    assert_int_equal(m.sym, td_sym_lookup("ETHUSDT", 7));
}

static void test_parse_rejects(void **state)
{
    (void)state;
    td_bn_msg_t m;
    const char *bad[] = {
        "{\"stream\":\"x\",\"data\":",                                                           /* truncated */
        "{\"stream\":\"x\",\"data\":[1]}",                                                       /* data not object */
        "[1,2,3]",
        "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"A\",\"U\":5,\"u\":4,\"b\":[],\"a\":[]}",           /* U > u */
        "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"A\",\"U\":1,\"u\":4,\"b\":[[\"1\",\"-1\"]],\"a\":[]}", /* negative qty */
        "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"A\",\"U\":1,\"u\":4,\"b\":[[\"0\",\"1\"]],\"a\":[]}",  /* price 0 */
        "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"A\",\"U\":1,\"u\":4,\"b\":[[\"99999999999999999\",\"1\"]],\"a\":[]}",
        "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"A\",\"U\":1,\"u\":4,\"b\":[[\"1.000000001\",\"1\"]],\"a\":[]}",
        "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"A\",\"U\":1,\"u\":4,\"b\":[[\"1\"]],\"a\":[]}",        /* short level */
        "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"A\",\"U\":1,\"u\":4,\"b\":{},\"a\":[]}",
        "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"A\",\"U\":-1,\"u\":4,\"b\":[],\"a\":[]}",
        "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"A\",\"u\":4,\"b\":[],\"a\":[]}",                   /* no U */
        "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"bad sym!\",\"U\":1,\"u\":4,\"b\":[],\"a\":[]}",
        "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"\",\"U\":1,\"u\":4,\"b\":[],\"a\":[]}",
        "{\"e\":\"depthUpdate\",\"E\":99999999999999999,\"s\":\"A\",\"U\":1,\"u\":4,\"b\":[],\"a\":[]}",
        "{\"e\":\"trade\",\"E\":1,\"s\":\"A\",\"t\":1,\"p\":\"1\",\"q\":\"0\",\"T\":1,\"m\":true}",  /* zero size */
        "{\"e\":\"trade\",\"E\":1,\"s\":\"A\",\"t\":1,\"p\":\"-1\",\"q\":\"1\",\"T\":1,\"m\":true}",
        "{\"e\":\"trade\",\"E\":1,\"s\":\"A\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":\"yes\"}",
        "{\"e\":\"trade\",\"E\":1,\"s\":\"A\",\"t\":1,\"p\":1e400,\"q\":\"1\",\"T\":1,\"m\":true}",
        "{\"e\":\"aggTrade\",\"E\":1,\"s\":\"A\",\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}",         /* no a */
        "{\"u\":1,\"s\":\"A\",\"b\":\"1\",\"B\":\"x\",\"a\":\"2\",\"A\":\"1\"}",
        "{\"e\":\"kline\",\"E\":1,\"s\":\"A\",\"k\":[]}",
        "{\"e\":5}",
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(bad); i++) {
        int rc = parse(bad[i], &m);
        if (rc != TD_EPROTO) fail_msg("accepted (%d): %s", rc, bad[i]);
        assert_true(td_bn_parser_error(P)[0] != '\0');
    }
    td_bn_snapshot_t snap;
    const char *sb = "{\"lastUpdateId\":\"x\",\"bids\":[],\"asks\":[]}";
    assert_int_equal(td_bn_parse_snapshot(P, sb, strlen(sb), &snap), TD_EPROTO);
    const char *sg = "{\"lastUpdateId\":5,\"E\":1,\"T\":2,\"bids\":[[\"1\",\"2\"]],\"asks\":[]}";
    assert_int_equal(td_bn_parse_snapshot(P, sg, strlen(sg), &snap), (int)strlen(sg));
    assert_true(snap.last_update_id == 5 && snap.nbids == 1 && snap.nasks == 0 && snap.txn_ms == 2);
}

/* ---- the sync state machine on synthetic streams ---- */
static uint32_t SYM;

static td_bn_msg_t depth(uint64_t U, uint64_t u, uint64_t pu, bool has_pu, td_bn_level_t *lv, size_t n)
{
    td_bn_msg_t m;
    memset(&m, 0, sizeof m);
    m.kind = TD_BN_DEPTH;
    m.sym = SYM;
    m.event_ms = 1000;
    m.first_id = U;
    m.final_id = u;
    m.prev_final_id = pu;
    m.has_prev = has_pu;
    m.bids = lv;
    m.nbids = n;
    m.asks = lv;
    m.nasks = 0;
    return m;
}

static td_bn_snapshot_t snapshot(uint64_t L, td_bn_level_t *lv, size_t n)
{
    td_bn_snapshot_t s;
    memset(&s, 0, sizeof s);
    s.last_update_id = L;
    s.bids = lv;
    s.nbids = n;
    s.asks = lv + n;
    s.nasks = 0;
    return s;
}

static void test_sync_spot(void **state)
{
    (void)state;
    td_bn_sync_t s;
    evlog_t log = { 0 };
    td_bn_level_t lv[2] = { { 100, 5 }, { 101, 0 } };
    SYM = td_sym_intern("SYNCSPOT", 8);
    td_bn_sync_init(&s, SYM, 1, false);

    td_bn_msg_t m = depth(90, 95, 0, false, lv, 2);
    assert_int_equal(td_bn_sync_depth(&s, &m, 1, collect, &log), TD_OK); /* buffered */
    m = depth(96, 100, 0, false, lv, 2);
    td_bn_sync_depth(&s, &m, 2, collect, &log);
    m = depth(101, 103, 0, false, lv, 2);
    td_bn_sync_depth(&s, &m, 3, collect, &log);
    assert_int_equal(log.n, 0);
    assert_int_equal(s.nbuf, 3);

    td_bn_snapshot_t snap = snapshot(99, lv, 1);
    assert_int_equal(td_bn_sync_snapshot(&s, &snap, 4, collect, &log), TD_OK);
    /* CLEAR, 1 snapshot level, RESYNC, then event 96..100 (2 levels) and 101..103 (2 levels) */
    assert_int_equal(log.n, 7);
    assert_int_equal(log.ev[0].type, TD_EV_BOOK_CLEAR);
    assert_true(log.ev[1].type == TD_EV_LEVEL_SET && (log.ev[1].flags & TD_EVF_SNAPSHOT) && log.ev[1].src_seq == 99);
    assert_int_equal(log.ev[2].type, TD_EV_RESYNC);
    assert_true(log.ev[3].type == TD_EV_LEVEL_SET && log.ev[3].src_seq == 100 && log.ev[3].recv_ns == 2);
    assert_true(log.ev[4].type == TD_EV_LEVEL_DEL && log.ev[4].u.level.price == 101);
    assert_true(s.state == TD_BN_SYNC_LIVE && s.dropped == 1 && s.applied == 2 && s.first_U == 96 && s.first_u == 100);
    assert_int_equal(s.resyncs, 0); /* the first sync is not a repair */

    /* a snapshot while live is ignored */
    assert_int_equal(td_bn_sync_snapshot(&s, &snap, 5, collect, &log), TD_EEXIST);
    /* a duplicate is dropped, not a gap */
    m = depth(101, 103, 0, false, lv, 1);
    td_bn_sync_depth(&s, &m, 6, collect, &log);
    assert_true(s.duplicates == 1 && s.gaps == 0 && log.n == 7);

    /* gap: 104 is missing, 105..106 arrives */
    m = depth(105, 106, 0, false, lv, 1);
    td_bn_sync_depth(&s, &m, 7, collect, &log);
    assert_int_equal(log.n, 8);
    assert_int_equal(log.ev[7].type, TD_EV_GAP);
    assert_true(log.ev[7].u.gap.expected == 104 && log.ev[7].u.gap.received == 105);
    assert_true(s.state == TD_BN_SYNC_WAIT_SNAPSHOT && s.gap_open && td_bn_sync_needs_snapshot(&s));
    /* events keep being buffered, not applied */
    m = depth(107, 107, 0, false, lv, 1);
    td_bn_sync_depth(&s, &m, 8, collect, &log);
    assert_int_equal(log.n, 8);
    /* an old snapshot (L=100: the buffered 105 does not bridge 101) is refused */
    snap = snapshot(100, lv, 1);
    assert_int_equal(td_bn_sync_snapshot(&s, &snap, 9, collect, &log), TD_ERANGE);
    assert_int_equal(log.n, 8);
    assert_int_equal(s.snapshots_stale, 1);
    /* a good one (L=105) repairs: 105..106 bridges 106, then 107 */
    snap = snapshot(105, lv, 1);
    assert_int_equal(td_bn_sync_snapshot(&s, &snap, 10, collect, &log), TD_OK);
    assert_true(s.state == TD_BN_SYNC_LIVE && !s.gap_open && s.resyncs == 1 && s.gaps == 1);
    assert_true(s.prev_final_id == 107 && s.first_U == 105 && s.first_u == 106);
    assert_int_equal(count_type(&log, TD_EV_RESYNC), 2);

    /* WAIT_FIRST: a snapshot newer than everything buffered, then an event that does not bridge */
    td_bn_sync_free(&s);
    td_bn_sync_init(&s, SYM, 1, false);
    snap = snapshot(200, lv, 1);
    assert_int_equal(td_bn_sync_snapshot(&s, &snap, 1, collect, &log), TD_OK);
    assert_int_equal(s.state, TD_BN_SYNC_WAIT_FIRST);
    m = depth(150, 200, 0, false, lv, 1);
    td_bn_sync_depth(&s, &m, 2, collect, &log); /* u <= L: dropped */
    assert_int_equal(s.dropped, 1);
    size_t before = log.n;
    m = depth(202, 205, 0, false, lv, 1); /* U > L+1 */
    td_bn_sync_depth(&s, &m, 3, collect, &log);
    assert_int_equal(log.n, before + 1);
    assert_true(log.ev[before].type == TD_EV_GAP && log.ev[before].u.gap.expected == 201 &&
                log.ev[before].u.gap.received == 202);
    td_bn_sync_free(&s);
    td_free(log.ev);
}

static void test_sync_futures(void **state)
{
    (void)state;
    td_bn_sync_t s;
    evlog_t log = { 0 };
    td_bn_level_t lv[1] = { { 100, 5 } };
    SYM = td_sym_intern("SYNCFUT", 7);
    td_bn_sync_init(&s, SYM, 2, true);
    /* U/u jump; u == L is applied in futures (dropped in spot) */
    td_bn_msg_t m = depth(1000, 1500, 900, true, lv, 1);
    td_bn_sync_depth(&s, &m, 1, collect, &log);
    m = depth(1400, 2000, 1500, true, lv, 1);
    td_bn_sync_depth(&s, &m, 2, collect, &log);
    m = depth(2600, 3000, 2000, true, lv, 1);
    td_bn_sync_depth(&s, &m, 3, collect, &log);
    td_bn_snapshot_t snap = snapshot(2000, lv, 1);
    assert_int_equal(td_bn_sync_snapshot(&s, &snap, 4, collect, &log), TD_OK);
    assert_true(s.state == TD_BN_SYNC_LIVE && s.dropped == 1 && s.applied == 2);
    assert_true(s.first_U == 1400 && s.first_u == 2000 && s.prev_final_id == 3000);
    /* pu chain broken */
    m = depth(3100, 3200, 3050, true, lv, 1);
    td_bn_sync_depth(&s, &m, 5, collect, &log);
    assert_int_equal(log.ev[log.n - 1].type, TD_EV_GAP);
    assert_true(log.ev[log.n - 1].u.gap.expected == 3000 && log.ev[log.n - 1].u.gap.received == 3050);
    /* missing pu in futures is a broken chain too */
    td_bn_sync_free(&s);
    td_bn_sync_init(&s, SYM, 2, true);
    snap = snapshot(10, lv, 1);
    td_bn_sync_snapshot(&s, &snap, 1, collect, &log);
    m = depth(5, 12, 4, true, lv, 1);
    td_bn_sync_depth(&s, &m, 2, collect, &log);
    assert_int_equal(s.state, TD_BN_SYNC_LIVE);
    m = depth(13, 14, 0, false, lv, 1);
    td_bn_sync_depth(&s, &m, 3, collect, &log);
    assert_int_equal(s.gaps, 1);
    td_bn_sync_free(&s);
    td_free(log.ev);
}

/* Random streams with lost events against a naive model of the spot rules: the sync must count the same
 * applied events and gaps, and emit nothing for the symbol between a gap and the end (no new snapshot). */
typedef struct model { bool snapped, live, broken; uint64_t L, prev, applied, gaps; } model_t;
static void model_feed(model_t *md, uint64_t U, uint64_t u)
{
    if (md->broken) return;
    if (!md->live) {
        if (u <= md->L) return;
        if (U <= md->L + 1) { md->live = true; md->prev = u; md->applied++; }
        else { md->broken = true; md->gaps++; }
        return;
    }
    if (u <= md->prev) return; /* duplicate */
    if (U == md->prev + 1) { md->prev = u; md->applied++; }
    else { md->broken = true; md->gaps++; }
}

static void test_sync_random(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    td_bn_level_t lv[1] = { { 100, 5 } };
    SYM = td_sym_intern("SYNCRAND", 8);
    for (int round = 0; round < 300; round++) {
        td_bn_sync_t s;
        evlog_t log = { 0 };
        td_bn_sync_init(&s, SYM, 1, false);
        uint64_t next = 1 + td_rng_below(&rng, 1000);
        model_t md = { .L = next + td_rng_below(&rng, 20) };
        uint64_t pending[400][2];
        size_t npending = 0;
        bool refused = false;
        for (int step = 0; step < 300 && !refused; step++) {
            uint64_t len = 1 + td_rng_below(&rng, 3);
            uint64_t U = next, u = next + len - 1;
            next = u + 1;
            if (td_rng_below(&rng, 40) == 0) continue; /* lost event */
            if (!md.snapped && u > md.L + 5) {
                /* the model's view of the snapshot: stale if the first buffered event past L does not bridge */
                bool stale = false;
                for (size_t i = 0; i < npending; i++)
                    if (pending[i][1] > md.L) { stale = pending[i][0] > md.L + 1; break; }
                td_bn_snapshot_t snap = snapshot(md.L, lv, 1);
                int rc = td_bn_sync_snapshot(&s, &snap, 0, collect, &log);
                TD_CHECK(rc == (stale ? TD_ERANGE : TD_OK), "round %d rc %d stale %d", round, rc, stale);
                if (stale) { refused = true; break; }
                md.snapped = true;
                for (size_t i = 0; i < npending; i++) model_feed(&md, pending[i][0], pending[i][1]);
            }
            td_bn_msg_t m = depth(U, u, 0, false, lv, 1);
            size_t before = log.n;
            bool was_broken = md.broken;
            td_bn_sync_depth(&s, &m, 0, collect, &log);
            if (!md.snapped) { pending[npending++][0] = U; pending[npending - 1][1] = u; continue; }
            model_feed(&md, U, u);
            if (was_broken) TD_CHECK(log.n == before, "round %d step %d: emitted after a gap", round, step);
        }
        TD_CHECK(s.gaps == md.gaps && s.applied == md.applied, "round %d gaps %llu/%llu applied %llu/%llu", round,
                 (unsigned long long)s.gaps, (unsigned long long)md.gaps, (unsigned long long)s.applied,
                 (unsigned long long)md.applied);
        td_bn_sync_free(&s);
        td_free(log.ev);
    }
}

/* ---- golden on the recordings ---- */
static td_source_t *open_rec(const char *ws, const char *http)
{
    static char args[8400], wsp[4096];
    char err[256];
    snprintf(wsp, sizeof wsp, "%s", td_test_data_path(ws));
    snprintf(args, sizeof args, "%s,%s", wsp, td_test_data_path(http));
    td_source_t *src = td_recording_open(args, err, sizeof err);
    if (!src) fail_msg("open %s: %s", args, err);
    return src;
}

static void drain(td_source_t *src, evlog_t *log)
{
    td_event_t evs[97];
    int n;
    while ((n = src->next(src, evs, TD_ARRAY_LEN(evs))) > 0)
        for (int i = 0; i < n; i++) collect(log, &evs[i]);
    assert_int_equal(n, TD_EOF);
    assert_int_equal(src->next(src, evs, 1), TD_EOF); /* stays at EOF */
}

static const td_recording_sym_t *find_rep(const td_recording_sym_t *reps, size_t n, const char *name)
{
    uint32_t id = td_sym_lookup(name, strlen(name));
    for (size_t i = 0; i < n; i++)
        if (reps[i].sym == id) return &reps[i];
    fail_msg("no report for %s", name);
    return NULL;
}

static void test_golden_spot(void **state)
{
    (void)state;
    td_source_t *src = open_rec("binance/BINANCE.ws.1.0", "binance/BINANCE.http.0.0");
    evlog_t log = { 0 };
    drain(src, &log);
    assert_int_equal(td_recording_count(src, "depthUpdate"), 177);
    assert_int_equal(td_recording_count(src, "bookTicker"), 84);
    assert_int_equal(td_recording_count(src, "aggTrade"), 2);
    assert_int_equal(td_recording_count(src, "kline"), 2);
    assert_int_equal(td_recording_count(src, "http_snapshot"), 4);
    assert_int_equal(atomic_load(&src->stats.bad), 0);
    assert_int_equal(atomic_load(&src->stats.gaps), 0);
    assert_int_equal(count_type(&log, TD_EV_GAP), 0);
    assert_int_equal(count_type(&log, TD_EV_BOOK_CLEAR), 4);
    assert_int_equal(count_type(&log, TD_EV_RESYNC), 4);
    assert_int_equal(count_type(&log, TD_EV_TRADE), 2);
    assert_int_equal(count_type(&log, TD_EV_QUOTE), 84);
    td_recording_sym_t reps[16];
    size_t n = td_recording_symbols(src, reps, 16);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) TD_CHECK(reps[i].synced && !reps[i].stale && reps[i].gaps == 0, "%s", td_sym_name(reps[i].sym));
    const td_recording_sym_t *nkn = find_rep(reps, n, "NKNUSDT");
    assert_true(nkn->snapshot_id == 499869752ULL);
    assert_true(nkn->first_U == 499869753ULL && nkn->first_u == 499869754ULL);
    assert_int_equal(nkn->applied, 149);
    assert_int_equal(nkn->gaps, 0);
    assert_string_equal(nkn->state, "live");
    /* recv_ns is the recorded receive time; events are in receive order */
    for (size_t i = 1; i < log.n; i++) TD_CHECK(log.ev[i].recv_ns >= log.ev[i - 1].recv_ns, "event %zu", i);
    /* no exchange time (spot bookTicker, spot snapshots): the receive time stands in, never 0 */
    for (size_t i = 0; i < log.n; i++) TD_CHECK(log.ev[i].exch_ns > 1600000000000000000LL, "event %zu exch_ns", i);
    assert_int_equal(log.n, atomic_load(&src->stats.events));
    td_source_destroy(src);
    td_free(log.ev);
}

static void test_golden_futures(void **state)
{
    (void)state;
    td_source_t *src = open_rec("binance/BINANCE_FUTURES.ws.1.0", "binance/BINANCE_FUTURES.http.0.0");
    evlog_t log = { 0 };
    drain(src, &log);
    assert_int_equal(td_recording_count(src, "depthUpdate"), 764);
    assert_int_equal(td_recording_count(src, "bookTicker"), 613);
    assert_int_equal(td_recording_count(src, "aggTrade"), 91);
    assert_int_equal(td_recording_count(src, "kline"), 67);
    assert_int_equal(atomic_load(&src->stats.bad), 0);
    assert_int_equal(count_type(&log, TD_EV_GAP), 0);
    td_recording_sym_t reps[16];
    size_t n = td_recording_symbols(src, reps, 16);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        TD_CHECK(reps[i].synced && reps[i].gaps == 0 && reps[i].applied > 100, "%s", td_sym_name(reps[i].sym));
    const td_recording_sym_t *akro = find_rep(reps, n, "AKROUSDT");
    assert_true(akro->snapshot_id == 600859605486ULL);
    assert_true(akro->first_U == 600859603597ULL && akro->first_u == 600859605486ULL);
    assert_int_equal(akro->applied, 188);
    uint8_t fut = td_exch_lookup("BINANCE_FUTURES", 15);
    assert_true(fut != 0 && log.ev[0].exch == fut);
    td_source_destroy(src);
    td_free(log.ev);
}

/* ---- gap injection ---- */

/* A naive book for one symbol, rebuilt from events. */
typedef struct nbook { td_bn_level_t lv[2][4096]; size_t n[2]; } nbook_t;
static void nb_set(nbook_t *b, int side, int64_t px, int64_t qty)
{
    for (size_t i = 0; i < b->n[side]; i++)
        if (b->lv[side][i].price == px) {
            if (qty) b->lv[side][i].qty = qty;
            else b->lv[side][i] = b->lv[side][--b->n[side]];
            return;
        }
    if (qty) { assert_true(b->n[side] < 4096); b->lv[side][b->n[side]++] = (td_bn_level_t){ px, qty }; }
}
static void nb_apply(nbook_t *b, const td_event_t *ev)
{
    if (ev->type == TD_EV_BOOK_CLEAR) b->n[0] = b->n[1] = 0;
    else if (ev->type == TD_EV_LEVEL_SET) nb_set(b, ev->side, ev->u.level.price, ev->u.level.qty);
    else if (ev->type == TD_EV_LEVEL_DEL) nb_set(b, ev->side, ev->u.level.price, 0);
}
static int cmp_lv(const void *a, const void *b)
{
    int64_t x = ((const td_bn_level_t *)a)->price, y = ((const td_bn_level_t *)b)->price;
    return x < y ? -1 : x > y;
}
static void nb_sort(nbook_t *b)
{
    qsort(b->lv[0], b->n[0], sizeof b->lv[0][0], cmp_lv);
    qsort(b->lv[1], b->n[1], sizeof b->lv[1][0], cmp_lv);
}

typedef struct dline { size_t line; uint64_t U, u; int64_t recv_ns; } dline_t;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = td_malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void test_gap_injection(void **state)
{
    (void)state;
    static nbook_t at_snap, final_ref, final_got;
    const char *sym = "NKNUSDT";
    uint32_t id = td_sym_intern(sym, strlen(sym));
    td_bn_parser_t *p = td_bn_parser_create();

    /* Split the WS recording into lines and find NKNUSDT's depth lines. */
    size_t len;
    char *ws = slurp(td_test_data_path("binance/BINANCE.ws.1.0"), &len);
    char **lines = NULL;
    size_t nlines = 0, cap = 0;
    for (char *s = ws; s < ws + len;) {
        char *nl = memchr(s, '\n', (size_t)(ws + len - s));
        if (nlines == cap) { cap = cap ? cap * 2 : 256; lines = td_realloc(lines, cap * sizeof *lines); }
        lines[nlines++] = s;
        if (!nl) break;
        *nl = '\0';
        s = nl + 1;
    }
    dline_t d[400];
    size_t nd = 0;
    for (size_t i = 1; i < nlines; i++) {
        char *colon = strstr(lines[i], ": ");
        if (!colon) continue;
        td_bn_msg_t m;
        if (td_bn_parse(p, colon + 2, strlen(colon + 2), &m) < 0 || m.kind != TD_BN_DEPTH || m.sym != id) continue;
        int64_t ts;
        assert_int_equal(td_parse_unix_secs_ns(lines[i], (size_t)(colon - lines[i]), &ts), TD_OK);
        assert_true(nd < 400);
        d[nd++] = (dline_t){ i, m.first_id, m.final_id, ts };
    }
    assert_int_equal(nd, 150);
    /* Remove event k+1, well after every symbol's snapshot (the last one is at 1633998522.74). */
    size_t k1 = 0;
    while (k1 < nd && d[k1].recv_ns < 1633998524000000000LL) k1++;
    assert_true(k1 > 2 && k1 + 3 < nd);
    size_t k2 = k1 + 1, k3 = k1 + 2;

    /* The true book right after event k+1, from a replay of the untouched recording. */
    td_source_t *src = open_rec("binance/BINANCE.ws.1.0", "binance/BINANCE.http.0.0");
    td_event_t ev;
    bool captured = false;
    memset(&at_snap, 0, sizeof at_snap);
    memset(&final_ref, 0, sizeof final_ref);
    while (src->next(src, &ev, 1) == 1) {
        if (ev.sym != id) continue;
        if (!captured && ev.type != TD_EV_BOOK_CLEAR && ev.type != TD_EV_RESYNC && !(ev.flags & TD_EVF_SNAPSHOT) &&
            ev.src_seq > d[k1].u) {
            at_snap = final_ref;
            captured = true;
        }
        nb_apply(&final_ref, &ev);
    }
    assert_true(captured);
    td_source_destroy(src);

    /* Modified WS file without line k+1, and an HTTP file with one more NKNUSDT snapshot (L = u of k+1)
     * received just after event k+2 (which reveals the gap) and before k+3. */
    char wsfile[] = "/tmp/td_gap_ws_XXXXXX", httpfile[] = "/tmp/td_gap_http_XXXXXX";
    int fdw = mkstemp(wsfile), fdh = mkstemp(httpfile);
    assert_true(fdw >= 0 && fdh >= 0);
    FILE *fw = fdopen(fdw, "w"), *fh = fdopen(fdh, "w");
    for (size_t i = 0; i < nlines; i++)
        if (i != d[k1].line) fprintf(fw, "%s\n", lines[i]);
    fclose(fw);
    size_t hlen;
    char *http = slurp(td_test_data_path("binance/BINANCE.http.0.0"), &hlen);
    fwrite(http, 1, hlen, fh);
    if (hlen && http[hlen - 1] != '\n') fputc('\n', fh);
    int64_t snap_ns = d[k2].recv_ns + 1000;
    assert_true(snap_ns < d[k3].recv_ns);
    fprintf(fh, "https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000 -> %lld.%09lld: {\"lastUpdateId\":%llu,",
            (long long)(snap_ns / 1000000000), (long long)(snap_ns % 1000000000), (unsigned long long)d[k1].u);
    for (int side = 0; side < 2; side++) {
        fprintf(fh, "\"%s\":[", side ? "asks" : "bids");
        for (size_t i = 0; i < at_snap.n[side]; i++) {
            char px[TD_DEC_BUFSZ], q[TD_DEC_BUFSZ];
            td_dec_fmt(at_snap.lv[side][i].price, px);
            td_dec_fmt(at_snap.lv[side][i].qty, q);
            fprintf(fh, "%s[\"%s\",\"%s\"]", i ? "," : "", px, q);
        }
        fprintf(fh, "]%s", side ? "}\n" : ",");
    }
    fclose(fh);

    /* Without the extra snapshot: GAP, and the symbol ends stale. */
    static char args[8400];
    char err[256];
    snprintf(args, sizeof args, "%s,%s", wsfile, td_test_data_path("binance/BINANCE.http.0.0"));
    src = td_recording_open(args, err, sizeof err);
    assert_non_null(src);
    evlog_t log = { 0 };
    drain(src, &log);
    assert_int_equal(count_type(&log, TD_EV_GAP), 1);
    const td_event_t *g = NULL;
    for (size_t i = 0; i < log.n; i++)
        if (log.ev[i].type == TD_EV_GAP) g = &log.ev[i];
    assert_true(g->sym == id && g->u.gap.expected == d[k1 - 1].u + 1 && g->u.gap.received == d[k2].U);
    /* nothing of NKNUSDT is applied after the gap */
    for (const td_event_t *e = g + 1; e < log.ev + log.n; e++)
        TD_CHECK(e->sym != id || e->type == TD_EV_QUOTE || e->type == TD_EV_TRADE, "event after gap: type %d", e->type);
    td_recording_sym_t reps[8];
    size_t n = td_recording_symbols(src, reps, 8);
    const td_recording_sym_t *r = find_rep(reps, n, sym);
    assert_true(r->stale && !r->synced && r->gaps == 1 && r->resyncs == 0);
    assert_int_equal(atomic_load(&src->stats.gaps), 1);
    td_source_destroy(src);
    log.n = 0;

    /* With it: GAP, then BOOK_CLEAR + snapshot + RESYNC, then live again; the final book equals the book of
     * the untouched replay. */
    snprintf(args, sizeof args, "%s,%s", wsfile, httpfile);
    src = td_recording_open(args, err, sizeof err);
    assert_non_null(src);
    drain(src, &log);
    assert_int_equal(count_type(&log, TD_EV_GAP), 1);
    n = td_recording_symbols(src, reps, 8);
    r = find_rep(reps, n, sym);
    assert_true(!r->stale && r->synced && r->gaps == 1 && r->resyncs == 1 && r->snapshots == 2);
    assert_true(r->snapshot_id == d[k1].u && r->first_U == d[k2].U);
    assert_int_equal(atomic_load(&src->stats.resyncs), 1);
    memset(&final_got, 0, sizeof final_got);
    size_t gi = 0, ri = 0;
    for (size_t i = 0; i < log.n; i++) {
        if (log.ev[i].sym != id) continue;
        if (log.ev[i].type == TD_EV_GAP) gi = i;
        if (log.ev[i].type == TD_EV_RESYNC) ri = i;
        nb_apply(&final_got, &log.ev[i]);
    }
    assert_true(gi > 0 && ri > gi);
    nb_sort(&final_got);
    nb_sort(&final_ref);
    assert_int_equal(final_got.n[0], final_ref.n[0]);
    assert_int_equal(final_got.n[1], final_ref.n[1]);
    assert_memory_equal(final_got.lv[0], final_ref.lv[0], final_ref.n[0] * sizeof final_ref.lv[0][0]);
    assert_memory_equal(final_got.lv[1], final_ref.lv[1], final_ref.n[1] * sizeof final_ref.lv[1][0]);
    td_source_destroy(src);

    unlink(wsfile);
    unlink(httpfile);
    td_free(log.ev);
    td_free(http);
    td_free(lines);
    td_free(ws);
    td_bn_parser_destroy(p);
}

static int setup(void **state)
{
    (void)state;
    P = td_bn_parser_create();
    return 0;
}
static int teardown(void **state)
{
    (void)state;
    td_bn_parser_destroy(P);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_helpers),    cmocka_unit_test(test_parse_messages),
        cmocka_unit_test(test_parse_rejects),   cmocka_unit_test(test_sync_spot),
        cmocka_unit_test(test_sync_futures),    cmocka_unit_test(test_sync_random),
        cmocka_unit_test(test_golden_spot),     cmocka_unit_test(test_golden_futures),
        cmocka_unit_test(test_gap_injection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
