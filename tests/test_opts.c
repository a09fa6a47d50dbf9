/* test_opts.c: the option tables of src/xg_opts.h: defaults, types and ranges, aliases and
 * "--name=value", repeatable options, positional arguments, misspelt options and enum values
 * (suggestion and the list of valid spellings), and the help text written from the table. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xg_test.h"
#include "src/xg_opts.h"

typedef struct {
    long n;
    double tol;
    uint64_t seed;
    const char *out;
    int quiet, loss;
    const char *names[3];
    int nnames;
} opts;

static const xg_opt T[] = {
    XG_OPT_I("--count", "-n,--num_samples", opts, n, "N", 1, 100, "10", "how many"),
    XG_OPT_D("--tol", NULL, opts, tol, "X", 0, 1, "0.25", "a tolerance\nwith a second line"),
    XG_OPT_U("--seed", NULL, opts, seed, "S", "1", "seed"),
    XG_OPT_OUTPUT(opts, out, "FILE", "output file"),
    XG_OPT_QUIET(opts, quiet),
    XG_OPT_E("--loss", NULL, opts, loss, "l1|mse|huber", "l1", "loss"),
    XG_OPT_T("section:\n"),
    XG_OPT_L("--name", NULL, opts, names, nnames, "NAME", 3, "repeatable"),
    XG_OPT_TABLE_END};

/* Runs the parser on a space-separated command line with stderr captured into err. */
static int parse(const char *line, opts *o, xg_opts_args *a, int max_pos, char *err, size_t cap)
{
    static char buf[1024];
    char *argv[64];
    int argc = 0;
    snprintf(buf, sizeof buf, "cmd %s", line);
    for (char *t = strtok(buf, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    memset(o, 0x5a, sizeof *o); /* the parser zeroes the struct: leftovers must not survive */
    fflush(stderr);
    int saved = dup(2);
    const char *path = xg_test_tmpfile(".txt", "");
    FILE *f = fopen(path, "w");
    dup2(fileno(f), 2);
    int rc = xg_opts_parse("cmd", T, argc, argv, o, sizeof *o, a, max_pos);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(f);
    f = fopen(path, "r");
    size_t n = fread(err, 1, cap - 1, f);
    err[n] = 0;
    fclose(f);
    return rc;
}

static void test_defaults_and_types(void)
{
    opts o;
    xg_opts_args a;
    char err[2048];
    CU_ASSERT_EQUAL(parse("", &o, &a, 0, err, sizeof err), 0);
    CU_ASSERT_EQUAL(o.n, 10);
    CU_ASSERT_EQUAL(o.tol, 0.25);
    CU_ASSERT_EQUAL(o.seed, 1);
    CU_ASSERT_PTR_NULL(o.out);
    CU_ASSERT_EQUAL(o.quiet, 0);
    CU_ASSERT_EQUAL(o.loss, 0);
    CU_ASSERT_FALSE(xg_opts_given(T, &a, "--count"));
    CU_ASSERT_EQUAL(parse("--count 7 --tol=0.5 --seed 18446744073709551615 -o x.csv -q --loss mse",
                          &o, &a, 0, err, sizeof err), 0);
    CU_ASSERT_EQUAL(o.n, 7);
    CU_ASSERT_EQUAL(o.tol, 0.5);
    CU_ASSERT_EQUAL(o.seed, UINT64_MAX);
    CU_ASSERT_STRING_EQUAL(o.out, "x.csv");
    CU_ASSERT_EQUAL(o.quiet, 1);
    CU_ASSERT_EQUAL(o.loss, 1);
    CU_ASSERT_TRUE(xg_opts_given(T, &a, "--count"));
    CU_ASSERT_TRUE(xg_opts_given(T, &a, "-o")); /* by any spelling */
    CU_ASSERT_TRUE(xg_opts_given(T, &a, "--output"));
    CU_ASSERT_FALSE(xg_opts_given(T, &a, "--name"));
}

static void test_ranges(void)
{
    opts o;
    xg_opts_args a;
    char err[2048];
    CU_ASSERT_EQUAL(parse("--count 0", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--count"));
    CU_ASSERT_EQUAL(parse("--count 101", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_EQUAL(parse("--count 100", &o, &a, 0, err, sizeof err), 0);
    CU_ASSERT_EQUAL(parse("--count 5x", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_EQUAL(parse("--tol 1.5", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_EQUAL(parse("--tol nan", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_EQUAL(parse("--tol 1", &o, &a, 0, err, sizeof err), 0);
    CU_ASSERT_EQUAL(parse("--seed -1", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_EQUAL(parse("--seed 12a", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_EQUAL(parse("--count", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs a value"));
    CU_ASSERT_EQUAL(parse("--quiet=1", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "takes no value"));
    /* An INT bound of LONG_MAX (generate's --seed) is 2^63 as a double: still LONG_MAX. */
    static const xg_opt big[] = {
        XG_OPT_I("--seed", NULL, opts, n, "S", 0, LONG_MAX, "1", "seed"), XG_OPT_TABLE_END};
    char a0[] = "cmd", a1[] = "--seed", a2[] = "9223372036854775807";
    char *argv[] = {a0, a1, a2, NULL};
    CU_ASSERT_EQUAL(xg_opts_parse("cmd", big, 3, argv, &o, sizeof o, &a, 0), 0);
    CU_ASSERT_EQUAL(o.n, LONG_MAX);
    char a3[] = "0";
    char *argv0[] = {a0, a1, a3, NULL};
    CU_ASSERT_EQUAL(xg_opts_parse("cmd", big, 3, argv0, &o, sizeof o, &a, 0), 0);
    CU_ASSERT_EQUAL(o.n, 0);
}

/* The struct is the parser's to initialise (zero, then the defaults): a field nobody gave is 0
 * whatever the caller's memory held, and a table entry beyond the struct's size is refused
 * rather than written past its end. */
static void test_struct_owned(void)
{
    opts o;
    xg_opts_args a;
    char err[2048];
    CU_ASSERT_EQUAL(parse("--count 2", &o, &a, 0, err, sizeof err), 0);
    CU_ASSERT_PTR_NULL(o.out);
    CU_ASSERT_EQUAL(o.quiet, 0);
    CU_ASSERT_EQUAL(o.nnames, 0);
    CU_ASSERT_PTR_NULL(o.names[0]);
    char a0[] = "cmd";
    char *argv[] = {a0, NULL};
    memset(&o, 0x5a, sizeof o);
    /* A table written for `opts`, handed a struct that ends before --seed's field. */
    CU_ASSERT_EQUAL(xg_opts_parse("cmd", T, 1, argv, &o, offsetof(opts, seed), &a, 0), -1);
    const unsigned char *tail = (const unsigned char *)&o + offsetof(opts, seed);
    int untouched = 1;
    for (size_t k = 0; k < sizeof o - offsetof(opts, seed); k++)
        untouched &= tail[k] == 0x5a;
    CU_ASSERT_TRUE(untouched);
    /* A LIST's count must fit as well. */
    static const xg_opt lst[] = {XG_OPT_L("--name", NULL, opts, names, nnames, "NAME", 3, "n"),
                                 XG_OPT_TABLE_END};
    CU_ASSERT_EQUAL(xg_opts_parse("cmd", lst, 1, argv, &o, offsetof(opts, nnames), &a, 0), -1);
    CU_ASSERT_EQUAL(xg_opts_parse("cmd", lst, 1, argv, &o, sizeof o, &a, 0), 0);
    CU_ASSERT_EQUAL(o.nnames, 0);
}

static void test_aliases_lists_positionals(void)
{
    opts o;
    xg_opts_args a;
    char err[2048];
    CU_ASSERT_EQUAL(parse("-n 3", &o, &a, 0, err, sizeof err), 0);
    CU_ASSERT_EQUAL(o.n, 3);
    CU_ASSERT_EQUAL(parse("--num_samples=4", &o, &a, 0, err, sizeof err), 0);
    CU_ASSERT_EQUAL(o.n, 4);
    CU_ASSERT_EQUAL(parse("--name a --name=b", &o, &a, 0, err, sizeof err), 0);
    CU_ASSERT_EQUAL(o.nnames, 2);
    CU_ASSERT_STRING_EQUAL(o.names[1], "b");
    CU_ASSERT_EQUAL(parse("--name a --name b --name c --name d", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 3"));
    CU_ASSERT_EQUAL(parse("in1 --count 2 in2 -- --count", &o, &a, 3, err, sizeof err), 0);
    CU_ASSERT_EQUAL(a.npos, 3);
    CU_ASSERT_STRING_EQUAL(a.pos[0], "in1");
    CU_ASSERT_STRING_EQUAL(a.pos[1], "in2");
    CU_ASSERT_STRING_EQUAL(a.pos[2], "--count"); /* after --, words are arguments */
    CU_ASSERT_EQUAL(o.n, 2);
    CU_ASSERT_EQUAL(parse("in1 in2", &o, &a, 1, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unexpected argument 'in2'"));
    CU_ASSERT_EQUAL(parse("-", &o, &a, 1, err, sizeof err), 0); /* "-" is an argument (stdin) */
    CU_ASSERT_EQUAL(parse("x -2.5 -.5", &o, &a, 3, err, sizeof err), 0); /* negative numbers too */
    CU_ASSERT_EQUAL(a.npos, 3);
    CU_ASSERT_STRING_EQUAL(a.pos[1], "-2.5");
    CU_ASSERT_EQUAL(parse("--tol -1", &o, &a, 0, err, sizeof err), -1); /* a value, out of range */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--tol"));
}

static void test_misspellings(void)
{
    opts o;
    xg_opts_args a;
    char err[2048];
    CU_ASSERT_EQUAL(parse("--cuont 3", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown option '--cuont'; did you mean --count?"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "valid options: --count --tol --seed --output --quiet"));
    CU_ASSERT_EQUAL(parse("--num-samples=3", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "did you mean --num_samples?"));
    CU_ASSERT_EQUAL(parse("--zzzzzzzzzz", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_PTR_NULL(strstr(err, "did you mean"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "valid options:"));
    CU_ASSERT_EQUAL(parse("--loss hubr", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "did you mean 'huber'? (one of: l1, mse, huber)"));
    CU_ASSERT_EQUAL(parse("--loss zzzzzzzz", &o, &a, 0, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "(one of: l1, mse, huber)"));
    CU_ASSERT_EQUAL(xg_opts_distance("kitten", "sitting"), 3);
    CU_ASSERT_EQUAL(xg_opts_distance("--ltol", "--lotl"), 1); /* a transposition */
    CU_ASSERT_EQUAL(xg_opts_distance("", "abc"), 3);
    CU_ASSERT_STRING_EQUAL(xg_opts_suggest(T, "-tol"), "--tol");
}

static void test_help(void)
{
    const char *path = xg_test_tmpfile(".txt", "");
    FILE *f = fopen(path, "w");
    xg_opts_help(f, T);
    fclose(f);
    char buf[4096];
    f = fopen(path, "r");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "  -n, --count, --num_samples N"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "how many (default 10)\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, " a tolerance\n                         with a second line (default 0.25)\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "  -o, --output FILE      output file\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "  --loss l1|mse|huber    loss (default l1)\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nsection:\n  --name NAME"));
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        CU_ASSERT(strlen(line) <= 92);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"defaults and types", test_defaults_and_types},
        {"ranges and missing values", test_ranges},
        {"the struct is zeroed and bounded", test_struct_owned},
        {"aliases, repeatable options, positional arguments", test_aliases_lists_positionals},
        {"misspelt options and values", test_misspellings},
        {"help written from the table", test_help},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("opts", tests);
}
