/* ts_graph_print.c: kiln IR → TorchScript IR text, and detectron2's dump_torchscript_IR.
 *
 * Writes functions of a module as TorchScript prints graphs (reference/torchscript-format.md
 * §4), for the IR the TorchScript frontends produce (ts_lower.c, ts_graph.c) before
 * canonicalization: ATEN nodes become `aten::name` / `prim::Name` calls with their
 * schema arguments, structure nodes their prim:: counterparts, IF/LOOP blocks. The text
 * reads back through ts_graph_load into the same IR, with two conventions that keep it
 * exact where PyTorch's own dump is lossy: tensor constants of the archive are named
 * `%CONSTANTS.cN.<id>` / `%self.<attribute path>.<id>` (the reader takes their data from
 * the archive), and the values of small inline tensors and floats are printed with enough
 * digits to round-trip. Objects of user classes are SSA records as in the IR: a changed
 * record is `%r = kiln::obj_set[name="f"](%obj, %v)` (a changed dict `%d2 =
 * kiln::dict_set(%d, %key, %v)`), a call that changes objects has one
 * more output per object, a function that changes its object parameters returns their
 * final records after its result, and IF/LOOP carry records like any value; the reader
 * takes this form back as written. Canonical ops (after the frontend stages) print as
 * `kiln::<op>`, which no reader accepts.
 *
 * Value names are the IR name hint (sanitized) followed by the value id, or the id alone.
 * Output is deterministic: IR order throughout.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend.h"
#include "pt.h"
#include "passes/passes.h"

#define MAX_DEPTH 64

static void print_nodes(FILE *out, struct ir_module *m, struct ir_block *b, int indent);

static void print_name(FILE *out, struct ir_module *m, uint32_t v)
{
	struct ir_value *iv = ir_val(m, v);
	const struct ir_node *d = iv->def != IR_NONE ? ir_node(m, iv->def) : NULL;
	const char *h = iv->name;
	if (d && d->op == OP_CONST && d->a.konst.kind == CK_TENSOR && d->a.konst.name)
		h = d->a.konst.name;
	fputc('%', out);
	if (h && *h) {
		if (d && d->op == OP_CONST && d->a.konst.kind == CK_TENSOR && d->a.konst.name &&
		    strncmp(h, "CONSTANTS.", 10) != 0)
			fputs("self.", out);
		for (const char *p = h; *p; p++)
			fputc(isalnum((unsigned char)*p) || *p == '.' ? *p : '_', out);
		fputc('.', out);
	}
	fprintf(out, "%" PRIu32, v);
}

static void print_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\t': fputs("\\t", out); break;
		case '\r': fputs("\\r", out); break;
		default:
			if (*p < 32 || *p >= 127)
				fprintf(out, "\\%03o", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

/* A float as TorchScript prints one (`2.`, `inf`), with all its digits. */
static void print_float(FILE *out, double f)
{
	if (isnan(f)) {
		fputs("nan", out);
		return;
	}
	if (isinf(f)) {
		fputs(f < 0 ? "-inf" : "inf", out);
		return;
	}
	char buf[64];
	snprintf(buf, sizeof buf, "%.17g", f);
	fputs(buf, out);
	if (!strpbrk(buf, ".e"))
		fputc('.', out);
}

static const char *scalar_type_name(enum dtype dt)
{
	switch (dt) {
	case DT_F32: return "Float";
	case DT_F64: return "Double";
	case DT_F16: return "Half";
	case DT_BF16: return "BFloat16";
	case DT_I64: return "Long";
	case DT_I32: return "Int";
	case DT_I16: return "Short";
	case DT_I8: return "Char";
	case DT_U8: return "Byte";
	case DT_BOOL: return "Bool";
	default: return NULL;
	}
}

static void print_ir_type(FILE *out, const struct ir_type *t, int depth)
{
	if (!t || depth > MAX_DEPTH) {
		fputs("Any", out);
		return;
	}
	switch (t->kind) {
	case VK_TENSOR: fputs("Tensor", out); break;
	case VK_INT: fputs("int", out); break;
	case VK_FLOAT: fputs("float", out); break;
	case VK_BOOL: fputs("bool", out); break;
	case VK_STR: fputs("str", out); break;
	case VK_NONE: fputs("NoneType", out); break;
	case VK_DEVICE: fputs("Device", out); break;
	case VK_OBJECT: fputs(t->qualname ? t->qualname : "Any", out); break;
	case VK_LIST:
		print_ir_type(out, t->nelem ? t->elem[0] : NULL, depth + 1);
		fputs("[]", out);
		break;
	case VK_OPTIONAL:
		print_ir_type(out, t->nelem ? t->elem[0] : NULL, depth + 1);
		fputs("?", out);
		break;
	case VK_TUPLE: case VK_DICT:
		fputs(t->kind == VK_DICT ? "Dict(" : "(", out);
		for (int i = 0; i < t->nelem; i++) {
			if (i)
				fputs(", ", out);
			print_ir_type(out, t->elem[i], depth + 1);
		}
		fputc(')', out);
		break;
	default: fputs("Any", out); break;
	}
}

static const char *kind_type(enum vkind k)
{
	switch (k) {
	case VK_TENSOR: return "Tensor";
	case VK_INT: return "int";
	case VK_FLOAT: return "float";
	case VK_BOOL: return "bool";
	case VK_STR: return "str";
	case VK_NONE: return "NoneType";
	case VK_DEVICE: return "Device";
	case VK_LIST: return "Tensor[]";
	case VK_OPTIONAL: return "Tensor?";
	default: return "Any";
	}
}

/* A list's type from its constant or its items, when the IR records none. */
static const char *list_type(struct ir_module *m, uint32_t v)
{
	struct ir_value *iv = ir_val(m, v);
	const struct ir_node *d = iv->def != IR_NONE ? ir_node(m, iv->def) : NULL;
	if (d && d->op == OP_CONST)
		return d->a.konst.kind == CK_FLOATS ? "float[]" : "int[]";
	if (d && d->op == OP_LIST && d->nin && d->in[0] != IR_NONE) {
		enum vkind k = ir_val(m, d->in[0])->kind;
		if (k == VK_INT || k == VK_FLOAT || k == VK_BOOL)
			return k == VK_INT ? "int[]" : k == VK_FLOAT ? "float[]" : "bool[]";
	}
	return "Tensor[]";
}

static void print_value_type(FILE *out, struct ir_module *m, uint32_t v)
{
	struct ir_value *iv = ir_val(m, v);
	const struct ir_node *d = iv->def != IR_NONE ? ir_node(m, iv->def) : NULL;
	if (iv->kind == VK_TENSOR && scalar_type_name(iv->dtype) && shape_numel(&iv->shape) >= 0) {
		fprintf(out, "%s(", scalar_type_name(iv->dtype));
		for (int i = 0; i < iv->shape.rank; i++)
			fprintf(out, "%" PRId64 ", ", iv->shape.dims[i]);
		if (iv->shape.rank == 0) {
			fputs("requires_grad=0, device=cpu)", out);
			return;
		}
		fputs("strides=[", out);
		int64_t st = 1, strides[KILN_MAX_RANK];
		for (int i = iv->shape.rank - 1; i >= 0; i--) {
			strides[i] = st;
			st *= iv->shape.dims[i];
		}
		for (int i = 0; i < iv->shape.rank; i++)
			fprintf(out, "%s%" PRId64, i ? ", " : "", strides[i]);
		fputs("], requires_grad=0, device=cpu)", out);
	} else if (iv->type && iv->kind != VK_TENSOR) {
		print_ir_type(out, iv->type, 0);
	} else if (iv->kind == VK_LIST) {
		fputs(list_type(m, v), out);
	} else if (iv->kind == VK_TUPLE && d && d->op == OP_TUPLE) {
		fputc('(', out);
		for (int i = 0; i < d->nin; i++) {
			fputs(i ? ", " : "", out);
			if (d->in[i] == IR_NONE)
				fputs("NoneType", out);
			else
				print_value_type(out, m, d->in[i]);
		}
		fputc(')', out);
	} else {
		fputs(kind_type(iv->kind), out);
	}
}

static void print_decl(FILE *out, struct ir_module *m, uint32_t v)
{
	print_name(out, m, v);
	fputs(" : ", out);
	print_value_type(out, m, v);
}

/* Tensor data: `{v}` for one element of rank 0, else the values and `[ CPUxType{dims} ]`;
 * `<Tensor>` beyond 10 elements (the reader takes those from the archive by name). */
static void print_tensor(FILE *out, struct ir_module *m, const struct ir_const *c, uint32_t v)
{
	struct ir_value *iv = ir_val(m, v);
	int64_t n = shape_numel(&iv->shape);
	const char *tn = scalar_type_name(iv->dtype);
	if (n < 0 || n > 10 || !tn || !c->data || iv->dtype == DT_F16 || iv->dtype == DT_BF16) {
		fputs("<Tensor>", out);
		return;
	}
	int braces = iv->shape.rank == 0;
	fputs(braces ? "{" : "", out);
	for (int64_t i = 0; i < n; i++) {
		fputs(braces ? "" : " ", out);
		switch (iv->dtype) {
		case DT_F32: fprintf(out, "%.9g", ((const float *)c->data)[i]); break;
		case DT_F64: fprintf(out, "%.17g", ((const double *)c->data)[i]); break;
		case DT_I64: fprintf(out, "%" PRId64, ((const int64_t *)c->data)[i]); break;
		case DT_I32: fprintf(out, "%" PRId32, ((const int32_t *)c->data)[i]); break;
		case DT_I16: fprintf(out, "%d", ((const int16_t *)c->data)[i]); break;
		case DT_I8: fprintf(out, "%d", ((const int8_t *)c->data)[i]); break;
		default: fprintf(out, "%d", ((const uint8_t *)c->data)[i]); break;
		}
	}
	if (braces) {
		fputc('}', out);
		return;
	}
	fprintf(out, " [ CPU%sType{", tn);
	for (int i = 0; i < iv->shape.rank; i++)
		fprintf(out, "%s%" PRId64, i ? "," : "", iv->shape.dims[i]);
	fputs("} ]", out);
}

/* prim::Constant[value=...] */
static void print_const(FILE *out, struct ir_module *m, const struct ir_node *n)
{
	const struct ir_const *c = &n->a.konst;
	fputs("prim::Constant", out);
	switch (c->kind) {
	case CK_NONE: return;
	case CK_INT: fprintf(out, "[value=%" PRId64 "]", c->i); return;
	case CK_BOOL: fprintf(out, "[value=%d]", c->i != 0); return;
	case CK_FLOAT: fputs("[value=", out); print_float(out, c->f); break;
	case CK_STR: case CK_DEVICE: fputs("[value=", out); print_str(out, c->s ? c->s : ""); break;
	case CK_INTS:
		fputs("[value=[", out);
		for (int i = 0; i < c->n; i++)
			fprintf(out, "%s%" PRId64, i ? ", " : "", c->ints[i]);
		fputc(']', out);
		break;
	case CK_FLOATS:
		fputs("[value=[", out);
		for (int i = 0; i < c->n; i++) {
			fputs(i ? ", " : "", out);
			print_float(out, c->floats[i]);
		}
		fputc(']', out);
		break;
	case CK_TENSOR: fputs("[value=", out); print_tensor(out, m, c, n->out[0]); break;
	case CK_OBJECT: fputs("[value=<Object>", out); break;
	}
	fputc(']', out);
}

/* "conv2d" -> "aten::conv2d", "prim.NumToTensor" -> "prim::NumToTensor". */
static void print_aten_kind(FILE *out, const char *name)
{
	const char *dot = strchr(name, '.');
	if (dot)
		fprintf(out, "%.*s::%s", (int)(dot - name), name, dot + 1);
	else
		fprintf(out, "aten::%s", name);
}

static int is_tuple(struct ir_module *m, uint32_t v)
{
	return v != IR_NONE && ir_val(m, v)->kind == VK_TUPLE;
}

/* The node's kind and attributes: `aten::add`, `prim::GetAttr[name="fc"]`, ... */
static void print_head(FILE *out, struct ir_module *m, const struct ir_node *n)
{
	switch (n->op) {
	case OP_CONST:
		if (n->a.konst.kind == CK_NONE && ir_val(m, n->out[0])->kind == VK_TENSOR)
			fputs("prim::Uninitialized", out);   /* ts_uninitialized */
		else
			print_const(out, m, n);
		return;
	case OP_GETATTR: case OP_SETATTR:
		fputs(n->op == OP_GETATTR ? "prim::GetAttr[name=" : "prim::SetAttr[name=", out);
		print_str(out, n->a.name.name ? n->a.name.name : "");
		fputc(']', out);
		return;
	case OP_CALL_METHOD:
		fputs("prim::CallMethod[name=", out);
		print_str(out, n->a.call.name ? n->a.call.name : "forward");
		fputc(']', out);
		return;
	case OP_CALL_FUNC: fputs("prim::CallFunction", out); return;
	case OP_ATEN: print_aten_kind(out, n->a.aten.name ? n->a.aten.name : "unknown"); return;
	case OP_LIST: fputs("prim::ListConstruct", out); return;
	case OP_TUPLE: fputs("prim::TupleConstruct", out); return;
	case OP_DICT: fputs("prim::DictConstruct", out); return;
	case OP_DICT_SET: fputs("kiln::dict_set", out); return;   /* a new dict, like obj_set */
	case OP_UNPACK:
		fputs(is_tuple(m, n->in[0]) ? "prim::TupleUnpack" : "prim::ListUnpack", out);
		return;
	case OP_GETITEM:
		fputs(is_tuple(m, n->in[0]) ? "prim::TupleIndex" : "aten::__getitem__", out);
		return;
	case OP_IF: fputs("prim::If", out); return;
	case OP_LOOP: fputs("prim::Loop", out); return;
	case OP_RAISE: fputs("prim::RaiseException", out); return;
	case OP_IDENTITY: fputs("prim::unchecked_cast", out); return;
	case OP_OBJ_NEW: fputs("prim::CreateObject", out); return;
	case OP_OBJ_SET:   /* PyTorch's SetAttr changes the object; kiln makes a new record */
		fputs("kiln::obj_set[name=", out);
		print_str(out, n->a.name.name ? n->a.name.name : "");
		fputc(']', out);
		return;
	default: fprintf(out, "kiln::%s", op_name(n->op)); return;
	}
}

static void indent_to(FILE *out, int n)
{
	fprintf(out, "%*s", n, "");
}

/* Values the node needs that the IR does not hold: None for absent inputs, the Function
 * constant of a call. They are named after the node. */
static void print_prelude(FILE *out, struct ir_module *m, uint32_t id, int indent)
{
	const struct ir_node *n = ir_node(m, id);
	if (n->op == OP_CALL_FUNC) {
		indent_to(out, indent);
		fprintf(out, "%%fn.n%" PRIu32 " : Function = prim::Constant[name=", id);
		print_str(out, n->a.call.name ? n->a.call.name : "");
		fputs("]()\n", out);
	}
	for (int i = 0; i < n->nin; i++)
		if (n->in[i] == IR_NONE) {
			indent_to(out, indent);
			fprintf(out, "%%none.n%" PRIu32 "_%d : NoneType = prim::Constant()\n", id, i);
		}
}

static void print_block(FILE *out, struct ir_module *m, struct ir_block *b, int k, int indent)
{
	indent_to(out, indent);
	fprintf(out, "block%d(", k);
	for (int i = 0; i < b->nparams; i++) {
		fputs(i ? ", " : "", out);
		print_decl(out, m, b->params[i]);
	}
	fputs("):\n", out);
	print_nodes(out, m, b, indent + 2);
	indent_to(out, indent + 2);
	fputs("-> (", out);
	for (int i = 0; i < b->nrets; i++) {
		fputs(i ? ", " : "", out);
		print_name(out, m, b->rets[i]);
	}
	fputs(")\n", out);
}

/* node := [decls] ' = ' head '(' refs ')' [', scope: '] [' # ' loc] '\n' {block} */
static void print_node(FILE *out, struct ir_module *m, uint32_t id, int indent)
{
	print_prelude(out, m, id, indent);
	const struct ir_node *n = ir_node(m, id);
	indent_to(out, indent);
	for (int i = 0; i < n->nout; i++) {
		fputs(i ? ", " : "", out);
		print_decl(out, m, n->out[i]);
	}
	fputs(n->nout ? " = " : " = ", out);
	print_head(out, m, n);
	fputc('(', out);
	int first = 1;
	if (n->op == OP_CALL_FUNC) {
		fprintf(out, "%%fn.n%" PRIu32, id);
		first = 0;
	}
	for (int i = 0; i < n->nin; i++) {
		fputs(first ? "" : ", ", out);
		first = 0;
		if (n->in[i] == IR_NONE)
			fprintf(out, "%%none.n%" PRIu32 "_%d", id, i);
		else
			print_name(out, m, n->in[i]);
	}
	fputc(')', out);
	if (n->scope)
		fprintf(out, ", scope: __module.%s", n->scope);
	if (n->loc.file && n->loc.line > 0)
		fprintf(out, " # %s:%d:%d", n->loc.file, n->loc.line, n->loc.col);
	fputc('\n', out);
	for (int k = 0; k < n->nblocks; k++)
		print_block(out, m, n->blocks[k], k, indent + 2);
}

static void print_nodes(FILE *out, struct ir_module *m, struct ir_block *b, int indent)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		uint32_t id = VEC_AT(&b->nodes, uint32_t, i);
		if (!ir_node(m, id)->dead)
			print_node(out, m, id, indent);
	}
}

void ts_graph_print(FILE *out, struct ir_module *m, uint32_t f, int indent)
{
	struct ir_func *fn = VEC_AT(&m->funcs, struct ir_func *, f);
	struct ir_block *b = fn->body;
	indent_to(out, indent);
	fputs("graph(", out);
	for (int i = 0; i < b->nparams; i++) {
		if (i) {
			fputs(",\n", out);
			indent_to(out, indent + 6);
		}
		print_decl(out, m, b->params[i]);
	}
	fputs("):\n", out);
	print_nodes(out, m, b, indent + 2);
	indent_to(out, indent + 2);
	fputs("return (", out);
	for (int i = 0; i < b->nrets; i++) {
		fputs(i ? ", " : "", out);
		print_name(out, m, b->rets[i]);
	}
	fputs(")\n", out);
}

/* ---- dump_torchscript_IR ---- */

static const char *leaf(const char *qualname)
{
	const char *dot = strrchr(qualname, '.');
	return dot ? dot + 1 : qualname;
}

/* An attribute value as dump_to_str(attrs=True) shows it, roughly. */
static void print_attr_value(FILE *out, const struct pv *p)
{
	switch (p->kind) {
	case PV_NONE: fputs("None", out); break;
	case PV_BOOL: fputs(p->u.b ? "True" : "False", out); break;
	case PV_INT: fprintf(out, "%" PRId64, p->u.i); break;
	case PV_FLOAT: print_float(out, p->u.f); break;
	case PV_STR: print_str(out, p->u.str.s); break;
	case PV_OBJECT: fprintf(out, "<%s object>", p->u.obj.qualname); break;
	case PV_TENSOR: fputs("...", out); break;
	default: fprintf(out, "<%s>", pv_kind_name(p->kind)); break;
	}
}

/* module <qualname> { parameters {} attributes {} methods {} submodules {} } */
static void print_module(FILE *out, struct ir_module *m, const struct pv *obj, int indent,
                         int depth)
{
	const char *q = obj->u.obj.qualname;
	indent_to(out, indent);
	fprintf(out, "module %s {\n", q);
	indent_to(out, indent + 2);
	fputs("parameters {\n", out);
	for (size_t i = 0; i < obj->u.obj.n; i++)
		if (obj->u.obj.vals[i]->kind == PV_TENSOR) {
			indent_to(out, indent + 4);
			fprintf(out, "%s = ...\n", obj->u.obj.names[i]);
		}
	indent_to(out, indent + 2);
	fputs("}\n", out);
	indent_to(out, indent + 2);
	fputs("attributes {\n", out);
	for (size_t i = 0; i < obj->u.obj.n; i++) {
		indent_to(out, indent + 4);
		fprintf(out, "%s = ", obj->u.obj.names[i]);
		print_attr_value(out, obj->u.obj.vals[i]);
		fputc('\n', out);
	}
	indent_to(out, indent + 2);
	fputs("}\n", out);
	indent_to(out, indent + 2);
	fputs("methods {\n", out);
	for (size_t f = 0; f < m->funcs.len; f++) {
		struct ir_func *fn = VEC_AT(&m->funcs, struct ir_func *, f);
		if (!fn->qualname || strcmp(fn->qualname, q) != 0)
			continue;
		const char *dot = strchr(fn->name, '.');
		indent_to(out, indent + 4);
		fprintf(out, "method %s {\n", dot ? dot + 1 : fn->name);
		ts_graph_print(out, m, (uint32_t)f, indent + 6);
		indent_to(out, indent + 2);
		fputs("\n", out);
		indent_to(out, indent + 4);
		fputs("}\n", out);
	}
	indent_to(out, indent + 2);
	fputs("}\n", out);
	indent_to(out, indent + 2);
	fputs("submodules {\n", out);
	for (size_t i = 0; i < obj->u.obj.n && depth < MAX_DEPTH; i++)
		if (obj->u.obj.vals[i]->kind == PV_OBJECT)
			print_module(out, m, obj->u.obj.vals[i], indent + 4, depth + 1);
	indent_to(out, indent + 2);
	fputs("}\n", out);
	indent_to(out, indent);
	fputs("}\n", out);
}

/* str(model) of a loaded script module: RecursiveScriptModule(original_name=... (child): ...) */
static void print_tree(FILE *out, const struct pv *obj, int indent, int depth)
{
	int nchild = 0;
	for (size_t i = 0; i < obj->u.obj.n; i++)
		nchild += obj->u.obj.vals[i]->kind == PV_OBJECT;
	if (!nchild || depth >= MAX_DEPTH) {
		fprintf(out, "RecursiveScriptModule(original_name=%s)", leaf(obj->u.obj.qualname));
		return;
	}
	fputs("RecursiveScriptModule(\n", out);
	indent_to(out, indent + 2);
	fprintf(out, "original_name=%s\n", leaf(obj->u.obj.qualname));
	for (size_t i = 0; i < obj->u.obj.n; i++) {
		if (obj->u.obj.vals[i]->kind != PV_OBJECT)
			continue;
		indent_to(out, indent + 2);
		fprintf(out, "(%s): ", obj->u.obj.names[i]);
		print_tree(out, obj->u.obj.vals[i], indent + 2, depth + 1);
		fputc('\n', out);
	}
	indent_to(out, indent);
	fputc(')', out);
}

static FILE *open_in(struct kiln_ctx *ctx, const char *dir, const char *name)
{
	const char *path = arena_printf(&ctx->arena, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		fatal("cannot write %s:", path);
	return f;
}

void ts_dump_ir(struct kiln_ctx *ctx, const char *pt_path, const char *dir)
{
	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		fatal("cannot create %s:", dir);
	FILE *f = open_in(ctx, dir, "model_ts_code.txt");
	ts_dump_code(ctx, pt_path, f);
	fclose(f);
	struct ir_module *m = ts_load(ctx, pt_path);
	const struct pv *root = m->root;
	f = open_in(ctx, dir, "model_ts_IR.txt");
	print_module(f, m, root, 0, 0);
	fclose(f);
	f = open_in(ctx, dir, "model.txt");
	print_tree(f, root, 0, 0);
	fputc('\n', f);
	fclose(f);
	inline_calls(m);
	f = open_in(ctx, dir, "model_ts_IR_inlined.txt");
	ts_graph_print(f, m, m->main, 0);
	fclose(f);
}
