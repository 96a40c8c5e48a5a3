/* event.c: names and descriptions of normalized events (logs, test failure messages). */
#include "core/event.h"

#include <stdio.h>

#include "core/decimal.h"
#include "core/symbols.h"

const char *td_ev_type_name(td_ev_type_t t)
{
    static const char *names[TD_EV_TYPE_COUNT] = {
        [TD_EV_NONE] = "none", [TD_EV_TRADE] = "trade", [TD_EV_QUOTE] = "quote",
        [TD_EV_LEVEL_SET] = "level_set", [TD_EV_LEVEL_DEL] = "level_del",
        [TD_EV_ORDER_ADD] = "order_add", [TD_EV_ORDER_EXEC] = "order_exec",
        [TD_EV_ORDER_CANCEL] = "order_cancel", [TD_EV_ORDER_DELETE] = "order_delete",
        [TD_EV_ORDER_REPLACE] = "order_replace", [TD_EV_BOOK_CLEAR] = "book_clear",
        [TD_EV_STATUS] = "status", [TD_EV_GAP] = "gap", [TD_EV_RESYNC] = "resync",
    };
    return (unsigned)t < TD_EV_TYPE_COUNT ? names[t] : "invalid";
}

char *td_event_describe(const td_event_t *ev, char *buf, size_t len)
{
    char p[TD_DEC_BUFSZ], q[TD_DEC_BUFSZ];
    td_dec_fmt(ev->u.order.price, p);
    td_dec_fmt(ev->u.order.qty, q);
    snprintf(buf, len, "%s %s@%s side=%u flags=%u seq=%llu t=%lld px=%s qty=%s id=%llu id2=%llu",
             td_ev_type_name(ev->type), td_sym_name(ev->sym), td_exch_name(ev->exch), ev->side, ev->flags,
             (unsigned long long)ev->src_seq, (long long)ev->exch_ns, p, q,
             (unsigned long long)ev->u.order.order_id, (unsigned long long)ev->u.order.new_order_id);
    return buf;
}
