#!/bin/sh
# setup_ort.sh: install onnxruntime-node for the ONNX tests and check that it really loads.
#
# usage: setup_ort.sh DIR      installs into DIR/node_modules (once; later runs reuse it)
#   npm install --ignore-scripts: the package's install script would download more at install
#   time; the prebuilt native binding ships inside the npm tarball, so it is not needed.
#   Then node loads the native binding (onnxruntime_binding.node) and creates a session
#   from a tiny ONNX model, so a package that installs but cannot run fails here.
# Environment: KILN_ORT_VERSION (default 1.30.0).
set -u
dir=$1
ver=${KILN_ORT_VERSION:-1.30.0}
mkdir -p "$dir" || exit 1
cd "$dir" || exit 1
command -v node >/dev/null || { echo "setup_ort.sh: FAIL: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup_ort.sh: FAIL: npm is not installed" >&2; exit 1; }
if [ ! -f node_modules/onnxruntime-node/package.json ] ||
	! grep -q "\"version\": \"$ver\"" node_modules/onnxruntime-node/package.json; then
	[ -f package.json ] || echo '{"name": "kiln-onnx-tests", "private": true}' >package.json
	echo "\$ npm install --ignore-scripts onnxruntime-node@$ver"
	npm install --ignore-scripts --no-audit --no-fund --prefer-offline "onnxruntime-node@$ver" ||
		{ echo "setup_ort.sh: FAIL: npm install onnxruntime-node@$ver (offline, no cache?)" >&2; exit 1; }
fi
# a one-node model (Neg on float[2]) made by onnx.helper, run through the native binding
py=${KILN_PYTHON:-/usr/bin/python3}
"$py" -c '
import onnx, onnx.helper as h
g = h.make_graph([h.make_node("Neg", ["x"], ["y"])], "g",
                 [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
                 [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)], ir_version=7), "probe.onnx")
' || { echo "setup_ort.sh: FAIL: $py cannot import onnx (python3-onnx)" >&2; exit 1; }
node -e '
const ort = require("onnxruntime-node");
require("onnxruntime-node/dist/binding");            // the native binding itself
(async () => {
  const s = await ort.InferenceSession.create("probe.onnx");
  const r = await s.run({x: new ort.Tensor("float32", Float32Array.from([1, -2]), [2])});
  if (r.y.data[0] !== -1 || r.y.data[1] !== 2) throw new Error("wrong answer " + r.y.data);
  console.log("onnxruntime-node " + require("onnxruntime-node/package.json").version +
              ": native binding loaded, probe model ran");
})().catch(e => { console.error(e.message || e); process.exit(1); });
' || { echo "setup_ort.sh: FAIL: onnxruntime-node does not run in node $(node --version)" >&2; exit 1; }
