/* batch norm, scale/shift and layer norm against double-precision references. */
#include "runtime/k_base.c"
#include "runtime/k_norm.c"
#include "tests/kernels/kt.h"

/* n c hw */
static const int bn_cases[][3] = { { 1, 1, 1 }, { 2, 3, 17 }, { 1, 33, 49 }, { 4, 64, 3136 } };

static void test_batchnorm(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof bn_cases / sizeof bn_cases[0]; t++) {
		for (int mode = 0; mode < 3; mode++) { /* weight and bias, none, with relu6 */
			struct k_batchnorm p = { .n = bn_cases[t][0], .c = bn_cases[t][1], .hw = bn_cases[t][2], .eps = 1e-5f,
						 .act = mode == 2 ? K_ACT_CLIP : K_ACT_NONE, .min = 0, .max = 6 };
			size_t nx = (size_t)(p.n * p.c * p.hw), nc = (size_t)p.c;
			float *x = kt_randv(nx, -4, 4), *mean = kt_randv(nc, -1, 1), *var = kt_randv(nc, 0.01f, 2);
			float *w = kt_randv(nc, -2, 2), *b = kt_randv(nc, -1, 1), *y = kt_falloc(nx);
			double *ref = kt_dalloc(nx);
			const float *wp = mode == 1 ? NULL : w, *bp = mode == 1 ? NULL : b;
			char what[80];
			for (size_t i = 0; i < nx; i++) {
				size_t c = i / (size_t)p.hw % nc;
				double v = (x[i] - mean[c]) / sqrt((double)var[c] + (double)1e-5f) * (wp ? wp[c] : 1) + (bp ? bp[c] : 0);
				ref[i] = mode == 2 ? fmin(fmax(v, 0), 6) : v;
			}
			for (int th = 0; th < KT_NTHREADS; th++) {
				kt_set_threads(kt_threads[th]);
				k_batchnorm_f32(&p, x, mean, var, wp, bp, y);
				snprintf(what, sizeof what, "batchnorm case %zu mode %d, %d threads", t, mode, kt_threads[th]);
				kt_check(what, y, ref, nx, 1e-5, 1e-5);
			}
			k_batchnorm_f32(&p, x, mean, var, wp, bp, x);
			kt_check("batchnorm in place", x, ref, nx, 1e-5, 1e-5);
			free(x), free(mean), free(var), free(w), free(b), free(y), free(ref);
		}
	}
}

static void test_scale_shift(void **state)
{
	struct k_scale_shift p = { .n = 2, .c = 5, .hw = 13, .act = K_ACT_RELU };
	float *x = kt_randv(130, -1, 1), *s = kt_randv(5, -2, 2), *b = kt_randv(5, -1, 1), *y = kt_falloc(130);
	double ref[130];
	(void)state;
	for (int i = 0; i < 130; i++) {
		double v = (double)x[i] * s[i / 13 % 5] + b[i / 13 % 5];
		ref[i] = v > 0 ? v : 0;
	}
	k_scale_shift_f32(&p, x, s, b, y);
	kt_check("scale_shift", y, ref, 130, 1e-6, 1e-6);
	free(x), free(s), free(b), free(y);
}

/* outer inner */
static const int ln_cases[][2] = { { 1, 1 }, { 3, 17 }, { 7, 768 }, { 2, 1000 }, { 64, 1023 } };

static void test_layernorm(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof ln_cases / sizeof ln_cases[0]; t++) {
		for (int mode = 0; mode < 2; mode++) {
			struct k_layernorm p = { .outer = ln_cases[t][0], .inner = ln_cases[t][1], .eps = 1e-5f };
			size_t n = (size_t)(p.outer * p.inner), in = (size_t)p.inner;
			float *x = kt_randv(n, -3, 5), *w = kt_randv(in, -2, 2), *b = kt_randv(in, -1, 1), *y = kt_falloc(n);
			double *ref = kt_dalloc(n);
			char what[80];
			for (size_t r = 0; r < (size_t)p.outer; r++) {
				double m = 0, v = 0;
				for (size_t i = 0; i < in; i++) m += x[r * in + i];
				m /= (double)in;
				for (size_t i = 0; i < in; i++) v += (x[r * in + i] - m) * (x[r * in + i] - m);
				v /= (double)in;
				for (size_t i = 0; i < in; i++)
					ref[r * in + i] = (x[r * in + i] - m) / sqrt(v + (double)1e-5f) * (mode ? w[i] : 1) + (mode ? b[i] : 0);
			}
			for (int th = 0; th < KT_NTHREADS; th++) {
				kt_set_threads(kt_threads[th]);
				k_layernorm_f32(&p, x, mode ? w : NULL, mode ? b : NULL, y);
				snprintf(what, sizeof what, "layernorm case %zu mode %d, %d threads", t, mode, kt_threads[th]);
				kt_check(what, y, ref, n, 1e-5, 1e-5);
			}
			free(x), free(w), free(b), free(y), free(ref);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batchnorm),
		cmocka_unit_test(test_scale_shift),
		cmocka_unit_test(test_layernorm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
