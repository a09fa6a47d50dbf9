#include "src/model_path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int exists(const char *p) { return access(p, R_OK) == 0; }

/* The search both lookups share: $ENV/NAME, then SUB/NAME under <binary>/../data,
 * <binary>/../share/xtalgen and <source tree>/data (SUB "" for data/ itself). */
static int find_shipped(const char *env_name, const char *sub, const char *name, const char *what,
                        const char *hint, char *out, size_t n, xg_error *err)
{
    char tried[4][4096];
    int nt = 0;
    const char *env = getenv(env_name);
    if (env && *env) {
        snprintf(tried[nt], sizeof tried[nt], "%.3000s/%.500s", env, name);
        if (exists(tried[nt]))
            goto found;
        nt++;
    }
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(tried[nt], sizeof tried[nt], "%.3000s/../data/%s%.500s", exe, sub, name);
        if (exists(tried[nt]))
            goto found;
        nt++;
        snprintf(tried[nt], sizeof tried[nt], "%.3000s/../share/xtalgen/%s%.500s", exe, sub, name);
        if (exists(tried[nt]))
            goto found;
        nt++;
    }
#ifdef XTALGEN_SOURCE_DIR
    /* A build folder outside the source tree still finds the files it was built with. */
    snprintf(tried[nt], sizeof tried[nt], "%.3000s/data/%s%.500s", XTALGEN_SOURCE_DIR, sub, name);
    if (exists(tried[nt]))
        goto found;
    nt++;
#endif
    {
        char msg[4 * 4100] = "";
        for (int i = 0; i < nt; i++) {
            strcat(msg, i ? ", " : "");
            strncat(msg, tried[i], sizeof msg - strlen(msg) - 3);
        }
        return xg_error_set(err, XG_EIO, "no shipped %s %s found (tried %s); %s", what, name, msg,
                            hint);
    }
found:
    if (strlen(tried[nt]) >= n)
        return xg_error_set(err, XG_EINVAL, "%s path too long", what);
    snprintf(out, n, "%s", tried[nt]);
    return XG_OK;
}

int xg_default_model_path(const char *name, char *out, size_t n, xg_error *err)
{
    return find_shipped("XTALGEN_MODEL_DIR", "models/", name, "model", "pass --model", out, n, err);
}

int xg_default_data_path(const char *name, char *out, size_t n, xg_error *err)
{
    return find_shipped("XTALGEN_DATA_DIR", "", name, "data file", "pass its path", out, n, err);
}
