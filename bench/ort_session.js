// ort_session.js: the onnxruntime session ort_bench.js and ort_layers.js both time, so that
// their figures describe the same runtime: intra-op THREADS, one inter-op thread, sequential
// execution, every graph optimization, the CPU provider.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

// The session (with extra options, e.g. the profiler's) and its feeds: the model's single
// input from INPUT.f32 (raw little-endian float32) with SHAPE like 1x3x224x224.
async function open(model, input, shape, threads, extra) {
  const dims = shape.split('x').map(Number);
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const session = await ort.InferenceSession.create(model, Object.assign({
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
  }, extra || {}));
  return { session, feeds: { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) } };
}

module.exports = { open };
