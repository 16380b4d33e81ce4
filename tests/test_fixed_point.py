"""Fixed-point recurrent backpropagation (Almeida-Pineda): relaxation forward, adjoint relaxation backward.

Oracles: float64 central differences of the relaxed state, PyTorch autograd through the relaxation
unrolled for 600 steps (|W|_2 <= 0.9, so what is left is ~0.9**600 ~ 1e-27), and our own BPTT
(rnn_backward) through the relaxation unrolled as an RNN.
The finite-difference cases relax to tol = 1e-14, so that the state's own error (~tol) divided by
the step h = 1e-6 stays far below the tolerance of the comparison.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop_ref._checks import ConvergenceError, ShapeError
from backprop_ref.backend import to_host
from backprop_ref.fixed_point import (
    FixedPointCache,
    fixed_point_backward,
    fixed_point_forward,
    fixed_point_loss,
    init_fixed_point,
)
from backprop_ref.losses import accuracy
from backprop_ref.optim import Adam
from backprop_ref.rnn import rnn_backward, rnn_forward
from backprop_ref.train import train
from oracle import assert_matches_finite_differences, assert_matches_torch, import_torch

seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(1, 4)  # N, D, H, K: 1 included, and D != H most of the time
activations = st.sampled_from(["tanh", "sigmoid"])
contractions = st.sampled_from([0.2, 0.5, 0.9])
TIGHT = 1e-14


def fp_problem(xp, seed, n, d, h, k=2, contraction=0.5):
    """params [W (H, H), U (D + 1, H), Wy (H + 1, K)] with |W|_2 = contraction, x (N, D), ds (N, H)."""
    rng = np.random.default_rng(seed)
    params = init_fixed_point(d, h, k, rng, backend=xp.__name__, contraction=contraction)
    U = params[1]
    U[-1] = xp.asarray(rng.normal(size=h))  # a nonzero bias, so its gradient is checked too
    return params, xp.asarray(rng.normal(size=(n, d))), xp.asarray(rng.normal(size=(n, h)))


def torch_relaxation(activation, iterations=600):
    """s* by the relaxation unrolled in torch, from s_0 = 0: autograd through it is BPTT, in the limit the adjoint."""
    torch = import_torch()
    f = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]

    def forward(x, W, U):
        u = x @ U[:-1] + U[-1]
        s = torch.zeros(x.shape[0], W.shape[0], dtype=x.dtype)
        for _ in range(iterations):
            s = f(s @ W + u)
        return s

    return forward


# ---------------------------------------------------------------------------------------------
# The forward relaxation.


@given(seed=seeds, n=sizes, d=sizes, h=sizes, activation=activations, contraction=contractions)
def test_forward_reaches_the_fixed_point(xp, seed, n, d, h, activation, contraction):
    (W, U, _), x, _ = fp_problem(xp, seed, n, d, h, contraction=contraction)
    s, cache = fixed_point_forward(x, W, U, activation)
    f = {"tanh": xp.tanh, "sigmoid": lambda z: 1 / (1 + xp.exp(-z))}[activation]
    residual = float(abs(f(s @ W + x @ U[:-1] + U[-1]) - s).max())
    assert residual < 1e-10 and cache.changes[-1] < 1e-10
    assert cache.iterations == len(cache.changes) < 1000 and cache.adjoint_iterations is None
    s_again, _ = fixed_point_forward(x, W, U, activation, s0=xp.asarray(np.full((n, h), 0.9)))  # a contraction: one fixed point
    np.testing.assert_allclose(to_host(s_again), to_host(s), atol=1e-9)


def test_the_relaxation_converges_geometrically(xp):
    """A contraction with |W|_2 = 0.5 under tanh (f' <= 1) at least halves the change at every iteration."""
    (W, U, _), x, _ = fp_problem(xp, 0, 5, 3, 6)
    _, cache = fixed_point_forward(x, W, U)
    changes = np.array(cache.changes)
    assert np.all(changes[1:] <= 0.5 * changes[:-1] * (1 + 1e-9))
    assert cache.iterations <= 40


# ---------------------------------------------------------------------------------------------
# The adjoint relaxation against the oracles.


@given(seed=seeds, n=sizes, d=sizes, h=sizes, activation=activations, contraction=contractions)
def test_backward_matches_finite_differences(xp, seed, n, d, h, activation, contraction):
    (W, U, _), x, ds = fp_problem(xp, seed, n, d, h, contraction=contraction)
    s, cache = fixed_point_forward(x, W, U, activation, tol=TIGHT)
    dx, dW, dU = fixed_point_backward(ds, cache, tol=TIGHT)
    assert cache.adjoint_iterations >= 1
    f = lambda: fixed_point_forward(x, W, U, activation, tol=TIGHT)[0]  # noqa: E731
    assert_matches_finite_differences(f, dict(x=x, W=W, U=U), dict(x=dx, W=dW, U=dU), dout=ds)


@given(seed=seeds, n=sizes, d=sizes, h=sizes, activation=activations, contraction=contractions)
def test_backward_matches_torch_through_the_unrolled_relaxation(xp, seed, n, d, h, activation, contraction):
    (W, U, _), x, ds = fp_problem(xp, seed, n, d, h, contraction=contraction)
    dx, dW, dU = fixed_point_backward(ds, fixed_point_forward(x, W, U, activation, tol=TIGHT)[1], tol=TIGHT)
    assert_matches_torch(torch_relaxation(activation), dict(x=x, W=W, U=U), dict(x=dx, W=dW, U=dU), dout=ds, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n, d, h", [(3, 2, 4), (1, 1, 1), (2, 5, 3)])
def test_the_adjoint_is_bptt_through_the_relaxation(xp, n, d, h):
    """The relaxation is an RNN with a constant input: h_t = tanh([x, 1] @ U + h_{t-1} @ W), h_{-1} = 0.
    BPTT (rnn_backward) over 200 of its steps with a loss on the last state gives the adjoint's gradients."""
    (W, U, _), x, ds = fp_problem(xp, 7 * n + h, n, d, h)
    s, cache = fixed_point_forward(x, W, U, tol=TIGHT)
    dx, dW, dU = fixed_point_backward(ds, cache, tol=TIGHT)
    steps = 200
    h_all, rnn_cache = rnn_forward(xp.repeat(x[:, None], steps, axis=1), xp.zeros((n, h)), U, W)
    dh = xp.zeros(h_all.shape)
    dh[:, -1] = ds
    bptt = rnn_backward(dh, rnn_cache)
    np.testing.assert_allclose(to_host(h_all[:, -1]), to_host(s), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(to_host(bptt.dWh), to_host(dW), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(to_host(bptt.dWx), to_host(dU), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(to_host(bptt.dx.sum(axis=1)), to_host(dx), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# The loss of a whole network.


@given(seed=seeds, n=sizes, d=sizes, h=sizes, k=st.integers(1, 3), activation=activations)
def test_fixed_point_loss_matches_finite_differences(xp, seed, n, d, h, k, activation):
    params, x, _ = fp_problem(xp, seed, n, d, h, k)
    y = xp.asarray(np.random.default_rng(seed).integers(0, k, size=n))
    _, grads = fixed_point_loss(params, x, y, activation=activation, tol=TIGHT)
    f = lambda: fixed_point_loss(params, x, y, activation=activation, tol=TIGHT)[0]  # noqa: E731
    assert_matches_finite_differences(f, dict(W=params[0], U=params[1], Wy=params[2]), dict(W=grads[0], U=grads[1], Wy=grads[2]))


@given(seed=seeds, n=sizes, d=sizes, h=sizes, k=st.integers(1, 3), activation=activations)
def test_fixed_point_loss_matches_torch(xp, seed, n, d, h, k, activation):
    torch = import_torch()
    params, x, _ = fp_problem(xp, seed, n, d, h, k)
    y = np.random.default_rng(seed).integers(0, k, size=n)
    value, grads = fixed_point_loss(params, x, xp.asarray(y), activation=activation, tol=TIGHT)
    relax, x_t = torch_relaxation(activation), torch.tensor(to_host(x))

    def loss(W, U, Wy):
        out = relax(x_t, W, U) @ Wy[:-1] + Wy[-1]
        return torch.nn.functional.cross_entropy(out, torch.tensor(y))  # summed over classes, averaged over N

    inputs = dict(W=params[0], U=params[1], Wy=params[2])
    assert value == pytest.approx(float(loss(*(torch.tensor(to_host(p)) for p in params))), rel=1e-10)
    assert_matches_torch(loss, inputs, dict(W=grads[0], U=grads[1], Wy=grads[2]), rtol=1e-9, atol=1e-12)


def test_float32_uses_a_float32_tolerance(xp):
    (W, U, Wy), x, ds = fp_problem(xp, 3, 4, 2, 3)
    W, U, x, ds = (a.astype(xp.float32) for a in (W, U, x, ds))
    s, cache = fixed_point_forward(x, W, U)
    dx, dW, dU = fixed_point_backward(ds, cache)
    assert all(a.dtype == xp.float32 for a in (s, dx, dW, dU))
    assert 1e-7 < cache.changes[-1] < 1e-5 or cache.changes[-1] == 0.0


# ---------------------------------------------------------------------------------------------
# When the relaxation does not settle.


def oscillating(xp):
    """tanh with W = -3 I and zero drive, from s0 = 0.5: s -> tanh(-3 s) jumps between +-0.995 for ever
    (a 2-cycle; the fixed point 0 repels, since the slope there is -3)."""
    return xp.ones((2, 1)), -3.0 * xp.eye(2), xp.zeros((2, 2)), xp.full((2, 2), 0.5)


def test_an_oscillating_relaxation_raises(xp):
    x, W, U, s0 = oscillating(xp)
    message = (
        r"fixed_point_forward: the relaxation of s did not converge in 1000 iterations: the last change "
        r"max\|s_\(k\+1\) - s_k\| = 1\.99 is not below tol = 1e-10\. The spectral norm of W is 3; .*scale W down"
    )
    with pytest.raises(ConvergenceError, match=message):
        fixed_point_forward(x, W, U, s0=s0)


def test_too_few_iterations_raise_or_warn(xp):
    (W, U, _), x, ds = fp_problem(xp, 0, 3, 2, 4)
    with pytest.raises(ConvergenceError, match=r"did not converge in 2 iterations.*tol = 1e-10.*spectral norm of W is 0\.5"):
        fixed_point_forward(x, W, U, max_iter=2)
    with pytest.warns(RuntimeWarning, match=r"fixed_point_forward: the relaxation of s did not converge in 2 iterations"):
        s, cache = fixed_point_forward(x, W, U, max_iter=2, on_fail="warn")
    assert tuple(s.shape) == (3, 4) and cache.iterations == 2
    _, cache = fixed_point_forward(x, W, U)
    with pytest.raises(ConvergenceError, match=r"fixed_point_backward: the relaxation of lam did not converge in 3 iterations"):
        fixed_point_backward(ds, cache, max_iter=3)
    with pytest.warns(RuntimeWarning, match=r"fixed_point_backward: the relaxation of lam did not converge in 3 iterations"):
        dx, dW, dU = fixed_point_backward(ds, cache, max_iter=3, on_fail="warn")
    assert cache.adjoint_iterations == 3 and tuple(dW.shape) == (4, 4)


def test_an_unstable_fixed_point_makes_the_adjoint_diverge(xp):
    """W = -3 I, zero drive, s0 = 0: the forward pass sits on the fixed point 0 at once, but it repels
    (slope -3), so the adjoint lam = ds - 3 lam grows like 3**k until it overflows."""
    x, W, U, _ = oscillating(xp)
    _, cache = fixed_point_forward(x, W, U)
    assert cache.iterations == 1
    with pytest.raises(ConvergenceError, match=r"fixed_point_backward: the relaxation of lam diverged: lam holds NaN or inf after \d{3} iteration"):
        fixed_point_backward(xp.ones((2, 2)), cache)


def test_a_diverging_state_raises(xp):
    """The identity activation with W = 2 I doubles the state each iteration until it overflows: no NumPy
    warning escapes, the error says what happened. NaN in x is caught at the first iteration."""
    x, U = xp.ones((2, 1)), xp.ones((2, 3))
    with pytest.raises(ConvergenceError, match=r"fixed_point_forward: the relaxation of s diverged: s holds NaN or inf after \d+ iteration.*spectral norm of W is 2"):
        fixed_point_forward(x, 2.0 * xp.eye(3), U, activation="identity", max_iter=5000)
    with pytest.raises(ConvergenceError, match=r"diverged: s holds NaN or inf after 1 iteration\(s\)\. Check x and the weights"):
        fixed_point_forward(xp.full((2, 1), xp.nan), 0.1 * xp.eye(3), U)


# ---------------------------------------------------------------------------------------------
# Initialisation and bad input.


def test_init_fixed_point(xp):
    W, U, Wy = init_fixed_point(3, 5, 2, np.random.default_rng(0), backend=xp.__name__, dtype=np.float32, contraction=0.7)
    assert [tuple(a.shape) for a in (W, U, Wy)] == [(5, 5), (4, 5), (6, 2)]
    assert all(a.dtype == xp.float32 and isinstance(a, xp.ndarray) for a in (W, U, Wy))
    assert np.linalg.norm(to_host(W).astype(np.float64), 2) == pytest.approx(0.7, rel=1e-6)
    again = init_fixed_point(3, 5, 2, np.random.default_rng(0), backend=xp.__name__, dtype=np.float32, contraction=0.7)
    assert all(np.array_equal(to_host(a), to_host(b)) for a, b in zip((W, U, Wy), again))


def test_bad_input_is_described(xp):
    x, W, U = xp.ones((5, 3)), 0.1 * xp.eye(4), xp.ones((4, 4))
    cases = [
        (lambda: fixed_point_forward(x, xp.ones((4, 3)), U), ShapeError, r"fixed_point_forward: W must have shape \(4, 4\) = \(H, H\): square.*got \(4, 3\)"),
        (lambda: fixed_point_forward(x, W, xp.ones((3, 4))), ShapeError, r"fixed_point_forward: U must have shape \(4, 4\) = \(D \+ 1, H\) with D = 3 from x and H = 4 from W .*got \(3, 4\)"),
        (lambda: fixed_point_forward(xp.ones(3), W, U), ShapeError, r"fixed_point_forward: x must have 2 dimensions \(N, D\), got shape \(3,\)"),
        (lambda: fixed_point_forward(x, W, U, s0=xp.ones((4, 4))), ShapeError, r"fixed_point_forward: s0 must have shape \(5, 4\) = \(N, H\) with N = 5 from x and H = 4 from W, got \(4, 4\)"),
        (lambda: fixed_point_backward(xp.ones((4, 5)), fixed_point_forward(x, W, U)[1]), ShapeError, r"fixed_point_backward: ds must have the same shape as s\* \(5, 4\), got \(4, 5\)"),
        (lambda: fixed_point_forward(x, W, U, on_fail="ignore"), ValueError, r"fixed_point_forward: on_fail must be 'raise' or 'warn', got 'ignore'"),
        (lambda: fixed_point_forward(x, W, U, max_iter=0), ValueError, r"fixed_point_forward: max_iter must be a whole number >= 1, got 0"),
        (lambda: fixed_point_forward(x, W, U, tol=0.0), ValueError, r"fixed_point_forward: tol must be > 0, got 0.0"),
        (lambda: fixed_point_forward(x, W, U, activation="tan"), ValueError, r"unknown activation 'tan'"),
        (lambda: fixed_point_forward(xp.ones((5, 3), dtype=xp.int64), W, U), TypeError, r"fixed_point_forward: x must be a floating-point array .* got dtype int64"),
        (lambda: fixed_point_loss([W, U], x, xp.zeros(5, dtype=xp.int64)), ValueError, r"fixed_point_loss: params must be \[W, U, Wy\], got 2 arrays"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


def test_the_cache_records_both_relaxations(xp):
    (W, U, _), x, ds = fp_problem(xp, 1, 3, 2, 4)
    s, cache = fixed_point_forward(x, W, U)
    fixed_point_backward(ds, cache)
    assert isinstance(cache, FixedPointCache) and cache.s is s
    assert cache.iterations == len(cache.changes) > 1 and cache.adjoint_iterations == len(cache.adjoint_changes) > 1
    assert cache.changes[-1] < 1e-10 and cache.adjoint_changes[-1] < 1e-10


# ---------------------------------------------------------------------------------------------
# Learning.


def test_a_fixed_point_net_learns_xor(xp):
    """Four Gaussian blobs at (+-1, +-1), labelled by XOR of the signs: not linearly separable.
    A fixed-point layer of 8 tanh units with a softmax readout reaches at least 97% training accuracy.
    Left alone, training grows |W|_2 past 1 (feedback helps) until the relaxation stalls; so after every
    step W is scaled back to |W|_2 <= 0.9 (projected gradient descent), which keeps it a contraction."""
    rng = np.random.default_rng(0)
    centers = rng.choice([-1.0, 1.0], size=(200, 2))
    x = xp.asarray(centers + 0.25 * rng.normal(size=(200, 2)))
    y = xp.asarray((centers[:, 0] != centers[:, 1]).astype(np.int64))
    params = init_fixed_point(2, 8, 2, rng, backend=xp.__name__)

    def keep_a_contraction(epoch, params):
        norm = float(np.linalg.norm(to_host(params[0]), 2))
        if norm > 0.9:
            params[0] *= 0.9 / norm

    train(params, fixed_point_loss, x, y, Adam(params, lr=0.05), epochs=60, progress=False, callback=keep_a_contraction)
    s, _ = fixed_point_forward(x, params[0], params[1])
    acc = accuracy(s @ params[2][:-1] + params[2][-1], y)
    assert acc >= 0.97, acc
