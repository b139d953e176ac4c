#!/usr/bin/python3
"""make_bad_onnx.py: the broken ONNX models of tests/onnx/bad (each NAME.onnx with the
diagnostic kiln must print in NAME.err), and valid seeds for the ONNX fuzz target
(tests/fuzz/corpus/onnx). Deterministic; the outputs are committed, this script remakes them.

usage: make_bad_onnx.py BAD_DIR CORPUS_DIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="kiln-tests")
    m.ir_version = 8
    return m


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def conv_model():
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="Conv_0", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="Relu_1"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="Pool_2"),
             helper.make_node("Flatten", ["p"], ["y"], name="Flatten_3")]
    return model(nodes, [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4])], [w, b])


def main():
    bad, corpus = sys.argv[1], sys.argv[2]
    os.makedirs(bad, exist_ok=True)
    os.makedirs(corpus, exist_ok=True)
    cases = {}
    good = conv_model().SerializeToString()
    cases["truncated"] = (good[: len(good) // 2],
                          "error: not a valid ONNX model (truncated or corrupt protobuf)")
    cycle = model([helper.make_node("Relu", ["x", "b"], ["a"], name="Relu_0"),
                   helper.make_node("Add", ["x", "a"], ["b"], name="Add_1")],
                  [vi("x", [2])], [vi("b", [2])])
    cases["cycle"] = (cycle.SerializeToString(),
                      "node 'Relu_0' (Relu): error: the graph has a cycle through this node")
    undef = model([helper.make_node("Add", ["x", "nowhere"], ["y"], name="Add_0")],
                  [vi("x", [2])], [vi("y", [2])])
    cases["undefined-input"] = (undef.SerializeToString(),
                                "node 'Add_0' (Add): error: input 'nowhere' is not defined by any "
                                "node, graph input or initializer")
    unknown = model([helper.make_node("Relu", ["x"], ["r"], name="Relu_0"),
                     helper.make_node("Frobnicate", ["r"], ["y"], name="Frobnicate_1")],
                    [vi("x", [2])], [vi("y", [2])])
    cases["unknown-op"] = (unknown.SerializeToString(),
                           "node 'Frobnicate_1' (Frobnicate): error: unsupported operator "
                           "'Frobnicate'")
    opset = model([helper.make_node("Relu", ["x"], ["y"], name="Relu_0")],
                  [vi("x", [2])], [vi("y", [2])], opset=99)
    cases["opset"] = (opset.SerializeToString(), "error: opset 99: kiln reads ONNX opsets 1 to 18")
    symbolic = model([helper.make_node("Relu", ["x"], ["y"], name="Relu_0")],
                     [vi("x", ["N", 2])], [vi("y", ["N", 2])])
    cases["symbolic-dim"] = (symbolic.SerializeToString(),
                             "input 'x': error: dimension 0 is 'N'; give the input's shape with "
                             "--input-shape")
    for name, (data, msg) in cases.items():
        with open(os.path.join(bad, name + ".onnx"), "wb") as f:
            f.write(data)
        with open(os.path.join(bad, name + ".err"), "w") as f:
            f.write(name + ".onnx: " + msg + "\n")
    with open(os.path.join(corpus, "seed-conv.onnx"), "wb") as f:
        f.write(good)
    small = model([helper.make_node("Reshape", ["x", "s"], ["r"], name="Reshape_0"),
                   helper.make_node("Transpose", ["r"], ["t"], name="Transpose_1", perm=[1, 0]),
                   helper.make_node("Softmax", ["t"], ["y"], name="Softmax_2", axis=1)],
                  [vi("x", [2, 3])], [vi("y", [3, 2])],
                  [numpy_helper.from_array(np.array([2, 3], np.int64), "s")])
    with open(os.path.join(corpus, "seed-reshape.onnx"), "wb") as f:
        f.write(small.SerializeToString())


if __name__ == "__main__":
    main()
