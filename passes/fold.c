/* fold.c: constant folding of scalars, lists and sizes.
 * Folds ATEN scalar operators whose inputs are constants (int/float arithmetic and
 * comparisons, Int/Float/NumToTensor conversions, len, prim.min/max), size/dim/numel
 * of tensors whose shape is known, LIST nodes of constant ints into one int-list
 * constant, GETITEM/UNPACK of LIST/TUPLE nodes and int-list constants, GETITEM of DICT
 * nodes by constant key, IFs on constant conditions and loops of constant trip count.
 * (Field reads of objects are staticize.c's.)
 * Each fold inserts a constant where the node was and redirects its uses; the node
 * becomes dead. Returns the number of folds, so the pipeline can iterate to a fixed
 * point with canonicalize and shapes. Linear per call. */
#include <math.h>
#include <string.h>

#include "passes.h"
#include "frontend/aten.h"

#define MAX_UNROLLED_NODES 200000 /* loops larger than this stay loops */

struct folder {
	struct ir_module *m;
	struct ir_block *b;
	size_t i;        /* position of the node being folded */
	int changes;
	int64_t peeled;  /* nodes copied by peeling, bounded by MAX_UNROLLED_NODES */
};

/* Replace output k of node id by value v (already defined before position f->i). */
static void replace(struct folder *f, uint32_t id, int k, uint32_t v)
{
	ir_replace_uses(f->m, ir_node(f->m, id)->out[k], v);
	f->changes++;
}

static void kill(struct folder *f, uint32_t id)
{
	ir_node(f->m, id)->dead = 1;
}

/* Make a constant at the current position (before the node being folded). */
static uint32_t here(struct folder *f, uint32_t v, struct loc loc)
{
	ir_place(f->m, f->b, f->i++, v);
	ir_node(f->m, ir_val(f->m, v)->def)->loc = loc;
	return v;
}

static int fold_int(struct folder *f, uint32_t id, int64_t v)
{
	struct ir_node *n = ir_node(f->m, id);
	struct loc loc = n->loc;
	replace(f, id, 0, here(f, ir_const_int(f->m, f->b, v), loc));
	kill(f, id);
	return 1;
}

static int fold_float(struct folder *f, uint32_t id, double v)
{
	struct loc loc = ir_node(f->m, id)->loc;
	replace(f, id, 0, here(f, ir_const_float(f->m, f->b, v), loc));
	kill(f, id);
	return 1;
}

static int fold_bool(struct folder *f, uint32_t id, int v)
{
	struct loc loc = ir_node(f->m, id)->loc;
	replace(f, id, 0, here(f, ir_const_bool(f->m, f->b, v), loc));
	kill(f, id);
	return 1;
}

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* A scalar constant: an int/float/bool, or a 0-dim constant tensor (traced code turns
 * Python scalars into those). Sets *is_int for integer values. */
static int scalar_of(struct ir_module *m, uint32_t v, int *is_int, int64_t *i, double *x)
{
	const struct ir_const *c = ir_const_of(m, v);
	if (!c)
		return 0;
	if (c->kind == CK_INT || c->kind == CK_BOOL) {
		*is_int = 1;
		*i = c->i;
		*x = (double)c->i;
		return 1;
	}
	if (c->kind == CK_FLOAT) {
		*is_int = 0;
		*x = c->f;
		return 1;
	}
	struct ir_value *t = ir_val(m, v);
	if (c->kind != CK_TENSOR || t->shape.rank != 0)
		return 0;
	*is_int = 1;
	switch (t->dtype) {
	case DT_I64: *i = *(const int64_t *)c->data; break;
	case DT_I32: *i = *(const int32_t *)c->data; break;
	case DT_BOOL: case DT_U8: *i = *(const uint8_t *)c->data; break;
	case DT_F32: *is_int = 0; *x = *(const float *)c->data; return 1;
	case DT_F64: *is_int = 0; *x = *(const double *)c->data; return 1;
	default: return 0;
	}
	*x = (double)*i;
	return 1;
}

/* Binary arithmetic on two scalar constants; Python semantics. */
static int fold_arith(struct folder *f, uint32_t id, enum aten_id op)
{
	struct ir_node *n = ir_node(f->m, id);
	struct ir_module *m = f->m;
	int64_t a = 0, b = 0;
	double x = 0, y = 0;
	int ia = 1, ib = 1;
	if (!scalar_of(m, n->in[0], &ia, &a, &x) || (op != ATEN_NEG && !scalar_of(m, n->in[1], &ib, &b, &y)))
		return 0;
	int ints = ia && ib;
	int64_t r;
	/* div(a, b, rounding_mode='trunc' | 'floor'), which traced shape arithmetic uses
	 * (head_dim = embed_dim // num_heads in multi-head attention) */
	int rounding = 0;   /* 0: true division, 1: trunc, 2: floor */
	if ((op == ATEN_DIV || op == ATEN_DIV_) && n->nin > 2 && !ir_is_none(m, n->in[2])) {
		const struct ir_const *rc = ir_const_of(m, n->in[2]);
		if (!rc || rc->kind != CK_STR)
			return 0;
		if (strcmp(rc->s, "trunc") == 0)
			rounding = 1;
		else if (strcmp(rc->s, "floor") == 0)
			rounding = 2;
		else
			diag_error(m->ctx, n->loc, "div: rounding_mode must be 'trunc', 'floor' or None, "
			           "not '%s'", rc->s);
	}
	if (ints) {
		if ((op == ATEN_FLOORDIV || op == ATEN_FLOOR_DIVIDE || op == ATEN_REMAINDER ||
		     rounding) && b == 0)
			diag_error(m->ctx, n->loc, "integer division by zero");
		if (b == -1 && a == INT64_MIN)
			op = ATEN_MUL;   /* the quotient overflows: reported below */
		switch (op) {
		case ATEN_ADD: case ATEN_SUB: case ATEN_MUL:
			if (op == ATEN_ADD ? __builtin_add_overflow(a, b, &r)
			    : op == ATEN_SUB ? __builtin_sub_overflow(a, b, &r)
			    : __builtin_mul_overflow(a, b, &r))
				diag_error(m->ctx, n->loc, "integer overflow in %s of %lld and %lld",
				           n->a.aten.name, (long long)a, (long long)b);
			return fold_int(f, id, r);
		case ATEN_NEG:
			if (a == INT64_MIN)
				diag_error(m->ctx, n->loc, "integer overflow in neg of %lld", (long long)a);
			return fold_int(f, id, -a);
		case ATEN_DIV: case ATEN_DIV_:
			if (!rounding)
				break;
			return fold_int(f, id, rounding == 1 ? a / b : floordiv(a, b));
		case ATEN_FLOORDIV: case ATEN_FLOOR_DIVIDE:
			return fold_int(f, id, floordiv(a, b));
		case ATEN_REMAINDER:
			return fold_int(f, id, a - floordiv(a, b) * b);
		case ATEN_EQ: return fold_bool(f, id, a == b);
		case ATEN_NE: return fold_bool(f, id, a != b);
		case ATEN_LT: return fold_bool(f, id, a < b);
		case ATEN_LE: return fold_bool(f, id, a <= b);
		case ATEN_GT: return fold_bool(f, id, a > b);
		case ATEN_GE: return fold_bool(f, id, a >= b);
		default: break;
		}
	}
	switch (op) {
	case ATEN_ADD: return fold_float(f, id, x + y);
	case ATEN_SUB: return fold_float(f, id, x - y);
	case ATEN_MUL: return fold_float(f, id, x * y);
	case ATEN_DIV: case ATEN_DIV_:
		return fold_float(f, id, rounding == 1 ? trunc(x / y) : rounding == 2 ? floor(x / y) : x / y);
	case ATEN_NEG: return fold_float(f, id, -x);
	case ATEN_POW: return fold_float(f, id, pow(x, y));
	case ATEN_FLOORDIV: case ATEN_FLOOR_DIVIDE: return fold_float(f, id, floor(x / y));
	case ATEN_EQ: return fold_bool(f, id, x == y);
	case ATEN_NE: return fold_bool(f, id, x != y);
	case ATEN_LT: return fold_bool(f, id, x < y);
	case ATEN_LE: return fold_bool(f, id, x <= y);
	case ATEN_GT: return fold_bool(f, id, x > y);
	case ATEN_GE: return fold_bool(f, id, x >= y);
	default: return 0;
	}
}

/* size(x, d), size(x), dim(x), numel(x) of a tensor whose shape is known. */
static int fold_size(struct folder *f, uint32_t id, enum aten_id op)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	struct ir_value *x = ir_val(m, n->in[0]);
	if (x->kind != VK_TENSOR || x->shape.rank < 0)
		return 0;
	const struct ir_shape s = x->shape;
	if (op == ATEN_DIM)
		return fold_int(f, id, s.rank);
	if (op == ATEN_NUMEL)
		return shape_numel(&s) >= 0 ? fold_int(f, id, shape_numel(&s)) : 0;
	if (ir_is_none(m, n->in[1])) {
		for (int i = 0; i < s.rank; i++)
			if (s.dims[i] < 0)
				return 0;
		struct loc loc = n->loc;
		replace(f, id, 0, here(f, ir_const_ints(m, f->b, s.dims, s.rank), loc));
		kill(f, id);
		return 1;
	}
	int64_t d;
	if (!ir_get_int(m, n->in[1], &d))
		return 0;
	if (d < -s.rank || d >= s.rank)
		diag_error(m->ctx, n->loc, "size(): dimension %lld out of range for a %d-D tensor",
		           (long long)d, s.rank);
	d = d < 0 ? d + s.rank : d;
	return s.dims[d] >= 0 ? fold_int(f, id, s.dims[d]) : 0;
}

/* Whether v is None (1), certainly not None (0), or unknown (-1). */
static int is_none(struct ir_module *m, uint32_t v)
{
	const struct ir_const *c = ir_const_of(m, v);
	if (c)
		return c->kind == CK_NONE;
	enum vkind k = ir_val(m, v)->kind;
	if (k == VK_NONE)
		return 1;
	return k == VK_ANY || k == VK_UNKNOWN || k == VK_OPTIONAL ? -1 : 0;
}

/* __is__, __isnot__, __not__, __and__, __or__, Bool, and eq/ne of strings. */
static int fold_logic(struct folder *f, uint32_t id, enum aten_id op)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	int64_t a, b;
	if (op == ATEN_IS || op == ATEN_ISNOT) {
		int x = is_none(m, n->in[0]), y = is_none(m, n->in[1]);
		if (x < 0 || y < 0 || (!x && !y))
			return 0; /* identity of two non-None values is not known at compile time */
		return fold_bool(f, id, (x == y) == (op == ATEN_IS));
	}
	const int64_t *la, *lb;
	int na, nb;
	if ((op == ATEN_EQ || op == ATEN_NE) && ir_val(m, n->in[0])->kind == VK_LIST &&
	    ir_get_ints(m, n->in[0], &la, &na) && ir_get_ints(m, n->in[1], &lb, &nb)) {
		int eq = na == nb && (na == 0 || memcmp(la, lb, sizeof *la * (size_t)na) == 0);
		return fold_bool(f, id, eq == (op == ATEN_EQ));   /* size lists: x.size() != [...] */
	}
	if (op == ATEN_EQ || op == ATEN_NE) {
		const struct ir_const *x = ir_const_of(m, n->in[0]), *y = ir_const_of(m, n->in[1]);
		if (!x || !y || x->kind != CK_STR || y->kind != CK_STR)
			return 0;
		return fold_bool(f, id, (strcmp(x->s, y->s) == 0) == (op == ATEN_EQ));
	}
	if (!ir_get_int(m, n->in[0], &a))
		return 0;
	if (op == ATEN_NOT)
		return fold_bool(f, id, !a);
	if (op == ATEN_BOOL)
		return fold_bool(f, id, a != 0);
	if (!ir_get_int(m, n->in[1], &b))
		return 0;
	return fold_bool(f, id, op == ATEN_AND ? a && b : a || b);
}

static int fold_any_all(struct folder *f, uint32_t id, enum aten_id op, const int64_t *v, int n)
{
	int any = 0, all = 1;
	for (int i = 0; i < n; i++) {
		any |= v[i] != 0;
		all &= v[i] != 0;
	}
	return fold_bool(f, id, op == ATEN_ANY ? any : all);
}

/* key in [constant items]: every item and the key are constant strings or ints. */
static int fold_list_contains(struct folder *f, uint32_t id)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	uint32_t d = ir_val(m, n->in[0])->def;
	const struct ir_const *key = ir_const_of(m, n->in[1]);
	if (d == IR_NONE || (ir_node(m, d)->op != OP_LIST && ir_node(m, d)->op != OP_DICT) || !key)
		return 0;
	struct ir_node *l = ir_node(m, d);
	int found = 0, step = l->op == OP_DICT ? 2 : 1;   /* a dict's keys */
	for (int i = 0; i < l->nin; i += step) {
		const struct ir_const *c = ir_const_of(m, l->in[i]);
		if (!c || c->kind != key->kind || (c->kind != CK_STR && c->kind != CK_INT))
			return 0;
		found |= c->kind == CK_STR ? strcmp(c->s, key->s) == 0 : c->i == key->i;
	}
	return fold_bool(f, id, found);
}

/* str(x), len(s), s.find(sub, start, end), sub in s, on constant strings (and devices). */
static int fold_string(struct folder *f, uint32_t id, enum aten_id op)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	if (op == ATEN_CONTAINS && fold_list_contains(f, id))
		return 1;
	const struct ir_const *a = ir_const_of(m, n->in[0]);
	const struct ir_const *b = n->nin > 1 ? ir_const_of(m, n->in[1]) : NULL;
	if (!a || (a->kind != CK_STR && a->kind != CK_DEVICE))
		return 0;
	int64_t len = (int64_t)strlen(a->s), start = 0, end = len;
	if (op == ATEN_LEN)
		return fold_int(f, id, len);
	if (op == ATEN_STR) {
		struct loc loc = n->loc;
		replace(f, id, 0, here(f, ir_const_str(m, f->b, a->s), loc));
		kill(f, id);
		return 1;
	}
	if (!b || b->kind != CK_STR)
		return 0;
	if (op == ATEN_CONTAINS)   /* __contains__(container, key) */
		return fold_bool(f, id, strstr(a->s, b->s) != NULL);
	if (!ir_get_int(m, n->in[2], &start) || !ir_get_int(m, n->in[3], &end))
		return 0;
	if (end == -1)             /* TorchScript's default: to the end */
		end = len;
	start = start < 0 ? (start + len < 0 ? 0 : start + len) : (start > len ? len : start);
	end = end < 0 ? (end + len < 0 ? 0 : end + len) : (end > len ? len : end);
	size_t sub = strlen(b->s);
	for (int64_t i = start; i + (int64_t)sub <= end; i++)
		if (strncmp(a->s + i, b->s, sub) == 0)
			return fold_int(f, id, i);
	return fold_int(f, id, -1);
}

/* Whether v is a LIST or TUPLE node; *n its item count. */
static int items_known(struct ir_module *m, uint32_t v, int *n)
{
	uint32_t d = ir_val(m, v)->def;
	if (d == IR_NONE || (ir_node(m, d)->op != OP_LIST && ir_node(m, d)->op != OP_TUPLE &&
	                     ir_node(m, d)->op != OP_DICT))
		return 0;
	*n = ir_node(m, d)->nin / (ir_node(m, d)->op == OP_DICT ? 2 : 1);
	return 1;
}

/* append(LIST(items), x) (a list appended to in a loop, once unrolled): LIST(items, x). */
static int fold_append(struct folder *f, uint32_t id)
{
	struct ir_module *m = f->m;
	uint32_t list = ir_node(m, id)->in[0], x = ir_node(m, id)->in[1];
	int n;
	const struct ir_const *c = ir_const_of(m, list);
	int empty = c && c->kind == CK_INTS && c->n == 0;   /* [] folded to an int list */
	if (!empty && (!items_known(m, list, &n) || ir_node(m, ir_val(m, list)->def)->op != OP_LIST))
		return 0;
	n = empty ? 0 : n;
	uint32_t *items = arena_alloc(&m->ctx->arena, sizeof *items * (size_t)(n + 1));
	if (n)
		memcpy(items, ir_node(m, ir_val(m, list)->def)->in, sizeof *items * (size_t)n);
	items[n] = x;
	uint32_t v = ir_node(m, ir_add_node(m, f->b, OP_LIST, items, n + 1, 1))->out[0];
	ir_val(m, v)->kind = VK_LIST;
	ir_val(m, v)->type = ir_val(m, list)->type;
	replace(f, id, 0, here(f, v, ir_node(m, id)->loc));
	kill(f, id);
	return 1;
}

/* d.items(), d.keys(), d.values() of a DICT node: a LIST of (key, value) TUPLEs, of
 * the keys, of the values, in insertion order. */
static int fold_dict_list(struct folder *f, uint32_t id, enum aten_id op)
{
	struct ir_module *m = f->m;
	uint32_t d = ir_val(m, ir_node(m, id)->in[0])->def;
	if (d == IR_NONE || ir_node(m, d)->op != OP_DICT)
		return 0;
	int n = ir_node(m, d)->nin / 2;
	struct loc loc = ir_node(m, id)->loc;
	uint32_t *items = arena_alloc(&m->ctx->arena, sizeof *items * (size_t)(n + 1));
	for (int i = 0; i < n; i++) {
		uint32_t kv[2] = {ir_node(m, d)->in[2 * i], ir_node(m, d)->in[2 * i + 1]};
		if (op != ATEN_DICT_ITEMS) {
			items[i] = kv[op == ATEN_DICT_KEYS ? 0 : 1];
			continue;
		}
		uint32_t t = ir_node(m, ir_add_node(m, f->b, OP_TUPLE, kv, 2, 1))->out[0];
		ir_val(m, t)->kind = VK_TUPLE;
		items[i] = here(f, t, loc);
	}
	uint32_t v = ir_node(m, ir_add_node(m, f->b, OP_LIST, items, n, 1))->out[0];
	ir_val(m, v)->kind = VK_LIST;
	ir_val(m, v)->type = ir_val(m, ir_node(m, id)->out[0])->type;
	replace(f, id, 0, here(f, v, loc));
	kill(f, id);
	return 1;
}

static int fold_aten(struct folder *f, uint32_t id)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	int s = n->a.aten.schema;
	if (s < 0)
		return 0;
	enum aten_id op = (enum aten_id)s;
	int64_t a;
	double x;
	const int64_t *ints;
	int cnt;
	switch (op) {
	case ATEN_SIZE: case ATEN_DIM: case ATEN_NUMEL: return fold_size(f, id, op);
	case ATEN_INT: case ATEN_FLOAT: {
		int is_int;
		if (!scalar_of(m, n->in[0], &is_int, &a, &x))
			return 0;
		if (op == ATEN_FLOAT)
			return fold_float(f, id, x);
		return fold_int(f, id, is_int ? a : (int64_t)x);
	}
	case ATEN_NUM_TO_TENSOR: case ATEN_SCALAR_IMPLICIT:
		if (ir_val(m, n->in[0])->kind == VK_TENSOR)
			return 0;
		replace(f, id, 0, n->in[0]);
		kill(f, id);
		return 1;
	case ATEN_IS: case ATEN_ISNOT: case ATEN_NOT: case ATEN_AND: case ATEN_OR: case ATEN_BOOL:
		return fold_logic(f, id, op);
	case ATEN_EQ: case ATEN_NE:
		if (fold_logic(f, id, op))
			return 1;
		return fold_arith(f, id, op);
	case ATEN_LEN: case ATEN_STR: case ATEN_FIND: case ATEN_CONTAINS:
		if (fold_string(f, id, op))
			return 1;
		if (op == ATEN_LEN && items_known(m, n->in[0], &cnt))
			return fold_int(f, id, cnt);
		return op == ATEN_LEN && ir_get_ints(m, n->in[0], &ints, &cnt) ? fold_int(f, id, cnt) : 0;
	case ATEN_APPEND: return fold_append(f, id);
	case ATEN_DICT_ITEMS: case ATEN_DICT_KEYS: case ATEN_DICT_VALUES:
		return fold_dict_list(f, id, op);
	case ATEN_ANY: case ATEN_ALL: {   /* of a list of constant bools */
		uint32_t d = ir_val(m, n->in[0])->def;
		if (d == IR_NONE || ir_node(m, d)->op != OP_LIST)
			return ir_get_ints(m, n->in[0], &ints, &cnt) ? fold_any_all(f, id, op, ints, cnt) : 0;
		struct ir_node *l = ir_node(m, d);
		int64_t *v = arena_alloc(&m->ctx->arena, sizeof *v * (size_t)(l->nin + 1));
		for (int i = 0; i < l->nin; i++)
			if (!ir_get_int(m, l->in[i], &v[i]))
				return 0;
		return fold_any_all(f, id, op, v, l->nin);
	}
	case ATEN_IS_GRAD_ENABLED: case ATEN_IS_AUTOCAST_ENABLED: case ATEN_PRIM_IS_CUDA:
	case ATEN_PRIM_IS_NESTED:
		return fold_bool(f, id, 0);   /* inference on the CPU, dense tensors */
	case ATEN_IS_FLOATING_POINT: {
		enum dtype dt = ir_val(m, n->in[0])->dtype;
		if (ir_val(m, n->in[0])->kind != VK_TENSOR || dt == DT_UNKNOWN)
			return 0;
		return fold_bool(f, id, dt == DT_F32 || dt == DT_F64 || dt == DT_F16 || dt == DT_BF16);
	}
	case ATEN_PRIM_DTYPE: {   /* a tensor's dtype, as torch's ScalarType code */
		struct ir_value *t = ir_val(m, n->in[0]);
		if (t->kind != VK_TENSOR || t->dtype == DT_UNKNOWN)
			return 0;
		return fold_int(f, id, dtype_to_torch(t->dtype));
	}
	case ATEN_PRIM_DEVICE: {  /* kiln's code runs on the CPU */
		struct loc loc = n->loc;
		uint32_t d = here(f, ir_const_str(m, f->b, "cpu"), loc);
		ir_val(m, d)->kind = VK_DEVICE;
		ir_node(m, ir_val(m, d)->def)->a.konst.kind = CK_DEVICE;
		replace(f, id, 0, d);
		kill(f, id);
		return 1;
	}
	case ATEN_LIST:           /* list(l): a copy, and lists are values in kiln's SSA */
		if (ir_val(m, n->in[0])->kind != VK_LIST)
			return 0;
		replace(f, id, 0, n->in[0]);
		kill(f, id);
		return 1;
	case ATEN_PRIM_MIN: case ATEN_PRIM_MAX: {
		int64_t b;
		if (!ir_get_int(m, n->in[0], &a) || !ir_get_int(m, n->in[1], &b))
			return 0;
		return fold_int(f, id, op == ATEN_PRIM_MIN ? (a < b ? a : b) : (a > b ? a : b));
	}
	default: return fold_arith(f, id, op);
	}
}

/* A LIST of constant ints becomes one int-list constant. */
static int fold_list(struct folder *f, uint32_t id)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	int64_t *v = arena_alloc(&m->ctx->arena, sizeof *v * (size_t)(n->nin + 1));
	for (int i = 0; i < n->nin; i++) {
		const struct ir_const *c = ir_const_of(m, n->in[i]);
		if (!c || c->kind != CK_INT)
			return 0;
		v[i] = c->i;
	}
	struct loc loc = n->loc;
	int nin = n->nin;
	replace(f, id, 0, here(f, ir_const_ints(m, f->b, v, nin), loc));
	kill(f, id);
	return 1;
}

/* The items of a LIST/TUPLE node or int-list constant, as values made here. */
static int items_of(struct folder *f, uint32_t v, uint32_t **items, int *n, struct loc loc)
{
	struct ir_module *m = f->m;
	uint32_t d = ir_val(m, v)->def;
	if (d == IR_NONE)
		return 0;
	struct ir_node *src = ir_node(m, d);
	if (src->op == OP_LIST || src->op == OP_TUPLE) {
		*items = src->in;
		*n = src->nin;
		return 1;
	}
	const int64_t *ints;
	if (!ir_get_ints(m, v, &ints, n) || ir_const_of(m, v)->kind != CK_INTS)
		return 0;
	uint32_t *out = arena_alloc(&m->ctx->arena, sizeof *out * (size_t)(*n + 1));
	for (int i = 0; i < *n; i++)
		out[i] = here(f, ir_const_int(m, f->b, ints[i]), loc);
	*items = out;
	return 1;
}

/* dict_set(DICT(...), "k", v): a DICT with k set (in place when present). */
static int fold_dict_set(struct folder *f, uint32_t id)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	uint32_t d = ir_val(m, n->in[0])->def;
	const struct ir_const *key = ir_const_of(m, n->in[1]);
	if (d == IR_NONE || ir_node(m, d)->op != OP_DICT || !key || key->kind != CK_STR)
		return 0;
	struct ir_node *old = ir_node(m, d);
	int cnt = old->nin, at = cnt;
	uint32_t *in = arena_alloc(&m->ctx->arena, sizeof *in * (size_t)(cnt + 2));
	memcpy(in, old->in, sizeof *in * (size_t)cnt);
	for (int i = 0; i + 1 < cnt; i += 2) {
		const struct ir_const *c = ir_const_of(m, in[i]);
		if (!c || c->kind != CK_STR)
			return 0;
		if (!strcmp(c->s, key->s))
			at = i;
	}
	in[at] = n->in[1];
	in[at + 1] = n->in[2];
	uint32_t v = ir_node(m, ir_add_node(m, f->b, OP_DICT, in, at == cnt ? cnt + 2 : cnt, 1))->out[0];
	ir_val(m, v)->kind = VK_DICT;
	ir_val(m, v)->type = ir_val(m, n->out[0])->type;
	replace(f, id, 0, here(f, v, ir_node(m, id)->loc));
	kill(f, id);
	return 1;
}

/* d["key"] of a DICT node: the value last set for the key; an absent key is an error. */
static int fold_dict_getitem(struct folder *f, uint32_t id, struct ir_node *d)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	const struct ir_const *key = ir_const_of(m, n->in[1]);
	if (!key || key->kind != CK_STR)
		return 0;
	for (int i = 0; i + 1 < d->nin; i += 2) {
		const struct ir_const *c = ir_const_of(m, d->in[i]);
		if (!c || c->kind != CK_STR)
			return 0;
		if (strcmp(c->s, key->s) == 0) {
			replace(f, id, 0, d->in[i + 1]);
			kill(f, id);
			return 1;
		}
	}
	diag_error(m->ctx, n->loc, "key '%s' is not in the dict", key->s);
}

static int fold_getitem(struct folder *f, uint32_t id)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	int64_t k;
	uint32_t *items;
	int cnt;
	struct loc loc = n->loc;
	uint32_t d = ir_val(m, n->in[0])->def;
	if (d != IR_NONE && ir_node(m, d)->op == OP_DICT)
		return fold_dict_getitem(f, id, ir_node(m, d));
	if (!ir_get_int(m, n->in[1], &k))
		return 0;
	uint32_t src = n->in[0];
	if (!items_of(f, src, &items, &cnt, loc))
		return 0;
	if (k < -cnt || k >= cnt)
		diag_error(m->ctx, loc, "index %lld out of range for %d items", (long long)k, cnt);
	replace(f, id, 0, items[k < 0 ? k + cnt : k]);
	kill(f, id);
	return 1;
}

static int fold_unpack(struct folder *f, uint32_t id)
{
	struct ir_module *m = f->m;
	struct loc loc = ir_node(m, id)->loc;
	uint32_t *items;
	int cnt;
	if (!items_of(f, ir_node(m, id)->in[0], &items, &cnt, loc))
		return 0;
	struct ir_node *n = ir_node(m, id);
	if (cnt != n->nout)
		diag_error(m->ctx, loc, "cannot unpack %d values into %d names", cnt, n->nout);
	for (int k = 0; k < cnt; k++)
		replace(f, id, k, items[k]);
	kill(f, id);
	return 1;
}

/* Put existing node id into block b at position pos. */
static void insert_id(struct ir_module *m, struct ir_block *b, size_t pos, uint32_t id)
{
	VEC_PUSH(&m->ctx->arena, &b->nodes, uint32_t, id);
	uint32_t *ids = b->nodes.data;
	memmove(ids + pos + 1, ids + pos, (b->nodes.len - 1 - pos) * sizeof *ids);
	ids[pos] = id;
}

/* An IF on a constant condition becomes the nodes of the branch it takes. */
static int fold_if(struct folder *f, uint32_t id)
{
	struct ir_module *m = f->m;
	int64_t c;
	if (!ir_get_int(m, ir_node(m, id)->in[0], &c))
		return 0;
	struct ir_block *taken = ir_node(m, id)->blocks[c ? 0 : 1];
	for (size_t k = 0; k < taken->nodes.len; k++) {
		uint32_t nid = VEC_AT(&taken->nodes, uint32_t, k);
		if (!ir_node(m, nid)->dead)
			insert_id(m, f->b, f->i++, nid);
	}
	taken->nodes.len = 0;
	for (int k = 0; k < ir_node(m, id)->nout; k++)
		replace(f, id, k, taken->rets[k]);
	kill(f, id);
	f->changes++;
	return 1;
}

/* Whether any node of b (or of its blocks) or b's results read v. */
static int block_uses(struct ir_module *m, struct ir_block *b, uint32_t v)
{
	for (int k = 0; k < b->nrets; k++)
		if (b->rets[k] == v)
			return 1;
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		if (n->dead)
			continue;
		for (int k = 0; k < n->nin; k++)
			if (n->in[k] == v)
				return 1;
		for (int k = 0; k < n->nblocks; k++)
			if (block_uses(m, n->blocks[k], v))
				return 1;
	}
	return 0;
}

/* A loop whose first condition is constant: false runs no iteration; true peels one
 * iteration off the front when the body does not read the iteration number (a
 * `while` loop), so that folding can decide the next condition. */
static int peel_loop(struct folder *f, uint32_t id, int64_t trip, int64_t cond)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	struct ir_block *body = n->blocks[0];
	int nc = n->nin - 2;
	if (!cond || trip <= 0) {
		for (int k = 0; k < nc; k++)
			replace(f, id, k, ir_node(m, id)->in[2 + k]);
		kill(f, id);
		f->changes++;
		return 1;
	}
	if (block_uses(m, body, body->params[0]) || f->peeled > MAX_UNROLLED_NODES)
		return 0;
	f->peeled += (int64_t)body->nodes.len + 1;
	uint32_t *map = ir_clone_map(m);
	for (int k = 0; k < nc; k++)
		map[body->params[1 + k]] = n->in[2 + k];
	ir_clone_nodes(m, f->b, &f->i, body, map);
	n = ir_node(m, id);
	uint32_t *in = arena_alloc(&m->ctx->arena, sizeof *in * (size_t)(nc + 2));
	in[0] = trip == INT64_MAX ? n->in[0] : here(f, ir_const_int(m, f->b, trip - 1), n->loc);
	in[1] = ir_mapped(map, body->rets[0]);
	for (int k = 0; k < nc; k++)
		in[2 + k] = ir_mapped(map, body->rets[1 + k]);
	ir_node(m, id)->in = in;
	f->changes++;
	return 1;
}

/* A LOOP with a constant trip count whose condition stays a constant true (a `for`
 * over range(n) or a constant list) is unrolled into copies of its body. */
static int fold_loop(struct folder *f, uint32_t id)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	struct ir_block *body = n->blocks[0];
	int64_t trip, cond, again;
	if (!ir_get_int(m, n->in[0], &trip) || !ir_get_int(m, n->in[1], &cond))
		return 0;
	/* The condition for the next iteration must be a constant true defined outside
	 * the body (as in `for` loops), so every iteration runs. */
	uint32_t next = body->rets[0], nd = ir_val(m, next)->def;
	int inside = 0;
	for (int k = 0; k < body->nparams; k++)
		inside |= body->params[k] == next;
	for (size_t k = 0; k < body->nodes.len && nd != IR_NONE; k++)
		inside |= VEC_AT(&body->nodes, uint32_t, k) == nd;
	if (!cond || trip < 0)
		trip = 0;
	if (inside || !ir_get_int(m, next, &again) || !again ||
	    trip * (int64_t)(body->nodes.len + 1) > MAX_UNROLLED_NODES)
		return peel_loop(f, id, trip, cond);
	int nc = n->nin - 2;
	uint32_t *carried = arena_alloc(&m->ctx->arena, sizeof *carried * (size_t)(nc + 1));
	memcpy(carried, n->in + 2, sizeof *carried * (size_t)nc);
	struct loc loc = n->loc;
	for (int64_t it = 0; it < trip; it++) {
		uint32_t *map = ir_clone_map(m);
		map[body->params[0]] = here(f, ir_const_int(m, f->b, it), loc);
		for (int k = 0; k < nc; k++)
			map[body->params[1 + k]] = carried[k];
		ir_clone_nodes(m, f->b, &f->i, body, map);
		for (int k = 0; k < nc; k++)
			carried[k] = ir_mapped(map, body->rets[1 + k]);
	}
	for (int k = 0; k < nc; k++)
		replace(f, id, k, carried[k]);
	kill(f, id);
	f->changes++;
	return 1;
}

/* from_scalar of a constant: a constant 0-dim tensor. */
static int fold_from_scalar(struct folder *f, uint32_t id)
{
	struct ir_module *m = f->m;
	double x;
	if (!ir_get_float(m, ir_node(m, id)->in[0], &x))
		return 0;
	struct ir_value *o = ir_val(m, ir_node(m, id)->out[0]);
	enum dtype dt = o->dtype;
	struct ir_shape s = {.rank = 0};
	void *data = arena_alloc(&m->ctx->arena, 8);
	switch (dt) {
	case DT_F32: *(float *)data = (float)x; break;
	case DT_F64: *(double *)data = x; break;
	case DT_I64: *(int64_t *)data = (int64_t)x; break;
	case DT_I32: *(int32_t *)data = (int32_t)x; break;
	default: return 0;
	}
	struct loc loc = ir_node(m, id)->loc;
	replace(f, id, 0, here(f, ir_const_tensor(m, f->b, dt, &s, data, NULL), loc));
	kill(f, id);
	return 1;
}

/* add/sub/mul/div of two constant 0-dim tensors (traced shape arithmetic: bsz * num_heads,
 * after canonicalize made tensor ops of it): a constant 0-dim tensor. */
static int fold_tensor_arith(struct folder *f, uint32_t id)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	struct ir_value *o = ir_val(m, n->out[0]);
	int64_t a, b, r = 0;
	double x, y, z;
	int ia, ib;
	if (o->kind != VK_TENSOR || o->shape.rank != 0 || n->nin != 2 ||
	    !ir_const_of(m, n->in[0]) || !ir_const_of(m, n->in[1]) ||
	    ir_val(m, n->in[0])->kind != VK_TENSOR || ir_val(m, n->in[1])->kind != VK_TENSOR ||
	    !scalar_of(m, n->in[0], &ia, &a, &x) || !scalar_of(m, n->in[1], &ib, &b, &y))
		return 0;
	double alpha = n->op == OP_ADD || n->op == OP_SUB ? n->a.binary.alpha : 1;
	int ints = ia && ib && (o->dtype == DT_I64 || o->dtype == DT_I32) && alpha == 1;
	if (ints) {
		if (n->op == OP_DIV)
			return 0;   /* true division of ints makes a float tensor: not this case */
		if (n->op == OP_ADD ? __builtin_add_overflow(a, b, &r)
		    : n->op == OP_SUB ? __builtin_sub_overflow(a, b, &r)
		    : __builtin_mul_overflow(a, b, &r))
			diag_error(m->ctx, n->loc, "integer overflow in %s of %lld and %lld",
			           op_name(n->op), (long long)a, (long long)b);
		z = (double)r;
	} else {
		z = n->op == OP_ADD ? x + alpha * y : n->op == OP_SUB ? x - alpha * y
		  : n->op == OP_MUL ? x * y : x / y;
	}
	struct ir_shape sh = {.rank = 0};
	void *data = arena_alloc(&m->ctx->arena, 8);
	switch (o->dtype) {
	case DT_F32: *(float *)data = (float)z; break;
	case DT_F64: *(double *)data = z; break;
	case DT_I64: *(int64_t *)data = ints ? r : (int64_t)z; break;
	case DT_I32: *(int32_t *)data = (int32_t)(ints ? r : (int64_t)z); break;
	default: return 0;
	}
	if (!ints && (o->dtype == DT_I64 || o->dtype == DT_I32))
		return 0;   /* float arithmetic into an int tensor: leave it to the kernels */
	struct loc loc = n->loc;
	replace(f, id, 0, here(f, ir_const_tensor(m, f->b, o->dtype, &sh, data, NULL), loc));
	kill(f, id);
	return 1;
}

/* The folder's position is the walker's: helpers insert constants at f->i. */
static void fold_node(struct ir_module *m, struct ir_block *b, size_t *pos, uint32_t id, void *arg)
{
	struct folder *f = arg;
	f->b = b;
	f->i = *pos;
	switch (ir_node(m, id)->op) {
	case OP_ATEN: fold_aten(f, id); break;
	case OP_LIST: fold_list(f, id); break;
	case OP_GETITEM: fold_getitem(f, id); break;
	case OP_UNPACK: fold_unpack(f, id); break;
	case OP_IF: fold_if(f, id); break;
	case OP_FROM_SCALAR: fold_from_scalar(f, id); break;
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: fold_tensor_arith(f, id); break;
	case OP_LOOP: fold_loop(f, id); break;
	case OP_DICT_SET: fold_dict_set(f, id); break;
	default: break;
	}
	*pos = f->i;
}

int fold(struct ir_module *m)
{
	struct folder f = {.m = m};
	ir_walk(m, ir_main(m)->body, fold_node, &f);
	return f.changes;
}
