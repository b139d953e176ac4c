#!/usr/bin/python3
"""make_nets.py: Caffe2 NetDef pairs written by hand with the Python protobuf package and
kiln's proto/caffe2.proto (compiled here by protoc --python_out), not by kiln, and their
expected outputs computed with numpy by hand.

usage: make_nets.py OUTDIR CAFFE2_PROTO

Writes:
  OUTDIR/hand/model.pb, model_init.pb   the hand-written net (below)
  OUTDIR/hand.input_0.npy, hand.output_K.npy, hand.json
  OUTDIR/hand2/..., hand2.*          a second net: the reader's other ops and spellings
  OUTDIR/<bad>/model.pb, model_init.pb  nets kiln must refuse (caffe2.cmake lists them)

The hand-written net, on data f32[1,2,5,5]:
  conv   = Conv(data, w1, b1)  3x3, pad 1, stride 1          -> [1,3,5,5]
  conv   = Relu(conv)          in place, as Caffe2 nets do
  pool   = MaxPool(conv)       2x2, stride 2, legacy_pad 3 (ceil) -> [1,3,3,3]
  fc     = FC(pool, w2, b2)    axis 1: flattens to [1,27]    -> [1,4]
  prob   = Softmax(fc)                                        (output 0)
  scaled = Mul(fc, s, broadcast=1, axis=1)   s: [4]           (output 1)
  flat   = Reshape(pool, shape)  shape: int64 [2] = (3, -1)  -> [3,9]
  sig    = Sigmoid(flat)                                      (output 2)
  gsum   = AveragePool(conv, global_pooling=1)  -> [1,3,1,1]
  tr     = Transpose(Scale(gsum, 2.0), axes=(0,2,3,1))        (output 3)
"""
import json
import os
import subprocess
import sys

import numpy as np


def load_pb2(outdir, proto):
    gen = os.path.join(outdir, "py")
    os.makedirs(gen, exist_ok=True)
    subprocess.run(["protoc", "--python_out=" + gen, "-I" + os.path.dirname(proto), proto],
                   check=True)
    sys.path.insert(0, gen)
    import caffe2_pb2
    return caffe2_pb2


def arg(op, name, value):
    a = op.arg.add()
    a.name = name
    if isinstance(value, str):
        a.s = value.encode()
    elif isinstance(value, float):
        a.f = value
    elif isinstance(value, int):
        a.i = value
    elif all(isinstance(v, int) for v in value):
        a.ints.extend(value)
    else:
        a.floats.extend(value)


def op(net, type_, inputs, outputs, name=None, **args):
    o = net.op.add()
    o.type = type_
    o.input.extend(inputs)
    o.output.extend(outputs)
    if name:
        o.name = name
    for k, v in args.items():
        arg(o, k, v)
    return o


def fill(init, name, array):
    if array.dtype == np.int64:
        o = op(init, "GivenTensorInt64Fill", [], [name])
        arg(o, "values", [int(v) for v in array.ravel()])
    else:
        o = op(init, "GivenTensorFill", [], [name])
        arg(o, "values", [float(v) for v in array.ravel()])
    arg(o, "shape", list(array.shape))
    init.external_output.append(name)


def conv2d(x, w, b, pad):
    n, c, h, wd = x.shape
    k = w.shape[2]
    xp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), np.float64)
    xp[:, :, pad:pad + h, pad:pad + wd] = x
    oh, ow = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    y = np.zeros((n, w.shape[0], oh, ow), np.float64)
    for o in range(w.shape[0]):
        for i in range(oh):
            for j in range(ow):
                y[0, o, i, j] = np.sum(xp[0, :, i:i + k, j:j + k] * w[o]) + b[o]
    return y


def maxpool_ceil(x, k, s):
    n, c, h, w = x.shape
    oh, ow = -(-(h - k) // s) + 1, -(-(w - k) // s) + 1
    y = np.zeros((n, c, oh, ow), x.dtype)
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = x[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
    return y


def hand(pb2, outdir):
    rng = np.random.RandomState(7)
    data = rng.randn(1, 2, 5, 5).astype(np.float32)
    w1 = (rng.randn(3, 2, 3, 3) * 0.5).astype(np.float32)
    b1 = (rng.randn(3) * 0.1).astype(np.float32)
    w2 = (rng.randn(4, 27) * 0.3).astype(np.float32)
    b2 = (rng.randn(4) * 0.1).astype(np.float32)
    s = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    shape = np.array([3, -1], np.int64)

    init = pb2.NetDef(name="hand_init")
    for name, a in [("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2), ("s", s), ("shape", shape)]:
        fill(init, name, a)
    net = pb2.NetDef(name="hand")
    net.external_input.extend(["data", "w1", "b1", "w2", "b2", "s", "shape"])
    op(net, "Conv", ["data", "w1", "b1"], ["conv"], "conv1", kernel=3, pad=1, stride=1,
       order="NCHW")
    op(net, "Relu", ["conv"], ["conv"], "relu1")
    op(net, "MaxPool", ["conv"], ["pool"], "pool1", kernels=[2, 2], strides=[2, 2],
       legacy_pad=3, order="NCHW")
    op(net, "FC", ["pool", "w2", "b2"], ["fc"], "fc1")
    op(net, "Softmax", ["fc"], ["prob"], "softmax")
    op(net, "Mul", ["fc", "s"], ["scaled"], "scale_by_s", broadcast=1, axis=1)
    op(net, "Reshape", ["pool", "shape"], ["flat", "old_shape"], "reshape")
    op(net, "Sigmoid", ["flat"], ["sig"], "sigmoid")
    op(net, "AveragePool", ["conv"], ["gsum"], "gap", global_pooling=1, order="NCHW")
    op(net, "Scale", ["gsum"], ["gsum2"], "double", scale=2.0)
    op(net, "Transpose", ["gsum2"], ["tr"], "to_nhwc", axes=[0, 2, 3, 1])
    net.external_output.extend(["prob", "scaled", "sig", "tr"])

    d = os.path.join(outdir, "hand")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.pb"), "wb") as f:
        f.write(net.SerializeToString())
    with open(os.path.join(d, "model_init.pb"), "wb") as f:
        f.write(init.SerializeToString())

    conv = np.maximum(conv2d(data.astype(np.float64), w1, b1, 1), 0)
    pool = maxpool_ceil(conv, 2, 2)
    fc = pool.reshape(1, 27) @ w2.T.astype(np.float64) + b2
    e = np.exp(fc - fc.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    scaled = fc * s.reshape(1, 4)
    sig = 1 / (1 + np.exp(-pool.reshape(3, 9)))
    tr = (conv.mean(axis=(2, 3), keepdims=True) * 2.0).transpose(0, 2, 3, 1)
    np.save(os.path.join(outdir, "hand.input_0.npy"), data)
    outs = [prob, scaled, sig, tr]
    for k, o in enumerate(outs):
        np.save(os.path.join(outdir, "hand.output_%d.npy" % k), o.astype(np.float32))
    with open(os.path.join(outdir, "hand.json"), "w") as f:
        json.dump({"input_shapes": ["1x2x5x5"],
                   "outputs": [{"rtol": 1e-4, "atol": 1e-5} for _ in outs]}, f)
    return net, init


def save(outdir, name, net, init, inputs, outs):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.pb"), "wb") as f:
        f.write(net.SerializeToString())
    with open(os.path.join(d, "model_init.pb"), "wb") as f:
        f.write(init.SerializeToString())
    for k, a in enumerate(inputs):
        np.save(os.path.join(outdir, "%s.input_%d.npy" % (name, k)), a)
    for k, o in enumerate(outs):
        np.save(os.path.join(outdir, "%s.output_%d.npy" % (name, k)), o.astype(np.float32))
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump({"input_shapes": ["x".join(map(str, a.shape)) for a in inputs],
                   "outputs": [{"rtol": 1e-4, "atol": 1e-5} for _ in outs]}, f)


def hand2(pb2, outdir):
    """The reader's other spellings, on x, y f32[2,3,4]: ConstantFill, Sum, Max, HardSigmoid
    (Caffe2's default alpha 0.2), Slice with negative ends, Concat (with its split output),
    Flatten, ExpandDims, Squeeze, BatchMatMul(trans_b), MatMul(trans_b), ReduceMean, LT,
    Where, PadImage, Sub with legacy broadcast at an axis, Clip, Exp."""
    rng = np.random.RandomState(11)
    x = rng.randn(2, 3, 4).astype(np.float32)
    y = rng.randn(2, 3, 4).astype(np.float32)
    w = (rng.randn(5, 4) * 0.4).astype(np.float32)
    b3 = np.array([0.5, -1.0, 2.0], np.float32)
    init = pb2.NetDef(name="hand2_init")
    fill(init, "w", w)
    fill(init, "b3", b3)
    op(init, "ConstantFill", [], ["half"], shape=[2, 3, 4], value=0.5)
    init.external_output.append("half")
    net = pb2.NetDef(name="hand2")
    net.external_input.extend(["x", "y", "w", "b3", "half"])
    op(net, "Sum", ["x", "y", "half"], ["s"])
    op(net, "Max", ["x", "y"], ["m"])
    op(net, "HardSigmoid", ["s"], ["hs"])
    op(net, "Slice", ["m"], ["sl"], starts=[0, 1, 0], ends=[-1, -1, -2])
    op(net, "Concat", ["hs", "x"], ["cat", "split"], axis=1)
    op(net, "Flatten", ["cat"], ["fl"], axis=2)
    op(net, "ExpandDims", ["fl"], ["ex"], dims=[0])
    op(net, "Squeeze", ["ex"], ["sq"], dims=[0])
    op(net, "BatchMatMul", ["x", "y"], ["bm"], trans_b=1)
    op(net, "Reshape", ["sq"], ["sq2", "old"], shape=[0, -1])
    op(net, "Slice", ["sq2"], ["sq3"], starts=[2, 0], ends=[-1, -1])
    op(net, "MatMul", ["sq3", "w"], ["mm"], trans_b=1)
    op(net, "ReduceMean", ["x"], ["rm"], axes=[2], keepdims=0)
    op(net, "LT", ["x", "y"], ["lt"])
    op(net, "Where", ["lt", "x", "y"], ["wh"])
    op(net, "ExpandDims", ["x"], ["x4"], dims=[1])
    op(net, "PadImage", ["x4"], ["pad"], pad=1, order="NCHW")
    op(net, "Sub", ["rm", "b3"], ["sub"], broadcast=1, axis=1)
    op(net, "Clip", ["sub"], ["clip"], min=-1.0, max=1.5)
    op(net, "Exp", ["clip"], ["e"])
    net.external_output.extend(["hs", "sl", "sq", "bm", "mm", "wh", "pad", "e"])

    xd, yd = x.astype(np.float64), y.astype(np.float64)
    s = xd + yd + 0.5
    hs = np.clip(0.2 * s + 0.5, 0, 1)
    sl = np.maximum(xd, yd)[0:2, 1:3, 0:3]
    sq = np.concatenate([hs, xd], axis=1).reshape(12, 4)    # Flatten at axis 2 of [2,6,4]
    bm = np.einsum("bij,bkj->bik", xd, yd)
    mm = sq[2:12] @ w.T.astype(np.float64)
    rm = xd.mean(axis=2)
    wh = np.where(xd < yd, xd, yd)
    pad = np.pad(xd[:, None], ((0, 0), (0, 0), (1, 1), (1, 1)))
    e = np.exp(np.clip(rm - b3.reshape(1, 3), -1.0, 1.5))
    save(outdir, "hand2", net, init, [x, y], [hs, sl, sq, bm, mm, wh, pad, e])


def bad(pb2, outdir, good_net, good_init):
    def write(name, net=None, init=None, net_bytes=None, init_bytes=None):
        d = os.path.join(outdir, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "model.pb"), "wb") as f:
            f.write(net_bytes if net_bytes is not None else net.SerializeToString())
        with open(os.path.join(d, "model_init.pb"), "wb") as f:
            f.write(init_bytes if init_bytes is not None else init.SerializeToString())

    # op #1 reads a blob nothing makes
    net = pb2.NetDef()
    net.CopyFrom(good_net)
    net.op[1].input[0] = "nope"
    net.op[1].name = "relu_nope"
    write("undefined_blob", net, good_init)
    # op #1 has an unknown type
    net = pb2.NetDef()
    net.CopyFrom(good_net)
    net.op[1].type = "FancyOp"
    net.op[1].name = "fancy"
    write("unknown_op", net, good_init)
    # the predict net cut in the middle of a message
    raw = good_net.SerializeToString()
    write("truncated", net_bytes=raw[:len(raw) // 2 + 3], init=good_init)
    raw = good_init.SerializeToString()
    write("truncated_init", good_net, init_bytes=raw[:len(raw) // 2 + 3])
    # the init net computes instead of filling
    init = pb2.NetDef()
    init.CopyFrom(good_init)
    init.op[0].type = "Relu"
    write("init_not_fill", good_net, init)
    # a fill whose values do not match its shape
    init = pb2.NetDef()
    init.CopyFrom(good_init)
    del init.op[0].arg[0].floats[5:]
    write("fill_count", good_net, init)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    outdir, proto = sys.argv[1], os.path.abspath(sys.argv[2])
    os.makedirs(outdir, exist_ok=True)
    pb2 = load_pb2(outdir, proto)
    net, init = hand(pb2, outdir)
    hand2(pb2, outdir)
    bad(pb2, outdir, net, init)
    print("make_nets.py: wrote", outdir)


if __name__ == "__main__":
    main()
