/* kiln runtime: where (select by a mask, broadcasting) and embedding (row gather). needs: k_base */
/*
 * k_where_f32 walks the output in row-major order with an odometer; each operand has its
 * own strides (0 along broadcast dims), so masks like [B, 1, 1, L] need no expanded copy.
 * The condition is one byte per element (bool / uint8), nonzero meaning "take a".
 * k_embedding_f32 copies row idx[i] of a [n, d] table per index; an index outside [0, n)
 * (PyTorch raises) gives a row of zeros, since kernels cannot fail.
 */
struct k_where {
	int rank;                    /* of the output; 0 for a scalar */
	k_idx dims[K_MAXRANK];       /* output dims */
	k_idx c_strides[K_MAXRANK];  /* condition strides in elements, 0 = broadcast */
	k_idx a_strides[K_MAXRANK];  /* a's */
	k_idx b_strides[K_MAXRANK];  /* b's */
};

/* y = cond ? a : b, elementwise with broadcasting. */
static K_UNUSED void k_where_f32(const struct k_where *p, const unsigned char *cond, const float *a,
				 const float *b, float *y)
{
	k_idx idx[K_MAXRANK] = { 0 }, oc = 0, oa = 0, ob = 0, n = 1, i;
	int d;

	for (d = 0; d < p->rank; d++)
		n *= p->dims[d];
	for (i = 0; i < n; i++) {
		y[i] = cond[oc] ? a[oa] : b[ob];
		for (d = p->rank - 1; d >= 0; d--) {
			oc += p->c_strides[d];
			oa += p->a_strides[d];
			ob += p->b_strides[d];
			if (++idx[d] < p->dims[d])
				break;
			oc -= p->c_strides[d] * p->dims[d];
			oa -= p->a_strides[d] * p->dims[d];
			ob -= p->b_strides[d] * p->dims[d];
			idx[d] = 0;
		}
	}
}

struct k_embedding {
	k_idx rows, dim;  /* the table is [rows, dim] */
	k_idx count;      /* number of indices */
};

/* y[i, :] = w[idx[i], :] */
static K_UNUSED void k_embedding_f32(const struct k_embedding *p, const float *w, const int64_t *idx,
				     float *y)
{
	k_idx i;

	K_OMP(omp parallel for schedule(static) if (p->count * p->dim > K_PAR_MIN))
	for (i = 0; i < p->count; i++) {
		int64_t r = idx[i];
		if (r >= 0 && r < p->rows)
			memcpy(y + i * p->dim, w + r * p->dim, (size_t)p->dim * sizeof(float));
		else
			memset(y + i * p->dim, 0, (size_t)p->dim * sizeof(float));
	}
}
