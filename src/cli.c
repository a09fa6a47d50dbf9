/* cli.c: shared command-line plumbing: number parsing, option values, the progress bar,
 * atomic output files. */
#include "src/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void xg_cli_errorf(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "xtalgen %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int xg_cli_parse_int(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = val ? strtol(val, &end, 10) : 0;
    if (!val || end == val || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
        xg_cli_errorf(cmd, "%s expects an integer in [%ld, %ld], got '%s'", opt, lo, hi,
                      val ? val : "");
        return -1;
    }
    *out = v;
    return 0;
}

int xg_cli_parse_double(const char *cmd, const char *opt, const char *val, double lo, double hi,
                        double *out)
{
    char *end = NULL;
    errno = 0;
    double v = val ? strtod(val, &end) : 0;
    if (!val || end == val || *end != '\0' || errno == ERANGE || !isfinite(v) || v < lo || v > hi) {
        xg_cli_errorf(cmd, "%s expects a number in [%g, %g], got '%s'", opt, lo, hi, val ? val : "");
        return -1;
    }
    *out = v;
    return 0;
}

double xg_cli_physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0.0;
}

int xg_cli_parse_bytes(const char *cmd, const char *opt, const char *val, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = val ? strtod(val, &end) : 0, scale = 1;
    if (val && end != val && errno != ERANGE && isfinite(v) && v > 0) {
        switch (*end) {
        case 'k': case 'K': scale = 1e3; end++; break;
        case 'm': case 'M': scale = 1e6; end++; break;
        case 'g': case 'G': scale = 1e9; end++; break;
        case 't': case 'T': scale = 1e12; end++; break;
        case '%': scale = xg_cli_physical_memory() / 100; end++; break;
        default: break;
        }
        if ((*end == 'B' || *end == 'b') && end[-1] != '%')
            end++;
        if (*end == '\0' && scale > 0 && v * scale >= 1e6) {
            *out = v * scale;
            return 0;
        }
    }
    xg_cli_errorf(cmd, "%s expects a memory size of at least 1M, e.g. 8G, 500M or 50%% (of the "
                       "physical memory), got '%s'", opt, val ? val : "");
    return -1;
}

int xg_cli_is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

const char *xg_cli_value(const char *cmd, int argc, char **argv, int *i)
{
    const char *eq = strchr(argv[*i], '=');
    if (argv[*i][0] == '-' && argv[*i][1] == '-' && eq)
        return eq + 1;
    if (*i + 1 >= argc) {
        xg_cli_errorf(cmd, "option %s needs a value", argv[*i]);
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

double xg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void format_duration(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

void xg_progress_start(xg_progress *p, const char *label, long total, int quiet)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->quiet = quiet;
    p->tty = isatty(fileno(stderr));
    p->t0 = xg_now();
    p->last_draw = -1e9;
    p->last_decile = 0;
}

static void progress_draw(xg_progress *p, int final)
{
    double el = xg_now() - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0;
    double eta = (rate > 0 && p->total > 0) ? (double)(p->total - p->done) / rate : NAN;
    char e1[32], e2[32];
    format_duration(el, e1, sizeof e1);
    format_duration(final ? 0 : eta, e2, sizeof e2);
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
    if (frac > 1)
        frac = 1;
    if (p->tty) {
        char bar[31];
        int w = (int)(frac * 30);
        for (int k = 0; k < 30; k++)
            bar[k] = k < w ? '#' : '-';
        bar[30] = '\0';
        fprintf(stderr, "\r%s [%s] %ld/%ld %.1f/s %s<%s %s\033[K%s", p->label, bar, p->done,
                p->total, rate, e1, e2, p->extra, final ? "\n" : "");
    } else {
        fprintf(stderr, "%s: %ld/%ld (%3.0f%%) %.1f/s elapsed %s eta %s %s\n", p->label, p->done,
                p->total, 100 * frac, rate, e1, e2, p->extra);
    }
    fflush(stderr);
}

void xg_progress_update(xg_progress *p, long done)
{
    p->done = done;
    if (p->quiet)
        return;
    double now = xg_now();
    if (p->tty) {
        if (now - p->last_draw < 0.2)
            return;
        p->last_draw = now;
        progress_draw(p, 0);
    } else if (p->total > 0) {
        /* In logs, one line per 10% keeps long jobs visible without flooding the file. */
        int decile = (int)(10.0 * (double)done / (double)p->total);
        if (decile > p->last_decile && decile < 10) {
            p->last_decile = decile;
            progress_draw(p, 0);
        }
    }
}

void xg_progress_finish(xg_progress *p)
{
    if (p->quiet)
        return;
    progress_draw(p, 1);
}

int xg_mkdir_p(const char *path, xg_error *err)
{
    char buf[4096];
    if (!path || !*path || strlen(path) >= sizeof buf)
        return xg_error_set(err, XG_EINVAL, "invalid directory name");
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return xg_error_set(err, XG_EIO, "%s: cannot create directory: %s", buf,
                                    strerror(errno));
            *p = '/';
        }
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return xg_error_set(err, XG_EIO, "%s: cannot create directory: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return xg_error_set(err, XG_EIO, "%s: exists and is not a directory", buf);
    return XG_OK;
}

int xg_cli_check_output(const char *cmd, const char *option, const char *out,
                        const char *const *inputs, int n)
{
    struct stat so, si, sp;
    if (!out || stat(out, &so) != 0)
        return 0; /* nothing there yet: it cannot be an input */
    /* the folder holding out: an existing file in an input folder is one of its inputs */
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", out);
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    int have_parent = S_ISREG(so.st_mode) && stat(parent, &sp) == 0;
    for (int i = 0; i < n; i++) {
        if (!inputs[i] || stat(inputs[i], &si) != 0)
            continue;
        if (so.st_dev == si.st_dev && so.st_ino == si.st_ino) {
            xg_cli_errorf(cmd, "%s %s is the input %s; writing it would destroy what it is made "
                          "from: choose another output path", option, out, inputs[i]);
            return -1;
        }
        if (have_parent && S_ISDIR(si.st_mode) && sp.st_dev == si.st_dev && sp.st_ino == si.st_ino) {
            xg_cli_errorf(cmd, "%s %s is a file of the input folder %s; writing it would replace "
                          "one of the inputs: choose another output path", option, out, inputs[i]);
            return -1;
        }
    }
    return 0;
}

void xg_cli_report_skip(void *cmd, const char *path, const xg_error *why)
{
    /* reader messages usually begin with the path already: do not say it twice */
    size_t n = strlen(path);
    if (!strncmp(why->msg, path, n))
        xg_cli_errorf(cmd, "skipped unreadable %s", why->msg);
    else
        xg_cli_errorf(cmd, "skipped unreadable %s: %s", path, why->msg);
}
