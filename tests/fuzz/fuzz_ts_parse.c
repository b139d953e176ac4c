/* fuzz_ts_parse.c: the TorchScript lexer and parser on arbitrary bytes, and the printer's
 * promise (ts_ast.h): whatever parses prints as source that parses again and prints the
 * same, so print(parse(print(parse(src)))) == print(parse(src)); a difference aborts.
 * Seeds: tests/unit/ts/NAME.py, tests/fuzz/corpus/ts_parse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/ts_ast.h"
#include "fuzz.h"

struct parse_call {
	const char *src;     /* in */
	size_t len;          /* in */
	struct ts_file *f;   /* out */
};

static void parse(struct kiln_ctx *ctx, void *arg)
{
	struct parse_call *c = arg;
	c->f = ts_parse(ctx, "fuzz.py", c->src, c->len);
}

/* The printed form of src, malloc'd; NULL if src does not parse. */
static char *parse_print(const char *src, size_t len, size_t *outlen, const char **err)
{
	struct kiln_ctx ctx;
	fuzz_ctx_init(&ctx);
	struct parse_call c = {src, len, NULL};
	char *buf = NULL;
	if (kiln_protect(&ctx, parse, &c) == 0) {
		FILE *o = open_memstream(&buf, outlen);
		ts_print_file(o, c.f);
		fclose(o);
	} else if (err) {
		static char msg[1024];
		snprintf(msg, sizeof msg, "%s", ctx.nerrors ? ctx.errors[0] : "?");
		*err = msg;
	}
	kiln_ctx_free(&ctx);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n1, n2;
	const char *err = NULL;
	char *p1 = parse_print((const char *)data, size, &n1, NULL);
	if (!p1)
		return 0;
	char *p2 = parse_print(p1, n1, &n2, &err);
	if (!p2 || n1 != n2 || memcmp(p1, p2, n1) != 0) {
		fprintf(stderr, "fuzz_ts_parse: printing is not a fixed point (%s)\n--- first print:\n"
		        "%s\n--- second:\n%s\n", p2 ? "texts differ" : err, p1, p2 ? p2 : "");
		abort();
	}
	free(p1);
	free(p2);
	return 0;
}
