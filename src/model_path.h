/* model_path.h: where the shipped model and data files are found. */
#ifndef XG_MODEL_PATH_H
#define XG_MODEL_PATH_H

#include <stddef.h>
#include "crystal/xg_error.h"

/* Finds data/models/NAME, trying in order: $XTALGEN_MODEL_DIR/NAME,
 * <dir of the binary>/../data/models/NAME (a build tree inside the source tree),
 * <dir of the binary>/../share/xtalgen/models/NAME (an installed tree), the same two beside
 * libxtalgen.so when this code runs inside it (Python, a C program), the install prefix's
 * share/xtalgen/models (XTALGEN_INSTALL_DATADIR), and the source tree the code was built from
 * (a build folder elsewhere). `cmake --install` lays out share/xtalgen as data/ is. XG_EIO
 * naming every place tried when none exists. */
int xg_default_model_path(const char *name, char *out, size_t n, xg_error *err);

/* Same search for a shipped data file data/NAME ($XTALGEN_DATA_DIR/NAME first): the hull
 * tables, the novelty reference reference/mp20.h5, report-mp20.csv. */
int xg_default_data_path(const char *name, char *out, size_t n, xg_error *err);

#endif
