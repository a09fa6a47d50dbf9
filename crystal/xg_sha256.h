/* xg_sha256.h: SHA-256 (FIPS 180-4), for content hashes of model files in provenance records.
 *
 * Why SHA-256 and not the FNV-1a used for in-memory indexes: a provenance hash must identify a
 * model file beyond doubt and be checkable with standard tools (`sha256sum MODEL.h5` prints the
 * same 64 hex digits). Streaming interface: init, update any number of times, final. */
#ifndef XG_SHA256_H
#define XG_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "crystal/xg_error.h"

#define XG_SHA256_HEX_LEN 65 /* 64 hex digits and the NUL */

typedef struct {
    uint32_t h[8];
    uint64_t nbytes;
    unsigned char buf[64];
    size_t nbuf;
} xg_sha256;

void xg_sha256_init(xg_sha256 *c);
void xg_sha256_update(xg_sha256 *c, const void *data, size_t n);
/* Finishes the hash: 32 bytes into digest. c must be re-initialised before reuse. */
void xg_sha256_final(xg_sha256 *c, unsigned char digest[32]);
/* The lowercase hex digest of n bytes. */
void xg_sha256_hex(const void *data, size_t n, char hex[XG_SHA256_HEX_LEN]);
/* The lowercase hex digest of a file's content; XG_EIO naming the file when it cannot be read. */
int xg_sha256_file(const char *path, char hex[XG_SHA256_HEX_LEN], xg_error *err);

#endif
