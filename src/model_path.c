/* model_path.c: where the shipped model and data files are found (see model_path.h). */
#define _GNU_SOURCE /* dladdr: which file (program or libxtalgen.so) this code was loaded from */
#include "src/model_path.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int exists(const char *p) { return access(p, R_OK) == 0; }

enum { XG_MAX_PLACES = 7 };

/* Adds DIR/../data/SUB/NAME and DIR/../share/xtalgen/SUB/NAME. */
static void add_beside(const char *dir, const char *sub, const char *name, char tried[][4096],
                       int *nt)
{
    snprintf(tried[(*nt)++], 4096, "%.3000s/../data/%s%.500s", dir, sub, name);
    snprintf(tried[(*nt)++], 4096, "%.3000s/../share/xtalgen/%s%.500s", dir, sub, name);
}

/* The folder holding file (file cut at its last '/'); "" when it has none. */
static void dir_of(const char *file, char *dir, size_t n)
{
    snprintf(dir, n, "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        dir[0] = '\0';
}

/* The search both lookups share, first hit wins:
 *  $ENV/NAME;
 *  beside the running program: <bin>/../data/SUB (a build folder inside the source tree) and
 *  <bin>/../share/xtalgen/SUB (an installed program);
 *  beside the file this code was loaded from, when it is another one (libxtalgen.so used from
 *  Python or a C program: <prefix>/lib/../share/xtalgen/SUB);
 *  the data folder of the install prefix configured at build time (XTALGEN_INSTALL_DATADIR,
 *  for a library installed in a multiarch libdir such as lib/x86_64-linux-gnu);
 *  the source tree the code was built from (a build folder elsewhere).
 * `cmake --install` lays the data out as data/ is in the source tree, under share/xtalgen. */
static int find_shipped(const char *env_name, const char *sub, const char *name, const char *what,
                        const char *hint, char *out, size_t n, xg_error *err)
{
    char tried[XG_MAX_PLACES][4096];
    int nt = 0;
    const char *env = getenv(env_name);
    if (env && *env)
        snprintf(tried[nt++], sizeof tried[0], "%.3000s/%.500s", env, name);
    char exe[4096], bindir[4096] = "";
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        dir_of(exe, bindir, sizeof bindir);
        if (bindir[0])
            add_beside(bindir, sub, name, tried, &nt);
    }
    Dl_info info;
    char self[4096], libdir[4096];
    if (dladdr((void *)&find_shipped, &info) && info.dli_fname &&
        realpath(info.dli_fname, self)) {
        dir_of(self, libdir, sizeof libdir);
        if (libdir[0] && strcmp(libdir, bindir))
            add_beside(libdir, sub, name, tried, &nt);
    }
#ifdef XTALGEN_INSTALL_DATADIR
    snprintf(tried[nt++], sizeof tried[0], "%.3000s/%s%.500s", XTALGEN_INSTALL_DATADIR, sub, name);
#endif
#ifdef XTALGEN_SOURCE_DIR
    snprintf(tried[nt++], sizeof tried[0], "%.3000s/data/%s%.500s", XTALGEN_SOURCE_DIR, sub, name);
#endif
    for (int i = 0; i < nt; i++) {
        if (!exists(tried[i]))
            continue;
        if (strlen(tried[i]) >= n)
            return xg_error_set(err, XG_EINVAL, "%s path too long: %s", what, tried[i]);
        snprintf(out, n, "%s", tried[i]);
        return XG_OK;
    }
    char msg[XG_MAX_PLACES * 600] = "";
    for (int i = 0; i < nt; i++) {
        size_t used = strlen(msg);
        snprintf(msg + used, sizeof msg - used, "%s%.590s", i ? ", " : "", tried[i]);
    }
    return xg_error_set(err, XG_EIO, "no shipped %s %s found (tried %s); %s", what, name, msg,
                        hint);
}

int xg_default_model_path(const char *name, char *out, size_t n, xg_error *err)
{
    return find_shipped("XTALGEN_MODEL_DIR", "models/", name, "model", "pass --model", out, n, err);
}

int xg_default_data_path(const char *name, char *out, size_t n, xg_error *err)
{
    return find_shipped("XTALGEN_DATA_DIR", "", name, "data file", "pass its path", out, n, err);
}
