/*
 * book_internal.h: the level pool and AVL tree shared by lbook.c (price-level book) and obook.c (the
 * order-level book keeps a td_lbook_t in step with its orders and reaches into its nodes directly).
 *
 * Layout: one pool of 48-byte level nodes per book, addressed by 32-bit index (TD_LB_NIL = none), holding
 * both sides. Each side has an AVL tree (for O(log L) lookup, insert and delete) and, threaded through the
 * same nodes, a doubly linked list in best-first order (so best is O(1), iteration and top-N are O(1) per
 * level with no parent pointers). A node stores key = -price for bids and +price for asks, so "best" is the
 * smallest key on both sides and the tree code never branches on side.
 *
 * Invariants: a node is either live (in exactly one side's tree and list) or on the free list (chained
 * through `next`). Indices stay valid until td_lb_compact(); pointers into the pool stay valid only until
 * the next td_lb_insert() (which may grow the pool) or compaction.
 *
 * Threading: a book belongs to one thread; nothing here locks.
 */
#ifndef TD_BOOK_INTERNAL_H
#define TD_BOOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "book/book.h"

#define TD_LB_NIL UINT32_MAX
#define TD_LB_MIN_CAP 64u /* level nodes a new or emptied book keeps */
#define TD_LB_PCACHE 128u /* direct-mapped price -> level cache entries (power of two) */

typedef struct td_lnode {
    int64_t key;        /* -price for bids, +price for asks: smaller is better on both sides */
    int64_t qty;        /* total quantity at the level */
    uint32_t count;     /* orders at the level (order-level books) */
    uint32_t left, right; /* AVL children, ordered by key */
    uint32_t prev, next;  /* side list, best first; `next` chains the free list */
    uint32_t head, tail;  /* order FIFO at this level (obook); TD_LB_NIL in a pure price-level book */
    uint8_t height;       /* AVL height, leaf = 1 */
    uint8_t side;
} td_lnode_t;

struct td_lbook {
    td_lnode_t *nodes;
    uint32_t cap;          /* nodes allocated */
    uint32_t used;         /* high-water mark: nodes[used..cap) were never handed out since the last reset */
    uint32_t free_head;    /* free list through `next` */
    uint32_t root[2];      /* per side */
    uint32_t best[2];      /* per side: head of the best-first list (cached best) */
    uint32_t nlevels[2];
    bool owned;            /* embedded in a td_obook_t: the owner decides when to compact */
    uint64_t version;
    /* Recently used levels by price: most updates hit the same few dozen prices near the top, and this
     * answers them with one load instead of a list walk or a tree descent. An entry is a hint: it is
     * trusted only if the node it names is live with the same key (removal clears the entry naming the
     * node; compaction and reset clear them all). */
    uint32_t pcache[TD_LB_PCACHE];
};

static inline int64_t td_lb_key(int side, int64_t price) { return side == 0 /* TD_BID */ ? -price : price; }
static inline int64_t td_lb_price(const td_lnode_t *n) { return n->side == 0 ? -n->key : n->key; }

void td_lb_init(td_lbook_t *b, bool owned);
void td_lb_fini(td_lbook_t *b);
/* Back to an empty book with TD_LB_MIN_CAP nodes (frees the rest). */
void td_lb_reset(td_lbook_t *b);

static inline uint32_t td_lb_pcache_slot(int64_t key)
{
    return (uint32_t)(((uint64_t)key * 0x9E3779B97F4A7C15ULL) >> 32) & (TD_LB_PCACHE - 1);
}

/* Index of the level at price on side, or TD_LB_NIL. Most traffic lands at or a few ticks behind the best
 * level, so the search first asks the price cache, then walks the best-first list a few steps (nodes that
 * are hot in cache, and a price better than the best is answered at once) and only then descends the
 * tree: O(1) for a cached price, O(min(d, TD_LB_FINGER)) for a level d places from the top, O(log L)
 * otherwise. *slot gets the cache entry to remember a hit in (td_lb_find_mut does). */
#define TD_LB_FINGER 8
static inline uint32_t td_lb_find_slot(const td_lbook_t *b, int side, int64_t price, uint32_t *slot, bool *cached)
{
    const td_lnode_t *n = b->nodes;
    int64_t key = td_lb_key(side, price);
    uint32_t cs = td_lb_pcache_slot(key), i = b->pcache[cs];
    *slot = cs;
    *cached = true;
    if (i != TD_LB_NIL && n[i].key == key) return i;
    *cached = false;
    i = b->best[side];
    for (int k = 0; k < TD_LB_FINGER && i != TD_LB_NIL; k++) {
        if (n[i].key >= key) return n[i].key == key ? i : TD_LB_NIL;
        i = n[i].next;
    }
    if (i == TD_LB_NIL) return TD_LB_NIL;
    i = b->root[side];
    while (i != TD_LB_NIL) {
        if (key == n[i].key) return i;
        i = key < n[i].key ? n[i].left : n[i].right;
    }
    return TD_LB_NIL;
}

/* Read-only lookup (const books: queries). */
static inline uint32_t td_lb_find(const td_lbook_t *b, int side, int64_t price)
{
    uint32_t slot;
    bool cached;
    return td_lb_find_slot(b, side, price, &slot, &cached);
}

/* Lookup on a mutating path: a hit is remembered in the price cache. */
static inline uint32_t td_lb_find_mut(td_lbook_t *b, int side, int64_t price)
{
    uint32_t slot;
    bool cached;
    uint32_t i = td_lb_find_slot(b, side, price, &slot, &cached);
    if (!cached && i != TD_LB_NIL) b->pcache[slot] = i;
    return i;
}

/* Inserts an empty level (qty 0, count 0, no orders) that must not exist yet; returns its index. May grow
 * the pool. Does not bump the version (the caller does, once per operation). */
uint32_t td_lb_insert(td_lbook_t *b, int side, int64_t price);
/* Unlinks level i from its side's tree and list and frees the node. No compaction, no version bump. */
void td_lb_remove(td_lbook_t *b, uint32_t i);
/* Renumbers the live levels into nodes[0..n) (bid side best-first, then ask side best-first), rebuilds
 * perfectly balanced trees and shrinks the pool to max(TD_LB_MIN_CAP, 2n) rounded to a power of two.
 * head/tail are carried over untouched, so the owner can remap its orders by walking the new levels. */
void td_lb_compact(td_lbook_t *b);
/* Heap bytes of the node pool (not the struct itself). */
static inline size_t td_lb_pool_bytes(const td_lbook_t *b) { return (size_t)b->cap * sizeof(td_lnode_t); }

#endif
