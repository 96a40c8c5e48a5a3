/*
 * nbbo.h: national best bid and offer for one symbol across its exchanges.
 *
 * Each exchange's top of book (from its order book, level book or quote feed) is set with
 * td_nbbo_set_top(); td_nbbo_update() recomputes the best bid (highest price) and best ask (lowest price)
 * and says whether the published NBBO changed. At equal best prices the exchange with the larger size wins,
 * then the lower exchange id; the size is that exchange's size (as a SIP shows it), not the sum.
 *
 * States (API.md): normal; locked when best bid == best ask; crossed when best bid > best ask; stale while
 * any of the symbol's exchanges has an open sequence gap (td_nbbo_set_gap). While stale, the transition
 * into stale is published once and then nothing until every gap is repaired, when a fresh NBBO is
 * published. A side with no quote has price 0 and size 0.
 *
 * Memory: a small inline array of venues (TD_NBBO_MAX_VENUES), no allocation. Engine thread only.
 */
#ifndef TD_NBBO_H
#define TD_NBBO_H

#include <stdbool.h>
#include <stdint.h>

#define TD_NBBO_MAX_VENUES 16

typedef enum td_nbbo_state {
    TD_NBBO_NORMAL = 0,
    TD_NBBO_LOCKED,
    TD_NBBO_CROSSED,
    TD_NBBO_STALE,
} td_nbbo_state_t;

typedef struct td_nbbo {
    int64_t bid_px, bid_qty, ask_px, ask_qty;
    uint8_t bid_exch, ask_exch; /* 0 when that side is empty */
    uint8_t state;              /* td_nbbo_state_t */
} td_nbbo_t;

typedef struct td_nbbo_venue {
    int64_t bid_px, bid_qty, ask_px, ask_qty;
    uint8_t exch;
    bool gap;
} td_nbbo_venue_t;

typedef struct td_nbbo_calc {
    td_nbbo_venue_t venues[TD_NBBO_MAX_VENUES];
    uint8_t nvenues;
    uint8_t ngaps;         /* venues with an open gap */
    bool have_published;
    td_nbbo_t published;   /* last value td_nbbo_update() reported */
} td_nbbo_calc_t;

void td_nbbo_init(td_nbbo_calc_t *c);
/* Sets an exchange's top of book (qty 0 = that side empty). TD_OK, or TD_ENOBUFS when more than
 * TD_NBBO_MAX_VENUES exchanges quote the symbol (the extra exchange is ignored and the caller counts it). */
int td_nbbo_set_top(td_nbbo_calc_t *c, uint8_t exch, int64_t bid_px, int64_t bid_qty, int64_t ask_px,
                    int64_t ask_qty);
/* Opens (gap = true) or closes a sequence gap on an exchange. */
int td_nbbo_set_gap(td_nbbo_calc_t *c, uint8_t exch, bool gap);
/* Recomputes. Returns true (and fills *out) when the NBBO to publish differs from the last one published,
 * false when nothing new is to be published. */
bool td_nbbo_update(td_nbbo_calc_t *c, td_nbbo_t *out);
/* The current computed NBBO (state included) without publishing semantics. */
void td_nbbo_compute(const td_nbbo_calc_t *c, td_nbbo_t *out);
const char *td_nbbo_state_name(td_nbbo_state_t s);

#endif
