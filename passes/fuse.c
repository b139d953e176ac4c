/* fuse.c: folds eval-mode batch norms into the convolution before them, and fuses a
 * residual add and an activation into the epilogue of conv2d / linear.
 *   conv(x, w, b) -> batchnorm(g, beta, mean, var)  =>  conv(x, w', b')
 *     w' = w * g / sqrt(var + eps) per output channel, b' = (b - mean) * that + beta
 *   conv(...) -> add(., r) -> relu  =>  conv(..., residual=r, act=relu)
 * Only when the intermediate has no other use and the weights are constants.
 * New weights are computed in double and rounded once. Linear; inside the blocks of ifs and
 * loops as at the top level. */
#include <math.h>
#include <string.h>

#include "passes.h"

/* Use counts of the values that existed when fuse began (outputs count as uses).
 * Fusing only moves uses between such values, so the counts stay exact. */
static int single_use(const int *uses, uint32_t v) { return uses[v] == 1; }

/* The one live node of b that reads v, or NULL. */
static struct ir_node *user_of(struct ir_module *m, struct ir_block *b, size_t from, uint32_t v,
                               uint32_t *id)
{
	for (size_t i = from; i < b->nodes.len; i++) {
		*id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(m, *id);
		if (n->dead)
			continue;
		for (int k = 0; k < n->nin; k++)
			if (n->in[k] == v)
				return n;
	}
	return NULL;
}

static const float *f32_const(struct ir_module *m, uint32_t v)
{
	const struct ir_const *c = ir_const_of(m, v);
	return c && c->kind == CK_TENSOR && ir_val(m, v)->dtype == DT_F32 ? c->data : NULL;
}

/* Fold bn (node bid) into conv (node cid). */
static int fold_bn(struct ir_module *m, struct ir_block *b, size_t pos, uint32_t cid, uint32_t bid)
{
	struct ir_node *c = ir_node(m, cid), *bn = ir_node(m, bid);
	const float *w = f32_const(m, c->in[1]);
	const float *bias = c->in[2] != IR_NONE ? f32_const(m, c->in[2]) : NULL;
	const float *g = f32_const(m, bn->in[1]), *beta = f32_const(m, bn->in[2]);
	const float *mean = f32_const(m, bn->in[3]), *var = f32_const(m, bn->in[4]);
	if (!w || (c->in[2] != IR_NONE && !bias) || !g || !beta || !mean || !var || c->nin > 3 ||
	    bn->in[0] != c->out[0])
		return 0;
	struct ir_shape ws = ir_val(m, c->in[1])->shape;
	int64_t oc = ws.dims[0], per = shape_numel(&ws) / oc;
	float *nw = arena_alloc(&m->ctx->arena, sizeof *nw * (size_t)(oc * per));
	float *nb = arena_alloc(&m->ctx->arena, sizeof *nb * (size_t)oc);
	double eps = bn->a.norm.eps;
	for (int64_t o = 0; o < oc; o++) {
		double scale = g[o] / sqrt((double)var[o] + eps);
		for (int64_t k = 0; k < per; k++)
			nw[o * per + k] = (float)(w[o * per + k] * scale);
		nb[o] = (float)(((bias ? bias[o] : 0.0) - mean[o]) * scale + beta[o]);
	}
	const char *wn = ir_val(m, c->in[1])->name;
	struct ir_shape bs = {.rank = 1, .dims = {oc}};
	uint32_t wv = ir_place(m, b, pos, ir_const_tensor(m, b, DT_F32, &ws, nw,
	                       arena_printf(&m->ctx->arena, "%s_fused_bn", wn ? wn : "w")));
	uint32_t bv = ir_place(m, b, pos + 1, ir_const_tensor(m, b, DT_F32, &bs, nb,
	                       arena_printf(&m->ctx->arena, "%s_fused_bn_bias", wn ? wn : "w")));
	c = ir_node(m, cid);
	uint32_t *in = arena_alloc(&m->ctx->arena, sizeof *in * 3);
	in[0] = c->in[0];
	in[1] = wv;
	in[2] = bv;
	c->in = in;
	c->nin = 3;
	ir_replace_uses(m, ir_node(m, bid)->out[0], c->out[0]);
	ir_node(m, bid)->dead = 1;
	return 2;
}

static enum act act_of(const struct ir_node *n, float *lo, float *hi)
{
	switch (n->op) {
	case OP_RELU: return ACT_RELU;
	case OP_CLIP: *lo = n->a.clip.min; *hi = n->a.clip.max; return ACT_CLIP;
	case OP_SIGMOID: return ACT_SIGMOID;
	case OP_SILU: return ACT_SILU;
	case OP_HARDSWISH: return ACT_HARDSWISH;
	case OP_HARDSIGMOID: return ACT_HARDSIGMOID;
	case OP_TANH: return ACT_TANH;
	case OP_GELU: return n->a.gelu.tanh_approx ? ACT_NONE : ACT_GELU;
	default: return ACT_NONE;
	}
}

/* Fuse what follows producer pid (conv or linear) into its epilogue. */
static void fuse_epilogue(struct ir_module *m, struct ir_block *b, size_t i, uint32_t pid,
                          int *uses)
{
	struct ir_node *p = ir_node(m, pid);
	uint32_t uid;
	if (!single_use(uses, p->out[0]))
		return;
	struct ir_node *u = user_of(m, b, i + 1, p->out[0], &uid);
	if (!u)
		return;
	if (p->op == OP_CONV2D && u->op == OP_BATCHNORM) {
		uint32_t conv_out = p->out[0], bn_out = u->out[0]; /* fold_bn may move nodes */
		if (fold_bn(m, b, i, pid, uid)) {
			uses[conv_out] = uses[bn_out];
			fuse_epilogue(m, b, i + 2, pid, uses);
		}
		return;
	}
	int act_field = p->op == OP_CONV2D ? p->a.conv.act : p->a.linear.act;
	if (u->op == OP_ADD && p->nin == 3 && act_field == ACT_NONE && u->a.binary.alpha == 1.0f) {
		uint32_t other = u->in[0] == p->out[0] ? u->in[1] : u->in[0];
		if (other == p->out[0] || !shape_eq(&ir_val(m, other)->shape, &ir_val(m, p->out[0])->shape))
			return;
		uint32_t *in = arena_alloc(&m->ctx->arena, sizeof *in * 4);
		memcpy(in, p->in, sizeof *in * 3);
		in[3] = other;
		/* other must be defined before the producer: it is, unless it is computed between. */
		uint32_t od = ir_val(m, other)->def;
		for (size_t k = i + 1; od != IR_NONE && k < b->nodes.len; k++)
			if (VEC_AT(&b->nodes, uint32_t, k) == od)
				return;
		p->in = in;
		p->nin = 4;
		ir_replace_uses(m, u->out[0], p->out[0]);
		uses[p->out[0]] = uses[u->out[0]];
		u->dead = 1;
		fuse_epilogue(m, b, i, pid, uses);
		return;
	}
	float lo = 0, hi = 0;
	enum act a = act_of(u, &lo, &hi);
	if (a == ACT_NONE || act_field != ACT_NONE)
		return;
	if (p->op == OP_CONV2D) {
		p->a.conv.act = a;
		p->a.conv.act_min = lo;
		p->a.conv.act_max = hi;
	} else {
		p->a.linear.act = a;
		p->a.linear.act_min = lo;
		p->a.linear.act_max = hi;
	}
	ir_replace_uses(m, u->out[0], p->out[0]);
	uses[p->out[0]] = uses[u->out[0]];
	u->dead = 1;
}

/* Fuses in b and, first, in the blocks of its ifs and loops. */
static void fuse_block(struct ir_module *m, struct ir_block *b, int *uses)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(m, id);
		if (n->dead)
			continue;
		for (int k = 0; k < n->nblocks; k++)
			fuse_block(m, n->blocks[k], uses);
		if (n->op != OP_CONV2D && n->op != OP_LINEAR)
			continue;
		size_t before = b->nodes.len;
		fuse_epilogue(m, b, i, id, uses);
		i += b->nodes.len - before; /* weights inserted before the conv */
	}
}

void fuse(struct ir_module *m)
{
	int *uses = ir_use_counts(m, &m->ctx->scratch);
	for (int k = 0; k < m->noutputs; k++)
		uses[m->outputs[k].value]++;
	fuse_block(m, ir_main(m)->body, uses);
}
