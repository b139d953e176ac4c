/* Max/avg/adaptive pooling against naive references that follow PyTorch's definitions. */
#include "runtime/k_base.c"
#include "runtime/k_pool.c"
#include "tests/kernels/kt.h"

/* PyTorch's pooling output size, with its ceil_mode rule: the last window must start inside
 * the input or the left padding. */
static k_idx pool_out(k_idx in, k_idx k, k_idx s, k_idx pad, k_idx dil, int ceil_mode)
{
	k_idx span = in + 2 * pad - dil * (k - 1) - 1;
	k_idx o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;

	if (ceil_mode && (o - 1) * s >= in + pad)
		o--;
	return o;
}

/* n c h w kh kw sh sw ph pw dh dw ceil */
static const int pool_cases[][13] = {
	{ 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0 },
	{ 1, 3, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 0 },
	{ 2, 3, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1 },
	{ 1, 2, 13, 17, 2, 2, 2, 2, 0, 0, 1, 1, 1 },
	{ 1, 2, 13, 17, 3, 2, 3, 2, 1, 0, 1, 1, 1 },
	{ 1, 4, 10, 10, 3, 3, 3, 3, 1, 1, 1, 1, 1 },
	{ 1, 2, 9, 11, 3, 3, 1, 1, 1, 1, 2, 2, 0 },   /* max pooling with dilation */
	{ 1, 2, 33, 17, 5, 5, 2, 3, 2, 2, 1, 1, 1 },
	{ 1, 1, 5, 5, 5, 5, 1, 1, 2, 2, 1, 1, 0 },
	{ 4, 64, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1 }, /* large enough to run in parallel */
	{ 1, 3, 55, 55, 3, 3, 2, 2, 0, 0, 1, 1, 1 },  /* squeezenet's: ceil mode, rows of 27 */
	{ 1, 2, 9, 37, 3, 3, 1, 1, 1, 1, 1, 1, 0 },   /* stride 1, rows of 37 */
	{ 1, 2, 8, 40, 2, 4, 2, 2, 0, 1, 1, 1, 0 },   /* stride 2, even kernel, rows of 20 */
};

static void ref_maxpool(const struct k_pool2d *p, const float *x, double *y)
{
	for (k_idx t = 0; t < p->n * p->c; t++)
	for (k_idx oy = 0; oy < p->oh; oy++)
	for (k_idx ox = 0; ox < p->ow; ox++) {
		double m = -INFINITY;
		for (k_idx ki = 0; ki < p->kh; ki++)
		for (k_idx kj = 0; kj < p->kw; kj++) {
			k_idx iy = oy * p->stride_h - p->pad_h + ki * p->dil_h, ix = ox * p->stride_w - p->pad_w + kj * p->dil_w;
			if (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w)
				m = fmax(m, x[(t * p->h + iy) * p->w + ix]);
		}
		y[(t * p->oh + oy) * p->ow + ox] = m;
	}
}

/* Number of positions in [start, start + k) that also lie in [lo, hi). */
static k_idx overlap(k_idx start, k_idx k, k_idx lo, k_idx hi)
{
	k_idx n = 0;

	for (k_idx i = start; i < start + k; i++)
		n += i >= lo && i < hi;
	return n;
}

static void ref_avgpool(const struct k_pool2d *p, const float *x, double *y)
{
	for (k_idx t = 0; t < p->n * p->c; t++)
	for (k_idx oy = 0; oy < p->oh; oy++)
	for (k_idx ox = 0; ox < p->ow; ox++) {
		k_idx y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
		double s = 0, div;
		for (k_idx iy = y0; iy < y0 + p->kh; iy++)
			for (k_idx ix = x0; ix < x0 + p->kw; ix++)
				if (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w)
					s += x[(t * p->h + iy) * p->w + ix];
		k_idx inside = overlap(y0, p->kh, 0, p->h) * overlap(x0, p->kw, 0, p->w);
		if (p->divisor_override)
			div = (double)p->divisor_override;
		else if (p->count_include_pad)
			div = (double)(overlap(y0, p->kh, -p->pad_h, p->h + p->pad_h) *
				       overlap(x0, p->kw, -p->pad_w, p->w + p->pad_w));
		else
			div = (double)inside;
		y[(t * p->oh + oy) * p->ow + ox] = inside ? s / div : 0;
	}
}

static struct k_pool2d pool_params(const int *c)
{
	struct k_pool2d p = { .n = c[0], .c = c[1], .h = c[2], .w = c[3], .kh = c[4], .kw = c[5],
			      .stride_h = c[6], .stride_w = c[7], .pad_h = c[8], .pad_w = c[9],
			      .dil_h = c[10], .dil_w = c[11] };
	p.oh = pool_out(p.h, p.kh, p.stride_h, p.pad_h, p.dil_h, c[12]);
	p.ow = pool_out(p.w, p.kw, p.stride_w, p.pad_w, p.dil_w, c[12]);
	return p;
}

static void test_pool(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof pool_cases / sizeof pool_cases[0]; t++) {
		struct k_pool2d p = pool_params(pool_cases[t]);
		size_t nx = (size_t)(p.n * p.c * p.h * p.w), ny = (size_t)(p.n * p.c * p.oh * p.ow);
		float *x = kt_randv(nx, -1, 1), *y = kt_falloc(ny);
		double *ref = kt_dalloc(ny);
		char what[80];
		for (int mode = 0; mode < 4; mode++) {
			if (mode == 0) {
				ref_maxpool(&p, x, ref);
			} else {
				if (p.dil_h > 1)
					break;
				p.count_include_pad = mode == 1;
				p.divisor_override = mode == 3 ? 7 : 0;
				ref_avgpool(&p, x, ref);
			}
			for (int th = 0; th < KT_NTHREADS; th++) {
				kt_set_threads(kt_threads[th]);
				(mode == 0 ? k_maxpool2d_f32 : k_avgpool2d_f32)(&p, x, y);
				snprintf(what, sizeof what, "pool case %zu mode %d, %d threads", t, mode, kt_threads[th]);
				kt_check(what, y, ref, ny, 1e-6, 1e-5);
			}
		}
		free(x), free(y), free(ref);
	}
}

/* Values PyTorch 1.13 gives for avg_pool2d(arange(25).view(1,1,5,5), 2, 2, padding=1,
 * ceil_mode=True, count_include_pad=True): the last windows' divisor is clipped to h + pad. */
static void test_avgpool_torch(void **state)
{
	static const double want[9] = { 0, 0.75, 1.75, 3.75, 9, 11, 8.75, 19, 21 };
	float x[25], y[9];
	struct k_pool2d p = { .n = 1, .c = 1, .h = 5, .w = 5, .kh = 2, .kw = 2, .stride_h = 2, .stride_w = 2,
			      .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .count_include_pad = 1 };
	(void)state;
	p.oh = pool_out(5, 2, 2, 1, 1, 1);
	p.ow = p.oh;
	assert_int_equal(p.oh, 3);
	for (int i = 0; i < 25; i++)
		x[i] = (float)i;
	k_avgpool2d_f32(&p, x, y);
	kt_check("avg_pool2d vs torch", y, want, 9, 1e-6, 1e-6);
}

static void test_maxpool_nan(void **state)
{
	float x[4] = { 1, NAN, 3, 2 }, y[1];
	struct k_pool2d p = { .n = 1, .c = 1, .h = 2, .w = 2, .kh = 2, .kw = 2, .stride_h = 2, .stride_w = 2,
			      .dil_h = 1, .dil_w = 1, .oh = 1, .ow = 1 };
	(void)state;
	k_maxpool2d_f32(&p, x, y);
	assert_true(isnan(y[0]));
	{
		/* a row of 19 outputs (vector runs and a tail), stride 2: NaN wins in its windows only */
		float xw[40], yw[19];
		struct k_pool2d q = { .n = 1, .c = 1, .h = 1, .w = 40, .kh = 1, .kw = 3, .stride_h = 1, .stride_w = 2,
				      .dil_h = 1, .dil_w = 1, .oh = 1, .ow = 19 };
		for (int i = 0; i < 40; i++)
			xw[i] = (float)(i % 7);
		xw[9] = NAN, xw[34] = NAN;
		k_maxpool2d_f32(&q, xw, yw);
		for (int o = 0; o < 19; o++) {
			float want = -INFINITY;
			int nan = 0;
			for (int k = 0; k < 3; k++) {
				nan |= isnan(xw[2 * o + k]);
				want = xw[2 * o + k] > want ? xw[2 * o + k] : want;
			}
			if (nan)
				assert_true(isnan(yw[o]));
			else
				assert_true(yw[o] == want);
		}
	}
}

/* h w oh ow */
static const int ad_cases[][4] = {
	{ 7, 7, 1, 1 }, { 13, 11, 5, 3 }, { 5, 5, 7, 7 }, { 8, 8, 4, 4 }, { 9, 1, 4, 1 }, { 1, 1, 1, 1 },
	{ 17, 33, 6, 6 }, { 56, 56, 1, 1 },
};

static void test_adaptive(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof ad_cases / sizeof ad_cases[0]; t++) {
		struct k_adaptive_pool2d p = { .n = 2, .c = 33, .h = ad_cases[t][0], .w = ad_cases[t][1],
					       .oh = ad_cases[t][2], .ow = ad_cases[t][3] };
		size_t nx = (size_t)(p.n * p.c * p.h * p.w), ny = (size_t)(p.n * p.c * p.oh * p.ow);
		float *x = kt_randv(nx, -1, 1), *y = kt_falloc(ny);
		double *ravg = kt_dalloc(ny), *rmax = kt_dalloc(ny);
		char what[80];
		for (k_idx c = 0; c < p.n * p.c; c++)
		for (k_idx oy = 0; oy < p.oh; oy++)
		for (k_idx ox = 0; ox < p.ow; ox++) {
			k_idx y0 = (k_idx)floor((double)(oy * p.h) / (double)p.oh);
			k_idx y1 = (k_idx)ceil((double)((oy + 1) * p.h) / (double)p.oh);
			k_idx x0 = (k_idx)floor((double)(ox * p.w) / (double)p.ow);
			k_idx x1 = (k_idx)ceil((double)((ox + 1) * p.w) / (double)p.ow);
			double s = 0, m = -INFINITY;
			for (k_idx iy = y0; iy < y1; iy++)
				for (k_idx ix = x0; ix < x1; ix++) {
					s += x[(c * p.h + iy) * p.w + ix];
					m = fmax(m, x[(c * p.h + iy) * p.w + ix]);
				}
			ravg[(c * p.oh + oy) * p.ow + ox] = s / (double)((y1 - y0) * (x1 - x0));
			rmax[(c * p.oh + oy) * p.ow + ox] = m;
		}
		for (int th = 0; th < KT_NTHREADS; th++) {
			kt_set_threads(kt_threads[th]);
			k_adaptive_avgpool2d_f32(&p, x, y);
			snprintf(what, sizeof what, "adaptive avg case %zu, %d threads", t, kt_threads[th]);
			kt_check(what, y, ravg, ny, 1e-6, 1e-5);
			k_adaptive_maxpool2d_f32(&p, x, y);
			snprintf(what, sizeof what, "adaptive max case %zu, %d threads", t, kt_threads[th]);
			kt_check(what, y, rmax, ny, 0, 0);
		}
		free(x), free(y), free(ravg), free(rmax);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool),
		cmocka_unit_test(test_avgpool_torch),
		cmocka_unit_test(test_maxpool_nan),
		cmocka_unit_test(test_adaptive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
