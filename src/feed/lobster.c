/*
 * lobster.c: LOBSTER message/orderbook line parsers, the US/Eastern clock, the mapping to td_event_t and
 * the mmap file source.
 *
 * Parsers: picohttpparser's contract (bytes consumed through the newline, TD_EAGAIN for an incomplete
 * last line, TD_EPROTO for a malformed one). They validate everything the later stages rely on, so a
 * parsed message always maps to an event and a parsed row always is a well-formed book (sorted sides,
 * sentinels only at the end). Times are read as decimal strings into exact ns: "34200.18960767" (LOBSTER
 * drops trailing zeros) is 34200189607670 ns. Through a double, (int64_t)(34200.372779672 * 1e9) is
 * 34200372779671: 636 of AMZN_1's 57,515 times come out 1 ns early that way.
 *
 * Source and seeding: "Row i of the orderbook file is the state of the book AFTER message i", so there is
 * no row for the state before message 1. Seeding from row 1 and then applying message 1 would apply it
 * twice; skipping message 1 would lose its event (a trade, an order the engine must know). Instead the
 * source reconstructs the state BEFORE message 1 exactly, by un-applying message 1 from row 1:
 *   add of S at P         -> level P had S less (the level disappears if that leaves 0);
 *   cancel/delete/exec of order X for S at P -> level P had S more, and X itself is seeded under its real
 *                            id with S at the front of P's queue so message 1 finds it (if X had more
 *                            than S left, the rest is inside the synthetic liquidity of P);
 *   hidden/cross trade, status               -> no book change.
 * That pre-state is sent as TD_EV_BOOK_CLEAR, one TD_EVF_SNAPSHOT order add per level (synthetic ids
 * TD_LOBSTER_SYNTH_ID_BASE + k, disjoint from real ids which the parser caps below 2^63), TD_EV_RESYNC;
 * then message 1 is emitted as usual and the book equals row 1. If message 1 is malformed it is skipped
 * and row 1 is the pre-state of message 2, so it is seeded as is. Levels deeper than the file's N are
 * unknown to LOBSTER and therefore to us.
 *
 * Reconcile mode (orderbook file given, reconcile=1, the default): a level-N message file omits every
 * message below the top N, so a book fed only messages drifts: orders from before 09:30 are cancelled by
 * ids it never saw (the engine counts them as unknown and changes nothing), levels that rise into view
 * carry quantity nobody announced, orders cancelled out of view linger. The source therefore mirrors the
 * consumer's book (a td_obook_t fed exactly the events it emits, with the same unknown-id behaviour) and,
 * after message i, compares it with row i on the prices row i covers (at or better than its N-th level;
 * the whole side when it shows fewer). Differences become ordinary events with src_seq i: ORDER_ADD of a
 * synthetic id for missing quantity, ORDER_CANCEL/ORDER_DELETE for surplus (synthetic orders first, then
 * real ones oldest first: which real order vanished out of view is unknowable, the total is what the file
 * states; oldest-first leaves fewer later reductions of already-cut ids than newest-first on every sample,
 * e.g. 7882 vs 8120 unknown-id reductions on AMZN_1, against 7467 in the file itself). The consumer's top N then equals the file after every message; deeper levels are
 * left alone. This copies the file by design: it is a feed, not a proof. td_lobster_verify() opens the
 * source with reconcile=0 and does the principled reconstruction instead (lobster_verify.c).
 *
 * Bad rows are counted in stats.bad, logged (rate-limited) as file:line, skipped; never fatal.
 *
 * Threading: parsers and converters are pure. A source belongs to its runner thread; stats are atomics.
 */
#include "feed/lobster.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "book/book.h"
#include "core/clock.h"
#include "core/common.h"
#include "core/decimal.h"
#include "core/log.h"
#include "core/symbols.h"

#define NS_PER_SEC 1000000000LL

/* ---- field parsers ---- */

/* A signed decimal integer filling [s, e) exactly: optional '-', 1..18 digits (LOBSTER's widest value,
 * the 10-digit sentinel, fits with room; 18 digits cannot overflow int64). */
static int parse_i64(const char *s, const char *e, int64_t *out)
{
    int neg = 0;
    if (s < e && *s == '-') { neg = 1; s++; }
    if (s >= e || e - s > 18) return TD_EPROTO;
    int64_t v = 0;
    for (; s < e; s++) {
        unsigned dgt = (unsigned char)*s - '0';
        if (dgt > 9) return TD_EPROTO;
        v = v * 10 + (int64_t)dgt;
    }
    *out = neg ? -v : v;
    return TD_OK;
}

/* Unsigned, up to 19 digits, capped at TD_LOBSTER_MAX_ORDER_ID (the synthetic id space starts above). */
static int parse_order_id(const char *s, const char *e, uint64_t *out)
{
    if (s >= e || e - s > 19) return TD_EPROTO;
    uint64_t v = 0;
    for (; s < e; s++) {
        unsigned dgt = (unsigned char)*s - '0';
        if (dgt > 9) return TD_EPROTO;
        v = v * 10 + dgt; /* 19 digits < 1e19 < 2^64: no wrap */
    }
    if (v > TD_LOBSTER_MAX_ORDER_ID) return TD_EPROTO;
    *out = v;
    return TD_OK;
}

int td_lobster_parse_time(const char *s, size_t len, int64_t *ns)
{
    const char *e = s + len, *p = s;
    int64_t secs = 0, frac = 0;
    int nint = 0, nfrac = 0;
    for (; p < e && *p != '.'; p++, nint++) {
        unsigned dgt = (unsigned char)*p - '0';
        if (dgt > 9 || nint >= 9) return TD_EPROTO; /* 9 digits of seconds: 31 years, no overflow in ns */
        secs = secs * 10 + (int64_t)dgt;
    }
    if (nint == 0) return TD_EPROTO;
    int round_up = 0;
    if (p < e) { /* '.' then 1..18 digits */
        for (p++; p < e; p++, nfrac++) {
            unsigned dgt = (unsigned char)*p - '0';
            if (dgt > 9 || nfrac >= 18) return TD_EPROTO;
            if (nfrac < 9) frac = frac * 10 + (int64_t)dgt;
            else if (nfrac == 9) round_up = dgt >= 5;
        }
        if (nfrac == 0) return TD_EPROTO;
    }
    for (int i = nfrac; i < 9; i++) frac *= 10;
    /* LOBSTER's writer sometimes prints binary-float noise below 1 ns ("43002.632812672004", AMZN level-5
     * sample line 67823): such digits are rounded half up to the nearest ns, in integers */
    *ns = secs * NS_PER_SEC + frac + round_up;
    return TD_OK;
}

/* Finds the end of the line starting at buf: sets *content_end (before "\r\n" or "\n") and returns the
 * bytes through the newline, TD_EAGAIN if none within len, TD_EPROTO if none within cap bytes. */
static long line_end(const char *buf, size_t len, size_t cap, const char **content_end)
{
    size_t scan = len < cap ? len : cap;
    const char *nl = memchr(buf, '\n', scan);
    if (!nl) return len >= cap ? TD_EPROTO : TD_EAGAIN;
    const char *end = nl;
    if (end > buf && end[-1] == '\r') end--;
    *content_end = end;
    return (long)(nl - buf) + 1;
}

int td_lobster_parse_msg(const char *buf, size_t len, td_lobster_msg_t *out)
{
    const char *end;
    long consumed = line_end(buf, len, TD_LOBSTER_MAX_MSG_LINE, &end);
    if (consumed < 0) return (int)consumed;
    const char *f[7];
    int nf = 0;
    f[nf++] = buf;
    for (const char *p = buf; p < end; p++) {
        if (*p == ',') {
            if (nf == 6) return TD_EPROTO; /* a seventh column */
            f[nf++] = p + 1;
        }
    }
    if (nf != 6) return TD_EPROTO;
    f[6] = end + 1; /* every field i is [f[i], f[i+1] - 1) */
    int64_t type, dir;
    if (td_lobster_parse_time(f[0], (size_t)(f[1] - 1 - f[0]), &out->time_ns) != TD_OK) return TD_EPROTO;
    if (parse_i64(f[1], f[2] - 1, &type) != TD_OK || type < 1 || type > 7) return TD_EPROTO;
    if (parse_order_id(f[2], f[3] - 1, &out->order_id) != TD_OK) return TD_EPROTO;
    if (parse_i64(f[3], f[4] - 1, &out->size) != TD_OK) return TD_EPROTO;
    if (parse_i64(f[4], f[5] - 1, &out->price) != TD_OK) return TD_EPROTO;
    if (parse_i64(f[5], f[6] - 1, &dir) != TD_OK || (dir != 1 && dir != -1)) return TD_EPROTO;
    out->type = (int8_t)type;
    out->direction = (int8_t)dir;
    if (type == TD_LOBSTER_HALT) {
        if (out->price < -1 || out->price > 1 || out->size < 0) return TD_EPROTO;
    } else if (out->size <= 0 || out->price <= 0) {
        return TD_EPROTO;
    }
    return (int)consumed;
}

/* Checks one level against the side so far; sentinels end a side. */
static int add_level(td_lobster_level_t *lv, uint32_t *n, int *ended, int64_t px, int64_t sz, int is_ask)
{
    if (px == (is_ask ? TD_LOBSTER_EMPTY_ASK : TD_LOBSTER_EMPTY_BID)) {
        if (sz != 0) return TD_EPROTO;
        *ended = 1;
        return TD_OK;
    }
    if (*ended || px <= 0 || sz <= 0 || px >= TD_LOBSTER_EMPTY_ASK) return TD_EPROTO;
    if (*n > 0 && (is_ask ? px <= lv[*n - 1].price : px >= lv[*n - 1].price)) return TD_EPROTO;
    lv[*n].price = px;
    lv[*n].size = sz;
    (*n)++;
    return TD_OK;
}

int td_lobster_parse_row(const char *buf, size_t len, size_t max_levels, td_lobster_row_t *out)
{
    if (max_levels > TD_LOBSTER_MAX_LEVELS) max_levels = TD_LOBSTER_MAX_LEVELS;
    /* 4 columns of at most 19 bytes plus commas per level: anything longer is not a row of ours */
    const char *end;
    long consumed = line_end(buf, len, max_levels * 80 + 2, &end);
    if (consumed < 0) return (int)consumed;
    out->nask = out->nbid = 0;
    int ask_end = 0, bid_end = 0;
    int64_t v[4];
    size_t col = 0;
    const char *p = buf;
    for (;;) {
        const char *q = p;
        while (q < end && *q != ',') q++;
        if (col >= max_levels * 4) return TD_EPROTO;
        if (parse_i64(p, q, &v[col % 4]) != TD_OK) return TD_EPROTO;
        col++;
        if (col % 4 == 0) {
            if (add_level(out->ask, &out->nask, &ask_end, v[0], v[1], 1) != TD_OK) return TD_EPROTO;
            if (add_level(out->bid, &out->nbid, &bid_end, v[2], v[3], 0) != TD_OK) return TD_EPROTO;
        }
        if (q >= end) break;
        p = q + 1;
    }
    if (col % 4 != 0) return TD_EPROTO;
    out->nlevels = (uint32_t)(col / 4);
    return (int)consumed;
}

/* ---- US/Eastern time ---- */

static int weekday(int y, int m, int d) /* 0 = Sunday */
{
    int64_t w = (td_days_from_civil(y, m, d) + 4) % 7; /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 7 : w);
}

static int nth_sunday(int y, int m, int nth) { return 1 + (7 - weekday(y, m, 1)) % 7 + 7 * (nth - 1); }

int td_us_eastern_is_dst(int y, int m, int d, int local_sec)
{
    int sm, sd, em, ed;
    if (y >= 2007) { /* Energy Policy Act of 2005 */
        sm = 3, sd = nth_sunday(y, 3, 2), em = 11, ed = nth_sunday(y, 11, 1);
    } else if (y >= 1987) {
        sm = 4, sd = nth_sunday(y, 4, 1), em = 10, ed = 31 - weekday(y, 10, 31);
    } else {
        return 0;
    }
    const int two_am = 2 * 3600;
    int md = m * 100 + d, start = sm * 100 + sd, stop = em * 100 + ed;
    if (md < start || md > stop) return 0;
    if (md == start) return local_sec >= two_am;
    if (md == stop) return local_sec < two_am;
    return 1;
}

int64_t td_us_eastern_midnight_utc_ns(int y, int m, int d)
{
    int64_t offset_h = td_us_eastern_is_dst(y, m, d, 0) ? 4 : 5; /* EDT = UTC-4, EST = UTC-5 */
    return (td_days_from_civil(y, m, d) * 86400 + offset_h * 3600) * NS_PER_SEC;
}

/* ---- mapping ---- */

int td_lobster_name_info(const char *path, char *ticker, size_t ticker_len, int *y, int *m, int *d)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *us = strchr(base, '_');
    if (!us || us == base || (size_t)(us - base) >= ticker_len) return TD_EINVAL;
    const char *ds = us + 1;
    if (strlen(ds) < 10 || ds[4] != '-' || ds[7] != '-' || (ds[10] != '_' && ds[10] != '\0'))
        return TD_EINVAL;
    int v[3] = { 0, 0, 0 };
    const int at[3] = { 0, 5, 8 }, width[3] = { 4, 2, 2 };
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < width[i]; k++) {
            unsigned dgt = (unsigned char)ds[at[i] + k] - '0';
            if (dgt > 9) return TD_EINVAL;
            v[i] = v[i] * 10 + (int)dgt;
        }
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31) return TD_EINVAL;
    memcpy(ticker, base, (size_t)(us - base));
    ticker[us - base] = '\0';
    *y = v[0], *m = v[1], *d = v[2];
    return TD_OK;
}

int td_lobster_to_event(const td_lobster_msg_t *msg, const td_lobster_ctx_t *ctx, uint64_t row,
                        td_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->sym = ctx->sym;
    ev->exch = ctx->exch;
    ev->src_seq = row;
    ev->exch_ns = ctx->day_utc_ns + msg->time_ns;
    int resting = msg->direction == 1 ? TD_BID : TD_ASK;
    int aggressor = resting == TD_BID ? TD_ASK : TD_BID;
    if (msg->type == TD_LOBSTER_HALT) {
        static const struct { uint32_t state; char code; } st[3] = {
            { TD_STATE_HALTED, 'H' }, { TD_STATE_QUOTATION, 'Q' }, { TD_STATE_TRADING, 'T' } };
        ev->type = TD_EV_STATUS;
        ev->side = TD_SIDE_NONE;
        ev->u.status.state = st[msg->price + 1].state;
        ev->u.status.reason[0] = st[msg->price + 1].code;
        return TD_OK;
    }
    int64_t px, qty;
    if (td_dec_from_scaled(msg->price, 4, &px) != TD_OK || td_dec_from_int(msg->size, &qty) != TD_OK)
        return TD_ERANGE;
    switch (msg->type) {
    case TD_LOBSTER_ADD:    ev->type = TD_EV_ORDER_ADD; break;
    case TD_LOBSTER_CANCEL: ev->type = TD_EV_ORDER_CANCEL; break;
    case TD_LOBSTER_DELETE: ev->type = TD_EV_ORDER_DELETE; break;
    case TD_LOBSTER_EXEC:   ev->type = TD_EV_ORDER_EXEC; break;
    case TD_LOBSTER_HIDDEN:
        ev->type = TD_EV_TRADE, ev->side = (uint8_t)aggressor, ev->flags = TD_EVF_HIDDEN;
        ev->u.trade.price = px, ev->u.trade.qty = qty;
        return TD_OK;
    case TD_LOBSTER_CROSS:
        ev->type = TD_EV_TRADE, ev->side = TD_SIDE_NONE, ev->flags = TD_EVF_CROSS;
        ev->u.trade.price = px, ev->u.trade.qty = qty;
        return TD_OK;
    default:
        return TD_EINVAL; /* unreachable for parsed messages */
    }
    /* order events: side is the resting order's side; an execution's aggressor is the other one */
    ev->side = (uint8_t)resting;
    ev->u.order.order_id = msg->order_id;
    ev->u.order.price = px;
    ev->u.order.qty = qty;
    return TD_OK;
}

/* ---- the file source ---- */

typedef struct lobster_src {
    td_source_t base;
    const char *msg;       /* mmap of the message file (NULL when empty) */
    size_t msg_len, pos;
    uint64_t line;         /* 1-based number of the last message line read */
    td_lobster_ctx_t ctx;
    td_event_t *q;         /* events waiting to be returned: the seed, then (reconcile) per-row groups */
    size_t qn, qpos, qcap;
    uint64_t next_synth;   /* last synthetic order id handed out */
    /* reconcile mode (orderbook file given, reconcile=1): the engine's book, mirrored */
    int reconcile;
    const char *book;      /* mmap of the orderbook file */
    size_t book_len, book_pos;
    uint64_t book_rows;    /* rows read */
    td_obook_t *mirror;
    td_lobster_row_t *row;
    td_lobster_level_t *diff; /* scratch: (price, delta) per level to correct */
    size_t diff_cap;
    uint64_t fixes_add, fixes_cut, fixes_rows;
    uint64_t unknown_ids;  /* reductions of ids the consumer's book does not hold (it ignores them) */
    char path[256];
} lobster_src_t;

static int map_file(const char *path, const char **data, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "lobster: cannot open %s: %s", path, strerror(errno));
        return TD_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "lobster: cannot stat %s: %s", path, strerror(errno));
        close(fd);
        return TD_EIO;
    }
    *len = (size_t)st.st_size;
    *data = NULL;
    if (*len > 0) {
        void *p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            snprintf(err, errlen, "lobster: cannot mmap %s: %s", path, strerror(errno));
            close(fd);
            return TD_EIO;
        }
        madvise(p, *len, MADV_SEQUENTIAL);
        *data = p;
    }
    close(fd);
    return TD_OK;
}

static void unmap_file(const char *data, size_t len)
{
    if (data) munmap((void *)data, len);
}

/* Parses the line at buf; a final line without a newline is parsed from a copy with one appended. */
static int parse_msg_at(const char *buf, size_t len, td_lobster_msg_t *m, size_t *consumed)
{
    int rc = td_lobster_parse_msg(buf, len, m);
    if (rc == TD_EAGAIN) {
        char tmp[TD_LOBSTER_MAX_MSG_LINE + 1];
        memcpy(tmp, buf, len); /* len < TD_LOBSTER_MAX_MSG_LINE, else rc would be TD_EPROTO */
        tmp[len] = '\n';
        rc = td_lobster_parse_msg(tmp, len + 1, m);
        *consumed = len;
        return rc < 0 ? rc : TD_OK;
    }
    if (rc >= 0) {
        *consumed = (size_t)rc;
        return TD_OK;
    }
    const char *nl = memchr(buf, '\n', len);
    *consumed = nl ? (size_t)(nl - buf) + 1 : len;
    return rc;
}

static int parse_row_at(const char *buf, size_t len, td_lobster_row_t *row, size_t *consumed)
{
    int rc = td_lobster_parse_row(buf, len, TD_LOBSTER_MAX_LEVELS, row);
    if (rc == TD_EAGAIN) {
        char *tmp = td_malloc(len + 1);
        memcpy(tmp, buf, len);
        tmp[len] = '\n';
        rc = td_lobster_parse_row(tmp, len + 1, TD_LOBSTER_MAX_LEVELS, row);
        td_free(tmp);
        *consumed = len;
        return rc < 0 ? rc : TD_OK;
    }
    if (rc >= 0) {
        *consumed = (size_t)rc;
        return TD_OK;
    }
    const char *nl = memchr(buf, '\n', len);
    *consumed = nl ? (size_t)(nl - buf) + 1 : len;
    return rc;
}

/* The engine's view of an event, applied to the mirror (errors are the engine's too: unknown ids). */
static int mirror_apply(td_obook_t *b, const td_event_t *ev)
{
    td_order_info_t info;
    switch (ev->type) {
    case TD_EV_BOOK_CLEAR: td_obook_clear(b); return TD_OK;
    case TD_EV_ORDER_ADD: return td_obook_add(b, ev->u.order.order_id, ev->side, ev->u.order.price, ev->u.order.qty);
    case TD_EV_ORDER_EXEC: return td_obook_exec(b, ev->u.order.order_id, ev->u.order.qty, &info);
    case TD_EV_ORDER_CANCEL: return td_obook_cancel(b, ev->u.order.order_id, ev->u.order.qty, &info);
    case TD_EV_ORDER_DELETE: return td_obook_delete(b, ev->u.order.order_id, &info);
    default: return TD_OK;
    }
}

/* Appends an event to the queue (and to the mirror in reconcile mode); returns it for filling. */
static void q_push(lobster_src_t *s, const td_event_t *ev)
{
    if (s->qpos > 0 && s->qpos == s->qn) s->qpos = s->qn = 0; /* drained: reuse from the start */
    if (s->qn == s->qcap) {
        s->qcap = s->qcap ? s->qcap * 2 : 64;
        s->q = td_realloc(s->q, s->qcap * sizeof *s->q);
    }
    s->q[s->qn++] = *ev;
    if (s->mirror && mirror_apply(s->mirror, ev) == TD_ENOENT) s->unknown_ids++;
}

static td_event_t order_event(const lobster_src_t *s, int type, int side, uint64_t id, int64_t px, int64_t qty,
                              int64_t t, uint64_t seq, int flags)
{
    td_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = (uint8_t)type;
    ev.side = (uint8_t)side;
    ev.flags = (uint8_t)flags;
    ev.sym = s->ctx.sym;
    ev.exch = s->ctx.exch;
    ev.src_seq = seq;
    ev.exch_ns = t;
    ev.u.order.order_id = id;
    ev.u.order.price = px;
    ev.u.order.qty = qty;
    return ev;
}

/* Removes qty from the mirror's level (side, price): synthetic orders first, then real ones oldest first
 * (which real orders vanished unobserved is unknowable; the level total is what LOBSTER shows). Cancels
 * what it trims, deletes what it empties. */
static void cut_level(lobster_src_t *s, int side, int64_t price, int64_t qty, int64_t t, uint64_t seq)
{
    td_level_t lv;
    if (td_lbook_get(td_obook_levels(s->mirror), side, price, &lv) != TD_OK || lv.count == 0) return;
    td_order_info_t *o = td_malloc(lv.count * sizeof *o);
    size_t n = td_obook_orders_at(s->mirror, side, price, o, lv.count);
    for (int pass = 0; pass < 2 && qty > 0; pass++) {
        for (size_t i = 0; i < n && qty > 0; i++) {
            int synth = o[i].order_id >= TD_LOBSTER_SYNTH_ID_BASE;
            if (synth != (pass == 0) || o[i].qty == 0) continue;
            int64_t take = o[i].qty < qty ? o[i].qty : qty;
            td_event_t ev = order_event(s, take == o[i].qty ? TD_EV_ORDER_DELETE : TD_EV_ORDER_CANCEL, side,
                                        o[i].order_id, price, take, t, seq, 0);
            q_push(s, &ev);
            o[i].qty -= take;
            qty -= take;
            s->fixes_cut++;
        }
    }
    td_free(o);
}

static void diff_push(lobster_src_t *s, size_t *n, int64_t price, int64_t delta)
{
    if (*n == s->diff_cap) {
        s->diff_cap = s->diff_cap ? s->diff_cap * 2 : 64;
        s->diff = td_realloc(s->diff, s->diff_cap * sizeof *s->diff);
    }
    s->diff[*n].price = price;
    s->diff[*n].size = delta;
    (*n)++;
}

/* Reconcile mode: reads row `seq` and queues the events that make the mirrored (= engine) book equal to it
 * on every price the row covers: each level at or better than the row's N-th on a side showing N levels,
 * the whole side otherwise. Deeper levels are left as they are: LOBSTER says nothing about them. */
static void reconcile_row(lobster_src_t *s, uint64_t seq, int64_t t)
{
    if (s->book_pos >= s->book_len) {
        if (s->book_rows++ == s->line - 1) /* only the first time: book_rows runs on past line - 1 */
            td_log_warn("lobster", "%s: orderbook file ends at row %llu; no longer reconciling", s->path,
                        (unsigned long long)(s->line - 1));
        return;
    }
    size_t used;
    int rc = parse_row_at(s->book + s->book_pos, s->book_len - s->book_pos, s->row, &used);
    s->book_pos += used;
    s->book_rows++;
    if (rc != TD_OK) {
        atomic_fetch_add_explicit(&s->base.stats.bad, 1, memory_order_relaxed);
        TD_LOG_RATELIMITED(TD_LOG_WARN, "lobster", 5, "%s: orderbook row %llu malformed; not reconciled",
                           s->path, (unsigned long long)seq);
        return;
    }
    int fixed = 0;
    for (int side = TD_BID; side <= TD_ASK; side++) {
        const td_lobster_level_t *want = side == TD_BID ? s->row->bid : s->row->ask;
        uint32_t nwant = side == TD_BID ? s->row->nbid : s->row->nask;
        int bounded = nwant == s->row->nlevels;
        int64_t bound = 0, px, sz;
        if (bounded && td_dec_from_scaled(want[nwant - 1].price, 4, &bound) != TD_OK) return;
        size_t nd = 0;
        uint32_t k = 0;
        td_lbook_iter_t it;
        td_level_t have;
        td_lbook_iter_init(&it, td_obook_levels(s->mirror), side);
        int more = td_lbook_iter_next(&it, &have);
        for (;;) { /* merge the two best-first lists */
            int in_region = more && !(bounded && (side == TD_BID ? have.price < bound : have.price > bound));
            if (k < nwant) {
                if (td_dec_from_scaled(want[k].price, 4, &px) != TD_OK || td_dec_from_int(want[k].size, &sz) != TD_OK)
                    return;
            }
            if (!in_region && k >= nwant) break;
            if (in_region && (k >= nwant || (side == TD_BID ? have.price > px : have.price < px))) {
                diff_push(s, &nd, have.price, -have.qty); /* a level the row does not show */
                more = td_lbook_iter_next(&it, &have);
            } else if (in_region && have.price == px) {
                if (have.qty != sz) diff_push(s, &nd, px, sz - have.qty);
                more = td_lbook_iter_next(&it, &have);
                k++;
            } else {
                diff_push(s, &nd, px, sz); /* a level we do not have */
                k++;
            }
        }
        for (size_t i = 0; i < nd; i++) {
            if (s->diff[i].size > 0) {
                td_event_t ev = order_event(s, TD_EV_ORDER_ADD, side, ++s->next_synth, s->diff[i].price,
                                            s->diff[i].size, t, seq, 0);
                q_push(s, &ev);
                s->fixes_add++;
            } else {
                cut_level(s, side, s->diff[i].price, -s->diff[i].size, t, seq);
            }
        }
        fixed |= nd > 0;
    }
    s->fixes_rows += fixed;
}

static int src_next(td_source_t *base, td_event_t *out, size_t max)
{
    lobster_src_t *s = (lobster_src_t *)base;
    size_t n = 0, produced = 0, bad = 0, lines = 0, bytes = 0;
    for (;;) {
        while (n < max && s->qpos < s->qn) {
            out[n++] = s->q[s->qpos++];
            produced++;
        }
        if (n == max || s->pos >= s->msg_len) break;
        td_lobster_msg_t m;
        td_event_t ev;
        size_t used;
        int rc = parse_msg_at(s->msg + s->pos, s->msg_len - s->pos, &m, &used);
        s->pos += used;
        s->line++;
        lines++;
        bytes += used;
        if (rc == TD_OK) rc = td_lobster_to_event(&m, &s->ctx, s->line, &ev);
        if (rc != TD_OK) {
            bad++;
            TD_LOG_RATELIMITED(TD_LOG_WARN, "lobster", 5, "%s:%llu: malformed message row skipped (%s)",
                               s->path, (unsigned long long)s->line, td_strerror(rc));
        } else if (!s->mirror && n < max) {
            out[n++] = ev; /* the common path: no queue */
            produced++;
        } else {
            q_push(s, &ev);
        }
        /* row i is the book after message i, whether or not message i was readable */
        if (s->mirror) reconcile_row(s, s->line, rc == TD_OK ? ev.exch_ns : s->ctx.day_utc_ns);
    }
    atomic_fetch_add_explicit(&s->base.stats.messages, lines, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->base.stats.events, produced, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->base.stats.bad, bad, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->base.stats.bytes, bytes, memory_order_relaxed);
    if (n == 0 && s->pos >= s->msg_len) {
        if (s->mirror && s->fixes_rows != UINT64_MAX) {
            td_log_info("lobster", "%s: %llu rows, %llu needed corrections (%llu synthetic adds, %llu cuts) to "
                        "match the orderbook file; %llu reductions of unknown order ids",
                        s->path, (unsigned long long)s->line, (unsigned long long)s->fixes_rows,
                        (unsigned long long)s->fixes_add, (unsigned long long)s->fixes_cut,
                        (unsigned long long)s->unknown_ids);
            s->fixes_rows = UINT64_MAX; /* log once */
        }
        return TD_EOF;
    }
    return (int)n;
}

static void src_destroy(td_source_t *base)
{
    lobster_src_t *s = (lobster_src_t *)base;
    unmap_file(s->msg, s->msg_len);
    unmap_file(s->book, s->book_len);
    td_obook_destroy(s->mirror);
    td_free(s->row);
    td_free(s->diff);
    td_free(s->q);
    td_free(s);
}

/* One side of the pre-state under construction, best first. */
typedef struct seed_side {
    td_lobster_level_t lv[TD_LOBSTER_MAX_LEVELS + 1];
    uint32_t n;
} seed_side_t;

static void seed_add(lobster_src_t *s, int64_t t, int side, uint64_t id, int64_t px, int64_t size)
{
    int64_t price, qty;
    /* the parser bounds prices below 1e10 (fits the 1e8 scale) but not sizes */
    if (td_dec_from_scaled(px, 4, &price) != TD_OK || td_dec_from_int(size, &qty) != TD_OK) {
        td_log_warn("lobster", "%s: seed level out of range skipped", s->path);
        return;
    }
    td_event_t ev = order_event(s, TD_EV_ORDER_ADD, side, id, price, qty, t, 0, TD_EVF_SNAPSHOT);
    q_push(s, &ev);
}

/* Queues the snapshot of the book before message 1, built from orderbook row 1 and message 1 (see the
 * top). Leaves the orderbook file mapped at row 1, which reconcile mode checks again after message 1. */
static int build_seed(lobster_src_t *s, const char *book_path, char *err, size_t errlen)
{
    size_t used;
    int rc = map_file(book_path, &s->book, &s->book_len, err, errlen);
    if (rc != TD_OK) return rc;
    s->row = td_malloc(sizeof *s->row);
    td_lobster_row_t *row = s->row;
    seed_side_t *sides = td_malloc(2 * sizeof *sides);
    if (s->book_len == 0 || parse_row_at(s->book, s->book_len, row, &used) != TD_OK) {
        snprintf(err, errlen, "lobster: %s: row 1 is missing or malformed", book_path);
        rc = TD_EPROTO;
        goto out;
    }
    /* book_pos stays 0: row 1 is also the row message 1 is reconciled against */
    sides[TD_BID].n = row->nbid;
    memcpy(sides[TD_BID].lv, row->bid, row->nbid * sizeof row->bid[0]);
    sides[TD_ASK].n = row->nask;
    memcpy(sides[TD_ASK].lv, row->ask, row->nask * sizeof row->ask[0]);

    td_lobster_msg_t m = { 0 };
    int have_msg = s->msg_len > 0 && parse_msg_at(s->msg, s->msg_len, &m, &used) == TD_OK;
    int64_t t = s->ctx.day_utc_ns + (have_msg ? m.time_ns : 0);
    int real_side = -1;              /* where message 1's own order is seeded, if it is a reduction */
    int64_t real_px = 0, real_size = 0;
    if (have_msg && m.type >= TD_LOBSTER_ADD && m.type <= TD_LOBSTER_EXEC) {
        int side = m.direction == 1 ? TD_BID : TD_ASK;
        seed_side_t *sd = &sides[side];
        uint32_t i = 0;
        /* position of m.price in best-first order */
        while (i < sd->n && (side == TD_BID ? sd->lv[i].price > m.price : sd->lv[i].price < m.price)) i++;
        int found = i < sd->n && sd->lv[i].price == m.price;
        if (m.type == TD_LOBSTER_ADD) {
            if (found && sd->lv[i].size >= m.size) {
                sd->lv[i].size -= m.size;
                if (sd->lv[i].size == 0) {
                    memmove(&sd->lv[i], &sd->lv[i + 1], (sd->n - i - 1) * sizeof sd->lv[0]);
                    sd->n--;
                }
            } else {
                td_log_warn("lobster", "%s: row 1 lacks message 1's add of %lld at %lld; seeding row 1 as is",
                            book_path, (long long)m.size, (long long)m.price);
            }
        } else {
            if (found) {
                sd->lv[i].size += m.size;
            } else {
                memmove(&sd->lv[i + 1], &sd->lv[i], (sd->n - i) * sizeof sd->lv[0]);
                sd->lv[i].price = m.price;
                sd->lv[i].size = m.size;
                sd->n++;
            }
            real_side = side, real_px = m.price, real_size = m.size;
        }
    }

    td_event_t ev = order_event(s, TD_EV_BOOK_CLEAR, TD_SIDE_NONE, 0, 0, 0, t, 0, TD_EVF_SNAPSHOT);
    q_push(s, &ev);
    for (int side = TD_BID; side <= TD_ASK; side++) {
        for (uint32_t i = 0; i < sides[side].n; i++) {
            int64_t px = sides[side].lv[i].price, size = sides[side].lv[i].size;
            if (side == real_side && px == real_px) { /* message 1's order first in the queue */
                seed_add(s, t, side, m.order_id, px, real_size);
                size -= real_size;
            }
            if (size > 0) seed_add(s, t, side, ++s->next_synth, px, size);
        }
    }
    ev = order_event(s, TD_EV_RESYNC, TD_SIDE_NONE, 0, 0, 0, t, 0, TD_EVF_SNAPSHOT);
    q_push(s, &ev);
    atomic_fetch_add_explicit(&s->base.stats.resyncs, 1, memory_order_relaxed);
    rc = TD_OK;
out:
    td_free(sides);
    return rc;
}

td_source_t *td_lobster_open(const char *args, char *err, size_t errlen)
{
    char buf[1024], msg_path[512] = "", book_path[512] = "", sym_name[TD_SYM_NAME_MAX + 1] = "";
    int y = 0, mo = 0, d = 0, have_date = 0, reconcile = 1;
    if (!args || strlen(args) >= sizeof buf) {
        snprintf(err, errlen, "lobster: missing or overlong arguments");
        return NULL;
    }
    strcpy(buf, args);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strncmp(tok, "symbol=", 7)) {
            snprintf(sym_name, sizeof sym_name, "%s", tok + 7);
        } else if (!strncmp(tok, "reconcile=", 10)) {
            if (strcmp(tok + 10, "0") && strcmp(tok + 10, "1")) {
                snprintf(err, errlen, "lobster: reconcile= takes 0 or 1");
                return NULL;
            }
            reconcile = tok[10] == '1';
        } else if (!strncmp(tok, "date=", 5)) {
            char fake[64];
            snprintf(fake, sizeof fake, "X_%s", tok + 5);
            char t[8];
            if (td_lobster_name_info(fake, t, sizeof t, &y, &mo, &d) != TD_OK) {
                snprintf(err, errlen, "lobster: bad date '%s' (want YYYY-MM-DD)", tok + 5);
                return NULL;
            }
            have_date = 1;
        } else if (!msg_path[0]) {
            snprintf(msg_path, sizeof msg_path, "%s", tok);
        } else if (!book_path[0]) {
            snprintf(book_path, sizeof book_path, "%s", tok);
        } else {
            snprintf(err, errlen, "lobster: unexpected argument '%s'", tok);
            return NULL;
        }
    }
    if (!msg_path[0]) {
        snprintf(err, errlen, "lobster: no message file given (MESSAGE.csv[,ORDERBOOK.csv])");
        return NULL;
    }
    char ticker[TD_SYM_NAME_MAX + 1];
    int fy, fm, fd;
    int named = td_lobster_name_info(msg_path, ticker, sizeof ticker, &fy, &fm, &fd) == TD_OK;
    if (!sym_name[0] && named) snprintf(sym_name, sizeof sym_name, "%s", ticker);
    if (!have_date && named) y = fy, mo = fm, d = fd, have_date = 1;
    if (!sym_name[0] || !have_date) {
        snprintf(err, errlen, "lobster: %s is not named TICKER_YYYY-MM-DD_...; give symbol= and date=",
                 msg_path);
        return NULL;
    }
    uint32_t sym = td_sym_intern(sym_name, strlen(sym_name));
    uint8_t exch = td_exch_intern(TD_LOBSTER_EXCHANGE, strlen(TD_LOBSTER_EXCHANGE));
    if (!sym || !exch) {
        snprintf(err, errlen, "lobster: cannot intern symbol '%s'", sym_name);
        return NULL;
    }

    lobster_src_t *s = td_calloc(1, sizeof *s);
    s->base.kind = "lobster";
    snprintf(s->base.name, sizeof s->base.name, "lobster:%s", sym_name);
    s->base.next = src_next;
    s->base.destroy = src_destroy;
    snprintf(s->path, sizeof s->path, "%s", msg_path);
    s->ctx.sym = sym;
    s->ctx.exch = exch;
    s->ctx.day_utc_ns = td_us_eastern_midnight_utc_ns(y, mo, d);
    s->next_synth = TD_LOBSTER_SYNTH_ID_BASE;
    if (map_file(msg_path, &s->msg, &s->msg_len, err, errlen) != TD_OK) goto fail;
    if (book_path[0] && reconcile) s->mirror = td_obook_create(); /* before the seed: it mirrors that too */
    if (book_path[0] && build_seed(s, book_path, err, errlen) != TD_OK) goto fail;
    return &s->base;
fail:
    src_destroy(&s->base);
    return NULL;
}
