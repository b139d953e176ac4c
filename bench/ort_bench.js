// ort_bench.js: times one ONNX model in onnxruntime-node, for bench/bench.py.
//
// usage: node ort_bench.js MODEL.onnx INPUT.f32 SHAPE THREADS ROUNDS SECONDS [OUT.f32]
//   INPUT.f32  raw little-endian float32 data of the model's single input, SHAPE like 1x3x224x224
//   prints     ort_ms round_medians=a,b,c: per round, the median of N runs (N >= 5, sized from
//              the warm-up runs so that a round takes about SECONDS)
//   OUT.f32    if given, the first output is written there (bench.py checks it against PyTorch)
'use strict';
const fs = require('fs');
const { open } = require('./ort_session');

function median(a) {
  const s = a.slice().sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

async function main() {
  const [model, input, shape, threads, rounds, secs, out] = process.argv.slice(2);
  const { session, feeds } = await open(model, input, shape, threads);
  let res, est = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    res = await session.run(feeds);
    est = Number(process.hrtime.bigint() - t0) / 1e6;
  }
  const n = Math.max(5, Math.min(5000, Math.floor(Number(secs) * 1e3 / Math.max(est, 1e-3))));
  if (out) {
    const o = res[session.outputNames[0]].data;
    fs.writeFileSync(out, Buffer.from(o.buffer, o.byteOffset, o.byteLength));
  }
  const meds = [];
  for (let r = 0; r < Number(rounds); r++) {
    const t = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    meds.push(median(t).toFixed(3));
  }
  console.log('ort_ms round_medians=' + meds.join(','));
}

main().catch((e) => {
  console.error('ort_bench: ' + e.message);
  process.exit(1);
});
