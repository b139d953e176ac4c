/* passes.h: one entry point per pass file; pipeline.c calls them in order (STYLE K1). */
#ifndef KILN_PASSES_H
#define KILN_PASSES_H

#include "ir/ir.h"

/* Options the pipeline needs from the command line. */
struct input_spec {
	const char *name;              /* NAME= prefix, or NULL */
	enum dtype dtype;              /* DT_F32 unless given */
	struct ir_shape shape;         /* dims; sym[] for letters */
};

/* A field declared by --fields NAME:TYPE (detectron2's scripting_with_instances fields). */
enum field_type { FT_TENSOR, FT_BOXES, FT_INT, FT_FLOAT, FT_BOOL };
struct field_decl {
	const char *name;
	enum field_type type;
};

struct pipeline_opts {
	int opt_level;                 /* -O0 .. -O2 */
	int flatten_insertion;         /* --flatten-order=insertion */
	int nfields;                   /* --fields: the fields of Instances-like classes */
	struct field_decl *fields;
	int ninputs;                   /* --input-shape / --example-input count */
	struct input_spec *inputs;
};

/* pipeline.c */
void pipeline(struct ir_module *m, const struct pipeline_opts *o);

/* inline.c: method calls -> one graph */
void inline_calls(struct ir_module *m);
/* freeze.c: module attributes -> constants; `self` disappears */
void freeze(struct ir_module *m);
/* inputs.c: the entry point's inputs get the declared dtypes and shapes */
void bind_inputs(struct ir_module *m, const struct pipeline_opts *o);
/* fold.c: constant folding of scalar, list and size arithmetic; returns changes made */
int fold(struct ir_module *m);
/* staticize.c: object records -> the values of their fields; returns changes made */
int staticize(struct ir_module *m);
/* staticize.c: the tensor fields of each record agree in length where known; records of
 * Instances-like classes set only declared fields, of their declared types (when nfields) */
void staticize_check(struct ir_module *m, const struct pipeline_opts *o);
/* staticize.c: parse --fields "name:Type,..." (Type: Tensor, Boxes, int, float, bool) into
 * o->fields (malloc'd); returns NULL, or a message saying what is wrong */
const char *staticize_parse_fields(struct pipeline_opts *o, const char *spec);
/* cse.c: common subexpression elimination of pure nodes */
void cse(struct ir_module *m);
/* canonicalize.c: ATEN nodes -> canonical typed ops; returns changes made */
int canonicalize(struct ir_module *m);
/* canonicalize.c: report every ATEN node left, then unwind */
void check_canonical(struct ir_module *m);
/* shapes.c: dtype and shape of every tensor; returns values newly typed */
int shapes(struct ir_module *m);
/* shapes.c: type one node now, if its inputs are typed (for a frontend that needs
 * shapes while it builds, as the ONNX reader does) */
void shapes_node(struct ir_module *m, uint32_t id);
/* flatten.c: nested inputs (before inputs.c) and results -> flat tensors + m's schema;
 * insertion: keep dict keys and object fields in first-set order instead of sorting */
void flatten_inputs(struct ir_module *m, int insertion);
void flatten(struct ir_module *m, int insertion);

/* dce.c: removes unused pure nodes */
void dce(struct ir_module *m);
/* fuse.c: batch norm into conv, activations into conv/linear epilogues */
void fuse(struct ir_module *m);
/* plan.c: liveness-based workspace offsets */
void plan(struct ir_module *m);

#endif
