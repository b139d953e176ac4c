/* pipeline.c: the passes, in order (STYLE K1). With ctx->verify the IR is checked
 * after every pass; with ctx->dump_dir it is written after every pass as
 * NN-passname.kir. The scratch arena is reset after each pass. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "passes.h"

struct stage {
	struct ir_module *m;
	int n;            /* passes run so far */
};

static void after(struct stage *s, const char *name)
{
	struct ir_module *m = s->m;
	s->n++;
	if (m->ctx->verify)
		ir_verify(m, name);
	if (m->ctx->dump_dir) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%02d-%s.kir", m->ctx->dump_dir, s->n, name);
		FILE *f = fopen(path, "w");
		if (!f)
			fatal("cannot write %s:", path);
		ir_print(f, m);
		fclose(f);
	}
	arena_reset(&m->ctx->scratch);
}

/* Every tensor the entry point computes must have a dtype and a static shape. */
static void check_typed(struct ir_module *m)
{
	struct ir_block *b = ir_main(m)->body;
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		if (n->dead)
			continue;
		for (int k = 0; k < n->nout; k++) {
			struct ir_value *v = ir_val(m, n->out[k]);
			if (v->kind == VK_TENSOR && (v->dtype == DT_UNKNOWN || shape_numel(&v->shape) < 0))
				diag_error_soft(m->ctx, n->loc, "cannot infer the shape of the result of '%s'",
				                op_name(n->op));
		}
	}
	diag_check(m->ctx);
}

void pipeline(struct ir_module *m, const struct pipeline_opts *o)
{
	struct stage s = {m, 0};
	if (m->ctx->dump_dir && mkdir(m->ctx->dump_dir, 0777) != 0 && errno != EEXIST)
		fatal("cannot create %s:", m->ctx->dump_dir);
	after(&s, "frontend");
	inline_calls(m);
	after(&s, "inline");
	freeze(m);
	after(&s, "freeze");
	flatten_inputs(m, o->flatten_insertion);
	bind_inputs(m, o);
	after(&s, "inputs");
	for (int iter = 0; iter < 64; iter++) {
		int changes = staticize(m);
		changes += fold(m);
		changes += canonicalize(m);
		changes += shapes(m);
		if (!changes)
			break;
	}
	after(&s, "canonicalize");
	staticize_check(m, o);
	check_canonical(m);
	flatten(m, o->flatten_insertion);
	after(&s, "flatten");
	dce(m);
	after(&s, "dce");
	if (o->opt_level >= 1) {
		cse(m);
		dce(m);
		after(&s, "cse");
	}
	check_typed(m);
	if (o->opt_level >= 1) {
		fuse(m);
		dce(m);
		after(&s, "fuse");
	}
	plan(m);
	after(&s, "plan");
}
