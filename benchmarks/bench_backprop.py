"""Speed of the reference backprop against PyTorch (CPU), measured in the same run.

    .venv/bin/python benchmarks/bench_backprop.py [--backend cupy]

Prints, for each case, the median time of one forward+backward pass of ours and of PyTorch's
autograd on the same data, and the ratio ours / torch (lower is better; 1.0 = as fast).
"""
import argparse
import statistics
import time

import numpy as np

import backprop_ref as bp


def median_time(fn, repeats=30, sync=lambda: None):
    fn()  # warm up
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def mlp_case(xp, n, sizes, rng):
    weights = bp.init_mlp(sizes, rng, backend=xp.__name__)
    x = xp.asarray(rng.normal(size=(n, sizes[0])))
    y = xp.asarray(rng.integers(0, sizes[-1], size=n))
    acts = ["tanh"] * (len(sizes) - 2) + ["identity"]
    return (lambda: bp.mlp_loss(weights, x, y, acts)), (weights, x, y, acts)


def torch_mlp_case(torch, device, weights, x, y, acts):
    tw = [torch.tensor(bp.to_host(W), device=device, requires_grad=True) for W in weights]
    tx, ty = torch.tensor(bp.to_host(x), device=device), torch.tensor(bp.to_host(y), device=device)

    def step():
        a = tx
        for W, name in zip(tw, acts):
            a = a @ W[:-1] + W[-1]
            a = torch.tanh(a) if name == "tanh" else a
        torch.nn.functional.cross_entropy(a, ty).backward()

    return step


def rnn_case(xp, n, t, d, h, rng):
    params = bp.init_rnn(d, h, d, rng, backend=xp.__name__)
    x = xp.asarray(rng.normal(size=(n, t, d)))
    y = xp.asarray(rng.normal(size=(n, t, d)))
    return (lambda: bp.rnn_loss(params, x, y, loss="mse")), (params, x, y)


def torch_rnn_case(torch, device, params, x, y):
    Wx, Wh, Wy = (torch.tensor(bp.to_host(p), device=device, requires_grad=True) for p in params)
    tx, ty = torch.tensor(bp.to_host(x), device=device), torch.tensor(bp.to_host(y), device=device)

    def step():
        h = torch.zeros(tx.shape[0], Wh.shape[0], dtype=tx.dtype, device=device)
        loss = 0
        for s in range(tx.shape[1]):
            h = torch.tanh(tx[:, s] @ Wx[:-1] + Wx[-1] + h @ Wh)
            loss = loss + ((h @ Wy[:-1] + Wy[-1] - ty[:, s]) ** 2).sum()
        (loss / (2 * tx.shape[0])).backward()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        raise SystemExit("bench_backprop: PyTorch is not installed; its CPU build: "
                         "pip install torch --index-url https://download.pytorch.org/whl/cpu (for --backend cupy, its CUDA build)")

    xp = bp.get_backend(args.backend)
    device = "cuda" if args.backend == "cupy" else "cpu"
    sync = (lambda: xp.cuda.Device().synchronize()) if args.backend == "cupy" else (lambda: None)
    tsync = (lambda: torch.cuda.synchronize()) if device == "cuda" else (lambda: None)
    rng = np.random.default_rng(0)
    cases = [
        ("mlp 64x[64,128,128,10]", *mlp_case(xp, 64, [64, 128, 128, 10], rng), torch_mlp_case),
        ("mlp 1024x[784,256,256,10]", *mlp_case(xp, 1024, [784, 256, 256, 10], rng), torch_mlp_case),
        ("rnn N=32 T=50 D=8 H=64", *rnn_case(xp, 32, 50, 8, 64, rng), torch_rnn_case),
    ]
    print(f"backend {args.backend}, torch {torch.__version__} on {device}, float64, torch threads {torch.get_num_threads()}")
    print(f"{'case':28s} {'ours ms':>9s} {'torch ms':>9s} {'ours/torch':>10s}")
    for name, ours, args_, make_torch in cases:
        t_ours = median_time(ours, sync=sync)
        t_torch = median_time(make_torch(torch, device, *args_), sync=tsync)
        print(f"{name:28s} {t_ours * 1e3:9.3f} {t_torch * 1e3:9.3f} {t_ours / t_torch:10.2f}")


if __name__ == "__main__":
    main()
