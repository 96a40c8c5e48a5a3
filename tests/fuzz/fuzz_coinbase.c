/* fuzz_coinbase: td_cb_handle on arbitrary bytes with one long-lived feed (so book and sequence state carry
 * across inputs). Seeds are recording lines; a leading "<recv ts>: " is stripped like the recording source
 * does. Checks: len or TD_EPROTO with a reason; events are well-formed (levels with price > 0 and a set qty
 * > 0, trades with qty > 0, a known side, a symbol except on an exchange-wide GAP). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/event.h"
#include "feed/coinbase.h"

static td_cb_feed_t *feed;

static void emit(void *ctx, const td_event_t *ev)
{
    (void)ctx;
    if (ev->type >= TD_EV_TYPE_COUNT || ev->type == TD_EV_NONE) abort();
    if (ev->side > TD_SIDE_NONE || ev->exch != 3) abort();
    if (ev->sym == 0 && ev->type != TD_EV_GAP) abort();
    switch (ev->type) {
    case TD_EV_LEVEL_SET:
        if (ev->u.level.qty <= 0 || ev->u.level.price <= 0 || ev->side > TD_ASK) abort();
        break;
    case TD_EV_LEVEL_DEL:
        if (ev->u.level.price <= 0 || ev->side > TD_ASK) abort();
        break;
    case TD_EV_TRADE:
        if (ev->u.trade.qty <= 0 || ev->u.trade.price <= 0) abort();
        break;
    case TD_EV_QUOTE:
        if (ev->u.quote.bid_px < 0 || ev->u.quote.ask_px < 0) abort();
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!feed) feed = td_cb_create(3);
    const char *s = (const char *)data;
    size_t n = size;
    const char *colon = n ? memmem(s, n < 64 ? n : 64, ": ", 2) : NULL;
    if (colon && s[0] >= '0' && s[0] <= '9') {
        n -= (size_t)(colon + 2 - s);
        s = colon + 2;
    }
    td_cb_kind_t kind;
    int rc = td_cb_handle(feed, s, n, 0, emit, NULL, &kind);
    if (rc != (int)n) {
        if (rc != TD_EPROTO || !td_cb_error(feed)[0]) abort();
        return 0;
    }
    if (kind >= TD_CB_KIND_COUNT) abort();
    return 0;
}
