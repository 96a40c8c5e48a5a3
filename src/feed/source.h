/*
 * source.h: a source of normalized events, pulled by a feed runner thread.
 *
 * Every feed kind (sim, lobster, itch50, recording, and later the live exchange clients) implements this
 * one interface. The runner (feed/runner.c) calls next() in a loop on its own thread, paces file sources
 * by exchange time when asked (--speed N), stamps recv_ns where the source left it 0, and pushes the events
 * into its SPSC ring to the engine (full policy: block, i.e. backpressure on the source).
 *
 * Contract of next(): fill up to max events into out and return the count (> 0); 0 when nothing is ready
 * yet (a live source waiting on the network); TD_EOF when a file source is exhausted; another negative
 * TD_E* on a fatal error (the runner logs it and stops the source). Bad records inside a source are not
 * fatal: the source skips them, counts them in stats.bad and logs them (rate-limited) with the position.
 *
 * stats are written by the source's thread and read by anyone (metrics), hence atomics.
 */
#ifndef TD_SOURCE_H
#define TD_SOURCE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

typedef struct td_source_stats {
    _Atomic uint64_t messages;  /* source messages/records read */
    _Atomic uint64_t events;    /* normalized events produced */
    _Atomic uint64_t bad;       /* malformed or rejected records skipped */
    _Atomic uint64_t bytes;     /* input bytes consumed */
    _Atomic uint64_t gaps;      /* sequence gaps detected */
    _Atomic uint64_t resyncs;   /* gaps repaired */
} td_source_stats_t;

typedef struct td_source td_source_t;
struct td_source {
    const char *kind;           /* "sim", "lobster", ... */
    char name[64];              /* for logs and metrics: kind plus a short argument */
    int (*next)(td_source_t *src, td_event_t *out, size_t max);
    void (*destroy)(td_source_t *src);
    td_source_stats_t stats;
};

static inline void td_source_destroy(td_source_t *s)
{
    if (s) s->destroy(s);
}

/* Opens a source from a --feed spec ("sim:...", "lobster:M.csv,B.csv", "itch50:FILE", ...). On error
 * returns NULL with a message in err. */
td_source_t *td_source_open(const char *spec, char *err, size_t errlen);

#endif
