/* clone.c: copying nodes and blocks, for inlining, unrolling and splicing.
 * A map takes each source value id to its copy (IR_NONE: not copied, use as is);
 * copies of nodes defined in the source get fresh values, recorded in the map. */
#include <string.h>

#include "ir.h"

uint32_t *ir_clone_map(struct ir_module *m)
{
	size_t nv = m->values.len;
	uint32_t *map = arena_alloc(&m->ctx->scratch, sizeof *map * (nv + 1));
	memset(map, 0xff, sizeof *map * (nv + 1));
	return map;
}

uint32_t ir_mapped(const uint32_t *map, uint32_t v)
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
		in[i] = ir_mapped(map, src.in[i]);
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
			bl[i] = ir_clone_block(m, src.blocks[i], map);
		n = ir_node(m, nid);
		n->blocks = bl;
		n->nblocks = src.nblocks;
	}
}

struct ir_block *ir_clone_block(struct ir_module *m, struct ir_block *src, uint32_t *map)
{
	struct ir_block *b = ir_new_block(m);
	for (int i = 0; i < src->nparams; i++) {
		uint32_t p = ir_add_param(m, b, ir_val(m, src->params[i])->kind);
		struct ir_value v = *ir_val(m, src->params[i]);
		*ir_val(m, p) = v;
		map[src->params[i]] = p;
	}
	size_t pos = 0;
	ir_clone_nodes(m, b, &pos, src, map);
	uint32_t *rets = arena_alloc(&m->ctx->arena, sizeof *rets * (size_t)(src->nrets + 1));
	for (int i = 0; i < src->nrets; i++)
		rets[i] = ir_mapped(map, src->rets[i]);
	ir_set_rets(m, b, rets, src->nrets);
	return b;
}

void ir_clone_nodes(struct ir_module *m, struct ir_block *dst, size_t *pos, struct ir_block *src,
                    uint32_t *map)
{
	for (size_t i = 0; i < src->nodes.len; i++) {
		uint32_t id = VEC_AT(&src->nodes, uint32_t, i);
		if (!ir_node(m, id)->dead)
			clone_node(m, dst, pos, id, map);
	}
}
