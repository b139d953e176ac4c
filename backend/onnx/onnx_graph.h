/* onnx_graph.h: building an ONNX graph from IR, for emit_onnx.c (and the ONNX tests).
 *
 * Every message (nodes, tensors, value infos, attributes, strings) is allocated in the
 * compilation's arena; protobuf-c only packs them, so nothing here is freed (STYLE K5).
 * Names: graph inputs and outputs keep their schema names; IR values are "t<id>",
 * weights their parameter names ("conv1.weight"), helper tensors "<node>_<k>"; all are
 * made unique by one name set.
 */
#ifndef KILN_ONNX_GRAPH_H
#define KILN_ONNX_GRAPH_H

#include "ir/ir.h"
#include "proto/onnx.pb-c.h"

/* A set of strings (open addressing), for unique names. */
struct nameset {
	const char **slot;    /* NULL = empty */
	size_t cap, len;      /* cap is a power of two */
};

/* A scalar initializer already made, shared by every node that needs the same one. */
struct ox_scalar {
	enum dtype dt;
	double v;
	const char *name;
};

/* The graph being built. */
struct ox {
	struct kiln_ctx *ctx;
	struct ir_module *m;
	struct arena *a;           /* ctx->arena */
	int opset;                 /* default-domain opset */
	uint32_t cur;              /* IR node being emitted, IR_NONE between nodes */
	int ntmp;                  /* helper tensors made for cur */
	int nnodes;                /* ONNX nodes made so far (node names) */
	const char **vname;        /* per IR value: its ONNX name, NULL until named */
	unsigned char *vinfo_done; /* per IR value: value_info written or not needed */
	struct nameset names;      /* every name in the graph */
	struct vec nodes;          /* Onnx__NodeProto *: of the graph being built (the main graph
	                              or an If/Loop body; ox_subgraph swaps them) */
	struct vec inits;          /* Onnx__TensorProto *: all in the main graph */
	struct vec vinfo;          /* Onnx__ValueInfoProto *: intermediates of the graph being built */
	struct vec scalars;        /* struct ox_scalar */
	struct vec ints;           /* struct ox_scalar: int64 scalars (v holds the bits) */
	const char *custom_domain; /* --onnx-custom-domain, or NULL: only standard ops */
	int ncustom;               /* nodes made in custom_domain */
	Onnx__NodeProto *raise_nd; /* the custom Raise of the graph being built, or NULL */
};

/* onnx_graph.c */
void ox_init(struct ox *o, struct kiln_ctx *ctx, struct ir_module *m, int opset);
int32_t ox_dtype(enum dtype dt);                     /* TensorProto.DataType, 0 if none */
/* The element type and shape an IR value has in ONNX: tensors their own; run-time scalars
 * are 0-D tensors (int: int64, float: double, bool: bool). DT_UNKNOWN / NULL for others. */
enum dtype ox_vdtype(struct ox *o, uint32_t v);
const struct ir_shape *ox_vshape(struct ox *o, uint32_t v);
/* A name not used yet: want itself, or want_1, want_2, ... */
const char *ox_unique(struct ox *o, const char *want);
/* Reserve an exact name (graph inputs/outputs); 0 if it was taken. */
int ox_reserve(struct ox *o, const char *name);
/* The ONNX name of IR value v; constants (tensors and int/float/bool scalars) become
 * initializers on first use. */
const char *ox_val(struct ox *o, uint32_t v);
/* The name the node writing IR value v must output to (adds its value_info). */
const char *ox_out(struct ox *o, uint32_t v);
/* A fresh helper tensor of the current node, with value_info when dt/shape are given. */
const char *ox_tmp(struct ox *o, enum dtype dt, const struct ir_shape *s);
/* Append a node; names are copied by reference (they live in the arena already). */
Onnx__NodeProto *ox_node(struct ox *o, const char *op_type, const char *const *in, int nin,
                         const char *const *out, int nout);
/* One input, one output: y = op(x) / y = op(a, b). Returns y. */
const char *ox_op1(struct ox *o, const char *op_type, const char *x, const char *y);
const char *ox_op2(struct ox *o, const char *op_type, const char *a, const char *b, const char *y);
void ox_attr_int(struct ox *o, Onnx__NodeProto *n, const char *name, int64_t v);
void ox_attr_float(struct ox *o, Onnx__NodeProto *n, const char *name, float v);
void ox_attr_ints(struct ox *o, Onnx__NodeProto *n, const char *name, const int64_t *v, int k);
/* Initializers: a tensor (data is copied by reference), a 1-D int64 list, a 0-D scalar. */
const char *ox_initializer(struct ox *o, const char *hint, enum dtype dt,
                           const struct ir_shape *s, const void *data);
const char *ox_ints(struct ox *o, const int64_t *v, int k);
const char *ox_scalar(struct ox *o, enum dtype dt, double v);
const char *ox_i64(struct ox *o, int64_t v);          /* 0-D int64, exact for every value */
const char *ox_filled(struct ox *o, enum dtype dt, const struct ir_shape *s, double v);
Onnx__ValueInfoProto *ox_value_info(struct ox *o, const char *name, enum dtype dt,
                                    const struct ir_shape *s);
void ox_attr_str(struct ox *o, Onnx__NodeProto *n, const char *name, const char *v);
void ox_attr_graph(struct ox *o, Onnx__NodeProto *n, const char *name, Onnx__GraphProto *g);
/* Drop the nodes (and then value_info and initializers) nothing reads: graph outputs and,
 * backwards, the inputs of kept nodes and of their subgraphs' nodes are read; nodes of a
 * custom domain, and nodes with one in a subgraph, are kept. What is dropped: the
 * condition of a check that was left out (a raise), outputs nothing reads (an RNN's hn). */
void ox_prune(struct ox *o, Onnx__GraphProto *g);
/* Pack the model and write it to path (fatal on I/O errors); custom_domain is imported
 * (version 1) when nodes were made in it. */
void ox_write(struct ox *o, const char *path, Onnx__GraphProto *g, const char *doc,
              const char *schema_json);

/* emit_onnx.c: whether an IR op has an ONNX emitter (tests check every non-structural op). */
int emit_onnx_has_op(enum op op);

#endif
