/* kiln runtime: max/avg pooling, adaptive pooling, global average pool. needs: k_base */
/*
 * NCHW planes, parallel over n*c.  The caller computes oh, ow (ceil_mode included); windows
 * past the input are clipped.  Max pooling pads with -inf and propagates NaN as PyTorch does.
 * Average pooling divides as PyTorch's avg_pool2d: with count_include_pad the divisor is the
 * window clipped to the padded input (h + pad_h, w + pad_w), without it the window clipped to
 * the input; divisor_override, if nonzero, replaces both.
 */
struct k_pool2d {
	k_idx n, c, h, w;          /* input */
	k_idx kh, kw;              /* window */
	k_idx stride_h, stride_w;  /* strides (>= 1) */
	k_idx pad_h, pad_w;        /* implicit padding on both sides */
	k_idx dil_h, dil_w;        /* dilations, max pooling only (>= 1) */
	k_idx oh, ow;              /* output height and width */
	int count_include_pad;     /* avg pooling: padding counts in the divisor */
	k_idx divisor_override;    /* avg pooling: nonzero replaces the divisor */
};

/* First o in [0, n) with 0 <= o*s + off, and one past the last with o*s + off < lim. */
static inline K_UNUSED void k_pool_range(k_idx off, k_idx s, k_idx lim, k_idx n, k_idx *lo, k_idx *hi)
{
	k_idx a = off >= 0 ? 0 : (-off + s - 1) / s;
	k_idx b = lim - 1 - off < 0 ? 0 : (lim - 1 - off) / s + 1;

	*lo = a < n ? a : n;
	*hi = b < *lo ? *lo : (b < n ? b : n);
}

/* The max of output (oy, ox)'s window over rows ki0..ki1-1 (those inside the input), columns
 * clipped to the input; NaN wins as in PyTorch, whatever the tap order. */
static inline K_UNUSED float k_max_window(const struct k_pool2d *p, const float *xc, k_idx oy, k_idx ox,
					  k_idx ki0, k_idx ki1)
{
	float m = -INFINITY;
	k_idx ki, kj;

	for (ki = ki0; ki < ki1; ki++) {
		const float *xr = xc + (oy * p->stride_h - p->pad_h + ki * p->dil_h) * p->w;
		for (kj = 0; kj < p->kw; kj++) {
			k_idx ix = ox * p->stride_w - p->pad_w + kj * p->dil_w;
			float v;
			if (ix < 0 || ix >= p->w)
				continue;
			v = xr[ix];
			m = (v > m || v != v) ? v : m;
		}
	}
	return m;
}

#if K_AVX2
/* xs[0], xs[sw], ..., xs[7*sw] for sw 1 or 2 (sw 2 reads xs[15] too). */
static inline K_UNUSED __m256 k_pool_load8(const float *xs, k_idx sw)
{
	__m256 a, b;

	if (sw == 1)
		return _mm256_loadu_ps(xs);
	a = _mm256_loadu_ps(xs), b = _mm256_loadu_ps(xs + 8);
	a = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
	return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(a), _MM_SHUFFLE(3, 1, 2, 0)));
}
#endif

#if K_AVX2
#define K_POOL_ROW 4096 /* floats of the row of column maxima kept on the stack */

/* max(a, b), NaN if either is (all bits set: cmp's mask is a NaN) */
static inline K_UNUSED __m256 k_nanmax8(__m256 a, __m256 b)
{
	return _mm256_or_ps(_mm256_max_ps(a, b), _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
}

/* Floats of k_maxpool2d_f32's row buffer for p: its padded columns, with room for the last
 * vector's taps. */
static inline K_UNUSED k_idx k_max_row_len(const struct k_pool2d *p)
{
	return k_max_idx(k_round_up(p->ow, 8) * p->stride_w + (p->kw - 1) * p->dil_w + 16,
			 p->pad_w + k_round_up(p->w, 8));
}
#endif

/*
 * Max pooling, separably, with AVX2 and stride 1 or 2 across: for each output row, the max
 * of its window's input rows, column by column, goes into a row buffer padded with -inf
 * (so no window needs an edge case), then each output is the max of kw taps of that row, 8
 * outputs at a time (a row's last vector stored whole, into the next row, which is written
 * after it; only the plane's end cuts a vector short).  Otherwise (no AVX2, wider strides,
 * very wide rows) k_max_window per output.
 */
static K_UNUSED void k_maxpool2d_f32(const struct k_pool2d *p, const float *x, float *y)
{
	k_idx t, np = p->n * p->c;

	K_OMP(omp parallel for schedule(static) if (np * p->oh * p->ow * p->kh * p->kw > K_PAR_MIN))
	for (t = 0; t < np; t++) {
		const float *xc = x + t * p->h * p->w;
		float *yc = y + t * p->oh * p->ow;
		k_idx oy, ox, ki0, ki1;
#if K_AVX2
		k_idx len = k_max_row_len(p);
		if (p->stride_w <= 2 && len <= K_POOL_ROW) {
			float vb[K_POOL_ROW];
			k_idx sw = p->stride_w, c, ki, kj, i;
			__m256 ninf = _mm256_set1_ps(-INFINITY);
			__m256i mk = k_lanes8(p->w % 8); /* the row's last vector */
			for (i = 0; i < len; i++)
				vb[i] = -INFINITY;
			for (oy = 0; oy < p->oh; oy++) {
				float *yr = yc + oy * p->ow, *vr = vb + p->pad_w;
				k_pool_range(oy * p->stride_h - p->pad_h, p->dil_h, p->h, p->kh, &ki0, &ki1);
				/* column maxima of the window's rows (three at a time: a row named twice
				 * changes no max), the last vector masked, -inf past the row */
				for (c = 0; c < p->w && ki0 == ki1; c++) /* no input row in the window */
					vr[c] = -INFINITY;
				for (ki = ki0; ki < ki1; ki += 3) {
					const float *r0 = xc + (oy * p->stride_h - p->pad_h + ki * p->dil_h) * p->w;
					const float *r1 = ki + 1 < ki1 ? r0 + p->dil_h * p->w : r0;
					const float *r2 = ki + 2 < ki1 ? r0 + 2 * p->dil_h * p->w : r1;
					for (c = 0; c < p->w; c += 8) {
						__m256 m;
						if (c + 8 <= p->w)
							m = k_nanmax8(k_nanmax8(_mm256_loadu_ps(r0 + c), _mm256_loadu_ps(r1 + c)),
								      _mm256_loadu_ps(r2 + c));
						else /* -inf past the row */
							m = _mm256_blendv_ps(ninf, k_nanmax8(k_nanmax8(_mm256_maskload_ps(r0 + c, mk),
												     _mm256_maskload_ps(r1 + c, mk)),
											 _mm256_maskload_ps(r2 + c, mk)),
									     _mm256_castsi256_ps(mk));
						if (ki > ki0)
							m = k_nanmax8(m, _mm256_loadu_ps(vr + c));
						_mm256_storeu_ps(vr + c, m);
					}
				}
				/* kw taps of the row, 8 outputs at a time */
				for (ox = 0; ox < p->ow; ox += 8) {
					__m256 m = ninf;
					for (kj = 0; kj < p->kw; kj++)
						m = k_nanmax8(m, k_pool_load8(vb + ox * sw + kj * p->dil_w, sw));
					k_store8_upto(yr + ox, m, yc + p->oh * p->ow);
				}
			}
			continue;
		}
#endif
		for (oy = 0; oy < p->oh; oy++) {
			float *yr = yc + oy * p->ow;
			k_pool_range(oy * p->stride_h - p->pad_h, p->dil_h, p->h, p->kh, &ki0, &ki1);
			for (ox = 0; ox < p->ow; ox++)
				yr[ox] = k_max_window(p, xc, oy, ox, ki0, ki1);
		}
	}
}

static K_UNUSED void k_avgpool2d_f32(const struct k_pool2d *p, const float *x, float *y)
{
	k_idx t, np = p->n * p->c;

	K_OMP(omp parallel for schedule(static) if (np * p->oh * p->ow * p->kh * p->kw > K_PAR_MIN))
	for (t = 0; t < np; t++) {
		const float *xc = x + t * p->h * p->w;
		float *yc = y + t * p->oh * p->ow;
		k_idx oy, ox, iy, ix;
		for (oy = 0; oy < p->oh; oy++) {
			k_idx y0 = oy * p->stride_h - p->pad_h, y1 = k_min_idx(y0 + p->kh, p->h + p->pad_h);
			k_idx ph = y1 - y0;
			y0 = y0 < 0 ? 0 : y0;
			y1 = k_min_idx(y1, p->h);
			for (ox = 0; ox < p->ow; ox++) {
				k_idx x0 = ox * p->stride_w - p->pad_w, x1 = k_min_idx(x0 + p->kw, p->w + p->pad_w);
				k_idx pw = x1 - x0, div;
				float s = 0.0f;
				x0 = x0 < 0 ? 0 : x0;
				x1 = k_min_idx(x1, p->w);
				for (iy = y0; iy < y1; iy++)
					for (ix = x0; ix < x1; ix++)
						s += xc[iy * p->w + ix];
				if (y0 >= y1 || x0 >= x1)
					div = 1; /* empty window: 0, as PyTorch */
				else if (p->divisor_override)
					div = p->divisor_override;
				else if (p->count_include_pad)
					div = ph * pw;
				else
					div = (y1 - y0) * (x1 - x0);
				yc[oy * p->ow + ox] = s / (float)div;
			}
		}
	}
}

/* Adaptive pooling: output cell i covers [floor(i*H/OH), ceil((i+1)*H/OH)). */
struct k_adaptive_pool2d {
	k_idx n, c, h, w;  /* input */
	k_idx oh, ow;      /* output */
};

static inline K_UNUSED k_idx k_ad_start(k_idx i, k_idx in, k_idx out) { return i * in / out; }
static inline K_UNUSED k_idx k_ad_end(k_idx i, k_idx in, k_idx out) { return ((i + 1) * in + out - 1) / out; }

/* Mean of each of np contiguous planes of hw elements: the global average pool. */
static K_UNUSED void k_global_avgpool_f32(k_idx np, k_idx hw, const float *x, float *y)
{
	k_idx t;

	K_OMP(omp parallel for schedule(static) if (np * hw > K_PAR_MIN))
	for (t = 0; t < np; t++) {
		const float *xc = x + t * hw;
		float s[32] = { 0 }, r; /* four vectors of partial sums: four add chains */
		k_idx i, l;
		for (i = 0; i + 32 <= hw; i += 32)
			for (l = 0; l < 32; l++)
				s[l] += xc[i + l];
		for (l = 0; l < 8 && hw >= 32; l++)
			s[l] = (s[l] + s[l + 8]) + (s[l + 16] + s[l + 24]);
		for (; i + 8 <= hw; i += 8)
			for (l = 0; l < 8; l++)
				s[l] += xc[i + l];
		r = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
		for (; i < hw; i++)
			r += xc[i];
		y[t] = r / (float)hw;
	}
}

static K_UNUSED void k_adaptive_avgpool2d_f32(const struct k_adaptive_pool2d *p, const float *x, float *y)
{
	k_idx t, np = p->n * p->c;

	if (p->oh == 1 && p->ow == 1) {
		k_global_avgpool_f32(np, p->h * p->w, x, y);
		return;
	}
	K_OMP(omp parallel for schedule(static) if (np * p->h * p->w > K_PAR_MIN))
	for (t = 0; t < np; t++) {
		const float *xc = x + t * p->h * p->w;
		float *yc = y + t * p->oh * p->ow;
		k_idx oy, ox, iy, ix;
		for (oy = 0; oy < p->oh; oy++) {
			k_idx y0 = k_ad_start(oy, p->h, p->oh), y1 = k_ad_end(oy, p->h, p->oh);
			for (ox = 0; ox < p->ow; ox++) {
				k_idx x0 = k_ad_start(ox, p->w, p->ow), x1 = k_ad_end(ox, p->w, p->ow);
				float s = 0.0f;
				for (iy = y0; iy < y1; iy++)
					for (ix = x0; ix < x1; ix++)
						s += xc[iy * p->w + ix];
				yc[oy * p->ow + ox] = s / (float)((y1 - y0) * (x1 - x0));
			}
		}
	}
}

static K_UNUSED void k_adaptive_maxpool2d_f32(const struct k_adaptive_pool2d *p, const float *x, float *y)
{
	k_idx t, np = p->n * p->c;

	K_OMP(omp parallel for schedule(static) if (np * p->h * p->w > K_PAR_MIN))
	for (t = 0; t < np; t++) {
		const float *xc = x + t * p->h * p->w;
		float *yc = y + t * p->oh * p->ow;
		k_idx oy, ox, iy, ix;
		for (oy = 0; oy < p->oh; oy++) {
			k_idx y0 = k_ad_start(oy, p->h, p->oh), y1 = k_ad_end(oy, p->h, p->oh);
			for (ox = 0; ox < p->ow; ox++) {
				k_idx x0 = k_ad_start(ox, p->w, p->ow), x1 = k_ad_end(ox, p->w, p->ow);
				float m = -INFINITY;
				for (iy = y0; iy < y1; iy++) {
					for (ix = x0; ix < x1; ix++) {
						float v = xc[iy * p->w + ix];
						if (v > m || v != v)
							m = v;
					}
				}
				yc[oy * p->ow + ox] = m;
			}
		}
	}
}
