/* shapes.c: dtype and shape of every tensor a canonical op produces.
 * A node is typed once all its tensor inputs are; outputs that canonicalize already
 * shaped (RESHAPE, EXPAND, CAST dtype) are kept. Mismatches the model would fail on
 * in PyTorch (conv channels, matmul inner dims, broadcasting) are diagnostics at the
 * node's location, naming the shapes. Returns the number of values typed, so the
 * pipeline iterates it with fold and canonicalize. Linear per call. */
#include <string.h>

#include "passes.h"

struct shaper {
	struct ir_module *m;
	uint32_t id;             /* node being typed */
	int changes;
};

static struct ir_value *V(struct shaper *s, uint32_t v) { return ir_val(s->m, v); }

static const char *shape_str(struct shaper *s, uint32_t v)
{
	struct ir_value *x = V(s, v);
	char buf[256];
	size_t len = 0;
	len += (size_t)snprintf(buf, sizeof buf, "%s[", dtype_name(x->dtype));
	for (int i = 0; i < x->shape.rank && len < sizeof buf - 32; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%lld", i ? "," : "",
		                        (long long)x->shape.dims[i]);
	snprintf(buf + len, sizeof buf - len, "]");
	return arena_strdup(&s->m->ctx->arena, buf);
}

static _Noreturn void bad(struct shaper *s, const char *fmt, const char *a, const char *b)
{
	struct ir_node *n = ir_node(s->m, s->id);
	char msg[512];
	snprintf(msg, sizeof msg, fmt, a, b);
	diag_error(s->m->ctx, n->loc, "%s: %s", op_name(n->op), msg);
}

static void set(struct shaper *s, enum dtype dt, const struct ir_shape *shape)
{
	struct ir_node *n = ir_node(s->m, s->id);
	struct ir_value *o = V(s, n->out[0]);
	o->kind = VK_TENSOR;
	o->dtype = dt;
	o->shape = *shape;
	s->changes++;
}

/* NumPy broadcasting of a and b. */
static void broadcast(struct shaper *s, uint32_t a, uint32_t b, struct ir_shape *out)
{
	const struct ir_shape *x = &V(s, a)->shape, *y = &V(s, b)->shape;
	out->rank = x->rank > y->rank ? x->rank : y->rank;
	for (int i = 0; i < out->rank; i++) {
		int ia = i - (out->rank - x->rank), ib = i - (out->rank - y->rank);
		int64_t da = ia >= 0 ? x->dims[ia] : 1, db = ib >= 0 ? y->dims[ib] : 1;
		if (da != db && da != 1 && db != 1)
			bad(s, "shapes %s and %s do not broadcast", shape_str(s, a), shape_str(s, b));
		out->dims[i] = da == 1 ? db : da;
	}
}

static int64_t pool_out(int64_t in, int k, int st, int pad, int dil, int ceil_mode)
{
	int64_t eff = (int64_t)dil * (k - 1) + 1;
	int64_t num = in + 2 * pad - eff;
	int64_t o = (ceil_mode ? (num + st - 1) / st : num / st) + 1;
	if (ceil_mode && (o - 1) * st >= in + pad)
		o--;
	return o;
}

static void shape_conv(struct shaper *s, struct ir_node *n)
{
	const struct ir_shape *x = &V(s, n->in[0])->shape, *w = &V(s, n->in[1])->shape;
	const struct conv_attr *a = &n->a.conv;
	if (x->rank != 4)
		bad(s, "expected a 4-D (N, C, H, W) input, got %s%s", shape_str(s, n->in[0]), "");
	if (a->groups <= 0 || w->dims[0] % a->groups || x->dims[1] != w->dims[1] * a->groups)
		bad(s, "input %s does not match weight %s", shape_str(s, n->in[0]), shape_str(s, n->in[1]));
	struct ir_shape o = {.rank = 4, .dims = {x->dims[0], w->dims[0]}};
	for (int k = 0; k < 2; k++) {
		if (a->stride[k] <= 0 || a->dil[k] <= 0 || a->pad[k] < 0)
			bad(s, "invalid stride, padding or dilation%s%s", "", "");
		o.dims[2 + k] = pool_out(x->dims[2 + k], (int)w->dims[2 + k], a->stride[k], a->pad[k],
		                         a->dil[k], 0);
		if (o.dims[2 + k] <= 0)
			bad(s, "input %s is too small for kernel %s", shape_str(s, n->in[0]),
			    shape_str(s, n->in[1]));
	}
	if (n->nin > 2 && n->in[2] != IR_NONE && shape_numel(&V(s, n->in[2])->shape) != w->dims[0])
		bad(s, "bias %s does not match %s output channels", shape_str(s, n->in[2]), shape_str(s, n->in[1]));
	set(s, V(s, n->in[0])->dtype, &o);
}

static void shape_linear(struct shaper *s, struct ir_node *n)
{
	const struct ir_shape *x = &V(s, n->in[0])->shape, *w = &V(s, n->in[1])->shape;
	if (x->rank < 1 || w->rank != 2 || x->dims[x->rank - 1] != w->dims[1])
		bad(s, "input %s does not match weight %s", shape_str(s, n->in[0]), shape_str(s, n->in[1]));
	struct ir_shape o = *x;
	o.dims[o.rank - 1] = w->dims[0];
	set(s, V(s, n->in[0])->dtype, &o);
}

static void shape_matmul(struct shaper *s, struct ir_node *n)
{
	struct ir_shape a = V(s, n->in[0])->shape, b = V(s, n->in[1])->shape;
	int va = a.rank == 1, vb = b.rank == 1;
	if (a.rank < 1 || b.rank < 1)
		bad(s, "matmul of 0-D tensors %s and %s", shape_str(s, n->in[0]), shape_str(s, n->in[1]));
	if (va) { a.rank = 2; a.dims[1] = a.dims[0]; a.dims[0] = 1; }
	if (vb) { b.rank = 2; b.dims[1] = 1; }
	if (a.dims[a.rank - 1] != b.dims[b.rank - 2])
		bad(s, "inner dimensions of %s and %s differ", shape_str(s, n->in[0]), shape_str(s, n->in[1]));
	struct ir_shape ba = a, bb = b, o = {0};
	ba.rank -= 2;
	bb.rank -= 2;
	int r = ba.rank > bb.rank ? ba.rank : bb.rank;
	o.rank = 0;
	for (int i = 0; i < r; i++) {
		int ia = i - (r - ba.rank), ib = i - (r - bb.rank);
		int64_t da = ia >= 0 ? ba.dims[ia] : 1, db = ib >= 0 ? bb.dims[ib] : 1;
		if (da != db && da != 1 && db != 1)
			bad(s, "batch dimensions of %s and %s do not broadcast", shape_str(s, n->in[0]),
			    shape_str(s, n->in[1]));
		o.dims[o.rank++] = da == 1 ? db : da;
	}
	if (!va)
		o.dims[o.rank++] = a.dims[a.rank - 2];
	if (!vb)
		o.dims[o.rank++] = b.dims[b.rank - 1];
	set(s, V(s, n->in[0])->dtype, &o);
}

static void shape_gemm(struct shaper *s, struct ir_node *n)
{
	const struct ir_shape *a = &V(s, n->in[1])->shape, *b = &V(s, n->in[2])->shape;
	if (a->rank != 2 || b->rank != 2 || a->dims[1] != b->dims[0])
		bad(s, "addmm of %s and %s", shape_str(s, n->in[1]), shape_str(s, n->in[2]));
	struct ir_shape o = {.rank = 2, .dims = {a->dims[0], b->dims[1]}}, t = {0};
	set(s, V(s, n->in[1])->dtype, &o);
	uint32_t out = ir_node(s->m, s->id)->out[0];
	broadcast(s, n->in[0], out, &t);
	if (!shape_eq(&t, &o))
		bad(s, "bias %s does not broadcast to %s", shape_str(s, n->in[0]), shape_str(s, out));
}

static void shape_pool(struct shaper *s, struct ir_node *n)
{
	const struct ir_shape *x = &V(s, n->in[0])->shape;
	const struct pool_attr *p = &n->a.pool;
	if (x->rank != 4)
		bad(s, "expected a 4-D (N, C, H, W) input, got %s%s", shape_str(s, n->in[0]), "");
	struct ir_shape o = *x;
	for (int k = 0; k < 2; k++) {
		if (n->op == OP_ADAPTIVE_AVGPOOL2D || n->op == OP_ADAPTIVE_MAXPOOL2D) {
			o.dims[2 + k] = p->out[k];
			continue;
		}
		if (p->kernel[k] <= 0 || p->stride[k] <= 0 || p->pad[k] * 2 > p->kernel[k])
			bad(s, "invalid kernel, stride or padding for input %s%s", shape_str(s, n->in[0]), "");
		o.dims[2 + k] = pool_out(x->dims[2 + k], p->kernel[k], p->stride[k], p->pad[k], p->dil[k],
		                         p->ceil_mode);
		if (o.dims[2 + k] <= 0)
			bad(s, "input %s is too small for the window%s", shape_str(s, n->in[0]), "");
	}
	set(s, V(s, n->in[0])->dtype, &o);
}

static void shape_reduce(struct shaper *s, struct ir_node *n)
{
	const struct ir_shape *x = &V(s, n->in[0])->shape;
	struct ir_shape o = {0};
	for (int k = 0; k < x->rank; k++) {
		if (!(n->a.reduce.axes & (1u << k)))
			o.dims[o.rank++] = x->dims[k];
		else if (n->a.reduce.keepdim)
			o.dims[o.rank++] = 1;
	}
	set(s, V(s, n->in[0])->dtype, &o);
}

static void shape_concat(struct shaper *s, struct ir_node *n)
{
	struct ir_shape o = V(s, n->in[0])->shape;
	int ax = n->a.axis.axis;
	for (int k = 1; k < n->nin; k++) {
		const struct ir_shape *x = &V(s, n->in[k])->shape;
		int ok = x->rank == o.rank && V(s, n->in[k])->dtype == V(s, n->in[0])->dtype;
		for (int d = 0; ok && d < o.rank; d++)
			ok = d == ax || x->dims[d] == o.dims[d];
		if (!ok)
			bad(s, "cannot concatenate %s and %s", shape_str(s, n->in[0]), shape_str(s, n->in[k]));
		o.dims[ax] += x->dims[ax];
	}
	set(s, V(s, n->in[0])->dtype, &o);
}

static void shape_node(struct shaper *s, struct ir_node *n)
{
	struct ir_value *x = V(s, n->in[0]);
	struct ir_value *out = V(s, n->out[0]);
	struct ir_shape o = x->shape;
	switch (n->op) {
	case OP_CONV2D: shape_conv(s, n); return;
	case OP_LINEAR: shape_linear(s, n); return;
	case OP_MATMUL: shape_matmul(s, n); return;
	case OP_GEMM: shape_gemm(s, n); return;
	case OP_MAXPOOL2D: case OP_AVGPOOL2D: case OP_ADAPTIVE_AVGPOOL2D: case OP_ADAPTIVE_MAXPOOL2D:
		shape_pool(s, n);
		return;
	case OP_REDUCE_MEAN: case OP_REDUCE_SUM: case OP_REDUCE_MAX: case OP_REDUCE_MIN:
		shape_reduce(s, n);
		return;
	case OP_CONCAT: shape_concat(s, n); return;
	case OP_BATCHNORM:
		if (x->shape.rank < 2 || shape_numel(&V(s, n->in[3])->shape) != x->shape.dims[1])
			bad(s, "input %s does not match running_mean %s", shape_str(s, n->in[0]),
			    shape_str(s, n->in[3]));
		break;
	case OP_RESHAPE: case OP_EXPAND:
		if (shape_numel(&out->shape) < 0 ||
		    (n->op == OP_RESHAPE && shape_numel(&out->shape) != shape_numel(&x->shape)))
			bad(s, "cannot reshape %s into %s", shape_str(s, n->in[0]), shape_str(s, n->out[0]));
		set(s, x->dtype, &out->shape);
		return;
	case OP_CAST:
		set(s, out->dtype, &x->shape);
		return;
	case OP_PERMUTE:
		for (int k = 0; k < o.rank; k++)
			o.dims[k] = x->shape.dims[n->a.perm.perm[k]];
		break;
	case OP_SLICE: {
		const struct slice_attr *a = &n->a.slice;
		o.dims[a->axis] = (a->end - a->start + a->step - 1) / a->step;
		break;
	}
	case OP_PAD:
		for (int k = 0; k < o.rank; k++)
			o.dims[k] += n->a.pad.before[k] + n->a.pad.after[k];
		break;
	default:
		if (op_info[n->op].flags & F_BINARY) {
			if (x->dtype != V(s, n->in[1])->dtype)
				bad(s, "operands %s and %s have different element types",
				    shape_str(s, n->in[0]), shape_str(s, n->in[1]));
			broadcast(s, n->in[0], n->in[1], &o);
		}
		break;
	}
	set(s, x->dtype, &o);
}

static int ready(struct shaper *s, struct ir_node *n)
{
	if (n->op == OP_CONST || (op_info[n->op].flags & F_STRUCT) || n->nout < 1)
		return 0;
	if (V(s, n->out[0])->dtype != DT_UNKNOWN && V(s, n->out[0])->shape.rank >= 0 &&
	    n->op != OP_CAST)
		return 0;
	if (n->op == OP_CAST && V(s, n->out[0])->shape.rank >= 0)
		return 0;
	for (int k = 0; k < n->nin; k++) {
		if (n->in[k] == IR_NONE)
			continue;
		struct ir_value *x = V(s, n->in[k]);
		if (x->kind != VK_TENSOR || x->dtype == DT_UNKNOWN || shape_numel(&x->shape) < 0)
			return 0;
	}
	return 1;
}

static void shape_walk(struct ir_module *m, struct ir_block *b, size_t *pos, uint32_t id, void *arg)
{
	(void)b;
	(void)pos;
	struct shaper *s = arg;
	struct ir_node *n = ir_node(m, id);
	if (!ready(s, n))
		return;
	s->id = id;
	shape_node(s, n);
}

int shapes(struct ir_module *m)
{
	struct shaper s = {.m = m};
	ir_walk(m, ir_main(m)->body, shape_walk, &s);
	return s.changes;
}
