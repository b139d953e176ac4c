/* run_golden.c: golden-file tests of the IR passes (STYLE K13).
 *
 *   run_golden PASS in.kir expected.out [--update]          IR after PASS, compared
 *   run_golden --error PASS in.kir expected.err [--update]  the diagnostics, compared
 *
 * Reads in.kir (frontend/irtext.c), runs one pass, checks the IR (ir_verify) and prints
 * it (ir/print.c). PASS is fold, canonicalize, shapes, dce, fuse, flatten (its schema
 * printed after the IR as a `# schema:` comment), flatten-insertion (--flatten-order=
 * insertion), cse, inline, staticize (staticize and fold to a fixed point, the length
 * check, then dce, so that no object is left), or parse (reading only). `canonicalize` runs fold, canonicalize and shapes to a fixed
 * point, as passes/pipeline.c does. In --error mode the diagnostics are compared with
 * in.kir's directory stripped from their locations. --update rewrites the expected file.
 * Prints [PASS] or [FAIL] with the first differing line; exits 0 on PASS. */
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"

struct job {
	const char *pass, *path, *base; /* pass name, input path, its file name */
	char *text;                     /* output: IR or diagnostics */
	size_t len;
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0, got;
	do {
		cap = cap * 2 + 4096;
		buf = realloc(buf, cap + 1);
		if (!buf)
			fatal("out of memory");
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (n == cap);
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

static void run(struct kiln_ctx *ctx, void *arg)
{
	struct job *j = arg;
	size_t len;
	char *src = slurp(j->path, &len);
	if (!src)
		fatal("cannot read %s:", j->path);
	char *copy = arena_strndup(&ctx->arena, src, len);
	free(src);
	struct ir_module *m = ir_parse(ctx, j->base, copy, len);
	const char *p = j->pass;
	if (!strcmp(p, "fold")) fold(m);
	else if (!strcmp(p, "shapes")) shapes(m);
	else if (!strcmp(p, "dce")) dce(m);
	else if (!strcmp(p, "fuse")) fuse(m);
	else if (!strcmp(p, "flatten")) flatten(m, 0);
	else if (!strcmp(p, "flatten-insertion")) flatten(m, 1);
	else if (!strcmp(p, "cse")) cse(m);
	else if (!strcmp(p, "staticize")) {
		for (int i = 0; i < 64 && staticize(m) + fold(m); i++)
			;
		struct pipeline_opts o = {0};
		staticize_check(m, &o);
		dce(m);
	}
	else if (!strcmp(p, "inline")) inline_calls(m);
	else if (!strcmp(p, "canonicalize"))
		for (int i = 0; i < 64 && staticize(m) + fold(m) + canonicalize(m) + shapes(m); i++)
			;
	else if (strcmp(p, "parse"))
		fatal("unknown pass '%s'", p);
	ir_verify(m, p);
	FILE *out = open_memstream(&j->text, &j->len);
	ir_print(out, m);
	if (!strncmp(p, "flatten", 7))   /* the schema flatten built, as a comment */
		fprintf(out, "# schema: %s\n", ir_schema_json(m));
	fclose(out);
}

/* Report the first line where got and want differ. */
static int compare(const char *name, const char *got, const char *want)
{
	if (!strcmp(got, want)) {
		printf("[PASS] %s\n", name);
		return 0;
	}
	int line = 1;
	while (*got && *got == *want) {
		line += *got == '\n';
		got++, want++;
	}
	while (line > 1 && got[-1] != '\n')
		got--, want--;
	printf("[FAIL] %s: first difference at line %d\n-%.*s\n+%.*s\n", name, line,
	       (int)strcspn(want, "\n"), want, (int)strcspn(got, "\n"), got);
	return 1;
}

int main(int argc, char **argv)
{
	int err = argc > 1 && !strcmp(argv[1], "--error");
	argv += err, argc -= err;
	if (argc < 4)
		fatal("usage: run_golden [--error] PASS in.kir expected [--update]");
	const char *slash = strrchr(argv[2], '/');
	struct job j = {.pass = argv[1], .path = argv[2], .base = slash ? slash + 1 : argv[2]};
	struct kiln_ctx ctx;
	kiln_ctx_init(&ctx);
	ctx.diag_out = NULL;
	ctx.verify = 1;
	int failed = kiln_protect(&ctx, run, &j);
	char *got = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&got, &len);
	if (failed != err) {
		fprintf(out, "%s\n", failed ? "unexpected diagnostic:" : "no diagnostic");
		for (int i = 0; i < ctx.nerrors && i < KILN_MAX_ERRORS; i++)
			fprintf(out, "%s\n", ctx.errors[i]);
	} else if (err) {
		for (int i = 0; i < ctx.nerrors && i < KILN_MAX_ERRORS; i++)
			fprintf(out, "%s\n", ctx.errors[i]);
	} else {
		fputs(j.text, out);
	}
	fclose(out);
	if (argc > 4 && !strcmp(argv[4], "--update") && failed == err) {
		FILE *f = fopen(argv[3], "wb");
		if (!f || fputs(got, f) < 0 || fclose(f))
			fatal("cannot write %s:", argv[3]);
	}
	size_t wlen;
	char *want = slurp(argv[3], &wlen);
	int rc = compare(j.base, got, want ? want : "");
	free(want);
	free(got);
	free(j.text);
	kiln_ctx_free(&ctx);
	return rc;
}
