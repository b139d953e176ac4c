/* unpickle.c: a restricted unpickler for the pickles torch.jit.save writes (data.pkl,
 * constants.pkl), producing a tree of struct pv (reference/torchscript-format.md §2).
 *
 * Nothing is ever executed. GLOBAL resolves against a short allowlist (tensor rebuilders,
 * typed-list builders, OrderedDict, torch.device, torch.<X>Storage, and __torch__.* classes,
 * which become plain attribute records); any other global is refused. Persistent ids name
 * storage records of the archive, checked against their declared size; tensors are checked
 * to lie inside their storage with overflow-safe arithmetic.
 *
 * Invariants that make any input safe: every read is bounds-checked; the value stack, mark
 * stack and memo are bounded and grow on demand; a container stored inside another is
 * sealed (no longer mutable), which keeps the value graph acyclic; nesting depth is tracked
 * per value and bounded; PV_GLOBAL/PV_STORAGE values ("raw") may only sit in tuples used as
 * call arguments. There is no recursion. Cost: linear in the pickle, plus a linear search
 * over storages per persistent id.
 */
#include <string.h>

#include "pt.h"

#define UP_MAX_MEMO (1u << 20)    /* highest memo index + 1 */
#define UP_MAX_STACK (1u << 22)   /* values or marks */
#define UP_MAX_DEPTH 200          /* nesting of containers */
#define UP_MAX_TENSOR_BYTES ((uint64_t)1 << 40)
#define UP_MAX_EXPAND_BYTES ((uint64_t)1 << 28) /* a view with more elements than its storage */

/* What an allowlisted global does when called (PV_GLOBAL u.global.fn). */
enum up_fn {
	FN_CLASS,             /* __torch__.* class: NEWOBJ + BUILD(dict) -> PV_OBJECT */
	FN_REBUILD_TENSOR_V2, /* torch._utils._rebuild_tensor_v2 */
	FN_REBUILD_PARAMETER, /* torch._utils._rebuild_parameter (torch.save) */
	FN_INTLIST,           /* torch.jit._pickle.build_intlist */
	FN_DOUBLELIST,        /* ... build_doublelist */
	FN_BOOLLIST,          /* ... build_boollist */
	FN_TENSORLIST,        /* ... build_tensorlist */
	FN_RESTORE_TYPE_TAG,  /* ... restore_type_tag */
	FN_ORDERED_DICT,      /* collections.OrderedDict */
	FN_DEVICE,            /* torch.device */
	FN_STORAGE,           /* torch.<X>Storage: only a type in persistent ids */
};

/* The unpickler's state for one record. */
struct up {
	struct kiln_ctx *ctx;
	struct arena *a;               /* ctx->arena */
	const struct pt_archive *ar;   /* for storage records */
	const char *tensor_dir;        /* "data" / "constants" */
	struct loc loc;                /* "model.pt: data.pkl" */
	const unsigned char *p;        /* the pickle */
	size_t size, pos;              /* its length; read position */
	size_t op;                     /* offset of the opcode being executed */
	struct pv **stack;             /* value stack */
	size_t sp, scap;               /* depth and capacity */
	size_t *marks;                 /* MARK positions (stack depths) */
	size_t nmarks, mcap;           /* depth and capacity */
	struct pv **memo;              /* memo[i], NULL when unset */
	size_t memo_cap, memo_n;       /* slots allocated; slots set (for MEMOIZE) */
	struct pt_storage **storages;  /* storages seen, by record name */
	size_t nstorages, stcap;       /* count and capacity */
};

/* Names of every pickle opcode, for diagnostics. */
static const char *op_name(int c)
{
	static const struct { unsigned char c; const char *name; } names[] = {
		{'(', "MARK"}, {'.', "STOP"}, {'0', "POP"}, {'1', "POP_MARK"}, {'2', "DUP"},
		{'F', "FLOAT"}, {'I', "INT"}, {'J', "BININT"}, {'K', "BININT1"}, {'L', "LONG"},
		{'M', "BININT2"}, {'N', "NONE"}, {'P', "PERSID"}, {'Q', "BINPERSID"},
		{'R', "REDUCE"}, {'S', "STRING"}, {'T', "BINSTRING"}, {'U', "SHORT_BINSTRING"},
		{'V', "UNICODE"}, {'X', "BINUNICODE"}, {'a', "APPEND"}, {'b', "BUILD"},
		{'c', "GLOBAL"}, {'d', "DICT"}, {'}', "EMPTY_DICT"}, {'e', "APPENDS"}, {'g', "GET"},
		{'h', "BINGET"}, {'i', "INST"}, {'j', "LONG_BINGET"}, {'l', "LIST"},
		{']', "EMPTY_LIST"}, {'o', "OBJ"}, {'p', "PUT"}, {'q', "BINPUT"},
		{'r', "LONG_BINPUT"}, {'s', "SETITEM"}, {'t', "TUPLE"}, {')', "EMPTY_TUPLE"},
		{'u', "SETITEMS"}, {'G', "BINFLOAT"}, {0x80, "PROTO"}, {0x81, "NEWOBJ"},
		{0x82, "EXT1"}, {0x83, "EXT2"}, {0x84, "EXT4"}, {0x85, "TUPLE1"}, {0x86, "TUPLE2"},
		{0x87, "TUPLE3"}, {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"}, {0x8a, "LONG1"},
		{0x8b, "LONG4"}, {'B', "BINBYTES"}, {'C', "SHORT_BINBYTES"},
		{0x8c, "SHORT_BINUNICODE"}, {0x8d, "BINUNICODE8"}, {0x8e, "BINBYTES8"},
		{0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"}, {0x91, "FROZENSET"}, {0x92, "NEWOBJ_EX"},
		{0x93, "STACK_GLOBAL"}, {0x94, "MEMOIZE"}, {0x95, "FRAME"}, {0x96, "BYTEARRAY8"},
		{0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].c == c)
			return names[i].name;
	return NULL;
}

static _Noreturn void up_error(struct up *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Bad input at the current opcode: "file: record: error: offset N: msg". */
static _Noreturn void up_error(struct up *u, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	diag_error(u->ctx, u->loc, "offset %zu: %s", u->op, msg);
}

/* Make sure n more bytes can be read for the current opcode. */
static void need(struct up *u, size_t n)
{
	if (u->size - u->pos < n)
		up_error(u, "truncated pickle: %s needs %zu bytes of argument, %zu left",
		         op_name(u->p[u->op]), n, u->size - u->pos);
}

/* Read an n-byte little-endian unsigned integer (n <= 8). */
static uint64_t rd_le(struct up *u, size_t n)
{
	need(u, n);
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)u->p[u->pos + i] << (8 * i);
	u->pos += n;
	return v;
}

/* A fresh value of kind k. */
static struct pv *new_pv(struct up *u, enum pv_kind k)
{
	struct pv *v = arena_alloc(u->a, sizeof *v);
	v->kind = k;
	return v;
}

/* Grow the array *p of *cap elements of `elem` bytes to hold n, refusing more than max. */
static void grow(struct up *u, void **p, size_t *cap, size_t elem, size_t n, size_t max,
                 const char *what)
{
	if (n <= *cap)
		return;
	if (n > max)
		up_error(u, "%s exceeds the limit of %zu", what, max);
	size_t ncap = *cap ? *cap * 2 : 16;
	while (ncap < n)
		ncap *= 2;
	if (ncap > max)
		ncap = max;
	*p = arena_grow(u->a, *p, *cap * elem, ncap * elem);
	*cap = ncap;
}

/* The lowest stack position the current opcode may pop (the innermost MARK). */
static size_t fence(const struct up *u) { return u->nmarks ? u->marks[u->nmarks - 1] : 0; }

static void push(struct up *u, struct pv *v)
{
	grow(u, (void **)&u->stack, &u->scap, sizeof *u->stack, u->sp + 1, UP_MAX_STACK,
	     "pickle stack depth");
	u->stack[u->sp++] = v;
}

/* The value on top of the stack, not crossing a MARK. */
static struct pv *top(struct up *u)
{
	if (u->sp <= fence(u))
		up_error(u, "stack underflow in %s", op_name(u->p[u->op]));
	return u->stack[u->sp - 1];
}

static struct pv *pop(struct up *u)
{
	struct pv *v = top(u);
	u->sp--;
	return v;
}

/* Pop the innermost MARK; its items are stack[return value .. sp). */
static size_t pop_mark(struct up *u)
{
	if (u->nmarks == 0)
		up_error(u, "%s without a matching MARK", op_name(u->p[u->op]));
	return u->marks[--u->nmarks];
}

/* Record that `child` is stored in `parent`: seal the child, keep the graph acyclic,
 * track depth, and keep raw values (globals, storages) out of everything but tuples. */
static void adopt(struct up *u, struct pv *parent, struct pv *child)
{
	if (child == parent || parent->sealed)
		up_error(u, "a %s is modified after being stored in another value, or contains "
		         "itself (cyclic pickles are unsupported)", pv_kind_name(parent->kind));
	if (child->raw && parent->kind != PV_TUPLE)
		up_error(u, "a class, function or storage reference is used as a value inside a "
		         "%s", pv_kind_name(parent->kind));
	child->sealed = 1;
	if (child->depth + 1 > UP_MAX_DEPTH)
		up_error(u, "values nested deeper than %d levels", UP_MAX_DEPTH);
	if (parent->depth < child->depth + 1)
		parent->depth = child->depth + 1;
	parent->raw |= child->raw;
}

/* Append v to tuple or list s. */
static void seq_add(struct up *u, struct pv *s, struct pv *v)
{
	adopt(u, s, v);
	grow(u, (void **)&s->u.seq.items, &s->cap, sizeof *s->u.seq.items, s->u.seq.n + 1,
	     SIZE_MAX / sizeof(void *), "sequence length");
	s->u.seq.items[s->u.seq.n++] = v;
}

/* Add k: v to dict d (insertion order). */
static void dict_add(struct up *u, struct pv *d, struct pv *k, struct pv *v)
{
	adopt(u, d, k);
	adopt(u, d, v);
	size_t cap = d->cap;
	grow(u, (void **)&d->u.dict.keys, &cap, sizeof(void *), d->u.dict.n + 1,
	     SIZE_MAX / sizeof(void *), "dict size");
	grow(u, (void **)&d->u.dict.vals, &d->cap, sizeof(void *), d->u.dict.n + 1,
	     SIZE_MAX / sizeof(void *), "dict size");
	d->u.dict.keys[d->u.dict.n] = k;
	d->u.dict.vals[d->u.dict.n++] = v;
}

/* A tuple or list of the items above the innermost MARK (MARK consumed). */
static struct pv *collect(struct up *u, enum pv_kind k)
{
	size_t m = pop_mark(u);
	struct pv *s = new_pv(u, k);
	for (size_t i = m; i < u->sp; i++)
		seq_add(u, s, u->stack[i]);
	u->sp = m;
	return s;
}

/* TUPLE1..3: a tuple of the top n values. */
static struct pv *tuple_n(struct up *u, size_t n)
{
	if (u->sp - fence(u) < n)
		up_error(u, "stack underflow in %s", op_name(u->p[u->op]));
	struct pv *t = new_pv(u, PV_TUPLE);
	for (size_t i = u->sp - n; i < u->sp; i++)
		seq_add(u, t, u->stack[i]);
	u->sp -= n;
	return t;
}

/* APPEND/APPENDS target: must be a list. */
static struct pv *as_list(struct up *u, struct pv *l)
{
	if (l->kind != PV_LIST)
		up_error(u, "%s on a %s, expected a list", op_name(u->p[u->op]),
		         pv_kind_name(l->kind));
	return l;
}

/* APPENDS: the items above the MARK go to the list below it. */
static void appends(struct up *u)
{
	size_t m = pop_mark(u);
	if (m <= fence(u))
		up_error(u, "stack underflow in APPENDS");
	struct pv *l = as_list(u, u->stack[m - 1]);
	for (size_t i = m; i < u->sp; i++)
		seq_add(u, l, u->stack[i]);
	u->sp = m;
}

/* SETITEM(S) target: must be a dict. */
static struct pv *as_dict(struct up *u, struct pv *d)
{
	if (d->kind != PV_DICT)
		up_error(u, "%s on a %s, expected a dict", op_name(u->p[u->op]),
		         pv_kind_name(d->kind));
	return d;
}

/* SETITEMS / DICT: add the key/value pairs stack[m..sp) to d. */
static void add_pairs(struct up *u, struct pv *d, size_t m)
{
	as_dict(u, d);
	if ((u->sp - m) % 2)
		up_error(u, "%s with an odd number of items", op_name(u->p[u->op]));
	for (size_t i = m; i < u->sp; i += 2)
		dict_add(u, d, u->stack[i], u->stack[i + 1]);
	u->sp = m;
}

static void setitems(struct up *u)
{
	size_t m = pop_mark(u);
	if (m <= fence(u))
		up_error(u, "stack underflow in SETITEMS");
	add_pairs(u, u->stack[m - 1], m);
}

/* BINPUT/LONG_BINPUT/MEMOIZE: memo[i] = top. */
static void memo_put(struct up *u, uint64_t i)
{
	if (i >= UP_MAX_MEMO)
		up_error(u, "memo index %llu exceeds the limit of %u", (unsigned long long)i,
		         UP_MAX_MEMO);
	struct pv *v = top(u);
	grow(u, (void **)&u->memo, &u->memo_cap, sizeof *u->memo, (size_t)i + 1, UP_MAX_MEMO,
	     "memo size");
	if (!u->memo[i])
		u->memo_n++;
	u->memo[i] = v;
}

/* BINGET/LONG_BINGET: push memo[i]. */
static void memo_get(struct up *u, uint64_t i)
{
	if (i >= u->memo_cap || !u->memo[i])
		up_error(u, "%s of memo index %llu, which is not set", op_name(u->p[u->op]),
		         (unsigned long long)i);
	push(u, u->memo[i]);
}

/* A string value from the next n bytes. */
static struct pv *read_str(struct up *u, uint64_t n, enum pv_kind k)
{
	if (u->size - u->pos < n)
		up_error(u, "%s length %llu runs past the end of the pickle (%zu bytes left)",
		         op_name(u->p[u->op]), (unsigned long long)n, u->size - u->pos);
	struct pv *v = new_pv(u, k);
	v->u.str.s = arena_strndup(u->a, (const char *)u->p + u->pos, (size_t)n);
	v->u.str.len = (size_t)n;
	u->pos += (size_t)n;
	return v;
}

/* LONG1/LONG4: an n-byte two's complement little-endian integer, n <= 8. */
static struct pv *read_long(struct up *u, uint64_t n)
{
	if (n > 8)
		up_error(u, "%s of %llu bytes: integers wider than 64 bits are unsupported",
		         op_name(u->p[u->op]), (unsigned long long)n);
	uint64_t v = rd_le(u, (size_t)n);
	if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1)
		v |= ~(uint64_t)0 << (8 * n);
	struct pv *r = new_pv(u, PV_INT);
	r->u.i = (int64_t)v;
	return r;
}

/* BINFLOAT: a big-endian IEEE double. */
static struct pv *read_float(struct up *u)
{
	need(u, 8);
	uint64_t bits = 0;
	for (int i = 0; i < 8; i++)
		bits = bits << 8 | u->p[u->pos + i];
	u->pos += 8;
	struct pv *v = new_pv(u, PV_FLOAT);
	memcpy(&v->u.f, &bits, sizeof bits);
	return v;
}

static struct pv *new_int(struct up *u, int64_t i)
{
	struct pv *v = new_pv(u, PV_INT);
	v->u.i = i;
	return v;
}

static struct pv *new_bool(struct up *u, int b)
{
	struct pv *v = new_pv(u, PV_BOOL);
	v->u.b = b;
	return v;
}

/* One newline-terminated printable word of a GLOBAL opcode. */
static const char *global_word(struct up *u)
{
	const unsigned char *nl = memchr(u->p + u->pos, '\n', u->size - u->pos);
	if (!nl)
		up_error(u, "truncated pickle: GLOBAL name runs past the end");
	size_t n = (size_t)(nl - (u->p + u->pos));
	for (size_t i = 0; i < n; i++)
		if (u->p[u->pos + i] <= ' ' || u->p[u->pos + i] > '~')
			up_error(u, "malformed GLOBAL name (byte 0x%02x)", u->p[u->pos + i]);
	if (n == 0)
		up_error(u, "malformed GLOBAL name (empty)");
	const char *s = arena_strndup(u->a, (const char *)u->p + u->pos, n);
	u->pos += n + 1;
	return s;
}

/* A PV_GLOBAL for an allowlisted function. */
static struct pv *new_global(struct up *u, const char *qualname, enum up_fn fn)
{
	struct pv *g = new_pv(u, PV_GLOBAL);
	g->raw = 1;
	g->u.global.qualname = qualname;
	g->u.global.fn = fn;
	return g;
}

/* torch.<X>Storage: the element type of a persistent id. */
static struct pv *storage_global(struct up *u, const char *qual, const char *name)
{
	enum dtype dt = dtype_from_storage(name);
	if (dt == DT_UNKNOWN)
		up_error(u, "unsupported tensor element type '%s' (complex, quantized and other "
		         "exotic dtypes are not supported)", qual);
	struct pv *g = new_global(u, qual, FN_STORAGE);
	g->u.global.dtype = dt;
	return g;
}

/* GLOBAL: resolve "module name" against the allowlist; anything else is refused. */
static struct pv *resolve_global(struct up *u, const char *mod, const char *name)
{
	static const struct { const char *mod, *name; enum up_fn fn; } allow[] = {
		{"torch._utils", "_rebuild_tensor_v2", FN_REBUILD_TENSOR_V2},
		{"torch._utils", "_rebuild_parameter", FN_REBUILD_PARAMETER},
		{"torch.jit._pickle", "build_intlist", FN_INTLIST},
		{"torch.jit._pickle", "build_doublelist", FN_DOUBLELIST},
		{"torch.jit._pickle", "build_boollist", FN_BOOLLIST},
		{"torch.jit._pickle", "build_tensorlist", FN_TENSORLIST},
		{"torch.jit._pickle", "restore_type_tag", FN_RESTORE_TYPE_TAG},
		{"collections", "OrderedDict", FN_ORDERED_DICT},
		{"torch", "device", FN_DEVICE},
	};
	const char *qual = arena_printf(u->a, "%s.%s", mod, name);
	for (size_t i = 0; i < sizeof allow / sizeof allow[0]; i++)
		if (strcmp(mod, allow[i].mod) == 0 && strcmp(name, allow[i].name) == 0)
			return new_global(u, qual, allow[i].fn);
	size_t n = strlen(name);
	if (strcmp(mod, "torch") == 0 && n > 7 && strcmp(name + n - 7, "Storage") == 0)
		return storage_global(u, qual, name);
	if (strcmp(mod, "__torch__") == 0 || strncmp(mod, "__torch__.", 10) == 0)
		return new_global(u, qual, FN_CLASS);
	if (strcmp(qual, "builtins.complex") == 0)
		up_error(u, "complex numbers are not supported");
	if (strcmp(mod, "torch._utils") == 0 && strncmp(name, "_rebuild_", 9) == 0)
		up_error(u, "unsupported tensor kind '%s' (quantized, sparse and other special "
		         "tensors are not supported)", qual);
	up_error(u, "forbidden global '%s': kiln never executes code from a model file", qual);
}

/* The record of a persistent-id storage, memoized by record name so views share it. */
static struct pt_storage *find_storage(struct up *u, const char *key, enum dtype dt,
                                       int64_t numel)
{
	const char *rname = arena_printf(u->a, "%s/%s", u->tensor_dir, key);
	for (size_t i = 0; i < u->nstorages; i++) {
		struct pt_storage *s = u->storages[i];
		if (strcmp(s->key, rname) != 0)
			continue;
		if (s->dtype != dt || s->numel != (size_t)numel)
			up_error(u, "storage '%s' is declared twice with different types or sizes",
			         rname);
		return s;
	}
	const struct pt_record *r = pt_find(u->ar, rname);
	if (!r)
		up_error(u, "persistent id refers to missing record '%s'", rname);
	size_t es = dtype_size(dt);
	if ((uint64_t)numel > SIZE_MAX / es)
		up_error(u, "storage '%s' declares %lld elements, too many to address", rname,
		         (long long)numel);
	if ((size_t)numel * es > r->size)
		up_error(u, "storage '%s' declares %lld elements (%zu bytes) but the record holds "
		         "%zu bytes", rname, (long long)numel, (size_t)numel * es, r->size);
	struct pt_storage *s = arena_alloc(u->a, sizeof *s);
	*s = (struct pt_storage){rname, dt, (size_t)numel, r->data};
	grow(u, (void **)&u->storages, &u->stcap, sizeof *u->storages, u->nstorages + 1,
	     SIZE_MAX / sizeof(void *), "storage count");
	u->storages[u->nstorages++] = s;
	return s;
}

/* BINPERSID: ('storage', torch.<X>Storage, key, location, numel) -> PV_STORAGE. */
static struct pv *persistent_load(struct up *u, struct pv *pid)
{
	struct pv **it = pid->u.seq.items;
	if (pid->kind != PV_TUPLE || pid->u.seq.n != 5 || it[0]->kind != PV_STR ||
	    strcmp(it[0]->u.str.s, "storage") != 0)
		up_error(u, "unsupported persistent id (expected ('storage', type, key, location, "
		         "numel))");
	if (it[1]->kind != PV_GLOBAL || it[1]->u.global.fn != FN_STORAGE)
		up_error(u, "persistent id: element 2 must be a torch.<Type>Storage");
	if (it[2]->kind != PV_STR || strlen(it[2]->u.str.s) != it[2]->u.str.len)
		up_error(u, "persistent id: storage key must be a string");
	if (it[4]->kind != PV_INT || it[4]->u.i < 0)
		up_error(u, "persistent id: element count must be a non-negative int");
	struct pv *v = new_pv(u, PV_STORAGE);
	v->raw = 1;
	v->u.storage = find_storage(u, it[2]->u.str.s, it[1]->u.global.dtype, it[4]->u.i);
	return v;
}

/* An int argument. */
static int64_t arg_int(struct up *u, const struct pv *v, const char *what)
{
	if (v->kind != PV_INT)
		up_error(u, "%s must be an int, got %s", what, pv_kind_name(v->kind));
	return v->u.i;
}

/* A tuple (or list) of ints into out[KILN_MAX_RANK]; returns the count. */
static int arg_dims(struct up *u, const struct pv *v, int64_t *out, const char *what)
{
	if (v->kind != PV_TUPLE && v->kind != PV_LIST)
		up_error(u, "tensor %s must be a tuple of ints, got %s", what, pv_kind_name(v->kind));
	if (v->u.seq.n > KILN_MAX_RANK)
		up_error(u, "tensor of rank %zu: at most %d dimensions are supported", v->u.seq.n,
		         KILN_MAX_RANK);
	for (size_t i = 0; i < v->u.seq.n; i++) {
		out[i] = arg_int(u, v->u.seq.items[i], what);
		if (out[i] < 0)
			up_error(u, "tensor %s must be non-negative, got %lld", what, (long long)out[i]);
	}
	return (int)v->u.seq.n;
}

/* "[2, 3]" for diagnostics. */
static const char *dims_str(struct up *u, const int64_t *d, int n)
{
	char buf[8 * 24 + 4];
	size_t len = 0;
	buf[len++] = '[';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%lld", i ? ", " : "",
		                        (long long)d[i]);
	snprintf(buf + len, sizeof buf - len, "]");
	return arena_strdup(u->a, buf);
}

/* Check that every element of the view lies inside its storage and that the tensor has a
 * sane size. All arithmetic is overflow-checked in uint64_t. */
static void check_extent(struct up *u, const struct pt_tensor *t)
{
	uint64_t numel = 1, last = (uint64_t)t->offset, span;
	int ok = 1;
	for (int d = 0; d < t->rank; d++)
		ok &= !__builtin_mul_overflow(numel, (uint64_t)t->sizes[d], &numel);
	for (int d = 0; d < t->rank && numel > 0; d++) {
		ok &= !__builtin_mul_overflow((uint64_t)t->sizes[d] - 1, (uint64_t)t->strides[d],
		                              &span);
		ok &= !__builtin_add_overflow(last, span, &last);
	}
	const struct pt_storage *s = t->storage;
	if (!ok || (numel > 0 ? last >= s->numel : last > s->numel))
		up_error(u, "tensor with offset %lld, sizes %s, strides %s reaches past the end of "
		         "storage '%s' of %zu elements", (long long)t->offset,
		         dims_str(u, t->sizes, t->rank), dims_str(u, t->strides, t->rank), s->key,
		         s->numel);
	if (numel > UP_MAX_TENSOR_BYTES / dtype_size(t->dtype))
		up_error(u, "tensor of %llu elements is too large", (unsigned long long)numel);
	/* Zero strides let a tiny storage describe a huge tensor, which kiln materializes. */
	if (numel > s->numel && numel > UP_MAX_EXPAND_BYTES / dtype_size(t->dtype))
		up_error(u, "tensor of %llu elements over storage '%s' of %zu elements is too large "
		         "(an expanded view is materialized; the limit is %llu MiB)",
		         (unsigned long long)numel, s->key, s->numel,
		         (unsigned long long)(UP_MAX_EXPAND_BYTES >> 20));
}

/* Does a math_bits dict (7th _rebuild_tensor_v2 argument) set any bit? */
static int any_true(const struct pv *d)
{
	if (d->kind != PV_DICT)
		return 0;
	for (size_t i = 0; i < d->u.dict.n; i++)
		if (d->u.dict.vals[i]->kind == PV_BOOL && d->u.dict.vals[i]->u.b)
			return 1;
	return 0;
}

/* _rebuild_tensor_v2(storage, offset, sizes, strides, requires_grad, hooks[, math_bits]). */
static struct pv *rebuild_tensor(struct up *u, const struct pv *args)
{
	size_t n = args->u.seq.n;
	struct pv **a = args->u.seq.items;
	if (n != 6 && n != 7)
		up_error(u, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %zu", n);
	if (a[0]->kind != PV_STORAGE)
		up_error(u, "_rebuild_tensor_v2: argument 1 must be a storage, got %s",
		         pv_kind_name(a[0]->kind));
	if (n == 7 && any_true(a[6]))
		up_error(u, "conjugate or negative-bit tensors are not supported");
	struct pt_tensor *t = arena_alloc(u->a, sizeof *t);
	t->storage = a[0]->u.storage;
	t->dtype = t->storage->dtype;
	t->offset = arg_int(u, a[1], "tensor storage offset");
	if (t->offset < 0)
		up_error(u, "negative tensor storage offset %lld", (long long)t->offset);
	t->rank = arg_dims(u, a[2], t->sizes, "sizes");
	if (arg_dims(u, a[3], t->strides, "strides") != t->rank)
		up_error(u, "tensor has %d sizes but %zu strides", t->rank, a[3]->u.seq.n);
	if (a[4]->kind != PV_BOOL && a[4]->kind != PV_INT)
		up_error(u, "tensor requires_grad must be a bool, got %s", pv_kind_name(a[4]->kind));
	t->requires_grad = a[4]->kind == PV_BOOL ? a[4]->u.b : a[4]->u.i != 0;
	check_extent(u, t);
	struct pv *v = new_pv(u, PV_TENSOR);
	v->u.tensor = t;
	return v;
}

/* _rebuild_parameter(tensor, requires_grad, hooks) (torch.save pickles). */
static struct pv *rebuild_parameter(struct up *u, const struct pv *args)
{
	struct pv **a = args->u.seq.items;
	if (args->u.seq.n != 3 || a[0]->kind != PV_TENSOR || a[1]->kind != PV_BOOL)
		up_error(u, "_rebuild_parameter expects (tensor, bool, hooks)");
	struct pv *v = new_pv(u, PV_TENSOR);
	v->u.tensor = arena_alloc(u->a, sizeof *v->u.tensor);
	*v->u.tensor = *a[0]->u.tensor;
	v->u.tensor->requires_grad = a[1]->u.b;
	return v;
}

/* build_intlist & co: (list,) -> the list, tagged, after checking its element kinds. */
static struct pv *typed_list(struct up *u, const struct pv *g, const struct pv *args)
{
	static const struct { enum pv_kind k; const char *tag; } kinds[] = {
		[FN_INTLIST] = {PV_INT, "List[int]"}, [FN_DOUBLELIST] = {PV_FLOAT, "List[float]"},
		[FN_BOOLLIST] = {PV_BOOL, "List[bool]"}, [FN_TENSORLIST] = {PV_TENSOR, "List[Tensor]"},
	};
	int fn = g->u.global.fn;
	if (args->u.seq.n != 1 || args->u.seq.items[0]->kind != PV_LIST)
		up_error(u, "%s expects one list argument", g->u.global.qualname);
	struct pv *l = args->u.seq.items[0];
	for (size_t i = 0; i < l->u.seq.n; i++)
		if (l->u.seq.items[i]->kind != kinds[fn].k)
			up_error(u, "%s: element %zu is a %s, expected %s", g->u.global.qualname, i,
			         pv_kind_name(l->u.seq.items[i]->kind), pv_kind_name(kinds[fn].k));
	l->type_tag = kinds[fn].tag;
	return l;
}

/* restore_type_tag(value, "List[str]") -> value, tagged. */
static struct pv *restore_type_tag(struct up *u, const struct pv *args)
{
	struct pv **a = args->u.seq.items;
	if (args->u.seq.n != 2 || a[1]->kind != PV_STR)
		up_error(u, "restore_type_tag expects (value, type string)");
	if (a[0]->kind != PV_LIST && a[0]->kind != PV_DICT)
		up_error(u, "restore_type_tag applied to a %s, expected a list or dict",
		         pv_kind_name(a[0]->kind));
	a[0]->type_tag = a[1]->u.str.s;
	return a[0];
}

/* torch.device('cpu') or torch.device('cuda', 0). */
static struct pv *make_device(struct up *u, const struct pv *args)
{
	struct pv **a = args->u.seq.items;
	size_t n = args->u.seq.n;
	if (n < 1 || n > 2 || a[0]->kind != PV_STR || (n == 2 && a[1]->kind != PV_INT))
		up_error(u, "torch.device expects (str) or (str, int)");
	struct pv *v = new_pv(u, PV_DEVICE);
	v->u.str.s = n == 1 ? a[0]->u.str.s
	                    : arena_printf(u->a, "%s:%lld", a[0]->u.str.s, (long long)a[1]->u.i);
	v->u.str.len = strlen(v->u.str.s);
	return v;
}

/* REDUCE: call an allowlisted global on an argument tuple. */
static struct pv *reduce(struct up *u, const struct pv *g, const struct pv *args)
{
	if (g->kind != PV_GLOBAL)
		up_error(u, "REDUCE on a %s, expected a global", pv_kind_name(g->kind));
	if (args->kind != PV_TUPLE)
		up_error(u, "REDUCE arguments are a %s, expected a tuple", pv_kind_name(args->kind));
	switch ((enum up_fn)g->u.global.fn) {
	case FN_REBUILD_TENSOR_V2: return rebuild_tensor(u, args);
	case FN_REBUILD_PARAMETER: return rebuild_parameter(u, args);
	case FN_INTLIST: case FN_DOUBLELIST: case FN_BOOLLIST: case FN_TENSORLIST:
		return typed_list(u, g, args);
	case FN_RESTORE_TYPE_TAG: return restore_type_tag(u, args);
	case FN_DEVICE: return make_device(u, args);
	case FN_ORDERED_DICT:
		if (args->u.seq.n != 0)
			up_error(u, "OrderedDict with arguments is unsupported");
		return new_pv(u, PV_DICT);
	case FN_CLASS:
		up_error(u, "class '%s' built with REDUCE (enums and custom __reduce__ are "
		         "unsupported)", g->u.global.qualname);
	case FN_STORAGE:
		up_error(u, "storage type '%s' called directly", g->u.global.qualname);
	}
	unreachable();
}

/* NEWOBJ: cls.__new__(cls) for a __torch__ class -> an empty PV_OBJECT. */
static struct pv *newobj(struct up *u, const struct pv *cls, const struct pv *args)
{
	if (cls->kind != PV_GLOBAL || cls->u.global.fn != FN_CLASS)
		up_error(u, "NEWOBJ on %s '%s', expected a __torch__ class", pv_kind_name(cls->kind),
		         cls->kind == PV_GLOBAL ? cls->u.global.qualname : "?");
	if (args->kind != PV_TUPLE || args->u.seq.n != 0)
		up_error(u, "NEWOBJ of '%s' with arguments is unsupported", cls->u.global.qualname);
	struct pv *o = new_pv(u, PV_OBJECT);
	o->u.obj.qualname = cls->u.global.qualname;
	return o;
}

/* BUILD on an object: its state must be a dict of attribute name -> value. */
static void build_object(struct up *u, struct pv *o, const struct pv *st)
{
	if (st->kind != PV_DICT)
		up_error(u, "class '%s' is restored from a %s state with __setstate__; objects with "
		         "__getstate__/__setstate__ are unsupported", o->u.obj.qualname,
		         pv_kind_name(st->kind));
	if (o->u.obj.names)
		up_error(u, "object of class '%s' is built twice", o->u.obj.qualname);
	size_t n = st->u.dict.n;
	o->u.obj.names = arena_alloc(u->a, n * sizeof *o->u.obj.names);
	o->u.obj.vals = arena_alloc(u->a, n * sizeof *o->u.obj.vals);
	for (size_t i = 0; i < n; i++) {
		const struct pv *k = st->u.dict.keys[i];
		if (k->kind != PV_STR || strlen(k->u.str.s) != k->u.str.len)
			up_error(u, "attribute %zu of '%s' has a non-string name", i, o->u.obj.qualname);
		adopt(u, o, st->u.dict.vals[i]);
		o->u.obj.names[i] = k->u.str.s;
		o->u.obj.vals[i] = st->u.dict.vals[i];
	}
	o->u.obj.n = n;
}

/* BUILD: set the state of the value on top of the stack. */
static void build(struct up *u)
{
	struct pv *st = pop(u), *o = top(u);
	if (o->kind == PV_OBJECT)
		build_object(u, o, st);
	else if (o->kind == PV_DICT && (st->kind == PV_DICT || st->kind == PV_NONE))
		return; /* torch.save: OrderedDict's _metadata; not needed */
	else
		up_error(u, "BUILD on a %s is unsupported", pv_kind_name(o->kind));
}

/* STOP: the single value left is the result. */
static struct pv *stop(struct up *u)
{
	if (u->nmarks)
		up_error(u, "STOP with %zu unclosed MARKs", u->nmarks);
	if (u->sp != 1)
		up_error(u, "STOP with %zu values on the stack, expected 1", u->sp);
	if (u->stack[0]->raw)
		up_error(u, "the pickle's result is or contains a class, function or storage "
		         "reference");
	return u->stack[0];
}

/* Refuse an opcode kiln does not implement. */
static _Noreturn void bad_opcode(struct up *u, int c)
{
	const char *name = op_name(c);
	if (name)
		up_error(u, "unsupported pickle opcode %s (0x%02x)", name, c);
	up_error(u, "unknown pickle opcode 0x%02x", c);
}

/* Execute one opcode c (already consumed). A flat switch over opcodes. */
static void step(struct up *u, int c)
{
	struct pv *a, *b;
	switch (c) {
	case 0x80: { /* PROTO */
		uint64_t proto = rd_le(u, 1);
		if (proto < 2 || proto > 5)
			up_error(u, "unsupported pickle protocol %d (torch writes 2)", (int)proto);
		break;
	}
	case 0x95: rd_le(u, 8); break; /* FRAME: framing is irrelevant in memory */
	case 'c': {
		const char *mod = global_word(u);
		push(u, resolve_global(u, mod, global_word(u)));
		break;
	}
	case 'q': memo_put(u, rd_le(u, 1)); break;
	case 'r': memo_put(u, rd_le(u, 4)); break;
	case 0x94: memo_put(u, u->memo_n); break;
	case 'h': memo_get(u, rd_le(u, 1)); break;
	case 'j': memo_get(u, rd_le(u, 4)); break;
	case '(':
		grow(u, (void **)&u->marks, &u->mcap, sizeof *u->marks, u->nmarks + 1,
		     UP_MAX_STACK, "MARK depth");
		u->marks[u->nmarks++] = u->sp;
		break;
	case ')': push(u, new_pv(u, PV_TUPLE)); break;
	case 't': push(u, collect(u, PV_TUPLE)); break;
	case 0x85: case 0x86: case 0x87: push(u, tuple_n(u, (size_t)(c - 0x84))); break;
	case ']': push(u, new_pv(u, PV_LIST)); break;
	case 'l': push(u, collect(u, PV_LIST)); break;
	case 'a': b = pop(u); seq_add(u, as_list(u, top(u)), b); break;
	case 'e': appends(u); break;
	case '}': push(u, new_pv(u, PV_DICT)); break;
	case 'd':
		a = new_pv(u, PV_DICT);
		add_pairs(u, a, pop_mark(u));
		push(u, a);
		break;
	case 's':
		b = pop(u);
		a = pop(u);
		dict_add(u, as_dict(u, top(u)), a, b);
		break;
	case 'u': setitems(u); break;
	case 0x81: b = pop(u); a = pop(u); push(u, newobj(u, a, b)); break;
	case 'b': build(u); break;
	case 'R': b = pop(u); a = pop(u); push(u, reduce(u, a, b)); break;
	case 'Q': push(u, persistent_load(u, pop(u))); break;
	case 'N': push(u, new_pv(u, PV_NONE)); break;
	case 0x88: push(u, new_bool(u, 1)); break;
	case 0x89: push(u, new_bool(u, 0)); break;
	case 'K': push(u, new_int(u, (int64_t)rd_le(u, 1))); break;
	case 'M': push(u, new_int(u, (int64_t)rd_le(u, 2))); break;
	case 'J': push(u, new_int(u, (int32_t)(uint32_t)rd_le(u, 4))); break;
	case 0x8a: push(u, read_long(u, rd_le(u, 1))); break;
	case 0x8b: push(u, read_long(u, rd_le(u, 4))); break;
	case 'G': push(u, read_float(u)); break;
	case 'X': push(u, read_str(u, rd_le(u, 4), PV_STR)); break;
	case 0x8c: push(u, read_str(u, rd_le(u, 1), PV_STR)); break;
	case 0x8d: push(u, read_str(u, rd_le(u, 8), PV_STR)); break;
	default: bad_opcode(u, c);
	}
}

/* Run opcodes until STOP. */
static struct pv *run(struct up *u)
{
	for (;;) {
		u->op = u->pos;
		if (u->pos >= u->size)
			up_error(u, "pickle ends without STOP");
		int c = u->p[u->pos++];
		if (c == '.')
			return stop(u);
		step(u, c);
	}
}

struct pv *pt_unpickle(struct kiln_ctx *ctx, const struct pt_archive *ar, const char *name,
                       const char *tensor_dir)
{
	const struct pt_record *r = pt_find(ar, name);
	if (!r)
		diag_error(ctx, (struct loc){.file = ar->path}, "missing record '%s'", name);
	struct up u = {
		.ctx = ctx, .a = &ctx->arena, .ar = ar, .tensor_dir = tensor_dir,
		.loc = {.file = arena_printf(&ctx->arena, "%s: %s", ar->path, name)},
		.p = r->data, .size = r->size,
	};
	return run(&u);
}

struct pv *pv_attr(const struct pv *obj, const char *name)
{
	if (!obj || obj->kind != PV_OBJECT)
		return NULL;
	for (size_t i = obj->u.obj.n; i-- > 0;)
		if (strcmp(obj->u.obj.names[i], name) == 0)
			return obj->u.obj.vals[i];
	return NULL;
}

const char *pv_kind_name(enum pv_kind k)
{
	static const char *names[] = {
		[PV_NONE] = "None", [PV_BOOL] = "bool", [PV_INT] = "int", [PV_FLOAT] = "float",
		[PV_STR] = "str", [PV_TUPLE] = "tuple", [PV_LIST] = "list", [PV_DICT] = "dict",
		[PV_OBJECT] = "object", [PV_TENSOR] = "tensor", [PV_DEVICE] = "device",
		[PV_GLOBAL] = "global", [PV_STORAGE] = "storage",
	};
	return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}
