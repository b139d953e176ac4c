/* onnx_read.c: the ONNX reader. An .onnx file (ModelProto, opsets 1 to 18 of the default
 * domain; legacy attributes of opsets before 7 that change results, like broadcast=1 and
 * training-mode batch norm, are diagnostics) becomes an IR module whose main function takes the graph's inputs and returns
 * its outputs, built directly from canonical ops (ops.def), so every pass and backend
 * works from ONNX as from TorchScript.
 *
 * The protobuf is decoded by protobuf-c (schema: the system's onnx.proto, cmake/onnx.cmake)
 * with the context's arena as its allocator, so an error anywhere unwinds without leaks.
 * Initializers become constant tensors named by their ONNX names; graph inputs that are
 * also initializers are weights. Input shapes come from the graph's types, or from
 * --input-shape (needed where a dimension is symbolic or unknown).
 *
 * Nodes are read in dependency order (a topological sort: a cycle or an input that nothing
 * defines is a diagnostic). Each ONNX op has a reader in ops[] that emits one or a few
 * canonical IR ops; every IR node is typed as soon as it is made (shapes_node), because
 * ONNX's shape-computing subgraphs (Shape, Gather, Concat, Unsqueeze feeding Reshape) are
 * evaluated here when their inputs are constant. Attributes are read per opset version
 * (Slice, Squeeze, Unsqueeze, Split, ReduceSum, Clip, Pad take inputs from 10/11/13 on,
 * the other Reduce ops from 18; Softmax's and Hardmax's flattening semantics before 13).
 * ONNX ops without an IR op of their own are composed exactly of IR ops (LeakyRelu, Elu,
 * Floor, ArgMax, GatherElements and the losses by one-hot products, ConvTranspose as a
 * convolution of the zero-stuffed input, LSTM/GRU with the gates reordered to PyTorch's). An op kiln cannot read is an error naming the
 * node and the op: `model.onnx: node 'Conv_12' (Conv): error: ...`. Linear in the size of
 * the model, apart from the per-name hash table.
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "proto/onnx.pb-c.h"

#define ONNX_OPSET_MIN 1
#define ONNX_OPSET_MAX 18
#define MAX_FOLD 4096         /* elements of a constant the reader evaluates itself */
#define MAX_MODEL_BYTES ((size_t)1 << 31)

/* ONNX TensorProto.DataType values */
enum { OT_FLOAT = 1, OT_UINT8 = 2, OT_INT8 = 3, OT_UINT16 = 4, OT_INT16 = 5, OT_INT32 = 6,
       OT_INT64 = 7, OT_STRING = 8, OT_BOOL = 9, OT_FLOAT16 = 10, OT_DOUBLE = 11,
       OT_UINT32 = 12, OT_UINT64 = 13, OT_BFLOAT16 = 16 };

struct onx {
	struct kiln_ctx *ctx;
	struct ir_module *m;
	struct ir_block *b;
	const char *path;
	int opset;
	struct strmap names;     /* ONNX value name -> IR value */
	Onnx__NodeProto *node;   /* being read */
	struct loc loc;          /* of that node */
};

static struct arena *A(struct onx *o) { return &o->ctx->arena; }
static struct ir_value *V(struct onx *o, uint32_t v) { return ir_val(o->m, v); }

static _Noreturn __attribute__((format(printf, 2, 3))) void err(struct onx *o, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	diag_error(o->ctx, o->loc, "%s", msg);
}

/* ---- the name table ---- */

static uint32_t *slot(struct onx *o, const char *name, int create)
{
	return strmap_slot(A(o), &o->names, name, create);
}

static uint32_t lookup(struct onx *o, const char *name)
{
	uint32_t *s = slot(o, name, 0);
	return s ? *s : IR_NONE;
}

static void define(struct onx *o, const char *name, uint32_t v)
{
	*slot(o, name, 1) = v;
	if (!V(o, v)->name)
		V(o, v)->name = name;
}

/* ---- types and tensors ---- */

static enum dtype dt_from_onnx(int t)
{
	switch (t) {
	case OT_FLOAT: return DT_F32;
	case OT_DOUBLE: return DT_F64;
	case OT_FLOAT16: return DT_F16;
	case OT_BFLOAT16: return DT_BF16;
	case OT_INT64: return DT_I64;
	case OT_INT32: return DT_I32;
	case OT_INT16: return DT_I16;
	case OT_INT8: return DT_I8;
	case OT_UINT8: return DT_U8;
	case OT_BOOL: return DT_BOOL;
	default: return DT_UNKNOWN;
	}
}

static const char *onnx_type_name(int t)
{
	static const char *const names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16",
		"int32", "int64", "string", "bool", "float16", "double", "uint32", "uint64",
		"complex64", "complex128", "bfloat16"};
	return t >= 0 && t < (int)(sizeof names / sizeof *names) ? names[t] : "unknown";
}

static enum dtype need_dt(struct onx *o, int t, const char *what)
{
	enum dtype dt = dt_from_onnx(t);
	if (!dt)
		err(o, "%s has element type %s, which kiln does not support", what, onnx_type_name(t));
	return dt;
}

/* The contents of a TensorProto as contiguous little-endian data in the arena. */
static const void *tensor_data(struct onx *o, const Onnx__TensorProto *t, enum dtype *dt,
                               struct ir_shape *s)
{
	const char *what = arena_printf(A(o), "tensor '%s'", t->name ? t->name : "");
	*dt = need_dt(o, t->data_type, what);
	if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
		err(o, "%s keeps its data in an external file, which kiln does not read", what);
	if (t->segment)
		err(o, "%s is segmented, which kiln does not support", what);
	if (t->n_dims > KILN_MAX_RANK)
		err(o, "%s has rank %zu (kiln supports up to %d)", what, t->n_dims, KILN_MAX_RANK);
	memset(s, 0, sizeof *s);
	s->rank = (int)t->n_dims;
	uint64_t n = 1;
	for (size_t i = 0; i < t->n_dims; i++) {
		if (t->dims[i] < 0 || t->dims[i] > ((int64_t)1 << 40))
			err(o, "%s has dimension %lld", what, (long long)t->dims[i]);
		s->dims[i] = t->dims[i];
		n *= (uint64_t)t->dims[i];
		if (n > ((uint64_t)1 << 40))
			err(o, "%s is too large", what);
	}
	size_t es = dtype_size(*dt), bytes = (size_t)n * es;
	if (t->has_raw_data) {
		if (t->raw_data.len != bytes)
			err(o, "%s has %zu bytes of data for %llu elements of %zu bytes", what,
			    t->raw_data.len, (unsigned long long)n, es);
		void *d = arena_alloc(A(o), bytes ? bytes : 1);
		if (bytes)
			memcpy(d, t->raw_data.data, bytes);
		return d;
	}
	size_t have;
	switch (*dt) {
	case DT_F32: have = t->n_float_data; break;
	case DT_F64: have = t->n_double_data; break;
	case DT_I64: have = t->n_int64_data; break;
	default: have = t->n_int32_data; break;
	}
	if (have != n)
		err(o, "%s has %zu values for %llu elements", what, have, (unsigned long long)n);
	unsigned char *d = arena_alloc(A(o), bytes ? bytes : 1);
	for (size_t i = 0; i < (size_t)n; i++) {
		switch (*dt) {
		case DT_F32: memcpy(d + 4 * i, &t->float_data[i], 4); break;
		case DT_F64: memcpy(d + 8 * i, &t->double_data[i], 8); break;
		case DT_I64: memcpy(d + 8 * i, &t->int64_data[i], 8); break;
		case DT_I32: memcpy(d + 4 * i, &t->int32_data[i], 4); break;
		case DT_I16: case DT_F16: case DT_BF16: {
			uint16_t x = (uint16_t)t->int32_data[i];
			memcpy(d + 2 * i, &x, 2);
			break;
		}
		default: d[i] = (unsigned char)t->int32_data[i]; break;
		}
	}
	return d;
}

/* ---- building ---- */

static uint32_t new_node(struct onx *o, enum op op, const uint32_t *in, int nin, int nout)
{
	uint32_t id = ir_add_node(o->m, o->b, op, in, nin, nout);
	ir_node(o->m, id)->loc = o->loc;
	return id;
}

#define MAX_ELEMS ((int64_t)1 << 40)   /* elements of any tensor */
#define MAX_CONST ((int64_t)1 << 26)   /* elements of a constant the reader makes up */

/* Elements of s; -1 if a dim is unknown, -2 if more than MAX_ELEMS (no overflow). */
static int64_t safe_numel(const struct ir_shape *s)
{
	int64_t n = 1;
	for (int i = 0; i < s->rank; i++) {
		int64_t d = s->dims[i];
		if (d < 0)
			return -1;
		if (d > MAX_ELEMS || (d && n > MAX_ELEMS / d))
			return -2;
		n *= d;
	}
	return n;
}

static void check_size(struct onx *o, const struct ir_shape *s)
{
	if (s->rank >= 0 && safe_numel(s) == -2)
		err(o, "a tensor of more than 2^40 elements");
}

/* A constant of n elements that the reader fills itself must be of reasonable size. */
static void check_const(struct onx *o, int64_t n)
{
	if (n < 0 || n > MAX_CONST)
		err(o, "a constant of %lld elements is too large", (long long)n);
}

/* Type node id (shapes_node) and return its first output, which must now be typed. */
static uint32_t finish(struct onx *o, uint32_t id)
{
	struct ir_node *n = ir_node(o->m, id);
	for (int k = 0; k < n->nout; k++)
		check_size(o, &V(o, n->out[k])->shape);
	shapes_node(o->m, id);
	n = ir_node(o->m, id);
	for (int k = 0; k < n->nout; k++) {
		struct ir_value *v = V(o, n->out[k]);
		v->loc = o->loc;
		check_size(o, &v->shape);
		if (v->kind != VK_TENSOR || !v->dtype || shape_numel(&v->shape) < 0)
			err(o, "cannot infer the shape of the result of '%s'", op_name(n->op));
	}
	return n->out[0];
}

/* Node id's output gets dtype dt and shape s before it is typed (RESHAPE, EXPAND, CAST). */
static uint32_t finish_as(struct onx *o, uint32_t id, enum dtype dt, const struct ir_shape *s)
{
	struct ir_value *v = V(o, ir_node(o->m, id)->out[0]);
	v->kind = VK_TENSOR;
	v->dtype = dt;
	v->shape = *s;
	return finish(o, id);
}

static uint32_t op1(struct onx *o, enum op op, uint32_t x)
{
	return finish(o, new_node(o, op, &x, 1, 1));
}

static uint32_t op2(struct onx *o, enum op op, uint32_t x, uint32_t y)
{
	uint32_t in[2] = {x, y};
	uint32_t id = new_node(o, op, in, 2, 1);
	if (op_info[op].attr == A_binary)
		ir_node(o->m, id)->a.binary.alpha = 1.0f;
	return finish(o, id);
}

static uint32_t cst(struct onx *o, enum dtype dt, const struct ir_shape *s, const void *data,
                    const char *name)
{
	uint32_t v = ir_const_tensor(o->m, o->b, dt, s, data, name);
	ir_node(o->m, V(o, v)->def)->loc = o->loc;
	V(o, v)->loc = o->loc;
	return v;
}

/* A 0-d constant of dtype dt holding x. */
static uint32_t const_from(struct onx *o, enum dtype dt, const struct ir_shape *s,
                           const int64_t *iv, const double *fv);

static uint32_t scalar(struct onx *o, enum dtype dt, double x)
{
	struct ir_shape s = {.rank = 0};
	return const_from(o, dt, &s, NULL, &x);
}

static uint32_t reshape(struct onx *o, uint32_t x, const struct ir_shape *s)
{
	if (shape_eq(&V(o, x)->shape, s))
		return x;
	if (shape_numel(s) != shape_numel(&V(o, x)->shape))
		err(o, "cannot reshape %lld elements into %lld", (long long)shape_numel(&V(o, x)->shape),
		    (long long)shape_numel(s));
	const struct ir_const *c = ir_const_of(o->m, x);
	if (c && c->kind == CK_TENSOR)
		return cst(o, V(o, x)->dtype, s, c->data, NULL);
	return finish_as(o, new_node(o, OP_RESHAPE, &x, 1, 1), V(o, x)->dtype, s);
}

static uint32_t slice(struct onx *o, uint32_t x, int axis, int64_t start, int64_t end,
                      int64_t step)
{
	uint32_t id = new_node(o, OP_SLICE, &x, 1, 1);
	ir_node(o->m, id)->a.slice = (struct slice_attr){axis, start, end, step};
	return finish(o, id);
}

static uint32_t concat(struct onx *o, const uint32_t *in, int n, int axis)
{
	if (n == 1)
		return in[0];
	uint32_t id = new_node(o, OP_CONCAT, in, n, 1);
	ir_node(o->m, id)->a.axis.axis = axis;
	return finish(o, id);
}

static uint32_t reduce(struct onx *o, enum op op, uint32_t x, unsigned axes, int keep)
{
	uint32_t id = new_node(o, op, &x, 1, 1);
	ir_node(o->m, id)->a.reduce = (struct reduce_attr){axes, keep};
	return finish(o, id);
}

static uint32_t cast(struct onx *o, uint32_t x, enum dtype to)
{
	if (V(o, x)->dtype == to)
		return x;
	return finish_as(o, new_node(o, OP_CAST, &x, 1, 1), to, &V(o, x)->shape);
}

static uint32_t permute(struct onx *o, uint32_t x, const int *perm)
{
	uint32_t id = new_node(o, OP_PERMUTE, &x, 1, 1);
	for (int i = 0; i < V(o, x)->shape.rank; i++)
		ir_node(o->m, id)->a.perm.perm[i] = perm[i];
	return finish(o, id);
}

/* ---- constants the reader evaluates (shape arithmetic) ---- */

/* An integer or bool constant tensor as int64s; 0 if x is not one (or too large). */
static int const_ints(struct onx *o, uint32_t x, int64_t **out, int64_t *n)
{
	const struct ir_const *c = ir_const_of(o->m, x);
	if (!c || c->kind != CK_TENSOR)
		return 0;
	struct ir_value *v = V(o, x);
	int64_t k = shape_numel(&v->shape);
	if (k < 0 || k > MAX_FOLD)
		return 0;
	int64_t *d = arena_alloc(A(o), sizeof *d * (size_t)(k + 1));
	for (int64_t i = 0; i < k; i++) {
		const unsigned char *p = (const unsigned char *)c->data;
		switch (v->dtype) {
		case DT_I64: memcpy(&d[i], p + 8 * i, 8); break;
		case DT_I32: { int32_t t; memcpy(&t, p + 4 * i, 4); d[i] = t; break; }
		case DT_I16: { int16_t t; memcpy(&t, p + 2 * i, 2); d[i] = t; break; }
		case DT_I8: d[i] = (int8_t)p[i]; break;
		case DT_U8: case DT_BOOL: d[i] = p[i]; break;
		default: return 0;
		}
	}
	*out = d;
	*n = k;
	return 1;
}

/* A float or integer constant tensor as doubles; 0 if x is not one. */
static int const_doubles(struct onx *o, uint32_t x, double **out, int64_t *n)
{
	const struct ir_const *c = ir_const_of(o->m, x);
	if (!c || c->kind != CK_TENSOR)
		return 0;
	struct ir_value *v = V(o, x);
	int64_t k = shape_numel(&v->shape);
	if (k < 0 || k > MAX_FOLD)
		return 0;
	double *d = arena_alloc(A(o), sizeof *d * (size_t)(k + 1));
	if (v->dtype == DT_F32 || v->dtype == DT_F64) {
		for (int64_t i = 0; i < k; i++) {
			if (v->dtype == DT_F32) {
				float f;
				memcpy(&f, (const char *)c->data + 4 * i, 4);
				d[i] = f;
			} else {
				memcpy(&d[i], (const char *)c->data + 8 * i, 8);
			}
		}
	} else {
		int64_t *iv;
		if (!const_ints(o, x, &iv, &k))
			return 0;
		for (int64_t i = 0; i < k; i++)
			d[i] = (double)iv[i];
	}
	*out = d;
	*n = k;
	return 1;
}

/* A constant of dtype dt (an integer type, bool, f32 or f64) from int64s or doubles. */
static uint32_t const_from(struct onx *o, enum dtype dt, const struct ir_shape *s,
                           const int64_t *iv, const double *fv)
{
	int64_t n = shape_numel(s);
	size_t es = dtype_size(dt);
	unsigned char *d = arena_alloc(A(o), (size_t)n * es + 8);
	for (int64_t i = 0; i < n; i++) {
		double f = fv ? fv[i] : (double)iv[i];
		/* a double to an integer type: NaN is 0, out-of-range values saturate */
		int64_t x = iv ? iv[i] : f != f ? 0 : f >= 9.2e18 ? INT64_MAX : f <= -9.2e18 ? INT64_MIN
		                                                                           : (int64_t)f;
		switch (dt) {
		case DT_F32: { float t = (float)f; memcpy(d + 4 * i, &t, 4); break; }
		case DT_F64: memcpy(d + 8 * i, &f, 8); break;
		case DT_I64: memcpy(d + 8 * i, &x, 8); break;
		case DT_I32: { int32_t t = (int32_t)x; memcpy(d + 4 * i, &t, 4); break; }
		case DT_I16: { int16_t t = (int16_t)x; memcpy(d + 2 * i, &t, 2); break; }
		case DT_I8: case DT_U8: d[i] = (unsigned char)x; break;
		case DT_BOOL: d[i] = fv ? f != 0 : x != 0; break;
		default: err(o, "cannot make a %s constant", dtype_name(dt));
		}
	}
	return cst(o, dt, s, d, NULL);
}

static struct ir_shape shape1(int64_t n)
{
	struct ir_shape s = {.rank = 1, .dims = {n}};
	return s;
}

/* ---- node inputs, outputs and attributes ---- */

static int nin(struct onx *o) { return (int)o->node->n_input; }

/* Input i, or IR_NONE when absent. */
static uint32_t in(struct onx *o, int i)
{
	if (i >= nin(o) || !o->node->input[i][0])
		return IR_NONE;
	return lookup(o, o->node->input[i]);
}

static uint32_t need_in(struct onx *o, int i)
{
	uint32_t v = in(o, i);
	if (v == IR_NONE)
		err(o, "input %d is missing", i);
	return v;
}

static int has_out(struct onx *o, int k)
{
	return k < (int)o->node->n_output && o->node->output[k][0];
}

static void out(struct onx *o, int k, uint32_t v)
{
	if (has_out(o, k))
		define(o, o->node->output[k], v);
}

/* Outputs k and beyond must be unused (optional outputs kiln does not compute). */
static void no_outputs_from(struct onx *o, int k, const char *what)
{
	for (int i = k; i < (int)o->node->n_output; i++)
		if (o->node->output[i][0])
			err(o, "output %d (%s) is not supported", i, what);
}

static const Onnx__AttributeProto *attr(struct onx *o, const char *name)
{
	for (size_t i = 0; i < o->node->n_attribute; i++)
		if (o->node->attribute[i]->name && strcmp(o->node->attribute[i]->name, name) == 0)
			return o->node->attribute[i];
	return NULL;
}

static int64_t attr_i(struct onx *o, const char *name, int64_t def)
{
	const Onnx__AttributeProto *a = attr(o, name);
	return a ? a->i : def;
}

static float attr_f(struct onx *o, const char *name, float def)
{
	const Onnx__AttributeProto *a = attr(o, name);
	return a ? a->f : def;
}

static const char *attr_s(struct onx *o, const char *name, const char *def)
{
	const Onnx__AttributeProto *a = attr(o, name);
	if (!a)
		return def;
	if (!a->s.data || !a->s.len)
		return "";
	return arena_strndup(A(o), (const char *)a->s.data, a->s.len);
}

/* Number of ints, -1 when absent. */
static int attr_ints(struct onx *o, const char *name, const int64_t **v)
{
	const Onnx__AttributeProto *a = attr(o, name);
	if (!a)
		return -1;
	*v = a->ints;
	return (int)a->n_ints;
}

/* An axis in [-r, r) (or [-r, r] with extra = 1) made non-negative. */
static int axis_of(struct onx *o, int64_t a, int r, int extra)
{
	if (a < -r || a >= r + extra)
		err(o, "axis %lld is out of range for rank %d", (long long)a, r);
	return (int)(a < 0 ? a + r : a);
}

/* An input that must be a constant integer tensor (shapes, axes, pads). */
static int64_t *need_ints(struct onx *o, int i, int64_t *n, const char *what)
{
	int64_t *v;
	uint32_t x = need_in(o, i);
	if (!const_ints(o, x, &v, n))
		err(o, "%s (input %d) must be a constant integer tensor", what, i);
	return v;
}

static const struct ir_shape *shp(struct onx *o, uint32_t x) { return &V(o, x)->shape; }

/* ---- op readers ---- */

typedef void op_fn(struct onx *o);

static uint32_t gather_rows(struct onx *o, uint32_t x, uint32_t ix, int axis,
                            const struct ir_shape *ys);
static uint32_t reduce_prod(struct onx *o, uint32_t x, unsigned axes, int keep);

static void rd_identity(struct onx *o)
{
	out(o, 0, need_in(o, 0));
}

static void rd_dropout(struct onx *o)
{
	int64_t *t, tn;
	if (in(o, 2) != IR_NONE) {   /* training_mode: random, unless nothing is dropped */
		if (!const_ints(o, in(o, 2), &t, &tn) || tn != 1)
			err(o, "training_mode must be a constant");
		double *r, ratio = 0.5;
		int64_t rn;
		if (in(o, 1) != IR_NONE) {
			if (!const_doubles(o, in(o, 1), &r, &rn) || rn != 1)
				err(o, "ratio must be a constant");
			ratio = r[0];
		}
		if (t[0] && ratio != 0)
			err(o, "training mode with a nonzero ratio (random) is not supported");
	}
	uint32_t x = need_in(o, 0);
	if (has_out(o, 1)) {   /* every element kept */
		int64_t cnt = shape_numel(shp(o, x));
		check_const(o, cnt);
		int64_t *ones = arena_alloc(A(o), sizeof *ones * (size_t)(cnt + 1));
		for (int64_t i = 0; i < cnt; i++)
			ones[i] = 1;
		out(o, 1, const_from(o, DT_BOOL, shp(o, x), ones, NULL));
	}
	out(o, 0, x);
}

static const struct { const char *name; enum op op; } unary_table[] = {
	{"Relu", OP_RELU}, {"Sigmoid", OP_SIGMOID}, {"Tanh", OP_TANH}, {"Exp", OP_EXP},
	{"Log", OP_LOG}, {"Sqrt", OP_SQRT}, {"Neg", OP_NEG}, {"Abs", OP_ABS}, {"Erf", OP_ERF},
	{"HardSwish", OP_HARDSWISH},
};

static void rd_unary(struct onx *o)
{
	for (size_t i = 0; i < sizeof unary_table / sizeof *unary_table; i++)
		if (strcmp(o->node->op_type, unary_table[i].name) == 0) {
			uint32_t x = need_in(o, 0);
			int64_t *iv, n;
			if (unary_table[i].op == OP_NEG && const_ints(o, x, &iv, &n)) {
				for (int64_t k = 0; k < n; k++)
					iv[k] = -iv[k];
				out(o, 0, const_from(o, V(o, x)->dtype, shp(o, x), iv, NULL));
				return;
			}
			out(o, 0, op1(o, unary_table[i].op, x));
			return;
		}
	unreachable();
}

/* a * x + b, elementwise, in x's dtype */
static uint32_t affine(struct onx *o, uint32_t x, double a, double b)
{
	enum dtype dt = V(o, x)->dtype;
	if (a != 1.0)
		x = op2(o, OP_MUL, x, scalar(o, dt, a));
	if (b != 0.0)
		x = op2(o, OP_ADD, x, scalar(o, dt, b));
	return x;
}

static uint32_t clip(struct onx *o, uint32_t x, float lo, float hi)
{
	uint32_t id = new_node(o, OP_CLIP, &x, 1, 1);
	ir_node(o->m, id)->a.clip = (struct clip_attr){lo, hi};
	return finish(o, id);
}

/* min(x, 0) */
static uint32_t negpart(struct onx *o, uint32_t x)
{
	return op2(o, OP_MINIMUM, x, scalar(o, V(o, x)->dtype, 0));
}

/* The activations ONNX has and kiln's IR composes. */
static void rd_activation(struct onx *o)
{
	const char *t = o->node->op_type;
	uint32_t x = need_in(o, 0), y;
	enum dtype dt = V(o, x)->dtype;
	if (strcmp(t, "LeakyRelu") == 0) {
		y = op2(o, OP_ADD, op1(o, OP_RELU, x), affine(o, negpart(o, x), attr_f(o, "alpha", 0.01f), 0));
	} else if (strcmp(t, "Elu") == 0 || strcmp(t, "Selu") == 0) {
		int selu = t[0] == 'S';
		double al = attr_f(o, "alpha", selu ? 1.67326319217681884765625f : 1.0f);
		double ga = selu ? attr_f(o, "gamma", 1.05070102214813232421875f) : 1.0;
		uint32_t neg = affine(o, op1(o, OP_EXP, negpart(o, x)), al, -al);
		y = affine(o, op2(o, OP_ADD, op1(o, OP_RELU, x), neg), ga, 0);
	} else if (strcmp(t, "Celu") == 0) {
		double al = attr_f(o, "alpha", 1.0f);
		uint32_t e = affine(o, op1(o, OP_EXP, affine(o, negpart(o, x), 1.0 / al, 0)), al, -al);
		y = op2(o, OP_ADD, op1(o, OP_RELU, x), e);
	} else if (strcmp(t, "HardSigmoid") == 0) {
		y = clip(o, affine(o, x, attr_f(o, "alpha", 0.2f), attr_f(o, "beta", 0.5f)), 0, 1);
	} else if (strcmp(t, "Softplus") == 0) {
		y = op1(o, OP_LOG, affine(o, op1(o, OP_EXP, x), 1, 1));
	} else if (strcmp(t, "Softsign") == 0) {
		y = op2(o, OP_DIV, x, affine(o, op1(o, OP_ABS, x), 1, 1));
	} else if (strcmp(t, "Reciprocal") == 0) {
		y = op2(o, OP_DIV, scalar(o, dt, 1), x);
	} else if (strcmp(t, "ThresholdedRelu") == 0) {
		uint32_t id = new_node(o, OP_COMPARE, (uint32_t[]){x, scalar(o, dt, attr_f(o, "alpha", 1.0f))},
		                       2, 1);
		ir_node(o->m, id)->a.sop.op = SOP_GT;
		uint32_t c = finish(o, id);
		uint32_t w[3] = {c, x, scalar(o, dt, 0)};
		y = finish(o, new_node(o, OP_WHERE, w, 3, 1));
	} else if (strcmp(t, "PRelu") == 0) {
		y = op2(o, OP_ADD, op1(o, OP_RELU, x), op2(o, OP_MUL, negpart(o, x), need_in(o, 1)));
	} else if (strcmp(t, "Gelu") == 0) {
		uint32_t id = new_node(o, OP_GELU, &x, 1, 1);
		ir_node(o->m, id)->a.gelu.tanh_approx = strcmp(attr_s(o, "approximate", "none"), "tanh") == 0;
		y = finish(o, id);
	} else if (strcmp(t, "Shrink") == 0) {
		double l = attr_f(o, "lambd", 0.5f), bias = attr_f(o, "bias", 0);
		/* x < -l: x + bias; x > l: x - bias; else 0 */
		uint32_t lo = op2(o, OP_MINIMUM, affine(o, x, 1, l), scalar(o, dt, 0));
		uint32_t hi = op2(o, OP_MAXIMUM, affine(o, x, 1, -l), scalar(o, dt, 0));
		uint32_t ids[2];
		for (int k = 0; k < 2; k++) {
			ids[k] = new_node(o, OP_COMPARE, (uint32_t[]){x, scalar(o, dt, k ? l : -l)}, 2, 1);
			ir_node(o->m, ids[k])->a.sop.op = k ? SOP_GT : SOP_LT;
		}
		uint32_t clo = finish(o, ids[0]), chi = finish(o, ids[1]);
		uint32_t w0[3] = {clo, affine(o, lo, 1, bias - l), scalar(o, dt, 0)};
		uint32_t a = finish(o, new_node(o, OP_WHERE, w0, 3, 1));
		uint32_t w1[3] = {chi, affine(o, hi, 1, l - bias), a};
		y = finish(o, new_node(o, OP_WHERE, w1, 3, 1));
	} else {
		unreachable();
	}
	out(o, 0, y);
}

static void rd_clip(struct onx *o)
{
	uint32_t x = need_in(o, 0), y = x;
	if (o->opset < 11) {
		out(o, 0, clip(o, x, attr_f(o, "min", -INFINITY), attr_f(o, "max", INFINITY)));
		return;
	}
	double *lo = NULL, *hi = NULL;
	int64_t n;
	uint32_t vl = in(o, 1), vh = in(o, 2);
	int64_t nh = 1;
	n = 1;
	if ((vl == IR_NONE || const_doubles(o, vl, &lo, &n)) &&
	    (vh == IR_NONE || const_doubles(o, vh, &hi, &nh)) && n == 1 && nh == 1 &&
	    V(o, x)->dtype == DT_F32) {
		out(o, 0, clip(o, x, lo ? (float)lo[0] : -INFINITY, hi ? (float)hi[0] : INFINITY));
		return;
	}
	if (vl != IR_NONE)
		y = op2(o, OP_MAXIMUM, y, vl);
	if (vh != IR_NONE)
		y = op2(o, OP_MINIMUM, y, vh);
	out(o, 0, y == x ? op1(o, OP_IDENTITY, x) : y);
}

/* Integer arithmetic on constants (shape computations). */
static int fold_binary(struct onx *o, const char *t, uint32_t a, uint32_t b)
{
	int64_t *x, *y, nx, ny;
	if (!const_ints(o, a, &x, &nx) || !const_ints(o, b, &y, &ny) ||
	    V(o, a)->dtype != V(o, b)->dtype || V(o, a)->dtype == DT_BOOL)
		return 0;
	const struct ir_shape *sa = shp(o, a), *sb = shp(o, b);
	if (sa->rank > 1 || sb->rank > 1 || (nx != ny && nx != 1 && ny != 1))
		return 0;
	int64_t n = nx > ny ? nx : ny;
	int64_t *r = arena_alloc(A(o), sizeof *r * (size_t)(n + 1));
	for (int64_t i = 0; i < n; i++) {
		int64_t p = x[nx == 1 ? 0 : i], q = y[ny == 1 ? 0 : i];
		switch (t[0]) {
		case 'A': r[i] = p + q; break;
		case 'S': r[i] = p - q; break;
		case 'M': r[i] = p * q; break;
		case 'D':
			if (q == 0)
				return 0;
			r[i] = p / q - ((p % q != 0) && ((p < 0) != (q < 0)));
			break;
		default: return 0;
		}
	}
	struct ir_shape s = sa->rank >= sb->rank ? *sa : *sb;
	if (s.rank == 1)
		s.dims[0] = n;
	out(o, 0, const_from(o, V(o, a)->dtype, &s, r, NULL));
	return 1;
}

static void rd_binary(struct onx *o)
{
	static const struct { const char *name; enum op op; } table[] = {
		{"Add", OP_ADD}, {"Sub", OP_SUB}, {"Mul", OP_MUL}, {"Div", OP_DIV}, {"Pow", OP_POW},
	};
	const char *t = o->node->op_type;
	uint32_t a = need_in(o, 0), b = need_in(o, 1);
	if (o->opset < 7 && attr(o, "broadcast"))
		err(o, "legacy broadcasting is not supported");
	if (strcmp(t, "Pow") != 0 && fold_binary(o, t, a, b))
		return;
	for (size_t i = 0; i < sizeof table / sizeof *table; i++)
		if (strcmp(t, table[i].name) == 0) {
			if (table[i].op == OP_POW && V(o, b)->dtype != V(o, a)->dtype)
				b = cast(o, b, V(o, a)->dtype);
			out(o, 0, op2(o, table[i].op, a, b));
			return;
		}
	unreachable();
}

/* Max, Min, Sum, Mean: variadic, broadcasting. */
static void rd_variadic(struct onx *o)
{
	const char *t = o->node->op_type;
	enum op op = strcmp(t, "Max") == 0 ? OP_MAXIMUM : strcmp(t, "Min") == 0 ? OP_MINIMUM : OP_ADD;
	uint32_t y = need_in(o, 0);
	for (int i = 1; i < nin(o); i++)
		y = op2(o, op, y, need_in(o, i));
	if (strcmp(t, "Mean") == 0 && nin(o) > 1)
		y = op2(o, OP_DIV, y, scalar(o, V(o, y)->dtype, nin(o)));
	if (nin(o) == 1)
		y = op1(o, OP_IDENTITY, y);
	out(o, 0, y);
}

static void rd_compare(struct onx *o)
{
	static const struct { const char *name; enum sop op; } table[] = {
		{"Equal", SOP_EQ}, {"Greater", SOP_GT}, {"Less", SOP_LT}, {"GreaterOrEqual", SOP_GE},
		{"LessOrEqual", SOP_LE},
	};
	for (size_t i = 0; i < sizeof table / sizeof *table; i++)
		if (strcmp(o->node->op_type, table[i].name) == 0) {
			uint32_t in2[2] = {need_in(o, 0), need_in(o, 1)};
			uint32_t id = new_node(o, OP_COMPARE, in2, 2, 1);
			ir_node(o->m, id)->a.sop.op = table[i].op;
			out(o, 0, finish(o, id));
			return;
		}
	unreachable();
}

static void rd_where(struct onx *o)
{
	uint32_t c = need_in(o, 0);
	if (V(o, c)->dtype != DT_BOOL)
		err(o, "the condition must be bool");
	uint32_t w[3] = {c, need_in(o, 1), need_in(o, 2)};
	out(o, 0, finish(o, new_node(o, OP_WHERE, w, 3, 1)));
}

static void rd_matmul(struct onx *o)
{
	out(o, 0, op2(o, OP_MATMUL, need_in(o, 0), need_in(o, 1)));
}

static void rd_gemm(struct onx *o)
{
	uint32_t a = need_in(o, 0), b = need_in(o, 1), c = in(o, 2);
	float beta = attr_f(o, "beta", 1.0f);
	if (c == IR_NONE) {
		c = scalar(o, V(o, a)->dtype, 0);
		beta = 0;
	}
	uint32_t w[3] = {c, a, b};
	uint32_t id = new_node(o, OP_GEMM, w, 3, 1);
	ir_node(o->m, id)->a.gemm = (struct gemm_attr){attr_f(o, "alpha", 1.0f), beta,
	                                               (int)attr_i(o, "transA", 0),
	                                               (int)attr_i(o, "transB", 0)};
	if (shp(o, a)->rank != 2 || shp(o, b)->rank != 2)
		err(o, "Gemm needs 2-D operands");
	/* shape_gemm reads a and b untransposed: type the result here */
	const struct ir_shape *sa = shp(o, a), *sb = shp(o, b);
	int ta = ir_node(o->m, id)->a.gemm.trans_a, tb = ir_node(o->m, id)->a.gemm.trans_b;
	int64_t k1 = ta ? sa->dims[0] : sa->dims[1], k2 = tb ? sb->dims[1] : sb->dims[0];
	if (k1 != k2)
		err(o, "inner dimensions %lld and %lld differ", (long long)k1, (long long)k2);
	struct ir_shape s = {.rank = 2, .dims = {ta ? sa->dims[1] : sa->dims[0],
	                                          tb ? sb->dims[0] : sb->dims[1]}};
	out(o, 0, finish_as(o, id, V(o, a)->dtype, &s));
}

/* Spatial attributes of Conv / pools: kernel k[], strides, dilations, and pads begin/end
 * resolved from auto_pad; nd spatial dims of input shape x. */
struct spatial {
	int nd;
	int64_t k[2], st[2], dil[2], pb[2], pe[2];
};

static void spatial_attrs(struct onx *o, struct spatial *sp, const struct ir_shape *x,
                          const int64_t *kernel, int ceil_mode)
{
	const int64_t *v;
	int nd = sp->nd, n;
	for (int i = 0; i < nd; i++) {
		sp->k[i] = kernel[i];
		sp->st[i] = sp->dil[i] = 1;
		sp->pb[i] = sp->pe[i] = 0;
	}
	if ((n = attr_ints(o, "strides", &v)) >= 0) {
		if (n != nd)
			err(o, "'strides' has %d values for %d spatial dimensions", n, nd);
		for (int i = 0; i < nd; i++)
			sp->st[i] = v[i];
	}
	if ((n = attr_ints(o, "dilations", &v)) >= 0) {
		if (n != nd)
			err(o, "'dilations' has %d values for %d spatial dimensions", n, nd);
		for (int i = 0; i < nd; i++)
			sp->dil[i] = v[i];
	}
	for (int i = 0; i < nd; i++)
		if (sp->st[i] < 1 || sp->dil[i] < 1 || sp->k[i] < 1 || sp->k[i] > 65536 ||
		    sp->st[i] > 65536 || sp->dil[i] > 65536)
			err(o, "invalid kernel, stride or dilation");
	const char *ap = attr_s(o, "auto_pad", "NOTSET");
	if (strcmp(ap, "NOTSET") == 0) {
		if ((n = attr_ints(o, "pads", &v)) >= 0) {
			if (n != 2 * nd)
				err(o, "'pads' has %d values for %d spatial dimensions", n, nd);
			for (int i = 0; i < nd; i++) {
				sp->pb[i] = v[i];
				sp->pe[i] = v[nd + i];
				if (v[i] < 0 || v[nd + i] < 0 || v[i] > 65536 || v[nd + i] > 65536)
					err(o, "invalid padding");
			}
		}
	} else if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
		for (int i = 0; i < nd; i++) {
			int64_t in = x->dims[x->rank - nd + i];
			int64_t outd = (in + sp->st[i] - 1) / sp->st[i];
			int64_t total = (outd - 1) * sp->st[i] + (sp->k[i] - 1) * sp->dil[i] + 1 - in;
			if (total < 0)
				total = 0;
			sp->pb[i] = ap[5] == 'U' ? total / 2 : total - total / 2;
			sp->pe[i] = total - sp->pb[i];
		}
	} else if (strcmp(ap, "VALID") != 0) {
		err(o, "unknown auto_pad '%s'", ap);
	}
	(void)ceil_mode;
}

/* x as a 4-D NCHW tensor: a 1-D spatial input [N, C, L] becomes [N, C, 1, L]. */
static uint32_t to4d(struct onx *o, uint32_t x)
{
	struct ir_shape s = *shp(o, x);
	if (s.rank == 4)
		return x;
	if (s.rank != 3)
		err(o, "expected a 3-D or 4-D input, got rank %d", s.rank);
	s.rank = 4;
	s.dims[3] = s.dims[2];
	s.dims[2] = 1;
	return reshape(o, x, &s);
}

/* y back to the rank of the original input (drop the unit H of a 1-D case). */
static uint32_t from4d(struct onx *o, uint32_t y, int rank)
{
	if (rank == 4)
		return y;
	struct ir_shape s = *shp(o, y);
	s.rank = 3;
	s.dims[2] = s.dims[3];
	return reshape(o, y, &s);
}

/* Constant padding of the two spatial dims of a 4-D x, begin/end per dim. */
static uint32_t pad4d(struct onx *o, uint32_t x, const int64_t *pb, const int64_t *pe, double val)
{
	uint32_t id = new_node(o, OP_PAD, &x, 1, 1);
	struct pad_attr *p = &ir_node(o->m, id)->a.pad;
	memset(p, 0, sizeof *p);
	for (int i = 0; i < 2; i++) {
		p->before[2 + i] = pb[i];
		p->after[2 + i] = pe[i];
	}
	p->value = val;
	return finish(o, id);
}

static void rd_conv(struct onx *o)
{
	uint32_t x = need_in(o, 0), w = need_in(o, 1), bias = in(o, 2);
	int rank = shp(o, x)->rank;
	if ((rank != 3 && rank != 4) || shp(o, w)->rank != rank)
		err(o, "only 1-D and 2-D convolutions are supported (input rank %d)", rank);
	struct spatial sp = {.nd = rank - 2};
	int64_t kern[2] = {shp(o, w)->dims[2], rank == 4 ? shp(o, w)->dims[3] : 1};
	const int64_t *ks;
	if (attr_ints(o, "kernel_shape", &ks) == sp.nd && ks[0] != kern[0])
		err(o, "kernel_shape does not match the weight");
	spatial_attrs(o, &sp, shp(o, x), kern, 0);
	if (sp.nd == 1) {
		sp.nd = 2;
		sp.k[1] = sp.k[0]; sp.st[1] = sp.st[0]; sp.dil[1] = sp.dil[0];
		sp.pb[1] = sp.pb[0]; sp.pe[1] = sp.pe[0];
		sp.k[0] = sp.st[0] = sp.dil[0] = 1;
		sp.pb[0] = sp.pe[0] = 0;
	}
	x = to4d(o, x);
	w = to4d(o, w);
	int sym = sp.pb[0] == sp.pe[0] && sp.pb[1] == sp.pe[1];
	if (!sym) {
		x = pad4d(o, x, sp.pb, sp.pe, 0);
		sp.pb[0] = sp.pb[1] = sp.pe[0] = sp.pe[1] = 0;
	}
	uint32_t ins[3] = {x, w, bias};
	uint32_t id = new_node(o, OP_CONV2D, ins, bias == IR_NONE ? 2 : 3, 1);
	struct conv_attr *a = &ir_node(o->m, id)->a.conv;
	for (int i = 0; i < 2; i++) {
		a->stride[i] = (int)sp.st[i];
		a->pad[i] = (int)sp.pb[i];
		a->dil[i] = (int)sp.dil[i];
	}
	a->groups = (int)attr_i(o, "group", 1);
	if (a->groups < 1)
		err(o, "invalid group count");
	out(o, 0, from4d(o, finish(o, id), rank));
}

static void rd_pool(struct onx *o)
{
	const char *t = o->node->op_type;
	int max = strstr(t, "Max") != NULL;
	uint32_t x = need_in(o, 0);
	int rank = shp(o, x)->rank;
	if (strncmp(t, "Global", 6) == 0) {
		if (rank < 3)
			err(o, "expected an input of rank 3 or more");
		unsigned axes = ((1u << rank) - 1) & ~3u;
		out(o, 0, reduce(o, max ? OP_REDUCE_MAX : OP_REDUCE_MEAN, x, axes, 1));
		return;
	}
	no_outputs_from(o, 1, "max pool indices");
	if (rank != 3 && rank != 4)
		err(o, "only 1-D and 2-D pooling is supported (input rank %d)", rank);
	if (attr_i(o, "storage_order", 0))
		err(o, "storage_order 1 is not supported");
	struct spatial sp = {.nd = rank - 2};
	const int64_t *ks;
	if (attr_ints(o, "kernel_shape", &ks) != sp.nd)
		err(o, "'kernel_shape' must have %d values", sp.nd);
	int ceil_mode = (int)attr_i(o, "ceil_mode", 0), cip = (int)attr_i(o, "count_include_pad", 0);
	spatial_attrs(o, &sp, shp(o, x), ks, ceil_mode);
	if (!max && (sp.dil[0] != 1 || (sp.nd > 1 && sp.dil[1] != 1)))
		err(o, "dilated average pooling is not supported");
	if (sp.nd == 1) {
		sp.nd = 2;
		sp.k[1] = sp.k[0]; sp.st[1] = sp.st[0]; sp.dil[1] = sp.dil[0];
		sp.pb[1] = sp.pb[0]; sp.pe[1] = sp.pe[0];
		sp.k[0] = sp.st[0] = sp.dil[0] = 1;
		sp.pb[0] = sp.pe[0] = 0;
	}
	x = to4d(o, x);
	int sym = sp.pb[0] == sp.pe[0] && sp.pb[1] == sp.pe[1];
	for (int i = 0; i < 2; i++)
		if (sp.pb[i] * 2 > sp.k[i])
			sym = 0;
	uint32_t count = IR_NONE;   /* average excluding asymmetric padding: pooled ones */
	if (!sym) {
		if (ceil_mode)
			err(o, "ceil_mode with asymmetric padding is not supported");
		if (!max && !cip) {
			if (V(o, x)->dtype != DT_F32)
				err(o, "only float32 is supported");
			int64_t n = shape_numel(shp(o, x));
			check_const(o, n);
			double *ones = arena_alloc(A(o), sizeof *ones * (size_t)(n + 1));
			for (int64_t i = 0; i < n; i++)
				ones[i] = 1;
			count = pad4d(o, const_from(o, DT_F32, shp(o, x), NULL, ones), sp.pb, sp.pe, 0);
		}
		x = pad4d(o, x, sp.pb, sp.pe, max ? -INFINITY : 0);
		sp.pb[0] = sp.pb[1] = sp.pe[0] = sp.pe[1] = 0;
	}
	uint32_t id = new_node(o, max ? OP_MAXPOOL2D : OP_AVGPOOL2D, &x, 1, 1);
	struct pool_attr *p = &ir_node(o->m, id)->a.pool;
	for (int i = 0; i < 2; i++) {
		p->kernel[i] = (int)sp.k[i];
		p->stride[i] = (int)sp.st[i];
		p->pad[i] = (int)sp.pb[i];
		p->dil[i] = (int)sp.dil[i];
	}
	p->ceil_mode = ceil_mode;
	p->count_include_pad = cip;
	struct pool_attr pa = *p;
	uint32_t y = finish(o, id);
	if (count != IR_NONE) {
		uint32_t cid = new_node(o, OP_AVGPOOL2D, &count, 1, 1);
		ir_node(o->m, cid)->a.pool = pa;
		y = op2(o, OP_DIV, y, finish(o, cid));
	}
	out(o, 0, from4d(o, y, rank));
}

static void rd_batchnorm(struct onx *o)
{
	if (o->opset >= 14 && attr_i(o, "training_mode", 0))
		err(o, "training mode is not supported");
	no_outputs_from(o, 1, "training statistics");
	if (o->opset < 9 && attr_i(o, "spatial", 1) == 0)
		err(o, "spatial=0 is not supported");
	if (o->opset < 7 && attr_i(o, "is_test", 0) == 0)
		err(o, "training mode (is_test=0) is not supported");
	uint32_t w[5];
	for (int i = 0; i < 5; i++)
		w[i] = need_in(o, i);
	uint32_t id = new_node(o, OP_BATCHNORM, w, 5, 1);
	ir_node(o->m, id)->a.norm = (struct norm_attr){attr_f(o, "epsilon", 1e-5f), 1};
	out(o, 0, finish(o, id));
}

static void rd_layernorm(struct onx *o)
{
	uint32_t x = need_in(o, 0), w = need_in(o, 1), b = in(o, 2);
	int r = shp(o, x)->rank;
	int axis = axis_of(o, attr_i(o, "axis", -1), r, 0);
	if (attr_i(o, "stash_type", 1) != 1)
		err(o, "stash_type other than float is not supported");
	if (has_out(o, 1) || has_out(o, 2)) {   /* the statistics too: compose it */
		enum dtype dt = V(o, x)->dtype;
		unsigned axes = ((1u << r) - 1) & ~((1u << axis) - 1);
		uint32_t mean = reduce(o, OP_REDUCE_MEAN, x, axes, 1);
		uint32_t d = op2(o, OP_SUB, x, mean);
		uint32_t var = reduce(o, OP_REDUCE_MEAN, op2(o, OP_MUL, d, d), axes, 1);
		uint32_t inv = op2(o, OP_DIV, scalar(o, dt, 1),
		                   op1(o, OP_SQRT, op2(o, OP_ADD, var, scalar(o, dt, attr_f(o, "epsilon", 1e-5f)))));
		uint32_t y = op2(o, OP_MUL, op2(o, OP_MUL, d, inv), w);
		out(o, 0, b == IR_NONE ? y : op2(o, OP_ADD, y, b));
		out(o, 1, mean);
		out(o, 2, inv);
		return;
	}
	struct ir_shape ns = {.rank = r - axis};
	for (int i = axis; i < r; i++)
		ns.dims[i - axis] = shp(o, x)->dims[i];
	uint32_t e[3] = {x, w, b};
	for (int k = 1; k < 3; k++) {
		if (e[k] == IR_NONE)
			continue;
		if (shape_numel(shp(o, e[k])) != shape_numel(&ns)) {
			struct ir_shape t = ns;   /* broadcast a smaller scale or bias */
			uint32_t ex = new_node(o, OP_EXPAND, &e[k], 1, 1);
			e[k] = finish_as(o, ex, V(o, e[k])->dtype, &t);
		} else {
			e[k] = reshape(o, e[k], &ns);
		}
	}
	uint32_t id = new_node(o, OP_LAYERNORM, e, b == IR_NONE ? 2 : 3, 1);
	ir_node(o->m, id)->a.norm = (struct norm_attr){attr_f(o, "epsilon", 1e-5f), axis};
	out(o, 0, finish(o, id));
}

/* (x - mean) / sqrt(var + eps) over the axes given, then scale and bias if given. */
static uint32_t normalize(struct onx *o, uint32_t x, unsigned axes, double eps)
{
	enum dtype dt = V(o, x)->dtype;
	uint32_t mean = reduce(o, OP_REDUCE_MEAN, x, axes, 1);
	uint32_t d = op2(o, OP_SUB, x, mean);
	uint32_t var = reduce(o, OP_REDUCE_MEAN, op2(o, OP_MUL, d, d), axes, 1);
	uint32_t sd = op1(o, OP_SQRT, op2(o, OP_ADD, var, scalar(o, dt, eps)));
	return op2(o, OP_DIV, d, sd);
}

static void rd_instancenorm(struct onx *o)
{
	uint32_t x = need_in(o, 0), s = need_in(o, 1), b = need_in(o, 2);
	int r = shp(o, x)->rank;
	if (r < 3)
		err(o, "expected an input of rank 3 or more");
	uint32_t y = normalize(o, x, ((1u << r) - 1) & ~3u, attr_f(o, "epsilon", 1e-5f));
	struct ir_shape cs = {.rank = r - 1};
	for (int i = 0; i < r - 1; i++)
		cs.dims[i] = i == 0 ? shp(o, x)->dims[1] : 1;
	y = op2(o, OP_MUL, y, reshape(o, s, &cs));
	out(o, 0, op2(o, OP_ADD, y, reshape(o, b, &cs)));
}

static void rd_mvn(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	const int64_t *v;
	int n = attr_ints(o, "axes", &v), r = shp(o, x)->rank;
	static const int64_t def[3] = {0, 2, 3};
	if (n < 0) {
		v = def;
		n = 3;
	}
	unsigned axes = 0;
	for (int i = 0; i < n; i++)
		axes |= 1u << axis_of(o, v[i], r, 0);
	out(o, 0, normalize(o, x, axes, 1e-9));
}

/* Softmax, LogSoftmax: before opset 13 the input is flattened to 2-D at axis. */
static void rd_softmax(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	enum op op = o->node->op_type[0] == 'L' ? OP_LOG_SOFTMAX : OP_SOFTMAX;
	struct ir_shape s = *shp(o, x);
	int axis = axis_of(o, attr_i(o, "axis", o->opset >= 13 ? -1 : 1), s.rank, 0);
	if (s.rank == 0)
		err(o, "softmax of a 0-d tensor");
	uint32_t y = x;
	if (o->opset < 13 && axis != s.rank - 1) {
		struct ir_shape f = {.rank = 2, .dims = {1, 1}};
		for (int i = 0; i < s.rank; i++)
			f.dims[i >= axis] *= s.dims[i];
		y = reshape(o, x, &f);
		axis = 1;
	}
	uint32_t id = new_node(o, op, &y, 1, 1);
	ir_node(o->m, id)->a.axis.axis = axis;
	out(o, 0, reshape(o, finish(o, id), &s));
}

/* The reduced axes of a Reduce* node (attribute, or input 1 for ReduceSum from 13); 0 with
 * *none set when nothing is reduced (noop_with_empty_axes). */
static unsigned reduce_axes(struct onx *o, int r, int *none)
{
	const int64_t *v = NULL;
	int64_t *iv, n = -1;
	*none = 0;
	if ((strcmp(o->node->op_type, "ReduceSum") == 0 && o->opset >= 13) || o->opset >= 18) {
		if (in(o, 1) != IR_NONE) {
			n = 0;
			iv = need_ints(o, 1, &n, "axes");
			v = iv;
		}
	} else {
		int k = attr_ints(o, "axes", &v);
		n = k;
	}
	unsigned axes = 0;
	if (n <= 0) {
		if (attr_i(o, "noop_with_empty_axes", 0)) {
			*none = 1;
			return 0;
		}
		return r >= 32 ? ~0u : (1u << r) - 1;
	}
	for (int64_t i = 0; i < n; i++)
		axes |= 1u << axis_of(o, v[i], r, 0);
	return axes;
}

static void rd_reduce(struct onx *o)
{
	const char *t = o->node->op_type + 6;   /* after "Reduce" */
	uint32_t x = need_in(o, 0);
	int r = shp(o, x)->rank, none, keep = (int)attr_i(o, "keepdims", 1);
	unsigned axes = reduce_axes(o, r, &none);
	if (r == 0)
		axes = 0;
	if (none || (r == 0)) {
		out(o, 0, op1(o, OP_IDENTITY, x));
		return;
	}
	uint32_t y;
	if (strcmp(t, "Mean") == 0)
		y = reduce(o, OP_REDUCE_MEAN, x, axes, keep);
	else if (strcmp(t, "Sum") == 0)
		y = reduce(o, OP_REDUCE_SUM, x, axes, keep);
	else if (strcmp(t, "Max") == 0)
		y = reduce(o, OP_REDUCE_MAX, x, axes, keep);
	else if (strcmp(t, "Min") == 0)
		y = reduce(o, OP_REDUCE_MIN, x, axes, keep);
	else if (strcmp(t, "SumSquare") == 0)
		y = reduce(o, OP_REDUCE_SUM, op2(o, OP_MUL, x, x), axes, keep);
	else if (strcmp(t, "L1") == 0)
		y = reduce(o, OP_REDUCE_SUM, op1(o, OP_ABS, x), axes, keep);
	else if (strcmp(t, "L2") == 0)
		y = op1(o, OP_SQRT, reduce(o, OP_REDUCE_SUM, op2(o, OP_MUL, x, x), axes, keep));
	else if (strcmp(t, "Prod") == 0)
		y = reduce_prod(o, x, axes, keep);
	else if (strcmp(t, "LogSum") == 0)
		y = op1(o, OP_LOG, reduce(o, OP_REDUCE_SUM, x, axes, keep));
	else if (strcmp(t, "LogSumExp") == 0) {
		uint32_t mx = reduce(o, OP_REDUCE_MAX, x, axes, 1);
		uint32_t s = reduce(o, OP_REDUCE_SUM, op1(o, OP_EXP, op2(o, OP_SUB, x, mx)), axes, keep);
		uint32_t m2 = keep ? mx : reduce(o, OP_REDUCE_MAX, x, axes, 0);
		y = op2(o, OP_ADD, op1(o, OP_LOG, s), m2);
	} else
		unreachable();
	out(o, 0, y);
}

/* ---- shapes and data movement ---- */

static void rd_shape(struct onx *o)
{
	const struct ir_shape *s = shp(o, need_in(o, 0));
	int r = s->rank;
	int64_t st = 0, en = r;
	if (o->opset >= 15) {
		st = attr_i(o, "start", 0);
		en = attr_i(o, "end", r);
		st = st < 0 ? st + r : st;
		en = en < 0 ? en + r : en;
		st = st < 0 ? 0 : st > r ? r : st;
		en = en < 0 ? 0 : en > r ? r : en;
		if (en < st)
			en = st;
	}
	struct ir_shape os = shape1(en - st);
	out(o, 0, const_from(o, DT_I64, &os, s->dims + st, NULL));
}

static void rd_size(struct onx *o)
{
	struct ir_shape s = {.rank = 0};
	int64_t n = shape_numel(shp(o, need_in(o, 0)));
	out(o, 0, const_from(o, DT_I64, &s, &n, NULL));
}

static void set_const_output(struct onx *o, const Onnx__TensorProto *t)
{
	enum dtype dt;
	struct ir_shape s;
	const void *d = tensor_data(o, t, &dt, &s);
	out(o, 0, cst(o, dt, &s, d, NULL));
}

static void rd_constant(struct onx *o)
{
	const Onnx__AttributeProto *a;
	struct ir_shape s0 = {.rank = 0};
	if ((a = attr(o, "value")) && a->t) {
		set_const_output(o, a->t);
	} else if ((a = attr(o, "value_float"))) {
		double f = a->f;
		out(o, 0, const_from(o, DT_F32, &s0, NULL, &f));
	} else if ((a = attr(o, "value_int"))) {
		out(o, 0, const_from(o, DT_I64, &s0, &a->i, NULL));
	} else if ((a = attr(o, "value_floats"))) {
		double *f = arena_alloc(A(o), sizeof *f * (a->n_floats + 1));
		for (size_t i = 0; i < a->n_floats; i++)
			f[i] = a->floats[i];
		struct ir_shape s = shape1((int64_t)a->n_floats);
		out(o, 0, const_from(o, DT_F32, &s, NULL, f));
	} else if ((a = attr(o, "value_ints"))) {
		struct ir_shape s = shape1((int64_t)a->n_ints);
		out(o, 0, const_from(o, DT_I64, &s, a->ints, NULL));
	} else {
		err(o, "a Constant needs a tensor, float(s) or int(s) value (sparse and string "
		    "values are not supported)");
	}
}

static void rd_constant_of_shape(struct onx *o)
{
	int64_t n, *dims = need_ints(o, 0, &n, "shape");
	if (n > KILN_MAX_RANK)
		err(o, "rank %lld is too large", (long long)n);
	struct ir_shape s = {.rank = (int)n};
	int64_t total = 1;
	for (int i = 0; i < n; i++) {
		if (dims[i] < 0 || dims[i] > ((int64_t)1 << 30))
			err(o, "invalid dimension %lld", (long long)dims[i]);
		s.dims[i] = dims[i];
		total *= dims[i];
		if (total > ((int64_t)1 << 30))
			err(o, "the tensor is too large");
	}
	enum dtype dt = DT_F32;
	const unsigned char *val = NULL;
	const Onnx__AttributeProto *a = attr(o, "value");
	if (a && a->t) {
		struct ir_shape vs;
		val = tensor_data(o, a->t, &dt, &vs);
		if (shape_numel(&vs) != 1)
			err(o, "'value' must have one element");
	}
	size_t es = dtype_size(dt);
	unsigned char *d = arena_alloc(A(o), (size_t)total * es + 8);
	for (int64_t i = 0; val && i < total; i++)
		memcpy(d + (size_t)i * es, val, es);
	out(o, 0, cst(o, dt, &s, d, NULL));
}

/* ONNX Reshape's target: 0 copies the input dim (unless allowzero), -1 is inferred. */
static void rd_reshape(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	int64_t n, *v;
	const int64_t *av;
	if (o->opset < 5 && attr_ints(o, "shape", &av) >= 0)
		err(o, "Reshape-1 is not supported");
	v = need_ints(o, 1, &n, "shape");
	if (n > KILN_MAX_RANK)
		err(o, "rank %lld is too large", (long long)n);
	const struct ir_shape *xs = shp(o, x);
	struct ir_shape s = {.rank = (int)n};
	int infer = -1, allowzero = (int)attr_i(o, "allowzero", 0);
	int64_t known = 1;
	for (int i = 0; i < n; i++) {
		int64_t d = v[i];
		if (d == 0 && !allowzero) {
			if (i >= xs->rank)
				err(o, "shape[%d] is 0 but the input has rank %d", i, xs->rank);
			d = xs->dims[i];
		}
		if (d == -1) {
			if (infer >= 0)
				err(o, "more than one -1 in the shape");
			infer = i;
			continue;
		}
		if (d < 0 || d > MAX_ELEMS)
			err(o, "invalid dimension %lld", (long long)d);
		s.dims[i] = d;
		if (d && known > MAX_ELEMS / d)
			err(o, "the shape has too many elements");
		known *= d;
	}
	int64_t total = shape_numel(xs);
	if (infer >= 0) {
		if (known == 0 || total % known)
			err(o, "cannot infer the -1 dimension of the shape");
		s.dims[infer] = total / known;
	}
	out(o, 0, reshape(o, x, &s));
}

static void rd_flatten(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	const struct ir_shape *xs = shp(o, x);
	int axis = axis_of(o, attr_i(o, "axis", 1), xs->rank, 1);
	struct ir_shape s = {.rank = 2, .dims = {1, 1}};
	for (int i = 0; i < xs->rank; i++)
		s.dims[i >= axis] *= xs->dims[i];
	out(o, 0, reshape(o, x, &s));
}

/* Axes from the attribute (before opset 13) or input 1; *n = -1 when absent. */
static const int64_t *axes_arg(struct onx *o, int64_t *n)
{
	const int64_t *v = NULL;
	*n = -1;
	if (o->opset < 13) {
		*n = attr_ints(o, "axes", &v);
		return v;
	}
	if (in(o, 1) == IR_NONE)
		return NULL;
	return need_ints(o, 1, n, "axes");
}

static void rd_squeeze(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	const struct ir_shape *xs = shp(o, x);
	int64_t n;
	const int64_t *v = axes_arg(o, &n);
	unsigned drop = 0;
	if (n < 0) {
		for (int i = 0; i < xs->rank; i++)
			if (xs->dims[i] == 1)
				drop |= 1u << i;
	}
	for (int64_t i = 0; i < n; i++) {
		int a = axis_of(o, v[i], xs->rank, 0);
		if (xs->dims[a] != 1)
			err(o, "cannot squeeze axis %d of size %lld", a, (long long)xs->dims[a]);
		drop |= 1u << a;
	}
	struct ir_shape s = {.rank = 0};
	for (int i = 0; i < xs->rank; i++)
		if (!(drop & (1u << i)))
			s.dims[s.rank++] = xs->dims[i];
	out(o, 0, reshape(o, x, &s));
}

static void rd_unsqueeze(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	const struct ir_shape *xs = shp(o, x);
	int64_t n;
	const int64_t *v = axes_arg(o, &n);
	if (n < 0)
		err(o, "'axes' is required");
	int r = xs->rank + (int)n;
	if (r > KILN_MAX_RANK)
		err(o, "rank %d is too large", r);
	unsigned add = 0;
	for (int64_t i = 0; i < n; i++) {
		int a = axis_of(o, v[i], r, 0);
		if (add & (1u << a))
			err(o, "axis %d given twice", a);
		add |= 1u << a;
	}
	struct ir_shape s = {.rank = r};
	for (int i = 0, j = 0; i < r; i++)
		s.dims[i] = add & (1u << i) ? 1 : xs->dims[j++];
	out(o, 0, reshape(o, x, &s));
}

static void rd_transpose(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	int r = shp(o, x)->rank, perm[KILN_MAX_RANK];
	const int64_t *v;
	int n = attr_ints(o, "perm", &v);
	unsigned seen = 0;
	for (int i = 0; i < r; i++) {
		perm[i] = n < 0 ? r - 1 - i : (n == r ? axis_of(o, v[i], r, 0) : -1);
		if (perm[i] < 0 || seen & (1u << perm[i]))
			err(o, "'perm' is not a permutation of %d axes", r);
		seen |= 1u << perm[i];
	}
	out(o, 0, permute(o, x, perm));
}

static void rd_concat(struct onx *o)
{
	int n = nin(o);
	if (n < 1 || n > 1024)
		err(o, "%d inputs: kiln concatenates 1 to 1024 tensors", n);
	uint32_t *v = arena_alloc(A(o), sizeof *v * (size_t)(n + 1));
	int k = 0;
	for (int i = 0; i < n; i++) {
		v[k] = need_in(o, i);
		if (shape_numel(shp(o, v[k])) != 0 || n == 1)
			k++;
	}
	if (k == 0)
		v[k++] = need_in(o, 0);
	int r = shp(o, v[0])->rank;
	int axis = axis_of(o, attr_i(o, "axis", o->opset < 4 ? 1 : 0), r, 0);
	/* constant integer pieces: evaluate here (shape computations) */
	int all = 1;
	int64_t total = 0;
	for (int i = 0; i < k && all; i++) {
		int64_t *d, m;
		all = r == 1 && const_ints(o, v[i], &d, &m) && V(o, v[i])->dtype == V(o, v[0])->dtype;
		total += all ? m : 0;
	}
	if (all && total <= MAX_FOLD) {
		int64_t *d = arena_alloc(A(o), sizeof *d * (size_t)(total + 1)), at = 0;
		for (int i = 0; i < k; i++) {
			int64_t *p, m;
			const_ints(o, v[i], &p, &m);
			memcpy(d + at, p, sizeof *d * (size_t)m);
			at += m;
		}
		struct ir_shape s = shape1(total);
		out(o, 0, const_from(o, V(o, v[0])->dtype, &s, d, NULL));
		return;
	}
	out(o, 0, k == 1 ? op1(o, OP_IDENTITY, v[0]) : concat(o, v, k, axis));
}

/* Clamp a Slice bound as ONNX does: negatives count from the end, then into range. */
static int64_t clamp_bound(int64_t v, int64_t dim, int64_t lo, int64_t hi)
{
	if (v < 0)
		v += dim;
	return v < lo ? lo : v > hi ? hi : v;
}

static void rd_slice(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	struct ir_shape xs = *shp(o, x);
	int64_t ns, ne, na = -1, nst = -1;
	const int64_t *st = NULL, *en = NULL, *ax = NULL, *sp = NULL;
	if (o->opset < 10) {
		int a = attr_ints(o, "starts", &st), b = attr_ints(o, "ends", &en);
		if (a < 0 || b < 0)
			err(o, "'starts' and 'ends' are required");
		ns = a;
		ne = b;
		na = attr_ints(o, "axes", &ax);
	} else {
		st = need_ints(o, 1, &ns, "starts");
		en = need_ints(o, 2, &ne, "ends");
		if (in(o, 3) != IR_NONE)
			ax = need_ints(o, 3, &na, "axes");
		if (in(o, 4) != IR_NONE)
			sp = need_ints(o, 4, &nst, "steps");
	}
	if (ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
		err(o, "starts, ends, axes and steps differ in length");
	int64_t start[KILN_MAX_RANK], end[KILN_MAX_RANK], step[KILN_MAX_RANK];
	unsigned seen = 0;
	for (int i = 0; i < xs.rank; i++) {
		start[i] = 0;
		end[i] = xs.dims[i];
		step[i] = 1;
	}
	for (int64_t i = 0; i < ns; i++) {
		int a = axis_of(o, ax ? ax[i] : i, xs.rank, 0);
		if (seen & (1u << a))
			err(o, "axis %d is sliced twice", a);
		seen |= 1u << a;
		int64_t d = xs.dims[a], s = sp ? sp[i] : 1;
		if (s == 0)
			err(o, "a step of 0");
		step[a] = s;
		if (s > 0) {
			start[a] = clamp_bound(st[i], d, 0, d);
			end[a] = clamp_bound(en[i], d, 0, d);
		} else {
			start[a] = clamp_bound(st[i], d, 0, d - 1);
			end[a] = en[i] < -d ? -1 : clamp_bound(en[i], d, -1, d - 1);
		}
	}
	/* constant 1-D integer input: evaluate here */
	int64_t *cv, cn;
	if (xs.rank == 1 && const_ints(o, x, &cv, &cn)) {
		int64_t *r = arena_alloc(A(o), sizeof *r * (size_t)(cn + 1)), k = 0;
		for (int64_t i = start[0]; step[0] > 0 ? i < end[0] : i > end[0]; i += step[0])
			r[k++] = cv[i];
		struct ir_shape s = shape1(k);
		out(o, 0, const_from(o, V(o, x)->dtype, &s, r, NULL));
		return;
	}
	uint32_t y = x;
	for (int a = 0; a < xs.rank; a++) {
		if (step[a] == 1 && start[a] == 0 && end[a] == xs.dims[a])
			continue;
		if (step[a] < 0)
			err(o, "negative slice steps are not supported");
		int64_t e = end[a] < start[a] ? start[a] : end[a];
		if (e == start[a])
			err(o, "an empty slice is not supported");
		y = slice(o, y, a, start[a], e, step[a]);
	}
	out(o, 0, y == x ? op1(o, OP_IDENTITY, x) : y);
}

static void rd_split(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	const struct ir_shape *xs = shp(o, x);
	int axis = axis_of(o, attr_i(o, "axis", 0), xs->rank, 0);
	int nout = (int)o->node->n_output;
	int64_t sizes[256], n = -1;
	const int64_t *v = NULL;
	if (nout < 1 || nout > 256)
		err(o, "%d outputs", nout);
	if (o->opset < 13)
		n = attr_ints(o, "split", &v);
	else if (in(o, 1) != IR_NONE)
		v = need_ints(o, 1, &n, "split");
	int64_t d = xs->dims[axis];
	if (n >= 0) {
		if (n != nout)
			err(o, "'split' has %lld sizes for %d outputs", (long long)n, nout);
		int64_t t = 0;
		for (int i = 0; i < nout; i++) {
			sizes[i] = v[i];
			if (v[i] <= 0)
				err(o, "split size %lld", (long long)v[i]);
			t += v[i];
		}
		if (t != d)
			err(o, "split sizes add up to %lld, not %lld", (long long)t, (long long)d);
	} else if (o->opset >= 18) {   /* num_outputs: equal chunks, the last one smaller */
		if (attr_i(o, "num_outputs", nout) != nout)
			err(o, "'num_outputs' differs from the number of outputs");
		int64_t chunk = (d + nout - 1) / nout;
		for (int i = 0; i < nout; i++) {
			sizes[i] = d - i * chunk < chunk ? d - i * chunk : chunk;
			if (sizes[i] <= 0)
				err(o, "dimension %lld does not split into %d parts", (long long)d, nout);
		}
	} else {
		if (d % nout)
			err(o, "dimension %lld does not split evenly into %d", (long long)d, nout);
		for (int i = 0; i < nout; i++)
			sizes[i] = d / nout;
	}
	int64_t at = 0;
	for (int i = 0; i < nout; i++) {
		if (has_out(o, i))
			out(o, i, sizes[i] == d ? op1(o, OP_IDENTITY, x)
			                        : slice(o, x, axis, at, at + sizes[i], 1));
		at += sizes[i];
	}
}

static void rd_gather(struct onx *o)
{
	uint32_t x = need_in(o, 0), ix = need_in(o, 1);
	const struct ir_shape *xs = shp(o, x), *is = shp(o, ix);
	int axis = axis_of(o, attr_i(o, "axis", 0), xs->rank, 0);
	int64_t *idx, n, d = xs->dims[axis];
	if (xs->rank + is->rank - 1 > KILN_MAX_RANK)
		err(o, "the result has too many dimensions");
	struct ir_shape ys = {.rank = 0};
	for (int i = 0; i < axis; i++)
		ys.dims[ys.rank++] = xs->dims[i];
	for (int i = 0; i < is->rank; i++)
		ys.dims[ys.rank++] = is->dims[i];
	for (int i = axis + 1; i < xs->rank; i++)
		ys.dims[ys.rank++] = xs->dims[i];
	if (!const_ints(o, ix, &idx, &n)) {
		out(o, 0, gather_rows(o, x, ix, axis, &ys));
		return;
	}
	for (int64_t i = 0; i < n; i++) {
		if (idx[i] < -d || idx[i] >= d)
			err(o, "index %lld is out of range for a dimension of %lld", (long long)idx[i],
			    (long long)d);
		if (idx[i] < 0)
			idx[i] += d;
	}
	int64_t *cv, cn;
	if (xs->rank == 1 && const_ints(o, x, &cv, &cn)) {
		int64_t *r = arena_alloc(A(o), sizeof *r * (size_t)(n + 1));
		for (int64_t i = 0; i < n; i++)
			r[i] = cv[idx[i]];
		out(o, 0, const_from(o, V(o, x)->dtype, &ys, r, NULL));
		return;
	}
	if (n == 0 || n > 1024)
		err(o, "%lld indices: kiln gathers between 1 and 1024 constant indices", (long long)n);
	uint32_t *parts = arena_alloc(A(o), sizeof *parts * (size_t)n);
	int k = 0;
	for (int64_t i = 0; i < n; i++) {
		int64_t j = i + 1;   /* runs of consecutive indices are one slice */
		while (j < n && idx[j] == idx[j - 1] + 1)
			j++;
		parts[k++] = idx[i] == 0 && idx[j - 1] == d - 1 ? x
		             : slice(o, x, axis, idx[i], idx[j - 1] + 1, 1);
		i = j - 1;
	}
	out(o, 0, reshape(o, concat(o, parts, k, axis), &ys));
}

static void rd_expand(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	int64_t n, *v = need_ints(o, 1, &n, "shape");
	const struct ir_shape *xs = shp(o, x);
	if (n > KILN_MAX_RANK)
		err(o, "rank %lld is too large", (long long)n);
	struct ir_shape s = {.rank = xs->rank > n ? xs->rank : (int)n};
	for (int i = 0; i < s.rank; i++) {
		int ix = i - (s.rank - xs->rank), iv = i - (s.rank - (int)n);
		int64_t a = ix >= 0 ? xs->dims[ix] : 1, b = iv >= 0 ? v[iv] : 1;
		if (a != b && a != 1 && b != 1)
			err(o, "shape %lld does not broadcast with %lld", (long long)a, (long long)b);
		if (b < 0 || b > MAX_ELEMS)
			err(o, "invalid dimension %lld", (long long)b);
		s.dims[i] = a == 1 ? b : a;
	}
	check_size(o, &s);
	if (shape_eq(&s, xs)) {
		out(o, 0, op1(o, OP_IDENTITY, x));
		return;
	}
	out(o, 0, finish_as(o, new_node(o, OP_EXPAND, &x, 1, 1), V(o, x)->dtype, &s));
}

static void rd_tile(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	int64_t n, *rep = need_ints(o, 1, &n, "repeats");
	int r = shp(o, x)->rank;
	if (n != r)
		err(o, "%lld repeats for rank %d", (long long)n, r);
	uint32_t y = x;
	for (int a = 0; a < r; a++) {
		if (rep[a] < 1 || rep[a] > 1024)
			err(o, "repeat count %lld", (long long)rep[a]);
		if (rep[a] == 1)
			continue;
		uint32_t *p = arena_alloc(A(o), sizeof *p * (size_t)rep[a]);
		for (int64_t i = 0; i < rep[a]; i++)
			p[i] = y;
		y = concat(o, p, (int)rep[a], a);
	}
	out(o, 0, y == x ? op1(o, OP_IDENTITY, x) : y);
}

static void rd_pad(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	int r = shp(o, x)->rank;
	const char *mode = attr_s(o, "mode", "constant");
	if (strcmp(mode, "constant") != 0)
		err(o, "pad mode '%s' is not supported (only 'constant')", mode);
	const int64_t *p = NULL;
	int64_t n;
	double val = 0;
	if (o->opset < 11) {
		int k = attr_ints(o, "pads", &p);
		n = k;
		val = attr_f(o, "value", 0);
	} else {
		p = need_ints(o, 1, &n, "pads");
		double *cv;
		int64_t cn;
		if (in(o, 2) != IR_NONE) {
			if (!const_doubles(o, in(o, 2), &cv, &cn) || cn != 1)
				err(o, "constant_value must be a constant scalar");
			val = cv[0];
		}
	}
	int64_t full[2 * KILN_MAX_RANK] = {0};
	if (o->opset >= 18 && in(o, 3) != IR_NONE) {   /* pads of the axes given */
		int64_t na, *ax = need_ints(o, 3, &na, "axes");
		if (n != 2 * na)
			err(o, "%lld pads for %lld axes", (long long)n, (long long)na);
		for (int64_t i = 0; i < na; i++) {
			int k = axis_of(o, ax[i], r, 0);
			full[k] = p[i];
			full[r + k] = p[na + i];
		}
	} else {
		if (n != 2 * r)
			err(o, "%lld pads for rank %d", (long long)n, r);
		if (n)
			memcpy(full, p, sizeof *p * (size_t)n);
	}
	p = full;
	uint32_t id = new_node(o, OP_PAD, &x, 1, 1);
	struct pad_attr *a = &ir_node(o->m, id)->a.pad;
	for (int i = 0; i < r; i++) {
		a->before[i] = p[i];
		a->after[i] = p[r + i];
		if (p[i] < -((int64_t)1 << 30) || p[i] > ((int64_t)1 << 30) ||
		    p[r + i] < -((int64_t)1 << 30) || p[r + i] > ((int64_t)1 << 30) ||
		    shp(o, x)->dims[i] + p[i] + p[r + i] < 0)
			err(o, "invalid padding");
	}
	a->value = val;
	out(o, 0, finish(o, id));
}

static void rd_cast(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	enum dtype to;
	if (strcmp(o->node->op_type, "CastLike") == 0)
		to = V(o, need_in(o, 1))->dtype;
	else
		to = need_dt(o, (int)attr_i(o, "to", 0), "the target type");
	int64_t *iv, n;
	int int_to = to == DT_I64 || to == DT_I32 || to == DT_I16 || to == DT_I8 || to == DT_U8 ||
	             to == DT_BOOL;
	if (int_to && const_ints(o, x, &iv, &n)) {
		out(o, 0, const_from(o, to, shp(o, x), iv, NULL));
		return;
	}
	out(o, 0, V(o, x)->dtype == to ? op1(o, OP_IDENTITY, x) : cast(o, x, to));
}

static void rd_range(struct onx *o)
{
	double *s, *l, *d;
	int64_t n;
	uint32_t x = need_in(o, 0);
	int64_t n1, n2;
	if (!const_doubles(o, x, &s, &n) || !const_doubles(o, need_in(o, 1), &l, &n1) ||
	    !const_doubles(o, need_in(o, 2), &d, &n2))
		err(o, "start, limit and delta must be constants");
	if (n != 1 || n1 != 1 || n2 != 1)
		err(o, "start, limit and delta must be scalars");
	if (d[0] == 0)
		err(o, "delta is 0");
	double c = ceil((l[0] - s[0]) / d[0]);
	if (c > MAX_FOLD * 64)
		err(o, "the range is too long");
	int64_t k = c > 0 ? (int64_t)c : 0;
	double *v = arena_alloc(A(o), sizeof *v * (size_t)(k + 1));
	for (int64_t i = 0; i < k; i++)
		v[i] = s[0] + (double)i * d[0];
	struct ir_shape sh = shape1(k);
	out(o, 0, const_from(o, V(o, x)->dtype, &sh, NULL, v));
}

/* DepthToSpace / SpaceToDepth: reshape, permute, reshape. */
static void rd_depth_space(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	const struct ir_shape *xs = shp(o, x);
	if (xs->rank != 4)
		err(o, "expected a 4-D input");
	int64_t bs = attr_i(o, "blocksize", 0), N = xs->dims[0], C = xs->dims[1], H = xs->dims[2],
	        W = xs->dims[3];
	if (bs < 1 || bs > 1024)
		err(o, "invalid blocksize");
	int to_space = o->node->op_type[0] == 'D';
	struct ir_shape s1 = {.rank = 6}, s2 = {.rank = 4};
	int perm[6];
	if (to_space) {
		if (C % (bs * bs))
			err(o, "channels are not divisible by blocksize^2");
		int crd = strcmp(attr_s(o, "mode", "DCR"), "CRD") == 0;
		int64_t c = C / (bs * bs);
		if (crd) {
			s1 = (struct ir_shape){.rank = 6, .dims = {N, c, bs, bs, H, W}};
			memcpy(perm, (int[]){0, 1, 4, 2, 5, 3}, sizeof perm);
		} else {
			s1 = (struct ir_shape){.rank = 6, .dims = {N, bs, bs, c, H, W}};
			memcpy(perm, (int[]){0, 3, 4, 1, 5, 2}, sizeof perm);
		}
		s2 = (struct ir_shape){.rank = 4, .dims = {N, c, H * bs, W * bs}};
	} else {
		if (H % bs || W % bs)
			err(o, "spatial dimensions are not divisible by blocksize");
		s1 = (struct ir_shape){.rank = 6, .dims = {N, C, H / bs, bs, W / bs, bs}};
		memcpy(perm, (int[]){0, 3, 5, 1, 2, 4}, sizeof perm);
		s2 = (struct ir_shape){.rank = 4, .dims = {N, C * bs * bs, H / bs, W / bs}};
	}
	out(o, 0, reshape(o, permute(o, reshape(o, x, &s1), perm), &s2));
}


static uint32_t cmp(struct onx *o, enum sop op, uint32_t a, uint32_t b)
{
	uint32_t in2[2] = {a, b};
	uint32_t id = new_node(o, OP_COMPARE, in2, 2, 1);
	ir_node(o->m, id)->a.sop.op = op;
	return finish(o, id);
}

static uint32_t where(struct onx *o, uint32_t c, uint32_t a, uint32_t b)
{
	uint32_t w[3] = {c, a, b};
	return finish(o, new_node(o, OP_WHERE, w, 3, 1));
}

/* x as f32 (indices, bools: exact below 2^24) */
static uint32_t f32(struct onx *o, uint32_t x) { return cast(o, x, DT_F32); }

/* A constant f32 tensor of rank r holding 0, 1, ..., d-1 along axis (1 elsewhere). */
static uint32_t iota_t(struct onx *o, int r, int axis, int64_t d, enum dtype dt)
{
	struct ir_shape s = {.rank = r};
	for (int i = 0; i < r; i++)
		s.dims[i] = i == axis ? d : 1;
	check_const(o, d);
	double *v = arena_alloc(A(o), sizeof *v * (size_t)(d + 1));
	for (int64_t i = 0; i < d; i++)
		v[i] = (double)i;
	return const_from(o, dt, &s, NULL, v);
}

static uint32_t iota(struct onx *o, int r, int axis, int64_t d)
{
	return iota_t(o, r, axis, d, DT_F32);
}

/* Negative indices count from the end: i < 0 ? i + d : i, in the indices' own type. */
static uint32_t wrap_index(struct onx *o, uint32_t ix, int64_t d)
{
	enum dtype t = V(o, ix)->dtype;
	if (t != DT_I64 && t != DT_I32)
		err(o, "indices must be int64 or int32");
	return where(o, cmp(o, SOP_LT, ix, scalar(o, t, 0)), op2(o, OP_ADD, ix, scalar(o, t, (double)d)),
	             ix);
}

/* trunc(x) of an f32 tensor, through int64 */
static uint32_t trunc_f(struct onx *o, uint32_t x) { return f32(o, cast(o, x, DT_I64)); }

/* Rows of x along axis picked by run-time indices ix (any shape), as Gather: one
 * embedding lookup of the axis moved first, then the axes put back. Negative indices
 * count from the end. ys is the result's shape. */
static uint32_t gather_rows(struct onx *o, uint32_t x, uint32_t ix, int axis,
                            const struct ir_shape *ys)
{
	const struct ir_shape xs = *shp(o, x), is = *shp(o, ix);
	int r = xs.rank, q = is.rank, perm[KILN_MAX_RANK];
	int64_t d = xs.dims[axis];
	if (r < 1)
		err(o, "cannot gather from a 0-d tensor");
	ix = cast(o, wrap_index(o, ix, d), DT_I64);
	uint32_t t = x;
	if (axis) {
		perm[0] = axis;
		for (int i = 0, k = 1; i < r; i++)
			if (i != axis)
				perm[k++] = i;
		t = permute(o, x, perm);
	}
	struct ir_shape s2 = {.rank = 2, .dims = {d, d ? shape_numel(&xs) / d : 0}};
	t = reshape(o, t, &s2);
	uint32_t e[2] = {t, ix};
	uint32_t y = finish(o, new_node(o, OP_EMBEDDING, e, 2, 1));
	struct ir_shape s3 = is;   /* idx dims, then x's other dims in order */
	for (int i = 0; i < r; i++)
		if (i != axis)
			s3.dims[s3.rank++] = xs.dims[i];
	y = reshape(o, y, &s3);
	if (axis) {   /* [I.., P.., S..] -> [P.., I.., S..] */
		for (int i = 0; i < s3.rank; i++)
			perm[i] = i < axis ? q + i : i < axis + q ? i - axis : i;
		y = permute(o, y, perm);
	}
	return reshape(o, y, ys);
}

/* And, Or, Xor, Not on bool tensors, through f32 */
static void rd_logic(struct onx *o)
{
	const char *t = o->node->op_type;
	uint32_t a = need_in(o, 0), b = t[0] == 'N' ? IR_NONE : need_in(o, 1);
	if (V(o, a)->dtype != DT_BOOL || (b != IR_NONE && V(o, b)->dtype != DT_BOOL))
		err(o, "the operands must be bool");
	uint32_t fa = f32(o, a), zero = scalar(o, DT_F32, 0), y;
	if (t[0] == 'N')
		y = cmp(o, SOP_EQ, fa, zero);
	else if (t[0] == 'A')
		y = cmp(o, SOP_NE, op2(o, OP_MUL, fa, f32(o, b)), zero);
	else if (t[0] == 'O')
		y = cmp(o, SOP_NE, op2(o, OP_MAXIMUM, fa, f32(o, b)), zero);
	else
		y = cmp(o, SOP_NE, fa, f32(o, b));
	out(o, 0, y);
}

/* Elementwise functions composed of the IR's: rounding, sign, hyperbolics, tests. */
static void rd_math(struct onx *o)
{
	const char *t = o->node->op_type;
	uint32_t x = need_in(o, 0), y;
	enum dtype dt = V(o, x)->dtype;
	if (dt != DT_F32)
		err(o, "only float32 is supported");
	if (strcmp(t, "Floor") == 0 || strcmp(t, "Ceil") == 0) {
		uint32_t tr = trunc_f(o, x);
		int fl = t[0] == 'F';
		uint32_t adj = f32(o, cmp(o, fl ? SOP_LT : SOP_GT, x, tr));
		y = op2(o, fl ? OP_SUB : OP_ADD, tr, adj);
	} else if (strcmp(t, "Sign") == 0) {
		uint32_t z = scalar(o, dt, 0);
		y = op2(o, OP_SUB, f32(o, cmp(o, SOP_GT, x, z)), f32(o, cmp(o, SOP_LT, x, z)));
	} else if (strcmp(t, "Sinh") == 0 || strcmp(t, "Cosh") == 0) {
		uint32_t e1 = op1(o, OP_EXP, x), e2 = op1(o, OP_EXP, op1(o, OP_NEG, x));
		y = affine(o, op2(o, t[0] == 'S' ? OP_SUB : OP_ADD, e1, e2), 0.5, 0);
	} else if (strcmp(t, "Asinh") == 0 || strcmp(t, "Acosh") == 0) {
		uint32_t r = op1(o, OP_SQRT, affine(o, op2(o, OP_MUL, x, x), 1, t[1] == 's' ? 1 : -1));
		y = op1(o, OP_LOG, op2(o, OP_ADD, x, r));
	} else if (strcmp(t, "Atanh") == 0) {
		y = affine(o, op1(o, OP_LOG, op2(o, OP_DIV, affine(o, x, 1, 1), affine(o, x, -1, 1))),
		           0.5, 0);
	} else if (strcmp(t, "IsNaN") == 0) {
		y = cmp(o, SOP_NE, x, x);
	} else if (strcmp(t, "IsInf") == 0) {
		int pos = (int)attr_i(o, "detect_positive", 1), neg = (int)attr_i(o, "detect_negative", 1);
		uint32_t ax = pos && neg ? op1(o, OP_ABS, x) : neg ? op1(o, OP_NEG, x) : x;
		y = pos || neg ? cmp(o, SOP_EQ, ax, scalar(o, dt, INFINITY))
		               : cmp(o, SOP_LT, x, scalar(o, dt, -INFINITY));   /* all false */
	} else {
		unreachable();
	}
	out(o, 0, y);
}

/* Mod with fmod=1 on floats: a - b * trunc(a / b) */
static uint32_t floor_f(struct onx *o, uint32_t x);

/* Mod: fmod=1 is C's remainder a - b * trunc(a / b); fmod=0 (integers only, as ONNX
 * requires) takes the divisor's sign, adding b to a nonzero remainder of the other sign. */
static void rd_mod(struct onx *o)
{
	uint32_t a = need_in(o, 0), b = need_in(o, 1);
	enum dtype t = V(o, a)->dtype;
	int fm = (int)attr_i(o, "fmod", 0);
	if (V(o, b)->dtype != t)
		err(o, "the operands differ in type");
	if (t == DT_F32) {
		uint32_t q = op2(o, OP_DIV, a, b);
		q = fm ? trunc_f(o, q) : floor_f(o, q);
		out(o, 0, op2(o, OP_SUB, a, op2(o, OP_MUL, b, q)));
		return;
	}
	if (t != DT_I64 && t != DT_I32 && t != DT_U8)
		err(o, "%s operands are not supported", dtype_name(t));
	uint32_t r = op2(o, OP_SUB, a, op2(o, OP_MUL, b, op2(o, OP_DIV, a, b)));
	if (!fm) {
		uint32_t z = scalar(o, t, 0);
		uint32_t off = op2(o, OP_MUL, cmp(o, SOP_NE, r, z),
		                   cmp(o, SOP_NE, cmp(o, SOP_LT, r, z), cmp(o, SOP_LT, b, z)));
		r = op2(o, OP_ADD, r, where(o, off, b, scalar(o, t, 0)));
	}
	out(o, 0, r);
}

/* ReduceProd: exp(sum(log|x|)), negated where an odd number of factors is negative */
static uint32_t reduce_prod(struct onx *o, uint32_t x, unsigned axes, int keep)
{
	uint32_t mag = op1(o, OP_EXP, reduce(o, OP_REDUCE_SUM, op1(o, OP_LOG, op1(o, OP_ABS, x)),
	                                     axes, keep));
	uint32_t nneg = reduce(o, OP_REDUCE_SUM, f32(o, cmp(o, SOP_LT, x, scalar(o, DT_F32, 0))),
	                       axes, keep);
	uint32_t odd = op2(o, OP_SUB, nneg, affine(o, trunc_f(o, affine(o, nneg, 0.5, 0)), 2, 0));
	return op2(o, OP_MUL, mag, affine(o, odd, -2, 1));
}

/* ArgMax / ArgMin of an f32 tensor along axis as f32 indices (keepdims 1): the first (or
 * last) position holding the extreme value. */
static uint32_t arg_extreme(struct onx *o, uint32_t x, int axis, int max, int last)
{
	const struct ir_shape *xs = shp(o, x);
	if (V(o, x)->dtype != DT_F32)
		err(o, "only float32 is supported");
	unsigned bit = 1u << axis;
	uint32_t m = reduce(o, max ? OP_REDUCE_MAX : OP_REDUCE_MIN, x, bit, 1);
	uint32_t idx = iota(o, xs->rank, axis, xs->dims[axis]);
	uint32_t c = where(o, cmp(o, SOP_EQ, x, m), idx,
	                   scalar(o, DT_F32, last ? -1.0 : (double)xs->dims[axis]));
	return reduce(o, last ? OP_REDUCE_MAX : OP_REDUCE_MIN, c, bit, 1);
}

static void rd_argmax(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	int r = shp(o, x)->rank, axis = axis_of(o, attr_i(o, "axis", 0), r, 0);
	uint32_t i = arg_extreme(o, x, axis, o->node->op_type[3] == 'M' && o->node->op_type[4] == 'a',
	                         (int)attr_i(o, "select_last_index", 0));
	if (!attr_i(o, "keepdims", 1)) {
		struct ir_shape s = {.rank = 0};
		for (int k = 0; k < r; k++)
			if (k != axis)
				s.dims[s.rank++] = shp(o, x)->dims[k];
		i = reshape(o, i, &s);
	}
	out(o, 0, cast(o, i, DT_I64));
}

static void rd_hardmax(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	struct ir_shape s = *shp(o, x);
	int axis = axis_of(o, attr_i(o, "axis", o->opset >= 13 ? -1 : 1), s.rank, 0);
	uint32_t y = x;
	if (o->opset < 13) {
		struct ir_shape f = {.rank = 2, .dims = {1, 1}};
		for (int i = 0; i < s.rank; i++)
			f.dims[i >= axis] *= s.dims[i];
		y = reshape(o, x, &f);
		axis = 1;
	}
	uint32_t am = arg_extreme(o, y, axis, 1, 0);
	uint32_t idx = iota(o, shp(o, y)->rank, axis, shp(o, y)->dims[axis]);
	out(o, 0, reshape(o, f32(o, cmp(o, SOP_EQ, idx, am)), &s));
}

static void rd_trilu(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	const struct ir_shape *xs = shp(o, x);
	int64_t k = 0, *kv, n;
	if (in(o, 1) != IR_NONE) {
		kv = need_ints(o, 1, &n, "k");
		if (n != 1)
			err(o, "k must have one element");
		k = kv[0];
	}
	if (xs->rank < 2)
		err(o, "expected a tensor of rank 2 or more");
	int64_t R = xs->dims[xs->rank - 2], C = xs->dims[xs->rank - 1];
	if (R * C > ((int64_t)1 << 26))
		err(o, "the matrix is too large");
	int upper = (int)attr_i(o, "upper", 1);
	struct ir_shape ms = {.rank = 2, .dims = {R, C}};
	int64_t *mv = arena_alloc(A(o), sizeof *mv * (size_t)(R * C + 1));
	for (int64_t i = 0; i < R; i++)
		for (int64_t j = 0; j < C; j++)
			mv[i * C + j] = upper ? j - i >= k : j - i <= k;
	uint32_t mask = const_from(o, DT_BOOL, &ms, mv, NULL);
	out(o, 0, where(o, mask, x, scalar(o, V(o, x)->dtype, 0)));
}

/* NegativeLogLikelihoodLoss of log-probabilities logp [N, C, d...] and integer targets
 * [N, d...]: -logp[n, t, d...] * weight[t], masked by ignore_index, then reduced. The
 * pick is a one-hot product, so run-time targets need no gather kernel. */
static uint32_t nll(struct onx *o, uint32_t logp, uint32_t target, uint32_t weight)
{
	const struct ir_shape *ls = shp(o, logp), *ts = shp(o, target);
	int r = ls->rank;
	if (r < 2 || ts->rank != r - 1 || V(o, logp)->dtype != DT_F32)
		err(o, "expected float32 scores [N, C, ...] and targets [N, ...]");
	int64_t C = ls->dims[1];
	struct ir_shape t1 = {.rank = r};
	for (int i = 0, j = 0; i < r; i++)
		t1.dims[i] = i == 1 ? 1 : ts->dims[j++];
	enum dtype tt = V(o, target)->dtype;
	if (tt != DT_I64 && tt != DT_I32)
		err(o, "targets must be int64 or int32");
	uint32_t onehot = f32(o, cmp(o, SOP_EQ, reshape(o, target, &t1), iota_t(o, r, 1, C, tt)));
	uint32_t picked = reduce(o, OP_REDUCE_SUM, op2(o, OP_MUL, onehot, logp), 2, 0);
	uint32_t w = IR_NONE;
	if (weight != IR_NONE) {
		struct ir_shape ws = {.rank = r};
		for (int i = 0; i < r; i++)
			ws.dims[i] = i == 1 ? C : 1;
		w = reduce(o, OP_REDUCE_SUM, op2(o, OP_MUL, onehot, reshape(o, weight, &ws)), 2, 0);
	}
	const Onnx__AttributeProto *ig = attr(o, "ignore_index");
	if (ig) {
		uint32_t keep = f32(o, cmp(o, SOP_NE, target, scalar(o, tt, (double)ig->i)));
		w = w == IR_NONE ? keep : op2(o, OP_MUL, w, keep);
	}
	uint32_t loss = op1(o, OP_NEG, w == IR_NONE ? picked : op2(o, OP_MUL, picked, w));
	const char *red = attr_s(o, "reduction", "mean");
	unsigned all = (1u << (r - 1)) - 1;
	if (strcmp(red, "none") == 0)
		return loss;
	uint32_t sum = reduce(o, OP_REDUCE_SUM, loss, all, 0);
	if (strcmp(red, "sum") == 0)
		return sum;
	if (strcmp(red, "mean") != 0)
		err(o, "unknown reduction '%s'", red);
	if (w == IR_NONE)
		return op2(o, OP_DIV, sum, scalar(o, DT_F32, (double)shape_numel(ts)));
	return op2(o, OP_DIV, sum, reduce(o, OP_REDUCE_SUM, w, all, 0));
}

static void rd_nll(struct onx *o)
{
	out(o, 0, nll(o, need_in(o, 0), need_in(o, 1), in(o, 2)));
}

static void rd_sce(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	if (shp(o, x)->rank < 2)
		err(o, "expected scores [N, C, ...]");
	uint32_t id = new_node(o, OP_LOG_SOFTMAX, &x, 1, 1);
	ir_node(o->m, id)->a.axis.axis = 1;
	uint32_t logp = finish(o, id);
	out(o, 0, nll(o, logp, need_in(o, 1), in(o, 2)));
	out(o, 1, logp);
}


/* GatherElements: y[.., j, ..] = x[.., idx[.., j, ..], ..] along axis, as a one-hot product
 * over the axis (exact: one term is nonzero), so run-time indices need no gather kernel. */
static void rd_gather_elements(struct onx *o)
{
	uint32_t x = need_in(o, 0), ix = need_in(o, 1);
	struct ir_shape xs = *shp(o, x), is = *shp(o, ix);
	int r = xs.rank;
	if (r < 1 || is.rank != r || r + 1 > KILN_MAX_RANK)
		err(o, "data and indices must have the same rank");
	if (V(o, x)->dtype != DT_F32)
		err(o, "only float32 data is supported");
	int axis = axis_of(o, attr_i(o, "axis", 0), r, 0);
	int64_t d = xs.dims[axis];
	for (int i = 0; i < r; i++) {
		if (i != axis && is.dims[i] > xs.dims[i])
			err(o, "indices are larger than the data on axis %d", i);
		if (i != axis && is.dims[i] < xs.dims[i])
			x = slice(o, x, i, 0, is.dims[i], 1);
	}
	uint32_t fi = wrap_index(o, ix, d);
	struct ir_shape s1 = {.rank = r + 1}, s2 = {.rank = r + 1};
	for (int i = 0, j = 0; i <= r; i++) {
		s1.dims[i] = i == axis + 1 ? 1 : is.dims[j];
		s2.dims[i] = i == axis ? 1 : shp(o, x)->dims[i > axis ? i - 1 : i];
		j += i != axis + 1;
	}
	uint32_t onehot = f32(o, cmp(o, SOP_EQ, reshape(o, fi, &s1),
	                             iota_t(o, r + 1, axis + 1, d, V(o, fi)->dtype)));
	uint32_t y = reduce(o, OP_REDUCE_SUM, op2(o, OP_MUL, onehot, reshape(o, x, &s2)),
	                    1u << (axis + 1), 0);
	out(o, 0, y);
}

/* Round half to even: f = floor(x + 0.5), minus 1 on an exact tie that lands on an odd f. */
static uint32_t floor_f(struct onx *o, uint32_t x)
{
	uint32_t tr = trunc_f(o, x);
	return op2(o, OP_SUB, tr, f32(o, cmp(o, SOP_LT, x, tr)));
}

static void rd_round(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	if (V(o, x)->dtype != DT_F32)
		err(o, "only float32 is supported");
	uint32_t f = floor_f(o, affine(o, x, 1, 0.5));
	uint32_t tie = f32(o, cmp(o, SOP_EQ, op2(o, OP_SUB, f, x), scalar(o, DT_F32, 0.5)));
	uint32_t odd = op1(o, OP_ABS, op2(o, OP_SUB, f, affine(o, trunc_f(o, affine(o, f, 0.5, 0)), 2, 0)));
	out(o, 0, op2(o, OP_SUB, f, op2(o, OP_MUL, tie, odd)));
}

static void rd_eyelike(struct onx *o)
{
	uint32_t x = need_in(o, 0);
	const struct ir_shape *xs = shp(o, x);
	if (xs->rank != 2)
		err(o, "expected a 2-D input");
	enum dtype dt = attr(o, "dtype") ? need_dt(o, (int)attr_i(o, "dtype", 1), "the output type")
	                                  : V(o, x)->dtype;
	int64_t k = attr_i(o, "k", 0), R = xs->dims[0], C = xs->dims[1];
	if (R * C > ((int64_t)1 << 26))
		err(o, "the matrix is too large");
	int64_t *v = arena_alloc(A(o), sizeof *v * (size_t)(R * C + 1));
	for (int64_t i = 0; i < R; i++)
		for (int64_t j = 0; j < C; j++)
			v[i * C + j] = j - i == k;
	out(o, 0, const_from(o, dt, xs, v, NULL));
}


/* Gate blocks of one direction d of an ONNX RNN weight t [dirs, G*H, cols] (or a bias
 * [dirs, 2*G*H] with cols 0: half `half`) in PyTorch's order: LSTM i,f,g,o from ONNX's
 * i,o,f,c; GRU r,z,n from z,r,h. */
static uint32_t rnn_gates(struct onx *o, uint32_t t, int d, int lstm, int64_t H, int64_t cols,
                          int half)
{
	static const int lstm_gate[4] = {0, 2, 3, 1}, gru_gate[3] = {1, 0, 2};
	int G = lstm ? 4 : 3;
	uint32_t td = slice(o, t, 0, d, d + 1, 1);
	struct ir_shape s = cols ? (struct ir_shape){.rank = 2, .dims = {G * H, cols}}
	                         : (struct ir_shape){.rank = 1, .dims = {2 * G * H}};
	td = reshape(o, td, &s);
	uint32_t parts[4];
	for (int g = 0; g < G; g++) {
		int64_t at = (half ? G * H : 0) + (lstm ? lstm_gate[g] : gru_gate[g]) * H;
		parts[g] = slice(o, td, 0, at, at + H, 1);
	}
	return concat(o, parts, G, 0);
}

/* LSTM and GRU (one layer per ONNX node) as the IR's PyTorch-style ops: default
 * activations, no peepholes, no clipping; GRU with linear_before_reset=1 (PyTorch's). */
static void rd_rnn(struct onx *o)
{
	int lstm = o->node->op_type[0] == 'L', G = lstm ? 4 : 3;
	uint32_t x = need_in(o, 0), W = need_in(o, 1), R = need_in(o, 2), B = in(o, 3);
	uint32_t h0 = in(o, 5), c0 = lstm ? in(o, 6) : IR_NONE;
	const Onnx__AttributeProto *a;
	if (lstm && in(o, 7) != IR_NONE)
		err(o, "peephole weights are not supported");
	if ((a = attr(o, "activations")) && a->n_strings)
		err(o, "activations other than the defaults are not supported");
	if (attr(o, "clip") || attr_i(o, "input_forget", 0))
		err(o, "clip and input_forget are not supported");
	if (!lstm && attr_i(o, "linear_before_reset", 0) != 1)
		err(o, "GRU with linear_before_reset=0 is not supported (kiln's GRU is PyTorch's, "
		    "linear_before_reset=1)");
	const char *dir = attr_s(o, "direction", "forward");
	int dirs = strcmp(dir, "bidirectional") == 0 ? 2 : 1;
	if (dirs == 1 && strcmp(dir, "forward") != 0)
		err(o, "direction '%s' is not supported", dir);
	int layout = (int)attr_i(o, "layout", 0);
	int64_t H = attr_i(o, "hidden_size", 0);
	const struct ir_shape *xs = shp(o, x);
	if (xs->rank != 3 || H < 1 || H > (1 << 20) || V(o, x)->dtype != DT_F32)
		err(o, "expected a 3-D float32 input and a hidden_size");
	int64_t T = xs->dims[layout ? 1 : 0], Bn = xs->dims[layout ? 0 : 1], I = xs->dims[2];
	if (in(o, 4) != IR_NONE) {
		int64_t *sl, n;
		if (!const_ints(o, in(o, 4), &sl, &n))
			err(o, "sequence_lens must be a constant");
		for (int64_t i = 0; i < n; i++)
			if (sl[i] != T)
				err(o, "sequences shorter than the input are not supported");
	}
	const struct ir_shape *ws = shp(o, W), *rs = shp(o, R);
	if (ws->rank != 3 || ws->dims[0] != dirs || ws->dims[1] != G * H || ws->dims[2] != I ||
	    rs->rank != 3 || rs->dims[0] != dirs || rs->dims[1] != G * H || rs->dims[2] != H ||
	    (B != IR_NONE && (shp(o, B)->rank != 2 || shp(o, B)->dims[1] != 2 * G * H)))
		err(o, "weights do not match the input, hidden_size and direction");
	struct ir_shape hs = {.rank = 3, .dims = {dirs, Bn, H}};
	uint32_t st[2] = {h0, c0};
	for (int k = 0; k < (lstm ? 2 : 1); k++) {
		if (st[k] == IR_NONE) {
			check_const(o, shape_numel(&hs));
			double *z = arena_alloc(A(o), sizeof *z * (size_t)(shape_numel(&hs) + 1));
			st[k] = const_from(o, DT_F32, &hs, NULL, z);
		} else if (layout) {
			st[k] = permute(o, st[k], (int[]){1, 0, 2});
		}
		if (!shape_eq(shp(o, st[k]), &hs))
			err(o, "the initial state does not match [directions, batch, hidden]");
	}
	int nst = lstm ? 2 : 1, nw = dirs * (B != IR_NONE ? 4 : 2);
	uint32_t ins[3 + 8];
	ins[0] = x;
	ins[1] = st[0];
	if (lstm)
		ins[2] = st[1];
	int k = 1 + nst;
	for (int d = 0; d < dirs; d++) {
		ins[k++] = rnn_gates(o, W, d, lstm, H, I, 0);
		ins[k++] = rnn_gates(o, R, d, lstm, H, H, 0);
		if (B != IR_NONE) {
			ins[k++] = rnn_gates(o, B, d, lstm, H, 0, 0);
			ins[k++] = rnn_gates(o, B, d, lstm, H, 0, 1);
		}
	}
	uint32_t id = new_node(o, lstm ? OP_LSTM : OP_GRU, ins, 1 + nst + nw, 1 + nst);
	ir_node(o->m, id)->a.rnn = (struct rnn_attr){1, dirs == 2, layout, (int)H, B != IR_NONE};
	uint32_t y = finish(o, id);
	struct ir_shape y4 = {.rank = 4, .dims = {layout ? Bn : T, layout ? T : Bn, dirs, H}};
	y = reshape(o, y, &y4);
	if (!layout)
		y = permute(o, y, (int[]){0, 2, 1, 3});
	out(o, 0, y);
	for (int s2 = 0; s2 < nst; s2++) {
		uint32_t hn = ir_node(o->m, id)->out[1 + s2];
		out(o, 1 + s2, layout ? permute(o, hn, (int[]){1, 0, 2}) : hn);
	}
}


/* t reversed along axis (a gather of constant indices: one slice each). */
static uint32_t flip(struct onx *o, uint32_t t, int axis)
{
	int64_t k = shp(o, t)->dims[axis];
	if (k <= 1)
		return t;
	if (k > 1024)
		err(o, "a kernel of %lld taps is too large", (long long)k);
	uint32_t *parts = arena_alloc(A(o), sizeof *parts * (size_t)k);
	for (int64_t j = 0; j < k; j++)
		parts[j] = slice(o, t, axis, k - 1 - j, k - j, 1);
	return concat(o, parts, (int)k, axis);
}

/* ConvTranspose (1-D, 2-D) as a convolution: the input with stride-1 zeros between
 * elements, padded by (k-1)*d minus the pads (plus output_padding at the end), convolved
 * at stride 1 with the flipped kernel whose in/out channels are swapped per group. */
static void rd_convtranspose(struct onx *o)
{
	uint32_t x = need_in(o, 0), w = need_in(o, 1), bias = in(o, 2);
	int rank = shp(o, x)->rank;
	if ((rank != 3 && rank != 4) || shp(o, w)->rank != rank || V(o, x)->dtype != DT_F32)
		err(o, "only 1-D and 2-D float32 transposed convolutions are supported");
	int nd = rank - 2;
	int64_t g = attr_i(o, "group", 1);
	const struct ir_shape xs0 = *shp(o, x), ws0 = *shp(o, w);
	if (g < 1 || xs0.dims[1] != ws0.dims[0] || ws0.dims[0] % g)
		err(o, "the weight does not match the input channels and group");
	const int64_t *st = NULL, *dl = NULL, *pd = NULL, *op = NULL, *os = NULL;
	int nst = attr_ints(o, "strides", &st), ndl = attr_ints(o, "dilations", &dl);
	int npd = attr_ints(o, "pads", &pd), nop = attr_ints(o, "output_padding", &op);
	int nos = attr_ints(o, "output_shape", &os);
	const char *ap = attr_s(o, "auto_pad", "NOTSET");
	if ((nst >= 0 && nst != nd) || (ndl >= 0 && ndl != nd) || (npd >= 0 && npd != 2 * nd) ||
	    (nop >= 0 && nop != nd) || (nos >= 0 && nos != nd))
		err(o, "strides, dilations, pads, output_padding or output_shape have the wrong length");
	int64_t S[2] = {1, 1}, Dl[2] = {1, 1}, K[2] = {1, 1}, IN[2] = {1, 1}, pb[2] = {0, 0},
	        pe[2] = {0, 0};
	for (int i = 0; i < nd; i++) {
		int j = i + 2 - nd;   /* 1-D: the W axis of the 4-D form */
		S[j] = nst >= 0 ? st[i] : 1;
		Dl[j] = ndl >= 0 ? dl[i] : 1;
		K[j] = ws0.dims[2 + i];
		IN[j] = xs0.dims[2 + i];
		int64_t opad = nop >= 0 ? op[i] : 0;
		if (S[j] < 1 || S[j] > 1024 || Dl[j] < 1 || Dl[j] > 1024 || opad < 0 || opad > 1024)
			err(o, "invalid stride, dilation or output padding");
		int same = strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0;
		if (nos >= 0 || same) {
			int64_t outd = nos >= 0 ? os[i] : IN[j] * S[j];
			int64_t total = S[j] * (IN[j] - 1) + opad + (K[j] - 1) * Dl[j] + 1 - outd;
			int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);   /* floor */
			if (strcmp(ap, "SAME_UPPER") == 0) {
				pb[j] = half;
				pe[j] = total - half;
			} else {
				pb[j] = total - half;
				pe[j] = half;
			}
		} else if (npd >= 0 && strcmp(ap, "VALID") != 0) {
			pb[j] = pd[i];
			pe[j] = pd[nd + i];
		}
		if (pb[j] < -65536 || pb[j] > 65536 || pe[j] < -65536 || pe[j] > 65536)
			err(o, "invalid padding");
		pe[j] -= opad;
	}
	x = to4d(o, x);
	w = to4d(o, w);
	struct ir_shape xs = *shp(o, x);
	/* zeros between the input's elements */
	if (S[0] > 1 || S[1] > 1) {
		struct ir_shape s6 = {.rank = 6, .dims = {xs.dims[0], xs.dims[1], xs.dims[2], 1, xs.dims[3], 1}};
		uint32_t u = reshape(o, x, &s6);
		uint32_t id = new_node(o, OP_PAD, &u, 1, 1);
		struct pad_attr *pa = &ir_node(o->m, id)->a.pad;
		memset(pa, 0, sizeof *pa);
		pa->after[3] = S[0] - 1;
		pa->after[5] = S[1] - 1;
		u = finish(o, id);
		struct ir_shape s4 = {.rank = 4, .dims = {xs.dims[0], xs.dims[1], xs.dims[2] * S[0],
		                                           xs.dims[3] * S[1]}};
		u = reshape(o, u, &s4);
		u = slice(o, u, 2, 0, (xs.dims[2] - 1) * S[0] + 1, 1);
		x = slice(o, u, 3, 0, (xs.dims[3] - 1) * S[1] + 1, 1);
	}
	int64_t b4[2], e4[2];
	for (int j = 0; j < 2; j++) {
		b4[j] = (K[j] - 1) * Dl[j] - pb[j];
		e4[j] = (K[j] - 1) * Dl[j] - pe[j];
	}
	if (b4[0] || b4[1] || e4[0] || e4[1])
		x = pad4d(o, x, b4, e4, 0);
	/* the kernel: flipped, channels swapped per group */
	struct ir_shape w4 = *shp(o, w);
	int64_t cin = w4.dims[0], coutg = w4.dims[1];
	w = flip(o, flip(o, w, 2), 3);
	struct ir_shape w5 = {.rank = 5, .dims = {g, cin / g, coutg, w4.dims[2], w4.dims[3]}};
	w = permute(o, reshape(o, w, &w5), (int[]){0, 2, 1, 3, 4});
	struct ir_shape wc = {.rank = 4, .dims = {g * coutg, cin / g, w4.dims[2], w4.dims[3]}};
	w = reshape(o, w, &wc);
	uint32_t ins[3] = {x, w, bias};
	uint32_t id = new_node(o, OP_CONV2D, ins, bias == IR_NONE ? 2 : 3, 1);
	struct conv_attr *a = &ir_node(o->m, id)->a.conv;
	for (int j = 0; j < 2; j++) {
		a->stride[j] = 1;
		a->dil[j] = (int)Dl[j];
	}
	a->groups = (int)g;
	out(o, 0, from4d(o, finish(o, id), rank));
}

static const struct { const char *name; op_fn *fn; } ops[] = {
	{"Identity", rd_identity}, {"Dropout", rd_dropout},
	{"Relu", rd_unary}, {"Sigmoid", rd_unary}, {"Tanh", rd_unary}, {"Exp", rd_unary},
	{"Log", rd_unary}, {"Sqrt", rd_unary}, {"Neg", rd_unary}, {"Abs", rd_unary},
	{"Erf", rd_unary}, {"HardSwish", rd_unary},
	{"LeakyRelu", rd_activation}, {"Elu", rd_activation}, {"Selu", rd_activation},
	{"Celu", rd_activation}, {"HardSigmoid", rd_activation}, {"Softplus", rd_activation},
	{"Softsign", rd_activation}, {"Reciprocal", rd_activation},
	{"ThresholdedRelu", rd_activation}, {"PRelu", rd_activation}, {"Shrink", rd_activation},
	{"Clip", rd_clip},
	{"Add", rd_binary}, {"Sub", rd_binary}, {"Mul", rd_binary}, {"Div", rd_binary},
	{"Pow", rd_binary},
	{"Max", rd_variadic}, {"Min", rd_variadic}, {"Sum", rd_variadic}, {"Mean", rd_variadic},
	{"Equal", rd_compare}, {"Greater", rd_compare}, {"Less", rd_compare},
	{"GreaterOrEqual", rd_compare}, {"LessOrEqual", rd_compare}, {"Where", rd_where},
	{"MatMul", rd_matmul}, {"Gemm", rd_gemm}, {"Conv", rd_conv},
	{"MaxPool", rd_pool}, {"AveragePool", rd_pool}, {"GlobalMaxPool", rd_pool},
	{"GlobalAveragePool", rd_pool},
	{"BatchNormalization", rd_batchnorm}, {"LayerNormalization", rd_layernorm},
	{"InstanceNormalization", rd_instancenorm}, {"MeanVarianceNormalization", rd_mvn},
	{"Softmax", rd_softmax}, {"LogSoftmax", rd_softmax},
	{"ReduceMean", rd_reduce}, {"ReduceSum", rd_reduce}, {"ReduceMax", rd_reduce},
	{"ReduceMin", rd_reduce}, {"ReduceSumSquare", rd_reduce}, {"ReduceL1", rd_reduce},
	{"ReduceL2", rd_reduce}, {"ReduceLogSum", rd_reduce}, {"ReduceLogSumExp", rd_reduce},
	{"Shape", rd_shape}, {"Size", rd_size}, {"Constant", rd_constant},
	{"ConstantOfShape", rd_constant_of_shape}, {"Reshape", rd_reshape},
	{"Flatten", rd_flatten}, {"Squeeze", rd_squeeze}, {"Unsqueeze", rd_unsqueeze},
	{"Transpose", rd_transpose}, {"Concat", rd_concat}, {"Slice", rd_slice},
	{"Split", rd_split}, {"Gather", rd_gather}, {"Expand", rd_expand}, {"Tile", rd_tile},
	{"Pad", rd_pad}, {"Cast", rd_cast}, {"CastLike", rd_cast}, {"Range", rd_range},
	{"DepthToSpace", rd_depth_space}, {"SpaceToDepth", rd_depth_space},
	{"And", rd_logic}, {"Or", rd_logic}, {"Xor", rd_logic}, {"Not", rd_logic},
	{"Floor", rd_math}, {"Ceil", rd_math}, {"Sign", rd_math}, {"Sinh", rd_math},
	{"Cosh", rd_math}, {"Asinh", rd_math}, {"Acosh", rd_math}, {"Atanh", rd_math},
	{"IsNaN", rd_math}, {"IsInf", rd_math}, {"Mod", rd_mod}, {"ReduceProd", rd_reduce},
	{"ArgMax", rd_argmax}, {"ArgMin", rd_argmax}, {"Hardmax", rd_hardmax},
	{"Trilu", rd_trilu}, {"NegativeLogLikelihoodLoss", rd_nll},
	{"SoftmaxCrossEntropyLoss", rd_sce}, {"GatherElements", rd_gather_elements},
	{"Round", rd_round}, {"EyeLike", rd_eyelike}, {"LSTM", rd_rnn}, {"GRU", rd_rnn},
	{"ConvTranspose", rd_convtranspose},
};

/* ---- the graph ---- */

static void set_node_loc(struct onx *o, Onnx__NodeProto *n, size_t index)
{
	const char *name = n->name && n->name[0] ? n->name
	                 : n->n_output && n->output[0][0] ? n->output[0]
	                 : arena_printf(A(o), "#%zu", index);
	o->node = n;
	o->loc = (struct loc){.file = o->path,
	                      .node = arena_printf(A(o), "node '%s' (%s)", name,
	                                           n->op_type ? n->op_type : "")};
}

static void read_node(struct onx *o)
{
	Onnx__NodeProto *n = o->node;
	if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
		err(o, "operator '%s' of domain '%s' is not supported (kiln reads the default ONNX "
		    "domain)", n->op_type, n->domain);
	for (size_t i = 0; i < n->n_attribute; i++)
		if (n->attribute[i]->ref_attr_name && n->attribute[i]->ref_attr_name[0])
			err(o, "attribute references are not supported");
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
		if (strcmp(n->op_type, ops[i].name) == 0) {
			ops[i].fn(o);
			for (size_t k = 0; k < n->n_output; k++)
				if (n->output[k][0] && lookup(o, n->output[k]) == IR_NONE)
					err(o, "output '%s' is not computed", n->output[k]);
			return;
		}
	err(o, "unsupported operator '%s'", n->op_type);
}

/* Nodes in an order where every input is defined first (Kahn's algorithm on names). */
static uint32_t *node_order(struct onx *o, Onnx__GraphProto *g)
{
	size_t n = g->n_node;
	struct arena *sa = &o->ctx->scratch;
	uint32_t *order = arena_alloc(A(o), sizeof *order * (n + 1));
	int *missing = arena_alloc(sa, sizeof *missing * (n + 1));
	/* producer of each name: node index + 1, 0 = graph input/initializer */
	struct strmap prod = {0};
	for (size_t i = 0; i < n; i++) {
		Onnx__NodeProto *nd = g->node[i];
		if (!nd->op_type)
			nd->op_type = "";
		for (size_t k = 0; k < nd->n_output; k++) {
			if (!nd->output[k][0])
				continue;
			if (lookup(o, nd->output[k]) != IR_NONE ||
			    strmap_slot(A(o), &prod, nd->output[k], 0)) {
				set_node_loc(o, nd, i);
				err(o, "output '%s' is defined twice", nd->output[k]);
			}
			*strmap_slot(A(o), &prod, nd->output[k], 1) = (uint32_t)i;
		}
	}
	/* users of each node, as counts and a CSR list */
	size_t *nusers = arena_alloc(sa, sizeof *nusers * (n + 1)), total = 0;
	for (size_t i = 0; i < n; i++) {
		Onnx__NodeProto *nd = g->node[i];
		for (size_t k = 0; k < nd->n_input; k++) {
			const char *nm = nd->input[k];
			if (!nm[0] || lookup(o, nm) != IR_NONE)
				continue;
			uint32_t *p = strmap_slot(A(o), &prod, nm, 0);
			if (!p) {
				set_node_loc(o, nd, i);
				err(o, "input '%s' is not defined by any node, graph input or initializer", nm);
			}
			nusers[*p]++;
			missing[i]++;
			total++;
		}
	}
	size_t *start = arena_alloc(sa, sizeof *start * (n + 2));
	for (size_t i = 0; i < n; i++)
		start[i + 1] = start[i] + nusers[i];
	size_t *fill = arena_alloc(sa, sizeof *fill * (n + 1));
	uint32_t *users = arena_alloc(sa, sizeof *users * (total + 1));
	for (size_t i = 0; i < n; i++) {
		Onnx__NodeProto *nd = g->node[i];
		for (size_t k = 0; k < nd->n_input; k++) {
			const char *nm = nd->input[k];
			if (!nm[0] || lookup(o, nm) != IR_NONE)
				continue;
			uint32_t p = *strmap_slot(A(o), &prod, nm, 0);
			users[start[p] + fill[p]++] = (uint32_t)i;
		}
	}
	size_t head = 0, tail = 0;
	uint32_t *queue = arena_alloc(sa, sizeof *queue * (n + 1));
	for (size_t i = 0; i < n; i++)
		if (!missing[i])
			queue[tail++] = (uint32_t)i;
	while (head < tail) {
		uint32_t i = queue[head++];
		order[head - 1] = i;
		for (size_t u = start[i]; u < start[i + 1]; u++)
			if (--missing[users[u]] == 0)
				queue[tail++] = users[u];
	}
	if (tail < n) {
		for (size_t i = 0; i < n; i++)
			if (missing[i]) {
				set_node_loc(o, g->node[i], i);
				err(o, "the graph has a cycle through this node");
			}
	}
	return order;
}

static void *pb_alloc(void *data, size_t size) { return arena_alloc(data, size); }
static void pb_free(void *data, void *p) { (void)data; (void)p; }

static const char *value_type_problem(const Onnx__TypeProto *t)
{
	if (!t)
		return "has no type";
	switch (t->value_case) {
	case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE: return NULL;
	case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE: return "is a sequence";
	case ONNX__TYPE_PROTO__VALUE_MAP_TYPE: return "is a map";
	case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE: return "is an optional";
	case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE: return "is a sparse tensor";
	default: return "has an unknown type";
	}
}

static void read_inputs(struct onx *o, Onnx__GraphProto *g, const struct input_spec *spec,
                        int nspec)
{
	struct ir_func *f = ir_main(o->m);
	int np = 0;
	const char **names = arena_alloc(A(o), sizeof *names * (g->n_input + 1));
	for (size_t i = 0; i < g->n_input; i++) {
		Onnx__ValueInfoProto *vi = g->input[i];
		const char *name = vi->name ? vi->name : "";
		o->loc = (struct loc){.file = o->path,
		                      .node = arena_printf(A(o), "input '%s'", name)};
		if (!name[0])
			err(o, "a graph input has no name");
		if (lookup(o, name) != IR_NONE)
			continue;   /* an initializer: a weight */
		const char *why = value_type_problem(vi->type);
		if (why)
			err(o, "the input %s; kiln compiles models whose inputs are tensors", why);
		Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
		enum dtype dt = need_dt(o, tt->elem_type, "the input");
		struct ir_shape s = {.rank = -1};
		if (np < nspec) {
			s = spec[np].shape;
			if (spec[np].dtype && spec[np].dtype != DT_F32)
				dt = spec[np].dtype;
		} else if (tt->shape) {
			if (tt->shape->n_dim > KILN_MAX_RANK)
				err(o, "rank %zu is too large", tt->shape->n_dim);
			s.rank = (int)tt->shape->n_dim;
			for (int k = 0; k < s.rank; k++) {
				Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
				if (d->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
				    d->dim_value < 0)
					err(o, "dimension %d is %s%s%s; give the input's shape with --input-shape", k,
					    d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
					    ? "'" : "unknown", d->value_case ==
					    ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM ? d->dim_param : "",
					    d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
					    ? "'" : "");
				if (d->dim_value > ((int64_t)1 << 40))
					err(o, "dimension %d is too large", k);
				s.dims[k] = d->dim_value;
			}
		} else {
			err(o, "the input has no shape; give it with --input-shape");
		}
		for (int k = 0; k < s.rank; k++)
			if (s.sym[k])
				err(o, "symbolic dimension '%s' is not supported by the C backend yet", s.sym[k]);
		check_size(o, &s);
		uint32_t v = ir_add_param(o->m, o->b, VK_TENSOR);
		V(o, v)->dtype = dt;
		V(o, v)->shape = s;
		V(o, v)->loc = o->loc;
		names[np++] = name;
		define(o, name, v);
	}
	if (nspec && nspec != np)
		diag_error(o->ctx, (struct loc){.file = o->path}, "the model takes %d input%s but %d "
		           "%s given (use one --input-shape per input, in order)", np, np == 1 ? "" : "s",
		           nspec, nspec == 1 ? "shape was" : "shapes were");
	f->arg_names = names;
}

static void read_model(struct onx *o, const uint8_t *data, size_t len,
                       const struct input_spec *spec, int nspec)
{
	struct loc file = {.file = o->path};
	ProtobufCAllocator al = {pb_alloc, pb_free, A(o)};
	Onnx__ModelProto *mp = onnx__model_proto__unpack(&al, len, data);
	if (!mp)
		diag_error(o->ctx, file, "not a valid ONNX model (truncated or corrupt protobuf)");
	if (!mp->graph)
		diag_error(o->ctx, file, "the model has no graph");
	o->opset = -1;
	for (size_t i = 0; i < mp->n_opset_import; i++) {
		Onnx__OperatorSetIdProto *op = mp->opset_import[i];
		if (!op->domain || !op->domain[0] || strcmp(op->domain, "ai.onnx") == 0)
			o->opset = (int)(op->version > 1000 ? 1000 : op->version < -1 ? -1 : op->version);
	}
	if (o->opset < 0)
		diag_error(o->ctx, file, "the model imports no opset of the default ONNX domain");
	if (o->opset < ONNX_OPSET_MIN || o->opset > ONNX_OPSET_MAX)
		diag_error(o->ctx, file, "opset %d: kiln reads ONNX opsets %d to %d", o->opset,
		           ONNX_OPSET_MIN, ONNX_OPSET_MAX);
	Onnx__GraphProto *g = mp->graph;
	if (g->n_sparse_initializer)
		diag_error(o->ctx, file, "sparse initializers are not supported");
	for (size_t i = 0; i < g->n_initializer; i++) {
		Onnx__TensorProto *t = g->initializer[i];
		o->loc = (struct loc){.file = o->path,
		                      .node = arena_printf(A(o), "initializer '%s'", t->name ? t->name : "")};
		if (!t->name || !t->name[0])
			err(o, "an initializer has no name");
		if (lookup(o, t->name) != IR_NONE)
			err(o, "defined twice");
		enum dtype dt;
		struct ir_shape s;
		const void *d = tensor_data(o, t, &dt, &s);
		define(o, t->name, cst(o, dt, &s, d, t->name));
	}
	read_inputs(o, g, spec, nspec);
	if (g->n_node > ((size_t)1 << 24))
		diag_error(o->ctx, file, "the graph has too many nodes");
	uint32_t *order = node_order(o, g);
	for (size_t i = 0; i < g->n_node; i++) {
		set_node_loc(o, g->node[order[i]], order[i]);
		read_node(o);
	}
	if (!g->n_output)
		diag_error(o->ctx, file, "the graph has no outputs");
	uint32_t *rets = arena_alloc(A(o), sizeof *rets * g->n_output);
	for (size_t i = 0; i < g->n_output; i++) {
		const char *name = g->output[i]->name ? g->output[i]->name : "";
		o->loc = (struct loc){.file = o->path,
		                      .node = arena_printf(A(o), "output '%s'", name)};
		const char *why = value_type_problem(g->output[i]->type);
		if (why && g->output[i]->type)
			err(o, "the output %s; kiln compiles models whose outputs are tensors", why);
		uint32_t v = lookup(o, name);
		if (v == IR_NONE)
			err(o, "no node computes this output");
		if (V(o, v)->def == IR_NONE || ir_const_of(o->m, v))
			v = op1(o, OP_IDENTITY, v);  /* an input or a constant as an output: its own copy */
		rets[i] = v;
	}
	ir_set_rets(o->m, o->b, rets, (int)g->n_output);
}

struct ir_module *onnx_read(struct kiln_ctx *ctx, const char *path, const uint8_t *data,
                            size_t len, const struct input_spec *spec, int nspec)
{
	struct onx o = {.ctx = ctx, .path = path};
	o.m = ir_module_new(ctx, path);
	struct ir_func *f = ir_new_func(o.m, "forward");
	o.b = f->body;
	read_model(&o, data, len, spec, nspec);
	arena_reset(&ctx->scratch);
	return o.m;
}

struct ir_module *onnx_load(struct kiln_ctx *ctx, const char *path,
                            const struct input_spec *spec, int nspec)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fatal("cannot open %s:", path);
	struct vec buf = {0};
	unsigned char chunk[65536];
	size_t got;
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (buf.len + got > MAX_MODEL_BYTES) {
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
	return onnx_read(ctx, path, buf.data ? buf.data : (void *)chunk, buf.len, spec, nspec);
}
