/*
 * config.h: tickd's command line and config file (API.md "Command line").
 *
 * A config file holds the same settings as the flags, one per line: `listen = 127.0.0.1:8080`,
 * `feed = sim:rate=50000` (repeatable), `# comments`. Flags given after --config override it; feeds
 * accumulate. Every bad value is an error naming the flag and the value (exit code 2 in main).
 */
#ifndef TD_CONFIG_H
#define TD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define TD_MAX_FEEDS 32

typedef enum td_role { TD_ROLE_ALL = 0, TD_ROLE_INGEST, TD_ROLE_ENGINE, TD_ROLE_EDGE } td_role_t;

typedef struct td_config {
    char listen_host[64];
    int listen_port;
    char data_dir[1024];
    char *feeds[TD_MAX_FEEDS];
    int nfeeds;
    td_role_t role;
    int threads;            /* I/O threads; 0 = one per core */
    int fsync_ms;           /* -1 = off, 0 = every batch, N = every N ms */
    /* store retention (src/store): parsed into td_store_options_t by td_store_apply_retention */
    int tick_ttl_days;      /* 0 = the store's default (7 years), -1 = forever */
    char candle_ttl[256];   /* "IV=DAYS,..." ("" = every interval forever) */
    char cold_dir[512];     /* "" = none */
    int cold_after_days;    /* with cold_dir: partitions older than this move there */
    double speed;           /* file feeds: 0 = as fast as possible, N = real time times N */
    char status_symbol[32]; /* the symbol whose NBBO the status line shows; "" = first seen */
    int status_interval_ms; /* 0 = no status line */
    bool verbose;
    /* serving (src/api) */
    size_t out_cap;           /* per-connection queued output before the slow-consumer policy */
    long long slow_close_ms;  /* a slow consumer still stuck this long after conflation is closed (1008) */
    long long slow_conflate_ms; /* conflation interval forced on a slow consumer */
    size_t max_subscriptions; /* symbols per WebSocket connection */
    long long coalesce_us;    /* I/O threads drain the engine's ring at most this often (0: every wakeup) */
} td_config_t;

void td_config_defaults(td_config_t *c);
void td_config_free(td_config_t *c);
/* Returns 0 when tickd should run, 1 when --help or --version was printed, or TD_EINVAL with a
 * message in err. */
int td_config_parse_args(td_config_t *c, int argc, char **argv, char *err, size_t errlen);
int td_config_load_file(td_config_t *c, const char *path, char *err, size_t errlen);
void td_config_usage(void);
const char *td_role_name(td_role_t r);

#endif
