/* fuzz_ts_graph.c: the TorchScript IR text reader (frontend/ts_graph.c) on arbitrary bytes,
 * with the small mlp archive as --weights so that GetAttr chains resolve and the reader gets
 * past the module lookups. Any input must end in IR or in diagnostics; what it accepts must
 * pass ir_check. Seeds: the dumps in tests/tsir/fixtures (PyTorch's own) and tests/tsir/errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend/frontend.h"
#include "fuzz.h"

#ifndef KILN_SOURCE_DIR
#define KILN_SOURCE_DIR "."
#endif

static void read_graph(struct kiln_ctx *ctx, void *arg)
{
	struct ir_module *m = ts_graph_load(ctx, arg, KILN_SOURCE_DIR "/tests/models/fixtures/mlp.pt");
	uint32_t node;
	const char *bad = ir_check(m, &node);
	if (bad) {
		fprintf(stderr, "fuzz_ts_graph: accepted IR fails ir_check: %s\n", bad);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_ctx ctx;
	fuzz_ctx_init(&ctx);
	kiln_protect(&ctx, read_graph, (void *)fuzz_write_tmp(data, size));
	kiln_ctx_free(&ctx);
	return 0;
}
