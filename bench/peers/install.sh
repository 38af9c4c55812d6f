#!/usr/bin/env bash
# Installs the optional peers of `medgpu bench peers` (.ci/run installs the npm ones for test/bench/onnx-encode.test.ts):
#  - PyTorch on the CPU: Debian's python3-torch for the system /usr/bin/python3 (apt, needs root);
#  - onnxruntime-node (WebGPU execution provider) and TF.js's WebGPU backend, pinned in
#    bench/peers/package.json, into bench/peers/node_modules. --ignore-scripts: onnxruntime-node's
#    postinstall downloads extra binaries from a host that is not reachable here; the ones the CPU and
#    WebGPU providers need ship in the npm package.
set -euo pipefail
cd "$(dirname "$0")"

if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "bench:peers: PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') present"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "bench:peers: installing Debian's python3-torch (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch >/dev/null
else
  echo "bench:peers: PyTorch is missing; as root run:  apt-get update && apt-get install -y python3-torch" >&2
  echo "bench:peers: (the PyTorch column will be skipped until then)" >&2
fi

if [ -f node_modules/onnxruntime-node/package.json ] && [ -f node_modules/@tensorflow/tfjs-backend-webgpu/package.json ]; then
  echo "bench:peers: onnxruntime-node and TF.js present in bench/peers/node_modules"
else
  echo "bench:peers: installing onnxruntime-node and TF.js into bench/peers/node_modules"
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error
fi
