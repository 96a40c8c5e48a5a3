/*
 * runner.h: one thread per source. It pulls batches from a td_source_t, paces file sources by exchange
 * time when asked (speed N = real time times N; 0 = as fast as possible), stamps recv_ns where the source
 * left it 0, and pushes the events into its own SPSC ring to the engine.
 *
 * Ring full policy: block (backpressure). A file source just slows down; a live source's socket buffer
 * fills and the exchange eventually disconnects us, which the supervisor treats as a gap (never a silent
 * loss). The time spent blocked is visible as the ring's full_waits counter.
 */
#ifndef TD_RUNNER_H
#define TD_RUNNER_H

#include <stdbool.h>

#include "core/ring.h"
#include "feed/source.h"

typedef struct td_feed_runner td_feed_runner_t;

/* Takes ownership of src. ring_capacity in events. */
td_feed_runner_t *td_feed_runner_create(td_source_t *src, size_t ring_capacity, double speed);
td_spsc_t *td_feed_runner_ring(td_feed_runner_t *r);
td_source_t *td_feed_runner_source(td_feed_runner_t *r);
int td_feed_runner_start(td_feed_runner_t *r);
/* True once the source reported TD_EOF or a fatal error. */
bool td_feed_runner_done(const td_feed_runner_t *r);
/* Signals the thread to stop and joins it. */
void td_feed_runner_stop(td_feed_runner_t *r);
void td_feed_runner_destroy(td_feed_runner_t *r);

#endif
