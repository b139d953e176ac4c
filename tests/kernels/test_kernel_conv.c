/* conv2d against a naive double-precision reference, over awkward shapes and every epilogue. */
#include "runtime/k_base.c"
#include "runtime/k_gemm.c"
#include "runtime/k_conv.c"
#include "tests/kernels/kt.h"

/* n c h w oc kh kw sh sw ph pw dh dw groups */
static const int conv_cases[][14] = {
	{ 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1 },
	{ 1, 3, 7, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1 },
	{ 2, 3, 13, 17, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1 },
	{ 1, 8, 9, 11, 12, 1, 1, 1, 1, 0, 0, 1, 1, 1 },   /* 1x1 GEMM path */
	{ 2, 17, 10, 9, 33, 1, 1, 1, 1, 0, 0, 1, 1, 1 },
	{ 1, 8, 13, 13, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8 },   /* depthwise */
	{ 2, 8, 14, 14, 16, 3, 3, 2, 2, 1, 1, 1, 1, 8 },  /* depthwise, multiplier 2, stride 2 */
	{ 1, 6, 11, 11, 9, 3, 3, 1, 1, 2, 2, 2, 2, 3 },   /* groups 3, dilation 2 */
	{ 1, 4, 13, 7, 6, 5, 3, 2, 1, 2, 1, 1, 2, 2 },    /* asymmetric everything */
	{ 1, 32, 8, 8, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1 },   /* k = 288 > K_KC */
	{ 1, 3, 5, 5, 7, 7, 7, 1, 1, 3, 3, 1, 1, 1 },     /* kernel larger than the input */
	{ 1, 16, 7, 7, 16, 5, 5, 1, 1, 2, 2, 1, 1, 16 },  /* depthwise 5x5 */
	{ 1, 4, 9, 9, 4, 3, 3, 1, 1, 0, 0, 2, 2, 4 },     /* depthwise, dilation, no padding */
	{ 1, 300, 3, 3, 20, 1, 1, 1, 1, 0, 0, 1, 1, 1 },  /* 1x1, k = 300 */
	{ 1, 8, 9, 9, 8, 1, 1, 2, 2, 0, 0, 1, 1, 1 },     /* 1x1 stride 2: im2col */
	{ 1, 5, 6, 6, 10, 3, 3, 3, 3, 4, 4, 1, 1, 5 },    /* depthwise, padding > kernel / 2 */
	{ 2, 64, 28, 28, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1 }, /* large enough to run in parallel */
	{ 1, 96, 28, 28, 96, 3, 3, 1, 1, 1, 1, 1, 1, 96 },
	{ 2, 64, 60, 60, 64, 3, 3, 1, 1, 1, 1, 1, 1, 64 }, /* depthwise, enough work to run in parallel */
	/* the panel-at-a-time GEMM and im2col runs */
	{ 1, 16, 5, 7, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1 },   /* 16-pixel panels span output rows of 7 */
	{ 2, 24, 3, 37, 7, 3, 3, 1, 2, 1, 1, 1, 1, 1 },   /* rows wider than a panel, stride 2 in x */
	{ 1, 40, 6, 6, 30, 3, 3, 1, 1, 1, 1, 1, 1, 1 },   /* 3 panels: row blocks shared out */
	{ 1, 7, 9, 10, 11, 1, 5, 1, 1, 0, 4, 1, 1, 1 },   /* 1x5, padding wider than half the kernel */
	{ 1, 64, 12, 12, 64, 1, 1, 1, 1, 0, 0, 1, 1, 1 }, /* 1x1: 9 panels, one per thread at a time */
	/* depthwise row kernels */
	{ 1, 8, 19, 21, 8, 3, 3, 2, 2, 1, 1, 1, 1, 8 },   /* 3-wide, stride 2, odd sizes */
	{ 1, 4, 6, 40, 4, 1, 17, 1, 1, 0, 8, 1, 1, 4 },   /* wider than K_DW_MAXKW: plain loops */
	{ 1, 6, 5, 4, 6, 3, 3, 1, 1, 1, 3, 1, 1, 6 },     /* no column where all taps are valid */
	{ 2, 3, 8, 8, 6, 3, 3, 1, 1, 2, 2, 2, 2, 3 },     /* multiplier 2, dilation 2 */
	/* the vector depthwise kernel: full vectors and a masked tail per row, stride 2 */
	{ 1, 3, 10, 35, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3 },   /* ow 35: 4 vectors and a tail of 3 */
	{ 1, 4, 20, 37, 4, 3, 3, 2, 2, 1, 1, 1, 1, 4 },   /* stride 2, ow 19 */
	{ 2, 5, 17, 29, 5, 5, 5, 2, 2, 2, 2, 1, 1, 5 },   /* 5x5 stride 2 */
	{ 1, 4, 11, 24, 8, 3, 3, 2, 1, 1, 1, 1, 1, 4 },   /* stride 2 down, 1 across, multiplier 2 */
	{ 1, 2, 130, 130, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2 }, /* padded plane too big for the stack */
	{ 1, 3, 12, 20, 3, 3, 3, 1, 1, 2, 1, 2, 1, 3 },   /* 3x3, dilation 2 down only */
	/* rows of at most two vectors: a row's last vector runs on into the next row, masked
	 * only at the end of the plane */
	{ 1, 9, 7, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 9 },     /* 7x7, 3x3: pairs of rows and a last one */
	{ 2, 5, 7, 7, 5, 5, 5, 1, 1, 2, 2, 1, 1, 5 },     /* 5x5 over 7x7: blocks of 4 rows */
	{ 1, 3, 14, 14, 3, 5, 5, 1, 1, 2, 2, 1, 1, 3 },   /* 5x5 over 14x14: blocks of 2 rows */
	{ 1, 4, 15, 13, 4, 3, 3, 2, 2, 1, 1, 1, 1, 4 },   /* 3x3 stride 2, ow 7 */
	{ 1, 3, 9, 31, 3, 3, 3, 2, 2, 1, 1, 1, 1, 3 },    /* 3x3 stride 2 from the image: w 31, 15 floats left */
	{ 1, 4, 1, 1, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4 },     /* 3x3 stride 1 from the image: one pixel */
	{ 2, 3, 3, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3 },     /* ... 3 rows (a pair and one), a block of 1 */
	{ 1, 5, 4, 16, 10, 3, 3, 1, 1, 1, 1, 1, 1, 5 },   /* ... w 16: two whole blocks, multiplier 2 */
	{ 1, 2, 6, 17, 2, 5, 5, 1, 1, 2, 2, 1, 1, 2 },    /* 5x5, ow 17: two blocks a row, no run-on */
	/* the direct path (stride 1 across, panels within an output row) */
	{ 1, 8, 9, 30, 12, 3, 3, 1, 1, 1, 1, 1, 1, 2 },   /* 2 groups, 2 panels a row, the 2nd of 14 */
	{ 2, 5, 20, 26, 7, 3, 3, 2, 1, 2, 2, 2, 2, 1 },   /* stride 2 down, dilation 2, batch 2 */
	{ 1, 3, 6, 13, 14, 3, 5, 1, 1, 0, 2, 1, 1, 1 },   /* one 13-pixel panel a row, no padding down */
	{ 1, 40, 12, 16, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1 }, /* k = 360 > K_KC */
	{ 1, 2, 3, 12, 5, 5, 5, 1, 1, 2, 2, 1, 1, 1 },    /* kernel taller than the input */
	{ 1, 16, 2, 40, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1 },  /* 6 panels: row blocks shared out */
	/* the pixel-row path (packed weights) */
	{ 1, 3, 23, 23, 20, 7, 7, 2, 2, 3, 3, 1, 1, 1 },  /* 7x7 stride 2: tiles span rows, 2 panels */
	{ 2, 64, 7, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1 },   /* k = 576: 3 slices; 49 pixels, a tile of 1 */
	{ 1, 24, 21, 21, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1 }, /* 74 tiles: several blocks of K_PR_TB */
	{ 1, 260, 5, 4, 33, 1, 1, 1, 1, 0, 0, 1, 1, 1 },  /* 1x1 stride 1 with k >= K_PR_MIN_K1 */
	{ 1, 40, 7, 7, 50, 1, 1, 1, 1, 0, 0, 1, 1, 1 },   /* 1x1 stride 1, small k, <= K_PR_MAX_HW1 pixels */
	{ 2, 13, 5, 9, 20, 1, 1, 1, 1, 0, 0, 1, 1, 1 },   /* ... made pixel-major: 45 pixels, 13 channels */
	{ 1, 16, 8, 8, 17, 1, 1, 1, 1, 0, 0, 1, 1, 1 },   /* ... 64 pixels, 16 channels: whole 8x8 blocks */
	{ 1, 260, 9, 10, 260, 1, 1, 1, 1, 0, 0, 1, 1, 1 }, /* ... 90 pixels, oc >= K_PR_TR_OC */
	{ 1, 32, 9, 9, 48, 1, 1, 2, 2, 0, 0, 1, 1, 1 },   /* 1x1 stride 2: no padded copy */
	{ 1, 12, 10, 10, 36, 3, 3, 1, 1, 1, 1, 1, 1, 3 }, /* groups 3, 12 channels a group */
	{ 1, 300, 9, 9, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1 },  /* enough work to run in parallel */
	{ 1, 42, 1, 1, 20, 1, 1, 1, 1, 0, 0, 1, 1, 1 },   /* one output pixel (squeeze-excite), 2 panels */
	{ 2, 5, 1, 1, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1 },     /* one pixel, taps in the padding, batch 2 */
	/* Winograd F(2x2, 3x3) (also cases 16 and 42 above) */
	{ 1, 32, 11, 13, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1 },  /* odd sizes: tiles cut at the right and bottom */
	{ 2, 40, 12, 19, 13, 3, 3, 1, 1, 0, 0, 1, 1, 1 }, /* no padding, 10x17, batch 2, oc 13 */
	{ 1, 33, 6, 40, 10, 3, 3, 1, 1, 2, 2, 1, 1, 1 },  /* padding 2; 21 tiles a row: runs of 8 and 5 */
	{ 1, 600, 12, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1 }, /* c 600: blocks of 4 tile rows */
	{ 1, 64, 34, 34, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1 }, /* 289 tiles: blocks of 7 rows, in parallel */
	{ 1, 32, 8, 16, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1 },   /* 32 tiles (the fewest), rows of 8 */
	{ 1, 34, 9, 15, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1 },  /* ow 15: a run of 8 tiles cut to 15 floats */
};

static double ref_act(enum k_act act, double v, double lo, double hi, double slope)
{
	switch (act) {
	case K_ACT_NONE: return v;
	case K_ACT_RELU: return v > 0 ? v : 0;
	case K_ACT_CLIP: return v < lo ? lo : v > hi ? hi : v;
	case K_ACT_SIGMOID: return 1 / (1 + exp(-v));
	case K_ACT_SILU: return v / (1 + exp(-v));
	case K_ACT_HARDSWISH: return v * fmin(fmax(v + 3, 0), 6) / 6;
	case K_ACT_HARDSIGMOID: return fmin(fmax(v + 3, 0), 6) / 6;
	case K_ACT_TANH: return tanh(v);
	case K_ACT_GELU: return 0.5 * v * (1 + erf(v / sqrt(2.0)));
	case K_ACT_GELU_TANH: return 0.5 * v * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
	case K_ACT_LEAKY_RELU: return v >= 0 ? v : slope * v;
	}
	return v;
}

static void ref_conv(const struct k_conv2d *p, const float *x, const float *w, const float *b, double *y)
{
	k_idx icg = p->c / p->groups, ocg = p->oc / p->groups;

	for (k_idx n = 0; n < p->n; n++)
	for (k_idx o = 0; o < p->oc; o++)
	for (k_idx oy = 0; oy < p->oh; oy++)
	for (k_idx ox = 0; ox < p->ow; ox++) {
		double s = b ? b[o] : 0;
		k_idx g = o / ocg;
		for (k_idx ci = 0; ci < icg; ci++)
		for (k_idx ki = 0; ki < p->kh; ki++)
		for (k_idx kj = 0; kj < p->kw; kj++) {
			k_idx iy = oy * p->stride_h - p->pad_h + ki * p->dil_h;
			k_idx ix = ox * p->stride_w - p->pad_w + kj * p->dil_w;
			if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w)
				continue;
			s += (double)x[((n * p->c + g * icg + ci) * p->h + iy) * p->w + ix] *
			     w[((o * icg + ci) * p->kh + ki) * p->kw + kj];
		}
		k_idx yi = ((n * p->oc + o) * p->oh + oy) * p->ow + ox;
		if (p->res)
			s += p->res[yi];
		y[yi] = ref_act(p->act, s, p->min, p->max, p->slope);
	}
}

/* Runs p with its weights as kiln passes them to the path kind names (0: as they are, else
 * packed by k_conv2d_pack) and checks the output against ref. */
static void check_kind(const struct k_conv2d *p, int kind, const float *x, const float *w, const float *b,
		       const double *ref, const char *what)
{
	struct k_conv2d q = *p;
	size_t ny = (size_t)(p->n * p->oc * p->oh * p->ow);
	float *y = kt_falloc(ny), *wk = NULL;
	void *scratch;

	q.packed = kind;
	if (kind) {
		wk = kt_falloc((size_t)k_conv2d_packed_size(&q));
		k_conv2d_pack(&q, w, wk);
	}
	scratch = malloc(k_conv2d_scratch(&q) + 1);
	memset(y, 0xff, ny * sizeof *y);
	k_conv2d_f32(&q, x, kind ? wk : w, b, y, scratch);
	kt_check(what, y, ref, ny, 1e-4, 1e-4);
	free(y), free(wk), free(scratch);
}

static void test_conv2d(void **state)
{
	static const char *const kinds[] = { [0] = "", [K_PACKED_PR] = " packed", [K_PACKED_WINO] = " winograd" };

	(void)state;
	for (size_t t = 0; t < sizeof conv_cases / sizeof conv_cases[0]; t++) {
		const int *c = conv_cases[t];
		struct k_conv2d p = { .n = c[0], .c = c[1], .h = c[2], .w = c[3], .oc = c[4], .kh = c[5], .kw = c[6],
				      .stride_h = c[7], .stride_w = c[8], .pad_h = c[9], .pad_w = c[10],
				      .dil_h = c[11], .dil_w = c[12], .groups = c[13] };
		p.oh = (p.h + 2 * p.pad_h - p.dil_h * (p.kh - 1) - 1) / p.stride_h + 1;
		p.ow = (p.w + 2 * p.pad_w - p.dil_w * (p.kw - 1) - 1) / p.stride_w + 1;
		p.min = -0.5f, p.max = 0.75f, p.slope = 0.1f;
		size_t nx = (size_t)(p.n * p.c * p.h * p.w), nw = (size_t)(p.oc * p.c / p.groups * p.kh * p.kw);
		size_t ny = (size_t)(p.n * p.oc * p.oh * p.ow);
		float *x = kt_randv(nx, -1, 1), *w = kt_randv(nw, -1, 1), *b = kt_randv((size_t)p.oc, -1, 1);
		float *res = kt_randv(ny, -1, 1);
		double *ref = kt_dalloc(ny);
		/* two passes, so each case runs with two activations, with and without a residual */
		for (size_t pass = 0; pass < 2; pass++) {
			p.act = (enum k_act)((t + 3 * pass) % (K_ACT_LEAKY_RELU + 1));
			p.res = (t + pass) % 2 ? res : NULL;
			ref_conv(&p, x, w, t % 3 ? b : NULL, ref);
			for (int th = 0; th < KT_NTHREADS; th++) {
				kt_set_threads(kt_threads[th]);
				for (int kind = 0; kind <= K_PACKED_WINO; kind++) {
					char what[64];
					if ((kind == K_PACKED_PR && !k_conv2d_is_pr(&p)) ||
					    (kind == K_PACKED_WINO && !k_conv2d_is_wino(&p)))
						continue;
					snprintf(what, sizeof what, "conv case %zu pass %zu%s, %d threads", t, pass,
						 kinds[kind], kt_threads[th]);
					check_kind(&p, kind, x, w, t % 3 ? b : NULL, ref, what);
				}
			}
		}
		free(x), free(w), free(b), free(res), free(ref);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conv2d),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
