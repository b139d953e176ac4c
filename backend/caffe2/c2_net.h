/* c2_net.h: building Caffe2 NetDefs from IR, for emit_caffe2.c, and the protobuf text
 * printer shared by the backend and the tests.
 *
 * Every message (ops, arguments, strings, value arrays) is allocated in the compilation's
 * arena; protobuf-c only packs them, so nothing here is freed (STYLE K5). Blob names:
 * model inputs and outputs keep their schema names, weights their parameter names
 * ("conv1.weight"), IR values are "t<id>", helper blobs "t<id>_<k>"; one name set keeps
 * them unique.
 */
#ifndef KILN_C2_NET_H
#define KILN_C2_NET_H

#include "ir/ir.h"
#include "proto/caffe2.pb-c.h"

/* A set of strings (open addressing), for unique blob names. */
struct c2_names {
	const char **slot;    /* NULL = empty */
	size_t cap, len;      /* cap is a power of two */
};

/* The pair of nets being built. */
struct c2 {
	struct kiln_ctx *ctx;
	struct ir_module *m;
	struct arena *a;           /* ctx->arena */
	uint32_t cur;              /* IR node being emitted, IR_NONE between nodes */
	int ntmp;                  /* helper blobs made for cur */
	int nops;                  /* predict-net ops made so far (op names) */
	const char **vname;        /* per IR value: its blob name, NULL until named */
	struct c2_names names;     /* every blob name */
	struct vec ops;            /* Caffe2__OperatorDef *: the predict net */
	struct vec fills;          /* Caffe2__OperatorDef *: the init net */
	struct vec params;         /* const char *: blobs the init net makes, in order */
};

/* c2_net.c */
void c2_init(struct c2 *c, struct kiln_ctx *ctx, struct ir_module *m);
/* A blob name not used yet: want itself, or want_1, want_2, ... */
const char *c2_unique(struct c2 *c, const char *want);
/* Reserve an exact name (model inputs/outputs); 0 if it was taken. */
int c2_reserve(struct c2 *c, const char *name);
/* The blob of IR value v; tensor constants become init-net fills on first use. */
const char *c2_val(struct c2 *c, uint32_t v);
/* The blob the op computing IR value v writes. */
const char *c2_out(struct c2 *c, uint32_t v);
/* A fresh helper blob of the current node. */
const char *c2_tmp(struct c2 *c);
/* Append a predict-net op; names are kept by reference (they live in the arena). */
Caffe2__OperatorDef *c2_op(struct c2 *c, const char *type, const char *const *in, int nin,
                           const char *const *out, int nout);
const char *c2_op1(struct c2 *c, const char *type, const char *x, const char *y);
const char *c2_op2(struct c2 *c, const char *type, const char *a, const char *b, const char *y);
void c2_arg_int(struct c2 *c, Caffe2__OperatorDef *op, const char *name, int64_t v);
void c2_arg_float(struct c2 *c, Caffe2__OperatorDef *op, const char *name, float v);
void c2_arg_str(struct c2 *c, Caffe2__OperatorDef *op, const char *name, const char *v);
void c2_arg_ints(struct c2 *c, Caffe2__OperatorDef *op, const char *name, const int64_t *v,
                 int k);
/* A constant blob made by the init net (data is read now); returns its name. NULL (and a
 * diagnostic) if Caffe2 has no fill op for dt. */
const char *c2_param(struct c2 *c, const char *hint, enum dtype dt, const struct ir_shape *s,
                     const void *data);
const char *c2_int64s(struct c2 *c, const int64_t *v, int k);   /* a 1-D int64 constant */
const char *c2_zeros(struct c2 *c, enum dtype dt, const struct ir_shape *s);
/* Pack a NetDef and write it to path (fatal on I/O errors). */
void c2_write_net(struct c2 *c, const Caffe2__NetDef *net, const char *path);

/* pbtext.c: any protobuf-c message in protobuf text format, as `protoc --decode` prints it
 * (fields in number order, two-space indents, C-escaped strings, floats in their shortest
 * round-tripping %g form). */
void pb_print_text(FILE *out, const ProtobufCMessage *msg);

/* emit_caffe2.c: whether an IR op has a Caffe2 emitter (tests check the table). */
int emit_caffe2_has_op(enum op op);

#endif
