/* ts_parse.c: recursive-descent parser for TorchScript source, and the printer
 * that writes the tree back (ts_print_file).
 *
 * Input is the token array of ts_lex (whole file, so any lookahead is an
 * index). Each parse function starts with its production. The grammar is
 * Python's, restricted to what torch's python_print emits: class bodies hold
 * only annotations, constants, name lists and defs; statements are simple
 * statements and if/for/while/with; expressions have Python precedence but no
 * lambdas, comprehensions, starred or keyword-only syntax. Types are parsed as
 * expressions.
 *
 * Recursion (brackets, unary chains, conditional chains, nested blocks) is
 * bounded by TS_MAX_DEPTH so hostile input gets a diagnostic, not a stack
 * overflow. `-9223372036854775808` parses as the int64 minimum; any other
 * literal over INT64_MAX is an error. A `-` written directly on a non-negative
 * literal is folded into it (the printer writes negative constants that way).
 * Linear time in the number of tokens.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "frontend/ts_ast.h"

/* The parser's state; lives on the stack of ts_parse. */
struct parser {
	struct kiln_ctx *ctx;   /* diagnostics */
	struct arena *a;        /* where nodes go: ctx->arena */
	struct ts_token *toks;  /* all tokens, TK_EOF last */
	size_t ntok;            /* their count */
	size_t pos;             /* next token */
	int depth;              /* current recursion depth, <= TS_MAX_DEPTH */
};

static struct ts_expr *parse_expr(struct parser *p);
static struct ts_expr *parse_unary(struct parser *p);
static struct ts_block parse_suite(struct parser *p);
static struct ts_def *parse_def(struct parser *p);

static const char *const op_strs[TO_COUNT] = {
#define X(n, s) [TO_##n] = s,
	TS_OPS(X)
#undef X
};

const char *ts_op_str(enum ts_op op)
{
	return op < TO_COUNT ? op_strs[op] : "?";
}

/* ---- tokens ---- */

/* The token k places ahead (the EOF token past the end). */
static struct ts_token *peek_at(struct parser *p, size_t k)
{
	size_t i = p->pos + k;
	return &p->toks[i < p->ntok ? i : p->ntok - 1];
}

static struct ts_token *peek(struct parser *p)
{
	return peek_at(p, 0);
}

/* Consume and return the next token (EOF is never consumed). */
static struct ts_token *next(struct parser *p)
{
	struct ts_token *t = peek(p);
	if (t->kind != TK_EOF)
		p->pos++;
	return t;
}

/* Consume the next token if it is of kind k. */
static int accept(struct parser *p, enum ts_tok k)
{
	if (peek(p)->kind != k)
		return 0;
	next(p);
	return 1;
}

/* How a token reads in a message: 'x', ')', newline, end of file. */
static const char *tok_desc(struct parser *p, const struct ts_token *t)
{
	if (t->len == 0)
		return ts_tok_str(t->kind);
	if (t->len > 32)
		return arena_printf(p->a, "'%.29s...'", t->text);
	return arena_printf(p->a, "'%.*s'", (int)t->len, t->text);
}

/* How a token kind reads in "expected X": ')' but newline, name. */
static const char *kind_desc(struct parser *p, enum ts_tok k)
{
	if (k <= TK_STR)
		return ts_tok_str(k);
	return arena_printf(p->a, "'%s'", ts_tok_str(k));
}

/* Report that the next token is not what `what` needed. */
static _Noreturn void error_at_next(struct parser *p, const char *what)
{
	struct ts_token *t = peek(p);
	diag_error(p->ctx, t->loc, "expected %s, found %s", what, tok_desc(p, t));
}

/* Consume a token of kind k or report "expected K <context>, found X". */
static struct ts_token *expect(struct parser *p, enum ts_tok k, const char *context)
{
	if (peek(p)->kind == k)
		return next(p);
	error_at_next(p, arena_printf(p->a, "%s %s", kind_desc(p, k), context));
}

/* Enter one level of recursion, refusing input nested past TS_MAX_DEPTH. */
static void enter(struct parser *p)
{
	if (++p->depth > TS_MAX_DEPTH)
		diag_error(p->ctx, peek(p)->loc, "nesting too deep (over %d levels)", TS_MAX_DEPTH);
}

static void leave(struct parser *p)
{
	p->depth--;
}

/* ---- expressions ---- */

static struct ts_expr *mk_expr(struct parser *p, enum ts_expr_kind kind, struct loc loc)
{
	struct ts_expr *e = arena_alloc(p->a, sizeof *e);
	e->kind = kind;
	e->loc = loc;
	return e;
}

/* Can token kind k begin an expression? */
static int starts_expr(enum ts_tok k)
{
	switch (k) {
	case TK_NAME: case TK_INT: case TK_FLOAT: case TK_STR:
	case TK_LPAREN: case TK_LBRACK: case TK_LBRACE:
	case TK_MINUS: case TK_PLUS: case TK_TILDE: case TK_ELLIPSIS:
	case TK_KW_NOT: case TK_KW_NONE: case TK_KW_TRUE: case TK_KW_FALSE:
		return 1;
	default:
		return 0;
	}
}

/* A tuple node from a vec of items. */
static struct ts_expr *mk_tuple(struct parser *p, struct loc loc, struct vec *items)
{
	struct ts_expr *e = mk_expr(p, TE_TUPLE, loc);
	e->u.seq.items = items->data;
	e->u.seq.n = (int)items->len;
	return e;
}

/* exprlist: elem (',' elem)* [',']   -- a TE_TUPLE when a comma appears */
static struct ts_expr *parse_exprlist(struct parser *p, struct ts_expr *(*elem)(struct parser *))
{
	struct ts_expr *first = elem(p);
	if (peek(p)->kind != TK_COMMA)
		return first;
	struct vec items = { 0 };
	VEC_PUSH(p->a, &items, struct ts_expr *, first);
	while (accept(p, TK_COMMA) && starts_expr(peek(p)->kind))
		VEC_PUSH(p->a, &items, struct ts_expr *, elem(p));
	return mk_tuple(p, first->loc, &items);
}

/* strings: STR+   (adjacent literals are concatenated) */
static struct ts_expr *parse_strings(struct parser *p)
{
	struct ts_expr *e = mk_expr(p, TE_STR, peek(p)->loc);
	struct vec buf = { 0 };
	while (peek(p)->kind == TK_STR) {
		struct ts_token *t = next(p);
		vec_reserve(p->a, &buf, 1, buf.len + t->v.str.len + 1);
		memcpy((char *)buf.data + buf.len, t->v.str.s, t->v.str.len);
		buf.len += t->v.str.len;
	}
	((char *)buf.data)[buf.len] = 0;
	e->u.str.s = buf.data;
	e->u.str.len = buf.len;
	return e;
}

/* paren: '(' ')' | '(' expr ')' | '(' expr ',' [expr (',' expr)* [',']] ')' */
static struct ts_expr *parse_paren(struct parser *p)
{
	struct loc loc = next(p)->loc;
	if (accept(p, TK_RPAREN)) {
		struct vec none = { 0 };
		return mk_tuple(p, loc, &none);
	}
	struct ts_expr *e = parse_exprlist(p, parse_expr);
	expect(p, TK_RPAREN, "to close '('");
	if (e->kind == TE_TUPLE)
		e->loc = loc;
	return e;
}

/* list: '[' [expr (',' expr)* [',']] ']' */
static struct ts_expr *parse_list(struct parser *p)
{
	struct ts_expr *e = mk_expr(p, TE_LIST, next(p)->loc);
	struct vec items = { 0 };
	while (peek(p)->kind != TK_RBRACK) {
		VEC_PUSH(p->a, &items, struct ts_expr *, parse_expr(p));
		if (!accept(p, TK_COMMA))
			break;
	}
	expect(p, TK_RBRACK, "to close list");
	e->u.seq.items = items.data;
	e->u.seq.n = (int)items.len;
	return e;
}

/* dict: '{' [expr ':' expr (',' expr ':' expr)* [',']] '}' */
static struct ts_expr *parse_dict(struct parser *p)
{
	struct ts_expr *e = mk_expr(p, TE_DICT, next(p)->loc);
	struct vec keys = { 0 }, vals = { 0 };
	while (peek(p)->kind != TK_RBRACE) {
		VEC_PUSH(p->a, &keys, struct ts_expr *, parse_expr(p));
		expect(p, TK_COLON, "after dict key");
		VEC_PUSH(p->a, &vals, struct ts_expr *, parse_expr(p));
		if (!accept(p, TK_COMMA))
			break;
	}
	expect(p, TK_RBRACE, "to close dict");
	e->u.dict.keys = keys.data;
	e->u.dict.vals = vals.data;
	e->u.dict.n = (int)keys.len;
	return e;
}

/* atom: NAME | INT | FLOAT | STR+ | 'None' | 'True' | 'False' | '...' | paren | list | dict */
static struct ts_expr *parse_atom(struct parser *p)
{
	struct ts_token *t = peek(p);
	struct ts_expr *e;
	switch (t->kind) {
	case TK_STR: return parse_strings(p);
	case TK_LPAREN: return parse_paren(p);
	case TK_LBRACK: return parse_list(p);
	case TK_LBRACE: return parse_dict(p);
	case TK_NAME:
		e = mk_expr(p, TE_NAME, t->loc);
		e->u.name = t->v.name;
		break;
	case TK_INT:
		if (t->v.i > INT64_MAX)
			diag_error(p->ctx, t->loc, "integer literal %.*s is too large",
				   (int)t->len, t->text);
		e = mk_expr(p, TE_INT, t->loc);
		e->u.i = (int64_t)t->v.i;
		break;
	case TK_FLOAT:
		e = mk_expr(p, TE_FLOAT, t->loc);
		e->u.f = t->v.f;
		break;
	case TK_KW_NONE: e = mk_expr(p, TE_NONE, t->loc); break;
	case TK_KW_TRUE: e = mk_expr(p, TE_BOOL, t->loc); e->u.b = 1; break;
	case TK_KW_FALSE: e = mk_expr(p, TE_BOOL, t->loc); break;
	case TK_ELLIPSIS: e = mk_expr(p, TE_ELLIPSIS, t->loc); break;
	default:
		error_at_next(p, "expression");
	}
	next(p);
	return e;
}

/* call: expr '(' [arg (',' arg)* [',']] ')';  arg: expr | NAME '=' expr */
static struct ts_expr *parse_call(struct parser *p, struct ts_expr *fn)
{
	struct ts_expr *e = mk_expr(p, TE_CALL, fn->loc);
	struct vec args = { 0 }, kwnames = { 0 }, kwargs = { 0 };
	next(p);
	while (peek(p)->kind != TK_RPAREN) {
		if (peek(p)->kind == TK_NAME && peek_at(p, 1)->kind == TK_ASSIGN) {
			VEC_PUSH(p->a, &kwnames, const char *, next(p)->v.name);
			next(p);
			VEC_PUSH(p->a, &kwargs, struct ts_expr *, parse_expr(p));
		} else if (kwargs.len > 0) {
			diag_error(p->ctx, peek(p)->loc,
				   "positional argument follows keyword argument");
		} else {
			VEC_PUSH(p->a, &args, struct ts_expr *, parse_expr(p));
		}
		if (!accept(p, TK_COMMA))
			break;
	}
	expect(p, TK_RPAREN, "after arguments");
	e->u.call.fn = fn;
	e->u.call.args = args.data;
	e->u.call.nargs = (int)args.len;
	e->u.call.kwnames = kwnames.data;
	e->u.call.kwargs = kwargs.data;
	e->u.call.nkw = (int)kwargs.len;
	return e;
}

/* slice_item: expr | [expr] ':' [expr] [':' [expr]] */
static struct ts_expr *parse_slice_item(struct parser *p)
{
	struct loc loc = peek(p)->loc;
	struct ts_expr *lo = NULL;
	if (peek(p)->kind != TK_COLON)
		lo = parse_expr(p);
	if (!accept(p, TK_COLON))
		return lo;
	struct ts_expr *e = mk_expr(p, TE_SLICE, loc);
	e->u.slice.lo = lo;
	if (starts_expr(peek(p)->kind))
		e->u.slice.hi = parse_expr(p);
	if (accept(p, TK_COLON) && starts_expr(peek(p)->kind))
		e->u.slice.step = parse_expr(p);
	return e;
}

/* subscript: expr '[' slice_item (',' slice_item)* [','] ']' */
static struct ts_expr *parse_subscript(struct parser *p, struct ts_expr *obj)
{
	struct ts_expr *e = mk_expr(p, TE_SUBSCRIPT, obj->loc);
	struct loc loc = next(p)->loc;
	struct ts_expr *first = parse_slice_item(p);
	if (peek(p)->kind == TK_COMMA) {
		struct vec items = { 0 };
		VEC_PUSH(p->a, &items, struct ts_expr *, first);
		while (accept(p, TK_COMMA) &&
		       (starts_expr(peek(p)->kind) || peek(p)->kind == TK_COLON))
			VEC_PUSH(p->a, &items, struct ts_expr *, parse_slice_item(p));
		first = mk_tuple(p, loc, &items);
	}
	expect(p, TK_RBRACK, "after subscript");
	e->u.sub.obj = obj;
	e->u.sub.index = first;
	return e;
}

/* postfix: atom (call | subscript | '.' NAME)* */
static struct ts_expr *parse_postfix(struct parser *p)
{
	struct ts_expr *e = parse_atom(p);
	for (int height = 0;; height++) {
		enum ts_tok k = peek(p)->kind;
		if (k == TK_LPAREN || k == TK_LBRACK || k == TK_DOT)
			enter(p); /* each trailer deepens the tree */
		if (k == TK_LPAREN) {
			e = parse_call(p, e);
		} else if (k == TK_LBRACK) {
			e = parse_subscript(p, e);
		} else if (k == TK_DOT) {
			next(p);
			struct ts_expr *a = mk_expr(p, TE_ATTR, e->loc);
			a->u.attr.obj = e;
			a->u.attr.name = expect(p, TK_NAME, "after '.'")->v.name;
			e = a;
		} else {
			p->depth -= height;
			return e;
		}
	}
}

/* power: postfix ['**' unary] */
static struct ts_expr *parse_power(struct parser *p)
{
	struct ts_expr *base = parse_postfix(p);
	if (peek(p)->kind != TK_POW)
		return base;
	struct ts_expr *e = mk_expr(p, TE_BINARY, next(p)->loc);
	e->u.bin.op = TO_POW;
	e->u.bin.a = base;
	e->u.bin.b = parse_unary(p);
	return e;
}

/* Is `- INT` at pos the literal -2^63 (not followed by anything binding tighter)? */
static int at_int64_min(struct parser *p)
{
	struct ts_token *t = peek_at(p, 1);
	enum ts_tok after = peek_at(p, 2)->kind;
	return t->kind == TK_INT && t->v.i == (uint64_t)1 << 63 && after != TK_POW &&
	       after != TK_DOT && after != TK_LPAREN && after != TK_LBRACK;
}

/* Fold `-literal` into a negative literal where that loses nothing. */
static struct ts_expr *fold_neg(struct ts_expr *e)
{
	struct ts_expr *a = e->u.un.a;
	if (a->kind == TE_INT && a->u.i >= 0) {
		a->u.i = -a->u.i;
	} else if (a->kind == TE_FLOAT && !signbit(a->u.f)) {
		a->u.f = -a->u.f;
	} else {
		return e;
	}
	a->loc = e->loc;
	return a;
}

/* unary: ('-' | '+' | '~') unary | power */
static struct ts_expr *parse_unary(struct parser *p)
{
	enum ts_tok k = peek(p)->kind;
	if (k != TK_MINUS && k != TK_PLUS && k != TK_TILDE)
		return parse_power(p);
	if (k == TK_MINUS && at_int64_min(p)) {
		struct ts_expr *e = mk_expr(p, TE_INT, next(p)->loc);
		next(p);
		e->u.i = INT64_MIN;
		return e;
	}
	struct ts_expr *e = mk_expr(p, TE_UNARY, next(p)->loc);
	e->u.un.op = k == TK_MINUS ? TO_NEG : k == TK_PLUS ? TO_POS : TO_INVERT;
	enter(p);
	e->u.un.a = parse_unary(p);
	leave(p);
	return e->u.un.op == TO_NEG ? fold_neg(e) : e;
}

/* Binary operators between unary and comparison, loosest first. */
static const struct binop {
	enum ts_tok tok; /* its token */
	enum ts_op op;   /* its node op */
	int prec;        /* binding strength; the printer uses the same numbers */
} binops[] = {
	{ TK_PIPE, TO_BITOR, 5 }, { TK_CARET, TO_BITXOR, 6 }, { TK_AMP, TO_BITAND, 7 },
	{ TK_LSHIFT, TO_LSHIFT, 8 }, { TK_RSHIFT, TO_RSHIFT, 8 },
	{ TK_PLUS, TO_ADD, 9 }, { TK_MINUS, TO_SUB, 9 },
	{ TK_STAR, TO_MUL, 10 }, { TK_SLASH, TO_DIV, 10 }, { TK_DSLASH, TO_FLOORDIV, 10 },
	{ TK_PERCENT, TO_MOD, 10 }, { TK_AT, TO_MATMUL, 10 },
};
#define NBINOPS (sizeof binops / sizeof binops[0])

/* The binop row for token kind k, or NULL. */
static const struct binop *binop_of(enum ts_tok k)
{
	for (size_t i = 0; i < NBINOPS; i++)
		if (binops[i].tok == k)
			return &binops[i];
	return NULL;
}

/* binary(n): binary(n+1) (op_n binary(n+1))*  for n = 5 (|) .. 10 (* / // % @);
 * binary(11) is unary. Precedence climbing: left-associative. */
static struct ts_expr *parse_binary(struct parser *p, int min)
{
	struct ts_expr *lhs = parse_unary(p);
	for (int height = 0;; height++) {
		const struct binop *b = binop_of(peek(p)->kind);
		if (!b || b->prec < min) {
			p->depth -= height;
			return lhs;
		}
		enter(p); /* a left-leaning chain deepens the tree */
		struct ts_expr *e = mk_expr(p, TE_BINARY, next(p)->loc);
		e->u.bin.op = b->op;
		e->u.bin.a = lhs;
		e->u.bin.b = parse_binary(p, b->prec + 1);
		lhs = e;
	}
}

/* bitor: binary(5) */
static struct ts_expr *parse_bitor(struct parser *p)
{
	return parse_binary(p, 5);
}

/* compop: '<' | '>' | '==' | '>=' | '<=' | '!=' | 'in' | 'not' 'in' | 'is' ['not'];
 * consumes it and returns its op, or returns -1 and consumes nothing. */
static int parse_compop(struct parser *p)
{
	static const struct { enum ts_tok tok; enum ts_op op; } simple[] = {
		{ TK_LT, TO_LT }, { TK_GT, TO_GT }, { TK_EQ, TO_EQ }, { TK_GE, TO_GE },
		{ TK_LE, TO_LE }, { TK_NE, TO_NE }, { TK_KW_IN, TO_IN },
	};
	enum ts_tok k = peek(p)->kind;
	for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
		if (simple[i].tok == k) {
			next(p);
			return (int)simple[i].op;
		}
	}
	if (k == TK_KW_NOT && peek_at(p, 1)->kind == TK_KW_IN) {
		p->pos += 2;
		return TO_NOTIN;
	}
	if (k != TK_KW_IS)
		return -1;
	next(p);
	return accept(p, TK_KW_NOT) ? TO_ISNOT : TO_IS;
}

/* comparison: bitor (compop bitor)* */
static struct ts_expr *parse_compare(struct parser *p)
{
	struct ts_expr *first = parse_bitor(p);
	struct loc loc = peek(p)->loc;
	int op = parse_compop(p);
	if (op < 0)
		return first;
	struct vec items = { 0 }, ops = { 0 };
	VEC_PUSH(p->a, &items, struct ts_expr *, first);
	for (; op >= 0; op = parse_compop(p)) {
		VEC_PUSH(p->a, &ops, enum ts_op, (enum ts_op)op);
		VEC_PUSH(p->a, &items, struct ts_expr *, parse_bitor(p));
	}
	struct ts_expr *e = mk_expr(p, TE_COMPARE, loc);
	e->u.cmp.items = items.data;
	e->u.cmp.ops = ops.data;
	e->u.cmp.n = (int)ops.len;
	return e;
}

/* not_test: 'not' not_test | comparison */
static struct ts_expr *parse_not(struct parser *p)
{
	if (peek(p)->kind != TK_KW_NOT)
		return parse_compare(p);
	struct ts_expr *e = mk_expr(p, TE_UNARY, next(p)->loc);
	e->u.un.op = TO_NOT;
	enter(p);
	e->u.un.a = parse_not(p);
	leave(p);
	return e;
}

/* A boolean node a op b. */
static struct ts_expr *mk_boolop(struct parser *p, struct loc loc, enum ts_op op,
				 struct ts_expr *a, struct ts_expr *b)
{
	struct ts_expr *e = mk_expr(p, TE_BOOLOP, loc);
	e->u.bin.op = op;
	e->u.bin.a = a;
	e->u.bin.b = b;
	return e;
}

/* and_test: not_test ('and' not_test)* */
static struct ts_expr *parse_and(struct parser *p)
{
	struct ts_expr *e = parse_not(p);
	int height = 0;
	for (; peek(p)->kind == TK_KW_AND; height++) {
		struct loc loc = next(p)->loc;
		enter(p);
		e = mk_boolop(p, loc, TO_AND, e, parse_not(p));
	}
	p->depth -= height;
	return e;
}

/* or_test: and_test ('or' and_test)* */
static struct ts_expr *parse_or(struct parser *p)
{
	struct ts_expr *e = parse_and(p);
	int height = 0;
	for (; peek(p)->kind == TK_KW_OR; height++) {
		struct loc loc = next(p)->loc;
		enter(p);
		e = mk_boolop(p, loc, TO_OR, e, parse_and(p));
	}
	p->depth -= height;
	return e;
}

/* expr: or_test ['if' or_test 'else' expr] */
static struct ts_expr *parse_expr(struct parser *p)
{
	enter(p);
	struct ts_expr *e = parse_or(p);
	if (peek(p)->kind == TK_KW_IF) {
		struct ts_expr *c = mk_expr(p, TE_IFEXP, next(p)->loc);
		c->u.ifexp.then = e;
		c->u.ifexp.cond = parse_or(p);
		expect(p, TK_KW_ELSE, "in conditional expression");
		c->u.ifexp.els = parse_expr(p);
		e = c;
	}
	leave(p);
	return e;
}

/* ---- statements ---- */

static struct ts_stmt *mk_stmt(struct parser *p, enum ts_stmt_kind kind, struct loc loc)
{
	struct ts_stmt *s = arena_alloc(p->a, sizeof *s);
	s->kind = kind;
	s->loc = loc;
	return s;
}

/* Check e can be assigned to: a name, attribute, subscript or a tuple/list of them. */
static void check_target(struct parser *p, const struct ts_expr *e)
{
	switch (e->kind) {
	case TE_NAME: case TE_ATTR: case TE_SUBSCRIPT:
		return;
	case TE_TUPLE: case TE_LIST:
		for (int i = 0; i < e->u.seq.n; i++)
			check_target(p, e->u.seq.items[i]);
		return;
	default:
		diag_error(p->ctx, e->loc, "cannot assign to this expression");
	}
}

/* The augmented-assignment op of token kind k, or -1. */
static int augop_of(enum ts_tok k)
{
	static const struct { enum ts_tok tok; enum ts_op op; } augs[] = {
		{ TK_PLUSEQ, TO_ADD }, { TK_MINUSEQ, TO_SUB }, { TK_STAREQ, TO_MUL },
		{ TK_SLASHEQ, TO_DIV }, { TK_DSLASHEQ, TO_FLOORDIV }, { TK_PERCENTEQ, TO_MOD },
		{ TK_ATEQ, TO_MATMUL }, { TK_POWEQ, TO_POW }, { TK_LSHIFTEQ, TO_LSHIFT },
		{ TK_RSHIFTEQ, TO_RSHIFT }, { TK_PIPEEQ, TO_BITOR }, { TK_CARETEQ, TO_BITXOR },
		{ TK_AMPEQ, TO_BITAND },
	};
	for (size_t i = 0; i < sizeof augs / sizeof augs[0]; i++)
		if (augs[i].tok == k)
			return (int)augs[i].op;
	return -1;
}

/* A single (non-tuple) assignment target for `x : T` and `x += e`. */
static void check_single_target(struct parser *p, const struct ts_expr *e, const char *what)
{
	if (e->kind != TE_NAME && e->kind != TE_ATTR && e->kind != TE_SUBSCRIPT)
		diag_error(p->ctx, e->loc, "only a single name, attribute or subscript can be %s",
			   what);
}

/* assign_rest: ('=' exprlist)+   -- after the first target */
static struct ts_stmt *parse_assign(struct parser *p, struct ts_expr *first)
{
	struct ts_stmt *s = mk_stmt(p, TS_ASSIGN, first->loc);
	struct vec targets = { 0 };
	struct ts_expr *value = first;
	while (accept(p, TK_ASSIGN)) {
		check_target(p, value);
		VEC_PUSH(p->a, &targets, struct ts_expr *, value);
		value = parse_exprlist(p, parse_expr);
	}
	s->u.assign.targets = targets.data;
	s->u.assign.ntargets = (int)targets.len;
	s->u.assign.value = value;
	return s;
}

/* expr_stmt: exprlist ( ':' expr ['=' exprlist] | augop exprlist | ('=' exprlist)* ) */
static struct ts_stmt *parse_expr_stmt(struct parser *p)
{
	struct ts_expr *first = parse_exprlist(p, parse_expr);
	enum ts_tok k = peek(p)->kind;
	int aug = augop_of(k);
	struct ts_stmt *s;
	if (k == TK_ASSIGN)
		return parse_assign(p, first);
	if (k == TK_COLON) {
		next(p);
		check_single_target(p, first, "annotated");
		s = mk_stmt(p, TS_ANNASSIGN, first->loc);
		s->u.ann.target = first;
		s->u.ann.type = parse_expr(p);
		if (accept(p, TK_ASSIGN))
			s->u.ann.value = parse_exprlist(p, parse_expr);
	} else if (aug >= 0) {
		next(p);
		check_single_target(p, first, "augmented");
		s = mk_stmt(p, TS_AUGASSIGN, first->loc);
		s->u.aug.op = (enum ts_op)aug;
		s->u.aug.target = first;
		s->u.aug.value = parse_exprlist(p, parse_expr);
	} else {
		s = mk_stmt(p, TS_EXPR, first->loc);
		s->u.expr = first;
	}
	return s;
}

/* del_stmt: 'del' exprlist */
static void parse_del(struct parser *p, struct ts_stmt *s)
{
	struct ts_expr *e = parse_exprlist(p, parse_bitor);
	check_target(p, e);
	if (e->kind == TE_TUPLE) {
		s->u.del.targets = e->u.seq.items;
		s->u.del.n = e->u.seq.n;
		return;
	}
	s->u.del.targets = arena_alloc(p->a, sizeof *s->u.del.targets);
	s->u.del.targets[0] = e;
	s->u.del.n = 1;
}

/* simple_stmt: ('pass' | 'break' | 'continue' | 'return' [exprlist] | 'raise' [expr]
 *              | 'assert' expr [',' expr] | 'del' exprlist | expr_stmt) NEWLINE */
static struct ts_stmt *parse_simple(struct parser *p)
{
	struct ts_token *t = peek(p);
	struct ts_stmt *s = mk_stmt(p, TS_PASS, t->loc);
	switch (t->kind) {
	case TK_KW_PASS: next(p); break;
	case TK_KW_BREAK: next(p); s->kind = TS_BREAK; break;
	case TK_KW_CONTINUE: next(p); s->kind = TS_CONTINUE; break;
	case TK_KW_RETURN:
	case TK_KW_RAISE:
		next(p);
		s->kind = t->kind == TK_KW_RETURN ? TS_RETURN : TS_RAISE;
		if (peek(p)->kind != TK_NEWLINE)
			s->u.expr = t->kind == TK_KW_RETURN ? parse_exprlist(p, parse_expr)
							    : parse_expr(p);
		break;
	case TK_KW_ASSERT:
		next(p);
		s->kind = TS_ASSERT;
		s->u.assert_.test = parse_expr(p);
		if (accept(p, TK_COMMA))
			s->u.assert_.msg = parse_expr(p);
		break;
	case TK_KW_DEL:
		next(p);
		s->kind = TS_DEL;
		parse_del(p, s);
		break;
	default:
		s = parse_expr_stmt(p);
	}
	expect(p, TK_NEWLINE, "at end of statement");
	return s;
}

/* if_stmt: 'if' expr ':' suite ('elif' expr ':' suite)* ['else' ':' suite]
 * (called with 'if' or 'elif' next; an elif becomes an else holding one if) */
static struct ts_stmt *parse_if(struct parser *p)
{
	struct ts_stmt *s = mk_stmt(p, TS_IF, next(p)->loc);
	s->u.if_.cond = parse_expr(p);
	expect(p, TK_COLON, "after if condition");
	s->u.if_.then = parse_suite(p);
	if (peek(p)->kind == TK_KW_ELIF) {
		enter(p);
		struct ts_stmt **one = arena_alloc(p->a, sizeof *one);
		one[0] = parse_if(p);
		leave(p);
		s->u.if_.els = (struct ts_block){ one, 1 };
	} else if (accept(p, TK_KW_ELSE)) {
		expect(p, TK_COLON, "after 'else'");
		s->u.if_.els = parse_suite(p);
	}
	return s;
}

/* for_stmt: 'for' targets 'in' exprlist ':' suite;  targets: bitor (',' bitor)* [','] */
static struct ts_stmt *parse_for(struct parser *p)
{
	struct ts_stmt *s = mk_stmt(p, TS_FOR, next(p)->loc);
	s->u.for_.target = parse_exprlist(p, parse_bitor);
	check_target(p, s->u.for_.target);
	expect(p, TK_KW_IN, "after for target");
	s->u.for_.iter = parse_exprlist(p, parse_expr);
	expect(p, TK_COLON, "after for iterable");
	s->u.for_.body = parse_suite(p);
	return s;
}

/* while_stmt: 'while' expr ':' suite */
static struct ts_stmt *parse_while(struct parser *p)
{
	struct ts_stmt *s = mk_stmt(p, TS_WHILE, next(p)->loc);
	s->u.while_.cond = parse_expr(p);
	expect(p, TK_COLON, "after while condition");
	s->u.while_.body = parse_suite(p);
	return s;
}

/* with_stmt: 'with' expr ['as' bitor] ':' suite */
static struct ts_stmt *parse_with(struct parser *p)
{
	struct ts_stmt *s = mk_stmt(p, TS_WITH, next(p)->loc);
	s->u.with.item = parse_expr(p);
	if (accept(p, TK_KW_AS)) {
		s->u.with.target = parse_bitor(p);
		check_target(p, s->u.with.target);
	}
	expect(p, TK_COLON, "after with item");
	s->u.with.body = parse_suite(p);
	return s;
}

/* stmt: if_stmt | for_stmt | while_stmt | with_stmt | funcdef | simple_stmt */
static struct ts_stmt *parse_stmt(struct parser *p)
{
	struct ts_stmt *s;
	switch (peek(p)->kind) {
	case TK_KW_IF: return parse_if(p);
	case TK_KW_FOR: return parse_for(p);
	case TK_KW_WHILE: return parse_while(p);
	case TK_KW_WITH: return parse_with(p);
	case TK_KW_DEF:
		s = mk_stmt(p, TS_DEF, peek(p)->loc);
		s->u.def = parse_def(p);
		return s;
	case TK_INDENT:
		diag_error(p->ctx, peek(p)->loc, "unexpected indent");
	default:
		return parse_simple(p);
	}
}

/* suite: simple_stmt | NEWLINE INDENT stmt+ DEDENT */
static struct ts_block parse_suite(struct parser *p)
{
	struct vec stmts = { 0 };
	enter(p);
	if (!accept(p, TK_NEWLINE)) {
		VEC_PUSH(p->a, &stmts, struct ts_stmt *, parse_simple(p));
	} else {
		if (!accept(p, TK_INDENT))
			error_at_next(p, "an indented block");
		while (!accept(p, TK_DEDENT))
			VEC_PUSH(p->a, &stmts, struct ts_stmt *, parse_stmt(p));
	}
	leave(p);
	return (struct ts_block){ stmts.data, (int)stmts.len };
}

/* ---- definitions ---- */

/* param: NAME [':' expr] ['=' expr] */
static struct ts_param parse_param(struct parser *p)
{
	struct ts_token *t = expect(p, TK_NAME, "(a parameter name)");
	struct ts_param prm = { t->v.name, NULL, NULL, t->loc };
	if (accept(p, TK_COLON))
		prm.type = parse_expr(p);
	if (accept(p, TK_ASSIGN))
		prm.deflt = parse_expr(p);
	return prm;
}

/* funcdef: 'def' NAME '(' [param (',' param)* [',']] ')' ['->' expr] ':' suite */
static struct ts_def *parse_def(struct parser *p)
{
	struct ts_def *d = arena_alloc(p->a, sizeof *d);
	struct vec params = { 0 };
	d->loc = next(p)->loc;
	d->name = expect(p, TK_NAME, "after 'def'")->v.name;
	expect(p, TK_LPAREN, "after function name");
	while (peek(p)->kind != TK_RPAREN) {
		VEC_PUSH(p->a, &params, struct ts_param, parse_param(p));
		if (!accept(p, TK_COMMA))
			break;
	}
	expect(p, TK_RPAREN, "after parameters");
	if (accept(p, TK_ARROW))
		d->ret_type = parse_expr(p);
	expect(p, TK_COLON, "after function signature");
	d->body = parse_suite(p);
	d->params = params.data;
	d->nparams = (int)params.len;
	return d;
}

/* namelist: '[' [STR (',' STR)* [',']] ']'   -- the value of __parameters__ & co. */
static void parse_namelist(struct parser *p, struct ts_namelist *nl, struct ts_token *name)
{
	struct vec names = { 0 };
	if (nl->present)
		diag_error(p->ctx, name->loc, "%s given twice", name->v.name);
	expect(p, TK_LBRACK, "(a list of names)");
	while (peek(p)->kind != TK_RBRACK) {
		VEC_PUSH(p->a, &names, const char *,
			 expect(p, TK_STR, "in name list")->v.str.s);
		if (!accept(p, TK_COMMA))
			break;
	}
	expect(p, TK_RBRACK, "to close name list");
	nl->names = names.data;
	nl->n = (int)names.len;
	nl->present = 1;
}

/* The name list of class c that `name = [...]` sets, or NULL. */
static struct ts_namelist *namelist_of(struct ts_class *c, const char *name)
{
	if (strcmp(name, "__parameters__") == 0)
		return &c->params;
	if (strcmp(name, "__buffers__") == 0)
		return &c->buffers;
	if (strcmp(name, "__forward_hooks__") == 0)
		return &c->fwd_hooks;
	if (strcmp(name, "__forward_pre_hooks__") == 0)
		return &c->fwd_pre_hooks;
	return NULL;
}

/* Is the type expression Final[...]? */
static int is_final_type(const struct ts_expr *t)
{
	return t->kind == TE_SUBSCRIPT && t->u.sub.obj->kind == TE_NAME &&
	       strcmp(t->u.sub.obj->u.name, "Final") == 0;
}

/* attr_item: NAME ':' expr ['=' expr] | NAME '=' expr
 *          | '__annotations__' '[' STR ']' '=' expr   (then NEWLINE) */
static struct ts_attr_decl parse_attr_item(struct parser *p, struct ts_token *name)
{
	struct ts_attr_decl ad = { name->v.name, NULL, NULL, 0, name->loc };
	if (strcmp(ad.name, "__annotations__") == 0 && accept(p, TK_LBRACK)) {
		ad.name = expect(p, TK_STR, "(an attribute name)")->v.str.s;
		expect(p, TK_RBRACK, "after attribute name");
		expect(p, TK_ASSIGN, "after __annotations__[...]");
		ad.type = parse_expr(p);
	} else if (accept(p, TK_COLON)) {
		ad.type = parse_expr(p);
		ad.is_final = is_final_type(ad.type);
		if (accept(p, TK_ASSIGN))
			ad.value = parse_expr(p);
	} else {
		expect(p, TK_ASSIGN, "or ':' after attribute name");
		ad.value = parse_expr(p);
	}
	return ad;
}

/* class_item: funcdef | 'pass' NEWLINE | namelist_item NEWLINE | attr_item NEWLINE */
static void parse_class_item(struct parser *p, struct ts_class *c, struct vec *attrs,
			     struct vec *methods)
{
	struct ts_namelist *nl;
	if (peek(p)->kind == TK_KW_DEF) {
		VEC_PUSH(p->a, methods, struct ts_def, *parse_def(p));
		return;
	}
	if (accept(p, TK_KW_PASS)) {
		expect(p, TK_NEWLINE, "after 'pass'");
		return;
	}
	struct ts_token *name = expect(p, TK_NAME, "(an attribute or 'def' in class body)");
	if (peek(p)->kind == TK_ASSIGN && (nl = namelist_of(c, name->v.name)) != NULL) {
		next(p);
		parse_namelist(p, nl, name);
	} else {
		VEC_PUSH(p->a, attrs, struct ts_attr_decl, parse_attr_item(p, name));
	}
	expect(p, TK_NEWLINE, "at end of class attribute");
}

/* dotted: NAME ('.' NAME)*   -- returned as one string */
static const char *parse_dotted(struct parser *p, const char *context)
{
	const char *s = expect(p, TK_NAME, context)->v.name;
	while (accept(p, TK_DOT))
		s = arena_printf(p->a, "%s.%s", s, expect(p, TK_NAME, "after '.'")->v.name);
	return s;
}

/* classdef: 'class' NAME ['(' [dotted] ')'] ':' NEWLINE INDENT class_item+ DEDENT */
static struct ts_class parse_class(struct parser *p)
{
	struct ts_class c = { 0 };
	struct vec attrs = { 0 }, methods = { 0 };
	c.loc = next(p)->loc;
	c.name = expect(p, TK_NAME, "after 'class'")->v.name;
	if (accept(p, TK_LPAREN)) {
		if (peek(p)->kind != TK_RPAREN)
			c.base = parse_dotted(p, "(a base class name)");
		expect(p, TK_RPAREN, "after base class");
	}
	expect(p, TK_COLON, "after class header");
	expect(p, TK_NEWLINE, "after class header");
	if (!accept(p, TK_INDENT))
		error_at_next(p, "an indented class body");
	while (!accept(p, TK_DEDENT))
		parse_class_item(p, &c, &attrs, &methods);
	c.attrs = attrs.data;
	c.nattrs = (int)attrs.len;
	c.methods = methods.data;
	c.nmethods = (int)methods.len;
	return c;
}

/* Skip an `import ...`, `from ... import ...` or `op_version_set = N` line. */
static void skip_line(struct parser *p)
{
	while (peek(p)->kind != TK_NEWLINE && peek(p)->kind != TK_EOF)
		next(p);
	accept(p, TK_NEWLINE);
}

/* file: (classdef | funcdef | import_line | 'op_version_set' '=' INT NEWLINE)* EOF */
static struct ts_file *parse_file(struct parser *p, const char *path)
{
	struct ts_file *f = arena_alloc(p->a, sizeof *f);
	struct vec classes = { 0 }, funcs = { 0 };
	f->path = path;
	for (;;) {
		struct ts_token *t = peek(p);
		if (t->kind == TK_EOF)
			break;
		if (t->kind == TK_KW_CLASS)
			VEC_PUSH(p->a, &classes, struct ts_class, parse_class(p));
		else if (t->kind == TK_KW_DEF)
			VEC_PUSH(p->a, &funcs, struct ts_def, *parse_def(p));
		else if (t->kind == TK_KW_IMPORT || t->kind == TK_KW_FROM ||
			 (t->kind == TK_NAME && strcmp(t->v.name, "op_version_set") == 0))
			skip_line(p);
		else
			error_at_next(p, "'class' or 'def' at top level");
	}
	f->classes = classes.data;
	f->nclasses = (int)classes.len;
	f->funcs = funcs.data;
	f->nfuncs = (int)funcs.len;
	return f;
}

struct ts_file *ts_parse(struct kiln_ctx *ctx, const char *path, const char *src, size_t len)
{
	struct parser p = { .ctx = ctx, .a = &ctx->arena };
	path = arena_strdup(&ctx->arena, path);
	p.toks = ts_lex(ctx, path, src, len, &p.ntok);
	return parse_file(&p, path);
}

/* ---- printer ---- */

static void print_expr(FILE *o, const struct ts_expr *e, int min);
static void print_block(FILE *o, const struct ts_block *b, int indent);

/* How tightly e binds, on the parser's scale: 0 conditional .. 13 primary. */
static int expr_prec(const struct ts_expr *e)
{
	switch (e->kind) {
	case TE_IFEXP: return 0;
	case TE_BOOLOP: return e->u.bin.op == TO_OR ? 1 : 2;
	case TE_UNARY: return e->u.un.op == TO_NOT ? 3 : 11;
	case TE_COMPARE: return 4;
	case TE_INT: return e->u.i < 0 ? 11 : 13;
	case TE_FLOAT: return signbit(e->u.f) ? 11 : 13;
	case TE_BINARY:
		if (e->u.bin.op == TO_POW)
			return 12;
		for (size_t i = 0; i < NBINOPS; i++)
			if (binops[i].op == e->u.bin.op)
				return binops[i].prec;
		unreachable();
	default: return 13;
	}
}

/* A double as the printer writes it: 17 significant digits, `2.` for integers. */
static void print_float(FILE *o, double f)
{
	char buf[64];
	if (isnan(f) || isinf(f)) {
		fputs(isnan(f) ? "nan" : f < 0 ? "-inf" : "inf", o);
		return;
	}
	snprintf(buf, sizeof buf, "%.17g", f);
	fputs(buf, o);
	if (!strpbrk(buf, ".e"))
		fputc('.', o);
}

/* A string literal with torch's escapes (non-printable bytes as \ooo). */
static void print_str(FILE *o, const char *s, size_t n)
{
	fputc('"', o);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(o, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", o);
		else if (c == '\t')
			fputs("\\t", o);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(o, "\\%03o", c);
		else
			fputc(c, o);
	}
	fputc('"', o);
}

/* items separated by ", " (a trailing "," when one_comma and there is one item) */
static void print_items(FILE *o, struct ts_expr *const *items, int n, int one_comma)
{
	for (int i = 0; i < n; i++) {
		if (i)
			fputs(", ", o);
		print_expr(o, items[i], 0);
	}
	if (n == 1 && one_comma)
		fputc(',', o);
}

static void print_call(FILE *o, const struct ts_expr *e)
{
	print_expr(o, e->u.call.fn, 13);
	fputc('(', o);
	print_items(o, e->u.call.args, e->u.call.nargs, 0);
	for (int i = 0; i < e->u.call.nkw; i++) {
		fprintf(o, "%s%s=", i || e->u.call.nargs ? ", " : "", e->u.call.kwnames[i]);
		print_expr(o, e->u.call.kwargs[i], 0);
	}
	fputc(')', o);
}

static void print_subscript(FILE *o, const struct ts_expr *e)
{
	const struct ts_expr *ix = e->u.sub.index;
	print_expr(o, e->u.sub.obj, 13);
	fputc('[', o);
	if (ix->kind == TE_TUPLE && ix->u.seq.n > 0)
		print_items(o, ix->u.seq.items, ix->u.seq.n, 1);
	else
		print_expr(o, ix, 0);
	fputc(']', o);
}

static void print_slice(FILE *o, const struct ts_expr *e)
{
	if (e->u.slice.lo)
		print_expr(o, e->u.slice.lo, 0);
	fputc(':', o);
	if (e->u.slice.hi)
		print_expr(o, e->u.slice.hi, 0);
	if (e->u.slice.step) {
		fputc(':', o);
		print_expr(o, e->u.slice.step, 0);
	}
}

static void print_dict(FILE *o, const struct ts_expr *e)
{
	fputc('{', o);
	for (int i = 0; i < e->u.dict.n; i++) {
		if (i)
			fputs(", ", o);
		print_expr(o, e->u.dict.keys[i], 0);
		fputs(": ", o);
		print_expr(o, e->u.dict.vals[i], 0);
	}
	fputc('}', o);
}

/* -x, ~x, not x; a space keeps `- -1` from reading as one token pair oddly. */
static void print_unary(FILE *o, const struct ts_expr *e)
{
	const struct ts_expr *a = e->u.un.a;
	if (e->u.un.op == TO_NOT) {
		fputs("not ", o);
		print_expr(o, a, 3);
		return;
	}
	fputs(ts_op_str(e->u.un.op), o);
	if (expr_prec(a) == 11)
		fputc(' ', o);
	print_expr(o, a, 11);
}

static void print_binary(FILE *o, const struct ts_expr *e)
{
	int pr = expr_prec(e);
	if (e->u.bin.op == TO_POW) {
		print_expr(o, e->u.bin.a, 13);
		fputs(" ** ", o);
		print_expr(o, e->u.bin.b, 11);
		return;
	}
	print_expr(o, e->u.bin.a, pr);
	fprintf(o, " %s ", ts_op_str(e->u.bin.op));
	print_expr(o, e->u.bin.b, pr + 1);
}

static void print_compare(FILE *o, const struct ts_expr *e)
{
	print_expr(o, e->u.cmp.items[0], 5);
	for (int i = 0; i < e->u.cmp.n; i++) {
		fprintf(o, " %s ", ts_op_str(e->u.cmp.ops[i]));
		print_expr(o, e->u.cmp.items[i + 1], 5);
	}
}

/* e without the parentheses its context may need. */
static void print_bare(FILE *o, const struct ts_expr *e)
{
	switch (e->kind) {
	case TE_NAME: fputs(e->u.name, o); break;
	case TE_INT: fprintf(o, "%" PRId64, e->u.i); break;
	case TE_FLOAT: print_float(o, e->u.f); break;
	case TE_STR: print_str(o, e->u.str.s, e->u.str.len); break;
	case TE_NONE: fputs("None", o); break;
	case TE_BOOL: fputs(e->u.b ? "True" : "False", o); break;
	case TE_ELLIPSIS: fputs("...", o); break;
	case TE_ATTR:
		print_expr(o, e->u.attr.obj, e->u.attr.obj->kind == TE_INT ? 14 : 13);
		fprintf(o, ".%s", e->u.attr.name);
		break;
	case TE_CALL: print_call(o, e); break;
	case TE_SUBSCRIPT: print_subscript(o, e); break;
	case TE_SLICE: print_slice(o, e); break;
	case TE_TUPLE:
		fputc('(', o);
		print_items(o, e->u.seq.items, e->u.seq.n, 1);
		fputc(')', o);
		break;
	case TE_LIST:
		fputc('[', o);
		print_items(o, e->u.seq.items, e->u.seq.n, 0);
		fputc(']', o);
		break;
	case TE_DICT: print_dict(o, e); break;
	case TE_UNARY: print_unary(o, e); break;
	case TE_BINARY: case TE_BOOLOP: print_binary(o, e); break;
	case TE_COMPARE: print_compare(o, e); break;
	case TE_IFEXP:
		print_expr(o, e->u.ifexp.then, 1);
		fputs(" if ", o);
		print_expr(o, e->u.ifexp.cond, 1);
		fputs(" else ", o);
		print_expr(o, e->u.ifexp.els, 0);
		break;
	default: unreachable();
	}
}

/* e, parenthesized if it binds less tightly than min. */
static void print_expr(FILE *o, const struct ts_expr *e, int min)
{
	int paren = expr_prec(e) < min;
	if (paren)
		fputc('(', o);
	print_bare(o, e);
	if (paren)
		fputc(')', o);
}

void ts_print_expr(FILE *out, const struct ts_expr *e)
{
	print_expr(out, e, 0);
}

/* An assignment target: tuples without parentheses (`a, = e`, `a, b = e`). */
static void print_target(FILE *o, const struct ts_expr *e)
{
	if (e->kind == TE_TUPLE && e->u.seq.n > 0)
		print_items(o, e->u.seq.items, e->u.seq.n, 1);
	else
		print_expr(o, e, 0);
}

static void print_indent(FILE *o, int indent)
{
	for (int i = 0; i < indent; i++)
		fputs("  ", o);
}

static void print_def(FILE *o, const struct ts_def *d, int indent);

/* The header line of a compound statement, e.g. "while c:", then its block. */
static void print_compound(FILE *o, const char *kw, const struct ts_expr *e,
			   const struct ts_block *b, int indent)
{
	fprintf(o, "%s ", kw);
	print_expr(o, e, 0);
	fputs(":\n", o);
	print_block(o, b, indent + 1);
}

static void print_if(FILE *o, const struct ts_stmt *s, int indent, const char *kw)
{
	print_compound(o, kw, s->u.if_.cond, &s->u.if_.then, indent);
	const struct ts_block *els = &s->u.if_.els;
	if (els->n == 0)
		return;
	print_indent(o, indent);
	if (els->n == 1 && els->stmts[0]->kind == TS_IF) {
		print_if(o, els->stmts[0], indent, "elif");
		return;
	}
	fputs("else:\n", o);
	print_block(o, els, indent + 1);
}

static void print_assign(FILE *o, const struct ts_stmt *s)
{
	for (int i = 0; i < s->u.assign.ntargets; i++) {
		print_target(o, s->u.assign.targets[i]);
		fputs(" = ", o);
	}
	print_expr(o, s->u.assign.value, 0);
}

/* Statements with a header and a block; the others go through print_simple. */
static int print_block_stmt(FILE *o, const struct ts_stmt *s, int indent)
{
	switch (s->kind) {
	case TS_IF: print_if(o, s, indent, "if"); return 1;
	case TS_WHILE: print_compound(o, "while", s->u.while_.cond, &s->u.while_.body, indent); return 1;
	case TS_DEF: print_def(o, s->u.def, indent); return 1;
	case TS_FOR:
		fputs("for ", o);
		print_target(o, s->u.for_.target);
		print_compound(o, " in", s->u.for_.iter, &s->u.for_.body, indent);
		return 1;
	case TS_WITH:
		fputs("with ", o);
		print_expr(o, s->u.with.item, 0);
		if (s->u.with.target) {
			fputs(" as ", o);
			print_expr(o, s->u.with.target, 0);
		}
		fputs(":\n", o);
		print_block(o, &s->u.with.body, indent + 1);
		return 1;
	default: return 0;
	}
}

/* A simple statement without its newline. */
static void print_simple(FILE *o, const struct ts_stmt *s)
{
	switch (s->kind) {
	case TS_EXPR: print_expr(o, s->u.expr, 0); break;
	case TS_ASSIGN: print_assign(o, s); break;
	case TS_ANNASSIGN:
		print_expr(o, s->u.ann.target, 0);
		fputs(" : ", o);
		print_expr(o, s->u.ann.type, 0);
		if (s->u.ann.value) {
			fputs(" = ", o);
			print_expr(o, s->u.ann.value, 0);
		}
		break;
	case TS_AUGASSIGN:
		print_expr(o, s->u.aug.target, 0);
		fprintf(o, " %s= ", ts_op_str(s->u.aug.op));
		print_expr(o, s->u.aug.value, 0);
		break;
	case TS_RETURN: case TS_RAISE:
		fputs(s->kind == TS_RETURN ? "return" : "raise", o);
		if (s->u.expr) {
			fputc(' ', o);
			print_expr(o, s->u.expr, 0);
		}
		break;
	case TS_PASS: fputs("pass", o); break;
	case TS_BREAK: fputs("break", o); break;
	case TS_CONTINUE: fputs("continue", o); break;
	case TS_ASSERT:
		fputs("assert ", o);
		print_expr(o, s->u.assert_.test, 0);
		if (s->u.assert_.msg) {
			fputs(", ", o);
			print_expr(o, s->u.assert_.msg, 0);
		}
		break;
	case TS_DEL:
		fputs("del ", o);
		print_items(o, s->u.del.targets, s->u.del.n, 0);
		break;
	default: unreachable();
	}
}

static void print_block(FILE *o, const struct ts_block *b, int indent)
{
	if (b->n == 0) {
		print_indent(o, indent);
		fputs("pass\n", o);
	}
	for (int i = 0; i < b->n; i++) {
		print_indent(o, indent);
		if (!print_block_stmt(o, b->stmts[i], indent)) {
			print_simple(o, b->stmts[i]);
			fputc('\n', o);
		}
	}
}

/* `def name(a: T, b: T=d) -> R:` and the body; the caller printed the indent. */
static void print_def(FILE *o, const struct ts_def *d, int indent)
{
	fprintf(o, "def %s(", d->name);
	for (int i = 0; i < d->nparams; i++) {
		const struct ts_param *prm = &d->params[i];
		fprintf(o, "%s%s", i ? ", " : "", prm->name);
		if (prm->type) {
			fputs(": ", o);
			print_expr(o, prm->type, 0);
		}
		if (prm->deflt) {
			fputc('=', o);
			print_expr(o, prm->deflt, 0);
		}
	}
	fputc(')', o);
	if (d->ret_type) {
		fputs(" -> ", o);
		print_expr(o, d->ret_type, 0);
	}
	fputs(":\n", o);
	print_block(o, &d->body, indent + 1);
}

/* `  __parameters__ = ["a", "b", ]` when the line was present. */
static void print_namelist(FILE *o, const char *what, const struct ts_namelist *nl)
{
	if (!nl->present)
		return;
	fprintf(o, "  %s = [", what);
	for (int i = 0; i < nl->n; i++) {
		print_str(o, nl->names[i], strlen(nl->names[i]));
		fputs(", ", o);
	}
	fputs("]\n", o);
}

/* Is s a Python identifier (so it can be written as `s : T`)? */
static int is_identifier(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

static void print_attr(FILE *o, const struct ts_attr_decl *ad)
{
	fputs("  ", o);
	if (ad->type && !is_identifier(ad->name)) {
		fputs("__annotations__[", o);
		print_str(o, ad->name, strlen(ad->name));
		fputs("] = ", o);
		print_expr(o, ad->type, 0);
		fputc('\n', o);
		return;
	}
	fputs(ad->name, o);
	if (ad->type) {
		fputs(" : ", o);
		print_expr(o, ad->type, 0);
	}
	if (ad->value) {
		fputs(" = ", o);
		print_expr(o, ad->value, 0);
	}
	fputc('\n', o);
}

static void print_class(FILE *o, const struct ts_class *c)
{
	fprintf(o, "class %s", c->name);
	if (c->base)
		fprintf(o, "(%s)", c->base);
	fputs(":\n", o);
	print_namelist(o, "__parameters__", &c->params);
	print_namelist(o, "__buffers__", &c->buffers);
	print_namelist(o, "__forward_pre_hooks__", &c->fwd_pre_hooks);
	print_namelist(o, "__forward_hooks__", &c->fwd_hooks);
	for (int i = 0; i < c->nattrs; i++)
		print_attr(o, &c->attrs[i]);
	for (int i = 0; i < c->nmethods; i++) {
		fputs("  ", o);
		print_def(o, &c->methods[i], 1);
	}
	if (!c->params.present && !c->buffers.present && !c->fwd_pre_hooks.present &&
	    !c->fwd_hooks.present && c->nattrs == 0 && c->nmethods == 0)
		fputs("  pass\n", o);
}

void ts_print_file(FILE *out, const struct ts_file *f)
{
	for (int i = 0; i < f->nclasses; i++)
		print_class(out, &f->classes[i]);
	for (int i = 0; i < f->nfuncs; i++)
		print_def(out, &f->funcs[i], 0);
}
