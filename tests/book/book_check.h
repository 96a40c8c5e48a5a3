/*
 * book_check.h: white-box invariant checks for the book tests (not part of the library): the AVL trees
 * are ordered and balanced with correct heights, each side's list is exactly the in-order walk of its tree,
 * best[] is the list head, nlevels[] the node count, and the price cache names only live nodes. Returns
 * NULL when all holds, else what broke.
 */
#ifndef TD_TEST_BOOK_CHECK_H
#define TD_TEST_BOOK_CHECK_H

#include "book/book_internal.h"

/* Walks the subtree: returns its height or -1 on a broken invariant; *seq collects in-order indices. */
static int book_check_tree(const td_lbook_t *b, uint32_t t, int side, uint32_t *seq, size_t *nseq, size_t cap,
                           const char **why)
{
    if (t == TD_LB_NIL) return 0;
    if (t >= b->used) { *why = "node index beyond the pool's high-water mark"; return -1; }
    const td_lnode_t *n = &b->nodes[t];
    if (n->side != side) { *why = "node on the wrong side's tree"; return -1; }
    if (n->left != TD_LB_NIL && b->nodes[n->left].key >= n->key) { *why = "left child key not smaller"; return -1; }
    if (n->right != TD_LB_NIL && b->nodes[n->right].key <= n->key) { *why = "right child key not larger"; return -1; }
    int hl = book_check_tree(b, n->left, side, seq, nseq, cap, why);
    if (hl < 0) return -1;
    if (*nseq >= cap) { *why = "more tree nodes than expected"; return -1; }
    seq[(*nseq)++] = t;
    int hr = book_check_tree(b, n->right, side, seq, nseq, cap, why);
    if (hr < 0) return -1;
    int h = 1 + (hl > hr ? hl : hr);
    if (n->height != h) { *why = "stored height wrong"; return -1; }
    if (hl - hr > 1 || hr - hl > 1) { *why = "AVL balance violated"; return -1; }
    return h;
}

static const char *book_check(const td_lbook_t *b)
{
    size_t cap = (size_t)b->used + 1;
    uint32_t *seq = malloc(cap * sizeof *seq);
    unsigned char *live = calloc(cap, 1);
    const char *why = NULL;
    for (int s = 0; s < 2 && !why; s++) {
        size_t nseq = 0;
        if (book_check_tree(b, b->root[s], s, seq, &nseq, cap, &why) < 0) break;
        for (size_t k = 0; k < nseq; k++) live[seq[k]] = 1;
        if (nseq != b->nlevels[s]) { why = "nlevels differs from the tree's node count"; break; }
        uint32_t i = b->best[s], prev = TD_LB_NIL;
        for (size_t k = 0; k < nseq; k++) {
            if (i != seq[k]) { why = "side list differs from the in-order walk"; break; }
            if (b->nodes[i].prev != prev) { why = "list prev link broken"; break; }
            prev = i;
            i = b->nodes[i].next;
        }
        if (!why && i != TD_LB_NIL) why = "side list longer than the tree";
    }
    /* the price cache may only name live nodes, each in the entry its key hashes to */
    for (uint32_t k = 0; k < TD_LB_PCACHE && !why; k++) {
        uint32_t i = b->pcache[k];
        if (i == TD_LB_NIL) continue;
        if (i >= b->used || !live[i]) why = "price cache names a dead node";
        else if (td_lb_pcache_slot(b->nodes[i].key) != k) why = "price cache entry in the wrong slot";
    }
    free(seq);
    free(live);
    return why;
}

#endif
