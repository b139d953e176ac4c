/* tsir_compile.c: test driver for the TorchScript IR text frontend and writer, until the
 * kiln command line has --weights (it does what driver/main.c's compile() does).
 *
 *   tsir_compile IR.txt [--weights M.pt] [--input-shape 2x16 ...] -o OUT.c [--main]
 *   tsir_compile IR.txt [--weights M.pt] --emit=ir -o OUT.kir        (IR after the frontend)
 *   tsir_compile IR.txt [--weights M.pt] --print -o OUT.txt          (read, then write back)
 *   tsir_compile --dump-ir M.pt DIR                                   (dump_torchscript_IR)
 *
 * Exit status: 0 success, 1 diagnostics (on stderr), 2 bad usage. */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

struct args {
	const char *input, *weights, *output, *dump_pt, *dump_dir;
	int with_main, emit_ir, print;
	struct pipeline_opts p;
};

static _Noreturn void usage(void)
{
	fprintf(stderr, "usage: tsir_compile IR.txt [--weights M.pt] [--input-shape S ...] "
	                "-o OUT.c [--main] [--emit=ir | --print]\n"
	                "       tsir_compile --dump-ir M.pt DIR\n");
	exit(2);
}

/* 2x16 -> f32[2,16] */
static struct input_spec shape(const char *s)
{
	struct input_spec in = {.dtype = DT_F32};
	while (*s) {
		char *end;
		if (in.shape.rank == KILN_MAX_RANK)
			usage();
		in.shape.dims[in.shape.rank++] = strtoll(s, &end, 10);
		if (end == s)
			usage();
		s = *end == 'x' ? end + 1 : end;
	}
	return in;
}

static void parse(struct args *a, int argc, char **argv)
{
	a->p.opt_level = 2;
	a->p.inputs = calloc(16, sizeof *a->p.inputs);
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--weights") == 0 && i + 1 < argc)
			a->weights = argv[++i];
		else if (strcmp(s, "-o") == 0 && i + 1 < argc)
			a->output = argv[++i];
		else if (strcmp(s, "--input-shape") == 0 && i + 1 < argc && a->p.ninputs < 16)
			a->p.inputs[a->p.ninputs++] = shape(argv[++i]);
		else if (strcmp(s, "--main") == 0)
			a->with_main = 1;
		else if (strcmp(s, "--emit=ir") == 0)
			a->emit_ir = 1;
		else if (strcmp(s, "--print") == 0)
			a->print = 1;
		else if (strcmp(s, "--dump-ir") == 0 && i + 2 < argc)
			a->dump_pt = argv[i + 1], a->dump_dir = argv[i + 2], i += 2;
		else if (s[0] == '-' || a->input)
			usage();
		else
			a->input = s;
	}
	if (!a->dump_pt && (!a->input || !a->output))
		usage();
}

static void run(struct kiln_ctx *ctx, void *arg)
{
	struct args *a = arg;
	if (a->dump_pt) {
		ts_dump_ir(ctx, a->dump_pt, a->dump_dir);
		return;
	}
	struct ir_module *m = ts_graph_load(ctx, a->input, a->weights);
	if (a->emit_ir || a->print) {
		FILE *f = strcmp(a->output, "-") == 0 ? stdout : fopen(a->output, "w");
		if (!f)
			fatal("cannot write %s:", a->output);
		ir_verify(m, "ts_graph_load");
		if (a->print)
			ts_graph_print(f, m, m->main, 0);
		else
			ir_print(f, m);
		if (f != stdout)
			fclose(f);
		return;
	}
	pipeline(m, &a->p);
	char *stem = arena_strdup(&ctx->arena, a->output);
	char *dot = strrchr(stem, '.');
	if (dot)
		*dot = 0;
	struct emit_c_options eo = {
		.out_c_path = arena_printf(&ctx->arena, "%s.c", stem),
		.out_h_path = arena_printf(&ctx->arena, "%s.h", stem),
		.model_name = "m",
		.with_main = a->with_main,
		.command_line = "tsir_compile",
	};
	emit_c(ctx, m, &eo);
	diag_check(ctx);
}

int main(int argc, char **argv)
{
	struct kiln_ctx ctx;
	struct args a = {0};
	parse(&a, argc, argv);
	kiln_ctx_init(&ctx);
	ctx.verify = 1;
	ctx.diag_out = stderr;
	int status = kiln_protect(&ctx, run, &a);
	kiln_ctx_free(&ctx);
	free(a.p.inputs);
	return status;
}
