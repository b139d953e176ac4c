/* canonicalize.c: ATEN nodes → canonical typed ops.
 *
 * Each TorchScript operator has a handler (table `canon[]`, indexed by enum aten_id)
 * that reads its non-tensor arguments as constants and rewrites the node into one
 * op of ops.def with typed attributes (or a few, for chunk/split/stack/select):
 * `_convolution` and `conv2d` → CONV2D, eval-mode `batch_norm` → BATCHNORM,
 * `dropout` → IDENTITY, `addmm` → GEMM, `view`/`flatten`/`squeeze` → RESHAPE, ...
 * A handler returns 0 when an argument is not constant yet or an input shape is still
 * unknown: the pipeline runs fold, canonicalize and shapes until nothing changes, and
 * check_canonical then reports every ATEN node left, each with its location.
 * Linear per call. */
#include <math.h>
#include <string.h>

#include "passes.h"
#include "frontend/aten.h"

struct canon {
	struct ir_module *m;
	struct ir_block *b;
	size_t i;          /* position of the node being rewritten */
	int changes;
};

typedef int canon_fn(struct canon *c, uint32_t id);

/* ---- reading arguments ---- */

static struct ir_node *N(struct canon *c, uint32_t id) { return ir_node(c->m, id); }
static struct ir_value *V(struct canon *c, uint32_t v) { return ir_val(c->m, v); }

static int rank_of(struct canon *c, uint32_t v)
{
	return v == IR_NONE || V(c, v)->kind != VK_TENSOR ? -1 : V(c, v)->shape.rank;
}

static int static_shape(struct canon *c, uint32_t v)
{
	return rank_of(c, v) >= 0 && shape_numel(&V(c, v)->shape) >= 0;
}

static const char *opname(struct canon *c, uint32_t id)
{
	return arena_printf(&c->m->ctx->arena, "aten::%s", N(c, id)->a.aten.name);
}

/* Normalize a possibly negative dim against rank; error if out of range. */
static int norm_dim(struct canon *c, uint32_t id, int64_t d, int rank)
{
	if (d < -rank || d >= rank)
		diag_error(c->m->ctx, N(c, id)->loc, "%s: dimension %lld is out of range for a %d-D tensor",
		           opname(c, id), (long long)d, rank);
	return (int)(d < 0 ? d + rank : d);
}

/* Two ints from an int list of 1 or 2 elements (PyTorch's _pair). */
static int pair(struct canon *c, uint32_t id, int k, int out[2])
{
	const int64_t *v;
	int n;
	if (!ir_get_ints(c->m, N(c, id)->in[k], &v, &n))
		return 0;
	if (n != 1 && n != 2)
		diag_error(c->m->ctx, N(c, id)->loc, "%s: argument %d has %d values, expected 2",
		           opname(c, id), k + 1, n);
	out[0] = (int)v[0];
	out[1] = (int)v[n - 1];
	return 1;
}

/* ---- rewriting ---- */

/* Turn node id into `op` with the given inputs; attributes cleared. */
static struct ir_node *retarget(struct canon *c, uint32_t id, enum op op, const uint32_t *in, int nin)
{
	struct ir_node *n = N(c, id);
	uint32_t *copy = arena_alloc(&c->m->ctx->arena, sizeof *copy * (size_t)(nin + 1));
	memcpy(copy, in, sizeof *copy * (size_t)nin);
	n->op = op;
	n->in = copy;
	n->nin = nin;
	memset(&n->a, 0, sizeof n->a);
	if (op_info[op].nout >= 0)
		n->nout = op_info[op].nout;
	V(c, n->out[0])->kind = VK_TENSOR;
	c->changes++;
	return N(c, id);
}

/* A new node of `op` at the current position; returns its output. */
static uint32_t emit(struct canon *c, enum op op, const uint32_t *in, int nin, struct loc loc)
{
	uint32_t id = ir_insert_node(c->m, c->b, c->i++, op, in, nin, 1);
	N(c, id)->loc = loc;
	uint32_t v = N(c, id)->out[0];
	V(c, v)->kind = VK_TENSOR;
	return v;
}

/* Replace the node's (list) output by a LIST of items and kill the node. */
static void become_list(struct canon *c, uint32_t id, const uint32_t *items, int n)
{
	struct loc loc = N(c, id)->loc;
	uint32_t l = ir_insert_node(c->m, c->b, c->i++, OP_LIST, items, n, 1);
	N(c, l)->loc = loc;
	uint32_t lv = N(c, l)->out[0];
	V(c, lv)->kind = VK_LIST;
	ir_replace_uses(c->m, N(c, id)->out[0], lv);
	N(c, id)->dead = 1;
	c->changes++;
}

/* The value as a tensor: scalars become 0-dim constants of dtype dt; 0-dim constant
 * tensors are converted to dt (PyTorch: 0-dim operands do not promote a tensor). */
static uint32_t as_tensor(struct canon *c, uint32_t v, enum dtype dt, struct loc loc)
{
	struct ir_module *m = c->m;
	const struct ir_const *k = ir_const_of(m, v);
	double x;
	int have = 0;
	if (V(c, v)->kind != VK_TENSOR) {
		if (!ir_get_float(m, v, &x)) {
			enum vkind vk = V(c, v)->kind;
			if (vk != VK_INT && vk != VK_FLOAT && vk != VK_BOOL)
				return IR_NONE;
			uint32_t t = emit(c, OP_FROM_SCALAR, &v, 1, loc); /* known at run time */
			V(c, t)->dtype = dt;
			V(c, t)->shape.rank = 0;
			return t;
		}
		have = 1;
	} else if (k && k->kind == CK_TENSOR && V(c, v)->shape.rank == 0 && V(c, v)->dtype != dt) {
		enum dtype src = V(c, v)->dtype;
		if (src == DT_F64) x = *(const double *)k->data;
		else if (src == DT_F32) x = *(const float *)k->data;
		else if (src == DT_I64) x = (double)*(const int64_t *)k->data;
		else if (src == DT_I32) x = *(const int32_t *)k->data;
		else if (src == DT_BOOL || src == DT_U8) x = *(const uint8_t *)k->data;
		else return v;
		have = 1;
	}
	if (!have)
		return v;
	struct ir_shape s = {.rank = 0};
	void *data = arena_alloc(&m->ctx->arena, 8);
	switch (dt) {
	case DT_F32: *(float *)data = (float)x; break;
	case DT_F64: *(double *)data = x; break;
	case DT_I64: *(int64_t *)data = (int64_t)x; break;
	case DT_I32: *(int32_t *)data = (int32_t)x; break;
	default: return IR_NONE;
	}
	uint32_t t = ir_const_tensor(m, c->b, dt, &s, data, NULL);
	ir_place(m, c->b, c->i++, t);
	ir_node(m, V(c, t)->def)->loc = loc;
	return t;
}

/* ---- handlers ---- */

static int c_conv(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	int is_conv = n->a.aten.schema == ATEN_CONVOLUTION;
	uint32_t x = n->in[0], w = n->in[1], b = n->in[2];
	int64_t groups, transposed = 0;
	int stride[2], pad[2] = {0, 0}, dil[2];
	if (!ir_get_int(c->m, n->in[is_conv ? 8 : 6], &groups) ||
	    (is_conv && !ir_get_int(c->m, n->in[6], &transposed)))
		return 0;
	if (!pair(c, id, 3, stride) || !pair(c, id, 5, dil) || rank_of(c, w) < 0)
		return 0;
	const struct ir_const *pk = ir_const_of(c->m, n->in[4]);
	if (pk && pk->kind == CK_STR) {
		int same = strcmp(pk->s, "same") == 0;
		if (!same && strcmp(pk->s, "valid") != 0)
			diag_error(c->m->ctx, n->loc, "conv2d: unknown padding mode '%s'", pk->s);
		for (int k = 0; k < 2 && same; k++) {
			int64_t total = dil[k] * (V(c, w)->shape.dims[2 + k] - 1);
			if (total % 2)
				diag_error(c->m->ctx, n->loc, "conv2d: padding='same' needs asymmetric "
				           "padding here, which kiln does not support");
			pad[k] = (int)(total / 2);
		}
	} else if (!pair(c, id, 4, pad)) {
		return 0;
	}
	if (transposed)
		diag_error(c->m->ctx, n->loc, "unsupported operator: transposed convolution");
	if (V(c, w)->shape.rank != 4)
		diag_error(c->m->ctx, n->loc, "unsupported operator: %d-D convolution (kiln supports 2-D)",
		           V(c, w)->shape.rank - 2);
	uint32_t in[3] = {x, w, ir_is_none(c->m, b) ? IR_NONE : b};
	struct ir_node *r = retarget(c, id, OP_CONV2D, in, 3);
	r->a.conv = (struct conv_attr){{stride[0], stride[1]}, {pad[0], pad[1]}, {dil[0], dil[1]},
	                               (int)groups, ACT_NONE, 0, 0};
	return 1;
}

static int c_linear(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	uint32_t in[3] = {n->in[0], n->in[1], ir_is_none(c->m, n->in[2]) ? IR_NONE : n->in[2]};
	retarget(c, id, OP_LINEAR, in, 3);
	return 1;
}

static int c_addmm(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	double beta, alpha;
	if (!ir_get_float(c->m, n->in[3], &beta) || !ir_get_float(c->m, n->in[4], &alpha))
		return 0;
	uint32_t in[3] = {n->in[0], n->in[1], n->in[2]};
	struct ir_node *r = retarget(c, id, OP_GEMM, in, 3);
	r->a.gemm = (struct gemm_attr){(float)alpha, (float)beta, 0, 0};
	return 1;
}

static int c_matmul(struct canon *c, uint32_t id)
{
	uint32_t in[2] = {N(c, id)->in[0], N(c, id)->in[1]};
	retarget(c, id, OP_MATMUL, in, 2);
	return 1;
}

static int c_identity(struct canon *c, uint32_t id)
{
	uint32_t x = N(c, id)->in[0];
	retarget(c, id, OP_IDENTITY, &x, 1);
	return 1;
}

static int c_dropout(struct canon *c, uint32_t id)
{
	int64_t train;
	if (!ir_get_int(c->m, N(c, id)->in[2], &train))
		return 0;
	if (train)
		diag_error(c->m->ctx, N(c, id)->loc, "%s in training mode: export the model in eval mode "
		           "(model.eval()) before tracing", opname(c, id));
	return c_identity(c, id);
}

static int c_t(struct canon *c, uint32_t id)
{
	uint32_t x = N(c, id)->in[0];
	int r = rank_of(c, x);
	if (r < 0)
		return 0;
	if (r < 2)
		return c_identity(c, id);
	struct ir_node *n = retarget(c, id, OP_PERMUTE, &x, 1);
	n->a.perm.perm[0] = 1;
	n->a.perm.perm[1] = 0;
	return 1;
}

/* A constant vector of n copies of value, for absent batch-norm parameters. */
static uint32_t filled(struct canon *c, int64_t n, float value, struct loc loc)
{
	struct ir_shape s = {.rank = 1, .dims = {n}};
	float *d = arena_alloc(&c->m->ctx->arena, sizeof *d * (size_t)(n + 1));
	for (int64_t i = 0; i < n; i++)
		d[i] = value;
	uint32_t v = ir_const_tensor(c->m, c->b, DT_F32, &s, d, NULL);
	ir_place(c->m, c->b, c->i++, v);
	N(c, V(c, v)->def)->loc = loc;
	return v;
}

static int c_batch_norm(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	int64_t training;
	double eps;
	if (!ir_get_int(c->m, n->in[5], &training) || !ir_get_float(c->m, n->in[7], &eps))
		return 0;
	if (training)
		diag_error(c->m->ctx, n->loc, "batch_norm in training mode: export the model in eval "
		           "mode (model.eval()) before tracing");
	uint32_t mean = n->in[3], var = n->in[4];
	if (ir_is_none(c->m, mean) || ir_is_none(c->m, var))
		diag_error(c->m->ctx, n->loc, "batch_norm without running statistics is not supported");
	if (rank_of(c, mean) != 1)
		return 0;
	int64_t ch = V(c, mean)->shape.dims[0];
	struct loc loc = n->loc;
	uint32_t w = ir_is_none(c->m, n->in[1]) ? filled(c, ch, 1.0f, loc) : N(c, id)->in[1];
	uint32_t b = ir_is_none(c->m, N(c, id)->in[2]) ? filled(c, ch, 0.0f, loc) : N(c, id)->in[2];
	uint32_t in[5] = {N(c, id)->in[0], w, b, mean, var};
	struct ir_node *r = retarget(c, id, OP_BATCHNORM, in, 5);
	r->a.norm = (struct norm_attr){(float)eps, 1};
	return 1;
}

static int c_layer_norm(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	const int64_t *shape;
	int ns, r = rank_of(c, n->in[0]);
	double eps;
	if (r < 0 || !ir_get_ints(c->m, n->in[1], &shape, &ns) || !ir_get_float(c->m, n->in[4], &eps))
		return 0;
	if (ns < 1 || ns > r)
		diag_error(c->m->ctx, n->loc, "layer_norm: normalized_shape has %d dims for a %d-D input",
		           ns, r);
	uint32_t in[3] = {n->in[0], ir_is_none(c->m, n->in[2]) ? IR_NONE : n->in[2],
	                  ir_is_none(c->m, n->in[3]) ? IR_NONE : n->in[3]};
	struct ir_node *o = retarget(c, id, OP_LAYERNORM, in, 3);
	o->a.norm = (struct norm_attr){(float)eps, r - ns};
	return 1;
}

/* Unary activations: the op is chosen from the aten id. */
static int c_unary(struct canon *c, uint32_t id)
{
	static const struct { enum aten_id a; enum op op; } map[] = {
		{ATEN_RELU, OP_RELU}, {ATEN_RELU_, OP_RELU}, {ATEN_SIGMOID, OP_SIGMOID},
		{ATEN_SIGMOID_, OP_SIGMOID}, {ATEN_TANH, OP_TANH}, {ATEN_TANH_, OP_TANH},
		{ATEN_SILU, OP_SILU}, {ATEN_SILU_, OP_SILU}, {ATEN_HARDSWISH, OP_HARDSWISH},
		{ATEN_HARDSWISH_, OP_HARDSWISH}, {ATEN_HARDSIGMOID, OP_HARDSIGMOID},
		{ATEN_HARDSIGMOID_, OP_HARDSIGMOID}, {ATEN_EXP, OP_EXP}, {ATEN_LOG, OP_LOG},
		{ATEN_SQRT, OP_SQRT}, {ATEN_RSQRT, OP_RSQRT}, {ATEN_ABS, OP_ABS}, {ATEN_ERF, OP_ERF},
		{ATEN_NEG, OP_NEG},
	};
	int a = N(c, id)->a.aten.schema;
	uint32_t x = N(c, id)->in[0];
	if (V(c, x)->kind != VK_TENSOR)
		return 0;
	for (size_t k = 0; k < sizeof map / sizeof *map; k++)
		if (map[k].a == (enum aten_id)a) {
			retarget(c, id, map[k].op, &x, 1);
			return 1;
		}
	unreachable();
}

static int c_clip(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	int a = n->a.aten.schema;
	double lo = -INFINITY, hi = INFINITY;
	if (a == ATEN_RELU6 || a == ATEN_RELU6_) {
		lo = 0;
		hi = 6;
	} else {
		int lo_none = ir_is_none(c->m, n->in[1]), hi_none = ir_is_none(c->m, n->in[2]);
		if ((!lo_none && !ir_get_float(c->m, n->in[1], &lo)) ||
		    (!hi_none && !ir_get_float(c->m, n->in[2], &hi)))
			return 0;
	}
	uint32_t x = n->in[0];
	struct ir_node *r = retarget(c, id, OP_CLIP, &x, 1);
	r->a.clip = (struct clip_attr){(float)lo, (float)hi};
	return 1;
}

static int c_gelu(struct canon *c, uint32_t id)
{
	const struct ir_const *k = ir_const_of(c->m, N(c, id)->in[1]);
	if (!k || k->kind != CK_STR)
		return 0;
	int tanh_approx = strcmp(k->s, "tanh") == 0;
	if (!tanh_approx && strcmp(k->s, "none") != 0)
		diag_error(c->m->ctx, N(c, id)->loc, "gelu: unknown approximation '%s'", k->s);
	uint32_t x = N(c, id)->in[0];
	retarget(c, id, OP_GELU, &x, 1)->a.gelu.tanh_approx = tanh_approx;
	return 1;
}

static int c_softmax(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	int64_t d;
	int r = rank_of(c, n->in[0]);
	if (r < 0 || !ir_get_int(c->m, n->in[1], &d))
		return 0;
	if (!ir_is_none(c->m, n->in[2])) {
		int64_t dt;
		if (!ir_get_int(c->m, n->in[2], &dt) || dtype_from_torch(dt) != V(c, n->in[0])->dtype)
			diag_error(c->m->ctx, n->loc, "%s with a dtype argument is not supported",
			           opname(c, id));
	}
	int axis = norm_dim(c, id, d, r > 0 ? r : 1);
	uint32_t x = n->in[0];
	enum op op = n->a.aten.schema == ATEN_SOFTMAX ? OP_SOFTMAX : OP_LOG_SOFTMAX;
	retarget(c, id, op, &x, 1)->a.axis.axis = axis;
	return 1;
}

static int c_binary(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	enum aten_id a = (enum aten_id)n->a.aten.schema;
	if (V(c, n->out[0])->kind != VK_TENSOR)
		return 0;
	double alpha = 1;
	if ((a == ATEN_ADD || a == ATEN_ADD_ || a == ATEN_SUB || a == ATEN_SUB_ || a == ATEN_RSUB) &&
	    !ir_get_float(c->m, n->in[2], &alpha))
		return 0;
	if ((a == ATEN_DIV || a == ATEN_DIV_) && !ir_is_none(c->m, n->in[2])) {
		/* of two scalars (0-d tensors), as traced shape arithmetic has: fold computes it */
		for (int k = 0; k < 2; k++)
			if (V(c, n->in[k])->kind == VK_TENSOR && V(c, n->in[k])->shape.rank != 0)
				diag_error(c->m->ctx, n->loc, "div with a rounding mode is supported "
				           "on scalars only, not on tensors");
		return 0;
	}
	uint32_t x = n->in[0], y = n->in[1];
	if (a == ATEN_RSUB) {
		uint32_t t = x;
		x = y;
		y = t;
	}
	uint32_t ref = V(c, x)->kind == VK_TENSOR && (V(c, x)->shape.rank != 0 || V(c, y)->kind != VK_TENSOR) ? x : y;
	if (V(c, ref)->kind != VK_TENSOR || V(c, ref)->dtype == DT_UNKNOWN)
		return 0;
	enum dtype dt = V(c, ref)->dtype;
	struct loc loc = n->loc;
	x = as_tensor(c, x, dt, loc);
	y = as_tensor(c, y, dt, loc);
	if (x == IR_NONE || y == IR_NONE)
		return 0;
	enum op op;
	switch (a) {
	case ATEN_ADD: case ATEN_ADD_: op = OP_ADD; break;
	case ATEN_SUB: case ATEN_SUB_: case ATEN_RSUB: op = OP_SUB; break;
	case ATEN_MUL: case ATEN_MUL_: op = OP_MUL; break;
	case ATEN_DIV: case ATEN_DIV_: op = OP_DIV; break;
	case ATEN_POW: op = OP_POW; break;
	case ATEN_MAXIMUM: op = OP_MAXIMUM; break;
	case ATEN_MINIMUM: op = OP_MINIMUM; break;
	default:
		diag_error(c->m->ctx, loc, "unsupported operator '%s' on tensors", opname(c, id));
	}
	uint32_t in[2] = {x, y};
	retarget(c, id, op, in, 2)->a.binary.alpha = (float)alpha;
	return 1;
}

/* reciprocal(x) = 1 / x */
static int c_reciprocal(struct canon *c, uint32_t id)
{
	uint32_t x = N(c, id)->in[0];
	if (V(c, x)->kind != VK_TENSOR || V(c, x)->dtype == DT_UNKNOWN)
		return 0;
	uint32_t one = ir_place(c->m, c->b, c->i++, ir_const_float(c->m, c->b, 1.0));
	uint32_t in[2] = {as_tensor(c, one, V(c, x)->dtype, N(c, id)->loc), x};
	retarget(c, id, OP_DIV, in, 2)->a.binary.alpha = 1;
	return 1;
}

static const enum sop cmp_ops[ATEN_COUNT] = {
	[ATEN_EQ] = SOP_EQ, [ATEN_NE] = SOP_NE, [ATEN_LT] = SOP_LT, [ATEN_LE] = SOP_LE,
	[ATEN_GT] = SOP_GT, [ATEN_GE] = SOP_GE,
};

/* eq/ne/lt/le/gt/ge with a tensor operand: a bool tensor. */
static int c_compare(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	enum aten_id a = (enum aten_id)n->a.aten.schema;
	if (V(c, n->out[0])->kind != VK_TENSOR)
		return 0;
	uint32_t x = n->in[0], y = n->in[1];
	uint32_t ref = V(c, x)->kind == VK_TENSOR && (V(c, x)->shape.rank != 0 || V(c, y)->kind != VK_TENSOR) ? x : y;
	if (V(c, ref)->kind != VK_TENSOR || V(c, ref)->dtype == DT_UNKNOWN)
		return 0;
	enum dtype dt = V(c, ref)->dtype;
	struct loc loc = n->loc;
	x = as_tensor(c, x, dt, loc);
	y = as_tensor(c, y, dt, loc);
	if (x == IR_NONE || y == IR_NONE)
		return 0;
	uint32_t in[2] = {x, y};
	retarget(c, id, OP_COMPARE, in, 2)->a.sop.op = cmp_ops[a];
	return 1;
}

/* max(x) / min(x): reduce everything; max(x, y): elementwise. max(x, dim) returns
 * (values, indices), which kiln does not support. */
static int c_max(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	int is_max = n->a.aten.schema == ATEN_MAX;
	uint32_t x = n->in[0], y = n->in[1];
	int r = rank_of(c, x);
	if (r < 0)
		return 0;
	if (ir_is_none(c->m, y)) {
		struct ir_node *o = retarget(c, id, is_max ? OP_REDUCE_MAX : OP_REDUCE_MIN, &x, 1);
		o->a.reduce = (struct reduce_attr){(1u << r) - 1, 0};
		return 1;
	}
	if (V(c, y)->kind != VK_TENSOR)
		diag_error(c->m->ctx, n->loc, "%s over a dimension returns indices too; kiln does not "
		           "support that form (use amax)", opname(c, id));
	uint32_t in[2] = {x, y};
	retarget(c, id, is_max ? OP_MAXIMUM : OP_MINIMUM, in, 2)->a.binary.alpha = 1;
	return 1;
}

static int c_pool(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	int is_max = n->a.aten.schema == ATEN_MAX_POOL2D;
	struct pool_attr p = {.dil = {1, 1}, .count_include_pad = 1};
	int64_t ceil_mode, cip = 1, div = 0;
	const int64_t *sv;
	int ns;
	if (!pair(c, id, 1, p.kernel) || !ir_get_ints(c->m, n->in[2], &sv, &ns) ||
	    !pair(c, id, 3, p.pad) || !ir_get_int(c->m, n->in[is_max ? 5 : 4], &ceil_mode))
		return 0;
	if (is_max && !pair(c, id, 4, p.dil))
		return 0;
	if (!is_max && (!ir_get_int(c->m, n->in[5], &cip) ||
	                (!ir_is_none(c->m, n->in[6]) && !ir_get_int(c->m, n->in[6], &div))))
		return 0;
	if (ns == 0) {
		p.stride[0] = p.kernel[0];
		p.stride[1] = p.kernel[1];
	} else if (!pair(c, id, 2, p.stride)) {
		return 0;
	}
	if (rank_of(c, n->in[0]) >= 0 && rank_of(c, n->in[0]) != 4)
		diag_error(c->m->ctx, n->loc, "%s expects a 4-D (N, C, H, W) input, got %d-D",
		           opname(c, id), rank_of(c, n->in[0]));
	p.ceil_mode = (int)ceil_mode;
	p.count_include_pad = (int)cip;
	p.divisor = (int)div;
	uint32_t x = n->in[0];
	retarget(c, id, is_max ? OP_MAXPOOL2D : OP_AVGPOOL2D, &x, 1)->a.pool = p;
	return 1;
}

static int c_adaptive(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	int is_max = n->a.aten.schema == ATEN_ADAPTIVE_MAX_POOL2D;
	struct pool_attr p;
	memset(&p, 0, sizeof p);
	if (!pair(c, id, 1, p.out))
		return 0;
	if (is_max) {
		int *uses = ir_use_counts(c->m, &c->m->ctx->scratch);
		if (uses[n->out[1]])
			diag_error(c->m->ctx, n->loc, "adaptive_max_pool2d: the indices output is not supported");
	}
	uint32_t x = n->in[0];
	retarget(c, id, is_max ? OP_ADAPTIVE_MAXPOOL2D : OP_ADAPTIVE_AVGPOOL2D, &x, 1)->a.pool = p;
	return 1;
}

static int c_reduce(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	enum aten_id a = (enum aten_id)n->a.aten.schema;
	int r = rank_of(c, n->in[0]);
	int64_t keep;
	const int64_t *dims = NULL;
	int nd = 0;
	if (r < 0 || !ir_get_int(c->m, n->in[2], &keep))
		return 0;
	if (!ir_is_none(c->m, n->in[1]) && !ir_get_ints(c->m, n->in[1], &dims, &nd))
		return 0;
	if ((a == ATEN_MEAN || a == ATEN_SUM) && !ir_is_none(c->m, n->in[3]))
		diag_error(c->m->ctx, n->loc, "%s with a dtype argument is not supported", opname(c, id));
	unsigned axes = 0;
	for (int k = 0; k < nd; k++)
		axes |= 1u << norm_dim(c, id, dims[k], r);
	if (nd == 0)
		axes = (1u << r) - 1;
	enum op op = a == ATEN_MEAN ? OP_REDUCE_MEAN : a == ATEN_SUM ? OP_REDUCE_SUM
	           : a == ATEN_AMAX ? OP_REDUCE_MAX : OP_REDUCE_MIN;
	uint32_t x = n->in[0];
	struct ir_node *o = retarget(c, id, op, &x, 1);
	o->a.reduce = (struct reduce_attr){axes, (int)keep};
	return 1;
}

/* RESHAPE of x to s (numel checked by shapes). */
static void to_reshape(struct canon *c, uint32_t id, uint32_t x, const struct ir_shape *s)
{
	struct ir_node *n = retarget(c, id, OP_RESHAPE, &x, 1);
	struct ir_value *o = V(c, n->out[0]);
	o->shape = *s;
}

static int c_flatten(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	uint32_t x = n->in[0];
	int64_t s0, e0;
	if (!static_shape(c, x) || !ir_get_int(c->m, n->in[1], &s0) || !ir_get_int(c->m, n->in[2], &e0))
		return 0;
	const struct ir_shape *in = &V(c, x)->shape;
	int r = in->rank > 0 ? in->rank : 1;
	int s = norm_dim(c, id, s0, r), e = norm_dim(c, id, e0, r);
	struct ir_shape out = {0};
	if (in->rank == 0) {
		out.rank = 1;
		out.dims[0] = 1;
	}
	for (int k = 0; k < in->rank; k++) {
		if (k > s && k <= e)
			out.dims[out.rank - 1] *= in->dims[k];
		else
			out.dims[out.rank++] = in->dims[k];
	}
	to_reshape(c, id, x, &out);
	return 1;
}

static int c_view(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	uint32_t x = n->in[0];
	const int64_t *d;
	int nd, infer = -1;
	if (!static_shape(c, x) || !ir_get_ints(c->m, n->in[1], &d, &nd))
		return 0;
	if (nd > KILN_MAX_RANK)
		diag_error(c->m->ctx, n->loc, "%s: %d dimensions (kiln supports %d)", opname(c, id), nd,
		           KILN_MAX_RANK);
	struct ir_shape out = {.rank = nd};
	int64_t known = 1, numel = shape_numel(&V(c, x)->shape);
	for (int k = 0; k < nd; k++) {
		out.dims[k] = d[k];
		if (d[k] == -1 && infer < 0)
			infer = k;
		else if (d[k] < 0)
			diag_error(c->m->ctx, n->loc, "%s: invalid size %lld", opname(c, id), (long long)d[k]);
		else
			known *= d[k];
	}
	if (infer >= 0) {
		if (known == 0 || numel % known)
			diag_error(c->m->ctx, n->loc, "%s: cannot reshape %lld elements with -1 here",
			           opname(c, id), (long long)numel);
		out.dims[infer] = numel / known;
	}
	to_reshape(c, id, x, &out);
	return 1;
}

static int c_unsqueeze(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	uint32_t x = n->in[0];
	int64_t d;
	if (!static_shape(c, x) || !ir_get_int(c->m, n->in[1], &d))
		return 0;
	const struct ir_shape *in = &V(c, x)->shape;
	if (in->rank >= KILN_MAX_RANK)
		diag_error(c->m->ctx, n->loc, "unsqueeze: too many dimensions");
	int at = norm_dim(c, id, d, in->rank + 1);
	struct ir_shape out = {.rank = in->rank + 1};
	for (int k = 0, j = 0; k < out.rank; k++)
		out.dims[k] = k == at ? 1 : in->dims[j++];
	to_reshape(c, id, x, &out);
	return 1;
}

static int c_squeeze(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	uint32_t x = n->in[0];
	int64_t d = 0;
	int all = ir_is_none(c->m, n->in[1]);
	if (!static_shape(c, x) || (!all && !ir_get_int(c->m, n->in[1], &d)))
		return 0;
	const struct ir_shape *in = &V(c, x)->shape;
	int at = all ? -1 : norm_dim(c, id, d, in->rank > 0 ? in->rank : 1);
	struct ir_shape out = {0};
	for (int k = 0; k < in->rank; k++)
		if (!(in->dims[k] == 1 && (all || k == at)))
			out.dims[out.rank++] = in->dims[k];
	to_reshape(c, id, x, &out);
	return 1;
}

static int c_permute(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	uint32_t x = n->in[0];
	int r = rank_of(c, x);
	struct perm_attr p;
	if (r < 0)
		return 0;
	if (n->a.aten.schema == ATEN_TRANSPOSE) {
		int64_t d0, d1;
		if (!ir_get_int(c->m, n->in[1], &d0) || !ir_get_int(c->m, n->in[2], &d1))
			return 0;
		for (int k = 0; k < r; k++)
			p.perm[k] = k;
		int a = norm_dim(c, id, d0, r), b = norm_dim(c, id, d1, r);
		p.perm[a] = b;
		p.perm[b] = a;
	} else {
		const int64_t *d;
		int nd;
		if (!ir_get_ints(c->m, n->in[1], &d, &nd))
			return 0;
		if (nd != r)
			diag_error(c->m->ctx, n->loc, "permute: %d dims given for a %d-D tensor", nd, r);
		unsigned seen = 0;
		for (int k = 0; k < r; k++) {
			p.perm[k] = norm_dim(c, id, d[k], r);
			if (seen & (1u << p.perm[k]))
				diag_error(c->m->ctx, n->loc, "permute: dimension %d repeated", p.perm[k]);
			seen |= 1u << p.perm[k];
		}
	}
	for (int k = r; k < KILN_MAX_RANK; k++)
		p.perm[k] = k;
	retarget(c, id, OP_PERMUTE, &x, 1)->a.perm = p;
	return 1;
}

/* A SLICE of x along axis [start, end) step, inserted here. */
static uint32_t slice_of(struct canon *c, uint32_t x, int axis, int64_t start, int64_t end,
                         int64_t step, struct loc loc)
{
	uint32_t v = emit(c, OP_SLICE, &x, 1, loc);
	struct ir_node *n = N(c, V(c, v)->def);
	n->a.slice = (struct slice_attr){axis, start, end, step};
	return v;
}

/* chunk, split, split_with_sizes, unbind: a LIST of slices. */
static int c_split(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	enum aten_id a = (enum aten_id)n->a.aten.schema;
	uint32_t x = n->in[0];
	int64_t d, k = 0;
	const int64_t *sizes = NULL;
	int nsizes = 0;
	if (!static_shape(c, x) || !ir_get_int(c->m, n->in[a == ATEN_UNBIND ? 1 : 2], &d))
		return 0;
	if (a == ATEN_SPLIT_WITH_SIZES && !ir_get_ints(c->m, n->in[1], &sizes, &nsizes))
		return 0;
	if ((a == ATEN_CHUNK || a == ATEN_SPLIT) && !ir_get_int(c->m, n->in[1], &k))
		return 0;
	const struct ir_shape s = V(c, x)->shape;
	int axis = norm_dim(c, id, d, s.rank);
	int64_t dim = s.dims[axis];
	int64_t step = a == ATEN_UNBIND ? 1 : a == ATEN_SPLIT ? k : a == ATEN_CHUNK ? (k > 0 ? (dim + k - 1) / k : 0) : 0;
	if ((a == ATEN_CHUNK || a == ATEN_SPLIT) && k <= 0)
		diag_error(c->m->ctx, n->loc, "%s: size %lld must be positive", opname(c, id), (long long)k);
	uint32_t items[1024];
	int count = 0;
	struct loc loc = n->loc;
	for (int64_t start = 0; start < dim || (dim == 0 && count == 0 && step); ) {
		int64_t len = a == ATEN_SPLIT_WITH_SIZES ? (count < nsizes ? sizes[count] : 0) : step;
		if (count >= 1024 || len <= 0)
			diag_error(c->m->ctx, loc, "%s: cannot split %lld elements this way", opname(c, id),
			           (long long)dim);
		int64_t end = start + len < dim ? start + len : dim;
		uint32_t v = slice_of(c, x, axis, start, end, 1, loc);
		if (a == ATEN_UNBIND) {
			struct ir_shape o = {0};
			for (int j = 0; j < s.rank; j++)
				if (j != axis)
					o.dims[o.rank++] = s.dims[j];
			v = emit(c, OP_RESHAPE, &v, 1, loc);
			V(c, v)->shape = o;
		}
		items[count++] = v;
		start = end;
	}
	if (a == ATEN_SPLIT_WITH_SIZES && count != nsizes)
		diag_error(c->m->ctx, loc, "split_with_sizes: sizes do not add up to %lld", (long long)dim);
	become_list(c, id, items, count);
	return 1;
}

/* The items of a LIST node, or 0. */
static int list_items(struct canon *c, uint32_t v, uint32_t **items, int *n)
{
	uint32_t d = V(c, v)->def;
	if (d == IR_NONE || N(c, d)->op != OP_LIST)
		return 0;
	*items = N(c, d)->in;
	*n = N(c, d)->nin;
	return 1;
}

static int c_cat(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	uint32_t *items;
	int cnt;
	int64_t d;
	int stack = n->a.aten.schema == ATEN_STACK;
	if (!list_items(c, n->in[0], &items, &cnt) || !ir_get_int(c->m, n->in[1], &d))
		return 0;
	if (cnt == 0)
		diag_error(c->m->ctx, n->loc, "%s of an empty list", opname(c, id));
	for (int k = 0; k < cnt; k++)
		if (!static_shape(c, items[k]))
			return 0;
	int r = rank_of(c, items[0]) + stack;
	int axis = norm_dim(c, id, d, r);
	uint32_t *in = arena_alloc(&c->m->ctx->arena, sizeof *in * (size_t)cnt);
	struct loc loc = n->loc;
	for (int k = 0; k < cnt; k++) {
		in[k] = items[k];
		if (!stack)
			continue;
		struct ir_shape s = V(c, items[k])->shape, o = {.rank = s.rank + 1};
		for (int j = 0, i = 0; j < o.rank; j++)
			o.dims[j] = j == axis ? 1 : s.dims[i++];
		in[k] = emit(c, OP_RESHAPE, &items[k], 1, loc);
		V(c, in[k])->shape = o;
	}
	if (cnt == 1)
		retarget(c, id, OP_IDENTITY, in, 1);
	else
		retarget(c, id, OP_CONCAT, in, cnt)->a.axis.axis = axis;
	return 1;
}

static int c_select(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	uint32_t x = n->in[0];
	int64_t d, ix;
	if (!static_shape(c, x) || !ir_get_int(c->m, n->in[1], &d) || !ir_get_int(c->m, n->in[2], &ix))
		return 0;
	const struct ir_shape s = V(c, x)->shape;
	int axis = norm_dim(c, id, d, s.rank);
	if (ix < -s.dims[axis] || ix >= s.dims[axis])
		diag_error(c->m->ctx, n->loc, "select: index %lld is out of range for size %lld",
		           (long long)ix, (long long)s.dims[axis]);
	if (ix < 0)
		ix += s.dims[axis];
	uint32_t v = slice_of(c, x, axis, ix, ix + 1, 1, n->loc);
	struct ir_shape o = {0};
	for (int j = 0; j < s.rank; j++)
		if (j != axis)
			o.dims[o.rank++] = s.dims[j];
	to_reshape(c, id, v, &o);
	return 1;
}

static int c_slice(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	uint32_t x = n->in[0];
	int64_t d, start = 0, end = INT64_MAX, step;
	if (!static_shape(c, x) || !ir_get_int(c->m, n->in[1], &d) || !ir_get_int(c->m, n->in[4], &step))
		return 0;
	if ((!ir_is_none(c->m, n->in[2]) && !ir_get_int(c->m, n->in[2], &start)) ||
	    (!ir_is_none(c->m, n->in[3]) && !ir_get_int(c->m, n->in[3], &end)))
		return 0;
	const struct ir_shape s = V(c, x)->shape;
	int axis = norm_dim(c, id, d, s.rank);
	int64_t dim = s.dims[axis];
	if (step <= 0)
		diag_error(c->m->ctx, n->loc, "slice: step must be positive");
	if (start < 0)
		start += dim;
	if (end < 0)
		end += dim;
	start = start < 0 ? 0 : start > dim ? dim : start;
	end = end < start ? start : end > dim ? dim : end;
	uint32_t in = x;
	retarget(c, id, OP_SLICE, &in, 1)->a.slice = (struct slice_attr){axis, start, end, step};
	return 1;
}

static int c_expand(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	uint32_t x = n->in[0];
	const int64_t *d;
	int nd;
	struct ir_shape out = {0};
	if (!static_shape(c, x))
		return 0;
	if (n->a.aten.schema == ATEN_EXPAND_AS) {
		if (!static_shape(c, n->in[1]))
			return 0;
		out = V(c, n->in[1])->shape;
	} else {
		if (!ir_get_ints(c->m, n->in[1], &d, &nd))
			return 0;
		const struct ir_shape *s = &V(c, x)->shape;
		if (nd < s->rank || nd > KILN_MAX_RANK)
			diag_error(c->m->ctx, n->loc, "expand: %d sizes for a %d-D tensor", nd, s->rank);
		out.rank = nd;
		for (int k = 0; k < nd; k++) {
			int j = k - (nd - s->rank);
			out.dims[k] = d[k] == -1 && j >= 0 ? s->dims[j] : d[k];
		}
	}
	if (shape_eq(&out, &V(c, x)->shape))
		return c_identity(c, id);
	struct ir_node *o = retarget(c, id, OP_EXPAND, &x, 1);
	V(c, o->out[0])->shape = out;
	return 1;
}

static int c_pad(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	uint32_t x = n->in[0];
	const int64_t *p;
	int np;
	double value;
	int r = rank_of(c, x);
	if (r < 0 || !ir_get_ints(c->m, n->in[1], &p, &np) || !ir_get_float(c->m, n->in[2], &value))
		return 0;
	if (np % 2 || np / 2 > r)
		diag_error(c->m->ctx, n->loc, "constant_pad_nd: %d pad values for a %d-D tensor", np, r);
	struct pad_attr a = {.value = value};
	for (int k = 0; k < np / 2; k++) {
		a.before[r - 1 - k] = p[2 * k];
		a.after[r - 1 - k] = p[2 * k + 1];
		if (p[2 * k] < 0 || p[2 * k + 1] < 0)
			diag_error(c->m->ctx, n->loc, "constant_pad_nd: negative padding is not supported");
	}
	retarget(c, id, OP_PAD, &x, 1)->a.pad = a;
	return 1;
}

static int c_to(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	uint32_t x = n->in[0], t = n->in[1];
	enum dtype dt;
	int64_t code;
	if (V(c, x)->dtype == DT_UNKNOWN)
		return 0;
	if (n->a.aten.schema == ATEN_TYPE_AS) {
		dt = V(c, t)->dtype;
		if (dt == DT_UNKNOWN)
			return 0;
	} else if (V(c, t)->kind == VK_DEVICE || V(c, t)->kind == VK_STR) {
		dt = V(c, x)->dtype;
	} else if (ir_get_int(c->m, t, &code)) {
		dt = dtype_from_torch(code);
		if (dt == DT_UNKNOWN)
			diag_error(c->m->ctx, n->loc, "to(): unsupported dtype %lld", (long long)code);
	} else {
		return 0;
	}
	if (dt == V(c, x)->dtype)
		return c_identity(c, id);
	struct ir_node *o = retarget(c, id, OP_CAST, &x, 1);
	V(c, o->out[0])->dtype = dt;
	return 1;
}

static int c_fill(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	const int64_t *d;
	int nd;
	int64_t code = 6;
	if (!ir_get_ints(c->m, n->in[0], &d, &nd) ||
	    (!ir_is_none(c->m, n->in[1]) && !ir_get_int(c->m, n->in[1], &code)))
		return 0;
	enum dtype dt = dtype_from_torch(code);
	if (dt != DT_F32 && dt != DT_I64)
		diag_error(c->m->ctx, n->loc, "%s: unsupported dtype %lld", opname(c, id), (long long)code);
	struct ir_shape s = {.rank = nd};
	if (nd > KILN_MAX_RANK)
		diag_error(c->m->ctx, n->loc, "%s: too many dimensions", opname(c, id));
	for (int k = 0; k < nd; k++)
		s.dims[k] = d[k];
	int64_t numel = shape_numel(&s);
	if (numel < 0 || numel > ((int64_t)1 << 28))
		diag_error(c->m->ctx, n->loc, "%s: invalid or too large size", opname(c, id));
	int one = n->a.aten.schema == ATEN_ONES;
	void *data = arena_alloc(&c->m->ctx->arena, (size_t)numel * 8 + 8);
	for (int64_t k = 0; k < numel && one; k++) {
		if (dt == DT_F32)
			((float *)data)[k] = 1.0f;
		else
			((int64_t *)data)[k] = 1;
	}
	uint32_t v = ir_const_tensor(c->m, c->b, dt, &s, data, NULL);
	ir_place(c->m, c->b, c->i++, v);
	N(c, V(c, v)->def)->loc = N(c, id)->loc;
	ir_replace_uses(c->m, N(c, id)->out[0], v);
	N(c, id)->dead = 1;
	c->changes++;
	return 1;
}

/* ---- recurrent layers, attention, and the ops around them ---- */

/* A new node of op with a given output shape (RESHAPE) or none (shapes infers it). */
static uint32_t emit_shaped(struct canon *c, enum op op, uint32_t *in, int nin,
                            const struct ir_shape *s, struct loc loc)
{
	uint32_t v = emit(c, op, in, nin, loc);
	if (s)
		V(c, v)->shape = *s;
	return v;
}

/* A 0-dim f32 constant here. */
static uint32_t scalar_here(struct canon *c, double x, enum dtype dt, struct loc loc)
{
	uint32_t k = ir_place(c->m, c->b, c->i++, ir_const_float(c->m, c->b, x));
	return as_tensor(c, k, dt, loc);
}

/* torch.lstm / torch.gru (input overload, eval mode): params is a LIST of the flat weights,
 * hx a LIST [h0, c0] for LSTM and a tensor for GRU. */
static int c_rnn(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	int lstm = n->a.aten.schema == ATEN_LSTM;
	int64_t bias, layers, train, bidir, bfirst;
	uint32_t *w, *hx = NULL;
	int nw, nhx = 1;
	if (!ir_get_int(c->m, n->in[3], &bias) || !ir_get_int(c->m, n->in[4], &layers) ||
	    !ir_get_int(c->m, n->in[6], &train) || !ir_get_int(c->m, n->in[7], &bidir) ||
	    !ir_get_int(c->m, n->in[8], &bfirst) || !list_items(c, n->in[2], &w, &nw) ||
	    (lstm && !list_items(c, n->in[1], &hx, &nhx)))
		return 0;
	if (train)
		diag_error(c->m->ctx, n->loc, "%s in training mode: export the model in eval mode "
		           "(model.eval()) before tracing", opname(c, id));
	int per = bias ? 4 : 2, dirs = bidir ? 2 : 1;
	if (layers < 1 || layers > 256 || nw != layers * dirs * per || (lstm && nhx != 2))
		diag_error(c->m->ctx, n->loc, "%s: %d weights and %d states for %lld layers (a projection "
		           "size, proj_size, is not supported)", opname(c, id), nw, nhx, (long long)layers);
	if (rank_of(c, w[1]) != 2 || rank_of(c, n->in[0]) < 0)
		return 0;
	if (rank_of(c, n->in[0]) != 3)
		diag_error(c->m->ctx, n->loc, "%s expects a 3-D (batched) input", opname(c, id));
	int hidden = (int)V(c, w[1])->shape.dims[1];
	uint32_t *in = arena_alloc(&c->m->ctx->arena, sizeof *in * (size_t)(nw + 3));
	int k = 0;
	in[k++] = n->in[0];
	if (lstm) {
		in[k++] = hx[0];
		in[k++] = hx[1];
	} else {
		in[k++] = n->in[1];
	}
	for (int i = 0; i < nw; i++)
		in[k++] = w[i];
	struct ir_node *r = retarget(c, id, lstm ? OP_LSTM : OP_GRU, in, k);
	r->a.rnn = (struct rnn_attr){(int)layers, (int)bidir, (int)bfirst, hidden, (int)bias};
	for (int i = 1; i < r->nout; i++)
		V(c, r->out[i])->kind = VK_TENSOR;
	return 1;
}

/* Multi-head self- or cross-attention as PyTorch's native kernels compute it on [B, S, E]
 * inputs: in_proj (one packed [3E, E] weight), softmax((q / sqrt(d)) k^T) v per head,
 * out_proj. mha_build returns the output; *weights gets the probabilities [B, H, S, L]. */
struct mha {
	uint32_t q, k, v;                /* query [B,S,E], key and value [B,L,E] */
	int64_t heads;
	int64_t b, s, l, e;              /* their dims (q may not be shaped yet) */
	uint32_t qkv_w, qkv_b, proj_w, proj_b;
	struct loc loc;
};

/* Part 0, 1 or 2 (q, k, v) of the packed in-projection of x: rows [part*E, (part+1)*E). */
static uint32_t mha_proj(struct canon *c, const struct mha *a, uint32_t x, int part, int64_t e,
                         int self)
{
	if (self) /* self-attention: q, k and v are slices of the one packed projection x */
		return slice_of(c, x, 2, part * e, (part + 1) * e, 1, a->loc);
	uint32_t in[3] = {x, slice_of(c, a->qkv_w, 0, part * e, (part + 1) * e, 1, a->loc),
	                  a->qkv_b == IR_NONE ? IR_NONE
	                                      : slice_of(c, a->qkv_b, 0, part * e, (part + 1) * e, 1, a->loc)};
	return emit(c, OP_LINEAR, in, 3, a->loc);
}

/* [B, S, E] -> [B, H, S, D] (perm 0 2 1 3) or, for keys, [B, H, D, S] (perm 0 2 3 1). */
static uint32_t heads_of(struct canon *c, uint32_t x, int64_t b, int64_t s, int64_t h, int64_t d,
                         int key, struct loc loc)
{
	struct ir_shape r = {.rank = 4, .dims = {b, s, h, d}};
	uint32_t v = emit_shaped(c, OP_RESHAPE, &x, 1, &r, loc);
	uint32_t p = emit(c, OP_PERMUTE, &v, 1, loc);
	struct perm_attr pa = {{0, 2, key ? 3 : 1, key ? 1 : 3, 4, 5, 6, 7}};
	N(c, V(c, p)->def)->a.perm = pa;
	return p;
}

static uint32_t mha_build(struct canon *c, const struct mha *a, uint32_t *weights)
{
	int64_t b = a->b, s = a->s, e = a->e, l = a->l, h = a->heads, d = e / h;
	int self = a->q == a->k && a->k == a->v;
	enum dtype dt = V(c, a->qkv_w)->dtype;   /* q may not be typed yet */
	uint32_t packed = IR_NONE;
	if (self) {
		uint32_t in[3] = {a->q, a->qkv_w, a->qkv_b};
		packed = emit(c, OP_LINEAR, in, 3, a->loc);
	}
	uint32_t q = mha_proj(c, a, self ? packed : a->q, 0, e, self);
	uint32_t k = mha_proj(c, a, self ? packed : a->k, 1, e, self);
	uint32_t v = mha_proj(c, a, self ? packed : a->v, 2, e, self);
	q = heads_of(c, q, b, s, h, d, 0, a->loc);
	k = heads_of(c, k, b, l, h, d, 1, a->loc);
	v = heads_of(c, v, b, l, h, d, 0, a->loc);
	uint32_t sc[2] = {q, scalar_here(c, 1.0 / sqrt((double)d), dt, a->loc)};
	uint32_t qk[2] = {emit(c, OP_MUL, sc, 2, a->loc), k};
	N(c, V(c, qk[0])->def)->a.binary.alpha = 1;
	uint32_t att = emit(c, OP_MATMUL, qk, 2, a->loc);
	uint32_t sm = emit(c, OP_SOFTMAX, &att, 1, a->loc);
	N(c, V(c, sm)->def)->a.axis.axis = 3;
	uint32_t av[2] = {sm, v};
	uint32_t o = emit(c, OP_MATMUL, av, 2, a->loc);
	uint32_t t = emit(c, OP_PERMUTE, &o, 1, a->loc);
	N(c, V(c, t)->def)->a.perm = (struct perm_attr){{0, 2, 1, 3, 4, 5, 6, 7}};
	struct ir_shape flat = {.rank = 3, .dims = {b, s, e}};
	uint32_t f = emit_shaped(c, OP_RESHAPE, &t, 1, &flat, a->loc);
	if (weights)
		*weights = sm;
	uint32_t in[3] = {f, a->proj_w, a->proj_b};
	return emit(c, OP_LINEAR, in, 3, a->loc);
}

/* The checks both fused attention ops share: a 3-D input of static shape, heads dividing E. */
static int mha_ready(struct canon *c, uint32_t id, uint32_t x, int64_t heads)
{
	if (!static_shape(c, x) || V(c, x)->dtype == DT_UNKNOWN)
		return 0;
	const struct ir_shape *s = &V(c, x)->shape;
	if (s->rank != 3)
		diag_error(c->m->ctx, N(c, id)->loc, "%s: only batched 3-D (batch_first) inputs are "
		           "supported, got %d-D", opname(c, id), s->rank);
	if (heads <= 0 || s->dims[2] % heads)
		diag_error(c->m->ctx, N(c, id)->loc, "%s: %lld heads do not divide embed_dim %lld",
		           opname(c, id), (long long)heads, (long long)s->dims[2]);
	return 1;
}

static uint32_t opt_tensor(struct canon *c, uint32_t v) { return ir_is_none(c->m, v) ? IR_NONE : v; }

/* 1 if the attention mask is None; an error if it is a tensor; 0 while not yet known. */
static int mask_absent(struct canon *c, uint32_t id, uint32_t mask)
{
	if (ir_is_none(c->m, mask))
		return 1;
	uint32_t d = V(c, mask)->def;   /* an IF's result may still turn out None */
	if (V(c, mask)->kind == VK_TENSOR && (d == IR_NONE || N(c, d)->op != OP_IF))
		diag_error(c->m->ctx, N(c, id)->loc, "%s with an attention mask is not supported yet",
		           opname(c, id));
	return 0;
}

/* torch._native_multi_head_attention(q, k, v, E, heads, qkv_w, qkv_b, proj_w, proj_b, mask,
 * need_weights, average_attn_weights, mask_type) -> (out, weights). */
static int c_native_mha(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	int64_t heads, need, avg;
	if (!ir_get_int(c->m, n->in[4], &heads) || !ir_get_int(c->m, n->in[10], &need) ||
	    !ir_get_int(c->m, n->in[11], &avg))
		return 0;
	if (!mask_absent(c, id, n->in[9]))
		return 0;
	if (!mha_ready(c, id, n->in[0], heads) || !static_shape(c, n->in[1]) || !static_shape(c, n->in[2]))
		return 0;
	const struct ir_shape *qs = &V(c, n->in[0])->shape, *ks = &V(c, n->in[1])->shape;
	struct mha a = {n->in[0], n->in[1], n->in[2], heads, qs->dims[0], qs->dims[1], ks->dims[1],
	                qs->dims[2], n->in[5], opt_tensor(c, n->in[6]), n->in[7],
	                opt_tensor(c, n->in[8]), n->loc};
	uint32_t w, out = mha_build(c, &a, &w);
	if (need && avg) {
		w = emit(c, OP_REDUCE_MEAN, &w, 1, a.loc);
		N(c, V(c, w)->def)->a.reduce = (struct reduce_attr){1u << 1, 0};
	}
	n = N(c, id);
	ir_replace_uses(c->m, n->out[1], w);
	retarget(c, id, OP_IDENTITY, &out, 1);
	return 1;
}

/* torch._transformer_encoder_layer_fwd: nn.TransformerEncoderLayer's fast path, spelled
 * out as linear / attention / layernorm / add / relu|gelu so every backend reuses them. */
static int c_encoder_layer(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	int64_t heads, gelu, norm_first;
	double eps;
	if (!ir_get_int(c->m, n->in[2], &heads) || !ir_get_int(c->m, n->in[7], &gelu) ||
	    !ir_get_int(c->m, n->in[8], &norm_first) || !ir_get_float(c->m, n->in[9], &eps))
		return 0;
	if (!mask_absent(c, id, n->in[18]))
		return 0;
	if (!mha_ready(c, id, n->in[0], heads))
		return 0;
	struct loc loc = n->loc;
	struct ir_shape xs = V(c, n->in[0])->shape;
	uint32_t x = n->in[0], p[20];
	memcpy(p, n->in, sizeof p);
	struct norm_attr na = {(float)eps, 2};
	uint32_t ln1[3] = {x, opt_tensor(c, p[10]), opt_tensor(c, p[11])};
	uint32_t src = norm_first ? emit(c, OP_LAYERNORM, ln1, 3, loc) : x;
	if (norm_first)
		N(c, V(c, src)->def)->a.norm = na;
	struct mha a = {src, src, src, heads, xs.dims[0], xs.dims[1], xs.dims[1], xs.dims[2], p[3],
	                opt_tensor(c, p[4]), p[5], opt_tensor(c, p[6]), loc};
	uint32_t res[2] = {x, mha_build(c, &a, NULL)};
	uint32_t x1 = emit(c, OP_ADD, res, 2, loc);
	N(c, V(c, x1)->def)->a.binary.alpha = 1;
	if (!norm_first) {
		uint32_t in[3] = {x1, opt_tensor(c, p[10]), opt_tensor(c, p[11])};
		x1 = emit(c, OP_LAYERNORM, in, 3, loc);
		N(c, V(c, x1)->def)->a.norm = na;
	}
	uint32_t ln2[3] = {x1, opt_tensor(c, p[12]), opt_tensor(c, p[13])};
	uint32_t z = norm_first ? emit(c, OP_LAYERNORM, ln2, 3, loc) : x1;
	if (norm_first)
		N(c, V(c, z)->def)->a.norm = na;
	uint32_t l1[3] = {z, p[14], opt_tensor(c, p[15])};
	uint32_t hdn = emit(c, OP_LINEAR, l1, 3, loc);
	hdn = emit(c, gelu ? OP_GELU : OP_RELU, &hdn, 1, loc);
	uint32_t l2[3] = {hdn, p[16], opt_tensor(c, p[17])};
	uint32_t sum[2] = {x1, emit(c, OP_LINEAR, l2, 3, loc)};
	if (norm_first) {
		retarget(c, id, OP_ADD, sum, 2)->a.binary.alpha = 1;
		return 1;
	}
	uint32_t y = emit(c, OP_ADD, sum, 2, loc);
	N(c, V(c, y)->def)->a.binary.alpha = 1;
	uint32_t in[3] = {y, opt_tensor(c, p[12]), opt_tensor(c, p[13])};
	retarget(c, id, OP_LAYERNORM, in, 3)->a.norm = na;
	return 1;
}

/* baddbmm(self, b1, b2, beta, alpha) = beta * self + alpha * (b1 @ b2). */
static int c_baddbmm(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	double beta, alpha;
	if (!ir_get_float(c->m, n->in[3], &beta) || !ir_get_float(c->m, n->in[4], &alpha) ||
	    V(c, n->in[1])->dtype == DT_UNKNOWN)
		return 0;
	enum dtype dt = V(c, n->in[1])->dtype;
	struct loc loc = n->loc;
	uint32_t self = n->in[0], mm[2] = {n->in[1], n->in[2]};
	uint32_t prod = emit(c, OP_MATMUL, mm, 2, loc);
	if (beta == 0) {
		uint32_t in[2] = {prod, scalar_here(c, alpha, dt, loc)};
		retarget(c, id, OP_MUL, in, 2)->a.binary.alpha = 1;
		return 1;
	}
	if (beta != 1) {
		uint32_t in[2] = {self, scalar_here(c, beta, dt, loc)};
		self = emit(c, OP_MUL, in, 2, loc);
		N(c, V(c, self)->def)->a.binary.alpha = 1;
	}
	uint32_t in[2] = {self, prod};
	retarget(c, id, OP_ADD, in, 2)->a.binary.alpha = (float)alpha;
	return 1;
}

/* where(cond, a, b) and masked_fill(x, mask, value) = where(mask, value, x); scalar
 * operands become 0-dim tensors of the tensor operand's dtype. */
static int c_where(struct canon *c, uint32_t id)
{
	struct ir_node *n = N(c, id);
	int fill = n->a.aten.schema != ATEN_WHERE;
	uint32_t cond = n->in[fill ? 1 : 0], a = n->in[fill ? 2 : 1], b = n->in[fill ? 0 : 2];
	uint32_t ref = V(c, a)->kind == VK_TENSOR && V(c, a)->shape.rank != 0 ? a : b;
	if (V(c, cond)->kind != VK_TENSOR || V(c, ref)->kind != VK_TENSOR ||
	    V(c, ref)->dtype == DT_UNKNOWN)
		return 0;
	enum dtype dt = V(c, ref)->dtype;
	a = as_tensor(c, a, dt, n->loc);
	b = as_tensor(c, b, dt, N(c, id)->loc);
	if (a == IR_NONE || b == IR_NONE)
		return 0;
	uint32_t in[3] = {cond, a, b};
	retarget(c, id, OP_WHERE, in, 3);
	return 1;
}

/* embedding(weight, indices, padding_idx, ...): rows of weight (padding_idx only
 * matters for training). */
static int c_embedding(struct canon *c, uint32_t id)
{
	uint32_t in[2] = {N(c, id)->in[0], N(c, id)->in[1]};
	retarget(c, id, OP_EMBEDDING, in, 2);
	return 1;
}

static canon_fn *const canon[ATEN_COUNT] = {
	[ATEN_CONVOLUTION] = c_conv, [ATEN_CONV2D] = c_conv, [ATEN_LINEAR] = c_linear,
	[ATEN_ADDMM] = c_addmm, [ATEN_MATMUL] = c_matmul, [ATEN_MM] = c_matmul,
	[ATEN_BMM] = c_matmul, [ATEN_T] = c_t, [ATEN_BATCH_NORM] = c_batch_norm,
	[ATEN_LAYER_NORM] = c_layer_norm,
	[ATEN_RELU] = c_unary, [ATEN_RELU_] = c_unary, [ATEN_RELU6] = c_clip, [ATEN_RELU6_] = c_clip,
	[ATEN_HARDTANH] = c_clip, [ATEN_HARDTANH_] = c_clip, [ATEN_CLAMP] = c_clip,
	[ATEN_CLAMP_] = c_clip, [ATEN_SIGMOID] = c_unary, [ATEN_SIGMOID_] = c_unary,
	[ATEN_TANH] = c_unary, [ATEN_TANH_] = c_unary, [ATEN_GELU] = c_gelu,
	[ATEN_SILU] = c_unary, [ATEN_SILU_] = c_unary, [ATEN_HARDSWISH] = c_unary,
	[ATEN_HARDSWISH_] = c_unary, [ATEN_HARDSIGMOID] = c_unary, [ATEN_HARDSIGMOID_] = c_unary,
	[ATEN_EXP] = c_unary, [ATEN_LOG] = c_unary, [ATEN_SQRT] = c_unary, [ATEN_RSQRT] = c_unary,
	[ATEN_NEG] = c_unary, [ATEN_ABS] = c_unary, [ATEN_ERF] = c_unary,
	[ATEN_DROPOUT] = c_dropout, [ATEN_DROPOUT_] = c_dropout,
	[ATEN_FEATURE_DROPOUT] = c_dropout, [ATEN_ALPHA_DROPOUT] = c_dropout,
	[ATEN_SOFTMAX] = c_softmax, [ATEN_LOG_SOFTMAX] = c_softmax,
	[ATEN_ADD] = c_binary, [ATEN_ADD_] = c_binary, [ATEN_SUB] = c_binary, [ATEN_SUB_] = c_binary,
	[ATEN_RSUB] = c_binary, [ATEN_MUL] = c_binary, [ATEN_MUL_] = c_binary, [ATEN_DIV] = c_binary,
	[ATEN_DIV_] = c_binary, [ATEN_POW] = c_binary, [ATEN_MAXIMUM] = c_binary,
	[ATEN_MINIMUM] = c_binary, [ATEN_RECIPROCAL] = c_reciprocal,
	[ATEN_EQ] = c_compare, [ATEN_NE] = c_compare, [ATEN_LT] = c_compare, [ATEN_LE] = c_compare,
	[ATEN_GT] = c_compare, [ATEN_GE] = c_compare, [ATEN_MAX] = c_max, [ATEN_MIN] = c_max,
	[ATEN_MAX_POOL2D] = c_pool, [ATEN_AVG_POOL2D] = c_pool,
	[ATEN_ADAPTIVE_AVG_POOL2D] = c_adaptive, [ATEN_ADAPTIVE_MAX_POOL2D] = c_adaptive,
	[ATEN_MEAN] = c_reduce, [ATEN_SUM] = c_reduce, [ATEN_AMAX] = c_reduce, [ATEN_AMIN] = c_reduce,
	[ATEN_FLATTEN] = c_flatten, [ATEN_VIEW] = c_view, [ATEN_RESHAPE] = c_view,
	[ATEN_UNSQUEEZE] = c_unsqueeze, [ATEN_SQUEEZE] = c_squeeze, [ATEN_PERMUTE] = c_permute,
	[ATEN_TRANSPOSE] = c_permute, [ATEN_CONTIGUOUS] = c_identity, [ATEN_CLONE] = c_identity,
	[ATEN_DETACH] = c_identity, [ATEN_CHUNK] = c_split, [ATEN_SPLIT] = c_split,
	[ATEN_SPLIT_WITH_SIZES] = c_split, [ATEN_UNBIND] = c_split, [ATEN_CAT] = c_cat,
	[ATEN_STACK] = c_cat, [ATEN_SELECT] = c_select, [ATEN_SLICE] = c_slice,
	[ATEN_EXPAND] = c_expand, [ATEN_EXPAND_AS] = c_expand, [ATEN_CONSTANT_PAD_ND] = c_pad,
	[ATEN_TO] = c_to, [ATEN_TYPE_AS] = c_to, [ATEN_ZEROS] = c_fill, [ATEN_ONES] = c_fill,
	[ATEN_LSTM] = c_rnn, [ATEN_GRU] = c_rnn, [ATEN_NATIVE_MHA] = c_native_mha,
	[ATEN_TRANSFORMER_ENCODER_LAYER_FWD] = c_encoder_layer, [ATEN_BADDBMM] = c_baddbmm,
	[ATEN_WHERE] = c_where, [ATEN_MASKED_FILL] = c_where, [ATEN_MASKED_FILL_] = c_where,
	[ATEN_EMBEDDING] = c_embedding,
};

/* The canonicalizer's position is the walker's: handlers insert nodes at c->i. */
static void canon_node(struct ir_module *m, struct ir_block *b, size_t *pos, uint32_t id, void *arg)
{
	struct canon *c = arg;
	struct ir_node *n = ir_node(m, id);
	if (n->op != OP_ATEN || n->a.aten.schema < 0 || !canon[n->a.aten.schema])
		return;
	if (V(c, n->out[0])->kind != VK_TENSOR && V(c, n->out[0])->kind != VK_LIST)
		return;
	c->b = b;
	c->i = *pos;
	canon[n->a.aten.schema](c, id);
	*pos = c->i;
}

int canonicalize(struct ir_module *m)
{
	struct canon c = {.m = m};
	ir_walk(m, ir_main(m)->body, canon_node, &c);
	return c.changes;
}

/* Scalar operators still standing after folding compute at run time: SCALAR nodes,
 * and Bool/Int/Float of a tensor read its one element (ITEM). */
static void scalar_node(struct ir_module *m, struct ir_block *b, size_t *pos, uint32_t id, void *arg)
{
	(void)b;
	(void)pos;
	(void)arg;
	static const struct { enum aten_id a; enum sop op; } map[] = {
		{ATEN_ADD, SOP_ADD}, {ATEN_SUB, SOP_SUB}, {ATEN_MUL, SOP_MUL}, {ATEN_DIV, SOP_DIV},
		{ATEN_FLOORDIV, SOP_FLOORDIV}, {ATEN_FLOOR_DIVIDE, SOP_FLOORDIV},
		{ATEN_REMAINDER, SOP_MOD}, {ATEN_POW, SOP_POW}, {ATEN_EQ, SOP_EQ}, {ATEN_NE, SOP_NE},
		{ATEN_LT, SOP_LT}, {ATEN_LE, SOP_LE}, {ATEN_GT, SOP_GT}, {ATEN_GE, SOP_GE},
		{ATEN_AND, SOP_AND}, {ATEN_OR, SOP_OR}, {ATEN_NOT, SOP_NOT}, {ATEN_NEG, SOP_NEG},
		{ATEN_INT, SOP_INT}, {ATEN_FLOAT, SOP_FLOAT}, {ATEN_BOOL, SOP_BOOL},
		{ATEN_NUM_TO_TENSOR, SOP_INT}, {ATEN_SCALAR_IMPLICIT, SOP_FLOAT},
	};
	struct ir_node *n = ir_node(m, id);
	if (n->op != OP_ATEN || n->a.aten.schema < 0)
		return;
	enum vkind k = ir_val(m, n->out[0])->kind;
	if (k != VK_INT && k != VK_FLOAT && k != VK_BOOL)
		return;
	enum aten_id a = (enum aten_id)n->a.aten.schema;
	for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
		if (map[i].a != a)
			continue;
		int unary = a == ATEN_NOT || a == ATEN_NEG || a == ATEN_INT || a == ATEN_FLOAT ||
		            a == ATEN_BOOL || a == ATEN_NUM_TO_TENSOR || a == ATEN_SCALAR_IMPLICIT;
		int nin = unary ? 1 : 2;
		for (int j = 0; j < nin; j++) {
			enum vkind ik = ir_val(m, n->in[j])->kind;
			if (ik == VK_TENSOR && unary && a != ATEN_NOT && a != ATEN_NEG)
				continue; /* Bool/Int/Float of a tensor: ITEM below */
			if (ik != VK_INT && ik != VK_FLOAT && ik != VK_BOOL)
				return;
		}
		if (unary && ir_val(m, n->in[0])->kind == VK_TENSOR) {
			n->op = OP_ITEM;
			n->nin = 1;
			memset(&n->a, 0, sizeof n->a);
			return;
		}
		enum sop op = map[i].op;
		if (a == ATEN_NUM_TO_TENSOR || a == ATEN_SCALAR_IMPLICIT) { /* identity on scalars */
			enum vkind ik = ir_val(m, n->in[0])->kind;
			op = ik == VK_FLOAT ? SOP_FLOAT : ik == VK_BOOL ? SOP_BOOL : SOP_INT;
		}
		n->op = OP_SCALAR;
		n->nin = nin;
		memset(&n->a, 0, sizeof n->a);
		n->a.sop.op = op;
		return;
	}
}

/* An ATEN, GETITEM, UNPACK or GETATTR node, or an object carried by control flow, left
 * after the fixed point cannot be compiled. */
static void check_node(struct ir_module *m, struct ir_block *b, size_t *pos, uint32_t id, void *arg)
{
	(void)b;
	(void)pos;
	(void)arg;
	struct ir_node *n = ir_node(m, id);
	if (n->op == OP_ATEN && n->a.aten.schema >= 0 && canon[n->a.aten.schema])
		diag_error_soft(m->ctx, n->loc, "operator 'aten::%s' cannot be compiled here: an "
		                "argument is not a compile-time constant or an input shape is unknown",
		                n->a.aten.name);
	else if (n->op == OP_ATEN && n->a.aten.schema >= 0)
		diag_error_soft(m->ctx, n->loc, "operator '%s' could not be evaluated at compile time",
		                n->a.aten.name);
	else if (n->op == OP_GETITEM || n->op == OP_UNPACK)
		diag_error_soft(m->ctx, n->loc, "'%s' of a value unknown at compile time is not "
		                "supported", op_name(n->op));
	else if (n->op == OP_GETATTR)
		diag_error_soft(m->ctx, n->loc, "attribute '%s' of an object is not known at compile "
		                "time (the object changes in a loop run a number of times known only "
		                "at run time)", n->a.name.name);
	for (int k = 0; (n->op == OP_LOOP || n->op == OP_IF) && k < n->nout; k++)
		if (ir_val(m, n->out[k])->kind == VK_OBJECT)
			diag_error_soft(m->ctx, n->loc, "an object changes in this %s at run time; kiln "
			                "keeps objects at compile time only", op_name(n->op));
}

void check_canonical(struct ir_module *m)
{
	ir_walk(m, ir_main(m)->body, scalar_node, NULL);
	ir_walk(m, ir_main(m)->body, check_node, NULL);
	diag_check(m->ctx);
}
