/* cse.c: common subexpression elimination. A pure node (F_PURE, one output, no blocks)
 * equal to an earlier one that dominates it (same op, inputs, attributes and result
 * type) is replaced by it: its uses read the earlier result and it becomes dead (dce
 * removes it). Constants are equal by value (tensors by their data). Nodes whose result
 * is a model output are kept, so that every output keeps its own buffer. Scopes follow
 * blocks: a node in a branch or loop body may reuse one from an enclosing block, never
 * from a sibling. One walk in IR order with a hash table whose entries are popped on
 * leaving a block; expected linear. */
#include <string.h>

#include "passes.h"

struct entry {
	uint32_t node;   /* the earlier node */
	int next;        /* next entry in the bucket, -1 = none */
	size_t bucket;
};

struct cse {
	struct ir_module *m;
	uint32_t *map;           /* value -> its replacement, IR_NONE = itself */
	unsigned char *is_out;   /* value is a model output */
	int *heads;              /* bucket -> first entry, -1 = empty */
	size_t nbuckets;
	struct vec entries;      /* struct entry, a stack */
};

static uint32_t mapped(struct cse *c, uint32_t v)
{
	return v != IR_NONE && c->map[v] != IR_NONE ? c->map[v] : v;
}

static uint64_t mix(uint64_t h, uint64_t x)
{
	return (h ^ x) * 0x100000001b3ull;
}

static uint64_t hash_node(const struct ir_node *n)
{
	uint64_t h = mix(0xcbf29ce484222325ull, (uint64_t)n->op);
	for (int k = 0; k < n->nin; k++)
		h = mix(h, n->in[k]);
	if (n->op == OP_CONST) {
		const struct ir_const *c = &n->a.konst;
		h = mix(h, (uint64_t)c->kind);
		h = mix(h, (uint64_t)c->i);
		if (c->kind == CK_STR || c->kind == CK_DEVICE)
			for (const char *s = c->s; *s; s++)
				h = mix(h, (unsigned char)*s);
		if (c->kind == CK_INTS)
			for (int i = 0; i < c->n; i++)
				h = mix(h, (uint64_t)c->ints[i]);
	}
	return h;
}

static int same_const(const struct ir_const *a, const struct ir_const *b)
{
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case CK_NONE: return 1;
	case CK_INT: case CK_BOOL: return a->i == b->i;
	case CK_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
	case CK_STR: case CK_DEVICE: return strcmp(a->s, b->s) == 0;
	case CK_INTS:
		return a->n == b->n && (!a->n || !memcmp(a->ints, b->ints, sizeof *a->ints * (size_t)a->n));
	case CK_FLOATS:
		return a->n == b->n &&
		       (!a->n || !memcmp(a->floats, b->floats, sizeof *a->floats * (size_t)a->n));
	case CK_TENSOR: return a->data == b->data;
	default: return 0;
	}
}

/* Same result type: reshape, expand and cast take their target from it. */
static int same_type(const struct ir_value *a, const struct ir_value *b)
{
	if (a->kind != b->kind || a->dtype != b->dtype || a->type != b->type ||
	    a->shape.rank != b->shape.rank)
		return 0;
	for (int k = 0; k < a->shape.rank; k++) {
		const char *sa = a->shape.sym[k], *sb = b->shape.sym[k];
		if (a->shape.dims[k] != b->shape.dims[k] || !sa != !sb || (sa && strcmp(sa, sb)))
			return 0;
	}
	return 1;
}

static int same_node(struct ir_module *m, const struct ir_node *a, const struct ir_node *b)
{
	if (a->op != b->op || a->nin != b->nin ||
	    memcmp(a->in, b->in, sizeof *a->in * (size_t)a->nin) != 0 ||
	    !same_type(ir_val(m, a->out[0]), ir_val(m, b->out[0])))
		return 0;
	const union ir_attrs *x = &a->a, *y = &b->a;
	switch (op_info[a->op].attr) {
	case A_none: return 1;
	case A_konst: return same_const(&x->konst, &y->konst);
	case A_name: return strcmp(x->name.name, y->name.name) == 0;
	case A_slice:   /* has padding: by field */
		return x->slice.axis == y->slice.axis && x->slice.start == y->slice.start &&
		       x->slice.end == y->slice.end && x->slice.step == y->slice.step;
	case A_conv: return !memcmp(&x->conv, &y->conv, sizeof x->conv);
	case A_linear: return !memcmp(&x->linear, &y->linear, sizeof x->linear);
	case A_gemm: return !memcmp(&x->gemm, &y->gemm, sizeof x->gemm);
	case A_norm: return !memcmp(&x->norm, &y->norm, sizeof x->norm);
	case A_clip: return !memcmp(&x->clip, &y->clip, sizeof x->clip);
	case A_gelu: return !memcmp(&x->gelu, &y->gelu, sizeof x->gelu);
	case A_binary: return !memcmp(&x->binary, &y->binary, sizeof x->binary);
	case A_pool: return !memcmp(&x->pool, &y->pool, sizeof x->pool);
	case A_axis: return !memcmp(&x->axis, &y->axis, sizeof x->axis);
	case A_reduce: return !memcmp(&x->reduce, &y->reduce, sizeof x->reduce);
	case A_perm: return !memcmp(&x->perm, &y->perm, sizeof x->perm);
	case A_pad: return !memcmp(&x->pad, &y->pad, sizeof x->pad);
	case A_sop: return !memcmp(&x->sop, &y->sop, sizeof x->sop);
	case A_rnn: return !memcmp(&x->rnn, &y->rnn, sizeof x->rnn);
	default: return 0;   /* calls, aten: never merged */
	}
}

static int candidate(const struct ir_node *n)
{
	return (op_info[n->op].flags & F_PURE) && n->nout == 1 && n->nblocks == 0 &&
	       n->op != OP_OBJ_NEW && op_info[n->op].attr != A_call && op_info[n->op].attr != A_aten;
}

static void visit(struct cse *c, uint32_t id)
{
	struct ir_module *m = c->m;
	struct ir_node *n = ir_node(m, id);
	size_t bk = (size_t)(hash_node(n) % c->nbuckets);
	for (int e = c->heads[bk]; e >= 0; e = VEC_AT(&c->entries, struct entry, e).next) {
		struct ir_node *o = ir_node(m, VEC_AT(&c->entries, struct entry, e).node);
		if (same_node(m, o, n) && !c->is_out[n->out[0]]) {
			c->map[n->out[0]] = o->out[0];
			n->dead = 1;
			return;
		}
	}
	struct entry en = {id, c->heads[bk], bk};
	VEC_PUSH(&m->ctx->scratch, &c->entries, struct entry, en);
	c->heads[bk] = (int)c->entries.len - 1;
}

static void cse_block(struct cse *c, struct ir_block *b)
{
	struct ir_module *m = c->m;
	size_t mark = c->entries.len;
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(m, id);
		if (n->dead)
			continue;
		for (int k = 0; k < n->nin; k++)
			n->in[k] = mapped(c, n->in[k]);
		for (int k = 0; k < n->nblocks; k++)
			cse_block(c, n->blocks[k]);
		if (candidate(n))
			visit(c, id);
	}
	for (int k = 0; k < b->nrets; k++)
		b->rets[k] = mapped(c, b->rets[k]);
	while (c->entries.len > mark) {   /* leave the scope */
		struct entry *e = &VEC_AT(&c->entries, struct entry, c->entries.len - 1);
		c->heads[e->bucket] = e->next;
		c->entries.len--;
	}
}

void cse(struct ir_module *m)
{
	struct arena *a = &m->ctx->scratch;
	size_t nv = m->values.len;
	struct cse c = {m, arena_alloc(a, sizeof(uint32_t) * (nv + 1)), arena_alloc(a, nv + 1),
	                NULL, m->nodes.len * 2 + 1, {0}};
	memset(c.map, 0xff, sizeof(uint32_t) * (nv + 1));
	c.heads = arena_alloc(a, sizeof *c.heads * c.nbuckets);
	memset(c.heads, 0xff, sizeof *c.heads * c.nbuckets);
	for (int i = 0; i < m->noutputs; i++)
		c.is_out[m->outputs[i].value] = 1;
	cse_block(&c, ir_main(m)->body);
}
