/* fuzz_caffe2.c: the Caffe2 reader (frontend/caffe2_read.c) on arbitrary bytes. An input is
 *
 *   N (1 byte, taken mod 4)              how many --input-shape specs follow
 *   N x { R (1 byte, mod 5), R dims }    each dim byte d is the size d % 16 + 1
 *   L (4 bytes, little-endian)           the init net's length (clamped to what is left)
 *   L bytes                              model_init.pb
 *   the rest                             model.pb
 *
 * Any input must end in IR or in diagnostics; what the reader accepts must pass ir_check.
 * Seeds: tests/fuzz/corpus/caffe2 (kiln --emit=caffe2 of the small fixtures and the
 * hand-written net of tests/caffe2, in this format). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "fuzz.h"

struct c2_input {
	struct input_spec spec[4];
	int nspec;
	const uint8_t *init, *pb;
	size_t init_len, pb_len;
};

static void read_nets(struct kiln_ctx *ctx, void *arg)
{
	struct c2_input *in = arg;
	struct ir_module *m = c2_read(ctx, "model.pb", in->pb, in->pb_len, "model_init.pb", in->init,
	                              in->init_len, in->spec, in->nspec);
	uint32_t node;
	const char *bad = ir_check(m, &node);
	if (bad) {
		fprintf(stderr, "fuzz_caffe2: accepted IR fails ir_check: %s\n", bad);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct c2_input in = {0};
	size_t p = 0;
	if (size < 1)
		return 0;
	in.nspec = data[p++] % 4;
	for (int i = 0; i < in.nspec; i++) {
		struct input_spec *s = &in.spec[i];
		s->dtype = DT_F32;
		s->shape.rank = p < size ? data[p++] % 5 : 0;
		for (int k = 0; k < s->shape.rank; k++)
			s->shape.dims[k] = p < size ? data[p++] % 16 + 1 : 1;
	}
	uint32_t l = 0;
	for (int k = 0; k < 4; k++)
		l |= (uint32_t)(p < size ? data[p++] : 0) << (8 * k);
	in.init = data + p;
	in.init_len = l < size - p ? l : size - p;
	in.pb = in.init + in.init_len;
	in.pb_len = size - p - in.init_len;
	struct kiln_ctx ctx;
	fuzz_ctx_init(&ctx);
	kiln_protect(&ctx, read_nets, &in);
	kiln_ctx_free(&ctx);
	return 0;
}
