/* test_oom.c: out-of-memory injection and memory bounds (STYLE K15, issue 8).
 *
 * Out of memory, as Lua's and SQLite's test allocators do it. For N = 1, 2, ... the N-th arena chunk allocation fails (arena_fail_after)
 * during a whole compilation: ts_load (zip, unpickler, TorchScript parser, lowering), the
 * pass pipeline with the verifier on, and emit_c into a temporary directory; then the same for
 * the IR text reader and the TorchScript parser alone. Every failing run must end with status
 * 1 and only "error: out of memory" diagnostics; the loop stops at the first N that succeeds.
 * Leaks (a FILE or libzip handle left open by the unwinding) are found by running this under
 * ASan (scripts/test.sh does, in the -DKILN_SANITIZE=ON build) or valgrind.
 *
 * Bounds: a small input cannot make kiln allocate much. The bounds tested elsewhere (nesting,
 * memo and stack of the unpickler, storage sizes: test_pt.c; TorchScript depth:
 * test_ts_parse.c) are not repeated here; these are the ones where a few bytes describe a
 * large tensor that kiln would fill in: an expanded view (stride 0) over a tiny storage must be
 * refused with arena use staying small. (IR text constants written without data, which the
 * reader fills with zeros, share a 1 GiB budget; reaching it costs 1 GiB, too much to test
 * here.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "frontend/frontend.h"
#include "frontend/pt.h"
#include "frontend/ts_ast.h"
#include "passes/passes.h"

#define SRC(path) KILN_SOURCE_DIR "/" path
#define MAX_N 2000 /* no compilation here needs this many chunks */

/* One compilation: what to run, on what. */
struct job {
	const char *path;          /* input file */
	const char *text;          /* its contents (ir_parse, ts_parse) */
	size_t len;                /* their length */
	struct input_spec input;   /* the model's one input (ts_load) */
	const char *outdir;        /* where emit_c writes m.c, m.h */
};

/* kiln's compile(): ts_load, pipeline, emit_c. */
static void compile_pt(struct kiln_ctx *ctx, void *arg)
{
	struct job *j = arg;
	struct pipeline_opts o = {.opt_level = 2, .ninputs = 1, .inputs = &j->input};
	struct ir_module *m = ts_load(ctx, j->path);
	pipeline(m, &o);
	struct emit_c_options eo = {
		.out_c_path = arena_printf(&ctx->arena, "%s/m.c", j->outdir),
		.out_h_path = arena_printf(&ctx->arena, "%s/m.h", j->outdir),
		.model_name = "m",
		.with_main = 1,
		.command_line = "kiln test_oom",
	};
	emit_c(ctx, m, &eo);
}

static void parse_ir(struct kiln_ctx *ctx, void *arg)
{
	struct job *j = arg;
	ir_verify(ir_parse(ctx, j->path, j->text, j->len), "parse");
}

static void parse_ts(struct kiln_ctx *ctx, void *arg)
{
	struct job *j = arg;
	ts_parse(ctx, j->path, j->text, j->len);
}

/* Run fn with the N-th chunk allocation failing, for N = 1, 2, ... until it succeeds, after
 * taking `pad` bytes of the arena first (which moves the chunk boundaries, and so the places
 * where an allocation fails). Returns the number of failing runs. */
static int oom_loop_pad(void (*fn)(struct kiln_ctx *, void *), struct job *j, size_t pad)
{
	int n;
	for (n = 1; n < MAX_N; n++) {
		struct kiln_ctx ctx;
		kiln_ctx_init(&ctx);
		ctx.diag_out = NULL;
		ctx.verify = 1;
		if (pad)
			arena_alloc(&ctx.arena, pad);
		arena_fail_after(n);
		int rc = kiln_protect(&ctx, fn, j);
		arena_fail_after(0);
		if (rc) {
			assert_true(ctx.nerrors >= 1);
			for (int i = 0; i < ctx.nerrors && i < KILN_MAX_ERRORS; i++) {
				const char *e = ctx.errors[i];
				if (!e || !strstr(e, "error: out of memory"))
					fail_msg("N=%d: diagnostic %d is not 'out of memory': %s", n, i,
					         e ? e : "(null)");
			}
		}
		kiln_ctx_free(&ctx);
		if (!rc)
			break;
	}
	assert_true(n < MAX_N);
	return n - 1;
}

/* oom_loop_pad with pads that put the boundaries of the first chunk (64 KiB) in different
 * places; the number of failing runs without a pad. */
static int oom_loop(void (*fn)(struct kiln_ctx *, void *), struct job *j)
{
	static const size_t pads[] = {1000, 8000, 30000, 50000, 65000};
	for (size_t i = 0; i < sizeof pads / sizeof pads[0]; i++)
		oom_loop_pad(fn, j, pads[i]);
	return oom_loop_pad(fn, j, 0);
}

/* A fresh temporary directory. */
static char *tmp_dir(void)
{
	char *d = strdup("/tmp/kiln_test_oom_XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void rm_outputs(char *dir)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/m.c", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/m.h", dir);
	unlink(p);
	rmdir(dir);
	free(dir);
}

/* Compile `model` for an f32 input of the given shape with every chunk allocation failing
 * in turn. */
static void oom_model(const char *model, int rank, const int64_t *dims)
{
	struct job j = {.path = model, .outdir = tmp_dir()};
	j.input.dtype = DT_F32;
	j.input.shape.rank = rank;
	for (int d = 0; d < rank; d++)
		j.input.shape.dims[d] = dims[d];
	int failures = oom_loop(compile_pt, &j);
	printf("    %s: %d failing runs before success\n", strrchr(model, '/') + 1, failures);
	assert_true(failures >= 3); /* pt_open, lowering and the passes all allocate chunks */
	rm_outputs((char *)j.outdir);
}

static void test_oom_mlp(void **state)
{
	oom_model(SRC("tests/models/fixtures/mlp.pt"), 2, (int64_t[]){2, 16});
}

static void test_oom_lenet(void **state)
{
	oom_model(SRC("tests/models/fixtures/lenet.pt"), 4, (int64_t[]){1, 1, 28, 28});
}

/* Read a whole file into malloc'd memory. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return s;
}

/* A reader alone on one file, the N-th chunk failing in turn. */
static void oom_reader(void (*fn)(struct kiln_ctx *, void *), const char *path)
{
	struct job j = {.path = path};
	char *text = slurp(path, &j.len);
	j.text = text;
	assert_true(oom_loop(fn, &j) >= 1);
	free(text);
}

static void test_oom_irtext(void **state)
{
	oom_reader(parse_ir, SRC("tests/ir/shapes/convnet.kir"));
	oom_reader(parse_ir, SRC("tests/ir/fuse/residual_relu.kir"));
}

static void test_oom_ts_parse(void **state)
{
	oom_reader(parse_ts, SRC("tests/unit/ts/grammar.py"));
	oom_reader(parse_ts, SRC("tests/unit/ts/rnn.py"));
}

/* ---- bounds ---- */

#define SMALL_ARENA ((size_t)16 << 20) /* what refusing a small input may cost */

/* Run fn on j; it must fail with `want`, having used little memory. */
static void refused(void (*fn)(struct kiln_ctx *, void *), void *j, const char *want)
{
	struct kiln_ctx ctx;
	kiln_ctx_init(&ctx);
	ctx.diag_out = NULL;
	assert_int_equal(kiln_protect(&ctx, fn, j), 1);
	if (!strstr(ctx.errors[0], want))
		fail_msg("diagnostic '%s' does not contain '%s'", ctx.errors[0], want);
	assert_true(ctx.arena.total < SMALL_ARENA);
	kiln_ctx_free(&ctx);
}

static void unpickle_data(struct kiln_ctx *ctx, void *arg)
{
	pt_unpickle(ctx, arg, "data.pkl", "data");
}

/* _rebuild_tensor_v2 of a FloatStorage of 1 element, sizes (65536, 65536), strides (0, 0):
 * 16 GiB if materialized, from 138 bytes. */
static const char expanded_pkl[] =
	"\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\n"
	"FloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x01tQK\x00(J\x00\x00"
	"\x01\x00J\x00\x00\x01\x00t(K\x00K\x00t\x89" "ccollections\nOrderedDict\n)RtR.";

static void test_limit_expanded_view(void **state)
{
	static const float one[1];
	struct pt_record recs[] = {
		{"data.pkl", (const unsigned char *)expanded_pkl, sizeof expanded_pkl - 1},
		{"data/0", (const unsigned char *)one, sizeof one},
	};
	struct pt_archive ar = {.path = "mem.pt", .prefix = "mem", .recs = recs, .nrecs = 2,
	                        .version = 3};
	refused(unpickle_data, &ar, "tensor of 4294967296 elements over storage 'data/0' of 1 "
	        "elements is too large");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oom_mlp),
		cmocka_unit_test(test_oom_lenet),
		cmocka_unit_test(test_oom_irtext),
		cmocka_unit_test(test_oom_ts_parse),
		cmocka_unit_test(test_limit_expanded_view),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
