/* kiln runtime: softmax and log_softmax along one axis. needs: k_base */
/*
 * The tensor is viewed as [outer][dim][inner] and normalized along dim, subtracting the
 * maximum first.  With inner == 1 each row is contiguous; otherwise K_SMX_CHUNK columns of
 * inner are processed together so the loops over them vectorize.  May run in place.
 */
#define K_SMX_CHUNK 64

struct k_softmax {
	k_idx outer, dim, inner;  /* view of the tensor; the axis is dim */
};

/* One contiguous row: softmax (log = 0) or log_softmax (log = 1). */
static K_UNUSED void k_softmax_row(const float *x, float *y, k_idx n, int log)
{
	float m = -INFINITY, s = 0.0f;
	k_idx i;

	for (i = 0; i < n; i++)
		m = x[i] > m ? x[i] : m;
	if (log) {
		float ls;
		for (i = 0; i < n; i++)
			s += expf(x[i] - m);
		ls = m + logf(s);
		for (i = 0; i < n; i++)
			y[i] = x[i] - ls;
		return;
	}
	for (i = 0; i < n; i++) {
		y[i] = expf(x[i] - m);
		s += y[i];
	}
	s = 1.0f / s;
	for (i = 0; i < n; i++)
		y[i] *= s;
}

/* Columns [j, j + nc) of one outer slice, strided by inner. */
static K_UNUSED void k_softmax_cols(const float *x, float *y, k_idx dim, k_idx inner, k_idx nc, int log)
{
	float m[K_SMX_CHUNK], s[K_SMX_CHUNK];
	k_idx d, l;

	for (l = 0; l < nc; l++) {
		m[l] = -INFINITY;
		s[l] = 0.0f;
	}
	for (d = 0; d < dim; d++)
		for (l = 0; l < nc; l++)
			m[l] = x[d * inner + l] > m[l] ? x[d * inner + l] : m[l];
	for (d = 0; d < dim; d++) {
		for (l = 0; l < nc; l++) {
			float e = expf(x[d * inner + l] - m[l]);
			if (!log)
				y[d * inner + l] = e;
			s[l] += e;
		}
	}
	for (l = 0; l < nc; l++)
		s[l] = log ? m[l] + logf(s[l]) : 1.0f / s[l];
	for (d = 0; d < dim; d++)
		for (l = 0; l < nc; l++)
			y[d * inner + l] = log ? x[d * inner + l] - s[l] : y[d * inner + l] * s[l];
}

static K_UNUSED void k_softmax_any(const struct k_softmax *p, const float *x, float *y, int log)
{
	k_idx nch = (p->inner + K_SMX_CHUNK - 1) / K_SMX_CHUNK, t;

	if (p->inner == 1) {
		K_OMP(omp parallel for schedule(static) if (p->outer * p->dim > K_PAR_MIN / 4))
		for (t = 0; t < p->outer; t++)
			k_softmax_row(x + t * p->dim, y + t * p->dim, p->dim, log);
		return;
	}
	K_OMP(omp parallel for schedule(static) if (p->outer * p->dim * p->inner > K_PAR_MIN / 4))
	for (t = 0; t < p->outer * nch; t++) {
		k_idx o = t / nch, j = (t % nch) * K_SMX_CHUNK, off = o * p->dim * p->inner + j;
		k_softmax_cols(x + off, y + off, p->dim, p->inner, k_min_idx(K_SMX_CHUNK, p->inner - j), log);
	}
}

static K_UNUSED void k_softmax_f32(const struct k_softmax *p, const float *x, float *y)
{
	k_softmax_any(p, x, y, 0);
}

static K_UNUSED void k_log_softmax_f32(const struct k_softmax *p, const float *x, float *y)
{
	k_softmax_any(p, x, y, 1);
}
