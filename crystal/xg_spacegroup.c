/* xg_spacegroup.c: space groups by name, from spglib's database (see xg_spacegroup.h). */
#include "crystal/xg_spacegroup.h"

#include <ctype.h>
#include <spglib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define NHALL 530

/* Lower case, without spaces and underscores: "P 1 2_1/c 1" -> "p121/c1". */
static void squeeze(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && s[i] && k + 1 < cap; i++)
        if (!isspace((unsigned char)s[i]) && s[i] != '_')
            out[k++] = (char)tolower((unsigned char)s[i]);
    out[k] = '\0';
}

/* Lower case with runs of blanks made one space and trimmed: Hall symbols need their spaces
 * ("P 2 2ab" is not "P 22ab"). */
static void collapse(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    int space = 0;
    for (size_t i = 0; i < n && s[i] && k + 1 < cap; i++) {
        if (isspace((unsigned char)s[i])) {
            space = k > 0;
            continue;
        }
        if (space && k + 2 < cap)
            out[k++] = ' ';
        space = 0;
        out[k++] = (char)tolower((unsigned char)s[i]);
    }
    out[k] = '\0';
}

/* Does want (squeezed) name Hall number t? spglib's names of a setting: the international
 * symbol and its '='-separated aliases ("P 2_1/c = P 1 2_1/n 1"), the full and the short
 * symbol, plus the short form of a b-unique monoclinic setting ("P 1 2_1/n 1" -> "P 2_1/n"). */
static int names(const SpglibSpacegroupType *t, const char *want)
{
    char buf[96];
    squeeze(t->international_short, sizeof t->international_short, buf, sizeof buf);
    if (!strcmp(buf, want))
        return 1;
    squeeze(t->international_full, sizeof t->international_full, buf, sizeof buf);
    if (!strcmp(buf, want))
        return 1;
    const char *p = t->international, *end = p + strnlen(p, sizeof t->international);
    while (p < end) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t n = eq ? (size_t)(eq - p) : (size_t)(end - p);
        squeeze(p, n, buf, sizeof buf);
        if (!strcmp(buf, want))
            return 1;
        /* "X 1 Y 1" -> "X Y" */
        char tok[4][24];
        int nt = 0;
        size_t i = 0;
        while (i < n && nt < 4) {
            while (i < n && isspace((unsigned char)p[i]))
                i++;
            size_t j = i;
            while (j < n && !isspace((unsigned char)p[j]))
                j++;
            if (j > i && j - i < sizeof tok[0]) {
                memcpy(tok[nt], p + i, j - i);
                tok[nt++][j - i] = '\0';
            } else if (j > i) {
                nt = 5;
            }
            i = j;
        }
        while (i < n && isspace((unsigned char)p[i]))
            i++;
        if (nt == 4 && i >= n && !strcmp(tok[1], "1") && !strcmp(tok[3], "1")) {
            char sh[64];
            snprintf(sh, sizeof sh, "%s%s", tok[0], tok[2]);
            squeeze(sh, strlen(sh), buf, sizeof buf);
            if (!strcmp(buf, want))
                return 1;
        }
        p += n + (eq ? 1 : 0);
    }
    return 0;
}

/* Symbols of the e-glide groups before the 2002 renaming, in their standard settings. */
static const char *const old_names[][2] = {
    {"abm2", "aem2"}, {"aba2", "aea2"}, {"cmca", "cmce"}, {"cmma", "cmme"}, {"ccca", "ccce"},
};

int xg_spacegroup_hall_from_hm(const char *symbol, size_t len)
{
    char raw[96], choice[16] = "", want[96];
    if (!symbol || len == 0 || len >= sizeof raw)
        return 0;
    memcpy(raw, symbol, len);
    raw[len] = '\0';
    char *colon = strchr(raw, ':');
    if (colon) {
        squeeze(colon + 1, strlen(colon + 1), choice, sizeof choice);
        *colon = '\0';
    } else {
        /* ICSD: a last word Z, S (origin choice 2, 1), H or R (axes) after the symbol */
        size_t n = strlen(raw);
        while (n > 0 && isspace((unsigned char)raw[n - 1]))
            raw[--n] = '\0';
        if (n >= 3 && strchr("ZSHR", raw[n - 1]) && isspace((unsigned char)raw[n - 2])) {
            char c = raw[n - 1];
            snprintf(choice, sizeof choice, "%s", c == 'Z' ? "2" : c == 'S' ? "1" : c == 'H' ? "h" : "r");
            raw[n - 1] = '\0';
        }
    }
    squeeze(raw, strlen(raw), want, sizeof want);
    if (!want[0])
        return 0;
    for (size_t k = 0; k < sizeof old_names / sizeof *old_names; k++)
        if (!strcmp(want, old_names[k][0]))
            snprintf(want, sizeof want, "%s", old_names[k][1]);
    int first = 0, prefix = 0;
    for (int h = 1; h <= NHALL; h++) {
        SpglibSpacegroupType t = spg_get_spacegroup_type(h);
        if (t.number == 0 || !names(&t, want))
            continue;
        if (!choice[0])
            return h;
        if (!first)
            first = h;
        if (!strcasecmp(t.choice, choice))
            return h;
        if (!prefix && !strncasecmp(t.choice, choice, strlen(choice)))
            prefix = h;
    }
    /* a choice the group does not have (ICSD's Z on a group with one origin): the default */
    return prefix ? prefix : first;
}

int xg_spacegroup_hall_from_hall_symbol(const char *symbol, size_t len)
{
    char want[64], buf[64];
    if (!symbol || len == 0 || len >= sizeof want)
        return 0;
    collapse(symbol, len, want, sizeof want);
    if (!want[0])
        return 0;
    for (int h = 1; h <= NHALL; h++) {
        SpglibSpacegroupType t = spg_get_spacegroup_type(h);
        collapse(t.hall_symbol, sizeof t.hall_symbol, buf, sizeof buf);
        if (t.number != 0 && !strcmp(buf, want))
            return h;
    }
    return 0;
}

int xg_spacegroup_hall_from_number(int number)
{
    if (number < 1 || number > 230)
        return 0;
    for (int h = 1; h <= NHALL; h++)
        if (spg_get_spacegroup_type(h).number == number)
            return h;
    return 0;
}

int xg_spacegroup_operations(int hall, int rot[XG_SPACEGROUP_MAX_OPS][3][3],
                             double trans[XG_SPACEGROUP_MAX_OPS][3])
{
    if (hall < 1 || hall > NHALL)
        return 0;
    return spg_get_symmetry_from_database(rot, trans, hall);
}
