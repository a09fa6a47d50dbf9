/* test_sha256.c: SHA-256 against the FIPS 180-4 / NIST example vectors, streaming in odd
 * chunk sizes, and a file's hash against the same bytes in memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crystal/xg_sha256.h"
#include "xg_test.h"

static void test_vectors(void)
{
    char hex[XG_SHA256_HEX_LEN];
    xg_sha256_hex("", 0, hex);
    CU_ASSERT_STRING_EQUAL(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    xg_sha256_hex("abc", 3, hex);
    CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    xg_sha256_hex(m448, strlen(m448), hex);
    CU_ASSERT_STRING_EQUAL(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in chunks of 1..97 bytes so every buffer boundary is crossed */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    xg_sha256 c;
    xg_sha256_init(&c);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step < 1000000 - off ? step : 1000000 - off;
        xg_sha256_update(&c, a + off, n);
        off += n;
        step = step % 97 + 1;
    }
    unsigned char d[32];
    xg_sha256_final(&c, d);
    char h2[XG_SHA256_HEX_LEN];
    for (int i = 0; i < 32; i++)
        snprintf(h2 + 2 * i, 3, "%02x", d[i]);
    CU_ASSERT_STRING_EQUAL(h2, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

static void test_file(void)
{
    const char *text = "data_x\n_cell_length_a 1\n";
    const char *p = xg_test_tmpfile(".txt", text);
    char h1[XG_SHA256_HEX_LEN], h2[XG_SHA256_HEX_LEN];
    xg_error e;
    CU_ASSERT_EQUAL(xg_sha256_file(p, h1, &e), XG_OK);
    xg_sha256_hex(text, strlen(text), h2);
    CU_ASSERT_STRING_EQUAL(h1, h2);
    CU_ASSERT_EQUAL(xg_sha256_file("/nonexistent/model.h5", h1, &e), XG_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "/nonexistent/model.h5"));
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"NIST vectors, streaming", test_vectors},
        {"file hash", test_file},
        CU_TEST_INFO_NULL,
    };
    return xg_test_run("sha256", tests);
}
