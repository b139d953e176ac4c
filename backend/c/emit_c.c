/* emit_c.c: the C backend. Writes PATH.c and PATH.h for a planned module (STYLE K16).
 *
 * PATH.h declares the entry point
 *     int kiln_<m>_run(const struct kiln_<m>_inputs *in, struct kiln_<m>_outputs *out,
 *                      void *workspace);
 * with the workspace size and every input's and output's shape as macros. PATH.c is one
 * translation unit: the runtime kernels the model uses (copied from runtime/, in
 * dependency order), the weights, the run function (one kernel call per IR node, each
 * under a comment with the IR line and its source location) and, with --main, a main()
 * that reads and writes .npy files. Output is deterministic: everything is written in IR
 * order, nothing depends on pointers, time or hashing.
 *
 * Per-op code is a table of emitters indexed by op (emit_c_op[], STYLE K18); an op without
 * one is reported at every node that uses it, and no file is written. The kernels' param
 * structs and k_*_scratch() functions are compiled into kiln from the same runtime/ files
 * the generated code contains, so plan() reserves exactly the scratch the kernels use.
 *
 * Weights: small tensors are written as exact literals (hex floats for f32); large ones
 * as a string literal of their bytes in a union with the typed array, which gcc parses
 * about ten times faster than an initializer list (resnet18, 11.7M floats: 4 s instead of
 * 43 s, 0.7 GB instead of 3 GB of compiler memory).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/backend.h"
#include "runtime/embed.h"

/* The kernels' param structs and scratch sizes, from the very files generated code gets. */
#include "runtime/k_base.c"
#include "runtime/k_gemm.c"
#include "runtime/k_conv.c"
#include "runtime/k_reduce.c"
#include "runtime/k_rnn.c"

#define TEXT_LIMIT 4096  /* tensors up to this many elements are written as literal lists */

struct emitter {
	struct kiln_ctx *ctx;
	struct ir_module *m;
	const struct emit_c_options *opt;
	FILE *f;                /* where emitters write: the run function's body */
	const char **expr;      /* per value: C expression of its data pointer, or NULL */
	unsigned char *used;    /* per value: referenced by the run function */
	unsigned char *need;    /* per runtime file: copy it into the .c */
	int uses_ws, uses_in, uses_out;
	const char *lo, *up;    /* model name as given, and upper-cased */
	const char **in_names, **out_names;   /* C names of the inputs and outputs */
	struct vec scalars;     /* uint32_t: scalar values that get a C variable */
	struct vec messages;    /* const char *: RAISE messages; status = index + 1 */
	struct vec packed;      /* uint32_t: conv nodes whose weights are written packed */
};

typedef void (*emit_fn)(struct emitter *e, uint32_t id, struct ir_node *n);

static void emit_nodes(struct emitter *e, struct ir_block *b);

/* ---- small helpers ---- */

static struct ir_value *val(struct emitter *e, uint32_t v) { return ir_val(e->m, v); }

static const struct ir_shape *shape_of(struct emitter *e, uint32_t v) { return &val(e, v)->shape; }

static int64_t numel(struct emitter *e, uint32_t v) { return shape_numel(shape_of(e, v)); }

/* Product of dims [from, to) of a shape. */
static int64_t dims_prod(const struct ir_shape *s, int from, int to)
{
	int64_t p = 1;
	for (int i = from; i < to; i++)
		p *= s->dims[i];
	return p;
}

/* Contiguous row-major strides, in elements. */
static void row_strides(const struct ir_shape *s, int64_t *st)
{
	int64_t acc = 1;
	for (int i = s->rank - 1; i >= 0; i--) {
		st[i] = acc;
		acc *= s->dims[i];
	}
}

/* A C expression for value v, marking it used; "NULL" for an absent optional input. */
static const char *ref(struct emitter *e, uint32_t v)
{
	if (v == IR_NONE)
		return "NULL";
	KILN_ASSERT(e->expr[v]);
	e->used[v] = 1;
	struct ir_value *x = val(e, v);
	while (x->storage == ST_ALIAS)
		x = val(e, x->alias_of);
	/* a view is declared through its root: the root's own name, unless it is in the
	 * workspace (then the view is ws + offset, and an unread root would be an unused
	 * variable) */
	for (struct ir_value *a = val(e, v); a->storage == ST_ALIAS && x->storage != ST_WORKSPACE;
	     a = val(e, a->alias_of))
		e->used[a->alias_of] = 1;
	e->uses_ws |= x->storage == ST_WORKSPACE;
	e->uses_in |= x->storage == ST_INPUT;
	e->uses_out |= x->storage == ST_OUTPUT;
	return e->expr[v];
}

/* Optional input i of n, or IR_NONE. */
static uint32_t opt_in(struct ir_node *n, int i) { return i < n->nin ? n->in[i] : IR_NONE; }

/* The scratch argument of node id: "ws + OFFSET" or "NULL". */
static const char *scratch_arg(struct emitter *e, uint32_t id)
{
	uint32_t s = ir_node(e->m, id)->scratch;
	if (s == IR_NONE)
		return "NULL";
	e->uses_ws = 1;
	return arena_printf(&e->ctx->arena, "ws + %" PRId64, val(e, s)->offset);
}

static void need(struct emitter *e, const char *file)
{
	for (int i = 0; i < kiln_runtime_nfiles; i++)
		if (strcmp(kiln_runtime_files[i].name, file) == 0) {
			e->need[i] = 1;
			return;
		}
	KILN_ASSERT(!"runtime file missing from kiln_runtime_files");
}

/* A float as a C literal that reads back exactly: %.9g, with INFINITY/NAN from math.h. */
static const char *flit(struct emitter *e, float x)
{
	if (isnan(x))
		return "NAN";
	if (isinf(x))
		return x < 0 ? "-INFINITY" : "INFINITY";
	char buf[48];
	snprintf(buf, sizeof buf, "%.9g", (double)x);
	if (!strpbrk(buf, ".e"))
		strcat(buf, ".0");
	strcat(buf, "f");
	return arena_strdup(&e->ctx->arena, buf);
}

/* "{1, 2, 3}" */
static const char *ilist(struct emitter *e, const int64_t *v, int n)
{
	char *s = arena_strdup(&e->ctx->arena, "{");
	for (int i = 0; i < n; i++)
		s = arena_printf(&e->ctx->arena, "%s%s%" PRId64, s, i ? ", " : "", v[i]);
	if (n == 0)
		s = arena_printf(&e->ctx->arena, "%s0", s);
	return arena_printf(&e->ctx->arena, "%s}", s);
}

/* Report that node n cannot be compiled, with a reason. */
static void refuse(struct emitter *e, struct ir_node *n, const char *why)
{
	diag_error_soft(e->ctx, n->loc, "unsupported operator '%s' in the C backend: %s",
	                op_name(n->op), why);
}

/* Every tensor the node reads or writes is f32 (most kernels are f32 only). */
static int all_f32(struct emitter *e, struct ir_node *n)
{
	for (int i = 0; i < n->nin; i++)
		if (n->in[i] != IR_NONE && val(e, n->in[i])->dtype != DT_F32)
			goto bad;
	for (int i = 0; i < n->nout; i++)
		if (val(e, n->out[i])->dtype != DT_F32)
			goto bad;
	return 1;
bad:
	refuse(e, n, "only float32 tensors are supported by this kernel");
	return 0;
}

static int rank_is(struct emitter *e, struct ir_node *n, uint32_t v, int lo, int hi)
{
	int r = shape_of(e, v)->rank;
	if (r >= lo && r <= hi)
		return 1;
	refuse(e, n, arena_printf(&e->ctx->arena, "a tensor of rank %d", r));
	return 0;
}

/* Writes a comment, neutralizing anything that would end it early or form a trigraph. */
static void put_comment_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (s[0] == '*' && s[1] == '/')
			fputs("* ", f);
		else if (s[0] == '?' && s[1] == '?')
			fputs("? ", f);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', f);
		else
			fputc(*s, f);
	}
}

/* ---- activations ---- */

static const char *const k_act_names[] = {
	[ACT_NONE] = "K_ACT_NONE", [ACT_RELU] = "K_ACT_RELU", [ACT_CLIP] = "K_ACT_CLIP",
	[ACT_SIGMOID] = "K_ACT_SIGMOID", [ACT_SILU] = "K_ACT_SILU",
	[ACT_HARDSWISH] = "K_ACT_HARDSWISH", [ACT_HARDSIGMOID] = "K_ACT_HARDSIGMOID",
	[ACT_TANH] = "K_ACT_TANH", [ACT_GELU] = "K_ACT_GELU",
};

/* ", .act = K_ACT_CLIP, .min = 0.0f, .max = 6.0f" or "" */
static const char *act_fields(struct emitter *e, enum act act, float lo, float hi)
{
	if (act == ACT_NONE)
		return "";
	if (act == ACT_CLIP)
		return arena_printf(&e->ctx->arena, ", .act = K_ACT_CLIP, .min = %s, .max = %s",
		                    flit(e, lo), flit(e, hi));
	return arena_printf(&e->ctx->arena, ", .act = %s", k_act_names[act]);
}

/* ---- kernel params from IR nodes, shared by the emitters and emit_c_scratch_size ---- */

/* The CONST node of conv n's weight if the C backend writes that weight packed (k_conv2d_pack
 * at compile time, for the path k_conv2d_pack_kind names), else NULL. */
static struct ir_node *conv_packed_weight(struct ir_module *m, struct ir_node *n, const struct k_conv2d *p)
{
	struct ir_value *w = ir_val(m, n->in[1]);
	if (w->def == IR_NONE || w->dtype != DT_F32 || ir_val(m, n->in[0])->dtype != DT_F32)
		return NULL;
	struct ir_node *d = ir_node(m, w->def);
	if (d->op != OP_CONST || d->a.konst.kind != CK_TENSOR || !d->a.konst.data)
		return NULL;
	return k_conv2d_pack_kind(p) ? d : NULL;
}

static struct k_conv2d conv_params(struct ir_module *m, struct ir_node *n)
{
	const struct ir_shape *x = &ir_val(m, n->in[0])->shape, *w = &ir_val(m, n->in[1])->shape;
	const struct ir_shape *y = &ir_val(m, n->out[0])->shape;
	const struct conv_attr *a = &n->a.conv;
	struct k_conv2d p = {
		.n = x->dims[0], .c = x->dims[1], .h = x->dims[2], .w = x->dims[3],
		.oc = w->dims[0], .kh = w->dims[2], .kw = w->dims[3],
		.stride_h = a->stride[0], .stride_w = a->stride[1], .pad_h = a->pad[0],
		.pad_w = a->pad[1], .dil_h = a->dil[0], .dil_w = a->dil[1],
		.groups = a->groups > 0 ? a->groups : 1, .oh = y->dims[2], .ow = y->dims[3],
	};
	p.packed = conv_packed_weight(m, n, &p) ? k_conv2d_pack_kind(&p) : 0;
	return p;
}

static int conv_ok(struct ir_module *m, struct ir_node *n)
{
	return ir_val(m, n->in[0])->shape.rank == 4 && ir_val(m, n->in[1])->shape.rank == 4 &&
	       ir_val(m, n->out[0])->shape.rank == 4;
}

static struct k_linear linear_params(struct ir_module *m, struct ir_node *n)
{
	const struct ir_shape *w = &ir_val(m, n->in[1])->shape;
	int64_t k = w->dims[1], nx = shape_numel(&ir_val(m, n->in[0])->shape);
	struct k_linear p = {.m = k ? nx / k : 0, .n = w->dims[0], .k = k};
	return p;
}

static struct k_gemm gemm_params(struct ir_module *m, struct ir_node *n)
{
	const struct ir_shape *a = &ir_val(m, n->in[1])->shape, *b = &ir_val(m, n->in[2])->shape;
	const struct gemm_attr *g = &n->a.gemm;
	struct k_gemm p = {
		.m = g->trans_a ? a->dims[1] : a->dims[0], .k = g->trans_a ? a->dims[0] : a->dims[1],
		.n = g->trans_b ? b->dims[0] : b->dims[1], .trans_a = g->trans_a, .trans_b = g->trans_b,
		.alpha = g->alpha, .beta = g->beta,
	};
	return p;
}

/* torch.matmul: 1-D operands get a unit dim, batch dims broadcast and coalesce to <= 4.
 * Returns 0 if the batch cannot be expressed. */
static int matmul_params(struct ir_module *m, struct ir_node *n, struct k_matmul *p)
{
	const struct ir_shape *a = &ir_val(m, n->in[0])->shape, *b = &ir_val(m, n->in[1])->shape;
	int ra = a->rank, rb = b->rank;
	memset(p, 0, sizeof *p);
	if (ra < 1 || rb < 1)
		return 0;
	p->m = ra == 1 ? 1 : a->dims[ra - 2];
	p->k = a->dims[ra - 1];
	p->n = rb == 1 ? 1 : b->dims[rb - 1];
	int ab = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0, nb = ab > bb ? ab : bb;
	int64_t as = p->m * p->k, bs = p->k * p->n, dims[KILN_MAX_RANK], sa[KILN_MAX_RANK],
		sb[KILN_MAX_RANK];
	for (int i = nb - 1; i >= 0; i--) {      /* output batch dim i, right-aligned */
		int ia = i - (nb - ab), ib = i - (nb - bb);
		int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
		dims[i] = da > db ? da : db;
		sa[i] = da == 1 ? 0 : as;
		sb[i] = db == 1 ? 0 : bs;
		as *= da;
		bs *= db;
	}
	int r = 0;
	for (int i = 0; i < nb; i++) {
		if (dims[i] == 1)
			continue;
		if (r > 0 && p->a_bstrides[r - 1] == sa[i] * dims[i] &&
		    p->b_bstrides[r - 1] == sb[i] * dims[i]) {
			p->bdims[r - 1] *= dims[i];
			p->a_bstrides[r - 1] = sa[i];
			p->b_bstrides[r - 1] = sb[i];
			continue;
		}
		if (r == 4)
			return 0;
		p->bdims[r] = dims[i];
		p->a_bstrides[r] = sa[i];
		p->b_bstrides[r] = sb[i];
		r++;
	}
	p->brank = r;
	return 1;
}

/* A reduction is one k_reduce call per run of adjacent reduced dims; all but the last
 * write to scratch, alternating between two halves. */
struct reduce_plan {
	int nruns;
	struct k_reduce run[KILN_MAX_RANK];
	int64_t half;     /* byte offset of the second scratch buffer */
	int64_t bytes;    /* scratch bytes */
};

static unsigned reduce_axes(struct ir_module *m, struct ir_node *n)
{
	int r = ir_val(m, n->in[0])->shape.rank;
	unsigned all = r >= 32 ? ~0u : (1u << r) - 1;
	unsigned ax = n->a.reduce.axes & all;
	return ax ? ax : all;   /* no axes: every axis, as torch.sum(x) */
}

static struct reduce_plan reduce_params(struct ir_module *m, struct ir_node *n, enum k_redop op)
{
	struct ir_shape s = ir_val(m, n->in[0])->shape;
	unsigned ax = reduce_axes(m, n);
	struct reduce_plan rp = {0};
	int64_t sizes[2] = {0, 0};
	for (int d = 0; d < s.rank;) {
		if (!(ax >> d & 1)) {
			d++;
			continue;
		}
		int end = d;
		while (end < s.rank && (ax >> end & 1))
			end++;
		struct k_reduce *k = &rp.run[rp.nruns];
		k->op = op;
		k->outer = dims_prod(&s, 0, d);
		k->dim = dims_prod(&s, d, end);
		k->inner = dims_prod(&s, end, s.rank);
		for (int j = d; j < end; j++)
			s.dims[j] = 1;
		if (rp.nruns < 2)
			sizes[rp.nruns] = k->outer * k->inner * 4;
		rp.nruns++;
		d = end;
	}
	if (rp.nruns > 1) {
		rp.half = (sizes[0] + 63) / 64 * 64;
		rp.bytes = rp.half + (rp.nruns > 2 ? sizes[1] : 0);
	}
	return rp;
}

static const enum k_redop reduce_ops[OP_COUNT] = {
	[OP_REDUCE_MEAN] = K_RED_MEAN, [OP_REDUCE_SUM] = K_RED_SUM,
	[OP_REDUCE_MAX] = K_RED_MAX, [OP_REDUCE_MIN] = K_RED_MIN,
};

/* ---- scratch sizes (plan.c reserves them) ---- */

typedef int64_t (*scratch_fn)(struct ir_module *m, struct ir_node *n);

static int all_static(struct ir_module *m, struct ir_node *n)
{
	for (int i = 0; i < n->nin; i++)
		if (n->in[i] != IR_NONE && shape_numel(&ir_val(m, n->in[i])->shape) < 0)
			return 0;
	for (int i = 0; i < n->nout; i++)
		if (shape_numel(&ir_val(m, n->out[i])->shape) < 0)
			return 0;
	return n->nout >= 1;
}

static int64_t conv_scratch(struct ir_module *m, struct ir_node *n)
{
	if (!conv_ok(m, n))
		return 0;
	struct k_conv2d p = conv_params(m, n);
	return (int64_t)k_conv2d_scratch(&p);
}

static int64_t linear_scratch(struct ir_module *m, struct ir_node *n)
{
	if (ir_val(m, n->in[1])->shape.rank != 2)
		return 0;
	struct k_linear p = linear_params(m, n);
	return (int64_t)k_linear_scratch(&p);
}

static int64_t gemm_scratch(struct ir_module *m, struct ir_node *n)
{
	if (ir_val(m, n->in[1])->shape.rank != 2 || ir_val(m, n->in[2])->shape.rank != 2)
		return 0;
	struct k_gemm p = gemm_params(m, n);
	return (int64_t)k_gemm_scratch(&p);
}

static int64_t matmul_scratch(struct ir_module *m, struct ir_node *n)
{
	struct k_matmul p;
	return matmul_params(m, n, &p) ? (int64_t)k_matmul_scratch(&p) : 0;
}

static int64_t reduce_scratch(struct ir_module *m, struct ir_node *n)
{
	return reduce_params(m, n, reduce_ops[n->op]).bytes;
}

/* LSTM / GRU parameters from the input shape and the node's attributes. */
static struct k_rnn rnn_params(struct ir_module *m, struct ir_node *n)
{
	const struct ir_shape *x = &ir_val(m, n->in[0])->shape;
	const struct rnn_attr *a = &n->a.rnn;
	struct k_rnn p = {
		.seq = x->dims[a->batch_first ? 1 : 0], .batch = x->dims[a->batch_first ? 0 : 1],
		.input = x->dims[2], .hidden = a->hidden, .layers = a->layers,
		.dirs = a->bidirectional ? 2 : 1, .batch_first = a->batch_first,
		.has_biases = a->has_biases,
	};
	return p;
}

static int64_t rnn_scratch(struct ir_module *m, struct ir_node *n)
{
	if (ir_val(m, n->in[0])->shape.rank != 3)
		return 0;
	struct k_rnn p = rnn_params(m, n);
	return (int64_t)k_rnn_scratch(&p, n->op == OP_LSTM ? 4 : 3);
}

static const scratch_fn scratch_size[OP_COUNT] = {
	[OP_CONV2D] = conv_scratch, [OP_LINEAR] = linear_scratch, [OP_GEMM] = gemm_scratch,
	[OP_MATMUL] = matmul_scratch, [OP_REDUCE_MEAN] = reduce_scratch,
	[OP_REDUCE_SUM] = reduce_scratch, [OP_REDUCE_MAX] = reduce_scratch,
	[OP_REDUCE_MIN] = reduce_scratch, [OP_LSTM] = rnn_scratch, [OP_GRU] = rnn_scratch,
};

int64_t emit_c_scratch_size(struct ir_module *m, uint32_t node)
{
	struct ir_node *n = ir_node(m, node);
	if (!scratch_size[n->op] || !all_static(m, n))
		return 0;
	return scratch_size[n->op](m, n);
}

/* ---- emitters, one per op ---- */

/* The C expression of conv node id's packed weights (written by write_weights). */
static const char *packed_name(struct emitter *e, uint32_t id)
{
	struct k_conv2d p = conv_params(e->m, ir_node(e->m, id));
	int blob = k_conv2d_packed_size(&p) > TEXT_LIMIT;
	return arena_printf(&e->ctx->arena, "kiln_wpack%u%s", id, blob ? ".v" : "");
}

static void emit_conv2d(struct emitter *e, uint32_t id, struct ir_node *n)
{
	if (!all_f32(e, n))
		return;
	if (!conv_ok(e->m, n)) {
		refuse(e, n, "input, weight and output must be 4-D (N, C, H, W)");
		return;
	}
	struct k_conv2d p = conv_params(e->m, n);
	const struct conv_attr *a = &n->a.conv;
	uint32_t res = opt_in(n, 3);
	need(e, "k_conv");
	fprintf(e->f, "\tk_conv2d_f32(&(struct k_conv2d){.n = %" PRId64 ", .c = %" PRId64
	        ", .h = %" PRId64 ", .w = %" PRId64 ", .oc = %" PRId64 ", .kh = %" PRId64
	        ", .kw = %" PRId64 ", .stride_h = %" PRId64 ", .stride_w = %" PRId64
	        ", .pad_h = %" PRId64 ", .pad_w = %" PRId64 ", .dil_h = %" PRId64
	        ", .dil_w = %" PRId64 ", .groups = %" PRId64 ", .oh = %" PRId64 ", .ow = %" PRId64
	        "%s%s%s%s}, %s, %s, %s, %s, %s);\n",
	        p.n, p.c, p.h, p.w, p.oc, p.kh, p.kw, p.stride_h, p.stride_w, p.pad_h, p.pad_w,
	        p.dil_h, p.dil_w, p.groups, p.oh, p.ow, act_fields(e, a->act, a->act_min, a->act_max),
	        res != IR_NONE ? ", .res = " : "", res != IR_NONE ? ref(e, res) : "",
	        p.packed == K_PACKED_WINO ? ", .packed = K_PACKED_WINO"
	        : p.packed ? ", .packed = K_PACKED_PR" : "", ref(e, n->in[0]),
	        p.packed ? packed_name(e, id) : ref(e, n->in[1]), ref(e, opt_in(n, 2)), ref(e, n->out[0]),
	        scratch_arg(e, id));
	if (p.packed)
		VEC_PUSH(&e->ctx->arena, &e->packed, uint32_t, id);
}

static void emit_linear(struct emitter *e, uint32_t id, struct ir_node *n)
{
	if (!all_f32(e, n) || !rank_is(e, n, n->in[1], 2, 2) || !rank_is(e, n, n->in[0], 1, 8))
		return;
	struct k_linear p = linear_params(e->m, n);
	const struct linear_attr *a = &n->a.linear;
	uint32_t res = opt_in(n, 3);
	need(e, "k_gemm");
	fprintf(e->f, "\tk_linear_f32(&(struct k_linear){.m = %" PRId64 ", .n = %" PRId64
	        ", .k = %" PRId64 "%s%s%s}, %s, %s, %s, %s, %s);\n",
	        p.m, p.n, p.k, act_fields(e, a->act, a->act_min, a->act_max),
	        res != IR_NONE ? ", .res = " : "", res != IR_NONE ? ref(e, res) : "",
	        ref(e, n->in[0]), ref(e, n->in[1]), ref(e, opt_in(n, 2)), ref(e, n->out[0]),
	        scratch_arg(e, id));
}

static void emit_matmul(struct emitter *e, uint32_t id, struct ir_node *n)
{
	struct k_matmul p;
	if (!all_f32(e, n))
		return;
	if (!matmul_params(e->m, n, &p)) {
		refuse(e, n, "more than 4 batch dimensions after broadcasting");
		return;
	}
	need(e, "k_gemm");
	fprintf(e->f, "\tk_matmul_f32(&(struct k_matmul){.m = %" PRId64 ", .n = %" PRId64
	        ", .k = %" PRId64, p.m, p.n, p.k);
	if (p.brank)
		fprintf(e->f, ", .brank = %d, .bdims = %s, .a_bstrides = %s, .b_bstrides = %s",
		        p.brank, ilist(e, p.bdims, p.brank), ilist(e, p.a_bstrides, p.brank),
		        ilist(e, p.b_bstrides, p.brank));
	fprintf(e->f, "}, %s, %s, %s, %s);\n", ref(e, n->in[0]), ref(e, n->in[1]),
	        ref(e, n->out[0]), scratch_arg(e, id));
}

/* C's strides for a gemm bias of shape s broadcast to [m, n]. */
static void bias_strides(const struct ir_shape *s, int64_t *rs, int64_t *cs)
{
	int64_t r = s->rank >= 2 ? s->dims[s->rank - 2] : 1, c = s->rank >= 1 ? s->dims[s->rank - 1] : 1;
	*cs = c == 1 ? 0 : 1;
	*rs = r == 1 ? 0 : c;
}

static void emit_gemm(struct emitter *e, uint32_t id, struct ir_node *n)
{
	if (!all_f32(e, n) || !rank_is(e, n, n->in[1], 2, 2) || !rank_is(e, n, n->in[2], 2, 2))
		return;
	struct k_gemm p = gemm_params(e->m, n);
	int64_t rs = 0, cs = 0;
	if (n->in[0] != IR_NONE)
		bias_strides(shape_of(e, n->in[0]), &rs, &cs);
	need(e, "k_gemm");
	fprintf(e->f, "\tk_gemm_f32(&(struct k_gemm){.m = %" PRId64 ", .n = %" PRId64
	        ", .k = %" PRId64 ", .trans_a = %d, .trans_b = %d, .alpha = %s, .beta = %s"
	        ", .c_rs = %" PRId64 ", .c_cs = %" PRId64 "}, %s, %s, %s, %s, %s);\n",
	        p.m, p.n, p.k, p.trans_a, p.trans_b, flit(e, p.alpha), flit(e, p.beta), rs, cs,
	        ref(e, n->in[1]), ref(e, n->in[2]), ref(e, n->in[0]), ref(e, n->out[0]),
	        scratch_arg(e, id));
}

static void emit_batchnorm(struct emitter *e, uint32_t id, struct ir_node *n)
{
	if (!all_f32(e, n) || !rank_is(e, n, n->in[0], 2, 8))
		return;
	const struct ir_shape *s = shape_of(e, n->in[0]);
	need(e, "k_norm");
	fprintf(e->f, "\tk_batchnorm_f32(&(struct k_batchnorm){.n = %" PRId64 ", .c = %" PRId64
	        ", .hw = %" PRId64 ", .eps = %s}, %s, %s, %s, %s, %s, %s);\n",
	        s->dims[0], s->dims[1], dims_prod(s, 2, s->rank), flit(e, n->a.norm.eps),
	        ref(e, n->in[0]), ref(e, n->in[3]), ref(e, n->in[4]), ref(e, n->in[1]),
	        ref(e, n->in[2]), ref(e, n->out[0]));
}

static void emit_layernorm(struct emitter *e, uint32_t id, struct ir_node *n)
{
	if (!all_f32(e, n))
		return;
	const struct ir_shape *s = shape_of(e, n->in[0]);
	int axis = n->a.norm.axis;
	if (axis < 0 || axis > s->rank) {
		refuse(e, n, "normalized axis out of range");
		return;
	}
	need(e, "k_norm");
	fprintf(e->f, "\tk_layernorm_f32(&(struct k_layernorm){.outer = %" PRId64
	        ", .inner = %" PRId64 ", .eps = %s}, %s, %s, %s, %s);\n",
	        dims_prod(s, 0, axis), dims_prod(s, axis, s->rank), flit(e, n->a.norm.eps),
	        ref(e, n->in[0]), ref(e, opt_in(n, 1)), ref(e, opt_in(n, 2)), ref(e, n->out[0]));
}

static const char *const unary_ops[OP_COUNT] = {
	[OP_RELU] = "K_UN_RELU", [OP_CLIP] = "K_UN_CLIP", [OP_SIGMOID] = "K_UN_SIGMOID",
	[OP_TANH] = "K_UN_TANH", [OP_GELU] = "K_UN_GELU", [OP_SILU] = "K_UN_SILU",
	[OP_HARDSWISH] = "K_UN_HARDSWISH", [OP_HARDSIGMOID] = "K_UN_HARDSIGMOID",
	[OP_EXP] = "K_UN_EXP", [OP_LOG] = "K_UN_LOG", [OP_SQRT] = "K_UN_SQRT",
	[OP_RSQRT] = "K_UN_RSQRT", [OP_NEG] = "K_UN_NEG", [OP_ABS] = "K_UN_ABS",
	[OP_ERF] = "K_UN_ERF",
};

static void emit_unary(struct emitter *e, uint32_t id, struct ir_node *n)
{
	if (!all_f32(e, n))
		return;
	const char *op = unary_ops[n->op], *extra = "";
	if (n->op == OP_GELU && n->a.gelu.tanh_approx)
		op = "K_UN_GELU_TANH";
	if (n->op == OP_CLIP)
		extra = arena_printf(&e->ctx->arena, ", .min = %s, .max = %s", flit(e, n->a.clip.min),
		                     flit(e, n->a.clip.max));
	need(e, "k_eltwise");
	fprintf(e->f, "\tk_unary_f32(&(struct k_unary){.op = %s, .n = %" PRId64 "%s}, %s, %s);\n",
	        op, numel(e, n->out[0]), extra, ref(e, n->in[0]), ref(e, n->out[0]));
}

static const char *const binary_ops[OP_COUNT] = {
	[OP_ADD] = "K_BIN_ADD", [OP_SUB] = "K_BIN_SUB", [OP_MUL] = "K_BIN_MUL",
	[OP_DIV] = "K_BIN_DIV", [OP_POW] = "K_BIN_POW", [OP_MAXIMUM] = "K_BIN_MAX",
	[OP_MINIMUM] = "K_BIN_MIN",
};

/* Strides of operand s broadcast (NumPy, right-aligned) to the output shape y. */
static int broadcast_strides(const struct ir_shape *s, const struct ir_shape *y, int64_t *st)
{
	int64_t own[KILN_MAX_RANK];
	if (s->rank > y->rank)
		return 0;
	row_strides(s, own);
	for (int i = 0; i < y->rank; i++) {
		int j = i - (y->rank - s->rank);
		if (j < 0 || s->dims[j] == 1)
			st[i] = 0;
		else if (s->dims[j] == y->dims[i])
			st[i] = own[j];
		else
			return 0;
	}
	return 1;
}

static const char *k_dtype_name(enum dtype dt);

/* Operands of another type than f32 (int64, int32, uint8, bool, f64): the exact k_int
 * kernels. fn is k_binary_any (op: enum k_intop), k_compare_any (op: enum k_cmpop) or
 * k_where_any (inputs cond, a, b). Returns 0 (and emits nothing) if a type has no kernel. */
static int emit_any(struct emitter *e, struct ir_node *n, const char *fn, int op)
{
	int w = strcmp(fn, "k_where_any") == 0;
	uint32_t a = n->in[w], b = n->in[w + 1], y = n->out[0];
	enum dtype t = val(e, a)->dtype;
	const struct ir_shape *ys = shape_of(e, y);
	int64_t sa[KILN_MAX_RANK], sb[KILN_MAX_RANK], sc[KILN_MAX_RANK] = {0};
	if (!k_dtype_name(t) || val(e, b)->dtype != t || (w && val(e, y)->dtype != t))
		return 0;
	if (!broadcast_strides(shape_of(e, a), ys, sa) || !broadcast_strides(shape_of(e, b), ys, sb) ||
	    (w && !broadcast_strides(shape_of(e, n->in[0]), ys, sc))) {
		refuse(e, n, "operand shapes do not broadcast to the output shape");
		return 1;
	}
	need(e, "k_int");
	fprintf(e->f, "	%s(&(struct k_anybin){.op = %d, .t = %s, .rank = %d", fn, op,
	        k_dtype_name(t), ys->rank);
	if (ys->rank)
		fprintf(e->f, ", .dims = %s, .a_strides = %s, .b_strides = %s, .c_strides = %s",
		        ilist(e, ys->dims, ys->rank), ilist(e, sa, ys->rank), ilist(e, sb, ys->rank),
		        ilist(e, sc, ys->rank));
	fputs("}, ", e->f);
	if (w)
		fprintf(e->f, "%zu, (const uint8_t *)%s, ", dtype_size(t), ref(e, n->in[0]));
	fprintf(e->f, "%s, %s, %s%s);\n", ref(e, a), ref(e, b),
	        strcmp(fn, "k_compare_any") == 0 ? "(uint8_t *)" : "", ref(e, y));
	return 1;
}

static void emit_binary(struct emitter *e, uint32_t id, struct ir_node *n)
{
	static const int int_ops[OP_COUNT] = {
		[OP_ADD] = 0, [OP_SUB] = 1, [OP_MUL] = 2, [OP_DIV] = 3, [OP_POW] = 4,
		[OP_MAXIMUM] = 5, [OP_MINIMUM] = 6,
	};
	if (val(e, n->out[0])->dtype != DT_F32 && n->a.binary.alpha == 1.0f &&
	    emit_any(e, n, "k_binary_any", int_ops[n->op]))
		return;
	if (!all_f32(e, n))
		return;
	const struct ir_shape *y = shape_of(e, n->out[0]);
	int64_t sa[KILN_MAX_RANK], sb[KILN_MAX_RANK];
	if (!broadcast_strides(shape_of(e, n->in[0]), y, sa) ||
	    !broadcast_strides(shape_of(e, n->in[1]), y, sb)) {
		refuse(e, n, "operand shapes do not broadcast to the output shape");
		return;
	}
	const char *op = binary_ops[n->op], *alpha = "";
	float al = n->a.binary.alpha;
	if ((n->op == OP_ADD || n->op == OP_SUB) && al != 1.0f) {
		op = "K_BIN_ADD_SCALED";
		alpha = arena_printf(&e->ctx->arena, ", .alpha = %s",
		                     flit(e, n->op == OP_SUB ? -al : al));
	}
	need(e, "k_eltwise");
	fprintf(e->f, "\tk_binary_f32(&(struct k_binary){.op = %s, .rank = %d", op, y->rank);
	if (y->rank)
		fprintf(e->f, ", .dims = %s, .a_strides = %s, .b_strides = %s",
		        ilist(e, y->dims, y->rank), ilist(e, sa, y->rank), ilist(e, sb, y->rank));
	fprintf(e->f, "%s}, %s, %s, %s);\n", alpha, ref(e, n->in[0]), ref(e, n->in[1]),
	        ref(e, n->out[0]));
}

/* n, c, h, w of an NCHW or CHW tensor. */
static void nchw(const struct ir_shape *s, int64_t *d)
{
	int o = s->rank - 4;
	for (int i = 0; i < 4; i++)
		d[i] = i + o >= 0 ? s->dims[i + o] : 1;
}

static void emit_pool(struct emitter *e, uint32_t id, struct ir_node *n)
{
	if (!all_f32(e, n) || !rank_is(e, n, n->in[0], 3, 4) || !rank_is(e, n, n->out[0], 3, 4))
		return;
	int64_t x[4], y[4];
	nchw(shape_of(e, n->in[0]), x);
	nchw(shape_of(e, n->out[0]), y);
	const struct pool_attr *a = &n->a.pool;
	need(e, "k_pool");
	int max = n->op == OP_MAXPOOL2D;
	fprintf(e->f, "\tk_%s_f32(&(struct k_pool2d){.n = %" PRId64 ", .c = %" PRId64
	        ", .h = %" PRId64 ", .w = %" PRId64 ", .kh = %d, .kw = %d, .stride_h = %d"
	        ", .stride_w = %d, .pad_h = %d, .pad_w = %d, .dil_h = %d, .dil_w = %d"
	        ", .oh = %" PRId64 ", .ow = %" PRId64,
	        max ? "maxpool2d" : "avgpool2d", x[0], x[1], x[2], x[3], a->kernel[0], a->kernel[1],
	        a->stride[0], a->stride[1], a->pad[0], a->pad[1], max ? a->dil[0] : 1,
	        max ? a->dil[1] : 1, y[2], y[3]);
	if (!max && a->count_include_pad)
		fputs(", .count_include_pad = 1", e->f);
	if (!max && a->divisor)
		fprintf(e->f, ", .divisor_override = %d", a->divisor);
	fprintf(e->f, "}, %s, %s);\n", ref(e, n->in[0]), ref(e, n->out[0]));
}

static void emit_adaptive_pool(struct emitter *e, uint32_t id, struct ir_node *n)
{
	if (!all_f32(e, n) || !rank_is(e, n, n->in[0], 3, 4) || !rank_is(e, n, n->out[0], 3, 4))
		return;
	int64_t x[4], y[4];
	nchw(shape_of(e, n->in[0]), x);
	nchw(shape_of(e, n->out[0]), y);
	need(e, "k_pool");
	fprintf(e->f, "\tk_adaptive_%s_f32(&(struct k_adaptive_pool2d){.n = %" PRId64
	        ", .c = %" PRId64 ", .h = %" PRId64 ", .w = %" PRId64 ", .oh = %" PRId64
	        ", .ow = %" PRId64 "}, %s, %s);\n",
	        n->op == OP_ADAPTIVE_MAXPOOL2D ? "maxpool2d" : "avgpool2d", x[0], x[1], x[2], x[3],
	        y[2], y[3], ref(e, n->in[0]), ref(e, n->out[0]));
}

static void emit_softmax(struct emitter *e, uint32_t id, struct ir_node *n)
{
	if (!all_f32(e, n))
		return;
	const struct ir_shape *s = shape_of(e, n->in[0]);
	int ax = n->a.axis.axis;
	if (s->rank == 0) {
		ax = 0;
	} else if (ax < 0 || ax >= s->rank) {
		refuse(e, n, "axis out of range");
		return;
	}
	need(e, "k_softmax");
	fprintf(e->f, "\tk_%s_f32(&(struct k_softmax){.outer = %" PRId64 ", .dim = %" PRId64
	        ", .inner = %" PRId64 "}, %s, %s);\n",
	        n->op == OP_LOG_SOFTMAX ? "log_softmax" : "softmax", dims_prod(s, 0, ax),
	        s->rank ? s->dims[ax] : 1, s->rank ? dims_prod(s, ax + 1, s->rank) : 1,
	        ref(e, n->in[0]), ref(e, n->out[0]));
}

static const char *const red_names[] = {
	[K_RED_SUM] = "K_RED_SUM", [K_RED_MEAN] = "K_RED_MEAN", [K_RED_PROD] = "K_RED_PROD",
	[K_RED_MAX] = "K_RED_MAX", [K_RED_MIN] = "K_RED_MIN",
};

static void emit_copy_all(struct emitter *e, struct ir_node *n);

static void emit_reduce(struct emitter *e, uint32_t id, struct ir_node *n)
{
	if (!all_f32(e, n))
		return;
	struct reduce_plan rp = reduce_params(e->m, n, reduce_ops[n->op]);
	if (rp.nruns == 0) {    /* a rank-0 input: nothing to reduce */
		emit_copy_all(e, n);
		return;
	}
	KILN_ASSERT(rp.nruns == 1 || ir_node(e->m, id)->scratch != IR_NONE);
	need(e, "k_reduce");
	int64_t base = rp.nruns > 1 ? val(e, ir_node(e->m, id)->scratch)->offset : 0;
	for (int i = 0; i < rp.nruns; i++) {
		const char *src = i == 0 ? ref(e, n->in[0])
		                         : arena_printf(&e->ctx->arena, "(const float *)(void *)(ws + %" PRId64 ")",
		                                        base + ((i - 1) % 2 ? rp.half : 0));
		const char *dst = i == rp.nruns - 1
			? ref(e, n->out[0])
			: arena_printf(&e->ctx->arena, "(float *)(void *)(ws + %" PRId64 ")",
			               base + (i % 2 ? rp.half : 0));
		struct k_reduce *k = &rp.run[i];
		fprintf(e->f, "\tk_reduce_f32(&(struct k_reduce){.op = %s, .outer = %" PRId64
		        ", .dim = %" PRId64 ", .inner = %" PRId64 "}, %s, %s);\n",
		        red_names[k->op], k->outer, k->dim, k->inner, src, dst);
	}
}

/* The k_copy esize field for a dtype ("" for float32, the default). */
static const char *esize(struct emitter *e, uint32_t v)
{
	size_t s = dtype_size(val(e, v)->dtype);
	return s == 4 ? "" : arena_printf(&e->ctx->arena, ", .esize = %zu", s);
}

/* A plain copy of the whole input into the output (same bytes). */
static void emit_copy_all(struct emitter *e, struct ir_node *n)
{
	int64_t bytes = numel(e, n->out[0]) * (int64_t)dtype_size(val(e, n->out[0])->dtype);
	fprintf(e->f, "\tmemcpy(%s, %s, %" PRId64 ");\n", ref(e, n->out[0]), ref(e, n->in[0]),
	        bytes);
}

/* RESHAPE / IDENTITY: nothing if planned as a view, else a copy (an output's buffer). */
static void emit_view(struct emitter *e, uint32_t id, struct ir_node *n)
{
	if (val(e, n->out[0])->storage == ST_ALIAS) {
		fprintf(e->f, "\t/* a view of %%%u: no code */\n", val(e, n->out[0])->alias_of);
		return;
	}
	if (numel(e, n->in[0]) != numel(e, n->out[0]) ||
	    val(e, n->in[0])->dtype != val(e, n->out[0])->dtype) {
		refuse(e, n, "input and output differ in size or dtype");
		return;
	}
	need(e, "k_base");
	emit_copy_all(e, n);
}

/* k_copy_strided(dims of the output, src strides, src offset) of input 0. */
static void emit_gather(struct emitter *e, struct ir_node *n, const int64_t *sst, int64_t soff)
{
	const struct ir_shape *y = shape_of(e, n->out[0]);
	need(e, "k_copy");
	fprintf(e->f, "\tk_copy_strided(&(struct k_copy){.rank = %d", y->rank);
	if (y->rank)
		fprintf(e->f, ", .dims = %s, .src_strides = %s", ilist(e, y->dims, y->rank),
		        ilist(e, sst, y->rank));
	if (soff)
		fprintf(e->f, ", .src_offset = %" PRId64, soff);
	fprintf(e->f, "%s}, %s, %s);\n", esize(e, n->out[0]), ref(e, n->in[0]), ref(e, n->out[0]));
}

static int same_dtype(struct emitter *e, struct ir_node *n)
{
	for (int i = 0; i < n->nin; i++)
		if (val(e, n->in[i])->dtype != val(e, n->out[0])->dtype) {
			refuse(e, n, "inputs and output differ in dtype");
			return 0;
		}
	return 1;
}

static void emit_permute(struct emitter *e, uint32_t id, struct ir_node *n)
{
	const struct ir_shape *x = shape_of(e, n->in[0]);
	int64_t xs[KILN_MAX_RANK], st[KILN_MAX_RANK];
	if (!same_dtype(e, n))
		return;
	row_strides(x, xs);
	for (int i = 0; i < x->rank; i++) {
		int p = n->a.perm.perm[i];
		if (p < 0 || p >= x->rank) {
			refuse(e, n, "permutation out of range");
			return;
		}
		st[i] = xs[p];
	}
	emit_gather(e, n, st, 0);
}

static void emit_slice(struct emitter *e, uint32_t id, struct ir_node *n)
{
	const struct ir_shape *x = shape_of(e, n->in[0]);
	const struct slice_attr *a = &n->a.slice;
	int64_t st[KILN_MAX_RANK];
	if (!same_dtype(e, n))
		return;
	if (a->axis < 0 || a->axis >= x->rank || a->step < 1) {
		refuse(e, n, "slice axis or step out of range");
		return;
	}
	row_strides(x, st);
	int64_t off = a->start * st[a->axis];
	st[a->axis] *= a->step;
	emit_gather(e, n, st, off);
}

static void emit_expand(struct emitter *e, uint32_t id, struct ir_node *n)
{
	int64_t st[KILN_MAX_RANK];
	if (!same_dtype(e, n))
		return;
	if (!broadcast_strides(shape_of(e, n->in[0]), shape_of(e, n->out[0]), st)) {
		refuse(e, n, "input does not broadcast to the output shape");
		return;
	}
	emit_gather(e, n, st, 0);
}

/* k_copy_into: src (dims d, contiguous strides, offset so) into dst strides ds, offset doff. */
static void emit_scatter(struct emitter *e, uint32_t src, uint32_t dst, const int64_t *d,
                         const int64_t *ss, int64_t so, const int64_t *ds, int64_t doff)
{
	int r = shape_of(e, dst)->rank;
	need(e, "k_copy");
	fprintf(e->f, "\tk_copy_into(&(struct k_copy){.rank = %d", r);
	if (r)
		fprintf(e->f, ", .dims = %s, .src_strides = %s, .dst_strides = %s", ilist(e, d, r),
		        ilist(e, ss, r), ilist(e, ds, r));
	if (so)
		fprintf(e->f, ", .src_offset = %" PRId64, so);
	if (doff)
		fprintf(e->f, ", .dst_offset = %" PRId64, doff);
	fprintf(e->f, "%s}, %s, %s);\n", esize(e, dst), ref(e, src), ref(e, dst));
}

/* Whether workspace tensor x already lives at element doff of workspace tensor y (the plan
 * wrote a CONCAT input in place). */
static int in_place(struct emitter *e, uint32_t x, uint32_t y, int64_t doff)
{
	struct ir_value *xv = val(e, x), *yv = val(e, y);
	return xv->storage == ST_WORKSPACE && yv->storage == ST_WORKSPACE &&
	       xv->offset == yv->offset + doff * (int64_t)dtype_size(yv->dtype);
}

static void emit_concat(struct emitter *e, uint32_t id, struct ir_node *n)
{
	const struct ir_shape *y = shape_of(e, n->out[0]);
	int ax = n->a.axis.axis;
	int64_t ys[KILN_MAX_RANK], xs[KILN_MAX_RANK], at = 0;
	if (!same_dtype(e, n))
		return;
	if (ax < 0 || ax >= y->rank) {
		refuse(e, n, "axis out of range");
		return;
	}
	row_strides(y, ys);
	for (int i = 0; i < n->nin; i++) {
		const struct ir_shape *x = shape_of(e, n->in[i]);
		if (x->rank != y->rank) {
			refuse(e, n, "inputs differ in rank");
			return;
		}
		row_strides(x, xs);
		if (shape_numel(x) > 0 && !in_place(e, n->in[i], n->out[0], at * ys[ax]))
			emit_scatter(e, n->in[i], n->out[0], x->dims, xs, 0, ys, at * ys[ax]);
		at += x->dims[ax];
	}
}

static void emit_pad(struct emitter *e, uint32_t id, struct ir_node *n)
{
	const struct ir_shape *x = shape_of(e, n->in[0]), *y = shape_of(e, n->out[0]);
	const struct pad_attr *a = &n->a.pad;
	int64_t xs[KILN_MAX_RANK], ys[KILN_MAX_RANK], d[KILN_MAX_RANK], so = 0, doff = 0;
	int grows = 0, empty = 0;
	if (!all_f32(e, n) || x->rank != y->rank) {
		if (x->rank != y->rank)
			refuse(e, n, "input and output differ in rank");
		return;
	}
	row_strides(x, xs);
	row_strides(y, ys);
	for (int i = 0; i < x->rank; i++) {
		int64_t cut0 = a->before[i] < 0 ? -a->before[i] : 0, cut1 = a->after[i] < 0 ? -a->after[i] : 0;
		d[i] = x->dims[i] - cut0 - cut1;
		empty |= d[i] <= 0;
		grows |= a->before[i] > 0 || a->after[i] > 0;
		so += cut0 * xs[i];
		doff += (a->before[i] > 0 ? a->before[i] : 0) * ys[i];
	}
	need(e, "k_copy");
	if (grows || empty)
		fprintf(e->f, "\tk_fill_f32(&(struct k_fill){.n = %" PRId64 ", .value = %s}, %s);\n",
		        shape_numel(y), flit(e, (float)a->value), ref(e, n->out[0]));
	if (!empty)
		emit_scatter(e, n->in[0], n->out[0], d, xs, so, ys, doff);
}

static const char *k_dtype_name(enum dtype dt)
{
	switch (dt) {
	case DT_F32: return "K_F32";
	case DT_F64: return "K_F64";
	case DT_I64: return "K_I64";
	case DT_I32: return "K_I32";
	case DT_U8: return "K_U8";
	case DT_BOOL: return "K_BOOL";
	default: return NULL;
	}
}

static void emit_cast(struct emitter *e, uint32_t id, struct ir_node *n)
{
	enum dtype from = val(e, n->in[0])->dtype, to = val(e, n->out[0])->dtype;
	if (from == to) {
		need(e, "k_base");
		emit_copy_all(e, n);
		return;
	}
	if (!k_dtype_name(from) || !k_dtype_name(to)) {
		refuse(e, n, arena_printf(&e->ctx->arena, "cast from %s to %s", dtype_name(from),
		                          dtype_name(to)));
		return;
	}
	need(e, "k_copy");
	fprintf(e->f, "\tk_cast(&(struct k_cast){.n = %" PRId64 ", .from = %s, .to = %s}, %s, %s);\n",
	        numel(e, n->out[0]), k_dtype_name(from), k_dtype_name(to), ref(e, n->in[0]),
	        ref(e, n->out[0]));
}

/* ---- scalars and control flow ---- */

static int is_tensor_kind(enum vkind k) { return k == VK_TENSOR; }

static const char *scalar_c_type(enum vkind k)
{
	return k == VK_FLOAT ? "double" : k == VK_BOOL ? "int" : "int64_t";
}

/* A scalar as C: a literal for constants, else its variable. */
static const char *sref(struct emitter *e, uint32_t v)
{
	const struct ir_const *c = ir_const_of(e->m, v);
	struct arena *a = &e->ctx->arena;
	if (c && (c->kind == CK_INT))
		return c->i == INT64_MIN ? "INT64_MIN" : arena_printf(a, "INT64_C(%" PRId64 ")", c->i);
	if (c && c->kind == CK_BOOL)
		return c->i ? "1" : "0";
	if (c && c->kind == CK_FLOAT) {
		if (c->f != c->f)
			return "(double)NAN";
		if (c->f == 1.0 / 0.0 || c->f == -1.0 / 0.0)
			return c->f > 0 ? "(double)INFINITY" : "(-(double)INFINITY)";
		return arena_printf(a, "%.17g", c->f);
	}
	KILN_ASSERT(e->expr[v]);
	e->used[v] = 1;
	return e->expr[v];
}

/* dst = src, for a tensor (a copy unless both are the same bytes) or a scalar. */
static void put_assign(struct emitter *e, uint32_t dst, uint32_t src)
{
	struct ir_module *m = e->m;
	if (!is_tensor_kind(val(e, dst)->kind)) {
		fprintf(e->f, "\t%s = %s;\n", sref(e, dst), sref(e, src));
		return;
	}
	if (ir_is_none(m, src))   /* undefined (ts_uninitialized): never read on this path */
		return;
	uint32_t a = dst, b = src;
	while (val(e, a)->storage == ST_ALIAS)
		a = val(e, a)->alias_of;
	while (val(e, b)->storage == ST_ALIAS)
		b = val(e, b)->alias_of;
	if (a == b)
		return;
	fprintf(e->f, "\tmemcpy(%s, %s, %" PRId64 ");\n", ref(e, dst), ref(e, src),
	        numel(e, src) * (int64_t)dtype_size(ir_val(m, src)->dtype));
}

static void emit_if(struct emitter *e, uint32_t id, struct ir_node *n)
{
	(void)id;
	fprintf(e->f, "\tif (%s) {\n", sref(e, n->in[0]));
	for (int k = 0; k < 2; k++) {
		struct ir_block *b = n->blocks[k];
		emit_nodes(e, b);
		for (int o = 0; o < n->nout; o++)
			put_assign(e, n->out[o], b->rets[o]);
		fputs(k ? "\t}\n" : "\t} else {\n", e->f);
	}
}

static void emit_loop(struct emitter *e, uint32_t id, struct ir_node *n)
{
	struct ir_block *body = n->blocks[0];
	int nc = n->nin - 2;
	for (int k = 0; k < nc; k++)
		put_assign(e, n->out[k], n->in[2 + k]);
	for (int k = 0; k < nc; k++) {
		uint32_t r = body->rets[1 + k];
		for (int j = 0; j < nc; j++)
			if (j != k && r == body->params[1 + j] && is_tensor_kind(val(e, r)->kind)) {
				refuse(e, n, "loop-carried tensors that swap places");
				return;
			}
	}
	const char *i = e->expr[body->params[0]];
	fprintf(e->f, "\t{\n\tint64_t %s;\n\tint c%u = %s;\n", i, id, sref(e, n->in[1]));
	fprintf(e->f, "\tfor (%s = 0; c%u && %s < %s; %s++) {\n", i, id, i, sref(e, n->in[0]), i);
	emit_nodes(e, body);
	fprintf(e->f, "\tc%u = %s;\n", id, sref(e, body->rets[0]));
	for (int k = 0; k < nc; k++)   /* scalars through temporaries: they may swap */
		if (!is_tensor_kind(val(e, n->out[k])->kind))
			fprintf(e->f, "\t%s n%u_%d = %s;\n", scalar_c_type(val(e, n->out[k])->kind), id, k,
			        sref(e, body->rets[1 + k]));
	for (int k = 0; k < nc; k++) {
		if (is_tensor_kind(val(e, n->out[k])->kind))
			put_assign(e, n->out[k], body->rets[1 + k]);
		else
			fprintf(e->f, "\t%s = n%u_%d;\n", sref(e, n->out[k]), id, k);
	}
	fputs("\t}\n\t}\n", e->f);
}

/* An exception the model raises: the run function returns its message's number. */
static void emit_raise(struct emitter *e, uint32_t id, struct ir_node *n)
{
	(void)id;
	const struct ir_const *c = n->nin ? ir_const_of(e->m, n->in[0]) : NULL;
	const char *msg = c && c->kind == CK_STR ? c->s : "exception";
	VEC_PUSH(&e->ctx->arena, &e->messages, const char *, msg);
	fprintf(e->f, "\treturn %zu; /* ", e->messages.len);
	put_comment_text(e->f, msg);
	fputs(" */\n", e->f);
}

static void emit_scalar(struct emitter *e, uint32_t id, struct ir_node *n)
{
	(void)id;
	const char *a = sref(e, n->in[0]), *b = n->nin > 1 ? sref(e, n->in[1]) : "";
	int ints = val(e, n->out[0])->kind == VK_INT;
	const char *r;
	struct arena *ar = &e->ctx->arena;
	switch (n->a.sop.op) {
	case SOP_ADD: r = arena_printf(ar, "%s + %s", a, b); break;
	case SOP_SUB: r = arena_printf(ar, "%s - %s", a, b); break;
	case SOP_MUL: r = arena_printf(ar, "%s * %s", a, b); break;
	case SOP_DIV: r = arena_printf(ar, "(double)%s / (double)%s", a, b); break;
	case SOP_FLOORDIV:
		r = ints ? arena_printf(ar, "k_floordiv_i64(%s, %s)", a, b)
		         : arena_printf(ar, "floor((double)%s / (double)%s)", a, b);
		break;
	case SOP_MOD:
		r = ints ? arena_printf(ar, "k_mod_i64(%s, %s)", a, b)
		         : arena_printf(ar, "k_mod_f64(%s, %s)", a, b);
		break;
	case SOP_POW: r = arena_printf(ar, "pow((double)%s, (double)%s)", a, b); break;
	case SOP_EQ: r = arena_printf(ar, "%s == %s", a, b); break;
	case SOP_NE: r = arena_printf(ar, "%s != %s", a, b); break;
	case SOP_LT: r = arena_printf(ar, "%s < %s", a, b); break;
	case SOP_LE: r = arena_printf(ar, "%s <= %s", a, b); break;
	case SOP_GT: r = arena_printf(ar, "%s > %s", a, b); break;
	case SOP_GE: r = arena_printf(ar, "%s >= %s", a, b); break;
	case SOP_AND: r = arena_printf(ar, "%s && %s", a, b); break;
	case SOP_OR: r = arena_printf(ar, "%s || %s", a, b); break;
	case SOP_NOT: r = arena_printf(ar, "!%s", a); break;
	case SOP_NEG: r = arena_printf(ar, "-%s", a); break;
	case SOP_INT: r = arena_printf(ar, "(int64_t)%s", a); break;
	case SOP_FLOAT: r = arena_printf(ar, "(double)%s", a); break;
	case SOP_BOOL: r = arena_printf(ar, "%s != 0", a); break;
	default: unreachable();
	}
	need(e, "k_cmp");
	fprintf(e->f, "\t%s = (%s)(%s);\n", sref(e, n->out[0]),
	        scalar_c_type(val(e, n->out[0])->kind), r);
}

static void emit_item(struct emitter *e, uint32_t id, struct ir_node *n)
{
	(void)id;
	if (numel(e, n->in[0]) != 1) {
		refuse(e, n, "only a one-element tensor converts to a number");
		return;
	}
	enum vkind k = val(e, n->out[0])->kind;
	fprintf(e->f, "\t%s = (%s)(%s[0]%s);\n", sref(e, n->out[0]), scalar_c_type(k),
	        ref(e, n->in[0]), k == VK_BOOL ? " != 0" : "");
}

static void emit_from_scalar(struct emitter *e, uint32_t id, struct ir_node *n)
{
	(void)id;
	const char *ct = dtype_c_type(val(e, n->out[0])->dtype);
	fprintf(e->f, "\t%s[0] = (%s)%s;\n", ref(e, n->out[0]), ct, sref(e, n->in[0]));
}

static void emit_compare(struct emitter *e, uint32_t id, struct ir_node *n)
{
	(void)id;
	static const char *const names[SOP_COUNT] = {
		[SOP_EQ] = "K_CMP_EQ", [SOP_NE] = "K_CMP_NE", [SOP_LT] = "K_CMP_LT",
		[SOP_LE] = "K_CMP_LE", [SOP_GT] = "K_CMP_GT", [SOP_GE] = "K_CMP_GE",
	};
	const struct ir_shape *y = shape_of(e, n->out[0]);
	int64_t sa[KILN_MAX_RANK], sb[KILN_MAX_RANK];
	if (val(e, n->in[0])->dtype != DT_F32 && names[n->a.sop.op] &&
	    emit_any(e, n, "k_compare_any", (int)(n->a.sop.op - SOP_EQ)))
		return;
	if (val(e, n->in[0])->dtype != DT_F32 || val(e, n->in[1])->dtype != DT_F32 ||
	    !names[n->a.sop.op]) {
		refuse(e, n, "comparisons are compiled for f32 tensors");
		return;
	}
	if (!broadcast_strides(shape_of(e, n->in[0]), y, sa) ||
	    !broadcast_strides(shape_of(e, n->in[1]), y, sb)) {
		refuse(e, n, "operand shapes do not broadcast to the output shape");
		return;
	}
	need(e, "k_cmp");
	fprintf(e->f, "\tk_compare_f32(&(struct k_compare){.op = %s, .rank = %d", names[n->a.sop.op],
	        y->rank);
	if (y->rank)
		fprintf(e->f, ", .dims = %s, .a_strides = %s, .b_strides = %s",
		        ilist(e, y->dims, y->rank), ilist(e, sa, y->rank), ilist(e, sb, y->rank));
	fprintf(e->f, "}, %s, %s, %s);\n", ref(e, n->in[0]), ref(e, n->in[1]), ref(e, n->out[0]));
}

/* LSTM / GRU: one call; the weights as an array of pointers in PyTorch's flat order. */
static void emit_rnn(struct emitter *e, uint32_t id, struct ir_node *n)
{
	if (!all_f32(e, n) || !rank_is(e, n, n->in[0], 3, 3))
		return;
	struct k_rnn p = rnn_params(e->m, n);
	int lstm = n->op == OP_LSTM, first_w = lstm ? 3 : 2;
	need(e, "k_rnn");
	fprintf(e->f, "\tk_%s_f32(&(struct k_rnn){.seq = %" PRId64 ", .batch = %" PRId64
	        ", .input = %" PRId64 ", .hidden = %" PRId64 ", .layers = %d, .dirs = %d"
	        ", .batch_first = %d, .has_biases = %d},\n\t\t%s, %s, ",
	        lstm ? "lstm" : "gru", p.seq, p.batch, p.input, p.hidden, p.layers, p.dirs,
	        p.batch_first, p.has_biases, ref(e, n->in[0]), ref(e, n->in[1]));
	if (lstm)
		fprintf(e->f, "%s, ", ref(e, n->in[2]));
	fputs("(const float *const[]){", e->f);
	for (int i = first_w; i < n->nin; i++)
		fprintf(e->f, "%s%s", i > first_w ? ", " : "", ref(e, n->in[i]));
	fputs("},\n\t\t", e->f);
	for (int i = 0; i < n->nout; i++)
		fprintf(e->f, "%s, ", ref(e, n->out[i]));
	fprintf(e->f, "%s);\n", scratch_arg(e, id));
}

/* where(cond, a, b): each operand broadcast by its own strides. */
static void emit_where(struct emitter *e, uint32_t id, struct ir_node *n)
{
	const struct ir_shape *y = shape_of(e, n->out[0]);
	int64_t sc[KILN_MAX_RANK], sa[KILN_MAX_RANK], sb[KILN_MAX_RANK];
	enum dtype ct = val(e, n->in[0])->dtype;
	if ((ct == DT_BOOL || ct == DT_U8) && val(e, n->in[1])->dtype != DT_F32 &&
	    emit_any(e, n, "k_where_any", 0))
		return;
	if ((ct != DT_BOOL && ct != DT_U8) || val(e, n->in[1])->dtype != DT_F32 ||
	    val(e, n->in[2])->dtype != DT_F32) {
		refuse(e, n, "needs a bool condition and float32 values");
		return;
	}
	if (!broadcast_strides(shape_of(e, n->in[0]), y, sc) ||
	    !broadcast_strides(shape_of(e, n->in[1]), y, sa) ||
	    !broadcast_strides(shape_of(e, n->in[2]), y, sb)) {
		refuse(e, n, "operand shapes do not broadcast to the output shape");
		return;
	}
	need(e, "k_index");
	fprintf(e->f, "\tk_where_f32(&(struct k_where){.rank = %d", y->rank);
	if (y->rank)
		fprintf(e->f, ", .dims = %s, .c_strides = %s, .a_strides = %s, .b_strides = %s",
		        ilist(e, y->dims, y->rank), ilist(e, sc, y->rank), ilist(e, sa, y->rank),
		        ilist(e, sb, y->rank));
	fprintf(e->f, "}, (const unsigned char *)%s, %s, %s, %s);\n", ref(e, n->in[0]),
	        ref(e, n->in[1]), ref(e, n->in[2]), ref(e, n->out[0]));
}

/* embedding(weight, indices): one row copy per index. */
static void emit_embedding(struct emitter *e, uint32_t id, struct ir_node *n)
{
	const struct ir_shape *w = shape_of(e, n->in[0]);
	if (val(e, n->in[0])->dtype != DT_F32 || val(e, n->in[1])->dtype != DT_I64 || w->rank != 2) {
		refuse(e, n, "needs a 2-D float32 table and int64 indices");
		return;
	}
	need(e, "k_index");
	fprintf(e->f, "\tk_embedding_f32(&(struct k_embedding){.rows = %" PRId64 ", .dim = %" PRId64
	        ", .count = %" PRId64 "}, %s, %s, %s);\n", w->dims[0], w->dims[1],
	        numel(e, n->in[1]), ref(e, n->in[0]), ref(e, n->in[1]), ref(e, n->out[0]));
}

/* Per-op emitters (STYLE K18). CONST needs none: weights are written on their own. */
static const emit_fn emit_c_op[OP_COUNT] = {
	[OP_IDENTITY] = emit_view, [OP_RESHAPE] = emit_view, [OP_IF] = emit_if, [OP_LOOP] = emit_loop,
	[OP_RAISE] = emit_raise, [OP_SCALAR] = emit_scalar, [OP_ITEM] = emit_item,
	[OP_COMPARE] = emit_compare, [OP_FROM_SCALAR] = emit_from_scalar,
	[OP_CONV2D] = emit_conv2d, [OP_LINEAR] = emit_linear, [OP_MATMUL] = emit_matmul,
	[OP_GEMM] = emit_gemm, [OP_BATCHNORM] = emit_batchnorm, [OP_LAYERNORM] = emit_layernorm,
	[OP_RELU] = emit_unary, [OP_CLIP] = emit_unary, [OP_SIGMOID] = emit_unary,
	[OP_TANH] = emit_unary, [OP_GELU] = emit_unary, [OP_SILU] = emit_unary,
	[OP_HARDSWISH] = emit_unary, [OP_HARDSIGMOID] = emit_unary, [OP_EXP] = emit_unary,
	[OP_LOG] = emit_unary, [OP_SQRT] = emit_unary, [OP_RSQRT] = emit_unary,
	[OP_NEG] = emit_unary, [OP_ABS] = emit_unary, [OP_ERF] = emit_unary,
	[OP_ADD] = emit_binary, [OP_SUB] = emit_binary, [OP_MUL] = emit_binary,
	[OP_DIV] = emit_binary, [OP_POW] = emit_binary, [OP_MAXIMUM] = emit_binary,
	[OP_MINIMUM] = emit_binary,
	[OP_MAXPOOL2D] = emit_pool, [OP_AVGPOOL2D] = emit_pool,
	[OP_ADAPTIVE_AVGPOOL2D] = emit_adaptive_pool, [OP_ADAPTIVE_MAXPOOL2D] = emit_adaptive_pool,
	[OP_SOFTMAX] = emit_softmax, [OP_LOG_SOFTMAX] = emit_softmax,
	[OP_REDUCE_MEAN] = emit_reduce, [OP_REDUCE_SUM] = emit_reduce,
	[OP_REDUCE_MAX] = emit_reduce, [OP_REDUCE_MIN] = emit_reduce,
	[OP_PERMUTE] = emit_permute, [OP_SLICE] = emit_slice, [OP_CONCAT] = emit_concat,
	[OP_EXPAND] = emit_expand, [OP_PAD] = emit_pad, [OP_CAST] = emit_cast,
	[OP_LSTM] = emit_rnn, [OP_GRU] = emit_rnn, [OP_WHERE] = emit_where,
	[OP_EMBEDDING] = emit_embedding,
};

int emit_c_has_op(enum op op) { return op < OP_COUNT && emit_c_op[op] != NULL; }

/* ---- names ---- */

static const char *const c_keywords[] = {
	"auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
	"enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
	"restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch",
	"typedef", "union", "unsigned", "void", "volatile", "while", "main", "in", "out", "ws",
	"workspace", "NULL", "errno", "stdin", "stdout", "stderr",
};

/* A C identifier from any string: other characters become '_'. */
static char *sanitize(struct arena *a, const char *s, const char *prefix)
{
	char *r = arena_printf(a, "%s%s", prefix, s && *s ? s : "t");
	for (char *p = r + strlen(prefix); *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			*p = '_';
	if (isdigit((unsigned char)r[0]))
		r = arena_printf(a, "v%s", r);
	for (size_t i = 0; i < sizeof c_keywords / sizeof *c_keywords; i++)
		if (strcmp(r, c_keywords[i]) == 0)
			return arena_printf(a, "%s_", r);
	return r;
}

static int name_taken(const char **names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcasecmp(names[i], s) == 0)
			return 1;
	return 0;
}

/* Adds a unique name to names[*n] (case-insensitively, as macros upper-case it). */
static const char *unique(struct arena *a, const char **names, int *n, const char *s)
{
	const char *u = s;
	for (int k = 2; name_taken(names, *n, u); k++)
		u = arena_printf(a, "%s_%d", s, k);
	names[(*n)++] = u;
	return u;
}

static const char *upper(struct arena *a, const char *s)
{
	char *r = arena_strdup(a, s);
	for (char *p = r; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return r;
}

/* C expressions of the values defined in b and its blocks: weights, workspace tensors
 * and views, scalar variables (s12), loop counters (i12). */
static void name_block(struct emitter *e, struct ir_block *b, struct arena *a, const char **wn,
                       int *nw)
{
	struct ir_module *m = e->m;
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		if (n->dead)
			continue;
		for (int j = 0; j < n->nout; j++) {
			uint32_t v = n->out[j];
			struct ir_value *x = ir_val(m, v);
			if (x->storage == ST_CONST) {
				const char *s = sanitize(a, n->a.konst.name ? n->a.konst.name
				                                            : arena_printf(a, "const_%u", v), "w_");
				s = unique(a, wn, nw, s);
				int blob = shape_numel(&x->shape) > TEXT_LIMIT ||
				           (x->dtype != DT_F32 && x->dtype != DT_I64);
				e->expr[v] = blob ? arena_printf(a, "%s.v", s) : s;
			} else if (x->storage == ST_WORKSPACE || x->storage == ST_ALIAS) {
				e->expr[v] = arena_printf(a, "t%u", v);
			} else if (n->op != OP_CONST && (x->kind == VK_INT || x->kind == VK_FLOAT ||
			                                 x->kind == VK_BOOL)) {
				e->expr[v] = arena_printf(a, "s%u", v);
				VEC_PUSH(a, &e->scalars, uint32_t, v);
			}
		}
		for (int k = 0; k < n->nblocks; k++) {
			struct ir_block *blk = n->blocks[k];
			if (n->op == OP_LOOP) {
				e->expr[blk->params[0]] = arena_printf(a, "i%u", blk->params[0]);
				for (int p = 1; p < blk->nparams; p++) {
					struct ir_value *pv = ir_val(m, blk->params[p]);
					e->expr[blk->params[p]] = pv->storage == ST_ALIAS
					                          ? arena_printf(a, "t%u", blk->params[p])
					                          : e->expr[n->out[p - 1]];
				}
			}
			name_block(e, blk, a, wn, nw);
		}
	}
}

/* Names of inputs, outputs and weights, and every value's C expression. */
static void name_values(struct emitter *e, struct ir_block *b, struct arena *a)
{
	struct ir_module *m = e->m;
	const char **io = arena_alloc(a, sizeof *io * (size_t)(b->nparams + b->nrets + 1));
	int nio = 0;
	e->in_names = arena_alloc(a, sizeof(char *) * (size_t)(b->nparams + 1));
	e->out_names = arena_alloc(a, sizeof(char *) * (size_t)(b->nrets + 1));
	for (int i = 0; i < b->nparams; i++) {
		const char *nm = m->inputs && i < m->ninputs ? m->inputs[i].name : NULL;
		nm = sanitize(a, nm ? nm : arena_printf(a, "input_%d", i), "");
		e->in_names[i] = unique(a, io, &nio, nm);
		e->expr[b->params[i]] = arena_printf(a, "in->%s", e->in_names[i]);
	}
	for (int i = 0; i < b->nrets; i++) {
		const char *nm = m->outputs && i < m->noutputs ? m->outputs[i].name : NULL;
		nm = sanitize(a, nm ? nm : arena_printf(a, "output_%d", i), "");
		e->out_names[i] = unique(a, io, &nio, nm);
		e->expr[b->rets[i]] = arena_printf(a, "out->%s", e->out_names[i]);
	}
	const char **wn = arena_alloc(a, sizeof *wn * (m->nodes.len + 1));
	int nw = 0;
	name_block(e, b, a, wn, &nw);
}

/* ---- the .h ---- */

static void type_str(FILE *f, struct ir_module *m, uint32_t v)
{
	ir_print_type(f, m, v);
}

static void put_shape_macro(struct emitter *e, FILE *f, const char *name, uint32_t v)
{
	const struct ir_shape *s = shape_of(e, v);
	const char *up = upper(&e->ctx->arena, name);
	fprintf(f, "#define KILN_%s_%s_SHAPE %s\n", e->up, up, ilist(e, s->dims, s->rank));
	fprintf(f, "#define KILN_%s_%s_RANK %d\n", e->up, up, s->rank);
	fprintf(f, "#define KILN_%s_%s_NUMEL %" PRId64 "\n", e->up, up, shape_numel(s));
}

static void put_field(struct emitter *e, FILE *f, const char *qual, const char *name, uint32_t v,
                      const char *path)
{
	fprintf(f, "\t%s%s *%s; /* ", qual, dtype_c_type(val(e, v)->dtype), name);
	type_str(f, e->m, v);
	if (path) {
		fputs(": ", f);
		put_comment_text(f, path);
	}
	fputs(" */\n", f);
}

static void put_banner(struct emitter *e, FILE *f)
{
	fprintf(f, "/* Generated by kiln %s: ", KILN_VERSION);
	put_comment_text(f, e->opt->command_line ? e->opt->command_line : "kiln");
	fputs(" -- do not edit */\n", f);
}

static void write_header(struct emitter *e, FILE *f, struct ir_block *b)
{
	struct ir_module *m = e->m;
	put_banner(e, f);
	fprintf(f, "#ifndef KILN_%s_H\n#define KILN_%s_H\n\n#include <stdint.h>\n\n", e->up, e->up);
	fprintf(f, "/* Bytes of workspace kiln_%s_run needs; the buffer must be 64-byte aligned. */\n",
	        e->lo);
	fprintf(f, "#define KILN_%s_WORKSPACE_SIZE %" PRId64 "\n", e->up, m->workspace_size);
	fprintf(f, "#define KILN_%s_NUM_INPUTS %d\n#define KILN_%s_NUM_OUTPUTS %d\n\n", e->up,
	        b->nparams, e->up, b->nrets);
	for (int i = 0; i < b->nparams; i++)
		put_shape_macro(e, f, e->in_names[i], b->params[i]);
	for (int i = 0; i < b->nrets; i++)
		put_shape_macro(e, f, e->out_names[i], b->rets[i]);
	fprintf(f, "\n/* The model's inputs, contiguous row-major, in the order of forward()'s"
	        " arguments. */\nstruct kiln_%s_inputs {\n", e->lo);
	for (int i = 0; i < b->nparams; i++)
		put_field(e, f, "const ", e->in_names[i], b->params[i],
		          m->inputs && i < m->ninputs ? m->inputs[i].path : NULL);
	if (!b->nparams)
		fputs("\tchar unused; /* the model has no inputs */\n", f);
	fprintf(f, "};\n\n/* Buffers for the outputs, filled by kiln_%s_run; the paths say where"
	        " each sits in\n * the model's (nested) return value. */\nstruct kiln_%s_outputs {\n",
	        e->lo, e->lo);
	for (int i = 0; i < b->nrets; i++)
		put_field(e, f, "", e->out_names[i], b->rets[i],
		          m->outputs && i < m->noutputs ? m->outputs[i].path : NULL);
	if (!b->nrets)
		fputs("\tchar unused; /* the model has no outputs */\n", f);
	fputs("};\n\n/* How the flat tensors rebuild forward()'s arguments and result (kiln"
	      " --emit=schema\n * prints it as JSON; constants were folded at compile time):\n"
	      " *   forward", f);
	ir_schema_expr(f, m, 0, "in->", e->in_names);
	fputs("\n *   returns ", f);
	ir_schema_expr(f, m, 1, "out->", e->out_names);
	fprintf(f, "\n */\n\n/* Runs the model. workspace: KILN_%s_WORKSPACE_SIZE bytes, 64-byte aligned,"
	        " not shared\n * with a concurrent call. Reentrant, no allocation. Returns 0, or the"
	        " number of the\n * exception the model raised (kiln_%s_error names it). */\n"
	        "int kiln_%s_run(const struct kiln_%s_inputs *in, struct kiln_%s_outputs *out,"
	        " void *workspace);\n\n/* The message of a status kiln_%s_run returned. */\n"
	        "const char *kiln_%s_error(int status);\n\n#endif\n", e->up, e->lo, e->lo, e->lo,
	        e->lo, e->lo, e->lo);
}

/* ---- weights ---- */

/* One f32 or i64 element as an exact C literal. */
static void put_elem(FILE *f, enum dtype dt, const void *data, int64_t i)
{
	if (dt == DT_I64) {
		int64_t x;
		memcpy(&x, (const char *)data + i * 8, 8);
		if (x == INT64_MIN)
			fputs("(-INT64_C(9223372036854775807) - 1)", f);
		else
			fprintf(f, "INT64_C(%" PRId64 ")", x);
		return;
	}
	float x;
	memcpy(&x, (const char *)data + i * 4, 4);
	if (isnan(x))
		fputs("NAN", f);
	else if (isinf(x))
		fputs(x < 0 ? "-INFINITY" : "INFINITY", f);
	else
		fprintf(f, "%af", (double)x);
}

static void put_literal_array(FILE *f, const char *name, enum dtype dt, const void *data,
                              int64_t n)
{
	fprintf(f, "static KILN_ALIGN64 const %s %s[%" PRId64 "] = {", dtype_c_type(dt), name,
	        n ? n : 1);
	if (n == 0)
		fputs("0", f);
	for (int64_t i = 0; i < n; i++) {
		fputs(i % 8 ? ", " : (i ? ",\n\t" : "\n\t"), f);
		put_elem(f, dt, data, i);
	}
	fputs(n ? "\n};\n" : "};\n", f);
}

/* The bytes as a string literal: printable characters as they are, others as octal. */
static void put_blob(FILE *f, const char *name, enum dtype dt, const unsigned char *data,
                     int64_t n)
{
	int64_t bytes = n * (int64_t)dtype_size(dt), col = 0;
	fprintf(f, "static KILN_ALIGN64 const union {\n\tunsigned char b[%" PRId64 "];\n"
	        "\t%s v[%" PRId64 "];\n} %s = {\n\t\"", bytes + 1, dtype_c_type(dt), n ? n : 1, name);
	for (int64_t i = 0; i < bytes; i++) {
		unsigned c = data[i];
		if (c >= 32 && c < 127 && c != '\\' && c != '"' && c != '?') {
			fputc((int)c, f);
			col++;
		} else {
			fprintf(f, "\\%03o", c);
			col += 4;
		}
		if (col >= 72 && i + 1 < bytes) {
			fputs("\"\n\t\"", f);
			col = 0;
		}
	}
	fputs("\"\n};\n", f);
}

/* The CONST nodes of b and its blocks, in program order. */
static void collect_consts(struct emitter *e, struct ir_block *b, struct vec *out)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(e->m, id);
		if (n->dead)
			continue;
		if (n->op == OP_CONST)
			VEC_PUSH(&e->ctx->arena, out, uint32_t, id);
		for (int k = 0; k < n->nblocks; k++)
			collect_consts(e, n->blocks[k], out);
	}
}

static void write_weights(struct emitter *e, FILE *f, struct ir_block *b)
{
	struct ir_module *m = e->m;
	int any = 0;
	struct vec consts = {0};
	collect_consts(e, b, &consts);
	for (size_t i = 0; i < consts.len; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&consts, uint32_t, i));
		if (!e->used[n->out[0]])
			continue;
		struct ir_value *x = ir_val(m, n->out[0]);
		int64_t cnt = shape_numel(&x->shape);
		const char *name = e->expr[n->out[0]];
		int blob = strchr(name, '.') != NULL;
		if (!any)
			fputs("/* ---- weights ---- */\n\n", f);
		any = 1;
		fputs("/* ", f);
		put_comment_text(f, n->a.konst.name ? n->a.konst.name : "constant");
		fprintf(f, " (%%%u): ", n->out[0]);
		type_str(f, m, n->out[0]);
		fputs(blob ? ", its bytes (little-endian) */\n" : " */\n", f);
		if (blob)
			put_blob(f, arena_strndup(&e->ctx->arena, name, strlen(name) - 2), x->dtype,
			         n->a.konst.data, cnt);
		else
			put_literal_array(f, name, x->dtype, n->a.konst.data, cnt);
		fputc('\n', f);
	}
	for (size_t i = 0; i < e->packed.len; i++) {
		uint32_t id = VEC_AT(&e->packed, uint32_t, i);
		struct ir_node *n = ir_node(m, id);
		struct k_conv2d p = conv_params(m, n);
		struct ir_node *w = conv_packed_weight(m, n, &p);
		int64_t cnt = k_conv2d_packed_size(&p);
		float *data = arena_alloc(&e->ctx->arena, (size_t)cnt * sizeof(float));
		const char *name = arena_printf(&e->ctx->arena, "kiln_wpack%u", id);
		k_conv2d_pack(&p, w->a.konst.data, data);
		if (!any)
			fputs("/* ---- weights ---- */\n\n", f);
		any = 1;
		fputs("/* ", f);
		put_comment_text(f, w->a.konst.name ? w->a.konst.name : "constant");
		if (p.packed == K_PACKED_WINO)
			fprintf(f, " (%%%u) transformed for the conv at node %u (Winograd F(2x2, 3x3)): "
			        "16 of [output channels / %d][input channels][%d] */\n", w->out[0], id, K_MR,
			        K_MR);
		else
			fprintf(f, " (%%%u) packed for the conv at node %u: per group, panels of %d output "
			        "channels, [K][%d] */\n", w->out[0], id, K_NR, K_NR);
		if (cnt > TEXT_LIMIT)
			put_blob(f, name, DT_F32, (const unsigned char *)data, cnt);
		else
			put_literal_array(f, name, DT_F32, data, cnt);
		fputc('\n', f);
	}
}

/* ---- the run function ---- */

static void put_node_comment(struct emitter *e, uint32_t id)
{
	struct ir_node *n = ir_node(e->m, id);
	const char *line = ir_node_str(e->m, id);
	fputs("\n\t/* ", e->f);
	put_comment_text(e->f, line);
	if (n->loc.node || (n->loc.file && !n->loc.line)) {
		fputs("\n\t * at ", e->f);
		put_comment_text(e->f, loc_str(&e->ctx->arena, n->loc));
	}
	if (n->scope && *n->scope && !strstr(line, n->scope)) {
		fputs("\n\t * in ", e->f);
		put_comment_text(e->f, n->scope);
	}
	fputs(" */\n", e->f);
}

/* Emits every node into e->f; unsupported ones are reported. */
static void emit_nodes(struct emitter *e, struct ir_block *b)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(e->m, id);
		if (n->dead || n->op == OP_CONST)
			continue;
		if (!emit_c_op[n->op]) {
			diag_error_soft(e->ctx, n->loc, "unsupported operator '%s' in the C backend",
			                op_name(n->op));
			continue;
		}
		put_node_comment(e, id);
		emit_c_op[n->op](e, id, n);
	}
}

/* Pointer declarations for the workspace tensors and views the body uses. */
static void put_decls(struct emitter *e, FILE *f)
{
	struct ir_module *m = e->m;
	for (uint32_t v = 0; v < m->values.len; v++) {
		struct ir_value *x = ir_val(m, v);
		if (!e->used[v] || (x->storage != ST_WORKSPACE && x->storage != ST_ALIAS))
			continue;
		const char *ct = dtype_c_type(x->dtype);
		uint32_t r = v;
		while (ir_val(m, r)->storage == ST_ALIAS)
			r = ir_val(m, r)->alias_of;
		struct ir_value *root = ir_val(m, r);
		if (x->storage == ST_WORKSPACE) {
			fprintf(f, "\t%s *t%u = (%s *)(void *)(ws + %" PRId64 "); /* %%%u: ", ct, v, ct,
			        x->offset, v);
		} else {
			int ro = root->storage == ST_INPUT || root->storage == ST_CONST;
			e->used[r] = 1;
			if (root->storage == ST_WORKSPACE)
				fprintf(f, "\t%s *t%u = (%s *)(void *)(ws + %" PRId64 "); /* %%%u: ", ct, v, ct,
				        root->offset, v);
			else
				fprintf(f, "\t%s%s *t%u = %s; /* %%%u: ", ro ? "const " : "", ct, v,
				        e->expr[r], v);
		}
		type_str(f, m, v);
		if (x->storage == ST_ALIAS)
			fprintf(f, ", a view of %%%u", x->alias_of);
		fputs(" */\n", f);
	}
	for (size_t i = 0; i < e->scalars.len; i++) {
		uint32_t v = VEC_AT(&e->scalars, uint32_t, i);
		fprintf(f, "\t%s s%u = 0; /* %%%u */\n\t(void)s%u;\n",
		        scalar_c_type(ir_val(m, v)->kind), v, v, v);
	}
}

static void write_run(struct emitter *e, FILE *f, const char *body)
{
	fprintf(f, "/* ---- the model ---- */\n\nint kiln_%s_run(const struct kiln_%s_inputs *in,"
	        " struct kiln_%s_outputs *out, void *workspace)\n{\n", e->lo, e->lo, e->lo);
	if (e->uses_ws)
		fputs("\tunsigned char *ws = (unsigned char *)workspace;\n", f);
	put_decls(e, f);
	if (!e->uses_ws)
		fputs("\t(void)workspace;\n", f);
	if (!e->uses_in)
		fputs("\t(void)in;\n", f);
	if (!e->uses_out)
		fputs("\t(void)out;\n", f);
	fputs(body, f);
	fputs("\treturn 0;\n}\n", f);
	fprintf(f, "\nconst char *kiln_%s_error(int status)\n{\n\tstatic const char *const "
	        "messages[] = {\n\t\t\"no error\",\n", e->lo);
	for (size_t i = 0; i < e->messages.len; i++) {
		const char *msg = VEC_AT(&e->messages, const char *, i);
		fputs("\t\t\"", f);
		for (const char *c = msg; *c; c++) {
			unsigned char ch = (unsigned char)*c;
			if (ch == '"' || ch == '\\')
				fprintf(f, "\\%c", ch);
			else if (ch < 32 || ch >= 127)
				fprintf(f, "\\%03o", ch);
			else
				fputc(ch, f);
		}
		fputs("\",\n", f);
	}
	fputs("\t};\n\tif (status < 0 || status >= (int)(sizeof messages / sizeof *messages))\n"
	      "\t\treturn \"unknown status\";\n\treturn messages[status];\n}\n", f);
}

/* ---- main() ---- */

static void put_io_table(struct emitter *e, FILE *f, const char *what, const char **names,
                         const uint32_t *vals, int n)
{
	for (int i = 0; i < n; i++) {
		const struct ir_shape *s = shape_of(e, vals[i]);
		fprintf(f, "static const k_idx kiln_%s_shape_%d[] = %s;\n", what, i,
		        ilist(e, s->dims, s->rank));
	}
	fprintf(f, "static const struct kiln_io kiln_%ss[%d] = {\n", what, n ? n : 1);
	for (int i = 0; i < n; i++) {
		const struct ir_shape *s = shape_of(e, vals[i]);
		fprintf(f, "\t{\"%s\", %s, %d, kiln_%s_shape_%d, %" PRId64 "},\n", names[i],
		        k_dtype_name(val(e, vals[i])->dtype), s->rank, what, i, shape_numel(s));
	}
	if (!n)
		fputs("\t{\"\", K_F32, 0, NULL, 0},\n", f);
	fputs("};\n\n", f);
}

static int io_dtypes_ok(struct emitter *e, struct ir_block *b)
{
	int ok = 1;
	for (int i = 0; i < b->nparams + b->nrets; i++) {
		uint32_t v = i < b->nparams ? b->params[i] : b->rets[i - b->nparams];
		if (!k_dtype_name(val(e, v)->dtype)) {
			diag_error_soft(e->ctx, val(e, v)->loc, "--main: %s tensors cannot be read or "
			                "written as .npy by the generated program",
			                dtype_name(val(e, v)->dtype));
			ok = 0;
		}
	}
	return ok;
}

static const char main_text[] =
	"static const char *kiln_prog = \"model\";\n\n"
	"static int kiln_usage(FILE *f, int status)\n{\n"
	"\tfprintf(f, \"usage: %s [-o OUTDIR] INPUT.npy ...   writes OUTDIR/output_0.npy, ...\\n\"\n"
	"\t           \"       %s --bench N INPUT.npy ...    runs N times, prints latency_ms median=X min=Y\\n\"\n"
	"\t           \"inputs (%d):\\n\", kiln_prog, kiln_prog, NIN);\n"
	"\tkiln_describe(f, kiln_inputs, NIN);\n"
	"\tfprintf(f, \"outputs (%d):\\n\", NOUT);\n"
	"\tkiln_describe(f, kiln_outputs, NOUT);\n"
	"\treturn status;\n}\n\n"
	"static int kiln_cmp_double(const void *a, const void *b)\n{\n"
	"\tdouble x = *(const double *)a, y = *(const double *)b;\n"
	"\treturn x < y ? -1 : x > y;\n}\n\n"
	"int main(int argc, char **argv)\n{\n"
	"\tconst char *outdir = \".\", *files[NIN + 1] = {NULL};\n"
	"\tvoid *inbuf[NIN + 1] = {NULL}, *outbuf[NOUT + 1] = {NULL};\n"
	"\tstruct INPUTS in;\n\tstruct OUTPUTS out;\n"
	"\tchar err[1024], path[4096];\n"
	"\tlong bench = 0;\n\tint nfiles = 0, i, rc, status = 1;\n\tvoid *ws = NULL;\n\n"
	"\tif (argc > 0 && argv[0][0]) {\n"
	"\t\tconst char *s = strrchr(argv[0], '/');\n"
	"\t\tkiln_prog = s ? s + 1 : argv[0];\n\t}\n"
	"\tfor (i = 1; i < argc; i++) {\n"
	"\t\tif (!strcmp(argv[i], \"-h\") || !strcmp(argv[i], \"--help\"))\n"
	"\t\t\treturn kiln_usage(stdout, 0);\n"
	"\t\tif (!strcmp(argv[i], \"-o\") && i + 1 < argc) {\n"
	"\t\t\toutdir = argv[++i];\n"
	"\t\t} else if (!strcmp(argv[i], \"--bench\") && i + 1 < argc) {\n"
	"\t\t\tchar *end;\n"
	"\t\t\tbench = strtol(argv[++i], &end, 10);\n"
	"\t\t\tif (*end || bench < 1) {\n"
	"\t\t\t\tfprintf(stderr, \"%s: --bench: '%s' is not a positive count\\n\", kiln_prog, argv[i]);\n"
	"\t\t\t\treturn 2;\n\t\t\t}\n"
	"\t\t} else if (argv[i][0] == '-' && argv[i][1]) {\n"
	"\t\t\tfprintf(stderr, \"%s: unknown option '%s'\\n\", kiln_prog, argv[i]);\n"
	"\t\t\treturn kiln_usage(stderr, 2);\n"
	"\t\t} else if (nfiles < NIN) {\n"
	"\t\t\tfiles[nfiles++] = argv[i];\n"
	"\t\t} else {\n"
	"\t\t\tnfiles++;\n\t\t}\n\t}\n"
	"\tif (nfiles != NIN) {\n"
	"\t\tfprintf(stderr, \"%s: %d input file%s given but the model takes %d\\n\", kiln_prog, nfiles,\n"
	"\t\t        nfiles == 1 ? \"\" : \"s\", NIN);\n"
	"\t\treturn kiln_usage(stderr, 1);\n\t}\n"
	"\tfor (i = 0; i < NIN; i++) {\n"
	"\t\tconst struct kiln_io *d = &kiln_inputs[i];\n"
	"\t\tinbuf[i] = malloc((size_t)d->numel * k_dtype_size(d->dtype) + 1);\n"
	"\t\tif (!inbuf[i]) {\n"
	"\t\t\tfprintf(stderr, \"%s: error: out of memory\\n\", kiln_prog);\n\t\t\tgoto done;\n\t\t}\n"
	"\t\tif (k_npy_read(files[i], d->dtype, d->rank, d->shape, inbuf[i], err, sizeof err)) {\n"
	"\t\t\tfprintf(stderr, \"%s: %s\\n\", kiln_prog, err);\n\t\t\tgoto done;\n\t\t}\n\t}\n"
	"\tfor (i = 0; i < NOUT; i++) {\n"
	"\t\tconst struct kiln_io *d = &kiln_outputs[i];\n"
	"\t\toutbuf[i] = malloc((size_t)d->numel * k_dtype_size(d->dtype) + 1);\n"
	"\t\tif (!outbuf[i]) {\n"
	"\t\t\tfprintf(stderr, \"%s: error: out of memory\\n\", kiln_prog);\n\t\t\tgoto done;\n\t\t}\n\t}\n"
	"#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L\n"
	"\tws = aligned_alloc(64, WS_SIZE / 64 * 64 + 64);\n"
	"#else\n"
	"\tif (posix_memalign(&ws, 64, WS_SIZE / 64 * 64 + 64))\n\t\tws = NULL;\n"
	"#endif\n"
	"\tif (!ws) {\n"
	"\t\tfprintf(stderr, \"%s: error: cannot allocate the %lld-byte workspace\\n\", kiln_prog,\n"
	"\t\t        (long long)WS_SIZE);\n\t\tgoto done;\n\t}\n"
	"\tkiln_bind(&in, &out, inbuf, outbuf);\n"
	"\trc = RUN(&in, &out, ws);\n"
	"\tif (bench > 0 && rc == 0) {\n"
	"\t\tdouble *t = malloc(sizeof *t * (size_t)bench);\n"
	"\t\tlong k;\n"
	"\t\tif (!t) {\n"
	"\t\t\tfprintf(stderr, \"%s: error: out of memory\\n\", kiln_prog);\n\t\t\tgoto done;\n\t\t}\n"
	"\t\tfor (k = 0; k < bench && rc == 0; k++) {\n"
	"\t\t\tdouble t0 = k_now();\n"
	"\t\t\trc = RUN(&in, &out, ws);\n"
	"\t\t\tt[k] = (k_now() - t0) * 1e3;\n\t\t}\n"
	"\t\tif (rc == 0) {\n"
	"\t\t\tqsort(t, (size_t)bench, sizeof *t, kiln_cmp_double);\n"
	"\t\t\tprintf(\"latency_ms median=%.3f min=%.3f\\n\", bench % 2 ? t[bench / 2] : (t[bench / 2 - 1] + t[bench / 2]) / 2, t[0]);\n"
	"\t\t}\n\t\tfree(t);\n\t}\n"
	"\tif (rc != 0) {\n"
	"\t\tfprintf(stderr, \"%s: error: %s\\n\", kiln_prog, ERRMSG(rc));\n"
	"\t\tgoto done;\n\t}\n"
	"\tfor (i = 0; i < NOUT && !bench; i++) {\n"
	"\t\tconst struct kiln_io *d = &kiln_outputs[i];\n"
	"\t\tsnprintf(path, sizeof path, \"%s/output_%d.npy\", outdir, i);\n"
	"\t\tif (k_npy_write(path, d->dtype, d->rank, d->shape, outbuf[i], err, sizeof err)) {\n"
	"\t\t\tfprintf(stderr, \"%s: error: %s\\n\", kiln_prog, err);\n\t\t\tgoto done;\n\t\t}\n\t}\n"
	"\tstatus = 0;\n"
	"done:\n"
	"\tfor (i = 0; i < NIN; i++)\n\t\tfree(inbuf[i]);\n"
	"\tfor (i = 0; i < NOUT; i++)\n\t\tfree(outbuf[i]);\n"
	"\tfree(ws);\n\treturn status;\n}\n";

static void write_main(struct emitter *e, FILE *f, struct ir_block *b)
{
	fprintf(f, "\n/* ---- main(): %s ---- */\n\n", "reads the inputs from .npy files, runs, writes"
	        " the outputs");
	fprintf(f, "#define NIN %d\n#define NOUT %d\n#define WS_SIZE KILN_%s_WORKSPACE_SIZE\n"
	        "#define RUN kiln_%s_run\n#define INPUTS kiln_%s_inputs\n#define OUTPUTS kiln_%s_outputs\n"
	        "#define ERRMSG kiln_%s_error\n\n",
	        b->nparams, b->nrets, e->up, e->lo, e->lo, e->lo, e->lo);
	fputs("/* An input or output of the model. */\nstruct kiln_io {\n\tconst char *name;\n"
	      "\tenum k_dtype dtype;\n\tint rank;\n\tconst k_idx *shape;\n\tk_idx numel;\n};\n\n", f);
	put_io_table(e, f, "input", e->in_names, b->params, b->nparams);
	put_io_table(e, f, "output", e->out_names, b->rets, b->nrets);
	fputs("static void kiln_describe(FILE *f, const struct kiln_io *io, int n)\n{\n"
	      "\tchar buf[256];\n\tint i;\n\n\tfor (i = 0; i < n; i++) {\n"
	      "\t\tk_npy_shape_str(buf, sizeof buf, io[i].rank, io[i].shape);\n"
	      "\t\tfprintf(f, \"  %s: %s %s\\n\", io[i].name, k_npy_descr(io[i].dtype), buf);\n"
	      "\t}\n}\n\n", f);
	fputs("/* Points the run function's arguments at the buffers. */\n"
	      "static void kiln_bind(struct INPUTS *in, struct OUTPUTS *out, void **inbuf, void **outbuf)\n"
	      "{\n", f);
	for (int i = 0; i < b->nparams; i++)
		fprintf(f, "\tin->%s = inbuf[%d];\n", e->in_names[i], i);
	for (int i = 0; i < b->nrets; i++)
		fprintf(f, "\tout->%s = outbuf[%d];\n", e->out_names[i], i);
	if (!b->nparams)
		fputs("\t(void)inbuf;\n\tin->unused = 0;\n", f);
	if (!b->nrets)
		fputs("\t(void)outbuf;\n\tout->unused = 0;\n", f);
	fputs("}\n\n", f);
	fputs(main_text, f);
}

/* ---- the .c ---- */

/* Marks the files needed files depend on ("needs:" lists), transitively. */
static void close_needs(struct emitter *e)
{
	for (int changed = 1; changed;) {
		changed = 0;
		for (int i = 0; i < kiln_runtime_nfiles; i++) {
			if (!e->need[i])
				continue;
			const char *s = kiln_runtime_files[i].needs;
			while (*s) {
				size_t len = strcspn(s, " ");
				for (int j = 0; j < kiln_runtime_nfiles; j++)
					if (!e->need[j] && strlen(kiln_runtime_files[j].name) == len &&
					    strncmp(kiln_runtime_files[j].name, s, len) == 0)
						e->need[j] = changed = 1;
				s += len;
				s += strspn(s, " ");
			}
		}
	}
}

/* The runtime files in dependency order (a file after everything it needs). */
static void write_runtime(struct emitter *e, FILE *f)
{
	unsigned char *done = arena_alloc(&e->ctx->scratch, (size_t)kiln_runtime_nfiles + 1);
	fputs("/* ---- runtime kernels, copied from kiln's runtime/ ---- */\n\n", f);
	for (int pass = 0, left = 1; left && pass <= kiln_runtime_nfiles; pass++) {
		left = 0;
		for (int i = 0; i < kiln_runtime_nfiles; i++) {
			if (!e->need[i] || done[i])
				continue;
			int ready = 1;
			const char *s = kiln_runtime_files[i].needs;
			while (*s) {
				size_t len = strcspn(s, " ");
				for (int j = 0; j < kiln_runtime_nfiles; j++)
					if (!done[j] && strlen(kiln_runtime_files[j].name) == len &&
					    strncmp(kiln_runtime_files[j].name, s, len) == 0)
						ready = 0;
				s += len;
				s += strspn(s, " ");
			}
			if (!ready) {
				left = 1;
				continue;
			}
			fputs(kiln_runtime_files[i].text, f);
			fputc('\n', f);
			done[i] = 1;
		}
	}
}

static void write_c(struct emitter *e, FILE *f, struct ir_block *b, const char *body)
{
	const char *h = strrchr(e->opt->out_h_path, '/');
	put_banner(e, f);
	fputs("#ifndef _POSIX_C_SOURCE\n#define _POSIX_C_SOURCE 200809L\n#endif\n", f);
	fputs("#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__\n"
	      "#error \"kiln's generated weights and .npy I/O assume a little-endian target\"\n"
	      "#endif\n", f);
	fprintf(f, "#include \"%s\"\n\n", h ? h + 1 : e->opt->out_h_path);
	fputs("#if defined(__GNUC__)\n#pragma GCC diagnostic ignored \"-Woverlength-strings\"\n"
	      "#endif\n", f);
	fputs("#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L\n#define KILN_ALIGN64 _Alignas(64)\n"
	      "#elif defined(__GNUC__)\n#define KILN_ALIGN64 __attribute__((aligned(64)))\n#else\n"
	      "#define KILN_ALIGN64\n#endif\n\n", f);
	write_runtime(e, f);
	write_weights(e, f, b);
	write_run(e, f, body);
	if (e->opt->with_main)
		write_main(e, f, b);
}

static FILE *open_out(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fatal("cannot write %s:", path);
	return f;
}

static void close_out(FILE *f, const char *path)
{
	if (ferror(f) | fclose(f))
		fatal("error writing %s:", path);
}

/* The parts of emit_c that hold malloc'd stdio state (a memstream, the output files) run
 * under kiln_protect, so an error or an out-of-memory unwinding closes and frees it before
 * being re-raised (STYLE K7), as pt_open does for libzip. */
struct emit_io {
	struct emitter *e;
	struct ir_block *b;
	FILE *f;           /* the open stream, or NULL */
	char *body;        /* the memstream's buffer, or NULL */
	size_t len;        /* its length */
	const char *text;  /* arena copy of body: the run function's statements */
};

/* The run function's body, through a memstream, copied into the arena. */
static void emit_body(struct kiln_ctx *ctx, void *arg)
{
	struct emit_io *io = arg;
	io->f = io->e->f = open_memstream(&io->body, &io->len);
	if (!io->f)
		fatal("open_memstream:");
	emit_nodes(io->e, io->b);
	fclose(io->f);
	io->f = NULL;
	io->text = arena_strdup(&ctx->arena, io->body);
}

/* PATH.h, then PATH.c. */
static void emit_files(struct kiln_ctx *ctx, void *arg)
{
	struct emit_io *io = arg;
	const struct emit_c_options *opt = io->e->opt;
	io->f = open_out(opt->out_h_path);
	write_header(io->e, io->f, io->b);
	close_out(io->f, opt->out_h_path);
	io->f = open_out(opt->out_c_path);
	write_c(io->e, io->f, io->b, io->text);
	close_out(io->f, opt->out_c_path);
	io->f = NULL;
}

/* Run fn under kiln_protect; release what it holds; re-raise its diagnostics. */
static void with_io(struct kiln_ctx *ctx, void (*fn)(struct kiln_ctx *, void *), struct emit_io *io)
{
	int rc = kiln_protect(ctx, fn, io);
	if (io->f)
		fclose(io->f);
	io->f = NULL;
	free(io->body);
	io->body = NULL;
	if (rc) {
		diag_check(ctx);
		unreachable();
	}
}

int emit_c(struct kiln_ctx *ctx, struct ir_module *m, const struct emit_c_options *opt)
{
	struct ir_block *b = ir_main(m)->body;
	struct arena *a = &ctx->arena;
	struct emitter e = {.ctx = ctx, .m = m, .opt = opt};
	e.lo = sanitize(a, opt->model_name, "");
	e.up = upper(a, e.lo);
	e.expr = arena_alloc(a, sizeof *e.expr * (m->values.len + 1));
	e.used = arena_alloc(a, m->values.len + 1);
	e.need = arena_alloc(a, (size_t)kiln_runtime_nfiles + 1);
	name_values(&e, b, a);
	need(&e, "k_base");
	if (opt->with_main) {
		need(&e, "k_npy");
		io_dtypes_ok(&e, b);
	}

	struct emit_io io = {.e = &e, .b = b};
	with_io(ctx, emit_body, &io);
	close_needs(&e);
	with_io(ctx, emit_files, &io);
	arena_reset(&ctx->scratch);
	return 0;
}
