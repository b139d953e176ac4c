// run_ort.js: run an ONNX model in onnxruntime (npm onnxruntime-node) on .npy inputs.
//
// usage: node run_ort.js MODEL.onnx OUTDIR input_0.npy [input_1.npy ...]
//   Inputs are fed in the order of the graph's inputs; OUTDIR/output_K.npy is written for
//   the K-th graph output. NODE_PATH must reach onnxruntime-node (run_onnx.sh sets it).
//   Prints the ONNX Runtime version and each output's name and shape. Exit status 1 on error.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const DTYPES = { // npy descr -> [ort type, TypedArray]
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array],
  '|u1': ['uint8', Uint8Array], '|b1': ['bool', Uint8Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const off = major === 1 ? 10 : 12;
  const hdr = buf.toString('latin1', off, off + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(hdr)[1];
  if (/'fortran_order':\s*True/.test(hdr)) throw new Error(`${file}: Fortran order`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(hdr)[1].split(',').map(s => s.trim())
    .filter(s => s.length).map(Number);
  const dt = DTYPES[descr];
  if (!dt) throw new Error(`${file}: unsupported dtype ${descr}`);
  const data = buf.subarray(off + hlen);
  const copy = new Uint8Array(data.length);
  copy.set(data);
  const arr = new dt[1](copy.buffer, 0, data.length / dt[1].BYTES_PER_ELEMENT);
  return new ort.Tensor(dt[0], dt[0] === 'bool' ? Uint8Array.from(arr) : arr, shape);
}

function writeNpy(file, t) {
  const descr = Object.keys(DTYPES).find(k => DTYPES[k][0] === t.type);
  if (!descr) throw new Error(`output type ${t.type} is not supported`);
  const dims = t.dims.length === 1 ? `${t.dims[0]},` : t.dims.join(', ');
  let hdr = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const pad = 64 - ((10 + hdr.length + 1) % 64);
  hdr += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(hdr.length, 8);
  const data = t.type === 'bool' ? Uint8Array.from(t.data, x => (x ? 1 : 0)) : t.data;
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(hdr, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

async function main() {
  const [model, outdir, ...inputs] = process.argv.slice(2);
  if (!model || !outdir) {
    console.error('usage: node run_ort.js MODEL.onnx OUTDIR input_0.npy ...');
    process.exit(2);
  }
  const opts = { graphOptimizationLevel: 'all', intraOpNumThreads: 1 };
  const session = await ort.InferenceSession.create(model, opts);
  if (session.inputNames.length !== inputs.length)
    throw new Error(`the model has ${session.inputNames.length} input(s), got ${inputs.length}`);
  const feeds = {};
  session.inputNames.forEach((n, i) => { feeds[n] = readNpy(inputs[i]); });
  const res = await session.run(feeds);
  fs.mkdirSync(outdir, { recursive: true });
  console.log(`onnxruntime ${ort.env.versions.common || ''}`.trim());
  session.outputNames.forEach((n, k) => {
    writeNpy(path.join(outdir, `output_${k}.npy`), res[n]);
    console.log(`output_${k}: ${n} ${res[n].type}[${res[n].dims.join(',')}]`);
  });
}

main().catch(e => { console.error(`run_ort.js: ${e.message || e}`); process.exit(1); });
