"""benchmarks/bench_speed.py: its tables are built, and its torch step takes the same step as ours (tiny cases; no time is asserted)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

spec = importlib.util.spec_from_file_location("bench_speed", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_speed.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

TINY = [bench.Case("MLP 8 x [6, 5, 3]", "mlp", 8, [6, 5, 3]), bench.Case("RNN T=3, N=4, D=5, H=6", "rnn", 4, [3, 5, 6])]


def test_training_table_has_a_row_per_case_and_dtype():
    torch = pytest.importorskip("torch")
    lines = bench.training_section(TINY, np, torch, "cpu", repeats=1, yardstick_size=32)
    for case in TINY:
        assert sum(line.startswith(f"| {case.name} |") for line in lines) == 2  # float32 and float64


@pytest.mark.parametrize("case", TINY, ids=lambda c: c.kind)
def test_ours_and_torch_take_the_same_step(case):
    """Both start from the same weights and data, so after one SGD step (float64) the weights agree
    (one step only: torch's RNN has a second bias, which doubles the step of the sum from the second on)."""
    torch = pytest.importorskip("torch")
    ours, host, weights = bench.our_step(case, np, np.float64, np.random.default_rng(0))
    theirs, their_weights = bench.torch_step(case, torch, "cpu", host)
    ours()
    theirs()
    for W, T, before in zip(weights, their_weights(), host[0]):
        assert not np.allclose(W, before, rtol=0, atol=1e-9)  # the step moved every weight matrix
        np.testing.assert_allclose(W, T, rtol=1e-10, atol=1e-12)


def test_step_flops_counts_the_matmuls():
    mlp = bench.Case("", "mlp", 2, [3, 4, 5])
    assert bench.step_flops(mlp) == 6 * (2 * 3 * 4 + 2 * 4 * 5) - 2 * 2 * 3 * 4
    rnn = bench.Case("", "rnn", 2, [3, 4, 5])  # N T = 6 rows, D = K = 4, H = 5
    assert bench.step_flops(rnn) == 4 * 6 * 4 * 5 + 6 * 6 * 5 * 5 + 6 * 6 * 5 * 4


def test_gradcheck_table_catches_every_planted_bug():
    lines = bench.gradcheck_section([[4, 5, 3]], full_limit_s=10.0, repeats=1)
    assert any(line.startswith("| [4, 5, 3] | 43 |") and line.endswith("| yes | 4/4 |") for line in lines)
    assert not any("MISSED" in line for line in lines)
