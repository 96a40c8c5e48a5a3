/* test_live_binance.c: the live Binance sources end to end against tests/feed/mock_exchange.py, which replays
 * ../shared/data/binance over WebSocket and serves REST snapshots / aggTrades from its own book model.
 * Each scenario checks what the issue asks: the gap is seen (GAP events), the symbol goes stale
 * (td_live_symbol_stale right after the GAP), and the book is right again after resync: at the end every
 * symbol's book equals the book a replay of the whole recording builds (the recording source, the same
 * code path as tickctl recording-verify). Skipped without python3-websockets. */
#include "live_harness.h"

#include <pthread.h>

/* A metrics-like reader on another thread: td_feed_health() while the feed runs (atomics only). */
typedef struct health_reader {
    td_source_t *src;
    _Atomic bool stop;
    bool saw_live;
    bool monotonic;
    uint64_t reads;
} health_reader_t;

static void *health_reader_main(void *arg)
{
    health_reader_t *r = arg;
    uint64_t last_msgs = 0;
    r->monotonic = true;
    while (!atomic_load(&r->stop)) {
        td_feed_health_t h;
        if (td_feed_health(r->src, &h) != TD_OK) break;
        if (h.state == TD_FEED_LIVE) r->saw_live = true;
        if (h.messages < last_msgs) r->monotonic = false;
        last_msgs = h.messages;
        r->reads++;
        usleep(1000);
    }
    return NULL;
}

#define FUT_WS "binance/BINANCE_FUTURES.ws.1.0"
#define FUT_HTTP "binance/BINANCE_FUTURES.http.0.0"
#define SPOT_WS "binance/BINANCE.ws.1.0"
#define SPOT_HTTP "binance/BINANCE.http.0.0"

static const char *const fut_syms[] = { "SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT" };
static const char *const spot_syms[] = { "NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR" };

typedef struct scenario {
    bool futures;
    const char *faults;
    bool tls;
    const char *extra_opts;   /* appended to the spec */
    int rate;
} scenario_t;

typedef struct result {
    td_feed_health_t h;
    lh_books_t live;
    uint32_t syms[4];
    int diff;
} result_t;

static char g_tmp[256];

static int run(const scenario_t *sc, result_t *res)
{
    char ws_file[1024], http_file[1024];
    snprintf(ws_file, sizeof ws_file, "%.1000s", td_test_data_path(sc->futures ? FUT_WS : SPOT_WS));
    snprintf(http_file, sizeof http_file, "%.1000s", td_test_data_path(sc->futures ? FUT_HTTP : SPOT_HTTP));
    char cert[512] = "", key[512] = "";
    if (sc->tls) assert_int_equal(lh_make_cert(g_tmp, cert, key, sizeof cert), 0);
    lh_mock_t m;
    if (lh_mock_start(&m, sc->futures ? "binance-futures" : "binance-spot", ws_file, http_file, sc->faults,
                      sc->tls ? cert : NULL, sc->tls ? key : NULL, sc->rate) != 0)
        return -1;
    const char *scheme = sc->tls ? "https" : "http";
    char spec[4096];
    const char *const *names = sc->futures ? fut_syms : spot_syms;
    snprintf(spec, sizeof spec, "%s:%s,%s,%s,%s;ws=%s://127.0.0.1:%d;rest=%s://127.0.0.1:%d;%s%s;seed=7%s",
             sc->futures ? "binance-futures" : "binance-spot", names[0], names[1], names[2], names[3],
             sc->tls ? "wss" : "ws", m.port, scheme, m.port, sc->tls ? "ca=" : "timeout_ms=3000",
             sc->tls ? cert : "", sc->extra_opts ? sc->extra_opts : ";stall_ms=1500;backoff_ms=50;backoff_max_ms=200");
    char err[512] = "";
    td_source_t *src = td_source_open(spec, err, sizeof err);
    if (!src) fail_msg("open %s: %s", spec, err);
    lh_books_t ref;
    memset(&ref, 0, sizeof ref);
    lh_replay(&ref, ws_file, http_file);
    memset(&res->live, 0, sizeof res->live);
    for (int i = 0; i < 4; i++) res->syms[i] = td_sym_lookup(names[i], strlen(names[i]));
    health_reader_t hr = { .src = src };
    pthread_t hth;
    pthread_create(&hth, NULL, health_reader_main, &hr);
    res->diff = lh_run(src, &res->live, &ref, res->syms, 4, &m, scheme, sc->tls ? cert : NULL, 40);
    atomic_store(&hr.stop, true);
    pthread_join(hth, NULL);
    assert_true(hr.reads > 0);
    assert_true(hr.monotonic);
    assert_true(hr.saw_live);
    assert_int_equal(td_feed_health(src, &res->h), TD_OK);
    print_message("  %s faults=%s: state=%s connects=%" PRIu64 " reconnects=%" PRIu64 " gaps=%" PRIu64
                  " resyncs=%" PRIu64 " bad=%" PRIu64 " stalls=%" PRIu64 " backfilled=%" PRIu64 " snapshots=%" PRIu64
                  " circuit_opens=%" PRIu64 " msgs=%" PRIu64 " stale=%u diff=%d\n",
                  src->name, sc->faults ? sc->faults : "-", td_feed_state_name(res->h.state), res->h.connects,
                  res->h.reconnects, res->h.gaps, res->h.resyncs, res->h.bad, res->h.stalls, res->h.backfilled,
                  res->h.snapshots, res->h.circuit_opens, res->h.messages, res->h.stale_symbols, res->diff);
    print_message("  mock: %s\n", lh_mock_state(&m, scheme, sc->tls ? cert : NULL));
    td_source_destroy(src);
    lh_mock_stop(&m);
    lh_books_free(&ref);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/td_live_test_XXXXXX");
    if (!mkdtemp(g_tmp)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

#define RUN_OR_SKIP(sc, res)                                                       \
    do {                                                                           \
        if (!lh_python()) { print_message("python3-websockets missing: skipped\n"); skip(); } \
        assert_int_equal(run((sc), (res)), 0);                                     \
    } while (0)

static void test_futures_clean(void **state)
{
    (void)state;
    scenario_t sc = { .futures = true, .extra_opts = ";stall_ms=5000;backoff_ms=50;backoff_max_ms=200" };
    result_t r;
    RUN_OR_SKIP(&sc, &r);
    assert_int_equal(r.diff, 0);
    assert_int_equal(r.h.gaps, 0);
    assert_int_equal(r.h.reconnects, 0);
    assert_int_equal(r.h.bad, 0);
    assert_int_equal(r.h.stale_symbols, 0);
    assert_true(r.h.snapshots >= 4);
    assert_int_equal(r.h.state, TD_FEED_LIVE);
    for (int i = 0; i < 4; i++) assert_true(r.live.resyncs[r.syms[i]] >= 1);
    lh_books_free(&r.live);
}

static void test_spot_tls(void **state)
{
    (void)state;
    scenario_t sc = { .futures = false, .tls = true, .extra_opts = ";stall_ms=5000;backoff_ms=50;backoff_max_ms=200" };
    result_t r;
    RUN_OR_SKIP(&sc, &r);
    assert_int_equal(r.diff, 0);
    assert_int_equal(r.h.gaps, 0);
    assert_int_equal(r.h.bad, 0);
    lh_books_free(&r.live);
}

/* Without trusting the mock's CA, TLS must refuse it: verification is never off by default. */
static void test_tls_untrusted_refused(void **state)
{
    (void)state;
    if (!lh_python()) skip();
    char cert[512], key[512];
    assert_int_equal(lh_make_cert(g_tmp, cert, key, sizeof cert), 0);
    lh_mock_t m;
    assert_int_equal(lh_mock_start(&m, "binance-spot", td_test_data_path(SPOT_WS), NULL, NULL, cert, key, 0), 0);
    unsetenv("TD_FEED_CA_FILE");
    char spec[512], err[256];
    snprintf(spec, sizeof spec, "binance-spot:nknusdt;ws=wss://127.0.0.1:%d;rest=https://127.0.0.1:%d;backoff_ms=20;"
             "backoff_max_ms=40;breaker=3;cooldown_ms=60000", m.port, m.port);
    td_source_t *src = td_source_open(spec, err, sizeof err);
    assert_non_null(src);
    td_event_t evs[64];
    int64_t end = td_mono_ns() + 30 * TD_NS_PER_SEC; /* TLS handshakes are slow under sanitizers */
    td_feed_health_t h;
    do {
        assert_true(src->next(src, evs, 64) >= 0);
        td_feed_health(src, &h);
    } while (h.state != TD_FEED_OPEN_CIRCUIT && td_mono_ns() < end);
    assert_int_equal(h.state, TD_FEED_OPEN_CIRCUIT);
    assert_int_equal(h.connects, 0);
    assert_int_equal(h.failures, 3);
    assert_int_equal(h.circuit_opens, 1);
    td_source_destroy(src);
    lh_mock_stop(&m);
}

static void check_fault(result_t *r, bool all_symbols)
{
    assert_int_equal(r->diff, 0);
    assert_true(r->h.gaps >= 1);
    assert_int_equal(r->h.stale_symbols, 0); /* everything resynced by the end */
    uint32_t stale_seen = 0, gapped = 0;
    for (int i = 0; i < 4; i++) {
        uint32_t s = r->syms[i];
        if (r->live.gaps[s]) {
            gapped++;
            assert_true(r->live.resyncs[s] >= 2); /* the first sync and the one after the gap */
        }
        stale_seen += r->live.stale_seen[s];
    }
    assert_true(gapped >= (all_symbols ? 4u : 1u));
    assert_true(stale_seen >= 1);
}

static void test_fault_sequence_skip(void **state)
{
    (void)state;
    scenario_t sc = { .futures = true, .faults = "skip:300,skip:900", .rate = 3000 };
    result_t r;
    RUN_OR_SKIP(&sc, &r);
    check_fault(&r, false);
    assert_int_equal(r.h.reconnects, 0); /* a sequence gap is repaired by a snapshot, not a reconnect */
    assert_true(r.h.gaps >= 2);
    lh_books_free(&r.live);
}

static void test_fault_garbage(void **state)
{
    (void)state;
    scenario_t sc = { .futures = true, .faults = "garbage:500", .rate = 3000 };
    result_t r;
    RUN_OR_SKIP(&sc, &r);
    check_fault(&r, false);
    assert_int_equal(r.h.bad, 3); /* truncated JSON, non-JSON text, an unknown type */
    assert_int_equal(r.h.reconnects, 0);
    lh_books_free(&r.live);
}

static void test_fault_disconnect(void **state)
{
    (void)state;
    scenario_t sc = { .futures = true, .faults = "drop:400:60", .rate = 3000 };
    result_t r;
    RUN_OR_SKIP(&sc, &r);
    check_fault(&r, true);
    assert_int_equal(r.h.reconnects, 1);
    lh_books_free(&r.live);
}

static void test_fault_stall(void **state)
{
    (void)state;
    scenario_t sc = { .futures = true, .faults = "stall:700:4", .rate = 3000 };
    result_t r;
    RUN_OR_SKIP(&sc, &r);
    check_fault(&r, true);
    assert_int_equal(r.h.stalls, 1);
    assert_int_equal(r.h.reconnects, 1);
    lh_books_free(&r.live);
}

static void test_fault_bad_frame(void **state)
{
    (void)state;
    scenario_t sc = { .futures = true, .faults = "badframe:600", .rate = 3000 };
    result_t r;
    RUN_OR_SKIP(&sc, &r);
    check_fault(&r, true);
    assert_true(r.h.bad >= 1);
    assert_int_equal(r.h.reconnects, 1);
    lh_books_free(&r.live);
}

/* The exchange refuses 6 reconnects: the breaker (2 failures) opens, the fallback (a recording) runs,
 * the half-open trials fail and then one succeeds; the books end right. */
static void test_breaker_fallback(void **state)
{
    (void)state;
    char opts[2048];
    snprintf(opts, sizeof opts, ";stall_ms=1500;backoff_ms=20;backoff_max_ms=40;breaker=2;cooldown_ms=150;"
             "fallback=recording:%.1500s", td_test_data_path(SPOT_WS));
    scenario_t sc = { .futures = true, .faults = "refuse:400:6", .rate = 3000, .extra_opts = opts };
    result_t r;
    RUN_OR_SKIP(&sc, &r);
    check_fault(&r, true);
    assert_true(r.h.circuit_opens >= 1);
    assert_true(r.h.failures >= 6);
    assert_int_equal(r.h.state, TD_FEED_LIVE);
    /* the fallback's events (spot symbols) passed through while the circuit was open */
    uint32_t nkn = td_sym_lookup("NKNUSDT", 7);
    assert_true(nkn && nkn < LH_MAX_SYMS && r.live.b[nkn] != NULL);
    lh_books_free(&r.live);
}

/* A drop makes the mock "trade" while we are away; the missing aggTrades come back by REST fromId. */
static void test_trade_backfill(void **state)
{
    (void)state;
    scenario_t sc = { .futures = true, .faults = "drop:300:250", .rate = 3000 };
    result_t r;
    RUN_OR_SKIP(&sc, &r);
    check_fault(&r, true);
    assert_true(r.h.backfilled >= 1);
    uint64_t trades = 0;
    for (int i = 0; i < 4; i++) trades += r.live.trades[r.syms[i]];
    assert_int_equal(trades, 91); /* every aggTrade of the recording, none lost, none twice */
    lh_books_free(&r.live);
}

/* Binance answers the resync snapshot with HTTP 429: the source pauses REST (rest_pause_ms), the symbol
 * stays stale meanwhile, and resyncs once the pause is over. */
static void test_rest_rate_limit(void **state)
{
    (void)state;
    scenario_t sc = { .futures = true, .faults = "rest429:500:1", .rate = 1000,
                      .extra_opts = ";stall_ms=5000;backoff_ms=50;rest_pause_ms=700" };
    int64_t t0 = td_mono_ns();
    result_t r;
    RUN_OR_SKIP(&sc, &r);
    check_fault(&r, false);
    assert_int_equal(r.h.reconnects, 0);
    assert_true(td_mono_ns() - t0 > 700 * TD_NS_PER_MS);
    lh_books_free(&r.live);
}

static void test_spec_errors(void **state)
{
    (void)state;
    char err[512];
    assert_null(td_source_open("binance-spot:", err, sizeof err));
    assert_null(td_source_open("binance-spot:btcusdt;bogus=1", err, sizeof err));
    assert_non_null(strstr(err, "unknown option"));
    assert_null(td_source_open("binance-spot:btcusdt;ws=http://x", err, sizeof err));
    assert_null(td_source_open("binance-spot:btcusdt;stall_ms=abc", err, sizeof err));
    /* 342 symbols = 1026 streams > 1024 a connection */
    char spec[16384];
    int n = snprintf(spec, sizeof spec, "binance-spot:");
    for (int i = 0; i < 342; i++) n += snprintf(spec + n, sizeof spec - (size_t)n, "%sS%dUSDT", i ? "," : "", i);
    assert_null(td_source_open(spec, err, sizeof err));
    assert_non_null(strstr(err, "1024"));
    td_source_t *s = td_source_open("binance-futures:btcusdt,ethusdt;ws=ws://127.0.0.1:1;fallback=recording:a,b", err,
                                    sizeof err);
    assert_non_null(s);
    assert_true(td_live_is(s));
    td_feed_health_t h;
    assert_int_equal(td_feed_health(s, &h), TD_OK);
    assert_int_equal(h.symbols, 2);
    assert_int_equal(h.state, TD_FEED_CONNECTING);
    assert_int_equal(h.last_msg_age_ns, -1);
    td_source_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_futures_clean),
        cmocka_unit_test(test_spot_tls),
        cmocka_unit_test(test_tls_untrusted_refused),
        cmocka_unit_test(test_fault_sequence_skip),
        cmocka_unit_test(test_fault_garbage),
        cmocka_unit_test(test_fault_disconnect),
        cmocka_unit_test(test_fault_stall),
        cmocka_unit_test(test_fault_bad_frame),
        cmocka_unit_test(test_breaker_fallback),
        cmocka_unit_test(test_trade_backfill),
        cmocka_unit_test(test_rest_rate_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
