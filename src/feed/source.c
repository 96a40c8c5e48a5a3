/* source.c: --feed SPEC to a source: the kind before the first ':' picks the opener, the rest is its
 * argument. One table, so a new feed kind is one line here. */
#include "feed/source.h"

#include <stdio.h>
#include <string.h>

#include "feed/itch50.h"
#include "feed/live.h"
#include "feed/lobster.h"
#include "feed/recording.h"
#include "feed/sim.h"

typedef td_source_t *(*opener_fn)(const char *args, char *err, size_t errlen);

static const struct { const char *kind; opener_fn open; const char *usage; } kinds[] = {
    { "binance-futures", td_live_binance_futures_open, "binance-futures:SYM,SYM[;ws=URL;rest=URL;ca=FILE;...] (feed/live.h)" },
    { "binance-spot", td_live_binance_spot_open, "binance-spot:SYM,SYM[;ws=URL;rest=URL;ca=FILE;...] (feed/live.h)" },
    { "coinbase", td_live_coinbase_open, "coinbase:PRODUCT,PRODUCT[;ws=URL;api=advanced|legacy;...] (feed/live.h)" },
    { "itch50", td_itch50_open, "itch50:FILE[,date=YYYY-MM-DD]" },
    { "lobster", td_lobster_open, "lobster:MESSAGE.csv[,ORDERBOOK.csv][,symbol=S][,date=YYYY-MM-DD][,reconcile=0]" },
    { "recording", td_recording_open, "recording:WS_FILE[,HTTP_FILE]" },
    { "sim", td_sim_open, "sim[:symbols=A,B;exchanges=X,Y;rate=N|max;seed=S;gap_every=N;mode=orders|levels|quotes]" },
};

td_source_t *td_source_open(const char *spec, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *args = colon ? colon + 1 : "";
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strlen(kinds[i].kind) == klen && !strncmp(spec, kinds[i].kind, klen)) {
            td_source_t *s = kinds[i].open(args, err, errlen);
            if (s && !s->name[0]) snprintf(s->name, sizeof s->name, "%.*s", (int)(klen < 60 ? klen : 60), spec);
            return s;
        }
    }
    int n = snprintf(err, errlen, "unknown feed kind '%.*s'; known kinds:", (int)klen, spec);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && n > 0 && (size_t)n < errlen; i++)
        n += snprintf(err + n, errlen - (size_t)n, " %s", kinds[i].usage);
    return NULL;
}
