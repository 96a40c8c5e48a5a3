/*
 * obook.c: the order-level book (td_obook_t): orders by id, each in a FIFO at its price level, with the
 * aggregated price levels (a td_lbook_t) kept in step.
 *
 * Memory, per live order (the target is <= 64 bytes, everything included):
 *   - an order record of 32 bytes {id, open qty, level index, prev, next} in one pool, addressed by 32-bit
 *     index; price and side live on the level, not the order;
 *   - one 4-byte slot in an open-addressing id table (linear probing, load <= 3/4, power-of-two size): 5.3
 *     to 10.7 bytes per order;
 *   - its share of a 48-byte level node (levels are shared by the orders at a price).
 * A slot packs the pool index + 1 (low TD_OB_IDX_BITS bits; 0 = empty) with 8 bits of metadata: the
 * entry's distance from its home slot (5 bits, saturating at 31, when the home is recomputed from the id)
 * and a 3-bit hash tag. A probe compares those 8 bits against what its own entry would carry at that
 * distance, so it loads an order record (a likely cache miss) only for entries that share its home and
 * tag (about load/8 per lookup), and backward-shift deletion (no tombstones, so probe lengths never
 * degrade with churn) moves entries without loading any. Homes keep runs of 16 consecutive ids in
 * adjacent slots (see home_of), so the sequential ids of real feeds touch few table cache lines. The index
 * width caps a book at 2^24 - 2 (16.7M) live orders, far above any one instrument's book;
 * td_obook_add() says TD_ENOBUFS at the cap.
 *
 * No malloc per operation: records and levels come from free lists. Pools grow by 1.5x (records) and 2x
 * (levels, small). When fewer than a quarter of the record pool is live, or dead level nodes outweigh a
 * small fraction of the order memory, the book compacts: levels are renumbered best-first, orders are
 * copied level by level in FIFO order (which also restores locality) and the id table is rebuilt at a
 * size fitting the live count. Each compaction costs O(live) and follows at least as many removals, so
 * it is amortized O(1), and memory follows the live orders down as well as up: an emptied book is back
 * at its creation footprint.
 *
 * Invariants: every live order is in the id table exactly once and in exactly one level's FIFO; a level's
 * qty is the sum of its orders' open quantities (> 0 each) and its count the number of them; a level
 * exists iff it has an order. Every visible change bumps the levels' version.
 *
 * Threading: one owner thread (the engine); nothing locks.
 */
#include "book/book_internal.h"

#include <string.h>

#include "core/common.h"

#define NIL TD_LB_NIL
#define TD_OB_IDX_BITS 24
#define IDX_MASK ((1u << TD_OB_IDX_BITS) - 1)
#define MAX_ORDERS (IDX_MASK - 1u)  /* index + 1 must fit the slot's index bits */
#define ORDERS_MIN 256u
#define SLOT_BITS_MIN 9u /* 512 slots */

typedef struct order {
    uint64_t id;
    int64_t qty;      /* open quantity, > 0; 0 marks a free record */
    uint32_t level;   /* level node index in lb */
    uint32_t prev, next; /* FIFO at the level; `next` chains the free list */
    uint32_t _spare;
} order_t;

_Static_assert(sizeof(order_t) == 32, "order records must stay 32 bytes (memory target)");

struct td_obook {
    order_t *orders;
    uint32_t ocap, oused, ofree;
    uint32_t norders;
    uint32_t *slots;    /* id table: 0 empty, else (tag << 5 | displacement) << IDX_BITS | (index + 1) */
    uint32_t hbits;     /* log2 of the slot count */
    uint32_t hmask;
    td_lbook_t lb;      /* the aggregated levels, with each level's order FIFO head/tail */
};

/* ---- id table ---- */

#define BLOCK_BITS 4 /* ids that differ only in these low bits share a block of adjacent slots */
#define DISP_SAT 31u /* the displacement field saturates here: the home is then recomputed from the id */
#define META_SHIFT TD_OB_IDX_BITS /* a slot's top 8 bits: tag (3) << 5 | displacement (5) */

/* Home slot and tag of an id. Exchanges number orders sequentially (ITCH reference numbers, LOBSTER ids),
 * and the ids a stream touches are mostly recent ones: so 16 consecutive ids share one 64-byte run of
 * slots, and a burst of adds or of deletes of fresh orders touches one cache line of the table, not
 * sixteen. The blocks themselves are scattered by Fibonacci hashing (after folding the high half in), so
 * strided or random ids spread as well as under a plain multiplicative hash. The 3-bit tag comes from the
 * hash bits just below the home's, so it separates blocks that collide on a home. */
static inline uint32_t home_of(const td_obook_t *b, uint64_t id, uint32_t *tag)
{
    uint64_t blk = id >> BLOCK_BITS;
    blk ^= blk >> 32;
    uint64_t h = blk * 0x9E3779B97F4A7C15ULL;
    uint32_t hb = b->hbits - BLOCK_BITS;
    *tag = (uint32_t)(h >> (64 - hb - 3)) & 7u;
    return ((uint32_t)(h >> (64 - hb)) << BLOCK_BITS | (uint32_t)(id & ((1u << BLOCK_BITS) - 1))) & b->hmask;
}

static inline uint32_t slot_index(uint32_t s) { return (s & IDX_MASK) - 1; }
static inline uint32_t slot_disp(uint32_t s) { return (s >> META_SHIFT) & DISP_SAT; }
static inline uint32_t slot_tag(uint32_t s) { return s >> (META_SHIFT + 5); }
static inline uint32_t meta(uint32_t tag, uint32_t disp) { return tag << 5 | (disp < DISP_SAT ? disp : DISP_SAT); }

static inline uint32_t slot_make(uint32_t tag, uint32_t disp, uint32_t idx)
{
    return meta(tag, disp) << META_SHIFT | (idx + 1);
}

/* Slot position holding id, or the empty position where it would go (*found says which). A slot records
 * its distance from its home and a few hash bits, so one 8-bit compare skips entries from other homes and
 * almost all that merely share ours, without loading their order records (each such load is a likely cache
 * miss in a large book). */
static inline uint32_t slot_find(const td_obook_t *b, uint64_t id, bool *found)
{
    uint32_t tag, home = home_of(b, id, &tag), pos = home, dist = 0;
    for (;;) {
        uint32_t s = b->slots[pos];
        if (s == 0) {
            *found = false;
            return pos;
        }
        if ((s >> META_SHIFT) == meta(tag, dist) && b->orders[slot_index(s)].id == id) {
            *found = true;
            return pos;
        }
        pos = (pos + 1) & b->hmask;
        dist++;
    }
}

/* Backward-shift deletion: pull later members of the probe run back over the hole so that every entry stays
 * reachable from its home without tombstones. Displacements make this free of order-record loads except
 * for saturated entries. */
static void slot_erase(td_obook_t *b, uint32_t hole)
{
    uint32_t j = hole;
    for (;;) {
        j = (j + 1) & b->hmask;
        uint32_t s = b->slots[j];
        if (s == 0) break;
        uint32_t disp = slot_disp(s), tag;
        if (TD_UNLIKELY(disp == DISP_SAT)) disp = (j - home_of(b, b->orders[slot_index(s)].id, &tag)) & b->hmask;
        uint32_t gap = (j - hole) & b->hmask;
        /* s may move to the hole iff its home is not cyclically within (hole, j], i.e. disp >= gap. */
        if (disp >= gap) {
            b->slots[hole] = slot_make(slot_tag(s), disp - gap, slot_index(s));
            hole = j;
        }
    }
    b->slots[hole] = 0;
}

/* Places an id known to be absent (rebuilds): the first empty slot of its run, no id comparisons. */
static inline void slot_put(td_obook_t *b, uint64_t id, uint32_t idx)
{
    uint32_t tag, home = home_of(b, id, &tag), pos = home;
    while (b->slots[pos] != 0) pos = (pos + 1) & b->hmask;
    b->slots[pos] = slot_make(tag, (pos - home) & b->hmask, idx);
}

static void slots_alloc(td_obook_t *b, uint32_t bits)
{
    b->hbits = bits;
    b->hmask = (1u << bits) - 1;
    b->slots = td_calloc((size_t)1 << bits, sizeof(uint32_t));
}

/* Doubles the table. Live records are found by walking the pool in address order (free records have
 * qty 0), which streams through memory instead of chasing each slot to a random record. */
static void slots_grow(td_obook_t *b)
{
    td_free(b->slots);
    slots_alloc(b, b->hbits + 1);
    for (uint32_t i = 0; i < b->oused; i++)
        if (b->orders[i].qty > 0) slot_put(b, b->orders[i].id, i);
}

static uint32_t slot_bits_for(uint32_t n)
{
    uint32_t bits = SLOT_BITS_MIN;
    while (((uint64_t)1 << bits) < 2 * (uint64_t)n) bits++; /* load <= 1/2 after a rebuild: room to grow */
    return bits;
}

/* ---- order pool ---- */

static inline uint32_t order_alloc(td_obook_t *b)
{
    uint32_t i = b->ofree;
    if (i != NIL) {
        b->ofree = b->orders[i].next;
        return i;
    }
    if (TD_UNLIKELY(b->oused == b->ocap)) {
        /* 1.5x rather than 2x: right after a growth the pool is at most 1.5x the live records, which
         * keeps the worst case inside the per-order memory target. realloc of a large block remaps pages
         * rather than copying them. */
        uint64_t cap = (uint64_t)b->ocap + b->ocap / 2;
        if (cap > MAX_ORDERS) cap = MAX_ORDERS;
        b->ocap = (uint32_t)cap;
        b->orders = td_realloc(b->orders, (size_t)b->ocap * sizeof(order_t));
    }
    return b->oused++;
}

static inline void order_free(td_obook_t *b, uint32_t i)
{
    b->orders[i].qty = 0; /* marks it free for slots_grow() */
    b->orders[i].next = b->ofree;
    b->ofree = i;
}

/* ---- compaction ---- */

/* Renumbers levels and orders into fresh, right-sized pools and rebuilds the id table. */
static void compact(td_obook_t *b)
{
    td_lb_compact(&b->lb);
    uint32_t cap = ORDERS_MIN;
    /* 1.25x to 1.9x the live records: room for a little regrowth, and bytes per order back near target */
    while (cap < (uint64_t)b->norders + b->norders / 4) cap += cap / 2;
    if (cap > MAX_ORDERS) cap = MAX_ORDERS;
    order_t *old = b->orders, *o = td_malloc((size_t)cap * sizeof(order_t));
    td_lnode_t *lv = b->lb.nodes;
    uint32_t k = 0;
    for (uint32_t li = 0; li < b->lb.used; li++) {
        uint32_t first = k;
        for (uint32_t i = lv[li].head; i != NIL; i = old[i].next, k++) {
            o[k] = old[i];
            o[k].level = li;
            o[k].prev = k == first ? NIL : k - 1;
            o[k].next = NIL;
            if (k != first) o[k - 1].next = k;
        }
        lv[li].head = k == first ? NIL : first;
        lv[li].tail = k == first ? NIL : k - 1;
    }
    td_free(old);
    b->orders = o;
    b->ocap = cap;
    b->oused = k;
    b->ofree = NIL;
    td_free(b->slots);
    slots_alloc(b, slot_bits_for(b->norders));
    for (uint32_t i = 0; i < k; i++) slot_put(b, o[i].id, i);
}

static inline void maybe_compact(td_obook_t *b)
{
    const td_lbook_t *lb = &b->lb;
    uint32_t nlev = lb->nlevels[0] + lb->nlevels[1];
    bool orders_sparse = b->ocap > ORDERS_MIN && 4 * (uint64_t)b->norders < b->ocap;
    /* Dead level nodes are only worth an O(orders) rebuild when they weigh more than an eighth of the
     * order records: that both bounds their waste and pays for the rebuild out of the level removals. */
    bool levels_sparse = lb->cap > TD_LB_MIN_CAP && 4 * (uint64_t)nlev < lb->cap &&
                         (uint64_t)(lb->cap - nlev) * sizeof(td_lnode_t) * 8 > (uint64_t)b->norders * sizeof(order_t);
    if (TD_UNLIKELY(orders_sparse || levels_sparse)) compact(b);
}

/* ---- life cycle ---- */

static void init_pools(td_obook_t *b)
{
    b->ocap = ORDERS_MIN;
    b->orders = td_malloc((size_t)b->ocap * sizeof(order_t));
    b->oused = 0;
    b->ofree = NIL;
    b->norders = 0;
    slots_alloc(b, SLOT_BITS_MIN);
}

td_obook_t *td_obook_create(void)
{
    td_obook_t *b = td_malloc(sizeof *b);
    memset(b, 0, sizeof *b);
    init_pools(b);
    td_lb_init(&b->lb, true);
    return b;
}

void td_obook_destroy(td_obook_t *b)
{
    if (!b) return;
    td_free(b->orders);
    td_free(b->slots);
    td_lb_fini(&b->lb);
    td_free(b);
}

void td_obook_clear(td_obook_t *b)
{
    td_free(b->orders);
    td_free(b->slots);
    init_pools(b);
    td_lb_reset(&b->lb);
}

/* ---- operations ---- */

static inline bool side_ok(int side) { return side == 0 || side == 1; }

static inline void fill_info(const td_obook_t *b, const order_t *o, td_order_info_t *info, int64_t removed)
{
    const td_lnode_t *lv = &b->lb.nodes[o->level];
    info->order_id = o->id;
    info->price = td_lb_price(lv);
    info->qty = o->qty;
    info->removed = removed;
    info->side = lv->side;
}

/* Appends order oi at the back of level li's FIFO and adds it to the level's totals. */
static inline void level_push(td_obook_t *b, uint32_t li, uint32_t oi)
{
    td_lnode_t *lv = &b->lb.nodes[li];
    order_t *o = &b->orders[oi];
    o->level = li;
    o->next = NIL;
    o->prev = lv->tail;
    if (lv->tail == NIL) lv->head = oi;
    else b->orders[lv->tail].next = oi;
    lv->tail = oi;
    lv->qty += o->qty;
    lv->count++;
}

/* Takes order oi out of its level's FIFO and totals, removing the level when it empties. */
static inline void level_unlink(td_obook_t *b, uint32_t oi)
{
    order_t *o = &b->orders[oi];
    td_lnode_t *lv = &b->lb.nodes[o->level];
    if (o->prev == NIL) lv->head = o->next;
    else b->orders[o->prev].next = o->next;
    if (o->next == NIL) lv->tail = o->prev;
    else b->orders[o->next].prev = o->prev;
    lv->qty -= o->qty;
    if (--lv->count == 0) td_lb_remove(&b->lb, o->level);
}

/* Level for price on side, created if absent. May move the level pool. */
static inline uint32_t level_get(td_obook_t *b, int side, int64_t price)
{
    uint32_t li = td_lb_find_mut(&b->lb, side, price);
    return li != NIL ? li : td_lb_insert(&b->lb, side, price);
}

int td_obook_add(td_obook_t *b, uint64_t id, int side, int64_t price, int64_t qty)
{
    if (!side_ok(side) || price <= 0 || qty <= 0) return TD_EINVAL;
    if (TD_UNLIKELY(b->norders >= MAX_ORDERS)) return TD_ENOBUFS;
    if (TD_UNLIKELY(4 * ((uint64_t)b->norders + 1) > 3 * ((uint64_t)b->hmask + 1))) slots_grow(b);
    bool found;
    uint32_t pos = slot_find(b, id, &found);
    if (found) return TD_EEXIST;
    uint32_t li = td_lb_find_mut(&b->lb, side, price);
    int64_t sum;
    if (li != NIL && __builtin_add_overflow(b->lb.nodes[li].qty, qty, &sum)) return TD_ERANGE;
    if (li == NIL) li = td_lb_insert(&b->lb, side, price);
    uint32_t oi = order_alloc(b);
    order_t *o = &b->orders[oi];
    o->id = id;
    o->qty = qty;
    uint32_t tag, home = home_of(b, id, &tag);
    b->slots[pos] = slot_make(tag, (pos - home) & b->hmask, oi);
    level_push(b, li, oi);
    b->norders++;
    b->lb.version++;
    return TD_OK;
}

/* Removes the order in slot pos entirely. */
static inline void remove_at(td_obook_t *b, uint32_t pos)
{
    uint32_t oi = slot_index(b->slots[pos]);
    level_unlink(b, oi);
    slot_erase(b, pos);
    order_free(b, oi);
    b->norders--;
}

/* exec and cancel: the same bookkeeping, only the meaning differs. */
static int reduce(td_obook_t *b, uint64_t id, int64_t qty, td_order_info_t *info)
{
    if (qty <= 0) return TD_EINVAL;
    bool found;
    uint32_t pos = slot_find(b, id, &found);
    if (!found) return TD_ENOENT;
    uint32_t oi = slot_index(b->slots[pos]);
    order_t *o = &b->orders[oi];
    b->lb.version++;
    if (qty < o->qty) {
        o->qty -= qty;
        b->lb.nodes[o->level].qty -= qty;
        if (info) fill_info(b, o, info, qty);
        return TD_OK;
    }
    int rc = qty > o->qty ? TD_ERANGE : TD_OK;
    if (info) {
        fill_info(b, o, info, o->qty);
        info->qty = 0;
    }
    remove_at(b, pos);
    maybe_compact(b);
    return rc;
}

int td_obook_exec(td_obook_t *b, uint64_t id, int64_t qty, td_order_info_t *info) { return reduce(b, id, qty, info); }

int td_obook_cancel(td_obook_t *b, uint64_t id, int64_t qty, td_order_info_t *info) { return reduce(b, id, qty, info); }

int td_obook_delete(td_obook_t *b, uint64_t id, td_order_info_t *info)
{
    bool found;
    uint32_t pos = slot_find(b, id, &found);
    if (!found) return TD_ENOENT;
    if (info) {
        const order_t *o = &b->orders[slot_index(b->slots[pos])];
        fill_info(b, o, info, o->qty);
        info->qty = 0;
    }
    remove_at(b, pos);
    b->lb.version++;
    maybe_compact(b);
    return TD_OK;
}

int td_obook_replace(td_obook_t *b, uint64_t id, uint64_t new_id, int64_t price, int64_t qty,
                     td_order_info_t *info)
{
    if (price <= 0 || qty <= 0) return TD_EINVAL;
    bool found;
    uint32_t pos = slot_find(b, id, &found);
    if (!found) return TD_ENOENT;
    if (new_id != id) {
        slot_find(b, new_id, &found);
        if (found) return TD_EEXIST;
    }
    uint32_t oi = slot_index(b->slots[pos]);
    order_t *o = &b->orders[oi];
    int side = b->lb.nodes[o->level].side;
    /* Refuse a level total that would overflow before touching anything. */
    uint32_t target = td_lb_find_mut(&b->lb, side, price);
    if (target != NIL) {
        int64_t rest = b->lb.nodes[target].qty - (target == o->level ? o->qty : 0), sum;
        if (__builtin_add_overflow(rest, qty, &sum)) return TD_ERANGE;
    }
    if (info) {
        fill_info(b, o, info, o->qty);
        info->qty = 0;
    }
    level_unlink(b, oi);
    if (new_id != id) {
        slot_erase(b, pos);
        o->id = new_id;
        slot_put(b, new_id, oi);
    }
    o->qty = qty;
    uint32_t li = level_get(b, side, price);
    level_push(b, li, oi);
    b->lb.version++;
    return TD_OK;
}

int td_obook_get(const td_obook_t *b, uint64_t id, td_order_info_t *info)
{
    bool found;
    uint32_t pos = slot_find(b, id, &found);
    if (!found) return TD_ENOENT;
    if (info) fill_info(b, &b->orders[slot_index(b->slots[pos])], info, 0);
    return TD_OK;
}

size_t td_obook_orders_at(const td_obook_t *b, int side, int64_t price, td_order_info_t *out, size_t max)
{
    if (!side_ok(side) || price <= 0) return 0;
    uint32_t li = td_lb_find(&b->lb, side, price);
    if (li == NIL) return 0;
    size_t k = 0;
    for (uint32_t i = b->lb.nodes[li].head; i != NIL && k < max; i = b->orders[i].next)
        fill_info(b, &b->orders[i], &out[k++], 0);
    return k;
}

size_t td_obook_norders(const td_obook_t *b) { return b->norders; }

const td_lbook_t *td_obook_levels(const td_obook_t *b) { return &b->lb; }

void td_obook_prefetch_slot(const td_obook_t *b, uint64_t id)
{
    uint32_t tag;
    __builtin_prefetch(&b->slots[home_of(b, id, &tag)], 1);
}

/* Reads the id's probe run (prefetched earlier, so cheap) and prefetches the first order record that
 * could be the id's, and for an add the slot it will take. Bounded to a few slots: it is only a hint. */
void td_obook_prefetch_order(const td_obook_t *b, uint64_t id)
{
    uint32_t tag, pos = home_of(b, id, &tag);
    for (uint32_t dist = 0; dist < 8; dist++, pos = (pos + 1) & b->hmask) {
        uint32_t s = b->slots[pos];
        if (s == 0) return;
        if ((s >> META_SHIFT) == meta(tag, dist)) {
            const order_t *o = &b->orders[slot_index(s)];
            __builtin_prefetch(o, 1);
            return;
        }
    }
}

size_t td_obook_mem_bytes(const td_obook_t *b)
{
    return sizeof *b + (size_t)b->ocap * sizeof(order_t) + ((size_t)b->hmask + 1) * sizeof(uint32_t) +
           td_lb_pool_bytes(&b->lb);
}
