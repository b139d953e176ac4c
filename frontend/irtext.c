/* irtext.c: reads the IR text format that ir/print.c writes (grammar: ir/README.md),
 * rebuilding a module through module.c's API (STYLE K9).
 *
 * A recursive-descent parser over a small lexer. Value names (%12, %x) are local to a
 * function: each definition gets a fresh id, so a file whose values are numbered in
 * definition order (what printing a freshly read module gives) reads back to the same
 * ids and prints identically. A name is visible from its definition to the end of the
 * block defining it, nested blocks included; it may be defined once per function.
 * Node outputs become visible after the node's own blocks, as ir_verify wants.
 *
 * Everything ir_verify or a pass would trip over is a diagnostic here, at
 * `path:line:col`: unknown ops, arity against ops.def, undefined or redefined values,
 * malformed or out-of-range attributes, bad types, tensor data that does not fit its
 * type. No input crashes the reader: the text need not be NUL-terminated, numbers are
 * copied before conversion, and nesting of blocks and types is bounded.
 * Linear in the text size (names are hashed). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "frontend/aten.h"

#define MAX_DEPTH 64      /* nested blocks */
#define MAX_TYPE_DEPTH 32 /* nested container types */
#define MAX_OUTS 1024     /* results of one node */
#define MAX_BLOCKS 8      /* blocks of one node */
#define MAX_CONST_BYTES ((int64_t)1 << 30) /* one tensor constant; and all zero-filled ones */

enum tok { T_EOF, T_IDENT, T_VAL, T_AT, T_NUM, T_STR, T_HASH, T_PUNCT };

struct token {
	enum tok kind;
	const char *s;        /* text (T_VAL, T_AT: the name without its sigil) */
	size_t n;             /* its length */
	char c;               /* T_PUNCT: the character */
	const char *str;      /* T_STR, quoted T_AT: decoded text (arena) */
	int line, col;        /* 1-based */
	const char *lstart;   /* start of the token's line, for columns inside a comment */
};

/* A defined name of the current function. */
struct name {
	const char *s;
	size_t n;
	uint32_t v;           /* value id */
	int live;             /* 0 once its block has ended */
};

/* Checks that wait for the whole file: callee indices of call nodes. */
struct call_check {
	uint32_t node;
	struct loc loc;
};

/* What a function records about the model's inputs and outputs. */
struct func_io {
	const char **in_path, **out_path, **out_name; /* per param / ret, NULL if not given */
	int nin, nout;
};

struct parser {
	struct kiln_ctx *ctx;
	struct ir_module *m;
	const char *path;
	const char *p, *end;  /* lexer position */
	int line;             /* lexer line */
	const char *lstart;   /* start of the lexer's line */
	struct token t;       /* current token */
	struct vec names;     /* struct name, in definition order */
	uint32_t *slots;      /* hash of names: index + 1, 0 = empty */
	size_t nslots;
	struct vec calls;     /* struct call_check */
	struct vec io;        /* struct func_io, per function */
	int entry;            /* index of the function marked `entry`, -1 if none */
	int64_t zero_bytes;   /* bytes of tensor constants written without data (zeros) */
};

/* A parsed value type. */
struct ptype {
	enum vkind kind;
	enum dtype dtype;
	struct ir_shape shape;
	const struct ir_type *type;  /* containers and objects with <...> */
};

/* ---- diagnostics ---- */

static struct loc here(struct parser *P)
{
	return (struct loc){.file = P->path, .line = P->t.line, .col = P->t.col};
}

static _Noreturn void err_at(struct parser *P, int line, int col, const char *fmt, const char *arg)
{
	diag_error(P->ctx, (struct loc){.file = P->path, .line = line, .col = col}, fmt, arg);
}

/* The current token, for messages: "'relu'", "end of file". */
static const char *tok_desc(struct parser *P)
{
	struct arena *a = &P->ctx->arena;
	int n = P->t.n > 40 ? 40 : (int)P->t.n;
	switch (P->t.kind) {
	case T_EOF: return "end of file";
	case T_HASH: return "a comment";
	case T_STR: return "a string";
	case T_VAL: return arena_printf(a, "'%%%.*s'", n, P->t.s);
	case T_AT: return arena_printf(a, "'@%.*s'", n, P->t.s);
	default: return arena_printf(a, "'%.*s'", n, P->t.s);
	}
}

static _Noreturn void expected(struct parser *P, const char *what)
{
	diag_error(P->ctx, here(P), "expected %s, found %s", what, tok_desc(P));
}

/* ---- lexer ---- */

static int is_ident_char(int c)
{
	return c == '_' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* string := '"' { char | '\"' | '\\' | '\n' | '\t' | '\r' | '\x' HEX HEX } '"'
 * Decodes the literal at s (on the line starting at lstart); returns the end. */
static const char *lex_string(struct parser *P, const char *s, const char *end, int line,
                              const char *lstart, const char **out)
{
	const char *q = s + 1;
	while (q < end && *q != '"' && *q != '\n')
		q += *q == '\\' ? 2 : 1;
	size_t cap = (size_t)(q - s);
	char *buf = arena_alloc(&P->ctx->arena, cap + 1);
	size_t n = 0;
	q = s + 1;
	for (;;) {
		int col = (int)(q - lstart) + 1;
		if (q >= end || *q == '\n')
			err_at(P, line, (int)(s - lstart) + 1, "unterminated string%s", "");
		if (*q == '"')
			break;
		char c = *q++;
		if (c == '\\') {
			if (q >= end)
				continue;
			char e = *q++;
			if (e == 'x') {
				int h1 = q < end ? hexval(*q) : -1, h2 = q + 1 < end ? hexval(q[1]) : -1;
				if (h1 < 0 || h2 < 0 || (h1 == 0 && h2 == 0))
					err_at(P, line, col, "bad \\x escape in string%s", "");
				c = (char)(h1 * 16 + h2);
				q += 2;
			} else if (e == '"' || e == '\\') {
				c = e;
			} else if (e == 'n' || e == 't' || e == 'r') {
				c = e == 'n' ? '\n' : e == 't' ? '\t' : '\r';
			} else {
				err_at(P, line, col, "unknown escape in string%s", "");
			}
		}
		buf[n++] = c;
	}
	buf[n] = 0;
	*out = buf;
	return q + 1;
}

/* Skip blanks, newlines and whole-line comments (a '#' with only blanks before it on
 * its line); a '#' after something on its line is left for the parser (T_HASH). */
static void skip_space(struct parser *P)
{
	int bol = P->p == P->lstart;  /* next() starts right after a token, or at the start */
	while (P->p < P->end) {
		char c = *P->p;
		if (c == '\n') {
			P->p++;
			P->line++;
			P->lstart = P->p;
			bol = 1;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			P->p++;
		} else if (c == '#' && bol) {
			while (P->p < P->end && *P->p != '\n')
				P->p++;
		} else {
			break;
		}
	}
}

/* number := [+-] (digit | '.') { alnum | '.' | exponent sign }, or [+-] inf / nan */
static void lex_number(struct parser *P)
{
	const char *q = P->p;
	if (*q == '-' || *q == '+')
		q++;
	int hex = q + 1 < P->end && q[0] == '0' && (q[1] == 'x' || q[1] == 'X');
	while (q < P->end) {
		char c = *q;
		char prev = q > P->p ? q[-1] : 0;
		if (is_ident_char(c) && c != '_')
			q++;
		else if ((c == '+' || c == '-') &&
		         (hex ? (prev == 'p' || prev == 'P') : (prev == 'e' || prev == 'E')))
			q++;
		else
			break;
	}
	P->t.kind = T_NUM;
	P->t.n = (size_t)(q - P->p);
	P->p = q;
}

static void next(struct parser *P)
{
	skip_space(P);
	struct token *t = &P->t;
	memset(t, 0, sizeof *t);
	t->s = P->p;
	t->line = P->line;
	t->col = (int)(P->p - P->lstart) + 1;
	t->lstart = P->lstart;
	if (P->p >= P->end) {
		t->kind = T_EOF;
		return;
	}
	char c = *P->p;
	const char *q = P->p + 1;
	if (c == '#') {
		while (q < P->end && *q != '\n')
			q++;
		t->kind = T_HASH;
		t->s = P->p + 1;
		t->n = (size_t)(q - t->s);
		P->p = q;
	} else if (c == '%' || c == '@') {
		t->kind = c == '%' ? T_VAL : T_AT;
		if (c == '@' && q < P->end && *q == '"') {
			P->p = lex_string(P, q, P->end, t->line, t->lstart, &t->str);
			t->s = t->str;
			t->n = strlen(t->str);
			return;
		}
		while (q < P->end && is_ident_char(*q))
			q++;
		t->s = P->p + 1;
		t->n = (size_t)(q - t->s);
		P->p = q;
		if (!t->n)
			err_at(P, t->line, t->col, "expected a name after '%s'", c == '%' ? "%" : "@");
	} else if (c == '"') {
		t->kind = T_STR;
		P->p = lex_string(P, P->p, P->end, t->line, t->lstart, &t->str);
		t->n = (size_t)(P->p - t->s);
	} else if (is_digit(c) || ((c == '-' || c == '+') && q < P->end &&
	                           (is_digit(*q) || *q == '.' || *q == 'i' || *q == 'n'))) {
		lex_number(P);
	} else if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
		while (q < P->end && is_ident_char(*q))
			q++;
		t->kind = T_IDENT;
		t->n = (size_t)(q - P->p);
		P->p = q;
	} else if (strchr("(){}[]<>,=:*?", c)) {
		t->kind = T_PUNCT;
		t->c = c;
		t->n = 1;
		P->p++;
	} else {
		char shown[8];
		snprintf(shown, sizeof shown, c > 32 && c < 127 ? "%c" : "\\x%02x",
		         c > 32 && c < 127 ? c : (unsigned char)c);
		err_at(P, t->line, t->col, "unexpected character '%s'", shown);
	}
}

static int is_punct(struct parser *P, char c) { return P->t.kind == T_PUNCT && P->t.c == c; }

static int is_word(struct parser *P, const char *w)
{
	return P->t.kind == T_IDENT && P->t.n == strlen(w) && memcmp(P->t.s, w, P->t.n) == 0;
}

static void expect(struct parser *P, char c)
{
	char what[8] = {'\'', c, '\'', 0};
	if (!is_punct(P, c))
		expected(P, what);
	next(P);
}

static int accept(struct parser *P, char c)
{
	if (!is_punct(P, c))
		return 0;
	next(P);
	return 1;
}

/* Trailing comments where no location is expected are ignored. */
static void skip_hash(struct parser *P)
{
	while (P->t.kind == T_HASH)
		next(P);
}

static const char *tok_str(struct parser *P)
{
	return arena_strndup(&P->ctx->arena, P->t.s, P->t.n);
}

/* ---- numbers ---- */

/* Copy the current number token for strtod/strtoll (the text is not NUL-terminated). */
static void num_text(struct parser *P, char *buf, size_t size)
{
	if (P->t.kind != T_NUM && !(P->t.kind == T_IDENT && (is_word(P, "inf") || is_word(P, "nan"))))
		expected(P, "a number");
	if (P->t.n >= size)
		diag_error(P->ctx, here(P), "number too long");
	memcpy(buf, P->t.s, P->t.n);
	buf[P->t.n] = 0;
}

/* int := [+-] (decimal | 0x hex), within [lo, hi]: the current token's value */
static int64_t int_value(struct parser *P, int64_t lo, int64_t hi)
{
	char buf[80], *e;
	num_text(P, buf, sizeof buf);
	const char *d = buf + (buf[0] == '-' || buf[0] == '+');
	int base = d[0] == '0' && (d[1] == 'x' || d[1] == 'X') ? 16 : 10;
	errno = 0;
	long long v = strtoll(buf, &e, base);
	if (*e || e == buf || !is_digit(*d))
		diag_error(P->ctx, here(P), "expected an integer, found '%s'", buf);
	if (errno == ERANGE || v < lo || v > hi)
		diag_error(P->ctx, here(P), "integer %s out of range [%lld, %lld]", buf, (long long)lo,
		           (long long)hi);
	return v;
}

/* float := int | decimal or hex float | [+-] inf | nan: the current token's value */
static double double_value(struct parser *P)
{
	char buf[80], *e;
	num_text(P, buf, sizeof buf);
	double v = strtod(buf, &e);
	if (*e || e == buf)
		diag_error(P->ctx, here(P), "expected a number, found '%s'", buf);
	return v;
}

static float float_value(struct parser *P)
{
	char buf[80], *e;
	num_text(P, buf, sizeof buf);
	float v = strtof(buf, &e);
	if (*e || e == buf)
		diag_error(P->ctx, here(P), "expected a number, found '%s'", buf);
	return v;
}

static int64_t parse_int(struct parser *P, int64_t lo, int64_t hi)
{
	int64_t v = int_value(P, lo, hi);
	next(P);
	return v;
}

static double parse_double(struct parser *P)
{
	double v = double_value(P);
	next(P);
	return v;
}

static float parse_float(struct parser *P)
{
	float v = float_value(P);
	next(P);
	return v;
}

/* 1 if the number token is written as a float (1.0, 1e3, 0x1p-2, inf, nan). */
static int looks_float(struct parser *P)
{
	if (P->t.kind == T_IDENT)
		return 1;
	const char *s = P->t.s, *e = s + P->t.n;
	int hex = P->t.n > 2 && memchr(s, 'x', P->t.n);
	for (; s < e; s++)
		if (*s == '.' || *s == 'p' || *s == 'P' || *s == 'i' || *s == 'n' ||
		    (!hex && (*s == 'e' || *s == 'E')))
			return 1;
	return 0;
}

/* '[' [int {',' int}] ']' into v[0..max), *n elements */
static void parse_int_list(struct parser *P, int64_t *v, int max, int *n, int64_t lo, int64_t hi)
{
	expect(P, '[');
	*n = 0;
	while (!is_punct(P, ']')) {
		if (*n && !accept(P, ','))
			expected(P, "',' or ']'");
		if (*n >= max)
			diag_error(P->ctx, here(P), "more than %d values in a list", max);
		v[(*n)++] = parse_int(P, lo, hi);
	}
	next(P);
}

/* ---- names ---- */

static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211u;
	return h;
}

/* The index of name s in P->names, or -1. */
static long find_name(struct parser *P, const char *s, size_t n, size_t *slot)
{
	size_t mask = P->nslots - 1;
	for (size_t i = hash(s, n) & mask;; i = (i + 1) & mask) {
		*slot = i;
		uint32_t k = P->slots[i];
		if (!k)
			return -1;
		struct name *e = &VEC_AT(&P->names, struct name, k - 1);
		if (e->n == n && memcmp(e->s, s, n) == 0)
			return (long)k - 1;
	}
}

static void reset_names(struct parser *P)
{
	P->names.len = 0;
	P->nslots = 64;
	P->slots = arena_alloc(&P->ctx->arena, sizeof *P->slots * P->nslots);
}

static void grow_names(struct parser *P)
{
	P->nslots *= 2;
	P->slots = arena_alloc(&P->ctx->arena, sizeof *P->slots * P->nslots);
	for (size_t k = 0; k < P->names.len; k++) {
		struct name *e = &VEC_AT(&P->names, struct name, k);
		size_t slot;
		find_name(P, e->s, e->n, &slot);
		P->slots[slot] = (uint32_t)k + 1;
	}
}

/* Define the name of token t as value v. */
static void bind(struct parser *P, const struct token *t, uint32_t v)
{
	size_t slot;
	if (find_name(P, t->s, t->n, &slot) >= 0)
		err_at(P, t->line, t->col, "redefinition of '%s'",
		       arena_printf(&P->ctx->arena, "%%%.*s", (int)t->n, t->s));
	struct name e = {t->s, t->n, v, 1};
	VEC_PUSH(&P->ctx->arena, &P->names, struct name, e);
	P->slots[slot] = (uint32_t)P->names.len;
	if (P->names.len * 2 > P->nslots)
		grow_names(P);
}

/* value := '%' NAME | '_'   (the value a use names; IR_NONE for '_') */
static uint32_t use(struct parser *P)
{
	if (is_word(P, "_")) {
		next(P);
		return IR_NONE;
	}
	if (P->t.kind != T_VAL)
		expected(P, "a value");
	size_t slot;
	long k = find_name(P, P->t.s, P->t.n, &slot);
	const char *shown = arena_printf(&P->ctx->arena, "%%%.*s", (int)P->t.n, P->t.s);
	if (k < 0)
		err_at(P, P->t.line, P->t.col, "undefined value '%s'", shown);
	struct name *e = &VEC_AT(&P->names, struct name, (size_t)k);
	if (!e->live)
		err_at(P, P->t.line, P->t.col, "value '%s' is not in scope here", shown);
	next(P);
	return e->v;
}

/* Names defined since mark go out of scope. */
static void end_scope(struct parser *P, size_t mark)
{
	for (size_t k = mark; k < P->names.len; k++)
		VEC_AT(&P->names, struct name, k).live = 0;
}

/* ---- types ---- */

static const char *const kind_words[] = {
	[VK_INT] = "int", [VK_FLOAT] = "float", [VK_BOOL] = "bool", [VK_STR] = "str",
	[VK_NONE] = "none", [VK_DEVICE] = "device", [VK_ANY] = "any", [VK_TENSOR] = "tensor",
	[VK_LIST] = "list", [VK_TUPLE] = "tuple", [VK_DICT] = "dict", [VK_OPTIONAL] = "optional",
	[VK_OBJECT] = "object",
};

/* The kind a type word names, or -1. */
static int kind_word(struct parser *P)
{
	for (int k = 1; k <= VK_ANY; k++)
		if (kind_words[k] && is_word(P, kind_words[k]))
			return k;
	return -1;
}

/* The dtype a word names (f32, i64, ...), or DT_UNKNOWN. */
static enum dtype dtype_word(struct parser *P)
{
	for (int d = 1; d < DT_COUNT; d++)
		if (is_word(P, dtype_name((enum dtype)d)))
			return (enum dtype)d;
	return DT_UNKNOWN;
}

static const struct ir_type *parse_elem_type(struct parser *P, int depth, int *angle);

/* '<' [etype {',' etype}] '>' into t->elem */
static void parse_elems(struct parser *P, struct ir_type *t, int depth)
{
	struct vec v = {0};
	expect(P, '<');
	while (!is_punct(P, '>')) {
		if (v.len && !accept(P, ','))
			expected(P, "',' or '>'");
		if (v.len >= 256)
			diag_error(P->ctx, here(P), "too many element types");
		const struct ir_type *e = parse_elem_type(P, depth + 1, NULL);
		VEC_PUSH(&P->ctx->arena, &v, const struct ir_type *, e);
	}
	next(P);
	t->nelem = (int)v.len;
	t->elem = v.data ? v.data : arena_alloc(&P->ctx->arena, sizeof *t->elem);
}

/* etype := '?' | int | float | bool | str | none | device | any | tensor ['<' dtype '>']
 *        | (list | tuple | dict | optional) ['<' [etype {',' etype}] '>']
 *        | object ['<' [NAME | STRING] '>']
 * *angle (if not NULL) is set when a container or object had its <...>. */
static const struct ir_type *parse_elem_type(struct parser *P, int depth, int *angle)
{
	struct ir_type *t = arena_alloc(&P->ctx->arena, sizeof *t);
	if (depth > MAX_TYPE_DEPTH)
		diag_error(P->ctx, here(P), "type nested too deeply");
	if (accept(P, '?'))
		return t;
	int k = kind_word(P);
	if (k < 0 && P->t.kind == T_IDENT)
		diag_error(P->ctx, here(P), "unknown type '%s'", tok_str(P));
	if (k < 0)
		expected(P, "a type");
	t->kind = (enum vkind)k;
	next(P);
	int has = is_punct(P, '<');
	if (angle)
		*angle = has && k != VK_TENSOR;
	if (!has)
		return t;
	if (k == VK_TENSOR) {
		next(P);
		t->dtype = dtype_word(P);
		if (!t->dtype)
			expected(P, "a dtype");
		next(P);
		expect(P, '>');
	} else if (k == VK_OBJECT) {
		next(P);
		if (P->t.kind == T_IDENT || P->t.kind == T_STR) {
			t->qualname = P->t.kind == T_STR ? P->t.str : tok_str(P);
			next(P);
		}
		expect(P, '>');
	} else if (k == VK_LIST || k == VK_TUPLE || k == VK_DICT || k == VK_OPTIONAL) {
		parse_elems(P, t, depth);
	} else {
		expected(P, "a type without '<'");
	}
	return t;
}

/* shape := '[' ('*' | [dim {',' dim}]) ']'     dim := INT | NAME (symbolic) */
static void parse_shape(struct parser *P, struct ir_shape *s)
{
	expect(P, '[');
	s->rank = 0;
	if (accept(P, '*')) {
		s->rank = -1;
		expect(P, ']');
		return;
	}
	while (!is_punct(P, ']')) {
		if (s->rank && !accept(P, ','))
			expected(P, "',' or ']'");
		if (s->rank >= KILN_MAX_RANK)
			diag_error(P->ctx, here(P), "bad type: tensors have at most %d dimensions",
			           KILN_MAX_RANK);
		if (P->t.kind == T_IDENT) {
			s->dims[s->rank] = -1;
			s->sym[s->rank++] = tok_str(P);
			next(P);
		} else {
			s->dims[s->rank++] = parse_int(P, INT64_MIN / 2, INT64_MAX / 2);
		}
	}
	next(P);
}

/* vtype := '?' | DTYPE [shape] | tensor [shape] | bool shape | etype */
static void parse_type(struct parser *P, struct ptype *ty)
{
	memset(ty, 0, sizeof *ty);
	ty->shape.rank = -1;
	if (accept(P, '?'))
		return;
	enum dtype dt = dtype_word(P);
	int tensor = is_word(P, "tensor");
	if ((dt && dt != DT_BOOL) || tensor || (dt == DT_BOOL && P->p < P->end && *P->p == '[')) {
		ty->kind = VK_TENSOR;
		ty->dtype = dt;
		next(P);
		if (is_punct(P, '['))
			parse_shape(P, &ty->shape);
		return;
	}
	int angle = 0;
	const struct ir_type *t = parse_elem_type(P, 0, &angle);
	ty->kind = t->kind;
	if (angle)
		ty->type = t;
}

static void apply_type(struct ir_module *m, uint32_t id, const struct ptype *ty)
{
	struct ir_value *v = ir_val(m, id);
	v->kind = ty->kind;
	v->dtype = ty->dtype;
	v->shape = ty->shape;
	v->type = ty->type;
}

/* ---- constants ---- */

/* Pending tensor data: the element tokens, converted once the type is known. */
struct tdata {
	struct vec toks;      /* struct token */
	int given;            /* 1 if {...} was written */
	struct loc loc;       /* of the constant, for messages */
};

/* '{' [num {',' num}] '}' */
static void parse_data(struct parser *P, struct tdata *d)
{
	d->given = 1;
	expect(P, '{');
	while (!is_punct(P, '}')) {
		if (d->toks.len && !accept(P, ','))
			expected(P, "',' or '}'");
		if (P->t.kind != T_NUM && P->t.kind != T_IDENT)
			expected(P, "a number");
		VEC_PUSH(&P->ctx->arena, &d->toks, struct token, P->t);
		next(P);
	}
	next(P);
}

/* Store element i of dtype dt from token t. */
static void put_elem(struct parser *P, enum dtype dt, void *data, int64_t i, const struct token *t)
{
	struct token saved = P->t;
	P->t = *t;
	static const int64_t lo[DT_COUNT] = {[DT_I64] = INT64_MIN, [DT_I32] = INT32_MIN,
	                                     [DT_I16] = INT16_MIN, [DT_I8] = INT8_MIN};
	static const int64_t hi[DT_COUNT] = {[DT_I64] = INT64_MAX, [DT_I32] = INT32_MAX,
	                                     [DT_I16] = INT16_MAX, [DT_I8] = INT8_MAX, [DT_U8] = 255,
	                                     [DT_BOOL] = 255, [DT_F16] = 65535, [DT_BF16] = 65535};
	switch (dt) {
	case DT_F32: ((float *)data)[i] = float_value(P); break;
	case DT_F64: ((double *)data)[i] = double_value(P); break;
	case DT_F16: case DT_BF16: ((uint16_t *)data)[i] = (uint16_t)int_value(P, 0, hi[dt]); break;
	case DT_I64: ((int64_t *)data)[i] = int_value(P, lo[dt], hi[dt]); break;
	case DT_I32: ((int32_t *)data)[i] = (int32_t)int_value(P, lo[dt], hi[dt]); break;
	case DT_I16: ((int16_t *)data)[i] = (int16_t)int_value(P, lo[dt], hi[dt]); break;
	case DT_I8: ((int8_t *)data)[i] = (int8_t)int_value(P, lo[dt], hi[dt]); break;
	case DT_U8: case DT_BOOL: ((uint8_t *)data)[i] = (uint8_t)int_value(P, 0, hi[dt]); break;
	default: unreachable();
	}
	P->t = saved;
}

/* The data of tensor constant v (type applied): the elements given, or zeros. */
static const void *tensor_data(struct parser *P, uint32_t v, const struct tdata *d)
{
	struct ir_value *x = ir_val(P->m, v);
	int64_t n = 1;
	size_t size = x->kind == VK_TENSOR ? dtype_size(x->dtype) : 0;
	for (int i = 0; i < x->shape.rank; i++) {
		int64_t dim = x->shape.dims[i];
		if (dim < 0 || (dim && n > MAX_CONST_BYTES / dim))
			n = -1;
		if (n < 0)
			break;
		n *= dim;
	}
	if (!size || x->shape.rank < 0 || n < 0)
		diag_error(P->ctx, d->loc, "a tensor constant needs a type with a dtype and a "
		           "static shape");
	if (n * (int64_t)size > MAX_CONST_BYTES)
		diag_error(P->ctx, d->loc, "tensor constant too large");
	/* Given data is bounded by the text; zeros are not, so they share one budget. */
	if (!d->given && (P->zero_bytes += n * (int64_t)size) > MAX_CONST_BYTES)
		diag_error(P->ctx, d->loc, "tensor constants without data take more than %lld MiB "
		           "in all", (long long)(MAX_CONST_BYTES >> 20));
	if (d->given && (int64_t)d->toks.len != n)
		diag_error(P->ctx, d->loc, "tensor constant has %zu values for %lld elements",
		           d->toks.len, (long long)n);
	void *data = arena_alloc(&P->ctx->arena, (size_t)(n * (int64_t)size) + 1);
	for (int64_t i = 0; d->given && i < n; i++)
		put_elem(P, x->dtype, data, i, &VEC_AT(&d->toks, struct token, i));
	return data;
}

/* '[' [INT {',' INT}] ']'  |  floats '[' [FLOAT {',' FLOAT}] ']' */
static enum vkind parse_list_const(struct parser *P, struct ir_const *c)
{
	int fl = is_word(P, "floats");
	struct vec v = {0};
	if (fl)
		next(P);
	expect(P, '[');
	while (!is_punct(P, ']')) {
		if (v.len && !accept(P, ','))
			expected(P, "',' or ']'");
		if (v.len >= INT_MAX / 2)
			diag_error(P->ctx, here(P), "list constant too long");
		if (fl) {
			double x = parse_double(P);
			VEC_PUSH(&P->ctx->arena, &v, double, x);
		} else {
			int64_t x = parse_int(P, INT64_MIN, INT64_MAX);
			VEC_PUSH(&P->ctx->arena, &v, int64_t, x);
		}
	}
	next(P);
	c->kind = fl ? CK_FLOATS : CK_INTS;
	c->n = (int)v.len;
	if (!v.data)
		v.data = arena_alloc(&P->ctx->arena, 8);
	if (fl)
		c->floats = v.data;
	else
		c->ints = v.data;
	return VK_LIST;
}

/* konst := none | true | false | INT | FLOAT | STRING | device STRING
 *        | '[' [INT {',' INT}] ']' | floats '[' [FLOAT {',' FLOAT}] ']'
 *        | ('@' NAME | '@' STRING | tensor) ['{' NUM {',' NUM} '}'] | object [STRING]
 * Returns the value kind the constant has before its written type applies. */
static enum vkind parse_const(struct parser *P, struct ir_const *c, struct tdata *d)
{
	memset(c, 0, sizeof *c);
	d->loc = here(P);
	if (is_word(P, "none")) {
		next(P);
		return VK_NONE;
	}
	if (is_word(P, "true") || is_word(P, "false")) {
		*c = (struct ir_const){.kind = CK_BOOL, .i = is_word(P, "true")};
		next(P);
		return VK_BOOL;
	}
	if (P->t.kind == T_NUM || is_word(P, "inf") || is_word(P, "nan")) {
		if (looks_float(P)) {
			*c = (struct ir_const){.kind = CK_FLOAT, .f = parse_double(P)};
			return VK_FLOAT;
		}
		*c = (struct ir_const){.kind = CK_INT, .i = parse_int(P, INT64_MIN, INT64_MAX)};
		return VK_INT;
	}
	if (P->t.kind == T_STR) {
		*c = (struct ir_const){.kind = CK_STR, .s = P->t.str};
		next(P);
		return VK_STR;
	}
	if (is_word(P, "device")) {
		next(P);
		if (P->t.kind != T_STR)
			expected(P, "a string");
		*c = (struct ir_const){.kind = CK_DEVICE, .s = P->t.str};
		next(P);
		return VK_DEVICE;
	}
	if (is_punct(P, '[') || is_word(P, "floats"))
		return parse_list_const(P, c);
	if (P->t.kind == T_AT || is_word(P, "tensor")) {
		c->kind = CK_TENSOR;
		c->name = P->t.kind == T_AT ? (P->t.str ? P->t.str : tok_str(P)) : NULL;
		next(P);
		if (is_punct(P, '{'))
			parse_data(P, d);
		return VK_TENSOR;
	}
	if (is_word(P, "object")) {
		next(P);
		c->kind = CK_OBJECT;
		if (P->t.kind == T_STR) {
			c->name = P->t.str;
			next(P);
		}
		return VK_OBJECT;
	}
	expected(P, "a constant");
}

/* ---- attributes ---- */

/* The keys each attribute kind accepts, in the order ir_print writes them. */
static const char *const attr_keys[][9] = {
	[A_name] = {"name"},
	[A_call] = {"name", "qualname", "func"},
	[A_aten] = {"name"},
	[A_conv] = {"stride", "pad", "dil", "groups", "act", "min", "max"},
	[A_linear] = {"act", "min", "max"},
	[A_gemm] = {"alpha", "beta", "trans_a", "trans_b"},
	[A_norm] = {"eps", "axis"},
	[A_clip] = {"min", "max"},
	[A_gelu] = {"tanh"},
	[A_binary] = {"alpha"},
	[A_pool] = {"kernel", "stride", "pad", "dil", "ceil", "count_pad", "divisor", "out"},
	[A_axis] = {"axis"},
	[A_reduce] = {"axes", "keepdim"},
	[A_perm] = {"perm"},
	[A_slice] = {"axis", "start", "end", "step"},
	[A_pad] = {"before", "after", "value"},
	[A_sop] = {"op"},
	[A_rnn] = {"layers", "bidirectional", "batch_first", "hidden", "has_biases"},
};

static const char *const act_words[] = {
	[ACT_NONE] = "none", [ACT_RELU] = "relu", [ACT_CLIP] = "clip", [ACT_SIGMOID] = "sigmoid",
	[ACT_SILU] = "silu", [ACT_HARDSWISH] = "hardswish", [ACT_HARDSIGMOID] = "hardsigmoid",
	[ACT_TANH] = "tanh", [ACT_GELU] = "gelu",
};

static int int_attr(struct parser *P, int lo, int hi) { return (int)parse_int(P, lo, hi); }

/* '[' INT ',' INT ']' */
static void pair_attr(struct parser *P, int out[2], int lo)
{
	int64_t v[2];
	int n;
	struct loc at = here(P);
	parse_int_list(P, v, 2, &n, lo, INT_MAX);
	if (n != 2)
		diag_error(P->ctx, at, "bad attribute: expected 2 values, found %d", n);
	out[0] = (int)v[0];
	out[1] = (int)v[1];
}

static const char *str_attr(struct parser *P)
{
	if (P->t.kind != T_STR)
		expected(P, "a string");
	const char *s = P->t.str;
	next(P);
	return s;
}

static enum act act_attr(struct parser *P)
{
	for (int a = 0; a <= ACT_GELU; a++)
		if (is_word(P, act_words[a])) {
			next(P);
			return (enum act)a;
		}
	expected(P, "an activation (relu, clip, sigmoid, ...)");
}

static int sop_attr(struct parser *P)
{
	for (int o = 0; o < SOP_COUNT; o++)
		if (is_word(P, sop_names[o])) {
			next(P);
			return o;
		}
	expected(P, "a scalar operator (add, lt, not, ...)");
}

/* axes=[0, 2, ...]: a bit mask */
static unsigned axes_attr(struct parser *P)
{
	int64_t v[32];
	int n;
	unsigned mask = 0;
	parse_int_list(P, v, 32, &n, 0, 31);
	for (int i = 0; i < n; i++)
		mask |= 1u << v[i];
	return mask;
}

/* '[' up to 8 ints ']' into a per-dimension array; the rest stays as it was. */
static void dims_attr(struct parser *P, int64_t *out, int64_t lo)
{
	int64_t v[KILN_MAX_RANK];
	int n;
	parse_int_list(P, v, KILN_MAX_RANK, &n, lo, INT64_MAX / 4);
	for (int i = 0; i < n; i++)
		out[i] = v[i];
}

static void perm_attr(struct parser *P, struct perm_attr *p)
{
	int64_t v[KILN_MAX_RANK];
	int n;
	parse_int_list(P, v, KILN_MAX_RANK, &n, 0, KILN_MAX_RANK - 1);
	for (int i = 0; i < n; i++)
		p->perm[i] = (int)v[i];
}

static void set_conv(struct parser *P, struct conv_attr *a, int key)
{
	switch (key) {
	case 0: pair_attr(P, a->stride, 1); break;
	case 1: pair_attr(P, a->pad, 0); break;
	case 2: pair_attr(P, a->dil, 1); break;
	case 3: a->groups = int_attr(P, 1, INT_MAX); break;
	case 4: a->act = act_attr(P); break;
	case 5: a->act_min = parse_float(P); break;
	case 6: a->act_max = parse_float(P); break;
	}
}

static void set_pool(struct parser *P, struct pool_attr *a, int key)
{
	switch (key) {
	case 0: pair_attr(P, a->kernel, 0); break;
	case 1: pair_attr(P, a->stride, 0); break;
	case 2: pair_attr(P, a->pad, 0); break;
	case 3: pair_attr(P, a->dil, 0); break;
	case 4: a->ceil_mode = int_attr(P, 0, 1); break;
	case 5: a->count_include_pad = int_attr(P, 0, 1); break;
	case 6: a->divisor = int_attr(P, 0, INT_MAX); break;
	case 7: pair_attr(P, a->out, 0); break;
	}
}

/* Read the value of attribute `key` (index into attr_keys[kind]) into node attributes a. */
static void set_attr(struct parser *P, union ir_attrs *a, int kind, int key)
{
	switch (kind) {
	case A_name: a->name.name = str_attr(P); break;
	case A_call:
		if (key == 0) a->call.name = str_attr(P);
		else if (key == 1) a->call.qualname = str_attr(P);
		else a->call.func = (uint32_t)parse_int(P, 0, INT_MAX);
		break;
	case A_aten:
		a->aten.name = str_attr(P);
		a->aten.schema = aten_lookup(a->aten.name);
		break;
	case A_conv: set_conv(P, &a->conv, key); break;
	case A_linear:
		if (key == 0) a->linear.act = act_attr(P);
		else if (key == 1) a->linear.act_min = parse_float(P);
		else a->linear.act_max = parse_float(P);
		break;
	case A_gemm:
		if (key == 0) a->gemm.alpha = parse_float(P);
		else if (key == 1) a->gemm.beta = parse_float(P);
		else if (key == 2) a->gemm.trans_a = int_attr(P, 0, 1);
		else a->gemm.trans_b = int_attr(P, 0, 1);
		break;
	case A_norm:
		if (key == 0) a->norm.eps = parse_float(P);
		else a->norm.axis = int_attr(P, 0, KILN_MAX_RANK - 1);
		break;
	case A_clip:
		if (key == 0) a->clip.min = parse_float(P);
		else a->clip.max = parse_float(P);
		break;
	case A_gelu: a->gelu.tanh_approx = int_attr(P, 0, 1); break;
	case A_binary: a->binary.alpha = parse_float(P); break;
	case A_pool: set_pool(P, &a->pool, key); break;
	case A_axis: a->axis.axis = int_attr(P, 0, KILN_MAX_RANK - 1); break;
	case A_reduce:
		if (key == 0) a->reduce.axes = axes_attr(P);
		else a->reduce.keepdim = int_attr(P, 0, 1);
		break;
	case A_perm: perm_attr(P, &a->perm); break;
	case A_slice:
		if (key == 0) a->slice.axis = int_attr(P, 0, KILN_MAX_RANK - 1);
		else if (key == 1) a->slice.start = parse_int(P, 0, INT64_MAX / 4);
		else if (key == 2) a->slice.end = parse_int(P, 0, INT64_MAX / 4);
		else a->slice.step = parse_int(P, 1, INT64_MAX / 4);
		break;
	case A_pad:
		if (key == 0) dims_attr(P, a->pad.before, 0);
		else if (key == 1) dims_attr(P, a->pad.after, 0);
		else a->pad.value = parse_double(P);
		break;
	case A_sop: a->sop.op = (enum sop)sop_attr(P); break;
	case A_rnn:
		if (key == 0) a->rnn.layers = int_attr(P, 1, 256);
		else if (key == 1) a->rnn.bidirectional = int_attr(P, 0, 1);
		else if (key == 2) a->rnn.batch_first = int_attr(P, 0, 1);
		else if (key == 3) a->rnn.hidden = int_attr(P, 1, INT_MAX);
		else a->rnn.has_biases = int_attr(P, 0, 1);
		break;
	default: unreachable();
	}
}

/* What a node's attributes are before its {...}: the values a missing key means. */
static void default_attrs(union ir_attrs *a, int kind)
{
	memset(a, 0, sizeof *a);
	switch (kind) {
	case A_conv:
		a->conv = (struct conv_attr){.stride = {1, 1}, .dil = {1, 1}, .groups = 1};
		break;
	case A_gemm: a->gemm.alpha = a->gemm.beta = 1; break;
	case A_binary: a->binary.alpha = 1; break;
	case A_aten: a->aten.schema = -1; break;
	case A_slice: a->slice.step = 1; break;
	case A_perm:
		for (int i = 0; i < KILN_MAX_RANK; i++)
			a->perm.perm[i] = i;
		break;
	default: break;
	}
}

/* attrs := '{' KEY '=' value {',' KEY '=' value} '}'   (keys by the op's attribute kind) */
static void parse_attrs(struct parser *P, uint32_t id)
{
	enum op op = ir_node(P->m, id)->op;
	int kind = op_info[op].attr;
	unsigned seen = 0;
	expect(P, '{');
	while (!is_punct(P, '}')) {
		if (seen && !accept(P, ','))
			expected(P, "',' or '}'");
		if (P->t.kind != T_IDENT)
			expected(P, "an attribute name");
		int key = -1;
		for (int k = 0; k < 9 && attr_keys[kind][k]; k++)
			if (is_word(P, attr_keys[kind][k]))
				key = k;
		const char *name = tok_str(P);
		if (key < 0)
			diag_error(P->ctx, here(P), "bad attribute: '%s' has no attribute '%s'",
			           op_name(op), name);
		if (seen & (1u << key))
			diag_error(P->ctx, here(P), "bad attribute: '%s' given twice", name);
		seen |= 1u << key;
		next(P);
		expect(P, '=');
		set_attr(P, &ir_node(P->m, id)->a, kind, key);
	}
	next(P);
}

/* ---- locations ---- */

/* A location comment's column for pointer q. */
static int col_of(const struct token *t, const char *q) { return (int)(q - t->lstart) + 1; }

/* digits at [q, e) as an int, or -1 */
static int small_int(const char *q, const char *e)
{
	long v = 0;
	if (q >= e)
		return -1;
	for (; q < e; q++) {
		if (!is_digit(*q) || v > INT_MAX / 10 - 10)
			return -1;
		v = v * 10 + (*q - '0');
	}
	return (int)v;
}

/* A bare file name with an optional :LINE:COL suffix (split at the last two colons). */
static void raw_loc(struct parser *P, const char *q, const char *e, struct loc *loc)
{
	const char *c2 = e, *c1;
	while (c2 > q && c2[-1] != ':')
		c2--;
	c1 = c2 > q ? c2 - 1 : q;
	while (c1 > q && c1[-1] != ':')
		c1--;
	int col = c2 > q ? small_int(c2, e) : -1;
	int line = c1 > q && c2 > q ? small_int(c1, c2 - 1) : -1;
	if (line >= 0 && col >= 0) {
		loc->line = line;
		loc->col = col;
		e = c1 - 1;
	}
	if (e > q)
		loc->file = arena_strndup(&P->ctx->arena, q, (size_t)(e - q));
}

/* loccomment := '#' ['[' (SCOPE | STRING) ']'] [FILE ':' LINE ':' COL | STRING [':' LINE ':' COL]
 *                                             [' @ ' STRING]] */
static void parse_loc(struct parser *P, uint32_t id)
{
	const struct token *t = &P->t;
	const char *q = t->s, *e = t->s + t->n;
	struct loc loc = {0};
	const char *scope = NULL;
	while (e > q && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	while (q < e && (*q == ' ' || *q == '\t'))
		q++;
	if (q < e && *q == '[') {
		if (q + 1 < e && q[1] == '"') {
			q = lex_string(P, q + 1, e, t->line, t->lstart, &scope);
		} else {
			const char *r = memchr(q, ']', (size_t)(e - q));
			if (!r)
				err_at(P, t->line, col_of(t, q), "bad location: unterminated '['%s", "");
			scope = arena_strndup(&P->ctx->arena, q + 1, (size_t)(r - q - 1));
			q = r;
		}
		if (q >= e || *q != ']')
			err_at(P, t->line, col_of(t, q), "bad location: expected ']'%s", "");
		for (q++; q < e && *q == ' '; q++)
			;
	}
	if (q < e && *q == '"') {
		q = lex_string(P, q, e, t->line, t->lstart, &loc.file);
		const char *at = q;
		while (at < e && !(at + 3 <= e && memcmp(at, " @ ", 3) == 0))
			at++;
		if (at > q)
			raw_loc(P, q, at, &loc);  /* ":LINE:COL" */
		if (loc.file && !*loc.file)
			loc.file = NULL;
		if (at < e) {
			const char *s = at + 3;
			if (s >= e || *s != '"' || lex_string(P, s, e, t->line, t->lstart, &loc.node) != e)
				err_at(P, t->line, col_of(t, s), "bad location: expected a node name%s", "");
		}
	} else if (q < e) {
		raw_loc(P, q, e, &loc);
	}
	struct ir_node *n = ir_node(P->m, id);
	n->loc = loc;
	n->scope = scope;
	next(P);
}

/* ---- statements, blocks, functions ---- */

static struct ir_block *parse_block(struct parser *P, int depth);

/* pattrs := '{' (name=STRING | input=STRING) {',' ...} '}'   (input: functions only) */
static void parse_param_attrs(struct parser *P, uint32_t v, const char **name, const char **input,
                              int is_func)
{
	expect(P, '{');
	int first = 1;
	while (!is_punct(P, '}')) {
		if (!first && !accept(P, ','))
			expected(P, "',' or '}'");
		first = 0;
		const char **dst = is_word(P, "name") ? name : is_word(P, "input") && is_func ? input : NULL;
		if (!dst)
			diag_error(P->ctx, here(P), "bad attribute: parameters have no attribute %s",
			           tok_desc(P));
		next(P);
		expect(P, '=');
		*dst = str_attr(P);
	}
	next(P);
	ir_val(P->m, v)->name = *name;
}

/* params := '(' [param {',' param}] ')'     param := VALUE ':' vtype [pattrs] */
static void parse_params(struct parser *P, struct ir_block *b, struct ir_func *f,
                         struct func_io *io)
{
	struct vec names = {0}, inputs = {0};
	expect(P, '(');
	while (!is_punct(P, ')')) {
		if (b->nparams && !accept(P, ','))
			expected(P, "',' or ')'");
		if (P->t.kind != T_VAL)
			expected(P, "a parameter");
		struct token t = P->t;
		struct ptype ty;
		next(P);
		expect(P, ':');
		parse_type(P, &ty);
		uint32_t v = ir_add_param(P->m, b, ty.kind);
		apply_type(P->m, v, &ty);
		ir_val(P->m, v)->loc = (struct loc){.file = P->path, .line = t.line, .col = t.col};
		const char *name = NULL, *input = NULL;
		if (is_punct(P, '{'))
			parse_param_attrs(P, v, &name, &input, f != NULL);
		VEC_PUSH(&P->ctx->arena, &names, const char *, name);
		VEC_PUSH(&P->ctx->arena, &inputs, const char *, input);
		bind(P, &t, v);
	}
	next(P);
	if (f) {
		f->arg_names = names.data;
		io->in_path = inputs.data;
		io->nin = b->nparams;
	}
}

/* ret := value ['{' (output=STRING | name=STRING) {',' ...} '}']   (functions only) */
static void parse_ret_attrs(struct parser *P, struct func_io *io, int i)
{
	expect(P, '{');
	int first = 1;
	while (!is_punct(P, '}')) {
		if (!first && !accept(P, ','))
			expected(P, "',' or '}'");
		first = 0;
		const char **dst = is_word(P, "output") ? &io->out_path[i]
		                 : is_word(P, "name") ? &io->out_name[i] : NULL;
		if (!dst || !io)
			diag_error(P->ctx, here(P), "bad attribute: results have no attribute %s",
			           tok_desc(P));
		next(P);
		expect(P, '=');
		*dst = str_attr(P);
	}
	next(P);
}

/* 'return' '(' [ret {',' ret}] ')' */
static void parse_return(struct parser *P, struct ir_block *b, struct func_io *io)
{
	struct vec rets = {0};
	next(P);
	expect(P, '(');
	while (!is_punct(P, ')')) {
		if (rets.len && !accept(P, ','))
			expected(P, "',' or ')'");
		if (rets.len >= 4096)
			diag_error(P->ctx, here(P), "too many results");
		uint32_t v = use(P);
		VEC_PUSH(&P->ctx->arena, &rets, uint32_t, v);
		if (is_punct(P, '{')) {
			if (!io)
				diag_error(P->ctx, here(P), "bad attribute: only a function's results have "
				           "attributes");
			if (!io->out_path) {
				io->out_path = arena_alloc(&P->ctx->arena, sizeof(char *) * 4097);
				io->out_name = arena_alloc(&P->ctx->arena, sizeof(char *) * 4097);
			}
			parse_ret_attrs(P, io, (int)rets.len - 1);
		}
	}
	next(P);
	ir_set_rets(P->m, b, rets.data, (int)rets.len);
	if (io)
		io->nout = (int)rets.len;
}

/* args := '(' [value {',' value}] ')', within the op's bounds */
static int parse_args(struct parser *P, enum op op, struct vec *in, struct loc at)
{
	expect(P, '(');
	while (!is_punct(P, ')')) {
		if (in->len && !accept(P, ','))
			expected(P, "',' or ')'");
		if ((int)in->len > op_info[op].max_in)
			break;
		uint32_t v = use(P);
		VEC_PUSH(&P->ctx->arena, in, uint32_t, v);
	}
	int n = (int)in->len, lo = op_info[op].min_in, hi = op_info[op].max_in;
	if (lo == hi && n != lo)
		diag_error(P->ctx, at, "'%s' takes %d operand%s, %d given", op_name(op), lo,
		           lo == 1 ? "" : "s", n);
	if (n < lo || n > hi)
		diag_error(P->ctx, at, "'%s' takes %d to %d operands, %d given", op_name(op), lo, hi, n);
	next(P);
	return n;
}

/* The blocks after a node: blockN params body, numbered from 0; IF has 2, LOOP 1. */
static void parse_node_blocks(struct parser *P, uint32_t id, int depth, struct loc at)
{
	struct ir_block *bl[MAX_BLOCKS];
	int nb = 0;
	enum op op = ir_node(P->m, id)->op;
	int want = op == OP_IF ? 2 : op == OP_LOOP ? 1 : 0;
	while (P->t.kind == T_IDENT && P->t.n > 5 && memcmp(P->t.s, "block", 5) == 0) {
		char expect_name[24];
		snprintf(expect_name, sizeof expect_name, "block%d", nb);
		if (nb >= want || !is_word(P, expect_name))
			diag_error(P->ctx, here(P), "unexpected %s: '%s' has %d block%s", tok_desc(P),
			           op_name(op), want, want == 1 ? "" : "s");
		next(P);
		bl[nb++] = parse_block(P, depth + 1);
	}
	if (nb != want)
		diag_error(P->ctx, at, "'%s' needs %d block%s, found %d", op_name(op), want,
		           want == 1 ? "" : "s", nb);
	if (!nb)
		return;
	struct ir_block **copy = arena_alloc(&P->ctx->arena, sizeof *copy * (size_t)nb);
	memcpy(copy, bl, sizeof *copy * (size_t)nb);
	struct ir_node *n = ir_node(P->m, id);
	n->blocks = copy;
	n->nblocks = nb;
}

/* ': ' vtype {',' vtype}: one per result */
static void parse_result_types(struct parser *P, uint32_t id)
{
	int nout = ir_node(P->m, id)->nout, k = 0;
	struct loc at = here(P);
	next(P);
	do {
		struct ptype ty;
		if (k >= nout)
			diag_error(P->ctx, at, "more types than results (%d)", nout);
		parse_type(P, &ty);
		apply_type(P->m, ir_node(P->m, id)->out[k++], &ty);
	} while (accept(P, ','));
	if (k != nout)
		diag_error(P->ctx, at, "%d type%s for %d results", k, k == 1 ? "" : "s", nout);
}

/* A node of op (not const): args, attributes. */
static uint32_t parse_op_node(struct parser *P, struct ir_block *b, enum op op, int nout,
                              struct loc at)
{
	struct vec in = {0};
	int nin = parse_args(P, op, &in, at);
	uint32_t id = ir_add_node(P->m, b, op, in.data, nin, nout);
	default_attrs(&ir_node(P->m, id)->a, op_info[op].attr);
	if (is_punct(P, '{')) {
		if (op_info[op].attr == A_none)
			diag_error(P->ctx, here(P), "bad attribute: '%s' has no attributes", op_name(op));
		parse_attrs(P, id);
	}
	if (op == OP_CALL_METHOD || op == OP_CALL_FUNC) {
		struct call_check c = {id, here(P)};
		VEC_PUSH(&P->ctx->arena, &P->calls, struct call_check, c);
	}
	return id;
}

/* stmt := [VALUE {',' VALUE} '='] OP (konst | args [attrs]) [':' vtype {',' vtype}]
 *         [loccomment] {blockN block} */
static void parse_stmt(struct parser *P, struct ir_block *b, int depth)
{
	struct vec outs = {0};
	while (P->t.kind == T_VAL) {
		if (outs.len >= MAX_OUTS)
			diag_error(P->ctx, here(P), "too many results");
		VEC_PUSH(&P->ctx->arena, &outs, struct token, P->t);
		next(P);
		if (!accept(P, ',')) {
			expect(P, '=');
			break;
		}
	}
	if (P->t.kind != T_IDENT)
		expected(P, "an op");
	const char *name = tok_str(P);
	int op = op_from_name(name);
	struct loc at = here(P);
	if (op < 0)
		diag_error(P->ctx, at, "unknown op '%s'", name);
	int nout = (int)outs.len;
	if (op_info[op].nout >= 0 && nout != op_info[op].nout)
		diag_error(P->ctx, at, "'%s' has %d result%s, %d named", name, op_info[op].nout,
		           op_info[op].nout == 1 ? "" : "s", nout);
	next(P);
	uint32_t id;
	struct ir_const c;
	struct tdata d = {0};
	if (op == OP_CONST) {
		enum vkind k = parse_const(P, &c, &d);
		id = ir_add_node(P->m, b, OP_CONST, NULL, 0, 1);
		ir_node(P->m, id)->a.konst = c;
		ir_val(P->m, ir_node(P->m, id)->out[0])->kind = k;
	} else {
		id = parse_op_node(P, b, (enum op)op, nout, at);
	}
	if (is_punct(P, ':'))
		parse_result_types(P, id);
	if (op == OP_CONST && c.kind == CK_TENSOR) {
		uint32_t v = ir_node(P->m, id)->out[0];
		const void *data = tensor_data(P, v, &d);
		ir_node(P->m, id)->a.konst.data = data;
		ir_val(P->m, v)->name = c.name;
	}
	if (P->t.kind == T_HASH)
		parse_loc(P, id);
	parse_node_blocks(P, id, depth, at);
	for (int i = 0; i < nout; i++) {
		uint32_t v = ir_node(P->m, id)->out[i];
		ir_val(P->m, v)->loc = ir_node(P->m, id)->loc;
		bind(P, &VEC_AT(&outs, struct token, i), v);
	}
}

/* body := '{' {stmt} 'return' '(' [ret {',' ret}] ')' '}' */
static void parse_body(struct parser *P, struct ir_block *b, int depth, struct func_io *io)
{
	expect(P, '{');
	for (;;) {
		skip_hash(P);
		if (is_word(P, "return"))
			break;
		if (P->t.kind == T_EOF || is_punct(P, '}'))
			expected(P, "'return'");
		parse_stmt(P, b, depth);
	}
	parse_return(P, b, io);
	skip_hash(P);
	expect(P, '}');
	skip_hash(P);
}

/* block := params body   (the names it defines end with it) */
static struct ir_block *parse_block(struct parser *P, int depth)
{
	if (depth > MAX_DEPTH)
		diag_error(P->ctx, here(P), "blocks nested too deeply");
	struct ir_block *b = ir_new_block(P->m);
	size_t mark = P->names.len;
	parse_params(P, b, NULL, NULL);
	parse_body(P, b, depth, NULL);
	end_scope(P, mark);
	return b;
}

/* func := ['entry'] 'func' (NAME | STRING) params body */
static void parse_func(struct parser *P)
{
	if (is_word(P, "entry")) {
		if (P->entry >= 0)
			diag_error(P->ctx, here(P), "a second 'entry' function");
		P->entry = (int)P->m->funcs.len;
		next(P);
	}
	if (!is_word(P, "func"))
		expected(P, "'func'");
	next(P);
	if (P->t.kind != T_IDENT && P->t.kind != T_STR)
		expected(P, "a function name");
	const char *name = P->t.kind == T_STR ? P->t.str : tok_str(P);
	next(P);
	struct ir_func *f = ir_new_func(P->m, name);
	struct func_io io = {0};
	reset_names(P);
	parse_params(P, f->body, f, &io);
	parse_body(P, f->body, 0, &io);
	VEC_PUSH(&P->ctx->arena, &P->io, struct func_io, io);
}

/* Callees exist and take as many arguments as the call passes. */
static void check_calls(struct parser *P)
{
	for (size_t i = 0; i < P->calls.len; i++) {
		struct call_check *c = &VEC_AT(&P->calls, struct call_check, i);
		struct ir_node *n = ir_node(P->m, c->node);
		if (n->a.call.func >= P->m->funcs.len)
			diag_error(P->ctx, c->loc, "call of function %u, but the file has %zu",
			           n->a.call.func, P->m->funcs.len);
		struct ir_func *f = VEC_AT(&P->m->funcs, struct ir_func *, n->a.call.func);
		if (f->body->nparams != n->nin)
			diag_error(P->ctx, c->loc, "call passes %d arguments to '%s', which takes %d",
			           n->nin, f->name, f->body->nparams);
	}
}

/* m->inputs / m->outputs from the entry function's input= / output= attributes. */
static void set_io(struct parser *P)
{
	struct ir_module *m = P->m;
	struct func_io *io = &VEC_AT(&P->io, struct func_io, m->main);
	struct ir_func *f = ir_main(m);
	struct arena *a = &P->ctx->arena;
	int any_in = 0;
	for (int i = 0; i < io->nin; i++)
		any_in |= io->in_path[i] != NULL;
	if (any_in) {
		m->ninputs = io->nin;
		m->inputs = arena_alloc(a, sizeof *m->inputs * (size_t)(io->nin + 1));
		for (int i = 0; i < io->nin; i++) {
			const char *nm = f->arg_names[i] ? f->arg_names[i] : arena_printf(a, "input_%d", i);
			const char *path = io->in_path[i] ? io->in_path[i] : arena_printf(a, "input[%d]", i);
			m->inputs[i] = (struct ir_io){nm, path, f->body->params[i]};
		}
	}
	if (!io->out_path)
		return;
	m->noutputs = io->nout;
	m->outputs = arena_alloc(a, sizeof *m->outputs * (size_t)(io->nout + 1));
	for (int i = 0; i < io->nout; i++) {
		const char *nm = io->out_name[i] ? io->out_name[i] : arena_printf(a, "output_%d", i);
		const char *path = io->out_path[i] ? io->out_path[i] : arena_printf(a, "output[%d]", i);
		m->outputs[i] = (struct ir_io){nm, path, f->body->rets[i]};
	}
}

struct ir_module *ir_parse(struct kiln_ctx *ctx, const char *path, const char *text, size_t len)
{
	struct parser P = {.ctx = ctx, .path = path, .p = text, .end = text + len, .line = 1,
	                   .lstart = text, .entry = -1};
	P.m = ir_module_new(ctx, path);
	next(&P);
	for (;;) {
		skip_hash(&P);
		if (P.t.kind == T_EOF)
			break;
		parse_func(&P);
	}
	if (!P.m->funcs.len)
		diag_error(ctx, (struct loc){.file = path, .line = P.t.line, .col = P.t.col},
		           "no function in the file");
	P.m->main = P.entry >= 0 ? (uint32_t)P.entry : 0;
	check_calls(&P);
	set_io(&P);
	return P.m;
}
