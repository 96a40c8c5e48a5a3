/* tickctl: the admin and client command line. Subcommands live in tools/tickctl_*.c (see tickctl.h). */
#include "tickctl.h"

#include <stdio.h>
#include <string.h>

#define MAX_COMMANDS 64

static struct { const char *name, *summary; td_tickctl_fn fn; } commands[MAX_COMMANDS];
static int ncommands;

void td_tickctl_register(const char *name, const char *summary, td_tickctl_fn fn)
{
    if (ncommands < MAX_COMMANDS) {
        commands[ncommands].name = name;
        commands[ncommands].summary = summary;
        commands[ncommands].fn = fn;
        ncommands++;
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tickctl SUBCOMMAND [ARGS...]   (tickctl SUBCOMMAND --help for details)\n\nsubcommands:\n");
    for (int i = 0; i < ncommands; i++) fprintf(f, "  %-18s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; i < ncommands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "tickctl: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
