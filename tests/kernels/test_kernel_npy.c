/* .npy write/read round trips and the reader's header checks. */
#include "runtime/k_base.c"
#include "runtime/k_npy.c"
#include "tests/kernels/kt.h"

#define TMP "test_kernel_npy.tmp.npy"

/* Writes raw bytes to TMP. */
static void put(const void *data, size_t n)
{
	FILE *f = fopen(TMP, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

/* Writes a .npy with the given version and header dict (padded), then payload bytes. */
static void put_npy(int major, const char *dict, const void *payload, size_t n)
{
	char buf[4096];
	size_t pre = major == 1 ? 10 : 12, len = strlen(dict), total = pre + len + 1;

	while (total % 64)
		total++;
	memcpy(buf, "\x93NUMPY", 6);
	buf[6] = (char)major, buf[7] = 0;
	buf[8] = (char)((total - pre) & 0xff), buf[9] = (char)((total - pre) >> 8);
	if (major != 1)
		buf[10] = buf[11] = 0;
	memcpy(buf + pre, dict, len);
	memset(buf + pre + len, ' ', total - pre - len - 1);
	buf[total - 1] = '\n';
	memcpy(buf + total, payload, n);
	put(buf, total + n);
}

static void expect_err(enum k_dtype dt, int rank, const k_idx *shape, const char *want)
{
	char err[512] = "", data[4096];

	assert_int_equal(k_npy_read(TMP, dt, rank, shape, data, err, sizeof err), -1);
	assert_string_equal(err, want);
}

static void test_roundtrip(void **state)
{
	enum k_dtype types[] = { K_F32, K_F64, K_I64, K_I32, K_U8, K_BOOL };
	k_idx shape[4] = { 2, 3, 1, 5 };
	unsigned char src[240], dst[240];
	char err[256];
	(void)state;
	for (size_t i = 0; i < sizeof src; i++)
		src[i] = (unsigned char)(i * 7 + 1);
	for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
		if (types[t] == K_BOOL)
			for (size_t i = 0; i < sizeof src; i++) src[i] &= 1;
		for (int rank = 0; rank <= 4; rank++) {
			memset(dst, 0, sizeof dst);
			assert_int_equal(k_npy_write(TMP, types[t], rank, shape, src, err, sizeof err), 0);
			assert_int_equal(k_npy_read(TMP, types[t], rank, shape, dst, err, sizeof err), 0);
			size_t n = k_dtype_size(types[t]);
			for (int d = 0; d < rank; d++) n *= (size_t)shape[d];
			assert_memory_equal(src, dst, n);
		}
	}
	remove(TMP);
}

static void test_header_checks(void **state)
{
	k_idx want[4] = { 1, 3, 224, 224 }, one[1] = { 5 };
	float pay[5 * 4] = { 0 };
	(void)state;
	expect_err(K_F32, 4, want, TMP ": No such file or directory");
	put("PK\3\4 not numpy at all", 22);
	expect_err(K_F32, 4, want, TMP ": not a .npy file (bad magic)");
	put("\x93NUMPY\x04\x00", 8);
	expect_err(K_F32, 4, want, TMP ": unsupported .npy version 4.0");
	put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 32, 32), }", pay, 0);
	expect_err(K_F32, 4, want, TMP ": shape (1, 3, 32, 32) but the model expects (1, 3, 224, 224)");
	put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 1), }", pay, 20);
	expect_err(K_F32, 1, one, TMP ": shape (5, 1) but the model expects (5,)");
	put_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }", pay, 40);
	expect_err(K_F32, 1, one, TMP ": dtype '<i8' but the model expects '<f4'");
	put_npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (5,), }", pay, 20);
	expect_err(K_F32, 1, one, TMP ": fortran_order is True; save a C-order array");
	put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", pay, 12);
	expect_err(K_F32, 1, one, TMP ": truncated data: 12 of 20 bytes");
	put_npy(1, "{'descr': '<f4', 'shape': (5,), }", pay, 20);
	expect_err(K_F32, 1, one, TMP ": header lacks 'fortran_order'");
	put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,) ", pay, 20);
	expect_err(K_F32, 1, one, TMP ": malformed header: {'descr': '<f4', 'fortran_order': False, 'shape': (5,)");
	put("\x93NUMPY\x01\x00\x40", 9);
	expect_err(K_F32, 1, one, TMP ": truncated header");
	remove(TMP);
}

/* Version 2.0 headers (4-byte length), keys in another order, scalars. */
static void test_header_variants(void **state)
{
	float pay[5] = { 1, 2, 3, 4, 5 }, got[5];
	k_idx one[1] = { 5 };
	char err[256];
	(void)state;
	put_npy(2, "{'shape': (5,), 'fortran_order': False, 'descr': '<f4'}", pay, 20);
	assert_int_equal(k_npy_read(TMP, K_F32, 1, one, got, err, sizeof err), 0);
	assert_memory_equal(pay, got, 20);
	put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", pay, 4);
	assert_int_equal(k_npy_read(TMP, K_F32, 0, NULL, got, err, sizeof err), 0);
	assert_true(got[0] == 1.0f);
	remove(TMP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_header_checks),
		cmocka_unit_test(test_header_variants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
