/* test_coinbase.c: Coinbase legacy messages (unit and on the recording) and hand-made Advanced Trade
 * messages (shapes from Coinbase's Advanced Trade WebSocket docs): snapshots, updates, sequence_num gaps
 * and their repair, trades, tickers, and rejected input. */
#include "testutil.h"
#include "feed_testutil.h"

#include <string.h>

#include "core/common.h"
#include "core/decimal.h"
#include "core/event.h"
#include "core/symbols.h"
#include "feed/coinbase.h"
#include "feed/recording.h"



static int handle(td_cb_feed_t *f, const char *s, evlog_t *log, td_cb_kind_t *kind)
{
    return td_cb_handle(f, s, strlen(s), 77, collect, log, kind);
}

static void test_legacy_messages(void **state)
{
    (void)state;
    uint8_t ex = td_exch_intern("COINBASE", 8);
    td_cb_feed_t *f = td_cb_create(ex);
    evlog_t log = { 0 };
    td_cb_kind_t kind;
    uint32_t band = td_sym_intern("BAND-GBP", 8);

    /* l2update before any snapshot: nothing to apply it to */
    const char *up = "{\"type\":\"l2update\",\"product_id\":\"BAND-GBP\",\"changes\":[[\"sell\",\"14.8024\",\"0\"]],"
                     "\"time\":\"2021-04-17T16:43:37.075687Z\"}";
    assert_int_equal(handle(f, up, &log, &kind), (int)strlen(up));
    assert_int_equal(kind, TD_CB_L2UPDATE);
    assert_int_equal(log.n, 0);
    assert_int_equal(td_cb_product(f, band)->unsynced, 1);

    const char *snap = "{\"type\":\"snapshot\",\"product_id\":\"BAND-GBP\",\"asks\":[[\"14.8024\",\"12.77\"],"
                       "[\"14.8069\",\"12.49\"]],\"bids\":[[\"14.7550\",\"3.5\"]]}";
    assert_true(handle(f, snap, &log, &kind) > 0);
    assert_int_equal(kind, TD_CB_SNAPSHOT);
    assert_int_equal(log.n, 5);
    assert_int_equal(log.ev[0].type, TD_EV_BOOK_CLEAR);
    assert_true(log.ev[1].type == TD_EV_LEVEL_SET && log.ev[1].flags == TD_EVF_SNAPSHOT && log.ev[1].side == TD_BID);
    assert_true(log.ev[2].side == TD_ASK && log.ev[2].u.level.price == dec("14.8024") && log.ev[2].u.level.qty == dec("12.77"));
    assert_int_equal(log.ev[4].type, TD_EV_RESYNC);
    assert_true(log.ev[0].sym == band && log.ev[0].exch == ex && log.ev[0].recv_ns == 77);
    assert_true(td_cb_product(f, band)->synced);

    log.n = 0;
    const char *up2 = "{\"type\":\"l2update\",\"product_id\":\"BAND-GBP\",\"changes\":[[\"sell\",\"14.8024\",\"0.0\"],"
                      "[\"buy\",\"14.7600\",\"1.25\"]],\"time\":\"2021-04-17T16:43:37.075687Z\"}";
    assert_true(handle(f, up2, &log, &kind) > 0);
    assert_int_equal(log.n, 2);
    assert_true(log.ev[0].type == TD_EV_LEVEL_DEL && log.ev[0].side == TD_ASK && log.ev[0].flags == 0);
    assert_true(log.ev[1].type == TD_EV_LEVEL_SET && log.ev[1].side == TD_BID && log.ev[1].u.level.qty == dec("1.25"));
    assert_true(log.ev[0].exch_ns == 1618677817075687000LL);
    assert_int_equal(td_cb_product(f, band)->applied, 1);

    /* match: "side" is the maker's, so a sell maker means a buy aggressor */
    log.n = 0;
    const char *match = "{\"type\":\"match\",\"trade_id\":280232,\"maker_order_id\":\"2a0d\",\"taker_order_id\":\"3c82\","
                        "\"side\":\"sell\",\"size\":\"985\",\"price\":\"0.00001305\",\"product_id\":\"SKL-BTC\","
                        "\"sequence\":177100030,\"time\":\"2021-04-17T16:43:37.089723Z\"}";
    assert_true(handle(f, match, &log, &kind) > 0);
    assert_int_equal(kind, TD_CB_MATCH);
    assert_int_equal(log.n, 1);
    assert_true(log.ev[0].type == TD_EV_TRADE && log.ev[0].side == TD_BID && log.ev[0].src_seq == 177100030);
    assert_true(log.ev[0].u.trade.trade_id == 280232 && log.ev[0].u.trade.price == 1305 && log.ev[0].u.trade.qty == dec("985"));

    /* ticker: a quote without sizes (qty 0 = unknown here, see coinbase.h) */
    log.n = 0;
    const char *tick = "{\"type\":\"ticker\",\"sequence\":333938798,\"product_id\":\"BAND-GBP\",\"price\":\"14.7775\","
                       "\"best_bid\":\"14.7550\",\"best_ask\":\"14.8060\",\"side\":\"buy\","
                       "\"time\":\"2021-04-17T16:43:30.244075Z\",\"trade_id\":881613,\"last_size\":\"0.04\"}";
    assert_true(handle(f, tick, &log, &kind) > 0);
    assert_int_equal(kind, TD_CB_TICKER);
    assert_true(log.ev[0].type == TD_EV_QUOTE && log.ev[0].u.quote.bid_px == dec("14.755") &&
                log.ev[0].u.quote.ask_px == dec("14.806") && log.ev[0].u.quote.bid_qty == 0 &&
                log.ev[0].src_seq == 333938798);
    /* an older sequence is counted as going backwards, not as a gap */
    const char *old = "{\"type\":\"ticker\",\"sequence\":333938000,\"product_id\":\"BAND-GBP\",\"best_bid\":\"1\","
                      "\"best_ask\":\"2\",\"best_bid_size\":\"3\",\"best_ask_size\":\"4\"}";
    assert_true(handle(f, old, &log, &kind) > 0);
    assert_int_equal(td_cb_product(f, band)->seq_backwards, 1);
    assert_true(log.ev[1].u.quote.bid_qty == dec("3") && log.ev[1].u.quote.ask_qty == dec("4"));
    assert_int_equal(count_type(&log, TD_EV_GAP), 0);

    /* recognized, no events */
    log.n = 0;
    assert_true(handle(f, "{\"type\":\"subscriptions\",\"channels\":[]}", &log, &kind) > 0);
    assert_int_equal(kind, TD_CB_SUBSCRIPTIONS);
    assert_true(handle(f, "{\"type\":\"heartbeat\",\"sequence\":1}", &log, &kind) > 0);
    assert_int_equal(kind, TD_CB_HEARTBEAT);
    assert_true(handle(f, "{\"type\":\"received\",\"x\":1}", &log, &kind) > 0);
    assert_int_equal(kind, TD_CB_UNKNOWN);
    assert_int_equal(log.n, 0);

    /* rejected, and a rejected message applies nothing (the valid first change is not emitted) */
    const char *bad[] = {
        "{\"type\":\"l2update\",\"product_id\":\"BAND-GBP\",\"changes\":[[\"buy\",\"1\",\"1\"],[\"buy\",\"1\",\"-1\"]]}",
        "{\"type\":\"l2update\",\"product_id\":\"BAND-GBP\",\"changes\":[[\"buy\",\"1\",\"1\"],[\"up\",\"1\",\"1\"]]}",
        "{\"type\":\"l2update\",\"product_id\":\"BAND-GBP\",\"changes\":[[\"buy\",\"92233720369\",\"1\"]]}",
        "{\"type\":\"l2update\",\"product_id\":\"BAND-GBP\",\"changes\":[[\"buy\",\"0\",\"1\"]]}",
        "{\"type\":\"l2update\",\"product_id\":\"BAND-GBP\",\"changes\":[[\"buy\",\"1\"]]}",
        "{\"type\":\"l2update\",\"product_id\":\"BAND-GBP\",\"changes\":{}}",
        "{\"type\":\"l2update\",\"changes\":[]}",
        "{\"type\":\"l2update\",\"product_id\":\"BAND-GBP\",\"changes\":[],\"time\":\"yesterday\"}",
        "{\"type\":\"snapshot\",\"product_id\":\"BAND-GBP\",\"bids\":[[\"1\",\"x\"]],\"asks\":[]}",
        "{\"type\":\"snapshot\",\"product_id\":\"BAND-GBP\",\"bids\":[]}",
        "{\"type\":\"match\",\"trade_id\":1,\"side\":\"sell\",\"size\":\"0\",\"price\":\"1\",\"product_id\":\"A-B\"}",
        "{\"type\":\"match\",\"trade_id\":-1,\"side\":\"sell\",\"size\":\"1\",\"price\":\"1\",\"product_id\":\"A-B\"}",
        "{\"type\":\"ticker\",\"product_id\":\"A-B\",\"best_bid\":\"1\"}",
        "{\"type\":7}",
        "{\"type\":\"snapshot\",\"product_id\":\"BAND-GBP\",\"bids\":[[\"1\",\"1\"]],\"asks\":[",
        "not json",
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(bad); i++) {
        int rc = handle(f, bad[i], &log, &kind);
        if (rc != TD_EPROTO) fail_msg("accepted (%d): %s", rc, bad[i]);
        assert_true(td_cb_error(f)[0] != '\0');
    }
    assert_int_equal(log.n, 0);
    td_cb_destroy(f);
    td_free(log.ev);
}

/* Advanced Trade, hand-made from the documented shapes. */
static const char *AT_SNAP =
    "{\"channel\":\"l2_data\",\"client_id\":\"\",\"timestamp\":\"2023-02-09T20:32:50.714964855Z\",\"sequence_num\":0,"
    "\"events\":[{\"type\":\"snapshot\",\"product_id\":\"BTC-USD\",\"updates\":["
    "{\"side\":\"bid\",\"event_time\":\"1970-01-01T00:00:00Z\",\"price_level\":\"21921.73\",\"new_quantity\":\"0.06317902\"},"
    "{\"side\":\"bid\",\"event_time\":\"1970-01-01T00:00:00Z\",\"price_level\":\"21921.3\",\"new_quantity\":\"0.02\"},"
    "{\"side\":\"offer\",\"event_time\":\"1970-01-01T00:00:00Z\",\"price_level\":\"21921.74\",\"new_quantity\":\"0.0005\"}]}]}";
static const char *AT_UPDATE_FMT =
    "{\"channel\":\"l2_data\",\"client_id\":\"\",\"timestamp\":\"2023-02-09T20:32:51.000000001Z\",\"sequence_num\":%d,"
    "\"events\":[{\"type\":\"update\",\"product_id\":\"BTC-USD\",\"updates\":["
    "{\"side\":\"bid\",\"event_time\":\"2023-02-09T20:32:50.714964855Z\",\"price_level\":\"21921.73\",\"new_quantity\":\"0\"},"
    "{\"side\":\"offer\",\"event_time\":\"2023-02-09T20:32:50.714964855Z\",\"price_level\":\"21922\",\"new_quantity\":\"1.5\"}]}]}";

static void test_advanced_trade(void **state)
{
    (void)state;
    uint8_t ex = td_exch_intern("COINBASE", 8);
    td_cb_feed_t *f = td_cb_create(ex);
    evlog_t log = { 0 };
    td_cb_kind_t kind;
    uint32_t btc = td_sym_intern("BTC-USD", 7);
    char buf[1024];

    assert_true(handle(f, AT_SNAP, &log, &kind) > 0);
    assert_int_equal(kind, TD_CB_AT_L2);
    assert_int_equal(log.n, 5);
    assert_int_equal(log.ev[0].type, TD_EV_BOOK_CLEAR);
    assert_true(log.ev[3].side == TD_ASK && log.ev[3].u.level.price == dec("21921.74") && (log.ev[3].flags & TD_EVF_SNAPSHOT));
    assert_int_equal(log.ev[4].type, TD_EV_RESYNC);
    assert_true(log.ev[0].exch_ns == 1675974770714964855LL && log.ev[0].sym == btc);

    log.n = 0;
    snprintf(buf, sizeof buf, AT_UPDATE_FMT, 1);
    assert_true(handle(f, buf, &log, &kind) > 0);
    assert_int_equal(log.n, 2);
    assert_true(log.ev[0].type == TD_EV_LEVEL_DEL && log.ev[0].side == TD_BID && log.ev[0].flags == 0);
    assert_true(log.ev[1].type == TD_EV_LEVEL_SET && log.ev[1].side == TD_ASK && log.ev[1].u.level.qty == dec("1.5"));

    /* market_trades: BUY taken as the maker's side -> the aggressor sold (CB_AT_SIDE_IS_MAKER) */
    log.n = 0;
    const char *trades =
        "{\"channel\":\"market_trades\",\"client_id\":\"\",\"timestamp\":\"2023-02-09T20:19:35.39625135Z\",\"sequence_num\":2,"
        "\"events\":[{\"type\":\"snapshot\",\"trades\":[{\"trade_id\":\"000000000\",\"product_id\":\"ETH-USD\","
        "\"price\":\"1260.01\",\"size\":\"0.3\",\"side\":\"BUY\",\"time\":\"2019-08-14T20:42:27.265Z\"},"
        "{\"trade_id\":\"12345\",\"product_id\":\"ETH-USD\",\"price\":\"1260.02\",\"size\":\"1\",\"side\":\"SELL\","
        "\"time\":\"2019-08-14T20:42:27.266Z\"}]}]}";
    assert_true(handle(f, trades, &log, &kind) > 0);
    assert_int_equal(kind, TD_CB_AT_TRADES);
    assert_int_equal(log.n, 2);
    assert_true(log.ev[0].type == TD_EV_TRADE && log.ev[0].side == TD_ASK && log.ev[0].u.trade.price == dec("1260.01"));
    assert_true(log.ev[1].side == TD_BID && log.ev[1].u.trade.trade_id == 12345);
    assert_true(log.ev[0].exch_ns == 1565815347265000000LL);

    log.n = 0;
    const char *ticker =
        "{\"channel\":\"ticker\",\"client_id\":\"\",\"timestamp\":\"2023-02-09T20:30:37.167359596Z\",\"sequence_num\":3,"
        "\"events\":[{\"type\":\"snapshot\",\"tickers\":[{\"type\":\"ticker\",\"product_id\":\"BTC-USD\",\"price\":\"21932.98\","
        "\"volume_24_h\":\"16038.28770938\",\"low_24_h\":\"21835.29\",\"high_24_h\":\"23011.18\",\"low_52_w\":\"15460\","
        "\"high_52_w\":\"48240\",\"price_percent_chg_24_h\":\"-4.15775596190603\",\"best_bid\":\"21931.98\","
        "\"best_bid_quantity\":\"0.01\",\"best_ask\":\"21933.98\",\"best_ask_quantity\":\"0.02\"}]}]}";
    assert_true(handle(f, ticker, &log, &kind) > 0);
    assert_int_equal(kind, TD_CB_AT_TICKER);
    assert_true(log.n == 1 && log.ev[0].type == TD_EV_QUOTE && log.ev[0].u.quote.bid_qty == dec("0.01") &&
                log.ev[0].u.quote.ask_px == dec("21933.98"));

    log.n = 0;
    const char *hb = "{\"channel\":\"heartbeats\",\"client_id\":\"\",\"timestamp\":\"2023-06-23T20:31:26.122969572Z\","
                     "\"sequence_num\":4,\"events\":[{\"current_time\":\"2023-06-23 20:31:56.121961769 +0000 UTC "
                     "m=+91717.525857105\",\"heartbeat_counter\":\"3049\"}]}";
    assert_true(handle(f, hb, &log, &kind) > 0);
    assert_int_equal(kind, TD_CB_AT_HEARTBEATS);
    assert_int_equal(log.n, 0);

    /* sequence_num 5 is lost: the next message opens a gap on every product, and its update is dropped */
    snprintf(buf, sizeof buf, AT_UPDATE_FMT, 6);
    assert_true(handle(f, buf, &log, &kind) > 0);
    assert_int_equal(log.n, 1);
    assert_true(log.ev[0].type == TD_EV_GAP && log.ev[0].sym == 0 && log.ev[0].u.gap.expected == 5 &&
                log.ev[0].u.gap.received == 6 && log.ev[0].exch == ex);
    const td_cb_product_t *p = td_cb_product(f, btc);
    assert_true(!p->synced && p->gap_open && p->gaps == 1 && p->unsynced == 1);
    assert_int_equal(td_cb_gaps(f), 1);
    /* a new snapshot (as after a resubscribe) repairs it */
    log.n = 0;
    char snap7[1024];
    snprintf(snap7, sizeof snap7, "%s", AT_SNAP);
    char *sn = strstr(snap7, "\"sequence_num\":0");
    sn[15] = '7';
    assert_true(handle(f, snap7, &log, &kind) > 0);
    assert_int_equal(count_type(&log, TD_EV_RESYNC), 1);
    assert_true(p->synced && !p->gap_open && p->resyncs == 1);
    log.n = 0;
    snprintf(buf, sizeof buf, AT_UPDATE_FMT, 8);
    assert_true(handle(f, buf, &log, &kind) > 0);
    assert_int_equal(log.n, 2);

    const char *bad[] = {
        "{\"channel\":\"l2_data\",\"timestamp\":\"2023-02-09T20:32:50Z\",\"events\":[]}",                  /* no seq */
        "{\"channel\":\"l2_data\",\"sequence_num\":9,\"events\":[{\"type\":\"update\",\"product_id\":\"BTC-USD\","
        "\"updates\":[{\"side\":\"bid\",\"price_level\":\"1\",\"new_quantity\":\"-2\"}]}]}",
        "{\"channel\":\"l2_data\",\"sequence_num\":9,\"events\":[{\"type\":\"partial\",\"product_id\":\"BTC-USD\",\"updates\":[]}]}",
        "{\"channel\":\"l2_data\",\"sequence_num\":9,\"events\":{}}",
        "{\"channel\":\"market_trades\",\"sequence_num\":9,\"events\":[{\"trades\":[{\"product_id\":\"A-B\",\"price\":\"1\","
        "\"size\":\"1\",\"side\":\"LEFT\"}]}]}",
        "{\"channel\":\"ticker\",\"sequence_num\":9,\"events\":[{\"tickers\":[{\"product_id\":\"A-B\",\"best_bid\":\"1e99\","
        "\"best_ask\":\"1\"}]}]}",
        "{\"channel\":\"l2_data\",\"sequence_num\":9,\"timestamp\":12,\"events\":[]}",
    };
    log.n = 0;
    for (size_t i = 0; i < TD_ARRAY_LEN(bad); i++) {
        int rc = handle(f, bad[i], &log, &kind);
        if (rc != TD_EPROTO) fail_msg("accepted (%d): %s", rc, bad[i]);
    }
    /* rejected messages did not consume sequence numbers */
    snprintf(buf, sizeof buf, AT_UPDATE_FMT, 9);
    assert_true(handle(f, buf, &log, &kind) > 0);
    assert_int_equal(count_type(&log, TD_EV_GAP), 0);
    assert_int_equal(log.n, 2);
    td_cb_destroy(f);
    td_free(log.ev);
}

static void test_golden_recording(void **state)
{
    (void)state;
    static char args[8400], wsp[4096];
    char err[256];
    snprintf(wsp, sizeof wsp, "%s", td_test_data_path("coinbase/COINBASE.ws.28.0"));
    snprintf(args, sizeof args, "%s,%s", wsp, td_test_data_path("coinbase/COINBASE.0"));
    td_source_t *src = td_recording_open(args, err, sizeof err);
    if (!src) fail_msg("%s", err);
    evlog_t log = { 0 };
    td_event_t evs[300];
    int n;
    while ((n = src->next(src, evs, TD_ARRAY_LEN(evs))) > 0)
        for (int i = 0; i < n; i++) collect(&log, &evs[i]);
    assert_int_equal(n, TD_EOF);
    assert_int_equal(td_recording_count(src, "snapshot"), 10);
    assert_int_equal(td_recording_count(src, "l2update"), 9719);
    assert_int_equal(td_recording_count(src, "ticker"), 107);
    assert_int_equal(td_recording_count(src, "match"), 97);
    assert_int_equal(td_recording_count(src, "last_match"), 10);
    assert_int_equal(td_recording_count(src, "subscriptions"), 3);
    assert_int_equal(atomic_load(&src->stats.bad), 0);
    assert_int_equal(count_type(&log, TD_EV_TRADE), 107);
    assert_int_equal(count_type(&log, TD_EV_QUOTE), 107);
    assert_int_equal(count_type(&log, TD_EV_BOOK_CLEAR), 10);
    assert_int_equal(count_type(&log, TD_EV_GAP), 0);
    td_recording_sym_t reps[32];
    size_t ns = td_recording_symbols(src, reps, 32);
    assert_int_equal(ns, 10);
    uint64_t applied = 0;
    for (size_t i = 0; i < ns; i++) {
        TD_CHECK(reps[i].synced && !reps[i].stale && reps[i].snapshots == 1, "%s", td_sym_name(reps[i].sym));
        applied += reps[i].applied;
    }
    assert_int_equal(applied, 9719);
    uint8_t ex = td_exch_lookup("COINBASE", 8);
    for (size_t i = 0; i < log.n; i++) TD_CHECK(log.ev[i].exch == ex && log.ev[i].sym != 0, "event %zu", i);
    td_source_destroy(src);
    td_free(log.ev);
}

/* An Advanced Trade recording through the recording source: a skipped sequence_num makes every product
 * stale (GAP with sym 0, counted once in stats.gaps); a snapshot repairs the product it covers. */
static void test_advanced_trade_recording(void **state)
{
    (void)state;
    char path[] = "/tmp/td_cb_at_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    char upd[1024];
    fprintf(f, "wss://advanced-trade-ws.coinbase.com <-> 1.0\n");
    fprintf(f, "wss://advanced-trade-ws.coinbase.com <- 1.1: {\"type\":\"subscribe\",\"channel\":\"level2\"}\n");
    fprintf(f, "2.0: %s\n", AT_SNAP);
    snprintf(upd, sizeof upd, AT_UPDATE_FMT, 1);
    fprintf(f, "3.0: %s\n", upd);
    snprintf(upd, sizeof upd, AT_UPDATE_FMT, 3); /* 2 lost */
    fprintf(f, "4.0: %s\n", upd);
    fclose(f);

    char err[256];
    td_source_t *src = td_recording_open(path, err, sizeof err);
    if (!src) fail_msg("%s", err);
    evlog_t log = { 0 };
    td_event_t evs[8];
    int n;
    while ((n = src->next(src, evs, 8)) > 0)
        for (int i = 0; i < n; i++) collect(&log, &evs[i]);
    assert_int_equal(n, TD_EOF);
    assert_int_equal(td_recording_count(src, "l2_data"), 3);
    assert_int_equal(td_recording_count(src, "sent"), 1);
    assert_int_equal(atomic_load(&src->stats.gaps), 1);
    assert_int_equal(atomic_load(&src->stats.bad), 0);
    assert_int_equal(count_type(&log, TD_EV_GAP), 1);
    /* snapshot (5) + update (2) + GAP; the update after the gap is dropped */
    assert_int_equal(log.n, 8);
    td_recording_sym_t rep;
    assert_int_equal(td_recording_symbols(src, &rep, 1), 1);
    assert_true(rep.stale && !rep.synced && rep.gaps == 1 && rep.applied == 1 && rep.dropped == 1);
    assert_string_equal(rep.state, "stale");
    td_source_destroy(src);
    unlink(path);
    td_free(log.ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_messages),
        cmocka_unit_test(test_advanced_trade),
        cmocka_unit_test(test_golden_recording),
        cmocka_unit_test(test_advanced_trade_recording),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
