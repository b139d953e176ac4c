/* kiln runtime: GEMM core, linear, addmm-style gemm, batched matmul. needs: k_base */
/*
 * Y = A.B with A (i,p) = a[i*rsa + p*csa] and B (p,j) = b[p*rsb + j*csb], so transposes are
 * just strides.  Large products pack A into strips of K_MR rows ([k][K_MR] each) and B into
 * panels of K_NR columns ([k][K_NR] each) in the caller's scratch, then run a K_MR x K_NR
 * register tile over K_KC-deep slices, in parallel over (row block, panel) tiles.  Products
 * with at most K_SMALL_M rows (batch-1 linear) skip packing: dot products or axpys.  So
 * does every product when the caller passes no scratch (NULL): correct but slower.
 */
#define K_MR 6
#define K_NR 16
#define K_KC 256
#define K_MB 16 /* strips per row block: K_MB * K_MR rows of A stay in L2 */
#define K_SMALL_M 4

/* Bytes of scratch k_mm needs for an m x n x k product. */
static K_UNUSED size_t k_mm_scratch(k_idx m, k_idx n, k_idx k)
{
	if (m <= K_SMALL_M)
		return 0;
	return (size_t)(k_round_up(m, K_MR) * k + k * k_round_up(n, K_NR)) * sizeof(float);
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

/* Packs B (k x n) into panels: dst[j*k*K_NR + p*K_NR + l] = B(p, j*K_NR + l), zero padded. */
static K_UNUSED void k_pack_b(k_idx k, k_idx n, const float *b, k_idx rsb, k_idx csb, float *dst)
{
	k_idx np = (n + K_NR - 1) / K_NR, j;

	K_OMP(omp parallel for schedule(static) if (n * k > K_PAR_MIN))
	for (j = 0; j < np; j++) {
		float *d = dst + j * k * K_NR;
		k_idx l, p, cols = k_min_idx(K_NR, n - j * K_NR);
		const float *bj = b + j * K_NR * csb;
		for (p = 0; p < k; p++) {
			if (csb == 1 && cols == K_NR) {
				memcpy(d + p * K_NR, bj + p * rsb, K_NR * sizeof(float));
				continue;
			}
			for (l = 0; l < cols; l++)
				d[p * K_NR + l] = bj[p * rsb + l * csb];
			for (; l < K_NR; l++)
				d[p * K_NR + l] = 0.0f;
		}
	}
}

/*
 * The register tile: y[0:mr, 0:nr] (=, or += if acc) a[kc][K_MR] . b[kc][K_NR].  Six named
 * accumulator rows and a j loop of constant length let the compiler keep the tile in
 * vector registers.
 */
static K_UNUSED void k_gemm_tile(k_idx kc, const float *K_RESTRICT a, const float *K_RESTRICT b,
				 float *K_RESTRICT y, k_idx ldy, k_idx mr, k_idx nr, int acc)
{
	float t0[K_NR] = { 0 }, t1[K_NR] = { 0 }, t2[K_NR] = { 0 };
	float t3[K_NR] = { 0 }, t4[K_NR] = { 0 }, t5[K_NR] = { 0 };
	float out[K_MR][K_NR];
	k_idx i, j, p;

	for (p = 0; p < kc; p++) {
		const float *ap = a + p * K_MR, *bp = b + p * K_NR;
		float a0 = ap[0], a1 = ap[1], a2 = ap[2], a3 = ap[3], a4 = ap[4], a5 = ap[5];
		for (j = 0; j < K_NR; j++) {
			float bv = bp[j];
			t0[j] += a0 * bv;
			t1[j] += a1 * bv;
			t2[j] += a2 * bv;
			t3[j] += a3 * bv;
			t4[j] += a4 * bv;
			t5[j] += a5 * bv;
		}
	}
	if (mr == K_MR && nr == K_NR) {
		for (j = 0; j < K_NR; j++) {
			float *yj = y + j;
			yj[0 * ldy] = (acc ? yj[0 * ldy] : 0.0f) + t0[j];
			yj[1 * ldy] = (acc ? yj[1 * ldy] : 0.0f) + t1[j];
			yj[2 * ldy] = (acc ? yj[2 * ldy] : 0.0f) + t2[j];
			yj[3 * ldy] = (acc ? yj[3 * ldy] : 0.0f) + t3[j];
			yj[4 * ldy] = (acc ? yj[4 * ldy] : 0.0f) + t4[j];
			yj[5 * ldy] = (acc ? yj[5 * ldy] : 0.0f) + t5[j];
		}
		return;
	}
	memcpy(out[0], t0, sizeof t0);
	memcpy(out[1], t1, sizeof t1);
	memcpy(out[2], t2, sizeof t2);
	memcpy(out[3], t3, sizeof t3);
	memcpy(out[4], t4, sizeof t4);
	memcpy(out[5], t5, sizeof t5);
	for (i = 0; i < mr; i++)
		for (j = 0; j < nr; j++)
			y[i * ldy + j] = (acc ? y[i * ldy + j] : 0.0f) + out[i][j];
}

/* Y (m x n, row stride ldy) = packed A . packed B. */
static K_UNUSED void k_gemm_packed(k_idx m, k_idx n, k_idx k, const float *ap, const float *bp,
				   float *y, k_idx ldy)
{
	k_idx ns = (m + K_MR - 1) / K_MR, np = (n + K_NR - 1) / K_NR;
	k_idx nb = (ns + K_MB - 1) / K_MB, pc;

	for (pc = 0; pc < k; pc += K_KC) {
		k_idx kc = k_min_idx(K_KC, k - pc), ib, jp;
		K_OMP(omp parallel for collapse(2) schedule(static) if (m * n * kc > K_PAR_MIN))
		for (ib = 0; ib < nb; ib++) {
			for (jp = 0; jp < np; jp++) {
				k_idx s, send = k_min_idx(ns, (ib + 1) * K_MB);
				k_idx nr = k_min_idx(K_NR, n - jp * K_NR);
				for (s = ib * K_MB; s < send; s++)
					k_gemm_tile(kc, ap + s * k * K_MR + pc * K_MR, bp + jp * k * K_NR + pc * K_NR,
						    y + s * K_MR * ldy + jp * K_NR, ldy, k_min_idx(K_MR, m - s * K_MR),
						    nr, pc > 0);
			}
		}
	}
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

/* Few-row product without packing: dots if A's rows and B's columns are contiguous, else axpys. */
static K_UNUSED void k_mm_small(k_idx m, k_idx n, k_idx k, const float *a, k_idx rsa, k_idx csa,
				const float *b, k_idx rsb, k_idx csb, float *y, k_idx ldy)
{
	k_idx i, j, p;

	if (csa == 1 && rsb == 1) {
		K_OMP(omp parallel for schedule(static) if (m * n * k > K_PAR_MIN))
		for (j = 0; j < n; j++)
			for (i = 0; i < m; i++)
				y[i * ldy + j] = k_dot(a + i * rsa, b + j * csb, k);
		return;
	}
	K_OMP(omp parallel for schedule(static) if (m * n * k > K_PAR_MIN))
	for (j = 0; j < n; j += 256) {
		k_idx l, jn = k_min_idx(256, n - j);
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

/* Y (m x n, row stride ldy) = A . B for strided A and B; scratch holds k_mm_scratch bytes, or
 * is NULL for the slower unpacked loops. */
static K_UNUSED void k_mm(k_idx m, k_idx n, k_idx k, const float *a, k_idx rsa, k_idx csa,
			  const float *b, k_idx rsb, k_idx csb, float *y, k_idx ldy, void *scratch)
{
	float *ap = (float *)scratch, *bp;
	k_idx i, j;

	if (k == 0) {
		for (i = 0; i < m; i++)
			for (j = 0; j < n; j++) y[i * ldy + j] = 0.0f;
		return;
	}
	if (m <= K_SMALL_M || !scratch) {
		k_mm_small(m, n, k, a, rsa, csa, b, rsb, csb, y, ldy);
		return;
	}
	bp = ap + k_round_up(m, K_MR) * k;
	k_pack_a(m, k, a, rsa, csa, ap);
	k_pack_b(k, n, b, rsb, csb, bp);
	k_gemm_packed(m, n, k, ap, bp, y, ldy);
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

	k_mm(p->m, p->n, p->k, x, p->k, 1, w, 1, p->k, y, p->n, scratch);
	k_epilogue(&e, y, p->m, p->n);
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

	k_mm(p->m, p->n, p->k, a, rsa, csa, b, rsb, csb, y, p->n, scratch);
	k_epilogue(&e, y, p->m, p->n);
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
