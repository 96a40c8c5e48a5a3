/*
 * stream.c: the WebSocket stream of API.md on one I/O thread: subscriptions, snapshots, fan-out of the
 * engine's out records, batching, conflation tiers and the slow-consumer policy.
 *
 * Per I/O thread (api_stream_t): a reader of the engine's broadcast ring, and a table symbol -> its
 * subscribers on this thread. For each out record the thread encodes each message it implies (tick and
 * trade for a TRADE, nbbo, candle, book, status) at most once per encoding and variant, frames it once
 * (td_ws_frame_nbuf) and queues a reference to the same bytes on every subscriber; the server writes
 * everything queued for a connection with one writev at the end of the loop turn.
 *
 * Ordering (API.md: per symbol, seq only grows): a subscription drops records with seq <= its snapshot's
 * seq (min_seq); a snapshot's seq is the newest of the engine's published snapshot and what this thread
 * already read from the ring, and never below what the client was already sent. Everything for one
 * client goes through one ordered path (the socket queue, or the batch buffer in front of it), and
 * conflated updates waiting for their interval are flushed, in seq order, before any message of that
 * symbol that is not conflated (closed candles, status, snapshots). Snapshot messages carry the
 * snapshot's seq (several may share it: seq never decreases; updates after it are strictly greater).
 *
 * Tiers: `full` sends every update as it is read; `conflated` keeps, per subscription and message kind
 * (tick, trade, nbbo, book), a reference to the newest frame and sends it at most once per interval
 * (latest value wins, marked "conflated":true). Batching (batch_ms): messages are appended to a per-client
 * buffer (capped at BATCH_MAX; full: flushed early) and sent every batch_ms as one frame holding a JSON
 * array (MessagePack: an array of messages).
 *
 * Slow consumers: the server calls on_out_cap when a client's queue would pass out_cap. The client is
 * then forced into conflation (a "notice" message says so; updates carry "conflated":true and their seq
 * jumps), holding at most one pending frame per (symbol, kind): memory stays bounded whatever it does.
 * While its queue stays above half the cap nothing more is queued; if it is still there slow_close_ms
 * after the first hit, it is closed with 1008. Once its queue drains below a quarter of the cap it goes
 * back to its tier. Nobody else waits for it: fan-out only ever queues references.
 *
 * Lapped reader: if the engine overran this thread's ring cursor, records were lost; every subscription
 * of the thread gets a fresh snapshot (with a seq above anything sent), so no client sees a silent hole.
 *
 * Threading: everything runs on the owning I/O thread; api_stream_t is created on first use there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/cmsg.h"
#include "api/encode.h"
#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"
#include "core/symbols.h"

#define MAX_RECORDS_PER_TURN 8192
#define CATCHUP_LAG 16384    /* records behind the engine that switch a drain to catch-up mode */
#define CATCHUP_MAX 16384    /* records read per catch-up drain */
#define BATCH_MAX (256u << 10)
#define DUE_TICK_NS (5 * TD_NS_PER_MS)
#define TIER_DEFAULT_INTERVAL_MS 1000

enum { CH_TICK = 1, CH_NBBO = 2, CH_TRADE = 4, CH_CANDLE = 8, CH_BOOK = 16, CH_ALERT = 32 };
/* conflatable kinds first (they index the pending slots), then the ones always delivered */
enum { K_TICK = 0, K_TRADE, K_NBBO, K_BOOK, NK, K_CANDLE = NK, K_STATUS, K_ALL };

typedef struct sub {
    uint32_t sym;
    uint32_t pos;          /* index in the symbol's subscriber list */
    uint16_t chmask;
    uint8_t ivmask;        /* candle intervals */
    uint8_t depth;         /* book levels */
    uint8_t npend;
    uint64_t min_seq;      /* drop records with seq <= this */
    uint64_t last_seq;     /* newest seq sent or pending */
    td_nbuf_t *pend[NK];   /* conflation: newest frame per kind */
    uint64_t pend_seq[NK];
} sub_t;

typedef struct client {
    td_conn_t *c;
    api_stream_t *st;
    uint8_t enc;           /* TD_ENC_* */
    bool tier_conflated;
    bool forced;           /* slow-consumer conflation */
    bool notice_pending;
    bool in_due;
    int64_t interval_ns;   /* tier conflation interval */
    int64_t batch_ns;      /* 0: no batching */
    int64_t next_ns;       /* next conflation/batch flush (monotonic) */
    int64_t stuck_since;
    sub_t *subs;
    uint32_t nsubs, capsubs;
    td_jb_t batch;         /* JSON: items joined by ',' (no brackets); MessagePack: concatenated */
    uint32_t batch_count;
    struct client *due_prev, *due_next;
} client_t;

typedef struct subref {
    client_t *cl;
    uint32_t slot;
} subref_t;

typedef struct tsym {
    uint64_t seen_seq;     /* newest seq this thread read for the symbol */
    bool has_trade, has_nbbo;
    td_out_t last_trade, last_nbbo;
    subref_t *subs;
    uint32_t nsubs, cap;
    uint32_t chcount[6];   /* subscribers per channel bit: records nobody here wants are skipped */
    int64_t closed_time[TD_IV_COUNT];   /* newest closed candle delivered, per interval */
    int64_t open_time[TD_IV_COUNT];     /* open candle last pushed: time and trade count */
    uint64_t open_count[TD_IV_COUNT];
} tsym_t;

struct api_stream {
    api_thread_t *t;
    td_api_t *a;
    td_bcast_reader_t rd;
    tsym_t **syms;
    td_jb_t enc;
    td_cmsg_t *cmsg;                                    /* the message being handled (9 KB) */
    td_nbuf_t *fr[K_ALL][2][2];                         /* [kind][encoding][conflated] for the record */
    td_nbuf_t *book_fr[TD_BOOK_SNAP_DEPTH + 1][2][2];   /* book frames by depth */
    td_nbuf_t **built[K_ALL * 4 + (TD_BOOK_SNAP_DEPTH + 1) * 4];
    int nbuilt;
    bool book_tried, book_ok;
    td_book_snap_t book;
    client_t *due_head;
    td_timer_t due_timer;
    td_timer_t drain_timer;  /* coalescing: brings the loop back to drain */
    bool catchup;            /* delivering a catch-up drain: frames carry the conflated flag */
    td_out_t *cu_buf;        /* catch-up: records of one drain (CATCHUP_MAX), allocated at first use */
    uint8_t *cu_seen;        /* catch-up: per symbol, kinds already kept (walking backwards) */
    uint32_t *cu_touched;
    int64_t next_drain_ns;
    td_timer_t candle_timer;  /* pushes open-candle updates while anyone here has a candle channel */
    uint32_t candle_subs;
    int64_t now_real;
};

static int64_t now_mono(api_stream_t *st) { return td_loop_now_ns(td_server_loop(st->a->srv, st->t->index)); }

static api_stream_t *stream_get(api_thread_t *t);

/* ---- due list (clients with conflated or batched output waiting) ---- */

static void due_timer_cb(td_loop_t *loop, void *arg);

static void due_add(client_t *cl, int64_t when)
{
    api_stream_t *st = cl->st;
    if (!cl->in_due) {
        cl->in_due = true;
        cl->next_ns = when;
        cl->due_prev = NULL;
        cl->due_next = st->due_head;
        if (st->due_head) st->due_head->due_prev = cl;
        st->due_head = cl;
    } else if (when < cl->next_ns) {
        cl->next_ns = when;
    }
    td_loop_t *loop = td_server_loop(st->a->srv, st->t->index);
    if (!td_timer_armed(&st->due_timer)) td_timer_start(loop, &st->due_timer, DUE_TICK_NS);
}

static void due_remove(client_t *cl)
{
    if (!cl->in_due) return;
    if (cl->due_prev) cl->due_prev->due_next = cl->due_next;
    else cl->st->due_head = cl->due_next;
    if (cl->due_next) cl->due_next->due_prev = cl->due_prev;
    cl->in_due = false;
    cl->due_prev = cl->due_next = NULL;
}

static bool conflating(const client_t *cl) { return cl->tier_conflated || cl->forced; }

/* ---- sending (every message to a client goes through here, in order) ---- */

static size_t frame_hdr_len(const td_nbuf_t *f)
{
    uint8_t l = (uint8_t)f->data[1] & 0x7f;
    return l < 126 ? 2 : l == 126 ? 4 : 10;
}

static void batch_flush(client_t *cl)
{
    if (!cl->batch_count) return;
    api_thread_t *t = cl->st->t;
    char pre[5];
    size_t pn = 0, sn = 0;
    if (cl->enc == TD_ENC_JSON) {
        pre[pn++] = '[';
        sn = 1;
    } else {
        td_jb_t tmp;
        td_jb_init(&tmp, 8);
        td_mp_array(&tmp, cl->batch_count);
        memcpy(pre, tmp.p, tmp.len);
        pn = tmp.len;
        td_jb_free(&tmp);
    }
    size_t total = pn + cl->batch.len + sn;
    uint8_t hdr[10];
    size_t hn = td_ws_frame_header(hdr, cl->enc == TD_ENC_JSON ? TD_WS_OP_TEXT : TD_WS_OP_BINARY, true, total);
    td_nbuf_t *nb = td_nbuf_new(hn + total);
    memcpy(nb->data, hdr, hn);
    memcpy(nb->data + hn, pre, pn);
    memcpy(nb->data + hn + pn, cl->batch.p, cl->batch.len);
    if (sn) nb->data[hn + pn + cl->batch.len] = ']';
    nb->len = (uint32_t)(hn + total);
    int rc = td_conn_send_buf(cl->c, nb, 0, nb->len);
    td_nbuf_unref(nb);
    if (rc == 0) {
        CTR_ADD(t, msgs_out, cl->batch_count);
        CTR_ADD(t, frames_out, 1);
    } else {
        CTR_ADD(t, conflated_msgs, cl->batch_count); /* a stuck client: dropped, its seq jump shows it */
    }
    CTR_SUB(t, batch_bytes, cl->batch.len);
    td_jb_reset(&cl->batch);
    cl->batch_count = 0;
}

static int batch_append(client_t *cl, const char *p, size_t n)
{
    if (cl->batch.len + n + 1 > BATCH_MAX) batch_flush(cl);
    if (!cl->batch.max) td_jb_init(&cl->batch, BATCH_MAX);
    size_t before = cl->batch.len;
    if (cl->batch_count && cl->enc == TD_ENC_JSON) td_jb_ch(&cl->batch, ',');
    td_jb_put(&cl->batch, p, n);
    if (cl->batch.err) { /* one message larger than the whole window: cannot happen with our sizes */
        cl->batch.len = before;
        cl->batch.err = 0;
        return TD_ENOBUFS;
    }
    CTR_ADD(cl->st->t, batch_bytes, cl->batch.len - before);
    cl->batch_count++;
    if (!cl->in_due || cl->next_ns > now_mono(cl->st) + cl->batch_ns) due_add(cl, now_mono(cl->st) + cl->batch_ns);
    return 0;
}

/* A shared frame to one client. 0, TD_ENOBUFS (over the cap: on_out_cap ran) or TD_EIO (closing). */
static int send_frame(client_t *cl, td_nbuf_t *f)
{
    if (cl->batch_ns > 0) {
        size_t h = frame_hdr_len(f);
        return batch_append(cl, f->data + h, f->len - h);
    }
    int rc = td_conn_send_buf(cl->c, f, 0, f->len);
    if (rc == 0) {
        CTR_ADD(cl->st->t, msgs_out, 1);
        CTR_ADD(cl->st->t, frames_out, 1);
    }
    return rc;
}

/* A message built for this client only (snapshots, replies). */
static int send_payload(client_t *cl, const char *p, size_t n, bool data)
{
    if (data && cl->batch_ns > 0) return batch_append(cl, p, n);
    int rc = td_conn_ws_send(cl->c, cl->enc == TD_ENC_JSON ? TD_WS_OP_TEXT : TD_WS_OP_BINARY, p, n);
    if (rc == 0 && data) CTR_ADD(cl->st->t, msgs_out, 1);
    return rc;
}

static void send_error(client_t *cl, const char *code, const char *msg, const char *id)
{
    td_jb_t *b = &cl->st->enc;
    td_jb_reset(b);
    td_enc_error(b, cl->enc, code, msg, id);
    CTR_ADD(cl->st->t, client_errors, 1);
    if (!b->err) send_payload(cl, b->p, b->len, false);
}

/* Sends a subscription's conflated frames in seq order; what does not fit stays pending. */
static void flush_pending(client_t *cl, sub_t *s)
{
    while (s->npend) {
        int k = -1;
        for (int i = 0; i < NK; i++)
            if (s->pend[i] && (k < 0 || s->pend_seq[i] < s->pend_seq[k])) k = i;
        if (send_frame(cl, s->pend[k]) == TD_ENOBUFS) return;
        td_nbuf_unref(s->pend[k]);
        s->pend[k] = NULL;
        s->npend--;
    }
}

static void drop_pending(sub_t *s)
{
    for (int i = 0; i < NK; i++) {
        td_nbuf_unref(s->pend[i]);
        s->pend[i] = NULL;
    }
    s->npend = 0;
}

/* ---- per-thread symbol table ---- */

static tsym_t *tsym_get(api_stream_t *st, uint32_t sym)
{
    tsym_t *ts = st->syms[sym];
    if (!ts) {
        ts = td_calloc(1, sizeof *ts);
        st->syms[sym] = ts;
    }
    return ts;
}

/* Changes a subscription's channels, keeping the symbol's per-channel counts. */
static void candle_timer_cb(td_loop_t *loop, void *arg);
#define CANDLE_PUSH_MS 250

static void sub_set_mask(api_stream_t *st, sub_t *s, uint16_t mask)
{
    tsym_t *ts = st->syms[s->sym];
    if ((mask & CH_CANDLE) && !(s->chmask & CH_CANDLE) && st->candle_subs++ == 0)
        td_timer_start(td_server_loop(st->a->srv, st->t->index), &st->candle_timer, CANDLE_PUSH_MS * TD_NS_PER_MS);
    if (!(mask & CH_CANDLE) && (s->chmask & CH_CANDLE)) st->candle_subs--;
    for (int b = 0; b < 6; b++) {
        if (s->chmask & (1u << b)) ts->chcount[b]--;
        if (mask & (1u << b)) ts->chcount[b]++;
    }
    s->chmask = mask;
}

static sub_t *sub_find(client_t *cl, uint32_t sym)
{
    for (uint32_t i = 0; i < cl->nsubs; i++)
        if (cl->subs[i].sym == sym) return &cl->subs[i];
    return NULL;
}

static sub_t *sub_add(client_t *cl, uint32_t sym)
{
    api_stream_t *st = cl->st;
    if (cl->nsubs == cl->capsubs) {
        cl->capsubs = cl->capsubs ? cl->capsubs * 2 : 4;
        cl->subs = td_realloc(cl->subs, cl->capsubs * sizeof *cl->subs);
    }
    sub_t *s = &cl->subs[cl->nsubs];
    memset(s, 0, sizeof *s);
    s->sym = sym;
    tsym_t *ts = tsym_get(st, sym);
    if (ts->nsubs == ts->cap) {
        ts->cap = ts->cap ? ts->cap * 2 : 8;
        ts->subs = td_realloc(ts->subs, ts->cap * sizeof *ts->subs);
    }
    s->pos = ts->nsubs;
    ts->subs[ts->nsubs++] = (subref_t){ cl, cl->nsubs };
    cl->nsubs++;
    CTR_ADD(st->t, subscriptions, 1);
    return s;
}

/* O(1): swap-remove from both the symbol's list and the client's array, fixing the moved entries. */
static void sub_remove(client_t *cl, sub_t *s)
{
    api_stream_t *st = cl->st;
    drop_pending(s);
    sub_set_mask(st, s, 0);
    tsym_t *ts = st->syms[s->sym];
    uint32_t pos = s->pos;
    ts->subs[pos] = ts->subs[--ts->nsubs];
    if (pos < ts->nsubs) {
        subref_t *moved = &ts->subs[pos];
        moved->cl->subs[moved->slot].pos = pos;
    }
    uint32_t slot = (uint32_t)(s - cl->subs);
    cl->subs[slot] = cl->subs[--cl->nsubs];
    if (slot < cl->nsubs) {
        sub_t *m = &cl->subs[slot];
        st->syms[m->sym]->subs[m->pos].slot = slot;
    }
    CTR_SUB(st->t, subscriptions, 1);
}

/* ---- snapshots ---- */

static void snapshot(client_t *cl, sub_t *s, uint16_t chmask, uint8_t ivmask, int depth, bool resync)
{
    api_stream_t *st = cl->st;
    td_api_t *a = st->a;
    td_sym_snap_t snap;
    bool have = td_engine_snapshot(a->eng, s->sym, &snap);
    uint64_t snap_seq = have ? snap.seq : 0;
    tsym_t *ts = tsym_get(st, s->sym);
    uint64_t base = snap_seq > ts->seen_seq ? snap_seq : ts->seen_seq;
    if (s->last_seq > base) base = s->last_seq;
    bool use_cache = ts->seen_seq > snap_seq;
    if (resync && base == s->last_seq && s->last_seq) return; /* nothing newer is known */
    flush_pending(cl, s);
    drop_pending(s); /* superseded by the snapshot */
    unsigned fl = TD_MSG_SNAPSHOT | (conflating(cl) ? TD_MSG_CONFLATED : 0);
    td_jb_t *b = &st->enc;
    if (chmask & (CH_TICK | CH_TRADE)) {
        td_msg_trade_t m;
        bool ok = true;
        bool same = have && ts->has_trade && ts->last_trade.exch_ns == snap.last_ns &&
                    ts->last_trade.u.trade.price == snap.last_px; /* the cache knows its exchange */
        if ((use_cache || same || !(have && snap.trades)) && ts->has_trade) {
            td_msg_from_out(&m, &ts->last_trade);
        } else if (have && snap.trades) {
            memset(&m, 0, sizeof m);
            m.sym = s->sym;
            m.price = snap.last_px;
            m.qty = snap.last_qty;
            m.bid = snap.nbbo.bid_px;
            m.ask = snap.nbbo.ask_px;
            m.exch_ns = snap.last_ns;
            m.side = TD_SIDE_NONE;
        } else {
            ok = false;
        }
        if (ok) {
            m.seq = base;
            if (chmask & CH_TICK) {
                td_jb_reset(b);
                td_enc_tick(b, cl->enc, &m, fl);
                send_payload(cl, b->p, b->len, true);
            }
            if (chmask & CH_TRADE) {
                td_jb_reset(b);
                td_enc_trade(b, cl->enc, &m, fl);
                send_payload(cl, b->p, b->len, true);
            }
        }
    }
    if (chmask & CH_NBBO) {
        const td_nbbo_t *n = NULL;
        int64_t ts_ns = 0;
        if ((use_cache || !have) && ts->has_nbbo) {
            n = &ts->last_nbbo.u.nbbo;
            ts_ns = ts->last_nbbo.exch_ns;
        } else if (have) {
            n = &snap.nbbo;
            ts_ns = snap.nbbo_ns;
        }
        if (n) {
            td_jb_reset(b);
            td_enc_nbbo(b, cl->enc, s->sym, n, ts_ns, base, fl);
            send_payload(cl, b->p, b->len, true);
        }
    }
    if ((chmask & CH_CANDLE) && have) {
        for (int iv = 0; iv < TD_IV_COUNT; iv++) {
            if (!(ivmask & (1u << iv)) || !(snap.candle_mask & (1u << iv))) continue;
            td_jb_reset(b);
            td_enc_candle(b, cl->enc, s->sym, (td_interval_t)iv, &snap.candles[iv], false, base, fl);
            send_payload(cl, b->p, b->len, true);
        }
    }
    if (chmask & CH_BOOK) {
        td_book_snap_t bk;
        td_engine_want_book(a->eng, s->sym, TD_API_BOOK_WANT_MS);
        if (td_engine_book(a->eng, s->sym, 0, &bk)) {
            td_jb_reset(b);
            td_enc_book(b, cl->enc, s->sym, &bk, depth, base, fl);
            send_payload(cl, b->p, b->len, true);
        }
    }
    s->min_seq = base;
    s->last_seq = base;
    if (resync) CTR_ADD(st->t, resyncs, 1);
}

/* ---- fan-out of one out record ---- */

static td_nbuf_t *frame_get(api_stream_t *st, const td_out_t *o, int kind, int enc, int var, int depth)
{
    td_nbuf_t **slot = kind == K_BOOK ? &st->book_fr[depth][enc][var] : &st->fr[kind][enc][var];
    if (*slot) return *slot;
    td_jb_t *b = &st->enc;
    td_jb_reset(b);
    unsigned fl = var ? TD_MSG_CONFLATED : 0;
    td_msg_trade_t m;
    switch (kind) {
    case K_TICK:
        td_msg_from_out(&m, o);
        td_enc_tick(b, enc, &m, fl);
        break;
    case K_TRADE:
        td_msg_from_out(&m, o);
        td_enc_trade(b, enc, &m, fl);
        break;
    case K_NBBO: td_enc_nbbo(b, enc, o->sym, &o->u.nbbo, o->exch_ns, o->seq, fl); break;
    case K_CANDLE: td_enc_candle(b, enc, o->sym, (td_interval_t)o->aux, &o->u.candle, true, o->seq, fl); break;
    case K_STATUS: td_enc_status(b, enc, o, fl); break;
    case K_BOOK:
        if (!st->book_tried) {
            st->book_tried = true;
            st->book_ok = td_engine_book(st->a->eng, o->sym, 0, &st->book);
            /* a thread encodes a BOOK record only for its subscribers: keep the symbol watched */
            td_engine_want_book(st->a->eng, o->sym, TD_API_BOOK_WANT_MS);
        }
        if (!st->book_ok) return NULL;
        td_enc_book(b, enc, o->sym, &st->book, depth, o->seq, fl);
        break;
    }
    if (b->err) return NULL;
    *slot = td_ws_frame_nbuf(enc == TD_ENC_JSON ? TD_WS_OP_TEXT : TD_WS_OP_BINARY, b->p, b->len);
    st->built[st->nbuilt++] = slot;
    return *slot;
}

static void frames_release(api_stream_t *st)
{
    for (int i = 0; i < st->nbuilt; i++) {
        td_nbuf_unref(*st->built[i]);
        *st->built[i] = NULL;
    }
    st->nbuilt = 0;
    st->book_tried = false;
}

static bool wants(const sub_t *s, int kind, const td_out_t *o)
{
    switch (kind) {
    case K_TICK: return s->chmask & CH_TICK;
    case K_TRADE: return s->chmask & CH_TRADE;
    case K_NBBO: return s->chmask & CH_NBBO;
    case K_BOOK: return s->chmask & CH_BOOK;
    case K_CANDLE: return (s->chmask & CH_CANDLE) && o->aux < 8 && (s->ivmask & (1u << o->aux));
    default: return true; /* status: every subscriber of the symbol */
    }
}

static void deliver(client_t *cl, sub_t *s, const td_out_t *o, int kind)
{
    api_stream_t *st = cl->st;
    if (conflating(cl) && kind < NK) {
        td_nbuf_t *f = frame_get(st, o, kind, cl->enc, 1, s->depth);
        if (!f) return;
        if (s->pend[kind]) {
            td_nbuf_unref(s->pend[kind]);
            CTR_ADD(st->t, conflated_msgs, 1);
        } else {
            s->npend++;
        }
        s->pend[kind] = td_nbuf_ref(f);
        s->pend_seq[kind] = o->seq;
        s->last_seq = o->seq;
        if (!cl->in_due) due_add(cl, now_mono(st) + (cl->forced ? st->a->cfg.slow_conflate_ms * TD_NS_PER_MS : cl->interval_ns));
        return;
    }
    if (s->npend) flush_pending(cl, s);
    td_nbuf_t *f = frame_get(st, o, kind, cl->enc, conflating(cl) || st->catchup ? 1 : 0, s->depth);
    if (!f) return;
    int rc = send_frame(cl, f);
    if (rc == TD_ENOBUFS && kind < NK && cl->forced) {
        deliver(cl, s, o, kind); /* now conflating: keep it as the pending value */
        return;
    }
    s->last_seq = o->seq;
}

/* The thread's view of the symbol (for subscribe-time snapshots) follows every record, delivered or not. */
static tsym_t *note_record(api_stream_t *st, const td_out_t *o)
{
    tsym_t *ts = tsym_get(st, o->sym);
    ts->seen_seq = o->seq;
    if (o->type == TD_OUT_TRADE) {
        ts->last_trade = *o;
        ts->has_trade = true;
    } else if (o->type == TD_OUT_NBBO) {
        ts->last_nbbo = *o;
        ts->has_nbbo = true;
    } else if (o->type == TD_OUT_CANDLE && o->aux < TD_IV_COUNT && o->u.candle.time > ts->closed_time[o->aux]) {
        ts->closed_time[o->aux] = o->u.candle.time;
    }
    return ts;
}

static void fan_out(api_stream_t *st, const td_out_t *o)
{
    if (o->sym == 0 || o->sym > TD_SYM_MAX) return;
    tsym_t *ts = note_record(st, o);
    if (!ts->nsubs) return;
    int kinds[2], nk = 0;
    const uint32_t *cc = ts->chcount; /* bit index: tick 0, nbbo 1, trade 2, candle 3, book 4 */
    switch (o->type) {
    case TD_OUT_TRADE:
        if (cc[0]) kinds[nk++] = K_TICK;
        if (cc[2]) kinds[nk++] = K_TRADE;
        break;
    case TD_OUT_NBBO: if (cc[1]) kinds[nk++] = K_NBBO; break;
    case TD_OUT_CANDLE: if (cc[3]) kinds[nk++] = K_CANDLE; break;
    case TD_OUT_BOOK: if (cc[4]) kinds[nk++] = K_BOOK; break;
    case TD_OUT_STATUS:
    case TD_OUT_GAP:
    case TD_OUT_RESYNC: kinds[nk++] = K_STATUS; break;
    default: return;
    }
    if (!nk) return;
    uint64_t delivered = 0;
    for (uint32_t i = 0; i < ts->nsubs; i++) {
        client_t *cl = ts->subs[i].cl;
        sub_t *s = &cl->subs[ts->subs[i].slot];
        if (o->seq <= s->min_seq) continue;
        for (int k = 0; k < nk; k++) {
            if (!wants(s, kinds[k], o)) continue;
            deliver(cl, s, o, kinds[k]);
            delivered++;
        }
    }
    if (delivered && o->recv_ns) td_lat_record(&st->t->latency, st->now_real - o->recv_ns, delivered);
    frames_release(st);
}

/* ---- open-candle updates ---- */

/* Every CANDLE_PUSH_MS, the open candle of each (symbol, interval) someone here follows, if it changed,
 * from the engine's snapshot: encoded and framed once, sent to every follower. Its seq is the newest this
 * thread has read from the ring for the symbol (never the snapshot's, never below what a follower got); a
 * window already delivered closed is never sent again as open. */
static void candle_timer_cb(td_loop_t *loop, void *arg)
{
    api_stream_t *st = arg;
    if (!st->candle_subs) return;
    uint32_t nsym = td_sym_count();
    for (uint32_t sym = 1; sym <= nsym && sym <= TD_SYM_MAX; sym++) {
        tsym_t *ts = st->syms[sym];
        if (!ts || !ts->chcount[3]) continue;
        uint8_t want = 0;
        for (uint32_t i = 0; i < ts->nsubs; i++) {
            const sub_t *s = &ts->subs[i].cl->subs[ts->subs[i].slot];
            if (s->chmask & CH_CANDLE) want |= s->ivmask;
        }
        td_sym_snap_t snap;
        if (!want || !td_engine_snapshot(st->a->eng, sym, &snap)) continue;
        /* The newest seq this thread has read for the symbol, never the snapshot's: under load the engine
         * is ahead of this thread's ring cursor, and a seq taken from the snapshot would be followed by
         * ring records (a closed candle) with lower seqs. Content may be newer than the seq; order is not. */
        uint64_t seq = ts->seen_seq;
        for (int iv = 0; iv < TD_IV_COUNT; iv++) {
            const td_candle_t *c = &snap.candles[iv];
            if (!(want & (1u << iv)) || !(snap.candle_mask & (1u << iv))) continue;
            if (c->time <= ts->closed_time[iv]) continue;
            if (c->time == ts->open_time[iv] && c->trade_count == ts->open_count[iv]) continue;
            ts->open_time[iv] = c->time;
            ts->open_count[iv] = c->trade_count;
            td_nbuf_t *fr[2] = { NULL, NULL };
            for (uint32_t i = 0; i < ts->nsubs; i++) {
                client_t *cl = ts->subs[i].cl;
                sub_t *s = &cl->subs[ts->subs[i].slot];
                if (!(s->chmask & CH_CANDLE) || !(s->ivmask & (1u << iv)) || seq < s->last_seq) continue;
                if (!fr[cl->enc]) {
                    td_jb_reset(&st->enc);
                    td_enc_candle(&st->enc, cl->enc, sym, (td_interval_t)iv, c, false, seq, 0);
                    if (st->enc.err) continue;
                    fr[cl->enc] = td_ws_frame_nbuf(cl->enc == TD_ENC_JSON ? TD_WS_OP_TEXT : TD_WS_OP_BINARY,
                                                   st->enc.p, st->enc.len);
                }
                if (s->npend) flush_pending(cl, s);
                if (send_frame(cl, fr[cl->enc]) == 0) s->last_seq = seq;
            }
            td_nbuf_unref(fr[0]);
            td_nbuf_unref(fr[1]);
        }
    }
    if (st->candle_subs) td_timer_start(loop, &st->candle_timer, CANDLE_PUSH_MS * TD_NS_PER_MS);
}

/* ---- periodic flush: conflation intervals, batch windows, slow consumers ---- */

static void client_flush(client_t *cl, int64_t now)
{
    api_stream_t *st = cl->st;
    td_api_t *a = st->a;
    if (cl->forced) {
        size_t q = td_conn_out_bytes(cl->c);
        if (q > a->cfg.out_cap / 2) {
            if (now - cl->stuck_since >= a->cfg.slow_close_ms * TD_NS_PER_MS) {
                char why[96];
                snprintf(why, sizeof why, "slow consumer: output queue stuck over %lld ms",
                         (long long)a->cfg.slow_close_ms);
                CTR_ADD(st->t, slow_closed, 1);
                td_conn_ws_close(cl->c, TD_WS_CLOSE_POLICY, why); /* frees cl via api_ws_close */
                return;
            }
            cl->next_ns = now + a->cfg.slow_conflate_ms * TD_NS_PER_MS;
            return;
        }
        if (q < a->cfg.out_cap / 4) {
            cl->forced = false;
            CTR_SUB(st->t, slow_now, 1);
        }
    }
    if (cl->notice_pending) {
        cl->notice_pending = false;
        td_jb_t *b = &st->enc;
        td_jb_reset(b);
        td_enc_notice(b, cl->enc, "slow_consumer",
                      "reading too slowly: switched to conflation (latest value per symbol and channel; "
                      "seq jumps show what was skipped)");
        send_payload(cl, b->p, b->len, false);
    }
    bool left = false;
    for (uint32_t i = 0; i < cl->nsubs; i++) {
        if (!cl->subs[i].npend) continue;
        flush_pending(cl, &cl->subs[i]);
        if (cl->subs[i].npend) left = true;
    }
    batch_flush(cl);
    if (left || cl->forced) {
        cl->next_ns = now + (cl->forced ? a->cfg.slow_conflate_ms * TD_NS_PER_MS : cl->interval_ns);
    } else {
        due_remove(cl);
    }
}

static void due_timer_cb(td_loop_t *loop, void *arg)
{
    api_stream_t *st = arg;
    int64_t now = td_loop_now_ns(loop);
    for (client_t *cl = st->due_head, *next; cl; cl = next) {
        next = cl->due_next; /* client_flush may close and free cl */
        if (now >= cl->next_ns) client_flush(cl, now);
    }
    if (st->due_head) td_timer_start(loop, &st->due_timer, DUE_TICK_NS);
}

/* ---- the ring ---- */

static void resync_client(td_conn_t *c, void *arg)
{
    (void)arg;
    client_t *cl = td_conn_user(c);
    if (!cl) return;
    for (uint32_t i = 0; i < cl->nsubs; i++) {
        sub_t *s = &cl->subs[i];
        snapshot(cl, s, s->chmask, s->ivmask, s->depth, true);
    }
}

static int conflatable_bit(uint8_t type)
{
    return type == TD_OUT_TRADE ? 1 : type == TD_OUT_NBBO ? 2 : type == TD_OUT_BOOK ? 4 : 0;
}

/* Catch-up drain (this thread is more than CATCHUP_LAG records behind: starved of CPU or overloaded):
 * read up to CATCHUP_MAX records at once, deliver only the newest trade, NBBO and book record of each
 * symbol among them (flagged conflated; the seq jump shows what was skipped) plus every closed candle and
 * status record, in ring order. Work then scales with symbols, not with the backlog, so the thread gets
 * back to real time instead of lapping and re-snapshotting every client. Returns records read. */
static int drain_catchup(api_stream_t *st, bool *lapped)
{
    api_thread_t *t = st->t;
    if (!st->cu_buf) {
        st->cu_buf = td_malloc(CATCHUP_MAX * sizeof *st->cu_buf);
        st->cu_seen = td_calloc(TD_SYM_MAX + 1, 1);
        st->cu_touched = td_malloc(CATCHUP_MAX * sizeof *st->cu_touched);
    }
    int n = 0;
    uint64_t lost;
    while (n < CATCHUP_MAX) {
        int rc = td_bcast_read(&st->rd, &st->cu_buf[n], &lost);
        if (rc == TD_BCAST_EMPTY) break;
        if (rc == TD_BCAST_LAPPED) {
            CTR_ADD(t, lapped, lost);
            *lapped = true;
            continue;
        }
        n++;
    }
    /* backwards: keep the first (newest) record of each conflatable kind per symbol; type 0 = skip */
    uint32_t ntouched = 0;
    uint64_t skipped = 0;
    for (int i = n - 1; i >= 0; i--) {
        td_out_t *o = &st->cu_buf[i];
        int bit = conflatable_bit(o->type);
        if (!bit || o->sym == 0 || o->sym > TD_SYM_MAX) continue;
        if (!st->cu_seen[o->sym]) st->cu_touched[ntouched++] = o->sym;
        if (st->cu_seen[o->sym] & bit) {
            note_record(st, o); /* keep the caches right (older first is fine: the kept one comes later) */
            o->type = 0;
            skipped++;
        } else {
            st->cu_seen[o->sym] |= (uint8_t)bit;
        }
    }
    for (uint32_t i = 0; i < ntouched; i++) st->cu_seen[st->cu_touched[i]] = 0;
    st->catchup = true;
    for (int i = 0; i < n; i++)
        if (st->cu_buf[i].type) fan_out(st, &st->cu_buf[i]);
    st->catchup = false;
    CTR_ADD(t, catchup_skipped, skipped);
    return n;
}

int api_turn(td_server_t *srv, int thread, void *user)
{
    td_api_t *a = user;
    api_thread_t *t = &a->thr[thread];
    api_stream_t *st = stream_get(t);
    int64_t mono = now_mono(st);
    /* Coalescing: draining at most once per coalesce_us gathers more messages per connection into each
     * writev (fan-out cost is per write, DEPENDENCIES.md). wake_pending stays set meanwhile, so the engine
     * does not wake us again; a one-shot timer brings the loop back when the interval is over. */
    if (a->cfg.coalesce_us > 0 && mono < st->next_drain_ns) {
        td_loop_t *loop = td_server_loop(srv, thread);
        if (!td_timer_armed(&st->drain_timer)) td_timer_start(loop, &st->drain_timer, st->next_drain_ns - mono);
        return 0;
    }
    st->next_drain_ns = mono + a->cfg.coalesce_us * 1000;
    atomic_store_explicit(&t->wake_pending, 0, memory_order_seq_cst);
    st->now_real = td_now_ns();
    td_out_t o;
    uint64_t lost;
    int n = 0;
    bool lapped = false;
    if (td_bcast_position(a->ring) - st->rd.cursor > CATCHUP_LAG) {
        n = drain_catchup(st, &lapped);
        CTR_ADD(t, catchup_drains, 1);
    }
    for (; n < MAX_RECORDS_PER_TURN; n++) {
        int rc = td_bcast_read(&st->rd, &o, &lost);
        if (rc == TD_BCAST_EMPTY) break;
        if (rc == TD_BCAST_LAPPED) {
            CTR_ADD(t, lapped, lost);
            lapped = true;
            continue;
        }
        fan_out(st, &o);
    }
    if (lapped) {
        TD_LOG_RATELIMITED(TD_LOG_WARN, "api", 1, "I/O thread %d fell behind the engine: resyncing its clients",
                           thread);
        td_server_each_ws(srv, thread, resync_client, NULL);
    }
    CTR_ADD(t, records_in, (uint64_t)n);
    atomic_store_explicit(&t->ctr.ring_lag, td_bcast_position(a->ring) - st->rd.cursor, memory_order_relaxed);
    return td_bcast_position(a->ring) != st->rd.cursor; /* more to read: poll again */
}

void api_wake(td_server_t *srv, int thread, void *user)
{
    td_api_t *a = user;
    CTR_ADD(&a->thr[thread], wakes, 1);
}

static void drain_timer_cb(td_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg; /* nothing to do: the turn hook that follows drains */
}

static api_stream_t *stream_get(api_thread_t *t)
{
    if (t->stream) return t->stream;
    api_stream_t *st = td_calloc(1, sizeof *st);
    st->t = t;
    st->a = t->api;
    td_bcast_reader_init(&st->rd, st->a->ring);
    st->syms = td_calloc(TD_SYM_MAX + 1, sizeof *st->syms);
    td_jb_init(&st->enc, 1u << 20);
    st->cmsg = td_malloc(sizeof *st->cmsg);
    td_timer_init(&st->due_timer, due_timer_cb, st);
    td_timer_init(&st->drain_timer, drain_timer_cb, st);
    td_timer_init(&st->candle_timer, candle_timer_cb, st);
    t->stream = st;
    return st;
}

void api_stream_destroy(api_stream_t *st)
{
    if (!st) return;
    for (uint32_t i = 0; i <= TD_SYM_MAX; i++) {
        if (!st->syms[i]) continue;
        td_free(st->syms[i]->subs);
        td_free(st->syms[i]);
    }
    td_free(st->syms);
    td_jb_free(&st->enc);
    td_free(st->cmsg);
    td_free(st->cu_buf);
    td_free(st->cu_seen);
    td_free(st->cu_touched);
    td_free(st);
}

/* ---- connections and client messages ---- */

typedef struct conn_opts {
    int enc;
    bool has_tier, tier_conflated;
    int64_t interval_ms, batch_ms;
} conn_opts_t;

static int opt_int(td_slice_t q, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    char v[24];
    int n = td_http_query_get(q, key, v, sizeof v);
    if (n == TD_ENOENT) return 0;
    if (n <= 0) return TD_EPROTO;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end || x < lo || x > hi) return TD_EPROTO;
    *out = x;
    return 1;
}

static int parse_conn_opts(const td_http_req_t *req, conn_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->interval_ms = o->batch_ms = -1;
    char v[24];
    int n = td_http_query_get(req->query, "encoding", v, sizeof v);
    if (n >= 0) {
        if (!strcmp(v, "msgpack")) o->enc = TD_ENC_MSGPACK;
        else if (strcmp(v, "json") != 0) return TD_EPROTO;
    } else if (n != TD_ENOENT) {
        return TD_EPROTO;
    }
    if (td_ws_offers_protocol(req, "tickd.msgpack") && n == TD_ENOENT) o->enc = TD_ENC_MSGPACK;
    n = td_http_query_get(req->query, "tier", v, sizeof v);
    if (n >= 0) {
        o->has_tier = true;
        if (!strcmp(v, "conflated")) o->tier_conflated = true;
        else if (strcmp(v, "full") != 0) return TD_EPROTO;
    } else if (n != TD_ENOENT) {
        return TD_EPROTO;
    }
    if (opt_int(req->query, "interval_ms", 10, 60000, &o->interval_ms) < 0) return TD_EPROTO;
    if (opt_int(req->query, "batch_ms", 0, 10000, &o->batch_ms) < 0) return TD_EPROTO;
    return 0;
}

int api_ws_upgrade(td_conn_t *c, const td_http_req_t *req, const char **subprotocol, void *user)
{
    if (!td_slice_eq(req->path, "/v1/prices") && !td_slice_eq(req->path, "/v1/prices/")) return 404;
    conn_opts_t o;
    if (parse_conn_opts(req, &o) != 0) return 400;
    if (td_ws_offers_protocol(req, "tickd.msgpack") && o.enc == TD_ENC_MSGPACK) *subprotocol = "tickd.msgpack";
    else if (td_ws_offers_protocol(req, "tickd.json") && o.enc == TD_ENC_JSON) *subprotocol = "tickd.json";
    return 0;
}

static void handle_message(client_t *cl, const char *data, size_t len);

void api_ws_open(td_conn_t *c, const td_http_req_t *req, void *user)
{
    td_api_t *a = user;
    api_thread_t *t = &a->thr[td_conn_thread(c)];
    api_stream_t *st = stream_get(t);
    conn_opts_t o;
    parse_conn_opts(req, &o); /* validated at upgrade */
    client_t *cl = td_calloc(1, sizeof *cl);
    cl->c = c;
    cl->st = st;
    cl->enc = (uint8_t)o.enc;
    cl->tier_conflated = o.tier_conflated;
    cl->interval_ns = (o.interval_ms > 0 ? o.interval_ms : TIER_DEFAULT_INTERVAL_MS) * TD_NS_PER_MS;
    cl->batch_ns = o.batch_ms > 0 ? o.batch_ms * TD_NS_PER_MS : 0;
    td_conn_set_user(c, cl);
    CTR_ADD(t, ws_clients, 1);
    /* ?symbols=AAPL,MSFT[&channels=tick,nbbo]: subscribe at connect, like a combined-stream URL */
    char syms[2048], chans[256];
    int sn = td_http_query_get(req->query, "symbols", syms, sizeof syms);
    if (sn > 0) {
        int cn = td_http_query_get(req->query, "channels", chans, sizeof chans);
        td_jb_t b;
        td_jb_init(&b, 16384);
        td_jb_lit(&b, "{\"action\":\"subscribe\",\"symbols\":[");
        char *save = NULL;
        bool first = true;
        for (char *tok = strtok_r(syms, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (!first) td_jb_ch(&b, ',');
            first = false;
            td_jb_qstr(&b, tok);
        }
        td_jb_ch(&b, ']');
        if (cn > 0) {
            td_jb_lit(&b, ",\"channels\":[");
            first = true;
            for (char *tok = strtok_r(chans, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (!first) td_jb_ch(&b, ',');
                first = false;
                td_jb_qstr(&b, tok);
            }
            td_jb_ch(&b, ']');
        }
        td_jb_ch(&b, '}');
        if (!b.err) handle_message(cl, b.p, b.len);
        td_jb_free(&b);
    } else if (sn != TD_ENOENT) {
        send_error(cl, "bad_request", "symbols: bad value in the URL (at most 2047 bytes)", NULL);
    }
}

void api_ws_close(td_conn_t *c, uint16_t code, void *user)
{
    client_t *cl = td_conn_user(c);
    if (!cl) return;
    api_thread_t *t = cl->st->t;
    while (cl->nsubs) sub_remove(cl, &cl->subs[cl->nsubs - 1]);
    due_remove(cl);
    if (cl->forced) CTR_SUB(t, slow_now, 1);
    CTR_SUB(t, batch_bytes, cl->batch.len);
    td_jb_free(&cl->batch);
    td_free(cl->subs);
    td_free(cl);
    td_conn_set_user(c, NULL);
    CTR_SUB(t, ws_clients, 1);
}

void api_out_cap(td_conn_t *c, size_t queued, size_t want, void *user)
{
    client_t *cl = td_conn_user(c);
    if (!cl) {
        td_conn_close(c);
        return;
    }
    if (cl->forced) return;
    api_stream_t *st = cl->st;
    cl->forced = true;
    cl->notice_pending = true;
    cl->stuck_since = now_mono(st);
    CTR_ADD(st->t, slow_conflated, 1);
    CTR_ADD(st->t, slow_now, 1);
    TD_LOG_RATELIMITED(TD_LOG_INFO, "api", 5, "conn %llu: slow consumer (%zu bytes queued): conflating",
                       (unsigned long long)td_conn_id(c), queued);
    due_add(cl, now_mono(st) + st->a->cfg.slow_conflate_ms * TD_NS_PER_MS);
}

/* "tick" -> CH_TICK; "candle:1m" -> CH_CANDLE + interval bit; "book:10" -> CH_BOOK + depth. */
static bool parse_channel(const char *name, uint16_t *ch, uint8_t *iv, int *depth)
{
    if (!strcmp(name, "tick")) *ch |= CH_TICK;
    else if (!strcmp(name, "nbbo")) *ch |= CH_NBBO;
    else if (!strcmp(name, "trade")) *ch |= CH_TRADE;
    else if (!strcmp(name, "alert")) *ch |= CH_ALERT;
    else if (!strcmp(name, "book")) {
        *ch |= CH_BOOK;
        if (*depth < 10) *depth = 10;
    } else if (!strncmp(name, "book:", 5)) {
        char *end;
        long d = strtol(name + 5, &end, 10);
        if (*end || end == name + 5 || d < 1 || d > TD_BOOK_SNAP_DEPTH) return false;
        *ch |= CH_BOOK;
        if (d > *depth) *depth = (int)d;
    } else if (!strncmp(name, "candle:", 7)) {
        td_interval_t i;
        if (td_interval_parse(name + 7, strlen(name + 7), &i) != TD_OK) return false;
        *ch |= CH_CANDLE;
        *iv |= (uint8_t)(1u << i);
    } else {
        return false;
    }
    return true;
}

static void reply_list(client_t *cl, const char *type, char (*names)[TD_SYM_NAME_MAX + 1], const uint32_t *ids,
                       size_t n, char (*chans)[TD_CMSG_CHANNEL_MAX + 1], size_t nch, const char *id)
{
    td_jb_t *b = &cl->st->enc;
    td_jb_reset(b);
    if (cl->enc == TD_ENC_MSGPACK) {
        td_mp_map(b, (chans ? 3 : 2) + (id && *id ? 1 : 0));
        td_mp_cstr(b, "type");
        td_mp_cstr(b, type);
        td_mp_cstr(b, "symbols");
        td_mp_array(b, (uint32_t)n);
        for (size_t i = 0; i < n; i++) td_mp_cstr(b, ids ? td_sym_name(ids[i]) : names[i]);
        if (chans) {
            td_mp_cstr(b, "channels");
            td_mp_array(b, (uint32_t)nch);
            for (size_t i = 0; i < nch; i++) td_mp_cstr(b, chans[i]);
        }
        if (id && *id) {
            td_mp_cstr(b, "id");
            if (id[0] == '"') td_mp_str(b, id + 1, strlen(id) - 2);
            else td_mp_uint(b, strtoull(id, NULL, 10));
        }
    } else {
        td_jb_lit(b, "{\"type\":");
        td_jb_qstr(b, type);
        td_jb_lit(b, ",\"symbols\":[");
        for (size_t i = 0; i < n; i++) {
            if (i) td_jb_ch(b, ',');
            td_jb_qstr(b, ids ? td_sym_name(ids[i]) : names[i]);
        }
        td_jb_ch(b, ']');
        if (chans) {
            td_jb_lit(b, ",\"channels\":[");
            for (size_t i = 0; i < nch; i++) {
                if (i) td_jb_ch(b, ',');
                td_jb_qstr(b, chans[i]);
            }
            td_jb_ch(b, ']');
        }
        if (id && *id) {
            td_jb_lit(b, ",\"id\":");
            td_jb_cstr(b, id);
        }
        td_jb_ch(b, '}');
    }
    if (!b->err) send_payload(cl, b->p, b->len, false);
}

static bool apply_options(client_t *cl, const td_cmsg_t *m)
{
    if (m->tier[0]) {
        if (!strcmp(m->tier, "conflated")) cl->tier_conflated = true;
        else if (!strcmp(m->tier, "full")) cl->tier_conflated = false;
        else {
            send_error(cl, "bad_request", "tier must be \"full\" or \"conflated\"", m->id);
            return false;
        }
    }
    if (m->interval_ms >= 0) {
        if (m->interval_ms < 10 || m->interval_ms > 60000) {
            send_error(cl, "bad_request", "interval_ms must be from 10 to 60000", m->id);
            return false;
        }
        cl->interval_ns = m->interval_ms * TD_NS_PER_MS;
    }
    if (m->batch_ms >= 0) {
        if (m->batch_ms > 10000) {
            send_error(cl, "bad_request", "batch_ms must be from 0 (off) to 10000", m->id);
            return false;
        }
        if (m->batch_ms == 0) batch_flush(cl);
        cl->batch_ns = m->batch_ms * TD_NS_PER_MS;
    }
    return true;
}

static void do_subscribe(client_t *cl, td_cmsg_t *m)
{
    uint16_t ch = 0;
    uint8_t iv = 0;
    int depth = 0;
    if (!m->has_channels) {
        ch = CH_TICK | CH_NBBO;
        m->nchannels = 2;
        strcpy(m->channels[0], "tick");
        strcpy(m->channels[1], "nbbo");
    }
    for (size_t i = 0; i < m->nchannels; i++) {
        if (!parse_channel(m->channels[i], &ch, &iv, &depth)) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "unknown channel '%s'; channels: tick, nbbo, trade, candle:<1s|10s|1m|5m|15m|1h|1d|1w>, "
                     "book:<1..%d>, alert",
                     m->channels[i], TD_BOOK_SNAP_DEPTH);
            send_error(cl, "bad_request", msg, m->id);
            return;
        }
    }
    if (!apply_options(cl, m)) return;
    if (m->nsymbols == 0) {
        if (m->tier[0] || m->interval_ms >= 0 || m->batch_ms >= 0) { /* an options-only message */
            reply_list(cl, "subscribed", NULL, NULL, 0, NULL, 0, m->id);
            return;
        }
        send_error(cl, "bad_request", "symbols must name at least one symbol", m->id);
        return;
    }
    static __thread uint32_t ids[TD_CMSG_MAX_SYMBOLS];
    size_t nids = 0, nnew = 0;
    char unknown[256];
    size_t ulen = 0;
    unknown[0] = '\0';
    for (size_t i = 0; i < m->nsymbols; i++) {
        uint32_t id = td_sym_lookup(m->symbols[i], strlen(m->symbols[i]));
        if (!id) {
            if (ulen < sizeof unknown - 40)
                ulen += (size_t)snprintf(unknown + ulen, sizeof unknown - ulen, "%s%s", ulen ? ", " : "",
                                         m->symbols[i]);
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < nids; k++) dup |= ids[k] == id;
        if (dup) continue;
        ids[nids++] = id;
        if (!sub_find(cl, id)) nnew++;
    }
    if (ulen) {
        char msg[320];
        snprintf(msg, sizeof msg, "unknown symbol(s): %s", unknown);
        send_error(cl, "unknown_symbol", msg, m->id);
    }
    if (!nids) return;
    size_t max = cl->st->a->cfg.max_subscriptions;
    if (cl->nsubs + nnew > max) {
        char msg[160];
        snprintf(msg, sizeof msg, "too many subscriptions: at most %zu symbols per connection (%u now, %zu asked)",
                 max, cl->nsubs, nnew);
        send_error(cl, "too_many_subscriptions", msg, m->id);
        return;
    }
    reply_list(cl, "subscribed", NULL, ids, nids, m->channels, m->nchannels, m->id);
    for (size_t i = 0; i < nids; i++) {
        sub_t *s = sub_find(cl, ids[i]);
        if (!s) s = sub_add(cl, ids[i]);
        sub_set_mask(cl->st, s, s->chmask | ch);
        s->ivmask |= iv;
        if (depth > s->depth) s->depth = (uint8_t)depth;
        snapshot(cl, s, ch, iv, s->depth ? s->depth : 10, false);
    }
}

static void do_unsubscribe(client_t *cl, td_cmsg_t *m)
{
    uint16_t ch = 0;
    uint8_t iv = 0;
    int depth = 0;
    for (size_t i = 0; i < m->nchannels; i++) {
        if (!parse_channel(m->channels[i], &ch, &iv, &depth)) {
            char msg[96];
            snprintf(msg, sizeof msg, "unknown channel '%s'", m->channels[i]);
            send_error(cl, "bad_request", msg, m->id);
            return;
        }
    }
    static __thread uint32_t ids[TD_CMSG_MAX_SYMBOLS];
    size_t n = 0;
    if (m->nsymbols == 0) { /* everything */
        while (cl->nsubs && n < TD_CMSG_MAX_SYMBOLS) {
            ids[n++] = cl->subs[cl->nsubs - 1].sym;
            sub_remove(cl, &cl->subs[cl->nsubs - 1]);
        }
    } else {
        for (size_t i = 0; i < m->nsymbols; i++) {
            uint32_t id = td_sym_lookup(m->symbols[i], strlen(m->symbols[i]));
            sub_t *s = id ? sub_find(cl, id) : NULL;
            if (!s) continue;
            if (m->has_channels && m->nchannels) {
                uint16_t mask = s->chmask & (uint16_t)~(ch & ~CH_CANDLE);
                if (ch & CH_CANDLE) {
                    s->ivmask &= (uint8_t)~iv;
                    if (!s->ivmask) mask &= (uint16_t)~CH_CANDLE;
                }
                sub_set_mask(cl->st, s, mask);
                if (s->chmask) {
                    ids[n++] = id;
                    continue;
                }
            }
            ids[n++] = id;
            sub_remove(cl, s);
        }
    }
    reply_list(cl, "unsubscribed", NULL, ids, n, m->has_channels ? m->channels : NULL, m->nchannels, m->id);
}

static void handle_message(client_t *cl, const char *data, size_t len)
{
    td_cmsg_t *m = cl->st->cmsg;
    const char *code;
    char err[160];
    if (td_cmsg_parse(data, len, m, &code, err, sizeof err) != TD_OK) {
        send_error(cl, code, err, m->id);
        return;
    }
    switch (m->action) {
    case TD_CMSG_SUBSCRIBE: do_subscribe(cl, m); break;
    case TD_CMSG_UNSUBSCRIBE: do_unsubscribe(cl, m); break;
    case TD_CMSG_PING: {
        td_jb_t *b = &cl->st->enc;
        td_jb_reset(b);
        td_enc_pong(b, cl->enc, m->id);
        send_payload(cl, b->p, b->len, false);
        break;
    }
    default: {
        char msg[96];
        snprintf(msg, sizeof msg, "unknown action '%s'; actions: subscribe, unsubscribe, ping", m->action_name);
        send_error(cl, "unknown_action", msg, m->id);
    }
    }
}

void api_ws_message(td_conn_t *c, int opcode, const char *data, size_t len, void *user)
{
    client_t *cl = td_conn_user(c);
    if (!cl) return;
    handle_message(cl, data, len);
}
