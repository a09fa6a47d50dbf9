/* main.c: the xtalgen program: dispatches to one command per src/cmd_<name>.c. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The option table of command i (xg_opts.h), NULL for a command that parses by hand. */
static const xg_command_options *options_table(int i)
{
    const xg_command_options *all[] = {
#define XG_ENTRY(n) &xg_options_##n,
        XG_COMMAND_LIST(XG_ENTRY)
#undef XG_ENTRY
    };
    return i < (int)(sizeof all / sizeof all[0]) ? all[i] : NULL;
}

static const xg_command *find_command(const char *name, const xg_command_options **opts)
{
    for (int i = 0;; i++) {
        const xg_command *c = command_table(i);
        if (c == (const xg_command *)-1)
            return NULL;
        if (c && strcmp(c->name, name) == 0) {
            *opts = options_table(i);
            return c;
        }
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

/* `xtalgen help NAME`: the usage text, and for a command with an option table the options
 * written from it (xg_opts.h), so the help cannot disagree with the parser. */
static void print_usage(const xg_command *c, const xg_command_options *o)
{
    fputs(c->usage, stdout);
    if (o && o->opts)
        xg_opts_help(stdout, o->opts);
    for (int k = 0; o && o->more && o->more[k]; k++)
        xg_opts_help(stdout, o->more[k]);
    if (o && o->after)
        fputs(o->after, stdout);
}

/* Two settings are read when the libraries load, before main, so the only way to change them is
 * to restart once with them in the environment (at most one exec, only when the user set
 * neither; XTALGEN_KEEP_ENV=1 turns it off):
 *  - OpenBLAS 0.3.21 (Debian 12) does not recognise recent Xeons/EPYCs and falls back to its
 *    generic SSE3 ("Prescott") kernels, 3-5x slower on the denoiser than its AVX-512 kernels on
 *    the same CPU (`xtalgen bench denoiser` measures both): OPENBLAS_CORETYPE=SkylakeX when the
 *    CPU has the AVX-512 subsets those kernels use and OpenBLAS picked the generic ones.
 *  - libgomp's default wait policy spins idle threads for a while between parallel regions.
 *    With many small regions per sampler step, on a machine whose other core is busy, the
 *    spinning thread steals the very core the working thread needs: 8 crystals took 33-45 s
 *    with two threads against 2-4 s with one (issue 18). OMP_WAIT_POLICY=passive makes idle
 *    threads sleep, so more threads never lose. */
static void maybe_reexec_for_env(char **argv)
{
    if (getenv("XTALGEN_KEEP_ENV"))
        return;
    int again = 0;
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        again = 1;
    }
#if defined(__x86_64__) && defined(__GNUC__)
    if (!getenv("OPENBLAS_CORETYPE") && strcmp(openblas_get_corename(), "Prescott") == 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
            setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
            again = 1;
        }
    }
#endif
    if (!again)
        return;
    setenv("XTALGEN_KEEP_ENV", "1", 1); /* never a second restart, whatever happens */
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with what the libraries chose */
}

int main(int argc, char **argv)
{
    maybe_reexec_for_env(argv);
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
        const xg_command_options *o = NULL;
        const xg_command *c = find_command(argv[2], &o);
        if (!c) {
            fprintf(stderr, "xtalgen help: unknown command '%s'\n", argv[2]);
            return XG_EXIT_USAGE;
        }
        print_usage(c, o);
        return XG_EXIT_OK;
    }
    const xg_command_options *o = NULL;
    const xg_command *c = find_command(cmd, &o);
    if (!c) {
        fprintf(stderr, "xtalgen: unknown command '%s' (try `xtalgen --help`)\n", cmd);
        return XG_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_usage(c, o);
            return XG_EXIT_OK;
        }
    }
    return c->run(argc - 1, argv + 1);
}
