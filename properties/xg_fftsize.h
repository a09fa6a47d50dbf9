/* xg_fftsize.h: FFT lengths FFTW transforms fastest, shared by the particle-mesh Ewald sum
 * (xg_ewald.c) and the powder-pattern convolution (xg_xrd.c). */
#ifndef XG_FFTSIZE_H
#define XG_FFTSIZE_H

/* The smallest m >= n (n >= 1) with no prime factor above 5: FFTW's codelets cover 2, 3 and 5
 * directly, while a length with a large prime factor runs through its slower generic code. */
int xg_fft_good_size(int n);

#endif
