/* flatten.c: the entry point's nested inputs and result become flat lists of tensors,
 * with a schema (ir.h struct ir_schema) that says how they rebuild.
 *
 * Order is detectron2's (flatten.py): depth-first; tuples and lists in order; dict keys
 * and object fields sorted by name, an object's `image_size` last; with `insertion` dict
 * keys and fields keep the order they were first set in. Each tensor leaf records its
 * path ("output[1]['scores']") and a C-safe name made from it ("output_1_scores"; keys
 * alone when the path starts with one: "scores"), unique in the module.
 *
 * flatten_inputs runs before the inputs are typed: a Tuple/Dict argument becomes one
 * parameter per tensor leaf and TUPLE/DICT nodes at the top of the body rebuild it (fold
 * then resolves the reads). A dict input's keys are the constant keys the model reads.
 *
 * flatten runs once the body is folded: the result's TUPLE/LIST/DICT nodes and object
 * records (OBJ_NEW + OBJ_SET) are walked; non-tensor leaves that are constants are folded
 * into the schema, others are an error naming their path. After: main's block returns
 * m->outputs in order. Both are linear in the size of the structure (dict inputs: in the
 * number of nodes times the structure's size). */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

struct flat {
	struct ir_module *m;
	int insertion;     /* keep first-set order instead of sorting keys and fields */
	struct vec ios;    /* struct ir_io: the flat tensors */
	struct vec names;  /* const char *: names taken (inputs and outputs share a space) */
};

static const char *const kind_text[] = {
	"an unknown value", "a tensor", "an int", "a float", "a bool", "a string", "None",
	"a device", "a list", "a tuple", "a dict", "an optional", "an object", "a value of type Any"};

static struct ir_schema *node_new(struct flat *f, enum schema_kind k, int n)
{
	struct arena *a = &f->m->ctx->arena;
	struct ir_schema *s = arena_alloc(a, sizeof *s);
	s->kind = k;
	s->n = n;
	s->items = arena_alloc(a, sizeof *s->items * (size_t)(n + 1));
	s->keys = arena_alloc(a, sizeof *s->keys * (size_t)(n + 1));
	return s;
}

/* name + "_" + part, as a C identifier ('_' for anything else). */
static const char *join(struct arena *a, const char *name, const char *part)
{
	char *r = arena_printf(a, "%s%s%s", name, *name ? "_" : "", part);
	for (char *p = r; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9'))
			*p = '_';
	return r;
}

static const char *unique_name(struct flat *f, const char *s)
{
	const char *u = s;
	for (int k = 2;; k++) {
		int taken = 0;
		for (size_t i = 0; i < f->names.len && !taken; i++)
			taken = strcmp(VEC_AT(&f->names, const char *, i), u) == 0;
		if (!taken)
			break;
		u = arena_printf(&f->m->ctx->arena, "%s_%d", s, k);
	}
	VEC_PUSH(&f->m->ctx->arena, &f->names, const char *, u);
	return u;
}

static const struct ir_schema *tensor_leaf(struct flat *f, uint32_t v, const char *path,
                                           const char *name)
{
	struct ir_schema *s = node_new(f, SC_TENSOR, 0);
	s->index = (int)f->ios.len;
	struct ir_io io = {unique_name(f, name), path, v};
	VEC_PUSH(&f->m->ctx->arena, &f->ios, struct ir_io, io);
	return s;
}

/* Sort children by key (stable: insertion sort keeps equal keys in order); `last` (if
 * present) goes to the end. */
static void sort_keys(struct ir_schema *s, uint32_t *vals, const char *last)
{
	for (int i = 1; i < s->n; i++)
		for (int j = i; j > 0; j--) {
			const char *a = s->keys[j - 1], *b = s->keys[j];
			int a_last = last && !strcmp(a, last), b_last = last && !strcmp(b, last);
			if (!(a_last && !b_last) && (a_last || b_last || strcmp(a, b) <= 0))
				break;
			const char *k = s->keys[j - 1];
			s->keys[j - 1] = s->keys[j];
			s->keys[j] = k;
			uint32_t t = vals[j - 1];
			vals[j - 1] = vals[j];
			vals[j] = t;
		}
}

/* ---- outputs ---- */

static const struct ir_schema *out_leaf(struct flat *f, uint32_t v, const char *path,
                                        const char *name);

/* Children vals[0..n) of container s, with their keys (NULL for positions). */
static const struct ir_schema *out_children(struct flat *f, struct ir_schema *s,
                                            const uint32_t *vals, const char *path,
                                            const char *name)
{
	struct arena *a = &f->m->ctx->arena;
	for (int i = 0; i < s->n; i++) {
		const char *k = s->keys[i];
		const char *p = !k ? arena_printf(a, "%s[%d]", path, i)
		                : s->kind == SC_OBJECT ? arena_printf(a, "%s.%s", path, k)
		                                       : arena_printf(a, "%s['%s']", path, k);
		const char *nm = k ? join(a, name, k)
		                 : join(a, *name ? name : "output", arena_printf(a, "%d", i));
		s->items[i] = out_leaf(f, vals[i], p, nm);
	}
	return s;
}

/* The node defining v if it is an `op`, else NULL. */
static struct ir_node *set_of(struct ir_module *m, uint32_t v, enum op op)
{
	uint32_t d = ir_val(m, v)->def;
	return d != IR_NONE && ir_node(m, d)->op == op ? ir_node(m, d) : NULL;
}

/* The fields of the record v (an OBJ_SET chain), each with the value last set. */
static const struct ir_schema *out_object(struct flat *f, uint32_t v, const char *path,
                                          const char *name)
{
	struct ir_module *m = f->m;
	struct arena *a = &m->ctx->arena;
	int n = 0;
	uint32_t o = v;
	for (; set_of(m, o, OP_OBJ_SET); o = set_of(m, o, OP_OBJ_SET)->in[0])
		n++;
	if (!set_of(m, o, OP_OBJ_NEW))
		diag_error(m->ctx, ir_val(m, v)->loc, "%s is an object whose fields are decided at run "
		           "time; kiln flattens objects built in the model's code", path);
	struct ir_schema *s = node_new(f, SC_OBJECT, n);
	uint32_t *vals = arena_alloc(a, sizeof *vals * (size_t)(n + 1));
	const struct ir_type *t = ir_val(m, v)->type;
	s->qualname = t && t->qualname ? t->qualname : "object";
	int cnt = 0;
	for (o = v; set_of(m, o, OP_OBJ_SET); o = set_of(m, o, OP_OBJ_SET)->in[0]) {
		struct ir_node *set = set_of(m, o, OP_OBJ_SET);   /* newest first: keep the last */
		int seen = 0;
		for (int i = 0; i < cnt && !seen; i++)
			seen = !strcmp(s->keys[i], set->a.name.name);
		if (!seen) {
			s->keys[cnt] = set->a.name.name;
			vals[cnt++] = set->in[1];
		}
	}
	s->n = cnt;
	for (int i = 0; i < cnt / 2; i++) {   /* first-set order */
		const char *k = s->keys[i];
		s->keys[i] = s->keys[cnt - 1 - i];
		s->keys[cnt - 1 - i] = k;
		uint32_t x = vals[i];
		vals[i] = vals[cnt - 1 - i];
		vals[cnt - 1 - i] = x;
	}
	if (!f->insertion)
		sort_keys(s, vals, "image_size");
	return out_children(f, s, vals, path, name);
}

static const struct ir_schema *out_leaf(struct flat *f, uint32_t v, const char *path,
                                        const char *name)
{
	struct ir_module *m = f->m;
	struct ir_value *x = ir_val(m, v);
	uint32_t d = x->def;
	struct ir_node *n = d != IR_NONE ? ir_node(m, d) : NULL;
	if (n && (n->op == OP_TUPLE || n->op == OP_LIST)) {
		struct ir_schema *s = node_new(f, n->op == OP_TUPLE ? SC_TUPLE : SC_LIST, n->nin);
		return out_children(f, s, n->in, path, name);
	}
	if (n && n->op == OP_DICT) {
		struct ir_schema *s = node_new(f, SC_DICT, n->nin / 2);
		uint32_t *vals = arena_alloc(&m->ctx->arena, sizeof *vals * (size_t)(s->n + 1));
		for (int i = 0; i < s->n; i++) {
			const struct ir_const *k = ir_const_of(m, n->in[2 * i]);
			if (!k || k->kind != CK_STR)
				diag_error(m->ctx, n->loc, "%s is a dict whose keys are not constant strings",
				           path);
			s->keys[i] = k->s;
			vals[i] = n->in[2 * i + 1];
		}
		if (!f->insertion)
			sort_keys(s, vals, NULL);
		return out_children(f, s, vals, path, name);
	}
	if (n && (n->op == OP_OBJ_SET || n->op == OP_OBJ_NEW))
		return out_object(f, v, path, name);
	const struct ir_const *c = ir_const_of(m, v);
	if (x->kind == VK_TENSOR && (!c || c->kind == CK_TENSOR))
		return tensor_leaf(f, v, path, *name ? name : "output_0");
	if (c && c->kind != CK_TENSOR && c->kind != CK_OBJECT) {
		struct ir_schema *s = node_new(f, SC_CONST, 0);
		s->value = c;
		return s;
	}
	diag_error(m->ctx, n ? n->loc : (struct loc){.file = m->source},
	           "%s is %s that is not a constant; compiled models return tensors (and "
	           "constants)", path, kind_text[x->kind]);
}

void flatten(struct ir_module *m, int insertion)
{
	struct ir_block *b = ir_main(m)->body;
	struct flat f = {m, insertion, {0}, {0}};
	for (int i = 0; i < m->ninputs; i++)
		VEC_PUSH(&m->ctx->arena, &f.names, const char *, m->inputs[i].name);
	if (b->nrets == 1) {
		m->out_schema = out_leaf(&f, b->rets[0], "output", "");
	} else {   /* several results (IR text): a tuple of them */
		struct ir_schema *s = node_new(&f, SC_TUPLE, b->nrets);
		m->out_schema = out_children(&f, s, b->rets, "output", "");
	}
	m->noutputs = (int)f.ios.len;
	m->outputs = f.ios.data;
	uint32_t *rets = arena_alloc(&m->ctx->arena, sizeof *rets * (f.ios.len + 1));
	for (size_t i = 0; i < f.ios.len; i++)
		rets[i] = m->outputs[i].value;
	ir_set_rets(m, b, rets, m->noutputs);
}

/* ---- inputs ---- */

static void find_uses(struct ir_module *m, struct ir_block *b, uint32_t v, struct vec *out)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(m, id);
		if (n->dead)
			continue;
		for (int k = 0; k < n->nin; k++)
			if (n->in[k] == v) {
				VEC_PUSH(&m->ctx->scratch, out, uint32_t, id);
				break;
			}
		for (int k = 0; k < n->nblocks; k++)
			find_uses(m, n->blocks[k], v, out);
	}
}

/* The values that read child `sel` (an index, or a key when key != NULL) of the values
 * in `al` (the aliases of one position); a use of another kind is an error. */
static struct vec child_aliases(struct flat *f, const struct vec *al, int sel, const char *key,
                                const char *path)
{
	struct ir_module *m = f->m;
	struct vec out = {0};
	for (size_t i = 0; i < al->len; i++) {
		uint32_t v = VEC_AT(al, uint32_t, i);
		struct vec us = {0};
		find_uses(m, ir_main(m)->body, v, &us);
		for (size_t j = 0; j < us.len; j++) {
			struct ir_node *n = ir_node(m, VEC_AT(&us, uint32_t, j));
			const struct ir_const *c = n->op == OP_GETITEM && n->in[0] == v
			                           ? ir_const_of(m, n->in[1]) : NULL;
			int64_t k;
			if (key && c && c->kind == CK_STR) {
				if (!strcmp(c->s, key))
					VEC_PUSH(&m->ctx->scratch, &out, uint32_t, n->out[0]);
			} else if (!key && c && ir_get_int(m, n->in[1], &k)) {
				if (k == sel)
					VEC_PUSH(&m->ctx->scratch, &out, uint32_t, n->out[0]);
			} else if (!key && n->op == OP_UNPACK) {
				if (sel < n->nout)
					VEC_PUSH(&m->ctx->scratch, &out, uint32_t, n->out[sel]);
			} else {
				diag_error(m->ctx, n->loc, "input %s is a %s used other than by reading "
				           "its items with constant %s; kiln cannot flatten it", path,
				           key ? "dict" : "tuple", key ? "keys" : "indices");
			}
		}
	}
	return out;
}

/* The constant keys read from the dict aliases al, in first-read order. */
static struct vec dict_keys(struct flat *f, const struct vec *al)
{
	struct ir_module *m = f->m;
	struct vec keys = {0};
	for (size_t i = 0; i < al->len; i++) {
		uint32_t v = VEC_AT(al, uint32_t, i);
		struct vec us = {0};
		find_uses(m, ir_main(m)->body, v, &us);
		for (size_t j = 0; j < us.len; j++) {
			struct ir_node *n = ir_node(m, VEC_AT(&us, uint32_t, j));
			const struct ir_const *c = n->op == OP_GETITEM && n->in[0] == v
			                           ? ir_const_of(m, n->in[1]) : NULL;
			int seen = !c || c->kind != CK_STR;
			for (size_t k = 0; k < keys.len && !seen; k++)
				seen = !strcmp(VEC_AT(&keys, const char *, k), c->s);
			if (!seen)
				VEC_PUSH(&m->ctx->scratch, &keys, const char *, c->s);
		}
	}
	return keys;
}

static uint32_t build_input(struct flat *f, const struct ir_type *t, const struct vec *al,
                            const char *path, const char *name, const struct ir_schema **out);

/* A TUPLE or DICT node at the top of the body, after the nodes already put there. */
static uint32_t struct_node(struct flat *f, enum op op, const uint32_t *in, int n,
                            const struct ir_type *t)
{
	struct ir_module *m = f->m;
	struct ir_block *b = ir_main(m)->body;
	uint32_t id = ir_add_node(m, b, op, in, n, 1);
	uint32_t v = ir_node(m, id)->out[0];
	ir_val(m, v)->kind = t->kind;
	ir_val(m, v)->type = t;
	return v;
}

static uint32_t build_dict(struct flat *f, const struct ir_type *t, const struct vec *al,
                           const char *path, const char *name, const struct ir_schema **out)
{
	struct ir_module *m = f->m;
	struct arena *a = &m->ctx->arena;
	struct vec keys = dict_keys(f, al);
	struct ir_schema *s = node_new(f, SC_DICT, (int)keys.len);
	uint32_t *in = arena_alloc(a, sizeof *in * (2 * keys.len + 1));
	uint32_t *order = arena_alloc(a, sizeof *order * (keys.len + 1));
	for (int i = 0; i < s->n; i++) {
		s->keys[i] = VEC_AT(&keys, const char *, i);
		order[i] = (uint32_t)i;
	}
	if (!f->insertion)
		sort_keys(s, order, NULL);
	const struct ir_type *et = t->nelem == 2 ? t->elem[1] : NULL;
	if (!et || (et->kind != VK_TENSOR && et->kind != VK_DICT && et->kind != VK_TUPLE))
		diag_error(m->ctx, (struct loc){.file = m->source}, "input %s: kiln flattens dicts "
		           "of tensors, tuples and dicts", path);
	for (int i = 0; i < s->n; i++) {
		const char *k = s->keys[i];
		struct vec sub = child_aliases(f, al, 0, k, path);
		in[2 * i] = ir_const_str(m, ir_main(m)->body, k);
		in[2 * i + 1] = build_input(f, et, &sub, arena_printf(a, "%s['%s']", path, k),
		                            join(a, name, k), &s->items[i]);
	}
	*out = s;
	return struct_node(f, OP_DICT, in, 2 * s->n, t);
}

/* The value standing for input position `path` of type t (aliases al), made of new
 * tensor parameters. */
static uint32_t build_input(struct flat *f, const struct ir_type *t, const struct vec *al,
                            const char *path, const char *name, const struct ir_schema **out)
{
	struct ir_module *m = f->m;
	struct arena *a = &m->ctx->arena;
	struct ir_block *b = ir_main(m)->body;
	enum vkind k = t ? t->kind : VK_TENSOR;
	if (k == VK_TENSOR || k == VK_ANY) {
		uint32_t p = ir_add_param(m, b, VK_TENSOR);
		*out = tensor_leaf(f, p, path, name);
		return p;
	}
	if (k == VK_DICT)
		return build_dict(f, t, al, path, name, out);
	if (k != VK_TUPLE || t->nelem < 1)
		diag_error(m->ctx, (struct loc){.file = m->source}, "input %s is %s; kiln flattens "
		           "inputs made of tensors, tuples and dicts", path, kind_text[k]);
	struct ir_schema *s = node_new(f, SC_TUPLE, t->nelem);
	uint32_t *in = arena_alloc(a, sizeof *in * (size_t)(t->nelem + 1));
	for (int i = 0; i < t->nelem; i++) {
		struct vec sub = child_aliases(f, al, i, NULL, path);
		in[i] = build_input(f, t->elem[i], &sub, arena_printf(a, "%s[%d]", path, i),
		                    join(a, name, arena_printf(a, "%d", i)), &s->items[i]);
	}
	*out = s;
	return struct_node(f, OP_TUPLE, in, t->nelem, t);
}

void flatten_inputs(struct ir_module *m, int insertion)
{
	struct ir_func *fn = ir_main(m);
	struct ir_block *b = fn->body;
	struct arena *a = &m->ctx->arena;
	int nargs = b->nparams, nested = 0;
	for (int i = 0; i < nargs; i++) {
		enum vkind k = ir_val(m, b->params[i])->kind;
		nested |= k == VK_TUPLE || k == VK_DICT || k == VK_LIST || k == VK_OBJECT;
	}
	m->ninargs = nargs;
	if (!nested)
		return;
	struct flat f = {m, insertion, {0}, {0}};
	uint32_t *old = arena_alloc(a, sizeof *old * (size_t)(nargs + 1));
	memcpy(old, b->params, sizeof *old * (size_t)nargs);
	b->nparams = 0;
	size_t body_len = b->nodes.len;
	m->in_schema = arena_alloc(a, sizeof *m->in_schema * (size_t)(nargs + 1));
	for (int i = 0; i < nargs; i++) {
		struct ir_value *pv = ir_val(m, old[i]);
		const char *arg = fn->arg_names && fn->arg_names[i] ? fn->arg_names[i]
		                  : arena_printf(a, "input_%d", i);
		struct vec al = {0};
		VEC_PUSH(&m->ctx->scratch, &al, uint32_t, old[i]);
		const struct ir_type *t = pv->kind == VK_TENSOR || pv->kind == VK_ANY ? NULL : pv->type;
		if (pv->kind != VK_TENSOR && pv->kind != VK_ANY && !t)
			diag_error(m->ctx, pv->loc, "input '%s' is %s; kiln compiles models whose inputs "
			           "are tensors, and tuples and dicts of them", arg, kind_text[pv->kind]);
		uint32_t v = build_input(&f, t, &al, arena_printf(a, "input[%d]", i),
		                         join(a, "", arg), &m->in_schema[i]);
		ir_replace_uses(m, old[i], v);
	}
	size_t made = b->nodes.len - body_len;   /* the rebuilding nodes go first */
	uint32_t *ids = b->nodes.data, *tmp = arena_alloc(&m->ctx->scratch, sizeof *tmp * (made + 1));
	memcpy(tmp, ids + body_len, sizeof *tmp * made);
	memmove(ids + made, ids, sizeof *ids * body_len);
	memcpy(ids, tmp, sizeof *tmp * made);
	m->ninputs = (int)f.ios.len;
	m->inputs = f.ios.data;
	fn->arg_names = arena_alloc(a, sizeof *fn->arg_names * (f.ios.len + 1));
	for (size_t i = 0; i < f.ios.len; i++)
		fn->arg_names[i] = m->inputs[i].name;
}
