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

#endif
