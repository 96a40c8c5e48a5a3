/*
 * tickctl_store.c: the store's admin subcommands.
 *   verify DIR                         every block's checksum and decode, every index; exit 1 naming damage
 *   import DIR --feed SPEC [...]       a feed (lobster/itch50/recording/sim:...;rate=max) into the store,
 *                                      through an engine so its trades, NBBO changes and candles are stored too
 *   export DIR SYMBOL FROM TO          ticks as CSV on stdout; --candles IV for candles instead
 * Times: nanoseconds since the epoch, or YYYY-MM-DD[THH:MM[:SS]] (UTC).
 * Single-threaded apart from the store's own writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/decimal.h"
#include "core/log.h"
#include "core/symbols.h"
#include "engine/engine.h"
#include "feed/source.h"
#include "store/store.h"
#include "tickctl.h"

static void print_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("DAMAGE %s\n", line);
}

static int cmd_verify(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: tickctl verify DIR\n  checks the checksum and decoding of every stored block and every index\n"
                "  entry; prints one DAMAGE line per problem (file, offset, reason); exit 0 if whole, 1 if not\n");
        return argc == 2 ? 0 : 2;
    }
    td_store_verify_report_t rep;
    int rc = td_store_verify(argv[1], &rep, print_line, NULL);
    printf("%llu partitions, %llu blocks, %llu records; %llu damaged regions (%llu bytes)\n",
           (unsigned long long)rep.partitions, (unsigned long long)rep.blocks, (unsigned long long)rep.events,
           (unsigned long long)rep.bad_blocks, (unsigned long long)rep.bad_bytes);
    return rc == TD_OK ? 0 : 1;
}
TD_TICKCTL_COMMAND(verify, "check every stored block's checksum (exit 1 on damage)", cmd_verify)

/* ---- import ---- */

typedef struct imp {
    td_store_t *store;
} imp_t;

static void imp_event(void *ctx, const td_event_t *ev, uint64_t seq)
{
    td_store_append(((imp_t *)ctx)->store, ev, &seq, 1);
}

static void imp_out(void *ctx, const td_out_t *o)
{
    if (o->type == TD_OUT_TRADE || o->type == TD_OUT_NBBO || o->type == TD_OUT_CANDLE)
        td_store_append_out(((imp_t *)ctx)->store, o);
}

static int cmd_import(int argc, char **argv)
{
    const char *dir = NULL;
    const char *feeds[16];
    int nfeeds = 0;
    long long max_events = 0;
    bool raw = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: tickctl import DIR --feed SPEC [--feed SPEC...] [--max N] [--raw]\n"
                   "  reads each feed to its end into the store in DIR (backfill). The events go through an\n"
                   "  engine, so its resolved trades (TRADE_OUT), NBBO changes and every closed candle are\n"
                   "  stored as well (--raw: events only).\n"
                   "  SPEC as for tickd --feed: lobster:MSG.csv[,BOOK.csv], itch50:FILE, recording:..., or\n"
                   "  sim:...;rate=max with --max N (the simulator never ends).\n");
            return 0;
        }
        if (!strcmp(argv[i], "--feed") && i + 1 < argc && nfeeds < 16) feeds[nfeeds++] = argv[++i];
        else if (!strcmp(argv[i], "--max") && i + 1 < argc) max_events = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--raw")) raw = true;
        else if (!dir && argv[i][0] != '-') dir = argv[i];
        else {
            fprintf(stderr, "tickctl import: unexpected argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!dir || nfeeds == 0) {
        fprintf(stderr, "usage: tickctl import DIR --feed SPEC [--feed SPEC...] [--max N] [--raw]\n");
        return 2;
    }
    imp_t imp = { 0 };
    td_store_options_t o;
    td_store_options_default(&o);
    o.fsync_ms = 1000;           /* a backfill: fsync once a second, everything at the end */
    o.retention_every_s = -1;    /* history older than the TTL is what a backfill is for */
    char err[512];
    if (td_store_open(dir, &o, &imp.store, err, sizeof err) != TD_OK) {
        fprintf(stderr, "tickctl import: %s\n", err);
        return 1;
    }
    td_engine_config_t ec = { .emit = raw ? NULL : imp_out, .emit_ctx = &imp };
    if (raw) {
        ec.on_event = NULL;
    } else {
        ec.on_event = imp_event;
        ec.on_event_ctx = &imp;
    }
    td_engine_t *e = td_engine_create(&ec);
    int status = 0;
    unsigned long long total = 0;
    int64_t last_ns = 0;
    td_event_t buf[1024];
    for (int f = 0; f < nfeeds && status == 0; f++) {
        td_source_t *src = td_source_open(feeds[f], err, sizeof err);
        if (!src) {
            fprintf(stderr, "tickctl import: --feed %s: %s\n", feeds[f], err);
            status = 2;
            break;
        }
        for (;;) {
            int n = src->next(src, buf, TD_ARRAY_LEN(buf));
            if (n == TD_EOF) break;
            if (n < 0) {
                fprintf(stderr, "tickctl import: %s: %s\n", src->name, td_strerror(n));
                status = 1;
                break;
            }
            int64_t now = td_now_ns();
            for (int i = 0; i < n; i++) {
                if (!buf[i].recv_ns) buf[i].recv_ns = now;
                if (buf[i].exch_ns > last_ns) last_ns = buf[i].exch_ns;
                if (raw) {
                    uint64_t zero = 0;
                    td_store_append(imp.store, &buf[i], &zero, 1);
                } else {
                    td_engine_apply(e, &buf[i]);
                }
            }
            if (!raw) td_engine_flush(e);
            total += (unsigned long long)n;
            if (max_events && total >= (unsigned long long)max_events) break;
        }
        fprintf(stderr, "tickctl import: %s: %llu events read, %llu bad records skipped\n", src->name,
                (unsigned long long)atomic_load(&src->stats.events), (unsigned long long)atomic_load(&src->stats.bad));
        td_source_destroy(src);
    }
    /* a backfill is history: close every candle still open (a week past the last event closes even 1w) */
    if (!raw && last_ns) td_engine_advance(e, last_ns + 8 * 86400 * TD_NS_PER_SEC);
    td_store_sync(imp.store);
    const td_store_stats_t *st = td_store_stats(imp.store);
    fprintf(stderr, "tickctl import: %llu events, %llu records stored in %llu blocks (%llu bytes)\n", total,
            (unsigned long long)atomic_load(&st->appended), (unsigned long long)atomic_load(&st->blocks_written),
            (unsigned long long)atomic_load(&st->bytes_written));
    td_engine_destroy(e);
    td_store_close(imp.store);
    return status;
}
TD_TICKCTL_COMMAND(import, "backfill a feed (LOBSTER, ITCH, recording, sim) into a store", cmd_import)

/* ---- export ---- */

static int parse_time(const char *s, int64_t *ns)
{
    int y, mo, d, h = 0, mi = 0, sec = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end == '\0' && end != s) {
        *ns = v;
        return TD_OK;
    }
    int n = sscanf(s, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &sec);
    if (n < 3) return TD_EINVAL;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ns = (int64_t)timegm(&tm) * TD_NS_PER_SEC;
    return TD_OK;
}

/* Stored-only record types are upper case (they are not feed events): NBBO changes, the engine's trades. */
static const char *type_name(uint8_t t)
{
    return t == TD_SREC_NBBO ? "NBBO" : t == TD_SREC_TRADE ? "TRADE_OUT" : td_ev_type_name((td_ev_type_t)t);
}

static void csv_tick(const td_store_tick_t *t)
{
    const td_event_t *ev = &t->ev;
    char a[TD_DEC_BUFSZ] = "", b[TD_DEC_BUFSZ] = "", c[TD_DEC_BUFSZ] = "", d[TD_DEC_BUFSZ] = "";
    switch (ev->type) {
    case TD_EV_TRADE:
    case TD_SREC_TRADE: /* price, qty, trade id; side = aggressor */
        td_dec_fmt(ev->u.trade.price, a);
        td_dec_fmt(ev->u.trade.qty, b);
        snprintf(c, sizeof c, "%llu", (unsigned long long)ev->u.trade.trade_id);
        break;
    case TD_EV_QUOTE:
    case TD_SREC_NBBO:
        td_dec_fmt(ev->u.quote.bid_px, a);
        td_dec_fmt(ev->u.quote.bid_qty, b);
        td_dec_fmt(ev->u.quote.ask_px, c);
        td_dec_fmt(ev->u.quote.ask_qty, d);
        break;
    case TD_EV_LEVEL_SET:
    case TD_EV_LEVEL_DEL:
        td_dec_fmt(ev->u.level.price, a);
        td_dec_fmt(ev->u.level.qty, b);
        break;
    case TD_EV_STATUS:
        snprintf(a, sizeof a, "%u", ev->u.status.state);
        snprintf(b, sizeof b, "%.4s", ev->u.status.reason);
        break;
    case TD_EV_GAP:
    case TD_EV_RESYNC:
        snprintf(a, sizeof a, "%llu", (unsigned long long)ev->u.gap.expected);
        snprintf(b, sizeof b, "%llu", (unsigned long long)ev->u.gap.received);
        break;
    default:
        td_dec_fmt(ev->u.order.price, a);
        td_dec_fmt(ev->u.order.qty, b);
        snprintf(c, sizeof c, "%llu", (unsigned long long)ev->u.order.order_id);
        snprintf(d, sizeof d, "%llu", (unsigned long long)ev->u.order.new_order_id);
        break;
    }
    const char *side = ev->type == TD_SREC_NBBO ? td_exch_name(ev->side)
                       : ev->side == TD_BID     ? "B"
                       : ev->side == TD_ASK     ? "S"
                                                : "";
    printf("%lld,%lld,%llu,%llu,%s,%s,%s,%u,%s,%s,%s,%s\n", (long long)ev->exch_ns, (long long)ev->recv_ns,
           (unsigned long long)t->seq, (unsigned long long)ev->src_seq, type_name(ev->type),
           ev->exch ? td_exch_name(ev->exch) : "", side, ev->flags, a, b, c, d);
}

static int cmd_export(int argc, char **argv)
{
    const char *pos[4];
    int npos = 0;
    const char *candles = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: tickctl export DIR SYMBOL FROM TO [--candles IV]\n"
                   "  FROM/TO: ns since the epoch or YYYY-MM-DD[THH:MM[:SS]] UTC (inclusive).\n"
                   "  ticks CSV: exch_ns,recv_ns,seq,src_seq,type,exchange,side,flags,a,b,c,d where a..d are\n"
                   "    TRADE and TRADE_OUT (the engine's trade, side = aggressor) price,qty,trade_id;\n"
                   "    ORDER_* price,qty,order_id,new_order_id; QUOTE/NBBO bid,bid_qty,\n"
                   "    ask,ask_qty (NBBO: exchange = bid venue, side = ask venue); LEVEL_* price,qty;\n"
                   "    STATUS state,reason; GAP/RESYNC expected,received.\n"
                   "  --candles IV (1s 10s 1m 5m 15m 1h 1d 1w): time,open,high,low,close,volume,trade_count\n");
            return 0;
        }
        if (!strcmp(argv[i], "--candles") && i + 1 < argc) candles = argv[++i];
        else if (npos < 4) pos[npos++] = argv[i];
        else {
            fprintf(stderr, "tickctl export: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    int64_t from, to;
    if (npos != 4 || parse_time(pos[2], &from) != TD_OK || parse_time(pos[3], &to) != TD_OK) {
        fprintf(stderr, "usage: tickctl export DIR SYMBOL FROM TO [--candles IV] (see --help)\n");
        return 2;
    }
    td_interval_t iv = TD_IV_1M;
    if (candles && td_interval_parse(candles, strlen(candles), &iv) != TD_OK) {
        fprintf(stderr, "tickctl export: unknown interval '%s'\n", candles);
        return 2;
    }
    uint32_t sym = td_sym_intern(pos[1], strlen(pos[1]));
    if (!sym) {
        fprintf(stderr, "tickctl export: bad symbol '%s'\n", pos[1]);
        return 2;
    }
    td_store_options_t o;
    td_store_options_default(&o);
    o.read_only = true;
    td_store_t *s;
    char err[512];
    if (td_store_open(pos[0], &o, &s, err, sizeof err) != TD_OK) {
        fprintf(stderr, "tickctl export: %s\n", err);
        return 1;
    }
    int status = 0;
    if (candles) {
        enum { CHUNK = 65536 };
        td_candle_t *buf = td_malloc(CHUNK * sizeof *buf);
        int64_t lo = from / TD_NS_PER_SEC, hi = to / TD_NS_PER_SEC;
        printf("time,open,high,low,close,volume,trade_count\n");
        for (;;) {
            int n = td_store_candles(s, sym, iv, lo, hi, 0, buf, CHUNK);
            if (n < 0) {
                status = 1;
                break;
            }
            for (int i = 0; i < n; i++) {
                char o1[TD_DEC_BUFSZ], h1[TD_DEC_BUFSZ], l1[TD_DEC_BUFSZ], c1[TD_DEC_BUFSZ], v1[TD_DEC128_BUFSZ];
                td_dec_fmt(buf[i].open, o1);
                td_dec_fmt(buf[i].high, h1);
                td_dec_fmt(buf[i].low, l1);
                td_dec_fmt(buf[i].close, c1);
                td_dec128_fmt(buf[i].volume, v1);
                printf("%lld,%s,%s,%s,%s,%s,%llu\n", (long long)buf[i].time, o1, h1, l1, c1, v1,
                       (unsigned long long)buf[i].trade_count);
            }
            if (n < CHUNK) break;
            lo = buf[n - 1].time + 1;
        }
        td_free(buf);
    } else {
        td_store_cursor_t *c;
        if (td_store_ticks_open(s, sym, from, to, 0, &c) != TD_OK) {
            fprintf(stderr, "tickctl export: bad range\n");
            td_store_close(s);
            return 2;
        }
        printf("exch_ns,recv_ns,seq,src_seq,type,exchange,side,flags,a,b,c,d\n");
        td_store_tick_t buf[1024];
        int n;
        while ((n = td_store_ticks_next(c, buf, 1024)) > 0)
            for (int i = 0; i < n; i++) csv_tick(&buf[i]);
        td_store_ticks_close(c);
    }
    uint64_t bad = atomic_load(&td_store_stats(s)->corrupt_blocks);
    if (bad) {
        fprintf(stderr, "tickctl export: %llu damaged blocks were skipped (run tickctl verify)\n", (unsigned long long)bad);
        status = 1;
    }
    td_store_close(s);
    return status;
}
TD_TICKCTL_COMMAND(export, "export a symbol's ticks or candles in a time range as CSV", cmd_export)
