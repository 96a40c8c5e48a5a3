/* test_config.c: flags and config files parse into td_config_t; bad values are errors naming the flag. */
#include "testutil.h"

#include <string.h>

#include "core/common.h"
#include "core/config.h"
#include "store/store.h"

static int parse(td_config_t *c, char *err, int argc, char **argv)
{
    td_config_defaults(c);
    return td_config_parse_args(c, argc, argv, err, 256);
}

static void test_defaults_and_flags(void **state)
{
    (void)state;
    td_config_t c;
    char err[256];
    char *argv[] = { "tickd", "--listen", "0.0.0.0:9000", "--feed", "sim:rate=5", "--feed=itch50:x.itch",
                     "--data-dir", "/tmp/td", "--fsync", "25", "--speed", "10", "--threads", "3" };
    assert_int_equal(parse(&c, err, 14, argv), 0);
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.listen_port, 9000);
    assert_int_equal(c.nfeeds, 2);
    assert_string_equal(c.feeds[1], "itch50:x.itch");
    assert_string_equal(c.data_dir, "/tmp/td");
    assert_int_equal(c.fsync_ms, 25);
    assert_true(c.speed == 10.0);
    assert_int_equal(c.threads, 3);
    td_config_free(&c);

    char *argv2[] = { "tickd" };
    assert_int_equal(parse(&c, err, 1, argv2), 0);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.data_dir, "./data");
}

static void expect_error(char *flag, char *value, const char *needle)
{
    td_config_t c;
    char err[256] = "";
    char *argv[] = { "tickd", flag, value };
    assert_int_equal(parse(&c, err, 3, argv), TD_EINVAL);
    if (!strstr(err, needle)) fail_msg("error '%s' does not mention '%s'", err, needle);
    td_config_free(&c);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("--listen", "8080", "--listen");
    expect_error("--listen", "host:99999", "--listen");
    expect_error("--fsync", "sometimes", "--fsync");
    expect_error("--speed", "-1", "--speed");
    expect_error("--speed", "fast", "--speed");
    expect_error("--role", "boss", "--role");
    expect_error("--threads", "many", "--threads");
    expect_error("--bogus", "1", "--bogus");
    expect_error("--config", "/nonexistent/tickd.conf", "cannot open");
    td_config_t c;
    char err[256];
    char *argv[] = { "tickd", "--feed" };
    assert_int_equal(parse(&c, err, 2, argv), TD_EINVAL);
    assert_non_null(strstr(err, "needs a value"));
}

/* Retention flags, and their application to the store's options (what main.c does). */
static void test_retention_flags(void **state)
{
    (void)state;
    td_config_t c;
    char err[256];
    char *argv[] = { "tickd", "--tick-ttl", "forever", "--candle-ttl", "1s=30,1m=3650,1w=forever", "--cold-dir",
                     "/tmp/cold" };
    assert_int_equal(parse(&c, err, 7, argv), 0);
    assert_int_equal(c.tick_ttl_days, -1);
    assert_int_equal(c.cold_after_days, 30);
    td_store_options_t o;
    td_store_options_default(&o);
    assert_int_equal(o.tick_ttl_days, TD_STORE_DEFAULT_TICK_TTL_DAYS);
    assert_int_equal(td_store_set_retention(&o, c.tick_ttl_days, c.candle_ttl, c.cold_dir, c.cold_after_days, err,
                                            sizeof err),
                     TD_OK);
    assert_int_equal(o.tick_ttl_days, -1);
    assert_int_equal(o.candle_ttl_days[TD_IV_1S], 30);
    assert_int_equal(o.candle_ttl_days[TD_IV_1M], 3650);
    assert_int_equal(o.candle_ttl_days[TD_IV_1W], 0);
    assert_int_equal(o.candle_ttl_days[TD_IV_1H], 0);
    assert_string_equal(o.cold_dir, "/tmp/cold");
    assert_int_equal(o.cold_after_days, 30);
    td_config_free(&c);

    char *argv2[] = { "tickd", "--tick-ttl", "400", "--cold-after", "9" };
    assert_int_equal(parse(&c, err, 5, argv2), 0);
    td_store_options_default(&o);
    assert_int_equal(td_store_set_retention(&o, c.tick_ttl_days, c.candle_ttl, c.cold_dir, c.cold_after_days, err,
                                            sizeof err),
                     TD_OK);
    assert_int_equal(o.tick_ttl_days, 400);
    assert_string_equal(o.cold_dir, ""); /* --cold-after alone moves nothing */

    expect_error("--tick-ttl", "0", "--tick-ttl");
    expect_error("--tick-ttl", "7y", "--tick-ttl");
    expect_error("--cold-after", "-3", "--cold-after");
    static const char *bad[] = { "1m", "1m=", "2m=30", "1m=0", "1m=30,", "1m=30,,1h=2", "1h=forevers", "=5" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        td_store_options_default(&o);
        err[0] = 0;
        if (td_store_set_retention(&o, 0, bad[i], NULL, 0, err, sizeof err) != TD_EINVAL || !strstr(err, "--candle-ttl"))
            fail_msg("--candle-ttl '%s' accepted (%s)", bad[i], err);
    }
}

static void test_config_file(void **state)
{
    (void)state;
    char path[] = "/tmp/tickd-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# a comment\nlisten = 127.0.0.1:7001\nfeed = sim:rate=100\n\nfeed lobster:a.csv,b.csv\n"
                       "fsync off\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    td_config_t c;
    char err[256];
    char *argv[] = { "tickd", "--config", path, "--listen", "127.0.0.1:7002" };
    assert_int_equal(parse(&c, err, 5, argv), 0);
    assert_int_equal(c.listen_port, 7002); /* the later flag wins */
    assert_int_equal(c.nfeeds, 2);
    assert_string_equal(c.feeds[1], "lobster:a.csv,b.csv");
    assert_int_equal(c.fsync_ms, -1);
    td_config_free(&c);

    fd = open(path, O_WRONLY | O_TRUNC);
    const char *bad = "listen = 127.0.0.1:7001\nthreads = lots\n";
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    char *argv2[] = { "tickd", "--config", path };
    assert_int_equal(parse(&c, err, 3, argv2), TD_EINVAL);
    assert_non_null(strstr(err, ":2:")); /* the line number */
    td_config_free(&c);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_flags),
        cmocka_unit_test(test_errors), cmocka_unit_test(test_retention_flags),
        cmocka_unit_test(test_config_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
