/* bcast.c: the broadcast ring (see bcast.h for the protocol). */
#include "core/bcast.h"

#include <string.h>

#include "core/common.h"

struct td_bcast {
    uint64_t mask;
    size_t record_size;   /* bytes, multiple of 8 */
    size_t slot_words;    /* 1 stamp word + payload words */
    uint64_t *slots;
    _Alignas(64) _Atomic uint64_t tail; /* next position to write */
};

td_bcast_t *td_bcast_create(size_t capacity, size_t record_size)
{
    size_t cap = 2;
    while (cap < capacity) cap <<= 1;
    td_bcast_t *b = td_aligned_alloc(64, sizeof *b);
    memset(b, 0, sizeof *b);
    b->mask = cap - 1;
    b->record_size = (record_size + 7) & ~(size_t)7;
    b->slot_words = 1 + b->record_size / 8;
    b->slots = td_aligned_alloc(64, cap * b->slot_words * 8);
    memset(b->slots, 0, cap * b->slot_words * 8); /* stamp 0 = never written */
    return b;
}

void td_bcast_destroy(td_bcast_t *b)
{
    if (!b) return;
    td_free(b->slots);
    td_free(b);
}

size_t td_bcast_record_size(const td_bcast_t *b) { return b->record_size; }

uint64_t td_bcast_position(const td_bcast_t *b)
{
    return atomic_load_explicit(&((td_bcast_t *)b)->tail, memory_order_acquire);
}

void td_bcast_write(td_bcast_t *b, const void *record)
{
    uint64_t pos = atomic_load_explicit(&b->tail, memory_order_relaxed);
    uint64_t *slot = b->slots + (pos & b->mask) * b->slot_words;
    /* stamp "being written" first, so a reader copying the old record sees the change afterwards */
    __atomic_store_n(&slot[0], UINT64_MAX, __ATOMIC_RELAXED);
    atomic_thread_fence(memory_order_release);
    uint64_t words[64];
    const uint64_t *src = record;
    if (((uintptr_t)record & 7) != 0 && b->record_size <= sizeof words) {
        memcpy(words, record, b->record_size);
        src = words;
    }
    for (size_t i = 0; i < b->record_size / 8; i++) __atomic_store_n(&slot[1 + i], src[i], __ATOMIC_RELAXED);
    __atomic_store_n(&slot[0], pos + 1, __ATOMIC_RELEASE);
    atomic_store_explicit(&b->tail, pos + 1, memory_order_release);
}

void td_bcast_reader_init(td_bcast_reader_t *r, const td_bcast_t *b)
{
    r->ring = b;
    r->cursor = td_bcast_position(b);
    r->lapped = 0;
}

int td_bcast_read(td_bcast_reader_t *r, void *out, uint64_t *lost)
{
    const td_bcast_t *b = r->ring;
    uint64_t pos = r->cursor;
    const uint64_t *slot = b->slots + (pos & b->mask) * b->slot_words;
    uint64_t stamp = __atomic_load_n(&slot[0], __ATOMIC_ACQUIRE);
    if (stamp == pos + 1) {
        uint64_t *dst = out;
        for (size_t i = 0; i < b->record_size / 8; i++) dst[i] = __atomic_load_n(&slot[1 + i], __ATOMIC_RELAXED);
        atomic_thread_fence(memory_order_acquire);
        if (__atomic_load_n(&slot[0], __ATOMIC_RELAXED) == pos + 1) {
            r->cursor = pos + 1;
            return TD_BCAST_OK;
        }
        /* overwritten while we copied: we have been lapped */
    } else {
        uint64_t tail = td_bcast_position(b);
        if (tail <= pos) return TD_BCAST_EMPTY;
        if (tail - pos <= b->mask + 1 && stamp != UINT64_MAX && stamp < pos + 1) return TD_BCAST_EMPTY;
        if (tail - pos <= b->mask + 1 && stamp == UINT64_MAX) return TD_BCAST_EMPTY; /* being written */
    }
    uint64_t tail = td_bcast_position(b);
    uint64_t oldest = tail > b->mask + 1 ? tail - (b->mask + 1) + 1 : 0; /* +1: the writer may be mid-slot */
    uint64_t missed = oldest > pos ? oldest - pos : 1;
    r->cursor = oldest > pos ? oldest : pos + 1;
    r->lapped += missed;
    if (lost) *lost = missed;
    return TD_BCAST_LAPPED;
}
