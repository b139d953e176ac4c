/* test_plan.c: the memory planner (passes/plan.c) on hand-built graphs.
 *
 * Each test builds a straight-line body, runs plan() and checks the invariants: inputs
 * ST_INPUT, outputs ST_OUTPUT with their own producers, constants ST_CONST, reshapes
 * ST_ALIAS of the root, no two simultaneously live workspace regions overlapping (scratch
 * included), offsets 64-byte aligned, and lower bound <= workspace <= sum of sizes.  A
 * concat input the plan writes in place (it sits at its slice of the concat's output) is
 * part of the output's region: the region lives from that input's node on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "passes/passes.h"

/* ---- building graphs ---- */

struct g {
	struct kiln_ctx ctx;
	struct ir_module *m;
	struct ir_block *b;
};

static struct ir_shape mkshape(int rank, const int64_t *d)
{
	struct ir_shape s = {.rank = rank};
	for (int i = 0; i < rank; i++)
		s.dims[i] = d[i];
	return s;
}
#define SH(...) mkshape((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static void g_init(struct g *g)
{
	kiln_ctx_init(&g->ctx);
	g->ctx.diag_out = NULL;
	g->m = ir_module_new(&g->ctx, "test.kir");
	g->b = ir_new_func(g->m, "forward")->body;
}

static uint32_t g_input(struct g *g, struct ir_shape s)
{
	uint32_t v = ir_add_param(g->m, g->b, VK_TENSOR);
	ir_val(g->m, v)->dtype = DT_F32;
	ir_val(g->m, v)->shape = s;
	return v;
}

static uint32_t g_const(struct g *g, struct ir_shape s, const char *name)
{
	float *d = arena_alloc(&g->ctx.arena, sizeof(float) * (size_t)(shape_numel(&s) + 1));
	return ir_const_tensor(g->m, g->b, DT_F32, &s, d, name);
}

/* A node with one f32 output of shape s. */
static uint32_t g_op(struct g *g, enum op op, const uint32_t *in, int nin, struct ir_shape s)
{
	uint32_t n = ir_add_node(g->m, g->b, op, in, nin, 1);
	uint32_t v = ir_node(g->m, n)->out[0];
	ir_val(g->m, v)->kind = VK_TENSOR;
	ir_val(g->m, v)->dtype = DT_F32;
	ir_val(g->m, v)->shape = s;
	if (op == OP_ADD || op == OP_SUB)
		ir_node(g->m, n)->a.binary.alpha = 1.0f;
	return v;
}

static uint32_t g_un(struct g *g, enum op op, uint32_t x)
{
	return g_op(g, op, &x, 1, ir_val(g->m, x)->shape);
}

static uint32_t g_bin(struct g *g, enum op op, uint32_t a, uint32_t b)
{
	uint32_t in[2] = {a, b};
	return g_op(g, op, in, 2, ir_val(g->m, a)->shape);
}

static void g_rets(struct g *g, const uint32_t *r, int n) { ir_set_rets(g->m, g->b, r, n); }

/* ---- checking a plan ---- */

/* Position of each live node, and each workspace region's live range (alias uses count). */
struct range { int64_t off, size; int first, last; uint32_t v; };

static int64_t bytes_of(struct ir_module *m, uint32_t v)
{
	struct ir_value *x = ir_val(m, v);
	return shape_numel(&x->shape) * (int64_t)dtype_size(x->dtype);
}

static uint32_t root_of(struct ir_module *m, uint32_t v)
{
	while (ir_val(m, v)->storage == ST_ALIAS)
		v = ir_val(m, v)->alias_of;
	return v;
}

/* If workspace value v sits at its slice of the output of a CONCAT of body b that it
 * feeds, that output; else IR_NONE. */
static uint32_t in_place_owner(struct ir_module *m, struct ir_block *b, uint32_t v)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		if (n->dead || n->op != OP_CONCAT || ir_val(m, n->out[0])->storage != ST_WORKSPACE)
			continue;
		struct ir_value *y = ir_val(m, n->out[0]);
		int64_t inner = dtype_size(y->dtype), at = 0;
		for (int d = n->a.axis.axis + 1; d < y->shape.rank; d++)
			inner *= y->shape.dims[d];
		for (int j = 0; j < n->nin; j++) {
			struct ir_value *x = ir_val(m, n->in[j]);
			if (n->in[j] == v && x->storage == ST_WORKSPACE && x->offset == y->offset + at)
				return n->out[0];
			at += x->shape.dims[n->a.axis.axis] * inner;
		}
	}
	return IR_NONE;
}

/* Checks every invariant; returns the number of workspace regions. */
static int check_plan(struct g *g, int64_t *sum_out, int64_t *lb_out)
{
	struct ir_module *m = g->m;
	struct ir_block *b = g->b;
	int nv = (int)m->values.len, npos = 0;
	int *pos = calloc(m->nodes.len + 1, sizeof(int));
	struct range *r = calloc((size_t)nv + 1, sizeof *r);
	int *idx = calloc((size_t)nv + 1, sizeof(int));
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		if (!ir_node(m, id)->dead)
			pos[id] = npos++;
	}
	for (int i = 0; i < b->nparams; i++)
		assert_int_equal(ir_val(m, b->params[i])->storage, ST_INPUT);
	for (int i = 0; i < b->nrets; i++) {
		struct ir_value *x = ir_val(m, b->rets[i]);
		assert_int_equal(x->storage, ST_OUTPUT);
		assert_int_equal(x->io_index, i);
		assert_int_not_equal(x->def, IR_NONE);
		assert_int_not_equal(ir_node(m, x->def)->op, OP_CONST);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(b->rets[j], b->rets[i]);
	}
	/* regions: every workspace value (incl. scratch) from its def to its last use */
	int nr = 0;
	uint32_t *owner = calloc((size_t)nv + 1, sizeof *owner);
	for (int v = 0; v < nv; v++) {
		struct ir_value *x = ir_val(m, (uint32_t)v);
		idx[v] = -1;
		owner[v] = IR_NONE;
		if (x->storage != ST_WORKSPACE || x->def == IR_NONE || ir_node(m, x->def)->dead)
			continue;
		if ((owner[v] = in_place_owner(m, b, (uint32_t)v)) != IR_NONE)
			continue;
		assert_int_equal(x->offset % 64, 0);
		idx[v] = nr;
		r[nr++] = (struct range){x->offset, bytes_of(m, (uint32_t)v), pos[x->def], pos[x->def],
		                         (uint32_t)v};
	}
	for (int v = 0; v < nv; v++) {   /* in-place inputs: their owner's region, from their node */
		uint32_t o = (uint32_t)v;
		while (owner[o] != IR_NONE)
			o = owner[o];
		if (o == (uint32_t)v)
			continue;
		assert_int_not_equal(idx[o], -1);
		idx[v] = idx[o];
		if (pos[ir_val(m, (uint32_t)v)->def] < r[idx[o]].first)
			r[idx[o]].first = pos[ir_val(m, (uint32_t)v)->def];
	}
	free(owner);
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(m, id);
		if (n->dead)
			continue;
		if (n->op == OP_CONST)
			assert_int_equal(ir_val(m, n->out[0])->storage, ST_CONST);
		for (int j = 0; j < n->nin; j++) {
			if (n->in[j] == IR_NONE)
				continue;
			int k = idx[root_of(m, n->in[j])];
			if (k >= 0 && r[k].last < pos[id])
				r[k].last = pos[id];
		}
	}
	int64_t sum = 0, lb = 0;
	for (int i = 0; i < nr; i++) {
		sum += (r[i].size + 63) / 64 * 64;
		assert_true(r[i].off + r[i].size <= m->workspace_size);
		for (int j = i + 1; j < nr; j++) {
			int live = r[i].first <= r[j].last && r[j].first <= r[i].last;
			int overlap = r[i].off < r[j].off + r[j].size && r[j].off < r[i].off + r[i].size;
			if (live && overlap && r[i].size && r[j].size)
				fail_msg("%%%u [%d,%d] @%lld+%lld overlaps %%%u [%d,%d] @%lld+%lld", r[i].v,
				         r[i].first, r[i].last, (long long)r[i].off, (long long)r[i].size, r[j].v,
				         r[j].first, r[j].last, (long long)r[j].off, (long long)r[j].size);
		}
	}
	for (int p = 0; p < npos; p++) {
		int64_t live = 0;
		for (int i = 0; i < nr; i++)
			if (r[i].first <= p && p <= r[i].last)
				live += (r[i].size + 63) / 64 * 64;
		lb = live > lb ? live : lb;
	}
	assert_true(m->workspace_size <= sum);
	assert_true(m->workspace_size >= lb);
	if (sum_out)
		*sum_out = sum;
	if (lb_out)
		*lb_out = lb;
	free(pos);
	free(r);
	free(idx);
	return nr;
}

/* ---- tests ---- */

/* A chain: relu, relu, relu, ... only two buffers are ever live at once. */
static void test_chain_reuses(void **state)
{
	(void)state;
	struct g g;
	g_init(&g);
	uint32_t x = g_input(&g, SH(1, 16, 8, 8)), v = x;
	for (int i = 0; i < 8; i++)
		v = g_un(&g, OP_RELU, v);
	g_rets(&g, &v, 1);
	plan(g.m);
	int64_t sum, lb;
	assert_int_equal(check_plan(&g, &sum, &lb), 7);
	assert_int_equal(g.m->workspace_size, 2 * 4096);
	assert_int_equal(lb, 2 * 4096);
	assert_int_equal(sum, 7 * 4096);
	kiln_ctx_free(&g.ctx);
}

/* Residual block: the skip tensor stays live across the branch. */
static void test_residual(void **state)
{
	(void)state;
	struct g g;
	g_init(&g);
	uint32_t x = g_input(&g, SH(1, 8, 4, 4));
	uint32_t a = g_un(&g, OP_RELU, x);
	uint32_t b1 = g_un(&g, OP_SIGMOID, a);
	uint32_t b2 = g_un(&g, OP_TANH, b1);
	uint32_t b3 = g_un(&g, OP_EXP, b2);
	uint32_t y = g_bin(&g, OP_ADD, a, b3);
	g_rets(&g, &y, 1);
	plan(g.m);
	check_plan(&g, NULL, NULL);
	/* a is live until the add, so it cannot share with b1..b3 */
	assert_int_equal(g.m->workspace_size, 3 * 512);
	kiln_ctx_free(&g.ctx);
}

/* Reshapes are views of the root; the root lives until the last use of any view. */
static void test_alias_chain(void **state)
{
	(void)state;
	struct g g;
	g_init(&g);
	uint32_t x = g_input(&g, SH(2, 3, 4));
	uint32_t a = g_un(&g, OP_RELU, x);
	uint32_t r1 = g_op(&g, OP_RESHAPE, &a, 1, SH(6, 4));
	uint32_t r2 = g_op(&g, OP_RESHAPE, &r1, 1, SH(24));
	uint32_t b = g_un(&g, OP_EXP, r2);          /* reads a through two views */
	uint32_t c = g_un(&g, OP_TANH, b);
	uint32_t r3 = g_op(&g, OP_IDENTITY, &r1, 1, SH(6, 4));
	uint32_t y = g_bin(&g, OP_ADD, r3, r3);     /* a still live here */
	uint32_t rets[2] = {y, c};
	g_rets(&g, rets, 2);
	plan(g.m);
	check_plan(&g, NULL, NULL);
	assert_int_equal(ir_val(g.m, r1)->storage, ST_ALIAS);
	assert_int_equal(ir_val(g.m, r1)->alias_of, a);
	assert_int_equal(ir_val(g.m, r2)->alias_of, a);   /* the root, not r1 */
	assert_int_equal(ir_val(g.m, r3)->alias_of, a);
	assert_int_equal(ir_val(g.m, a)->storage, ST_WORKSPACE);
	/* b lives while a does: different bytes */
	assert_int_not_equal(ir_val(g.m, a)->offset, ir_val(g.m, b)->offset);
	kiln_ctx_free(&g.ctx);
}

/* Outputs that are an input, a constant, a reshape, or returned twice get producers. */
static void test_outputs_get_producers(void **state)
{
	(void)state;
	struct g g;
	g_init(&g);
	uint32_t x = g_input(&g, SH(4));
	uint32_t w = g_const(&g, SH(4), "w");
	uint32_t s = g_bin(&g, OP_ADD, x, w);
	uint32_t r = g_op(&g, OP_RESHAPE, &s, 1, SH(2, 2));
	uint32_t rets[5] = {x, w, s, s, r};
	g_rets(&g, rets, 5);
	plan(g.m);
	check_plan(&g, NULL, NULL);
	struct ir_block *b = g.b;
	assert_int_not_equal(b->rets[0], x);
	assert_int_equal(ir_node(g.m, ir_val(g.m, b->rets[0])->def)->op, OP_IDENTITY);
	assert_int_not_equal(b->rets[1], w);
	assert_int_equal(b->rets[2], s);             /* first return keeps its producer */
	assert_int_not_equal(b->rets[3], s);
	assert_int_equal(b->rets[4], r);             /* a reshape output is copied by its node */
	assert_int_equal(ir_val(g.m, r)->storage, ST_OUTPUT);
	assert_int_equal(ir_val(g.m, x)->storage, ST_INPUT);
	assert_int_equal(ir_val(g.m, w)->storage, ST_CONST);
	assert_int_equal(g.m->workspace_size, 0);
	kiln_ctx_free(&g.ctx);
}

/* Kernel scratch (conv im2col, linear packing) is planned, live only at its node. */
static void test_scratch(void **state)
{
	(void)state;
	struct g g;
	g_init(&g);
	uint32_t x = g_input(&g, SH(1, 3, 16, 16));
	uint32_t in[3] = {x, g_const(&g, SH(8, 3, 3, 3), "conv.weight"), IR_NONE};
	uint32_t c = g_op(&g, OP_CONV2D, in, 3, SH(1, 8, 16, 16));
	struct conv_attr *a = &ir_node(g.m, ir_val(g.m, c)->def)->a.conv;
	*a = (struct conv_attr){.stride = {1, 1}, .pad = {1, 1}, .dil = {1, 1}, .groups = 1};
	uint32_t r = g_un(&g, OP_RELU, c);
	uint32_t f = g_op(&g, OP_RESHAPE, &r, 1, SH(16, 128));
	uint32_t lin[2] = {f, g_const(&g, SH(10, 128), "fc.weight")};
	uint32_t y = g_op(&g, OP_LINEAR, lin, 2, SH(16, 10));
	g_rets(&g, &y, 1);
	int64_t conv_s = emit_c_scratch_size(g.m, ir_val(g.m, c)->def);
	int64_t lin_s = emit_c_scratch_size(g.m, ir_val(g.m, y)->def);
	assert_true(conv_s > 0);
	assert_true(lin_s > 0);
	plan(g.m);
	int nr = check_plan(&g, NULL, NULL);
	assert_int_equal(nr, 4);   /* c, r, and two scratch regions */
	int found = 0;
	for (uint32_t v = 0; v < g.m->values.len; v++) {
		struct ir_value *x2 = ir_val(g.m, v);
		if (x2->storage == ST_WORKSPACE && x2->dtype == DT_U8) {
			found++;
			assert_true(x2->def == ir_val(g.m, c)->def || x2->def == ir_val(g.m, y)->def);
		}
	}
	assert_int_equal(found, 2);
	/* planning again gives the same result and no new live scratch */
	int64_t ws = g.m->workspace_size;
	plan(g.m);
	assert_int_equal(check_plan(&g, NULL, NULL), 4);
	assert_int_equal(g.m->workspace_size, ws);
	kiln_ctx_free(&g.ctx);
}

/* A wide random DAG: checks the invariants where greedy placement has real choices. */
static void test_random_dag(void **state)
{
	(void)state;
	for (int seed = 1; seed <= 20; seed++) {
		struct g g;
		g_init(&g);
		unsigned s = (unsigned)seed * 2654435761u;
		uint32_t vals[200];
		int nvals = 0;
		vals[nvals++] = g_input(&g, SH(1, 4, 8, 8));
		for (int i = 0; i < 120; i++) {
			s = s * 1103515245u + 12345u;
			uint32_t a = vals[(s >> 8) % (unsigned)nvals];
			s = s * 1103515245u + 12345u;
			uint32_t b = vals[nvals - 1 - (int)((s >> 8) % (unsigned)(nvals < 6 ? nvals : 6))];
			s = s * 1103515245u + 12345u;
			switch ((s >> 8) % 4) {
			case 0: vals[nvals++] = g_bin(&g, OP_ADD, a, b); break;
			case 1: vals[nvals++] = g_un(&g, OP_RELU, a); break;
			case 2: vals[nvals++] = g_op(&g, OP_RESHAPE, &a, 1, SH(256)); break;
			default: {   /* written in place (new tensors), or copied (a view) */
				uint32_t in[2] = {g_op(&g, OP_RELU, &a, 1, SH(1, 256)), a};
				if (s & 1)
					in[1] = g_op(&g, OP_RELU, &b, 1, SH(1, 256));
				else
					in[1] = g_op(&g, OP_RESHAPE, &in[1], 1, SH(1, 256));
				vals[nvals++] = g_op(&g, OP_CONCAT, in, 2, SH(2, 256));
				break;
			}
			}
		}
		uint32_t rets[2] = {vals[nvals - 1], vals[nvals / 2]};
		g_rets(&g, rets, 2);
		plan(g.m);
		check_plan(&g, NULL, NULL);
		kiln_ctx_free(&g.ctx);
	}
}

static int regions_overlap(struct ir_module *m, uint32_t a, uint32_t b)
{
	struct ir_value *x = ir_val(m, root_of(m, a)), *y = ir_val(m, root_of(m, b));
	int64_t xs = bytes_of(m, a), ys = bytes_of(m, b);
	return x->offset < y->offset + ys && y->offset < x->offset + xs;
}

/* A loop whose body reads a tensor made before it: that tensor stays live through every
 * iteration, so nothing the body computes may share its bytes; neither may the carried
 * buffer, which the body's parameter views. */
static void test_loop_liveness(void **state)
{
	(void)state;
	struct g g;
	g_init(&g);
	uint32_t x = g_input(&g, SH(256));
	uint32_t a = g_un(&g, OP_RELU, x);
	uint32_t c0 = g_un(&g, OP_TANH, x);
	uint32_t trip = ir_const_int(g.m, g.b, 3), cond = ir_const_bool(g.m, g.b, 1);
	uint32_t in[3] = {trip, cond, c0};
	uint32_t loop = ir_add_node(g.m, g.b, OP_LOOP, in, 3, 1);
	struct ir_block *body = ir_new_block(g.m);
	ir_add_param(g.m, body, VK_INT);
	uint32_t p = ir_add_param(g.m, body, VK_TENSOR);
	ir_val(g.m, p)->dtype = DT_F32;
	ir_val(g.m, p)->shape = SH(256);
	struct ir_block *outer = g.b;
	g.b = body;
	uint32_t t = g_un(&g, OP_SIGMOID, p);
	uint32_t u = g_bin(&g, OP_ADD, t, a);
	g.b = outer;
	uint32_t rets[2] = {cond, u};
	ir_set_rets(g.m, body, rets, 2);
	struct ir_node *ln = ir_node(g.m, loop);
	ln->blocks = arena_alloc(&g.ctx.arena, sizeof *ln->blocks);
	ln->blocks[0] = body;
	ln->nblocks = 1;
	uint32_t out = ln->out[0];
	ir_val(g.m, out)->kind = VK_TENSOR;
	ir_val(g.m, out)->dtype = DT_F32;
	ir_val(g.m, out)->shape = SH(256);
	uint32_t y = g_un(&g, OP_RELU, out);
	g_rets(&g, &y, 1);
	assert_null(ir_check(g.m, NULL));
	plan(g.m);
	assert_int_equal(ir_val(g.m, p)->storage, ST_ALIAS);
	assert_int_equal(root_of(g.m, p), out);
	assert_int_equal(ir_val(g.m, out)->storage, ST_WORKSPACE);
	assert_false(regions_overlap(g.m, a, t));
	assert_false(regions_overlap(g.m, a, u));
	assert_false(regions_overlap(g.m, a, out));
	assert_false(regions_overlap(g.m, out, t));
	assert_false(regions_overlap(g.m, out, u));
	kiln_ctx_free(&g.ctx);
}

/* A fire module: two branches concatenated. Both are written in place, so the concat
 * copies nothing; one branch is read again after it, so the output's region lives from
 * the first branch's node to that read. */
static void test_concat_in_place(void **state)
{
	(void)state;
	struct g g;
	g_init(&g);
	uint32_t x = g_input(&g, SH(1, 4, 5, 5));
	uint32_t s = g_un(&g, OP_RELU, x);
	uint32_t a = g_op(&g, OP_SIGMOID, &s, 1, SH(1, 3, 5, 5));
	uint32_t b = g_op(&g, OP_TANH, &s, 1, SH(1, 6, 5, 5));
	uint32_t in[3] = {a, b, x};
	uint32_t f = g_op(&g, OP_CONCAT, in, 3, SH(1, 13, 5, 5));
	ir_node(g.m, ir_val(g.m, f)->def)->a.axis.axis = 1;
	uint32_t t = g_un(&g, OP_EXP, f);
	uint32_t u = g_bin(&g, OP_ADD, a, a);        /* a read after the concat */
	uint32_t t2 = g_un(&g, OP_RELU, t), u2 = g_un(&g, OP_RELU, u);
	uint32_t rets[2] = {t2, u2};
	g_rets(&g, rets, 2);
	plan(g.m);
	check_plan(&g, NULL, NULL);
	int64_t fo = ir_val(g.m, f)->offset;
	assert_int_equal(ir_val(g.m, a)->offset, fo);
	assert_int_equal(ir_val(g.m, b)->offset, fo + 3 * 25 * 4);
	assert_false(regions_overlap(g.m, s, f));    /* s is read while a and b are written */
	assert_false(regions_overlap(g.m, t, f));    /* a is still live when t and u are written */
	assert_false(regions_overlap(g.m, u, f));
	kiln_ctx_free(&g.ctx);
}

/* Concats the plan must copy: two batch rows along dim 1 (an input is not one contiguous
 * slice), and one tensor twice (it can sit at one slice only). */
static void test_concat_copied(void **state)
{
	(void)state;
	struct g g;
	g_init(&g);
	uint32_t x = g_input(&g, SH(2, 4, 5, 5));
	uint32_t p = g_un(&g, OP_RELU, x), q = g_un(&g, OP_EXP, x);
	uint32_t in[2] = {p, q};
	uint32_t w = g_op(&g, OP_CONCAT, in, 2, SH(2, 8, 5, 5));
	ir_node(g.m, ir_val(g.m, w)->def)->a.axis.axis = 1;
	uint32_t in2[2] = {p, p};
	uint32_t v = g_op(&g, OP_CONCAT, in2, 2, SH(4, 4, 5, 5));
	uint32_t y = g_bin(&g, OP_ADD, g_un(&g, OP_RELU, w), g_un(&g, OP_RELU, v));
	g_rets(&g, &y, 1);
	plan(g.m);
	check_plan(&g, NULL, NULL);
	assert_false(regions_overlap(g.m, p, w));
	assert_false(regions_overlap(g.m, q, w));
	assert_false(regions_overlap(g.m, p, v));
	kiln_ctx_free(&g.ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_reuses),
		cmocka_unit_test(test_residual),
		cmocka_unit_test(test_alias_chain),
		cmocka_unit_test(test_outputs_get_producers),
		cmocka_unit_test(test_scratch),
		cmocka_unit_test(test_random_dag),
		cmocka_unit_test(test_loop_liveness),
		cmocka_unit_test(test_concat_in_place),
		cmocka_unit_test(test_concat_copied),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
