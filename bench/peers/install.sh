#!/usr/bin/env bash
# Installs the optional peers of `medgpu bench peers` (.ci/run installs the npm ones for test/bench/onnx-encode.test.ts):
#  - PyTorch on the CPU: Debian's python3-torch for the system /usr/bin/python3 (apt, needs root);
#  - onnxruntime-node (WebGPU execution provider) and TF.js's WebGPU backend, pinned in
#    bench/peers/package.json, into bench/peers/node_modules. --ignore-scripts: onnxruntime-node's
#    postinstall downloads extra binaries from a host that is not reachable here; the ones the CPU and
#    WebGPU providers need ship in the npm package.
set -euo pipefail
cd "$(dirname "$0")"

# python3-torch alone pulls only the reference BLAS (libblas3, ~5 GFLOP/s matmul here); PyTorch as a user
# runs it has OpenBLAS (libopenblas0-pthread, ~200 GFLOP/s), which takes over libblas.so.3 by alternatives.
if /usr/bin/python3 -c 'import torch' 2>/dev/null && dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
  echo "bench:peers: PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') with OpenBLAS present"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "bench:peers: installing Debian's python3-torch and OpenBLAS (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
else
  echo "bench:peers: PyTorch or OpenBLAS is missing; as root run:  apt-get update && apt-get install -y python3-torch libopenblas0-pthread" >&2
  echo "bench:peers: (the PyTorch column is skipped without torch, and its matmul is ~40x slow without OpenBLAS)" >&2
fi

if [ -f node_modules/onnxruntime-node/package.json ] && [ -f node_modules/@tensorflow/tfjs-backend-webgpu/package.json ]; then
  echo "bench:peers: onnxruntime-node and TF.js present in bench/peers/node_modules"
else
  echo "bench:peers: installing onnxruntime-node and TF.js into bench/peers/node_modules"
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error
fi
