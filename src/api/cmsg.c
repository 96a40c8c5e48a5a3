/*
 * cmsg.c: strict JSON reader for client messages (see cmsg.h).
 *
 * A cursor over the text; every reader either advances past a complete value or records the first error
 * (with its byte offset) and returns false, so the caller unwinds without further checks. Strings are
 * decoded (escapes, \u with surrogate pairs to UTF-8) into fixed buffers; a string that does not fit is
 * an error, never truncated silently. Numbers are validated per the grammar; integers we use must fit
 * int64 and be non-negative.
 *
 * Threading: pure.
 */
#include "api/cmsg.h"

#include <stdio.h>
#include <string.h>

#include "core/common.h"

typedef struct cur {
    const char *s;
    size_t n, i;
    const char *code;
    char *err;
    size_t errlen;
    bool failed;
} cur_t;

static bool fail(cur_t *c, const char *code, const char *what)
{
    if (!c->failed) {
        c->failed = true;
        c->code = code;
        snprintf(c->err, c->errlen, "%s at byte %zu", what, c->i);
    }
    return false;
}

static void ws(cur_t *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

static bool lit(cur_t *c, const char *word)
{
    size_t k = strlen(word);
    if (c->n - c->i < k || memcmp(c->s + c->i, word, k) != 0) return fail(c, "bad_json", "invalid literal");
    c->i += k;
    return true;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static bool hex4(cur_t *c, unsigned *out)
{
    if (c->n - c->i < 4) return fail(c, "bad_json", "truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(c->s[c->i + (size_t)k]);
        if (h < 0) return fail(c, "bad_json", "bad \\u escape");
        v = v << 4 | (unsigned)h;
    }
    c->i += 4;
    *out = v;
    return true;
}

/* Decodes a string at the cursor (which is on '"') into dst (cap bytes incl. NUL; dst NULL: skip).
 * *len gets the decoded length. A string longer than cap-1 fails with `toolong` as the message. */
static bool str(cur_t *c, char *dst, size_t cap, size_t *len, const char *toolong)
{
    if (c->i >= c->n || c->s[c->i] != '"') return fail(c, "bad_json", "expected a string");
    c->i++;
    size_t o = 0;
    for (;;) {
        if (c->i >= c->n) return fail(c, "bad_json", "unterminated string");
        unsigned char ch = (unsigned char)c->s[c->i];
        char out[4];
        size_t k = 0;
        if (ch == '"') {
            c->i++;
            break;
        }
        if (ch < 0x20) return fail(c, "bad_json", "control character in string");
        if (ch == '\\') {
            c->i++;
            if (c->i >= c->n) return fail(c, "bad_json", "unterminated escape");
            char e = c->s[c->i++];
            switch (e) {
            case '"': out[k++] = '"'; break;
            case '\\': out[k++] = '\\'; break;
            case '/': out[k++] = '/'; break;
            case 'b': out[k++] = '\b'; break;
            case 'f': out[k++] = '\f'; break;
            case 'n': out[k++] = '\n'; break;
            case 'r': out[k++] = '\r'; break;
            case 't': out[k++] = '\t'; break;
            case 'u': {
                unsigned cp;
                if (!hex4(c, &cp)) return false;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (c->n - c->i < 2 || c->s[c->i] != '\\' || c->s[c->i + 1] != 'u')
                        return fail(c, "bad_json", "lone surrogate");
                    c->i += 2;
                    if (!hex4(c, &lo)) return false;
                    if (lo < 0xDC00 || lo > 0xDFFF) return fail(c, "bad_json", "bad surrogate pair");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return fail(c, "bad_json", "lone surrogate");
                }
                if (cp < 0x80) out[k++] = (char)cp;
                else if (cp < 0x800) {
                    out[k++] = (char)(0xC0 | cp >> 6);
                    out[k++] = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    out[k++] = (char)(0xE0 | cp >> 12);
                    out[k++] = (char)(0x80 | (cp >> 6 & 0x3F));
                    out[k++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    out[k++] = (char)(0xF0 | cp >> 18);
                    out[k++] = (char)(0x80 | (cp >> 12 & 0x3F));
                    out[k++] = (char)(0x80 | (cp >> 6 & 0x3F));
                    out[k++] = (char)(0x80 | (cp & 0x3F));
                }
                break;
            }
            default: return fail(c, "bad_json", "bad escape");
            }
        } else {
            /* raw bytes: the WebSocket layer validated UTF-8 for text frames; binary frames may carry
             * anything, which only ends up compared against symbol names */
            out[k++] = (char)ch;
            c->i++;
        }
        if (dst) {
            if (o + k + 1 > cap) return fail(c, "bad_request", toolong);
            memcpy(dst + o, out, k);
        }
        o += k;
    }
    if (dst) dst[o] = '\0';
    if (len) *len = o;
    return true;
}

/* Validates a number; if out is not NULL it must be a non-negative integer that fits int64. */
static bool num(cur_t *c, int64_t *out, const char *what)
{
    size_t start = c->i;
    bool neg = false, integral = true;
    if (c->i < c->n && c->s[c->i] == '-') {
        neg = true;
        c->i++;
    }
    if (c->i >= c->n) return fail(c, "bad_json", "truncated number");
    if (c->s[c->i] == '0') {
        c->i++;
    } else if (c->s[c->i] >= '1' && c->s[c->i] <= '9') {
        while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') c->i++;
    } else {
        return fail(c, "bad_json", "bad number");
    }
    if (c->i < c->n && c->s[c->i] == '.') {
        integral = false;
        c->i++;
        if (c->i >= c->n || c->s[c->i] < '0' || c->s[c->i] > '9') return fail(c, "bad_json", "bad fraction");
        while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') c->i++;
    }
    if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
        integral = false;
        c->i++;
        if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-')) c->i++;
        if (c->i >= c->n || c->s[c->i] < '0' || c->s[c->i] > '9') return fail(c, "bad_json", "bad exponent");
        while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') c->i++;
    }
    if (!out) return true;
    if (neg || !integral) return fail(c, "bad_request", what);
    uint64_t v = 0;
    for (size_t k = start; k < c->i; k++) {
        if (v > (uint64_t)INT64_MAX / 10) return fail(c, "bad_request", what);
        v = v * 10 + (uint64_t)(c->s[k] - '0');
        if (v > (uint64_t)INT64_MAX) return fail(c, "bad_request", what);
    }
    *out = (int64_t)v;
    return true;
}

static bool skip_value(cur_t *c, int depth);

static bool skip_container(cur_t *c, int depth, char close)
{
    if (depth >= TD_CMSG_MAX_DEPTH) return fail(c, "bad_json", "nested too deeply");
    c->i++;
    ws(c);
    if (c->i < c->n && c->s[c->i] == close) {
        c->i++;
        return true;
    }
    for (;;) {
        ws(c);
        if (close == '}') {
            if (!str(c, NULL, 0, NULL, NULL)) return false;
            ws(c);
            if (c->i >= c->n || c->s[c->i] != ':') return fail(c, "bad_json", "expected ':'");
            c->i++;
            ws(c);
        }
        if (!skip_value(c, depth + 1)) return false;
        ws(c);
        if (c->i >= c->n) return fail(c, "bad_json", "unterminated container");
        if (c->s[c->i] == ',') {
            c->i++;
            continue;
        }
        if (c->s[c->i] == close) {
            c->i++;
            return true;
        }
        return fail(c, "bad_json", close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool skip_value(cur_t *c, int depth)
{
    if (c->i >= c->n) return fail(c, "bad_json", "expected a value");
    switch (c->s[c->i]) {
    case '{': return skip_container(c, depth, '}');
    case '[': return skip_container(c, depth, ']');
    case '"': return str(c, NULL, 0, NULL, NULL);
    case 't': return lit(c, "true");
    case 'f': return lit(c, "false");
    case 'n': return lit(c, "null");
    default: return num(c, NULL, NULL);
    }
}

/* An array of strings (or one string) into fixed slots. */
static bool str_list(cur_t *c, char *slots, size_t slot_size, size_t max, size_t *count, const char *what,
                     const char *toomany_code)
{
    *count = 0;
    if (c->i < c->n && c->s[c->i] == '"') {
        if (!str(c, slots, slot_size, NULL, what)) return false;
        *count = 1;
        return true;
    }
    if (c->i >= c->n || c->s[c->i] != '[') return fail(c, "bad_request", what);
    c->i++;
    ws(c);
    if (c->i < c->n && c->s[c->i] == ']') {
        c->i++;
        return true;
    }
    for (;;) {
        ws(c);
        if (*count >= max) return fail(c, toomany_code, "too many entries");
        if (c->i >= c->n || c->s[c->i] != '"') return fail(c, c->i >= c->n ? "bad_json" : "bad_request", what);
        if (!str(c, slots + *count * slot_size, slot_size, NULL, what)) return false;
        (*count)++;
        ws(c);
        if (c->i >= c->n) return fail(c, "bad_json", "unterminated array");
        if (c->s[c->i] == ',') {
            c->i++;
            continue;
        }
        if (c->s[c->i] == ']') {
            c->i++;
            return true;
        }
        return fail(c, "bad_json", "expected ',' or ']'");
    }
}

static bool key_is(const char *k, size_t kn, const char *lit_)
{
    return kn == strlen(lit_) && memcmp(k, lit_, kn) == 0;
}

int td_cmsg_parse(const char *s, size_t n, td_cmsg_t *m, const char **code, char *err, size_t errlen)
{
    cur_t c = { .s = s, .n = n, .err = err, .errlen = errlen };
    m->action = TD_CMSG_UNKNOWN;
    m->action_name[0] = '\0';
    m->nsymbols = m->nchannels = 0;
    m->has_channels = false;
    m->tier[0] = '\0';
    m->interval_ms = m->batch_ms = -1;
    m->id[0] = '\0';
    bool have_action = false;

    ws(&c);
    if (c.i >= c.n || c.s[c.i] != '{') {
        fail(&c, "bad_json", "expected a JSON object");
        goto out;
    }
    c.i++;
    ws(&c);
    if (c.i < c.n && c.s[c.i] == '}') {
        c.i++;
    } else {
        for (;;) {
            ws(&c);
            if (c.i >= c.n || c.s[c.i] != '"') {
                fail(&c, "bad_json", "expected a key");
                goto out;
            }
            /* keys are compared raw (between the quotes): ours have no escapes, and any other key is
             * skipped whatever its length */
            size_t kstart = c.i + 1;
            if (!str(&c, NULL, 0, NULL, NULL)) goto out;
            const char *key = c.s + kstart;
            size_t kn = c.i - 1 - kstart;
            ws(&c);
            if (c.i >= c.n || c.s[c.i] != ':') {
                fail(&c, "bad_json", "expected ':'");
                goto out;
            }
            c.i++;
            ws(&c);
            bool ok;
            if (key_is(key, kn, "action")) {
                if (c.i < c.n && c.s[c.i] != '"') {
                    ok = skip_value(&c, 1) && fail(&c, "bad_request", "action must be a string");
                } else {
                    char a[256];
                    size_t an;
                    ok = str(&c, a, sizeof a, &an, "action too long");
                    if (ok) {
                        have_action = true;
                        snprintf(m->action_name, sizeof m->action_name, "%.*s", (int)(an < 31 ? an : 31), a);
                        if (!strcmp(a, "subscribe")) m->action = TD_CMSG_SUBSCRIBE;
                        else if (!strcmp(a, "unsubscribe")) m->action = TD_CMSG_UNSUBSCRIBE;
                        else if (!strcmp(a, "ping")) m->action = TD_CMSG_PING;
                        else m->action = TD_CMSG_UNKNOWN;
                    }
                }
            } else if (key_is(key, kn, "symbols")) {
                ok = str_list(&c, &m->symbols[0][0], sizeof m->symbols[0], TD_CMSG_MAX_SYMBOLS, &m->nsymbols,
                              "symbols must be an array of symbol names (at most 31 characters each)",
                              "too_many_subscriptions");
            } else if (key_is(key, kn, "channels")) {
                m->has_channels = true;
                ok = str_list(&c, &m->channels[0][0], sizeof m->channels[0], TD_CMSG_MAX_CHANNELS,
                              &m->nchannels, "channels must be an array of channel names", "bad_request");
            } else if (key_is(key, kn, "tier")) {
                ok = str(&c, m->tier, sizeof m->tier, NULL, "tier must be \"full\" or \"conflated\"");
            } else if (key_is(key, kn, "interval_ms")) {
                ok = num(&c, &m->interval_ms, "interval_ms must be a non-negative integer");
            } else if (key_is(key, kn, "batch_ms")) {
                ok = num(&c, &m->batch_ms, "batch_ms must be a non-negative integer");
            } else if (key_is(key, kn, "id")) {
                size_t start = c.i;
                if (c.i < c.n && c.s[c.i] == '"') {
                    char tmp[40];
                    ok = str(&c, tmp, sizeof tmp, NULL, "id too long (at most 39 bytes)");
                } else {
                    int64_t v;
                    ok = num(&c, &v, "id must be a string or a non-negative integer");
                }
                /* kept as JSON text: for a string, the raw quoted form (escapes and all) */
                if (ok) {
                    size_t len = c.i - start;
                    if (len >= sizeof m->id) ok = fail(&c, "bad_request", "id too long");
                    else {
                        memcpy(m->id, c.s + start, len);
                        m->id[len] = '\0';
                    }
                }
            } else {
                ok = skip_value(&c, 1);
            }
            if (!ok) goto out;
            ws(&c);
            if (c.i >= c.n) {
                fail(&c, "bad_json", "unterminated object");
                goto out;
            }
            if (c.s[c.i] == ',') {
                c.i++;
                continue;
            }
            if (c.s[c.i] == '}') {
                c.i++;
                break;
            }
            fail(&c, "bad_json", "expected ',' or '}'");
            goto out;
        }
    }
    ws(&c);
    if (c.i != c.n) {
        fail(&c, "bad_json", "trailing characters after the object");
        goto out;
    }
    if (!have_action) fail(&c, "bad_request", "missing \"action\"");
out:
    if (c.failed) {
        *code = c.code;
        return TD_EPROTO;
    }
    *code = NULL;
    return TD_OK;
}
