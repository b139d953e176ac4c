#!/usr/bin/python3
"""make_fixtures.py: build kiln's end-to-end test fixtures with PyTorch itself.

usage: /usr/bin/python3 make_fixtures.py OUTDIR [--reuse] [--list] [NAME|GROUP ...]

Groups: small (mlp, lenet, digits_cnn, micro_*; committed under tests/models/fixtures),
        bad   (malformed archives, written to OUTDIR/bad; committed too),
        big   (torchvision models, generated at test time into the build dir),
        all   (the default).

For each model NAME it writes, into OUTDIR:
  NAME.pt              torch.jit.trace of the model in eval mode under no_grad, torch.jit.save'd
  NAME.input_K.npy     input K (float32, seeded), K = 0, 1, ...
  NAME.output_K.npy    PyTorch's output K on those inputs (the reloaded archive's, checked
                       against the eager module's)
  NAME.json            {"input_shapes": ["2x16", ...], "inputs": [...], "outputs": [{"shape",
                       "dtype", "rtol", "atol", "max_abs", "f64_max_abs_diff"}, ...], ...}
digits_cnn also writes digits_test_x.npy (N,1,8,8 float32), digits_test_y.npy (N int64),
digits_test_logits.npy (PyTorch's logits on the whole test set) and its accuracy in the json.

Tolerances: atol for each output is max(1e-4, 10 * |f32 - f64|max), where f64 is the same model
run in float64 on the same input, i.e. ten times the float32 rounding noise PyTorch itself has.

--reuse skips a model whose files exist and whose stamp (hash of this script + torch version)
matches, so that repeated ctest runs do not regenerate the big models.

Everything is deterministic: fixed seeds per model, one thread, eval mode.
"""
import copy
import hashlib
import io
import json
import os
import struct
import sys
import tempfile
import time
import zipfile
import zlib
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.backends.cudnn.deterministic = True

# ------------------------------------------------------------------------------------------------
# helpers


def seed_all(name):
    """Seed torch and numpy from the model name, so each model is independent of the others."""
    seed = zlib.crc32(name.encode()) & 0x7FFFFFFF
    torch.manual_seed(seed)
    np.random.seed(seed)
    return seed


def randn(shape, scale=1.0):
    """Seeded float32 standard-normal input (numpy's global state, seeded by seed_all)."""
    return torch.from_numpy((np.random.standard_normal(shape) * scale).astype(np.float32))


def shape_str(shape):
    return "x".join(str(d) for d in shape)


def flat_outputs(out):
    """Flatten a tensor / nested tuple, list or dict of tensors in detectron2's order (depth
    first, dict keys sorted), as kiln flattens inputs and outputs."""
    if isinstance(out, torch.Tensor):
        return [out]
    res = []
    for o in ([out[k] for k in sorted(out)] if isinstance(out, dict) else out):
        res.extend(flat_outputs(o))
    return res


def map_tensors(fn, x):
    """x with fn applied to every tensor in it (tuples, lists and dicts rebuilt)."""
    if isinstance(x, torch.Tensor):
        return fn(x)
    if isinstance(x, dict):
        return {k: map_tensors(fn, v) for k, v in x.items()}
    return type(x)(map_tensors(fn, v) for v in x)


def randomize_bn(model, gen):
    """Random running stats and affine params, so conv+bn folding is really exercised
    (fresh torchvision BNs have mean 0, var 1, weight 1, bias 0: folding them is a no-op)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
                    m.bias.copy_(torch.randn(n, generator=gen) * 0.1)


def check_output(name, k, a):
    """Reject references that would make a weak test: non-finite, constant or tiny outputs."""
    if not np.all(np.isfinite(a)):
        raise SystemExit(f"{name}: output {k} has non-finite values")
    mx = float(np.max(np.abs(a))) if a.size else 0.0
    if a.size == 0 or mx < 1e-6 or mx > 1e6:
        raise SystemExit(f"{name}: output {k} is degenerate (size {a.size}, max |x| {mx})")
    if a.size > 1 and float(np.ptp(a)) == 0.0:
        raise SystemExit(f"{name}: output {k} is constant ({a.flat[0]})")


def round_up_1sig(x):
    """Round up to one significant digit, so tolerances in the json read cleanly."""
    if x <= 0:
        return 0.0
    e = np.floor(np.log10(x))
    return float(np.ceil(x / 10 ** e) * 10 ** e)


# ------------------------------------------------------------------------------------------------
# small models (committed)


class MLP(nn.Module):
    """Linear/ReLU/Linear/softmax with scalar arithmetic around it."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = x * 0.5 + 1.0
        x = F.relu(self.fc1(x))
        x = self.fc2(x) / 3.0 - 0.25
        return F.softmax(x, dim=-1) * 2.0


class LeNet(nn.Module):
    """LeNet-5 on 1x1x28x28."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.flatten(x)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class DigitsCNN(nn.Module):
    """A small CNN for sklearn's 8x8 digits; flatten(x, 1) keeps the batch dimension free."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


class MicroSplitCat(nn.Module):
    """chunk, split (sizes and list), cat; two outputs."""

    def forward(self, x):
        a, b, c = x.chunk(3, dim=1)
        d, e = torch.split(x, [5, 7], dim=1)
        s = torch.split(x, 4, dim=1)
        y = torch.cat([c * 2.0, a, b - 1.0], dim=1)
        z = torch.cat((e, d), dim=1) + x
        w = torch.cat((s[2], s[0]), dim=2)
        return y + z, w


class MicroCatInPlace(nn.Module):
    """cats whose inputs the memory plan writes in place: a fire module (two conv outputs),
    a cat inside a cat, a model input in a cat, an input used again after the cats, one
    tensor twice, views, a cat along dim 2, and cats the plan must copy (batch 2, outputs)."""

    def __init__(self):
        super().__init__()
        self.sq = nn.Conv2d(4, 3, 1)
        self.e1 = nn.Conv2d(3, 5, 1)
        self.e3 = nn.Conv2d(3, 6, 3, padding=1)

    def forward(self, x):
        s = F.relu(self.sq(x))
        a = F.relu(self.e1(s))
        b = F.relu(self.e3(s))
        f = torch.cat([a, b], 1)
        g = torch.cat([f, a, x], 1) * 0.5
        h = torch.cat([b, b], 2)
        k = a * 2.0 - f[:, :5]
        t = torch.cat([k.view(1, 5, -1), s.view(1, 3, -1), b.flatten(2)], 1)
        bb = torch.cat([x, x * 2.0], 0)
        u = torch.cat([bb * 3.0, bb + 1.0], 1)
        return g, h - 1.0, t, u, torch.cat([k, s], 1)


class MicroWino(nn.Module):
    """3x3 stride-1 convs that kiln runs with Winograd F(2x2, 3x3): odd output sizes (tiles
    cut at the right and bottom), a folded batch norm, a residual add and relu fused into
    the output transform, no padding, no bias."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(32, 40, 3, padding=1)
        self.bn = nn.BatchNorm2d(40)
        self.c2 = nn.Conv2d(40, 32, 3, padding=1)
        self.c3 = nn.Conv2d(32, 16, 3, bias=False)

    def forward(self, x):
        y = F.relu(self.c2(F.relu(self.bn(self.c1(x)))) + x)
        return y, self.c3(y)


class MicroShape(nn.Module):
    """permute/transpose/contiguous/view/reshape/flatten/unsqueeze/squeeze, and view sizes
    computed from x.size() (traced as shape arithmetic)."""

    def forward(self, x):
        p = x.permute(0, 2, 3, 1).contiguous()
        v = p.view(2, 20, 3)
        t = v.transpose(1, 2)
        r = t.reshape(2, -1)
        r2 = x.view(x.size(0), -1)
        u = torch.flatten(t.contiguous(), 1).unsqueeze(1).squeeze(1)
        return r * 2.0 + r2 - u, x.transpose(2, 3).reshape(2, 3, 20)


class MicroReduce(nn.Module):
    """mean over dims (keepdim or not, all), sum, log_softmax."""

    def forward(self, x):
        m1 = x.mean(dim=(2, 3))
        m2 = x.mean(dim=-1, keepdim=True)
        s = torch.sum(x, dim=(2, 3))
        ls = F.log_softmax(x, dim=1)
        return m1 + s * 0.1, ls - m2 + x.mean()


class MicroAct(nn.Module):
    """Activations, one output each."""

    def forward(self, x):
        return (F.gelu(x), F.gelu(x, approximate="tanh"), F.silu(x), F.hardswish(x),
                F.hardsigmoid(x), torch.sigmoid(x), torch.tanh(x), F.relu6(x),
                F.hardtanh(x, -2.0, 3.0))


class MicroPool(nn.Module):
    """avg_pool2d with padding / ceil_mode / count_include_pad=False, max_pool2d ceil, adaptive."""

    def forward(self, x):
        return (F.avg_pool2d(x, 3, stride=2, padding=1),
                F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
                F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                F.avg_pool2d(x, 2),
                F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
                F.adaptive_avg_pool2d(x, (1, 1)))


class MicroMatmul(nn.Module):
    """matmul 3d x 3d (batched), 2d x 2d, 3d x 2d (broadcast), addmm with alpha/beta."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 7))
        self.bias = nn.Parameter(torch.randn(7))

    def forward(self, a, b):
        a2 = a.reshape(6, 4)
        return (torch.matmul(a, b),
                torch.matmul(a2, self.w),
                torch.matmul(a, self.w),
                torch.addmm(self.bias, a2, self.w, beta=0.5, alpha=2.0))


class MicroBinary(nn.Module):
    """add/sub/mul/div with broadcasting and Python scalars."""

    def forward(self, x, y):
        q = y * y + 1.0
        return (x + y, x - 2.0 * y, x * y + 3, x / q, 1.5 - x, x / 4.0, 2.0 / (x * x + 1.0),
                torch.add(x, y, alpha=2.0))


class MicroConv(nn.Module):
    """conv2d with groups, stride, dilation, depthwise, non-square kernels, no bias; conv+bn."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2)
        self.c2 = nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=16)
        self.c3 = nn.Conv2d(16, 6, (1, 3), stride=(1, 2), padding=(0, 1), bias=False)
        self.c4 = nn.Conv2d(8, 4, 5)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.c3(F.relu(self.c2(self.c1(x))))
        return y, F.relu(self.bn(self.c4(x)))


@torch.jit.script
def scaled_sum(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    """A free function: scripted models call it through code/__torch__.py."""
    for _ in range(k):
        a = a + b
    return a


class Ctrl(nn.Module):
    """Scripted control flow that kiln folds at compile time: a for over range(n), a loop
    over a ModuleList collecting a list then torch.cat, an Optional attribute that is
    None, an assert that holds, a while loop with a constant trip count, a free function."""

    def __init__(self):
        super().__init__()
        self.n = 3
        self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
        self.extra: Optional[torch.Tensor] = None

    def forward(self, x):
        for i in range(self.n):
            x = x + i
        outs: List[torch.Tensor] = []
        for b in self.blocks:
            outs.append(torch.relu(b(x)))
        y = torch.cat(outs, 1)
        if self.extra is not None:
            y = y + self.extra
        assert x.dim() == 2, "Ctrl takes a batch of vectors"
        k = 0
        while k < 2:
            y = torch.tanh(y)
            k += 1
        return scaled_sum(y, y, 2)


@torch.jit.script
class Acc:
    """A user TorchScript class: fields set in __init__, a method that updates them, an
    Optional field set later."""

    def __init__(self, scale: float, like: torch.Tensor):
        self.scale = scale
        self.sum = like * 0.0
        self.n = 0
        self.last = torch.jit.annotate(Optional[torch.Tensor], None)

    def add(self, x: torch.Tensor):
        self.sum = self.sum + x * self.scale
        self.n += 1
        self.last = x

    def total(self) -> torch.Tensor:
        last = self.last
        if last is not None:
            return self.sum / self.n + last
        return self.sum


class ClsAcc(nn.Module):
    """An Acc object created in forward and updated in a loop and in a branch decided at
    run time; kiln turns its fields into plain values."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        acc = Acc(0.5, x)
        empty = acc.total() + x
        for i in range(3):
            x = torch.tanh(self.lin(x))
            acc.add(x)
        if bool(x.sum() > 0):
            acc.add(x * 2.0)
        else:
            acc.add(-x)
        return acc.total(), acc.sum * acc.n, empty


@torch.jit.script
class Inst:
    """Like detectron2's scripted Instances: Optional fields, has(), __len__, and methods
    returning new objects (__getitem__, cat)."""

    def __init__(self, image_size: Tuple[int, int]):
        self.image_size = image_size
        self._boxes = torch.jit.annotate(Optional[torch.Tensor], None)
        self._scores = torch.jit.annotate(Optional[torch.Tensor], None)
        self._classes = torch.jit.annotate(Optional[torch.Tensor], None)

    def set_boxes(self, b: torch.Tensor):
        self._boxes = b

    def set_scores(self, s: torch.Tensor):
        self._scores = s

    def boxes(self) -> torch.Tensor:
        b = self._boxes
        assert b is not None, "boxes is None and cannot be accessed!"
        return b

    def has(self, name: str) -> bool:
        if name == "boxes":
            return self._boxes is not None
        if name == "scores":
            return self._scores is not None
        if name == "classes":
            return self._classes is not None
        return False

    def __len__(self) -> int:
        for t in [self._boxes, self._scores, self._classes]:
            if t is not None:
                return t.size(0)
        raise NotImplementedError("Empty Inst does not support __len__!")

    def __getitem__(self, item: int) -> "Inst":
        ret = Inst(self.image_size)
        b = self._boxes
        if b is not None:
            ret._boxes = b[item:item + 1]
        s = self._scores
        if s is not None:
            ret._scores = s[item:item + 1]
        c = self._classes
        if c is not None:
            ret._classes = c[item:item + 1]
        return ret

    def cat(self, others: List["Inst"]) -> "Inst":
        ret = Inst(self.image_size)
        b = self._boxes
        if b is not None:
            boxes = [b]
            for o in others:
                boxes.append(o.boxes())
            ret._boxes = torch.cat(boxes, 0)
        s = self._scores
        if s is not None:
            scores = [s]
            for o in others:
                t = o._scores
                assert t is not None
                scores.append(t)
            ret._scores = torch.cat(scores, 0)
        return ret


class ClsInstances(nn.Module):
    """Builds an Inst from its input, selects and concatenates rows through methods that
    return new objects, and returns tensors computed from the fields."""

    def __init__(self, with_scores: bool = True):
        super().__init__()
        self.box = nn.Linear(8, 4)
        self.score = nn.Linear(8, 1)
        self.with_scores = with_scores

    def forward(self, x):
        inst = Inst((32, 24))
        inst.set_boxes(self.box(x))
        if self.with_scores:
            inst.set_scores(torch.sigmoid(self.score(x)).squeeze(1))
        n = len(inst)
        both = inst.cat([inst[0], inst[n - 1]])
        out = both.boxes() * float(len(both))
        if both.has("scores"):
            s = both._scores
            assert s is not None
            out = out + s.unsqueeze(1)
        if both.has("classes"):
            out = out * 0.0
        h, w = both.image_size
        return out, inst.boxes() / float(h * w + n)


class NestedOut(nn.Module):
    """Traced, returns (tensor, [tensor, tensor]): flattened depth first."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 6)

    def forward(self, x):
        y = self.lin(x)
        a, b = y.split(3, 1)
        return torch.relu(y), [torch.tanh(a), b * 2.0]


class DictOut(nn.Module):
    """Scripted, returns Dict[str, Tensor] built with keys out of alphabetical order (and a key
    set again), read through items(), keys(), values(), `in` and len(): the outputs come
    sorted by key."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 4)

    def forward(self, x) -> Dict[str, torch.Tensor]:
        y = self.lin(x)
        d = {"zeta": torch.tanh(y), "alpha": y * 2.0}
        d["mid"] = torch.sigmoid(y)
        d["alpha"] = d["alpha"] + 1.0
        total = y * 0.0
        for k, v in d.items():
            if k != "mid":
                total = total + v
        for k in d.keys():
            total = total * 0.5 + d[k]
        for v in d.values():
            total = total - v * 0.25
        if "mid" in d and len(d) == 3:
            d["beta"] = total
        return d


class DictIn(nn.Module):
    """Takes Tuple[Dict[str, Tensor]] as detectron2's ScriptableAdapter does; the flat inputs
    are the dict's values in key order."""

    def forward(self, inputs: Tuple[Dict[str, torch.Tensor]]) -> torch.Tensor:
        d = inputs[0]
        return d["image"] * 2.0 + d["bias"].sum(0)


@torch.jit.script
class DetInstances:
    """detectron2's scripted Instances in small: Optional fields, has, __len__, get_fields."""

    def __init__(self, image_size: Tuple[int, int]):
        self.image_size = image_size
        self._pred_boxes = torch.jit.annotate(Optional[torch.Tensor], None)
        self._scores = torch.jit.annotate(Optional[torch.Tensor], None)
        self._pred_logits = torch.jit.annotate(Optional[torch.Tensor], None)
        self._pred_masks = torch.jit.annotate(Optional[torch.Tensor], None)

    def set_pred_boxes(self, t: torch.Tensor):
        self._pred_boxes = t

    def set_scores(self, t: torch.Tensor):
        self._scores = t

    def set_pred_logits(self, t: torch.Tensor):
        self._pred_logits = t

    def has(self, name: str) -> bool:
        if name == "pred_boxes":
            return self._pred_boxes is not None
        if name == "scores":
            return self._scores is not None
        if name == "pred_logits":
            return self._pred_logits is not None
        if name == "pred_masks":
            return self._pred_masks is not None
        return False

    def __len__(self) -> int:
        for t in [self._pred_boxes, self._scores, self._pred_logits, self._pred_masks]:
            if t is not None:
                return t.size(0)
        raise NotImplementedError("Empty DetInstances does not support __len__!")

    def get_fields(self) -> Dict[str, torch.Tensor]:
        ret = torch.jit.annotate(Dict[str, torch.Tensor], {})
        t = self._pred_boxes
        if t is not None:
            ret["pred_boxes"] = t
        t = self._scores
        if t is not None:
            ret["scores"] = t
        t = self._pred_logits
        if t is not None:
            ret["pred_logits"] = t
        t = self._pred_masks
        if t is not None:
            ret["pred_masks"] = t
        return ret


class Detector(nn.Module):
    """One DetInstances per image; pred_logits only when has("scores") and not
    has("pred_masks"), which kiln decides at compile time."""

    def __init__(self):
        super().__init__()
        self.box = nn.Linear(8, 4)
        self.score = nn.Linear(8, 1)
        self.logits = nn.Linear(8, 3)

    def forward(self, x) -> List[DetInstances]:
        results: List[DetInstances] = []
        for i in range(x.size(0)):
            inst = DetInstances((32, 24))
            f = x[i]
            inst.set_pred_boxes(self.box(f))
            inst.set_scores(torch.sigmoid(self.score(f)).squeeze(1))
            if inst.has("scores") and not inst.has("pred_masks"):
                inst.set_pred_logits(self.logits(f) * float(len(inst)))
            results.append(inst)
        return results


class ScriptableAdapter(nn.Module):
    """detectron2's export_model.py adapter: List[Instances] -> List[Dict[str, Tensor]]."""

    def __init__(self):
        super().__init__()
        self.model = Detector()

    def forward(self, x) -> List[Dict[str, torch.Tensor]]:
        instances = self.model(x)
        return [i.get_fields() for i in instances]


class NonConstOut(nn.Module):
    """Returns an int computed at run time inside a dict: kiln must name its path,
    output[1]['count']."""

    def forward(self, x) -> Tuple[torch.Tensor, Dict[str, int]]:
        n = int(x.sum())
        return x, {"count": n}


class BranchShapes(nn.Module):
    """A branch on a tensor value whose result has a different shape on each path: kiln
    needs one static shape per tensor, so it must refuse with a reason."""

    def forward(self, x):
        if bool(x.sum() > 0):
            x = x[:1]
        return x


class Dynamic(nn.Module):
    """Control flow decided by tensor values at run time: an if on the sign of the sum, a
    while loop halving until small, and an assert that holds for these inputs."""

    def forward(self, x):
        assert bool(x.abs().sum() > 0), "the input must not be all zeros"
        if bool(x.sum() > 0):
            x = x * 2
        else:
            x = x - 1
        n = 0
        while bool(x.abs().max() > 0.5) and n < 20:
            x = x * 0.5
            n += 1
        return x * (n + 1)


def build_dynamic(sign):
    def build():
        return Dynamic(), [sign * randn((2, 3)).abs() * 4]
    return build


class CtrlConv(nn.Module):
    """Convolutions inside data-dependent control flow, where fuse folds the batch norm and
    fuses the residual add and the activation in the blocks of the if and the loop."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        if bool(x.mean() > 0.0):
            h = torch.relu(self.bn(self.c1(x)))
        else:
            h = torch.sigmoid(self.c1(x))
        n = 0
        while bool(h.abs().mean() < 4.0) and n < 6:
            h = torch.relu(self.c2(h) + h)
            n += 1
        return h * (n + 1)


class CtrlBreak(nn.Module):
    """break and continue (TorchScript saves them as condition flags and uninitialized values)
    in a for loop and a while loop, decided by tensor values; an in-place op in a branch."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        acc = x * 0.0
        for i in range(10):
            if i % 3 == 1:
                continue
            if i % 3 == 2:
                if bool(acc.abs().sum() > 20.0):
                    continue
                t = acc * 0.5   # defined only where the loop goes on
            else:
                t = acc
            acc = t + torch.tanh(self.lin(x)) * i
            if bool(acc.abs().sum() > 100.0):
                break
        y = x.clone()
        if bool(acc.mean() > 0.0):
            y.mul_(2.0)
        k = 0
        while True:
            k += 1
            y = y * 0.5
            if bool(y.abs().max() < 0.1):
                break
        return acc + y * k


# CtrlBreak.forward as code with break and continue (PyTorch's printer never writes them; a
# hand-edited archive may): ctrl_break_src is ctrl_break with this forward.
CTRL_BREAK_SRC = """
    acc = torch.mul(x, 0.)
    for i in range(10):
      if torch.eq(torch.remainder(i, 3), 1):
        continue
      if torch.eq(torch.remainder(i, 3), 2):
        if bool(torch.gt(torch.sum(torch.abs(acc)), 20.)):
          continue
        t = torch.mul(acc, 0.5)
      else:
        t = acc
      lin = self.lin
      acc = torch.add(t, torch.mul(torch.tanh((lin).forward(x, )), i))
      if bool(torch.gt(torch.sum(torch.abs(acc)), 100.)):
        break
    y = torch.clone(x)
    if bool(torch.gt(torch.mean(acc), 0.)):
      _0 = torch.mul_(y, 2.)
    k = 0
    while True:
      k = torch.add(k, 1)
      y = torch.mul(y, 0.5)
      if bool(torch.lt(torch.max(torch.abs(y)), 0.10000000000000001)):
        break
    return torch.add(acc, torch.mul(y, k))
"""


def make_bad_code(bad):
    """ctrl_break with bad code: a `break` outside any loop, a syntax error, a `with`."""
    for name, src in [("break_outside_loop", "if bool(torch.gt(torch.sum(x), 0.)):\n      break"),
                      ("code_syntax_error", "y = torch.relu(x, ))"),
                      ("unsupported_with", "with torch.no_grad():\n      y = torch.relu(x)")]:
        path = os.path.join(bad, name + ".pt")
        torch.jit.save(torch.jit.script(CtrlBreak().eval()), path)
        with_break_src(path, "\n    " + src + "\n    return x\n")


def with_break_src(pt, src=CTRL_BREAK_SRC):
    """Rewrite the forward of archive pt as CTRL_BREAK_SRC; PyTorch reloads and runs it."""
    with open(pt, "rb") as f:
        data = f.read()
    rec, code = next((i.filename.split("/", 1)[1], d.decode()) for i, d in zip_entries(data)
                     if i.filename.endswith(".py") and b"class CtrlBreak(" in d)
    head = code.split("-> Tensor:\n")[0] + "-> Tensor:"
    data = replace_record(data, rec, (head + src).encode())
    with open(pt, "wb") as f:
        f.write(replace_record(data, rec + ".debug_pkl", None))
    return torch.jit.load(pt) if src == CTRL_BREAK_SRC else None


class LSTMNet(nn.Module):
    """nn.LSTM, 2 layers, batch_first, and a Linear on the last step; returns (y, h_n, c_n)."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 16, 2, batch_first=True)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        y, (h, c) = self.rnn(x)
        return self.fc(y[:, -1]), h, c


class GRUBi(nn.Module):
    """nn.GRU, 2 layers, batch_first, bidirectional, and a Linear on the last step."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 16, 2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(32, 4)

    def forward(self, x):
        y, h = self.rnn(x)
        return self.fc(y[:, -1]), h


class Encoder(nn.Module):
    """nn.TransformerEncoder (eval, batch_first: the fused _transformer_encoder_layer_fwd)."""

    def __init__(self, d, heads, ff, layers, **kw):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d, heads, ff, batch_first=True, **kw)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x):
        return self.enc(x)


class MicroSeqOps(nn.Module):
    """bmm, baddbmm, masked_fill, where, embedding (indices computed from the input),
    layer_norm."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 5)
        self.ln = nn.LayerNorm(5)

    def forward(self, a, b):
        c = torch.bmm(a, b)
        d = torch.baddbmm(c, a, b, beta=0.5, alpha=2.0)
        m = d.masked_fill(a.sum(-1, keepdim=True) > 0, -1.5)
        w = torch.where(c > 0, c, d * 2.0)
        idx = (a.abs() * 3.0).clamp(max=9.0).long()
        return m, w, self.ln(self.emb(idx)) + c.unsqueeze(2)


def build_seq(cls, *shapes, args=(), **kw):
    def build():
        return cls(*args, **kw), [randn(s) for s in shapes]
    return build


def build_ctrl():
    return Ctrl(), [randn((2, 8))]


def build_mlp():
    return MLP(), [randn((2, 16))]


def build_lenet():
    return LeNet(), [randn((1, 1, 28, 28))]


def build_micro(cls, *shapes, scale=1.0):
    def build():
        m = cls()
        randomize_bn(m, torch.Generator().manual_seed(1))
        return m, [randn(s, scale) for s in shapes]
    return build


# ------------------------------------------------------------------------------------------------
# digits: a real trained model and its test set


def train_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None, :, :]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)
    model.train()
    for _ in range(12):
        perm = torch.randperm(len(xtr_t), generator=gen)
        for i in range(0, len(perm), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = F.cross_entropy(model(xtr_t[idx]), ytr_t[idx])
            loss.backward()
            opt.step()
    model.eval()
    return model, xte, yte


# ------------------------------------------------------------------------------------------------
# big models (generated at test time)


def build_tv(name, shape):
    def build():
        import torchvision
        m = getattr(torchvision.models, name)(weights=None)
        randomize_bn(m, torch.Generator().manual_seed(2))
        return m, [randn(shape)]
    return build


SMALL = {
    "mlp": build_mlp,
    "lenet": build_lenet,
    "micro_split_cat": build_micro(MicroSplitCat, (1, 12, 5)),
    "micro_cat_inplace": build_micro(MicroCatInPlace, (1, 4, 6, 7)),
    "micro_wino": build_micro(MicroWino, (1, 32, 11, 15)),
    "micro_shape": build_micro(MicroShape, (2, 3, 4, 5)),
    "micro_reduce": build_micro(MicroReduce, (2, 3, 4, 5)),
    "micro_act": build_micro(MicroAct, (2, 64), scale=3.0),
    "micro_pool": build_micro(MicroPool, (1, 3, 12, 13)),
    "micro_matmul": build_micro(MicroMatmul, (2, 3, 4), (2, 4, 5)),
    "micro_binary": build_micro(MicroBinary, (2, 3, 4, 5), (3, 1, 5)),
    "micro_conv": build_micro(MicroConv, (1, 8, 13, 11)),
    "ctrl": build_ctrl,
    "mlp_scripted": build_mlp,
    "lenet_scripted": build_lenet,
    "dynamic_pos": build_dynamic(1.0),
    "dynamic_neg": build_dynamic(-1.0),
    "lstm": build_seq(LSTMNet, (2, 5, 8)),
    "lstm_scripted": build_seq(LSTMNet, (2, 5, 8)),
    "gru_bi": build_seq(GRUBi, (2, 5, 8)),
    "gru_bi_scripted": build_seq(GRUBi, (2, 5, 8)),
    "micro_seq_ops": build_seq(MicroSeqOps, (2, 3, 4), (2, 4, 5)),
    "encoder_small": build_seq(Encoder, (2, 7, 32), args=(32, 4, 64, 2)),
    "encoder_small_gelu_nf": build_seq(Encoder, (2, 7, 32), args=(32, 4, 64, 2),
                                       activation="gelu", norm_first=True),
    "encoder_small_scripted": build_seq(Encoder, (2, 7, 16), args=(16, 2, 32, 2)),
    "encoder_small_unfused": build_seq(Encoder, (2, 7, 32), args=(32, 4, 64, 2)),
    "cls_acc": build_seq(ClsAcc, (3, 8)),
    "cls_instances": build_seq(ClsInstances, (3, 8)),
    "ctrl_break": build_seq(CtrlBreak, (3, 8)),
    "ctrl_break_src": build_seq(CtrlBreak, (3, 8)),
    "ctrl_conv": build_seq(CtrlConv, (1, 4, 6, 6)),
    "nested_out": build_seq(NestedOut, (3, 8)),
    "dict_out": build_seq(DictOut, (3, 8)),
    "dict_in": lambda: (DictIn(), [({"image": randn((2, 5)), "bias": randn((3, 5))},)]),
    "adapter_instances": build_seq(ScriptableAdapter, (2, 5, 8)),
}

# Small spatial sizes keep test time down; every model ends in an adaptive pool or a mean, so
# they accept them (alexnet/vgg11 upsample 1x1 to 6x6/7x7 in their adaptive pool).
BIG = {
    "resnet18": build_tv("resnet18", (1, 3, 64, 64)),
    "mobilenet_v2": build_tv("mobilenet_v2", (1, 3, 64, 64)),
    "squeezenet1_1": build_tv("squeezenet1_1", (1, 3, 64, 64)),
    "efficientnet_b0": build_tv("efficientnet_b0", (1, 3, 64, 64)),
    "alexnet": build_tv("alexnet", (1, 3, 64, 64)),
    "vgg11": build_tv("vgg11", (1, 3, 32, 32)),
    "densenet121": build_tv("densenet121", (1, 3, 64, 64)),
    "shufflenet_v2_x1_0": build_tv("shufflenet_v2_x1_0", (1, 3, 64, 64)),
    "resnet18_scripted": build_tv("resnet18", (1, 3, 64, 64)),
    "mobilenet_v2_scripted": build_tv("mobilenet_v2", (1, 3, 64, 64)),
    "squeezenet1_1_scripted": build_tv("squeezenet1_1", (1, 3, 64, 64)),
    "efficientnet_b0_scripted": build_tv("efficientnet_b0", (1, 3, 64, 64)),
    "densenet121_scripted": build_tv("densenet121", (1, 3, 64, 64)),
    "shufflenet_v2_x1_0_scripted": build_tv("shufflenet_v2_x1_0", (1, 3, 64, 64)),
    "alexnet_scripted": build_tv("alexnet", (1, 3, 64, 64)),
    "vgg11_scripted": build_tv("vgg11", (1, 3, 32, 32)),
    "transformer_encoder": build_seq(Encoder, (2, 16, 256), args=(256, 4, 2048, 2)),
    "transformer_encoder_scripted": build_seq(Encoder, (2, 16, 256), args=(256, 4, 2048, 2)),
}

GROUPS = {
    "small": list(SMALL) + ["digits_cnn"],
    "bad": ["bad"],
    "big": list(BIG),
}
GROUPS["all"] = GROUPS["small"] + GROUPS["bad"] + GROUPS["big"]

# ------------------------------------------------------------------------------------------------
# writing one model


def save_npy(path, a):
    np.save(path, np.ascontiguousarray(a))


# Models saved with torch.jit.script instead of torch.jit.trace.
SCRIPTED = {"ctrl", "dynamic_pos", "dynamic_neg", "mlp_scripted", "lenet_scripted", "resnet18_scripted",
            "mobilenet_v2_scripted", "squeezenet1_1_scripted", "efficientnet_b0_scripted",
            "densenet121_scripted", "shufflenet_v2_x1_0_scripted", "alexnet_scripted",
            "vgg11_scripted"}


SCRIPTED |= {"lstm_scripted", "gru_bi_scripted", "encoder_small_scripted",
             "transformer_encoder_scripted"}
SCRIPTED |= {"cls_acc", "cls_instances"}
SCRIPTED |= {"ctrl_break", "ctrl_break_src", "ctrl_conv"}
SCRIPTED |= {"dict_out", "dict_in", "adapter_instances"}


# Traced with autograd on, so nn.MultiheadAttention takes its ordinary path (linear, view,
# bmm, softmax and the shape arithmetic around them: div with rounding_mode, mul of sizes),
# not the eval fast path (_transformer_encoder_layer_fwd), as ONNX export also traces it.
GRAD_TRACED = {"encoder_small_unfused"}


def trace_and_save(model, inputs, path, script=False, grad=False):
    model.eval()
    with torch.set_grad_enabled(grad):
        traced = torch.jit.script(model) if script else \
            torch.jit.trace(model, tuple(inputs), strict=False,   # strict=False: list outputs
                            check_trace=not grad)  # the check reruns the fast path under no_grad
    torch.jit.save(traced, path)
    return torch.jit.load(path)


def write_model(outdir, name, model, inputs, extra=None):
    """Trace, save, reload, run; write inputs, outputs and the json. Returns the json dict."""
    model.eval()
    pt = os.path.join(outdir, name + ".pt")
    loaded = trace_and_save(model, inputs, pt, script=name in SCRIPTED, grad=name in GRAD_TRACED)
    if name == "ctrl_break_src":
        loaded = with_break_src(pt)
    with torch.no_grad():
        eager = [o.numpy() for o in flat_outputs(model(*inputs))]
        outs = [o.numpy() for o in flat_outputs(loaded(*inputs))]
        m64 = copy.deepcopy(model).double()
        outs64 = [o.numpy() for o in flat_outputs(m64(*map_tensors(lambda t: t.double(), inputs)))]
    flat_in = flat_outputs(inputs)   # nested inputs are given to kiln's program flat
    meta = {"model": name, "input_shapes": [shape_str(i.shape) for i in flat_in],
            "inputs": [], "outputs": [], "torch_version": torch.__version__.split("+")[0]}
    for k, i in enumerate(flat_in):
        save_npy(os.path.join(outdir, f"{name}.input_{k}.npy"), i.numpy())
        meta["inputs"].append({"shape": list(i.shape), "dtype": "float32"})
    for k, (o, e, o64) in enumerate(zip(outs, eager, outs64)):
        check_output(name, k, o)
        if o.shape != e.shape or not np.allclose(o, e, rtol=1e-5, atol=1e-6):
            raise SystemExit(f"{name}: reloaded archive disagrees with eager model on output {k}")
        d64 = float(np.max(np.abs(o.astype(np.float64) - o64)))
        save_npy(os.path.join(outdir, f"{name}.output_{k}.npy"), o)
        meta["outputs"].append({"shape": list(o.shape), "dtype": str(o.dtype),
                                "rtol": 1e-3, "atol": max(1e-4, round_up_1sig(10 * d64)),
                                "max_abs": float(np.max(np.abs(o))), "f64_max_abs_diff": d64})
    if extra:
        meta.update(extra)
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    return meta


def make_digits(outdir):
    seed_all("digits_cnn")
    model, xte, yte = train_digits()
    with torch.no_grad():
        logits = model(torch.from_numpy(xte)).numpy()
    pred = logits.argmax(axis=1)
    correct = int((pred == yte).sum())
    extra = {"test_count": int(len(yte)), "test_correct": correct,
             "test_accuracy": correct / len(yte)}
    write_model(outdir, "digits_cnn", model, [torch.from_numpy(xte[0:1].copy())], extra)
    # The whole test set through the reloaded archive (batch N), as the batch test runs it.
    loaded = torch.jit.load(os.path.join(outdir, "digits_cnn.pt"))
    with torch.no_grad():
        logits_l = loaded(torch.from_numpy(xte)).numpy()
    if not np.allclose(logits_l, logits, rtol=1e-5, atol=1e-5) or \
            (logits_l.argmax(axis=1) != pred).any():
        raise SystemExit("digits_cnn: traced archive disagrees with the eager model on the test set")
    save_npy(os.path.join(outdir, "digits_test_x.npy"), xte)
    save_npy(os.path.join(outdir, "digits_test_y.npy"), yte)
    save_npy(os.path.join(outdir, "digits_test_logits.npy"), logits_l)
    print(f"  digits_cnn: PyTorch test accuracy {correct}/{len(yte)} ({100.0 * correct / len(yte):.2f}%)")


# ------------------------------------------------------------------------------------------------
# bad inputs: malformed or hostile archives, each must give a clean `error:` and exit status 1


class UnknownOps(nn.Module):
    """Two operators kiln is not expected to support (both must be reported)."""

    def forward(self, x):
        return torch.cumprod(x, 1) + torch.logcumsumexp(x, 1)


def zip_entries(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i, z.read(i.filename)) for i in z.infolist()]


def rezip(entries):
    """Write entries (ZipInfo, bytes) into a new zip, keeping names and compression."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info, data in entries:
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = info.compress_type
            z.writestr(zi, data)
    return buf.getvalue()


def replace_record(data, suffix, new):
    """Replace (new = bytes) or drop (new = None) the record whose name ends with suffix."""
    out, hit = [], False
    for info, d in zip_entries(data):
        if info.filename.endswith("/" + suffix):
            hit = True
            if new is None:
                continue
            d = new
        out.append((info, d))
    assert hit, suffix
    return rezip(out)


def int_opcode(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    if -2 ** 31 <= v < 2 ** 31:
        return b"J" + struct.pack("<i", v)
    return b"\x8a\x08" + struct.pack("<q", v)


def inflate_first_storage(pkl, numel):
    """Rewrite the numel of the first persistent id ('storage', type, key, location, numel):
    the int just before the TUPLE that precedes the first BINPERSID."""
    import pickletools
    ops = list(pickletools.genops(pkl))
    j = next(j for j, o in enumerate(ops) if o[0].name == "BINPERSID")
    assert ops[j - 1][0].name == "TUPLE"
    k = j - 2
    while ops[k][0].name in ("BINPUT", "LONG_BINPUT"):
        k -= 1
    assert ops[k][0].name in ("BININT1", "BININT2", "BININT", "LONG1"), ops[k][0].name
    return pkl[:ops[k][2]] + int_opcode(numel) + pkl[ops[k + 1][2]:]


def inflate_first_tensor(pkl, size0):
    """Rewrite the first size of the first tensor (after BINPERSID [BINPUT] offset MARK), so that
    the tensor reaches far past the end of its storage."""
    import pickletools
    ops = list(pickletools.genops(pkl))
    j = next(j for j, o in enumerate(ops) if o[0].name == "BINPERSID")
    k = next(k for k in range(j, len(ops)) if ops[k][0].name == "MARK") + 1
    assert ops[k][0].name in ("BININT1", "BININT2", "BININT", "LONG1"), ops[k][0].name
    return pkl[:ops[k][2]] + int_opcode(size0) + pkl[ops[k + 1][2]:]


def make_bad_field_unset(bad):
    """cls_acc with Acc.__init__ edited to read field n before it sets it (torch.jit.script
    refuses such code, so the archive is edited)."""
    seed_all("cls_acc")
    model, inputs = SMALL["cls_acc"]()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cls_acc.pt")
        torch.jit.save(torch.jit.script(model.eval()), path)
        with open(path, "rb") as f:
            data = f.read()
    old = b"self.sum = torch.mul(like, 0.)"
    rec, code = next((i.filename, d) for i, d in zip_entries(data) if old in d)
    code = code.replace(old, b"self.sum = torch.mul(like, self.n)")
    with open(os.path.join(bad, "field_unset.pt"), "wb") as f:
        f.write(replace_record(data, rec.split("/", 1)[1], code))


def make_bad(outdir):
    bad = os.path.join(outdir, "bad")
    os.makedirs(bad, exist_ok=True)
    seed_all("mlp")
    model, inputs = build_mlp()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mlp.pt")
        trace_and_save(model, inputs, path)
        with open(path, "rb") as f:
            mlp = f.read()
    pkl = next(d for i, d in zip_entries(mlp) if i.filename.endswith("/data.pkl"))
    files = {
        "not_a_zip.pt": b"this is not a TorchScript archive, just a text file\n",
        "empty.pt": b"",
        "truncated.pt": mlp[:len(mlp) // 2],
        "no_data_pkl.pt": replace_record(mlp, "data.pkl", None),
        "truncated_pickle.pt": replace_record(mlp, "data.pkl", pkl[:len(pkl) // 3]),
        "forbidden_global.pt": replace_record(
            mlp, "data.pkl", b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R."),
        "storage_too_big.pt": replace_record(
            mlp, "data.pkl", inflate_first_storage(pkl, 1 << 40)),
        "tensor_too_big.pt": replace_record(
            mlp, "data.pkl", inflate_first_tensor(pkl, 1 << 20)),
    }
    for fname, data in files.items():
        with open(os.path.join(bad, fname), "wb") as f:
            f.write(data)
    seed_all("unknown_op")
    m = UnknownOps().eval()
    trace_and_save(m, [randn((2, 5))], os.path.join(bad, "unknown_op.pt"))
    torch.jit.save(torch.jit.script(BranchShapes().eval()),
                   os.path.join(bad, "branch_shapes.pt"))
    make_bad_field_unset(bad)
    torch.jit.save(torch.jit.script(NonConstOut().eval()), os.path.join(bad, "nonconst_output.pt"))
    make_bad_code(bad)
    with open(os.path.join(bad, "README"), "w") as f:
        f.write("Malformed or unsupported inputs for kiln, written by ../../make_fixtures.py (group"
                " 'bad').\nEach must give `error:` on stderr and exit status 1: see"
                " ../../models.cmake and ../../run_bad.sh.\n")


# ------------------------------------------------------------------------------------------------
# driver


def stamp_of(name):
    h = hashlib.sha256()
    with open(os.path.abspath(__file__), "rb") as f:
        h.update(f.read())
    h.update(torch.__version__.encode())
    h.update(name.encode())
    return h.hexdigest()


def up_to_date(outdir, name):
    stamp = os.path.join(outdir, f".stamp-{name}")
    last = {"bad": "bad/unknown_op.pt", "digits_cnn": "digits_test_logits.npy"}
    if not os.path.exists(stamp) or \
            not os.path.exists(os.path.join(outdir, last.get(name, name + ".json"))):
        return False
    with open(stamp) as f:
        return f.read().strip() == stamp_of(name)


def make_one(outdir, name):
    if name == "bad":
        make_bad(outdir)
    elif name == "digits_cnn":
        make_digits(outdir)
    else:
        seed_all(name)
        build = SMALL.get(name) or BIG[name]
        model, inputs = build()
        meta = write_model(outdir, name, model, inputs)
        errs = ", ".join(f"{o['f64_max_abs_diff']:.1e}" for o in meta["outputs"])
        print(f"  {name}: inputs {meta['input_shapes']}, {len(meta['outputs'])} output(s),"
              f" f32-vs-f64 max abs diff {errs}")


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    opts = [a for a in argv if a.startswith("--")]
    if "--list" in opts:
        for g, names in GROUPS.items():
            print(f"{g}: {' '.join(names)}")
        return 0
    if not args or any(o not in ("--reuse",) for o in opts):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        print("usage: make_fixtures.py OUTDIR [--reuse] [--list] [NAME|GROUP ...]", file=sys.stderr)
        return 2
    outdir, names = args[0], args[1:] or ["all"]
    todo = []
    for n in names:
        for m in GROUPS.get(n, [n]):
            if m not in GROUPS["all"]:
                print(f"make_fixtures.py: unknown model or group '{n}'", file=sys.stderr)
                return 2
            if m not in todo:
                todo.append(m)
    os.makedirs(outdir, exist_ok=True)
    t0 = time.time()
    for name in todo:
        if "--reuse" in opts and up_to_date(outdir, name):
            print(f"  {name}: up to date")
            continue
        t = time.time()
        make_one(outdir, name)
        if "--reuse" in opts:
            with open(os.path.join(outdir, f".stamp-{name}"), "w") as f:
                f.write(stamp_of(name) + "\n")
        print(f"  {name}: {time.time() - t:.1f}s")
    print(f"make_fixtures.py: {len(todo)} fixture set(s) in {outdir} ({time.time() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
