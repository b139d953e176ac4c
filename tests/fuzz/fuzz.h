/* fuzz.h: what the fuzz targets of tests/fuzz share (STYLE K15, issue 8).
 *
 * Each fuzz_<target>.c defines LLVMFuzzerTestOneInput, the libFuzzer entry point: one input
 * in, one fresh kiln_ctx, every diagnostic caught by kiln_protect, the ctx freed before
 * returning, so ASan's leak check sees a clean heap after every input. A crash, a sanitizer
 * report, an internal error (abort) or a hang is a finding. The same file links either with
 * -fsanitize=fuzzer (clang, scripts/fuzz.sh) or with replay.c (any compiler, ctest), which
 * feeds it the committed corpus tests/fuzz/corpus/<target>/ and the test fixtures.
 */
#ifndef KILN_FUZZ_H
#define KILN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ir/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A context that prints nothing (diagnostics stay in ctx->errors). */
static inline void fuzz_ctx_init(struct kiln_ctx *ctx)
{
	kiln_ctx_init(ctx);
	ctx->diag_out = NULL;
}

/* Readers that take a path (pt_open, ts_graph_load) get the input through this process's
 * temporary file, in /dev/shm when it is writable; it is removed at exit. */
static char fuzz_tmp_path[4096];

static inline void fuzz_remove_tmp(void) { unlink(fuzz_tmp_path); }

static inline const char *fuzz_write_tmp(const uint8_t *data, size_t size)
{
	if (!fuzz_tmp_path[0]) {
		const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(fuzz_tmp_path, sizeof fuzz_tmp_path, "%s/kiln_fuzz_XXXXXX", dir);
		int fd = mkstemp(fuzz_tmp_path);
		if (fd < 0)
			fatal("mkstemp %s:", fuzz_tmp_path);
		close(fd);
		atexit(fuzz_remove_tmp);
	}
	FILE *f = fopen(fuzz_tmp_path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		fatal("cannot write %s:", fuzz_tmp_path);
	return fuzz_tmp_path;
}

#endif
