/*
 * lobster_verify.c: replays a LOBSTER message file into an order book and checks the top-N price levels
 * after EVERY message against the orderbook file (row i = the book after message i).
 *
 * Why this is not trivial: a level-N message file only contains messages that touch the top N levels at
 * that moment. Orders resting before 09:30, or placed/changed while their level sat below the window,
 * show up as cancels/deletes/executions of ids never added, and a level that enters the window from below
 * carries quantity no message ever announced. Copying each expected row into the book would "match"
 * anything and prove nothing. Instead the verifier keeps two kinds of liquidity:
 *
 *   real orders   the td_obook_t, fed only by the source's events (message adds/reductions, plus the
 *                 pre-message-1 snapshot the source derives from row 1, see lobster.c);
 *   phantom       a signed quantity per (side, price) for liquidity not attributed to any known order.
 *
 * Our level = real + phantom. What changes phantom, and nothing else does:
 *   from messages:  a reduction of an unknown order id takes its size from the phantom of its price (the
 *                   order must be part of that level's unattributed liquidity); a reduction whose size or
 *                   price disagrees with the known order moves the difference there too (so the level
 *                   always changes by exactly what the message says); an add of a live id adds to it.
 *   from the file:  only where we provably had no information. After each row we know the book exactly
 *                   inside the row's window: every price at or better than its N-th level on a side with
 *                   N levels (the whole side when it shows fewer than N). When a later row's window
 *                   reaches past the previous one (a level was removed at the top), the prices in between
 *                   were unobserved: those levels are EXPOSED and their quantity (or their absence) is
 *                   learned from the row (counted: exposed, learned when it differed, stale when the row
 *                   shows one of our levels empty).
 * Orders of a level whose total reaches exactly 0 while some of them remain are removed (they were
 * cancelled while unobserved; counted as zombie_orders): a consequence of the above, not new information.
 * Inside the previous window nothing is learned: after applying the message, every one of the N levels
 * per side must equal the row exactly, or the verification fails with the row, the message and both
 * books. Row 1 is checked the same way against the snapshot (message 1 applied to the reconstructed
 * pre-state). Corrupting a message's size, price or type makes it fail at that row (tests/feed/test_lobster.c).
 *
 * Threading: td_lobster_verify() is self-contained; it uses one source and one book of its own.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "book/book.h"
#include "core/common.h"
#include "core/decimal.h"
#include "feed/lobster.h"

static int better(int side, int64_t a, int64_t b) { return side == TD_BID ? a > b : a < b; }

/* Real quantity at a price in the order book the replay runs on. */
static int64_t level_qty(const td_obook_t *b, int side, int64_t price)
{
    td_level_t lv;
    return td_lbook_get(td_obook_levels(b), side, price, &lv) == TD_OK ? lv.qty : 0;
}

/* ---- phantom liquidity: per side, sorted best first, signed, no zero entries ---- */
typedef struct phantom_side {
    td_lobster_level_t *lv;
    size_t n, cap;
} phantom_side_t;

static size_t ph_find(const phantom_side_t *p, int side, int64_t price)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (better(side, p->lv[mid].price, price)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int64_t ph_get(const phantom_side_t *p, int side, int64_t price)
{
    size_t i = ph_find(p, side, price);
    return i < p->n && p->lv[i].price == price ? p->lv[i].size : 0;
}

static void ph_adjust(phantom_side_t *p, int side, int64_t price, int64_t delta)
{
    if (delta == 0) return;
    size_t i = ph_find(p, side, price);
    if (i < p->n && p->lv[i].price == price) {
        p->lv[i].size += delta;
        if (p->lv[i].size == 0) {
            memmove(&p->lv[i], &p->lv[i + 1], (p->n - i - 1) * sizeof p->lv[0]);
            p->n--;
        }
        return;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->lv = td_realloc(p->lv, p->cap * sizeof p->lv[0]);
    }
    memmove(&p->lv[i + 1], &p->lv[i], (p->n - i) * sizeof p->lv[0]);
    p->lv[i].price = price;
    p->lv[i].size = delta;
    p->n++;
}

/* ---- our levels: real + phantom, merged best first, zero totals skipped ---- */
typedef struct eff_iter {
    td_lbook_iter_t it;
    int have_real;
    td_level_t real;
    const phantom_side_t *ph;
    size_t pi;
    int side;
} eff_iter_t;

static void eff_init(eff_iter_t *e, const td_obook_t *b, const phantom_side_t *ph, int side)
{
    td_lbook_iter_init(&e->it, td_obook_levels(b), side);
    e->have_real = td_lbook_iter_next(&e->it, &e->real);
    e->ph = ph;
    e->pi = 0;
    e->side = side;
}

static int eff_next(eff_iter_t *e, td_lobster_level_t *out)
{
    for (;;) {
        int have_ph = e->pi < e->ph->n;
        if (!e->have_real && !have_ph) return 0;
        if (e->have_real && (!have_ph || !better(e->side, e->ph->lv[e->pi].price, e->real.price))) {
            out->price = e->real.price;
            out->size = e->real.qty;
            if (have_ph && e->ph->lv[e->pi].price == e->real.price) out->size += e->ph->lv[e->pi++].size;
            e->have_real = td_lbook_iter_next(&e->it, &e->real);
        } else {
            *out = e->ph->lv[e->pi++];
        }
        if (out->size != 0) return 1;
    }
}

static int64_t eff_at(const td_obook_t *b, const phantom_side_t *ph, int side, int64_t price)
{
    return level_qty(b, side, price) + ph_get(ph, side, price);
}

/* ---- the replay ---- */

typedef struct window { int bounded; int64_t bound; } window_t; /* see the top: what a row lets us know */

/* A row in tickd units (decimal.h) so it compares directly with the book. */
typedef struct drow {
    uint32_t n[2];
    uint32_t nlevels;
    td_lobster_level_t lv[2][TD_LOBSTER_MAX_LEVELS];
} drow_t;

typedef struct verifier {
    td_obook_t *book;
    phantom_side_t ph[2];
    window_t win[2];
    td_lobster_verify_stats_t *st;
    const char *book_data;
    size_t book_len, book_pos;
    const char *msg_data;
    size_t msg_len;
    td_lobster_row_t *raw;
    drow_t row;
    uint32_t nlevels;
} verifier_t;

static int map_ro(const char *path, const char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return TD_EIO;
    struct stat sb;
    int rc = TD_OK;
    *data = NULL;
    *len = 0;
    if (fstat(fd, &sb) != 0) rc = TD_EIO;
    else if (sb.st_size > 0) {
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) rc = TD_EIO;
        else *data = p, *len = (size_t)sb.st_size;
    }
    close(fd);
    return rc;
}

/* Reads the next orderbook row into v->row. TD_OK, TD_EOF or TD_EPROTO. */
static int next_row(verifier_t *v)
{
    if (v->book_pos >= v->book_len) return TD_EOF;
    const char *p = v->book_data + v->book_pos;
    size_t left = v->book_len - v->book_pos;
    int rc = td_lobster_parse_row(p, left, TD_LOBSTER_MAX_LEVELS, v->raw);
    if (rc == TD_EAGAIN) { /* last line without a newline */
        char *tmp = td_malloc(left + 1);
        memcpy(tmp, p, left);
        tmp[left] = '\n';
        rc = td_lobster_parse_row(tmp, left + 1, TD_LOBSTER_MAX_LEVELS, v->raw);
        td_free(tmp);
        if (rc > 0) rc = (int)left;
    }
    if (rc < 0) return TD_EPROTO;
    v->book_pos += (size_t)rc;
    v->row.nlevels = v->raw->nlevels;
    v->row.n[TD_BID] = v->raw->nbid;
    v->row.n[TD_ASK] = v->raw->nask;
    for (int side = TD_BID; side <= TD_ASK; side++) {
        const td_lobster_level_t *src = side == TD_BID ? v->raw->bid : v->raw->ask;
        for (uint32_t i = 0; i < v->row.n[side]; i++) {
            if (td_dec_from_scaled(src[i].price, 4, &v->row.lv[side][i].price) != TD_OK ||
                td_dec_from_int(src[i].size, &v->row.lv[side][i].size) != TD_OK)
                return TD_EPROTO;
        }
    }
    return TD_OK;
}

static void set_window(verifier_t *v)
{
    for (int side = TD_BID; side <= TD_ASK; side++) {
        v->win[side].bounded = v->row.n[side] == v->row.nlevels;
        v->win[side].bound = v->win[side].bounded ? v->row.lv[side][v->row.nlevels - 1].price : 0;
    }
}

/* Every phantom change goes through here. When a level's total reaches exactly 0 while real orders remain
 * there, those orders are provably gone (cancelled while unobserved: the file or the messages say the
 * level is empty), so they are removed and the phantom that offset them with them. Without this, such
 * zombie levels pile up at prices the market left and every scan of the book walks over them. */
static void adjust(verifier_t *v, int side, int64_t price, int64_t delta)
{
    ph_adjust(&v->ph[side], side, price, delta);
    int64_t real = level_qty(v->book, side, price);
    if (real <= 0 || real + ph_get(&v->ph[side], side, price) != 0) return;
    td_order_info_t gone[64];
    size_t n;
    while ((n = td_obook_orders_at(v->book, side, price, gone, TD_ARRAY_LEN(gone))) > 0)
        for (size_t i = 0; i < n; i++, v->st->zombie_orders++) td_obook_delete(v->book, gone[i].order_id, NULL);
    ph_adjust(&v->ph[side], side, price, real);
}

/* Learns the levels of the current row that lie beyond the previous window (see the top). */
static void expose(verifier_t *v)
{
    td_lobster_verify_stats_t *st = v->st;
    for (int side = TD_BID; side <= TD_ASK; side++) {
        if (!v->win[side].bounded) continue; /* we saw the whole side: nothing was hidden */
        int64_t old = v->win[side].bound;
        int now_bounded = v->row.n[side] == v->row.nlevels;
        int64_t now = now_bounded ? v->row.lv[side][v->row.nlevels - 1].price : 0;
        if (now_bounded && !better(side, old, now)) continue; /* the window did not grow */
        /* our levels in the exposed region that the row does not show: gone while unobserved */
        td_lobster_level_t stale[64];
        size_t nstale;
        do {
            nstale = 0;
            eff_iter_t it;
            td_lobster_level_t lv;
            eff_init(&it, v->book, &v->ph[side], side);
            while (eff_next(&it, &lv) && nstale < TD_ARRAY_LEN(stale)) {
                if (!better(side, old, lv.price)) continue;           /* inside the old window */
                if (now_bounded && better(side, now, lv.price)) break; /* beyond the new window */
                int shown = 0;
                for (uint32_t k = 0; k < v->row.n[side] && !shown; k++) shown = v->row.lv[side][k].price == lv.price;
                if (!shown) stale[nstale++] = lv;
            }
            for (size_t k = 0; k < nstale; k++) {
                adjust(v, side, stale[k].price, -stale[k].size);
                st->stale_levels++;
                st->learned_qty += stale[k].size < 0 ? -stale[k].size : stale[k].size;
            }
        } while (nstale == TD_ARRAY_LEN(stale));
        /* the row's levels in the exposed region: their quantity was never announced to us */
        for (uint32_t k = 0; k < v->row.n[side]; k++) {
            const td_lobster_level_t *want = &v->row.lv[side][k];
            if (!better(side, old, want->price)) continue;
            st->exposed_levels++;
            int64_t have = eff_at(v->book, &v->ph[side], side, want->price);
            if (have != want->size) {
                adjust(v, side, want->price, want->size - have);
                st->learned_levels++;
                st->learned_qty += want->size > have ? want->size - have : have - want->size;
            }
        }
    }
}

/* Appends one formatted book side pair (ours or expected) to buf. */
static size_t fmt_level(char *buf, size_t len, const td_lobster_level_t *lv, int present)
{
    if (!present) return (size_t)snprintf(buf, len, "%22s", "-");
    char p[TD_DEC_BUFSZ], q[TD_DEC_BUFSZ];
    td_dec_fmt(lv->price, p);
    td_dec_fmt(lv->size, q);
    return (size_t)snprintf(buf, len, "%12s x %-7s", p, q);
}

static void describe_line(const char *data, size_t len, uint64_t line, char *out, size_t outlen)
{
    const char *p = data, *end = data + len;
    for (uint64_t l = 1; l < line && p < end; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    size_t n = (size_t)((nl ? nl : end) - p);
    if (n > 120) n = 120;
    snprintf(out, outlen, "%.*s", (int)n, p);
}

/* Compares our top N with the row; on a difference writes the report and returns TD_EPROTO. */
static int compare(verifier_t *v, uint64_t rowno)
{
    td_lobster_level_t ours[2][TD_LOBSTER_MAX_LEVELS];
    uint32_t nours[2];
    int first_diff = -1;
    for (int side = TD_BID; side <= TD_ASK; side++) {
        eff_iter_t it;
        eff_init(&it, v->book, &v->ph[side], side);
        nours[side] = 0;
        while (nours[side] < v->row.nlevels && eff_next(&it, &ours[side][nours[side]])) nours[side]++;
        for (uint32_t k = 0; k < v->row.nlevels; k++) {
            int have = k < nours[side], want = k < v->row.n[side];
            if (have != want || (have && (ours[side][k].price != v->row.lv[side][k].price ||
                                          ours[side][k].size != v->row.lv[side][k].size))) {
                if (first_diff < 0 || (int)k < first_diff) first_diff = (int)k;
                break;
            }
        }
    }
    if (first_diff < 0) return TD_OK;
    td_lobster_verify_stats_t *st = v->st;
    st->mismatch_row = rowno;
    char line[160];
    describe_line(v->msg_data, v->msg_len, rowno, line, sizeof line);
    size_t off = (size_t)snprintf(st->mismatch, sizeof st->mismatch,
                                  "row %llu differs at level %d after message %llu: %s\n"
                                  "level %-45s | %-45s\n",
                                  (unsigned long long)rowno, first_diff + 1, (unsigned long long)rowno, line,
                                  "expected: bid, ask", "ours: bid, ask");
    uint32_t last = (uint32_t)first_diff + 3 < v->row.nlevels ? (uint32_t)first_diff + 3 : v->row.nlevels;
    for (uint32_t k = 0; k < last && off < sizeof st->mismatch; k++) {
        char *b = st->mismatch + off;
        size_t left = sizeof st->mismatch - off, w = 0;
        w += (size_t)snprintf(b + w, left - w, "%5u ", k + 1);
        if (w < left) w += fmt_level(b + w, left - w, &v->row.lv[TD_BID][k], k < v->row.n[TD_BID]);
        if (w < left) w += (size_t)snprintf(b + w, left - w, " ");
        if (w < left) w += fmt_level(b + w, left - w, &v->row.lv[TD_ASK][k], k < v->row.n[TD_ASK]);
        if (w < left) w += (size_t)snprintf(b + w, left - w, " | ");
        if (w < left) w += fmt_level(b + w, left - w, &ours[TD_BID][k], k < nours[TD_BID]);
        if (w < left) w += (size_t)snprintf(b + w, left - w, " ");
        if (w < left) w += fmt_level(b + w, left - w, &ours[TD_ASK][k], k < nours[TD_ASK]);
        if (w < left) w += (size_t)snprintf(b + w, left - w, "\n");
        off += w;
    }
    return TD_EPROTO;
}

/* Applies one event to the book, moving unattributed differences to phantom (see the top). */
static void apply(verifier_t *v, const td_event_t *ev)
{
    td_lobster_verify_stats_t *st = v->st;
    const int side = ev->side;
    const int64_t px = ev->u.order.price, qty = ev->u.order.qty;
    td_order_info_t info;
    int rc;
    switch (ev->type) {
    case TD_EV_BOOK_CLEAR:
        td_obook_clear(v->book);
        v->ph[TD_BID].n = v->ph[TD_ASK].n = 0;
        return;
    case TD_EV_ORDER_ADD:
        if (ev->flags & TD_EVF_SNAPSHOT) {
            if (ev->u.order.order_id >= TD_LOBSTER_SYNTH_ID_BASE) st->seeded_levels++;
            else st->seeded_orders++;
        }
        rc = td_obook_add(v->book, ev->u.order.order_id, side, px, qty);
        if (rc != TD_OK) { /* a live duplicate id (or a book at capacity): keep the level honest */
            st->dup_adds++;
            adjust(v, side, px, qty);
        }
        return;
    case TD_EV_ORDER_CANCEL:
    case TD_EV_ORDER_EXEC:
    case TD_EV_ORDER_DELETE:
        memset(&info, 0, sizeof info);
        if (ev->type == TD_EV_ORDER_DELETE) rc = td_obook_delete(v->book, ev->u.order.order_id, &info);
        else if (ev->type == TD_EV_ORDER_CANCEL) rc = td_obook_cancel(v->book, ev->u.order.order_id, qty, &info);
        else rc = td_obook_exec(v->book, ev->u.order.order_id, qty, &info);
        if (rc == TD_ENOENT) {
            st->unknown_reductions++;
            adjust(v, side, px, -qty);
            return;
        }
        if (rc != TD_OK && rc != TD_ERANGE) { /* cannot happen for parsed input; keep the level honest */
            st->size_mismatches++;
            adjust(v, side, px, -qty);
            return;
        }
        /* the level must change by exactly what the message says, whatever our order held */
        if (info.side == side && info.price == px) {
            if (info.removed != qty) {
                st->size_mismatches++;
                adjust(v, side, px, info.removed - qty);
            }
        } else {
            st->size_mismatches++;
            adjust(v, info.side, info.price, info.removed);
            adjust(v, side, px, -qty);
        }
        return;
    default: /* trades against hidden liquidity, crosses, status, resync: the visible book is unchanged */
        return;
    }
}

static int lobster_type_of(const td_event_t *ev)
{
    switch (ev->type) {
    case TD_EV_ORDER_ADD: return 1;
    case TD_EV_ORDER_CANCEL: return 2;
    case TD_EV_ORDER_DELETE: return 3;
    case TD_EV_ORDER_EXEC: return 4;
    case TD_EV_TRADE: return ev->flags & TD_EVF_HIDDEN ? 5 : 6;
    case TD_EV_STATUS: return 7;
    default: return 0;
    }
}

int td_lobster_verify(const char *msg_path, const char *book_path, td_lobster_verify_stats_t *st,
                      FILE *progress)
{
    memset(st, 0, sizeof *st);
    verifier_t v;
    memset(&v, 0, sizeof v);
    v.st = st;
    td_source_t *src = NULL;
    td_event_t *evs = td_malloc(256 * sizeof *evs);
    v.raw = td_malloc(sizeof *v.raw);
    int rc;
    char args[2048], err[256];
    /* seed only: the source's reconcile mode would make the stream match the file by construction */
    snprintf(args, sizeof args, "%s,%s,reconcile=0", msg_path, book_path);
    if (map_ro(book_path, &v.book_data, &v.book_len) != TD_OK ||
        map_ro(msg_path, &v.msg_data, &v.msg_len) != TD_OK) {
        snprintf(st->mismatch, sizeof st->mismatch, "cannot read %s or %s", msg_path, book_path);
        rc = TD_EIO;
        goto out;
    }
    /* row 1 defines N and the window the seeded pre-state is known in */
    if (next_row(&v) != TD_OK) {
        snprintf(st->mismatch, sizeof st->mismatch, "%s: row 1 is missing or malformed", book_path);
        st->bad_lines++;
        st->mismatch_row = 1;
        rc = TD_EPROTO;
        goto out;
    }
    src = td_lobster_open(args, err, sizeof err);
    if (!src) {
        snprintf(st->mismatch, sizeof st->mismatch, "%s", err);
        rc = TD_EIO;
        goto out;
    }
    v.book = td_obook_create();
    v.nlevels = v.row.nlevels;
    for (const char *p = v.book_data, *end = v.book_data + v.book_len; p < end; st->rows++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    set_window(&v);
    int row_pending = 1; /* v.row holds row 1, not yet compared */
    for (;;) {
        int n = src->next(src, evs, 256);
        if (n == TD_EOF) break;
        if (n < 0) {
            snprintf(st->mismatch, sizeof st->mismatch, "source failed: %s", td_strerror(n));
            rc = n;
            goto out;
        }
        for (int i = 0; i < n; i++) {
            const td_event_t *ev = &evs[i];
            if (ev->src_seq == 0) { /* the snapshot */
                apply(&v, ev);
                continue;
            }
            st->messages++;
            if (ev->src_seq != st->messages) { /* the source skipped a malformed message line */
                st->bad_lines++;
                st->mismatch_row = st->messages;
                snprintf(st->mismatch, sizeof st->mismatch, "%s: message line %llu is malformed", msg_path,
                         (unsigned long long)st->messages);
                rc = TD_EPROTO;
                goto out;
            }
            st->type_count[lobster_type_of(ev)]++;
            apply(&v, ev);
            if (!row_pending) {
                int r = next_row(&v);
                if (r != TD_OK || v.row.nlevels != v.nlevels) {
                    st->bad_lines += r == TD_EPROTO || r == TD_OK;
                    st->mismatch_row = ev->src_seq;
                    snprintf(st->mismatch, sizeof st->mismatch, "%s: row %llu is %s", book_path,
                             (unsigned long long)ev->src_seq,
                             r == TD_EOF ? "missing (fewer rows than messages)"
                                         : r == TD_OK ? "of a different level count" : "malformed");
                    rc = TD_EPROTO;
                    goto out;
                }
                expose(&v);
            }
            row_pending = 0;
            if (compare(&v, ev->src_seq) != TD_OK) {
                rc = TD_EPROTO;
                goto out;
            }
            st->matched++;
            set_window(&v);
            if (progress && st->matched % 100000 == 0)
                fprintf(progress, "  %llu rows matched\n", (unsigned long long)st->matched);
        }
    }
    if (v.book_pos < v.book_len || st->messages == 0) {
        st->mismatch_row = st->messages + 1;
        snprintf(st->mismatch, sizeof st->mismatch, "%s has more rows than %s has messages (%llu)", book_path,
                 msg_path, (unsigned long long)st->messages);
        rc = TD_EPROTO;
        goto out;
    }
    rc = TD_OK;
out:
    td_source_destroy(src);
    td_obook_destroy(v.book);
    td_free(v.ph[0].lv);
    td_free(v.ph[1].lv);
    td_free(v.raw);
    td_free(evs);
    if (v.book_data) munmap((void *)v.book_data, v.book_len);
    if (v.msg_data) munmap((void *)v.msg_data, v.msg_len);
    return rc;
}
