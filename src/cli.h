/* cli.h: what every xtalgen command shares: argument parsing helpers, exit codes, the
 * progress bar, and the reading of structures from any supported input. */
#ifndef XG_CLI_H
#define XG_CLI_H

#include <stdio.h>
#include "crystal/xg_error.h"
#include "crystal/xg_fileio.h"

#define XG_EXIT_OK 0
#define XG_EXIT_FAIL 1   /* the command ran and failed (bad input file, I/O error) */
#define XG_EXIT_USAGE 2  /* the command line itself is wrong */

/* Prints "xtalgen CMD: message" to stderr. */
void xg_cli_errorf(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing of an option value: the whole string must be a number in [lo, hi].
 * On failure prints "xtalgen CMD: OPTION expects ..." and returns -1. */
int xg_cli_parse_int(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out);
int xg_cli_parse_double(const char *cmd, const char *opt, const char *val, double lo, double hi,
                        double *out);

/* A memory size: a number with an optional suffix K, M, G or T (powers of 1000, as memory is
 * reported by `free -h` and /usr/bin/time in kB) or % (of physical memory), e.g. 8G, 500M, 50%.
 * Prints "xtalgen CMD: OPTION expects ..." and returns -1 when it is not one. */
int xg_cli_parse_bytes(const char *cmd, const char *opt, const char *val, double *out);
/* Physical memory in bytes (sysconf), 0 when unknown. */
double xg_cli_physical_memory(void);

/* Option scanning: returns the value of "--name VALUE" or "--name=VALUE" at argv[*i] and
 * advances *i; NULL (and a usage message) when the value is missing. */
const char *xg_cli_value(const char *cmd, int argc, char **argv, int *i);
/* 1 if argv[i] is "--name" or starts with "--name=". */
int xg_cli_is(const char *arg, const char *name);

/* Progress bar on stderr with rate and ETA; silent when quiet or stderr is not a terminal
 * (then one summary line per ~10% is printed instead, so logs of long jobs show progress). */
typedef struct {
    const char *label;
    long total;
    long done;
    int quiet;
    int tty;
    double t0, last_draw;
    int last_decile;
    char extra[160];   /* free text shown after the bar (loss values, ...) */
} xg_progress;

void xg_progress_start(xg_progress *p, const char *label, long total, int quiet);
void xg_progress_update(xg_progress *p, long done);
void xg_progress_finish(xg_progress *p);
double xg_now(void); /* monotonic seconds */

/* Outputs are written atomically with xg_atomic_open / commit / abort (crystal/xg_fileio.h);
 * JSON strings with xg_json_write_string (crystal/xg_json.h), CSV cells with xg_csv_write_cell
 * (crystal/xg_csv.h). */

/* Outputs never overwrite inputs: refuses `out` when it names the same file (or folder) as one
 * of the n inputs (NULL entries skipped), by device and inode, so "d.h5", "./d.h5", a hard
 * link and a symbolic link to it are all caught; an existing file directly inside an input
 * folder counts as one of its inputs. Prints "xtalgen CMD: OPTION OUT is the input IN; ..."
 * and returns -1; 0 when out is distinct or does not exist yet. */
int xg_cli_check_output(const char *cmd, const char *option, const char *out,
                        const char *const *inputs, int n);

/* An xg_input_skip_fn for keep-going reads (crystal/xg_input.h): ctx is the command name;
 * prints "xtalgen CMD: skipped unreadable PATH: reason". */
void xg_cli_report_skip(void *cmd, const char *path, const xg_error *why);

/* Creates a directory and its parents (like mkdir -p). */
int xg_mkdir_p(const char *path, xg_error *err);

#endif
