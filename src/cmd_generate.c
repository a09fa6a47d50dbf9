/* cmd_generate.c: `xtalgen generate`: sample new crystals from a trained model and write them
 * as they are finished (CIF files, one extxyz, one HDF5 dataset, a summary CSV), so a killed
 * run keeps every crystal it completed.
 *
 * Under `mpirun -n R` (a build with XTALGEN_MPI) the batches are dealt out round-robin: batch b
 * (crystals b*B .. b*B+B-1, formed exactly as one process forms them) goes to rank b mod R,
 * which writes it into DIR/.rank<r>/ in the same formats; at the end rank 0 merges the parts in
 * crystal order into the outputs one process writes and removes them. Crystal k draws from its
 * own stream (seed, k) and its number of atoms from one sequence every rank replays, so with the
 * same --seed and --batch (any threads per rank) the crystals (ids, CIFs, extxyz, summary.csv,
 * generated.h5 contents) are identical, bit for bit, to a single process's, for any R. */
#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "crystal/xg_cif.h"
#include "crystal/xg_dataset.h"
#include "crystal/xg_elements.h"
#include "crystal/xg_extxyz.h"
#include "crystal/xg_fileio.h"
#include "crystal/xg_provenance.h"
#include "crystal/xg_symmetry.h"
#include "crystal/xg_validity.h"
#include "diffusion/xg_evalpool.h"
#include "diffusion/xg_model.h"
#include "diffusion/xg_sampler.h"
#include "diffusion/xg_template.h"
#include "src/cli.h"
#include "src/commands.h"
#include "src/gen_resume.h"
#include "src/gen_chem.h"
#include "src/gen_sample.h"
#include "src/model_path.h"
#include "src/outdir.h"
#include "src/run_record.h"
#include "src/xg_mpi.h"

#define CMD "generate"
#define MAX_CONDITIONS 8

static const char usage[] =
    "usage: xtalgen generate [--model M] -n N -o DIR [options]\n"
    "\n"
    "Samples N new crystals from a trained diffusion model and writes, as each batch finishes:\n"
    "  DIR/cif/<id>.cif      one symmetrized CIF per crystal (space group, its operations and the\n"
    "                        asymmetric unit of spglib's refined cell at --symprec; P1 when\n"
    "                        spglib finds nothing)\n"
    "  DIR/generated.extxyz  every crystal, one frame each\n"
    "  DIR/generated.h5      every crystal as an xtalgen dataset (for screen, convert)\n"
    "  DIR/summary.csv       id,formula,natoms,spacegroup_number,spacegroup_symbol,\n"
    "                        template_spacegroup,volume,density (template_spacegroup: the group\n"
    "                        the crystal was sampled in, empty with --symmetry none)\n"
    "  DIR/summary.json      the run's settings, provenance (xtalgen version, model file and its\n"
    "                        SHA-256, conditions, guidance, seed, steps) and \"elements\", the\n"
    "                        elements sampled from; every CIF and generated.h5 carry the same\n"
    "Every cell is written right-handed with a along x and b in the xy plane.\n"
    "\n"
    "options:\n";

static const char usage_after[] =
    "\n"
    "With MPI (-DXTALGEN_MPI=ON): mpirun -n R xtalgen generate ... deals the batches to the R\n"
    "ranks round-robin (set OMP_NUM_THREADS or --threads per rank); each writes DIR/.rank<r>/,\n"
    "rank 0 merges into the outputs above and removes the parts. DIR must be on a filesystem\n"
    "every rank sees. The crystals equal a single process's with the same --seed and --batch;\n"
    "use --batch at most N/R so that every rank gets work. A killed MPI run\n"
    "leaves its finished crystals in the DIR/.rank<r>/ parts.\n";

/* --symmetry's choices, in the table's order. */
enum { SYM_TEMPLATE, SYM_NONE };
/* The sampler a plain `generate` uses. */
/* Symmetric by default (issue 13): 2.8% P1 against ~75% without templates, MP-20 test 1.8%. */
#define SYM_DEFAULT SYM_TEMPLATE
/* --element-pattern's choices, in the table's order. */
enum { PAT_TRAINING, PAT_FREE };
static const char *const pattern_name[] = {"training", "free"};

typedef struct {
    const char *model, *outdir, *elements, *exclude, *spacegroups, *templates, *max_memory_arg;
    int symmetry; /* SYM_NONE or SYM_TEMPLATE */
    int element_pattern; /* PAT_TRAINING or PAT_FREE */
    int class_prior;     /* 0 on, 1 off (--class-prior) */
    int symmetry_default; /* no --symmetry given: the default may fall back to none */
    int overwrite, resume;
    double max_memory; /* bytes; 0 = the default fraction of physical memory */
    long n, num_batches, batch, steps, corrector, seed, threads, natoms;
    double guidance, symprec;
    double guidance_types; /* NAN: not given, the type logits take --guidance */
    int quiet;
    int ncond;
    const char *cond_arg[MAX_CONDITIONS]; /* "NAME=VALUE", encoded with the model's spec */
    int nneg;
    const char *neg_arg[MAX_CONDITIONS]; /* --negative-condition NAME=VALUE */
    gen_chem_args chem;                   /* --chemsys, --composition, ... (gen_chem.h) */
} gen_args;

#define STR_(x) #x
#define STR(x) STR_(x)

static const xg_opt OPTS[] = {
    XG_OPT_S("--model", NULL, gen_args, model, "M", NULL,
             "model file (default: the shipped data/models/xtalgen-mp20.h5)"),
    XG_OPT_I("-n", "--num", gen_args, n, "N", 1, 100000000, NULL,
             "number of crystals (required, or --num_batches; with --compositions: at most "
             "rows x K, the first ones; default all)"),
    XG_OPT_I("--num_batches", NULL, gen_args, num_batches, "B", 1, 100000000, NULL,
             "B batches of --batch crystals, B x --batch in all (MatterGen's spelling of\n"
             "the count; instead of -n)"),
    XG_OPT_OUTPUT(gen_args, outdir, "DIR", "output folder (required; created if missing)"),
    XG_OPT_I("--batch", "--batch_size", gen_args, batch, "B", 1, 100000, "64",
             "crystals denoised together"),
    XG_OPT_I("--steps", NULL, gen_args, steps, "S", 1, 100000, STR(XG_SAMPLER_DEFAULT_STEPS),
             "reverse-diffusion steps; more is slower (the default: the README's steps study)"),
    XG_OPT_I("--corrector", NULL, gen_args, corrector, "K", 0, 100, "1",
             "Langevin corrector moves per step"),
    XG_OPT_I("--seed", NULL, gen_args, seed, "X", 0, LONG_MAX, "1",
             "random seed; same seed and batch = same crystals"),
    XG_OPT_THREADS(gen_args, threads, 0, "0",
                   "threads; 0 = all cores. Each evaluates the network on chunks of 16 "
                   "crystals of a batch on its own core, so more threads pay from 17 crystals "
                   "up and never change the crystals"),
    XG_OPT_I("--num-atoms", NULL, gen_args, natoms, "K", 1, 1000, NULL,
             "every crystal has K atoms (default: drawn from the training set)"),
    XG_OPT_S("--elements", NULL, gen_args, elements, "LIST", NULL,
             "only these elements may appear (symbols and named sets)"),
    XG_OPT_S("--exclude-elements", NULL, gen_args, exclude, "L", NULL,
             "these never appear: symbols and sets rare-earths, noble-gases, radioactive, "
             "lanthanides, actinides, alkali, alkaline-earths, halogens, transition-metals"),
    XG_OPT_L("--condition", NULL, gen_args, cond_arg, ncond, "NAME=VAL", MAX_CONDITIONS,
             "steer toward a property the model was fine-tuned on, e.g. dft_mag_density=0.15 "
             "or chemsys=Li-Fe-P-O; repeatable; conditions of the model not given stay "
             "unspecified"),
    XG_OPT_L("--negative-condition", NULL, gen_args, neg_arg, nneg, "NAME=VAL", MAX_CONDITIONS,
             "what guidance pushes away from: the pass mixed against is the model conditioned "
             "on the --condition values with these replaced (out_n + gamma (out_c - out_n)) "
             "instead of the unconditional one; needs --condition and a gamma above 1 to "
             "have an effect; repeatable"),
    XG_OPT_D("--guidance", "--diffusion_guidance_factor", gen_args, guidance, "G", -100, 100,
             "1",
             "classifier-free guidance strength gamma: u + gamma (c - u) (1 = plain "
             "conditional, 0 = unconditional)"),
    XG_OPT_D("--type-guidance", NULL, gen_args, guidance_types, "G", -100, 100, NULL,
             "gamma of the atom types alone (default: --guidance); the coordinates and the "
             "lattice keep --guidance. The composition decides most of a property such as the "
             "energy above the hull: --guidance 1 --type-guidance 10 steers the chemistry and "
             "leaves the geometry plainly conditional (the best setting measured for "
             "e_above_hull=0)"),
    XG_OPT_E("--symmetry", NULL, gen_args, symmetry, "template|none", NULL,
             "template: every crystal is sampled exactly symmetric inside a space-group "
             "template drawn with its training frequency (orbits, site symmetries and N of a "
             "training crystal; types drawn per orbit, see --element-pattern); none: no symmetry "
             "constraint, every "
             "atom free (default: template; with --num-atoms N that no template has, the "
             "default falls back to none with a note)"),
    XG_OPT_E("--element-pattern", NULL, gen_args, element_pattern, "training|free", "training",
             "with --symmetry template, which orbits share an element. training: those that "
             "share one in a training crystal of the template (drawn uniformly among them), and "
             "orbits that differ there take different elements (a pattern with more elements "
             "than --elements allows reuses them); free: every orbit draws its element on its "
             "own (1,000 crystals: 6.3% elemental and 45% binary, MP-20 0.9% and 21%). With "
             "--chemsys of K elements, training: the template and stoichiometry of a training "
             "crystal with K elements, drawn by chemical similarity, its elements replaced by "
             "the system's (Li-Mn-O as Na-Fe-O's NaFeO2 gives LiMnO2); free: per orbit, the "
             "owed elements last. --composition and --min/--max-elements alone draw per orbit"),
    XG_OPT_E("--class-prior", NULL, gen_args, class_prior, "on|off", "on",
             "with --element-pattern training, whether a class's element is drawn on the "
             "training crystals' class frequencies (which element fills the largest of three "
             "classes, ...; by size of cell) weighted by the network's evidence (on), or from "
             "the network's per-atom logits alone, pooled over the class (off: the sampler "
             "before session 9; the network does not know which atoms share an element, so it "
             "gives atom frequencies, and too many classes became O)"),
    XG_OPT_S("--spacegroup", NULL, gen_args, spacegroups, "LIST", NULL,
             "only these space groups, numbers or symbols, comma-separated (225, Fm-3m, "
             "P2_1/c); implies --symmetry template; combines with --num-atoms (templates with "
             "that N). --spacegroup 1 alone is the unconstrained sampler"),
    XG_OPT_S("--templates", NULL, gen_args, templates, "FILE", NULL,
             "template table (default: the shipped data/models/templates-mp20.h5; build one "
             "with `xtalgen templates build`)"),
    XG_OPT_D("--symprec", NULL, gen_args, symprec, "S", 1e-6, 1, "0.1",
             "spglib tolerance of summary.csv and the CIFs"),
    XG_OPT_F("--overwrite", NULL, gen_args, overwrite,
             "replace the results of an earlier run in DIR (what xtalgen wrote there; other "
             "files make it refuse). Without it a DIR holding results is refused, and a DIR "
             "another run is writing always is"),
    XG_OPT_F("--resume", NULL, gen_args, resume,
             "continue an interrupted run in DIR (killed, Ctrl-C, out of time): give the same "
             "command line plus --resume; the crystals already written are kept, the batch "
             "that was cut short is redone, and the outputs end byte for byte as an "
             "uninterrupted run's. A DIR with no results starts the run; a finished run is "
             "left as it is"),
    XG_OPT_S("--max-memory", NULL, gen_args, max_memory_arg, "SIZE", NULL,
             "refuse a run whose largest batch would need more memory than SIZE (8G, 500M, "
             "50%: of physical memory; default 80%), before sampling anything: the network's "
             "activations grow with the atom pairs of a batch (1000 atoms: about 1.7 GB)"),
    XG_OPT_QUIET(gen_args, quiet),
    GEN_CHEM_OPTS(gen_args, chem),
    XG_OPT_TABLE_END};

const xg_command_options xg_options_generate = {OPTS, usage_after, NULL};

/* Every one of the n values of option opt is NAME=VALUE; else a message and -1. */
static int check_conditions(const char *opt, int n, const char *const *args)
{
    for (int k = 0; k < n; k++) {
        const char *v = args[k], *eq = strchr(v, '=');
        if (!eq || eq == v) {
            xg_cli_errorf(CMD, "%s expects NAME=VALUE, got '%s'", opt, v);
            return -1;
        }
        if (!eq[1]) {
            xg_cli_errorf(CMD, "%s '%s' has no value", opt, v);
            return -1;
        }
    }
    return 0;
}

static int parse_args(int argc, char **argv, gen_args *a)
{
    xg_opts_args args;
    if (xg_opts_parse(CMD, OPTS, argc, argv, a, sizeof *a, &args, 0))
        return -1;
    if (!xg_opts_given(OPTS, &args, "-n"))
        a->n = -1; /* -n is required unless --num_batches or --compositions count the crystals */
    if (!xg_opts_given(OPTS, &args, "--type-guidance"))
        a->guidance_types = NAN; /* the types follow --guidance */
    if (!xg_opts_given(OPTS, &args, "--csp-types"))
        a->chem.csp_types = GEN_CHEM_CSP_NOT_GIVEN;
    if (!xg_opts_given(OPTS, &args, "--csp-templates"))
        a->chem.csp_templates = GEN_CHEM_TPL_NOT_GIVEN;
    if (check_conditions("--condition", a->ncond, a->cond_arg) ||
        check_conditions("--negative-condition", a->nneg, a->neg_arg))
        return -1;
    if (a->nneg > 0 && a->ncond == 0) {
        xg_cli_errorf(CMD, "--negative-condition needs --condition (it replaces values of the "
                           "condition guidance steers toward)");
        return -1;
    }
    if (a->max_memory_arg &&
        xg_cli_parse_bytes(CMD, "--max-memory", a->max_memory_arg, &a->max_memory))
        return -1;
    if (a->num_batches > 0) {
        /* MatterGen's count: batches of --batch_size crystals. */
        if (a->n >= 0) {
            xg_cli_errorf(CMD, "-n and --num_batches both give the number of crystals: give "
                               "one of them");
            return -1;
        }
        if (a->num_batches > 100000000 / a->batch) {
            xg_cli_errorf(CMD, "--num_batches %ld x --batch %ld is more than 100000000 crystals",
                          a->num_batches, a->batch);
            return -1;
        }
        a->n = a->num_batches * a->batch;
    }
    if (a->n < 0 && !a->chem.compositions) { /* --compositions: rows x k */
        xg_cli_errorf(CMD, "-n N is required");
        return -1;
    }
    if (!a->outdir) {
        xg_cli_errorf(CMD, "-o DIR is required");
        return -1;
    }
    if (a->overwrite && a->resume) {
        xg_cli_errorf(CMD, "--overwrite starts afresh and --resume continues: give one of them");
        return -1;
    }
    a->symmetry_default = !xg_opts_given(OPTS, &args, "--symmetry");
    if (a->spacegroups && !a->symmetry_default && a->symmetry == SYM_NONE) {
        xg_cli_errorf(CMD, "--spacegroup samples inside templates; it cannot be combined with "
                           "--symmetry none");
        return -1;
    }
    if (a->symmetry_default)
        a->symmetry = SYM_DEFAULT;
    return 0;
}

/* groups[g] = 1 for every group of the comma-separated list; returns how many differ. */
static int parse_spacegroups(const char *list, unsigned char groups[231])
{
    memset(groups, 0, 231);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        int g;
        xg_error err = {0};
        if (xg_symmetry_spacegroup_parse(tok, &g, &err)) {
            xg_cli_errorf(CMD, "--spacegroup: %s", err.msg);
            return -1;
        }
        n += !groups[g];
        groups[g] = 1;
    }
    if (n == 0)
        xg_cli_errorf(CMD, "--spacegroup: no space group in '%s'", list);
    return n > 0 ? n : -1;
}

/* Loads the template table and checks that every requested group has a template (with the
 * requested N); the message names the nearest groups that have one. */
static int load_templates(const gen_args *a, const unsigned char *groups,
                          xg_template_table **out)
{
    char path[4096];
    xg_error err = {0};
    *out = NULL;
    if (a->templates) {
        snprintf(path, sizeof path, "%s", a->templates);
    } else if (xg_default_model_path("templates-mp20.h5", path, sizeof path, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    if (xg_template_table_read(path, out, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    int natoms = (int)a->natoms;
    for (int g = 1; g <= 230; g++) {
        unsigned char one[231] = {0};
        if (groups && !groups[g])
            continue;
        one[g] = 1;
        if (!groups || xg_template_table_weight(*out, one, natoms) > 0)
            continue;
        int near[5], k = xg_template_table_nearest(*out, g, natoms, near, 5);
        char sym[16], list[256] = "";
        xg_symmetry_spacegroup_symbol(g, sym);
        for (int i = 0, len = 0; i < k; i++) {
            char s2[16];
            xg_symmetry_spacegroup_symbol(near[i], s2);
            len += snprintf(list + len, sizeof list - (size_t)len, "%s%d (%s)", i ? ", " : "",
                            near[i], s2);
        }
        char withn[64] = "";
        if (natoms > 0)
            snprintf(withn, sizeof withn, " with %d atoms", natoms);
        xg_cli_errorf(CMD, "no template for space group %d (%s)%s in %s; nearest groups that "
                           "have one%s: %s", g, sym, withn, path, withn, k ? list : "none");
        xg_template_table_free(*out);
        *out = NULL;
        return XG_EXIT_USAGE;
    }
    if (!groups && xg_template_table_weight(*out, NULL, natoms) == 0) {
        if (a->symmetry_default) {
            /* Asked for nothing about symmetry: a size the templates do not cover is still
             * served, without the constraint, and said so. */
            if (!a->quiet)
                fprintf(stderr, "xtalgen generate: note: %s has no template with %d atoms; "
                                "sampling without symmetry constraint (--symmetry none)\n",
                        path, natoms);
            xg_template_table_free(*out);
            *out = NULL;
            return XG_EXIT_OK;
        }
        xg_cli_errorf(CMD, "%s has no template with %d atoms", path, natoms);
        xg_template_table_free(*out);
        *out = NULL;
        return XG_EXIT_USAGE;
    }
    return XG_EXIT_OK;
}

/* The CIF of a generated crystal: symmetrized at symprec (spglib's refined conventional cell,
 * the group, its operations, the asymmetric unit), P1 when spglib finds no group. Written to a
 * temporary name and renamed. */
typedef struct {
    const xg_structure *s;
    double symprec;
    const char *note;
} cif_job;

/* The symmetrized CIF (space group, operations, asymmetric unit) with the provenance block;
 * when spglib finds no group (an unphysical sample), the P1 cell with the same block. */
static int write_cif_job(FILE *f, const void *ctx, xg_error *err)
{
    const cif_job *j = ctx;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return xg_error_set(err, XG_ENOMEM, "CIF writer: out of memory");
    xg_error serr = {0};
    int sym_ok = xg_symmetry_write_cif_annotated(m, j->s, j->symprec, j->note, &serr) == XG_OK;
    fclose(m);
    int rc = XG_OK;
    if (sym_ok) {
        if (fwrite(buf, 1, len, f) != len)
            rc = xg_error_set(err, XG_EIO, "CIF writer: write failed");
    } else {
        rc = xg_cif_write_annotated(f, j->s, j->note, err);
    }
    free(buf);
    return rc;
}

static int write_cif(const char *path, const xg_structure *s, double symprec, const char *note,
                     xg_error *err)
{
    cif_job j = {s, symprec, note};
    return xg_file_write_atomic_with(path, write_cif_job, &j, err);
}

/* allowed[z] for z = 1..XG_MAX_Z from --elements / --exclude-elements, restricted to what the
 * network can produce. */
static int build_allowed(const gen_args *a, unsigned char allowed[XG_MAX_Z + 1], xg_error *err)
{
    return xg_sampler_allowed_elements(a->elements, a->exclude, "--elements",
                                       "--exclude-elements", allowed, err);
}

/* Says which elements the sampler may draw, so a user (and e2e_determinism.sh) can check that
 * the constraints took effect exactly as asked: the members when they are few, else the
 * model's elements left out. */
static void print_element_set(const unsigned char allowed[XG_MAX_Z + 1])
{
    int n = 0;
    for (int z = 1; z <= XG_NUM_TYPES; z++)
        n += allowed[z] != 0;
    if (n == XG_NUM_TYPES) {
        fprintf(stderr, "xtalgen generate: elements: all %d of the model\n", n);
        return;
    }
    int list_members = n <= XG_NUM_TYPES / 2;
    fprintf(stderr, "xtalgen generate: elements: %d of the model's %d; %s:", n, XG_NUM_TYPES,
            list_members ? "only" : "excluded");
    for (int z = 1; z <= XG_NUM_TYPES; z++)
        if ((allowed[z] != 0) == list_members)
            fprintf(stderr, " %s", xg_element_get(z)->symbol);
    fputc('\n', stderr);
}

typedef struct {
    xg_progress *bar;
    long done_before, batch_n;
} step_ctx;

static void on_step(void *ctx, int step, int steps)
{
    step_ctx *c = ctx;
    /* Progress in crystals: the batch's crystals count as done in proportion to its steps. */
    long done = c->done_before + (long)((double)c->batch_n * step / steps);
    xg_progress_update(c->bar, done);
}

static int write_summary_header(FILE *f)
{
    return fprintf(f, "id,formula,natoms,spacegroup_number,spacegroup_symbol,template_spacegroup,"
                      "volume,density\n") < 0;
}

/* ---------------------------------------------------------------- merging MPI parts ---- */

/* Copies one line (with its newline) from in to out; -1 at end of file. */
static int copy_line(FILE *in, FILE *out, char **line, size_t *cap)
{
    ssize_t n = getline(line, cap, in);
    if (n < 0)
        return -1;
    return fwrite(*line, 1, (size_t)n, out) == (size_t)n ? 0 : -1;
}

/* Copies one extxyz frame (a count line, a comment line, count atom lines). */
static int copy_frame(FILE *in, FILE *out, char **line, size_t *cap)
{
    ssize_t n = getline(line, cap, in);
    if (n < 0)
        return -1;
    char *end = NULL;
    long natoms = strtol(*line, &end, 10);
    if (end == *line || natoms < 1 || fwrite(*line, 1, (size_t)n, out) != (size_t)n)
        return -1;
    for (long k = 0; k < natoms + 1; k++)
        if (copy_line(in, out, line, cap))
            return -1;
    return 0;
}

/* Removes a rank's part folder: its three files and its (now emptied) cif/ folder. Leftover
 * CIFs of an earlier killed run are removed too. */
static void remove_part(const char *part)
{
    char path[4400];
    const char *files[] = {"summary.csv", "generated.extxyz", "generated.h5"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", part, files[k]);
        remove(path);
    }
    snprintf(path, sizeof path, "%s/cif", part);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        char f[4700];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(f, sizeof f, "%s/%s", path, e->d_name);
                remove(f);
            }
        closedir(d);
    }
    rmdir(path);
    rmdir(part);
}

static void part_dir(const char *outdir, int rank, int size, char *buf, size_t n)
{
    if (size > 1)
        snprintf(buf, n, "%s/.rank%d", outdir, rank);
    else
        snprintf(buf, n, "%s", outdir);
}

/* Rank 0: merges the parts of `size` ranks (batch b of `batch` crystals came from rank
 * b mod size) into DIR's outputs, in crystal order, and removes the parts. */
static int merge_parts(const char *outdir, long n, long batch, int size, const xg_dataset *head,
                       xg_error *err)
{
    int rc = XG_EIO;
    char path[4400], part[4200];
    FILE **csv = calloc((size_t)size, sizeof *csv), **xyz = calloc((size_t)size, sizeof *xyz);
    xg_dataset **pds = calloc((size_t)size, sizeof *pds);
    int64_t *cur = calloc((size_t)size, sizeof *cur);
    FILE *ocsv = NULL, *oxyz = NULL;
    xg_dataset *ds = xg_dataset_alloc();
    char *line = NULL;
    size_t cap = 0;
    if (!csv || !xyz || !pds || !cur || !ds) {
        rc = xg_error_set(err, XG_ENOMEM, "merging the ranks' parts: out of memory");
        goto out;
    }
    for (int r = 0; r < size; r++) {
        part_dir(outdir, r, size, part, sizeof part);
        snprintf(path, sizeof path, "%s/summary.csv", part);
        csv[r] = fopen(path, "r");
        snprintf(path, sizeof path, "%s/generated.extxyz", part);
        xyz[r] = fopen(path, "r");
        if (!csv[r] || !xyz[r]) {
            rc = xg_error_set(err, XG_EIO, "%s: the part of rank %d is missing (%s); the output "
                              "folder must be on a filesystem every rank sees", part, r,
                              strerror(errno));
            goto out;
        }
        if (getline(&line, &cap, csv[r]) < 0) { /* its header */
            rc = xg_error_set(err, XG_EIO, "%s/summary.csv: empty", part);
            goto out;
        }
        snprintf(path, sizeof path, "%s/generated.h5", part);
        if (access(path, F_OK) == 0) { /* a rank without a batch wrote none */
            rc = xg_dataset_read_h5(path, &pds[r], err);
            if (rc)
                goto out;
        }
    }
    snprintf(path, sizeof path, "%s/summary.csv", outdir);
    ocsv = fopen(path, "w");
    snprintf(path, sizeof path, "%s/generated.extxyz", outdir);
    oxyz = fopen(path, "w");
    if (!ocsv || !oxyz) {
        rc = xg_error_set(err, XG_EIO, "cannot create outputs in %s: %s", outdir, strerror(errno));
        goto out;
    }
    write_summary_header(ocsv);
    /* generated.h5 grows batch by batch exactly as one process grows it (same attributes, then
     * the same appends), so the bytes equal a single process's. */
    char h5[4400];
    snprintf(h5, sizeof h5, "%s/generated.h5", outdir);
    remove(h5);
    /* the run's provenance, in the order one process writes it (a file lists its attributes
     * by name, so the parts' order would differ) */
    if ((rc = xg_dataset_h5_append(h5, head, err)))
        goto out;
    for (long b0 = 0, bi = 0; b0 < n; b0 += batch, bi++) {
        int r = (int)(bi % size);
        long nb = n - b0 < batch ? n - b0 : batch;
        part_dir(outdir, r, size, part, sizeof part);
        xg_dataset_free(ds);
        if (!(ds = xg_dataset_alloc())) {
            rc = xg_error_set(err, XG_ENOMEM, "merging the ranks' parts: out of memory");
            goto out;
        }
        for (long k = b0; k < b0 + nb; k++) {
            char id[XG_ID_LEN];
            snprintf(id, sizeof id, "gen-%07ld", k);
            if (copy_line(csv[r], ocsv, &line, &cap) || strncmp(line, id, strlen(id)) != 0 ||
                line[strlen(id)] != ',') {
                rc = xg_error_set(err, XG_EIO, "%s/summary.csv: expected the row of %s", part, id);
                goto out;
            }
            if (copy_frame(xyz[r], oxyz, &line, &cap)) {
                rc = xg_error_set(err, XG_EIO, "%s/generated.extxyz: frame of %s missing or "
                                  "malformed", part, id);
                goto out;
            }
            xg_structure *s = pds[r] && cur[r] < pds[r]->n ? xg_dataset_get(pds[r], cur[r], err)
                                                             : NULL;
            if (!s || strcmp(s->id, id) != 0) {
                xg_structure_free(s);
                rc = xg_error_set(err, XG_EIO, "%s/generated.h5: expected %s as structure %lld",
                                  part, id, (long long)cur[r]);
                goto out;
            }
            cur[r]++;
            rc = xg_dataset_append(ds, s, NULL, err);
            xg_structure_free(s);
            if (rc)
                goto out;
            char from[4600], to[4600];
            snprintf(from, sizeof from, "%s/cif/%s.cif", part, id);
            snprintf(to, sizeof to, "%s/cif/%s.cif", outdir, id);
            if (rename(from, to) != 0) {
                rc = xg_error_set(err, XG_EIO, "%s: cannot move to %s: %s", from, to,
                                  strerror(errno));
                goto out;
            }
        }
        if ((rc = xg_dataset_h5_append(h5, ds, err)))
            goto out;
    }
    if (fclose(ocsv) != 0 || fclose(oxyz) != 0) {
        ocsv = oxyz = NULL;
        rc = xg_error_set(err, XG_EIO, "writing the merged outputs in %s failed", outdir);
        goto out;
    }
    ocsv = oxyz = NULL;
    for (int r = 0; r < size; r++) {
        fclose(csv[r]);
        fclose(xyz[r]);
        csv[r] = xyz[r] = NULL;
        part_dir(outdir, r, size, part, sizeof part);
        remove_part(part);
    }
    rc = XG_OK;
out:
    for (int r = 0; r < size; r++) {
        if (csv && csv[r])
            fclose(csv[r]);
        if (xyz && xyz[r])
            fclose(xyz[r]);
        if (pds)
            xg_dataset_free(pds[r]);
    }
    if (ocsv)
        fclose(ocsv);
    if (oxyz)
        fclose(oxyz);
    free(line);
    free(csv);
    free(xyz);
    free(pds);
    free(cur);
    xg_dataset_free(ds);
    return rc;
}

/* ---------------------------------------------------------------- memory ---- */

/* The network's activations grow with the atom pairs of a batch (9.4 GB for one crystal of
 * 1000 atoms when the arena was carved for training). Sampling carves it for inference, and
 * the largest batch this run can form is checked against --max-memory (default 80% of the
 * physical memory) before anything is written, so an oversized run is refused with a message
 * rather than killed by the kernel midway; the cap also guards every later allocation. */
static int check_memory(const gen_args *a, xg_model *m, const xg_template_table *tab,
                        int workers, size_t *cap_each)
{
    double phys = xg_cli_physical_memory();
    double cap = a->max_memory > 0 ? a->max_memory : 0.8 * phys;
    *cap_each = 0;
    xg_denoiser_set_inference(m->net, 1);
    long nmax = a->natoms;
    for (int i = 0; nmax == 0 && tab && i < tab->n; i++)
        nmax = tab->t[i].natoms > nmax ? tab->t[i].natoms : nmax;
    for (int k = m->stats.hist_len - 1; nmax == 0 && k > 0; k--)
        if (m->stats.natoms_hist[k] > 0)
            nmax = k;
    if (cap <= 0 || nmax <= 0)
        return XG_EXIT_OK; /* unknown physical memory: the kernel decides, as before */
    /* Each of the evaluation pool's workers holds a copy of the network and the activations of
     * one chunk of crystals (xg_evalpool.h), not of the whole batch. */
    long nb = a->batch < a->n ? a->batch : a->n;
    if (nb > XG_EVALPOOL_CHUNK)
        nb = XG_EVALPOOL_CHUNK;
    double act = xg_denoiser_arena_bytes(m->net, (int)nb, (int)(nb * nmax), nb * nmax * nmax);
    double model = (workers + 1) * 2.0 * (double)xg_denoiser_num_params(m->net) * sizeof(float);
    if (workers * act + model > cap) {
        char dflt[96] = "";
        if (a->max_memory <= 0)
            snprintf(dflt, sizeof dflt, " (the default: 80%% of the %.1f GB of physical memory)",
                     phys / 1e9);
        xg_cli_errorf(CMD, "%d thread%s, each on chunks of %ld crystals of up to %ld atoms, "
                           "needs %.2f GB for the network's activations and %.2f GB for the "
                           "model copies, more than --max-memory %.2f GB%s; use fewer --threads, "
                           "a smaller --num-atoms, or raise --max-memory",
                      workers, workers == 1 ? "" : "s", nb, nmax, workers * act / 1e9, model / 1e9,
                      cap / 1e9, dflt);
        return XG_EXIT_FAIL;
    }
    *cap_each = (size_t)((cap - model) / workers);
    return XG_EXIT_OK;
}

/* ---------------------------------------------------------------- the command ---- */

static int run(int argc, char **argv)
{
    gen_args a;
    if (parse_args(argc, argv, &a))
        return XG_EXIT_USAGE;
    xg_error err = {0};
#ifdef _OPENMP
    if (a.threads > 0)
        omp_set_num_threads((int)a.threads);
#endif
    unsigned char allowed[XG_MAX_Z + 1];
    if (build_allowed(&a, allowed, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_USAGE;
    }
    /* Hard chemistry (issue 16): what each crystal must contain, checked before any work. */
    gen_chem_plan chem;
    if (gen_chem_plan_build(&a.chem, allowed, a.natoms, &chem, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        gen_chem_plan_free(&chem);
        return XG_EXIT_USAGE;
    }
    if (gen_chem_count(&chem) > 0) {
        if (a.n < 0 || a.n > gen_chem_count(&chem))
            a.n = gen_chem_count(&chem); /* -n N <= rows x k: the first N */
    }
    /* Joined after the command line was checked: usage errors exit alike on every rank. */
    xg_mpi mpi;
    if (xg_mpi_init(&mpi, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return XG_EXIT_FAIL;
    }
    if (mpi.rank != 0)
        a.quiet = 1; /* rank 0 speaks for the job */
    char model_path[4096];
    xg_error cerr = {0};
    if (a.model) {
        snprintf(model_path, sizeof model_path, "%s", a.model);
    } else if (chem.ncomp > 0 &&
               xg_default_model_path(GEN_CHEM_CSP_MODEL, model_path, sizeof model_path, &cerr) ==
                   XG_OK) {
        /* crystal structure prediction: the CSP model when one is shipped */
    } else if (xg_default_model_path("xtalgen-mp20.h5", model_path, sizeof model_path, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return xg_mpi_finalize(&mpi, XG_EXIT_FAIL);
    }
    xg_model *m = NULL;
    if (xg_model_load(model_path, XG_MODEL_LOAD_EMA, &m, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        return xg_mpi_finalize(&mpi, XG_EXIT_FAIL);
    }
    int rc = XG_EXIT_FAIL;
    xg_outdir od = {.lock_fd = -1, .manifest_fd = -1};
    float *cond = NULL, *neg = NULL;
    unsigned char groups[231];
    int ngroups = 0, p1_only = 0;
    xg_template_table *tab = NULL;
    xg_class_prior *prior = NULL;
    const xg_template **tpl = NULL;
    int *cls_buf = NULL, use_pattern = 0;
    const int **cls = NULL;
    FILE *xyz = NULL, *csv = NULL;
    xg_dataset *ds = NULL, *bds = NULL;
    xg_structure **batch = NULL;
    int *natoms = NULL;
    xg_evalpool *pool = NULL;
    xg_sampler_chem *chemv = NULL;
    const xg_sampler_chem **chemp = NULL;
    int *chem_types = NULL;
    long no_template = 0;

    if (gen_chem_plan_model(&chem, m->noise.csp, model_path, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        rc = XG_EXIT_USAGE;
        goto done;
    }
    if (a.ncond > 0 && m->cfg.cond_dim == 0) {
        xg_cli_errorf(CMD, "%s is an unconditional model; --condition needs a model fine-tuned "
                           "with conditions (xtalgen train --finetune ... --condition NAME)",
                      model_path);
        rc = XG_EXIT_USAGE;
        goto done;
    }
    if (a.ncond == 0 && (a.guidance != 1.0 || !isnan(a.guidance_types)) && !a.quiet)
        fprintf(stderr, "xtalgen generate: note: --guidance and --type-guidance have no effect "
                        "without --condition\n");
    if (a.ncond > 0 && m->cond.n == 0) {
        xg_cli_errorf(CMD, "%s has cond_dim %d but no /condition group describing its conditions; "
                           "it cannot encode --condition",
                      model_path, m->cfg.cond_dim);
        goto done;
    }
    if (a.ncond > 0) {
        cond = calloc((size_t)m->cfg.cond_dim, sizeof *cond);
        if (!cond) {
            xg_cli_errorf(CMD, "out of memory");
            goto done;
        }
        if (xg_cond_encode_request(&m->cond, a.ncond, a.cond_arg, cond, &err)) {
            xg_cli_errorf(CMD, "%s: %s", model_path, err.msg);
            rc = XG_EXIT_USAGE;
            goto done;
        }
        if (a.nneg > 0) {
            /* The negative condition is the positive one with the named values replaced. */
            const char *args[2 * MAX_CONDITIONS];
            int nargs = 0;
            for (int k = 0; k < a.ncond; k++) {
                size_t len = strcspn(a.cond_arg[k], "=");
                int replaced = 0;
                for (int j = 0; j < a.nneg; j++)
                    replaced |= strncmp(a.neg_arg[j], a.cond_arg[k], len) == 0 && a.neg_arg[j][len] == '=';
                if (!replaced)
                    args[nargs++] = a.cond_arg[k];
            }
            for (int j = 0; j < a.nneg; j++)
                args[nargs++] = a.neg_arg[j];
            neg = calloc((size_t)m->cfg.cond_dim, sizeof *neg);
            if (!neg) {
                xg_cli_errorf(CMD, "out of memory");
                goto done;
            }
            if (xg_cond_encode_request(&m->cond, nargs, args, neg, &err)) {
                xg_cli_errorf(CMD, "%s: --negative-condition: %s", model_path, err.msg);
                rc = XG_EXIT_USAGE;
                goto done;
            }
        }
        if (!a.quiet) {
            fprintf(stderr, "xtalgen generate: conditioning on");
            for (int k = 0; k < a.ncond; k++)
                fprintf(stderr, " %s", a.cond_arg[k]);
            fprintf(stderr, " with guidance %g", a.guidance);
            if (!isnan(a.guidance_types))
                fprintf(stderr, " (atom types %g)", a.guidance_types);
            if (a.nneg > 0) {
                fprintf(stderr, ", away from");
                for (int k = 0; k < a.nneg; k++)
                    fprintf(stderr, " %s", a.neg_arg[k]);
            }
            fputc('\n', stderr);
        }
    }
    if (!a.quiet)
        print_element_set(allowed);
    if (a.spacegroups) {
        ngroups = parse_spacegroups(a.spacegroups, groups);
        if (ngroups < 0) {
            rc = XG_EXIT_USAGE;
            goto done;
        }
        /* P1 is no constraint: today's sampler, N from the model's histogram. */
        p1_only = ngroups == 1 && groups[1];
    }
    if (a.symmetry == SYM_TEMPLATE && !p1_only) {
        int lr = load_templates(&a, ngroups ? groups : NULL, &tab);
        if (lr) {
            rc = lr;
            goto done;
        }
        if (gen_chem_check_templates(&chem, tab, ngroups ? groups : NULL, a.natoms, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            rc = XG_EXIT_USAGE;
            goto done;
        }
    }
    /* A chemical system takes the stoichiometry of a training analogue (gen_chem.h). */
    chem.analogues = tab && tab->nmembers > 0 && a.element_pattern == PAT_TRAINING;
    if (tab && !chem.active && a.element_pattern == PAT_TRAINING) {
        use_pattern = tab->nmembers > 0;
        if (!use_pattern && !a.quiet)
            fprintf(stderr, "xtalgen generate: note: the template table lists no training "
                            "crystals (built before issue 16): every orbit draws its element "
                            "on its own (--element-pattern free)\n");
    }
    if (use_pattern && a.class_prior == 0) {
        prior = malloc(sizeof *prior);
        if (!prior || xg_template_table_class_prior(tab, prior, &err)) {
            xg_cli_errorf(CMD, "%s", prior ? err.msg : "out of memory");
            goto done;
        }
    }
    if (m->stats.hist_len <= 1 && a.natoms == 0 && !tab) {
        xg_cli_errorf(CMD, "%s has no number-of-atoms histogram; pass --num-atoms", model_path);
        goto done;
    }
    if (a.resume && mpi.size > 1) {
        xg_cli_errorf(CMD, "--resume continues a single-process run; run it without mpirun");
        rc = XG_EXIT_USAGE;
        goto done;
    }
    /* Threads work on chunks of crystals, each on one core with its own copy of the network
     * (xg_evalpool.h): no idle spinning, and the crystals do not depend on --threads. */
    int workers = 1;
#ifdef _OPENMP
    workers = a.threads > 0 ? (int)a.threads : omp_get_max_threads();
#endif
    size_t cap_each = 0;
    if ((rc = check_memory(&a, m, tab, workers, &cap_each)) != XG_EXIT_OK)
        goto done;
    rc = XG_EXIT_FAIL;

    /* Provenance: recorded in every CIF, in generated.h5 and in summary.json. */
    xg_provenance prov;
    char elements[1024];
    if (xg_run_provenance(model_path, a.ncond, a.cond_arg, a.guidance, a.guidance_types, a.nneg,
                          a.neg_arg, a.seed, a.steps, &prov, &err) ||
        xg_run_elements_list(allowed, elements, sizeof elements)) {
        xg_cli_errorf(CMD, "recording the run's provenance: %s", err.msg);
        goto done;
    }

    /* The output folder is this run's alone (issue 19): rank 0 locks it and refuses one that
     * holds an earlier run's results unless --overwrite; the other ranks wait for its verdict. */
    int64_t od_fail = 0;
    if (mpi.rank == 0) {
        int mode = a.overwrite ? XG_OUTDIR_OVERWRITE
                               : a.resume  ? XG_OUTDIR_RESUME
                                           : XG_OUTDIR_NEW;
        if (xg_outdir_open(&od, a.outdir, "generate", mode, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            od_fail = 1;
        } else {
            const char *own[] = {"cif", "generated.extxyz", "generated.h5", "summary.csv",
                                 "summary.json", XG_GEN_PROGRESS_NAME};
            for (size_t k = 0; k < sizeof own / sizeof own[0] && !od_fail; k++)
                if (xg_outdir_record(&od, own[k], &err)) {
                    xg_cli_errorf(CMD, "%s", err.msg);
                    od_fail = 1;
                }
            char rk[32];
            for (int r = 0; r < mpi.size && mpi.size > 1 && !od_fail; r++) {
                snprintf(rk, sizeof rk, ".rank%d", r);
                if (xg_outdir_record(&od, rk, &err)) {
                    xg_cli_errorf(CMD, "%s", err.msg);
                    od_fail = 1;
                }
            }
        }
    }
    if (mpi.size > 1 && xg_mpi_max_i64(&mpi, &od_fail, 1, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    if (od_fail) {
        rc = XG_EXIT_FAIL;
        goto done;
    }
    /* This rank's outputs: DIR itself for one process, DIR/.rank<r> for several. */
    char part[4200], path[4400];
    part_dir(a.outdir, mpi.rank, mpi.size, part, sizeof part);
    if (xg_mkdir_p(a.outdir, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    snprintf(path, sizeof path, "%s/cif", a.outdir);
    if (xg_mkdir_p(path, &err) || xg_mkdir_p(part, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    snprintf(path, sizeof path, "%s/cif", part);
    if (xg_mkdir_p(path, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    /* Written now, so a killed run still says how it was made; rewritten at the end with the
     * template redraw counts. */
    xg_run_settings rs = {model_path, a.n, a.batch, a.steps, a.corrector, a.seed, a.threads,
                          a.natoms, a.guidance, a.symprec, a.ncond, a.cond_arg, a.nneg, a.neg_arg,
                          a.elements,
                          a.exclude, allowed, mpi.size, tab ? "template" : "none", -1, -1, 0, 0,
                          chem.desc,
                          tab && (!chem.active || chem.nsys > 0)
                              ? pattern_name[use_pattern || (chem.active && chem.analogues)
                                                 ? PAT_TRAINING
                                                 : PAT_FREE]
                              : NULL,
                          a.guidance_types,
                          use_pattern ? (a.class_prior == 0 ? "on" : "off") : NULL};
    /* --resume: the folder must hold this command's run; it is cut back to the crystals that
     * were committed to generated.h5, and sampling goes on from there. */
    xg_gen_progress prog = {0};
    char h5path[4400];
    snprintf(h5path, sizeof h5path, "%s/generated.h5", part);
    if (a.resume) {
        char mine_json[4400], theirs[4400];
        snprintf(mine_json, sizeof mine_json, "%s/.summary-check.tmp", a.outdir);
        snprintf(theirs, sizeof theirs, "%s/summary.json", a.outdir);
        int rr = xg_run_write_summary_json(mine_json, &prov, &rs, &err);
        if (!rr && (access(theirs, F_OK) == 0 || access(h5path, F_OK) == 0))
            rr = xg_gen_resume_same_run(theirs, mine_json, &err);
        unlink(mine_json);
        if (!rr)
            rr = xg_gen_resume_prepare(part, a.n, a.batch, &prog, &err);
        if (rr) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        if (prog.complete) {
            if (!a.quiet)
                fprintf(stderr, "xtalgen generate: %s already holds all %ld crystals of this "
                                "run; nothing to do\n", a.outdir, a.n);
            rc = XG_EXIT_OK;
            goto done;
        }
        if (!a.quiet && prog.done > 0)
            fprintf(stderr, "xtalgen generate: resuming %s after %ld of %ld crystals\n",
                    a.outdir, prog.done, a.n);
    }
    snprintf(path, sizeof path, "%s/generated.extxyz", part);
    xyz = fopen(path, prog.done > 0 ? "a" : "w");
    snprintf(path, sizeof path, "%s/summary.csv", part);
    csv = fopen(path, prog.done > 0 ? "a" : "w");
    if (!xyz || !csv) {
        xg_cli_errorf(CMD, "cannot create outputs in %s: %s", part, strerror(errno));
        goto done;
    }
    if (prog.done == 0)
        write_summary_header(csv);
    fflush(csv);
    ds = xg_dataset_alloc();
    batch = calloc((size_t)a.batch, sizeof *batch);
    natoms = calloc((size_t)a.batch, sizeof *natoms);
    tpl = calloc((size_t)a.batch, sizeof *tpl);
    if (use_pattern) {
        cls_buf = malloc((size_t)a.batch * GEN_CLASS_STRIDE * sizeof *cls_buf);
        cls = calloc((size_t)a.batch, sizeof *cls);
    }
    if (chem.active) {
        chemv = calloc((size_t)a.batch, sizeof *chemv);
        chemp = calloc((size_t)a.batch, sizeof *chemp);
        chem_types = malloc(sizeof(int) * (size_t)a.batch * 1000);
    }
    if (!ds || !batch || !natoms || !tpl || (use_pattern && (!cls_buf || !cls)) ||
        (chem.active && (!chemv || !chemp || !chem_types))) {
        xg_cli_errorf(CMD, "out of memory");
        goto done;
    }
    if (xg_provenance_to_dataset(&prov, ds, &err) ||
        xg_dataset_set_attr(ds, "elements", elements, &err)) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    if (mpi.rank == 0) {
        snprintf(path, sizeof path, "%s/summary.json", a.outdir);
        if (xg_run_write_summary_json(path, &prov, &rs, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
    }
    /* generated.h5 starts empty, with the run's provenance, and grows by one append per batch
     * (issue 19: it was rewritten whole after every batch). */
    if (prog.done == 0) {
        remove(h5path);
        if (xg_dataset_h5_append(h5path, ds, &err) ||
            (mpi.size == 1 && xg_gen_progress_record(part, 0, 0, 0, 1, &err))) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
    }
    xg_gen_signals_install();

    openblas_set_num_threads(1);
    pool = xg_evalpool_alloc(m->net, workers, XG_EVALPOOL_CHUNK, &err);
    if (!pool) {
        xg_cli_errorf(CMD, "%s", err.msg);
        goto done;
    }
    xg_evalpool_set_inference(pool, cap_each);
    xg_sampler_opts so;
    xg_sampler_opts_default(&so);
    so.steps = (int)a.steps;
    so.corrector_steps = (int)a.corrector;
    so.guidance = a.guidance;
    so.guidance_types = a.guidance_types;
    so.allowed = allowed;
    so.cond = cond;
    so.neg_cond = neg;
    so.cond_dim = m->cfg.cond_dim;
    so.templates = tab ? tpl : NULL;
    so.chem = chem.active ? chemp : NULL;
    so.orbit_class = cls;
    so.class_prior = prior;

    /* Batch b is rank (b mod R)'s: count this rank's crystals for its progress bar. */
    long nbatches = (a.n + a.batch - 1) / a.batch, mine = 0;
    for (long bi = mpi.rank; bi < nbatches; bi += mpi.size)
        mine += (bi + 1) * a.batch <= a.n ? a.batch : a.n - bi * a.batch;
    mine -= prog.done; /* a resumed run (one process) has these already */
    if (mpi.size > 1 && !a.quiet) {
        fprintf(stderr, "xtalgen generate: %d ranks share %ld batches of up to %ld crystals\n",
                mpi.size, nbatches, a.batch);
        if (nbatches < mpi.size)
            fprintf(stderr, "xtalgen generate: note: only %ld of the %d ranks get a batch; use "
                            "--batch %ld or less to keep every rank busy\n",
                    nbatches, mpi.size, (a.n + mpi.size - 1) / mpi.size);
    }
    xg_progress bar;
    xg_progress_start(&bar, "generate", mine, a.quiet);
    /* Numbers of atoms and templates come from streams of their own (gen_sample.h); every
     * rank replays the whole sequence. */
    gen_streams st;
    gen_streams_init(&st, (uint64_t)a.seed);
    /* The --spacegroup redraw counts are not in the resume record: after --resume they count
     * the resumed part only. */
    long done_mine = 0;
    gen_redraw_counts rdc = {prog.redrawn, prog.unresolved, 0, 0};
    gen_redraw_opts rdo = {(uint64_t)a.seed, a.natoms, a.symprec, tab, ngroups ? groups : NULL,
                           &chem, chem.active ? chemv : NULL, chem.active ? chem_types : NULL,
                           cls_buf, cls};
    for (long done = 0, bi = 0; done < a.n; bi++) {
        int nb = (int)((a.n - done) < a.batch ? (a.n - done) : a.batch);
        for (int k = 0; chem.active && k < nb; k++) {
            chemp[k] = &chemv[k];
            if (gen_chem_setup(&chem, (uint64_t)a.seed, done + k, a.natoms, &m->stats, &st.nrng,
                               tab, ngroups ? groups : NULL, &st.trng, &chemv[k],
                               chem_types + (size_t)k * 1000, &natoms[k], &tpl[k], &err)) {
                xg_cli_errorf(CMD, "crystal %ld: %s", done + k, err.msg);
                rc = XG_EXIT_USAGE;
                goto done;
            }
            no_template += tab && !tpl[k] && bi % mpi.size == mpi.rank;
        }
        if (!chem.active)
            gen_sample_sizes(&st, &m->stats, tab, ngroups ? groups : NULL, a.natoms, nb, natoms,
                             tpl, cls_buf, cls);
        /* Another rank's batch, or one a resumed run has: the draws above were replayed. */
        if (bi % mpi.size != mpi.rank || done < prog.done) {
            done += nb;
            continue;
        }
        bds = xg_dataset_alloc();
        if (!bds) {
            xg_cli_errorf(CMD, "out of memory");
            goto done;
        }
        step_ctx sc = {&bar, done_mine, nb};
        if (xg_sampler_run(&m->noise, xg_evalpool_eval, pool, &so, nb, natoms,
                           (uint64_t)a.seed, (uint64_t)done, batch, on_step, &sc, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        if (tab) {
            int rr = gen_sample_redraw(&rdo, &m->noise, xg_evalpool_eval, pool, &so, tpl, nb,
                                       done, batch, &rdc, &err);
            if (rr) {
                xg_cli_errorf(CMD, "%s", err.msg);
                goto done;
            }
        }
        for (int k = 0; k < nb; k++) {
            xg_structure *s = batch[k];
            snprintf(s->id, sizeof s->id, "gen-%07ld", done + k);
            /* Every output holds the DFT-ready cell: right-handed, a along x, b in xy, species
             * grouped (same crystal; the sampler's lattice is a symmetric matrix). */
            xg_error oerr = {0};
            if (xg_structure_make_standard(s, &oerr) && !a.quiet)
                xg_cli_errorf(CMD, "warning: %s kept as sampled: %s", s->id, oerr.msg);
            char formula[256] = "?", sym[32] = "";
            int sg = 0;
            xg_structure_reduced_formula(s, formula, sizeof formula);
            xg_error serr = {0};
            if (xg_symmetry_spacegroup(s, a.symprec, &sg, sym, &serr))
                sg = 0; /* an unphysical sample can defeat spglib; screen will flag it */
            char cif[4600], note[2048];
            snprintf(cif, sizeof cif, "%s/cif/%s.cif", part, s->id);
            char tsg[8] = "";
            if ((tab && tpl[k]) || p1_only)
                snprintf(tsg, sizeof tsg, "%d", tab ? tpl[k]->spacegroup : 1);
            prov.index = done + k;
            snprintf(prov.template_sg, sizeof prov.template_sg, "%s", tsg);
            xg_provenance_format(&prov, 0, note, sizeof note);
            if (write_cif(cif, s, a.symprec, note, &err) || xg_extxyz_write(xyz, s, &err) ||
                xg_dataset_append(bds, s, NULL, &err)) {
                xg_cli_errorf(CMD, "%s", err.msg);
                goto done;
            }
            fprintf(csv, "%s,%s,%d,%d,%s,%s,%.4f,%.4f\n", s->id, formula, s->natoms, sg,
                    sg ? sym : "", tsg, xg_structure_volume(s), xg_structure_density(s));
            xg_structure_free(s);
            batch[k] = NULL;
        }
        fflush(xyz);
        fflush(csv);
        /* The batch's commit: its progress row first (a resumed run looks up the row of the
         * crystals generated.h5 holds), then the append, which a kill cannot cut in two. */
        if (mpi.size == 1 &&
            xg_gen_progress_record(part, done + nb, rdc.redrawn, rdc.unresolved, 0, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        xg_gen_critical_begin();
        int arc = xg_dataset_h5_append(h5path, bds, &err);
        xg_gen_critical_end();
        xg_dataset_free(bds);
        bds = NULL;
        if (arc) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        done += nb;
        done_mine += nb;
        xg_progress_update(&bar, done_mine);
    }
    xg_progress_finish(&bar);
    if (fclose(xyz) != 0 || fclose(csv) != 0) {
        xyz = csv = NULL;
        xg_cli_errorf(CMD, "writing outputs in %s failed", part);
        goto done;
    }
    xyz = csv = NULL;
    if (mpi.size > 1) {
        /* Every part is complete once all ranks get here (a failed rank aborts the job). */
        if (xg_mpi_barrier(&mpi, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        if (mpi.rank == 0 && merge_parts(a.outdir, a.n, a.batch, mpi.size, ds, &err)) {
            xg_cli_errorf(CMD, "merging the ranks' outputs: %s", err.msg);
            goto done;
        }
    }
    if (tab) {
        double cnt[5] = {(double)rdc.redrawn, (double)rdc.unresolved, (double)rdc.wrong,
                         (double)rdc.wrong_kept, (double)no_template};
        if (mpi.size > 1 && xg_mpi_sum_f64(&mpi, cnt, 5, &err)) {
            xg_cli_errorf(CMD, "%s", err.msg);
            goto done;
        }
        long redrawn = (long)cnt[0], unresolved = (long)cnt[1], wrong = (long)cnt[2],
             wrong_kept = (long)cnt[3];
        no_template = (long)cnt[4];
        if (mpi.rank == 0) {
            rs.redrawn = redrawn;
            rs.unresolved = unresolved;
            rs.wrong_group = wrong;
            rs.wrong_group_kept = wrong_kept;
            /* The provenance's template is per crystal (CIF notes); the run has none. */
            prov.template_sg[0] = '\0';
            snprintf(path, sizeof path, "%s/summary.json", a.outdir);
            if (xg_run_write_summary_json(path, &prov, &rs, &err)) {
                xg_cli_errorf(CMD, "%s", err.msg);
                goto done;
            }
        }
        if (!a.quiet && redrawn > 0)
            fprintf(stderr, "xtalgen generate: %ld template crystals with atoms closer than 0.5 A "
                            "were drawn again (%ld still collapsed, kept)\n",
                    redrawn, unresolved);
        if (!a.quiet && wrong > 0)
            fprintf(stderr, "xtalgen generate: %ld crystals that spglib placed in a group outside "
                            "--spacegroup were drawn again (%ld kept so)\n",
                    wrong, wrong_kept);
    }
    if (!a.quiet && no_template > 0)
        fprintf(stderr, "xtalgen generate: %ld compositions fit no template's orbits (with their "
                        "N) and were sampled without one\n", no_template);
    if (mpi.size == 1)
        xg_gen_progress_finish(part); /* complete: nothing left to resume */
    if (!a.quiet)
        fprintf(stderr, "xtalgen generate: %ld crystals in %s\n", a.n, a.outdir);
    rc = XG_EXIT_OK;
done:
    xg_outdir_close(&od);
    if (xyz)
        fclose(xyz);
    if (csv)
        fclose(csv);
    if (batch) {
        for (long k = 0; k < a.batch; k++)
            xg_structure_free(batch[k]);
        free(batch);
    }
    free(natoms);
    free(tpl);
    free(cls_buf);
    free(cls);
    free(chemv);
    free(chemp);
    free(chem_types);
    gen_chem_plan_free(&chem);
    xg_template_table_free(tab);
    free(prior);
    xg_evalpool_free(pool);
    free(cond);
    free(neg);
    xg_dataset_free(ds);
    xg_dataset_free(bds);
    xg_model_free(m);
    return xg_mpi_finalize(&mpi, rc);
}

const xg_command xg_command_generate = {"generate", run, "sample new crystals from a trained model",
                                        usage};
