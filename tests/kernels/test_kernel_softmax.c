/* softmax and log_softmax against double-precision references, including large inputs. */
#include "runtime/k_base.c"
#include "runtime/k_softmax.c"
#include "tests/kernels/kt.h"

/* outer dim inner */
static const int sm_cases[][3] = {
	{ 1, 1, 1 }, { 1, 10, 1 }, { 3, 17, 1 }, { 2, 5, 7 }, { 4, 33, 65 }, { 1, 1000, 1 }, { 2, 3, 130 },
	{ 64, 128, 1 }, { 8, 64, 128 }, { 1, 1, 77 },
};

static void test_softmax(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof sm_cases / sizeof sm_cases[0]; t++) {
		for (int mode = 0; mode < 4; mode++) { /* softmax, log_softmax; scale 3 or 80 (log_softmax's
							      * absolute error grows with the scale) */
			struct k_softmax p = { .outer = sm_cases[t][0], .dim = sm_cases[t][1], .inner = sm_cases[t][2] };
			size_t n = (size_t)(p.outer * p.dim * p.inner);
			float sc = mode >= 2 ? 80.0f : 3.0f;
			float *x = kt_randv(n, -sc, sc), *y = kt_falloc(n);
			double *ref = kt_dalloc(n);
			int lg = mode & 1;
			char what[80];
			for (k_idx o = 0; o < p.outer; o++)
				for (k_idx i = 0; i < p.inner; i++) {
					double m = -INFINITY, s = 0;
					const float *xc = x + o * p.dim * p.inner + i;
					double *rc = ref + o * p.dim * p.inner + i;
					for (k_idx d = 0; d < p.dim; d++) m = fmax(m, xc[d * p.inner]);
					for (k_idx d = 0; d < p.dim; d++) s += exp(xc[d * p.inner] - m);
					for (k_idx d = 0; d < p.dim; d++)
						rc[d * p.inner] = lg ? xc[d * p.inner] - m - log(s) : exp(xc[d * p.inner] - m) / s;
				}
			for (int th = 0; th < KT_NTHREADS; th++) {
				kt_set_threads(kt_threads[th]);
				(lg ? k_log_softmax_f32 : k_softmax_f32)(&p, x, y);
				snprintf(what, sizeof what, "softmax case %zu mode %d, %d threads", t, mode, kt_threads[th]);
				kt_check(what, y, ref, n, 3e-7 * sc, 1e-5);
			}
			(lg ? k_log_softmax_f32 : k_softmax_f32)(&p, x, x);
			snprintf(what, sizeof what, "softmax case %zu mode %d in place", t, mode);
			kt_check(what, x, ref, n, 3e-7 * sc, 1e-5);
			free(x), free(y), free(ref);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_softmax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
