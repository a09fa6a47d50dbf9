/* outdir.h: an output folder that one run owns while it writes (issue 19).
 *
 * Two runs into one folder corrupted each other, and a second run into a used folder left the
 * first run's files beside its own. A command that writes a folder therefore:
 *  - takes DIR/.xtalgen.lock with an exclusive, non-blocking flock(2) for as long as it writes:
 *    a second run into the same folder is refused at once, naming the holder's pid; the lock
 *    dies with the process, so a killed run never leaves a stale lock behind;
 *  - refuses a folder that already holds anything, unless the caller passes XG_OUTDIR_OVERWRITE
 *    (the entries an earlier xtalgen run recorded in DIR/.xtalgen-manifest are removed; anything
 *    else, a user's own file, is never deleted and makes the command refuse) or
 *    XG_OUTDIR_RESUME (the folder is kept as it is for a command that continues its work);
 *  - records each top-level entry it creates with xg_outdir_record before creating it, so the
 *    manifest is right even when the run is killed midway;
 *  - removes leftover temporary files (NAME.tmp, NAME.tmp.PID) of an interrupted run.
 * Paths inside the folder are checked with lstat: a symbolic link planted in the folder is
 * refused, never followed (xg_outdir_path). */
#ifndef XG_OUTDIR_H
#define XG_OUTDIR_H

#include <stddef.h>

#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"

enum {
    XG_OUTDIR_NEW = 0,       /* the folder must be empty or absent */
    XG_OUTDIR_OVERWRITE = 1, /* clear what earlier xtalgen runs wrote there */
    XG_OUTDIR_RESUME = 2     /* keep what is there: the command continues it */
};

typedef struct {
    char dir[4096];
    int lock_fd;     /* -1 when not held */
    int manifest_fd; /* append-only record of what this folder's runs created */
    void *recorded;  /* the manifest's names, loaded once (private to outdir.c) */
} xg_outdir;

/* Creates DIR (and its parents) if needed, locks it and applies mode. `cmd` names the command
 * in messages. On success the caller owns od until xg_outdir_close. */
int xg_outdir_open(xg_outdir *od, const char *dir, const char *cmd, int mode, xg_error *err);

/* Records that the run is about to create DIR/name (a top-level file or folder). Idempotent. */
int xg_outdir_record(xg_outdir *od, const char *name, xg_error *err);

/* Writes DIR/name into buf, after checking that no existing component below DIR is a symbolic
 * link (a link planted in the output folder would send writes elsewhere). */
int xg_outdir_path(const xg_outdir *od, const char *name, char *buf, size_t size, xg_error *err);

/* File names for the crystals of ds (keep may be NULL: all; else only keep[i] != 0), one per
 * crystal, collision-free: ids are cut to a safe alphabet (letters, digits, - _ .; a leading
 * '.' becomes '_'), and a name already taken, case-insensitively (case-folding file systems),
 * gets a suffix _2, _3, ... that no other crystal uses. Every name claims itself and NAME.ext,
 * so ids "x" and "x.cif" never meet as x.cif (a file) and x.cif/ (a folder). Each rename is
 * reported on stderr as "xtalgen CMD: crystal 'ID' is written as 'NAME' (why)" unless quiet.
 * *out receives ds->n strings (NULL where not kept); free with xg_outdir_names_free. Linear
 * time: a hash of the names taken. */
int xg_outdir_unique_names(const xg_dataset *ds, const unsigned char *keep, const char *ext,
                           const char *cmd, int quiet, char ***out, xg_error *err);
void xg_outdir_names_free(char **names, int64_t n);

/* Releases the lock (the lock file stays: removing it would race with a waiting run). */
void xg_outdir_close(xg_outdir *od);

#endif
