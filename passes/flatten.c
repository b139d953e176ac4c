/* flatten.c: the entry point's result becomes a flat list of tensors.
 * Tuples and lists are flattened depth-first (detectron2's order); each output
 * records its schema path ("output[1][0]"). A non-tensor leaf that is not a constant
 * tensor is reported by its path. After: main's block returns m->outputs in order. */
#include <string.h>

#include "passes.h"

struct flat {
	struct ir_module *m;
	struct vec outs;   /* struct ir_io */
};

static void leaf(struct flat *f, uint32_t v, const char *path)
{
	struct ir_module *m = f->m;
	struct ir_value *x = ir_val(m, v);
	uint32_t d = x->def;
	struct ir_node *n = d != IR_NONE ? ir_node(m, d) : NULL;
	if (n && (n->op == OP_TUPLE || n->op == OP_LIST)) {
		for (int i = 0; i < n->nin; i++)
			leaf(f, ir_node(m, d)->in[i], arena_printf(&m->ctx->arena, "%s[%d]", path, i));
		return;
	}
	if (x->kind != VK_TENSOR) {
		static const char *kinds[] = {"an unknown value", "a tensor", "an int", "a float", "a bool",
		                              "a string", "None", "a device", "a list", "a tuple", "a dict",
		                              "an optional", "an object", "a value of type Any"};
		diag_error(m->ctx, n ? n->loc : (struct loc){.file = m->source},
		           "%s is %s; compiled models return tensors", path, kinds[x->kind]);
	}
	struct ir_io io = {arena_printf(&m->ctx->arena, "output_%zu", f->outs.len), path, v};
	VEC_PUSH(&m->ctx->arena, &f->outs, struct ir_io, io);
}

void flatten(struct ir_module *m)
{
	struct ir_block *b = ir_main(m)->body;
	struct flat f = {m, {0}};
	for (int i = 0; i < b->nrets; i++)
		leaf(&f, b->rets[i], "output");
	m->noutputs = (int)f.outs.len;
	m->outputs = f.outs.data;
	uint32_t *rets = arena_alloc(&m->ctx->arena, sizeof *rets * (f.outs.len + 1));
	for (size_t i = 0; i < f.outs.len; i++)
		rets[i] = m->outputs[i].value;
	ir_set_rets(m, b, rets, m->noutputs);
}
