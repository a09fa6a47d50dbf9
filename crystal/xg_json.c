/* xg_json.c: recursive-descent JSON reader (see xg_json.h). */
#include "crystal/xg_json.h"
#include "crystal/xg_fileio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct {
    const char *s, *end, *name;
    xg_error *err;
} parser;

static int fail(parser *p, const char *at, const char *what)
{
    int line = 1, col = 1;
    for (const char *c = p->s; c < at && c < p->end; c++) {
        if (*c == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return xg_error_set(p->err, XG_EPARSE, "%s:%d:%d: %s", p->name, line, col, what);
}

static const char *skip_ws(const char *c, const char *end)
{
    while (c < end && (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r'))
        c++;
    return c;
}

static void free_members(xg_json *v)
{
    if (v->keys)
        for (int i = 0; i < v->n; i++)
            free(v->keys[i]);
    if (v->items)
        for (int i = 0; i < v->n; i++)
            free_members(&v->items[i]);
    free(v->keys);
    free(v->items);
    free(v->text);
    memset(v, 0, sizeof *v);
}

void xg_json_free(xg_json *v)
{
    if (!v)
        return;
    free_members(v);
    free(v);
}

static int hex4(const char *c, unsigned *out)
{
    unsigned u = 0;
    for (int i = 0; i < 4; i++) {
        char h = c[i];
        u <<= 4;
        if (h >= '0' && h <= '9')
            u |= (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f')
            u |= (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F')
            u |= (unsigned)(h - 'A' + 10);
        else
            return -1;
    }
    *out = u;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* *c points at the opening quote; on success *c is past the closing one. The decoded text
 * never exceeds the encoded length, so one allocation of that size suffices. */
static int parse_string(parser *p, const char **c, char **out)
{
    const char *q = *c + 1;
    char *buf = malloc((size_t)(p->end - q) + 1), *o = buf;
    if (!buf)
        return xg_error_set(p->err, XG_ENOMEM, "%s: out of memory", p->name);
    for (;;) {
        if (q >= p->end) {
            free(buf);
            return fail(p, *c, "unterminated string");
        }
        unsigned char ch = (unsigned char)*q;
        if (ch == '"') {
            q++;
            break;
        }
        if (ch < 0x20) {
            free(buf);
            return fail(p, q, "control character in a string");
        }
        if (ch != '\\') {
            *o++ = (char)ch;
            q++;
            continue;
        }
        if (q + 1 >= p->end) {
            free(buf);
            return fail(p, q, "unterminated escape");
        }
        char e = q[1];
        q += 2;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (q + 4 > p->end || hex4(q, &cp)) {
                free(buf);
                return fail(p, q, "bad \\u escape");
            }
            q += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && q + 6 <= p->end && q[0] == '\\' && q[1] == 'u' &&
                !hex4(q + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                q += 6;
            }
            o += put_utf8(o, cp);
            break;
        }
        default:
            free(buf);
            return fail(p, q - 2, "unknown escape in a string");
        }
    }
    *o = '\0';
    *out = buf;
    *c = q;
    return XG_OK;
}

static int parse_value(parser *p, const char **c, xg_json *v, int depth);

static int append(parser *p, xg_json *v, int *cap)
{
    if (v->n < *cap)
        return XG_OK;
    int nc = *cap ? 2 * *cap : 4;
    xg_json *items = realloc(v->items, (size_t)nc * sizeof *items);
    if (!items)
        return xg_error_set(p->err, XG_ENOMEM, "%s: out of memory", p->name);
    v->items = items;
    if (v->type == XG_JSON_OBJECT) {
        char **keys = realloc(v->keys, (size_t)nc * sizeof *keys);
        if (!keys)
            return xg_error_set(p->err, XG_ENOMEM, "%s: out of memory", p->name);
        v->keys = keys;
    }
    *cap = nc;
    return XG_OK;
}

static int parse_container(parser *p, const char **c, xg_json *v, int depth)
{
    char close = **c == '{' ? '}' : ']';
    v->type = close == '}' ? XG_JSON_OBJECT : XG_JSON_ARRAY;
    int cap = 0, rc;
    const char *q = skip_ws(*c + 1, p->end);
    if (q < p->end && *q == close) {
        *c = q + 1;
        return XG_OK;
    }
    for (;;) {
        if ((rc = append(p, v, &cap)))
            return rc;
        xg_json *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        if (v->type == XG_JSON_OBJECT) {
            if (q >= p->end || *q != '"')
                return fail(p, q, "expected a string key");
            char *key = NULL;
            if ((rc = parse_string(p, &q, &key)))
                return rc;
            v->keys[v->n] = key;
            q = skip_ws(q, p->end);
            if (q >= p->end || *q != ':') {
                v->n++;
                return fail(p, q, "expected ':'");
            }
            q = skip_ws(q + 1, p->end);
        }
        v->n++;
        if ((rc = parse_value(p, &q, item, depth + 1)))
            return rc;
        q = skip_ws(q, p->end);
        if (q < p->end && *q == ',') {
            q = skip_ws(q + 1, p->end);
            continue;
        }
        if (q < p->end && *q == close) {
            *c = q + 1;
            return XG_OK;
        }
        return fail(p, q, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_number(parser *p, const char **c, xg_json *v)
{
    const char *q = *c, *start = q;
    if (q < p->end && *q == '-')
        q++;
    if (q >= p->end || *q < '0' || *q > '9')
        return fail(p, start, "bad number");
    if (*q == '0')
        q++;
    else
        while (q < p->end && *q >= '0' && *q <= '9')
            q++;
    if (q < p->end && *q == '.') {
        q++;
        if (q >= p->end || *q < '0' || *q > '9')
            return fail(p, start, "bad number");
        while (q < p->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < p->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < p->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= p->end || *q < '0' || *q > '9')
            return fail(p, start, "bad number");
        while (q < p->end && *q >= '0' && *q <= '9')
            q++;
    }
    size_t n = (size_t)(q - start);
    v->text = malloc(n + 1);
    if (!v->text)
        return xg_error_set(p->err, XG_ENOMEM, "%s: out of memory", p->name);
    memcpy(v->text, start, n);
    v->text[n] = '\0';
    v->type = XG_JSON_NUMBER;
    v->number = strtod(v->text, NULL);
    *c = q;
    return XG_OK;
}

static int literal(const char *q, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - q) >= n && !memcmp(q, word, n);
}

static int parse_value(parser *p, const char **c, xg_json *v, int depth)
{
    if (depth > MAX_DEPTH)
        return fail(p, *c, "nesting deeper than 64 levels");
    const char *q = skip_ws(*c, p->end);
    if (q >= p->end)
        return fail(p, q, "unexpected end of input");
    int rc = XG_OK;
    switch (*q) {
    case '{':
    case '[':
        rc = parse_container(p, &q, v, depth);
        break;
    case '"':
        v->type = XG_JSON_STRING;
        rc = parse_string(p, &q, &v->text);
        break;
    case 't':
    case 'f':
    case 'n':
        if (literal(q, p->end, "true")) {
            v->type = XG_JSON_BOOL;
            v->boolean = 1;
            q += 4;
        } else if (literal(q, p->end, "false")) {
            v->type = XG_JSON_BOOL;
            q += 5;
        } else if (literal(q, p->end, "null")) {
            v->type = XG_JSON_NULL;
            q += 4;
        } else {
            return fail(p, q, "unexpected word");
        }
        break;
    default:
        rc = parse_number(p, &q, v);
    }
    *c = q;
    return rc;
}

int xg_json_parse(const char *text, size_t len, const char *name, xg_json **out, xg_error *err)
{
    *out = NULL;
    parser p = {text, text + len, name ? name : "json", err};
    xg_json *root = calloc(1, sizeof *root);
    if (!root)
        return xg_error_set(err, XG_ENOMEM, "%s: out of memory", p.name);
    const char *c = text;
    int rc = parse_value(&p, &c, root, 0);
    if (!rc) {
        c = skip_ws(c, p.end);
        if (c != p.end)
            rc = fail(&p, c, "text after the JSON value");
    }
    if (rc) {
        xg_json_free(root);
        return rc;
    }
    *out = root;
    return XG_OK;
}

int xg_json_read_file(const char *path, xg_json **out, xg_error *err)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    /* a summary is kilobytes; a gigabyte is not one */
    int rc = xg_file_read_all(path, (size_t)1 << 30, &buf, &len, err);
    if (rc)
        return rc;
    const char *slash = strrchr(path, '/');
    rc = xg_json_parse(buf, len, slash ? slash + 1 : path, out, err);
    free(buf);
    return rc;
}

const xg_json *xg_json_get(const xg_json *v, const char *key)
{
    if (!v || v->type != XG_JSON_OBJECT)
        return NULL;
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->keys[i], key))
            return &v->items[i];
    return NULL;
}

const xg_json *xg_json_path(const xg_json *v, const char *path)
{
    char key[256];
    while (v && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        v = xg_json_get(v, key);
        path += n + (dot ? 1 : 0);
    }
    return v;
}

double xg_json_number(const xg_json *v, const char *path)
{
    const xg_json *x = xg_json_path(v, path);
    return x && x->type == XG_JSON_NUMBER ? x->number : NAN;
}

const char *xg_json_string(const xg_json *v, const char *path)
{
    const xg_json *x = xg_json_path(v, path);
    return x && x->type == XG_JSON_STRING ? x->text : NULL;
}

void xg_json_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}
