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
	"  INPUT                  a TorchScript archive (model.pt, written by torch.jit.save), an\n"
	"                         ONNX model (model.onnx, opsets 1 to 18), a Caffe2 NetDef pair\n"
	"                         (a directory holding model.pb and model_init.pb, or model.pb\n"
	"                         with --init; give the input shapes with --input-shape), or\n"
	"                         TorchScript IR text (print(m.graph), m.inlined_graph, a frozen\n"
	"                         graph, detectron2's model_ts_IR.txt / model_ts_IR_inlined.txt)\n"
	"  --weights PATH         with IR text: the model's archive (.pt), source of the weights\n"
	"                         and of code the text calls but does not contain\n"
	"  -o PATH                output file (default: INPUT without its extension, plus .c/.h,\n"
	"                         or .kir for --emit=ir; '-' writes IR to standard output)\n"
	"  --emit=KIND            c, ir, onnx, caffe2, dot, svg or schema:\n"
	"  --emit=c               (the default) C: writes PATH.c and PATH.h\n"
	"  --emit=ir              kiln's IR text after the passes (PATH.kir)\n"
	"  --emit=onnx            standard ONNX, one PATH.onnx file that onnxruntime runs\n"
	"  --opset N              ONNX opset for --emit=onnx, 11 to 18 (default 13)\n"
	"  --emit=caffe2          Caffe2 protobuf into the directory -o DIR (default: INPUT without\n"
	"                         its extension): model.pb (predict net), model_init.pb (weights,\n"
	"                         one GivenTensor*Fill each), model.pbtxt (predict net as text)\n"
	"  --emit=dot, --emit=svg the graph for Graphviz: ops, inputs, outputs, weights, and each\n"
	"                         tensor's shape on its edge (PATH.dot, or PATH.svg laid out by dot)\n"
	"  --init PATH            with a Caffe2 model.pb input: its init net (model_init.pb)\n"
	"  --onnx-custom-domain NAME\n"
	"                         --emit=onnx: an op with no standard ONNX form, and a raise,\n"
	"                         become nodes of the custom domain NAME instead of an error\n"
	"                         and a left-out check: NON-STANDARD ONNX, which onnxruntime\n"
	"                         runs only with NAME's ops registered\n"
	"  --emit=schema          print how the flat inputs/outputs rebuild the model's nested\n"
	"                         tuples, lists, dicts and objects, as JSON (to -o PATH or stdout)\n"
	"  --flatten-order=ORDER  sorted (default: dict keys and object fields by name, as\n"
	"                         detectron2's TracingAdapter) or insertion (first-set order)\n"
	"  --fields NAME:TYPE,... the fields of Instances-like classes, as detectron2's\n"
	"                         scripting_with_instances takes them (TYPE: Tensor, Boxes, int,\n"
	"                         float, bool); each field the model sets must be declared\n"
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
	const char *init;          /* --init: the init net of a Caffe2 model.pb input */
	int with_main;
	int opset;                 /* --opset, 0 = emit_onnx's default (13) */
	const char *onnx_domain;   /* --onnx-custom-domain, NULL = standard ops only */
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
			if (strcmp(v, "c") != 0 && strcmp(v, "ir") != 0 && strcmp(v, "onnx") != 0 &&
			    strcmp(v, "schema") != 0 && strcmp(v, "caffe2") != 0 && strcmp(v, "dot") != 0 &&
			    strcmp(v, "svg") != 0)
				bad_usage("--emit=%s: unknown output kind (this build supports c, ir, onnx, "
				          "schema, caffe2, dot and svg)", v);
			o->emit = v;
		} else if ((v = arg_value(argc, argv, &i, "--opset"))) {
			char *end;
			long n = strtol(v, &end, 10);
			if (end == v || *end || n < 11 || n > 18)
				bad_usage("--opset %s: kiln emits ONNX opsets 11 to 18", v);
			o->opset = (int)n;
		} else if ((v = arg_value(argc, argv, &i, "--onnx-custom-domain"))) {
			if (!emit_onnx_custom_domain_ok(v))
				bad_usage("--onnx-custom-domain '%s': a custom domain needs a name of its own, "
				          "not empty and not ONNX's (ai.onnx...)", v);
			o->onnx_domain = v;
		} else if ((v = arg_value(argc, argv, &i, "--fields"))) {
			const char *err = staticize_parse_fields(&o->p, v);
			if (err)
				bad_usage(err, v);
		} else if ((v = arg_value(argc, argv, &i, "--flatten-order"))) {
			if (strcmp(v, "sorted") != 0 && strcmp(v, "insertion") != 0)
				bad_usage("--flatten-order=%s: use sorted or insertion", v);
			o->p.flatten_insertion = strcmp(v, "insertion") == 0;
		} else if ((v = arg_value(argc, argv, &i, "--weights"))) {
			o->weights = v;
		} else if ((v = arg_value(argc, argv, &i, "--init"))) {
			o->init = v;
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

/* Whether INPUT is a Caffe2 NetDef pair: a directory (DIR/model.pb, DIR/model_init.pb) or
 * a .pb file whose init net is --init, else NAME_init.pb beside it. */
static int caffe2_input(struct arena *a, struct options *o, const char **pb, const char **init)
{
	struct stat st;
	size_t n = strlen(o->input);
	if (stat(o->input, &st) == 0 && S_ISDIR(st.st_mode)) {
		char *d = arena_strdup(a, o->input);
		while (n > 1 && d[n - 1] == '/')
			d[--n] = 0;
		o->input = d;
		*pb = arena_printf(a, "%s/model.pb", d);
		*init = o->init ? o->init : arena_printf(a, "%s/model_init.pb", d);
		return 1;
	}
	if (n < 3 || strcmp(o->input + n - 3, ".pb") != 0)
		return 0;
	*pb = o->input;
	*init = o->init ? o->init : arena_printf(a, "%.*s_init.pb", (int)(n - 3), o->input);
	if (!o->init && stat(*init, &st) != 0)
		bad_usage("%s: a Caffe2 predict net needs its init net: give it with --init PATH "
		          "(there is no NAME_init.pb beside it)", o->input);
	return 1;
}

static void compile(struct kiln_ctx *ctx, void *arg)
{
	struct job *j = arg;
	struct options *o = j->o;
	const char *c2_pb = NULL, *c2_init = NULL;
	int caffe2 = caffe2_input(&ctx->arena, o, &c2_pb, &c2_init);
	size_t ilen = strlen(o->input);
	int onnx = !caffe2 && ilen > 5 && strcmp(o->input + ilen - 5, ".onnx") == 0;
	int archive = !onnx && !caffe2 && is_archive(o->input);
	const char *pt = archive ? o->input : o->weights;
	if (ctx->dump_dir && pt && !onnx)
		ts_dump_ir(ctx, pt, ctx->dump_dir);
	if (caffe2) {   /* the reader types the inputs by these shapes */
		j->m = c2_load(ctx, c2_pb, c2_init, o->p.inputs, o->p.ninputs);
	} else if (onnx) {   /* the reader types the inputs, from the model or these shapes */
		j->m = onnx_load(ctx, o->input, o->p.inputs, o->p.ninputs);
		o->p.ninputs = 0;
	} else {
		j->m = archive ? ts_load(ctx, o->input) : ts_graph_load(ctx, o->input, o->weights);
	}
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
	if (strcmp(o->emit, "schema") == 0) {
		FILE *f = o->output && strcmp(out, "-") != 0 ? fopen(out, "w") : stdout;
		if (!f)
			fatal("cannot write %s:", out);
		fprintf(f, "%s\n", ir_schema_json(j->m));
		if (f != stdout)
			fclose(f);
		return;
	}
	if (strcmp(o->emit, "caffe2") == 0) {
		struct emit_caffe2_options co = {.out_dir = out, .model_name = model_name(a, out)};
		emit_caffe2(ctx, j->m, &co);
		return;
	}
	if (strcmp(o->emit, "dot") == 0 || strcmp(o->emit, "svg") == 0) {
		struct emit_dot_options dopt = {
			.out_path = o->output ? out : arena_printf(a, "%s.%s", out, o->emit),
			.svg = o->emit[0] == 's',
			.model_name = model_name(a, stem(a, out)),
		};
		emit_dot(ctx, j->m, &dopt);
		return;
	}
	if (strcmp(o->emit, "onnx") == 0) {
		char *st = stem(a, out);
		struct emit_onnx_options oo = {
			.out_path = o->output ? out : arena_printf(a, "%s.onnx", st),
			.opset = o->opset,
			.model_name = model_name(a, st),
			.command_line = o->command_line,
			.custom_domain = o->onnx_domain,
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
	for (int i = 0; i < o.p.nfields; i++)
		free((char *)o.p.fields[i].name);
	free(o.p.fields);
	free(o.command_line);
	return status ? 1 : 0;
}
