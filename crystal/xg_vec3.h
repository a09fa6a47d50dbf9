/* xg_vec3.h: the dot product, norm and cross product of 3-vectors, written once for every
 * module that works with lattice rows and cartesian positions (crystal/, properties/). Inline:
 * they sit in inner loops (matcher, Ewald, XRD), and a call per product would cost more than
 * the product. */
#ifndef XG_VEC3_H
#define XG_VEC3_H

#include <math.h>

static inline double xg_vec3_dot(const double a[3], const double b[3])
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static inline double xg_vec3_norm(const double a[3]) { return sqrt(xg_vec3_dot(a, a)); }

/* c = a x b; c must not alias a or b. */
static inline void xg_vec3_cross(const double a[3], const double b[3], double c[3])
{
    c[0] = a[1] * b[2] - a[2] * b[1];
    c[1] = a[2] * b[0] - a[0] * b[2];
    c[2] = a[0] * b[1] - a[1] * b[0];
}

#endif
