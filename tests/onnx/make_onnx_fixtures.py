#!/usr/bin/python3
"""make_onnx_fixtures.py: models for the ONNX backend tests whose ops the committed fixtures lack.

usage: /usr/bin/python3 make_onnx_fixtures.py OUTDIR

Writes NAME.pt, NAME.input_K.npy, NAME.output_K.npy and NAME.json into OUTDIR, exactly as
tests/models/make_fixtures.py does (its write_model: PyTorch's own outputs, tolerances from a
float64 run), for:
  onnx_conv   conv + batch norm (BatchNormalization at -O0, folded at -O2), a residual add
              and relu (the conv epilogue), layer norm over 2 dims, linear on a 4-D input
              (MatMul), tanh-GELU, constant pad, adaptive avg pool to a divisor size, rsqrt,
              exp, log, abs, neg, erf, pow, maximum, minimum, amax, amin, expand, a cast to
              float64, hardtanh, softmax on an inner axis
  onnx_seq    layer norm without affine parameters, bias-free linear on 3-D and 2-D inputs,
              relu6 and silu epilogues, add/sub with alpha, cat, transpose, flatten,
              log_softmax, sigmoid, tanh
  onnx_rnn    the recurrent forms tests/models lacks: a one-layer bidirectional LSTM without
              biases, sequence-first, with given h0/c0; a one-layer GRU, sequence-first; a
              two-layer bidirectional batch-first LSTM (hn, cn of every layer)
Runs in a few seconds; deterministic (seeded per model).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
import make_fixtures as mf  # noqa: E402


class OnnxConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.ln = nn.LayerNorm([8, 8])
        self.fc = nn.Linear(8, 6)

    def forward(self, x):
        y = self.bn(self.conv(x))
        y = F.relu(self.conv2(y) + x)
        z = self.ln(y)
        g = F.gelu(self.fc(z), approximate="tanh")
        p = F.adaptive_avg_pool2d(torch.constant_pad_nd(y, [1, 1, 1, 1], 0.5), [5, 2])
        u = torch.rsqrt(y.abs() + 1) + torch.log(torch.exp(-y).abs() + 1) - torch.erf(y).neg()
        v = torch.maximum(torch.pow(y, 2), z) - torch.minimum(y, z)
        r = y.amax(dim=(2, 3)) + y.amin(dim=1, keepdim=True).mean(dim=(2, 3))
        e = y.mean(dim=1, keepdim=True).expand(2, 4, 8, 8) * 2
        d = F.hardtanh(z, -0.5, 0.5).to(torch.float64)
        s = F.softmax(y, dim=1)
        return g, p, u, v, r, e, d, s


class OnnxSeq(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(8, elementwise_affine=False)
        self.fc1 = nn.Linear(8, 8, bias=False)
        self.fc2 = nn.Linear(40, 10, bias=False)
        self.fc3 = nn.Linear(8, 8)

    def forward(self, x):
        h = F.relu6(self.fc1(self.ln(x)))
        k = F.silu(self.fc3(x))
        a = torch.add(h, k, alpha=0.5)
        b = torch.sub(a, x, alpha=2.0)
        c = torch.cat([a, b.transpose(1, 2).transpose(1, 2)], dim=1)
        f = self.fc2(torch.flatten(b, 1))
        return F.log_softmax(f, dim=-1), torch.sigmoid(c) * torch.tanh(c)


class OnnxRnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 5, bidirectional=True, bias=False)
        self.gru = nn.GRU(10, 4)
        self.lstm2 = nn.LSTM(4, 3, num_layers=2, bidirectional=True, batch_first=True)
        self.register_buffer("h0", torch.linspace(-0.5, 0.5, 30).reshape(2, 3, 5))
        self.register_buffer("c0", torch.linspace(0.75, -0.75, 30).reshape(2, 3, 5))

    def forward(self, x):
        y, (h, c) = self.lstm(x, (self.h0, self.c0))
        g, gh = self.gru(y)
        z, (zh, zc) = self.lstm2(g.transpose(0, 1))
        return y, h, c, g, gh, z, zh, zc


def main(argv):
    if len(argv) != 1:
        print("usage: make_onnx_fixtures.py OUTDIR", file=sys.stderr)
        return 2
    out = argv[0]
    os.makedirs(out, exist_ok=True)
    for name, model, shape in (("onnx_conv", OnnxConv, (2, 4, 8, 8)), ("onnx_seq", OnnxSeq, (3, 5, 8)),
                               ("onnx_rnn", OnnxRnn, (7, 3, 6))):
        mf.seed_all(name)
        m = model()
        if name == "onnx_conv":  # non-trivial running statistics
            with torch.no_grad():
                m.bn.running_mean.uniform_(-0.5, 0.5)
                m.bn.running_var.uniform_(0.5, 2.0)
                m.bn.weight.uniform_(0.5, 1.5)
                m.bn.bias.uniform_(-0.5, 0.5)
        mf.write_model(out, name, m, [torch.randn(*shape)])
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
