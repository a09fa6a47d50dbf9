/* xg_json.h: a small strict JSON (RFC 8259) reader for the files xtalgen itself writes
 * (summary.json of generate and screen), so that a later command reads them by key instead of
 * scraping text.
 *
 * The whole document becomes a tree of xg_json values. Numbers keep their text as written
 * (`raw`) besides the parsed double, so a report can show exactly the digits a summary holds.
 * Errors name the file, line and column. Depth is limited (64) so a hostile file cannot
 * exhaust the stack. */
#ifndef XG_JSON_H
#define XG_JSON_H

#include <stddef.h>
#include <stdio.h>
#include "crystal/xg_error.h"

typedef enum {
    XG_JSON_NULL,
    XG_JSON_BOOL,
    XG_JSON_NUMBER,
    XG_JSON_STRING,
    XG_JSON_ARRAY,
    XG_JSON_OBJECT
} xg_json_type;

typedef struct xg_json {
    xg_json_type type;
    int boolean;            /* XG_JSON_BOOL */
    double number;          /* XG_JSON_NUMBER */
    char *text;             /* STRING: the decoded UTF-8 text; NUMBER: the literal as written */
    int n;                  /* ARRAY/OBJECT: number of members */
    char **keys;            /* OBJECT: n keys, in file order */
    struct xg_json *items;  /* ARRAY/OBJECT: n values */
} xg_json;

/* Parses len bytes of text into a new tree (*out; free with xg_json_free). name labels error
 * messages ("summary.json:3:14: expected ':'"). */
int xg_json_parse(const char *text, size_t len, const char *name, xg_json **out, xg_error *err);
/* Reads and parses a file. */
int xg_json_read_file(const char *path, xg_json **out, xg_error *err);
void xg_json_free(xg_json *v);

/* Member key of an object, NULL when absent or v is not an object. */
const xg_json *xg_json_get(const xg_json *v, const char *key);
/* Member by a dotted path ("rates.sun"); NULL when any step is missing. */
const xg_json *xg_json_path(const xg_json *v, const char *path);
/* The number at path, or NAN when absent or not a number. */
double xg_json_number(const xg_json *v, const char *path);
/* The string at path, or NULL when absent or not a string. */
const char *xg_json_string(const xg_json *v, const char *path);

/* Writes s as a JSON string literal, the one escape of every JSON xtalgen writes: quotes and
 * backslashes escaped, control characters as \u00XX, bytes >= 0x80 passed through (UTF-8
 * stays UTF-8). NULL is written as "". */
void xg_json_write_string(FILE *f, const char *s);

#endif
