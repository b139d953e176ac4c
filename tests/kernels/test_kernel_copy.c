/* Strided copies (permute, slice, expand, concat), fill and cast against naive index loops. */
#include "runtime/k_base.c"
#include "runtime/k_copy.c"
#include "tests/kernels/kt.h"

/* Reference: dst[flat index of i over dims] = src[src_offset + sum i_d * src_strides_d]. */
static void ref_gather(const struct k_copy *p, const float *src, double *dst)
{
	k_idx n = 1;

	for (int d = 0; d < p->rank; d++)
		n *= p->dims[d];
	for (k_idx i = 0; i < n; i++) {
		k_idx t = i, o = p->src_offset;
		for (int d = p->rank - 1; d >= 0; d--) {
			o += t % p->dims[d] * p->src_strides[d];
			t /= p->dims[d];
		}
		dst[i] = src[o];
	}
}

static void check_gather(const char *what, const struct k_copy *p, const float *src, size_t n)
{
	float *y = kt_falloc(n);
	double *ref = kt_dalloc(n);

	ref_gather(p, src, ref);
	for (int th = 0; th < KT_NTHREADS; th++) {
		kt_set_threads(kt_threads[th]);
		memset(y, 0, n * sizeof *y);
		k_copy_strided(p, src, y);
		kt_check(what, y, ref, n, 0, 0);
	}
	free(y), free(ref);
}

static void test_gather(void **state)
{
	float *x = kt_randv(200 * 300, -1, 1);
	(void)state;
	/* x as [2,3,4,5] permuted to (0,2,3,1): dims [2,4,5,3] */
	check_gather("permute", &(struct k_copy){ .rank = 4, .dims = { 2, 4, 5, 3 }, .src_strides = { 60, 5, 1, 20 } }, x, 120);
	/* [7,13] transposed */
	check_gather("transpose", &(struct k_copy){ .rank = 2, .dims = { 13, 7 }, .src_strides = { 1, 13 } }, x, 91);
	/* [10,17][2:9:3, 1:] */
	check_gather("slice", &(struct k_copy){ .rank = 2, .dims = { 3, 16 }, .src_strides = { 51, 1 }, .src_offset = 35 }, x, 48);
	/* select: [4,5,6][:, 2] */
	check_gather("select", &(struct k_copy){ .rank = 2, .dims = { 4, 6 }, .src_strides = { 30, 1 }, .src_offset = 12 }, x, 24);
	/* expand [3,1] to [3,5] and [1,7] to [4,7] */
	check_gather("expand col", &(struct k_copy){ .rank = 2, .dims = { 3, 5 }, .src_strides = { 1, 0 } }, x, 15);
	check_gather("expand row", &(struct k_copy){ .rank = 2, .dims = { 4, 7 }, .src_strides = { 0, 1 } }, x, 28);
	/* contiguous (coalesces to one memcpy), rank 0, rank 8 */
	check_gather("contiguous", &(struct k_copy){ .rank = 3, .dims = { 200, 10, 30 }, .src_strides = { 300, 30, 1 } }, x, 60000);
	check_gather("scalar", &(struct k_copy){ .rank = 0, .src_offset = 5 }, x, 1);
	check_gather("rank 8", &(struct k_copy){ .rank = 8, .dims = { 2, 1, 3, 2, 2, 1, 3, 2 },
			.src_strides = { 1, 7, 2, 100, 300, 9, 1000, 6 } }, x, 144);
	/* big transpose, parallel */
	check_gather("big transpose", &(struct k_copy){ .rank = 2, .dims = { 300, 200 }, .src_strides = { 1, 300 } }, x, 60000);
	free(x);
}

/* torch.cat([a (2,3,4), b (2,5,4)], dim=1) as two k_copy_into calls. */
static void test_concat(void **state)
{
	float *a = kt_randv(24, -1, 1), *b = kt_randv(40, -1, 1), y[64];
	double ref[64];
	(void)state;
	for (int n = 0; n < 2; n++)
		for (int c = 0; c < 8; c++)
			for (int w = 0; w < 4; w++)
				ref[(n * 8 + c) * 4 + w] = c < 3 ? a[(n * 3 + c) * 4 + w] : b[(n * 5 + c - 3) * 4 + w];
	k_copy_into(&(struct k_copy){ .rank = 3, .dims = { 2, 3, 4 }, .src_strides = { 12, 4, 1 },
				     .dst_strides = { 32, 4, 1 } }, a, y);
	k_copy_into(&(struct k_copy){ .rank = 3, .dims = { 2, 5, 4 }, .src_strides = { 20, 4, 1 },
				     .dst_strides = { 32, 4, 1 }, .dst_offset = 12 }, b, y);
	kt_check("concat", y, ref, 64, 0, 0);
	free(a), free(b);
}

static void test_esize(void **state)
{
	int64_t s8[6] = { 1, 2, 3, 4, 5, (int64_t)1 << 60 }, d8[6];
	uint8_t s1[6] = { 1, 2, 3, 4, 5, 6 }, d1[6];
	uint16_t s2[6] = { 1, 2, 3, 4, 5, 6 }, d2[6];
	struct k_copy p = { .rank = 2, .dims = { 3, 2 }, .src_strides = { 1, 3 }, .esize = 8 }; /* [2,3] transposed */
	(void)state;
	k_copy_strided(&p, s8, d8);
	assert_true(d8[0] == 1 && d8[1] == 4 && d8[2] == 2 && d8[3] == 5 && d8[4] == 3 && d8[5] == ((int64_t)1 << 60));
	p.esize = 1;
	k_copy_strided(&p, s1, d1);
	assert_true(d1[0] == 1 && d1[1] == 4 && d1[5] == 6);
	p.esize = 2;
	k_copy_strided(&p, s2, d2);
	assert_true(d2[0] == 1 && d2[1] == 4 && d2[5] == 6);
}

static void test_fill_cast(void **state)
{
	float f[5], back[5];
	int64_t i8[5];
	uint8_t b[5];
	double d[5];
	(void)state;
	k_fill_f32(&(struct k_fill){ .n = 5, .value = -2.5f }, f);
	for (int i = 0; i < 5; i++)
		assert_true(f[i] == -2.5f);
	f[1] = 0, f[2] = 3.75f, f[3] = -0.5f;
	k_cast(&(struct k_cast){ .n = 5, .from = K_F32, .to = K_I64 }, f, i8);
	assert_true(i8[0] == -2 && i8[1] == 0 && i8[2] == 3 && i8[3] == 0);
	k_cast(&(struct k_cast){ .n = 5, .from = K_F32, .to = K_BOOL }, f, b);
	assert_true(b[0] == 1 && b[1] == 0 && b[3] == 1);
	k_cast(&(struct k_cast){ .n = 5, .from = K_I64, .to = K_F64 }, i8, d);
	assert_true(d[0] == -2.0 && d[2] == 3.0);
	k_cast(&(struct k_cast){ .n = 5, .from = K_BOOL, .to = K_F32 }, b, back);
	assert_true(back[0] == 1.0f && back[1] == 0.0f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gather),
		cmocka_unit_test(test_concat),
		cmocka_unit_test(test_esize),
		cmocka_unit_test(test_fill_cast),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
