/* kiln runtime: comparisons to bool tensors, and Python scalar arithmetic. needs: k_base */

enum k_cmpop { K_CMP_EQ, K_CMP_NE, K_CMP_LT, K_CMP_LE, K_CMP_GT, K_CMP_GE };

/* y = (a op b) as 0/1 bytes, NumPy broadcasting: strides in elements, 0 = broadcast. */
struct k_compare {
	enum k_cmpop op;
	int rank;
	k_idx dims[8], a_strides[8], b_strides[8];
};

static K_UNUSED int k_cmp1(enum k_cmpop op, float x, float y)
{
	switch (op) {
	case K_CMP_EQ: return x == y;
	case K_CMP_NE: return x != y;
	case K_CMP_LT: return x < y;
	case K_CMP_LE: return x <= y;
	case K_CMP_GT: return x > y;
	default: return x >= y;
	}
}

static K_UNUSED void k_compare_f32(const struct k_compare *p, const float *a, const float *b,
                                   uint8_t *y)
{
	k_idx n = 1, i;
	int d;
	for (d = 0; d < p->rank; d++)
		n *= p->dims[d];
	for (i = 0; i < n; i++) {
		k_idx rem = i, ia = 0, ib = 0;
		for (d = p->rank - 1; d >= 0; d--) {
			k_idx c = rem % p->dims[d];
			rem /= p->dims[d];
			ia += c * p->a_strides[d];
			ib += c * p->b_strides[d];
		}
		y[i] = (uint8_t)k_cmp1(p->op, a[ia], b[ib]);
	}
}

/* Python's // and % on ints: rounding toward negative infinity. A zero divisor gives 0
 * (Python raises; the model is expected not to divide by zero). */
static K_UNUSED int64_t k_floordiv_i64(int64_t a, int64_t b)
{
	int64_t q;
	if (b == 0)
		return 0;
	q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static K_UNUSED int64_t k_mod_i64(int64_t a, int64_t b)
{
	return b == 0 ? 0 : a - k_floordiv_i64(a, b) * b;
}

static K_UNUSED double k_mod_f64(double a, double b)
{
	return a - floor(a / b) * b;
}
