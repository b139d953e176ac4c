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

#include "ir/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A context that prints nothing (diagnostics stay in ctx->errors). */
static inline void fuzz_ctx_init(struct kiln_ctx *ctx)
{
	kiln_ctx_init(ctx);
	ctx->diag_out = NULL;
}

#endif
