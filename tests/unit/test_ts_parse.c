/* test_ts_parse.c: the TorchScript source lexer and parser (frontend/ts_lex.c,
 * frontend/ts_parse.c): token streams, trees built from real python_print
 * output (tests/unit/ts/ samples, made with torch 1.13), the printer's fixed
 * point, exact diagnostics, and robustness on truncated and garbled input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/ts_ast.h"

#ifndef KILN_SOURCE_DIR
#define KILN_SOURCE_DIR "."
#endif

static const char *const samples[] = { "ctrl.py", "container.py", "rnn.py", "functional.py",
				       "grammar.py" };

/* ---- helpers ---- */

struct job {
	const char *path;    /* record name */
	const char *src;     /* input */
	size_t len;          /* its length */
	struct ts_file *f;   /* result */
	struct ts_token *toks; /* result of a lex-only job */
	size_t ntok;
};

static void run_parse(struct kiln_ctx *ctx, void *arg)
{
	struct job *j = arg;
	j->f = ts_parse(ctx, j->path, j->src, j->len);
}

static void run_lex(struct kiln_ctx *ctx, void *arg)
{
	struct job *j = arg;
	j->toks = ts_lex(ctx, j->path, j->src, j->len, &j->ntok);
}

/* A fresh, quiet context. */
static struct kiln_ctx *new_ctx(void)
{
	struct kiln_ctx *ctx = malloc(sizeof *ctx);
	kiln_ctx_init(ctx);
	ctx->diag_out = NULL;
	return ctx;
}

static void free_ctx(struct kiln_ctx *ctx)
{
	kiln_ctx_free(ctx);
	free(ctx);
}

/* Parse src as "t.py"; fails the test on a diagnostic. */
static struct ts_file *parse_ok(struct kiln_ctx *ctx, const char *src)
{
	struct job j = { "t.py", src, strlen(src), NULL, NULL, 0 };
	if (kiln_protect(ctx, run_parse, &j))
		fail_msg("unexpected error: %s", ctx->errors[0]);
	return j.f;
}

/* Parse src as "t.py" and return the (first) diagnostic, or NULL. */
static const char *parse_err(struct kiln_ctx *ctx, const char *src, size_t len)
{
	struct job j = { "t.py", src, len, NULL, NULL, 0 };
	if (!kiln_protect(ctx, run_parse, &j))
		return NULL;
	return ctx->errors[ctx->nerrors - 1];
}

/* Read tests/unit/ts/name into malloc'd memory. */
static char *read_sample(const char *name, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/unit/ts/%s", KILN_SOURCE_DIR, name);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		fail_msg("cannot open %s", path);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	rewind(fp);
	char *s = malloc((size_t)n + 1);
	assert_int_equal(fread(s, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	s[n] = 0;
	*len = (size_t)n;
	return s;
}

/* The printed form of f, malloc'd. */
static char *print_file(const struct ts_file *f)
{
	char *buf;
	size_t len;
	FILE *o = open_memstream(&buf, &len);
	ts_print_file(o, f);
	fclose(o);
	return buf;
}

/* The printed form of e, malloc'd. */
static char *print_expr(const struct ts_expr *e)
{
	char *buf;
	size_t len;
	FILE *o = open_memstream(&buf, &len);
	ts_print_expr(o, e);
	fclose(o);
	return buf;
}

/* The token kinds of src as a string of ts_tok_str spellings joined by ' '. */
static char *lex_kinds(struct kiln_ctx *ctx, const char *src)
{
	struct job j = { "t.py", src, strlen(src), NULL, NULL, 0 };
	if (kiln_protect(ctx, run_lex, &j))
		fail_msg("unexpected error: %s", ctx->errors[0]);
	char *buf;
	size_t len;
	FILE *o = open_memstream(&buf, &len);
	for (size_t i = 0; i < j.ntok; i++) {
		const struct ts_token *t = &j.toks[i];
		const char *s = t->kind == TK_NAME ? t->v.name : ts_tok_str(t->kind);
		fprintf(o, "%s%s", i ? " " : "", t->kind == TK_NEWLINE ? "NL" :
			t->kind == TK_INDENT ? "IN" : t->kind == TK_DEDENT ? "DE" :
			t->kind == TK_EOF ? "EOF" : s);
	}
	fclose(o);
	return buf;
}

/* The value of the first statement `x = value` in the first def of src. */
static struct ts_expr *first_value(struct kiln_ctx *ctx, const char *expr)
{
	char *src = arena_printf(&ctx->arena, "def f():\n  x = %s\n", expr);
	struct ts_file *f = parse_ok(ctx, src);
	struct ts_stmt *s = f->funcs[0].body.stmts[0];
	assert_int_equal(s->kind, TS_ASSIGN);
	return s->u.assign.value;
}

/* Check that expr prints back as want. */
static void check_print(struct kiln_ctx *ctx, const char *expr, const char *want)
{
	char *got = print_expr(first_value(ctx, expr));
	if (strcmp(got, want) != 0)
		fail_msg("%s printed as %s, want %s", expr, got, want);
	free(got);
}

static struct ts_def *method(struct ts_class *c, const char *name)
{
	for (int i = 0; i < c->nmethods; i++)
		if (strcmp(c->methods[i].name, name) == 0)
			return &c->methods[i];
	fail_msg("no method %s", name);
	return NULL;
}

static int is_name(const struct ts_expr *e, const char *name)
{
	return e && e->kind == TE_NAME && strcmp(e->u.name, name) == 0;
}

/* e is a call to the dotted name `want` (like "torch.add") with nargs args. */
static void check_call(const struct ts_expr *e, const char *want, int nargs)
{
	assert_int_equal(e->kind, TE_CALL);
	char *buf = print_expr(e->u.call.fn);
	assert_string_equal(buf, want);
	free(buf);
	assert_int_equal(e->u.call.nargs, nargs);
}

/* ---- lexer ---- */

static void test_lex_indent(void **state)
{
	struct kiln_ctx *ctx = new_ctx();
	char *k = lex_kinds(ctx, "def f(a,\n      b):\n  if a:\n\n    # c\n    x\n  y\n"
				 "z = [1,\n2]\n");
	assert_string_equal(k, "def f ( a , b ) : NL IN if a : NL IN x NL DE y NL DE "
			       "z = [ integer , integer ] NL EOF");
	free(k);
	/* dedent of several levels at once, and at end of input without a newline */
	k = lex_kinds(ctx, "a:\n b:\n  c:\n   d\ne\n f\n  g");
	assert_string_equal(k, "a : NL IN b : NL IN c : NL IN d NL DE DE DE e NL IN f NL IN g NL "
			       "DE DE EOF");
	free(k);
	/* explicit joining, CRLF, tabs as indentation, trailing comment lines */
	k = lex_kinds(ctx, "a = 1 + \\\n  2\r\nif a:\r\n\tb\r\n\t# x\n");
	assert_string_equal(k, "a = integer + integer NL if a : NL IN b NL DE EOF");
	free(k);
	k = lex_kinds(ctx, "");
	assert_string_equal(k, "EOF");
	free(k);
	k = lex_kinds(ctx, "\n  # only a comment\n\n");
	assert_string_equal(k, "EOF");
	free(k);
	free_ctx(ctx);
}

static void test_lex_tokens(void **state)
{
	struct kiln_ctx *ctx = new_ctx();
	char *k = lex_kinds(ctx, "a->b ** c //= d ... e != f <<= g >> h @ i ~j not in is");
	assert_string_equal(k, "a -> b ** c //= d ... e != f <<= g >> h @ i ~ j not in is NL EOF");
	free(k);
	k = lex_kinds(ctx, "torch ops CONSTANTS __torch__ inf nan None True False");
	assert_string_equal(k, "torch ops CONSTANTS __torch__ inf nan None True False NL EOF");
	free(k);
	free_ctx(ctx);
}

static void test_lex_numbers(void **state)
{
	struct kiln_ctx *ctx = new_ctx();
	const char *src = "9223372036854775807 0 2. 0.10000000000000001 1.0000000000000001e-05 "
			  ".5 1e3 7E+2 9223372036854775808";
	struct job j = { "t.py", src, strlen(src), NULL, NULL, 0 };
	assert_int_equal(kiln_protect(ctx, run_lex, &j), 0);
	assert_int_equal(j.ntok, 11); /* 9 numbers, NEWLINE, EOF */
	assert_int_equal(j.toks[0].kind, TK_INT);
	assert_true(j.toks[0].v.i == INT64_MAX);
	assert_true(j.toks[1].kind == TK_INT && j.toks[1].v.i == 0);
	assert_true(j.toks[2].kind == TK_FLOAT && j.toks[2].v.f == 2.0);
	assert_true(j.toks[3].kind == TK_FLOAT && j.toks[3].v.f == 0.1);
	assert_true(j.toks[4].kind == TK_FLOAT && j.toks[4].v.f == 1e-05);
	assert_true(j.toks[5].kind == TK_FLOAT && j.toks[5].v.f == 0.5);
	assert_true(j.toks[6].kind == TK_FLOAT && j.toks[6].v.f == 1000.0);
	assert_true(j.toks[7].kind == TK_FLOAT && j.toks[7].v.f == 700.0);
	assert_true(j.toks[8].kind == TK_INT && j.toks[8].v.i == (uint64_t)1 << 63);
	assert_int_equal(j.toks[3].loc.line, 1);
	assert_int_equal(j.toks[3].loc.col, 26);
	free_ctx(ctx);
}

static void test_lex_strings(void **state)
{
	struct kiln_ctx *ctx = new_ctx();
	const char *src = "\"a\\\"b\\\\c\\n\\t\\'\" 'x\"y' \"\\x41\\x00z\" \"\\101\\7\" \"\"";
	struct job j = { "t.py", src, strlen(src), NULL, NULL, 0 };
	assert_int_equal(kiln_protect(ctx, run_lex, &j), 0);
	assert_int_equal(j.ntok, 7);
	assert_int_equal(j.toks[0].v.str.len, 8);
	assert_memory_equal(j.toks[0].v.str.s, "a\"b\\c\n\t'", 8);
	assert_string_equal(j.toks[1].v.str.s, "x\"y");
	assert_int_equal(j.toks[2].v.str.len, 3);
	assert_memory_equal(j.toks[2].v.str.s, "A\0z", 3);
	assert_string_equal(j.toks[3].v.str.s, "A\a");
	assert_int_equal(j.toks[4].v.str.len, 0);
	assert_int_equal(j.toks[4].loc.col, (int)(strrchr(src, ' ') - src) + 2);
	free_ctx(ctx);
}

/* ---- parser on real printer output ---- */

static void test_parse_ctrl(void **state)
{
	struct kiln_ctx *ctx = new_ctx();
	size_t len;
	char *src = read_sample("ctrl.py", &len);
	struct job j = { "model.pt: code/__torch__.py", src, len, NULL, NULL, 0 };
	assert_int_equal(kiln_protect(ctx, run_parse, &j), 0);
	struct ts_file *f = j.f;
	assert_int_equal(f->nclasses, 3);
	assert_int_equal(f->nfuncs, 0);
	struct ts_class *c = &f->classes[0];
	assert_string_equal(c->name, "Ctrl");
	assert_string_equal(c->base, "Module");
	assert_true(c->params.present && c->params.n == 0);
	assert_true(c->buffers.present && c->buffers.n == 1);
	assert_string_equal(c->buffers.names[0], "buf");
	assert_false(c->fwd_hooks.present);
	assert_int_equal(c->nattrs, 6);
	assert_string_equal(c->attrs[5].name, "n");
	assert_true(c->attrs[5].is_final);
	assert_true(c->attrs[5].value->kind == TE_INT && c->attrs[5].value->u.i == 3);
	assert_true(is_name(c->attrs[2].type, "NoneType"));
	assert_int_equal(c->attrs[3].type->kind, TE_ATTR); /* __torch__....Linear */
	assert_string_equal(f->classes[1].base, "NamedTuple");
	assert_null(f->classes[2].base);
	assert_int_equal(f->classes[2].nmethods, 2);

	struct ts_def *fw = method(c, "forward");
	assert_int_equal(fw->nparams, 5);
	assert_string_equal(fw->params[0].name, "self");
	assert_string_equal(fw->params[3].name, "y");
	assert_int_equal(fw->params[3].deflt->kind, TE_NONE);
	assert_int_equal(fw->params[3].type->kind, TE_SUBSCRIPT);
	assert_int_equal(fw->ret_type->u.sub.index->kind, TE_TUPLE);
	assert_string_equal(fw->loc.file, "model.pt: code/__torch__.py");
	assert_int_equal(fw->loc.line, 10);
	assert_int_equal(fw->loc.col, 3);

	struct ts_stmt **b = fw->body.stmts;
	assert_int_equal(b[0]->kind, TS_IF);
	assert_true(is_name(b[0]->u.if_.cond, "flag"));
	/* x0 = (lin).forward(x, ) */
	struct ts_expr *call = b[0]->u.if_.then.stmts[1]->u.assign.value;
	check_call(call, "lin.forward", 1);
	/* for i in range(3): */
	assert_int_equal(b[2]->kind, TS_FOR);
	assert_true(is_name(b[2]->u.for_.target, "i"));
	check_call(b[2]->u.for_.iter, "range", 1);
	/* while _3: ... _3, x3, k = torch.lt(k0, 2), x4, k0 */
	assert_int_equal(b[6]->kind, TS_WHILE);
	struct ts_stmt *last = b[6]->u.while_.body.stmts[2];
	assert_int_equal(last->kind, TS_ASSIGN);
	assert_int_equal(last->u.assign.ntargets, 1);
	assert_int_equal(last->u.assign.targets[0]->kind, TE_TUPLE);
	assert_int_equal(last->u.assign.targets[0]->u.seq.n, 3);
	assert_int_equal(last->u.assign.value->kind, TE_TUPLE);
	check_call(last->u.assign.value->u.seq.items[0], "torch.lt", 2);
	/* y0 : Optional[Tensor] = torch.add(y1, torch.to(buf, 7)) */
	struct ts_stmt *ann = b[8]->u.if_.then.stmts[2];
	assert_int_equal(ann->kind, TS_ANNASSIGN);
	assert_true(is_name(ann->u.ann.target, "y0"));
	check_call(ann->u.ann.value, "torch.add", 2);
	/* cfg0 = unchecked_cast(Dict[str, int], cfg); torch._set_item(cfg0, "z", 2) */
	check_call(b[7]->u.if_.then.stmts[0]->u.assign.value, "unchecked_cast", 2);
	assert_int_equal(b[7]->u.if_.then.stmts[1]->kind, TS_EXPR);
	assert_int_equal(b[7]->u.if_.els.stmts[0]->kind, TS_PASS);
	/* l = annotate(List[Tensor], []) */
	check_call(b[11]->u.assign.value, "annotate", 2);
	assert_int_equal(b[11]->u.assign.value->u.call.args[1]->kind, TE_LIST);
	/* ops.prim.RaiseException("neg", "builtins.ValueError") */
	struct ts_stmt *raise = b[15]->u.if_.then.stmts[0];
	assert_int_equal(raise->kind, TS_EXPR);
	check_call(raise->u.expr, "ops.prim.RaiseException", 2);
	assert_string_equal(raise->u.expr->u.call.args[1]->u.str.s, "builtins.ValueError");
	/* _10 = torch.sub(torch.add(_9, 9223372036854775807), -9223372036854775807) */
	struct ts_expr *sub = b[20]->u.assign.value;
	assert_true(sub->u.call.args[1]->kind == TE_INT &&
		    sub->u.call.args[1]->u.i == -INT64_MAX);
	assert_true(sub->u.call.args[0]->u.call.args[1]->u.i == INT64_MAX);
	/* -inf stays a negated name */
	struct ts_expr *neg = b[21]->u.assign.value->u.seq.items[0]->u.call.args[1];
	assert_true(neg->kind == TE_UNARY && neg->u.un.op == TO_NEG && is_name(neg->u.un.a, "inf"));
	assert_int_equal(b[22]->kind, TS_RETURN);
	free(src);
	free_ctx(ctx);
}

static void test_parse_container(void **state)
{
	struct kiln_ctx *ctx = new_ctx();
	size_t len;
	char *src = read_sample("container.py", &len);
	struct ts_file *f = parse_ok(ctx, src);
	struct ts_class *c = &f->classes[0];
	assert_int_equal(c->nattrs, 4);
	assert_string_equal(c->attrs[2].name, "0");
	assert_string_equal(c->attrs[3].name, "1");
	char *t = print_expr(c->attrs[3].type);
	assert_string_equal(t, "__torch__.torch.nn.modules.linear.Linear");
	free(t);
	/* _0 = getattr(self, "0") */
	check_call(method(c, "forward")->body.stmts[0]->u.assign.value, "getattr", 2);
	assert_int_equal(method(c, "__len__")->body.stmts[0]->u.expr->u.i, 2);
	free(src);
	free_ctx(ctx);
}

static void test_parse_rnn(void **state)
{
	struct kiln_ctx *ctx = new_ctx();
	size_t len;
	char *src = read_sample("rnn.py", &len);
	struct ts_file *f = parse_ok(ctx, src);
	struct ts_class *c = &f->classes[0];
	assert_int_equal(c->params.n, 8);
	assert_string_equal(c->params.names[7], "bias_hh_l1");
	struct ts_stmt **b = method(c, "forward")->body.stmts;
	/* max_batch_size = ops.prim.NumToTensor(torch.size(x, 1)) */
	check_call(b[8]->u.assign.value, "ops.prim.NumToTensor", 1);
	check_call(b[8]->u.assign.value->u.call.args[0], "torch.size", 2);
	/* torch.zeros([2, int(max_batch_size), 16], dtype=6, layout=None,
	 *             device=torch.device("cpu"), pin_memory=False) */
	struct ts_expr *z = b[10]->u.assign.value;
	check_call(z, "torch.zeros", 1);
	assert_int_equal(z->u.call.nkw, 4);
	assert_string_equal(z->u.call.kwnames[0], "dtype");
	assert_int_equal(z->u.call.kwargs[0]->u.i, 6);
	assert_int_equal(z->u.call.kwargs[1]->kind, TE_NONE);
	check_call(z->u.call.kwargs[2], "torch.device", 1);
	assert_string_equal(z->u.call.kwargs[2]->u.call.args[0]->u.str.s, "cpu");
	assert_true(z->u.call.kwargs[3]->kind == TE_BOOL && z->u.call.kwargs[3]->u.b == 0);
	check_call(z->u.call.args[0]->u.seq.items[1], "int", 1);
	/* y, _3, _4 = torch.lstm(x, _1, _2, True, 2, 0., True, False, False) */
	struct ts_stmt *s = b[14];
	assert_int_equal(s->u.assign.targets[0]->u.seq.n, 3);
	assert_true(s->u.assign.value->u.call.args[5]->kind == TE_FLOAT);
	free(src);
	free_ctx(ctx);
}

static void test_parse_functional(void **state)
{
	struct kiln_ctx *ctx = new_ctx();
	size_t len;
	char *src = read_sample("functional.py", &len);
	struct ts_file *f = parse_ok(ctx, src);
	assert_int_equal(f->nclasses, 0);
	assert_int_equal(f->nfuncs, 5);
	struct ts_def *bn = &f->funcs[0];
	assert_string_equal(bn->name, "batch_norm");
	assert_int_equal(bn->nparams, 8);
	assert_true(bn->params[6].deflt->kind == TE_FLOAT && bn->params[6].deflt->u.f == 0.1);
	assert_true(bn->params[7].deflt->u.f == 1e-05);
	assert_null(bn->params[1].deflt);
	/* _1 = _0(torch.size(input), ) */
	check_call(bn->body.stmts[1]->u.if_.then.stmts[0]->u.assign.value, "_0", 1);
	/* padding: List[int]=[0, 0] */
	assert_int_equal(f->funcs[2].params[3].deflt->kind, TE_LIST);
	free(src);
	free_ctx(ctx);
}

static void test_parse_grammar(void **state)
{
	struct kiln_ctx *ctx = new_ctx();
	size_t len;
	char *src = read_sample("grammar.py", &len);
	struct ts_file *f = parse_ok(ctx, src);
	assert_int_equal(f->nclasses, 3);
	struct ts_class *e = &f->classes[0];
	assert_string_equal(e->base, "Enum");
	assert_null(e->attrs[0].type);
	assert_string_equal(e->attrs[1].value->u.str.s, "x\t\"q\"\\");
	assert_true(e->attrs[2].value->u.f == -0.5);
	assert_string_equal(f->classes[1].base, "Interface");
	struct ts_class *h = &f->classes[2];
	assert_true(h->fwd_pre_hooks.present && h->fwd_hooks.present);
	assert_string_equal(h->fwd_hooks.names[0], "post");
	assert_int_equal(h->attrs[3].type->u.sub.index->kind, TE_TUPLE);
	assert_int_equal(h->attrs[3].type->u.sub.index->u.seq.n, 0); /* Tuple[()] */
	struct ts_def *fw = method(h, "forward");
	assert_null(fw->params[0].type);
	struct ts_stmt **b = fw->body.stmts;
	assert_int_equal(b[0]->u.assign.targets[0]->u.seq.n, 1); /* a, = ... */
	assert_int_equal(b[2]->u.assign.ntargets, 2);              /* e = f = ... */
	assert_true(b[2]->u.assign.value->u.i == INT64_MIN);
	assert_int_equal(b[5]->u.assign.targets[0]->kind, TE_SUBSCRIPT);
	assert_int_equal(b[6]->u.assign.targets[0]->kind, TE_ATTR);
	assert_int_equal(b[9]->kind, TS_AUGASSIGN);
	assert_int_equal(b[10]->u.aug.op, TO_FLOORDIV);
	assert_string_equal(b[12]->u.assign.value->u.str.s, "abcdefAA\n");
	assert_int_equal(b[13]->u.assign.value->u.dict.n, 2);
	assert_int_equal(b[14]->u.assign.value->u.seq.n, 0);
	/* while ... if/elif/elif/else */
	struct ts_stmt *ifs = b[15]->u.while_.body.stmts[1];
	assert_int_equal(ifs->u.if_.then.stmts[0]->kind, TS_CONTINUE);
	struct ts_stmt *elif = ifs->u.if_.els.stmts[0];
	assert_int_equal(elif->kind, TS_IF);
	assert_int_equal(elif->u.if_.then.stmts[0]->kind, TS_BREAK);
	struct ts_stmt *els = elif->u.if_.els.stmts[0]->u.if_.els.stmts[0];
	assert_int_equal(els->kind, TS_RAISE);
	assert_int_equal(b[16]->kind, TS_WITH);
	assert_true(is_name(b[16]->u.with.target, "g"));
	assert_int_equal(b[16]->u.with.body.stmts[0]->u.del.n, 2);
	assert_true(b[17]->kind == TS_ASSERT && b[17]->u.assert_.msg);
	assert_null(b[18]->u.assert_.msg);
	assert_int_equal(b[19]->u.for_.target->kind, TE_TUPLE);
	struct ts_def *fr = &f->funcs[0];
	assert_int_equal(fr->body.stmts[0]->kind, TS_DEF);
	assert_null(fr->body.stmts[2]->u.expr);
	free(src);
	free_ctx(ctx);
}

/* Precedence, associativity and the special literals, checked through the tree. */
static void test_parse_exprs(void **state)
{
	struct kiln_ctx *ctx = new_ctx();
	struct ts_expr *e = first_value(ctx, "a + b * c ** -d ** e");
	assert_true(e->kind == TE_BINARY && e->u.bin.op == TO_ADD);
	e = e->u.bin.b;
	assert_true(e->kind == TE_BINARY && e->u.bin.op == TO_MUL);
	e = e->u.bin.b; /* c ** (-(d ** e)) */
	assert_true(e->u.bin.op == TO_POW && e->u.bin.b->kind == TE_UNARY);
	assert_int_equal(e->u.bin.b->u.un.a->u.bin.op, TO_POW);
	e = first_value(ctx, "a - b - c");
	assert_true(e->u.bin.op == TO_SUB && e->u.bin.a->kind == TE_BINARY);
	e = first_value(ctx, "a < b <= c is not d not in e");
	assert_int_equal(e->kind, TE_COMPARE);
	assert_int_equal(e->u.cmp.n, 4);
	assert_int_equal(e->u.cmp.ops[2], TO_ISNOT);
	assert_int_equal(e->u.cmp.ops[3], TO_NOTIN);
	e = first_value(ctx, "not a or b and c");
	assert_true(e->kind == TE_BOOLOP && e->u.bin.op == TO_OR);
	assert_true(e->u.bin.a->kind == TE_UNARY && e->u.bin.b->u.bin.op == TO_AND);
	e = first_value(ctx, "a if b else c if d else e");
	assert_true(e->kind == TE_IFEXP && e->u.ifexp.els->kind == TE_IFEXP);
	e = first_value(ctx, "(x)[0]");
	assert_true(e->kind == TE_SUBSCRIPT && is_name(e->u.sub.obj, "x"));
	e = first_value(ctx, "a[:, -1]");
	assert_int_equal(e->u.sub.index->kind, TE_TUPLE);
	struct ts_expr *sl = e->u.sub.index->u.seq.items[0];
	assert_true(sl->kind == TE_SLICE && !sl->u.slice.lo && !sl->u.slice.hi && !sl->u.slice.step);
	assert_int_equal(e->u.sub.index->u.seq.items[1]->u.i, -1);
	e = first_value(ctx, "a[..., ::2]");
	assert_int_equal(e->u.sub.index->u.seq.items[0]->kind, TE_ELLIPSIS);
	assert_int_equal(e->u.sub.index->u.seq.items[1]->u.slice.step->u.i, 2);
	e = first_value(ctx, "CONSTANTS.c0");
	assert_true(e->kind == TE_ATTR && is_name(e->u.attr.obj, "CONSTANTS"));
	e = first_value(ctx, "uninitialized(Tensor)");
	check_call(e, "uninitialized", 1);
	e = first_value(ctx, "-9223372036854775808");
	assert_true(e->kind == TE_INT && e->u.i == INT64_MIN);
	e = first_value(ctx, "-2 ** 2"); /* not folded: -(2 ** 2) */
	assert_int_equal(e->kind, TE_UNARY);
	e = first_value(ctx, "f(a, b, )");
	assert_int_equal(e->u.call.nargs, 2);
	e = first_value(ctx, "(a,)");
	assert_true(e->kind == TE_TUPLE && e->u.seq.n == 1);
	e = first_value(ctx, "{}");
	assert_true(e->kind == TE_DICT && e->u.dict.n == 0);
	e = first_value(ctx, "(a +\n      b)"); /* locations: binary at the operator */
	assert_int_equal(e->loc.line, 2);
	assert_int_equal(e->loc.col, 10);
	assert_int_equal(e->u.bin.b->loc.line, 3);
	assert_int_equal(e->u.bin.b->loc.col, 7);
	free_ctx(ctx);
}

/* ---- printer ---- */

static void test_print_exprs(void **state)
{
	struct kiln_ctx *ctx = new_ctx();
	check_print(ctx, "(a + b) * c", "(a + b) * c");
	check_print(ctx, "a + (b * c)", "a + b * c");
	check_print(ctx, "a - (b - c)", "a - (b - c)");
	check_print(ctx, "(a ** b) ** c", "(a ** b) ** c");
	check_print(ctx, "(-1) ** 2", "(-1) ** 2");
	check_print(ctx, "- -1", "- -1");
	check_print(ctx, "(1).real", "(1).real");
	check_print(ctx, "(a, )", "(a,)");
	check_print(ctx, "not (a == b)", "not a == b");
	check_print(ctx, "(a < b) < c", "(a < b) < c");
	check_print(ctx, "(a if b else c) if d else e", "(a if b else c) if d else e");
	check_print(ctx, "x[1:2, ::3, :]", "x[1:2, ::3, :]");
	check_print(ctx, "x[(1,)]", "x[1,]");
	check_print(ctx, "Tuple[()]", "Tuple[()]");
	check_print(ctx, "f(a, k=1, )", "f(a, k=1)");
	check_print(ctx, "2.", "2.");
	check_print(ctx, "0.10000000000000001", "0.10000000000000001");
	check_print(ctx, "1.0000000000000001e-05", "1.0000000000000001e-05");
	check_print(ctx, "-0.", "-0.");
	check_print(ctx, "\"a\\x01\\\"\\n\" 'b'", "\"a\\001\\\"\\nb\"");
	check_print(ctx, "-9223372036854775808", "-9223372036854775808");
	free_ctx(ctx);
}

/* parse -> print -> parse -> print is a fixed point on every sample. */
static void test_roundtrip(void **state)
{
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		struct kiln_ctx *ctx = new_ctx();
		size_t len;
		char *src = read_sample(samples[i], &len);
		char *p1 = print_file(parse_ok(ctx, src));
		char *p2 = print_file(parse_ok(ctx, p1));
		if (strcmp(p1, p2) != 0)
			fail_msg("%s: print is not a fixed point:\n%s\n----\n%s", samples[i], p1, p2);
		free(p1);
		free(p2);
		free(src);
		free_ctx(ctx);
	}
}

/* ---- errors ---- */

static const struct {
	const char *src;  /* input */
	const char *want; /* exact diagnostic */
} bad_inputs[] = {
	{ "def f(x):\n  return g(x y)\n", "t.py:2:14: error: expected ')' after arguments, found 'y'" },
	{ "def f(x):\n  return g(x, 1\n", "t.py:2:11: error: '(' was never closed" },
	{ "def f(x):\n    a = 1\n  b = 2\n",
	  "t.py:3:3: error: unindent does not match any outer indentation level" },
	{ "def f(x):\n  s = \"abc\n", "t.py:2:7: error: unterminated string literal" },
	{ "def f(x):\n\ta = 1\n        b = 2\n",
	  "t.py:3:1: error: inconsistent use of tabs and spaces in indentation" },
	{ "def f(x):\n  a = 1 $ 2\n", "t.py:2:9: error: unexpected character '$'" },
	{ "def f(x):\n  a = 1 \x01\n", "t.py:2:9: error: unexpected character '\\x01'" },
	{ "def f(x):\nreturn x\n", "t.py:2:1: error: expected an indented block, found 'return'" },
	{ "  def f(x):\n", "t.py:1:3: error: unexpected indent" },
	{ "def f(x):\n  a = 1\n    b = 2\n", "t.py:3:5: error: unexpected indent" },
	{ "x = 1\n", "t.py:1:1: error: expected 'class' or 'def' at top level, found 'x'" },
	{ "def f(x):\n  return 9223372036854775808\n",
	  "t.py:2:10: error: integer literal 9223372036854775808 is too large" },
	{ "def f(x):\n  return 99999999999999999999\n",
	  "t.py:2:10: error: integer literal 99999999999999999999 is too large" },
	{ "def f(x):\n  1 = x\n", "t.py:2:3: error: cannot assign to this expression" },
	{ "def f(x):\n  a, f(x) = x\n", "t.py:2:6: error: cannot assign to this expression" },
	{ "def f(x):\n  f(a=1, 2)\n", "t.py:2:10: error: positional argument follows keyword argument" },
	{ "class A(Module):\n  x = \n", "t.py:2:7: error: expected expression, found newline" },
	{ "class A(Module):\n  x y\n",
	  "t.py:2:5: error: expected '=' or ':' after attribute name, found 'y'" },
	{ "class A(Module):\n  1\n",
	  "t.py:2:3: error: expected name (an attribute or 'def' in class body), found '1'" },
	{ "class A(Module):\n  __parameters__ = [\"a\", 1]\n",
	  "t.py:2:26: error: expected string in name list, found '1'" },
	{ "class A(Module):\n", "t.py:2:1: error: expected an indented class body, found end of file" },
	{ "def f(x):\n  return x if x\n",
	  "t.py:2:16: error: expected 'else' in conditional expression, found newline" },
	{ "def f(x):\n  s = \"\\q\"\n", "t.py:2:8: error: unknown escape sequence '\\q'" },
	{ "def f(x):\n  s = \"\\x4\"\n", "t.py:2:8: error: \\x escape needs two hex digits" },
	{ "def f(x):\n  return 1.5e\n", "t.py:2:10: error: malformed exponent in number" },
	{ "def f(x):\n  return 2.j\n", "t.py:2:10: error: invalid character 'j' in number" },
	{ "def f(x):\n  return lambda: 1\n", "t.py:2:10: error: expected expression, found 'lambda'" },
	{ "def f(x):\n  return [a for a in x]\n",
	  "t.py:2:13: error: expected ']' to close list, found 'for'" },
	{ "def f(x):\n  x = 1; y = 2\n",
	  "t.py:2:8: error: expected newline at end of statement, found ';'" },
	{ "def f(x) -> :\n  pass\n", "t.py:1:13: error: expected expression, found ':'" },
	{ "def f(x):\n  a.1\n", "t.py:2:4: error: expected newline at end of statement, found '.1'" },
	{ "def f(x):\n  return )\n", "t.py:2:10: error: expected expression, found ')'" },
	{ "class A(Module):\n  __buffers__ = []\n  __buffers__ = []\n",
	  "t.py:3:3: error: __buffers__ given twice" },
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof bad_inputs / sizeof bad_inputs[0]; i++) {
		struct kiln_ctx *ctx = new_ctx();
		const char *got = parse_err(ctx, bad_inputs[i].src, strlen(bad_inputs[i].src));
		if (!got || strcmp(got, bad_inputs[i].want) != 0)
			fail_msg("input %zu:\n%s\ngot:  %s\nwant: %s", i, bad_inputs[i].src,
				 got ? got : "(no error)", bad_inputs[i].want);
		free_ctx(ctx);
	}
	/* a NUL byte (the length is explicit) */
	struct kiln_ctx *ctx = new_ctx();
	const char nul[] = "def f(x):\n  a = 1\0\n";
	assert_string_equal(parse_err(ctx, nul, sizeof nul - 1), "t.py:2:8: error: NUL byte in source");
	free_ctx(ctx);
	ctx = new_ctx();
	const char nul2[] = "def f(x):\n  a = \"1\0\"\n";
	assert_string_equal(parse_err(ctx, nul2, sizeof nul2 - 1),
			    "t.py:2:9: error: NUL byte in source");
	free_ctx(ctx);
}

/* Hostile nesting gets a diagnostic instead of a stack overflow. */
static void test_depth(void **state)
{
	enum { N = 5000 };
	char *src = malloc(N * 4 + 64);
	const char *prefixes[] = { "(", "-", "not ", "[" };
	for (size_t k = 0; k < 4; k++) {
		struct kiln_ctx *ctx = new_ctx();
		size_t plen = strlen(prefixes[k]);
		size_t n = (size_t)sprintf(src, "def f():\n  return ");
		for (int i = 0; i < N; i++, n += plen)
			memcpy(src + n, prefixes[k], plen);
		strcpy(src + n, "x\n");
		const char *err = parse_err(ctx, src, strlen(src));
		assert_non_null(err);
		assert_non_null(strstr(err, "too deep"));
		free_ctx(ctx);
	}
	/* long left-leaning chains make tall trees too */
	const char *chains[] = { ".a", "(a)", "[0]", " + a", " and a", " or a" };
	for (size_t k = 0; k < 6; k++) {
		struct kiln_ctx *ctx = new_ctx();
		size_t plen = strlen(chains[k]);
		size_t n = (size_t)sprintf(src, "def f():\n  return x");
		for (int i = 0; i < N / 2; i++, n += plen)
			memcpy(src + n, chains[k], plen);
		strcpy(src + n, "\n");
		const char *err = parse_err(ctx, src, strlen(src));
		assert_non_null(err);
		assert_non_null(strstr(err, "too deep"));
		free_ctx(ctx);
	}
	/* blocks nested deeper than the bound */
	struct kiln_ctx *ctx = new_ctx();
	free(src);
	src = malloc(300 * 320);
	size_t n = (size_t)sprintf(src, "def f():\n");
	for (int i = 1; i < 300; i++)
		n += (size_t)sprintf(src + n, "%*sif x:\n", i, "");
	sprintf(src + n, "%*spass\n", 300, "");
	const char *err = parse_err(ctx, src, strlen(src));
	assert_non_null(err);
	assert_non_null(strstr(err, "too deep"));
	free_ctx(ctx);
	/* and a long elif chain is fine below the bound, refused above it */
	ctx = new_ctx();
	n = (size_t)sprintf(src, "def f():\n  if x:\n    pass\n");
	for (int i = 0; i < 150; i++)
		n += (size_t)sprintf(src + n, "  elif x:\n    pass\n");
	assert_null(parse_err(ctx, src, strlen(src)));
	free_ctx(ctx);
	free(src);
}

/* Every prefix of every sample, and garbled copies, either parse or give a
 * diagnostic; nothing crashes (run under valgrind/ASan to see more). */
static void test_prefixes_and_garbage(void **state)
{
	uint32_t seed = 12345;
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		size_t len;
		char *src = read_sample(samples[i], &len);
		for (size_t n = 0; n <= len; n++) {
			struct kiln_ctx *ctx = new_ctx();
			parse_err(ctx, src, n);
			free_ctx(ctx);
		}
		char *g = malloc(len);
		for (int round = 0; round < 200; round++) {
			memcpy(g, src, len);
			for (int k = 0; k < 4; k++) {
				seed = seed * 1103515245u + 12345u;
				size_t at = (seed >> 8) % len;
				seed = seed * 1103515245u + 12345u;
				g[at] = "()[]{}:,.=\n  \t\"'\\#x1-\0"[(seed >> 8) % 23];
			}
			struct kiln_ctx *ctx = new_ctx();
			parse_err(ctx, g, len);
			free_ctx(ctx);
		}
		free(g);
		free(src);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lex_indent),
		cmocka_unit_test(test_lex_tokens),
		cmocka_unit_test(test_lex_numbers),
		cmocka_unit_test(test_lex_strings),
		cmocka_unit_test(test_parse_ctrl),
		cmocka_unit_test(test_parse_container),
		cmocka_unit_test(test_parse_rnn),
		cmocka_unit_test(test_parse_functional),
		cmocka_unit_test(test_parse_grammar),
		cmocka_unit_test(test_parse_exprs),
		cmocka_unit_test(test_print_exprs),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_prefixes_and_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
