/* c2_net.c: the building blocks of a Caffe2 net pair: unique blob names, operators,
 * arguments, init-net fills, packing (see c2_net.h).
 *
 * Messages are zeroed arena memory initialised with protobuf-c's *_INIT values; repeated
 * fields are arena arrays. Weights become one GivenTensor*Fill op each in the init net,
 * with `shape` and `values` arguments, as detectron2's construct_init_net_from_params
 * writes them. Output is deterministic: everything is appended in IR order.
 */
#include <string.h>

#include "backend/caffe2/c2_net.h"

#define C2_MAX_MESSAGE ((size_t)0x7fffffff)   /* protobuf's 2 GB message limit */

/* FNV-1a */
static size_t hash(const char *s)
{
	size_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static const char **ns_find(struct c2_names *ns, const char *s)
{
	size_t i = hash(s) & (ns->cap - 1);
	while (ns->slot[i] && strcmp(ns->slot[i], s) != 0)
		i = (i + 1) & (ns->cap - 1);
	return &ns->slot[i];
}

static void ns_add(struct arena *a, struct c2_names *ns, const char *s)
{
	if (2 * (ns->len + 1) > ns->cap) {
		size_t cap = ns->cap ? 2 * ns->cap : 256;
		struct c2_names big = {arena_alloc(a, sizeof *big.slot * cap), cap, 0};
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

static int ns_has(struct c2_names *ns, const char *s)
{
	return ns->cap && *ns_find(ns, s) != NULL;
}

void c2_init(struct c2 *c, struct kiln_ctx *ctx, struct ir_module *m)
{
	memset(c, 0, sizeof *c);
	c->ctx = ctx;
	c->m = m;
	c->a = &ctx->arena;
	c->cur = IR_NONE;
	c->vname = arena_alloc(c->a, sizeof *c->vname * (m->values.len + 1));
}

const char *c2_unique(struct c2 *c, const char *want)
{
	const char *s = want;
	for (int k = 1; ns_has(&c->names, s); k++)
		s = arena_printf(c->a, "%s_%d", want, k);
	s = s == want ? arena_strdup(c->a, want) : s;
	ns_add(c->a, &c->names, s);
	return s;
}

int c2_reserve(struct c2 *c, const char *name)
{
	if (ns_has(&c->names, name))
		return 0;
	ns_add(c->a, &c->names, arena_strdup(c->a, name));
	return 1;
}

static struct loc cur_loc(struct c2 *c, uint32_t v)
{
	return c->cur != IR_NONE ? ir_node(c->m, c->cur)->loc : ir_val(c->m, v)->loc;
}

const char *c2_val(struct c2 *c, uint32_t v)
{
	if (c->vname[v])
		return c->vname[v];
	const struct ir_const *k = ir_const_of(c->m, v);
	struct ir_value *x = ir_val(c->m, v);
	if (k && k->kind == CK_TENSOR && x->kind == VK_TENSOR && k->data &&
	    shape_numel(&x->shape) >= 0) {
		const char *hint = k->name ? k->name : arena_printf(c->a, "const_%u", v);
		const char *name = c2_param(c, hint, x->dtype, &x->shape, k->data);
		return c->vname[v] = name ? name : "?";
	}
	if (k)
		diag_error_soft(c->ctx, cur_loc(c, v), "constant %%%u is not a tensor with data and a "
		                "static shape; a Caffe2 init net cannot make it", v);
	return c2_out(c, v);
}

const char *c2_out(struct c2 *c, uint32_t v)
{
	if (!c->vname[v])
		c->vname[v] = c2_unique(c, arena_printf(c->a, "t%u", v));
	return c->vname[v];
}

const char *c2_tmp(struct c2 *c)
{
	struct ir_node *n = c->cur != IR_NONE ? ir_node(c->m, c->cur) : NULL;
	uint32_t base = n && n->nout ? n->out[0] : 0;
	return c2_unique(c, arena_printf(c->a, "t%u_%d", base, ++c->ntmp));
}

static char **names(struct c2 *c, const char *const *v, int k)
{
	char **p = arena_alloc(c->a, sizeof *p * (size_t)(k + 1));
	for (int i = 0; i < k; i++)
		p[i] = (char *)v[i];
	return p;
}

static Caffe2__OperatorDef *new_op(struct c2 *c, const char *type, const char *const *in,
                                   int nin, const char *const *out, int nout)
{
	Caffe2__OperatorDef *op = arena_alloc(c->a, sizeof *op);
	*op = (Caffe2__OperatorDef)CAFFE2__OPERATOR_DEF__INIT;
	op->type = (char *)type;
	op->n_input = (size_t)nin;
	op->input = names(c, in, nin);
	op->n_output = (size_t)nout;
	op->output = names(c, out, nout);
	return op;
}

Caffe2__OperatorDef *c2_op(struct c2 *c, const char *type, const char *const *in, int nin,
                           const char *const *out, int nout)
{
	Caffe2__OperatorDef *op = new_op(c, type, in, nin, out, nout);
	struct ir_node *n = c->cur != IR_NONE ? ir_node(c->m, c->cur) : NULL;
	c->nops++;
	if (n && n->scope && *n->scope)
		op->name = arena_printf(c->a, "%s/%s_%d", n->scope, type, c->nops);
	else
		op->name = arena_printf(c->a, "%s_%d", type, c->nops);
	if (n && n->loc.file)
		op->debug_info = loc_str(c->a, n->loc);
	VEC_PUSH(c->a, &c->ops, Caffe2__OperatorDef *, op);
	return op;
}

const char *c2_op1(struct c2 *c, const char *type, const char *x, const char *y)
{
	c2_op(c, type, &x, 1, &y, 1);
	return y;
}

const char *c2_op2(struct c2 *c, const char *type, const char *a, const char *b, const char *y)
{
	const char *in[2] = {a, b};
	c2_op(c, type, in, 2, &y, 1);
	return y;
}

static Caffe2__Argument *arg(struct c2 *c, Caffe2__OperatorDef *op, const char *name)
{
	Caffe2__Argument *at = arena_alloc(c->a, sizeof *at);
	*at = (Caffe2__Argument)CAFFE2__ARGUMENT__INIT;
	at->name = (char *)name;
	Caffe2__Argument **v = arena_alloc(c->a, sizeof *v * (op->n_arg + 1));
	if (op->n_arg)
		memcpy(v, op->arg, sizeof *v * op->n_arg);
	v[op->n_arg++] = at;
	op->arg = v;
	return at;
}

void c2_arg_int(struct c2 *c, Caffe2__OperatorDef *op, const char *name, int64_t v)
{
	Caffe2__Argument *at = arg(c, op, name);
	at->has_i = 1;
	at->i = v;
}

void c2_arg_float(struct c2 *c, Caffe2__OperatorDef *op, const char *name, float v)
{
	Caffe2__Argument *at = arg(c, op, name);
	at->has_f = 1;
	at->f = v;
}

void c2_arg_str(struct c2 *c, Caffe2__OperatorDef *op, const char *name, const char *v)
{
	Caffe2__Argument *at = arg(c, op, name);
	at->has_s = 1;
	at->s.data = (uint8_t *)v;
	at->s.len = strlen(v);
}

void c2_arg_ints(struct c2 *c, Caffe2__OperatorDef *op, const char *name, const int64_t *v,
                 int k)
{
	Caffe2__Argument *at = arg(c, op, name);
	at->n_ints = (size_t)k;
	at->ints = arena_alloc(c->a, sizeof *at->ints * (size_t)(k + 1));
	if (k)
		memcpy(at->ints, v, sizeof *v * (size_t)k);
}

/* The values argument of a fill: floats for f32/f64, ints for the integer types. */
static void fill_values(struct c2 *c, Caffe2__OperatorDef *op, enum dtype dt, int64_t n,
                        const void *data)
{
	Caffe2__Argument *at = arg(c, op, "values");
	const unsigned char *p = data;
	if (dt == DT_F32 || dt == DT_F64) {
		at->n_floats = (size_t)n;
		at->floats = arena_alloc(c->a, sizeof *at->floats * (size_t)(n + 1));
		for (int64_t i = 0; i < n; i++) {
			double d;
			float f;
			if (dt == DT_F64) {
				memcpy(&d, p + 8 * i, 8);
				f = (float)d;
			} else {
				memcpy(&f, p + 4 * i, 4);
			}
			at->floats[i] = f;
		}
		return;
	}
	at->n_ints = (size_t)n;
	at->ints = arena_alloc(c->a, sizeof *at->ints * (size_t)(n + 1));
	for (int64_t i = 0; i < n; i++) {
		if (dt == DT_I64) {
			memcpy(&at->ints[i], p + 8 * i, 8);
		} else if (dt == DT_I32) {
			int32_t v;
			memcpy(&v, p + 4 * i, 4);
			at->ints[i] = v;
		} else {
			at->ints[i] = p[i] != 0;   /* DT_BOOL */
		}
	}
}

/* Caffe2's fill op for a dtype, NULL if it has none kiln writes. */
static const char *fill_type(enum dtype dt)
{
	switch (dt) {
	case DT_F32: return "GivenTensorFill";
	case DT_F64: return "GivenTensorDoubleFill";
	case DT_I32: return "GivenTensorIntFill";
	case DT_I64: return "GivenTensorInt64Fill";
	case DT_BOOL: return "GivenTensorBoolFill";
	default: return NULL;
	}
}

const char *c2_param(struct c2 *c, const char *hint, enum dtype dt, const struct ir_shape *s,
                     const void *data)
{
	const char *type = fill_type(dt);
	if (!type) {
		diag_error_soft(c->ctx, c->cur != IR_NONE ? ir_node(c->m, c->cur)->loc
		                                          : (struct loc){.file = c->m->source},
		                "constant '%s' is %s; Caffe2 has no fill op kiln writes for it", hint,
		                dtype_name(dt));
		return NULL;
	}
	const char *name = c2_unique(c, hint);
	Caffe2__OperatorDef *op = new_op(c, type, NULL, 0, &name, 1);
	c2_arg_ints(c, op, "shape", s->dims, s->rank);
	fill_values(c, op, dt, shape_numel(s), data);
	VEC_PUSH(c->a, &c->fills, Caffe2__OperatorDef *, op);
	VEC_PUSH(c->a, &c->params, const char *, name);
	return name;
}

const char *c2_int64s(struct c2 *c, const int64_t *v, int k)
{
	struct ir_shape s = {.rank = 1, .dims = {k}};
	struct ir_node *n = c->cur != IR_NONE ? ir_node(c->m, c->cur) : NULL;
	const char *hint = n && n->nout ? arena_printf(c->a, "t%u_shape", n->out[0]) : "shape";
	return c2_param(c, hint, DT_I64, &s, v);
}

const char *c2_zeros(struct c2 *c, enum dtype dt, const struct ir_shape *s)
{
	size_t bytes = (size_t)shape_numel(s) * dtype_size(dt);
	struct ir_node *n = c->cur != IR_NONE ? ir_node(c->m, c->cur) : NULL;
	const char *hint = n && n->nout ? arena_printf(c->a, "t%u_zeros", n->out[0]) : "zeros";
	return c2_param(c, hint, dt, s, arena_alloc(c->a, bytes + 8));
}

void c2_write_net(struct c2 *c, const Caffe2__NetDef *net, const char *path)
{
	size_t len = caffe2__net_def__get_packed_size(net);
	if (len > C2_MAX_MESSAGE)
		diag_error(c->ctx, (struct loc){.file = c->m->source},
		           "%s would take %zu bytes, more than protobuf's 2 GB limit", path, len);
	uint8_t *buf = arena_alloc(c->a, len + 1);
	caffe2__net_def__pack(net, buf);
	FILE *f = fopen(path, "wb");
	if (!f)
		fatal("cannot write %s:", path);
	if (fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		fatal("cannot write %s:", path);
}
