#!/usr/bin/python3
"""check_custom.py: a model kiln wrote with --onnx-custom-domain, checked.

usage: /usr/bin/python3 check_custom.py MODEL.onnx DOMAIN OP_TYPE[:ATTR=TEXT] ...

Checks: onnx.checker.check_model(full_check=True) passes (the checker does not know the
domain's ops, but the rest of the model, subgraphs included, must be valid ONNX); the model
imports DOMAIN (version 1) besides the default domain; the nodes of DOMAIN, in the graph and
its If/Loop subgraphs, are exactly the OP_TYPEs given (in order), each with a string
attribute ATTR containing TEXT when given; every other node is of the default domain.
Exit status 0 when all pass, 1 otherwise.
"""
import sys

import onnx
from onnx import checker


def nodes(g):
    for n in g.node:
        yield n
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from nodes(a.g)


def main():
    path, domain, want = sys.argv[1], sys.argv[2], sys.argv[3:]
    m = onnx.load(path)
    checker.check_model(m, full_check=True)
    opset = {o.domain: o.version for o in m.opset_import}
    assert opset.get(domain) == 1 and "" in opset and len(opset) == 2, f"opset imports {opset}"
    custom = []
    for n in nodes(m.graph):
        assert n.domain in ("", domain), f"node {n.name} ({n.op_type}) in domain {n.domain!r}"
        if n.domain == domain:
            custom.append(n)
    got = [n.op_type for n in custom]
    assert got == [w.split(":")[0] for w in want], f"custom nodes {got}, expected {want}"
    for n, w in zip(custom, want):
        if ":" in w:
            key, text = w.split(":", 1)[1].split("=", 1)
            attrs = {a.name: a.s.decode() for a in n.attribute if a.type == onnx.AttributeProto.STRING}
            assert text in attrs.get(key, ""), f"{n.name}: attribute {key}={attrs.get(key)!r} lacks {text!r}"
    print(f"ok {path}: onnx.checker full_check, domain {domain}: {' '.join(got)}")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # checker errors, assertion failures, malformed files
        print(f"check_custom.py: FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
