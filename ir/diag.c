/* diag.c: diagnostics for bad input, fatal errors for the environment, and
 * internal errors for kiln bugs (STYLE K6, K7). diag_error unwinds with longjmp
 * to the innermost kiln_protect(); the arena is the whole cleanup. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

/* What is recorded when malloc fails while formatting a diagnostic; never freed. */
static char fallback_message[] = "kiln: error: out of memory";

void kiln_ctx_init(struct kiln_ctx *ctx)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->arena.ctx = ctx;
	ctx->scratch.ctx = ctx;
	ctx->diag_out = stderr;
}

void kiln_ctx_free(struct kiln_ctx *ctx)
{
	arena_reset(&ctx->scratch);
	arena_reset(&ctx->arena);
	for (int i = 0; i < ctx->nerrors && i < KILN_MAX_ERRORS; i++)
		if (ctx->errors[i] != fallback_message)
			free(ctx->errors[i]);
	ctx->nerrors = 0;
}

char *loc_str(struct arena *a, struct loc loc)
{
	const char *f = loc.file ? loc.file : "kiln";
	if (loc.node)
		return arena_printf(a, "%s: %s", f, loc.node);
	if (loc.line > 0 && loc.col > 0)
		return arena_printf(a, "%s:%d:%d", f, loc.line, loc.col);
	if (loc.line > 0)
		return arena_printf(a, "%s:%d", f, loc.line);
	return arena_printf(a, "%s", f);
}

/* Format into malloc'd memory: diagnostics must survive an out-of-memory arena. */
static char *vformat(struct loc loc, const char *kind, const char *fmt, va_list ap)
{
	char where[1024], msg[2048];
	const char *f = loc.file ? loc.file : "kiln";
	if (loc.node)
		snprintf(where, sizeof where, "%s: %s", f, loc.node);
	else if (loc.line > 0 && loc.col > 0)
		snprintf(where, sizeof where, "%s:%d:%d", f, loc.line, loc.col);
	else if (loc.line > 0)
		snprintf(where, sizeof where, "%s:%d", f, loc.line);
	else
		snprintf(where, sizeof where, "%s", f);
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(where) + strlen(kind) + strlen(msg) + 8;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s: %s: %s", where, kind, msg);
	return s;
}

static void record(struct kiln_ctx *ctx, char *s)
{
	if (!s)
		s = fallback_message;
	if (ctx->diag_out && s)
		fprintf(ctx->diag_out, "%s\n", s);
	if (ctx->nerrors < KILN_MAX_ERRORS)
		ctx->errors[ctx->nerrors] = s;
	else
		free(s);
	ctx->nerrors++;
}

void diag_error_soft(struct kiln_ctx *ctx, struct loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record(ctx, vformat(loc, "error", fmt, ap));
	va_end(ap);
}

void diag_check(struct kiln_ctx *ctx)
{
	if (ctx->nerrors == 0)
		return;
	if (ctx->unwind)
		longjmp(*ctx->unwind, 1);
	exit(1);
}

_Noreturn void diag_error(struct kiln_ctx *ctx, struct loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record(ctx, vformat(loc, "error", fmt, ap));
	va_end(ap);
	if (ctx->unwind)
		longjmp(*ctx->unwind, 1);
	exit(1);
}

void diag_warn(struct kiln_ctx *ctx, struct loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = vformat(loc, "warning", fmt, ap);
	va_end(ap);
	if (ctx->diag_out && s)
		fprintf(ctx->diag_out, "%s\n", s);
	free(s);
}

_Noreturn void fatal(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	fputs("kiln: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	size_t n = strlen(fmt);
	if (n && fmt[n - 1] == ':')
		fprintf(stderr, " %s", strerror(e));
	fputc('\n', stderr);
	exit(1);
}

_Noreturn void kiln_internal_error(const char *file, int line, const char *msg)
{
	fprintf(stderr, "kiln: internal error: %s:%d: %s\n", file, line, msg);
	abort();
}

int kiln_protect(struct kiln_ctx *ctx, void (*fn)(struct kiln_ctx *, void *), void *arg)
{
	jmp_buf jb;
	jmp_buf *prev = ctx->unwind;
	int before = ctx->nerrors;
	ctx->unwind = &jb;
	if (setjmp(jb)) {
		ctx->unwind = prev;
		return 1;
	}
	fn(ctx, arg);
	ctx->unwind = prev;
	return ctx->nerrors > before;
}
