/* main.c: the kiln command line (DESIGN.md, "The command line").
 * Parses options, runs frontend → pipeline → backend under kiln_protect, prints
 * diagnostics, and exits 0 on success, 1 on bad or unsupported input, 2 on bad usage. */
#include <ctype.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

static const char usage[] =
	"usage: kiln INPUT [options]\n"
	"\n"
	"Compiles a trained PyTorch model ahead of time into a self-contained C file.\n"
	"\n"
	"  INPUT                  a TorchScript archive (model.pt, written by torch.jit.save), or\n"
	"                         TorchScript IR text (print(m.graph), m.inlined_graph, a frozen\n"
	"                         graph, detectron2's model_ts_IR.txt / model_ts_IR_inlined.txt)\n"
	"  --weights PATH         with IR text: the model's archive (.pt), source of the weights\n"
	"                         and of code the text calls but does not contain\n"
	"  -o PATH                output file (default: INPUT without its extension, plus .c/.h,\n"
	"                         or .kir for --emit=ir; '-' writes IR to standard output)\n"
	"  --emit=KIND            c (default: writes PATH.c and PATH.h), ir (kiln's IR text) or\n"
	"                         onnx (standard ONNX, one PATH.onnx file that onnxruntime runs)\n"
	"  --opset N              ONNX opset for --emit=onnx, 11 to 18 (default 13)\n"
	"  --main                 C only: add main(), so the file builds into a program:\n"
	"                           ./m [-o OUTDIR] input_0.npy ...  writes OUTDIR/output_0.npy ...\n"
	"                           ./m --bench N input_0.npy ...    prints latency_ms median=X min=Y\n"
	"  --input-shape SPEC     one per model input, in order: 1x3x224x224, optionally with a\n"
	"                         name and an element type: x=f32:1x3x224x224 (f32, f64, i64, i32)\n"
	"  --example-input F.npy  take an input's shape and element type from a sample .npy file\n"
	"                         (may be mixed with --input-shape; inputs are taken in order)\n"
	"  -O0 | -O1 | -O2        optimization level (default -O2); -O0 keeps batch norms and\n"
	"                         activations as separate kernels\n"
	"  --dump-ir DIR          write the IR after every pass to DIR/NN-pass.kir, and what\n"
	"                         detectron2's dump_torchscript_IR writes, from the archive:\n"
	"                         model_ts_code.txt, model_ts_IR.txt, model_ts_IR_inlined.txt,\n"
	"                         model.txt\n"
	"  --verify               check the IR after every pass (a kiln self-test)\n"
	"  -v                     verbose: report the workspace size and its lower bound\n"
	"  --version              print the version and exit\n"
	"  -h, --help             print this help and exit\n"
	"\n"
	"Exit status: 0 success, 1 bad or unsupported input (diagnostics on stderr), 2 bad usage.\n";

struct options {
	const char *input;
	const char *output;
	const char *emit;
	const char *weights;       /* --weights: the archive for an IR text input */
	int with_main;
	int opset;                 /* --opset, 0 = emit_onnx's default (13) */
	struct pipeline_opts p;
	char *command_line;
};

static _Noreturn void bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "kiln: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'kiln --help'.\n");
	exit(2);
}

static enum dtype parse_dtype(const char *s, size_t n)
{
	static const struct { const char *name; enum dtype dt; } names[] = {
		{"f32", DT_F32}, {"float32", DT_F32}, {"f64", DT_F64}, {"float64", DT_F64},
		{"i64", DT_I64}, {"int64", DT_I64}, {"i32", DT_I32}, {"int32", DT_I32},
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (strlen(names[i].name) == n && strncmp(names[i].name, s, n) == 0)
			return names[i].dt;
	return DT_UNKNOWN;
}

/* [NAME=][dtype:]D1xD2x... ; a letter is a symbolic dim. */
static struct input_spec parse_shape(const char *spec)
{
	struct input_spec s = {.dtype = DT_F32};
	const char *p = spec, *eq = strchr(spec, '='), *colon = strchr(spec, ':');
	if (eq) {
		s.name = strndup(spec, (size_t)(eq - spec));
		p = eq + 1;
	}
	if (colon && colon > p) {
		s.dtype = parse_dtype(p, (size_t)(colon - p));
		if (!s.dtype)
			bad_usage("--input-shape '%s': unknown element type (use f32, f64, i64 or i32)", spec);
		p = colon + 1;
	}
	while (*p) {
		if (s.shape.rank == KILN_MAX_RANK)
			bad_usage("--input-shape '%s': too many dimensions", spec);
		int k = s.shape.rank++;
		if (isalpha((unsigned char)*p)) {
			const char *st = p;
			while (isalnum((unsigned char)*p) || *p == '_')
				p++;
			s.shape.sym[k] = strndup(st, (size_t)(p - st));
			s.shape.dims[k] = -1;
		} else {
			char *end;
			long long v = strtoll(p, &end, 10);
			if (end == p || v <= 0 || v > (1LL << 40))
				bad_usage("--input-shape '%s': dimensions are positive integers joined by 'x'",
				          spec);
			s.shape.dims[k] = v;
			p = end;
		}
		if (*p == 'x')
			p++;
		else if (*p)
			bad_usage("--input-shape '%s': dimensions are positive integers joined by 'x'", spec);
	}
	if (s.shape.rank == 0 && !strchr(spec, '='))
		bad_usage("--input-shape '%s': no dimensions", spec);
	return s;
}

/* The shape and element type of a .npy file's header. */
static struct input_spec npy_spec(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fatal("cannot open %s:", path);
	unsigned char pre[10];
	char hdr[4096];
	if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1)
		fatal("%s: not a .npy file (format 1.0)", path);
	size_t hl = (size_t)pre[8] | (size_t)pre[9] << 8;
	if (hl >= sizeof hdr || fread(hdr, 1, hl, f) != hl)
		fatal("%s: truncated .npy header", path);
	fclose(f);
	hdr[hl] = 0;
	struct input_spec s = {.dtype = DT_UNKNOWN};
	const char *d = strstr(hdr, "'descr': '"), *sh = strstr(hdr, "'shape': (");
	if (!d || !sh || strstr(hdr, "'fortran_order': True"))
		fatal("%s: unsupported .npy header: %s", path, hdr);
	d += 10;
	if (strncmp(d, "<f4", 3) == 0) s.dtype = DT_F32;
	else if (strncmp(d, "<f8", 3) == 0) s.dtype = DT_F64;
	else if (strncmp(d, "<i8", 3) == 0) s.dtype = DT_I64;
	else if (strncmp(d, "<i4", 3) == 0) s.dtype = DT_I32;
	else fatal("%s: unsupported element type '%.4s'", path, d);
	for (const char *p = sh + 10; *p && *p != ')';) {
		char *end;
		long long v = strtoll(p, &end, 10);
		if (end == p)
			break;
		if (s.shape.rank == KILN_MAX_RANK)
			fatal("%s: too many dimensions", path);
		s.shape.dims[s.shape.rank++] = v;
		p = end;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return s;
}

static void add_input(struct options *o, struct input_spec s)
{
	o->p.inputs = realloc(o->p.inputs, sizeof *o->p.inputs * (size_t)(o->p.ninputs + 1));
	if (!o->p.inputs)
		fatal("out of memory");
	o->p.inputs[o->p.ninputs++] = s;
}

static const char *arg_value(int argc, char **argv, int *i, const char *flag)
{
	size_t n = strlen(flag);
	if (strncmp(argv[*i], flag, n) == 0 && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (strcmp(argv[*i], flag) != 0)
		return NULL;
	if (*i + 1 >= argc)
		bad_usage("%s needs a value", flag);
	return argv[++*i];
}

static char *join_args(int argc, char **argv)
{
	size_t n = 1;
	for (int i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	char *s = calloc(1, n);
	if (!s)
		fatal("out of memory");
	for (int i = 0; i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, i == 0 ? "kiln" : argv[i]);
	}
	return s;
}

static void parse_args(struct options *o, struct kiln_ctx *ctx, int argc, char **argv)
{
	o->emit = "c";
	o->p.opt_level = 2;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			exit(0);
		} else if (strcmp(a, "--version") == 0) {
			printf("kiln %s\n", KILN_VERSION);
			exit(0);
		} else if ((v = arg_value(argc, argv, &i, "-o"))) {
			o->output = v;
		} else if ((v = arg_value(argc, argv, &i, "--emit"))) {
			if (strcmp(v, "c") != 0 && strcmp(v, "ir") != 0 && strcmp(v, "onnx") != 0)
				bad_usage("--emit=%s: unknown output kind (this build supports c, ir and onnx)",
				          v);
			o->emit = v;
		} else if ((v = arg_value(argc, argv, &i, "--opset"))) {
			char *end;
			long n = strtol(v, &end, 10);
			if (end == v || *end || n < 11 || n > 18)
				bad_usage("--opset %s: kiln emits ONNX opsets 11 to 18", v);
			o->opset = (int)n;
		} else if ((v = arg_value(argc, argv, &i, "--weights"))) {
			o->weights = v;
		} else if (strcmp(a, "--main") == 0) {
			o->with_main = 1;
		} else if ((v = arg_value(argc, argv, &i, "--input-shape"))) {
			add_input(o, parse_shape(v));
		} else if ((v = arg_value(argc, argv, &i, "--example-input"))) {
			add_input(o, npy_spec(v));
		} else if ((v = arg_value(argc, argv, &i, "--dump-ir"))) {
			ctx->dump_dir = v;
		} else if (strcmp(a, "-O0") == 0 || strcmp(a, "-O1") == 0 || strcmp(a, "-O2") == 0) {
			o->p.opt_level = a[2] - '0';
		} else if (strcmp(a, "--verify") == 0) {
			ctx->verify = 1;
		} else if (strcmp(a, "-v") == 0) {
			ctx->verbose = 1;
		} else if (a[0] == '-' && a[1]) {
			bad_usage("unknown option '%s'", a);
		} else if (o->input) {
			bad_usage("more than one input file ('%s')", a);
		} else {
			o->input = a;
		}
	}
	if (!o->input)
		bad_usage("%s", "no input file");
	o->command_line = join_args(argc, argv);
}

/* "dir/m.c" -> "m"; a C identifier, in the arena. */
static char *model_name(struct arena *a, const char *out)
{
	const char *base = strrchr(out, '/');
	base = base ? base + 1 : out;
	char *s = arena_printf(a, "m_%s", base), *id = s + 2;
	char *dot = strrchr(id, '.');
	if (dot && dot != id)
		*dot = 0;
	for (char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p))
			*p = '_';
	return isalpha((unsigned char)id[0]) || id[0] == '_' ? id : s;
}

/* PATH without a .c/.h/.kir extension, in the arena. */
static char *stem(struct arena *a, const char *path)
{
	char *s = arena_strdup(a, path);
	char *dot = strrchr(s, '.'), *slash = strrchr(s, '/');
	if (dot && (!slash || dot > slash))
		*dot = 0;
	return s;
}

/* Whether INPUT is a TorchScript archive (a zip, or named *.pt / *.pth / *.zip) rather
 * than TorchScript IR text. */
static int is_archive(const char *path)
{
	size_t n = strlen(path);
	static const char *const ext[] = {".pt", ".pth", ".zip"};
	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
		if (n >= strlen(ext[i]) && strcmp(path + n - strlen(ext[i]), ext[i]) == 0)
			return 1;
	unsigned char magic[4] = {0};
	FILE *f = fopen(path, "rb");
	if (!f)
		fatal("cannot open %s:", path);
	size_t got = fread(magic, 1, sizeof magic, f);
	fclose(f);
	return got == 4 && memcmp(magic, "PK\3\4", 4) == 0;
}

struct job {
	struct options *o;
	struct ir_module *m;
};

static void compile(struct kiln_ctx *ctx, void *arg)
{
	struct job *j = arg;
	struct options *o = j->o;
	int archive = is_archive(o->input);
	const char *pt = archive ? o->input : o->weights;
	if (ctx->dump_dir && pt)
		ts_dump_ir(ctx, pt, ctx->dump_dir);
	j->m = archive ? ts_load(ctx, o->input) : ts_graph_load(ctx, o->input, o->weights);
	pipeline(j->m, &o->p);
	struct arena *a = &ctx->arena;
	const char *out = o->output ? o->output : stem(a, o->input);
	if (strcmp(o->emit, "ir") == 0) {
		FILE *f = strcmp(out, "-") == 0 ? stdout : NULL;
		const char *path = o->output ? out : arena_printf(a, "%s.kir", out);
		if (!f) {
			f = fopen(path, "w");
			if (!f)
				fatal("cannot write %s:", path);
		}
		ir_print(f, j->m);
		if (f != stdout)
			fclose(f);
		return;
	}
	if (strcmp(o->emit, "onnx") == 0) {
		char *st = stem(a, out);
		struct emit_onnx_options oo = {
			.out_path = o->output ? out : arena_printf(a, "%s.onnx", st),
			.opset = o->opset,
			.model_name = model_name(a, st),
			.command_line = o->command_line,
		};
		emit_onnx(ctx, j->m, &oo);
		return;
	}
	char *s = stem(a, out);
	struct emit_c_options eo = {
		.out_c_path = arena_printf(a, "%s.c", s),
		.out_h_path = arena_printf(a, "%s.h", s),
		.model_name = model_name(a, s),
		.with_main = o->with_main,
		.command_line = o->command_line,
	};
	if (emit_c(ctx, j->m, &eo))
		diag_check(ctx);
}

int main(int argc, char **argv)
{
	struct kiln_ctx ctx;
	struct options o = {0};
	kiln_ctx_init(&ctx);
	parse_args(&o, &ctx, argc, argv);
	struct job j = {&o, NULL};
	int status = kiln_protect(&ctx, compile, &j);
	kiln_ctx_free(&ctx);
	free(o.p.inputs);
	free(o.command_line);
	return status ? 1 : 0;
}
