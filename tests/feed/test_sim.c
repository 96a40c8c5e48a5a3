/*
 * test_sim.c: the simulator feed against a naive receiver.
 *
 * The core check replays the stream into a deliberately simple model of what a receiver would hold (per
 * exchange: order id -> (book, slot); per book: an unsorted array of live orders) and asserts that every
 * event is valid for it: referenced orders exist with enough quantity, executions hit the touch, prices
 * are positive and on the $0.01 grid, sizes are round lots, src_seq is +1 per exchange except across an
 * announced GAP, a gapped book gets nothing until BOOK_CLEAR / snapshot / RESYNC, and after the repair (and
 * at every batch boundary) each settled book equals the sim's own model exactly. It also samples the
 * consolidated best bid/ask across exchanges to see locked and crossed moments, and reports the event mix.
 */
#include "testutil.h"

#include <string.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/decimal.h"
#include "core/event.h"
#include "core/rng.h"
#include "core/symbols.h"
#include "feed/sim.h"

#define TICK (TD_PX_SCALE / 100)
#define LOT_Q (100 * TD_QTY_SCALE)

/* ------------------------------------------------------------------------------------------------ */
/* spec parsing                                                                                     */

static td_sim_config_t cfg_buf; /* 17 KB: static, not on the cmocka stack */

static void want_spec_ok(const char *spec)
{
    char err[256] = "";
    td_sim_config_default(&cfg_buf);
    int rc = td_sim_config_parse(&cfg_buf, spec, err, sizeof err);
    if (rc != TD_OK) fail_msg("spec \"%s\": rc=%d err=%s, want ok", spec ? spec : "(null)", rc, err);
}

static void want_spec_err(const char *spec, const char *needle)
{
    char err[256] = "";
    td_sim_config_default(&cfg_buf);
    int rc = td_sim_config_parse(&cfg_buf, spec, err, sizeof err);
    if (rc != TD_EINVAL) fail_msg("spec \"%s\": rc=%d, want TD_EINVAL", spec, rc);
    if (!strstr(err, needle)) fail_msg("spec \"%s\": error \"%s\" does not mention \"%s\"", spec, err, needle);
    /* The source refuses it the same way. */
    char err2[256] = "";
    td_source_t *src = td_sim_open(spec, err2, sizeof err2);
    if (src) fail_msg("td_sim_open(\"%s\") succeeded", spec);
    assert_string_equal(err, err2);
}

static void test_spec_parse(void **state)
{
    (void)state;
    want_spec_ok(NULL);
    want_spec_ok("");
    assert_int_equal(cfg_buf.nsym, 8);
    assert_string_equal(cfg_buf.symbols[0], "AAPL");
    assert_int_equal(cfg_buf.nexch, 3);
    assert_string_equal(cfg_buf.exchanges[1], "NASDAQ");
    assert_int_equal(cfg_buf.rate, TD_SIM_DEFAULT_RATE);
    assert_int_equal(cfg_buf.seed, TD_SIM_DEFAULT_SEED);
    assert_int_equal(cfg_buf.gap_every, TD_SIM_DEFAULT_GAP_EVERY);

    want_spec_ok("symbols=aapl,msft,brk.b;exchanges=nyse,iex;rate=1000;seed=7");
    assert_int_equal(cfg_buf.nsym, 3);
    assert_string_equal(cfg_buf.symbols[2], "BRK.B");
    assert_int_equal(cfg_buf.nexch, 2);
    assert_string_equal(cfg_buf.exchanges[1], "IEX");
    assert_int_equal(cfg_buf.rate, 1000);
    assert_int_equal(cfg_buf.seed, 7);

    want_spec_ok("rate=max;gap_every=0;start=1700000000;max_orders=16;");
    assert_int_equal(cfg_buf.rate, 0);
    assert_int_equal(cfg_buf.gap_every, 0);
    assert_int_equal(cfg_buf.start_ns, 1700000000LL * 1000000000LL);
    assert_int_equal(cfg_buf.max_orders, 16);
    want_spec_ok("RATE=MAX;;Seed=18446744073709551615");
    assert_int_equal(cfg_buf.seed, UINT64_MAX);

    want_spec_err("foo=1", "unknown key 'foo'");
    want_spec_err("rate", "expected key=value");
    want_spec_err("rate=abc", "not a non-negative integer");
    want_spec_err("rate=-5", "not a non-negative integer");
    want_spec_err("rate=", "not a non-negative integer");
    want_spec_err("rate=1000000000", "too high");
    want_spec_err("seed=18446744073709551616", "not in range");
    want_spec_err("symbols=", "bad name");
    want_spec_err("symbols=AAPL,,MSFT", "bad name");
    want_spec_err("symbols=AA$PL", "bad name 'AA$PL'");
    want_spec_err("symbols=AAPL,aapl", "duplicate symbols 'AAPL'");
    want_spec_err("symbols=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", "bad name");
    want_spec_err("exchanges=ABCDEFGHIJKLMNOP", "bad name");
    want_spec_err("max_orders=2", "out of range");
    want_spec_err("start=99999999999", "2106");
    want_spec_err("start=9999999999", "2106"); /* would overflow int64 ns */
    want_spec_err("mode=ticks", "mode 'ticks' is not orders, levels or quotes");
    want_spec_ok("mode=LEVELS");
    assert_int_equal(cfg_buf.mode, TD_SIM_LEVELS);
    want_spec_ok("mode=quotes;mode=orders");
    assert_int_equal(cfg_buf.mode, TD_SIM_ORDERS);

    char spec[8192];
    size_t off = (size_t)snprintf(spec, sizeof spec, "symbols=");
    for (int i = 0; i < TD_SIM_MAX_SYMBOLS + 1; i++)
        off += (size_t)snprintf(spec + off, sizeof spec - off, "%sS%d", i ? "," : "", i);
    want_spec_err(spec, "too many symbols");
    off = (size_t)snprintf(spec, sizeof spec, "exchanges=");
    for (int i = 0; i < TD_SIM_MAX_EXCHANGES + 1; i++)
        off += (size_t)snprintf(spec + off, sizeof spec - off, "%sX%d", i ? "," : "", i);
    want_spec_err(spec, "too many exchanges");
}

/* Random specs built from the grammar's own pieces: never a crash, always ok or TD_EINVAL with a message. */
static void test_spec_random(void **state)
{
    (void)state;
    static const char *const pieces[] = { "symbols", "exchanges", "rate", "seed", "gap_every", "start",
                                          "max_orders", "mode", "=", "=", ";", ";", ",", "AAPL", "x", "max",
                                          "levels", "0", "7", "99999999999999999999", "-", "$", "", "4" };
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    char spec[256], err[64];
    int ok = 0;
    for (int i = 0; i < 20000; i++) {
        size_t off = 0;
        int n = 1 + (int)td_rng_below(&rng, 12);
        for (int k = 0; k < n; k++) {
            const char *p = pieces[td_rng_below(&rng, TD_ARRAY_LEN(pieces))];
            size_t len = strlen(p);
            if (off + len >= sizeof spec) break;
            memcpy(spec + off, p, len);
            off += len;
        }
        spec[off] = '\0';
        memset(err, 'Z', sizeof err);
        td_sim_config_default(&cfg_buf);
        int rc = td_sim_config_parse(&cfg_buf, spec, err, sizeof err);
        TD_CHECK(rc == TD_OK || rc == TD_EINVAL, "spec \"%s\": rc %d", spec, rc);
        if (rc == TD_OK) ok++;
        else TD_CHECK(memchr(err, '\0', sizeof err) && strncmp(err, "sim: ", 5) == 0, "spec \"%s\": bad error", spec);
    }
    TD_CHECK(ok > 0, "no random spec parsed");
}

/* ------------------------------------------------------------------------------------------------ */
/* determinism                                                                                      */

static td_sim_t *make_sim(const char *spec)
{
    char err[256];
    td_sim_config_default(&cfg_buf);
    if (td_sim_config_parse(&cfg_buf, spec, err, sizeof err) != TD_OK) fail_msg("spec %s: %s", spec, err);
    td_sim_t *s = td_sim_create(&cfg_buf, err, sizeof err);
    if (!s) fail_msg("create %s: %s", spec, err);
    return s;
}

static void test_determinism(void **state)
{
    (void)state;
    enum { N = 200000 };
    td_event_t *a = td_malloc(N * sizeof *a), *b = td_malloc(N * sizeof *b);
    td_sim_t *s1 = make_sim("seed=11;gap_every=5000");
    td_sim_t *s2 = make_sim("seed=11;gap_every=5000");
    assert_int_equal(td_sim_generate(s1, a, N), N);
    /* Different batch sizes must not change the stream. */
    size_t got = 0;
    for (size_t k = 1; got < N; k = k * 3 % 997 + 1) {
        size_t want = k < N - got ? k : N - got;
        assert_int_equal(td_sim_generate(s2, b + got, want), want);
        got += want;
    }
    assert_memory_equal(a, b, N * sizeof *a);
    td_sim_t *s3 = make_sim("seed=12;gap_every=5000");
    assert_int_equal(td_sim_generate(s3, b, N), N);
    size_t same = 0;
    for (size_t i = 0; i < N; i++) same += memcmp(&a[i], &b[i], sizeof *a) == 0;
    TD_CHECK(same < N / 100, "seeds 11 and 12 share %zu of %d events", same, N);
    /* The default start is fixed, so even exchange times are reproducible. */
    assert_int_equal(a[0].exch_ns / 1000000000LL, TD_SIM_DEFAULT_START);
    td_sim_destroy(s1);
    td_sim_destroy(s2);
    td_sim_destroy(s3);
    td_free(a);
    td_free(b);
}

/* ------------------------------------------------------------------------------------------------ */
/* the naive receiver                                                                               */

typedef struct n_order { uint64_t id; int64_t px, qty; uint8_t side; } n_order_t;
typedef struct n_level { int64_t px, qty; uint8_t side; } n_level_t;
typedef struct n_book {
    n_order_t *o;
    uint32_t n, cap;
    n_level_t *lv;     /* levels mode */
    uint32_t nlv, lvcap;
    int64_t quote[4];  /* quotes mode: bid px, bid qty, ask px, ask qty */
    int state; /* 0 normal, 1 gapped (waiting for BOOK_CLEAR), 2 in snapshot */
    int snap_side;
    int64_t snap_last_px;
} n_book_t;
typedef struct n_ref { int32_t book, slot; } n_ref_t; /* book -1 = not live */

typedef struct receiver {
    const td_sim_t *sim;
    td_sim_mode_t mode;
    uint32_t nsym, nexch;
    uint32_t sym_ids[TD_SIM_MAX_SYMBOLS];
    uint8_t exch_ids[TD_SIM_MAX_EXCHANGES];
    n_book_t *books;
    n_ref_t *refs[TD_SIM_MAX_EXCHANGES]; /* per exchange, indexed by order id */
    size_t nrefs[TD_SIM_MAX_EXCHANGES];
    uint64_t max_id[TD_SIM_MAX_EXCHANGES];
    uint64_t last_seq[TD_SIM_MAX_EXCHANGES];
    int64_t last_ns;
    uint64_t count[TD_EV_TYPE_COUNT];
    uint64_t events, books_compared, locked, crossed, nbbo_samples, lost_seqs;
    td_sim_order_t *model; /* scratch for td_sim_book */
    size_t model_cap;
} receiver_t;

static int sym_index(const receiver_t *r, uint32_t sym)
{
    for (uint32_t i = 0; i < r->nsym; i++)
        if (r->sym_ids[i] == sym) return (int)i;
    return -1;
}

static int exch_index(const receiver_t *r, uint8_t exch)
{
    for (uint32_t i = 0; i < r->nexch; i++)
        if (r->exch_ids[i] == exch) return (int)i;
    return -1;
}

static n_ref_t *ref_of(receiver_t *r, int e, uint64_t id)
{
    if (id >= r->nrefs[e]) {
        size_t n = r->nrefs[e] ? r->nrefs[e] : 1024;
        while (n <= id) n *= 2;
        r->refs[e] = td_realloc(r->refs[e], n * sizeof *r->refs[e]);
        for (size_t i = r->nrefs[e]; i < n; i++) r->refs[e][i].book = -1;
        r->nrefs[e] = n;
    }
    return &r->refs[e][id];
}

static void recv_init(receiver_t *r, const td_sim_t *sim, const td_sim_config_t *cfg)
{
    memset(r, 0, sizeof *r);
    r->sim = sim;
    r->mode = cfg->mode;
    r->nsym = (uint32_t)cfg->nsym;
    r->nexch = (uint32_t)cfg->nexch;
    for (uint32_t i = 0; i < r->nsym; i++) r->sym_ids[i] = td_sym_lookup(cfg->symbols[i], strlen(cfg->symbols[i]));
    for (uint32_t i = 0; i < r->nexch; i++)
        r->exch_ids[i] = td_exch_lookup(cfg->exchanges[i], strlen(cfg->exchanges[i]));
    r->books = td_calloc(r->nsym * r->nexch, sizeof *r->books);
    r->model_cap = 2 * cfg->max_orders + 8;
    r->model = td_malloc(r->model_cap * sizeof *r->model);
}

static void recv_free(receiver_t *r)
{
    for (uint32_t b = 0; b < r->nsym * r->nexch; b++) {
        td_free(r->books[b].o);
        td_free(r->books[b].lv);
    }
    for (uint32_t e = 0; e < r->nexch; e++) td_free(r->refs[e]);
    td_free(r->books);
    td_free(r->model);
}

static void book_add(receiver_t *r, int b, int e, uint64_t id, int side, int64_t px, int64_t qty)
{
    n_book_t *bk = &r->books[b];
    if (bk->n == bk->cap) {
        bk->cap = bk->cap ? bk->cap * 2 : 64;
        bk->o = td_realloc(bk->o, bk->cap * sizeof *bk->o);
    }
    bk->o[bk->n] = (n_order_t){ id, px, qty, (uint8_t)side };
    *ref_of(r, e, id) = (n_ref_t){ b, (int32_t)bk->n };
    bk->n++;
}

static void book_del(receiver_t *r, int b, int e, uint64_t id)
{
    n_book_t *bk = &r->books[b];
    n_ref_t *ref = ref_of(r, e, id);
    uint32_t slot = (uint32_t)ref->slot;
    ref->book = -1;
    bk->n--;
    if (slot != bk->n) {
        bk->o[slot] = bk->o[bk->n];
        ref_of(r, e, bk->o[slot].id)->slot = (int32_t)slot;
    }
}

/* Best price of a side of the naive book (0 when empty). */
static int64_t book_best(const n_book_t *bk, int side)
{
    int64_t best = 0;
    for (uint32_t i = 0; i < bk->n; i++) {
        if (bk->o[i].side != side) continue;
        if (!best || (side == TD_BID ? bk->o[i].px > best : bk->o[i].px < best)) best = bk->o[i].px;
    }
    return best;
}

static n_level_t *level_find(n_book_t *bk, int side, int64_t px)
{
    for (uint32_t i = 0; i < bk->nlv; i++)
        if (bk->lv[i].side == side && bk->lv[i].px == px) return &bk->lv[i];
    return NULL;
}

static void level_set(n_book_t *bk, int side, int64_t px, int64_t qty)
{
    n_level_t *l = level_find(bk, side, px);
    if (qty == 0) {
        if (l) *l = bk->lv[--bk->nlv];
        return;
    }
    if (!l) {
        if (bk->nlv == bk->lvcap) {
            bk->lvcap = bk->lvcap ? bk->lvcap * 2 : 64;
            bk->lv = td_realloc(bk->lv, bk->lvcap * sizeof *bk->lv);
        }
        l = &bk->lv[bk->nlv++];
        l->side = (uint8_t)side;
        l->px = px;
    }
    l->qty = qty;
}

static int64_t level_best(const n_book_t *bk, int side)
{
    int64_t best = 0;
    for (uint32_t i = 0; i < bk->nlv; i++)
        if (bk->lv[i].side == side && (!best || (side == TD_BID ? bk->lv[i].px > best : bk->lv[i].px < best)))
            best = bk->lv[i].px;
    return best;
}

/* Levels / quotes modes: the receiver's levels or quote must be the model's, aggregated. */
static void compare_levels(receiver_t *r, int si, int e)
{
    int b = si * (int)r->nexch + e;
    n_book_t *bk = &r->books[b];
    size_t n = td_sim_book(r->sim, r->sym_ids[si], r->exch_ids[e], r->model, r->model_cap);
    uint32_t nlevels = 0;
    int64_t top[4] = { 0, 0, 0, 0 };
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int64_t q = 0;
        while (j < n && r->model[j].side == r->model[i].side && r->model[j].price == r->model[i].price)
            q += r->model[j++].qty;
        int side = r->model[i].side;
        if (top[2 * side] == 0) {
            top[2 * side] = r->model[i].price;
            top[2 * side + 1] = q;
        }
        if (r->mode == TD_SIM_LEVELS) {
            n_level_t *l = level_find(bk, side, r->model[i].price);
            TD_CHECK(l && l->qty == q, "level %lld side %d: receiver %lld, model %lld (event %llu)",
                     (long long)r->model[i].price, side, l ? (long long)l->qty : -1LL, (long long)q,
                     (unsigned long long)r->events);
        }
        nlevels++;
        i = j;
    }
    if (r->mode == TD_SIM_LEVELS)
        TD_CHECK(nlevels == bk->nlv, "receiver has %u levels, model %u", bk->nlv, nlevels);
    else
        TD_CHECK(memcmp(top, bk->quote, sizeof top) == 0,
                 "quote %lld x %lld / %lld x %lld, model top %lld x %lld / %lld x %lld", (long long)bk->quote[0],
                 (long long)bk->quote[1], (long long)bk->quote[2], (long long)bk->quote[3], (long long)top[0],
                 (long long)top[1], (long long)top[2], (long long)top[3]);
    r->books_compared++;
}

/* The naive book of (sym i, exch e) must hold exactly the model's orders. */
static void compare_book(receiver_t *r, int si, int e)
{
    int b = si * (int)r->nexch + e;
    size_t n = td_sim_book(r->sim, r->sym_ids[si], r->exch_ids[e], r->model, r->model_cap);
    TD_CHECK(n <= r->model_cap, "model book larger than max_orders: %zu", n);
    TD_CHECK(n == r->books[b].n, "book %s@%s: receiver has %u orders, model %zu (event %llu)",
             td_sym_name(r->sym_ids[si]), td_exch_name(r->exch_ids[e]), r->books[b].n, n,
             (unsigned long long)r->events);
    for (size_t i = 0; i < n; i++) {
        const td_sim_order_t *m = &r->model[i];
        n_ref_t *ref = ref_of(r, e, m->order_id);
        TD_CHECK(ref->book == b, "model order %llu missing from receiver book", (unsigned long long)m->order_id);
        const n_order_t *o = &r->books[b].o[ref->slot];
        TD_CHECK(o->px == m->price && o->qty == m->qty && o->side == m->side,
                 "order %llu differs: receiver %lld x %lld side %u, model %lld x %lld side %u",
                 (unsigned long long)m->order_id, (long long)o->px, (long long)o->qty, o->side,
                 (long long)m->price, (long long)m->qty, m->side);
        /* The model's own order: price-time, so prices never get better along a side. */
        if (i > 0 && r->model[i - 1].side == m->side)
            TD_CHECK(m->side == TD_BID ? r->model[i - 1].price >= m->price : r->model[i - 1].price <= m->price,
                     "model book out of price order");
    }
    r->books_compared++;
}

static void check_px_qty(const td_event_t *ev, int64_t px, int64_t qty)
{
    char d[256];
    TD_CHECK(px > 0 && px % TICK == 0, "price off the $0.01 grid: %s", td_event_describe(ev, d, sizeof d));
    TD_CHECK(qty > 0 && qty % LOT_Q == 0, "qty not a positive round lot: %s", td_event_describe(ev, d, sizeof d));
}

static void recv_event(receiver_t *r, const td_event_t *ev)
{
    char d[256];
    r->events++;
    TD_CHECK(ev->type > TD_EV_NONE && ev->type < TD_EV_TYPE_COUNT, "bad type %u", ev->type);
    r->count[ev->type]++;
    int si = sym_index(r, ev->sym), e = exch_index(r, ev->exch);
    TD_CHECK(si >= 0 && e >= 0, "unknown symbol or exchange: %s", td_event_describe(ev, d, sizeof d));
    TD_CHECK(ev->exch_ns >= r->last_ns, "time went back: %lld after %lld", (long long)ev->exch_ns,
             (long long)r->last_ns);
    TD_CHECK(ev->recv_ns == ev->exch_ns, "generator recv_ns != exch_ns");
    r->last_ns = ev->exch_ns;
    int b = si * (int)r->nexch + e;
    n_book_t *bk = &r->books[b];

    int wire = ev->type != TD_EV_GAP && ev->type != TD_EV_BOOK_CLEAR && ev->type != TD_EV_RESYNC &&
               !(ev->flags & TD_EVF_SNAPSHOT);
    int orders = r->mode == TD_SIM_ORDERS;
    if (ev->type >= TD_EV_ORDER_ADD && ev->type <= TD_EV_ORDER_REPLACE)
        TD_CHECK(orders, "order event in mode %d", r->mode);
    if (ev->type >= TD_EV_QUOTE && ev->type <= TD_EV_LEVEL_DEL)
        TD_CHECK(ev->type == TD_EV_QUOTE ? r->mode == TD_SIM_QUOTES : r->mode == TD_SIM_LEVELS,
                 "%s in mode %d", td_ev_type_name((td_ev_type_t)ev->type), r->mode);
    if (wire) {
        TD_CHECK(ev->src_seq == r->last_seq[e] + 1, "exchange %s seq %llu after %llu with no gap: %s",
                 td_exch_name(ev->exch), (unsigned long long)ev->src_seq, (unsigned long long)r->last_seq[e],
                 td_event_describe(ev, d, sizeof d));
        r->last_seq[e] = ev->src_seq;
        TD_CHECK(bk->state == 0, "wire event on a book under repair: %s", td_event_describe(ev, d, sizeof d));
    } else {
        TD_CHECK(ev->src_seq == 0, "synthesized event with a seq: %s", td_event_describe(ev, d, sizeof d));
    }

    switch (ev->type) {
    case TD_EV_ORDER_ADD: {
        uint64_t id = ev->u.order.order_id;
        check_px_qty(ev, ev->u.order.price, ev->u.order.qty);
        TD_CHECK(ev->side == TD_BID || ev->side == TD_ASK, "bad side");
        TD_CHECK(ref_of(r, e, id)->book < 0, "add of a live id: %s", td_event_describe(ev, d, sizeof d));
        if (ev->flags & TD_EVF_SNAPSHOT) {
            TD_CHECK(bk->state == 2, "snapshot add outside a snapshot");
            /* Price-time order: bids best first, then asks best first. */
            TD_CHECK(ev->side >= bk->snap_side, "snapshot bid after an ask");
            if (ev->side == bk->snap_side && bk->snap_last_px)
                TD_CHECK(ev->side == TD_BID ? ev->u.order.price <= bk->snap_last_px
                                            : ev->u.order.price >= bk->snap_last_px,
                         "snapshot out of price order: %s", td_event_describe(ev, d, sizeof d));
            bk->snap_side = ev->side;
            bk->snap_last_px = ev->u.order.price;
        } else {
            TD_CHECK(id > r->max_id[e], "new order id %llu not above %llu", (unsigned long long)id,
                     (unsigned long long)r->max_id[e]);
            int64_t opp = book_best(bk, ev->side ^ 1);
            if (opp)
                TD_CHECK(ev->side == TD_BID ? ev->u.order.price < opp : ev->u.order.price > opp,
                         "add crosses or locks its own book: %s", td_event_describe(ev, d, sizeof d));
        }
        if (id > r->max_id[e]) r->max_id[e] = id;
        book_add(r, b, e, id, ev->side, ev->u.order.price, ev->u.order.qty);
        break;
    }
    case TD_EV_ORDER_EXEC:
    case TD_EV_ORDER_CANCEL:
    case TD_EV_ORDER_DELETE:
    case TD_EV_ORDER_REPLACE: {
        n_ref_t *ref = ref_of(r, e, ev->u.order.order_id);
        TD_CHECK(ref->book == b, "%s of an order not live in this book", td_event_describe(ev, d, sizeof d));
        n_order_t *o = &bk->o[ref->slot];
        TD_CHECK(o->side == ev->side, "side differs from the order's: %s", td_event_describe(ev, d, sizeof d));
        if (ev->type == TD_EV_ORDER_EXEC) {
            check_px_qty(ev, ev->u.order.price, ev->u.order.qty);
            TD_CHECK(ev->u.order.qty <= o->qty, "exec for more than is left: %s", td_event_describe(ev, d, sizeof d));
            TD_CHECK(ev->u.order.price == o->px, "exec away from the order's price");
            TD_CHECK(o->px == book_best(bk, o->side), "exec not at the touch: %s",
                     td_event_describe(ev, d, sizeof d));
            o->qty -= ev->u.order.qty;
            if (o->qty == 0) book_del(r, b, e, o->id);
        } else if (ev->type == TD_EV_ORDER_CANCEL) {
            check_px_qty(ev, o->px, ev->u.order.qty);
            TD_CHECK(ev->u.order.qty < o->qty, "partial cancel of everything: %s", td_event_describe(ev, d, sizeof d));
            o->qty -= ev->u.order.qty;
        } else if (ev->type == TD_EV_ORDER_DELETE) {
            book_del(r, b, e, o->id);
        } else {
            uint64_t nid = ev->u.order.new_order_id;
            int side = o->side;
            check_px_qty(ev, ev->u.order.price, ev->u.order.qty);
            TD_CHECK(nid > r->max_id[e] && ref_of(r, e, nid)->book < 0, "replace to a used id: %s",
                     td_event_describe(ev, d, sizeof d));
            r->max_id[e] = nid;
            book_del(r, b, e, ev->u.order.order_id);
            int64_t opp = book_best(bk, side ^ 1);
            if (opp)
                TD_CHECK(side == TD_BID ? ev->u.order.price < opp : ev->u.order.price > opp,
                         "replace crosses or locks its own book: %s", td_event_describe(ev, d, sizeof d));
            book_add(r, b, e, nid, side, ev->u.order.price, ev->u.order.qty);
        }
        break;
    }
    case TD_EV_TRADE:
        check_px_qty(ev, ev->u.trade.price, ev->u.trade.qty);
        TD_CHECK(ev->side == TD_BID || ev->side == TD_ASK, "trade without an aggressor side");
        if (orders) {
            TD_CHECK(ev->flags & TD_EVF_HIDDEN, "plain trade (orders mode prints executions as ORDER_EXEC)");
        } else if (!(ev->flags & TD_EVF_HIDDEN)) {
            TD_CHECK(ev->flags == 0, "trade flags %u", ev->flags);
            TD_CHECK(ev->u.trade.trade_id > 0, "trade without an id");
            if (r->mode == TD_SIM_LEVELS) { /* trades precede their level updates: the level still rests */
                n_level_t *l = level_find(bk, ev->side ^ 1, ev->u.trade.price);
                TD_CHECK(l && l->qty >= ev->u.trade.qty, "trade against no resting level: %s",
                         td_event_describe(ev, d, sizeof d));
            } else { /* quotes: at or through the quoted touch of the resting side */
                int64_t touch_px = bk->quote[2 * (ev->side ^ 1)];
                TD_CHECK(touch_px && (ev->side == TD_BID ? ev->u.trade.price >= touch_px
                                                        : ev->u.trade.price <= touch_px),
                         "trade inside the quote: %s", td_event_describe(ev, d, sizeof d));
            }
        }
        break;
    case TD_EV_LEVEL_SET:
    case TD_EV_LEVEL_DEL:
        TD_CHECK(ev->side == TD_BID || ev->side == TD_ASK, "level without a side");
        if (ev->type == TD_EV_LEVEL_SET) check_px_qty(ev, ev->u.level.price, ev->u.level.qty);
        else TD_CHECK(level_find(bk, ev->side, ev->u.level.price), "delete of a missing level: %s",
                      td_event_describe(ev, d, sizeof d));
        if (ev->flags & TD_EVF_SNAPSHOT) {
            TD_CHECK(bk->state == 2 && ev->type == TD_EV_LEVEL_SET, "snapshot level outside a snapshot");
            TD_CHECK(ev->side >= bk->snap_side, "snapshot bid after an ask");
            if (ev->side == bk->snap_side && bk->snap_last_px)
                TD_CHECK(ev->side == TD_BID ? ev->u.level.price < bk->snap_last_px
                                            : ev->u.level.price > bk->snap_last_px,
                         "snapshot levels out of order: %s", td_event_describe(ev, d, sizeof d));
            bk->snap_side = ev->side;
            bk->snap_last_px = ev->u.level.price;
        }
        level_set(bk, ev->side, ev->u.level.price, ev->type == TD_EV_LEVEL_SET ? ev->u.level.qty : 0);
        break;
    case TD_EV_QUOTE: {
        const int64_t *q = &ev->u.quote.bid_px;
        for (int side = 0; side < 2; side++) {
            if (q[2 * side + 1] == 0) TD_CHECK(q[2 * side] == 0, "empty side with a price");
            else check_px_qty(ev, q[2 * side], q[2 * side + 1]);
        }
        if (q[0] && q[2]) TD_CHECK(q[0] < q[2], "quote crossed or locked: %s", td_event_describe(ev, d, sizeof d));
        if (ev->flags & TD_EVF_SNAPSHOT) TD_CHECK(bk->state == 2, "snapshot quote outside a snapshot");
        else TD_CHECK(memcmp(q, bk->quote, sizeof bk->quote) != 0, "quote that changes nothing");
        memcpy(bk->quote, q, sizeof bk->quote);
        break;
    }
    case TD_EV_GAP:
        TD_CHECK(bk->state == 0, "gap on a book already under repair");
        TD_CHECK(ev->u.gap.expected == r->last_seq[e] + 1 && ev->u.gap.received > ev->u.gap.expected,
                 "gap expected %llu received %llu after seq %llu", (unsigned long long)ev->u.gap.expected,
                 (unsigned long long)ev->u.gap.received, (unsigned long long)r->last_seq[e]);
        r->lost_seqs += ev->u.gap.received - ev->u.gap.expected;
        r->last_seq[e] = ev->u.gap.received - 1; /* the next message on this exchange carries received */
        bk->state = 1;
        break;
    case TD_EV_BOOK_CLEAR:
        TD_CHECK(bk->state == 1, "book clear without a gap");
        while (bk->n) book_del(r, b, e, bk->o[bk->n - 1].id);
        bk->nlv = 0;
        memset(bk->quote, 0, sizeof bk->quote);
        bk->state = 2;
        bk->snap_side = TD_BID;
        bk->snap_last_px = 0;
        break;
    case TD_EV_RESYNC:
        TD_CHECK(bk->state == 2, "resync without a snapshot");
        bk->state = 0;
        break;
    default:
        TD_CHECK(0, "unexpected event type: %s", td_event_describe(ev, d, sizeof d));
    }
}

/* At a step boundary every settled book must equal the model; also sample the consolidated market. */
static void recv_check_all(receiver_t *r)
{
    for (uint32_t si = 0; si < r->nsym; si++) {
        int64_t best_bid = 0, best_ask = 0;
        int settled = 1;
        for (uint32_t e = 0; e < r->nexch; e++) {
            n_book_t *bk = &r->books[si * r->nexch + e];
            if (bk->state != 0) { settled = 0; continue; }
            TD_CHECK(!td_sim_book_frozen(r->sim, r->sym_ids[si], r->exch_ids[e]), "settled book is frozen");
            int64_t bid, ask;
            if (r->mode == TD_SIM_ORDERS) {
                compare_book(r, (int)si, (int)e);
                bid = book_best(bk, TD_BID);
                ask = book_best(bk, TD_ASK);
            } else {
                compare_levels(r, (int)si, (int)e);
                bid = r->mode == TD_SIM_LEVELS ? level_best(bk, TD_BID) : bk->quote[0];
                ask = r->mode == TD_SIM_LEVELS ? level_best(bk, TD_ASK) : bk->quote[2];
            }
            if (bid && ask) TD_CHECK(bid < ask, "one exchange's book is crossed or locked");
            if (bid > best_bid) best_bid = bid;
            if (ask && (!best_ask || ask < best_ask)) best_ask = ask;
        }
        if (settled && best_bid && best_ask) {
            r->nbbo_samples++;
            r->locked += best_bid == best_ask;
            r->crossed += best_bid > best_ask;
        }
    }
}

/* Replays n events of spec into the receiver, in random batch sizes, checking all the way. */
static void replay(const char *spec, size_t n, receiver_t *r, int64_t *sim_ns)
{
    td_sim_t *s = make_sim(spec);
    recv_init(r, s, &cfg_buf);
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed_value);
    td_event_t buf[512];
    int64_t t0 = -1;
    size_t done = 0, batches = 0;
    while (done < n) {
        size_t k = 1 + td_rng_below(&rng, td_rng_below(&rng, 2) ? 8 : TD_ARRAY_LEN(buf));
        if (k > n - done) k = n - done;
        assert_int_equal(td_sim_generate(s, buf, k), k);
        if (t0 < 0) t0 = buf[0].exch_ns;
        for (size_t i = 0; i < k; i++) recv_event(r, &buf[i]);
        done += k;
        if (td_sim_pending(s) == 0 && (++batches % 8 == 0 || buf[k - 1].type == TD_EV_RESYNC)) recv_check_all(r);
    }
    *sim_ns = r->last_ns - t0;
    r->sim = NULL;
    td_sim_destroy(s);
}

static void print_mix(const char *what, const receiver_t *r, int64_t sim_ns)
{
    print_message("%s: %llu events over %.1f s of exchange time; %llu book comparisons\n", what,
                  (unsigned long long)r->events, (double)sim_ns / 1e9, (unsigned long long)r->books_compared);
    for (int t = 1; t < TD_EV_TYPE_COUNT; t++)
        if (r->count[t])
            print_message("  %-14s %9llu  %5.2f%%\n", td_ev_type_name((td_ev_type_t)t),
                          (unsigned long long)r->count[t], 100.0 * (double)r->count[t] / (double)r->events);
    print_message("  consolidated samples %llu: locked %.3f%%, crossed %.3f%%; lost seqs %llu\n",
                  (unsigned long long)r->nbbo_samples, 100.0 * (double)r->locked / (double)(r->nbbo_samples + 1),
                  100.0 * (double)r->crossed / (double)(r->nbbo_samples + 1), (unsigned long long)r->lost_seqs);
}

static double share(const receiver_t *r, int type) { return (double)r->count[type] / (double)r->events; }

static void test_validity_default(void **state)
{
    (void)state;
    uint64_t seed = td_test_seed();
    char spec[128];
    snprintf(spec, sizeof spec, "seed=%llu;gap_every=4000", (unsigned long long)seed);
    static receiver_t r;
    int64_t sim_ns;
    size_t n = td_test_sanitized() ? 300000 : 1500000;
    replay(spec, n, &r, &sim_ns);
    print_mix("default symbols, gap_every=4000", &r, sim_ns);

    /* A plausible mix, roughly what an ITCH day looks like: adds and deletes dominate, a few % trade. */
    TD_CHECK(share(&r, TD_EV_ORDER_ADD) > 0.30 && share(&r, TD_EV_ORDER_ADD) < 0.60, "adds %.3f",
             share(&r, TD_EV_ORDER_ADD));
    TD_CHECK(share(&r, TD_EV_ORDER_DELETE) > 0.15 && share(&r, TD_EV_ORDER_DELETE) < 0.50, "deletes %.3f",
             share(&r, TD_EV_ORDER_DELETE));
    TD_CHECK(share(&r, TD_EV_ORDER_EXEC) > 0.03 && share(&r, TD_EV_ORDER_EXEC) < 0.20, "execs %.3f",
             share(&r, TD_EV_ORDER_EXEC));
    TD_CHECK(share(&r, TD_EV_ORDER_CANCEL) > 0.01 && share(&r, TD_EV_ORDER_CANCEL) < 0.15, "cancels %.3f",
             share(&r, TD_EV_ORDER_CANCEL));
    TD_CHECK(share(&r, TD_EV_ORDER_REPLACE) > 0.03 && share(&r, TD_EV_ORDER_REPLACE) < 0.20, "replaces %.3f",
             share(&r, TD_EV_ORDER_REPLACE));
    TD_CHECK(share(&r, TD_EV_TRADE) > 0.002 && share(&r, TD_EV_TRADE) < 0.05, "hidden trades %.4f",
             share(&r, TD_EV_TRADE));
    /* Gaps: about one per 4000 steps, each repaired (a few may still be open at the end). */
    TD_CHECK(r.count[TD_EV_GAP] > n / 4000 / 3, "only %llu gaps", (unsigned long long)r.count[TD_EV_GAP]);
    TD_CHECK(r.count[TD_EV_RESYNC] + 8 >= r.count[TD_EV_GAP], "gaps %llu, resyncs %llu",
             (unsigned long long)r.count[TD_EV_GAP], (unsigned long long)r.count[TD_EV_RESYNC]);
    /* Locked and crossed happen, but are the exception. */
    TD_CHECK(r.locked > 0 && r.crossed > 0, "locked %llu crossed %llu of %llu", (unsigned long long)r.locked,
             (unsigned long long)r.crossed, (unsigned long long)r.nbbo_samples);
    TD_CHECK(r.locked + r.crossed < r.nbbo_samples / 5, "locked/crossed too often");
    /* 20,000 events/s by default, in simulated time. */
    double rate = (double)r.events / ((double)sim_ns / 1e9);
    TD_CHECK(rate > 18000 && rate < 22000, "simulated rate %.0f events/s", rate);
    recv_free(&r);
}

/* One book and losses every few steps: the repair paths (all books frozen, back-to-back gaps). */
static void test_validity_gap_storm(void **state)
{
    (void)state;
    uint64_t seed = td_test_seed();
    char spec[160];
    static receiver_t r;
    int64_t sim_ns;
    snprintf(spec, sizeof spec, "symbols=ONE;exchanges=X1;seed=%llu;gap_every=3;max_orders=8",
             (unsigned long long)seed);
    replay(spec, 200000, &r, &sim_ns);
    print_mix("one book, gap_every=3, max_orders=8", &r, sim_ns);
    TD_CHECK(r.count[TD_EV_GAP] > 1000 && r.count[TD_EV_RESYNC] + 1 >= r.count[TD_EV_GAP], "gaps %llu resyncs %llu",
             (unsigned long long)r.count[TD_EV_GAP], (unsigned long long)r.count[TD_EV_RESYNC]);
    recv_free(&r);

    snprintf(spec, sizeof spec, "symbols=A,B,C,D;exchanges=X1,X2,X3,X4,X5;seed=%llu;gap_every=7;rate=max",
             (unsigned long long)seed);
    replay(spec, 300000, &r, &sim_ns);
    print_mix("4 symbols x 5 exchanges, gap_every=7", &r, sim_ns);
    TD_CHECK(r.count[TD_EV_RESYNC] > 1000, "resyncs %llu", (unsigned long long)r.count[TD_EV_RESYNC]);
    recv_free(&r);

    snprintf(spec, sizeof spec, "symbols=CHEAP,F,BRK.B;exchanges=X1,X2;seed=%llu;gap_every=0;max_orders=4",
             (unsigned long long)seed);
    replay(spec, 200000, &r, &sim_ns);
    TD_CHECK(r.count[TD_EV_GAP] == 0 && r.lost_seqs == 0, "gaps with gap_every=0");
    recv_free(&r);
}

/* Depth and BBO renderings of the same model. */
static void test_validity_levels_quotes(void **state)
{
    (void)state;
    uint64_t seed = td_test_seed();
    char spec[160];
    static receiver_t r;
    int64_t sim_ns;
    size_t n = td_test_sanitized() ? 150000 : 600000;
    const char *modes[] = { "levels", "quotes" };
    for (int m = 0; m < 2; m++) {
        snprintf(spec, sizeof spec, "mode=%s;seed=%llu;gap_every=2000", modes[m], (unsigned long long)seed);
        replay(spec, n, &r, &sim_ns);
        print_mix(spec, &r, sim_ns);
        TD_CHECK(r.count[TD_EV_TRADE] > n / 50 && r.count[TD_EV_RESYNC] > 10 && r.books_compared > 1000,
                 "%s: trades %llu resyncs %llu compared %llu", modes[m], (unsigned long long)r.count[TD_EV_TRADE],
                 (unsigned long long)r.count[TD_EV_RESYNC], (unsigned long long)r.books_compared);
        TD_CHECK(r.locked + r.crossed > 0, "%s: never locked or crossed", modes[m]);
        recv_free(&r);
    }
    snprintf(spec, sizeof spec, "mode=levels;symbols=ONE;exchanges=X1;seed=%llu;gap_every=3;max_orders=8",
             (unsigned long long)seed);
    replay(spec, 100000, &r, &sim_ns);
    recv_free(&r);
    snprintf(spec, sizeof spec, "mode=quotes;symbols=ONE;exchanges=X1;seed=%llu;gap_every=3;max_orders=8",
             (unsigned long long)seed);
    replay(spec, 100000, &r, &sim_ns);
    recv_free(&r);
}

/* Prices stay plausible over a long (simulated) session: positive, near the reference. */
static void test_price_walk(void **state)
{
    (void)state;
    td_sim_t *s = make_sim("symbols=AAPL;exchanges=NYSE;rate=200;gap_every=0");
    td_event_t buf[256];
    int64_t lo = INT64_MAX, hi = 0;
    size_t n = td_test_sanitized() ? 200000 : 1000000; /* 1M at 200/s: ~1.4 simulated hours */
    for (size_t done = 0; done < n; done += TD_ARRAY_LEN(buf)) {
        td_sim_generate(s, buf, TD_ARRAY_LEN(buf));
        for (size_t i = 0; i < TD_ARRAY_LEN(buf); i++)
            if (buf[i].type == TD_EV_ORDER_EXEC) {
                if (buf[i].u.order.price < lo) lo = buf[i].u.order.price;
                if (buf[i].u.order.price > hi) hi = buf[i].u.order.price;
            }
    }
    char a[TD_DEC_BUFSZ], b[TD_DEC_BUFSZ];
    td_dec_fmt(lo, a);
    td_dec_fmt(hi, b);
    print_message("AAPL traded %s .. %s over %.1f simulated minutes\n", a, b,
                  (double)(td_sim_time(s) - TD_SIM_DEFAULT_START * 1000000000LL) / 60e9);
    TD_CHECK(lo > 150 * TD_PX_SCALE && hi < 230 * TD_PX_SCALE && hi > lo, "AAPL range %s..%s", a, b);
    td_sim_destroy(s);
}

/* ------------------------------------------------------------------------------------------------ */
/* the source                                                                                       */

typedef struct fake_clock { int64_t now, slept; int sleeps; } fake_clock_t;
static int64_t fake_mono(void *ctx) { return ((fake_clock_t *)ctx)->now; }
static void fake_sleep(void *ctx, int64_t ns)
{
    fake_clock_t *c = ctx;
    c->slept += ns;
    c->sleeps++;
}

/* Drains the source until it has nothing due; returns the events it gave. */
static uint64_t drain(td_source_t *src, td_event_t *buf, size_t max)
{
    uint64_t total = 0;
    for (;;) {
        int n = src->next(src, buf, max);
        assert_true(n >= 0);
        if (n == 0) return total;
        for (int i = 0; i < n; i++) assert_int_equal(buf[i].recv_ns, 0);
        total += (uint64_t)n;
    }
}

static void test_source_pacing(void **state)
{
    (void)state;
    char err[256];
    td_source_t *src = td_sim_open("rate=1000;seed=3;start=1700000000", err, sizeof err);
    assert_non_null(src);
    assert_string_equal(src->kind, "sim");
    assert_string_equal(src->name, "sim:rate=1000;seed=3;start=1700000000");
    fake_clock_t clk = { 1000000, 0, 0 };
    td_sim_source_set_clock(src, fake_mono, fake_sleep, &clk);
    td_event_t buf[64];

    /* At t0 nothing is due: it sleeps (briefly) instead of spinning. */
    assert_int_equal(drain(src, buf, 64), 0);
    assert_true(clk.sleeps == 1 && clk.slept > 0 && clk.slept <= 1000000);
    /* Exactly rate x elapsed, whatever the batch size. */
    clk.now += 1000000000;
    assert_int_equal(drain(src, buf, 64), 1000);
    clk.now += 500000000;
    assert_int_equal(drain(src, buf, 7), 500);
    clk.now += 999999;
    assert_int_equal(drain(src, buf, 64), 0);
    clk.now += 1;
    assert_int_equal(drain(src, buf, 64), 1);
    /* Exchange time follows the schedule from start=: event 1500 is due at start + 1.5 s. */
    TD_CHECK(buf[0].exch_ns >= 1700000001500000000LL && buf[0].exch_ns < 1700000001600000000LL,
             "exch_ns %lld", (long long)buf[0].exch_ns);
    /* After a long stall only 1 s worth (or one batch) is caught up. */
    clk.now += 60LL * 1000000000;
    assert_int_equal(drain(src, buf, 64), 1000);
    assert_int_equal(atomic_load(&src->stats.events), 2501);
    td_source_destroy(src);

    /* rate=max: every call fills the batch. */
    src = td_sim_open("rate=max", err, sizeof err);
    assert_non_null(src);
    assert_string_equal(src->name, "sim:rate=max");
    for (int i = 0; i < 10; i++) assert_int_equal(src->next(src, buf, 64), 64);
    int64_t now = td_now_ns();
    TD_CHECK(buf[63].exch_ns > now - 60LL * 1000000000 && buf[63].exch_ns < now + 1000000000,
             "unpaced exchange time %lld is not near the wall clock %lld", (long long)buf[63].exch_ns,
             (long long)now);
    td_source_destroy(src);

    /* Defaults open, with a real clock: a short real run gives some events. */
    src = td_sim_open(NULL, err, sizeof err);
    assert_non_null(src);
    assert_string_equal(src->name, "sim");
    uint64_t got = 0;
    for (int i = 0; i < 200 && got == 0; i++) {
        int n = src->next(src, buf, 64);
        assert_true(n >= 0);
        got += (uint64_t)n;
    }
    assert_true(got > 0);
    td_source_destroy(src);
    td_source_destroy(NULL);
}

/* The live source stream passes the same receiver checks (recv_ns aside). */
static void test_source_stream_valid(void **state)
{
    (void)state;
    char err[256];
    td_source_t *src = td_sim_open("rate=max;gap_every=500;seed=9", err, sizeof err);
    assert_non_null(src);
    td_sim_config_default(&cfg_buf);
    static receiver_t r;
    recv_init(&r, NULL, &cfg_buf);
    td_event_t buf[256];
    for (int i = 0; i < 1000; i++) {
        int n = src->next(src, buf, TD_ARRAY_LEN(buf));
        assert_int_equal(n, (int)TD_ARRAY_LEN(buf));
        for (int k = 0; k < n; k++) {
            buf[k].recv_ns = buf[k].exch_ns;
            recv_event(&r, &buf[k]);
        }
    }
    TD_CHECK(atomic_load(&src->stats.gaps) == r.count[TD_EV_GAP] && r.count[TD_EV_GAP] > 100,
             "stats.gaps %llu, stream %llu", (unsigned long long)atomic_load(&src->stats.gaps),
             (unsigned long long)r.count[TD_EV_GAP]);
    assert_int_equal(atomic_load(&src->stats.resyncs), r.count[TD_EV_RESYNC]);
    recv_free(&r);
    td_source_destroy(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_parse),         cmocka_unit_test(test_spec_random),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_validity_default),   cmocka_unit_test(test_validity_gap_storm),
        cmocka_unit_test(test_validity_levels_quotes),
        cmocka_unit_test(test_price_walk),         cmocka_unit_test(test_source_pacing),
        cmocka_unit_test(test_source_stream_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
