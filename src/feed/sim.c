/*
 * sim.c: the simulator feed (see sim.h for the spec and the stream invariants).
 *
 * Model. Each symbol has a mid price in ticks ($0.01) doing a random walk in simulated time: +-1 tick moves
 * at Poisson times whose rate makes the volatility about 1.5e-4 of the price per sqrt(second) (~2.3% a
 * day), with a soft pull back towards the reference price so a long demo does not wander off. Each
 * (symbol, exchange) book quotes around center = mid + offset, where the exchange's offset is usually 0 and
 * now and then +-1..2 ticks for a short while: that, and quotes left stale after the mid moves, is what
 * makes the consolidated market briefly locked or crossed, as it is in real US equities.
 *
 * Each book keeps its live orders in two small arrays (one per side) sorted in price-time priority: index
 * 0 is the best price's oldest order. The arrays are capped (max_orders per side); a full side deletes its
 * deepest order instead of adding. Sorted arrays make every operation the generator needs trivial and
 * cheap at these sizes: the touch is [0], executions hit [0] (FIFO), the cap deletes [n-1], a snapshot is
 * a walk of the arrays, and a random order is a random index. Nothing needs an id lookup, because the
 * generator picks orders and then names them; the receiver is the one that looks ids up.
 *
 * One generation step picks a book (uniformly) and an action: add (mostly at or near the touch, some
 * deeper), delete, partial cancel, replace (new id, new price, loses priority), a marketable order that
 * executes one or more resting orders at the touch (preferring quotes left stale on the wrong side of the
 * center), or a trade against hidden liquidity inside the spread. Adds never cross their own book: a price
 * through the opposite touch is pulled back to one tick inside it.
 *
 * Losses. When the gap countdown fires, the events of that step are applied to the model and consume
 * their sequence numbers but are withheld; a TD_EV_GAP goes out instead and the book is frozen (no more
 * steps on it) until its repair, which some dozens of steps later emits BOOK_CLEAR, the model's orders as
 * snapshot adds and RESYNC. Freezing is what keeps later events from naming orders the receiver never
 * saw (or missing ones it still has): whatever the lost events did, the snapshot replaces the receiver's
 * book with the model's.
 *
 * Modes. The model always works at order level; in levels and quotes modes each step's order events are
 * rewritten after the fact (translate()): executions become TRADEs, and the price levels the step touched
 * are re-read from the model and sent as LEVEL_SET / LEVEL_DEL, or the top of book as a QUOTE if it
 * changed. So the three modes show the same market for a seed, and a level or quote is always the model's.
 *
 * Steps write into a small pending buffer that td_sim_generate() drains, so a step's events (a sweep, a
 * snapshot) can span calls. Threading: one thread per td_sim_t / source.
 */
#include "feed/sim.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/decimal.h"
#include "core/rng.h"

#define TICK_SCALE    (TD_PX_SCALE / 100)   /* $0.01 in scaled units */
#define LOT           100                   /* shares in a round lot */
#define MAX_REPAIRS   8                     /* concurrent open gaps; a loss is skipped when full */
#define MIN_MID_TICKS 100                   /* $1: below that US tick rules change; keep out */
#define MAX_MID_TICKS 1000000000            /* $10M: order prices must fit sim_order_t's int32 */
#define VOL_PER_SQRT_S 1.5e-4
#define UNPACED_PERIOD_PS 1000000ULL        /* generator time at rate=0: 1,000,000 events/s */

static const char *const default_symbols[] = { "AAPL", "MSFT", "AMZN", "GOOGL", "NVDA", "TSLA", "META", "SPY" };
static const char *const default_exchanges[] = { "NYSE", "NASDAQ", "ARCA" };

/* Plausible reference prices (in cents) so the dashboard looks familiar; other names get a hashed price. */
static const struct { const char *name; int64_t cents; } ref_prices[] = {
    { "AAPL", 18943 },  { "MSFT", 41526 }, { "AMZN", 17815 }, { "GOOGL", 14180 }, { "GOOG", 14290 },
    { "NVDA", 12140 },  { "TSLA", 24850 }, { "META", 48613 }, { "SPY", 50785 },   { "QQQ", 43120 },
    { "IWM", 20115 },   { "JPM", 18312 },  { "BAC", 3421 },   { "AMD", 16020 },   { "NFLX", 58310 },
    { "INTC", 4312 },   { "DIS", 11045 },  { "KO", 6002 },    { "XOM", 10510 },   { "WMT", 17030 },
    { "V", 28075 },     { "MA", 46020 },   { "BRK.B", 41050 }, { "UNH", 52110 },  { "AVGO", 130225 },
    { "COST", 73280 },  { "PEP", 16875 },  { "ORCL", 12560 }, { "CSCO", 4871 },   { "F", 1215 },
};

/* ------------------------------------------------------------------------------------------------ */
/* config                                                                                           */

void td_sim_config_default(td_sim_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->nsym = TD_ARRAY_LEN(default_symbols);
    for (size_t i = 0; i < cfg->nsym; i++) snprintf(cfg->symbols[i], sizeof cfg->symbols[i], "%s", default_symbols[i]);
    cfg->nexch = TD_ARRAY_LEN(default_exchanges);
    for (size_t i = 0; i < cfg->nexch; i++)
        snprintf(cfg->exchanges[i], sizeof cfg->exchanges[i], "%s", default_exchanges[i]);
    cfg->rate = TD_SIM_DEFAULT_RATE;
    cfg->seed = TD_SIM_DEFAULT_SEED;
    cfg->gap_every = TD_SIM_DEFAULT_GAP_EVERY;
    cfg->start_ns = 0;
    cfg->max_orders = TD_SIM_DEFAULT_MAX_ORDERS;
}

/* Writes "sim: <message>" into err and returns TD_EINVAL. */
static int set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(err, errlen, "sim: ");
        if (n > 0 && (size_t)n < errlen) vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return TD_EINVAL;
}

/* Decimal digits only, no sign, no overflow. */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0) return TD_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return TD_EINVAL;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
            return TD_ERANGE;
    }
    *out = v;
    return TD_OK;
}

/* Same character rules as symbols.c, so a name that parses here also interns. */
static int normalize_name(const char *s, size_t len, size_t max, char *out)
{
    if (len == 0 || len > max) return TD_EINVAL;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
                   c == ':' || c == '/'))
            return TD_EINVAL;
        out[i] = c;
    }
    out[len] = '\0';
    return TD_OK;
}

/* Parses "A,B,C" into names (each at most name_max chars) stored name_size bytes apart. */
static int parse_list(const char *what, const char *v, size_t vlen, char *names, size_t name_size,
                      size_t name_max, size_t max, size_t *count, char *err, size_t errlen)
{
    size_t n = 0;
    const char *p = v, *end = v + vlen;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        size_t len = (size_t)(item_end - p);
        if (n == max) return set_err(err, errlen, "too many %s (at most %zu)", what, max);
        char *dst = names + n * name_size;
        if (normalize_name(p, len, name_max, dst) != TD_OK)
            return set_err(err, errlen, "bad name '%.*s' in %s (1..%zu of A-Z 0-9 . _ - : /)", (int)len, p, what,
                        name_max);
        for (size_t i = 0; i < n; i++)
            if (strcmp(names + i * name_size, dst) == 0) return set_err(err, errlen, "duplicate %s '%s'", what, dst);
        n++;
        if (!comma) break;
        p = comma + 1;
    }
    *count = n;
    return TD_OK;
}

static int check_config(const td_sim_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->nsym == 0 || cfg->nsym > TD_SIM_MAX_SYMBOLS)
        return set_err(err, errlen, "need 1..%d symbols, have %zu", TD_SIM_MAX_SYMBOLS, cfg->nsym);
    if (cfg->nexch == 0 || cfg->nexch > TD_SIM_MAX_EXCHANGES)
        return set_err(err, errlen, "need 1..%d exchanges, have %zu", TD_SIM_MAX_EXCHANGES, cfg->nexch);
    if (cfg->rate > TD_SIM_MAX_RATE)
        return set_err(err, errlen, "rate %llu too high (at most %llu, or max)", (unsigned long long)cfg->rate,
                    (unsigned long long)TD_SIM_MAX_RATE);
    if (cfg->max_orders < 4 || cfg->max_orders > 256)
        return set_err(err, errlen, "max_orders %u out of range 4..256", cfg->max_orders);
    if (cfg->start_ns < 0) return set_err(err, errlen, "start before 1970");
    if ((unsigned)cfg->mode > TD_SIM_QUOTES) return set_err(err, errlen, "bad mode %d", (int)cfg->mode);
    return TD_OK;
}

int td_sim_config_parse(td_sim_config_t *cfg, const char *args, char *err, size_t errlen)
{
    if (!args) return check_config(cfg, err, errlen);
    const char *p = args;
    while (*p) {
        const char *semi = strchr(p, ';');
        const char *end = semi ? semi : p + strlen(p);
        size_t len = (size_t)(end - p);
        if (len > 0) { /* empty items (";;" or a trailing ';') are harmless */
            const char *eq = memchr(p, '=', len);
            if (!eq) return set_err(err, errlen, "expected key=value, got '%.*s'", (int)len, p);
            size_t klen = (size_t)(eq - p);
            const char *v = eq + 1;
            size_t vlen = (size_t)(end - v);
            uint64_t num = 0;
#define KEY(k) (klen == sizeof(k) - 1 && strncasecmp(p, k, klen) == 0)
#define NUM()                                                                                            \
    do {                                                                                                 \
        int rc_ = parse_u64(v, vlen, &num);                                                              \
        if (rc_ != TD_OK)                                                                                \
            return set_err(err, errlen, "%.*s: '%.*s' is not %s", (int)klen, p, (int)vlen, v,               \
                        rc_ == TD_ERANGE ? "in range" : "a non-negative integer");                       \
    } while (0)
            if (KEY("symbols")) {
                int rc = parse_list("symbols", v, vlen, &cfg->symbols[0][0], sizeof cfg->symbols[0],
                                    TD_SYM_NAME_MAX, TD_SIM_MAX_SYMBOLS, &cfg->nsym, err, errlen);
                if (rc != TD_OK) return rc;
            } else if (KEY("exchanges")) {
                int rc = parse_list("exchanges", v, vlen, &cfg->exchanges[0][0], sizeof cfg->exchanges[0],
                                    TD_EXCH_NAME_MAX, TD_SIM_MAX_EXCHANGES, &cfg->nexch, err, errlen);
                if (rc != TD_OK) return rc;
            } else if (KEY("rate")) {
                if (vlen == 3 && strncasecmp(v, "max", 3) == 0) cfg->rate = 0;
                else {
                    NUM();
                    if (num > TD_SIM_MAX_RATE)
                        return set_err(err, errlen, "rate %llu too high (at most %llu, or max)",
                                    (unsigned long long)num, (unsigned long long)TD_SIM_MAX_RATE);
                    cfg->rate = num;
                }
            } else if (KEY("seed")) {
                NUM();
                cfg->seed = num;
            } else if (KEY("gap_every")) {
                NUM();
                cfg->gap_every = num;
            } else if (KEY("start")) {
                NUM();
                /* 2^32 - 1 s (year 2106) leaves the simulated clock centuries of int64 ns headroom */
                if (num > 4294967295ULL) return set_err(err, errlen, "start %llu is past year 2106", (unsigned long long)num);
                cfg->start_ns = (int64_t)num * TD_NS_PER_SEC;
            } else if (KEY("max_orders")) {
                NUM();
                if (num < 4 || num > 256) return set_err(err, errlen, "max_orders %llu out of range 4..256", (unsigned long long)num);
                cfg->max_orders = (uint32_t)num;
            } else if (KEY("mode")) {
                if (vlen == 6 && strncasecmp(v, "orders", 6) == 0) cfg->mode = TD_SIM_ORDERS;
                else if (vlen == 6 && strncasecmp(v, "levels", 6) == 0) cfg->mode = TD_SIM_LEVELS;
                else if (vlen == 6 && strncasecmp(v, "quotes", 6) == 0) cfg->mode = TD_SIM_QUOTES;
                else return set_err(err, errlen, "mode '%.*s' is not orders, levels or quotes", (int)vlen, v);
            } else {
                return set_err(err, errlen,
                            "unknown key '%.*s' (known: symbols, exchanges, rate, seed, gap_every, start, "
                            "max_orders, mode)",
                            (int)klen, p);
            }
#undef KEY
#undef NUM
        }
        if (!semi) break;
        p = semi + 1;
    }
    return check_config(cfg, err, errlen);
}

/* ------------------------------------------------------------------------------------------------ */
/* generator                                                                                        */

/* 16 bytes: with thousands of books the order arrays outgrow the caches, and every step memmoves them. */
typedef struct sim_order {
    uint64_t id;
    int32_t px;  /* ticks: up to $21M, and mids stay near their reference */
    int32_t qty; /* shares: at most 5,000 */
} sim_order_t;

typedef struct sim_book {
    sim_order_t *o[2]; /* per side, price-time order, capacity max_orders */
    uint32_t n[2];
    int32_t offset;    /* this exchange's quote offset from the mid, ticks */
    uint8_t frozen;    /* waiting for the repair of an injected loss */
    int32_t quoted[4]; /* quotes mode: the last top sent (bid px, bid qty, ask px, ask qty) */
} sim_book_t;

typedef struct sim_symbol {
    uint32_t id;
    int64_t ref;          /* reference price, ticks */
    int64_t mid;          /* ticks: where new bids go; new asks go `spread` above */
    int32_t spread;       /* quoted spread in ticks: 1 for most names, wider for high-priced ones */
    double ns_per_move;   /* mean simulated ns between +-1 tick moves */
    int64_t next_move_ns;
} sim_symbol_t;

typedef struct sim_exchange {
    uint8_t id;
    uint64_t seq;           /* last src_seq put on this exchange's wire */
    uint64_t last_order_id; /* per-exchange order id counter */
    uint64_t last_trade_id;
} sim_exchange_t;

/* A price level a step changed (levels and quotes modes). */
typedef struct touched {
    int32_t px;
    uint8_t side;
} touched_t;

#define MAX_TOUCHED 16 /* levels one step changes: at most 4 (a sweep); replace 2; others 1 */
#define MAX_STEP_EVENTS 16 /* order events one step emits: at most 4 (a sweep) */

typedef struct repair {
    uint32_t book;
    uint64_t due_step;
} repair_t;

struct td_sim {
    td_rng_t rng;
    uint32_t nsym, nexch, nbooks;
    uint32_t cap, target, min_orders; /* per side: cap, depth the add bias aims at, forced-add floor */
    sim_symbol_t *syms;
    sim_exchange_t exch[TD_SIM_MAX_EXCHANGES];
    sim_book_t *books;      /* [sym * nexch + exch] */
    sim_order_t *slab;      /* every book's order arrays */
    int64_t now_ns;
    uint64_t frac_ps;       /* sub-ns remainder of simulated time */
    uint64_t period_ps;     /* mean simulated time per event */
    int jitter;             /* random inter-arrival times (generator) or exactly period apart (source) */
    uint64_t steps;
    uint64_t gap_every, gap_countdown;
    repair_t repairs[MAX_REPAIRS];
    uint32_t nrepairs;
    td_sim_mode_t mode;
    touched_t touched[MAX_TOUCHED];
    uint32_t ntouched;
    td_event_t *pend;       /* events of the current step not yet returned */
    size_t pend_head, pend_n, pend_cap;
};

static int64_t ref_price_ticks(const char *name)
{
    for (size_t i = 0; i < TD_ARRAY_LEN(ref_prices); i++)
        if (strcmp(ref_prices[i].name, name) == 0) return ref_prices[i].cents;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a: a stable made-up price in $10..$400 */
    for (const char *c = name; *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211ULL;
    return 1000 + (int64_t)(h % 39000);
}

static double exp_draw(td_rng_t *r, double mean)
{
    return -log(1.0 - td_rng_unit(r)) * mean;
}

td_sim_t *td_sim_create(const td_sim_config_t *cfg, char *err, size_t errlen)
{
    if (check_config(cfg, err, errlen) != TD_OK) return NULL;
    td_sim_t *s = td_calloc(1, sizeof *s);
    td_rng_seed(&s->rng, cfg->seed);
    s->nsym = (uint32_t)cfg->nsym;
    s->nexch = (uint32_t)cfg->nexch;
    s->nbooks = s->nsym * s->nexch;
    s->cap = cfg->max_orders;
    s->target = s->cap * 3 / 8;
    s->min_orders = s->cap / 16 ? s->cap / 16 : 1;
    s->now_ns = cfg->start_ns ? cfg->start_ns : TD_SIM_DEFAULT_START * TD_NS_PER_SEC;
    s->period_ps = cfg->rate ? 1000000000000ULL / cfg->rate : UNPACED_PERIOD_PS;
    s->jitter = 1;
    s->mode = cfg->mode;
    s->gap_every = cfg->gap_every;
    s->gap_countdown = s->gap_every ? s->gap_every / 2 + td_rng_below(&s->rng, s->gap_every) + 1 : 0;
    s->pend_cap = 2 * (size_t)s->cap + 16;
    s->pend = td_malloc(s->pend_cap * sizeof *s->pend);
    s->syms = td_calloc(s->nsym, sizeof *s->syms);
    s->books = td_calloc(s->nbooks, sizeof *s->books);
    s->slab = td_malloc((size_t)s->nbooks * 2 * s->cap * sizeof *s->slab);

    for (uint32_t i = 0; i < s->nexch; i++) {
        const char *name = cfg->exchanges[i];
        s->exch[i].id = td_exch_intern(name, strlen(name));
        if (!s->exch[i].id) {
            set_err(err, errlen, "cannot register exchange '%s' (registry full?)", name);
            goto fail;
        }
    }
    for (uint32_t i = 0; i < s->nsym; i++) {
        const char *name = cfg->symbols[i];
        sim_symbol_t *sy = &s->syms[i];
        sy->id = td_sym_intern(name, strlen(name));
        if (!sy->id) {
            set_err(err, errlen, "cannot register symbol '%s' (registry full?)", name);
            goto fail;
        }
        sy->ref = ref_price_ticks(name);
        /* Start a little off the reference so symbols do not all open at round prices. */
        sy->mid = sy->ref + (int64_t)td_rng_below(&s->rng, (uint64_t)(sy->ref / 100 + 1)) - sy->ref / 200;
        if (sy->mid < MIN_MID_TICKS) sy->mid = MIN_MID_TICKS;
        /* A +-1 tick walk with moves every T seconds has sigma = sqrt(1/T) ticks per sqrt(s). */
        double sigma_ticks = (double)sy->ref * VOL_PER_SQRT_S;
        double moves_per_s = sigma_ticks * sigma_ticks;
        if (moves_per_s < 0.2) moves_per_s = 0.2;
        sy->ns_per_move = 1e9 / moves_per_s;
        sy->spread = 1 + (int32_t)(sy->ref / 40000); /* $400+: 2 ticks, $800+: 3, ... */
        sy->next_move_ns = s->now_ns + (int64_t)exp_draw(&s->rng, sy->ns_per_move);
    }
    for (uint32_t b = 0; b < s->nbooks; b++) {
        s->books[b].o[TD_BID] = s->slab + (size_t)b * 2 * s->cap;
        s->books[b].o[TD_ASK] = s->books[b].o[TD_BID] + s->cap;
    }
    return s;
fail:
    td_sim_destroy(s);
    return NULL;
}

void td_sim_destroy(td_sim_t *s)
{
    if (!s) return;
    td_free(s->slab);
    td_free(s->books);
    td_free(s->syms);
    td_free(s->pend);
    td_free(s);
}

void td_sim_sync_time(td_sim_t *s, int64_t now_ns)
{
    if (now_ns > s->now_ns) {
        s->now_ns = now_ns;
        s->frac_ps = 0;
    }
}

int64_t td_sim_time(const td_sim_t *s) { return s->now_ns; }

size_t td_sim_pending(const td_sim_t *s) { return s->pend_n - s->pend_head; }

/* ---- events ---- */

static td_event_t *push_raw(td_sim_t *s, uint8_t type, uint8_t side, uint32_t book)
{
    td_event_t *ev = &s->pend[s->pend_n++];
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->side = side;
    ev->exch = s->exch[book % s->nexch].id;
    ev->sym = s->syms[book / s->nexch].id;
    ev->exch_ns = s->now_ns;
    ev->recv_ns = s->now_ns;
    return ev;
}

/* An event on the exchange's sequenced wire. */
static td_event_t *push_wire(td_sim_t *s, uint8_t type, uint8_t side, uint32_t book)
{
    td_event_t *ev = push_raw(s, type, side, book);
    ev->src_seq = ++s->exch[book % s->nexch].seq;
    return ev;
}

static void touch(td_sim_t *s, int side, int32_t px)
{
    for (uint32_t i = 0; i < s->ntouched; i++)
        if (s->touched[i].px == px && s->touched[i].side == side) return;
    assert(s->ntouched < MAX_TOUCHED);
    if (s->ntouched < MAX_TOUCHED) s->touched[s->ntouched++] = (touched_t){ px, (uint8_t)side };
}

static void push_order(td_sim_t *s, uint8_t type, uint8_t side, uint32_t book, const sim_order_t *o,
                       int32_t qty_shares)
{
    touch(s, side, o->px);
    td_event_t *ev = push_wire(s, type, side, book);
    ev->u.order.order_id = o->id;
    ev->u.order.price = o->px * TICK_SCALE;
    ev->u.order.qty = qty_shares * TD_QTY_SCALE;
}

/* ---- the book model ---- */

static inline int better(int side, int64_t a, int64_t b) { return side == TD_BID ? a > b : a < b; }

/* Inserts behind every order at the same or a better price (time priority). */
static void book_insert(sim_book_t *bk, int side, const sim_order_t *o)
{
    sim_order_t *arr = bk->o[side];
    uint32_t n = bk->n[side], lo = 0, hi = n;
    while (lo < hi) { /* first index whose price is worse than o's */
        uint32_t mid = (lo + hi) / 2;
        if (better(side, o->px, arr[mid].px)) hi = mid;
        else lo = mid + 1;
    }
    uint32_t j = lo;
    memmove(&arr[j + 1], &arr[j], (n - j) * sizeof *arr);
    arr[j] = *o;
    bk->n[side] = n + 1;
}

static void book_remove(sim_book_t *bk, int side, uint32_t i)
{
    sim_order_t *arr = bk->o[side];
    memmove(&arr[i], &arr[i + 1], (bk->n[side] - i - 1) * sizeof *arr);
    bk->n[side]--;
}

/* Keeps a new price from crossing or locking its own book: an exchange would have matched it. */
static int64_t clamp_passive(const sim_book_t *bk, int side, int64_t px)
{
    if (side == TD_BID) {
        if (bk->n[TD_ASK] && px >= bk->o[TD_ASK][0].px) px = bk->o[TD_ASK][0].px - 1;
    } else {
        if (bk->n[TD_BID] && px <= bk->o[TD_BID][0].px) px = bk->o[TD_BID][0].px + 1;
    }
    return px;
}

/* Round lots, mostly small: 100..5000 shares. */
static int32_t draw_qty(td_rng_t *r)
{
    uint64_t u = td_rng_below(r, 100);
    int32_t lots;
    if (u < 55) lots = 1;
    else if (u < 80) lots = 2 + (int32_t)td_rng_below(r, 4);
    else if (u < 95) lots = 6 + (int32_t)td_rng_below(r, 15);
    else lots = 21 + (int32_t)td_rng_below(r, 30);
    return lots * LOT;
}

/* Ticks behind the touch for a new order: mostly at it or a few ticks off, some deep. */
static int64_t draw_depth(td_rng_t *r)
{
    uint64_t u = td_rng_below(r, 100);
    if (u < 35) return 0;
    if (u < 75) return 1 + (int64_t)td_rng_below(r, 3);
    return 4 + (int64_t)td_rng_below(r, 26);
}

static void act_add(td_sim_t *s, uint32_t b, int side, int64_t center, int32_t spread)
{
    sim_book_t *bk = &s->books[b];
    int64_t d = draw_depth(&s->rng);
    int64_t px = side == TD_BID ? center - d : center + spread + d;
    px = clamp_passive(bk, side, px);
    if (px < 1) return; /* unreachable with mid >= $1, but never emit a non-positive price */
    sim_order_t o = { ++s->exch[b % s->nexch].last_order_id, (int32_t)px, draw_qty(&s->rng) };
    book_insert(bk, side, &o);
    push_order(s, TD_EV_ORDER_ADD, (uint8_t)side, b, &o, o.qty);
}

static void act_delete(td_sim_t *s, uint32_t b, int side, uint32_t i)
{
    sim_book_t *bk = &s->books[b];
    push_order(s, TD_EV_ORDER_DELETE, (uint8_t)side, b, &bk->o[side][i], bk->o[side][i].qty);
    book_remove(bk, side, i);
}

static void act_cancel(td_sim_t *s, uint32_t b, int side)
{
    sim_book_t *bk = &s->books[b];
    uint32_t i = (uint32_t)td_rng_below(&s->rng, bk->n[side]);
    sim_order_t *o = &bk->o[side][i];
    if (o->qty <= LOT) {
        act_delete(s, b, side, i);
        return;
    }
    int32_t q = (1 + (int32_t)td_rng_below(&s->rng, (uint64_t)(o->qty / LOT - 1))) * LOT;
    push_order(s, TD_EV_ORDER_CANCEL, (uint8_t)side, b, o, q);
    o->qty -= q;
}

static void act_replace(td_sim_t *s, uint32_t b, int side)
{
    sim_book_t *bk = &s->books[b];
    uint32_t i = (uint32_t)td_rng_below(&s->rng, bk->n[side]);
    sim_order_t old = bk->o[side][i];
    book_remove(bk, side, i);
    int64_t px = clamp_passive(bk, side, old.px + (int64_t)td_rng_below(&s->rng, 7) - 3);
    if (px < 1) px = old.px;
    sim_order_t o = { ++s->exch[b % s->nexch].last_order_id, (int32_t)px, draw_qty(&s->rng) };
    book_insert(bk, side, &o);
    touch(s, side, old.px);
    touch(s, side, o.px);
    td_event_t *ev = push_wire(s, TD_EV_ORDER_REPLACE, (uint8_t)side, b);
    ev->u.order.order_id = old.id;
    ev->u.order.new_order_id = o.id;
    ev->u.order.price = o.px * TICK_SCALE;
    ev->u.order.qty = o.qty * TD_QTY_SCALE;
}

/* A marketable order arrives and executes resting orders on `side` at the touch, FIFO, sometimes sweeping
 * several; a partial fill only on the last one. */
static void exec_side(td_sim_t *s, uint32_t b, int side, uint32_t sweep)
{
    sim_book_t *bk = &s->books[b];
    for (uint32_t k = 0; k < sweep && bk->n[side]; k++) {
        sim_order_t *o = &bk->o[side][0];
        int32_t q = o->qty;
        if (k + 1 == sweep && o->qty > LOT && td_rng_below(&s->rng, 100) < 40)
            q = (1 + (int32_t)td_rng_below(&s->rng, (uint64_t)(o->qty / LOT - 1))) * LOT;
        push_order(s, TD_EV_ORDER_EXEC, (uint8_t)side, b, o, q);
        o->qty -= q;
        if (o->qty == 0) book_remove(bk, side, 0);
    }
}

static void act_exec(td_sim_t *s, uint32_t b)
{
    sim_book_t *bk = &s->books[b];
    int side = (int)td_rng_below(&s->rng, 2);
    if (!bk->n[side]) side ^= 1;
    if (!bk->n[side]) return;
    exec_side(s, b, side, td_rng_below(&s->rng, 100) < 20 ? 1 + (uint32_t)td_rng_below(&s->rng, 4) : 1);
}

/* A print against hidden (non-displayed) liquidity, inside or at the spread; the book does not change. */
static void act_hidden_trade(td_sim_t *s, uint32_t b, int64_t center)
{
    sim_book_t *bk = &s->books[b];
    int64_t px = center;
    if (bk->n[TD_BID] && bk->n[TD_ASK]) {
        int64_t bid = bk->o[TD_BID][0].px, ask = bk->o[TD_ASK][0].px;
        px = ask - bid >= 2 ? bid + (ask - bid) / 2 : (td_rng_below(&s->rng, 2) ? ask : bid);
    } else if (bk->n[TD_BID]) px = bk->o[TD_BID][0].px;
    else if (bk->n[TD_ASK]) px = bk->o[TD_ASK][0].px;
    if (px < 1) return;
    uint8_t aggressor = (uint8_t)td_rng_below(&s->rng, 2);
    td_event_t *ev = push_wire(s, TD_EV_TRADE, aggressor, b);
    ev->flags = TD_EVF_HIDDEN;
    ev->u.trade.price = px * TICK_SCALE;
    ev->u.trade.qty = draw_qty(&s->rng) * TD_QTY_SCALE;
    ev->u.trade.trade_id = ++s->exch[b % s->nexch].last_trade_id;
}

static void move_mid(td_sim_t *s, sim_symbol_t *sy)
{
    for (int i = 0; i < 64 && sy->next_move_ns <= s->now_ns; i++) {
        /* Pull back towards the reference: at 10% away, up and down are 30/70. */
        double dev = (double)(sy->mid - sy->ref) / (0.1 * (double)sy->ref);
        if (dev > 1) dev = 1;
        if (dev < -1) dev = -1;
        double p_up = 0.5 - 0.2 * dev;
        if (sy->mid <= MIN_MID_TICKS || (sy->mid < MAX_MID_TICKS && td_rng_unit(&s->rng) < p_up)) sy->mid++;
        else sy->mid--;
        sy->next_move_ns += (int64_t)exp_draw(&s->rng, sy->ns_per_move) + 1;
    }
    if (sy->next_move_ns <= s->now_ns) /* a long jump of the clock: do not replay every missed move */
        sy->next_move_ns = s->now_ns + (int64_t)exp_draw(&s->rng, sy->ns_per_move) + 1;
}

/* One step of ordinary traffic on book b. */
static void book_step(td_sim_t *s, uint32_t b)
{
    sim_book_t *bk = &s->books[b];
    sim_symbol_t *sy = &s->syms[b / s->nexch];
    move_mid(s, sy);

    /* This exchange's quotes drift off the others now and then, briefly. */
    if (bk->offset != 0) {
        if (td_rng_below(&s->rng, 1000) < 100) bk->offset = 0;
    } else if (td_rng_below(&s->rng, 1000) < 1) {
        int32_t mag = td_rng_below(&s->rng, 100) < 80 ? 1 : 2;
        bk->offset = td_rng_below(&s->rng, 2) ? mag : -mag;
    }
    int64_t center = sy->mid + bk->offset;

    /* Quotes left on the wrong side of the center after a move are stale: they get picked off by
     * marketable flow or pulled by their owners first. Without this they linger until random traffic
     * reaches them and the consolidated market stays locked/crossed far longer than real ones do. */
    int stale_ask = bk->n[TD_ASK] && bk->o[TD_ASK][0].px <= center;
    int stale_bid = bk->n[TD_BID] && bk->o[TD_BID][0].px > center;
    if ((stale_ask || stale_bid) && td_rng_below(&s->rng, 100) < 70) {
        int side = stale_ask ? TD_ASK : TD_BID;
        if (td_rng_below(&s->rng, 100) < 50) exec_side(s, b, side, 1 + (uint32_t)td_rng_below(&s->rng, 3));
        else act_delete(s, b, side, 0);
        return;
    }

    int side = (int)td_rng_below(&s->rng, 2);
    uint32_t n = bk->n[side];
    if (n >= s->cap) { act_delete(s, b, side, n - 1); return; }
    if (n < s->min_orders) { act_add(s, b, side, center, sy->spread); return; }

    /* Adds balance removals around the target depth. Out of 1000. */
    int64_t add_p = 400 + ((int64_t)s->target - (int64_t)n) * 300 / (int64_t)s->target;
    if (add_p < 150) add_p = 150;
    if (add_p > 750) add_p = 750;
    int64_t u = (int64_t)td_rng_below(&s->rng, 1000);
    if (u < add_p) { act_add(s, b, side, center, sy->spread); return; }
    u = (int64_t)td_rng_below(&s->rng, 1000);
    if (u < 100) act_exec(s, b);
    else if (u < 120) act_hidden_trade(s, b, center);
    else if (u < 270) act_cancel(s, b, side);
    else if (u < 440) act_replace(s, b, side);
    else act_delete(s, b, side, (uint32_t)td_rng_below(&s->rng, n));
}

static void advance_time(td_sim_t *s, size_t nev)
{
    uint64_t ps = s->jitter ? td_rng_below(&s->rng, 2 * s->period_ps * nev + 1) : s->period_ps * nev;
    ps += s->frac_ps;
    s->now_ns += (int64_t)(ps / 1000);
    s->frac_ps = ps % 1000;
}

/* Total shares resting at px on a side of the model (0 if none). The arrays are sorted, so stop early. */
static int64_t level_qty(const sim_book_t *bk, int side, int32_t px)
{
    int64_t q = 0;
    for (uint32_t i = 0; i < bk->n[side]; i++) {
        if (bk->o[side][i].px == px) q += bk->o[side][i].qty;
        else if (better(side, px, bk->o[side][i].px)) break;
    }
    return q;
}

static void top_of(const sim_book_t *bk, int32_t top[4])
{
    for (int side = TD_BID; side <= TD_ASK; side++) {
        top[2 * side] = bk->n[side] ? bk->o[side][0].px : 0;
        top[2 * side + 1] = bk->n[side] ? (int32_t)level_qty(bk, side, bk->o[side][0].px) : 0;
    }
}

static td_event_t *push_quote(td_sim_t *s, uint32_t b, int wire)
{
    sim_book_t *bk = &s->books[b];
    top_of(bk, bk->quoted);
    td_event_t *ev = wire ? push_wire(s, TD_EV_QUOTE, TD_SIDE_NONE, b) : push_raw(s, TD_EV_QUOTE, TD_SIDE_NONE, b);
    ev->u.quote.bid_px = bk->quoted[0] * TICK_SCALE;
    ev->u.quote.bid_qty = bk->quoted[1] * TD_QTY_SCALE;
    ev->u.quote.ask_px = bk->quoted[2] * TICK_SCALE;
    ev->u.quote.ask_qty = bk->quoted[3] * TD_QTY_SCALE;
    return ev;
}

/* levels / quotes modes: rewrites the order events of the step that started at pend[mark] (sequence numbers
 * from seq_before) into what a depth or BBO feed would have sent for the same change of the model. */
static void translate(td_sim_t *s, uint32_t b, size_t mark, uint64_t seq_before)
{
    td_event_t orig[MAX_STEP_EVENTS];
    size_t n = s->pend_n - mark;
    assert(n <= MAX_STEP_EVENTS);
    if (n > MAX_STEP_EVENTS) n = MAX_STEP_EVENTS;
    memcpy(orig, s->pend + mark, n * sizeof *orig);
    s->pend_n = mark;
    s->exch[b % s->nexch].seq = seq_before;
    for (size_t i = 0; i < n; i++) {
        if (orig[i].type == TD_EV_TRADE) {
            td_event_t *ev = push_wire(s, TD_EV_TRADE, orig[i].side, b);
            ev->flags = orig[i].flags;
            ev->u.trade = orig[i].u.trade;
        } else if (orig[i].type == TD_EV_ORDER_EXEC) {
            td_event_t *ev = push_wire(s, TD_EV_TRADE, (uint8_t)(orig[i].side ^ 1), b); /* the aggressor */
            ev->u.trade.price = orig[i].u.order.price;
            ev->u.trade.qty = orig[i].u.order.qty;
            ev->u.trade.trade_id = ++s->exch[b % s->nexch].last_trade_id;
        }
    }
    sim_book_t *bk = &s->books[b];
    if (s->mode == TD_SIM_LEVELS) {
        for (uint32_t i = 0; i < s->ntouched; i++) {
            const touched_t *t = &s->touched[i];
            int64_t q = level_qty(bk, t->side, t->px);
            td_event_t *ev = push_wire(s, q ? TD_EV_LEVEL_SET : TD_EV_LEVEL_DEL, t->side, b);
            ev->u.level.price = t->px * TICK_SCALE;
            ev->u.level.qty = q * TD_QTY_SCALE;
        }
    } else {
        int32_t top[4];
        top_of(bk, top);
        if (memcmp(top, bk->quoted, sizeof top) != 0) push_quote(s, b, 1);
    }
}

static void repair(td_sim_t *s, uint32_t r)
{
    uint32_t b = s->repairs[r].book;
    sim_book_t *bk = &s->books[b];
    push_raw(s, TD_EV_BOOK_CLEAR, TD_SIDE_NONE, b);
    if (s->mode == TD_SIM_QUOTES) {
        push_quote(s, b, 0)->flags = TD_EVF_SNAPSHOT;
    } else {
        for (int side = TD_BID; side <= TD_ASK; side++)
            for (uint32_t i = 0; i < bk->n[side]; i++) {
                const sim_order_t *o = &bk->o[side][i];
                if (s->mode == TD_SIM_LEVELS) {
                    if (i > 0 && bk->o[side][i - 1].px == o->px) continue; /* once per level */
                    td_event_t *ev = push_raw(s, TD_EV_LEVEL_SET, (uint8_t)side, b);
                    ev->flags = TD_EVF_SNAPSHOT;
                    ev->u.level.price = o->px * TICK_SCALE;
                    ev->u.level.qty = level_qty(bk, side, o->px) * TD_QTY_SCALE;
                    continue;
                }
                td_event_t *ev = push_raw(s, TD_EV_ORDER_ADD, (uint8_t)side, b);
                ev->flags = TD_EVF_SNAPSHOT;
                ev->u.order.order_id = o->id;
                ev->u.order.price = o->px * TICK_SCALE;
                ev->u.order.qty = o->qty * TD_QTY_SCALE;
            }
    }
    push_raw(s, TD_EV_RESYNC, TD_SIDE_NONE, b);
    bk->frozen = 0;
    s->repairs[r] = s->repairs[--s->nrepairs];
}

static void step(td_sim_t *s)
{
    s->steps++;
    for (uint32_t r = 0; r < s->nrepairs; r++)
        if (s->steps >= s->repairs[r].due_step) { repair(s, r); return; }

    uint32_t b = (uint32_t)td_rng_below(&s->rng, s->nbooks);
    for (int tries = 0; s->books[b].frozen && tries < 3; tries++) b = (uint32_t)td_rng_below(&s->rng, s->nbooks);
    if (s->books[b].frozen) { /* mostly frozen (a single book): repair it now rather than spin */
        for (uint32_t r = 0; r < s->nrepairs; r++)
            if (s->repairs[r].book == b) { repair(s, r); return; }
    }

    int lose = 0;
    if (s->gap_every && --s->gap_countdown == 0) {
        s->gap_countdown = s->gap_every / 2 + td_rng_below(&s->rng, s->gap_every) + 1;
        lose = s->nrepairs < MAX_REPAIRS;
    }
    sim_exchange_t *ex = &s->exch[b % s->nexch];
    size_t mark = s->pend_n;
    uint64_t seq_before = ex->seq;
    s->ntouched = 0;
    book_step(s, b);
    if (s->mode != TD_SIM_ORDERS && s->pend_n > mark) translate(s, b, mark, seq_before);
    size_t nev = s->pend_n - mark;
    if (lose && nev > 0) {
        /* Lost on the wire: the model moved on, the receiver never hears of it. */
        s->pend_n = mark;
        td_event_t *gap = push_raw(s, TD_EV_GAP, TD_SIDE_NONE, b);
        gap->u.gap.expected = seq_before + 1;
        gap->u.gap.received = ex->seq + 1;
        s->books[b].frozen = 1;
        s->repairs[s->nrepairs].book = b;
        s->repairs[s->nrepairs].due_step = s->steps + 32 + td_rng_below(&s->rng, 96);
        s->nrepairs++;
    }
    advance_time(s, nev);
}

size_t td_sim_generate(td_sim_t *s, td_event_t *out, size_t max)
{
    size_t n = 0;
    while (n < max) {
        size_t avail = s->pend_n - s->pend_head;
        if (avail) {
            size_t k = avail < max - n ? avail : max - n;
            memcpy(out + n, s->pend + s->pend_head, k * sizeof *out);
            s->pend_head += k;
            n += k;
            continue;
        }
        s->pend_head = s->pend_n = 0;
        step(s);
    }
    return n;
}

/* ---- test hooks ---- */

static long find_book(const td_sim_t *s, uint32_t sym, uint8_t exch)
{
    for (uint32_t i = 0; i < s->nsym; i++) {
        if (s->syms[i].id != sym) continue;
        for (uint32_t e = 0; e < s->nexch; e++)
            if (s->exch[e].id == exch) return (long)(i * s->nexch + e);
    }
    return -1;
}

size_t td_sim_book(const td_sim_t *s, uint32_t sym, uint8_t exch, td_sim_order_t *out, size_t max)
{
    long b = find_book(s, sym, exch);
    if (b < 0) return 0;
    const sim_book_t *bk = &s->books[b];
    size_t k = 0;
    for (int side = TD_BID; side <= TD_ASK; side++)
        for (uint32_t i = 0; i < bk->n[side]; i++, k++)
            if (k < max) {
                out[k].order_id = bk->o[side][i].id;
                out[k].price = bk->o[side][i].px * TICK_SCALE;
                out[k].qty = bk->o[side][i].qty * TD_QTY_SCALE;
                out[k].side = (uint8_t)side;
            }
    return k;
}

int td_sim_book_frozen(const td_sim_t *s, uint32_t sym, uint8_t exch)
{
    long b = find_book(s, sym, exch);
    return b >= 0 && s->books[b].frozen;
}

/* ------------------------------------------------------------------------------------------------ */
/* the source: pacing by batch                                                                      */

typedef struct sim_source {
    td_source_t base;
    td_sim_t *sim;
    uint64_t rate;          /* 0 = unpaced */
    int started;
    int64_t t0_mono;        /* when pacing began */
    int64_t t0_real;        /* exchange time of event 0 */
    uint64_t credited;      /* events the schedule has paid out so far */
    int64_t (*mono_ns)(void *ctx);
    void (*sleep_ns)(void *ctx, int64_t ns);
    void *clock_ctx;
} sim_source_t;

static int64_t real_mono(void *ctx) { (void)ctx; return td_mono_ns(); }

static void real_sleep(void *ctx, int64_t ns)
{
    (void)ctx;
    struct timespec ts = { (time_t)(ns / TD_NS_PER_SEC), (long)(ns % TD_NS_PER_SEC) };
    nanosleep(&ts, NULL);
}

void td_sim_source_set_clock(td_source_t *src, int64_t (*mono_ns)(void *ctx),
                             void (*sleep_ns)(void *ctx, int64_t ns), void *ctx)
{
    sim_source_t *ss = (sim_source_t *)src;
    ss->mono_ns = mono_ns;
    ss->sleep_ns = sleep_ns;
    ss->clock_ctx = ctx;
}

static int sim_next(td_source_t *src, td_event_t *out, size_t max)
{
    sim_source_t *ss = (sim_source_t *)src;
    if (max == 0) return 0;
    if (max > (size_t)INT32_MAX) max = INT32_MAX;
    int64_t now = ss->mono_ns(ss->clock_ctx);
    if (!ss->started) {
        ss->started = 1;
        ss->t0_mono = now;
    }
    size_t n;
    if (ss->rate == 0) {
        /* Unpaced: exchange time is the wall clock at each batch (events in it 1 ns apart). */
        td_sim_sync_time(ss->sim, td_now_ns());
        n = td_sim_generate(ss->sim, out, max);
    } else {
        uint64_t elapsed = (uint64_t)(now - ss->t0_mono);
        uint64_t due = (uint64_t)((unsigned __int128)elapsed * ss->rate / TD_NS_PER_SEC);
        if (due <= ss->credited) {
            /* Nothing due: sleep until the next event is (at most 1 ms, so shutdown stays prompt). */
            uint64_t next_ns = (uint64_t)(((unsigned __int128)(ss->credited + 1) * TD_NS_PER_SEC + ss->rate - 1) /
                                          ss->rate);
            int64_t wait = (int64_t)(next_ns - elapsed);
            if (wait > TD_NS_PER_MS) wait = TD_NS_PER_MS;
            if (wait > 0) ss->sleep_ns(ss->clock_ctx, wait);
            return 0;
        }
        /* After a stall (a blocked ring, a stopped process) catch up at most 1 s worth, then go on at the
         * rate: bursting a minute of backlog would only flood the engine. */
        uint64_t max_backlog = ss->rate > max ? ss->rate : max;
        if (due - ss->credited > max_backlog) ss->credited = due - max_backlog;
        uint64_t want = due - ss->credited;
        n = want < max ? (size_t)want : max;
        /* Exchange time follows the schedule: event k is stamped when it was due. */
        td_sim_sync_time(ss->sim, ss->t0_real + (int64_t)((unsigned __int128)ss->credited * TD_NS_PER_SEC / ss->rate));
        n = td_sim_generate(ss->sim, out, n);
        ss->credited += n;
    }
    uint64_t gaps = 0, resyncs = 0;
    for (size_t i = 0; i < n; i++) {
        out[i].recv_ns = 0; /* the runner stamps it */
        gaps += out[i].type == TD_EV_GAP;
        resyncs += out[i].type == TD_EV_RESYNC;
    }
    atomic_fetch_add_explicit(&src->stats.messages, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&src->stats.events, n, memory_order_relaxed);
    if (gaps) atomic_fetch_add_explicit(&src->stats.gaps, gaps, memory_order_relaxed);
    if (resyncs) atomic_fetch_add_explicit(&src->stats.resyncs, resyncs, memory_order_relaxed);
    return (int)n;
}

static void sim_source_destroy(td_source_t *src)
{
    sim_source_t *ss = (sim_source_t *)src;
    td_sim_destroy(ss->sim);
    td_free(ss);
}

td_source_t *td_sim_open(const char *args, char *err, size_t errlen)
{
    td_sim_config_t *cfg = td_malloc(sizeof *cfg); /* ~17 KB: keep it off the caller's stack */
    td_sim_config_default(cfg);
    sim_source_t *ss = NULL;
    if (td_sim_config_parse(cfg, args, err, errlen) != TD_OK) goto fail;
    int64_t start = cfg->start_ns ? cfg->start_ns : td_now_ns();
    cfg->start_ns = start;
    td_sim_t *sim = td_sim_create(cfg, err, errlen);
    if (!sim) goto fail;
    ss = td_calloc(1, sizeof *ss);
    ss->sim = sim;
    ss->rate = cfg->rate;
    ss->t0_real = start;
    ss->mono_ns = real_mono;
    ss->sleep_ns = real_sleep;
    /* The live stream is evenly spaced on its schedule; unpaced, 1 ns apart within a batch. */
    sim->jitter = 0;
    sim->period_ps = cfg->rate ? 1000000000000ULL / cfg->rate : 1000;
    ss->base.kind = "sim";
    snprintf(ss->base.name, sizeof ss->base.name, "sim%s%.59s", args && *args ? ":" : "", args ? args : "");
    ss->base.next = sim_next;
    ss->base.destroy = sim_source_destroy;
    td_free(cfg);
    return &ss->base;
fail:
    td_free(cfg);
    return NULL;
}
