#!/usr/bin/python3
"""Regenerate the .pt fixtures of tests/unit/test_pt.c (run with /usr/bin/python3, torch 1.13).

linear.pt  traced nn.Linear(3, 2) with torch.manual_seed(0); linear.txt holds its weight then
           bias values, one float per line (repr of the float32 value).
attrs.pt   scripted module with buffers that share one storage (r = arange(10.), v = r[2:5]),
           a transposed int64 buffer, and typed attributes (List[int], Dict[str, float], ...).
"""
import os
from typing import Dict, List

import torch

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


class Attrs(torch.nn.Module):
    names: List[str]
    scale: Dict[str, float]

    def __init__(self):
        super().__init__()
        r = torch.arange(10.0)
        self.register_buffer("r", r)
        self.register_buffer("v", r[2:5])
        self.register_buffer("i", torch.arange(6, dtype=torch.int64).reshape(2, 3).t())
        self.dims = [1, 2, 300]
        self.names = ["a", "bc"]
        self.scale = {"x": 0.5, "y": -2.25}
        self.label = "hello"
        self.eps = 1e-5
        self.flag = True

    def forward(self, x):
        return x * self.r.sum() + self.v.sum() + self.i.sum() + self.eps


def main():
    os.makedirs(HERE, exist_ok=True)
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 2)
    traced = torch.jit.trace(lin, torch.zeros(1, 3))
    traced.save(os.path.join(HERE, "linear.pt"))
    with open(os.path.join(HERE, "linear.txt"), "w") as f:
        for t in (lin.weight, lin.bias):
            for x in t.detach().flatten().tolist():
                f.write(repr(x) + "\n")
    torch.jit.script(Attrs()).save(os.path.join(HERE, "attrs.pt"))


if __name__ == "__main__":
    main()
