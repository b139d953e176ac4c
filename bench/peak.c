/*
 * peak.c: measured FP32 multiply-add throughput of this CPU, the "100%" of bench's table.
 *
 * usage: cc -O2 -march=native -fopenmp peak.c -o peak && ./peak [THREADS]
 * prints: peak_gflops threads=T total=X per_core=Y vector_bits=B
 *
 * Each thread runs K_ACC independent accumulator vectors through acc = acc * m + a for a
 * fixed time: enough independent chains to cover FMA latency on every core we know of, and
 * nothing else in the loop.  With -march=native gcc contracts a*b+c into one FMA (it does
 * by default outside ISO mode; -ffp-contract=fast makes sure).  The vector width is the
 * widest the compiler targets (AVX-512 if enabled, else AVX, else SSE), so the number is
 * what kiln's -march=native build could reach, not the ISA's marketing figure.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__)
#define VBYTES 64
#elif defined(__AVX__)
#define VBYTES 32
#else
#define VBYTES 16
#endif
#define VL (VBYTES / 4)
#define K_ACC 12 /* independent chains: >= FMA latency (4-5) x FMA ports (2) */

typedef float vf __attribute__((vector_size(VBYTES)));

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs iters rounds of K_ACC FMAs on vectors; returns a value that depends on all of them.
 * The accumulators are named variables, not an array, so they stay in registers at -O2. */
static float __attribute__((noinline)) fma_loop(long iters, float seed)
{
	vf m, a, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, t;
	float s = 0.0f;
	long i;
	int l;

	for (l = 0; l < VL; l++) {
		m[l] = 0.999999f;
		a[l] = 1e-7f * seed;
	}
	c0 = a + seed, c1 = c0 + 1, c2 = c0 + 2, c3 = c0 + 3, c4 = c0 + 4, c5 = c0 + 5;
	c6 = c0 + 6, c7 = c0 + 7, c8 = c0 + 8, c9 = c0 + 9, c10 = c0 + 10, c11 = c0 + 11;
	for (i = 0; i < iters; i++) {
		c0 = c0 * m + a, c1 = c1 * m + a, c2 = c2 * m + a, c3 = c3 * m + a;
		c4 = c4 * m + a, c5 = c5 * m + a, c6 = c6 * m + a, c7 = c7 * m + a;
		c8 = c8 * m + a, c9 = c9 * m + a, c10 = c10 * m + a, c11 = c11 * m + a;
		__asm__ volatile("" : "+x"(m)); /* keep the compiler from folding iterations */
	}
	t = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11));
	for (l = 0; l < VL; l++)
		s += t[l];
	return s;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	long iters = 20000000;
	double best = 0.0;
	float sink = 0.0f;
	int rep;

	if (threads < 1)
		threads = 1;
	for (rep = 0; rep < 5; rep++) {
		double t0 = now(), dt;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : sink)
#endif
		sink += fma_loop(iters, 1.0f + (float)rep);
		dt = now() - t0;
		if (dt < 0.2) { /* too short to trust: lengthen and retry */
			iters *= 2;
			rep--;
			continue;
		}
		dt = (double)iters * K_ACC * VL * 2.0 * threads / dt * 1e-9;
		if (dt > best)
			best = dt;
	}
	printf("peak_gflops threads=%d total=%.1f per_core=%.1f vector_bits=%d (checksum %g)\n", threads,
	       best, best / threads, VBYTES * 8, (double)sink);
	return 0;
}
