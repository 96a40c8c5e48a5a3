/* fuzz_api_cmsg: td_cmsg_parse (client WebSocket messages) on arbitrary bytes. It must never crash or read
 * out of bounds; on success the action is known or named, every symbol and channel is NUL-terminated within
 * its slot, counts are within their caps, the id is valid JSON text; on failure a code and a message are set.
 * Parsing is deterministic (a second parse gives the same answer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/cmsg.h"
#include "core/common.h"

static td_cmsg_t m1, m2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exact-size copy: ASan catches any read past the end */
    memcpy(copy, data, size);
    const char *code1, *code2;
    char e1[160], e2[160];
    int r1 = td_cmsg_parse(copy, size, &m1, &code1, e1, sizeof e1);
    int r2 = td_cmsg_parse(copy, size, &m2, &code2, e2, sizeof e2);
    if (r1 != r2) abort();
    if (r1 == TD_OK) {
        if (m1.nsymbols > TD_CMSG_MAX_SYMBOLS || m1.nchannels > TD_CMSG_MAX_CHANNELS) abort();
        for (size_t i = 0; i < m1.nsymbols; i++)
            if (strnlen(m1.symbols[i], sizeof m1.symbols[i]) >= sizeof m1.symbols[i]) abort();
        for (size_t i = 0; i < m1.nchannels; i++)
            if (strnlen(m1.channels[i], sizeof m1.channels[i]) >= sizeof m1.channels[i]) abort();
        if (strnlen(m1.id, sizeof m1.id) >= sizeof m1.id) abort();
        if (m1.id[0] && m1.id[0] != '"' && (m1.id[0] < '0' || m1.id[0] > '9')) abort();
        if (m1.action != m2.action || m1.nsymbols != m2.nsymbols || m1.interval_ms != m2.interval_ms) abort();
    } else {
        if (r1 != TD_EPROTO || !code1 || !e1[0] || strcmp(code1, code2) != 0 || strcmp(e1, e2) != 0) abort();
    }
    free(copy);
    return 0;
}
