/*
 * bcast.h: one-to-many broadcast ring of fixed-size records (the engine's out records to every I/O
 * thread), after Aeron's broadcast transmitter/receiver.
 *
 * One writer, any number of readers, each with its own cursor. The writer never waits for readers: a
 * reader that falls more than the capacity behind is "lapped"; it learns so (td_bcast_read returns
 * TD_BCAST_LAPPED with the count of records it lost), jumps to the oldest record still held, and must
 * resynchronize from state snapshots (for a WebSocket client: send fresh snapshots, as the slow-consumer
 * policy does anyway). Full policy, stated: overwrite the oldest; readers detect it, nothing is silent.
 *
 * Each slot carries a sequence stamp written after the payload (release) and checked again after the
 * reader copied it, so a record overwritten during the copy is detected and never returned torn. Payload
 * words are copied with relaxed atomics so the protocol is also clean under ThreadSanitizer.
 *
 * Threading: td_bcast_write from the single writer thread; td_bcast_reader_* from each reader's own
 * thread (a reader struct is owned by one thread); td_bcast_position from anywhere.
 */
#ifndef TD_BCAST_H
#define TD_BCAST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct td_bcast td_bcast_t;

typedef struct td_bcast_reader {
    const td_bcast_t *ring;
    uint64_t cursor;     /* next position to read */
    uint64_t lapped;     /* records lost to overruns, in total */
} td_bcast_reader_t;

#define TD_BCAST_EMPTY  0
#define TD_BCAST_OK     1
#define TD_BCAST_LAPPED 2

/* capacity rounded up to a power of two; record_size rounded up to a multiple of 8. */
td_bcast_t *td_bcast_create(size_t capacity, size_t record_size);
void td_bcast_destroy(td_bcast_t *b);
size_t td_bcast_record_size(const td_bcast_t *b);

/* Writer: appends one record (record_size bytes). */
void td_bcast_write(td_bcast_t *b, const void *record);
/* Position of the next record to be written (= records written so far). */
uint64_t td_bcast_position(const td_bcast_t *b);

/* A reader starting at the current end (sees only what is written after this call). */
void td_bcast_reader_init(td_bcast_reader_t *r, const td_bcast_t *b);
/* Copies the next record into out. TD_BCAST_OK: a record; TD_BCAST_EMPTY: nothing new; TD_BCAST_LAPPED:
 * the reader was overrun; *lost (if not NULL) gets how many records it missed, and the cursor has moved
 * to the oldest record still held (call again to read it). */
int td_bcast_read(td_bcast_reader_t *r, void *out, uint64_t *lost);

#endif
