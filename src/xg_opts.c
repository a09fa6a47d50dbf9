/* xg_opts.c: option tables (see xg_opts.h). */
#include "src/xg_opts.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/cli.h"

int xg_opts_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63)
        return (int)(n > m ? n : m);
    int d[64][64];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int c = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + c < v)
                v = d[i - 1][j - 1] + c;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

/* Calls fn on every spelling of entry o (name, then aliases); stops when fn returns nonzero. */
static int each_spelling(const xg_opt *o, int (*fn)(const char *s, size_t n, void *u), void *u)
{
    if (!o->name)
        return 0;
    if (fn(o->name, strlen(o->name), u))
        return 1;
    for (const char *p = o->aliases; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n && fn(p, n, u))
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

struct best {
    const char *word;
    int dist;
    const char *spelling;
    size_t len;
    char buf[64];
};

static int consider(const char *s, size_t n, void *u)
{
    struct best *b = u;
    char tmp[64];
    if (n >= sizeof tmp)
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    int d = xg_opts_distance(b->word, tmp);
    if (d < b->dist) {
        b->dist = d;
        memcpy(b->buf, tmp, n + 1);
        b->spelling = b->buf;
    }
    return 0;
}

/* The closest spelling in a '|' or table list; returned in a static buffer per call site. */
static const char *closest(const char *word, int dist, const char *found)
{
    size_t len = strlen(word);
    int limit = 2 + (int)(len / 3);
    return dist <= limit ? found : NULL;
}

const char *xg_opts_suggest(const xg_opt *table, const char *word)
{
    static char out[64];
    struct best b = {word, 1 << 20, NULL, 0, ""};
    for (const xg_opt *o = table; o->type != XG_OPT_END; o++)
        each_spelling(o, consider, &b);
    const char *s = closest(word, b.dist, b.spelling);
    if (!s)
        return NULL;
    snprintf(out, sizeof out, "%s", s);
    return out;
}

/* The closest of ENUM choices "a|b|c" to word, or NULL. */
static const char *suggest_choice(const char *choices, const char *word, char *out, size_t cap)
{
    int best = 1 << 20;
    for (const char *p = choices; *p;) {
        size_t n = strcspn(p, "|");
        char tmp[64];
        if (n < sizeof tmp) {
            memcpy(tmp, p, n);
            tmp[n] = 0;
            int d = xg_opts_distance(word, tmp);
            if (d < best) {
                best = d;
                snprintf(out, cap, "%s", tmp);
            }
        }
        p += n;
        if (*p == '|')
            p++;
    }
    return closest(word, best, out);
}

struct match {
    const char *arg;
    size_t arglen;
};

static int same(const char *s, size_t n, void *u)
{
    const struct match *m = u;
    return m->arglen == n && strncmp(m->arg, s, n) == 0;
}

/* The table entry spelled arg[0..len), or -1. */
static int find(const xg_opt *table, const char *arg, size_t len)
{
    struct match m = {arg, len};
    for (int k = 0; table[k].type != XG_OPT_END; k++)
        if (each_spelling(&table[k], same, &m))
            return k;
    return -1;
}

static void list_valid(const xg_opt *table)
{
    fprintf(stderr, "  valid options:");
    int col = 16;
    for (const xg_opt *o = table; o->type != XG_OPT_END; o++) {
        if (!o->name)
            continue;
        int w = (int)strlen(o->name) + 1;
        if (col + w > 92) {
            fprintf(stderr, "\n   ");
            col = 3;
        }
        fprintf(stderr, " %s", o->name);
        col += w;
    }
    fprintf(stderr, "\n");
}

/* Stores the text value v of entry o into dst. Returns 0 or -1 (printed). */
static int store(const char *cmd, const xg_opt *o, const char *v, void *dst)
{
    char *base = dst;
    switch (o->type) {
    case XG_OPT_INT: {
        /* A bound of LONG_MAX (a seed) is 2^63 as a double, one past what a long holds. */
        long x, lo = o->lo <= -0x1p63 ? LONG_MIN : (long)o->lo,
                hi = o->hi >= 0x1p63 ? LONG_MAX : (long)o->hi;
        if (xg_cli_parse_int(cmd, o->name, v, lo, hi, &x))
            return -1;
        *(long *)(base + o->off) = x;
        return 0;
    }
    case XG_OPT_DOUBLE: {
        double x;
        if (xg_cli_parse_double(cmd, o->name, v, o->lo, o->hi, &x))
            return -1;
        *(double *)(base + o->off) = x;
        return 0;
    }
    case XG_OPT_U64: {
        char *end = NULL;
        unsigned long long x = strtoull(v, &end, 10);
        if (!*v || *end || v[0] == '-' || v[0] == '+' || v[0] == ' ') {
            xg_cli_errorf(cmd, "%s expects a non-negative integer, got '%s'", o->name, v);
            return -1;
        }
        *(uint64_t *)(base + o->off) = (uint64_t)x;
        return 0;
    }
    case XG_OPT_STR:
        *(const char **)(base + o->off) = v;
        return 0;
    case XG_OPT_ENUM: {
        int k = 0;
        size_t len = strlen(v);
        for (const char *p = o->choices; *p; k++) {
            size_t n = strcspn(p, "|");
            if (n == len && strncasecmp(p, v, n) == 0) {
                *(int *)(base + o->off) = k;
                return 0;
            }
            p += n;
            if (*p == '|')
                p++;
        }
        char sug[64];
        const char *s = suggest_choice(o->choices, v, sug, sizeof sug);
        char list[256];
        size_t w = 0;
        for (const char *c = o->choices; *c && w + 3 < sizeof list; c++) {
            if (*c == '|') {
                list[w++] = ',';
                list[w++] = ' ';
            } else {
                list[w++] = *c;
            }
        }
        list[w] = 0;
        if (s)
            xg_cli_errorf(cmd, "%s '%s' is not valid; did you mean '%s'? (one of: %s)", o->name, v,
                          s, list);
        else
            xg_cli_errorf(cmd, "%s '%s' is not valid (one of: %s)", o->name, v, list);
        return -1;
    }
    case XG_OPT_LIST: {
        int *cnt = (int *)(base + o->count_off);
        if (*cnt >= (int)o->hi) {
            xg_cli_errorf(cmd, "%s given more than %d times", o->name, (int)o->hi);
            return -1;
        }
        ((const char **)(base + o->off))[(*cnt)++] = v;
        return 0;
    }
    case XG_OPT_FLAG:
        *(int *)(base + o->off) = 1;
        return 0;
    }
    return -1;
}

/* Whether an entry's value (and a LIST's count) lies inside a struct of `size` bytes: a table
 * written for another struct would otherwise store past the end of this one. */
static int field_fits(const xg_opt *o, size_t size)
{
    size_t w = o->type == XG_OPT_INT      ? sizeof(long)
               : o->type == XG_OPT_DOUBLE ? sizeof(double)
               : o->type == XG_OPT_U64    ? sizeof(uint64_t)
               : o->type == XG_OPT_STR    ? sizeof(const char *)
               : o->type == XG_OPT_LIST   ? (size_t)o->hi * sizeof(const char *)
                                          : sizeof(int);
    if (o->off > size || w > size - o->off)
        return 0;
    return o->type != XG_OPT_LIST || (o->count_off <= size && sizeof(int) <= size - o->count_off);
}

int xg_opts_parse(const char *cmd, const xg_opt *table, int argc, char **argv, void *dst,
                  size_t dst_size, xg_opts_args *args, int max_pos)
{
    memset(args, 0, sizeof *args);
    memset(dst, 0, dst_size);
    args->pos = (const char *const *)(argv + 1);
    if (max_pos < 0)
        max_pos = argc;
    int nopt = 0;
    for (const xg_opt *o = table; o->type != XG_OPT_END; o++, nopt++) {
        if (nopt >= XG_OPTS_MAX) {
            xg_cli_errorf(cmd, "internal: more than %d options in the table", XG_OPTS_MAX);
            return -1;
        }
        if (o->type != XG_OPT_TEXT && !field_fits(o, dst_size)) {
            xg_cli_errorf(cmd, "internal: %s is stored outside the options struct", o->name);
            return -1;
        }
        if (o->def && store(cmd, o, o->def, dst)) {
            xg_cli_errorf(cmd, "internal: bad default '%s' for %s", o->def, o->name);
            return -1;
        }
    }
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        /* "-" (standard input) and negative numbers ("-2.1") are arguments, not options. */
        int number = a[0] == '-' && (isdigit((unsigned char)a[1]) || a[1] == '.');
        if (only_pos || a[0] != '-' || a[1] == 0 || number) {
            if (args->npos >= max_pos) {
                xg_cli_errorf(cmd, "unexpected argument '%s' (see xtalgen help %s)", a, cmd);
                return -1;
            }
            /* Slot 1 + npos is at or before i: moving the word there loses nothing. */
            argv[1 + args->npos++] = (char *)a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        int k = find(table, a, len);
        if (k < 0) {
            char word[64];
            snprintf(word, sizeof word, "%.*s", (int)(len < 63 ? len : 63), a);
            const char *s = xg_opts_suggest(table, word);
            if (s)
                xg_cli_errorf(cmd, "unknown option '%s'; did you mean %s?", word, s);
            else
                xg_cli_errorf(cmd, "unknown option '%s'", word);
            list_valid(table);
            return -1;
        }
        const xg_opt *o = &table[k];
        const char *v = NULL;
        if (o->type == XG_OPT_FLAG) {
            if (eq) {
                xg_cli_errorf(cmd, "%s takes no value", o->name);
                return -1;
            }
        } else if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            xg_cli_errorf(cmd, "%s needs a value", o->name);
            return -1;
        }
        if (store(cmd, o, v, dst))
            return -1;
        while (o->type == XG_OPT_LIST && o->lo > 0 && i + 1 < argc && argv[i + 1][0] != '-' &&
               !only_pos)
            if (store(cmd, o, argv[++i], dst))
                return -1;
        if (args->given[k] < 255)
            args->given[k]++;
    }
    return 0;
}

int xg_opts_given(const xg_opt *table, const xg_opts_args *args, const char *name)
{
    int k = find(table, name, strlen(name));
    return k >= 0 && args->given[k] > 0;
}

/* Appends the spellings of o to head: one-letter aliases ("-o") first, then the name, then the
 * other aliases. */
static int spellings(char *head, size_t cap, const xg_opt *o)
{
    int n = snprintf(head, cap, " ");
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1) {
            n += snprintf(head + n, cap - (size_t)n, "%s %s", n > 1 ? "," : "", o->name);
            continue;
        }
        for (const char *p = o->aliases; p && *p && n < (int)cap;) {
            size_t m = strcspn(p, ",");
            int shortform = m == 2 && p[0] == '-' && p[1] != '-';
            if (shortform == (pass == 0))
                n += snprintf(head + n, cap - (size_t)n, "%s %.*s", n > 1 ? "," : "", (int)m, p);
            p += m;
            if (*p == ',')
                p++;
        }
    }
    return n;
}

void xg_opts_help(FILE *f, const xg_opt *table)
{
    const int col = 25, width = 92; /* where the help text starts, the longest line */
    for (const xg_opt *o = table; o->type != XG_OPT_END; o++) {
        if (o->type == XG_OPT_TEXT) {
            fputs(o->help, f);
            continue;
        }
        char head[160];
        int n = spellings(head, sizeof head, o);
        if (n < (int)sizeof head && o->type != XG_OPT_FLAG) {
            if (o->meta)
                n += snprintf(head + n, sizeof head - (size_t)n, " %s", o->meta);
            else if (o->choices)
                n += snprintf(head + n, sizeof head - (size_t)n, " %s", o->choices);
        }
        fputs(head, f);
        if (n + 1 > col - 1)
            fprintf(f, "\n%*s", col - 1, "");
        else
            fprintf(f, "%*s", col - 1 - n, "");
        /* Words, wrapped at `width`; a '\n' in the text also starts a new line. */
        int len = col - 1;
        for (const char *p = o->help ? o->help : ""; *p;) {
            if (*p == '\n') {
                p++;
                if (*p) {
                    fprintf(f, "\n%*s", col - 1, "");
                    len = col - 1;
                }
                continue;
            }
            if (*p == ' ') {
                p++;
                continue;
            }
            int m = (int)strcspn(p, " \n");
            if (len > col - 1 && len + 1 + m > width) {
                fprintf(f, "\n%*s", col - 1, "");
                len = col - 1;
            }
            fprintf(f, " %.*s", m, p);
            len += 1 + m;
            p += m;
        }
        if (o->def) {
            int w = (int)strlen(o->def) + 11;
            if (len + w > width)
                fprintf(f, "\n%*s", col - 1, "");
            fprintf(f, " (default %s)", o->def);
        }
        fputc('\n', f);
    }
}
