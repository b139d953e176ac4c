/* onnx_graph.c: the building blocks of an ONNX graph: unique names, nodes, attributes,
 * initializers, value infos, and packing the model (see onnx_graph.h).
 *
 * Messages are zeroed arena memory initialised with protobuf-c's *_INIT values; repeated
 * fields are arena arrays grown by doubling. Packing is one protobuf-c call into one
 * arena buffer, written with fwrite. Output is deterministic: everything is appended in
 * IR order and no time or pointer value reaches the file.
 */
#include <math.h>
#include <string.h>

#include "backend/onnx/onnx_graph.h"

#define ONNX_IR_MAX ((size_t)0x7fffffff)   /* protobuf's 2 GB message limit */

/* FNV-1a */
static size_t hash(const char *s)
{
	size_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The slot holding s, or the empty slot where it would go. */
static const char **ns_find(struct nameset *ns, const char *s)
{
	size_t i = hash(s) & (ns->cap - 1);
	while (ns->slot[i] && strcmp(ns->slot[i], s) != 0)
		i = (i + 1) & (ns->cap - 1);
	return &ns->slot[i];
}

static void ns_add(struct arena *a, struct nameset *ns, const char *s)
{
	if (2 * (ns->len + 1) > ns->cap) {
		struct nameset big = {arena_alloc(a, sizeof *big.slot * (ns->cap ? 2 * ns->cap : 256)),
		                      ns->cap ? 2 * ns->cap : 256, 0};
		for (size_t i = 0; i < ns->cap; i++) {
			if (ns->slot[i]) {
				*ns_find(&big, ns->slot[i]) = ns->slot[i];
				big.len++;
			}
		}
		*ns = big;
	}
	const char **p = ns_find(ns, s);
	if (!*p) {
		*p = s;
		ns->len++;
	}
}

static int ns_has(struct nameset *ns, const char *s)
{
	return ns->cap && *ns_find(ns, s) != NULL;
}

void ox_init(struct ox *o, struct kiln_ctx *ctx, struct ir_module *m, int opset)
{
	memset(o, 0, sizeof *o);
	o->ctx = ctx;
	o->m = m;
	o->a = &ctx->arena;
	o->opset = opset;
	o->cur = IR_NONE;
	o->vname = arena_alloc(o->a, sizeof *o->vname * (m->values.len + 1));
	o->vinfo_done = arena_alloc(o->a, m->values.len + 1);
}

int32_t ox_dtype(enum dtype dt)
{
	switch (dt) {
	case DT_F32: return ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	case DT_F64: return ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
	case DT_F16: return ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
	case DT_BF16: return ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16;
	case DT_I64: return ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
	case DT_I32: return ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
	case DT_I16: return ONNX__TENSOR_PROTO__DATA_TYPE__INT16;
	case DT_I8: return ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
	case DT_U8: return ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
	case DT_BOOL: return ONNX__TENSOR_PROTO__DATA_TYPE__BOOL;
	default: return 0;
	}
}

const char *ox_unique(struct ox *o, const char *want)
{
	const char *s = want;
	for (int k = 1; ns_has(&o->names, s); k++)
		s = arena_printf(o->a, "%s_%d", want, k);
	s = s == want ? arena_strdup(o->a, want) : s;
	ns_add(o->a, &o->names, s);
	return s;
}

int ox_reserve(struct ox *o, const char *name)
{
	if (ns_has(&o->names, name))
		return 0;
	ns_add(o->a, &o->names, arena_strdup(o->a, name));
	return 1;
}

Onnx__ValueInfoProto *ox_value_info(struct ox *o, const char *name, enum dtype dt,
                                    const struct ir_shape *s)
{
	Onnx__ValueInfoProto *vi = arena_alloc(o->a, sizeof *vi);
	Onnx__TypeProto *tp = arena_alloc(o->a, sizeof *tp);
	Onnx__TypeProto__Tensor *tt = arena_alloc(o->a, sizeof *tt);
	*vi = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
	*tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
	*tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
	vi->name = (char *)name;
	vi->type = tp;
	tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp->tensor_type = tt;
	tt->has_elem_type = 1;
	tt->elem_type = ox_dtype(dt);
	if (!s || s->rank < 0)
		return vi;
	Onnx__TensorShapeProto *sh = arena_alloc(o->a, sizeof *sh);
	*sh = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
	sh->n_dim = (size_t)s->rank;
	sh->dim = arena_alloc(o->a, sizeof *sh->dim * (size_t)(s->rank + 1));
	for (int k = 0; k < s->rank; k++) {
		Onnx__TensorShapeProto__Dimension *d = arena_alloc(o->a, sizeof *d);
		*d = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
		if (s->dims[k] >= 0) {
			d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
			d->dim_value = s->dims[k];
		} else if (s->sym[k]) {
			d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
			d->dim_param = (char *)s->sym[k];
		}
		sh->dim[k] = d;
	}
	tt->shape = sh;
	return vi;
}

/* Make IR value v's tensor constant an initializer. */
static const char *const_tensor(struct ox *o, uint32_t v, const struct ir_const *c)
{
	struct ir_value *x = ir_val(o->m, v);
	const char *hint = c->name ? c->name : arena_printf(o->a, "const_%u", v);
	return ox_initializer(o, hint, x->dtype, &x->shape, c->data);
}

enum dtype ox_vdtype(struct ox *o, uint32_t v)
{
	struct ir_value *x = ir_val(o->m, v);
	switch (x->kind) {
	case VK_TENSOR: return x->dtype;
	case VK_INT: return DT_I64;
	case VK_FLOAT: return DT_F64;
	case VK_BOOL: return DT_BOOL;
	default: return DT_UNKNOWN;
	}
}

const struct ir_shape *ox_vshape(struct ox *o, uint32_t v)
{
	static const struct ir_shape scalar = {.rank = 0};
	struct ir_value *x = ir_val(o->m, v);
	if (x->kind == VK_TENSOR)
		return &x->shape;
	return ox_vdtype(o, v) != DT_UNKNOWN ? &scalar : NULL;
}

const char *ox_val(struct ox *o, uint32_t v)
{
	if (o->vname[v])
		return o->vname[v];
	const struct ir_const *c = ir_const_of(o->m, v);
	struct ir_value *x = ir_val(o->m, v);
	if (c && c->kind == CK_TENSOR && x->kind == VK_TENSOR && c->data && shape_numel(&x->shape) >= 0)
		return o->vname[v] = const_tensor(o, v, c);
	if (c && x->kind == VK_INT && (c->kind == CK_INT || c->kind == CK_BOOL))
		return o->vname[v] = ox_i64(o, c->i);
	if (c && x->kind == VK_BOOL && (c->kind == CK_BOOL || c->kind == CK_INT))
		return o->vname[v] = ox_scalar(o, DT_BOOL, c->i != 0);
	if (c && x->kind == VK_FLOAT && (c->kind == CK_FLOAT || c->kind == CK_INT))
		return o->vname[v] = ox_scalar(o, DT_F64, c->kind == CK_FLOAT ? c->f : (double)c->i);
	/* prim::Uninitialized: a typed value no path reads (a loop exited by break, a branch
	 * that raises); ONNX still needs one, and zeros are as good as any */
	if (c && c->kind == CK_NONE && ox_vdtype(o, v) != DT_UNKNOWN &&
	    shape_numel(ox_vshape(o, v)) >= 0)
		return o->vname[v] = ox_filled(o, ox_vdtype(o, v), ox_vshape(o, v), 0.0);
	if (c) {
		struct loc loc = o->cur != IR_NONE ? ir_node(o->m, o->cur)->loc : x->loc;
		diag_error_soft(o->ctx, loc, "constant %%%u is not a tensor with data and a static "
		                "shape, nor a number; ONNX has no initializer for it", v);
	}
	return ox_out(o, v);
}

const char *ox_out(struct ox *o, uint32_t v)
{
	if (!o->vname[v])
		o->vname[v] = ox_unique(o, arena_printf(o->a, "t%u", v));
	enum dtype dt = ox_vdtype(o, v);
	if (!o->vinfo_done[v] && dt != DT_UNKNOWN) {
		o->vinfo_done[v] = 1;
		VEC_PUSH(o->a, &o->vinfo, Onnx__ValueInfoProto *,
		         ox_value_info(o, o->vname[v], dt, ox_vshape(o, v)));
	}
	return o->vname[v];
}

const char *ox_tmp(struct ox *o, enum dtype dt, const struct ir_shape *s)
{
	struct ir_node *n = o->cur != IR_NONE ? ir_node(o->m, o->cur) : NULL;
	uint32_t base = n && n->nout ? n->out[0] : 0;
	const char *name = ox_unique(o, arena_printf(o->a, "t%u_%d", base, ++o->ntmp));
	if (dt != DT_UNKNOWN && s)
		VEC_PUSH(o->a, &o->vinfo, Onnx__ValueInfoProto *, ox_value_info(o, name, dt, s));
	return name;
}

static char **names(struct ox *o, const char *const *v, int k)
{
	char **p = arena_alloc(o->a, sizeof *p * (size_t)(k + 1));
	for (int i = 0; i < k; i++)
		p[i] = (char *)v[i];
	return p;
}

Onnx__NodeProto *ox_node(struct ox *o, const char *op_type, const char *const *in, int nin,
                         const char *const *out, int nout)
{
	Onnx__NodeProto *n = arena_alloc(o->a, sizeof *n);
	*n = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
	n->op_type = (char *)op_type;
	n->n_input = (size_t)nin;
	n->input = names(o, in, nin);
	n->n_output = (size_t)nout;
	n->output = names(o, out, nout);
	struct ir_node *irn = o->cur != IR_NONE ? ir_node(o->m, o->cur) : NULL;
	o->nnodes++;
	if (irn && irn->scope && *irn->scope)
		n->name = arena_printf(o->a, "%s/%s_%d", irn->scope, op_type, o->nnodes);
	else
		n->name = arena_printf(o->a, "%s_%d", op_type, o->nnodes);
	if (irn && irn->loc.file)
		n->doc_string = loc_str(o->a, irn->loc);
	VEC_PUSH(o->a, &o->nodes, Onnx__NodeProto *, n);
	return n;
}

const char *ox_op1(struct ox *o, const char *op_type, const char *x, const char *y)
{
	ox_node(o, op_type, &x, 1, &y, 1);
	return y;
}

const char *ox_op2(struct ox *o, const char *op_type, const char *a, const char *b, const char *y)
{
	const char *in[2] = {a, b};
	ox_node(o, op_type, in, 2, &y, 1);
	return y;
}

static Onnx__AttributeProto *attr(struct ox *o, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
	Onnx__AttributeProto *at = arena_alloc(o->a, sizeof *at);
	*at = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
	at->name = (char *)name;
	at->has_type = 1;
	at->type = type;
	Onnx__AttributeProto **v = arena_alloc(o->a, sizeof *v * (n->n_attribute + 1));
	if (n->n_attribute)
		memcpy(v, n->attribute, sizeof *v * n->n_attribute);
	v[n->n_attribute++] = at;
	n->attribute = v;
	return at;
}

void ox_attr_int(struct ox *o, Onnx__NodeProto *n, const char *name, int64_t v)
{
	Onnx__AttributeProto *at = attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
	at->has_i = 1;
	at->i = v;
}

void ox_attr_float(struct ox *o, Onnx__NodeProto *n, const char *name, float v)
{
	Onnx__AttributeProto *at = attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
	at->has_f = 1;
	at->f = v;
}

void ox_attr_str(struct ox *o, Onnx__NodeProto *n, const char *name, const char *v)
{
	Onnx__AttributeProto *at = attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
	at->has_s = 1;
	at->s.len = strlen(v);
	at->s.data = (uint8_t *)v;
}

void ox_attr_graph(struct ox *o, Onnx__NodeProto *n, const char *name, Onnx__GraphProto *g)
{
	Onnx__AttributeProto *at = attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
	at->g = g;
}

void ox_attr_ints(struct ox *o, Onnx__NodeProto *n, const char *name, const int64_t *v, int k)
{
	Onnx__AttributeProto *at = attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
	at->n_ints = (size_t)k;
	at->ints = arena_alloc(o->a, sizeof *at->ints * (size_t)(k + 1));
	memcpy(at->ints, v, sizeof *v * (size_t)k);
}

const char *ox_initializer(struct ox *o, const char *hint, enum dtype dt,
                           const struct ir_shape *s, const void *data)
{
	Onnx__TensorProto *t = arena_alloc(o->a, sizeof *t);
	*t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
	t->name = (char *)ox_unique(o, hint);
	t->has_data_type = 1;
	t->data_type = ox_dtype(dt);
	t->n_dims = (size_t)s->rank;
	t->dims = arena_alloc(o->a, sizeof *t->dims * (size_t)(s->rank + 1));
	memcpy(t->dims, s->dims, sizeof *t->dims * (size_t)s->rank);
	/* raw_data is little-endian, as kiln keeps tensor data (ir.h) */
	t->has_raw_data = 1;
	t->raw_data.len = (size_t)shape_numel(s) * dtype_size(dt);
	t->raw_data.data = (uint8_t *)data;
	VEC_PUSH(o->a, &o->inits, Onnx__TensorProto *, t);
	return t->name;
}

const char *ox_ints(struct ox *o, const int64_t *v, int k)
{
	struct ir_shape s = {.rank = 1, .dims = {k}};
	int64_t *d = arena_alloc(o->a, sizeof *d * (size_t)(k + 1));
	memcpy(d, v, sizeof *d * (size_t)k);
	const char *hint = o->cur != IR_NONE && ir_node(o->m, o->cur)->nout
	                       ? arena_printf(o->a, "t%u_c", ir_node(o->m, o->cur)->out[0])
	                       : "ints";
	return ox_initializer(o, hint, DT_I64, &s, d);
}

/* IEEE half from float, round to nearest even. */
static uint16_t to_f16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000, mant = x & 0x7fffff;
	int e = (int)((x >> 23) & 0xff) - 127 + 15;
	if (((x >> 23) & 0xff) == 0xff)
		return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
	if (e >= 31)
		return (uint16_t)(sign | 0x7c00);
	if (e <= 0) {
		if (e < -10)
			return (uint16_t)sign;
		mant |= 0x800000;
		int shift = 14 - e;
		uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
		h += rem > half || (rem == half && (h & 1));
		return (uint16_t)(sign | h);
	}
	uint32_t h = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fff;
	h += rem > 0x1000 || (rem == 0x1000 && (h & 1));
	return (uint16_t)(sign | h);
}

/* v as one element of dt, into buf (at least 8 bytes). */
static void put_scalar(enum dtype dt, double v, void *buf)
{
	float f = (float)v;
	uint32_t u;
	switch (dt) {
	case DT_F32: memcpy(buf, &f, 4); break;
	case DT_F64: memcpy(buf, &v, 8); break;
	case DT_F16: { uint16_t h = to_f16(f); memcpy(buf, &h, 2); break; }
	case DT_BF16:
		memcpy(&u, &f, 4);
		u = isnan(f) ? 0x7fc00000u : u + 0x7fff + ((u >> 16) & 1);
		u >>= 16;
		memcpy(buf, &u, 2);
		break;
	case DT_I64: { int64_t i = (int64_t)v; memcpy(buf, &i, 8); break; }
	case DT_I32: { int32_t i = (int32_t)v; memcpy(buf, &i, 4); break; }
	case DT_I16: { int16_t i = (int16_t)v; memcpy(buf, &i, 2); break; }
	case DT_I8: { int8_t i = (int8_t)v; memcpy(buf, &i, 1); break; }
	case DT_U8: { uint8_t i = (uint8_t)v; memcpy(buf, &i, 1); break; }
	case DT_BOOL: { uint8_t i = v != 0; memcpy(buf, &i, 1); break; }
	default: unreachable();
	}
}

const char *ox_filled(struct ox *o, enum dtype dt, const struct ir_shape *s, double v)
{
	int64_t n = shape_numel(s);
	size_t es = dtype_size(dt);
	unsigned char *data = arena_alloc(o->a, (size_t)n * es + 8);
	for (int64_t i = 0; i < n; i++)
		put_scalar(dt, v, data + (size_t)i * es);
	const char *hint = o->cur != IR_NONE && ir_node(o->m, o->cur)->nout
	                       ? arena_printf(o->a, "t%u_fill", ir_node(o->m, o->cur)->out[0])
	                       : "fill";
	return ox_initializer(o, hint, dt, s, data);
}

const char *ox_scalar(struct ox *o, enum dtype dt, double v)
{
	for (size_t i = 0; i < o->scalars.len; i++) {
		struct ox_scalar *s = &VEC_AT(&o->scalars, struct ox_scalar, i);
		if (s->dt == dt && memcmp(&s->v, &v, sizeof v) == 0)
			return s->name;
	}
	struct ir_shape s0 = {.rank = 0};
	void *buf = arena_alloc(o->a, 8);
	put_scalar(dt, v, buf);
	const char *name = ox_initializer(o, arena_printf(o->a, "c_%s_%.9g", dtype_name(dt), v), dt,
	                                  &s0, buf);
	VEC_PUSH(o->a, &o->scalars, struct ox_scalar, ((struct ox_scalar){dt, v, name}));
	return name;
}

const char *ox_i64(struct ox *o, int64_t v)
{
	for (size_t i = 0; i < o->ints.len; i++) {
		struct ox_scalar *s = &VEC_AT(&o->ints, struct ox_scalar, i);
		if (memcmp(&s->v, &v, sizeof v) == 0)
			return s->name;
	}
	struct ir_shape s0 = {.rank = 0};
	int64_t *buf = arena_alloc(o->a, sizeof *buf);
	*buf = v;
	const char *name = ox_initializer(o, arena_printf(o->a, "c_i64_%lld", (long long)v), DT_I64,
	                                  &s0, buf);
	struct ox_scalar e = {DT_I64, 0, name};
	memcpy(&e.v, &v, sizeof v);
	VEC_PUSH(o->a, &o->ints, struct ox_scalar, e);
	return name;
}

/* Whether n has effects: it is of a custom domain (a Raise) or has one in a subgraph. */
static int has_effects(const Onnx__NodeProto *n)
{
	if (n->domain && *n->domain)
		return 1;
	for (size_t k = 0; k < n->n_attribute; k++) {
		const Onnx__GraphProto *g = n->attribute[k]->g;
		for (size_t i = 0; g && i < g->n_node; i++)
			if (has_effects(g->node[i]))
				return 1;
	}
	return 0;
}

/* Prune g (and, below its kept nodes, their subgraphs): used holds the names read by what
 * follows; made collects the names kept nodes write. */
static void prune_graph(struct ox *o, Onnx__GraphProto *g, struct nameset *used,
                        struct nameset *made)
{
	for (size_t i = 0; i < g->n_output; i++)
		ns_add(o->a, used, g->output[i]->name);
	size_t keep = g->n_node;
	for (size_t i = g->n_node; i-- > 0;) {
		Onnx__NodeProto *n = g->node[i];
		int live = has_effects(n);
		for (size_t k = 0; k < n->n_output && !live; k++)
			live = *n->output[k] && ns_has(used, n->output[k]);
		if (!live)
			continue;
		g->node[--keep] = n;
		for (size_t k = 0; k < n->n_output; k++)
			if (*n->output[k])
				ns_add(o->a, made, n->output[k]);
		for (size_t k = 0; k < n->n_input; k++)
			if (*n->input[k])
				ns_add(o->a, used, n->input[k]);
		for (size_t k = 0; k < n->n_attribute; k++)
			if (n->attribute[k]->g)
				prune_graph(o, n->attribute[k]->g, used, made);
	}
	memmove(g->node, g->node + keep, sizeof *g->node * (g->n_node - keep));
	g->n_node -= keep;
	size_t nv = 0;
	for (size_t i = 0; i < g->n_value_info; i++)
		if (ns_has(made, g->value_info[i]->name))
			g->value_info[nv++] = g->value_info[i];
	g->n_value_info = nv;
}

void ox_prune(struct ox *o, Onnx__GraphProto *g)
{
	struct nameset used = {0}, made = {0};
	prune_graph(o, g, &used, &made);
	size_t ni = 0;
	for (size_t i = 0; i < g->n_initializer; i++)
		if (ns_has(&used, g->initializer[i]->name))
			g->initializer[ni++] = g->initializer[i];
	g->n_initializer = ni;
}

/* The IR version ONNX defines alongside each opset (onnx/helper.py VERSION_TABLE). */
static int64_t ir_version(int opset)
{
	return opset <= 11 ? 6 : opset <= 14 ? 7 : 8;
}

static Onnx__StringStringEntryProto *entry(struct ox *o, const char *k, const char *v)
{
	Onnx__StringStringEntryProto *e = arena_alloc(o->a, sizeof *e);
	*e = (Onnx__StringStringEntryProto)ONNX__STRING_STRING_ENTRY_PROTO__INIT;
	e->key = (char *)k;
	e->value = (char *)v;
	return e;
}

void ox_write(struct ox *o, const char *path, Onnx__GraphProto *g, const char *doc,
              const char *schema_json)
{
	Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
	Onnx__OperatorSetIdProto ops = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	Onnx__OperatorSetIdProto custom = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	Onnx__OperatorSetIdProto *opsp[2] = {&ops, &custom};
	Onnx__StringStringEntryProto *meta[2] = {entry(o, "kiln.schema", schema_json),
	                                         entry(o, "kiln.version", KILN_VERSION)};
	ops.domain = "";
	ops.has_version = 1;
	ops.version = o->opset;
	mp.has_ir_version = 1;
	mp.ir_version = ir_version(o->opset);
	custom.domain = (char *)o->custom_domain;
	custom.has_version = 1;
	custom.version = 1;
	mp.n_opset_import = o->ncustom ? 2 : 1;
	mp.opset_import = opsp;
	mp.producer_name = "kiln";
	mp.producer_version = KILN_VERSION;
	mp.doc_string = (char *)doc;
	mp.graph = g;
	mp.n_metadata_props = 2;
	mp.metadata_props = meta;
	size_t len = onnx__model_proto__get_packed_size(&mp);
	if (len > ONNX_IR_MAX)
		diag_error(o->ctx, (struct loc){.file = o->m->source},
		           "the ONNX model would take %zu bytes, more than protobuf's 2 GB limit "
		           "(external weight files are not supported yet)", len);
	uint8_t *buf = arena_alloc(o->a, len + 1);
	onnx__model_proto__pack(&mp, buf);
	FILE *f = fopen(path, "wb");
	if (!f)
		fatal("cannot write %s:", path);
	if (fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		fatal("cannot write %s:", path);
}
