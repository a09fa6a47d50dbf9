/* test_report.c: the run report's pieces (issue 22): the JSON reader, XML escaping, the SVG
 * plots parsed by a strict XML parser, the reference distributions (round trip, refusal of
 * other versions), and a whole page written from a fixture run folder whose numbers must equal
 * its summary.json's, with columns missing and unknown columns present. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crystal/xg_csv.h"
#include "crystal/xg_json.h"
#include "src/cli.h"
#include "src/report.h"
#include "src/report_ref.h"
#include "src/xg_svg.h"
#include "xg_test.h"

/* 1 when the file parses as well-formed XML: xmllint (libxml2-utils) where installed, else
 * Python's expat. Neither present is a failure: the check must not silently pass. */
static int xml_wellformed(const char *path)
{
    char cmd[4400];
    if (access("/usr/bin/xmllint", X_OK) == 0)
        snprintf(cmd, sizeof cmd, "/usr/bin/xmllint --noout '%s' 2>/dev/null", path);
    else if (access("/usr/bin/python3", X_OK) == 0)
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c 'import sys, xml.dom.minidom; "
                 "xml.dom.minidom.parse(sys.argv[1])' '%s' 2>/dev/null", path);
    else {
        fprintf(stderr, "test_report: neither xmllint nor /usr/bin/python3: cannot check XML\n");
        return 0;
    }
    return system(cmd) == 0;
}

static const char *write_tmp(const char *suffix, const xg_buf *b)
{
    return xg_test_tmpfile(suffix, b->s ? b->s : "");
}

static void test_json(void)
{
    const char *t = "{\"a\": 1.50, \"s\": \"x\\\"y\\u00e9\\ud83d\\ude00\", \"o\": {\"b\": [1, "
                    "true, null]}, \"neg\": -2e-3}";
    xg_json *j = NULL;
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_json_parse(t, strlen(t), "t", &j, &err), XG_OK);
    CU_ASSERT_STRING_EQUAL(xg_json_path(j, "a")->text, "1.50"); /* digits kept as written */
    XG_ASSERT_NEAR(xg_json_number(j, "a"), 1.5, 0);
    XG_ASSERT_NEAR(xg_json_number(j, "neg"), -0.002, 1e-15);
    CU_ASSERT_STRING_EQUAL(xg_json_string(j, "s"), "x\"y\xC3\xA9\xF0\x9F\x98\x80");
    const xg_json *b = xg_json_path(j, "o.b");
    CU_ASSERT_FATAL(b && b->type == XG_JSON_ARRAY && b->n == 3);
    CU_ASSERT_EQUAL(b->items[1].type, XG_JSON_BOOL);
    CU_ASSERT_EQUAL(b->items[2].type, XG_JSON_NULL);
    CU_ASSERT(xg_json_path(j, "o.c") == NULL);
    CU_ASSERT(isnan(xg_json_number(j, "s")));
    xg_json_free(j);

    const char *bad[] = {"{\"a\": 1,}", "{\"a\" 1}", "[1, 2", "01", "{\"a\": tru}", "\"\x01\"",
                         "{} x", "-", "1.", "\"\\q\""};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        j = NULL;
        CU_ASSERT_EQUAL(xg_json_parse(bad[k], strlen(bad[k]), "bad.json", &j, &err), XG_EPARSE);
        CU_ASSERT(j == NULL);
        CU_ASSERT(strstr(err.msg, "bad.json:1:") != NULL);
    }
    const char *two = "{\n  \"a\": [1,\n   2 3]}";
    CU_ASSERT_EQUAL(xg_json_parse(two, strlen(two), "f", &j, &err), XG_EPARSE);
    CU_ASSERT(strstr(err.msg, "f:3:") != NULL); /* the line of the error */
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    CU_ASSERT_EQUAL(xg_json_parse(deep, 200, "deep", &j, &err), XG_EPARSE);
    CU_ASSERT(strstr(err.msg, "nesting") != NULL);
}

static void test_escape(void)
{
    xg_buf b = {0};
    xg_buf_escape(&b, "a<b>&\"c'\x01\xff\xC3\xA9");
    CU_ASSERT_STRING_EQUAL(b.s, "a&lt;b&gt;&amp;&quot;c&#39;\xEF\xBF\xBD\xEF\xBF\xBD\xC3\xA9");
    xg_buf_free(&b);
    xg_buf_printf(&b, "%d-%s", 42, "x");
    CU_ASSERT_STRING_EQUAL(b.s, "42-x");
    CU_ASSERT_EQUAL(b.len, 4);
    xg_buf_free(&b);
}

static void test_hist_and_ticks(void)
{
    double v[] = {-5, 0, 0.5, 1, 1.5, 2, 9, NAN};
    double edges[] = {0, 1, 2}, f[2];
    CU_ASSERT_EQUAL(xg_svg_hist_fractions(v, 8, edges, 2, f), 7);
    /* -5, 0, 0.5 in the first bin; 1, 1.5, 2 (last bin closed) and 9 (clamped) in the second */
    XG_ASSERT_NEAR(f[0], 3.0 / 7, 1e-12);
    XG_ASSERT_NEAR(f[1], 4.0 / 7, 1e-12);
    XG_ASSERT_NEAR(xg_svg_nice_step(10, 5), 2, 1e-12);
    XG_ASSERT_NEAR(xg_svg_nice_step(0.37, 4), 0.1, 1e-12);
    XG_ASSERT_NEAR(xg_svg_nice_step(700, 6), 100, 1e-9);
}

static xg_structure *rocksalt(void)
{
    xg_structure *s = xg_structure_alloc(8);
    for (int k = 0; k < 3; k++)
        s->lattice[k][k] = 5.64;
    const double f[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) {
            s->frac[i][k] = f[i][k];
            s->frac[i + 4][k] = f[i][k] + (k == 0 ? 0.5 : 0);
        }
    for (int i = 0; i < 8; i++)
        s->types[i] = i < 4 ? 11 : 17;
    snprintf(s->id, sizeof s->id, "NaCl<&>");
    return s;
}

static void test_svg_wellformed(void)
{
    xg_buf b = {0};
    double edges[] = {0, 1, 2, 3}, a[] = {0.2, 0.5, 0.3}, c[] = {0.1, NAN, 0.9};
    xg_svg_series s[2] = {{"run <1>", XG_SVG_BLUE, a, XG_SVG_FILLED},
                          {"ref & co", XG_SVG_ORANGE, c, XG_SVG_STEP}};
    xg_buf_puts(&b, "<root xmlns=\"http://www.w3.org/1999/xhtml\">");
    xg_svg_histogram(&b, 400, 240, "T \"quoted\"", "x <unit>", edges, 3, s, 2, 1.5, "target");
    const char *labels[] = {"P1 (1)", "Fm-3m (225)", "a<b"};
    xg_svg_bars(&b, 400, 240, "bars", 3, labels, s, 2);
    double val[XG_MAX_Z + 1] = {0};
    val[8] = 0.6;
    val[26] = 0.2;
    val[92] = NAN;
    double rval[XG_MAX_Z + 1];
    for (int z = 0; z <= XG_MAX_Z; z++)
        rval[z] = z == 8 ? 0.5 : NAN;
    size_t at = b.len;
    xg_svg_ptable(&b, 30, val, rval, "MP-20 <test>", "elements");
    CU_ASSERT(strstr(b.s + at, "O (8): 60.00% of crystals; 50.00% in MP-20 &lt;test&gt;") != NULL);
    CU_ASSERT(strstr(b.s + at, "Fe (26): 20.00% of crystals</title>") != NULL);
    xg_structure *nacl = rocksalt();
    size_t before = b.len;
    xg_svg_cell(&b, 150, nacl);
    /* 8 atoms in the cell plus images on the faces: 27 atoms drawn; bonds only Na-Cl at
     * 2.82 A (1.2 x (1.66 + 1.02) = 3.2 A): both colours appear */
    const char *cell = b.s + before;
    int circles = 0;
    for (const char *p = cell; (p = strstr(p, "<circle")); p++)
        circles++;
    CU_ASSERT_EQUAL(circles, 27 + 2); /* plus the two legend markers */
    CU_ASSERT(strstr(cell, xg_svg_element_color(11)) != NULL);
    CU_ASSERT(strstr(cell, xg_svg_element_color(17)) != NULL);
    CU_ASSERT(strstr(cell, "stroke-width=\"4\"") != NULL); /* a bond */
    xg_structure_free(nacl);
    xg_buf_puts(&b, "</root>\n");
    CU_ASSERT_FATAL(!b.failed);
    CU_ASSERT(xml_wellformed(write_tmp(".xml", &b)));
    /* the strict parser does reject broken markup (the check can fail) */
    xg_buf bad = {0};
    xg_buf_puts(&bad, "<svg><text>a & b</text></svg>");
    CU_ASSERT(!xml_wellformed(write_tmp(".xml", &bad)));
    xg_buf_free(&bad);
    xg_buf_free(&b);
}

static void test_refdist_roundtrip(void)
{
    xg_dataset *ds = xg_dataset_alloc();
    xg_error err = {0};
    xg_structure *s = rocksalt();
    int p = xg_dataset_add_property(ds, "formation_energy_per_atom", &err);
    CU_ASSERT_EQUAL_FATAL(p, 0);
    double ef = -2.1;
    CU_ASSERT_EQUAL(xg_dataset_append(ds, s, &ef, &err), XG_OK);
    s->lattice[0][0] = s->lattice[1][1] = s->lattice[2][2] = 6.0;
    ef = -1.9;
    CU_ASSERT_EQUAL(xg_dataset_append(ds, s, &ef, &err), XG_OK);
    xg_structure_free(s);
    xg_refdist *r = calloc(1, sizeof *r), *q = calloc(1, sizeof *q);
    CU_ASSERT_EQUAL_FATAL(xg_refdist_build(ds, "two, \"salts\"", "test", 0.1, r, &err), XG_OK);
    CU_ASSERT_EQUAL(r->n, 2);
    CU_ASSERT_EQUAL(r->natoms[8], 2);
    CU_ASSERT_EQUAL(r->nelements[2], 2);
    CU_ASSERT_EQUAL(r->spacegroup[225], 2); /* rock salt, found by spglib */
    CU_ASSERT_EQUAL(r->element[11], 2);
    CU_ASSERT_EQUAL(r->n_eform, XG_REF_NQ);
    XG_ASSERT_NEAR(r->eform_q[0], -2.1, 1e-12);
    XG_ASSERT_NEAR(r->eform_q[XG_REF_NQ - 1], -1.9, 1e-12);
    char path[4200];
    snprintf(path, sizeof path, "%s/ref.csv", xg_test_tmpdir());
    CU_ASSERT_EQUAL_FATAL(xg_refdist_write(path, r, &err), XG_OK);
    CU_ASSERT_EQUAL_FATAL(xg_refdist_read(path, q, &err), XG_OK);
    CU_ASSERT_STRING_EQUAL(q->name, "two, \"salts\"");
    CU_ASSERT_EQUAL(q->spacegroup[225], 2);
    CU_ASSERT_EQUAL(q->n_density, XG_REF_NQ);
    XG_ASSERT_NEAR(q->density_q[0], r->density_q[0], 1e-5 * r->density_q[0]);
    /* another version, another format, a garbage value: refused with file and line */
    const char *v2 = xg_test_tmpfile(".csv", "section,key,value\nmeta,format,xtalgen-reference-"
                                             "distribution\nmeta,version,2\n");
    CU_ASSERT_EQUAL(xg_refdist_read(v2, q, &err), XG_EVERSION);
    CU_ASSERT(strstr(err.msg, ":3:") != NULL);
    const char *junk = xg_test_tmpfile(".csv", "section,key,value\nmeta,format,xtalgen-reference-"
                                               "distribution\nnatoms,4,abc\n");
    CU_ASSERT_EQUAL(xg_refdist_read(junk, q, &err), XG_EPARSE);
    CU_ASSERT(strstr(err.msg, ":3:") && strstr(err.msg, "abc"));
    free(r);
    free(q);
    xg_dataset_free(ds);
}

/* Every number the page tags with data-json="a.b" must equal summary.json's value at a.b,
 * to the digits shown. Returns the number of tagged values checked, -1 on a mismatch. */
static int check_page_numbers(const char *page, const xg_json *summary)
{
    int checked = 0;
    for (const char *p = page; (p = strstr(p, "data-json=\"")); ) {
        p += 11;
        const char *q = strchr(p, '"');
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(q - p), p);
        double scale = 1;
        const char *gt = strchr(q, '>');
        const char *sc = strstr(q, "data-scale=\"");
        if (sc && sc < gt)
            scale = atof(sc + 12);
        char shown[64];
        const char *lt = strchr(gt, '<');
        snprintf(shown, sizeof shown, "%.*s", (int)(lt - gt - 1), gt + 1);
        const char *dot = strchr(shown, '.');
        int dec = 0;
        if (dot)
            while (dot[1 + dec] >= '0' && dot[1 + dec] <= '9')
                dec++;
        double v = xg_json_number(summary, key), s = atof(shown);
        if (!(fabs(s - scale * v) <= 0.5 * pow(10, -dec) * (1 + 1e-9) + 1e-12 * fabs(s))) {
            fprintf(stderr, "page shows %s = %s, summary.json has %.10g\n", key, shown, v);
            return -1;
        }
        checked++;
        p = lt;
    }
    return checked;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

static void put(const char *dir, const char *name, const char *text)
{
    char p[8500];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* A run folder as generate and screen write it, by hand: three crystals, one of them with an
 * id that needs escaping, screen.csv with an unknown new column and without the property
 * columns, the screen's summary.json in the run folder itself. */
static void test_page_from_fixture(void)
{
    const char *dir = xg_test_tmpdir();
    put(dir, "summary.csv", "id,formula,natoms,spacegroup_number,spacegroup_symbol,volume,density\n"
                            "g-0,NaCl,8,225,Fm-3m,179.4,2.16\ng-1,Fe,2,229,Im-3m,23.6,7.86\n"
                            "g<&>2,MnO,4,1,P1,40.0,5.9\n");
    put(dir, "screen.csv", "id,formula,natoms,spacegroup_number,valid_structure,valid_composition,"
                           "unique,duplicate_of,novel,matched_reference,future_flag,e_hull_pred\n"
                           "g-0,NaCl,8,225,1,0,1,,0,mp-22862,1,\ng-1,Fe,2,229,1,1,1,,1,,0,0.02\n"
                           "g<&>2,MnO,4,1,1,1,1,,1,,1,0.31\n");
    put(dir, "summary.json", "{\"n_structures\": 3, \"inputs\": [\"/nonexistent/x\"], \"references\": "
                             "[\"train.h5\"], \"n_references\": 24862,\n\"counts\": {"
                             "\"valid_structure\": 3, \"valid_composition\": 2, \"unique\": 3, "
                             "\"novel\": 2, \"valid\": 2, \"future_flag\": 2},\n\"rates\": {"
                             "\"valid_structure\": 1, \"valid_composition\": 0.666667, "
                             "\"unique\": 1, \"novel\": 0.666667, \"valid\": 0.666667, "
                             "\"future_flag\": 0.666667},\n\"wasserstein\": {\"reference\": "
                             "\"test.h5\", \"density_g_cm3\": 0.123456, \"n_elements\": 0.0456}}\n");
    char out[4200];
    snprintf(out, sizeof out, "%s/page.html", dir);
    xg_report_options o = {.run_dir = dir, .output = out, .top = 5,
                           .reference = XG_SOURCE_DIR "/data/report-mp20.csv"};
    xg_report_stats st;
    xg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(xg_report_write(&o, &st, &err), XG_OK);
    CU_ASSERT_EQUAL(st.crystals, 3);
    CU_ASSERT(xml_wellformed(out));
    char *page = slurp(out);
    CU_ASSERT_FATAL(page != NULL);
    xg_json *sj = NULL;
    char sp[4200];
    snprintf(sp, sizeof sp, "%s/summary.json", dir);
    CU_ASSERT_EQUAL_FATAL(xg_json_read_file(sp, &sj, &err), XG_OK);
    /* 6 counts + 6 rates + 2 distances */
    CU_ASSERT_EQUAL(check_page_numbers(page, sj), 14);
    CU_ASSERT(strstr(page, "g&lt;&amp;&gt;2") != NULL);   /* the id, escaped */
    CU_ASSERT(strstr(page, "future_flag") != NULL);       /* an unknown rate is still shown */
    CU_ASSERT(strstr(page, "MP-20 test") != NULL);        /* the reference is named */
    CU_ASSERT(strstr(page, "<script") == NULL);           /* self-contained, nothing active */
    CU_ASSERT(strstr(page, "http://") == strstr(page, "http://www.w3.org")); /* only namespaces */
    /* the page's own number corrupted: the check notices */
    char *rate = strstr(page, "data-json=\"rates.novel\"");
    CU_ASSERT_FATAL(rate != NULL);
    char *pc = strstr(rate, "66.7%");
    CU_ASSERT_FATAL(pc != NULL);
    pc[1] = '8';
    CU_ASSERT_EQUAL(check_page_numbers(page, sj), -1);
    free(page);
    xg_json_free(sj);

    /* a generate summary.json recording the condition, the screen results in DIR/screen with
     * the guided property: the target is found and marked without --target */
    const char *g = xg_test_tmpdir();
    char sdir[4200];
    snprintf(sdir, sizeof sdir, "%s/screen", g);
    CU_ASSERT_EQUAL_FATAL(xg_mkdir_p(sdir, &err), XG_OK);
    put(g, "summary.csv", "id,formula,natoms,spacegroup_number,spacegroup_symbol,volume,density\n"
                          "g-0,Fe,2,229,Im-3m,23.6,7.86\ng-1,Co,2,229,Im-3m,22.0,8.9\n");
    put(g, "summary.json", "{\"model\": \"m.h5\", \"conditions\": {\"dft_mag_density\": 0.15}, "
                           "\"guidance\": 2, \"seed\": 7, \"steps\": 100}\n");
    put(sdir, "screen.csv", "id,formula,natoms,mag_density_pred\ng-0,Fe,2,0.19\ng-1,Co,2,0.14\n");
    snprintf(out, sizeof out, "%s/g.html", g);
    o.run_dir = g;
    CU_ASSERT_EQUAL_FATAL(xg_report_write(&o, &st, &err), XG_OK);
    CU_ASSERT(xml_wellformed(out));
    page = slurp(out);
    CU_ASSERT_FATAL(page != NULL);
    CU_ASSERT(strstr(page, "target 0.15") != NULL);
    CU_ASSERT(strstr(page, "dft_mag_density = 0.15") != NULL);
    /* ranked by closeness to the target: Co (0.14) before Fe (0.19) */
    char *co = strstr(page, "<b>Co</b>"), *fe = strstr(page, "<b>Fe</b>");
    CU_ASSERT(co && fe && co < fe);
    free(page);

    /* no screen results at all: still a page, with a note */
    const char *bare = xg_test_tmpdir();
    put(bare, "summary.csv", "id,formula,natoms,spacegroup_number,spacegroup_symbol,volume,density\n"
                             "g-0,NaCl,8,225,Fm-3m,179.4,2.16\n");
    snprintf(out, sizeof out, "%s/r.html", bare);
    o.run_dir = bare;
    CU_ASSERT_EQUAL(xg_report_write(&o, &st, &err), XG_OK);
    CU_ASSERT(xml_wellformed(out));
    page = slurp(out);
    CU_ASSERT(page && strstr(page, "No screen results") != NULL);
    free(page);

    /* not a run folder: a clear error naming it */
    const char *empty = xg_test_tmpdir();
    o.run_dir = empty;
    CU_ASSERT_EQUAL(xg_report_write(&o, &st, &err), XG_EINVAL);
    CU_ASSERT(strstr(err.msg, empty) != NULL);
    /* a malformed summary.json: the file and line are named */
    put(bare, "summary.json", "{\n\"n_structures\": 3,\n}");
    o.run_dir = bare;
    CU_ASSERT_EQUAL(xg_report_write(&o, &st, &err), XG_EPARSE);
    CU_ASSERT(strstr(err.msg, "summary.json:3:") != NULL);
}

int main(void)
{
    static CU_TestInfo tests[] = {
        {"JSON reader: values, escapes, errors with line", test_json},
        {"XML escaping of text and stray bytes", test_escape},
        {"histogram fractions and nice ticks", test_hist_and_ticks},
        {"SVG plots parse as strict XML; cell drawing", test_svg_wellformed},
        {"reference distributions: build, round trip, refusals", test_refdist_roundtrip},
        {"page from a run folder: XML, numbers equal summary.json", test_page_from_fixture},
        CU_TEST_INFO_NULL};
    return xg_test_run("report", tests);
}
