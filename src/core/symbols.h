/*
 * symbols.h: interned symbols and exchanges (process-wide registries).
 *
 * A symbol name ("AAPL", "BTCUSDT", "BTC-USD") maps to a small integer id once, so events, books and
 * subscriptions use ids, never strings. Names are upper-cased on the way in (API.md: case-insensitive on
 * input, upper-case on output). Ids start at 1; 0 means "no symbol".
 *
 * Threading: td_sym_intern()/td_exch_intern() may be called from any thread (a mutex serializes
 * inserts); td_sym_lookup(), td_sym_name() and td_sym_count() are lock-free and safe from any thread
 * (names are written once, then published with a release store). Ids are never reused or freed.
 * Capacity is fixed (TD_SYM_MAX, TD_EXCH_MAX): past it, intern returns 0 and the caller reports it.
 */
#ifndef TD_SYMBOLS_H
#define TD_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

#define TD_SYM_MAX      65535u /* ids 1..65535 */
#define TD_SYM_NAME_MAX 31     /* bytes of a name, without NUL */
#define TD_EXCH_MAX     63u    /* ids 1..63: fits a uint64 bitmask */
#define TD_EXCH_NAME_MAX 15

/* Returns the id for name (interning it if new), 0 if the name is empty, too long, has characters outside
 * [A-Za-z0-9._:/-] or the table is full. */
uint32_t td_sym_intern(const char *name, size_t len);
/* Returns the id or 0 if the name was never interned; case-insensitive. */
uint32_t td_sym_lookup(const char *name, size_t len);
/* Returns the upper-case name, or "?" for an unknown id. */
const char *td_sym_name(uint32_t id);
/* Number of interned symbols (ids 1..count are valid). */
uint32_t td_sym_count(void);

uint8_t td_exch_intern(const char *name, size_t len);
uint8_t td_exch_lookup(const char *name, size_t len);
const char *td_exch_name(uint8_t id);
uint8_t td_exch_count(void);

#endif
