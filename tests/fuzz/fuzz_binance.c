/* fuzz_binance: td_bn_parse / td_bn_parse_snapshot on arbitrary bytes, and the depth sync fed with whatever
 * parses. Seeds are recording lines: a leading "<recv ts>: " (WS) or "<url> -> <ts>: " (HTTP snapshot) is
 * stripped, the way the recording source does. Checks: the parser returns len or TD_EPROTO (with a reason);
 * parsed levels have price > 0 and qty >= 0; the sync emits no level while it waits for a snapshot. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/event.h"
#include "feed/binance.h"

static td_bn_parser_t *parser;
static td_bn_sync_t sync_spot, sync_fut;
static int waiting_levels;

static void emit(void *ctx, const td_event_t *ev)
{
    td_bn_sync_t *s = ctx;
    if ((ev->type == TD_EV_LEVEL_SET || ev->type == TD_EV_LEVEL_DEL) && !(ev->flags & TD_EVF_SNAPSHOT) &&
        s->state == TD_BN_SYNC_WAIT_SNAPSHOT)
        waiting_levels++;
    if (ev->type == TD_EV_LEVEL_SET && (ev->u.level.qty <= 0 || ev->u.level.price <= 0)) abort();
    if (ev->side > TD_SIDE_NONE) abort();
}

static void check_levels(const td_bn_level_t *lv, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lv[i].price <= 0 || lv[i].qty < 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!parser) {
        parser = td_bn_parser_create();
        td_bn_sync_init(&sync_spot, 0, 1, false);
        td_bn_sync_init(&sync_fut, 0, 2, true);
    }
    const char *s = (const char *)data;
    size_t n = size;
    bool http = false;
    const char *arrow = n > 4 ? memmem(s, n < 512 ? n : 512, " -> ", 4) : NULL;
    if (arrow) http = true;
    const char *colon = memmem(arrow ? arrow : s, n - (size_t)((arrow ? arrow : s) - s), ": ", 2);
    if (colon && (size_t)(colon - s) < 600 && (http || (n > 0 && s[0] >= '0' && s[0] <= '9'))) {
        n -= (size_t)(colon + 2 - s);
        s = colon + 2;
    }
    if (http) {
        td_bn_snapshot_t snap;
        int rc = td_bn_parse_snapshot(parser, s, n, &snap);
        if (rc == (int)n) {
            check_levels(snap.bids, snap.nbids);
            check_levels(snap.asks, snap.nasks);
            td_bn_sync_snapshot(&sync_spot, &snap, 0, emit, &sync_spot);
            td_bn_sync_snapshot(&sync_fut, &snap, 0, emit, &sync_fut);
        } else if (rc != TD_EPROTO || !td_bn_parser_error(parser)[0]) {
            abort();
        }
        return 0;
    }
    td_bn_msg_t m;
    int rc = td_bn_parse(parser, s, n, &m);
    if (rc != (int)n) {
        if (rc != TD_EPROTO || !td_bn_parser_error(parser)[0]) abort();
        return 0;
    }
    if (m.kind >= TD_BN_KIND_COUNT) abort();
    td_event_t ev;
    size_t ne = td_bn_msg_events(&m, 1, 0, &ev, 1);
    if (ne > 1) abort();
    if (m.kind == TD_BN_DEPTH) {
        if (m.first_id > m.final_id || m.sym == 0) abort();
        check_levels(m.bids, m.nbids);
        check_levels(m.asks, m.nasks);
        sync_spot.sym = sync_fut.sym = m.sym;
        td_bn_sync_depth(&sync_spot, &m, 0, emit, &sync_spot);
        td_bn_sync_depth(&sync_fut, &m, 0, emit, &sync_fut);
        if (waiting_levels) abort();
        /* now and then, a snapshot right at this event so the live paths get exercised too */
        if ((m.final_id & 3) == 0) {
            td_bn_snapshot_t snap = { .last_update_id = m.final_id };
            td_bn_sync_snapshot(&sync_spot, &snap, 0, emit, &sync_spot);
            td_bn_sync_snapshot(&sync_fut, &snap, 0, emit, &sync_fut);
        }
    }
    return 0;
}
