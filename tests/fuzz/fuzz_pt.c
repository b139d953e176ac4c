/* fuzz_pt.c: the .pt archive reader on arbitrary bytes: pt_open (sniffing, libzip, record
 * checks), then, when the archive opens, the restricted unpickler on data.pkl and
 * constants.pkl and the TorchScript parser on every code/ record. The bytes go through a
 * temporary file because pt_open reads a path, as kiln does.
 * Seeds: tests/models/fixtures{,/bad}/NAME.pt, tests/unit/fixtures/NAME.pt. Stored zip records
 * carry a CRC, so mutations mostly stop in pt_open; fuzz_unpickle and fuzz_ts_parse reach
 * the deeper readers directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend/pt.h"
#include "frontend/ts_ast.h"
#include "fuzz.h"

/* Everything kiln reads from an archive before lowering it. */
static void read_archive(struct kiln_ctx *ctx, void *arg)
{
	const struct pt_archive *ar = pt_open(ctx, arg);
	pt_unpickle(ctx, ar, "data.pkl", "data");
	pt_unpickle(ctx, ar, "constants.pkl", "constants");
	for (size_t i = 0; i < ar->nrecs; i++) {
		const struct pt_record *r = &ar->recs[i];
		size_t n = strlen(r->name);
		if (strncmp(r->name, "code/", 5) == 0 && n > 3 && strcmp(r->name + n - 3, ".py") == 0)
			ts_parse(ctx, r->name, (const char *)r->data, r->size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_ctx ctx;
	fuzz_ctx_init(&ctx);
	kiln_protect(&ctx, read_archive, (void *)fuzz_write_tmp(data, size));
	kiln_ctx_free(&ctx);
	return 0;
}
