/* fuzz_decimal: td_dec_parse on arbitrary bytes; whatever parses must print and parse back to itself. */
#include <stdint.h>
#include <stdlib.h>

#include "core/common.h"
#include "core/decimal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t v;
    if (size > 64) size = 64;
    int rc = td_dec_parse((const char *)data, size, &v);
    if (rc == TD_OK) {
        char buf[TD_DEC_BUFSZ];
        size_t n = td_dec_fmt(v, buf);
        int64_t back;
        if (td_dec_parse(buf, n, &back) != TD_OK || back != v) abort();
    } else if (rc != TD_EPROTO && rc != TD_ERANGE) {
        abort();
    }
    return 0;
}
