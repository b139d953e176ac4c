/* base.h: what every layer of kiln shares: the compilation context, its arena,
 * source locations and the three kinds of failure (STYLE K5-K8).
 *
 * Lifetimes: everything a compilation allocates lives in ctx->arena and is freed
 * at once by kiln_ctx_free(). A pass may use ctx->scratch, which is reset by
 * arena_reset() when the pass returns. Only arena.c calls malloc.
 *
 * Failures:
 *   diag_error(ctx, loc, fmt, ...)  bad input: records "where: error: msg" and
 *                                   longjmps to the active kiln_try() boundary;
 *   diag_note/diag_error_soft       record without unwinding (to report many errors);
 *   fatal(fmt, ...)                 the environment (cannot open a file ...): prints, exit 1;
 *   KILN_ASSERT / unreachable()     a kiln bug: prints the C location, abort().
 */
#ifndef KILN_BASE_H
#define KILN_BASE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KILN_VERSION "0.1.0"

/* Element types. The numbers are kiln's own; dtype.c maps torch's ScalarType ints
 * (the `dtype=6` of TorchScript code, table in reference/torchscript-format.md §2.3). */
enum dtype {
	DT_UNKNOWN,
	DT_F32, DT_F64, DT_F16, DT_BF16,
	DT_I64, DT_I32, DT_I16, DT_I8, DT_U8, DT_BOOL,
	DT_COUNT
};

#define KILN_MAX_RANK 8 /* tensors of higher rank are refused with a diagnostic */

/* dtype.c */
enum dtype dtype_from_torch(int64_t scalar_type);   /* DT_UNKNOWN if unsupported */
int64_t dtype_to_torch(enum dtype dt);               /* -1 if none */
enum dtype dtype_from_storage(const char *name);     /* "FloatStorage" -> DT_F32 */
size_t dtype_size(enum dtype dt);                    /* bytes per element */
const char *dtype_name(enum dtype dt);               /* "f32", "i64", ... (IR text) */
const char *dtype_c_type(enum dtype dt);             /* "float", "int64_t", ... */

/* arena.c */

struct arena_chunk;

/* A bump allocator; objects are never freed one at a time. */
struct arena {
	struct arena_chunk *head; /* newest chunk, linked to older ones */
	size_t total;             /* bytes obtained from malloc so far */
	struct kiln_ctx *ctx;     /* for the out-of-memory diagnostic; may be NULL */
};

void *arena_alloc(struct arena *a, size_t size);  /* zeroed, 16-byte aligned */
void *arena_grow(struct arena *a, void *old, size_t oldsize, size_t newsize);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void arena_reset(struct arena *a);                /* frees every chunk */

/* Test hook (STYLE K15): the N-th chunk allocation from now on fails (0 = never). */
void arena_fail_after(long n);

/* A growable array of T in an arena: `struct vec v = {0}; VEC_PUSH(a, &v, T, x);` */
struct vec {
	void *data;    /* elements */
	size_t len;    /* number of elements in use */
	size_t cap;    /* capacity in elements */
};
void vec_reserve(struct arena *a, struct vec *v, size_t elem, size_t n);
#define VEC_PUSH(ar, v, T, x)                                            \
	do {                                                             \
		vec_reserve((ar), (v), sizeof(T), (v)->len + 1);         \
		((T *)(v)->data)[(v)->len++] = (x);                      \
	} while (0)
#define VEC_AT(v, T, i) (((T *)(v)->data)[i])

/* A map from NUL-terminated names to uint32_t values in an arena (open addressing; the
 * keys are not copied, so they must live as long as the map). `struct strmap m = {0};`
 * strmap_slot returns the value's slot, or NULL when name is absent and create is 0;
 * a created slot holds 0. */
struct strmap {
	const char **keys;
	uint32_t *vals;
	size_t cap, len;
};
uint32_t *strmap_slot(struct arena *a, struct strmap *m, const char *name, int create);

/* diag.c */

/* A source location. file is a path (or a record name inside an archive);
 * line/col are 1-based, 0 when unknown; node is a node or op name for binary inputs. */
struct loc {
	const char *file; /* path or "model.pt: data.pkl"; NULL when unknown */
	int line, col;    /* 1-based; 0 = unknown */
	const char *node; /* binary formats: "node 'Conv_12' (Conv)"; else NULL */
};

#define KILN_MAX_ERRORS 64

/* The state of one compilation. Everything lives here: no globals (A9). */
struct kiln_ctx {
	struct arena arena;    /* lifetime: the whole compilation */
	struct arena scratch;  /* lifetime: one pass */
	jmp_buf *unwind;       /* where diag_error longjmps; NULL = print and exit(1) */
	int nerrors;           /* diagnostics recorded so far */
	char *errors[KILN_MAX_ERRORS]; /* their text, "where: error: msg" */
	FILE *diag_out;        /* where diagnostics are echoed as they happen (NULL: nowhere) */
	int verify;            /* run ir_verify after every pass (tests, -v) */
	int verbose;           /* -v */
	const char *dump_dir;  /* --dump-ir DIR, or NULL */
};

void kiln_ctx_init(struct kiln_ctx *ctx);
void kiln_ctx_free(struct kiln_ctx *ctx);

/* Format a location as gcc does: "file:line:col" / "file: node 'x' (Op)" / "file". */
char *loc_str(struct arena *a, struct loc loc);

/* Bad input: record and unwind to kiln_try(). Never returns. */
_Noreturn void diag_error(struct kiln_ctx *ctx, struct loc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Bad input, but keep going (to report every unsupported operator at once). */
void diag_error_soft(struct kiln_ctx *ctx, struct loc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Unwind now if any soft error was recorded. */
void diag_check(struct kiln_ctx *ctx);
/* A warning: printed to diag_out, not counted as an error. */
void diag_warn(struct kiln_ctx *ctx, struct loc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The environment failed. A trailing ':' in fmt appends strerror(errno). */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

_Noreturn void kiln_internal_error(const char *file, int line, const char *msg);
#define KILN_ASSERT(x) \
	((x) ? (void)0 : kiln_internal_error(__FILE__, __LINE__, "assertion failed: " #x))
#define unreachable() kiln_internal_error(__FILE__, __LINE__, "unreachable")

/* Call fn(ctx, arg) with diag_error unwinding back here. Returns 0 on success,
 * 1 if a diagnostic was raised (its text is in ctx->errors). Calls nest. */
int kiln_protect(struct kiln_ctx *ctx, void (*fn)(struct kiln_ctx *, void *), void *arg);

#endif
