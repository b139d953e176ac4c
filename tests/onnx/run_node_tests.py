#!/usr/bin/python3
"""run_node_tests.py: ONNX's own backend node tests (Debian libonnx-testdata) through kiln -> C.

For every case directory DATA/test_*/ (model.onnx + test_data_set_N/{input,output}_K.pb):
converts the TensorProto inputs and outputs to .npy, runs `kiln model.onnx --main`, compiles the
C with CC -O0 (cheap: the point is correctness; KILN_TEST_CFLAGS adds flags), runs the program on every data set and compares
each output with the expected one (same shape, same dtype kind, allclose with rtol 1e-3 and
atol 1e-5, NaNs equal). Prints one line per case, a per-op table and `N passed, M failed`.

Cases that cannot pass by design are counted apart, never hidden: models whose inputs or outputs
are sequences, maps, optionals or strings, and training ops (domain ai.onnx.preview.training).

  --expected FILE   cases that must pass: any of them failing fails the run (exit 1)
  --min-rate R      fail (exit 1) when fewer than R percent of all cases pass
  --table FILE      write the per-op table as Markdown (tests/onnx/NODE_TESTS.md)
  --write-expected FILE   write the list of passing cases (to refresh --expected)
  -j N              parallel cases (default 2)
  -k PATTERN        only cases whose name contains PATTERN
"""
import argparse
import collections
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper

DATA = "/usr/include/onnx/backend/test/data/node"
RTOL, ATOL = 1e-3, 1e-5
# A report of the generated C built with KILN_TEST_CFLAGS=-fsanitize=...: fails the run even in
# a case that is not expected to pass.
SANITIZER = re.compile(r"(ERROR: (Address|Leak)Sanitizer|runtime error):[^\n]*")


def snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def by_design(model):
    """Why a case cannot pass through kiln's C by design, or None."""
    for n in model.graph.node:
        if n.domain == "ai.onnx.preview.training":
            return "training op"
    for vi in list(model.graph.input) + list(model.graph.output):
        t = vi.type
        kind = t.WhichOneof("value")
        if kind == "sequence_type":
            return "sequence type"
        if kind == "map_type":
            return "map type"
        if kind == "optional_type":
            return "optional type"
        if kind == "tensor_type" and t.tensor_type.elem_type == onnx.TensorProto.STRING:
            return "string type"
    return None


def read_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def first_error(text):
    for line in text.splitlines():
        if "error:" in line:
            msg = line.split("error:", 1)[1].strip()
            return re.sub(r"'[^']*'", "'…'", msg)[:90]
    lines = text.strip().splitlines()
    return lines[0][:90] if lines else "?"


def compare(got, want):
    if got.shape != want.shape:
        return "shape %s, expected %s" % (got.shape, want.shape)
    if want.dtype == np.bool_ or got.dtype == np.bool_:
        return None if np.array_equal(got.astype(bool), want.astype(bool)) else "values differ"
    if np.issubdtype(want.dtype, np.integer):
        return None if np.array_equal(got.astype(np.int64), want.astype(np.int64)) else "values differ"
    g, w = got.astype(np.float64), want.astype(np.float64)
    if not np.allclose(g, w, rtol=RTOL, atol=ATOL, equal_nan=True):
        bad = ~np.isclose(g, w, rtol=RTOL, atol=ATOL, equal_nan=True)
        return "values differ (%d of %d, max abs error %.3g)" % (
            int(bad.sum()), bad.size, float(np.nanmax(np.abs(g - w)[bad])))
    return None


def run_case(args):
    name, kiln, cc, work = args
    src = os.path.join(DATA, name)
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    try:
        model = onnx.load(os.path.join(src, "model.onnx"))
    except Exception as e:  # noqa: BLE001 - a case onnx cannot load is a failed case
        return name, "fail", "onnx cannot load the model: %s" % e
    why = by_design(model)
    if why:
        return name, "design", why
    r = subprocess.run([kiln, os.path.join(src, "model.onnx"), "--main", "-o",
                        os.path.join(d, "m.c")], capture_output=True, text=True, timeout=120)
    if SANITIZER.search(r.stderr):
        return name, "fail", "sanitizer: kiln: " + SANITIZER.search(r.stderr).group(0)
    if r.returncode != 0:
        return name, "fail", "kiln: " + first_error(r.stderr)
    # the ASan stage's flags, but for its optimization level: these stay at -O0
    extra = [f for f in os.environ.get("KILN_TEST_CFLAGS", "").split() if not f.startswith("-O")]
    r = subprocess.run([cc, "-O0", "-std=c11", "-w"] + extra + [os.path.join(d, "m.c"), "-o",
                        os.path.join(d, "m"), "-lm"], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return name, "fail", "cc: " + first_error(r.stderr)
    sets = sorted(s for s in os.listdir(src) if s.startswith("test_data_set_"))
    if not sets:
        return name, "fail", "no data sets"
    for s in sets:
        sd = os.path.join(src, s)
        nin = len([f for f in os.listdir(sd) if f.startswith("input_")])
        nout = len([f for f in os.listdir(sd) if f.startswith("output_")])
        ins = []
        for k in range(nin):
            p = os.path.join(d, "%s.input_%d.npy" % (s, k))
            np.save(p, np.array(read_pb(os.path.join(sd, "input_%d.pb" % k)), order="C"))
            ins.append(p)
        od = os.path.join(d, s)
        os.makedirs(od)
        r = subprocess.run([os.path.join(d, "m"), "-o", od] + ins, capture_output=True,
                           text=True, timeout=120)
        if SANITIZER.search(r.stderr):
            return name, "fail", "sanitizer: " + SANITIZER.search(r.stderr).group(0)
        if r.returncode != 0:
            return name, "fail", "run: " + first_error(r.stderr + r.stdout)
        for k in range(nout):
            want = read_pb(os.path.join(sd, "output_%d.pb" % k))
            p = os.path.join(od, "output_%d.npy" % k)
            if not os.path.exists(p):
                return name, "fail", "output %d missing" % k
            bad = compare(np.load(p), want)
            if bad:
                return name, "fail", "output %d: %s" % (k, bad)
    shutil.rmtree(d, ignore_errors=True)
    return name, "pass", ""


def case_ops(names):
    """The ONNX op each case tests: its node's op if it has one node, else the op whose
    snake_case name is the longest prefix of the case name (expanded function bodies)."""
    single = {}
    for n in names:
        try:
            m = onnx.load(os.path.join(DATA, n, "model.onnx"), load_external_data=False)
        except Exception:  # noqa: BLE001
            continue
        types = sorted(set(x.op_type for x in m.graph.node))
        if len(types) == 1:
            single[n] = types[0]
    known = {snake(o): o for o in single.values()}
    ops = {}
    for n in names:
        if n in single:
            ops[n] = single[n]
            continue
        rest = n[len("test_"):]
        best = ""
        for s in known:
            if (rest == s or rest.startswith(s + "_")) and len(s) > len(best):
                best = s
        ops[n] = known[best] if best else "(other)"
    return ops


def main():
    global DATA
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--work", required=True)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("-k", default="")
    ap.add_argument("--expected")
    ap.add_argument("--write-expected")
    ap.add_argument("--min-rate", type=float, default=0.0)
    ap.add_argument("--table")
    a = ap.parse_args()
    DATA = a.data
    t0 = time.time()
    names = sorted(n for n in os.listdir(DATA) if n.startswith("test_") and a.k in n and
                   os.path.exists(os.path.join(DATA, n, "model.onnx")))
    os.makedirs(a.work, exist_ok=True)
    jobs = [(n, os.path.abspath(a.kiln), a.cc, os.path.abspath(a.work)) for n in names]
    with multiprocessing.Pool(a.j) as pool:
        results = pool.map(run_case, jobs, chunksize=4)
    ops = case_ops(names)
    status = {n: (s, why) for n, s, why in results}
    for n, s, why in results:
        print("%-60s %s%s" % (n, {"pass": "PASS", "fail": "FAIL", "design": "N/A "}[s],
                                 "  " + why if why else ""))
    per = collections.OrderedDict()
    for n in sorted(names, key=lambda x: (ops[x].lower(), x)):
        e = per.setdefault(ops[n], {"pass": 0, "fail": 0, "design": 0, "why": collections.Counter()})
        s, why = status[n]
        e[s] += 1
        if s != "pass":
            e["why"][why] += 1
    npass = sum(1 for s, _ in status.values() if s == "pass")
    nfail = sum(1 for s, _ in status.values() if s == "fail")
    ndesign = sum(1 for s, _ in status.values() if s == "design")
    total = len(names)
    rate = 100.0 * npass / total if total else 0.0
    rows = ["| op | cases | passed | failed | n/a by design | most common reason |",
            "|---|---:|---:|---:|---:|---|"]
    for op, e in per.items():
        why = e["why"].most_common(1)[0][0] if e["why"] else ""
        rows.append("| %s | %d | %d | %d | %d | %s |" % (op, e["pass"] + e["fail"] + e["design"],
                    e["pass"], e["fail"], e["design"], why.replace("|", "\\|")))
    summary = ("%d passed, %d failed (%d of the failed cannot pass by design: sequence, map, "
               "optional or string types, training ops); %d cases, %.1f%% pass" %
               (npass, nfail + ndesign, ndesign, total, rate))
    print()
    print("\n".join(rows))
    print()
    if a.table:
        os.makedirs(os.path.dirname(os.path.abspath(a.table)), exist_ok=True)
        with open(a.table, "w") as f:
            f.write("# ONNX backend node tests through kiln → C\n\n")
            f.write("Generated by `tests/onnx/run_node_tests.py` (ctest: `onnx_node_tests`) from "
                    "Debian's libonnx-testdata\n(onnx %s, `%s`). Each case: `kiln model.onnx "
                    "--main`, `cc -O0`, run on every data set,\noutputs compared with the "
                    "expected ones (rtol %g, atol %g).\n\nkiln compiles static shapes: cases that "
                    "pass a shape, axes, starts, pads, repeats or k as a graph\ninput (a run-time "
                    "value) fail with \"must be a constant\"; the C kernels beyond float32 cover\n"
                    "int64/int32/uint8/bool elementwise arithmetic, comparison and select.\n\n" %
                    (onnx.__version__, DATA, RTOL, ATOL))
            f.write("**%s**\n\n" % summary)
            f.write("\n".join(rows) + "\n")
    if a.write_expected:
        with open(a.write_expected, "w") as f:
            f.write("".join(n + "\n" for n in names if status[n][0] == "pass"))
    ok = True
    if a.expected:
        want = [l.strip() for l in open(a.expected) if l.strip() and not l.startswith("#")]
        lost = [n for n in want if n in status and status[n][0] != "pass"]
        gone = [n for n in want if n not in status and not a.k]
        for n in lost:
            print("REGRESSION: %s passed before and now fails: %s" % (n, status[n][1]))
        for n in gone:
            print("REGRESSION: %s is expected to pass but was not found" % n)
        ok = not lost and not gone
    for n in names:
        if status[n][1].startswith("sanitizer: "):
            print("SANITIZER REPORT in %s: %s" % (n, status[n][1]))
            ok = False
    if rate < a.min_rate:
        print("pass rate %.1f%% is below the threshold %.1f%%" % (rate, a.min_rate))
        ok = False
    print("wall time %.0f s" % (time.time() - t0))
    print("%d passed, %d failed" % (npass, nfail + ndesign))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
