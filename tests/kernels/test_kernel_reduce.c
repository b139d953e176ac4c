/* Reductions along one axis and argmax/argmin against naive references. */
#include "runtime/k_base.c"
#include "runtime/k_reduce.c"
#include "tests/kernels/kt.h"

/* outer dim inner */
static const int red_cases[][3] = {
	{ 1, 1, 1 }, { 1, 10, 1 }, { 3, 17, 1 }, { 2, 5, 7 }, { 4, 33, 65 }, { 1, 5000, 1 }, { 2, 3, 130 },
	{ 128, 49, 1 }, { 1, 300, 200 }, { 6, 1, 9 },
};

static void test_reduce(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof red_cases / sizeof red_cases[0]; t++) {
		for (int op = K_RED_SUM; op <= K_RED_MIN; op++) {
			struct k_reduce p = { .op = (enum k_redop)op, .outer = red_cases[t][0], .dim = red_cases[t][1],
					      .inner = red_cases[t][2] };
			size_t n = (size_t)(p.outer * p.dim * p.inner), ny = (size_t)(p.outer * p.inner);
			float *x = kt_randv(n, op == K_RED_PROD ? 0.9f : -1, op == K_RED_PROD ? 1.1f : 1), *y = kt_falloc(ny);
			double *ref = kt_dalloc(ny);
			char what[80];
			for (k_idx o = 0; o < p.outer; o++)
				for (k_idx i = 0; i < p.inner; i++) {
					double s = op == K_RED_PROD ? 1 : 0, m = op == K_RED_MAX ? -INFINITY : INFINITY;
					for (k_idx d = 0; d < p.dim; d++) {
						double v = x[(o * p.dim + d) * p.inner + i];
						s = op == K_RED_PROD ? s * v : s + v;
						m = op == K_RED_MAX ? fmax(m, v) : fmin(m, v);
					}
					ref[o * p.inner + i] = op == K_RED_MEAN ? s / (double)p.dim : op >= K_RED_MAX ? m : s;
				}
			for (int th = 0; th < KT_NTHREADS; th++) {
				kt_set_threads(kt_threads[th]);
				k_reduce_f32(&p, x, y);
				snprintf(what, sizeof what, "reduce case %zu op %d, %d threads", t, op, kt_threads[th]);
				kt_check(what, y, ref, ny, 1e-5, 1e-5);
			}
			free(x), free(y), free(ref);
		}
	}
}

static void test_reduce_nan(void **state)
{
	float x[3] = { 1, NAN, 2 }, y;
	(void)state;
	k_reduce_f32(&(struct k_reduce){ .op = K_RED_MAX, .outer = 1, .dim = 3, .inner = 1 }, x, &y);
	assert_true(isnan(y));
	k_reduce_f32(&(struct k_reduce){ .op = K_RED_MIN, .outer = 1, .dim = 3, .inner = 1 }, x, &y);
	assert_true(isnan(y));
}

static void test_argmax(void **state)
{
	/* [2][4][2]: ties resolve to the first index, NaN wins */
	float x[16] = { 1, 5, 3, 5, 3, 0, 2, 5,   0, NAN, 0, 1, -1, 1, 0, 1 };
	int64_t y[4];
	struct k_reduce p = { .outer = 2, .dim = 4, .inner = 2 };
	(void)state;
	k_argmax_f32(&p, x, y);
	assert_int_equal(y[0], 1);
	assert_int_equal(y[1], 0);
	assert_int_equal(y[2], 0);
	assert_int_equal(y[3], 0);
	k_argmin_f32(&p, x, y);
	assert_int_equal(y[0], 0);
	assert_int_equal(y[1], 2);
	assert_int_equal(y[2], 2);
	assert_int_equal(y[3], 0);
	{
		float big[1000];
		int64_t r;
		for (int j = 0; j < 1000; j++)
			big[j] = (float)((j * 37) % 1000);
		k_argmax_f32(&(struct k_reduce){ .outer = 1, .dim = 1000, .inner = 1 }, big, &r);
		assert_int_equal(r, 27); /* 37 * 27 = 999 */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reduce),
		cmocka_unit_test(test_reduce_nan),
		cmocka_unit_test(test_argmax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
