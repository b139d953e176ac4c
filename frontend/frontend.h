/* frontend.h: the readers. Each turns an input file into an IR module; nothing else in
 * kiln knows about input formats. */
#ifndef KILN_FRONTEND_H
#define KILN_FRONTEND_H

#include "ir/ir.h"

/* ts_lower.c: a TorchScript archive (.pt). The module's main function is the root
 * module's forward; its first parameter is `self` (an object), the others are the
 * model inputs. Submodule calls stay CALL_METHOD nodes and attributes GETATTR nodes
 * until the inline and freeze passes. Unsupported operators are all reported, each
 * with its location, before ts_load returns (through diag_check). */
struct ir_module *ts_load(struct kiln_ctx *ctx, const char *path);

/* Write what detectron2's dump_torchscript_IR wrote, from the archive: the code of
 * every class (model_ts_code.txt). */
void ts_dump_code(struct kiln_ctx *ctx, const char *path, FILE *out);

/* ts_lower.c: a tensor of the archive as a (contiguous) constant appended to block b. */
struct pt_tensor;
uint32_t ts_tensor_const(struct ir_module *m, struct ir_block *b, const struct pt_tensor *t,
                         const char *name, struct loc loc);

/* ts_graph.c: uninitialized(T) / prim::Uninitialized, which TorchScript's rewriting of break,
 * continue and early return leaves on paths where a variable is unset and never read: 0 /
 * false for scalars; for a tensor an undefined value (a None constant of kind VK_TENSOR) that
 * the shapes pass types like what IF/LOOP merge it with and the C backend never copies;
 * otherwise None. */
uint32_t ts_uninitialized(struct ir_module *m, struct ir_block *b, enum vkind k);

/* irtext.c: the IR text format of ir/print.c (grammar in ir/README.md). The module's
 * main function is the one marked `entry`, else the first. Diagnostics are
 * `path:line:col: error: ...`. */
struct ir_module *ir_parse(struct kiln_ctx *ctx, const char *path, const char *text, size_t len);

/* ts_graph.c: TorchScript IR text, as print(m.graph), m.inlined_graph,
 * torch.jit.freeze(m).graph and m._c.dump_to_str(True, False, False) (detectron2's
 * model_ts_IR.txt / model_ts_IR_inlined.txt) write it. weights_pt is the matching archive
 * (NULL: the graph must not read module attributes nor call code outside the file): its
 * data.pkl is `self`, its constants.pkl holds `<Tensor>` constants, and its code supplies
 * callees the file lacks. The module has the shape ts_load gives. Diagnostics are
 * `path:line:col: error: ...`. */
struct ir_module *ts_graph_load(struct kiln_ctx *ctx, const char *path, const char *weights_pt);

/* ts_graph_print.c: kiln IR in TorchScript IR syntax, readable by ts_graph_load.
 * ts_graph_print writes function f as `graph(...)` indented by `indent` spaces;
 * ts_dump_ir writes what detectron2's dump_torchscript_IR writes into dir, generated from
 * the archive at pt_path: model_ts_code.txt, model_ts_IR.txt (every method of every
 * module, as dump_to_str(True, False, False)), model_ts_IR_inlined.txt (forward after
 * kiln's inline pass) and model.txt (the module tree, as str(model)). */
void ts_graph_print(FILE *out, struct ir_module *m, uint32_t f, int indent);
void ts_dump_ir(struct kiln_ctx *ctx, const char *pt_path, const char *dir);

/* onnx_read.c: an ONNX model (opsets 1 to 18 of the default domain). The main function's
 * parameters are the graph inputs that are not initializers, typed by spec[] (one per
 * input, in order; nspec 0: by the graph's own types, which must then be static); it
 * returns the graph outputs. Diagnostics are `path: node 'NAME' (OpType): error: ...`.
 * onnx_read takes the bytes of the file; onnx_load reads it from path. */
struct input_spec;
struct ir_module *onnx_load(struct kiln_ctx *ctx, const char *path,
                            const struct input_spec *spec, int nspec);
struct ir_module *onnx_read(struct kiln_ctx *ctx, const char *path, const uint8_t *data,
                            size_t len, const struct input_spec *spec, int nspec);

/* caffe2_read.c: a Caffe2 NetDef pair (predict net, init net), as Caffe2Model.save_protobuf
 * writes model.pb and model_init.pb. The init net's fills become constants; the main
 * function's parameters are the predict net's other external inputs, typed by spec[] (one
 * per input, in order: NetDefs carry no shapes); it returns the external outputs.
 * Diagnostics are `path: op #3 'name' (Conv): error: ...`. c2_read takes the bytes of the
 * two files; c2_load reads them from their paths. */
struct ir_module *c2_load(struct kiln_ctx *ctx, const char *pb_path, const char *init_path,
                          const struct input_spec *spec, int nspec);
struct ir_module *c2_read(struct kiln_ctx *ctx, const char *pb_path, const uint8_t *pb,
                          size_t pb_len, const char *init_path, const uint8_t *init,
                          size_t init_len, const struct input_spec *spec, int nspec);

#endif
