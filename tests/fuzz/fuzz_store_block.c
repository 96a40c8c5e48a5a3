/* fuzz_store_block: the stored-block reader on arbitrary bytes.
 * Byte 0 selects the mode; the rest is a partition file's content:
 *   mode & 1: the checksum of the block at the start is recomputed first (so mutations reach the column
 *             decoder instead of stopping at the crc check);
 * Then: the partition scan (with resynchronization) over the whole input, and for every block it accepts,
 * the tick or candle decoder; whatever decodes is re-encoded and must decode to the same records. An index
 * entry is decoded from the first 80 bytes too. Any crash, sanitizer report or mismatch is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "store/part.h"
#include "store/store_internal.h"

static td_blk_scratch_t sc, sc2;
static td_blk_tick_t ticks[TD_BLK_MAX_COUNT], ticks2[TD_BLK_MAX_COUNT];
static td_blk_candle_t cand[TD_BLK_MAX_COUNT], cand2[TD_BLK_MAX_COUNT];

static void check_block(const uint8_t *b, const td_blk_info_t *info)
{
    if (info->kind == TD_BLK_TICKS) {
        int n = td_blk_decode_ticks(&sc, b, info->len, ticks, TD_BLK_MAX_COUNT);
        if (n <= 0) return;
        int len = td_blk_encode_ticks(&sc2, info->sym, ticks, (size_t)n, 1);
        if (len == TD_ENOBUFS) return;
        if (len <= 0) abort();
        if (td_blk_decode_ticks(&sc, sc2.out, (size_t)len, ticks2, TD_BLK_MAX_COUNT) != n) abort();
        for (int i = 0; i < n; i++)
            if (memcmp(&ticks[i], &ticks2[i], sizeof ticks[i]) != 0) abort();
    } else {
        int n = td_blk_decode_candles(&sc, b, info->len, cand, TD_BLK_MAX_COUNT);
        if (n <= 0) return;
        int len = td_blk_encode_candles(&sc2, info->sym, (td_interval_t)info->iv, cand, (size_t)n, 1);
        if (len <= 0) abort();
        if (td_blk_decode_candles(&sc, sc2.out, (size_t)len, cand2, TD_BLK_MAX_COUNT) != n) abort();
        for (int i = 0; i < n; i++)
            if (memcmp(&cand[i], &cand2[i], sizeof cand[i]) != 0) abort();
    }
}

static void on_block(void *ctx, uint64_t off, const td_blk_info_t *info, const char *damage)
{
    (void)damage;
    if (info) check_block((const uint8_t *)ctx + off, info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20)) return 0;
    uint8_t mode = data[0];
    uint8_t *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    size_t n = size - 1;
    if ((mode & 1) && n >= TD_BLK_HDR) {
        uint32_t len;
        memcpy(&len, buf + 4, 4);
        if (len >= TD_BLK_HDR && len <= n) td_blk_seal(buf, len);
    }
    if (n >= TD_IDX_ENTRY) {
        td_idx_entry_t e;
        (void)td_idx_decode(buf, &e);
    }
    uint64_t valid_end;
    td_part_scan_mem(buf, n, 0, on_block, buf, &valid_end);
    if (valid_end > n) abort();
    free(buf);
    return 0;
}
