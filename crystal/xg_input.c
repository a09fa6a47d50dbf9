/* xg_input.c: one entry point for every structure input (see xg_input.h). */
#include "crystal/xg_input.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "crystal/xg_cif.h"
#include "crystal/xg_csv.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_lattice.h"
#include "crystal/xg_poscar.h"

#define XG_INPUT_MAX_FILE ((long long)1 << 31)
#define XG_EXTXYZ_MAX_ATOMS 1000000

const char *xg_input_format_name(xg_input_format fmt)
{
    switch (fmt) {
    case XG_INPUT_CIF: return "CIF";
    case XG_INPUT_POSCAR: return "POSCAR";
    case XG_INPUT_EXTXYZ: return "extxyz";
    case XG_INPUT_H5: return "xtalgen HDF5 dataset";
    case XG_INPUT_CSV: return "CDVAE CSV";
    case XG_INPUT_DIR: return "folder";
    default: return "unknown";
    }
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static const char *extension(const char *path)
{
    const char *b = base_name(path), *dot = strrchr(b, '.');
    return (dot && dot != b) ? dot + 1 : "";
}

/* File name without folder and extension, for ids. */
static void stem(const char *path, char *out, size_t n)
{
    const char *b = base_name(path);
    const char *dot = strrchr(b, '.');
    size_t len = (dot && dot != b) ? (size_t)(dot - b) : strlen(b);
    if (len >= n)
        len = n - 1;
    memcpy(out, b, len);
    out[len] = '\0';
}

static xg_input_format by_extension(const char *path)
{
    const char *ext = extension(path), *b = base_name(path);
    if (!strcasecmp(ext, "cif") || !strcasecmp(ext, "mcif"))
        return XG_INPUT_CIF;
    if (!strcasecmp(ext, "vasp") || !strcasecmp(ext, "poscar") || !strncmp(b, "POSCAR", 6) ||
        !strncmp(b, "CONTCAR", 7))
        return XG_INPUT_POSCAR;
    if (!strcasecmp(ext, "extxyz") || !strcasecmp(ext, "xyz"))
        return XG_INPUT_EXTXYZ;
    if (!strcasecmp(ext, "h5") || !strcasecmp(ext, "hdf5"))
        return XG_INPUT_H5;
    if (!strcasecmp(ext, "csv"))
        return XG_INPUT_CSV;
    return XG_INPUT_UNKNOWN;
}

int xg_input_detect(const char *path, xg_input_format *fmt, xg_error *err)
{
    *fmt = XG_INPUT_UNKNOWN;
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return xg_error_set(err, XG_EIO, "%s: cannot open: %s", path ? path : "(null)",
                            strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        *fmt = XG_INPUT_DIR;
        return XG_OK;
    }
    *fmt = by_extension(path);
    if (*fmt != XG_INPUT_UNKNOWN)
        return XG_OK;
    /* No telling extension: look at the first bytes. */
    FILE *f = fopen(path, "rb");
    if (!f)
        return xg_error_set(err, XG_EIO, "%s: cannot open: %s", path, strerror(errno));
    char head[4097];
    size_t n = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    head[n] = '\0';
    if (n >= 8 && memcmp(head, "\x89HDF\r\n\x1a\n", 8) == 0) {
        *fmt = XG_INPUT_H5;
        return XG_OK;
    }
    if (!strncmp(head, "data_", 5) || strstr(head, "\ndata_") || strstr(head, "_cell_length_a")) {
        *fmt = XG_INPUT_CIF;
        return XG_OK;
    }
    char *nl = strchr(head, '\n');
    if (nl && strstr(head, "material_id") && memchr(head, ',', (size_t)(nl - head))) {
        *fmt = XG_INPUT_CSV;
        return XG_OK;
    }
    if (nl && strstr(nl, "Lattice=")) {
        *fmt = XG_INPUT_EXTXYZ;
        return XG_OK;
    }
    /* a POSCAR: comment, scale, three vectors; the scale line is a lone number */
    if (nl) {
        char *p = nl + 1;
        char *end;
        strtod(p, &end);
        if (end != p) {
            while (*end == ' ' || *end == '\t' || *end == '\r')
                end++;
            if (*end == '\n') {
                *fmt = XG_INPUT_POSCAR;
                return XG_OK;
            }
        }
    }
    return xg_error_set(err, XG_EUNSUPPORTED,
                        "%s: cannot tell the format (expected CIF, POSCAR, extxyz, an xtalgen "
                        ".h5 dataset or a CDVAE .csv)",
                        path);
}

/* Reads a whole (regular) file into memory, NUL-terminated. */
static int slurp(const char *path, char **text, size_t *len, xg_error *err)
{
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return xg_error_set(err, XG_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
        (long long)st.st_size > XG_INPUT_MAX_FILE) {
        fclose(f);
        return xg_error_set(err, XG_EIO, "%s: not a regular file of a readable size", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return xg_error_set(err, XG_EIO, "%s: read error", path);
    }
    buf[got] = '\0';
    *text = buf;
    *len = got;
    return XG_OK;
}

/* Appends s to ds under id. */
static int append_as(xg_dataset *ds, xg_structure *s, const char *id, xg_error *err)
{
    snprintf(s->id, XG_ID_LEN, "%.*s", XG_ID_LEN - 1, id);
    return xg_dataset_append(ds, s, NULL, err);
}

static int read_cif_into(const char *path, xg_dataset *ds, xg_error *err)
{
    char *text;
    size_t len;
    int rc = slurp(path, &text, &len, err);
    if (rc)
        return rc;
    xg_structure **list = NULL;
    int n = 0;
    rc = xg_cif_read_buffer(text, len, path, &list, &n, err);
    free(text);
    if (rc)
        return rc;
    char st[XG_ID_LEN];
    stem(path, st, sizeof st);
    /* Block names serve as ids only when they tell the crystals apart. */
    int unique = 1;
    for (int i = 0; i < n && unique; i++) {
        if (!list[i]->id[0])
            unique = 0;
        for (int j = 0; j < i && unique; j++)
            if (!strcmp(list[i]->id, list[j]->id))
                unique = 0;
    }
    for (int i = 0; i < n && rc == XG_OK; i++) {
        char id[XG_ID_LEN * 2 + 8];
        if (n == 1)
            snprintf(id, sizeof id, "%s", st);
        else if (unique)
            snprintf(id, sizeof id, "%s_%s", st, list[i]->id);
        else
            snprintf(id, sizeof id, "%s_%d", st, i + 1);
        id[XG_ID_LEN - 1] = '\0';
        rc = append_as(ds, list[i], id, err);
    }
    xg_cif_structures_free(list, n);
    return rc;
}

static int read_poscar_into(const char *path, xg_dataset *ds, xg_error *err)
{
    xg_structure *s = NULL;
    int rc = xg_poscar_read_file(path, NULL, 0, &s, err);
    if (rc)
        return rc;
    char st[XG_ID_LEN];
    stem(path, st, sizeof st);
    rc = append_as(ds, s, st, err);
    xg_structure_free(s);
    return rc;
}

/* ------------------------------------------------------------------ extxyz -------- */

/* Finds key=value in an extxyz comment line (keys case-insensitive; values bare or in double
 * quotes). Copies the value into val. Returns 1 if found. */
static int exyz_value(const char *line, size_t len, const char *key, char *val, size_t n)
{
    size_t i = 0, klen = strlen(key);
    while (i < len) {
        while (i < len && isspace((unsigned char)line[i]))
            i++;
        size_t k0 = i;
        while (i < len && line[i] != '=' && !isspace((unsigned char)line[i]))
            i++;
        size_t k1 = i;
        const char *v = NULL;
        size_t vlen = 0;
        if (i < len && line[i] == '=') {
            i++;
            if (i < len && (line[i] == '"' || line[i] == '\'')) {
                char q = line[i++];
                v = line + i;
                while (i < len && line[i] != q)
                    i++;
                vlen = (size_t)(line + i - v);
                if (i < len)
                    i++;
            } else {
                v = line + i;
                while (i < len && !isspace((unsigned char)line[i]))
                    i++;
                vlen = (size_t)(line + i - v);
            }
        }
        if (k1 - k0 == klen && !strncasecmp(line + k0, key, klen) && v) {
            if (vlen >= n)
                vlen = n - 1;
            memcpy(val, v, vlen);
            val[vlen] = '\0';
            return 1;
        }
        if (k1 == k0 && i < len)
            i++; /* stray '=' */
    }
    return 0;
}

/* Next line of text from *pos: sets start/length (without the newline); 0 at the end. */
static int next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *n)
{
    if (*pos >= len)
        return 0;
    size_t s = *pos, e = s;
    while (e < len && text[e] != '\n')
        e++;
    *line = text + s;
    *n = e - s;
    if (*n > 0 && text[e - 1] == '\r')
        (*n)--;
    *pos = e < len ? e + 1 : len;
    return 1;
}

static int blank_line(const char *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)l[i]))
            return 0;
    return 1;
}

int xg_input_read_extxyz(const char *text, size_t len, const char *name, xg_dataset *ds,
                         xg_error *err)
{
    size_t pos = 0;
    long lineno = 0;
    int frame = 0;
    int64_t first = ds->n;
    const char *line;
    size_t n;
    while (next_line(text, len, &pos, &line, &n)) {
        lineno++;
        if (blank_line(line, n))
            continue;
        char buf[64];
        size_t cl = n < sizeof buf - 1 ? n : sizeof buf - 1;
        memcpy(buf, line, cl);
        buf[cl] = '\0';
        char *end;
        long natoms = strtol(buf, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        if (end == buf || *end || natoms < 1 || natoms > XG_EXTXYZ_MAX_ATOMS)
            return xg_error_set(err, XG_EPARSE,
                                "%s:%ld: expected the number of atoms of a frame (1..%d)", name,
                                lineno, XG_EXTXYZ_MAX_ATOMS);
        long cline = lineno + 1;
        if (!next_line(text, len, &pos, &line, &n))
            return xg_error_set(err, XG_EPARSE, "%s:%ld: file ends before the comment line",
                                name, cline);
        lineno++;
        char val[2048];
        if (!exyz_value(line, n, "Lattice", val, sizeof val))
            return xg_error_set(err, XG_EPARSE,
                                "%s:%ld: no Lattice=\"...\" in the comment line (a molecule, "
                                "not a crystal)",
                                name, cline);
        double L[3][3];
        char *p = val;
        for (int k = 0; k < 9; k++) {
            double x = strtod(p, &end);
            if (end == p || !isfinite(x))
                return xg_error_set(err, XG_EPARSE, "%s:%ld: Lattice needs 9 numbers", name,
                                    cline);
            L[k / 3][k % 3] = x;
            p = end;
        }
        /* Properties=species:S:1:pos:R:3 by default; locate the species (or Z) and pos columns */
        int col_species = 0, col_pos = 1, species_is_z = 0, ncols = 4;
        if (exyz_value(line, n, "Properties", val, sizeof val)) {
            col_species = col_pos = -1;
            int col = 0;
            char *save = NULL;
            char *tok = strtok_r(val, ":", &save);
            while (tok) {
                char *type = strtok_r(NULL, ":", &save);
                char *cnt = strtok_r(NULL, ":", &save);
                if (!type || !cnt)
                    return xg_error_set(err, XG_EPARSE,
                                        "%s:%ld: Properties must be name:type:count triples",
                                        name, cline);
                int c = atoi(cnt);
                if (c < 1 || c > 100)
                    return xg_error_set(err, XG_EPARSE, "%s:%ld: bad column count '%s' for %s",
                                        name, cline, cnt, tok);
                if (!strcasecmp(tok, "species") && c == 1)
                    col_species = col;
                else if (!strcasecmp(tok, "Z") && c == 1 && col_species < 0) {
                    col_species = col;
                    species_is_z = 1;
                } else if (!strcasecmp(tok, "pos") && c == 3)
                    col_pos = col;
                col += c;
                tok = strtok_r(NULL, ":", &save);
            }
            ncols = col;
            if (col_species < 0 || col_pos < 0)
                return xg_error_set(err, XG_EPARSE,
                                    "%s:%ld: Properties has no species (or Z) and pos:R:3 columns",
                                    name, cline);
        }
        xg_structure *s = xg_structure_alloc((int)natoms);
        if (!s)
            return xg_error_set(err, XG_ENOMEM, "%s:%ld: out of memory", name, cline);
        memcpy(s->lattice, L, sizeof L);
        double *cart = malloc((size_t)natoms * 3 * sizeof *cart);
        if (!cart) {
            xg_structure_free(s);
            return xg_error_set(err, XG_ENOMEM, "%s:%ld: out of memory", name, cline);
        }
        int rc = XG_OK;
        for (long a = 0; a < natoms && rc == XG_OK; a++) {
            if (!next_line(text, len, &pos, &line, &n)) {
                rc = xg_error_set(err, XG_EPARSE, "%s:%ld: file ends after %ld of %ld atoms",
                                  name, lineno, a, natoms);
                break;
            }
            lineno++;
            /* split on whitespace into at most ncols tokens */
            char row[1024];
            size_t rl = n < sizeof row - 1 ? n : sizeof row - 1;
            memcpy(row, line, rl);
            row[rl] = '\0';
            char *tok[128];
            int nt = 0;
            char *save = NULL;
            for (char *t = strtok_r(row, " \t", &save); t && nt < 128;
                 t = strtok_r(NULL, " \t", &save))
                tok[nt++] = t;
            if (nt < ncols || col_pos + 3 > nt || col_species >= nt) {
                rc = xg_error_set(err, XG_EPARSE, "%s:%ld: atom line has %d columns, expected %d",
                                  name, lineno, nt, ncols);
                break;
            }
            int z;
            if (species_is_z) {
                z = atoi(tok[col_species]);
            } else {
                z = xg_element_from_symbol(tok[col_species]);
            }
            if (z < 1 || z > XG_MAX_Z) {
                rc = xg_error_set(err, XG_EPARSE, "%s:%ld: unknown element '%s'", name, lineno,
                                  tok[col_species]);
                break;
            }
            s->types[a] = z;
            for (int d = 0; d < 3; d++) {
                double x = strtod(tok[col_pos + d], &end);
                if (end == tok[col_pos + d] || *end || !isfinite(x)) {
                    rc = xg_error_set(err, XG_EPARSE, "%s:%ld: bad coordinate '%s'", name, lineno,
                                      tok[col_pos + d]);
                    break;
                }
                cart[a * 3 + d] = x;
            }
        }
        if (rc == XG_OK) {
            rc = xg_lattice_cart_to_frac((const double(*)[3])s->lattice, cart, (int)natoms,
                                         &s->frac[0][0], err);
            if (rc)
                xg_error_prefix(err, "%s:%ld", name, cline);
        }
        free(cart);
        if (rc == XG_OK) {
            xg_structure_wrap(s);
            char id[XG_ID_LEN + 32];
            snprintf(id, sizeof id, "%s_%d", name, ++frame);
            id[XG_ID_LEN - 1] = '\0';
            rc = append_as(ds, s, id, err);
        }
        xg_structure_free(s);
        if (rc)
            return rc;
    }
    if (frame == 0)
        return xg_error_set(err, XG_EPARSE, "%s: no frames", name);
    if (frame == 1) /* one frame: the plain name is the id */
        snprintf(ds->ids[first], XG_ID_LEN, "%s", name);
    return XG_OK;
}

static int read_extxyz_into(const char *path, xg_dataset *ds, xg_error *err)
{
    char *text;
    size_t len;
    int rc = slurp(path, &text, &len, err);
    if (rc)
        return rc;
    char st[XG_ID_LEN];
    stem(path, st, sizeof st);
    int64_t first = ds->n;
    rc = xg_input_read_extxyz(text, len, path, ds, err);
    free(text);
    /* ids from the file stem rather than the full path */
    for (int64_t i = first; rc == XG_OK && i < ds->n; i++) {
        char id[XG_ID_LEN + 32];
        if (ds->n - first == 1)
            snprintf(id, sizeof id, "%s", st);
        else
            snprintf(id, sizeof id, "%s_%lld", st, (long long)(i - first + 1));
        id[XG_ID_LEN - 1] = '\0';
        memset(ds->ids[i], 0, XG_ID_LEN);
        memcpy(ds->ids[i], id, strlen(id));
    }
    return rc;
}

/* ------------------------------------------------------------------ folders ------- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_dir_into(const char *path, xg_dataset *ds, xg_input_progress_fn progress,
                         void *ctx, xg_error *err)
{
    DIR *d = opendir(path);
    if (!d)
        return xg_error_set(err, XG_EIO, "%s: cannot open the folder: %s", path, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = XG_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        xg_input_format f = by_extension(e->d_name);
        if (f != XG_INPUT_CIF && f != XG_INPUT_POSCAR && f != XG_INPUT_EXTXYZ)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory listing the folder", path);
                break;
            }
            names = p;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) {
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory listing the folder", path);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == XG_OK && n == 0)
        rc = xg_error_set(err, XG_EPARSE,
                          "%s: no CIF, POSCAR or extxyz files in the folder (by extension: .cif, "
                          ".vasp, .poscar, POSCAR*, CONTCAR*, .extxyz, .xyz)",
                          path);
    if (rc == XG_OK)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && rc == XG_OK; i++) {
        size_t pl = strlen(path) + strlen(names[i]) + 2;
        char *full = malloc(pl);
        if (!full) {
            rc = xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
            break;
        }
        snprintf(full, pl, "%s/%s", path, names[i]);
        struct stat st;
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
            xg_input_format f = by_extension(names[i]);
            if (f == XG_INPUT_CIF)
                rc = read_cif_into(full, ds, err);
            else if (f == XG_INPUT_POSCAR)
                rc = read_poscar_into(full, ds, err);
            else
                rc = read_extxyz_into(full, ds, err);
        }
        free(full);
        if (progress)
            progress(ctx, (long long)i + 1, (long long)n);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* ------------------------------------------------------------------ entry ---------- */

typedef struct {
    xg_input_progress_fn fn;
    void *ctx;
} progress_relay;

static void relay(void *ctx, long long done, long long total)
{
    progress_relay *r = ctx;
    if (r->fn)
        r->fn(r->ctx, done, total);
}

int xg_input_read_progress(const char *path, xg_input_progress_fn progress, void *ctx,
                           xg_dataset **out, xg_error *err)
{
    *out = NULL;
    xg_input_format fmt;
    int rc = xg_input_detect(path, &fmt, err);
    if (rc)
        return rc;
    xg_dataset *ds = NULL;
    if (fmt == XG_INPUT_H5) {
        rc = xg_dataset_read_h5(path, &ds, err);
    } else if (fmt == XG_INPUT_CSV) {
        progress_relay r = {progress, ctx};
        rc = xg_csv_read_cdvae(path, &ds, progress ? relay : NULL, &r, err);
    } else {
        ds = xg_dataset_alloc();
        if (!ds)
            return xg_error_set(err, XG_ENOMEM, "%s: out of memory", path);
    }
    if (rc)
        return rc;
    switch (fmt) {
    case XG_INPUT_H5:
    case XG_INPUT_CSV: break;
    case XG_INPUT_CIF: rc = read_cif_into(path, ds, err); break;
    case XG_INPUT_POSCAR: rc = read_poscar_into(path, ds, err); break;
    case XG_INPUT_EXTXYZ: rc = read_extxyz_into(path, ds, err); break;
    case XG_INPUT_DIR: rc = read_dir_into(path, ds, progress, ctx, err); break;
    default: rc = xg_error_set(err, XG_EUNSUPPORTED, "%s: unsupported input", path); break;
    }
    if (rc == XG_OK && ds->n == 0)
        rc = xg_error_set(err, XG_EPARSE, "%s: no crystal structures found", path);
    if (rc) {
        xg_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return XG_OK;
}

int xg_input_read(const char *path, xg_dataset **out, xg_error *err)
{
    return xg_input_read_progress(path, NULL, NULL, out, err);
}
