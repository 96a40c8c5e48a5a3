/*
 * test_itch50.c: ITCH 5.0 decoder, encoder, event mapping and file source.
 *
 * The reference here is an independent transcription of the spec: a table of (wire offset, width, struct
 * member) per message type, read with a naive byte loop. It checks the decoder field by field, builds
 * random messages for the round trips, and checks that the table itself covers every body byte once.
 * Golden values for the real sample come from SOURCE.md and from reading the file's bytes directly.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/common.h"
#include "core/decimal.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/symbols.h"
#include "feed/itch50.h"

#define SAMPLE "nasdaq_itch50/sample_1000msgs.itch"
#define SAMPLE_BYTES 40874

/* ---- the reference table ------------------------------------------------------------------------- */

typedef struct {
    uint8_t off, width;   /* in the body */
    uint16_t soff;        /* offsetof in td_itch_msg_t */
    uint8_t ssize;        /* sizeof the member */
    uint8_t alpha;        /* raw bytes, not a big-endian integer */
} field_t;

typedef struct {
    char type;
    uint8_t len;
    field_t f[12];
} spec_t;

#define MSZ(member) sizeof(((td_itch_msg_t *)0)->u.member)
#define FI(off, width, member) { off, width, offsetof(td_itch_msg_t, u.member), MSZ(member), 0 }
#define FA(off, width, member) { off, width, offsetof(td_itch_msg_t, u.member), MSZ(member), 1 }

static const spec_t specs[] = {
    { 'S', 12, { FI(11, 1, system_event.event_code) } },
    { 'R', 39, { FA(11, 8, stock_directory.stock), FI(19, 1, stock_directory.market_category),
                 FI(20, 1, stock_directory.financial_status), FI(21, 4, stock_directory.round_lot_size),
                 FI(25, 1, stock_directory.round_lots_only), FI(26, 1, stock_directory.issue_classification),
                 FA(27, 2, stock_directory.issue_subtype), FI(29, 1, stock_directory.authenticity),
                 FI(30, 1, stock_directory.short_sale_threshold), FI(31, 1, stock_directory.ipo_flag),
                 FI(32, 1, stock_directory.luld_ref_price_tier), FI(33, 1, stock_directory.etp_flag) } },
    /* R continues below (more than 12 fields): see specs_r_tail */
    { 'H', 25, { FA(11, 8, trading_action.stock), FI(19, 1, trading_action.trading_state),
                 FI(20, 1, trading_action.reserved), FA(21, 4, trading_action.reason) } },
    { 'Y', 20, { FA(11, 8, reg_sho.stock), FI(19, 1, reg_sho.reg_sho_action) } },
    { 'L', 26, { FA(11, 4, mpp_position.mpid), FA(15, 8, mpp_position.stock),
                 FI(23, 1, mpp_position.primary_market_maker), FI(24, 1, mpp_position.market_maker_mode),
                 FI(25, 1, mpp_position.market_participant_state) } },
    { 'V', 35, { FI(11, 8, mwcb_decline.level1), FI(19, 8, mwcb_decline.level2),
                 FI(27, 8, mwcb_decline.level3) } },
    { 'W', 12, { FI(11, 1, mwcb_status.breached_level) } },
    { 'K', 28, { FA(11, 8, ipo_quoting.stock), FI(19, 4, ipo_quoting.release_time),
                 FI(23, 1, ipo_quoting.release_qualifier), FI(24, 4, ipo_quoting.ipo_price) } },
    { 'J', 35, { FA(11, 8, luld_collar.stock), FI(19, 4, luld_collar.ref_price), FI(23, 4, luld_collar.upper_price),
                 FI(27, 4, luld_collar.lower_price), FI(31, 4, luld_collar.extension) } },
    { 'h', 21, { FA(11, 8, operational_halt.stock), FI(19, 1, operational_halt.market_code),
                 FI(20, 1, operational_halt.halt_action) } },
    { 'A', 36, { FI(11, 8, add_order.order_ref), FI(19, 1, add_order.side), FI(20, 4, add_order.shares),
                 FA(24, 8, add_order.stock), FI(32, 4, add_order.price) } },
    { 'F', 40, { FI(11, 8, add_order.order_ref), FI(19, 1, add_order.side), FI(20, 4, add_order.shares),
                 FA(24, 8, add_order.stock), FI(32, 4, add_order.price), FA(36, 4, add_order.attribution) } },
    { 'E', 31, { FI(11, 8, order_executed.order_ref), FI(19, 4, order_executed.executed_shares),
                 FI(23, 8, order_executed.match_number) } },
    { 'C', 36, { FI(11, 8, order_executed.order_ref), FI(19, 4, order_executed.executed_shares),
                 FI(23, 8, order_executed.match_number), FI(31, 1, order_executed.printable),
                 FI(32, 4, order_executed.execution_price) } },
    { 'X', 23, { FI(11, 8, order_cancel.order_ref), FI(19, 4, order_cancel.cancelled_shares) } },
    { 'D', 19, { FI(11, 8, order_delete.order_ref) } },
    { 'U', 35, { FI(11, 8, order_replace.original_order_ref), FI(19, 8, order_replace.new_order_ref),
                 FI(27, 4, order_replace.shares), FI(31, 4, order_replace.price) } },
    { 'P', 44, { FI(11, 8, trade.order_ref), FI(19, 1, trade.side), FI(20, 4, trade.shares),
                 FA(24, 8, trade.stock), FI(32, 4, trade.price), FI(36, 8, trade.match_number) } },
    { 'Q', 40, { FI(11, 8, cross_trade.shares), FA(19, 8, cross_trade.stock), FI(27, 4, cross_trade.cross_price),
                 FI(31, 8, cross_trade.match_number), FI(39, 1, cross_trade.cross_type) } },
    { 'B', 19, { FI(11, 8, broken_trade.match_number) } },
    { 'I', 50, { FI(11, 8, noii.paired_shares), FI(19, 8, noii.imbalance_shares),
                 FI(27, 1, noii.imbalance_direction), FA(28, 8, noii.stock), FI(36, 4, noii.far_price),
                 FI(40, 4, noii.near_price), FI(44, 4, noii.current_ref_price), FI(48, 1, noii.cross_type),
                 FI(49, 1, noii.price_variation) } },
    { 'N', 20, { FA(11, 8, rpii.stock), FI(19, 1, rpii.interest_flag) } },
    { 'O', 48, { FA(11, 8, dlcr.stock), FI(19, 1, dlcr.open_eligibility), FI(20, 4, dlcr.min_allowable_price),
                 FI(24, 4, dlcr.max_allowable_price), FI(28, 4, dlcr.near_execution_price),
                 FI(32, 8, dlcr.near_execution_time), FI(40, 4, dlcr.lower_price_collar),
                 FI(44, 4, dlcr.upper_price_collar) } },
};
static const field_t specs_r_tail[] = { FI(34, 4, stock_directory.etp_leverage_factor),
                                        FI(38, 1, stock_directory.inverse_indicator) };
static const char all_types[] = "SRHYLVWKJhAFECXDUPQBINO";

static const spec_t *spec_of(char type)
{
    for (size_t i = 0; i < TD_ARRAY_LEN(specs); i++)
        if (specs[i].type == type) return &specs[i];
    return NULL;
}

/* Fields of a type (the table plus R's tail) through a callback-free iterator. */
static size_t fields_of(char type, field_t *out)
{
    const spec_t *s = spec_of(type);
    size_t n = 0;
    for (size_t i = 0; i < TD_ARRAY_LEN(s->f) && s->f[i].width; i++) out[n++] = s->f[i];
    if (type == 'R')
        for (size_t i = 0; i < TD_ARRAY_LEN(specs_r_tail); i++) out[n++] = specs_r_tail[i];
    return n;
}

static uint64_t rd_be(const uint8_t *p, int width)
{
    uint64_t v = 0;
    for (int i = 0; i < width; i++) v = v << 8 | p[i];
    return v;
}

static uint64_t rd_member(const td_itch_msg_t *m, const field_t *f)
{
    const uint8_t *p = (const uint8_t *)m + f->soff;
    switch (f->ssize) {
    case 1: return *p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static void wr_member(td_itch_msg_t *m, const field_t *f, uint64_t v)
{
    uint8_t *p = (uint8_t *)m + f->soff;
    switch (f->ssize) {
    case 1: *p = (uint8_t)v; break;
    case 2: { uint16_t w = (uint16_t)v; memcpy(p, &w, 2); break; }
    case 4: { uint32_t w = (uint32_t)v; memcpy(p, &w, 4); break; }
    default: memcpy(p, &v, 8); break;
    }
}

/* Checks every field of m against the body bytes, read naively. */
static void check_fields(const uint8_t *body, size_t len, const td_itch_msg_t *m)
{
    TD_CHECK(m->type == body[0], "type %c vs %c", m->type, body[0]);
    TD_CHECK(td_itch50_body_len(body[0]) == len, "len %zu", len);
    TD_CHECK(m->stock_locate == rd_be(body + 1, 2), "type %c locate", body[0]);
    TD_CHECK(m->tracking_number == rd_be(body + 3, 2), "type %c tracking", body[0]);
    TD_CHECK(m->timestamp == rd_be(body + 5, 6), "type %c timestamp", body[0]);
    field_t f[16];
    size_t n = fields_of((char)body[0], f);
    for (size_t i = 0; i < n; i++) {
        if (f[i].alpha) {
            TD_CHECK(memcmp((const uint8_t *)m + f[i].soff, body + f[i].off, f[i].width) == 0,
                     "type %c alpha field at %u", body[0], f[i].off);
        } else {
            TD_CHECK(rd_member(m, &f[i]) == rd_be(body + f[i].off, f[i].width),
                     "type %c field at %u: %llu vs %llu", body[0], f[i].off,
                     (unsigned long long)rd_member(m, &f[i]), (unsigned long long)rd_be(body + f[i].off, f[i].width));
        }
    }
}

/* Builds the struct for a body through the table alone (no decoder). */
static void msg_from_body(const uint8_t *body, td_itch_msg_t *m)
{
    memset(m, 0, sizeof *m);
    m->type = body[0];
    m->stock_locate = (uint16_t)rd_be(body + 1, 2);
    m->tracking_number = (uint16_t)rd_be(body + 3, 2);
    m->timestamp = rd_be(body + 5, 6);
    field_t f[16];
    size_t n = fields_of((char)body[0], f);
    for (size_t i = 0; i < n; i++) {
        if (f[i].alpha) memcpy((uint8_t *)m + f[i].soff, body + f[i].off, f[i].width);
        else wr_member(m, &f[i], rd_be(body + f[i].off, f[i].width));
    }
}

static size_t random_body(td_rng_t *rng, char type, uint8_t *body)
{
    size_t len = td_itch50_body_len((uint8_t)type);
    for (size_t i = 0; i < len; i++) body[i] = (uint8_t)td_rng_next(rng);
    body[0] = (uint8_t)type;
    return len;
}

/* ---- helpers -------------------------------------------------------------------------------------- */

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s (is TD_SHARED_DATA set?)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = td_malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void write_file(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static char tmpdir[256];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_itch50.XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    td_log_min_level = TD_LOG_ERROR + 1; /* the tests provoke warnings on purpose */
    return 0;
}

static int teardown_tmp(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the reference table itself ------------------------------------------------------------------ */

static void test_table_covers_every_byte(void **state)
{
    (void)state;
    for (const char *t = all_types; *t; t++) {
        const spec_t *s = spec_of(*t);
        assert_non_null(s);
        assert_int_equal(td_itch50_body_len((uint8_t)*t), s->len);
        uint8_t seen[64] = { 0 };
        for (int i = 0; i < TD_ITCH_HEADER_LEN; i++) seen[i] = 1;
        field_t f[16];
        size_t n = fields_of(*t, f);
        for (size_t i = 0; i < n; i++) {
            if (f[i].alpha) assert_int_equal(f[i].width, f[i].ssize);
            else assert_true(f[i].ssize >= f[i].width);
            for (int b = 0; b < f[i].width; b++) {
                if (seen[f[i].off + b]) fail_msg("type %c: byte %d twice", *t, f[i].off + b);
                seen[f[i].off + b] = 1;
            }
        }
        for (int b = 0; b < s->len; b++)
            if (!seen[b]) fail_msg("type %c: byte %d not covered", *t, b);
    }
    /* Every other type byte is unknown. */
    int known = 0;
    for (int c = 0; c < 256; c++) known += td_itch50_body_len((uint8_t)c) != 0;
    assert_int_equal(known, (int)strlen(all_types));
}

/* ---- golden test on the real sample -------------------------------------------------------------- */

static void test_sample_golden(void **state)
{
    (void)state;
    size_t size;
    uint8_t *buf = read_file(td_test_data_path(SAMPLE), &size);
    assert_int_equal(size, SAMPLE_BYTES);
    size_t pos = 0, count = 0;
    int per_type[256] = { 0 };
    uint8_t frame[TD_ITCH_MAX_FRAME];
    while (pos < size) {
        td_itch_msg_t m;
        int rc = td_itch50_decode(buf + pos, size - pos, &m);
        if (rc <= 0) fail_msg("message %zu at offset %zu: rc %d", count + 1, pos, rc);
        assert_int_equal(rc, 2 + rd_be(buf + pos, 2));
        check_fields(buf + pos + 2, (size_t)rc - 2, &m);
        /* encode(decode(bytes)) == bytes */
        size_t n = td_itch50_encode(&m, frame, sizeof frame);
        assert_int_equal(n, (size_t)rc);
        assert_memory_equal(frame, buf + pos, n);
        per_type[m.type]++;
        count++;
        if (m.type == 'S') {
            assert_int_equal(count, 1);
            assert_int_equal(m.u.system_event.event_code, 'O');
            /* 03:04:32.057 ET, per SOURCE.md */
            assert_int_equal(m.timestamp / 1000000, (3 * 3600 + 4 * 60 + 32) * 1000 + 57);
            assert_int_equal(m.stock_locate, 0);
        }
        if (m.type == 'R') {
            /* R messages define locates 1..993 in order. */
            assert_int_equal(m.stock_locate, per_type['R']);
            if (m.stock_locate == 1) {
                assert_int_equal(pos, 14); /* right after the 14-byte S frame */
                const uint8_t *b = buf + pos + 2;
                assert_memory_equal(m.u.stock_directory.stock, "A       ", 8);
                assert_memory_equal(b + 11, "A       ", 8);
                assert_int_equal(m.u.stock_directory.market_category, 'N');
                assert_int_equal(m.u.stock_directory.financial_status, ' ');
                assert_int_equal(m.u.stock_directory.round_lot_size, 100);
                assert_int_equal(rd_be(b + 21, 4), 100);
                assert_int_equal(m.u.stock_directory.round_lots_only, 'N');
                assert_int_equal(m.u.stock_directory.issue_classification, 'C');
                assert_memory_equal(m.u.stock_directory.issue_subtype, "Z ", 2);
                assert_int_equal(m.u.stock_directory.authenticity, 'P');
                assert_int_equal(m.u.stock_directory.luld_ref_price_tier, '1');
                assert_int_equal(m.u.stock_directory.etp_leverage_factor, 0);
                assert_int_equal(m.u.stock_directory.inverse_indicator, 'N');
            }
            if (m.stock_locate == 2) assert_memory_equal(m.u.stock_directory.stock, "AA      ", 8);
            if (m.stock_locate == 3) assert_memory_equal(m.u.stock_directory.stock, "AAAU    ", 8);
            if (m.stock_locate == 500) assert_memory_equal(m.u.stock_directory.stock, "ARKK    ", 8);
            if (m.stock_locate == 993) {
                assert_memory_equal(m.u.stock_directory.stock, "BPFH    ", 8);
                assert_int_equal(pos, 40833);
            }
        }
        if (m.type == 'H') {
            assert_true(m.stock_locate >= 1 && m.stock_locate <= 3);
            assert_int_equal(m.u.trading_action.trading_state, 'T');
            assert_memory_equal(m.u.trading_action.reason, "    ", 4);
        }
        pos += (size_t)rc;
    }
    assert_int_equal(pos, size); /* ends on a boundary */
    assert_int_equal(count, 1000);
    assert_int_equal(per_type['S'], 1);
    assert_int_equal(per_type['R'], 993);
    assert_int_equal(per_type['H'], 3);
    assert_int_equal(per_type['Y'], 3);
    td_free(buf);
}

/* ---- round trips ---------------------------------------------------------------------------------- */

static void test_round_trip_random(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    int rounds = td_test_sanitized() ? 2000 : 20000;
    uint8_t body[64], frame[128];
    for (int i = 0; i < rounds; i++) {
        char type = all_types[i % (int)strlen(all_types)];
        size_t len = random_body(&rng, type, body);
        td_itch_msg_t x, y;
        msg_from_body(body, &x);
        /* encode(x) is the body, framed */
        size_t n = td_itch50_encode(&x, frame, sizeof frame);
        TD_CHECK(n == 2 + len, "type %c: encoded %zu bytes", type, n);
        TD_CHECK(rd_be(frame, 2) == len && memcmp(frame + 2, body, len) == 0, "type %c: encoded bytes differ", type);
        /* decode(encode(x)) == x, field by field */
        memset(&y, 0xa5, sizeof y);
        int rc = td_itch50_decode(frame, n, &y);
        TD_CHECK(rc == (int)n, "type %c: decode rc %d", type, rc);
        check_fields(body, len, &y);
        /* a timestamp past 48 bits is refused, not wrapped */
        x.timestamp |= 1ULL << 48;
        TD_CHECK(td_itch50_encode(&x, frame, sizeof frame) == 0, "type %c: 49-bit timestamp encoded", type);
        x.timestamp &= (1ULL << 48) - 1;
        /* a too-small buffer is refused, not overrun */
        TD_CHECK(td_itch50_encode(&x, frame, n - 1) == 0, "type %c: encode into %zu bytes", type, n - 1);
        /* every strict prefix of the frame needs more input */
        size_t cut = (size_t)td_rng_below(&rng, n);
        TD_CHECK(td_itch50_decode(frame, cut, &y) == TD_EAGAIN, "type %c: prefix %zu", type, cut);
    }
}

/* ---- incremental parsing -------------------------------------------------------------------------- */

/* A stream of every type (and some unknown ones) as one buffer. */
static uint8_t *mixed_stream(td_rng_t *rng, size_t count, size_t *size)
{
    uint8_t *buf = td_malloc(count * 64);
    size_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        if (td_rng_below(rng, 20) == 0) { /* unknown type, any length 1..40 */
            size_t len = 1 + td_rng_below(rng, 40);
            uint8_t code;
            do code = (uint8_t)td_rng_next(rng); while (td_itch50_body_len(code));
            buf[pos] = 0, buf[pos + 1] = (uint8_t)len, buf[pos + 2] = code;
            for (size_t k = 1; k < len; k++) buf[pos + 2 + k] = (uint8_t)td_rng_next(rng);
            pos += 2 + len;
            continue;
        }
        char type = all_types[td_rng_below(rng, strlen(all_types))];
        size_t len = random_body(rng, type, buf + pos + 2);
        buf[pos] = 0, buf[pos + 1] = (uint8_t)len;
        pos += 2 + len;
    }
    *size = pos;
    return buf;
}

/* Feeds `data` through a small receive buffer in random-sized chunks, re-encoding every message. */
static void chunked_matches(td_rng_t *rng, const uint8_t *data, size_t size)
{
    uint8_t *win = td_malloc(size + 8); /* what has arrived and is not yet consumed */
    uint8_t *out = td_malloc(size + 8);
    size_t have = 0, fed = 0, outn = 0, consumed_total = 0;
    while (consumed_total < size) {
        td_itch_msg_t m;
        int rc = td_itch50_decode(win, have, &m);
        if (rc == TD_EAGAIN) {
            TD_CHECK(fed < size, "EAGAIN with the whole stream fed (%zu left)", have);
            size_t chunk = 1 + td_rng_below(rng, td_rng_below(rng, 2) ? 8 : 200);
            if (chunk > size - fed) chunk = size - fed;
            memcpy(win + have, data + fed, chunk);
            have += chunk, fed += chunk;
            continue;
        }
        TD_CHECK(rc > 0 && (size_t)rc <= have, "rc %d with %zu bytes at offset %zu", rc, have, consumed_total);
        size_t n = td_itch50_encode(&m, out + outn, size + 8 - outn);
        TD_CHECK(n == (size_t)rc, "re-encoded %zu of %d bytes", n, rc);
        outn += n;
        memmove(win, win + rc, have - (size_t)rc);
        have -= (size_t)rc;
        consumed_total += (size_t)rc;
    }
    TD_CHECK(outn == size && memcmp(out, data, size) == 0, "chunked re-encoding differs");
    td_free(win);
    td_free(out);
}

static void test_incremental_chunks(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    size_t size;
    uint8_t *sample = read_file(td_test_data_path(SAMPLE), &size);
    for (int r = 0; r < 5; r++) chunked_matches(&rng, sample, size);
    td_free(sample);
    uint8_t *mixed = mixed_stream(&rng, td_test_sanitized() ? 2000 : 20000, &size);
    chunked_matches(&rng, mixed, size);
    td_free(mixed);
}

/* ---- malformed input ------------------------------------------------------------------------------ */

static void test_malformed(void **state)
{
    (void)state;
    td_itch_msg_t m;
    const uint8_t zero[] = { 0, 0, 'A', 1, 2, 3 };
    assert_int_equal(td_itch50_decode(zero, 0, &m), TD_EAGAIN);
    assert_int_equal(td_itch50_decode(zero, 1, &m), TD_EAGAIN);
    assert_int_equal(td_itch50_decode(zero, 2, &m), TD_EPROTO); /* zero length */
    assert_int_equal(td_itch50_decode(zero, sizeof zero, &m), TD_EPROTO);
    /* A zero length followed by an unknown type byte (fuzzer regression: the type byte belongs to the
     * next frame and must not be read as this one's). */
    const uint8_t zero_unknown[] = { 0, 0, 'Z', 0 };
    assert_int_equal(td_itch50_decode(zero_unknown, 2, &m), TD_EPROTO);
    assert_int_equal(td_itch50_decode(zero_unknown, sizeof zero_unknown, &m), TD_EPROTO);
    for (int c = 0; c < 256; c++) {
        uint8_t z[3] = { 0, 0, (uint8_t)c };
        assert_int_equal(td_itch50_decode(z, 3, &m), TD_EPROTO);
    }
    const uint8_t one[] = { 0, 1 };
    assert_int_equal(td_itch50_decode(one, 2, &m), TD_EAGAIN);

    /* A known type with a wrong length is bad as soon as the type byte is visible. */
    uint8_t buf[300] = { 0 };
    for (const char *t = all_types; *t; t++) {
        size_t want = td_itch50_body_len((uint8_t)*t);
        size_t wrong[] = { want - 1, want + 1, 1, 255 };
        for (size_t i = 0; i < TD_ARRAY_LEN(wrong); i++) {
            buf[0] = 0, buf[1] = (uint8_t)wrong[i], buf[2] = (uint8_t)*t;
            assert_int_equal(td_itch50_decode(buf, 3, &m), TD_EPROTO);
            assert_int_equal(td_itch50_decode(buf, 2 + wrong[i], &m), TD_EPROTO);
            assert_int_equal(td_itch50_decode(buf, 2, &m), TD_EAGAIN);
        }
        /* right length, truncated: EAGAIN at every cut */
        buf[1] = (uint8_t)want;
        for (size_t cut = 0; cut < 2 + want; cut++) assert_int_equal(td_itch50_decode(buf, cut, &m), TD_EAGAIN);
        assert_int_equal(td_itch50_decode(buf, 2 + want, &m), (int)(2 + want));
    }

    /* An unknown type is skipped whole, and re-encodes to itself. */
    const uint8_t unk[] = { 0, 5, 'Z', 1, 2, 3, 4, 0, 1, 'Z' };
    assert_int_equal(td_itch50_decode(unk, 6, &m), TD_EAGAIN);
    assert_int_equal(td_itch50_decode(unk, sizeof unk, &m), 7);
    assert_int_equal(m.type, TD_ITCH_UNKNOWN);
    assert_int_equal(m.u.unknown.code, 'Z');
    assert_int_equal(m.u.unknown.len, 5);
    assert_ptr_equal(m.u.unknown.body, unk + 2);
    uint8_t out[16];
    assert_int_equal(td_itch50_encode(&m, out, sizeof out), 7);
    assert_memory_equal(out, unk, 7);
    assert_int_equal(td_itch50_decode(unk + 7, 3, &m), 3); /* 1-byte unknown body */
    /* An unknown type byte in a struct without a body is not encodable. */
    m.type = 'Z';
    assert_int_equal(td_itch50_encode(&m, out, sizeof out), 0);

    /* Random garbage: only the three outcomes, never past the buffer (ASan), re-encodes exactly. */
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    int rounds = td_test_sanitized() ? 20000 : 200000;
    uint8_t frame[TD_ITCH_MAX_FRAME];
    for (int i = 0; i < rounds; i++) {
        size_t n = td_rng_below(&rng, 64);
        uint8_t *g = td_malloc(n ? n : 1); /* exact size, so ASan sees any overread */
        for (size_t k = 0; k < n; k++) g[k] = (uint8_t)td_rng_next(&rng);
        if (n >= 3 && td_rng_below(&rng, 2)) { /* make it plausible half the time */
            g[2] = (uint8_t)all_types[td_rng_below(&rng, strlen(all_types))];
            g[0] = 0;
            if (td_rng_below(&rng, 2)) g[1] = (uint8_t)td_itch50_body_len(g[2]);
        }
        int rc = td_itch50_decode(g, n, &m);
        TD_CHECK(rc == TD_EAGAIN || rc == TD_EPROTO || (rc > 0 && (size_t)rc <= n), "rc %d for %zu bytes", rc, n);
        if (rc > 0) {
            TD_CHECK(td_itch50_encode(&m, frame, sizeof frame) == (size_t)rc && memcmp(frame, g, (size_t)rc) == 0,
                     "garbage that decodes must re-encode to itself");
        }
        td_free(g);
    }
}

/* ---- session time ----------------------------------------------------------------------------------- */

static void test_midnight(void **state)
{
    (void)state;
    struct { int y, m, d; int64_t want_s; } cases[] = {
        { 2019, 12, 30, 1577682000 }, { 2019, 7, 30, 1564459200 }, { 2019, 3, 10, 1552194000 },
        { 2019, 3, 11, 1552276800 },  { 2019, 11, 3, 1572753600 }, { 2019, 11, 4, 1572843600 },
        { 1970, 1, 1, 18000 },        { 2006, 4, 2, 1143954000 },  { 2006, 4, 3, 1144036800 },
        { 2006, 10, 29, 1162094400 }, { 2006, 10, 30, 1162184400 },
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(cases); i++) {
        int64_t ns = 0;
        assert_int_equal(td_itch50_midnight_ns(cases[i].y, cases[i].m, cases[i].d, &ns), TD_OK);
        if (ns != cases[i].want_s * 1000000000LL)
            fail_msg("%04d-%02d-%02d: %lld, want %lld s", cases[i].y, cases[i].m, cases[i].d,
                     (long long)(ns / 1000000000LL), (long long)cases[i].want_s);
    }
    int64_t ns;
    assert_int_equal(td_itch50_midnight_ns(2019, 2, 29, &ns), TD_EINVAL);
    assert_int_equal(td_itch50_midnight_ns(2020, 2, 29, &ns), TD_OK);
    assert_int_equal(td_itch50_midnight_ns(2019, 13, 1, &ns), TD_EINVAL);
    assert_int_equal(td_itch50_midnight_ns(2019, 4, 31, &ns), TD_EINVAL);
    assert_int_equal(td_itch50_midnight_ns(1969, 12, 31, &ns), TD_EINVAL);

    /* Against the system's tz database, when it has New York: every day of 1970..2037 but the 1974-75
     * energy-crisis years, which itch50.h says are not special-cased. */
    struct stat st;
    if (stat("/usr/share/zoneinfo/America/New_York", &st) != 0) return;
    char *old = getenv("TZ") ? td_strdup(getenv("TZ")) : NULL;
    setenv("TZ", "America/New_York", 1);
    tzset();
    for (int y = 1970; y <= 2037; y++)
        for (int mo = 1; mo <= 12; mo++)
            for (int d = 1; d <= 31; d++) {
                if (y == 1974 || y == 1975 || td_itch50_midnight_ns(y, mo, d, &ns) != TD_OK) continue;
                struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_isdst = -1 };
                time_t t = mktime(&tm);
                if ((int64_t)t * 1000000000LL != ns)
                    fail_msg("%04d-%02d-%02d: %lld vs mktime %lld", y, mo, d, (long long)(ns / 1000000000LL),
                             (long long)t);
            }
    if (old) setenv("TZ", old, 1), td_free(old);
    else unsetenv("TZ");
    tzset();
}

/* ---- mapping ---------------------------------------------------------------------------------------- */

static td_itch_msg_t hdr(char type, uint16_t locate, uint64_t ts)
{
    td_itch_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = (uint8_t)type;
    m.stock_locate = locate;
    m.timestamp = ts;
    return m;
}

static td_itch_msg_t dir_msg(uint16_t locate, const char *name8)
{
    td_itch_msg_t m = hdr('R', locate, 1000);
    memcpy(m.u.stock_directory.stock, name8, 8);
    return m;
}

static void test_map_orders(void **state)
{
    (void)state;
    td_itch50_ctx_t *ctx = td_malloc(sizeof *ctx);
    int64_t midnight;
    assert_int_equal(td_itch50_midnight_ns(2019, 12, 30, &midnight), TD_OK);
    td_itch50_ctx_init(ctx, midnight);
    uint8_t nasdaq = td_exch_lookup("NASDAQ", 6);
    assert_true(nasdaq != 0);
    td_event_t ev;
    uint64_t seq = 0;

    td_itch_msg_t m = dir_msg(7, "TDTEST  ");
    assert_int_equal(td_itch50_map(ctx, &m, &ev), 0);
    seq++;
    uint32_t sym = td_sym_lookup("TDTEST", 6);
    assert_true(sym != 0);

    const uint64_t ts = 34200000000000ULL; /* 09:30:00 */
#define EXPECT_EV(etype, eside, eflags)                                                              \
    do {                                                                                             \
        assert_int_equal(td_itch50_map(ctx, &m, &ev), 1);                                            \
        seq++;                                                                                       \
        assert_int_equal(ev.type, etype);                                                            \
        assert_int_equal(ev.side, eside);                                                            \
        assert_int_equal(ev.flags, eflags);                                                          \
        assert_int_equal(ev.sym, sym);                                                               \
        assert_int_equal(ev.exch, nasdaq);                                                           \
        assert_int_equal(ev.src_seq, seq);                                                           \
        assert_int_equal(ev.exch_ns, midnight + (int64_t)ts);                                        \
        assert_int_equal(ev.recv_ns, 0);                                                             \
    } while (0)

    m = hdr('A', 7, ts);
    m.u.add_order = (td_itch_add_order_t){ .order_ref = 42, .side = 'B', .shares = 300, .price = 1234500 };
    memcpy(m.u.add_order.stock, "TDTEST  ", 8);
    EXPECT_EV(TD_EV_ORDER_ADD, TD_BID, 0);
    assert_int_equal(ev.u.order.price, 12345000000LL); /* $123.45 */
    assert_int_equal(ev.u.order.qty, 300 * TD_DEC_SCALE);
    assert_int_equal(ev.u.order.order_id, 42);
    assert_int_equal(ev.u.order.new_order_id, 0);

    m.type = 'F';
    m.u.add_order.side = 'S';
    memcpy(m.u.add_order.attribution, "GSCO", 4);
    EXPECT_EV(TD_EV_ORDER_ADD, TD_ASK, 0);

    m = hdr('E', 7, ts);
    m.u.order_executed = (td_itch_order_executed_t){ .order_ref = 42, .executed_shares = 100, .match_number = 9 };
    EXPECT_EV(TD_EV_ORDER_EXEC, TD_SIDE_NONE, 0);
    assert_int_equal(ev.u.order.price, 0);
    assert_int_equal(ev.u.order.qty, 100 * TD_DEC_SCALE);
    assert_int_equal(ev.u.order.order_id, 42);

    m.type = 'C';
    m.u.order_executed.printable = 'Y';
    m.u.order_executed.execution_price = 1234600;
    EXPECT_EV(TD_EV_ORDER_EXEC, TD_SIDE_NONE, 0);
    assert_int_equal(ev.u.order.price, 12346000000LL);
    m.u.order_executed.printable = 'N';
    EXPECT_EV(TD_EV_ORDER_EXEC, TD_SIDE_NONE, TD_EVF_NONPRINT);

    m = hdr('X', 7, ts);
    m.u.order_cancel = (td_itch_order_cancel_t){ .order_ref = 42, .cancelled_shares = 50 };
    EXPECT_EV(TD_EV_ORDER_CANCEL, TD_SIDE_NONE, 0);
    assert_int_equal(ev.u.order.qty, 50 * TD_DEC_SCALE);
    assert_int_equal(ev.u.order.order_id, 42);

    m = hdr('U', 7, ts);
    m.u.order_replace = (td_itch_order_replace_t){ .original_order_ref = 42, .new_order_ref = 43, .shares = 10,
                                                   .price = 1000 };
    EXPECT_EV(TD_EV_ORDER_REPLACE, TD_SIDE_NONE, 0);
    assert_int_equal(ev.u.order.order_id, 42);
    assert_int_equal(ev.u.order.new_order_id, 43);
    assert_int_equal(ev.u.order.price, 10000000); /* $0.10 */
    assert_int_equal(ev.u.order.qty, 10 * TD_DEC_SCALE);

    m = hdr('D', 7, ts);
    m.u.order_delete.order_ref = 43;
    EXPECT_EV(TD_EV_ORDER_DELETE, TD_SIDE_NONE, 0);
    assert_int_equal(ev.u.order.order_id, 43);

    m = hdr('P', 7, ts);
    m.u.trade = (td_itch_trade_t){ .order_ref = 0, .side = 'B', .shares = 77, .price = 500000, .match_number = 1001 };
    EXPECT_EV(TD_EV_TRADE, TD_SIDE_NONE, TD_EVF_HIDDEN);
    assert_int_equal(ev.u.trade.price, 5000000000LL);
    assert_int_equal(ev.u.trade.qty, 77 * TD_DEC_SCALE);
    assert_int_equal(ev.u.trade.trade_id, 1001);

    m = hdr('Q', 7, ts);
    m.u.cross_trade = (td_itch_cross_trade_t){ .shares = 5000000000ULL, .cross_price = 99990000,
                                               .match_number = 1002, .cross_type = 'O' };
    EXPECT_EV(TD_EV_TRADE, TD_SIDE_NONE, TD_EVF_CROSS);
    assert_int_equal(ev.u.trade.price, 999900000000LL);
    assert_int_equal(ev.u.trade.qty, 5000000000LL * TD_DEC_SCALE);
    assert_int_equal(ev.u.trade.trade_id, 1002);
    m.u.cross_trade.shares = 0; /* no cross took place */
    assert_int_equal(td_itch50_map(ctx, &m, &ev), 0), seq++;
    assert_int_equal(ctx->counts.empty_crosses, 1);
    m.u.cross_trade.shares = UINT64_MAX;
    assert_int_equal(td_itch50_map(ctx, &m, &ev), TD_ERANGE), seq++;

    /* H: each trading state */
    const struct { char code; uint32_t state; } states[] = {
        { 'H', TD_STATE_HALTED }, { 'P', TD_STATE_PAUSED }, { 'Q', TD_STATE_QUOTATION }, { 'T', TD_STATE_TRADING },
        { 'Z', TD_STATE_UNKNOWN },
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(states); i++) {
        m = hdr('H', 7, ts);
        memcpy(m.u.trading_action.stock, "TDTEST  ", 8);
        m.u.trading_action.trading_state = (uint8_t)states[i].code;
        memcpy(m.u.trading_action.reason, "LUDP", 4);
        EXPECT_EV(TD_EV_STATUS, TD_SIDE_NONE, 0);
        assert_int_equal(ev.u.status.state, states[i].state);
        assert_memory_equal(ev.u.status.reason, "LUDP", 4);
    }

    /* B, S and the informational types: no event */
    m = hdr('B', 7, ts);
    m.u.broken_trade.match_number = 1001;
    assert_int_equal(td_itch50_map(ctx, &m, &ev), 0), seq++;
    assert_int_equal(ctx->counts.broken_trades, 1);
    m = hdr('S', 0, ts);
    m.u.system_event.event_code = 'Q';
    assert_int_equal(td_itch50_map(ctx, &m, &ev), 0), seq++;
    assert_int_equal(ctx->last_system_event, 'Q');
    for (const char *t = "YLVWKJhINO"; *t; t++) {
        m = hdr(*t, 7, ts);
        assert_int_equal(td_itch50_map(ctx, &m, &ev), 0), seq++;
    }
    m = hdr(TD_ITCH_UNKNOWN, 0, 0);
    assert_int_equal(td_itch50_map(ctx, &m, &ev), 0), seq++;
    assert_int_equal(ctx->counts.unknown_type, 1);

    /* Unknown locate: counted and skipped, for every event-producing type. */
    for (const char *t = "AFECXDUPQH"; *t; t++) {
        m = hdr(*t, 8, ts);
        m.u.add_order.side = 'B';
        m.u.cross_trade.shares = 1;
        assert_int_equal(td_itch50_map(ctx, &m, &ev), TD_ENOENT), seq++;
    }
    assert_int_equal(ctx->counts.unknown_locate, 10);

    /* Bad side */
    m = hdr('A', 7, ts);
    m.u.add_order.side = 'x';
    assert_int_equal(td_itch50_map(ctx, &m, &ev), TD_EPROTO), seq++;
    assert_int_equal(ctx->counts.bad_field, 2); /* and the Q overflow above */

    /* The message counter is the src_seq of the next event. */
    assert_int_equal(ctx->counts.messages, seq);
    m = hdr('D', 7, ts);
    EXPECT_EV(TD_EV_ORDER_DELETE, TD_SIDE_NONE, 0);
#undef EXPECT_EV
    td_free(ctx);
}

static void test_map_symbols(void **state)
{
    (void)state;
    td_itch50_ctx_t *ctx = td_malloc(sizeof *ctx);
    td_itch50_ctx_init(ctx, 0);
    td_event_t ev;
    struct { const char *raw, *want; } names[] = {
        { "AIG+    ", "AIG/WS" }, { "BMY^    ", "BMY/RT" }, { "ALUS=   ", "ALUS/U" },
        { "BAC-Y*  ", "BAC-Y/CL" }, { "ABC#    ", "ABC/WI" }, { "BRK.A   ", "BRK.A" }, { "ZVZZT   ", "ZVZZT" },
        { "A+^=*#-.", "A/WS/RT/U/CL/WI-." },
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(names); i++) {
        td_itch_msg_t m = dir_msg((uint16_t)(100 + i), names[i].raw);
        assert_int_equal(td_itch50_map(ctx, &m, &ev), 0);
        uint32_t sym = td_sym_lookup(names[i].want, strlen(names[i].want));
        if (sym == 0 || ctx->sym_by_locate[100 + i] != sym) fail_msg("%s did not intern as %s", names[i].raw, names[i].want);
    }
    /* A name the registry refuses: counted, and the locate stays undefined. */
    td_itch_msg_t m = dir_msg(200, "A B     ");
    assert_int_equal(td_itch50_map(ctx, &m, &ev), TD_EPROTO);
    assert_int_equal(ctx->counts.bad_symbol, 1);
    m = hdr('D', 200, 0);
    assert_int_equal(td_itch50_map(ctx, &m, &ev), TD_ENOENT);
    m = dir_msg(201, "        ");
    assert_int_equal(td_itch50_map(ctx, &m, &ev), TD_EPROTO);

    /* The inline conversions equal the decimal module's. */
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    for (int i = 0; i < 2000; i++) {
        uint32_t v = i < 2 ? (i ? UINT32_MAX : 0) : (uint32_t)td_rng_next(&rng);
        m = hdr('U', 100, 0);
        m.u.order_replace.price = v;
        m.u.order_replace.shares = v;
        assert_int_equal(td_itch50_map(ctx, &m, &ev), 1);
        int64_t px, qty;
        assert_int_equal(td_dec_from_scaled(v, 4, &px), TD_OK);
        assert_int_equal(td_dec_from_int(v, &qty), TD_OK);
        TD_CHECK(ev.u.order.price == px && ev.u.order.qty == qty, "v=%u", v);
    }
    td_free(ctx);
}

/* Mapping the sample: every R interns (with the suffix spelling), the 3 H become status events. */
static void test_map_sample(void **state)
{
    (void)state;
    size_t size;
    uint8_t *buf = read_file(td_test_data_path(SAMPLE), &size);
    td_itch50_ctx_t *ctx = td_malloc(sizeof *ctx);
    td_itch50_ctx_init(ctx, 0);
    size_t pos = 0, events = 0;
    while (pos < size) {
        td_itch_msg_t m;
        int rc = td_itch50_decode(buf + pos, size - pos, &m);
        assert_true(rc > 0);
        td_event_t ev;
        int e = td_itch50_map(ctx, &m, &ev);
        assert_true(e >= 0);
        if (e) {
            events++;
            assert_int_equal(ev.type, TD_EV_STATUS);
            assert_int_equal(ev.u.status.state, TD_STATE_TRADING);
            assert_int_equal(ev.sym, ctx->sym_by_locate[m.stock_locate]);
        }
        pos += (size_t)rc;
    }
    assert_int_equal(events, 3);
    assert_int_equal(ctx->counts.messages, 1000);
    assert_int_equal(ctx->counts.bad_symbol, 0);
    assert_int_equal(ctx->counts.ignored, 997);
    assert_int_equal(ctx->last_system_event, 'O');
    assert_string_equal(td_sym_name(ctx->sym_by_locate[1]), "A");
    assert_string_equal(td_sym_name(ctx->sym_by_locate[3]), "AAAU");
    assert_string_equal(td_sym_name(ctx->sym_by_locate[993]), "BPFH");
    assert_true(td_sym_lookup("AIG/WS", 6) != 0);
    td_free(ctx);
    td_free(buf);
}

/* ---- the file source ------------------------------------------------------------------------------ */

static int drain(td_source_t *src, td_event_t *evs, size_t cap, size_t *n, int batch)
{
    *n = 0;
    for (;;) {
        size_t room = cap - *n < (size_t)batch ? cap - *n : (size_t)batch;
        int rc = src->next(src, evs + *n, room);
        if (rc <= 0) return rc;
        *n += (size_t)rc;
    }
}

static void test_source_sample(void **state)
{
    (void)state;
    char args[4200], err[256] = "";
    snprintf(args, sizeof args, "%s,date=2019-12-30", td_test_data_path(SAMPLE));
    td_source_t *src = td_itch50_open(args, err, sizeof err);
    if (!src) fail_msg("open: %s", err);
    assert_string_equal(src->kind, "itch50");
    assert_string_equal(src->name, "itch50:sample_1000msgs.itch");
    td_event_t evs[8];
    size_t n;
    assert_int_equal(drain(src, evs, 8, &n, 2), TD_EOF);
    assert_int_equal(n, 3);
    assert_int_equal(src->next(src, evs, 8), TD_EOF); /* stays exhausted */
    assert_int_equal(evs[0].type, TD_EV_STATUS);
    assert_int_equal(evs[0].exch_ns, 1577682000LL * 1000000000LL + 11354328694637LL);
    assert_int_equal(evs[0].src_seq, 82); /* the first H is message 82 of the file */
    assert_int_equal(evs[2].src_seq, 583);
    assert_int_equal(atomic_load(&src->stats.messages), 1000);
    assert_int_equal(atomic_load(&src->stats.events), 3);
    assert_int_equal(atomic_load(&src->stats.bad), 0);
    assert_int_equal(atomic_load(&src->stats.bytes), SAMPLE_BYTES);
    const td_itch50_counts_t *c = td_itch50_source_counts(src);
    assert_int_equal(c->messages, 1000);
    assert_int_equal(c->ignored, 997);
    assert_int_equal(c->unknown_type, 0);
    td_source_destroy(src);
    td_source_destroy(NULL);
}

/* A small file of order traffic: one R, then n adds. */
static size_t order_file(uint8_t *buf, int n_adds)
{
    size_t pos = 0;
    td_itch_msg_t m = dir_msg(5, "TDSRC   ");
    pos += td_itch50_encode(&m, buf + pos, 1 << 16);
    for (int i = 0; i < n_adds; i++) {
        m = hdr('A', 5, 36000000000000ULL + (uint64_t)i);
        m.u.add_order = (td_itch_add_order_t){ .order_ref = (uint64_t)i + 1, .side = 'S', .shares = 100,
                                               .price = 100000 };
        memcpy(m.u.add_order.stock, "TDSRC   ", 8);
        pos += td_itch50_encode(&m, buf + pos, 1 << 16);
    }
    return pos;
}

static void test_source_errors(void **state)
{
    (void)state;
    char path[512], err[256];
    uint8_t buf[8192];
    td_event_t evs[64];
    size_t n;

    /* Date from the NASDAQ file name; 2019-07-30 is EDT. */
    size_t len = order_file(buf, 10);
    snprintf(path, sizeof path, "%s/07302019.NASDAQ_ITCH50", tmpdir);
    write_file(path, buf, len);
    td_source_t *src = td_itch50_open(path, err, sizeof err);
    if (!src) fail_msg("open: %s", err);
    assert_int_equal(drain(src, evs, 64, &n, 3), TD_EOF);
    assert_int_equal(n, 10);
    assert_int_equal(evs[0].exch_ns, 1564459200LL * 1000000000LL + 36000000000000LL);
    assert_int_equal(evs[9].u.order.order_id, 10);
    assert_int_equal(evs[9].src_seq, 11);
    td_source_destroy(src);

    /* Truncated tail: the complete messages, then one bad and EOF. */
    snprintf(path, sizeof path, "%s/trunc.itch", tmpdir);
    write_file(path, buf, len - 5);
    src = td_itch50_open(path, err, sizeof err);
    assert_non_null(src);
    assert_int_equal(drain(src, evs, 64, &n, 64), TD_EOF);
    assert_int_equal(n, 9);
    assert_int_equal(atomic_load(&src->stats.bad), 1);
    assert_int_equal(atomic_load(&src->stats.bytes), len - 5 - (2 + 36 - 5));
    td_source_destroy(src);

    /* A frame with a wrong length in the middle: events before it, then TD_EPROTO for good. */
    len = order_file(buf, 4);
    memcpy(buf + len, "\x00\x05" "A1234", 7);
    size_t len2 = order_file(buf + len + 7, 4);
    snprintf(path, sizeof path, "%s/garbage.itch", tmpdir);
    write_file(path, buf, len + 7 + len2);
    src = td_itch50_open(path, err, sizeof err);
    assert_non_null(src);
    assert_int_equal(drain(src, evs, 64, &n, 64), TD_EPROTO);
    assert_int_equal(n, 4);
    assert_int_equal(src->next(src, evs, 64), TD_EPROTO);
    assert_int_equal(atomic_load(&src->stats.bad), 1);
    td_source_destroy(src);

    /* Unknown locate inside a file: counted bad, the rest carries on. */
    len = order_file(buf, 3);
    td_itch_msg_t m = hdr('D', 6, 0);
    len += td_itch50_encode(&m, buf + len, 100);
    memcpy(buf + len, "\x00\x03" "Z\x00\x00", 5); /* and an unknown type: skipped, not bad */
    len += 5;
    len += order_file(buf + len, 2);
    snprintf(path, sizeof path, "%s/locate.itch", tmpdir);
    write_file(path, buf, len);
    src = td_itch50_open(path, err, sizeof err);
    assert_non_null(src);
    assert_int_equal(drain(src, evs, 64, &n, 64), TD_EOF);
    assert_int_equal(n, 5);
    assert_int_equal(atomic_load(&src->stats.bad), 1);
    assert_int_equal(atomic_load(&src->stats.messages), 9);
    assert_int_equal(atomic_load(&src->stats.bytes), len);
    assert_int_equal(td_itch50_source_counts(src)->unknown_type, 1);
    assert_int_equal(td_itch50_source_counts(src)->unknown_locate, 1);
    assert_int_equal(evs[4].src_seq, 9);
    td_source_destroy(src);

    /* Empty file: EOF at once. */
    snprintf(path, sizeof path, "%s/empty.itch", tmpdir);
    write_file(path, buf, 0);
    src = td_itch50_open(path, err, sizeof err);
    assert_non_null(src);
    assert_int_equal(src->next(src, evs, 64), TD_EOF);
    td_source_destroy(src);

    /* Open errors */
    assert_null(td_itch50_open("/nonexistent/x.itch", err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));
    snprintf(path, sizeof path, "%s/empty.itch,date=2019-02-30", tmpdir);
    assert_null(td_itch50_open(path, err, sizeof err));
    assert_non_null(strstr(err, "bad date"));
    snprintf(path, sizeof path, "%s/empty.itch,date=19-1-1", tmpdir);
    assert_null(td_itch50_open(path, err, sizeof err));
    assert_null(td_itch50_open("", err, sizeof err));
    assert_null(td_itch50_open(tmpdir, err, sizeof err)); /* a directory */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_covers_every_byte),
        cmocka_unit_test(test_sample_golden),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_incremental_chunks),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_midnight),
        cmocka_unit_test(test_map_orders),
        cmocka_unit_test(test_map_symbols),
        cmocka_unit_test(test_map_sample),
        cmocka_unit_test(test_source_sample),
        cmocka_unit_test(test_source_errors),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
