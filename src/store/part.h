/*
 * part.h: partition files (data NAME.tdb + index NAME.tdi) inside src/store: scanning, recovery, the
 * reader's index, sealing (compaction). See part.c for the rules; not a public API.
 * Threading: see part.c (one thread per td_part_t at a time; the owner locks).
 */
#ifndef TD_STORE_PART_H
#define TD_STORE_PART_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/store_internal.h"

#define TD_PART_PATH_MAX 1024
#define TD_PART_TAIL_SCAN_MAX (64u << 20) /* bytes a reader scans past its index at once */

/* A block found by a scan (info != NULL) or a damaged region starting at off (damage != NULL). */
typedef void (*td_part_scan_fn)(void *ctx, uint64_t off, const td_blk_info_t *info, const char *damage);

typedef struct td_part_map {
    int fd;
    const uint8_t *base;
    uint64_t size;
} td_part_map_t;

int td_part_map(const char *path, td_part_map_t *m); /* read-only mmap of a whole file */
void td_part_unmap(td_part_map_t *m);
/* Scans base[from..size); *valid_end = end of the last valid block (torn tail starts there). */
int td_part_scan_mem(const uint8_t *base, uint64_t size, uint64_t from, td_part_scan_fn fn, void *ctx,
                     uint64_t *valid_end);

typedef struct td_part_recovery {
    uint64_t blocks;          /* valid blocks kept */
    uint64_t bad_regions;     /* damaged regions found (skipped or cut) */
    uint64_t bad_bytes;       /* bytes not in a valid block */
    uint64_t truncated_bytes; /* torn tail cut off */
} td_part_recovery_t;

int td_part_recover(const char *data_path, const char *idx_path, td_part_recovery_t *rep);
int td_part_write_index(const char *idx_path, const td_idx_entry_t *ent, size_t n, bool do_fsync);
/* Compacts the partition (see part.c); *changed says whether the files were rewritten. */
/* rename_lock (may be NULL) is held around the two renames, so readers that refresh under it never see
 * the new data with the old index. */
int td_part_seal(const char *data_path, const char *idx_path, int level, uint32_t block_events, bool *changed,
                 pthread_mutex_t *rename_lock);

/* A partition open for reading: its index in memory, refreshed as the file grows or is replaced. */
typedef struct td_part {
    char data_path[TD_PART_PATH_MAX];
    char idx_path[TD_PART_PATH_MAX];
    int fd;
    ino_t ino;
    uint64_t data_size, covered, idx_read;
    td_idx_entry_t *ent;
    size_t n, cap;
    bool tail_stop;
    /* owner's bookkeeping (store.c) */
    int refs;
    uint64_t last_used;
    uint8_t kind, iv;
    int64_t key;
    bool orphan; /* not in the cache (it was full of pinned partitions): closed at unpin */
} td_part_t;

td_part_t *td_part_open(const char *data_path, const char *idx_path);
int td_part_refresh(td_part_t *p);
void td_part_close(td_part_t *p);
int td_part_read(const td_part_t *p, const td_idx_entry_t *e, uint8_t **buf, size_t *cap);

#endif
