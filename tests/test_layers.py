"""The dense layer and the bias-as-weight convention."""
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop_ref._checks import ShapeError
from backprop_ref.backend import to_host
from backprop_ref.bias import affine, bias_part, join_bias, weights_part, with_ones
from backprop_ref.layers import dense_backward, dense_forward
from oracle import assert_matches_finite_differences, assert_matches_torch, import_torch

sizes = st.integers(1, 6)
seeds = st.integers(0, 2**32 - 1)


def dense_problem(xp, seed, n, d, m):
    rng = np.random.default_rng(seed)
    return (xp.asarray(rng.normal(size=s)) for s in [(n, d), (d + 1, m), (n, m)])


@given(seed=seeds, n=sizes, d=sizes, m=sizes)
def test_dense_backward_matches_finite_differences(xp, seed, n, d, m):
    x, W, dout = dense_problem(xp, seed, n, d, m)
    dx, dW = dense_backward(dout, dense_forward(x, W)[1])
    assert_matches_finite_differences(lambda: dense_forward(x, W)[0], {"x": x, "W": W}, {"x": dx, "W": dW}, dout=dout)


@given(seed=seeds, n=sizes, d=sizes, m=sizes)
def test_dense_backward_matches_torch_with_a_separate_bias(xp, seed, n, d, m):
    """PyTorch's linear layer keeps the bias apart; ours is the last row of W. Both must agree."""
    torch = import_torch()
    x, W, dout = dense_problem(xp, seed, n, d, m)
    dx, dW = dense_backward(dout, dense_forward(x, W)[1])
    separate = {"x": x, "weight": weights_part(W), "bias": bias_part(W)}
    ours = {"x": dx, "weight": weights_part(dW), "bias": bias_part(dW)}
    assert_matches_torch(lambda x, weight, bias: torch.nn.functional.linear(x, weight.T, bias), separate, ours, dout=dout)


@given(seed=seeds, n=sizes, d=sizes, m=sizes)
def test_bias_as_weight_equals_a_separate_bias(xp, seed, n, d, m):
    """[x, 1] @ W == x @ W_x + b, forward and backward: the constant-1 unit's weights are the bias."""
    x, W, dout = dense_problem(xp, seed, n, d, m)
    W_x, b = weights_part(W), bias_part(W)
    assert tuple(W_x.shape) == (d, m) and tuple(b.shape) == (m,)
    np.testing.assert_allclose(to_host(with_ones(x) @ W), to_host(x @ W_x + b), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_host(affine(x, W)), to_host(x @ W_x + b), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(to_host(join_bias(W_x, b)), to_host(W))
    # separate-bias backward, written out: dW_x = x.T @ dout, db = sum over the batch of dout
    _, dW = dense_backward(dout, dense_forward(x, W)[1])
    np.testing.assert_allclose(to_host(weights_part(dW)), to_host(x.T @ dout), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_host(bias_part(dW)), to_host(dout.sum(axis=0)), rtol=1e-12, atol=1e-12)


def test_with_ones_appends_a_constant_one_column():
    x = np.array([[2.0, 3.0], [4.0, 5.0]])
    np.testing.assert_array_equal(with_ones(x), [[2.0, 3.0, 1.0], [4.0, 5.0, 1.0]])


def test_fast_path_does_not_copy_the_input():
    """affine() must not build [x, 1]: its peak allocation is the output, not another x."""
    x, W = np.ones((4000, 250)), np.ones((251, 4))  # x is 8 MB, the output 128 kB
    tracemalloc.start()
    affine(x, W)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < x.nbytes / 10, f"affine allocated {peak} bytes for an input of {x.nbytes} bytes"


def test_float32_stays_float32():
    x, W = np.ones((3, 2), np.float32), np.ones((3, 4), np.float32)
    out, cache = dense_forward(x, W)
    dx, dW = dense_backward(np.ones((3, 4), np.float32), cache)
    assert out.dtype == dx.dtype == dW.dtype == np.float32


def test_shape_errors_say_what_was_expected():
    x = np.ones((5, 3))
    with pytest.raises(ShapeError, match=r"dense_forward: x has shape \(5, 3\) \(D = 3\), so W must have shape \(D \+ 1, M\) = \(4, M\) .* got W of shape \(3, 2\)"):
        dense_forward(x, np.ones((3, 2)))
    with pytest.raises(ShapeError, match=r"dense_forward: x must have 2 dimensions \(N, D\), got shape \(3,\)"):
        dense_forward(np.ones(3), np.ones((4, 2)))
    _, cache = dense_forward(x, np.ones((4, 2)))
    with pytest.raises(ShapeError, match=r"dense_backward: dout must have shape \(N, M\) = \(5, 2\), got \(2, 5\)"):
        dense_backward(np.ones((2, 5)), cache)
    with pytest.raises(TypeError, match=r"dense_forward: x must be a floating-point array .* got dtype int64"):
        dense_forward(np.ones((5, 3), dtype=np.int64), np.ones((4, 2)))
