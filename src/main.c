/* main.c: the xtalgen program: dispatches to one command per src/cmd_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "src/cli.h"
#include "src/commands.h"

#ifndef XTALGEN_VERSION
#define XTALGEN_VERSION "unknown"
#endif

/* Commands are weak symbols so that the program links while a command is being written; a
 * command that is not linked in is simply absent from help. */
static const xg_command *command_table(int i)
{
    const xg_command *all[] = {
#define XG_ENTRY(n) &xg_command_##n,
        XG_COMMAND_LIST(XG_ENTRY)
#undef XG_ENTRY
    };
    return i < (int)(sizeof all / sizeof all[0]) ? all[i] : (const xg_command *)-1;
}

static const xg_command *find_command(const char *name)
{
    for (int i = 0;; i++) {
        const xg_command *c = command_table(i);
        if (c == (const xg_command *)-1)
            return NULL;
        if (c && strcmp(c->name, name) == 0)
            return c;
    }
}

static void print_help(FILE *out)
{
    fprintf(out,
            "xtalgen %s: generative design of inorganic crystals\n\n"
            "usage: xtalgen COMMAND [OPTIONS]\n\ncommands:\n",
            XTALGEN_VERSION);
    for (int i = 0;; i++) {
        const xg_command *c = command_table(i);
        if (c == (const xg_command *)-1)
            break;
        if (c)
            fprintf(out, "  %-16s %s\n", c->name, c->summary);
    }
    fprintf(out, "\n`xtalgen help COMMAND` shows a command's options. Exit codes: 0 success, "
                 "1 failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return XG_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("xtalgen %s\n", XTALGEN_VERSION);
        return XG_EXIT_OK;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        print_help(stdout);
        return XG_EXIT_OK;
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            print_help(stdout);
            return XG_EXIT_OK;
        }
        const xg_command *c = find_command(argv[2]);
        if (!c) {
            fprintf(stderr, "xtalgen help: unknown command '%s'\n", argv[2]);
            return XG_EXIT_USAGE;
        }
        fputs(c->usage, stdout);
        return XG_EXIT_OK;
    }
    const xg_command *c = find_command(cmd);
    if (!c) {
        fprintf(stderr, "xtalgen: unknown command '%s' (try `xtalgen --help`)\n", cmd);
        return XG_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(c->usage, stdout);
            return XG_EXIT_OK;
        }
    }
    return c->run(argc - 1, argv + 1);
}
