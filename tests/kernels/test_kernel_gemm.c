/* linear, gemm (addmm) and batched matmul against naive double-precision references. */
#include "runtime/k_base.c"
#include "runtime/k_gemm.c"
#include "tests/kernels/kt.h"

/* m n k */
static const int mm_cases[][3] = {
	{ 1, 1, 1 }, { 1, 17, 33 }, { 3, 13, 7 }, { 4, 64, 100 }, { 5, 16, 16 }, { 7, 33, 17 },
	{ 13, 29, 300 }, { 64, 70, 513 }, { 100, 1, 20 }, { 6, 16, 256 }, { 97, 130, 64 }, { 2, 1000, 1 },
	{ 200, 150, 90 },
};
#define NCASES (sizeof mm_cases / sizeof mm_cases[0])

/* More than K_PAR_MIN_MM multiply-adds, so they run in parallel: linear only (gemm and matmul
 * share its drivers), to keep the test short. */
static const int big_cases[][3] = {
	{ 4, 2048, 600 }, { 1, 4100, 1030 }, /* few rows: dot products */
	{ 300, 40, 400 },                    /* 3 panels: (row block, panel) tiles */
	{ 150, 200, 160 },                   /* 13 panels shared out */
};
#define NBIG (sizeof big_cases / sizeof big_cases[0])

static double ref_act(enum k_act act, double v, double lo, double hi)
{
	switch (act) {
	case K_ACT_RELU: return v > 0 ? v : 0;
	case K_ACT_CLIP: return v < lo ? lo : v > hi ? hi : v;
	case K_ACT_GELU: return 0.5 * v * (1 + erf(v / sqrt(2.0)));
	case K_ACT_SIGMOID: return 1 / (1 + exp(-v));
	case K_ACT_SILU: return v / (1 + exp(-v));
	default: return v;
	}
}

static void test_linear(void **state)
{
	(void)state;
	for (size_t t = 0; t < NCASES + NBIG; t++) {
		const int *c = t < NCASES ? mm_cases[t] : big_cases[t - NCASES];
		k_idx m = c[0], n = c[1], k = c[2];
		enum k_act acts[] = { K_ACT_NONE, K_ACT_RELU, K_ACT_CLIP, K_ACT_GELU, K_ACT_SILU, K_ACT_SIGMOID };
		struct k_linear p = { .m = m, .n = n, .k = k, .act = acts[t % 6], .min = -0.5f, .max = 0.5f };
		float *x = kt_randv((size_t)(m * k), -1, 1), *w = kt_randv((size_t)(n * k), -1, 1);
		float *b = kt_randv((size_t)n, -1, 1), *res = kt_randv((size_t)(m * n), -1, 1);
		float *y = kt_falloc((size_t)(m * n));
		double *ref = kt_dalloc((size_t)(m * n));
		void *scratch = malloc(k_linear_scratch(&p) + 1);
		const float *bb = t % 3 ? b : NULL;
		p.res = t % 2 ? res : NULL;
		for (k_idx i = 0; i < m; i++)
			for (k_idx j = 0; j < n; j++) {
				double s = bb ? bb[j] : 0;
				for (k_idx q = 0; q < k; q++)
					s += (double)x[i * k + q] * w[j * k + q];
				if (p.res)
					s += p.res[i * n + j];
				ref[i * n + j] = ref_act(p.act, s, -0.5, 0.5);
			}
		for (int th = 0; th < KT_NTHREADS; th++) {
			char what[64];
			kt_set_threads(kt_threads[th]);
			memset(y, 0xff, (size_t)(m * n) * sizeof *y); /* NaN: a tile left unwritten shows */
			k_linear_f32(&p, x, w, bb, y, scratch);
			snprintf(what, sizeof what, "linear %dx%dx%d, %d threads", (int)m, (int)n, (int)k, kt_threads[th]);
			kt_check(what, y, ref, (size_t)(m * n), 1e-4, 1e-4);
		}
		k_linear_f32(&p, x, w, bb, y, NULL); /* no scratch: the unpacked loops */
		kt_check("linear without scratch", y, ref, (size_t)(m * n), 1e-4, 1e-4);
		free(x), free(w), free(b), free(res), free(y), free(ref), free(scratch);
	}
}

static void test_gemm(void **state)
{
	(void)state;
	/* C as none, bias row, column, full matrix, scalar */
	for (size_t t = 0; t < NCASES; t++) {
		for (int mode = 0; mode < 20; mode++) {
			k_idx m = mm_cases[t][0], n = mm_cases[t][1], k = mm_cases[t][2];
			int cm = mode % 5, ta = (mode / 5) & 1, tb = (mode / 10) & 1;
			k_idx crs[] = { 0, 0, 1, n, 0 }, ccs[] = { 0, 1, 0, 1, 0 };
			struct k_gemm p = { .m = m, .n = n, .k = k, .trans_a = ta, .trans_b = tb, .alpha = 0.5f,
					    .beta = cm ? 2.0f : 0.0f, .c_rs = crs[cm], .c_cs = ccs[cm],
					    .act = mode & 1 ? K_ACT_RELU : K_ACT_NONE };
			float *a = kt_randv((size_t)(m * k), -1, 1), *b = kt_randv((size_t)(k * n), -1, 1);
			float *c = kt_randv((size_t)(m * n), -1, 1), *y = kt_falloc((size_t)(m * n));
			double *ref = kt_dalloc((size_t)(m * n));
			void *scratch = malloc(k_gemm_scratch(&p) + 1);
			for (k_idx i = 0; i < m; i++)
				for (k_idx j = 0; j < n; j++) {
					double s = 0;
					for (k_idx q = 0; q < k; q++)
						s += (double)(ta ? a[q * m + i] : a[i * k + q]) * (tb ? b[j * k + q] : b[q * n + j]);
					s *= 0.5;
					if (cm)
						s += 2.0 * c[i * crs[cm] + j * ccs[cm]];
					ref[i * n + j] = ref_act(p.act, s, 0, 0);
				}
			for (int th = 0; th < KT_NTHREADS; th++) {
				char what[80];
				kt_set_threads(kt_threads[th]);
				memset(y, 0xff, (size_t)(m * n) * sizeof *y);
				k_gemm_f32(&p, a, b, cm ? c : NULL, y, scratch);
				snprintf(what, sizeof what, "gemm %dx%dx%d mode %d, %d threads", (int)m, (int)n, (int)k, mode,
					 kt_threads[th]);
				kt_check(what, y, ref, (size_t)(m * n), 1e-4, 1e-4);
			}
			free(a), free(b), free(c), free(y), free(ref), free(scratch);
		}
	}
}

/* Batch dims (2, 3): A broadcast over the first, B broadcast over the second; transposes. */
static void test_matmul(void **state)
{
	(void)state;
	for (size_t t = 0; t < NCASES; t++) {
		for (int mode = 0; mode < 4; mode++) {
			k_idx m = mm_cases[t][0], n = mm_cases[t][1], k = mm_cases[t][2];
			int ta = mode & 1, tb = mode >> 1;
			struct k_matmul p = { .m = m, .n = n, .k = k, .trans_a = ta, .trans_b = tb, .brank = 2,
					      .bdims = { 2, 3 }, .a_bstrides = { 0, m * k }, .b_bstrides = { k * n, 0 } };
			float *a = kt_randv((size_t)(3 * m * k), -1, 1), *b = kt_randv((size_t)(2 * k * n), -1, 1);
			float *y = kt_falloc((size_t)(6 * m * n));
			double *ref = kt_dalloc((size_t)(6 * m * n));
			void *scratch = malloc(k_matmul_scratch(&p) + 1);
			for (k_idx b0 = 0; b0 < 2; b0++)
				for (k_idx b1 = 0; b1 < 3; b1++) {
					const float *ab = a + b1 * m * k, *bb = b + b0 * k * n;
					double *yb = ref + (b0 * 3 + b1) * m * n;
					for (k_idx i = 0; i < m; i++)
						for (k_idx j = 0; j < n; j++) {
							double s = 0;
							for (k_idx q = 0; q < k; q++)
								s += (double)(ta ? ab[q * m + i] : ab[i * k + q]) *
								     (tb ? bb[j * k + q] : bb[q * n + j]);
							yb[i * n + j] = s;
						}
				}
			for (int th = 0; th < KT_NTHREADS; th++) {
				char what[80];
				kt_set_threads(kt_threads[th]);
				memset(y, 0xff, (size_t)(6 * m * n) * sizeof *y);
				k_matmul_f32(&p, a, b, y, scratch);
				snprintf(what, sizeof what, "matmul %dx%dx%d mode %d, %d threads", (int)m, (int)n, (int)k,
					 mode, kt_threads[th]);
				kt_check(what, y, ref, (size_t)(6 * m * n), 1e-4, 1e-4);
			}
			free(a), free(b), free(y), free(ref), free(scratch);
		}
	}
}

/* k_act_row's vector sigmoid and silu against the scalar ones, at extremes, infinities and NaN. */
static void test_act_row(void **state)
{
	enum { N = 203 };
	float y[N];
	double ref[N];
	(void)state;
	for (int mul = 0; mul < 2; mul++) {
		for (int i = 0; i < N; i++) {
			float v = (float)(i - N / 2) * 0.5f; /* -50.5 .. 50.5 */
			if (i % 17 == 3)
				v = i % 2 ? 1e30f : -1e30f;
			if (i == 5)
				v = INFINITY;
			if (i == 6)
				v = -INFINITY;
			if (i == 7 || i == 200)
				v = NAN;
			if (i == 8)
				v = -88.5f;
			y[i] = v;
			ref[i] = mul ? v / (1.0 + exp(-(double)v)) : 1.0 / (1.0 + exp(-(double)v)); /* silu(-inf) is NaN */
		}
		k_act_row(mul ? K_ACT_SILU : K_ACT_SIGMOID, 0, 0, 0, y, N);
		kt_check(mul ? "silu row" : "sigmoid row", y, ref, N, 1e-6, 1e-6);
	}
}

/* k_act_row's tanh (vectorized with AVX2) against tanh, from tiny to huge, infinities, NaN. */
static void test_tanh_row(void **state)
{
	enum { N = 211 };
	float y[N];
	double ref[N];
	(void)state;
	for (int i = 0; i < N; i++) {
		float v = (float)(i - N / 2) * (i % 3 == 0 ? 1e-4f : i % 3 == 1 ? 0.05f : 0.6f);
		if (i == 5)
			v = INFINITY;
		if (i == 6)
			v = -INFINITY;
		if (i == 7 || i == 209)
			v = NAN;
		if (i == 8)
			v = -1e30f;
		y[i] = v;
		ref[i] = tanh((double)v);
	}
	k_act_row(K_ACT_TANH, 0, 0, 0, y, N);
	kt_check("tanh row", y, ref, N, 2e-7, 1e-6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_act_row),
		cmocka_unit_test(test_tanh_row),
		cmocka_unit_test(test_linear),
		cmocka_unit_test(test_gemm),
		cmocka_unit_test(test_matmul),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
