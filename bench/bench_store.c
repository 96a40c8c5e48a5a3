/*
 * bench_store.c: tickd's embedded store beside SQLite and PostgreSQL 15 on the same events, same machine.
 *
 *   bench_store [EVENTS] [--data sim|lobster] [--mode orders|levels|quotes] [--no-pg] [--no-sqlite]
 *               [--no-engine] [--help]
 *   (default: 10,000,000 events of each dataset, one dataset after the other, every store on each)
 *
 * Datasets (generated or loaded into memory first, so every store gets the same bytes and none is timed
 * producing them):
 *   sim      the simulator (feed/sim.h, seed 42, 8 symbols x 3 exchanges, mode orders by default, rate 2,000
 *            events/s of exchange time so 10 M events span ~1.4 h). 1-hour query: AAPL from 10% in.
 *   lobster  the LOBSTER samples in $TD_SHARED_DATA (default ../shared/data) through td_source_open
 *            ("lobster:MSG,BOOK", reconcile mode): the deepest pair of each stock, GOOG level 10 and AMZN
 *            level 5 of 2012-06-21, merged in exchange-time order, looped to EVENTS: round k is the next
 *            calendar day (exch_ns + k days, so it lands in its own UTC-day partition like real history),
 *            with fresh order ids (+ k << 40) and src_seq continuing per symbol (bench_util.h). recv_ns stays
 *            0 as the file source leaves it (a backfill has no receive time). 1-hour query: GOOG 12:00-13:00
 *            ET of the middle day.
 * Candles (both datasets, the same synthetic table): 30 trading days x 390 1m candles for each of 8
 * symbols (11,700 per symbol), for the candle query.
 *
 * Figures, per dataset:
 *   ingest events/s: tickd by the CPU time of the store's threads (writer and sealer: process CPU minus the
 *     producing thread; the machine is shared, wall time is distorted) up to td_store_sync (all durable), and
 *     "sealed": up to a closed store, the compaction of the partitions still open included (a partition with
 *     partial blocks is decoded and re-encoded whole when sealed: in the LOBSTER dataset each finished day
 *     is sealed during ingest, in the simulator's single day only at close); by wall time too; with --fsync
 *     off and per batch. SQLite by the inserting thread's CPU time and wall; PostgreSQL by wall time only
 *     (the work is in the server process).
 *   bytes/event: files on disk after close (tickd: the sealed tick partitions + indexes; SQLite: the db
 *     file; PostgreSQL: pg_total_relation_size of the table with its index).
 *   queries (warm, median of repeats): 1m candles of one symbol over 30 days (11,700 rows), and every tick
 *     of one symbol in a 1-hour window, rows materialized in the client.
 *   columns: tickd's tick partitions taken apart block by block (store_internal.h header, then each column
 *     "varint raw_len, varint stored_len, bytes"): stored bytes per record of column #k, generically (the
 *     columns of a layout-2 tick block are listed at the top of src/store/ticks.c; an int column in
 *     bit-length coding takes two places, its raw low bits the second).
 *   tickd as it runs (skip with --no-engine): the same events through a td_engine whose on_event hook
 *     appends each event with its seq and whose emit callback appends NBBO, CANDLE and TRADE out records
 *     (main.c's wiring), fsync per batch (the node's default). Bytes of the whole store directory per
 *     input event and per stored record, records stored per input event, ingest by wall and by the CPU of
 *     the engine thread and of the writer apart. The main rows stay events-only: what the peers store.
 * At the end: one summary row per store per dataset, and tickd (--fsync batch) / peer ratios.
 * PostgreSQL runs as user postgres on a unix socket in a temp dir (no TCP), stopped by PID at the end.
 * SQLite and libpq are loaded with dlopen, so the build does not depend on them.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"
#include "core/symbols.h"
#include "engine/engine.h"
#include "feed/sim.h"
#include "store/store.h"
#include "store/store_internal.h"

#include "bench_util.h"

#define CHUNK 65536
#define NSYM_CANDLES 8
#define DAYS 30
#define DAY_NS (86400LL * TD_NS_PER_SEC)
#define MAX_COLS 32 /* columns per tick block counted apart; more would be lumped into the last */

static int64_t cpu_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * TD_NS_PER_SEC + ts.tv_nsec;
}

/* CPU of the store's own threads (writer, sealer) = process CPU minus the calling (producing) thread's */
typedef struct cpu_mark {
    int64_t wall, process, thread;
} cpu_mark_t;

static cpu_mark_t cpu_mark(void)
{
    return (cpu_mark_t){ td_mono_ns(), cpu_ns(CLOCK_PROCESS_CPUTIME_ID), cpu_ns(CLOCK_THREAD_CPUTIME_ID) };
}

static double store_cpu_s(cpu_mark_t a, cpu_mark_t b)
{
    return (double)((b.process - a.process) - (b.thread - a.thread)) / 1e9;
}

static uint64_t du(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return (uint64_t)st.st_size;
    uint64_t sum = 0;
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        sum += du(p);
    }
    if (d) closedir(d);
    return sum;
}

static void rm_rf(const char *path)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", path);
}

static td_sim_mode_t sim_mode = TD_SIM_ORDERS;

static const char *sim_mode_name(void)
{
    return sim_mode == TD_SIM_QUOTES ? "quotes" : sim_mode == TD_SIM_LEVELS ? "levels" : "orders";
}

typedef struct result {
    const char *store;
    double ev_s_cpu, ev_s_wall, ev_s_sealed, bytes_ev, q_candles_us, q_ticks_ms;
    uint64_t ticks_rows;
    bool ok, has_cpu, has_queries;
} result_t;

/* the dataset being measured: every store gets the same bytes, producing them is not timed */
static td_event_t *events;
static size_t nev;
static uint32_t q_sym;
static int64_t q_from_ns, q_to_ns, c_from_s, c_to_s, day0_s;

/* 30 trading days of 1m candles from 14:30 UTC, 390 a day, for symbols[0..8) */
static td_candle_t make_candle(int sym_i, int day, int minute)
{
    td_candle_t c;
    memset(&c, 0, sizeof c);
    c.time = day0_s + (int64_t)day * 86400 + 52200 + minute * 60;
    int64_t base = (int64_t)(100 + sym_i * 10) * TD_PX_SCALE + (int64_t)((day * 390 + minute) % 500) * 1000000;
    c.open = base;
    c.high = base + 5000000;
    c.low = base - 3000000;
    c.close = base + 1000000;
    c.volume = (td_vol_t)(1000 + minute) * 100 * TD_QTY_SCALE;
    c.trade_count = (uint64_t)(50 + minute % 17);
    return c;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double median(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    return (double)v[n / 2];
}

static void print_result(const result_t *r, const char *cpu_what, const char *extra)
{
    char cpu[32] = "     -";
    if (r->has_cpu) snprintf(cpu, sizeof cpu, "%6.2f", r->ev_s_cpu / 1e6);
    printf("  %-22s ingest %s M ev/s (%s) %6.2f M ev/s (wall)  %6.2f B/event  candles %7.0f us  "
           "1h ticks %7.1f ms (%llu rows)%s\n",
           r->store, cpu, cpu_what, r->ev_s_wall / 1e6, r->bytes_ev, r->q_candles_us, r->q_ticks_ms,
           (unsigned long long)r->ticks_rows, extra ? extra : "");
    fflush(stdout);
}

/* ---- tickd: column sizes of the tick partitions ---- */

typedef struct colstats {
    uint64_t blocks, records, header, index, bad;
    uint64_t stored[MAX_COLS], raw[MAX_COLS];
    int ncols;
} colstats_t;

static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

static void scan_blocks(const uint8_t *buf, size_t size, colstats_t *cs)
{
    td_blk_info_t info;
    for (size_t pos = 0; pos < size; pos += info.len) {
        if (td_blk_parse_header(buf + pos, size - pos, &info) != TD_OK) {
            cs->bad++;
            return;
        }
        if (info.kind != TD_BLK_TICKS) continue;
        const uint8_t *p = buf + pos + TD_BLK_HDR + (size_t)info.nexch * TD_BLK_EXCH_NAME, *end = buf + pos + info.len;
        cs->blocks++;
        cs->records += info.count;
        cs->header += (uint64_t)(p - (buf + pos));
        for (int k = 0; p < end; k++) {
            const uint8_t *col = p;
            uint64_t raw, stored;
            if (!get_varint(&p, end, &raw) || !get_varint(&p, end, &stored) || stored > (uint64_t)(end - p)) {
                cs->bad++;
                break;
            }
            p += stored;
            int slot = k < MAX_COLS ? k : MAX_COLS - 1;
            cs->stored[slot] += (uint64_t)(p - col); /* with its two length varints */
            cs->raw[slot] += raw;
            if (slot + 1 > cs->ncols) cs->ncols = slot + 1;
        }
    }
}

/* Every .tdb (blocks) and .tdi (index) file under dir. */
static void scan_columns(const char *dir, colstats_t *cs)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) != 0) continue;
        size_t nl = strlen(de->d_name);
        if (S_ISDIR(st.st_mode)) scan_columns(p, cs);
        else if (nl > 4 && !strcmp(de->d_name + nl - 4, ".tdi")) cs->index += (uint64_t)st.st_size;
        else if (nl > 4 && !strcmp(de->d_name + nl - 4, ".tdb") && st.st_size > 0) {
            FILE *f = fopen(p, "rb");
            uint8_t *buf = td_malloc((size_t)st.st_size);
            if (f && fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size) scan_blocks(buf, (size_t)st.st_size, cs);
            else cs->bad++;
            if (f) fclose(f);
            td_free(buf);
        }
    }
    if (d) closedir(d);
}

static void print_columns(const char *what, const colstats_t *cs)
{
    double n = cs->records ? (double)cs->records : 1.0, total = (double)(cs->header + cs->index);
    printf("    columns of %s, bytes per stored record (%llu records, %llu blocks; stored = compressed + the "
           "two length varints):\n      header+exchanges %.3f  index %.3f", what, (unsigned long long)cs->records,
           (unsigned long long)cs->blocks, (double)cs->header / n, (double)cs->index / n);
    for (int k = 0; k < cs->ncols; k++) {
        printf("%s#%d %.3f", k % 8 == 0 ? "\n      " : "  ", k, (double)cs->stored[k] / n);
        total += (double)cs->stored[k];
    }
    printf("\n      raw (before zstd):");
    for (int k = 0; k < cs->ncols; k++) printf("  #%d %.2f", k, (double)cs->raw[k] / n);
    printf("\n      total %.3f B/record%s\n", total / n, cs->bad ? "  (some blocks could not be parsed)" : "");
    fflush(stdout);
}

/* ---- tickd ---- */

/* Defaults, except retention: the default tick TTL (7 years) would drop the 2012 LOBSTER days at the first
 * retention pass (at writer start, so at the reopen). */
static void bench_store_options(td_store_options_t *o)
{
    td_store_options_default(o);
    o->tick_ttl_days = -1;
    o->retention_every_s = -1;
}

static void append_candles(td_store_t *s)
{
    for (int si = 0; si < NSYM_CANDLES; si++) {
        char nm[16];
        snprintf(nm, sizeof nm, "C%d", si);
        uint32_t sym = td_sym_intern(nm, strlen(nm));
        for (int d = 0; d < DAYS; d++)
            for (int m = 0; m < 390; m++) {
                td_out_t out;
                memset(&out, 0, sizeof out);
                out.type = TD_OUT_CANDLE;
                out.sym = sym;
                out.aux = TD_IV_1M;
                out.seq = (uint64_t)(d * 390 + m + 1);
                out.u.candle = make_candle(si, d, m);
                td_store_append_out(s, &out);
            }
    }
}

static result_t run_tickd(int fsync_ms, const char *label, bool columns)
{
    result_t r = { .store = label, .has_cpu = true, .has_queries = true };
    char dir[] = "/tmp/bench_store_XXXXXX";
    if (!mkdtemp(dir)) return r;
    td_store_options_t o;
    bench_store_options(&o);
    o.fsync_ms = fsync_ms;
    td_store_t *s;
    char err[256];
    if (td_store_open(dir, &o, &s, err, sizeof err) != TD_OK) {
        fprintf(stderr, "tickd store: %s\n", err);
        return r;
    }
    cpu_mark_t m0 = cpu_mark();
    for (size_t done = 0; done < nev;) {
        size_t n = nev - done < CHUNK ? nev - done : CHUNK;
        td_store_append(s, events + done, NULL, n);
        done += n;
    }
    td_store_sync(s);
    cpu_mark_t m1 = cpu_mark();
    r.ev_s_cpu = (double)nev / store_cpu_s(m0, m1);
    r.ev_s_wall = (double)nev / ((double)(m1.wall - m0.wall) / 1e9);
    const td_store_stats_t *st = td_store_stats(s);
    uint64_t fsyncs = atomic_load(&st->fsyncs), waits = atomic_load(&st->ring_waits),
             written = atomic_load(&st->blocks_written);
    td_store_close(s); /* seals the partitions still open: full blocks (the sealer thread) */
    r.ev_s_sealed = (double)nev / store_cpu_s(m0, cpu_mark());
    if (td_store_open(dir, &o, &s, err, sizeof err) != TD_OK) { /* a restart, for the candles */
        fprintf(stderr, "tickd store: reopen: %s\n", err);
        return r;
    }
    append_candles(s);
    td_store_close(s);
    td_store_verify_report_t vr;
    td_store_verify(dir, &vr, NULL, NULL);
    char p[256];
    snprintf(p, sizeof p, "%s/ticks", dir);
    r.bytes_ev = (double)du(p) / (double)nev;
    colstats_t cs;
    memset(&cs, 0, sizeof cs);
    if (columns) scan_columns(p, &cs);
    o.read_only = true;
    if (td_store_open(dir, &o, &s, err, sizeof err) != TD_OK) return r;
    uint32_t csym = td_sym_lookup("C3", 2);
    td_candle_t *cb = td_malloc(20000 * sizeof *cb);
    int64_t times[41];
    int got = 0;
    for (int i = 0; i < 41; i++) {
        int64_t a = td_mono_ns();
        got = td_store_candles(s, csym, TD_IV_1M, c_from_s, c_to_s, 0, cb, 20000);
        times[i] = td_mono_ns() - a;
    }
    r.q_candles_us = median(times, 41) / 1e3;
    if (got != 11700) fprintf(stderr, "tickd: candle query returned %d rows\n", got);
    td_store_tick_t *tb = td_malloc(4096 * sizeof *tb);
    for (int i = 0; i < 5; i++) {
        int64_t a = td_mono_ns();
        td_store_cursor_t *c;
        td_store_ticks_open(s, q_sym, q_from_ns, q_to_ns, 0, &c);
        uint64_t rows = 0;
        int n;
        while ((n = td_store_ticks_next(c, tb, 4096)) > 0) rows += (uint64_t)n;
        td_store_ticks_close(c);
        times[i] = td_mono_ns() - a;
        r.ticks_rows = rows;
    }
    r.q_ticks_ms = median(times, 5) / 1e6;
    td_store_close(s);
    td_free(cb);
    td_free(tb);
    char extra[160];
    snprintf(extra, sizeof extra, "  [sealed: %.2f M ev/s CPU; %llu blocks written, %llu after the seal in %llu "
             "partitions; %llu fsyncs, %llu ring waits]", r.ev_s_sealed / 1e6, (unsigned long long)written,
             (unsigned long long)vr.blocks, (unsigned long long)vr.partitions, (unsigned long long)fsyncs,
             (unsigned long long)waits);
    r.ok = true;
    print_result(&r, "store CPU", extra);
    if (columns) print_columns("the tick partitions", &cs);
    rm_rf(dir);
    return r;
}

/* ---- tickd as it runs: engine + store, derived records included ---- */

typedef struct engine_sink {
    td_store_t *store;
    uint64_t nbbo, candles, trades;
} engine_sink_t;

static void sink_event(void *ctx, const td_event_t *ev, uint64_t seq)
{
    engine_sink_t *k = ctx;
    td_store_append(k->store, ev, &seq, 1);
}

/* What main.c's store_on_out passes, trades included (stored where the store knows TD_SREC_TRADE). */
static void sink_out(void *ctx, const td_out_t *o)
{
    engine_sink_t *k = ctx;
    if (o->type == TD_OUT_NBBO) k->nbbo++;
    else if (o->type == TD_OUT_CANDLE) k->candles++;
    else if (o->type == TD_OUT_TRADE) k->trades++;
    else return;
    td_store_append_out(k->store, o);
}

static result_t run_engine(void)
{
    result_t r = { .store = "tickd + engine (batch)", .has_cpu = true };
    char dir[] = "/tmp/bench_store_XXXXXX";
    if (!mkdtemp(dir)) return r;
    td_store_options_t o;
    bench_store_options(&o);
    o.fsync_ms = TD_STORE_FSYNC_BATCH; /* the node's default --fsync */
    engine_sink_t sink = { 0 };
    char err[256];
    if (td_store_open(dir, &o, &sink.store, err, sizeof err) != TD_OK) {
        fprintf(stderr, "tickd store: %s\n", err);
        return r;
    }
    td_engine_config_t ecfg = { .emit = sink_out, .emit_ctx = &sink, .on_event = sink_event, .on_event_ctx = &sink };
    td_engine_t *e = td_engine_create(&ecfg);
    cpu_mark_t m0 = cpu_mark();
    for (size_t i = 0; i < nev; i += 256) { /* ring-sized batches, flushed about every ms, as the thread does */
        td_engine_apply_batch(e, events + i, nev - i < 256 ? nev - i : 256);
        if ((i & 8191) == 0) td_engine_flush(e);
    }
    td_engine_flush(e);
    td_store_sync(sink.store);
    cpu_mark_t m1 = cpu_mark();
    const td_store_stats_t *st = td_store_stats(sink.store);
    uint64_t stored = atomic_load(&st->appended), fsyncs = atomic_load(&st->fsyncs),
             waits = atomic_load(&st->ring_waits), blocks = atomic_load(&st->blocks_written),
             written = atomic_load(&st->bytes_written);
    td_store_close(sink.store);
    double engine_cpu = (double)(m1.thread - m0.thread) / 1e9, writer_cpu = store_cpu_s(m0, m1),
           sealed_cpu = store_cpu_s(m0, cpu_mark());
    td_engine_destroy(e);
    r.ev_s_cpu = (double)nev / (engine_cpu + writer_cpu);
    r.ev_s_sealed = (double)nev / (engine_cpu + sealed_cpu);
    r.ev_s_wall = (double)nev / ((double)(m1.wall - m0.wall) / 1e9);
    char p[256];
    snprintf(p, sizeof p, "%s/ticks", dir);
    uint64_t tick_bytes = du(p), all_bytes = du(dir);
    colstats_t cs;
    memset(&cs, 0, sizeof cs);
    scan_columns(p, &cs);
    r.bytes_ev = (double)all_bytes / (double)nev;
    /* what the store kept apart from the input events and the closed candles: NBBO, and trades if stored */
    uint64_t tick_recs = stored - sink.candles, trades_kept = tick_recs - nev - sink.nbbo;
    printf("  %-22s ingest %6.2f M ev/s (wall), engine thread %.2f s CPU (%.2f M ev/s), store threads %.2f s "
           "CPU (%.2f M ev/s; %.2f s with the seal at close); %.2f M ev/s per CPU-second of both\n",
           r.store, r.ev_s_wall / 1e6, engine_cpu, (double)nev / engine_cpu / 1e6, writer_cpu,
           (double)nev / writer_cpu / 1e6, sealed_cpu, r.ev_s_cpu / 1e6);
    printf("    writer: %llu fsyncs, %llu blocks / %llu bytes written before the seal at close, %llu ring waits\n",
           (unsigned long long)fsyncs, (unsigned long long)blocks, (unsigned long long)written,
           (unsigned long long)waits);
    printf("    out records passed: %llu NBBO, %llu candles, %llu trades; stored %llu records = %.3f per input "
           "event (%llu events + %llu NBBO + %llu trades + %llu candles)\n",
           (unsigned long long)sink.nbbo, (unsigned long long)sink.candles, (unsigned long long)sink.trades,
           (unsigned long long)stored, (double)stored / (double)nev, (unsigned long long)nev,
           (unsigned long long)sink.nbbo, (unsigned long long)trades_kept, (unsigned long long)sink.candles);
    printf("    on disk %llu bytes (ticks %llu, candles + state %llu): %.2f B per input event, %.2f B per stored "
           "record, ticks %.2f B per tick record\n",
           (unsigned long long)all_bytes, (unsigned long long)tick_bytes, (unsigned long long)(all_bytes - tick_bytes),
           r.bytes_ev, (double)all_bytes / (double)(stored ? stored : 1), (double)tick_bytes / (double)(tick_recs ? tick_recs : 1));
    print_columns("the tick partitions (events + NBBO + trades)", &cs);
    rm_rf(dir);
    r.ok = true;
    return r;
}

/* ---- SQLite ---- */

static struct {
    typeof(&sqlite3_open) open;
    typeof(&sqlite3_exec) exec;
    typeof(&sqlite3_prepare_v2) prepare;
    typeof(&sqlite3_bind_int64) bind;
    typeof(&sqlite3_step) step;
    typeof(&sqlite3_reset) reset;
    typeof(&sqlite3_finalize) finalize;
    typeof(&sqlite3_close) close;
    typeof(&sqlite3_column_int64) col;
    typeof(&sqlite3_errmsg) errmsg;
} sq;

static bool sqlite_load(void)
{
    void *h = dlopen("libsqlite3.so.0", RTLD_NOW);
    if (!h) return false;
#define LD(f, n) (sq.f = (typeof(sq.f))dlsym(h, n))
    return LD(open, "sqlite3_open") && LD(exec, "sqlite3_exec") && LD(prepare, "sqlite3_prepare_v2") &&
           LD(bind, "sqlite3_bind_int64") && LD(step, "sqlite3_step") && LD(reset, "sqlite3_reset") &&
           LD(finalize, "sqlite3_finalize") && LD(close, "sqlite3_close") && LD(col, "sqlite3_column_int64") &&
           LD(errmsg, "sqlite3_errmsg");
#undef LD
}

static void sq_exec(sqlite3 *db, const char *sql)
{
    char *e = NULL;
    if (sq.exec(db, sql, NULL, NULL, &e) != SQLITE_OK) fprintf(stderr, "sqlite: %s: %s\n", sql, e ? e : "?");
}

static void row_values(const td_event_t *ev, int64_t v[13])
{
    int64_t w[4];
    memcpy(w, &ev->u, sizeof w);
    v[0] = ev->sym;
    v[1] = ev->exch_ns;
    v[2] = ev->recv_ns;
    v[3] = ev->type;
    v[4] = ev->side;
    v[5] = ev->exch;
    v[6] = ev->flags;
    v[7] = (int64_t)ev->src_seq;
    v[8] = 0;
    for (int i = 0; i < 4; i++) v[9 + i] = w[i];
}

static result_t run_sqlite(void)
{
    result_t r = { .store = "SQLite (WAL, FULL)", .has_cpu = true, .has_queries = true };
    if (!sqlite_load()) {
        printf("  SQLite: libsqlite3.so.0 not found (apt-get install libsqlite3-0)\n");
        return r;
    }
    char dir[] = "/tmp/bench_sqlite_XXXXXX";
    if (!mkdtemp(dir)) return r;
    char path[256];
    snprintf(path, sizeof path, "%s/ticks.db", dir);
    sqlite3 *db;
    sq.open(path, &db);
    sq_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    sq_exec(db, "CREATE TABLE ticks(sym INTEGER, ts INTEGER, recv INTEGER, type INTEGER, side INTEGER, exch INTEGER,"
                " flags INTEGER, src_seq INTEGER, seq INTEGER, a INTEGER, b INTEGER, c INTEGER, d INTEGER);"
                "CREATE INDEX ticks_sym_ts ON ticks(sym, ts);"
                "CREATE TABLE candles(sym INTEGER, iv INTEGER, time INTEGER, open INTEGER, high INTEGER, low INTEGER,"
                " close INTEGER, volume INTEGER, trades INTEGER, PRIMARY KEY(sym, iv, time)) WITHOUT ROWID;");
    sqlite3_stmt *ins;
    sq.prepare(db, "INSERT INTO ticks VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &ins, NULL);
    int64_t w0 = td_mono_ns(), cpu = 0;
    for (size_t done = 0; done < nev;) {
        size_t n = nev - done < CHUNK ? nev - done : CHUNK;
        const td_event_t *buf = events + done;
        int64_t c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
        sq_exec(db, "BEGIN");
        for (size_t i = 0; i < n; i++) {
            int64_t v[13];
            row_values(&buf[i], v);
            for (int k = 0; k < 13; k++) sq.bind(ins, k + 1, v[k]);
            sq.step(ins);
            sq.reset(ins);
        }
        sq_exec(db, "COMMIT");
        cpu += cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
        done += n;
    }
    int64_t wall = td_mono_ns() - w0;
    sq.finalize(ins);
    r.ev_s_cpu = (double)nev / ((double)cpu / 1e9);
    r.ev_s_wall = (double)nev / ((double)wall / 1e9);
    sq.prepare(db, "INSERT INTO candles VALUES(?,1,?,?,?,?,?,?,?)", -1, &ins, NULL);
    sq_exec(db, "BEGIN");
    for (int si = 0; si < NSYM_CANDLES; si++)
        for (int d = 0; d < DAYS; d++)
            for (int m = 0; m < 390; m++) {
                td_candle_t c = make_candle(si, d, m);
                int64_t v[8] = { si, c.time, c.open, c.high, c.low, c.close, (int64_t)c.volume, (int64_t)c.trade_count };
                for (int k = 0; k < 8; k++) sq.bind(ins, k + 1, v[k]);
                sq.step(ins);
                sq.reset(ins);
            }
    sq_exec(db, "COMMIT");
    sq.finalize(ins);
    sq_exec(db, "PRAGMA wal_checkpoint(TRUNCATE);");
    /* the ticks table and its index: the whole file minus the candles' share is not separable cheaply, so
     * the candles are small on purpose (94k rows); the figure includes them */
    r.bytes_ev = (double)du(path) / (double)nev;
    int64_t times[41];
    sqlite3_stmt *q;
    sq.prepare(db, "SELECT time,open,high,low,close,volume,trades FROM candles WHERE sym=3 AND iv=1 AND time BETWEEN ? AND ?"
                   " ORDER BY time", -1, &q, NULL);
    int rows = 0;
    for (int i = 0; i < 41; i++) {
        int64_t a = td_mono_ns();
        sq.bind(q, 1, c_from_s);
        sq.bind(q, 2, c_to_s);
        rows = 0;
        int64_t sink = 0;
        while (sq.step(q) == SQLITE_ROW) {
            for (int k = 0; k < 7; k++) sink += sq.col(q, k);
            rows++;
        }
        sq.reset(q);
        times[i] = td_mono_ns() - a;
        if (sink == 42) printf(" ");
    }
    sq.finalize(q);
    r.q_candles_us = median(times, 41) / 1e3;
    if (rows != 11700) fprintf(stderr, "sqlite: candle query returned %d rows\n", rows);
    sq.prepare(db, "SELECT * FROM ticks WHERE sym=? AND ts BETWEEN ? AND ?", -1, &q, NULL);
    for (int i = 0; i < 3; i++) {
        int64_t a = td_mono_ns();
        sq.bind(q, 1, q_sym);
        sq.bind(q, 2, q_from_ns);
        sq.bind(q, 3, q_to_ns);
        uint64_t n = 0;
        int64_t sink = 0;
        while (sq.step(q) == SQLITE_ROW) {
            for (int k = 0; k < 13; k++) sink += sq.col(q, k);
            n++;
        }
        sq.reset(q);
        times[i] = td_mono_ns() - a;
        r.ticks_rows = n;
        if (sink == 42) printf(" ");
    }
    sq.finalize(q);
    r.q_ticks_ms = median(times, 3) / 1e6;
    sq.close(db);
    r.ok = true;
    print_result(&r, "thread CPU", NULL);
    rm_rf(dir);
    return r;
}

/* ---- PostgreSQL ---- */

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
static struct {
    PGconn *(*connectdb)(const char *);
    int (*status)(const PGconn *);
    char *(*errmsg)(const PGconn *);
    PGresult *(*exec)(PGconn *, const char *);
    int (*rstatus)(const PGresult *);
    void (*clear)(PGresult *);
    int (*put)(PGconn *, const char *, int);
    int (*end)(PGconn *, const char *);
    PGresult *(*getresult)(PGconn *);
    void (*finish)(PGconn *);
    int (*ntuples)(const PGresult *);
    char *(*getvalue)(const PGresult *, int, int);
} pq;

static bool pq_load(void)
{
    void *h = dlopen("libpq.so.5", RTLD_NOW);
    if (!h) return false;
#define LD(f, n) (*(void **)&pq.f = dlsym(h, n))
    return LD(connectdb, "PQconnectdb") && LD(status, "PQstatus") && LD(errmsg, "PQerrorMessage") &&
           LD(exec, "PQexec") && LD(rstatus, "PQresultStatus") && LD(clear, "PQclear") &&
           LD(put, "PQputCopyData") && LD(end, "PQputCopyEnd") && LD(getresult, "PQgetResult") &&
           LD(finish, "PQfinish") && LD(ntuples, "PQntuples") && LD(getvalue, "PQgetvalue");
#undef LD
}

static bool pg_ok(PGconn *c, PGresult *res, const char *what)
{
    int st = pq.rstatus(res);
    bool ok = st == 1 /* COMMAND_OK */ || st == 2 /* TUPLES_OK */ || st == 4 /* COPY_IN */;
    if (!ok) fprintf(stderr, "postgres: %s: %s", what, pq.errmsg(c));
    return ok;
}

static void pg_cmd(PGconn *c, const char *sql)
{
    PGresult *res = pq.exec(c, sql);
    pg_ok(c, res, sql);
    pq.clear(res);
}

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static result_t run_pg(void)
{
    result_t r = { .store = "PostgreSQL 15 (COPY)", .has_queries = true };
    const char *bin = "/usr/lib/postgresql/15/bin";
    if (!pq_load() || access("/usr/lib/postgresql/15/bin/postgres", X_OK) != 0) {
        printf("  PostgreSQL: not available (apt-get install postgresql libpq5)\n");
        return r;
    }
    char dir[] = "/tmp/bench_pg_XXXXXX";
    if (!mkdtemp(dir)) return r;
    char cmd[2048], sock[300], data[300];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(sock, sizeof sock, "%s/sock", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && chown -R postgres %s && runuser -u postgres -- %s/initdb -A trust -D %s "
                              ">%s/initdb.log 2>&1", sock, dir, bin, data, dir);
    if (sh(cmd) != 0) {
        printf("  PostgreSQL: initdb failed (see %s/initdb.log)\n", dir);
        return r;
    }
    snprintf(cmd, sizeof cmd, "runuser -u postgres -- %s/pg_ctl -D %s -l %s/server.log -w -o \"-k %s -c listen_addresses='' "
                              "-c shared_buffers=256MB -c max_wal_size=4GB -c synchronous_commit=on\" start >/dev/null",
             bin, data, dir, sock);
    if (sh(cmd) != 0) {
        printf("  PostgreSQL: server did not start (see %s/server.log)\n", dir);
        return r;
    }
    char conninfo[400];
    snprintf(conninfo, sizeof conninfo, "host=%s user=postgres dbname=postgres", sock);
    PGconn *c = pq.connectdb(conninfo);
    if (pq.status(c) != 0) {
        fprintf(stderr, "postgres: connect: %s", pq.errmsg(c));
        goto stop;
    }
    pg_cmd(c, "CREATE TABLE ticks(sym int, ts bigint, recv bigint, type smallint, side smallint, exch smallint, "
              "flags smallint, src_seq bigint, seq bigint, a bigint, b bigint, c bigint, d bigint);"
              "CREATE INDEX ticks_sym_ts ON ticks USING btree (sym, ts);"
              "CREATE TABLE candles(sym int, iv smallint, time bigint, open bigint, high bigint, low bigint, "
              "close bigint, volume numeric, trades bigint, PRIMARY KEY(sym, iv, time));");
    char *line = td_malloc((size_t)CHUNK * 256);
    int64_t w0 = td_mono_ns();
    for (size_t done = 0; done < nev;) {
        size_t n = nev - done < CHUNK ? nev - done : CHUNK;
        const td_event_t *buf = events + done;
        PGresult *res = pq.exec(c, "COPY ticks FROM STDIN");
        bool ok = pg_ok(c, res, "COPY");
        pq.clear(res);
        if (!ok) break;
        size_t len = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t v[13];
            row_values(&buf[i], v);
            len += (size_t)snprintf(line + len, 256, "%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\n",
                                    (long long)v[0], (long long)v[1], (long long)v[2], (long long)v[3], (long long)v[4],
                                    (long long)v[5], (long long)v[6], (long long)v[7], (long long)v[8], (long long)v[9],
                                    (long long)v[10], (long long)v[11], (long long)v[12]);
        }
        pq.put(c, line, (int)len);
        pq.end(c, NULL);
        while ((res = pq.getresult(c)) != NULL) {
            pg_ok(c, res, "COPY end");
            pq.clear(res);
        }
        done += n;
    }
    int64_t wall = td_mono_ns() - w0;
    r.ev_s_wall = (double)nev / ((double)wall / 1e9);
    {
        size_t len = 0;
        PGresult *res = pq.exec(c, "COPY candles FROM STDIN");
        pq.clear(res);
        for (int si = 0; si < NSYM_CANDLES; si++)
            for (int d = 0; d < DAYS; d++)
                for (int m = 0; m < 390; m++) {
                    td_candle_t k = make_candle(si, d, m);
                    len += (size_t)snprintf(line + len, 256, "%d\t1\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%llu\n", si,
                                            (long long)k.time, (long long)k.open, (long long)k.high, (long long)k.low,
                                            (long long)k.close, (long long)k.volume, (unsigned long long)k.trade_count);
                }
        pq.put(c, line, (int)len);
        pq.end(c, NULL);
        while ((res = pq.getresult(c)) != NULL) pq.clear(res);
    }
    pg_cmd(c, "VACUUM ANALYZE ticks");
    pg_cmd(c, "VACUUM ANALYZE candles");
    pg_cmd(c, "CHECKPOINT");
    PGresult *res = pq.exec(c, "SELECT pg_total_relation_size('ticks')");
    if (pg_ok(c, res, "size") && pq.ntuples(res) == 1) r.bytes_ev = atof(pq.getvalue(res, 0, 0)) / (double)nev;
    pq.clear(res);
    char sql[512];
    int64_t times[41];
    snprintf(sql, sizeof sql, "SELECT time,open,high,low,close,volume,trades FROM candles WHERE sym=3 AND iv=1 AND "
                              "time BETWEEN %lld AND %lld ORDER BY time", (long long)c_from_s, (long long)c_to_s);
    int rows = 0;
    for (int i = 0; i < 41; i++) {
        int64_t a = td_mono_ns();
        res = pq.exec(c, sql);
        rows = pq.ntuples(res);
        pq.clear(res);
        times[i] = td_mono_ns() - a;
    }
    r.q_candles_us = median(times, 41) / 1e3;
    if (rows != 11700) fprintf(stderr, "postgres: candle query returned %d rows\n", rows);
    snprintf(sql, sizeof sql, "SELECT * FROM ticks WHERE sym=%u AND ts BETWEEN %lld AND %lld", q_sym,
             (long long)q_from_ns, (long long)q_to_ns);
    for (int i = 0; i < 3; i++) {
        int64_t a = td_mono_ns();
        res = pq.exec(c, sql);
        r.ticks_rows = (uint64_t)pq.ntuples(res);
        pq.clear(res);
        times[i] = td_mono_ns() - a;
    }
    r.q_ticks_ms = median(times, 3) / 1e6;
    td_free(line);
    r.ok = true;
    print_result(&r, "server", NULL);
stop:
    pq.finish(c);
    {
        /* stop the server by its PID (postmaster.pid line 1), fast shutdown, and wait for it */
        char pidf[400];
        snprintf(pidf, sizeof pidf, "%s/postmaster.pid", data);
        FILE *f = fopen(pidf, "r");
        long pid = 0;
        if (f && fscanf(f, "%ld", &pid) == 1 && pid > 1) {
            kill((pid_t)pid, SIGINT);
            for (int i = 0; i < 300 && kill((pid_t)pid, 0) == 0; i++) usleep(100000);
        }
        if (f) fclose(f);
    }
    rm_rf(dir);
    return r;
}

/* ---- datasets ---- */

static bool load_sim(void)
{
    td_sim_config_t cfg;
    td_sim_config_default(&cfg);
    cfg.mode = sim_mode;
    cfg.rate = 2000;
    cfg.seed = 42;
    char err[256];
    td_sim_t *sim = td_sim_create(&cfg, err, sizeof err);
    if (!sim) {
        fprintf(stderr, "bench_store: sim: %s\n", err);
        return false;
    }
    events = td_malloc(nev * sizeof *events);
    for (size_t done = 0; done < nev;) {
        size_t n = nev - done < CHUNK ? nev - done : CHUNK;
        td_sim_generate(sim, events + done, n);
        done += n;
    }
    td_sim_destroy(sim);
    /* the 1-hour window: AAPL from 10% into the stream (less if the stream is shorter) */
    q_sym = td_sym_lookup("AAPL", 4);
    int64_t span = events[nev - 1].exch_ns - events[0].exch_ns;
    q_from_ns = events[0].exch_ns + span / 10;
    q_to_ns = q_from_ns + (span * 8 / 10 < 3600 * TD_NS_PER_SEC ? span * 8 / 10 : 3600 * TD_NS_PER_SEC) - 1;
    printf("dataset sim: %zu simulator events (seed 42, 8 symbols, 3 exchanges, mode %s), spanning %.0f s of "
           "exchange time\n  1h query: AAPL ticks over %.0f s from 10%% in\n", nev, sim_mode_name(),
           (double)span / 1e9, (double)(q_to_ns - q_from_ns + 1) / 1e9);
    return true;
}

/* The deepest file pair of each stock, merged in exchange-time order, looped a calendar day per round. */
static bool load_lobster(void)
{
    static const char *const files[2][2] = { { "GOOG", "10" }, { "AMZN", "5" } };
    const char *data = bench_shared_data();
    td_event_t *part[2] = { NULL, NULL };
    size_t npart[2] = { 0, 0 };
    for (int k = 0; k < 2; k++) {
        char spec[2400];
        snprintf(spec, sizeof spec, "lobster:%s/lobster/%s_2012-06-21_34200000_57600000_message_%s.csv,"
                 "%s/lobster/%s_2012-06-21_34200000_57600000_orderbook_%s.csv", data, files[k][0], files[k][1],
                 data, files[k][0], files[k][1]);
        part[k] = bench_load_source("bench_store", spec, (size_t)1 << 30, &npart[k]);
        if (!part[k] || npart[k] == 0) {
            fprintf(stderr, "bench_store: no LOBSTER events from %s (set TD_SHARED_DATA)\n", spec);
            free(part[0]);
            free(part[1]);
            return false;
        }
    }
    size_t nbase = npart[0] + npart[1];
    td_event_t *base = bench_merge_by_time(part[0], npart[0], part[1], npart[1]);
    free(part[0]);
    free(part[1]);
    events = td_malloc(nev * sizeof *events);
    bench_loop_events(base, nbase, events, nev, DAY_NS);
    /* the 1-hour window: GOOG 12:00-13:00 EDT (16:00 UTC) of the middle day */
    size_t rounds = (nev + nbase - 1) / nbase;
    int64_t day = base[0].exch_ns / DAY_NS * DAY_NS + (int64_t)((rounds - 1) / 2) * DAY_NS;
    q_sym = td_sym_lookup("GOOG", 4);
    q_from_ns = day + 16 * 3600 * TD_NS_PER_SEC;
    q_to_ns = q_from_ns + 3600 * TD_NS_PER_SEC - 1;
    char d0[16], dq[16];
    td_store_day_name(base[0].exch_ns / DAY_NS, d0);
    td_store_day_name(day / DAY_NS, dq);
    printf("dataset lobster: %zu events = GOOG level 10 (%zu) + AMZN level 5 (%zu) of %s, merged by exchange time "
           "(%zu a day), looped %.2f times\n  round k = %s + k days (own UTC-day partition), order ids + (k << 40), "
           "src_seq continuing; recv_ns left 0 as the file source produced it (a backfill has no receive time)\n"
           "  1h query: GOOG ticks 12:00-13:00 ET of %s (day %zu of %zu)\n",
           nev, npart[0], npart[1], d0, nbase, (double)nev / (double)nbase, d0, dq, (rounds - 1) / 2 + 1, rounds);
    free(base);
    return true;
}

/* ---- summary ---- */

#define MAX_ROWS 8

typedef struct dataset_run {
    const char *name;
    result_t r[MAX_ROWS];
    int n;
} dataset_run_t;

static void print_summary(const dataset_run_t *runs, int nruns)
{
    printf("\nsummary (ingest CPU: M events per CPU-second of the store's threads for tickd, of the inserting thread "
           "for SQLite, of the engine thread + the store's threads for tickd + engine; CPU sealed: the same up to a "
           "closed store, the compaction at close included; PostgreSQL: wall only; queries: warm medians; tickd + "
           "engine B/event: the whole store directory, derived records included)\n");
    printf("  %-8s %-24s %11s %11s %12s %8s %11s %12s %9s\n", "dataset", "store", "ingest CPU", "CPU sealed",
           "ingest wall", "B/event", "candles us", "1h ticks ms", "rows");
    for (int d = 0; d < nruns; d++)
        for (int i = 0; i < runs[d].n; i++) {
            const result_t *r = &runs[d].r[i];
            if (!r->ok) continue;
            char cpu[32] = "-", sealed[32] = "-", cq[32] = "-", tq[32] = "-", rows[32] = "-";
            if (r->has_cpu) snprintf(cpu, sizeof cpu, "%.2f M/s", r->ev_s_cpu / 1e6);
            if (r->ev_s_sealed > 0) snprintf(sealed, sizeof sealed, "%.2f M/s", r->ev_s_sealed / 1e6);
            if (r->has_queries) {
                snprintf(cq, sizeof cq, "%.0f", r->q_candles_us);
                snprintf(tq, sizeof tq, "%.1f", r->q_ticks_ms);
                snprintf(rows, sizeof rows, "%llu", (unsigned long long)r->ticks_rows);
            }
            printf("  %-8s %-24s %11s %11s %10.2f M/s %8.2f %11s %12s %9s\n", runs[d].name, r->store, cpu, sealed,
                   r->ev_s_wall / 1e6, r->bytes_ev, cq, tq, rows);
        }
    printf("ratios tickd (--fsync batch) / peer (ingest: > 1 = tickd faster; size and query time: < 1 = tickd "
           "smaller / faster)\n");
    for (int d = 0; d < nruns; d++) {
        const result_t *t = NULL;
        for (int i = 0; i < runs[d].n; i++)
            if (runs[d].r[i].ok && strstr(runs[d].r[i].store, "batch") && runs[d].r[i].has_queries) t = &runs[d].r[i];
        if (!t) continue;
        for (int i = 0; i < runs[d].n; i++) {
            const result_t *p = &runs[d].r[i];
            if (!p->ok || strncmp(p->store, "tickd", 5) == 0) continue;
            char cpu[48] = "";
            if (p->has_cpu) snprintf(cpu, sizeof cpu, "%.1fx (CPU) ", t->ev_s_cpu / p->ev_s_cpu);
            printf("  %-8s vs %-22s ingest %s%.1fx (wall)  size %.3f  candles %.3f  1h ticks %.3f\n", runs[d].name,
                   p->store, cpu, t->ev_s_wall / p->ev_s_wall, t->bytes_ev / p->bytes_ev,
                   t->q_candles_us / p->q_candles_us, t->q_ticks_ms / p->q_ticks_ms);
        }
    }
}

static void print_load(const char *when)
{
    double l1 = 0, l5 = 0, l15 = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) == 3)
        printf("machine load %s (1/5/15 min): %.2f %.2f %.2f on %ld cores\n", when, l1, l5, l15,
               sysconf(_SC_NPROCESSORS_ONLN));
    if (f) fclose(f);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_store [EVENTS] [--data sim|lobster] [--mode orders|levels|quotes] [--no-pg] "
               "[--no-sqlite] [--no-engine]\n"
               "  EVENTS       events per dataset (default 10000000)\n"
               "  --data       one dataset only (default: sim, then lobster)\n"
               "  --mode       the simulator's rendering (default orders)\n"
               "  --no-pg, --no-sqlite   skip a peer;  --no-engine   skip the tickd + engine run\n"
               "  LOBSTER samples are read from $TD_SHARED_DATA/lobster (default ../shared/data/lobster)\n");
}

int main(int argc, char **argv)
{
    nev = 10000000;
    bool pg = true, sqlite = true, engine = true, want_sim = true, want_lobster = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-pg")) pg = false;
        else if (!strcmp(a, "--no-sqlite")) sqlite = false;
        else if (!strcmp(a, "--no-engine")) engine = false;
        else if (!strcmp(a, "--mode") && v && (!strcmp(v, "orders") || !strcmp(v, "levels") || !strcmp(v, "quotes"))) {
            sim_mode = !strcmp(v, "quotes") ? TD_SIM_QUOTES : !strcmp(v, "levels") ? TD_SIM_LEVELS : TD_SIM_ORDERS;
            i++;
        } else if (!strcmp(a, "--data") && v && (!strcmp(v, "sim") || !strcmp(v, "lobster"))) {
            want_sim = !strcmp(v, "sim");
            want_lobster = !want_sim;
            i++;
        } else if (a[0] >= '1' && a[0] <= '9' && strspn(a, "0123456789") == strlen(a) && strlen(a) < 12)
            nev = (size_t)strtoull(a, NULL, 10);
        else {
            fprintf(stderr, "bench_store: bad argument '%s'%s\n", a,
                    !strcmp(a, "--mode") || !strcmp(a, "--data") ? " (missing or unknown value)" : "");
            usage(stderr);
            return 2;
        }
    }
    td_log_min_level = TD_LOG_WARN;
    day0_s = 1706745600; /* 2024-02-01 */
    c_from_s = day0_s;
    c_to_s = day0_s + DAYS * 86400LL - 1;
    printf("bench_store: %zu events per dataset into every store; candles: 30 days x 390 1m candles x 8 symbols "
           "(C3 queried, 11,700 rows)\n", nev);
    print_load("at start");
    dataset_run_t runs[2];
    int nruns = 0;
    for (int d = 0; d < 2; d++) {
        if (!(d == 0 ? want_sim : want_lobster)) continue;
        printf("\n");
        if (!(d == 0 ? load_sim() : load_lobster())) return 1; /* a dataset asked for and not there: an error */
        dataset_run_t *run = &runs[nruns++];
        run->name = d == 0 ? "sim" : "lobster";
        run->n = 0;
        run->r[run->n++] = run_tickd(TD_STORE_FSYNC_OFF, "tickd (--fsync off)", true);
        run->r[run->n++] = run_tickd(TD_STORE_FSYNC_BATCH, "tickd (--fsync batch)", false);
        if (engine) run->r[run->n++] = run_engine();
        if (sqlite) run->r[run->n++] = run_sqlite();
        if (pg) run->r[run->n++] = run_pg();
        td_free(events);
        events = NULL;
    }
    print_summary(runs, nruns);
    printf("targets: >= 5 M events/s/core ingest, <= 6 bytes/event, candle query < 1 ms\n");
    print_load("at end");
    return nruns > 0 ? 0 : 1;
}
