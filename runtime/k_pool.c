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

/* yr[0:n] = max(yr[t], xs[t*sw]) for sw 1 or 2 with AVX2, NaN winning: 8 outputs at a time,
 * masked loads and stores so nothing past the run is touched. */
#if K_AVX2
static K_UNUSED void k_max_run8(float *yr, const float *xs, k_idx n, k_idx sw)
{
	__m256i iv = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), i8 = _mm256_set1_epi32(8);
	k_idx ox;

	/* whole vectors while the next one starts inside the run (masked moves are slow) */
	for (ox = 0; ox + 8 < n; ox += 8) {
		__m256 m = _mm256_loadu_ps(yr + ox), v, take;
		if (sw == 1) {
			v = _mm256_loadu_ps(xs + ox);
		} else {
			__m256 a = _mm256_loadu_ps(xs + 2 * ox), b = _mm256_loadu_ps(xs + 2 * ox + 8);
			a = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
			v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(a), _MM_SHUFFLE(3, 1, 2, 0)));
		}
		take = _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
		_mm256_storeu_ps(yr + ox, _mm256_blendv_ps(m, v, take));
	}
	for (; ox < n; ox += 8) {
		k_idx c = k_min_idx(8, n - ox);
		__m256i om = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)c), iv);
		__m256 m = _mm256_maskload_ps(yr + ox, om), v, take;
		if (sw == 1) {
			v = _mm256_maskload_ps(xs + ox, om);
		} else {
			__m256i span = _mm256_set1_epi32((int)(2 * c - 1));
			__m256 a = _mm256_maskload_ps(xs + 2 * ox, _mm256_cmpgt_epi32(span, iv));
			__m256 b = _mm256_maskload_ps(xs + 2 * ox + 8, _mm256_cmpgt_epi32(span, _mm256_add_epi32(iv, i8)));
			a = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
			v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(a), _MM_SHUFFLE(3, 1, 2, 0)));
		}
		take = _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
		_mm256_maskstore_ps(yr + ox, om, _mm256_blendv_ps(m, v, take));
	}
}
#endif

/* Row by row: each window tap is a max over a strided run of the output row (in L1), without
 * branches, so it vectorizes (stride 2 too, with AVX2); NaN wins as in PyTorch, whatever the
 * tap order. */
static K_UNUSED void k_maxpool2d_f32(const struct k_pool2d *p, const float *x, float *y)
{
	k_idx t, np = p->n * p->c;

	K_OMP(omp parallel for schedule(static) if (np * p->oh * p->ow * p->kh * p->kw > K_PAR_MIN))
	for (t = 0; t < np; t++) {
		const float *xc = x + t * p->h * p->w;
		float *yc = y + t * p->oh * p->ow;
		k_idx oy, ox, ki, kj, sw = p->stride_w;
		for (oy = 0; oy < p->oh; oy++) {
			float *yr = yc + oy * p->ow;
			for (ox = 0; ox < p->ow; ox++)
				yr[ox] = -INFINITY;
			for (ki = 0; ki < p->kh; ki++) {
				k_idx iy = oy * p->stride_h - p->pad_h + ki * p->dil_h;
				const float *xr = xc + iy * p->w;
				if (iy < 0 || iy >= p->h)
					continue;
				for (kj = 0; kj < p->kw; kj++) {
					k_idx off = kj * p->dil_w - p->pad_w, lo, hi;
					const float *xs;
					k_pool_range(off, sw, p->w, p->ow, &lo, &hi);
					if (hi <= lo)
						continue;
					xs = xr + lo * sw + off;
#if K_AVX2
					if (sw <= 2) {
						k_max_run8(yr + lo, xs, hi - lo, sw);
						continue;
					}
#endif
					for (ox = 0; ox < hi - lo; ox++) {
						float v = xs[ox * sw], m = yr[lo + ox];
						yr[lo + ox] = (v > m || v != v) ? v : m;
					}
				}
			}
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
