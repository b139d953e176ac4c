// ort_layers.js: onnxruntime's own per-node timings of one ONNX model, for bench/layers.py.
//
// usage: node ort_layers.js MODEL.onnx INPUT.f32 SHAPE THREADS RUNS PREFIX
//   runs the model RUNS times with onnxruntime's profiler on (the session of ort_session.js,
//   as ort_bench.js times it) and prints the path of the profile (JSON, written at PREFIX*)
'use strict';
const fs = require('fs');
const path = require('path');
const { open } = require('./ort_session');

async function main() {
  const [model, input, shape, threads, runs, prefix] = process.argv.slice(2);
  const { session, feeds } = await open(model, input, shape, threads,
    { enableProfiling: true, profileFilePrefix: prefix });
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
