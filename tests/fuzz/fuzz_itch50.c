/*
 * fuzz_itch50: the ITCH 5.0 decoder and the event mapping on arbitrary bytes.
 *
 * The input is read as a stream of frames, the way the file source reads it: every frame that decodes
 * must re-encode to exactly its bytes and must map without crashing (to 0 or 1 event, or a counted error);
 * the stream stops at the first TD_EAGAIN or TD_EPROTO, which are the only errors the decoder may return.
 * The same bytes are also decoded from every cut point of the first frame to exercise the partial paths.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/log.h"
#include "feed/itch50.h"

static td_itch50_ctx_t ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t frame[TD_ITCH_MAX_FRAME];
    td_log_min_level = TD_LOG_ERROR + 1; /* bad input is the point here: keep stderr quiet */
    td_itch50_ctx_init(&ctx, 1577682000LL * 1000000000LL);
    td_itch_msg_t m;
    size_t pos = 0;
    uint64_t decoded = 0, events = 0;
    while (pos < size) {
        int rc = td_itch50_decode(data + pos, size - pos, &m);
        if (rc == TD_EAGAIN || rc == TD_EPROTO) break;
        if (rc <= 0 || (size_t)rc > size - pos) abort();
        size_t n = td_itch50_encode(&m, frame, sizeof frame);
        if (n != (size_t)rc || memcmp(frame, data + pos, n) != 0) abort();
        td_event_t ev;
        int e = td_itch50_map(&ctx, &m, &ev);
        if (e > 1 || (e < 0 && e != TD_ENOENT && e != TD_EPROTO && e != TD_ERANGE)) abort();
        if (e == 1) {
            if (ev.type == TD_EV_NONE || ev.type >= TD_EV_TYPE_COUNT || ev.sym == 0 || ev.src_seq != decoded + 1)
                abort();
            events++;
        }
        decoded++;
        pos += (size_t)rc;
    }
    if (ctx.counts.messages != decoded || ctx.counts.events != events) abort();
    /* Prefixes of the first frame: never a success past the end, never an overread (ASan). */
    size_t first = size < 64 ? size : 64;
    for (size_t cut = 0; cut < first; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, data, cut);
        int rc = td_itch50_decode(copy, cut, &m);
        if (rc > (int)cut || rc == 0 || (rc < 0 && rc != TD_EAGAIN && rc != TD_EPROTO)) abort();
        free(copy);
    }
    return 0;
}
