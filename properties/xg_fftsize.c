/* xg_fftsize.c: see xg_fftsize.h. */
#include "properties/xg_fftsize.h"

int xg_fft_good_size(int n)
{
    if (n < 1)
        n = 1;
    for (;; n++) {
        int m = n;
        while (m % 2 == 0)
            m /= 2;
        while (m % 3 == 0)
            m /= 3;
        while (m % 5 == 0)
            m /= 5;
        if (m == 1)
            return n;
    }
}
