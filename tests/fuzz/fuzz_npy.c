/* fuzz_npy.c: the .npy reader of generated programs (runtime/k_npy.c) on arbitrary bytes.
 * Each input is read twice through a temporary file, as a generated main() reads it: once
 * expecting f32 (2, 3), the shape of no seed, so the mismatch messages run; once expecting
 * exactly the dtype and shape its own header declares (when small), so the data path runs.
 * Seeds: tests/models/fixtures/NAME.npy, tests/fuzz/corpus/npy. */
#include "runtime/k_base.c"
#include "runtime/k_npy.c"

#include <stdint.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DATA ((size_t)1 << 16) /* bytes read in the second pass */

static char tmp_path[4096]; /* this process's input file, removed at exit */

static void remove_tmp(void) { unlink(tmp_path); }

static const char *write_tmp(const uint8_t *data, size_t size)
{
	if (!tmp_path[0]) {
		const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(tmp_path, sizeof tmp_path, "%s/kiln_fuzz_npy_XXXXXX", dir);
		int fd = mkstemp(tmp_path);
		if (fd < 0)
			abort();
		close(fd);
		atexit(remove_tmp);
	}
	FILE *f = fopen(tmp_path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	return tmp_path;
}

/* The dtype whose descr the header names; -1 if none. */
static int dtype_of(const char *descr)
{
	for (int t = K_F32; t <= K_BOOL; t++)
		if (strcmp(descr, k_npy_descr((enum k_dtype)t)) == 0)
			return t;
	return -1;
}

/* Bytes of the array the header declares, or SIZE_MAX if over MAX_DATA. */
static size_t data_bytes(const struct k_npy_header *h, enum k_dtype dt)
{
	size_t n = k_dtype_size(dt);
	for (int d = 0; d < h->rank; d++) {
		if (h->shape[d] != 0 && n > MAX_DATA / (size_t)h->shape[d])
			return SIZE_MAX;
		n *= (size_t)h->shape[d];
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[MAX_DATA];
	const char *path = write_tmp(data, size);
	char err[512];
	k_idx want[2] = {2, 3};
	k_npy_read(path, K_F32, 2, want, buf, err, sizeof err);

	struct k_npy_header h;
	FILE *f = fopen(path, "rb");
	int rc = f ? k_npy_read_header(f, path, &h, err, sizeof err) : -1;
	if (f)
		fclose(f);
	int dt = rc == 0 ? dtype_of(h.descr) : -1;
	if (dt >= 0 && !h.fortran && data_bytes(&h, (enum k_dtype)dt) <= MAX_DATA)
		k_npy_read(path, (enum k_dtype)dt, h.rank, h.shape, buf, err, sizeof err);
	return 0;
}
