/* freeze.c: module attributes become constants, as torch.jit.freeze does.
 * Before: the entry function's first parameter is `self`; GETATTR chains reach
 * submodules, weights and hyperparameters.
 * After: `self` is gone; each GETATTR on a known object is replaced by a constant
 * (a tensor, a scalar, a list of ints, or a submodule object that later GETATTRs
 * resolve). Tensor constants are named by their attribute path ("layer1.0.conv1.weight").
 * Linear in the number of nodes. */
#include <string.h>

#include "passes.h"
#include "frontend/frontend.h"
#include "frontend/pt.h"

/* A constant for pickle value p, inserted at *pos in b; IR_NONE if not representable. */
static uint32_t const_for(struct ir_module *m, struct ir_block *b, size_t *pos, struct pv *p,
                          const char *path, struct loc loc);

/* The constant v was appended to b; move it to *pos, before its first use. */
static uint32_t at(struct ir_module *m, struct ir_block *b, size_t *pos, uint32_t v)
{
	ir_place(m, b, (*pos)++, v);
	ir_node(m, ir_val(m, v)->def)->loc = ir_val(m, v)->loc;
	return v;
}

static uint32_t int_list(struct ir_module *m, struct ir_block *b, size_t *pos, struct pv *p)
{
	int64_t *v = arena_alloc(&m->ctx->arena, sizeof *v * (p->u.seq.n + 1));
	for (size_t i = 0; i < p->u.seq.n; i++) {
		if (p->u.seq.items[i]->kind != PV_INT)
			return IR_NONE;
		v[i] = p->u.seq.items[i]->u.i;
	}
	return at(m, b, pos, ir_const_ints(m, b, v, (int)p->u.seq.n));
}

/* A list or tuple of other constants (the tensors of an RNN's _flat_weights) as a LIST or
 * TUPLE node of them; IR_NONE if an item is not representable. */
static uint32_t item_list(struct ir_module *m, struct ir_block *b, size_t *pos, struct pv *p,
                          const char *path, struct loc loc)
{
	size_t n = p->u.seq.n;
	uint32_t *items = arena_alloc(&m->ctx->arena, sizeof *items * (n + 1));
	for (size_t i = 0; i < n; i++) {
		const char *ip = arena_printf(&m->ctx->arena, "%s.%zu", path, i);
		items[i] = const_for(m, b, pos, p->u.seq.items[i], ip, loc);
		if (items[i] == IR_NONE)
			return IR_NONE;
	}
	int list = p->kind == PV_LIST;
	uint32_t node = ir_add_node(m, b, list ? OP_LIST : OP_TUPLE, items, (int)n, 1);
	uint32_t v = ir_node(m, node)->out[0];
	ir_val(m, v)->kind = list ? VK_LIST : VK_TUPLE;
	ir_val(m, v)->loc = loc;
	return at(m, b, pos, v);
}

static uint32_t const_for(struct ir_module *m, struct ir_block *b, size_t *pos, struct pv *p,
                          const char *path, struct loc loc)
{
	uint32_t v = IR_NONE;
	switch (p->kind) {
	case PV_NONE: v = ir_const_none(m, b); break;
	case PV_BOOL: v = ir_const_bool(m, b, p->u.b); break;
	case PV_INT: v = ir_const_int(m, b, p->u.i); break;
	case PV_FLOAT: v = ir_const_float(m, b, p->u.f); break;
	case PV_STR: v = ir_const_str(m, b, p->u.str.s); break;
	case PV_TENSOR: v = ts_tensor_const(m, b, p->u.tensor, path, loc); break;
	case PV_OBJECT: {
		uint32_t n = ir_add_node(m, b, OP_CONST, NULL, 0, 1);
		ir_node(m, n)->a.konst = (struct ir_const){.kind = CK_OBJECT, .object = p, .name = path};
		v = ir_node(m, n)->out[0];
		ir_val(m, v)->kind = VK_OBJECT;
		break;
	}
	case PV_LIST: case PV_TUPLE:
		v = int_list(m, b, pos, p);
		return v != IR_NONE ? v : item_list(m, b, pos, p, path, loc);
	default: return IR_NONE;
	}
	ir_val(m, v)->loc = loc;
	return at(m, b, pos, v);
}

/* A GETATTR on a known object becomes the constant it reads. */
static void freeze_node(struct ir_module *m, struct ir_block *b, size_t *pos, uint32_t id,
                        void *arg)
{
	(void)arg;
	struct ir_node *n = ir_node(m, id);
	if (n->op == OP_SETATTR)
		diag_error(m->ctx, n->loc, "the model assigns attribute '%s' at run time; "
		           "kiln compiles models whose attributes are constant", n->a.name.name);
	if (n->op != OP_GETATTR)
		return;
	const struct ir_const *c = ir_const_of(m, n->in[0]);
	if (!c || c->kind != CK_OBJECT)
		return;
	const char *name = n->a.name.name;
	struct pv *p = pv_attr(c->object, name);
	struct loc loc = n->loc;
	if (!p)
		diag_error(m->ctx, loc, "module '%s' has no attribute '%s' in data.pkl",
		           c->name && *c->name ? c->name : "self", name);
	const char *path = c->name && *c->name ? arena_printf(&m->ctx->arena, "%s.%s", c->name, name)
	                                       : name;
	uint32_t out = n->out[0];
	const struct ir_type *type = ir_val(m, out)->type;
	uint32_t v = const_for(m, b, pos, p, path, loc);
	if (v == IR_NONE)
		diag_error(m->ctx, loc, "attribute '%s' is a %s, which kiln cannot freeze", path,
		           pv_kind_name(p->kind));
	if (ir_val(m, v)->kind == VK_OBJECT)
		ir_val(m, v)->type = type;
	ir_replace_uses(m, out, v);
	ir_node(m, id)->dead = 1;
}

void freeze(struct ir_module *m)
{
	struct ir_block *b = ir_main(m)->body;
	if (!m->root || b->nparams == 0 || ir_val(m, b->params[0])->kind != VK_OBJECT)
		return;
	uint32_t self = b->params[0];
	uint32_t n = ir_insert_node(m, b, 0, OP_CONST, NULL, 0, 1);
	ir_node(m, n)->a.konst = (struct ir_const){.kind = CK_OBJECT, .object = m->root, .name = ""};
	uint32_t v = ir_node(m, n)->out[0];
	ir_val(m, v)->kind = VK_OBJECT;
	ir_val(m, v)->type = ir_val(m, self)->type;
	ir_replace_uses(m, self, v);
	b->params++;
	b->nparams--;
	struct ir_func *f = ir_main(m);
	if (f->arg_names)
		f->arg_names++;
	ir_walk(m, b, freeze_node, NULL);
}
