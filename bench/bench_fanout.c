/*
 * bench_fanout.c: fan-out side by side: tickd's WebSocket stream against Redis 7 pub/sub and a Node.js `ws`
 * broadcast server, on this machine, in one run.
 *
 * For every cell (target x clients x published messages/s) it starts the server, connects the clients
 * (nonblocking, in waves), measures the server's RSS before and after (memory per idle connection),
 * subscribes each client to `subs` of `symbols` symbols (spread evenly, so every symbol has the same
 * number of subscribers), warms up, then counts deliveries for `seconds` and samples tick-to-client
 * latency (now - recv_ns from the message; every tick's recv_ns on tickd, every message on the peers) into
 * a log-scale histogram. It also reads the server's CPU time, so deliveries per server CPU-second are
 * comparable on a shared machine. The load client is this one process, one thread, one epoll loop.
 *
 *   tickd: build/tickd with the simulator in quote mode over S000..S099, rate chosen so that tick + nbbo
 *          messages come out at about the cell's rate (the published rate is measured and printed).
 *   redis: redis-server; a forked publisher process PUBLISHes JSON ticks (pipelined) at the cell's rate to
 *          one channel per symbol; clients SUBSCRIBE over RESP.
 *   node:  bench/peers/ws_broadcast.js (npm ws, installed by bench/peers/setup.sh), generating the ticks.
 *
 * Usage: bench_fanout [--clients 1000,10000] [--rates 10000,100000] [--symbols 100] [--subs 10]
 *                     [--seconds 3] [--threads 1] [--targets tickd,redis,node]
 * Bounded: each cell takes a few seconds; a target that cannot start is skipped with a note.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { T_TICKD, T_REDIS, T_NODE };
static const char *target_names[] = { "tickd", "redis", "node-ws" };

typedef struct opts {
    int clients[8], nclients;
    int rates[8], nrates;
    int symbols, subs, seconds, threads;
    int targets[3], ntargets;
} opts_t;

static char g_dir[PATH_MAX];
static char g_coalesce[16] = "1000"; /* tickd --coalesce-us */   /* directory of this binary (build/bench) */
static char g_src[PATH_MAX + 16];   /* source tree (for bench/peers) */

static int64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int parse_list(const char *s, int *out, int max)
{
    int n = 0;
    while (*s && n < max) {
        out[n++] = atoi(s);
        const char *c = strchr(s, ',');
        if (!c) break;
        s = c + 1;
    }
    return n;
}

/* ---- servers ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static int connect_blocking(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool wait_port(int port, int ms)
{
    for (int i = 0; i < ms / 20; i++) {
        int fd = connect_blocking(port);
        if (fd >= 0) {
            close(fd);
            return true;
        }
        sleep_ms(20);
    }
    return false;
}

static pid_t spawn(char *const argv[], const char *log)
{
    pid_t p = fork();
    if (p == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setpgid(0, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    return p;
}

static void stop_pid(pid_t p)
{
    if (p <= 0) return;
    kill(p, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(p, NULL, WNOHANG) == p) return;
        sleep_ms(25);
    }
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
}

static long rss_kb(pid_t p)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)p);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) v = atol(line + 6);
    fclose(f);
    return v;
}

static double cpu_s(pid_t p)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)p);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *s = strrchr(buf, ')');
    if (!s) return 0;
    unsigned long ut = 0, st = 0;
    /* fields after ')': state(3) ... utime(14) stime(15) */
    sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The Redis publisher (a forked child): PUBLISH at `rate` messages/s round-robin over the channels. */
static void redis_publisher(int port, int rate, int symbols)
{
    int fd = connect_blocking(port);
    if (fd < 0) _exit(1);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    static char out[1 << 20], sink[1 << 16];
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    uint64_t sent = 0;
    for (;;) {
        int64_t now = now_ns(CLOCK_MONOTONIC);
        uint64_t due = (uint64_t)((now - t0) / 1000) * (uint64_t)rate / 1000000u;
        size_t o = 0;
        int64_t rt = now_ns(CLOCK_REALTIME);
        while (sent < due && o < sizeof out - 600) {
            char msg[320], chan[16];
            int sym = (int)(sent % (uint64_t)symbols);
            int cl = snprintf(chan, sizeof chan, "S%03d", sym);
            int ml = snprintf(msg, sizeof msg,
                              "{\"type\":\"tick\",\"symbol\":\"S%03d\",\"price\":%d.%02d,\"bid\":%d.%02d,\"ask\":%d.%02d,"
                              "\"volume\":100,\"exchange\":\"NYSE\",\"timestamp\":%lld,\"seq\":%llu,\"recv_ns\":%lld}",
                              sym, 100 + (int)(sent % 10), (int)(sent % 100), 100, 1, 100, 2,
                              (long long)(rt / 1000000), (unsigned long long)sent, (long long)rt);
            o += (size_t)snprintf(out + o, sizeof out - o, "*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", cl,
                                  chan, ml, msg);
            sent++;
        }
        size_t w = 0;
        while (w < o) {
            ssize_t k = write(fd, out + w, o - w);
            if (k > 0) w += (size_t)k;
            else if (k < 0 && errno != EAGAIN) _exit(0);
            while (read(fd, sink, sizeof sink) > 0) {
            }
        }
        while (read(fd, sink, sizeof sink) > 0) {
        }
        usleep(500);
    }
}

typedef struct server {
    int kind, port;
    pid_t pid, pub;
    double sim_rate;
} server_t;

static bool server_start(server_t *s, int kind, int rate, const opts_t *o, const char *tmp)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->port = free_port();
    char port[16], log[PATH_MAX + 32];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(log, sizeof log, "%s/%s.log", tmp, target_names[kind]);
    if (kind == T_TICKD) {
        char tickd[PATH_MAX + 16], listen[64], feed[2048], threads[16], data[PATH_MAX + 8];
        snprintf(tickd, sizeof tickd, "%s/../tickd", g_dir);
        snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
        snprintf(threads, sizeof threads, "%d", o->threads);
        snprintf(data, sizeof data, "%s/data", tmp);
        /* quote mode: about 0.635 tick + nbbo messages per event (measured), so scale the event rate */
        s->sim_rate = rate / 0.635;
        int n = snprintf(feed, sizeof feed, "sim:mode=quotes;rate=%.0f;symbols=", s->sim_rate);
        for (int i = 0; i < o->symbols; i++) n += snprintf(feed + n, sizeof feed - (size_t)n, "%sS%03d", i ? "," : "", i);
        char *argv[] = { tickd, "--listen", listen, "--threads", threads, "--status-interval", "0", "--data-dir", data,
                         "--feed", feed, "--out-cap", "16777216", "--coalesce-us", g_coalesce, NULL };
        s->pid = spawn(argv, log);
    } else if (kind == T_REDIS) {
        char *argv[] = { "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", (char *)tmp, "--maxclients", "20000", "--tcp-backlog", "4096",
                         "--client-output-buffer-limit", "pubsub 256mb 64mb 60", "--loglevel", "warning", NULL };
        s->pid = spawn(argv, log);
    } else {
        char js[PATH_MAX + 64], r[16], ns[16];
        snprintf(js, sizeof js, "%s/bench/peers/ws_broadcast.js", g_src);
        snprintf(r, sizeof r, "%d", rate);
        snprintf(ns, sizeof ns, "%d", o->symbols);
        char *argv[] = { "node", js, port, r, ns, NULL };
        s->pid = spawn(argv, log);
    }
    if (!wait_port(s->port, 10000)) {
        stop_pid(s->pid);
        s->pid = 0;
        return false;
    }
    return true;
}

static void server_stop(server_t *s)
{
    stop_pid(s->pub);
    stop_pid(s->pid);
    s->pub = s->pid = 0;
}

/* ---- the load client ---- */

#define CARRY 1024

typedef struct conn {
    int fd;
    uint8_t state;   /* 0 connecting, 1 handshake sent, 2 open, 3 subscribed, 4 dead */
    uint16_t carry_len;
    uint32_t skip;   /* bytes of a large frame still to skip */
    uint64_t msgs;
    char *carry;
} conn_t;

typedef struct run {
    int kind;
    conn_t *c;
    int n, ep;
    uint64_t msgs, samples;
    uint64_t hist[64]; /* log2 buckets of latency in microseconds */
    bool counting;
    int64_t now_rt;
    int open, subscribed, dead;
} run_t;

static void lat_add(run_t *r, int64_t ns)
{
    if (ns < 0) ns = 0;
    uint64_t us = (uint64_t)ns / 1000;
    int b = us ? 64 - __builtin_clzll(us) : 0;
    r->hist[b]++;
    r->samples++;
}

static double lat_q(const run_t *r, double q)
{
    if (!r->samples) return 0;
    uint64_t want = (uint64_t)(q * (double)r->samples), run = 0;
    for (int b = 0; b < 64; b++) {
        run += r->hist[b];
        if (run >= want && r->hist[b]) return b ? (double)(1ull << b) / 1000.0 : 0.001; /* bucket top, ms */
    }
    return 0;
}

static void sample(run_t *r, const char *p, size_t n)
{
    if (!r->counting) return;
    const char *k = memmem(p, n, "\"recv_ns\":", 10);
    if (!k) return;
    k += 10;
    int64_t v = 0;
    while (k < p + n && *k >= '0' && *k <= '9') v = v * 10 + (*k++ - '0');
    if (v) lat_add(r, r->now_rt - v);
}

static const char handshake[] = "GET /v1/prices HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n\r\n";

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
        } else if (k < 0 && errno == EAGAIN) {
            sleep_ms(1);
        } else {
            return;
        }
    }
}

static void send_ws_text(int fd, const char *p, size_t n)
{
    char f[4096];
    size_t h = 0;
    f[h++] = (char)0x81;
    if (n < 126) f[h++] = (char)(0x80 | n);
    else {
        f[h++] = (char)(0x80 | 126);
        f[h++] = (char)(n >> 8);
        f[h++] = (char)n;
    }
    memset(f + h, 0, 4); /* zero mask: allowed and keeps the payload as is */
    h += 4;
    memcpy(f + h, p, n);
    send_all(fd, f, h + n);
}

static void subscribe(run_t *r, int i, const opts_t *o)
{
    char body[2048];
    size_t n = 0;
    conn_t *c = &r->c[i];
    if (r->kind == T_REDIS) {
        n += (size_t)snprintf(body + n, sizeof body - n, "*%d\r\n$9\r\nSUBSCRIBE\r\n", o->subs + 1);
        for (int k = 0; k < o->subs; k++)
            n += (size_t)snprintf(body + n, sizeof body - n, "$4\r\nS%03d\r\n", (i * o->subs + k) % o->symbols);
        send_all(c->fd, body, n);
    } else {
        n += (size_t)snprintf(body + n, sizeof body - n, "{\"action\":\"subscribe\",\"symbols\":[");
        for (int k = 0; k < o->subs; k++)
            n += (size_t)snprintf(body + n, sizeof body - n, "%s\"S%03d\"", k ? "," : "", (i * o->subs + k) % o->symbols);
        n += (size_t)snprintf(body + n, sizeof body - n, "]%s}", r->kind == T_TICKD ? ",\"channels\":[\"tick\",\"nbbo\"]" : "");
        send_ws_text(c->fd, body, n);
    }
    c->state = 3;
    r->subscribed++;
}

/* Parses what arrived for one connection; returns bytes consumed (the rest is carried). */
static size_t parse_ws(run_t *r, conn_t *c, const char *p, size_t n)
{
    size_t i = 0;
    while (n - i >= 2) {
        uint8_t op = (uint8_t)p[i] & 15, l = (uint8_t)p[i + 1] & 127;
        size_t h = 2, len = l;
        if (l == 126) {
            if (n - i < 4) break;
            len = (size_t)(uint8_t)p[i + 2] << 8 | (uint8_t)p[i + 3];
            h = 4;
        } else if (l == 127) {
            if (n - i < 10) break;
            len = 0;
            for (int k = 0; k < 8; k++) len = len << 8 | (uint8_t)p[i + 2 + k];
            h = 10;
        }
        if (op == 1 || op == 2) {
            c->msgs++;
            if (r->counting) r->msgs++;
        }
        if (n - i < h + len) {
            if (h + len <= CARRY) break; /* small: carry and parse whole */
            c->skip = (uint32_t)(h + len - (n - i));
            return n;
        }
        if (op == 1 && r->counting) sample(r, p + i + h, len);
        i += h + len;
    }
    return i;
}

static size_t parse_redis(run_t *r, conn_t *c, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* a push: *3\r\n$7\r\nmessage\r\n$L\r\nchan\r\n$L\r\npayload\r\n  (or a subscribe confirmation) */
        const char *e = memchr(p + i, '\n', n - i);
        if (!e) break;
        if (p[i] != '*') return n; /* lost sync: drop (not expected) */
        int items = atoi(p + i + 1);
        size_t j = (size_t)(e - p) + 1;
        bool whole = true, is_msg = false;
        const char *payload = NULL;
        size_t plen = 0;
        for (int k = 0; k < items; k++) {
            if (j >= n) { whole = false; break; }
            const char *e2 = memchr(p + j, '\n', n - j);
            if (!e2) { whole = false; break; }
            if (p[j] == ':') { j = (size_t)(e2 - p) + 1; continue; }
            long len = atol(p + j + 1);
            size_t start = (size_t)(e2 - p) + 1;
            if (start + (size_t)len + 2 > n) { whole = false; break; }
            if (k == 0 && len == 7 && !memcmp(p + start, "message", 7)) is_msg = true;
            if (k == 2) { payload = p + start; plen = (size_t)len; }
            j = start + (size_t)len + 2;
        }
        if (!whole) break;
        if (is_msg) {
            c->msgs++;
            if (r->counting) {
                r->msgs++;
                sample(r, payload, plen);
            }
        }
        i = j;
    }
    return i;
}

static void on_readable(run_t *r, conn_t *c, const opts_t *o)
{
    static char buf[(1 << 18) + CARRY];
    for (int rounds = 0; rounds < 4; rounds++) {
        size_t have = c->carry_len;
        if (have) memcpy(buf, c->carry, have);
        ssize_t k = read(c->fd, buf + have, sizeof buf - CARRY);
        if (k <= 0) {
            if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
                if (c->state != 4) r->dead++;
                c->state = 4;
                epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
            }
            return;
        }
        size_t n = have + (size_t)k, i = 0;
        if (c->skip) {
            size_t s = c->skip < n ? c->skip : n;
            c->skip -= (uint32_t)s;
            i = s;
        }
        if (c->state == 1) { /* the 101 */
            const char *e = memmem(buf + i, n - i, "\r\n\r\n", 4);
            if (!e) {
                c->carry_len = 0;
                return;
            }
            i = (size_t)(e - buf) + 4;
            c->state = 2;
            r->open++;
        }
        if (c->state >= 2) i += r->kind == T_REDIS ? parse_redis(r, c, buf + i, n - i) : parse_ws(r, c, buf + i, n - i);
        size_t left = n - i;
        if (left > CARRY) left = 0; /* cannot happen: frames we keep are <= CARRY */
        if (left && !c->carry) c->carry = malloc(CARRY);
        if (left) memcpy(c->carry, buf + i, left);
        c->carry_len = (uint16_t)left;
        if ((size_t)k < sizeof buf - CARRY - have) return;
    }
    (void)o;
}

static int g_client_pause_us = 2000;

static void poll_once(run_t *r, const opts_t *o, int timeout_ms)
{
    /* The client reads each socket at most every g_client_pause_us: data gathers in the socket buffers so
     * one read takes many messages (one thread cannot make a million reads a second). The pause is part of
     * every target's measured latency alike. When many sockets are ready the client does not pause. */
    static int last_n;
    if (r->counting && g_client_pause_us && last_n < 256) usleep((useconds_t)g_client_pause_us); /* idle-ish */
    static struct epoll_event ev[4096];
    int n = epoll_wait(r->ep, ev, 4096, timeout_ms);
    last_n = n;
    r->now_rt = now_ns(CLOCK_REALTIME);
    for (int k = 0; k < n; k++) on_readable(r, &r->c[ev[k].data.u32], o);
}

static bool connect_all(run_t *r, int port, const opts_t *o)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int64_t deadline = now_ns(CLOCK_MONOTONIC) + 60 * 1000000000LL;
    for (int i = 0; i < r->n; i++) {
        conn_t *c = &r->c[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0) return false;
        if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) return false; /* blocking: loopback is fast */
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev);
        if (r->kind == T_REDIS) {
            c->state = 2;
            r->open++;
        } else {
            send_all(c->fd, handshake, sizeof handshake - 1);
            c->state = 1;
        }
        if (i % 200 == 199) poll_once(r, o, 0);
    }
    while (r->open + r->dead < r->n && now_ns(CLOCK_MONOTONIC) < deadline) poll_once(r, o, 10);
    return r->open == r->n;
}

/* One value from tickd's /metrics (0 if absent). */
static double tickd_metric(int port, const char *name)
{
    int fd = connect_blocking(port);
    if (fd < 0) return 0;
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    static char buf[1 << 20];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof buf - 1 && (k = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)k;
    close(fd);
    buf[n] = '\0';
    char pat[160];
    snprintf(pat, sizeof pat, "\n%s ", name);
    char *p = strstr(buf, pat);
    return p ? atof(p + strlen(pat)) : 0;
}

typedef struct cell {
    double deliveries, published, p50, p99, kb_per_conn, cpu, client_cpu, srv_lat_ms;
    int dead;
    bool ok;
    char note[96];
} cell_t;

static void run_cell(int kind, int clients, int rate, const opts_t *o, const char *tmp, cell_t *out)
{
    memset(out, 0, sizeof *out);
    server_t s;
    if (!server_start(&s, kind, rate, o, tmp)) {
        snprintf(out->note, sizeof out->note, "%s did not start", target_names[kind]);
        return;
    }
    run_t r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.n = clients;
    r.c = calloc((size_t)clients, sizeof *r.c);
    r.ep = epoll_create1(0);
    sleep_ms(300);
    long rss0 = rss_kb(s.pid);
    if (!connect_all(&r, s.port, o)) {
        snprintf(out->note, sizeof out->note, "only %d of %d connected", r.open, clients);
        goto done;
    }
    sleep_ms(300);
    poll_once(&r, o, 0);
    long rss1 = rss_kb(s.pid);
    out->kb_per_conn = (double)(rss1 - rss0) / clients;
    if (kind == T_REDIS) { /* the publisher starts with the clients in place, like the others' generators */
        s.pub = fork();
        if (s.pub == 0) redis_publisher(s.port, rate, o->symbols);
    }
    for (int i = 0; i < clients; i++) {
        subscribe(&r, i, o);
        if (i % 100 == 99) poll_once(&r, o, 0);
    }
    int64_t warm = now_ns(CLOCK_MONOTONIC) + 1500000000LL;
    while (now_ns(CLOCK_MONOTONIC) < warm) poll_once(&r, o, 5);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double cpu0 = cpu_s(s.pid) + (s.pub ? cpu_s(s.pub) : 0);
    r.counting = true;
    int64_t t0 = now_ns(CLOCK_MONOTONIC), t1 = t0 + (int64_t)o->seconds * 1000000000LL;
    while (now_ns(CLOCK_MONOTONIC) < t1) poll_once(&r, o, 5);
    int64_t el = now_ns(CLOCK_MONOTONIC) - t0;
    r.counting = false;
    double cpu1 = cpu_s(s.pid) + (s.pub ? cpu_s(s.pub) : 0);
    getrusage(RUSAGE_SELF, &ru1);
    double secs = (double)el / 1e9;
    out->deliveries = (double)r.msgs / secs;
    /* every symbol has clients*subs/symbols subscribers: published = delivered / fan-out */
    out->published = out->deliveries / ((double)clients * o->subs / o->symbols);
    out->p50 = lat_q(&r, 0.50);
    out->p99 = lat_q(&r, 0.99);
    out->cpu = (cpu1 - cpu0) / secs;
    out->client_cpu = ((double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                       (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6) / secs;
    out->dead = r.dead;
    out->ok = true;
    if (kind == T_TICKD) {
        double sum = tickd_metric(s.port, "tickd_tick_to_client_seconds_sum");
        double cnt = tickd_metric(s.port, "tickd_tick_to_client_seconds_count");
        snprintf(out->note, sizeof out->note, "server-side mean recv->queued %.2f ms, out-cap hits %.0f, lapped %.0f",
                 cnt > 0 ? sum / cnt * 1e3 : 0, tickd_metric(s.port, "tickd_out_cap_hits_total"),
                 tickd_metric(s.port, "tickd_ring_lapped_records_total"));
    }
done:
    for (int i = 0; i < clients; i++) {
        if (r.c[i].fd > 0) close(r.c[i].fd);
        free(r.c[i].carry);
    }
    free(r.c);
    close(r.ep);
    server_stop(&s);
}

int main(int argc, char **argv)
{
    opts_t o = { .symbols = 100, .subs = 10, .seconds = 3, .threads = 1 };
    o.nclients = parse_list("1000,10000", o.clients, 8);
    o.nrates = parse_list("10000,100000", o.rates, 8);
    o.targets[0] = T_TICKD;
    o.targets[1] = T_REDIS;
    o.targets[2] = T_NODE;
    o.ntargets = 3;
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bench_fanout [--clients N,N] [--rates N,N] [--symbols N] [--subs N] [--seconds N]\n"
                   "                    [--threads N] [--targets tickd,redis,node] [--coalesce-us N]\n"
                   "                    [--client-pause-us N]   (defaults and method: see the file comment)\n");
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_fanout: option %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--clients")) o.nclients = parse_list(argv[i + 1], o.clients, 8);
        else if (!strcmp(argv[i], "--rates")) o.nrates = parse_list(argv[i + 1], o.rates, 8);
        else if (!strcmp(argv[i], "--symbols")) o.symbols = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--subs")) o.subs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) o.seconds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) o.threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--client-pause-us")) g_client_pause_us = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--coalesce-us")) snprintf(g_coalesce, sizeof g_coalesce, "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "--targets")) {
            o.ntargets = 0;
            if (strstr(argv[i + 1], "tickd")) o.targets[o.ntargets++] = T_TICKD;
            if (strstr(argv[i + 1], "redis")) o.targets[o.ntargets++] = T_REDIS;
            if (strstr(argv[i + 1], "node")) o.targets[o.ntargets++] = T_NODE;
        } else {
            fprintf(stderr, "bench_fanout: unknown option %s (see the file comment)\n", argv[i]);
            return 2;
        }
    }
    if (o.symbols < 1 || o.symbols > 1000 || o.subs < 1 || o.subs > o.symbols || o.seconds < 1) {
        fprintf(stderr, "bench_fanout: bad sizes\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ssize_t l = readlink("/proc/self/exe", g_dir, sizeof g_dir - 1);
    if (l <= 0) return 1;
    g_dir[l] = '\0';
    *strrchr(g_dir, '/') = '\0';
    const char *src = getenv("TD_SOURCE_DIR");
    if (src) snprintf(g_src, sizeof g_src, "%s", src);
    else snprintf(g_src, sizeof g_src, "%s/../..", g_dir); /* build/bench -> the source tree */

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    char tmp[] = "/tmp/bench_fanout.XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    char setup[PATH_MAX + 64];
    snprintf(setup, sizeof setup, "%s/bench/peers/setup.sh >/dev/null 2>&1", g_src);
    bool have_node = system(setup) == 0;
    bool have_redis = system("command -v redis-server >/dev/null 2>&1") == 0;

    printf("bench_fanout: %d symbols, %d subscriptions per client (clients x %d / %d subscribers per symbol), "
           "%d s per cell, tickd --threads %d, one load-client thread, %ld cores\n",
           o.symbols, o.subs, o.subs, o.symbols, o.seconds, o.threads, sysconf(_SC_NPROCESSORS_ONLN));
    printf("%-8s %7s %9s | %11s %9s %8s %8s %8s %11s %8s %7s | %s\n", "target", "clients", "rate/s", "deliveries/s",
           "publ./s", "p50 ms", "p99 ms", "srv CPU", "deliv/CPU-s", "KB/conn", "cli CPU", "note");
    for (int ci = 0; ci < o.nclients; ci++) {
        for (int ri = 0; ri < o.nrates; ri++) {
            for (int ti = 0; ti < o.ntargets; ti++) {
                int kind = o.targets[ti], clients = o.clients[ci], rate = o.rates[ri];
                cell_t c;
                memset(&c, 0, sizeof c);
                if ((rlim_t)clients + 64 > rl.rlim_cur) snprintf(c.note, sizeof c.note, "fd limit %lu", (unsigned long)rl.rlim_cur);
                else if (kind == T_REDIS && !have_redis) snprintf(c.note, sizeof c.note, "redis-server not installed");
                else if (kind == T_NODE && !have_node) snprintf(c.note, sizeof c.note, "node/ws not available");
                else run_cell(kind, clients, rate, &o, tmp, &c);
                if (c.ok)
                    printf("%-8s %7d %9d | %11.0f %9.0f %8.2f %8.2f %8.2f %11.0f %8.2f %7.2f | %s%s\n", target_names[kind],
                           clients, rate, c.deliveries, c.published, c.p50, c.p99, c.cpu,
                           c.cpu > 0 ? c.deliveries / c.cpu : 0, c.kb_per_conn, c.client_cpu,
                           c.dead ? "disconnected clients " : "", c.note);
                else
                    printf("%-8s %7d %9d | %11s %9s %8s %8s %8s %11s %8s %7s | skipped: %s\n", target_names[kind], clients,
                           rate, "-", "-", "-", "-", "-", "-", "-", "-", c.note);
                fflush(stdout);
            }
        }
    }
    char rm[64];
    snprintf(rm, sizeof rm, "rm -rf %s", tmp);
    if (system(rm) != 0) fprintf(stderr, "bench_fanout: could not remove %s\n", tmp);
    printf("latency: now - recv_ns at the client (bucket upper bound); p99 past ~1000 ms means the server fell "
           "behind and queued. publ./s: delivered / fan-out.\n");
    return 0;
}
