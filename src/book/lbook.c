/*
 * lbook.c: the price-level book (td_lbook_t): per side an AVL tree of levels keyed by price, with a
 * best-first doubly linked list threaded through the same nodes.
 *
 * Why this shape: a feed touches a level by price (tree, O(log L)), publishers read the best level (list
 * head, O(1)) and the top N (walk the list, O(N) after the O(1) head). Keeping the list beside the tree
 * means no parent pointers and no in-order successor search. Nodes live in one pool per book, addressed
 * by 32-bit indices: 48 bytes each, no per-level malloc, and a small book stays in a few cache lines.
 * Lookups by price try, in order, a 128-entry direct-mapped price cache, a short walk from the best level
 * and the tree (td_lb_find in book_internal.h): updates cluster at a few prices near the top.
 *
 * Memory: freed nodes go to a free list. A standalone book compacts (renumbers its live levels into a
 * fresh, smaller pool) when fewer than a quarter of the pool is live, so memory follows live levels; a
 * book embedded in a td_obook_t leaves that decision to the order book, which must renumber its orders'
 * level references at the same time.
 *
 * Invariants: every live level has qty > 0 or (inside an order book) count > 0; nlevels[side] counts the
 * live nodes of a side; best[side] is the list head; version changes whenever anything visible changes.
 *
 * Threading: one owner thread; nothing locks.
 */
#include "book/book_internal.h"

#include <string.h>

#include "core/common.h"

/* ---- AVL on pool indices (recursive: depth <= 1.44 log2 L, well under 64) ---- */

static inline int height(const td_lnode_t *n, uint32_t i) { return i == TD_LB_NIL ? 0 : n[i].height; }

static inline void fix_height(td_lnode_t *n, uint32_t i)
{
    int hl = height(n, n[i].left), hr = height(n, n[i].right);
    n[i].height = (uint8_t)(1 + (hl > hr ? hl : hr));
}

static uint32_t rotate_right(td_lnode_t *n, uint32_t y)
{
    uint32_t x = n[y].left;
    n[y].left = n[x].right;
    n[x].right = y;
    fix_height(n, y);
    fix_height(n, x);
    return x;
}

static uint32_t rotate_left(td_lnode_t *n, uint32_t x)
{
    uint32_t y = n[x].right;
    n[x].right = n[y].left;
    n[y].left = x;
    fix_height(n, x);
    fix_height(n, y);
    return y;
}

static uint32_t rebalance(td_lnode_t *n, uint32_t i)
{
    fix_height(n, i);
    int bf = height(n, n[i].left) - height(n, n[i].right);
    if (bf > 1) {
        uint32_t l = n[i].left;
        if (height(n, n[l].left) < height(n, n[l].right)) n[i].left = rotate_left(n, l);
        return rotate_right(n, i);
    }
    if (bf < -1) {
        uint32_t r = n[i].right;
        if (height(n, n[r].right) < height(n, n[r].left)) n[i].right = rotate_right(n, r);
        return rotate_left(n, i);
    }
    return i;
}

/* Inserts x under t; *pred gets the greatest key smaller than x's (the list predecessor). */
static uint32_t tree_insert(td_lnode_t *n, uint32_t t, uint32_t x, uint32_t *pred)
{
    if (t == TD_LB_NIL) return x;
    if (n[x].key < n[t].key) {
        n[t].left = tree_insert(n, n[t].left, x, pred);
    } else {
        *pred = t;
        n[t].right = tree_insert(n, n[t].right, x, pred);
    }
    return rebalance(n, t);
}

static uint32_t tree_remove_min(td_lnode_t *n, uint32_t t, uint32_t *min)
{
    if (n[t].left == TD_LB_NIL) {
        *min = t;
        return n[t].right;
    }
    n[t].left = tree_remove_min(n, n[t].left, min);
    return rebalance(n, t);
}

/* Removes the node holding key (it must be present) from the subtree t. */
static uint32_t tree_remove(td_lnode_t *n, uint32_t t, int64_t key)
{
    if (key < n[t].key) {
        n[t].left = tree_remove(n, n[t].left, key);
    } else if (key > n[t].key) {
        n[t].right = tree_remove(n, n[t].right, key);
    } else {
        uint32_t l = n[t].left, r = n[t].right, m;
        if (r == TD_LB_NIL) return l;
        if (l == TD_LB_NIL) return r;
        r = tree_remove_min(n, r, &m);
        n[m].left = l;
        n[m].right = r;
        return rebalance(n, m);
    }
    return rebalance(n, t);
}

/* Balanced tree over the consecutive, key-sorted nodes [lo, hi). */
static uint32_t tree_build(td_lnode_t *n, uint32_t lo, uint32_t hi)
{
    if (lo >= hi) return TD_LB_NIL;
    uint32_t mid = lo + (hi - lo) / 2;
    n[mid].left = tree_build(n, lo, mid);
    n[mid].right = tree_build(n, mid + 1, hi);
    fix_height(n, mid);
    return mid;
}

/* ---- pool ---- */

static void pcache_clear(td_lbook_t *b)
{
    for (uint32_t k = 0; k < TD_LB_PCACHE; k++) b->pcache[k] = TD_LB_NIL;
}

static void reset_sides(td_lbook_t *b)
{
    pcache_clear(b);
    for (int s = 0; s < 2; s++) {
        b->root[s] = TD_LB_NIL;
        b->best[s] = TD_LB_NIL;
        b->nlevels[s] = 0;
    }
    b->used = 0;
    b->free_head = TD_LB_NIL;
}

void td_lb_init(td_lbook_t *b, bool owned)
{
    memset(b, 0, sizeof *b);
    b->owned = owned;
    b->cap = TD_LB_MIN_CAP;
    b->nodes = td_malloc(b->cap * sizeof(td_lnode_t));
    reset_sides(b);
}

void td_lb_fini(td_lbook_t *b)
{
    td_free(b->nodes);
    b->nodes = NULL;
    b->cap = 0;
}

void td_lb_reset(td_lbook_t *b)
{
    if (b->cap != TD_LB_MIN_CAP) {
        td_free(b->nodes);
        b->cap = TD_LB_MIN_CAP;
        b->nodes = td_malloc(b->cap * sizeof(td_lnode_t));
    }
    reset_sides(b);
    b->version++;
}

static uint32_t node_alloc(td_lbook_t *b)
{
    uint32_t i = b->free_head;
    if (i != TD_LB_NIL) {
        b->free_head = b->nodes[i].next;
        return i;
    }
    if (TD_UNLIKELY(b->used == b->cap)) {
        /* Doubling keeps inserts amortized O(1); level pools are small next to order pools, and the
         * 32-bit index space (4G levels) is never the limit in practice. */
        b->cap *= 2;
        b->nodes = td_realloc(b->nodes, (size_t)b->cap * sizeof(td_lnode_t));
    }
    return b->used++;
}

uint32_t td_lb_insert(td_lbook_t *b, int side, int64_t price)
{
    uint32_t x = node_alloc(b);
    td_lnode_t *n = b->nodes;
    n[x] = (td_lnode_t){
        .key = td_lb_key(side, price),
        .left = TD_LB_NIL, .right = TD_LB_NIL,
        .prev = TD_LB_NIL, .next = TD_LB_NIL,
        .head = TD_LB_NIL, .tail = TD_LB_NIL,
        .height = 1, .side = (uint8_t)side,
    };
    uint32_t pred = TD_LB_NIL;
    b->root[side] = tree_insert(n, b->root[side], x, &pred);
    uint32_t succ = pred == TD_LB_NIL ? b->best[side] : n[pred].next;
    n[x].prev = pred;
    n[x].next = succ;
    if (pred == TD_LB_NIL) b->best[side] = x;
    else n[pred].next = x;
    if (succ != TD_LB_NIL) n[succ].prev = x;
    b->nlevels[side]++;
    b->pcache[td_lb_pcache_slot(n[x].key)] = x;
    return x;
}

void td_lb_remove(td_lbook_t *b, uint32_t i)
{
    td_lnode_t *n = b->nodes;
    int side = n[i].side;
    uint32_t cs = td_lb_pcache_slot(n[i].key);
    if (b->pcache[cs] == i) b->pcache[cs] = TD_LB_NIL; /* a freed node keeps its key: never let it be found */
    b->root[side] = tree_remove(n, b->root[side], n[i].key);
    uint32_t p = n[i].prev, s = n[i].next;
    if (p == TD_LB_NIL) b->best[side] = s;
    else n[p].next = s;
    if (s != TD_LB_NIL) n[s].prev = p;
    b->nlevels[side]--;
    n[i].next = b->free_head;
    b->free_head = i;
}

void td_lb_compact(td_lbook_t *b)
{
    uint32_t live = b->nlevels[0] + b->nlevels[1];
    uint32_t cap = TD_LB_MIN_CAP;
    while (cap < 2 * (uint64_t)live) cap *= 2;
    td_lnode_t *old = b->nodes, *n = td_malloc((size_t)cap * sizeof(td_lnode_t));
    uint32_t k = 0;
    for (int s = 0; s < 2; s++) {
        uint32_t first = k;
        for (uint32_t i = b->best[s]; i != TD_LB_NIL; i = old[i].next, k++) {
            n[k] = old[i];
            n[k].prev = k == first ? TD_LB_NIL : k - 1;
            n[k].next = TD_LB_NIL;
            if (k != first) n[k - 1].next = k;
        }
        b->best[s] = k == first ? TD_LB_NIL : first;
        b->root[s] = tree_build(n, first, k);
    }
    td_free(old);
    b->nodes = n;
    b->cap = cap;
    b->used = k;
    b->free_head = TD_LB_NIL;
    pcache_clear(b); /* indices changed */
}

/* A standalone book gives memory back once three quarters of its pool is dead. */
static inline void maybe_compact(td_lbook_t *b)
{
    if (TD_UNLIKELY(!b->owned && b->cap > TD_LB_MIN_CAP && 4 * (b->nlevels[0] + b->nlevels[1]) < b->cap))
        td_lb_compact(b);
}

/* ---- public API ---- */

static inline bool side_ok(int side) { return side == 0 || side == 1; }

static inline void fill_level(const td_lnode_t *n, td_level_t *out)
{
    out->price = td_lb_price(n);
    out->qty = n->qty;
    out->count = n->count;
}

td_lbook_t *td_lbook_create(void)
{
    td_lbook_t *b = td_malloc(sizeof *b);
    td_lb_init(b, false);
    return b;
}

void td_lbook_destroy(td_lbook_t *b)
{
    if (!b) return;
    td_lb_fini(b);
    td_free(b);
}

void td_lbook_clear(td_lbook_t *b) { td_lb_reset(b); }

int td_lbook_set(td_lbook_t *b, int side, int64_t price, int64_t qty)
{
    if (!side_ok(side) || price <= 0 || qty < 0) return TD_EINVAL;
    uint32_t i = td_lb_find_mut(b, side, price);
    if (qty == 0) {
        if (i == TD_LB_NIL) return TD_OK;
        td_lb_remove(b, i);
        b->version++;
        maybe_compact(b);
        return TD_OK;
    }
    if (i == TD_LB_NIL) i = td_lb_insert(b, side, price);
    else if (b->nodes[i].qty == qty) return TD_OK; /* no change: publishers may skip the book */
    b->nodes[i].qty = qty;
    b->version++;
    return TD_OK;
}

int td_lbook_del(td_lbook_t *b, int side, int64_t price)
{
    if (!side_ok(side)) return TD_EINVAL;
    if (price <= 0) return TD_ENOENT;
    uint32_t i = td_lb_find_mut(b, side, price);
    if (i == TD_LB_NIL) return TD_ENOENT;
    td_lb_remove(b, i);
    b->version++;
    maybe_compact(b);
    return TD_OK;
}

int td_lbook_adjust(td_lbook_t *b, int side, int64_t price, int64_t qty_delta, int32_t count_delta)
{
    if (!side_ok(side) || price <= 0) return TD_EINVAL;
    uint32_t i = td_lb_find_mut(b, side, price);
    int64_t qty0 = 0, qty;
    int64_t count0 = 0, count;
    if (i != TD_LB_NIL) {
        qty0 = b->nodes[i].qty;
        count0 = b->nodes[i].count;
    }
    if (__builtin_add_overflow(qty0, qty_delta, &qty)) return TD_ERANGE;
    count = count0 + count_delta;
    if (qty < 0 || count < 0) return TD_EINVAL;
    if (count > UINT32_MAX) return TD_ERANGE;
    if (qty_delta == 0 && count_delta == 0) return TD_OK;
    if (qty == 0) {
        /* The level goes when its quantity does, whatever the count says: a level of nothing is not a level. */
        if (i != TD_LB_NIL) {
            td_lb_remove(b, i);
            b->version++;
            maybe_compact(b);
        }
        return TD_OK;
    }
    if (i == TD_LB_NIL) i = td_lb_insert(b, side, price);
    b->nodes[i].qty = qty;
    b->nodes[i].count = (uint32_t)count;
    b->version++;
    return TD_OK;
}

int td_lbook_best(const td_lbook_t *b, int side, td_level_t *out)
{
    if (!side_ok(side)) return TD_EINVAL;
    uint32_t i = b->best[side];
    if (i == TD_LB_NIL) return TD_ENOENT;
    fill_level(&b->nodes[i], out);
    return TD_OK;
}

int td_lbook_get(const td_lbook_t *b, int side, int64_t price, td_level_t *out)
{
    if (!side_ok(side)) return TD_EINVAL;
    if (price <= 0) return TD_ENOENT;
    uint32_t i = td_lb_find(b, side, price);
    if (i == TD_LB_NIL) return TD_ENOENT;
    fill_level(&b->nodes[i], out);
    return TD_OK;
}

size_t td_lbook_depth(const td_lbook_t *b, int side, td_level_t *out, size_t max)
{
    if (!side_ok(side)) return 0;
    size_t k = 0;
    for (uint32_t i = b->best[side]; i != TD_LB_NIL && k < max; i = b->nodes[i].next) fill_level(&b->nodes[i], &out[k++]);
    return k;
}

size_t td_lbook_nlevels(const td_lbook_t *b, int side) { return side_ok(side) ? b->nlevels[side] : 0; }

uint64_t td_lbook_version(const td_lbook_t *b) { return b->version; }

size_t td_lbook_mem_bytes(const td_lbook_t *b) { return sizeof *b + td_lb_pool_bytes(b); }

void td_lbook_iter_init(td_lbook_iter_t *it, const td_lbook_t *b, int side)
{
    it->book = b;
    it->side = side;
    it->node = side_ok(side) && b->best[side] != TD_LB_NIL ? &b->nodes[b->best[side]] : NULL;
}

int td_lbook_iter_next(td_lbook_iter_t *it, td_level_t *out)
{
    const td_lnode_t *n = it->node;
    if (!n) return 0;
    fill_level(n, out);
    it->node = n->next == TD_LB_NIL ? NULL : &it->book->nodes[n->next];
    return 1;
}
