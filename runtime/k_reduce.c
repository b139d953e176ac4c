/* kiln runtime: sum/mean/prod/max/min and argmax/argmin along one axis. needs: k_base */
/*
 * The input is viewed as [outer][dim][inner] and reduced along dim to [outer][inner].
 * Several adjacent axes reduce as one (mean over H, W of NCHW: outer n*c, dim h*w, inner 1);
 * non-adjacent axes take one call per run of adjacent axes.  Sums accumulate in double,
 * max/min propagate NaN, argmax/argmin return the first index of the extreme (NaN counts as
 * the extreme), as PyTorch does.
 */
enum k_redop { K_RED_SUM, K_RED_MEAN, K_RED_PROD, K_RED_MAX, K_RED_MIN };

struct k_reduce {
	enum k_redop op;          /* the reduction */
	k_idx outer, dim, inner;  /* view of the input; dim is reduced */
};

#define K_RED_CHUNK 64

/* Reduces columns [0, nc) of x ([dim][inner]) into y[0, nc). */
static K_UNUSED void k_reduce_cols(enum k_redop op, const float *x, k_idx dim, k_idx inner, k_idx nc, float *y)
{
	double acc[K_RED_CHUNK];
	float m[K_RED_CHUNK];
	k_idx d, l;

	if (op == K_RED_MAX || op == K_RED_MIN) {
		for (l = 0; l < nc; l++)
			m[l] = op == K_RED_MAX ? -INFINITY : INFINITY;
		for (d = 0; d < dim; d++) {
			const float *xr = x + d * inner;
			if (op == K_RED_MAX)
				for (l = 0; l < nc; l++) m[l] = (xr[l] > m[l] || xr[l] != xr[l]) ? xr[l] : m[l];
			else
				for (l = 0; l < nc; l++) m[l] = (xr[l] < m[l] || xr[l] != xr[l]) ? xr[l] : m[l];
		}
		for (l = 0; l < nc; l++)
			y[l] = m[l];
		return;
	}
	for (l = 0; l < nc; l++)
		acc[l] = op == K_RED_PROD ? 1.0 : 0.0;
	for (d = 0; d < dim; d++) {
		const float *xr = x + d * inner;
		if (op == K_RED_PROD)
			for (l = 0; l < nc; l++) acc[l] *= (double)xr[l];
		else
			for (l = 0; l < nc; l++) acc[l] += (double)xr[l];
	}
	for (l = 0; l < nc; l++)
		y[l] = (float)(op == K_RED_MEAN ? acc[l] / (double)dim : acc[l]);
}

/* Sum of n contiguous floats: float partial sums per block of 1024, blocks added in double. */
static K_UNUSED double k_sum_row(const float *x, k_idx n)
{
	double r = 0.0;
	k_idx b, i, l;

	for (b = 0; b < n; b += 1024) {
		k_idx e = k_min_idx(n, b + 1024);
		float s[8] = { 0 };
		for (i = b; i + 8 <= e; i += 8)
			for (l = 0; l < 8; l++)
				s[l] += x[i + l];
		for (; i < e; i++)
			s[0] += x[i];
		r += (double)(((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])));
	}
	return r;
}

/* One contiguous row reduced to a scalar. */
static K_UNUSED float k_reduce_row(enum k_redop op, const float *x, k_idx n)
{
	float m;
	double pr = 1.0;
	k_idx i;

	switch (op) {
	case K_RED_SUM: return (float)k_sum_row(x, n);
	case K_RED_MEAN: return (float)(k_sum_row(x, n) / (double)n);
	case K_RED_PROD:
		for (i = 0; i < n; i++) pr *= (double)x[i];
		return (float)pr;
	case K_RED_MAX:
		m = -INFINITY;
		for (i = 0; i < n; i++) m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
		return m;
	case K_RED_MIN:
		m = INFINITY;
		for (i = 0; i < n; i++) m = (x[i] < m || x[i] != x[i]) ? x[i] : m;
		return m;
	}
	return 0.0f;
}

/* y[outer][inner] = reduce over dim of x[outer][dim][inner]. */
static K_UNUSED void k_reduce_f32(const struct k_reduce *p, const float *x, float *y)
{
	k_idx nch = (p->inner + K_RED_CHUNK - 1) / K_RED_CHUNK, t;

	if (p->inner == 1) {
		K_OMP(omp parallel for schedule(static) if (p->outer * p->dim > K_PAR_MIN && p->outer > 1))
		for (t = 0; t < p->outer; t++)
			y[t] = k_reduce_row(p->op, x + t * p->dim, p->dim);
		return;
	}
	K_OMP(omp parallel for schedule(static) if (p->outer * p->dim * p->inner > K_PAR_MIN))
	for (t = 0; t < p->outer * nch; t++) {
		k_idx o = t / nch, j = (t % nch) * K_RED_CHUNK;
		k_reduce_cols(p->op, x + o * p->dim * p->inner + j, p->dim, p->inner,
			      k_min_idx(K_RED_CHUNK, p->inner - j), y + o * p->inner + j);
	}
}

/* torch.argmax (min = 0) / argmin (min = 1) along dim: int64 indices [outer][inner]. */
static K_UNUSED void k_argreduce_f32(const struct k_reduce *p, int min, const float *x, int64_t *y)
{
	k_idx t;

	K_OMP(omp parallel for schedule(static) if (p->outer * p->dim * p->inner > K_PAR_MIN))
	for (t = 0; t < p->outer * p->inner; t++) {
		const float *xc = x + (t / p->inner) * p->dim * p->inner + t % p->inner;
		float m = xc[0];
		k_idx d, best = 0;
		for (d = 1; d < p->dim && m == m; d++) {
			float v = xc[d * p->inner];
			if ((min ? v < m : v > m) || v != v) {
				m = v;
				best = d;
			}
		}
		y[t] = best;
	}
}

/* torch.argmax / argmin along dim; p->op is not used. */
static K_UNUSED void k_argmax_f32(const struct k_reduce *p, const float *x, int64_t *y) { k_argreduce_f32(p, 0, x, y); }
static K_UNUSED void k_argmin_f32(const struct k_reduce *p, const float *x, int64_t *y) { k_argreduce_f32(p, 1, x, y); }
