/* backend.h: the output writers. Each takes a planned module and writes files. */
#ifndef KILN_BACKEND_H
#define KILN_BACKEND_H

#include "ir/ir.h"

/* c/emit_c.c: standalone C (DESIGN "Generated C", STYLE K16) */

struct emit_c_options {
	const char *out_c_path;    /* PATH.c */
	const char *out_h_path;    /* PATH.h, included by PATH.c by its basename */
	const char *model_name;    /* C identifier: kiln_<model_name>_run, KILN_<MODEL_NAME>_... */
	int with_main;             /* --main: add main() reading and writing .npy files */
	const char *command_line;  /* recorded in the header comment; may be NULL */
};

/* Writes the .c and .h of a module that plan() has run on. Every unsupported operator
 * is reported (diag_error_soft), then diag_check unwinds. Returns 0. */
int emit_c(struct kiln_ctx *ctx, struct ir_module *m, const struct emit_c_options *opt);
/* Whether the C backend has an emitter for op (tests check the table is complete). */
int emit_c_has_op(enum op op);
/* Bytes of scratch the runtime kernel for node needs (0 = none); plan() reserves them.
 * Computed by the very k_*_scratch() functions the generated code calls. plan() records
 * it as a u8 workspace value in the node's `scratch` field. */
int64_t emit_c_scratch_size(struct ir_module *m, uint32_t node);

/* onnx/emit_onnx.c: standard ONNX (onnx.proto from libonnx-dev, packed by protobuf-c) */

struct emit_onnx_options {
	const char *out_path;      /* model.onnx */
	int opset;                 /* default-domain opset, 11..18; 0 = 13 */
	const char *model_name;    /* graph name; may be NULL */
	const char *command_line;  /* recorded as the model's doc_string; may be NULL */
	const char *custom_domain; /* --onnx-custom-domain: ops with no standard form become
	                              nodes of this (non-standard) domain; NULL = an error */
};

/* Writes a module the pipeline has run on as one .onnx file: standard ops only, weights as
 * initializers, inputs/outputs named as the flatten schema (recorded as JSON in the metadata
 * key "kiln.schema"), value_info for every intermediate. An op with no standard form at the
 * opset is reported (diag_error_soft) and diag_check unwinds before anything is written.
 * Returns 0. */
int emit_onnx(struct kiln_ctx *ctx, struct ir_module *m, const struct emit_onnx_options *opt);
/* Whether NAME may be a --onnx-custom-domain: not empty, not ONNX's own (ai.onnx...). */
int emit_onnx_custom_domain_ok(const char *name);

/* caffe2/emit_caffe2.c: Caffe2 protobuf (proto/caffe2.proto, packed by protobuf-c) */

struct emit_caffe2_options {
	const char *out_dir;       /* DIR: writes DIR/model.pb, DIR/model_init.pb, DIR/model.pbtxt */
	const char *model_name;    /* the nets' names (the init net's gets "_init"); may be NULL */
};

/* Writes a module the pipeline has run on as a Caffe2 predict net, init net (one
 * GivenTensor*Fill per weight) and the predict net's protobuf text, as detectron2's
 * Caffe2Model.save_protobuf does. An op with no Caffe2 form is reported
 * (diag_error_soft) and diag_check unwinds before anything is written. Returns 0. */
int emit_caffe2(struct kiln_ctx *ctx, struct ir_module *m, const struct emit_caffe2_options *opt);

/* dot/emit_dot.c: the graph for Graphviz (DOT text, or SVG laid out by libgvc) */

struct emit_dot_options {
	const char *out_path;      /* PATH.dot or PATH.svg */
	int svg;                   /* 1: render SVG through Graphviz; 0: write DOT text */
	const char *model_name;    /* graph name; may be NULL */
};

/* Writes every operator (op name and scope), model input, output and weight, with each
 * tensor's dtype and shape on its edge. Returns 0. */
int emit_dot(struct kiln_ctx *ctx, struct ir_module *m, const struct emit_dot_options *opt);

#endif
