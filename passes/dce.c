/* dce.c: dead-code elimination. A node is dead when none of its outputs is used and
 * it has no effect (RAISE and SETATTR are kept). Walks each block backwards with use
 * counts, so a chain of dead nodes goes in one pass. Linear. */
#include "passes.h"

static int has_effect(const struct ir_node *n)
{
	return n->op == OP_RAISE || n->op == OP_SETATTR || n->op == OP_CALL_METHOD ||
	       n->op == OP_CALL_FUNC || n->nblocks > 0;
}

static void release(struct ir_module *m, struct ir_block *b, int *uses);

static void kill_node(struct ir_module *m, struct ir_node *n, int *uses)
{
	n->dead = 1;
	for (int k = 0; k < n->nin; k++)
		if (n->in[k] != IR_NONE)
			uses[n->in[k]]--;
	for (int k = 0; k < n->nblocks; k++)
		release(m, n->blocks[k], uses);
}

/* Drop the uses a removed block made. */
static void release(struct ir_module *m, struct ir_block *b, int *uses)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		if (!n->dead)
			kill_node(m, n, uses);
	}
	for (int k = 0; k < b->nrets; k++)
		uses[b->rets[k]]--;
}

static void dce_block(struct ir_module *m, struct ir_block *b, int *uses)
{
	for (size_t i = b->nodes.len; i-- > 0;) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		if (n->dead)
			continue;
		int used = 0;
		for (int k = 0; k < n->nout; k++)
			used |= uses[n->out[k]] > 0;
		if (!used && !has_effect(n)) {
			kill_node(m, n, uses);
			continue;
		}
		for (int k = 0; k < n->nblocks; k++)
			dce_block(m, n->blocks[k], uses);
	}
}

/* Compact: dead nodes leave the block lists. */
static void compact(struct ir_module *m, struct ir_block *b)
{
	size_t j = 0;
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(m, id);
		if (n->dead)
			continue;
		for (int k = 0; k < n->nblocks; k++)
			compact(m, n->blocks[k]);
		VEC_AT(&b->nodes, uint32_t, j++) = id;
	}
	b->nodes.len = j;
}

void dce(struct ir_module *m)
{
	int *uses = ir_use_counts(m, &m->ctx->scratch);
	for (int i = 0; i < m->noutputs; i++)
		uses[m->outputs[i].value]++;
	dce_block(m, ir_main(m)->body, uses);
	compact(m, ir_main(m)->body);
}
