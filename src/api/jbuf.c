/*
 * jbuf.c: growable capped output buffer; JSON and MessagePack value writers (see jbuf.h).
 * Threading: a buffer belongs to one thread; these functions keep no other state.
 */
#include "api/jbuf.h"

void td_jb_init(td_jb_t *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
    b->err = 0;
}

void td_jb_free(td_jb_t *b)
{
    td_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

bool td_jb_grow(td_jb_t *b, size_t need)
{
    if (b->err) return false;
    size_t want = b->len + need;
    if (want > b->max) {
        b->err = TD_ENOBUFS;
        return false;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want) cap *= 2;
    if (cap > b->max) cap = b->max;
    b->p = td_realloc(b->p, cap);
    b->cap = cap;
    return true;
}

void td_jb_str(td_jb_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    td_jb_ch(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        td_jb_put(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': td_jb_lit(b, "\\\""); break;
        case '\\': td_jb_lit(b, "\\\\"); break;
        case '\n': td_jb_lit(b, "\\n"); break;
        case '\r': td_jb_lit(b, "\\r"); break;
        case '\t': td_jb_lit(b, "\\t"); break;
        default: {
            char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            td_jb_put(b, u, 6);
        }
        }
    }
    td_jb_put(b, s + run, n - run);
    td_jb_ch(b, '"');
}

void td_jb_u64(td_jb_t *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    td_jb_put(b, tmp + i, sizeof tmp - i);
}

void td_jb_i64(td_jb_t *b, int64_t v)
{
    if (v < 0) {
        td_jb_ch(b, '-');
        td_jb_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        td_jb_u64(b, (uint64_t)v);
    }
}

void td_jb_dec(td_jb_t *b, int64_t v)
{
    char tmp[TD_DEC_BUFSZ];
    td_jb_put(b, tmp, td_dec_fmt(v, tmp));
}

void td_jb_vol(td_jb_t *b, td_vol_t v)
{
    char tmp[TD_DEC128_BUFSZ];
    td_jb_put(b, tmp, td_dec128_fmt(v, tmp));
}

/* ---- MessagePack (big-endian, smallest form) ---- */

static void put_be(td_jb_t *b, uint8_t tag, uint64_t v, int bytes)
{
    char tmp[9];
    tmp[0] = (char)tag;
    for (int i = 0; i < bytes; i++) tmp[1 + i] = (char)(v >> (8 * (bytes - 1 - i)));
    td_jb_put(b, tmp, (size_t)bytes + 1);
}

void td_mp_uint(td_jb_t *b, uint64_t v)
{
    if (v < 128) td_jb_ch(b, (char)v);
    else if (v <= 0xff) put_be(b, 0xcc, v, 1);
    else if (v <= 0xffff) put_be(b, 0xcd, v, 2);
    else if (v <= 0xffffffffu) put_be(b, 0xce, v, 4);
    else put_be(b, 0xcf, v, 8);
}

void td_mp_int(td_jb_t *b, int64_t v)
{
    if (v >= 0) {
        td_mp_uint(b, (uint64_t)v);
        return;
    }
    if (v >= -32) td_jb_ch(b, (char)(int8_t)v);
    else if (v >= INT8_MIN) put_be(b, 0xd0, (uint64_t)v & 0xff, 1);
    else if (v >= INT16_MIN) put_be(b, 0xd1, (uint64_t)v & 0xffff, 2);
    else if (v >= INT32_MIN) put_be(b, 0xd2, (uint64_t)v & 0xffffffffu, 4);
    else put_be(b, 0xd3, (uint64_t)v, 8);
}

void td_mp_str(td_jb_t *b, const char *s, size_t n)
{
    if (n < 32) td_jb_ch(b, (char)(0xa0 | n));
    else if (n <= 0xff) put_be(b, 0xd9, n, 1);
    else if (n <= 0xffff) put_be(b, 0xda, n, 2);
    else put_be(b, 0xdb, n, 4);
    td_jb_put(b, s, n);
}

void td_mp_array(td_jb_t *b, uint32_t n)
{
    if (n < 16) td_jb_ch(b, (char)(0x90 | n));
    else if (n <= 0xffff) put_be(b, 0xdc, n, 2);
    else put_be(b, 0xdd, n, 4);
}

void td_mp_map(td_jb_t *b, uint32_t n)
{
    if (n < 16) td_jb_ch(b, (char)(0x80 | n));
    else if (n <= 0xffff) put_be(b, 0xde, n, 2);
    else put_be(b, 0xdf, n, 4);
}
