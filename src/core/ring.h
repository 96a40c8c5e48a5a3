/*
 * ring.h: bounded single-producer / single-consumer ring of fixed-size slots.
 *
 * Zero-copy on both sides: the producer claims contiguous free slots, fills them in place and publishes;
 * the consumer peeks at contiguous ready slots, reads them in place and releases. Each index lives on its
 * own cache line, and each side caches the other's index so the shared line is touched only when the
 * cached view runs out (the Aeron / LMAX pattern). Acquire/release ordering: publish is a release store of
 * tail after the slots are written; peek is an acquire load of tail before they are read (and the mirror
 * for head), so no fences beyond those two are needed.
 *
 * Full policy is the caller's, stated where each ring is created: td_spsc_push() fails when full (the
 * caller counts a drop or conflates); td_spsc_push_wait() blocks the producer with a spin/yield/sleep
 * backoff (backpressure: a file feed simply slows down) and counts the waits in `full_waits`.
 *
 * Threading: exactly one producer thread and one consumer thread; either may read td_spsc_size().
 */
#ifndef TD_RING_H
#define TD_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct td_spsc {
    alignas(64) _Atomic uint64_t tail; /* producer-owned: next slot to write */
    uint64_t head_cache;               /* producer's last view of head */
    _Atomic uint64_t full_waits;       /* producer: times it found the ring full in push_wait */
    alignas(64) _Atomic uint64_t head; /* consumer-owned: next slot to read */
    uint64_t tail_cache;               /* consumer's last view of tail */
    alignas(64) uint64_t mask;
    uint32_t elem_size;
    char *slots;
} td_spsc_t;

/* capacity is rounded up to a power of two; elem_size is the slot size in bytes. */
td_spsc_t *td_spsc_create(size_t capacity, uint32_t elem_size);
void td_spsc_destroy(td_spsc_t *r);

static inline size_t td_spsc_capacity(const td_spsc_t *r) { return (size_t)r->mask + 1; }

/* Producer: up to `want` contiguous free slots at *slots; returns how many (0 = full). */
static inline size_t td_spsc_claim(td_spsc_t *r, size_t want, void **slots)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t cap = r->mask + 1;
    uint64_t free_n = cap - (tail - r->head_cache);
    if (free_n < want) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        free_n = cap - (tail - r->head_cache);
    }
    uint64_t idx = tail & r->mask;
    uint64_t contig = cap - idx;
    size_t n = want;
    if (n > free_n) n = (size_t)free_n;
    if (n > contig) n = (size_t)contig;
    *slots = r->slots + idx * r->elem_size;
    return n;
}

static inline void td_spsc_publish(td_spsc_t *r, size_t n)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
}

/* Consumer: up to `max` contiguous ready slots at *slots; returns how many (0 = empty). */
static inline size_t td_spsc_peek(td_spsc_t *r, size_t max, void **slots)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t avail = r->tail_cache - head;
    if (avail < max) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        avail = r->tail_cache - head;
    }
    uint64_t idx = head & r->mask;
    uint64_t contig = r->mask + 1 - idx;
    size_t n = max;
    if (n > avail) n = (size_t)avail;
    if (n > contig) n = (size_t)contig;
    *slots = r->slots + idx * r->elem_size;
    return n;
}

static inline void td_spsc_release(td_spsc_t *r, size_t n)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    atomic_store_explicit(&r->head, head + n, memory_order_release);
}

/* Copies one element in; false when full (caller's policy applies). */
static inline bool td_spsc_push(td_spsc_t *r, const void *elem)
{
    void *slot;
    if (td_spsc_claim(r, 1, &slot) == 0) return false;
    memcpy(slot, elem, r->elem_size);
    td_spsc_publish(r, 1);
    return true;
}

/* Copies one element out; false when empty. */
static inline bool td_spsc_pop(td_spsc_t *r, void *elem)
{
    void *slot;
    if (td_spsc_peek(r, 1, &slot) == 0) return false;
    memcpy(elem, slot, r->elem_size);
    td_spsc_release(r, 1);
    return true;
}

/* Elements ready to read (approximate when called from a third thread). */
static inline size_t td_spsc_size(td_spsc_t *r)
{
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    return (size_t)(t - h);
}

/* Backpressure: waits (spin, then yield, then 50us sleeps) until one slot is free, unless *stop becomes
 * true. Returns true when pushed, false when stopped. */
bool td_spsc_push_wait(td_spsc_t *r, const void *elem, const _Atomic bool *stop);

/* Waits until at least `want` contiguous slots can be claimed (or fewer at the wrap point); returns the
 * count claimed, 0 if *stop became true. */
size_t td_spsc_claim_wait(td_spsc_t *r, size_t want, void **slots, const _Atomic bool *stop);

#endif
