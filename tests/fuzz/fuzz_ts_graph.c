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

static char tmp_path[4096]; /* this process's input file, removed at exit */

static void remove_tmp(void) { unlink(tmp_path); }

static const char *write_tmp(const uint8_t *data, size_t size)
{
	if (!tmp_path[0]) {
		const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(tmp_path, sizeof tmp_path, "%s/kiln_fuzz_ts_graph_XXXXXX", dir);
		int fd = mkstemp(tmp_path);
		if (fd < 0)
			fatal("mkstemp %s:", tmp_path);
		close(fd);
		atexit(remove_tmp);
	}
	FILE *f = fopen(tmp_path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		fatal("cannot write %s:", tmp_path);
	return tmp_path;
}

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
	kiln_protect(&ctx, read_graph, (void *)write_tmp(data, size));
	kiln_ctx_free(&ctx);
	return 0;
}
