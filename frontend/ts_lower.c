/* ts_lower.c: TorchScript archive → IR.
 *
 * Reads the archive (pt_archive.c), unpickles data.pkl (the module object tree) and
 * constants.pkl, parses code/ records on demand (ts_parse.c) and lowers the root
 * module's forward method, and every method it calls, into IR functions.
 *
 * Lowering is by type, not by instance: `self.conv1` becomes GETATTR(self) typed by
 * the class's attribute annotation, `(conv1).forward(x, )` a CALL_METHOD naming the
 * callee function, `torch.conv2d(...)` an ATEN node whose inputs are the operator's
 * schema arguments in order (keywords placed, omitted defaults made constants).
 * The passes inline calls, freeze attributes into constants and canonicalize ATEN
 * nodes. In-place operators (`torch.relu_(x)`) become functional: later reads of
 * the mutated variable read the result instead.
 *
 * Objects of user TorchScript classes are SSA records: `C.__new__(C)` is an OBJ_NEW,
 * `obj.f = v` an OBJ_SET making a new record that every name bound to the old one now
 * means (as list append does), and a field read folds to the value last set when the
 * record is known here (fold.c resolves the rest after inlining). A function that
 * changes an object parameter returns its final record as an extra result, and the
 * caller rebinds the argument to it: objects are passed in and out by value, which is
 * sound because an object that is stored elsewhere (in a list, another object's field)
 * or read out of one may not be changed.
 *
 * Every node carries the location of the code that produced it.
 */
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "aten.h"
#include "pt.h"
#include "ts_ast.h"

struct parsed_file {
	const char *record;      /* "code/__torch__/torch/nn/modules/conv.py" */
	struct ts_file *file;    /* NULL when the record is absent (a namespace) */
};

struct lowered {
	const char *qualname;    /* class, or the function's own qualified name */
	const char *method;      /* method name; "" for a free function */
	uint32_t func;           /* index in m->funcs */
	const struct ts_def *def;
	int ninout;              /* object parameters the function changes... */
	int *inout;              /* ...their indices; results 1.. are their final records */
};

struct lower {
	struct kiln_ctx *ctx;
	struct ir_module *m;
	struct pt_archive *ar;
	struct pv *root;         /* data.pkl */
	struct pv *constants;    /* constants.pkl (a tuple) */
	struct vec files;        /* struct parsed_file */
	struct vec done;         /* struct lowered */
	int depth;               /* method nesting, bounded */
};

/* A name binding in a function being lowered. */
struct binding {
	const char *name;
	uint32_t value;          /* IR_NONE when the name denotes a function */
	const char *func;        /* "__torch__.torch.nn.functional.relu", or NULL */
};

struct fn_state {
	struct lower *L;
	struct ir_block *b;      /* block being appended to */
	struct vec env;          /* struct binding, latest wins */
	int returned;            /* a return statement was lowered */
	uint32_t ret;            /* its value */
	int loop_exits;          /* in a loop body with break/continue (flags $exit, $break) */
	int exited;              /* a break/continue ended the block being lowered */
};

/* ---- names and types ---- */

static void bind(struct fn_state *fs, const char *name, uint32_t v)
{
	struct binding b = {name, v, NULL};
	VEC_PUSH(&fs->L->ctx->arena, &fs->env, struct binding, b);
}

static struct binding *find_binding(struct fn_state *fs, const char *name)
{
	for (size_t i = fs->env.len; i-- > 0;) {
		struct binding *b = &VEC_AT(&fs->env, struct binding, i);
		if (strcmp(b->name, name) == 0)
			return b;
	}
	return NULL;
}

static int lookup(struct fn_state *fs, const char *name, uint32_t *v)
{
	struct binding *b = find_binding(fs, name);
	if (!b || b->func)
		return 0;
	*v = b->value;
	return 1;
}

/* After `y = op_(x)`, every name bound to x now means y. */
static void rebind_value(struct fn_state *fs, uint32_t from, uint32_t to)
{
	size_t n = fs->env.len;
	for (size_t i = 0; i < n; i++) {
		struct binding *b = &VEC_AT(&fs->env, struct binding, i);
		if (b->value == from)
			bind(fs, b->name, to);
	}
}

/* "a.b.c" for a chain of names and attributes, NULL otherwise. */
static const char *dotted(struct arena *a, const struct ts_expr *e)
{
	if (e->kind == TE_NAME)
		return e->u.name;
	if (e->kind != TE_ATTR)
		return NULL;
	const char *base = dotted(a, e->u.attr.obj);
	return base ? arena_printf(a, "%s.%s", base, e->u.attr.name) : NULL;
}

static const struct ir_type *make_type(struct lower *L, enum vkind k, const char *qualname)
{
	struct ir_type *t = arena_alloc(&L->ctx->arena, sizeof *t);
	t->kind = k;
	t->qualname = qualname;
	return t;
}

/* The type an annotation denotes. Unknown annotations are VK_ANY. */
static const struct ir_type *annot_type(struct lower *L, const struct ts_expr *t)
{
	if (!t)
		return make_type(L, VK_ANY, NULL);
	if (t->kind == TE_NONE)
		return make_type(L, VK_NONE, NULL);
	if (t->kind == TE_SUBSCRIPT) {
		const char *head = dotted(&L->ctx->arena, t->u.sub.obj);
		static const struct { const char *name; enum vkind k; } generic[] = {
			{"List", VK_LIST}, {"Tuple", VK_TUPLE}, {"Dict", VK_DICT},
			{"Optional", VK_OPTIONAL},
		};
		if (head && (strcmp(head, "Final") == 0 || strcmp(head, "annotate") == 0))
			return annot_type(L, t->u.sub.index);
		for (size_t i = 0; head && i < sizeof generic / sizeof *generic; i++) {
			if (strcmp(head, generic[i].name) != 0)
				continue;
			struct ir_type *ty = (struct ir_type *)make_type(L, generic[i].k, NULL);
			const struct ts_expr *ix = t->u.sub.index;
			int n = ix->kind == TE_TUPLE ? ix->u.seq.n : 1;
			ty->nelem = n;
			ty->elem = arena_alloc(&L->ctx->arena, sizeof *ty->elem * (size_t)(n ? n : 1));
			for (int j = 0; j < n; j++)
				ty->elem[j] = annot_type(L, ix->kind == TE_TUPLE ? ix->u.seq.items[j] : ix);
			return ty;
		}
		return make_type(L, VK_ANY, NULL);
	}
	const char *name = dotted(&L->ctx->arena, t);
	if (!name)
		return make_type(L, VK_ANY, NULL);
	static const struct { const char *name; enum vkind k; } simple[] = {
		{"Tensor", VK_TENSOR}, {"int", VK_INT}, {"float", VK_FLOAT}, {"bool", VK_BOOL},
		{"str", VK_STR}, {"NoneType", VK_NONE}, {"Device", VK_DEVICE}, {"Any", VK_ANY},
	};
	for (size_t i = 0; i < sizeof simple / sizeof *simple; i++)
		if (strcmp(name, simple[i].name) == 0)
			return make_type(L, simple[i].k, NULL);
	if (strncmp(name, "__torch__.", 10) == 0)
		return make_type(L, VK_OBJECT, name);
	return make_type(L, VK_ANY, NULL);
}

static uint32_t typed_value_of(struct lower *L, uint32_t v, const struct ir_type *t)
{
	struct ir_value *iv = ir_val(L->m, v);
	iv->kind = t->kind == VK_OPTIONAL ? t->elem[0]->kind : t->kind;
	iv->type = t->kind == VK_OPTIONAL ? t->elem[0] : t;
	return v;
}

/* ---- code records ---- */

/* The parsed file holding class or function `qualname` ("__torch__.a.b.C"), or NULL. */
static struct ts_file *file_for(struct lower *L, const char *qualname, const char **leaf)
{
	const char *dot = strrchr(qualname, '.');
	if (!dot)
		return NULL;
	*leaf = dot + 1;
	char *rec = arena_printf(&L->ctx->arena, "code/%.*s.py", (int)(dot - qualname), qualname);
	for (char *p = rec + 5; *p; p++)
		if (*p == '.' && strcmp(p, ".py") != 0)
			*p = '/';
	for (size_t i = 0; i < L->files.len; i++) {
		struct parsed_file *pf = &VEC_AT(&L->files, struct parsed_file, i);
		if (strcmp(pf->record, rec) == 0)
			return pf->file;
	}
	struct parsed_file pf = {rec, NULL};
	const struct pt_record *r = pt_find(L->ar, rec);
	if (r) {
		const char *where = arena_printf(&L->ctx->arena, "%s: %s", L->ar->path, rec);
		pf.file = ts_parse(L->ctx, where, (const char *)r->data, r->size);
	}
	VEC_PUSH(&L->ctx->arena, &L->files, struct parsed_file, pf);
	return pf.file;
}

static struct ts_class *find_class(struct lower *L, const char *qualname)
{
	const char *leaf = NULL;
	struct ts_file *f = file_for(L, qualname, &leaf);
	for (int i = 0; f && i < f->nclasses; i++)
		if (strcmp(f->classes[i].name, leaf) == 0)
			return &f->classes[i];
	return NULL;
}

static struct ts_def *find_method(struct ts_class *c, const char *name)
{
	for (int i = 0; c && i < c->nmethods; i++)
		if (strcmp(c->methods[i].name, name) == 0)
			return &c->methods[i];
	return NULL;
}

static const struct ts_attr_decl *find_attr(struct ts_class *c, const char *name)
{
	for (int i = 0; c && i < c->nattrs; i++)
		if (strcmp(c->attrs[i].name, name) == 0)
			return &c->attrs[i];
	return NULL;
}

static uint32_t lower_method(struct lower *L, const char *qualname, const char *method,
                             struct loc where);
static uint32_t lower_function(struct lower *L, const char *qualname, struct loc where);

/* The record of lowered function f. */
static struct lowered *find_lowered(struct lower *L, uint32_t f)
{
	for (size_t i = 0; i < L->done.len; i++)
		if (VEC_AT(&L->done, struct lowered, i).func == f)
			return &VEC_AT(&L->done, struct lowered, i);
	unreachable();
}

/* ---- expressions ---- */

static uint32_t lower_expr(struct fn_state *fs, const struct ts_expr *e);
static uint32_t lower_seq(struct fn_state *fs, const struct ts_expr *e, enum op op, enum vkind k);

static uint32_t node1(struct fn_state *fs, enum op op, const uint32_t *in, int nin,
                      enum vkind k, struct loc loc)
{
	struct ir_module *m = fs->L->m;
	uint32_t n = ir_add_node(m, fs->b, op, in, nin, 1);
	ir_node(m, n)->loc = loc;
	uint32_t v = ir_node(m, n)->out[0];
	ir_val(m, v)->kind = k;
	return v;
}

static uint32_t with_loc(struct fn_state *fs, uint32_t v, struct loc loc)
{
	uint32_t d = ir_val(fs->L->m, v)->def;
	if (d != IR_NONE)
		ir_node(fs->L->m, d)->loc = loc;
	ir_val(fs->L->m, v)->loc = loc;
	return v;
}

/* ---- objects of user classes ---- */

/* The class of v if v is an object of a user TorchScript class (not a module, a
 * NamedTuple or an interface), else NULL. */
static struct ts_class *user_class(struct lower *L, uint32_t v)
{
	struct ir_value *iv = ir_val(L->m, v);
	if (iv->kind != VK_OBJECT || !iv->type || !iv->type->qualname)
		return NULL;
	struct ts_class *c = find_class(L, iv->type->qualname);
	return c && !c->base ? c : NULL;
}

static const char *class_of(struct lower *L, uint32_t v)
{
	return ir_val(L->m, v)->type->qualname;
}

/* Changing object v in place is sound only if nothing else refers to it: it must not
 * have been read out of a list, tuple or another object, nor stored into one. */
static void check_owned(struct lower *L, uint32_t v, struct loc loc)
{
	if (ir_value_shared(L->m, v))
		diag_error(L->ctx, loc, "an object of class '%s' is changed here while a list, tuple "
		           "or another object also refers to it; kiln does not support shared objects",
		           class_of(L, v));
}

/* __torch__.C.__new__(__torch__.C): a record with no field set. */
static uint32_t lower_new(struct fn_state *fs, const char *name, struct loc loc)
{
	struct lower *L = fs->L;
	const char *qual = arena_printf(&L->ctx->arena, "%.*s", (int)(strlen(name) - 8), name);
	struct ts_class *c = find_class(L, qual);
	if (!c || c->base)
		diag_error(L->ctx, loc, "kiln cannot create objects of class '%s'", qual);
	uint32_t v = node1(fs, OP_OBJ_NEW, NULL, 0, VK_OBJECT, loc);
	ir_val(L->m, v)->type = make_type(L, VK_OBJECT, qual);
	return v;
}

/* obj.name on a record: the value last set, when the record is built in this function;
 * otherwise a GETATTR that fold.c resolves after inlining. */
static uint32_t read_field(struct fn_state *fs, uint32_t obj, const char *name, struct loc loc)
{
	struct lower *L = fs->L;
	const struct ts_attr_decl *d = find_attr(user_class(L, obj), name);
	if (!d)
		diag_error(L->ctx, loc, "class '%s' declares no attribute '%s'", class_of(L, obj), name);
	for (;;) {
		uint32_t def = ir_val(L->m, obj)->def;
		struct ir_node *n = def != IR_NONE ? ir_node(L->m, def) : NULL;
		if (n && n->op == OP_OBJ_SET && strcmp(n->a.name.name, name) == 0)
			return n->in[1];
		if (n && n->op == OP_OBJ_NEW)
			diag_error(L->ctx, loc, "field '%s' of class '%s' is read before it is set", name,
			           class_of(L, obj));
		if (!n || n->op != OP_OBJ_SET)
			break;
		obj = n->in[0];
	}
	uint32_t v = node1(fs, OP_GETATTR, &obj, 1, VK_ANY, loc);
	ir_node(L->m, ir_val(L->m, v)->def)->a.name.name = name;
	const struct ir_type *t = annot_type(L, d->type);
	if (t->kind == VK_OPTIONAL) {   /* None or not: known once the record is */
		ir_val(L->m, v)->kind = VK_OPTIONAL;
		ir_val(L->m, v)->type = t;
	} else {
		typed_value_of(L, v, t);
	}
	return v;
}

/* obj.name = v on a record: a new record, which every name bound to the old one now
 * means. */
static void write_field(struct fn_state *fs, const struct ts_expr *t, uint32_t v)
{
	struct lower *L = fs->L;
	const char *name = t->u.attr.name;
	uint32_t obj = lower_expr(fs, t->u.attr.obj);
	struct ts_class *c = user_class(L, obj);
	if (!c)
		diag_error(L->ctx, t->loc, "the model assigns attribute '%s' at run time; kiln "
		           "compiles models whose module attributes are constant", name);
	if (!find_attr(c, name))
		diag_error(L->ctx, t->loc, "class '%s' declares no attribute '%s'", class_of(L, obj),
		           name);
	check_owned(L, obj, t->loc);
	uint32_t in[2] = {obj, v};
	uint32_t r = node1(fs, OP_OBJ_SET, in, 2, VK_OBJECT, t->loc);
	ir_val(L->m, r)->type = ir_val(L->m, obj)->type;
	ir_node(L->m, ir_val(L->m, r)->def)->a.name.name = name;
	rebind_value(fs, obj, r);
}

/* The results of call node n of lowered function lw: the value returned, then the
 * final records of the object arguments the callee changes, to which the caller's
 * names are rebound. A parameter object returned is the caller's argument itself. */
static uint32_t call_results(struct fn_state *fs, uint32_t n, const struct lowered *lw,
                             const uint32_t *in)
{
	struct lower *L = fs->L;
	struct ir_module *m = L->m;
	struct ir_block *body = VEC_AT(&m->funcs, struct ir_func *, lw->func)->body;
	struct loc loc = ir_node(m, n)->loc;
	uint32_t r = body->nrets ? body->rets[0] : IR_NONE, out = ir_node(m, n)->out[0];
	ir_val(m, out)->kind = r != IR_NONE ? ir_val(m, r)->kind : VK_NONE;
	ir_val(m, out)->type = r != IR_NONE ? ir_val(m, r)->type : NULL;
	const struct ir_type *decl = lw->def->ret_type ? annot_type(L, lw->def->ret_type) : NULL;
	if (decl && ir_val(m, out)->kind == VK_OPTIONAL && decl->kind != VK_OPTIONAL &&
	    decl->kind != VK_ANY)   /* None only on a path that raises */
		typed_value_of(L, out, decl);
	uint32_t result = out;
	for (int i = 0; i < body->nparams; i++)
		if (r == body->params[i])
			result = in[i];
	for (int j = 0; j < lw->ninout; j++) {
		uint32_t arg = in[lw->inout[j]], o = ir_node(m, n)->out[1 + j];
		ir_val(m, o)->kind = VK_OBJECT;
		ir_val(m, o)->type = ir_val(m, arg)->type;
		ir_val(m, o)->loc = loc;
		if (!user_class(L, arg))
			diag_error(L->ctx, loc, "this call changes an object it is not given");
		check_owned(L, arg, loc);
		rebind_value(fs, arg, o);
		if (r == body->rets[1 + j])
			result = o;
	}
	return result;
}

/* A tensor constant from the archive, made contiguous. */
uint32_t ts_tensor_const(struct ir_module *m, struct ir_block *b, const struct pt_tensor *t,
                         const char *name, struct loc loc)
{
	struct ir_shape s = {.rank = t->rank};
	int64_t numel = 1, expect = 1;
	int contiguous = 1;
	for (int i = t->rank - 1; i >= 0; i--) {
		s.dims[i] = t->sizes[i];
		if (t->sizes[i] != 1 && t->strides[i] != expect)
			contiguous = 0;
		expect *= t->sizes[i];
		numel *= t->sizes[i];
	}
	size_t es = dtype_size(t->dtype);
	if (!es)
		diag_error(m->ctx, loc, "tensor '%s' has an unsupported element type", name);
	const unsigned char *src = t->storage->data;
	const void *data;
	if (contiguous) {
		data = src + (size_t)t->offset * es;
	} else {
		unsigned char *dst = arena_alloc(&m->ctx->arena, (size_t)numel * es + 1);
		for (int64_t i = 0; i < numel; i++) {
			int64_t rem = i, off = t->offset;
			for (int d = t->rank - 1; d >= 0; d--) {
				off += (rem % t->sizes[d]) * t->strides[d];
				rem /= t->sizes[d];
			}
			memcpy(dst + (size_t)i * es, src + (size_t)off * es, es);
		}
		data = dst;
	}
	uint32_t v = ir_const_tensor(m, b, t->dtype, &s, data, name);
	ir_node(m, ir_val(m, v)->def)->loc = loc;
	return v;
}

static uint32_t lower_constant_ref(struct fn_state *fs, const struct ts_expr *e)
{
	struct lower *L = fs->L;
	const char *c = e->u.attr.name;
	char *end;
	long idx = c[0] == 'c' ? strtol(c + 1, &end, 10) : -1;
	if (idx < 0 || *end || !L->constants || L->constants->kind != PV_TUPLE ||
	    (size_t)idx >= L->constants->u.seq.n)
		diag_error(L->ctx, e->loc, "CONSTANTS.%s does not exist in constants.pkl", c);
	struct pv *p = L->constants->u.seq.items[idx];
	const char *name = arena_printf(&L->ctx->arena, "CONSTANTS.%s", c);
	switch (p->kind) {
	case PV_TENSOR: return ts_tensor_const(L->m, fs->b, p->u.tensor, name, e->loc);
	case PV_INT: return with_loc(fs, ir_const_int(L->m, fs->b, p->u.i), e->loc);
	case PV_FLOAT: return with_loc(fs, ir_const_float(L->m, fs->b, p->u.f), e->loc);
	case PV_BOOL: return with_loc(fs, ir_const_bool(L->m, fs->b, p->u.b), e->loc);
	case PV_STR: return with_loc(fs, ir_const_str(L->m, fs->b, p->u.str.s), e->loc);
	case PV_NONE: return with_loc(fs, ir_const_none(L->m, fs->b), e->loc);
	default:
		diag_error(L->ctx, e->loc, "CONSTANTS.%s is a %s, which kiln does not support", c,
		           pv_kind_name(p->kind));
	}
}

/* self.name / obj.name on an object: typed by the class's annotation. */
static uint32_t lower_getattr(struct fn_state *fs, uint32_t obj, const char *name, struct loc loc)
{
	struct lower *L = fs->L;
	struct ir_value *ov = ir_val(L->m, obj);
	if (ov->kind != VK_OBJECT || !ov->type || !ov->type->qualname)
		diag_error(L->ctx, loc, "attribute '%s' read from a value that is not an object", name);
	if (user_class(L, obj))
		return read_field(fs, obj, name, loc);
	struct ts_class *c = find_class(L, ov->type->qualname);
	const struct ts_attr_decl *d = find_attr(c, name);
	uint32_t v = node1(fs, OP_GETATTR, &obj, 1, VK_ANY, loc);
	ir_node(L->m, ir_val(L->m, v)->def)->a.name.name = name;
	if (d && d->value && d->is_final)
		return lower_expr(fs, d->value);
	if (d)
		typed_value_of(L, v, annot_type(L, d->type));
	else if (strcmp(name, "training") == 0)
		ir_val(L->m, v)->kind = VK_BOOL;
	else if (!c)
		diag_error(L->ctx, loc, "class '%s' has no code in the archive", ov->type->qualname);
	else
		diag_error(L->ctx, loc, "class '%s' declares no attribute '%s'", ov->type->qualname, name);
	return v;
}

static enum vkind arith_kind(struct ir_module *m, const uint32_t *in, int nin, enum aten_result r)
{
	int tensor = 0, flt = 0;
	for (int i = 0; i < nin && i < 2; i++) {
		if (in[i] == IR_NONE)
			continue;
		enum vkind k = ir_val(m, in[i])->kind;
		tensor |= k == VK_TENSOR || k == VK_ANY || k == VK_UNKNOWN;
		flt |= k == VK_FLOAT;
	}
	if (tensor)
		return VK_TENSOR;
	if (r == R_CMP)
		return VK_BOOL;
	return flt || r == R_DIV ? VK_FLOAT : VK_INT;
}

/* Place positional and keyword arguments by the schema, filling defaults. */
static void place_args(struct fn_state *fs, const struct aten_schema *s, const struct ts_expr *call,
                       uint32_t *in)
{
	struct lower *L = fs->L;
	int filled[ATEN_MAX_ARGS] = {0};
	if (call->u.call.nargs > s->nargs)
		diag_error(L->ctx, call->loc, "too many arguments to '%s': %d given, at most %d",
		           s->name, call->u.call.nargs, s->nargs);
	for (int i = 0; i < call->u.call.nargs; i++) {
		in[i] = lower_expr(fs, call->u.call.args[i]);
		filled[i] = 1;
	}
	for (int k = 0; k < call->u.call.nkw; k++) {
		int j = 0;
		while (j < s->nargs && strcmp(s->args[j], call->u.call.kwnames[k]) != 0)
			j++;
		if (j == s->nargs)
			diag_error(L->ctx, call->u.call.kwargs[k]->loc, "'%s' has no argument '%s'",
			           s->name, call->u.call.kwnames[k]);
		in[j] = lower_expr(fs, call->u.call.kwargs[k]);
		filled[j] = 1;
	}
	for (int j = 0; j < s->nargs; j++) {
		if (filled[j])
			continue;
		if (!s->has_default[j])
			diag_error(L->ctx, call->loc, "'%s' is missing its argument '%s'", s->name,
			           s->args[j]);
		const struct aten_default *d = &s->deflt[j];
		switch (d->kind) {
		case CK_NONE: in[j] = ir_const_none(L->m, fs->b); break;
		case CK_INT: in[j] = ir_const_int(L->m, fs->b, d->i); break;
		case CK_BOOL: in[j] = ir_const_bool(L->m, fs->b, (int)d->i); break;
		case CK_FLOAT: in[j] = ir_const_float(L->m, fs->b, d->f); break;
		case CK_STR: in[j] = ir_const_str(L->m, fs->b, d->s); break;
		case CK_INTS: in[j] = ir_const_ints(L->m, fs->b, d->ints, d->n); break;
		default: unreachable();
		}
	}
}

/* The outputs of multi-result node n as the TUPLE the call returns (typed, so that
 * unpacking and indexing fold to the outputs themselves). */
static uint32_t lower_outputs_tuple(struct fn_state *fs, uint32_t n, struct loc loc)
{
	struct lower *L = fs->L;
	int k = ir_node(L->m, n)->nout;
	struct ir_type *t = (struct ir_type *)make_type(L, VK_TUPLE, NULL);
	t->nelem = k;
	t->elem = arena_alloc(&L->ctx->arena, sizeof *t->elem * (size_t)k);
	for (int i = 0; i < k; i++)
		t->elem[i] = make_type(L, VK_TENSOR, NULL);
	uint32_t v = node1(fs, OP_TUPLE, ir_node(L->m, n)->out, k, VK_TUPLE, loc);
	ir_val(L->m, v)->type = t;
	return v;
}

/* torch.<name>(...) / ops.<ns>.<name>(...). */
static uint32_t lower_aten(struct fn_state *fs, const char *name, const char *shown,
                           const struct ts_expr *call)
{
	struct lower *L = fs->L;
	int id = aten_lookup(name);
	if (id < 0) {
		diag_error_soft(L->ctx, call->loc, "unsupported operator '%s'", shown);
		uint32_t v = node1(fs, OP_ATEN, NULL, 0, VK_ANY, call->loc);
		ir_node(L->m, ir_val(L->m, v)->def)->a.aten = (struct aten_attr){name, -1};
		return v;
	}
	const struct aten_schema *s = aten_schema((enum aten_id)id);
	uint32_t in[ATEN_MAX_ARGS];
	place_args(fs, s, call, in);
	int nout = s->result == R_TENSOR2 || s->result == R_TUPLE2 ? 2 : s->result == R_TUPLE3 ? 3 : 1;
	uint32_t n = ir_add_node(L->m, fs->b, OP_ATEN, in, s->nargs, nout);
	struct ir_node *node = ir_node(L->m, n);
	node->loc = call->loc;
	node->a.aten = (struct aten_attr){s->name, id};
	enum vkind k;
	switch (s->result) {
	case R_TENSOR: case R_TENSOR2: case R_TUPLE2: case R_TUPLE3: k = VK_TENSOR; break;
	case R_TENSORLIST: k = VK_LIST; break;
	case R_ARITH: case R_DIV: case R_CMP: k = arith_kind(L->m, in, s->nargs, s->result); break;
	case R_INT: k = VK_INT; break;
	case R_FLOAT: k = VK_FLOAT; break;
	case R_BOOL: k = VK_BOOL; break;
	case R_NONE: k = VK_NONE; break;
	case R_DEVICE: k = VK_DEVICE; break;
	case R_STR: k = VK_STR; break;
	case R_SIZE: k = ir_val(L->m, in[1])->kind == VK_NONE ? VK_LIST : VK_INT; break;
	case R_SAME: k = ir_val(L->m, in[0])->kind; break;
	default: unreachable();
	}
	for (int i = 0; i < nout; i++) {
		ir_val(L->m, ir_node(L->m, n)->out[i])->kind = k;
		ir_val(L->m, ir_node(L->m, n)->out[i])->loc = call->loc;
	}
	uint32_t out = ir_node(L->m, n)->out[0];
	if (s->result == R_TUPLE2 || s->result == R_TUPLE3)
		return lower_outputs_tuple(fs, n, call->loc);
	size_t len = strlen(name);
	if (len > 1 && name[len - 1] == '_' && name[0] != '_')
		rebind_value(fs, in[0], out);
	return out;
}

static uint32_t lower_dict_method(struct fn_state *fs, uint32_t d, const char *method,
                                  struct loc loc);

/* (obj).method(args) on a module or class object. */
static uint32_t lower_method_call(struct fn_state *fs, uint32_t obj, const char *method,
                                  const struct ts_expr *call)
{
	struct lower *L = fs->L;
	struct ir_value *ov = ir_val(L->m, obj);
	if (ov->kind == VK_DICT && call->u.call.nargs == 0)
		return lower_dict_method(fs, obj, method, call->loc);
	if (ov->kind != VK_OBJECT || !ov->type || !ov->type->qualname)
		diag_error(L->ctx, call->loc, "method '%s' called on a value that is not an object",
		           method);
	if (call->u.call.nkw)
		diag_error(L->ctx, call->loc, "keyword arguments to method '%s' are not supported",
		           method);
	const char *qual = ov->type->qualname;
	uint32_t f = lower_method(L, qual, method, call->loc);
	int nin = call->u.call.nargs + 1;
	uint32_t *in = arena_alloc(&L->ctx->arena, sizeof *in * (size_t)nin);
	in[0] = obj;
	for (int i = 1; i < nin; i++)
		in[i] = lower_expr(fs, call->u.call.args[i - 1]);
	struct ir_func *fn = VEC_AT(&L->m->funcs, struct ir_func *, f);
	if (fn->body->nparams != nin)
		diag_error(L->ctx, call->loc, "'%s.%s' takes %d arguments, %d given", qual, method,
		           fn->body->nparams - 1, nin - 1);
	const struct lowered *lw = find_lowered(L, f);
	uint32_t n = ir_add_node(L->m, fs->b, OP_CALL_METHOD, in, nin, 1 + lw->ninout);
	struct ir_node *node = ir_node(L->m, n);
	node->loc = call->loc;
	node->a.call = (struct call_attr){method, qual, f};
	return call_results(fs, n, lw, in);
}

/* A call of free function `qualname`: positional, keyword and default arguments. */
static uint32_t lower_function_call(struct fn_state *fs, const char *qualname,
                                    const struct ts_expr *call)
{
	struct lower *L = fs->L;
	struct ts_class *nt = find_class(L, qualname);
	if (nt && nt->base && strcmp(nt->base, "NamedTuple") == 0) {
		struct ts_expr e = {.kind = TE_TUPLE, .loc = call->loc};
		e.u.seq.items = call->u.call.args;
		e.u.seq.n = call->u.call.nargs;
		return lower_seq(fs, &e, OP_TUPLE, VK_TUPLE);
	}
	uint32_t f = lower_function(L, qualname, call->loc);
	struct ir_func *fn = VEC_AT(&L->m->funcs, struct ir_func *, f);
	const struct lowered *lw = find_lowered(L, f);
	const struct ts_def *def = lw->def;
	int n = def->nparams;
	if (call->u.call.nargs > n)
		diag_error(L->ctx, call->loc, "'%s' takes %d arguments, %d given", qualname, n,
		           call->u.call.nargs);
	uint32_t *in = arena_alloc(&L->ctx->arena, sizeof *in * (size_t)(n + 1));
	for (int i = 0; i < n; i++)
		in[i] = IR_NONE;
	for (int i = 0; i < call->u.call.nargs; i++)
		in[i] = lower_expr(fs, call->u.call.args[i]);
	for (int k = 0; k < call->u.call.nkw; k++) {
		int j = 0;
		while (j < n && strcmp(def->params[j].name, call->u.call.kwnames[k]) != 0)
			j++;
		if (j == n)
			diag_error(L->ctx, call->u.call.kwargs[k]->loc, "'%s' has no argument '%s'",
			           qualname, call->u.call.kwnames[k]);
		in[j] = lower_expr(fs, call->u.call.kwargs[k]);
	}
	for (int i = 0; i < n; i++) {
		if (in[i] != IR_NONE)
			continue;
		if (!def->params[i].deflt)
			diag_error(L->ctx, call->loc, "'%s' is missing its argument '%s'", qualname,
			           def->params[i].name);
		in[i] = lower_expr(fs, def->params[i].deflt);
	}
	uint32_t node = ir_add_node(L->m, fs->b, OP_CALL_FUNC, in, n, 1 + lw->ninout);
	struct ir_node *cn = ir_node(L->m, node);
	cn->loc = call->loc;
	cn->a.call = (struct call_attr){fn->name, qualname, f};
	return call_results(fs, node, lw, in);
}

/* torch.append(list, x): lists are values in kiln's SSA, so appending makes a new LIST
 * and every name bound to the old list now means the new one. */
static uint32_t lower_append(struct fn_state *fs, const struct ts_expr *call)
{
	struct lower *L = fs->L;
	if (call->u.call.nargs != 2)
		diag_error(L->ctx, call->loc, "append takes 2 arguments");
	uint32_t list = lower_expr(fs, call->u.call.args[0]);
	uint32_t x = lower_expr(fs, call->u.call.args[1]);
	uint32_t d = ir_val(L->m, list)->def;
	if (d == IR_NONE || ir_node(L->m, d)->op != OP_LIST) {
		/* a list carried by a loop: fold.c appends once the loop is unrolled */
		uint32_t in[2] = {list, x};
		uint32_t nl = node1(fs, OP_ATEN, in, 2, VK_LIST, call->loc);
		ir_node(L->m, ir_val(L->m, nl)->def)->a.aten = (struct aten_attr){"append", ATEN_APPEND};
		ir_val(L->m, nl)->type = ir_val(L->m, list)->type;
		rebind_value(fs, list, nl);
		return ir_const_none(L->m, fs->b);
	}
	struct ir_node *old = ir_node(L->m, d);
	int n = old->nin;
	uint32_t *items = arena_alloc(&L->ctx->arena, sizeof *items * (size_t)(n + 1));
	memcpy(items, old->in, sizeof *items * (size_t)n);
	items[n] = x;
	uint32_t nl = node1(fs, OP_LIST, items, n + 1, VK_LIST, call->loc);
	ir_val(L->m, nl)->type = ir_val(L->m, list)->type;
	rebind_value(fs, list, nl);
	return ir_const_none(L->m, fs->b);
}

/* ---- dicts (str keys): SSA values like lists; DICT(k0, v0, k1, v1, ...) ---- */

/* The DICT node defining d, or an error: kiln follows dicts built in the code it sees. */
static struct ir_node *dict_node(struct fn_state *fs, uint32_t d, struct loc loc)
{
	uint32_t def = ir_val(fs->L->m, d)->def;
	if (def == IR_NONE || ir_node(fs->L->m, def)->op != OP_DICT)
		diag_error(fs->L->ctx, loc, "this dict is not built here (a dict changed in a loop or "
		           "taken as an input cannot be changed or iterated)");
	return ir_node(fs->L->m, def);
}

static uint32_t new_dict(struct fn_state *fs, const uint32_t *in, int nin,
                         const struct ir_type *t, struct loc loc)
{
	uint32_t v = node1(fs, OP_DICT, in, nin, VK_DICT, loc);
	ir_val(fs->L->m, v)->type = t;
	return v;
}

/* {k: v, ...}: keys must be constant strings. */
static uint32_t lower_dict(struct fn_state *fs, const struct ts_expr *e)
{
	struct lower *L = fs->L;
	int n = e->u.dict.n;
	uint32_t *in = arena_alloc(&L->ctx->arena, sizeof *in * (size_t)(2 * n + 1));
	for (int i = 0; i < n; i++) {
		in[2 * i] = lower_expr(fs, e->u.dict.keys[i]);
		in[2 * i + 1] = lower_expr(fs, e->u.dict.vals[i]);
		const struct ir_const *c = ir_const_of(L->m, in[2 * i]);
		if (!c || c->kind != CK_STR)
			diag_error(L->ctx, e->u.dict.keys[i]->loc, "dict keys must be constant strings");
	}
	struct ir_type *t = (struct ir_type *)make_type(L, VK_DICT, NULL);
	t->nelem = 2;
	t->elem = arena_alloc(&L->ctx->arena, sizeof *t->elem * 2);
	t->elem[0] = make_type(L, VK_STR, NULL);
	t->elem[1] = n ? (ir_val(L->m, in[1])->type ? ir_val(L->m, in[1])->type
	                  : make_type(L, ir_val(L->m, in[1])->kind, NULL))
	               : make_type(L, VK_ANY, NULL);
	return new_dict(fs, in, 2 * n, t, e->loc);
}

/* torch._set_item(d, "k", v): a new DICT with k set (in place when present, as Python
 * keeps a key's position), to which every name bound to d is rebound. */
static uint32_t lower_set_item(struct fn_state *fs, const struct ts_expr *call)
{
	struct lower *L = fs->L;
	if (call->u.call.nargs != 3)
		diag_error(L->ctx, call->loc, "_set_item takes 3 arguments");
	uint32_t d = lower_expr(fs, call->u.call.args[0]);
	uint32_t k = lower_expr(fs, call->u.call.args[1]);
	uint32_t x = lower_expr(fs, call->u.call.args[2]);
	if (ir_val(L->m, d)->kind != VK_DICT)
		diag_error(L->ctx, call->loc, "item assignment is supported on dicts only");
	const struct ir_const *kc = ir_const_of(L->m, k);
	if (!kc || kc->kind != CK_STR)
		diag_error(L->ctx, call->loc, "dict keys must be constant strings");
	uint32_t def = ir_val(L->m, d)->def;
	if (def == IR_NONE || ir_node(L->m, def)->op != OP_DICT) {
		/* a dict an IF or a loop returns: fold.c sets the key once it is known */
		uint32_t in[3] = {d, k, x};
		uint32_t nd = node1(fs, OP_DICT_SET, in, 3, VK_DICT, call->loc);
		ir_val(L->m, nd)->type = ir_val(L->m, d)->type;
		rebind_value(fs, d, nd);
		return ir_const_none(L->m, fs->b);
	}
	struct ir_node *old = dict_node(fs, d, call->loc);
	int n = old->nin, at = n;
	uint32_t *in = arena_alloc(&L->ctx->arena, sizeof *in * (size_t)(n + 2));
	memcpy(in, old->in, sizeof *in * (size_t)n);
	for (int i = 0; i < n; i += 2)
		if (strcmp(ir_const_of(L->m, in[i])->s, kc->s) == 0)
			at = i;
	in[at] = k;
	in[at + 1] = x;
	uint32_t nd = new_dict(fs, in, at == n ? n + 2 : n, ir_val(L->m, d)->type, call->loc);
	rebind_value(fs, d, nd);
	return ir_const_none(L->m, fs->b);
}

/* d.keys(), d.values(), d.items() of a dict built here: lists, in insertion order. */
static uint32_t lower_dict_method(struct fn_state *fs, uint32_t d, const char *method,
                                  struct loc loc)
{
	struct lower *L = fs->L;
	int keys = !strcmp(method, "keys"), items = !strcmp(method, "items");
	if (ir_val(L->m, d)->kind != VK_DICT)
		diag_error(L->ctx, loc, "'%s' is supported on dicts only", method);
	if (!keys && !items && strcmp(method, "values"))
		diag_error(L->ctx, loc, "dict method '%s' is not supported", method);
	const struct ir_type *dt = ir_val(L->m, d)->type;
	const struct ir_type *vt = dt && dt->nelem == 2 ? dt->elem[1] : make_type(L, VK_ANY, NULL);
	struct ir_type *t = (struct ir_type *)make_type(L, VK_LIST, NULL), *pair = NULL;
	t->nelem = 1;
	t->elem = arena_alloc(&L->ctx->arena, sizeof *t->elem);
	t->elem[0] = keys ? make_type(L, VK_STR, NULL) : vt;
	if (items) {
		pair = (struct ir_type *)make_type(L, VK_TUPLE, NULL);
		pair->nelem = 2;
		pair->elem = arena_alloc(&L->ctx->arena, sizeof *pair->elem * 2);
		pair->elem[0] = make_type(L, VK_STR, NULL);
		pair->elem[1] = vt;
		t->elem[0] = pair;
	}
	uint32_t def = ir_val(L->m, d)->def, v;
	if (def == IR_NONE || ir_node(L->m, def)->op != OP_DICT) {
		/* a dict an IF or a loop returns: fold.c makes the list once the dict is known */
		v = node1(fs, OP_ATEN, &d, 1, VK_LIST, loc);
		ir_node(L->m, ir_val(L->m, v)->def)->a.aten = (struct aten_attr){
			method, keys ? ATEN_DICT_KEYS : items ? ATEN_DICT_ITEMS : ATEN_DICT_VALUES};
	} else {
		int n = ir_node(L->m, def)->nin / 2;
		uint32_t *in = arena_alloc(&L->ctx->arena, sizeof *in * (size_t)(n + 1));
		for (int i = 0; i < n; i++) {
			struct ir_node *dn = ir_node(L->m, def);
			uint32_t kv[2] = {dn->in[2 * i], dn->in[2 * i + 1]};
			in[i] = keys ? kv[0] : !items ? kv[1] : node1(fs, OP_TUPLE, kv, 2, VK_TUPLE, loc);
			if (items)
				ir_val(L->m, in[i])->type = pair;
		}
		v = node1(fs, OP_LIST, in, n, VK_LIST, loc);
	}
	ir_val(L->m, v)->type = t;
	return v;
}

/* ops.prim.RaiseException(msg[, cls]): a RAISE node, reached only if control gets there. */
static uint32_t lower_raise(struct fn_state *fs, const struct ts_expr *msg, struct loc loc)
{
	uint32_t in = msg ? lower_expr(fs, msg) : ir_const_str(fs->L->m, fs->b, "Exception");
	uint32_t n = ir_add_node(fs->L->m, fs->b, OP_RAISE, &in, 1, 0);
	ir_node(fs->L->m, n)->loc = loc;
	return ir_const_none(fs->L->m, fs->b);
}

static uint32_t lower_builtin(struct fn_state *fs, const char *name, const struct ts_expr *e,
                              int *handled)
{
	struct lower *L = fs->L;
	const struct ts_expr *const *args = (const struct ts_expr *const *)e->u.call.args;
	int nargs = e->u.call.nargs;
	*handled = 1;
	if ((strcmp(name, "annotate") == 0 || strcmp(name, "unchecked_cast") == 0) && nargs == 2) {
		uint32_t v = lower_expr(fs, args[1]);
		const struct ir_type *t = annot_type(L, args[0]);
		if (ir_val(L->m, v)->kind == VK_OPTIONAL && t->kind == VK_TENSOR)
			return node1(fs, OP_IDENTITY, &v, 1, VK_TENSOR, e->loc); /* refined */
		if (t->kind != VK_ANY && t->kind != VK_OPTIONAL && ir_val(L->m, v)->kind == VK_ANY)
			ir_val(L->m, v)->kind = t->kind;
		if ((t->kind == VK_DICT || t->kind == VK_LIST) && ir_val(L->m, v)->kind == t->kind)
			ir_val(L->m, v)->type = t;   /* {} / [] annotated Dict[str, T] / List[T] */
		return v;
	}
	if (strcmp(name, "uninitialized") == 0 && nargs == 1)   /* break/continue flags' partners */
		return with_loc(fs, ts_uninitialized(L->m, fs->b, annot_type(L, args[0])->kind), e->loc);
	if (strcmp(name, "getattr") == 0 && nargs == 2 && args[1]->kind == TE_STR)
		return lower_getattr(fs, lower_expr(fs, args[0]), args[1]->u.str.s, e->loc);
	static const struct { const char *py, *aten; } conv[] = {
		{"int", "Int"}, {"float", "Float"}, {"len", "len"}, {"bool", "Bool"}, {"str", "str"},
	};
	for (size_t i = 0; i < sizeof conv / sizeof *conv; i++)
		if (strcmp(name, conv[i].py) == 0)
			return lower_aten(fs, conv[i].aten, name, e);
	*handled = 0;
	return IR_NONE;
}

static uint32_t lower_call_expr(struct fn_state *fs, const struct ts_expr *e)
{
	struct lower *L = fs->L;
	const struct ts_expr *fn = e->u.call.fn;
	const char *name = dotted(&L->ctx->arena, fn);
	if (name && strcmp(name, "torch.format") == 0 && e->u.call.nargs >= 1) {
		/* Only messages are formatted: keep the format string itself. */
		for (int i = 1; i < e->u.call.nargs; i++)
			lower_expr(fs, e->u.call.args[i]);
		return lower_expr(fs, e->u.call.args[0]);
	}
	if (name && strcmp(name, "torch.append") == 0)
		return lower_append(fs, e);
	if (name && strcmp(name, "torch._set_item") == 0)
		return lower_set_item(fs, e);
	if (name && e->u.call.nargs == 1 && (!strcmp(name, "torch.items") ||
	                                     !strcmp(name, "torch.keys") || !strcmp(name, "torch.values")))
		return lower_dict_method(fs, lower_expr(fs, e->u.call.args[0]), name + 6, e->loc);
	if (name && strcmp(name, "ops.prim.RaiseException") == 0)
		return lower_raise(fs, e->u.call.nargs ? e->u.call.args[0] : NULL, e->loc);
	size_t len = name ? strlen(name) : 0;
	if (len > 18 && strncmp(name, "__torch__.", 10) == 0 &&
	    strcmp(name + len - 8, ".__new__") == 0 && !find_binding(fs, "__torch__"))
		return lower_new(fs, name, e->loc);
	if (name && strncmp(name, "__torch__.", 10) == 0 && !find_binding(fs, "__torch__"))
		return lower_function_call(fs, name, e);
	if (fn->kind == TE_NAME && find_binding(fs, fn->u.name) && find_binding(fs, fn->u.name)->func)
		return lower_function_call(fs, find_binding(fs, fn->u.name)->func, e);
	if (name && strncmp(name, "torch.", 6) == 0 && !strchr(name + 6, '.')) {
		if (strcmp(name, "torch.device") == 0 && e->u.call.nargs == 1 &&
		    e->u.call.args[0]->kind == TE_STR) {
			uint32_t v = ir_const_str(L->m, fs->b, e->u.call.args[0]->u.str.s);
			ir_val(L->m, v)->kind = VK_DEVICE;
			ir_node(L->m, ir_val(L->m, v)->def)->a.konst.kind = CK_DEVICE;
			return with_loc(fs, v, e->loc);
		}
		return lower_aten(fs, name + 6, arena_printf(&L->ctx->arena, "aten::%s", name + 6), e);
	}
	if (name && strncmp(name, "ops.", 4) == 0) {
		const char *rest = name + 4, *dot = strchr(rest, '.');
		if (dot && strncmp(rest, "aten.", 5) == 0)
			return lower_aten(fs, dot + 1, arena_printf(&L->ctx->arena, "aten::%s", dot + 1), e);
		const char *shown = dot ? arena_printf(&L->ctx->arena, "%.*s::%s", (int)(dot - rest),
		                                       rest, dot + 1)
		                        : rest;
		return lower_aten(fs, rest, shown, e);
	}
	if (name && fn->kind == TE_NAME) {
		int handled;
		uint32_t v = lower_builtin(fs, name, e, &handled);
		if (handled)
			return v;
	}
	if (fn->kind == TE_ATTR) {
		uint32_t obj;
		int is_name = fn->u.attr.obj->kind == TE_NAME;
		if (!is_name || lookup(fs, fn->u.attr.obj->u.name, &obj))
			return lower_method_call(fs, lower_expr(fs, fn->u.attr.obj), fn->u.attr.name, e);
	}
	diag_error_soft(L->ctx, e->loc, "unsupported call of '%s'", name ? name : "an expression");
	return node1(fs, OP_ATEN, NULL, 0, VK_ANY, e->loc);
}

static uint32_t lower_seq(struct fn_state *fs, const struct ts_expr *e, enum op op, enum vkind k)
{
	int n = e->u.seq.n;
	uint32_t *in = arena_alloc(&fs->L->ctx->arena, sizeof *in * (size_t)(n ? n : 1));
	for (int i = 0; i < n; i++)
		in[i] = lower_expr(fs, e->u.seq.items[i]);
	return node1(fs, op, in, n, k, e->loc);
}

/* x[i] on a tuple or list with a constant index. */
static uint32_t lower_subscript(struct fn_state *fs, const struct ts_expr *e)
{
	struct lower *L = fs->L;
	uint32_t obj = lower_expr(fs, e->u.sub.obj);
	if (e->u.sub.index->kind == TE_SLICE || e->u.sub.index->kind == TE_TUPLE)
		diag_error(L->ctx, e->loc, "slicing a %s value is not supported",
		           ir_val(L->m, obj)->kind == VK_TENSOR ? "tensor" : "container");
	uint32_t idx = lower_expr(fs, e->u.sub.index);
	uint32_t in[2] = {obj, idx};
	enum vkind k = VK_ANY;
	const struct ir_type *t = ir_val(L->m, obj)->type;
	const struct ir_const *c = ir_const_of(L->m, idx);
	const struct ir_type *et = NULL;
	if (t && t->nelem > 0) {
		int i = c && c->kind == CK_INT && t->kind == VK_TUPLE ? (int)c->i : 0;
		if (i >= 0 && i < t->nelem)
			et = t->elem[i];
		k = et ? et->kind : k;
	} else if (ir_val(L->m, obj)->kind == VK_LIST) {
		k = VK_TENSOR; /* lists of tensors from chunk/split */
	}
	if (t && t->kind == VK_DICT && t->nelem == 2) {   /* d["key"] */
		et = t->elem[1];
		k = et->kind == VK_OPTIONAL ? VK_OPTIONAL : et->kind;
	}
	uint32_t v = node1(fs, OP_GETITEM, in, 2, k, e->loc);
	if (k == VK_OBJECT || k == VK_DICT)
		ir_val(L->m, v)->type = et;
	return v;
}

static const char *binop_aten(enum ts_op op)
{
	switch (op) {
	case TO_ADD: return "add";
	case TO_SUB: return "sub";
	case TO_MUL: return "mul";
	case TO_DIV: return "div";
	case TO_FLOORDIV: return "floordiv";
	case TO_MOD: return "remainder";
	case TO_POW: return "pow";
	case TO_EQ: return "eq";
	case TO_NE: return "ne";
	case TO_LT: return "lt";
	case TO_LE: return "le";
	case TO_GT: return "gt";
	case TO_GE: return "ge";
	case TO_AND: return "__and__";
	case TO_OR: return "__or__";
	case TO_IS: return "__is__";
	case TO_ISNOT: return "__isnot__";
	default: return NULL;
	}
}

/* a OP b as the aten call it denotes. */
static uint32_t lower_binop(struct fn_state *fs, enum ts_op op, const struct ts_expr *a,
                            const struct ts_expr *b, struct loc loc)
{
	const char *name = binop_aten(op);
	if (!name)
		diag_error(fs->L->ctx, loc, "operator '%s' is not supported", ts_op_str(op));
	struct ts_expr *args[2] = {(struct ts_expr *)a, (struct ts_expr *)b};
	struct ts_expr call = {.kind = TE_CALL, .loc = loc};
	call.u.call.args = args;
	call.u.call.nargs = 2;
	return lower_aten(fs, name, arena_printf(&fs->L->ctx->arena, "aten::%s", name), &call);
}

static uint32_t lower_expr(struct fn_state *fs, const struct ts_expr *e)
{
	struct lower *L = fs->L;
	struct ir_module *m = L->m;
	uint32_t v;
	switch (e->kind) {
	case TE_NAME:
		if (lookup(fs, e->u.name, &v))
			return v;
		if (strcmp(e->u.name, "inf") == 0 || strcmp(e->u.name, "nan") == 0)
			return with_loc(fs, ir_const_float(m, fs->b, e->u.name[0] == 'i' ? 1.0 / 0.0 : 0.0 / 0.0), e->loc);
		diag_error(L->ctx, e->loc, "undefined name '%s'", e->u.name);
	case TE_INT: return with_loc(fs, ir_const_int(m, fs->b, e->u.i), e->loc);
	case TE_FLOAT: return with_loc(fs, ir_const_float(m, fs->b, e->u.f), e->loc);
	case TE_STR: return with_loc(fs, ir_const_str(m, fs->b, e->u.str.s), e->loc);
	case TE_NONE: return with_loc(fs, ir_const_none(m, fs->b), e->loc);
	case TE_BOOL: return with_loc(fs, ir_const_bool(m, fs->b, e->u.b), e->loc);
	case TE_ATTR:
		if (e->u.attr.obj->kind == TE_NAME && strcmp(e->u.attr.obj->u.name, "CONSTANTS") == 0 &&
		    !lookup(fs, "CONSTANTS", &v))
			return lower_constant_ref(fs, e);
		return lower_getattr(fs, lower_expr(fs, e->u.attr.obj), e->u.attr.name, e->loc);
	case TE_CALL: return lower_call_expr(fs, e);
	case TE_SUBSCRIPT: return lower_subscript(fs, e);
	case TE_TUPLE: return lower_seq(fs, e, OP_TUPLE, VK_TUPLE);
	case TE_LIST: return lower_seq(fs, e, OP_LIST, VK_LIST);
	case TE_DICT: return lower_dict(fs, e);
	case TE_UNARY:
		if (e->u.un.op == TO_NOT) {
			struct ts_expr *args[1] = {e->u.un.a};
			struct ts_expr call = {.kind = TE_CALL, .loc = e->loc};
			call.u.call.args = args;
			call.u.call.nargs = 1;
			return lower_aten(fs, "__not__", "aten::__not__", &call);
		}
		if (e->u.un.op == TO_NEG) {
			struct ts_expr zero = {.kind = TE_INT, .loc = e->loc};
			return lower_binop(fs, TO_SUB, &zero, e->u.un.a, e->loc);
		}
		break;
	case TE_BINARY: case TE_BOOLOP:
		return lower_binop(fs, e->u.bin.op, e->u.bin.a, e->u.bin.b, e->loc);
	case TE_COMPARE:
		if (e->u.cmp.n == 1)
			return lower_binop(fs, e->u.cmp.ops[0], e->u.cmp.items[0], e->u.cmp.items[1],
			                   e->loc);
		break;
	default: break;
	}
	diag_error(L->ctx, e->loc, "this kind of expression is not supported yet");
}

/* ---- statements ---- */

static void assign_target(struct fn_state *fs, const struct ts_expr *t, uint32_t v)
{
	struct lower *L = fs->L;
	if (t->kind == TE_NAME) {
		if (!ir_val(L->m, v)->name)
			ir_val(L->m, v)->name = t->u.name;
		bind(fs, t->u.name, v);
		return;
	}
	if (t->kind == TE_ATTR) {
		write_field(fs, t, v);
		return;
	}
	if (t->kind != TE_TUPLE && t->kind != TE_LIST)
		diag_error(L->ctx, t->loc, "assignment to this kind of target is not supported");
	int n = t->u.seq.n;
	uint32_t d = ir_val(L->m, v)->def;
	struct ir_node *src = d != IR_NONE ? ir_node(L->m, d) : NULL;
	if (src && (src->op == OP_TUPLE || src->op == OP_LIST)) {
		if (src->nin != n)
			diag_error(L->ctx, t->loc, "cannot unpack %d values into %d names", src->nin, n);
		uint32_t *items = src->in;
		for (int i = 0; i < n; i++)
			assign_target(fs, t->u.seq.items[i], items[i]);
		return;
	}
	uint32_t un = ir_add_node(L->m, fs->b, OP_UNPACK, &v, 1, n);
	ir_node(L->m, un)->loc = t->loc;
	const struct ir_type *ty = ir_val(L->m, v)->type;
	for (int i = 0; i < n; i++) {
		uint32_t o = ir_node(L->m, un)->out[i];
		struct ir_value *ov = ir_val(L->m, o);
		ov->kind = ty && ty->kind == VK_TUPLE && i < ty->nelem ? ty->elem[i]->kind
		           : ty && ty->kind == VK_LIST && ty->nelem   ? ty->elem[0]->kind
		                                                      : VK_TENSOR;
		if (ty && ty->kind == VK_TUPLE && i < ty->nelem)
			ov->type = ty->elem[i];
		assign_target(fs, t->u.seq.items[i], o);
	}
}

static void lower_block(struct fn_state *fs, const struct ts_block *blk);

/* The names a block assigns (targets of =, for; NAME of NAME.field =), recursively,
 * each once. */
static void target_names(struct arena *a, const struct ts_expr *t, struct vec *out)
{
	if (t->kind == TE_TUPLE || t->kind == TE_LIST) {
		for (int i = 0; i < t->u.seq.n; i++)
			target_names(a, t->u.seq.items[i], out);
		return;
	}
	if (t->kind == TE_ATTR) {
		target_names(a, t->u.attr.obj, out);
		return;
	}
	if (t->kind != TE_NAME)
		return;
	for (size_t i = 0; i < out->len; i++)
		if (strcmp(VEC_AT(out, const char *, i), t->u.name) == 0)
			return;
	VEC_PUSH(a, out, const char *, t->u.name);
}

/* NAME, if it names an object of a user class now: calls may change it. */
static void object_name(struct fn_state *fs, const struct ts_expr *e, struct vec *out)
{
	uint32_t v;
	if (e->kind == TE_NAME && lookup(fs, e->u.name, &v) && user_class(fs->L, v))
		target_names(&fs->L->ctx->arena, e, out);
}

/* Names an expression mutates in place: torch.append(NAME, ...), torch.relu_(NAME),
 * and objects passed to (NAME).method(...) or to functions. */
static void mutated_names(struct fn_state *fs, const struct ts_expr *e, struct vec *out)
{
	struct arena *a = &fs->L->ctx->arena;
	if (!e || e->kind != TE_CALL)
		return;
	for (int i = 0; i < e->u.call.nargs; i++) {
		mutated_names(fs, e->u.call.args[i], out);
		object_name(fs, e->u.call.args[i], out);
	}
	const struct ts_expr *fn = e->u.call.fn;
	if (fn->kind == TE_ATTR) {
		mutated_names(fs, fn->u.attr.obj, out);
		object_name(fs, fn->u.attr.obj, out);
	}
	if (fn->kind != TE_ATTR || fn->u.attr.obj->kind != TE_NAME ||
	    strcmp(fn->u.attr.obj->u.name, "torch") != 0 || e->u.call.nargs < 1)
		return;
	const char *op = fn->u.attr.name;
	size_t len = strlen(op);
	if (strcmp(op, "append") == 0 || strcmp(op, "_set_item") == 0 ||
	    (len > 1 && op[len - 1] == '_' && op[0] != '_'))
		target_names(a, e->u.call.args[0], out);
}

static void assigned_names(struct fn_state *fs, const struct ts_block *blk, struct vec *out)
{
	struct arena *a = &fs->L->ctx->arena;
	for (int i = 0; i < blk->n; i++) {
		const struct ts_stmt *s = blk->stmts[i];
		if (s->kind == TS_EXPR)
			mutated_names(fs, s->u.expr, out);
		if (s->kind == TS_ASSIGN)
			mutated_names(fs, s->u.assign.value, out);
		switch (s->kind) {
		case TS_ASSIGN:
			for (int k = 0; k < s->u.assign.ntargets; k++)
				target_names(a, s->u.assign.targets[k], out);
			break;
		case TS_ANNASSIGN: target_names(a, s->u.ann.target, out); break;
		case TS_AUGASSIGN: target_names(a, s->u.aug.target, out); break;
		case TS_IF:
			assigned_names(fs, &s->u.if_.then, out);
			assigned_names(fs, &s->u.if_.els, out);
			break;
		case TS_FOR:
			target_names(a, s->u.for_.target, out);
			assigned_names(fs, &s->u.for_.body, out);
			break;
		case TS_WHILE: assigned_names(fs, &s->u.while_.body, out); break;
		case TS_BREAK: case TS_CONTINUE:   /* lower_loop's flags */
			VEC_PUSH(a, out, const char *, "$exit");
			if (s->kind == TS_BREAK)
				VEC_PUSH(a, out, const char *, "$break");
			break;
		default: break;
		}
	}
}

/* Whether blk ends in break or continue (what follows them is not reached). */
static int ends_in_exit(const struct ts_block *blk)
{
	for (int i = 0; i < blk->n; i++)
		if (blk->stmts[i]->kind == TS_BREAK || blk->stmts[i]->kind == TS_CONTINUE)
			return 1;
	return 0;
}

/* Whether blk breaks or continues its loop (not counting loops nested in it). */
static int has_exit(const struct ts_block *blk)
{
	for (int i = 0; i < blk->n; i++) {
		const struct ts_stmt *s = blk->stmts[i];
		if (s->kind == TS_BREAK || s->kind == TS_CONTINUE ||
		    (s->kind == TS_IF && (has_exit(&s->u.if_.then) || has_exit(&s->u.if_.els))))
			return 1;
	}
	return 0;
}

/* A control-flow node with nout outputs and the given blocks. */
static uint32_t cf_node(struct fn_state *fs, enum op op, const uint32_t *in, int nin, int nout,
                        struct ir_block **blocks, int nblocks, struct loc loc)
{
	struct ir_module *m = fs->L->m;
	uint32_t n = ir_add_node(m, fs->b, op, in, nin, nout);
	struct ir_node *node = ir_node(m, n);
	node->loc = loc;
	node->blocks = arena_alloc(&fs->L->ctx->arena, sizeof *blocks * (size_t)nblocks);
	memcpy(node->blocks, blocks, sizeof *blocks * (size_t)nblocks);
	node->nblocks = nblocks;
	return n;
}

/* Lower blk into a new block; returns it. Bindings made inside are dropped afterwards
 * (the caller reads them through *marks first). */
static struct ir_block *sub_block(struct fn_state *fs, const struct ts_block *blk)
{
	struct ir_block *saved = fs->b, *b = ir_new_block(fs->L->m);
	fs->b = b;
	lower_block(fs, blk);
	fs->b = saved;
	return b;
}

/* if c: ... else: ... — an IF whose outputs are the names either branch assigns that
 * are visible afterwards (assigned in both, or defined before). */
static void lower_if(struct fn_state *fs, const struct ts_stmt *s)
{
	struct lower *L = fs->L;
	struct arena *a = &L->ctx->arena;
	uint32_t cond = lower_expr(fs, s->u.if_.cond);
	struct vec names = {0};
	assigned_names(fs, &s->u.if_.then, &names);
	assigned_names(fs, &s->u.if_.els, &names);
	size_t mark = fs->env.len, n = names.len;
	uint32_t *tv = arena_alloc(a, sizeof *tv * (n + 1)), *ev = arena_alloc(a, sizeof *ev * (n + 1));
	struct ir_block *blocks[2];
	for (int br = 0; br < 2; br++) {
		uint32_t *vals = br ? ev : tv;
		blocks[br] = sub_block(fs, br ? &s->u.if_.els : &s->u.if_.then);
		for (size_t i = 0; i < n; i++)
			if (!lookup(fs, VEC_AT(&names, const char *, i), &vals[i]))
				vals[i] = IR_NONE;
		fs->env.len = mark;
	}
	/* A branch that breaks or continues (lower_block's guard: its empty first branch) leaves
	 * the tensors and scalars the other defines uninitialized, as TorchScript does. */
	const struct ts_expr *c = s->u.if_.cond;
	int exits[2] = {(c->kind == TE_NAME && strcmp(c->u.name, "$exit") == 0) ||
	                ends_in_exit(&s->u.if_.then), ends_in_exit(&s->u.if_.els)};
	for (size_t i = 0; i < n; i++) {
		for (int br = 0; br < 2; br++) {
			uint32_t *mine = br ? &ev[i] : &tv[i], other = br ? tv[i] : ev[i];
			enum vkind k = other != IR_NONE ? ir_val(L->m, other)->kind : VK_NONE;
			if (*mine == IR_NONE && exits[br] && (k == VK_TENSOR || k == VK_INT ||
			                                      k == VK_FLOAT || k == VK_BOOL))
				*mine = ts_uninitialized(L->m, blocks[br], k);
		}
	}
	size_t k = 0;
	const char **out_names = arena_alloc(a, sizeof *out_names * (n + 1));
	for (size_t i = 0; i < n; i++) {
		if (tv[i] == IR_NONE || ev[i] == IR_NONE)
			continue;
		if (tv[i] == ev[i] && user_class(L, tv[i])) {   /* an object neither branch changed */
			bind(fs, VEC_AT(&names, const char *, i), tv[i]);
			continue;
		}
		out_names[k] = VEC_AT(&names, const char *, i);
		tv[k] = tv[i];
		ev[k++] = ev[i];
	}
	ir_set_rets(L->m, blocks[0], tv, (int)k);
	ir_set_rets(L->m, blocks[1], ev, (int)k);
	uint32_t node = cf_node(fs, OP_IF, &cond, 1, (int)k, blocks, 2, s->loc);
	for (size_t i = 0; i < k; i++) {
		uint32_t o = ir_node(L->m, node)->out[i];
		struct ir_value *t = ir_val(L->m, tv[i]), *e = ir_val(L->m, ev[i]);
		struct ir_value *src = t->kind == VK_NONE ? e : t;
		ir_val(L->m, o)->kind = src->kind;
		ir_val(L->m, o)->type = src->type;
		if ((t->kind == VK_NONE) != (e->kind == VK_NONE))
			ir_val(L->m, o)->kind = VK_OPTIONAL; /* None on one path only */
		ir_val(L->m, o)->name = out_names[i];
		bind(fs, out_names[i], o);
	}
}

/* Objects carried by a loop body that leaves them unchanged are read from outside
 * instead (calls on them made them candidates). Returns the new carried count. */
static int drop_unchanged_objects(struct fn_state *fs, struct ir_block *b, uint32_t *in,
                                  uint32_t *rets, struct vec *carried, int nc)
{
	int k = 0;
	for (int i = 0; i < nc; i++) {
		if (rets[1 + i] == b->params[1 + i] && user_class(fs->L, in[2 + i])) {
			ir_replace_uses(fs->L->m, b->params[1 + i], in[2 + i]);
			continue;
		}
		in[2 + k] = in[2 + i];
		b->params[1 + k] = b->params[1 + i];
		rets[1 + k] = rets[1 + i];
		VEC_AT(carried, const char *, k) = VEC_AT(carried, const char *, i);
		k++;
	}
	b->nparams = 1 + k;
	carried->len = (size_t)k;
	return k;
}

/* for x in range(n) / for x in list, and while c: a LOOP (TorchScript's prim::Loop):
 * inputs (trip count, initial condition, carried...), body parameters (iteration,
 * carried...), body results (next condition, carried...), outputs (carried...).
 * The carried values are the names the body assigns that are defined before it. */
static void lower_loop(struct fn_state *fs, const struct ts_stmt *s)
{
	struct lower *L = fs->L;
	struct ir_module *m = L->m;
	struct arena *a = &L->ctx->arena;
	int is_for = s->kind == TS_FOR;
	const struct ts_block *body = is_for ? &s->u.for_.body : &s->u.while_.body;
	struct vec names = {0}, carried = {0};
	assigned_names(fs, body, &names);
	uint32_t v, trip, cond, list = IR_NONE;
	for (size_t i = 0; i < names.len; i++)   /* the $ flags are per loop and iteration */
		if (VEC_AT(&names, const char *, i)[0] != '$' &&
		    lookup(fs, VEC_AT(&names, const char *, i), &v))
			VEC_PUSH(a, &carried, const char *, VEC_AT(&names, const char *, i));
	if (is_for) {
		const struct ts_expr *it = s->u.for_.iter;
		if (s->u.for_.target->kind != TE_NAME)
			diag_error(L->ctx, s->loc, "for loops with several targets are not supported");
		if (it->kind == TE_CALL && it->u.call.fn->kind == TE_NAME &&
		    strcmp(it->u.call.fn->u.name, "range") == 0 && it->u.call.nargs == 1) {
			trip = lower_expr(fs, it->u.call.args[0]);
		} else {
			list = lower_expr(fs, it);
			struct ts_expr call = {.kind = TE_CALL, .loc = it->loc};
			struct ts_expr *args[1] = {(struct ts_expr *)it};
			call.u.call.args = args;
			call.u.call.nargs = 1;
			trip = lower_aten(fs, "len", "aten::len", &call);
		}
		cond = ir_const_bool(m, fs->b, 1);
	} else {
		trip = ir_const_int(m, fs->b, INT64_MAX);
		cond = lower_expr(fs, s->u.while_.cond);
	}
	int nc = (int)carried.len;
	uint32_t *in = arena_alloc(a, sizeof *in * (size_t)(nc + 2));
	in[0] = trip;
	in[1] = cond;
	for (int i = 0; i < nc; i++)
		lookup(fs, VEC_AT(&carried, const char *, i), &in[2 + i]);
	size_t mark = fs->env.len;
	struct ir_block *b = ir_new_block(m), *saved = fs->b;
	uint32_t iter = ir_add_param(m, b, VK_INT);
	for (int i = 0; i < nc; i++) {
		uint32_t p = ir_add_param(m, b, ir_val(m, in[2 + i])->kind);
		ir_val(m, p)->type = ir_val(m, in[2 + i])->type;
		ir_val(m, p)->name = VEC_AT(&carried, const char *, i);
		bind(fs, VEC_AT(&carried, const char *, i), p);
	}
	fs->b = b;
	if (is_for) {
		uint32_t x = iter;
		if (list != IR_NONE) {
			uint32_t gi[2] = {list, iter};
			x = node1(fs, OP_GETITEM, gi, 2, VK_TENSOR, s->loc);
		}
		bind(fs, s->u.for_.target->u.name, x);
	}
	/* break and continue, as TorchScript compiles them: $exit (this iteration is over)
	 * guards the statements after them (lower_block), $break makes the next condition
	 * false. */
	int exits = has_exit(body), outer_exits = fs->loop_exits;
	if (exits) {
		bind(fs, "$exit", ir_const_bool(m, b, 0));
		bind(fs, "$break", ir_const_bool(m, b, 0));
	}
	fs->loop_exits = exits;
	lower_block(fs, body);
	fs->loop_exits = outer_exits;
	uint32_t *rets = arena_alloc(a, sizeof *rets * (size_t)(nc + 1));
	if (exits) {   /* if $break: false, else: the condition */
		struct ir_block *cb[2] = {ir_new_block(m), ir_new_block(m)};
		uint32_t brk, r[2];
		lookup(fs, "$break", &brk);
		fs->b = cb[0];
		r[0] = ir_const_bool(m, cb[0], 0);
		fs->b = cb[1];
		r[1] = is_for ? ir_const_bool(m, cb[1], 1) : lower_expr(fs, s->u.while_.cond);
		ir_set_rets(m, cb[0], &r[0], 1);
		ir_set_rets(m, cb[1], &r[1], 1);
		fs->b = b;
		rets[0] = ir_node(m, cf_node(fs, OP_IF, &brk, 1, 1, cb, 2, s->loc))->out[0];
		ir_val(m, rets[0])->kind = VK_BOOL;
	} else {
		rets[0] = is_for ? cond : lower_expr(fs, s->u.while_.cond);
	}
	for (int i = 0; i < nc; i++)
		lookup(fs, VEC_AT(&carried, const char *, i), &rets[1 + i]);
	nc = drop_unchanged_objects(fs, b, in, rets, &carried, nc);
	ir_set_rets(m, b, rets, nc + 1);
	fs->b = saved;
	fs->env.len = mark;
	uint32_t node = cf_node(fs, OP_LOOP, in, nc + 2, nc, &b, 1, s->loc);
	for (int i = 0; i < nc; i++) {
		uint32_t o = ir_node(m, node)->out[i];
		ir_val(m, o)->kind = ir_val(m, in[2 + i])->kind;
		ir_val(m, o)->type = ir_val(m, in[2 + i])->type;
		ir_val(m, o)->name = VEC_AT(&carried, const char *, i);
		bind(fs, VEC_AT(&carried, const char *, i), o);
	}
}

/* assert c[, msg]: if c: pass else: raise. */
static void lower_assert(struct fn_state *fs, const struct ts_stmt *s)
{
	struct lower *L = fs->L;
	uint32_t cond = lower_expr(fs, s->u.assert_.test);
	struct ir_block *blocks[2] = {ir_new_block(L->m), ir_new_block(L->m)};
	struct ir_block *saved = fs->b;
	fs->b = blocks[1];
	if (s->u.assert_.msg)
		lower_raise(fs, s->u.assert_.msg, s->loc);
	else
		lower_raise(fs, &(struct ts_expr){.kind = TE_STR, .loc = s->loc,
		                                  .u.str = {"AssertionError", 14}}, s->loc);
	fs->b = saved;
	ir_set_rets(L->m, blocks[0], NULL, 0);
	ir_set_rets(L->m, blocks[1], NULL, 0);
	cf_node(fs, OP_IF, &cond, 1, 0, blocks, 2, s->loc);
}

/* `_0 = __torch__.a.b.f`: the name now denotes the function. */
static int bind_function(struct fn_state *fs, const struct ts_stmt *s)
{
	const struct ts_expr *v = s->u.assign.value;
	const char *name = dotted(&fs->L->ctx->arena, v);
	if (!name || strncmp(name, "__torch__.", 10) != 0 || s->u.assign.ntargets != 1 ||
	    s->u.assign.targets[0]->kind != TE_NAME || find_binding(fs, "__torch__"))
		return 0;
	struct binding b = {s->u.assign.targets[0]->u.name, IR_NONE, name};
	VEC_PUSH(&fs->L->ctx->arena, &fs->env, struct binding, b);
	return 1;
}

static void lower_stmt(struct fn_state *fs, const struct ts_stmt *s)
{
	struct kiln_ctx *ctx = fs->L->ctx;
	if (fs->returned)
		diag_error(ctx, s->loc, "statement after return");
	switch (s->kind) {
	case TS_EXPR: lower_expr(fs, s->u.expr); return;
	case TS_ASSIGN: {
		if (bind_function(fs, s))
			return;
		uint32_t v = lower_expr(fs, s->u.assign.value);
		for (int i = 0; i < s->u.assign.ntargets; i++)
			assign_target(fs, s->u.assign.targets[i], v);
		return;
	}
	case TS_ANNASSIGN:
		if (s->u.ann.value)
			assign_target(fs, s->u.ann.target, lower_expr(fs, s->u.ann.value));
		return;
	case TS_RETURN:
		fs->ret = s->u.expr ? lower_expr(fs, s->u.expr) : ir_const_none(fs->L->m, fs->b);
		fs->returned = 1;
		return;
	case TS_PASS: return;
	case TS_IF: lower_if(fs, s); return;
	case TS_FOR: case TS_WHILE: lower_loop(fs, s); return;
	case TS_RAISE: lower_raise(fs, s->u.expr, s->loc); return;
	case TS_ASSERT: lower_assert(fs, s); return;
	case TS_BREAK: case TS_CONTINUE:   /* the flags lower_loop reads */
		if (!fs->loop_exits)
			diag_error(ctx, s->loc, "'%s' outside a loop", s->kind == TS_BREAK ? "break" :
			           "continue");
		bind(fs, "$exit", ir_const_bool(fs->L->m, fs->b, 1));
		if (s->kind == TS_BREAK)
			bind(fs, "$break", ir_const_bool(fs->L->m, fs->b, 1));
		fs->exited = 1;   /* what follows in the block is not reached */
		return;
	default: {
		static const char *const what[TS_COUNT] = {
			[TS_AUGASSIGN] = "augmented assignment", [TS_DEL] = "'del'", [TS_WITH] = "'with'",
			[TS_DEF] = "nested 'def'",
		};
		diag_error_soft(ctx, s->loc, "%s statements are not supported",
		                what[s->kind] ? what[s->kind] : "these");
		return;
	}
	}
}

static void lower_block(struct fn_state *fs, const struct ts_block *blk)
{
	for (int i = 0; i < blk->n && !fs->exited; i++) {
		lower_stmt(fs, blk->stmts[i]);
		if (fs->L->ctx->nerrors >= 20)
			diag_check(fs->L->ctx);
		if (fs->loop_exits && !fs->exited && i + 1 < blk->n && blk->stmts[i]->kind == TS_IF &&
		    has_exit(&(struct ts_block){&blk->stmts[i], 1})) {
			/* it may break or continue: the rest runs under `if $exit: pass else: rest` */
			struct ts_expr flag = {.kind = TE_NAME, .loc = blk->stmts[i + 1]->loc,
			                       .u.name = "$exit"};
			struct ts_stmt guard = {.kind = TS_IF, .loc = flag.loc};
			guard.u.if_.cond = &flag;
			guard.u.if_.els = (struct ts_block){&blk->stmts[i + 1], blk->n - i - 1};
			lower_if(fs, &guard);
			break;
		}
	}
	fs->exited = 0;
}

/* ---- methods ---- */

/* A function's results: the value returned, then the final record of each object
 * parameter it changed (lw->inout lists those parameters). */
static void set_results(struct fn_state *fs, struct ir_block *body, const struct ts_def *def,
                        struct lowered *lw)
{
	struct arena *a = &fs->L->ctx->arena;
	uint32_t *rets = arena_alloc(a, sizeof *rets * (size_t)(def->nparams + 1)), cur;
	lw->inout = arena_alloc(a, sizeof *lw->inout * (size_t)(def->nparams + 1));
	rets[0] = fs->ret;
	for (int i = 0; i < def->nparams; i++)
		if (user_class(fs->L, body->params[i]) && lookup(fs, def->params[i].name, &cur) &&
		    cur != body->params[i]) {
			lw->inout[lw->ninout++] = i;
			rets[lw->ninout] = cur;
		}
	ir_set_rets(fs->L->m, body, rets, 1 + lw->ninout);
}

/* Lower def (a method of class self_qual, or a free function when self_qual is NULL)
 * into a new function; memoized under (key, method). */
static uint32_t lower_def(struct lower *L, const char *key, const char *method,
                          const struct ts_def *def, const char *self_qual, const char *fname,
                          struct loc where)
{
	if (++L->depth > 64)
		diag_error(L->ctx, where, "calls nest more than 64 deep");
	struct ir_func *fn = ir_new_func(L->m, fname);
	fn->qualname = self_qual;
	uint32_t idx = (uint32_t)(L->m->funcs.len - 1);
	struct lowered rec = {key, method, idx, def, 0, NULL};
	size_t slot = L->done.len;
	VEC_PUSH(&L->ctx->arena, &L->done, struct lowered, rec);

	struct fn_state fs = {.L = L, .b = fn->body};
	fn->arg_names = arena_alloc(&L->ctx->arena, sizeof(char *) * (size_t)(def->nparams + 1));
	for (int i = 0; i < def->nparams; i++) {
		const struct ts_param *p = &def->params[i];
		uint32_t v = ir_add_param(L->m, fn->body, VK_ANY);
		const struct ir_type *t = i == 0 && self_qual && !p->type
		                          ? make_type(L, VK_OBJECT, self_qual) : annot_type(L, p->type);
		typed_value_of(L, v, t);
		ir_val(L->m, v)->name = p->name;
		ir_val(L->m, v)->loc = p->loc;
		fn->arg_names[i] = p->name;
		bind(&fs, p->name, v);
	}
	lower_block(&fs, &def->body);
	if (!fs.returned)
		fs.ret = ir_const_none(L->m, fn->body);
	set_results(&fs, fn->body, def, &VEC_AT(&L->done, struct lowered, slot));
	L->depth--;
	return idx;
}

static int lowered_already(struct lower *L, const char *key, const char *method, uint32_t *f)
{
	for (size_t i = 0; i < L->done.len; i++) {
		struct lowered *d = &VEC_AT(&L->done, struct lowered, i);
		if (strcmp(d->qualname, key) == 0 && strcmp(d->method, method) == 0) {
			*f = d->func;
			return 1;
		}
	}
	return 0;
}

static uint32_t lower_method(struct lower *L, const char *qualname, const char *method,
                             struct loc where)
{
	uint32_t f;
	if (lowered_already(L, qualname, method, &f))
		return f;
	struct ts_def *def = find_method(find_class(L, qualname), method);
	if (!def)
		diag_error(L->ctx, where, "no code for method '%s' of class '%s' in the archive",
		           method, qualname);
	const char *fname = arena_printf(&L->ctx->arena, "%s.%s", strrchr(qualname, '.') + 1, method);
	return lower_def(L, qualname, method, def, qualname, fname, where);
}

static uint32_t lower_function(struct lower *L, const char *qualname, struct loc where)
{
	uint32_t f;
	if (lowered_already(L, qualname, "", &f))
		return f;
	const char *leaf = NULL;
	struct ts_file *file = file_for(L, qualname, &leaf);
	const struct ts_def *def = NULL;
	for (int i = 0; file && i < file->nfuncs; i++)
		if (strcmp(file->funcs[i].name, leaf) == 0)
			def = &file->funcs[i];
	if (!def)
		diag_error(L->ctx, where, "no code for function '%s' in the archive", qualname);
	return lower_def(L, qualname, "", def, NULL, leaf, where);
}

struct ir_module *ts_load(struct kiln_ctx *ctx, const char *path)
{
	struct lower L = {.ctx = ctx};
	L.ar = pt_open(ctx, path);
	L.root = pt_unpickle(ctx, L.ar, "data.pkl", "data");
	if (pt_find(L.ar, "constants.pkl"))
		L.constants = pt_unpickle(ctx, L.ar, "constants.pkl", "constants");
	struct loc where = {.file = path};
	if (L.root->kind != PV_OBJECT)
		diag_error(ctx, (struct loc){.file = arena_printf(&ctx->arena, "%s: data.pkl", path)},
		           "the root value is a %s, not a module object", pv_kind_name(L.root->kind));
	L.m = ir_module_new(ctx, path);
	L.m->root = L.root;
	L.m->main = lower_method(&L, L.root->u.obj.qualname, "forward", where);
	diag_check(ctx);
	return L.m;
}

void ts_dump_code(struct kiln_ctx *ctx, const char *path, FILE *out)
{
	struct pt_archive *ar = pt_open(ctx, path);
	for (size_t i = 0; i < ar->nrecs; i++) {
		const struct pt_record *r = &ar->recs[i];
		size_t n = strlen(r->name);
		if (strncmp(r->name, "code/", 5) != 0 || n < 3 || strcmp(r->name + n - 3, ".py") != 0)
			continue;
		fprintf(out, "# %s\n", r->name);
		fwrite(r->data, 1, r->size, out);
		if (r->size && r->data[r->size - 1] != '\n')
			fputc('\n', out);
	}
}
