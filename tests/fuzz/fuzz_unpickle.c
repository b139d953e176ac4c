/* fuzz_unpickle.c: the restricted unpickler on arbitrary bytes as data.pkl of an in-memory
 * archive whose storage records data/0 ... data/63 each hold 1 MiB of zeros, so the pickles
 * of the test fixtures (keys "0", "1", ...) unpickle in full and mutations of them reach the
 * tensor checks. Seeds: tests/fuzz/corpus/unpickle (data.pkl and constants.pkl of the
 * fixtures, hostile pickles). */
#include <stdio.h>
#include <string.h>

#include "frontend/pt.h"
#include "fuzz.h"

#define NSTORAGES 64
#define STORAGE_BYTES ((size_t)1 << 20)

static _Alignas(16) unsigned char zeros[STORAGE_BYTES]; /* every storage record's bytes */
static char names[NSTORAGES][16];                      /* "data/K" */

static void unpickle(struct kiln_ctx *ctx, void *arg)
{
	pt_unpickle(ctx, arg, "data.pkl", "data");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pt_record recs[1 + NSTORAGES];
	struct pt_archive ar = {.path = "fuzz.pt", .prefix = "fuzz", .recs = recs, .version = 3};
	recs[ar.nrecs++] = (struct pt_record){"data.pkl", data, size};
	for (int i = 0; i < NSTORAGES; i++) {
		snprintf(names[i], sizeof names[i], "data/%d", i);
		recs[ar.nrecs++] = (struct pt_record){names[i], zeros, STORAGE_BYTES};
	}
	struct kiln_ctx ctx;
	fuzz_ctx_init(&ctx);
	kiln_protect(&ctx, unpickle, &ar);
	kiln_ctx_free(&ctx);
	return 0;
}
