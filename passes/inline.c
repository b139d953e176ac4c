/* inline.c: replaces every CALL_METHOD / CALL_FUNC in the entry function by a copy
 * of the callee's body, until none is left.
 * Before: the entry function calls methods of submodules (lowered once per class).
 * After: one graph; callee functions stay in m->funcs but are unreachable.
 * Cost: linear in the size of the inlined graph; nesting is bounded by the frontend. */
#include <string.h>

#include "passes.h"

#define MAX_NODES 2000000 /* an inlined graph larger than this is refused */

static struct ir_block *clone_block(struct ir_module *m, struct ir_block *src, uint32_t *map);

static uint32_t mapped(const uint32_t *map, uint32_t v)
{
	return v == IR_NONE || map[v] == IR_NONE ? v : map[v];
}

/* Copy node `id` into block dst at *pos, mapping its inputs and recording its outputs. */
static void clone_node(struct ir_module *m, struct ir_block *dst, size_t *pos, uint32_t id,
                       uint32_t *map)
{
	struct ir_node src = *ir_node(m, id);
	uint32_t *in = arena_alloc(&m->ctx->arena, sizeof *in * (size_t)(src.nin + 1));
	for (int i = 0; i < src.nin; i++)
		in[i] = mapped(map, src.in[i]);
	uint32_t nid = ir_insert_node(m, dst, (*pos)++, src.op, in, src.nin, src.nout);
	struct ir_node *n = ir_node(m, nid);
	n->loc = src.loc;
	n->scope = src.scope;
	n->a = src.a;
	for (int i = 0; i < src.nout; i++) {
		uint32_t o = n->out[i];
		struct ir_value v = *ir_val(m, src.out[i]);
		v.def = nid;
		*ir_val(m, o) = v;
		map[src.out[i]] = o;
	}
	if (src.nblocks) {
		struct ir_block **bl = arena_alloc(&m->ctx->arena, sizeof *bl * (size_t)src.nblocks);
		for (int i = 0; i < src.nblocks; i++)
			bl[i] = clone_block(m, src.blocks[i], map);
		n = ir_node(m, nid);
		n->blocks = bl;
		n->nblocks = src.nblocks;
	}
}

static struct ir_block *clone_block(struct ir_module *m, struct ir_block *src, uint32_t *map)
{
	struct ir_block *b = ir_new_block(m);
	for (int i = 0; i < src->nparams; i++) {
		uint32_t p = ir_add_param(m, b, ir_val(m, src->params[i])->kind);
		struct ir_value v = *ir_val(m, src->params[i]);
		*ir_val(m, p) = v;
		map[src->params[i]] = p;
	}
	size_t pos = 0;
	for (size_t i = 0; i < src->nodes.len; i++) {
		uint32_t id = VEC_AT(&src->nodes, uint32_t, i);
		if (!ir_node(m, id)->dead)
			clone_node(m, b, &pos, id, map);
	}
	uint32_t *rets = arena_alloc(&m->ctx->arena, sizeof *rets * (size_t)(src->nrets + 1));
	for (int i = 0; i < src->nrets; i++)
		rets[i] = mapped(map, src->rets[i]);
	ir_set_rets(m, b, rets, src->nrets);
	return b;
}

/* Inline the call at position *i of b; the copied nodes take its place. */
static void inline_one(struct ir_module *m, struct ir_block *b, size_t i)
{
	uint32_t call = VEC_AT(&b->nodes, uint32_t, i);
	struct ir_node c = *ir_node(m, call);
	struct ir_func *f = VEC_AT(&m->funcs, struct ir_func *, c.a.call.func);
	struct ir_block *body = f->body;
	KILN_ASSERT(body->nparams == c.nin);
	size_t nv = m->values.len;
	uint32_t *map = arena_alloc(&m->ctx->scratch, sizeof *map * nv);
	memset(map, 0xff, sizeof *map * nv);
	for (int k = 0; k < c.nin; k++)
		map[body->params[k]] = c.in[k];
	size_t pos = i;
	for (size_t k = 0; k < body->nodes.len; k++) {
		uint32_t id = VEC_AT(&body->nodes, uint32_t, k);
		if (!ir_node(m, id)->dead)
			clone_node(m, b, &pos, id, map);
	}
	if (c.nout && body->nrets)
		ir_replace_uses(m, c.out[0], mapped(map, body->rets[0]));
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
