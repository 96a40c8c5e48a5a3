/*
 * bench_net: (a) HTTP request parsing and WebSocket frame parsing rates; (b) WebSocket fan-out in-process:
 * a server with 1 I/O thread and C connections from one client thread (epoll, reads and counts bytes);
 * every server loop turn frames N new 110-byte messages once and queues them to every connection whose
 * queue is under 64 KiB (the rest are skipped: a stand-in for conflation). Three ways to write them:
 *   1/write   write_batch = 1: one writev per frame (what a naive server does)
 *   N iovecs  one writev per connection per turn, N iovecs pointing at the N shared frames
 *   joined    the N frames copied once per turn into one buffer, one iovec per connection per turn
 * Deliveries/s = bytes received by the clients / 110 / seconds. The reference (DEPENDENCIES.md, 10k
 * sockets, server on one core): 0.06-0.16 M/s unbatched, 2.3-2.5 M/s with 16 frames joined. Here client
 * and server share the 2 cores, so the client's reads cost the server CPU; figures are lower bounds.
 *
 * usage: bench_net [connections=1000] [frames_per_turn=16] [seconds=2]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"
#include "net/http.h"
#include "net/server.h"
#include "net/ws.h"

#define MSG_BYTES 110 /* whole frame: 2-byte header + 108-byte payload */
#define QUEUE_LIMIT (64 * 1024)

/* ---- (a) parsers ---- */

static void bench_parsers(void)
{
    const char *req = "GET /v1/prices/AAPL/candles?interval=1m&from=1708600000&to=1708632000&limit=500 HTTP/1.1\r\n"
                      "Host: api.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n"
                      "Accept: application/json\r\nAccept-Encoding: gzip, deflate\r\nAccept-Language: en-US,en\r\n"
                      "Connection: keep-alive\r\nX-API-Key: 0123456789abcdef0123456789abcdef\r\n"
                      "Cache-Control: no-cache\r\n\r\n";
    size_t n = strlen(req);
    td_http_req_t r;
    long iters = 2000000;
    int64_t t0 = td_thread_cpu_ns();
    long ok = 0;
    for (long i = 0; i < iters; i++) ok += td_http_parse_request(req, n, 0, NULL, &r) == (int)n;
    double s = (double)(td_thread_cpu_ns() - t0) / 1e9;
    printf("http parse   : %.2f M requests/CPU-s (%zu-byte request, 8 headers; peer http_parser 2.9.4: 1.4 M/s per "
           "DEPENDENCIES.md)\n", (double)ok / s / 1e6, n);

    /* 110-byte masked client frames, as a subscribe message would be */
    static char frames[1 << 20], work[1 << 20];
    size_t fl = 0, nf = 0;
    uint8_t key[4] = { 1, 2, 3, 4 };
    char payload[104];
    memset(payload, 'x', sizeof payload);
    while (fl + 110 <= sizeof frames) {
        frames[fl] = (char)0x81;
        frames[fl + 1] = (char)(0x80 | sizeof payload);
        memcpy(frames + fl + 2, key, 4);
        memcpy(frames + fl + 6, payload, sizeof payload);
        td_ws_mask(frames + fl + 6, sizeof payload, key, 0);
        fl += 110;
        nf++;
    }
    td_ws_rx_t rx;
    td_ws_rx_init(&rx, 1 << 16, true);
    long total = 0;
    t0 = td_thread_cpu_ns();
    for (int rep = 0; rep < 40; rep++) {
        memcpy(work, frames, fl); /* unmasking is in place */
        size_t off = 0;
        td_ws_msg_t m;
        int rc;
        while ((rc = td_ws_rx_feed(&rx, work + off, fl - off, &m)) > 0) {
            off += (size_t)rc;
            total++;
        }
    }
    s = (double)(td_thread_cpu_ns() - t0) / 1e9;
    td_ws_rx_free(&rx);
    printf("ws parse     : %.2f M frames/CPU-s (110-byte masked text frames, unmask + UTF-8 check, incl. a memcpy)\n",
           (double)total / s / 1e6);
}

/* ---- (b) fan-out ---- */

typedef enum { MODE_SINGLE, MODE_IOV, MODE_JOINED } mode_t_;
static const char *mode_name[] = { "1 frame/write", "N iovecs/writev", "N frames joined" };

static struct {
    mode_t_ mode;
    int frames_per_turn;
    _Atomic bool producing;
    td_nbuf_t *turn_bufs[64];
    int nturn;
    uint64_t seq;
    _Atomic uint64_t queued_msgs, skipped_msgs;
    clockid_t server_clock;     /* the I/O thread's CPU clock, read from the main thread */
    _Atomic bool have_clock;
} g;

static void send_turn(td_conn_t *c, void *arg)
{
    if (td_conn_out_bytes(c) > QUEUE_LIMIT) {
        g.skipped_msgs += (uint64_t)g.frames_per_turn;
        return;
    }
    for (int i = 0; i < g.nturn; i++) td_conn_send_buf(c, g.turn_bufs[i], 0, g.turn_bufs[i]->len);
    atomic_fetch_add_explicit(&g.queued_msgs, (uint64_t)g.frames_per_turn, memory_order_relaxed);
}

static int on_turn(td_server_t *s, int thread, void *user)
{
    if (!atomic_load_explicit(&g.have_clock, memory_order_relaxed) &&
        pthread_getcpuclockid(pthread_self(), &g.server_clock) == 0)
        atomic_store(&g.have_clock, true);
    if (!atomic_load_explicit(&g.producing, memory_order_relaxed)) return 0;
    char payload[MSG_BYTES - 2];
    g.nturn = 0;
    if (g.mode == MODE_JOINED) {
        td_nbuf_t *b = td_nbuf_new((size_t)g.frames_per_turn * MSG_BYTES);
        for (int i = 0; i < g.frames_per_turn; i++) {
            int n = snprintf(payload, sizeof payload, "{\"type\":\"tick\",\"symbol\":\"AAPL\",\"seq\":%llu,\"price\":",
                             (unsigned long long)++g.seq);
            memset(payload + n, '1', sizeof payload - (size_t)n);
            size_t h = td_ws_frame_header((uint8_t *)b->data + b->len, TD_WS_OP_TEXT, true, sizeof payload);
            memcpy(b->data + b->len + h, payload, sizeof payload);
            b->len += (uint32_t)(h + sizeof payload);
        }
        g.turn_bufs[g.nturn++] = b;
    } else {
        for (int i = 0; i < g.frames_per_turn; i++) {
            int n = snprintf(payload, sizeof payload, "{\"type\":\"tick\",\"symbol\":\"AAPL\",\"seq\":%llu,\"price\":",
                             (unsigned long long)++g.seq);
            memset(payload + n, '1', sizeof payload - (size_t)n);
            g.turn_bufs[g.nturn++] = td_ws_frame_nbuf(TD_WS_OP_TEXT, payload, sizeof payload);
        }
    }
    td_server_each_ws(s, thread, send_turn, NULL);
    for (int i = 0; i < g.nturn; i++) td_nbuf_unref(g.turn_bufs[i]); /* the queues hold their own refs */
    return 1; /* keep producing without sleeping */
}

typedef struct clients {
    int n;
    int *fds;
    int epfd;
    _Atomic bool stop;
    _Atomic uint64_t bytes;
} clients_t;

static int ws_client(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("connect");
        exit(1);
    }
    const char *req = "GET /v1/prices HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) exit(1);
    char buf[1024];
    size_t have = 0;
    for (;;) { /* read exactly the 101 head: nothing else is sent before production starts */
        ssize_t r = read(fd, buf + have, 1);
        if (r <= 0) {
            fprintf(stderr, "handshake failed\n");
            exit(1);
        }
        have++;
        if (have >= 4 && memcmp(buf + have - 4, "\r\n\r\n", 4) == 0) break;
        if (have == sizeof buf) exit(1);
    }
    if (memcmp(buf, "HTTP/1.1 101", 12) != 0) exit(1);
    return fd;
}

static void *client_main(void *arg)
{
    clients_t *cl = arg;
    struct epoll_event ev[256];
    static char buf[1 << 16];
    while (!atomic_load(&cl->stop)) {
        int n = epoll_wait(cl->epfd, ev, 256, 50);
        uint64_t got = 0;
        for (int i = 0; i < n; i++) {
            ssize_t r = read(ev[i].data.fd, buf, sizeof buf);
            if (r > 0) got += (uint64_t)r;
        }
        atomic_fetch_add_explicit(&cl->bytes, got, memory_order_relaxed);
    }
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static double per_cpu_last;

static int64_t server_cpu_ns(void)
{
    struct timespec ts;
    if (!atomic_load(&g.have_clock) || clock_gettime(g.server_clock, &ts) != 0) return 0;
    return (int64_t)ts.tv_sec * TD_NS_PER_SEC + ts.tv_nsec;
}

static double run_mode(mode_t_ mode, int nconns, int per_turn, double seconds)
{
    memset(&g, 0, sizeof g);
    g.mode = mode;
    g.frames_per_turn = per_turn;
    td_server_config_t cfg = { 0 };
    cfg.threads = 1;
    cfg.write_batch = mode == MODE_SINGLE ? 1 : 0;
    cfg.out_cap = 1 << 20;
    cfg.ws_ping_interval_ms = -1;
    cfg.handlers.on_turn = on_turn;
    td_server_t *s = td_server_create(&cfg);
    if (!s || td_server_start(s) != 0) exit(1);

    clients_t cl = { .n = nconns };
    cl.fds = calloc((size_t)nconns, sizeof(int));
    cl.epfd = epoll_create1(0);
    for (int i = 0; i < nconns; i++) {
        cl.fds[i] = ws_client(td_server_port(s));
        struct epoll_event e = { .events = EPOLLIN, .data.fd = cl.fds[i] };
        epoll_ctl(cl.epfd, EPOLL_CTL_ADD, cl.fds[i], &e);
    }
    pthread_t th;
    pthread_create(&th, NULL, client_main, &cl);
    atomic_store(&g.producing, true);
    td_server_wake(s, 0); /* leave epoll_wait so on_turn starts producing */
    sleep_ms(300);        /* warm-up: queues and socket buffers fill */
    td_server_stats_t st0, st1;
    td_server_stats(s, &st0);
    uint64_t b0 = atomic_load(&cl.bytes);
    int64_t cpu0 = server_cpu_ns();
    int64_t t0 = td_mono_ns();
    sleep_ms((long)(seconds * 1000));
    uint64_t b1 = atomic_load(&cl.bytes);
    int64_t cpu1 = server_cpu_ns();
    int64_t t1 = td_mono_ns();
    td_server_stats(s, &st1);
    atomic_store(&g.producing, false);
    double secs = (double)(t1 - t0) / 1e9;
    double rate = (double)(b1 - b0) / MSG_BYTES / secs;
    double writes = (double)(st1.writes - st0.writes) / secs;
    double cpu = (double)(cpu1 - cpu0) / 1e9;
    double per_cpu = cpu > 0 ? (double)(b1 - b0) / MSG_BYTES / cpu : 0;
    printf("fanout %-16s: %6.3f M deliveries/s wall, %6.3f M per server-CPU-second (I/O thread got %2.0f%% of a "
           "core; %d conns, %d msgs/turn, %.1f msgs/writev)\n",
           mode_name[mode], rate / 1e6, per_cpu / 1e6, 100.0 * cpu / secs, nconns, per_turn,
           writes > 0 ? rate / writes : 0.0);
    fflush(stdout);
    per_cpu_last = per_cpu;
    atomic_store(&cl.stop, true);
    pthread_join(th, NULL);
    for (int i = 0; i < nconns; i++) close(cl.fds[i]);
    close(cl.epfd);
    free(cl.fds);
    td_server_destroy(s);
    return rate;
}

int main(int argc, char **argv)
{
    int nconns = argc > 1 ? atoi(argv[1]) : 1000;
    int per_turn = argc > 2 ? atoi(argv[2]) : 16;
    double seconds = argc > 3 ? atof(argv[3]) : 2.0;
    if (per_turn < 1 || per_turn > 64 || nconns < 1) {
        fprintf(stderr, "usage: bench_net [connections] [frames_per_turn 1..64] [seconds]\n");
        return 2;
    }
    td_log_min_level = TD_LOG_WARN;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)(2 * nconns + 64)) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)(2 * nconns + 64)) {
            nconns = (int)(rl.rlim_cur - 64) / 2;
            fprintf(stderr, "bench_net: fd limit %llu: using %d connections\n", (unsigned long long)rl.rlim_cur, nconns);
        }
    }
    bench_parsers();
    double r1 = run_mode(MODE_SINGLE, nconns, per_turn, seconds), c1 = per_cpu_last;
    double r2 = run_mode(MODE_IOV, nconns, per_turn, seconds), c2 = per_cpu_last;
    double r3 = run_mode(MODE_JOINED, nconns, per_turn, seconds), c3 = per_cpu_last;
    printf("fanout speedup vs 1 frame/write: wall %.1fx (iovecs), %.1fx (joined); per server CPU %.1fx, %.1fx\n",
           r2 / r1, r3 / r1, c1 > 0 ? c2 / c1 : 0, c1 > 0 ? c3 / c1 : 0);
    double load[1];
    if (getloadavg(load, 1) == 1) printf("machine load average during the run: %.1f on %ld cores\n", load[0], sysconf(_SC_NPROCESSORS_ONLN));
    printf("reference (DEPENDENCIES.md, 10k sockets, server alone on a core): 0.06-0.16 M/s unbatched, "
           "2.3-2.5 M/s with 16 joined\n");
    return 0;
}
