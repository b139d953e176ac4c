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
#define K_POOL_SPAN 64 /* most input floats an edge vector's tap row may span */

/* Outputs ox..ox+7 of row oy (those below ow stored), for stride 1 or 2 across: each tap
 * row's span is copied with -inf outside the input, then taken 8 at a time. */
static K_UNUSED void k_max_edge8(const struct k_pool2d *p, const float *xc, k_idx oy, k_idx ox,
				 k_idx ki0, k_idx ki1, float *yr)
{
	k_idx sw = p->stride_w, span = 8 * sw + (p->kw - 1) * p->dil_w, base = ox * sw - p->pad_w;
	k_idx ki, kj, i;
	__m256 m = _mm256_set1_ps(-INFINITY);
	float buf[K_POOL_SPAN], out[8];

	for (ki = ki0; ki < ki1; ki++) {
		const float *xr = xc + (oy * p->stride_h - p->pad_h + ki * p->dil_h) * p->w;
		for (i = 0; i < span; i++)
			buf[i] = base + i >= 0 && base + i < p->w ? xr[base + i] : -INFINITY;
		for (kj = 0; kj < p->kw; kj++) {
			__m256 v = k_pool_load8(buf + kj * p->dil_w, sw);
			__m256 take = _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
			m = _mm256_blendv_ps(m, v, take);
		}
	}
	_mm256_storeu_ps(out, m);
	memcpy(yr + ox, out, (size_t)k_min_idx(8, p->ow - ox) * sizeof(float));
}
#endif

/*
 * Row by row, 8 outputs at a time with AVX2 and stride 1 or 2 across: the max stays in a
 * register over every tap and is stored once.  Columns [L, H) have their whole window inside
 * the row and load from it directly; vectors at the edges go through k_max_edge8.  Otherwise
 * (no AVX2, wider strides or windows) k_max_window per output.
 */
static K_UNUSED void k_maxpool2d_f32(const struct k_pool2d *p, const float *x, float *y)
{
	k_idx t, np = p->n * p->c, L, H;

	k_pool_range(-p->pad_w, p->stride_w, p->w - (p->kw - 1) * p->dil_w, p->ow, &L, &H);
	K_OMP(omp parallel for schedule(static) if (np * p->oh * p->ow * p->kh * p->kw > K_PAR_MIN))
	for (t = 0; t < np; t++) {
		const float *xc = x + t * p->h * p->w;
		float *yc = y + t * p->oh * p->ow;
		k_idx oy, ox, ki0, ki1;
		for (oy = 0; oy < p->oh; oy++) {
			float *yr = yc + oy * p->ow;
			k_pool_range(oy * p->stride_h - p->pad_h, p->dil_h, p->h, p->kh, &ki0, &ki1);
			ox = 0;
#if K_AVX2
			if (p->stride_w <= 2 && 8 * p->stride_w + (p->kw - 1) * p->dil_w <= K_POOL_SPAN) {
				k_idx sw = p->stride_w;
				for (; ox < p->ow; ox += 8) {
					/* stride 2 reads one float past the last tap: a vector short of H */
					__m256 m = _mm256_set1_ps(-INFINITY);
					k_idx ki, kj;
					if (ox < L || ox + 8 + (sw == 2) > H) {
						k_max_edge8(p, xc, oy, ox, ki0, ki1, yr);
						continue;
					}
					for (ki = ki0; ki < ki1; ki++) {
						const float *xs = xc + (oy * p->stride_h - p->pad_h + ki * p->dil_h) * p->w +
								  ox * sw - p->pad_w;
						for (kj = 0; kj < p->kw; kj++) {
							__m256 v = k_pool_load8(xs + kj * p->dil_w, sw);
							__m256 take = _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ),
										   _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
							m = _mm256_blendv_ps(m, v, take);
						}
					}
					_mm256_storeu_ps(yr + ox, m);
				}
			}
#endif
			for (; ox < p->ow; ox++)
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
		float s[8] = { 0 }, r;
		k_idx i, l;
		for (i = 0; i + 8 <= hw; i += 8)
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
