/* plan.c: the memory plan. Decides where every tensor of the entry point lives.
 *
 * Before: every tensor has a dtype and a static shape, constants are CK_TENSOR. Control
 * flow (IF, LOOP) is laid out in program order: a node, then the nodes of its blocks.
 * A value used inside a loop but defined before it stays live to the loop's end; the
 * results of an IF and the carried values of a LOOP get buffers of their own (the loop
 * body's parameters are views of them), written at the end of each branch / iteration.
 * After:
 *   - block parameters are ST_INPUT, returned values ST_OUTPUT (io_index = position); a
 *     returned value that is an input, a constant or returned twice gets an IDENTITY copy
 *     first, so every output buffer is written by its own node;
 *   - tensor constants are ST_CONST;
 *   - RESHAPE / IDENTITY results that are not outputs are ST_ALIAS of the root of their
 *     input's alias chain (no copy), and keep that root alive until their own last use;
 *   - everything else is ST_WORKSPACE at a 64-byte aligned offset; so is the scratch a
 *     kernel needs (emit_c_scratch_size): a u8 value in the node's scratch field, live
 *     only at that node;
 *   - a CONCAT whose inputs are contiguous slices of its output (every dim before the
 *     axis is 1) has its workspace inputs written in place: each such input, made in the
 *     same block and used by no other CONCAT, lives at its slice's offset inside the
 *     output's region, which then lives from the first input's node to the last use of
 *     any of them (emit_concat copies only the inputs not already in place);
 *   - m->workspace_size is the end of the highest region.
 * Two regions may share bytes only if their live ranges [def, last use] (node positions)
 * are disjoint, so a kernel never reads an input it is overwriting. Placement is greedy by
 * size: largest first, each into the smallest gap between already placed regions whose
 * ranges overlap its own, else above them. O(n log n + n*k) for n regions, k overlaps.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "passes/passes.h"

#define PLAN_ALIGN 64

/* One region of the workspace. */
struct region {
	uint32_t value;   /* a workspace tensor or a scratch value */
	int64_t size;     /* bytes, a multiple of PLAN_ALIGN */
	int first, last;  /* live node positions, inclusive */
	int64_t offset;   /* result */
};

/* A use of a value at a position beyond its node's inputs (block results, loop ends). */
struct extra_use {
	uint32_t value;
	int pos;
};

struct planner {
	struct ir_module *m;
	struct ir_block *b;
	int *first, *last;     /* per value: live range of workspace roots */
	struct region *reg;    /* regions, in creation order */
	int nreg;
	uint32_t *order;       /* node at each position, program order */
	int *loop_of;          /* per position: the innermost enclosing LOOP's position, or -1 */
	int *loop_end;         /* per LOOP position: the position of its body's last node */
	int npos;
	struct vec extra;      /* struct extra_use */
	struct ir_block **blk_of; /* per position: the block the node is in */
	uint32_t *owner;       /* per value: the CONCAT output it is written into, or IR_NONE */
	int64_t *within;       /* per value with an owner: its byte offset in the owner */
	uint32_t nv;           /* values before the plan (the size of owner and within) */
};

static int64_t round_up(int64_t n) { return (n + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN; }

static int is_tensor(struct ir_module *m, uint32_t v)
{
	return v != IR_NONE && ir_val(m, v)->kind == VK_TENSOR;
}

/* Bytes of a tensor value; diagnoses shapes the planner cannot size. */
static int64_t value_bytes(struct ir_module *m, uint32_t v)
{
	struct ir_value *val = ir_val(m, v);
	int64_t n = shape_numel(&val->shape);
	if (n < 0 || val->dtype == DT_UNKNOWN)
		diag_error(m->ctx, val->loc, "tensor %%%u has no static shape and dtype; "
		           "dynamic shapes are not supported by the planner yet", v);
	return n * (int64_t)dtype_size(val->dtype);
}

/* Whether returned value r needs a copy to have a producer of its own. */
static int needs_copy(struct ir_module *m, struct ir_block *b, int i)
{
	uint32_t r = b->rets[i];
	struct ir_value *v = ir_val(m, r);
	if (v->def == IR_NONE || ir_node(m, v->def)->op == OP_CONST)
		return 1;
	for (int j = 0; j < i; j++)
		if (b->rets[j] == r)
			return 1;
	return 0;
}

/* Give every output its own producing node (IDENTITY copies at the end of the body). */
static void own_outputs(struct ir_module *m, struct ir_block *b)
{
	for (int i = 0; i < b->nrets; i++) {
		uint32_t r = b->rets[i];
		if (!is_tensor(m, r) || !needs_copy(m, b, i))
			continue;
		uint32_t n = ir_add_node(m, b, OP_IDENTITY, &r, 1, 1);
		uint32_t y = ir_node(m, n)->out[0];
		struct ir_value *src = ir_val(m, r), *dst = ir_val(m, y);
		dst->kind = VK_TENSOR;
		dst->dtype = src->dtype;
		dst->shape = src->shape;
		dst->loc = src->loc;
		ir_node(m, n)->loc = src->loc;
		b->rets[i] = y;
		if (m->outputs && i < m->noutputs && m->outputs[i].value == r)
			m->outputs[i].value = y;
	}
}

/* The root of an alias chain. */
static uint32_t alias_root(struct ir_module *m, uint32_t v)
{
	while (ir_val(m, v)->storage == ST_ALIAS)
		v = ir_val(m, v)->alias_of;
	return v;
}

/* Scratch values of an earlier plan() are disowned, so a second run starts clean. */
static void drop_old_scratch(struct ir_module *m)
{
	for (uint32_t id = 0; id < m->nodes.len; id++) {
		struct ir_node *n = ir_node(m, id);
		if (n->scratch != IR_NONE)
			ir_val(m, n->scratch)->storage = ST_NONE;
		n->scratch = IR_NONE;
	}
}

static void classify_nodes(struct ir_module *m, struct ir_block *b);

/* Storage classes of every tensor of the body (not yet offsets). */
static void classify(struct ir_module *m, struct ir_block *b)
{
	for (int i = 0; i < b->nparams; i++) {
		struct ir_value *v = ir_val(m, b->params[i]);
		v->storage = ST_INPUT;
		v->io_index = i;
	}
	for (int i = 0; i < b->nrets; i++) {
		struct ir_value *v = ir_val(m, b->rets[i]);
		v->storage = ST_OUTPUT;
		v->io_index = i;
	}
	classify_nodes(m, b);
}

static void classify_nodes(struct ir_module *m, struct ir_block *b)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		if (n->dead)
			continue;
		for (int j = 0; j < n->nout; j++) {
			struct ir_value *v = ir_val(m, n->out[j]);
			if (v->kind != VK_TENSOR || v->storage == ST_OUTPUT)
				continue;
			if (n->op == OP_CONST) {
				v->storage = ST_CONST;
			} else if ((n->op == OP_RESHAPE || n->op == OP_IDENTITY) && is_tensor(m, n->in[0])) {
				v->storage = ST_ALIAS;
				v->alias_of = alias_root(m, n->in[0]);
			} else {
				v->storage = ST_WORKSPACE;
			}
		}
		for (int k = 0; k < n->nblocks; k++)
			classify_nodes(m, n->blocks[k]);
		if (n->op != OP_LOOP)
			continue;
		struct ir_block *body = n->blocks[0];   /* carried parameters view the outputs */
		for (int k = 1; k < body->nparams; k++) {
			struct ir_value *pv = ir_val(m, body->params[k]);
			if (pv->kind != VK_TENSOR)
				continue;
			pv->storage = ST_ALIAS;
			pv->alias_of = alias_root(m, n->out[k - 1]);
		}
	}
}

static void add_region(struct planner *p, uint32_t v, int64_t bytes, int first, int last)
{
	struct region *r = &p->reg[p->nreg++];
	r->value = v;
	r->size = round_up(bytes);
	r->first = first;
	r->last = last;
	r->offset = 0;
}

/* Lay out b's nodes and their blocks in program order. */
static void layout(struct planner *p, struct ir_block *b, int loop, struct arena *a)
{
	struct ir_module *m = p->m;
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(m, id);
		if (n->dead)
			continue;
		int pos = p->npos++;
		p->order[pos] = id;
		p->blk_of[pos] = b;
		p->loop_of[pos] = loop;
		for (int k = 0; k < n->nblocks; k++) {
			layout(p, n->blocks[k], n->op == OP_LOOP ? pos : loop, a);
			int end = p->npos - 1;
			struct ir_block *blk = n->blocks[k];
			for (int r = 0; r < blk->nrets; r++) {   /* results are read at the block's end */
				struct extra_use u = {blk->rets[r], end};
				VEC_PUSH(a, &p->extra, struct extra_use, u);
			}
			for (int o = 0; o < n->nout; o++) {      /* and written into the node's outputs */
				struct extra_use u = {n->out[o], end};
				VEC_PUSH(a, &p->extra, struct extra_use, u);
			}
		}
		if (n->op == OP_LOOP)
			p->loop_end[pos] = p->npos - 1;
	}
}

/* A use at position pos of a value first live at `first` reaches the end of every loop
 * that encloses pos but not the definition. */
static int use_reach(struct planner *p, int pos, int first)
{
	int reach = pos;
	for (int l = p->loop_of[pos]; l >= 0; l = p->loop_of[l])
		if (first < l && p->loop_end[l] > reach)
			reach = p->loop_end[l];
	return reach;
}

static void use(struct planner *p, uint32_t v, int pos)
{
	struct ir_module *m = p->m;
	if (!is_tensor(m, v))
		return;
	uint32_t r = alias_root(m, v);
	if (ir_val(m, r)->storage != ST_WORKSPACE)
		return;
	int reach = use_reach(p, pos, p->first[r]);
	if (p->last[r] < reach)
		p->last[r] = reach;
}

/* Live ranges: a workspace root lives from its node to the last use of it or its aliases. */
static void liveness(struct planner *p)
{
	struct ir_module *m = p->m;
	for (int pos = 0; pos < p->npos; pos++) {
		struct ir_node *n = ir_node(m, p->order[pos]);
		for (int j = 0; j < n->nout; j++) {
			p->first[n->out[j]] = pos;
			p->last[n->out[j]] = pos;
		}
	}
	for (int pos = 0; pos < p->npos; pos++) {
		struct ir_node *n = ir_node(m, p->order[pos]);
		for (int j = 0; j < n->nin; j++)
			use(p, n->in[j], pos);
	}
	for (size_t i = 0; i < p->extra.len; i++) {
		struct extra_use *u = &VEC_AT(&p->extra, struct extra_use, i);
		use(p, u->value, u->pos);
	}
}

/* Whether input i of CONCAT node n (at position pos) can be written in place into the
 * output: a workspace tensor of the output's dtype, made in the same block, no other
 * CONCAT's already, and not another input of n too. */
static int absorbable(struct planner *p, struct ir_node *n, int i, int pos)
{
	struct ir_module *m = p->m;
	uint32_t x = n->in[i];
	struct ir_value *xv = ir_val(m, x);
	if (!is_tensor(m, x) || xv->storage != ST_WORKSPACE || xv->def == IR_NONE ||
	    xv->dtype != ir_val(m, n->out[0])->dtype || p->owner[x] != IR_NONE ||
	    value_bytes(m, x) == 0 || p->blk_of[p->first[x]] != p->blk_of[pos])
		return 0;
	for (int j = 0; j < n->nin; j++)
		if (j != i && n->in[j] == x)
			return 0;
	return 1;
}

/* Whether CONCAT node n's inputs are tensors that stack up to its output along the axis. */
static int concat_shapes_ok(struct ir_module *m, struct ir_node *n)
{
	const struct ir_shape *y = &ir_val(m, n->out[0])->shape;
	int ax = n->a.axis.axis;
	int64_t sum = 0;
	for (int i = 0; i < n->nin; i++) {
		if (!is_tensor(m, n->in[i]))
			return 0;
		const struct ir_shape *x = &ir_val(m, n->in[i])->shape;
		if (x->rank != y->rank)
			return 0;
		for (int d = 0; d < y->rank; d++)
			if (d != ax && x->dims[d] != y->dims[d])
				return 0;
		sum += x->dims[ax];
	}
	return sum == y->dims[ax];
}

/* Writes CONCAT inputs in place (see the header), in program order, so a CONCAT written
 * into a later one carries its own inputs' live ranges along. */
static void absorb_concats(struct planner *p)
{
	struct ir_module *m = p->m;
	for (int pos = 0; pos < p->npos; pos++) {
		struct ir_node *n = ir_node(m, p->order[pos]);
		if (n->op != OP_CONCAT)
			continue;
		uint32_t y = n->out[0];
		struct ir_value *yv = ir_val(m, y);
		int ax = n->a.axis.axis;
		if (yv->storage != ST_WORKSPACE || ax < 0 || ax >= yv->shape.rank)
			continue;
		int64_t outer = 1, inner = dtype_size(yv->dtype), at = 0;
		for (int d = 0; d < ax; d++)
			outer *= yv->shape.dims[d];
		for (int d = ax + 1; d < yv->shape.rank; d++)
			inner *= yv->shape.dims[d];
		if (outer != 1 || !concat_shapes_ok(m, n))
			continue;
		for (int i = 0; i < n->nin; i++) {
			uint32_t x = n->in[i];
			int64_t off = at;
			at += ir_val(m, x)->shape.dims[ax] * inner;
			if (!absorbable(p, n, i, pos))
				continue;
			p->owner[x] = y;
			p->within[x] = off;
			if (p->first[x] < p->first[y])
				p->first[y] = p->first[x];
			if (p->last[x] > p->last[y])
				p->last[y] = p->last[x];
		}
	}
}

/* Final offsets of the values written into a CONCAT's output (its owner's, plus theirs). */
static void place_absorbed(struct planner *p)
{
	struct ir_module *m = p->m;
	for (uint32_t v = 0; v < p->nv; v++) {   /* not the scratch values made since */
		if (p->owner[v] == IR_NONE)
			continue;
		int64_t off = 0;
		uint32_t r = v;
		for (; p->owner[r] != IR_NONE; r = p->owner[r])
			off += p->within[r];
		ir_val(m, v)->offset = ir_val(m, r)->offset + off;
	}
}

/* One region per workspace tensor, and one per node that needs kernel scratch. */
static void collect_regions(struct planner *p)
{
	struct ir_module *m = p->m;
	uint32_t *order = p->order;
	int nnodes = p->npos;
	for (int pos = 0; pos < nnodes; pos++) {
		struct ir_node *n = ir_node(m, order[pos]);
		for (int j = 0; j < n->nout; j++) {
			uint32_t v = n->out[j];
			if (ir_val(m, v)->storage == ST_WORKSPACE && p->owner[v] == IR_NONE)
				add_region(p, v, value_bytes(m, v), p->first[v], p->last[v]);
		}
		int64_t s = n->op == OP_CONST ? 0 : emit_c_scratch_size(m, order[pos]);
		if (s <= 0)
			continue;
		struct ir_shape shape = {.rank = 1, .dims = {s}};
		uint32_t v = ir_new_tensor(m, DT_U8, &shape);
		struct ir_value *val = ir_val(m, v);
		val->def = order[pos];
		val->name = "scratch";
		val->storage = ST_WORKSPACE;
		val->loc = ir_node(m, order[pos])->loc;
		ir_node(m, order[pos])->scratch = v;
		add_region(p, v, s, pos, pos);
	}
}

/* Largest first; ties by first use, then value id, so the plan is deterministic. */
static int by_size(const void *a, const void *b)
{
	const struct region *x = *(struct region *const *)a, *y = *(struct region *const *)b;
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->value < y->value ? -1 : x->value > y->value;
}

static int by_offset(const void *a, const void *b)
{
	const struct region *x = *(struct region *const *)a, *y = *(struct region *const *)b;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return x->size < y->size ? -1 : x->size > y->size;
}

/* Place r into the smallest gap among the placed regions live at the same time. */
static void place(struct region *r, struct region **placed, int nplaced, struct region **tmp)
{
	int k = 0;
	for (int i = 0; i < nplaced; i++)
		if (placed[i]->first <= r->last && r->first <= placed[i]->last)
			tmp[k++] = placed[i];
	qsort(tmp, (size_t)k, sizeof *tmp, by_offset);
	int64_t best = -1, best_gap = INT64_MAX, at = 0;
	for (int i = 0; i < k; i++) {
		int64_t gap = tmp[i]->offset - at;
		if (gap >= r->size && gap < best_gap) {
			best = at;
			best_gap = gap;
		}
		if (tmp[i]->offset + tmp[i]->size > at)
			at = tmp[i]->offset + tmp[i]->size;
	}
	r->offset = best >= 0 ? best : at;
}

/* Greedy placement; returns the workspace size. */
static int64_t pack(struct planner *p, struct arena *a)
{
	struct region **sorted = arena_alloc(a, sizeof *sorted * (size_t)(p->nreg + 1));
	struct region **tmp = arena_alloc(a, sizeof *tmp * (size_t)(p->nreg + 1));
	int64_t size = 0;
	for (int i = 0; i < p->nreg; i++)
		sorted[i] = &p->reg[i];
	qsort(sorted, (size_t)p->nreg, sizeof *sorted, by_size);
	int nplaced = 0;
	for (int i = 0; i < p->nreg; i++) {
		struct region *r = sorted[i];
		if (r->size == 0)
			continue;
		place(r, sorted, nplaced, tmp);
		sorted[nplaced++] = r;  /* placed regions are a prefix of sorted */
		if (r->offset + r->size > size)
			size = r->offset + r->size;
	}
	return size;
}

/* The most bytes live at one node: no plan can do better. */
static int64_t lower_bound(struct planner *p, int nnodes, struct arena *a)
{
	int64_t *delta = arena_alloc(a, sizeof *delta * (size_t)(nnodes + 1));
	int64_t live = 0, peak = 0;
	for (int i = 0; i < p->nreg; i++) {
		delta[p->reg[i].first] += p->reg[i].size;
		delta[p->reg[i].last + 1] -= p->reg[i].size;
	}
	for (int i = 0; i < nnodes; i++) {
		live += delta[i];
		if (live > peak)
			peak = live;
	}
	return peak;
}

static void plan_body(struct ir_module *m, struct ir_block *b, struct arena *a)
{
	own_outputs(m, b);
	drop_old_scratch(m);
	classify(m, b);
	size_t nn = m->nodes.len + 1, nv = m->values.len;
	struct planner p = {.m = m, .b = b, .nv = (uint32_t)nv};
	p.order = arena_alloc(a, sizeof *p.order * nn);
	p.loop_of = arena_alloc(a, sizeof *p.loop_of * nn);
	p.loop_end = arena_alloc(a, sizeof *p.loop_end * nn);
	p.blk_of = arena_alloc(a, sizeof *p.blk_of * nn);
	layout(&p, b, -1, a);
	int nnodes = p.npos;
	p.first = arena_alloc(a, sizeof(int) * (nv + 1));
	p.last = arena_alloc(a, sizeof(int) * (nv + 1));
	p.owner = arena_alloc(a, sizeof *p.owner * (nv + 1));
	p.within = arena_alloc(a, sizeof *p.within * (nv + 1));
	for (size_t v = 0; v <= nv; v++)
		p.owner[v] = IR_NONE;
	p.reg = arena_alloc(a, sizeof *p.reg * (nv + (size_t)nnodes + 1));
	liveness(&p);
	absorb_concats(&p);
	collect_regions(&p);
	m->workspace_size = pack(&p, a);
	for (int i = 0; i < p.nreg; i++)
		ir_val(m, p.reg[i].value)->offset = p.reg[i].offset;
	place_absorbed(&p);
	if (m->ctx->verbose)
		fprintf(stderr, "kiln: workspace %" PRId64 " bytes (lower bound %" PRId64 ")\n",
		        m->workspace_size, lower_bound(&p, nnodes, a));
}

void plan(struct ir_module *m)
{
	plan_body(m, ir_main(m)->body, &m->ctx->scratch);
	arena_reset(&m->ctx->scratch);
}
