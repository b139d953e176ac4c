/* onnx_emit.c: a test driver for the ONNX backend, independent of driver/main.c:
 * TorchScript archive -> pipeline -> emit_onnx.
 *
 * usage: onnx_emit MODEL.pt --input-shape [DTYPE:]D1xD2... [...] [--opset N] [-O0|-O1|-O2]
 *                  [--verify] [--onnx-custom-domain NAME] -o OUT.onnx
 *        onnx_emit GRAPH.kir [--opset N] -o OUT.onnx
 *                  IR text as the pipeline leaves it (canonical ops, typed, with input= and
 *                  output= attributes): emitted as it is, without running the pipeline
 *        onnx_emit --check-table      every non-structural op has an ONNX emitter (K18)
 * Exit status: 0 success, 1 diagnostics (on stderr), 2 bad usage.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/onnx/onnx_graph.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

struct job {
	const char *model, *out;
	int opset;
	const char *custom_domain;
	struct pipeline_opts p;
};

static _Noreturn void usage(const char *why)
{
	fprintf(stderr, "onnx_emit: %s\nusage: onnx_emit MODEL.pt --input-shape S ... [--opset N] "
	        "[-O0|-O1|-O2] [--verify] [--onnx-custom-domain NAME] -o OUT.onnx | GRAPH.kir ... | "
	        "--check-table\n", why);
	exit(2);
}

/* [f32:|f64:|i64:|i32:]D1xD2x... */
static struct input_spec parse_shape(const char *s)
{
	static const struct { const char *p; enum dtype dt; } dts[] = {
		{"f32:", DT_F32}, {"f64:", DT_F64}, {"i64:", DT_I64}, {"i32:", DT_I32}};
	struct input_spec in = {.dtype = DT_F32};
	for (size_t i = 0; i < sizeof dts / sizeof *dts; i++)
		if (strncmp(s, dts[i].p, 4) == 0) {
			in.dtype = dts[i].dt;
			s += 4;
		}
	while (*s) {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s || v <= 0 || in.shape.rank == KILN_MAX_RANK)
			usage("bad --input-shape");
		in.shape.dims[in.shape.rank++] = v;
		s = *end == 'x' ? end + 1 : end;
		if (*end && *end != 'x')
			usage("bad --input-shape");
	}
	return in;
}

/* The IR text file at path, parsed. */
static struct ir_module *load_kir(struct kiln_ctx *ctx, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fatal("cannot open %s:", path);
	struct vec text = {0};
	int c;
	while ((c = getc(f)) != EOF)
		VEC_PUSH(&ctx->arena, &text, char, (char)c);
	fclose(f);
	VEC_PUSH(&ctx->arena, &text, char, 0);
	return ir_parse(ctx, path, text.data, text.len - 1);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void run(struct kiln_ctx *ctx, void *arg)
{
	struct job *j = arg;
	struct ir_module *m;
	if (ends_with(j->model, ".kir")) {
		m = load_kir(ctx, j->model);
		if (ctx->verify)
			ir_verify(m, "parse");
	} else {
		m = ts_load(ctx, j->model);
		pipeline(m, &j->p);
	}
	struct emit_onnx_options eo = {.out_path = j->out, .opset = j->opset, .model_name = "model",
	                               .command_line = NULL, .custom_domain = j->custom_domain};
	emit_onnx(ctx, m, &eo);
}

static int check_table(void)
{
	int bad = 0;
	for (int op = 0; op < OP_COUNT; op++) {
		int structural = op == OP_CONST || (op_info[op].flags & F_STRUCT);
		if (!structural && !emit_onnx_has_op((enum op)op)) {
			printf("op '%s' has no ONNX emitter\n", op_name((enum op)op));
			bad = 1;
		}
		if (structural && emit_onnx_has_op((enum op)op)) {
			printf("structural op '%s' has an ONNX emitter\n", op_name((enum op)op));
			bad = 1;
		}
	}
	printf("%s\n", bad ? "FAIL" : "every non-structural op has an ONNX emitter");
	return bad;
}

int main(int argc, char **argv)
{
	struct job j = {.p = {.opt_level = 2}};
	struct kiln_ctx ctx;
	kiln_ctx_init(&ctx);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--check-table") == 0)
			return check_table();
		if (strcmp(a, "--verify") == 0) {
			ctx.verify = 1;
		} else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '2' && !a[3]) {
			j.p.opt_level = a[2] - '0';
		} else if (i + 1 < argc && strcmp(a, "-o") == 0) {
			j.out = argv[++i];
		} else if (i + 1 < argc && strcmp(a, "--onnx-custom-domain") == 0) {
			j.custom_domain = argv[++i];
		} else if (i + 1 < argc && strcmp(a, "--opset") == 0) {
			j.opset = atoi(argv[++i]);
		} else if (i + 1 < argc && strcmp(a, "--input-shape") == 0) {
			j.p.inputs = realloc(j.p.inputs, sizeof *j.p.inputs * (size_t)(j.p.ninputs + 1));
			if (!j.p.inputs)
				usage("out of memory");
			j.p.inputs[j.p.ninputs++] = parse_shape(argv[++i]);
		} else if (a[0] != '-' && !j.model) {
			j.model = a;
		} else {
			usage(a);
		}
	}
	if (!j.model || !j.out)
		usage("need MODEL.pt and -o OUT.onnx");
	int status = kiln_protect(&ctx, run, &j);
	kiln_ctx_free(&ctx);
	free(j.p.inputs);
	return status ? 1 : 0;
}
