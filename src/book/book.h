/*
 * book.h: order books for one (symbol, exchange): price-level (L2) and order-level (L3), and the
 * consolidated view across exchanges.
 *
 * td_lbook_t: levels keyed by price, each with a total quantity and an order count. Fed by price-level
 *   sources (Binance, Coinbase: "the total at price P is now Q") and used inside td_obook_t as its
 *   aggregated view.
 * td_obook_t: orders keyed by id (ITCH, LOBSTER: add / execute / partial cancel / delete / replace), each
 *   resting in a FIFO at its price level; the levels are a td_lbook_t kept in step.
 *
 * Complexity: every mutation is O(log L) in the number of levels L on that side, O(1) expected in the
 * number of orders; best bid/ask is O(1); top-N is O(N + log L). Memory is bounded by live orders and live
 * levels: an emptied level and a removed order are freed (to the book's own free lists, which shrink when
 * the book is cleared). Target: <= 64 bytes per live order, everything included.
 *
 * Prices and quantities are scaled int64 (decimal.h). Sides: TD_BID / TD_ASK (event.h). Bids are ordered
 * best = highest price, asks best = lowest.
 *
 * Threading: a book is owned by one thread (the engine); nothing here locks.
 */
#ifndef TD_BOOK_H
#define TD_BOOK_H

#include <stddef.h>
#include <stdint.h>

typedef struct td_level {
    int64_t price;
    int64_t qty;     /* total quantity at this price */
    uint32_t count;  /* orders at this price (order-level books); 0 for pure price-level sources */
} td_level_t;

typedef struct td_order_info {
    uint64_t order_id;
    int64_t price;
    int64_t qty;      /* remaining open quantity after the operation (0 = gone) */
    int64_t removed;  /* quantity the operation removed (exec/cancel/delete) */
    uint8_t side;
} td_order_info_t;

/* ---- price-level book ---- */
typedef struct td_lbook td_lbook_t;

td_lbook_t *td_lbook_create(void);
void td_lbook_destroy(td_lbook_t *b);           /* NULL is a no-op */
void td_lbook_clear(td_lbook_t *b);

/* Sets the total at price to qty; qty == 0 removes the level (no error if absent). Returns TD_OK, or
 * TD_EINVAL for a bad side, a price <= 0 or a qty < 0. */
int td_lbook_set(td_lbook_t *b, int side, int64_t price, int64_t qty);
/* Removes the level; TD_ENOENT if there was none. */
int td_lbook_del(td_lbook_t *b, int side, int64_t price);
/* Adds delta (may be negative) to the level's qty and count_delta to its count, creating it if needed and
 * removing it when qty reaches 0. Used by td_obook_t. TD_EINVAL if qty or count would go negative (or for
 * a bad side or price <= 0); TD_ERANGE if qty would overflow int64 or count uint32. Nothing changes on an error. */
int td_lbook_adjust(td_lbook_t *b, int side, int64_t price, int64_t qty_delta, int32_t count_delta);

/* Best level of a side: TD_OK, or TD_ENOENT when the side is empty. O(1). */
int td_lbook_best(const td_lbook_t *b, int side, td_level_t *out);
/* Level at an exact price: TD_OK or TD_ENOENT. */
int td_lbook_get(const td_lbook_t *b, int side, int64_t price, td_level_t *out);
/* Copies up to max levels of a side, best first; returns how many. max = SIZE_MAX for full depth. */
size_t td_lbook_depth(const td_lbook_t *b, int side, td_level_t *out, size_t max);
size_t td_lbook_nlevels(const td_lbook_t *b, int side);
/* Incremented on every change; lets publishers skip unchanged books. Calls that change nothing (an error,
 * setting a level to the total it already has, removing an absent level with set) leave it alone. */
uint64_t td_lbook_version(const td_lbook_t *b);
/* Bytes of heap memory the book holds (structures + free lists), for the memory-per-order figure. */
size_t td_lbook_mem_bytes(const td_lbook_t *b);

/* Iteration over a side, best first, without copying: the iterator is valid until the book changes. */
typedef struct td_lbook_iter { const void *node; const td_lbook_t *book; int side; } td_lbook_iter_t;
void td_lbook_iter_init(td_lbook_iter_t *it, const td_lbook_t *b, int side);
/* Fills *out and advances; returns 0 at the end. */
int td_lbook_iter_next(td_lbook_iter_t *it, td_level_t *out);

/* ---- order-level book ---- */
typedef struct td_obook td_obook_t;

td_obook_t *td_obook_create(void);
void td_obook_destroy(td_obook_t *b);
void td_obook_clear(td_obook_t *b);

/* TD_OK; TD_EEXIST for a live duplicate id; TD_EINVAL for bad side, price <= 0 or qty <= 0. Also (nothing
 * changes): TD_ERANGE if the level's total would overflow int64; TD_ENOBUFS at the cap of 2^24 - 2 live
 * orders per book. Checks run in that order: arguments, cap, duplicate, overflow. */
int td_obook_add(td_obook_t *b, uint64_t id, int side, int64_t price, int64_t qty);
/* Executes qty of the order (removing it when nothing is left). TD_ENOENT unknown id; TD_EINVAL qty <= 0
 * (checked first). If qty exceeds the open quantity the order is removed and TD_ERANGE returned (info
 * still filled: removed = the open quantity, qty = 0). info may be NULL. */
int td_obook_exec(td_obook_t *b, uint64_t id, int64_t qty, td_order_info_t *info);
/* Partial cancel: same contract as exec (a cancel of everything removes the order). */
int td_obook_cancel(td_obook_t *b, uint64_t id, int64_t qty, td_order_info_t *info);
/* Removes the order; TD_ENOENT if unknown. info (may be NULL) gets what was removed. */
int td_obook_delete(td_obook_t *b, uint64_t id, td_order_info_t *info);
/* Replaces id by new_id at price/qty on the same side; the new order goes to the back of its level.
 * TD_ENOENT unknown id (nothing changes); TD_EEXIST new_id already live (nothing changes); TD_EINVAL.
 * new_id == id is allowed (a modify that loses priority). TD_ERANGE (nothing changes) if the target
 * level's total would overflow. Checks run: arguments, id, new_id, overflow. info (may be NULL) describes
 * the old order as removed: its id, price, side, removed = its open quantity, qty = 0. */
int td_obook_replace(td_obook_t *b, uint64_t id, uint64_t new_id, int64_t price, int64_t qty,
                     td_order_info_t *info);
/* Looks an order up: TD_OK or TD_ENOENT. */
int td_obook_get(const td_obook_t *b, uint64_t id, td_order_info_t *info);
/* Orders resting at price on side, in time priority (L3 view); returns how many were copied. */
size_t td_obook_orders_at(const td_obook_t *b, int side, int64_t price, td_order_info_t *out, size_t max);
size_t td_obook_norders(const td_obook_t *b);
/* The aggregated price levels (count = orders at the level), kept in step with the orders. */
const td_lbook_t *td_obook_levels(const td_obook_t *b);
size_t td_obook_mem_bytes(const td_obook_t *b);
/* Optional hints for a consumer that sees events before it applies them (the engine drains its ring in
 * bursts): a large book's id table and order records are mostly out of cache, so each operation waits on
 * memory. Call td_obook_prefetch_slot(id) some 8 events ahead of the operation on id and
 * td_obook_prefetch_order(id) some 4 ahead; both only issue prefetches (no visible effect, never fail). */
void td_obook_prefetch_slot(const td_obook_t *b, uint64_t id);
void td_obook_prefetch_order(const td_obook_t *b, uint64_t id);

/* ---- consolidated book across exchanges ---- */
typedef struct td_clevel {
    int64_t price;
    int64_t qty;
    uint32_t count;
    uint8_t exch;
} td_clevel_t;

/* Merges the books of one symbol's exchanges: up to max entries of a side, best price first; at equal
 * prices each exchange keeps its own entry, larger quantity first, then lower exchange id. O(max * n). */
size_t td_book_consolidate(const td_lbook_t *const *books, const uint8_t *exch, size_t n, int side,
                           td_clevel_t *out, size_t max);

#endif
