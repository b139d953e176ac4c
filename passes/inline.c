/* inline.c: replaces every CALL_METHOD / CALL_FUNC in the entry function by a copy
 * of the callee's body, until none is left.
 * Before: the entry function calls methods of submodules (lowered once per class).
 * After: one graph; callee functions stay in m->funcs but are unreachable.
 * Cost: linear in the size of the inlined graph; nesting is bounded by the frontend. */
#include <string.h>

#include "passes.h"

#define MAX_NODES 2000000 /* an inlined graph larger than this is refused */

/* Inline the call at position *i of b; the copied nodes take its place. */
static void inline_one(struct ir_module *m, struct ir_block *b, size_t i)
{
	uint32_t call = VEC_AT(&b->nodes, uint32_t, i);
	struct ir_node c = *ir_node(m, call);
	struct ir_func *f = VEC_AT(&m->funcs, struct ir_func *, c.a.call.func);
	struct ir_block *body = f->body;
	KILN_ASSERT(body->nparams == c.nin);
	uint32_t *map = ir_clone_map(m);
	for (int k = 0; k < c.nin; k++)
		map[body->params[k]] = c.in[k];
	size_t pos = i;
	ir_clone_nodes(m, b, &pos, body, map);
	for (int k = 0; k < c.nout && k < body->nrets; k++)   /* value, then changed objects */
		ir_replace_uses(m, c.out[k], ir_mapped(map, body->rets[k]));
	ir_node(m, call)->dead = 1;
}

static void inline_block(struct ir_module *m, struct ir_block *b)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		if (n->dead)
			continue;
		if (n->op == OP_CALL_METHOD || n->op == OP_CALL_FUNC) {
			if (m->nodes.len > MAX_NODES)
				diag_error(m->ctx, n->loc, "the inlined model exceeds %d nodes", MAX_NODES);
			inline_one(m, b, i);
			i--; /* revisit: the first copied node now sits at i */
			continue;
		}
		for (int k = 0; k < n->nblocks; k++)
			inline_block(m, n->blocks[k]);
	}
}

void inline_calls(struct ir_module *m)
{
	inline_block(m, ir_main(m)->body);
	/* The callees are unreachable now: the module is the entry function alone. */
	struct ir_func *f = ir_main(m);
	VEC_AT(&m->funcs, struct ir_func *, 0) = f;
	m->funcs.len = 1;
	m->main = 0;
}
