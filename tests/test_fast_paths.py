"""The MLP training step's speed tricks give the plain formulas' numbers, keep float32, and leave inputs alone.

Each fast path (in-place bias add, dW written into its buffer, in-place tanh backward and softmax
cross-entropy, mlp_loss skipping dL/dx, SGD subtracting in place from a kept buffer) is compared with
the textbook expression it replaces, in float64, at rtol 1e-12 (most are bitwise equal).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backprop_ref as bp
from backprop_ref.backend import to_host
from backprop_ref.activations import tanh_backward
from backprop_ref.bias import affine, affine_backward, affine_weight_grad, with_ones
from backprop_ref.losses import softmax_cross_entropy
from backprop_ref.mlp import mlp_backward, mlp_forward, mlp_loss
from backprop_ref.optim import SGD, sgd_step

sizes = st.integers(1, 7)
seeds = st.integers(0, 2**32 - 1)
TIGHT = dict(rtol=1e-12, atol=1e-14)


def normal(xp, rng, *shape, dtype=np.float64):
    return xp.asarray(rng.normal(size=shape).astype(dtype))


def close(a, b):
    np.testing.assert_allclose(to_host(a), to_host(b), **TIGHT)


@given(seed=seeds, n=sizes, d=sizes, m=sizes)
def test_affine_and_its_backward_equal_the_ones_column_formulas(xp, seed, n, d, m):
    rng = np.random.default_rng(seed)
    x, W, dout = normal(xp, rng, n, d), normal(xp, rng, d + 1, m), normal(xp, rng, n, m)
    close(affine(x, W), with_ones(x) @ W)
    dx, dW = affine_backward(dout, x, W)
    close(dx, dout @ W.T[:, :-1])
    close(dW, with_ones(x).T @ dout)
    close(affine_weight_grad(dout, x, W), dW)


def test_affine_backward_writes_into_strided_inputs_correctly(xp, rng):
    """x a column slice of a (N, T, D) array, as backprop through time passes it."""
    seq, W, dout = normal(xp, rng, 5, 4, 3), normal(xp, rng, 4, 6), normal(xp, rng, 5, 6)
    x = seq[:, 2]
    close(affine_weight_grad(dout, x, W), with_ones(xp.ascontiguousarray(x)).T @ dout)


@given(seed=seeds, n=sizes, m=sizes)
def test_tanh_backward_equals_the_plain_formula_bitwise(xp, seed, n, m):
    rng = np.random.default_rng(seed)
    a, da = xp.tanh(normal(xp, rng, n, m)), normal(xp, rng, n, m)
    a_before, da_before = a.copy(), da.copy()
    dz = tanh_backward(da, a)
    assert bool((dz == da * (1.0 - a * a)).all())
    assert bool((a == a_before).all()) and bool((da == da_before).all())


def test_tanh_backward_keeps_dtypes_and_scalars(xp, rng):
    a32, da32 = xp.tanh(normal(xp, rng, 3, 4, dtype=np.float32)), normal(xp, rng, 3, 4, dtype=np.float32)
    assert tanh_backward(da32, a32).dtype == np.float32
    assert tanh_backward(da32.astype(np.float64), a32).dtype == np.float64  # as da * (1 - a * a) would be
    a, da = xp.tanh(xp.asarray(0.3)), xp.asarray(-0.7)
    dz, plain = tanh_backward(da, a), da * (1.0 - a * a)
    assert type(dz) is type(plain) and dz == plain


@given(seed=seeds, n=sizes, c=st.integers(2, 7), labels=st.booleans())
def test_softmax_cross_entropy_equals_the_plain_formula(xp, seed, n, c, labels):
    rng = np.random.default_rng(seed)
    logits = normal(xp, rng, n, c) * 5
    y = xp.asarray(rng.integers(0, c, size=n))
    Y = xp.eye(c)[y]
    target = y if labels else Y
    logits_before, target_before = logits.copy(), target.copy()
    loss, dlogits = softmax_cross_entropy(logits, target)
    p = xp.exp(logits) / xp.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss, float(-(Y * xp.log(p)).sum()) / n, **TIGHT)
    close(dlogits, (p - Y) / n)
    assert bool((logits == logits_before).all()) and bool((target == target_before).all())


def test_softmax_cross_entropy_keeps_the_dtypes(xp, rng):
    logits, y = normal(xp, rng, 4, 3, dtype=np.float32), xp.asarray([0, 2, 1, 1])
    assert softmax_cross_entropy(logits, y)[1].dtype == np.float32
    assert softmax_cross_entropy(logits, xp.eye(3)[y])[1].dtype == np.float64  # as (p - Y) / N would be


def network(xp, rng, sizes, dtype=np.float64):
    weights = bp.init_mlp(sizes, rng, backend="cupy" if xp.__name__ == "cupy" else "numpy", dtype=dtype)
    for W in weights:  # a nonzero bias, so a wrong bias row shows
        W[-1] = xp.asarray(rng.normal(size=W.shape[1]))
    x = normal(xp, rng, 9, sizes[0], dtype=dtype)
    y = xp.asarray(rng.integers(0, sizes[-1], size=9))
    return weights, x, y


@pytest.mark.parametrize("acts", [["tanh", "identity"], ["relu", "tanh", "identity"], ["identity"]])
def test_mlp_loss_skipping_dx_gives_mlp_backwards_gradients_and_changes_nothing(xp, rng, acts):
    sizes = [5, 8, 6, 3][: len(acts) + 1]
    weights, x, y = network(xp, rng, sizes)
    before = [a.copy() for a in [x, y, *weights]]
    loss, grads = mlp_loss(weights, x, y, acts)
    out, caches = mlp_forward(x, weights, acts)
    value, dout = softmax_cross_entropy(out, y)
    _, plain = mlp_backward(dout, caches)
    assert loss == value
    for dW, dW_plain in zip(grads, plain):
        assert bool((dW == dW_plain).all())
    for a, b in zip([x, y, *weights], before):
        assert bool((a == b).all())


def test_float32_stays_float32_through_a_training_step(xp, rng):
    weights, x, y = network(xp, rng, [5, 8, 6, 3], dtype=np.float32)
    loss, grads = mlp_loss(weights, x, y, ["tanh", "tanh", "identity"])
    assert [dW.dtype for dW in grads] == [np.float32] * 3
    SGD(weights, 0.1).step(grads)
    assert [W.dtype for W in weights] == [np.float32] * 3


DTYPE_PAIRS = [(np.float64, np.float64), (np.float32, np.float32), (np.float32, np.float64)]


@pytest.mark.parametrize("w_dtype, dw_dtype", DTYPE_PAIRS)
def test_sgd_in_place_equals_sgd_step_over_several_steps(xp, rng, w_dtype, dw_dtype):
    """Bitwise, with lr changing between steps (a schedule, a NumPy scalar: taken as a Python float), the
    buffer kept, and grads unchanged."""
    params = [normal(xp, rng, 4, 3, dtype=w_dtype), normal(xp, rng, 5, dtype=w_dtype)]
    plain = [w.copy() for w in params]
    opt = SGD(params, lr=0.1)
    for lr in [0.1, 0.05, np.float64(0.3)]:
        grads = [normal(xp, rng, *w.shape, dtype=dw_dtype) for w in params]
        grads_before = [dw.copy() for dw in grads]
        opt.lr = lr
        opt.step(grads)
        plain = [sgd_step(w, dw, float(lr)).astype(w_dtype) for w, dw in zip(plain, grads)]
        for w, w_plain in zip(params, plain):
            assert w.dtype == w_dtype
            assert bool((w == w_plain).all())
        for dw, dw_before in zip(grads, grads_before):
            assert bool((dw == dw_before).all())
