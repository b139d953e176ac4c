/* emit_caffe2.c: the Caffe2 backend. Writes the entry function of a module the pipeline
 * has run on as the three files detectron2's Caffe2Model.save_protobuf writes:
 * DIR/model.pb (the predict NetDef), DIR/model_init.pb (the init NetDef: one
 * GivenTensor*Fill per weight) and DIR/model.pbtxt (the predict net in protobuf text
 * format, pbtext.c).
 *
 * Each IR op has an emitter in emit_op[] (STYLE K18); most are one Caffe2 operator in
 * NCHW order, some a short sequence where Caffe2 lacks the op (HardSwish, LogSoftmax,
 * softmax on an inner axis, Gemm) or where the IR fused several (conv/linear epilogues:
 * Conv or FC, then Add of the residual, then the activation). Elementwise binary ops use
 * Caffe2's NumPy-style broadcasting (no legacy `broadcast` argument). An op Caffe2 cannot
 * express is reported with diag_error_soft, and nothing is written (diag_check).
 *
 * The predict net's external inputs are the model inputs (flatten schema names) followed
 * by every weight, as detectron2 lists them; its external outputs are the schema's output
 * names, and its argument "kiln.schema" holds how they nest (the JSON of --emit=schema).
 * Both nets carry device_option CPU. Linear in the size of the graph and weights.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/backend.h"
#include "backend/caffe2/c2_net.h"

typedef void c2_emit_fn(struct c2 *c, struct ir_node *n);

static struct ir_value *V(struct c2 *c, uint32_t v) { return ir_val(c->m, v); }

/* Report an op that has no Caffe2 form here, naming it; emission goes on to find others. */
static void unsupported(struct c2 *c, struct ir_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void unsupported(struct c2 *c, struct ir_node *n, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	diag_error_soft(c->ctx, n->loc, "cannot emit '%s' as Caffe2: %s", op_name(n->op), why);
}

/* The blob a stage of a multi-op expansion writes: the node's output if last, else a helper. */
static const char *stage(struct c2 *c, struct ir_node *n, int last)
{
	return last ? c2_out(c, n->out[0]) : c2_tmp(c);
}

static void order_nchw(struct c2 *c, Caffe2__OperatorDef *op)
{
	c2_arg_str(c, op, "order", "NCHW");
}

/* ---- activations: one function for unary ops and fused epilogues ---- */

static void act_to(struct c2 *c, struct ir_node *n, enum act a, float lo, float hi, int gelu_tanh,
                   const char *x, const char *y)
{
	Caffe2__OperatorDef *op;
	switch (a) {
	case ACT_NONE: c2_op1(c, "Copy", x, y); break;
	case ACT_RELU: c2_op1(c, "Relu", x, y); break;
	case ACT_SIGMOID: c2_op1(c, "Sigmoid", x, y); break;
	case ACT_TANH: c2_op1(c, "Tanh", x, y); break;
	case ACT_SILU: c2_op1(c, "Swish", x, y); break;
	case ACT_CLIP:
		op = c2_op(c, "Clip", &x, 1, &y, 1);
		c2_arg_float(c, op, "min", lo);
		c2_arg_float(c, op, "max", hi);
		break;
	case ACT_GELU:
		op = c2_op(c, "Gelu", &x, 1, &y, 1);
		if (gelu_tanh)
			c2_arg_int(c, op, "fast_gelu", 1);
		break;
	case ACT_HARDSIGMOID:
	case ACT_HARDSWISH: {
		/* PyTorch's hardsigmoid: clamp(x/6 + 1/2, 0, 1); hardswish: x * hardsigmoid(x) */
		const char *h = a == ACT_HARDSIGMOID ? y : c2_tmp(c);
		op = c2_op(c, "HardSigmoid", &x, 1, &h, 1);
		c2_arg_float(c, op, "alpha", 1.0f / 6.0f);
		c2_arg_float(c, op, "beta", 0.5f);
		if (a == ACT_HARDSWISH)
			c2_op2(c, "Mul", x, h, y);
		break;
	}
	default:
		unsupported(c, n, "activation %d", (int)a);
	}
}

static void e_act(struct c2 *c, struct ir_node *n)
{
	const char *x = c2_val(c, n->in[0]), *y = c2_out(c, n->out[0]);
	switch (n->op) {
	case OP_RELU: act_to(c, n, ACT_RELU, 0, 0, 0, x, y); break;
	case OP_CLIP: act_to(c, n, ACT_CLIP, n->a.clip.min, n->a.clip.max, 0, x, y); break;
	case OP_SIGMOID: act_to(c, n, ACT_SIGMOID, 0, 0, 0, x, y); break;
	case OP_TANH: act_to(c, n, ACT_TANH, 0, 0, 0, x, y); break;
	case OP_GELU: act_to(c, n, ACT_GELU, 0, 0, n->a.gelu.tanh_approx, x, y); break;
	case OP_SILU: act_to(c, n, ACT_SILU, 0, 0, 0, x, y); break;
	case OP_HARDSWISH: act_to(c, n, ACT_HARDSWISH, 0, 0, 0, x, y); break;
	case OP_HARDSIGMOID: act_to(c, n, ACT_HARDSIGMOID, 0, 0, 0, x, y); break;
	default: unreachable();
	}
}

static int has_epilogue(struct ir_node *n, enum act a)
{
	return a != ACT_NONE || (n->nin >= 4 && n->in[3] != IR_NONE);
}

/* The epilogue of a fused conv/linear: t is the product (with bias); y = act(t + residual). */
static void epilogue(struct c2 *c, struct ir_node *n, const char *t, enum act a, float lo,
                     float hi)
{
	if (n->nin >= 4 && n->in[3] != IR_NONE)
		t = c2_op2(c, "Add", t, c2_val(c, n->in[3]), stage(c, n, a == ACT_NONE));
	if (a != ACT_NONE)
		act_to(c, n, a, lo, hi, 0, t, c2_out(c, n->out[0]));
}

/* ---- one-to-one ops ---- */

static const char *const simple_op[OP_COUNT] = {
	[OP_EXP] = "Exp", [OP_LOG] = "Log", [OP_SQRT] = "Sqrt", [OP_RSQRT] = "Rsqrt",
	[OP_NEG] = "Negative", [OP_ABS] = "Abs", [OP_ERF] = "Erf", [OP_MUL] = "Mul",
	[OP_DIV] = "Div", [OP_POW] = "Pow", [OP_IDENTITY] = "Copy", [OP_EMBEDDING] = "Gather",
};

static void e_simple(struct c2 *c, struct ir_node *n)
{
	const char *in[2];
	KILN_ASSERT(n->nin <= 2);
	for (int k = 0; k < n->nin; k++)
		in[k] = c2_val(c, n->in[k]);
	const char *y = c2_out(c, n->out[0]);
	c2_op(c, simple_op[n->op], in, n->nin, &y, 1);
}

/* Caffe2's Max and Min take same-shaped inputs. */
static void e_minmax(struct c2 *c, struct ir_node *n)
{
	if (!shape_eq(&V(c, n->in[0])->shape, &V(c, n->in[1])->shape)) {
		unsupported(c, n, "Caffe2's %s does not broadcast", n->op == OP_MAXIMUM ? "Max" : "Min");
		return;
	}
	c2_op2(c, n->op == OP_MAXIMUM ? "Max" : "Min", c2_val(c, n->in[0]), c2_val(c, n->in[1]),
	       c2_out(c, n->out[0]));
}

/* y = x * s */
static const char *scale(struct c2 *c, const char *x, float s, const char *y)
{
	c2_arg_float(c, c2_op(c, "Scale", &x, 1, &y, 1), "scale", s);
	return y;
}

/* add/sub: a + alpha*b, a - alpha*b */
static void e_addsub(struct c2 *c, struct ir_node *n)
{
	const char *b = c2_val(c, n->in[1]);
	if (n->a.binary.alpha != 1.0f)
		b = scale(c, b, n->a.binary.alpha, c2_tmp(c));
	c2_op2(c, n->op == OP_ADD ? "Add" : "Sub", c2_val(c, n->in[0]), b, c2_out(c, n->out[0]));
}

static void e_compare(struct c2 *c, struct ir_node *n)
{
	static const char *const name[SOP_COUNT] = {
		[SOP_EQ] = "EQ", [SOP_NE] = "NE", [SOP_LT] = "LT", [SOP_LE] = "LE", [SOP_GT] = "GT",
		[SOP_GE] = "GE",
	};
	if (!name[n->a.sop.op]) {
		unsupported(c, n, "comparison '%s'", sop_names[n->a.sop.op]);
		return;
	}
	c2_op2(c, name[n->a.sop.op], c2_val(c, n->in[0]), c2_val(c, n->in[1]), c2_out(c, n->out[0]));
}

/* x broadcast to shape s by Expand, or x itself when it has that shape already. */
static const char *expanded(struct c2 *c, uint32_t v, const struct ir_shape *s)
{
	const char *x = c2_val(c, v);
	if (shape_eq(&V(c, v)->shape, s))
		return x;
	return c2_op2(c, "Expand", x, c2_int64s(c, s->dims, s->rank), c2_tmp(c));
}

/* Caffe2's Where takes same-shaped inputs: the others are expanded first. */
static void e_where(struct c2 *c, struct ir_node *n)
{
	const struct ir_shape *s = &V(c, n->out[0])->shape;
	const char *in[3];
	for (int k = 0; k < 3; k++)
		in[k] = expanded(c, n->in[k], s);
	const char *y = c2_out(c, n->out[0]);
	c2_op(c, "Where", in, 3, &y, 1);
}

static void e_cast(struct c2 *c, struct ir_node *n)
{
	static const int to[DT_COUNT] = {
		[DT_F32] = CAFFE2__TENSOR_PROTO__DATA_TYPE__FLOAT,
		[DT_F64] = CAFFE2__TENSOR_PROTO__DATA_TYPE__DOUBLE,
		[DT_F16] = CAFFE2__TENSOR_PROTO__DATA_TYPE__FLOAT16,
		[DT_I64] = CAFFE2__TENSOR_PROTO__DATA_TYPE__INT64,
		[DT_I32] = CAFFE2__TENSOR_PROTO__DATA_TYPE__INT32,
		[DT_I16] = CAFFE2__TENSOR_PROTO__DATA_TYPE__INT16,
		[DT_I8] = CAFFE2__TENSOR_PROTO__DATA_TYPE__INT8,
		[DT_U8] = CAFFE2__TENSOR_PROTO__DATA_TYPE__UINT8,
		[DT_BOOL] = CAFFE2__TENSOR_PROTO__DATA_TYPE__BOOL,
	};
	enum dtype dt = V(c, n->out[0])->dtype;
	if (!to[dt]) {
		unsupported(c, n, "Caffe2 has no %s tensors", dtype_name(dt));
		return;
	}
	const char *x = c2_val(c, n->in[0]), *y = c2_out(c, n->out[0]);
	c2_arg_int(c, c2_op(c, "Cast", &x, 1, &y, 1), "to", to[dt]);
}

/* ---- convolution, products, normalization ---- */

static void window_args(struct c2 *c, Caffe2__OperatorDef *op, const int k[2], const int st[2],
                        const int pad[2], const int dil[2])
{
	int64_t ks[2] = {k[0], k[1]}, s[2] = {st[0], st[1]};
	int64_t pads[4] = {pad[0], pad[1], pad[0], pad[1]}, d[2] = {dil[0], dil[1]};
	c2_arg_ints(c, op, "kernels", ks, 2);
	c2_arg_ints(c, op, "strides", s, 2);
	c2_arg_ints(c, op, "pads", pads, 4);
	if (d[0] != 1 || d[1] != 1)
		c2_arg_ints(c, op, "dilations", d, 2);
}

static void e_conv(struct c2 *c, struct ir_node *n)
{
	const struct conv_attr *a = &n->a.conv;
	const struct ir_shape *w = &V(c, n->in[1])->shape;
	int has_b = n->nin >= 3 && n->in[2] != IR_NONE;
	const char *in[3] = {c2_val(c, n->in[0]), c2_val(c, n->in[1]),
	                     has_b ? c2_val(c, n->in[2]) : NULL};
	const char *y = stage(c, n, !has_epilogue(n, a->act));
	Caffe2__OperatorDef *op = c2_op(c, "Conv", in, has_b ? 3 : 2, &y, 1);
	int k[2] = {(int)w->dims[2], (int)w->dims[3]};
	window_args(c, op, k, a->stride, a->pad, a->dil);
	if (a->groups != 1)
		c2_arg_int(c, op, "group", a->groups);
	order_nchw(c, op);
	epilogue(c, n, y, a->act, a->act_min, a->act_max);
}

/* linear(x, w[n,k], b) = FC at the last axis of x (a zero bias when there is none). */
static void e_linear(struct c2 *c, struct ir_node *n)
{
	const struct linear_attr *l = &n->a.linear;
	struct ir_value *x = V(c, n->in[0]), *w = V(c, n->in[1]);
	const char *b;
	if (n->nin >= 3 && n->in[2] != IR_NONE) {
		b = c2_val(c, n->in[2]);
	} else {
		struct ir_shape bs = {.rank = 1, .dims = {w->shape.dims[0]}};
		b = c2_zeros(c, w->dtype, &bs);
	}
	const char *in[3] = {c2_val(c, n->in[0]), c2_val(c, n->in[1]), b};
	const char *y = stage(c, n, !has_epilogue(n, l->act));
	Caffe2__OperatorDef *op = c2_op(c, "FC", in, 3, &y, 1);
	if (x->shape.rank != 2)
		c2_arg_int(c, op, "axis", x->shape.rank - 1);
	epilogue(c, n, y, l->act, l->act_min, l->act_max);
}

/* 2-D by 2-D: MatMul; anything else: BatchMatMul with NumPy broadcasting. */
static void e_matmul(struct c2 *c, struct ir_node *n)
{
	int ra = V(c, n->in[0])->shape.rank, rb = V(c, n->in[1])->shape.rank;
	const char *in[2] = {c2_val(c, n->in[0]), c2_val(c, n->in[1])};
	const char *y = c2_out(c, n->out[0]);
	if (ra == 2 && rb == 2) {
		c2_op(c, "MatMul", in, 2, &y, 1);
		return;
	}
	c2_arg_int(c, c2_op(c, "BatchMatMul", in, 2, &y, 1), "broadcast", 1);
}

/* gemm(c, a, b) = beta*c + alpha*op(a)@op(b): MatMul, Scale, Add. */
static void e_gemm(struct c2 *c, struct ir_node *n)
{
	const struct gemm_attr *g = &n->a.gemm;
	const char *in[2] = {c2_val(c, n->in[1]), c2_val(c, n->in[2])};
	int last = g->alpha == 1.0f && g->beta == 0.0f;
	const char *p = stage(c, n, last);
	Caffe2__OperatorDef *op = c2_op(c, "MatMul", in, 2, &p, 1);
	if (g->trans_a)
		c2_arg_int(c, op, "trans_a", 1);
	if (g->trans_b)
		c2_arg_int(c, op, "trans_b", 1);
	if (g->alpha != 1.0f)
		p = scale(c, p, g->alpha, stage(c, n, g->beta == 0.0f));
	if (g->beta == 0.0f)
		return;
	const char *cc = c2_val(c, n->in[0]);
	if (g->beta != 1.0f)
		cc = scale(c, cc, g->beta, c2_tmp(c));
	c2_op2(c, "Add", cc, p, c2_out(c, n->out[0]));
}

static void e_batchnorm(struct c2 *c, struct ir_node *n)
{
	const char *in[5];
	for (int k = 0; k < 5; k++)
		in[k] = c2_val(c, n->in[k]);
	const char *y = c2_out(c, n->out[0]);
	Caffe2__OperatorDef *op = c2_op(c, "SpatialBN", in, 5, &y, 1);
	c2_arg_int(c, op, "is_test", 1);
	c2_arg_float(c, op, "epsilon", n->a.norm.eps);
	order_nchw(c, op);
}

/* LayerNorm(X, gamma, beta) at axis; its mean and std outputs are helpers. */
static void e_layernorm(struct c2 *c, struct ir_node *n)
{
	struct ir_value *x = V(c, n->in[0]);
	int axis = n->a.norm.axis;
	int has_w = n->nin >= 2 && n->in[1] != IR_NONE, has_b = n->nin >= 3 && n->in[2] != IR_NONE;
	struct ir_shape ns = {.rank = x->shape.rank - axis};
	for (int k = axis; k < x->shape.rank; k++)
		ns.dims[k - axis] = x->shape.dims[k];
	const char *in[3] = {c2_val(c, n->in[0]), NULL, NULL};
	if (has_w || has_b) {
		if (has_w) {
			in[1] = c2_val(c, n->in[1]);
		} else {
			/* gamma = 1 */
			size_t cnt = (size_t)shape_numel(&ns);
			float *one = arena_alloc(c->a, sizeof *one * (cnt + 1));
			for (size_t i = 0; i < cnt; i++)
				one[i] = 1.0f;
			in[1] = c2_param(c, arena_printf(c->a, "t%u_ones", n->out[0]), x->dtype, &ns, one);
		}
		in[2] = has_b ? c2_val(c, n->in[2]) : c2_zeros(c, x->dtype, &ns);
	}
	const char *out[3] = {c2_out(c, n->out[0]), c2_tmp(c), c2_tmp(c)};
	Caffe2__OperatorDef *op = c2_op(c, "LayerNorm", in, in[1] ? 3 : 1, out, 3);
	c2_arg_int(c, op, "axis", axis);
	c2_arg_float(c, op, "epsilon", n->a.norm.eps);
	if (in[1])
		c2_arg_int(c, op, "elementwise_affine", 1);
}

/* ---- pooling ---- */

static void e_pool(struct c2 *c, struct ir_node *n)
{
	const struct pool_attr *p = &n->a.pool;
	int avg = n->op == OP_AVGPOOL2D, cip = p->count_include_pad;
	if (avg && p->divisor) {
		if (p->divisor != p->kernel[0] * p->kernel[1] || p->ceil_mode) {
			unsupported(c, n, "divisor_override=%d has no Caffe2 form (only the kernel area, "
			            "%d, without ceil_mode)", p->divisor, p->kernel[0] * p->kernel[1]);
			return;
		}
		cip = 1;
	}
	const char *x = c2_val(c, n->in[0]), *y = c2_out(c, n->out[0]);
	Caffe2__OperatorDef *op = c2_op(c, avg ? "AveragePool" : "MaxPool", &x, 1, &y, 1);
	window_args(c, op, p->kernel, p->stride, p->pad, p->dil);
	if (p->ceil_mode)
		c2_arg_int(c, op, "legacy_pad", 3);   /* CAFFE_LEGACY_POOLING: ceil, as PyTorch */
	if (avg)
		c2_arg_int(c, op, "count_include_pad", cip);
	order_nchw(c, op);
}

/* Adaptive pooling: to 1x1 a global pool; to a size dividing the input's, a plain pool with
 * kernel = stride = input / output (PyTorch's bins are then exactly those windows). */
static void e_adaptive(struct c2 *c, struct ir_node *n)
{
	const struct ir_shape *s = &V(c, n->in[0])->shape;
	const int *out = n->a.pool.out;
	int avg = n->op == OP_ADAPTIVE_AVGPOOL2D;
	const char *x = c2_val(c, n->in[0]), *y = c2_out(c, n->out[0]);
	if (out[0] == 1 && out[1] == 1) {
		Caffe2__OperatorDef *op = c2_op(c, avg ? "AveragePool" : "MaxPool", &x, 1, &y, 1);
		c2_arg_int(c, op, "global_pooling", 1);
		order_nchw(c, op);
		return;
	}
	if (s->dims[2] == 1 && s->dims[3] == 1) {
		/* every bin is the one input pixel: a broadcast */
		const struct ir_shape *ys = &V(c, n->out[0])->shape;
		c2_op2(c, "Expand", x, c2_int64s(c, ys->dims, ys->rank), y);
		return;
	}
	if (s->dims[2] % out[0] || s->dims[3] % out[1]) {
		unsupported(c, n, "output size %dx%d does not divide the input's %lldx%lld", out[0],
		            out[1], (long long)s->dims[2], (long long)s->dims[3]);
		return;
	}
	int k[2] = {(int)(s->dims[2] / out[0]), (int)(s->dims[3] / out[1])}, z[2] = {0, 0};
	int one[2] = {1, 1};
	Caffe2__OperatorDef *op = c2_op(c, avg ? "AveragePool" : "MaxPool", &x, 1, &y, 1);
	window_args(c, op, k, k, z, one);
	order_nchw(c, op);
}

/* ---- softmax and reductions ---- */

/* Caffe2's Softmax flattens to 2-D at axis, which is PyTorch's softmax(dim) only for the
 * last axis; an inner axis is swapped to the end and back. LogSoftmax is Softmax, Log. */
static void e_softmax(struct c2 *c, struct ir_node *n)
{
	int axis = n->a.axis.axis, rank = V(c, n->in[0])->shape.rank;
	int lg = n->op == OP_LOG_SOFTMAX, inner = axis != rank - 1;
	int64_t perm[KILN_MAX_RANK];
	for (int k = 0; k < rank; k++)
		perm[k] = k;
	perm[axis] = rank - 1;
	perm[rank - 1] = axis;
	const char *x = c2_val(c, n->in[0]);
	if (inner) {
		const char *t = c2_tmp(c);
		c2_arg_ints(c, c2_op(c, "Transpose", &x, 1, &t, 1), "axes", perm, rank);
		x = t;
	}
	const char *y = inner || lg ? c2_tmp(c) : c2_out(c, n->out[0]);
	c2_arg_int(c, c2_op(c, "Softmax", &x, 1, &y, 1), "axis", rank - 1);
	if (lg)
		y = c2_op1(c, "Log", y, inner ? c2_tmp(c) : c2_out(c, n->out[0]));
	if (inner) {
		const char *o = c2_out(c, n->out[0]);
		c2_arg_ints(c, c2_op(c, "Transpose", &y, 1, &o, 1), "axes", perm, rank);
	}
}

static void e_reduce(struct c2 *c, struct ir_node *n)
{
	static const char *const name[OP_COUNT] = {
		[OP_REDUCE_MEAN] = "ReduceMean", [OP_REDUCE_SUM] = "ReduceSum",
		[OP_REDUCE_MAX] = "ReduceMax", [OP_REDUCE_MIN] = "ReduceMin",
	};
	const char *x = c2_val(c, n->in[0]), *y = c2_out(c, n->out[0]);
	int rank = V(c, n->in[0])->shape.rank, k = 0;
	unsigned axes = n->a.reduce.axes & ((1u << rank) - 1);
	if (!axes) {
		c2_op1(c, "Copy", x, y);
		return;
	}
	int64_t ax[KILN_MAX_RANK];
	for (int i = 0; i < rank; i++)
		if (axes & (1u << i))
			ax[k++] = i;
	Caffe2__OperatorDef *op = c2_op(c, name[n->op], &x, 1, &y, 1);
	c2_arg_ints(c, op, "axes", ax, k);
	c2_arg_int(c, op, "keepdims", n->a.reduce.keepdim);
}

/* ---- data movement ---- */

/* Reshape(X) with the target as the `shape` argument; its second output (the old shape)
 * is a helper. */
static void e_reshape(struct c2 *c, struct ir_node *n)
{
	const struct ir_shape *s = &V(c, n->out[0])->shape;
	const char *x = c2_val(c, n->in[0]);
	const char *out[2] = {c2_out(c, n->out[0]), c2_tmp(c)};
	c2_arg_ints(c, c2_op(c, "Reshape", &x, 1, out, 2), "shape", s->dims, s->rank);
}

static void e_expand(struct c2 *c, struct ir_node *n)
{
	const struct ir_shape *s = &V(c, n->out[0])->shape;
	c2_op2(c, "Expand", c2_val(c, n->in[0]), c2_int64s(c, s->dims, s->rank),
	       c2_out(c, n->out[0]));
}

static void e_permute(struct c2 *c, struct ir_node *n)
{
	int64_t perm[KILN_MAX_RANK];
	int rank = V(c, n->in[0])->shape.rank;
	for (int k = 0; k < rank; k++)
		perm[k] = n->a.perm.perm[k];
	const char *x = c2_val(c, n->in[0]), *y = c2_out(c, n->out[0]);
	c2_arg_ints(c, c2_op(c, "Transpose", &x, 1, &y, 1), "axes", perm, rank);
}

/* Slice with starts/ends for every dim (Caffe2 has no step). */
static void e_slice(struct c2 *c, struct ir_node *n)
{
	const struct slice_attr *sa = &n->a.slice;
	const struct ir_shape *xs = &V(c, n->in[0])->shape, *ys = &V(c, n->out[0])->shape;
	if (sa->step != 1 && ys->dims[sa->axis] > 1) {
		unsupported(c, n, "Caffe2's Slice has no step (step %lld)", (long long)sa->step);
		return;
	}
	int64_t st[KILN_MAX_RANK], en[KILN_MAX_RANK];
	for (int k = 0; k < xs->rank; k++) {
		st[k] = 0;
		en[k] = xs->dims[k];
	}
	int64_t s0 = sa->start < 0 ? sa->start + xs->dims[sa->axis] : sa->start;
	s0 = s0 < 0 ? 0 : s0 > xs->dims[sa->axis] ? xs->dims[sa->axis] : s0;
	st[sa->axis] = s0;
	en[sa->axis] = s0 + ys->dims[sa->axis];
	const char *x = c2_val(c, n->in[0]), *y = c2_out(c, n->out[0]);
	Caffe2__OperatorDef *op = c2_op(c, "Slice", &x, 1, &y, 1);
	c2_arg_ints(c, op, "starts", st, xs->rank);
	c2_arg_ints(c, op, "ends", en, xs->rank);
}

/* Concat at axis; its second output (split sizes) is a helper. */
static void e_concat(struct c2 *c, struct ir_node *n)
{
	const char **in = arena_alloc(c->a, sizeof *in * (size_t)n->nin);
	for (int k = 0; k < n->nin; k++)
		in[k] = c2_val(c, n->in[k]);
	const char *out[2] = {c2_out(c, n->out[0]), c2_tmp(c)};
	c2_arg_int(c, c2_op(c, "Concat", in, n->nin, out, 2), "axis", n->a.axis.axis);
}

/* Constant padding of the two spatial dims of an NCHW tensor: PadImage. */
static void e_pad(struct c2 *c, struct ir_node *n)
{
	const struct pad_attr *p = &n->a.pad;
	int r = V(c, n->in[0])->shape.rank;
	int spatial_only = r == 4 && !p->before[0] && !p->after[0] && !p->before[1] && !p->after[1];
	for (int k = 0; k < r; k++)
		spatial_only &= p->before[k] >= 0 && p->after[k] >= 0;
	if (!spatial_only) {
		unsupported(c, n, "Caffe2's PadImage pads only the H and W dims of an NCHW tensor");
		return;
	}
	const char *x = c2_val(c, n->in[0]), *y = c2_out(c, n->out[0]);
	Caffe2__OperatorDef *op = c2_op(c, "PadImage", &x, 1, &y, 1);
	c2_arg_int(c, op, "pad_t", p->before[2]);
	c2_arg_int(c, op, "pad_l", p->before[3]);
	c2_arg_int(c, op, "pad_b", p->after[2]);
	c2_arg_int(c, op, "pad_r", p->after[3]);
	c2_arg_str(c, op, "mode", "constant");
	c2_arg_float(c, op, "value", (float)p->value);
	order_nchw(c, op);
}

/* Every op with a Caffe2 form; structural ops (F_STRUCT) and CONST have none. */
static c2_emit_fn *const emit_op[OP_COUNT] = {
	[OP_IDENTITY] = e_simple,
	[OP_CONV2D] = e_conv, [OP_LINEAR] = e_linear, [OP_MATMUL] = e_matmul, [OP_GEMM] = e_gemm,
	[OP_BATCHNORM] = e_batchnorm, [OP_LAYERNORM] = e_layernorm,
	[OP_RELU] = e_act, [OP_CLIP] = e_act, [OP_SIGMOID] = e_act, [OP_TANH] = e_act,
	[OP_GELU] = e_act, [OP_SILU] = e_act, [OP_HARDSWISH] = e_act, [OP_HARDSIGMOID] = e_act,
	[OP_EXP] = e_simple, [OP_LOG] = e_simple, [OP_SQRT] = e_simple, [OP_RSQRT] = e_simple,
	[OP_NEG] = e_simple, [OP_ABS] = e_simple, [OP_ERF] = e_simple,
	[OP_ADD] = e_addsub, [OP_SUB] = e_addsub, [OP_MUL] = e_simple, [OP_DIV] = e_simple,
	[OP_POW] = e_simple, [OP_MAXIMUM] = e_minmax, [OP_MINIMUM] = e_minmax,
	[OP_MAXPOOL2D] = e_pool, [OP_AVGPOOL2D] = e_pool,
	[OP_ADAPTIVE_AVGPOOL2D] = e_adaptive, [OP_ADAPTIVE_MAXPOOL2D] = e_adaptive,
	[OP_SOFTMAX] = e_softmax, [OP_LOG_SOFTMAX] = e_softmax,
	[OP_REDUCE_MEAN] = e_reduce, [OP_REDUCE_SUM] = e_reduce, [OP_REDUCE_MAX] = e_reduce,
	[OP_REDUCE_MIN] = e_reduce,
	[OP_RESHAPE] = e_reshape, [OP_PERMUTE] = e_permute, [OP_SLICE] = e_slice,
	[OP_CONCAT] = e_concat, [OP_EXPAND] = e_expand, [OP_PAD] = e_pad, [OP_CAST] = e_cast,
	[OP_COMPARE] = e_compare, [OP_WHERE] = e_where, [OP_EMBEDDING] = e_simple,
	/* none: SCALAR, ITEM, FROM_SCALAR (run-time scalars), LSTM and GRU (Caffe2's RNN ops
	 * are recurrent networks of step nets, not one operator) */
};

int emit_caffe2_has_op(enum op op)
{
	return op >= 0 && op < OP_COUNT && emit_op[op] != NULL;
}

/* ---- the nets ---- */

/* Name the model's inputs and outputs. Returns, per output, whether it needs a Copy (its
 * value is an input, a constant, or another output). */
static int *name_io(struct c2 *c)
{
	struct ir_module *m = c->m;
	int *alias = arena_alloc(c->a, sizeof *alias * (size_t)(m->noutputs + 1));
	for (int i = 0; i < m->ninputs + m->noutputs; i++) {
		const struct ir_io *io = i < m->ninputs ? &m->inputs[i] : &m->outputs[i - m->ninputs];
		if (!c2_reserve(c, io->name))
			diag_error(c->ctx, (struct loc){.file = m->source},
			           "two model inputs or outputs are named '%s'", io->name);
	}
	for (int i = 0; i < m->ninputs; i++)
		c->vname[m->inputs[i].value] = m->inputs[i].name;
	for (int i = 0; i < m->noutputs; i++) {
		uint32_t v = m->outputs[i].value;
		alias[i] = c->vname[v] != NULL || ir_const_of(m, v) != NULL;
		if (!alias[i])
			c->vname[v] = m->outputs[i].name;
	}
	return alias;
}

static void emit_body(struct c2 *c)
{
	struct ir_block *b = ir_main(c->m)->body;
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(c->m, id);
		if (n->dead || n->op == OP_CONST)
			continue;
		c->cur = id;
		c->ntmp = 0;
		if (emit_op[n->op])
			emit_op[n->op](c, n);
		else if (op_info[n->op].flags & F_STRUCT)
			unsupported(c, n, "Caffe2 has no operator for it");
		else
			unsupported(c, n, "kiln's Caffe2 backend does not support it");
	}
	c->cur = IR_NONE;
}

static Caffe2__DeviceOption *cpu(struct c2 *c)
{
	Caffe2__DeviceOption *d = arena_alloc(c->a, sizeof *d);
	*d = (Caffe2__DeviceOption)CAFFE2__DEVICE_OPTION__INIT;
	d->has_device_type = 1;
	d->device_type = CAFFE2__DEVICE_TYPE_PROTO__PROTO_CPU;
	return d;
}

static char **strv(struct c2 *c, struct vec *v)
{
	char **p = arena_alloc(c->a, sizeof *p * (v->len + 1));
	for (size_t i = 0; i < v->len; i++)
		p[i] = (char *)VEC_AT(v, const char *, i);
	return p;
}

static void predict_net(struct c2 *c, Caffe2__NetDef *net, const char *name)
{
	struct ir_module *m = c->m;
	struct vec ext = {0}, outs = {0};
	for (int i = 0; i < m->ninputs; i++)
		VEC_PUSH(c->a, &ext, const char *, m->inputs[i].name);
	for (size_t i = 0; i < c->params.len; i++)
		VEC_PUSH(c->a, &ext, const char *, VEC_AT(&c->params, const char *, i));
	for (int i = 0; i < m->noutputs; i++)
		VEC_PUSH(c->a, &outs, const char *, m->outputs[i].name);
	net->name = (char *)name;
	net->n_op = c->ops.len;
	net->op = c->ops.data;
	net->device_option = cpu(c);
	net->n_external_input = ext.len;
	net->external_input = strv(c, &ext);
	net->n_external_output = outs.len;
	net->external_output = strv(c, &outs);
	/* how the flat inputs/outputs nest (kiln --emit=schema), as a net argument */
	Caffe2__Argument *schema = arena_alloc(c->a, sizeof *schema);
	*schema = (Caffe2__Argument)CAFFE2__ARGUMENT__INIT;
	schema->name = "kiln.schema";
	schema->has_s = 1;
	schema->s.data = (uint8_t *)ir_schema_json(m);
	schema->s.len = strlen((const char *)schema->s.data);
	net->n_arg = 1;
	net->arg = arena_alloc(c->a, sizeof *net->arg);
	net->arg[0] = schema;
}

static void init_net(struct c2 *c, Caffe2__NetDef *net, const char *name)
{
	net->name = (char *)name;
	net->n_op = c->fills.len;
	net->op = c->fills.data;
	net->device_option = cpu(c);
	net->n_external_output = c->params.len;
	net->external_output = strv(c, &c->params);
}

int emit_caffe2(struct kiln_ctx *ctx, struct ir_module *m, const struct emit_caffe2_options *opt)
{
	struct c2 c;
	c2_init(&c, ctx, m);
	int *alias = name_io(&c);
	emit_body(&c);
	for (int i = 0; i < m->noutputs; i++)
		if (alias[i])
			c2_op1(&c, "Copy", c2_val(&c, m->outputs[i].value), m->outputs[i].name);
	diag_check(ctx);
	const char *name = opt->model_name ? opt->model_name : "kiln";
	Caffe2__NetDef pred = CAFFE2__NET_DEF__INIT, init = CAFFE2__NET_DEF__INIT;
	predict_net(&c, &pred, name);
	init_net(&c, &init, arena_printf(c.a, "%s_init", name));
	if (mkdir(opt->out_dir, 0777) != 0 && errno != EEXIST)
		fatal("cannot create %s:", opt->out_dir);
	c2_write_net(&c, &pred, arena_printf(c.a, "%s/model.pb", opt->out_dir));
	c2_write_net(&c, &init, arena_printf(c.a, "%s/model_init.pb", opt->out_dir));
	const char *txt = arena_printf(c.a, "%s/model.pbtxt", opt->out_dir);
	FILE *f = fopen(txt, "w");
	if (!f)
		fatal("cannot write %s:", txt);
	pb_print_text(f, &pred.base);
	if (fclose(f) != 0)
		fatal("cannot write %s:", txt);
	return 0;
}
