/*
 * tickctl_recording.c: `tickctl recording-verify WS_FILE [HTTP_FILE]`: replays a cryptofeed recording
 * through the recording source (the same parsers and book sync as the live feeds) and reports, per symbol,
 * whether its book synced, how many depth messages were applied, and every gap and resync.
 *
 * It also rebuilds each book from the events alone in a td_lbook_t (src/book) and checks it is never
 * crossed (best bid >= best ask) between messages, nor after a snapshot: a wrong sync shows up as a crossed
 * book sooner or later. The sync counting comes from the recording source and does not need the books.
 *
 * Exit status: 0 when every symbol synced and ends whole (gaps that were repaired by a later snapshot are
 * reported but accepted); 1 when a symbol is stale (a gap nothing repaired), never synced, or a book was
 * crossed; 2 on usage or open errors.
 *
 * Single-threaded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/decimal.h"
#include "core/event.h"
#include "book/book.h"
#include "core/symbols.h"
#include "feed/recording.h"
#include "tickctl.h"

/* One price-level book per symbol (a recording is one exchange), rebuilt from the events alone. */
typedef struct vbook {
    td_lbook_t *book;
    bool crossed_reported;
    uint64_t crossed;     /* checks that found best bid >= best ask */
    uint64_t bad_ops;     /* set/del the book refused (bad price or qty): would mean a parser bug */
    bool have_quote;      /* the last BBO-feed quote (bookTicker / ticker), printed next to the book's */
    int64_t quote_bid, quote_ask;
} vbook_t;

typedef struct verify {
    vbook_t *books;  /* by symbol id */
    size_t nbooks;
    uint32_t last_sym;
    int64_t last_recv;
    uint64_t last_seq;
    uint64_t crossed_total;
} verify_t;

static vbook_t *book_of(verify_t *v, uint32_t sym)
{
    if (sym >= v->nbooks) {
        size_t n = v->nbooks ? v->nbooks : 64;
        while (n <= sym) n *= 2;
        v->books = td_realloc(v->books, n * sizeof *v->books);
        memset(v->books + v->nbooks, 0, (n - v->nbooks) * sizeof *v->books);
        v->nbooks = n;
    }
    vbook_t *b = &v->books[sym];
    if (!b->book) b->book = td_lbook_create();
    return b;
}

static void check_crossed(verify_t *v, uint32_t sym)
{
    if (!sym || sym >= v->nbooks || !v->books[sym].book) return;
    vbook_t *b = &v->books[sym];
    td_level_t bid, ask;
    if (td_lbook_best(b->book, TD_BID, &bid) == TD_OK && td_lbook_best(b->book, TD_ASK, &ask) == TD_OK &&
        bid.price >= ask.price) {
        b->crossed++;
        v->crossed_total++;
        if (!b->crossed_reported) {
            char pb[TD_DEC_BUFSZ], pa[TD_DEC_BUFSZ];
            td_dec_fmt(bid.price, pb);
            td_dec_fmt(ask.price, pa);
            fprintf(stderr, "recording-verify: %s book crossed: bid %s >= ask %s (src_seq %" PRIu64 ")\n",
                    td_sym_name(sym), pb, pa, v->last_seq);
            b->crossed_reported = true;
        }
    }
}

/* Applies one event; checks the previous message's book when a new message starts (the levels of one
 * message may cross for a moment while it is being applied; between messages they must not). */
static void verify_event(verify_t *v, const td_event_t *ev)
{
    bool book_ev = ev->type == TD_EV_LEVEL_SET || ev->type == TD_EV_LEVEL_DEL || ev->type == TD_EV_BOOK_CLEAR ||
                   ev->type == TD_EV_RESYNC;
    if (ev->type == TD_EV_QUOTE && ev->sym) {
        vbook_t *b = book_of(v, ev->sym);
        b->have_quote = true;
        b->quote_bid = ev->u.quote.bid_px;
        b->quote_ask = ev->u.quote.ask_px;
        return;
    }
    if (!book_ev || !ev->sym) return;
    if (v->last_sym && (ev->sym != v->last_sym || ev->recv_ns != v->last_recv || ev->src_seq != v->last_seq))
        check_crossed(v, v->last_sym);
    vbook_t *b = book_of(v, ev->sym);
    int rc = TD_OK;
    switch (ev->type) {
    case TD_EV_BOOK_CLEAR:
        td_lbook_clear(b->book);
        break;
    case TD_EV_LEVEL_SET:
        rc = td_lbook_set(b->book, ev->side, ev->u.level.price, ev->u.level.qty);
        break;
    case TD_EV_LEVEL_DEL:
        /* deleting a level we do not hold is normal: it was outside the snapshot's 1000-level window */
        rc = td_lbook_del(b->book, ev->side, ev->u.level.price);
        if (rc == TD_ENOENT) rc = TD_OK;
        break;
    default:
        break;
    }
    if (rc != TD_OK) b->bad_ops++;
    v->last_sym = ev->sym;
    v->last_recv = ev->recv_ns;
    v->last_seq = ev->src_seq;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tickctl recording-verify WS_FILE [HTTP_FILE]\n"
               "  Replays a cryptofeed raw recording (Binance spot/futures, Coinbase) and prints one line per\n"
               "  symbol: SYMBOL synced|stale|unsynced applied=N gaps=G ... bid=PX x QTY ask=PX x QTY. Exit 1\n"
               "  on an unrepaired gap, a symbol that never synced, or a crossed book.\n");
}

static int cmd_recording_verify(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) { usage(stdout); return 0; }
    if (argc < 2 || argc > 3) { usage(stderr); return 2; }
    char args[2048], err[512] = "";
    snprintf(args, sizeof args, "%s%s%s", argv[1], argc == 3 ? "," : "", argc == 3 ? argv[2] : "");
    td_source_t *src = td_recording_open(args, err, sizeof err);
    if (!src) { fprintf(stderr, "tickctl recording-verify: %s\n", err); return 2; }

    verify_t v;
    memset(&v, 0, sizeof v);
    td_event_t evs[256];
    int n;
    uint64_t events = 0, gap_events = 0;
    while ((n = src->next(src, evs, TD_ARRAY_LEN(evs))) > 0) {
        for (int i = 0; i < n; i++) {
            verify_event(&v, &evs[i]);
            if (evs[i].type == TD_EV_GAP) {
                gap_events++;
                printf("gap: %s expected=%" PRIu64 " received=%" PRIu64 "\n",
                       evs[i].sym ? td_sym_name(evs[i].sym) : "(all)", evs[i].u.gap.expected, evs[i].u.gap.received);
            }
        }
        events += (uint64_t)n;
    }
    if (v.last_sym) check_crossed(&v, v.last_sym);
    int rc = 0;
    if (n != TD_EOF) {
        fprintf(stderr, "tickctl recording-verify: source error: %s\n", td_strerror(n));
        rc = 1;
    }

    td_recording_sym_t reps[512];
    size_t nsym = td_recording_symbols(src, reps, TD_ARRAY_LEN(reps));
    if (nsym > TD_ARRAY_LEN(reps)) nsym = TD_ARRAY_LEN(reps);
    for (size_t i = 0; i < nsym; i++) {
        const td_recording_sym_t *r = &reps[i];
        const char *status = r->stale ? "stale" : r->synced ? "synced" : "unsynced";
        if (r->stale || !r->synced) rc = 1;
        printf("%s %s applied=%" PRIu64 " gaps=%" PRIu64 " resyncs=%" PRIu64 " snapshots=%" PRIu64
               " dropped=%" PRIu64, td_sym_name(r->sym), status, r->applied, r->gaps, r->resyncs, r->snapshots,
               r->dropped);
        if (r->snapshot_id)
            printf(" L=%" PRIu64 " first_U=%" PRIu64 " first_u=%" PRIu64, r->snapshot_id, r->first_U, r->first_u);
        if (r->duplicates) printf(" duplicates=%" PRIu64, r->duplicates);
        if (r->snapshots_unused) printf(" snapshots_unused=%" PRIu64, r->snapshots_unused);
        if (r->buffered) printf(" buffered=%" PRIu64, r->buffered);
        if (r->seq_backwards) printf(" seq_backwards=%" PRIu64, r->seq_backwards);
        if (r->sym < v.nbooks && v.books[r->sym].book) {
            vbook_t *b = &v.books[r->sym];
            td_level_t bid, ask;
            char pb[TD_DEC_BUFSZ] = "-", qb[TD_DEC_BUFSZ] = "-", pa[TD_DEC_BUFSZ] = "-", qa[TD_DEC_BUFSZ] = "-";
            if (td_lbook_best(b->book, TD_BID, &bid) == TD_OK) { td_dec_fmt(bid.price, pb); td_dec_fmt(bid.qty, qb); }
            if (td_lbook_best(b->book, TD_ASK, &ask) == TD_OK) { td_dec_fmt(ask.price, pa); td_dec_fmt(ask.qty, qa); }
            printf(" bid=%s x %s ask=%s x %s levels=%zu/%zu", pb, qb, pa, qa, td_lbook_nlevels(b->book, TD_BID),
                   td_lbook_nlevels(b->book, TD_ASK));
            if (b->have_quote) {
                td_dec_fmt(b->quote_bid, pb);
                td_dec_fmt(b->quote_ask, pa);
                printf(" last_quote=%s/%s", pb, pa);
            }
            if (b->crossed) { printf(" CROSSED=%" PRIu64, b->crossed); rc = 1; }
            if (b->bad_ops) { printf(" BOOK_REFUSED=%" PRIu64, b->bad_ops); rc = 1; }
        }
        printf("\n");
    }
    printf("messages:");
    const char *type;
    uint64_t cnt;
    for (size_t i = 0; td_recording_count_at(src, i, &type, &cnt); i++) printf(" %s=%" PRIu64, type, cnt);
    printf("\n");
    printf("total: exchange=%s symbols=%zu events=%" PRIu64 " gaps=%" PRIu64 " resyncs=%" PRIu64 " bad=%" PRIu64
           " crossed=%" PRIu64 " -> %s\n",
           td_exch_name(td_recording_exch(src)), nsym, events, gap_events,
           (uint64_t)atomic_load(&src->stats.resyncs), (uint64_t)atomic_load(&src->stats.bad), v.crossed_total,
           rc ? "FAIL" : "OK");

    for (size_t i = 0; i < v.nbooks; i++) td_lbook_destroy(v.books[i].book);
    td_free(v.books);
    td_source_destroy(src);
    return rc;
}

/* Registered by hand rather than with TD_TICKCTL_COMMAND: the command name has a '-', which an identifier
 * (and so the macro's stringified name) cannot. */
__attribute__((constructor)) static void register_recording_verify(void)
{
    td_tickctl_register("recording-verify", "replay a cryptofeed recording and verify every book syncs",
                        cmd_recording_verify);
}
