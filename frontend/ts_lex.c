/* ts_lex.c: the TorchScript source lexer (Python's rules, reduced to what
 * torch's python_print writes).
 *
 * Logical lines end in TK_NEWLINE; a line indented deeper than the enclosing
 * block opens one TK_INDENT, a shallower one closes blocks with one TK_DEDENT
 * each and must land on an enclosing level. Inside (), [] and {} newlines and
 * indentation are ignored (implicit joining), as after a `\` line end. Blank
 * lines and `#` comments produce nothing. At end of input a last TK_NEWLINE,
 * the pending TK_DEDENTs and TK_EOF are emitted, so the parser never sees a
 * half-closed block.
 *
 * Literals are decoded here: ints (up to 2^63, which is only valid after a
 * unary minus and is checked by the parser), floats via strtod, strings with
 * C escapes. `inf` and `nan` are plain names. Indentation may use spaces or
 * tabs but not both in one file. The whole input is tokenized at once into an
 * arena array: O(n) time and memory.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/ts_ast.h"

/* The lexer's state; lives on the stack of ts_lex. */
struct lexer {
	struct kiln_ctx *ctx; /* arena and diagnostics */
	const char *path;     /* record name for locations */
	const char *src;      /* input */
	size_t len;           /* its length */
	size_t pos;           /* next byte */
	int line;             /* 1-based line of src[pos] */
	size_t line_start;    /* offset of the first byte of the line */
	int depth;            /* open brackets */
	struct loc open[TS_MAX_DEPTH]; /* where each open bracket is */
	char open_ch[TS_MAX_DEPTH];    /* and which it is */
	int indents[TS_MAX_DEPTH + 1]; /* indentation stack; indents[0] == 0 */
	int nindent;          /* entries in use (>= 1) */
	int indent_char;      /* ' ' or '\t' once the file has indented, else 0 */
	int line_has_tokens;  /* the current logical line produced a token */
	struct vec toks;      /* struct ts_token */
};

static const char *const tok_strs[TK_COUNT] = {
	[TK_EOF] = "end of file", [TK_NEWLINE] = "newline", [TK_INDENT] = "indent",
	[TK_DEDENT] = "dedent", [TK_NAME] = "name", [TK_INT] = "integer",
	[TK_FLOAT] = "float", [TK_STR] = "string",
#define X(n, s) [TK_##n] = s,
	TS_PUNCTS(X)
#undef X
#define X(n, s) [TK_KW_##n] = s,
	TS_KEYWORDS(X)
#undef X
};

const char *ts_tok_str(enum ts_tok kind)
{
	return kind < TK_COUNT ? tok_strs[kind] : "?";
}

/* The location of byte offset off on the current line. */
static struct loc loc_at(struct lexer *lx, size_t off)
{
	return (struct loc){ lx->path, lx->line, (int)(off - lx->line_start) + 1, NULL };
}

/* Append a token of kind at [start, lx->pos). */
static struct ts_token *push(struct lexer *lx, enum ts_tok kind, size_t start)
{
	struct ts_token t = { kind, loc_at(lx, start), lx->src + start, lx->pos - start, { 0 } };
	VEC_PUSH(&lx->ctx->arena, &lx->toks, struct ts_token, t);
	if (kind != TK_NEWLINE && kind != TK_INDENT && kind != TK_DEDENT)
		lx->line_has_tokens = 1;
	return &VEC_AT(&lx->toks, struct ts_token, lx->toks.len - 1);
}

/* Move past a newline at pos (which the caller has checked). */
static void next_line(struct lexer *lx)
{
	lx->pos++;
	lx->line++;
	lx->line_start = lx->pos;
}

/* A printable spelling of byte c for messages. */
static const char *char_desc(struct lexer *lx, unsigned char c)
{
	if (isprint(c))
		return arena_printf(&lx->ctx->arena, "'%c'", c);
	return arena_printf(&lx->ctx->arena, "'\\x%02x'", c);
}

/* Measure the indentation at the start of a line; pos moves past it. */
static int measure_indent(struct lexer *lx)
{
	int width = 0;
	while (lx->pos < lx->len && (lx->src[lx->pos] == ' ' || lx->src[lx->pos] == '\t')) {
		char c = lx->src[lx->pos];
		if (lx->indent_char && c != lx->indent_char)
			diag_error(lx->ctx, loc_at(lx, lx->pos),
				   "inconsistent use of tabs and spaces in indentation");
		lx->indent_char = c;
		width++;
		lx->pos++;
	}
	return width;
}

/* Emit INDENT/DEDENT for a line of the given width whose first token is at pos. */
static void emit_indentation(struct lexer *lx, int width)
{
	if (width > lx->indents[lx->nindent - 1]) {
		if (lx->nindent > TS_MAX_DEPTH)
			diag_error(lx->ctx, loc_at(lx, lx->pos), "blocks nested too deeply (over %d)",
				   TS_MAX_DEPTH);
		lx->indents[lx->nindent++] = width;
		push(lx, TK_INDENT, lx->pos);
		return;
	}
	while (width < lx->indents[lx->nindent - 1]) {
		lx->nindent--;
		push(lx, TK_DEDENT, lx->pos);
	}
	if (width != lx->indents[lx->nindent - 1])
		diag_error(lx->ctx, loc_at(lx, lx->pos),
			   "unindent does not match any outer indentation level");
}

/* At the start of a physical line outside brackets: skip blank and comment
 * lines, then handle the indentation of the first real one. */
static void start_line(struct lexer *lx)
{
	for (;;) {
		int width = measure_indent(lx);
		if (lx->pos < lx->len && lx->src[lx->pos] == '#')
			while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
				lx->pos++;
		if (lx->pos < lx->len && lx->src[lx->pos] == '\r')
			lx->pos++;
		if (lx->pos >= lx->len)
			return;
		if (lx->src[lx->pos] == '\n') {
			next_line(lx);
			continue;
		}
		emit_indentation(lx, width);
		return;
	}
}

/* Value of hex digit c, or -1. */
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

/* Decode one escape sequence after the backslash at pos-1; returns the byte. */
static int lex_escape(struct lexer *lx)
{
	size_t at = lx->pos - 1;
	char c = lx->src[lx->pos++];
	switch (c) {
	case 'n': return '\n';
	case 't': return '\t';
	case 'r': return '\r';
	case 'a': return '\a';
	case 'b': return '\b';
	case 'f': return '\f';
	case 'v': return '\v';
	case '\\': case '\'': case '"': return c;
	case 'x': {
		int h = lx->pos + 1 < lx->len ? hexval(lx->src[lx->pos]) : -1;
		int l = h >= 0 ? hexval(lx->src[lx->pos + 1]) : -1;
		if (l < 0)
			diag_error(lx->ctx, loc_at(lx, at), "\\x escape needs two hex digits");
		lx->pos += 2;
		return h * 16 + l;
	}
	default:
		break;
	}
	if (c >= '0' && c <= '7') { /* octal, up to 3 digits: torch prints \ooo */
		int v = c - '0';
		for (int k = 0; k < 2 && lx->pos < lx->len && lx->src[lx->pos] >= '0' &&
				lx->src[lx->pos] <= '7'; k++)
			v = v * 8 + (lx->src[lx->pos++] - '0');
		if (v > 255)
			diag_error(lx->ctx, loc_at(lx, at), "octal escape out of range");
		return v;
	}
	diag_error(lx->ctx, loc_at(lx, at), "unknown escape sequence '\\%c'",
		   isprint((unsigned char)c) ? c : '?');
}

/* string: '"' chars '"' | "'" chars "'"  (one line; \<newline> continues it) */
static void lex_string(struct lexer *lx)
{
	size_t start = lx->pos;
	char q = lx->src[lx->pos++];
	struct vec buf = { 0 };
	for (;;) {
		if (lx->pos >= lx->len || lx->src[lx->pos] == '\n')
			diag_error(lx->ctx, loc_at(lx, start), "unterminated string literal");
		char c = lx->src[lx->pos++];
		if (c == q)
			break;
		if (c == 0)
			diag_error(lx->ctx, loc_at(lx, lx->pos - 1), "NUL byte in source");
		if (c == '\\' && lx->pos < lx->len && lx->src[lx->pos] == '\n') {
			diag_error(lx->ctx, loc_at(lx, start),
				   "string continued over a line end is not supported");
		}
		if (c == '\\' && lx->pos >= lx->len)
			diag_error(lx->ctx, loc_at(lx, start), "unterminated string literal");
		if (c == '\\')
			c = (char)lex_escape(lx);
		VEC_PUSH(&lx->ctx->arena, &buf, char, c);
	}
	struct ts_token *t = push(lx, TK_STR, start);
	t->v.str.len = buf.len;
	t->v.str.s = arena_strndup(&lx->ctx->arena, buf.data ? buf.data : "", buf.len);
}

/* number: digits ['.' digits*] [exp] | '.' digits [exp];  exp: ('e'|'E') ['+'|'-'] digits */
static void lex_number(struct lexer *lx)
{
	const char *s = lx->src;
	size_t start = lx->pos, p = start;
	int is_float = 0;
	while (p < lx->len && isdigit((unsigned char)s[p]))
		p++;
	if (p < lx->len && s[p] == '.') {
		is_float = 1;
		for (p++; p < lx->len && isdigit((unsigned char)s[p]);)
			p++;
	}
	if (p < lx->len && (s[p] == 'e' || s[p] == 'E')) {
		size_t q = p + 1;
		if (q < lx->len && (s[q] == '+' || s[q] == '-'))
			q++;
		if (q >= lx->len || !isdigit((unsigned char)s[q]))
			diag_error(lx->ctx, loc_at(lx, start), "malformed exponent in number");
		for (p = q; p < lx->len && isdigit((unsigned char)s[p]);)
			p++;
		is_float = 1;
	}
	if (p < lx->len && (isalnum((unsigned char)s[p]) || s[p] == '_'))
		diag_error(lx->ctx, loc_at(lx, start), "invalid character %s in number",
			   char_desc(lx, (unsigned char)s[p]));
	lx->pos = p;
	struct ts_token *t = push(lx, is_float ? TK_FLOAT : TK_INT, start);
	char *text = arena_strndup(&lx->ctx->arena, s + start, p - start);
	if (is_float) {
		t->v.f = strtod(text, NULL);
		return;
	}
	uint64_t v = 0;
	for (const char *c = text; *c; c++) {
		if (v > ((uint64_t)1 << 63) / 10 || v * 10 + (uint64_t)(*c - '0') > (uint64_t)1 << 63)
			diag_error(lx->ctx, loc_at(lx, start), "integer literal %s is too large", text);
		v = v * 10 + (uint64_t)(*c - '0');
	}
	t->v.i = v;
}

/* Look the identifier [start, pos) up among the keywords. */
static enum ts_tok keyword(const char *s, size_t n)
{
#define X(k, str) if (n == sizeof str - 1 && memcmp(s, str, n) == 0) return TK_KW_##k;
	TS_KEYWORDS(X)
#undef X
	return TK_NAME;
}

/* name: (letter | '_') (letter | digit | '_')* */
static void lex_name(struct lexer *lx)
{
	size_t start = lx->pos;
	while (lx->pos < lx->len &&
	       (isalnum((unsigned char)lx->src[lx->pos]) || lx->src[lx->pos] == '_'))
		lx->pos++;
	enum ts_tok k = keyword(lx->src + start, lx->pos - start);
	struct ts_token *t = push(lx, k, start);
	if (k == TK_NAME)
		t->v.name = arena_strndup(&lx->ctx->arena, lx->src + start, lx->pos - start);
}

/* Punctuation: the longest spelling in TS_PUNCTS that matches at pos. */
static void lex_punct(struct lexer *lx)
{
	static const struct { enum ts_tok k; const char *s; } puncts[] = {
#define X(n, s) { TK_##n, s },
		TS_PUNCTS(X)
#undef X
	};
	size_t best = 0, blen = 0, rest = lx->len - lx->pos;
	for (size_t i = 0; i < sizeof puncts / sizeof puncts[0]; i++) {
		size_t n = strlen(puncts[i].s);
		if (n > blen && n <= rest && memcmp(lx->src + lx->pos, puncts[i].s, n) == 0)
			best = i, blen = n;
	}
	unsigned char c = (unsigned char)lx->src[lx->pos];
	if (blen == 0 && c == 0)
		diag_error(lx->ctx, loc_at(lx, lx->pos), "NUL byte in source");
	if (blen == 0)
		diag_error(lx->ctx, loc_at(lx, lx->pos), "unexpected character %s",
			   char_desc(lx, c));
	size_t start = lx->pos;
	lx->pos += blen;
	push(lx, puncts[best].k, start);
}

/* Track bracket depth for implicit line joining. */
static void track_brackets(struct lexer *lx, enum ts_tok k)
{
	if (k == TK_LPAREN || k == TK_LBRACK || k == TK_LBRACE) {
		if (lx->depth >= TS_MAX_DEPTH)
			diag_error(lx->ctx, loc_at(lx, lx->pos - 1),
				   "brackets nested too deeply (over %d)", TS_MAX_DEPTH);
		lx->open_ch[lx->depth] = lx->src[lx->pos - 1];
		lx->open[lx->depth++] = loc_at(lx, lx->pos - 1);
	} else if ((k == TK_RPAREN || k == TK_RBRACK || k == TK_RBRACE) && lx->depth > 0) {
		lx->depth--;
	}
}

/* End of a physical line at pos: a NEWLINE token if a logical line ends here. */
static void lex_line_end(struct lexer *lx)
{
	if (lx->depth == 0 && lx->line_has_tokens) {
		push(lx, TK_NEWLINE, lx->pos);
		lx->line_has_tokens = 0;
	}
	next_line(lx);
	if (lx->depth == 0)
		start_line(lx);
}

/* One token, or whitespace/comment/line end, at pos. */
static void lex_one(struct lexer *lx)
{
	const char *s = lx->src;
	char c = s[lx->pos];
	if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
		lx->pos++;
	} else if (c == '#') {
		while (lx->pos < lx->len && s[lx->pos] != '\n')
			lx->pos++;
	} else if (c == '\n') {
		lex_line_end(lx);
	} else if (c == '\\' && lx->pos + 1 < lx->len && s[lx->pos + 1] == '\n') {
		lx->pos++;
		next_line(lx); /* explicit line joining */
	} else if (c == '"' || c == '\'') {
		lex_string(lx);
	} else if (isdigit((unsigned char)c) ||
		   (c == '.' && lx->pos + 1 < lx->len && isdigit((unsigned char)s[lx->pos + 1]))) {
		lex_number(lx);
	} else if (isalpha((unsigned char)c) || c == '_') {
		lex_name(lx);
	} else {
		lex_punct(lx);
		track_brackets(lx, VEC_AT(&lx->toks, struct ts_token, lx->toks.len - 1).kind);
	}
}

/* Close the input: a last NEWLINE, DEDENTs down to level 0, EOF. */
static void lex_finish(struct lexer *lx)
{
	if (lx->depth > 0)
		diag_error(lx->ctx, lx->open[lx->depth - 1], "'%c' was never closed",
			   lx->open_ch[lx->depth - 1]);
	if (lx->line_has_tokens)
		push(lx, TK_NEWLINE, lx->pos);
	while (lx->nindent > 1) {
		lx->nindent--;
		push(lx, TK_DEDENT, lx->pos);
	}
	push(lx, TK_EOF, lx->pos);
}

struct ts_token *ts_lex(struct kiln_ctx *ctx, const char *path, const char *src, size_t len,
			size_t *ntok)
{
	struct lexer lx = { .ctx = ctx, .path = path, .src = src, .len = len, .line = 1 };
	lx.nindent = 1;
	start_line(&lx);
	if (lx.nindent > 1 || lx.toks.len > 0)
		diag_error(ctx, loc_at(&lx, lx.pos), "unexpected indent");
	while (lx.pos < lx.len)
		lex_one(&lx);
	lex_finish(&lx);
	*ntok = lx.toks.len;
	return lx.toks.data;
}
