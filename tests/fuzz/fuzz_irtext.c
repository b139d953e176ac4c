/* fuzz_irtext.c: the IR text reader on arbitrary bytes, and two of its promises
 * (frontend/irtext.c, STYLE K9): what it accepts passes ir_check (anything the verifier
 * would trip over is a diagnostic), and it reads back what ir_print writes, so
 * print(parse(print(parse(text)))) == print(parse(text)). A broken promise aborts.
 * Seeds: tests/ir/PASS/NAME.kir, tests/errors/NAME.kir, tests/fuzz/corpus/irtext. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "fuzz.h"

struct parse_call {
	const char *text;       /* in */
	size_t len;             /* in */
	struct ir_module *m;    /* out */
};

static void parse(struct kiln_ctx *ctx, void *arg)
{
	struct parse_call *c = arg;
	c->m = ir_parse(ctx, "fuzz.kir", c->text, c->len);
}

/* The printed form of text, malloc'd; NULL if it does not parse (*err: why). */
static char *parse_print(const char *text, size_t len, size_t *outlen, char *err, size_t errlen)
{
	struct kiln_ctx ctx;
	fuzz_ctx_init(&ctx);
	struct parse_call c = {text, len, NULL};
	char *buf = NULL;
	if (kiln_protect(&ctx, parse, &c) == 0) {
		uint32_t node;
		const char *bad = ir_check(c.m, &node);
		if (bad) {
			fprintf(stderr, "fuzz_irtext: accepted IR fails ir_check: %s\n", bad);
			abort();
		}
		FILE *o = open_memstream(&buf, outlen);
		ir_print(o, c.m);
		fclose(o);
	} else {
		snprintf(err, errlen, "%s", ctx.nerrors ? ctx.errors[0] : "?");
	}
	kiln_ctx_free(&ctx);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n1, n2;
	char err[1024];
	char *p1 = parse_print((const char *)data, size, &n1, err, sizeof err);
	if (!p1)
		return 0;
	char *p2 = parse_print(p1, n1, &n2, err, sizeof err);
	if (!p2 || n1 != n2 || memcmp(p1, p2, n1) != 0) {
		fprintf(stderr, "fuzz_irtext: printing is not a fixed point (%s)\n--- first print:\n"
		        "%s\n--- second:\n%s\n", p2 ? "texts differ" : err, p1, p2 ? p2 : "");
		abort();
	}
	free(p1);
	free(p2);
	return 0;
}
