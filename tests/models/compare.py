#!/usr/bin/python3
"""compare.py: compare a tensor kiln's program wrote with PyTorch's reference.

usage: /usr/bin/python3 compare.py EXPECTED.npy ACTUAL.npy [--rtol R] [--atol A] [--quiet]
       /usr/bin/python3 compare.py --selftest

Passes when dtype and shape are equal and every element satisfies
|actual - expected| <= atol + rtol * |expected| (NaNs must sit at the same places).
Prints one line: max abs error, max rel error, and on failure the worst element.
Exit status: 0 match, 1 mismatch, 2 usage error or a missing / malformed file.
"""
import os
import sys
import tempfile

import numpy as np


def load(path, what):
    """np.load without pickles; a missing or malformed file is exit status 2."""
    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        fail(2, f"{what} file {path}: not found")
    except Exception as e:  # malformed header, truncated data, pickled object arrays, .npz ...
        fail(2, f"{what} file {path}: not a valid .npy file ({e})")
    if not isinstance(a, np.ndarray):
        fail(2, f"{what} file {path}: not a single .npy array")
    return a


def fail(status, msg):
    print(f"compare.py: {msg}", file=sys.stderr)
    sys.exit(status)


def compare(exp, act, rtol, atol):
    """Return (ok, message)."""
    if exp.dtype != act.dtype:
        return False, f"dtype mismatch: expected {exp.dtype}, got {act.dtype}"
    if exp.shape != act.shape:
        return False, f"shape mismatch: expected {exp.shape}, got {act.shape}"
    if exp.size == 0:
        return True, "empty tensors, nothing to compare"
    if exp.dtype.kind not in "fc":
        bad = exp != act
        n = int(bad.sum())
        if n:
            i = np.unravel_index(np.argmax(bad), exp.shape)
            return False, f"{n} of {exp.size} elements differ; first at {i}: expected {exp[i]}, got {act[i]}"
        return True, "all elements equal"
    e = exp.astype(np.float64)
    a = act.astype(np.float64)
    nan_e, nan_a = np.isnan(e), np.isnan(a)
    if (nan_e != nan_a).any():
        i = np.unravel_index(np.argmax(nan_e != nan_a), exp.shape)
        return False, f"NaN mismatch at {i}: expected {exp[i]}, got {act[i]}"
    e, a = np.where(nan_e, 0.0, e), np.where(nan_a, 0.0, a)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - e)
        err = np.where(a == e, 0.0, err)  # equal infinities
        rel = err / np.maximum(np.abs(e), np.finfo(np.float64).tiny)
        excess = err - (atol + rtol * np.abs(e))
    excess = np.where(np.isnan(excess), np.inf, excess)
    nbad = int((excess > 0).sum())
    stats = f"max abs err {np.max(err):.3g}, max rel err {np.max(np.where(err == 0, 0, rel)):.3g}"
    if nbad:
        i = np.unravel_index(np.argmax(excess), exp.shape)
        return False, (f"{nbad} of {exp.size} elements out of tolerance (rtol {rtol:g}, atol {atol:g});"
                       f" {stats}; worst at {tuple(int(x) for x in i)}: expected {exp[i]!r},"
                       f" got {act[i]!r}")
    return True, f"{stats} (rtol {rtol:g}, atol {atol:g})"


def parse(argv):
    files, rtol, atol, quiet = [], 1e-3, 1e-4, False
    it = iter(argv)
    for x in it:
        if x in ("--rtol", "--atol"):
            v = next(it, None)
            try:
                v = float(v)
            except (TypeError, ValueError):
                fail(2, f"{x} needs a number")
            if x == "--rtol":
                rtol = v
            else:
                atol = v
        elif x == "--quiet":
            quiet = True
        elif x.startswith("-") and x != "-":
            fail(2, f"unknown option {x}\n" + __doc__.strip().split("\n\n")[0])
        else:
            files.append(x)
    if len(files) != 2:
        fail(2, "usage: compare.py EXPECTED.npy ACTUAL.npy [--rtol R] [--atol A] [--quiet]")
    return files, rtol, atol, quiet


def selftest():
    """Checks of this script itself: matches, mismatches, and bad files."""
    me = os.path.abspath(__file__)
    with tempfile.TemporaryDirectory() as d:
        p = lambda n: os.path.join(d, n)  # noqa: E731
        x = np.random.RandomState(0).standard_normal((3, 4)).astype(np.float32)
        np.save(p("x.npy"), x)
        np.save(p("near.npy"), x + np.float32(5e-5))
        np.save(p("far.npy"), x + np.float32(1e-2))
        np.save(p("shape.npy"), x.reshape(4, 3))
        np.save(p("f64.npy"), x.astype(np.float64))
        np.save(p("nan.npy"), np.where(x > 0, np.float32("nan"), x))
        with open(p("junk.npy"), "wb") as f:
            f.write(b"\x93NUMPY garbage")
        with open(p("trunc.npy"), "wb") as f:
            f.write(open(p("x.npy"), "rb").read()[:100])
        cases = [("x.npy", "x.npy", 0), ("x.npy", "near.npy", 0), ("x.npy", "far.npy", 1),
                 ("x.npy", "shape.npy", 1), ("x.npy", "f64.npy", 1), ("x.npy", "nan.npy", 1),
                 ("nan.npy", "nan.npy", 0), ("x.npy", "missing.npy", 2), ("x.npy", "junk.npy", 2),
                 ("x.npy", "trunc.npy", 2)]
        import subprocess
        bad = 0
        for e, a, want in cases:
            r = subprocess.run([sys.executable, me, p(e), p(a), "--quiet"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode != want:
                print(f"selftest: compare {e} {a}: exit {r.returncode}, expected {want}")
                bad += 1
    print("compare.py selftest: " + ("FAILED" if bad else f"{len(cases)} cases passed"))
    return 1 if bad else 0


def main(argv):
    if argv == ["--selftest"]:
        return selftest()
    (fe, fa), rtol, atol, quiet = parse(argv)
    exp = load(fe, "expected")
    act = load(fa, "actual")
    ok, msg = compare(exp, act, rtol, atol)
    name = os.path.basename(fa)
    if not ok:
        print(f"MISMATCH {name}: {msg}", file=sys.stderr)
        return 1
    if not quiet:
        print(f"ok {name}: shape {exp.shape} {exp.dtype}, {msg}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
