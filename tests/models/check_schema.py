#!/usr/bin/python3
"""check_schema.py: check kiln's flatten schema (kiln --emit=schema) against PyTorch.

usage: /usr/bin/python3 check_schema.py KILN MODEL.pt FIXTURE_PREFIX SHAPE [SHAPE ...]

Runs `KILN MODEL.pt --input-shape SHAPE... --emit=schema` twice (the bytes must be equal),
then rebuilds the model's nested inputs from the schema and the flat FIXTURE_PREFIX.input_K.npy
files, runs the TorchScript model on them, and walks its result alongside the schema: every
tuple/list/dict/object must match in kind, length and keys (dict keys in the schema's order
are the sorted keys of the result), constants must equal, and tensor leaf K must have the
shape and dtype the schema gives and equal FIXTURE_PREFIX.output_K.npy (PyTorch's reference),
with K running 0, 1, ... in depth-first order. Exit status 0 on success, 1 on a mismatch.
"""
import json
import subprocess
import sys

import numpy as np
import torch

DTYPES = {"f32": torch.float32, "f64": torch.float64, "i64": torch.int64, "i32": torch.int32}


def fail(msg):
    print(f"check_schema.py: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def build(s, flat):
    """The nested value schema node s stands for, from the flat tensors."""
    if "tensor" in s:
        return flat[s["tensor"]]
    if "const" in s:
        return s["const"]
    if "tuple" in s:
        return tuple(build(x, flat) for x in s["tuple"])
    if "list" in s:
        return [build(x, flat) for x in s["list"]]
    if "dict" in s:
        return {k: build(v, flat) for k, v in s["dict"].items()}
    fail(f"cannot rebuild an input of schema {s}")


def walk(s, v, path, prefix, seen):
    if "tensor" in s:
        if not isinstance(v, torch.Tensor):
            fail(f"{path}: schema says tensor, PyTorch gives {type(v).__name__}")
        k = s["tensor"]
        if k != len(seen):
            fail(f"{path}: tensor {k} out of depth-first order (expected {len(seen)})")
        if s["path"] != path:
            fail(f"tensor {k}: schema path {s['path']}, walked {path}")
        if list(v.shape) != s["shape"] or v.dtype != DTYPES[s["dtype"]]:
            fail(f"{path}: schema {s['dtype']}{s['shape']}, PyTorch {v.dtype}{list(v.shape)}")
        ref = np.load(f"{prefix}.output_{k}.npy")
        if not np.allclose(v.detach().numpy(), ref, rtol=1e-5, atol=1e-6):
            fail(f"{path}: PyTorch's value differs from output_{k}.npy")
        seen.append(path)
    elif "const" in s:
        if v != s["const"]:
            fail(f"{path}: constant {s['const']!r}, PyTorch gives {v!r}")
    elif "tuple" in s or "list" in s:
        items = s.get("tuple", s.get("list"))
        if not isinstance(v, (tuple, list)) or len(v) != len(items):
            fail(f"{path}: schema has {len(items)} items, PyTorch gives {type(v).__name__}")
        for i, (x, y) in enumerate(zip(items, v)):
            walk(x, y, f"{path}[{i}]", prefix, seen)
    elif "dict" in s:
        if not isinstance(v, dict) or list(s["dict"]) != sorted(v):
            fail(f"{path}: schema keys {list(s['dict'])}, PyTorch's sorted keys {sorted(v)}")
        for k, x in s["dict"].items():
            walk(x, v[k], f"{path}['{k}']", prefix, seen)
    else:
        fail(f"{path}: unexpected schema node {s}")


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    kiln, model, prefix, shapes = argv[0], argv[1], argv[2], argv[3:]
    cmd = [kiln, model, "--emit=schema"] + [a for sh in shapes for a in ("--input-shape", sh)]
    runs = [subprocess.run(cmd, capture_output=True) for _ in range(2)]
    for r in runs:
        if r.returncode != 0:
            fail(f"{' '.join(cmd)}: status {r.returncode}: {r.stderr.decode()}")
    if runs[0].stdout != runs[1].stdout:
        fail("two runs printed different schemas")
    schema = json.loads(runs[0].stdout)
    flat = [torch.from_numpy(np.load(f"{prefix}.input_{k}.npy")) for k in range(len(shapes))]
    args = [build(s, flat) for s in schema["inputs"]]
    m = torch.jit.load(model)
    with torch.no_grad():
        out = m(*args)
    seen = []
    walk(schema["outputs"], out, "output", prefix, seen)
    print(f"check_schema.py: {model}: {len(seen)} tensor(s) match: {', '.join(seen)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
