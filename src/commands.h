/* commands.h: one function per `xtalgen COMMAND`, each in src/cmd_<name>.c.
 * argv[0] is the command name; the return value is the process exit code (cli.h). */
#ifndef XG_COMMANDS_H
#define XG_COMMANDS_H

#include "src/xg_opts.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *usage; /* help text printed by `xtalgen help NAME` and NAME --help: all of it,
                          or, for a command with an option table, what comes before the options */
} xg_command;

/* A command whose options are declared in a table (xg_opts.h) also defines
 * `const xg_command_options xg_options_<name>`: its help is then usage, the options written
 * from the table, and `after`. */
typedef struct {
    const xg_opt *opts;
    const char *after;          /* may be NULL */
    const xg_opt *const *more;  /* a command with subcommands: their tables, NULL-terminated,
                                   each written after the previous (and before `after`); a
                                   table's XG_OPT_T entries carry the subcommand's text */
} xg_command_options;

/* Each cmd_<name>.c defines one `const xg_command xg_command_<name>`. */
#define XG_COMMAND_LIST(X) \
    X(symmetry) X(convert) X(dataset) X(train) X(bench) X(generate) X(screen) X(match) \
    X(export) X(model) X(train_property) X(hull) X(xrd) X(xrd_match) X(xrd_refine) X(report) \
    X(templates) X(relax) X(csp_eval)

#define XG_DECLARE(n)                                                                              \
    extern const xg_command xg_command_##n __attribute__((weak));                                 \
    extern const xg_command_options xg_options_##n __attribute__((weak));
XG_COMMAND_LIST(XG_DECLARE)
#undef XG_DECLARE

#endif
