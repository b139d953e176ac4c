#!/usr/bin/python3
"""check_onnx.py: onnx.checker on a model kiln wrote, plus what the checker does not look at.

usage: /usr/bin/python3 check_onnx.py MODEL.onnx NAME.json

Checks: onnx.checker.check_model(full_check=True) (strict shape inference, which must agree
with kiln's value_info); producer "kiln"; only the default domain; graph inputs/outputs match
the fixture's dtypes and shapes; the metadata "kiln.schema" is the flatten schema's JSON
(ir/schema.c) whose tensor leaves name every input and output, in order. onnx 1.12 knows opsets up to 17: a newer opset gets only the structural checks.
Exit status 0 when all pass, 1 otherwise.
"""
import json
import sys

import numpy as np
import onnx
from onnx import checker, helper, mapping


def tensor_leaves(s):
    """The {"tensor": i, "name": ...} leaves of a kiln schema tree (ir/schema.c)."""
    if isinstance(s, list):
        return [t for x in s for t in tensor_leaves(x)]
    if "tensor" in s:
        return [s]
    for k in ("tuple", "list"):
        if k in s:
            return tensor_leaves(s[k])
    for k in ("dict", "fields"):
        if k in s:
            return tensor_leaves(list(s[k].values()))
    return []  # a constant leaf


def main():
    path, fixture = sys.argv[1], sys.argv[2]
    m = onnx.load(path)
    opset = {o.domain: o.version for o in m.opset_import}
    assert set(opset) == {""}, f"opset imports {opset}: only the default domain is allowed"
    newest = onnx.defs.onnx_opset_version()
    if opset[""] <= newest:
        checker.check_model(m, full_check=True)
        what = "onnx.checker full_check"
    else:
        print(f"note: onnx {onnx.__version__} knows opsets up to {newest}; opset {opset['']} "
              "gets the structural checks only")
        what = "structural checks"
    assert m.producer_name == "kiln", m.producer_name
    for n in m.graph.node:
        assert n.domain == "", f"node {n.name} ({n.op_type}) in domain {n.domain!r}"
    d = json.load(open(fixture))
    meta = {p.key: p.value for p in m.metadata_props}
    schema = json.loads(meta["kiln.schema"])
    for kind, vis, fix in (("input", m.graph.input, d["inputs"]), ("output", m.graph.output, d["outputs"])):
        assert len(vis) == len(fix), f"{len(vis)} graph {kind}s, the fixture has {len(fix)}"
        leaves = sorted(tensor_leaves(schema[kind + "s"]), key=lambda s: s["tensor"])
        assert [v.name for v in vis] == [s["name"] for s in leaves], f"schema {kind}s"
        for v, f in zip(vis, fix):
            tt = v.type.tensor_type
            dt = mapping.TENSOR_TYPE_TO_NP_TYPE[tt.elem_type]
            shape = [x.dim_value for x in tt.shape.dim]
            assert np.dtype(dt) == np.dtype(f["dtype"]), f"{kind} {v.name}: {np.dtype(dt)} vs {f['dtype']}"
            assert shape == f["shape"], f"{kind} {v.name}: shape {shape} vs {f['shape']}"
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"ok {path}: {what}, opset {opset['']}, {len(m.graph.node)} nodes, "
          f"{len(m.graph.initializer)} initializers; ops: {' '.join(ops)}")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # checker errors, assertion failures, malformed files
        print(f"check_onnx.py: FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
