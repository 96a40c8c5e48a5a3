/*
 * tickctl_lobster.c: `tickctl lobster-verify MESSAGE.csv ORDERBOOK.csv`: replays a LOBSTER message file
 * into an order book and checks the top-N levels after every message against the orderbook file
 * (td_lobster_verify(), src/feed/lobster_verify.c, says what is derived and what is learned).
 * Exit 0 when every row matched, 1 on the first mismatch (printed), 2 on usage or I/O errors.
 */
#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "feed/lobster.h"
#include "tickctl.h"

static int cmd_lobster_verify(int argc, char **argv)
{
    if (argc != 3 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: tickctl lobster-verify MESSAGE.csv ORDERBOOK.csv\n"
                "  Replays every message into an order book and compares the top-N price levels after each\n"
                "  one with the orderbook row. Exit 0 if all rows match, 1 on the first mismatch.\n");
        return argc == 2 ? 0 : 2;
    }
    static td_lobster_verify_stats_t st; /* 2+ KB of report text: keep it off the stack */
    int rc = td_lobster_verify(argv[1], argv[2], &st, NULL);
    if (rc != TD_OK && rc != TD_EPROTO) {
        fprintf(stderr, "lobster-verify: %s\n", st.mismatch);
        return 2;
    }
    printf("messages %llu (types 1:%llu 2:%llu 3:%llu 4:%llu 5:%llu 6:%llu 7:%llu)\n",
           (unsigned long long)st.messages, (unsigned long long)st.type_count[1],
           (unsigned long long)st.type_count[2], (unsigned long long)st.type_count[3],
           (unsigned long long)st.type_count[4], (unsigned long long)st.type_count[5],
           (unsigned long long)st.type_count[6], (unsigned long long)st.type_count[7]);
    printf("from row 1: seeded %llu levels (+%llu orders of message 1) as the pre-message-1 book\n",
           (unsigned long long)st.seeded_levels, (unsigned long long)st.seeded_orders);
    printf("from messages: %llu reductions of unknown order ids taken from unattributed liquidity, "
           "%llu size/price disagreements, %llu duplicate adds\n",
           (unsigned long long)st.unknown_reductions, (unsigned long long)st.size_mismatches,
           (unsigned long long)st.dup_adds);
    printf("from the file: %llu levels entered the window from below, %llu of them with quantity we had "
           "not seen (learned), %llu stale levels dropped, %lld shares learned; %llu orders of levels shown "
           "empty removed\n",
           (unsigned long long)st.exposed_levels, (unsigned long long)st.learned_levels,
           (unsigned long long)st.stale_levels, (long long)(st.learned_qty / 100000000),
           (unsigned long long)st.zombie_orders);
    if (rc != TD_OK) {
        printf("MISMATCH: %s", st.mismatch);
        if (st.mismatch[0] && st.mismatch[strlen(st.mismatch) - 1] != '\n') printf("\n");
        printf("matched %llu of %llu rows; first mismatch at row %llu\n", (unsigned long long)st.matched,
               (unsigned long long)st.rows, (unsigned long long)st.mismatch_row);
        return 1;
    }
    printf("matched %llu of %llu rows (learned %llu hidden levels, %llu unknown-order reductions)\n",
           (unsigned long long)st.matched, (unsigned long long)st.rows, (unsigned long long)st.learned_levels,
           (unsigned long long)st.unknown_reductions);
    return 0;
}

/* TD_TICKCTL_COMMAND stringizes an identifier, which cannot hold the '-' of the command's name */
__attribute__((constructor)) static void register_lobster_verify(void)
{
    td_tickctl_register("lobster-verify", "replay a LOBSTER message file and check every orderbook row",
                        cmd_lobster_verify);
}
