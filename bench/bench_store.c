/*
 * bench_store.c: tickd's embedded store beside SQLite and PostgreSQL 15 on the same events, same machine.
 *
 *   bench_store [EVENTS] [--no-pg] [--no-sqlite] [--mode orders|levels|quotes]   (default 10,000,000 orders)
 *
 * Data: the simulator (feed/sim.h, seed 42, 8 symbols x 3 exchanges, order-level, rate 2,000 events/s of
 * exchange time so the stream spans ~1.4 h). (The LOBSTER feed is not on this branch yet; when it is, loop
 * its samples through the same code.) Candles: 30 trading days x 390 1m candles for each of 8 symbols
 * (11,700 per symbol), for the candle query.
 *
 * Figures:
 *   ingest events/s: tickd by the writer thread's CPU time (process CPU minus the generating thread: the
 *     machine is shared, wall time is distorted) and by wall time; SQLite by the inserting thread's CPU time
 *     (generation excluded) and wall; PostgreSQL by wall time only (the work is in the server process).
 *   bytes/event: files on disk after close (tickd: sealed partitions + indexes; SQLite: the db file;
 *     PostgreSQL: pg_total_relation_size of the table with its index).
 *   queries (warm, median of repeats): 1m candles of one symbol over 30 days (11,700 rows), and every tick
 *     of one symbol in a 1-hour window, rows materialized in the client.
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
#include "feed/sim.h"
#include "store/store.h"

#define CHUNK 65536
#define NSYM_CANDLES 8
#define DAYS 30

static int64_t cpu_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * TD_NS_PER_SEC + ts.tv_nsec;
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

static td_sim_t *make_sim(void)
{
    td_sim_config_t cfg;
    td_sim_config_default(&cfg);
    cfg.mode = sim_mode;
    cfg.rate = 2000;
    cfg.seed = 42;
    char err[256];
    td_sim_t *s = td_sim_create(&cfg, err, sizeof err);
    if (!s) {
        fprintf(stderr, "sim: %s\n", err);
        exit(1);
    }
    return s;
}

typedef struct result {
    double ev_s_cpu, ev_s_wall, bytes_ev, q_candles_us, q_ticks_ms;
    uint64_t ticks_rows;
    bool ok;
} result_t;

static td_event_t *events; /* generated once: every store gets the same bytes, generation is not timed */
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

/* ---- tickd ---- */

static result_t run_tickd(size_t nev, int fsync_ms, const char *label)
{
    result_t r = { 0 };
    char dir[] = "/tmp/bench_store_XXXXXX";
    if (!mkdtemp(dir)) return r;
    td_store_options_t o;
    td_store_options_default(&o);
    o.fsync_ms = fsync_ms;
    td_store_t *s;
    char err[256];
    if (td_store_open(dir, &o, &s, err, sizeof err) != TD_OK) {
        fprintf(stderr, "tickd store: %s\n", err);
        return r;
    }
    int64_t w0 = td_mono_ns(), p0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID), t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    for (size_t done = 0; done < nev;) {
        size_t n = nev - done < CHUNK ? nev - done : CHUNK;
        td_store_append(s, events + done, NULL, n);
        done += n;
    }
    td_store_sync(s);
    int64_t w1 = td_mono_ns(), p1 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID), t1 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    double writer_cpu = (double)((p1 - p0) - (t1 - t0)) / 1e9;
    r.ev_s_cpu = (double)nev / writer_cpu;
    r.ev_s_wall = (double)nev / ((double)(w1 - w0) / 1e9);
    /* candles */
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
    td_store_close(s); /* seals: full blocks */
    td_store_verify_report_t vr;
    td_store_verify(dir, &vr, NULL, NULL);
    uint64_t bytes = 0;
    char p[256];
    snprintf(p, sizeof p, "%s/ticks", dir);
    bytes = du(p);
    r.bytes_ev = (double)bytes / (double)nev;
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
    printf("  %-22s ingest %6.2f M ev/s (writer CPU) %6.2f M ev/s (wall)  %5.2f B/event  candles %7.0f us  "
           "1h ticks %7.1f ms (%llu rows)  [%llu blocks in %llu partitions]\n",
           label, r.ev_s_cpu / 1e6, r.ev_s_wall / 1e6, r.bytes_ev, r.q_candles_us, r.q_ticks_ms,
           (unsigned long long)r.ticks_rows, (unsigned long long)vr.blocks, (unsigned long long)vr.partitions);
    fflush(stdout);
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

static result_t run_sqlite(size_t nev)
{
    result_t r = { 0 };
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
    int64_t w0 = td_mono_ns(), cpu = 0, gen_wall = 0;
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
    int64_t wall = td_mono_ns() - w0 - gen_wall;
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
    printf("  %-22s ingest %6.2f M ev/s (thread CPU) %6.2f M ev/s (wall)  %5.2f B/event  candles %7.0f us  "
           "1h ticks %7.1f ms (%llu rows)\n",
           "SQLite (WAL, FULL)", r.ev_s_cpu / 1e6, r.ev_s_wall / 1e6, r.bytes_ev, r.q_candles_us, r.q_ticks_ms,
           (unsigned long long)r.ticks_rows);
    fflush(stdout);
    rm_rf(dir);
    r.ok = true;
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

static result_t run_pg(size_t nev)
{
    result_t r = { 0 };
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
    int64_t w0 = td_mono_ns(), gen_wall = 0;
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
    int64_t wall = td_mono_ns() - w0 - gen_wall;
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
    printf("  %-22s ingest %6s   (server process)  %6.2f M ev/s (wall)  %5.2f B/event  candles %7.0f us  "
           "1h ticks %7.1f ms (%llu rows)\n",
           "PostgreSQL 15 (COPY)", "-", r.ev_s_wall / 1e6, r.bytes_ev, r.q_candles_us, r.q_ticks_ms,
           (unsigned long long)r.ticks_rows);
    fflush(stdout);
    r.ok = true;
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

int main(int argc, char **argv)
{
    size_t nev = 10000000;
    bool pg = true, sqlite = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-pg")) pg = false;
        else if (!strcmp(argv[i], "--no-sqlite")) sqlite = false;
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            i++;
            sim_mode = !strcmp(argv[i], "quotes") ? TD_SIM_QUOTES : !strcmp(argv[i], "levels") ? TD_SIM_LEVELS : TD_SIM_ORDERS;
        }
        else nev = (size_t)strtoull(argv[i], NULL, 10);
    }
    td_log_min_level = TD_LOG_WARN;
    td_sim_t *sim = make_sim();
    events = td_malloc(nev * sizeof *events);
    for (size_t done = 0; done < nev;) {
        size_t n = nev - done < CHUNK ? nev - done : CHUNK;
        td_sim_generate(sim, events + done, n);
        done += n;
    }
    td_sim_destroy(sim);
    /* the query windows: one hour of AAPL from 10% into the stream (less if the stream is shorter) */
    q_sym = td_sym_lookup("AAPL", 4);
    int64_t span = events[nev - 1].exch_ns - events[0].exch_ns;
    q_from_ns = events[0].exch_ns + span / 10;
    q_to_ns = q_from_ns + (span * 8 / 10 < 3600 * TD_NS_PER_SEC ? span * 8 / 10 : 3600 * TD_NS_PER_SEC) - 1;
    day0_s = 1706745600; /* 2024-02-01 */
    c_from_s = day0_s;
    c_to_s = day0_s + DAYS * 86400LL - 1;
    printf("bench_store: %zu simulator events (8 symbols, 3 exchanges, mode %s), 30 days x 390 1m candles x 8 "
           "symbols\n", nev, sim_mode == TD_SIM_QUOTES ? "quotes" : sim_mode == TD_SIM_LEVELS ? "levels" : "orders");
    printf("  stream spans %.0f s of exchange time; query windows: AAPL ticks over %.0f s from 10%% in; C3 1m candles "
           "over 30 days (11,700 rows)\n", (double)(events[nev - 1].exch_ns - events[0].exch_ns) / 1e9,
           (double)(q_to_ns - q_from_ns + 1) / 1e9);
    run_tickd(nev, TD_STORE_FSYNC_OFF, "tickd (--fsync off)");
    run_tickd(nev, TD_STORE_FSYNC_BATCH, "tickd (--fsync batch)");
    if (sqlite) run_sqlite(nev);
    if (pg) run_pg(nev);
    printf("targets: >= 5 M events/s/core ingest, <= 6 bytes/event, candle query < 1 ms\n");
    td_free(events);
    return 0;
}
