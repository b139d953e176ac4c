/* staticize.c: objects of TorchScript classes (user classes, detectron2-style Instances
 * with Optional fields) become static records, then plain SSA values.
 *
 * The frontend makes every object an SSA record: OBJ_NEW, then one OBJ_SET per field
 * write, each a new record (ts_lower.c); methods are inlined (inline.c), so after folding
 * a field read (GETATTR) sees the chain of writes that built its object. staticize
 * resolves reads: a GETATTR of an OBJ_SET chain becomes the value last set (a field
 * read before it is set is an error at the read); a GETATTR of an object an IF returns
 * is pushed into the branches; IF outputs that are objects nothing reads any more are
 * dropped. has("f") / `self._f is not None` then fold (fold.c), since each field is a
 * known value or a known None. Runs inside the fold/canonicalize/shapes fixed point and
 * returns its changes. staticize_check then checks what detectron2 never did: the
 * tensor fields of one record agree in length (dim 0) where shapes are known, and, given
 * --fields (scripting_with_instances' declaration), that records of Instances-like classes
 * (named *Instances*) set only declared fields ("_f" or "f"; image_size aside), each to a
 * value of its declared type or None. After dce no object is left (records are pure and unused once
 * every read is resolved; flatten reads records that are outputs). Linear per call,
 * times the length of the write chains. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

struct stz {
	struct ir_module *m;
	int changes;
};

static void replace(struct stz *f, uint32_t id, int k, uint32_t v)
{
	ir_replace_uses(f->m, ir_node(f->m, id)->out[k], v);
	f->changes++;
}

static void kill(struct stz *f, uint32_t id)
{
	ir_node(f->m, id)->dead = 1;
}

/* A field read of an object an IF returns reads the field in each branch instead: the
 * IF gets one more output, and its object output loses a use. */
static int getattr_of_if(struct stz *f, uint32_t id, uint32_t obj)
{
	struct ir_module *m = f->m;
	uint32_t d = ir_val(m, obj)->def, o = ir_new_value(m, ir_val(m, ir_node(m, id)->out[0])->kind);
	struct ir_node *n = ir_node(m, d);
	int k = 0, nout = n->nout;
	while (n->out[k] != obj)
		k++;
	for (int br = 0; br < 2; br++) {
		struct ir_block *b = ir_node(m, d)->blocks[br];
		uint32_t g = ir_add_node(m, b, OP_GETATTR, &b->rets[k], 1, 1);
		ir_node(m, g)->loc = ir_node(m, id)->loc;
		ir_node(m, g)->a.name = ir_node(m, id)->a.name;
		*ir_val(m, ir_node(m, g)->out[0]) = *ir_val(m, ir_node(m, id)->out[0]);
		ir_val(m, ir_node(m, g)->out[0])->def = g;
		uint32_t *rets = arena_alloc(&m->ctx->arena, sizeof *rets * (size_t)(nout + 1));
		memcpy(rets, b->rets, sizeof *rets * (size_t)nout);
		rets[nout] = ir_node(m, g)->out[0];
		ir_set_rets(m, b, rets, nout + 1);
	}
	uint32_t *outs = arena_alloc(&m->ctx->arena, sizeof *outs * (size_t)(nout + 1));
	memcpy(outs, ir_node(m, d)->out, sizeof *outs * (size_t)nout);
	outs[nout] = o;
	*ir_val(m, o) = *ir_val(m, ir_node(m, id)->out[0]);
	ir_val(m, o)->def = d;
	n = ir_node(m, d);
	n->out = outs;
	n->nout = nout + 1;
	replace(f, id, 0, o);
	kill(f, id);
	return 1;
}

/* A field read of a record (OBJ_NEW then OBJ_SETs, once inlined) becomes the value last
 * set; reading a field never set is an error. */
static int fold_getattr(struct stz *f, uint32_t id)
{
	struct ir_module *m = f->m;
	struct ir_node *n = ir_node(m, id);
	const char *name = n->a.name.name;
	for (uint32_t obj = n->in[0];;) {
		uint32_t d = ir_val(m, obj)->def;
		struct ir_node *src = d != IR_NONE ? ir_node(m, d) : NULL;
		const struct ir_type *t = ir_val(m, obj)->type;
		if (src && src->op == OP_OBJ_NEW)
			diag_error(m->ctx, n->loc, "field '%s' of class '%s' is read before it is set", name,
			           t && t->qualname ? t->qualname : "?");
		if (src && src->op == OP_IF && ir_val(m, obj)->kind == VK_OBJECT)
			return getattr_of_if(f, id, obj);
		if (!src || src->op != OP_OBJ_SET)
			return 0;
		if (strcmp(src->a.name.name, name) == 0) {
			replace(f, id, 0, src->in[1]);
			kill(f, id);
			return 1;
		}
		obj = src->in[0];
	}
}

/* An Optional IF output (a field read pushed into the branches) whose branches both
 * give a tensor, or both None, is that. */
static void refine_optional(struct ir_module *m, struct ir_node *n, int k)
{
	struct ir_value *t = ir_val(m, n->blocks[0]->rets[k]), *e = ir_val(m, n->blocks[1]->rets[k]);
	struct ir_value *o = ir_val(m, n->out[k]);
	if (o->kind == VK_OPTIONAL && t->kind == e->kind && (t->kind == VK_TENSOR || t->kind == VK_NONE))
		o->kind = t->kind;
}

/* IF outputs that are objects nothing reads any more (their fields were read in the
 * branches instead) are removed, so that no object reaches the backends. */
static void drop_object_outputs(struct stz *f, struct ir_block *b, const int *uses)
{
	struct ir_module *m = f->m;
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		for (int k = 0; !n->dead && k < n->nblocks; k++)
			drop_object_outputs(f, n->blocks[k], uses);
		if (n->dead || n->op != OP_IF)
			continue;
		int j = 0;
		for (int k = 0; k < n->nout; k++) {
			if (ir_val(m, n->out[k])->kind == VK_OBJECT && !uses[n->out[k]]) {
				f->changes++;
				continue;
			}
			n->blocks[0]->rets[j] = n->blocks[0]->rets[k];
			n->blocks[1]->rets[j] = n->blocks[1]->rets[k];
			n->out[j] = n->out[k];
			refine_optional(m, n, j++);
		}
		n->nout = n->blocks[0]->nrets = n->blocks[1]->nrets = j;
	}
}

static void staticize_node(struct ir_module *m, struct ir_block *b, size_t *pos, uint32_t id,
                           void *arg)
{
	(void)b;
	(void)pos;
	if (ir_node(m, id)->op == OP_GETATTR)
		fold_getattr(arg, id);
}

int staticize(struct ir_module *m)
{
	struct stz f = {m, 0};
	ir_walk(m, ir_main(m)->body, staticize_node, &f);
	drop_object_outputs(&f, ir_main(m)->body, ir_use_counts(m, &m->ctx->scratch));
	return f.changes;
}

/* The OBJ_NEW at the bottom of record v's write chain, or NULL. */
static struct ir_node *record_root(struct ir_module *m, uint32_t v)
{
	for (;;) {
		uint32_t d = ir_val(m, v)->def;
		struct ir_node *n = d != IR_NONE ? ir_node(m, d) : NULL;
		if (!n || (n->op != OP_OBJ_SET && n->op != OP_OBJ_NEW))
			return NULL;
		if (n->op == OP_OBJ_NEW)
			return n;
		v = n->in[0];
	}
}

/* Dim 0 of a tensor field value, or -1 when unknown (or not a tensor of rank >= 1). */
static int64_t field_len(struct ir_module *m, uint32_t v)
{
	struct ir_value *x = ir_val(m, v);
	if (x->kind != VK_TENSOR || x->shape.rank < 1)
		return -1;
	return x->shape.dims[0];
}

/* The OBJ_SET defining v, or NULL. */
static struct ir_node *set_node(struct ir_module *m, uint32_t v)
{
	uint32_t d = ir_val(m, v)->def;
	return d != IR_NONE && ir_node(m, d)->op == OP_OBJ_SET ? ir_node(m, d) : NULL;
}

/* Each OBJ_SET: the value set must have the length of the newest value of every other
 * tensor field of the record. Linear in the chain below it times the fields. */
static void check_set(struct ir_module *m, struct ir_node *set)
{
	int64_t len = field_len(m, set->in[1]);
	if (len < 0)
		return;
	const char *name = set->a.name.name;
	const struct ir_type *t = ir_val(m, set->out[0])->type;
	struct vec seen = {0};   /* const char *: fields whose newest value was checked */
	for (struct ir_node *prev = set_node(m, set->in[0]); prev; prev = set_node(m, prev->in[0])) {
		const char *f = prev->a.name.name;
		int old = !strcmp(f, name);
		for (size_t i = 0; i < seen.len && !old; i++)
			old = !strcmp(VEC_AT(&seen, const char *, i), f);
		if (old)
			continue;
		VEC_PUSH(&m->ctx->scratch, &seen, const char *, f);
		int64_t other = field_len(m, prev->in[1]);
		if (other >= 0 && other != len)
			diag_error(m->ctx, set->loc, "field '%s' of this %s has length %lld, but its "
			           "field '%s' has length %lld; fields of one instance must agree in "
			           "length", name, t && t->qualname ? t->qualname : "object",
			           (long long)len, f, (long long)other);
	}
}

static const char *const kind_text[] = {
	"an unknown value", "a tensor", "an int", "a float", "a bool", "a string", "None",
	"a device", "a list", "a tuple", "a dict", "an optional", "an object", "a value of type Any"};

static const char *const field_types[] = {
	[FT_TENSOR] = "Tensor", [FT_BOXES] = "Boxes", [FT_INT] = "int", [FT_FLOAT] = "float",
	[FT_BOOL] = "bool",
};

/* Whether value v may be stored in a field declared of type t (None always may). */
static int fits(struct ir_module *m, uint32_t v, enum field_type t)
{
	struct ir_value *x = ir_val(m, v);
	const char *q = x->type && x->type->qualname ? x->type->qualname : "";
	size_t n = strlen(q);
	switch (x->kind) {
	case VK_NONE: case VK_OPTIONAL: case VK_ANY: case VK_UNKNOWN: return 1;
	case VK_TENSOR: return t == FT_TENSOR || t == FT_BOXES;
	case VK_OBJECT: return t == FT_BOXES && n >= 5 && !strcmp(q + n - 5, "Boxes");
	case VK_INT: return t == FT_INT;
	case VK_FLOAT: return t == FT_FLOAT;
	case VK_BOOL: return t == FT_BOOL;
	default: return 0;
	}
}

/* An OBJ_SET of an Instances-like class against the --fields declaration. */
static void check_declared(struct ir_module *m, struct ir_node *set, const struct pipeline_opts *o)
{
	struct ir_node *root = record_root(m, set->out[0]);
	const struct ir_type *t = root ? ir_val(m, root->out[0])->type : NULL;
	const char *q = t && t->qualname ? t->qualname : "", *dot = strrchr(q, '.');
	const char *f = set->a.name.name, *name = f[0] == '_' ? f + 1 : f;
	if (!strstr(dot ? dot + 1 : q, "Instances") || !strcmp(name, "image_size") ||
	    !strcmp(f, "_field_names"))
		return;
	for (int i = 0; i < o->nfields; i++) {
		if (strcmp(o->fields[i].name, name) != 0)
			continue;
		if (!fits(m, set->in[1], o->fields[i].type))
			diag_error(m->ctx, set->loc, "field '%s' of %s is declared %s by --fields, but is "
			           "set to %s here", name, q, field_types[o->fields[i].type],
			           kind_text[ir_val(m, set->in[1])->kind]);
		return;
	}
	diag_error(m->ctx, set->loc, "field '%s' of %s is not declared by --fields (as with "
	           "scripting_with_instances, every field an Instances uses must be listed)", name, q);
}

static void check_block(struct ir_module *m, struct ir_block *b, const struct pipeline_opts *o)
{
	for (size_t i = 0; i < b->nodes.len; i++) {
		struct ir_node *n = ir_node(m, VEC_AT(&b->nodes, uint32_t, i));
		if (n->dead)
			continue;
		if (n->op == OP_OBJ_SET)
			check_set(m, n);
		if (n->op == OP_OBJ_SET && o->nfields)
			check_declared(m, n, o);
		for (int k = 0; k < n->nblocks; k++)
			check_block(m, n->blocks[k], o);
	}
}

void staticize_check(struct ir_module *m, const struct pipeline_opts *o)
{
	check_block(m, ir_main(m)->body, o);
}

/* One "name:Type" of --fields, n characters at s. */
static const char *parse_field(struct pipeline_opts *o, const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t len = colon ? (size_t)(colon - s) : 0;
	if (!colon || !len || (s[0] >= '0' && s[0] <= '9'))
		return "--fields '%s': each field is NAME:TYPE, e.g. pred_boxes:Boxes,scores:Tensor";
	for (size_t i = 0; i < len; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return "--fields '%s': a field name is a Python identifier";
	int type = -1;
	size_t tl = n - len - 1;
	for (int t = 0; t < (int)(sizeof field_types / sizeof *field_types); t++)
		if (strlen(field_types[t]) == tl && !strncmp(colon + 1, field_types[t], tl))
			type = t;
	if (type < 0)
		return "--fields '%s': a field's type is Tensor, Boxes, int, float or bool";
	char *name = malloc(len + 1);
	struct field_decl *f = realloc(o->fields, sizeof *f * (size_t)(o->nfields + 1));
	if (!name || !f)
		fatal("out of memory");
	memcpy(name, s, len);
	name[len] = 0;
	o->fields = f;
	for (int i = 0; i < o->nfields; i++)
		if (!strcmp(f[i].name, name)) {
			free(name);
			return "--fields '%s': a field is declared twice";
		}
	f[o->nfields++] = (struct field_decl){name, (enum field_type)type};
	return NULL;
}

const char *staticize_parse_fields(struct pipeline_opts *o, const char *spec)
{
	if (!*spec)
		return "--fields '%s': no fields";
	for (const char *s = spec;;) {
		size_t n = strcspn(s, ",");
		const char *err = parse_field(o, s, n);
		if (err)
			return err;
		if (!s[n])
			return NULL;
		s += n + 1;
	}
}
