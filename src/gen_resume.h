/* gen_resume.h: the state of a `generate` run on disk, so that an interrupted run can be
 * continued (`generate --resume`, issue 19).
 *
 * Crystal k depends only on the seed, k and the batch it was sampled in (batch b holds crystals
 * b*B .. b*B+B-1), so a run can stop after any batch and go on later with the same result. A
 * batch is committed when its crystals are appended to DIR/generated.h5; before that, its row
 * "done redrawn unresolved" (crystals committed after it, template redraw counts so far) is
 * appended to DIR/.generate-progress. A resumed run takes K = the crystals in generated.h5,
 * the counts of the progress row for K, cuts summary.csv and generated.extxyz back to K
 * crystals, removes CIFs of crystals >= K (a batch that was being written when the run
 * stopped) and samples from crystal K on: the final files are byte for byte those of an
 * uninterrupted run. The progress file is removed when the run completes. */
#ifndef XG_GEN_RESUME_H
#define XG_GEN_RESUME_H

#include <signal.h>

#include "crystal/xg_error.h"

#define XG_GEN_PROGRESS_NAME ".generate-progress"

typedef struct {
    long done;       /* crystals committed (generated.h5 holds 0..done-1) */
    long redrawn;    /* template crystals drawn again among them */
    long unresolved; /* of those, still collapsed */
    int complete;    /* the run finished (no progress file, done == n) */
} xg_gen_progress;

/* Checks that `candidate` (the summary.json this command would write) records the same run as
 * `existing` (the folder's), ignoring the redraw counts a finished run adds; else XG_EINVAL
 * naming the first setting that differs. */
int xg_gen_resume_same_run(const char *existing, const char *candidate, xg_error *err);

/* Reads how far the run in dir got (n crystals in batches of `batch`) and cuts its
 * summary.csv, generated.extxyz and cif/ back to the committed crystals. XG_EPARSE with a
 * message when the folder is not an interrupted run of this kind or is damaged. A folder with
 * no generated.h5 is a run that committed nothing: p->done = 0. */
int xg_gen_resume_prepare(const char *dir, long n, long batch, xg_gen_progress *p,
                          xg_error *err);

/* Appends the progress row (fsync'd); truncate != 0 starts the file afresh. */
int xg_gen_progress_record(const char *dir, long done, long redrawn, long unresolved,
                           int truncate, xg_error *err);

/* The run is complete: its progress file goes. */
void xg_gen_progress_finish(const char *dir);

/* Termination signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT) still end the run at once, except
 * inside a critical section: generated.h5 grows in place and cannot be written atomically, so
 * a kill that arrives while it is written takes effect when the write is done. A handler is
 * installed once (only for signals not ignored); a process has one such state, since a signal
 * can be delivered to any of its threads (OpenMP workers included, which is why blocking the
 * signal in the writing thread would not do). */
void xg_gen_signals_install(void);
void xg_gen_critical_begin(void);
void xg_gen_critical_end(void);

#endif
