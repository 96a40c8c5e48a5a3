/* fuzz_sim_spec: the --feed sim:... spec parser on arbitrary bytes; never crashes, errors always say why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "feed/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char spec[4096];
    if (size >= sizeof spec) size = sizeof spec - 1;
    memcpy(spec, data, size);
    spec[size] = '\0';
    static td_sim_config_t cfg;
    char err[256] = "";
    td_sim_config_default(&cfg);
    int rc = td_sim_config_parse(&cfg, spec, err, sizeof err);
    if (rc != TD_OK && (rc != TD_EINVAL || err[0] == '\0')) abort();
    return 0;
}
