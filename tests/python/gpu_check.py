"""Checks the lowmem CUDA kernels and times them, for scripts/gpu-check (run on a GPU machine).

Correctness: every op on the device against the same op on the CPU (lowmem's CPU kernels, themselves tested
against ATen and float64 references) and against PyTorch's own functions: forward, the packed codes (must be
identical), backward. Speed: forward+backward of each op against PyTorch's (gelu, silu, layer_norm, the RMSNorm
chain) at transformer shapes, and effective bandwidth against a device copy of the same bytes, all in one run.
Usage: gpu_check.py LIBLOWMEM_OPS.so [--device cuda] [--out results.md] [--quick]"""
import argparse
import math
import sys

import torch
import torch.nn.functional as F


def rms_chain(x):
    h = x.float()
    return (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6)).to(x.dtype)


def ops_table(ops):
    return {
        "gelu": (lambda x: ops.regelu2(x), F.gelu, False),
        "silu": (lambda x: ops.resilu2(x), F.silu, False),
        "layer_norm": (lambda x: ops.ms_layer_norm(x, [x.shape[-1]], 1e-5),
                       lambda x: F.layer_norm(x, [x.shape[-1]], eps=1e-5), True),
        "rms_norm": (lambda x: ops.ms_rms_norm(x, [x.shape[-1]], 1e-6), rms_chain, True),
    }


TOL = {torch.float32: (1e-5, 1e-5), torch.float16: (2e-3, 2e-3), torch.bfloat16: (1.6e-2, 1.6e-2)}


def check(ops, device, failures):
    torch.manual_seed(0)
    for name, (ours, ref, norm) in ops_table(ops).items():
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            for shape in ((3, 5, 17), (2, 197, 768), (1, 1, 4099)):
                x_cpu = (torch.randn(shape) * 3).to(dtype)
                g_cpu = torch.randn(shape).to(dtype)
                x = x_cpu.to(device).detach().clone().requires_grad_()
                y = ours(x)
                y.backward(g_cpu.to(device))
                rtol, atol = TOL[dtype]
                label = f"{name} {dtype} {tuple(shape)}"
                try:
                    # Against PyTorch on the device: the function itself.
                    torch.testing.assert_close(y.float(), ref(x.detach().float()), rtol=rtol, atol=atol)
                    if dtype != torch.float16:  # Debian's CPU LibTorch lacks some fp16 CPU kernels
                        xc = x_cpu.detach().clone().requires_grad_()
                        yc = ours(xc)
                        yc.backward(g_cpu)
                        torch.testing.assert_close(y.cpu().float(), yc.float(), rtol=rtol, atol=atol)
                        torch.testing.assert_close(x.grad.cpu().float(), xc.grad.float(), rtol=rtol * 10, atol=atol * 10)
                    if not norm:
                        fn = name
                        _, packed = ops.activation_forward(x.detach(), fn, 2, True)
                        _, packed_cpu = ops.activation_forward(x_cpu, fn, 2, True)
                        if not torch.equal(packed.cpu(), packed_cpu):
                            raise AssertionError("packed codes differ between device and CPU")
                    print(f"ok    {label}")
                except AssertionError as e:
                    failures.append(f"{label}: {str(e).splitlines()[0]}")
                    print(f"FAIL  {label}: {e}")


def attention_chain(q, k, v, mask, causal):
    """The unfused chain in float32 on the same device: the reference lowmem::attention must match."""
    s = (q.float() @ k.float().transpose(-2, -1)) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s + mask
    if causal:
        s = s.masked_fill(torch.ones(s.shape[-2:], dtype=torch.bool, device=s.device).triu(1), float("-inf"))
    return torch.softmax(s, -1) @ v.float()


def check_attention(ops, device, failures):
    """lowmem::attention on the device with heads as models make them ([B, S, H, D] seen transposed, the output
    merged back), against the float32 chain on the device and the op on the CPU: outputs and the three input
    gradients; additive padding masks and causal rows."""
    torch.manual_seed(1)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for b, h, s, d, causal, masked in ((2, 3, 37, 16, False, True), (1, 4, 129, 64, True, False),
                                           (2, 12, 197, 64, False, False)):
            label = f"attention {dtype} {(b, h, s, d)}{' causal' if causal else ''}{' masked' if masked else ''}"
            leaves_cpu = [torch.randn(b, s, h, d).to(dtype) for _ in range(3)]
            mask_cpu = torch.where(torch.rand(b, 1, 1, s) < 0.2, -1e4, 0.0) if masked else None
            g_cpu = torch.randn(b, s, h * d).to(dtype)

            def run(leaves, mask, g, ours):
                x = [t.detach().clone().requires_grad_() for t in leaves]
                heads = [t.transpose(1, 2) for t in x]
                o = ops.attention(*heads, mask, None, causal) if ours else attention_chain(*heads, mask, causal)
                merged = o.transpose(1, 2).reshape(b, s, h * d)
                merged.backward(g.to(merged.dtype))
                return [merged.detach().float()] + [t.grad.float() for t in x]

            rtol, atol = TOL[dtype]
            try:
                on = lambda t: None if t is None else t.to(device)
                got = run([on(t) for t in leaves_cpu], on(mask_cpu), on(g_cpu), True)
                want = run([on(t) for t in leaves_cpu], on(mask_cpu), on(g_cpu), False)
                for name, a, e in zip(("out", "dq", "dk", "dv"), got, want):
                    torch.testing.assert_close(a, e, rtol=rtol * 10, atol=atol * 10, msg=lambda m: f"{name}: {m}")
                if dtype != torch.float16:  # Debian's CPU LibTorch lacks some fp16 CPU kernels
                    cpu = run(leaves_cpu, mask_cpu, g_cpu, True)
                    for name, a, e in zip(("out", "dq", "dk", "dv"), got, cpu):
                        torch.testing.assert_close(a.cpu(), e, rtol=rtol * 10, atol=atol * 10,
                                                   msg=lambda m: f"{name} vs CPU: {m}")
                print(f"ok    {label}")
            except AssertionError as e:
                failures.append(f"{label}: {str(e).splitlines()[0]}")
                print(f"FAIL  {label}: {e}")


def timed(fn, device, iters):
    if device == "cuda":
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / iters
    import time
    fn()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) * 1e3 / iters


def bench(ops, device, quick):
    # ViT-B/16 at the paper's batch 64 (MLP hidden, residual stream) and a LLaMA-7B layer at 4 x 512 tokens:
    # large enough that launch and autograd overhead (about 0.1 ms a step) stop dominating.
    shapes = {False: [(64, 197, 3072), (4, 512, 11008)], True: [(64, 197, 768), (4, 512, 4096)]}
    if quick:
        shapes = {False: [(2, 197, 768)], True: [(2, 197, 768)]}
    rows = []
    for name, (ours, ref, norm) in ops_table(ops).items():
        for shape in shapes[norm]:
            for dtype in (torch.float32, torch.bfloat16):
                x = torch.randn(shape, device=device).to(dtype)
                g = torch.randn(shape, device=device).to(dtype)
                n = x.numel()
                e = x.element_size()
                traffic = 5 * n * e + 8 * (n // shape[-1]) if norm else 4 * n * e + 2 * ((n + 3) // 4)

                def step(f):
                    xi = x.detach().requires_grad_()
                    f(xi).backward(g)

                iters = 5 if quick else 50
                t_ref = timed(lambda: step(ref), device, iters)
                t_ours = timed(lambda: step(ours), device, iters)
                src = torch.empty(traffic // 2, dtype=torch.uint8, device=device)
                dst = torch.empty_like(src)
                t_copy = timed(lambda: dst.copy_(src), device, iters)
                rows.append((name, "x".join(map(str, shape)), str(dtype).replace("torch.", ""), t_ref, t_ours,
                             traffic / t_ours / 1e6, traffic / t_copy / 1e6))
    return rows


def attention_bench(ops, device, quick):
    """Forward+backward of one attention call, heads as models make them, three ways in the same run: the unfused
    chain a model writes (in its own dtype), lowmem::attention, and PyTorch's scaled_dot_product_attention (its
    dispatcher picks the backend), with the bytes each keeps from forward to backward (allocated after forward
    minus before, the output included; CUDA only). Decides issue 16's question of targeting SDPA on LibTorch 2.x."""
    shapes = [(64, 12, 197, 64, False), (8, 12, 512, 64, True), (2, 12, 2048, 64, True)]
    if quick:
        shapes = [(2, 2, 37, 16, False)]
    rows = []
    for b, h, s, d, causal in shapes:
        future = torch.ones(s, s, dtype=torch.bool, device=device).triu(1)
        for dtype in (torch.float32, torch.bfloat16):
            leaves = [torch.randn(b, s, h, d, device=device).to(dtype) for _ in range(3)]
            g = torch.randn(b, h, s, d, device=device).to(dtype)

            def chain(q, k, v):
                a = (q @ k.transpose(-2, -1)) / math.sqrt(d)
                if causal:
                    a = a.masked_fill(future, float("-inf"))
                return torch.softmax(a, -1) @ v

            impls = {"chain": chain, "lowmem": lambda q, k, v: ops.attention(q, k, v, None, None, causal)}
            if hasattr(F, "scaled_dot_product_attention"):  # PyTorch 2.0 and later
                impls["sdpa"] = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            times, kept = {}, {}
            for name, f in impls.items():
                def step():
                    x = [t.detach().requires_grad_() for t in leaves]
                    f(*[t.transpose(1, 2) for t in x]).backward(g)

                times[name] = timed(step, device, 3 if quick else 10)
                if device == "cuda":
                    x = [t.detach().requires_grad_() for t in leaves]
                    torch.cuda.synchronize()
                    before = torch.cuda.memory_allocated()
                    o = f(*[t.transpose(1, 2) for t in x])
                    torch.cuda.synchronize()
                    kept[name] = (torch.cuda.memory_allocated() - before) / 2**20
                    del o, x
            rows.append((f"{b}x{h}x{s}x{d}{' causal' if causal else ''}", str(dtype).replace("torch.", ""), times,
                         kept))
    return rows


def attention_lines(rows):
    lines = ["", "attention forward+backward per step (ms) and bytes kept for backward (MiB, output included)", "",
             "| attention | shape | dtype | chain ms | lowmem ms | sdpa ms | chain MiB | lowmem MiB | sdpa MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for shape, dtype, t, kept in rows:
        ms = [f"{t[n]:.3f}" if n in t else "-" for n in ("chain", "lowmem", "sdpa")]
        mib = [f"{kept[n]:.1f}" if n in kept else "-" for n in ("chain", "lowmem", "sdpa")]
        lines.append(f"| attention | {shape} | {dtype} | " + " | ".join(ms + mib) + " |")
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("library")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.ops.load_library(args.library)
    ops = torch.ops.lowmem
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device", file=sys.stderr)
        return 2
    failures = []
    check(ops, args.device, failures)
    check_attention(ops, args.device, failures)
    rows = bench(ops, args.device, args.quick)
    attention_rows = attention_bench(ops, args.device, args.quick)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    lines = [f"lowmem kernels on {device_name}, torch {torch.__version__}: forward+backward per step",
             "", "| op | shape | dtype | PyTorch ms | lowmem ms | ratio | lowmem GB/s | copy GB/s |",
             "|---|---|---|---|---|---|---|---|"]
    for op, shape, dtype, t_ref, t_ours, bw, bw_copy in rows:
        lines.append(f"| {op} | {shape} | {dtype} | {t_ref:.3f} | {t_ours:.3f} | {t_ours / t_ref:.2f} | {bw:.0f} | "
                     f"{bw_copy:.0f} |")
    lines.extend(attention_lines(attention_rows))
    lines.append("")
    lines.append(f"correctness: {'all checks passed' if not failures else str(len(failures)) + ' FAILED'}")
    lines.extend(f"- {f}" for f in failures)
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
