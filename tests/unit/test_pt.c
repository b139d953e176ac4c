/* test_pt.c: the .pt archive reader and the restricted unpickler.
 *
 * Real archives come from tests/unit/fixtures (made by make_pt_fixtures.py); bad archives
 * are written here with libzip; pickles are assembled byte by byte with struct pk and read
 * from an in-memory struct pt_archive. Every error test checks the diagnostic's text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "frontend/pt.h"

#define FIXTURE(name) KILN_SOURCE_DIR "/tests/unit/fixtures/" name

/* ---- helpers: contexts and protected calls ---- */

/* A quiet context. */
static void ctx_init(struct kiln_ctx *ctx)
{
	kiln_ctx_init(ctx);
	ctx->diag_out = NULL;
}

/* pt_open under kiln_protect. */
struct open_call {
	const char *path;       /* in */
	struct pt_archive *ar;  /* out */
};

static void do_open(struct kiln_ctx *ctx, void *arg)
{
	struct open_call *c = arg;
	c->ar = pt_open(ctx, c->path);
}

/* pt_unpickle under kiln_protect. */
struct unpickle_call {
	const struct pt_archive *ar;  /* in */
	const char *name, *dir;       /* record and tensor dir */
	struct pv *v;                 /* out */
};

static void do_unpickle(struct kiln_ctx *ctx, void *arg)
{
	struct unpickle_call *c = arg;
	c->v = pt_unpickle(ctx, c->ar, c->name, c->dir);
}

/* Open an archive that must be good. */
static struct pt_archive *open_ok(struct kiln_ctx *ctx, const char *path)
{
	struct open_call c = {.path = path};
	int rc = kiln_protect(ctx, do_open, &c);
	if (rc)
		fprintf(stderr, "unexpected error: %s\n", ctx->errors[0]);
	assert_int_equal(rc, 0);
	return c.ar;
}

/* Assert that the first diagnostic contains `want`. */
static void assert_error(struct kiln_ctx *ctx, const char *want)
{
	assert_true(ctx->nerrors >= 1);
	if (!strstr(ctx->errors[0], want))
		fprintf(stderr, "diagnostic:\n  %s\ndoes not contain:\n  %s\n", ctx->errors[0], want);
	assert_non_null(strstr(ctx->errors[0], want));
}

/* Opening `path` must fail with a diagnostic containing `want`. */
static void open_err(const char *path, const char *want)
{
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct open_call c = {.path = path};
	assert_int_equal(kiln_protect(&ctx, do_open, &c), 1);
	assert_error(&ctx, want);
	kiln_ctx_free(&ctx);
}

/* ---- helpers: building pickles ---- */

/* A pickle under construction. */
struct pk {
	unsigned char *b;  /* bytes */
	size_t n, cap;     /* used, allocated */
};

static void pk_bytes(struct pk *p, const void *s, size_t n)
{
	if (p->n + n > p->cap) {
		p->cap = (p->n + n) * 2 + 64;
		p->b = realloc(p->b, p->cap);
		assert_non_null(p->b);
	}
	memcpy(p->b + p->n, s, n);
	p->n += n;
}

/* Append a string literal (may hold NULs). */
#define PK_LIT(p, lit) pk_bytes((p), (lit), sizeof(lit) - 1)

static void pk_op(struct pk *p, int c)
{
	unsigned char b = (unsigned char)c;
	pk_bytes(p, &b, 1);
}

static void pk_le(struct pk *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		pk_op(p, (int)(v >> (8 * i) & 0xff));
}

/* A new pickle starting with PROTO 2. */
static struct pk pk_new(void)
{
	struct pk p = {0};
	pk_op(&p, 0x80);
	pk_op(&p, 2);
	return p;
}

/* BINUNICODE s */
static void pk_str(struct pk *p, const char *s)
{
	pk_op(p, 'X');
	pk_le(p, strlen(s), 4);
	pk_bytes(p, s, strlen(s));
}

/* The shortest int opcode, as torch writes it. */
static void pk_int(struct pk *p, int64_t v)
{
	if (v >= 0 && v < 256) {
		pk_op(p, 'K');
		pk_le(p, (uint64_t)v, 1);
	} else if (v >= 0 && v < 65536) {
		pk_op(p, 'M');
		pk_le(p, (uint64_t)v, 2);
	} else if (v >= INT32_MIN && v <= INT32_MAX) {
		pk_op(p, 'J');
		pk_le(p, (uint64_t)v, 4);
	} else {
		pk_op(p, 0x8a);
		pk_op(p, 8);
		pk_le(p, (uint64_t)v, 8);
	}
}

/* BINFLOAT (big-endian) */
static void pk_float(struct pk *p, double d)
{
	uint64_t bits;
	memcpy(&bits, &d, 8);
	pk_op(p, 'G');
	for (int i = 7; i >= 0; i--)
		pk_op(p, (int)(bits >> (8 * i) & 0xff));
}

/* GLOBAL 'mod name' */
static void pk_global(struct pk *p, const char *mod, const char *name)
{
	pk_op(p, 'c');
	pk_bytes(p, mod, strlen(mod));
	pk_op(p, '\n');
	pk_bytes(p, name, strlen(name));
	pk_op(p, '\n');
}

/* MARK ints TUPLE */
static void pk_dims(struct pk *p, const int64_t *d, int n)
{
	pk_op(p, '(');
	for (int i = 0; i < n; i++)
		pk_int(p, d[i]);
	pk_op(p, 't');
}

/* A torch tensor: _rebuild_tensor_v2(persid(storage), offset, sizes, strides, False, OrderedDict()) */
static void pk_tensor(struct pk *p, const char *stype, const char *key, int64_t numel,
                      int64_t offset, const int64_t *sizes, const int64_t *strides, int rank)
{
	pk_global(p, "torch._utils", "_rebuild_tensor_v2");
	pk_op(p, '(');
	pk_op(p, '(');
	pk_str(p, "storage");
	pk_global(p, "torch", stype);
	pk_str(p, key);
	pk_str(p, "cpu");
	pk_int(p, numel);
	pk_op(p, 't');
	pk_op(p, 'Q');
	pk_int(p, offset);
	pk_dims(p, sizes, rank);
	pk_dims(p, strides, rank);
	pk_op(p, 0x89);
	pk_global(p, "collections", "OrderedDict");
	pk_op(p, ')');
	pk_op(p, 'R');
	pk_op(p, 't');
	pk_op(p, 'R');
}

/* An in-memory archive "mem.pt" holding data.pkl = p plus extra records. */
struct mem_ar {
	struct pt_archive ar;
	struct pt_record recs[8];
};

static void mem_ar_init(struct mem_ar *m, const struct pk *p)
{
	memset(m, 0, sizeof *m);
	m->ar.path = "mem.pt";
	m->ar.prefix = "mem";
	m->ar.recs = m->recs;
	m->ar.version = 3;
	m->recs[m->ar.nrecs++] = (struct pt_record){"data.pkl", p->b, p->n};
}

static void mem_ar_add(struct mem_ar *m, const char *name, const void *data, size_t size)
{
	m->recs[m->ar.nrecs++] = (struct pt_record){name, data, size};
}

/* Unpickle data.pkl of m; it must succeed. */
static struct pv *unpickle_ok(struct kiln_ctx *ctx, const struct mem_ar *m)
{
	struct unpickle_call c = {&m->ar, "data.pkl", "data", NULL};
	int rc = kiln_protect(ctx, do_unpickle, &c);
	if (rc)
		fprintf(stderr, "unexpected error: %s\n", ctx->errors[0]);
	assert_int_equal(rc, 0);
	assert_non_null(c.v);
	return c.v;
}

/* Unpickle data.pkl of m; it must fail with `want` in the diagnostic. */
static void unpickle_err_ar(const struct mem_ar *m, const char *want)
{
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct unpickle_call c = {&m->ar, "data.pkl", "data", NULL};
	assert_int_equal(kiln_protect(&ctx, do_unpickle, &c), 1);
	assert_error(&ctx, want);
	kiln_ctx_free(&ctx);
}

/* Unpickle p (no tensor records); must fail with `want`. Frees p. */
static void unpickle_err(struct pk *p, const char *want)
{
	struct mem_ar m;
	mem_ar_init(&m, p);
	unpickle_err_ar(&m, want);
	free(p->b);
}

/* ---- helpers: files ---- */

/* A fresh temporary file name (the file exists, empty). */
static char *tmp_file(void)
{
	char *path = strdup("/tmp/kiln_test_pt_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	return path;
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

static unsigned char *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *b = malloc((size_t)len + 1);
	assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return b;
}

/* One entry of a zip written by make_zip. */
struct zent {
	const char *name;  /* full name, with prefix */
	const char *data;  /* NUL-terminated contents */
	int deflate;       /* compress */
};

/* Write a zip holding the given entries. */
static void make_zip(const char *path, const struct zent *e, size_t n)
{
	int err = 0;
	zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
	assert_non_null(za);
	for (size_t i = 0; i < n; i++) {
		zip_source_t *src = zip_source_buffer(za, e[i].data, strlen(e[i].data), 0);
		assert_non_null(src);
		zip_int64_t idx = zip_file_add(za, e[i].name, src, ZIP_FL_ENC_UTF_8);
		assert_true(idx >= 0);
		zip_set_file_compression(za, (zip_uint64_t)idx,
		                         e[i].deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
	}
	assert_int_equal(zip_close(za), 0);
}

/* ---- real archives ---- */

/* Read the expected values written by make_pt_fixtures.py. */
static void read_expected(double *out, int n)
{
	FILE *f = fopen(FIXTURE("linear.txt"), "r");
	assert_non_null(f);
	for (int i = 0; i < n; i++)
		assert_int_equal(fscanf(f, "%lf", &out[i]), 1);
	fclose(f);
}

/* Check a tensor attribute: dtype, sizes, contiguous strides. */
static const struct pt_tensor *tensor_attr(const struct pv *obj, const char *name,
                                           enum dtype dt, int rank, const int64_t *sizes)
{
	const struct pv *v = pv_attr(obj, name);
	assert_non_null(v);
	assert_int_equal(v->kind, PV_TENSOR);
	const struct pt_tensor *t = v->u.tensor;
	assert_int_equal(t->dtype, dt);
	assert_int_equal(t->rank, rank);
	for (int d = 0; d < rank; d++)
		assert_int_equal(t->sizes[d], sizes[d]);
	return t;
}

static void test_fixture_linear(void **state)
{
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct pt_archive *ar = open_ok(&ctx, FIXTURE("linear.pt"));
	assert_string_equal(ar->prefix, "linear");
	assert_int_equal(ar->version, 3);
	assert_non_null(pt_find(ar, "code/__torch__/torch/nn/modules/linear.py"));
	assert_null(pt_find(ar, "nope"));
	const struct pt_record *code = pt_find(ar, "code/__torch__/torch/nn/modules/linear.py");
	assert_int_equal(code->size, 358); /* deflated in the zip */
	assert_non_null(strstr((const char *)code->data, "def forward"));

	struct unpickle_call c = {ar, "data.pkl", "data", NULL};
	assert_int_equal(kiln_protect(&ctx, do_unpickle, &c), 0);
	const struct pv *m = c.v;
	assert_int_equal(m->kind, PV_OBJECT);
	assert_string_equal(m->u.obj.qualname, "__torch__.torch.nn.modules.linear.Linear");
	const struct pt_tensor *w = tensor_attr(m, "weight", DT_F32, 2, (int64_t[]){2, 3});
	const struct pt_tensor *b = tensor_attr(m, "bias", DT_F32, 1, (int64_t[]){2});
	assert_int_equal(w->strides[0], 3);
	assert_int_equal(w->strides[1], 1);
	assert_int_equal(w->requires_grad, 1);
	assert_string_equal(w->storage->key, "data/0");
	assert_string_equal(b->storage->key, "data/1");
	double want[8];
	read_expected(want, 8);
	float got[8];
	memcpy(got, w->storage->data, 6 * sizeof(float));
	memcpy(got + 6, b->storage->data, 2 * sizeof(float));
	for (int i = 0; i < 8; i++)
		assert_true(got[i] == (float)want[i]);
	const struct pv *training = pv_attr(m, "training");
	assert_non_null(training);
	assert_int_equal(training->kind, PV_BOOL);

	c = (struct unpickle_call){ar, "constants.pkl", "constants", NULL};
	assert_int_equal(kiln_protect(&ctx, do_unpickle, &c), 0);
	assert_int_equal(c.v->kind, PV_TUPLE);
	assert_int_equal(c.v->u.seq.n, 0);
	kiln_ctx_free(&ctx);
}

static void test_fixture_attrs(void **state)
{
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct pt_archive *ar = open_ok(&ctx, FIXTURE("attrs.pt"));
	struct unpickle_call c = {ar, "data.pkl", "data", NULL};
	assert_int_equal(kiln_protect(&ctx, do_unpickle, &c), 0);
	const struct pv *m = c.v;
	assert_string_equal(m->u.obj.qualname, "__torch__.Attrs");

	/* r = arange(10.), v = r[2:5]: one storage, two views */
	const struct pt_tensor *r = tensor_attr(m, "r", DT_F32, 1, (int64_t[]){10});
	const struct pt_tensor *v = tensor_attr(m, "v", DT_F32, 1, (int64_t[]){3});
	assert_ptr_equal(r->storage, v->storage);
	assert_int_equal(v->offset, 2);
	const float *rf = (const float *)r->storage->data;
	for (int i = 0; i < 10; i++)
		assert_true(rf[i] == (float)i);

	/* i = arange(6).reshape(2, 3).t(): sizes (3, 2), strides (1, 3) */
	const struct pt_tensor *ti = tensor_attr(m, "i", DT_I64, 2, (int64_t[]){3, 2});
	assert_int_equal(ti->strides[0], 1);
	assert_int_equal(ti->strides[1], 3);
	int64_t iv[6];
	memcpy(iv, ti->storage->data, sizeof iv);
	for (int k = 0; k < 6; k++)
		assert_int_equal(iv[k], k);

	const struct pv *dims = pv_attr(m, "dims");
	assert_int_equal(dims->kind, PV_LIST);
	assert_string_equal(dims->type_tag, "List[int]");
	assert_int_equal(dims->u.seq.n, 3);
	assert_int_equal(dims->u.seq.items[2]->u.i, 300);
	const struct pv *names = pv_attr(m, "names");
	assert_string_equal(names->type_tag, "List[str]");
	assert_string_equal(names->u.seq.items[1]->u.str.s, "bc");
	const struct pv *scale = pv_attr(m, "scale");
	assert_int_equal(scale->kind, PV_DICT);
	assert_string_equal(scale->type_tag, "Dict[str, float]");
	assert_int_equal(scale->u.dict.n, 2);
	assert_string_equal(scale->u.dict.keys[1]->u.str.s, "y");
	assert_true(scale->u.dict.vals[1]->u.f == -2.25);
	assert_string_equal(pv_attr(m, "label")->u.str.s, "hello");
	assert_true(pv_attr(m, "eps")->u.f == 1e-5);
	assert_int_equal(pv_attr(m, "flag")->u.b, 1);
	assert_int_equal(pv_attr(m, "_is_full_backward_hook")->kind, PV_NONE);
	assert_null(pv_attr(m, "missing"));
	kiln_ctx_free(&ctx);
}

/* Every truncation of a real data.pkl is an error, never a crash. */
static void test_fixture_truncations(void **state)
{
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct pt_archive *ar = open_ok(&ctx, FIXTURE("attrs.pt"));
	const struct pt_record *pkl = pt_find(ar, "data.pkl");
	struct pt_record *mut = (struct pt_record *)pkl;
	size_t full = pkl->size;
	for (size_t n = 0; n < full; n++) {
		mut->size = n;
		struct unpickle_call c = {ar, "data.pkl", "data", NULL};
		assert_int_equal(kiln_protect(&ctx, do_unpickle, &c), 1);
	}
	mut->size = full;
	kiln_ctx_free(&ctx);
}

/* Flipping any bit of a real data.pkl gives a result or a diagnostic, never a crash. */
static void test_fixture_bitflips(void **state)
{
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct pt_archive *ar = open_ok(&ctx, FIXTURE("attrs.pt"));
	struct pt_record *pkl = (struct pt_record *)pt_find(ar, "data.pkl");
	unsigned char *b = (unsigned char *)pkl->data;
	int errors = 0;
	for (size_t i = 0; i < pkl->size; i++) {
		for (int bit = 0; bit < 8; bit++) {
			b[i] ^= (unsigned char)(1 << bit);
			struct unpickle_call c = {ar, "data.pkl", "data", NULL};
			errors += kiln_protect(&ctx, do_unpickle, &c);
			b[i] ^= (unsigned char)(1 << bit);
		}
		/* keep the error list from filling up the context */
		for (int k = 0; k < ctx.nerrors && k < KILN_MAX_ERRORS; k++)
			free(ctx.errors[k]);
		ctx.nerrors = 0;
	}
	assert_true(errors > 0);
	kiln_ctx_free(&ctx);
}

/* ---- hand-built pickles: opcode families ---- */

static void test_scalars(void **state)
{
	struct pk p = pk_new();
	pk_op(&p, '(');
	pk_op(&p, 'N');
	pk_op(&p, 0x88);
	pk_op(&p, 0x89);
	pk_int(&p, 255);                 /* BININT1 */
	pk_int(&p, 65535);               /* BININT2 */
	pk_int(&p, -1);                  /* BININT */
	pk_int(&p, INT64_MIN);           /* LONG1 8 */
	PK_LIT(&p, "\x8a\x01\xff"); /* LONG1 1: -1 */
	PK_LIT(&p, "\x8a\x00");     /* LONG1 0: 0 */
	PK_LIT(&p, "\x8a\x02\x00\x80"); /* LONG1 2: -32768 */
	pk_float(&p, -1.5);
	pk_str(&p, "h\xc3\xa9llo");
	PK_LIT(&p, "\x8c\x02" "ab"); /* SHORT_BINUNICODE */
	pk_op(&p, 't');
	pk_op(&p, '.');
	struct mem_ar m;
	mem_ar_init(&m, &p);
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct pv *t = unpickle_ok(&ctx, &m);
	assert_int_equal(t->kind, PV_TUPLE);
	assert_int_equal(t->u.seq.n, 13);
	struct pv **it = t->u.seq.items;
	assert_int_equal(it[0]->kind, PV_NONE);
	assert_int_equal(it[1]->u.b, 1);
	assert_int_equal(it[2]->u.b, 0);
	assert_int_equal(it[3]->u.i, 255);
	assert_int_equal(it[4]->u.i, 65535);
	assert_int_equal(it[5]->u.i, -1);
	assert_true(it[6]->u.i == INT64_MIN);
	assert_int_equal(it[7]->u.i, -1);
	assert_int_equal(it[8]->u.i, 0);
	assert_int_equal(it[9]->u.i, -32768);
	assert_true(it[10]->u.f == -1.5);
	assert_string_equal(it[11]->u.str.s, "h\xc3\xa9llo");
	assert_int_equal(it[11]->u.str.len, 6);
	assert_string_equal(it[12]->u.str.s, "ab");
	kiln_ctx_free(&ctx);
	free(p.b);
}

static void test_containers(void **state)
{
	/* a tuple of (), (1,), (1, 2), (1, 2, 3), [7, 8, 9], ['x'], {'k': 1}, {'a': 2, 'b': 3},
	 * {5: 0.25}, built with every container opcode */
	struct pk p = pk_new();
	pk_op(&p, '(');
	pk_op(&p, ')');
	pk_int(&p, 1);
	pk_op(&p, 0x85);
	pk_int(&p, 1);
	pk_int(&p, 2);
	pk_op(&p, 0x86);
	pk_int(&p, 1);
	pk_int(&p, 2);
	pk_int(&p, 3);
	pk_op(&p, 0x87);
	pk_op(&p, ']');
	pk_int(&p, 7);
	pk_op(&p, 'a');
	pk_op(&p, '(');
	pk_int(&p, 8);
	pk_int(&p, 9);
	pk_op(&p, 'e');
	pk_op(&p, '(');
	pk_str(&p, "x");
	pk_op(&p, 'l');
	pk_op(&p, '}');
	pk_str(&p, "k");
	pk_int(&p, 1);
	pk_op(&p, 's');
	pk_op(&p, '(');
	pk_str(&p, "a");
	pk_int(&p, 2);
	pk_str(&p, "b");
	pk_int(&p, 3);
	pk_op(&p, 'd');
	pk_op(&p, '}');
	pk_op(&p, '(');
	pk_int(&p, 5);
	pk_float(&p, 0.25);
	pk_op(&p, 'u');                           /* {5: 0.25} SETITEMS */
	pk_op(&p, 't');
	pk_op(&p, '.');
	struct mem_ar m;
	mem_ar_init(&m, &p);
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct pv *t = unpickle_ok(&ctx, &m);
	assert_int_equal(t->u.seq.n, 9);
	struct pv **it = t->u.seq.items;
	assert_int_equal(it[0]->kind, PV_TUPLE);
	assert_int_equal(it[0]->u.seq.n, 0);
	assert_int_equal(it[1]->u.seq.n, 1);
	assert_int_equal(it[2]->u.seq.n, 2);
	assert_int_equal(it[3]->u.seq.n, 3);
	assert_int_equal(it[3]->u.seq.items[2]->u.i, 3);
	assert_int_equal(it[4]->kind, PV_LIST);
	assert_int_equal(it[4]->u.seq.n, 3);
	assert_int_equal(it[4]->u.seq.items[2]->u.i, 9);
	assert_string_equal(it[5]->u.seq.items[0]->u.str.s, "x");
	assert_int_equal(it[6]->kind, PV_DICT);
	assert_string_equal(it[6]->u.dict.keys[0]->u.str.s, "k");
	assert_int_equal(it[7]->u.dict.n, 2);
	assert_int_equal(it[7]->u.dict.vals[1]->u.i, 3);
	assert_int_equal(it[8]->u.dict.keys[0]->u.i, 5);
	assert_true(it[8]->u.dict.vals[0]->u.f == 0.25);
	assert_int_equal(t->depth, 2);
	kiln_ctx_free(&ctx);
	free(p.b);
}

static void test_memo(void **state)
{
	struct pk p = pk_new();
	pk_op(&p, '(');
	pk_str(&p, "s");
	PK_LIT(&p, "q\x03");                 /* BINPUT 3 */
	PK_LIT(&p, "h\x03");                 /* BINGET 3 */
	pk_op(&p, ']');
	PK_LIT(&p, "r\x00\x01\x00\x00");     /* LONG_BINPUT 256 */
	PK_LIT(&p, "j\x00\x01\x00\x00");     /* LONG_BINGET 256 */
	pk_int(&p, 4);
	pk_op(&p, 0x94);                          /* MEMOIZE -> slot 2 (two slots set) */
	PK_LIT(&p, "h\x02");
	pk_op(&p, 't');
	pk_op(&p, '.');
	struct mem_ar m;
	mem_ar_init(&m, &p);
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct pv *t = unpickle_ok(&ctx, &m);
	assert_int_equal(t->u.seq.n, 6);
	assert_ptr_equal(t->u.seq.items[0], t->u.seq.items[1]);
	assert_ptr_equal(t->u.seq.items[2], t->u.seq.items[3]);
	assert_int_equal(t->u.seq.items[2]->kind, PV_LIST);
	assert_ptr_equal(t->u.seq.items[4], t->u.seq.items[5]);
	assert_int_equal(t->u.seq.items[5]->u.i, 4);
	kiln_ctx_free(&ctx);
	free(p.b);
}

static void test_memo_errors(void **state)
{
	struct pk p = pk_new();
	pk_int(&p, 1);
	PK_LIT(&p, "h\x05");
	pk_op(&p, '.');
	unpickle_err(&p, "mem.pt: data.pkl: error: offset 4: BINGET of memo index 5, which is not set");

	p = pk_new();
	pk_int(&p, 1);
	PK_LIT(&p, "r\xff\xff\xff\xff");
	pk_op(&p, '.');
	unpickle_err(&p, "offset 4: memo index 4294967295 exceeds the limit");

	p = pk_new();
	PK_LIT(&p, "j\xff\xff\xff\x7f");
	pk_op(&p, '.');
	unpickle_err(&p, "LONG_BINGET of memo index 2147483647, which is not set");

	p = pk_new(); /* BINPUT on an empty stack */
	PK_LIT(&p, "q\x00");
	pk_op(&p, '.');
	unpickle_err(&p, "stack underflow in BINPUT");

	p = pk_new(); /* a list appended to itself */
	pk_op(&p, ']');
	PK_LIT(&p, "q\x00h\x00");
	pk_op(&p, 'a');
	pk_op(&p, '.');
	unpickle_err(&p, "cyclic pickles are unsupported");

	p = pk_new(); /* L = [], M = [L], L.append(M) */
	pk_op(&p, ']');
	PK_LIT(&p, "q\x00");
	pk_op(&p, ']');
	PK_LIT(&p, "h\x00");
	pk_op(&p, 'a');
	pk_op(&p, 'a');
	pk_op(&p, '.');
	unpickle_err(&p, "a list is modified after being stored in another value");

	p = pk_new(); /* a dict stored in itself */
	pk_op(&p, '}');
	PK_LIT(&p, "q\x00");
	pk_str(&p, "self");
	PK_LIT(&p, "h\x00");
	pk_op(&p, 's');
	pk_op(&p, '.');
	unpickle_err(&p, "cyclic pickles are unsupported");
}

static void test_objects(void **state)
{
	struct pk p = pk_new();
	pk_global(&p, "__torch__.foo", "Bar");
	pk_op(&p, ')');
	pk_op(&p, 0x81);
	pk_op(&p, '}');
	pk_op(&p, '(');
	pk_str(&p, "a");
	pk_int(&p, 1);
	pk_str(&p, "0");
	pk_global(&p, "__torch__", "Inner");
	pk_op(&p, ')');
	pk_op(&p, 0x81);
	pk_op(&p, '}');
	pk_op(&p, 'b');                          /* frozen-style: no attributes */
	pk_str(&p, "dev");
	pk_global(&p, "torch", "device");
	pk_str(&p, "cpu");
	pk_op(&p, 0x85);
	pk_op(&p, 'R');
	pk_op(&p, 'u');
	pk_op(&p, 'b');
	pk_op(&p, '.');
	struct mem_ar m;
	mem_ar_init(&m, &p);
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct pv *o = unpickle_ok(&ctx, &m);
	assert_int_equal(o->kind, PV_OBJECT);
	assert_string_equal(o->u.obj.qualname, "__torch__.foo.Bar");
	assert_int_equal(o->u.obj.n, 3);
	assert_string_equal(o->u.obj.names[1], "0");
	assert_int_equal(pv_attr(o, "dev")->kind, PV_DEVICE);
	assert_string_equal(pv_attr(o, "dev")->u.str.s, "cpu");
	assert_int_equal(pv_attr(o, "a")->u.i, 1);
	struct pv *in = pv_attr(o, "0");
	assert_int_equal(in->kind, PV_OBJECT);
	assert_string_equal(in->u.obj.qualname, "__torch__.Inner");
	assert_int_equal(in->u.obj.n, 0);
	assert_null(pv_attr(in, "a"));
	assert_null(pv_attr(pv_attr(o, "a"), "x"));
	kiln_ctx_free(&ctx);
	free(p.b);

	p = pk_new(); /* device inside a dict */
	pk_op(&p, '}');
	pk_str(&p, "d");
	pk_global(&p, "torch", "device");
	pk_str(&p, "cuda");
	pk_int(&p, 1);
	pk_op(&p, 0x86);
	pk_op(&p, 'R');
	pk_op(&p, 's');
	pk_op(&p, '.');
	mem_ar_init(&m, &p);
	ctx_init(&ctx);
	o = unpickle_ok(&ctx, &m);
	assert_int_equal(o->u.dict.vals[0]->kind, PV_DEVICE);
	assert_string_equal(o->u.dict.vals[0]->u.str.s, "cuda:1");
	kiln_ctx_free(&ctx);
	free(p.b);
}

static void test_object_errors(void **state)
{
	struct pk p = pk_new(); /* __setstate__ state (a tuple), as quantized modules have */
	pk_global(&p, "__torch__.torch.ao.nn.quantized.modules.conv", "Conv2d");
	pk_op(&p, ')');
	pk_op(&p, 0x81);
	pk_int(&p, 1);
	pk_int(&p, 2);
	pk_op(&p, 0x86);
	pk_op(&p, 'b');
	pk_op(&p, '.');
	unpickle_err(&p, "class '__torch__.torch.ao.nn.quantized.modules.conv.Conv2d' is restored "
	             "from a tuple state with __setstate__; objects with __getstate__/__setstate__ "
	             "are unsupported");

	p = pk_new(); /* NEWOBJ with arguments */
	pk_global(&p, "__torch__", "A");
	pk_int(&p, 1);
	pk_op(&p, 0x85);
	pk_op(&p, 0x81);
	pk_op(&p, '.');
	unpickle_err(&p, "NEWOBJ of '__torch__.A' with arguments is unsupported");

	p = pk_new(); /* NEWOBJ on an allowlisted function */
	pk_global(&p, "collections", "OrderedDict");
	pk_op(&p, ')');
	pk_op(&p, 0x81);
	pk_op(&p, '.');
	unpickle_err(&p, "NEWOBJ on global 'collections.OrderedDict', expected a __torch__ class");

	p = pk_new(); /* a class as an attribute value */
	pk_op(&p, ']');
	pk_global(&p, "__torch__", "A");
	pk_op(&p, 'a');
	pk_op(&p, '.');
	unpickle_err(&p, "a class, function or storage reference is used as a value inside a list");

	p = pk_new(); /* a bare global as the result */
	pk_global(&p, "torch", "device");
	pk_op(&p, '.');
	unpickle_err(&p, "offset 16: the pickle's result is or contains a class");

	p = pk_new(); /* non-string attribute name */
	pk_global(&p, "__torch__", "A");
	pk_op(&p, ')');
	pk_op(&p, 0x81);
	pk_op(&p, '}');
	pk_int(&p, 3);
	pk_int(&p, 4);
	pk_op(&p, 's');
	pk_op(&p, 'b');
	pk_op(&p, '.');
	unpickle_err(&p, "attribute 0 of '__torch__.A' has a non-string name");

	p = pk_new(); /* class called with REDUCE */
	pk_global(&p, "__torch__", "E");
	pk_int(&p, 1);
	pk_op(&p, 0x85);
	pk_op(&p, 'R');
	pk_op(&p, '.');
	unpickle_err(&p, "class '__torch__.E' built with REDUCE");

	p = pk_new(); /* build_intlist with a string element */
	pk_global(&p, "torch.jit._pickle", "build_intlist");
	pk_op(&p, ']');
	pk_str(&p, "no");
	pk_op(&p, 'a');
	pk_op(&p, 0x85);
	pk_op(&p, 'R');
	pk_op(&p, '.');
	unpickle_err(&p, "torch.jit._pickle.build_intlist: element 0 is a str, expected int");
}

/* Float storage records for the tensor tests. */
static const float storage10[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

static void test_tensors(void **state)
{
	struct pk p = pk_new();
	pk_op(&p, '(');
	pk_tensor(&p, "FloatStorage", "0", 10, 0, (int64_t[]){2, 5}, (int64_t[]){5, 1}, 2);
	pk_tensor(&p, "FloatStorage", "0", 10, 4, (int64_t[]){3}, (int64_t[]){2}, 1);
	pk_tensor(&p, "FloatStorage", "0", 10, 9, NULL, NULL, 0);        /* 0-dim, last elem */
	pk_tensor(&p, "FloatStorage", "0", 10, 0, (int64_t[]){1000, 10}, (int64_t[]){0, 1}, 2);
	pk_tensor(&p, "FloatStorage", "0", 10, 10, (int64_t[]){0, 3}, (int64_t[]){3, 1}, 2);
	pk_tensor(&p, "LongStorage", "e", 0, 0, (int64_t[]){0}, (int64_t[]){1}, 1);
	/* _rebuild_parameter(tensor, True, OrderedDict()) */
	pk_global(&p, "torch._utils", "_rebuild_parameter");
	pk_tensor(&p, "FloatStorage", "0", 10, 0, (int64_t[]){10}, (int64_t[]){1}, 1);
	pk_op(&p, 0x88);
	pk_global(&p, "collections", "OrderedDict");
	pk_op(&p, ')');
	pk_op(&p, 'R');
	pk_op(&p, 0x87);
	pk_op(&p, 'R');
	/* build_tensorlist([t]) */
	pk_global(&p, "torch.jit._pickle", "build_tensorlist");
	pk_op(&p, ']');
	pk_tensor(&p, "FloatStorage", "0", 10, 1, (int64_t[]){1}, (int64_t[]){1}, 1);
	pk_op(&p, 'a');
	pk_op(&p, 0x85);
	pk_op(&p, 'R');
	pk_op(&p, 't');
	pk_op(&p, '.');
	struct mem_ar m;
	mem_ar_init(&m, &p);
	mem_ar_add(&m, "data/0", storage10, sizeof storage10);
	mem_ar_add(&m, "data/e", "", 0);
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct pv *t = unpickle_ok(&ctx, &m);
	assert_int_equal(t->u.seq.n, 8);
	struct pv **it = t->u.seq.items;
	for (int i = 0; i < 8; i++)
		assert_int_equal(it[i]->kind, i == 7 ? PV_LIST : PV_TENSOR);
	const struct pt_tensor *a = it[0]->u.tensor, *b = it[1]->u.tensor;
	assert_ptr_equal(a->storage, b->storage);         /* shared by key, no memo */
	assert_ptr_equal(a->storage->data, storage10);    /* not copied */
	assert_int_equal(a->storage->numel, 10);
	assert_int_equal(b->offset, 4);
	assert_int_equal(b->strides[0], 2);
	assert_int_equal(it[2]->u.tensor->rank, 0);
	assert_int_equal(it[3]->u.tensor->sizes[0], 1000); /* expanded, stride 0 */
	assert_int_equal(it[5]->u.tensor->dtype, DT_I64);
	assert_int_equal(it[5]->u.tensor->storage->numel, 0);
	assert_int_equal(it[6]->u.tensor->requires_grad, 1);
	assert_int_equal(it[0]->u.tensor->requires_grad, 0);
	assert_string_equal(it[7]->type_tag, "List[Tensor]");
	assert_ptr_equal(it[7]->u.seq.items[0]->u.tensor->storage, a->storage);
	kiln_ctx_free(&ctx);
	free(p.b);
}

/* One tensor over data/0 (storage10) that must be refused with `want`. */
static void tensor_err(const char *stype, int64_t numel, int64_t off, const int64_t *sizes,
                       const int64_t *strides, int rank, const char *want)
{
	struct pk p = pk_new();
	pk_tensor(&p, stype, "0", numel, off, sizes, strides, rank);
	pk_op(&p, '.');
	struct mem_ar m;
	mem_ar_init(&m, &p);
	mem_ar_add(&m, "data/0", storage10, sizeof storage10);
	unpickle_err_ar(&m, want);
	free(p.b);
}

static void test_tensor_errors(void **state)
{
	int64_t one[] = {1};
	/* persistent id naming a missing record */
	struct pk p = pk_new();
	pk_tensor(&p, "FloatStorage", "7", 1, 0, one, one, 1);
	pk_op(&p, '.');
	unpickle_err(&p, "persistent id refers to missing record 'data/7'");
	/* storage larger than its record */
	p = pk_new();
	pk_tensor(&p, "FloatStorage", "3", 1000000, 0, one, one, 1);
	pk_op(&p, '.');
	struct mem_ar m;
	mem_ar_init(&m, &p);
	mem_ar_add(&m, "data/3", storage10, 40);
	unpickle_err_ar(&m, "storage 'data/3' declares 1000000 elements (4000000 bytes) but the "
	                "record holds 40 bytes");
	free(p.b);
	/* 10^12 elements: refused without allocating */
	tensor_err("FloatStorage", 1000000000000LL, 0, (int64_t[]){1000000000000LL}, one, 1,
	           "storage 'data/0' declares 1000000000000 elements (4000000000000 bytes)");
	tensor_err("FloatStorage", 10, 0, (int64_t[]){1000000, 1000000}, (int64_t[]){1000000, 1}, 2,
	           "tensor with offset 0, sizes [1000000, 1000000], strides [1000000, 1] "
	           "reaches past the end of storage 'data/0' of 10 elements");
	tensor_err("FloatStorage", 10, 0, (int64_t[]){1000000, 1000000}, (int64_t[]){0, 0}, 2,
	           "tensor of 1000000000000 elements is too large");
	tensor_err("FloatStorage", 10, 0, (int64_t[]){INT64_MAX, INT64_MAX}, (int64_t[]){0, 0}, 2,
	           "reaches past the end");
	tensor_err("FloatStorage", 10, INT64_MAX, (int64_t[]){2}, (int64_t[]){INT64_MAX}, 1,
	           "reaches past the end");
	tensor_err("FloatStorage", 10, 8, (int64_t[]){3}, one, 1, "reaches past the end");
	tensor_err("FloatStorage", 10, 11, (int64_t[]){0}, one, 1, "reaches past the end");
	tensor_err("FloatStorage", 10, -1, one, one, 1, "negative tensor storage offset -1");
	tensor_err("FloatStorage", 10, 0, (int64_t[]){-2}, one, 1,
	           "tensor sizes must be non-negative, got -2");
	tensor_err("FloatStorage", 10, 0, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1},
	           (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, 9,
	           "tensor of rank 9: at most 8 dimensions are supported");
	tensor_err("ComplexFloatStorage", 10, 0, one, one, 1,
	           "unsupported tensor element type 'torch.ComplexFloatStorage'");
	tensor_err("QInt8Storage", 10, 0, one, one, 1,
	           "unsupported tensor element type 'torch.QInt8Storage'");
	tensor_err("FloatStorage", -1, 0, one, one, 1,
	           "persistent id: element count must be a non-negative int");

	/* same key, two dtypes */
	p = pk_new();
	pk_op(&p, '(');
	pk_tensor(&p, "FloatStorage", "0", 10, 0, one, one, 1);
	pk_tensor(&p, "IntStorage", "0", 10, 0, one, one, 1);
	pk_op(&p, 't');
	pk_op(&p, '.');
	mem_ar_init(&m, &p);
	mem_ar_add(&m, "data/0", storage10, sizeof storage10);
	unpickle_err_ar(&m, "storage 'data/0' is declared twice with different types or sizes");
	free(p.b);

	/* _rebuild_tensor_v2 with 5 arguments */
	p = pk_new();
	pk_global(&p, "torch._utils", "_rebuild_tensor_v2");
	pk_op(&p, '(');
	pk_int(&p, 1);
	pk_int(&p, 1);
	pk_int(&p, 1);
	pk_int(&p, 1);
	pk_int(&p, 1);
	pk_op(&p, 't');
	pk_op(&p, 'R');
	pk_op(&p, '.');
	unpickle_err(&p, "_rebuild_tensor_v2 takes 6 or 7 arguments, got 5");

	/* a persistent id that is not a storage */
	p = pk_new();
	pk_str(&p, "module");
	pk_op(&p, 0x85);
	pk_op(&p, 'Q');
	pk_op(&p, '.');
	unpickle_err(&p, "offset 14: unsupported persistent id");
}

/* ---- forbidden globals and opcodes ---- */

static void test_forbidden_globals(void **state)
{
	struct pk p = pk_new(); /* os.system('ls') */
	pk_global(&p, "os", "system");
	pk_str(&p, "ls");
	pk_op(&p, 0x85);
	pk_op(&p, 'R');
	pk_op(&p, '.');
	unpickle_err(&p, "mem.pt: data.pkl: error: offset 2: forbidden global 'os.system': kiln "
	             "never executes code from a model file");

	static const char *bad[][2] = {
		{"builtins", "eval"}, {"posix", "system"}, {"subprocess", "Popen"},
		{"__builtin__", "exec"}, {"torch", "load"}, {"torch._utils", "rebuild"},
		{"__torch_x", "A"}, {"torch.jit._pickle", "build_tensor_from_id"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		p = pk_new();
		pk_global(&p, bad[i][0], bad[i][1]);
		pk_op(&p, ')');
		pk_op(&p, 'R');
		pk_op(&p, '.');
		char want[200];
		snprintf(want, sizeof want, "forbidden global '%s.%s'", bad[i][0], bad[i][1]);
		unpickle_err(&p, want);
	}

	p = pk_new();
	pk_global(&p, "builtins", "complex");
	pk_float(&p, 1);
	pk_float(&p, 2);
	pk_op(&p, 0x86);
	pk_op(&p, 'R');
	pk_op(&p, '.');
	unpickle_err(&p, "offset 2: complex numbers are not supported");

	p = pk_new();
	pk_global(&p, "torch._utils", "_rebuild_qtensor");
	pk_op(&p, '.');
	unpickle_err(&p, "unsupported tensor kind 'torch._utils._rebuild_qtensor'");

	p = pk_new(); /* a newline-free GLOBAL runs off the end */
	PK_LIT(&p, "cos");
	unpickle_err(&p, "truncated pickle: GLOBAL name runs past the end");

	p = pk_new();
	PK_LIT(&p, "cos\x1b[2J\nsystem\n.");
	unpickle_err(&p, "malformed GLOBAL name (byte 0x1b)");
}

static void test_forbidden_opcodes(void **state)
{
	struct pk p = pk_new(); /* INST 'os system' */
	pk_op(&p, '(');
	pk_str(&p, "ls");
	PK_LIT(&p, "ios\nsystem\n");
	pk_op(&p, '.');
	unpickle_err(&p, "offset 10: unsupported pickle opcode INST (0x69)");

	p = pk_new(); /* OBJ */
	pk_op(&p, '(');
	pk_global(&p, "os", "system");
	pk_op(&p, 'o');
	pk_op(&p, '.');
	unpickle_err(&p, "forbidden global 'os.system'");

	p = pk_new();
	pk_op(&p, '(');
	pk_op(&p, 'o');
	pk_op(&p, '.');
	unpickle_err(&p, "offset 3: unsupported pickle opcode OBJ (0x6f)");

	static const char ops[] = "SIFLVPgp012BTU";
	for (const char *c = ops; *c; c++) {
		p = pk_new();
		pk_op(&p, *c);
		pk_op(&p, '.');
		unpickle_err(&p, "offset 2: unsupported pickle opcode");
	}
	p = pk_new();
	pk_op(&p, 0x93); /* STACK_GLOBAL */
	unpickle_err(&p, "unsupported pickle opcode STACK_GLOBAL (0x93)");
	p = pk_new();
	pk_op(&p, 0xff);
	unpickle_err(&p, "offset 2: unknown pickle opcode 0xff");
	p = (struct pk){0};
	PK_LIT(&p, "\x80\x01.");
	unpickle_err(&p, "offset 0: unsupported pickle protocol 1");
}

/* ---- structural errors ---- */

static void test_stack_errors(void **state)
{
	struct pk p = pk_new();
	pk_op(&p, 'N');
	pk_op(&p, 'N');
	pk_op(&p, '.');
	unpickle_err(&p, "offset 4: STOP with 2 values on the stack, expected 1");

	p = pk_new();
	pk_op(&p, '.');
	unpickle_err(&p, "STOP with 0 values on the stack");

	p = pk_new();
	pk_op(&p, '(');
	pk_op(&p, 'N');
	pk_op(&p, '.');
	unpickle_err(&p, "STOP with 1 unclosed MARKs");

	p = pk_new();
	pk_op(&p, 't');
	unpickle_err(&p, "offset 2: TUPLE without a matching MARK");

	p = pk_new();
	pk_op(&p, ']');
	pk_op(&p, 'l');
	unpickle_err(&p, "offset 3: LIST without a matching MARK");

	p = pk_new();
	pk_op(&p, 'e');
	unpickle_err(&p, "APPENDS without a matching MARK");

	p = pk_new();
	pk_op(&p, '(');
	pk_op(&p, 'e');
	unpickle_err(&p, "stack underflow in APPENDS");

	p = pk_new();
	pk_op(&p, 'N');
	pk_op(&p, '(');
	pk_op(&p, 0x85); /* TUPLE1 may not cross the MARK */
	unpickle_err(&p, "stack underflow in TUPLE1");

	p = pk_new();
	pk_op(&p, 'N');
	pk_op(&p, 'a');
	unpickle_err(&p, "stack underflow in APPEND");

	p = pk_new();
	pk_op(&p, ')');
	pk_op(&p, 'N');
	pk_op(&p, 'a');
	unpickle_err(&p, "APPEND on a tuple, expected a list");

	p = pk_new();
	pk_op(&p, '(');
	pk_op(&p, 'N');
	pk_op(&p, 'd');
	unpickle_err(&p, "DICT with an odd number of items");

	p = pk_new();
	pk_op(&p, ']');
	pk_op(&p, 'N');
	pk_op(&p, 'N');
	pk_op(&p, 's');
	unpickle_err(&p, "SETITEM on a list, expected a dict");

	p = pk_new();
	pk_op(&p, 'N');
	pk_op(&p, 'N');
	pk_op(&p, 'b');
	unpickle_err(&p, "BUILD on a None is unsupported");

	p = pk_new();
	pk_op(&p, 'N');
	unpickle_err(&p, "offset 3: pickle ends without STOP");

	p = pk_new();
	PK_LIT(&p, "J\x01\x02");
	unpickle_err(&p, "offset 2: truncated pickle: BININT needs 4 bytes of argument, 2 left");

	p = pk_new();
	PK_LIT(&p, "G\x01");
	unpickle_err(&p, "truncated pickle: BINFLOAT needs 8 bytes");

	p = pk_new();
	PK_LIT(&p, "\x8a\x09" "123456789");
	unpickle_err(&p, "LONG1 of 9 bytes: integers wider than 64 bits are unsupported");

	p = pk_new();
	pk_op(&p, 'R');
	unpickle_err(&p, "stack underflow in REDUCE");

	p = pk_new();
	pk_op(&p, 'N');
	pk_op(&p, ')');
	pk_op(&p, 'R');
	pk_op(&p, '.');
	unpickle_err(&p, "REDUCE on a None, expected a global");

	p = (struct pk){0};
	unpickle_err(&p, "offset 0: pickle ends without STOP");
}

static void test_string_errors(void **state)
{
	struct pk p = pk_new();
	PK_LIT(&p, "X\xff\xff\xff\xff" "abc");
	unpickle_err(&p, "offset 2: BINUNICODE length 4294967295 runs past the end of the pickle "
	             "(3 bytes left)");

	p = pk_new();
	PK_LIT(&p, "X\x05\x00\x00\x00" "abcd");
	unpickle_err(&p, "BINUNICODE length 5 runs past the end of the pickle (4 bytes left)");

	p = pk_new();
	PK_LIT(&p, "\x8c\x02" "a");
	unpickle_err(&p, "SHORT_BINUNICODE length 2 runs past the end");

	p = pk_new();
	PK_LIT(&p, "X\x01\x00");
	unpickle_err(&p, "truncated pickle: BINUNICODE needs 4 bytes of argument, 2 left");
}

/* Nesting far beyond any model is refused, not recursed into. */
static void test_deep_nesting(void **state)
{
	struct pk p = pk_new();
	for (int i = 0; i < 100000; i++)
		pk_op(&p, ']');
	for (int i = 0; i < 99999; i++)
		pk_op(&p, 'a');
	pk_op(&p, '.');
	unpickle_err(&p, "values nested deeper than 200 levels");

	p = pk_new();
	for (int i = 0; i < 100000; i++)
		pk_op(&p, '(');
	for (int i = 0; i < 100000; i++)
		pk_op(&p, 't');
	pk_op(&p, '.');
	unpickle_err(&p, "values nested deeper than 200 levels");

	p = pk_new(); /* 150 levels are fine */
	for (int i = 0; i < 150; i++)
		pk_op(&p, '(');
	for (int i = 0; i < 150; i++)
		pk_op(&p, 't');
	pk_op(&p, '.');
	struct mem_ar m;
	mem_ar_init(&m, &p);
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	assert_int_equal(unpickle_ok(&ctx, &m)->depth, 149);
	kiln_ctx_free(&ctx);
	free(p.b);
}

static void test_missing_pickle(void **state)
{
	struct pk p = pk_new();
	struct mem_ar m;
	mem_ar_init(&m, &p);
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct unpickle_call c = {&m.ar, "constants.pkl", "constants", NULL};
	assert_int_equal(kiln_protect(&ctx, do_unpickle, &c), 1);
	assert_string_equal(ctx.errors[0], "mem.pt: error: missing record 'constants.pkl'");
	kiln_ctx_free(&ctx);
	free(p.b);
}

/* ---- bad archives ---- */

static void test_not_zip(void **state)
{
	char *path = tmp_file();
	write_file(path, "hello, world\n", 13);
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct open_call c = {.path = path};
	assert_int_equal(kiln_protect(&ctx, do_open, &c), 1);
	char want[256];
	snprintf(want, sizeof want, "%s: error: not a zip archive (TorchScript models are zip "
	         "files written by torch.jit.save)", path);
	assert_string_equal(ctx.errors[0], want);
	kiln_ctx_free(&ctx);

	write_file(path, "", 0);
	open_err(path, "not a zip archive");
	write_file(path, "\x80\x02}q\x00.", 6);
	open_err(path, "a legacy torch.save pickle, not a TorchScript module");
	write_file(path, "PYTORCH1\0\0\0\0", 12);
	open_err(path, "unsupported preview TorchScript format (PYTORCH1 magic)");
	write_file(path, "PK\x03\x04garbage", 11);
	open_err(path, "truncated or corrupt zip archive");
	unlink(path);
	free(path);
	open_err("/nonexistent/kiln/model.pt", "/nonexistent/kiln/model.pt: error: cannot open: "
	         "No such file or directory");
	open_err("/tmp", "/tmp: error: not a regular file");
}

static void test_truncated_archive(void **state)
{
	size_t n;
	unsigned char *b = read_file(FIXTURE("linear.pt"), &n);
	char *path = tmp_file();
	write_file(path, b, n / 2);
	open_err(path, "truncated or corrupt zip archive");
	/* every cut of the file, at a coarse step, fails cleanly */
	for (size_t k = 0; k < n; k += 61) {
		write_file(path, b, k);
		struct kiln_ctx ctx;
		ctx_init(&ctx);
		struct open_call c = {.path = path};
		assert_int_equal(kiln_protect(&ctx, do_open, &c), 1);
		kiln_ctx_free(&ctx);
	}
	unlink(path);
	free(path);
	free(b);
}

/* Corrupt bytes inside records: CRC errors are diagnostics. */
static void test_corrupt_record(void **state)
{
	size_t n;
	unsigned char *b = read_file(FIXTURE("linear.pt"), &n);
	char *path = tmp_file();
	/* the first record's data (data/0, stored) starts at offset 64 */
	b[70] ^= 0x55;
	write_file(path, b, n);
	open_err(path, "record 'data/0' is corrupt: CRC error");
	b[70] ^= 0x55;
	/* every byte of the archive flipped in turn: result or diagnostic, never a crash */
	for (size_t k = 0; k < n; k++) {
		b[k] ^= 0xa5;
		write_file(path, b, n);
		b[k] ^= 0xa5;
		struct kiln_ctx ctx;
		ctx_init(&ctx);
		struct open_call c = {.path = path};
		kiln_protect(&ctx, do_open, &c);
		kiln_ctx_free(&ctx);
	}
	unlink(path);
	free(path);
	free(b);
}

static const struct zent good_entries[] = {
	{"m/data.pkl", "\x80\x02).", 0},
	{"m/constants.pkl", "\x80\x02).", 1},
	{"m/code/__torch__.py", "class M(Module):\n  pass\n", 1},
	{"m/version", "3\n", 0},
};

/* Write good_entries with entry `skip` left out (or none if skip < 0). */
static void zip_without(const char *path, int skip)
{
	struct zent e[4];
	size_t n = 0;
	for (int i = 0; i < 4; i++)
		if (i != skip)
			e[n++] = good_entries[i];
	make_zip(path, e, n);
}

static void test_zip_layouts(void **state)
{
	char *path = tmp_file();
	zip_without(path, -1);
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct pt_archive *ar = open_ok(&ctx, path);
	assert_string_equal(ar->prefix, "m");
	assert_int_equal(ar->nrecs, 4);
	assert_int_equal(ar->version, 3);
	const struct pt_record *r = pt_find(ar, "constants.pkl"); /* deflated */
	assert_int_equal(r->size, 4);
	assert_memory_equal(r->data, "\x80\x02).", 4);
	kiln_ctx_free(&ctx);

	char want[256];
	zip_without(path, 0);
	snprintf(want, sizeof want, "%s: error: missing record 'm/data.pkl'", path);
	open_err(path, want);
	zip_without(path, 1);
	open_err(path, "missing record 'm/constants.pkl'");
	zip_without(path, 2);
	open_err(path, "missing directory 'm/code/'");
	zip_without(path, 3);
	open_err(path, "missing record 'm/version'");

	static const struct zent state_dict[] = {
		{"sd/data.pkl", "\x80\x02}q\x00.", 0}, {"sd/data/0", "abcd", 0},
		{"sd/version", "3\n", 0},
	};
	make_zip(path, state_dict, 3);
	open_err(path, "a state dict saved with torch.save, not a TorchScript module; save with "
	         "torch.jit.save");

	static const struct zent legacy[] = {
		{"l/version", "1\n", 0}, {"l/code/l.py", "def forward(self):\n", 0},
		{"l/attributes.pkl", "\x80\x02).", 0}, {"l/model.json", "{}", 0},
	};
	make_zip(path, legacy, 4);
	open_err(path, "legacy TorchScript format (model.json, torch 1.0-1.2) is not supported");

	static const struct zent newer[] = {
		{"archive/data.pkl", "\x80\x02).", 0}, {"archive/constants.pkl", "\x80\x02).", 0},
		{"archive/code/__torch__.py", "", 0}, {"archive/version", "3\n", 0},
		{"archive/.data/version", "10\n", 0}, {"archive/byteorder", "little", 0},
		{"other/stray", "x", 0}, {"archive/extra/", "", 0},
	};
	make_zip(path, newer, 8);
	ctx_init(&ctx);
	ar = open_ok(&ctx, path);
	assert_string_equal(ar->prefix, "archive");
	assert_int_equal(ar->version, 10);
	assert_int_equal(ar->nrecs, 6);
	assert_null(pt_find(ar, "stray"));
	kiln_ctx_free(&ctx);

	static const struct zent big_endian[] = {
		{"a/data.pkl", "\x80\x02).", 0}, {"a/constants.pkl", "\x80\x02).", 0},
		{"a/code/__torch__.py", "", 0}, {"a/version", "3\n", 0}, {"a/byteorder", "big", 0},
	};
	make_zip(path, big_endian, 5);
	open_err(path, "unsupported byte order 'big'");

	static const struct zent bad_version[] = {
		{"a/data.pkl", "\x80\x02).", 0}, {"a/constants.pkl", "\x80\x02).", 0},
		{"a/code/__torch__.py", "", 0}, {"a/version", "three\n", 0},
	};
	make_zip(path, bad_version, 4);
	open_err(path, "malformed record 'version'");

	static const struct zent no_prefix[] = {{"data.pkl", "\x80\x02).", 0}};
	make_zip(path, no_prefix, 1);
	open_err(path, "first zip entry 'data.pkl' is not inside a top directory");
	unlink(path);
	free(path);
}

/* Patch the uncompressed size of the central-directory entry named `name`. */
static void patch_central_size(unsigned char *b, size_t n, const char *name, uint32_t size)
{
	size_t len = strlen(name);
	for (size_t i = 0; i + 46 + len <= n; i++) {
		if (memcmp(b + i, "PK\x01\x02", 4) != 0)
			continue;
		if (b[i + 28] == len && memcmp(b + i + 46, name, len) == 0) {
			for (int k = 0; k < 4; k++)
				b[i + 24 + k] = (unsigned char)(size >> (8 * k));
			return;
		}
	}
	fail_msg("central directory entry %s not found", name);
}

/* A record whose declared size is absurd is refused before any allocation. */
static void test_absurd_sizes(void **state)
{
	char *path = tmp_file();
	static const struct zent e[] = {
		{"m/data.pkl", "\x80\x02).", 0},
		{"m/constants.pkl", "\x80\x02).", 1},
		{"m/code/__torch__.py", "class M(Module):\n  pass\n", 1},
		{"m/version", "3\n", 0},
	};
	make_zip(path, e, 4);
	size_t n;
	unsigned char *b = read_file(path, &n);
	patch_central_size(b, n, "m/constants.pkl", 0xfffffff0u);
	write_file(path, b, n);
	struct kiln_ctx ctx;
	ctx_init(&ctx);
	struct open_call c = {.path = path};
	assert_int_equal(kiln_protect(&ctx, do_open, &c), 1);
	assert_true(strstr(ctx.errors[0], "impossible ratio") || strstr(ctx.errors[0], "corrupt"));
	kiln_ctx_free(&ctx);
	free(b);

	make_zip(path, e, 4);
	b = read_file(path, &n);
	patch_central_size(b, n, "m/data.pkl", 0xfffffff0u);
	write_file(path, b, n);
	ctx_init(&ctx);
	assert_int_equal(kiln_protect(&ctx, do_open, &c), 1);
	assert_non_null(strstr(ctx.errors[0], "corrupt"));
	kiln_ctx_free(&ctx);
	free(b);
	unlink(path);
	free(path);
}

/* Running out of memory while the zip is open unwinds cleanly (libzip state is released;
 * valgrind/ASan see no leak) and reports "out of memory". */
static void test_out_of_memory(void **state)
{
	char *path = tmp_file();
	size_t big = 300 * 1024;
	char *payload = malloc(big + 1);
	memset(payload, 'w', big);
	payload[big] = 0;
	struct zent e[5];
	memcpy(e, good_entries, sizeof good_entries);
	e[4] = (struct zent){"m/data/0", payload, 0};
	make_zip(path, e, 5);
	int n, failures = 0;
	for (n = 1; n < 100; n++) {
		struct kiln_ctx ctx;
		ctx_init(&ctx);
		arena_fail_after(n);
		struct open_call c = {.path = path};
		int rc = kiln_protect(&ctx, do_open, &c);
		arena_fail_after(0);
		if (rc)
			assert_error(&ctx, "out of memory");
		kiln_ctx_free(&ctx);
		if (!rc)
			break;
		failures++;
	}
	assert_true(n < 100);
	assert_true(failures >= 2); /* at least one failure happened with the zip open */
	unlink(path);
	free(path);
	free(payload);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_linear),
		cmocka_unit_test(test_fixture_attrs),
		cmocka_unit_test(test_fixture_truncations),
		cmocka_unit_test(test_fixture_bitflips),
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_containers),
		cmocka_unit_test(test_memo),
		cmocka_unit_test(test_memo_errors),
		cmocka_unit_test(test_objects),
		cmocka_unit_test(test_object_errors),
		cmocka_unit_test(test_tensors),
		cmocka_unit_test(test_tensor_errors),
		cmocka_unit_test(test_forbidden_globals),
		cmocka_unit_test(test_forbidden_opcodes),
		cmocka_unit_test(test_stack_errors),
		cmocka_unit_test(test_string_errors),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_missing_pickle),
		cmocka_unit_test(test_not_zip),
		cmocka_unit_test(test_truncated_archive),
		cmocka_unit_test(test_corrupt_record),
		cmocka_unit_test(test_zip_layouts),
		cmocka_unit_test(test_absurd_sizes),
		cmocka_unit_test(test_out_of_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
