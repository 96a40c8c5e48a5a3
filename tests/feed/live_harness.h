/*
 * live_harness.h: helpers for the live-feed tests: start tests/feed/mock_exchange.py on a free port (and stop
 * it by PID), pull a live source into per-symbol price-level books while recording GAP / RESYNC / stale
 * observations, replay the same recording through the recording source into reference books, and compare.
 * Header-only, one test program per include.
 */
#ifndef TD_LIVE_HARNESS_H
#define TD_LIVE_HARNESS_H

#include "testutil.h"

#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "book/book.h"
#include "core/clock.h"
#include "core/common.h"
#include "core/symbols.h"
#include "feed/live.h"
#include "feed/recording.h"
#include "feed/source.h"
#include "feed/wsclient.h"

#define LH_MAX_SYMS 512

typedef struct lh_mock {
    pid_t pid;
    int port;
} lh_mock_t;

static inline const char *lh_python(void)
{
    if (system("/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1") == 0) return "/usr/bin/python3";
    if (system("python3 -c 'import websockets' >/dev/null 2>&1") == 0) return "python3";
    return NULL;
}

static inline const char *lh_source_dir(void)
{
    const char *s = getenv("TD_SOURCE_DIR");
    if (s && *s) return s;
    /* CMake sets TD_SHARED_DATA=<source>/../shared/data for unit tests */
    static char buf[4096];
    const char *sd = getenv("TD_SHARED_DATA");
    snprintf(buf, sizeof buf, "%.4000s", sd && *sd ? sd : ".");
    char *p = strstr(buf, "/../shared/data");
    if (p) *p = 0;
    else snprintf(buf, sizeof buf, ".");
    return buf;
}

/* Starts the mock; extra = one more argument ("--cb-format=advanced") or NULL. */
static inline int lh_mock_start_x(lh_mock_t *m, const char *kind, const char *ws_file, const char *http_file,
                                  const char *faults, const char *cert, const char *key, int rate, const char *extra)
{
    memset(m, 0, sizeof *m); /* pid 0, port 0 until started: stop and callers see a defined value */
    const char *py = lh_python();
    if (!py) return -1;
    char script[4200];
    snprintf(script, sizeof script, "%s/tests/feed/mock_exchange.py", lh_source_dir());
    char rate_s[32];
    snprintf(rate_s, sizeof rate_s, "%d", rate > 0 ? rate : 2000);
    const char *argv[32];
    int a = 0;
    argv[a++] = py;
    argv[a++] = script;
    argv[a++] = "--kind"; argv[a++] = kind;
    argv[a++] = "--ws-file"; argv[a++] = ws_file;
    if (http_file) { argv[a++] = "--http-file"; argv[a++] = http_file; }
    if (faults && *faults) { argv[a++] = "--faults"; argv[a++] = faults; }
    if (cert) { argv[a++] = "--cert"; argv[a++] = cert; argv[a++] = "--key"; argv[a++] = key; }
    argv[a++] = "--rate"; argv[a++] = rate_s;
    argv[a++] = "--max-seconds"; argv[a++] = "90";
    if (extra) argv[a++] = extra;
    argv[a] = NULL;
    int out[2];
    if (pipe(out) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execvp(py, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    m->pid = pid;
    m->port = 0;
    char buf[256];
    size_t n = 0;
    int64_t deadline = td_mono_ns() + 15 * TD_NS_PER_SEC;
    while (n < sizeof buf - 1 && td_mono_ns() < deadline) {
        struct pollfd p = { .fd = out[0], .events = POLLIN };
        if (poll(&p, 1, 200) <= 0) continue;
        ssize_t r = read(out[0], buf + n, sizeof buf - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = 0;
        char *pl = strstr(buf, "PORT ");
        if (pl && strchr(pl, '\n')) { m->port = atoi(pl + 5); break; }
    }
    close(out[0]);
    if (m->port <= 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        m->pid = 0;
        return -1;
    }
    return 0;
}

static inline int lh_mock_start(lh_mock_t *m, const char *kind, const char *ws_file, const char *http_file,
                                const char *faults, const char *cert, const char *key, int rate)
{
    return lh_mock_start_x(m, kind, ws_file, http_file, faults, cert, key, rate, NULL);
}

static inline void lh_mock_stop(lh_mock_t *m)
{
    if (m->pid > 0) {
        kill(m->pid, SIGTERM);
        int st;
        for (int i = 0; i < 50; i++) {
            if (waitpid(m->pid, &st, WNOHANG) == m->pid) { m->pid = 0; return; }
            usleep(20000);
        }
        kill(m->pid, SIGKILL);
        waitpid(m->pid, &st, 0);
        m->pid = 0;
    }
}

/* GET /_mock/state; returns the body (static buffer) or "" */
static inline const char *lh_mock_state(const lh_mock_t *m, const char *scheme, const char *ca)
{
    static char out[8192];
    char url[256];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d/_mock/state", scheme, m->port);
    td_wsc_config_t cfg = { .ca_file = ca, .timeout_ms = 3000 };
    int status = 0;
    char *body = NULL;
    size_t blen = 0;
    char err[256];
    out[0] = 0;
    if (td_http_get(url, &cfg, 1 << 20, &status, &body, &blen, err, sizeof err) == TD_OK && status == 200)
        snprintf(out, sizeof out, "%s", body);
    td_free(body);
    return out;
}

/* ---- books ---- */
typedef struct lh_books {
    td_lbook_t *b[LH_MAX_SYMS];
    uint64_t gaps[LH_MAX_SYMS], resyncs[LH_MAX_SYMS], trades[LH_MAX_SYMS];
    bool stale_seen[LH_MAX_SYMS];   /* td_live_symbol_stale() was true right after a GAP */
    uint64_t events, gap_events, resync_events;
    uint64_t trade_ids_seen;
} lh_books_t;

static inline void lh_books_free(lh_books_t *bk)
{
    for (int i = 0; i < LH_MAX_SYMS; i++) td_lbook_destroy(bk->b[i]);
    memset(bk, 0, sizeof *bk);
}

static inline void lh_apply(lh_books_t *bk, const td_event_t *ev)
{
    bk->events++;
    if (!ev->sym || ev->sym >= LH_MAX_SYMS) return;
    td_lbook_t **b = &bk->b[ev->sym];
    if (!*b) *b = td_lbook_create();
    switch (ev->type) {
    case TD_EV_BOOK_CLEAR: td_lbook_clear(*b); break;
    case TD_EV_LEVEL_SET: td_lbook_set(*b, ev->side, ev->u.level.price, ev->u.level.qty); break;
    case TD_EV_LEVEL_DEL: td_lbook_del(*b, ev->side, ev->u.level.price); break;
    case TD_EV_GAP: bk->gaps[ev->sym]++; bk->gap_events++; break;
    case TD_EV_RESYNC: bk->resyncs[ev->sym]++; bk->resync_events++; break;
    case TD_EV_TRADE: bk->trades[ev->sym]++; break;
    default: break;
    }
}

/* Replays the recording into reference books. */
static inline void lh_replay(lh_books_t *ref, const char *ws_file, const char *http_file)
{
    char args[2048], err[256];
    snprintf(args, sizeof args, "%s%s%s", ws_file, http_file ? "," : "", http_file ? http_file : "");
    td_source_t *src = td_recording_open(args, err, sizeof err);
    assert_non_null(src);
    td_event_t evs[256];
    int n;
    while ((n = src->next(src, evs, 256)) > 0)
        for (int i = 0; i < n; i++) lh_apply(ref, &evs[i]);
    td_source_destroy(src);
}

/* Compares the books of sym; returns 0 if equal, else prints the first difference. */
static inline int lh_book_diff(const lh_books_t *a, const lh_books_t *b, uint32_t sym, bool quiet)
{
    static td_level_t la[200000], lb[200000];
    for (int side = 0; side < 2; side++) {
        size_t na = a->b[sym] ? td_lbook_depth(a->b[sym], side, la, 200000) : 0;
        size_t nb = b->b[sym] ? td_lbook_depth(b->b[sym], side, lb, 200000) : 0;
        size_t k = 0;
        while (k < na && k < nb && la[k].price == lb[k].price && la[k].qty == lb[k].qty) k++;
        if (k < na || k < nb) {
            if (!quiet)
                print_message("%s %s: level %zu of %zu/%zu differs: live %" PRId64 " x %" PRId64 " vs ref %" PRId64
                              " x %" PRId64 "\n", td_sym_name(sym), side ? "ask" : "bid", k, na, nb,
                              k < na ? la[k].price : 0, k < na ? la[k].qty : 0, k < nb ? lb[k].price : 0,
                              k < nb ? lb[k].qty : 0);
            return 1;
        }
    }
    return 0;
}

/* Pulls src into live until every symbol in syms matches ref and the mock is done, or timeout_s. Returns
 * the number of symbols still different. */
static inline int lh_run(td_source_t *src, lh_books_t *live, const lh_books_t *ref, const uint32_t *syms, size_t nsyms,
                         const lh_mock_t *m, const char *scheme, const char *ca, double timeout_s)
{
    td_event_t evs[256];
    int64_t deadline = td_mono_ns() + (int64_t)(timeout_s * 1e9);
    int64_t next_check = 0;
    int diff = (int)nsyms;
    while (td_mono_ns() < deadline) {
        int n = src->next(src, evs, 256);
        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
            lh_apply(live, &evs[i]);
            if (evs[i].type == TD_EV_GAP && evs[i].sym < LH_MAX_SYMS && td_live_is(src)) {
                bool later_resync = false;
                for (int k = i + 1; k < n; k++)
                    if (evs[k].type == TD_EV_RESYNC && evs[k].sym == evs[i].sym) later_resync = true;
                if (!later_resync && td_live_symbol_stale(src, evs[i].sym)) live->stale_seen[evs[i].sym] = true;
            }
        }
        int64_t now = td_mono_ns();
        if (now >= next_check) {
            next_check = now + 200 * TD_NS_PER_MS;
            const char *st = lh_mock_state(m, scheme, ca);
            if (!strstr(st, "\"done\":true")) continue;
            diff = 0;
            for (size_t k = 0; k < nsyms; k++) diff += lh_book_diff(live, ref, syms[k], true);
            if (diff == 0) {
                /* keep reading a little: nothing may undo it */
                int64_t end = td_mono_ns() + 300 * TD_NS_PER_MS;
                while (td_mono_ns() < end) {
                    n = src->next(src, evs, 256);
                    for (int i = 0; i < n; i++) lh_apply(live, &evs[i]);
                }
                diff = 0;
                for (size_t k = 0; k < nsyms; k++) diff += lh_book_diff(live, ref, syms[k], false);
                return diff;
            }
        }
    }
    diff = 0;
    for (size_t k = 0; k < nsyms; k++) diff += lh_book_diff(live, ref, syms[k], false);
    return diff;
}

/* Makes a self-signed certificate for 127.0.0.1 in dir (openssl req); 0 on success. */
static inline int lh_make_cert(const char *dir, char *cert, char *key, size_t cap)
{
    snprintf(cert, cap, "%s/cert.pem", dir);
    snprintf(key, cap, "%s/key.pem", dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout %s -out %s >/dev/null 2>&1", key, cert);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
