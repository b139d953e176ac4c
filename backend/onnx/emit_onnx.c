/* emit_onnx.c: the ONNX backend. Writes the entry function of a module the pipeline has
 * run on as a standard ONNX model (default domain only, opsets 11 to 18) that
 * onnxruntime and onnx.checker accept.
 *
 * Each IR op has an emitter in emit_op[] (STYLE K18); most are one ONNX node, some a
 * short decomposition where ONNX lacks the op at the chosen opset (GELU, SiLU, RSQRT,
 * LayerNormalization before 17, HardSwish before 14, softmax on an inner axis before
 * 13) or where the IR fused several (conv/linear epilogues: Conv, then Add of the
 * residual, then the activation). An op ONNX cannot express is reported with
 * diag_error_soft and nothing is written (diag_check), never approximated.
 *
 * Constants become initializers when first used; every IR tensor that is not a graph
 * input or output gets a value_info with its dtype and shape, as do the helper tensors
 * of decompositions. Graph inputs and outputs carry the flatten schema's names; the
 * schema itself (names, paths, dtypes, shapes) is the metadata entry "kiln.schema".
 * Linear in the size of the graph and its weights (the weights are packed once).
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/onnx/onnx_graph.h"

#define ONNX_OPSET_MIN 11
#define ONNX_OPSET_MAX 18
#define ONNX_OPSET_DEFAULT 13

typedef void onnx_emit_fn(struct ox *o, struct ir_node *n);

static struct ir_value *V(struct ox *o, uint32_t v) { return ir_val(o->m, v); }

/* Report an op that has no ONNX form here, naming it; emission goes on to find others. */
static void unsupported(struct ox *o, struct ir_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void unsupported(struct ox *o, struct ir_node *n, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	diag_error_soft(o->ctx, n->loc, "cannot emit '%s' as ONNX (opset %d): %s", op_name(n->op),
	                o->opset, why);
}

/* The name a stage of a multi-node expansion writes: the node's output if it is the last
 * stage, else a helper tensor shaped like the output. */
static const char *stage(struct ox *o, struct ir_node *n, int last)
{
	struct ir_value *y = V(o, n->out[0]);
	return last ? ox_out(o, n->out[0]) : ox_tmp(o, y->dtype, &y->shape);
}

/* Input k of n, or NULL if absent. */
static const char *in_opt(struct ox *o, struct ir_node *n, int k)
{
	return k < n->nin && n->in[k] != IR_NONE ? ox_val(o, n->in[k]) : NULL;
}

/* ---- activations: one function for unary ops and fused epilogues ---- */

struct act_spec {
	enum act a;
	float lo, hi;            /* ACT_CLIP bounds */
	int gelu_tanh;           /* ACT_GELU: approximate='tanh' */
};

/* 0.5 x (1 + erf(x / sqrt 2)), or the tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
static void gelu_to(struct ox *o, int tanh_form, const char *x, const char *y, enum dtype dt,
                    const struct ir_shape *s)
{
	const char *t;
	if (tanh_form) {
		const char *x3 = ox_op2(o, "Mul", x, ox_op2(o, "Mul", x, x, ox_tmp(o, dt, s)),
		                        ox_tmp(o, dt, s));
		t = ox_op2(o, "Mul", x3, ox_scalar(o, dt, 0.044715), ox_tmp(o, dt, s));
		t = ox_op2(o, "Add", x, t, ox_tmp(o, dt, s));
		t = ox_op2(o, "Mul", t, ox_scalar(o, dt, 0.7978845608028654), ox_tmp(o, dt, s));
		t = ox_op1(o, "Tanh", t, ox_tmp(o, dt, s));
	} else {
		t = ox_op2(o, "Mul", x, ox_scalar(o, dt, 0.7071067811865476), ox_tmp(o, dt, s));
		t = ox_op1(o, "Erf", t, ox_tmp(o, dt, s));
	}
	t = ox_op2(o, "Add", t, ox_scalar(o, dt, 1.0), ox_tmp(o, dt, s));
	t = ox_op2(o, "Mul", x, t, ox_tmp(o, dt, s));
	ox_op2(o, "Mul", t, ox_scalar(o, dt, 0.5), y);
}

/* HardSigmoid as PyTorch defines it: clamp(x/6 + 1/2, 0, 1). */
static const char *hardsigmoid(struct ox *o, const char *x, const char *y)
{
	Onnx__NodeProto *nd = ox_node(o, "HardSigmoid", &x, 1, &y, 1);
	ox_attr_float(o, nd, "alpha", 1.0f / 6.0f);
	ox_attr_float(o, nd, "beta", 0.5f);
	return y;
}

/* y = act(x); helper tensors have x's dtype dt and shape s. */
static void act_to(struct ox *o, struct act_spec a, const char *x, const char *y, enum dtype dt,
                   const struct ir_shape *s)
{
	switch (a.a) {
	case ACT_NONE: ox_op1(o, "Identity", x, y); break;
	case ACT_RELU: ox_op1(o, "Relu", x, y); break;
	case ACT_SIGMOID: ox_op1(o, "Sigmoid", x, y); break;
	case ACT_TANH: ox_op1(o, "Tanh", x, y); break;
	case ACT_CLIP: {
		const char *in[3] = {x, ox_scalar(o, dt, a.lo), ox_scalar(o, dt, a.hi)};
		ox_node(o, "Clip", in, 3, &y, 1);
		break;
	}
	case ACT_SILU: ox_op2(o, "Mul", x, ox_op1(o, "Sigmoid", x, ox_tmp(o, dt, s)), y); break;
	case ACT_HARDSIGMOID: hardsigmoid(o, x, y); break;
	case ACT_HARDSWISH:
		if (o->opset >= 14)
			ox_op1(o, "HardSwish", x, y);
		else
			ox_op2(o, "Mul", x, hardsigmoid(o, x, ox_tmp(o, dt, s)), y);
		break;
	case ACT_GELU: gelu_to(o, a.gelu_tanh, x, y, dt, s); break;
	default: unreachable();
	}
}

/* The activation a unary IR op computes. */
static struct act_spec act_of_op(struct ir_node *n)
{
	switch (n->op) {
	case OP_RELU: return (struct act_spec){ACT_RELU, 0, 0, 0};
	case OP_CLIP: return (struct act_spec){ACT_CLIP, n->a.clip.min, n->a.clip.max, 0};
	case OP_SIGMOID: return (struct act_spec){ACT_SIGMOID, 0, 0, 0};
	case OP_TANH: return (struct act_spec){ACT_TANH, 0, 0, 0};
	case OP_GELU: return (struct act_spec){ACT_GELU, 0, 0, n->a.gelu.tanh_approx};
	case OP_SILU: return (struct act_spec){ACT_SILU, 0, 0, 0};
	case OP_HARDSWISH: return (struct act_spec){ACT_HARDSWISH, 0, 0, 0};
	case OP_HARDSIGMOID: return (struct act_spec){ACT_HARDSIGMOID, 0, 0, 0};
	default: unreachable();
	}
}

static void e_act(struct ox *o, struct ir_node *n)
{
	struct ir_value *x = V(o, n->in[0]);
	act_to(o, act_of_op(n), ox_val(o, n->in[0]), ox_out(o, n->out[0]), x->dtype, &x->shape);
}

/* The epilogue of a fused conv/linear: t is the product (with bias); y = act(t + residual). */
static void epilogue(struct ox *o, struct ir_node *n, const char *t, struct act_spec a)
{
	struct ir_value *y = V(o, n->out[0]);
	if (n->nin >= 4 && n->in[3] != IR_NONE)
		t = ox_op2(o, "Add", t, ox_val(o, n->in[3]), stage(o, n, a.a == ACT_NONE));
	if (a.a != ACT_NONE)
		act_to(o, a, t, ox_out(o, n->out[0]), y->dtype, &y->shape);
}

static int has_epilogue(struct ir_node *n, enum act a)
{
	return a != ACT_NONE || (n->nin >= 4 && n->in[3] != IR_NONE);
}

/* ---- one-to-one ops ---- */

static const char *const simple_op[OP_COUNT] = {
	[OP_EXP] = "Exp", [OP_LOG] = "Log", [OP_SQRT] = "Sqrt", [OP_NEG] = "Neg",
	[OP_ABS] = "Abs", [OP_ERF] = "Erf", [OP_MATMUL] = "MatMul", [OP_MUL] = "Mul",
	[OP_DIV] = "Div", [OP_POW] = "Pow", [OP_MAXIMUM] = "Max", [OP_MINIMUM] = "Min",
	[OP_IDENTITY] = "Identity",
};

static void e_simple(struct ox *o, struct ir_node *n)
{
	const char *in[2];
	KILN_ASSERT(n->nin <= 2);
	for (int k = 0; k < n->nin; k++)
		in[k] = ox_val(o, n->in[k]);
	const char *y = ox_out(o, n->out[0]);
	ox_node(o, simple_op[n->op], in, n->nin, &y, 1);
}

/* rsqrt(x) = 1 / sqrt(x) */
static void e_rsqrt(struct ox *o, struct ir_node *n)
{
	struct ir_value *x = V(o, n->in[0]);
	const char *t = ox_op1(o, "Sqrt", ox_val(o, n->in[0]), ox_tmp(o, x->dtype, &x->shape));
	ox_op1(o, "Reciprocal", t, ox_out(o, n->out[0]));
}

/* add/sub: a + alpha*b, a - alpha*b */
static void e_addsub(struct ox *o, struct ir_node *n)
{
	const char *b = ox_val(o, n->in[1]);
	if (n->a.binary.alpha != 1.0f) {
		struct ir_value *bv = V(o, n->in[1]);
		b = ox_op2(o, "Mul", b, ox_scalar(o, bv->dtype, n->a.binary.alpha),
		           ox_tmp(o, bv->dtype, &bv->shape));
	}
	ox_op2(o, n->op == OP_ADD ? "Add" : "Sub", ox_val(o, n->in[0]), b, ox_out(o, n->out[0]));
}

/* compare(a, b) -> bool: Equal, Less, Greater; != and the non-strict ones through Not
 * (LessOrEqual and GreaterOrEqual only exist from opset 12). */
static void e_compare(struct ox *o, struct ir_node *n)
{
	const char *a = ox_val(o, n->in[0]), *b = ox_val(o, n->in[1]), *y = ox_out(o, n->out[0]);
	struct ir_value *yv = V(o, n->out[0]);
	const char *op, *neg = NULL;   /* neg: the op whose negation this is */
	switch (n->a.sop.op) {
	case SOP_EQ: op = "Equal"; break;
	case SOP_NE: neg = "Equal"; break;
	case SOP_LT: op = "Less"; break;
	case SOP_GT: op = "Greater"; break;
	case SOP_LE: op = "LessOrEqual"; neg = o->opset < 12 ? "Greater" : NULL; break;
	case SOP_GE: op = "GreaterOrEqual"; neg = o->opset < 12 ? "Less" : NULL; break;
	default:
		unsupported(o, n, "comparison '%s'", sop_names[n->a.sop.op]);
		return;
	}
	if (neg)
		ox_op1(o, "Not", ox_op2(o, neg, a, b, ox_tmp(o, DT_BOOL, &yv->shape)), y);
	else
		ox_op2(o, op, a, b, y);
}

static void e_where(struct ox *o, struct ir_node *n)
{
	const char *in[3] = {ox_val(o, n->in[0]), ox_val(o, n->in[1]), ox_val(o, n->in[2])};
	const char *y = ox_out(o, n->out[0]);
	ox_node(o, "Where", in, 3, &y, 1);
}

/* embedding(weight, indices): rows of weight */
static void e_embedding(struct ox *o, struct ir_node *n)
{
	const char *in[2] = {ox_val(o, n->in[0]), ox_val(o, n->in[1])};
	const char *y = ox_out(o, n->out[0]);
	ox_attr_int(o, ox_node(o, "Gather", in, 2, &y, 1), "axis", 0);
}

/* ---- convolution, products, normalization ---- */

static void e_conv(struct ox *o, struct ir_node *n)
{
	const struct conv_attr *c = &n->a.conv;
	struct act_spec a = {c->act, c->act_min, c->act_max, 0};
	const struct ir_shape *w = &V(o, n->in[1])->shape;
	const char *in[3] = {ox_val(o, n->in[0]), ox_val(o, n->in[1]), in_opt(o, n, 2)};
	const char *y = stage(o, n, !has_epilogue(n, c->act));
	Onnx__NodeProto *nd = ox_node(o, "Conv", in, in[2] ? 3 : 2, &y, 1);
	int64_t ks[2] = {w->dims[2], w->dims[3]}, st[2] = {c->stride[0], c->stride[1]};
	int64_t pads[4] = {c->pad[0], c->pad[1], c->pad[0], c->pad[1]};
	int64_t dil[2] = {c->dil[0], c->dil[1]};
	ox_attr_ints(o, nd, "kernel_shape", ks, 2);
	ox_attr_ints(o, nd, "strides", st, 2);
	ox_attr_ints(o, nd, "pads", pads, 4);
	ox_attr_ints(o, nd, "dilations", dil, 2);
	ox_attr_int(o, nd, "group", c->groups);
	epilogue(o, n, y, a);
}

/* linear(x, w[n,k], b): Gemm(transB) for 2-D x, else MatMul by Transpose(w) and Add b. */
static void e_linear(struct ox *o, struct ir_node *n)
{
	const struct linear_attr *l = &n->a.linear;
	struct act_spec a = {l->act, l->act_min, l->act_max, 0};
	struct ir_value *x = V(o, n->in[0]), *w = V(o, n->in[1]), *yv = V(o, n->out[0]);
	const char *b = in_opt(o, n, 2);
	int last = !has_epilogue(n, l->act);
	const char *y;
	if (x->shape.rank == 2) {
		const char *in[3] = {ox_val(o, n->in[0]), ox_val(o, n->in[1]), b};
		y = stage(o, n, last);
		ox_attr_int(o, ox_node(o, "Gemm", in, b ? 3 : 2, &y, 1), "transB", 1);
	} else {
		struct ir_shape ts = {.rank = 2, .dims = {w->shape.dims[1], w->shape.dims[0]}};
		int64_t perm[2] = {1, 0};
		const char *wt = ox_tmp(o, w->dtype, &ts), *wn = ox_val(o, n->in[1]);
		ox_attr_ints(o, ox_node(o, "Transpose", &wn, 1, &wt, 1), "perm", perm, 2);
		y = ox_op2(o, "MatMul", ox_val(o, n->in[0]), wt,
		           b ? ox_tmp(o, yv->dtype, &yv->shape) : stage(o, n, last));
		if (b)
			y = ox_op2(o, "Add", y, b, stage(o, n, last));
	}
	epilogue(o, n, y, a);
}

/* gemm(c, a, b): beta*c + alpha*op(a)@op(b) */
static void e_gemm(struct ox *o, struct ir_node *n)
{
	const struct gemm_attr *g = &n->a.gemm;
	const char *in[3] = {ox_val(o, n->in[1]), ox_val(o, n->in[2]), ox_val(o, n->in[0])};
	const char *y = ox_out(o, n->out[0]);
	Onnx__NodeProto *nd = ox_node(o, "Gemm", in, 3, &y, 1);
	ox_attr_float(o, nd, "alpha", g->alpha);
	ox_attr_float(o, nd, "beta", g->beta);
	ox_attr_int(o, nd, "transA", g->trans_a);
	ox_attr_int(o, nd, "transB", g->trans_b);
}

static void e_batchnorm(struct ox *o, struct ir_node *n)
{
	const char *in[5];
	for (int k = 0; k < 5; k++) {
		if (n->in[k] == IR_NONE) {
			unsupported(o, n, "input %d is absent", k);
			return;
		}
		in[k] = ox_val(o, n->in[k]);
	}
	const char *y = ox_out(o, n->out[0]);
	ox_attr_float(o, ox_node(o, "BatchNormalization", in, 5, &y, 1), "epsilon", n->a.norm.eps);
}

/* Shape s with the dims in axes kept as 1. */
static struct ir_shape keep_shape(const struct ir_shape *s, unsigned axes)
{
	struct ir_shape r = *s;
	for (int d = 0; d < s->rank; d++)
		if (axes >> d & 1)
			r.dims[d] = 1;
	return r;
}

/* y = op(x) over the dims in axes: axes an attribute, or an input where the opset wants. */
static const char *reduce(struct ox *o, const char *op, const char *x, unsigned axes, int rank,
                          int keep, const char *y)
{
	int64_t ax[KILN_MAX_RANK];
	int k = 0;
	for (int d = 0; d < rank; d++)
		if (axes >> d & 1)
			ax[k++] = d;
	Onnx__NodeProto *nd;
	if (o->opset >= 18 || (o->opset >= 13 && strcmp(op, "ReduceSum") == 0)) {
		const char *in[2] = {x, ox_ints(o, ax, k)};
		nd = ox_node(o, op, in, 2, &y, 1);
	} else {
		nd = ox_node(o, op, &x, 1, &y, 1);
		ox_attr_ints(o, nd, "axes", ax, k);
	}
	ox_attr_int(o, nd, "keepdims", keep);
	return y;
}

/* layernorm over dims [axis, rank): LayerNormalization (opset 17), else
 * (x - mean) / sqrt(var + eps) * w + b with the biased variance, as PyTorch computes it. */
static void e_layernorm(struct ox *o, struct ir_node *n)
{
	struct ir_value *xv = V(o, n->in[0]);
	enum dtype dt = xv->dtype;
	const struct ir_shape *s = &xv->shape;
	int axis = n->a.norm.axis;
	const char *x = ox_val(o, n->in[0]), *w = in_opt(o, n, 1), *b = in_opt(o, n, 2);
	if (o->opset >= 17) {
		struct ir_shape ns = {.rank = s->rank - axis};
		memcpy(ns.dims, s->dims + axis, sizeof *ns.dims * (size_t)ns.rank);
		const char *in[3] = {x, w ? w : ox_filled(o, dt, &ns, 1.0), b};
		const char *y = ox_out(o, n->out[0]);
		Onnx__NodeProto *nd = ox_node(o, "LayerNormalization", in, b ? 3 : 2, &y, 1);
		ox_attr_int(o, nd, "axis", axis);
		ox_attr_float(o, nd, "epsilon", n->a.norm.eps);
		return;
	}
	unsigned axes = ((1u << s->rank) - 1) & ~((1u << axis) - 1);
	struct ir_shape ks = keep_shape(s, axes);
	const char *mean = reduce(o, "ReduceMean", x, axes, s->rank, 1, ox_tmp(o, dt, &ks));
	const char *d = ox_op2(o, "Sub", x, mean, ox_tmp(o, dt, s));
	const char *sq = ox_op2(o, "Mul", d, d, ox_tmp(o, dt, s));
	const char *var = reduce(o, "ReduceMean", sq, axes, s->rank, 1, ox_tmp(o, dt, &ks));
	const char *ve = ox_op2(o, "Add", var, ox_scalar(o, dt, n->a.norm.eps), ox_tmp(o, dt, &ks));
	const char *sd = ox_op1(o, "Sqrt", ve, ox_tmp(o, dt, &ks));
	const char *y = ox_op2(o, "Div", d, sd, stage(o, n, !w && !b));
	if (w)
		y = ox_op2(o, "Mul", y, w, stage(o, n, !b));
	if (b)
		ox_op2(o, "Add", y, b, ox_out(o, n->out[0]));
}

/* ---- pooling ---- */

static void pool_window(struct ox *o, Onnx__NodeProto *nd, const struct pool_attr *p)
{
	int64_t ks[2] = {p->kernel[0], p->kernel[1]}, st[2] = {p->stride[0], p->stride[1]};
	int64_t pads[4] = {p->pad[0], p->pad[1], p->pad[0], p->pad[1]};
	ox_attr_ints(o, nd, "kernel_shape", ks, 2);
	ox_attr_ints(o, nd, "strides", st, 2);
	ox_attr_ints(o, nd, "pads", pads, 4);
	ox_attr_int(o, nd, "ceil_mode", p->ceil_mode);
}

static void e_maxpool(struct ox *o, struct ir_node *n)
{
	const char *x = ox_val(o, n->in[0]), *y = ox_out(o, n->out[0]);
	Onnx__NodeProto *nd = ox_node(o, "MaxPool", &x, 1, &y, 1);
	int64_t dil[2] = {n->a.pool.dil[0], n->a.pool.dil[1]};
	pool_window(o, nd, &n->a.pool);
	ox_attr_ints(o, nd, "dilations", dil, 2);
}

static void e_avgpool(struct ox *o, struct ir_node *n)
{
	const struct pool_attr *p = &n->a.pool;
	int cip = p->count_include_pad;
	if (p->dil[0] != 1 || p->dil[1] != 1) {
		unsupported(o, n, "AveragePool has no dilations before opset 19");
		return;
	}
	if (p->divisor) {
		/* divisor_override = kernel area is count_include_pad, unless ceil_mode lets a
		 * window run past the padding, where PyTorch would still divide by the area */
		if (p->divisor != p->kernel[0] * p->kernel[1] || p->ceil_mode) {
			unsupported(o, n, "divisor_override=%d has no ONNX form (only the kernel area, "
			            "%d, without ceil_mode)", p->divisor, p->kernel[0] * p->kernel[1]);
			return;
		}
		cip = 1;
	}
	const char *x = ox_val(o, n->in[0]), *y = ox_out(o, n->out[0]);
	Onnx__NodeProto *nd = ox_node(o, "AveragePool", &x, 1, &y, 1);
	pool_window(o, nd, p);
	ox_attr_int(o, nd, "count_include_pad", cip);
}

/* Adaptive pooling: to 1x1 the global pool; to a size dividing the input's, a plain pool
 * with kernel = stride = input / output (PyTorch's bins are then exactly those windows). */
static void e_adaptive(struct ox *o, struct ir_node *n)
{
	const struct ir_shape *s = &V(o, n->in[0])->shape;
	const int *out = n->a.pool.out;
	int avg = n->op == OP_ADAPTIVE_AVGPOOL2D;
	const char *x = ox_val(o, n->in[0]);
	if (out[0] == 1 && out[1] == 1) {
		ox_op1(o, avg ? "GlobalAveragePool" : "GlobalMaxPool", x, ox_out(o, n->out[0]));
		return;
	}
	if (s->dims[2] % out[0] || s->dims[3] % out[1]) {
		unsupported(o, n, "output size %dx%d does not divide the input's %lldx%lld", out[0],
		            out[1], (long long)s->dims[2], (long long)s->dims[3]);
		return;
	}
	int kh = (int)(s->dims[2] / out[0]), kw = (int)(s->dims[3] / out[1]);
	struct pool_attr p = {.kernel = {kh, kw}, .stride = {kh, kw}};
	const char *y = ox_out(o, n->out[0]);
	Onnx__NodeProto *nd = ox_node(o, avg ? "AveragePool" : "MaxPool", &x, 1, &y, 1);
	pool_window(o, nd, &p);
}

/* ---- softmax and reductions ---- */

/* softmax / log_softmax along axis. ONNX < 13 flattens to 2-D at axis, which is the same
 * only when axis is the last; otherwise exp(x - max) / sum, written out. */
static void e_softmax(struct ox *o, struct ir_node *n)
{
	struct ir_value *xv = V(o, n->in[0]);
	int axis = n->a.axis.axis, rank = xv->shape.rank, lg = n->op == OP_LOG_SOFTMAX;
	const char *x = ox_val(o, n->in[0]), *y = ox_out(o, n->out[0]);
	if (o->opset >= 13 || axis == rank - 1) {
		ox_attr_int(o, ox_node(o, lg ? "LogSoftmax" : "Softmax", &x, 1, &y, 1), "axis", axis);
		return;
	}
	enum dtype dt = xv->dtype;
	struct ir_shape ks = keep_shape(&xv->shape, 1u << axis);
	const char *mx = reduce(o, "ReduceMax", x, 1u << axis, rank, 1, ox_tmp(o, dt, &ks));
	const char *d = ox_op2(o, "Sub", x, mx, ox_tmp(o, dt, &xv->shape));
	const char *e = ox_op1(o, "Exp", d, ox_tmp(o, dt, &xv->shape));
	const char *sum = reduce(o, "ReduceSum", e, 1u << axis, rank, 1, ox_tmp(o, dt, &ks));
	if (lg)
		ox_op2(o, "Sub", d, ox_op1(o, "Log", sum, ox_tmp(o, dt, &ks)), y);
	else
		ox_op2(o, "Div", e, sum, y);
}

static void e_reduce(struct ox *o, struct ir_node *n)
{
	static const char *const name[OP_COUNT] = {
		[OP_REDUCE_MEAN] = "ReduceMean", [OP_REDUCE_SUM] = "ReduceSum",
		[OP_REDUCE_MAX] = "ReduceMax", [OP_REDUCE_MIN] = "ReduceMin",
	};
	const char *x = ox_val(o, n->in[0]), *y = ox_out(o, n->out[0]);
	int rank = V(o, n->in[0])->shape.rank;
	unsigned axes = n->a.reduce.axes & ((1u << rank) - 1);
	if (!axes)
		ox_op1(o, "Identity", x, y);
	else
		reduce(o, name[n->op], x, axes, rank, n->a.reduce.keepdim, y);
}

/* ---- data movement ---- */

static void e_reshape(struct ox *o, struct ir_node *n)
{
	const struct ir_shape *s = &V(o, n->out[0])->shape;
	int zero = 0;
	for (int k = 0; k < s->rank; k++)
		zero |= s->dims[k] == 0;
	if (zero && o->opset < 14) {
		unsupported(o, n, "a reshape to an empty shape needs opset 14 (allowzero)");
		return;
	}
	const char *in[2] = {ox_val(o, n->in[0]), ox_ints(o, s->dims, s->rank)};
	const char *y = ox_out(o, n->out[0]);
	Onnx__NodeProto *nd = ox_node(o, "Reshape", in, 2, &y, 1);
	if (zero)
		ox_attr_int(o, nd, "allowzero", 1);
}

static void e_expand(struct ox *o, struct ir_node *n)
{
	const struct ir_shape *s = &V(o, n->out[0])->shape;
	const char *in[2] = {ox_val(o, n->in[0]), ox_ints(o, s->dims, s->rank)};
	const char *y = ox_out(o, n->out[0]);
	ox_node(o, "Expand", in, 2, &y, 1);
}

static void e_permute(struct ox *o, struct ir_node *n)
{
	int64_t perm[KILN_MAX_RANK];
	int rank = V(o, n->in[0])->shape.rank;
	for (int k = 0; k < rank; k++)
		perm[k] = n->a.perm.perm[k];
	const char *x = ox_val(o, n->in[0]), *y = ox_out(o, n->out[0]);
	ox_attr_ints(o, ox_node(o, "Transpose", &x, 1, &y, 1), "perm", perm, rank);
}

static void e_slice(struct ox *o, struct ir_node *n)
{
	const struct slice_attr *s = &n->a.slice;
	if (s->step <= 0) {
		unsupported(o, n, "step %lld is not positive", (long long)s->step);
		return;
	}
	int64_t axis = s->axis;
	const char *in[5] = {ox_val(o, n->in[0]), ox_ints(o, &s->start, 1), ox_ints(o, &s->end, 1),
	                     ox_ints(o, &axis, 1), ox_ints(o, &s->step, 1)};
	const char *y = ox_out(o, n->out[0]);
	ox_node(o, "Slice", in, 5, &y, 1);
}

static void e_concat(struct ox *o, struct ir_node *n)
{
	const char **in = arena_alloc(o->a, sizeof *in * (size_t)n->nin);
	for (int k = 0; k < n->nin; k++)
		in[k] = ox_val(o, n->in[k]);
	const char *y = ox_out(o, n->out[0]);
	ox_attr_int(o, ox_node(o, "Concat", in, n->nin, &y, 1), "axis", n->a.axis.axis);
}

static void e_pad(struct ox *o, struct ir_node *n)
{
	struct ir_value *x = V(o, n->in[0]);
	int64_t pads[2 * KILN_MAX_RANK];
	int r = x->shape.rank;
	for (int k = 0; k < r; k++) {
		pads[k] = n->a.pad.before[k];
		pads[r + k] = n->a.pad.after[k];
	}
	const char *in[3] = {ox_val(o, n->in[0]), ox_ints(o, pads, 2 * r),
	                     ox_scalar(o, x->dtype, n->a.pad.value)};
	const char *y = ox_out(o, n->out[0]);
	ox_node(o, "Pad", in, 3, &y, 1);
}

static void e_cast(struct ox *o, struct ir_node *n)
{
	const char *x = ox_val(o, n->in[0]), *y = ox_out(o, n->out[0]);
	ox_attr_int(o, ox_node(o, "Cast", &x, 1, &y, 1), "to", ox_dtype(V(o, n->out[0])->dtype));
}

/* Every op with an ONNX form; structural ops (F_STRUCT) and CONST have none. */
static onnx_emit_fn *const emit_op[OP_COUNT] = {
	[OP_IDENTITY] = e_simple,
	[OP_CONV2D] = e_conv, [OP_LINEAR] = e_linear, [OP_MATMUL] = e_simple, [OP_GEMM] = e_gemm,
	[OP_BATCHNORM] = e_batchnorm, [OP_LAYERNORM] = e_layernorm,
	[OP_RELU] = e_act, [OP_CLIP] = e_act, [OP_SIGMOID] = e_act, [OP_TANH] = e_act,
	[OP_GELU] = e_act, [OP_SILU] = e_act, [OP_HARDSWISH] = e_act, [OP_HARDSIGMOID] = e_act,
	[OP_EXP] = e_simple, [OP_LOG] = e_simple, [OP_SQRT] = e_simple, [OP_RSQRT] = e_rsqrt,
	[OP_NEG] = e_simple, [OP_ABS] = e_simple, [OP_ERF] = e_simple,
	[OP_ADD] = e_addsub, [OP_SUB] = e_addsub, [OP_MUL] = e_simple, [OP_DIV] = e_simple,
	[OP_POW] = e_simple, [OP_MAXIMUM] = e_simple, [OP_MINIMUM] = e_simple,
	[OP_MAXPOOL2D] = e_maxpool, [OP_AVGPOOL2D] = e_avgpool,
	[OP_ADAPTIVE_AVGPOOL2D] = e_adaptive, [OP_ADAPTIVE_MAXPOOL2D] = e_adaptive,
	[OP_SOFTMAX] = e_softmax, [OP_LOG_SOFTMAX] = e_softmax,
	[OP_REDUCE_MEAN] = e_reduce, [OP_REDUCE_SUM] = e_reduce, [OP_REDUCE_MAX] = e_reduce,
	[OP_REDUCE_MIN] = e_reduce,
	[OP_RESHAPE] = e_reshape, [OP_PERMUTE] = e_permute, [OP_SLICE] = e_slice,
	[OP_CONCAT] = e_concat, [OP_EXPAND] = e_expand, [OP_PAD] = e_pad, [OP_CAST] = e_cast,
	[OP_COMPARE] = e_compare, [OP_WHERE] = e_where, [OP_EMBEDDING] = e_embedding,
	/* not yet: SCALAR, ITEM, FROM_SCALAR (run-time scalars, as 0-D tensors), LSTM and GRU
	 * (ONNX's gate order differs: weights need reordering per layer and direction) */
};

int emit_onnx_has_op(enum op op)
{
	return op >= 0 && op < OP_COUNT && emit_op[op] != NULL;
}

/* ---- the graph's inputs, outputs and schema ---- */

/* A string built in the arena. */
struct sbuf {
	struct arena *a;
	char *p;
	size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = 2 * (b->len + (size_t)n + 1);
		b->p = arena_grow(b->a, b->p, b->cap, cap);
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void sb_json_str(struct sbuf *b, const char *s)
{
	sb_printf(b, "\"");
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			sb_printf(b, "\\%c", c);
		else if (c < 0x20)
			sb_printf(b, "\\u%04x", c);
		else
			sb_printf(b, "%c", c);
	}
	sb_printf(b, "\"");
}

static void sb_io(struct sbuf *b, struct ir_module *m, const struct ir_io *io, int n)
{
	for (int i = 0; i < n; i++) {
		struct ir_value *v = ir_val(m, io[i].value);
		sb_printf(b, "%s{\"name\": ", i ? ", " : "");
		sb_json_str(b, io[i].name);
		sb_printf(b, ", \"path\": ");
		sb_json_str(b, io[i].path);
		sb_printf(b, ", \"dtype\": \"%s\", \"shape\": [", dtype_name(v->dtype));
		for (int k = 0; k < v->shape.rank; k++) {
			if (v->shape.dims[k] >= 0)
				sb_printf(b, "%s%lld", k ? ", " : "", (long long)v->shape.dims[k]);
			else
				sb_printf(b, "%s\"%s\"", k ? ", " : "", v->shape.sym[k] ? v->shape.sym[k] : "?");
		}
		sb_printf(b, "]}");
	}
}

/* {"inputs": [{"name", "path", "dtype", "shape"}...], "outputs": [...]} */
static const char *schema_json(struct ox *o)
{
	struct sbuf b = {o->a, NULL, 0, 0};
	sb_printf(&b, "{\"inputs\": [");
	sb_io(&b, o->m, o->m->inputs, o->m->ninputs);
	sb_printf(&b, "], \"outputs\": [");
	sb_io(&b, o->m, o->m->outputs, o->m->noutputs);
	sb_printf(&b, "]}");
	return b.p;
}

static Onnx__ValueInfoProto *io_info(struct ox *o, const struct ir_io *io)
{
	struct ir_value *v = ir_val(o->m, io->value);
	Onnx__ValueInfoProto *vi = ox_value_info(o, io->name, v->dtype, &v->shape);
	vi->doc_string = (char *)io->path;
	return vi;
}

/* Name the graph's inputs and outputs. Returns, per output, whether it needs an Identity
 * (its value is an input, a constant, or another output). */
static int *name_io(struct ox *o, Onnx__GraphProto *g)
{
	struct ir_module *m = o->m;
	int *alias = arena_alloc(o->a, sizeof *alias * (size_t)(m->noutputs + 1));
	g->n_input = (size_t)m->ninputs;
	g->input = arena_alloc(o->a, sizeof *g->input * (size_t)(m->ninputs + 1));
	g->n_output = (size_t)m->noutputs;
	g->output = arena_alloc(o->a, sizeof *g->output * (size_t)(m->noutputs + 1));
	for (int i = 0; i < m->ninputs + m->noutputs; i++) {
		const struct ir_io *io = i < m->ninputs ? &m->inputs[i] : &m->outputs[i - m->ninputs];
		if (!ox_reserve(o, io->name))
			diag_error(o->ctx, (struct loc){.file = m->source},
			           "two model inputs or outputs are named '%s'", io->name);
	}
	for (int i = 0; i < m->ninputs; i++) {
		uint32_t v = m->inputs[i].value;
		o->vname[v] = m->inputs[i].name;
		o->vinfo_done[v] = 1;
		g->input[i] = io_info(o, &m->inputs[i]);
	}
	for (int i = 0; i < m->noutputs; i++) {
		uint32_t v = m->outputs[i].value;
		alias[i] = o->vname[v] != NULL || ir_const_of(m, v) != NULL;
		if (!alias[i]) {
			o->vname[v] = m->outputs[i].name;
			o->vinfo_done[v] = 1;
		}
		g->output[i] = io_info(o, &m->outputs[i]);
	}
	return alias;
}

static void emit_body(struct ox *o)
{
	struct ir_block *b = ir_main(o->m)->body;
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(o->m, id);
		if (n->dead || n->op == OP_CONST)
			continue;
		o->cur = id;
		o->ntmp = 0;
		if (emit_op[n->op])
			emit_op[n->op](o, n);
		else if (op_info[n->op].flags & F_STRUCT)
			unsupported(o, n, "ONNX has no standard operator for it");
		else
			unsupported(o, n, "kiln's ONNX backend does not support it yet");
	}
	o->cur = IR_NONE;
}

#define VEC_ARRAY(v, T) ((T *)(v).data)

int emit_onnx(struct kiln_ctx *ctx, struct ir_module *m, const struct emit_onnx_options *opt)
{
	int opset = opt->opset ? opt->opset : ONNX_OPSET_DEFAULT;
	if (opset < ONNX_OPSET_MIN || opset > ONNX_OPSET_MAX)
		diag_error(ctx, (struct loc){.file = m->source},
		           "ONNX opset %d is not supported (kiln emits opsets %d to %d)", opset,
		           ONNX_OPSET_MIN, ONNX_OPSET_MAX);
	struct ox o;
	ox_init(&o, ctx, m, opset);
	Onnx__GraphProto *g = arena_alloc(o.a, sizeof *g);
	*g = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
	g->name = (char *)(opt->model_name ? opt->model_name : "kiln");
	int *alias = name_io(&o, g);
	emit_body(&o);
	for (int i = 0; i < m->noutputs; i++)
		if (alias[i])
			ox_op1(&o, "Identity", ox_val(&o, m->outputs[i].value), m->outputs[i].name);
	diag_check(ctx);
	g->n_node = o.nodes.len;
	g->node = VEC_ARRAY(o.nodes, Onnx__NodeProto *);
	g->n_initializer = o.inits.len;
	g->initializer = VEC_ARRAY(o.inits, Onnx__TensorProto *);
	g->n_value_info = o.vinfo.len;
	g->value_info = VEC_ARRAY(o.vinfo, Onnx__ValueInfoProto *);
	const char *doc = opt->command_line
	                      ? arena_printf(o.a, "Generated by kiln %s: %s", KILN_VERSION,
	                                     opt->command_line)
	                      : "Generated by kiln " KILN_VERSION;
	ox_write(&o, opt->out_path, g, doc, schema_json(&o));
	return 0;
}
