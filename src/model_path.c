#include "src/model_path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int exists(const char *p) { return access(p, R_OK) == 0; }

int xg_default_model_path(const char *name, char *out, size_t n, xg_error *err)
{
    char tried[4][4096];
    int nt = 0;
    const char *env = getenv("XTALGEN_MODEL_DIR");
    if (env && *env) {
        snprintf(tried[nt], sizeof tried[nt], "%s/%s", env, name);
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
        snprintf(tried[nt], sizeof tried[nt], "%.3000s/../data/models/%.500s", exe, name);
        if (exists(tried[nt]))
            goto found;
        nt++;
        snprintf(tried[nt], sizeof tried[nt], "%.3000s/../share/xtalgen/models/%.500s", exe, name);
        if (exists(tried[nt]))
            goto found;
        nt++;
    }
#ifdef XTALGEN_SOURCE_DIR
    /* A build folder outside the source tree still finds the models it was built with. */
    snprintf(tried[nt], sizeof tried[nt], "%.3000s/data/models/%.500s", XTALGEN_SOURCE_DIR, name);
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
        return xg_error_set(err, XG_EIO, "no shipped model %s found (tried %s); pass --model", name,
                            msg);
    }
found:
    if (strlen(tried[nt]) >= n)
        return xg_error_set(err, XG_EINVAL, "model path too long");
    snprintf(out, n, "%s", tried[nt]);
    return XG_OK;
}
