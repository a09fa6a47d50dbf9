/* commands.h: one function per `xtalgen COMMAND`, each in src/cmd_<name>.c.
 * argv[0] is the command name; the return value is the process exit code (cli.h). */
#ifndef XG_COMMANDS_H
#define XG_COMMANDS_H

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *usage; /* full help text printed by `xtalgen help NAME` and NAME --help */
} xg_command;

/* Each cmd_<name>.c defines one `const xg_command xg_command_<name>`. */
#define XG_COMMAND_LIST(X) \
    X(symmetry) X(convert) X(dataset) X(train) X(bench) X(generate) X(screen) X(match) \
    X(export) X(model) X(train_property) X(hull) X(xrd) X(xrd_match) X(xrd_refine) X(report) \
    X(templates) X(relax) X(csp_eval)

#define XG_DECLARE(n) extern const xg_command xg_command_##n __attribute__((weak));
XG_COMMAND_LIST(XG_DECLARE)
#undef XG_DECLARE

#endif
