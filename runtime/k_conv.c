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
 *
 * With weights packed at compile time (p->packed), a fourth path, pixel rows, takes every
 * conv k_conv2d_is_pr accepts (see k_conv2d_pr), and a fifth, Winograd F(2x2, 3x3), the 3x3
 * stride-1 convs k_conv2d_is_wino accepts (see k_conv2d_wino).
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
	int packed;                /* w is in k_conv2d_pack's layout, packed by kiln at compile
				    * time (k_conv2d_pack_kind): K_PACKED_PR, the pixel-row
				    * path, or K_PACKED_WINO, Winograd's; 0: as it is */
};

/* True if each group has one input channel: the direct depthwise kernel handles it. */
static inline K_UNUSED int k_conv2d_is_dw(const struct k_conv2d *p) { return p->c == p->groups; }

static inline K_UNUSED int k_conv2d_is_1x1(const struct k_conv2d *p)
{
	return p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
	       p->pad_w == 0;
}

/*
 * True if the direct path takes p: stride 1 across, not depthwise, not a 1x1 stride-1 conv
 * (a plain GEMM), and output rows wide enough that K_NR-pixel panels within one row leave
 * at most a quarter of the register tile's columns unused.
 */
static inline K_UNUSED int k_conv2d_is_direct(const struct k_conv2d *p)
{
	k_idx panels = (p->ow + K_NR - 1) / K_NR;

	return p->stride_w == 1 && !k_conv2d_is_dw(p) && !k_conv2d_is_1x1(p) && p->ow * 4 >= panels * K_NR * 3;
}

/* Floats of the direct path's zero-padded image, with K_NR floats of slack: the last panel of
 * a row reads past its end. */
static inline K_UNUSED k_idx k_conv_padded(const struct k_conv2d *p)
{
	return p->c * (p->h + 2 * p->pad_h) * (p->w + 2 * p->pad_w) + 2 * K_NR;
}

/*
 * The pixel-row path.  A register tile is K_PR_MR output pixels (rows: any pixels, each
 * read through its own pointer into the zero-padded image, so a tile may span output rows
 * and any stride works without im2col) by K_NR output channels (columns: one vector load
 * of the packed weights per tap).  Up to K_PR_TB tiles take turns over each slice of
 * K_PR_KC taps, so the slice's weights stay in L1 (partial sums wait in a small buffer
 * between slices).  A finished tile is transposed in registers and stored as K_NR runs of
 * K_PR_MR pixels into the NCHW output, after bias, residual and activation.  Only the last
 * tile of an image has unused rows and only the last panel of a group unused columns.
 */
#define K_PR_MR 6
#define K_PR_KC 256     /* taps per slice: a slice of a panel's weights (16 KB) stays in L1 */
#define K_PR_TB 16      /* tiles that take turns over one slice */
#define K_PR_MIN_K1 256 /* a 1x1 stride-1 conv takes this path from this K, */
#define K_PR_MAX_HW1 64 /* or up to this many output pixels; else the GEMM */
#define K_PR_TR_OC 256  /* see k_pr_transposes */

/* True if the pixel-row path takes p (when its weights are packed). */
static inline K_UNUSED int k_conv2d_is_pr(const struct k_conv2d *p)
{
	k_idx kk = p->c / p->groups * p->kh * p->kw;

	if (k_conv2d_is_dw(p) || p->oh * p->ow == 0)
		return 0;
	return !k_conv2d_is_1x1(p) || kk >= K_PR_MIN_K1 || p->oh * p->ow <= K_PR_MAX_HW1;
}

#define K_PACKED_PR 1   /* k_conv2d.packed: weights in k_conv2d_pack's pixel-row layout */
#define K_PACKED_WINO 2 /* ... transformed for Winograd by k_conv2d_pack_wino */
#define K_WG_BYTES (1 << 20) /* a block's V and M at most (or one tile row's) */
#define K_WG_CCH 64 /* channels a task transforms */
#define K_WG_MIN_TILES 32 /* fewer tiles use the transformed weights too few times to pay */
#define K_WG_MIN_C 32     /* fewer input channels make products too short to pay */

/* True if the Winograd path takes p (when kiln transforms its weights). */
static inline K_UNUSED int k_conv2d_is_wino(const struct k_conv2d *p)
{
	return p->kh == 3 && p->kw == 3 && p->stride_h == 1 && p->stride_w == 1 && p->dil_h == 1 &&
	       p->dil_w == 1 && p->groups == 1 && p->c >= K_WG_MIN_C && p->oc >= 8 &&
	       (p->oh + 1) / 2 * ((p->ow + 1) / 2) >= K_WG_MIN_TILES;
}

/* How kiln packs p's weights at compile time: K_PACKED_WINO, K_PACKED_PR, or 0 (as they are). */
static inline K_UNUSED int k_conv2d_pack_kind(const struct k_conv2d *p)
{
	return k_conv2d_is_wino(p) ? K_PACKED_WINO : k_conv2d_is_pr(p) ? K_PACKED_PR : 0;
}

/* Floats of the transformed weights: 16 of [ceil(oc / K_MR) strips][c][K_MR]. */
static inline K_UNUSED k_idx k_conv2d_wino_size(const struct k_conv2d *p)
{
	return 16 * k_round_up(p->oc, K_MR) * p->c;
}

/* dst[((xi*ns + o/K_MR)*c + ci)*K_MR + o%K_MR] = (G g G^T)[xi/4][xi%4] for g = w[o][ci], zero
 * past oc; G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. */
static K_UNUSED void k_conv2d_pack_wino(const struct k_conv2d *p, const float *w, float *dst)
{
	k_idx ns = (p->oc + K_MR - 1) / K_MR, o, ci, i, j;

	memset(dst, 0, (size_t)k_conv2d_wino_size(p) * sizeof(float));
	for (o = 0; o < p->oc; o++)
		for (ci = 0; ci < p->c; ci++) {
			const float *f = w + (o * p->c + ci) * 9;
			double t[4][3], u[4][4];
			for (j = 0; j < 3; j++) {
				t[0][j] = f[j], t[3][j] = f[6 + j];
				t[1][j] = 0.5 * ((double)f[j] + f[3 + j] + f[6 + j]);
				t[2][j] = 0.5 * ((double)f[j] - f[3 + j] + f[6 + j]);
			}
			for (i = 0; i < 4; i++) {
				u[i][0] = t[i][0], u[i][3] = t[i][2];
				u[i][1] = 0.5 * (t[i][0] + t[i][1] + t[i][2]);
				u[i][2] = 0.5 * (t[i][0] - t[i][1] + t[i][2]);
			}
			for (i = 0; i < 16; i++)
				dst[((i * ns + o / K_MR) * p->c + ci) * K_MR + o % K_MR] = (float)u[i / 4][i % 4];
		}
}

/* The Winograd path's sizes. */
struct k_wg {
	const struct k_conv2d *p;
	k_idx th, tw, nt;  /* tiles down, across, in all */
	k_idx ph, pw;      /* the padded image: 2*th + 2 rows of 2*tw + 2 */
	k_idx rb, pb;      /* tile rows a block (the last may have fewer); panels of K_NR tiles it takes */
	k_idx ms;          /* floats of one weight strip's M: 16 x K_MR rows of pb*K_NR */
};

static inline K_UNUSED struct k_wg k_wg_sizes(const struct k_conv2d *p)
{
	struct k_wg g;
	k_idx tile = 16 * (p->c + K_MR * ((p->oc + K_MR - 1) / K_MR)) * (k_idx)sizeof(float);

	g.p = p, g.th = (p->oh + 1) / 2, g.tw = (p->ow + 1) / 2, g.nt = g.th * g.tw;
	g.ph = 2 * g.th + 2, g.pw = 2 * g.tw + 2;
	g.rb = k_min_idx(g.th, k_max_idx(1, K_WG_BYTES / tile / g.tw));
	g.pb = (g.rb * g.tw + K_NR - 1) / K_NR;
	g.ms = 16 * K_MR * g.pb * K_NR;
	return g;
}

/* Scratch bytes of the Winograd path: the padded image, a block's V, its M. */
static inline K_UNUSED size_t k_conv2d_wino_scratch(const struct k_conv2d *p)
{
	struct k_wg g = k_wg_sizes(p);
	k_idx ns = (p->oc + K_MR - 1) / K_MR;

	return (size_t)(p->c * g.ph * g.pw + g.pb * p->c * 16 * K_NR + ns * g.ms) * sizeof(float);
}

/* Floats of the packed weights: per group, ceil(ocg / K_NR) panels of [K][K_NR]. */
static inline K_UNUSED k_idx k_conv2d_packed_size(const struct k_conv2d *p)
{
	k_idx ocg = p->oc / p->groups, kk = p->c / p->groups * p->kh * p->kw;

	if (p->packed == K_PACKED_WINO)
		return k_conv2d_wino_size(p);
	return p->groups * k_round_up(ocg, K_NR) * kk;
}

/* Packs w [oc][c/groups][kh][kw] for the path p->packed names: Winograd's (k_conv2d_pack_wino),
 * else the pixel-row path's, dst[((g*np + j)*K + t)*K_NR + l] = w[g*ocg + j*K_NR + l][t], zero
 * where the channel is past ocg. */
static K_UNUSED void k_conv2d_pack(const struct k_conv2d *p, const float *w, float *dst)
{
	k_idx ocg = p->oc / p->groups, kk = p->c / p->groups * p->kh * p->kw;
	k_idx np = (ocg + K_NR - 1) / K_NR, g, j, t, l;

	if (p->packed == K_PACKED_WINO) {
		k_conv2d_pack_wino(p, w, dst);
		return;
	}
	for (g = 0; g < p->groups; g++)
		for (j = 0; j < np; j++)
			for (t = 0; t < kk; t++)
				for (l = 0; l < K_NR; l++) {
					k_idx o = j * K_NR + l;
					*dst++ = o < ocg ? w[(g * ocg + o) * kk + t] : 0.0f;
				}
}

/* Whether the pixel-row path reads a zero-padded copy of the image (else x itself). */
static inline K_UNUSED int k_pr_copies(const struct k_conv2d *p) { return p->pad_h || p->pad_w; }

/* Whether it reads a pixel-major copy ([pixel][channel]) instead: a 1x1 conv over more than
 * one pixel and at most K_PR_MAX_HW1, or with at least K_PR_TR_OC output channels (the copy
 * is small beside the work); its tiles then read their six pixels' channels as six runs,
 * not six floats of every channel's plane. */
static inline K_UNUSED int k_pr_transposes(const struct k_conv2d *p)
{
	k_idx ohw = p->oh * p->ow;

	return k_conv2d_is_1x1(p) && p->groups == 1 && ohw > 1 && (ohw <= K_PR_MAX_HW1 || p->oc >= K_PR_TR_OC);
}

/* Scratch bytes of the pixel-row path: the tap offsets, then the padded or pixel-major image
 * if any. */
static inline K_UNUSED size_t k_conv2d_pr_scratch(const struct k_conv2d *p)
{
	k_idx kk = p->c / p->groups * p->kh * p->kw;
	size_t img = k_pr_copies(p) || k_pr_transposes(p) ?
		     (size_t)(p->c * (p->h + 2 * p->pad_h) * (p->w + 2 * p->pad_w)) : 0;

	return (size_t)kk * sizeof(k_idx) + img * sizeof(float);
}

/* Scratch bytes: the direct path's tap offsets and padded image, else one packed im2col
 * matrix (panels of K_NR output pixels). */
static K_UNUSED size_t k_conv2d_scratch(const struct k_conv2d *p)
{
	k_idx kk = p->c / p->groups * p->kh * p->kw;

	if (p->packed == K_PACKED_WINO)
		return k_conv2d_wino_scratch(p);
	if (p->packed)
		return k_conv2d_pr_scratch(p);
	if (k_conv2d_is_dw(p))
		return 0;
	if (k_conv2d_is_direct(p))
		return (size_t)kk * sizeof(k_idx) + (size_t)k_conv_padded(p) * sizeof(float);
	return (size_t)(kk * k_round_up(p->oh * p->ow, K_NR)) * sizeof(float);
}

/* d = plane xc (h x w) with p's zero padding: h + 2*pad_h rows of w + 2*pad_w floats. */
static K_UNUSED void k_pad_plane(const struct k_conv2d *p, const float *xc, float *d)
{
	k_idx pw = p->w + 2 * p->pad_w, i, l;

	memset(d, 0, (size_t)(p->pad_h * pw) * sizeof(float));
	for (i = 0; i < p->h; i++) {
		float *dr = d + (p->pad_h + i) * pw;
		for (l = 0; l < p->pad_w; l++)
			dr[l] = 0.0f, dr[pw - 1 - l] = 0.0f;
		memcpy(dr + p->pad_w, xc + i * p->w, (size_t)p->w * sizeof(float));
	}
	memset(d + (p->pad_h + p->h) * pw, 0, (size_t)(p->pad_h * pw) * sizeof(float));
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

#if K_AVX2
#define K_DW_PLANE 16384 /* floats of the zero-padded input plane kept on the stack */
#define K_DW_TAPS 64     /* most kh*kw taps of the vector depthwise kernel */
#define K_DW_CHUNK 8192  /* multiply-adds a thread takes at a time, at least a plane */

/* True if the vector depthwise kernel takes p: stride 1 or 2 across, a padded plane that fits
 * on the stack. */
static inline K_UNUSED int k_dw_vec_ok(const struct k_conv2d *p)
{
	k_idx ph = p->h + 2 * p->pad_h, pw = p->w + 2 * p->pad_w;

	return (p->stride_w == 1 || p->stride_w == 2) && p->kh * p->kw <= K_DW_TAPS &&
	       ph * pw <= K_DW_PLANE && p->ow > 0 && p->oh > 0;
}

/* 8 taps of a padded row at s, s + sw, ..., s + 7*sw for sw 1 or 2 (2: the even floats of 16). */
static inline K_UNUSED __m256 k_dw_load(const float *s, k_idx sw)
{
	__m256 a, b;

	if (sw == 1)
		return _mm256_loadu_ps(s);
	a = _mm256_loadu_ps(s), b = _mm256_loadu_ps(s + 8);
	a = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 | a4 a6 b4 b6 */
	return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(a), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* The even and the odd floats of the 16 in lo, hi. */
static inline K_UNUSED void k_deint(__m256 lo, __m256 hi, __m256 *ev, __m256 *od)
{
	__m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
	__m256 o = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));

	*ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
	*od = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* One output row of a 3x3 depthwise conv (dilation 1 across) from padded rows r0, r1, r2:
 * yr[ox] = act(bias + sum of the 9 taps); sw is 1 or 2 (a constant where it is inlined). */
static inline K_UNUSED void k_dw_row3(const float *r0, const float *r1, const float *r2, k_idx sw,
				      const __m256 *wv, __m256 bv, float *yr, k_idx ow, int inl,
				      enum k_act act, __m256 vlo, __m256 vhi, const float *end)
{
	__m256 w0 = wv[0], w1 = wv[1], w2 = wv[2], w3 = wv[3], w4 = wv[4], w5 = wv[5];
	__m256 w6 = wv[6], w7 = wv[7], w8 = wv[8];
	k_idx ox;

	for (ox = 0; ox < ow; ox += 8) {
		const float *a = r0 + ox * sw, *b = r1 + ox * sw, *c = r2 + ox * sw;
		__m256 s0 = _mm256_fmadd_ps(w0, k_dw_load(a, sw), bv);
		__m256 s1 = _mm256_mul_ps(w1, k_dw_load(a + 1, sw));
		__m256 s2 = _mm256_mul_ps(w2, k_dw_load(a + 2, sw));
		s0 = _mm256_fmadd_ps(w3, k_dw_load(b, sw), s0);
		s1 = _mm256_fmadd_ps(w4, k_dw_load(b + 1, sw), s1);
		s2 = _mm256_fmadd_ps(w5, k_dw_load(b + 2, sw), s2);
		s0 = _mm256_fmadd_ps(w6, k_dw_load(c, sw), s0);
		s1 = _mm256_fmadd_ps(w7, k_dw_load(c + 1, sw), s1);
		s2 = _mm256_fmadd_ps(w8, k_dw_load(c + 2, sw), s2);
		s0 = _mm256_add_ps(_mm256_add_ps(s0, s1), s2);
		if (inl)
			s0 = k_act8(act, s0, vlo, vhi);
		if (ox + 8 <= ow)
			_mm256_storeu_ps(yr + ox, s0);
		else
			k_store8_upto(yr + ox, s0, end);
	}
}

/* Two output rows of a 3x3 depthwise conv with stride and dilation 1: y0 from padded rows
 * r0, r0 + pw, r0 + 2*pw and y1 from the three below; the middle rows' shifted vectors are
 * loaded once for both (12 loads for two vectors, not 18). */
static inline K_UNUSED void k_dw_rows3x2(const float *r0, k_idx pw, const __m256 *wv, __m256 bv,
					 float *y0, float *y1, k_idx ow, int inl, enum k_act act,
					 __m256 vlo, __m256 vhi, __m256i mask, const float *end)
{
	__m256 w0 = wv[0], w1 = wv[1], w2 = wv[2], w3 = wv[3], w4 = wv[4], w5 = wv[5];
	__m256 w6 = wv[6], w7 = wv[7], w8 = wv[8];
	k_idx ox;

	for (ox = 0; ox < ow; ox += 8) {
		const float *a = r0 + ox;
		__m256 x0 = _mm256_loadu_ps(a), x1 = _mm256_loadu_ps(a + 1), x2 = _mm256_loadu_ps(a + 2);
		__m256 s0 = _mm256_fmadd_ps(w0, x0, bv), t0 = _mm256_mul_ps(w1, x1), s1, t1;
		s0 = _mm256_fmadd_ps(w2, x2, s0);
		a += pw, x0 = _mm256_loadu_ps(a), x1 = _mm256_loadu_ps(a + 1), x2 = _mm256_loadu_ps(a + 2);
		t0 = _mm256_fmadd_ps(w3, x0, t0), s0 = _mm256_fmadd_ps(w4, x1, s0), t0 = _mm256_fmadd_ps(w5, x2, t0);
		s1 = _mm256_fmadd_ps(w0, x0, bv), t1 = _mm256_mul_ps(w1, x1), s1 = _mm256_fmadd_ps(w2, x2, s1);
		a += pw, x0 = _mm256_loadu_ps(a), x1 = _mm256_loadu_ps(a + 1), x2 = _mm256_loadu_ps(a + 2);
		s0 = _mm256_fmadd_ps(w6, x0, s0), t0 = _mm256_fmadd_ps(w7, x1, t0), s0 = _mm256_fmadd_ps(w8, x2, s0);
		t1 = _mm256_fmadd_ps(w3, x0, t1), s1 = _mm256_fmadd_ps(w4, x1, s1), t1 = _mm256_fmadd_ps(w5, x2, t1);
		a += pw, x0 = _mm256_loadu_ps(a), x1 = _mm256_loadu_ps(a + 1), x2 = _mm256_loadu_ps(a + 2);
		s1 = _mm256_fmadd_ps(w6, x0, s1), t1 = _mm256_fmadd_ps(w7, x1, t1), s1 = _mm256_fmadd_ps(w8, x2, s1);
		s0 = _mm256_add_ps(s0, t0), s1 = _mm256_add_ps(s1, t1);
		if (inl)
			s0 = k_act8(act, s0, vlo, vhi), s1 = k_act8(act, s1, vlo, vhi);
		if (ox + 8 <= ow) {
			_mm256_storeu_ps(y0 + ox, s0), _mm256_storeu_ps(y1 + ox, s1);
		} else { /* y1 is written already: y0's last vector is masked */
			_mm256_maskstore_ps(y0 + ox, mask, s0);
			k_store8_upto(y1 + ox, s1, end);
		}
	}
}

/*
 * One output row of a 3x3 depthwise conv with stride 2 and padding 1 (dilation 1), read
 * straight from the image: rr[i] is input row 2*oy - 1 + i (w floats), NULL for a padding
 * row.  Output column ox takes input columns 2*ox - 1 .. 2*ox + 1: the 16 floats of a row
 * from column 2*ox split into even columns (the middle tap) and odd ones (the right tap); the
 * left tap is the odd ones moved up a lane, lane 0 taking the previous block's last odd
 * column (zero at the image's left edge).  Floats past the row's end load as zero.
 */
static inline K_UNUSED void k_dw_row3s2(const float *const *rr, k_idx w, const __m256 *wv, __m256 bv,
					float *yr, k_idx ow, int inl, enum k_act act, __m256 vlo, __m256 vhi,
					const float *end)
{
	const __m256i up = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
	__m256 prev[3] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
	k_idx ox;
	int i;

	for (ox = 0; ox < ow; ox += 8) {
		k_idx left = w - 2 * ox;
		__m256 s = bv, t = _mm256_setzero_ps();
		for (i = 0; i < 3; i++) {
			const float *q = rr[i] ? rr[i] + 2 * ox : NULL;
			__m256 lo, hi, e, o, l;
			if (!q)
				continue;
			if (left >= 16)
				lo = _mm256_loadu_ps(q), hi = _mm256_loadu_ps(q + 8);
			else
				lo = _mm256_maskload_ps(q, k_lanes8(left)), hi = _mm256_maskload_ps(q + 8, k_lanes8(left - 8));
			k_deint(lo, hi, &e, &o);
			l = _mm256_blend_ps(_mm256_permutevar8x32_ps(o, up), _mm256_permutevar8x32_ps(prev[i], up), 1);
			prev[i] = o;
			s = _mm256_fmadd_ps(wv[3 * i], l, s);
			t = _mm256_fmadd_ps(wv[3 * i + 1], e, t);
			s = _mm256_fmadd_ps(wv[3 * i + 2], o, s);
		}
		s = _mm256_add_ps(s, t);
		if (inl)
			s = k_act8(act, s, vlo, vhi);
		if (ox + 8 <= ow)
			_mm256_storeu_ps(yr + ox, s);
		else
			k_store8_upto(yr + ox, s, end);
	}
}

/* q[0:8], lanes from n on zero (none loaded). */
static inline K_UNUSED __m256 k_dw_ld(const float *q, k_idx n)
{
	return n >= 8 ? _mm256_loadu_ps(q) : _mm256_maskload_ps(q, k_lanes8(n));
}

/*
 * Output rows y0 and y1 (NULL: y0 alone) of a 3x3 depthwise conv with stride 1 and padding 1
 * (dilation 1), read straight from the image: rr[i] is input row oy - 1 + i (w floats), NULL
 * for a padding row.  Each input row's three shifted vectors are loaded once for both output
 * rows; the left one of a row's first block is the middle one moved up a lane, a zero in
 * lane 0; floats past the row's end load as zero.
 */
static inline K_UNUSED void k_dw_rows3s1(const float *const *rr, k_idx w, const __m256 *wv, __m256 bv,
					 float *y0, float *y1, int inl, enum k_act act, __m256 vlo, __m256 vhi,
					 const float *end)
{
	const __m256i up = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
	__m256 z = _mm256_setzero_ps();
	k_idx ox;
	int i;

	for (ox = 0; ox < w; ox += 8) {
		__m256 s0 = bv, t0 = z, s1 = bv, t1 = z;
		for (i = 0; i < 4; i++) {
			const float *q = rr[i] ? rr[i] + ox : NULL;
			__m256 l, c, r;
			if (!q || (i == 3 && !y1))
				continue;
			c = k_dw_ld(q, w - ox), r = k_dw_ld(q + 1, w - ox - 1);
			l = ox ? k_dw_ld(q - 1, w - ox + 1) : _mm256_blend_ps(_mm256_permutevar8x32_ps(c, up), z, 1);
			if (i < 3) {
				s0 = _mm256_fmadd_ps(wv[3 * i], l, s0), t0 = _mm256_fmadd_ps(wv[3 * i + 1], c, t0);
				s0 = _mm256_fmadd_ps(wv[3 * i + 2], r, s0);
			}
			if (i > 0) {
				s1 = _mm256_fmadd_ps(wv[3 * i - 3], l, s1), t1 = _mm256_fmadd_ps(wv[3 * i - 2], c, t1);
				s1 = _mm256_fmadd_ps(wv[3 * i - 1], r, s1);
			}
		}
		s0 = _mm256_add_ps(s0, t0), s1 = _mm256_add_ps(s1, t1);
		if (inl)
			s0 = k_act8(act, s0, vlo, vhi), s1 = k_act8(act, s1, vlo, vhi);
		if (ox + 8 <= w) {
			_mm256_storeu_ps(y0 + ox, s0);
			if (y1)
				_mm256_storeu_ps(y1 + ox, s1);
		} else if (y1) { /* y1 is written already: y0's last vector is masked */
			_mm256_maskstore_ps(y0 + ox, k_lanes8(w - ox), s0);
			k_store8_upto(y1 + ox, s1, end);
		} else {
			k_store8_upto(y0 + ox, s0, end);
		}
	}
}

/*
 * Depthwise conv with AVX2/FMA: each input plane is copied once into a zero-padded plane on
 * the stack, so every output row is a run of 8-wide vectors (a masked one at the end) with no
 * edge cases: all kh*kw taps accumulate in registers and the row is stored once, with bias
 * and the activation (those k_act8 takes) applied on the way out; other epilogues run on the
 * row while it is in L1.
 */
static K_UNUSED void k_conv2d_dw_vec(const struct k_conv2d *p, const float *x, const float *w,
				     const float *b, float *y)
{
	k_idx mult = p->oc / p->groups, ohw = p->oh * p->ow, t;
	k_idx pw = p->w + 2 * p->pad_w, taps = p->kh * p->kw;
	int inl = k_act8_ok(p->act) && !p->res;
	float lo = p->act == K_ACT_RELU ? 0.0f : p->act == K_ACT_CLIP ? p->min : -INFINITY;
	float hi = p->act == K_ACT_CLIP ? p->max : INFINITY;
	struct k_epi e = { 1.0f, 1.0f, NULL, 0, 0, NULL, p->act, p->min, p->max, p->slope };
	/* planes a thread takes at a time: one plane of a small image is too little work to
	 * pay for taking it (the shared counter's cache line moves between cores) */
	int chunk = (int)k_max_idx(1, K_DW_CHUNK / (ohw * taps));

	(void)chunk;
	K_OMP(omp parallel for schedule(dynamic, chunk) if (p->n * p->oc * ohw * taps > K_PAR_MIN_MM))
	for (t = 0; t < p->n * p->oc; t++) {
		float pad[K_DW_PLANE + 64]; /* + slack: the last vectors of a row may read past it */
		__m256 wv[K_DW_TAPS], vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi), bv;
		k_idx o = t % p->oc, bn = t / p->oc, i, oy, ox, ki, kj, tail = p->ow % 8;
		const float *xc = x + (bn * p->c + o / mult) * p->h * p->w;
		float *yo = y + t * ohw;
		__m256i mask = k_lanes8(tail);

		for (i = 0; i < taps; i++)
			wv[i] = _mm256_set1_ps(w[o * taps + i]);
		bv = _mm256_set1_ps(b ? b[o] : 0.0f);
		if (p->kh == 3 && p->kw == 3 && p->stride_h == 2 && p->stride_w == 2 && p->pad_h == 1 &&
		    p->pad_w == 1 && p->dil_h == 1 && p->dil_w == 1) { /* no padded copy */
			for (oy = 0; oy < p->oh; oy++) {
				const float *rr[3];
				float *yr = yo + oy * p->ow;
				for (i = 0; i < 3; i++) {
					k_idx r = 2 * oy - 1 + i;
					rr[i] = r >= 0 && r < p->h ? xc + r * p->w : NULL;
				}
				k_dw_row3s2(rr, p->w, wv, bv, yr, p->ow, inl, p->act, vlo, vhi, yo + ohw);
				if (!inl)
					k_epi_row(&e, 0, yr, p->res ? p->res + t * ohw + oy * p->ow : NULL, p->ow);
			}
			continue;
		}
		if (p->kh == 3 && p->kw == 3 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 1 &&
		    p->pad_w == 1 && p->dil_h == 1 && p->dil_w == 1) { /* no padded copy either */
			for (oy = 0; oy < p->oh; oy += 2) {
				const float *rr[4];
				float *yr = yo + oy * p->ow;
				int two = oy + 1 < p->oh;
				for (i = 0; i < 4; i++) {
					k_idx r = oy - 1 + i;
					rr[i] = r >= 0 && r < p->h ? xc + r * p->w : NULL;
				}
				k_dw_rows3s1(rr, p->w, wv, bv, yr, two ? yr + p->ow : NULL, inl, p->act, vlo, vhi, yo + ohw);
				for (i = 0; i < 1 + two && !inl; i++)
					k_epi_row(&e, 0, yr + i * p->ow, p->res ? p->res + t * ohw + (oy + i) * p->ow : NULL,
						  p->ow);
			}
			continue;
		}
		k_pad_plane(p, xc, pad);
		memset(pad + (p->h + 2 * p->pad_h) * pw, 0, 64 * sizeof(float));
		if (p->kh == 3 && p->kw == 3 && p->dil_w == 1) {
			int two = p->stride_w == 1 && p->stride_h == 1 && p->dil_h == 1;
			k_idx rows;
			for (oy = 0; oy < p->oh; oy += rows) {
				const float *r0 = pad + oy * p->stride_h * pw;
				const float *r1 = r0 + p->dil_h * pw, *r2 = r1 + p->dil_h * pw;
				float *yr = yo + oy * p->ow;
				rows = two && oy + 1 < p->oh ? 2 : 1;
				if (rows == 2)
					k_dw_rows3x2(r0, pw, wv, bv, yr, yr + p->ow, p->ow, inl, p->act, vlo, vhi, mask,
						     yo + ohw);
				else if (p->stride_w == 1)
					k_dw_row3(r0, r1, r2, 1, wv, bv, yr, p->ow, inl, p->act, vlo, vhi, yo + ohw);
				else
					k_dw_row3(r0, r1, r2, 2, wv, bv, yr, p->ow, inl, p->act, vlo, vhi, yo + ohw);
				for (i = 0; i < rows && !inl; i++)
					k_epi_row(&e, 0, yr + i * p->ow, p->res ? p->res + t * ohw + (oy + i) * p->ow : NULL,
						  p->ow);
			}
			continue;
		}
		/* other kernels: blocks of four independent sums, 2 output rows x 16 columns, or
		 * 4 rows x 8 columns when rows are short */
		{
			k_idx rows = p->ow <= 8 ? 4 : 2, cols = 32 / rows, sw = p->stride_w, r;
			for (oy = 0; oy < p->oh; oy += rows) {
				k_idx nrow = k_min_idx(rows, p->oh - oy);
				const float *rp[4];
				for (r = 0; r < 4; r++)
					rp[r] = pad + (oy + (r < nrow ? r : 0)) * p->stride_h * pw;
				for (ox = 0; ox < p->ow; ox += cols) {
					__m256 a0 = bv, a1 = bv, a2 = bv, a3 = bv, av[4];
					k_idx ncol = k_min_idx(cols, p->ow - ox);
					/* the four sums: (row 0, cols 0-7), (row 0 or 1, cols 8-15 or 0-7), ... */
					const float *s0 = rp[0] + ox * sw;
					const float *s1 = rows == 2 ? s0 + 8 * sw : rp[1] + ox * sw;
					const float *s2 = rows == 2 ? rp[1] + ox * sw : rp[2] + ox * sw;
					const float *s3 = rows == 2 ? s2 + 8 * sw : rp[3] + ox * sw;
					for (ki = 0; ki < p->kh; ki++) {
						k_idx d = ki * p->dil_h * pw;
						for (kj = 0; kj < p->kw; kj++) {
							__m256 wk = wv[ki * p->kw + kj];
							k_idx q = d + kj * p->dil_w;
							a0 = _mm256_fmadd_ps(wk, k_dw_load(s0 + q, sw), a0);
							a1 = _mm256_fmadd_ps(wk, k_dw_load(s1 + q, sw), a1);
							a2 = _mm256_fmadd_ps(wk, k_dw_load(s2 + q, sw), a2);
							a3 = _mm256_fmadd_ps(wk, k_dw_load(s3 + q, sw), a3);
						}
					}
					if (inl) {
						a0 = k_act8(p->act, a0, vlo, vhi), a1 = k_act8(p->act, a1, vlo, vhi);
						a2 = k_act8(p->act, a2, vlo, vhi), a3 = k_act8(p->act, a3, vlo, vhi);
					}
					av[0] = a0, av[1] = a1, av[2] = a2, av[3] = a3;
					for (r = 0; r < nrow; r++) {
						float *yr = yo + (oy + r) * p->ow + ox, out[16];
						if (p->ow <= cols) { /* a row is one block: it may run on into the next */
							k_store8_upto(yr, av[rows == 2 ? 2 * r : r], yo + ohw);
							if (rows == 2)
								k_store8_upto(yr + 8, av[2 * r + 1], yo + ohw);
						} else {
							if (rows == 2)
								_mm256_storeu_ps(out, av[2 * r]), _mm256_storeu_ps(out + 8, av[2 * r + 1]);
							else
								_mm256_storeu_ps(out, av[r]);
							memcpy(yr, out, (size_t)ncol * sizeof(float));
						}
						if (!inl)
							k_epi_row(&e, 0, yr,
								  p->res ? p->res + t * ohw + (oy + r) * p->ow + ox : NULL, ncol);
					}
				}
			}
		}
	}
}
#endif

/* Depthwise: output channel o reads input channel o / (oc / groups).  Row by row: the output
 * row stays in L1 through every tap and the epilogue. */
static K_UNUSED void k_conv2d_dw(const struct k_conv2d *p, const float *x, const float *w, const float *b,
				 float *y)
{
	k_idx mult = p->oc / p->groups, ohw = p->oh * p->ow, t;
	struct k_epi e = { 1.0f, 1.0f, NULL, 0, 0, NULL, p->act, p->min, p->max, p->slope };

#if K_AVX2
	if (k_dw_vec_ok(p)) {
		k_conv2d_dw_vec(p, x, w, b, y);
		return;
	}
#endif

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

	if (n == K_NR) { /* the common case, without the (slow) masked moves */
		_mm256_storeu_ps(d, _mm256_loadu_ps(s));
		_mm256_storeu_ps(d + 8, _mm256_loadu_ps(s + 8));
		return;
	}
	_mm256_maskstore_ps(d, m0, _mm256_maskload_ps(s, m0));
	_mm256_maskstore_ps(d + 8, m1, _mm256_maskload_ps(s + 8, m1));
#else
	memcpy(d, s, (size_t)n * sizeof(float));
#endif
}

/* d[0:n] = s[0], s[2], ..., s[2*(n-1)] for n <= K_NR: masked loads of the 2n-1 floats read
 * and even/odd shuffles with AVX2. */
static inline K_UNUSED void k_copy_s2_nr(float *d, const float *s, k_idx n)
{
#if K_AVX2
	__m256i nv = _mm256_set1_epi32((int)(2 * n - 1)), iv = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	__m256i e8 = _mm256_set1_epi32(8), m0 = _mm256_cmpgt_epi32(nv, iv);
	__m256i m1 = _mm256_cmpgt_epi32(nv, _mm256_add_epi32(iv, e8));
	__m256i m2 = _mm256_cmpgt_epi32(nv, _mm256_add_epi32(iv, _mm256_add_epi32(e8, e8)));
	__m256i m3 = _mm256_cmpgt_epi32(nv, _mm256_add_epi32(iv, _mm256_set1_epi32(24)));
	__m256i o0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), iv);
	__m256i o1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_add_epi32(iv, e8));
	__m256 a = _mm256_maskload_ps(s, m0), b = _mm256_maskload_ps(s + 8, m1);
	__m256 c = _mm256_maskload_ps(s + 16, m2), e = _mm256_maskload_ps(s + 24, m3);

	a = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
	c = _mm256_shuffle_ps(c, e, _MM_SHUFFLE(2, 0, 2, 0));
	a = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(a), _MM_SHUFFLE(3, 1, 2, 0)));
	c = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(c), _MM_SHUFFLE(3, 1, 2, 0)));
	if (n == K_NR) { /* unmasked stores where they are whole */
		_mm256_storeu_ps(d, a);
		_mm256_storeu_ps(d + 8, c);
		return;
	}
	_mm256_maskstore_ps(d, o0, a);
	_mm256_maskstore_ps(d + 8, o1, c);
#else
	k_idx t;

	for (t = 0; t < n; t++)
		d[t] = s[2 * t];
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
					else if (sw == 2 && hi > lo)
						k_copy_s2_nr(d + lo, xs, hi - lo);
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

/* off[t] for every tap t = (ci, ki, kj) of one group: its offset in a (padded) image whose
 * planes are plane floats and rows pw floats. */
static K_UNUSED void k_conv_taps(const struct k_conv2d *p, k_idx plane, k_idx pw, k_idx *off)
{
	k_idx ci, ki, kj, icg = p->c / p->groups;

	for (ci = 0; ci < icg; ci++)
		for (ki = 0; ki < p->kh; ki++)
			for (kj = 0; kj < p->kw; kj++)
				off[(ci * p->kh + ki) * p->kw + kj] = ci * plane + ki * p->dil_h * pw + kj * p->dil_w;
}

/* xp = image xn (p->c planes of h x w) with p's zero padding: planes of h + 2*pad_h rows of
 * w + 2*pad_w floats. */
static K_UNUSED void k_conv_pad_image(const struct k_conv2d *p, const float *xn, float *xp)
{
	k_idx ph = p->h + 2 * p->pad_h, pw = p->w + 2 * p->pad_w, ci;

	K_OMP(omp parallel for schedule(static) if (p->c * ph * pw > K_PAR_MIN))
	for (ci = 0; ci < p->c; ci++)
		k_pad_plane(p, xn + ci * p->h * p->w, xp + ci * ph * pw);
}

/*
 * The direct path (stride 1 across): the image is copied once into a zero-padded image, and
 * the GEMM's B rows, tap (ci, ki, kj) for K_NR neighbouring output pixels of one output row,
 * are K_NR consecutive floats of it, read in place through a table of tap offsets: no
 * im2col.  Panels are K_NR pixels of one output row (the last one of a row narrower).
 */
static K_UNUSED void k_conv2d_direct(const struct k_conv2d *p, const float *x, const float *w,
				     const float *b, float *y, void *scratch)
{
	k_idx icg = p->c / p->groups, ocg = p->oc / p->groups, kk = icg * p->kh * p->kw;
	k_idx ph = p->h + 2 * p->pad_h, pw = p->w + 2 * p->pad_w, ohw = p->oh * p->ow;
	k_idx pr = (p->ow + K_NR - 1) / K_NR, np = p->oh * pr, ns = (ocg + K_MR - 1) / K_MR;
	k_idx *off = (k_idx *)scratch, bn, g, t;
	float *xp = (float *)(off + kk);
	int nt = k_threads();
	k_idx nb = nt == 1 || np >= 2 * nt ? 1 : k_min_idx(ns, (4 * nt + np - 1) / np); /* row blocks */
	k_idx per = (ns + nb - 1) / nb;

	k_conv_taps(p, ph * pw, pw, off);
	memset(xp + p->c * ph * pw, 0, 2 * K_NR * sizeof(float));
	for (bn = 0; bn < p->n; bn++) {
		k_conv_pad_image(p, x + bn * p->c * p->h * p->w, xp);
		for (g = 0; g < p->groups; g++) {
			k_idx yo = (bn * p->oc + g * ocg) * ohw;
			const float *res = p->res ? p->res + yo : NULL;
			struct k_epi e = { 1.0f, 1.0f, b ? b + g * ocg : NULL, 1, 0, res, p->act, p->min, p->max,
					   p->slope };
			struct k_mm_job job = { ocg, ohw, kk, w + g * ocg * kk, K_MR * kk, kk, 1, NULL, NULL, NULL,
						y + yo, ohw, &e, res, NULL, 0 };
			const float *xg = xp + g * icg * ph * pw;
			int epi = b || res || p->act != K_ACT_NONE;
			K_OMP(omp parallel for schedule(dynamic) if (ocg * ohw * kk > K_PAR_MIN_MM && np * nb > 1))
			for (t = 0; t < np * nb; t++) {
				k_idx jp = t % np, s0 = t / np * per, s1 = k_min_idx(ns, s0 + per), s, pc;
				k_idx oy = jp / pr, ox0 = jp % pr * K_NR, nr = k_min_idx(K_NR, p->ow - ox0);
				const float *xb = xg + oy * p->stride_h * pw + ox0;
				for (pc = 0; pc < kk; pc += K_KC) {
					k_idx kc = k_min_idx(K_KC, kk - pc);
					for (s = s0; s < s1; s++) {
						k_idx mr = k_min_idx(K_MR, ocg - s * K_MR);
						k_idx j0 = oy * p->ow + ox0;
						int last = epi && pc + kc == kk;
						if (!k_ukr_epi(kc, job.a + s * job.sa + pc, kk, 1, xb, 0, off + pc,
							       job.y + s * K_MR * ohw + j0, ohw, mr, nr, pc > 0,
							       last ? &e : NULL, s * K_MR, j0,
							       res ? res + s * K_MR * ohw + j0 : NULL) && last)
							k_mm_epi_tile(&job, s * K_MR, j0, mr, nr);
					}
				}
			}
		}
	}
}

#if K_AVX2
/* 8x8 transpose: out[j] lane i = row i lane j. */
static inline K_UNUSED void k_tr8(__m256 r0, __m256 r1, __m256 r2, __m256 r3, __m256 r4, __m256 r5,
				  __m256 r6, __m256 r7, __m256 *out)
{
	__m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
	__m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
	__m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
	__m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
	__m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
	__m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
	__m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
	__m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
	__m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
	__m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
	__m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
	__m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));

	out[0] = _mm256_permute2f128_ps(u0, u4, 0x20), out[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
	out[2] = _mm256_permute2f128_ps(u2, u6, 0x20), out[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
	out[4] = _mm256_permute2f128_ps(u0, u4, 0x31), out[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
	out[6] = _mm256_permute2f128_ps(u2, u6, 0x31), out[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}
#endif

/* What one tile needs besides its pixels. */
struct k_pr_job {
	const struct k_conv2d *p;
	k_idx kk, ohw;
	const k_idx *off;  /* tap t's offset in the (padded) image */
	const float *x;    /* the group's (padded) image */
	k_idx pw;          /* its row length */
	const float *wp;   /* the panel's packed weights, [kk][K_NR] */
	const float *bias; /* K_NR floats (zero past the group's channels), or NULL */
	float *y;          /* output channel 0 of the panel */
	const float *res;  /* its residual, or NULL */
	k_idx nr;          /* channels of the panel */
	k_idx pxs;         /* x is pixel-major with this pixel stride (k_pr_transposes), or 0 */
};

/* The epilogue of one output channel's run of mr pixels v[0:mr] (bias already added), as
 * k_epi_row computes it, stored at yr. */
static inline K_UNUSED void k_pr_store_row(const struct k_pr_job *g, float *v, k_idx mr, const float *rr,
					   float *yr)
{
	const struct k_conv2d *p = g->p;
	k_idx r;

	if (rr)
		for (r = 0; r < mr; r++) v[r] += rr[r];
	k_act_row(p->act, p->act == K_ACT_RELU ? 0.0f : p->min, p->max, p->slope, v, mr);
	memcpy(yr, v, (size_t)mr * sizeof(float));
}

/* One tile, pixels q0..q0+mr-1 of the job's panel, over taps t0..t1-1: starts from zero
 * if t0 is 0, else from the partial sums in acc (K_PR_MR x K_NR floats); leaves its sums
 * there if t1 < K, else runs the epilogue and stores the output. */
static K_UNUSED void k_pr_tile(const struct k_pr_job *g, k_idx q0, k_idx mr, k_idx t0, k_idx t1, float *acc)
{
	const struct k_conv2d *p = g->p;
	const float *xr[K_PR_MR];
	const k_idx *off = g->off;
	const float *w = g->wp + t0 * K_NR;
	k_idx r, t, j;

	for (r = 0; r < K_PR_MR; r++) {
		k_idx q = q0 + (r < mr ? r : 0), oy = q / p->ow, ox = q % p->ow;
		xr[r] = g->pxs ? g->x + q * g->pxs : g->x + oy * p->stride_h * g->pw + ox * p->stride_w;
	}
#if K_AVX2
	{
		const float *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3], *x4 = xr[4], *x5 = xr[5];
		__m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
		__m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, z = c00;
		__m256 v[16];

		if (t0 > 0) {
			c00 = _mm256_loadu_ps(acc), c01 = _mm256_loadu_ps(acc + 8);
			c10 = _mm256_loadu_ps(acc + 16), c11 = _mm256_loadu_ps(acc + 24);
			c20 = _mm256_loadu_ps(acc + 32), c21 = _mm256_loadu_ps(acc + 40);
			c30 = _mm256_loadu_ps(acc + 48), c31 = _mm256_loadu_ps(acc + 56);
			c40 = _mm256_loadu_ps(acc + 64), c41 = _mm256_loadu_ps(acc + 72);
			c50 = _mm256_loadu_ps(acc + 80), c51 = _mm256_loadu_ps(acc + 88);
		}
		for (t = t0; t < t1; t++, w += K_NR) {
			k_idx o = off[t];
			__m256 b0 = _mm256_loadu_ps(w), b1 = _mm256_loadu_ps(w + 8), av;
			av = _mm256_broadcast_ss(x0 + o);
			c00 = _mm256_fmadd_ps(av, b0, c00), c01 = _mm256_fmadd_ps(av, b1, c01);
			av = _mm256_broadcast_ss(x1 + o);
			c10 = _mm256_fmadd_ps(av, b0, c10), c11 = _mm256_fmadd_ps(av, b1, c11);
			av = _mm256_broadcast_ss(x2 + o);
			c20 = _mm256_fmadd_ps(av, b0, c20), c21 = _mm256_fmadd_ps(av, b1, c21);
			av = _mm256_broadcast_ss(x3 + o);
			c30 = _mm256_fmadd_ps(av, b0, c30), c31 = _mm256_fmadd_ps(av, b1, c31);
			av = _mm256_broadcast_ss(x4 + o);
			c40 = _mm256_fmadd_ps(av, b0, c40), c41 = _mm256_fmadd_ps(av, b1, c41);
			av = _mm256_broadcast_ss(x5 + o);
			c50 = _mm256_fmadd_ps(av, b0, c50), c51 = _mm256_fmadd_ps(av, b1, c51);
		}
		if (t1 < g->kk) {
			_mm256_storeu_ps(acc, c00), _mm256_storeu_ps(acc + 8, c01);
			_mm256_storeu_ps(acc + 16, c10), _mm256_storeu_ps(acc + 24, c11);
			_mm256_storeu_ps(acc + 32, c20), _mm256_storeu_ps(acc + 40, c21);
			_mm256_storeu_ps(acc + 48, c30), _mm256_storeu_ps(acc + 56, c31);
			_mm256_storeu_ps(acc + 64, c40), _mm256_storeu_ps(acc + 72, c41);
			_mm256_storeu_ps(acc + 80, c50), _mm256_storeu_ps(acc + 88, c51);
			return;
		}
		if (g->bias) {
			__m256 b0 = _mm256_loadu_ps(g->bias), b1 = _mm256_loadu_ps(g->bias + 8);
			c00 = _mm256_add_ps(c00, b0), c01 = _mm256_add_ps(c01, b1);
			c10 = _mm256_add_ps(c10, b0), c11 = _mm256_add_ps(c11, b1);
			c20 = _mm256_add_ps(c20, b0), c21 = _mm256_add_ps(c21, b1);
			c30 = _mm256_add_ps(c30, b0), c31 = _mm256_add_ps(c31, b1);
			c40 = _mm256_add_ps(c40, b0), c41 = _mm256_add_ps(c41, b1);
			c50 = _mm256_add_ps(c50, b0), c51 = _mm256_add_ps(c51, b1);
		}
		/* transpose: v[j] holds channel j's pixels in lanes 0..5 */
		k_tr8(c00, c10, c20, c30, c40, c50, z, z, v);
		k_tr8(c01, c11, c21, c31, c41, c51, z, z, v + 8);
		if (mr == K_PR_MR && k_act8_ok(p->act)) {
			float lo = p->act == K_ACT_RELU ? 0.0f : p->act == K_ACT_CLIP ? p->min : -INFINITY;
			float hi = p->act == K_ACT_CLIP ? p->max : INFINITY;
			__m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
			for (j = 0; j < g->nr; j++) {
				float *yr = g->y + j * g->ohw + q0;
				__m256 a = v[j];
				if (g->res) {
					const float *rr = g->res + j * g->ohw + q0;
					__m128 lo4 = _mm_loadu_ps(rr);
					__m128 hi2 = _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(const void *)(rr + 4));
					a = _mm256_add_ps(a, _mm256_insertf128_ps(_mm256_castps128_ps256(lo4), hi2, 1));
				}
				a = k_act8(p->act, a, vlo, vhi);
				_mm_storeu_ps(yr, _mm256_castps256_ps128(a));
				_mm_storel_pi((__m64 *)(void *)(yr + 4), _mm256_extractf128_ps(a, 1));
			}
			return;
		}
		for (j = 0; j < g->nr; j++) {
			float tv[8];
			_mm256_storeu_ps(tv, v[j]);
			k_pr_store_row(g, tv, mr, g->res ? g->res + j * g->ohw + q0 : NULL, g->y + j * g->ohw + q0);
		}
	}
#else
	{
		float a[K_PR_MR][K_NR] = { { 0 } };
		if (t0 > 0)
			memcpy(a, acc, sizeof a);
		for (t = t0; t < t1; t++, w += K_NR) {
			k_idx o = off[t], l;
			for (r = 0; r < K_PR_MR; r++) {
				float xv = xr[r][o];
				for (l = 0; l < K_NR; l++)
					a[r][l] += xv * w[l];
			}
		}
		if (t1 < g->kk) {
			memcpy(acc, a, sizeof a);
			return;
		}
		for (j = 0; j < g->nr; j++) {
			float tv[K_PR_MR];
			for (r = 0; r < mr; r++)
				tv[r] = a[r][j] + (g->bias ? g->bias[j] : 0.0f);
			k_pr_store_row(g, tv, mr, g->res ? g->res + j * g->ohw + q0 : NULL, g->y + j * g->ohw + q0);
		}
	}
#endif
}

/* A panel's one output pixel (ohw 1: a squeeze-excite conv over a pooled image), where a
 * tile's six rows would all be that pixel: eight sums, two taps by two vectors by two
 * (alternate pairs of taps), then the epilogue as k_pr_tile's. */
static K_UNUSED void k_pr_pixel(const struct k_pr_job *g)
{
	const float *x0 = g->x, *w = g->wp;
	const k_idx *off = g->off;
	float v[K_NR];
	k_idx t = 0, j;
#if K_AVX2
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;

	for (; t + 4 <= g->kk; t += 4, w += 4 * K_NR) {
		__m256 x0v = _mm256_broadcast_ss(x0 + off[t]), x1v = _mm256_broadcast_ss(x0 + off[t + 1]);
		__m256 x2v = _mm256_broadcast_ss(x0 + off[t + 2]), x3v = _mm256_broadcast_ss(x0 + off[t + 3]);
		a0 = _mm256_fmadd_ps(x0v, _mm256_loadu_ps(w), a0), a1 = _mm256_fmadd_ps(x0v, _mm256_loadu_ps(w + 8), a1);
		a2 = _mm256_fmadd_ps(x1v, _mm256_loadu_ps(w + 16), a2), a3 = _mm256_fmadd_ps(x1v, _mm256_loadu_ps(w + 24), a3);
		c0 = _mm256_fmadd_ps(x2v, _mm256_loadu_ps(w + 32), c0), c1 = _mm256_fmadd_ps(x2v, _mm256_loadu_ps(w + 40), c1);
		c2 = _mm256_fmadd_ps(x3v, _mm256_loadu_ps(w + 48), c2), c3 = _mm256_fmadd_ps(x3v, _mm256_loadu_ps(w + 56), c3);
	}
	for (; t < g->kk; t++, w += K_NR) {
		__m256 xv = _mm256_broadcast_ss(x0 + off[t]);
		a0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w), a0), a1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w + 8), a1);
	}
	a0 = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(c0, c2));
	a1 = _mm256_add_ps(_mm256_add_ps(a1, a3), _mm256_add_ps(c1, c3));
	if (g->bias)
		a0 = _mm256_add_ps(a0, _mm256_loadu_ps(g->bias)), a1 = _mm256_add_ps(a1, _mm256_loadu_ps(g->bias + 8));
	_mm256_storeu_ps(v, a0), _mm256_storeu_ps(v + 8, a1);
#else
	for (j = 0; j < K_NR; j++)
		v[j] = 0.0f;
	for (; t < g->kk; t++, w += K_NR)
		for (j = 0; j < K_NR; j++)
			v[j] += x0[off[t]] * w[j];
	for (j = 0; j < K_NR; j++)
		v[j] += g->bias ? g->bias[j] : 0.0f;
#endif
	for (j = 0; j < g->nr; j++)
		k_pr_store_row(g, v + j, 1, g->res ? g->res + j * g->ohw : NULL, g->y + j * g->ohw);
}

/* xt[q*c + ci] = x[ci*n + q]: c planes of n floats made pixel-major, in 8x8 blocks. */
static K_UNUSED void k_pr_transpose(k_idx c, k_idx n, const float *x, float *xt)
{
	k_idx ci = 0, q;

#if K_AVX2
	for (; ci + 8 <= c; ci += 8) {
		const float *s = x + ci * n;
		k_idx j;
		for (q = 0; q + 8 <= n; q += 8) {
			__m256 v[8];
			k_tr8(_mm256_loadu_ps(s + q), _mm256_loadu_ps(s + n + q), _mm256_loadu_ps(s + 2 * n + q),
			      _mm256_loadu_ps(s + 3 * n + q), _mm256_loadu_ps(s + 4 * n + q),
			      _mm256_loadu_ps(s + 5 * n + q), _mm256_loadu_ps(s + 6 * n + q),
			      _mm256_loadu_ps(s + 7 * n + q), v);
			for (j = 0; j < 8; j++)
				_mm256_storeu_ps(xt + (q + j) * c + ci, v[j]);
		}
		for (; q < n; q++)
			for (j = 0; j < 8; j++)
				xt[q * c + ci + j] = s[j * n + q];
	}
#endif
	for (; ci < c; ci++)
		for (q = 0; q < n; q++)
			xt[q * c + ci] = x[ci * n + q];
}

/* The weights a block of nt tiles should fetch while it works on the slice at tap s, and
 * their size in cache lines (*lines): few tiles (a small image) use each slice only a few
 * times, so the first of them would wait for memory; instead each tile fetches a share of
 * the weights that come next: the next slice, or the panel's first again (more tiles to
 * come), or the next panel's first. None (*lines 0) for a full block. */
static inline K_UNUSED const float *k_pr_next(const struct k_pr_job *g, k_idx s, k_idx kc, k_idx nt,
					      int more_tiles, int more_panels, k_idx *lines)
{
	const float *nx = NULL;
	k_idx n = 0;

	if (nt < K_PR_TB) {
		if (s + kc < g->kk)
			nx = g->wp + (s + kc) * K_NR, n = k_min_idx(kc, g->kk - s - kc);
		else if (more_tiles)
			nx = g->wp, n = kc;
		else if (more_panels)
			nx = g->wp + g->kk * K_NR, n = kc;
	}
	*lines = (n * K_NR * (k_idx)sizeof(float) + 63) / 64;
	return nx;
}

/* y = conv2d(x, wp) + b, then res and act, on the pixel-row path; wp from k_conv2d_pack. */
static K_UNUSED void k_conv2d_pr(const struct k_conv2d *p, const float *x, const float *wp, const float *b,
				 float *y, void *scratch)
{
	k_idx icg = p->c / p->groups, ocg = p->oc / p->groups, kk = icg * p->kh * p->kw;
	k_idx ph = p->h + 2 * p->pad_h, pw = p->w + 2 * p->pad_w, ohw = p->oh * p->ow;
	k_idx np = (ocg + K_NR - 1) / K_NR, nt = (ohw + K_PR_MR - 1) / K_PR_MR;
	k_idx *off = (k_idx *)scratch, bn, g, t;
	float *xp = (float *)(off + kk);
	int copy = k_pr_copies(p), tr = k_pr_transposes(p), th = k_threads();
	/* tasks: whole panels when there are enough for every thread, else each panel's tiles
	 * split into per chunks */
	k_idx per = th == 1 || np >= 4 * th ? 1 : k_min_idx(nt, (4 * th + np - 1) / np);
	k_idx chunk = (nt + per - 1) / per, nc = (nt + chunk - 1) / chunk;
	k_idx kc = (kk + (kk + K_PR_KC - 1) / K_PR_KC - 1) / ((kk + K_PR_KC - 1) / K_PR_KC); /* slice */

	if (tr)
		for (t = 0; t < kk; t++)
			off[t] = t;
	else
		k_conv_taps(p, ph * pw, pw, off);
	for (bn = 0; bn < p->n; bn++) {
		const float *xs = x + bn * p->c * p->h * p->w;
		if (copy) {
			k_conv_pad_image(p, xs, xp);
			xs = xp;
		} else if (tr) {
			k_pr_transpose(kk, ohw, xs, xp);
			xs = xp;
		}
		for (g = 0; g < p->groups; g++) {
			K_OMP(omp parallel for schedule(dynamic) if (ocg * ohw * kk > K_PAR_MIN_MM && np * nc > 1))
			for (t = 0; t < np * nc; t++) {
				k_idx jp = t / nc, i0 = t % nc * chunk, i1 = k_min_idx(nt, i0 + chunk), i, l;
				k_idx o0 = g * ocg + jp * K_NR, yo = (bn * p->oc + o0) * ohw;
				float bias[K_NR], acc[K_PR_TB][K_PR_MR * K_NR];
				struct k_pr_job job = { p, kk, ohw, off, xs + g * icg * ph * pw, pw,
							wp + (g * np + jp) * kk * K_NR, b ? bias : NULL, y + yo,
							p->res ? p->res + yo : NULL, k_min_idx(K_NR, ocg - jp * K_NR),
							tr ? kk : 0 };
				for (l = 0; l < K_NR; l++)
					bias[l] = b && l < job.nr ? b[o0 + l] : 0.0f;
				if (ohw == 1) {
					k_pr_pixel(&job);
					continue;
				}
				for (i = i0; i < i1; i += K_PR_TB) {
					k_idx ib = k_min_idx(i1, i + K_PR_TB), ii, s;
					for (s = 0; s < kk; s += kc) {
						k_idx nl;
						const float *nx = k_pr_next(&job, s, kc, ib - i, ib < i1, jp + 1 < np, &nl);
						for (ii = i; ii < ib; ii++) {
							k_idx l0 = nl * (ii - i) / (ib - i), l1 = nl * (ii - i + 1) / (ib - i);
							for (l = l0; l < l1; l++)
								K_PREFETCH_L2((const char *)nx + l * 64);
							k_pr_tile(&job, ii * K_PR_MR, k_min_idx(K_PR_MR, ohw - ii * K_PR_MR), s,
								  k_min_idx(kk, s + kc), acc[ii - i]);
						}
					}
				}
			}
		}
	}
}

/*
 * Winograd F(2x2, 3x3), for 3x3 stride-1 convs (groups 1, no dilation) whose weights kiln
 * transforms at compile time.  The output is cut into 2x2 tiles, th rows of tw, numbered row by
 * row; tile q reads the 4x4 patch d of a zero-padded copy of the image at (2*ty, 2*tx) and
 * becomes V = B^T d B (16 numbers per channel); each 3x3 filter g became U = G g G^T; then
 * M[xi] = U[xi] . V[xi], 16 products (oc x c) . (c x tiles), and the tile's output is
 * A^T M A.  That is 16 multiply-adds per 4 outputs and input channel where the direct conv
 * does 36.  The transforms only add, subtract and halve.
 * The tiles go in blocks of k_wg_pb panels of K_NR: the threads transform a block's V by
 * channels, then share out (weight strip, panel) tasks, each running 16 K_MR x K_NR register
 * tiles into a small buffer and transforming them straight into the output with bias,
 * residual and activation.
 */
/* d = plane xc with zeros around it: g->ph rows of g->pw, the image at (pad_h, pad_w). */
static K_UNUSED void k_wg_pad_plane(const struct k_wg *g, const float *xc, float *d)
{
	const struct k_conv2d *p = g->p;
	k_idx r, right = g->pw - p->pad_w - p->w;

	memset(d, 0, (size_t)(p->pad_h * g->pw) * sizeof(float));
	for (r = 0; r < p->h; r++) {
		float *dr = d + (p->pad_h + r) * g->pw;
		memset(dr, 0, (size_t)p->pad_w * sizeof(float));
		memcpy(dr + p->pad_w, xc + r * p->w, (size_t)p->w * sizeof(float));
		memset(dr + p->pad_w + p->w, 0, (size_t)right * sizeof(float));
	}
	memset(d + (p->pad_h + p->h) * g->pw, 0, (size_t)((g->ph - p->pad_h - p->h) * g->pw) * sizeof(float));
}

/* d[0:16] (patch element (i, j) at d[4*i + j]) = B^T d B, in any type with SUB and ADD;
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
#define K_WG_IN(T, d, SUB, ADD)                                                                        \
	do {                                                                                           \
		T e_[16];                                                                              \
		int i_;                                                                                \
		for (i_ = 0; i_ < 4; i_++) {                                                           \
			const T *r_ = (d) + 4 * i_;                                                    \
			e_[4 * i_] = SUB(r_[0], r_[2]), e_[4 * i_ + 1] = ADD(r_[1], r_[2]);            \
			e_[4 * i_ + 2] = SUB(r_[2], r_[1]), e_[4 * i_ + 3] = SUB(r_[1], r_[3]);        \
		}                                                                                      \
		for (i_ = 0; i_ < 4; i_++) {                                                           \
			(d)[i_] = SUB(e_[i_], e_[8 + i_]), (d)[4 + i_] = ADD(e_[4 + i_], e_[8 + i_]);  \
			(d)[8 + i_] = SUB(e_[8 + i_], e_[4 + i_]);                                     \
			(d)[12 + i_] = SUB(e_[4 + i_], e_[12 + i_]);                                   \
		}                                                                                      \
	} while (0)

/* y[0:4] = A^T m A, the 2x2 outputs (y00 y01 y10 y11) of m[0:16]; A^T = [1 1 1 0; 0 1 -1 -1]. */
#define K_WG_OUT(T, m, y, SUB, ADD)                                                                    \
	do {                                                                                           \
		T a_[8];                                                                               \
		int i_;                                                                                \
		for (i_ = 0; i_ < 4; i_++) {                                                           \
			const T *r_ = (m) + 4 * i_;                                                    \
			a_[2 * i_] = ADD(ADD(r_[0], r_[1]), r_[2]);                                    \
			a_[2 * i_ + 1] = SUB(SUB(r_[1], r_[2]), r_[3]);                                \
		}                                                                                      \
		for (i_ = 0; i_ < 2; i_++) {                                                           \
			(y)[i_] = ADD(ADD(a_[i_], a_[2 + i_]), a_[4 + i_]);                            \
			(y)[2 + i_] = SUB(SUB(a_[2 + i_], a_[4 + i_]), a_[6 + i_]);                    \
		}                                                                                      \
	} while (0)

#define K_WG_SUBF(a, b) ((a) - (b))
#define K_WG_ADDF(a, b) ((a) + (b))

#if K_AVX2
#define K_WG_SUB8(a, b) _mm256_sub_ps(a, b)
#define K_WG_ADD8(a, b) _mm256_add_ps(a, b)

#endif

/*
 * V of the 8 tiles from q (those past tile qe - 1 repeat it) for channels c0..c1-1 of the
 * padded image xp: element xi of channel ci at v[(ci*16 + xi)*K_NR + 0..7].  Eight tiles in
 * one tile row read each patch row as a run of 18 floats split into even and odd columns;
 * others gather.
 */
static K_UNUSED void k_wg_in8(const struct k_wg *g, const float *xp, k_idx q, k_idx qe, k_idx c0, k_idx c1,
			      float *v)
{
	k_idx plane = g->ph * g->pw, base[8], l, ci;

	for (l = 0; l < 8; l++) {
		k_idx t = k_min_idx(q + l, qe - 1);
		base[l] = t / g->tw * 2 * g->pw + t % g->tw * 2;
	}
#if K_AVX2
	{
		int row = q + 8 <= qe && q % g->tw + 8 <= g->tw;
		__m256i idx = _mm256_setr_epi32((int)base[0], (int)base[1], (int)base[2], (int)base[3],
						(int)base[4], (int)base[5], (int)base[6], (int)base[7]);
		for (ci = c0; ci < c1; ci++) {
			const float *xc = xp + ci * plane;
			float *vc = v + ci * 16 * K_NR;
			__m256 d[16];
			int i;
			if (row) {
				for (i = 0; i < 4; i++) {
					const float *r = xc + base[0] + i * g->pw;
					k_deint(_mm256_loadu_ps(r), _mm256_loadu_ps(r + 8), d + 4 * i, d + 4 * i + 1);
					k_deint(_mm256_loadu_ps(r + 2), _mm256_loadu_ps(r + 10), d + 4 * i + 2, d + 4 * i + 3);
				}
			} else {
				for (i = 0; i < 16; i++)
					d[i] = _mm256_i32gather_ps(xc + i / 4 * g->pw + i % 4, idx, 4);
			}
			K_WG_IN(__m256, d, K_WG_SUB8, K_WG_ADD8);
			for (i = 0; i < 16; i++)
				_mm256_storeu_ps(vc + i * K_NR, d[i]);
		}
	}
#else
	for (ci = c0; ci < c1; ci++) {
		const float *xc = xp + ci * plane;
		for (l = 0; l < 8; l++) {
			float d[16];
			int i;
			for (i = 0; i < 16; i++)
				d[i] = xc[base[l] + i / 4 * g->pw + i % 4];
			K_WG_IN(float, d, K_WG_SUBF, K_WG_ADDF);
			for (i = 0; i < 16; i++)
				v[(ci * 16 + i) * K_NR + l] = d[i];
		}
	}
#endif
}

/*
 * Output channel o, tiles tx..tx+n-1 (n <= 8) of tile row ty, from m (element xi of tile l
 * at m[xi*ld + l]): A^T M A plus bias, then the residual and act, into the output plane yc
 * (residual plane rc or NULL): two runs of up to 16 floats, cut at the image's edges.
 */
static K_UNUSED void k_wg_out8(const struct k_wg *g, const float *m, k_idx ld, float bias, k_idx ty, k_idx tx,
			       k_idx n, float *yc, const float *rc)
{
	const struct k_conv2d *p = g->p;
	k_idx cnt = k_min_idx(16, p->ow - 2 * tx), i;

#if K_AVX2
	__m256 mv[16], yv[4], vb = _mm256_set1_ps(bias);
	float lo = p->act == K_ACT_RELU ? 0.0f : p->act == K_ACT_CLIP ? p->min : -INFINITY;
	float hi = p->act == K_ACT_CLIP ? p->max : INFINITY;
	__m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
	__m256i mask = k_lanes8(n), m0 = k_lanes8(cnt), m1 = k_lanes8(cnt - 8);

	for (i = 0; i < 16; i++)
		mv[i] = n == 8 ? _mm256_loadu_ps(m + i * ld) : _mm256_maskload_ps(m + i * ld, mask);
	K_WG_OUT(__m256, mv, yv, K_WG_SUB8, K_WG_ADD8);
	for (i = 0; i < 2 && 2 * ty + i < p->oh; i++) {
		k_idx off = (2 * ty + i) * p->ow + 2 * tx;
		__m256 a = _mm256_unpacklo_ps(yv[2 * i], yv[2 * i + 1]);
		__m256 b = _mm256_unpackhi_ps(yv[2 * i], yv[2 * i + 1]);
		__m256 r0 = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), vb);
		__m256 r1 = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x31), vb);
		float *yr = yc + off;
		if (cnt == 16) {
			if (rc) {
				r0 = _mm256_add_ps(r0, _mm256_loadu_ps(rc + off));
				r1 = _mm256_add_ps(r1, _mm256_loadu_ps(rc + off + 8));
			}
			if (k_act8_ok(p->act))
				r0 = k_act8(p->act, r0, vlo, vhi), r1 = k_act8(p->act, r1, vlo, vhi);
			_mm256_storeu_ps(yr, r0), _mm256_storeu_ps(yr + 8, r1);
		} else {
			if (rc) {
				r0 = _mm256_add_ps(r0, _mm256_maskload_ps(rc + off, m0));
				r1 = _mm256_add_ps(r1, _mm256_maskload_ps(rc + off + 8, m1));
			}
			if (k_act8_ok(p->act))
				r0 = k_act8(p->act, r0, vlo, vhi), r1 = k_act8(p->act, r1, vlo, vhi);
			_mm256_maskstore_ps(yr, m0, r0), _mm256_maskstore_ps(yr + 8, m1, r1);
		}
		if (!k_act8_ok(p->act))
			k_act_row(p->act, p->min, p->max, p->slope, yr, cnt);
	}
#else
	for (i = 0; i < 2 && 2 * ty + i < p->oh; i++) {
		k_idx off = (2 * ty + i) * p->ow + 2 * tx, l, j;
		float row[16];
		for (l = 0; l < n; l++) {
			float mm[16], yy[4];
			for (j = 0; j < 16; j++)
				mm[j] = m[j * ld + l];
			K_WG_OUT(float, mm, yy, K_WG_SUBF, K_WG_ADDF);
			row[2 * l] = yy[2 * i] + bias, row[2 * l + 1] = yy[2 * i + 1] + bias;
		}
		for (j = 0; rc && j < cnt; j++)
			row[j] += rc[off + j];
		k_act_row(p->act, p->min, p->max, p->slope, row, cnt);
		memcpy(yc + off, row, (size_t)cnt * sizeof(float));
	}
#endif
}

/* y = conv2d(x, u) + b, then res and act, on the Winograd path; u from k_conv2d_pack_wino. */
static K_UNUSED void k_conv2d_wino(const struct k_conv2d *p, const float *x, const float *u, const float *b,
				   float *y, void *scratch)
{
	struct k_wg g = k_wg_sizes(p);
	k_idx ns = (p->oc + K_MR - 1) / K_MR, plane = g.ph * g.pw, nck = (p->c + K_WG_CCH - 1) / K_WG_CCH;
	k_idx ohw = p->oh * p->ow, ld = g.pb * K_NR, bn;
	k_idx sg = (ns + 2 * k_threads() - 1) / (2 * k_threads()), ntask = (ns + sg - 1) / sg; /* strips a task */
	float *xp = (float *)scratch, *v = xp + p->c * plane, *mb = v + g.pb * p->c * 16 * K_NR;

	for (bn = 0; bn < p->n; bn++) {
		const float *xn = x + bn * p->c * p->h * p->w;
		float *yn = y + bn * p->oc * ohw;
		const float *rn = p->res ? p->res + bn * p->oc * ohw : NULL;
		K_OMP(omp parallel if (p->oc * p->c * g.nt * 16 > K_PAR_MIN_MM))
		{
			k_idx ci, ty0, t;
			K_OMP(omp for schedule(static))
			for (ci = 0; ci < p->c; ci++)
				k_wg_pad_plane(&g, xn + ci * p->h * p->w, xp + ci * plane);
			for (ty0 = 0; ty0 < g.th; ty0 += g.rb) {
				k_idx ty1 = k_min_idx(g.th, ty0 + g.rb), q0 = ty0 * g.tw, nq = (ty1 - ty0) * g.tw;
				k_idx pn = (nq + K_NR - 1) / K_NR;
				K_OMP(omp for schedule(static))
				for (t = 0; t < 2 * pn * nck; t++) {
					k_idx h8 = t / nck, c0 = t % nck * K_WG_CCH;
					k_wg_in8(&g, xp, q0 + h8 * 8, q0 + nq, c0, k_min_idx(p->c, c0 + K_WG_CCH),
						 v + h8 / 2 * p->c * 16 * K_NR + h8 % 2 * 8);
				}
				K_OMP(omp for schedule(dynamic))
				for (t = 0; t < ntask; t++) {
					k_idx s0 = t * sg, s1 = k_min_idx(ns, s0 + sg), xi, jp, s, r, ty, tx;
					for (xi = 0; xi < 16; xi++)
						for (jp = 0; jp < pn; jp++)
							for (s = s0; s < s1; s++)
								k_ukr(p->c, u + (xi * ns + s) * p->c * K_MR, 1, K_MR,
								      v + (jp * p->c * 16 + xi) * K_NR, 16 * K_NR,
								      mb + s * g.ms + xi * K_MR * ld + jp * K_NR, ld, K_MR,
								      K_NR, 0);
					for (s = s0; s < s1; s++)
						for (r = 0; r < k_min_idx(K_MR, p->oc - s * K_MR); r++) {
							k_idx o = s * K_MR + r;
							for (ty = ty0; ty < ty1; ty++)
								for (tx = 0; tx < g.tw; tx += 8)
									k_wg_out8(&g, mb + s * g.ms + r * ld + (ty - ty0) * g.tw + tx,
										  K_MR * ld, b ? b[o] : 0.0f, ty, tx,
										  k_min_idx(8, g.tw - tx), yn + o * ohw,
										  rn ? rn + o * ohw : NULL);
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
	k_idx ohw = p->oh * p->ow, bn, g;

	if (p->packed == K_PACKED_WINO) {
		k_conv2d_wino(p, x, w, b, y, scratch);
		return;
	}
	if (p->packed) {
		k_conv2d_pr(p, x, w, b, y, scratch);
		return;
	}
	if (k_conv2d_is_dw(p)) {
		k_conv2d_dw(p, x, w, b, y);
		return;
	}
	if (k_conv2d_is_direct(p)) {
		k_conv2d_direct(p, x, w, b, y, scratch);
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
						k_conv_pack, &cb, y + off, ohw, &e, res, NULL, 0 };
			if (k_conv2d_is_1x1(p)) /* B is the image: full panels are read in place */
				job.bin = cb.xn + g * icg * ohw, job.rsb_in = ohw;
			k_mm_run(&job);
		}
	}
}
