/* print.c: the IR text format. Grammar in ir/README.md; frontend/irtext.c reads back
 * exactly what this file writes (STYLE K9):
 *
 *   entry func NAME(%0: f32[1,3,8,8] {name="x", input="input[0]"}) {
 *     %1 = const @fc.bias {0x1p-1, -0x1p+0} : f32[2]   # code/m.py:12:5
 *     %3 = linear(%0, %2, _) {act=relu} : f32[1,2]     # [fc] code/m.py:13:9
 *     return (%3 {output="output[0]"})
 *   }
 *
 * `_` is an absent optional input. Values print as their module ids (%12), the ids the
 * emitters and ir_node_str use; a reader maps them to fresh ids. Numbers are exact:
 * floats in the shortest decimal that reads back to the same bits, tensor data in hex
 * floats. Tensor constants of more than IR_PRINT_MAX_DATA elements print without data
 * (the reader zero-fills them). Output is deterministic: nodes in block order. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

#define IR_PRINT_MAX_DATA 64 /* tensor constants up to this many elements print their data */

static const char *const vkind_names[] = {
	[VK_UNKNOWN] = "?", [VK_TENSOR] = "tensor", [VK_INT] = "int", [VK_FLOAT] = "float",
	[VK_BOOL] = "bool", [VK_STR] = "str", [VK_NONE] = "none", [VK_DEVICE] = "device",
	[VK_LIST] = "list", [VK_TUPLE] = "tuple", [VK_DICT] = "dict", [VK_OPTIONAL] = "optional",
	[VK_OBJECT] = "object", [VK_ANY] = "any",
};

static const char *const act_names[] = {
	[ACT_NONE] = "none", [ACT_RELU] = "relu", [ACT_CLIP] = "clip", [ACT_SIGMOID] = "sigmoid",
	[ACT_SILU] = "silu", [ACT_HARDSWISH] = "hardswish", [ACT_HARDSIGMOID] = "hardsigmoid",
	[ACT_TANH] = "tanh", [ACT_GELU] = "gelu",
};

/* ---- scalars and strings ---- */

/* A string literal: printable ASCII as is, '"' and '\' escaped, the rest as \xNN. */
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

/* 1 if s prints bare after '@', '<' or as a function name: [A-Za-z0-9_.]+ */
static int plain_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!(*s == '_' || *s == '.' || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z')))
			return 0;
	return 1;
}

/* A name bare when plain, else as a string literal. An identifier (a function or
 * class name) must also not start with a digit, or it would read as a number. */
static void print_name(FILE *out, const char *s, int ident)
{
	if (plain_name(s) && !(ident && *s >= '0' && *s <= '9'))
		fputs(s, out);
	else
		print_str(out, s);
}

/* Make a number look like a float ("1" -> "1.0") so it reads back as one. */
static void put_floaty(FILE *out, const char *buf)
{
	fputs(buf, out);
	if (!strpbrk(buf, ".eEni"))
		fputs(".0", out);
}

/* The shortest decimal that reads back as the same double. */
static void print_double(FILE *out, double x)
{
	char buf[64];
	if (isnan(x)) {
		fputs("nan", out);
		return;
	}
	if (isinf(x)) {
		fputs(x < 0 ? "-inf" : "inf", out);
		return;
	}
	for (int p = 15; p <= 17; p++) {
		snprintf(buf, sizeof buf, "%.*g", p, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	put_floaty(out, buf);
}

/* The shortest decimal that reads back as the same float. */
static void print_float(FILE *out, float x)
{
	char buf[64];
	if (isnan(x) || isinf(x)) {
		print_double(out, x);
		return;
	}
	for (int p = 6; p <= 9; p++) {
		snprintf(buf, sizeof buf, "%.*g", p, (double)x);
		if (strtof(buf, NULL) == x)
			break;
	}
	put_floaty(out, buf);
}

/* ---- types ---- */

/* An element type of a container: int, tensor<f32>, list<int>, object<Q>, ... */
static void print_elem_type(FILE *out, const struct ir_type *t, int depth)
{
	if (!t || depth > 32 || (unsigned)t->kind > VK_ANY) {
		fputc('?', out);
		return;
	}
	fputs(vkind_names[t->kind], out);
	switch (t->kind) {
	case VK_TENSOR:
		if (t->dtype != DT_UNKNOWN)
			fprintf(out, "<%s>", dtype_name(t->dtype));
		break;
	case VK_OBJECT:
		fputc('<', out);
		if (t->qualname)
			print_name(out, t->qualname, 1);
		fputc('>', out);
		break;
	case VK_LIST: case VK_TUPLE: case VK_DICT: case VK_OPTIONAL:
		fputc('<', out);
		for (int i = 0; i < t->nelem; i++) {
			if (i)
				fputs(", ", out);
			print_elem_type(out, t->elem ? t->elem[i] : NULL, depth + 1);
		}
		fputc('>', out);
		break;
	default: break;
	}
}

/* A value's type: f32[1,3,H,W], tensor[*], int, list<int>, object<__torch__.M>, ... */
void ir_print_type(FILE *out, struct ir_module *m, uint32_t id)
{
	struct ir_value *v = ir_val(m, id);
	if ((unsigned)v->kind > VK_ANY) {
		fputc('?', out);
		return;
	}
	if (v->kind != VK_TENSOR) {
		int structured = v->kind == VK_OBJECT || v->kind == VK_LIST || v->kind == VK_TUPLE ||
		                 v->kind == VK_DICT || v->kind == VK_OPTIONAL;
		if (structured && v->type && v->type->kind == v->kind)
			print_elem_type(out, v->type, 0);
		else
			fputs(vkind_names[v->kind], out);
		return;
	}
	fputs(v->dtype ? dtype_name(v->dtype) : "tensor", out);
	if (v->shape.rank < 0 || v->shape.rank > KILN_MAX_RANK) {
		fputs("[*]", out);
		return;
	}
	fputc('[', out);
	for (int i = 0; i < v->shape.rank; i++) {
		if (i)
			fputc(',', out);
		if (v->shape.sym[i] && plain_name(v->shape.sym[i]) &&
		    !(v->shape.sym[i][0] >= '0' && v->shape.sym[i][0] <= '9'))
			fputs(v->shape.sym[i], out);
		else
			fprintf(out, "%" PRId64, v->shape.dims[i]);
	}
	fputc(']', out);
}

/* ---- constants ---- */

/* One element of tensor data, exactly: hex floats, 16-bit patterns, decimal ints. */
static void print_elem(FILE *out, enum dtype dt, const void *data, int64_t i)
{
	switch (dt) {
	case DT_F32: fprintf(out, "%a", (double)((const float *)data)[i]); break;
	case DT_F64: fprintf(out, "%a", ((const double *)data)[i]); break;
	case DT_F16: case DT_BF16: fprintf(out, "0x%04x", ((const uint16_t *)data)[i]); break;
	case DT_I64: fprintf(out, "%" PRId64, ((const int64_t *)data)[i]); break;
	case DT_I32: fprintf(out, "%" PRId32, ((const int32_t *)data)[i]); break;
	case DT_I16: fprintf(out, "%d", ((const int16_t *)data)[i]); break;
	case DT_I8: fprintf(out, "%d", ((const int8_t *)data)[i]); break;
	case DT_U8: case DT_BOOL: fprintf(out, "%u", ((const uint8_t *)data)[i]); break;
	default: unreachable();
	}
}

/* @name {data} / tensor {data}; the data only for small tensors and not when brief. */
static void print_tensor_const(FILE *out, struct ir_module *m, const struct ir_const *c,
                               uint32_t v, int brief)
{
	struct ir_value *x = ir_val(m, v);
	if (c->name) {
		fputc('@', out);
		print_name(out, c->name, 0);
	} else {
		fputs("tensor", out);
	}
	int64_t n = x->kind == VK_TENSOR && x->dtype != DT_UNKNOWN ? shape_numel(&x->shape) : -1;
	if (!c->data || n < 0 || n > IR_PRINT_MAX_DATA || brief)
		return;
	fputs(" {", out);
	for (int64_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", out);
		print_elem(out, x->dtype, c->data, i);
	}
	fputc('}', out);
}

static void print_const(FILE *out, struct ir_module *m, const struct ir_node *n, int brief)
{
	const struct ir_const *c = &n->a.konst;
	switch (c->kind) {
	case CK_NONE: fputs("none", out); break;
	case CK_INT: fprintf(out, "%" PRId64, c->i); break;
	case CK_BOOL: fputs(c->i ? "true" : "false", out); break;
	case CK_FLOAT: print_double(out, c->f); break;
	case CK_STR: print_str(out, c->s ? c->s : ""); break;
	case CK_DEVICE: fputs("device ", out); print_str(out, c->s ? c->s : ""); break;
	case CK_INTS:
		fputc('[', out);
		for (int i = 0; i < c->n; i++)
			fprintf(out, "%s%" PRId64, i ? ", " : "", c->ints[i]);
		fputc(']', out);
		break;
	case CK_FLOATS:
		fputs("floats [", out);
		for (int i = 0; i < c->n; i++) {
			if (i)
				fputs(", ", out);
			print_double(out, c->floats[i]);
		}
		fputc(']', out);
		break;
	case CK_TENSOR: print_tensor_const(out, m, c, n->out[0], brief); break;
	case CK_OBJECT:
		fputs("object", out);
		if (c->name) {
			fputc(' ', out);
			print_str(out, c->name);
		}
		break;
	}
}

/* ---- attributes ---- */

/* Attributes are `{key=value, ...}`; attr_sep writes " {" before the first, ", " after. */
static void attr_key(FILE *out, int *first, const char *key)
{
	fputs(*first ? " {" : ", ", out);
	*first = 0;
	fprintf(out, "%s=", key);
}

static void attr_ints(FILE *out, int *first, const char *key, const int *v, int n)
{
	attr_key(out, first, key);
	fputc('[', out);
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%d", i ? ", " : "", v[i]);
	fputc(']', out);
}

static void attr_int(FILE *out, int *first, const char *key, int64_t v)
{
	attr_key(out, first, key);
	fprintf(out, "%" PRId64, v);
}

static void attr_float(FILE *out, int *first, const char *key, float v)
{
	attr_key(out, first, key);
	print_float(out, v);
}

static void attr_str(FILE *out, int *first, const char *key, const char *s)
{
	attr_key(out, first, key);
	print_str(out, s);
}

/* The fused epilogue of conv2d / linear: act, and min/max when they mean something. */
static void attr_act(FILE *out, int *first, enum act a, float lo, float hi)
{
	if (a != ACT_NONE) {
		attr_key(out, first, "act");
		fputs((unsigned)a <= ACT_GELU ? act_names[a] : "?", out);
	}
	if (a == ACT_CLIP || lo != 0 || hi != 0) {
		attr_float(out, first, "min", lo);
		attr_float(out, first, "max", hi);
	}
}

static int all_zero(const int *v, int n)
{
	for (int i = 0; i < n; i++)
		if (v[i])
			return 0;
	return 1;
}

static void attrs_pool(FILE *out, int *first, const struct pool_attr *p)
{
	if (!all_zero(p->kernel, 2))
		attr_ints(out, first, "kernel", p->kernel, 2);
	if (!all_zero(p->stride, 2))
		attr_ints(out, first, "stride", p->stride, 2);
	if (!all_zero(p->pad, 2))
		attr_ints(out, first, "pad", p->pad, 2);
	if (!all_zero(p->dil, 2))
		attr_ints(out, first, "dil", p->dil, 2);
	if (p->ceil_mode)
		attr_int(out, first, "ceil", p->ceil_mode);
	if (p->count_include_pad)
		attr_int(out, first, "count_pad", p->count_include_pad);
	if (p->divisor)
		attr_int(out, first, "divisor", p->divisor);
	if (!all_zero(p->out, 2))
		attr_ints(out, first, "out", p->out, 2);
}

/* perm=[...] without its trailing identity part. */
static void attrs_perm(FILE *out, int *first, const struct perm_attr *p)
{
	int n = KILN_MAX_RANK;
	while (n > 0 && p->perm[n - 1] == n - 1)
		n--;
	attr_ints(out, first, "perm", p->perm, n);
}

/* before=[...], after=[...] up to the last padded dim, and the fill value. */
static void attrs_pad(FILE *out, int *first, const struct pad_attr *p)
{
	int n = KILN_MAX_RANK;
	while (n > 0 && !p->before[n - 1] && !p->after[n - 1])
		n--;
	const int64_t *arr[2] = {p->before, p->after};
	for (int k = 0; k < 2; k++) {
		attr_key(out, first, k ? "after" : "before");
		fputc('[', out);
		for (int i = 0; i < n; i++)
			fprintf(out, "%s%" PRId64, i ? ", " : "", arr[k][i]);
		fputc(']', out);
	}
	attr_key(out, first, "value");
	print_double(out, p->value);
}

static void attrs_reduce(FILE *out, int *first, const struct reduce_attr *r)
{
	attr_key(out, first, "axes");
	fputc('[', out);
	for (int i = 0, k = 0; i < 32; i++)
		if (r->axes & (1u << i))
			fprintf(out, "%s%d", k++ ? ", " : "", i);
	fputc(']', out);
	attr_int(out, first, "keepdim", r->keepdim);
}

/* The {...} attribute list of a node, by the op's attribute kind. */
static void print_attrs(FILE *out, const struct ir_node *n)
{
	const union ir_attrs *a = &n->a;
	int first = 1;
	switch (op_info[n->op].attr) {
	case A_none: case A_konst: break;
	case A_name:
		if (a->name.name)
			attr_str(out, &first, "name", a->name.name);
		break;
	case A_call:
		if (a->call.name)
			attr_str(out, &first, "name", a->call.name);
		if (a->call.qualname)
			attr_str(out, &first, "qualname", a->call.qualname);
		attr_int(out, &first, "func", a->call.func);
		break;
	case A_aten:
		if (a->aten.name)
			attr_str(out, &first, "name", a->aten.name);
		break;
	case A_conv:
		attr_ints(out, &first, "stride", a->conv.stride, 2);
		attr_ints(out, &first, "pad", a->conv.pad, 2);
		attr_ints(out, &first, "dil", a->conv.dil, 2);
		attr_int(out, &first, "groups", a->conv.groups);
		attr_act(out, &first, a->conv.act, a->conv.act_min, a->conv.act_max);
		break;
	case A_linear: attr_act(out, &first, a->linear.act, a->linear.act_min, a->linear.act_max); break;
	case A_gemm:
		attr_float(out, &first, "alpha", a->gemm.alpha);
		attr_float(out, &first, "beta", a->gemm.beta);
		attr_int(out, &first, "trans_a", a->gemm.trans_a);
		attr_int(out, &first, "trans_b", a->gemm.trans_b);
		break;
	case A_norm:
		attr_float(out, &first, "eps", a->norm.eps);
		attr_int(out, &first, "axis", a->norm.axis);
		break;
	case A_clip:
		attr_float(out, &first, "min", a->clip.min);
		attr_float(out, &first, "max", a->clip.max);
		break;
	case A_gelu:
		if (a->gelu.tanh_approx)
			attr_int(out, &first, "tanh", a->gelu.tanh_approx);
		break;
	case A_binary:
		if (a->binary.alpha != 1.0f)
			attr_float(out, &first, "alpha", a->binary.alpha);
		break;
	case A_pool: attrs_pool(out, &first, &a->pool); break;
	case A_axis: attr_int(out, &first, "axis", a->axis.axis); break;
	case A_reduce: attrs_reduce(out, &first, &a->reduce); break;
	case A_perm: attrs_perm(out, &first, &a->perm); break;
	case A_slice:
		attr_int(out, &first, "axis", a->slice.axis);
		attr_int(out, &first, "start", a->slice.start);
		attr_int(out, &first, "end", a->slice.end);
		attr_int(out, &first, "step", a->slice.step);
		break;
	case A_pad: attrs_pad(out, &first, &a->pad); break;
	case A_sop:
		attr_key(out, &first, "op");
		fputs((unsigned)a->sop.op < SOP_COUNT ? sop_names[a->sop.op] : "?", out);
		break;
	case A_rnn:
		attr_int(out, &first, "layers", a->rnn.layers);
		attr_int(out, &first, "bidirectional", a->rnn.bidirectional);
		attr_int(out, &first, "batch_first", a->rnn.batch_first);
		attr_int(out, &first, "hidden", a->rnn.hidden);
		attr_int(out, &first, "has_biases", a->rnn.has_biases);
		break;
	}
	if (!first)
		fputc('}', out);
}

/* ---- locations ---- */

/* 1 if a file name prints bare in a location comment. */
static int plain_file(const char *s)
{
	if (!*s || *s == '"' || *s == '[' || *s == ' ' || s[strlen(s) - 1] == ' ')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 32 || *s == 127 || *s == '\\')
			return 0;
	return 1;
}

/* `  # [scope] file:line:col`, `  # "file"`, `  # "file" @ "node"`; nothing if unknown. */
static void print_loc(FILE *out, struct loc loc, const char *scope)
{
	int has_pos = loc.line > 0 || loc.col > 0;
	const char *file = loc.file ? loc.file : "";
	if (!*file && !has_pos && !loc.node && !scope)
		return;
	fputs("  #", out);
	if (scope) {
		fputs(" [", out);
		if (plain_name(scope))
			fputs(scope, out);
		else
			print_str(out, scope);
		fputc(']', out);
	}
	if (!*file && !has_pos && !loc.node)
		return;
	fputc(' ', out);
	/* A bare name is split at its last two ':' when it has a line; quote to be unambiguous. */
	if (plain_file(file) && !loc.node && has_pos)
		fputs(file, out);
	else
		print_str(out, file);
	if (has_pos)
		fprintf(out, ":%d:%d", loc.line, loc.col);
	if (loc.node) {
		fputs(" @ ", out);
		print_str(out, loc.node);
	}
}

/* ---- nodes, blocks, functions ---- */

static void print_block(FILE *out, struct ir_module *m, struct ir_block *b, int indent,
                        const struct ir_func *f);

static void print_vref(FILE *out, uint32_t v)
{
	if (v == IR_NONE)
		fputc('_', out);
	else
		fprintf(out, "%%%u", v);
}

/* A node and its blocks; brief (for ir_node_str): one line, no tensor data. */
static void print_node(FILE *out, struct ir_module *m, uint32_t id, int indent, int brief)
{
	struct ir_node *n = ir_node(m, id);
	fprintf(out, "%*s", indent, "");
	for (int i = 0; i < n->nout; i++)
		fprintf(out, "%s%%%u", i ? ", " : "", n->out[i]);
	fprintf(out, "%s%s", n->nout ? " = " : "", op_name(n->op));
	if (n->op == OP_CONST) {
		fputc(' ', out);
		print_const(out, m, n, brief);
	} else {
		fputc('(', out);
		for (int i = 0; i < n->nin; i++) {
			if (i)
				fputs(", ", out);
			print_vref(out, n->in[i]);
		}
		fputc(')', out);
		print_attrs(out, n);
	}
	if (n->nout) {
		fputs(" : ", out);
		for (int i = 0; i < n->nout; i++) {
			if (i)
				fputs(", ", out);
			ir_print_type(out, m, n->out[i]);
		}
	}
	print_loc(out, n->loc, n->scope);
	fputc('\n', out);
	for (int i = 0; i < n->nblocks && !brief; i++) {
		fprintf(out, "%*sblock%d", indent + 2, "", i);
		print_block(out, m, n->blocks[i], indent + 4, NULL);
	}
}

/* The main function's parameter i: {name="x", input="input[0]"} when known. */
static void print_param_attrs(FILE *out, struct ir_module *m, const struct ir_func *f,
                              struct ir_block *b, int i)
{
	const char *name = f && f->arg_names ? f->arg_names[i] : ir_val(m, b->params[i])->name;
	int first = 1;
	if (name)
		attr_str(out, &first, "name", name);
	if (f && f == ir_main(m) && m->inputs && m->ninputs == b->nparams &&
	    m->inputs[i].value == b->params[i] && m->inputs[i].path)
		attr_str(out, &first, "input", m->inputs[i].path);
	if (!first)
		fputc('}', out);
}

/* A returned value of the main function: {output="output[0]"} when it is an output. */
static void print_ret_attrs(FILE *out, struct ir_module *m, const struct ir_func *f,
                            struct ir_block *b, int i)
{
	if (!f || f != ir_main(m) || !m->outputs || m->noutputs != b->nrets ||
	    m->outputs[i].value != b->rets[i])
		return;
	const struct ir_io *io = &m->outputs[i];
	char dflt[32];
	snprintf(dflt, sizeof dflt, "output_%d", i);
	int first = 1;
	if (io->name && strcmp(io->name, dflt) != 0)
		attr_str(out, &first, "name", io->name);
	attr_str(out, &first, "output", io->path ? io->path : "");
	fputc('}', out);
}

void ir_print_node(FILE *out, struct ir_module *m, uint32_t id, int indent)
{
	print_node(out, m, id, indent, 0);
}

static void print_params(FILE *out, struct ir_module *m, struct ir_block *b, const struct ir_func *f)
{
	fputc('(', out);
	for (int i = 0; i < b->nparams; i++) {
		fprintf(out, "%s%%%u: ", i ? ", " : "", b->params[i]);
		ir_print_type(out, m, b->params[i]);
		print_param_attrs(out, m, f, b, i);
	}
	fputc(')', out);
}

/* f is the function whose body b is, NULL for the blocks of IF/LOOP. */
static void print_block(FILE *out, struct ir_module *m, struct ir_block *b, int indent,
                        const struct ir_func *f)
{
	print_params(out, m, b, f);
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
		print_ret_attrs(out, m, f, b, i);
	}
	fprintf(out, ")\n%*s}\n", indent >= 2 ? indent - 2 : 0, "");
}

void ir_print(FILE *out, struct ir_module *m)
{
	for (size_t i = 0; i < m->funcs.len; i++) {
		struct ir_func *f = VEC_AT(&m->funcs, struct ir_func *, i);
		if (i)
			fputc('\n', out);
		if (m->funcs.len > 1 && i == m->main)
			fputs("entry ", out);
		fputs("func ", out);
		print_name(out, f->name ? f->name : "", 1);
		print_block(out, m, f->body, 2, f);
	}
}

/* ir_node_str's work, run under kiln_protect so that an out-of-memory unwind cannot
 * leak the memstream's malloc'd buffer. */
struct node_str {
	struct ir_module *m;
	uint32_t id;
	FILE *f;          /* the memstream */
	const char *buf;  /* its text, once closed */
	size_t len;
	char *out;        /* the arena copy */
};

static void node_str_print(struct kiln_ctx *ctx, void *arg)
{
	(void)ctx;
	struct node_str *c = arg;
	print_node(c->f, c->m, c->id, 0, 1);
}

static void node_str_copy(struct kiln_ctx *ctx, void *arg)
{
	struct node_str *c = arg;
	c->out = arena_strndup(&ctx->arena, c->buf, c->len);
}

char *ir_node_str(struct ir_module *m, uint32_t id)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return arena_strdup(&m->ctx->arena, op_name(ir_node(m, id)->op));
	struct node_str c = {m, id, f, NULL, 0, NULL};
	int status = kiln_protect(m->ctx, node_str_print, &c);
	fclose(f);
	if (!status) {
		if (len && buf[len - 1] == '\n')
			buf[--len] = 0;
		c.buf = buf;
		c.len = len;
		status = kiln_protect(m->ctx, node_str_copy, &c);
	}
	free(buf);
	if (status)
		diag_check(m->ctx); /* re-raise, now that nothing is left to free */
	return c.out;
}
