/* print.c: the IR text format. Grammar in ir/README.md; frontend/irtext.c reads it back.
 *
 *   func NAME(%0: TYPE, ...) {
 *     %3 = OP(%1, %2, _) {attr=v, ...} : TYPE   # file:line:col
 *     return (%3)
 *   }
 * `_` is an absent optional input. Output is deterministic: nodes in block order. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static const char *vkind_names[] = {
	[VK_UNKNOWN] = "?", [VK_TENSOR] = "tensor", [VK_INT] = "int", [VK_FLOAT] = "float",
	[VK_BOOL] = "bool", [VK_STR] = "str", [VK_NONE] = "none", [VK_DEVICE] = "device",
	[VK_LIST] = "list", [VK_TUPLE] = "tuple", [VK_DICT] = "dict", [VK_OPTIONAL] = "optional",
	[VK_OBJECT] = "object", [VK_ANY] = "any",
};

static const char *act_names[] = {
	[ACT_NONE] = "none", [ACT_RELU] = "relu", [ACT_CLIP] = "clip", [ACT_SIGMOID] = "sigmoid",
	[ACT_SILU] = "silu", [ACT_HARDSWISH] = "hardswish", [ACT_HARDSIGMOID] = "hardsigmoid",
	[ACT_TANH] = "tanh", [ACT_GELU] = "gelu",
};

void ir_print_type(FILE *out, struct ir_module *m, uint32_t id)
{
	struct ir_value *v = ir_val(m, id);
	if (v->kind == VK_OBJECT && v->type && v->type->qualname) {
		fprintf(out, "object<%s>", v->type->qualname);
		return;
	}
	if (v->kind != VK_TENSOR) {
		fputs(vkind_names[v->kind], out);
		return;
	}
	fputs(v->dtype ? dtype_name(v->dtype) : "tensor", out);
	if (v->shape.rank < 0) {
		fputs("[*]", out);
		return;
	}
	fputc('[', out);
	for (int i = 0; i < v->shape.rank; i++) {
		if (i)
			fputc(',', out);
		if (v->shape.sym[i])
			fputs(v->shape.sym[i], out);
		else
			fprintf(out, "%" PRId64, v->shape.dims[i]);
	}
	fputc(']', out);
}

static void print_ints(FILE *out, const int *v, int n)
{
	fputc('[', out);
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%d", i ? "," : "", v[i]);
	fputc(']', out);
}

static void print_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 32 || c >= 127)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void print_const(FILE *out, const struct ir_const *c)
{
	switch (c->kind) {
	case CK_NONE: fputs("none", out); break;
	case CK_INT: fprintf(out, "%" PRId64, c->i); break;
	case CK_BOOL: fputs(c->i ? "true" : "false", out); break;
	case CK_FLOAT: fprintf(out, "%.17g", c->f); break;
	case CK_STR: print_str(out, c->s); break;
	case CK_DEVICE: fputs("device ", out); print_str(out, c->s); break;
	case CK_INTS:
		fputc('[', out);
		for (int i = 0; i < c->n; i++)
			fprintf(out, "%s%" PRId64, i ? "," : "", c->ints[i]);
		fputc(']', out);
		break;
	case CK_FLOATS:
		fputs("floats [", out);
		for (int i = 0; i < c->n; i++)
			fprintf(out, "%s%.17g", i ? "," : "", c->floats[i]);
		fputc(']', out);
		break;
	case CK_TENSOR: fputs("@", out); fputs(c->name ? c->name : "?", out); break;
	case CK_OBJECT: fputs("object", out); break;
	}
}

/* The {...} attribute list of a node, by the op's attribute kind. */
static void print_attrs(FILE *out, const struct ir_node *n)
{
	const union ir_attrs *a = &n->a;
	switch (op_info[n->op].attr) {
	case A_none: break;
	case A_konst: fputc(' ', out); print_const(out, &a->konst); break;
	case A_name: fputs(" {name=", out); print_str(out, a->name.name); fputc('}', out); break;
	case A_call: fprintf(out, " {name=\"%s\"}", a->call.name); break;
	case A_aten: fprintf(out, " {name=\"%s\"}", a->aten.name); break;
	case A_conv:
		fputs(" {stride=", out); print_ints(out, a->conv.stride, 2);
		fputs(", pad=", out); print_ints(out, a->conv.pad, 2);
		fputs(", dil=", out); print_ints(out, a->conv.dil, 2);
		fprintf(out, ", groups=%d", a->conv.groups);
		if (a->conv.act)
			fprintf(out, ", act=%s", act_names[a->conv.act]);
		if (a->conv.act == ACT_CLIP)
			fprintf(out, ", min=%.9g, max=%.9g", a->conv.act_min, a->conv.act_max);
		fputc('}', out);
		break;
	case A_linear:
		if (a->linear.act)
			fprintf(out, " {act=%s}", act_names[a->linear.act]);
		break;
	case A_gemm:
		fprintf(out, " {alpha=%.9g, beta=%.9g, trans_a=%d, trans_b=%d}", a->gemm.alpha,
		        a->gemm.beta, a->gemm.trans_a, a->gemm.trans_b);
		break;
	case A_norm: fprintf(out, " {eps=%.9g, axis=%d}", a->norm.eps, a->norm.axis); break;
	case A_clip: fprintf(out, " {min=%.9g, max=%.9g}", a->clip.min, a->clip.max); break;
	case A_gelu: fprintf(out, " {tanh=%d}", a->gelu.tanh_approx); break;
	case A_binary:
		if (a->binary.alpha != 1.0f)
			fprintf(out, " {alpha=%.9g}", a->binary.alpha);
		break;
	case A_pool:
		fputs(" {kernel=", out); print_ints(out, a->pool.kernel, 2);
		fputs(", stride=", out); print_ints(out, a->pool.stride, 2);
		fputs(", pad=", out); print_ints(out, a->pool.pad, 2);
		fputs(", dil=", out); print_ints(out, a->pool.dil, 2);
		fprintf(out, ", ceil=%d, count_pad=%d, divisor=%d, out=", a->pool.ceil_mode,
		        a->pool.count_include_pad, a->pool.divisor);
		print_ints(out, a->pool.out, 2);
		fputc('}', out);
		break;
	case A_axis: fprintf(out, " {axis=%d}", a->axis.axis); break;
	case A_reduce: fprintf(out, " {axes=0x%x, keepdim=%d}", a->reduce.axes, a->reduce.keepdim); break;
	case A_perm: fputs(" {perm=", out); print_ints(out, a->perm.perm, KILN_MAX_RANK); fputc('}', out); break;
	case A_slice:
		fprintf(out, " {axis=%d, start=%" PRId64 ", end=%" PRId64 ", step=%" PRId64 "}",
		        a->slice.axis, a->slice.start, a->slice.end, a->slice.step);
		break;
	case A_pad:
		fputs(" {before=[", out);
		for (int i = 0; i < KILN_MAX_RANK; i++)
			fprintf(out, "%s%" PRId64, i ? "," : "", a->pad.before[i]);
		fputs("], after=[", out);
		for (int i = 0; i < KILN_MAX_RANK; i++)
			fprintf(out, "%s%" PRId64, i ? "," : "", a->pad.after[i]);
		fprintf(out, "], value=%.17g}", a->pad.value);
		break;
	}
}

static void print_block(FILE *out, struct ir_module *m, struct ir_block *b, int indent);

static void print_vref(FILE *out, uint32_t v)
{
	if (v == IR_NONE)
		fputc('_', out);
	else
		fprintf(out, "%%%u", v);
}

void ir_print_node(FILE *out, struct ir_module *m, uint32_t id, int indent)
{
	struct ir_node *n = ir_node(m, id);
	fprintf(out, "%*s", indent, "");
	for (int i = 0; i < n->nout; i++) {
		fprintf(out, "%s%%%u", i ? ", " : "", n->out[i]);
	}
	fprintf(out, "%s%s", n->nout ? " = " : "", op_name(n->op));
	if (n->op != OP_CONST) {
		fputc('(', out);
		for (int i = 0; i < n->nin; i++) {
			if (i)
				fputs(", ", out);
			print_vref(out, n->in[i]);
		}
		fputc(')', out);
	}
	print_attrs(out, n);
	if (n->nout) {
		fputs(" : ", out);
		for (int i = 0; i < n->nout; i++) {
			if (i)
				fputs(", ", out);
			ir_print_type(out, m, n->out[i]);
		}
	}
	if (n->loc.file && n->loc.line)
		fprintf(out, "  # %s:%d:%d", n->loc.file, n->loc.line, n->loc.col);
	fputc('\n', out);
	for (int i = 0; i < n->nblocks; i++) {
		fprintf(out, "%*sblock%d", indent + 2, "", i);
		print_block(out, m, n->blocks[i], indent + 4);
	}
}

static void print_params(FILE *out, struct ir_module *m, struct ir_block *b)
{
	fputc('(', out);
	for (int i = 0; i < b->nparams; i++) {
		fprintf(out, "%s%%%u: ", i ? ", " : "", b->params[i]);
		ir_print_type(out, m, b->params[i]);
	}
	fputc(')', out);
}

static void print_block(FILE *out, struct ir_module *m, struct ir_block *b, int indent)
{
	print_params(out, m, b);
	fputs(" {\n", out);
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		if (!ir_node(m, id)->dead)
			ir_print_node(out, m, id, indent);
	}
	fprintf(out, "%*sreturn (", indent, "");
	for (int i = 0; i < b->nrets; i++) {
		if (i)
			fputs(", ", out);
		print_vref(out, b->rets[i]);
	}
	fprintf(out, ")\n%*s}\n", indent >= 2 ? indent - 2 : 0, "");
}

void ir_print(FILE *out, struct ir_module *m)
{
	for (size_t f = 0; f < m->funcs.len; f++) {
		struct ir_func *fn = VEC_AT(&m->funcs, struct ir_func *, f);
		fprintf(out, "func %s", fn->name);
		print_block(out, m, fn->body, 2);
	}
}

char *ir_node_str(struct ir_module *m, uint32_t id)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return arena_strdup(&m->ctx->arena, op_name(ir_node(m, id)->op));
	struct ir_node *n = ir_node(m, id);
	int nb = n->nblocks;
	n->nblocks = 0; /* one line: blocks are not shown */
	ir_print_node(f, m, id, 0);
	n->nblocks = nb;
	fclose(f);
	if (len && buf[len - 1] == '\n')
		buf[--len] = 0;
	char *s = arena_strdup(&m->ctx->arena, buf);
	free(buf);
	return s;
}
