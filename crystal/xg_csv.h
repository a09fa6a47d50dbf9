/* xg_csv.h: CSV in the form the field's data sets ship (RFC 4180), and the CDVAE/MatterGen
 * crystal table built on it.
 *
 * The reader streams one record at a time from a file, so a 32 MB table whose `cif` column
 * holds quoted multi-line text costs one record of memory. It follows RFC 4180: fields
 * separated by commas, records by LF or CRLF, quoted fields may contain commas, line breaks and
 * "" (an escaped quote). The first record is the header; every later record must have as many
 * fields, and each error names the file and the line where the record starts
 * ("train.csv:1234: row has 7 fields, header has 8").
 *
 * The CDVAE reader turns such a table (columns material_id and cif required) into an
 * xg_dataset: every other column whose values are all numbers (blank or NA = missing = NaN)
 * becomes a property; text columns (no number at all, such as pretty_formula and elements)
 * are skipped; a column of numbers with a cell that is neither a number nor missing (inf,
 * abc) is an error naming the file, line and column. CIF texts are
 * parsed in parallel (OpenMP) in chunks while records are read in order, so the dataset keeps
 * the file's row order. */
#ifndef XG_CSV_H
#define XG_CSV_H

#include <stddef.h>
#include <stdio.h>
#include "crystal/xg_dataset.h"
#include "crystal/xg_error.h"

typedef struct xg_csv_reader xg_csv_reader;

/* Opens path and reads its header record. */
int xg_csv_open(const char *path, xg_csv_reader **out, xg_error *err);
void xg_csv_close(xg_csv_reader *r);

/* Reads the next record. *got is 1 when a record was read, 0 at the end of the file. Blank
 * lines between records are skipped when the header has more than one column. */
int xg_csv_next(xg_csv_reader *r, int *got, xg_error *err);

/* The current record (or the header, before the first xg_csv_next). Fields are
 * NUL-terminated and stay valid until the next xg_csv_next. */
int xg_csv_nfields(const xg_csv_reader *r);
const char *xg_csv_field(const xg_csv_reader *r, int i);
size_t xg_csv_field_len(const xg_csv_reader *r, int i);
/* 1-based line number where the current record starts. */
long xg_csv_line(const xg_csv_reader *r);
/* The file's base name, for messages. */
const char *xg_csv_name(const xg_csv_reader *r);
/* Bytes consumed so far and the file size (0 if unknown): for progress display. */
long long xg_csv_bytes_read(const xg_csv_reader *r);
long long xg_csv_bytes_total(const xg_csv_reader *r);

/* Header access. */
int xg_csv_ncolumns(const xg_csv_reader *r);
const char *xg_csv_column_name(const xg_csv_reader *r, int i);
int xg_csv_column(const xg_csv_reader *r, const char *name); /* index, -1 if absent */

/* Strict number parsing of a CSV cell: optional sign, digits, decimal point, exponent;
 * surrounding blanks allowed. An empty cell or a missing-value marker (NA, N/A, NaN, None,
 * null, any case) gives NaN (missing). Returns 1 on success, 0 if the cell is not a finite
 * number (inf, 1e999, abc). */
int xg_csv_parse_number(const char *s, double *out);

/* Progress callback for long reads: bytes done out of total bytes (total 0 if unknown). */
typedef void (*xg_csv_progress_fn)(void *ctx, long long done, long long total);

/* Reads a CDVAE/MatterGen-format table into a new dataset. Each structure's id is its
 * material_id. A row whose CIF fails to parse is an error naming the file, the line and the
 * id (the whole read fails: a training set silently missing rows is worse than a clear stop).
 * progress may be NULL. */
int xg_csv_read_cdvae(const char *path, xg_dataset **out, xg_csv_progress_fn progress,
                      void *progress_ctx, xg_error *err);

/* Merges a property table keyed by material_id into ds: every numeric column other than
 * material_id becomes (or updates) a property; structures whose id is absent from the table
 * keep NaN, table rows whose id is not in ds are ignored. *matched (may be NULL) receives the
 * number of rows of the table that matched a structure. */
int xg_csv_merge_properties(xg_dataset *ds, const char *path, long *matched, xg_error *err);

/* Writes s as one CSV cell (RFC 4180), the one escape of every CSV xtalgen writes: as is, or
 * in double quotes with quotes doubled when it holds a comma, a quote or a line break. */
void xg_csv_write_cell(FILE *f, const char *s);

#endif
