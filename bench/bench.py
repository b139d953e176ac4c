#!/usr/bin/python3
"""bench.py: kiln against PyTorch and onnxruntime on the same models, inputs and threads.

usage: /usr/bin/python3 bench/bench.py [--kiln PATH] [--out DIR] [--models a,b,...]
                                       [--threads 1,2] [--rounds R] [--seconds S] [--md FILE]

Run from anywhere after building kiln (default PATH: build/kiln in the checkout).  In one run:

  1. installs onnxruntime-node (bench/package.json) into bench/node_modules with
     npm install --ignore-scripts (its CPU binaries ship in the package) if absent,
     and compiles bench/peak.c, the FMA-throughput probe that defines "100%";
  2. builds each model in PyTorch (seeded random weights, eval mode), traces it, saves the .pt,
     its input (.npy) and an ONNX export (opset 13), and counts conv/linear FLOPs;
  3. compiles the .pt with kiln --main and `cc -O3 -march=native -fopenmp`, runs it once and
     checks its output against PyTorch's (a model kiln cannot compile stays in the table,
     marked "not supported by kiln yet");
  4. times kiln (./m --bench N at OMP_NUM_THREADS=T), PyTorch (the traced model under no_grad,
     torch.set_num_threads(T)) and onnxruntime (intraOpNumThreads T), each in its own process,
     R rounds of N runs each (N sized from a first estimate so that a round takes about
     S / R seconds, at least 5 runs; kiln's and onnxruntime's rounds alternate, so a change in
     the machine's load hits both); a runtime's latency is the median of its round medians;
  5. prints a markdown table: medians in ms, kiln's conv/linear GFLOP/s and % of the measured
     peak at T threads (counting a direct convolution's multiply-adds, so Winograd convs can
     push it past 100%), and the ratios kiln/ort and kiln/pytorch (below 1 means kiln is
     faster).

Everything generated goes to bench/out/ (ignored by git).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name -> (description, input shape); the order of the table
MODELS = [
    ("mlp", "784-1024-1024-10 MLP, ReLU", (1, 784)),
    ("lenet", "LeNet-5", (1, 1, 28, 28)),
    ("resnet18", "torchvision", (1, 3, 224, 224)),
    ("mobilenet_v2", "torchvision", (1, 3, 224, 224)),
    ("squeezenet1_1", "torchvision", (1, 3, 224, 224)),
    ("efficientnet_b0", "torchvision", (1, 3, 224, 224)),
    ("transformer", "2-layer TransformerEncoder, d_model 256, 8 heads, ff 1024", (1, 128, 256)),
    ("lstm", "2-layer LSTM, hidden 256", (1, 128, 256)),
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, env=None, timeout=1800, cwd=None):
    """Runs cmd; returns (returncode, stdout, stderr) as text."""
    p = subprocess.run(cmd, env=env, cwd=cwd, timeout=timeout, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


# ------------------------------------------------------------------------------------------------
# models


def build_model(name, shape):
    """Returns (module in eval mode, input tensor). Seeded, so every run benches the same weights."""
    import numpy as np
    import torch
    import torch.nn as nn

    sys.path.insert(0, os.path.join(ROOT, "tests", "models"))
    import make_fixtures as mf

    mf.seed_all(name)
    x = mf.randn(shape)
    if name == "mlp":
        m = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                          nn.Linear(1024, 10))
    elif name == "lenet":
        m = mf.LeNet()
    elif name == "transformer":
        layer = nn.TransformerEncoderLayer(d_model=256, nhead=8, dim_feedforward=1024, dropout=0.0,
                                           batch_first=True)
        m = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    elif name == "lstm":
        class LSTM(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.LSTM(256, 256, num_layers=2, batch_first=True)

            def forward(self, x):
                return self.rnn(x)[0]
        m = LSTM()
    else:
        import torchvision
        m = getattr(torchvision.models, name)(weights=None)
        mf.randomize_bn(m, torch.Generator().manual_seed(2))
    np.random.seed(0)
    return m.eval(), x


def count_flops(name, model, x):
    """Multiply-adds x 2 of every conv and linear (and, for the transformer and LSTM, their
    attention and recurrent products, which do not go through nn.Linear modules)."""
    import torch
    import torch.nn as nn

    total = [0]

    def conv_hook(mod, inp, out):
        k = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        total[0] += 2 * out.numel() * k

    def linear_hook(mod, inp, out):
        total[0] += 2 * out.numel() * mod.in_features

    hooks = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear) and name != "transformer":
            hooks.append(mod.register_forward_hook(linear_hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    if name == "transformer":
        s, d, f = x.shape[1], 256, 1024
        total[0] += 2 * 2 * (s * d * 3 * d + 2 * s * s * d + s * d * d + 2 * s * d * f)
    elif name == "lstm":
        s, h = x.shape[1], 256
        total[0] += 2 * 2 * s * 4 * h * (h + h)
    return total[0]


def prepare(name, shape, outdir):
    """Writes NAME.pt, NAME.input_0.npy/.f32, NAME.ref.npy, NAME.onnx; returns a dict of facts."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    model, x = build_model(name, shape)
    base = os.path.join(outdir, name)
    info = {"name": name, "shape": "x".join(map(str, shape)), "pt": base + ".pt",
            "npy": base + ".input_0.npy", "f32": base + ".input_0.f32", "onnx": base + ".onnx"}
    # The transformer's eval fast path (aten::_transformer_encoder_layer_fwd) is taken only
    # without grad; trace it with grad on so the trace holds ordinary ops, as ONNX needs too.
    grad = name == "transformer"
    with torch.set_grad_enabled(grad):
        traced = torch.jit.trace(model, (x,), check_trace=False)
    torch.jit.save(traced, info["pt"])
    np.save(info["npy"], x.numpy())
    x.numpy().astype("<f4").tofile(info["f32"])
    with torch.no_grad():
        ref = traced(x)
    np.save(base + ".ref.npy", ref.numpy())
    info["flops"] = count_flops(name, model, x)
    try:
        with torch.set_grad_enabled(grad):
            torch.onnx.export(model, (x,), info["onnx"], opset_version=13,
                              input_names=["input_0"], output_names=["output_0"])
    except Exception as e:  # noqa: BLE001 -- reported in the table
        info["onnx_error"] = str(e).splitlines()[0][:120]
    return info


# ------------------------------------------------------------------------------------------------
# the three runtimes


def compile_kiln(info, kiln, outdir):
    """kiln --main then cc; sets info['exe'] or info['kiln_error']."""
    c = os.path.join(outdir, info["name"] + ".c")
    exe = os.path.join(outdir, info["name"] + ".kiln")
    rc, _, err = run([kiln, info["pt"], "--input-shape", info["shape"], "--main", "-o", c])
    if rc != 0:
        first = next((l for l in err.splitlines() if "error" in l), err.strip()[:200])
        info["kiln_error"] = re.sub(r"^\S*\.pt:\s*", "", first)[:140]
        return
    rc, _, err = run(["cc", "-O3", "-march=native", "-fopenmp", c, "-o", exe, "-lm"])
    if rc != 0:
        info["kiln_error"] = "cc failed: " + err.strip().splitlines()[0][:120]
        return
    info["exe"] = exe


def check_output(info, got_path, who):
    """Compares a runtime's output file (.npy or raw .f32) with PyTorch's; records the result."""
    import numpy as np

    ref = np.load(os.path.join(os.path.dirname(info["pt"]), info["name"] + ".ref.npy"))
    got = np.load(got_path) if got_path.endswith(".npy") else np.fromfile(got_path, "<f4")
    got = got.reshape(-1)
    ref = ref.reshape(-1)
    if got.shape != ref.shape:
        info[who + "_check"] = f"shape {got.shape} vs {ref.shape}"
        return
    err = float(np.max(np.abs(got.astype("f8") - ref))) if ref.size else 0.0
    scale = max(1.0, float(np.max(np.abs(ref))))
    info[who + "_check"] = "ok" if err <= 1e-3 * scale else f"MISMATCH max abs err {err:.3g}"
    info[who + "_maxerr"] = err


def runs_for(est_ms, spr):
    """Runs per round so that a round takes about spr seconds."""
    return max(5, min(5000, int(spr * 1e3 / max(est_ms, 1e-3))))


def time_kiln(info, threads, rounds, spr):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_PROC_BIND="false")

    def bench(n):
        rc, out, err = run([info["exe"], "--bench", str(n), info["npy"]], env=env)
        m = re.search(r"median=([0-9.]+) min=([0-9.]+)", out)
        if rc != 0 or not m:
            raise SystemExit(f"{info['name']}: kiln --bench failed: {err.strip()}")
        return float(m.group(1)), float(m.group(2))

    n = runs_for(bench(3)[1], spr)
    return [bench(n)[0] for _ in range(rounds)]


def time_torch(info, threads, rounds, spr):
    rc, out, err = run([sys.executable, os.path.abspath(__file__), "--torch-worker", info["pt"],
                        info["npy"], str(threads), str(rounds), str(spr)])
    if rc != 0:
        raise SystemExit(f"{info['name']}: torch worker failed: {err.strip()[-400:]}")
    return [float(v) for v in out.split("=")[1].split(",")]


def time_ort(info, threads, rounds, spr):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    rc, out, err = run(["node", os.path.join(HERE, "ort_bench.js"), info["onnx"], info["f32"],
                        info["shape"], str(threads), str(rounds), str(spr)], env=env)
    if rc != 0:
        raise SystemExit(f"{info['name']}: ort failed: {err.strip()[-400:]}")
    return [float(v) for v in out.split("=")[1].split(",")]


def torch_worker(pt, npy, threads, rounds, spr):
    """Runs in its own process: load the traced model and time it."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    model = torch.jit.load(pt).eval()
    x = torch.from_numpy(np.load(npy))
    meds = []
    with torch.no_grad():
        t0 = time.perf_counter()  # warm up: the profiling executor optimizes after a few runs
        for i in range(100):
            t1 = time.perf_counter()
            model(x)
            est = (time.perf_counter() - t1) * 1e3
            if i >= 5 and t1 - t0 > 1.0:
                break
        n = runs_for(est, spr)
        for _ in range(rounds):
            t = []
            for _ in range(n):
                t0 = time.perf_counter()
                model(x)
                t.append((time.perf_counter() - t0) * 1e3)
            meds.append(statistics.median(t))
    print("torch_ms round_medians=" + ",".join(f"{v:.3f}" for v in meds))


# ------------------------------------------------------------------------------------------------
# setup: onnxruntime-node and the peak probe


def setup_ort():
    mod = os.path.join(HERE, "node_modules", "onnxruntime-node")
    if not os.path.isdir(mod):
        log("installing onnxruntime-node into bench/node_modules ...")
        rc, out, err = run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund",
                            "--no-package-lock"], cwd=HERE, timeout=600)
        if rc != 0:
            raise SystemExit("npm install onnxruntime-node failed:\n" + err)
    rc, out, err = run(["node", "-e", "const o=require(process.argv[1]); console.log(o.env.versions.common)",
                        mod])
    if rc != 0:
        raise SystemExit("onnxruntime-node does not load:\n" + err)
    return out.strip()


def measure_peak(outdir, threads):
    exe = os.path.join(outdir, "peak")
    rc, _, err = run(["cc", "-O2", "-march=native", "-ffp-contract=fast", "-fopenmp",
                      os.path.join(HERE, "peak.c"), "-o", exe])
    if rc != 0:
        raise SystemExit("peak.c: " + err)
    peak = {}
    for t in threads:
        rc, out, _ = run([exe, str(t)])
        peak[t] = float(re.search(r"total=([0-9.]+)", out).group(1))
    return peak


def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1) if m else cpu
    except OSError:
        pass
    cc = run(["cc", "--version"])[1].splitlines()[0]
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, {cc}"


# ------------------------------------------------------------------------------------------------
# main


def fmt(v, spec=".2f"):
    return "—" if v is None else format(v, spec)


def table(rows, peak):
    head = ("| model | threads | GFLOP | kiln ms | pytorch ms | ort ms | kiln GFLOP/s | % peak "
            "| kiln/ort | kiln/pytorch |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        k, p, o = r.get("kiln"), r.get("torch"), r.get("ort")
        gf = r["flops"] / (k * 1e6) if k else None
        pct = 100 * gf / peak[r["threads"]] if gf else None
        kcell = fmt(k) if k else "not supported by kiln yet"
        lines.append(f"| {r['name']} | {r['threads']} | {r['flops'] / 1e9:.3f} | {kcell} | {fmt(p)} "
                     f"| {fmt(o)} | {fmt(gf, '.1f')} | {fmt(pct, '.0f')} "
                     f"| {fmt(k / o if k and o else None)} | {fmt(k / p if k and p else None)} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--models", default=",".join(m[0] for m in MODELS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0, help="target time per runtime and thread count")
    ap.add_argument("--md", help="also write the report (with machine and command) to this file")
    ap.add_argument("--torch-worker", nargs=5, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_worker:
        pt, npy, t, r, n = a.torch_worker
        torch_worker(pt, npy, int(t), int(r), float(n))
        return
    if not os.access(a.kiln, os.X_OK):
        raise SystemExit(f"{a.kiln}: not found; build kiln first or pass --kiln")
    os.makedirs(a.out, exist_ok=True)
    threads = [int(t) for t in a.threads.split(",")]
    wanted = a.models.split(",")
    unknown = set(wanted) - {m[0] for m in MODELS}
    if unknown:
        raise SystemExit("unknown models: " + ", ".join(sorted(unknown)))
    import torch

    ort_version = setup_ort()
    peak = measure_peak(a.out, threads)
    log("peak GFLOP/s: " + ", ".join(f"{t} thread(s) {v:.1f}" for t, v in peak.items()))
    rows, notes = [], []
    for name, desc, shape in MODELS:
        if name not in wanted:
            continue
        log(f"{name}: preparing")
        info = prepare(name, shape, a.out)
        compile_kiln(info, a.kiln, a.out)
        if "exe" in info:
            odir = os.path.join(a.out, name + ".kiln_out")
            os.makedirs(odir, exist_ok=True)
            rc, _, err = run([info["exe"], "-o", odir, info["npy"]])
            if rc != 0:
                raise SystemExit(f"{name}: kiln program failed: {err}")
            check_output(info, os.path.join(odir, "output_0.npy"), "kiln")
        if "onnx_error" not in info:
            run(["node", os.path.join(HERE, "ort_bench.js"), info["onnx"], info["f32"], info["shape"],
                 "1", "0", "0", info["onnx"] + ".out.f32"])
            check_output(info, info["onnx"] + ".out.f32", "ort")
        spr = a.seconds / a.rounds
        for t in threads:
            row = {"name": name, "threads": t, "flops": info["flops"]}
            log(f"{name}: {t} thread(s), {a.rounds} rounds of {spr:.2f} s")
            kiln_r, ort_r = [], []
            for _ in range(a.rounds):  # kiln and ort rounds alternate: a shared machine's load drifts
                if "exe" in info:
                    kiln_r += time_kiln(info, t, 1, spr)
                if "onnx_error" not in info:
                    ort_r += time_ort(info, t, 1, spr)
            if kiln_r:
                row["kiln"] = statistics.median(kiln_r)
            row["torch"] = statistics.median(time_torch(info, t, a.rounds, spr))
            if ort_r:
                row["ort"] = statistics.median(ort_r)
            rows.append(row)
        note = f"- {name} ({desc}, input {info['shape']}):"
        note += f" kiln {info.get('kiln_check', 'not supported by kiln yet: ' + info.get('kiln_error', ''))}"
        note += f"; ort {info.get('ort_check', 'export failed: ' + info.get('onnx_error', ''))}"
        notes.append(note)
    report = table(rows, peak)
    out = [report, "", "Peak (bench/peak.c, FP32 FMA): " +
           ", ".join(f"{v:.1f} GFLOP/s at {t} thread(s)" for t, v in peak.items()) + ".",
           "GFLOP counts a direct convolution's multiply-adds; kiln runs 3x3 stride-1 convs with "
           "Winograd F(2x2, 3x3), which does 4/9 of them, so its GFLOP/s and % peak can read "
           "above what the FMA units do.",
           "Outputs checked against PyTorch (max abs error <= 1e-3 x max(1, max|ref|)):"] + notes
    print("\n".join(out))
    if a.md:
        with open(a.md, "w") as f:
            f.write(f"# bench results\n\n- date: {datetime.datetime.now().isoformat(timespec='seconds')}\n"
                    f"- machine: {machine()}\n- torch {torch.__version__}, onnxruntime-node {ort_version}\n"
                    f"- command: `{' '.join(sys.argv)}`\n- load average at the end (1/5/15 min): "
                    f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}\n- latencies: median of {a.rounds} round "
                    f"medians, ms\n\n" + "\n".join(out) + "\n")


if __name__ == "__main__":
    main()
