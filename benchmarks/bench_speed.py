"""Speed of the reference backprop beside PyTorch, the gradient check, and what learners feel.

    .venv/bin/python benchmarks/bench_speed.py [--quick] [--out PATH] [--backend cupy] [--sections 1234]

Writes a Markdown report (default benchmarks/RESULTS.md) and prints it:

1. CPU training steps (forward + backward + SGD update through the public API: init_mlp / mlp_loss,
   init_rnn / rnn_loss, bp.SGD) against PyTorch eager (torch.nn.RNN for the RNNs), float32 and
   float64. Each case's timings are interleaved with torch's (ours, torch, ours, torch, ...) and the
   minimum of the repeats is kept. GFLOP/s counts the matmul FLOPs of a step only (see step_flops)
   and is given as a share of a square matmul of the same dtype through NumPy, timed in the same
   rounds as the case.
2. GPU (--backend cupy): the same cases plus a large MLP and a large RNN, CuPy against torch CUDA
   with TF32 off, synchronising after every step. Skipped, with one line, without CuPy or a GPU.
3. The gradient check (bp.check_gradients) of tanh MLPs of about 1e3, 1e5 and 1e6 parameters: seconds
   for the directional check (8 random directions per parameter array) and for full central
   differences (extrapolated from the time of a forward pass when it would take longer than
   FULL_LIMIT_S), and whether each planted bug is caught.
4. What learners feel: seconds per epoch of lesson 5's spiral trainer and of lesson 7's digits
   loop, and the seconds of each in-notebook check cell, with the notebooks' own solutions.

Ratios are ours / torch: below 1.0 is faster than torch. --sections picks sections (e.g. 2 on a GPU
machine, whose time is short). Not part of the test suite; benchmarks/README.md says more.
"""
import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import backprop_ref as bp

ROOT = Path(__file__).resolve().parents[1]
FULL_LIMIT_S = 30.0  # full central differences are run for real below this estimate, extrapolated above


# ---------------------------------------------------------------------------------------------
# Timing and tables.


def interleaved_min(fns, repeats, sync=lambda: None):
    """The minimum seconds of each of fns, timed in turns (one of each per round) after one warm-up."""
    for fn in fns:
        fn()
    sync()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            sync()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def machine_description(torch):
    """Lines describing the CPU, the thread counts and the versions of NumPy, its BLAS and torch."""
    model = platform.processor() or platform.machine()
    try:
        model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict form of the build configuration
        blas = "unknown"
    threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    try:
        from threadpoolctl import threadpool_info
        threads["BLAS threads"] = ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info())
    except ImportError:
        pass
    lines = [
        f"- CPU: {model}, {os.cpu_count()} logical cores visible",
        f"- Python {platform.python_version()}, NumPy {np.__version__} (BLAS: {blas})",
        f"- threads: {threads or 'library defaults'}",
    ]
    if torch is not None:
        lines.append(f"- PyTorch {torch.__version__}, {torch.get_num_threads()} intra-op threads")
    return lines


# ---------------------------------------------------------------------------------------------
# Training steps: ours and torch's, on the same data and weights.


@dataclass
class Case:
    name: str
    kind: str  # "mlp": sizes = [D, H1, ..., C]; "rnn": sizes = [T, D, H], K = D outputs
    n: int
    sizes: list


CPU_CASES = [
    Case("MLP 64 x [784, 128, 10]", "mlp", 64, [784, 128, 10]),
    Case("MLP 256 x [784, 512, 512, 10]", "mlp", 256, [784, 512, 512, 10]),
    Case("MLP 1024 x [1024, 2048, 2048, 10]", "mlp", 1024, [1024, 2048, 2048, 10]),
    Case("RNN T=50, N=32, D=64, H=128", "rnn", 32, [50, 64, 128]),
    Case("RNN T=50, N=128, D=256, H=512", "rnn", 128, [50, 256, 512]),
]
GPU_CASES = CPU_CASES + [
    Case("MLP 8192 x [4096] * 5 (four 4096 x 4096 layers)", "mlp", 8192, [4096] * 5),
    Case("RNN T=100, N=1024, D=512, H=1024", "rnn", 1024, [100, 512, 1024]),
]
LR = 1e-3


def step_flops(case):
    """Matmul FLOPs of one training step (bias rows, elementwise work and the loss not counted).

    A dense (N, D) @ (D, M) costs 2 N D M forward and twice that backward (dx and dW), except the
    first layer's dx, which neither library computes (the input needs no gradient). The RNN: the input
    projection (N T, D) @ (D, H), the recurrence T times (N, H) @ (H, H) and the readout (N T, H) @ (H, K).
    """
    if case.kind == "mlp":
        dense = [case.n * d * m for d, m in zip(case.sizes[:-1], case.sizes[1:])]
        return 6 * sum(dense) - 2 * dense[0]
    T, D, H = case.sizes
    rows = case.n * T
    return 4 * rows * D * H + 6 * rows * H * H + 6 * rows * H * D


def our_step(case, xp, dtype, rng):
    """(step, (weights, x, y) copied to the host, weights): one training step of the reference, in place."""
    if case.kind == "mlp":
        weights = bp.init_mlp(case.sizes, rng, backend=xp.__name__, dtype=dtype)
        x = xp.asarray(rng.normal(size=(case.n, case.sizes[0])), dtype=dtype)
        y = xp.asarray(rng.integers(0, case.sizes[-1], size=case.n))
        acts = ["tanh"] * (len(weights) - 1) + ["identity"]

        def loss_and_grads():
            return bp.mlp_loss(weights, x, y, acts)
    else:
        T, D, H = case.sizes
        weights = bp.init_rnn(D, H, D, rng, backend=xp.__name__, dtype=dtype)
        x = xp.asarray(rng.normal(size=(case.n, T, D)), dtype=dtype)
        y = xp.asarray(rng.normal(size=(case.n, T, D)), dtype=dtype)

        def loss_and_grads():
            return bp.rnn_loss(weights, x, y, loss="mse")

    host = [bp.to_host(W).copy() for W in weights], bp.to_host(x), bp.to_host(y)
    optimizer = bp.SGD(weights, LR)

    def step():
        _, grads = loss_and_grads()
        optimizer.step(grads)

    return step, host, weights


def torch_step(case, torch, device, host):
    """(step, in_our_layout): one training step of torch eager (nn modules, optim.SGD) on the same weights and
    data; in_our_layout() gives torch's parameters in our layout (bias as the last row; the RNN's own bias, bias_ih)."""
    weights, x, y = host
    tx, ty = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    dtype = tx.dtype
    if case.kind == "mlp":
        layers = []
        for W in weights:
            linear = torch.nn.Linear(W.shape[0] - 1, W.shape[1], dtype=dtype, device=device)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W[:-1].T.copy()))
                linear.bias.copy_(torch.from_numpy(W[-1]))
            layers += [linear, torch.nn.Tanh()]
        model = torch.nn.Sequential(*layers[:-1])
        linears = layers[::2]

        def in_our_layout():
            return [torch.cat([m.weight.T, m.bias[None]]).detach().cpu().numpy() for m in linears]

        def loss_fn():
            return torch.nn.functional.cross_entropy(model(tx), ty)
    else:
        Wx, Wh, Wy = weights
        rnn = torch.nn.RNN(Wx.shape[0] - 1, Wh.shape[0], nonlinearity="tanh", batch_first=True, dtype=dtype, device=device)
        readout = torch.nn.Linear(Wy.shape[0] - 1, Wy.shape[1], dtype=dtype, device=device)
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(torch.from_numpy(Wx[:-1].T.copy()))
            rnn.bias_ih_l0.copy_(torch.from_numpy(Wx[-1]))
            rnn.weight_hh_l0.copy_(torch.from_numpy(Wh.T.copy()))
            rnn.bias_hh_l0.zero_()
            readout.weight.copy_(torch.from_numpy(Wy[:-1].T.copy()))
            readout.bias.copy_(torch.from_numpy(Wy[-1]))
        model = torch.nn.ModuleList([rnn, readout])

        def in_our_layout():  # torch adds bias_hh to bias_ih; both get our bias's gradient (bias_hh starts at 0)
            Wx = torch.cat([rnn.weight_ih_l0.T, rnn.bias_ih_l0[None]])
            Wy = torch.cat([readout.weight.T, readout.bias[None]])
            return [W.detach().cpu().numpy() for W in (Wx, rnn.weight_hh_l0.T, Wy)]

        def loss_fn():  # rnn_loss's mse: half the squared error summed over steps and outputs, mean over N
            return ((readout(rnn(tx)[0]) - ty) ** 2).sum() / (2 * tx.shape[0])

    optimizer = torch.optim.SGD(model.parameters(), lr=LR)

    def step():
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()

    return step, in_our_layout


def square_matmul(xp, dtype, size):
    """(matmul, its FLOPs): a square size x size matmul through xp, the yardstick of the achieved shares."""
    rng = np.random.default_rng(0)
    a, b = (xp.asarray(rng.normal(size=(size, size)), dtype=dtype) for _ in range(2))
    out = xp.empty((size, size), dtype=dtype)
    return (lambda: xp.matmul(a, b, out=out)), 2 * size**3


def training_section(cases, xp, torch, device, repeats, yardstick_size, sync=lambda: None):
    """Markdown lines: one row per case and dtype, ours against torch, with GFLOP/s shares.

    The yardstick matmul is timed in the same rounds as each case's two steps, so a machine shared with
    other work slows all three alike and the shares stay comparable."""
    headers = ["case", "dtype", "ours ms", "torch ms", "ours / torch", "ours GFLOP/s", "torch GFLOP/s",
               f"matmul {yardstick_size}^2 GFLOP/s", "ours share", "torch share"]
    rows = []
    for dtype in (np.float32, np.float64):
        matmul, matmul_flops = square_matmul(xp, dtype, yardstick_size)
        for case in cases:
            ours, host, _ = our_step(case, xp, dtype, np.random.default_rng(0))
            theirs, _ = torch_step(case, torch, device, host)
            t_ours, t_torch, t_matmul = interleaved_min([ours, theirs, matmul], repeats, sync)
            flops, yardstick = step_flops(case), matmul_flops / t_matmul
            rows.append([case.name, np.dtype(dtype).name, f"{t_ours * 1e3:.2f}", f"{t_torch * 1e3:.2f}",
                         f"{t_ours / t_torch:.2f}", f"{flops / t_ours / 1e9:.1f}", f"{flops / t_torch / 1e9:.1f}",
                         f"{yardstick / 1e9:.1f}", f"{flops / t_ours / yardstick:.0%}", f"{flops / t_torch / yardstick:.0%}"])
    return markdown_table(headers, rows)


def gpu_section(cases, torch, repeats):
    """Section 2's lines: CuPy against torch CUDA (TF32 off), or one line saying why it is skipped."""
    if not bp.cupy_available():
        return ["Skipped: CuPy is not installed or sees no GPU."]
    if torch is None or not torch.cuda.is_available():
        return ["Skipped: this PyTorch has no CUDA device."]
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cupy = bp.get_backend("cupy")

    def sync():
        cupy.cuda.Device().synchronize()
        torch.cuda.synchronize()

    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    name = name.decode() if isinstance(name, bytes) else name
    lines = [f"GPU: {name}, CuPy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, "
             f"cuDNN {torch.backends.cudnn.version()} (torch), TF32 off", ""]
    return lines + training_section(cases, cupy, torch, "cuda", repeats, 8192, sync)


# ---------------------------------------------------------------------------------------------
# The gradient check: speed, and planted bugs caught.

GRADCHECK_SIZES = [[16, 32, 10], [256, 256, 128, 10], [784, 1024, 128, 10]]  # ~1e3, 1e5, 1e6 parameters
GRADCHECK_BATCH = 32


def planted_bugs(grads):
    """{description: a copy of grads with that one mistake}, the mistakes learners make."""
    def changed(l, change):
        wrong = [g.copy() for g in grads]
        change(wrong[l])
        return wrong

    def transpose_block(g):
        k = min(8, g.shape[0] - 1, g.shape[1])
        g[:k, :k] = g[:k, :k].T.copy()

    def one_entry_off(g):
        i = np.unravel_index(int(np.argmax(np.abs(g[:-1]))), g[:-1].shape)
        g[i] *= 2.0

    def scale(g):
        g *= 1.01

    def no_bias(g):
        g[-1] = 0.0

    return {
        "layer 1's dW scaled by 1.01": changed(1, scale),
        "an 8 x 8 block of layer 0's dW transposed": changed(0, transpose_block),
        "the last layer's bias row missing (zero)": changed(len(grads) - 1, no_bias),
        "layer 0's largest entry doubled": changed(0, one_entry_off),
    }


def gradcheck_section(sizes_list, full_limit_s, repeats):
    """Markdown lines: seconds of the directional and the full check, and the planted bugs caught."""
    headers = ["network", "parameters", "directional s (k=8)", "full central differences s", "correct passes", "bugs caught"]
    rows, bug_lines = [], []
    for sizes in sizes_list:
        rng = np.random.default_rng(0)
        weights = bp.init_mlp(sizes, rng)
        x = rng.normal(size=(GRADCHECK_BATCH, sizes[0]))
        y = rng.integers(0, sizes[-1], size=GRADCHECK_BATCH)
        acts = ["tanh"] * (len(weights) - 1) + ["identity"]
        _, grads = bp.mlp_loss(weights, x, y, acts)
        grads = [bp.to_host(g) for g in grads]
        params = {f"W{l}": W for l, W in enumerate(weights)}

        def loss():
            return bp.softmax_cross_entropy(bp.mlp_forward(x, weights, acts)[0], y)[0]

        def check(candidate, directions=8):
            named = {f"W{l}": g for l, g in enumerate(candidate)}
            return bp.check_gradients(loss, params, named, directions=directions, rng=1)

        (t_directional,) = interleaved_min([lambda: check(grads)], repeats)
        n_params = sum(W.size for W in weights)
        (t_forward,) = interleaved_min([loss], repeats)
        estimate = 2 * n_params * t_forward
        if estimate <= full_limit_s:
            t0 = time.perf_counter()
            full_passed = check(grads, directions=None).passed
            full = f"{time.perf_counter() - t0:.2f}" + ("" if full_passed else " (failed!)")
        else:
            full = f"~{estimate:.0f} (extrapolated: 2 x {n_params} forward passes of {t_forward * 1e3:.2f} ms)"
        caught = {what: not check(wrong).passed for what, wrong in planted_bugs(grads).items()}
        rows.append([str(sizes), n_params, f"{t_directional:.3f}", full, "yes" if check(grads).passed else "NO",
                     f"{sum(caught.values())}/{len(caught)}"])
        bug_lines += [f"- {sizes}: {what}: {'caught' if hit else 'MISSED'}" for what, hit in caught.items()]
    return markdown_table(headers, rows) + ["", f"tanh MLPs, batch {GRADCHECK_BATCH}, float64; planted bugs:"] + bug_lines


# ---------------------------------------------------------------------------------------------
# What learners feel: the lessons' trainers and check cells, with the notebooks' solutions.


def notebook_solution(notebook, name):
    """The function ``name`` as the instructor's notebook defines it (its solution cell, executed)."""
    cells = json.loads((ROOT / "solutions" / notebook).read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if c["cell_type"] == "code" and f"def {name}(" in "".join(c["source"]))
    namespace = {"np": np, "bp": bp}
    exec(source, namespace)
    return namespace[name]


def learners_section(repeats, spiral_epochs=50, digit_epochs=1):
    from backprop_ref.grading import check
    from backprop_ref.widgets import ocr, static_backprop

    mlp_backward = notebook_solution("05_static_backprop/static_backprop.ipynb", "mlp_backward")
    classifier_grads = notebook_solution("07_ocr/ocr.ipynb", "classifier_grads")
    x_train, _, y_train, _ = ocr.digits_split()

    def spiral(backward):
        run = static_backprop.SpiralTraining(backward)  # one run, trained on chunk after chunk, as play does
        return lambda: run.train(spiral_epochs)

    def digits(grads):
        return lambda: ocr.train_classifier(grads, x_train, y_train, epochs=digit_epochs)

    rows = []
    for what, fn, per in [
        ("lesson 5 spiral trainer, reference backward", spiral(static_backprop.reference_mlp_backward), spiral_epochs),
        ("lesson 5 spiral trainer, notebook's mlp_backward", spiral(mlp_backward), spiral_epochs),
        ("lesson 7 digits (batch 32), reference", digits(ocr.reference_classifier_grads), digit_epochs),
        ("lesson 7 digits (batch 32), notebook's classifier_grads", digits(classifier_grads), digit_epochs),
    ]:
        (t,) = interleaved_min([fn], repeats)
        rows.append([what, "s per epoch", f"{t / per:.4f}"])
    for exercise, fn, part in [("mlp_backward", mlp_backward, "dx"), ("mlp_backward", mlp_backward, "grads"),
                               ("classifier_grads", classifier_grads, "dW_out"), ("classifier_grads", classifier_grads, "dW_hidden")]:
        result = check(exercise, fn, part=part, raises=False)
        (t,) = interleaved_min([lambda: check(exercise, fn, part=part, raises=False)], max(1, repeats // 3))
        rows.append([f'check("{exercise}", ..., part="{part}")' + ("" if result.passed else " FAILED"), "s per cell", f"{t:.3f}"])
    return markdown_table(["what", "unit", "seconds"], rows)


# ---------------------------------------------------------------------------------------------


def report(sections, cpu_cases, gpu_cases, gradcheck_sizes, repeats, full_limit_s, backend, torch):
    """The report's Markdown, yielded one part at a time (the header, then each section named in ``sections``)."""
    command = " ".join([".venv/bin/python", "benchmarks/bench_speed.py", *sys.argv[1:]])
    yield ["# Benchmarks", "", f"`{command}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
           f"minimum of {repeats} interleaved repeats.", "", *machine_description(torch)]
    if "1" in sections:
        lines = ["## 1. CPU training steps against PyTorch eager", "",
                 "forward + backward + SGD update; ratio ours / torch (below 1 is faster); GFLOP/s counts the step's "
                 "matmul FLOPs (6 N D M per dense layer, 4 N D M for the first); share: of a NumPy square matmul "
                 "of the same dtype timed in the same rounds as the case (torch's share against the same yardstick). RNN readout K = D, loss: "
                 "rnn_loss's mse.", ""]
        if torch is None:
            yield lines + ["Skipped: PyTorch is not installed (pip install torch --index-url https://download.pytorch.org/whl/cpu)."]
        else:
            yield lines + training_section(cpu_cases, np, torch, "cpu", repeats, 2048)
    if "2" in sections:
        lines = ["## 2. GPU: CuPy against PyTorch CUDA", ""]
        if backend != "cupy":
            yield lines + ["Skipped: run with --backend cupy on a machine with CuPy and a GPU."]
        else:
            yield lines + gpu_section(gpu_cases, torch, repeats)
    if "3" in sections:
        yield ["## 3. Gradient check (bp.check_gradients)", ""] + gradcheck_section(gradcheck_sizes, full_limit_s, max(1, repeats // 3))
    if "4" in sections:
        yield ["## 4. What learners feel", ""] + learners_section(max(1, repeats // 3))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 15, full differences only under 2 s: a smoke test")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"), help="where to write the Markdown report")
    parser.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="cupy adds section 2 (GPU)")
    parser.add_argument("--sections", default="1234", help="which sections to run, e.g. 2 for the GPU alone (default 1234)")
    args = parser.parse_args()
    if not args.sections or set(args.sections) - set("1234"):
        parser.error(f"--sections takes digits 1 to 4 (e.g. 13 for the CPU steps and the gradient check), got {args.sections!r}")
    try:
        import torch
    except ImportError:
        torch = None
    repeats, full_limit_s = (3, 2.0) if args.quick else (15, FULL_LIMIT_S)
    parts = []
    for part in report(args.sections, CPU_CASES, GPU_CASES, GRADCHECK_SIZES, repeats, full_limit_s, args.backend, torch):
        print("\n".join(part) + "\n", flush=True)  # each section as soon as it is measured
        parts.append("\n".join(part))
    Path(args.out).write_text("\n\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
