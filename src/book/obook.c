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
 * A slot packs the pool index + 1 (low TD_OB_IDX_BITS bits; 0 = empty) with a 6-bit tag taken from the id's
 * hash, so a probe only touches an order record (a likely cache miss) when the tag matches: 63 in 64 of
 * the foreign records a probe passes are skipped without loading them. The cost is a cap of 2^26 - 2 live
 * orders per book, far above any one instrument's book; td_obook_add() says TD_ENOBUFS at the cap.
 * Deletion is backward-shift (no tombstones), so probe lengths never degrade with churn.
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
#define TD_OB_IDX_BITS 26
#define IDX_MASK ((1u << TD_OB_IDX_BITS) - 1)
#define MAX_ORDERS (IDX_MASK - 1u)  /* index + 1 must fit the slot's index bits */
#define ORDERS_MIN 256u
#define SLOTS_MIN 512u

typedef struct order {
    uint64_t id;
    int64_t qty;      /* open quantity, > 0 */
    uint32_t level;   /* level node index in lb */
    uint32_t prev, next; /* FIFO at the level; `next` chains the free list */
    uint32_t _spare;
} order_t;

_Static_assert(sizeof(order_t) == 32, "order records must stay 32 bytes (memory target)");

struct td_obook {
    order_t *orders;
    uint32_t ocap, oused, ofree;
    uint32_t norders;
    uint32_t *slots;    /* id table: 0 empty, else tag << IDX_BITS | (index + 1) */
    uint32_t hbits;     /* log2 of the slot count */
    uint32_t hmask;
    td_lbook_t lb;      /* the aggregated levels, with each level's order FIFO head/tail */
};

/* ---- id table ---- */

static inline uint64_t id_hash(uint64_t id)
{
    /* Fibonacci hashing after folding the high half in: sequential ITCH/LOBSTER ids spread evenly, and ids
     * that differ only in high bits still land apart. */
    id ^= id >> 32;
    return id * 0x9E3779B97F4A7C15ULL;
}

static inline uint32_t home_of(const td_obook_t *b, uint64_t h) { return (uint32_t)(h >> (64 - b->hbits)); }
static inline uint32_t tag_of(const td_obook_t *b, uint64_t h) { return (uint32_t)(h >> (58 - b->hbits)) & 63u; }

/* Slot position holding id, or the empty position where it would go (*found says which). */
static inline uint32_t slot_find(const td_obook_t *b, uint64_t id, bool *found)
{
    uint64_t h = id_hash(id);
    uint32_t pos = home_of(b, h), tag = tag_of(b, h);
    for (;;) {
        uint32_t s = b->slots[pos];
        if (s == 0) {
            *found = false;
            return pos;
        }
        if ((s >> TD_OB_IDX_BITS) == tag && b->orders[(s & IDX_MASK) - 1].id == id) {
            *found = true;
            return pos;
        }
        pos = (pos + 1) & b->hmask;
    }
}

static inline uint32_t slot_make(const td_obook_t *b, uint64_t id, uint32_t idx)
{
    return tag_of(b, id_hash(id)) << TD_OB_IDX_BITS | (idx + 1);
}

static inline uint32_t slot_index(uint32_t s) { return (s & IDX_MASK) - 1; }

/* Backward-shift deletion: pull later members of the probe run back over the hole so that every entry stays
 * reachable from its home without tombstones. */
static void slot_erase(td_obook_t *b, uint32_t hole)
{
    uint32_t j = hole;
    for (;;) {
        j = (j + 1) & b->hmask;
        uint32_t s = b->slots[j];
        if (s == 0) break;
        uint32_t home = home_of(b, id_hash(b->orders[slot_index(s)].id));
        /* s may move to the hole iff its home is not cyclically within (hole, j]. */
        if (((j - home) & b->hmask) >= ((j - hole) & b->hmask)) {
            b->slots[hole] = s;
            hole = j;
        }
    }
    b->slots[hole] = 0;
}

static void slots_alloc(td_obook_t *b, uint32_t bits)
{
    b->hbits = bits;
    b->hmask = (1u << bits) - 1;
    b->slots = td_calloc((size_t)1 << bits, sizeof(uint32_t));
}

/* Rebuilds the table at 2^bits slots from the live records (all of them: callers only rebuild when every
 * record in orders[0..oused) that is live is reachable through the levels, see rebuild_from_levels). */
static void slots_rebuild(td_obook_t *b, uint32_t bits, const uint32_t *old, uint32_t old_n)
{
    slots_alloc(b, bits);
    for (uint32_t i = 0; i < old_n; i++) {
        uint32_t s = old[i];
        if (!s) continue;
        uint32_t idx = slot_index(s);
        bool found;
        uint32_t pos = slot_find(b, b->orders[idx].id, &found);
        b->slots[pos] = slot_make(b, b->orders[idx].id, idx);
    }
}

static void slots_grow(td_obook_t *b)
{
    uint32_t *old = b->slots, old_n = b->hmask + 1;
    slots_rebuild(b, b->hbits + 1, old, old_n);
    td_free(old);
}

static uint32_t slot_bits_for(uint32_t n)
{
    uint32_t bits = 9; /* SLOTS_MIN */
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
    b->orders[i].next = b->ofree;
    b->ofree = i;
}

/* ---- compaction ---- */

/* Renumbers levels and orders into fresh, right-sized pools and rebuilds the id table. */
static void compact(td_obook_t *b)
{
    td_lb_compact(&b->lb);
    uint32_t cap = ORDERS_MIN;
    while (cap < 2 * (uint64_t)b->norders) cap += cap / 2;
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
    for (uint32_t i = 0; i < k; i++) {
        bool found;
        uint32_t pos = slot_find(b, o[i].id, &found);
        b->slots[pos] = slot_make(b, o[i].id, i);
    }
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
    slots_alloc(b, 9);
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
    uint32_t li = td_lb_find(&b->lb, side, price);
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
    uint32_t li = td_lb_find(&b->lb, side, price);
    int64_t sum;
    if (li != NIL && __builtin_add_overflow(b->lb.nodes[li].qty, qty, &sum)) return TD_ERANGE;
    if (li == NIL) li = td_lb_insert(&b->lb, side, price);
    uint32_t oi = order_alloc(b);
    order_t *o = &b->orders[oi];
    o->id = id;
    o->qty = qty;
    b->slots[pos] = slot_make(b, id, oi);
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
    uint32_t target = td_lb_find(&b->lb, side, price);
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
        pos = slot_find(b, new_id, &found);
        b->slots[pos] = slot_make(b, new_id, oi);
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

size_t td_obook_mem_bytes(const td_obook_t *b)
{
    return sizeof *b + (size_t)b->ocap * sizeof(order_t) + ((size_t)b->hmask + 1) * sizeof(uint32_t) +
           td_lb_pool_bytes(&b->lb);
}
