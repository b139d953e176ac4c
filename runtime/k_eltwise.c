/* kiln runtime: elementwise unary ops and broadcasting binary ops. needs: k_base */
/*
 * Both kernels write a contiguous y and may run in place (y == x, y == a).  Binary
 * broadcasting is NumPy's: the caller gives the output dims and each operand's strides
 * in elements, 0 on broadcast dims.  Dims are coalesced at run time, so a same-shape add
 * is one flat loop and a per-channel add is rows with a scalar operand.
 */
enum k_unop {
	K_UN_RELU, K_UN_CLIP, K_UN_SIGMOID, K_UN_TANH, K_UN_GELU, K_UN_GELU_TANH, K_UN_SILU,
	K_UN_HARDSWISH, K_UN_HARDSIGMOID, K_UN_LEAKY_RELU, K_UN_ELU, K_UN_EXP, K_UN_LOG, K_UN_SQRT,
	K_UN_RSQRT, K_UN_NEG, K_UN_ABS, K_UN_ERF, K_UN_RECIPROCAL, K_UN_SIN, K_UN_COS, K_UN_FLOOR,
	K_UN_CEIL, K_UN_ROUND, K_UN_SOFTPLUS, K_UN_MISH
};

struct k_unary {
	enum k_unop op;  /* the operation */
	k_idx n;         /* element count */
	float min, max;  /* K_UN_CLIP bounds (use +-INFINITY for a one-sided clamp) */
	float alpha;     /* K_UN_LEAKY_RELU slope, K_UN_ELU alpha (must be given) */
};

static inline K_UNUSED float k_elu(float x, float alpha) { return x > 0.0f ? x : alpha * (expf(x) - 1.0f); }

/* PyTorch's softplus with beta 1, threshold 20. */
static inline K_UNUSED float k_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

/* y = op(x) on n elements: the switch is outside the loops. */
static K_UNUSED void k_unary_run(const struct k_unary *p, const float *x, float *y, k_idx n)
{
	float lo = p->min, hi = p->max, al = p->alpha;
	k_idx i;

	switch (p->op) {
	case K_UN_RELU: for (i = 0; i < n; i++) y[i] = k_relu(x[i]); break;
	case K_UN_CLIP: for (i = 0; i < n; i++) y[i] = k_clip(x[i], lo, hi); break;
	case K_UN_SIGMOID: if (y != x) memmove(y, x, (size_t)n * sizeof *y); k_sigmoid_row(y, n, 0); break;
	case K_UN_TANH: for (i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
	case K_UN_GELU: for (i = 0; i < n; i++) y[i] = k_gelu(x[i]); break;
	case K_UN_GELU_TANH: for (i = 0; i < n; i++) y[i] = k_gelu_tanh(x[i]); break;
	case K_UN_SILU: if (y != x) memmove(y, x, (size_t)n * sizeof *y); k_sigmoid_row(y, n, 1); break;
	case K_UN_HARDSWISH: for (i = 0; i < n; i++) y[i] = k_hardswish(x[i]); break;
	case K_UN_HARDSIGMOID: for (i = 0; i < n; i++) y[i] = k_hardsigmoid(x[i]); break;
	case K_UN_LEAKY_RELU: for (i = 0; i < n; i++) y[i] = k_leaky_relu(x[i], al); break;
	case K_UN_ELU: for (i = 0; i < n; i++) y[i] = k_elu(x[i], al); break;
	case K_UN_EXP: for (i = 0; i < n; i++) y[i] = expf(x[i]); break;
	case K_UN_LOG: for (i = 0; i < n; i++) y[i] = logf(x[i]); break;
	case K_UN_SQRT: for (i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
	case K_UN_RSQRT: for (i = 0; i < n; i++) y[i] = 1.0f / sqrtf(x[i]); break;
	case K_UN_NEG: for (i = 0; i < n; i++) y[i] = -x[i]; break;
	case K_UN_ABS: for (i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
	case K_UN_ERF: for (i = 0; i < n; i++) y[i] = erff(x[i]); break;
	case K_UN_RECIPROCAL: for (i = 0; i < n; i++) y[i] = 1.0f / x[i]; break;
	case K_UN_SIN: for (i = 0; i < n; i++) y[i] = sinf(x[i]); break;
	case K_UN_COS: for (i = 0; i < n; i++) y[i] = cosf(x[i]); break;
	case K_UN_FLOOR: for (i = 0; i < n; i++) y[i] = floorf(x[i]); break;
	case K_UN_CEIL: for (i = 0; i < n; i++) y[i] = ceilf(x[i]); break;
	case K_UN_ROUND: for (i = 0; i < n; i++) y[i] = nearbyintf(x[i]); break; /* half to even */
	case K_UN_SOFTPLUS: for (i = 0; i < n; i++) y[i] = k_softplus(x[i]); break;
	case K_UN_MISH: for (i = 0; i < n; i++) y[i] = x[i] * tanhf(k_softplus(x[i])); break;
	}
}

#define K_CHUNK 4096 /* elements per parallel work item */

/* y[i] = op(x[i]) for i < p->n; x == y is allowed. */
static K_UNUSED void k_unary_f32(const struct k_unary *p, const float *x, float *y)
{
	k_idx nc = (p->n + K_CHUNK - 1) / K_CHUNK, c;

	K_OMP(omp parallel for schedule(static) if (p->n > K_PAR_MIN))
	for (c = 0; c < nc; c++)
		k_unary_run(p, x + c * K_CHUNK, y + c * K_CHUNK, k_min_idx(K_CHUNK, p->n - c * K_CHUNK));
}

enum k_binop {
	K_BIN_ADD,        /* a + b */
	K_BIN_SUB,        /* a - b */
	K_BIN_MUL,        /* a * b */
	K_BIN_DIV,        /* a / b */
	K_BIN_POW,        /* powf(a, b) */
	K_BIN_MAX,        /* torch.maximum (NaN propagates) */
	K_BIN_MIN,        /* torch.minimum (NaN propagates) */
	K_BIN_ADD_SCALED  /* a + alpha * b: torch.add/sub with alpha (sub: alpha negated) */
};

struct k_binary {
	enum k_binop op;              /* the operation */
	int rank;                     /* number of output dims, 0..8 (0: one element) */
	k_idx dims[K_MAXRANK];        /* output dims */
	k_idx a_strides[K_MAXRANK];   /* a's strides in elements, 0 on broadcast dims */
	k_idx b_strides[K_MAXRANK];   /* b's strides in elements, 0 on broadcast dims */
	float alpha;                  /* K_BIN_ADD_SCALED only */
};

static inline K_UNUSED float k_b_add(float a, float b, float al) { (void)al; return a + b; }
static inline K_UNUSED float k_b_sub(float a, float b, float al) { (void)al; return a - b; }
static inline K_UNUSED float k_b_mul(float a, float b, float al) { (void)al; return a * b; }
static inline K_UNUSED float k_b_div(float a, float b, float al) { (void)al; return a / b; }
static inline K_UNUSED float k_b_pow(float a, float b, float al) { (void)al; return powf(a, b); }
static inline K_UNUSED float k_b_max(float a, float b, float al) { (void)al; return (a > b || a != a) ? a : b; }
static inline K_UNUSED float k_b_min(float a, float b, float al) { (void)al; return (a < b || a != a) ? a : b; }
static inline K_UNUSED float k_b_adds(float a, float b, float al) { return a + al * b; }

/* One strided row; f is a constant at every call site, so the compiler inlines it. */
static inline K_UNUSED void k_bin_row(float (*f)(float, float, float), float al, const float *a, k_idx sa,
				      const float *b, k_idx sb, float *y, k_idx n)
{
	k_idx i;

	if (sa == 1 && sb == 1) {
		for (i = 0; i < n; i++) y[i] = f(a[i], b[i], al);
	} else if (sa == 1 && sb == 0) {
		float bv = b[0];
		for (i = 0; i < n; i++) y[i] = f(a[i], bv, al);
	} else if (sa == 0 && sb == 1) {
		float av = a[0];
		for (i = 0; i < n; i++) y[i] = f(av, b[i], al);
	} else {
		for (i = 0; i < n; i++) y[i] = f(a[i * sa], b[i * sb], al);
	}
}

static K_UNUSED void k_binary_row(enum k_binop op, float al, const float *a, k_idx sa, const float *b,
				  k_idx sb, float *y, k_idx n)
{
	switch (op) {
	case K_BIN_ADD: k_bin_row(k_b_add, al, a, sa, b, sb, y, n); break;
	case K_BIN_SUB: k_bin_row(k_b_sub, al, a, sa, b, sb, y, n); break;
	case K_BIN_MUL: k_bin_row(k_b_mul, al, a, sa, b, sb, y, n); break;
	case K_BIN_DIV: k_bin_row(k_b_div, al, a, sa, b, sb, y, n); break;
	case K_BIN_POW: k_bin_row(k_b_pow, al, a, sa, b, sb, y, n); break;
	case K_BIN_MAX: k_bin_row(k_b_max, al, a, sa, b, sb, y, n); break;
	case K_BIN_MIN: k_bin_row(k_b_min, al, a, sa, b, sb, y, n); break;
	case K_BIN_ADD_SCALED: k_bin_row(k_b_adds, al, a, sa, b, sb, y, n); break;
	}
}

/* Drops size-1 dims and merges dims contiguous in both operands; returns the new rank (>= 1). */
static K_UNUSED int k_bin_coalesce(const struct k_binary *p, k_idx *dims, k_idx *sa, k_idx *sb)
{
	int d, r = 0;

	for (d = 0; d < p->rank; d++) {
		k_idx n = p->dims[d], as = p->a_strides[d], bs = p->b_strides[d];
		if (n == 1)
			continue;
		if (r > 0 && sa[r - 1] == as * n && sb[r - 1] == bs * n) {
			dims[r - 1] *= n;
			sa[r - 1] = as;
			sb[r - 1] = bs;
			continue;
		}
		dims[r] = n;
		sa[r] = as;
		sb[r] = bs;
		r++;
	}
	if (r == 0) {
		dims[0] = 1;
		sa[0] = sb[0] = 0;
		r = 1;
	}
	return r;
}

/* y = a op b with broadcasting; y is contiguous with p->dims; y == a is allowed. */
static K_UNUSED void k_binary_f32(const struct k_binary *p, const float *a, const float *b, float *y)
{
	k_idx dims[K_MAXRANK], sa[K_MAXRANK], sb[K_MAXRANK], rows = 1, inner, row;
	int r = k_bin_coalesce(p, dims, sa, sb), d;

	inner = dims[r - 1];
	for (d = 0; d < r - 1; d++)
		rows *= dims[d];
	if (rows == 1 && inner > K_PAR_MIN) {
		/* one long row: split it into chunks */
		k_idx nc = (inner + K_CHUNK - 1) / K_CHUNK, c;
		K_OMP(omp parallel for schedule(static))
		for (c = 0; c < nc; c++)
			k_binary_row(p->op, p->alpha, a + c * K_CHUNK * sa[0], sa[0], b + c * K_CHUNK * sb[0], sb[0],
				     y + c * K_CHUNK, k_min_idx(K_CHUNK, inner - c * K_CHUNK));
		return;
	}
	K_OMP(omp parallel for schedule(static) if (rows * inner > K_PAR_MIN && rows > 1))
	for (row = 0; row < rows; row++) {
		k_idx t = row, ao = 0, bo = 0;
		int e;
		for (e = r - 2; e >= 0; e--) {
			k_idx i = t % dims[e];
			t /= dims[e];
			ao += i * sa[e];
			bo += i * sb[e];
		}
		k_binary_row(p->op, p->alpha, a + ao, sa[r - 1], b + bo, sb[r - 1], y + row * inner, inner);
	}
}
