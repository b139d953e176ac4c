/* fuzz_onnx.c: the ONNX reader (frontend/onnx_read.c) on arbitrary bytes, and the rest of
 * the pipeline on what it accepts. Its promises: a model it reads passes ir_check (anything
 * the verifier would trip over is a diagnostic), and the passes after it either compile the
 * model or report a diagnostic; never a crash, a hang, a leak or an internal error.
 * Seeds: the .onnx files of tests/onnx/bad and tests/fuzz/corpus/onnx. */
#include <stdio.h>
#include <stdlib.h>

#include "frontend/frontend.h"
#include "fuzz.h"
#include "passes/passes.h"

struct read_call {
	const uint8_t *data;
	size_t size;
};

static void read_and_compile(struct kiln_ctx *ctx, void *arg)
{
	struct read_call *c = arg;
	struct ir_module *m = onnx_read(ctx, "fuzz.onnx", c->data, c->size, NULL, 0);
	uint32_t node;
	const char *bad = ir_check(m, &node);
	if (bad) {
		fprintf(stderr, "fuzz_onnx: accepted IR fails ir_check: %s\n", bad);
		abort();
	}
	struct pipeline_opts po = {.opt_level = 2};
	pipeline(m, &po);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_ctx ctx;
	fuzz_ctx_init(&ctx);
	struct read_call c = {data, size};
	kiln_protect(&ctx, read_and_compile, &c);
	kiln_ctx_free(&ctx);
	return 0;
}
