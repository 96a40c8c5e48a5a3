/*
 * ticks.c: tick block layout 2, the column codec with an order model (written since layout 1; block.c keeps
 * reading layout 1).
 *
 * Why a model: most order-level events refer to an order the block has already seen. An execution, cancel or
 * delete repeats the order's side and price (and a delete its remaining size); its order id is a number from
 * a space shared by every symbol of the exchange, so its distance from the newest id costs bytes. Layout 2
 * keeps a table of the orders added in the block and codes a reference as "the k-th newest order of this
 * exchange in this block", its side, price and size as differences from the order's. Derived records (NBBO
 * changes, resolved trades) follow the event that caused them and are predicted from it.
 *
 * Columns, in order (each compressed by zstd on its own unless noted; "int" columns are described below):
 *   TS     bytes, one per record: code(type) << 4 | side residual << 2 | exchange table index, where code is
 *          the type for types 1..13, 14 for NBBO, 15 for resolved trades; 0: escaped, the triple is in ESC
 *          (any other type, a residual or index above 3; one joint symbol lets zstd's Huffman table see how
 *          type, side and exchange go together)
 *   ESC    bytes: type, side residual, exchange index (255: none) of each escaped record
 *   FLAGS  bytes
 *   SRC    int: src_seq - (previous src_seq of the exchange + 1)     DSRC  int: derived records' src_seq
 *   TIME   int: exch_ns - previous record's (the first: - min_time)
 *   RECV   a mode byte, then int: 0: (recv_ns - exch_ns) - previous such latency; 1: recv_ns - previous recv_ns
 *          (backfills have no receive time, live feeds a latency: the smaller per block)
 *   SEQ    int: seq - previous seq - (1 for a derived record: it is the next out seq of its event)
 *   PX QTY W2 W3  int: the payload words of events minus their prediction (W2 and W3 of orders: below)
 *   DPX DQTY DW2 DW3  int: the same for derived records (their statistics differ from the events')
 *   FRESH  int: new order ids (ADD, REPLACE's new id) - (the exchange's previous new id + 1)
 *   REF    int, per order reference: 0 = not in the table, else its rank among the exchange's orders
 *          added in this block and still live (1 = the newest; a Fenwick tree per exchange counts them)
 *   XID    int, per reference not in the table: its id - the exchange's previous new id
 * Predictions: side and price of a referenced order are the order's; its size is the order's remaining size
 * for executions, cancels and deletes (a source that sends no price or size for them, like ITCH, is followed:
 * after such a record of a type the prediction for that type is 0). A new order's price is predicted by the
 * last new price of the exchange and side. A resolved trade (TD_SREC_TRADE) right after an execution or a
 * trade event of its exchange is predicted from it (price, size, id = the execution's src_seq, aggressor
 * side = opposite of the resting order's side). Every other record class (trades, quotes, levels, NBBO,
 * other) predicts each word by the same word of the class's previous record on the exchange.
 *
 * Int columns: varint count, a coding byte, varint g (the GCD), then the quotients v / g zigzagged:
 *   coding 0: varints;
 *   coding 1 (when the values are large): a byte per value, (bit length L) << 1 | the bit below the leading
 *   one, then the L - 2 lower bits of every value, packed LSB first, in a column of their own stored without
 *   zstd (random nanosecond digits do not compress, and a Huffman table of their bytes would not see the
 *   length structure that the symbol byte captures).
 * The decoder reads every column into an array first, then rebuilds the records in one pass with the same
 * model; every count, index and table reference is bounds-checked, and every value must be consumed.
 * All arithmetic wraps in uint64, so any record round-trips bit for bit (tested with random words).
 * Threading: pure functions over a caller-owned scratch (one per thread).
 */
#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "store/codec.h"
#include "store/store.h"

/* Columns of values, written in this order. Derived records (NBBO changes, resolved trades) keep their
 * payload and src_seq in columns of their own (C_D*): their statistics differ from the events'. */
enum { C_SRC, C_DSRC, C_TIME, C_RECV, C_SEQ, C_PX, C_QTY, C_W2, C_W3, C_DPX, C_DQTY, C_DW2, C_DW3, C_FRESH, C_REF,
       C_XID, NCOL };

enum { CL_ORDER, CL_TRADE, CL_STRADE, CL_QUOTE, CL_LEVEL, CL_NBBO, CL_OTHER, CL_COUNT };

#define NX (TD_BLK_MAX_EXCH + 1) /* exchange indexes, plus one slot for "no exchange" */
#define TS_ESC 0
#define EXPMANT_MIN_BITS 12 /* mean bit length from which coding 1 pays */

/* An order added in the block, by its add number k (1, 2, ... in block order, all exchanges). */
typedef struct ord {
    uint64_t id;
    uint64_t px, rem;
    uint8_t x, side, live;
} ord_t;

/* The encoder's id -> add number table (the decoder gets add numbers from the Fenwick trees instead). */
typedef struct hent {
    uint64_t id;
    uint32_t k;
    uint32_t gen_x; /* generation << 8 | exchange index: entries of older blocks are stale */
} hent_t;

typedef struct model {
    uint32_t gen;       /* 24 bits used */
    uint32_t mask;
    hent_t *tab;
    size_t tab_cap;
    ord_t *ord;         /* [1..nord] */
    size_t ord_cap;
    uint32_t nord, ord_lim;
    int64_t *col[NCOL]; /* column values, n each */
    size_t col_cap;
    size_t ncol[NCOL];  /* encoder: values written; decoder: values available */
    size_t used[NCOL];  /* decoder: values consumed */
    uint8_t *ts, *esc;
    size_t esc_n, esc_used;
    /* live orders per exchange by add number (Fenwick trees of fw_size entries, allocated on first use) */
    uint32_t *fw[NX];
    uint32_t fw_size, fw_cap;
    uint32_t live[NX];
    bool fw_used[NX];
    /* per-block prediction state, reset by model_get */
    uint64_t lastp[NX][4];
    uint64_t last_fresh[NX];
    uint64_t prev_src[NX];
    uint64_t pw[CL_COUNT][NX][4];
    uint8_t zero_px[16], zero_qty[16];
    bool imp_valid;
    uint8_t imp_x, imp_side;
    uint64_t imp_px, imp_qty, imp_id;
} model_t;

static int rec_class(uint8_t t)
{
    switch (t) {
    case TD_EV_ORDER_ADD: case TD_EV_ORDER_EXEC: case TD_EV_ORDER_CANCEL: case TD_EV_ORDER_DELETE:
    case TD_EV_ORDER_REPLACE:
        return CL_ORDER;
    case TD_EV_TRADE: return CL_TRADE;
    case TD_SREC_TRADE: return CL_STRADE;
    case TD_EV_QUOTE: return CL_QUOTE;
    case TD_EV_LEVEL_SET: case TD_EV_LEVEL_DEL: return CL_LEVEL;
    case TD_SREC_NBBO: return CL_NBBO;
    default: return CL_OTHER;
    }
}

static bool derived(uint8_t t) { return t == TD_SREC_NBBO || t == TD_SREC_TRADE; }

static uint64_t word(const td_event_t *ev, int k)
{
    uint64_t w;
    memcpy(&w, (const uint8_t *)&ev->u + 8 * k, 8);
    return w;
}

static void set_word(td_event_t *ev, int k, uint64_t w) { memcpy((uint8_t *)&ev->u + 8 * k, &w, 8); }

static uint8_t opposite(uint8_t side) { return side == TD_BID ? TD_ASK : side == TD_ASK ? TD_BID : TD_SIDE_NONE; }

/* ---- the model ---- */

/* The per-block state, for a block of n records (the columns). */
static model_t *model_get(td_blk_scratch_t *s, size_t n)
{
    if (!s->model) s->model = td_calloc(1, sizeof(model_t));
    model_t *m = s->model;
    if (m->col_cap < n) {
        for (int c = 0; c < NCOL; c++) {
            td_free(m->col[c]);
            m->col[c] = td_malloc(n * sizeof(int64_t));
        }
        td_free(m->ts);
        td_free(m->esc);
        m->ts = td_malloc(n);
        m->esc = td_malloc(3 * n);
        m->col_cap = n;
    }
    memset(m->ncol, 0, sizeof m->ncol);
    memset(m->used, 0, sizeof m->used);
    m->esc_n = m->esc_used = 0;
    memset(m->lastp, 0, sizeof m->lastp);
    memset(m->last_fresh, 0, sizeof m->last_fresh);
    memset(m->prev_src, 0, sizeof m->prev_src);
    memset(m->pw, 0, sizeof m->pw);
    memset(m->zero_px, 0, sizeof m->zero_px);
    memset(m->zero_qty, 0, sizeof m->zero_qty);
    m->imp_valid = false;
    return m;
}

/* The order tables, for at most nfresh orders added in the block (ADDs and REPLACEs' new orders): sized by
 * them, so a block of few orders touches little memory. */
static void model_orders(model_t *m, size_t nfresh, bool hash)
{
    if (m->ord_cap < nfresh + 1) {
        td_free(m->ord);
        m->ord_cap = nfresh + 1;
        m->ord = td_malloc(m->ord_cap * sizeof *m->ord);
    }
    m->nord = 0;
    m->ord_lim = (uint32_t)nfresh;
    uint32_t fsz = 1;
    while (fsz < nfresh + 1) fsz *= 2;
    for (unsigned x = 0; x < NX; x++) {
        if (m->fw_used[x]) memset(m->fw[x], 0, ((size_t)m->fw_size + 1) * sizeof(uint32_t));
        m->fw_used[x] = false;
    }
    if (m->fw_cap < fsz) { /* trees are allocated on first use at fw_cap */
        for (unsigned x = 0; x < NX; x++) {
            td_free(m->fw[x]);
            m->fw[x] = NULL;
        }
        m->fw_cap = fsz;
    }
    m->fw_size = fsz;
    memset(m->live, 0, sizeof m->live);
    if (!hash) return;
    size_t cap = 64;
    while (cap < 2 * nfresh + 2) cap *= 2;
    if (m->tab_cap < cap) {
        td_free(m->tab);
        m->tab = td_calloc(cap, sizeof *m->tab);
        m->tab_cap = cap;
        m->gen = 0;
    }
    m->mask = (uint32_t)(cap - 1);
    m->gen = (m->gen + 1) & 0xffffff;
    if (m->gen == 0) { /* wrapped: clear, so no entry of 2^24 blocks ago looks current */
        memset(m->tab, 0, m->tab_cap * sizeof *m->tab);
        m->gen = 1;
    }
}

void td_blk_model_free(void *model)
{
    model_t *m = model;
    if (!m) return;
    td_free(m->tab);
    td_free(m->ord);
    for (int c = 0; c < NCOL; c++) td_free(m->col[c]);
    td_free(m->ts);
    td_free(m->esc);
    for (unsigned x = 0; x < NX; x++) td_free(m->fw[x]);
    td_free(m);
}

static uint32_t slot_of(const model_t *m, uint8_t x, uint64_t id)
{
    return (uint32_t)(((id ^ ((uint64_t)x << 56)) * 0x9E3779B97F4A7C15ull) >> 40) & m->mask;
}

/* The add number of the newest order (x, id) in the block, or 0. */
static uint32_t tab_find(const model_t *m, uint8_t x, uint64_t id)
{
    uint32_t want = m->gen << 8 | x;
    for (uint32_t h = slot_of(m, x, id);; h = (h + 1) & m->mask) {
        const hent_t *e = &m->tab[h];
        if (e->gen_x >> 8 != m->gen) return 0;
        if (e->id == id && e->gen_x == want) return e->k;
    }
}

/* (x, id) -> k, replacing an older order of the same id. At most nfresh inserts per block into a table of
 * >= 2 nfresh + 2 slots: never full. */
static void tab_put(model_t *m, uint8_t x, uint64_t id, uint32_t k)
{
    uint32_t want = m->gen << 8 | x;
    for (uint32_t h = slot_of(m, x, id);; h = (h + 1) & m->mask) {
        hent_t *e = &m->tab[h];
        if (e->gen_x >> 8 != m->gen || (e->id == id && e->gen_x == want)) {
            e->id = id;
            e->k = k;
            e->gen_x = want;
            return;
        }
    }
}

/* ---- live orders by add number: a Fenwick tree per exchange ---- */

static void fw_add(model_t *m, uint8_t x, uint32_t i, int d)
{
    if (!m->fw[x]) m->fw[x] = td_calloc((size_t)m->fw_cap + 1, sizeof(uint32_t));
    m->fw_used[x] = true;
    for (; i <= m->fw_size; i += i & (0u - i)) m->fw[x][i] += (uint32_t)d;
    m->live[x] += (uint32_t)d;
}

/* Live orders of x with add number <= i. */
static uint32_t fw_prefix(const model_t *m, uint8_t x, uint32_t i)
{
    uint32_t r = 0;
    if (!m->fw[x]) return 0;
    for (; i; i -= i & (0u - i)) r += m->fw[x][i];
    return r;
}

/* The add number of the k-th live order of x (k >= 1, ascending), or 0 if there is none. */
static uint32_t fw_kth(const model_t *m, uint8_t x, uint32_t k)
{
    if (!m->fw[x] || k == 0 || k > m->live[x]) return 0;
    uint32_t pos = 0;
    for (uint32_t step = m->fw_size; step; step >>= 1) {
        uint32_t next = pos + step;
        if (next <= m->fw_size && m->fw[x][next] < k) {
            pos = next;
            k -= m->fw[x][next];
        }
    }
    return pos + 1;
}

static void kill_order(model_t *m, uint32_t k)
{
    m->ord[k].live = 0;
    fw_add(m, m->ord[k].x, k, -1);
}

/* Adds an order (ADD, or REPLACE's new order); the encoder also indexes it by id. Beyond the capacity (only a
 * damaged block's decoder can get there: the encoder sizes it by the count) the order is not tracked. */
static void add_order(model_t *m, bool by_id, uint8_t x, uint64_t id, uint64_t px, uint64_t qty, uint8_t side)
{
    m->lastp[x][side & 3] = px;
    m->last_fresh[x] = id;
    if (m->nord >= m->ord_lim) return;
    uint32_t k = ++m->nord;
    ord_t *o = &m->ord[k];
    o->id = id;
    o->px = px;
    o->rem = qty;
    o->x = x;
    o->side = side;
    o->live = 1;
    fw_add(m, x, k, 1);
    if (by_id) tab_put(m, x, id, k);
}

typedef struct pred {
    uint8_t side;
    uint64_t w[4];
} pred_t;

static bool is_ref(uint8_t t)
{
    return t == TD_EV_ORDER_EXEC || t == TD_EV_ORDER_CANCEL || t == TD_EV_ORDER_DELETE || t == TD_EV_ORDER_REPLACE;
}

/* What the model expects of record (t, x). The side prediction comes first; the word predictions of new
 * orders depend on the actual side, so pred_words is called once it is known. e: the referenced order. */
static uint8_t pred_side(const model_t *m, uint8_t t, uint8_t x, const ord_t *e)
{
    if (e) return e->side;
    if (t == TD_SREC_TRADE && m->imp_valid && m->imp_x == x) return m->imp_side;
    return 0;
}

static void pred_words(const model_t *m, uint8_t t, uint8_t x, uint8_t side, const ord_t *e, pred_t *p)
{
    int c = rec_class(t);
    if (c == CL_ORDER) {
        uint64_t base = e ? e->px : m->lastp[x][side & 3];
        p->w[0] = is_ref(t) && m->zero_px[t] ? 0 : base;
        p->w[1] = e && t != TD_EV_ORDER_REPLACE && !m->zero_qty[t] ? e->rem : 0;
        p->w[2] = p->w[3] = 0; /* ids have columns of their own */
        return;
    }
    memcpy(p->w, m->pw[c][x], sizeof p->w);
    if (t == TD_SREC_TRADE && m->imp_valid && m->imp_x == x) {
        p->w[0] = m->imp_px;
        p->w[1] = m->imp_qty;
        p->w[2] = m->imp_id;
    }
}

/* Moves the model past record ev (exchange index x, referenced order number k or 0). */
static void model_update(model_t *m, bool by_id, const td_event_t *ev, uint8_t x, uint32_t k)
{
    ord_t *e = k ? &m->ord[k] : NULL;
    uint8_t t = ev->type;
    int c = rec_class(t);
    uint64_t w[4];
    memcpy(w, &ev->u, sizeof w);
    bool imp = false;
    if (c == CL_ORDER) {
        if (t == TD_EV_ORDER_ADD) {
            add_order(m, by_id, x, w[2], w[0], w[1], ev->side);
        } else {
            uint8_t rside = e ? e->side : ev->side;
            if (t == TD_EV_ORDER_EXEC) {
                imp = true;
                m->imp_side = opposite(rside);
                m->imp_px = w[0] ? w[0] : e ? e->px : 0;
                m->imp_qty = w[1];
                m->imp_id = ev->src_seq;
            }
            if (e) {
                if (t == TD_EV_ORDER_EXEC || t == TD_EV_ORDER_CANCEL) {
                    if (e->rem > w[1]) e->rem -= w[1];
                    else kill_order(m, k);
                } else {
                    kill_order(m, k);
                }
            }
            if (t == TD_EV_ORDER_REPLACE) add_order(m, by_id, x, w[3], w[0], w[1], ev->side);
            m->zero_px[t] = w[0] == 0;
            m->zero_qty[t] = w[1] == 0;
        }
    } else {
        memcpy(m->pw[c][x], w, sizeof w);
        if (t == TD_EV_TRADE) {
            imp = true;
            m->imp_side = ev->side;
            m->imp_px = w[0];
            m->imp_qty = w[1];
            m->imp_id = w[2];
        }
    }
    m->imp_valid = imp;
    m->imp_x = x;
}

/* ---- int columns ---- */

static inline unsigned bitlen(uint64_t u) { return u ? 64u - (unsigned)__builtin_clzll(u) : 0u; }

#define SEG(s, p) ((s)->seg_end[(s)->nseg++] = (uint32_t)((p) - (s)->raw))

/* Writes v[0..m) (overwritten) as an int column and closes its segment(s). */
static uint8_t *put_int(td_blk_scratch_t *s, uint8_t *p, int64_t *v, size_t m)
{
    p = put_varint(p, m);
    uint64_t g = m ? td_col_reduce(v, m) : 1;
    uint64_t bits = 0;
    for (size_t i = 0; i < m; i++) {
        v[i] = (int64_t)zz(v[i]);
        bits += bitlen((uint64_t)v[i]);
    }
    bool expmant = m > 0 && bits >= (uint64_t)EXPMANT_MIN_BITS * m;
    *p++ = expmant;
    p = put_varint(p, g);
    if (!expmant) {
        for (size_t i = 0; i < m; i++) p = put_varint(p, (uint64_t)v[i]);
        SEG(s, p);
        return p;
    }
    for (size_t i = 0; i < m; i++) {
        uint64_t u = (uint64_t)v[i];
        unsigned L = bitlen(u);
        *p++ = (uint8_t)(L < 2 ? L << 1 : L << 1 | ((u >> (L - 2)) & 1));
    }
    SEG(s, p);
    uint64_t acc = 0;
    unsigned nacc = 0;
    for (size_t i = 0; i < m; i++) {
        uint64_t u = (uint64_t)v[i];
        unsigned L = bitlen(u);
        if (L <= 2) continue;
        unsigned nb = L - 2;
        uint64_t low = u & ((1ull << nb) - 1);
        acc |= low << nacc;
        unsigned took = 64 - nacc < nb ? 64 - nacc : nb;
        nacc += took;
        if (nacc == 64) {
            memcpy(p, &acc, 8);
            p += 8;
            acc = took < nb ? low >> took : 0;
            nacc = nb - took;
        }
    }
    while (nacc > 0) {
        *p++ = (uint8_t)acc;
        acc >>= 8;
        nacc = nacc > 8 ? nacc - 8 : 0;
    }
    s->seg_plain |= 1ull << s->nseg;
    SEG(s, p);
    return p;
}

/* Reads an int column of at most max values into v; returns the count (r->bad on any damage). */
static size_t get_int(rd_t *r, int64_t *v, size_t max)
{
    uint64_t m = get_varint(r);
    if (r->bad || m > max || r->p >= r->end) {
        r->bad = true;
        return 0;
    }
    uint8_t coding = *r->p++;
    uint64_t g = get_varint(r);
    if (r->bad || g == 0 || coding > 1) {
        r->bad = true;
        return 0;
    }
    if (coding == 0) {
        for (size_t i = 0; i < m && !r->bad; i++) v[i] = (int64_t)((uint64_t)unzz(get_varint(r)) * g);
        return r->bad ? 0 : (size_t)m;
    }
    if ((uint64_t)(r->end - r->p) < m) {
        r->bad = true;
        return 0;
    }
    const uint8_t *sym = r->p;
    r->p += m;
    uint64_t nbits = 0;
    for (size_t i = 0; i < m; i++) {
        unsigned L = sym[i] >> 1;
        if (L > 64 || (L < 2 && (sym[i] & 1))) {
            r->bad = true;
            return 0;
        }
        if (L > 2) nbits += L - 2;
    }
    uint64_t nbytes = (nbits + 7) / 8;
    if ((uint64_t)(r->end - r->p) < nbytes) {
        r->bad = true;
        return 0;
    }
    const uint8_t *bp = r->p; /* the payload is followed by TD_BLK_RAW_SLACK zero bytes: 8-byte loads are safe */
    r->p += nbytes;
    uint64_t pos = 0; /* bit position in bp */
    for (size_t i = 0; i < m; i++) {
        unsigned L = sym[i] >> 1;
        uint64_t u;
        if (L < 2) {
            u = L;
        } else {
            u = 1ull << (L - 1) | (uint64_t)(sym[i] & 1) << (L - 2);
            unsigned nb = L - 2;
            for (unsigned got = 0; got < nb;) { /* 56 bits at most per load (up to 2 loads for 62) */
                uint64_t w;
                memcpy(&w, bp + (pos >> 3), 8);
                unsigned take = nb - got < 56 ? nb - got : 56;
                u |= ((w >> (pos & 7)) & ((1ull << take) - 1)) << got;
                got += take;
                pos += take;
            }
        }
        v[i] = (int64_t)((uint64_t)unzz(u) * g);
    }
    return (size_t)m;
}

/* ---- encoder ---- */

static inline void col_push(model_t *m, int c, uint64_t v) { m->col[c][m->ncol[c]++] = (int64_t)v; }

int td_blk_encode_ticks(td_blk_scratch_t *s, const char *sym, const td_blk_tick_t *recs, size_t n, int level)
{
    td_blk_info_t h;
    uint8_t map[256];
    int fixed_rc = td_blk_tick_header(s, &h, sym, recs, n, map);
    if (fixed_rc < 0) return fixed_rc;
    size_t fixed = (size_t)fixed_rc;
    h.layout = TD_BLK_LAYOUT2;
    model_t *m = model_get(s, n);
    size_t nfresh = 0;
    for (size_t i = 0; i < n; i++) nfresh += recs[i].ev.type == TD_EV_ORDER_ADD || recs[i].ev.type == TD_EV_ORDER_REPLACE;
    model_orders(m, nfresh, true);

    uint64_t prev_t = (uint64_t)h.min_time, prev_lat = 0, prev_recv = 0, prev_seq = 0;
    uint64_t cost_lat = 0, cost_recv = 0;
    for (size_t i = 0; i < n; i++) {
        const td_event_t *ev = &recs[i].ev;
        uint8_t t = ev->type;
        uint8_t x = map[ev->exch];
        uint8_t xi = x == NO_EXCH ? TD_BLK_MAX_EXCH : x;
        /* the model's columns */
        uint32_t k = 0;
        const ord_t *e = NULL;
        if (is_ref(t)) { /* an order reference (always of class CL_ORDER) */
            k = tab_find(m, xi, ev->u.order.order_id);
            if (k && !m->ord[k].live) k = 0;
            e = k ? &m->ord[k] : NULL;
            if (e) {
                col_push(m, C_REF, m->live[xi] - fw_prefix(m, xi, k - 1));
            } else {
                col_push(m, C_REF, 0);
                col_push(m, C_XID, ev->u.order.order_id - m->last_fresh[xi]);
            }
        }
        uint8_t sres = t == TD_SREC_NBBO ? map[ev->side] : (uint8_t)(ev->side ^ pred_side(m, t, xi, e));
        uint8_t code = t >= 1 && t <= 13 ? t : t == TD_SREC_NBBO ? 14 : t == TD_SREC_TRADE ? 15 : 0;
        if (code && sres < 4 && x < 4) {
            m->ts[i] = (uint8_t)(code << 4 | sres << 2 | x);
        } else {
            m->ts[i] = TS_ESC;
            m->esc[m->esc_n++] = t;
            m->esc[m->esc_n++] = sres;
            m->esc[m->esc_n++] = x;
        }
        pred_t p;
        pred_words(m, t, xi, ev->side, e, &p);
        int d = derived(t) ? C_DPX - C_PX : 0;
        col_push(m, C_PX + d, word(ev, 0) - p.w[0]);
        col_push(m, C_QTY + d, word(ev, 1) - p.w[1]);
        if (rec_class(t) == CL_ORDER) {
            if (t == TD_EV_ORDER_ADD) col_push(m, C_FRESH, word(ev, 2) - (m->last_fresh[xi] + 1));
            if (t == TD_EV_ORDER_REPLACE) col_push(m, C_FRESH, word(ev, 3) - (m->last_fresh[xi] + 1));
            else col_push(m, C_W3, word(ev, 3));
        } else {
            col_push(m, C_W2 + d, word(ev, 2) - p.w[2]);
            col_push(m, C_W3 + d, word(ev, 3) - p.w[3]);
        }
        /* the model-free columns */
        if (derived(t)) {
            col_push(m, C_DSRC, ev->src_seq);
        } else {
            col_push(m, C_SRC, ev->src_seq - (m->prev_src[xi] + 1));
            m->prev_src[xi] = ev->src_seq;
        }
        col_push(m, C_TIME, (uint64_t)ev->exch_ns - prev_t);
        prev_t = (uint64_t)ev->exch_ns;
        uint64_t lat = (uint64_t)ev->recv_ns - (uint64_t)ev->exch_ns;
        uint64_t dl = lat - prev_lat, dr = (uint64_t)ev->recv_ns - prev_recv;
        cost_lat += bitlen(zz((int64_t)dl));
        cost_recv += bitlen(zz((int64_t)dr));
        m->col[C_RECV][i] = (int64_t)dl; /* replaced below if mode 1 wins */
        prev_lat = lat;
        prev_recv = (uint64_t)ev->recv_ns;
        col_push(m, C_SEQ, recs[i].seq - prev_seq - derived(t)); /* a derived record is the next out seq */
        prev_seq = recs[i].seq;
        model_update(m, true, ev, xi, k);
    }
    uint8_t recv_mode = cost_recv < cost_lat;
    m->ncol[C_RECV] = n;
    if (recv_mode) {
        prev_recv = 0;
        for (size_t i = 0; i < n; i++) {
            m->col[C_RECV][i] = (int64_t)((uint64_t)recs[i].ev.recv_ns - prev_recv);
            prev_recv = (uint64_t)recs[i].ev.recv_ns;
        }
    }

    td_blk_ensure((void **)&s->raw, &s->raw_cap, n * 140 + 4096);
    uint8_t *p = s->raw;
    s->nseg = 0;
    s->seg_plain = 0;
    memcpy(p, m->ts, n);
    p += n;
    SEG(s, p);
    p = put_varint(p, m->esc_n);
    memcpy(p, m->esc, m->esc_n);
    p += m->esc_n;
    SEG(s, p);
    for (size_t i = 0; i < n; i++) *p++ = recs[i].ev.flags;
    SEG(s, p);
    for (int c = 0; c < NCOL; c++) {
        if (c == C_RECV) *p++ = recv_mode;
        p = put_int(s, p, m->col[c], m->ncol[c]);
    }
    return td_blk_finish(s, &h, fixed, (size_t)(p - s->raw), level);
}

/* ---- decoder ---- */

static inline bool col_pop(model_t *m, int c, uint64_t *v)
{
    if (m->used[c] >= m->ncol[c]) return false;
    *v = (uint64_t)m->col[c][m->used[c]++];
    return true;
}

static int decode_v2(td_blk_scratch_t *s, const uint8_t *buf, const td_blk_info_t *h, rd_t r, td_blk_tick_t *out)
{
    size_t n = h->count;
    uint32_t sym;
    uint8_t ids[256];
    if (td_blk_tick_names(buf, h, &sym, ids) != TD_OK) return TD_EPROTO;
    model_t *m = model_get(s, n);
    if ((size_t)(r.end - r.p) < n) return TD_EPROTO;
    memcpy(m->ts, r.p, n);
    r.p += n;
    m->esc_n = get_varint(&r);
    if (r.bad || m->esc_n > 3 * n || (size_t)(r.end - r.p) < m->esc_n) return TD_EPROTO;
    memcpy(m->esc, r.p, m->esc_n);
    r.p += m->esc_n;
    if ((size_t)(r.end - r.p) < n) return TD_EPROTO;
    memset(out, 0, n * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        out[i].ev.flags = *r.p++;
        out[i].ev.sym = sym;
    }
    uint8_t recv_mode = 0;
    for (int c = 0; c < NCOL; c++) {
        if (c == C_RECV) {
            if (r.p >= r.end || *r.p > 1) return TD_EPROTO;
            recv_mode = *r.p++;
        }
        m->ncol[c] = get_int(&r, m->col[c], n);
        if (r.bad) return TD_EPROTO;
    }
    if (r.p != r.end) return TD_EPROTO;
    if (m->ncol[C_TIME] != n || m->ncol[C_RECV] != n || m->ncol[C_SEQ] != n) return TD_EPROTO;
    model_orders(m, m->ncol[C_FRESH], false); /* every new order takes a FRESH value */

    uint64_t prev_t = (uint64_t)h->min_time, prev_recv = 0, prev_lat = 0, prev_seq = 0;
    for (size_t i = 0; i < n; i++) {
        td_event_t *ev = &out[i].ev;
        uint8_t t, sres, x;
        if (m->ts[i] == TS_ESC) {
            if (m->esc_used + 3 > m->esc_n) return TD_EPROTO;
            t = m->esc[m->esc_used++];
            sres = m->esc[m->esc_used++];
            x = m->esc[m->esc_used++];
        } else {
            static const uint8_t type_of[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, TD_SREC_NBBO,
                                                 TD_SREC_TRADE };
            t = m->ts[i] >> 4;
            if (t == 0) return TD_EPROTO; /* only 0 itself escapes */
            t = type_of[t];
            sres = (m->ts[i] >> 2) & 3;
            x = m->ts[i] & 3;
        }
        if (x != NO_EXCH && x >= h->nexch) return TD_EPROTO;
        ev->type = t;
        ev->exch = x; /* the table index until the end */
        uint8_t xi = x == NO_EXCH ? TD_BLK_MAX_EXCH : x;
        int c = rec_class(t);
        uint32_t k = 0;
        const ord_t *e = NULL;
        uint64_t v = 0;
        if (is_ref(t)) {
            if (!col_pop(m, C_REF, &v)) return TD_EPROTO;
            if (v) {
                if (v > m->live[xi]) return TD_EPROTO;
                k = fw_kth(m, xi, m->live[xi] - (uint32_t)v + 1);
                if (!k || k > m->nord || !m->ord[k].live || m->ord[k].x != xi) return TD_EPROTO;
                e = &m->ord[k];
                ev->u.order.order_id = e->id;
            } else {
                if (!col_pop(m, C_XID, &v)) return TD_EPROTO;
                ev->u.order.order_id = v + m->last_fresh[xi];
            }
        }
        if (t == TD_SREC_NBBO) {
            if (sres != NO_EXCH && sres >= h->nexch) return TD_EPROTO;
            ev->side = sres == NO_EXCH ? 0 : ids[sres];
        } else {
            ev->side = (uint8_t)(sres ^ pred_side(m, t, xi, e));
        }
        pred_t p;
        pred_words(m, t, xi, ev->side, e, &p);
        int d = derived(t) ? C_DPX - C_PX : 0;
        if (!col_pop(m, C_PX + d, &v)) return TD_EPROTO;
        set_word(ev, 0, v + p.w[0]);
        if (!col_pop(m, C_QTY + d, &v)) return TD_EPROTO;
        set_word(ev, 1, v + p.w[1]);
        if (c == CL_ORDER) {
            if (t == TD_EV_ORDER_ADD) {
                if (!col_pop(m, C_FRESH, &v)) return TD_EPROTO;
                set_word(ev, 2, v + m->last_fresh[xi] + 1);
            }
            if (t == TD_EV_ORDER_REPLACE) {
                if (!col_pop(m, C_FRESH, &v)) return TD_EPROTO;
                set_word(ev, 3, v + m->last_fresh[xi] + 1);
            } else {
                if (!col_pop(m, C_W3, &v)) return TD_EPROTO;
                set_word(ev, 3, v);
            }
        } else {
            if (!col_pop(m, C_W2 + d, &v)) return TD_EPROTO;
            set_word(ev, 2, v + p.w[2]);
            if (!col_pop(m, C_W3 + d, &v)) return TD_EPROTO;
            set_word(ev, 3, v + p.w[3]);
        }
        if (!col_pop(m, derived(t) ? C_DSRC : C_SRC, &v)) return TD_EPROTO;
        if (derived(t)) {
            ev->src_seq = v;
        } else {
            ev->src_seq = v + m->prev_src[xi] + 1;
            m->prev_src[xi] = ev->src_seq;
        }
        col_pop(m, C_TIME, &v);
        prev_t += v;
        ev->exch_ns = (int64_t)prev_t;
        col_pop(m, C_RECV, &v);
        if (recv_mode) {
            prev_recv += v;
            ev->recv_ns = (int64_t)prev_recv;
        } else {
            prev_lat += v;
            ev->recv_ns = (int64_t)(prev_t + prev_lat);
        }
        col_pop(m, C_SEQ, &v);
        prev_seq += v + derived(t);
        out[i].seq = prev_seq;
        model_update(m, false, ev, xi, k);
    }
    for (int c = 0; c < NCOL; c++)
        if (m->used[c] != m->ncol[c]) return TD_EPROTO;
    if (m->esc_used != m->esc_n) return TD_EPROTO;
    for (size_t i = 0; i < n; i++) {
        uint8_t x = out[i].ev.exch;
        out[i].ev.exch = x == NO_EXCH ? 0 : ids[x];
    }
    if (td_blk_tick_check_range(h, out, n) != TD_OK) return TD_EPROTO;
    return (int)n;
}

int td_blk_decode_ticks(td_blk_scratch_t *s, const uint8_t *buf, size_t len, td_blk_tick_t *out, size_t max)
{
    td_blk_info_t h;
    rd_t r;
    if (td_blk_open_payload(s, buf, len, TD_BLK_TICKS, &h, &r) != TD_OK) return TD_EPROTO;
    if (h.count > max) return TD_ENOBUFS;
    return h.layout == TD_BLK_LAYOUT2 ? decode_v2(s, buf, &h, r, out) : td_blk_decode_ticks_v1(s, buf, &h, r, out);
}
