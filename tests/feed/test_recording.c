/* test_recording.c: the recording source's file handling: argument and open errors, exchange detection,
 * bad lines counted and skipped (never fatal), next() in chunks of any size, recv_ns and byte accounting,
 * and snapshots offered in receive-time order. */
#include "testutil.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/common.h"
#include "core/event.h"
#include "core/log.h"
#include "core/symbols.h"
#include "feed/recording.h"

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *text)
{
    static char path[4][256];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static td_source_t *open2(const char *ws, const char *http, char *err, size_t errlen)
{
    static char args[9000];
    snprintf(args, sizeof args, "%s%s%s", ws, http ? "," : "", http ? http : "");
    return td_recording_open(args, err, errlen);
}

static size_t drain_count(td_source_t *src, size_t chunk, td_event_t *all, size_t max)
{
    td_event_t evs[64];
    size_t total = 0;
    int n;
    while ((n = src->next(src, evs, chunk)) > 0) {
        assert_true((size_t)n <= chunk);
        for (int i = 0; i < n; i++) {
            if (total < max) all[total] = evs[i];
            total++;
        }
    }
    assert_int_equal(n, TD_EOF);
    return total;
}

static void test_open_errors(void **state)
{
    (void)state;
    char err[256];
    /* reachable through the --feed table */
    static char spec[4200];
    snprintf(spec, sizeof spec, "recording:%s", td_test_data_path("binance/BINANCE.ws.1.0"));
    td_source_t *s = td_source_open(spec, err, sizeof err);
    if (!s) fail_msg("%s", err);
    assert_true(td_recording_is(s));
    assert_string_equal(s->name, "recording:BINANCE.ws.1.0");
    td_source_destroy(s);
    assert_null(td_recording_open("", err, sizeof err));
    assert_null(td_recording_open(NULL, err, sizeof err));
    assert_null(td_recording_open("/nonexistent/file.ws", err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));
    const char *ws = write_tmp("mystery.ws", "wss://example.com/x <-> 1.0\n1.5: {}\n");
    assert_null(open2(ws, NULL, err, sizeof err));
    assert_non_null(strstr(err, "exchange"));
    assert_null(open2(ws, "/nonexistent/http", err, sizeof err));
    assert_null(td_recording_open(tmpdir, err, sizeof err)); /* a directory */
    assert_false(td_recording_is(NULL));
}

static void test_bad_lines(void **state)
{
    (void)state;
    char err[256];
    td_log_min_level = TD_LOG_ERROR; /* the bad lines below are logged as warnings */
    /* Detected from the file name (no URL on line 1). Depth for BADLUSDT: snapshot at t=2.5 (L=10). */
    const char *ws = write_tmp("BINANCE.bad.ws",
        "1.0: {\"e\":\"depthUpdate\",\"E\":1000,\"s\":\"BADLUSDT\",\"U\":5,\"u\":9,\"b\":[[\"1\",\"1\"]],\"a\":[]}\n"
        "\n"
        "garbage without a timestamp\n"
        "2.0: {not json\n"
        "2.1: {\"e\":\"depthUpdate\",\"E\":1000,\"s\":\"BADLUSDT\",\"U\":10,\"u\":12,\"b\":[[\"1\",\"-5\"]],\"a\":[]}\n"
        "2.2: {\"e\":\"whatIsThis\",\"s\":\"BADLUSDT\"}\n"
        "2.3: {\"e\":\"aggTrade\",\"E\":1,\"s\":\"BADLUSDT\",\"a\":1,\"p\":\"99999999999999999999\",\"q\":\"1\",\"T\":1,\"m\":true}\n"
        "2.4: {\"result\":null,\"id\":1}\n"
        "3.0: {\"e\":\"depthUpdate\",\"E\":3000,\"s\":\"BADLUSDT\",\"U\":10,\"u\":12,\"b\":[[\"2\",\"3\"]],\"a\":[[\"4\",\"1\"]]}\r\n"
        "4.0: {\"e\":\"depthUpdate\",\"E\":4000,\"s\":\"BADLUSDT\",\"U\":13,\"u\":13,\"b\":[[\"2\",\"0\"]],\"a\":[]}");
    const char *http = write_tmp("BINANCE.bad.http",
        "configuration: {\"x\":1}\n"
        "https://api.binance.com/api/v3/depth?symbol=BADLUSDT&limit=1000 -> 2.5: {\"lastUpdateId\":10,"
        "\"bids\":[[\"1\",\"1\"]],\"asks\":[[\"5\",\"1\"]]}\n"
        "https://api.binance.com/api/v3/depth?symbol=BADLUSDT&limit=1000 -> 2.6: {\"lastUpdateId\":oops}\n"
        "https://api.binance.com/api/v3/ticker -> 2.7: {}\n");
    td_source_t *src = open2(ws, http, err, sizeof err);
    if (!src) fail_msg("%s", err);
    assert_true(td_recording_is(src));
    assert_int_equal(td_recording_exch(src), td_exch_lookup("BINANCE", 7));
    td_event_t all[64];
    size_t n = drain_count(src, 1, all, 64);
    /* bad: no timestamp, bad JSON, negative qty, unknown type, overflow price, bad snapshot */
    assert_int_equal(atomic_load(&src->stats.bad), 6);
    assert_int_equal(td_recording_count(src, "bad"), 6);
    assert_int_equal(td_recording_count(src, "reply"), 1);
    assert_int_equal(td_recording_count(src, "depthUpdate"), 3);
    /* CLEAR, 2 snapshot levels, RESYNC, 2 levels of 10..12, 1 DEL of 13 */
    assert_int_equal(n, 7);
    assert_int_equal(all[0].type, TD_EV_BOOK_CLEAR);
    assert_true(all[0].recv_ns == 2500000000LL);
    assert_int_equal(all[3].type, TD_EV_RESYNC);
    assert_true(all[4].type == TD_EV_LEVEL_SET && all[4].recv_ns == 3000000000LL && all[4].src_seq == 12 &&
                all[4].exch_ns == 3000000000LL);
    assert_true(all[6].type == TD_EV_LEVEL_DEL && all[6].src_seq == 13);
    td_recording_sym_t rep;
    assert_int_equal(td_recording_symbols(src, &rep, 1), 1);
    assert_true(rep.synced && rep.applied == 2 && rep.dropped == 1 && rep.snapshot_id == 10);
    struct stat st1, st2;
    stat(ws, &st1);
    stat(http, &st2);
    assert_int_equal(atomic_load(&src->stats.bytes), (uint64_t)(st1.st_size + st2.st_size));
    td_source_destroy(src);
    td_log_min_level = TD_LOG_INFO;
}

/* Same events whatever the chunk size; Coinbase "<-" lines (our requests) are skipped, not bad. */
static void test_chunks_and_coinbase_requests(void **state)
{
    (void)state;
    char err[256];
    static char wsp[4096];
    snprintf(wsp, sizeof wsp, "%s", td_test_data_path("coinbase/COINBASE.ws.28.0"));
    static td_event_t a[20000], b[20000];
    td_source_t *src = open2(wsp, NULL, err, sizeof err);
    if (!src) fail_msg("%s", err);
    size_t na = drain_count(src, 64, a, 20000);
    assert_int_equal(td_recording_count(src, "sent"), 3);
    assert_int_equal(atomic_load(&src->stats.bad), 0);
    td_source_destroy(src);
    src = open2(wsp, NULL, err, sizeof err);
    size_t nb = drain_count(src, 7, b, 20000);
    td_source_destroy(src);
    assert_int_equal(na, nb);
    assert_true(na <= 20000);
    assert_memory_equal(a, b, na * sizeof a[0]);
}

/* A snapshot received before a frame is offered before it: with the snapshot at the same time as the
 * first frame, the frame is applied right after it rather than buffered. */
static void test_time_merge(void **state)
{
    (void)state;
    char err[256];
    const char *ws = write_tmp("BINANCE.merge.ws",
        "wss://stream.binance.com:9443/stream?streams=mrgusdt@depth <-> 1.0\n"
        "5.0: {\"stream\":\"mrgusdt@depth\",\"data\":{\"e\":\"depthUpdate\",\"E\":5000,\"s\":\"MRGUSDT\",\"U\":21,\"u\":22,"
        "\"b\":[[\"2\",\"3\"]],\"a\":[]}}\n"
        "6.0: {\"stream\":\"mrgusdt@depth\",\"data\":{\"e\":\"depthUpdate\",\"E\":6000,\"s\":\"MRGUSDT\",\"U\":23,\"u\":23,"
        "\"b\":[],\"a\":[[\"9\",\"1\"]]}}\n");
    const char *http = write_tmp("BINANCE.merge.http",
        "https://api.binance.com/api/v3/depth?symbol=MRGUSDT&limit=5 -> 5.0: {\"lastUpdateId\":20,\"bids\":[],\"asks\":[]}\n"
        "https://api.binance.com/api/v3/depth?symbol=MRGUSDT&limit=5 -> 5.5: {\"lastUpdateId\":22,\"bids\":[],\"asks\":[]}\n");
    td_source_t *src = open2(ws, http, err, sizeof err);
    if (!src) fail_msg("%s", err);
    td_event_t all[16];
    size_t n = drain_count(src, 16, all, 16);
    assert_int_equal(n, 4); /* CLEAR, RESYNC, SET(2), SET(9) */
    assert_true(all[0].type == TD_EV_BOOK_CLEAR && all[2].type == TD_EV_LEVEL_SET && all[2].recv_ns == 5000000000LL);
    td_recording_sym_t rep;
    td_recording_symbols(src, &rep, 1);
    assert_true(rep.synced && rep.applied == 2 && rep.snapshots == 1 && rep.snapshots_unused == 1);
    td_source_destroy(src);
}

/* `tickctl recording-verify` on the real recordings (exit 0, one line per symbol with the golden figures)
 * and on a recording whose only snapshot is useless (exit 1, the symbol reported stale/unsynced). */
static int run_tickctl(const char *args, char *out, size_t cap)
{
    const char *bdir = getenv("TD_BUILD_DIR");
    static char cmd[10000];
    snprintf(cmd, sizeof cmd, "%s/tickctl recording-verify %s 2>/dev/null", bdir && *bdir ? bdir : "build", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_tickctl_verify(void **state)
{
    (void)state;
    static char out[1 << 16], args[9000], wsp[4096];
    snprintf(wsp, sizeof wsp, "%s", td_test_data_path("binance/BINANCE.ws.1.0"));
    snprintf(args, sizeof args, "%s %s", wsp, td_test_data_path("binance/BINANCE.http.0.0"));
    int rc = run_tickctl(args, out, sizeof out);
    if (rc != 0) fail_msg("exit %d, output:\n%s", rc, out);
    assert_non_null(strstr(out, "NKNUSDT synced applied=149 gaps=0 "));
    assert_non_null(strstr(out, "L=499869752 first_U=499869753 first_u=499869754"));
    assert_non_null(strstr(out, "depthUpdate=177"));
    assert_non_null(strstr(out, "-> OK"));
    assert_null(strstr(out, "CROSSED"));

    snprintf(wsp, sizeof wsp, "%s", td_test_data_path("coinbase/COINBASE.ws.28.0"));
    rc = run_tickctl(wsp, out, sizeof out);
    if (rc != 0) fail_msg("exit %d, output:\n%s", rc, out);
    assert_non_null(strstr(out, "l2update=9719"));
    assert_non_null(strstr(out, "SKL-USD synced applied="));

    /* the only snapshot is older than the stream: never synced -> exit 1 */
    const char *ws = write_tmp("BINANCE.stale.ws",
        "1.0: {\"e\":\"depthUpdate\",\"E\":1000,\"s\":\"STLUSDT\",\"U\":50,\"u\":60,\"b\":[],\"a\":[]}\n");
    const char *http = write_tmp("BINANCE.stale.http",
        "https://api.binance.com/api/v3/depth?symbol=STLUSDT -> 2.0: {\"lastUpdateId\":10,\"bids\":[],\"asks\":[]}\n");
    snprintf(args, sizeof args, "%s %s", ws, http);
    rc = run_tickctl(args, out, sizeof out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "STLUSDT unsynced applied=0"));
    assert_non_null(strstr(out, "snapshots_unused=1"));
    assert_non_null(strstr(out, "-> FAIL"));
    assert_int_equal(run_tickctl("", out, sizeof out), 2);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/td_rec_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_chunks_and_coinbase_requests),
        cmocka_unit_test(test_time_merge),
        cmocka_unit_test(test_tickctl_verify),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
