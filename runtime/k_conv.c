/* kiln runtime: conv2d (direct depthwise, im2col + GEMM). needs: k_base k_gemm */
/*
 * Weights are [oc][c/groups][kh][kw], bias [oc] or NULL, output [n][oc][oh][ow] with oh, ow
 * computed by the caller.  Three paths:
 *   - one input channel per group (depthwise, any channel multiplier): direct loops over
 *     the valid output range of each tap, no scratch;
 *   - 1x1, stride 1, no padding: the input image is B of a GEMM as it stands, copied into
 *     packed panels one at a time;
 *   - otherwise im2col, one packed-B panel at a time, each used while it is in cache.
 * The weights are the GEMM's A as they are (no packing).  The epilogue adds bias, then
 * res, then applies act, on each output tile as the GEMM finishes it.
 */
struct k_conv2d {
	k_idx n, c, h, w;          /* input batch, channels, height, width */
	k_idx oc, kh, kw;          /* output channels, kernel height and width */
	k_idx stride_h, stride_w;  /* strides (>= 1) */
	k_idx pad_h, pad_w;        /* zero padding, same on both sides */
	k_idx dil_h, dil_w;        /* dilations (>= 1) */
	k_idx groups;              /* c and oc are multiples of groups (>= 1) */
	k_idx oh, ow;              /* output height and width */
	enum k_act act;            /* fused activation */
	float min, max, slope;     /* activation parameters */
	const float *res;          /* residual [n][oc][oh][ow] added before act, or NULL */
};

/* True if each group has one input channel: the direct depthwise kernel handles it. */
static inline K_UNUSED int k_conv2d_is_dw(const struct k_conv2d *p) { return p->c == p->groups; }

static inline K_UNUSED int k_conv2d_is_1x1(const struct k_conv2d *p)
{
	return p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
	       p->pad_w == 0;
}

/* Scratch bytes: one packed im2col matrix (panels of K_NR output pixels). */
static K_UNUSED size_t k_conv2d_scratch(const struct k_conv2d *p)
{
	k_idx kk = p->c / p->groups * p->kh * p->kw;

	if (k_conv2d_is_dw(p))
		return 0;
	return (size_t)(kk * k_round_up(p->oh * p->ow, K_NR)) * sizeof(float);
}

/* First output index o in [0, n) with 0 <= o*s + off, and one past the last with o*s + off < lim. */
static inline K_UNUSED void k_conv_range(k_idx off, k_idx s, k_idx lim, k_idx n, k_idx *lo, k_idx *hi)
{
	k_idx a = off >= 0 ? 0 : (-off + s - 1) / s;
	k_idx b = lim - 1 - off < 0 ? 0 : (lim - 1 - off) / s + 1;

	*lo = a;
	*hi = b < n ? b : n;
}

/*
 * One tap row of a depthwise conv: yr[ox] += sum over kj of wr[kj] * xr[ox*sw + kj*dil - pad].
 * lo[kj], hi[kj] bound the valid ox of each tap; on [L, H), where every tap is valid, a
 * 3-wide kernel does all three taps in one pass over yr.
 */
static K_UNUSED void k_dw_row(const struct k_conv2d *p, const float *K_RESTRICT xr, const float *wr,
			      const k_idx *lo, const k_idx *hi, k_idx L, k_idx H, float *K_RESTRICT yr)
{
	k_idx kj, ox, sw = p->stride_w, dw = p->dil_w;

	if (p->kw == 3 && L < H) {
		float w0 = wr[0], w1 = wr[1], w2 = wr[2];
		const float *x0 = xr + L * sw - p->pad_w; /* valid: L is inside every tap's range */
		const float *x1 = x0 + dw, *x2 = x0 + 2 * dw;
		float *yo = yr + L;
		if (sw == 1)
			for (ox = 0; ox < H - L; ox++) yo[ox] += w0 * x0[ox] + w1 * x1[ox] + w2 * x2[ox];
		else
			for (ox = 0; ox < H - L; ox++)
				yo[ox] += w0 * x0[ox * sw] + w1 * x1[ox * sw] + w2 * x2[ox * sw];
		for (kj = 0; kj < 3; kj++) { /* the edges */
			k_idx off = kj * dw - p->pad_w;
			for (ox = lo[kj]; ox < L && ox < hi[kj]; ox++) yr[ox] += wr[kj] * xr[ox * sw + off];
			for (ox = H > lo[kj] ? H : lo[kj]; ox < hi[kj]; ox++) yr[ox] += wr[kj] * xr[ox * sw + off];
		}
		return;
	}
	for (kj = 0; kj < p->kw; kj++) {
		k_idx off = kj * dw - p->pad_w, n = hi[kj] - lo[kj];
		float wv = wr[kj], *yo = yr + lo[kj];
		const float *xs;
		if (n <= 0)
			continue;
		xs = xr + lo[kj] * sw + off;
		if (sw == 1)
			for (ox = 0; ox < n; ox++) yo[ox] += wv * xs[ox];
		else
			for (ox = 0; ox < n; ox++) yo[ox] += wv * xs[ox * sw];
	}
}

#define K_DW_MAXKW 16 /* widest kernel whose tap ranges are precomputed per plane */

/* Depthwise: output channel o reads input channel o / (oc / groups).  Row by row: the output
 * row stays in L1 through every tap and the epilogue. */
static K_UNUSED void k_conv2d_dw(const struct k_conv2d *p, const float *x, const float *w, const float *b,
				 float *y)
{
	k_idx mult = p->oc / p->groups, ohw = p->oh * p->ow, t;
	struct k_epi e = { 1.0f, 1.0f, NULL, 0, 0, NULL, p->act, p->min, p->max, p->slope };

	K_OMP(omp parallel for schedule(static) if (p->n * p->oc * ohw * p->kh * p->kw > K_PAR_MIN))
	for (t = 0; t < p->n * p->oc; t++) {
		k_idx o = t % p->oc, bn = t / p->oc, oy, ki, kj, ox, L = 0, H = p->ow;
		k_idx lo[K_DW_MAXKW], hi[K_DW_MAXKW];
		const float *xc = x + (bn * p->c + o / mult) * p->h * p->w;
		const float *wo = w + o * p->kh * p->kw;
		float *yo = y + t * ohw;
		float bias = b ? b[o] : 0.0f;
		if (p->kw > K_DW_MAXKW) { /* rare: the plain loops */
			for (ox = 0; ox < ohw; ox++)
				yo[ox] = bias;
			for (oy = 0; oy < p->oh; oy++)
				for (ki = 0; ki < p->kh; ki++) {
					k_idx iy = oy * p->stride_h - p->pad_h + ki * p->dil_h;
					if (iy < 0 || iy >= p->h)
						continue;
					for (kj = 0; kj < p->kw; kj++)
						for (ox = 0; ox < p->ow; ox++) {
							k_idx ix = ox * p->stride_w - p->pad_w + kj * p->dil_w;
							if (ix >= 0 && ix < p->w)
								yo[oy * p->ow + ox] += wo[ki * p->kw + kj] * xc[iy * p->w + ix];
						}
				}
			k_epi_row(&e, 0, yo, p->res ? p->res + t * ohw : NULL, ohw);
			continue;
		}
		for (kj = 0; kj < p->kw; kj++) {
			k_conv_range(kj * p->dil_w - p->pad_w, p->stride_w, p->w, p->ow, &lo[kj], &hi[kj]);
			L = lo[kj] > L ? lo[kj] : L;
			H = hi[kj] < H ? hi[kj] : H;
		}
		for (oy = 0; oy < p->oh; oy++) {
			float *yr = yo + oy * p->ow;
			for (ox = 0; ox < p->ow; ox++)
				yr[ox] = bias;
			for (ki = 0; ki < p->kh; ki++) {
				k_idx iy = oy * p->stride_h - p->pad_h + ki * p->dil_h;
				if (iy >= 0 && iy < p->h)
					k_dw_row(p, xc + iy * p->w, wo + ki * p->kw, lo, hi, L, H, yr);
			}
			k_epi_row(&e, 0, yr, p->res ? p->res + t * ohw + oy * p->ow : NULL, p->ow);
		}
	}
}

/* Valid range [*lo, *hi) of t in [0, n) with 0 <= ix0 + t*s < w; divides only at the edges. */
static inline K_UNUSED void k_run_range(k_idx ix0, k_idx s, k_idx w, k_idx n, k_idx *lo, k_idx *hi)
{
	k_idx a = 0, b = n;

	if (ix0 < 0)
		a = s == 1 ? -ix0 : (-ix0 + s - 1) / s;
	if (ix0 + (n - 1) * s >= w)
		b = w - ix0 <= 0 ? 0 : (s == 1 ? w - ix0 : (w - 1 - ix0) / s + 1);
	*lo = a < n ? a : n;
	*hi = b < *lo ? *lo : b;
}

/* d[0:n] = s[0:n] for n <= K_NR: masked moves with AVX2 (no libc call for a few floats). */
static inline K_UNUSED void k_copy_nr(float *d, const float *s, k_idx n)
{
#if K_AVX2
	__m256i nv = _mm256_set1_epi32((int)n);
	__m256i m0 = _mm256_cmpgt_epi32(nv, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	__m256i m1 = _mm256_cmpgt_epi32(nv, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15));

	_mm256_maskstore_ps(d, m0, _mm256_maskload_ps(s, m0));
	_mm256_maskstore_ps(d + 8, m1, _mm256_maskload_ps(s + 8, m1));
#else
	memcpy(d, s, (size_t)n * sizeof(float));
#endif
}

/*
 * Panel jp of the im2col of group g of image xn: dst[row*K_NR + l] = input under tap row
 * (ci, ki, kj) for output pixel jp*K_NR + l, zero padded.  The panel's pixels are split into
 * runs within one output row, so each (tap, run) is one bounds check and a strided copy.
 */
static K_UNUSED void k_im2col_panel(const struct k_conv2d *p, const float *xn, k_idx g, k_idx jp,
				    float *dst)
{
	k_idx icg = p->c / p->groups, ohw = p->oh * p->ow, q0 = jp * K_NR;
	k_idx cols = k_min_idx(K_NR, ohw - q0), sw = p->stride_w, kw = p->kw;
	k_idx rl[K_NR], roy[K_NR], rox[K_NR], rn[K_NR], nrun = 0, l, r, t, ci, ki, kj;

	for (l = 0; l < cols; l += rn[nrun++]) {
		k_idx q = q0 + l;
		rl[nrun] = l, roy[nrun] = q / p->ow, rox[nrun] = q % p->ow;
		rn[nrun] = k_min_idx(cols - l, p->ow - rox[nrun]);
	}
	if (cols < K_NR)
		for (l = 0; l < icg * p->kh * kw; l++)
			memset(dst + l * K_NR + cols, 0, (size_t)(K_NR - cols) * sizeof(float));
	for (ci = 0; ci < icg; ci++) {
		const float *xc = xn + (g * icg + ci) * p->h * p->w;
		for (ki = 0; ki < p->kh; ki++) {
			float *dk = dst + ((ci * p->kh + ki) * kw) * K_NR;
			for (r = 0; r < nrun; r++) {
				k_idx iy = roy[r] * p->stride_h - p->pad_h + ki * p->dil_h, n = rn[r];
				const float *xr = xc + iy * p->w;
				if (iy < 0 || iy >= p->h) {
					for (kj = 0; kj < kw; kj++)
						memset(dk + kj * K_NR + rl[r], 0, (size_t)n * sizeof(float));
					continue;
				}
				for (kj = 0; kj < kw; kj++) {
					k_idx ix0 = rox[r] * sw - p->pad_w + kj * p->dil_w, lo, hi;
					float *d = dk + kj * K_NR + rl[r];
					const float *xs;
					k_run_range(ix0, sw, p->w, n, &lo, &hi);
					xs = xr + (hi > lo ? ix0 + lo * sw : 0); /* input of t = lo */
					for (t = 0; t < lo; t++) d[t] = 0.0f;
					if (sw == 1)
						k_copy_nr(d + lo, xs, hi - lo);
					else
						for (t = 0; t < hi - lo; t++) d[lo + t] = xs[t * sw];
					for (t = hi; t < n; t++) d[t] = 0.0f;
				}
			}
		}
	}
}

/* im2col of group g of image xn into all packed-B panels: row (ci, ki, kj), column oy*ow + ox. */
static K_UNUSED void k_im2col_packed(const struct k_conv2d *p, const float *xn, k_idx g, float *dst)
{
	k_idx kk = p->c / p->groups * p->kh * p->kw, ohw = p->oh * p->ow;
	k_idx np = (ohw + K_NR - 1) / K_NR, jp;

	K_OMP(omp parallel for schedule(static) if (kk * ohw > K_PAR_MIN))
	for (jp = 0; jp < np; jp++)
		k_im2col_panel(p, xn, g, jp, dst + jp * kk * K_NR);
}

/* What the GEMM's panel packer needs to build B for one image and group. */
struct k_conv_b {
	const struct k_conv2d *p; /* the conv */
	const float *xn;          /* the image */
	k_idx g;                  /* the group */
};

static K_UNUSED void k_conv_pack(const void *ctx, k_idx j, float *dst)
{
	const struct k_conv_b *c = (const struct k_conv_b *)ctx;
	const struct k_conv2d *p = c->p;
	k_idx icg = p->c / p->groups, ohw = p->oh * p->ow;

	if (k_conv2d_is_1x1(p))
		k_pack_b_panel(icg, ohw, c->xn + c->g * icg * ohw, ohw, 1, j, dst);
	else
		k_im2col_panel(p, c->xn, c->g, j, dst);
}

/* y = conv2d(x, w) + b, then res and act. scratch holds k_conv2d_scratch(p) bytes. */
static K_UNUSED void k_conv2d_f32(const struct k_conv2d *p, const float *x, const float *w, const float *b,
				  float *y, void *scratch)
{
	k_idx icg = p->c / p->groups, ocg = p->oc / p->groups, kk = icg * p->kh * p->kw;
	k_idx ohw = p->oh * p->ow, bn, g;

	if (k_conv2d_is_dw(p)) {
		k_conv2d_dw(p, x, w, b, y);
		return;
	}
	for (bn = 0; bn < p->n; bn++) {
		for (g = 0; g < p->groups; g++) {
			k_idx off = (bn * p->oc + g * ocg) * ohw;
			const float *res = p->res ? p->res + off : NULL;
			struct k_conv_b cb = { p, x + bn * p->c * p->h * p->w, g };
			struct k_epi e = { 1.0f, 1.0f, b ? b + g * ocg : NULL, 1, 0, res, p->act, p->min, p->max,
					   p->slope };
			struct k_mm_job job = { ocg, ohw, kk, w + g * ocg * kk, K_MR * kk, kk, 1, (float *)scratch,
						k_conv_pack, &cb, y + off, ohw, &e, res };
			k_mm_run(&job);
		}
	}
}
