/*
 * nbbo.c: national best bid and offer across a symbol's exchanges (see nbbo.h for the contract).
 *
 * Representation: venues[0..nvenues) holds only the exchanges that currently matter, i.e. that have a
 * non-empty side or an open gap. A venue whose book becomes empty on both sides (and has no gap) is
 * removed at once (swap with the last), so the TD_NBBO_MAX_VENUES slots are a bound on exchanges quoting
 * *at the same time*, not on every exchange ever seen. The order of venues[] carries no meaning: the
 * tie-break (price, then larger size, then lower exchange id) is a total order, so the result does not
 * depend on where a venue sits.
 *
 * Computing is a scan of at most 16 venues (a few nanoseconds, all in two or three cache lines); keeping
 * a heap or an incremental best would cost more in bookkeeping than it saves at this size.
 *
 * Publication (td_nbbo_update): the value to publish is the computed NBBO; while any gap is open it is
 * "stale", and a stale value equals any other stale value, so entering stale is reported once and later
 * quote changes are swallowed until every gap is closed, when the fresh NBBO differs from the stale one
 * by its state and is therefore always reported. Before anything was published, the reference value is
 * the empty NBBO (both sides empty, normal): an update that computes nothing but emptiness reports nothing.
 * The stale value carries the prices computed over every venue's last known top (the gapped venue
 * included), so a consumer sees where the market was when it went stale.
 *
 * Invariants: every venue in venues[] has exch != 0, is unique, and has a non-empty side or gap == true;
 * an empty side is stored as price 0, size 0; ngaps == number of venues with gap == true.
 *
 * Threading: engine thread only; nothing here locks or allocates.
 */
#include "book/nbbo.h"

#include <string.h>

#include "core/common.h"

void td_nbbo_init(td_nbbo_calc_t *c) { memset(c, 0, sizeof *c); }

static int find_venue(const td_nbbo_calc_t *c, uint8_t exch)
{
    for (int i = 0; i < c->nvenues; i++)
        if (c->venues[i].exch == exch) return i;
    return -1;
}

static bool venue_idle(const td_nbbo_venue_t *v) { return v->bid_qty == 0 && v->ask_qty == 0 && !v->gap; }

static void remove_venue(td_nbbo_calc_t *c, int i)
{
    c->venues[i] = c->venues[c->nvenues - 1];
    c->nvenues--;
}

/* Returns the index of exch's venue, adding an empty one if needed; -1 when every slot is taken. */
static int get_venue(td_nbbo_calc_t *c, uint8_t exch)
{
    int i = find_venue(c, exch);
    if (i >= 0) return i;
    if (c->nvenues >= TD_NBBO_MAX_VENUES) return -1;
    i = c->nvenues++;
    memset(&c->venues[i], 0, sizeof c->venues[i]);
    c->venues[i].exch = exch;
    return i;
}

int td_nbbo_set_top(td_nbbo_calc_t *c, uint8_t exch, int64_t bid_px, int64_t bid_qty, int64_t ask_px,
                    int64_t ask_qty)
{
    if (exch == 0 || bid_qty < 0 || ask_qty < 0) return TD_EINVAL;
    /* An empty side is canonical (0, 0) whatever price came with it, so comparisons never see a stale
     * price behind a zero size. */
    if (bid_qty == 0) bid_px = 0;
    if (ask_qty == 0) ask_px = 0;
    int i = find_venue(c, exch);
    if (i < 0) {
        if (bid_qty == 0 && ask_qty == 0) return TD_OK; /* unknown and empty: nothing to remember */
        i = get_venue(c, exch);
        if (i < 0) return TD_ENOBUFS;
    }
    td_nbbo_venue_t *v = &c->venues[i];
    v->bid_px = bid_px;
    v->bid_qty = bid_qty;
    v->ask_px = ask_px;
    v->ask_qty = ask_qty;
    if (venue_idle(v)) remove_venue(c, i);
    return TD_OK;
}

int td_nbbo_set_gap(td_nbbo_calc_t *c, uint8_t exch, bool gap)
{
    if (exch == 0) return TD_EINVAL;
    int i = gap ? get_venue(c, exch) : find_venue(c, exch);
    if (i < 0) return gap ? TD_ENOBUFS : TD_OK; /* closing a gap nobody opened is harmless */
    td_nbbo_venue_t *v = &c->venues[i];
    if (v->gap != gap) {
        v->gap = gap;
        if (gap) c->ngaps++;
        else c->ngaps--;
    }
    if (venue_idle(v)) remove_venue(c, i);
    return TD_OK;
}

/* Does (px, qty, exch) beat the current best? For bids higher price wins, for asks lower. */
static inline bool better(bool bid, int64_t px, int64_t qty, uint8_t exch, int64_t best_px, int64_t best_qty,
                          uint8_t best_exch)
{
    if (px != best_px) return bid ? px > best_px : px < best_px;
    if (qty != best_qty) return qty > best_qty;
    return exch < best_exch;
}

void td_nbbo_compute(const td_nbbo_calc_t *c, td_nbbo_t *out)
{
    td_nbbo_t n = { 0 };
    for (int i = 0; i < c->nvenues; i++) {
        const td_nbbo_venue_t *v = &c->venues[i];
        if (v->bid_qty > 0 &&
            (n.bid_exch == 0 || better(true, v->bid_px, v->bid_qty, v->exch, n.bid_px, n.bid_qty, n.bid_exch))) {
            n.bid_px = v->bid_px;
            n.bid_qty = v->bid_qty;
            n.bid_exch = v->exch;
        }
        if (v->ask_qty > 0 &&
            (n.ask_exch == 0 || better(false, v->ask_px, v->ask_qty, v->exch, n.ask_px, n.ask_qty, n.ask_exch))) {
            n.ask_px = v->ask_px;
            n.ask_qty = v->ask_qty;
            n.ask_exch = v->exch;
        }
    }
    if (c->ngaps > 0) n.state = TD_NBBO_STALE;
    else if (n.bid_exch == 0 || n.ask_exch == 0) n.state = TD_NBBO_NORMAL; /* one side empty: nothing to lock */
    else if (n.bid_px == n.ask_px) n.state = TD_NBBO_LOCKED;
    else if (n.bid_px > n.ask_px) n.state = TD_NBBO_CROSSED;
    else n.state = TD_NBBO_NORMAL;
    *out = n;
}

static bool same_nbbo(const td_nbbo_t *a, const td_nbbo_t *b)
{
    if (a->state != b->state) return false;
    if (a->state == TD_NBBO_STALE) return true; /* nothing is published while stale */
    return a->bid_px == b->bid_px && a->bid_qty == b->bid_qty && a->ask_px == b->ask_px &&
           a->ask_qty == b->ask_qty && a->bid_exch == b->bid_exch && a->ask_exch == b->ask_exch;
}

bool td_nbbo_update(td_nbbo_calc_t *c, td_nbbo_t *out)
{
    td_nbbo_t n;
    td_nbbo_compute(c, &n);
    static const td_nbbo_t empty = { 0 };
    const td_nbbo_t *last = c->have_published ? &c->published : &empty;
    if (same_nbbo(&n, last)) return false;
    c->published = n;
    c->have_published = true;
    if (out) *out = n;
    return true;
}

const char *td_nbbo_state_name(td_nbbo_state_t s)
{
    switch (s) {
    case TD_NBBO_NORMAL: return "normal";
    case TD_NBBO_LOCKED: return "locked";
    case TD_NBBO_CROSSED: return "crossed";
    case TD_NBBO_STALE: return "stale";
    }
    return "unknown";
}
