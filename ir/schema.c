/* schema.c: the flatten schema (passes/flatten.c builds it) written out: as JSON for
 * `kiln --emit=schema` and the ONNX/Caffe2 metadata, and as a Python-like expression for
 * the C header's comment on how the flat tensors rebuild the model's values.
 * Deterministic: the same module gives the same bytes (no pointers, no hashing; floats
 * with %.17g). Strings grow in the arena; linear in the schema's size. */
#include <math.h>
#include <string.h>

#include "ir.h"

struct sb {
	struct arena *a;
	char *p;
	size_t len, cap;
};

static void sb_put(struct sb *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap + n + 1) * 2;
		char *p = arena_alloc(b->a, cap);
		if (b->len)
			memcpy(p, b->p, b->len);
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_str(struct sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* A string literal: JSON's escapes (json) or Python's repr quoting. */
static void sb_quoted(struct sb *b, const char *s, int json)
{
	sb_str(b, json ? "\"" : "'");
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char tmp[8];
		if (*c == '"' || *c == '\\' || (!json && *c == '\''))
			snprintf(tmp, sizeof tmp, "\\%c", *c);
		else if (*c < 0x20 || (!json && *c == '*'))   /* no comment ends in the header */
			snprintf(tmp, sizeof tmp, json ? "\\u%04x" : "\\x%02x", *c);
		else
			snprintf(tmp, sizeof tmp, "%c", *c);
		sb_str(b, tmp);
	}
	sb_str(b, json ? "\"" : "'");
}

static void sb_float(struct sb *b, double x, int json)
{
	char tmp[40];
	if (isnan(x) || isinf(x))
		snprintf(tmp, sizeof tmp, json ? "\"%s\"" : "float('%s')",
		         isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
	else
		snprintf(tmp, sizeof tmp, "%.17g", x);
	sb_str(b, tmp);
}

static void sb_const(struct sb *b, const struct ir_const *c, int json)
{
	char tmp[32];
	switch (c->kind) {
	case CK_NONE: sb_str(b, json ? "null" : "None"); break;
	case CK_BOOL: sb_str(b, c->i ? (json ? "true" : "True") : (json ? "false" : "False")); break;
	case CK_INT:
		snprintf(tmp, sizeof tmp, "%lld", (long long)c->i);
		sb_str(b, tmp);
		break;
	case CK_FLOAT: sb_float(b, c->f, json); break;
	case CK_STR: case CK_DEVICE: sb_quoted(b, c->s, json); break;
	case CK_INTS: case CK_FLOATS:
		sb_str(b, json ? "[" : "(");
		for (int i = 0; i < c->n; i++) {
			if (i)
				sb_str(b, ", ");
			if (c->kind == CK_INTS) {
				snprintf(tmp, sizeof tmp, "%lld", (long long)c->ints[i]);
				sb_str(b, tmp);
			} else {
				sb_float(b, c->floats[i], json);
			}
		}
		sb_str(b, json ? "]" : (c->n == 1 ? ",)" : ")"));
		break;
	default: sb_str(b, json ? "null" : "None"); break;   /* tensors and objects are not leaves */
	}
}

static void sb_shape(struct sb *b, const struct ir_value *v)
{
	char tmp[32];
	sb_str(b, "[");
	for (int k = 0; k < v->shape.rank; k++) {
		if (k)
			sb_str(b, ", ");
		if (v->shape.dims[k] >= 0) {
			snprintf(tmp, sizeof tmp, "%lld", (long long)v->shape.dims[k]);
			sb_str(b, tmp);
		} else {
			sb_quoted(b, v->shape.sym[k] ? v->shape.sym[k] : "?", 1);
		}
	}
	sb_str(b, "]");
}

static void json_node(struct sb *b, struct ir_module *m, const struct ir_schema *s,
                      const struct ir_io *io, int nio)
{
	char tmp[32];
	switch (s->kind) {
	case SC_TENSOR: {
		snprintf(tmp, sizeof tmp, "{\"tensor\": %d", s->index);
		sb_str(b, tmp);
		if (s->index < nio) {
			const struct ir_value *v = ir_val(m, io[s->index].value);
			sb_str(b, ", \"name\": ");
			sb_quoted(b, io[s->index].name, 1);
			sb_str(b, ", \"path\": ");
			sb_quoted(b, io[s->index].path, 1);
			sb_str(b, ", \"dtype\": ");
			sb_quoted(b, dtype_name(v->dtype), 1);
			sb_str(b, ", \"shape\": ");
			sb_shape(b, v);
		}
		sb_str(b, "}");
		return;
	}
	case SC_CONST:
		sb_str(b, "{\"const\": ");
		sb_const(b, s->value, 1);
		sb_str(b, "}");
		return;
	case SC_TUPLE: case SC_LIST:
		sb_str(b, s->kind == SC_TUPLE ? "{\"tuple\": [" : "{\"list\": [");
		for (int i = 0; i < s->n; i++) {
			sb_str(b, i ? ", " : "");
			json_node(b, m, s->items[i], io, nio);
		}
		sb_str(b, "]}");
		return;
	case SC_DICT: case SC_OBJECT:
		if (s->kind == SC_OBJECT) {
			sb_str(b, "{\"object\": ");
			sb_quoted(b, s->qualname, 1);
			sb_str(b, ", \"fields\": {");
		} else {
			sb_str(b, "{\"dict\": {");
		}
		for (int i = 0; i < s->n; i++) {
			sb_str(b, i ? ", " : "");
			sb_quoted(b, s->keys[i], 1);
			sb_str(b, ": ");
			json_node(b, m, s->items[i], io, nio);
		}
		sb_str(b, "}}");
		return;
	}
}

/* Input i when forward()'s arguments were not flattened: tensor i. */
static const struct ir_schema *flat_leaf(struct arena *a, int i)
{
	struct ir_schema *s = arena_alloc(a, sizeof *s);
	s->kind = SC_TENSOR;
	s->index = i;
	return s;
}

/* The outputs' schema; when flatten did not run, tensor 0 or a tuple of them all. */
static const struct ir_schema *out_schema(struct ir_module *m)
{
	struct arena *a = &m->ctx->arena;
	if (m->out_schema)
		return m->out_schema;
	if (m->noutputs == 1)
		return flat_leaf(a, 0);
	struct ir_schema *s = arena_alloc(a, sizeof *s);
	s->kind = SC_TUPLE;
	s->n = m->noutputs;
	s->items = arena_alloc(a, sizeof *s->items * (size_t)(s->n + 1));
	for (int i = 0; i < s->n; i++)
		s->items[i] = flat_leaf(a, i);
	return s;
}

char *ir_schema_json(struct ir_module *m)
{
	struct sb b = {&m->ctx->arena, NULL, 0, 0};
	int nargs = m->in_schema ? m->ninargs : m->inputs ? m->ninputs : ir_main(m)->body->nparams;
	sb_str(&b, "{\"inputs\": [");
	for (int i = 0; i < nargs; i++) {
		sb_str(&b, i ? ", " : "");
		json_node(&b, m, m->in_schema ? m->in_schema[i] : flat_leaf(b.a, i), m->inputs,
		          m->ninputs);
	}
	sb_str(&b, "], \"outputs\": ");
	json_node(&b, m, out_schema(m), m->outputs, m->noutputs);
	sb_str(&b, "}");
	return b.p;
}

static void expr_node(struct sb *b, const struct ir_schema *s, const char *prefix,
                      const char *const *names, int nnames)
{
	char tmp[32];
	switch (s->kind) {
	case SC_TENSOR:
		sb_str(b, prefix);
		if (s->index < nnames) {
			sb_str(b, names[s->index]);
		} else {
			snprintf(tmp, sizeof tmp, "[%d]", s->index);
			sb_str(b, tmp);
		}
		return;
	case SC_CONST: sb_const(b, s->value, 0); return;
	case SC_TUPLE: case SC_LIST:
		sb_str(b, s->kind == SC_TUPLE ? "(" : "[");
		for (int i = 0; i < s->n; i++) {
			sb_str(b, i ? ", " : "");
			expr_node(b, s->items[i], prefix, names, nnames);
		}
		sb_str(b, s->kind == SC_LIST ? "]" : s->n == 1 ? ",)" : ")");
		return;
	case SC_DICT: case SC_OBJECT: {
		const char *dot = s->kind == SC_OBJECT ? strrchr(s->qualname, '.') : NULL;
		if (s->kind == SC_OBJECT)
			sb_str(b, dot ? dot + 1 : s->qualname);
		sb_str(b, s->kind == SC_OBJECT ? "(" : "{");
		for (int i = 0; i < s->n; i++) {
			sb_str(b, i ? ", " : "");
			if (s->kind == SC_OBJECT) {
				sb_str(b, s->keys[i]);
				sb_str(b, "=");
			} else {
				sb_quoted(b, s->keys[i], 0);
				sb_str(b, ": ");
			}
			expr_node(b, s->items[i], prefix, names, nnames);
		}
		sb_str(b, s->kind == SC_OBJECT ? ")" : "}");
		return;
	}
	}
}

void ir_schema_expr(FILE *f, struct ir_module *m, int outputs, const char *prefix,
                    const char *const *names)
{
	struct sb b = {&m->ctx->arena, NULL, 0, 0};
	sb_str(&b, "");
	if (outputs) {
		expr_node(&b, out_schema(m), prefix, names, m->noutputs);
	} else {
		int nargs = m->in_schema ? m->ninargs : m->inputs ? m->ninputs
		                                                  : ir_main(m)->body->nparams;
		sb_str(&b, "(");
		for (int i = 0; i < nargs; i++) {
			sb_str(&b, i ? ", " : "");
			expr_node(&b, m->in_schema ? m->in_schema[i] : flat_leaf(b.a, i), prefix, names,
			          m->ninputs);
		}
		sb_str(&b, ")");
	}
	fputs(b.p, f);
}
