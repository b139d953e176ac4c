/* Shared helpers for the kernel tests: deterministic data, tolerance checks, thread counts.
 * Each test_kernel_*.c includes the runtime files it tests and then this header. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Thread counts every parallel kernel runs at. */
static K_UNUSED const int kt_threads[] = { 1, 2 };
#define KT_NTHREADS 2

static K_UNUSED void kt_set_threads(int t)
{
#ifdef _OPENMP
	omp_set_num_threads(t);
#else
	(void)t;
#endif
}

static K_UNUSED uint64_t kt_state = 88172645463325252ull;

/* Uniform in [-1, 1), from a fixed-seed xorshift so failures reproduce. */
static K_UNUSED float kt_rand(void)
{
	kt_state ^= kt_state << 13;
	kt_state ^= kt_state >> 7;
	kt_state ^= kt_state << 17;
	return (float)((double)(kt_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* n random floats in [lo, hi), on the heap. */
static K_UNUSED float *kt_randv(size_t n, float lo, float hi)
{
	float *v = malloc((n ? n : 1) * sizeof *v);
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = lo + (hi - lo) * (kt_rand() + 1.0f) * 0.5f;
	return v;
}

static K_UNUSED double *kt_dalloc(size_t n) { return calloc(n ? n : 1, sizeof(double)); }
static K_UNUSED float *kt_falloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/*
 * Fails the test if some |got - ref| > atol + rtol * |ref| (NaNs must match); prints the
 * case, the worst element, max-abs error and NMSE.
 */
static K_UNUSED void kt_check(const char *what, const float *got, const double *ref, size_t n, double atol, double rtol)
{
	double maxerr = 0.0, se = 0.0, sr = 0.0;
	size_t i, bad = n;

	for (i = 0; i < n; i++) {
		double e = fabs((double)got[i] - ref[i]);
		if (isnan(ref[i]) || isnan(got[i])) {
			if (isnan(ref[i]) != isnan(got[i]) && bad == n)
				bad = i;
			continue;
		}
		if (isinf(ref[i])) {
			if ((double)got[i] != ref[i] && bad == n)
				bad = i;
			continue;
		}
		if (e > atol + rtol * fabs(ref[i]) && bad == n)
			bad = i;
		maxerr = e > maxerr ? e : maxerr;
		se += e * e;
		sr += ref[i] * ref[i];
	}
	if (bad < n)
		fail_msg("%s: element %zu: got %.9g, want %.9g (max abs err %.3g, nmse %.3g)", what, bad,
			 (double)got[bad], ref[bad], maxerr, sr > 0 ? se / sr : se);
}
