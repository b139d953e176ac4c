/* kiln runtime: batch norm (inference), per-channel scale and shift, layer norm. needs: k_base */
/*
 * Batch norm folds into y = x * scale[c] + shift[c], computed as PyTorch's CPU kernel does:
 * scale = weight / sqrt(var + eps), shift = bias - mean * scale.  Layer norm normalizes each
 * run of `inner` contiguous elements, with moments accumulated in double.  Both may run in
 * place.
 */
struct k_scale_shift {
	k_idx n, c, hw;        /* NC(HW): batch, channels, elements per channel plane */
	enum k_act act;        /* fused activation */
	float min, max, slope; /* activation parameters */
};

/* y[n,c,:] = act(x[n,c,:] * scale[c] + shift[c]); shift may be NULL. */
static K_UNUSED void k_scale_shift_f32(const struct k_scale_shift *p, const float *x, const float *scale,
				       const float *shift, float *y)
{
	k_idx t;

	K_OMP(omp parallel for schedule(static) if (p->n * p->c * p->hw > K_PAR_MIN))
	for (t = 0; t < p->n * p->c; t++) {
		k_idx ch = t % p->c, i;
		float a = scale[ch], b = shift ? shift[ch] : 0.0f;
		const float *xc = x + t * p->hw;
		float *yc = y + t * p->hw;
		for (i = 0; i < p->hw; i++)
			yc[i] = xc[i] * a + b;
		k_act_row(p->act, p->min, p->max, p->slope, yc, p->hw);
	}
}

struct k_batchnorm {
	k_idx n, c, hw;        /* NC(HW): batch, channels, elements per channel plane */
	float eps;             /* added to the variance (must be given) */
	enum k_act act;        /* fused activation */
	float min, max, slope; /* activation parameters */
};

/* Inference batch norm from running stats; weight and bias may be NULL (1 and 0). */
static K_UNUSED void k_batchnorm_f32(const struct k_batchnorm *p, const float *x, const float *mean,
				     const float *var, const float *weight, const float *bias, float *y)
{
	struct k_scale_shift ss = { p->n, p->c, p->hw, p->act, p->min, p->max, p->slope };
	k_idx t;

	K_OMP(omp parallel for schedule(static) if (p->n * p->c * p->hw > K_PAR_MIN))
	for (t = 0; t < p->n * p->c; t++) {
		k_idx ch = t % p->c, i;
		float invstd = 1.0f / sqrtf(var[ch] + p->eps);
		float a = invstd * (weight ? weight[ch] : 1.0f);
		float b = (bias ? bias[ch] : 0.0f) - mean[ch] * a;
		const float *xc = x + t * p->hw;
		float *yc = y + t * p->hw;
		for (i = 0; i < p->hw; i++)
			yc[i] = xc[i] * a + b;
		k_act_row(ss.act, ss.min, ss.max, ss.slope, yc, p->hw);
	}
}

struct k_layernorm {
	k_idx outer, inner;  /* rows, and the normalized elements per row */
	float eps;           /* added to the variance (must be given) */
};

/* y = (x - mean) / sqrt(var + eps) * w + b per row; w and b may be NULL. */
static K_UNUSED void k_layernorm_f32(const struct k_layernorm *p, const float *x, const float *w,
				     const float *b, float *y)
{
	k_idx r;

	K_OMP(omp parallel for schedule(static) if (p->outer * p->inner > K_PAR_MIN))
	for (r = 0; r < p->outer; r++) {
		const float *xr = x + r * p->inner;
		float *yr = y + r * p->inner;
		double s = 0.0, ss = 0.0, mean, var;
		float rstd, sh;
		k_idx i;
		for (i = 0; i < p->inner; i++)
			s += (double)xr[i];
		mean = s / (double)p->inner;
		for (i = 0; i < p->inner; i++) {
			double d = (double)xr[i] - mean;
			ss += d * d;
		}
		var = ss / (double)p->inner;
		rstd = (float)(1.0 / sqrt(var + (double)p->eps));
		sh = (float)(-mean) * rstd;
		for (i = 0; i < p->inner; i++)
			yr[i] = xr[i] * rstd + sh;
		if (w)
			for (i = 0; i < p->inner; i++) yr[i] *= w[i];
		if (b)
			for (i = 0; i < p->inner; i++) yr[i] += b[i];
	}
}
