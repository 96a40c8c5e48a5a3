/*
 * store_layout.c: where things live on disk and the small formats around the blocks: partition paths and keys
 * (UTC days, years for 1d/1w candles), partition directory listings, the engine-state record of state.tds,
 * and td_store_verify (tickctl verify), which checks every block, index and state record of a store.
 * Pure functions and a read-only walk: any thread.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "store/part.h"
#include "store/store.h"
#include "store/store_internal.h"

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* ---- paths and partition keys ---- */

/* Partition days are clamped to years 0000..9999 (what a file name can say); absurd times land in the
 * edge partitions and are still found, since queries clamp the same way. */
int64_t td_store_clamp_day(int64_t day)
{
    static const int64_t lo = -719528, hi = 2932896; /* 0000-01-01, 9999-12-31 */
    return day < lo ? lo : day > hi ? hi : day;
}

int64_t td_store_part_day(int64_t ns) { return td_store_clamp_day(td_store_day_of_ns(ns)); }

int64_t td_store_candle_key(td_interval_t iv, int64_t time_s)
{
    int64_t day = td_store_clamp_day(floor_div(time_s, 86400));
    if (iv < TD_IV_1D) return day;
    char nm[16], y[8];
    td_store_day_name(day, nm);
    memcpy(y, nm, 4);
    y[4] = '\0';
    int64_t first = day;
    td_store_day_parse(y, &first);
    return first;
}

static void key_name(int kind, int iv, int64_t key, char out[16])
{
    td_store_day_name(key, out);
    if (kind == TD_BLK_CANDLES && iv >= TD_IV_1D) out[4] = '\0';
}

void td_store_kind_dir(const char *root, int kind, int iv, char *out, size_t len)
{
    if (kind == TD_BLK_TICKS) snprintf(out, len, "%s/ticks", root);
    else snprintf(out, len, "%s/candles/%s", root, td_interval_name((td_interval_t)iv));
}

void td_store_part_paths(const char *root, int kind, int iv, int64_t key, char *data, char *idx)
{
    char d[TD_PART_PATH_MAX], nm[16];
    td_store_kind_dir(root, kind, iv, d, sizeof d);
    key_name(kind, iv, key, nm);
    snprintf(data, TD_PART_PATH_MAX, "%.900s/%s.tdb", d, nm);
    snprintf(idx, TD_PART_PATH_MAX, "%.900s/%s.tdi", d, nm);
}

int td_store_mkdirs(const char *path)
{
    char tmp[TD_PART_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -errno;
    return TD_OK;
}

void td_store_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Partition keys present in a kind directory, ascending. Returns a td_malloc'd array. */
size_t td_store_list_keys(const char *d, int kind, int iv, int64_t **out)
{
    *out = NULL;
    DIR *dir = opendir(d);
    if (!dir) return 0;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".tdb") != 0) continue;
        char nm[32];
        if (l - 4 >= sizeof nm) continue;
        memcpy(nm, de->d_name, l - 4);
        nm[l - 4] = '\0';
        bool yearly = kind == TD_BLK_CANDLES && iv >= TD_IV_1D;
        if (strlen(nm) != (yearly ? 4u : 10u)) continue;
        int64_t key;
        if (td_store_day_parse(nm, &key) != TD_OK) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            *out = td_realloc(*out, cap * sizeof **out);
        }
        (*out)[n++] = key;
    }
    closedir(dir);
    for (size_t i = 1; i < n; i++) /* insertion sort: directories are listed nearly sorted or small */
        for (size_t j = i; j > 0 && (*out)[j - 1] > (*out)[j]; j--) {
            int64_t t = (*out)[j];
            (*out)[j] = (*out)[j - 1];
            (*out)[j - 1] = t;
        }
    return n;
}

static void put_i64(uint8_t **p, int64_t v)
{
    memcpy(*p, &v, 8);
    *p += 8;
}
static int64_t get_i64(const uint8_t **p)
{
    int64_t v;
    memcpy(&v, *p, 8);
    *p += 8;
    return v;
}

/* The state file is fixed slots: two per symbol, written alternately with a growing generation (48 bits
 * in the record), so a torn write spoils one slot and the other, older one still holds; the file's size is
 * bounded by the number of symbols. */
void td_store_state_encode(const char *name, const td_sym_snap_t *sn, uint64_t gen, uint8_t out[TD_STATE_REC])
{
    memset(out, 0, TD_STATE_REC);
    uint32_t magic = TD_STATE_MAGIC;
    memcpy(out, &magic, 4);
    memcpy(out + 8, name, strnlen(name, TD_SYM_NAME_MAX));
    uint8_t *p = out + 40;
    put_i64(&p, (int64_t)sn->seq);
    put_i64(&p, sn->last_px);
    put_i64(&p, sn->last_qty);
    put_i64(&p, sn->last_ns);
    put_i64(&p, (int64_t)sn->trades);
    put_i64(&p, sn->day_start_s);
    put_i64(&p, sn->day_open);
    put_i64(&p, sn->day_high);
    put_i64(&p, sn->day_low);
    put_i64(&p, sn->prev_close);
    put_i64(&p, (int64_t)(uint64_t)(unsigned __int128)sn->day_volume);
    put_i64(&p, (int64_t)(uint64_t)((unsigned __int128)sn->day_volume >> 64));
    p[0] = sn->candle_mask;
    p[1] = sn->trading_state;
    for (int i = 0; i < 6; i++) p[2 + i] = (uint8_t)(gen >> (8 * i));
    p += 8;
    for (int i = 0; i < TD_IV_COUNT; i++) {
        const td_candle_t *c = &sn->candles[i];
        put_i64(&p, c->time);
        put_i64(&p, c->open);
        put_i64(&p, c->high);
        put_i64(&p, c->low);
        put_i64(&p, c->close);
        put_i64(&p, (int64_t)(uint64_t)(unsigned __int128)c->volume);
        put_i64(&p, (int64_t)(uint64_t)((unsigned __int128)c->volume >> 64));
        put_i64(&p, (int64_t)c->trade_count);
    }
    uint32_t crc = td_store_crc(0, out + 8, TD_STATE_REC - 8);
    memcpy(out + 4, &crc, 4);
}

uint64_t td_store_state_gen(const uint8_t in[TD_STATE_REC])
{
    uint64_t g = 0;
    for (int i = 0; i < 6; i++) g |= (uint64_t)in[40 + 12 * 8 + 2 + i] << (8 * i);
    return g;
}

bool td_store_state_decode(const uint8_t in[TD_STATE_REC], char name[TD_SYM_NAME_MAX + 1], td_sym_snap_t *sn)
{
    uint32_t magic, crc;
    memcpy(&magic, in, 4);
    memcpy(&crc, in + 4, 4);
    if (magic != TD_STATE_MAGIC || crc != td_store_crc(0, in + 8, TD_STATE_REC - 8)) return false;
    memcpy(name, in + 8, TD_SYM_NAME_MAX);
    name[TD_SYM_NAME_MAX] = '\0';
    if (!name[0] || in[8 + TD_SYM_NAME_MAX] != 0) return false;
    if (!sn) return true;
    memset(sn, 0, sizeof *sn);
    const uint8_t *p = in + 40;
    sn->seq = (uint64_t)get_i64(&p);
    sn->last_px = get_i64(&p);
    sn->last_qty = get_i64(&p);
    sn->last_ns = get_i64(&p);
    sn->trades = (uint64_t)get_i64(&p);
    sn->day_start_s = get_i64(&p);
    sn->day_open = get_i64(&p);
    sn->day_high = get_i64(&p);
    sn->day_low = get_i64(&p);
    sn->prev_close = get_i64(&p);
    uint64_t lo = (uint64_t)get_i64(&p), hi = (uint64_t)get_i64(&p);
    sn->day_volume = (td_vol_t)(((unsigned __int128)hi << 64) | lo);
    sn->candle_mask = p[0];
    sn->trading_state = p[1];
    p += 8;
    for (int i = 0; i < TD_IV_COUNT; i++) {
        td_candle_t *c = &sn->candles[i];
        c->time = get_i64(&p);
        c->open = get_i64(&p);
        c->high = get_i64(&p);
        c->low = get_i64(&p);
        c->close = get_i64(&p);
        lo = (uint64_t)get_i64(&p);
        hi = (uint64_t)get_i64(&p);
        c->volume = (td_vol_t)(((unsigned __int128)hi << 64) | lo);
        c->trade_count = (uint64_t)get_i64(&p);
    }
    return true;
}

/* ---- verify ---- */

int td_store_state_scan(const char *path, void (*fn)(void *ctx, uint64_t off, const uint8_t *rec, const char *name),
                        void *ctx, uint64_t *torn)
{
    td_part_map_t m;
    int rc = td_part_map(path, &m);
    if (rc != TD_OK) return rc;
    for (uint64_t off = 0; off + TD_STATE_REC <= m.size; off += TD_STATE_REC) {
        char name[TD_SYM_NAME_MAX + 1];
        uint32_t magic;
        memcpy(&magic, m.base + off, 4);
        if (magic == 0) continue; /* an unused slot */
        bool ok = td_store_state_decode(m.base + off, name, NULL);
        fn(ctx, off, m.base + off, ok ? name : NULL);
    }
    *torn = m.size % TD_STATE_REC;
    td_part_unmap(&m);
    return TD_OK;
}

typedef struct vctx {
    td_store_verify_report_t *rep;
    void (*report)(void *ctx, const char *line);
    void *ctx;
    const char *path;
    const uint8_t *base;
    td_blk_scratch_t scratch;
    void *dec;
    size_t dec_cap;
    td_idx_entry_t *ent;
    size_t n, cap;
    char state_path[TD_PART_PATH_MAX];
} vctx_t;

static void vreport(vctx_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void verify_state_rec(void *ctx, uint64_t off, const uint8_t *rec, const char *name)
{
    vctx_t *v = ctx;
    (void)rec;
    if (name) return;
    v->rep->bad_blocks++;
    vreport(v, "%s: offset %llu: damaged state record", v->state_path, (unsigned long long)off);
}
static void vreport(vctx_t *v, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (v->report) v->report(v->ctx, line);
}

static void verify_fn(void *ctx, uint64_t off, const td_blk_info_t *info, const char *damage)
{
    vctx_t *v = ctx;
    if (!info) {
        v->rep->bad_blocks++;
        vreport(v, "%s: offset %llu: %s", v->path, (unsigned long long)off, damage);
        return;
    }
    size_t need = (size_t)info->count * (info->kind == TD_BLK_TICKS ? sizeof(td_blk_tick_t) : sizeof(td_blk_candle_t));
    if (v->dec_cap < need) {
        td_free(v->dec);
        v->dec = td_malloc(need);
        v->dec_cap = need;
    }
    int rc = info->kind == TD_BLK_TICKS
                 ? td_blk_decode_ticks(&v->scratch, v->base + off, info->len, v->dec, info->count)
                 : td_blk_decode_candles(&v->scratch, v->base + off, info->len, v->dec, info->count);
    if (rc < 0) {
        v->rep->bad_blocks++;
        v->rep->bad_bytes += info->len;
        vreport(v, "%s: offset %llu: block of %s does not decode (%s)", v->path, (unsigned long long)off, info->sym,
                td_strerror(rc));
        return;
    }
    v->rep->blocks++;
    v->rep->events += (uint64_t)rc;
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->ent = td_realloc(v->ent, v->cap * sizeof *v->ent);
    }
    v->ent[v->n].offset = off;
    v->ent[v->n].info = *info;
    v->n++;
}

static void verify_part(vctx_t *v, const char *data, const char *idx)
{
    td_part_map_t m;
    if (td_part_map(data, &m) != TD_OK) {
        v->rep->bad_blocks++;
        vreport(v, "%s: cannot read: %s", data, strerror(errno));
        return;
    }
    v->rep->partitions++;
    v->path = data;
    v->base = m.base;
    v->n = 0;
    uint64_t before = v->rep->bad_blocks, valid_end = 0;
    td_part_scan_mem(m.base, m.size, 0, verify_fn, v, &valid_end);
    uint64_t covered = 0;
    for (size_t i = 0; i < v->n; i++) covered += v->ent[i].info.len;
    if (v->rep->bad_blocks > before) v->rep->bad_bytes += m.size - covered;
    /* the index must list exactly the valid blocks (it is rebuilt at the next writer open if not) */
    td_part_map_t im;
    if (td_part_map(idx, &im) == TD_OK) {
        size_t ni = im.size / TD_IDX_ENTRY, j = 0;
        bool ok = im.size % TD_IDX_ENTRY == 0;
        for (size_t i = 0; i < ni && ok; i++) {
            td_idx_entry_t e;
            if (td_idx_decode(im.base + i * TD_IDX_ENTRY, &e) != TD_OK) ok = false;
            else {
                while (j < v->n && v->ent[j].offset < e.offset) j++;
                if (j == v->n || v->ent[j].offset != e.offset || v->ent[j].info.len != e.info.len ||
                    strcmp(v->ent[j].info.sym, e.info.sym) != 0)
                    ok = false;
            }
        }
        if (!ok) vreport(v, "%s: index does not match the data (rebuilt at the next open; data is not lost)", idx);
        td_part_unmap(&im);
    } else if (m.size) {
        vreport(v, "%s: index missing (rebuilt at the next open; data is not lost)", idx);
    }
    td_part_unmap(&m);
}

int td_store_verify(const char *dir, td_store_verify_report_t *rep, void (*report)(void *ctx, const char *line),
                    void *ctx)
{
    memset(rep, 0, sizeof *rep);
    vctx_t v = { .rep = rep, .report = report, .ctx = ctx };
    for (int kind = TD_BLK_TICKS; kind <= TD_BLK_CANDLES; kind++) {
        for (int iv = 0; iv < (kind == TD_BLK_TICKS ? 1 : TD_IV_COUNT); iv++) {
            char d[TD_PART_PATH_MAX];
            td_store_kind_dir(dir, kind, iv, d, sizeof d);
            int64_t *keys;
            size_t n = td_store_list_keys(d, kind, iv, &keys);
            for (size_t i = 0; i < n; i++) {
                char data[TD_PART_PATH_MAX], idx[TD_PART_PATH_MAX];
                td_store_part_paths(dir, kind, iv, keys[i], data, idx);
                verify_part(&v, data, idx);
            }
            td_free(keys);
        }
    }
    snprintf(v.state_path, sizeof v.state_path, "%s/state.tds", dir);
    uint64_t torn = 0;
    if (td_store_state_scan(v.state_path, verify_state_rec, &v, &torn) == TD_OK && torn) {
        rep->bad_blocks++;
        vreport(&v, "%s: torn state record at the end", v.state_path);
    }
    td_free(v.dec);
    td_free(v.ent);
    td_blk_scratch_free(&v.scratch);
    return rep->bad_blocks ? TD_EPROTO : TD_OK;
}
