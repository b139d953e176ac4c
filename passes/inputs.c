/* inputs.c: the entry point's parameters (flattened by flatten_inputs) become the
 * model's inputs, typed by --input-shape / --example-input, one per flat tensor.
 * Before: parameters typed by annotation only. After: every input is a tensor with dtype and static shape, and m->inputs names it. */
#include <string.h>

#include "passes.h"

void bind_inputs(struct ir_module *m, const struct pipeline_opts *o)
{
	struct ir_func *f = ir_main(m);
	struct ir_block *b = f->body;
	struct loc where = {.file = m->source};
	struct arena *a = &m->ctx->arena;
	/* A reader that knows its inputs' types (ONNX) has typed them; no shapes given. */
	int typed = o->ninputs == 0;
	for (int i = 0; i < b->nparams; i++) {
		struct ir_value *v = ir_val(m, b->params[i]);
		typed &= v->kind == VK_TENSOR && v->dtype != DT_UNKNOWN && shape_numel(&v->shape) >= 0;
	}
	if (!typed && o->ninputs != b->nparams)
		diag_error(m->ctx, where, "the model takes %d input%s but %d %s given (use one "
		           "--input-shape per input, in order)", b->nparams, b->nparams == 1 ? "" : "s",
		           o->ninputs, o->ninputs == 1 ? "shape was" : "shapes were");
	const struct ir_io *old = m->inputs;   /* flatten_inputs' paths */
	m->ninputs = b->nparams;
	m->inputs = arena_alloc(a, sizeof *m->inputs * (size_t)(b->nparams + 1));
	for (int i = 0; i < b->nparams; i++) {
		struct ir_value *v = ir_val(m, b->params[i]);
		const char *name = f->arg_names && f->arg_names[i] ? f->arg_names[i]
		                   : arena_printf(a, "input_%d", i);
		const char *path = m->in_schema ? old[i].path : arena_printf(a, "input[%d]", i);
		if (typed) {
			v->name = name;
			m->inputs[i] = (struct ir_io){name, path, b->params[i]};
			continue;
		}
		const struct input_spec *s = &o->inputs[i];
		if (v->kind != VK_TENSOR && v->kind != VK_ANY)
			diag_error(m->ctx, v->loc, "input '%s' is not a tensor; kiln compiles models whose "
			           "inputs are tensors", name);
		if (s->name && strcmp(s->name, name) != 0)
			diag_error(m->ctx, where, "--input-shape names input %d '%s', but the model calls it '%s'",
			           i, s->name, name);
		for (int k = 0; k < s->shape.rank; k++)
			if (s->shape.sym[k])
				diag_error(m->ctx, where, "input '%s': symbolic dimension '%s' is not supported "
				           "by the C backend yet", name, s->shape.sym[k]);
		v->kind = VK_TENSOR;
		v->dtype = s->dtype ? s->dtype : DT_F32;
		v->shape = s->shape;
		v->name = name;
		m->inputs[i] = (struct ir_io){name, path, b->params[i]};
	}
}
