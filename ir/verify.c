/* verify.c: structural checks run between passes (STYLE K10).
 * Checks: every id in range; each value defined once (by one node output or one
 * block parameter) and defined before use, with outer-block values visible in
 * nested blocks; input/output counts within ops.def bounds; a value's def field
 * names the node that defines it. A failure is a kiln bug: internal error naming
 * the pass that ran last and the offending node. Linear in the module size. */
#include <setjmp.h>
#include <stdlib.h>

#include "ir.h"

struct vstate {
	struct ir_module *m;
	unsigned char *defined;  /* per value: 1 once defined and in scope */
	jmp_buf fail;            /* where a failure unwinds to */
	const char *what;        /* the failure */
	uint32_t node;           /* the node it concerns, or IR_NONE */
};

static _Noreturn void fail(struct vstate *s, uint32_t node, const char *what)
{
	s->what = what;
	s->node = node;
	longjmp(s->fail, 1);
}

static void define(struct vstate *s, uint32_t v, uint32_t node)
{
	if (v >= s->m->values.len)
		fail(s, node, "output id out of range");
	if (s->defined[v])
		fail(s, node, "value defined twice");
	if (ir_val(s->m, v)->def != node)
		fail(s, node, "value's def does not name its defining node");
	s->defined[v] = 1;
}

static void use(struct vstate *s, uint32_t v, uint32_t node)
{
	if (v == IR_NONE)
		return;
	if (v >= s->m->values.len)
		fail(s, node, "input id out of range");
	if (!s->defined[v])
		fail(s, node, "value used before its definition or outside its scope");
}

static void check_block(struct vstate *s, struct ir_block *b);

static void check_node(struct vstate *s, uint32_t id)
{
	struct ir_node *n = ir_node(s->m, id);
	const struct op_info *oi = &op_info[n->op];
	if (n->op >= OP_COUNT)
		fail(s, IR_NONE, "op out of range");
	if (n->nin < oi->min_in || n->nin > oi->max_in)
		fail(s, id, "input count outside the op's bounds");
	if (oi->nout >= 0 && n->nout != oi->nout)
		fail(s, id, "output count differs from ops.def");
	for (int i = 0; i < n->nin; i++)
		use(s, n->in[i], id);
	for (int i = 0; i < n->nblocks; i++)
		check_block(s, n->blocks[i]);
	for (int i = 0; i < n->nout; i++)
		define(s, n->out[i], id);
}

/* Values defined inside a block go out of scope when it ends. */
static void undefine_block(struct vstate *s, struct ir_block *b)
{
	for (int i = 0; i < b->nparams; i++)
		s->defined[b->params[i]] = 0;
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(s->m, VEC_AT(&b->nodes, uint32_t, i));
		if (n->dead)
			continue;
		for (int j = 0; j < n->nout; j++)
			s->defined[n->out[j]] = 0;
	}
}

static void check_block(struct vstate *s, struct ir_block *b)
{
	for (int i = 0; i < b->nparams; i++) {
		uint32_t p = b->params[i];
		if (p >= s->m->values.len || s->defined[p])
			fail(s, IR_NONE, "bad block parameter");
		s->defined[p] = 1;
	}
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		if (id >= s->m->nodes.len)
			fail(s, IR_NONE, "node id out of range");
		if (!ir_node(s->m, id)->dead)
			check_node(s, id);
	}
	for (int i = 0; i < b->nrets; i++)
		use(s, b->rets[i], IR_NONE);
	undefine_block(s, b);
}

const char *ir_check(struct ir_module *m, uint32_t *node)
{
	struct vstate s = {.m = m, .node = IR_NONE};
	s.defined = arena_alloc(&m->ctx->scratch, m->values.len + 1);
	if (setjmp(s.fail)) {
		if (node)
			*node = s.node;
		return s.what;
	}
	for (size_t f = 0; f < m->funcs.len; f++)
		check_block(&s, VEC_AT(&m->funcs, struct ir_func *, f)->body);
	return NULL;
}

void ir_verify(struct ir_module *m, const char *after_pass)
{
	uint32_t node = IR_NONE;
	const char *what = ir_check(m, &node);
	if (!what)
		return;
	fprintf(stderr, "kiln: internal error: IR invalid after pass '%s': %s\n", after_pass, what);
	if (node != IR_NONE)
		fprintf(stderr, "  at: %s\n", ir_node_str(m, node));
	abort();
}
