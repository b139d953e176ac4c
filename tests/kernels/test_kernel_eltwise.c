/* Unary ops and broadcasting binary ops against double-precision references. */
#include "runtime/k_base.c"
#include "runtime/k_eltwise.c"
#include "tests/kernels/kt.h"

static const k_idx sizes[] = { 1, 7, 17, 33, 5000, 70001 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* One unary op: the reference, the input range and the tolerance (atol, rtol). */
struct un_case {
	enum k_unop op;
	const char *name;
	float lo, hi;
	double atol, rtol;
};

static const struct un_case un_cases[] = {
	{ K_UN_RELU, "relu", -3, 3, 0, 0 },
	{ K_UN_CLIP, "clip", -3, 3, 0, 0 },
	{ K_UN_SIGMOID, "sigmoid", -30, 30, 1e-7, 1e-6 },
	{ K_UN_TANH, "tanh", -5, 5, 1e-7, 1e-6 },
	{ K_UN_GELU, "gelu", -6, 6, 1e-7, 1e-6 },
	{ K_UN_GELU_TANH, "gelu_tanh", -6, 6, 1e-7, 1e-6 },
	{ K_UN_SILU, "silu", -20, 20, 1e-7, 1e-6 },
	{ K_UN_HARDSWISH, "hardswish", -5, 5, 1e-7, 1e-6 },
	{ K_UN_HARDSIGMOID, "hardsigmoid", -5, 5, 1e-7, 1e-6 },
	{ K_UN_LEAKY_RELU, "leaky_relu", -3, 3, 1e-7, 1e-6 },
	{ K_UN_ELU, "elu", -5, 3, 1e-7, 1e-6 },
	{ K_UN_EXP, "exp", -20, 20, 0, 1e-6 },
	{ K_UN_LOG, "log", 1e-3f, 100, 1e-6, 1e-6 },
	{ K_UN_SQRT, "sqrt", 0, 100, 0, 1e-6 },
	{ K_UN_RSQRT, "rsqrt", 1e-3f, 100, 0, 1e-6 },
	{ K_UN_NEG, "neg", -3, 3, 0, 0 },
	{ K_UN_ABS, "abs", -3, 3, 0, 0 },
	{ K_UN_ERF, "erf", -4, 4, 1e-7, 1e-6 },
	{ K_UN_RECIPROCAL, "reciprocal", 0.01f, 10, 0, 1e-6 },
	{ K_UN_SIN, "sin", -10, 10, 1e-7, 1e-6 },
	{ K_UN_COS, "cos", -10, 10, 1e-7, 1e-6 },
	{ K_UN_FLOOR, "floor", -10, 10, 0, 0 },
	{ K_UN_CEIL, "ceil", -10, 10, 0, 0 },
	{ K_UN_ROUND, "round", -10, 10, 0, 0 },
	{ K_UN_SOFTPLUS, "softplus", -30, 30, 1e-7, 1e-6 },
	{ K_UN_MISH, "mish", -10, 10, 1e-7, 1e-5 },
};

static double ref_unary(enum k_unop op, double x)
{
	switch (op) {
	case K_UN_RELU: return x > 0 ? x : 0;
	case K_UN_CLIP: return x < -0.5 ? -0.5 : x > 1.5 ? 1.5 : x;
	case K_UN_SIGMOID: return 1 / (1 + exp(-x));
	case K_UN_TANH: return tanh(x);
	case K_UN_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
	case K_UN_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
	case K_UN_SILU: return x / (1 + exp(-x));
	case K_UN_HARDSWISH: return x * fmin(fmax(x + 3, 0), 6) / 6;
	case K_UN_HARDSIGMOID: return fmin(fmax(x + 3, 0), 6) / 6;
	case K_UN_LEAKY_RELU: return x >= 0 ? x : 0.01 * x;
	case K_UN_ELU: return x > 0 ? x : 0.7 * (exp(x) - 1);
	case K_UN_EXP: return exp(x);
	case K_UN_LOG: return log(x);
	case K_UN_SQRT: return sqrt(x);
	case K_UN_RSQRT: return 1 / sqrt(x);
	case K_UN_NEG: return -x;
	case K_UN_ABS: return fabs(x);
	case K_UN_ERF: return erf(x);
	case K_UN_RECIPROCAL: return 1 / x;
	case K_UN_SIN: return sin(x);
	case K_UN_COS: return cos(x);
	case K_UN_FLOOR: return floor(x);
	case K_UN_CEIL: return ceil(x);
	case K_UN_ROUND: return nearbyint(x);
	case K_UN_SOFTPLUS: return x > 20 ? x : log1p(exp(x));
	case K_UN_MISH: return x * tanh(x > 20 ? x : log1p(exp(x)));
	}
	return 0;
}

static void test_unary(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof un_cases / sizeof un_cases[0]; c++) {
		const struct un_case *u = &un_cases[c];
		for (size_t s = 0; s < NSIZES; s++) {
			k_idx n = sizes[s];
			struct k_unary p = { .op = u->op, .n = n, .min = -0.5f, .max = 1.5f,
					     .alpha = u->op == K_UN_ELU ? 0.7f : 0.01f };
			float *x = kt_randv((size_t)n, u->lo, u->hi), *y = kt_falloc((size_t)n);
			double *ref = kt_dalloc((size_t)n);
			char what[80];
			if (u->op == K_UN_ROUND && n > 2)
				x[0] = 2.5f, x[1] = -0.5f; /* ties go to even */
			for (k_idx i = 0; i < n; i++)
				ref[i] = ref_unary(u->op, x[i]);
			for (int th = 0; th < KT_NTHREADS; th++) {
				kt_set_threads(kt_threads[th]);
				k_unary_f32(&p, x, y);
				snprintf(what, sizeof what, "%s n=%d, %d threads", u->name, (int)n, kt_threads[th]);
				kt_check(what, y, ref, (size_t)n, u->atol, u->rtol);
			}
			k_unary_f32(&p, x, x); /* in place */
			snprintf(what, sizeof what, "%s n=%d in place", u->name, (int)n);
			kt_check(what, x, ref, (size_t)n, u->atol, u->rtol);
			free(x), free(y), free(ref);
		}
	}
}

/* NaN goes through the activations as PyTorch's do. */
static void test_unary_nan(void **state)
{
	enum k_unop ops[] = { K_UN_RELU, K_UN_CLIP, K_UN_SIGMOID, K_UN_HARDSWISH, K_UN_GELU };
	(void)state;
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		float x = NAN, y = 0;
		k_unary_f32(&(struct k_unary){ .op = ops[i], .n = 1, .min = 0, .max = 6 }, &x, &y);
		assert_true(isnan(y));
	}
}

/* A broadcasting case: output shape, a's shape and b's shape (right-aligned, 1 = broadcast). */
struct bin_case {
	int rank;
	k_idx out[8], a[8], b[8];
};

static const struct bin_case bin_cases[] = {
	{ 4, { 2, 3, 4, 5 }, { 2, 3, 4, 5 }, { 2, 3, 4, 5 } },
	{ 4, { 2, 3, 4, 5 }, { 2, 3, 4, 5 }, { 1, 1, 1, 1 } },
	{ 4, { 2, 3, 4, 5 }, { 2, 3, 4, 5 }, { 1, 3, 1, 1 } },
	{ 3, { 2, 3, 5 }, { 2, 1, 5 }, { 1, 3, 1 } },
	{ 2, { 4, 5 }, { 1, 5 }, { 4, 1 } },
	{ 2, { 7, 13 }, { 1, 1 }, { 7, 13 } },
	{ 0, { 0 }, { 0 }, { 0 } },
	{ 1, { 70001 }, { 70001 }, { 70001 } },
	{ 3, { 3, 100, 257 }, { 3, 100, 257 }, { 1, 1, 257 } },
	{ 8, { 2, 1, 3, 2, 1, 2, 3, 2 }, { 2, 1, 3, 1, 1, 2, 1, 2 }, { 1, 1, 3, 2, 1, 1, 3, 2 } },
	{ 4, { 1, 17, 33, 1 }, { 1, 17, 33, 1 }, { 1, 17, 1, 1 } },
};

/* Contiguous strides of shape sh, with 0 where sh is 1 and the output is not. */
static void bcast_strides(int rank, const k_idx *out, const k_idx *sh, k_idx *st)
{
	k_idx s = 1;

	for (int d = rank - 1; d >= 0; d--) {
		st[d] = sh[d] == 1 && out[d] != 1 ? 0 : s;
		s *= sh[d];
	}
}

static double ref_binary(enum k_binop op, double a, double b)
{
	switch (op) {
	case K_BIN_ADD: return a + b;
	case K_BIN_SUB: return a - b;
	case K_BIN_MUL: return a * b;
	case K_BIN_DIV: return a / b;
	case K_BIN_POW: return pow(a, b);
	case K_BIN_MAX: return a > b ? a : b;
	case K_BIN_MIN: return a < b ? a : b;
	case K_BIN_ADD_SCALED: return a + (double)-1.5f * b;
	}
	return 0;
}

static void test_binary(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof bin_cases / sizeof bin_cases[0]; c++) {
		const struct bin_case *bc = &bin_cases[c];
		k_idx na = 1, nb = 1, ny = 1;
		for (int d = 0; d < bc->rank; d++)
			na *= bc->a[d], nb *= bc->b[d], ny *= bc->out[d];
		for (int op = K_BIN_ADD; op <= K_BIN_ADD_SCALED; op++) {
			struct k_binary p = { .op = (enum k_binop)op, .rank = bc->rank, .alpha = -1.5f };
			float lo = op == K_BIN_POW ? 0.1f : -2, hi = 2;
			float *a = kt_randv((size_t)na, lo, hi), *b = kt_randv((size_t)nb, lo, hi), *y = kt_falloc((size_t)ny);
			double *ref = kt_dalloc((size_t)ny);
			char what[80];
			memcpy(p.dims, bc->out, sizeof p.dims);
			bcast_strides(bc->rank, bc->out, bc->a, p.a_strides);
			bcast_strides(bc->rank, bc->out, bc->b, p.b_strides);
			if (op == K_BIN_DIV)
				for (k_idx i = 0; i < nb; i++)
					b[i] = b[i] < 0 ? b[i] - 0.1f : b[i] + 0.1f;
			for (k_idx i = 0; i < ny; i++) {
				k_idx t = i, ao = 0, bo = 0;
				for (int d = bc->rank - 1; d >= 0; d--) {
					ao += t % bc->out[d] * p.a_strides[d];
					bo += t % bc->out[d] * p.b_strides[d];
					t /= bc->out[d];
				}
				ref[i] = ref_binary(p.op, a[ao], b[bo]);
			}
			for (int th = 0; th < KT_NTHREADS; th++) {
				kt_set_threads(kt_threads[th]);
				k_binary_f32(&p, a, b, y);
				snprintf(what, sizeof what, "binary case %zu op %d, %d threads", c, op, kt_threads[th]);
				kt_check(what, y, ref, (size_t)ny, 1e-6, 1e-6);
			}
			if (na == ny) { /* in place */
				k_binary_f32(&p, a, b, a);
				snprintf(what, sizeof what, "binary case %zu op %d in place", c, op);
				kt_check(what, a, ref, (size_t)ny, 1e-6, 1e-6);
			}
			free(a), free(b), free(y), free(ref);
		}
	}
}

static void test_binary_nan(void **state)
{
	float a[2] = { NAN, 1 }, b[2] = { 1, NAN }, y[2];
	(void)state;
	k_binary_f32(&(struct k_binary){ .op = K_BIN_MAX, .rank = 1, .dims = { 2 }, .a_strides = { 1 },
					 .b_strides = { 1 } }, a, b, y);
	assert_true(isnan(y[0]) && isnan(y[1]));
	k_binary_f32(&(struct k_binary){ .op = K_BIN_MIN, .rank = 1, .dims = { 2 }, .a_strides = { 1 },
					 .b_strides = { 1 } }, a, b, y);
	assert_true(isnan(y[0]) && isnan(y[1]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unary),
		cmocka_unit_test(test_unary_nan),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_binary_nan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
