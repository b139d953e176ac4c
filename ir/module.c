/* module.c: creating and editing IR modules. Everything goes in the context's arena.
 * Node and value ids are indices into m->nodes / m->values; appending may move the
 * arrays, so hold ids, not pointers, across calls that create nodes or values. */
#include <string.h>

#include "ir.h"

struct ir_module *ir_module_new(struct kiln_ctx *ctx, const char *source)
{
	struct ir_module *m = arena_alloc(&ctx->arena, sizeof *m);
	m->ctx = ctx;
	m->source = source;
	return m;
}

struct ir_value *ir_val(struct ir_module *m, uint32_t id)
{
	KILN_ASSERT(id < m->values.len);
	return &VEC_AT(&m->values, struct ir_value, id);
}

struct ir_node *ir_node(struct ir_module *m, uint32_t id)
{
	KILN_ASSERT(id < m->nodes.len);
	return &VEC_AT(&m->nodes, struct ir_node, id);
}

uint32_t ir_new_value(struct ir_module *m, enum vkind kind)
{
	struct ir_value v = {.kind = kind, .def = IR_NONE, .alias_of = IR_NONE};
	v.shape.rank = -1;
	if (m->values.len >= UINT32_MAX - 1)
		diag_error(m->ctx, (struct loc){.file = m->source}, "too many values");
	VEC_PUSH(&m->ctx->arena, &m->values, struct ir_value, v);
	return (uint32_t)(m->values.len - 1);
}

uint32_t ir_new_tensor(struct ir_module *m, enum dtype dt, const struct ir_shape *shape)
{
	uint32_t id = ir_new_value(m, VK_TENSOR);
	struct ir_value *v = ir_val(m, id);
	v->dtype = dt;
	if (shape)
		v->shape = *shape;
	return id;
}

struct ir_block *ir_new_block(struct ir_module *m)
{
	return arena_alloc(&m->ctx->arena, sizeof(struct ir_block));
}

struct ir_func *ir_new_func(struct ir_module *m, const char *name)
{
	struct ir_func *f = arena_alloc(&m->ctx->arena, sizeof *f);
	f->name = name;
	f->body = ir_new_block(m);
	VEC_PUSH(&m->ctx->arena, &m->funcs, struct ir_func *, f);
	return f;
}

struct ir_func *ir_main(struct ir_module *m) { return VEC_AT(&m->funcs, struct ir_func *, m->main); }

static uint32_t make_node(struct ir_module *m, enum op op, const uint32_t *in, int nin, int nout)
{
	struct arena *a = &m->ctx->arena;
	struct ir_node n = {.op = op, .nin = nin, .nout = nout, .scratch = IR_NONE};
	n.in = arena_alloc(a, sizeof(uint32_t) * (size_t)(nin ? nin : 1));
	if (nin)
		memcpy(n.in, in, sizeof(uint32_t) * (size_t)nin);
	n.out = arena_alloc(a, sizeof(uint32_t) * (size_t)(nout ? nout : 1));
	VEC_PUSH(a, &m->nodes, struct ir_node, n);
	uint32_t id = (uint32_t)(m->nodes.len - 1);
	for (int i = 0; i < nout; i++) {
		uint32_t v = ir_new_value(m, VK_UNKNOWN);
		ir_val(m, v)->def = id;
		ir_node(m, id)->out[i] = v;
	}
	return id;
}

uint32_t ir_add_node(struct ir_module *m, struct ir_block *b, enum op op,
                     const uint32_t *in, int nin, int nout)
{
	uint32_t id = make_node(m, op, in, nin, nout);
	VEC_PUSH(&m->ctx->arena, &b->nodes, uint32_t, id);
	return id;
}

uint32_t ir_insert_node(struct ir_module *m, struct ir_block *b, size_t pos, enum op op,
                        const uint32_t *in, int nin, int nout)
{
	uint32_t id = make_node(m, op, in, nin, nout);
	VEC_PUSH(&m->ctx->arena, &b->nodes, uint32_t, id);
	uint32_t *ids = b->nodes.data;
	memmove(ids + pos + 1, ids + pos, (b->nodes.len - 1 - pos) * sizeof *ids);
	ids[pos] = id;
	return id;
}

uint32_t ir_add_param(struct ir_module *m, struct ir_block *b, enum vkind kind)
{
	uint32_t v = ir_new_value(m, kind);
	uint32_t *p = arena_alloc(&m->ctx->arena, sizeof *p * (size_t)(b->nparams + 1));
	if (b->nparams)
		memcpy(p, b->params, sizeof *p * (size_t)b->nparams);
	p[b->nparams++] = v;
	b->params = p;
	return v;
}

void ir_set_rets(struct ir_module *m, struct ir_block *b, const uint32_t *rets, int n)
{
	b->rets = arena_alloc(&m->ctx->arena, sizeof *rets * (size_t)(n ? n : 1));
	if (n)
		memcpy(b->rets, rets, sizeof *rets * (size_t)n);
	b->nrets = n;
}

static uint32_t new_const(struct ir_module *m, struct ir_block *b, enum vkind kind,
                          struct ir_const c)
{
	uint32_t n = ir_add_node(m, b, OP_CONST, NULL, 0, 1);
	ir_node(m, n)->a.konst = c;
	uint32_t v = ir_node(m, n)->out[0];
	ir_val(m, v)->kind = kind;
	return v;
}

uint32_t ir_const_int(struct ir_module *m, struct ir_block *b, int64_t v)
{
	return new_const(m, b, VK_INT, (struct ir_const){.kind = CK_INT, .i = v});
}

uint32_t ir_const_float(struct ir_module *m, struct ir_block *b, double v)
{
	return new_const(m, b, VK_FLOAT, (struct ir_const){.kind = CK_FLOAT, .f = v});
}

uint32_t ir_const_bool(struct ir_module *m, struct ir_block *b, int v)
{
	return new_const(m, b, VK_BOOL, (struct ir_const){.kind = CK_BOOL, .i = !!v});
}

uint32_t ir_const_none(struct ir_module *m, struct ir_block *b)
{
	return new_const(m, b, VK_NONE, (struct ir_const){.kind = CK_NONE});
}

uint32_t ir_const_str(struct ir_module *m, struct ir_block *b, const char *s)
{
	return new_const(m, b, VK_STR, (struct ir_const){.kind = CK_STR, .s = s});
}

uint32_t ir_const_ints(struct ir_module *m, struct ir_block *b, const int64_t *v, int n)
{
	int64_t *copy = arena_alloc(&m->ctx->arena, sizeof *copy * (size_t)(n ? n : 1));
	if (n)
		memcpy(copy, v, sizeof *copy * (size_t)n);
	return new_const(m, b, VK_LIST, (struct ir_const){.kind = CK_INTS, .ints = copy, .n = n});
}

uint32_t ir_const_tensor(struct ir_module *m, struct ir_block *b, enum dtype dt,
                         const struct ir_shape *shape, const void *data, const char *name)
{
	uint32_t v = new_const(m, b, VK_TENSOR,
	                       (struct ir_const){.kind = CK_TENSOR, .data = data, .name = name});
	ir_val(m, v)->dtype = dt;
	ir_val(m, v)->shape = *shape;
	ir_val(m, v)->name = name;
	return v;
}

const struct ir_const *ir_const_of(struct ir_module *m, uint32_t v)
{
	if (v == IR_NONE)
		return NULL;
	uint32_t d = ir_val(m, v)->def;
	if (d == IR_NONE)
		return NULL;
	struct ir_node *n = ir_node(m, d);
	return n->op == OP_CONST && !n->dead ? &n->a.konst : NULL;
}

static void replace_in_block(struct ir_module *m, struct ir_block *b, uint32_t from, uint32_t to)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] == from)
				n->in[j] = to;
		for (int j = 0; j < n->nblocks; j++)
			replace_in_block(m, n->blocks[j], from, to);
	}
	for (int j = 0; j < b->nrets; j++)
		if (b->rets[j] == from)
			b->rets[j] = to;
}

void ir_replace_uses(struct ir_module *m, uint32_t from, uint32_t to)
{
	for (size_t f = 0; f < m->funcs.len; f++)
		replace_in_block(m, VEC_AT(&m->funcs, struct ir_func *, f)->body, from, to);
	for (int i = 0; i < m->noutputs; i++)
		if (m->outputs[i].value == from)
			m->outputs[i].value = to;
}

int64_t shape_numel(const struct ir_shape *s)
{
	if (s->rank < 0)
		return -1;
	int64_t n = 1;
	for (int i = 0; i < s->rank; i++) {
		if (s->dims[i] < 0)
			return -1;
		n *= s->dims[i];
	}
	return n;
}

int shape_eq(const struct ir_shape *a, const struct ir_shape *b)
{
	if (a->rank != b->rank)
		return 0;
	for (int i = 0; i < a->rank; i++)
		if (a->dims[i] != b->dims[i])
			return 0;
	return 1;
}

static void count_block(struct ir_module *m, struct ir_block *b, int *uses)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		if (n->dead)
			continue;
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] != IR_NONE)
				uses[n->in[j]]++;
		for (int j = 0; j < n->nblocks; j++)
			count_block(m, n->blocks[j], uses);
	}
	for (int j = 0; j < b->nrets; j++)
		uses[b->rets[j]]++;
}

int *ir_use_counts(struct ir_module *m, struct arena *a)
{
	int *uses = arena_alloc(a, sizeof(int) * (m->values.len + 1));
	for (size_t f = 0; f < m->funcs.len; f++)
		count_block(m, VEC_AT(&m->funcs, struct ir_func *, f)->body, uses);
	return uses;
}

int ir_get_int(struct ir_module *m, uint32_t v, int64_t *out)
{
	const struct ir_const *c = ir_const_of(m, v);
	if (!c || (c->kind != CK_INT && c->kind != CK_BOOL))
		return 0;
	*out = c->i;
	return 1;
}

int ir_get_float(struct ir_module *m, uint32_t v, double *out)
{
	const struct ir_const *c = ir_const_of(m, v);
	if (!c)
		return 0;
	if (c->kind == CK_FLOAT)
		*out = c->f;
	else if (c->kind == CK_INT || c->kind == CK_BOOL)
		*out = (double)c->i;
	else
		return 0;
	return 1;
}

int ir_get_ints(struct ir_module *m, uint32_t v, const int64_t **out, int *n)
{
	const struct ir_const *c = ir_const_of(m, v);
	if (!c)
		return 0;
	if (c->kind == CK_INTS) {
		*out = c->ints;
		*n = c->n;
		return 1;
	}
	if (c->kind == CK_INT) {
		*out = &c->i;
		*n = 1;
		return 1;
	}
	return 0;
}

int ir_is_none(struct ir_module *m, uint32_t v)
{
	if (v == IR_NONE)
		return 1;
	const struct ir_const *c = ir_const_of(m, v);
	return c && c->kind == CK_NONE;
}

int ir_value_shared(struct ir_module *m, uint32_t v)
{
	uint32_t d = ir_val(m, v)->def;
	enum op op = d != IR_NONE ? ir_node(m, d)->op : OP_CONST;
	if (op == OP_GETATTR || op == OP_GETITEM || op == OP_UNPACK)
		return 1;
	for (size_t i = 0; i < m->nodes.len; i++) {
		struct ir_node *n = ir_node(m, (uint32_t)i);
		if (n->dead)
			continue;
		/* OBJ_SET stores its inputs after the object; LIST and TUPLE store all of them */
		int from = n->op == OP_OBJ_SET ? 1 : n->op == OP_LIST || n->op == OP_TUPLE ? 0 : n->nin;
		for (int k = from; k < n->nin; k++)
			if (n->in[k] == v)
				return 1;
	}
	return 0;
}

uint32_t ir_place(struct ir_module *m, struct ir_block *b, size_t pos, uint32_t v)
{
	uint32_t id = ir_val(m, v)->def;
	uint32_t *ids = b->nodes.data;
	size_t last = b->nodes.len - 1;
	KILN_ASSERT(ids[last] == id && pos <= last);
	memmove(ids + pos + 1, ids + pos, (last - pos) * sizeof *ids);
	ids[pos] = id;
	return v;
}

void ir_walk(struct ir_module *m, struct ir_block *b, ir_walk_fn *fn, void *arg)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(m, id);
		if (n->dead)
			continue;
		for (int k = 0; k < n->nblocks; k++)
			ir_walk(m, ir_node(m, id)->blocks[k], fn, arg);
		fn(m, b, &i, id, arg);
	}
}
