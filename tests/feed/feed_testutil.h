/* feed_testutil.h: helpers shared by the JSON feed tests: exact decimals from strings, and a growing log
 * of the events a parser or sync state machine emits (collect() is its callback). */
#ifndef TD_FEED_TESTUTIL_H
#define TD_FEED_TESTUTIL_H

#include <string.h>

#include "testutil.h"

#include "core/common.h"
#include "core/decimal.h"
#include "core/event.h"

static int64_t dec(const char *s)
{
    int64_t v = 0;
    assert_int_equal(td_dec_parse(s, strlen(s), &v), TD_OK);
    return v;
}

typedef struct evlog { td_event_t *ev; size_t n, cap; } evlog_t;
static void collect(void *ctx, const td_event_t *ev)
{
    evlog_t *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->ev = td_realloc(l->ev, l->cap * sizeof *l->ev);
    }
    l->ev[l->n++] = *ev;
}
static size_t count_type(const evlog_t *l, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) n += l->ev[i].type == type;
    return n;
}

#endif
