/*
 * tickctl.h: subcommands register themselves, so each lives in its own tools/tickctl_*.c file and
 * tickctl.c never needs editing to add one:
 *
 *   static int cmd_verify(int argc, char **argv) { ... }   // argv[0] is the subcommand name
 *   TD_TICKCTL_COMMAND(verify, "check every stored block's checksum", cmd_verify)
 *
 * A command returns the process exit code. `tickctl CMD --help` is passed to the command itself.
 */
#ifndef TD_TICKCTL_H
#define TD_TICKCTL_H

typedef int (*td_tickctl_fn)(int argc, char **argv);
void td_tickctl_register(const char *name, const char *summary, td_tickctl_fn fn);

#define TD_TICKCTL_COMMAND(ident, summary, fn)                                           \
    __attribute__((constructor)) static void td_tickctl_reg_##ident(void)                \
    {                                                                                    \
        td_tickctl_register(#ident, summary, fn);                                        \
    }

#endif
