/* kiln runtime: strided N-d copies (permute, slice, expand, concat), fill, cast. needs: k_base */
/*
 * A view is (dims, strides, offset) in elements over a base pointer.  k_copy_strided
 * gathers a view into a contiguous tensor: permute, transpose, slice, select, expand
 * (stride 0), contiguous, chunk, split.  k_copy_into scatters into a strided destination:
 * concatenation is one k_copy_into per input, at the input's offset along the axis.  Dims
 * are coalesced at run time, so contiguous runs become memcpy.  Element size is esize
 * bytes (0 means 4, float32), so int64 and bool tensors copy with the same kernel.
 */
struct k_copy {
	int rank;                        /* number of dims, 0..8 */
	k_idx dims[K_MAXRANK];           /* shape of the copied view */
	k_idx src_strides[K_MAXRANK];    /* source strides in elements (0 broadcasts) */
	k_idx src_offset;                /* source offset in elements */
	k_idx dst_strides[K_MAXRANK];    /* k_copy_into only: destination strides */
	k_idx dst_offset;                /* k_copy_into only: destination offset */
	int esize;                       /* bytes per element: 1, 2, 4, 8 (0 means 4) */
};

/* Copies n elements of size es from src (stride ss) to dst (stride ds), strides in elements. */
static K_UNUSED void k_copy_row(int es, const char *src, k_idx ss, char *dst, k_idx ds, k_idx n)
{
	k_idx i;

	if (ss == 1 && ds == 1) {
		memmove(dst, src, (size_t)(n * es));
		return;
	}
	switch (es) {
	case 1: for (i = 0; i < n; i++) dst[i * ds] = src[i * ss]; break;
	case 2: for (i = 0; i < n; i++) ((uint16_t *)(void *)dst)[i * ds] = ((const uint16_t *)(const void *)src)[i * ss]; break;
	case 4: for (i = 0; i < n; i++) ((uint32_t *)(void *)dst)[i * ds] = ((const uint32_t *)(const void *)src)[i * ss]; break;
	case 8: for (i = 0; i < n; i++) ((uint64_t *)(void *)dst)[i * ds] = ((const uint64_t *)(const void *)src)[i * ss]; break;
	default:
		for (i = 0; i < n; i++)
			memcpy(dst + i * ds * es, src + i * ss * es, (size_t)es);
	}
}

/* Drops size-1 dims and merges dims contiguous in both views; returns the rank (>= 1). */
static K_UNUSED int k_copy_coalesce(const struct k_copy *p, const k_idx *dstr, k_idx *dims, k_idx *ss, k_idx *ds)
{
	int d, r = 0;

	for (d = 0; d < p->rank; d++) {
		k_idx n = p->dims[d], a = p->src_strides[d], b = dstr[d];
		if (n == 1)
			continue;
		if (r > 0 && ss[r - 1] == a * n && ds[r - 1] == b * n) {
			dims[r - 1] *= n;
			ss[r - 1] = a;
			ds[r - 1] = b;
			continue;
		}
		dims[r] = n;
		ss[r] = a;
		ds[r] = b;
		r++;
	}
	if (r == 0) {
		dims[0] = 1;
		ss[0] = ds[0] = 1;
		r = 1;
	}
	return r;
}

/* The copy with explicit destination strides dstr (in elements). */
static K_UNUSED void k_copy_run(const struct k_copy *p, const k_idx *dstr, k_idx doff, const void *src, void *dst)
{
	k_idx dims[K_MAXRANK], ss[K_MAXRANK], ds[K_MAXRANK], rows = 1, inner, row;
	int r = k_copy_coalesce(p, dstr, dims, ss, ds), es = p->esize ? p->esize : 4, d;
	const char *s0 = (const char *)src + p->src_offset * es;
	char *d0 = (char *)dst + doff * es;

	for (d = 0; d < p->rank; d++)
		if (p->dims[d] == 0)
			return;
	inner = dims[r - 1];
	for (d = 0; d < r - 1; d++)
		rows *= dims[d];
	K_OMP(omp parallel for schedule(static) if (rows * inner > K_PAR_MIN && rows > 1))
	for (row = 0; row < rows; row++) {
		k_idx t = row, so = 0, dof = 0;
		int e;
		for (e = r - 2; e >= 0; e--) {
			k_idx i = t % dims[e];
			t /= dims[e];
			so += i * ss[e];
			dof += i * ds[e];
		}
		k_copy_row(es, s0 + so * es, ss[r - 1], d0 + dof * es, ds[r - 1], inner);
	}
}

/* dst (contiguous, p->dims) = the view (dims, src_strides, src_offset) of src. */
static K_UNUSED void k_copy_strided(const struct k_copy *p, const void *src, void *dst)
{
	k_idx st[K_MAXRANK], s = 1;
	int d;

	for (d = p->rank - 1; d >= 0; d--) {
		st[d] = s;
		s *= p->dims[d];
	}
	k_copy_run(p, st, 0, src, dst);
}

/* The view (dims, dst_strides, dst_offset) of dst = the view (dims, src_strides, src_offset) of src. */
static K_UNUSED void k_copy_into(const struct k_copy *p, const void *src, void *dst)
{
	k_copy_run(p, p->dst_strides, p->dst_offset, src, dst);
}

struct k_fill {
	k_idx n;      /* element count */
	float value;  /* the value */
};

/* y[0, n) = value: zeros, ones, full. */
static K_UNUSED void k_fill_f32(const struct k_fill *p, float *y)
{
	k_idx i;

	for (i = 0; i < p->n; i++)
		y[i] = p->value;
}

struct k_cast {
	k_idx n;            /* element count */
	enum k_dtype from;  /* source type */
	enum k_dtype to;    /* destination type */
};

/* Reads element i of type t as a double. */
static inline K_UNUSED double k_cast_get(enum k_dtype t, const void *x, k_idx i)
{
	switch (t) {
	case K_F32: return (double)((const float *)x)[i];
	case K_F64: return ((const double *)x)[i];
	case K_I64: return (double)((const int64_t *)x)[i];
	case K_I32: return (double)((const int32_t *)x)[i];
	case K_U8: return (double)((const uint8_t *)x)[i];
	case K_BOOL: return ((const uint8_t *)x)[i] ? 1.0 : 0.0;
	}
	return 0.0;
}

/* tensor.to(dtype): float to integer truncates toward zero, to bool tests != 0. */
static K_UNUSED void k_cast(const struct k_cast *p, const void *x, void *y)
{
	k_idx i;

	for (i = 0; i < p->n; i++) {
		double v = k_cast_get(p->from, x, i);
		switch (p->to) {
		case K_F32: ((float *)y)[i] = (float)v; break;
		case K_F64: ((double *)y)[i] = v; break;
		case K_I64: ((int64_t *)y)[i] = (int64_t)v; break;
		case K_I32: ((int32_t *)y)[i] = (int32_t)v; break;
		case K_U8: ((uint8_t *)y)[i] = (uint8_t)(int64_t)v; break;
		case K_BOOL: ((uint8_t *)y)[i] = v != 0.0; break;
		}
	}
}
