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

/* LSTM / GRU: y is [T, B, dirs*H] ([B, T, .] with batch_first); hn (and cn) are
 * [layers*dirs, B, H], as the initial states must be. */
static void shape_rnn(struct shaper *s, struct ir_node *n)
{
	const struct rnn_attr *a = &n->a.rnn;
	const struct ir_shape *x = &V(s, n->in[0])->shape;
	int dirs = a->bidirectional ? 2 : 1, nst = n->op == OP_LSTM ? 2 : 1;
	if (x->rank != 3)
		bad(s, "expected a 3-D input, got %s%s", shape_str(s, n->in[0]), "");
	int64_t b = x->dims[a->batch_first ? 0 : 1], t = x->dims[a->batch_first ? 1 : 0];
	struct ir_shape st = {.rank = 3, .dims = {(int64_t)a->layers * dirs, b, a->hidden}};
	for (int k = 1; k <= nst; k++)
		if (!shape_eq(&V(s, n->in[k])->shape, &st))
			bad(s, "initial state %s does not match input %s", shape_str(s, n->in[k]),
			    shape_str(s, n->in[0]));
	const struct ir_shape *w = &V(s, n->in[1 + nst])->shape;
	if (w->rank != 2 || w->dims[1] != x->dims[2])
		bad(s, "input %s does not match weight_ih_l0 %s", shape_str(s, n->in[0]),
		    shape_str(s, n->in[1 + nst]));
	struct ir_shape y = {.rank = 3, .dims = {a->batch_first ? b : t, a->batch_first ? t : b,
	                                         dirs * a->hidden}};
	enum dtype dt = V(s, n->in[0])->dtype;
	set(s, dt, &y);
	for (int k = 1; k < n->nout; k++) {
		struct ir_value *o = V(s, n->out[k]);
		o->kind = VK_TENSOR;
		o->dtype = dt;
		o->shape = st;
	}
}

/* where(cond, a, b): the three shapes broadcast; the result has a's dtype. */
static void shape_where(struct shaper *s, struct ir_node *n)
{
	struct ir_shape o;
	const struct ir_shape *c = &V(s, n->in[0])->shape;
	if (V(s, n->in[1])->dtype != V(s, n->in[2])->dtype)
		bad(s, "operands %s and %s have different element types", shape_str(s, n->in[1]),
		    shape_str(s, n->in[2]));
	broadcast(s, n->in[1], n->in[2], &o);
	struct ir_shape r = {.rank = o.rank > c->rank ? o.rank : c->rank};
	for (int i = 0; i < r.rank; i++) {
		int io = i - (r.rank - o.rank), ic = i - (r.rank - c->rank);
		int64_t d0 = io >= 0 ? o.dims[io] : 1, d1 = ic >= 0 ? c->dims[ic] : 1;
		if (d0 != d1 && d0 != 1 && d1 != 1)
			bad(s, "condition %s does not broadcast with %s", shape_str(s, n->in[0]),
			    shape_str(s, n->in[1]));
		r.dims[i] = d0 == 1 ? d1 : d0;
	}
	set(s, V(s, n->in[1])->dtype, &r);
}

/* embedding(weight [n, d], indices [...]) -> [..., d] */
static void shape_embedding(struct shaper *s, struct ir_node *n)
{
	const struct ir_shape *w = &V(s, n->in[0])->shape, *ix = &V(s, n->in[1])->shape;
	enum dtype it = V(s, n->in[1])->dtype;
	if (w->rank != 2 || (it != DT_I64 && it != DT_I32) || ix->rank + 1 > KILN_MAX_RANK)
		bad(s, "needs a 2-D weight and integer indices, got %s and %s", shape_str(s, n->in[0]),
		    shape_str(s, n->in[1]));
	struct ir_shape o = *ix;
	o.dims[o.rank++] = w->dims[1];
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
	case OP_LSTM: case OP_GRU: shape_rnn(s, n); return;
	case OP_WHERE: shape_where(s, n); return;
	case OP_EMBEDDING: shape_embedding(s, n); return;
	case OP_COMPARE:
		if (x->dtype != V(s, n->in[1])->dtype)
			bad(s, "operands %s and %s have different element types", shape_str(s, n->in[0]),
			    shape_str(s, n->in[1]));
		broadcast(s, n->in[0], n->in[1], &o);
		set(s, DT_BOOL, &o);
		return;
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

static int typed(struct shaper *s, uint32_t v)
{
	struct ir_value *x = V(s, v);
	return x->kind == VK_TENSOR && x->dtype != DT_UNKNOWN && shape_numel(&x->shape) >= 0;
}

/* Give v the dtype and shape of from; 1 if v changed. */
static int copy_type(struct shaper *s, uint32_t v, uint32_t from)
{
	struct ir_value *x = V(s, v), *f = V(s, from);
	if (typed(s, v) || !typed(s, from))
		return 0;
	x->kind = VK_TENSOR;
	x->dtype = f->dtype;
	x->shape = f->shape;
	s->changes++;
	return 1;
}

/* An undefined tensor (ts_uninitialized: on a path where it is never read) takes the type
 * of the values it is merged with. */
static int undefined(struct shaper *s, uint32_t v)
{
	return V(s, v)->kind == VK_TENSOR && ir_is_none(s->m, v);
}

/* The tensor results of an IF take their branches' type, which must agree. */
static void shape_if(struct shaper *s, struct ir_node *n)
{
	for (int k = 0; k < n->nout; k++) {
		uint32_t t = n->blocks[0]->rets[k], e = n->blocks[1]->rets[k];
		if (undefined(s, t) || undefined(s, e)) {
			copy_type(s, undefined(s, t) ? t : e, undefined(s, t) ? e : t);
			copy_type(s, n->out[k], undefined(s, t) ? e : t);
		}
		if (V(s, n->out[k])->kind != VK_TENSOR || typed(s, n->out[k]) || !typed(s, t) ||
		    !typed(s, e))
			continue;
		if (V(s, t)->dtype != V(s, e)->dtype || !shape_eq(&V(s, t)->shape, &V(s, e)->shape))
			bad(s, "its result is %s on one branch and %s on the other; kiln needs one shape "
			    "on every path", shape_str(s, t), shape_str(s, e));
		copy_type(s, n->out[k], t);
	}
}

/* Loop-carried tensors keep their initial type through every iteration. */
static void shape_loop(struct shaper *s, struct ir_node *n)
{
	struct ir_block *body = n->blocks[0];
	for (int k = 0; k + 2 < n->nin; k++) {
		uint32_t init = n->in[2 + k], p = body->params[1 + k], r = body->rets[1 + k];
		if (V(s, init)->kind != VK_TENSOR)
			continue;
		if (undefined(s, init))
			copy_type(s, init, r);
		copy_type(s, p, init);
		copy_type(s, n->out[k], init);
		if (typed(s, r) && typed(s, init) &&
		    (V(s, r)->dtype != V(s, init)->dtype || !shape_eq(&V(s, r)->shape, &V(s, init)->shape)))
			bad(s, "a loop-carried tensor is %s before the loop and %s after an iteration; "
			    "kiln needs one shape", shape_str(s, init), shape_str(s, r));
	}
}

static int ready(struct shaper *s, struct ir_node *n)
{
	if (n->op == OP_IF || n->op == OP_LOOP) {
		if (n->op == OP_IF)
			shape_if(s, n);
		else
			shape_loop(s, n);
		return 0;
	}
	if (n->op == OP_CONST || (op_info[n->op].flags & F_STRUCT) || n->nout < 1)
		return 0;
	if (V(s, n->out[0])->kind != VK_TENSOR && V(s, n->out[0])->kind != VK_UNKNOWN)
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
	s->id = id;
	if (ready(s, n))
		shape_node(s, n);
}

void shapes_node(struct ir_module *m, uint32_t id)
{
	struct shaper s = {.m = m, .id = id};
	if (ready(&s, ir_node(m, id)))
		shape_node(&s, ir_node(m, id));
}

int shapes(struct ir_module *m)
{
	struct shaper s = {.m = m};
	ir_walk(m, ir_main(m)->body, shape_walk, &s);
	return s.changes;
}
