/* kiln runtime: elementwise arithmetic, comparison and select on any element type. needs: k_copy */
/*
 * The f32 kernels (k_eltwise, k_cmp, k_index) are the fast path; these cover the other
 * types ONNX models compute on (int64 indices, int32, uint8, bool masks, double). Each
 * element is read as int64 (integer types) or double (floating types), so integer results
 * are exact. Operands broadcast by their own strides (0 along broadcast dims); the output
 * is contiguous and walked with an odometer. Integer division truncates toward zero and a
 * zero divisor gives 0 (kernels cannot fail); K_INT_MOD is Python's (and ONNX fmod=0)
 * floor modulo, K_INT_FMOD C's remainder.
 */

enum k_intop { K_INT_ADD, K_INT_SUB, K_INT_MUL, K_INT_DIV, K_INT_POW, K_INT_MAX, K_INT_MIN,
	       K_INT_MOD, K_INT_FMOD };

struct k_anybin {
	int op;                       /* enum k_intop, or enum k_cmpop-like code for compare */
	enum k_dtype t;               /* operand type (both) */
	int rank;                     /* output rank, 0..8 */
	k_idx dims[K_MAXRANK];        /* output dims */
	k_idx a_strides[K_MAXRANK];   /* in elements, 0 = broadcast */
	k_idx b_strides[K_MAXRANK];
	k_idx c_strides[K_MAXRANK];   /* k_where_any: the condition's */
};

static inline K_UNUSED int k_any_isfloat(enum k_dtype t) { return t == K_F32 || t == K_F64; }

static inline K_UNUSED int64_t k_any_geti(enum k_dtype t, const void *x, k_idx i)
{
	switch (t) {
	case K_I64: return ((const int64_t *)x)[i];
	case K_I32: return ((const int32_t *)x)[i];
	case K_U8: case K_BOOL: return ((const uint8_t *)x)[i];
	default: return (int64_t)k_cast_get(t, x, i);
	}
}

static inline K_UNUSED void k_any_seti(enum k_dtype t, void *y, k_idx i, int64_t v)
{
	switch (t) {
	case K_I64: ((int64_t *)y)[i] = v; break;
	case K_I32: ((int32_t *)y)[i] = (int32_t)v; break;
	case K_U8: ((uint8_t *)y)[i] = (uint8_t)v; break;
	case K_BOOL: ((uint8_t *)y)[i] = v != 0; break;
	case K_F32: ((float *)y)[i] = (float)v; break;
	case K_F64: ((double *)y)[i] = (double)v; break;
	}
}

static inline K_UNUSED void k_any_setf(enum k_dtype t, void *y, k_idx i, double v)
{
	if (t == K_F32)
		((float *)y)[i] = (float)v;
	else
		((double *)y)[i] = v;
}

/* Offsets of output element i in a, b and c. */
static inline K_UNUSED void k_any_offsets(const struct k_anybin *p, k_idx i, k_idx *oa, k_idx *ob,
					  k_idx *oc)
{
	k_idx rem = i;
	int d;

	*oa = *ob = *oc = 0;
	for (d = p->rank - 1; d >= 0; d--) {
		k_idx c = rem % p->dims[d];
		rem /= p->dims[d];
		*oa += c * p->a_strides[d];
		*ob += c * p->b_strides[d];
		*oc += c * p->c_strides[d];
	}
}

static inline K_UNUSED k_idx k_any_count(const struct k_anybin *p)
{
	k_idx n = 1;
	int d;

	for (d = 0; d < p->rank; d++)
		n *= p->dims[d];
	return n;
}

static inline K_UNUSED int64_t k_int_pow(int64_t a, int64_t b)
{
	int64_t r = 1;

	if (b < 0)
		return a == 1 ? 1 : a == -1 ? (b % 2 ? -1 : 1) : 0;
	while (b) {
		if (b & 1)
			r = (int64_t)((uint64_t)r * (uint64_t)a);
		a = (int64_t)((uint64_t)a * (uint64_t)a);
		b >>= 1;
	}
	return r;
}

static inline K_UNUSED int64_t k_int1(int op, int64_t a, int64_t b)
{
	switch (op) {
	case K_INT_ADD: return (int64_t)((uint64_t)a + (uint64_t)b);
	case K_INT_SUB: return (int64_t)((uint64_t)a - (uint64_t)b);
	case K_INT_MUL: return (int64_t)((uint64_t)a * (uint64_t)b);
	case K_INT_DIV: return b == 0 || (a == INT64_MIN && b == -1) ? 0 : a / b;
	case K_INT_POW: return k_int_pow(a, b);
	case K_INT_MAX: return a > b ? a : b;
	case K_INT_MIN: return a < b ? a : b;
	case K_INT_FMOD: return b == 0 || b == -1 ? 0 : a % b;
	default: {
		int64_t r;
		if (b == 0 || b == -1)
			return 0;
		r = a % b;
		return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
	}
	}
}

static inline K_UNUSED double k_flt1(int op, double a, double b)
{
	switch (op) {
	case K_INT_ADD: return a + b;
	case K_INT_SUB: return a - b;
	case K_INT_MUL: return a * b;
	case K_INT_DIV: return a / b;
	case K_INT_POW: return pow(a, b);
	case K_INT_MAX: return (a > b || a != a) ? a : b;
	case K_INT_MIN: return (a < b || a != a) ? a : b;
	case K_INT_FMOD: return fmod(a, b);
	default: {
		double r = fmod(a, b);
		return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
	}
	}
}

/* y = a op b (enum k_intop), y of type p->t. */
static K_UNUSED void k_binary_any(const struct k_anybin *p, const void *a, const void *b, void *y)
{
	k_idx n = k_any_count(p), i, oa, ob, oc;

	for (i = 0; i < n; i++) {
		k_any_offsets(p, i, &oa, &ob, &oc);
		if (k_any_isfloat(p->t))
			k_any_setf(p->t, y, i, k_flt1(p->op, k_cast_get(p->t, a, oa), k_cast_get(p->t, b, ob)));
		else
			k_any_seti(p->t, y, i, k_int1(p->op, k_any_geti(p->t, a, oa), k_any_geti(p->t, b, ob)));
	}
}

/* y = (a op b) as 0/1 bytes; op: 0 ==, 1 !=, 2 <, 3 <=, 4 >, 5 >= (enum k_cmpop's order). */
static K_UNUSED void k_compare_any(const struct k_anybin *p, const void *a, const void *b, uint8_t *y)
{
	k_idx n = k_any_count(p), i, oa, ob, oc;

	for (i = 0; i < n; i++) {
		int c;
		k_any_offsets(p, i, &oa, &ob, &oc);
		if (k_any_isfloat(p->t)) {
			double x = k_cast_get(p->t, a, oa), z = k_cast_get(p->t, b, ob);
			c = p->op == 0 ? x == z : p->op == 1 ? x != z : p->op == 2 ? x < z
			  : p->op == 3 ? x <= z : p->op == 4 ? x > z : x >= z;
		} else {
			int64_t x = k_any_geti(p->t, a, oa), z = k_any_geti(p->t, b, ob);
			c = p->op == 0 ? x == z : p->op == 1 ? x != z : p->op == 2 ? x < z
			  : p->op == 3 ? x <= z : p->op == 4 ? x > z : x >= z;
		}
		y[i] = (uint8_t)c;
	}
}

/* y = cond ? a : b, elements of esize bytes copied as they are. */
static K_UNUSED void k_where_any(const struct k_anybin *p, size_t esize, const uint8_t *cond,
				 const void *a, const void *b, void *y)
{
	k_idx n = k_any_count(p), i, oa, ob, oc;

	for (i = 0; i < n; i++) {
		k_any_offsets(p, i, &oa, &ob, &oc);
		memcpy((char *)y + (size_t)i * esize,
		       cond[oc] ? (const char *)a + (size_t)oa * esize : (const char *)b + (size_t)ob * esize,
		       esize);
	}
}
