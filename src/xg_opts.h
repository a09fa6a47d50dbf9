/* xg_opts.h: one way to declare a command's options. A command describes each option once, in
 * a table (name, other spellings, type, range, default, help text, where the value goes); the
 * same table parses the command line and writes the options part of `xtalgen help CMD`, so the
 * help, the defaults and the checks cannot disagree.
 *
 * Why: options were parsed by hand in every command, and meant different things from one to
 * the next (--quiet refused by some, --threads defaulting differently without saying so). The
 * shared entries below (XG_OPT_QUIET, XG_OPT_THREADS, XG_OPT_OUTPUT_*) give the common options
 * one spelling, one meaning and one help line everywhere.
 *
 * Values land in the command's own options struct at the table entry's offset:
 *   FLAG   int (set to 1)            INT    long, in [lo, hi]
 *   U64    uint64_t, any non-negative integer (seeds)
 *   DOUBLE double, finite, in [lo, hi]
 *   STR    const char * (points into argv)
 *   ENUM   int: the index of the value in `choices` ("l1|mse": l1 = 0, mse = 1), any case
 *   LIST   const char *[max] with an int count at `count_off`: a repeatable option; with lo = 1
 *          ("--entries A B C") it also takes the words that follow, up to the next option
 *   TEXT   no option: its help is printed as is in the help (a section heading, a paragraph)
 * Defaults (`def`, a string as typed on the command line) are parsed into the struct by
 * xg_opts_parse before the arguments, so the help's default is the default.
 *
 * Spelling: "--name VALUE" and "--name=VALUE"; aliases such as "-o" or MatterGen's
 * "--batch_size" mean exactly the same option. "--" ends the options; "-" and negative
 * numbers ("-2.1") are arguments. An unknown option or a
 * value outside an ENUM's choices is a usage error that names the closest valid spelling and
 * lists all of them. */
#ifndef XG_OPTS_H
#define XG_OPTS_H

#include <stddef.h>
#include <stdio.h>

enum { XG_OPT_END = 0, XG_OPT_FLAG, XG_OPT_INT, XG_OPT_DOUBLE, XG_OPT_STR, XG_OPT_ENUM,
       XG_OPT_LIST, XG_OPT_U64, XG_OPT_TEXT };

typedef struct {
    int type;               /* XG_OPT_*; XG_OPT_END (0) ends a table */
    const char *name;       /* "--ltol" */
    const char *aliases;    /* other spellings, comma-separated ("-o", "--batch_size"); NULL */
    size_t off;             /* offsetof(the command's struct, field) */
    const char *meta;       /* value placeholder in the help ("L"); ENUM: NULL shows choices */
    double lo, hi;          /* INT, DOUBLE: accepted range (inclusive); LIST: hi = capacity */
    const char *choices;    /* ENUM: "a|b|c" */
    const char *def;        /* default as typed, also shown in the help; NULL = none */
    const char *help;       /* help text; '\n' continues on an indented line */
    size_t count_off;       /* LIST: offsetof the int count */
} xg_opt;

/* Table entries. S is the options struct type, F its field. */
#define XG_OPT_F(name, al, S, F, help) \
    {XG_OPT_FLAG, name, al, offsetof(S, F), NULL, 0, 0, NULL, NULL, help, 0}
#define XG_OPT_I(name, al, S, F, meta, lo, hi, def, help) \
    {XG_OPT_INT, name, al, offsetof(S, F), meta, lo, hi, NULL, def, help, 0}
#define XG_OPT_D(name, al, S, F, meta, lo, hi, def, help) \
    {XG_OPT_DOUBLE, name, al, offsetof(S, F), meta, lo, hi, NULL, def, help, 0}
#define XG_OPT_U(name, al, S, F, meta, def, help) \
    {XG_OPT_U64, name, al, offsetof(S, F), meta, 0, 0, NULL, def, help, 0}
#define XG_OPT_S(name, al, S, F, meta, def, help) \
    {XG_OPT_STR, name, al, offsetof(S, F), meta, 0, 0, NULL, def, help, 0}
#define XG_OPT_E(name, al, S, F, choices, def, help) \
    {XG_OPT_ENUM, name, al, offsetof(S, F), NULL, 0, 0, choices, def, help, 0}
#define XG_OPT_L(name, al, S, F, CNT, meta, max, help) \
    {XG_OPT_LIST, name, al, offsetof(S, F), meta, 0, max, NULL, NULL, help, offsetof(S, CNT)}
#define XG_OPT_LM(name, al, S, F, CNT, meta, max, help) \
    {XG_OPT_LIST, name, al, offsetof(S, F), meta, 1, max, NULL, NULL, help, offsetof(S, CNT)}
#define XG_OPT_T(text) {XG_OPT_TEXT, NULL, NULL, 0, NULL, 0, 0, NULL, NULL, text, 0}
#define XG_OPT_TABLE_END {XG_OPT_END, NULL, NULL, 0, NULL, 0, 0, NULL, NULL, NULL, 0}

/* The options every command shares, with one meaning everywhere. */
#define XG_OPT_QUIET(S, F) \
    XG_OPT_F("--quiet", "-q", S, F, "no progress bar, notes or summary lines (results and errors still print)")
/* --symprec: spglib's distance tolerance, the same default (MP-20's) in every command. */
#define XG_OPT_SYMPREC(S, F, help) XG_OPT_D("--symprec", NULL, S, F, "S", 1e-8, 10.0, "0.1", help)
/* --threads: OpenMP and OpenBLAS threads. Every command's results are reproducible for a given
 * thread count; the default is the command's own (training: 1, so that a rerun is bit-identical
 * without asking; elsewhere all cores) and the help says which. */
#define XG_OPT_THREADS(S, F, lo, def, help) XG_OPT_I("--threads", NULL, S, F, "N", lo, 4096, def, help)
/* The usual one: all cores unless told otherwise. */
#define XG_OPT_THREADS_ALL(S, F)                                                                   \
    XG_OPT_THREADS(S, F, 0, "0", "OpenMP threads; 0 = all cores (results are reproducible for\n"  \
                                 "a given thread count)")
/* -o: where the results go; the help says whether a file or a folder. */
#define XG_OPT_OUTPUT(S, F, meta, help) XG_OPT_S("--output", "-o", S, F, meta, NULL, help)

/* Positional arguments and which options were given, from xg_opts_parse. */
#define XG_OPTS_MAX 64
typedef struct {
    const char *const *pos; /* the positional arguments in order: argv[1..npos], reordered
                               by the parser (like getopt) so that they come first */
    int npos;
    unsigned char given[XG_OPTS_MAX]; /* per table entry: times it was given */
} xg_opts_args;

/* Parses argv[1..argc-1] (argv[0] is the command name) into dst (dst_size bytes, the options
 * struct) with the table: dst is zeroed, the defaults are stored, then the options; other words
 * go to args->pos in order. A field without a default is 0 (NULL) unless given: a command that
 * needs "not given" to differ from 0 asks xg_opts_given, so every default lives in the table or
 * next to that question, never in a preset the parser could silently wipe. max_pos bounds the
 * positional arguments (-1 = no bound). Returns 0, or -1 on a usage error after printing
 * "xtalgen CMD: ..." to stderr; a table entry whose field lies outside dst is such an error
 * ("internal: ..."), not a write past the struct. */
int xg_opts_parse(const char *cmd, const xg_opt *table, int argc, char **argv, void *dst,
                  size_t dst_size, xg_opts_args *args, int max_pos);

/* 1 when the option (by its name) was given on the command line. */
int xg_opts_given(const xg_opt *table, const xg_opts_args *args, const char *name);

/* Writes the options part of the help: one entry per option, "  --name, -a META   help
 * (default D)", wrapped continuation lines aligned. */
void xg_opts_help(FILE *f, const xg_opt *table);

/* The closest spelling of `word` among the table's names and aliases (edit distance, at most
 * 2 + a third of the word's length), or NULL. */
const char *xg_opts_suggest(const xg_opt *table, const char *word);

/* Levenshtein distance with adjacent transpositions (optimal string alignment). */
int xg_opts_distance(const char *a, const char *b);

#endif
