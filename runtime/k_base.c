/* kiln runtime: shared includes, macros, activations, epilogue, timing. needs: */
/*
 * Every runtime file is copied verbatim into generated C, this one first and before any
 * #include, so the _POSIX_C_SOURCE below takes effect (clock_gettime).  Conventions for
 * all k_*.c files:
 *   - everything is static and K_UNUSED, prefixed k_; parameters in a struct k_<name>
 *     passed by const pointer; omitted designated-initializer fields are zero, so zero
 *     must mean "off" for every optional field (act, res, ...);
 *   - tensors are float32, contiguous, NCHW unless a struct says otherwise;
 *   - no malloc and no static mutable state: scratch memory comes from the caller, sized
 *     by k_<name>_scratch();
 *   - OpenMP through K_OMP(), which is empty without -fopenmp.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define K_AVX2 1 /* AVX2/FMA intrinsics replace the portable loops in the hot kernels */
#else
#define K_AVX2 0
#endif

#define K_RESTRICT restrict
#if defined(__GNUC__)
#define K_UNUSED __attribute__((unused))
#define K_PREFETCH_L2(p) __builtin_prefetch((p), 0, 2) /* a hint: fetch p's line into L2 */
#else
#define K_UNUSED
#define K_PREFETCH_L2(p) ((void)(p))
#endif
#ifdef _OPENMP
#define K_OMP(x) _Pragma(#x)
#else
#define K_OMP(x)
#endif
/* Below this many element operations a kernel stays on one thread. */
#define K_PAR_MIN 32768
/* Below this many multiply-adds a GEMM, convolution or matrix-vector product stays on one
 * thread (about 5 us of work): joining a parallel region costs a few microseconds on an
 * idle machine (on a busy one, a scheduler time slice).  Measured on 2 cores: mobilenet_v2
 * at 2 threads takes 7.2 ms with 4M here, 6.8 with 1M, 6.2 with 256K. */
#define K_PAR_MIN_MM 262144
#define K_MAXRANK 8 /* most dims a strided kernel takes */

typedef int64_t k_idx; /* element counts, indices and strides */

/* Element types of tensors a kernel reads or writes untyped (k_cast, k_npy). */
enum k_dtype { K_F32, K_F64, K_I64, K_I32, K_U8, K_BOOL };

/* Activation fused into a kernel's epilogue, applied after bias and residual. */
enum k_act {
	K_ACT_NONE,        /* zero: no activation */
	K_ACT_RELU,        /* max(x, 0) */
	K_ACT_CLIP,        /* clamp(x, min, max): relu6, hardtanh */
	K_ACT_SIGMOID,     /* 1 / (1 + exp(-x)) */
	K_ACT_SILU,        /* x * sigmoid(x) */
	K_ACT_HARDSWISH,   /* x * clamp(x + 3, 0, 6) / 6 */
	K_ACT_HARDSIGMOID, /* clamp(x + 3, 0, 6) / 6 */
	K_ACT_TANH,        /* tanh(x) */
	K_ACT_GELU,        /* 0.5 x (1 + erf(x / sqrt 2)) */
	K_ACT_GELU_TANH,   /* gelu, approximate='tanh' */
	K_ACT_LEAKY_RELU   /* x >= 0 ? x : slope * x */
};

/* Scalar activations, written as PyTorch's CPU kernels compute them. NaN propagates. */
static inline K_UNUSED float k_relu(float x) { return x < 0.0f ? 0.0f : x; }

static inline K_UNUSED float k_clip(float x, float lo, float hi)
{
	return x < lo ? lo : (x > hi ? hi : x);
}

/* Stable for large |x|: exp never overflows. */
static inline K_UNUSED float k_sigmoid(float x)
{
	float e = expf(-fabsf(x));
	float s = 1.0f / (1.0f + e);
	return x >= 0.0f ? s : e * s;
}

static inline K_UNUSED float k_silu(float x) { return x * k_sigmoid(x); }

static inline K_UNUSED float k_hardswish(float x)
{
	return x * k_clip(x + 3.0f, 0.0f, 6.0f) / 6.0f;
}

static inline K_UNUSED float k_hardsigmoid(float x) { return k_clip(x + 3.0f, 0.0f, 6.0f) / 6.0f; }

static inline K_UNUSED float k_gelu(float x)
{
	return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
}

static inline K_UNUSED float k_gelu_tanh(float x)
{
	const float c = 0.79788456080286535588f; /* sqrt(2 / pi) */
	return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}

static inline K_UNUSED float k_leaky_relu(float x, float slope) { return x >= 0.0f ? x : slope * x; }

#if K_AVX2
/* exp(x) = q * 2^n of 8 floats, Cephes' expf: n = round(x / ln 2), given (a float of at most
 * 128, clamped by the caller); returns q, the degree-5 polynomial of x - n ln 2 (reduced by
 * ln 2 in two parts), and sets *scale to 2^n (infinity for n = 128). */
static inline K_UNUSED __m256 k_exp8_parts(__m256 x, __m256 n, __m256 *scale)
{
	const __m256 c1 = _mm256_set1_ps(0.693359375f), c2 = _mm256_set1_ps(-2.12194440e-4f);
	__m256 r = _mm256_fnmadd_ps(n, c2, _mm256_fnmadd_ps(n, c1, x)), q;
	__m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);

	q = _mm256_set1_ps(1.9875691500e-4f);
	q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.3981999507e-3f));
	q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(8.3334519073e-3f));
	q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(4.1665795894e-2f));
	q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.6666665459e-1f));
	q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(5.0000001201e-1f));
	*scale = _mm256_castsi256_ps(e);
	return _mm256_fmadd_ps(q, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
}

/* round(x / ln 2) of 8 floats */
static inline K_UNUSED __m256 k_exp8_n(__m256 x)
{
	return _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
			       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* exp of 8 floats, within 2 ulp of expf for normal results; 0 below -87.3 (so silu(-inf) is
 * NaN, as in scalar code), exp(88.7) above 88.7. */
static inline K_UNUSED __m256 k_exp8(__m256 x)
{
	__m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ), q, scale;

	x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
	q = k_exp8_parts(x, k_exp8_n(x), &scale);
	return _mm256_andnot_ps(under, _mm256_mul_ps(q, scale));
}

/* sigmoid of 8 floats as k_sigmoid computes it (exp of -|x|, so nothing overflows); NaN in,
 * NaN out. */
static inline K_UNUSED __m256 k_sigmoid8(__m256 x)
{
	__m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
	__m256 e = k_exp8(_mm256_sub_ps(_mm256_setzero_ps(), ax));
	__m256 s = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
	__m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
	__m256 r = _mm256_blendv_ps(s, _mm256_mul_ps(e, s), neg);
	return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* silu of 8 floats, x / (1 + exp(-x)), within about 3e-7 of it (relative), in two thirds
 * of the time x * k_sigmoid8(x) takes: exp(-x) as k_exp8 computes it, with its exponent
 * capped at 2^128 (infinity) so that no case needs a blend: x < -88.7 gives -0, x = -inf
 * NaN (-inf / inf, as x * sigmoid(x) gives), NaN NaN. */
static inline K_UNUSED __m256 k_silu8(__m256 x)
{
	__m256 t = _mm256_max_ps(_mm256_set1_ps(-87.3f), _mm256_sub_ps(_mm256_setzero_ps(), x)), q, scale;

	q = k_exp8_parts(t, _mm256_min_ps(k_exp8_n(t), _mm256_set1_ps(128.0f)), &scale);
	return _mm256_div_ps(x, _mm256_fmadd_ps(q, scale, _mm256_set1_ps(1.0f)));
}

/* tanh of 8 floats: sign(x) (1 - e) / (1 + e) with e = exp(-2|x|), within about 1e-7 of
 * tanhf (absolute; the relative error grows below |x| ~ 1e-3); NaN in, NaN out. */
static inline K_UNUSED __m256 k_tanh8(__m256 x)
{
	__m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
	__m256 ax = _mm256_andnot_ps(sign, x);
	__m256 e = k_exp8(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
	__m256 r = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));

	r = _mm256_or_ps(r, _mm256_and_ps(sign, x));
	return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* True if k_act8 computes act in registers. */
static inline K_UNUSED int k_act8_ok(enum k_act act)
{
	return act == K_ACT_NONE || act == K_ACT_RELU || act == K_ACT_CLIP || act == K_ACT_SIGMOID ||
	       act == K_ACT_SILU;
}

/* act of 8 floats for the acts k_act8_ok takes; lo and hi are relu's or clip's bounds (-inf and
 * +inf for none), applied as k_clip does (NaN passes through). */
/* The mask of lanes 0..n-1 of 8 (for maskload/maskstore of a row's last n < 8 floats). */
static inline K_UNUSED __m256i k_lanes8(k_idx n)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* v at q, or its first end - q lanes if q + 8 passes end: a row's last vector that may run on
 * into the next row (written after it), but not past its plane. */
static inline K_UNUSED void k_store8_upto(float *q, __m256 v, const float *end)
{
	if (q + 8 <= end)
		_mm256_storeu_ps(q, v);
	else
		_mm256_maskstore_ps(q, k_lanes8(end - q), v);
}

static inline K_UNUSED __m256 k_act8(enum k_act act, __m256 v, __m256 lo, __m256 hi)
{
	if (act == K_ACT_SIGMOID)
		return k_sigmoid8(v);
	if (act == K_ACT_SILU)
		return k_silu8(v);
	return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
}
#endif

/* sigmoid (silu if mul) of n floats in place, 8 at a time where AVX2 is there (the tail too,
 * through a buffer of 8). */
static K_UNUSED void k_sigmoid_row(float *y, k_idx n, int mul)
{
	k_idx i = 0;

#if K_AVX2
	for (; i + 8 <= n; i += 8) {
		__m256 x = _mm256_loadu_ps(y + i);
		_mm256_storeu_ps(y + i, mul ? k_silu8(x) : k_sigmoid8(x));
	}
	if (i < n) {
		float t[8] = { 0 };
		__m256 x;
		memcpy(t, y + i, (size_t)(n - i) * sizeof(float));
		x = _mm256_loadu_ps(t);
		_mm256_storeu_ps(t, mul ? k_silu8(x) : k_sigmoid8(x));
		memcpy(y + i, t, (size_t)(n - i) * sizeof(float));
		return;
	}
#endif
	for (; i < n; i++)
		y[i] = mul ? k_silu(y[i]) : k_sigmoid(y[i]);
}

/* tanh of n floats in place, 8 at a time where AVX2 is there (the tail through a buffer). */
static K_UNUSED void k_tanh_row(float *y, k_idx n)
{
	k_idx i = 0;

#if K_AVX2
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, k_tanh8(_mm256_loadu_ps(y + i)));
	if (i < n) {
		float t[8] = { 0 };
		memcpy(t, y + i, (size_t)(n - i) * sizeof(float));
		_mm256_storeu_ps(t, k_tanh8(_mm256_loadu_ps(t)));
		memcpy(y + i, t, (size_t)(n - i) * sizeof(float));
		return;
	}
#endif
	for (; i < n; i++)
		y[i] = tanhf(y[i]);
}

/* Applies an activation to n contiguous floats in place. The switch is outside the loops. */
static K_UNUSED void k_act_row(enum k_act act, float lo, float hi, float slope, float *y, k_idx n)
{
	k_idx i;

	switch (act) {
	case K_ACT_NONE: break;
	case K_ACT_RELU: for (i = 0; i < n; i++) y[i] = k_relu(y[i]); break;
	case K_ACT_CLIP: for (i = 0; i < n; i++) y[i] = k_clip(y[i], lo, hi); break;
	case K_ACT_SIGMOID: k_sigmoid_row(y, n, 0); break;
	case K_ACT_SILU: k_sigmoid_row(y, n, 1); break;
	case K_ACT_HARDSWISH: for (i = 0; i < n; i++) y[i] = k_hardswish(y[i]); break;
	case K_ACT_HARDSIGMOID: for (i = 0; i < n; i++) y[i] = k_hardsigmoid(y[i]); break;
	case K_ACT_TANH: k_tanh_row(y, n); break;
	case K_ACT_GELU: for (i = 0; i < n; i++) y[i] = k_gelu(y[i]); break;
	case K_ACT_GELU_TANH: for (i = 0; i < n; i++) y[i] = k_gelu_tanh(y[i]); break;
	case K_ACT_LEAKY_RELU: for (i = 0; i < n; i++) y[i] = k_leaky_relu(y[i], slope); break;
	}
}

/*
 * The epilogue shared by conv, linear and gemm, on a rows x cols contiguous block:
 *   y[i,j] = act(alpha * y[i,j] + beta * c[i*c_rs + j*c_cs] + res[i*cols + j])
 * c (bias or addmm's C) and res may be NULL; strides 0 broadcast.
 */
struct k_epi {
	float alpha, beta;  /* scale of the product and of c */
	const float *c;     /* bias / C, or NULL */
	k_idx c_rs, c_cs;   /* c's row and column strides in elements */
	const float *res;   /* residual with y's layout, or NULL */
	enum k_act act;     /* activation, then its parameters */
	float min, max, slope;
};

/* One row of the epilogue: row i of y, whose residual row is res_row (or NULL). */
static K_UNUSED void k_epi_row(const struct k_epi *e, k_idx i, float *y, const float *res_row, k_idx cols)
{
	k_idx j;

	if (e->alpha != 1.0f)
		for (j = 0; j < cols; j++) y[j] *= e->alpha;
	if (e->c) {
		const float *c = e->c + i * e->c_rs;
		float beta = e->beta;
		if (e->c_cs == 0) {
			float v = beta * c[0];
			for (j = 0; j < cols; j++) y[j] += v;
		} else if (e->c_cs == 1 && beta == 1.0f) {
			for (j = 0; j < cols; j++) y[j] += c[j];
		} else {
			for (j = 0; j < cols; j++) y[j] += beta * c[j * e->c_cs];
		}
	}
	if (res_row)
		for (j = 0; j < cols; j++) y[j] += res_row[j];
	k_act_row(e->act, e->min, e->max, e->slope, y, cols);
}

/* The epilogue over a rows x cols block, parallel over rows. */
static K_UNUSED void k_epilogue(const struct k_epi *e, float *y, k_idx rows, k_idx cols)
{
	k_idx i;

	if (e->alpha == 1.0f && !e->c && !e->res && e->act == K_ACT_NONE)
		return;
	K_OMP(omp parallel for schedule(static) if (rows * cols > K_PAR_MIN && rows > 1))
	for (i = 0; i < rows; i++)
		k_epi_row(e, i, y + i * cols, e->res ? e->res + i * cols : NULL, cols);
}

/* Seconds from an arbitrary origin, for --bench. */
static K_UNUSED double k_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Rounds n up to a multiple of m. */
static inline K_UNUSED k_idx k_round_up(k_idx n, k_idx m) { return (n + m - 1) / m * m; }

static inline K_UNUSED k_idx k_min_idx(k_idx a, k_idx b) { return a < b ? a : b; }
static inline K_UNUSED k_idx k_max_idx(k_idx a, k_idx b) { return a > b ? a : b; }
