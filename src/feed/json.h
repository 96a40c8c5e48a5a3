/*
 * json.h: small helpers over jsmn (Debian's libjsmn-dev, header-only) for the exchange feed parsers.
 *
 * jsmn tokenizes a complete JSON text into a flat array of tokens (type, byte span, child count) without
 * copying or allocating; it neither unescapes strings nor validates numbers. This module adds what the
 * feeds need on top: a growable, capped token array; walking (skip a subtree, iterate an object's keys,
 * find a key); typed getters that validate (integers with overflow checks, exact decimals through
 * td_dec_parse, booleans, strings with \-escapes decoded); and the two timestamp formats the feeds use.
 *
 * Invariants: after td_json_parse() returns TD_OK, tokens [0, ntok) describe exactly one JSON value that
 * spans the input up to trailing whitespace; every token's [start, end) lies inside the input. Token
 * indexes stay valid until the next parse. Getters never read outside a token's span and leave *out
 * untouched on error. The input text is not copied: it must outlive the tokens.
 *
 * Errors: TD_EPROTO for malformed JSON or a value of the wrong type/shape, TD_ERANGE for a number that
 * does not fit (or a decimal finer than 1e-8), TD_ENOBUFS when the text needs more tokens than the cap.
 *
 * Threading: a td_json_t belongs to one thread; the functions keep no global state.
 */
#ifndef TD_FEED_JSON_H
#define TD_FEED_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Token types; the values and the layout of td_json_tok_t are jsmn's (checked in json.c). */
enum { TD_JSON_UNDEF = 0, TD_JSON_OBJECT = 1, TD_JSON_ARRAY = 2, TD_JSON_STRING = 3, TD_JSON_PRIMITIVE = 4 };

typedef struct td_json_tok {
    int type;  /* TD_JSON_* */
    int start; /* byte offset of the first character (inside the quotes for strings) */
    int end;   /* one past the last character */
    int size;  /* children: keys of an object, elements of an array, 1 for a key with its value */
    int parent; /* index of the enclosing token, -1 for the root */
} td_json_tok_t;

typedef struct td_json {
    const char *js;      /* the text of the last parse */
    size_t len;
    td_json_tok_t *tok;
    int ntok;            /* tokens of the last parse */
    int cap;             /* allocated tokens */
    int max_tokens;      /* the cap: a text needing more is TD_ENOBUFS */
} td_json_t;

#define TD_JSON_MAX_TEXT (64u << 20) /* larger texts are refused (jsmn offsets are int) */

void td_json_init(td_json_t *j, int initial_tokens, int max_tokens);
void td_json_free(td_json_t *j);

/* Tokenizes js[0..len). TD_OK, TD_EPROTO (malformed, truncated, or more than one value) or TD_ENOBUFS. */
int td_json_parse(td_json_t *j, const char *js, size_t len);

/* Index of the token after i's whole subtree (its next sibling, or ntok). */
static inline int td_json_skip(const td_json_t *j, int i)
{
    int end = j->tok[i].end, k = i + 1;
    while (k < j->ntok && j->tok[k].start < end) k++;
    return k;
}

static inline bool td_json_is(const td_json_t *j, int i, int type)
{
    return i >= 0 && i < j->ntok && j->tok[i].type == type;
}

/* Does string token i equal lit[0..litlen) byte for byte (no unescaping: keys and enum values in the
 * feeds are plain ASCII)? */
static inline bool td_json_eq(const td_json_t *j, int i, const char *lit, size_t litlen)
{
    const td_json_tok_t *t = &j->tok[i];
    return t->type == TD_JSON_STRING && (size_t)(t->end - t->start) == litlen &&
           __builtin_memcmp(j->js + t->start, lit, litlen) == 0;
}
#define TD_JSON_EQ(j, i, lit) td_json_eq((j), (i), lit, sizeof(lit) - 1)

/* Object iteration: for (int k = td_json_first_key(j, obj); k > 0; k = td_json_next_key(j, obj, k))
 * with the value at k + 1. Returns -1 when obj is not an object or has no (more) keys. */
int td_json_first_key(const td_json_t *j, int obj);
int td_json_next_key(const td_json_t *j, int obj, int key);

/* Index of the value of key in object obj, or -1 (also when obj is not an object). */
int td_json_find(const td_json_t *j, int obj, const char *key);

/* Array element access: first element index (or -1 if empty / not an array), and the next one. */
int td_json_first_elem(const td_json_t *j, int arr);
static inline int td_json_next_elem(const td_json_t *j, int arr, int elem)
{
    int k = td_json_skip(j, elem);
    return k < j->ntok && j->tok[k].start < j->tok[arr].end ? k : -1;
}

/* Raw (still escaped) string span of token i: TD_OK or TD_EPROTO if i is not a string. */
int td_json_str(const td_json_t *j, int i, const char **s, size_t *len);
/* Unescaped copy of string token i into dst (NUL-terminated); returns its length, TD_EPROTO (not a string
 * or a bad escape) or TD_ENOBUFS (does not fit in cap - 1 bytes). */
int td_json_str_copy(const td_json_t *j, int i, char *dst, size_t cap);
/* Decodes JSON string escapes of src[0..len) (\" \\ \/ \b \f \n \r \t \uXXXX incl. surrogate pairs, to
 * UTF-8) into dst; returns the length written (not NUL-terminated), TD_EPROTO or TD_ENOBUFS. */
int td_json_unescape(const char *src, size_t len, char *dst, size_t cap);

/* Exact decimal (scaled 1e8) from a string ("0.35130000") or a bare number: td_dec_parse's contract. */
int td_json_dec(const td_json_t *j, int i, int64_t *out);
/* Non-negative integer from a bare number or a string of digits; TD_ERANGE above UINT64_MAX. */
int td_json_u64(const td_json_t *j, int i, uint64_t *out);
/* Signed integer (optional leading '-'), bare or quoted; TD_ERANGE outside int64. */
int td_json_i64(const td_json_t *j, int i, int64_t *out);
/* true / false (bare only). */
int td_json_bool(const td_json_t *j, int i, bool *out);

/* Symbol interning through a small cache of raw spellings: a feed sends the same few names over and over,
 * and td_sym_intern() normalizes and hashes each time. Ids are never freed, so cached ids stay valid. */
#define TD_SYM_CACHE_SLOTS 32
typedef struct td_sym_cache {
    struct { uint32_t id; uint8_t len; char raw[31]; } slot[TD_SYM_CACHE_SLOTS];
} td_sym_cache_t;
/* The id of the symbol in string token i (unescaped, interned): 0 if it is not a string or the registry
 * rejects it (bad characters, too long, table full). cache may be NULL. */
uint32_t td_json_sym(const td_json_t *j, int i, td_sym_cache_t *cache);

/* "1633998512.0633569" (Unix seconds with up to 9 decimals) to ns since the epoch, exactly. */
int td_parse_unix_secs_ns(const char *s, size_t len, int64_t *out_ns);
/* RFC 3339 UTC time "2021-04-17T16:43:37.075687Z" (fraction optional, up to 9 digits used, 'Z' or
 * "+00:00") to ns since the epoch. */
int td_parse_rfc3339_ns(const char *s, size_t len, int64_t *out_ns);

#endif
