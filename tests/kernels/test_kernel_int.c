/* k_int: arithmetic, comparison and select on int64/int32/uint8/bool/f64, against values
 * worked out by hand (integer results are exact). */
#include "runtime/k_base.c"
#include "runtime/k_copy.c"
#include "runtime/k_int.c"
#include "tests/kernels/kt.h"

/* a [2, 3] op b [3] (b broadcast over rows) */
static struct k_anybin rowwise(int op, enum k_dtype t)
{
	struct k_anybin p = { .op = op, .t = t, .rank = 2, .dims = { 2, 3 },
			      .a_strides = { 3, 1 }, .b_strides = { 0, 1 } };
	return p;
}

static void test_int64_ops(void **state)
{
	(void)state;
	const int64_t a[6] = { 7, -7, 7, -7, 0, INT64_MAX }, b[3] = { 3, 3, -3 };
	static const struct { int op; int64_t want[6]; } cases[] = {
		{ K_INT_ADD, { 10, -4, 4, -4, 3, INT64_MAX - 3 } },
		{ K_INT_SUB, { 4, -10, 10, -10, -3, INT64_MIN + 2 } },       /* wraps */
		{ K_INT_MUL, { 21, -21, -21, -21, 0, INT64_MIN + 3 } },
		{ K_INT_DIV, { 2, -2, -2, -2, 0, INT64_MAX / -3 } },     /* truncation */
		{ K_INT_MOD, { 1, 2, -2, 2, 0, 1 - 3 } },                /* divisor's sign */
		{ K_INT_FMOD, { 1, -1, 1, -1, 0, INT64_MAX % -3 } },      /* dividend's sign */
		{ K_INT_MAX, { 7, 3, 7, 3, 3, INT64_MAX } },
		{ K_INT_MIN, { 3, -7, -3, -7, 0, -3 } },
	};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		struct k_anybin p = rowwise(cases[c].op, K_I64);
		int64_t y[6];
		k_binary_any(&p, a, b, y);
		for (int i = 0; i < 6; i++)
			assert_true(y[i] == cases[c].want[i]);
	}
}

static void test_pow_and_zero_divisor(void **state)
{
	(void)state;
	const int32_t a[3] = { 3, -2, 5 }, b[3] = { 4, 3, 0 };
	struct k_anybin p = { .op = K_INT_POW, .t = K_I32, .rank = 1, .dims = { 3 },
			      .a_strides = { 1 }, .b_strides = { 1 } };
	int32_t y[3];
	k_binary_any(&p, a, b, y);
	assert_int_equal(y[0], 81);
	assert_int_equal(y[1], -8);
	assert_int_equal(y[2], 1);
	p.op = K_INT_DIV;
	k_binary_any(&p, a, b, y);
	assert_int_equal(y[2], 0);   /* a zero divisor gives 0, never a trap */
	p.op = K_INT_MOD;
	k_binary_any(&p, a, b, y);
	assert_int_equal(y[2], 0);
}

static void test_uint8_bool_f64(void **state)
{
	(void)state;
	const uint8_t a[3] = { 250, 3, 0 }, b[3] = { 10, 4, 1 };
	struct k_anybin p = { .op = K_INT_ADD, .t = K_U8, .rank = 1, .dims = { 3 },
			      .a_strides = { 1 }, .b_strides = { 1 } };
	uint8_t y[3];
	k_binary_any(&p, a, b, y);
	assert_int_equal(y[0], 4);   /* wraps as uint8 does */
	assert_int_equal(y[1], 7);
	p.t = K_BOOL;
	p.op = K_INT_MUL;            /* logical and */
	k_binary_any(&p, a, b, y);
	assert_int_equal(y[0], 1);
	assert_int_equal(y[2], 0);
	const double fa[2] = { -7.5, 7.5 }, fb[2] = { 2, 2 };
	double fy[2];
	struct k_anybin q = { .op = K_INT_MOD, .t = K_F64, .rank = 1, .dims = { 2 },
			      .a_strides = { 1 }, .b_strides = { 1 } };
	k_binary_any(&q, fa, fb, fy);
	assert_true(fy[0] == 0.5 && fy[1] == 1.5);
	q.op = K_INT_FMOD;
	k_binary_any(&q, fa, fb, fy);
	assert_true(fy[0] == -1.5 && fy[1] == 1.5);
}

static void test_compare_where(void **state)
{
	(void)state;
	/* int64 beyond 2^53: a comparison through double would call these equal */
	const int64_t a[4] = { (1LL << 60) + 1, 5, -1, 9 }, b[2] = { 1LL << 60, 5 };
	struct k_anybin p = { .op = 0, .t = K_I64, .rank = 2, .dims = { 2, 2 },
			      .a_strides = { 2, 1 }, .b_strides = { 0, 1 } };
	uint8_t eq[4], gt[4];
	k_compare_any(&p, a, b, eq);
	p.op = 4;
	k_compare_any(&p, a, b, gt);
	const uint8_t eq_want[4] = { 0, 1, 0, 0 }, gt_want[4] = { 1, 0, 0, 1 };
	assert_memory_equal(eq, eq_want, 4);
	assert_memory_equal(gt, gt_want, 4);
	/* where: cond [2, 1], a [2, 2], b scalar */
	const uint8_t cond[2] = { 1, 0 };
	const int64_t zero = -3;
	int64_t y[4];
	struct k_anybin w = { .t = K_I64, .rank = 2, .dims = { 2, 2 }, .a_strides = { 2, 1 },
			      .b_strides = { 0, 0 }, .c_strides = { 1, 0 } };
	k_where_any(&w, sizeof(int64_t), cond, a, &zero, y);
	assert_true(y[0] == a[0] && y[1] == a[1] && y[2] == -3 && y[3] == -3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_int64_ops),
		cmocka_unit_test(test_pow_and_zero_divisor),
		cmocka_unit_test(test_uint8_bool_f64),
		cmocka_unit_test(test_compare_where),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
