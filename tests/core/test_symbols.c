/* test_symbols.c: interning is case-insensitive, stable, rejects bad names, and is safe from threads. */
#include "testutil.h"

#include <pthread.h>
#include <string.h>

#include "core/symbols.h"

static uint32_t intern(const char *s) { return td_sym_intern(s, strlen(s)); }

static void test_basic(void **state)
{
    (void)state;
    uint32_t a = intern("aapl");
    assert_true(a > 0);
    assert_int_equal(intern("AAPL"), a);
    assert_int_equal(td_sym_lookup("AaPl", 4), a);
    assert_string_equal(td_sym_name(a), "AAPL");
    uint32_t b = intern("BTC-USD");
    assert_true(b != a);
    assert_string_equal(td_sym_name(b), "BTC-USD");
    assert_int_equal(td_sym_lookup("MSFT", 4), 0);
    assert_string_equal(td_sym_name(0), "?");
    assert_string_equal(td_sym_name(60000), "?");
}

static void test_bad_names(void **state)
{
    (void)state;
    assert_int_equal(intern(""), 0);
    assert_int_equal(intern("A B"), 0);
    assert_int_equal(intern("A\"B"), 0);
    assert_int_equal(intern("0123456789012345678901234567890123"), 0); /* > 31 bytes */
    assert_int_equal(td_sym_intern("AB\0C", 4), 0);
}

static void test_exchanges(void **state)
{
    (void)state;
    uint8_t n = td_exch_intern("nyse", 4);
    assert_true(n > 0);
    assert_int_equal(td_exch_intern("NYSE", 4), n);
    assert_string_equal(td_exch_name(n), "NYSE");
    assert_string_equal(td_exch_name(0), "");
    char name[8];
    int got_zero = 0;
    for (int i = 0; i < 100; i++) { /* capacity 63: past it, 0 */
        snprintf(name, sizeof name, "X%d", i);
        if (td_exch_intern(name, strlen(name)) == 0) got_zero = 1;
    }
    assert_true(got_zero);
    assert_int_equal(td_exch_count(), 63);
}

static void *interner(void *arg)
{
    uint32_t *ids = arg;
    char name[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "T%d", i);
        ids[i] = td_sym_intern(name, strlen(name));
    }
    return NULL;
}

static void test_threads_agree(void **state)
{
    (void)state;
    static uint32_t a[5000], b[5000];
    pthread_t t1, t2;
    pthread_create(&t1, NULL, interner, a);
    pthread_create(&t2, NULL, interner, b);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    for (int i = 0; i < 5000; i++) {
        char name[16];
        snprintf(name, sizeof name, "T%d", i);
        assert_true(a[i] > 0);
        assert_int_equal(a[i], b[i]);
        assert_string_equal(td_sym_name(a[i]), name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_exchanges),
        cmocka_unit_test(test_threads_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
