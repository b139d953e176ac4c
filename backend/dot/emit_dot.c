/* emit_dot.c: the graph of a module the pipeline has run on, for Graphviz, as
 * detectron2's Caffe2Model.save_graph drew it: one box per operator (its kiln op name,
 * then the module scope or the source location), one ellipse per model input and output,
 * a note per weight, and an edge per tensor from producer to consumer labelled with its
 * dtype and shape. --emit=dot writes the DOT text; --emit=svg lays it out with Graphviz's
 * libgvc (the `dot` engine) and writes SVG.
 *
 * Deterministic: nodes and edges in IR order. Linear in the size of the graph.
 */
#include <stdlib.h>
#include <string.h>

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include "backend/backend.h"

/* s as the inside of a DOT double-quoted string. */
static void put_str(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* "f32[1,3,224,224]" */
static void put_type(FILE *f, struct ir_value *v)
{
	if (v->kind != VK_TENSOR || v->shape.rank < 0)
		return;
	fprintf(f, "%s[", dtype_name(v->dtype));
	for (int k = 0; k < v->shape.rank; k++) {
		if (v->shape.dims[k] >= 0)
			fprintf(f, "%s%lld", k ? "," : "", (long long)v->shape.dims[k]);
		else
			fprintf(f, "%s%s", k ? "," : "", v->shape.sym[k] ? v->shape.sym[k] : "?");
	}
	fputc(']', f);
}

static void edge(FILE *f, struct ir_module *m, const char *from, const char *to, uint32_t v)
{
	fprintf(f, "  %s -> %s [label=\"", from, to);
	put_type(f, ir_val(m, v));
	fputs("\"];\n", f);
}

/* The DOT name of the producer of v: an input, a weight, or an op. */
static const char *source(struct ir_module *m, uint32_t v, char *buf, size_t n, FILE *f,
                          unsigned char *drawn)
{
	struct ir_value *x = ir_val(m, v);
	if (x->def == IR_NONE) {
		snprintf(buf, n, "v%u", v);
		return buf;
	}
	struct ir_node *d = ir_node(m, x->def);
	if (d->op != OP_CONST) {
		snprintf(buf, n, "n%u", x->def);
		return buf;
	}
	snprintf(buf, n, "c%u", v);
	if (!drawn[v]) {
		drawn[v] = 1;
		fprintf(f, "  c%u [shape=note, fontsize=10, label=\"", v);
		put_str(f, d->a.konst.name ? d->a.konst.name : "const");
		fputs("\"];\n", f);
	}
	return buf;
}

/* The epilogue fused into a conv/linear, as a second label line: "+ residual + relu". */
static void put_epilogue(FILE *f, struct ir_node *n)
{
	static const char *const act[] = {
		[ACT_RELU] = "relu", [ACT_CLIP] = "clip", [ACT_SIGMOID] = "sigmoid", [ACT_SILU] = "silu",
		[ACT_HARDSWISH] = "hardswish", [ACT_HARDSIGMOID] = "hardsigmoid", [ACT_TANH] = "tanh",
		[ACT_GELU] = "gelu",
	};
	enum act a = n->op == OP_CONV2D ? n->a.conv.act : n->a.linear.act;
	int res = n->nin >= 4 && n->in[3] != IR_NONE;
	if (!res && a == ACT_NONE)
		return;
	fputs("\\n", f);
	if (res)
		fputs("+ residual", f);
	if (a != ACT_NONE && (unsigned)a < sizeof act / sizeof *act && act[a])
		fprintf(f, "%s+ %s", res ? " " : "", act[a]);
}

static void put_node(FILE *f, struct ir_module *m, uint32_t id, unsigned char *drawn)
{
	struct ir_node *n = ir_node(m, id);
	struct arena *a = &m->ctx->scratch;
	fprintf(f, "  n%u [shape=box, style=rounded, label=\"%s", id, op_name(n->op));
	if (n->op == OP_CONV2D || n->op == OP_LINEAR)
		put_epilogue(f, n);
	const char *where = n->scope && *n->scope ? n->scope : n->loc.file ? loc_str(a, n->loc) : NULL;
	if (where) {
		fputs("\\n", f);
		put_str(f, where);
	}
	fputs("\"];\n", f);
	for (int k = 0; k < n->nin; k++) {
		char buf[32], to[32];
		if (n->in[k] == IR_NONE)
			continue;
		snprintf(to, sizeof to, "n%u", id);
		edge(f, m, source(m, n->in[k], buf, sizeof buf, f, drawn), to, n->in[k]);
	}
}

/* The whole graph as DOT text. */
static void write_dot(FILE *f, struct ir_module *m, const char *name)
{
	struct ir_block *b = ir_main(m)->body;
	unsigned char *drawn = arena_alloc(&m->ctx->scratch, m->values.len + 1);
	fputs("digraph \"", f);
	put_str(f, name);
	fputs("\" {\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n"
	      "  edge [fontname=\"Helvetica\", fontsize=9];\n", f);
	for (int i = 0; i < m->ninputs; i++) {
		fprintf(f, "  v%u [shape=ellipse, style=filled, fillcolor=lightblue, label=\"",
		        m->inputs[i].value);
		put_str(f, m->inputs[i].name);
		fputs("\"];\n", f);
	}
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		struct ir_node *n = ir_node(m, id);
		if (!n->dead && n->op != OP_CONST)
			put_node(f, m, id, drawn);
	}
	for (int i = 0; i < m->noutputs; i++) {
		char buf[32], to[32];
		fprintf(f, "  o%d [shape=ellipse, style=filled, fillcolor=lightyellow, label=\"", i);
		put_str(f, m->outputs[i].name);
		fputs("\"];\n", f);
		snprintf(to, sizeof to, "o%d", i);
		edge(f, m, source(m, m->outputs[i].value, buf, sizeof buf, f, drawn), to,
		     m->outputs[i].value);
	}
	fputs("}\n", f);
}

/* Lay the DOT text out with libgvc and render it as SVG into path. */
static void render_svg(struct kiln_ctx *ctx, const char *dot, const char *path)
{
	GVC_t *gvc = gvContext();
	Agraph_t *g = gvc ? agmemread(dot) : NULL;
	if (!g || gvLayout(gvc, g, "dot") != 0)
		fatal("Graphviz could not lay out the graph for %s", path);
	int rc = gvRenderFilename(gvc, g, "svg", path);
	gvFreeLayout(gvc, g);
	agclose(g);
	gvFreeContext(gvc);
	if (rc != 0)
		fatal("cannot write %s (Graphviz's svg renderer failed)", path);
}

int emit_dot(struct kiln_ctx *ctx, struct ir_module *m, const struct emit_dot_options *opt)
{
	const char *name = opt->model_name ? opt->model_name : "kiln";
	if (!opt->svg) {
		FILE *f = fopen(opt->out_path, "w");
		if (!f)
			fatal("cannot write %s:", opt->out_path);
		write_dot(f, m, name);
		if (fclose(f) != 0)
			fatal("cannot write %s:", opt->out_path);
		return 0;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		fatal("out of memory");
	write_dot(f, m, name);
	if (fclose(f) != 0)
		fatal("out of memory");
	char *copy = arena_strdup(&ctx->arena, text);
	free(text);
	render_svg(ctx, copy, opt->out_path);
	return 0;
}
