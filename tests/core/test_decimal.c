/* test_decimal.c: exact parse/print of scaled decimals: edge cases and a random round trip. */
#include "testutil.h"

#include <string.h>

#include "core/common.h"
#include "core/decimal.h"
#include "core/rng.h"

static int parse(const char *s, int64_t *v) { return td_dec_parse(s, strlen(s), v); }

static void want_value(const char *s, int64_t want)
{
    int64_t v = 12345;
    int rc = parse(s, &v);
    if (rc != TD_OK) fail_msg("parse(\"%s\") = %d (%s), want ok", s, rc, td_strerror(rc));
    if (v != want) fail_msg("parse(\"%s\") = %lld, want %lld", s, (long long)v, (long long)want);
}

static void want_error(const char *s, int want_rc)
{
    int64_t v = 777;
    int rc = parse(s, &v);
    if (rc != want_rc) fail_msg("parse(\"%s\") = %d, want %d", s, rc, want_rc);
    assert_int_equal(v, 777); /* untouched on error */
}

static void test_parse_values(void **state)
{
    (void)state;
    want_value("0", 0);
    want_value("0.0", 0);
    want_value("-0", 0);
    want_value("000000000000000000000000000001", 100000000);
    want_value("185.42", 18542000000LL);
    want_value("0.00001234", 1234);
    want_value("0.00000001", 1);
    want_value("-0.00000001", -1);
    want_value("+7", 700000000);
    want_value("5.", 500000000);
    want_value(".5", 50000000);
    want_value("0.00000000000000000000", 0);
    want_value("1.000000000000000000000000", 100000000);
    want_value("1e-5", 1000);
    want_value("1E-8", 1);
    want_value("2.5E+3", 250000000000LL);
    want_value("12300e-10", 123);   /* 0.00000123 */
    want_value("0.5e1", 500000000);
}

static void test_parse_exponents_and_limits(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(parse("12345e-12", &v), TD_ERANGE); /* 0.000000012345: below 1e-8 */
    assert_int_equal(parse("12300e-12", &v), TD_ERANGE); /* 0.0000000123: not exact at 1e-8 */
    want_value("0e99999", 0);
    want_value("100000000e-16", 1);                     /* exactly 1e-8 */
}

static void test_parse_errors(void **state)
{
    (void)state;
    want_error("", TD_EPROTO);
    want_error("-", TD_EPROTO);
    want_error(".", TD_EPROTO);
    want_error("1.2.3", TD_EPROTO);
    want_error("12a", TD_EPROTO);
    want_error(" 1", TD_EPROTO);
    want_error("1 ", TD_EPROTO);
    want_error("0x10", TD_EPROTO);
    want_error("nan", TD_EPROTO);
    want_error("inf", TD_EPROTO);
    want_error("1e", TD_EPROTO);
    want_error("1e+", TD_EPROTO);
    want_error("--1", TD_EPROTO);
    want_error("0.000000001", TD_ERANGE);            /* 9th decimal */
    want_error("92233720369", TD_ERANGE);            /* > max */
    want_error("1e11", TD_ERANGE);
    want_error("123456789012345678901234567890", TD_ERANGE);
    want_error("1e99999999999", TD_ERANGE);
}

static void test_limits(void **state)
{
    (void)state;
    char buf[TD_DEC_BUFSZ];
    want_value("92233720368.54775807", INT64_MAX);
    want_value("-92233720368.54775808", INT64_MIN);
    want_error("92233720368.54775808", TD_ERANGE);
    want_error("-92233720368.54775809", TD_ERANGE);
    td_dec_fmt(INT64_MAX, buf);
    assert_string_equal(buf, "92233720368.54775807");
    td_dec_fmt(INT64_MIN, buf);
    assert_string_equal(buf, "-92233720368.54775808");
}

static void test_format(void **state)
{
    (void)state;
    char buf[TD_DEC_BUFSZ];
    struct { int64_t v; const char *s; } cases[] = {
        { 0, "0" }, { 100000000, "1" }, { 18542000000LL, "185.42" }, { 1234, "0.00001234" },
        { -1, "-0.00000001" }, { -50000000, "-0.5" }, { 1000000000000LL, "10000" },
        { 18541999999LL, "185.41999999" },
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(cases); i++) {
        size_t n = td_dec_fmt(cases[i].v, buf);
        assert_string_equal(buf, cases[i].s);
        assert_int_equal(n, strlen(cases[i].s));
    }
    char b128[TD_DEC128_BUFSZ];
    td_vol_t big = (td_vol_t)INT64_MAX * 1000 + 5;
    td_dec128_fmt(big, b128);
    assert_string_equal(b128, "92233720368547.75807005");
    td_dec128_fmt(-big, b128);
    assert_string_equal(b128, "-92233720368547.75807005");
}

static void test_from_scaled(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(td_dec_from_scaled(5853300, 4, &v), TD_OK); /* LOBSTER: $585.33 */
    assert_int_equal(v, 58533000000LL);
    assert_int_equal(td_dec_from_scaled(123456789012LL, 10, &v), TD_ERANGE); /* loses digits */
    assert_int_equal(td_dec_from_scaled(12345678900LL, 10, &v), TD_OK);
    assert_int_equal(v, 123456789);
    assert_int_equal(td_dec_from_scaled(INT64_MAX / 10, 4, &v), TD_ERANGE);
    assert_int_equal(td_dec_from_int(3, &v), TD_OK);
    assert_int_equal(v, 300000000);
    assert_int_equal(td_dec_from_int(INT64_MAX / 100, &v), TD_ERANGE);
}

/* print(parse(x)) == canonical(x) and parse(print(v)) == v for random values. */
static void test_round_trip_random(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    char buf[TD_DEC_BUFSZ];
    for (int i = 0; i < 200000; i++) {
        int64_t v = (int64_t)td_rng_next(&rng);
        if (i % 3 == 0) v %= 1000000000000LL;
        if (i % 3 == 1) v %= 10000;
        size_t n = td_dec_fmt(v, buf);
        int64_t back = 0;
        int rc = td_dec_parse(buf, n, &back);
        TD_CHECK(rc == TD_OK && back == v, "v=%lld printed %s parsed %lld rc=%d", (long long)v, buf,
                 (long long)back, rc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_values),     cmocka_unit_test(test_parse_exponents_and_limits),
        cmocka_unit_test(test_parse_errors),     cmocka_unit_test(test_limits),
        cmocka_unit_test(test_format),           cmocka_unit_test(test_from_scaled),
        cmocka_unit_test(test_round_trip_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
