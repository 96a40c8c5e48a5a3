/*
 * testutil.h: shared helpers for cmocka unit tests.
 *
 * Seeds: randomized tests take their seed from TD_SEED (to replay a failure) or from the clock, and every
 * failure message carries it: TD_CHECK(cond, "fmt", ...) fails with "seed=S: <message>".
 * Data: td_test_data_path("lobster/X.csv") finds ../shared/data (TD_SHARED_DATA, set by CMake).
 */
#ifndef TD_TESTUTIL_H
#define TD_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include <dirent.h>
#include <string.h>

static uint64_t td_test_seed_value;

static inline uint64_t td_test_seed(void)
{
    const char *env = getenv("TD_SEED");
    if (env && *env) td_test_seed_value = strtoull(env, NULL, 0);
    else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        td_test_seed_value = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec;
    }
    return td_test_seed_value;
}

#define TD_CHECK(cond, ...)                                                                     \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            char td__m_[512];                                                                   \
            snprintf(td__m_, sizeof td__m_, __VA_ARGS__);                                       \
            fail_msg("%s:%d: %s: seed=%llu (rerun with TD_SEED=%llu): %s", __FILE__, __LINE__, #cond, \
                     (unsigned long long)td_test_seed_value, (unsigned long long)td_test_seed_value, td__m_); \
        }                                                                                       \
    } while (0)

/* Path to a file under ../shared/data; returns a static buffer. */
static inline const char *td_test_data_path(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("TD_SHARED_DATA");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : "../shared/data", rel);
    return buf;
}

/* Removes a file or a directory tree (test temp dirs). */
static inline void td_test_rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char p[2048];
            if (snprintf(p, sizeof p, "%s/%s", path, de->d_name) >= (int)sizeof p) continue; /* not ours */
            td_test_rm_rf(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Is this an ASan/UBSan build? Heavy tests shrink their sizes under sanitizers. */
static inline int td_test_sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 1;
#else
    return 0;
#endif
#else
    return 0;
#endif
}

#endif
