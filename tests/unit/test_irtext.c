/* test_irtext.c: the IR text format (ir/print.c <-> frontend/irtext.c, STYLE K9).
 * print -> parse -> print is a fixed point for every golden file and for a module
 * built by hand with one node of every op in ops.def and every constant and type
 * syntax; the reader's diagnostics are exact; and no prefix or byte-flipped variant
 * of a golden file crashes the reader (a module it accepts also passes ir_verify).
 * IRTEXT_DUMP=1 prints the every-op module; IRTEXT_FLIPS=N sets the fuzz rounds per
 * file (default 1000). A new golden case goes in goldens[] as well as golden.cmake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "frontend/frontend.h"

#ifndef KILN_SOURCE_DIR
#define KILN_SOURCE_DIR "."
#endif

/* Golden files, relative to tests/: inputs and expected outputs alike. */
static const char *const goldens[] = {
	"ir/fold/arith.kir", "ir/fold/arith.out",
	"ir/canonicalize/conv_bn_relu.kir", "ir/canonicalize/conv_bn_relu.out",
	"ir/canonicalize/view_size.kir", "ir/canonicalize/view_size.out",
	"ir/shapes/convnet.kir", "ir/shapes/convnet.out",
	"ir/dce/unused.kir", "ir/dce/unused.out",
	"ir/fuse/conv_bn.kir", "ir/fuse/conv_bn.out",
	"ir/fuse/residual_relu.kir", "ir/fuse/residual_relu.out",
	"ir/fuse/linear_clip.kir", "ir/fuse/linear_clip.out",
	"ir/flatten/nested.kir", "ir/flatten/nested.out",
	"ir/inline/method.kir", "ir/inline/method.out",
};

/* ---- helpers ---- */

struct job {
	const char *path;
	const char *text;
	size_t len;
	struct ir_module *m;
};

static void run_parse(struct kiln_ctx *ctx, void *arg)
{
	struct job *j = arg;
	j->m = ir_parse(ctx, j->path, j->text, j->len);
}

static struct kiln_ctx *new_ctx(void)
{
	struct kiln_ctx *ctx = malloc(sizeof *ctx);
	kiln_ctx_init(ctx);
	ctx->diag_out = NULL;
	return ctx;
}

static void free_ctx(struct kiln_ctx *ctx)
{
	kiln_ctx_free(ctx);
	free(ctx);
}

/* The module printed, malloc'd. */
static char *print_str(struct ir_module *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ir_print(f, m);
	fclose(f);
	return buf;
}

/* Parse text in a fresh context; returns its printed form (malloc'd) or NULL on a
 * diagnostic, whose text goes to *err (malloc'd) when err is given. */
static char *reprint(const char *path, const char *text, size_t len, char **err)
{
	struct kiln_ctx *ctx = new_ctx();
	struct job j = {path, text, len, NULL};
	char *out = NULL;
	if (kiln_protect(ctx, run_parse, &j) == 0) {
		ir_verify(j.m, "irtext");
		out = print_str(j.m);
	} else if (err) {
		*err = strdup(ctx->nerrors ? ctx->errors[0] : "?");
	}
	free_ctx(ctx);
	return out;
}

static char *slurp(const char *rel, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/%s", KILN_SOURCE_DIR, rel);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = 0;
	fclose(f);
	return buf;
}

/* print(parse(print(parse(text)))) == print(parse(text)) */
static void check_fixed_point(const char *path, const char *text, size_t len)
{
	char *err = NULL;
	char *t1 = reprint(path, text, len, &err);
	if (!t1)
		fail_msg("%s does not read: %s", path, err);
	char *t2 = reprint(path, t1, strlen(t1), &err);
	if (!t2)
		fail_msg("%s printed does not read back: %s\n%s", path, err, t1);
	if (strcmp(t1, t2) != 0)
		fail_msg("%s: not a fixed point\n--- first\n%s--- second\n%s", path, t1, t2);
	free(t1);
	free(t2);
}

/* ---- golden files ---- */

static void test_golden_fixed_point(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof goldens / sizeof *goldens; i++) {
		size_t len;
		char *text = slurp(goldens[i], &len);
		check_fixed_point(goldens[i], text, len);
		free(text);
	}
}

/* ---- a module with every op ---- */

static struct ir_shape shp(int rank, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
	struct ir_shape s = {.rank = rank, .dims = {d0, d1, d2, d3}};
	return s;
}

static uint32_t tensor_out(struct ir_module *m, uint32_t node, int k, const struct ir_shape *s)
{
	struct ir_value *v = ir_val(m, ir_node(m, node)->out[k]);
	v->kind = VK_TENSOR;
	v->dtype = DT_F32;
	v->shape = *s;
	return ir_node(m, node)->out[k];
}

static const struct ir_type *mk_type(struct ir_module *m, enum vkind k, int n, ...)
{
	struct ir_type *t = arena_alloc(&m->ctx->arena, sizeof *t);
	t->kind = k;
	t->nelem = n;
	t->elem = arena_alloc(&m->ctx->arena, sizeof *t->elem * (size_t)(n + 1));
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		t->elem[i] = va_arg(ap, const struct ir_type *);
	va_end(ap);
	return t;
}

/* Small tensor constants of every dtype, and one too large to print its data. */
static void add_tensor_consts(struct ir_module *m, struct ir_block *b)
{
	static const float f[4] = {0.75f, -1.0f, 0.0f, 1e-40f};
	static const double d[3] = {0.1, -0.0, 1e300};
	static const uint16_t h[2] = {0x3c00, 0xfbff};
	static const int64_t i64[2] = {INT64_MIN, INT64_MAX};
	static const int32_t i32[2] = {INT32_MIN, 7};
	static const int16_t i16[2] = {-32768, 32767};
	static const int8_t i8[2] = {-128, 127};
	static const uint8_t u8[2] = {0, 255}, bl[2] = {0, 1};
	struct ir_shape s4 = shp(1, 4, 0, 0, 0), s3 = shp(2, 3, 1, 0, 0), s2 = shp(1, 2, 0, 0, 0);
	struct ir_shape s0 = {.rank = 0};
	ir_const_tensor(m, b, DT_F32, &s4, f, "conv.bias");
	ir_const_tensor(m, b, DT_F64, &s3, d, "weird name \"q\"");
	ir_const_tensor(m, b, DT_F16, &s2, h, "h");
	ir_const_tensor(m, b, DT_BF16, &s2, h, NULL);
	ir_const_tensor(m, b, DT_I64, &s2, i64, "i64");
	ir_const_tensor(m, b, DT_I32, &s2, i32, "i32");
	ir_const_tensor(m, b, DT_I16, &s2, i16, "i16");
	ir_const_tensor(m, b, DT_I8, &s2, i8, "i8");
	ir_const_tensor(m, b, DT_U8, &s2, u8, "u8");
	ir_const_tensor(m, b, DT_BOOL, &s2, bl, "b");
	ir_const_tensor(m, b, DT_F32, &s0, f, "scalar");
	struct ir_shape big = shp(2, 10, 10, 0, 0);
	float *zeros = arena_alloc(&m->ctx->arena, 400);
	ir_const_tensor(m, b, DT_F32, &big, zeros, "big.weight");
}

/* Every other constant kind and some odd floats. */
static void add_scalar_consts(struct ir_module *m, struct ir_block *b)
{
	static const int64_t ints[3] = {1, -2, 3};
	static const double floats[3] = {0.5, INFINITY, -1e-5};
	ir_const_none(m, b);
	ir_const_int(m, b, INT64_MIN);
	ir_const_bool(m, b, 1);
	ir_const_bool(m, b, 0);
	ir_const_float(m, b, 1.0);
	ir_const_float(m, b, 0.1);
	ir_const_float(m, b, -INFINITY);
	ir_const_float(m, b, NAN);
	ir_const_float(m, b, -0.0);
	ir_const_float(m, b, 4.9e-324);
	ir_const_str(m, b, "tab\there \"quoted\" back\\slash \x7f");
	ir_const_ints(m, b, ints, 3);
	ir_const_ints(m, b, NULL, 0);
	uint32_t v = ir_const_str(m, b, "cpu");
	ir_val(m, v)->kind = VK_DEVICE;
	ir_node(m, ir_val(m, v)->def)->a.konst.kind = CK_DEVICE;
	uint32_t n = ir_add_node(m, b, OP_CONST, NULL, 0, 1);
	ir_node(m, n)->a.konst = (struct ir_const){.kind = CK_FLOATS, .n = 3, .floats = floats};
	ir_val(m, ir_node(m, n)->out[0])->kind = VK_LIST;
}

/* Plausible attributes for op's node n. */
static void set_attrs(struct ir_node *n)
{
	union ir_attrs *a = &n->a;
	switch (op_info[n->op].attr) {
	case A_conv:
		a->conv = (struct conv_attr){{2, 1}, {1, 0}, {1, 3}, 1, ACT_CLIP, -0.5f, 6.0f};
		break;
	case A_linear: a->linear = (struct linear_attr){ACT_SIGMOID, 0, 0}; break;
	case A_gemm: a->gemm = (struct gemm_attr){0.5f, 2.0f, 1, 0}; break;
	case A_norm: a->norm = (struct norm_attr){1e-5f, 1}; break;
	case A_clip: a->clip = (struct clip_attr){-INFINITY, 6.0f}; break;
	case A_gelu: a->gelu.tanh_approx = 1; break;
	case A_binary: a->binary.alpha = n->op == OP_SUB ? 0.25f : 1.0f; break;
	case A_pool:
		a->pool = (struct pool_attr){{3, 3}, {2, 2}, {1, 1}, {1, 1}, 1, 1, 5, {0, 0}};
		if (n->op == OP_ADAPTIVE_AVGPOOL2D || n->op == OP_ADAPTIVE_MAXPOOL2D)
			a->pool = (struct pool_attr){.out = {1, 7}};
		break;
	case A_axis: a->axis.axis = 1; break;
	case A_reduce: a->reduce = (struct reduce_attr){0xa, 1}; break;
	case A_perm: a->perm = (struct perm_attr){{0, 2, 3, 1, 4, 5, 6, 7}}; break;
	case A_slice: a->slice = (struct slice_attr){1, 2, 7, 3}; break;
	case A_pad: a->pad = (struct pad_attr){{0, 0, 1, 2}, {0, 0, 3, 4}, -1.5}; break;
	case A_aten: a->aten = (struct aten_attr){"conv2d", 1}; break;
	case A_name: a->name.name = "weight"; break;
	case A_rnn: a->rnn = (struct rnn_attr){2, 1, 1, 16, 1}; break;
	default: break;
	}
}

/* A node of every op that is not structural, on tensor x (and a residual y). */
static void add_compute_ops(struct ir_module *m, struct ir_block *b, uint32_t x)
{
	struct ir_shape s = shp(4, 1, 3, 8, 8);
	for (int op = 0; op < OP_COUNT; op++) {
		if (op_info[op].flags & F_STRUCT || op == OP_CONST)
			continue;
		uint32_t in[5] = {x, x, x, x, x};
		int nin = op_info[op].max_in <= 5 ? op_info[op].max_in : 3;
		if (op == OP_LAYERNORM)
			in[1] = IR_NONE;
		int nout = op_info[op].nout > 0 ? op_info[op].nout : 1;   /* lstm, gru: several */
		uint32_t n = ir_add_node(m, b, (enum op)op, in, nin, nout);
		set_attrs(ir_node(m, n));
		ir_node(m, n)->loc = (struct loc){"net.py", 10 + op, 5, NULL};
		for (int k = 0; k < nout; k++)
			tensor_out(m, n, k, &s);
	}
}

/* getattr/setattr/calls/containers/control flow/raise. */
static void add_struct_ops(struct ir_module *m, struct ir_block *b, uint32_t self, uint32_t x)
{
	uint32_t n = ir_add_node(m, b, OP_GETATTR, &self, 1, 1);
	ir_node(m, n)->a.name.name = "conv1";
	ir_node(m, n)->scope = "layer1.0";
	uint32_t sub = ir_node(m, n)->out[0];
	struct ir_type *ot = arena_alloc(&m->ctx->arena, sizeof *ot);
	*ot = (struct ir_type){.kind = VK_OBJECT, .qualname = "__torch__.Sub"};
	ir_val(m, sub)->kind = VK_OBJECT;
	ir_val(m, sub)->type = ot;
	uint32_t in2[2] = {sub, x};
	n = ir_add_node(m, b, OP_SETATTR, in2, 2, 0);
	ir_node(m, n)->a.name.name = "cache";
	n = ir_add_node(m, b, OP_OBJ_NEW, NULL, 0, 1);   /* a record of a user class */
	uint32_t rec[2] = {ir_node(m, n)->out[0], x};
	ir_val(m, rec[0])->kind = VK_OBJECT;
	ir_val(m, rec[0])->type = ot;
	n = ir_add_node(m, b, OP_OBJ_SET, rec, 2, 1);
	ir_node(m, n)->a.name.name = "sum";
	ir_val(m, ir_node(m, n)->out[0])->kind = VK_OBJECT;
	ir_val(m, ir_node(m, n)->out[0])->type = ot;
	n = ir_add_node(m, b, OP_CALL_METHOD, in2, 2, 1);
	ir_node(m, n)->a.call = (struct call_attr){"forward", "__torch__.Sub", 1};
	tensor_out(m, n, 0, &(struct ir_shape){.rank = -1});
	n = ir_add_node(m, b, OP_CALL_FUNC, in2, 2, 1);
	ir_node(m, n)->a.call = (struct call_attr){"helper", NULL, 1};
	ir_val(m, ir_node(m, n)->out[0])->kind = VK_ANY;
	uint32_t k1 = ir_const_int(m, b, 1);
	n = ir_add_node(m, b, OP_ATEN, in2, 2, 2);
	ir_node(m, n)->a.aten = (struct aten_attr){"prim.NumToTensor", 0};
	ir_val(m, ir_node(m, n)->out[0])->kind = VK_INT;
	ir_val(m, ir_node(m, n)->out[1])->kind = VK_UNKNOWN;
	uint32_t items[2] = {x, k1};
	n = ir_add_node(m, b, OP_TUPLE, items, 2, 1);
	uint32_t tup = ir_node(m, n)->out[0];
	ir_val(m, tup)->kind = VK_TUPLE;
	ir_val(m, tup)->type = mk_type(m, VK_TUPLE, 2, mk_type(m, VK_TENSOR, 0),
	                              mk_type(m, VK_OPTIONAL, 1, mk_type(m, VK_INT, 0)));
	n = ir_add_node(m, b, OP_LIST, items, 1, 1);
	uint32_t list = ir_node(m, n)->out[0];
	ir_val(m, list)->kind = VK_LIST;
	ir_val(m, list)->type = mk_type(m, VK_LIST, 0);
	n = ir_add_node(m, b, OP_UNPACK, &tup, 1, 2);
	ir_val(m, ir_node(m, n)->out[1])->kind = VK_INT;
	uint32_t gi[2] = {list, k1};
	n = ir_add_node(m, b, OP_GETITEM, gi, 2, 1);
	ir_val(m, ir_node(m, n)->out[0])->kind = VK_DICT;
	struct ir_type *dt = (struct ir_type *)mk_type(m, VK_DICT, 2, mk_type(m, VK_STR, 0),
	                                               mk_type(m, VK_TENSOR, 0));
	((struct ir_type *)dt->elem[1])->dtype = DT_F16;
	ir_val(m, ir_node(m, n)->out[0])->type = dt;
	uint32_t kv[3] = {ir_const_str(m, b, "key"), x, x};
	n = ir_add_node(m, b, OP_DICT, kv, 2, 1);
	ir_val(m, ir_node(m, n)->out[0])->kind = VK_DICT;
	ir_val(m, ir_node(m, n)->out[0])->type = dt;
	kv[2] = kv[1];
	kv[1] = kv[0];
	kv[0] = ir_node(m, n)->out[0];
	n = ir_add_node(m, b, OP_DICT_SET, kv, 3, 1);
	ir_val(m, ir_node(m, n)->out[0])->kind = VK_DICT;
	ir_val(m, ir_node(m, n)->out[0])->type = dt;
	uint32_t msg = ir_const_str(m, b, "boom");
	n = ir_add_node(m, b, OP_RAISE, &msg, 1, 0);
	ir_node(m, n)->loc = (struct loc){"odd \"file\".py", 0, 0, "node 'Raise_1' (Raise)"};
}

/* if with two blocks, loop with one (and a nested if inside its body). */
static uint32_t add_control_ops(struct ir_module *m, struct ir_block *b, uint32_t x)
{
	uint32_t c = ir_const_bool(m, b, 1);
	uint32_t n = ir_add_node(m, b, OP_IF, &c, 1, 1);
	uint32_t r = tensor_out(m, n, 0, &(struct ir_shape){.rank = 2, .dims = {-1, 4},
	                                                    .sym = {"batch", NULL}});
	struct ir_block **bl = arena_alloc(&m->ctx->arena, sizeof *bl * 2);
	for (int i = 0; i < 2; i++) {
		bl[i] = ir_new_block(m);
		uint32_t y = ir_add_node(m, bl[i], i ? OP_NEG : OP_RELU, &x, 1, 1);
		ir_set_rets(m, bl[i], &ir_node(m, y)->out[0], 1);
		tensor_out(m, y, 0, &ir_val(m, x)->shape);
	}
	ir_node(m, n)->blocks = bl;
	ir_node(m, n)->nblocks = 2;
	uint32_t trip = ir_const_int(m, b, 3);
	uint32_t in[3] = {trip, c, r};
	n = ir_add_node(m, b, OP_LOOP, in, 3, 1);
	uint32_t out = ir_node(m, n)->out[0];
	ir_val(m, out)->kind = VK_TENSOR;
	struct ir_block *body = ir_new_block(m);
	ir_add_param(m, body, VK_INT);
	uint32_t p = ir_add_param(m, body, VK_TENSOR);
	ir_val(m, p)->name = "acc";
	uint32_t y = ir_add_node(m, body, OP_ABS, &p, 1, 1);
	uint32_t rets[2] = {c, ir_node(m, y)->out[0]};
	ir_set_rets(m, body, rets, 2);
	ir_node(m, n)->blocks = arena_alloc(&m->ctx->arena, sizeof body);
	ir_node(m, n)->blocks[0] = body;
	ir_node(m, n)->nblocks = 1;
	return out;
}

static struct ir_module *every_op_module(struct kiln_ctx *ctx)
{
	struct ir_module *m = ir_module_new(ctx, "every_op");
	struct ir_func *f = ir_new_func(m, "Net.forward");
	struct ir_block *b = f->body;
	uint32_t self = ir_add_param(m, b, VK_OBJECT);
	uint32_t x = ir_add_param(m, b, VK_TENSOR);
	ir_val(m, x)->dtype = DT_F32;
	ir_val(m, x)->shape = shp(4, 1, 3, 8, 8);
	f->arg_names = arena_alloc(&ctx->arena, 2 * sizeof(char *));
	f->arg_names[0] = "self";
	f->arg_names[1] = "x";
	add_tensor_consts(m, b);
	add_scalar_consts(m, b);
	add_compute_ops(m, b, x);
	add_struct_ops(m, b, self, x);
	uint32_t r = add_control_ops(m, b, x);
	uint32_t rets[2] = {r, x};
	ir_set_rets(m, b, rets, 2);
	m->ninputs = 2;
	m->inputs = arena_alloc(&ctx->arena, 2 * sizeof *m->inputs);
	m->inputs[0] = (struct ir_io){"self", "input[0]", self};
	m->inputs[1] = (struct ir_io){"x", "input[1]", x};
	m->noutputs = 2;
	m->outputs = arena_alloc(&ctx->arena, 2 * sizeof *m->outputs);
	m->outputs[0] = (struct ir_io){"output_0", "output[0][1]", r};
	m->outputs[1] = (struct ir_io){"out x", "output[1]", x};
	struct ir_func *g = ir_new_func(m, "9lives");  /* names that must be quoted */
	uint32_t gs = ir_add_param(m, g->body, VK_OBJECT);
	uint32_t gx = ir_add_param(m, g->body, VK_TENSOR);
	struct ir_type *gt = arena_alloc(&ctx->arena, sizeof *gt);
	*gt = (struct ir_type){.kind = VK_OBJECT, .qualname = "3rd party.Sub"};
	ir_val(m, gs)->type = gt;
	ir_set_rets(m, g->body, &gx, 1);
	return m;
}

static void test_every_op(void **state)
{
	(void)state;
	struct kiln_ctx *ctx = new_ctx();
	struct ir_module *m = every_op_module(ctx);
	ir_verify(m, "hand-built");
	char *t0 = print_str(m);
	if (getenv("IRTEXT_DUMP"))
		fputs(t0, stdout);
	for (int op = 0; op < OP_COUNT; op++) {
		char pat[64];
		snprintf(pat, sizeof pat, " %s", op_info[op].name);
		if (!strstr(t0, pat))
			fail_msg("op %s missing from\n%s", op_info[op].name, t0);
	}
	char *err = NULL;
	char *t1 = reprint("every_op.kir", t0, strlen(t0), &err);
	if (!t1)
		fail_msg("does not read back: %s\n%s", err, t0);
	if (strcmp(t0, t1) != 0)
		fail_msg("not a fixed point\n--- built\n%s--- reread\n%s", t0, t1);
	free(t0);
	free(t1);
	free_ctx(ctx);
}

/* The module read back keeps io, names, main, data. */
static void test_every_op_fields(void **state)
{
	(void)state;
	struct kiln_ctx *ctx = new_ctx();
	char *t0 = print_str(every_op_module(ctx));
	struct job j = {"every_op.kir", t0, strlen(t0), NULL};
	assert_int_equal(kiln_protect(ctx, run_parse, &j), 0);
	struct ir_module *m = j.m;
	assert_int_equal(m->main, 0);
	assert_int_equal(m->ninputs, 2);
	assert_string_equal(m->inputs[1].name, "x");
	assert_string_equal(m->inputs[1].path, "input[1]");
	assert_int_equal(m->noutputs, 2);
	assert_string_equal(m->outputs[1].name, "out x");
	assert_string_equal(m->outputs[0].path, "output[0][1]");
	struct ir_block *b = ir_main(m)->body;
	const struct ir_const *c = NULL;
	for (size_t i = 0; i < b->nodes.len && !c; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		if (n->op == OP_CONST && n->a.konst.kind == CK_TENSOR)
			c = &n->a.konst;
	}
	assert_non_null(c);
	assert_string_equal(c->name, "conv.bias");
	const float *f = c->data;
	assert_true(f[0] == 0.75f && f[1] == -1.0f && f[2] == 0.0f && f[3] == 1e-40f);
	free(t0);
	free_ctx(ctx);
}

/* ---- diagnostics ---- */

static void expect_error(const char *text, const char *want)
{
	char *err = NULL;
	char *out = reprint("t.kir", text, strlen(text), &err);
	if (out)
		fail_msg("accepted:\n%s", text);
	if (strcmp(err, want) != 0)
		fail_msg("got  '%s'\nwant '%s'", err, want);
	free(err);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("func f() {\n  %1 = frobnicate(%0) : f32[1]\n  return ()\n}\n",
	             "t.kir:2:8: error: unknown op 'frobnicate'");
	expect_error("func f(%0: f32[2]) {\n  %1 = relu(%9) : f32[2]\n  return (%1)\n}\n",
	             "t.kir:2:13: error: undefined value '%9'");
	expect_error("func f(%0: f32[2]) {\n  %0 = relu(%0) : f32[2]\n  return (%0)\n}\n",
	             "t.kir:2:3: error: redefinition of '%0'");
	expect_error("func f(%0: f32[2]) {\n  %1 = relu(%0) : f33[2]\n  return (%1)\n}\n",
	             "t.kir:2:19: error: unknown type 'f33'");
	expect_error("func f(%0: f32[1,2,3,4,5,6,7,8,9]) {\n  return ()\n}\n",
	             "t.kir:1:32: error: bad type: tensors have at most 8 dimensions");
	expect_error("func f(%0: f32[2]) {\n  %1 = relu(%0) {alpha=2} : f32[2]\n  return (%1)\n}\n",
	             "t.kir:2:17: error: bad attribute: 'relu' has no attributes");
	expect_error("func f(%0: f32[2]) {\n  %1 = softmax(%0) {dim=2} : f32[2]\n  return (%1)\n}\n",
	             "t.kir:2:21: error: bad attribute: 'softmax' has no attribute 'dim'");
	expect_error("func f(%0: f32[2]) {\n  %1 = softmax(%0) {axis=9} : f32[2]\n  return (%1)\n}\n",
	             "t.kir:2:26: error: integer 9 out of range [0, 7]");
	expect_error("func f(%0: f32[2]) {\n  %1 = add(%0) : f32[2]\n  return (%1)\n}\n",
	             "t.kir:2:8: error: 'add' takes 2 operands, 1 given");
	expect_error("func f() {\n  %1 = const @w {1.0, 2.0} : f32[3]\n  return (%1)\n}\n",
	             "t.kir:2:14: error: tensor constant has 2 values for 3 elements");
	expect_error("func f() {\n  %1 = const @w {1.0} : i64[1]\n  return (%1)\n}\n",
	             "t.kir:2:18: error: expected an integer, found '1.0'");
	expect_error("func f() {\n  return ()\n}\ngarbage\n",
	             "t.kir:4:1: error: expected 'func', found 'garbage'");
	expect_error("func f() {\n  %1 = const \"abc : str\n  return (%1)\n}\n",
	             "t.kir:2:14: error: unterminated string");
	expect_error("func f() {\n  %1 = const true : bool\n  %2 = if(%1) : int\n"
	             "    block0() {\n      %3 = const 1 : int\n      return (%3)\n    }\n"
	             "  return (%3)\n}\n",
	             "t.kir:3:8: error: 'if' needs 2 blocks, found 1");
	expect_error("func f() {\n  %1 = const true : bool\n  %2 = if(%1) : int\n"
	             "    block0() {\n      %3 = const 1 : int\n      return (%3)\n    }\n"
	             "    block1() {\n      return (%3)\n    }\n  return (%2)\n}\n",
	             "t.kir:9:15: error: value '%3' is not in scope here");
	expect_error("func f() {\n  %1 = const true : bool\n  %2 = if(%1) : int\n"
	             "    block0() {\n      return (%2)\n    }\n"
	             "    block1() {\n      return (%1)\n    }\n  return (%2)\n}\n",
	             "t.kir:5:15: error: undefined value '%2'");
	expect_error("", "t.kir:1:1: error: no function in the file");
	expect_error("func f(%0: object) {\n  %1 = call_method(%0) {func=3} : int\n  return (%1)\n}\n",
	             "t.kir:2:33: error: call of function 3, but the file has 1");
}

/* ---- hostile input ---- */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Every prefix of text, and random byte flips: a diagnostic or a valid module, never
 * a crash. */
static void mangle(const char *text, size_t len, int rounds)
{
	static const char bytes[] = "%@{}[]()<>,:=#\"\\_ \n0123456789-+.xpe*?abc";
	for (size_t n = 0; n <= len; n++) {
		char *cut = malloc(n + 1);
		memcpy(cut, text, n);
		free(reprint("cut.kir", cut, n, NULL));
		free(cut);
	}
	char *buf = malloc(len + 1);
	for (int iter = 0; iter < rounds; iter++) {
		memcpy(buf, text, len);
		int flips = 1 + (int)(next_rand() % 3);
		for (int k = 0; k < flips && len; k++) {
			uint64_t r = next_rand();
			buf[r % len] = r & 0x100 ? (char)(r >> 16) : bytes[(r >> 16) % (sizeof bytes - 1)];
		}
		free(reprint("flip.kir", buf, len, NULL));
	}
	free(buf);
}

static void test_hostile(void **state)
{
	(void)state;
	int rounds = getenv("IRTEXT_FLIPS") ? atoi(getenv("IRTEXT_FLIPS")) : 1000;
	for (size_t g = 0; g < sizeof goldens / sizeof *goldens; g += 2) {
		size_t len;
		char *text = slurp(goldens[g], &len);
		mangle(text, len, rounds);
		free(text);
	}
	struct kiln_ctx *ctx = new_ctx();
	char *t = print_str(every_op_module(ctx));
	mangle(t, strlen(t), rounds);
	free(t);
	free_ctx(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_fixed_point),
		cmocka_unit_test(test_every_op),
		cmocka_unit_test(test_every_op_fields),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
