/* ts_graph.c: TorchScript IR text (graph dumps) → IR.
 *
 * Reads what `print(m.graph)`, `m.inlined_graph`, `torch.jit.freeze(m).graph` and
 * `m._c.dump_to_str(True, False, False)` (detectron2's model_ts_IR.txt) write; grammar in
 * reference/torchscript-format.md §4. Two phases:
 *
 *   parse   text → a tree of graphs, nodes, blocks, typed declarations and attributes
 *           (struct g_*), every piece with its position in the text;
 *   lower   tree → IR of the shape ts_lower.c produces: ATEN nodes whose inputs are the
 *           schema's arguments in order (IR text is positional already; omitted trailing
 *           defaults are filled), GETATTR/CALL_METHOD on objects, IF/LOOP with TorchScript's
 *           block conventions, constants. The passes then inline, freeze and canonicalize
 *           as for an archive.
 *
 * Weights come from the matching archive: `self` is its data.pkl root (GETATTR chains are
 * frozen by passes/freeze.c); frozen graphs' `%self.fc.weight` constants are looked up by
 * that attribute path, `%CONSTANTS.c3` in constants.pkl, other `<Tensor>` placeholders in
 * constants.pkl by element type and shape. Callees of prim::CallMethod come from the
 * file's `methods {}` sections; when the file has none (a plain `m.graph`), or for
 * prim::CallFunction, the archive's code is lowered (ts_load) and its functions called.
 *
 * In-place operators and aten::append are made functional as ts_lower.c does: later reads
 * of the mutated value read the result. A value that a nested block mutates (a tensor by an
 * in-place operator, a list by append, a user-class object by SetAttr or a call) is carried
 * out of the block as the objects of ts_lower.c are: a LOOP carries it, an IF merges it when
 * it is read after the IF.
 *
 * kiln's own dumps (ts_graph_print.c) are explicit where PyTorch's mutate: a record changed
 * by `%r = kiln::obj_set[name="f"](%obj, %v)`, calls with one more output per object they
 * change, methods returning those objects after their result, IF/LOOP carrying them. These
 * read back as they were written.
 *
 * Diagnostics are `path:line:col: error: ...` at the text position; nodes keep their
 * `# file:line:col` source comment (or, without one, their text position) as location
 * and their `scope:` as scope. Nesting of blocks, types and modules is bounded.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "aten.h"
#include "pt.h"

#define MAX_DEPTH 64 /* blocks, types, modules, calls */

/* ---- parse tree ---- */

/* A type from the text: what kiln records of it. */
struct g_type {
	enum vkind kind;              /* VK_ANY for types kiln does not model */
	const struct ir_type *type;   /* containers, classes; else NULL */
	enum dtype dtype;             /* tensors: from Float(...) etc., else DT_UNKNOWN */
	struct ir_shape shape;        /* tensors: rank -1 unless all sizes are printed */
	int optional;                 /* written T? */
	int function;                 /* the type `Function` */
};

/* `%name : type` */
struct g_decl {
	const char *name;             /* without '%' */
	struct g_type t;
	struct loc at;                /* text position */
};

/* A use `%name`. */
struct g_ref {
	const char *name;
	struct loc at;
};

enum g_akind { GA_INT, GA_FLOAT, GA_STR, GA_LIST, GA_TENSOR, GA_TENSOR_REF, GA_OTHER };

/* `key=value` in a node's brackets. */
struct g_attr {
	const char *key;
	enum g_akind kind;
	int64_t i;                    /* GA_INT */
	double f;                     /* GA_FLOAT */
	const char *s;                /* GA_STR; GA_OTHER: the raw text */
	int n;                        /* GA_LIST, GA_TENSOR: element count */
	double *nums;                 /* their values */
	int64_t *ints;                /* GA_LIST of ints: exact values */
	int isfloat;                  /* some element is written as a float */
	enum dtype dtype;             /* GA_TENSOR: from "[ CPUFloatType{..} ]", else DT_UNKNOWN */
	struct ir_shape shape;        /* GA_TENSOR: rank -1 when not printed ({0.5}: rank 0) */
	struct loc at;
};

struct g_block;

struct g_node {
	struct loc at;                /* text position of the line */
	struct loc src;               /* `# file:line:col`, file NULL when absent or empty */
	const char *scope;            /* kiln form: "layer1.0.conv1"; NULL */
	const char *kind;             /* "aten::add" */
	int nout;
	struct g_decl *outs;
	int nattrs;
	struct g_attr *attrs;
	int nin;
	struct g_ref *ins;
	int nblocks;
	struct g_block *blocks;
};

struct g_block {
	int nparams;
	struct g_decl *params;
	struct vec nodes;             /* struct g_node * */
	int nrets;
	struct g_ref *rets;
	struct loc at;
};

/* One graph: a standalone `graph(...)` or a method of a `module {}` section. */
struct g_graph {
	const char *qualname;         /* class of the method; NULL for a standalone graph */
	const char *method;           /* "forward"; NULL for a standalone graph */
	struct g_block body;
	struct loc at;
	int state;                    /* 0 not lowered, 1 lowering, 2 lowered */
	uint32_t func;                /* index in m->funcs once lowered */
};

/* The parser: a cursor over the NUL-terminated text. */
struct gp {
	struct kiln_ctx *ctx;
	const char *path;
	const char *p;                /* next character */
	const char *bol;              /* start of the current line */
	int line;                     /* 1-based */
	int depth;                    /* nesting of blocks / types / modules */
	int nmodules;                 /* `module` sections seen */
	struct vec graphs;            /* struct g_graph * in text order */
};

/* ---- lexing ---- */

static struct loc here(struct gp *g)
{
	return (struct loc){.file = g->path, .line = g->line, .col = (int)(g->p - g->bol) + 1};
}

static _Noreturn void perr(struct gp *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void perr(struct gp *g, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	diag_error(g->ctx, here(g), "%s", buf);
}

/* What the cursor is looking at, for messages: "'x'", "end of line", "end of file". */
static const char *seen(struct gp *g)
{
	if (!*g->p)
		return "end of file";
	if (*g->p == '\n' || *g->p == '\r')
		return "end of line";
	size_t n = 0;
	while (g->p[n] && !isspace((unsigned char)g->p[n]) && n < 20)
		n++;
	return arena_printf(&g->ctx->arena, "'%.*s'", (int)n, g->p);
}

static void adv(struct gp *g, size_t n)
{
	for (; n && *g->p; n--, g->p++)
		if (*g->p == '\n') {
			g->line++;
			g->bol = g->p + 1;
		}
}

static void skip_sp(struct gp *g)
{
	while (*g->p == ' ' || *g->p == '\t')
		g->p++;
}

static void skip_ws(struct gp *g)
{
	while (*g->p && isspace((unsigned char)*g->p))
		adv(g, 1);
}

static int starts(struct gp *g, const char *lit)
{
	return strncmp(g->p, lit, strlen(lit)) == 0;
}

static int accept(struct gp *g, const char *lit)
{
	if (!starts(g, lit))
		return 0;
	adv(g, strlen(lit));
	return 1;
}

static void expect(struct gp *g, const char *lit)
{
	if (!accept(g, lit))
		perr(g, "expected '%s', found %s", lit, seen(g));
}

/* End of line (after blanks and an optional '\r'), or end of file. */
static void expect_eol(struct gp *g)
{
	skip_sp(g);
	if (*g->p == '\r')
		g->p++;
	if (*g->p && *g->p != '\n')
		perr(g, "unexpected %s at the end of the line", seen(g));
	adv(g, 1);
}

static int name_char(int c)
{
	return isalnum(c) || c == '_' || c == '.';
}

/* NAME := [A-Za-z0-9_.]+ */
static const char *name_tok(struct gp *g, const char *what)
{
	const char *s = g->p;
	while (name_char((unsigned char)*g->p))
		g->p++;
	if (g->p == s)
		perr(g, "expected %s, found %s", what, seen(g));
	return arena_strndup(&g->ctx->arena, s, (size_t)(g->p - s));
}

/* ref := '%' NAME */
static struct g_ref ref_tok(struct gp *g)
{
	struct g_ref r = {.at = here(g)};
	if (*g->p != '%')
		perr(g, "expected a value like '%%x.1', found %s", seen(g));
	g->p++;
	r.name = name_tok(g, "a value name after '%'");
	return r;
}

/* STRING := '"' chars '"' with C escapes (\n \t \\ \" \' \xNN \NNN). */
static const char *string_tok(struct gp *g)
{
	struct loc at = here(g);
	struct vec buf = {0};
	expect(g, "\"");
	while (*g->p != '"') {
		char c = *g->p;
		if (!c || c == '\n')
			diag_error(g->ctx, at, "unterminated string");
		g->p++;
		if (c == '\\') {
			char e = *g->p++;
			switch (e) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
				int v = e - '0';
				for (int k = 0; k < 2 && *g->p >= '0' && *g->p <= '7'; k++)
					v = v * 8 + (*g->p++ - '0');
				c = (char)v;
				break;
			}
			case 'x': {
				int v = 0;
				for (int k = 0; k < 2 && isxdigit((unsigned char)*g->p); k++, g->p++)
					v = v * 16 + (isdigit((unsigned char)*g->p) ? *g->p - '0'
					                                             : tolower(*g->p) - 'a' + 10);
				c = (char)v;
				break;
			}
			case '\0': case '\n': diag_error(g->ctx, at, "unterminated string");
			default: c = e; break; /* \\ \" \' and anything else: the character */
			}
		}
		VEC_PUSH(&g->ctx->arena, &buf, char, c);
	}
	g->p++;
	VEC_PUSH(&g->ctx->arena, &buf, char, 0);
	return buf.data;
}

/* A number: [+-] digits [. digits] [e [+-] digits] | [+-] inf | nan. *isfloat is set for
 * anything but a plain integer. Returns 0 (and moves nothing) if there is none. */
static int number_tok(struct gp *g, double *f, int64_t *i, int *isfloat)
{
	const char *s = g->p, *q = s;
	if (*q == '-' || *q == '+')
		q++;
	if (strncmp(q, "inf", 3) == 0 || strncmp(q, "nan", 3) == 0) {
		*f = q[0] == 'i' ? (s[0] == '-' ? -INFINITY : INFINITY) : NAN;
		*isfloat = 1;
		g->p = q + 3;
		return 1;
	}
	if (!isdigit((unsigned char)*q) && !(*q == '.' && isdigit((unsigned char)q[1])))
		return 0;
	char *end;
	*f = strtod(s, &end);
	const char *e = s;
	while (e < end && *e != '.' && *e != 'e' && *e != 'E')
		e++;
	*isfloat = e < end;
	if (!*isfloat)
		*i = strtoll(s, NULL, 10);
	g->p = end;
	return 1;
}

/* ---- types ---- */

static struct ir_type *new_type(struct gp *g, enum vkind k, int nelem)
{
	struct ir_type *t = arena_alloc(&g->ctx->arena, sizeof *t);
	t->kind = k;
	t->nelem = nelem;
	t->elem = arena_alloc(&g->ctx->arena, sizeof *t->elem * (size_t)(nelem + 1));
	return t;
}

/* The ir_type for a parsed type (scalars get one too, for container elements). */
static const struct ir_type *as_ir_type(struct gp *g, const struct g_type *t)
{
	if (t->type)
		return t->type;
	struct ir_type *r = new_type(g, t->kind, 0);
	r->dtype = t->dtype;
	return r;
}

static enum dtype scalar_type_dtype(const char *s, size_t n)
{
	static const struct { const char *name; enum dtype dt; } names[] = {
		{"Float", DT_F32}, {"Double", DT_F64}, {"Half", DT_F16}, {"BFloat16", DT_BF16},
		{"Long", DT_I64}, {"Int", DT_I32}, {"Short", DT_I16}, {"Char", DT_I8},
		{"Byte", DT_U8}, {"Bool", DT_BOOL},
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (strlen(names[i].name) == n && strncmp(names[i].name, s, n) == 0)
			return names[i].dt;
	return DT_UNKNOWN;
}

static int is_scalar_type_name(const char *s)
{
	static const char *const names[] = {
		"Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool",
		"ComplexFloat", "ComplexDouble", "ComplexHalf", "QInt8", "QUInt8", "QInt32",
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (strcmp(s, names[i]) == 0)
			return 1;
	return 0;
}

/* Skip a balanced parenthesized group (types kiln does not model). */
static void skip_group(struct gp *g)
{
	int depth = 0;
	do {
		if (!*g->p || *g->p == '\n')
			perr(g, "unbalanced parentheses in a type");
		depth += (*g->p == '(') - (*g->p == ')');
		g->p++;
	} while (depth > 0);
}

static struct g_type parse_type(struct gp *g);

/* Float(2, *, 4, strides=[4, 1], requires_grad=0, device=cpu): sizes, then key=value. */
static void tensor_sizes(struct gp *g, struct g_type *t)
{
	int known = 1;
	t->shape.rank = 0;
	expect(g, "(");
	skip_sp(g);
	while (*g->p != ')') {
		if (*g->p == '*') {
			g->p++;
			known = 0;
			if (t->shape.rank >= KILN_MAX_RANK)
				perr(g, "tensor types of rank above %d are not supported", KILN_MAX_RANK);
			t->shape.dims[t->shape.rank++] = -1;
		} else if (isdigit((unsigned char)*g->p)) {
			if (t->shape.rank >= KILN_MAX_RANK)
				perr(g, "tensor types of rank above %d are not supported", KILN_MAX_RANK);
			t->shape.dims[t->shape.rank++] = strtoll(g->p, (char **)&g->p, 10);
		} else {
			name_tok(g, "a size or 'key='");
			expect(g, "=");
			int depth = 0; /* the value: up to ',' or ')' at depth 0 */
			while (*g->p && *g->p != '\n' && (depth || (*g->p != ',' && *g->p != ')'))) {
				depth += (*g->p == '[') - (*g->p == ']');
				g->p++;
			}
		}
		skip_sp(g);
		if (!accept(g, ","))
			break;
		skip_sp(g);
	}
	expect(g, ")");
	if (!known)
		t->shape.rank = -1;
}

/* (T1, T2, ...) / Dict(K, V) / NamedTuple(a : T, ...) element lists. */
static struct ir_type *type_list(struct gp *g, enum vkind k, int named)
{
	struct g_type items[64];
	int n = 0;
	expect(g, "(");
	skip_sp(g);
	while (*g->p != ')') {
		if (n == 64)
			perr(g, "more than 64 element types");
		if (named) {
			name_tok(g, "a field name");
			skip_sp(g);
			expect(g, ":");
			skip_sp(g);
		}
		items[n++] = parse_type(g);
		skip_sp(g);
		if (!accept(g, ","))
			break;
		skip_sp(g);
	}
	expect(g, ")");
	struct ir_type *t = new_type(g, k, n);
	for (int i = 0; i < n; i++)
		t->elem[i] = as_ir_type(g, &items[i]);
	return t;
}

/* type := base { '[]' | '?' }   (grammar: reference/torchscript-format.md §4.2) */
static struct g_type parse_type(struct gp *g)
{
	struct g_type t = {.kind = VK_ANY, .shape = {.rank = -1}};
	if (++g->depth > MAX_DEPTH)
		perr(g, "types nest more than %d deep", MAX_DEPTH);
	if (*g->p == '(') {
		t.kind = VK_TUPLE;
		t.type = type_list(g, VK_TUPLE, 0);
	} else {
		const char *s = g->p;
		const char *id = name_tok(g, "a type");
		static const struct { const char *name; enum vkind k; } simple[] = {
			{"Tensor", VK_TENSOR}, {"int", VK_INT}, {"float", VK_FLOAT}, {"bool", VK_BOOL},
			{"str", VK_STR}, {"NoneType", VK_NONE}, {"Device", VK_DEVICE},
			{"ScalarType", VK_INT}, {"Layout", VK_INT}, {"MemoryFormat", VK_INT},
		};
		for (size_t i = 0; i < sizeof simple / sizeof *simple; i++)
			if (strcmp(id, simple[i].name) == 0)
				t.kind = simple[i].k;
		if (strcmp(id, "Function") == 0) {
			t.function = 1;
		} else if (is_scalar_type_name(id)) {
			t.kind = VK_TENSOR;
			t.dtype = scalar_type_dtype(s, (size_t)(g->p - s));
			if (*g->p == '(')
				tensor_sizes(g, &t);
		} else if (strcmp(id, "Dict") == 0 && *g->p == '(') {
			t.kind = VK_DICT;
			t.type = type_list(g, VK_DICT, 0);
		} else if (strcmp(id, "NamedTuple") == 0 && *g->p == '(') {
			t.kind = VK_TUPLE;
			t.type = type_list(g, VK_TUPLE, 1);
		} else if (strncmp(id, "__torch__.", 10) == 0) {
			struct ir_type *o = new_type(g, VK_OBJECT, 0);
			o->qualname = id;
			t.kind = VK_OBJECT;
			t.type = o;
		} else if (*g->p == '(') {
			skip_group(g); /* Future(int), Union(...), ...: kiln does not model them */
		}
	}
	for (;;) {
		if (accept(g, "[]")) {
			struct ir_type *l = new_type(g, VK_LIST, 1);
			l->elem[0] = as_ir_type(g, &t);
			t = (struct g_type){.kind = VK_LIST, .type = l, .shape = {.rank = -1}};
		} else if (accept(g, "?")) {
			t.optional = 1;
		} else {
			break;
		}
	}
	g->depth--;
	return t;
}

/* decl := ref ' : ' type */
static struct g_decl parse_decl(struct gp *g)
{
	struct g_ref r = ref_tok(g);
	skip_sp(g);
	expect(g, ":");
	skip_sp(g);
	return (struct g_decl){r.name, parse_type(g), r.at};
}

/* decl {',' decl} up to `close` (not consumed); newlines allowed between. */
static struct g_decl *parse_decls(struct gp *g, const char *close, int *n)
{
	struct vec v = {0};
	skip_ws(g);
	while (!starts(g, close)) {
		VEC_PUSH(&g->ctx->arena, &v, struct g_decl, parse_decl(g));
		skip_ws(g);
		if (!accept(g, ","))
			break;
		skip_ws(g);
	}
	*n = (int)v.len;
	return v.data;
}

/* refs := [ref {',' ref}] up to ')' (consumed). */
static struct g_ref *parse_refs(struct gp *g, int *n)
{
	struct vec v = {0};
	skip_sp(g);
	while (*g->p != ')') {
		VEC_PUSH(&g->ctx->arena, &v, struct g_ref, ref_tok(g));
		skip_sp(g);
		if (!accept(g, ","))
			break;
		skip_sp(g);
	}
	expect(g, ")");
	*n = (int)v.len;
	return v.data;
}

/* ---- attributes ---- */

/* "[ CPUFloatType{2,3} ]" after a printed tensor's numbers. */
static void tensor_type_suffix(struct gp *g, struct g_attr *a)
{
	expect(g, "[");
	skip_sp(g);
	const char *s = g->p;
	while (isalnum((unsigned char)*g->p))
		g->p++;
	const char *t = s, *e = g->p;
	if (strncmp(t, "CPU", 3) == 0)
		t += 3;
	else if (strncmp(t, "CUDA", 4) == 0)
		t += 4;
	if (e - t > 4 && strncmp(e - 4, "Type", 4) == 0)
		e -= 4;
	a->dtype = scalar_type_dtype(t, (size_t)(e - t));
	if (!a->dtype)
		perr(g, "unsupported tensor element type '%.*s'", (int)(e - t), t);
	a->shape.rank = 0;
	expect(g, "{");
	while (isdigit((unsigned char)*g->p)) {
		if (a->shape.rank >= KILN_MAX_RANK)
			perr(g, "tensor constants of rank above %d are not supported", KILN_MAX_RANK);
		a->shape.dims[a->shape.rank++] = strtoll(g->p, (char **)&g->p, 10);
		skip_sp(g);
		accept(g, ",");
		skip_sp(g);
	}
	expect(g, "}");
	skip_sp(g);
	expect(g, "]");
}

/* A printed tensor: [SCALE '*'] NUM {NUM} '[ CPUxType{dims} ]' (first number read). */
static void tensor_print(struct gp *g, struct g_attr *a, double first)
{
	struct vec nums = {0};
	double scale = 1, f;
	int64_t i;
	int fl;
	VEC_PUSH(&g->ctx->arena, &nums, double, first);
	for (;;) {
		skip_sp(g);
		if (accept(g, "*")) {
			if (nums.len != 1)
				perr(g, "unexpected '*' in a tensor constant");
			scale = first;
			nums.len = 0;
			continue;
		}
		if (!number_tok(g, &f, &i, &fl))
			break;
		VEC_PUSH(&g->ctx->arena, &nums, double, f);
	}
	tensor_type_suffix(g, a);
	a->kind = GA_TENSOR;
	a->n = (int)nums.len;
	a->nums = nums.data;
	for (int k = 0; k < a->n; k++)
		a->nums[k] *= scale;
}

/* [NUM {',' NUM}] after '['; GA_OTHER for lists of anything else. */
static void attr_list(struct gp *g, struct g_attr *a)
{
	struct vec nums = {0}, ints = {0};
	double f;
	int64_t i;
	int fl;
	const char *start = g->p;
	expect(g, "[");
	skip_sp(g);
	while (*g->p != ']') {
		if (!number_tok(g, &f, &i, &fl)) {
			int depth = 1; /* not numbers: keep the raw text */
			g->p = start + 1;
			while (*g->p && *g->p != '\n' && depth) {
				if (*g->p == '"')
					string_tok(g);
				else
					depth += (*g->p == '[') - (*g->p == ']'), g->p++;
			}
			a->kind = GA_OTHER;
			a->s = arena_strndup(&g->ctx->arena, start, (size_t)(g->p - start));
			return;
		}
		a->isfloat |= fl;
		VEC_PUSH(&g->ctx->arena, &nums, double, f);
		VEC_PUSH(&g->ctx->arena, &ints, int64_t, fl ? 0 : i);
		skip_sp(g);
		if (!accept(g, ","))
			break;
		skip_sp(g);
	}
	expect(g, "]");
	a->kind = GA_LIST;
	a->n = (int)nums.len;
	a->nums = nums.data;
	a->ints = ints.data;
}

/* attr := key '=' value   (values: §4.3) */
static struct g_attr parse_attr(struct gp *g)
{
	struct g_attr a = {.at = here(g), .shape = {.rank = -1}};
	a.key = name_tok(g, "an attribute name");
	expect(g, "=");
	double f;
	int64_t i;
	int fl;
	if (*g->p == '"') {
		a.kind = GA_STR;
		a.s = string_tok(g);
	} else if (*g->p == '<') {
		const char *s = g->p;
		while (*g->p && *g->p != '>' && *g->p != '\n')
			g->p++;
		expect(g, ">");
		a.s = arena_strndup(&g->ctx->arena, s, (size_t)(g->p - s));
		a.kind = strcmp(a.s, "<Tensor>") == 0 ? GA_TENSOR_REF : GA_OTHER;
	} else if (*g->p == '{') {
		g->p++;
		skip_sp(g);
		if (!number_tok(g, &f, &i, &fl))
			perr(g, "expected a number in '{...}', found %s", seen(g));
		skip_sp(g);
		expect(g, "}");
		a.kind = GA_TENSOR;
		a.n = 1;
		a.nums = arena_alloc(&g->ctx->arena, sizeof *a.nums);
		a.nums[0] = f;
		a.isfloat = fl;
		a.shape.rank = 0;
	} else if (*g->p == '[') {
		attr_list(g, &a);
	} else {
		skip_sp(g);
		if (number_tok(g, &f, &i, &fl)) {
			const char *save = g->p;
			skip_sp(g);
			if (*g->p == ']' || *g->p == ',') {
				g->p = save;
				a.kind = fl ? GA_FLOAT : GA_INT;
				a.f = f;
				a.i = i;
			} else {
				tensor_print(g, &a, f);
			}
		} else if (accept(g, "annotate(")) {
			int depth = 0; /* annotate(List[int], [...]): the list */
			while (*g->p && *g->p != '\n' && (depth || *g->p != ','))
				depth += (*g->p == '[') - (*g->p == ']'), g->p++;
			expect(g, ",");
			skip_sp(g);
			attr_list(g, &a);
			skip_sp(g);
			expect(g, ")");
		} else {
			const char *s = g->p;
			int depth = 0;
			while (*g->p && *g->p != '\n' && (depth || (*g->p != ',' && *g->p != ']'))) {
				depth += (*g->p == '(' || *g->p == '[') - (*g->p == ')' || *g->p == ']');
				g->p++;
			}
			if (g->p == s)
				perr(g, "expected a value for attribute '%s', found %s", a.key, seen(g));
			a.kind = GA_OTHER;
			a.s = arena_strndup(&g->ctx->arena, s, (size_t)(g->p - s));
		}
	}
	return a;
}

/* ---- nodes, blocks, graphs ---- */

static struct g_node *parse_node(struct gp *g);

/* "__module.a/__module.a.0" -> "a.0" (the innermost module's path). */
static const char *kiln_scope(struct gp *g, const char *s, size_t n)
{
	const char *last = s;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/')
			last = s + i + 1;
	n -= (size_t)(last - s);
	if (n >= 9 && strncmp(last, "__module.", 9) == 0)
		last += 9, n -= 9;
	return n ? arena_strndup(&g->ctx->arena, last, n) : NULL;
}

/* "# file:line:col" (the rest of the line); a file of ":0:0" is no location. */
static struct loc source_comment(struct gp *g)
{
	const char *s = g->p;
	while (*g->p && *g->p != '\n' && *g->p != '\r')
		g->p++;
	const char *e = g->p;
	while (e > s && e[-1] == ' ')
		e--;
	const char *c2 = e, *c1;
	while (c2 > s && c2[-1] != ':')
		c2--;
	if (c2 == s)
		return (struct loc){0};
	c1 = c2 - 1;
	while (c1 > s && c1[-1] != ':')
		c1--;
	if (c1 == s)
		return (struct loc){0};
	struct loc l = {.line = atoi(c1), .col = atoi(c2)};
	if (c1 - 1 > s && l.line > 0)
		l.file = arena_strndup(&g->ctx->arena, s, (size_t)(c1 - 1 - s));
	return l;
}

/* blockN(params): nodes '->' '(' refs ')' */
static void parse_block(struct gp *g, struct g_block *b)
{
	b->at = here(g);
	expect(g, "block");
	while (isdigit((unsigned char)*g->p))
		g->p++;
	expect(g, "(");
	b->params = parse_decls(g, ")", &b->nparams);
	expect(g, ")");
	expect(g, ":");
	expect_eol(g);
	for (;;) {
		skip_ws(g);
		if (accept(g, "->"))
			break;
		if (!*g->p)
			perr(g, "unexpected end of file in a block (missing '-> (...)')");
		if (starts(g, "return") || starts(g, "block"))
			perr(g, "expected a node or '-> (...)' ending the block, found %s", seen(g));
		VEC_PUSH(&g->ctx->arena, &b->nodes, struct g_node *, parse_node(g));
	}
	skip_sp(g);
	expect(g, "(");
	b->rets = parse_refs(g, &b->nrets);
	expect_eol(g);
}

/* node := [decl {',' decl}] '=' kind ['[' attrs ']'] '(' refs ')' [', scope: ' S] ['#' loc]
 *         {block} */
static struct g_node *parse_node(struct gp *g)
{
	struct g_node *n = arena_alloc(&g->ctx->arena, sizeof *n);
	n->at = here(g);
	if (*g->p == '%') {
		struct vec outs = {0};
		for (;;) {
			VEC_PUSH(&g->ctx->arena, &outs, struct g_decl, parse_decl(g));
			skip_sp(g);
			if (!accept(g, ","))
				break;
			skip_sp(g);
		}
		n->outs = outs.data;
		n->nout = (int)outs.len;
	}
	if (!accept(g, "="))
		perr(g, "expected '%%value : type = ...' or '= ...', found %s", seen(g));
	skip_sp(g);
	if (*g->p == '^')
		perr(g, "Python operators ('^...') cannot be compiled");
	const char *s = g->p;
	while (name_char((unsigned char)*g->p) || *g->p == ':')
		g->p++;
	n->kind = arena_strndup(&g->ctx->arena, s, (size_t)(g->p - s));
	if (!strstr(n->kind, "::"))
		diag_error(g->ctx, (struct loc){g->path, g->line, (int)(s - g->bol) + 1, NULL},
		           "expected an operator like 'aten::add', found %s", n->kind[0] ? n->kind : seen(g));
	if (accept(g, "[")) {
		struct vec attrs = {0};
		do {
			skip_sp(g);
			VEC_PUSH(&g->ctx->arena, &attrs, struct g_attr, parse_attr(g));
			skip_sp(g);
		} while (accept(g, ","));
		expect(g, "]");
		n->attrs = attrs.data;
		n->nattrs = (int)attrs.len;
	}
	expect(g, "(");
	n->ins = parse_refs(g, &n->nin);
	skip_sp(g);
	if (accept(g, ", scope: ")) {
		const char *sc = g->p;
		while (*g->p && *g->p != '\n' && *g->p != ' ' && *g->p != '\r')
			g->p++;
		n->scope = kiln_scope(g, sc, (size_t)(g->p - sc));
	}
	skip_sp(g);
	if (accept(g, "#")) {
		skip_sp(g);
		n->src = source_comment(g);
	}
	expect_eol(g);
	if (++g->depth > MAX_DEPTH)
		perr(g, "blocks nest more than %d deep", MAX_DEPTH);
	struct vec blocks = {0};
	for (;;) {
		const char *save = g->p, *bol = g->bol;
		int line = g->line;
		skip_ws(g);
		if (!starts(g, "block")) {
			g->p = save, g->bol = bol, g->line = line;
			break;
		}
		struct g_block b = {0};
		parse_block(g, &b);
		VEC_PUSH(&g->ctx->arena, &blocks, struct g_block, b);
	}
	g->depth--;
	n->blocks = blocks.data;
	n->nblocks = (int)blocks.len;
	return n;
}

/* graph := 'graph(' decls '):' nodes 'return' '(' refs ')'   ("graph(" already read) */
static struct g_graph *parse_graph(struct gp *g, const char *qualname, const char *method,
                                   struct loc at)
{
	struct g_graph *gr = arena_alloc(&g->ctx->arena, sizeof *gr);
	gr->qualname = qualname;
	gr->method = method;
	gr->at = at;
	gr->body.at = at;
	gr->body.params = parse_decls(g, ")", &gr->body.nparams);
	expect(g, ")");
	expect(g, ":");
	expect_eol(g);
	for (;;) {
		skip_ws(g);
		if (accept(g, "return"))
			break;
		if (!*g->p)
			perr(g, "unexpected end of file in a graph (missing 'return (...)')");
		if (starts(g, "block") || starts(g, "->"))
			perr(g, "%s outside a prim::If or prim::Loop", seen(g));
		VEC_PUSH(&g->ctx->arena, &gr->body.nodes, struct g_node *, parse_node(g));
	}
	skip_sp(g);
	expect(g, "(");
	gr->body.rets = parse_refs(g, &gr->body.nrets);
	expect_eol(g);
	VEC_PUSH(&g->ctx->arena, &g->graphs, struct g_graph *, gr);
	return gr;
}

/* Skip `{ ... }` (parameters, attributes): balanced braces outside strings. */
static void skip_section(struct gp *g)
{
	int depth = 0;
	do {
		if (!*g->p)
			perr(g, "unexpected end of file in a module section (missing '}')");
		if (*g->p == '"') {
			string_tok(g);
			continue;
		}
		depth += (*g->p == '{') - (*g->p == '}');
		adv(g, 1);
	} while (depth > 0);
}

/* module := 'module' QUALNAME '{' {section} '}'   ("module " already read)
 * section := ('parameters' | 'attributes') '{' ... '}'
 *          | 'methods' '{' {'method' NAME '{' graph '}'} '}'
 *          | 'submodules' '{' {module} '}' */
static void parse_module(struct gp *g)
{
	if (++g->depth > MAX_DEPTH)
		perr(g, "modules nest more than %d deep", MAX_DEPTH);
	g->nmodules++;
	skip_sp(g);
	const char *qual = name_tok(g, "a class name");
	skip_sp(g);
	expect(g, "{");
	for (;;) {
		skip_ws(g);
		if (accept(g, "}"))
			break;
		const char *sec = name_tok(g, "'parameters', 'attributes', 'methods' or 'submodules'");
		skip_sp(g);
		if (strcmp(sec, "methods") == 0) {
			expect(g, "{");
			for (;;) {
				skip_ws(g);
				if (accept(g, "}"))
					break;
				expect(g, "method ");
				skip_sp(g);
				const char *meth = name_tok(g, "a method name");
				skip_sp(g);
				expect(g, "{");
				skip_ws(g);
				struct loc at = here(g);
				expect(g, "graph(");
				parse_graph(g, qual, meth, at);
				skip_ws(g);
				expect(g, "}");
			}
		} else if (strcmp(sec, "submodules") == 0) {
			expect(g, "{");
			for (;;) {
				skip_ws(g);
				if (accept(g, "}"))
					break;
				expect(g, "module ");
				parse_module(g);
			}
		} else if (*g->p == '{') {
			skip_section(g);
		} else {
			perr(g, "expected '{' after '%s'", sec);
		}
	}
	g->depth--;
}

/* file := { graph | module } */
static void parse_file(struct gp *g)
{
	for (;;) {
		skip_ws(g);
		if (!*g->p)
			break;
		struct loc at = here(g);
		if (accept(g, "graph("))
			parse_graph(g, NULL, NULL, at);
		else if (accept(g, "module "))
			parse_module(g);
		else if (starts(g, "with "))
			perr(g, "fusion subgraphs ('with ...') are not supported");
		else
			perr(g, "expected 'graph(' or 'module', found %s", seen(g));
	}
	if (!g->graphs.len)
		diag_error(g->ctx, (struct loc){.file = g->path}, "no graph in the file");
}

/* ---- lowering ---- */

/* A name binding of the function being lowered. */
struct gbind {
	const char *name;
	uint32_t value;               /* IR_NONE for a Function or a stale value */
	const char *func;             /* Function constant: the callee's name */
	int level;                    /* block nesting where bound */
	int remap;                    /* rebinding of an existing name (in-place op, append) */
	int stale;                    /* mutated inside a nested block: not readable */
	struct loc where;             /* remap: where the mutation is */
};

struct glower {
	struct kiln_ctx *ctx;
	struct gp *g;
	struct ir_module *m;
	const char *weights;          /* archive path, or NULL */
	struct pt_archive *ar;        /* opened for constants.pkl, lazily */
	struct pv *root;              /* data.pkl */
	struct pv *constants;         /* constants.pkl, lazily; NULL if absent */
	int constants_read;
	char *used;                   /* constants.pkl items taken by <Tensor> placeholders */
	uint32_t first_code_func;     /* funcs below this index came from ts_load */
	int have_code;
	int depth;
	const char *self_qual;        /* class of the entry graph's `self` */
	struct vec classes;           /* struct gclass: module or not, memoized */
};

/* Whether a class is a module's (objects frozen from data.pkl) or a user class (records). */
struct gclass {
	const char *qualname;
	int module;
};

struct gfn {
	struct glower *L;
	struct ir_block *b;
	struct vec env;               /* struct gbind, latest wins */
	int level;
	struct vec cur;               /* struct gcursor: the blocks being lowered, outermost first */
	struct vec implicit;          /* const char *: names read where enclosing blocks end */
};

/* Node i of block gb is being lowered. */
struct gcursor {
	const struct g_block *gb;
	size_t i;
};

static struct loc node_loc(const struct g_node *n)
{
	return n->src.file ? n->src : n->at;
}

/* The part of an IR name kiln keeps as a hint: "x.1" -> "x", "23" -> NULL. */
static const char *hint(struct arena *a, const char *name)
{
	if (isdigit((unsigned char)name[0]))
		return NULL;
	const char *dot = strrchr(name, '.');
	if (dot && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1))
		return arena_strndup(a, name, (size_t)(dot - name));
	return name;
}

static struct gbind *find(struct gfn *fs, const char *name)
{
	for (size_t i = fs->env.len; i-- > 0;) {
		struct gbind *b = &VEC_AT(&fs->env, struct gbind, i);
		if (strcmp(b->name, name) == 0)
			return b;
	}
	return NULL;
}

static void push(struct gfn *fs, struct gbind b)
{
	b.level = fs->level;
	VEC_PUSH(&fs->L->ctx->arena, &fs->env, struct gbind, b);
}

/* The value a use denotes. */
static uint32_t use(struct gfn *fs, const struct g_ref *r)
{
	struct gbind *b = find(fs, r->name);
	if (!b)
		diag_error(fs->L->ctx, r->at, "use of undefined value '%%%s'", r->name);
	if (b->stale)
		diag_error(fs->L->ctx, r->at, "'%%%s' is modified in place inside a block (%s) and "
		           "read after it; kiln does not support this", r->name,
		           loc_str(&fs->L->ctx->arena, b->where));
	if (b->func)
		diag_error(fs->L->ctx, r->at, "'%%%s' is a function, used as a value", r->name);
	return b->value;
}

/* Give value v the kind and type of a declaration. */
static void set_type(struct ir_module *m, uint32_t v, const struct g_type *t, int keep_optional)
{
	struct ir_value *iv = ir_val(m, v);
	if (t->optional && keep_optional) {
		iv->kind = VK_OPTIONAL;
		iv->type = NULL;
		return;
	}
	if (t->kind == VK_ANY && iv->kind != VK_UNKNOWN && iv->kind != VK_ANY)
		return; /* the node knows better than `Scalar`, `Any`, ... */
	iv->kind = t->kind;
	iv->type = t->type;
}

/* Bind declaration d to value v (typing v unless it is a constant). */
static void define(struct gfn *fs, const struct g_decl *d, uint32_t v, struct loc loc, int typed)
{
	struct glower *L = fs->L;
	struct gbind *old = find(fs, d->name);
	if (old && !old->stale)
		diag_error(L->ctx, d->at, "value '%%%s' is defined twice", d->name);
	if (typed)
		set_type(L->m, v, &d->t, 0);
	struct ir_value *iv = ir_val(L->m, v);
	if (!iv->name)
		iv->name = hint(&L->ctx->arena, d->name);
	iv->loc = loc;
	push(fs, (struct gbind){.name = d->name, .value = v});
}

/* After `%y = op_(%x)` / `aten::append(%x, ...)`: %x now means the result. */
static void remap(struct gfn *fs, const struct g_ref *r, uint32_t v, struct loc where)
{
	push(fs, (struct gbind){.name = r->name, .value = v, .remap = 1, .where = where});
}

static void lower_nodes(struct gfn *fs, const struct g_block *gb);

/* Lower gb into IR block b: parameters, nodes, results. Bindings made inside end with it;
 * a name remapped inside that was bound outside is added to *stale (the caller makes it
 * unreadable once every block of the node is lowered: sibling blocks may still read it). */
static void lower_block(struct gfn *fs, const struct g_block *gb, struct ir_block *b,
                        struct vec *stale, const char *const *xnames, int nx,
                        const uint32_t *xouter)
{
	struct glower *L = fs->L;
	struct ir_block *saved = fs->b;
	size_t mark = fs->env.len;
	fs->b = b;
	fs->level++;
	for (int i = 0; i < gb->nparams; i++) {
		uint32_t p = ir_add_param(L->m, b, gb->params[i].t.kind);
		define(fs, &gb->params[i], p, gb->params[i].at, 1);
	}
	for (int i = 0; xouter && i < nx; i++) {   /* objects a loop carries */
		uint32_t p = ir_add_param(L->m, b, ir_val(L->m, xouter[i])->kind);
		ir_val(L->m, p)->type = ir_val(L->m, xouter[i])->type;
		ir_val(L->m, p)->name = ir_val(L->m, xouter[i])->name;
		push(fs, (struct gbind){.name = xnames[i], .value = p});
	}
	lower_nodes(fs, gb);
	uint32_t *rets = arena_alloc(&L->ctx->arena, sizeof *rets * (size_t)(gb->nrets + nx + 1));
	for (int i = 0; i < gb->nrets; i++)
		rets[i] = use(fs, &gb->rets[i]);
	for (int i = 0; i < nx; i++)   /* the objects' records at the end of the block */
		rets[gb->nrets + i] = use(fs, &(struct g_ref){xnames[i], gb->at});
	ir_set_rets(L->m, b, rets, gb->nrets + nx);
	size_t end = fs->env.len;
	fs->env.len = mark;
	fs->level--;
	fs->b = saved;
	for (size_t i = mark; i < end; i++) {
		struct gbind *bb = &((struct gbind *)fs->env.data)[i];
		if ((bb->remap || bb->stale) && find(fs, bb->name)) {
			struct gbind s = {.name = bb->name, .value = IR_NONE, .stale = 1, .where = bb->where};
			VEC_PUSH(&L->ctx->arena, stale, struct gbind, s);
		}
	}
}

/* A node with nout outputs appended to the current block. */
static struct ir_node *add(struct gfn *fs, const struct g_node *gn, enum op op,
                           const uint32_t *in, int nin, int nout)
{
	uint32_t id = ir_add_node(fs->L->m, fs->b, op, in, nin, nout);
	struct ir_node *n = ir_node(fs->L->m, id);
	n->loc = node_loc(gn);
	n->scope = gn->scope;
	return n;
}

/* Inputs as values. */
static uint32_t *uses(struct gfn *fs, const struct g_node *gn, int from)
{
	int n = gn->nin - from;
	uint32_t *in = arena_alloc(&fs->L->ctx->arena, sizeof *in * (size_t)(n > 0 ? n : 1));
	for (int i = 0; i < n; i++)
		in[i] = use(fs, &gn->ins[from + i]);
	return in;
}

/* Bind every output of node n to the declarations of gn. */
static void define_outs(struct gfn *fs, const struct g_node *gn, struct ir_node *n, int typed)
{
	for (int i = 0; i < gn->nout && i < n->nout; i++)
		define(fs, &gn->outs[i], n->out[i], n->loc, typed);
}

static void check_counts(struct gfn *fs, const struct g_node *gn, int nin, int nout)
{
	if (nin >= 0 && gn->nin != nin)
		diag_error(fs->L->ctx, gn->at, "'%s' takes %d input%s, not %d", gn->kind, nin,
		           nin == 1 ? "" : "s", gn->nin);
	if (nout >= 0 && gn->nout != nout)
		diag_error(fs->L->ctx, gn->at, "'%s' has %d output%s, not %d", gn->kind, nout,
		           nout == 1 ? "" : "s", gn->nout);
}

static const struct g_attr *attr(const struct g_node *gn, const char *key)
{
	for (int i = 0; i < gn->nattrs; i++)
		if (strcmp(gn->attrs[i].key, key) == 0)
			return &gn->attrs[i];
	return NULL;
}

/* Only the attributes in keys (NULL-terminated) are allowed on gn. */
static void allow_attrs(struct gfn *fs, const struct g_node *gn, const char *const *keys)
{
	for (int i = 0; i < gn->nattrs; i++) {
		int ok = 0;
		for (int k = 0; keys[k]; k++)
			ok |= strcmp(gn->attrs[i].key, keys[k]) == 0;
		if (!ok)
			diag_error(fs->L->ctx, gn->attrs[i].at, "'%s' has no attribute '%s' kiln knows",
			           gn->kind, gn->attrs[i].key);
	}
}

static const char *name_attr(struct gfn *fs, const struct g_node *gn)
{
	static const char *const keys[] = {"name", NULL};
	allow_attrs(fs, gn, keys);
	const struct g_attr *a = attr(gn, "name");
	if (!a || a->kind != GA_STR)
		diag_error(fs->L->ctx, gn->at, "'%s' needs a string attribute name=\"...\"", gn->kind);
	return a->s;
}

/* ---- objects of user classes ---- */

/* Whether data.pkl value p is or holds an object of class qual. */
static int pv_has_class(const struct pv *p, const char *qual, int depth)
{
	if (!p || depth > MAX_DEPTH)
		return 0;
	if (p->kind == PV_OBJECT) {
		if (p->u.obj.qualname && strcmp(p->u.obj.qualname, qual) == 0)
			return 1;
		for (size_t i = 0; i < p->u.obj.n; i++)
			if (pv_has_class(p->u.obj.vals[i], qual, depth + 1))
				return 1;
	} else if (p->kind == PV_LIST || p->kind == PV_TUPLE) {
		for (size_t i = 0; i < p->u.seq.n; i++)
			if (pv_has_class(p->u.seq.items[i], qual, depth + 1))
				return 1;
	}
	return 0;
}

/* A module's class: the entry's `self`, a `module {}` section of the file, or an object
 * of data.pkl's module tree. Other classes are user TorchScript classes. */
static int is_module_class(struct glower *L, const char *qual)
{
	for (size_t i = 0; i < L->classes.len; i++)
		if (strcmp(VEC_AT(&L->classes, struct gclass, i).qualname, qual) == 0)
			return VEC_AT(&L->classes, struct gclass, i).module;
	int r = L->self_qual && strcmp(L->self_qual, qual) == 0;
	for (size_t i = 0; i < L->g->graphs.len && !r; i++) {
		struct g_graph *gr = VEC_AT(&L->g->graphs, struct g_graph *, i);
		r = gr->qualname && strcmp(gr->qualname, qual) == 0;
	}
	if (!r)
		r = pv_has_class(L->root, qual, 0);
	struct gclass c = {qual, r};
	VEC_PUSH(&L->ctx->arena, &L->classes, struct gclass, c);
	return r;
}

/* Whether v is an object of a user class: an SSA record (OBJ_NEW, then OBJ_SETs). */
static int user_obj(struct glower *L, uint32_t v)
{
	struct ir_value *iv = ir_val(L->m, v);
	return iv->kind == VK_OBJECT && iv->type && iv->type->qualname &&
	       !is_module_class(L, iv->type->qualname);
}

/* Changing object v in place is sound only if nothing else refers to it: it must not
 * have been read out of a list, tuple or another object, nor stored into one (as in
 * ts_lower.c). */
static void check_owned(struct glower *L, uint32_t v, struct loc loc)
{
	if (ir_value_shared(L->m, v))
		diag_error(L->ctx, loc, "an object of class '%s' is changed here while a list, tuple "
		           "or another object also refers to it; kiln does not support shared objects",
		           ir_val(L->m, v)->type->qualname);
}

/* The parameter of body that record v descends from (through OBJ_SETs, IF and LOOP
 * outputs and calls that change their arguments), or -1. */
static int record_param(struct ir_module *m, const struct ir_block *body, uint32_t v, int depth)
{
	while (depth < MAX_DEPTH * 4) {
		for (int i = 0; i < body->nparams; i++)
			if (body->params[i] == v)
				return i;
		uint32_t d = ir_val(m, v)->def;
		if (d == IR_NONE)
			return -1;
		struct ir_node *n = ir_node(m, d);
		int k = 0;
		while (k < n->nout && n->out[k] != v)
			k++;
		if (n->op == OP_OBJ_SET) {
			v = n->in[0];
		} else if (n->op == OP_LOOP) {
			v = n->in[2 + k];
		} else if (n->op == OP_IF) {
			for (int br = 0; br < n->nblocks; br++) {
				int p = record_param(m, body, n->blocks[br]->rets[k], depth + 1);
				if (p >= 0)
					return p;
			}
			return -1;
		} else if ((n->op == OP_CALL_METHOD || n->op == OP_CALL_FUNC) && k > 0) {
			struct ir_func *f = VEC_AT(&m->funcs, struct ir_func *, n->a.call.func);
			if (k >= f->body->nrets)
				return -1;
			int p = record_param(m, f->body, f->body->rets[k], depth + 1);
			if (p < 0 || p >= n->nin)
				return -1;
			v = n->in[p];
		} else {
			return -1;
		}
		depth++;
	}
	return -1;
}

/* Whether node kind `ns::name_` is an in-place operator: it changes its first input. */
static int inplace_kind(const char *kind)
{
	const char *s = strstr(kind, "::");
	s = s ? s + 2 : kind;
	size_t n = strlen(s);
	return n > 1 && s[n - 1] == '_' && s[0] != '_';
}

static int block_reads(const struct g_block *b, const char *name, int depth);

/* Whether node n, or a block of it, reads value `name`. */
static int node_reads(const struct g_node *n, const char *name, int depth)
{
	for (int k = 0; k < n->nin; k++)
		if (strcmp(n->ins[k].name, name) == 0)
			return 1;
	for (int k = 0; k < n->nblocks; k++)
		if (block_reads(&n->blocks[k], name, depth + 1))
			return 1;
	return 0;
}

static int block_reads(const struct g_block *b, const char *name, int depth)
{
	if (depth > MAX_DEPTH)
		return 1;
	for (size_t i = 0; i < b->nodes.len; i++)
		if (node_reads(VEC_AT(&b->nodes, struct g_node *, i), name, depth))
			return 1;
	for (int i = 0; i < b->nrets; i++)
		if (strcmp(b->rets[i].name, name) == 0)
			return 1;
	return 0;
}

/* Whether value `name` is read after the node being lowered: by a later node of this or
 * an enclosing block, by their results, or where an enclosing block that carries it ends. */
static int read_later(struct gfn *fs, const char *name)
{
	for (size_t i = 0; i < fs->implicit.len; i++)
		if (strcmp(VEC_AT(&fs->implicit, const char *, i), name) == 0)
			return 1;
	for (size_t l = 0; l < fs->cur.len; l++) {
		const struct gcursor *c = &VEC_AT(&fs->cur, struct gcursor, l);
		for (size_t i = c->i + 1; i < c->gb->nodes.len; i++)
			if (node_reads(VEC_AT(&c->gb->nodes, struct g_node *, i), name, 0))
				return 1;
		for (int i = 0; i < c->gb->nrets; i++)
			if (strcmp(c->gb->rets[i].name, name) == 0)
				return 1;
	}
	return 0;
}

/* Names bound outside block b of values that b may change: user-class objects (targets of
 * prim::SetAttr, objects given to calls), lists b appends to, dicts it sets items of,
 * tensors b changes with an in-place operator. A loop carries them, an IF merges them; those left unchanged are
 * dropped again. */
static void changed_objects(struct gfn *fs, const struct g_block *b, struct vec *out)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		const struct g_node *n = VEC_AT(&b->nodes, struct g_node *, i);
		int set = strcmp(n->kind, "prim::SetAttr") == 0 || strcmp(n->kind, "aten::append") == 0 ||
		          strcmp(n->kind, "aten::_set_item") == 0;
		int call = strcmp(n->kind, "prim::CallMethod") == 0 ||
		           strcmp(n->kind, "prim::CallFunction") == 0;
		int inplace = !set && !call && inplace_kind(n->kind);
		for (int k = 0; (set || call || inplace) && k < (call ? n->nin : n->nin > 0); k++) {
			const char *name = n->ins[k].name;
			struct gbind *bb = find(fs, name);
			if (!bb || bb->func || bb->stale || bb->value == IR_NONE)
				continue;
			enum vkind vk = ir_val(fs->L->m, bb->value)->kind;
			int tensor = vk == VK_TENSOR || vk == VK_OPTIONAL || vk == VK_UNKNOWN || vk == VK_ANY;
			if (!(inplace ? tensor : user_obj(fs->L, bb->value) ||
			      (set && n->kind[0] == 'a' && (vk == VK_LIST || vk == VK_DICT))))
				continue;
			int dup = 0;
			for (size_t j = 0; j < out->len; j++)
				dup |= strcmp(VEC_AT(out, const char *, j), name) == 0;
			if (!dup)
				VEC_PUSH(&fs->L->ctx->arena, out, const char *, name);
		}
		for (int k = 0; k < n->nblocks; k++)
			changed_objects(fs, &n->blocks[k], out);
	}
}

/* prim::CreateObject(): a record with no field set. */
static void lw_create_object(struct gfn *fs, const struct g_node *gn)
{
	struct glower *L = fs->L;
	check_counts(fs, gn, 0, 1);
	if (gn->outs[0].t.kind != VK_OBJECT || is_module_class(L, gn->outs[0].t.type->qualname))
		diag_error(L->ctx, gn->at, "prim::CreateObject makes an object of a user class; kiln "
		           "cannot create objects of this type");
	define_outs(fs, gn, add(fs, gn, OP_OBJ_NEW, NULL, 0, 1), 1);
}

/* ---- weights ---- */

static void read_constants(struct glower *L)
{
	if (L->constants_read || !L->weights)
		return;
	L->constants_read = 1;
	if (!L->ar)
		L->ar = pt_open(L->ctx, L->weights);
	if (pt_find(L->ar, "constants.pkl"))
		L->constants = pt_unpickle(L->ctx, L->ar, "constants.pkl", "constants");
	if (L->constants && L->constants->kind == PV_TUPLE)
		L->used = arena_alloc(&L->ctx->arena, L->constants->u.seq.n + 1);
	else
		L->constants = NULL;
}

/* The data.pkl value at dotted path "a.b.c", or NULL. */
static struct pv *attr_path(struct glower *L, const char *path)
{
	struct pv *p = L->root;
	const char *s = path;
	while (p && *s) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		p = pv_attr(p, arena_strndup(&L->ctx->arena, s, n));
		s += n + (dot != NULL);
	}
	return p;
}

/* The archive tensor a constant named `name` denotes ("self.fc.weight", "CONSTANTS.c2",
 * each optionally with a ".N" suffix), or NULL; *path gets its weight name. */
static struct pt_tensor *named_tensor(struct glower *L, const char *name, const char **path)
{
	const char *try[2] = {name, hint(&L->ctx->arena, name)};
	for (int k = 0; k < 2 && try[k]; k++) {
		const char *s = try[k];
		if (strncmp(s, "self.", 5) == 0 && L->root) {
			struct pv *p = attr_path(L, s + 5);
			if (p && p->kind == PV_TENSOR) {
				*path = s + 5;
				return p->u.tensor;
			}
		}
		if (strncmp(s, "CONSTANTS.c", 11) == 0 && isdigit((unsigned char)s[11])) {
			read_constants(L);
			char *end;
			long i = strtol(s + 11, &end, 10);
			if (!*end && L->constants && (size_t)i < L->constants->u.seq.n &&
			    L->constants->u.seq.items[i]->kind == PV_TENSOR) {
				*path = s;
				return L->constants->u.seq.items[i]->u.tensor;
			}
		}
	}
	return NULL;
}

/* Element i of a contiguous or strided archive tensor, as a double. */
static double elem_at(const struct pt_tensor *t, int64_t i)
{
	int64_t off = t->offset;
	for (int d = t->rank - 1; d >= 0; d--) {
		off += (i % t->sizes[d]) * t->strides[d];
		i /= t->sizes[d];
	}
	const unsigned char *p = t->storage->data;
	switch (t->dtype) {
	case DT_F32: return ((const float *)p)[off];
	case DT_F64: return ((const double *)p)[off];
	case DT_I64: return (double)((const int64_t *)p)[off];
	case DT_I32: return ((const int32_t *)p)[off];
	default: return NAN;
	}
}

/* Whether archive tensor t holds the printed values of a (4 decimals / 6 digits). */
static int same_values(const struct pt_tensor *t, const struct g_attr *a)
{
	double max = 0;
	for (int i = 0; i < a->n; i++)
		max = fmax(max, fabs(a->nums[i]));
	for (int i = 0; i < a->n; i++)
		if (!(fabs(elem_at(t, i) - a->nums[i]) <= 1e-3 * max + 1e-30))
			return 0;
	return 1;
}

/* A tensor constant kiln cannot name: the first unused constants.pkl tensor of its type
 * (and, when the text prints values, holding them). */
static struct pt_tensor *matching_constant(struct glower *L, const struct g_type *t,
                                           const struct g_attr *a, const char **path)
{
	read_constants(L);
	if (!L->constants || !t->dtype || t->shape.rank < 0)
		return NULL;
	for (size_t i = 0; i < L->constants->u.seq.n; i++) {
		struct pv *p = L->constants->u.seq.items[i];
		if (L->used[i] || p->kind != PV_TENSOR || p->u.tensor->dtype != t->dtype ||
		    p->u.tensor->rank != t->shape.rank)
			continue;
		int same = 1;
		for (int d = 0; d < t->shape.rank; d++)
			same &= p->u.tensor->sizes[d] == t->shape.dims[d];
		if (!same || (a->kind == GA_TENSOR && !same_values(p->u.tensor, a)))
			continue;
		L->used[i] = 1;
		*path = arena_printf(&L->ctx->arena, "CONSTANTS.c%zu", i);
		return p->u.tensor;
	}
	return NULL;
}

/* Whether v converts to dt without leaving its range (NaN fits the float types only). */
static int elem_fits(enum dtype dt, double v)
{
	switch (dt) {
	case DT_I64: return v >= -9223372036854775808.0 && v < 9223372036854775808.0;
	case DT_I32: return v > -2147483649.0 && v < 2147483648.0;
	case DT_I16: return v > -32769.0 && v < 32768.0;
	case DT_I8: return v > -129.0 && v < 128.0;
	case DT_U8: return v > -1.0 && v < 256.0;
	case DT_BOOL: return v == 0.0 || v == 1.0;
	default: return 1;
	}
}

static void store_elem(void *dst, enum dtype dt, size_t i, double v)
{
	switch (dt) {
	case DT_F32: ((float *)dst)[i] = (float)v; break;
	case DT_F64: ((double *)dst)[i] = v; break;
	case DT_I64: ((int64_t *)dst)[i] = (int64_t)v; break;
	case DT_I32: ((int32_t *)dst)[i] = (int32_t)v; break;
	case DT_I16: ((int16_t *)dst)[i] = (int16_t)v; break;
	case DT_I8: ((int8_t *)dst)[i] = (int8_t)v; break;
	case DT_U8: case DT_BOOL: ((uint8_t *)dst)[i] = (uint8_t)v; break;
	default: break;
	}
}

/* A tensor constant printed in the text ({0.5}, " 1  2 [ CPULongType{2} ]"). Its type
 * comes from the print, else the declaration, else i64 for integers and f64 otherwise
 * (what a traced Python number becomes). */
static uint32_t inline_tensor(struct gfn *fs, const struct g_node *gn, const struct g_attr *a)
{
	struct glower *L = fs->L;
	const struct g_type *t = &gn->outs[0].t;
	enum dtype dt = a->dtype ? a->dtype : t->dtype ? t->dtype : a->isfloat ? DT_F64 : DT_I64;
	struct ir_shape s = a->shape.rank >= 0 ? a->shape : t->shape;
	if (s.rank < 0)
		s = (struct ir_shape){.rank = 1, .dims = {a->n}};
	int64_t numel = shape_numel(&s);
	if (numel != a->n)
		diag_error(L->ctx, a->at, "tensor constant has %d values but its shape holds %lld",
		           a->n, (long long)numel);
	if (!dtype_size(dt) || dt == DT_F16 || dt == DT_BF16)
		diag_error(L->ctx, a->at, "tensor constants of type %s are not supported",
		           dtype_name(dt));
	void *data = arena_alloc(&L->ctx->arena, dtype_size(dt) * (size_t)(numel + 1));
	for (int i = 0; i < a->n; i++) {
		if (!elem_fits(dt, a->nums[i]))
			diag_error(L->ctx, a->at, "tensor constant value %.17g does not fit its type %s",
			           a->nums[i], dtype_name(dt));
		store_elem(data, dt, (size_t)i, a->nums[i]);
	}
	return ir_const_tensor(L->m, fs->b, dt, &s, data, NULL);
}

static uint32_t tensor_constant(struct gfn *fs, const struct g_node *gn, const struct g_attr *a)
{
	struct glower *L = fs->L;
	const char *path = NULL;
	struct pt_tensor *t = named_tensor(L, gn->outs[0].name, &path);
	if (!t && L->weights && strncmp(gn->outs[0].name, "self.", 5) == 0)
		if ((t = matching_constant(L, &gn->outs[0].t, a, &path))) /* frozen: computed */
			path = hint(&L->ctx->arena, gn->outs[0].name + 5);
	if (!t && a->kind == GA_TENSOR)
		return inline_tensor(fs, gn, a);
	if (!t)
		t = matching_constant(L, &gn->outs[0].t, a, &path);
	if (!t)
		diag_error(L->ctx, a->at, "the data of tensor constant '%%%s' is not in %s%s",
		           gn->outs[0].name, L->weights ? L->weights : "the file",
		           L->weights ? "" : " (give the model's archive with --weights)");
	return ts_tensor_const(L->m, fs->b, t, path, node_loc(gn));
}

/* ---- prim:: nodes ---- */

/* A tuple constant's text "(32, 24)", "(1, (2., None), 'a')" from *p: an OP_TUPLE of
 * constants (as ts_lower.c makes a tuple literal). Returns IR_NONE if not understood. */
static uint32_t tuple_constant(struct gfn *fs, const char **p, int depth)
{
	struct glower *L = fs->L;
	struct ir_module *m = L->m;
	struct vec items = {0};
	if (**p != '(' || depth > MAX_DEPTH)
		return IR_NONE;
	(*p)++;
	for (;;) {
		while (**p == ' ')
			(*p)++;
		if (**p == ')')
			break;
		uint32_t v;
		const char *s = *p;
		char *end;
		if (*s == '(') {
			if ((v = tuple_constant(fs, p, depth + 1)) == IR_NONE)
				return IR_NONE;
		} else if (strncmp(s, "None", 4) == 0) {
			v = ir_const_none(m, fs->b), *p += 4;
		} else if (strncmp(s, "True", 4) == 0 || strncmp(s, "False", 5) == 0) {
			v = ir_const_bool(m, fs->b, *s == 'T'), *p += *s == 'T' ? 4 : 5;
		} else if (*s == '"' || *s == '\'') {
			const char *e = strchr(s + 1, *s);
			if (!e)
				return IR_NONE;
			v = ir_const_str(m, fs->b, arena_strndup(&L->ctx->arena, s + 1, (size_t)(e - s - 1)));
			*p = e + 1;
		} else {
			size_t n = strcspn(s, ",)");
			long long i = strtoll(s, &end, 10);
			if (end == s)
				return IR_NONE;
			if ((size_t)(end - s) == n) {
				v = ir_const_int(m, fs->b, i);
			} else {
				double f = strtod(s, &end);
				if ((size_t)(end - s) != n)
					return IR_NONE;
				v = ir_const_float(m, fs->b, f);
			}
			*p = end;
		}
		VEC_PUSH(&L->ctx->arena, &items, uint32_t, v);
		while (**p == ' ')
			(*p)++;
		if (**p == ',')
			(*p)++;
		else if (**p != ')')
			return IR_NONE;
	}
	(*p)++;
	uint32_t id = ir_add_node(m, fs->b, OP_TUPLE, items.data, (int)items.len, 1);
	uint32_t v = ir_node(m, id)->out[0];
	ir_val(m, v)->kind = VK_TUPLE;
	return v;
}

/* prim::Constant[value=...]() / prim::Constant() / Function constants [name="f"]. */
static void lw_constant(struct gfn *fs, const struct g_node *gn)
{
	struct glower *L = fs->L;
	struct ir_module *m = L->m;
	check_counts(fs, gn, 0, 1);
	const struct g_decl *d = &gn->outs[0];
	if (d->t.function) {
		push(fs, (struct gbind){.name = d->name, .value = IR_NONE, .func = name_attr(fs, gn)});
		return;
	}
	static const char *const keys[] = {"value", NULL};
	allow_attrs(fs, gn, keys);
	const struct g_attr *a = attr(gn, "value");
	uint32_t v;
	enum vkind k = d->t.kind;
	if (!a) {
		v = ir_const_none(m, fs->b);
	} else if (a->kind == GA_INT) {
		v = k == VK_BOOL ? ir_const_bool(m, fs->b, a->i != 0)
		    : k == VK_FLOAT ? ir_const_float(m, fs->b, (double)a->i)
		                    : ir_const_int(m, fs->b, a->i);
	} else if (a->kind == GA_FLOAT) {
		v = ir_const_float(m, fs->b, a->f);
	} else if (a->kind == GA_STR) {
		v = ir_const_str(m, fs->b, a->s);
		if (k == VK_DEVICE) {
			ir_val(m, v)->kind = VK_DEVICE;
			ir_node(m, ir_val(m, v)->def)->a.konst.kind = CK_DEVICE;
		}
	} else if (a->kind == GA_LIST && !a->isfloat &&
	           !(d->t.type && d->t.type->elem[0]->kind == VK_FLOAT)) {
		v = ir_const_ints(m, fs->b, a->ints, a->n);
	} else if (a->kind == GA_LIST) {
		uint32_t id = ir_add_node(m, fs->b, OP_CONST, NULL, 0, 1);
		ir_node(m, id)->a.konst = (struct ir_const){.kind = CK_FLOATS, .n = a->n,
		                                             .floats = a->nums};
		v = ir_node(m, id)->out[0];
		ir_val(m, v)->kind = VK_LIST;
	} else if (a->kind == GA_TENSOR || a->kind == GA_TENSOR_REF) {
		v = tensor_constant(fs, gn, a);
	} else if (a->kind == GA_OTHER && a->s[0] == '(' &&
	           (v = tuple_constant(fs, &(const char *){a->s}, 0)) != IR_NONE) {
		/* a tuple */
	} else {
		diag_error(L->ctx, a->at, "constant value '%s' is not supported", a->s);
	}
	struct ir_node *n = ir_node(m, ir_val(m, v)->def);
	n->loc = node_loc(gn);
	n->scope = gn->scope;
	if (k == VK_LIST || k == VK_TUPLE)
		ir_val(m, v)->type = d->t.type;
	define(fs, d, v, n->loc, 0);
}

static void lw_construct(struct gfn *fs, const struct g_node *gn, enum op op)
{
	check_counts(fs, gn, -1, 1);
	struct ir_node *n = add(fs, gn, op, uses(fs, gn, 0), gn->nin, 1);
	define_outs(fs, gn, n, 1);
}

static void lw_list(struct gfn *fs, const struct g_node *gn) { lw_construct(fs, gn, OP_LIST); }
static void lw_tuple(struct gfn *fs, const struct g_node *gn) { lw_construct(fs, gn, OP_TUPLE); }
static void lw_dict(struct gfn *fs, const struct g_node *gn) { lw_construct(fs, gn, OP_DICT); }

/* %d2 = kiln::dict_set(%d, %key, %v): kiln's SSA form of aten::_set_item. */
static void lw_dict_set(struct gfn *fs, const struct g_node *gn)
{
	check_counts(fs, gn, 3, 1);
	lw_construct(fs, gn, OP_DICT_SET);
}

static void lw_unpack(struct gfn *fs, const struct g_node *gn)
{
	check_counts(fs, gn, 1, -1);
	struct ir_node *n = add(fs, gn, OP_UNPACK, uses(fs, gn, 0), 1, gn->nout);
	define_outs(fs, gn, n, 1);
}

/* prim::TupleIndex(t, i) / aten::__getitem__(l, i) */
static void lw_getitem(struct gfn *fs, const struct g_node *gn)
{
	check_counts(fs, gn, 2, 1);
	struct ir_node *n = add(fs, gn, OP_GETITEM, uses(fs, gn, 0), 2, 1);
	define_outs(fs, gn, n, 1);
}

/* prim::GetAttr: a module attribute (frozen later), or a field of a record: the value
 * last set when this function sets it, else a GETATTR fold.c resolves after inlining. */
static void lw_getattr(struct gfn *fs, const struct g_node *gn)
{
	struct glower *L = fs->L;
	check_counts(fs, gn, 1, 1);
	const char *name = name_attr(fs, gn);
	uint32_t *in = uses(fs, gn, 0);
	if (user_obj(L, in[0])) {
		for (uint32_t obj = in[0];;) {
			uint32_t d = ir_val(L->m, obj)->def;
			struct ir_node *src = d != IR_NONE ? ir_node(L->m, d) : NULL;
			if (src && src->op == OP_OBJ_SET && strcmp(src->a.name.name, name) == 0) {
				push(fs, (struct gbind){.name = gn->outs[0].name, .value = src->in[1]});
				return;
			}
			if (src && src->op == OP_OBJ_NEW)
				diag_error(L->ctx, gn->at, "field '%s' of class '%s' is read before it is set",
				           name, ir_val(L->m, obj)->type->qualname);
			if (!src || src->op != OP_OBJ_SET)
				break;
			obj = src->in[0];
		}
	}
	struct ir_node *n = add(fs, gn, OP_GETATTR, in, 1, 1);
	n->a.name.name = name;
	uint32_t out = n->out[0];
	define_outs(fs, gn, n, 1);
	if (user_obj(L, in[0]) && gn->outs[0].t.optional)  /* None or not: known once the record is */
		set_type(L->m, out, &gn->outs[0].t, 1);
}

/* prim::SetAttr: on a record, a new record (OBJ_SET) that the object's name means from
 * now on; on a module, a SETATTR (refused later: module attributes are constant). */
static void lw_setattr(struct gfn *fs, const struct g_node *gn)
{
	struct glower *L = fs->L;
	check_counts(fs, gn, 2, 0);
	const char *name = name_attr(fs, gn);
	uint32_t *in = uses(fs, gn, 0);
	if (!user_obj(L, in[0])) {
		add(fs, gn, OP_SETATTR, in, 2, 0)->a.name.name = name;
		return;
	}
	check_owned(L, in[0], gn->at);
	struct ir_node *n = add(fs, gn, OP_OBJ_SET, in, 2, 1);
	n->a.name.name = name;
	uint32_t r = n->out[0];
	ir_val(L->m, r)->kind = VK_OBJECT;
	ir_val(L->m, r)->type = ir_val(L->m, in[0])->type;
	ir_val(L->m, r)->name = ir_val(L->m, in[0])->name;
	ir_val(L->m, r)->loc = node_loc(gn);
	remap(fs, &gn->ins[0], r, gn->at);
}

/* %r = kiln::obj_set[name="f"](%obj, %v): kiln's explicit form of SetAttr on a record. */
static void lw_obj_set(struct gfn *fs, const struct g_node *gn)
{
	struct glower *L = fs->L;
	check_counts(fs, gn, 2, 1);
	const char *name = name_attr(fs, gn);
	uint32_t *in = uses(fs, gn, 0);
	if (!user_obj(L, in[0]))
		diag_error(L->ctx, gn->ins[0].at, "kiln::obj_set needs an object of a user class");
	check_owned(L, in[0], gn->at);
	struct ir_node *n = add(fs, gn, OP_OBJ_SET, in, 2, 1);
	n->a.name.name = name;
	ir_val(L->m, n->out[0])->kind = VK_OBJECT;
	ir_val(L->m, n->out[0])->type = ir_val(L->m, in[0])->type;
	define_outs(fs, gn, n, 0);
}

/* prim::RaiseException(msg[, cls]): kiln keeps the message. */
static void lw_raise(struct gfn *fs, const struct g_node *gn)
{
	if (gn->nin < 1 || gn->nin > 2)
		check_counts(fs, gn, 1, 0);
	add(fs, gn, OP_RAISE, uses(fs, gn, 0), 1, 0);
}

/* prim::unchecked_cast(x): a refinement (Optional[T] -> T). As in ts_lower.c, an IDENTITY
 * for an optional tensor, else x itself. */
static void lw_cast(struct gfn *fs, const struct g_node *gn)
{
	struct ir_module *m = fs->L->m;
	check_counts(fs, gn, 1, 1);
	uint32_t *in = uses(fs, gn, 0);
	if (ir_val(m, in[0])->kind == VK_OPTIONAL && gn->outs[0].t.kind == VK_TENSOR) {
		define_outs(fs, gn, add(fs, gn, OP_IDENTITY, in, 1, 1), 1);
		return;
	}
	if (ir_val(m, in[0])->kind == VK_ANY && gn->outs[0].t.kind != VK_ANY)
		set_type(m, in[0], &gn->outs[0].t, 0);
	push(fs, (struct gbind){.name = gn->outs[0].name, .value = in[0]});
}

uint32_t ts_uninitialized(struct ir_module *m, struct ir_block *b, enum vkind k)
{
	switch (k) {
	case VK_INT: return ir_const_int(m, b, 0);
	case VK_FLOAT: return ir_const_float(m, b, 0.0);
	case VK_BOOL: return ir_const_bool(m, b, 0);
	case VK_TENSOR: {
		uint32_t v = ir_const_none(m, b);
		ir_val(m, v)->kind = VK_TENSOR;
		return v;
	}
	default: return ir_const_none(m, b);
	}
}

/* prim::Uninitialized(): ts_uninitialized of the declared type. */
static void lw_uninitialized(struct gfn *fs, const struct g_node *gn)
{
	check_counts(fs, gn, 0, 1);
	uint32_t v = ts_uninitialized(fs->L->m, fs->b, gn->outs[0].t.optional ? VK_OPTIONAL :
	                              gn->outs[0].t.kind);
	ir_node(fs->L->m, ir_val(fs->L->m, v)->def)->loc = node_loc(gn);
	define(fs, &gn->outs[0], v, node_loc(gn), 0);
}

/* aten::format(fmt, args...): only messages are formatted; keep the format string. */
static void lw_format(struct gfn *fs, const struct g_node *gn)
{
	if (gn->nin < 1)
		check_counts(fs, gn, 1, 1);
	check_counts(fs, gn, -1, 1);
	uint32_t *in = uses(fs, gn, 0);
	define(fs, &gn->outs[0], in[0], node_loc(gn), 0);
}

/* aten::_set_item(dict, key, value): a DICT_SET (fold.c makes it a DICT); the dict's
 * name means it from now on. */
static void lw_set_item(struct gfn *fs, const struct g_node *gn)
{
	struct glower *L = fs->L;
	check_counts(fs, gn, 3, 0);
	uint32_t *in = uses(fs, gn, 0);
	if (ir_val(L->m, in[0])->kind != VK_DICT)
		diag_error(L->ctx, gn->at, "aten::_set_item is supported on dicts only");
	uint32_t v = add(fs, gn, OP_DICT_SET, in, 3, 1)->out[0];
	ir_val(L->m, v)->kind = VK_DICT;
	ir_val(L->m, v)->type = ir_val(L->m, in[0])->type;
	ir_val(L->m, v)->name = ir_val(L->m, in[0])->name;
	remap(fs, &gn->ins[0], v, gn->at);
}

/* aten::append(list, x): a new LIST; the list's name means it from now on. */
static void lw_append(struct gfn *fs, const struct g_node *gn)
{
	struct glower *L = fs->L;
	if (gn->nout > 1)
		check_counts(fs, gn, 2, 1);
	check_counts(fs, gn, 2, -1);
	uint32_t *in = uses(fs, gn, 0);
	uint32_t d = ir_val(L->m, in[0])->def;
	int carried = d == IR_NONE && ir_val(L->m, in[0])->kind == VK_LIST;
	if (!carried && (d == IR_NONE || ir_node(L->m, d)->op != OP_LIST))
		diag_error(L->ctx, gn->at, "aten::append to a list not built by prim::ListConstruct "
		           "in this graph is not supported");
	uint32_t v;
	if (carried) {   /* a list a loop carries: fold.c appends once the loop is unrolled */
		struct ir_node *nl = add(fs, gn, OP_ATEN, in, 2, 1);
		nl->a.aten = (struct aten_attr){"append", ATEN_APPEND};
		v = nl->out[0];
	} else {
		struct ir_node *old = ir_node(L->m, d);
		int n = old->nin;
		uint32_t *items = arena_alloc(&L->ctx->arena, sizeof *items * (size_t)(n + 1));
		memcpy(items, old->in, sizeof *items * (size_t)n);
		items[n] = in[1];
		v = add(fs, gn, OP_LIST, items, n + 1, 1)->out[0];
	}
	ir_val(L->m, v)->kind = VK_LIST;
	ir_val(L->m, v)->type = ir_val(L->m, in[0])->type;
	ir_val(L->m, v)->name = ir_val(L->m, in[0])->name;
	remap(fs, &gn->ins[0], v, gn->at);
	if (gn->nout)
		push(fs, (struct gbind){.name = gn->outs[0].name, .value = v});
}

/* An IF or LOOP node with gn's blocks. Values the blocks change (changed_objects) are
 * handled as ts_lower.c handles changed names: a LOOP carries them (extra carried values
 * after gn's), an IF merges those read after it (extra results and outputs after gn's);
 * afterwards the name means the output. */
static struct ir_node *cf_node(struct gfn *fs, const struct g_node *gn, enum op op,
                               const uint32_t *in, int nin)
{
	struct glower *L = fs->L;
	struct ir_module *m = L->m;
	struct arena *a = &L->ctx->arena;
	int loop = op == OP_LOOP, nb = gn->nblocks;
	struct vec objs = {0};
	for (int i = 0; i < nb; i++)
		changed_objects(fs, &gn->blocks[i], &objs);
	if (!loop) {   /* what nothing reads after the IF need not leave it */
		size_t kept = 0;
		for (size_t i = 0; i < objs.len; i++)
			if (read_later(fs, VEC_AT(&objs, const char *, i)))
				VEC_AT(&objs, const char *, kept++) = VEC_AT(&objs, const char *, i);
		objs.len = kept;
	}
	int nx = (int)objs.len;
	const char **xnames = objs.data;
	uint32_t *outer = arena_alloc(a, sizeof *outer * (size_t)(nx + 1));
	uint32_t *all = arena_alloc(a, sizeof *all * (size_t)(nin + nx + 1));
	memcpy(all, in, sizeof *all * (size_t)nin);
	for (int i = 0; i < nx; i++) {
		outer[i] = find(fs, xnames[i])->value;
		all[nin + i] = outer[i];
	}
	struct ir_block **blocks = arena_alloc(a, sizeof *blocks * (size_t)(nb + 1));
	struct vec stale = {0};
	size_t nimplicit = fs->implicit.len;
	for (int i = 0; i < nx; i++)   /* the blocks' ends read them */
		VEC_PUSH(a, &fs->implicit, const char *, xnames[i]);
	for (int i = 0; i < nb; i++) {
		blocks[i] = ir_new_block(m);
		lower_block(fs, &gn->blocks[i], blocks[i], &stale, xnames, nx, loop ? outer : NULL);
	}
	fs->implicit.len = nimplicit;
	/* Objects no block changed are read from outside instead. */
	int k = 0;
	for (int i = 0; i < nx; i++) {
		int changed = 0;
		for (int br = 0; br < nb; br++) {
			struct ir_block *b = blocks[br];
			uint32_t r = b->rets[gn->blocks[br].nrets + i];
			changed |= loop ? r != b->params[gn->blocks[br].nparams + i] : r != outer[i];
		}
		if (!changed) {
			if (loop)
				ir_replace_uses(m, blocks[0]->params[gn->blocks[0].nparams + i], outer[i]);
			continue;
		}
		for (int br = 0; br < nb; br++) {
			struct ir_block *b = blocks[br];
			b->rets[gn->blocks[br].nrets + k] = b->rets[gn->blocks[br].nrets + i];
			if (loop)
				b->params[gn->blocks[br].nparams + k] = b->params[gn->blocks[br].nparams + i];
		}
		all[nin + k] = all[nin + i];
		outer[k] = outer[i];
		xnames[k++] = xnames[i];
	}
	for (int br = 0; br < nb; br++) {
		blocks[br]->nrets = gn->blocks[br].nrets + k;
		if (loop)
			blocks[br]->nparams = gn->blocks[br].nparams + k;
	}
	struct ir_node *n = add(fs, gn, op, all, nin + (loop ? k : 0), gn->nout + k);
	n->blocks = blocks;
	n->nblocks = nb;
	for (size_t i = 0; i < stale.len; i++)
		push(fs, VEC_AT(&stale, struct gbind, i));
	for (int i = 0; i < k; i++) {
		uint32_t o = n->out[gn->nout + i];
		ir_val(m, o)->kind = ir_val(m, outer[i])->kind;
		ir_val(m, o)->type = ir_val(m, outer[i])->type;
		ir_val(m, o)->name = ir_val(m, outer[i])->name;
		ir_val(m, o)->loc = n->loc;
		remap(fs, &(struct g_ref){xnames[i], gn->at}, o, gn->at);
	}
	return n;
}

/* prim::If(cond): two blocks without parameters, each with one result per output. */
static void lw_if(struct gfn *fs, const struct g_node *gn)
{
	struct glower *L = fs->L;
	check_counts(fs, gn, 1, -1);
	if (gn->nblocks != 2)
		diag_error(L->ctx, gn->at, "prim::If has %d blocks, not 2", gn->nblocks);
	for (int i = 0; i < 2; i++)
		if (gn->blocks[i].nparams || gn->blocks[i].nrets != gn->nout)
			diag_error(L->ctx, gn->blocks[i].at, "block%d of prim::If must take no parameters "
			           "and give %d result%s", i, gn->nout, gn->nout == 1 ? "" : "s");
	uint32_t cond = use(fs, &gn->ins[0]);
	struct ir_node *n = cf_node(fs, gn, OP_IF, &cond, 1);
	for (int i = 0; i < gn->nout; i++) {
		define(fs, &gn->outs[i], n->out[i], n->loc, 1);
		if (gn->outs[i].t.optional)
			set_type(L->m, n->out[i], &gn->outs[i].t, 1);
	}
}

/* prim::Loop(trip, cond, carried...): one block (i, carried...) -> (cond, carried...). */
static void lw_loop(struct gfn *fs, const struct g_node *gn)
{
	struct glower *L = fs->L;
	if (gn->nin < 2)
		diag_error(L->ctx, gn->at, "prim::Loop takes a trip count, a condition and the "
		           "carried values; %d inputs given", gn->nin);
	int nc = gn->nin - 2;
	check_counts(fs, gn, -1, nc);
	if (gn->nblocks != 1 || gn->blocks[0].nparams != nc + 1 || gn->blocks[0].nrets != nc + 1)
		diag_error(L->ctx, gn->nblocks ? gn->blocks[0].at : gn->at, "prim::Loop with %d "
		           "carried value%s needs one block of %d parameters and %d results", nc,
		           nc == 1 ? "" : "s", nc + 1, nc + 1);
	struct ir_node *n = cf_node(fs, gn, OP_LOOP, uses(fs, gn, 0), gn->nin);
	define_outs(fs, gn, n, 1);
}

static uint32_t lower_graph(struct glower *L, struct g_graph *gr);

/* The callee of method `method` of class `qual`: the file's graph, or the archive's code. */
static uint32_t find_method(struct gfn *fs, const struct g_node *gn, const char *qual,
                            const char *method)
{
	struct glower *L = fs->L;
	for (size_t i = 0; i < L->g->graphs.len; i++) {
		struct g_graph *gr = VEC_AT(&L->g->graphs, struct g_graph *, i);
		if (gr->qualname && strcmp(gr->qualname, qual) == 0 && strcmp(gr->method, method) == 0)
			return lower_graph(L, gr);
	}
	const char *leaf = strrchr(qual, '.') ? strrchr(qual, '.') + 1 : qual;
	const char *fname = arena_printf(&L->ctx->arena, "%s.%s", leaf, method);
	for (uint32_t i = 0; L->have_code && i < L->first_code_func; i++) {
		struct ir_func *f = VEC_AT(&L->m->funcs, struct ir_func *, i);
		if (f->qualname && strcmp(f->qualname, qual) == 0 && strcmp(f->name, fname) == 0)
			return i;
	}
	diag_error(L->ctx, gn->at, "no graph for method '%s' of class '%s' in the file%s", method,
	           qual, L->have_code ? " nor in the archive's code" : "");
}

static void call_node(struct gfn *fs, const struct g_node *gn, enum op op, uint32_t f,
                      uint32_t *in, int nin, const char *name, const char *qual)
{
	struct glower *L = fs->L;
	struct ir_func *fn = VEC_AT(&L->m->funcs, struct ir_func *, f);
	if (fn->body->nparams != nin)
		diag_error(L->ctx, gn->at, "'%s' takes %d arguments, %d given", fn->name,
		           fn->body->nparams, nin);
	/* Results 1.. are the final records of the object arguments the callee changes; kiln's
	 * dumps name them as outputs, PyTorch's mutate the arguments. */
	int nx = fn->body->nrets > 1 ? fn->body->nrets - 1 : 0;
	int explicit = nx && gn->nout == 1 + nx;
	if (gn->nout > 1 && !explicit)
		check_counts(fs, gn, -1, 1);
	int *param = arena_alloc(&L->ctx->arena, sizeof *param * (size_t)(nx + 1));
	for (int j = 0; j < nx; j++) {
		param[j] = record_param(L->m, fn->body, fn->body->rets[1 + j], 0);
		if (param[j] < 0 || !user_obj(L, in[param[j]]))
			diag_error(L->ctx, gn->at, "'%s' changes an object it is not given", fn->name);
		check_owned(L, in[param[j]], gn->at);
	}
	struct ir_node *n = add(fs, gn, op, in, nin, 1 + nx);
	n->a.call = (struct call_attr){name, qual, f};
	uint32_t r = fn->body->nrets ? fn->body->rets[0] : IR_NONE;
	ir_val(L->m, n->out[0])->kind = r != IR_NONE ? ir_val(L->m, r)->kind : VK_NONE;
	ir_val(L->m, n->out[0])->type = r != IR_NONE ? ir_val(L->m, r)->type : NULL;
	uint32_t *outs = arena_alloc(&L->ctx->arena, sizeof *outs * (size_t)(nx + 1));
	memcpy(outs, n->out, sizeof *outs * (size_t)(nx + 1));
	struct loc loc = n->loc;
	int from = gn->nin - nin;   /* CallFunction: the Function is input 0 */
	for (int j = 0; j < nx; j++) {
		uint32_t arg = in[param[j]], o = outs[1 + j];
		ir_val(L->m, o)->kind = VK_OBJECT;
		ir_val(L->m, o)->type = ir_val(L->m, arg)->type;
		ir_val(L->m, o)->name = ir_val(L->m, arg)->name;
		ir_val(L->m, o)->loc = loc;
		if (!explicit)
			remap(fs, &gn->ins[from + param[j]], o, gn->at);
	}
	for (int i = explicit; explicit && i < gn->nout; i++)
		define(fs, &gn->outs[i], outs[i], loc, 1);
	for (int i = 0; r != IR_NONE && i < fn->body->nparams && gn->nout; i++)
		if (r == fn->body->params[i] && user_obj(L, in[i])) {
			/* a parameter object returned: the caller's argument, as changed */
			uint32_t v = use(fs, &gn->ins[from + i]);
			for (int j = 0; explicit && j < nx; j++)
				if (param[j] == i)
					v = outs[1 + j];
			push(fs, (struct gbind){.name = gn->outs[0].name, .value = v});
			return;
		}
	for (int i = 0; i < (explicit ? 1 : gn->nout); i++)
		define(fs, &gn->outs[i], outs[i], loc, 1);
}

/* prim::CallMethod[name="m"](obj, args...) */
static void lw_call_method(struct gfn *fs, const struct g_node *gn)
{
	struct glower *L = fs->L;
	const char *method = name_attr(fs, gn);
	if (gn->nin < 1)
		check_counts(fs, gn, 1, -1);
	uint32_t *in = uses(fs, gn, 0);
	struct ir_value *ov = ir_val(L->m, in[0]);
	if (ov->kind != VK_OBJECT || !ov->type || !ov->type->qualname)
		diag_error(L->ctx, gn->ins[0].at, "method '%s' called on '%%%s', which is not an object",
		           method, gn->ins[0].name);
	const char *qual = ov->type->qualname;
	uint32_t f = find_method(fs, gn, qual, method);
	call_node(fs, gn, OP_CALL_METHOD, f, in, gn->nin, method, qual);
}

/* prim::CallFunction(%f, args...) with %f a Function constant: the archive's function. */
static void lw_call_function(struct gfn *fs, const struct g_node *gn)
{
	struct glower *L = fs->L;
	if (gn->nin < 1)
		check_counts(fs, gn, 1, -1);
	struct gbind *b = find(fs, gn->ins[0].name);
	if (!b || !b->func)
		diag_error(L->ctx, gn->ins[0].at, "'%%%s' is not a Function constant", gn->ins[0].name);
	for (uint32_t i = 0; L->have_code && i < L->first_code_func; i++) {
		struct ir_func *f = VEC_AT(&L->m->funcs, struct ir_func *, i);
		if (!f->qualname && strcmp(f->name, b->func) == 0) {
			call_node(fs, gn, OP_CALL_FUNC, i, uses(fs, gn, 1), gn->nin - 1, f->name, f->name);
			return;
		}
	}
	diag_error(L->ctx, gn->at, "no code for function '%s'%s", b->func,
	           L->have_code ? " in the archive" : " (give the model's archive with --weights)");
}

/* ---- aten:: and other operators: the schema table ---- */

static enum vkind result_kind(struct ir_module *m, const struct aten_schema *s,
                              const uint32_t *in)
{
	switch (s->result) {
	case R_TENSOR: case R_TENSOR2: return VK_TENSOR;
	case R_TENSORLIST: return VK_LIST;
	case R_INT: return VK_INT;
	case R_FLOAT: return VK_FLOAT;
	case R_BOOL: case R_CMP: return VK_BOOL;
	case R_NONE: return VK_NONE;
	case R_SAME: return ir_val(m, in[0])->kind;
	default: return VK_ANY;
	}
}

/* Fill arguments i.. from the schema's defaults. */
static void fill_defaults(struct gfn *fs, const struct g_node *gn, const struct aten_schema *s,
                          uint32_t *in, int from)
{
	struct ir_module *m = fs->L->m;
	for (int j = from; j < s->nargs; j++) {
		if (!s->has_default[j])
			diag_error(fs->L->ctx, gn->at, "'%s' is missing its argument '%s'", gn->kind,
			           s->args[j]);
		const struct aten_default *d = &s->deflt[j];
		switch (d->kind) {
		case CK_NONE: in[j] = ir_const_none(m, fs->b); break;
		case CK_INT: in[j] = ir_const_int(m, fs->b, d->i); break;
		case CK_BOOL: in[j] = ir_const_bool(m, fs->b, (int)d->i); break;
		case CK_FLOAT: in[j] = ir_const_float(m, fs->b, d->f); break;
		case CK_STR: in[j] = ir_const_str(m, fs->b, d->s); break;
		case CK_INTS: in[j] = ir_const_ints(m, fs->b, d->ints, d->n); break;
		default: unreachable();
		}
	}
}

/* "aten::add" -> "add", "prim::NumToTensor" -> "prim.NumToTensor", "ns::f" -> "ns.f". */
static const char *table_name(struct arena *a, const char *kind)
{
	const char *sep = strstr(kind, "::");
	if (strncmp(kind, "aten::", 6) == 0)
		return kind + 6;
	return arena_printf(a, "%.*s.%s", (int)(sep - kind), kind, sep + 2);
}

static void lw_aten(struct gfn *fs, const struct g_node *gn)
{
	struct glower *L = fs->L;
	const char *name = table_name(&L->ctx->arena, gn->kind);
	int id = aten_lookup(name);
	if (id < 0) {
		diag_error_soft(L->ctx, gn->at, "unsupported operator '%s'", gn->kind);
		struct ir_node *n = add(fs, gn, OP_ATEN, NULL, 0, gn->nout);
		n->a.aten = (struct aten_attr){name, -1};
		define_outs(fs, gn, n, 1);
		return;
	}
	static const char *const keys[] = {"warn_id", NULL};
	allow_attrs(fs, gn, keys);
	const struct aten_schema *s = aten_schema((enum aten_id)id);
	if (gn->nin > s->nargs)
		diag_error(L->ctx, gn->at, "too many inputs to '%s': %d given, at most %d", gn->kind,
		           gn->nin, s->nargs);
	uint32_t in[ATEN_MAX_ARGS];
	for (int i = 0; i < gn->nin; i++)
		in[i] = use(fs, &gn->ins[i]);
	fill_defaults(fs, gn, s, in, gn->nin);
	int nout = s->result == R_TENSOR2 || s->result == R_TUPLE2 ? 2 : s->result == R_TUPLE3 ? 3 : 1;
	if (gn->nout > nout)
		check_counts(fs, gn, -1, nout);
	struct ir_node *n = add(fs, gn, OP_ATEN, in, s->nargs, nout);
	n->a.aten = (struct aten_attr){s->name, id};
	enum vkind k = result_kind(L->m, s, in);
	for (int i = 0; i < nout; i++)
		ir_val(L->m, n->out[i])->kind = k;
	define_outs(fs, gn, n, 1);
	if (inplace_kind(gn->kind) && gn->nin)
		remap(fs, &gn->ins[0], n->out[0], gn->at);
}

typedef void lw_fn(struct gfn *, const struct g_node *);
static const struct { const char *kind; lw_fn *fn; } prims[] = {
	{"prim::Constant", lw_constant},
	{"prim::CreateObject", lw_create_object},
	{"prim::ListConstruct", lw_list},
	{"prim::TupleConstruct", lw_tuple},
	{"prim::DictConstruct", lw_dict},
	{"aten::_set_item", lw_set_item},
	{"kiln::dict_set", lw_dict_set},
	{"prim::ListUnpack", lw_unpack},
	{"prim::TupleUnpack", lw_unpack},
	{"prim::TupleIndex", lw_getitem},
	{"aten::__getitem__", lw_getitem},
	{"prim::GetAttr", lw_getattr},
	{"prim::SetAttr", lw_setattr},
	{"kiln::obj_set", lw_obj_set},
	{"prim::CallMethod", lw_call_method},
	{"prim::CallFunction", lw_call_function},
	{"prim::If", lw_if},
	{"prim::Loop", lw_loop},
	{"prim::RaiseException", lw_raise},
	{"prim::unchecked_cast", lw_cast},
	{"prim::Uninitialized", lw_uninitialized},
	{"aten::format", lw_format},
	{"aten::append", lw_append},
};

static void lower_nodes(struct gfn *fs, const struct g_block *gb)
{
	size_t level = fs->cur.len;
	VEC_PUSH(&fs->L->ctx->arena, &fs->cur, struct gcursor, ((struct gcursor){gb, 0}));
	for (size_t i = 0; i < gb->nodes.len; i++) {
		const struct g_node *gn = VEC_AT(&gb->nodes, struct g_node *, i);
		VEC_AT(&fs->cur, struct gcursor, level).i = i;
		lw_fn *fn = lw_aten;
		for (size_t k = 0; k < sizeof prims / sizeof *prims; k++)
			if (strcmp(gn->kind, prims[k].kind) == 0)
				fn = prims[k].fn;
		if (fn != lw_if && fn != lw_loop && gn->nblocks)
			diag_error(fs->L->ctx, gn->blocks[0].at, "'%s' takes no blocks", gn->kind);
		fn(fs, gn);
		if (fs->L->ctx->nerrors >= 20)
			diag_check(fs->L->ctx);
	}
	fs->cur.len = level;
}

/* Whether results 1.. of graph gb (being lowered into body) are records of distinct
 * user-class object parameters, as kiln writes a function that changes its arguments. */
static int explicit_records(struct gfn *fs, const struct ir_block *body, const struct g_block *gb)
{
	int seen[MAX_DEPTH] = {0};
	for (int i = 1; i < gb->nrets; i++) {
		struct gbind *b = find(fs, gb->rets[i].name);
		if (!b || b->func || b->stale || b->value == IR_NONE || !user_obj(fs->L, b->value))
			return 0;
		int p = record_param(fs->L->m, body, b->value, 0);
		if (p < 0 || p >= MAX_DEPTH || seen[p]++)
			return 0;
	}
	return 1;
}

/* Lower graph gr into a new function (memoized). Several results become one tuple, except
 * in kiln's form (explicit_records). */
static uint32_t lower_graph(struct glower *L, struct g_graph *gr)
{
	if (gr->state == 2)
		return gr->func;
	if (gr->state == 1)
		diag_error(L->ctx, gr->at, "method '%s' of '%s' calls itself", gr->method, gr->qualname);
	if (++L->depth > MAX_DEPTH)
		diag_error(L->ctx, gr->at, "calls nest more than %d deep", MAX_DEPTH);
	gr->state = 1;
	const struct g_block *gb = &gr->body;
	const char *qual = gr->qualname;
	if (!qual && gb->nparams && gb->params[0].t.kind == VK_OBJECT)
		qual = gb->params[0].t.type->qualname;
	const char *leaf = qual && strrchr(qual, '.') ? strrchr(qual, '.') + 1 : qual;
	struct ir_func *fn = ir_new_func(L->m, leaf ? arena_printf(&L->ctx->arena, "%s.%s", leaf,
	                                 gr->method ? gr->method : "forward") : "forward");
	fn->qualname = qual;
	uint32_t idx = (uint32_t)(L->m->funcs.len - 1);
	struct gfn fs = {.L = L, .b = fn->body};
	fn->arg_names = arena_alloc(&L->ctx->arena, sizeof(char *) * (size_t)(gb->nparams + 1));
	for (int i = 0; i < gb->nparams; i++) {
		uint32_t p = ir_add_param(L->m, fn->body, gb->params[i].t.kind);
		define(&fs, &gb->params[i], p, gb->params[i].at, 1);
		fn->arg_names[i] = ir_val(L->m, p)->name;
		if (user_obj(L, p))   /* its final record is read at the end */
			VEC_PUSH(&L->ctx->arena, &fs.implicit, const char *, gb->params[i].name);
	}
	lower_nodes(&fs, gb);
	uint32_t ret;
	uint32_t *rets = arena_alloc(&L->ctx->arena, sizeof *rets * (size_t)(gb->nparams +
	                             gb->nrets + 1));
	int nr = 0;
	if (gb->nrets > 1 && explicit_records(&fs, fn->body, gb)) {
		/* kiln's form: the result, then the final records of the changed parameters */
		for (int i = 0; i < gb->nrets; i++)
			rets[nr++] = use(&fs, &gb->rets[i]);
		ret = rets[0];
	} else if (gb->nrets == 1) {
		ret = use(&fs, &gb->rets[0]);
	} else {
		uint32_t *in = arena_alloc(&L->ctx->arena, sizeof *in * (size_t)(gb->nrets + 1));
		for (int i = 0; i < gb->nrets; i++)
			in[i] = use(&fs, &gb->rets[i]);
		uint32_t n = ir_add_node(L->m, fn->body, gb->nrets ? OP_TUPLE : OP_CONST, in,
		                         gb->nrets, 1);
		ret = ir_node(L->m, n)->out[0];
		ir_val(L->m, ret)->kind = gb->nrets ? VK_TUPLE : VK_NONE;
	}
	/* Then the final record of each object parameter the graph changed (as ts_lower.c). */
	if (!nr)
		rets[nr++] = ret;
	for (int i = 0; i < gb->nparams; i++) {
		uint32_t p = fn->body->params[i];
		struct gbind *b = find(&fs, gb->params[i].name);
		if (user_obj(L, p) && b && !b->stale && b->value != p)
			rets[nr++] = b->value;
	}
	ir_set_rets(L->m, fn->body, rets, nr);
	gr->func = idx;
	gr->state = 2;
	L->depth--;
	return idx;
}

/* Whether lowering needs the archive's code: CallFunction, or CallMethod without
 * `module` sections to take the callees from. Sets *at to the first such node. */
/* The declaration of value `name` in block b or a block nested in it, or NULL. */
static const struct g_decl *decl_of(const struct g_block *b, const char *name)
{
	for (int i = 0; i < b->nparams; i++)
		if (strcmp(b->params[i].name, name) == 0)
			return &b->params[i];
	for (size_t i = 0; i < b->nodes.len; i++) {
		const struct g_node *n = VEC_AT(&b->nodes, struct g_node *, i);
		for (int k = 0; k < n->nout; k++)
			if (strcmp(n->outs[k].name, name) == 0)
				return &n->outs[k];
		for (int k = 0; k < n->nblocks; k++) {
			const struct g_decl *d = decl_of(&n->blocks[k], name);
			if (d)
				return d;
		}
	}
	return NULL;
}

/* Whether the file has a graph for method `method` of the class of the receiver of
 * CallMethod node n (declared in graph body root). */
static int have_method_graph(struct gp *g, const struct g_block *root, const struct g_node *n)
{
	const struct g_attr *a = attr(n, "name");
	const struct g_decl *d = n->nin ? decl_of(root, n->ins[0].name) : NULL;
	if (!a || a->kind != GA_STR || !d || d->t.kind != VK_OBJECT || !d->t.type)
		return 1; /* lowering reports it */
	for (size_t i = 0; i < g->graphs.len; i++) {
		struct g_graph *gr = VEC_AT(&g->graphs, struct g_graph *, i);
		if (gr->qualname && strcmp(gr->qualname, d->t.type->qualname) == 0 &&
		    strcmp(gr->method, a->s) == 0)
			return 1;
	}
	return 0;
}

static int needs_code(struct gp *g, const struct g_block *root, const struct g_block *b,
                      struct loc *at)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		const struct g_node *n = VEC_AT(&b->nodes, struct g_node *, i);
		if (strcmp(n->kind, "prim::CallFunction") == 0 ||
		    (strcmp(n->kind, "prim::CallMethod") == 0 &&
		     (!g->nmodules || !have_method_graph(g, root, n)))) {
			*at = n->at;
			return 1;
		}
		for (int k = 0; k < n->nblocks; k++)
			if (needs_code(g, root, &n->blocks[k], at))
				return 1;
	}
	return 0;
}

/* Whether block b (or a block nested in it) uses the value called name. */
static int uses_name(const struct g_block *b, const char *name)
{
	for (int i = 0; i < b->nrets; i++)
		if (strcmp(b->rets[i].name, name) == 0)
			return 1;
	for (size_t i = 0; i < b->nodes.len; i++) {
		const struct g_node *n = VEC_AT(&b->nodes, struct g_node *, i);
		for (int k = 0; k < n->nin; k++)
			if (strcmp(n->ins[k].name, name) == 0)
				return 1;
		for (int k = 0; k < n->nblocks; k++)
			if (uses_name(&n->blocks[k], name))
				return 1;
	}
	return 0;
}

/* The entry graph: the first module's forward, else the first graph. */
static struct g_graph *entry_graph(struct gp *g)
{
	for (size_t i = 0; i < g->graphs.len; i++) {
		struct g_graph *gr = VEC_AT(&g->graphs, struct g_graph *, i);
		if (!gr->qualname || strcmp(gr->method, "forward") == 0)
			return gr;
	}
	return VEC_AT(&g->graphs, struct g_graph *, 0);
}

struct ir_module *ts_graph_load(struct kiln_ctx *ctx, const char *path, const char *weights_pt)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fatal("cannot open %s:", path);
	struct vec text = {0};
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		vec_reserve(&ctx->arena, &text, 1, text.len + n + 1);
		memcpy((char *)text.data + text.len, buf, n);
		text.len += n;
	}
	fclose(f);
	vec_reserve(&ctx->arena, &text, 1, text.len + 1);
	((char *)text.data)[text.len] = 0;
	if (strlen(text.data) != text.len)
		diag_error(ctx, (struct loc){.file = path}, "the file contains a NUL byte; "
		           "TorchScript IR is text");

	struct gp g = {.ctx = ctx, .path = path, .p = text.data, .bol = text.data, .line = 1};
	parse_file(&g);

	struct glower L = {.ctx = ctx, .g = &g, .weights = weights_pt};
	struct g_graph *entry = entry_graph(&g);
	struct loc at;
	int code = 0;
	for (size_t i = 0; i < g.graphs.len && !code; i++)
		code = needs_code(&g, &VEC_AT(&g.graphs, struct g_graph *, i)->body,
		                  &VEC_AT(&g.graphs, struct g_graph *, i)->body, &at);
	if (code && !weights_pt)
		diag_error(ctx, at, "this graph calls code that is not in the file; give the model's "
		           "archive with --weights, or use the inlined graph");
	if (code) {
		L.m = ts_load(ctx, weights_pt);
		L.m->source = path;
		L.root = (struct pv *)L.m->root;
		L.have_code = 1;
		L.first_code_func = (uint32_t)L.m->funcs.len;
	} else {
		L.m = ir_module_new(ctx, path);
		if (weights_pt) {
			L.ar = pt_open(ctx, weights_pt);
			L.root = pt_unpickle(ctx, L.ar, "data.pkl", "data");
			L.m->root = L.root;
		}
	}
	const struct g_block *eb = &entry->body;
	if (eb->nparams && eb->params[0].t.kind == VK_OBJECT)
		L.self_qual = eb->params[0].t.type->qualname;
	if (!weights_pt && eb->nparams && eb->params[0].t.kind == VK_OBJECT) {
		if (uses_name(eb, eb->params[0].name))
			diag_error(ctx, eb->params[0].at, "the graph reads the module's attributes "
			           "through '%%%s'; give the model's archive with --weights",
			           eb->params[0].name);
		/* A frozen graph: `self` is unused; an object without attributes stands for it. */
		struct pv *self = arena_alloc(&ctx->arena, sizeof *self);
		self->kind = PV_OBJECT;
		self->u.obj.qualname = eb->params[0].t.type->qualname;
		L.m->root = L.root = self;
	}
	L.m->main = lower_graph(&L, entry);
	diag_check(ctx);
	return L.m;
}
