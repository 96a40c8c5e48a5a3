/*
 * part.c: partition files. A partition is a data file of blocks (NAME.tdb) and its index (NAME.tdi), one
 * 80-byte entry per block, written after the block. The data file is the truth; the index is derived and
 * can always be rebuilt from it.
 *
 * Scanning (recovery, verify, index rebuild): walk block by block; a block counts only if its header parses
 * and its checksum holds. Damage in the middle is skipped by searching for the next block that parses and
 * checks (resynchronization on the magic); damage at the end is a torn tail.
 *
 * Recovery (before a writer appends to a partition): scan, truncate the torn tail, rewrite the index from
 * the blocks found (tmp file, fsync, rename), and report what was dropped.
 *
 * Sealing (compaction of a partition that no longer receives live data): every symbol's records in stored
 * order re-cut into full blocks, written to a tmp file, fsynced, renamed over the data file, then a fresh
 * index. A crash in between leaves either file whole; an index that does not match its data is detected
 * by the reader (td_part_refresh) and replaced by a scan.
 *
 * Threading: a td_part_t is used under its owner's lock (store.c); the scan/recover/seal functions run
 * on one thread with no concurrent writer of that partition.
 */
#include "store/part.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/log.h"

static const uint8_t *find_magic(const uint8_t *p, const uint8_t *end)
{
    static const uint8_t m[4] = { 'T', 'D', 'B', '1' };
    while (p + 4 <= end) {
        const uint8_t *q = memchr(p, 'T', (size_t)(end - p));
        if (!q || q + 4 > end) return NULL;
        if (memcmp(q, m, 4) == 0) return q;
        p = q + 1;
    }
    return NULL;
}

int td_part_scan_mem(const uint8_t *base, uint64_t size, uint64_t from, td_part_scan_fn fn, void *ctx,
                     uint64_t *valid_end)
{
    uint64_t pos = from, last_good_end = from;
    while (pos < size) {
        td_blk_info_t info;
        int rc = td_blk_parse_header(base + pos, size - pos, &info);
        if (rc == TD_OK && td_blk_check(base + pos, &info) == TD_OK) {
            if (fn) fn(ctx, pos, &info, NULL);
            pos += info.len;
            last_good_end = pos;
            continue;
        }
        /* damaged here: find the next block that parses and checks */
        const uint8_t *p = base + pos + 1, *end = base + size;
        uint64_t next = size;
        while ((p = find_magic(p, end)) != NULL) {
            td_blk_info_t ni;
            uint64_t off = (uint64_t)(p - base);
            if (td_blk_parse_header(p, size - off, &ni) == TD_OK && td_blk_check(p, &ni) == TD_OK) {
                next = off;
                break;
            }
            p++;
        }
        if (next == size) {
            if (fn) fn(ctx, pos, NULL, rc == TD_EAGAIN ? "torn tail (incomplete block)" : "torn or damaged tail");
            break;
        }
        if (fn) fn(ctx, pos, NULL, rc == TD_OK ? "checksum mismatch" : "bad block header");
        pos = next;
    }
    if (valid_end) *valid_end = last_good_end;
    return TD_OK;
}

int td_part_map(const char *path, td_part_map_t *m)
{
    memset(m, 0, sizeof *m);
    m->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    m->fd = fd;
    m->size = (uint64_t)st.st_size;
    if (m->size) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = -errno;
            close(fd);
            m->fd = -1;
            return e;
        }
        m->base = p;
    }
    return TD_OK;
}

void td_part_unmap(td_part_map_t *m)
{
    if (m->base) munmap((void *)m->base, m->size);
    if (m->fd >= 0) close(m->fd);
    memset(m, 0, sizeof *m);
    m->fd = -1;
}

/* ---- index building ---- */

typedef struct collect {
    td_idx_entry_t *ent;
    size_t n, cap;
    uint64_t bad_regions, bad_bytes, last_bad_off;
    bool in_bad;
    const char *path;
    bool log;
} collect_t;

static void collect_fn(void *ctx, uint64_t off, const td_blk_info_t *info, const char *damage)
{
    collect_t *c = ctx;
    if (info) {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 256;
            c->ent = td_realloc(c->ent, c->cap * sizeof *c->ent);
        }
        c->ent[c->n].offset = off;
        c->ent[c->n].info = *info;
        c->n++;
        return;
    }
    c->bad_regions++;
    if (c->log) td_log_warn("store", "%s: damage at offset %llu: %s", c->path, (unsigned long long)off, damage);
}

static int write_all(int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return TD_OK;
}

int td_part_write_index(const char *idx_path, const td_idx_entry_t *ent, size_t n, bool do_fsync)
{
    char tmp[TD_PART_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", idx_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    uint8_t *buf = td_malloc(n * TD_IDX_ENTRY + 1);
    for (size_t i = 0; i < n; i++) td_idx_encode(&ent[i], buf + i * TD_IDX_ENTRY);
    int rc = write_all(fd, buf, n * TD_IDX_ENTRY, 0);
    td_free(buf);
    if (rc == TD_OK && do_fsync && fdatasync(fd) != 0) rc = -errno;
    close(fd);
    if (rc == TD_OK && rename(tmp, idx_path) != 0) rc = -errno;
    if (rc != TD_OK) unlink(tmp);
    return rc;
}

int td_part_recover(const char *data_path, const char *idx_path, td_part_recovery_t *rep)
{
    memset(rep, 0, sizeof *rep);
    td_part_map_t m;
    int rc = td_part_map(data_path, &m);
    if (rc == -ENOENT) return TD_OK;
    if (rc != TD_OK) return rc;
    collect_t c = { .path = data_path, .log = true };
    uint64_t valid_end = 0;
    td_part_scan_mem(m.base, m.size, 0, collect_fn, &c, &valid_end);
    /* bytes not covered by a valid block */
    uint64_t covered = 0;
    for (size_t i = 0; i < c.n; i++) covered += c.ent[i].info.len;
    uint64_t size = m.size;
    td_part_unmap(&m);
    rep->blocks = c.n;
    rep->bad_regions = c.bad_regions;
    rep->bad_bytes = size - covered;
    if (valid_end < size) {
        rep->truncated_bytes = size - valid_end;
        if (truncate(data_path, (off_t)valid_end) != 0) {
            rc = -errno;
            td_log_error("store", "%s: cannot truncate the torn tail: %s", data_path, strerror(errno));
            td_free(c.ent);
            return rc;
        }
        td_log_warn("store", "%s: recovery truncated %llu bytes of torn tail at offset %llu", data_path,
                    (unsigned long long)rep->truncated_bytes, (unsigned long long)valid_end);
        int fd = open(data_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            fdatasync(fd);
            close(fd);
        }
    }
    rc = td_part_write_index(idx_path, c.ent, c.n, true);
    td_free(c.ent);
    return rc;
}

/* ---- readers ---- */

static int load_index_file(td_part_t *p)
{
    int fd = open(p->idx_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return TD_EIO;
    }
    uint64_t want = (uint64_t)st.st_size / TD_IDX_ENTRY * TD_IDX_ENTRY;
    if (want <= p->idx_read) {
        close(fd);
        return TD_OK;
    }
    size_t nbytes = (size_t)(want - p->idx_read);
    uint8_t *buf = td_malloc(nbytes);
    ssize_t got = pread(fd, buf, nbytes, (off_t)p->idx_read);
    close(fd);
    if (got < 0) {
        td_free(buf);
        return TD_EIO;
    }
    size_t whole = (size_t)got / TD_IDX_ENTRY;
    int rc = TD_OK;
    for (size_t i = 0; i < whole; i++) {
        td_idx_entry_t e;
        if (td_idx_decode(buf + i * TD_IDX_ENTRY, &e) != TD_OK) {
            rc = TD_EPROTO;
            break;
        }
        if (e.offset < p->covered) continue; /* already found by a tail scan */
        if (e.offset + e.info.len > p->data_size) {
            rc = TD_EAGAIN; /* the index is ahead of what we saw of the data: read again later */
            break;
        }
        if (p->n == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 256;
            p->ent = td_realloc(p->ent, p->cap * sizeof *p->ent);
        }
        p->ent[p->n++] = e;
        p->covered = e.offset + e.info.len;
        p->idx_read += TD_IDX_ENTRY;
    }
    td_free(buf);
    return rc;
}

static void tail_fn(void *ctx, uint64_t off, const td_blk_info_t *info, const char *damage)
{
    td_part_t *p = ctx;
    if (!info || p->tail_stop) {
        p->tail_stop = true;
        return;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->ent = td_realloc(p->ent, p->cap * sizeof *p->ent);
    }
    p->ent[p->n].offset = off;
    p->ent[p->n].info = *info;
    p->n++;
    p->covered = off + info->len;
}

/* Blocks past the index (written but not yet indexed, or an index lost): scan them from the data. */
static void scan_tail(td_part_t *p)
{
    if (p->covered >= p->data_size) return;
    uint64_t len = p->data_size - p->covered;
    if (len > TD_PART_TAIL_SCAN_MAX) len = TD_PART_TAIL_SCAN_MAX;
    uint8_t *buf = td_malloc(len);
    ssize_t got = pread(p->fd, buf, len, (off_t)p->covered);
    if (got > 0) {
        /* scan only contiguous valid blocks from covered; stop at the first damage */
        uint64_t base_off = p->covered, pos = 0;
        while (pos < (uint64_t)got) {
            td_blk_info_t info;
            if (td_blk_parse_header(buf + pos, (size_t)got - pos, &info) != TD_OK) break;
            if (td_blk_check(buf + pos, &info) != TD_OK) break;
            tail_fn(p, base_off + pos, &info, NULL);
            pos += info.len;
        }
    }
    td_free(buf);
}

/* Does the data hold the block the index entry describes? (An index left from before a seal does not.) */
static bool entry_matches(const td_part_t *p, const td_idx_entry_t *e)
{
    uint8_t hdr[TD_BLK_HDR];
    if (pread(p->fd, hdr, sizeof hdr, (off_t)e->offset) != (ssize_t)sizeof hdr) return false;
    td_blk_info_t info;
    int rc = td_blk_parse_header(hdr, sizeof hdr, &info);
    if (rc != TD_OK && rc != TD_EAGAIN) return false; /* EAGAIN: the header is whole, the block is longer */
    return info.len == e->info.len && info.count == e->info.count && info.min_time == e->info.min_time &&
           strcmp(info.sym, e->info.sym) == 0;
}

static void reset(td_part_t *p)
{
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    p->n = 0;
    p->covered = 0;
    p->idx_read = 0;
    p->data_size = 0;
    p->ino = 0;
}

int td_part_refresh(td_part_t *p)
{
    struct stat st;
    if (stat(p->data_path, &st) != 0) return -errno;
    if (p->fd < 0 || st.st_ino != p->ino) {
        reset(p);
        p->fd = open(p->data_path, O_RDONLY | O_CLOEXEC);
        if (p->fd < 0) return -errno;
        if (fstat(p->fd, &st) != 0) return TD_EIO;
        p->ino = st.st_ino;
    } else if (fstat(p->fd, &st) != 0) {
        return TD_EIO;
    }
    if ((uint64_t)st.st_size == p->data_size && p->n) return TD_OK;
    p->data_size = (uint64_t)st.st_size;
    bool fresh = p->idx_read == 0;
    int rc = load_index_file(p);
    if (fresh && p->n && (rc == TD_OK || rc == TD_EAGAIN) && !entry_matches(p, &p->ent[0])) rc = TD_EPROTO;
    if (fresh && p->n > 1 && (rc == TD_OK || rc == TD_EAGAIN) && !entry_matches(p, &p->ent[p->n - 1])) rc = TD_EPROTO;
    if (rc == TD_EPROTO || (rc != TD_OK && rc != TD_EAGAIN && rc != -ENOENT)) {
        /* an index that does not fit its data: forget it and scan the data */
        p->n = 0;
        p->covered = 0;
        p->idx_read = UINT64_MAX / 2;
    }
    p->tail_stop = false;
    scan_tail(p);
    return TD_OK;
}

td_part_t *td_part_open(const char *data_path, const char *idx_path)
{
    td_part_t *p = td_calloc(1, sizeof *p);
    p->fd = -1;
    snprintf(p->data_path, sizeof p->data_path, "%s", data_path);
    snprintf(p->idx_path, sizeof p->idx_path, "%s", idx_path);
    if (td_part_refresh(p) != TD_OK) {
        td_part_close(p);
        return NULL;
    }
    return p;
}

void td_part_close(td_part_t *p)
{
    if (!p) return;
    if (p->fd >= 0) close(p->fd);
    td_free(p->ent);
    td_free(p);
}

int td_part_read(const td_part_t *p, const td_idx_entry_t *e, uint8_t **buf, size_t *cap)
{
    if (*cap < e->info.len) {
        td_free(*buf);
        *cap = e->info.len;
        *buf = td_malloc(*cap);
    }
    ssize_t got = pread(p->fd, *buf, e->info.len, (off_t)e->offset);
    if (got != (ssize_t)e->info.len) return TD_EIO;
    return TD_OK;
}

/* ---- sealing ---- */

typedef struct symrun {
    char sym[TD_SYM_NAME_MAX + 1];
    uint8_t iv;
    size_t *blocks; /* indexes into the entry list, in file order */
    size_t n, cap;
    uint64_t count;
    bool last_small; /* the last block seen is to be merged (not full, or an older layout) */
} symrun_t;

/* A block the seal must decode: not full, or in an older layout. */
static bool to_merge(const td_blk_info_t *info, uint32_t block_events)
{
    return info->count < block_events ||
           info->layout != (info->kind == TD_BLK_TICKS ? TD_BLK_LAYOUT2 : TD_BLK_LAYOUT1);
}

static td_idx_entry_t *push_entry(td_idx_entry_t *v, size_t *n, size_t *cap, uint64_t off, const td_blk_info_t *info)
{
    if (*n == *cap) {
        *cap *= 2;
        v = td_realloc(v, *cap * sizeof *v);
    }
    v[*n].offset = off;
    v[*n].info = *info;
    (*n)++;
    return v;
}

int td_part_seal(const char *data_path, const char *idx_path, int level, uint32_t block_events, bool *changed,
                 pthread_mutex_t *rename_lock)
{
    *changed = false;
    td_part_map_t m;
    int rc = td_part_map(data_path, &m);
    if (rc != TD_OK) return rc == -ENOENT ? TD_OK : rc;
    collect_t c = { .path = data_path, .log = false };
    td_part_scan_mem(m.base, m.size, 0, collect_fn, &c, NULL);
    /* group blocks by (symbol, interval) in order of first appearance */
    symrun_t *runs = NULL;
    size_t nruns = 0, caprun = 0, mergeable = 0;
    for (size_t i = 0; i < c.n; i++) {
        size_t r = 0;
        for (; r < nruns; r++)
            if (runs[r].iv == c.ent[i].info.iv && strcmp(runs[r].sym, c.ent[i].info.sym) == 0) break;
        if (r == nruns) {
            if (nruns == caprun) {
                caprun = caprun ? caprun * 2 : 64;
                runs = td_realloc(runs, caprun * sizeof *runs);
            }
            memset(&runs[r], 0, sizeof runs[r]);
            snprintf(runs[r].sym, sizeof runs[r].sym, "%s", c.ent[i].info.sym);
            runs[r].iv = c.ent[i].info.iv;
            nruns++;
        }
        symrun_t *s = &runs[r];
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 16;
            s->blocks = td_realloc(s->blocks, s->cap * sizeof *s->blocks);
        }
        s->blocks[s->n++] = i;
        s->count += c.ent[i].info.count;
        /* worth a seal: two small blocks in a row of the same symbol (they merge), or an older layout */
        const td_blk_info_t *in = &c.ent[i].info;
        bool small = to_merge(in, block_events);
        bool old_layout = in->layout != (in->kind == TD_BLK_TICKS ? TD_BLK_LAYOUT2 : TD_BLK_LAYOUT1);
        if (small && (s->last_small || old_layout)) mergeable++;
        s->last_small = small;
    }
    bool damaged = c.bad_regions > 0;
    if (mergeable == 0 && !damaged) goto done; /* already compact */

    char tmp[TD_PART_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.seal", data_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto done;
    }
    td_blk_scratch_t in = { 0 }, out = { 0 };
    size_t ncap = c.n + 1;
    td_idx_entry_t *nent = td_malloc(ncap * sizeof *nent);
    size_t nn = 0;
    uint64_t off = 0;
    bool ticks = c.n && c.ent[0].info.kind == TD_BLK_TICKS;
    size_t recsz = ticks ? sizeof(td_blk_tick_t) : sizeof(td_blk_candle_t);
    uint8_t *acc = td_malloc(((size_t)block_events + TD_BLK_MAX_COUNT) * recsz);
    uint8_t *dec = td_malloc((size_t)TD_BLK_MAX_COUNT * recsz);
    for (size_t r = 0; r < nruns && rc == TD_OK; r++) {
        size_t have = 0;
        for (size_t b = 0; b <= runs[r].n && rc == TD_OK; b++) {
            const td_idx_entry_t *e = b < runs[r].n ? &c.ent[runs[r].blocks[b]] : NULL;
            if (e && e->info.kind != c.ent[0].info.kind) continue; /* a mixed file: keep the first kind only */
            /* a full block in the current layout is copied as it is (checked at scan time), not decoded and
             * encoded again; the runs of small blocks between full ones (frequent flushes) are merged */
            bool copy = e && !to_merge(&e->info, block_events);
            if (e && !copy) {
                int k = ticks ? td_blk_decode_ticks(&in, m.base + e->offset, e->info.len, (td_blk_tick_t *)dec,
                                                    TD_BLK_MAX_COUNT)
                              : td_blk_decode_candles(&in, m.base + e->offset, e->info.len,
                                                      (td_blk_candle_t *)dec, TD_BLK_MAX_COUNT);
                if (k < 0) continue; /* checked at scan time; a decode failure is skipped, not copied */
                memcpy(acc + have * recsz, dec, (size_t)k * recsz);
                have += (size_t)k;
            }
            bool drain = !e || copy; /* the records before a copied block, or the run's last ones */
            while (have >= block_events || (drain && have > 0)) {
                size_t take = have < block_events ? have : block_events;
                int len = ticks ? td_blk_encode_ticks(&out, runs[r].sym, (td_blk_tick_t *)acc, take, level)
                                : td_blk_encode_candles(&out, runs[r].sym, (td_interval_t)runs[r].iv,
                                                        (td_blk_candle_t *)acc, take, level);
                if (len < 0) {
                    rc = len;
                    break;
                }
                rc = write_all(fd, out.out, (size_t)len, off);
                if (rc != TD_OK) break;
                td_blk_info_t info;
                td_blk_parse_header(out.out, (size_t)len, &info);
                nent = push_entry(nent, &nn, &ncap, off, &info);
                off += (uint64_t)len;
                memmove(acc, acc + take * recsz, (have - take) * recsz);
                have -= take;
            }
            if (copy && rc == TD_OK) {
                rc = write_all(fd, m.base + e->offset, e->info.len, off);
                if (rc != TD_OK) break;
                nent = push_entry(nent, &nn, &ncap, off, &e->info);
                off += e->info.len;
            }
        }
    }
    td_free(acc);
    td_free(dec);
    td_blk_scratch_free(&in);
    td_blk_scratch_free(&out);
    if (rc == TD_OK && fdatasync(fd) != 0) rc = -errno;
    close(fd);
    char itmp[TD_PART_PATH_MAX + 8];
    snprintf(itmp, sizeof itmp, "%s.seal", idx_path);
    if (rc == TD_OK) rc = td_part_write_index(itmp, nent, nn, true);
    td_free(nent);
    if (rc == TD_OK) {
        if (rename_lock) pthread_mutex_lock(rename_lock);
        if (rename(tmp, data_path) != 0) rc = -errno;
        else if (rename(itmp, idx_path) != 0) rc = -errno;
        if (rename_lock) pthread_mutex_unlock(rename_lock);
    }
    if (rc != TD_OK) {
        unlink(tmp);
        unlink(itmp);
        goto done;
    }
    *changed = true;
done:
    td_part_unmap(&m);
    for (size_t r = 0; r < nruns; r++) td_free(runs[r].blocks);
    td_free(runs);
    td_free(c.ent);
    return rc;
}
