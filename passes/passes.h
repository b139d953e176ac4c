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

struct pipeline_opts {
	int opt_level;                 /* -O0 .. -O2 */
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
/* canonicalize.c: ATEN nodes -> canonical typed ops; returns changes made */
int canonicalize(struct ir_module *m);
/* canonicalize.c: report every ATEN node left, then unwind */
void check_canonical(struct ir_module *m);
/* shapes.c: dtype and shape of every tensor; returns values newly typed */
int shapes(struct ir_module *m);
/* flatten.c: tuple/list outputs -> flat tensors with schema paths */
void flatten(struct ir_module *m);
/* dce.c: removes unused pure nodes */
void dce(struct ir_module *m);
/* fuse.c: batch norm into conv, activations into conv/linear epilogues */
void fuse(struct ir_module *m);
/* plan.c: liveness-based workspace offsets */
void plan(struct ir_module *m);

#endif
