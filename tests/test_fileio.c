/* test_fileio.c: the one atomic writer, the one whole-file reader (crystal/xg_fileio.h) and
 * the CSV and JSON escapes of every text output (crystal/xg_csv.h, crystal/xg_json.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crystal/xg_csv.h"
#include "crystal/xg_fileio.h"
#include "crystal/xg_json.h"
#include "xg_test.h"

/* Number of entries of dir (besides . and ..). */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static char *slurp(const char *path)
{
    char *t = NULL;
    size_t n;
    xg_error err;
    return xg_file_read_all(path, 1 << 20, &t, &n, &err) == XG_OK ? t : NULL;
}

static int write_text(FILE *f, const void *ctx, xg_error *err)
{
    fputs(ctx, f);
    return XG_OK;
}

static int write_fails(FILE *f, const void *ctx, xg_error *err)
{
    fputs("half", f);
    return xg_error_set(err, XG_EINVAL, "made to fail");
}

static void test_atomic(void)
{
    const char *dir = xg_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    xg_error err;
    CU_ASSERT_EQUAL(xg_file_write_atomic_with(path, write_text, "one\n", &err), XG_OK);
    char *t = slurp(path);
    CU_ASSERT_STRING_EQUAL(t, "one\n");
    free(t);
    /* A failing writer leaves the old file and no temporary one; the message names the path. */
    CU_ASSERT_EQUAL(xg_file_write_atomic_with(path, write_fails, NULL, &err), XG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
    t = slurp(path);
    CU_ASSERT_STRING_EQUAL(t, "one\n");
    free(t);
    CU_ASSERT_EQUAL(count_entries(dir), 1);
    /* Temporary names are unique: a leftover under the first name is passed over, not reused. */
    char t1[4200], t2[4200];
    CU_ASSERT_EQUAL(xg_atomic_tmpname(path, t1, sizeof t1, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_atomic_tmpname(path, t2, sizeof t2, &err), XG_OK);
    CU_ASSERT_STRING_NOT_EQUAL(t1, t2);
    CU_ASSERT_PTR_NOT_NULL(strstr(t1, "out.txt.tmp."));
    xg_atomic_file a;
    CU_ASSERT_EQUAL_FATAL(xg_atomic_open(&a, path, &err), XG_OK);
    CU_ASSERT_STRING_NOT_EQUAL(a.tmp, t1);
    CU_ASSERT_STRING_NOT_EQUAL(a.tmp, t2);
    fputs("two\n", a.f);
    CU_ASSERT_EQUAL(xg_atomic_commit(&a, &err), XG_OK);
    t = slurp(path);
    CU_ASSERT_STRING_EQUAL(t, "two\n");
    free(t);
    remove(t1);
    remove(t2);
    CU_ASSERT_EQUAL(count_entries(dir), 1);
    /* abort removes the temporary file and keeps the old one */
    CU_ASSERT_EQUAL_FATAL(xg_atomic_open(&a, path, &err), XG_OK);
    fputs("three\n", a.f);
    xg_atomic_abort(&a);
    CU_ASSERT_EQUAL(count_entries(dir), 1);
    /* A missing folder: XG_EIO naming it. */
    snprintf(path, sizeof path, "%s/no/such/dir/x.txt", dir);
    CU_ASSERT_EQUAL(xg_file_write_atomic_with(path, write_text, "x", &err), XG_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no/such/dir"));
}

/* Leftovers of dead writers go; those of live ones (pid 1, this process) and other names stay. */
static void test_sweep(void)
{
    const char *dir = xg_test_tmpdir();
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    CU_ASSERT_FATAL(child > 0);
    waitpid(child, NULL, 0); /* a pid that no longer exists */
    char path[4200], p[4300];
    snprintf(path, sizeof path, "%s/m.h5", dir);
    const char *names[] = {"m.h5.tmp.%ld.0", "m.h5.tmp.1.0", "m.h5.tmp.%ld.3x", "n.h5.tmp.%ld.0",
                           "m.h5"};
    long pids[] = {(long)child, 0, (long)child, (long)child, 0};
    for (int i = 0; i < 5; i++) {
        char nm[128];
        snprintf(nm, sizeof nm, names[i], pids[i]);
        snprintf(p, sizeof p, "%s/%s", dir, nm);
        FILE *f = fopen(p, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        fclose(f);
    }
    char own[4200];
    xg_error err;
    CU_ASSERT_EQUAL(xg_atomic_tmpname(path, own, sizeof own, &err), XG_OK);
    CU_ASSERT_EQUAL(count_entries(dir), 6);
    xg_atomic_sweep(path);
    CU_ASSERT_EQUAL(count_entries(dir), 5); /* only the dead writer's m.h5.tmp.PID.0 */
    snprintf(p, sizeof p, "%s/m.h5.tmp.%ld.0", dir, (long)child);
    CU_ASSERT_FALSE(xg_test_exists(p));
    CU_ASSERT_TRUE(xg_test_exists(own));
}

static void test_leftover_names(void)
{
    /* What the writer names a temporary file is what the leftover test recognises (generate
     * --resume and --overwrite clean up by it; the two once disagreed on NAME.tmp.PID.K). */
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s", xg_test_tmpfile(".cif", ""));
    xg_error err;
    CU_ASSERT_EQUAL_FATAL(xg_atomic_tmpname(path, tmp, sizeof tmp, &err), XG_OK);
    const char *base = strrchr(tmp, '/');
    CU_ASSERT_TRUE(xg_atomic_is_leftover(base ? base + 1 : tmp));
    remove(tmp);
    const char *yes[] = {"a.cif.tmp", "a.cif.tmp.123", "gen-0000001.cif.tmp.4392.0", "x.tmp.1.2.3"};
    const char *no[] = {".tmp", ".tmp.1", "a.cif", "a.tmp.", "a.tmp.1.", "a.tmp..1", "a.tmp.12x",
                        "a.tmpx", "a.tmp.1x.2", "notes.txt", ""};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        CU_ASSERT_TRUE(xg_atomic_is_leftover(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        CU_ASSERT_FALSE(xg_atomic_is_leftover(no[i]));
    CU_ASSERT_FALSE(xg_atomic_is_leftover(NULL));
}

static void test_read_all(void)
{
    const char *p = xg_test_tmpfile(".txt", "abc\ndef\n");
    char *t = NULL;
    size_t n = 0;
    xg_error err;
    CU_ASSERT_EQUAL(xg_file_read_all(p, 100, &t, &n, &err), XG_OK);
    CU_ASSERT_EQUAL(n, 8);
    CU_ASSERT_STRING_EQUAL(t, "abc\ndef\n"); /* NUL-terminated */
    free(t);
    /* exactly at the limit is fine; one byte over is refused */
    CU_ASSERT_EQUAL(xg_file_read_all(p, 8, &t, &n, &err), XG_OK);
    free(t);
    CU_ASSERT_EQUAL(xg_file_read_all(p, 7, &t, &n, &err), XG_EIO);
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "larger than"));
    /* empty file */
    p = xg_test_tmpfile(".txt", "");
    CU_ASSERT_EQUAL(xg_file_read_all(p, 100, &t, &n, &err), XG_OK);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_STRING_EQUAL(t, "");
    free(t);
    /* a file larger than the first 64 KiB block of a stream (read through a pipe) */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "head -c 200000 /dev/zero | tr '\\0' x > %s/big.txt", xg_test_tmpdir());
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/fifo", xg_test_tmpdir());
    if (mkfifo(cmd, 0600) == 0) {
        char sh[512];
        snprintf(sh, sizeof sh, "head -c 200000 /dev/zero | tr '\\0' y > %s &", cmd);
        CU_ASSERT_EQUAL(system(sh), 0);
        CU_ASSERT_EQUAL(xg_file_read_all(cmd, 1 << 20, &t, &n, &err), XG_OK);
        CU_ASSERT_EQUAL(n, 200000);
        CU_ASSERT(t && t[0] == 'y' && t[199999] == 'y' && t[200000] == '\0');
        free(t);
    }
    CU_ASSERT_EQUAL(xg_file_read_all("/nonexistent/f", 100, &t, &n, &err), XG_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent/f: cannot open"));
    CU_ASSERT_EQUAL(xg_file_read_all(xg_test_tmpdir(), 100, &t, &n, &err), XG_EIO);
}

/* What a writer produced, as a string (caller frees). */
static char *capture(void (*w)(FILE *, const char *), const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    w(f, s);
    fclose(f);
    return buf;
}

static void test_escapes(void)
{
    struct { const char *in, *csv, *json; } cases[] = {
        {"plain", "plain", "\"plain\""},
        {"a,b", "\"a,b\"", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\"", "\"say \\\"hi\\\"\""},
        {"two\nlines", "\"two\nlines\"", "\"two\\u000alines\""},
        {"back\\slash\t", "back\\slash\t", "\"back\\\\slash\\u0009\""},
        {"Fe\xc3\xa9", "Fe\xc3\xa9", "\"Fe\xc3\xa9\""},
        {"", "", "\"\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c = capture(xg_csv_write_cell, cases[i].in), *j = capture(xg_json_write_string,
                                                                        cases[i].in);
        CU_ASSERT_STRING_EQUAL(c, cases[i].csv);
        CU_ASSERT_STRING_EQUAL(j, cases[i].json);
        free(c);
        free(j);
    }
    char *j = capture(xg_json_write_string, NULL);
    CU_ASSERT_STRING_EQUAL(j, "\"\"");
    free(j);
    /* what the CSV reader reads back is what was written */
    const char *p = xg_test_tmpfile(".csv", "");
    FILE *f = fopen(p, "w");
    fputs("a,b\n", f);
    xg_csv_write_cell(f, "x,\"y\"");
    fputc(',', f);
    xg_csv_write_cell(f, "z");
    fputc('\n', f);
    fclose(f);
    xg_csv_reader *r = NULL;
    xg_error err;
    int got = 0;
    CU_ASSERT_EQUAL_FATAL(xg_csv_open(p, &r, &err), XG_OK);
    CU_ASSERT_EQUAL(xg_csv_next(r, &got, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(got, 1);
    CU_ASSERT_STRING_EQUAL(xg_csv_field(r, 0), "x,\"y\"");
    CU_ASSERT_STRING_EQUAL(xg_csv_field(r, 1), "z");
    xg_csv_close(r);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"atomic writes", test_atomic},
        {"leftovers of killed writers", test_sweep},
        {"leftover names", test_leftover_names},
        {"whole-file reads", test_read_all},
        {"CSV and JSON escapes", test_escapes},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("fileio", tests);
}
