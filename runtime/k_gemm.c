/* kiln runtime: GEMM core, linear, addmm-style gemm, batched matmul. needs: k_base */
/*
 * Y = A.B with A (i,p) = a[i*rsa + p*csa] and B (p,j) = b[p*rsb + j*csb], so transposes are
 * just strides.  Large products pack B into panels of K_NR columns ([k][K_NR] each) in the
 * caller's scratch and run a K_MR x K_NR register tile (k_ukr: AVX2/FMA intrinsics when the
 * compiler targets them, else portable C it vectorizes) over K_KC-deep slices, reading A
 * in place through its strides: conv and linear weights are never repacked at run time.
 * Threads share out B's panels (each packs its panel just before using it, so the panel is
 * still in cache), or (row block, panel) tiles when there are few panels.  The epilogue
 * (bias, residual, activation) runs on each tile as it is finished.  Products with at most
 * K_SMALL_M rows (batch-1 linear) skip packing: blocked dot products or axpys.  So does
 * every product when the caller passes no scratch (NULL): correct but slower.
 */
#define K_MR 6
#define K_NR 16
#define K_KC 256
#define K_SMALL_M 4

#define K_MM_ABLOCK (64 << 10) /* bytes of A a row block of k_mm_run reuses over the panels */
#define K_MM_PFD 2 /* k_mm_panel prefetches in-place B this many panels ahead */

/* Bytes of scratch k_mm needs for an m x n x k product. */
static K_UNUSED size_t k_mm_scratch(k_idx m, k_idx n, k_idx k)
{
	if (m <= K_SMALL_M)
		return 0;
	return (size_t)(k * k_round_up(n, K_NR)) * sizeof(float);
}

/* Packs A (m x k) into strips: dst[s*k*K_MR + p*K_MR + r] = A(s*K_MR + r, p), zero padded. */
static K_UNUSED void k_pack_a(k_idx m, k_idx k, const float *a, k_idx rsa, k_idx csa, float *dst)
{
	k_idx ns = (m + K_MR - 1) / K_MR, s;

	K_OMP(omp parallel for schedule(static) if (m * k > K_PAR_MIN))
	for (s = 0; s < ns; s++) {
		float *d = dst + s * k * K_MR;
		k_idx r, p, rows = k_min_idx(K_MR, m - s * K_MR);
		for (p = 0; p < k; p++) {
			for (r = 0; r < rows; r++)
				d[p * K_MR + r] = a[(s * K_MR + r) * rsa + p * csa];
			for (; r < K_MR; r++)
				d[p * K_MR + r] = 0.0f;
		}
	}
}

/* Packs panel j of B (k x n): dst[p*K_NR + l] = B(p, j*K_NR + l), zero padded. */
static K_UNUSED void k_pack_b_panel(k_idx k, k_idx n, const float *b, k_idx rsb, k_idx csb, k_idx j,
				    float *dst)
{
	k_idx l, p, cols = k_min_idx(K_NR, n - j * K_NR);
	const float *bj = b + j * K_NR * csb;

	for (p = 0; p < k; p++) {
		if (csb == 1 && cols == K_NR) {
			memcpy(dst + p * K_NR, bj + p * rsb, K_NR * sizeof(float));
			continue;
		}
		for (l = 0; l < cols; l++)
			dst[p * K_NR + l] = bj[p * rsb + l * csb];
		for (; l < K_NR; l++)
			dst[p * K_NR + l] = 0.0f;
	}
}

/* Packs B (k x n) into panels: dst[j*k*K_NR + p*K_NR + l] = B(p, j*K_NR + l), zero padded. */
static K_UNUSED void k_pack_b(k_idx k, k_idx n, const float *b, k_idx rsb, k_idx csb, float *dst)
{
	k_idx np = (n + K_NR - 1) / K_NR, j;

	K_OMP(omp parallel for schedule(static) if (n * k > K_PAR_MIN))
	for (j = 0; j < np; j++)
		k_pack_b_panel(k, n, b, rsb, csb, j, dst + j * k * K_NR);
}

#ifdef _OPENMP
#include <omp.h>
#endif

/* Threads a parallel region started here would get (1 inside one already, or without OpenMP). */
static inline K_UNUSED int k_threads(void)
{
#ifdef _OPENMP
	return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
	return 1;
#endif
}

/*
 * The micro-kernel: y[0:mr, 0:nr] (=, or += if acc) A[0:mr, 0:kc] . B[0:kc, 0:K_NR], where
 * A(i,p) = a[i*rsa + p*csa] (packed strips: rsa 1, csa K_MR; a row-major matrix such as conv
 * weights: rsa = its row length, csa 1) and B's row p is the K_NR floats at b + p*rsb (a
 * packed panel: rsb K_NR), or at b + boff[p] if boff is not NULL (rows gathered in place:
 * the direct convolution).  Rows past mr read row 0 and are dropped; columns past nr are
 * computed from whatever B holds there and dropped.
 */
#if K_AVX2
/* True if k_ukr_x can apply epilogue ep in registers: an activation k_act8 takes and C (if
 * any) a bias per row or per column. */
static inline K_UNUSED int k_epi_fusable(const struct k_epi *ep)
{
	return ep && k_act8_ok(ep->act) && (!ep->c || ep->c_cs == 0 || ep->c_cs == 1);
}

/* Row i, columns j0..j0+15 of the epilogue on v0, v1, as k_mm_epi_tile computes it; rr: the
 * residual row or NULL. */
static inline K_UNUSED void k_epi_row16(const struct k_epi *ep, k_idx i, k_idx j0, const float *rr,
					__m256 *v0, __m256 *v1, __m256 vlo, __m256 vhi)
{
	__m256 va = _mm256_set1_ps(ep->alpha), c0 = _mm256_setzero_ps(), c1 = c0;

	if (ep->c && ep->c_cs == 0) {
		c0 = c1 = _mm256_set1_ps(ep->beta * ep->c[i * ep->c_rs]);
	} else if (ep->c) {
		__m256 vb = _mm256_set1_ps(ep->beta);
		c0 = _mm256_mul_ps(vb, _mm256_loadu_ps(ep->c + i * ep->c_rs + j0));
		c1 = _mm256_mul_ps(vb, _mm256_loadu_ps(ep->c + i * ep->c_rs + j0 + 8));
	}
	*v0 = _mm256_add_ps(_mm256_mul_ps(va, *v0), c0);
	*v1 = _mm256_add_ps(_mm256_mul_ps(va, *v1), c1);
	if (rr) {
		*v0 = _mm256_add_ps(*v0, _mm256_loadu_ps(rr));
		*v1 = _mm256_add_ps(*v1, _mm256_loadu_ps(rr + 8));
	}
	*v0 = k_act8(ep->act, *v0, vlo, vhi), *v1 = k_act8(ep->act, *v1, vlo, vhi);
}
#endif

/*
 * k_ukr_x with the epilogue: on a full tile (and with AVX2) ep is applied in registers
 * before the store, taking Y's rows i0.. and columns j0.. and the residual tile res (row
 * stride ldy, or NULL); returns 1 if it did, 0 if the caller still has to run it.
 */
static K_UNUSED int k_ukr_epi(k_idx kc, const float *K_RESTRICT a, k_idx rsa, k_idx csa,
			      const float *K_RESTRICT b, k_idx rsb, const k_idx *boff, float *K_RESTRICT y,
			      k_idx ldy, k_idx mr, k_idx nr, int acc, const struct k_epi *ep, k_idx i0,
			      k_idx j0, const float *res)
{
	const float *a0 = a, *a1 = a + (mr > 1) * rsa, *a2 = a + (mr > 2) * 2 * rsa;
	const float *a3 = a + (mr > 3) * 3 * rsa, *a4 = a + (mr > 4) * 4 * rsa, *a5 = a + (mr > 5) * 5 * rsa;
	float out[K_MR][K_NR];
	k_idx i, j, p, o;
#if K_AVX2
	__m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
	__m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;

	/* one step: row br of B against column o of the six rows of A */
#define K_UKR_STEP(br)                                                                  \
	do {                                                                            \
		__m256 b0 = _mm256_loadu_ps(br), b1 = _mm256_loadu_ps((br) + 8), av;     \
		av = _mm256_broadcast_ss(a0 + o);                                       \
		c00 = _mm256_fmadd_ps(av, b0, c00), c01 = _mm256_fmadd_ps(av, b1, c01); \
		av = _mm256_broadcast_ss(a1 + o);                                       \
		c10 = _mm256_fmadd_ps(av, b0, c10), c11 = _mm256_fmadd_ps(av, b1, c11); \
		av = _mm256_broadcast_ss(a2 + o);                                       \
		c20 = _mm256_fmadd_ps(av, b0, c20), c21 = _mm256_fmadd_ps(av, b1, c21); \
		av = _mm256_broadcast_ss(a3 + o);                                       \
		c30 = _mm256_fmadd_ps(av, b0, c30), c31 = _mm256_fmadd_ps(av, b1, c31); \
		av = _mm256_broadcast_ss(a4 + o);                                       \
		c40 = _mm256_fmadd_ps(av, b0, c40), c41 = _mm256_fmadd_ps(av, b1, c41); \
		av = _mm256_broadcast_ss(a5 + o);                                       \
		c50 = _mm256_fmadd_ps(av, b0, c50), c51 = _mm256_fmadd_ps(av, b1, c51); \
	} while (0)
	if (boff)
		for (p = 0, o = 0; p < kc; p++, o += csa)
			K_UKR_STEP(b + boff[p]);
	else
		for (p = 0, o = 0; p < kc; p++, o += csa, b += rsb)
			K_UKR_STEP(b);
#undef K_UKR_STEP
	if (mr == K_MR && nr == K_NR) {
		float *y0 = y, *y1 = y + ldy, *y2 = y + 2 * ldy, *y3 = y + 3 * ldy, *y4 = y + 4 * ldy;
		float *y5 = y + 5 * ldy;
		int fuse = k_epi_fusable(ep);
		if (acc) {
			c00 = _mm256_add_ps(c00, _mm256_loadu_ps(y0)), c01 = _mm256_add_ps(c01, _mm256_loadu_ps(y0 + 8));
			c10 = _mm256_add_ps(c10, _mm256_loadu_ps(y1)), c11 = _mm256_add_ps(c11, _mm256_loadu_ps(y1 + 8));
			c20 = _mm256_add_ps(c20, _mm256_loadu_ps(y2)), c21 = _mm256_add_ps(c21, _mm256_loadu_ps(y2 + 8));
			c30 = _mm256_add_ps(c30, _mm256_loadu_ps(y3)), c31 = _mm256_add_ps(c31, _mm256_loadu_ps(y3 + 8));
			c40 = _mm256_add_ps(c40, _mm256_loadu_ps(y4)), c41 = _mm256_add_ps(c41, _mm256_loadu_ps(y4 + 8));
			c50 = _mm256_add_ps(c50, _mm256_loadu_ps(y5)), c51 = _mm256_add_ps(c51, _mm256_loadu_ps(y5 + 8));
		}
		if (fuse) {
			float lo = ep->act == K_ACT_RELU ? 0.0f : ep->act == K_ACT_CLIP ? ep->min : -INFINITY;
			float hi = ep->act == K_ACT_CLIP ? ep->max : INFINITY;
			__m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
			k_epi_row16(ep, i0, j0, res, &c00, &c01, vlo, vhi);
			k_epi_row16(ep, i0 + 1, j0, res ? res + ldy : NULL, &c10, &c11, vlo, vhi);
			k_epi_row16(ep, i0 + 2, j0, res ? res + 2 * ldy : NULL, &c20, &c21, vlo, vhi);
			k_epi_row16(ep, i0 + 3, j0, res ? res + 3 * ldy : NULL, &c30, &c31, vlo, vhi);
			k_epi_row16(ep, i0 + 4, j0, res ? res + 4 * ldy : NULL, &c40, &c41, vlo, vhi);
			k_epi_row16(ep, i0 + 5, j0, res ? res + 5 * ldy : NULL, &c50, &c51, vlo, vhi);
		}
		_mm256_storeu_ps(y0, c00), _mm256_storeu_ps(y0 + 8, c01);
		_mm256_storeu_ps(y1, c10), _mm256_storeu_ps(y1 + 8, c11);
		_mm256_storeu_ps(y2, c20), _mm256_storeu_ps(y2 + 8, c21);
		_mm256_storeu_ps(y3, c30), _mm256_storeu_ps(y3 + 8, c31);
		_mm256_storeu_ps(y4, c40), _mm256_storeu_ps(y4 + 8, c41);
		_mm256_storeu_ps(y5, c50), _mm256_storeu_ps(y5 + 8, c51);
		return fuse;
	}
	_mm256_storeu_ps(out[0], c00), _mm256_storeu_ps(out[0] + 8, c01);
	_mm256_storeu_ps(out[1], c10), _mm256_storeu_ps(out[1] + 8, c11);
	_mm256_storeu_ps(out[2], c20), _mm256_storeu_ps(out[2] + 8, c21);
	_mm256_storeu_ps(out[3], c30), _mm256_storeu_ps(out[3] + 8, c31);
	_mm256_storeu_ps(out[4], c40), _mm256_storeu_ps(out[4] + 8, c41);
	_mm256_storeu_ps(out[5], c50), _mm256_storeu_ps(out[5] + 8, c51);
#else
	/* Six named accumulator rows and a j loop of constant length: the compiler keeps the
	 * tile in vector registers. */
	float t0[K_NR] = { 0 }, t1[K_NR] = { 0 }, t2[K_NR] = { 0 };
	float t3[K_NR] = { 0 }, t4[K_NR] = { 0 }, t5[K_NR] = { 0 };

	for (p = 0, o = 0; p < kc; p++, o += csa) {
		float v0 = a0[o], v1 = a1[o], v2 = a2[o], v3 = a3[o], v4 = a4[o], v5 = a5[o];
		const float *br = boff ? b + boff[p] : b + p * rsb;
		for (j = 0; j < K_NR; j++) {
			float bv = br[j];
			t0[j] += v0 * bv;
			t1[j] += v1 * bv;
			t2[j] += v2 * bv;
			t3[j] += v3 * bv;
			t4[j] += v4 * bv;
			t5[j] += v5 * bv;
		}
	}
	memcpy(out[0], t0, sizeof t0);
	memcpy(out[1], t1, sizeof t1);
	memcpy(out[2], t2, sizeof t2);
	memcpy(out[3], t3, sizeof t3);
	memcpy(out[4], t4, sizeof t4);
	memcpy(out[5], t5, sizeof t5);
#endif
	(void)ep, (void)i0, (void)j0, (void)res;
	for (i = 0; i < mr; i++)
		for (j = 0; j < nr; j++)
			y[i * ldy + j] = (acc ? y[i * ldy + j] : 0.0f) + out[i][j];
	return 0;
}

/* The micro-kernel alone. */
static inline K_UNUSED void k_ukr_x(k_idx kc, const float *K_RESTRICT a, k_idx rsa, k_idx csa,
				    const float *K_RESTRICT b, k_idx rsb, const k_idx *boff,
				    float *K_RESTRICT y, k_idx ldy, k_idx mr, k_idx nr, int acc)
{
	k_ukr_epi(kc, a, rsa, csa, b, rsb, boff, y, ldy, mr, nr, acc, NULL, 0, 0, NULL);
}

/* The micro-kernel on B rows at b + p*rsb. */
static inline K_UNUSED void k_ukr(k_idx kc, const float *K_RESTRICT a, k_idx rsa, k_idx csa,
				  const float *K_RESTRICT b, k_idx rsb, float *K_RESTRICT y, k_idx ldy,
				  k_idx mr, k_idx nr, int acc)
{
	k_ukr_x(kc, a, rsa, csa, b, rsb, NULL, y, ldy, mr, nr, acc);
}

/* The register tile on packed operands: y[0:mr, 0:nr] (=, or += if acc) a[kc][K_MR] . b[kc][K_NR]. */
static K_UNUSED void k_gemm_tile(k_idx kc, const float *K_RESTRICT a, const float *K_RESTRICT b,
				 float *K_RESTRICT y, k_idx ldy, k_idx mr, k_idx nr, int acc)
{
	k_ukr(kc, a, 1, K_MR, b, K_NR, y, ldy, mr, nr, acc);
}

/*
 * One product for the tile driver k_mm_run: Y (m x n, row stride ldy) = A . B, then the
 * epilogue e (or none) on each finished tile while it is in L1.  A is read in place through
 * its strides (no packing: weights are used as they are); B is K_NR-column panels in bp
 * (panel j at bp + j*k*K_NR, [k][K_NR]), filled by pack(ctx, j, dst) just before use, or
 * already packed if pack is NULL.
 */
struct k_mm_job {
	k_idx m, n, k;                 /* product sizes */
	const float *a;                /* A(i,p) = a[(i/K_MR)*sa + (i%K_MR)*rsa + p*csa] */
	k_idx sa, rsa, csa;            /* a plain matrix has sa = K_MR*rsa; packed strips k*K_MR, 1, K_MR */
	float *bp;                     /* B's panels */
	void (*pack)(const void *ctx, k_idx j, float *dst); /* fills panel j, or NULL */
	const void *ctx;               /* pack's argument */
	float *y;                      /* Y(i,j) = y[i*ldy + j] */
	k_idx ldy;
	const struct k_epi *e;         /* epilogue (c indexed by Y's row and column), or NULL */
	const float *res;              /* residual with Y's layout (row stride ldy), or NULL */
	const float *bin;              /* or NULL: B row-major in place, B(p,j) = bin[p*rsb_in + j]; */
	k_idx rsb_in;                  /* then only a last, partial panel is packed */
};

/* True if panel jp of B is read in place (a full panel of a job with bin), not packed. */
static inline K_UNUSED int k_mm_inplace(const struct k_mm_job *g, k_idx jp)
{
	return g->bin && (jp + 1) * K_NR <= g->n;
}

/* Panel jp's B rows: *rsb apart from the returned pointer (in place, or packed in bp). */
static inline K_UNUSED const float *k_mm_bpanel(const struct k_mm_job *g, k_idx jp, k_idx *rsb)
{
	if (k_mm_inplace(g, jp)) {
		*rsb = g->rsb_in;
		return g->bin + jp * K_NR;
	}
	*rsb = K_NR;
	return g->bp + jp * g->k * K_NR;
}

/* The epilogue on tile rows i0.., columns j0.. of Y.  Full tiles with no activation, relu or
 * clip (the common conv epilogues) take loops of constant length the compiler vectorizes;
 * with AVX2, sigmoid and silu are computed in registers too. */
static K_UNUSED void k_mm_epi_tile(const struct k_mm_job *g, k_idx i0, k_idx j0, k_idx mr, k_idx nr)
{
	struct k_epi e = *g->e;
	k_idx i, j;

	if (e.c)
		e.c += j0 * e.c_cs;
#if K_AVX2
	if (nr == K_NR && k_act8_ok(e.act)) {
		float lo = e.act == K_ACT_RELU ? 0.0f : e.act == K_ACT_CLIP ? e.min : -INFINITY;
		float hi = e.act == K_ACT_CLIP ? e.max : INFINITY;
		/* clip as k_clip: lo > v ? lo : v, then hi < v ? hi : v (NaN passes through) */
		__m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi), va = _mm256_set1_ps(e.alpha);
		for (i = i0; i < i0 + mr; i++) {
			float *yr = g->y + i * g->ldy + j0;
			const float *rr = g->res ? g->res + i * g->ldy + j0 : NULL;
			__m256 c0 = _mm256_setzero_ps(), c1 = c0, v0, v1;
			if (e.c && e.c_cs == 0) {
				c0 = c1 = _mm256_set1_ps(e.beta * e.c[i * e.c_rs]);
			} else if (e.c) {
				float cv[K_NR];
				for (j = 0; j < K_NR; j++)
					cv[j] = e.beta * e.c[i * e.c_rs + j * e.c_cs];
				c0 = _mm256_loadu_ps(cv), c1 = _mm256_loadu_ps(cv + 8);
			}
			v0 = _mm256_add_ps(_mm256_mul_ps(va, _mm256_loadu_ps(yr)), c0);
			v1 = _mm256_add_ps(_mm256_mul_ps(va, _mm256_loadu_ps(yr + 8)), c1);
			if (rr) {
				v0 = _mm256_add_ps(v0, _mm256_loadu_ps(rr));
				v1 = _mm256_add_ps(v1, _mm256_loadu_ps(rr + 8));
			}
			v0 = k_act8(e.act, v0, vlo, vhi), v1 = k_act8(e.act, v1, vlo, vhi);
			_mm256_storeu_ps(yr, v0), _mm256_storeu_ps(yr + 8, v1);
		}
		return;
	}
#endif
	if (nr == K_NR && (e.act == K_ACT_NONE || e.act == K_ACT_RELU || e.act == K_ACT_CLIP)) {
		float lo = e.act == K_ACT_NONE ? -INFINITY : e.act == K_ACT_RELU ? 0.0f : e.min;
		float hi = e.act == K_ACT_CLIP ? e.max : INFINITY;
		for (i = i0; i < i0 + mr; i++) {
			float *yr = g->y + i * g->ldy + j0, cv[K_NR], v;
			const float *rr = g->res ? g->res + i * g->ldy + j0 : NULL;
			for (j = 0; j < K_NR; j++)
				cv[j] = e.c ? e.beta * e.c[i * e.c_rs + j * e.c_cs] : 0.0f;
			if (rr) {
				for (j = 0; j < K_NR; j++) {
					v = (e.alpha * yr[j] + cv[j]) + rr[j];
					yr[j] = v < lo ? lo : (v > hi ? hi : v);
				}
			} else {
				for (j = 0; j < K_NR; j++) {
					v = e.alpha * yr[j] + cv[j];
					yr[j] = v < lo ? lo : (v > hi ? hi : v);
				}
			}
		}
		return;
	}
	for (i = i0; i < i0 + mr; i++)
		k_epi_row(&e, i, g->y + i * g->ldy + j0, g->res ? g->res + i * g->ldy + j0 : NULL, nr);
}

/* Strips s0..s1 of panel jp of a job (B's panel packed), K_KC deep at a time. */
static K_UNUSED void k_mm_panel(const struct k_mm_job *g, k_idx jp, k_idx s0, k_idx s1)
{
	k_idx rsb, nr = k_min_idx(K_NR, g->n - jp * K_NR), pc, s;
	const float *b = k_mm_bpanel(g, jp, &rsb);
	int epi = g->e && (g->e->alpha != 1.0f || g->e->c || g->res || g->e->act != K_ACT_NONE);

	/* B in place (a 1x1 conv's image): its rows are far apart, more streams than the
	 * hardware prefetcher follows, so the strips fetch the rows of the panel K_MM_PFD on */
	const float *nb = s0 == 0 && k_mm_inplace(g, jp + K_MM_PFD) ? g->bin + (jp + K_MM_PFD) * K_NR : NULL;

	for (pc = 0; pc < g->k; pc += K_KC) {
		k_idx kc = k_min_idx(K_KC, g->k - pc);
		for (s = s0; s < s1; s++) {
			k_idx mr = k_min_idx(K_MR, g->m - s * K_MR);
			int last = epi && pc + kc == g->k;
			if (nb) {
				k_idx r = pc + kc * (s - s0) / (s1 - s0), r1 = pc + kc * (s - s0 + 1) / (s1 - s0);
				for (; r < r1; r++)
					K_PREFETCH_L2(nb + r * g->rsb_in);
			}
			if (!k_ukr_epi(kc, g->a + s * g->sa + pc * g->csa, g->rsa, g->csa, b + pc * rsb, rsb,
				       NULL, g->y + s * K_MR * g->ldy + jp * K_NR, g->ldy, mr, nr, pc > 0,
				       last ? g->e : NULL, s * K_MR, jp * K_NR,
				       g->res ? g->res + s * K_MR * g->ldy + jp * K_NR : NULL) && last)
				k_mm_epi_tile(g, s * K_MR, jp * K_NR, mr, nr);
		}
	}
}

/*
 * Runs a job.  With enough panels for every thread, each thread packs a panel and runs all
 * of A over it at once (the panel stays in L1/L2); with few panels (small n), all panels
 * are packed first and (row block, panel) tiles are shared out instead.
 */
static K_UNUSED void k_mm_run(const struct k_mm_job *g)
{
	k_idx ns = (g->m + K_MR - 1) / K_MR, np = (g->n + K_NR - 1) / K_NR, jp, t;
	k_idx flops = g->m * g->n * g->k, abytes = g->m * g->k * (k_idx)sizeof(float);
	int nt = k_threads();
	/* A far bigger than B (a 1x1 conv's weights over a small image): A strip by strip over
	 * every panel, so A comes from memory once, not once per panel */
	int amajor = abytes > K_MM_ABLOCK && abytes > 4 * g->n * g->k * (k_idx)sizeof(float);

	/* dynamic: on a busy machine a preempted thread's panels go to the other threads */
	if (!amajor && (nt == 1 || np >= 2 * nt || flops <= K_PAR_MIN_MM)) {
		K_OMP(omp parallel for schedule(dynamic) if (flops > K_PAR_MIN_MM && np > 1))
		for (jp = 0; jp < np; jp++) {
			if (g->pack && !k_mm_inplace(g, jp))
				g->pack(g->ctx, jp, g->bp + jp * g->k * K_NR);
			k_mm_panel(g, jp, 0, ns);
		}
		return;
	}
	if (g->pack) {
		K_OMP(omp parallel for schedule(static) if (g->n * g->k > K_PAR_MIN && !g->bin))
		for (jp = 0; jp < np; jp++)
			if (!k_mm_inplace(g, jp))
				g->pack(g->ctx, jp, g->bp + jp * g->k * K_NR);
	}
	{
		/* row blocks: >= 4 tiles per thread, and each block's A within K_MM_ABLOCK bytes */
		k_idx nb = k_min_idx(ns, k_max_idx((4 * nt + np - 1) / np, (abytes + K_MM_ABLOCK - 1) / K_MM_ABLOCK));
		k_idx per = (ns + nb - 1) / nb;
		K_OMP(omp parallel for schedule(dynamic) if (flops > K_PAR_MIN_MM))
		for (t = 0; t < nb * np; t++) {
			k_idx b = t / np, s0 = b * per;
			if (s0 < ns)
				k_mm_panel(g, t % np, s0, k_min_idx(ns, s0 + per));
		}
	}
}

/* Y (m x n, row stride ldy) = packed A . packed B. */
static K_UNUSED void k_gemm_packed(k_idx m, k_idx n, k_idx k, const float *ap, const float *bp,
				   float *y, k_idx ldy)
{
	struct k_mm_job g = { m, n, k, ap, k * K_MR, 1, K_MR, (float *)(uintptr_t)bp, NULL, NULL, y, ldy,
			      NULL, NULL, NULL, 0 };

	k_mm_run(&g);
}

/* Dot product with 8 independent partial sums, so it vectorizes without -ffast-math. */
static K_UNUSED float k_dot(const float *K_RESTRICT x, const float *K_RESTRICT w, k_idx n)
{
	float s[8] = { 0 }, r;
	k_idx p, l;

	for (p = 0; p + 8 <= n; p += 8)
		for (l = 0; l < 8; l++)
			s[l] += x[p + l] * w[p + l];
	r = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
	for (l = 0; l < n - p; l++) /* written so gcc sees a bounded tail */
		r += x[p + l] * w[p + l];
	return r;
}

#if K_AVX2
static inline K_UNUSED float k_hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}
#endif

/* out[r] = x . w[r*ldw ...] for r < 4: four dot products sharing the loads of x. */
static K_UNUSED void k_dot4(const float *K_RESTRICT x, const float *K_RESTRICT w, k_idx ldw, k_idx n,
			    float *out)
{
	const float *w0 = w, *w1 = w + ldw, *w2 = w + 2 * ldw, *w3 = w + 3 * ldw;
#if K_AVX2
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, u0 = s0, u1 = s0, u2 = s0, u3 = s0;
	k_idx p = 0, l;

	for (; p + 16 <= n; p += 16) {
		__m256 x0 = _mm256_loadu_ps(x + p), x1 = _mm256_loadu_ps(x + p + 8);
		s0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w0 + p), s0);
		u0 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w0 + p + 8), u0);
		s1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w1 + p), s1);
		u1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w1 + p + 8), u1);
		s2 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w2 + p), s2);
		u2 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w2 + p + 8), u2);
		s3 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w3 + p), s3);
		u3 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w3 + p + 8), u3);
	}
	for (; p + 8 <= n; p += 8) {
		__m256 x0 = _mm256_loadu_ps(x + p);
		s0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w0 + p), s0);
		s1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w1 + p), s1);
		s2 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w2 + p), s2);
		s3 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w3 + p), s3);
	}
	out[0] = k_hsum8(_mm256_add_ps(s0, u0));
	out[1] = k_hsum8(_mm256_add_ps(s1, u1));
	out[2] = k_hsum8(_mm256_add_ps(s2, u2));
	out[3] = k_hsum8(_mm256_add_ps(s3, u3));
	for (l = 0; l < n - p; l++) {
		float xv = x[p + l];
		out[0] += xv * w0[p + l], out[1] += xv * w1[p + l];
		out[2] += xv * w2[p + l], out[3] += xv * w3[p + l];
	}
#else
	out[0] = k_dot(x, w0, n), out[1] = k_dot(x, w1, n);
	out[2] = k_dot(x, w2, n), out[3] = k_dot(x, w3, n);
#endif
}

/* Few-row product without packing: dots if A's rows and B's columns are contiguous, else axpys. */
static K_UNUSED void k_mm_small(k_idx m, k_idx n, k_idx k, const float *a, k_idx rsa, k_idx csa,
				const float *b, k_idx rsb, k_idx csb, float *y, k_idx ldy)
{
	k_idx j;

	/* i, p and l are declared inside the parallel loops: OpenMP makes only the loop
	 * variable private, and shared counters race. */
	if (csa == 1 && rsb == 1) {
		k_idx nq = (n + 3) / 4;
		K_OMP(omp parallel for schedule(static) if (m * n * k > K_PAR_MIN_MM))
		for (j = 0; j < nq; j++) {
			float o[4];
			k_idx i, p;
			for (i = 0; i < m; i++) {
				if (j * 4 + 4 <= n) {
					k_dot4(a + i * rsa, b + j * 4 * csb, csb, k, o);
					memcpy(y + i * ldy + j * 4, o, sizeof o);
					continue;
				}
				for (p = j * 4; p < n; p++)
					y[i * ldy + p] = k_dot(a + i * rsa, b + p * csb, k);
			}
		}
		return;
	}
	K_OMP(omp parallel for schedule(static) if (m * n * k > K_PAR_MIN_MM))
	for (j = 0; j < n; j += 256) {
		k_idx i, p, l, jn = k_min_idx(256, n - j);
		for (i = 0; i < m; i++) {
			float *yr = y + i * ldy + j;
			for (l = 0; l < jn; l++)
				yr[l] = 0.0f;
			for (p = 0; p < k; p++) {
				float av = a[i * rsa + p * csa];
				const float *br = b + p * rsb + j * csb;
				if (csb == 1)
					for (l = 0; l < jn; l++) yr[l] += av * br[l];
				else
					for (l = 0; l < jn; l++) yr[l] += av * br[l * csb];
			}
		}
	}
}

/* B of a k_mm product, for the panel packer. */
struct k_mm_b {
	k_idx k, n;     /* B is k x n */
	const float *b; /* B(p,j) = b[p*rsb + j*csb] */
	k_idx rsb, csb;
};

static K_UNUSED void k_mm_pack(const void *ctx, k_idx j, float *dst)
{
	const struct k_mm_b *b = (const struct k_mm_b *)ctx;

	k_pack_b_panel(b->k, b->n, b->b, b->rsb, b->csb, j, dst);
}

/*
 * Y (m x n, row stride ldy == n if e) = A . B for strided A and B, then the epilogue e (or
 * none: NULL); scratch holds k_mm_scratch bytes, or is NULL for the slower unpacked loops.
 */
static K_UNUSED void k_mm_epi(k_idx m, k_idx n, k_idx k, const float *a, k_idx rsa, k_idx csa,
			      const float *b, k_idx rsb, k_idx csb, float *y, k_idx ldy, void *scratch,
			      const struct k_epi *e)
{
	struct k_mm_b bb = { k, n, b, rsb, csb };
	struct k_mm_job g = { m, n, k, a, K_MR * rsa, rsa, csa, (float *)scratch, k_mm_pack, &bb, y, ldy,
			      e, e ? e->res : NULL, csb == 1 ? b : NULL, rsb };
	k_idx i, j;

	if (k == 0 || m <= K_SMALL_M || !scratch) {
		if (k == 0)
			for (i = 0; i < m; i++)
				for (j = 0; j < n; j++) y[i * ldy + j] = 0.0f;
		else
			k_mm_small(m, n, k, a, rsa, csa, b, rsb, csb, y, ldy);
		if (e)
			k_epilogue(e, y, m, n);
		return;
	}
	k_mm_run(&g);
}

/* Y (m x n, row stride ldy) = A . B for strided A and B; scratch holds k_mm_scratch bytes, or
 * is NULL for the slower unpacked loops. */
static K_UNUSED void k_mm(k_idx m, k_idx n, k_idx k, const float *a, k_idx rsa, k_idx csa,
			  const float *b, k_idx rsb, k_idx csb, float *y, k_idx ldy, void *scratch)
{
	k_mm_epi(m, n, k, a, rsa, csa, b, rsb, csb, y, ldy, scratch, NULL);
}

/* torch.nn.functional.linear: y[m,n] = x[m,k] . w[n,k]^T + b[n], then residual and activation. */
struct k_linear {
	k_idx m, n, k;         /* rows of x, output features, input features */
	enum k_act act;        /* fused activation (K_ACT_NONE if omitted) */
	float min, max, slope; /* K_ACT_CLIP bounds, K_ACT_LEAKY_RELU slope */
	const float *res;      /* residual [m,n] added before act, or NULL */
};

static K_UNUSED size_t k_linear_scratch(const struct k_linear *p) { return k_mm_scratch(p->m, p->n, p->k); }

/* b may be NULL. */
static K_UNUSED void k_linear_f32(const struct k_linear *p, const float *x, const float *w,
				  const float *b, float *y, void *scratch)
{
	struct k_epi e = { 1.0f, 1.0f, b, 0, 1, p->res, p->act, p->min, p->max, p->slope };

	k_mm_epi(p->m, p->n, p->k, x, p->k, 1, w, 1, p->k, y, p->n, scratch, &e);
}

/*
 * addmm and friends: y[m,n] = act(beta * C + alpha * op(A) . op(B) + res), op = transpose if
 * the flag is set: A is [m,k] ([k,m] if trans_a), B is [k,n] ([n,k] if trans_b).  C is read
 * as c[i*c_rs + j*c_cs]: a bias row is (0, 1), a column (1, 0), a full matrix (n, 1), a
 * scalar (0, 0).  alpha and beta must be given (zero means zero).
 */
struct k_gemm {
	k_idx m, n, k;         /* output rows, output columns, reduction length */
	int trans_a, trans_b;  /* operands stored transposed */
	float alpha, beta;     /* scales of the product and of C */
	k_idx c_rs, c_cs;      /* C strides in elements (0 broadcasts) */
	enum k_act act;        /* fused activation */
	float min, max, slope; /* activation parameters */
	const float *res;      /* residual [m,n], or NULL */
};

static K_UNUSED size_t k_gemm_scratch(const struct k_gemm *p) { return k_mm_scratch(p->m, p->n, p->k); }

/* c may be NULL. */
static K_UNUSED void k_gemm_f32(const struct k_gemm *p, const float *a, const float *b, const float *c,
				float *y, void *scratch)
{
	struct k_epi e = { p->alpha, p->beta, c, p->c_rs, p->c_cs, p->res, p->act, p->min, p->max, p->slope };
	k_idx rsa = p->trans_a ? 1 : p->k, csa = p->trans_a ? p->m : 1;
	k_idx rsb = p->trans_b ? 1 : p->n, csb = p->trans_b ? p->k : 1;

	k_mm_epi(p->m, p->n, p->k, a, rsa, csa, b, rsb, csb, y, p->n, scratch, &e);
}

/*
 * torch.matmul / bmm over up to 4 batch dims: for each batch index (i0..i3) over bdims,
 * y[batch] (contiguous [m,n]) = op(A at sum i*a_bstrides) . op(B at sum i*b_bstrides).
 * Broadcast a batch dim with stride 0.  brank 0 is a single product.
 */
struct k_matmul {
	k_idx m, n, k;         /* per-batch product sizes */
	int trans_a, trans_b;  /* A is [k,m] / B is [n,k] */
	int brank;             /* number of batch dims, 0..4 */
	k_idx bdims[4];        /* batch dims of the output */
	k_idx a_bstrides[4];   /* A's batch strides in elements, 0 to broadcast */
	k_idx b_bstrides[4];   /* B's batch strides in elements, 0 to broadcast */
};

static K_UNUSED size_t k_matmul_scratch(const struct k_matmul *p) { return k_mm_scratch(p->m, p->n, p->k); }

static K_UNUSED void k_matmul_f32(const struct k_matmul *p, const float *a, const float *b, float *y,
				  void *scratch)
{
	k_idx rsa = p->trans_a ? 1 : p->k, csa = p->trans_a ? p->m : 1;
	k_idx rsb = p->trans_b ? 1 : p->n, csb = p->trans_b ? p->k : 1;
	k_idx nb = 1, t, d;

	for (d = 0; d < p->brank; d++)
		nb *= p->bdims[d];
	for (t = 0; t < nb; t++) {
		k_idx r = t, ao = 0, bo = 0;
		for (d = p->brank - 1; d >= 0; d--) {
			k_idx i = r % p->bdims[d];
			r /= p->bdims[d];
			ao += i * p->a_bstrides[d];
			bo += i * p->b_bstrides[d];
		}
		k_mm(p->m, p->n, p->k, a + ao, rsa, csa, b + bo, rsb, csb, y + t * p->m * p->n, p->n, scratch);
	}
}
