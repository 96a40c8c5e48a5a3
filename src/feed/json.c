/*
 * json.c: jsmn tokenizing with a growable token array, and validating getters (see json.h).
 *
 * jsmn is compiled here, once, as static functions (JSMN_STATIC) in strict mode (JSMN_STRICT: primitives
 * must be true/false/null/numbers and keys must be strings), so no other file sees its symbols. Parent
 * links (JSMN_PARENT_LINKS) are on: without them jsmn finds the enclosing container by scanning back over
 * every token at each ',' and closing bracket, which is quadratic in a 1000-level snapshot. jsmn's
 * strict mode still lets some malformed numbers through ("1-2", "--"): every number we use is validated
 * again by the getters below, so that is harmless.
 */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS /* O(1) container close; without it jsmn scans back over every token */
#include <jsmn.h>

#include "feed/json.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/decimal.h"
#include "core/symbols.h"

static_assert(sizeof(td_json_tok_t) == sizeof(jsmntok_t), "td_json_tok_t must mirror jsmntok_t");
static_assert(offsetof(td_json_tok_t, start) == offsetof(jsmntok_t, start), "layout");
static_assert(offsetof(td_json_tok_t, end) == offsetof(jsmntok_t, end), "layout");
static_assert(offsetof(td_json_tok_t, size) == offsetof(jsmntok_t, size), "layout");
static_assert(offsetof(td_json_tok_t, parent) == offsetof(jsmntok_t, parent), "layout");
static_assert((int)TD_JSON_OBJECT == (int)JSMN_OBJECT && (int)TD_JSON_ARRAY == (int)JSMN_ARRAY &&
                  (int)TD_JSON_STRING == (int)JSMN_STRING && (int)TD_JSON_PRIMITIVE == (int)JSMN_PRIMITIVE,
              "token types");

void td_json_init(td_json_t *j, int initial_tokens, int max_tokens)
{
    memset(j, 0, sizeof *j);
    if (initial_tokens < 16) initial_tokens = 16;
    if (max_tokens < initial_tokens) max_tokens = initial_tokens;
    j->cap = initial_tokens;
    j->max_tokens = max_tokens;
    j->tok = td_malloc((size_t)j->cap * sizeof *j->tok);
}

void td_json_free(td_json_t *j)
{
    if (!j) return;
    td_free(j->tok);
    j->tok = NULL;
    j->cap = j->ntok = 0;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* jsmn's strict mode only looks at a primitive's first character ("tru" passes): check the literal or the
 * number's alphabet here, so nothing downstream sees a token that is not JSON. Numbers are validated fully
 * by the getters that read them. */
static bool primitive_ok(const char *s, size_t n)
{
    if ((n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "null", 4))) || (n == 5 && !memcmp(s, "false", 5)))
        return true;
    if (n == 0 || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))) return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return false;
    }
    return true;
}

int td_json_parse(td_json_t *j, const char *js, size_t len)
{
    j->js = js;
    j->len = len;
    j->ntok = 0;
    if (len == 0 || len > TD_JSON_MAX_TEXT) return TD_EPROTO;
    for (;;) {
        jsmn_parser p;
        jsmn_init(&p);
        int n = jsmn_parse(&p, js, len, (jsmntok_t *)j->tok, (unsigned)j->cap);
        if (n == JSMN_ERROR_NOMEM) {
            if (j->cap >= j->max_tokens) return TD_ENOBUFS;
            int cap = j->cap > j->max_tokens / 2 ? j->max_tokens : j->cap * 2;
            j->tok = td_realloc(j->tok, (size_t)cap * sizeof *j->tok);
            j->cap = cap;
            continue;
        }
        if (n <= 0) return TD_EPROTO; /* invalid, truncated (JSMN_ERROR_PART) or empty */
        /* jsmn leaves a token with end == -1 when the text stops inside an open container. */
        for (int i = 0; i < n; i++) {
            const td_json_tok_t *t = &j->tok[i];
            if (t->end < 0 || t->start < 0) return TD_EPROTO;
            if (t->type == TD_JSON_PRIMITIVE && !primitive_ok(js + t->start, (size_t)(t->end - t->start)))
                return TD_EPROTO;
        }
        j->ntok = n;
        /* Exactly one top-level value: the root spans every token and only whitespace follows it. */
        if (td_json_skip(j, 0) != n) return j->ntok = 0, TD_EPROTO;
        size_t tail = (size_t)j->tok[0].end;
        if (j->tok[0].type == TD_JSON_STRING) tail++; /* closing quote */
        for (size_t k = tail; k < len; k++)
            if (!is_ws(js[k])) return j->ntok = 0, TD_EPROTO;
        return TD_OK;
    }
}

int td_json_first_key(const td_json_t *j, int obj)
{
    if (!td_json_is(j, obj, TD_JSON_OBJECT) || j->tok[obj].size == 0) return -1;
    int k = obj + 1;
    return k + 1 < j->ntok && j->tok[k].type == TD_JSON_STRING ? k : -1;
}

int td_json_next_key(const td_json_t *j, int obj, int key)
{
    int k = td_json_skip(j, key + 1);
    if (k + 1 >= j->ntok || j->tok[k].start >= j->tok[obj].end) return -1;
    return j->tok[k].type == TD_JSON_STRING ? k : -1;
}

int td_json_find(const td_json_t *j, int obj, const char *key)
{
    size_t klen = strlen(key);
    for (int k = td_json_first_key(j, obj); k > 0; k = td_json_next_key(j, obj, k))
        if (td_json_eq(j, k, key, klen)) return k + 1;
    return -1;
}

int td_json_first_elem(const td_json_t *j, int arr)
{
    if (!td_json_is(j, arr, TD_JSON_ARRAY) || j->tok[arr].size == 0 || arr + 1 >= j->ntok) return -1;
    return arr + 1;
}

int td_json_str(const td_json_t *j, int i, const char **s, size_t *len)
{
    if (!td_json_is(j, i, TD_JSON_STRING)) return TD_EPROTO;
    *s = j->js + j->tok[i].start;
    *len = (size_t)(j->tok[i].end - j->tok[i].start);
    return TD_OK;
}

static int hex4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return TD_EPROTO;
    }
    *out = v;
    return TD_OK;
}

int td_json_unescape(const char *src, size_t len, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c != '\\') {
            if (o >= cap) return TD_ENOBUFS;
            dst[o++] = c;
            continue;
        }
        if (++i >= len) return TD_EPROTO;
        char e = src[i];
        char simple = 0;
        switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default: return TD_EPROTO;
        }
        if (simple) {
            if (o >= cap) return TD_ENOBUFS;
            dst[o++] = simple;
            continue;
        }
        uint32_t cp;
        if (len - i - 1 < 4 || hex4(src + i + 1, &cp) != TD_OK) return TD_EPROTO;
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* high surrogate: a \uDC00-\uDFFF must follow */
            uint32_t lo;
            if (len - i - 1 < 6 || src[i + 1] != '\\' || src[i + 2] != 'u' || hex4(src + i + 3, &lo) != TD_OK ||
                lo < 0xDC00 || lo > 0xDFFF)
                return TD_EPROTO;
            i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return TD_EPROTO; /* lone low surrogate */
        }
        char u[4];
        size_t n;
        if (cp < 0x80) { u[0] = (char)cp; n = 1; }
        else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
        else if (cp < 0x10000) {
            u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
        } else {
            u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
            u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
        }
        if (cap - o < n || o > cap) return TD_ENOBUFS;
        memcpy(dst + o, u, n);
        o += n;
    }
    if (o > (size_t)INT32_MAX) return TD_ENOBUFS;
    return (int)o;
}

int td_json_str_copy(const td_json_t *j, int i, char *dst, size_t cap)
{
    const char *s;
    size_t len;
    if (cap == 0) return TD_ENOBUFS;
    if (td_json_str(j, i, &s, &len) != TD_OK) return TD_EPROTO;
    int n;
    if (!memchr(s, '\\', len)) {
        if (len >= cap) return TD_ENOBUFS;
        memcpy(dst, s, len);
        n = (int)len;
    } else {
        n = td_json_unescape(s, len, dst, cap - 1);
        if (n < 0) return n;
    }
    dst[n] = '\0';
    return n;
}

/* The text of a scalar token: strings unescaped into buf when they hold a backslash. */
static int scalar_text(const td_json_t *j, int i, char *buf, size_t cap, const char **s, size_t *len)
{
    if (i < 0 || i >= j->ntok) return TD_EPROTO;
    const td_json_tok_t *t = &j->tok[i];
    if (t->type != TD_JSON_STRING && t->type != TD_JSON_PRIMITIVE) return TD_EPROTO;
    *s = j->js + t->start;
    *len = (size_t)(t->end - t->start);
    if (t->type == TD_JSON_STRING && memchr(*s, '\\', *len)) {
        int n = td_json_unescape(*s, *len, buf, cap);
        if (n < 0) return n == TD_ENOBUFS ? TD_ERANGE : n;
        *s = buf;
        *len = (size_t)n;
    }
    return TD_OK;
}

/* Decimal digits only, at least one, no overflow: TD_OK, TD_EPROTO or TD_ERANGE. */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0) return TD_EPROTO;
    uint64_t v = 0;
    for (size_t k = 0; k < len; k++) {
        unsigned d = (unsigned)(s[k] - '0');
        if (d > 9) return TD_EPROTO;
        if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, d, &v)) return TD_ERANGE;
    }
    *out = v;
    return TD_OK;
}

int td_json_dec(const td_json_t *j, int i, int64_t *out)
{
    char buf[64];
    const char *s;
    size_t len;
    int rc = scalar_text(j, i, buf, sizeof buf, &s, &len);
    if (rc != TD_OK) return rc;
    return td_dec_parse(s, len, out);
}

int td_json_u64(const td_json_t *j, int i, uint64_t *out)
{
    char buf[64];
    const char *s;
    size_t len;
    int rc = scalar_text(j, i, buf, sizeof buf, &s, &len);
    if (rc != TD_OK) return rc;
    return parse_u64(s, len, out);
}

int td_json_i64(const td_json_t *j, int i, int64_t *out)
{
    char buf[64];
    const char *s;
    size_t len;
    int rc = scalar_text(j, i, buf, sizeof buf, &s, &len);
    if (rc != TD_OK) return rc;
    bool neg = len > 0 && s[0] == '-';
    if (neg) s++, len--;
    uint64_t v;
    rc = parse_u64(s, len, &v);
    if (rc != TD_OK) return rc;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return TD_ERANGE;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return TD_ERANGE;
        *out = (int64_t)v;
    }
    return TD_OK;
}

int td_json_bool(const td_json_t *j, int i, bool *out)
{
    if (!td_json_is(j, i, TD_JSON_PRIMITIVE)) return TD_EPROTO;
    const char *s = j->js + j->tok[i].start;
    size_t len = (size_t)(j->tok[i].end - j->tok[i].start);
    if (len == 4 && !memcmp(s, "true", 4)) { *out = true; return TD_OK; }
    if (len == 5 && !memcmp(s, "false", 5)) { *out = false; return TD_OK; }
    return TD_EPROTO;
}

uint32_t td_json_sym(const td_json_t *j, int i, td_sym_cache_t *cache)
{
    const char *s;
    size_t len;
    if (td_json_str(j, i, &s, &len) != TD_OK || len == 0) return 0;
    unsigned h = 0;
    if (cache && len <= sizeof cache->slot[0].raw) {
        h = ((unsigned)len * 31u + (uint8_t)s[0] * 7u + (uint8_t)s[len - 1] + (uint8_t)s[len / 2] * 3u) %
            TD_SYM_CACHE_SLOTS;
        if (cache->slot[h].len == len && cache->slot[h].id && !memcmp(cache->slot[h].raw, s, len))
            return cache->slot[h].id;
    }
    char name[TD_SYM_NAME_MAX + 1];
    int n = td_json_str_copy(j, i, name, sizeof name);
    if (n <= 0) return 0;
    uint32_t id = td_sym_intern(name, (size_t)n);
    if (id && cache && len <= sizeof cache->slot[0].raw) {
        cache->slot[h].id = id;
        cache->slot[h].len = (uint8_t)len;
        memcpy(cache->slot[h].raw, s, len);
    }
    return id;
}

int td_parse_unix_secs_ns(const char *s, size_t len, int64_t *out_ns)
{
    size_t k = 0;
    int64_t secs = 0, frac = 0;
    int fdigits = 0;
    if (len == 0) return TD_EPROTO;
    for (; k < len && s[k] != '.'; k++) {
        unsigned d = (unsigned)(s[k] - '0');
        if (d > 9) return TD_EPROTO;
        if (secs > 9000000000LL) return TD_ERANGE; /* ns since 1970 overflow int64 past year 2262 */
        secs = secs * 10 + d;
    }
    if (k == 0) return TD_EPROTO;
    if (k < len) {
        if (++k == len) return TD_EPROTO;
        for (; k < len; k++) {
            unsigned d = (unsigned)(s[k] - '0');
            if (d > 9) return TD_EPROTO;
            if (fdigits < 9) { frac = frac * 10 + d; fdigits++; } /* finer than 1 ns: truncated */
        }
    }
    while (fdigits < 9) { frac *= 10; fdigits++; }
    if (secs > INT64_MAX / 1000000000LL - 1) return TD_ERANGE;
    *out_ns = secs * 1000000000LL + frac;
    return TD_OK;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9) return TD_EPROTO;
        v = v * 10 + (int)d;
    }
    *out = v;
    return TD_OK;
}

int td_parse_rfc3339_ns(const char *s, size_t len, int64_t *out_ns)
{
    int y, mo, d, h, mi, se;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return TD_EPROTO;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
        return TD_EPROTO;
    if (y < 1970 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return TD_ERANGE;
    size_t k = 19;
    int64_t frac = 0;
    int fd = 0;
    if (k < len && s[k] == '.') {
        k++;
        size_t start = k;
        for (; k < len && s[k] >= '0' && s[k] <= '9'; k++)
            if (fd < 9) { frac = frac * 10 + (s[k] - '0'); fd++; }
        if (k == start) return TD_EPROTO;
    }
    while (fd < 9) { frac *= 10; fd++; }
    if (k < len && s[k] == 'Z') k++;
    else if (len - k == 6 && (s[k] == '+' || s[k] == '-') && !memcmp(s + k + 1, "00:00", 5)) k += 6;
    else return TD_EPROTO; /* other offsets are not used by the feeds */
    if (k != len) return TD_EPROTO;
    int64_t secs = td_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    *out_ns = secs * 1000000000LL + frac;
    return TD_OK;
}
