/* ring.c: creation and the blocking (backpressure) paths of the SPSC ring; the fast paths are inline. */
#include "core/ring.h"

#include <sched.h>
#include <time.h>

#include "core/common.h"

td_spsc_t *td_spsc_create(size_t capacity, uint32_t elem_size)
{
    size_t cap = 2;
    while (cap < capacity) cap <<= 1;
    td_spsc_t *r = td_aligned_alloc(64, sizeof *r);
    memset(r, 0, sizeof *r);
    r->mask = cap - 1;
    r->elem_size = elem_size;
    r->slots = td_aligned_alloc(64, cap * elem_size);
    return r;
}

void td_spsc_destroy(td_spsc_t *r)
{
    if (!r) return;
    td_free(r->slots);
    td_free(r);
}

static void backoff(unsigned *spins)
{
    if (*spins < 64) {
        __builtin_ia32_pause();
    } else if (*spins < 128) {
        sched_yield();
    } else {
        struct timespec ts = { 0, 50 * 1000 };
        nanosleep(&ts, NULL);
    }
    (*spins)++;
}

size_t td_spsc_claim_wait(td_spsc_t *r, size_t want, void **slots, const _Atomic bool *stop)
{
    unsigned spins = 0;
    for (;;) {
        size_t n = td_spsc_claim(r, want, slots);
        if (n) return n;
        if (spins == 0) atomic_fetch_add_explicit(&r->full_waits, 1, memory_order_relaxed);
        if (stop && atomic_load_explicit(stop, memory_order_relaxed)) return 0;
        backoff(&spins);
    }
}

bool td_spsc_push_wait(td_spsc_t *r, const void *elem, const _Atomic bool *stop)
{
    void *slot;
    if (td_spsc_claim_wait(r, 1, &slot, stop) == 0) return false;
    memcpy(slot, elem, r->elem_size);
    td_spsc_publish(r, 1);
    return true;
}
