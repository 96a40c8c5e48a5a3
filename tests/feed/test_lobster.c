/*
 * test_lobster.c: the LOBSTER feed: line parsers (exact times, limits, malformed rows, sentinels), the
 * event mapping per message type, the US/Eastern DST rule, the file source (type counts of every sample
 * against SOURCE.md, bad lines, the pre-message-1 seed) and the golden replay: td_lobster_verify() matches
 * every row of every sample pair, and fails at exactly the right row when a message or a row is corrupted.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/decimal.h"
#include "core/rng.h"
#include "core/symbols.h"
#include "book/book.h"
#include "feed/lobster.h"

#define DAY "2012-06-21_34200000_57600000"

static int pmsg(const char *s, td_lobster_msg_t *m) { return td_lobster_parse_msg(s, strlen(s), m); }

static void want_msg_error(const char *s)
{
    td_lobster_msg_t m;
    int rc = pmsg(s, &m);
    if (rc != TD_EPROTO) fail_msg("parse_msg(\"%s\") = %d, want TD_EPROTO", s, rc);
}

static void want_time(const char *s, int64_t ns)
{
    int64_t v = -1;
    int rc = td_lobster_parse_time(s, strlen(s), &v);
    if (rc != TD_OK || v != ns) fail_msg("parse_time(\"%s\") = %d, %lld; want %lld", s, rc, (long long)v, (long long)ns);
}

static void want_time_error(const char *s)
{
    int64_t v;
    int rc = td_lobster_parse_time(s, strlen(s), &v);
    if (rc != TD_EPROTO) fail_msg("parse_time(\"%s\") = %d, want TD_EPROTO", s, rc);
}

static void test_parse_time(void **state)
{
    (void)state;
    want_time("34200.004241176", 34200004241176LL);
    want_time("34200.18960767", 34200189607670LL); /* LOBSTER drops trailing zeros */
    want_time("34200.017459617", 34200017459617LL);
    want_time("57599.999999999", 57599999999999LL);
    want_time("34200", 34200000000000LL);
    want_time("0.000000001", 1);
    want_time("0", 0);
    want_time("999999999.999999999", 999999999999999999LL);
    /* float noise below 1 ns (AMZN_5 line 67823) rounds half up, in integers */
    want_time("43002.632812672004", 43002632812672LL);
    want_time("43002.632812671998", 43002632812672LL);
    want_time("1.9999999995", 2000000000LL);
    want_time("1.0000000004999", 1000000000LL);
    want_time_error("");
    want_time_error(".");
    want_time_error(".5");
    want_time_error("1.");
    want_time_error("-1.5");
    want_time_error("+1");
    want_time_error("1e3");
    want_time_error("1,5");
    want_time_error("1234567890.1");           /* 10 digits of seconds */
    want_time_error("1.1234567890123456789"); /* 19 decimals */
    want_time_error("1.2.3");
    want_time_error(" 1");
}

static void test_parse_msg(void **state)
{
    (void)state;
    td_lobster_msg_t m;
    const char *l = "34200.004241176,1,11885113,21,2238100,1\nnext";
    assert_int_equal(pmsg(l, &m), (int)(strchr(l, '\n') - l) + 1);
    assert_int_equal(m.time_ns, 34200004241176LL);
    assert_int_equal(m.type, 1);
    assert_int_equal(m.order_id, 11885113);
    assert_int_equal(m.size, 21);
    assert_int_equal(m.price, 2238100);
    assert_int_equal(m.direction, 1);
    /* CRLF, sell side */
    assert_int_equal(pmsg("1.5,4,7,100,5853300,-1\r\n", &m), 24);
    assert_int_equal(m.direction, -1);
    assert_int_equal(m.type, 4);
    /* partial last line: need more */
    assert_int_equal(pmsg("34200.004241176,1,11885113,21,2238100,1", &m), TD_EAGAIN);
    assert_int_equal(pmsg("", &m), TD_EAGAIN);
    /* hidden execution: order id 0 */
    assert_true(pmsg("34200.017459617,5,0,1,2238200,-1\n", &m) > 0);
    assert_int_equal(m.order_id, 0);
    /* halts: price -1, 0, 1 with zero size */
    assert_true(pmsg("36023,7,0,0,-1,-1\n", &m) > 0);
    assert_int_equal(m.price, -1);
    assert_true(pmsg("36323,7,0,0,0,-1\n", &m) > 0);
    assert_true(pmsg("36723,7,0,0,1,-1\n", &m) > 0);
    want_msg_error("36723,7,0,0,2,-1\n");
    want_msg_error("36723,7,0,0,-2,-1\n");
    want_msg_error("36723,7,0,-1,1,-1\n");
    /* the largest real order id; the next one is in the synthetic range */
    assert_true(pmsg("1,1,9223372036854775807,1,1,1\n", &m) > 0);
    assert_true(m.order_id == TD_LOBSTER_MAX_ORDER_ID);
    want_msg_error("1,1,9223372036854775808,1,1,1\n");
    want_msg_error("1,1,99999999999999999999,1,1,1\n");
    /* wrong column counts, empty fields */
    want_msg_error("34200.1,1,1,21,2238100\n");
    want_msg_error("34200.1,1,1,21,2238100,1,0\n");
    want_msg_error("34200.1,1,1,21,2238100,1,\n");
    want_msg_error("34200.1,1,,21,2238100,1\n");
    want_msg_error(",1,1,21,2238100,1\n");
    want_msg_error("\n");
    want_msg_error("\r\n");
    /* bad values */
    want_msg_error("34200.1,0,1,21,2238100,1\n");
    want_msg_error("34200.1,8,1,21,2238100,1\n");
    want_msg_error("34200.1,1,1,21,2238100,0\n");
    want_msg_error("34200.1,1,1,21,2238100,2\n");
    want_msg_error("34200.1,1,1,-21,2238100,1\n");
    want_msg_error("34200.1,1,1,0,2238100,1\n");
    want_msg_error("34200.1,1,1,21,-2238100,1\n");
    want_msg_error("34200.1,1,1,21,0,1\n");
    want_msg_error("34200.1,1,-1,21,2238100,1\n");
    want_msg_error("34200.1,1,1,1234567890123456789,2238100,1\n"); /* 19 digits */
    want_msg_error("34200.1,1,1,21,22381.00,1\n");
    want_msg_error("34200.1,1,1,21,2238100, 1\n");
    want_msg_error("34200.1,1,1,2 1,2238100,1\n");
    want_msg_error("34200.1,1,1,21,2238100,1\r\r\n");
    want_msg_error("abc\n");
    /* a line longer than the cap with no newline in sight is malformed, not "need more" */
    char big[TD_LOBSTER_MAX_MSG_LINE + 10];
    memset(big, '1', sizeof big);
    assert_int_equal(td_lobster_parse_msg(big, sizeof big, &m), TD_EPROTO);
    assert_int_equal(td_lobster_parse_msg(big, TD_LOBSTER_MAX_MSG_LINE - 1, &m), TD_EAGAIN);
}

static int prow(const char *s, size_t max, td_lobster_row_t *r) { return td_lobster_parse_row(s, strlen(s), max, r); }

static void test_parse_row(void **state)
{
    (void)state;
    static td_lobster_row_t r;
    const char *l = "2239500,100,2231800,100\n";
    assert_int_equal(prow(l, 1, &r), (int)strlen(l));
    assert_int_equal(r.nlevels, 1);
    assert_int_equal(r.nask, 1);
    assert_int_equal(r.nbid, 1);
    assert_int_equal(r.ask[0].price, 2239500);
    assert_int_equal(r.bid[0].size, 100);
    /* two levels, empty bid side at level 2 (sentinel), CRLF */
    assert_true(prow("5802300,100,5794000,496,5804300,50,-9999999999,0\r\n", 2, &r) > 0);
    assert_int_equal(r.nlevels, 2);
    assert_int_equal(r.nask, 2);
    assert_int_equal(r.nbid, 1);
    /* both sides empty */
    assert_true(prow("9999999999,0,-9999999999,0,9999999999,0,-9999999999,0\n", 2, &r) > 0);
    assert_int_equal(r.nask + r.nbid, 0);
    assert_int_equal(r.nlevels, 2);
    assert_int_equal(prow("2239500,100,2231800,100", 1, &r), TD_EAGAIN);
    /* malformed */
    assert_int_equal(prow("2239500,100,2231800\n", 1, &r), TD_EPROTO);               /* 3 columns */
    assert_int_equal(prow("2239500,100,2231800,100,1\n", 2, &r), TD_EPROTO);         /* 5 columns */
    assert_int_equal(prow("2239500,100,2231800,100,2239600,1,2231700,1\n", 1, &r), TD_EPROTO); /* > max */
    assert_int_equal(prow("9999999999,5,2231800,100\n", 1, &r), TD_EPROTO);          /* sentinel size */
    assert_int_equal(prow("2239500,100,-9999999999,1\n", 1, &r), TD_EPROTO);
    assert_int_equal(prow("2239500,0,2231800,100\n", 1, &r), TD_EPROTO);             /* zero size */
    assert_int_equal(prow("2239500,-5,2231800,100\n", 1, &r), TD_EPROTO);
    assert_int_equal(prow("-2239500,5,2231800,100\n", 1, &r), TD_EPROTO);
    assert_int_equal(prow("2239500,1,2231800,1,2239400,1,2231700,1\n", 2, &r), TD_EPROTO); /* asks down */
    assert_int_equal(prow("2239500,1,2231800,1,2239600,1,2231900,1\n", 2, &r), TD_EPROTO); /* bids up */
    assert_int_equal(prow("2239500,1,2231800,1,2239500,1,2231700,1\n", 2, &r), TD_EPROTO); /* repeat */
    assert_int_equal(prow("9999999999,0,2231800,1,2239600,1,2231700,1\n", 2, &r), TD_EPROTO); /* after empty */
    assert_int_equal(prow("2239500,,2231800,100\n", 1, &r), TD_EPROTO);
    assert_int_equal(prow("\n", 1, &r), TD_EPROTO);
    assert_int_equal(prow("2239500,100,2231800,100,\n", 2, &r), TD_EPROTO);
    assert_int_equal(prow("2239500,100,2231800,100\n", 0, &r), TD_EPROTO);
}

static void test_event_mapping(void **state)
{
    (void)state;
    td_lobster_ctx_t ctx = { .sym = td_sym_intern("AMZN", 4), .exch = td_exch_intern("NASDAQ", 6),
                             .day_utc_ns = td_us_eastern_midnight_utc_ns(2012, 6, 21) };
    td_lobster_msg_t m;
    td_event_t ev;
    const int64_t t0 = ctx.day_utc_ns + 34200004241176LL;

    assert_true(pmsg("34200.004241176,1,11885113,21,2238100,1\n", &m) > 0);
    assert_int_equal(td_lobster_to_event(&m, &ctx, 7, &ev), TD_OK);
    assert_int_equal(ev.type, TD_EV_ORDER_ADD);
    assert_int_equal(ev.side, TD_BID);
    assert_int_equal(ev.sym, ctx.sym);
    assert_int_equal(ev.exch, ctx.exch);
    assert_int_equal(ev.src_seq, 7);
    assert_int_equal(ev.exch_ns, t0);
    assert_int_equal(ev.exch_ns, 1340285400004241176LL); /* 2012-06-21 09:30:00.004241176 EDT */
    assert_int_equal(ev.u.order.order_id, 11885113);
    assert_int_equal(ev.u.order.price, 22381000000LL); /* $223.81 */
    assert_int_equal(ev.u.order.qty, 2100000000LL);
    assert_int_equal(ev.flags, 0);

    assert_true(pmsg("34200.004241176,2,11885113,5,2238100,-1\n", &m) > 0);
    assert_int_equal(td_lobster_to_event(&m, &ctx, 8, &ev), TD_OK);
    assert_int_equal(ev.type, TD_EV_ORDER_CANCEL);
    assert_int_equal(ev.side, TD_ASK);
    assert_int_equal(ev.u.order.qty, 500000000LL);

    assert_true(pmsg("34200.004241176,3,11885113,16,2238100,-1\n", &m) > 0);
    assert_int_equal(td_lobster_to_event(&m, &ctx, 9, &ev), TD_OK);
    assert_int_equal(ev.type, TD_EV_ORDER_DELETE);
    assert_int_equal(ev.u.order.qty, 1600000000LL);
    assert_int_equal(ev.u.order.order_id, 11885113);

    /* visible execution of a resting sell: side = the resting order's side, price = its price */
    assert_true(pmsg("34200.004241176,4,11885113,16,2238100,-1\n", &m) > 0);
    assert_int_equal(td_lobster_to_event(&m, &ctx, 10, &ev), TD_OK);
    assert_int_equal(ev.type, TD_EV_ORDER_EXEC);
    assert_int_equal(ev.side, TD_ASK);
    assert_int_equal(ev.u.order.price, 22381000000LL);
    assert_int_equal(ev.flags & TD_EVF_NONPRINT, 0);

    /* hidden execution of a sell order: a buyer-initiated trade, book untouched */
    assert_true(pmsg("34200.017459617,5,0,1,2238200,-1\n", &m) > 0);
    assert_int_equal(td_lobster_to_event(&m, &ctx, 11, &ev), TD_OK);
    assert_int_equal(ev.type, TD_EV_TRADE);
    assert_int_equal(ev.flags, TD_EVF_HIDDEN);
    assert_int_equal(ev.side, TD_BID);
    assert_int_equal(ev.u.trade.price, 22382000000LL);
    assert_int_equal(ev.u.trade.qty, 100000000LL);
    assert_true(pmsg("34200.017459617,5,0,1,2238200,1\n", &m) > 0);
    assert_int_equal(td_lobster_to_event(&m, &ctx, 11, &ev), TD_OK);
    assert_int_equal(ev.side, TD_ASK);

    assert_true(pmsg("34200.017459617,6,0,500,2238200,1\n", &m) > 0);
    assert_int_equal(td_lobster_to_event(&m, &ctx, 12, &ev), TD_OK);
    assert_int_equal(ev.type, TD_EV_TRADE);
    assert_int_equal(ev.flags, TD_EVF_CROSS);
    assert_int_equal(ev.side, TD_SIDE_NONE);
    assert_int_equal(ev.u.trade.qty, 50000000000LL);

    const struct { const char *line; uint32_t state; char code; } st[] = {
        { "36023,7,0,0,-1,-1\n", TD_STATE_HALTED, 'H' },
        { "36323,7,0,0,0,-1\n", TD_STATE_QUOTATION, 'Q' },
        { "36723,7,0,0,1,-1\n", TD_STATE_TRADING, 'T' },
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(st); i++) {
        assert_true(pmsg(st[i].line, &m) > 0);
        assert_int_equal(td_lobster_to_event(&m, &ctx, 13, &ev), TD_OK);
        assert_int_equal(ev.type, TD_EV_STATUS);
        assert_int_equal(ev.u.status.state, st[i].state);
        assert_int_equal(ev.u.status.reason[0], st[i].code);
    }

    /* a price that parses but overflows the 1e8 scale */
    assert_true(pmsg("1,1,1,1,999999999999999999,1\n", &m) > 0);
    assert_int_equal(td_lobster_to_event(&m, &ctx, 1, &ev), TD_ERANGE);
}

static void test_dst(void **state)
{
    (void)state;
    const int64_t h = 3600LL * 1000000000LL;
    struct { int y, m, d; int dst; } cases[] = {
        { 2012, 6, 21, 1 }, { 2012, 12, 21, 0 }, { 2012, 3, 10, 0 }, { 2012, 3, 11, 0 }, /* midnight: before 2:00 */
        { 2012, 3, 12, 1 }, { 2012, 11, 3, 1 }, { 2012, 11, 4, 1 }, { 2012, 11, 5, 0 },
        { 2007, 3, 11, 0 }, { 2007, 3, 12, 1 }, { 2006, 3, 13, 0 }, { 2006, 4, 3, 1 },   /* 1987-2006 rule */
        { 2006, 10, 29, 1 }, { 2006, 10, 30, 0 }, { 2024, 3, 10, 0 }, { 2024, 3, 11, 1 },
        { 2024, 11, 3, 1 }, { 2024, 11, 4, 0 }, { 2024, 1, 1, 0 },
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(cases); i++) {
        int dst = td_us_eastern_is_dst(cases[i].y, cases[i].m, cases[i].d, 0);
        if (dst != cases[i].dst) fail_msg("%d-%02d-%02d dst=%d want %d", cases[i].y, cases[i].m, cases[i].d, dst, cases[i].dst);
        int64_t want = (td_days_from_civil(cases[i].y, cases[i].m, cases[i].d) * 86400LL) * 1000000000LL +
                       (cases[i].dst ? 4 : 5) * h;
        assert_int_equal(td_us_eastern_midnight_utc_ns(cases[i].y, cases[i].m, cases[i].d), want);
    }
    /* the switch itself happens at 02:00 local */
    assert_int_equal(td_us_eastern_is_dst(2012, 3, 11, 2 * 3600 - 1), 0);
    assert_int_equal(td_us_eastern_is_dst(2012, 3, 11, 2 * 3600), 1);
    assert_int_equal(td_us_eastern_is_dst(2012, 11, 4, 2 * 3600 - 1), 1);
    assert_int_equal(td_us_eastern_is_dst(2012, 11, 4, 2 * 3600), 0);
    /* known instants */
    assert_int_equal(td_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(td_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(td_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(td_us_eastern_midnight_utc_ns(2012, 6, 21), 1340251200LL * 1000000000LL);
    assert_int_equal(td_us_eastern_midnight_utc_ns(2012, 12, 21), 1356066000LL * 1000000000LL);
}

static void test_name_info(void **state)
{
    (void)state;
    char t[16];
    int y, m, d;
    assert_int_equal(td_lobster_name_info("/x/y/AMZN_" DAY "_message_1.csv", t, sizeof t, &y, &m, &d), TD_OK);
    assert_string_equal(t, "AMZN");
    assert_int_equal(y * 10000 + m * 100 + d, 20120621);
    assert_int_equal(td_lobster_name_info("GOOG_2012-06-21", t, sizeof t, &y, &m, &d), TD_OK);
    assert_int_equal(td_lobster_name_info("message.csv", t, sizeof t, &y, &m, &d), TD_EINVAL);
    assert_int_equal(td_lobster_name_info("_2012-06-21_x", t, sizeof t, &y, &m, &d), TD_EINVAL);
    assert_int_equal(td_lobster_name_info("AMZN_2012-13-21_x", t, sizeof t, &y, &m, &d), TD_EINVAL);
    assert_int_equal(td_lobster_name_info("AMZN_2012-06-2x_x", t, sizeof t, &y, &m, &d), TD_EINVAL);
    assert_int_equal(td_lobster_name_info("AMZN_2012-06-21x", t, sizeof t, &y, &m, &d), TD_EINVAL);
    assert_int_equal(td_lobster_name_info("ABCDEFGHIJKLMNOPQRSTUVWXYZ_2012-06-21", t, sizeof t, &y, &m, &d),
                     TD_EINVAL);
}

/* ---- the samples ---- */

static const struct sample {
    const char *ticker;
    int level;
    uint64_t rows;
    uint64_t types[6]; /* index 1..5 (SOURCE.md) */
} samples[] = {
    { "AMZN", 1, 57515, { 0, 27845, 16, 18235, 8974, 2445 } },
    { "AMZN", 5, 155935, { 0, 77381, 450, 66685, 8974, 2445 } },
    { "GOOG", 1, 49482, { 0, 24368, 7, 13429, 7765, 3913 } },
    { "GOOG", 5, 112673, { 0, 54907, 16, 46072, 7765, 3913 } },
    { "GOOG", 10, 147916, { 0, 71258, 19, 64961, 7765, 3913 } },
};

/* td_test_data_path() returns one static buffer: rotate copies so two paths can be used together */
static const char *sample_path(const struct sample *s, const char *kind)
{
    static char paths[4][4096];
    static int next;
    char rel[256];
    snprintf(rel, sizeof rel, "lobster/%s_" DAY "_%s_%d.csv", s->ticker, kind, s->level);
    char *out = paths[next++ % 4];
    snprintf(out, sizeof paths[0], "%s", td_test_data_path(rel));
    return out;
}

static int lobster_type(const td_event_t *ev)
{
    switch (ev->type) {
    case TD_EV_ORDER_ADD: return 1;
    case TD_EV_ORDER_CANCEL: return 2;
    case TD_EV_ORDER_DELETE: return 3;
    case TD_EV_ORDER_EXEC: return 4;
    case TD_EV_TRADE: return ev->flags & TD_EVF_HIDDEN ? 5 : 6;
    case TD_EV_STATUS: return 7;
    default: return 0;
    }
}

/* Every row of every message file through the source: type counts per SOURCE.md, sequence, clock. */
static void test_source_type_counts(void **state)
{
    (void)state;
    static td_event_t evs[512];
    for (size_t f = 0; f < TD_ARRAY_LEN(samples); f++) {
        char err[256];
        td_source_t *src = td_lobster_open(sample_path(&samples[f], "message"), err, sizeof err);
        if (!src) fail_msg("open: %s", err);
        assert_string_equal(src->kind, "lobster");
        uint64_t types[8] = { 0 }, seq = 0;
        int64_t last_ns = 0;
        const int64_t open_ns = td_us_eastern_midnight_utc_ns(2012, 6, 21) + 34200LL * 1000000000LL;
        const int64_t close_ns = open_ns + 23400LL * 1000000000LL;
        int n;
        while ((n = src->next(src, evs, TD_ARRAY_LEN(evs))) > 0) {
            for (int i = 0; i < n; i++) {
                TD_CHECK(evs[i].src_seq == ++seq, "%s_%d: seq %llu", samples[f].ticker, samples[f].level,
                         (unsigned long long)evs[i].src_seq);
                TD_CHECK(evs[i].exch_ns >= last_ns && evs[i].exch_ns >= open_ns && evs[i].exch_ns <= close_ns,
                         "row %llu time %lld", (unsigned long long)seq, (long long)evs[i].exch_ns);
                TD_CHECK(evs[i].sym == td_sym_lookup(samples[f].ticker, 4), "symbol");
                TD_CHECK(!strcmp(td_exch_name(evs[i].exch), "NASDAQ"), "exchange");
                last_ns = evs[i].exch_ns;
                types[lobster_type(&evs[i])]++;
            }
        }
        assert_int_equal(n, TD_EOF);
        assert_int_equal(src->next(src, evs, 4), TD_EOF);
        assert_int_equal(seq, samples[f].rows);
        assert_int_equal(atomic_load(&src->stats.bad), 0);
        assert_int_equal(atomic_load(&src->stats.messages), samples[f].rows);
        assert_int_equal(atomic_load(&src->stats.events), samples[f].rows);
        for (int t = 1; t <= 5; t++)
            if (types[t] != samples[f].types[t])
                fail_msg("%s_%d type %d: %llu, SOURCE.md says %llu", samples[f].ticker, samples[f].level, t,
                         (unsigned long long)types[t], (unsigned long long)samples[f].types[t]);
        assert_int_equal(types[0] + types[6] + types[7], 0);
        td_source_destroy(src);
    }
}

/* The seed: BOOK_CLEAR, snapshot adds (synthetic ids, plus message 1's own order under its real id),
 * RESYNC, then message 1. GOOG_10 starts with an execution of 4 from order 15818974 at 579.40 (bid);
 * row 1 shows 496 left at the best bid, so the pre-state has 500 there: 4 under the real id first. */
static void test_source_seed(void **state)
{
    (void)state;
    char args[1024], err[256];
    snprintf(args, sizeof args, "%s,", sample_path(&samples[4], "message"));
    strncat(args, sample_path(&samples[4], "orderbook"), sizeof args - strlen(args) - 1);
    td_source_t *src = td_lobster_open(args, err, sizeof err);
    if (!src) fail_msg("open: %s", err);
    static td_event_t evs[64];
    int n = src->next(src, evs, TD_ARRAY_LEN(evs));
    assert_int_equal(n, 64);
    assert_int_equal(evs[0].type, TD_EV_BOOK_CLEAR);
    /* 10 bid levels, one of them split in two orders, 10 ask levels */
    assert_int_equal(evs[22].type, TD_EV_RESYNC);
    assert_true(evs[22].flags & TD_EVF_SNAPSHOT);
    assert_int_equal(evs[1].type, TD_EV_ORDER_ADD);
    assert_int_equal(evs[1].side, TD_BID);
    assert_int_equal(evs[1].u.order.order_id, 15818974);
    assert_int_equal(evs[1].u.order.price, 57940000000LL);
    assert_int_equal(evs[1].u.order.qty, 400000000LL);
    assert_true(evs[2].u.order.order_id > TD_LOBSTER_SYNTH_ID_BASE);
    assert_int_equal(evs[2].u.order.price, 57940000000LL);
    assert_int_equal(evs[2].u.order.qty, 49600000000LL); /* 500 before, 4 of them order 15818974 */
    uint64_t last_id = 0;
    for (int i = 1; i < 22; i++) {
        assert_int_equal(evs[i].type, TD_EV_ORDER_ADD);
        assert_true(evs[i].flags & TD_EVF_SNAPSHOT);
        assert_int_equal(evs[i].src_seq, 0);
        if (i >= 2) {
            assert_true(evs[i].u.order.order_id > last_id); /* unique synthetic ids */
            last_id = evs[i].u.order.order_id;
        }
    }
    assert_int_equal(evs[12].side, TD_ASK);
    assert_int_equal(evs[12].u.order.price, 58023000000LL);
    assert_int_equal(evs[23].type, TD_EV_ORDER_EXEC);
    assert_int_equal(evs[23].src_seq, 1);
    assert_int_equal(evs[23].u.order.order_id, 15818974);
    td_source_destroy(src);

    /* AMZN_1 starts with a hidden execution: row 1 is the pre-state, one level a side */
    snprintf(args, sizeof args, "%s,", sample_path(&samples[0], "message"));
    strncat(args, sample_path(&samples[0], "orderbook"), sizeof args - strlen(args) - 1);
    strncat(args, ",symbol=amzn.x,date=2012-12-21", sizeof args - strlen(args) - 1);
    src = td_lobster_open(args, err, sizeof err);
    if (!src) fail_msg("open: %s", err);
    n = src->next(src, evs, 5);
    assert_int_equal(n, 5);
    assert_int_equal(evs[0].type, TD_EV_BOOK_CLEAR);
    assert_int_equal(evs[1].u.order.price, 22318000000LL);
    assert_int_equal(evs[2].u.order.price, 22395000000LL);
    assert_int_equal(evs[3].type, TD_EV_RESYNC);
    assert_int_equal(evs[4].type, TD_EV_TRADE);
    assert_string_equal(td_sym_name(evs[4].sym), "AMZN.X");
    /* date override: EST on 2012-12-21 */
    assert_int_equal(evs[4].exch_ns, td_us_eastern_midnight_utc_ns(2012, 12, 21) + 34200017459617LL);
    td_source_destroy(src);

    assert_null(td_lobster_open("/nonexistent/AMZN_2012-06-21_x_message_1.csv", err, sizeof err));
    assert_null(td_lobster_open("/tmp/message.csv", err, sizeof err)); /* no symbol/date */
    assert_null(td_lobster_open("", err, sizeof err));
}

static char tmpdir[256];

static const char *write_tmp(const char *name, const char *text, size_t len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/td_lobster_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Malformed rows are skipped and counted; a last line without a newline still counts. */
static void test_source_bad_lines(void **state)
{
    (void)state;
    const char text[] = "34200.1,1,1,100,2238100,1\n"
                        "garbage\n"
                        "34200.2,9,1,100,2238100,1\n"
                        "\n"
                        "34200.3,3,1,100,2238100,1\n"
                        "34200.4,5,0,1,2238200,-1";
    const char *path = write_tmp("TEST_2012-06-21_x_message_1.csv", text, sizeof text - 1);
    char err[256];
    td_source_t *src = td_lobster_open(path, err, sizeof err);
    if (!src) fail_msg("open: %s", err);
    td_event_t evs[8];
    int n = src->next(src, evs, 8);
    assert_int_equal(n, 3);
    assert_int_equal(evs[0].src_seq, 1);
    assert_int_equal(evs[1].src_seq, 5);
    assert_int_equal(evs[1].type, TD_EV_ORDER_DELETE);
    assert_int_equal(evs[2].src_seq, 6);
    assert_int_equal(evs[2].type, TD_EV_TRADE);
    assert_int_equal(src->next(src, evs, 8), TD_EOF);
    assert_int_equal(atomic_load(&src->stats.bad), 3);
    assert_int_equal(atomic_load(&src->stats.messages), 6);
    assert_int_equal(atomic_load(&src->stats.bytes), sizeof text - 1);
    td_source_destroy(src);

    /* an empty file is simply exhausted */
    path = write_tmp("TEST_2012-06-21_x_message_2.csv", "", 0);
    src = td_lobster_open(path, err, sizeof err);
    assert_non_null(src);
    assert_int_equal(src->next(src, evs, 8), TD_EOF);
    td_source_destroy(src);
}

static void verify_ok(const struct sample *s)
{
    static td_lobster_verify_stats_t st;
    int rc = td_lobster_verify(sample_path(s, "message"), sample_path(s, "orderbook"), &st, NULL);
    if (rc != TD_OK) fail_msg("%s_%d: %d: %s", s->ticker, s->level, rc, st.mismatch);
    assert_int_equal(st.rows, s->rows);
    assert_int_equal(st.matched, s->rows);
    assert_int_equal(st.messages, s->rows);
    assert_int_equal(st.bad_lines, 0);
    for (int t = 1; t <= 5; t++) assert_int_equal(st.type_count[t], s->types[t]);
    print_message("%s_%d: matched %llu of %llu rows (seeded %llu levels; %llu unknown-order reductions; "
                  "%llu levels exposed, %llu learned, %llu stale)\n",
                  s->ticker, s->level, (unsigned long long)st.matched, (unsigned long long)st.rows,
                  (unsigned long long)st.seeded_levels, (unsigned long long)st.unknown_reductions,
                  (unsigned long long)st.exposed_levels, (unsigned long long)st.learned_levels,
                  (unsigned long long)st.stale_levels);
}

/* The golden replay: every row of every sample pair (the same check under sanitizers: it takes seconds). */
static void test_golden_replay(void **state)
{
    (void)state;
    for (size_t f = 0; f < TD_ARRAY_LEN(samples); f++) verify_ok(&samples[f]);
}

/* Compares the book's top N with an orderbook row (tickd units vs LOBSTER units); returns 1 if equal. */
static int book_equals_row(const td_obook_t *b, const td_lobster_row_t *row)
{
    td_level_t lv[TD_LOBSTER_MAX_LEVELS];
    for (int side = TD_BID; side <= TD_ASK; side++) {
        const td_lobster_level_t *want = side == TD_BID ? row->bid : row->ask;
        uint32_t nwant = side == TD_BID ? row->nbid : row->nask;
        size_t n = td_lbook_depth(td_obook_levels(b), side, lv, row->nlevels);
        if (n != nwant) return 0;
        for (size_t k = 0; k < n; k++)
            if (lv[k].price != want[k].price * 10000 || lv[k].qty != want[k].size * 100000000LL) return 0;
    }
    return 1;
}

/* Feeds the reconcile-mode stream of a pair into a plain order book, as the engine would, and checks it
 * equals every row; returns the number of corrective events (events after the first of each row). */
static uint64_t check_reconciled(const char *mpath, const char *bpath, uint64_t want_rows)
{
    static td_event_t evs[512];
    static td_lobster_row_t row;
    char args[2048], err[256];
    snprintf(args, sizeof args, "%s,%s", mpath, bpath);
    td_source_t *src = td_lobster_open(args, err, sizeof err);
    if (!src) fail_msg("open: %s", err);
    FILE *bf = fopen(bpath, "rb");
    assert_non_null(bf);
    char line[8192];
    td_obook_t *book = td_obook_create();
    uint64_t cur = 0, rows = 0, fixes = 0, in_group = 0;
    td_order_info_t info;
    for (;;) {
        int n = src->next(src, evs, TD_ARRAY_LEN(evs));
        int eof = n == TD_EOF;
        assert_true(eof || n > 0);
        for (int i = 0; i <= (eof ? 0 : n - 1); i++) {
            if (eof || evs[i].src_seq != cur) { /* row `cur` is complete */
                if (cur > 0) {
                    assert_non_null(fgets(line, sizeof line, bf));
                    assert_true(td_lobster_parse_row(line, strlen(line), TD_LOBSTER_MAX_LEVELS, &row) > 0);
                    rows++;
                    TD_CHECK(book_equals_row(book, &row), "%s: row %llu differs", mpath, (unsigned long long)cur);
                }
                if (eof) break;
                cur = evs[i].src_seq;
                in_group = 0;
            }
            const td_event_t *ev = &evs[i];
            fixes += cur > 0 && in_group++ > 0;
            switch (ev->type) {
            case TD_EV_BOOK_CLEAR: td_obook_clear(book); break;
            case TD_EV_ORDER_ADD: td_obook_add(book, ev->u.order.order_id, ev->side, ev->u.order.price, ev->u.order.qty); break;
            case TD_EV_ORDER_EXEC: td_obook_exec(book, ev->u.order.order_id, ev->u.order.qty, &info); break;
            case TD_EV_ORDER_CANCEL: td_obook_cancel(book, ev->u.order.order_id, ev->u.order.qty, &info); break;
            case TD_EV_ORDER_DELETE: td_obook_delete(book, ev->u.order.order_id, &info); break;
            default: break;
            }
        }
        if (eof) break;
    }
    assert_int_equal(rows, want_rows);
    assert_int_equal(atomic_load(&src->stats.messages), want_rows);
    fclose(bf);
    td_obook_destroy(book);
    td_source_destroy(src);
    return fixes;
}

/* Reconcile mode (the default with an orderbook file): a plain order book fed the source's events, as
 * the engine is, equals the file's top N after every message of every sample. */
static void test_source_reconcile(void **state)
{
    (void)state;
    for (size_t f = 0; f < TD_ARRAY_LEN(samples); f++) {
        if (td_test_sanitized() && f != 0 && f != 4) continue; /* AMZN_1 and GOOG_10 are enough there */
        char mpath[4096];
        snprintf(mpath, sizeof mpath, "%s", sample_path(&samples[f], "message"));
        uint64_t fixes = check_reconciled(mpath, sample_path(&samples[f], "orderbook"), samples[f].rows);
        print_message("%s_%d: reconciled stream matches all %llu rows (%llu corrective events)\n", samples[f].ticker,
                      samples[f].level, (unsigned long long)samples[f].rows, (unsigned long long)fixes);
    }
}

/* Reads the first `lines` lines of a sample file into a malloc'd buffer. */
static char *head_lines(const char *path, size_t lines, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    int c;
    while (lines > 0 && (c = fgetc(f)) != EOF) {
        if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
        buf[n++] = (char)c;
        if (c == '\n') lines--;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Offset of the start of 1-based line `line`. */
static size_t line_start(const char *buf, size_t len, size_t line)
{
    size_t off = 0;
    for (size_t l = 1; l < line && off < len; off++)
        if (buf[off] == '\n') l++;
    return off;
}

/* A verifier that learned from the file wholesale would accept anything: corrupt one message (or one
 * orderbook row) of a prefix of GOOG_5 and it must fail at exactly that row. */
static void test_verify_detects_corruption(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    const size_t lines = td_test_sanitized() ? 3000 : 8000;
    size_t mlen, blen;
    char *msg = head_lines(sample_path(&samples[3], "message"), lines, &mlen);
    char *book = head_lines(sample_path(&samples[3], "orderbook"), lines, &blen);
    static td_lobster_verify_stats_t st;
    char mpath[512], bpath[512];
    snprintf(bpath, sizeof bpath, "%s", write_tmp("GOOG_2012-06-21_x_orderbook_5.csv", book, blen));
    snprintf(mpath, sizeof mpath, "%s", write_tmp("GOOG_2012-06-21_x_message_5.csv", msg, mlen));
    /* the untouched prefix matches */
    int rc = td_lobster_verify(mpath, bpath, &st, NULL);
    if (rc != TD_OK) fail_msg("prefix: %s", st.mismatch);
    assert_int_equal(st.matched, lines);

    const int trials = td_test_sanitized() ? 12 : 40;
    for (int trial = 0; trial < trials; trial++) {
        char *m2 = malloc(mlen + 64);
        size_t row, m2len;
        td_lobster_msg_t m;
        const char *what;
        for (;;) { /* a row that changes the visible book (types 1-4) */
            row = 2 + td_rng_below(&rng, lines - 1);
            size_t off = line_start(msg, mlen, row);
            assert_true(td_lobster_parse_msg(msg + off, mlen - off, &m) > 0);
            if (m.type >= 1 && m.type <= 4) break;
        }
        size_t off = line_start(msg, mlen, row), end = line_start(msg, mlen, row + 1);
        int how = (int)td_rng_below(&rng, 3);
        if (how == 0) { m.size += 1 + (int64_t)td_rng_below(&rng, 3); what = "size"; }
        else if (how == 1) { m.price += m.direction * 100; what = "price"; }
        else { m.type = (int8_t)(m.type == 1 ? 3 : 1); what = "type"; }
        char line[160];
        int ln = snprintf(line, sizeof line, "%lld.%09lld,%d,%llu,%lld,%lld,%d\n", (long long)(m.time_ns / 1000000000),
                          (long long)(m.time_ns % 1000000000), m.type, (unsigned long long)m.order_id,
                          (long long)m.size, (long long)m.price, m.direction);
        memcpy(m2, msg, off);
        memcpy(m2 + off, line, (size_t)ln);
        memcpy(m2 + off + ln, msg + end, mlen - end);
        m2len = off + (size_t)ln + (mlen - end);
        snprintf(mpath, sizeof mpath, "%s", write_tmp("GOOG_2012-06-21_x_message_5.csv", m2, m2len));
        rc = td_lobster_verify(mpath, bpath, &st, NULL);
        TD_CHECK(rc == TD_EPROTO && st.mismatch_row == row, "%s of row %zu corrupted: rc=%d at row %llu (%.300s)",
                 what, row, rc, (unsigned long long)st.mismatch_row, st.mismatch);
        free(m2);
    }
    snprintf(mpath, sizeof mpath, "%s", write_tmp("GOOG_2012-06-21_x_message_5.csv", msg, mlen));

    /* an orderbook row that disagrees in one size */
    for (int trial = 0; trial < 5; trial++) {
        size_t row = 2 + td_rng_below(&rng, lines - 1);
        size_t off = line_start(book, blen, row);
        char *b2 = malloc(blen + 8);
        memcpy(b2, book, blen);
        char *p = memchr(b2 + off, ',', blen - off); /* the ask size of level 1 */
        assert_non_null(p);
        p[1] = p[1] == '9' ? '8' : (char)(p[1] + 1);
        snprintf(bpath, sizeof bpath, "%s", write_tmp("GOOG_2012-06-21_x_orderbook_5.csv", b2, blen));
        rc = td_lobster_verify(mpath, bpath, &st, NULL);
        TD_CHECK(rc == TD_EPROTO && st.mismatch_row == row, "orderbook row %zu corrupted: rc=%d at row %llu", row,
                 rc, (unsigned long long)st.mismatch_row);
        free(b2);
    }
    /* row-count disagreements */
    snprintf(bpath, sizeof bpath, "%s", write_tmp("GOOG_2012-06-21_x_orderbook_5.csv", book, line_start(book, blen, lines)));
    assert_int_equal(td_lobster_verify(mpath, bpath, &st, NULL), TD_EPROTO);
    assert_int_equal(st.matched, lines - 1);
    free(msg);
    free(book);
}

/* Writes a message/orderbook pair into the temp dir and verifies it. */
static int verify_text(const char *msgs, const char *rows, td_lobster_verify_stats_t *st)
{
    char mpath[512], bpath[512];
    snprintf(mpath, sizeof mpath, "%s", write_tmp("TEST_2012-06-21_x_message_2.csv", msgs, strlen(msgs)));
    snprintf(bpath, sizeof bpath, "%s", write_tmp("TEST_2012-06-21_x_orderbook_2.csv", rows, strlen(rows)));
    return td_lobster_verify(mpath, bpath, st, NULL);
}

/* What the samples lack: empty-level sentinels, halts (type 7 rows repeat the previous book), cross and
 * hidden trades, a side emptied entirely, and a level entering a 2-level window from below. */
static void test_verify_synthetic(void **state)
{
    (void)state;
    static td_lobster_verify_stats_t st;
    const char *msgs =
        "34200.1,1,10,30,990000,1\n"          /* 1 bid 99.00 x 30 under the seeded 100.00 x 50 */
        "34200.2,1,11,40,1020000,-1\n"        /* 2 ask 102.00 x 40 */
        "34200.3,7,0,0,-1,-1\n"               /* 3 halt */
        "34200.4,3,5,50,1000000,1\n"          /* 4 delete of an order from before the file: 100.00 gone */
        "34200.5,7,0,0,0,-1\n"                /* 5 quote resume */
        "34200.6,7,0,0,1,-1\n"                /* 6 trading resume */
        "34200.7,6,0,500,1005000,1\n"         /* 7 cross trade */
        "34200.8,5,0,7,1005000,-1\n"          /* 8 hidden execution */
        "34200.9,3,11,40,1020000,-1\n"        /* 9 ask 102.00 gone */
        "34201,4,7,100,1010000,-1\n"          /* 10 execution of an unknown sell: the ask side is empty */
        "34201.1,1,12,10,1030000,-1\n"        /* 11 a new ask */
        "34201.2,1,13,20,1040000,-1\n"        /* 12 a second ask: the side is full (2 levels) */
        "34201.3,1,14,5,1050000,-1\n"         /* 13 an ask outside the window */
        "34201.4,3,12,10,1030000,-1\n";       /* 14 103.00 gone: 105.00 x 5 enters from below */
    const char *rows =
        "1010000,100,1000000,50,9999999999,0,990000,30\n"
        "1010000,100,1000000,50,1020000,40,990000,30\n"
        "1010000,100,1000000,50,1020000,40,990000,30\n"
        "1010000,100,990000,30,1020000,40,-9999999999,0\n"
        "1010000,100,990000,30,1020000,40,-9999999999,0\n"
        "1010000,100,990000,30,1020000,40,-9999999999,0\n"
        "1010000,100,990000,30,1020000,40,-9999999999,0\n"
        "1010000,100,990000,30,1020000,40,-9999999999,0\n"
        "1010000,100,990000,30,9999999999,0,-9999999999,0\n"
        "9999999999,0,990000,30,9999999999,0,-9999999999,0\n"
        "1030000,10,990000,30,9999999999,0,-9999999999,0\n"
        "1030000,10,990000,30,1040000,20,-9999999999,0\n"
        "1030000,10,990000,30,1040000,20,-9999999999,0\n"
        "1040000,20,990000,30,1050000,5,-9999999999,0\n";
    int rc = verify_text(msgs, rows, &st);
    if (rc != TD_OK) fail_msg("%s", st.mismatch);
    assert_int_equal(st.matched, 14);
    assert_int_equal(st.type_count[7], 3);
    assert_int_equal(st.type_count[6], 1);
    assert_int_equal(st.type_count[5], 1);
    assert_int_equal(st.unknown_reductions, 2);
    assert_int_equal(st.exposed_levels, 1); /* 105.00 at row 14 */
    assert_int_equal(st.learned_levels, 0); /* ... and we had seen its add */

    char mpath[512], bpath[512];
    snprintf(mpath, sizeof mpath, "%s/TEST_2012-06-21_x_message_2.csv", tmpdir);
    snprintf(bpath, sizeof bpath, "%s/TEST_2012-06-21_x_orderbook_2.csv", tmpdir);
    assert_int_equal(check_reconciled(mpath, bpath, 14), 2); /* cuts at 100.00 (row 4), 101.00 (row 10) */

    /* 105.00 arrives unannounced (no message 13): legitimately learned, since it was below the window */
    char *m2 = td_strdup(msgs), *r2 = td_strdup(rows);
    char *p = strstr(m2, "34201.3,1,14,5,1050000,-1");
    memcpy(p, "34201.3,5,0,5,1050000,-1", 24), memmove(p + 24, p + 25, strlen(p + 25) + 1);
    rc = verify_text(m2, rows, &st);
    if (rc != TD_OK) fail_msg("%s", st.mismatch);
    assert_int_equal(st.learned_levels, 1);
    assert_int_equal(check_reconciled(mpath, bpath, 14), 3); /* + the add of 105.00 x 5 at row 14 */
    td_free(m2);

    /* ... but a level appearing inside the window without a message fails: row 11 shows a second ask while
     * row 10 showed the whole (empty) ask side */
    p = strstr(r2, "1030000,10,990000,30,9999999999,0,-9999999999,0\n");
    memcpy(p, "1030000,10,990000,30,1040000,20,-9999999999,0\n", 47);
    assert_int_equal(verify_text(msgs, r2, &st), TD_EPROTO);
    assert_int_equal(st.mismatch_row, 11);
    td_free(r2);

    /* a halt row that does not repeat the previous book fails */
    r2 = td_strdup(rows);
    p = strstr(r2, "1010000,100,1000000,50,1020000,40,990000,30\n1010000,100,1000000,50,1020000,40,990000,30\n");
    p = strchr(p, '\n') + 1;
    memcpy(p, "1010000,100,1000000,51", 22);
    assert_int_equal(verify_text(msgs, r2, &st), TD_EPROTO);
    assert_int_equal(st.mismatch_row, 3);
    td_free(r2);

    /* a malformed message row is a verification failure, not a silent skip */
    m2 = td_strdup(msgs);
    p = strstr(m2, "34200.9,3,11");
    p[8] = 'x';
    assert_int_equal(verify_text(m2, rows, &st), TD_EPROTO);
    assert_int_equal(st.mismatch_row, 9);
    assert_int_equal(st.bad_lines, 1);
    td_free(m2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),         cmocka_unit_test(test_parse_msg),
        cmocka_unit_test(test_parse_row),          cmocka_unit_test(test_event_mapping),
        cmocka_unit_test(test_dst),                cmocka_unit_test(test_name_info),
        cmocka_unit_test(test_source_type_counts), cmocka_unit_test(test_source_seed),
        cmocka_unit_test(test_source_bad_lines),   cmocka_unit_test(test_golden_replay),
        cmocka_unit_test(test_verify_detects_corruption), cmocka_unit_test(test_verify_synthetic),
        cmocka_unit_test(test_source_reconcile),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
