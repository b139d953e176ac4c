/* where (broadcast masks) and embedding against plain index arithmetic. */
#include "runtime/k_base.c"
#include "runtime/k_index.c"
#include "tests/kernels/kt.h"

/* Strides of a broadcast operand of shape s (rank r, right-aligned) in an output of dims y. */
static void bstrides(const k_idx *s, int r, const k_idx *y, int ry, k_idx *st)
{
	k_idx acc = 1;
	for (int i = ry - 1; i >= 0; i--) {
		int j = i - (ry - r);
		k_idx d = j >= 0 ? s[j] : 1;
		st[i] = d == 1 ? 0 : acc;
		acc *= d;
		(void)y;
	}
}

static void test_where(void **state)
{
	(void)state;
	/* output [2, 3, 4, 5]; cond [2, 1, 1, 5]; a full; b [4, 1] */
	k_idx y[4] = { 2, 3, 4, 5 }, cs[4] = { 2, 1, 1, 5 }, bs[2] = { 4, 1 };
	struct k_where p = { .rank = 4 };
	memcpy(p.dims, y, sizeof y);
	bstrides(cs, 4, y, 4, p.c_strides);
	bstrides(y, 4, y, 4, p.a_strides);
	bstrides(bs, 2, y, 4, p.b_strides);
	unsigned char cond[10];
	for (int i = 0; i < 10; i++) cond[i] = (unsigned char)(kt_rand() > 0);
	float *a = kt_randv(120, -1, 1), *b = kt_randv(4, -1, 1), *out = kt_falloc(120);
	double *ref = kt_dalloc(120);
	for (int i0 = 0; i0 < 2; i0++)
		for (int i1 = 0; i1 < 3; i1++)
			for (int i2 = 0; i2 < 4; i2++)
				for (int i3 = 0; i3 < 5; i3++) {
					int o = ((i0 * 3 + i1) * 4 + i2) * 5 + i3;
					ref[o] = cond[i0 * 5 + i3] ? a[o] : b[i2];
				}
	k_where_f32(&p, cond, a, b, out);
	kt_check("where 2x3x4x5", out, ref, 120, 0, 0);
	struct k_where s = { .rank = 0 };
	unsigned char one = 1;
	k_where_f32(&s, &one, a, b, out);
	kt_check("where scalar", out, ref + 0, 0, 0, 0);
	assert_true(out[0] == a[0]);
	free(a), free(b), free(out), free(ref);
}

static void test_embedding(void **state)
{
	(void)state;
	struct k_embedding p = { .rows = 7, .dim = 3, .count = 5 };
	int64_t idx[5] = { 0, 6, 3, 3, 9 };
	float *w = kt_randv(21, -1, 1), *out = kt_falloc(15);
	double ref[15];
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 3; j++)
			ref[i * 3 + j] = idx[i] < 7 ? w[idx[i] * 3 + j] : 0.0;
	k_embedding_f32(&p, w, idx, out);
	kt_check("embedding", out, ref, 15, 0, 0);
	free(w), free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_embedding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
