/* kiln runtime: conv2d (direct depthwise, im2col + GEMM). needs: k_base k_gemm */
/*
 * Weights are [oc][c/groups][kh][kw], bias [oc] or NULL, output [n][oc][oh][ow] with oh, ow
 * computed by the caller.  Three paths:
 *   - one input channel per group (depthwise, any channel multiplier): direct loops over
 *     the valid output range of each tap, no scratch;
 *   - 1x1, stride 1, no padding: the input image is B of a GEMM as it stands;
 *   - otherwise im2col straight into GEMM's packed-B panels.
 * The epilogue adds bias, then res, then applies act.
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

/* Scratch bytes: packed weights of every group plus one packed im2col matrix. */
static K_UNUSED size_t k_conv2d_scratch(const struct k_conv2d *p)
{
	k_idx icg = p->c / p->groups, ocg = p->oc / p->groups, kk = icg * p->kh * p->kw;

	if (k_conv2d_is_dw(p))
		return 0;
	return (size_t)(p->groups * k_round_up(ocg, K_MR) * kk + kk * k_round_up(p->oh * p->ow, K_NR)) *
	       sizeof(float);
}

/* First output index o in [0, n) with 0 <= o*s + off, and one past the last with o*s + off < lim. */
static inline K_UNUSED void k_conv_range(k_idx off, k_idx s, k_idx lim, k_idx n, k_idx *lo, k_idx *hi)
{
	k_idx a = off >= 0 ? 0 : (-off + s - 1) / s;
	k_idx b = lim - 1 - off < 0 ? 0 : (lim - 1 - off) / s + 1;

	*lo = a;
	*hi = b < n ? b : n;
}

/* Depthwise: output channel o reads input channel o / (oc / groups). */
static K_UNUSED void k_conv2d_dw(const struct k_conv2d *p, const float *x, const float *w, const float *b,
				 float *y)
{
	k_idx mult = p->oc / p->groups, ohw = p->oh * p->ow, t;
	struct k_epi e = { 1.0f, 1.0f, NULL, 0, 0, NULL, p->act, p->min, p->max, p->slope };

	K_OMP(omp parallel for schedule(static) if (p->n * p->oc * ohw * p->kh * p->kw > K_PAR_MIN))
	for (t = 0; t < p->n * p->oc; t++) {
		k_idx o = t % p->oc, bn = t / p->oc, oy, ki, kj, ox;
		const float *xc = x + (bn * p->c + o / mult) * p->h * p->w;
		const float *wo = w + o * p->kh * p->kw;
		float *yo = y + t * ohw;
		float bias = b ? b[o] : 0.0f;
		for (ox = 0; ox < ohw; ox++)
			yo[ox] = bias;
		for (oy = 0; oy < p->oh; oy++) {
			float *yr = yo + oy * p->ow;
			for (ki = 0; ki < p->kh; ki++) {
				k_idx iy = oy * p->stride_h - p->pad_h + ki * p->dil_h;
				const float *xr = xc + iy * p->w;
				if (iy < 0 || iy >= p->h)
					continue;
				for (kj = 0; kj < p->kw; kj++) {
					k_idx off = kj * p->dil_w - p->pad_w, lo, hi, sw = p->stride_w;
					float wv = wo[ki * p->kw + kj];
					k_conv_range(off, sw, p->w, p->ow, &lo, &hi);
					if (sw == 1)
						for (ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox + off];
					else
						for (ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * sw + off];
				}
			}
		}
		k_epi_row(&e, 0, yo, p->res ? p->res + t * ohw : NULL, ohw);
	}
}

/* im2col of group g of image xn into packed-B panels: row (ci, ki, kj), column oy*ow + ox. */
static K_UNUSED void k_im2col_packed(const struct k_conv2d *p, const float *xn, k_idx g, float *dst)
{
	k_idx icg = p->c / p->groups, kk = icg * p->kh * p->kw, ohw = p->oh * p->ow;
	k_idx np = (ohw + K_NR - 1) / K_NR, jp;

	K_OMP(omp parallel for schedule(static) if (kk * ohw > K_PAR_MIN))
	for (jp = 0; jp < np; jp++) {
		k_idx iy0[K_NR], ix0[K_NR], l, ci, ki, kj, row = 0;
		float *d = dst + jp * kk * K_NR;
		for (l = 0; l < K_NR; l++) {
			k_idx q = jp * K_NR + l;
			iy0[l] = q < ohw ? (q / p->ow) * p->stride_h - p->pad_h : -((k_idx)1 << 40);
			ix0[l] = q < ohw ? (q % p->ow) * p->stride_w - p->pad_w : -((k_idx)1 << 40);
		}
		for (ci = 0; ci < icg; ci++) {
			const float *xc = xn + (g * icg + ci) * p->h * p->w;
			for (ki = 0; ki < p->kh; ki++) {
				for (kj = 0; kj < p->kw; kj++, row++) {
					float *dr = d + row * K_NR;
					for (l = 0; l < K_NR; l++) {
						k_idx iy = iy0[l] + ki * p->dil_h, ix = ix0[l] + kj * p->dil_w;
						int in = iy >= 0 && iy < p->h && ix >= 0 && ix < p->w;
						dr[l] = in ? xc[iy * p->w + ix] : 0.0f;
					}
				}
			}
		}
	}
}

/* y = conv2d(x, w) + b, then res and act. scratch holds k_conv2d_scratch(p) bytes. */
static K_UNUSED void k_conv2d_f32(const struct k_conv2d *p, const float *x, const float *w, const float *b,
				  float *y, void *scratch)
{
	k_idx icg = p->c / p->groups, ocg = p->oc / p->groups, kk = icg * p->kh * p->kw;
	k_idx ohw = p->oh * p->ow, ast = k_round_up(ocg, K_MR) * kk, bn, g;
	float *ap = (float *)scratch, *bp = ap + p->groups * ast;

	if (k_conv2d_is_dw(p)) {
		k_conv2d_dw(p, x, w, b, y);
		return;
	}
	for (g = 0; g < p->groups; g++)
		k_pack_a(ocg, kk, w + g * ocg * kk, kk, 1, ap + g * ast);
	for (bn = 0; bn < p->n; bn++) {
		const float *xn = x + bn * p->c * p->h * p->w;
		float *yn = y + bn * p->oc * ohw;
		struct k_epi e = { 1.0f, 1.0f, b, 1, 0, p->res ? p->res + bn * p->oc * ohw : NULL,
				   p->act, p->min, p->max, p->slope };
		for (g = 0; g < p->groups; g++) {
			if (k_conv2d_is_1x1(p))
				k_pack_b(kk, ohw, xn + g * icg * ohw, ohw, 1, bp);
			else
				k_im2col_packed(p, xn, g, bp);
			k_gemm_packed(ocg, ohw, kk, ap + g * ast, bp, yn + g * ocg * ohw, ohw);
		}
		k_epilogue(&e, yn, p->oc, ohw);
	}
}
