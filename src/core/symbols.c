/*
 * symbols.c: the symbol and exchange registries.
 *
 * Layout: names live in a fixed array indexed by id; an open-addressing hash table of ids (twice the
 * capacity, so it never fills and never resizes) finds an id by name. Inserts take a mutex, write the name,
 * then publish the id into the hash slot and bump the count with release stores; readers use acquire loads
 * and take no lock. Nothing is ever removed, so a published id stays valid forever.
 */
#include "core/symbols.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

typedef struct registry {
    pthread_mutex_t lock;
    uint32_t cap;             /* max ids */
    uint32_t mask;            /* hash table size - 1 */
    size_t name_max;
    _Atomic uint32_t count;
    char (*names)[TD_SYM_NAME_MAX + 1];
    _Atomic uint32_t *slots;  /* 0 = empty, else id */
} registry_t;

static char sym_names[TD_SYM_MAX + 1][TD_SYM_NAME_MAX + 1];
static _Atomic uint32_t sym_slots[1u << 17];
static registry_t syms = { PTHREAD_MUTEX_INITIALIZER, TD_SYM_MAX, (1u << 17) - 1, TD_SYM_NAME_MAX, 0,
                           sym_names, sym_slots };

static char exch_names[TD_EXCH_MAX + 1][TD_SYM_NAME_MAX + 1];
static _Atomic uint32_t exch_slots[256];
static registry_t exchs = { PTHREAD_MUTEX_INITIALIZER, TD_EXCH_MAX, 255, TD_EXCH_NAME_MAX, 0,
                            exch_names, exch_slots };

static int normalize(const char *name, size_t len, size_t max, char *out)
{
    if (len == 0 || len > max) return -1;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
                   c == ':' || c == '/'))
            return -1;
        out[i] = c;
    }
    out[len] = '\0';
    return 0;
}

static uint32_t hash_name(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static uint32_t find(registry_t *r, const char *norm, size_t len, uint32_t *slot_out)
{
    uint32_t i = hash_name(norm, len) & r->mask;
    for (;;) {
        uint32_t id = atomic_load_explicit(&r->slots[i], memory_order_acquire);
        if (id == 0) { *slot_out = i; return 0; }
        if (memcmp(r->names[id], norm, len) == 0 && r->names[id][len] == '\0') return id;
        i = (i + 1) & r->mask;
    }
}

static uint32_t intern(registry_t *r, const char *name, size_t len)
{
    char norm[TD_SYM_NAME_MAX + 1];
    uint32_t slot;
    if (normalize(name, len, r->name_max, norm) != 0) return 0;
    uint32_t id = find(r, norm, len, &slot);
    if (id) return id;
    pthread_mutex_lock(&r->lock);
    id = find(r, norm, len, &slot); /* again, under the lock */
    if (!id) {
        uint32_t n = atomic_load_explicit(&r->count, memory_order_relaxed);
        if (n < r->cap) {
            id = n + 1;
            memcpy(r->names[id], norm, len + 1);
            atomic_store_explicit(&r->slots[slot], id, memory_order_release);
            atomic_store_explicit(&r->count, id, memory_order_release);
        }
    }
    pthread_mutex_unlock(&r->lock);
    return id;
}

static uint32_t lookup(registry_t *r, const char *name, size_t len)
{
    char norm[TD_SYM_NAME_MAX + 1];
    uint32_t slot;
    if (normalize(name, len, r->name_max, norm) != 0) return 0;
    return find(r, norm, len, &slot);
}

static const char *name_of(registry_t *r, uint32_t id)
{
    if (id == 0 || id > atomic_load_explicit(&r->count, memory_order_acquire)) return "?";
    return r->names[id];
}

uint32_t td_sym_intern(const char *name, size_t len) { return intern(&syms, name, len); }
uint32_t td_sym_lookup(const char *name, size_t len) { return lookup(&syms, name, len); }
const char *td_sym_name(uint32_t id) { return name_of(&syms, id); }
uint32_t td_sym_count(void) { return atomic_load_explicit(&syms.count, memory_order_acquire); }

uint8_t td_exch_intern(const char *name, size_t len) { return (uint8_t)intern(&exchs, name, len); }
uint8_t td_exch_lookup(const char *name, size_t len) { return (uint8_t)lookup(&exchs, name, len); }
const char *td_exch_name(uint8_t id) { return id == 0 ? "" : name_of(&exchs, id); }
uint8_t td_exch_count(void) { return (uint8_t)atomic_load_explicit(&exchs.count, memory_order_acquire); }
