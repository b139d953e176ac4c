/* emit_onnx.c: the ONNX backend. Writes the entry function of a module the pipeline has
 * run on as a standard ONNX model (default domain only, opsets 11 to 18) that
 * onnxruntime and onnx.checker accept.
 *
 * Each IR op has an emitter in emit_op[] (STYLE K18); most are one ONNX node, some a
 * short decomposition where ONNX lacks the op at the chosen opset (GELU, SiLU, RSQRT,
 * LayerNormalization before 17, HardSwish before 14, softmax on an inner axis before
 * 13) or where the IR fused several (conv/linear epilogues: Conv, then Add of the
 * residual, then the activation). An op ONNX cannot express is reported with
 * diag_error_soft and nothing is written (diag_check), never approximated; with
 * --onnx-custom-domain NAME it becomes a node of domain NAME instead (non-standard).
 *
 * Run-time numbers (int, float, bool) are 0-D tensors (int64, double, bool); LSTM and GRU
 * become ONNX's with the gates reordered; if and loop become If and Loop whose bodies are
 * subgraphs (loop-carried block parameters are the body's inputs). ONNX cannot raise: an
 * if one of whose branches raises is emitted as its other branch, with a warning that the
 * check is left out (with --onnx-custom-domain, a NAME.Raise node keeps it).
 *
 * Constants become initializers when first used; every IR tensor that is not a graph
 * input or output gets a value_info with its dtype and shape, as do the helper tensors
 * of decompositions. Graph inputs and outputs carry the flatten schema's names; the
 * schema itself (ir_schema_json: the nesting, names, paths, dtypes, shapes) is the
 * metadata entry "kiln.schema".
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

/* n as one node of the custom domain (--onnx-custom-domain): op_type the IR op's name,
 * its tensor and number operands as they are, and the attribute "kiln_ir" holding the IR
 * node as kiln prints it (so a runtime implementing the domain has every attribute).
 * 0 if an operand is neither a tensor nor a number, or n owns blocks. */
static int custom_node(struct ox *o, struct ir_node *n)
{
	if (n->nblocks)
		return 0;
	const char **in = arena_alloc(o->a, sizeof *in * (size_t)(n->nin + 1));
	const char **out = arena_alloc(o->a, sizeof *out * (size_t)(n->nout + 1));
	for (int k = 0; k < n->nin; k++)
		if (n->in[k] != IR_NONE && ox_vdtype(o, n->in[k]) == DT_UNKNOWN &&
		    !(ir_const_of(o->m, n->in[k]) && ir_const_of(o->m, n->in[k])->kind == CK_STR))
			return 0;
	for (int k = 0; k < n->nout; k++)
		if (ox_vdtype(o, n->out[k]) == DT_UNKNOWN)
			return 0;
	int nin = 0;
	for (int k = 0; k < n->nin; k++) {   /* strings (messages) are in kiln_ir already */
		const struct ir_const *c = n->in[k] != IR_NONE ? ir_const_of(o->m, n->in[k]) : NULL;
		if (!(c && c->kind == CK_STR))
			in[nin++] = n->in[k] != IR_NONE ? ox_val(o, n->in[k]) : "";
	}
	for (int k = 0; k < n->nout; k++)
		out[k] = ox_out(o, n->out[k]);
	Onnx__NodeProto *nd = ox_node(o, op_name(n->op), in, nin, out, n->nout);
	nd->domain = (char *)o->custom_domain;
	ox_attr_str(o, nd, "kiln_ir", ir_node_str(o->m, o->cur));
	o->ncustom++;
	return 1;
}

/* An op that has no ONNX form here: with --onnx-custom-domain it becomes a node of that
 * domain, else it is reported, naming it, and emission goes on to find others. Emitters
 * call this before making any node for n. */
static void unsupported(struct ox *o, struct ir_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void unsupported(struct ox *o, struct ir_node *n, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	if (o->custom_domain && custom_node(o, n))
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	diag_error_soft(o->ctx, n->loc, "cannot emit '%s' as ONNX (opset %d): %s%s", op_name(n->op),
	                o->opset, why,
	                o->custom_domain ? "" : " (--onnx-custom-domain NAME would emit it as a "
	                "non-standard op of domain NAME)");
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

/* y = a OP b for a comparison OP, bool of shape s: Equal, Less, Greater; != and the
 * non-strict ones through Not (LessOrEqual and GreaterOrEqual only exist from opset 12).
 * 0 if OP is not a comparison. */
static int compare_to(struct ox *o, enum sop sop, const char *a, const char *b, const char *y,
                      const struct ir_shape *s)
{
	const char *op = NULL, *neg = NULL;   /* neg: the op whose negation this is */
	switch (sop) {
	case SOP_EQ: op = "Equal"; break;
	case SOP_NE: neg = "Equal"; break;
	case SOP_LT: op = "Less"; break;
	case SOP_GT: op = "Greater"; break;
	case SOP_LE: op = "LessOrEqual"; neg = o->opset < 12 ? "Greater" : NULL; break;
	case SOP_GE: op = "GreaterOrEqual"; neg = o->opset < 12 ? "Less" : NULL; break;
	default: return 0;
	}
	if (neg)
		ox_op1(o, "Not", ox_op2(o, neg, a, b, ox_tmp(o, DT_BOOL, s)), y);
	else
		ox_op2(o, op, a, b, y);
	return 1;
}

static int is_comparison(enum sop op) { return op >= SOP_EQ && op <= SOP_GE; }

static void e_compare(struct ox *o, struct ir_node *n)
{
	if (!is_comparison(n->a.sop.op)) {
		unsupported(o, n, "comparison '%s'", sop_names[n->a.sop.op]);
		return;
	}
	compare_to(o, n->a.sop.op, ox_val(o, n->in[0]), ox_val(o, n->in[1]), ox_out(o, n->out[0]),
	           &V(o, n->out[0])->shape);
}

/* ---- run-time numbers (int, float, bool) as 0-D tensors: int64, double, bool ---- */

static const struct ir_shape scalar_shape = {.rank = 0};

/* x (of type from, shape s) as type to: itself, or a Cast into y (a helper if y is NULL). */
static const char *cast_to(struct ox *o, const char *x, enum dtype from, enum dtype to,
                           const struct ir_shape *s, const char *y)
{
	if (from == to && !y)
		return x;
	if (!y)
		y = ox_tmp(o, to, s);
	if (from == to)
		return ox_op1(o, "Identity", x, y);
	ox_attr_int(o, ox_node(o, "Cast", &x, 1, &y, 1), "to", ox_dtype(to));
	return y;
}

/* Operand k of a scalar node, as type dt. */
static const char *scalar_in(struct ox *o, struct ir_node *n, int k, enum dtype dt)
{
	return cast_to(o, ox_val(o, n->in[k]), ox_vdtype(o, n->in[k]), dt, &scalar_shape, NULL);
}

/* Python's a // b and a % b: on ints, Mod (fmod=0 takes the divisor's sign, as Python
 * does) and the exact quotient (a - a % b) / b; on floats, floor(a / b) and a - b*floor(a/b). */
static void floordiv_mod(struct ox *o, struct ir_node *n, enum dtype dt, const char *y)
{
	const char *a = scalar_in(o, n, 0, dt), *b = scalar_in(o, n, 1, dt);
	int mod = n->a.sop.op == SOP_MOD;
	if (dt == DT_I64) {
		const char *in[2] = {a, b};
		const char *r = mod ? y : ox_tmp(o, dt, &scalar_shape);
		ox_attr_int(o, ox_node(o, "Mod", in, 2, &r, 1), "fmod", 0);
		if (!mod)
			ox_op2(o, "Div", ox_op2(o, "Sub", a, r, ox_tmp(o, dt, &scalar_shape)), b, y);
		return;
	}
	const char *d = ox_op2(o, "Div", a, b, ox_tmp(o, dt, &scalar_shape));
	const char *q = ox_op1(o, "Floor", d, mod ? ox_tmp(o, dt, &scalar_shape) : y);
	if (mod)
		ox_op2(o, "Sub", a, ox_op2(o, "Mul", b, q, ox_tmp(o, dt, &scalar_shape)), y);
}

static void e_scalar(struct ox *o, struct ir_node *n)
{
	enum sop op = n->a.sop.op;
	enum dtype yt = ox_vdtype(o, n->out[0]);
	enum dtype at = ox_vdtype(o, n->in[0]), bt = n->nin > 1 ? ox_vdtype(o, n->in[1]) : at;
	const char *y = ox_out(o, n->out[0]);
	if (yt == DT_UNKNOWN || at == DT_UNKNOWN || bt == DT_UNKNOWN) {
		unsupported(o, n, "operands that are not numbers");
		return;
	}
	/* comparisons: bools with bools, else as double if either is a float, else int64 */
	enum dtype ct = at == DT_F64 || bt == DT_F64 ? DT_F64
	                : at == DT_BOOL && bt == DT_BOOL ? DT_BOOL : DT_I64;
	switch (op) {
	case SOP_ADD: case SOP_SUB: case SOP_MUL: {
		static const char *const name[] = {[SOP_ADD] = "Add", [SOP_SUB] = "Sub", [SOP_MUL] = "Mul"};
		ox_op2(o, name[op], scalar_in(o, n, 0, yt), scalar_in(o, n, 1, yt), y);
		break;
	}
	case SOP_DIV:   /* true division, in double */
		cast_to(o, ox_op2(o, "Div", scalar_in(o, n, 0, DT_F64), scalar_in(o, n, 1, DT_F64),
		                  yt == DT_F64 ? y : ox_tmp(o, DT_F64, &scalar_shape)),
		        DT_F64, yt, &scalar_shape, yt == DT_F64 ? NULL : y);
		break;
	case SOP_FLOORDIV: case SOP_MOD:
		floordiv_mod(o, n, yt, y);
		break;
	case SOP_POW:   /* in double, as C's pow */
		cast_to(o, ox_op2(o, "Pow", scalar_in(o, n, 0, DT_F64), scalar_in(o, n, 1, DT_F64),
		                  yt == DT_F64 ? y : ox_tmp(o, DT_F64, &scalar_shape)),
		        DT_F64, yt, &scalar_shape, yt == DT_F64 ? NULL : y);
		break;
	case SOP_EQ: case SOP_NE: case SOP_LT: case SOP_LE: case SOP_GT: case SOP_GE:
		if (ct == DT_BOOL && op != SOP_EQ && op != SOP_NE)
			ct = DT_I64;   /* Less/Greater have no bool form */
		compare_to(o, op, scalar_in(o, n, 0, ct), scalar_in(o, n, 1, ct), y, &scalar_shape);
		break;
	case SOP_AND: case SOP_OR:
		ox_op2(o, op == SOP_AND ? "And" : "Or", scalar_in(o, n, 0, DT_BOOL),
		       scalar_in(o, n, 1, DT_BOOL), y);
		break;
	case SOP_NOT: ox_op1(o, "Not", scalar_in(o, n, 0, DT_BOOL), y); break;
	case SOP_NEG: ox_op1(o, "Neg", scalar_in(o, n, 0, yt), y); break;
	case SOP_INT: case SOP_FLOAT: case SOP_BOOL:   /* Cast truncates, as C and Python do */
		cast_to(o, ox_val(o, n->in[0]), at, yt, &scalar_shape, y);
		break;
	default: unreachable();
	}
}

/* item: a one-element tensor -> a number (Reshape to 0-D, Cast to the number's type) */
static void e_item(struct ox *o, struct ir_node *n)
{
	struct ir_value *x = V(o, n->in[0]);
	enum dtype yt = ox_vdtype(o, n->out[0]);
	if (shape_numel(&x->shape) != 1 || yt == DT_UNKNOWN) {
		unsupported(o, n, "only a one-element tensor converts to a number");
		return;
	}
	const char *t = ox_val(o, n->in[0]), *y = ox_out(o, n->out[0]);
	if (x->shape.rank) {
		const int64_t none[1] = {0};
		const char *in[2] = {t, ox_ints(o, none, 0)};
		const char *r = x->dtype == yt ? y : ox_tmp(o, x->dtype, &scalar_shape);
		ox_node(o, "Reshape", in, 2, &r, 1);
		if (r == y)
			return;
		t = r;
	}
	cast_to(o, t, x->dtype, yt, &scalar_shape, y);
}

/* from_scalar: a number -> a tensor of one element (Cast, and Reshape unless 0-D) */
static void e_from_scalar(struct ox *o, struct ir_node *n)
{
	struct ir_value *y = V(o, n->out[0]);
	enum dtype xt = ox_vdtype(o, n->in[0]);
	if (shape_numel(&y->shape) != 1 || xt == DT_UNKNOWN) {
		unsupported(o, n, "only a number converts to a one-element tensor");
		return;
	}
	const char *x = ox_val(o, n->in[0]), *yn = ox_out(o, n->out[0]);
	if (!y->shape.rank) {
		cast_to(o, x, xt, y->dtype, &scalar_shape, yn);
		return;
	}
	const char *t = cast_to(o, x, xt, y->dtype, &scalar_shape, NULL);
	const char *in[2] = {t, ox_ints(o, y->shape.dims, y->shape.rank)};
	ox_node(o, "Reshape", in, 2, &yn, 1);
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

/* ---- recurrent layers ---- */

/* One ONNX LSTM / GRU node per layer (both directions in one node): weights restacked to
 * [dirs, G*H, K] with the gates in ONNX's order (LSTM i,o,f,c from PyTorch's i,f,g,o; GRU
 * z,r,h from r,z,n, with linear_before_reset=1, which is PyTorch's GRU), B the two biases
 * side by side. x goes to [T, B, F] by a Transpose when batch_first; between layers and at
 * the end, Y [T, dirs, B, H] becomes [T, B, dirs*H] (or [B, T, dirs*H]) by Transpose and
 * Reshape; hn / cn are the layers' Y_h / Y_c concatenated. */

/* The stacked W, R or B initializer of layer l (which: 0 w_ih, 1 w_hh, 2 biases), or NULL
 * (reported) when a weight is not a constant. */
static const char *rnn_weight(struct ox *o, struct ir_node *n, int l, int which)
{
	const struct rnn_attr *r = &n->a.rnn;
	int lstm = n->op == OP_LSTM, G = lstm ? 4 : 3, dirs = r->bidirectional ? 2 : 1;
	int first = lstm ? 3 : 2, nw = r->has_biases ? 4 : 2;
	static const int lstm_gate[4] = {0, 3, 1, 2}, gru_gate[3] = {1, 0, 2};
	const int *gate = lstm ? lstm_gate : gru_gate;
	int64_t H = r->hidden, K = 0;
	enum dtype dt = V(o, n->in[0])->dtype;
	size_t es = dtype_size(dt);
	const void *src[2][2] = {{0}};   /* [dir][part] */
	int parts = which == 2 ? 2 : 1;
	for (int d = 0; d < dirs; d++)
		for (int p = 0; p < parts; p++) {
			uint32_t v = n->in[first + (l * dirs + d) * nw + which + p];
			const struct ir_const *c = ir_const_of(o->m, v);
			if (!c || c->kind != CK_TENSOR || !c->data || V(o, v)->dtype != dt) {
				unsupported(o, n, "its weights must be constants");
				return NULL;
			}
			src[d][p] = c->data;
			K = which == 2 ? H : V(o, v)->shape.dims[1];
		}
	int64_t cols = which == 2 ? 1 : K;   /* elements per gate row */
	int64_t per = parts * G * H * cols;  /* elements per direction */
	unsigned char *buf = arena_alloc(o->a, (size_t)(dirs * per) * es + 1);
	for (int d = 0; d < dirs; d++)
		for (int p = 0; p < parts; p++)
			for (int g = 0; g < G; g++)
				memcpy(buf + (size_t)(d * per + (p * G + g) * H * cols) * es,
				       (const unsigned char *)src[d][p] + (size_t)(gate[g] * H * cols) * es,
				       (size_t)(H * cols) * es);
	struct ir_shape s = {.rank = which == 2 ? 2 : 3, .dims = {dirs, parts * G * H, K}};
	static const char *const what[3] = {"W", "R", "B"};
	const char *hint = n->scope && *n->scope ? arena_printf(o->a, "%s.%s_l%d", n->scope, what[which], l)
	                                         : arena_printf(o->a, "%s_%s_l%d", op_name(n->op), what[which], l);
	return ox_initializer(o, hint, dt, &s, buf);
}

/* Rows [l*dirs, (l+1)*dirs) of a [layers*dirs, B, H] state. */
static const char *rnn_state(struct ox *o, struct ir_node *n, uint32_t v, int l)
{
	const struct rnn_attr *r = &n->a.rnn;
	int dirs = r->bidirectional ? 2 : 1;
	if (r->layers == 1)
		return ox_val(o, v);
	struct ir_shape s = V(o, v)->shape;
	s.dims[0] = dirs;
	int64_t b = l * dirs, e = (l + 1) * dirs, axis = 0;
	const char *in[4] = {ox_val(o, v), ox_ints(o, &b, 1), ox_ints(o, &e, 1), ox_ints(o, &axis, 1)};
	const char *y = ox_tmp(o, V(o, v)->dtype, &s);
	ox_node(o, "Slice", in, 4, &y, 1);
	return y;
}

static void e_rnn(struct ox *o, struct ir_node *n)
{
	const struct rnn_attr *r = &n->a.rnn;
	int lstm = n->op == OP_LSTM, dirs = r->bidirectional ? 2 : 1, nst = lstm ? 2 : 1;
	struct ir_value *xv = V(o, n->in[0]);
	enum dtype dt = xv->dtype;
	if (xv->shape.rank != 3 || n->nin != (lstm ? 3 : 2) + r->layers * dirs * (r->has_biases ? 4 : 2)) {
		unsupported(o, n, "expects a 3-D input and every layer's weights");
		return;
	}
	for (int k = lstm ? 3 : 2; k < n->nin; k++) {   /* before making any node */
		const struct ir_const *c = ir_const_of(o->m, n->in[k]);
		if (!c || c->kind != CK_TENSOR || !c->data || V(o, n->in[k])->dtype != xv->dtype) {
			unsupported(o, n, "its weights must be constants of the input's type");
			return;
		}
	}
	int64_t T = xv->shape.dims[r->batch_first ? 1 : 0], B = xv->shape.dims[r->batch_first ? 0 : 1];
	int64_t H = r->hidden;
	const char *x = ox_val(o, n->in[0]);
	if (r->batch_first) {
		struct ir_shape ts = {.rank = 3, .dims = {T, B, xv->shape.dims[2]}};
		const int64_t perm[3] = {1, 0, 2};
		const char *t = ox_tmp(o, dt, &ts);
		ox_attr_ints(o, ox_node(o, "Transpose", &x, 1, &t, 1), "perm", perm, 3);
		x = t;
	}
	struct ir_shape ys = {.rank = 4, .dims = {T, dirs, B, H}}, hs = {.rank = 3, .dims = {dirs, B, H}};
	const char **hn = arena_alloc(o->a, sizeof *hn * (size_t)(2 * r->layers + 1));
	const char **cn = hn + r->layers;
	for (int l = 0; l < r->layers; l++) {
		const char *in[7] = {x, rnn_weight(o, n, l, 0), rnn_weight(o, n, l, 1),
		                     r->has_biases ? rnn_weight(o, n, l, 2) : "", "",
		                     rnn_state(o, n, n->in[1], l), lstm ? rnn_state(o, n, n->in[2], l) : ""};
		if (!in[1] || !in[2] || !in[3])
			return;
		const char *out[3] = {ox_tmp(o, dt, &ys), ox_tmp(o, dt, &hs), lstm ? ox_tmp(o, dt, &hs) : ""};
		hn[l] = out[1];
		cn[l] = out[2];
		Onnx__NodeProto *nd = ox_node(o, lstm ? "LSTM" : "GRU", in, lstm ? 7 : 6, out, 1 + nst);
		ox_attr_int(o, nd, "hidden_size", H);
		ox_attr_str(o, nd, "direction", dirs == 2 ? "bidirectional" : "forward");
		if (!lstm)
			ox_attr_int(o, nd, "linear_before_reset", 1);
		/* Y [T, dirs, B, H] -> [T, B, dirs*H], or [B, T, dirs*H] for the batch_first output */
		int last = l == r->layers - 1, bf = last && r->batch_first;
		const int64_t perm[4] = {bf ? 2 : 0, bf ? 0 : 2, 1, 3};
		struct ir_shape ps = {.rank = 4, .dims = {bf ? B : T, bf ? T : B, dirs, H}};
		struct ir_shape fs = {.rank = 3, .dims = {ps.dims[0], ps.dims[1], dirs * H}};
		const char *p = ox_tmp(o, dt, &ps);
		ox_attr_ints(o, ox_node(o, "Transpose", &out[0], 1, &p, 1), "perm", perm, 4);
		const char *rin[2] = {p, ox_ints(o, fs.dims, 3)};
		const char *y = last ? ox_out(o, n->out[0]) : ox_tmp(o, dt, &fs);
		ox_node(o, "Reshape", rin, 2, &y, 1);
		x = y;
	}
	for (int k = 0; k < nst; k++) {
		const char *y = ox_out(o, n->out[1 + k]);
		const char **parts = k ? cn : hn;
		if (r->layers == 1)
			ox_op1(o, "Identity", parts[0], y);
		else
			ox_attr_int(o, ox_node(o, "Concat", parts, r->layers, &y, 1), "axis", 0);
	}
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
 * with kernel = stride = input / output (PyTorch's bins are then exactly those windows); to
 * a multiple of the input's, each element repeated. */
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
	if (out[0] % s->dims[2] == 0 && out[1] % s->dims[3] == 0) {
		/* an output that is a multiple of the input: each bin holds one input element, so
		 * the pool repeats each element kh x kw times (alexnet's 6x6 pool of a 1x1 map):
		 * [N,C,H,1,W,1] expanded to [N,C,H,kh,W,kw], then reshaped to the output */
		enum dtype dt = V(o, n->in[0])->dtype;
		int64_t kh = out[0] / s->dims[2], kw = out[1] / s->dims[3];
		struct ir_shape r6 = {.rank = 6, .dims = {s->dims[0], s->dims[1], s->dims[2], 1,
		                                          s->dims[3], 1}};
		struct ir_shape e6 = r6;
		e6.dims[3] = kh;
		e6.dims[5] = kw;
		const char *in[2] = {x, ox_ints(o, r6.dims, 6)};
		const char *r = ox_tmp(o, dt, &r6);
		ox_node(o, "Reshape", in, 2, &r, 1);
		const char *ein[2] = {r, ox_ints(o, e6.dims, 6)};
		const char *e = ox_tmp(o, dt, &e6);
		ox_node(o, "Expand", ein, 2, &e, 1);
		const struct ir_shape *ys = &V(o, n->out[0])->shape;
		const char *yin[2] = {e, ox_ints(o, ys->dims, ys->rank)};
		const char *y = ox_out(o, n->out[0]);
		ox_node(o, "Reshape", yin, 2, &y, 1);
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
	[OP_SCALAR] = e_scalar, [OP_ITEM] = e_item, [OP_FROM_SCALAR] = e_from_scalar,
	[OP_LSTM] = e_rnn, [OP_GRU] = e_rnn,
	/* structural ops with an ONNX form (IF, LOOP, RAISE) are emit_block's */
};

int emit_onnx_custom_domain_ok(const char *name)
{
	return *name && strcmp(name, "ai.onnx") != 0 && strncmp(name, "ai.onnx.", 8) != 0;
}

int emit_onnx_has_op(enum op op)
{
	return op >= 0 && op < OP_COUNT && emit_op[op] != NULL;
}

/* ---- the graph's inputs, outputs and schema ---- */

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

/* ---- control flow: If and Loop with subgraphs; raise ---- */

static void emit_block(struct ox *o, struct ir_block *b);

static struct ir_node *first_raise(struct ox *o, struct ir_block *b);

/* Whether block b certainly raises: a raise at its top level, or an if whose branches both
 * do. */
static int block_raises(struct ox *o, struct ir_block *b)
{
	return first_raise(o, b) != NULL;
}

/* The raise that makes block b raise, or NULL if it need not. */
static struct ir_node *first_raise(struct ox *o, struct ir_block *b)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(o->m, VEC_AT(&b->nodes, uint32_t, i));
		if (n->dead)
			continue;
		if (n->op == OP_RAISE)
			return n;
		if (n->op == OP_IF && block_raises(o, n->blocks[0]) && block_raises(o, n->blocks[1]))
			return first_raise(o, n->blocks[0]);
	}
	return NULL;
}

static const char *raise_message(struct ox *o, struct ir_node *n)
{
	const struct ir_const *c = n->nin ? ir_const_of(o->m, n->in[0]) : NULL;
	return c && c->kind == CK_STR ? c->s : "an exception";
}

/* raise: ONNX has no standard operator that raises. With --onnx-custom-domain, a node
 * NAME.Raise (attribute "message") with a bool output (unused; a node needs one) and,
 * after it, the values the raising branch returns (never computed). Without, e_if leaves the check out, so only a raise that
 * is not in a branch of an if gets here: an error. */
static void e_raise(struct ox *o, struct ir_node *n)
{
	if (!o->custom_domain) {
		unsupported(o, n, "ONNX has no operator that raises an exception ('%s'), and this "
		            "one is not in a branch of an if", raise_message(o, n));
		return;
	}
	const char *flag = ox_unique(o, "raised");   /* a node needs an output */
	VEC_PUSH(o->a, &o->vinfo, Onnx__ValueInfoProto *,
	         ox_value_info(o, flag, DT_BOOL, &scalar_shape));
	Onnx__NodeProto *nd = ox_node(o, "Raise", NULL, 0, &flag, 1);
	nd->domain = (char *)o->custom_domain;
	ox_attr_str(o, nd, "message", raise_message(o, n));
	o->ncustom++;
	o->raise_nd = nd;
}

/* Whether a node of the graph being built outputs name. */
static int made_here(struct ox *o, const char *name)
{
	for (size_t i = 0; i < o->nodes.len; i++) {
		Onnx__NodeProto *nd = VEC_AT(&o->nodes, Onnx__NodeProto *, i);
		for (size_t k = 0; k < nd->n_output; k++)
			if (strcmp(nd->output[k], name) == 0)
				return 1;
	}
	return 0;
}

/* Block b of node `owner` as a graph. A Loop body (loop) takes the iteration number, the
 * condition (unused: the IR body does not read it) and the carried values, and returns the
 * condition and the carried values; an If branch takes nothing and returns the If's
 * outputs, or, for an If without outputs (only a raise in it), its condition. Results
 * that are not made by a node of the graph, or repeat, go through an Identity. */
static Onnx__GraphProto *subgraph(struct ox *o, uint32_t owner, struct ir_block *b,
                                  const char *name, int loop)
{
	struct ir_node *n = ir_node(o->m, owner);
	struct vec nodes = o->nodes, vinfo = o->vinfo;
	Onnx__NodeProto *raise = o->raise_nd;
	o->nodes = (struct vec){0};
	o->vinfo = (struct vec){0};
	o->raise_nd = NULL;
	Onnx__GraphProto *g = arena_alloc(o->a, sizeof *g);
	*g = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
	g->name = (char *)ox_unique(o, name);
	if (loop) {
		g->input = arena_alloc(o->a, sizeof *g->input * (size_t)(b->nparams + 2));
		for (int k = 0; k < b->nparams; k++) {
			uint32_t p = b->params[k];
			o->vname[p] = ox_unique(o, arena_printf(o->a, "t%u", p));
			o->vinfo_done[p] = 1;
			g->input[g->n_input++] = ox_value_info(o, o->vname[p], ox_vdtype(o, p), ox_vshape(o, p));
			if (k == 0)
				g->input[g->n_input++] = ox_value_info(
					o, ox_unique(o, arena_printf(o->a, "%s_cond", g->name)), DT_BOOL, &scalar_shape);
		}
	}
	emit_block(o, b);
	o->cur = owner;
	int nres = b->nrets ? b->nrets : 1;
	g->output = arena_alloc(o->a, sizeof *g->output * (size_t)(nres + 1));
	for (int k = 0; k < nres; k++) {
		uint32_t r = b->nrets ? b->rets[k] : n->in[0];
		uint32_t tv = loop && k == 0 ? IR_NONE : b->nrets ? n->out[loop ? k - 1 : k] : r;
		enum dtype dt = tv == IR_NONE ? DT_BOOL : ox_vdtype(o, tv);
		const struct ir_shape *sh = tv == IR_NONE ? &scalar_shape : ox_vshape(o, tv);
		const struct ir_const *c = ir_const_of(o->m, r);
		const char *rn = ox_unique(o, arena_printf(o->a, "%s_out%d", g->name, k));
		if (c && c->kind == CK_NONE && o->raise_nd) {   /* never computed: the branch raises */
			Onnx__NodeProto *nd = o->raise_nd;
			char **outs = arena_alloc(o->a, sizeof *outs * (nd->n_output + 2));
			if (nd->n_output)
				memcpy(outs, nd->output, sizeof *outs * nd->n_output);
			outs[nd->n_output++] = (char *)rn;
			nd->output = outs;
		} else {
			const char *v = ox_val(o, r);
			int again = 0;
			for (int j = 0; j < k; j++)
				again |= strcmp(g->output[j]->name, v) == 0;
			if (made_here(o, v) && !again)
				rn = v;
			else
				ox_op1(o, "Identity", v, rn);
		}
		g->output[g->n_output++] = ox_value_info(o, rn, dt, sh);
	}
	g->n_node = o->nodes.len;
	g->node = (Onnx__NodeProto **)o->nodes.data;
	g->n_value_info = o->vinfo.len;
	g->value_info = (Onnx__ValueInfoProto **)o->vinfo.data;
	o->nodes = nodes;
	o->vinfo = vinfo;
	o->raise_nd = raise;
	return g;
}

/* if: an ONNX If, unless one branch raises and no custom domain is allowed: ONNX cannot
 * raise, so the check is left out (with a warning) and the other branch is emitted in
 * place. Outputs are numbers or tensors with one shape on both paths (shapes.c). */
static void e_if(struct ox *o, uint32_t id, struct ir_node *n)
{
	struct ir_node *rz[2] = {first_raise(o, n->blocks[0]), first_raise(o, n->blocks[1])};
	if (!o->custom_domain && (rz[0] || rz[1])) {
		if (rz[0] && rz[1]) {
			unsupported(o, n, "both branches raise an exception ('%s'), which ONNX cannot "
			            "express", raise_message(o, rz[0]));
			return;
		}
		struct ir_node *rn = rz[0] ? rz[0] : rz[1];
		struct ir_block *keep = n->blocks[rz[0] ? 1 : 0];
		diag_warn(o->ctx, rn->loc, "ONNX cannot raise an exception: the check that raises '%s' "
		          "is left out of the ONNX model (--onnx-custom-domain NAME keeps it as the "
		          "non-standard op NAME.Raise)", raise_message(o, rn));
		emit_block(o, keep);
		o->cur = id;
		for (int k = 0; k < n->nout; k++) {
			uint32_t y = n->out[k];
			if (o->vname[y]) {   /* a graph output: named already */
				ox_op1(o, "Identity", ox_val(o, keep->rets[k]), ox_out(o, y));
			} else {
				o->vname[y] = ox_val(o, keep->rets[k]);
				o->vinfo_done[y] = 1;
			}
		}
		return;
	}
	const char *c = ox_val(o, n->in[0]);
	if (ox_vdtype(o, n->in[0]) != DT_BOOL)
		c = cast_to(o, c, ox_vdtype(o, n->in[0]), DT_BOOL, &scalar_shape, NULL);
	Onnx__GraphProto *g[2];
	for (int k = 0; k < 2; k++)
		g[k] = subgraph(o, id, n->blocks[k], arena_printf(o->a, "%s_%u", k ? "else" : "then", id), 0);
	int nout = n->nout ? n->nout : 1;
	const char **out = arena_alloc(o->a, sizeof *out * (size_t)(nout + 1));
	for (int k = 0; k < nout; k++)
		out[k] = n->nout ? ox_out(o, n->out[k]) : ox_tmp(o, DT_BOOL, &scalar_shape);
	Onnx__NodeProto *nd = ox_node(o, "If", &c, 1, out, nout);
	ox_attr_graph(o, nd, "then_branch", g[0]);
	ox_attr_graph(o, nd, "else_branch", g[1]);
}

/* loop(trip, cond, carried...): an ONNX Loop; the trip count is left out when it is
 * "forever" (a while loop), the body is block 0 (see subgraph). */
static void e_loop(struct ox *o, uint32_t id, struct ir_node *n)
{
	struct ir_block *body = n->blocks[0];
	int nc = n->nin - 2;
	int64_t trip;
	if (nc < 1 || body->nparams != nc + 1 || body->nrets != nc + 1 ||
	    ox_vdtype(o, n->in[1]) != DT_BOOL) {
		unsupported(o, n, "a loop must carry at least one value and have a bool condition");
		return;
	}
	const char **in = arena_alloc(o->a, sizeof *in * (size_t)(n->nin + 1));
	in[0] = ir_get_int(o->m, n->in[0], &trip) && trip == INT64_MAX ? "" : ox_val(o, n->in[0]);
	for (int k = 1; k < n->nin; k++)
		in[k] = ox_val(o, n->in[k]);
	Onnx__GraphProto *g = subgraph(o, id, body, arena_printf(o->a, "loop_%u", id), 1);
	const char **out = arena_alloc(o->a, sizeof *out * (size_t)(nc + 1));
	for (int k = 0; k < nc; k++)
		out[k] = ox_out(o, n->out[k]);
	ox_attr_graph(o, ox_node(o, "Loop", in, n->nin, out, nc), "body", g);
}

static void emit_block(struct ox *o, struct ir_block *b)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(o->m, id);
		if (n->dead || n->op == OP_CONST)
			continue;
		o->cur = id;
		o->ntmp = 0;
		if (n->op == OP_IF)
			e_if(o, id, n);
		else if (n->op == OP_LOOP)
			e_loop(o, id, n);
		else if (n->op == OP_RAISE)
			e_raise(o, n);
		else if (emit_op[n->op])
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
	if (opt->custom_domain && !emit_onnx_custom_domain_ok(opt->custom_domain))
		diag_error(ctx, (struct loc){.file = m->source},
		           "--onnx-custom-domain '%s': a custom domain needs a name of its own, not "
		           "empty and not ONNX's (ai.onnx...)", opt->custom_domain);
	o.custom_domain = opt->custom_domain;
	Onnx__GraphProto *g = arena_alloc(o.a, sizeof *g);
	*g = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
	g->name = (char *)(opt->model_name ? opt->model_name : "kiln");
	int *alias = name_io(&o, g);
	emit_block(&o, ir_main(m)->body);
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
	ox_prune(&o, g);
	const char *doc = opt->command_line
	                      ? arena_printf(o.a, "Generated by kiln %s: %s", KILN_VERSION,
	                                     opt->command_line)
	                      : "Generated by kiln " KILN_VERSION;
	ox_write(&o, opt->out_path, g, doc, ir_schema_json(m));
	return 0;
}
