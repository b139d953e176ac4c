/* caffe2_read.c: the Caffe2 reader. A NetDef pair, as detectron2's Caffe2Model.save_protobuf
 * (or kiln --emit=caffe2) writes it, becomes an IR module whose main function takes the
 * predict net's data inputs and returns its external outputs, built directly from
 * canonical ops (ops.def), so every pass and backend works from Caffe2 as from TorchScript;
 * with --emit=c this replaces Caffe2Model.load_protobuf + __call__.
 *
 * Both files are decoded by protobuf-c (schema: proto/caffe2.proto, cmake/caffe2.cmake)
 * with its own allocator (see unpack) and freed once read, on errors too (the reading runs
 * under a nested kiln_protect). The init net is run at compile time: each of its ops must
 * be a fill (GivenTensor{,Double,Int,Int64,Bool}Fill, ConstantFill) and makes a constant
 * tensor named by its output blob. As in Caffe2's ProtobufModel, every external
 * input of the predict net that the init net does not make is a model input; NetDefs carry
 * no input shapes, so they come from --input-shape (one per input, in order).
 *
 * Blobs are SSA'd by rebinding: an op writing a blob (in place or not) makes a new IR value
 * that later readers of the name see. Each Caffe2 op type has a reader in ops[] that emits
 * one or a few canonical IR ops, typed at once (shapes_node) since Caffe2's Reshape, FC,
 * Softmax and Flatten depend on their input's shape. Secondary outputs kiln does not model
 * (Reshape's old shape, Concat's split sizes, LayerNorm's mean and std) are names that
 * must not be read. An unknown op type, a blob nothing defines, or an argument kiln cannot
 * honour is an error naming the file and the op: `model.pb: op #3 'conv1' (Conv): error:`.
 * Linear in the size of the nets, apart from the per-name hash table.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "proto/caffe2.pb-c.h"

#define MAX_NET_BYTES ((size_t)1 << 31)
#define SECONDARY (IR_NONE - 1)   /* a blob name bound to an output kiln does not model */
#define MAX_CONSTANT_FILL ((int64_t)1 << 26)   /* elements a ConstantFill may make */

struct c2r {
	struct kiln_ctx *ctx;
	struct ir_module *m;
	struct ir_block *b;
	const char *path;            /* the predict net's file (or the init net's, while read) */
	struct strmap names;         /* blob name -> IR value */
	Caffe2__OperatorDef *op;     /* being read */
	struct loc loc;              /* of that op */
};

static struct arena *A(struct c2r *r) { return &r->ctx->arena; }
static struct ir_value *V(struct c2r *r, uint32_t v) { return ir_val(r->m, v); }

static _Noreturn __attribute__((format(printf, 2, 3))) void err(struct c2r *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	diag_error(r->ctx, r->loc, "%s", msg);
}

/* ---- the blob table ---- */

static uint32_t *slot(struct c2r *r, const char *name, int create)
{
	return strmap_slot(A(r), &r->names, name, create);
}

static uint32_t lookup(struct c2r *r, const char *name)
{
	uint32_t *s = slot(r, name, 0);
	return s ? *s : IR_NONE;
}

/* Bind blob name (copied: the nets are freed after reading) to v. */
static void bind(struct c2r *r, const char *name, uint32_t v)
{
	name = arena_strdup(A(r), name);
	*slot(r, name, 1) = v;
	if (v != SECONDARY && !V(r, v)->name)
		V(r, v)->name = name;
}

/* ---- arguments ---- */

static Caffe2__Argument *arg(struct c2r *r, const char *name)
{
	for (size_t i = 0; i < r->op->n_arg; i++)
		if (r->op->arg[i]->name && strcmp(r->op->arg[i]->name, name) == 0)
			return r->op->arg[i];
	return NULL;
}

static int64_t arg_i(struct c2r *r, const char *name, int64_t def)
{
	Caffe2__Argument *a = arg(r, name);
	if (!a)
		return def;
	if (!a->has_i)
		err(r, "argument '%s' is not an integer", name);
	return a->i;
}

/* An int argument that must fit [lo, hi]. */
static int arg_int(struct c2r *r, const char *name, int64_t def, int64_t lo, int64_t hi)
{
	int64_t v = arg_i(r, name, def);
	if (v < lo || v > hi)
		err(r, "argument '%s' is %lld, outside [%lld, %lld]", name, (long long)v, (long long)lo,
		    (long long)hi);
	return (int)v;
}

static float arg_f(struct c2r *r, const char *name, float def)
{
	Caffe2__Argument *a = arg(r, name);
	if (!a)
		return def;
	if (a->has_f)
		return a->f;
	if (a->has_i)
		return (float)a->i;
	err(r, "argument '%s' is not a number", name);
}

/* A string argument as a NUL-terminated copy, or NULL. */
static const char *arg_s(struct c2r *r, const char *name)
{
	Caffe2__Argument *a = arg(r, name);
	if (!a)
		return NULL;
	if (!a->has_s)
		err(r, "argument '%s' is not a string", name);
	return arena_strndup(A(r), (const char *)a->s.data, a->s.len);
}

static const int64_t *arg_ints(struct c2r *r, const char *name, int *n)
{
	Caffe2__Argument *a = arg(r, name);
	*n = 0;
	if (!a)
		return NULL;
	if (a->n_ints > 1024)
		err(r, "argument '%s' has too many values", name);
	*n = (int)a->n_ints;
	return a->ints;
}

/* ---- building IR ---- */

static void n_in(struct c2r *r, size_t lo, size_t hi)
{
	if (r->op->n_input < lo || r->op->n_input > hi)
		err(r, "takes %zu to %zu inputs, has %zu", lo, hi, r->op->n_input);
	if (r->op->n_output < 1)
		err(r, "has no output");
}

static uint32_t in(struct c2r *r, size_t k)
{
	const char *name = r->op->input[k];
	uint32_t v = lookup(r, name);
	if (v == SECONDARY)
		err(r, "input '%s' is a secondary output (shape or statistics) of an earlier op, "
		    "which kiln does not compute", name);
	if (v == IR_NONE)
		err(r, "input '%s' is not produced by any earlier op, the init net or an external "
		    "input", name);
	return v;
}

static const struct ir_shape *S(struct c2r *r, uint32_t v) { return &V(r, v)->shape; }

#define MAX_ELEMS ((int64_t)1 << 40)   /* elements of any tensor a net may describe */

/* A shape the net asks for: every dim in [0, 2^40] and at most 2^40 elements (so that no
 * product of its dims overflows). */
static void check_shape(struct c2r *r, const struct ir_shape *s, const char *what)
{
	int64_t n = 1;
	for (int k = 0; k < s->rank; k++) {
		if (s->dims[k] < 0 || s->dims[k] > MAX_ELEMS)
			err(r, "%s: dimension %d is %lld", what, k, (long long)s->dims[k]);
		if (s->dims[k] && n > MAX_ELEMS / s->dims[k])
			err(r, "%s has more than 2^40 elements", what);
		n *= s->dims[k];
	}
}

static uint32_t new_node(struct c2r *r, enum op op, const uint32_t *ins, int nin)
{
	uint32_t id = ir_add_node(r->m, r->b, op, ins, nin, 1);
	ir_node(r->m, id)->loc = r->loc;
	return id;
}

/* Type node id and return its output, which must now be typed. */
static uint32_t finish(struct c2r *r, uint32_t id)
{
	shapes_node(r->m, id);
	struct ir_node *n = ir_node(r->m, id);
	struct ir_value *v = V(r, n->out[0]);
	v->loc = r->loc;
	if (v->kind != VK_TENSOR || !v->dtype || shape_numel(&v->shape) < 0)
		err(r, "cannot infer the shape of the result of '%s'", op_name(n->op));
	return n->out[0];
}

static uint32_t op1(struct c2r *r, enum op op, uint32_t x)
{
	return finish(r, new_node(r, op, &x, 1));
}

static uint32_t op2(struct c2r *r, enum op op, uint32_t a, uint32_t b)
{
	uint32_t ins[2] = {a, b};
	uint32_t id = new_node(r, op, ins, 2);
	if (op_info[op].attr == A_binary)
		ir_node(r->m, id)->a.binary.alpha = 1.0f;
	return finish(r, id);
}

static uint32_t reshape(struct c2r *r, uint32_t x, const struct ir_shape *to)
{
	check_shape(r, to, "the new shape");
	if (shape_numel(to) != shape_numel(S(r, x)))
		err(r, "cannot reshape %lld elements into %lld", (long long)shape_numel(S(r, x)),
		    (long long)shape_numel(to));
	uint32_t id = new_node(r, OP_RESHAPE, &x, 1);
	V(r, ir_node(r->m, id)->out[0])->shape = *to;
	return finish(r, id);
}

/* x as [prod(dims[:axis]), prod(dims[axis:])] */
static struct ir_shape flat2(struct c2r *r, const struct ir_shape *s, int axis)
{
	struct ir_shape o = {.rank = 2, .dims = {1, 1}};
	if (axis < 0 || axis > s->rank)
		err(r, "axis %d is out of range for a rank-%d input", axis, s->rank);
	for (int k = 0; k < s->rank; k++)
		o.dims[k >= axis] *= s->dims[k];
	return o;
}

/* A float value an integer tensor is to hold: finite and within int64's range. */
static int64_t to_int(struct c2r *r, double f)
{
	if (!(f >= -9.2e18 && f <= 9.2e18))
		err(r, "the value %g does not fit an integer tensor", f);
	return (int64_t)f;
}

static uint32_t scalar(struct c2r *r, enum dtype dt, double v)
{
	struct ir_shape s0 = {.rank = 0};
	void *d = arena_alloc(A(r), 8);
	if (dt == DT_F64)
		memcpy(d, &v, 8);
	else if (dt == DT_F32)
		*(float *)d = (float)v;
	else if (dt == DT_I64)
		*(int64_t *)d = to_int(r, v);
	else if (dt == DT_I32)
		*(int32_t *)d = (int32_t)(uint32_t)(uint64_t)to_int(r, v);
	else
		err(r, "a %s scalar operand is not supported", dtype_name(dt));
	return ir_const_tensor(r->m, r->b, dt, &s0, d, NULL);
}

static int norm_axis(struct c2r *r, int64_t axis, int rank)
{
	if (axis < -rank || axis >= rank)
		err(r, "axis %lld is out of range for a rank-%d input", (long long)axis, rank);
	return (int)(axis < 0 ? axis + rank : axis);
}

static void out(struct c2r *r, size_t k, uint32_t v)
{
	if (k < r->op->n_output)
		bind(r, r->op->output[k], v);
}

/* Bind output 0 to v, the others to SECONDARY. */
static void result(struct c2r *r, uint32_t v)
{
	out(r, 0, v);
	for (size_t k = 1; k < r->op->n_output; k++)
		bind(r, r->op->output[k], SECONDARY);
}

/* ---- fills (the init net, or constants in the predict net) ---- */

static enum dtype c2_dtype(int64_t t)
{
	switch (t) {
	case CAFFE2__TENSOR_PROTO__DATA_TYPE__FLOAT: return DT_F32;
	case CAFFE2__TENSOR_PROTO__DATA_TYPE__DOUBLE: return DT_F64;
	case CAFFE2__TENSOR_PROTO__DATA_TYPE__INT32: return DT_I32;
	case CAFFE2__TENSOR_PROTO__DATA_TYPE__INT64: return DT_I64;
	case CAFFE2__TENSOR_PROTO__DATA_TYPE__BOOL: return DT_BOOL;
	case CAFFE2__TENSOR_PROTO__DATA_TYPE__INT8: return DT_I8;
	case CAFFE2__TENSOR_PROTO__DATA_TYPE__UINT8: return DT_U8;
	case CAFFE2__TENSOR_PROTO__DATA_TYPE__INT16: return DT_I16;
	case CAFFE2__TENSOR_PROTO__DATA_TYPE__FLOAT16: return DT_F16;
	default: return DT_UNKNOWN;
	}
}

static struct ir_shape fill_shape(struct c2r *r)
{
	int n;
	const int64_t *d = arg_ints(r, "shape", &n);
	struct ir_shape s = {.rank = n};
	if (n > KILN_MAX_RANK)
		err(r, "rank %d is too large", n);
	for (int k = 0; k < n; k++)
		s.dims[k] = d[k];
	check_shape(r, &s, "'shape'");
	return s;
}

/* Element i of a fill, stored as dt: the float f (is_float) or the integer iv. Integers
 * wrap to int32 as Caffe2's int32 fills do. */
static void put(struct c2r *r, void *d, enum dtype dt, int64_t i, double f, int64_t iv,
                int is_float)
{
	int64_t n = is_float && dt != DT_F32 && dt != DT_F64 && dt != DT_BOOL ? to_int(r, f) : iv;
	switch (dt) {
	case DT_F32: ((float *)d)[i] = is_float ? (float)f : (float)iv; break;
	case DT_F64: ((double *)d)[i] = is_float ? f : (double)iv; break;
	case DT_I32: ((int32_t *)d)[i] = (int32_t)(uint32_t)(uint64_t)n; break;
	case DT_I64: ((int64_t *)d)[i] = n; break;
	case DT_BOOL: ((uint8_t *)d)[i] = is_float ? f != 0 : iv != 0; break;
	default: break;
	}
}

static void r_fill(struct c2r *r)
{
	static const struct { const char *type; enum dtype dt; int floats; } fills[] = {
		{"GivenTensorFill", DT_F32, 1}, {"GivenTensorDoubleFill", DT_F64, 1},
		{"GivenTensorIntFill", DT_I32, 0}, {"GivenTensorInt64Fill", DT_I64, 0},
		{"GivenTensorBoolFill", DT_BOOL, 0},
	};
	Caffe2__OperatorDef *op = r->op;
	if (op->n_input || op->n_output != 1)
		err(r, "a fill takes no input and has one output");
	struct ir_shape s = fill_shape(r);
	int64_t n = shape_numel(&s);
	enum dtype dt = DT_UNKNOWN;
	int floats = 0;
	for (size_t i = 0; i < sizeof fills / sizeof *fills; i++)
		if (strcmp(op->type, fills[i].type) == 0) {
			dt = fills[i].dt;
			floats = fills[i].floats;
		}
	void *d;
	if (dt) {
		Caffe2__Argument *a = arg(r, "values");
		size_t have = !a ? 0 : floats ? a->n_floats : a->n_ints;
		if (!a || have != (size_t)n)
			err(r, "'values' has %zu %s; 'shape' needs %lld", have, floats ? "floats" : "ints",
			    (long long)n);
		d = arena_alloc(A(r), (size_t)n * dtype_size(dt) + 8);
		if (dt == DT_F32)
			memcpy(d, a->floats, (size_t)n * sizeof(float));
		else
			for (int64_t i = 0; i < n; i++)
				put(r, d, dt, i, floats ? a->floats[i] : 0, floats ? 0 : a->ints[i], floats);
	} else {   /* ConstantFill */
		if (n > MAX_CONSTANT_FILL)
			err(r, "a ConstantFill of %lld elements is too large", (long long)n);
		dt = c2_dtype(arg_i(r, "dtype", CAFFE2__TENSOR_PROTO__DATA_TYPE__FLOAT));
		if (dt != DT_F32 && dt != DT_F64 && dt != DT_I32 && dt != DT_I64 && dt != DT_BOOL)
			err(r, "ConstantFill of dtype %lld is not supported", (long long)arg_i(r, "dtype", 1));
		Caffe2__Argument *a = arg(r, "value");
		d = arena_alloc(A(r), (size_t)n * dtype_size(dt) + 8);
		for (int64_t i = 0; i < n; i++)
			put(r, d, dt, i, a && a->has_f ? a->f : 0, a && a->has_i ? a->i : 0, !a || a->has_f);
	}
	const char *name = arena_strdup(A(r), op->output[0]);
	bind(r, name, ir_const_tensor(r->m, r->b, dt, &s, d, name));
}

/* ---- operators ---- */

static const struct { const char *type; enum op op; } unary[] = {
	{"Relu", OP_RELU}, {"Sigmoid", OP_SIGMOID}, {"Tanh", OP_TANH}, {"Exp", OP_EXP},
	{"Log", OP_LOG}, {"Sqrt", OP_SQRT}, {"Rsqrt", OP_RSQRT}, {"Negative", OP_NEG},
	{"Abs", OP_ABS}, {"Erf", OP_ERF}, {"Swish", OP_SILU}, {"Copy", OP_IDENTITY},
	{"Alias", OP_IDENTITY}, {"StopGradient", OP_IDENTITY}, {"Dropout", OP_IDENTITY},
	{"AliasWithName", OP_IDENTITY}, {"CopyCPUToGPU", OP_IDENTITY},
	{"CopyGPUToCPU", OP_IDENTITY}, {"EnsureCPUOutput", OP_IDENTITY},
};

static void r_unary(struct c2r *r)
{
	n_in(r, 1, 1);
	for (size_t i = 0; i < sizeof unary / sizeof *unary; i++)
		if (strcmp(r->op->type, unary[i].type) == 0) {
			if (unary[i].op == OP_IDENTITY && !strcmp(r->op->type, "Dropout") &&
			    !arg_i(r, "is_test", 0))
				err(r, "Dropout in training mode (is_test=0) is not supported");
			result(r, op1(r, unary[i].op, in(r, 0)));
			return;
		}
	unreachable();
}

static void r_gelu(struct c2r *r)
{
	n_in(r, 1, 1);
	uint32_t id = new_node(r, OP_GELU, (uint32_t[]){in(r, 0)}, 1);
	ir_node(r->m, id)->a.gelu.tanh_approx = arg_i(r, "fast_gelu", 0) != 0;
	result(r, finish(r, id));
}

static void r_clip(struct c2r *r)
{
	n_in(r, 1, 1);
	uint32_t id = new_node(r, OP_CLIP, (uint32_t[]){in(r, 0)}, 1);
	ir_node(r->m, id)->a.clip.min = arg_f(r, "min", -FLT_MAX);
	ir_node(r->m, id)->a.clip.max = arg_f(r, "max", FLT_MAX);
	result(r, finish(r, id));
}

/* HardSigmoid: max(0, min(1, alpha*x + beta)); PyTorch's is alpha 1/6, beta 1/2. */
static void r_hardsigmoid(struct c2r *r)
{
	n_in(r, 1, 1);
	float alpha = arg_f(r, "alpha", 0.2f), beta = arg_f(r, "beta", 0.5f);
	uint32_t x = in(r, 0);
	if (alpha == 1.0f / 6.0f && beta == 0.5f) {
		result(r, op1(r, OP_HARDSIGMOID, x));
		return;
	}
	enum dtype dt = V(r, x)->dtype;
	uint32_t t = op2(r, OP_ADD, op2(r, OP_MUL, x, scalar(r, dt, alpha)), scalar(r, dt, beta));
	uint32_t id = new_node(r, OP_CLIP, &t, 1);
	ir_node(r->m, id)->a.clip.min = 0;
	ir_node(r->m, id)->a.clip.max = 1;
	result(r, finish(r, id));
}

/* B of a binary op with the legacy `broadcast=1, axis=k`: B's dims placed at axis k of A. */
static uint32_t legacy_b(struct c2r *r, uint32_t a, uint32_t b)
{
	if (!arg_i(r, "broadcast", 0) || !arg(r, "axis"))
		return b;
	const struct ir_shape *sa = S(r, a), *sb = S(r, b);
	int axis = norm_axis(r, arg_i(r, "axis", -1), sa->rank);
	if (axis + sb->rank > sa->rank)
		err(r, "B's %d dims do not fit A's rank %d at axis %d", sb->rank, sa->rank, axis);
	struct ir_shape s = {.rank = sa->rank - axis};
	for (int k = 0; k < s.rank; k++)
		s.dims[k] = k < sb->rank ? sb->dims[k] : 1;
	return reshape(r, b, &s);
}

static const struct { const char *type; enum op op; enum sop cmp; } binary[] = {
	{"Add", OP_ADD, 0}, {"Sub", OP_SUB, 0}, {"Mul", OP_MUL, 0}, {"Div", OP_DIV, 0},
	{"Pow", OP_POW, 0}, {"EQ", OP_COMPARE, SOP_EQ}, {"NE", OP_COMPARE, SOP_NE},
	{"LT", OP_COMPARE, SOP_LT}, {"LE", OP_COMPARE, SOP_LE}, {"GT", OP_COMPARE, SOP_GT},
	{"GE", OP_COMPARE, SOP_GE},
};

static void r_binary(struct c2r *r)
{
	for (size_t i = 0; i < sizeof binary / sizeof *binary; i++) {
		if (strcmp(r->op->type, binary[i].type) != 0)
			continue;
		uint32_t a, b;
		if (binary[i].op == OP_POW && r->op->n_input == 1 && arg(r, "exponent")) {
			n_in(r, 1, 1);
			a = in(r, 0);
			b = scalar(r, V(r, a)->dtype, arg_f(r, "exponent", 1));
		} else {
			n_in(r, 2, 2);
			a = in(r, 0);
			b = legacy_b(r, a, in(r, 1));
		}
		uint32_t id = new_node(r, binary[i].op, (uint32_t[]){a, b}, 2);
		if (binary[i].op == OP_COMPARE)
			ir_node(r->m, id)->a.sop.op = binary[i].cmp;
		else
			ir_node(r->m, id)->a.binary.alpha = 1.0f;
		result(r, finish(r, id));
		return;
	}
	unreachable();
}

/* Sum, Max, Min of one or more inputs: a chain of binary ops. */
static void r_variadic(struct c2r *r)
{
	const char *t = r->op->type;
	enum op op = !strcmp(t, "Sum") ? OP_ADD : !strcmp(t, "Max") ? OP_MAXIMUM : OP_MINIMUM;
	n_in(r, 1, 1024);
	uint32_t acc = in(r, 0);
	if (r->op->n_input == 1)
		acc = op1(r, OP_IDENTITY, acc);
	for (size_t k = 1; k < r->op->n_input; k++)
		acc = op2(r, op, acc, in(r, k));
	result(r, acc);
}

static void r_scale(struct c2r *r)
{
	n_in(r, 1, 1);
	uint32_t x = in(r, 0);
	result(r, op2(r, OP_MUL, x, scalar(r, V(r, x)->dtype, arg_f(r, "scale", 1.0f))));
}

static void r_where(struct c2r *r)
{
	n_in(r, 3, 3);
	if (arg_i(r, "broadcast_on_rows", 0))
		err(r, "broadcast_on_rows is not supported");
	result(r, finish(r, new_node(r, OP_WHERE, (uint32_t[]){in(r, 0), in(r, 1), in(r, 2)}, 3)));
}

static void r_gather(struct c2r *r)
{
	n_in(r, 2, 2);
	uint32_t w = in(r, 0), idx = in(r, 1);
	if (S(r, w)->rank != 2 || arg_i(r, "axis", 0) != 0)
		err(r, "only Gather of rows (axis 0) of a 2-D tensor is supported");
	result(r, finish(r, new_node(r, OP_EMBEDDING, (uint32_t[]){w, idx}, 2)));
}

static void r_cast(struct c2r *r)
{
	n_in(r, 1, 1);
	Caffe2__Argument *a = arg(r, "to");
	enum dtype dt = a && a->has_i ? c2_dtype(a->i) : DT_UNKNOWN;
	if (!dt || dt == DT_F16 || dt == DT_I8 || dt == DT_I16)
		err(r, "argument 'to' must name a float, double, int32, int64, uint8 or bool type");
	uint32_t id = new_node(r, OP_CAST, (uint32_t[]){in(r, 0)}, 1);
	struct ir_value *y = V(r, ir_node(r->m, id)->out[0]);
	y->kind = VK_TENSOR;
	y->dtype = dt;
	result(r, finish(r, id));
}

/* The window of a conv or pool: kernel(s), stride(s), pad(s), dilation(s), in any of
 * ConvPoolOpBase's spellings. Pads must be symmetric. */
struct window { int k[2], st[2], pad[2], dil[2], has_k; };

static void pair(struct c2r *r, const char *one, const char *h, const char *w, const char *list,
                 int def, int v[2], int lo)
{
	int n;
	const int64_t *l = arg_ints(r, list, &n);
	v[0] = v[1] = arg_int(r, one, def, lo, 1 << 20);
	v[0] = arg_int(r, h, v[0], lo, 1 << 20);
	v[1] = arg_int(r, w, v[1], lo, 1 << 20);
	if (!l)
		return;
	if (n != 2)
		err(r, "argument '%s' has %d values; kiln reads 2-D windows", list, n);
	for (int k = 0; k < 2; k++) {
		if (l[k] < lo || l[k] > (1 << 20))
			err(r, "argument '%s' has the value %lld", list, (long long)l[k]);
		v[k] = (int)l[k];
	}
}

static struct window window(struct c2r *r)
{
	struct window w;
	int n, tb[2], lr[2];
	w.has_k = arg(r, "kernel") || arg(r, "kernel_h") || arg(r, "kernels");
	pair(r, "kernel", "kernel_h", "kernel_w", "kernels", 1, w.k, 1);
	pair(r, "stride", "stride_h", "stride_w", "strides", 1, w.st, 1);
	pair(r, "dilation", "dilation_h", "dilation_w", "dilations", 1, w.dil, 1);
	int p = arg_int(r, "pad", 0, 0, 1 << 20);
	tb[0] = arg_int(r, "pad_t", p, 0, 1 << 20);
	lr[0] = arg_int(r, "pad_l", p, 0, 1 << 20);
	tb[1] = arg_int(r, "pad_b", p, 0, 1 << 20);
	lr[1] = arg_int(r, "pad_r", p, 0, 1 << 20);
	const int64_t *l = arg_ints(r, "pads", &n);
	if (l) {
		if (n != 4)
			err(r, "argument 'pads' has %d values; kiln reads 2-D windows (4 pads)", n);
		for (int k = 0; k < 4; k++)
			if (l[k] < 0 || l[k] > (1 << 20))
				err(r, "argument 'pads' has the value %lld", (long long)l[k]);
		tb[0] = (int)l[0], lr[0] = (int)l[1], tb[1] = (int)l[2], lr[1] = (int)l[3];
	}
	if (tb[0] != tb[1] || lr[0] != lr[1])
		err(r, "asymmetric padding (top %d, left %d, bottom %d, right %d) is not supported",
		    tb[0], lr[0], tb[1], lr[1]);
	w.pad[0] = tb[0];
	w.pad[1] = lr[0];
	const char *order = arg_s(r, "order");
	if (order && strcmp(order, "NCHW") != 0)
		err(r, "order '%s' is not supported (kiln reads NCHW)", order);
	return w;
}

static void r_conv(struct c2r *r)
{
	n_in(r, 2, 3);
	uint32_t x = in(r, 0), w = in(r, 1), b = r->op->n_input > 2 ? in(r, 2) : IR_NONE;
	struct window win = window(r);
	const struct ir_shape *ws = S(r, w);
	if (ws->rank != 4)
		err(r, "the filter is rank %d; kiln reads 2-D convolutions (rank-4 filters)", ws->rank);
	if (win.has_k && (win.k[0] != ws->dims[2] || win.k[1] != ws->dims[3]))
		err(r, "kernel %dx%d does not match the filter's %lldx%lld", win.k[0], win.k[1],
		    (long long)ws->dims[2], (long long)ws->dims[3]);
	if (arg_i(r, "legacy_pad", 0))
		err(r, "legacy_pad is not supported for Conv");
	uint32_t ins[3] = {x, w, b};
	uint32_t id = new_node(r, OP_CONV2D, ins, b == IR_NONE ? 2 : 3);
	struct conv_attr *a = &ir_node(r->m, id)->a.conv;
	memcpy(a->stride, win.st, sizeof a->stride);
	memcpy(a->pad, win.pad, sizeof a->pad);
	memcpy(a->dil, win.dil, sizeof a->dil);
	a->groups = arg_int(r, "group", 1, 1, 1 << 20);
	result(r, finish(r, id));
}

/* FC(X, W, b): X flattened to 2-D at axis, times W^T, plus b; out X.dims[:axis] + [N]. */
static void r_fc(struct c2r *r)
{
	n_in(r, 3, 3);
	uint32_t x = in(r, 0), w = in(r, 1), b = in(r, 2);
	const struct ir_shape *xs = S(r, x);
	if (S(r, w)->rank != 2 || arg_i(r, "axis_w", 1) != 1)
		err(r, "the weight must be 2-D (axis_w 1)");
	int axis = norm_axis(r, arg_i(r, "axis", 1), xs->rank > 0 ? xs->rank : 1);
	struct ir_shape os = {.rank = axis + 1};
	for (int k = 0; k < axis; k++)
		os.dims[k] = xs->dims[k];
	os.dims[axis] = S(r, w)->dims[0];
	if (axis != xs->rank - 1) {
		struct ir_shape f = flat2(r, xs, axis);
		x = reshape(r, x, &f);
	}
	uint32_t y = finish(r, new_node(r, OP_LINEAR, (uint32_t[]){x, w, b}, 3));
	if (!shape_eq(S(r, y), &os))
		y = reshape(r, y, &os);
	result(r, y);
}

/* a^T of the last two dims (any rank >= 2) */
static uint32_t transpose_last(struct c2r *r, uint32_t a)
{
	int rank = S(r, a)->rank;
	if (rank < 2)
		err(r, "cannot transpose a rank-%d operand", rank);
	uint32_t id = new_node(r, OP_PERMUTE, &a, 1);
	int *p = ir_node(r->m, id)->a.perm.perm;
	for (int k = 0; k < KILN_MAX_RANK; k++)
		p[k] = k;   /* past the rank: the identity, as the IR printer expects */
	p[rank - 2] = rank - 1;
	p[rank - 1] = rank - 2;
	return finish(r, id);
}

static void r_matmul(struct c2r *r)
{
	n_in(r, 2, 2);
	uint32_t a = in(r, 0), b = in(r, 1);
	if (!strcmp(r->op->type, "MatMul") &&
	    (S(r, a)->rank != 2 || S(r, b)->rank != 2))
		err(r, "MatMul of rank-%d and rank-%d operands; kiln reads 2-D MatMul",
		    S(r, a)->rank, S(r, b)->rank);
	if (arg_i(r, "trans_a", 0))
		a = transpose_last(r, a);
	if (arg_i(r, "trans_b", 0))
		b = transpose_last(r, b);
	result(r, op2(r, OP_MATMUL, a, b));
}

static void r_pool(struct c2r *r)
{
	n_in(r, 1, 1);
	int avg = !strncmp(r->op->type, "Average", 7);
	uint32_t x = in(r, 0);
	if (S(r, x)->rank != 4)
		err(r, "the input is rank %d; kiln reads 2-D pooling of NCHW tensors", S(r, x)->rank);
	struct window w = window(r);
	int lp = arg_int(r, "legacy_pad", 0, 0, 3);
	if (lp != 0 && lp != 3)
		err(r, "legacy_pad %d is not supported (0 or 3, CAFFE_LEGACY_POOLING)", lp);
	if (arg_i(r, "global_pooling", 0)) {
		uint32_t id = new_node(r, avg ? OP_ADAPTIVE_AVGPOOL2D : OP_ADAPTIVE_MAXPOOL2D, &x, 1);
		ir_node(r->m, id)->a.pool.out[0] = ir_node(r->m, id)->a.pool.out[1] = 1;
		result(r, finish(r, id));
		return;
	}
	if (2 * w.pad[0] > w.k[0] || 2 * w.pad[1] > w.k[1])
		err(r, "padding larger than half the kernel is not supported");
	uint32_t id = new_node(r, avg ? OP_AVGPOOL2D : OP_MAXPOOL2D, &x, 1);
	struct pool_attr *p = &ir_node(r->m, id)->a.pool;
	memcpy(p->kernel, w.k, sizeof p->kernel);
	memcpy(p->stride, w.st, sizeof p->stride);
	memcpy(p->pad, w.pad, sizeof p->pad);
	memcpy(p->dil, w.dil, sizeof p->dil);
	p->ceil_mode = lp == 3;
	p->count_include_pad = avg && arg_i(r, "count_include_pad", 0);
	result(r, finish(r, id));
}

/* Softmax flattens to 2-D at axis (default 1) and normalizes the rows. */
static void r_softmax(struct c2r *r)
{
	n_in(r, 1, 1);
	uint32_t x = in(r, 0);
	struct ir_shape xs = *S(r, x);
	int axis = norm_axis(r, arg_i(r, "axis", 1), xs.rank);
	int flat = axis != xs.rank - 1;
	if (flat) {
		struct ir_shape f = flat2(r, &xs, axis);
		x = reshape(r, x, &f);
	}
	uint32_t id = new_node(r, OP_SOFTMAX, &x, 1);
	ir_node(r->m, id)->a.axis.axis = S(r, x)->rank - 1;
	uint32_t y = finish(r, id);
	result(r, flat ? reshape(r, y, &xs) : y);
}

static void r_spatialbn(struct c2r *r)
{
	n_in(r, 5, 5);
	if (!arg_i(r, "is_test", 0))
		err(r, "SpatialBN in training mode (is_test=0) is not supported");
	const char *order = arg_s(r, "order");
	if (order && strcmp(order, "NCHW") != 0)
		err(r, "order '%s' is not supported (kiln reads NCHW)", order);
	uint32_t ins[5];
	for (size_t k = 0; k < 5; k++)
		ins[k] = in(r, k);
	uint32_t id = new_node(r, OP_BATCHNORM, ins, 5);
	ir_node(r->m, id)->a.norm.eps = arg_f(r, "epsilon", 1e-5f);
	ir_node(r->m, id)->a.norm.axis = 1;
	result(r, finish(r, id));
}

static void r_layernorm(struct c2r *r)
{
	n_in(r, 1, 3);
	uint32_t x = in(r, 0);
	int affine = arg_i(r, "elementwise_affine", 0) != 0;
	if (affine != (r->op->n_input == 3))
		err(r, "elementwise_affine=%d needs %d inputs, has %zu", affine, affine ? 3 : 1,
		    r->op->n_input);
	uint32_t ins[3] = {x, affine ? in(r, 1) : IR_NONE, affine ? in(r, 2) : IR_NONE};
	uint32_t id = new_node(r, OP_LAYERNORM, ins, affine ? 3 : 1);
	ir_node(r->m, id)->a.norm.eps = arg_f(r, "epsilon", 1e-5f);
	ir_node(r->m, id)->a.norm.axis = norm_axis(r, arg_i(r, "axis", 1), S(r, x)->rank);
	result(r, finish(r, id));
}

static void r_reduce(struct c2r *r)
{
	static const struct { const char *type; enum op op; } red[] = {
		{"ReduceMean", OP_REDUCE_MEAN}, {"ReduceSum", OP_REDUCE_SUM},
		{"ReduceMax", OP_REDUCE_MAX}, {"ReduceMin", OP_REDUCE_MIN},
	};
	n_in(r, 1, 1);
	uint32_t x = in(r, 0);
	int rank = S(r, x)->rank, n;
	const int64_t *ax = arg_ints(r, "axes", &n);
	unsigned axes = ax ? 0 : (1u << rank) - 1;
	for (int k = 0; k < n; k++)
		axes |= 1u << norm_axis(r, ax[k], rank);
	enum op op = OP_REDUCE_MEAN;
	for (size_t i = 0; i < sizeof red / sizeof *red; i++)
		if (!strcmp(r->op->type, red[i].type))
			op = red[i].op;
	uint32_t id = new_node(r, op, &x, 1);
	ir_node(r->m, id)->a.reduce.axes = axes;
	ir_node(r->m, id)->a.reduce.keepdim = arg_i(r, "keepdims", 1) != 0;
	result(r, finish(r, id));
}

/* Reshape(X[, shape]): the target from the `shape` argument or a constant second input;
 * 0 copies the input's dim, -1 is inferred. */
static void r_reshape(struct c2r *r)
{
	n_in(r, 1, 2);
	uint32_t x = in(r, 0);
	const struct ir_shape *xs = S(r, x);
	int n = 0;
	const int64_t *d = arg_ints(r, "shape", &n);
	int64_t buf[KILN_MAX_RANK];
	if (r->op->n_input == 2) {
		uint32_t sv = in(r, 1);
		const struct ir_const *c = ir_const_of(r->m, sv);
		enum dtype dt = V(r, sv)->dtype;
		if (!c || c->kind != CK_TENSOR || (dt != DT_I64 && dt != DT_I32) || S(r, sv)->rank != 1)
			err(r, "the new shape must be a constant 1-D int tensor from the init net");
		n = (int)S(r, sv)->dims[0];
		if (n > KILN_MAX_RANK)
			err(r, "rank %d is too large", n);
		for (int k = 0; k < n; k++)
			buf[k] = dt == DT_I64 ? ((const int64_t *)c->data)[k] : ((const int32_t *)c->data)[k];
		d = buf;
	} else if (!d) {
		err(r, "no 'shape' argument nor shape input");
	}
	if (n > KILN_MAX_RANK)
		err(r, "rank %d is too large", n);
	struct ir_shape s = {.rank = n};
	int infer = -1;
	for (int k = 0; k < n; k++) {
		if (d[k] == -1 && infer < 0) {
			infer = k;
			s.dims[k] = 1;
		} else if (d[k] == 0 && k < xs->rank) {
			s.dims[k] = xs->dims[k];
		} else if (d[k] > 0 && d[k] <= MAX_ELEMS) {
			s.dims[k] = d[k];
		} else {
			err(r, "dimension %d of the new shape is %lld", k, (long long)d[k]);
		}
	}
	check_shape(r, &s, "the new shape");
	int64_t known = shape_numel(&s);
	if (infer >= 0) {
		if (known == 0 || shape_numel(xs) % known)
			err(r, "cannot infer dimension %d: %lld elements into blocks of %lld", infer,
			    (long long)shape_numel(xs), (long long)known);
		s.dims[infer] = shape_numel(xs) / known;
	}
	result(r, reshape(r, x, &s));
}

static void r_flatten(struct c2r *r)
{
	n_in(r, 1, 1);
	uint32_t x = in(r, 0);
	struct ir_shape s = *S(r, x);
	if (!strcmp(r->op->type, "FlattenToVec")) {
		s.rank = 1;
		s.dims[0] = shape_numel(S(r, x));
	} else {
		s = flat2(r, &s, arg_int(r, "axis", 1, 0, KILN_MAX_RANK));
	}
	result(r, reshape(r, x, &s));
}

/* Squeeze(dims) drops size-1 dims; ExpandDims(dims) inserts them (dims of the output). */
static void r_squeeze(struct c2r *r)
{
	n_in(r, 1, 1);
	uint32_t x = in(r, 0);
	const struct ir_shape *xs = S(r, x);
	int n, sq = !strcmp(r->op->type, "Squeeze");
	const int64_t *d = arg_ints(r, "dims", &n);
	int rank = sq ? xs->rank : xs->rank + n;
	if (rank > KILN_MAX_RANK)
		err(r, "rank %d is too large", rank);
	unsigned mark = 0;
	for (int k = 0; k < n; k++)
		mark |= 1u << norm_axis(r, d[k], rank);
	struct ir_shape s = {.rank = 0};
	for (int k = 0, j = 0; k < rank; k++) {
		int marked = mark >> k & 1;
		if (sq && marked && xs->dims[k] != 1)
			err(r, "dimension %d is %lld, not 1", k, (long long)xs->dims[k]);
		if (sq && !marked)
			s.dims[s.rank++] = xs->dims[k];
		else if (!sq)
			s.dims[s.rank++] = marked ? 1 : xs->dims[j++];
	}
	result(r, reshape(r, x, &s));
}

static void r_transpose(struct c2r *r)
{
	n_in(r, 1, 1);
	uint32_t x = in(r, 0);
	int rank = S(r, x)->rank, n;
	const int64_t *ax = arg_ints(r, "axes", &n);
	if (ax && n != rank)
		err(r, "'axes' has %d values for a rank-%d input", n, rank);
	uint32_t id = new_node(r, OP_PERMUTE, &x, 1);
	int *p = ir_node(r->m, id)->a.perm.perm;
	unsigned seen = 0;
	for (int k = rank; k < KILN_MAX_RANK; k++)
		p[k] = k;   /* past the rank: the identity, as the IR printer expects */
	for (int k = 0; k < rank; k++) {
		p[k] = ax ? norm_axis(r, ax[k], rank) : rank - 1 - k;
		if (seen >> p[k] & 1)
			err(r, "'axes' is not a permutation");
		seen |= 1u << p[k];
	}
	result(r, finish(r, id));
}

/* Slice(X) with starts/ends per dim; a negative index i means dim + 1 + i. */
static void r_slice(struct c2r *r)
{
	n_in(r, 1, 1);
	uint32_t x = in(r, 0);
	int rank = S(r, x)->rank, ns, ne;
	const int64_t *st = arg_ints(r, "starts", &ns), *en = arg_ints(r, "ends", &ne);
	if (!st || !en || ns != ne || ns > rank)
		err(r, "needs 'starts' and 'ends' of equal length, at most the input's rank %d", rank);
	for (int k = 0; k < ns; k++) {
		int64_t dim = S(r, x)->dims[k];
		int64_t s = st[k] < 0 ? st[k] + dim + 1 : st[k], e = en[k] < 0 ? en[k] + dim + 1 : en[k];
		if (s < 0 || e > dim || s > e)
			err(r, "dimension %d: [%lld, %lld) is not within [0, %lld]", k, (long long)st[k],
			    (long long)en[k], (long long)dim);
		if (s == 0 && e == dim)
			continue;
		uint32_t id = new_node(r, OP_SLICE, &x, 1);
		ir_node(r->m, id)->a.slice = (struct slice_attr){k, s, e, 1};
		x = finish(r, id);
	}
	result(r, x == in(r, 0) ? op1(r, OP_IDENTITY, x) : x);
}

static void r_concat(struct c2r *r)
{
	n_in(r, 1, 1024);
	if (arg_i(r, "add_axis", 0))
		err(r, "add_axis is not supported");
	uint32_t *ins = arena_alloc(A(r), sizeof *ins * r->op->n_input);
	for (size_t k = 0; k < r->op->n_input; k++)
		ins[k] = in(r, k);
	uint32_t id = new_node(r, OP_CONCAT, ins, (int)r->op->n_input);
	ir_node(r->m, id)->a.axis.axis = norm_axis(r, arg_i(r, "axis", 1), S(r, ins[0])->rank);
	result(r, finish(r, id));
}

/* Expand(X, shape): NumPy broadcasting of X to the constant shape. */
static void r_expand(struct c2r *r)
{
	n_in(r, 2, 2);
	uint32_t x = in(r, 0), sv = in(r, 1);
	const struct ir_const *c = ir_const_of(r->m, sv);
	const struct ir_shape *xs = S(r, x);
	if (!c || c->kind != CK_TENSOR || V(r, sv)->dtype != DT_I64 || S(r, sv)->rank != 1)
		err(r, "the shape must be a constant 1-D int64 tensor");
	int n = (int)S(r, sv)->dims[0];
	struct ir_shape s = {.rank = n > xs->rank ? n : xs->rank};
	if (s.rank > KILN_MAX_RANK)
		err(r, "rank %d is too large", s.rank);
	for (int k = 0; k < s.rank; k++) {
		int ix = k - (s.rank - xs->rank), is = k - (s.rank - n);
		int64_t a = ix >= 0 ? xs->dims[ix] : 1;
		int64_t b = is >= 0 ? ((const int64_t *)c->data)[is] : 1;
		if (b == -1)
			b = 1;
		if (a != b && a != 1 && b != 1)
			err(r, "dimension %d: %lld does not broadcast to %lld", k, (long long)a, (long long)b);
		if (b < 0 || b > MAX_ELEMS)
			err(r, "dimension %d of the shape is %lld", k, (long long)b);
		s.dims[k] = a == 1 ? b : a;
	}
	check_shape(r, &s, "the expanded shape");
	uint32_t id = new_node(r, OP_EXPAND, &x, 1);
	V(r, ir_node(r->m, id)->out[0])->shape = s;
	result(r, finish(r, id));
}

static void r_padimage(struct c2r *r)
{
	n_in(r, 1, 1);
	uint32_t x = in(r, 0);
	const char *mode = arg_s(r, "mode");
	if (mode && strcmp(mode, "constant") != 0)
		err(r, "mode '%s' is not supported (constant only)", mode);
	if (S(r, x)->rank != 4)
		err(r, "the input is rank %d; PadImage pads NCHW tensors", S(r, x)->rank);
	struct window w = window(r);
	uint32_t id = new_node(r, OP_PAD, &x, 1);
	struct pad_attr *p = &ir_node(r->m, id)->a.pad;
	p->before[2] = p->after[2] = w.pad[0];
	p->before[3] = p->after[3] = w.pad[1];
	p->value = arg_f(r, "value", 0);
	result(r, finish(r, id));
}

typedef void c2_read_fn(struct c2r *r);

static const struct { const char *type; c2_read_fn *fn; } ops[] = {
	{"GivenTensorFill", r_fill}, {"GivenTensorDoubleFill", r_fill},
	{"GivenTensorIntFill", r_fill}, {"GivenTensorInt64Fill", r_fill},
	{"GivenTensorBoolFill", r_fill}, {"ConstantFill", r_fill},
	{"Relu", r_unary}, {"Sigmoid", r_unary}, {"Tanh", r_unary}, {"Exp", r_unary},
	{"Log", r_unary}, {"Sqrt", r_unary}, {"Rsqrt", r_unary}, {"Negative", r_unary},
	{"Abs", r_unary}, {"Erf", r_unary}, {"Swish", r_unary}, {"Copy", r_unary},
	{"Alias", r_unary}, {"StopGradient", r_unary}, {"Dropout", r_unary},
	{"AliasWithName", r_unary}, {"CopyCPUToGPU", r_unary}, {"CopyGPUToCPU", r_unary},
	{"EnsureCPUOutput", r_unary},
	{"Gelu", r_gelu}, {"Clip", r_clip}, {"HardSigmoid", r_hardsigmoid},
	{"Add", r_binary}, {"Sub", r_binary}, {"Mul", r_binary}, {"Div", r_binary},
	{"Pow", r_binary}, {"EQ", r_binary}, {"NE", r_binary}, {"LT", r_binary},
	{"LE", r_binary}, {"GT", r_binary}, {"GE", r_binary},
	{"Sum", r_variadic}, {"Max", r_variadic}, {"Min", r_variadic}, {"Scale", r_scale},
	{"Where", r_where}, {"Gather", r_gather}, {"Cast", r_cast},
	{"Conv", r_conv}, {"FC", r_fc}, {"MatMul", r_matmul}, {"BatchMatMul", r_matmul},
	{"MaxPool", r_pool}, {"AveragePool", r_pool}, {"MaxPool2D", r_pool},
	{"AveragePool2D", r_pool},
	{"Softmax", r_softmax}, {"SpatialBN", r_spatialbn}, {"LayerNorm", r_layernorm},
	{"ReduceMean", r_reduce}, {"ReduceSum", r_reduce}, {"ReduceMax", r_reduce},
	{"ReduceMin", r_reduce},
	{"Reshape", r_reshape}, {"Flatten", r_flatten}, {"FlattenToVec", r_flatten},
	{"Squeeze", r_squeeze}, {"ExpandDims", r_squeeze}, {"Transpose", r_transpose},
	{"Slice", r_slice}, {"Concat", r_concat}, {"Expand", r_expand},
	{"PadImage", r_padimage},
};

static void set_loc(struct c2r *r, Caffe2__OperatorDef *op, size_t i)
{
	const char *type = op->type ? op->type : "";
	r->op = op;
	if (op->name && op->name[0])
		r->loc = (struct loc){.file = r->path,
		                      .node = arena_printf(A(r), "op #%zu '%s' (%s)", i, op->name, type)};
	else
		r->loc = (struct loc){.file = r->path, .node = arena_printf(A(r), "op #%zu (%s)", i, type)};
}

static void read_op(struct c2r *r, int init)
{
	Caffe2__OperatorDef *op = r->op;
	if (!op->type || !op->type[0])
		err(r, "the op has no type");
	for (size_t k = 0; k < op->n_output; k++)
		if (!op->output[k][0])
			err(r, "output %zu has no name", k);
	if (op->engine && op->engine[0] && strcmp(op->engine, "CUDNN") != 0 &&
	    strcmp(op->engine, "DEFAULT") != 0)
		err(r, "engine '%s' is not supported", op->engine);
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
		if (strcmp(op->type, ops[i].type) != 0)
			continue;
		if (init && ops[i].fn != r_fill)
			err(r, "the init net may only fill constants (GivenTensor*Fill, ConstantFill)");
		ops[i].fn(r);
		return;
	}
	err(r, "unsupported Caffe2 operator '%s'", op->type);
}

/* protobuf-c's own malloc allocator, not the arena: an unpacked repeated field (how Caffe2
 * writes `values`) costs protobuf-c a 32-byte scan record per element while it unpacks, which
 * it frees at once; an arena would keep them until the end of the compilation (4 GB for a
 * VGG). The nets are freed as soon as they are read, so nothing in the IR points into them. */
static Caffe2__NetDef *unpack(const uint8_t *data, size_t len)
{
	return caffe2__net_def__unpack(NULL, len, data);
}

/* The predict net's external inputs the init net did not make become the model inputs. */
static void read_inputs(struct c2r *r, Caffe2__NetDef *net, const struct input_spec *spec,
                        int nspec)
{
	struct ir_func *f = ir_main(r->m);
	const char **names = arena_alloc(A(r), sizeof *names * (net->n_external_input + 1));
	int np = 0;
	for (size_t i = 0; i < net->n_external_input; i++) {
		const char *name = net->external_input[i];
		r->loc = (struct loc){.file = r->path, .node = arena_printf(A(r), "input '%s'", name)};
		if (lookup(r, name) != IR_NONE) {
			if (ir_const_of(r->m, lookup(r, name)))
				continue;   /* a weight */
			err(r, "the net lists this external input twice");
		}
		if (np >= nspec) {
			np++;
			continue;
		}
		for (int k = 0; k < spec[np].shape.rank; k++)
			if (spec[np].shape.sym[k])
				err(r, "symbolic dimension '%s' is not supported by the C backend yet",
				    spec[np].shape.sym[k]);
		check_shape(r, &spec[np].shape, "--input-shape");
		uint32_t v = ir_add_param(r->m, r->b, VK_TENSOR);
		V(r, v)->dtype = spec[np].dtype ? spec[np].dtype : DT_F32;
		V(r, v)->shape = spec[np].shape;
		V(r, v)->loc = r->loc;
		names[np++] = arena_strdup(A(r), name);
		bind(r, name, v);
	}
	if (np != nspec)
		diag_error(r->ctx, (struct loc){.file = r->path}, "the net takes %d input%s but %d "
		           "%s given (NetDefs carry no input shapes: use one --input-shape per input, "
		           "in order)", np, np == 1 ? "" : "s", nspec, nspec == 1 ? "shape was" : "shapes were");
	f->arg_names = names;
}

static void read_outputs(struct c2r *r, Caffe2__NetDef *net)
{
	if (!net->n_external_output)
		diag_error(r->ctx, (struct loc){.file = r->path}, "the net has no external outputs");
	uint32_t *rets = arena_alloc(A(r), sizeof *rets * net->n_external_output);
	for (size_t i = 0; i < net->n_external_output; i++) {
		const char *name = net->external_output[i];
		r->loc = (struct loc){.file = r->path, .node = arena_printf(A(r), "output '%s'", name)};
		uint32_t v = lookup(r, name);
		if (v == IR_NONE || v == SECONDARY)
			err(r, "no op computes this output");
		if (V(r, v)->def == IR_NONE || ir_const_of(r->m, v))
			v = op1(r, OP_IDENTITY, v);   /* an input or a constant as an output: a copy */
		rets[i] = v;
	}
	ir_set_rets(r->m, r->b, rets, (int)net->n_external_output);
}

/* What c2_read hands to read_nets under kiln_protect. */
struct c2_job {
	struct c2r *r;
	Caffe2__NetDef *init, *net;
	const char *init_path, *pb_path;
	const struct input_spec *spec;
	int nspec;
};

static void read_nets(struct kiln_ctx *ctx, void *arg)
{
	struct c2_job *j = arg;
	struct c2r *r = j->r;
	for (int k = 0; k < 2; k++) {
		Caffe2__NetDef *n = k ? j->net : j->init;
		const char *path = k ? j->pb_path : j->init_path;
		if (!n)
			diag_error(ctx, (struct loc){.file = path},
			           "not a valid Caffe2 NetDef (truncated or corrupt protobuf)");
		if (n->n_op > ((size_t)1 << 24))
			diag_error(ctx, (struct loc){.file = path}, "the net has too many ops");
	}
	for (size_t i = 0; i < j->init->n_op; i++) {
		set_loc(r, j->init->op[i], i);
		read_op(r, 1);
	}
	r->path = j->pb_path;
	read_inputs(r, j->net, j->spec, j->nspec);
	for (size_t i = 0; i < j->net->n_op; i++) {
		set_loc(r, j->net->op[i], i);
		read_op(r, 0);
	}
	read_outputs(r, j->net);
}

struct ir_module *c2_read(struct kiln_ctx *ctx, const char *pb_path, const uint8_t *pb,
                          size_t pb_len, const char *init_path, const uint8_t *init,
                          size_t init_len, const struct input_spec *spec, int nspec)
{
	struct c2r r = {.ctx = ctx, .path = init_path};
	r.m = ir_module_new(ctx, pb_path);
	r.b = ir_new_func(r.m, "forward")->body;
	struct c2_job j = {&r, unpack(init, init_len), NULL, init_path, pb_path, spec, nspec};
	if (j.init)
		j.net = unpack(pb, pb_len);
	int bad = kiln_protect(ctx, read_nets, &j);
	if (j.init)
		caffe2__net_def__free_unpacked(j.init, NULL);
	if (j.net)
		caffe2__net_def__free_unpacked(j.net, NULL);
	if (bad)
		diag_check(ctx);   /* the diagnostic is recorded: unwind on */
	arena_reset(&ctx->scratch);
	return r.m;
}

static uint8_t *slurp(struct kiln_ctx *ctx, const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fatal("cannot open %s:", path);
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= MAX_NET_BYTES) {
		/* a regular file: one allocation of its size (weights can be hundreds of MB) */
		uint8_t *p = arena_alloc(&ctx->arena, (size_t)st.st_size + 1);
		size_t got = fread(p, 1, (size_t)st.st_size + 1, f);
		if (got == (size_t)st.st_size && !ferror(f)) {
			fclose(f);
			*len = got;
			return p;
		}
		rewind(f);   /* it changed while read: read it again, in chunks */
	}
	struct vec buf = {0};
	unsigned char chunk[65536];
	size_t got;
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (buf.len + got > MAX_NET_BYTES) {
			fclose(f);
			diag_error(ctx, (struct loc){.file = path}, "the file is larger than 2 GB");
		}
		vec_reserve(&ctx->arena, &buf, 1, buf.len + got);
		memcpy((char *)buf.data + buf.len, chunk, got);
		buf.len += got;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad)
		fatal("cannot read %s:", path);
	*len = buf.len;
	return buf.data ? buf.data : arena_alloc(&ctx->arena, 1);
}

struct ir_module *c2_load(struct kiln_ctx *ctx, const char *pb_path, const char *init_path,
                          const struct input_spec *spec, int nspec)
{
	size_t pl, il;
	uint8_t *pb = slurp(ctx, pb_path, &pl), *init = slurp(ctx, init_path, &il);
	return c2_read(ctx, pb_path, pb, pl, init_path, init, il, spec, nspec);
}
