// ort_layers.js: onnxruntime's own per-node timings of one ONNX model, for bench/layers.py.
//
// usage: node ort_layers.js MODEL.onnx INPUT.f32 SHAPE THREADS RUNS PREFIX
//   runs the model RUNS times with onnxruntime's profiler on (intraOpNumThreads THREADS, the
//   same options as ort_bench.js) and prints the path of the profile (JSON, written at PREFIX*)
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, input, shape, threads, runs, prefix] = process.argv.slice(2);
  const dims = shape.split('x').map(Number);
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    enableProfiling: true,
    profileFilePrefix: prefix,
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) };
  for (let i = 0; i < Number(runs); i++)
    await session.run(feeds);
  session.endProfiling();
  const dir = path.dirname(prefix), base = path.basename(prefix);
  const found = fs.readdirSync(dir).filter((f) => f.startsWith(base) && f.endsWith('.json'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (!found.length)
    throw new Error('no profile written at ' + prefix);
  console.log(found[0]);
}

main().catch((e) => {
  console.error('ort_layers: ' + e.message);
  process.exit(1);
});
