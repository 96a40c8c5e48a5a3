/* common.c: allocation with a single out-of-memory policy (abort), and error names. */
#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void default_oom(size_t size)
{
    fprintf(stderr, "tickd: out of memory allocating %zu bytes\n", size);
    abort();
}

void (*td_oom_hook)(size_t size) = default_oom;

void *td_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (TD_UNLIKELY(!p)) td_oom_hook(size);
    return p;
}

void *td_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (TD_UNLIKELY(!p)) td_oom_hook(n * size);
    return p;
}

void *td_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (TD_UNLIKELY(!q)) td_oom_hook(size);
    return q;
}

void *td_aligned_alloc(size_t align, size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : align) != 0) td_oom_hook(size);
    return p;
}

char *td_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = td_malloc(n);
    memcpy(d, s, n);
    return d;
}

void td_free(void *p) { free(p); }

const char *td_strerror(int err)
{
    switch (err) {
    case TD_OK: return "ok";
    case TD_EAGAIN: return "need more input";
    case TD_EPROTO: return "malformed input";
    case TD_EINVAL: return "invalid argument";
    case TD_ERANGE: return "value out of range";
    case TD_ENOENT: return "not found";
    case TD_EEXIST: return "already exists";
    case TD_ENOBUFS: return "buffer or table full";
    case TD_EIO: return "I/O error";
    case TD_ENOMEM: return "out of memory";
    case TD_EOF: return "end of input";
    default: return err < 0 ? strerror(-err) : "unknown error";
    }
}
