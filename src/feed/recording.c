/*
 * recording.c: the cryptofeed raw-recording source (contract in recording.h).
 *
 * Both files are mapped read-only and walked line by line; nothing is copied. Each step consumes the
 * earlier (by receive time) of the next WebSocket frame and the next HTTP snapshot, so a snapshot is
 * offered to a symbol's sync before any frame received at or after it. Events go to a queue that next()
 * drains; the queue only grows to the events of the largest single message (a snapshot), so memory is
 * bounded by the input's largest message, not its length.
 *
 * Invariants: queue[qhead, qlen) are produced but not yet returned; syncs[sym] exists for every Binance
 * symbol that had depth data or a snapshot; stale[sym] is set between a GAP and the RESYNC that ends it.
 */
#include "feed/recording.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/log.h"
#include "core/symbols.h"
#include "feed/binance.h"
#include "feed/coinbase.h"
#include "feed/json.h"

typedef enum { REC_BINANCE_SPOT, REC_BINANCE_FUTURES, REC_COINBASE } rec_kind_t;

typedef struct linefile {
    char path[512];
    const char *buf;
    size_t len, pos;
    uint64_t line; /* 1-based number of the last line read */
} linefile_t;

typedef struct frame {
    bool valid;
    int64_t recv_ns;
    const char *json;
    size_t jlen;
    const char *url; /* HTTP only */
    size_t urllen;
    uint64_t line;
} frame_t;

#define MAX_COUNTS 40

typedef struct rec {
    td_source_t base; /* first: td_source_t * <-> rec_t * */
    rec_kind_t kind;
    uint8_t exch;
    linefile_t ws, http;
    bool have_http;
    frame_t next_ws, next_http;
    td_bn_parser_t *bn;
    td_bn_sync_t **syncs; /* by symbol id */
    size_t nsyncs;
    td_cb_feed_t *cb;
    uint8_t *stale;       /* by symbol id */
    size_t nstale;
    td_event_t *q;
    size_t qhead, qlen, qcap;
    struct { const char *name; uint64_t n; } counts[MAX_COUNTS];
    size_t ncounts;
} rec_t;

static const char REC_KIND[] = "recording";

/* ---- files ---- */

static int map_file(linefile_t *f, const char *path, char *err, size_t errlen)
{
    snprintf(f->path, sizeof f->path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { snprintf(err, errlen, "recording: cannot open %s: %s", path, strerror(errno)); return TD_EIO; }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "recording: %s is not a regular file", path);
        close(fd);
        return TD_EIO;
    }
    f->len = (size_t)st.st_size;
    f->buf = NULL;
    if (f->len > 0) {
        void *p = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            snprintf(err, errlen, "recording: cannot map %s: %s", path, strerror(errno));
            close(fd);
            return TD_EIO;
        }
        f->buf = p;
    }
    close(fd);
    return TD_OK;
}

static void unmap_file(linefile_t *f)
{
    if (f->buf && f->len) munmap((void *)f->buf, f->len);
    f->buf = NULL;
}

/* Next line without its '\n' (and '\r'); false at the end. */
static bool next_line(rec_t *r, linefile_t *f, const char **s, size_t *n)
{
    if (f->pos >= f->len) return false;
    const char *start = f->buf + f->pos;
    const char *nl = memchr(start, '\n', f->len - f->pos);
    size_t l = nl ? (size_t)(nl - start) : f->len - f->pos;
    f->pos += l + (nl ? 1 : 0);
    f->line++;
    atomic_fetch_add_explicit(&r->base.stats.bytes, l + (nl ? 1 : 0), memory_order_relaxed);
    if (l && start[l - 1] == '\r') l--;
    *s = start;
    *n = l;
    return true;
}

static const char *find_str(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k == 0 || n < k) return NULL;
    for (size_t i = 0; i + k <= n; i++)
        if (s[i] == needle[0] && !memcmp(s + i, needle, k)) return s + i;
    return NULL;
}

/* "<ts>: <json>" starting at s. */
static bool split_ts(const char *s, size_t n, int64_t *ts, const char **json, size_t *jlen)
{
    const char *colon = memchr(s, ':', n);
    if (!colon || colon == s) return false;
    if (td_parse_unix_secs_ns(s, (size_t)(colon - s), ts) != TD_OK) return false;
    const char *j = colon + 1;
    while (j < s + n && *j == ' ') j++;
    *json = j;
    *jlen = (size_t)(s + n - j);
    return *jlen > 0;
}

/* ---- counters, queue, state ---- */

static void count(rec_t *r, const char *name)
{
    for (size_t i = 0; i < r->ncounts; i++)
        if (r->counts[i].name == name || !strcmp(r->counts[i].name, name)) { r->counts[i].n++; return; }
    if (r->ncounts < MAX_COUNTS) {
        r->counts[r->ncounts].name = name;
        r->counts[r->ncounts].n = 1;
        r->ncounts++;
    }
}

static void bad(rec_t *r, const linefile_t *f, uint64_t line, const char *why)
{
    atomic_fetch_add_explicit(&r->base.stats.bad, 1, memory_order_relaxed);
    count(r, "bad");
    TD_LOG_RATELIMITED(TD_LOG_WARN, "recording", 5, "%s:%llu: %s", f->path, (unsigned long long)line, why);
}

static uint8_t *stale_slot(rec_t *r, uint32_t sym)
{
    if (sym >= r->nstale) {
        size_t n = r->nstale ? r->nstale : 64;
        while (n <= sym) n *= 2;
        r->stale = td_realloc(r->stale, n);
        memset(r->stale + r->nstale, 0, n - r->nstale);
        r->nstale = n;
    }
    return &r->stale[sym];
}

static void emit(void *ctx, const td_event_t *ev)
{
    rec_t *r = ctx;
    if (r->qlen == r->qcap) {
        r->qcap = r->qcap ? r->qcap * 2 : 1024;
        r->q = td_realloc(r->q, r->qcap * sizeof *r->q);
    }
    td_event_t *q = &r->q[r->qlen++];
    *q = *ev;
    if (q->exch_ns == 0) q->exch_ns = q->recv_ns; /* see recording.h: replays pace by exch_ns */
    atomic_fetch_add_explicit(&r->base.stats.events, 1, memory_order_relaxed);
    /* stale[sym]: 0 never seen, 1 gap open, 2 whole */
    if (ev->type == TD_EV_GAP) {
        atomic_fetch_add_explicit(&r->base.stats.gaps, 1, memory_order_relaxed);
        if (ev->sym) *stale_slot(r, ev->sym) = 1;
        else
            for (size_t s = 1; s < r->nstale; s++)
                if (r->stale[s] == 2) r->stale[s] = 1;
    } else if (ev->type == TD_EV_RESYNC) {
        uint8_t *st = stale_slot(r, ev->sym);
        if (*st == 1) atomic_fetch_add_explicit(&r->base.stats.resyncs, 1, memory_order_relaxed);
        *st = 2;
    } else if (ev->sym) {
        uint8_t *st = stale_slot(r, ev->sym);
        if (*st == 0) *st = 2;
    }
}

static td_bn_sync_t *get_sync(rec_t *r, uint32_t sym)
{
    if (sym >= r->nsyncs) {
        size_t n = r->nsyncs ? r->nsyncs : 64;
        while (n <= sym) n *= 2;
        r->syncs = td_realloc(r->syncs, n * sizeof *r->syncs);
        memset(r->syncs + r->nsyncs, 0, (n - r->nsyncs) * sizeof *r->syncs);
        r->nsyncs = n;
    }
    if (!r->syncs[sym]) {
        r->syncs[sym] = td_malloc(sizeof **r->syncs);
        td_bn_sync_init(r->syncs[sym], sym, r->exch, r->kind == REC_BINANCE_FUTURES);
    }
    return r->syncs[sym];
}

/* ---- reading the two streams ---- */

static void fill_ws(rec_t *r)
{
    const char *s;
    size_t n;
    r->next_ws.valid = false;
    while (next_line(r, &r->ws, &s, &n)) {
        if (n == 0) continue;
        if (find_str(s, n < 512 ? n : 512, " <- ")) { count(r, "sent"); continue; } /* our own request */
        if (r->ws.line == 1 && find_str(s, n, " <-> ")) continue;                      /* header */
        frame_t *fr = &r->next_ws;
        if (!split_ts(s, n, &fr->recv_ns, &fr->json, &fr->jlen)) { bad(r, &r->ws, r->ws.line, "no \"<ts>: \" prefix"); continue; }
        fr->line = r->ws.line;
        fr->valid = true;
        return;
    }
}

static void fill_http(rec_t *r)
{
    const char *s;
    size_t n;
    r->next_http.valid = false;
    if (!r->have_http) return;
    while (next_line(r, &r->http, &s, &n)) {
        if (n == 0) continue;
        const char *arrow = find_str(s, n < 4096 ? n : 4096, " -> ");
        if (!arrow) { count(r, "http_other"); continue; } /* e.g. cryptofeed's "configuration:" line */
        frame_t *fr = &r->next_http;
        fr->url = s;
        fr->urllen = (size_t)(arrow - s);
        const char *rest = arrow + 4;
        if (!split_ts(rest, (size_t)(s + n - rest), &fr->recv_ns, &fr->json, &fr->jlen)) {
            bad(r, &r->http, r->http.line, "no \"<ts>: \" after \" -> \"");
            continue;
        }
        fr->line = r->http.line;
        fr->valid = true;
        return;
    }
}

static void handle_binance_frame(rec_t *r, const frame_t *fr)
{
    td_bn_msg_t m;
    atomic_fetch_add_explicit(&r->base.stats.messages, 1, memory_order_relaxed);
    if (td_bn_parse(r->bn, fr->json, fr->jlen, &m) < 0) {
        bad(r, &r->ws, fr->line, td_bn_parser_error(r->bn));
        return;
    }
    count(r, td_bn_kind_name(m.kind));
    switch (m.kind) {
    case TD_BN_DEPTH:
        td_bn_sync_depth(get_sync(r, m.sym), &m, fr->recv_ns, emit, r);
        break;
    case TD_BN_TRADE:
    case TD_BN_AGGTRADE:
    case TD_BN_BOOKTICKER: {
        td_event_t ev;
        if (td_bn_msg_events(&m, r->exch, fr->recv_ns, &ev, 1) == 1) emit(r, &ev);
        break;
    }
    case TD_BN_UNKNOWN:
        bad(r, &r->ws, fr->line, "unknown message type");
        break;
    default: /* kline: parsed, no event type yet (binance.h); reply: nothing to do */
        break;
    }
}

static void handle_binance_http(rec_t *r, const frame_t *fr)
{
    const char *q = find_str(fr->url, fr->urllen, "symbol=");
    if (!find_str(fr->url, fr->urllen, "/depth") || !q) { count(r, "http_other"); return; }
    atomic_fetch_add_explicit(&r->base.stats.messages, 1, memory_order_relaxed);
    const char *name = q + 7, *end = name;
    while (end < fr->url + fr->urllen && *end != '&') end++;
    uint32_t sym = td_sym_intern(name, (size_t)(end - name));
    if (!sym) { bad(r, &r->http, fr->line, "bad symbol in snapshot URL"); return; }
    td_bn_snapshot_t snap;
    if (td_bn_parse_snapshot(r->bn, fr->json, fr->jlen, &snap) < 0) {
        bad(r, &r->http, fr->line, td_bn_parser_error(r->bn));
        return;
    }
    count(r, "http_snapshot");
    int rc = td_bn_sync_snapshot(get_sync(r, sym), &snap, fr->recv_ns, emit, r);
    if (rc == TD_ERANGE)
        td_log_warn("recording", "%s:%llu: snapshot of %s (lastUpdateId %llu) is older than the stream; waiting for "
                    "a newer one", r->http.path, (unsigned long long)fr->line, td_sym_name(sym),
                    (unsigned long long)snap.last_update_id);
}

static void handle_coinbase_frame(rec_t *r, const frame_t *fr)
{
    td_cb_kind_t kind;
    atomic_fetch_add_explicit(&r->base.stats.messages, 1, memory_order_relaxed);
    if (td_cb_handle(r->cb, fr->json, fr->jlen, fr->recv_ns, emit, r, &kind) < 0) {
        bad(r, &r->ws, fr->line, td_cb_error(r->cb));
        return;
    }
    count(r, td_cb_kind_name(kind));
    if (kind == TD_CB_UNKNOWN) bad(r, &r->ws, fr->line, "unknown message type");
}

/* Processes the earlier of the two pending inputs. Returns false when both are exhausted. */
static bool step(rec_t *r)
{
    frame_t *w = &r->next_ws, *h = &r->next_http;
    if (!w->valid && !h->valid) return false;
    if (h->valid && (!w->valid || h->recv_ns <= w->recv_ns)) {
        frame_t fr = *h;
        if (r->kind == REC_COINBASE) count(r, "http_other");
        else handle_binance_http(r, &fr);
        fill_http(r);
    } else {
        frame_t fr = *w;
        if (r->kind == REC_COINBASE) handle_coinbase_frame(r, &fr);
        else handle_binance_frame(r, &fr);
        fill_ws(r);
    }
    return true;
}

static int rec_next(td_source_t *src, td_event_t *out, size_t max)
{
    rec_t *r = (rec_t *)src;
    if (max == 0) return TD_EINVAL;
    while (r->qhead == r->qlen) {
        r->qhead = r->qlen = 0;
        if (!step(r)) return TD_EOF;
    }
    size_t n = r->qlen - r->qhead;
    if (n > max) n = max;
    if (n > (size_t)INT32_MAX) n = INT32_MAX;
    memcpy(out, r->q + r->qhead, n * sizeof *out);
    r->qhead += n;
    return (int)n;
}

static void rec_destroy(td_source_t *src)
{
    rec_t *r = (rec_t *)src;
    if (!r) return;
    unmap_file(&r->ws);
    unmap_file(&r->http);
    td_bn_parser_destroy(r->bn);
    for (size_t i = 0; i < r->nsyncs; i++)
        if (r->syncs[i]) { td_bn_sync_free(r->syncs[i]); td_free(r->syncs[i]); }
    td_free(r->syncs);
    td_cb_destroy(r->cb);
    td_free(r->stale);
    td_free(r->q);
    td_free(r);
}

static int detect(const linefile_t *ws, rec_kind_t *kind)
{
    const char *s = ws->buf;
    size_t n = ws->len;
    const char *nl = s ? memchr(s, '\n', n) : NULL;
    size_t l = nl ? (size_t)(nl - s) : n;
    if (l > 4096) l = 4096;
    if (s && find_str(s, l, "://")) {
        if (find_str(s, l, "dstream.binance")) return TD_ENOENT; /* COIN-M: other contracts, not supported */
        if (find_str(s, l, "fstream.binance")) { *kind = REC_BINANCE_FUTURES; return TD_OK; }
        if (find_str(s, l, "binance")) { *kind = REC_BINANCE_SPOT; return TD_OK; }
        if (find_str(s, l, "coinbase")) { *kind = REC_COINBASE; return TD_OK; }
    }
    const char *base = strrchr(ws->path, '/');
    base = base ? base + 1 : ws->path;
    if (!strncmp(base, "BINANCE_FUTURES", 15)) { *kind = REC_BINANCE_FUTURES; return TD_OK; }
    if (!strncmp(base, "BINANCE", 7)) { *kind = REC_BINANCE_SPOT; return TD_OK; }
    if (!strncmp(base, "COINBASE", 8)) { *kind = REC_COINBASE; return TD_OK; }
    return TD_EINVAL;
}

td_source_t *td_recording_open(const char *args, char *err, size_t errlen)
{
    char ws_path[512], http_path[512] = "";
    if (!args || !*args) { snprintf(err, errlen, "recording: usage WS_FILE[,HTTP_FILE]"); return NULL; }
    const char *comma = strchr(args, ',');
    size_t wl = comma ? (size_t)(comma - args) : strlen(args);
    if (wl == 0 || wl >= sizeof ws_path || (comma && strlen(comma + 1) >= sizeof http_path)) {
        snprintf(err, errlen, "recording: bad arguments \"%s\"", args);
        return NULL;
    }
    memcpy(ws_path, args, wl);
    ws_path[wl] = '\0';
    if (comma) snprintf(http_path, sizeof http_path, "%s", comma + 1);

    rec_t *r = td_calloc(1, sizeof *r);
    r->base.kind = REC_KIND;
    r->base.next = rec_next;
    r->base.destroy = rec_destroy;
    const char *base = strrchr(ws_path, '/');
    base = base ? base + 1 : ws_path;
    snprintf(r->base.name, sizeof r->base.name, "recording:%.*s", (int)(sizeof r->base.name - 11), base);
    if (map_file(&r->ws, ws_path, err, errlen) != TD_OK) goto fail;
    if (http_path[0]) {
        if (map_file(&r->http, http_path, err, errlen) != TD_OK) goto fail;
        r->have_http = true;
    }
    int drc = detect(&r->ws, &r->kind);
    if (drc != TD_OK) {
        snprintf(err, errlen, drc == TD_ENOENT ? "recording: %s is Binance COIN-M futures, which is not supported"
                                               : "recording: cannot tell the exchange of %s (no known URL on line 1 "
                                                 "or file name)",
                 ws_path);
        goto fail;
    }
    static const char *const names[] = { "BINANCE", "BINANCE_FUTURES", "COINBASE" };
    r->exch = td_exch_intern(names[r->kind], strlen(names[r->kind]));
    if (!r->exch) { snprintf(err, errlen, "recording: exchange table full"); goto fail; }
    if (r->kind == REC_COINBASE) r->cb = td_cb_create(r->exch);
    else r->bn = td_bn_parser_create();
    fill_ws(r);
    fill_http(r);
    return &r->base;
fail:
    rec_destroy(&r->base);
    return NULL;
}

/* ---- reports ---- */

bool td_recording_is(const td_source_t *src) { return src && src->kind == REC_KIND; }

uint8_t td_recording_exch(td_source_t *src) { return td_recording_is(src) ? ((rec_t *)src)->exch : 0; }

uint64_t td_recording_count(td_source_t *src, const char *type)
{
    if (!td_recording_is(src)) return 0;
    rec_t *r = (rec_t *)src;
    for (size_t i = 0; i < r->ncounts; i++)
        if (!strcmp(r->counts[i].name, type)) return r->counts[i].n;
    return 0;
}

bool td_recording_count_at(td_source_t *src, size_t i, const char **type, uint64_t *n)
{
    if (!td_recording_is(src)) return false;
    rec_t *r = (rec_t *)src;
    if (i >= r->ncounts) return false;
    *type = r->counts[i].name;
    *n = r->counts[i].n;
    return true;
}

size_t td_recording_symbols(td_source_t *src, td_recording_sym_t *out, size_t max)
{
    if (!td_recording_is(src)) return 0;
    rec_t *r = (rec_t *)src;
    size_t total = 0;
    uint32_t nsym = td_sym_count();
    for (uint32_t sym = 1; sym <= nsym; sym++) {
        td_recording_sym_t rep;
        memset(&rep, 0, sizeof rep);
        rep.sym = sym;
        rep.exch = r->exch;
        if (r->kind == REC_COINBASE) {
            const td_cb_product_t *p = td_cb_product(r->cb, sym);
            if (!p || (!p->snapshots && !p->applied && !p->unsynced)) continue;
            rep.synced = p->synced;
            rep.stale = p->gap_open;
            rep.state = p->synced ? "synced" : p->gap_open ? "stale" : "unsynced";
            rep.applied = p->applied;
            rep.dropped = p->unsynced;
            rep.snapshots = p->snapshots;
            rep.resyncs = p->resyncs;
            rep.seq_backwards = p->seq_backwards;
            rep.gaps = p->gaps;
        } else {
            if (sym >= r->nsyncs || !r->syncs[sym]) continue;
            const td_bn_sync_t *s = r->syncs[sym];
            rep.state = td_bn_sync_state_name(s->state);
            rep.synced = s->state == TD_BN_SYNC_LIVE || (s->state == TD_BN_SYNC_WAIT_FIRST && !s->gap_open);
            rep.stale = s->gap_open;
            rep.applied = s->applied;
            rep.dropped = s->dropped;
            rep.duplicates = s->duplicates;
            rep.gaps = s->gaps;
            rep.resyncs = s->resyncs;
            rep.snapshots = s->snapshots;
            rep.snapshots_unused = s->snapshots_ignored + s->snapshots_stale;
            rep.snapshot_id = s->snapshot_id;
            rep.first_U = s->first_U;
            rep.first_u = s->first_u;
            rep.buffered = s->nbuf;
        }
        if (total < max) out[total] = rep;
        total++;
    }
    return total;
}
