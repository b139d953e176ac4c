#!/usr/bin/python3
"""layers.py: where one model's time goes, kiln's convolutions beside onnxruntime's.

usage: /usr/bin/python3 bench/layers.py MODEL [--kiln PATH] [--out DIR] [--threads T] [--runs N]

Needs the files bench.py leaves in DIR (default bench/out): MODEL.pt, MODEL.onnx and
MODEL.input_0.npy / .f32; run bench.py (with --models MODEL) first.

  - kiln: compiles MODEL.pt with --main, wraps every kernel call of the run function in a
    timer (a copy of the C, instrumented here), builds it with `cc -O3 -march=native
    -fopenmp` and runs ./m --bench N at OMP_NUM_THREADS=T;
  - onnxruntime: runs the ONNX export N times with its profiler on (ort_layers.js) and reads
    each node's kernel time;
  - prints each of kiln's convolutions with the onnxruntime node of the same weight and output
    shape (matched in order), their microseconds per run (kiln: the mean of the N + 1 runs;
    onnxruntime: the median of the last three quarters), the ratio and GFLOP/s, then the
    other kernels and nodes by kind.

A per-layer ratio shows where the gap is, not the end-to-end latency: both sets of timers
add overhead (onnxruntime's profiler more), and the machine's noise moves single layers a
lot.  bench.py's table is the measure.
"""
import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CONV_FIELDS = ("c", "h", "w", "oc", "kh", "kw", "stride_h", "stride_w", "groups", "oh", "ow")


def run(cmd, env=None):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise SystemExit("layers.py: %s failed:\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
    return p.stdout


def instrument(src):
    """The generated C with every kernel call of kiln_*_run timed; and the calls' labels."""
    out, labels, inrun = [], [], False
    for line in src.split("\n"):
        if re.match(r"^int kiln_\w+_run\(", line):
            inrun = True
        elif inrun and line == "}":
            inrun = False
        m = re.match(r"^\t(k_\w+)\(", line) if inrun else None
        if m and line.rstrip().endswith(";"):
            conv = dict(re.findall(r"\.(\w+) = (-?\d+)", line)) if m.group(1) == "k_conv2d_f32" else {}
            labels.append((m.group(1), {k: int(v) for k, v in conv.items() if k in CONV_FIELDS}))
            out.append("\t{ double t0_ = k_now(); %s kiln_layer_s[%d] += k_now() - t0_; }"
                       % (line.strip(), len(labels) - 1))
        else:
            out.append(line)
    if not labels:
        raise SystemExit("layers.py: no kernel calls found in the generated run function")
    s = "\n".join(out)
    n = len(labels)
    hdr = ("#include <stdio.h>\nstatic double kiln_layer_s[%d];\n"
           "static void kiln_layer_dump(void)\n{\n\tint i;\n\tfor (i = 0; i < %d; i++)\n"
           "\t\tfprintf(stderr, \"kiln_layer %%d %%.9f\\n\", i, kiln_layer_s[i]);\n}\n" % (n, n))
    at = s.index("/* ---- the model ---- */")
    s = s[:at] + hdr + s[at:]
    main = "int main(int argc, char **argv)\n{\n"
    if main not in s:
        raise SystemExit("layers.py: the generated C has no main() (kiln --main)")
    s = s.replace(main, main + "\tatexit(kiln_layer_dump);\n", 1)
    return s, labels


def kiln_layers(args, shape, npy):
    base = os.path.join(args.out, args.model + ".layers")
    run([args.kiln, os.path.join(args.out, args.model + ".pt"), "--input-shape", shape, "--main",
         "-o", base + ".c"])
    with open(base + ".c") as f:
        src, labels = instrument(f.read())
    with open(base + "_timed.c", "w") as f:
        f.write(src)
    run(["cc", "-O3", "-march=native", "-fopenmp", base + "_timed.c", "-o", base, "-lm"])
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    p = subprocess.run([base, "--bench", str(args.runs), npy], env=env, capture_output=True, text=True,
                       timeout=1800)
    if p.returncode != 0:
        raise SystemExit("layers.py: %s --bench failed:\n%s" % (base, p.stderr))
    secs = [0.0] * len(labels)
    for m in re.finditer(r"kiln_layer (\d+) ([0-9.e+-]+)", p.stderr):
        secs[int(m.group(1))] = float(m.group(2))
    latency = re.search(r"median=([0-9.]+)", p.stdout)
    # --bench runs the model once before timing: N + 1 runs in the totals
    return [(name, conv, s / (args.runs + 1) * 1e6) for (name, conv), s in zip(labels, secs)], \
        float(latency.group(1)) if latency else None


def ort_layers(args, shape):
    prefix = os.path.join(args.out, args.model + ".ort_profile")
    path = run(["node", os.path.join(HERE, "ort_layers.js"), os.path.join(args.out, args.model + ".onnx"),
                os.path.join(args.out, args.model + ".input_0.f32"), shape, str(args.threads),
                str(args.runs), prefix]).strip().split("\n")[-1]
    with open(path) as f:
        events = json.load(f)
    times, meta, order = collections.defaultdict(list), {}, []
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        n = e["name"][:-len("_kernel_time")]
        if n not in times:
            order.append(n)
        times[n].append(e["dur"])
        a = e["args"]
        meta[n] = (a.get("op_name"), [list(x.values())[0] for x in a.get("input_type_shape", [])],
                   [list(x.values())[0] for x in a.get("output_type_shape", [])])
    # the first quarter of the runs warms up
    return [(n, meta[n][0], meta[n][1], meta[n][2], statistics.median(times[n][len(times[n]) // 4:]))
            for n in order]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args(argv)
    npy = os.path.join(args.out, args.model + ".input_0.npy")
    for ext in (".pt", ".onnx", ".input_0.npy", ".input_0.f32"):
        if not os.path.exists(os.path.join(args.out, args.model + ext)):
            raise SystemExit("layers.py: %s missing: run bench.py --models %s first"
                             % (os.path.join(args.out, args.model + ext), args.model))
    import numpy as np
    shape = "x".join(str(d) for d in np.load(npy).shape)

    kiln, latency = kiln_layers(args, shape, npy)
    ort = ort_layers(args, shape)
    convs = [i for i, o in enumerate(ort) if o[1] in ("Conv", "FusedConv")]
    used = set()
    print("%s, %d thread(s), %d runs: microseconds per run (kiln: mean; onnxruntime: median)\n"
          % (args.model, args.threads, args.runs))
    print("| kiln conv | onnxruntime node | kiln us | ort us | kiln/ort | kiln GF/s | ort GF/s |")
    print("|---|---|---|---|---|---|---|")
    kt = ot = 0.0
    other_k, other_o = collections.Counter(), collections.Counter()
    for name, p, us in kiln:
        if name != "k_conv2d_f32":
            other_k[name] += us
            continue
        lab = "c%d %dx%d -> oc%d k%dx%d s%d g%d" % (p["c"], p["h"], p["w"], p["oc"], p["kh"], p["kw"],
                                                     p["stride_h"], p["groups"])
        flop = 2.0 * p["oc"] * p["oh"] * p["ow"] * p["c"] // p["groups"] * p["kh"] * p["kw"]
        match = None
        for i in convs:
            if i in used:
                continue
            _, _, ins, outs, _ = ort[i]
            w, y = ins[1] if len(ins) > 1 else [], outs[0] if outs else []
            # onnxruntime may pad the output channels to its block (1000 -> 1008)
            if len(w) == 4 and 0 <= w[0] - p["oc"] < 16 and w[1:] == [p["c"] // p["groups"], p["kh"], p["kw"]] \
                    and y[2:] == [p["oh"], p["ow"]]:
                match = i
                break
        if match is None:
            print("| %s | (none) | %.1f | | | %.1f | |" % (lab, us, flop / us / 1e3))
            continue
        used.add(match)
        ous = ort[match][4]
        kt += us
        ot += ous
        print("| %s | %s | %.1f | %.1f | %.2f | %.1f | %.1f |" % (lab, ort[match][1], us, ous, us / ous,
                                                                 flop / us / 1e3, flop / ous / 1e3))
    for i, (n, op, _, _, us) in enumerate(ort):
        if i not in used:
            other_o[op] += us
    print("\nmatched convolutions: kiln %.0f us, onnxruntime %.0f us (%.2f)" % (kt, ot, kt / ot if ot else 0))
    print("kiln's other kernels: " + ", ".join("%s %.0f us" % kv for kv in other_k.most_common()))
    print("onnxruntime's other nodes: " + ", ".join("%s %.0f us" % kv for kv in other_o.most_common()))
    print("sum of timers: kiln %.0f us, onnxruntime %.0f us%s"
          % (sum(k[2] for k in kiln), sum(o[4] for o in ort),
             "; kiln's --bench median %.0f us" % (latency * 1e3) if latency else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
