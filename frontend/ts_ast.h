/* ts_ast.h: the TorchScript source front end: tokens, the syntax tree of one
 * code/ record (a .py file), and the three entry points that make and show it.
 *
 * The language is the Python subset torch's python_print writes (reference
 * torchscript-format.md §3): classes with attribute annotations, typed defs,
 * simple statements and if/for/while/with blocks, and Python expressions
 * without lambdas or comprehensions. Types are ordinary expressions
 * (`List[int]` is a TE_SUBSCRIPT of TE_NAME "List"); the lowering gives names
 * like `torch`, `ops`, `CONSTANTS`, `inf` their meaning, the parser does not.
 *
 * Lifetimes: every token and node lives in ctx->arena. Bad input is reported by
 * diag_error as "path:line:col: error: msg" (1-based, columns in bytes).
 */
#ifndef KILN_TS_AST_H
#define KILN_TS_AST_H

#include <stdint.h>
#include <stdio.h>

#include "ir/base.h"

/* Punctuation tokens, longest spelling first where one is a prefix of another
 * is not required: the lexer takes the longest match. */
#define TS_PUNCTS(X)                                                          \
	X(LPAREN, "(") X(RPAREN, ")") X(LBRACK, "[") X(RBRACK, "]")           \
	X(LBRACE, "{") X(RBRACE, "}") X(COMMA, ",") X(COLON, ":")             \
	X(DOT, ".") X(ELLIPSIS, "...") X(ARROW, "->") X(SEMI, ";")            \
	X(ASSIGN, "=") X(PLUS, "+") X(MINUS, "-") X(STAR, "*")                \
	X(SLASH, "/") X(DSLASH, "//") X(PERCENT, "%") X(AT, "@")              \
	X(POW, "**") X(LSHIFT, "<<") X(RSHIFT, ">>") X(PIPE, "|")             \
	X(CARET, "^") X(AMP, "&") X(TILDE, "~")                               \
	X(EQ, "==") X(NE, "!=") X(LT, "<") X(LE, "<=") X(GT, ">") X(GE, ">=") \
	X(PLUSEQ, "+=") X(MINUSEQ, "-=") X(STAREQ, "*=") X(SLASHEQ, "/=")     \
	X(DSLASHEQ, "//=") X(PERCENTEQ, "%=") X(ATEQ, "@=") X(POWEQ, "**=")   \
	X(LSHIFTEQ, "<<=") X(RSHIFTEQ, ">>=") X(PIPEEQ, "|=")                 \
	X(CARETEQ, "^=") X(AMPEQ, "&=")

/* Python keywords: all are reserved, so `lambda` is a clear error, not a name. */
#define TS_KEYWORDS(X)                                                         \
	X(AND, "and") X(AS, "as") X(ASSERT, "assert") X(ASYNC, "async")        \
	X(AWAIT, "await") X(BREAK, "break") X(CLASS, "class")                  \
	X(CONTINUE, "continue") X(DEF, "def") X(DEL, "del") X(ELIF, "elif")    \
	X(ELSE, "else") X(EXCEPT, "except") X(FALSE, "False")                  \
	X(FINALLY, "finally") X(FOR, "for") X(FROM, "from") X(GLOBAL, "global") \
	X(IF, "if") X(IMPORT, "import") X(IN, "in") X(IS, "is")                \
	X(LAMBDA, "lambda") X(NONE, "None") X(NONLOCAL, "nonlocal")            \
	X(NOT, "not") X(OR, "or") X(PASS, "pass") X(RAISE, "raise")            \
	X(RETURN, "return") X(TRUE, "True") X(TRY, "try") X(WHILE, "while")    \
	X(WITH, "with") X(YIELD, "yield")

enum ts_tok {
	TK_EOF,     /* end of input (after the closing DEDENTs) */
	TK_NEWLINE, /* end of a logical line */
	TK_INDENT,  /* indentation deeper than the enclosing block's */
	TK_DEDENT,  /* one level of indentation closed */
	TK_NAME,    /* identifier */
	TK_INT,     /* decimal integer literal */
	TK_FLOAT,   /* decimal floating literal: 2. 0.5 1e-05 */
	TK_STR,     /* one quoted string (adjacent ones are joined by the parser) */
#define X(n, s) TK_##n,
	TS_PUNCTS(X)
#undef X
#define X(n, s) TK_KW_##n,
	TS_KEYWORDS(X)
#undef X
	TK_COUNT
};

/* One token. Literal values are decoded by the lexer. */
struct ts_token {
	enum ts_tok kind;   /* what it is */
	struct loc loc;     /* its first byte */
	const char *text;   /* its spelling in the source (not NUL-terminated) */
	size_t len;         /* bytes of spelling; 0 for NEWLINE/INDENT/DEDENT/EOF */
	union {
		uint64_t i;     /* TK_INT: value, at most 2^63 (which only `-` may precede) */
		double f;       /* TK_FLOAT */
		struct {
			char *s;    /* TK_STR: decoded bytes, NUL-terminated copy */
			size_t len; /* decoded length (may contain NUL bytes) */
		} str;
		const char *name; /* TK_NAME: arena copy of the identifier */
	} v;
};

/* Operators of the syntax tree. */
#define TS_OPS(X)                                                              \
	X(ADD, "+") X(SUB, "-") X(MUL, "*") X(DIV, "/") X(FLOORDIV, "//")      \
	X(MOD, "%") X(MATMUL, "@") X(POW, "**") X(LSHIFT, "<<")                \
	X(RSHIFT, ">>") X(BITOR, "|") X(BITXOR, "^") X(BITAND, "&")            \
	X(NEG, "-") X(POS, "+") X(INVERT, "~") X(NOT, "not")                   \
	X(AND, "and") X(OR, "or")                                              \
	X(EQ, "==") X(NE, "!=") X(LT, "<") X(LE, "<=") X(GT, ">") X(GE, ">=")  \
	X(IS, "is") X(ISNOT, "is not") X(IN, "in") X(NOTIN, "not in")

enum ts_op {
#define X(n, s) TO_##n,
	TS_OPS(X)
#undef X
	TO_COUNT
};

enum ts_expr_kind {
	TE_NAME,      /* u.name: x, torch, inf, NoneType */
	TE_INT,       /* u.i: 3, -1 (a `-` directly on a literal is folded) */
	TE_FLOAT,     /* u.f: 2., -0.5 */
	TE_STR,       /* u.str: "a" "b" (adjacent literals joined) */
	TE_NONE,      /* None */
	TE_BOOL,      /* u.b: True / False */
	TE_ELLIPSIS,  /* ... */
	TE_ATTR,      /* u.attr: obj.name */
	TE_CALL,      /* u.call: fn(args, kw=v) */
	TE_SUBSCRIPT, /* u.sub: obj[index]; a[i, j] has a TE_TUPLE index */
	TE_SLICE,     /* u.slice: lo:hi:step, only as (part of) a subscript index */
	TE_TUPLE,     /* u.seq: (a, b), (a,), (), a, b = ... */
	TE_LIST,      /* u.seq: [a, b] */
	TE_DICT,      /* u.dict: {k: v} */
	TE_UNARY,     /* u.un: -a +a ~a not a */
	TE_BINARY,    /* u.bin: a + b ... (arithmetic, bitwise, shifts) */
	TE_BOOLOP,    /* u.bin: a and b, a or b */
	TE_COMPARE,   /* u.cmp: a < b <= c, a is not None, a not in b */
	TE_IFEXP,     /* u.ifexp: a if c else b */
	TE_COUNT
};

/* An expression. loc is its first token, except for binary, boolean and
 * comparison nodes, whose loc is the (first) operator. */
struct ts_expr {
	enum ts_expr_kind kind; /* which member of u is valid */
	struct loc loc;         /* where it is */
	union {
		const char *name; /* TE_NAME */
		int64_t i;        /* TE_INT */
		double f;         /* TE_FLOAT */
		int b;            /* TE_BOOL: 0 or 1 */
		struct {
			const char *s; /* decoded bytes, NUL-terminated copy */
			size_t len;    /* length (may contain NUL bytes) */
		} str;             /* TE_STR */
		struct {
			struct ts_expr *obj; /* the object */
			const char *name;    /* the attribute */
		} attr;                  /* TE_ATTR */
		struct {
			struct ts_expr *fn;       /* callee */
			struct ts_expr **args;    /* positional arguments */
			int nargs;                /* their count */
			const char **kwnames;     /* keyword names, in order */
			struct ts_expr **kwargs;  /* keyword values */
			int nkw;                  /* their count */
		} call;                       /* TE_CALL */
		struct {
			struct ts_expr *obj;   /* indexed value */
			struct ts_expr *index; /* expr, TE_SLICE or TE_TUPLE of them */
		} sub;                     /* TE_SUBSCRIPT */
		struct {
			struct ts_expr *lo, *hi, *step; /* NULL where omitted */
		} slice;                            /* TE_SLICE */
		struct {
			struct ts_expr **items; /* elements */
			int n;                  /* their count */
		} seq;                      /* TE_TUPLE, TE_LIST */
		struct {
			struct ts_expr **keys, **vals; /* pairs in order */
			int n;                         /* their count */
		} dict;                            /* TE_DICT */
		struct {
			enum ts_op op;     /* TO_NEG TO_POS TO_INVERT TO_NOT */
			struct ts_expr *a; /* operand */
		} un;                  /* TE_UNARY */
		struct {
			enum ts_op op;         /* arithmetic/bitwise op, or TO_AND/TO_OR */
			struct ts_expr *a, *b; /* left, right */
		} bin;                     /* TE_BINARY, TE_BOOLOP */
		struct {
			struct ts_expr **items; /* n + 1 operands */
			enum ts_op *ops;        /* n comparison ops: items[k] ops[k] items[k+1] */
			int n;                  /* number of ops, >= 1 */
		} cmp;                      /* TE_COMPARE */
		struct {
			struct ts_expr *cond, *then, *els; /* then if cond else els */
		} ifexp;                               /* TE_IFEXP */
	} u;
};

/* A sequence of statements (a suite). */
struct ts_block {
	struct ts_stmt **stmts; /* in order */
	int n;                  /* their count; 0 only for an absent else */
};

enum ts_stmt_kind {
	TS_EXPR,      /* u.expr: a bare call */
	TS_ASSIGN,    /* u.assign: t1 = t2 = value; a target may be a TE_TUPLE */
	TS_ANNASSIGN, /* u.ann: target : type = value */
	TS_AUGASSIGN, /* u.aug: target op= value */
	TS_IF,        /* u.if_: elif is an else block holding one TS_IF */
	TS_FOR,       /* u.for_ */
	TS_WHILE,     /* u.while_ */
	TS_RETURN,    /* u.expr, NULL for a bare return */
	TS_PASS,      /* no fields */
	TS_BREAK,     /* no fields */
	TS_CONTINUE,  /* no fields */
	TS_RAISE,     /* u.expr, NULL for a bare raise */
	TS_ASSERT,    /* u.assert_ */
	TS_DEL,       /* u.del */
	TS_WITH,      /* u.with */
	TS_DEF,       /* u.def: a nested function (fork bodies) */
	TS_COUNT
};

struct ts_def;

struct ts_stmt {
	enum ts_stmt_kind kind; /* which member of u is valid */
	struct loc loc;         /* first token of the statement */
	union {
		struct ts_expr *expr; /* TS_EXPR, TS_RETURN, TS_RAISE */
		struct {
			struct ts_expr **targets; /* t1 = t2 = ... = value */
			int ntargets;             /* >= 1 */
			struct ts_expr *value;    /* right-hand side (TE_TUPLE for a, b) */
		} assign;
		struct {
			struct ts_expr *target, *type; /* target : type */
			struct ts_expr *value;         /* = value, or NULL */
		} ann;
		struct {
			enum ts_op op;                  /* TO_ADD for += ... */
			struct ts_expr *target, *value; /* target op= value */
		} aug;
		struct {
			struct ts_expr *cond;      /* if cond: */
			struct ts_block then, els; /* els.n == 0: no else */
		} if_;
		struct {
			struct ts_expr *target, *iter; /* for target in iter: */
			struct ts_block body;
		} for_;
		struct {
			struct ts_expr *cond; /* while cond: */
			struct ts_block body;
		} while_;
		struct {
			struct ts_expr *test, *msg; /* assert test, msg (msg may be NULL) */
		} assert_;
		struct {
			struct ts_expr **targets; /* del a, b */
			int n;
		} del;
		struct {
			struct ts_expr *item, *target; /* with item as target (target may be NULL) */
			struct ts_block body;
		} with;
		struct ts_def *def; /* TS_DEF */
	} u;
};

/* A parameter of a def. */
struct ts_param {
	const char *name;      /* parameter name */
	struct ts_expr *type;  /* annotation, NULL when omitted (bare `self`) */
	struct ts_expr *deflt; /* default value, or NULL */
	struct loc loc;        /* the name */
};

/* A function or method. */
struct ts_def {
	const char *name;         /* forward, __init__, relu */
	struct ts_param *params;  /* including self for methods */
	int nparams;              /* their count */
	struct ts_expr *ret_type; /* -> Type, or NULL */
	struct ts_block body;     /* statements */
	struct loc loc;           /* the `def` keyword */
};

/* A class attribute line: `name : Type`, `name : Final[int] = 1`,
 * `__annotations__["0"] = Type` (name "0") or an enum's `NAME = value`. */
struct ts_attr_decl {
	const char *name;      /* attribute name; may be any string */
	struct ts_expr *type;  /* declared type, NULL for `NAME = value` */
	struct ts_expr *value; /* Final constant or enum value, or NULL */
	int is_final;          /* type is Final[...] */
	struct loc loc;        /* the first token of the line */
};

/* `__parameters__ = ["a", "b", ]`; present is 0 when the line is absent. */
struct ts_namelist {
	const char **names; /* in order */
	int n;              /* their count */
	int present;        /* the line was written */
};

/* A class: a Module, NamedTuple, Enum, Interface, ModuleInterface or plain class. */
struct ts_class {
	const char *name;                 /* unqualified name: Conv2d */
	const char *base;                 /* "Module", "NamedTuple", ... or NULL */
	struct ts_namelist params;        /* __parameters__ */
	struct ts_namelist buffers;       /* __buffers__ */
	struct ts_namelist fwd_hooks;     /* __forward_hooks__ */
	struct ts_namelist fwd_pre_hooks; /* __forward_pre_hooks__ */
	struct ts_attr_decl *attrs;       /* annotations and constants, in order */
	int nattrs;                       /* their count */
	struct ts_def *methods;           /* defs, in order */
	int nmethods;                     /* their count */
	struct loc loc;                   /* the `class` keyword */
};

/* One code/ record (a .py file). */
struct ts_file {
	const char *path;         /* as given to ts_parse */
	struct ts_class *classes; /* in order */
	int nclasses;             /* their count */
	struct ts_def *funcs;     /* top-level defs, in order */
	int nfuncs;               /* their count */
};

/* Bounds against hostile input: brackets, blocks, and the height of an
 * expression tree (so recursive walkers of the tree are safe too). */
#define TS_MAX_DEPTH 200

/* ts_lex.c */

/* Split src into tokens ending with TK_EOF; *ntok counts them (EOF included).
 * path names the record in locations ("model.pt: code/__torch__.py"). */
struct ts_token *ts_lex(struct kiln_ctx *ctx, const char *path, const char *src, size_t len,
			size_t *ntok);
/* "(" for TK_LPAREN, "def" for TK_KW_DEF, "name" for TK_NAME ... */
const char *ts_tok_str(enum ts_tok kind);

/* ts_parse.c */

/* Parse one record. Never returns on bad input (diag_error). */
struct ts_file *ts_parse(struct kiln_ctx *ctx, const char *path, const char *src, size_t len);
/* "+" for TO_ADD, "is not" for TO_ISNOT ... */
const char *ts_op_str(enum ts_op op);
/* Write the tree back as TorchScript source in a canonical form (2-space
 * indent, minimal parentheses, defs on one line); parse and print again gives
 * the same text. */
void ts_print_file(FILE *out, const struct ts_file *f);
void ts_print_expr(FILE *out, const struct ts_expr *e);

#endif
