/*
 * store.c: the embedded tick and candle store (store.h is the contract).
 *
 * Layout helpers, the state record and verify are in store_layout.c; the block codec in block.c (header,
 * candles, tick layout 1) and ticks.c (tick layout 2, the order model); partition files (scan, recovery,
 * sealing, the reader's index) in part.c.
 *
 * == Files ==
 *   DIR/ticks/YYYY-MM-DD.tdb (+ .tdi)        every stored event of that UTC day (by exch_ns)
 *   DIR/candles/IV/YYYY-MM-DD.tdb (+ .tdi)    closed candles of interval IV (1s .. 1h) of that UTC day
 *   DIR/candles/IV/YYYY.tdb (+ .tdi)          closed 1d / 1w candles of that year
 *   DIR/state.tds                             engine state log (last price, day stats, open candles, seq)
 *   DIR/LOCK                                  flock'ed by the one writer process
 * A partition is a sequence of self-checking blocks (block.c: columns, zstd, crc32) and a derived index
 * (part.c). Each block holds one symbol's records in engine order; the block header is the index entry.
 * Closed partitions are sealed by a maintenance thread: each symbol's runs of small blocks re-cut to full size
 * (fewer, larger blocks: smaller on disk, fewer reads for a query); full blocks are copied as they are.
 *
 * == Writer ==
 * The producer (engine thread) copies records into a bounded SPSC ring; when the ring is full it waits and
 * counts the wait (store.h: the engine never blocks silently). One writer thread drains the ring into
 * per-symbol buffers, cuts a block when a symbol has block_events records or changes day, and at every
 * flush encodes every pending buffer, appends the blocks of each partition with one write, appends their
 * index entries, appends the engine state of the symbols touched (at most once a second each), and then
 * fsyncs as the policy says. Flushes happen: with --fsync batch, whenever the ring runs dry (group commit:
 * records that arrive during an fsync make the next batch); with --fsync N, every N ms; with --fsync off,
 * every flush_ms (1 s); always when buffers hit their caps, on td_store_sync() and at close.
 *
 * == What survives what ==
 *   stats.written counts records whose blocks were written (write(2) returned): they survive kill -9 of
 *   tickd (the page cache belongs to the kernel). stats.synced counts records fsynced: they survive power
 *   loss and kernel crashes.
 *     --fsync batch: a record is synced when the flush that holds it returns; loss on power failure is at
 *                    most the batch being written. kill -9 loses the ring and the unflushed buffers.
 *     --fsync N:     kill -9 loses at most the last N ms (plus the ring); power loss the last N ms plus
 *                    the flush in progress.
 *     --fsync off:   kill -9 loses at most flush_ms (1 s) plus the ring; power loss loses what the kernel
 *                    had not written back (Linux: up to ~30 s, dirty_expire_centisecs).
 *   Whatever is lost is lost as a suffix per symbol: each symbol's stored records are always a prefix of
 *   what was appended for it (blocks are written in order, torn tails are cut at open).
 *
 * == Recovery ==
 * Before the writer appends to a partition (the newest ones at open, any other when first touched) it scans
 * it: every block whose header parses and whose checksum holds is kept; damaged regions in the middle are
 * skipped (readers never see them; verify reports them); a torn tail is truncated; the index is rebuilt from
 * the data. What was dropped is logged and counted (recovered_blocks_dropped / _bytes_dropped).
 *
 * == Readers ==
 * Queries open partitions through a small cache (pinned while used); an index is re-read as the file grows
 * and replaced when the file was sealed (new inode). Every block is checked (crc) and decoded with bounds
 * checks; a bad block is counted (corrupt_blocks), logged rate-limited and skipped, never returned.
 *
 * == Visible seq ==
 * visible[sym] (store.h td_store_visible_seq): raised at the end of a flush in which no write failed (checked
 * against stats.write_errors since the previous flush, and no stage left behind), to the largest seq the writer
 * has taken for sym, and never for a symbol that lost records to a failed block (symw_t.lost). Published before
 * stats.written, so td_store_make_visible() returning implies the new values. Initialised at open from the index
 * entries of the three newest tick partitions.
 *
 * == Restart ==
 * The state log holds, per symbol name, the engine snapshot of the last flush. At start the engine gets it
 * back (td_store_restore_state) with seq advanced by TD_STORE_SEQ_RESTART_GAP past the larger of the logged
 * seq and the newest stored block's seq, and without the open candles whose window the store already holds
 * as closed (no candle is emitted twice).
 *
 * Threading: see store.h. The writer thread owns everything under "writer state"; readers share the
 * partition cache under `mu`; the maintenance thread takes partitions to seal from a queue under `maint_mu`
 * (only partitions the writer has closed; the writer takes one back before appending to it).
 */
#include "store/store.h"

#include <dirent.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"
#include "core/ring.h"
#include "core/symbols.h"
#include "store/part.h"
#include "store/store_internal.h"

#define NOSYM_NAME TD_STORE_NOSYM_NAME
#define MAX_PW 16          /* partitions open for appending */
#define MAX_PARTS 64       /* partitions open for reading */
#define STAGE_MAX (16u << 20)
#define BUFFERED_MAX (1u << 20) /* records buffered in the writer at most */

enum { REC_EVENT = 1, REC_CANDLE = 2 };

typedef struct rec {
    td_event_t ev;   /* candle: sym, exch_ns = time, recv_ns = trade_count, src_seq = volume low, u.quote = OHLC */
    uint64_t seq;
    uint64_t vol_hi;
    uint8_t kind, iv;
    uint8_t pad[6];
} rec_t;

typedef struct cvec {
    td_blk_candle_t *c;
    uint32_t n, cap;
} cvec_t;

typedef struct symw {
    td_blk_tick_t *recs;
    uint32_t n, cap;
    int64_t day;
    uint64_t max_seq;
    int64_t last_state_ns;
    int64_t state_pair;  /* slot pair in state.tds (-1: not assigned yet) */
    uint64_t state_next_gen; /* generation of the next state record */
    bool active;
    bool lost;           /* records of this symbol were dropped (a block failed): its visible seq stops */
    cvec_t candles[TD_IV_COUNT];
} symw_t;

typedef struct pw {
    bool used, created, dirty;
    uint8_t kind, iv;
    int64_t key;
    int fd, ifd;
    uint64_t size, isize;
    uint8_t *stage, *istage;
    size_t stage_n, stage_cap, istage_n, istage_cap;
    uint64_t last_use;
    uint64_t small_bytes; /* bytes of blocks below block_events written since it was opened */
} pw_t;

typedef struct state_ent {
    char name[TD_SYM_NAME_MAX + 1];
    uint8_t rec[TD_STATE_REC];
} state_ent_t;

/* The last closed candles per (symbol, interval) as the producer appended them: the merge for REST reads them
 * so a candle closed a moment ago but not yet flushed leaves no hole (flushes are at most flush_ms apart). */
#define RECENT 8
typedef struct recent {
    td_candle_t c[TD_IV_COUNT][RECENT];
    uint8_t n[TD_IV_COUNT], next[TD_IV_COUNT];
} recent_t;

typedef struct keylist {
    int64_t *keys;
    size_t n;
    uint64_t created_seen;  /* s->parts_created when listed */
    int64_t listed_ns;
    struct timespec mtime[2]; /* hot, cold directory */
    bool valid;
} keylist_t;

struct td_store {
    char dir[TD_PART_PATH_MAX / 2];
    td_store_options_t opt;
    td_store_stats_t st;
    int lock_fd;
    /* producer <-> writer */
    td_spsc_t *ring;
    pthread_t thread;
    bool running;
    _Atomic bool stop;
    _Atomic uint64_t sync_req;
    _Atomic uint64_t visible_req; /* readers: flush (no fsync) up to this record count */
    _Atomic uint64_t parts_created; /* bumped by the writer: in-process readers re-list their directories */
    /* per symbol (TD_SYM_MAX + 1): every record with seq <= visible[sym] is readable (store.h
     * td_store_visible_seq); raised by the writer after a clean flush, read lock-free by anyone */
    _Atomic uint64_t *visible;
    /* writer state */
    symw_t **syms;
    uint32_t *active;
    uint32_t nactive;
    pw_t pws[MAX_PW];
    uint64_t pw_clock;
    td_blk_scratch_t wscratch;
    uint64_t drained, buffered, staged;
    uint64_t errors_at_flush; /* stats.write_errors when the last flush published the visible seqs */
    int64_t next_flush_ns, last_fsync_ns, next_retention_ns;
    int64_t newest_key[2][TD_IV_COUNT]; /* [kind-1][iv] */
    /* sealing: a maintenance thread compacts partitions the writer has closed, so a midnight rollover does not
     * stall the writer; the writer waits only if it must append to the one partition being sealed */
    pthread_t maint;
    bool maint_running, maint_stop;
    pthread_mutex_t maint_mu;
    pthread_cond_t maint_cv;
    int64_t (*to_seal)[3];   /* queue (under maint_mu) */
    int nseal, seal_cap;
    int64_t sealing[3];      /* the partition being sealed (under maint_mu); kind 0 = none */
    int64_t (*touched)[3];   /* partitions appended to by this process: compacted at close */
    int ntouched, touched_cap;
    int state_fd;
    int64_t state_pairs; /* slot pairs allocated in state.tds */
    /* state log as loaded at open (for restore) */
    state_ent_t *states;
    size_t nstates;
    /* recently closed candles (producer writes, readers copy; both under recent_mu) */
    pthread_mutex_t recent_mu;
    recent_t **recent;
    /* readers */
    pthread_mutex_t mu;
    td_part_t *parts[MAX_PARTS];
    int nparts;
    uint64_t use_clock;
    keylist_t keys[2][TD_IV_COUNT];
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static const char *sym_name_of(uint32_t sym) { return sym ? td_sym_name(sym) : NOSYM_NAME; }

static uint32_t sym_of_name(const char *name)
{
    if (strcmp(name, NOSYM_NAME) == 0) return 0;
    return td_sym_intern(name, strlen(name));
}

/* ---- options ---- */

void td_store_options_default(td_store_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->fsync_ms = TD_STORE_FSYNC_BATCH;
    o->flush_ms = 1000;
    o->ring_capacity = 1u << 16;
    o->tick_ttl_days = TD_STORE_DEFAULT_TICK_TTL_DAYS;
    o->zstd_level = 1;
    o->block_events = TD_STORE_BLOCK_EVENTS;
    o->retention_every_s = 3600;
    o->compact_min_bytes = 16ll << 20;
}

int td_store_set_retention(td_store_options_t *o, int tick_ttl_days, const char *candle_ttl, const char *cold_dir,
                           int cold_after_days, char *err, size_t errlen)
{
    if (tick_ttl_days) o->tick_ttl_days = tick_ttl_days;
    const char *p = candle_ttl ? candle_ttl : "";
    for (bool more = *p != '\0'; more;) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        td_interval_t iv;
        char *end = NULL;
        long days = eq ? strtol(eq + 1, &end, 10) : 0;
        bool forever = eq && (size_t)(p + len - (eq + 1)) == 7 && !strncmp(eq + 1, "forever", 7);
        if (!eq || td_interval_parse(p, (size_t)(eq - p), &iv) != TD_OK ||
            (!forever && (end != p + len || days < 1 || days > 3660000))) {
            snprintf(err, errlen, "--candle-ttl: expected IV=DAYS|forever[,...] with IV one of 1s 10s 1m 5m 15m 1h 1d 1w, "
                     "got '%.*s'", (int)len, p);
            return TD_EINVAL;
        }
        o->candle_ttl_days[iv] = forever ? 0 : (int)days;
        p += len;
        more = *p == ',';
        if (more) p++; /* and then an item must follow */
    }
    if (cold_dir && cold_dir[0]) {
        if (strlen(cold_dir) >= sizeof o->cold_dir) {
            snprintf(err, errlen, "--cold-dir: path too long");
            return TD_EINVAL;
        }
        snprintf(o->cold_dir, sizeof o->cold_dir, "%s", cold_dir);
        o->cold_after_days = cold_after_days > 0 ? cold_after_days : 30;
    }
    return TD_OK;
}

const td_store_stats_t *td_store_stats(const td_store_t *s) { return &s->st; }

uint64_t td_store_visible_seq(const td_store_t *s, uint32_t sym)
{
    return sym <= TD_SYM_MAX ? atomic_load_explicit(&s->visible[sym], memory_order_acquire) : 0;
}

size_t td_store_backlog(const td_store_t *s) { return s->ring ? td_spsc_size(s->ring) : 0; }

#define STAT_ADD(s, f, n) atomic_fetch_add_explicit(&(s)->st.f, (n), memory_order_relaxed)
/* appended has one writer (the producer): a relaxed load + store, no locked read-modify-write per event */
#define APPENDED_ADD(s, n)                                                                                  \
    atomic_store_explicit(&(s)->st.appended,                                                            \
                          atomic_load_explicit(&(s)->st.appended, memory_order_relaxed) + (n), memory_order_relaxed)

/* ---- state log ---- */

static state_ent_t *state_find(td_store_t *s, const char *name)
{
    for (size_t i = 0; i < s->nstates; i++)
        if (strcmp(s->states[i].name, name) == 0) return &s->states[i];
    return NULL;
}

typedef struct state_loader {
    td_store_t *s;
    size_t cap;
    uint64_t bad;
} state_loader_t;

static void state_load_rec(void *ctx, uint64_t off, const uint8_t *rec, const char *name)
{
    state_loader_t *l = ctx;
    td_store_t *s = l->s;
    (void)off;
    if (!name) {
        l->bad++;
        return;
    }
    state_ent_t *e = state_find(s, name);
    if (e && td_store_state_gen(e->rec) > td_store_state_gen(rec)) return; /* the pair's other slot is newer */
    if (!e) {
        if (s->nstates == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 64;
            s->states = td_realloc(s->states, l->cap * sizeof *s->states);
        }
        e = &s->states[s->nstates++];
        memcpy(e->name, name, sizeof e->name);
    }
    memcpy(e->rec, rec, TD_STATE_REC);
}

/* Loads the state log (latest record per symbol wins) and, for a writer, rewrites it compacted. */
static int state_load(td_store_t *s)
{
    char path[TD_PART_PATH_MAX];
    snprintf(path, sizeof path, "%s/state.tds", s->dir);
    state_loader_t l = { s, 0, 0 };
    uint64_t torn = 0;
    int rc = td_store_state_scan(path, state_load_rec, &l, &torn);
    if (rc == TD_OK && (l.bad || torn))
        td_log_warn("store", "%s: %llu damaged state records skipped, %llu torn bytes", path,
                    (unsigned long long)l.bad, (unsigned long long)torn);
    if (rc != TD_OK && rc != -ENOENT) return rc;
    if (s->opt.read_only) return TD_OK;
    char tmp[TD_PART_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    static const uint8_t empty[TD_STATE_REC];
    for (size_t i = 0; i < s->nstates; i++)
        if (write(fd, s->states[i].rec, TD_STATE_REC) != (ssize_t)TD_STATE_REC || write(fd, empty, TD_STATE_REC) != (ssize_t)TD_STATE_REC) {
            close(fd);
            return TD_EIO;
        }
    if (fdatasync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) return TD_EIO;
    s->state_fd = open(path, O_WRONLY | O_CLOEXEC);
    if (s->state_fd < 0) return -errno;
    s->state_pairs = (int64_t)s->nstates;
    return TD_OK;
}

/* ---- partition writers (writer thread) ---- */

static void pw_write_stage(td_store_t *s, pw_t *w)
{
    if (w->stage_n) {
        int rc = TD_OK;
        uint64_t off = w->size;
        const uint8_t *p = w->stage;
        size_t left = w->stage_n;
        while (left) {
            ssize_t n = pwrite(w->fd, p, left, (off_t)off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                rc = TD_EIO;
                break;
            }
            p += n;
            left -= (size_t)n;
            off += (uint64_t)n;
        }
        if (rc != TD_OK) {
            STAT_ADD(s, write_errors, 1);
            TD_LOG_RATELIMITED(TD_LOG_ERROR, "store", 1, "write to a partition failed: %s; will retry",
                               strerror(errno));
            if (ftruncate(w->fd, (off_t)w->size) != 0) { /* keep the file a whole number of blocks */
            }
            return;
        }
        STAT_ADD(s, bytes_written, w->stage_n);
        w->size += w->stage_n;
        w->stage_n = 0;
        w->dirty = true;
    }
    if (w->istage_n) {
        ssize_t n = pwrite(w->ifd, w->istage, w->istage_n, (off_t)w->isize);
        if (n == (ssize_t)w->istage_n) w->isize += w->istage_n;
        else STAT_ADD(s, write_errors, 1); /* the index is rebuilt from the data at the next open */
        w->istage_n = 0;
    }
}

static void pw_sync(td_store_t *s, pw_t *w)
{
    if (!w->dirty) return;
    if (fdatasync(w->fd) != 0 || fdatasync(w->ifd) != 0) {
        STAT_ADD(s, write_errors, 1);
        td_log_error("store", "fdatasync failed: %s", strerror(errno));
    }
    if (w->created) {
        char d[TD_PART_PATH_MAX];
        td_store_kind_dir(s->dir, w->kind, w->iv, d, sizeof d);
        td_store_fsync_dir(d);
        w->created = false;
    }
    w->dirty = false;
    STAT_ADD(s, fsyncs, 1);
}

static void add_key(int64_t (**arr)[3], int *n, int *cap, int kind, int iv, int64_t key)
{
    for (int i = 0; i < *n; i++)
        if ((*arr)[i][0] == kind && (*arr)[i][1] == iv && (*arr)[i][2] == key) return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        *arr = td_realloc(*arr, (size_t)*cap * sizeof **arr);
    }
    (*arr)[*n][0] = kind;
    (*arr)[*n][1] = iv;
    (*arr)[*n][2] = key;
    (*n)++;
}

static void schedule_seal(td_store_t *s, int kind, int iv, int64_t key)
{
    pthread_mutex_lock(&s->maint_mu);
    add_key(&s->to_seal, &s->nseal, &s->seal_cap, kind, iv, key);
    pthread_cond_broadcast(&s->maint_cv);
    pthread_mutex_unlock(&s->maint_mu);
}

/* The writer is about to append to (kind, iv, key): take it off the sealing queue, wait if it is being
 * sealed right now (late data for yesterday at midnight: rare). */
static void claim_from_sealer(td_store_t *s, int kind, int iv, int64_t key)
{
    pthread_mutex_lock(&s->maint_mu);
    for (int i = 0; i < s->nseal; i++)
        if (s->to_seal[i][0] == kind && s->to_seal[i][1] == iv && s->to_seal[i][2] == key) {
            memmove(&s->to_seal[i], &s->to_seal[i + 1], (size_t)(s->nseal - i - 1) * sizeof *s->to_seal);
            s->nseal--;
            break;
        }
    while (s->sealing[0] == kind && s->sealing[1] == iv && s->sealing[2] == key)
        pthread_cond_wait(&s->maint_cv, &s->maint_mu);
    pthread_mutex_unlock(&s->maint_mu);
}

static void *maint_main(void *arg)
{
    td_store_t *s = arg;
    pthread_mutex_lock(&s->maint_mu);
    for (;;) {
        while (s->nseal == 0 && !s->maint_stop) pthread_cond_wait(&s->maint_cv, &s->maint_mu);
        if (s->nseal == 0) break; /* stopping, queue drained */
        memcpy(s->sealing, s->to_seal[0], sizeof s->sealing);
        memmove(&s->to_seal[0], &s->to_seal[1], (size_t)(s->nseal - 1) * sizeof *s->to_seal);
        s->nseal--;
        pthread_mutex_unlock(&s->maint_mu);
        char data[TD_PART_PATH_MAX], idx[TD_PART_PATH_MAX];
        td_store_part_paths(s->dir, (int)s->sealing[0], (int)s->sealing[1], s->sealing[2], data, idx);
        bool changed = false;
        int64_t t0 = td_mono_ns();
        int rc = td_part_seal(data, idx, s->opt.zstd_level, s->opt.block_events, &changed, &s->mu);
        if (rc != TD_OK) td_log_error("store", "%s: sealing failed: %s", data, strerror(-rc));
        else if (changed)
            td_log_info("store", "%s: sealed in %.1f ms", data, (double)(td_mono_ns() - t0) / 1e6);
        pthread_mutex_lock(&s->maint_mu);
        s->sealing[0] = 0;
        pthread_cond_broadcast(&s->maint_cv);
    }
    pthread_mutex_unlock(&s->maint_mu);
    return NULL;
}

static void pw_close(td_store_t *s, pw_t *w, bool do_sync)
{
    if (!w->used) return;
    pw_write_stage(s, w);
    if (do_sync) pw_sync(s, w);
    close(w->fd);
    close(w->ifd);
    td_free(w->stage);
    td_free(w->istage);
    if (w->key < s->newest_key[w->kind - 1][w->iv]) schedule_seal(s, w->kind, w->iv, w->key);
    memset(w, 0, sizeof *w);
}

static void recover_part(td_store_t *s, const char *data, const char *idx)
{
    td_part_recovery_t rep;
    int rc = td_part_recover(data, idx, &rep);
    if (rc != TD_OK) {
        td_log_error("store", "%s: recovery failed: %s", data, strerror(-rc));
        return;
    }
    if (rep.bad_regions || rep.truncated_bytes) {
        STAT_ADD(s, recovered_blocks_dropped, rep.bad_regions);
        STAT_ADD(s, recovered_bytes_dropped, rep.bad_bytes);
        td_log_warn("store", "%s: recovered: kept %llu blocks, dropped %llu damaged regions (%llu bytes, of "
                             "which %llu torn tail)",
                    data, (unsigned long long)rep.blocks, (unsigned long long)rep.bad_regions,
                    (unsigned long long)rep.bad_bytes, (unsigned long long)rep.truncated_bytes);
    }
}

static pw_t *pw_get(td_store_t *s, int kind, int iv, int64_t key)
{
    pw_t *free_slot = NULL, *lru = NULL;
    for (int i = 0; i < MAX_PW; i++) {
        pw_t *w = &s->pws[i];
        if (w->used && w->kind == kind && w->iv == iv && w->key == key) {
            w->last_use = ++s->pw_clock;
            return w;
        }
        if (!w->used && !free_slot) free_slot = w;
        if (w->used && (!lru || w->last_use < lru->last_use)) lru = w;
    }
    if (!free_slot) {
        pw_close(s, lru, s->opt.fsync_ms != TD_STORE_FSYNC_OFF);
        free_slot = lru;
    }
    char d[TD_PART_PATH_MAX], data[TD_PART_PATH_MAX], idx[TD_PART_PATH_MAX];
    td_store_kind_dir(s->dir, kind, iv, d, sizeof d);
    if (td_store_mkdirs(d) != TD_OK) {
        td_log_error("store", "cannot create %s: %s", d, strerror(errno));
        return NULL;
    }
    td_store_part_paths(s->dir, kind, iv, key, data, idx);
    claim_from_sealer(s, kind, iv, key);
    struct stat st;
    bool exists = stat(data, &st) == 0;
    if (exists) recover_part(s, data, idx);
    pw_t *w = free_slot;
    memset(w, 0, sizeof *w);
    w->fd = open(data, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    w->ifd = w->fd >= 0 ? open(idx, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
    if (w->fd < 0 || w->ifd < 0) {
        td_log_error("store", "cannot open %s: %s", data, strerror(errno));
        if (w->fd >= 0) close(w->fd);
        return NULL;
    }
    struct stat a, b;
    fstat(w->fd, &a);
    fstat(w->ifd, &b);
    w->size = (uint64_t)a.st_size;
    w->isize = (uint64_t)b.st_size / TD_IDX_ENTRY * TD_IDX_ENTRY;
    if (!exists) w->isize = 0;
    add_key(&s->touched, &s->ntouched, &s->touched_cap, kind, iv, key);
    w->used = true;
    w->created = !exists;
    if (!exists) atomic_fetch_add_explicit(&s->parts_created, 1, memory_order_release);
    w->kind = (uint8_t)kind;
    w->iv = (uint8_t)iv;
    w->key = key;
    w->last_use = ++s->pw_clock;
    int64_t *newest = &s->newest_key[kind - 1][iv];
    if (key > *newest) {
        /* a new newest partition: the previous ones stop receiving live data and get sealed */
        int64_t old = *newest;
        *newest = key;
        for (int i = 0; i < MAX_PW; i++) {
            pw_t *o = &s->pws[i];
            if (o != w && o->used && o->kind == kind && o->iv == iv && o->key < key) pw_close(s, o, true);
        }
        if (old != INT64_MIN) schedule_seal(s, kind, iv, old);
    }
    return w;
}

static void stage_block(td_store_t *s, pw_t *w, const uint8_t *blk, size_t len)
{
    if (w->stage_n + len > w->stage_cap) {
        size_t c = w->stage_cap ? w->stage_cap : 65536;
        while (c < w->stage_n + len) c *= 2;
        w->stage = td_realloc(w->stage, c);
        w->stage_cap = c;
    }
    td_idx_entry_t e;
    e.offset = w->size + w->stage_n;
    td_blk_parse_header(blk, len, &e.info);
    memcpy(w->stage + w->stage_n, blk, len);
    w->stage_n += len;
    if (w->istage_n + TD_IDX_ENTRY > w->istage_cap) {
        size_t c = w->istage_cap ? w->istage_cap * 2 : 4096;
        w->istage = td_realloc(w->istage, c);
        w->istage_cap = c;
    }
    td_idx_encode(&e, w->istage + w->istage_n);
    w->istage_n += TD_IDX_ENTRY;
    if (e.info.count < s->opt.block_events) w->small_bytes += len;
    s->staged += len;
    STAT_ADD(s, blocks_written, 1);
}

static void cut_ticks(td_store_t *s, uint32_t sym, symw_t *b)
{
    if (!b->n) return;
    pw_t *w = pw_get(s, TD_BLK_TICKS, 0, b->day);
    int len = TD_EIO;
    if (w) len = td_blk_encode_ticks(&s->wscratch, sym_name_of(sym), b->recs, b->n, s->opt.zstd_level);
    if (len > 0) stage_block(s, w, s->wscratch.out, (size_t)len);
    else {
        STAT_ADD(s, write_errors, 1);
        b->lost = true; /* these records are gone: the visible seq must never pass them */
        TD_LOG_RATELIMITED(TD_LOG_ERROR, "store", 1, "%s: %u events could not be stored: %s", sym_name_of(sym),
                           b->n, td_strerror(len));
    }
    s->buffered -= b->n;
    b->n = 0;
}

static void cut_candles(td_store_t *s, uint32_t sym, symw_t *b, int iv)
{
    cvec_t *v = &b->candles[iv];
    uint32_t start = 0;
    while (start < v->n) {
        int64_t key = td_store_candle_key((td_interval_t)iv, v->c[start].c.time);
        uint32_t end = start + 1;
        while (end < v->n && td_store_candle_key((td_interval_t)iv, v->c[end].c.time) == key) end++;
        pw_t *w = pw_get(s, TD_BLK_CANDLES, iv, key);
        int len = w ? td_blk_encode_candles(&s->wscratch, sym_name_of(sym), (td_interval_t)iv, v->c + start,
                                            end - start, s->opt.zstd_level)
                    : TD_EIO;
        if (len > 0) stage_block(s, w, s->wscratch.out, (size_t)len);
        else STAT_ADD(s, write_errors, 1);
        start = end;
    }
    s->buffered -= v->n;
    v->n = 0;
}

static symw_t *symw_get(td_store_t *s, uint32_t sym)
{
    symw_t *b = s->syms[sym];
    if (!b) {
        b = s->syms[sym] = td_calloc(1, sizeof *b);
        b->state_pair = -1;
    }
    if (!b->active) {
        b->active = true;
        s->active[s->nactive++] = sym;
    }
    return b;
}

static void route(td_store_t *s, const rec_t *r)
{
    uint32_t sym = r->ev.sym <= TD_SYM_MAX ? r->ev.sym : 0;
    symw_t *b = symw_get(s, sym);
    if (r->seq > b->max_seq) b->max_seq = r->seq;
    if (r->kind == REC_CANDLE) {
        if (r->iv >= TD_IV_COUNT) return;
        cvec_t *v = &b->candles[r->iv];
        if (v->n == v->cap) {
            v->cap = v->cap ? v->cap * 2 : 16;
            v->c = td_realloc(v->c, v->cap * sizeof *v->c);
        }
        td_blk_candle_t *c = &v->c[v->n++];
        c->c.time = r->ev.exch_ns;
        c->c.open = r->ev.u.quote.bid_px;
        c->c.high = r->ev.u.quote.bid_qty;
        c->c.low = r->ev.u.quote.ask_px;
        c->c.close = r->ev.u.quote.ask_qty;
        c->c.volume = (td_vol_t)(((unsigned __int128)r->vol_hi << 64) | r->ev.src_seq);
        c->c.trade_count = (uint64_t)r->ev.recv_ns;
        c->seq = r->seq;
        s->buffered++;
        if (v->n >= s->opt.block_events) cut_candles(s, sym, b, r->iv);
        return;
    }
    int64_t day = td_store_part_day(r->ev.exch_ns);
    if (b->n && b->day != day) cut_ticks(s, sym, b);
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        if (b->cap > s->opt.block_events) b->cap = s->opt.block_events;
        b->recs = td_realloc(b->recs, b->cap * sizeof *b->recs);
    }
    b->day = day;
    b->recs[b->n].ev = r->ev;
    b->recs[b->n].ev.sym = sym;
    b->recs[b->n].seq = r->seq;
    b->n++;
    s->buffered++;
    if (b->n >= s->opt.block_events) cut_ticks(s, sym, b);
}

static void write_states(td_store_t *s, bool force, int64_t now)
{
    if (!s->opt.state_fn || s->state_fd < 0) return;
    for (uint32_t i = 0; i < s->nactive; i++) {
        uint32_t sym = s->active[i];
        symw_t *b = s->syms[sym];
        if (sym == 0 || (!force && now - b->last_state_ns < TD_NS_PER_SEC)) continue;
        td_sym_snap_t sn;
        if (!s->opt.state_fn(s->opt.state_ctx, sym, &sn)) continue;
        if (b->max_seq > sn.seq) sn.seq = b->max_seq;
        b->last_state_ns = now;
        if (b->state_pair < 0) {
            const state_ent_t *e = state_find(s, td_sym_name(sym));
            if (e) {
                b->state_pair = e - s->states;
                b->state_next_gen = td_store_state_gen(e->rec) + 1;
            } else {
                b->state_pair = s->state_pairs++;
                b->state_next_gen = 1;
            }
        }
        uint8_t rec[TD_STATE_REC];
        td_store_state_encode(td_sym_name(sym), &sn, b->state_next_gen, rec);
        off_t off = (off_t)((b->state_pair * 2 + (int64_t)(b->state_next_gen & 1)) * TD_STATE_REC);
        if (pwrite(s->state_fd, rec, TD_STATE_REC, off) != (ssize_t)TD_STATE_REC) STAT_ADD(s, write_errors, 1);
        b->state_next_gen++;
        b->active = false; /* its state is taken: it leaves the active list until it changes again */
    }
}

/* Open partitions whose small blocks (one per symbol per flush under --fsync batch and a slow feed) reached
 * compact_min_bytes and half the file are compacted now, in the writer, like a seal (td_part_seal: full blocks
 * copied, runs of small ones merged; readers switch files under s->mu); the next append reopens them. Only
 * the newest partition of its kind: an older one is sealed by the maintenance thread when closed. The writer
 * pauses for the rewrite (the ring takes the engine's records meanwhile); the cost is at most twice the small
 * bytes written, since at least half the file must be small blocks. */
static void compact_open(td_store_t *s)
{
    if (s->opt.compact_min_bytes < 0) return;
    for (int i = 0; i < MAX_PW; i++) {
        pw_t *w = &s->pws[i];
        if (!w->used || w->small_bytes < (uint64_t)s->opt.compact_min_bytes || w->small_bytes * 2 < w->size ||
            w->key < s->newest_key[w->kind - 1][w->iv])
            continue;
        int kind = w->kind, iv = w->iv;
        int64_t key = w->key;
        uint64_t before = w->size;
        pw_close(s, w, false);
        char data[TD_PART_PATH_MAX], idx[TD_PART_PATH_MAX];
        td_store_part_paths(s->dir, kind, iv, key, data, idx);
        bool changed = false;
        int64_t t0 = td_mono_ns();
        int rc = td_part_seal(data, idx, s->opt.zstd_level, s->opt.block_events, &changed, &s->mu);
        struct stat st;
        if (rc != TD_OK) {
            td_log_error("store", "%s: compacting the open partition failed: %s", data, strerror(-rc));
        } else if (changed) {
            STAT_ADD(s, compactions, 1);
            td_log_info("store", "%s: compacted the open partition, %llu -> %llu bytes in %.1f ms", data,
                        (unsigned long long)before, stat(data, &st) == 0 ? (unsigned long long)st.st_size : 0ull,
                        (double)(td_mono_ns() - t0) / 1e6);
        }
    }
}

/* Writes everything buffered; fsyncs per the policy (or when forced). */
static void flush_all(td_store_t *s, bool force_sync)
{
    int64_t now = td_mono_ns();
    uint64_t upto = s->drained;
    for (uint32_t i = 0; i < s->nactive; i++) {
        uint32_t sym = s->active[i];
        symw_t *b = s->syms[sym];
        cut_ticks(s, sym, b);
        for (int iv = 0; iv < TD_IV_COUNT; iv++)
            if (b->candles[iv].n) cut_candles(s, sym, b, iv);
    }
    /* oldest partition first: a symbol's records reach the disk in order across a midnight, so what a
     * crash leaves is a prefix of each symbol's stream */
    pw_t *order[MAX_PW];
    int no = 0;
    for (int i = 0; i < MAX_PW; i++)
        if (s->pws[i].used) {
            int j = no++;
            while (j > 0 && (order[j - 1]->key > s->pws[i].key)) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = &s->pws[i];
        }
    for (int i = 0; i < no; i++) pw_write_stage(s, order[i]);
    s->staged = 0;
    /* Visible seqs: every record drained so far is in the files now, unless a write failed (its stage is
     * kept for the next flush) or a block was dropped. Each symbol's records were appended in seq order, so
     * after a clean flush everything of sym at or below b->max_seq is readable. Every symbol touched since
     * the last flush is still in the active list here. Published before stats.written, so a reader that saw
     * td_store_make_visible() return sees the new values. */
    uint64_t errors = atomic_load_explicit(&s->st.write_errors, memory_order_relaxed);
    bool clean = errors == s->errors_at_flush; /* none since the previous flush ended, this one included */
    for (int i = 0; i < MAX_PW && clean; i++)
        if (s->pws[i].used && (s->pws[i].stage_n || s->pws[i].istage_n)) clean = false;
    for (uint32_t i = 0; i < s->nactive && clean; i++) {
        uint32_t sym = s->active[i];
        const symw_t *b = s->syms[sym];
        if (!b->lost && b->max_seq > atomic_load_explicit(&s->visible[sym], memory_order_relaxed))
            atomic_store_explicit(&s->visible[sym], b->max_seq, memory_order_release);
    }
    write_states(s, force_sync, now);
    /* symbols whose state was not due stay in the active list for the next flush */
    uint32_t keep = 0;
    for (uint32_t i = 0; i < s->nactive; i++)
        if (s->syms[s->active[i]]->active) s->active[keep++] = s->active[i];
    s->nactive = keep;
    atomic_store_explicit(&s->st.written, upto, memory_order_release);
    s->errors_at_flush = errors;
    bool do_sync = force_sync || s->opt.fsync_ms == TD_STORE_FSYNC_BATCH ||
                   (s->opt.fsync_ms > 0 && now - s->last_fsync_ns >= (int64_t)s->opt.fsync_ms * TD_NS_PER_MS);
    if (do_sync) {
        for (int i = 0; i < MAX_PW; i++)
            if (s->pws[i].used) pw_sync(s, &s->pws[i]);
        if (s->state_fd >= 0) fdatasync(s->state_fd);
        s->last_fsync_ns = now;
        atomic_store_explicit(&s->st.synced, upto, memory_order_release);
    }
    compact_open(s);
}

static void *writer_main(void *arg)
{
    td_store_t *s = arg;
    int idle = 0;
    int64_t period = (int64_t)s->opt.flush_ms * TD_NS_PER_MS;
    if (s->opt.fsync_ms > 0 && s->opt.fsync_ms < s->opt.flush_ms) period = (int64_t)s->opt.fsync_ms * TD_NS_PER_MS;
    s->next_flush_ns = td_mono_ns() + period;
    for (;;) {
        void *slots;
        size_t n = td_spsc_peek(s->ring, 1024, &slots);
        const rec_t *recs = slots;
        for (size_t i = 0; i < n; i++) route(s, &recs[i]);
        if (n) {
            td_spsc_release(s->ring, n);
            s->drained += n;
        }
        bool stopping = atomic_load_explicit(&s->stop, memory_order_acquire) && td_spsc_size(s->ring) == 0;
        bool pending = s->drained != atomic_load_explicit(&s->st.written, memory_order_relaxed);
        uint64_t req = atomic_load_explicit(&s->sync_req, memory_order_acquire);
        bool want_sync = req > atomic_load_explicit(&s->st.synced, memory_order_relaxed) && s->drained >= req;
        uint64_t vreq = atomic_load_explicit(&s->visible_req, memory_order_acquire);
        bool want_visible = vreq > atomic_load_explicit(&s->st.written, memory_order_relaxed) && s->drained >= vreq;
        int64_t now = td_mono_ns();
        bool due = pending && ((s->opt.fsync_ms == TD_STORE_FSYNC_BATCH && n < 1024) || now >= s->next_flush_ns ||
                               s->buffered >= BUFFERED_MAX || s->staged >= STAGE_MAX);
        if (due || want_sync || want_visible || stopping) {
            flush_all(s, want_sync || stopping);
            s->next_flush_ns = td_mono_ns() + period;
        }
        if (s->opt.retention_every_s >= 0 && now >= s->next_retention_ns && !stopping) {
            td_store_retention(s, td_now_ns() / TD_NS_PER_SEC); /* a directory listing when nothing is due */
            s->next_retention_ns = now + (int64_t)s->opt.retention_every_s * TD_NS_PER_SEC;
        }
        if (stopping) break;
        if (n == 0) {
            struct timespec ts = { 0, ++idle > 100 ? 1000000 : 50000 };
            nanosleep(&ts, NULL);
        } else {
            idle = 0;
        }
    }
    return NULL;
}

/* ---- producer ---- */

static void push(td_store_t *s, const rec_t *r)
{
    void *slot;
    if (TD_UNLIKELY(td_spsc_claim(s->ring, 1, &slot) == 0)) {
        STAT_ADD(s, ring_waits, 1);
        TD_LOG_RATELIMITED(TD_LOG_WARN, "store", 1, "store ring full (%zu records): the engine waits for the disk",
                           td_spsc_capacity(s->ring));
        unsigned spins = 0;
        while (td_spsc_claim(s->ring, 1, &slot) == 0) {
            if (++spins < 64) sched_yield();
            else {
                struct timespec ts = { 0, 50000 };
                nanosleep(&ts, NULL);
            }
        }
    }
    memcpy(slot, r, sizeof *r);
    td_spsc_publish(s->ring, 1);
}

int td_store_append(td_store_t *s, const td_event_t *evs, const uint64_t *seqs, size_t n)
{
    if (!s->ring) return TD_EINVAL;
    size_t i = 0;
    while (i < n) {
        void *slots;
        size_t got = td_spsc_claim(s->ring, n - i, &slots);
        if (got == 0) {
            rec_t r;
            memset(&r, 0, sizeof r);
            r.kind = REC_EVENT;
            r.ev = evs[i];
            r.seq = seqs ? seqs[i] : 0;
            push(s, &r);
            i++;
            APPENDED_ADD(s, 1);
            continue;
        }
        rec_t *r = slots;
        for (size_t k = 0; k < got; k++) {
            r[k].ev = evs[i + k];
            r[k].seq = seqs ? seqs[i + k] : 0;
            r[k].kind = REC_EVENT;
        }
        td_spsc_publish(s->ring, got);
        i += got;
        APPENDED_ADD(s, got);
    }
    return TD_OK;
}

int td_store_append_out(td_store_t *s, const td_out_t *o)
{
    if (!s->ring) return TD_EINVAL;
    rec_t r;
    memset(&r, 0, sizeof r);
    r.ev.sym = o->sym;
    r.seq = o->seq;
    if (o->type == TD_OUT_TRADE) {
        /* store.h TD_SREC_TRADE: the trade as the engine resolved it (an order-level execution event has no
         * price; qty is what was actually removed), with its own out seq */
        r.kind = REC_EVENT;
        r.ev.type = TD_SREC_TRADE;
        r.ev.exch = o->exch;
        r.ev.side = o->side;
        r.ev.flags = o->aux;
        r.ev.exch_ns = o->exch_ns;
        r.ev.recv_ns = o->recv_ns;
        r.ev.u.trade.price = o->u.trade.price;
        r.ev.u.trade.qty = o->u.trade.qty;
        r.ev.u.trade.trade_id = o->u.trade.trade_id;
    } else if (o->type == TD_OUT_NBBO) {
        r.kind = REC_EVENT;
        r.ev.type = TD_SREC_NBBO;
        r.ev.exch = o->u.nbbo.bid_exch;
        r.ev.side = o->u.nbbo.ask_exch;
        r.ev.flags = o->u.nbbo.state;
        r.ev.exch_ns = o->exch_ns;
        r.ev.recv_ns = o->recv_ns;
        r.ev.u.quote.bid_px = o->u.nbbo.bid_px;
        r.ev.u.quote.bid_qty = o->u.nbbo.bid_qty;
        r.ev.u.quote.ask_px = o->u.nbbo.ask_px;
        r.ev.u.quote.ask_qty = o->u.nbbo.ask_qty;
    } else if (o->type == TD_OUT_CANDLE) {
        const td_candle_t *c = &o->u.candle;
        if (o->sym <= TD_SYM_MAX && o->aux < TD_IV_COUNT) {
            pthread_mutex_lock(&s->recent_mu);
            recent_t *rc = s->recent[o->sym];
            if (!rc) rc = s->recent[o->sym] = td_calloc(1, sizeof *rc);
            rc->c[o->aux][rc->next[o->aux]] = *c;
            rc->next[o->aux] = (uint8_t)((rc->next[o->aux] + 1) % RECENT);
            if (rc->n[o->aux] < RECENT) rc->n[o->aux]++;
            pthread_mutex_unlock(&s->recent_mu);
        }
        r.kind = REC_CANDLE;
        r.iv = o->aux;
        r.ev.exch_ns = c->time;
        r.ev.recv_ns = (int64_t)c->trade_count;
        r.ev.src_seq = (uint64_t)(unsigned __int128)c->volume;
        r.vol_hi = (uint64_t)((unsigned __int128)c->volume >> 64);
        r.ev.u.quote.bid_px = c->open;
        r.ev.u.quote.bid_qty = c->high;
        r.ev.u.quote.ask_px = c->low;
        r.ev.u.quote.ask_qty = c->close;
    } else {
        return TD_OK;
    }
    push(s, &r);
    APPENDED_ADD(s, 1);
    return TD_OK;
}

int td_store_sync(td_store_t *s)
{
    if (!s->ring) return TD_EINVAL;
    uint64_t target = atomic_load_explicit(&s->st.appended, memory_order_relaxed);
    if (target == 0) target = 1; /* still forces a flush of states */
    uint64_t cur = atomic_load(&s->sync_req);
    while (cur < target && !atomic_compare_exchange_weak(&s->sync_req, &cur, target)) {
    }
    if (atomic_load(&s->st.appended) == 0) return TD_OK;
    while (atomic_load_explicit(&s->st.synced, memory_order_acquire) < target) {
        struct timespec ts = { 0, 100000 };
        nanosleep(&ts, NULL);
    }
    return TD_OK;
}

int td_store_make_visible(td_store_t *s, int timeout_ms)
{
    if (!s->ring) return TD_OK; /* read-only: nothing is pending in this process */
    uint64_t target = atomic_load_explicit(&s->st.appended, memory_order_relaxed);
    if (atomic_load_explicit(&s->st.written, memory_order_acquire) >= target) return TD_OK;
    uint64_t cur = atomic_load(&s->visible_req);
    while (cur < target && !atomic_compare_exchange_weak(&s->visible_req, &cur, target)) {
    }
    int64_t deadline = td_mono_ns() + (int64_t)timeout_ms * TD_NS_PER_MS;
    while (atomic_load_explicit(&s->st.written, memory_order_acquire) < target) {
        if (td_mono_ns() >= deadline) return TD_EAGAIN;
        struct timespec ts = { 0, 50000 };
        nanosleep(&ts, NULL);
    }
    return TD_OK;
}

/* ---- readers: partition cache ---- */

static keylist_t *keys_of(td_store_t *s, int kind, int iv)
{
    keylist_t *kl = &s->keys[kind - 1][kind == TD_BLK_TICKS ? 0 : iv];
    char d[2][TD_PART_PATH_MAX];
    td_store_kind_dir(s->dir, kind, iv, d[0], sizeof d[0]);
    int ndirs = 1;
    if (s->opt.cold_dir[0]) {
        td_store_kind_dir(s->opt.cold_dir, kind, iv, d[1], sizeof d[1]);
        ndirs = 2;
    }
    /* directory mtimes are coarse (a clock tick): also re-list after a partition was created in this
     * process, and at least every second for writers in other processes */
    uint64_t created = atomic_load_explicit(&s->parts_created, memory_order_acquire);
    int64_t now = td_mono_ns();
    bool fresh = kl->valid && created == kl->created_seen && now - kl->listed_ns < TD_NS_PER_SEC;
    struct timespec mt[2] = { { 0, 0 }, { 0, 0 } };
    for (int i = 0; i < ndirs; i++) {
        struct stat st;
        if (stat(d[i], &st) == 0) mt[i] = st.st_mtim;
        if (mt[i].tv_sec != kl->mtime[i].tv_sec || mt[i].tv_nsec != kl->mtime[i].tv_nsec) fresh = false;
    }
    if (fresh) return kl;
    td_free(kl->keys);
    kl->keys = NULL;
    kl->n = 0;
    for (int i = 0; i < ndirs; i++) {
        int64_t *k;
        size_t n = td_store_list_keys(d[i], kind, iv, &k);
        kl->keys = td_realloc(kl->keys, (kl->n + n + 1) * sizeof *kl->keys);
        if (n) memcpy(kl->keys + kl->n, k, n * sizeof *k);
        kl->n += n;
        td_free(k);
        kl->mtime[i] = mt[i];
    }
    /* sort, dedupe (a partition being moved can be listed in both) */
    for (size_t i = 1; i < kl->n; i++)
        for (size_t j = i; j > 0 && kl->keys[j - 1] > kl->keys[j]; j--) {
            int64_t t = kl->keys[j];
            kl->keys[j] = kl->keys[j - 1];
            kl->keys[j - 1] = t;
        }
    size_t w = 0;
    for (size_t i = 0; i < kl->n; i++)
        if (w == 0 || kl->keys[w - 1] != kl->keys[i]) kl->keys[w++] = kl->keys[i];
    kl->n = w;
    kl->valid = true;
    kl->created_seen = created;
    kl->listed_ns = now;
    return kl;
}

/* Keys of existing partitions in [lo, hi]; caller frees. */
static size_t keys_between(td_store_t *s, int kind, int iv, int64_t lo, int64_t hi, int64_t **out)
{
    pthread_mutex_lock(&s->mu);
    keylist_t *kl = keys_of(s, kind, iv);
    size_t n = 0;
    *out = td_malloc((kl->n + 1) * sizeof **out);
    for (size_t i = 0; i < kl->n; i++)
        if (kl->keys[i] >= lo && kl->keys[i] <= hi) (*out)[n++] = kl->keys[i];
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void part_evict(td_store_t *s)
{
    int victim = -1;
    for (int i = 0; i < s->nparts; i++)
        if (s->parts[i]->refs == 0 && (victim < 0 || s->parts[i]->last_used < s->parts[victim]->last_used))
            victim = i;
    if (victim < 0) return;
    td_part_close(s->parts[victim]);
    s->parts[victim] = s->parts[--s->nparts];
}

/* Pins the partition and copies its entries for (sym name, kind, iv) overlapping [lo, hi] (name NULL: every
 * symbol's). */
static td_part_t *pin_entries(td_store_t *s, int kind, int iv, int64_t key, const char *name, int64_t lo,
                              int64_t hi, td_idx_entry_t **ents, size_t *nents)
{
    *ents = NULL;
    *nents = 0;
    pthread_mutex_lock(&s->mu);
    td_part_t *p = NULL;
    for (int i = 0; i < s->nparts; i++)
        if (s->parts[i]->kind == kind && s->parts[i]->iv == iv && s->parts[i]->key == key) p = s->parts[i];
    if (p && td_part_refresh(p) != TD_OK) {
        /* gone (retention) or moved to the cold directory: reopen below */
        if (p->refs == 0) {
            for (int i = 0; i < s->nparts; i++)
                if (s->parts[i] == p) s->parts[i] = s->parts[--s->nparts];
            td_part_close(p);
        }
        p = NULL;
    }
    if (!p) {
        char data[TD_PART_PATH_MAX], idx[TD_PART_PATH_MAX];
        td_store_part_paths(s->dir, kind, iv, key, data, idx);
        p = td_part_open(data, idx);
        if (!p && s->opt.cold_dir[0]) {
            td_store_part_paths(s->opt.cold_dir, kind, iv, key, data, idx);
            p = td_part_open(data, idx);
        }
        if (!p) {
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        if (s->nparts == MAX_PARTS) part_evict(s);
        if (s->nparts == MAX_PARTS) { /* all pinned: use it unshared */
            p->orphan = true;
        } else {
            s->parts[s->nparts++] = p;
        }
        p->kind = (uint8_t)kind;
        p->iv = (uint8_t)iv;
        p->key = key;
    }
    p->refs++;
    p->last_used = ++s->use_clock;
    size_t cap = 0;
    for (size_t i = 0; i < p->n; i++) {
        const td_idx_entry_t *e = &p->ent[i];
        if (e->info.kind != kind || e->info.iv != (kind == TD_BLK_CANDLES ? iv : 0)) continue;
        if (e->info.max_time < lo || e->info.min_time > hi || (name && strcmp(e->info.sym, name) != 0)) continue;
        if (*nents == cap) {
            cap = cap ? cap * 2 : 16;
            *ents = td_realloc(*ents, cap * sizeof **ents);
        }
        (*ents)[(*nents)++] = *e;
    }
    pthread_mutex_unlock(&s->mu);
    return p;
}

static void unpin(td_store_t *s, td_part_t *p)
{
    pthread_mutex_lock(&s->mu);
    p->refs--;
    bool orphan = p->orphan;
    pthread_mutex_unlock(&s->mu);
    if (orphan) td_part_close(p);
}

static void corrupt(td_store_t *s, const td_part_t *p, const td_idx_entry_t *e, int rc)
{
    STAT_ADD(s, corrupt_blocks, 1);
    TD_LOG_RATELIMITED(TD_LOG_ERROR, "store", 5, "%s: block at offset %llu (%s) is damaged (%s): skipped",
                       p->data_path, (unsigned long long)e->offset, e->info.sym, td_strerror(rc));
}

/* ---- tick cursor ---- */

struct td_store_cursor {
    td_store_t *s;
    char name[TD_SYM_NAME_MAX + 1];
    int64_t from, to;
    size_t limit, emitted;
    td_store_tick_filter_t f;
    uint64_t skipped;      /* damaged blocks skipped */
    int64_t *keys;
    size_t nkeys, ki;
    td_part_t *part;
    td_idx_entry_t *ents;
    size_t nents, ei;
    td_blk_tick_t *blk;
    size_t blk_cap, bn, bi;
    uint8_t *buf;
    size_t buf_cap;
    td_blk_scratch_t scratch;
};

int td_store_ticks_open(td_store_t *s, uint32_t sym, int64_t from_ns, int64_t to_ns, size_t limit,
                        td_store_cursor_t **out)
{
    return td_store_ticks_open_types(s, sym, from_ns, to_ns, limit, TD_STORE_ALL_TYPES, out);
}

int td_store_ticks_open_types(td_store_t *s, uint32_t sym, int64_t from_ns, int64_t to_ns, size_t limit,
                              uint64_t type_mask, td_store_cursor_t **out)
{
    td_store_tick_filter_t f = { .type_mask = type_mask, .after_seq = 0, .max_seq = UINT64_MAX };
    return td_store_ticks_open_filter(s, sym, from_ns, to_ns, limit, &f, out);
}

int td_store_ticks_open_filter(td_store_t *s, uint32_t sym, int64_t from_ns, int64_t to_ns, size_t limit,
                               const td_store_tick_filter_t *f, td_store_cursor_t **out)
{
    *out = NULL;
    if (from_ns > to_ns || sym > TD_SYM_MAX) return TD_EINVAL;
    td_store_cursor_t *c = td_calloc(1, sizeof *c);
    c->s = s;
    c->f = *f;
    snprintf(c->name, sizeof c->name, "%s", sym_name_of(sym));
    c->from = from_ns;
    c->to = to_ns;
    c->limit = limit;
    c->nkeys = keys_between(s, TD_BLK_TICKS, 0, td_store_part_day(from_ns), td_store_part_day(to_ns), &c->keys);
    *out = c;
    return TD_OK;
}

static bool cursor_load_block(td_store_cursor_t *c)
{
    for (;;) {
        if (c->part && c->ei < c->nents) {
            const td_idx_entry_t *e = &c->ents[c->ei++];
            if (c->f.after_seq && e->info.max_seq <= c->f.after_seq) continue; /* nothing above after_seq */
            int rc = td_part_read(c->part, e, &c->buf, &c->buf_cap);
            if (rc == TD_OK) {
                if (c->blk_cap < e->info.count) {
                    td_free(c->blk);
                    c->blk_cap = e->info.count;
                    c->blk = td_malloc(c->blk_cap * sizeof *c->blk);
                }
                rc = td_blk_decode_ticks(&c->scratch, c->buf, e->info.len, c->blk, c->blk_cap);
                if (rc >= 0 && (strcmp(c->name, e->info.sym) != 0 || (uint32_t)rc != e->info.count)) rc = TD_EPROTO;
            }
            if (rc < 0) {
                corrupt(c->s, c->part, e, rc);
                c->skipped++;
                continue;
            }
            c->bn = (size_t)rc;
            c->bi = 0;
            return true;
        }
        if (c->part) {
            unpin(c->s, c->part);
            c->part = NULL;
        }
        td_free(c->ents);
        c->ents = NULL;
        if (c->ki >= c->nkeys) return false;
        c->part = pin_entries(c->s, TD_BLK_TICKS, 0, c->keys[c->ki++], c->name, c->from, c->to, &c->ents, &c->nents);
        c->ei = 0;
    }
}

int td_store_ticks_next(td_store_cursor_t *c, td_store_tick_t *out, size_t max)
{
    size_t n = 0;
    while (n < max && (!c->limit || c->emitted < c->limit)) {
        if (c->bi >= c->bn && !cursor_load_block(c)) break;
        const td_blk_tick_t *t = &c->blk[c->bi++];
        if (t->ev.exch_ns < c->from || t->ev.exch_ns > c->to) continue;
        if (c->f.type_mask != TD_STORE_ALL_TYPES && (t->ev.type >= 64 || !(c->f.type_mask >> t->ev.type & 1))) continue;
        if ((c->f.after_seq && t->seq <= c->f.after_seq) || t->seq > c->f.max_seq) continue; /* seq 0: unrecorded */
        out[n].ev = t->ev;
        out[n].seq = t->seq;
        n++;
        c->emitted++;
    }
    return (int)n;
}

uint64_t td_store_ticks_skipped(const td_store_cursor_t *c) { return c->skipped; }

void td_store_ticks_close(td_store_cursor_t *c)
{
    if (!c) return;
    if (c->part) unpin(c->s, c->part);
    td_free(c->ents);
    td_free(c->keys);
    td_free(c->blk);
    td_free(c->buf);
    td_blk_scratch_free(&c->scratch);
    td_free(c);
}

/* ---- candles ---- */

int td_store_candles(td_store_t *s, uint32_t sym, td_interval_t iv, int64_t from_s, int64_t to_s, size_t limit,
                     td_candle_t *out, size_t max)
{
    if ((unsigned)iv >= TD_IV_COUNT || from_s > to_s || sym > TD_SYM_MAX) return TD_EINVAL;
    if (limit && limit < max) max = limit;
    const char *name = sym_name_of(sym);
    int64_t *keys;
    size_t nkeys = keys_between(s, TD_BLK_CANDLES, iv, td_store_candle_key(iv, from_s), td_store_candle_key(iv, to_s), &keys);
    size_t n = 0;
    uint8_t *buf = NULL;
    size_t buf_cap = 0, dcap = 0;
    td_blk_candle_t *dec = NULL;
    td_blk_scratch_t scratch = { 0 };
    bool sorted = true;
    for (size_t k = 0; k < nkeys && n < max; k++) {
        td_idx_entry_t *ents;
        size_t nents;
        td_part_t *p = pin_entries(s, TD_BLK_CANDLES, iv, keys[k], name, from_s, to_s, &ents, &nents);
        if (!p) continue;
        for (size_t i = 0; i < nents && n < max; i++) {
            const td_idx_entry_t *e = &ents[i];
            int rc = td_part_read(p, e, &buf, &buf_cap);
            if (rc == TD_OK) {
                if (dcap < e->info.count) {
                    td_free(dec);
                    dcap = e->info.count;
                    dec = td_malloc(dcap * sizeof *dec);
                }
                rc = td_blk_decode_candles(&scratch, buf, e->info.len, dec, dcap);
                if (rc >= 0 && strcmp(e->info.sym, name) != 0) rc = TD_EPROTO;
            }
            if (rc < 0) {
                corrupt(s, p, e, rc);
                continue;
            }
            for (int j = 0; j < rc && n < max; j++) {
                if (dec[j].c.time < from_s || dec[j].c.time > to_s) continue;
                if (n && dec[j].c.time <= out[n - 1].time) sorted = false;
                out[n++] = dec[j].c;
            }
        }
        td_free(ents);
        unpin(s, p);
    }
    if (!sorted) { /* defensive: closed candles are stored in time order; keep the answer ordered anyway */
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && out[j - 1].time > out[j].time; j--) {
                td_candle_t t = out[j];
                out[j] = out[j - 1];
                out[j - 1] = t;
            }
    }
    td_free(keys);
    td_free(buf);
    td_free(dec);
    td_blk_scratch_free(&scratch);
    return (int)n;
}

int td_store_candles_merged(td_store_t *s, uint32_t sym, td_interval_t iv, int64_t from_s, int64_t to_s,
                            size_t limit, const td_candle_t *live, bool has_live, td_candle_t *out, size_t max)
{
    if ((unsigned)iv >= TD_IV_COUNT || sym > TD_SYM_MAX) return TD_EINVAL;
    size_t cap = max;
    if (limit && limit < cap) cap = limit;
    if (cap == 0) return 0;
    bool use_live = has_live && live && live->time >= from_s && live->time <= to_s;
    int64_t hi = use_live ? live->time - 1 : to_s; /* stored candles strictly before the live one */
    int n = 0;
    if (hi >= from_s) {
        n = td_store_candles(s, sym, iv, from_s, hi, 0, out, cap);
        if (n < 0) return n;
    }
    /* candles closed a moment ago that the writer has not flushed yet */
    if (s->recent && (size_t)n < cap) {
        td_candle_t rec[RECENT];
        int nr = 0;
        pthread_mutex_lock(&s->recent_mu);
        const recent_t *rc = s->recent[sym];
        if (rc) {
            int cnt = rc->n[iv];
            for (int k = 0; k < cnt; k++) rec[nr++] = rc->c[iv][(rc->next[iv] + RECENT - cnt + k) % RECENT];
        }
        pthread_mutex_unlock(&s->recent_mu);
        int64_t after = n ? out[n - 1].time : INT64_MIN;
        for (int k = 0; k < nr && (size_t)n < cap; k++)
            if (rec[k].time > after && rec[k].time >= from_s && rec[k].time <= hi) {
                out[n++] = rec[k];
                after = rec[k].time;
            }
    }
    /* the live candle only when every stored one before it fitted: never a hole in the answer */
    if (use_live && (size_t)n < cap) out[n++] = *live;
    return n;
}

/* ---- restart ---- */

static uint64_t newest_block_seq(td_store_t *s, const char *name)
{
    int64_t *keys;
    size_t nk = keys_between(s, TD_BLK_TICKS, 0, INT64_MIN, INT64_MAX, &keys);
    uint64_t best = 0;
    for (size_t k = nk; k > 0 && best == 0; k--) {
        td_idx_entry_t *ents;
        size_t n;
        td_part_t *p = pin_entries(s, TD_BLK_TICKS, 0, keys[k - 1], name, INT64_MIN, INT64_MAX, &ents, &n);
        if (!p) continue;
        for (size_t i = 0; i < n; i++)
            if (ents[i].info.max_seq > best) best = ents[i].info.max_seq;
        td_free(ents);
        unpin(s, p);
        if (nk - k >= 2) break; /* the two newest days that have the symbol are enough */
    }
    td_free(keys);
    return best;
}

/* Visible seqs at open: everything stored is readable, so each symbol's is the largest seq of its blocks in
 * the newest tick partitions (the same three newest days newest_block_seq() looks at for a restart; what was
 * appended but not written before a crash is a suffix, above all of it). Interns the names it meets. */
static void init_visible(td_store_t *s)
{
    int64_t *keys;
    size_t nk = keys_between(s, TD_BLK_TICKS, 0, INT64_MIN, INT64_MAX, &keys);
    for (size_t k = nk; k > 0 && nk - k < 3; k--) {
        td_idx_entry_t *ents;
        size_t n;
        td_part_t *p = pin_entries(s, TD_BLK_TICKS, 0, keys[k - 1], NULL, INT64_MIN, INT64_MAX, &ents, &n);
        if (!p) continue;
        for (size_t i = 0; i < n; i++) {
            uint32_t sym = sym_of_name(ents[i].info.sym);
            if (sym == 0 || sym > TD_SYM_MAX) continue;
            if (ents[i].info.max_seq > atomic_load_explicit(&s->visible[sym], memory_order_relaxed))
                atomic_store_explicit(&s->visible[sym], ents[i].info.max_seq, memory_order_relaxed);
        }
        td_free(ents);
        unpin(s, p);
    }
    td_free(keys);
}

bool td_store_restore_state(td_store_t *s, uint32_t sym, td_sym_snap_t *out)
{
    const char *name = sym_name_of(sym);
    state_ent_t *e = state_find(s, name);
    char nm[TD_SYM_NAME_MAX + 1];
    memset(out, 0, sizeof *out);
    bool have = e && td_store_state_decode(e->rec, nm, out);
    uint64_t stored = newest_block_seq(s, name);
    if (!have && stored == 0) return false;
    uint64_t base = out->seq > stored ? out->seq : stored;
    out->seq = base + TD_STORE_SEQ_RESTART_GAP;
    for (int iv = 0; iv < TD_IV_COUNT; iv++) {
        if (!(out->candle_mask & (1u << iv))) continue;
        /* closed already (the state was sampled before the close reached the disk)? */
        td_candle_t c;
        int64_t t = out->candles[iv].time;
        int64_t far = t + 2 * td_interval_secs((td_interval_t)iv) + 86400 * 400;
        int n = td_store_candles(s, sym, (td_interval_t)iv, t, far, 1, &c, 1);
        if (n > 0) out->candle_mask &= (uint8_t)~(1u << iv);
    }
    return true;
}

void td_store_each_state_symbol(td_store_t *s, void (*fn)(void *ctx, uint32_t sym), void *ctx)
{
    for (size_t i = 0; i < s->nstates; i++) {
        uint32_t sym = sym_of_name(s->states[i].name);
        if (sym) fn(ctx, sym);
    }
}

/* ---- retention ---- */

static int move_file(const char *from, const char *to)
{
    if (rename(from, to) == 0) return TD_OK;
    if (errno != EXDEV) return -errno;
    td_part_map_t m;
    int rc = td_part_map(from, &m);
    if (rc != TD_OK) return rc;
    char tmp[TD_PART_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    rc = fd < 0 ? -errno : TD_OK;
    if (rc == TD_OK && m.size && write(fd, m.base, m.size) != (ssize_t)m.size) rc = TD_EIO;
    if (rc == TD_OK && fdatasync(fd) != 0) rc = TD_EIO;
    if (fd >= 0) close(fd);
    td_part_unmap(&m);
    if (rc == TD_OK && rename(tmp, to) != 0) rc = -errno;
    if (rc == TD_OK) unlink(from);
    else unlink(tmp);
    return rc;
}

static int retain_kind(td_store_t *s, int kind, int iv, int ttl_days, int64_t today)
{
    int done = 0;
    for (int where = 0; where < (s->opt.cold_dir[0] ? 2 : 1); where++) {
        const char *root = where ? s->opt.cold_dir : s->dir;
        char d[TD_PART_PATH_MAX];
        td_store_kind_dir(root, kind, iv, d, sizeof d);
        int64_t *keys;
        size_t n = td_store_list_keys(d, kind, iv, &keys);
        for (size_t i = 0; i < n; i++) {
            /* a partition's last day: the key itself, or the year's last day for yearly ones */
            int64_t last = keys[i];
            if (kind == TD_BLK_CANDLES && iv >= TD_IV_1D) last = td_store_candle_key((td_interval_t)iv, (keys[i] + 370) * 86400) - 1;
            char data[TD_PART_PATH_MAX], idx[TD_PART_PATH_MAX];
            td_store_part_paths(root, kind, iv, keys[i], data, idx);
            if (ttl_days > 0 && last < today - ttl_days) {
                unlink(idx);
                if (unlink(data) == 0) {
                    td_log_info("store", "retention: dropped %s", data);
                    STAT_ADD(s, partitions_dropped, 1);
                    done++;
                }
            } else if (!where && s->opt.cold_dir[0] && s->opt.cold_after_days > 0 &&
                       last < today - s->opt.cold_after_days) {
                char cd[TD_PART_PATH_MAX], cdata[TD_PART_PATH_MAX], cidx[TD_PART_PATH_MAX];
                td_store_kind_dir(s->opt.cold_dir, kind, iv, cd, sizeof cd);
                td_store_mkdirs(cd);
                td_store_part_paths(s->opt.cold_dir, kind, iv, keys[i], cdata, cidx);
                if (move_file(idx, cidx) == TD_OK && move_file(data, cdata) == TD_OK) {
                    td_log_info("store", "retention: moved %s to %s", data, cdata);
                    STAT_ADD(s, partitions_moved, 1);
                    done++;
                }
            }
        }
        td_free(keys);
    }
    return done;
}

int td_store_retention(td_store_t *s, int64_t now_s)
{
    int64_t today = floor_div(now_s, 86400);
    int done = retain_kind(s, TD_BLK_TICKS, 0, s->opt.tick_ttl_days, today);
    for (int iv = 0; iv < TD_IV_COUNT; iv++) done += retain_kind(s, TD_BLK_CANDLES, iv, s->opt.candle_ttl_days[iv], today);
    return done;
}

/* ---- open / close ---- */

static void recover_newest(td_store_t *s, int kind, int iv)
{
    char d[TD_PART_PATH_MAX];
    td_store_kind_dir(s->dir, kind, iv, d, sizeof d);
    int64_t *keys;
    size_t n = td_store_list_keys(d, kind, iv, &keys);
    if (n) {
        char data[TD_PART_PATH_MAX], idx[TD_PART_PATH_MAX];
        td_store_part_paths(s->dir, kind, iv, keys[n - 1], data, idx);
        recover_part(s, data, idx);
        s->newest_key[kind - 1][iv] = keys[n - 1];
        if (n >= 2) schedule_seal(s, kind, iv, keys[n - 2]); /* a crash may have left it unsealed */
    }
    td_free(keys);
}

int td_store_open(const char *dir, const td_store_options_t *opt, td_store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    td_store_t *s = td_calloc(1, sizeof *s);
    if (opt) s->opt = *opt;
    else td_store_options_default(&s->opt);
    if (s->opt.block_events == 0) s->opt.block_events = TD_STORE_BLOCK_EVENTS;
    if (s->opt.block_events > TD_BLK_MAX_COUNT) s->opt.block_events = TD_BLK_MAX_COUNT;
    if (s->opt.flush_ms <= 0) s->opt.flush_ms = 1000;
    if (s->opt.ring_capacity < 1024) s->opt.ring_capacity = 1024;
    if (s->opt.tick_ttl_days == 0) s->opt.tick_ttl_days = TD_STORE_DEFAULT_TICK_TTL_DAYS;
    if (s->opt.retention_every_s == 0) s->opt.retention_every_s = 3600;
    s->lock_fd = -1;
    s->state_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->recent_mu, NULL);
    pthread_mutex_init(&s->maint_mu, NULL);
    pthread_cond_init(&s->maint_cv, NULL);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < TD_IV_COUNT; i++) s->newest_key[k][i] = INT64_MIN;
    if (strlen(dir) >= sizeof s->dir - 64) {
        snprintf(err, errlen, "data directory path too long");
        td_free(s);
        return TD_EINVAL;
    }
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    int rc;
    if (!s->opt.read_only) {
        if ((rc = td_store_mkdirs(dir)) != TD_OK) {
            snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
            goto fail;
        }
        char lp[TD_PART_PATH_MAX];
        snprintf(lp, sizeof lp, "%s/LOCK", dir);
        s->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            rc = s->lock_fd < 0 ? -errno : TD_EEXIST;
            snprintf(err, errlen, "%s is in use by another writer (LOCK)", dir);
            goto fail;
        }
        recover_newest(s, TD_BLK_TICKS, 0);
        for (int iv = 0; iv < TD_IV_COUNT; iv++) recover_newest(s, TD_BLK_CANDLES, iv);
    }
    if ((rc = state_load(s)) != TD_OK) {
        snprintf(err, errlen, "%s/state.tds: %s", dir, strerror(-rc));
        goto fail;
    }
    s->visible = td_calloc(TD_SYM_MAX + 1, sizeof *s->visible);
    init_visible(s);
    if (!s->opt.read_only) {
        s->syms = td_calloc(TD_SYM_MAX + 1, sizeof *s->syms);
        s->active = td_malloc((TD_SYM_MAX + 1) * sizeof *s->active);
        s->ring = td_spsc_create(s->opt.ring_capacity, sizeof(rec_t));
        s->recent = td_calloc(TD_SYM_MAX + 1, sizeof *s->recent);
        if (pthread_create(&s->maint, NULL, maint_main, s) != 0) {
            rc = TD_ENOMEM;
            snprintf(err, errlen, "cannot start the store maintenance thread");
            goto fail;
        }
        s->maint_running = true;
        if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
            rc = TD_ENOMEM;
            snprintf(err, errlen, "cannot start the store writer thread");
            goto fail;
        }
        s->running = true;
    }
    *out = s;
    return TD_OK;
fail:
    td_store_close(s);
    return rc;
}

void td_store_close(td_store_t *s)
{
    if (!s) return;
    if (s->running) {
        atomic_store_explicit(&s->stop, true, memory_order_release);
        pthread_join(s->thread, NULL);
        s->running = false;
    }
    if (s->syms) {
        for (int i = 0; i < MAX_PW; i++) pw_close(s, &s->pws[i], true);
        /* every partition written by this run (the newest too) gets compacted, so a clean shutdown leaves
         * full blocks */
        for (int i = 0; i < s->ntouched; i++)
            schedule_seal(s, (int)s->touched[i][0], (int)s->touched[i][1], s->touched[i][2]);
        if (s->maint_running) { /* drains the sealing queue, then exits */
            pthread_mutex_lock(&s->maint_mu);
            s->maint_stop = true;
            pthread_cond_broadcast(&s->maint_cv);
            pthread_mutex_unlock(&s->maint_mu);
            pthread_join(s->maint, NULL);
            s->maint_running = false;
        }
        for (uint32_t i = 0; i <= TD_SYM_MAX; i++) {
            symw_t *b = s->syms[i];
            if (!b) continue;
            td_free(b->recs);
            for (int iv = 0; iv < TD_IV_COUNT; iv++) td_free(b->candles[iv].c);
            td_free(b);
        }
    }
    td_free(s->syms);
    td_free(s->active);
    td_free((void *)s->visible);
    if (s->recent)
        for (uint32_t i = 0; i <= TD_SYM_MAX; i++) td_free(s->recent[i]);
    td_free(s->recent);
    pthread_mutex_destroy(&s->recent_mu);
    pthread_mutex_destroy(&s->maint_mu);
    pthread_cond_destroy(&s->maint_cv);
    td_spsc_destroy(s->ring);
    td_blk_scratch_free(&s->wscratch);
    for (int i = 0; i < s->nparts; i++) td_part_close(s->parts[i]);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < TD_IV_COUNT; i++) td_free(s->keys[k][i].keys);
    td_free(s->states);
    td_free(s->to_seal);
    td_free(s->touched);
    if (s->state_fd >= 0) close(s->state_fd);
    if (s->lock_fd >= 0) close(s->lock_fd);
    pthread_mutex_destroy(&s->mu);
    td_free(s);
}
