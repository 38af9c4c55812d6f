#!/usr/bin/python3
"""PyTorch-on-CPU peer for `medgpu bench peers` (see protocol.ts): one JSON request per stdin line, one
JSON answer per stdout line. Each layer is computed the way a PyTorch user (or diffusers on torch 1.x)
computes it: NCHW conv2d, F.group_norm, baddbmm + softmax + bmm attention, under inference_mode.

Run with the system /usr/bin/python3 and Debian's python3-torch; the bench sets OPENBLAS_CORETYPE for this
process only where the CPU has AVX-512 (Debian's OpenBLAS 0.3.21 does not recognise newer Xeons and falls
back to generic kernels otherwise)."""

import json
import math
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # answered to every request so the bench can say why the peer is skipped
    torch = None
    IMPORT_ERROR = str(e)

THREADS = 2


def build(layer):
    """Returns (run, form): run() computes the layer once."""
    op = layer["op"]
    g = torch.Generator().manual_seed(0)

    def rand(*shape, around=0.0):
        return around + (torch.rand(*shape, generator=g) - 0.5)

    if op == "matmul":
        a, b = rand(layer["M"], layer["K"]), rand(layer["K"], layer["N"]) * 0.05
        return (lambda: torch.mm(a, b)), "torch.mm (OpenBLAS)"
    if op == "conv2d":
        x = rand(layer["n"], layer["cin"], layer["h"], layer["w"])
        w = rand(layer["cout"], layer["cin"], layer["k"], layer["k"]) * 0.05
        bias = rand(layer["cout"])
        s, p = layer["stride"], layer["pad"]
        return (lambda: F.conv2d(x, w, bias, stride=s, padding=p)), "F.conv2d NCHW (oneDNN)"
    if op == "groupnorm":
        x = rand(layer["n"], layer["c"], *layer["spatial"])
        gamma, beta = rand(layer["c"], around=1.0), rand(layer["c"])
        groups, eps, silu = layer["groups"], layer["eps"], layer["silu"]
        if silu:
            return (lambda: F.silu(F.group_norm(x, groups, gamma, beta, eps))), "F.group_norm + F.silu"
        return (lambda: F.group_norm(x, groups, gamma, beta, eps)), "F.group_norm"
    if op == "attention":
        bh = layer["b"] * layer["heads"]
        d = layer["d"]
        q, k, v = rand(bh, layer["nq"], d), rand(bh, layer["nk"], d), rand(bh, layer["nk"], d)
        scale = 1.0 / math.sqrt(d)

        def attn():
            # diffusers' AttnProcessor on torch 1.x (no scaled_dot_product_attention before torch 2.0)
            s = torch.baddbmm(torch.empty(bh, q.shape[1], k.shape[1]), q, k.transpose(1, 2), beta=0, alpha=scale)
            return torch.bmm(s.softmax(dim=-1), v)

        return attn, "baddbmm + softmax + bmm (diffusers AttnProcessor)"
    if op == "softmax":
        x = rand(layer["rows"], layer["cols"])
        return (lambda: torch.softmax(x, dim=-1)), "torch.softmax"
    if op == "layernorm":
        x = rand(layer["rows"], layer["c"])
        gamma, beta = rand(layer["c"], around=1.0), rand(layer["c"])
        return (lambda: F.layer_norm(x, (layer["c"],), gamma, beta, layer["eps"])), "F.layer_norm"
    raise NotImplementedError(f"unsupported layer op {op}")


class Peer:
    def __init__(self):
        self.run = None
        self.inner = 1

    def hello(self, _req):
        torch.set_num_threads(THREADS)
        import os

        blas = os.environ.get("OPENBLAS_CORETYPE", "auto")
        return {"name": "pytorch-cpu", "version": torch.__version__, "detail": f"{THREADS} threads, OPENBLAS_CORETYPE={blas}"}

    def setup(self, req):
        run, form = build(req["layer"])
        with torch.inference_mode():
            run()  # first call builds oneDNN primitives / allocates
            run()
            t0 = time.perf_counter()
            run()
            one = (time.perf_counter() - t0) * 1000
        self.run = run
        self.inner = max(1, min(50, math.ceil(req["targetMs"] / max(one, 0.05))))
        return {"inner": self.inner, "form": form}

    def sample(self, _req):
        with torch.inference_mode():
            t0 = time.perf_counter()
            for _ in range(self.inner):
                self.run()
            return {"ms": (time.perf_counter() - t0) * 1000 / self.inner}

    def teardown(self, _req):
        self.run = None
        return {}


def main():
    peer = Peer() if torch is not None else None
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        cmd = req["cmd"]
        try:
            if peer is None:
                out = {"ok": False, "error": f"PyTorch is not importable by {sys.executable}: {IMPORT_ERROR}"}
            elif cmd == "quit":
                out = {"ok": True}
            else:
                out = {"ok": True, **getattr(peer, cmd)(req)}
        except NotImplementedError as e:
            out = {"ok": False, "error": str(e), "unsupported": True}
        except Exception as e:  # noqa: BLE001 - reported to the bench, which prints it on the row
            out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
        if cmd == "quit":
            break


if __name__ == "__main__":
    main()
