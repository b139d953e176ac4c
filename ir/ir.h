/* ir.h: kiln's IR, every type and every ir/ function (STYLE K1).
 *
 * A module holds arrays of values and nodes; both are referred to by index
 * (uint32_t ids, printed as %12), so ids survive array growth and are cheap to
 * compare (K4). Nodes live in blocks; a block is an ordered list of node ids with
 * parameters (values defined on entry) and results. Functions are a body block.
 * Control flow (IF, LOOP) is nodes that own blocks, as in TorchScript IR.
 *
 * Values are typed: a tensor has a dtype and a shape (rank -1 = unknown; a dim may
 * be symbolic), other kinds are the TorchScript scalar and container types.
 * Everything is allocated in the module's arena and never freed on its own.
 */
#ifndef KILN_IR_H
#define KILN_IR_H

#include "base.h"

#define IR_NONE UINT32_MAX /* "no value": an absent optional input */

enum op {
#define OP(e, name, mn, mx, no, attr, flags) OP_##e,
#include "ops.def"
#undef OP
	OP_COUNT
};

enum {
	F_ELEMWISE = 1 << 0,
	F_UNARY = 1 << 1,
	F_BINARY = 1 << 2,
	F_COMMUTES = 1 << 3,
	F_PURE = 1 << 4,
	F_STRUCT = 1 << 5,
	F_VIEW = 1 << 6,
	F_EPILOGUE = 1 << 7,
};

/* Row of ops.def. */
struct op_info {
	const char *name;          /* IR text spelling */
	int min_in, max_in;        /* input count bounds */
	int nout;                  /* outputs, -1 = variable */
	int attr;                  /* which union member (enum attr_kind) */
	unsigned flags;            /* F_* */
};
extern const struct op_info op_info[OP_COUNT];

/* Value kinds: the TorchScript types kiln models. */
enum vkind {
	VK_UNKNOWN, VK_TENSOR, VK_INT, VK_FLOAT, VK_BOOL, VK_STR, VK_NONE, VK_DEVICE,
	VK_LIST, VK_TUPLE, VK_DICT, VK_OPTIONAL, VK_OBJECT, VK_ANY
};

/* A type beyond the scalar kinds: containers and classes. */
struct ir_type {
	enum vkind kind;
	int nelem;                    /* tuple arity / 1 for list, optional / 2 for dict */
	const struct ir_type **elem;  /* element types */
	const char *qualname;         /* VK_OBJECT: "__torch__.a.B" */
	enum dtype dtype;             /* VK_TENSOR: if known */
};

/* A tensor shape; dims < 0 are symbolic and named by sym[]. rank -1 = unknown. */
struct ir_shape {
	int rank;
	int64_t dims[KILN_MAX_RANK];
	const char *sym[KILN_MAX_RANK]; /* symbolic dim name, NULL when static */
};

/* Where a value lives after the memory plan. */
enum storage {
	ST_NONE,       /* not planned (scalars, structure) */
	ST_WORKSPACE,  /* ws + offset */
	ST_CONST,      /* a weight array */
	ST_INPUT,      /* a model input */
	ST_OUTPUT,     /* a model output buffer */
	ST_ALIAS,      /* same bytes as value alias_of (a view) */
};

struct ir_value {
	enum vkind kind;              /* what it is */
	const struct ir_type *type;   /* containers/objects: full type; else NULL */
	enum dtype dtype;             /* tensors */
	struct ir_shape shape;        /* tensors */
	uint32_t def;                 /* producing node, IR_NONE for block parameters */
	const char *name;             /* source name hint ("x", "conv1.weight"), may be NULL */
	struct loc loc;               /* where it was defined */
	/* memory plan */
	enum storage storage;
	int64_t offset;               /* ST_WORKSPACE: byte offset */
	uint32_t alias_of;            /* ST_ALIAS */
	int io_index;                 /* ST_INPUT / ST_OUTPUT: position */
};

/* Constants. Tensor data is contiguous, little-endian, in the arena or an archive record. */
enum ckind { CK_NONE, CK_INT, CK_FLOAT, CK_BOOL, CK_STR, CK_INTS, CK_FLOATS, CK_TENSOR,
             CK_DEVICE, CK_OBJECT };
struct ir_const {
	enum ckind kind;
	int64_t i;                    /* CK_INT, CK_BOOL */
	double f;                     /* CK_FLOAT */
	const char *s;                /* CK_STR, CK_DEVICE */
	int n;                        /* CK_INTS / CK_FLOATS count */
	const int64_t *ints;          /* CK_INTS */
	const double *floats;         /* CK_FLOATS */
	const void *data;             /* CK_TENSOR: dtype/shape are the value's */
	const void *object;           /* CK_OBJECT: frontend object (struct pv *) */
	const char *name;             /* CK_TENSOR: weight name for emitters ("conv1.weight") */
};

/* Activation epilogue fused into conv/linear. */
enum act { ACT_NONE, ACT_RELU, ACT_CLIP, ACT_SIGMOID, ACT_SILU, ACT_HARDSWISH,
           ACT_HARDSIGMOID, ACT_TANH, ACT_GELU };

struct conv_attr {
	int stride[2], pad[2], dil[2], groups;
	enum act act; float act_min, act_max;   /* epilogue */
};
struct linear_attr { enum act act; float act_min, act_max; };
struct gemm_attr { float alpha, beta; int trans_a, trans_b; };
struct norm_attr { float eps; int axis; };   /* layernorm: normalize dims [axis, rank) */
struct clip_attr { float min, max; };
struct gelu_attr { int tanh_approx; };
struct binary_attr { float alpha; };        /* add/sub: a + alpha*b */
struct pool_attr {
	int kernel[2], stride[2], pad[2], dil[2];
	int ceil_mode, count_include_pad;
	int divisor;                            /* avg: divisor_override, 0 = none */
	int out[2];                             /* adaptive: output size */
};
struct axis_attr { int axis; };
struct reduce_attr { unsigned axes; int keepdim; };   /* bit i = reduce dim i */
struct perm_attr { int perm[KILN_MAX_RANK]; };
struct slice_attr { int axis; int64_t start, end, step; };
struct pad_attr { int64_t before[KILN_MAX_RANK], after[KILN_MAX_RANK]; double value; };
/* LSTM / GRU (eval mode): weights per layer and direction w_ih, w_hh[, b_ih, b_hh]. */
struct rnn_attr { int layers, bidirectional, batch_first, hidden, has_biases; };
/* Scalar operators (SCALAR: any; COMPARE: EQ..GE). Python semantics on ints. */
enum sop { SOP_ADD, SOP_SUB, SOP_MUL, SOP_DIV, SOP_FLOORDIV, SOP_MOD, SOP_POW,
           SOP_EQ, SOP_NE, SOP_LT, SOP_LE, SOP_GT, SOP_GE, SOP_AND, SOP_OR, SOP_NOT, SOP_NEG,
           SOP_INT, SOP_FLOAT, SOP_BOOL, SOP_COUNT };
extern const char *const sop_names[SOP_COUNT];
struct sop_attr { enum sop op; };
struct name_attr { const char *name; };
struct call_attr { const char *name; const char *qualname; uint32_t func; }; /* func: callee index */
struct aten_attr { const char *name; int schema; };  /* "conv2d"; index in the frontend's table */

enum attr_kind { A_none, A_konst, A_name, A_call, A_aten, A_conv, A_linear, A_gemm, A_norm,
                 A_clip, A_gelu, A_binary, A_pool, A_axis, A_reduce, A_perm, A_slice, A_pad,
                 A_sop, A_rnn };

union ir_attrs {
	struct ir_const konst;
	struct name_attr name;
	struct call_attr call;
	struct aten_attr aten;
	struct conv_attr conv;
	struct linear_attr linear;
	struct gemm_attr gemm;
	struct norm_attr norm;
	struct clip_attr clip;
	struct gelu_attr gelu;
	struct binary_attr binary;
	struct pool_attr pool;
	struct axis_attr axis;
	struct reduce_attr reduce;
	struct perm_attr perm;
	struct slice_attr slice;
	struct pad_attr pad;
	struct sop_attr sop;
	struct rnn_attr rnn;
};

struct ir_block;

struct ir_node {
	enum op op;
	int nin, nout;
	uint32_t *in;                 /* input value ids (IR_NONE = absent optional) */
	uint32_t *out;                /* output value ids */
	int nblocks;
	struct ir_block **blocks;     /* IF: then, else; LOOP: body */
	struct loc loc;               /* source location */
	const char *scope;            /* module path ("layer1.0.conv1"), may be NULL */
	union ir_attrs a;
	int dead;                     /* removed; skipped by every walker */
	uint32_t scratch;             /* after plan: a u8 workspace value holding the kernel's
	                                 scratch memory, or IR_NONE */
};

struct ir_block {
	int nparams;
	uint32_t *params;             /* values defined on entry (function args, loop vars) */
	struct vec nodes;             /* uint32_t node ids, in order */
	int nrets;
	uint32_t *rets;               /* results */
};

struct ir_func {
	const char *name;             /* "forward" or "Class.method" */
	const char *qualname;         /* class of self, NULL for free functions */
	struct ir_block *body;
	const char **arg_names;       /* body->params names */
};

/* One input or output of the compiled entry point after flattening. */
struct ir_io {
	const char *name;             /* C-safe name: "x", "output_0" */
	const char *path;             /* schema path: "input[0]", "output[1]['a']" */
	uint32_t value;
};

/* The nested structure of the model's inputs or outputs after flattening (detectron2's
 * Schema): a tree whose tensor leaves are the flat inputs/outputs, by index. */
enum schema_kind { SC_TENSOR, SC_CONST, SC_TUPLE, SC_LIST, SC_DICT, SC_OBJECT };
struct ir_schema {
	enum schema_kind kind;
	int n;                            /* children (containers) */
	const struct ir_schema **items;   /* children, in flattened order */
	const char **keys;                /* SC_DICT / SC_OBJECT: each child's key or field */
	const char *qualname;             /* SC_OBJECT: the class */
	int index;                        /* SC_TENSOR: position in m->inputs / m->outputs */
	const struct ir_const *value;     /* SC_CONST: the folded non-tensor leaf */
};

struct ir_module {
	struct kiln_ctx *ctx;
	const char *source;           /* input path, for diagnostics and headers */
	struct vec values;            /* struct ir_value */
	struct vec nodes;             /* struct ir_node */
	struct vec funcs;             /* struct ir_func * ; funcs[main] is the entry point */
	uint32_t main;                /* index of the entry function */
	const void *root;             /* frontend object of `self` (struct pv *), may be NULL */
	int ninputs, noutputs;        /* after flattening */
	struct ir_io *inputs, *outputs;
	int ninargs;                  /* forward()'s arguments, before flattening */
	const struct ir_schema **in_schema;  /* after flatten: one per argument, or NULL */
	const struct ir_schema *out_schema;  /* after flatten: the return value, or NULL */
	int64_t workspace_size;       /* bytes, after plan */
};

/* ops.c */
const char *op_name(enum op op);
int op_from_name(const char *name);   /* -1 if unknown */

/* module.c: building and editing */
struct ir_module *ir_module_new(struct kiln_ctx *ctx, const char *source);
struct ir_value *ir_val(struct ir_module *m, uint32_t id);
struct ir_node *ir_node(struct ir_module *m, uint32_t id);
uint32_t ir_new_value(struct ir_module *m, enum vkind kind);
uint32_t ir_new_tensor(struct ir_module *m, enum dtype dt, const struct ir_shape *shape);
struct ir_block *ir_new_block(struct ir_module *m);
struct ir_func *ir_new_func(struct ir_module *m, const char *name);
/* Append a node to block b: op, inputs, nout fresh outputs of kind VK_UNKNOWN. */
uint32_t ir_add_node(struct ir_module *m, struct ir_block *b, enum op op,
                     const uint32_t *in, int nin, int nout);
/* Same, but insert before position `pos` of block b. */
uint32_t ir_insert_node(struct ir_module *m, struct ir_block *b, size_t pos, enum op op,
                        const uint32_t *in, int nin, int nout);
uint32_t ir_add_param(struct ir_module *m, struct ir_block *b, enum vkind kind);
void ir_set_rets(struct ir_module *m, struct ir_block *b, const uint32_t *rets, int n);
/* Constants, appended to block b */
uint32_t ir_const_int(struct ir_module *m, struct ir_block *b, int64_t v);
uint32_t ir_const_float(struct ir_module *m, struct ir_block *b, double v);
uint32_t ir_const_bool(struct ir_module *m, struct ir_block *b, int v);
uint32_t ir_const_none(struct ir_module *m, struct ir_block *b);
uint32_t ir_const_str(struct ir_module *m, struct ir_block *b, const char *s);
uint32_t ir_const_ints(struct ir_module *m, struct ir_block *b, const int64_t *v, int n);
uint32_t ir_const_tensor(struct ir_module *m, struct ir_block *b, enum dtype dt,
                         const struct ir_shape *shape, const void *data, const char *name);
/* The constant a value holds, or NULL. */
const struct ir_const *ir_const_of(struct ir_module *m, uint32_t v);
/* Move the node defining v, which must be the last of block b, to position pos. */
uint32_t ir_place(struct ir_module *m, struct ir_block *b, size_t pos, uint32_t v);
/* Call fn on every live node of block b and, first, of the blocks it owns, in order.
 * *pos is the node's position in its block; fn may insert nodes before it (advancing
 * *pos past them) and mark the node dead. */
typedef void ir_walk_fn(struct ir_module *m, struct ir_block *b, size_t *pos, uint32_t id,
                        void *arg);
void ir_walk(struct ir_module *m, struct ir_block *b, ir_walk_fn *fn, void *arg);
/* Read a constant input: 1 if v is a constant of that kind (ints accept bools; floats
 * accept ints; ints lists accept a 0/1-element int). */
int ir_get_int(struct ir_module *m, uint32_t v, int64_t *out);
int ir_get_float(struct ir_module *m, uint32_t v, double *out);
int ir_get_ints(struct ir_module *m, uint32_t v, const int64_t **out, int *n);
int ir_is_none(struct ir_module *m, uint32_t v);
/* True if object v may have other references: it was read out of a list, tuple or another
 * object, or a live node stores it into one.  The frontends change an object in place only
 * when this is false. */
int ir_value_shared(struct ir_module *m, uint32_t v);
/* Replace every use of value `from` by `to` in the whole module. */
void ir_replace_uses(struct ir_module *m, uint32_t from, uint32_t to);
struct ir_func *ir_main(struct ir_module *m);
int64_t shape_numel(const struct ir_shape *s);   /* -1 if unknown or symbolic */
int shape_eq(const struct ir_shape *a, const struct ir_shape *b);
/* Use counts of every value (scratch array of m->values.len ints). */
int *ir_use_counts(struct ir_module *m, struct arena *a);

/* clone.c: copies. A map is indexed by the value ids existing when it was made. */
uint32_t *ir_clone_map(struct ir_module *m);             /* all IR_NONE, in ctx->scratch */
uint32_t ir_mapped(const uint32_t *map, uint32_t v);     /* map[v], or v when unmapped */
/* Copy the live nodes of src into dst at *pos (advanced), mapping inputs through map. */
void ir_clone_nodes(struct ir_module *m, struct ir_block *dst, size_t *pos, struct ir_block *src,
                    uint32_t *map);
struct ir_block *ir_clone_block(struct ir_module *m, struct ir_block *src, uint32_t *map);

/* print.c: the IR text format (ir/README.md), read back by frontend/irtext.c */
void ir_print(FILE *out, struct ir_module *m);
void ir_print_node(FILE *out, struct ir_module *m, uint32_t n, int indent);
void ir_print_type(FILE *out, struct ir_module *m, uint32_t v);
char *ir_node_str(struct ir_module *m, uint32_t n);   /* one line, in ctx->arena */

/* schema.c: the flatten schema (m->in_schema, m->out_schema; flat when NULL) as JSON,
 * one line, deterministic, in ctx->arena: {"inputs": [S per argument], "outputs": S}, S =
 * {"tensor": i, "name", "path", "dtype", "shape"} | {"const": v} | {"tuple"|"list": [S..]} |
 * {"dict": {"key": S, ...}} | {"object": "qualname", "fields": {"f": S, ...}}, children in
 * flattened order. ir_schema_expr writes one side as a Python-like expression of the flat
 * tensors' names (prefix + names[i]): (out->a, [out->b, out->c]), {'k': out->d}. */
char *ir_schema_json(struct ir_module *m);
void ir_schema_expr(FILE *f, struct ir_module *m, int outputs, const char *prefix,
                    const char *const *names);

/* verify.c */
void ir_verify(struct ir_module *m, const char *after_pass);  /* internal error on failure */
/* The first problem ir_verify would report (and its node, or IR_NONE), NULL if none. */
const char *ir_check(struct ir_module *m, uint32_t *node);

#endif
