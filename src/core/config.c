/* config.c: flag and config-file parsing into td_config_t (see config.h). Main thread, at start-up. */
#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

#define TD_VERSION "0.1.0"

void td_config_defaults(td_config_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 8080;
    snprintf(c->data_dir, sizeof c->data_dir, "./data");
    c->role = TD_ROLE_ALL;
    c->fsync_ms = 0;
    c->status_interval_ms = 1000;
    c->out_cap = 4u << 20;
    c->slow_close_ms = 5000;
    c->slow_conflate_ms = 250;
    c->max_subscriptions = 200;
    c->coalesce_us = 1000;
}

void td_config_free(td_config_t *c)
{
    for (int i = 0; i < c->nfeeds; i++) td_free(c->feeds[i]);
    c->nfeeds = 0;
}

const char *td_role_name(td_role_t r)
{
    static const char *names[] = { "all", "ingest", "engine", "edge" };
    return (unsigned)r < 4 ? names[r] : "?";
}

void td_config_usage(void)
{
    printf(
        "usage: tickd [OPTIONS]\n"
        "\n"
        "Real-time market data platform: ingests feeds, keeps books, NBBO and candles, serves clients.\n"
        "With no --feed the built-in simulator runs.\n"
        "\n"
        "  --listen HOST:PORT     address to serve HTTP and WebSocket on (default 127.0.0.1:8080)\n"
        "  --data-dir DIR         embedded storage directory (default ./data; created if missing)\n"
        "  --feed SPEC            a feed; repeatable:\n"
        "                           sim[:symbols=AAPL,MSFT;exchanges=NYSE,NASDAQ;rate=N;seed=S]\n"
        "                           lobster:MESSAGE.csv[,ORDERBOOK.csv]\n"
        "                           itch50:FILE\n"
        "                           recording:WS_FILE[,HTTP_FILE]\n"
        "                           binance-spot:SYM,SYM[;ws=URL;rest=URL;ca=FILE;...]\n"
        "                           binance-futures:SYM,SYM[;...]   coinbase:PRODUCT,PRODUCT[;api=advanced|legacy;...]\n"
        "                           (live feed options: src/feed/live.h; spec options use ';', so quote them)\n"
        "  --speed max|N          pace of file feeds: as fast as possible (default) or real time x N\n"
        "  --config FILE          read settings from FILE (`key = value` lines, keys as the long flags)\n"
        "  --role all|ingest|engine|edge   cluster role (only `all` in this version)\n"
        "  --threads N            I/O threads (default: one per core)\n"
        "  --fsync batch|MS|off   store durability: fsync every batch, every MS milliseconds, or never\n"
        "  --tick-ttl DAYS|forever   keep ticks this long (by exchange time; default 2562 = 7 years); older\n"
        "                         day partitions are dropped whole, at start and then hourly\n"
        "  --candle-ttl IV=DAYS[,IV=DAYS...]   candle retention per interval (1s 10s 1m 5m 15m 1h 1d 1w;\n"
        "                         default: every interval forever)\n"
        "  --cold-dir DIR         move partitions older than --cold-after days to DIR (e.g. another disk)\n"
        "  --cold-after DAYS      age at which partitions move to --cold-dir (default 30 with --cold-dir)\n"
        "  --out-cap BYTES        per-connection queued output before a client counts as slow (default 4194304)\n"
        "  --slow-conflate-ms MS  conflation interval forced on a slow client (default 250)\n"
        "  --slow-close-ms MS     a slow client still stuck this long is closed with 1008 (default 5000)\n"
        "  --max-subscriptions N  symbols per WebSocket connection (default 200)\n"
        "  --coalesce-us US       I/O threads drain engine output at most this often; 0 = at every wakeup\n"
        "                         (default 1000: more messages per write, adds at most US of latency)\n"
        "  --status-symbol SYM    symbol whose NBBO the once-a-second status line shows\n"
        "  --status-interval MS   status line period (0 = off; default 1000)\n"
        "  -v, --verbose          debug logging\n"
        "  -h, --help             this text\n"
        "  --version              print the version\n"
        "\n"
        "SIGINT/SIGTERM shut down cleanly (flush, close, exit 0).\n");
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Applies one setting; name without the leading dashes. */
static int apply(td_config_t *c, const char *name, const char *val, char *err, size_t errlen)
{
    long n;
    if (!strcmp(name, "listen")) {
        const char *colon = strrchr(val, ':');
        if (!colon || colon == val || (size_t)(colon - val) >= sizeof c->listen_host ||
            parse_int(colon + 1, 0, 65535, &n) != 0) {
            snprintf(err, errlen, "--listen: expected HOST:PORT, got '%s'", val);
            return TD_EINVAL;
        }
        memcpy(c->listen_host, val, (size_t)(colon - val));
        c->listen_host[colon - val] = '\0';
        c->listen_port = (int)n;
    } else if (!strcmp(name, "data-dir")) {
        if (!*val || strlen(val) >= sizeof c->data_dir) {
            snprintf(err, errlen, "--data-dir: bad path '%s'", val);
            return TD_EINVAL;
        }
        snprintf(c->data_dir, sizeof c->data_dir, "%s", val);
    } else if (!strcmp(name, "feed")) {
        if (c->nfeeds >= TD_MAX_FEEDS) {
            snprintf(err, errlen, "--feed: at most %d feeds", TD_MAX_FEEDS);
            return TD_EINVAL;
        }
        if (!*val) {
            snprintf(err, errlen, "--feed: empty spec");
            return TD_EINVAL;
        }
        c->feeds[c->nfeeds++] = td_strdup(val);
    } else if (!strcmp(name, "role")) {
        const char *roles[] = { "all", "ingest", "engine", "edge" };
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(val, roles[i])) found = i;
        if (found < 0) {
            snprintf(err, errlen, "--role: expected all, ingest, engine or edge, got '%s'", val);
            return TD_EINVAL;
        }
        c->role = (td_role_t)found;
    } else if (!strcmp(name, "threads")) {
        if (parse_int(val, 0, 256, &n) != 0) {
            snprintf(err, errlen, "--threads: expected 0..256, got '%s'", val);
            return TD_EINVAL;
        }
        c->threads = (int)n;
    } else if (!strcmp(name, "fsync")) {
        if (!strcmp(val, "batch")) c->fsync_ms = 0;
        else if (!strcmp(val, "off")) c->fsync_ms = -1;
        else if (parse_int(val, 1, 3600000, &n) == 0) c->fsync_ms = (int)n;
        else {
            snprintf(err, errlen, "--fsync: expected batch, off or milliseconds, got '%s'", val);
            return TD_EINVAL;
        }
    } else if (!strcmp(name, "tick-ttl")) {
        if (!strcmp(val, "forever")) c->tick_ttl_days = -1;
        else if (parse_int(val, 1, 3660000, &n) == 0) c->tick_ttl_days = (int)n;
        else {
            snprintf(err, errlen, "--tick-ttl: expected days (1..3660000) or forever, got '%s'", val);
            return TD_EINVAL;
        }
    } else if (!strcmp(name, "candle-ttl")) {
        if (strlen(val) >= sizeof c->candle_ttl) {
            snprintf(err, errlen, "--candle-ttl: too long");
            return TD_EINVAL;
        }
        snprintf(c->candle_ttl, sizeof c->candle_ttl, "%s", val); /* checked by the store (interval names) */
    } else if (!strcmp(name, "cold-dir")) {
        if (!*val || strlen(val) >= sizeof c->cold_dir) {
            snprintf(err, errlen, "--cold-dir: bad path '%s'", val);
            return TD_EINVAL;
        }
        snprintf(c->cold_dir, sizeof c->cold_dir, "%s", val);
        if (c->cold_after_days == 0) c->cold_after_days = 30;
    } else if (!strcmp(name, "cold-after")) {
        if (parse_int(val, 1, 3660000, &n) != 0) {
            snprintf(err, errlen, "--cold-after: expected days (1..3660000), got '%s'", val);
            return TD_EINVAL;
        }
        c->cold_after_days = (int)n;
    } else if (!strcmp(name, "speed")) {
        char *end;
        double d = strtod(val, &end);
        if (!strcmp(val, "max")) c->speed = 0;
        else if (*val && *end == '\0' && d > 0 && d <= 1e9) c->speed = d;
        else {
            snprintf(err, errlen, "--speed: expected max or a positive number, got '%s'", val);
            return TD_EINVAL;
        }
    } else if (!strcmp(name, "out-cap") || !strcmp(name, "slow-conflate-ms") || !strcmp(name, "slow-close-ms") ||
               !strcmp(name, "max-subscriptions") || !strcmp(name, "coalesce-us")) {
        bool zero_ok = !strcmp(name, "coalesce-us");
        if (parse_int(val, zero_ok ? 0 : 1, 1L << 40, &n) != 0) {
            snprintf(err, errlen, "--%s: expected a %s integer, got '%s'", name, zero_ok ? "non-negative" : "positive",
                     val);
            return TD_EINVAL;
        }
        if (!strcmp(name, "out-cap")) c->out_cap = (size_t)n;
        else if (!strcmp(name, "slow-conflate-ms")) c->slow_conflate_ms = n;
        else if (!strcmp(name, "slow-close-ms")) c->slow_close_ms = n;
        else if (!strcmp(name, "max-subscriptions")) c->max_subscriptions = (size_t)n;
        else c->coalesce_us = n;
    } else if (!strcmp(name, "status-symbol")) {
        snprintf(c->status_symbol, sizeof c->status_symbol, "%s", val);
    } else if (!strcmp(name, "status-interval")) {
        if (parse_int(val, 0, 3600000, &n) != 0) {
            snprintf(err, errlen, "--status-interval: expected milliseconds, got '%s'", val);
            return TD_EINVAL;
        }
        c->status_interval_ms = (int)n;
    } else {
        snprintf(err, errlen, "unknown option '--%s' (see --help)", name);
        return TD_EINVAL;
    }
    return TD_OK;
}

int td_config_load_file(td_config_t *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--config: cannot open '%s': %s", path, strerror(errno));
        return TD_EINVAL;
    }
    char line[2048];
    int lineno = 0, rc = TD_OK;
    while (rc == TD_OK && fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line, *end;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || *p == '\0') continue;
        end = p + strlen(p);
        while (end > p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
        char *sep = p + strcspn(p, " \t=");
        char *val = sep;
        if (*val) {
            *val++ = '\0';
            while (*val == ' ' || *val == '\t' || *val == '=') val++;
        }
        char msg[512];
        rc = apply(c, p, val, msg, sizeof msg);
        if (rc != TD_OK) snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
    }
    fclose(f);
    return rc;
}

int td_config_parse_args(td_config_t *c, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            td_config_usage();
            return 1;
        }
        if (!strcmp(a, "--version")) {
            printf("tickd %s\n", TD_VERSION);
            return 1;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            c->verbose = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
            return TD_EINVAL;
        }
        char name[64];
        const char *val;
        const char *eq = strchr(a + 2, '=');
        if (eq) { /* --name=value */
            size_t len = (size_t)(eq - (a + 2));
            if (len >= sizeof name) len = sizeof name - 1;
            memcpy(name, a + 2, len);
            name[len] = '\0';
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a + 2);
            if (i + 1 >= argc) {
                snprintf(err, errlen, "option '%s' needs a value (see --help)", a);
                return TD_EINVAL;
            }
            val = argv[++i];
        }
        int rc = !strcmp(name, "config") ? td_config_load_file(c, val, err, errlen)
                                         : apply(c, name, val, err, errlen);
        if (rc != TD_OK) return rc;
    }
    return 0;
}
