/*
 * engine.c: the single writer of market state (see engine.h for the contract).
 *
 * Per symbol: up to TD_NBBO_MAX_VENUES venues (one per exchange quoting it), each with an order-level
 * book (ORDER_* events), a price-level book (LEVEL_* events) or a quote (QUOTE events); the NBBO over the
 * venues' tops; candles; last trade and day statistics; the out sequence. Symbol state is allocated on
 * first use and lives until the engine is destroyed (symbols are never un-interned).
 *
 * A venue's top is recomputed after every book event and handed to the NBBO only when it changed, so the
 * common case (a change deep in the book) costs two O(1) best-level reads and a compare.
 *
 * Snapshot books: between BOOK_CLEAR and RESYNC a venue is "syncing": its book is rebuilt from the
 * snapshot without publishing intermediate tops, and the NBBO keeps the venue's last top (or, after a GAP,
 * stays stale) until the RESYNC makes the new book visible at once.
 *
 * Threading: everything here runs on the engine thread, except td_engine_snapshot() (any thread, seqlock)
 * and td_engine_stats() (atomics).
 */
#include "engine/engine.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"
#include "core/symbols.h"

#define MAX_INPUTS 64
#define BATCH 256
#define TD_SNAPSHOT_PERIOD_NS (1 * TD_NS_PER_MS)

typedef struct venue {
    uint8_t exch;
    bool gap;            /* a sequence gap is open */
    bool syncing;        /* between BOOK_CLEAR and RESYNC */
    bool has_quote;
    td_obook_t *ob;
    td_lbook_t *lb;
    struct booksnap *book;  /* published top-N of this venue, allocated at first publish */
    int64_t quote[4];    /* bid_px, bid_qty, ask_px, ask_qty from QUOTE events */
    int64_t top[4];      /* last top handed to the NBBO */
} venue_t;

/* A seqlock-published td_book_snap_t (same protocol as the symbol snapshot). */
typedef struct booksnap {
    _Atomic uint64_t ver;
    td_book_snap_t snap;
} booksnap_t;

typedef struct symstate {
    uint32_t sym;
    bool dirty;
    bool book_dirty;            /* a book changed since the last book publish */
    bool in_bpend;              /* on the engine's book-pending list */
    int64_t book_next_ns;       /* monotonic: no book publish before this */
    int64_t book_ns;            /* exchange time of the last book change */
    booksnap_t *book;           /* consolidated, allocated at first publish */
    int64_t nbbo_ns;
    uint8_t nvenues;
    uint8_t trading_state;
    uint8_t venue_of[TD_EXCH_MAX + 1]; /* exch id -> venue index + 1 */
    venue_t venues[TD_NBBO_MAX_VENUES];
    td_nbbo_calc_t nbbo;
    td_candles_t candles;
    uint64_t seq;
    int64_t last_px, last_qty, last_ns;
    uint64_t trades;
    int64_t day_start_s, day_open, day_high, day_low, prev_close;
    td_vol_t day_volume;
    _Atomic uint64_t snap_ver;  /* seqlock: odd while writing */
    td_sym_snap_t snap;
} symstate_t;

struct td_engine {
    td_engine_config_t cfg;
    symstate_t **syms;          /* by symbol id; pointers published with release stores */
    uint32_t *dirty;
    uint32_t ndirty;
    uint32_t *bpend;            /* symbols whose book changed but was published < TD_BOOK_PERIOD_MS ago */
    _Atomic int64_t *book_want; /* by symbol: monotonic ns until which someone watches its book */
    uint32_t nbpend;
    uint32_t *active;           /* symbols that have state, for clock advances */
    uint32_t nactive;
    /* the event being applied, for callbacks that need its times */
    const td_event_t *cur_ev;
    symstate_t *cur_sym;
    td_engine_stats_t stats;
    td_spsc_t *inputs[MAX_INPUTS];
    int ninputs;
    pthread_t thread;
    bool running;
    _Atomic bool stop;
};

/* Only the engine thread writes its counters, so a relaxed load + store is enough (readers see a
 * slightly stale value, never a torn one) and avoids a locked read-modify-write per event. */
#define STAT_ADD(e, field, n)                                                                           \
    atomic_store_explicit(&(e)->stats.field,                                                            \
                          atomic_load_explicit(&(e)->stats.field, memory_order_relaxed) + (n),          \
                          memory_order_relaxed)

td_engine_t *td_engine_create(const td_engine_config_t *cfg)
{
    td_engine_t *e = td_calloc(1, sizeof *e);
    if (cfg) e->cfg = *cfg;
    e->syms = td_calloc(TD_SYM_MAX + 1, sizeof *e->syms);
    e->dirty = td_malloc((TD_SYM_MAX + 1) * sizeof *e->dirty);
    e->active = td_malloc((TD_SYM_MAX + 1) * sizeof *e->active);
    e->bpend = td_malloc((TD_SYM_MAX + 1) * sizeof *e->bpend);
    e->book_want = td_calloc(TD_SYM_MAX + 1, sizeof *e->book_want);
    return e;
}

void td_engine_destroy(td_engine_t *e)
{
    if (!e) return;
    if (e->running) td_engine_stop(e);
    for (uint32_t i = 0; i < e->nactive; i++) {
        symstate_t *s = e->syms[e->active[i]];
        for (int v = 0; v < s->nvenues; v++) {
            td_obook_destroy(s->venues[v].ob);
            td_lbook_destroy(s->venues[v].lb);
            td_free(s->venues[v].book);
        }
        td_free(s->book);
        td_free(s);
    }
    td_free(e->syms);
    td_free(e->dirty);
    td_free(e->active);
    td_free(e->bpend);
    td_free((void *)e->book_want);
    td_free(e);
}

static symstate_t *sym_state(td_engine_t *e, uint32_t sym)
{
    symstate_t *s = e->syms[sym];
    if (TD_LIKELY(s != NULL)) return s;
    s = td_aligned_alloc(64, sizeof *s);
    memset(s, 0, sizeof *s);
    s->sym = sym;
    td_nbbo_init(&s->nbbo);
    td_candles_init(&s->candles);
    e->active[e->nactive++] = sym;
    __atomic_store_n(&e->syms[sym], s, __ATOMIC_RELEASE);
    return s;
}

static venue_t *venue_get(td_engine_t *e, symstate_t *s, uint8_t exch)
{
    uint8_t idx = exch <= TD_EXCH_MAX ? s->venue_of[exch] : 0;
    if (TD_LIKELY(idx)) return &s->venues[idx - 1];
    if (exch > TD_EXCH_MAX || s->nvenues >= TD_NBBO_MAX_VENUES) {
        STAT_ADD(e, venue_overflow, 1);
        TD_LOG_RATELIMITED(TD_LOG_WARN, "engine", 1, "symbol %s: more than %d exchanges; %s ignored",
                           td_sym_name(s->sym), TD_NBBO_MAX_VENUES, td_exch_name(exch));
        return NULL;
    }
    venue_t *v = &s->venues[s->nvenues++];
    memset(v, 0, sizeof *v);
    v->exch = exch;
    s->venue_of[exch] = s->nvenues;
    return v;
}

static void mark_dirty(td_engine_t *e, symstate_t *s)
{
    if (!s->dirty) {
        s->dirty = true;
        e->dirty[e->ndirty++] = s->sym;
    }
}

static void emit(td_engine_t *e, symstate_t *s, td_out_t *o, const td_event_t *ev)
{
    o->sym = s->sym;
    o->seq = ++s->seq;
    if (ev) {
        o->exch_ns = ev->exch_ns;
        o->recv_ns = ev->recv_ns;
    }
    mark_dirty(e, s);
    STAT_ADD(e, outs, 1);
    if (e->cfg.emit) e->cfg.emit(e->cfg.emit_ctx, o);
}

static void venue_top(const venue_t *v, int64_t t[4])
{
    const td_lbook_t *lb = NULL;
    if (v->ob && td_obook_norders(v->ob) > 0) lb = td_obook_levels(v->ob);
    else if (v->lb && (td_lbook_nlevels(v->lb, TD_BID) || td_lbook_nlevels(v->lb, TD_ASK))) lb = v->lb;
    if (lb) {
        td_level_t l;
        if (td_lbook_best(lb, TD_BID, &l) == TD_OK) { t[0] = l.price; t[1] = l.qty; }
        else t[0] = t[1] = 0;
        if (td_lbook_best(lb, TD_ASK, &l) == TD_OK) { t[2] = l.price; t[3] = l.qty; }
        else t[2] = t[3] = 0;
    } else if (v->has_quote) {
        memcpy(t, v->quote, 4 * sizeof *t);
    } else {
        t[0] = t[1] = t[2] = t[3] = 0;
    }
}

static void publish_nbbo(td_engine_t *e, symstate_t *s, const td_event_t *ev)
{
    td_out_t o;
    if (td_nbbo_update(&s->nbbo, &o.u.nbbo)) {
        o.type = TD_OUT_NBBO;
        o.exch = o.side = o.aux = 0;
        if (ev) s->nbbo_ns = ev->exch_ns;
        STAT_ADD(e, nbbo_changes, 1);
        emit(e, s, &o, ev);
    }
}

static void refresh_top(td_engine_t *e, symstate_t *s, venue_t *v, const td_event_t *ev)
{
    if (v->syncing) return;
    int64_t t[4];
    venue_top(v, t);
    if (memcmp(t, v->top, sizeof t) == 0) return;
    memcpy(v->top, t, sizeof t);
    td_nbbo_set_top(&s->nbbo, v->exch, t[0], t[1], t[2], t[3]);
    publish_nbbo(e, s, ev);
}

static void candle_closed(void *ctx, td_interval_t iv, const td_candle_t *c)
{
    td_engine_t *e = ctx;
    td_out_t o;
    memset(&o, 0, sizeof o);
    o.type = TD_OUT_CANDLE;
    o.aux = (uint8_t)iv;
    o.u.candle = *c;
    STAT_ADD(e, candles_closed, 1);
    emit(e, e->cur_sym, &o, e->cur_ev);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static void on_trade(td_engine_t *e, symstate_t *s, const td_event_t *ev, int64_t price, int64_t qty,
                     uint8_t aggressor, uint64_t trade_id)
{
    if (price <= 0 || qty <= 0) {
        STAT_ADD(e, rejected, 1);
        return;
    }
    int64_t day = floor_div(floor_div(ev->exch_ns, TD_NS_PER_SEC), 86400) * 86400;
    if (s->trades == 0 || day > s->day_start_s) {
        if (s->trades) s->prev_close = s->last_px;
        s->day_start_s = day;
        s->day_open = s->day_high = s->day_low = price;
        s->day_volume = 0;
    }
    if (price > s->day_high) s->day_high = price;
    if (price < s->day_low) s->day_low = price;
    s->day_volume += qty;
    s->last_px = price;
    s->last_qty = qty;
    s->last_ns = ev->exch_ns;
    s->trades++;

    e->cur_sym = s;
    e->cur_ev = ev;
    if (td_candles_trade(&s->candles, ev->exch_ns, price, qty, candle_closed, e)) STAT_ADD(e, late_trades, 1);

    td_out_t o;
    o.type = TD_OUT_TRADE;
    o.exch = ev->exch;
    o.side = aggressor;
    o.aux = ev->flags;
    o.u.trade.price = price;
    o.u.trade.qty = qty;
    o.u.trade.bid_px = s->nbbo.published.bid_px;
    o.u.trade.ask_px = s->nbbo.published.ask_px;
    o.u.trade.trade_id = trade_id;
    emit(e, s, &o, ev);
}

static void marker(td_engine_t *e, symstate_t *s, const td_event_t *ev, td_out_type_t type)
{
    td_out_t o;
    memset(&o, 0, sizeof o);
    o.type = (uint8_t)type;
    o.exch = ev->exch;
    o.u.gap.expected = ev->u.gap.expected;
    o.u.gap.received = ev->u.gap.received;
    emit(e, s, &o, ev);
}

static void set_gap(td_engine_t *e, symstate_t *s, venue_t *v, const td_event_t *ev, bool gap)
{
    if (v->gap == gap) return;
    v->gap = gap;
    td_nbbo_set_gap(&s->nbbo, v->exch, gap);
    marker(e, s, ev, gap ? TD_OUT_GAP : TD_OUT_RESYNC);
    if (!gap) {
        v->syncing = false;
        memset(v->top, 0xff, sizeof v->top); /* force the new top through */
        refresh_top(e, s, v, ev);
    }
    publish_nbbo(e, s, ev);
}

static void apply_order(td_engine_t *e, symstate_t *s, venue_t *v, const td_event_t *ev)
{
    if (!v->ob) v->ob = td_obook_create();
    td_order_info_t info;
    int rc;
    switch (ev->type) {
    case TD_EV_ORDER_ADD:
        rc = td_obook_add(v->ob, ev->u.order.order_id, ev->side, ev->u.order.price, ev->u.order.qty);
        break;
    case TD_EV_ORDER_EXEC:
        rc = td_obook_exec(v->ob, ev->u.order.order_id, ev->u.order.qty, &info);
        if (rc == TD_OK || rc == TD_ERANGE) {
            if (!(ev->flags & TD_EVF_NONPRINT)) {
                int64_t px = ev->u.order.price ? ev->u.order.price : info.price;
                uint8_t aggressor = info.side == TD_BID ? TD_ASK : TD_BID;
                on_trade(e, s, ev, px, info.removed, aggressor, ev->src_seq);
            }
        } else if (rc == TD_ENOENT && ev->u.order.price > 0 && !(ev->flags & TD_EVF_NONPRINT)) {
            /* an order we never saw (placed before we joined): the trade is still a fact */
            uint8_t aggressor = ev->side == TD_BID ? TD_ASK : ev->side == TD_ASK ? TD_BID : TD_SIDE_NONE;
            on_trade(e, s, ev, ev->u.order.price, ev->u.order.qty, aggressor, ev->src_seq);
        }
        break;
    case TD_EV_ORDER_CANCEL:
        rc = td_obook_cancel(v->ob, ev->u.order.order_id, ev->u.order.qty, &info);
        break;
    case TD_EV_ORDER_DELETE:
        rc = td_obook_delete(v->ob, ev->u.order.order_id, NULL);
        break;
    default: /* TD_EV_ORDER_REPLACE */
        rc = td_obook_replace(v->ob, ev->u.order.order_id, ev->u.order.new_order_id, ev->u.order.price,
                              ev->u.order.qty, &info);
        break;
    }
    if (rc == TD_ENOENT) STAT_ADD(e, unknown_orders, 1);
    if (rc != TD_OK && rc != TD_ERANGE) STAT_ADD(e, rejected, 1);
    refresh_top(e, s, v, ev);
}

static void apply_one(td_engine_t *e, const td_event_t *ev);

void td_engine_apply(td_engine_t *e, const td_event_t *ev)
{
    if (e->cfg.on_event) {
        const symstate_t *s = ev->sym && ev->sym <= TD_SYM_MAX ? e->syms[ev->sym] : NULL;
        e->cfg.on_event(e->cfg.on_event_ctx, ev, s ? s->seq : 0);
    }
    apply_one(e, ev);
}

void td_engine_restore(td_engine_t *e, uint32_t sym, const td_sym_snap_t *snap)
{
    if (sym == 0 || sym > TD_SYM_MAX) return;
    symstate_t *s = sym_state(e, sym);
    if (snap->seq > s->seq) s->seq = snap->seq;
    s->last_px = snap->last_px;
    s->last_qty = snap->last_qty;
    s->last_ns = snap->last_ns;
    s->trades = snap->trades;
    s->day_start_s = snap->day_start_s;
    s->day_open = snap->day_open;
    s->day_high = snap->day_high;
    s->day_low = snap->day_low;
    s->prev_close = snap->prev_close;
    s->day_volume = snap->day_volume;
    s->trading_state = snap->trading_state;
    td_candles_restore(&s->candles, snap->candles, snap->candle_mask, snap->last_ns);
    mark_dirty(e, s);
}

static void apply_one(td_engine_t *e, const td_event_t *ev)
{
    STAT_ADD(e, events, 1);
    if (ev->type < TD_EV_TYPE_COUNT) STAT_ADD(e, by_type[ev->type], 1);
    if (ev->sym == 0 || ev->sym > TD_SYM_MAX) {
        if (ev->sym == 0 && (ev->type == TD_EV_GAP || ev->type == TD_EV_RESYNC)) {
            /* exchange-wide marker: every symbol that exchange quotes */
            for (uint32_t i = 0; i < e->nactive; i++) {
                symstate_t *s = e->syms[e->active[i]];
                uint8_t idx = ev->exch <= TD_EXCH_MAX ? s->venue_of[ev->exch] : 0;
                if (idx) set_gap(e, s, &s->venues[idx - 1], ev, ev->type == TD_EV_GAP);
            }
            return;
        }
        STAT_ADD(e, rejected, 1);
        return;
    }
    symstate_t *s = sym_state(e, ev->sym);
    if (ev->type == TD_EV_TRADE) {
        if (!(ev->flags & TD_EVF_NONPRINT))
            on_trade(e, s, ev, ev->u.trade.price, ev->u.trade.qty, ev->side, ev->u.trade.trade_id);
        return;
    }
    if (ev->type == TD_EV_STATUS) {
        if (s->trading_state != ev->u.status.state) {
            s->trading_state = (uint8_t)ev->u.status.state;
            td_out_t o;
            memset(&o, 0, sizeof o);
            o.type = TD_OUT_STATUS;
            o.exch = ev->exch;
            o.aux = (uint8_t)ev->u.status.state;
            emit(e, s, &o, ev);
        }
        return;
    }
    venue_t *v = venue_get(e, s, ev->exch);
    if (!v) return;
    if (ev->type != TD_EV_GAP) {
        s->book_dirty = true;
        s->book_ns = ev->exch_ns;
        mark_dirty(e, s);
    }
    switch (ev->type) {
    case TD_EV_ORDER_ADD:
    case TD_EV_ORDER_EXEC:
    case TD_EV_ORDER_CANCEL:
    case TD_EV_ORDER_DELETE:
    case TD_EV_ORDER_REPLACE:
        apply_order(e, s, v, ev);
        break;
    case TD_EV_LEVEL_SET:
    case TD_EV_LEVEL_DEL: {
        if (!v->lb) v->lb = td_lbook_create();
        int rc = ev->type == TD_EV_LEVEL_SET ? td_lbook_set(v->lb, ev->side, ev->u.level.price, ev->u.level.qty)
                                             : td_lbook_del(v->lb, ev->side, ev->u.level.price);
        /* deleting a level we do not hold is normal for depth-limited snapshots */
        if (rc != TD_OK && rc != TD_ENOENT) STAT_ADD(e, rejected, 1);
        refresh_top(e, s, v, ev);
        break;
    }
    case TD_EV_QUOTE:
        if (ev->u.quote.bid_qty < 0 || ev->u.quote.ask_qty < 0 || ev->u.quote.bid_px < 0 ||
            ev->u.quote.ask_px < 0) {
            STAT_ADD(e, rejected, 1);
            break;
        }
        v->has_quote = true;
        v->quote[0] = ev->u.quote.bid_px;
        v->quote[1] = ev->u.quote.bid_qty;
        v->quote[2] = ev->u.quote.ask_px;
        v->quote[3] = ev->u.quote.ask_qty;
        refresh_top(e, s, v, ev);
        break;
    case TD_EV_BOOK_CLEAR:
        if (v->ob) td_obook_clear(v->ob);
        if (v->lb) td_lbook_clear(v->lb);
        v->has_quote = false;
        v->syncing = true;
        break;
    case TD_EV_GAP:
        set_gap(e, s, v, ev, true);
        break;
    case TD_EV_RESYNC:
        if (v->gap) {
            set_gap(e, s, v, ev, false);
        } else { /* a snapshot that was not repairing a gap (first sync) */
            v->syncing = false;
            marker(e, s, ev, TD_OUT_RESYNC);
            refresh_top(e, s, v, ev);
        }
        break;
    default:
        STAT_ADD(e, rejected, 1);
        break;
    }
}

/* The order book of the event's (symbol, exchange), if it exists yet; no allocation. */
static inline const td_obook_t *peek_obook(const td_engine_t *e, const td_event_t *ev)
{
    if (ev->type < TD_EV_ORDER_EXEC || ev->type > TD_EV_ORDER_REPLACE || ev->sym > TD_SYM_MAX) return NULL;
    const symstate_t *s = e->syms[ev->sym];
    if (!s || ev->exch > TD_EXCH_MAX) return NULL;
    uint8_t idx = s->venue_of[ev->exch];
    return idx ? s->venues[idx - 1].ob : NULL;
}

/* Applies a batch, hinting the order books a few events ahead: the id-table slot 8 events ahead and the
 * order record 4 ahead, so the cache misses of a large book overlap instead of queueing one by one. */
void td_engine_apply_batch(td_engine_t *e, const td_event_t *evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i + 8 < n) {
            const td_obook_t *b = peek_obook(e, &evs[i + 8]);
            if (b) td_obook_prefetch_slot(b, evs[i + 8].u.order.order_id);
        }
        if (i + 4 < n) {
            const td_obook_t *b = peek_obook(e, &evs[i + 4]);
            if (b) td_obook_prefetch_order(b, evs[i + 4].u.order.order_id);
        }
        td_engine_apply(e, &evs[i]);
    }
}

/* ---- snapshots (seqlock) ---- */

static void snap_build(const symstate_t *s, td_sym_snap_t *o)
{
    memset(o, 0, sizeof *o);
    o->seq = s->seq;
    o->last_px = s->last_px;
    o->last_qty = s->last_qty;
    o->last_ns = s->last_ns;
    o->trades = s->trades;
    o->nbbo = s->nbbo.published;
    o->nbbo_ns = s->nbbo_ns;
    o->day_start_s = s->day_start_s;
    o->day_open = s->day_open;
    o->day_high = s->day_high;
    o->day_low = s->day_low;
    o->prev_close = s->prev_close;
    o->day_volume = s->day_volume;
    memcpy(o->candles, s->candles.cur, sizeof o->candles);
    o->candle_mask = s->candles.open_mask;
    o->trading_state = s->trading_state;
    o->nvenues = s->nvenues;
    for (int i = 0; i < s->nvenues; i++) o->venues[i] = s->venues[i].exch;
}

static void snap_publish(symstate_t *s)
{
    td_sym_snap_t tmp;
    snap_build(s, &tmp);
    uint64_t v = atomic_load_explicit(&s->snap_ver, memory_order_relaxed);
    atomic_store_explicit(&s->snap_ver, v + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    const uint64_t *src = (const uint64_t *)&tmp;
    uint64_t *dst = (uint64_t *)&s->snap;
    for (size_t i = 0; i < sizeof tmp / 8; i++) __atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
    atomic_store_explicit(&s->snap_ver, v + 2, memory_order_release);
}

bool td_engine_snapshot(const td_engine_t *e, uint32_t sym, td_sym_snap_t *out)
{
    if (sym == 0 || sym > TD_SYM_MAX) return false;
    symstate_t *s = __atomic_load_n(&e->syms[sym], __ATOMIC_ACQUIRE);
    if (!s) return false;
    for (;;) {
        uint64_t v1 = atomic_load_explicit(&s->snap_ver, memory_order_acquire);
        if (v1 == 0) return false; /* never published */
        if (v1 & 1) {
            sched_yield();
            continue;
        }
        const uint64_t *src = (const uint64_t *)&s->snap;
        uint64_t *dst = (uint64_t *)out;
        for (size_t i = 0; i < sizeof *out / 8; i++) dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->snap_ver, memory_order_relaxed) == v1) return true;
    }
}

static void book_store(booksnap_t *b, const td_book_snap_t *tmp)
{
    uint64_t v = atomic_load_explicit(&b->ver, memory_order_relaxed);
    atomic_store_explicit(&b->ver, v + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    const uint64_t *src = (const uint64_t *)tmp;
    uint64_t *dst = (uint64_t *)&b->snap;
    for (size_t i = 0; i < sizeof *tmp / 8; i++) __atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
    atomic_store_explicit(&b->ver, v + 2, memory_order_release);
}

static booksnap_t *booksnap_new(void)
{
    booksnap_t *b = td_aligned_alloc(64, sizeof *b);
    memset(b, 0, sizeof *b);
    return b;
}

/* Publishes the consolidated and per-venue top-N and announces them with a BOOK record. Bounded work:
 * at most once per TD_BOOK_PERIOD_MS per symbol, and only when a book changed. */
static void book_publish(td_engine_t *e, symstate_t *s)
{
    td_book_snap_t tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.seq = s->seq + 1; /* the BOOK record emitted below */
    tmp.exch_ns = s->book_ns;
    tmp.nbids = (uint8_t)td_engine_consolidated(e, s->sym, TD_BID, tmp.bids, TD_BOOK_SNAP_DEPTH);
    tmp.nasks = (uint8_t)td_engine_consolidated(e, s->sym, TD_ASK, tmp.asks, TD_BOOK_SNAP_DEPTH);
    if (!s->book) s->book = booksnap_new();
    book_store(s->book, &tmp);
    for (int i = 0; i < s->nvenues; i++) {
        venue_t *v = &s->venues[i];
        td_book_snap_t vt;
        memset(&vt, 0, sizeof vt);
        vt.seq = tmp.seq;
        vt.exch_ns = s->book_ns;
        vt.exch = v->exch;
        const td_lbook_t *lb = td_engine_levels(e, s->sym, v->exch);
        if (lb) {
            const td_lbook_t *one[1] = { lb };
            vt.nbids = (uint8_t)td_book_consolidate(one, &v->exch, 1, TD_BID, vt.bids, TD_BOOK_SNAP_DEPTH);
            vt.nasks = (uint8_t)td_book_consolidate(one, &v->exch, 1, TD_ASK, vt.asks, TD_BOOK_SNAP_DEPTH);
        } else if (v->has_quote) {
            if (v->quote[1] > 0) vt.bids[vt.nbids++] = (td_clevel_t){ v->quote[0], v->quote[1], 1, v->exch };
            if (v->quote[3] > 0) vt.asks[vt.nasks++] = (td_clevel_t){ v->quote[2], v->quote[3], 1, v->exch };
        }
        if (!v->book) v->book = booksnap_new();
        book_store(v->book, &vt);
    }
    td_out_t o;
    memset(&o, 0, sizeof o);
    o.type = TD_OUT_BOOK;
    o.exch_ns = s->book_ns;
    o.recv_ns = td_now_ns();
    o.sym = s->sym;
    o.seq = ++s->seq;
    STAT_ADD(e, outs, 1);
    if (e->cfg.emit) e->cfg.emit(e->cfg.emit_ctx, &o);
}

static bool book_load(const booksnap_t *b, td_book_snap_t *out)
{
    if (!b) return false;
    for (;;) {
        uint64_t v1 = atomic_load_explicit(&((booksnap_t *)b)->ver, memory_order_acquire);
        if (v1 == 0) return false;
        if (v1 & 1) {
            sched_yield();
            continue;
        }
        const uint64_t *src = (const uint64_t *)&b->snap;
        uint64_t *dst = (uint64_t *)out;
        for (size_t i = 0; i < sizeof *out / 8; i++) dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&((booksnap_t *)b)->ver, memory_order_relaxed) == v1) return true;
    }
}

bool td_engine_book(const td_engine_t *e, uint32_t sym, uint8_t exch, td_book_snap_t *out)
{
    if (sym == 0 || sym > TD_SYM_MAX) return false;
    symstate_t *s = __atomic_load_n(&e->syms[sym], __ATOMIC_ACQUIRE);
    if (!s) return false;
    if (exch == 0) return book_load(__atomic_load_n(&s->book, __ATOMIC_ACQUIRE), out);
    /* venues are appended by the engine thread; an index read here may be new, its book pointer then
     * still NULL (reads as "none yet") */
    for (int i = 0; i < TD_NBBO_MAX_VENUES; i++) {
        if (__atomic_load_n(&s->venues[i].exch, __ATOMIC_RELAXED) != exch) continue;
        return book_load(__atomic_load_n(&s->venues[i].book, __ATOMIC_ACQUIRE), out);
    }
    return false;
}

void td_engine_want_book(td_engine_t *e, uint32_t sym, int64_t for_ms)
{
    if (sym == 0 || sym > TD_SYM_MAX) return;
    int64_t until = td_mono_ns() + for_ms * TD_NS_PER_MS;
    int64_t cur = atomic_load_explicit(&e->book_want[sym], memory_order_relaxed);
    while (cur < until &&
           !atomic_compare_exchange_weak_explicit(&e->book_want[sym], &cur, until, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

static void book_maybe_publish(td_engine_t *e, symstate_t *s, int64_t now)
{
    if (now >= s->book_next_ns) {
        bool watched = now < atomic_load_explicit(&e->book_want[s->sym], memory_order_relaxed);
        s->book_dirty = false;
        s->book_next_ns = now + (watched ? TD_BOOK_PERIOD_MS : TD_BOOK_IDLE_PERIOD_MS) * TD_NS_PER_MS;
        book_publish(e, s);
    } else if (!s->in_bpend) {
        s->in_bpend = true;
        e->bpend[e->nbpend++] = s->sym;
    }
}

void td_engine_flush(td_engine_t *e)
{
    int64_t now = 0;
    /* books held back by the rate limit first: publishing emits a BOOK record, which marks the symbol
     * dirty, so its snapshot (seq) is published in the loop below */
    if (e->nbpend) {
        now = td_mono_ns();
        uint32_t n = e->nbpend;
        e->nbpend = 0; /* re-adds land at indexes already visited */
        for (uint32_t i = 0; i < n; i++) {
            symstate_t *s = e->syms[e->bpend[i]];
            s->in_bpend = false;
            if (s->book_dirty && !s->dirty) book_maybe_publish(e, s, now); /* dirty ones: the loop below */
        }
    }
    for (uint32_t i = 0; i < e->ndirty; i++) {
        symstate_t *s = e->syms[e->dirty[i]];
        if (s->book_dirty) {
            if (!now) now = td_mono_ns();
            book_maybe_publish(e, s, now); /* s is still marked dirty, so its BOOK record adds nothing here */
        }
        s->dirty = false;
        snap_publish(s);
    }
    e->ndirty = 0;
    STAT_ADD(e, batches, 1);
}

void td_engine_advance(td_engine_t *e, int64_t now_ns)
{
    for (uint32_t i = 0; i < e->nactive; i++) {
        symstate_t *s = e->syms[e->active[i]];
        if (!s->candles.open_mask) continue;
        e->cur_sym = s;
        e->cur_ev = NULL;
        uint8_t before = s->candles.open_mask;
        td_candles_advance(&s->candles, now_ns, candle_closed, e);
        if (s->candles.open_mask != before) mark_dirty(e, s);
    }
}

const td_obook_t *td_engine_obook(const td_engine_t *e, uint32_t sym, uint8_t exch)
{
    const symstate_t *s = sym <= TD_SYM_MAX ? e->syms[sym] : NULL;
    if (!s || exch > TD_EXCH_MAX || !s->venue_of[exch]) return NULL;
    return s->venues[s->venue_of[exch] - 1].ob;
}

const td_lbook_t *td_engine_levels(const td_engine_t *e, uint32_t sym, uint8_t exch)
{
    const symstate_t *s = sym <= TD_SYM_MAX ? e->syms[sym] : NULL;
    if (!s || exch > TD_EXCH_MAX || !s->venue_of[exch]) return NULL;
    const venue_t *v = &s->venues[s->venue_of[exch] - 1];
    if (v->ob && td_obook_norders(v->ob)) return td_obook_levels(v->ob);
    return v->lb;
}

size_t td_engine_consolidated(const td_engine_t *e, uint32_t sym, int side, td_clevel_t *out, size_t max)
{
    const symstate_t *s = sym <= TD_SYM_MAX ? e->syms[sym] : NULL;
    if (!s) return 0;
    const td_lbook_t *books[TD_NBBO_MAX_VENUES];
    uint8_t exch[TD_NBBO_MAX_VENUES];
    size_t n = 0;
    for (int i = 0; i < s->nvenues; i++) {
        const td_lbook_t *b = td_engine_levels(e, sym, s->venues[i].exch);
        if (b) {
            books[n] = b;
            exch[n++] = s->venues[i].exch;
        }
    }
    return td_book_consolidate(books, exch, n, side, out, max);
}

const td_engine_stats_t *td_engine_stats(const td_engine_t *e) { return &e->stats; }

size_t td_engine_order_book_mem(const td_engine_t *e, uint64_t *live_orders)
{
    size_t bytes = 0;
    uint64_t n = 0;
    for (uint32_t i = 0; i < e->nactive; i++) {
        const symstate_t *s = e->syms[e->active[i]];
        for (int v = 0; v < s->nvenues; v++) {
            if (!s->venues[v].ob) continue;
            bytes += td_obook_mem_bytes(s->venues[v].ob);
            n += td_obook_norders(s->venues[v].ob);
        }
    }
    if (live_orders) *live_orders = n;
    return bytes;
}

/* ---- the engine thread ---- */

void td_engine_add_input(td_engine_t *e, td_spsc_t *ring)
{
    if (e->ninputs < MAX_INPUTS) e->inputs[e->ninputs++] = ring;
}

static size_t drain_once(td_engine_t *e)
{
    size_t total = 0;
    for (int i = 0; i < e->ninputs; i++) {
        void *slots;
        size_t n = td_spsc_peek(e->inputs[i], BATCH, &slots);
        td_engine_apply_batch(e, slots, n);
        if (n) td_spsc_release(e->inputs[i], n);
        total += n;
    }
    return total;
}

static void refresh_live_orders(td_engine_t *e)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < e->nactive; i++) {
        const symstate_t *s = e->syms[e->active[i]];
        for (int v = 0; v < s->nvenues; v++)
            if (s->venues[v].ob) n += td_obook_norders(s->venues[v].ob);
    }
    atomic_store_explicit(&e->stats.live_orders, n, memory_order_relaxed);
}

static void *engine_main(void *arg)
{
    td_engine_t *e = arg;
    unsigned idle = 0;
    int64_t next_clock = 0, next_stats = 0, next_flush = 0;
    while (!atomic_load_explicit(&e->stop, memory_order_acquire)) {
        uint64_t outs_before = atomic_load_explicit(&e->stats.outs, memory_order_relaxed);
        size_t n = drain_once(e);
        if (n) {
            idle = 0;
        } else if (++idle > 64) {
            struct timespec ts = { 0, idle > 1024 ? 200000 : 20000 };
            nanosleep(&ts, NULL);
        } else {
            sched_yield();
        }
        int64_t now = td_mono_ns();
        if (e->cfg.wall_clock && now >= next_clock) {
            td_engine_advance(e, td_now_ns());
            next_clock = now + 50 * TD_NS_PER_MS;
        }
        if (now >= next_stats) {
            refresh_live_orders(e);
            next_stats = now + TD_NS_PER_SEC;
        }
        /* Snapshots are for readers that poll (REST, subscribe-time snapshots, the status line): at most
         * one publish per symbol per millisecond under load, at once when the input goes quiet. */
        if ((e->ndirty || e->nbpend) && (n == 0 || now >= next_flush)) {
            td_engine_flush(e);
            next_flush = now + TD_SNAPSHOT_PERIOD_NS;
        }
        if (e->cfg.batch_end && atomic_load_explicit(&e->stats.outs, memory_order_relaxed) != outs_before)
            e->cfg.batch_end(e->cfg.emit_ctx);
    }
    while (drain_once(e)) td_engine_flush(e);
    td_engine_flush(e);
    if (e->cfg.batch_end) e->cfg.batch_end(e->cfg.emit_ctx);
    refresh_live_orders(e);
    return NULL;
}

int td_engine_start(td_engine_t *e)
{
    atomic_store(&e->stop, false);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) return TD_ENOMEM;
    e->running = true;
    return TD_OK;
}

void td_engine_stop(td_engine_t *e)
{
    if (!e->running) return;
    atomic_store_explicit(&e->stop, true, memory_order_release);
    pthread_join(e->thread, NULL);
    e->running = false;
}
