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
    if op == "resnet":
        block = ResnetBlock2D(layer["c"], layer["temb"]).eval()
        x = rand(layer["n"], layer["c"], layer["h"], layer["w"])
        temb = rand(layer["n"], layer["temb"])
        return (lambda: block(x, temb)), "ResnetBlock2D as in diffusers (nn.GroupNorm, nn.Conv2d NCHW)"
    if op == "transformer2d":
        block = Transformer2D(layer["c"], layer["heads"], layer["ctxDim"]).eval()
        x = rand(layer["n"], layer["c"], layer["h"], layer["w"])
        ctx = rand(layer["n"], layer["ctxLen"], layer["ctxDim"])
        return (lambda: block(x, ctx)), "Transformer2DModel as in diffusers 1x1-conv SD1 (torch 1.x attention)"
    raise NotImplementedError(f"unsupported layer op {op}")


def attention(q, k, v, heads):
    """diffusers' AttnProcessor on torch 1.x: heads folded into the batch, baddbmm + softmax + bmm."""
    b, n, c = q.shape
    d = c // heads

    def split(t):
        return t.reshape(b, t.shape[1], heads, d).permute(0, 2, 1, 3).reshape(b * heads, t.shape[1], d)

    q, k, v = split(q), split(k), split(v)
    s = torch.baddbmm(torch.empty(q.shape[0], q.shape[1], k.shape[1]), q, k.transpose(1, 2), beta=0, alpha=d**-0.5)
    o = torch.bmm(s.softmax(dim=-1), v)
    return o.reshape(b, heads, n, d).permute(0, 2, 1, 3).reshape(b, n, c)


if torch is not None:

    class ResnetBlock2D(torch.nn.Module):
        def __init__(self, c, temb):
            super().__init__()
            self.norm1 = torch.nn.GroupNorm(32, c, eps=1e-5)
            self.conv1 = torch.nn.Conv2d(c, c, 3, padding=1)
            self.time_emb_proj = torch.nn.Linear(temb, c)
            self.norm2 = torch.nn.GroupNorm(32, c, eps=1e-5)
            self.conv2 = torch.nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x, temb):
            h = self.conv1(F.silu(self.norm1(x)))
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
            h = self.conv2(F.silu(self.norm2(h)))
            return x + h

    class Attention(torch.nn.Module):
        def __init__(self, c, heads, ctx_dim):
            super().__init__()
            self.heads = heads
            self.to_q = torch.nn.Linear(c, c, bias=False)
            self.to_k = torch.nn.Linear(ctx_dim, c, bias=False)
            self.to_v = torch.nn.Linear(ctx_dim, c, bias=False)
            self.to_out = torch.nn.Linear(c, c)

        def forward(self, x, ctx):
            return self.to_out(attention(self.to_q(x), self.to_k(ctx), self.to_v(ctx), self.heads))

    class Transformer2D(torch.nn.Module):
        def __init__(self, c, heads, ctx_dim):
            super().__init__()
            self.norm = torch.nn.GroupNorm(32, c, eps=1e-6)
            self.proj_in = torch.nn.Conv2d(c, c, 1)
            self.norm1, self.norm2, self.norm3 = (torch.nn.LayerNorm(c) for _ in range(3))
            self.attn1 = Attention(c, heads, c)
            self.attn2 = Attention(c, heads, ctx_dim)
            self.ff_proj = torch.nn.Linear(c, 8 * c)
            self.ff_out = torch.nn.Linear(4 * c, c)
            self.proj_out = torch.nn.Conv2d(c, c, 1)

        def forward(self, x, ctx):
            b, c, hh, ww = x.shape
            h = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, hh * ww, c)
            n1 = self.norm1(h)
            h = self.attn1(n1, n1) + h
            h = self.attn2(self.norm2(h), ctx) + h
            a, gate = self.ff_proj(self.norm3(h)).chunk(2, dim=-1)
            h = self.ff_out(a * F.gelu(gate)) + h
            return self.proj_out(h.reshape(b, hh, ww, c).permute(0, 3, 1, 2)) + x


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
