"""The vanilla RNN and backpropagation through time, full and truncated.

The oracle for every case is the RNN written out from its formula in ``windowed_states`` below
(never backprop_ref.rnn), differentiated by float64 central differences and by PyTorch autograd.
"""
import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop_ref._checks import ShapeError
from backprop_ref.backend import to_host
from backprop_ref.gradcheck import numerical_gradient
from backprop_ref.losses import get_loss
from backprop_ref.optim import Adam
from backprop_ref.rnn import (
    init_rnn,
    rnn_backward,
    rnn_forward,
    rnn_loss,
    rnn_step_backward,
    rnn_step_forward,
    temporal_dense_backward,
    temporal_dense_forward,
)
from backprop_ref.train import train
from oracle import assert_matches_finite_differences, assert_matches_torch, import_torch, torch_gradients

seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(1, 4)  # N, D, H, K: 1 included, and D != H most of the time
times = st.integers(1, 5)


@st.composite
def truncations(draw):
    """(T, k) with the window k anywhere from 1 to past the end (k > T)."""
    T = draw(times)
    return T, draw(st.integers(1, T + 2))


def rnn_problem(xp, seed, n, t, d, h):
    """x (N, T, D), h0 (N, H), Wx (D + 1, H), Wh (H, H), dh (N, T, H): float64, random."""
    rng = np.random.default_rng(seed)
    shapes = [(n, t, d), (n, h), (d + 1, h), (h, h), (n, t, h)]
    scales = [1.0, 0.5, 1 / np.sqrt(d), 1 / np.sqrt(h), 1.0]
    return [xp.asarray(s * rng.normal(size=shape)) for s, shape in zip(scales, shapes)]


def windowed_states(tanh, x, h0, Wx, Wh, k, h_const=None, e=None):
    """[h_0, ..., h_{T-1}] as truncated BPTT with window k sees them, written out from the formula.

    h_s is recomputed through steps max(s-k+1, 0)..s only, starting from the *constant* state
    h_const[s-k] (or from h0 itself when s - k < 0). The values are the forward pass's; the
    gradients of sum_s sum(dh[:, s] * h_s) are the truncated ones. k = T gives the plain forward
    pass and full BPTT. e (N, T, H), optional, is added to every recomputed h_t, so that the
    gradient with respect to e[:, t] is the gradient reaching h_t. Works on NumPy, CuPy and torch.
    """
    states = []
    for s in range(x.shape[1]):
        h = h0 if s - k < 0 else h_const[s - k]
        for t in range(max(s - k + 1, 0), s + 1):
            h = tanh(x[:, t] @ Wx[:-1] + Wx[-1] + h @ Wh)
            if e is not None:
                h = h + e[:, t]
        states.append(h)
    return states


def numpy_oracle(xp, x, h0, Wx, Wh, k, e=None):
    """The windowed states stacked to (N, T, H), with h_const taken once, now: constants from here on."""
    T = x.shape[1]
    h_const = windowed_states(xp.tanh, x, h0, Wx, Wh, T)
    return lambda: xp.stack(windowed_states(xp.tanh, x, h0, Wx, Wh, k, h_const, e), axis=1)


def torch_oracle(k):
    """The windowed states in torch; the states the windows start from are cut off with .detach()."""
    torch = import_torch()

    def forward(x, h0, Wx, Wh, e=None):
        h_const = [h.detach() for h in windowed_states(torch.tanh, x, h0, Wx, Wh, x.shape[1])]
        return torch.stack(windowed_states(torch.tanh, x, h0, Wx, Wh, k, h_const, e), dim=1)

    return forward


# ---------------------------------------------------------------------------------------------
# One step.


@given(seed=seeds, n=sizes, d=sizes, h=sizes)
def test_step_backward_matches_finite_differences(xp, seed, n, d, h):
    x, h_prev, Wx, Wh, dh = rnn_problem(xp, seed, n, 1, d, h)
    x, dh_next = x[:, 0].copy(), dh[:, 0].copy()
    dx, dh_prev, dWx, dWh = rnn_step_backward(dh_next, rnn_step_forward(x, h_prev, Wx, Wh)[1])
    f = lambda: rnn_step_forward(x, h_prev, Wx, Wh)[0]  # noqa: E731
    assert_matches_finite_differences(f, dict(x=x, h_prev=h_prev, Wx=Wx, Wh=Wh), dict(x=dx, h_prev=dh_prev, Wx=dWx, Wh=dWh), dout=dh_next)


@given(seed=seeds, n=sizes, d=sizes, h=sizes)
def test_step_backward_matches_torch(xp, seed, n, d, h):
    torch = import_torch()
    x, h_prev, Wx, Wh, dh = rnn_problem(xp, seed, n, 1, d, h)
    x, dh_next = x[:, 0], dh[:, 0]
    dx, dh_prev, dWx, dWh = rnn_step_backward(dh_next, rnn_step_forward(x, h_prev, Wx, Wh)[1])
    step = lambda x, h_prev, Wx, Wh: torch.tanh(x @ Wx[:-1] + Wx[-1] + h_prev @ Wh)  # noqa: E731
    assert_matches_torch(step, dict(x=x, h_prev=h_prev, Wx=Wx, Wh=Wh), dict(x=dx, h_prev=dh_prev, Wx=dWx, Wh=dWh), dout=dh_next)


# ---------------------------------------------------------------------------------------------
# Full BPTT.


def test_forward_matches_torch_nn_rnn(xp, rng):
    """Our Wx (bias as its last row) and Wh drive torch.nn.RNN to the same hidden states."""
    torch = import_torch()
    x, h0, Wx, Wh, _ = rnn_problem(xp, 7, 3, 6, 2, 4)
    h, _ = rnn_forward(x, h0, Wx, Wh)
    net = torch.nn.RNN(2, 4, nonlinearity="tanh", batch_first=True).double()
    with torch.no_grad():
        net.weight_ih_l0[:] = torch.tensor(to_host(Wx[:-1]).T)
        net.weight_hh_l0[:] = torch.tensor(to_host(Wh).T)
        net.bias_ih_l0[:] = torch.tensor(to_host(Wx[-1]))
        net.bias_hh_l0[:] = 0
        expected, _ = net(torch.tensor(to_host(x)), torch.tensor(to_host(h0))[None])
    np.testing.assert_allclose(to_host(h), expected.numpy(), rtol=1e-12, atol=1e-12)


@given(seed=seeds, n=sizes, t=times, d=sizes, h=sizes)
def test_full_bptt_matches_finite_differences(xp, seed, n, t, d, h):
    x, h0, Wx, Wh, dh = rnn_problem(xp, seed, n, t, d, h)
    dx, dh0, dWx, dWh, _ = rnn_backward(dh, rnn_forward(x, h0, Wx, Wh)[1])
    f = lambda: rnn_forward(x, h0, Wx, Wh)[0]  # noqa: E731
    assert_matches_finite_differences(f, dict(x=x, h0=h0, Wx=Wx, Wh=Wh), dict(x=dx, h0=dh0, Wx=dWx, Wh=dWh), dout=dh)


@given(seed=seeds, n=sizes, t=times, d=sizes, h=sizes)
def test_full_bptt_matches_torch(xp, seed, n, t, d, h):
    x, h0, Wx, Wh, dh = rnn_problem(xp, seed, n, t, d, h)
    dx, dh0, dWx, dWh, _ = rnn_backward(dh, rnn_forward(x, h0, Wx, Wh)[1])
    assert_matches_torch(torch_oracle(t), dict(x=x, h0=h0, Wx=Wx, Wh=Wh), dict(x=dx, h0=dh0, Wx=dWx, Wh=dWh), dout=dh)


def test_a_loss_on_the_last_state_reaches_every_step(xp):
    """dh zero except dh[:, -1]: the gradient still reaches x at step 0 and h0, through dh_next."""
    x, h0, Wx, Wh, dh = rnn_problem(xp, 3, 2, 6, 3, 4)
    dh[:, :-1] = 0
    dx, dh0, dWx, dWh, _ = rnn_backward(dh, rnn_forward(x, h0, Wx, Wh)[1])
    assert float(abs(dx[:, 0]).max()) > 1e-4 and float(abs(dh0).max()) > 1e-4
    f = lambda: rnn_forward(x, h0, Wx, Wh)[0]  # noqa: E731
    assert_matches_finite_differences(f, dict(x=x, h0=h0, Wx=Wx, Wh=Wh), dict(x=dx, h0=dh0, Wx=dWx, Wh=dWh), dout=dh)


# ---------------------------------------------------------------------------------------------
# Truncated BPTT.


@given(seed=seeds, n=sizes, d=sizes, h=sizes, tk=truncations())
def test_truncated_bptt_matches_finite_differences_of_the_windowed_forward(xp, seed, n, d, h, tk):
    t, k = tk
    x, h0, Wx, Wh, dh = rnn_problem(xp, seed, n, t, d, h)
    dx, dh0, dWx, dWh, _ = rnn_backward(dh, rnn_forward(x, h0, Wx, Wh)[1], truncate=k)
    f = numpy_oracle(xp, x, h0, Wx, Wh, k)
    assert_matches_finite_differences(f, dict(x=x, h0=h0, Wx=Wx, Wh=Wh), dict(x=dx, h0=dh0, Wx=dWx, Wh=dWh), dout=dh)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("n, t, d, h", [(3, 5, 2, 4), (1, 5, 1, 1)])
def test_truncated_bptt_matches_torch_with_detach(xp, k, n, t, d, h):
    x, h0, Wx, Wh, dh = rnn_problem(xp, 11 * k + t, n, t, d, h)
    dx, dh0, dWx, dWh, _ = rnn_backward(dh, rnn_forward(x, h0, Wx, Wh)[1], truncate=k)
    assert_matches_torch(torch_oracle(k), dict(x=x, h0=h0, Wx=Wx, Wh=Wh), dict(x=dx, h0=dh0, Wx=dWx, Wh=dWh), dout=dh)


@pytest.mark.parametrize("extra", [0, 1, 50])
def test_a_window_as_long_as_the_sequence_is_full_bptt(xp, extra):
    x, h0, Wx, Wh, dh = rnn_problem(xp, extra, 3, 6, 2, 5)
    cache = rnn_forward(x, h0, Wx, Wh)[1]
    for full, truncated in zip(rnn_backward(dh, cache), rnn_backward(dh, cache, truncate=6 + extra)):
        np.testing.assert_allclose(to_host(truncated), to_host(full), rtol=1e-12, atol=1e-14)


def test_a_window_of_one_keeps_each_gradient_at_its_own_step(xp):
    """k = 1: dh[:, t] goes through step t only, and only dh[:, 0] reaches h0."""
    x, h0, Wx, Wh, dh = rnn_problem(xp, 5, 2, 4, 3, 3)
    cache = rnn_forward(x, h0, Wx, Wh)[1]
    dx, dh0, dWx, dWh, _ = rnn_backward(dh, cache, truncate=1)
    steps = [rnn_step_backward(dh[:, t], cache[t]) for t in range(4)]
    np.testing.assert_allclose(to_host(dx), to_host(xp.stack([s[0] for s in steps], axis=1)), rtol=1e-12)
    np.testing.assert_allclose(to_host(dh0), to_host(steps[0][1]), rtol=1e-12)
    np.testing.assert_allclose(to_host(dWh), to_host(sum(s[3] for s in steps)), rtol=1e-12)


def test_truncate_must_be_a_positive_int(xp):
    x, h0, Wx, Wh, dh = rnn_problem(xp, 0, 2, 3, 2, 2)
    cache = rnn_forward(x, h0, Wx, Wh)[1]
    with pytest.raises(ValueError, match=r"rnn_backward: truncate must be a positive int .* got 0"):
        rnn_backward(dh, cache, truncate=0)
    for bad in [1.5, True, "2"]:
        with pytest.raises(TypeError, match=r"rnn_backward: truncate must be a positive int"):
            rnn_backward(dh, cache, truncate=bad)


# ---------------------------------------------------------------------------------------------
# dh_norms: how much gradient reaches each hidden state.


def dh_norms_of(de):
    return np.sqrt((to_host(de) ** 2).sum(axis=(0, 2)))


@given(seed=seeds, n=sizes, d=sizes, h=sizes, tk=truncations(), full=st.booleans())
def test_dh_norms_match_finite_differences(xp, seed, n, d, h, tk, full):
    t, k = tk
    x, h0, Wx, Wh, dh = rnn_problem(xp, seed, n, t, d, h)
    grads = rnn_backward(dh, rnn_forward(x, h0, Wx, Wh)[1], truncate=None if full else k)
    e = xp.zeros((n, t, h))
    de = numerical_gradient(lambda e: numpy_oracle(xp, x, h0, Wx, Wh, t if full else k, e)(), e, dout=dh)
    assert isinstance(grads.dh_norms, np.ndarray) and grads.dh_norms.shape == (t,)
    np.testing.assert_allclose(grads.dh_norms, dh_norms_of(de), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("k", [None, 1, 2, 4])
def test_dh_norms_match_torch(xp, k):
    x, h0, Wx, Wh, dh = rnn_problem(xp, 2, 3, 6, 2, 4)
    grads = rnn_backward(dh, rnn_forward(x, h0, Wx, Wh)[1], truncate=k)
    de = torch_gradients(torch_oracle(k or 6), dict(x=x, h0=h0, Wx=Wx, Wh=Wh, e=xp.zeros(dh.shape)), dh)["e"]
    np.testing.assert_allclose(grads.dh_norms, dh_norms_of(de), rtol=1e-10)


def test_dh_norms_vanish_back_in_time_with_a_small_Wh(xp):
    """The vanishing-gradient lesson: with |Wh| = 0.5 the gradient of a last-step loss halves (at least) every step back."""
    x, h0, Wx, _, dh = rnn_problem(xp, 1, 4, 8, 3, 5)
    Wh = 0.5 * xp.asarray(to_host(init_rnn(3, 5, 1, np.random.default_rng(0))[1]))  # orthogonal, times 0.5
    dh[:, :-1] = 0
    norms = rnn_backward(dh, rnn_forward(x, h0, Wx, Wh)[1]).dh_norms
    assert norms[-1] == pytest.approx(float(xp.sqrt((dh[:, -1] ** 2).sum())))
    assert np.all(norms[:-1] <= 0.5 * norms[1:] + 1e-15)


# ---------------------------------------------------------------------------------------------
# The dense readout at every time step.


@given(seed=seeds, n=sizes, t=times, h=sizes, k=sizes)
def test_temporal_dense_backward_matches_finite_differences_and_torch(xp, seed, n, t, h, k):
    rng = np.random.default_rng(seed)
    hs, Wy, dout = (xp.asarray(rng.normal(size=s)) for s in [(n, t, h), (h + 1, k), (n, t, k)])
    out, cache = temporal_dense_forward(hs, Wy)
    assert tuple(out.shape) == (n, t, k)
    dh, dWy = temporal_dense_backward(dout, cache)
    assert_matches_finite_differences(lambda: temporal_dense_forward(hs, Wy)[0], dict(h=hs, Wy=Wy), dict(h=dh, Wy=dWy), dout=dout)
    assert_matches_torch(lambda h, Wy: h @ Wy[:-1] + Wy[-1], dict(h=hs, Wy=Wy), dict(h=dh, Wy=dWy), dout=dout)


# ---------------------------------------------------------------------------------------------
# The loss of a whole network.

LOSS_CASES = [  # (loss, last_only, targets)
    ("mse", False, "values"),
    ("mse", True, "values"),
    ("softmax_cross_entropy", False, "labels"),
    ("softmax_cross_entropy", True, "labels"),
    ("softmax_cross_entropy", False, "one-hot"),
    ("sigmoid_binary_cross_entropy", False, "probabilities"),
    ("sigmoid_binary_cross_entropy", True, "probabilities"),
]


def loss_problem(xp, seed, n, t, d, h, k, last_only, targets):
    rng = np.random.default_rng(seed)
    params = init_rnn(d, h, k, rng, backend=xp.__name__)
    x = xp.asarray(rng.normal(size=(n, t, d)))
    lead = (n,) if last_only else (n, t)
    y = {
        "values": lambda: rng.normal(size=lead + (k,)),
        "labels": lambda: rng.integers(0, k, size=lead),
        "one-hot": lambda: np.eye(k)[rng.integers(0, k, size=lead)],
        "probabilities": lambda: rng.uniform(size=lead + (k,)),
    }[targets]()
    return params, x, xp.asarray(y)


def torch_rnn_loss(loss, last_only, k, x, y):
    """The loss as a function of (Wx, Wh, Wy), written out in torch: summed over outputs and time
    steps, averaged over the batch; with truncation, every window starts from a .detach()ed state."""
    torch = import_torch()
    F = torch.nn.functional
    x, y = torch.tensor(to_host(x)), torch.tensor(to_host(y))
    per_row = {
        "mse": lambda out: 0.5 * ((out - y) ** 2).sum(-1),
        "softmax_cross_entropy": lambda out: F.cross_entropy(out.movedim(-1, 1), y if y.ndim < out.ndim else y.movedim(-1, 1), reduction="none"),
        "sigmoid_binary_cross_entropy": lambda out: F.binary_cross_entropy_with_logits(out, y, reduction="none").sum(-1),
    }[loss]

    def forward(Wx, Wh, Wy):
        h0 = torch.zeros(x.shape[0], Wh.shape[0], dtype=x.dtype)
        hs = torch_oracle(k or x.shape[1])(x, h0, Wx, Wh)
        out = (hs[:, -1] if last_only else hs) @ Wy[:-1] + Wy[-1]
        return per_row(out).sum() / x.shape[0]

    return forward


@pytest.mark.parametrize("loss, last_only, targets", LOSS_CASES)
@given(seed=seeds, n=sizes, t=times, d=sizes, h=sizes, k=st.integers(1, 3))
def test_rnn_loss_matches_finite_differences(xp, loss, last_only, targets, seed, n, t, d, h, k):
    params, x, y = loss_problem(xp, seed, n, t, d, h, k, last_only, targets)
    _, grads = rnn_loss(params, x, y, loss=loss, last_only=last_only)
    f = lambda: rnn_loss(params, x, y, loss=loss, last_only=last_only)[0]  # noqa: E731
    assert_matches_finite_differences(f, dict(Wx=params[0], Wh=params[1], Wy=params[2]), dict(Wx=grads[0], Wh=grads[1], Wy=grads[2]))


@pytest.mark.parametrize("truncate", [None, 1, 2])
@pytest.mark.parametrize("loss, last_only, targets", LOSS_CASES)
def test_rnn_loss_matches_torch(xp, loss, last_only, targets, truncate):
    """Value and gradients, full and truncated (the windows start from .detach()ed states)."""
    params, x, y = loss_problem(xp, 17, 3, 5, 2, 4, 3, last_only, targets)
    value, grads = rnn_loss(params, x, y, loss=loss, last_only=last_only, truncate=truncate)
    forward = torch_rnn_loss(loss, last_only, truncate, x, y)
    inputs = dict(Wx=params[0], Wh=params[1], Wy=params[2])
    assert value == pytest.approx(float(forward(**{k: import_torch().tensor(to_host(v)) for k, v in inputs.items()})), rel=1e-12)
    assert_matches_torch(forward, inputs, dict(Wx=grads[0], Wh=grads[1], Wy=grads[2]))


@pytest.mark.parametrize("last_only", [False, True])
def test_truncated_rnn_loss_matches_finite_differences_of_the_windowed_forward(xp, last_only):
    params, x, y = loss_problem(xp, 4, 3, 5, 2, 3, 2, last_only, "values")
    Wx, Wh, Wy = params
    _, grads = rnn_loss(params, x, y, last_only=last_only, truncate=2)
    h0 = xp.zeros((3, 3))
    states = numpy_oracle(xp, x, h0, Wx, Wh, 2)

    def windowed_loss():
        hs = states()
        out = (hs[:, -1] if last_only else hs) @ Wy[:-1] + Wy[-1]
        return 0.5 * float(((out - y) ** 2).sum()) / 3

    assert_matches_finite_differences(windowed_loss, dict(Wx=Wx, Wh=Wh, Wy=Wy), dict(Wx=grads[0], Wh=grads[1], Wy=grads[2]))


def test_rnn_loss_sums_over_time_and_averages_over_the_batch(xp):
    """L = (1/N) sum over n, t of the per-step loss: T per-step batch means, added up."""
    params, x, y = loss_problem(xp, 9, 4, 6, 2, 3, 2, False, "values")
    value, _ = rnn_loss(params, x, y)
    h, _ = rnn_forward(x, xp.zeros((4, 3)), params[0], params[1])
    y_hat, _ = temporal_dense_forward(h, params[2])
    per_step = [get_loss("mse")(y_hat[:, t], y[:, t])[0] for t in range(6)]
    assert value == pytest.approx(sum(per_step), rel=1e-12)


def test_float32_stays_float32(xp):
    params, x, y = loss_problem(xp, 1, 3, 4, 2, 3, 2, False, "values")
    params, x, y = [p.astype(xp.float32) for p in params], x.astype(xp.float32), y.astype(xp.float32)
    value, grads = rnn_loss(params, x, y, truncate=2)
    assert all(g.dtype == xp.float32 for g in grads)


# ---------------------------------------------------------------------------------------------
# Initialisation.


def test_init_rnn_shapes_and_an_orthogonal_Wh(xp):
    Wx, Wh, Wy = init_rnn(3, 5, 2, np.random.default_rng(0), backend=xp.__name__, dtype=np.float32)
    assert [tuple(W.shape) for W in (Wx, Wh, Wy)] == [(4, 5), (5, 5), (6, 2)]
    assert all(W.dtype == xp.float32 and isinstance(W, xp.ndarray) for W in (Wx, Wh, Wy))
    assert float(abs(Wx[-1]).max()) == float(abs(Wy[-1]).max()) == 0.0
    np.testing.assert_allclose(to_host(Wh.T @ Wh), np.eye(5), atol=1e-6)
    again = init_rnn(3, 5, 2, np.random.default_rng(0), backend=xp.__name__, dtype=np.float32)
    assert all(np.array_equal(to_host(a), to_host(b)) for a, b in zip((Wx, Wh, Wy), again))


def test_init_rnn_neither_explodes_nor_dies(xp):
    """Over 20 steps of random input the state keeps a moderate size, and the gradient of a last-step
    loss shrinks by a factor between 0.5 and 1 per step back (tanh' < 1 alone shrinks it; Wh keeps its norm)."""
    rng = np.random.default_rng(3)
    Wx, Wh, _ = init_rnn(4, 32, 1, rng, backend=xp.__name__)
    x = xp.asarray(rng.normal(size=(8, 20, 4)))
    h, cache = rnn_forward(x, xp.zeros((8, 32)), Wx, Wh)
    rms = np.sqrt((to_host(h) ** 2).mean(axis=(0, 2)))
    assert 0.2 < rms.min() and rms.max() < 0.95, rms
    dh = xp.zeros(h.shape)
    dh[:, -1] = 1.0
    norms = rnn_backward(dh, cache).dh_norms
    per_step = (norms[0] / norms[-1]) ** (1 / 19)
    assert 0.5 < per_step < 1.0, norms


# ---------------------------------------------------------------------------------------------
# Bad input.


def test_bad_shapes_are_described(xp):
    x, h_prev, Wx, Wh = xp.ones((5, 3)), xp.ones((5, 4)), xp.ones((4, 4)), xp.ones((4, 4))
    cases = [
        (lambda: rnn_step_forward(x, h_prev, xp.ones((3, 4)), Wh), r"rnn_step_forward: Wx must have shape \(4, 4\) = \(D \+ 1, H\) with D = 3 from x and H = 4 from Wh .*got \(3, 4\)"),
        (lambda: rnn_step_forward(x, xp.ones((5, 3)), Wx, Wh), r"rnn_step_forward: h_prev must have shape \(5, 4\) = \(N, H\) with N = 5 from x and H = 4 from Wh, got \(5, 3\)"),
        (lambda: rnn_step_forward(x, h_prev, Wx, xp.ones((4, 3))), r"rnn_step_forward: Wh must have shape \(3, 3\) = \(H, H\).*got \(4, 3\)"),
        (lambda: rnn_forward(x, h_prev, Wx, Wh), r"rnn_forward: x must have 3 dimensions \(N, T, D\), got shape \(5, 3\)"),
        (lambda: rnn_forward(xp.ones((5, 2, 3)), xp.ones((4, 4)), Wx, Wh), r"rnn_forward: h0 must have shape \(5, 4\) = \(N, H\) .*got \(4, 4\)"),
        (lambda: rnn_forward(xp.ones((5, 0, 3)), h_prev, Wx, Wh), r"rnn_forward: x must have at least one time step \(T >= 1\), got shape \(5, 0, 3\)"),
        (lambda: rnn_step_backward(xp.ones((4, 5)), rnn_step_forward(x, h_prev, Wx, Wh)[1]), r"rnn_step_backward: dh_next must have the same shape as h_next \(5, 4\), got \(4, 5\)"),
        (lambda: rnn_backward(xp.ones((5, 4)), rnn_forward(xp.ones((5, 2, 3)), h_prev, Wx, Wh)[1]), r"rnn_backward: dh must have 3 dimensions \(N, T, H\), got shape \(5, 4\)"),
        (lambda: rnn_backward(xp.ones((5, 3, 4)), rnn_forward(xp.ones((5, 2, 3)), h_prev, Wx, Wh)[1]), r"rnn_backward: dh must have shape \(5, 2, 4\) = \(N, T, H\), the shape of rnn_forward's h, got \(5, 3, 4\)"),
        (lambda: temporal_dense_forward(xp.ones((5, 2, 3)), xp.ones((5, 2))), r"temporal_dense_forward: Wy must have shape \(4, \?\) = \(H \+ 1, K\) with H = 3 from h .*got \(5, 2\)"),
        (lambda: temporal_dense_backward(xp.ones((5, 2, 3)), temporal_dense_forward(xp.ones((5, 2, 3)), xp.ones((4, 2)))[1]), r"temporal_dense_backward: dout must have shape \(5, 2, 2\) = \(N, T, K\).*got \(5, 2, 3\)"),
    ]
    for call, message in cases:
        with pytest.raises(ShapeError, match=message):
            call()
    with pytest.raises(TypeError, match=r"rnn_step_forward: x must be a floating-point array .* got dtype int64"):
        rnn_step_forward(xp.ones((5, 3), dtype=xp.int64), h_prev, Wx, Wh)


def test_bad_targets_are_described(xp):
    params = init_rnn(3, 4, 2, np.random.default_rng(0), backend=xp.__name__)
    x = xp.ones((5, 6, 3))
    with pytest.raises(ShapeError, match=r"rnn_loss: y must have shape \(5, 6, 2\) = \(N, T, K\) \(K = 2 outputs, from Wy\), or \(5, 6\) integer labels .*got shape \(5, 6, 3\)"):
        rnn_loss(params, x, xp.ones((5, 6, 3)))
    with pytest.raises(ShapeError, match=r"rnn_loss: y must have shape \(5, 2\) = \(N, K\) .*got shape \(5, 6, 2\)"):
        rnn_loss(params, x, xp.ones((5, 6, 2)), last_only=True)
    with pytest.raises(ShapeError, match=r"rnn_loss: y must have shape \(5, 2\) = \(N, K\) .*\(5,\) integer labels.*got shape \(5,\) of dtype float64"):
        rnn_loss(params, x, xp.ones(5), last_only=True)
    with pytest.raises(ShapeError, match=r"rnn_loss: Wy must have shape \(5, 2\) = \(H \+ 1, K\) with H = 4 from Wh .*got \(4, 2\)"):
        rnn_loss([params[0], params[1], xp.ones((4, 2))], x, xp.ones((5, 6, 2)))
    with pytest.raises(ValueError, match=r"rnn_loss: params must be \[Wx, Wh, Wy\], got 2 arrays"):
        rnn_loss(params[:2], x, xp.ones((5, 6, 2)))


# ---------------------------------------------------------------------------------------------
# Learning.


def test_rnn_learns_to_continue_a_sine_wave(xp):
    """Predict x_{t+1} of a sine wave with a random phase and frequency from x_0..x_t: the state must
    carry the phase. From step 1 on (step 0 has seen one sample, too few to tell the phase), the mean
    squared error falls below 0.01, where copying x_t scores about 0.18."""
    rng = np.random.default_rng(0)
    n, t = 64, 12
    phase, freq = rng.uniform(0, 2 * np.pi, size=(n, 1)), rng.uniform(0.4, 0.8, size=(n, 1))
    wave = np.sin(phase + freq * np.arange(t + 1))[:, :, None]
    x, y = xp.asarray(wave[:, :-1]), xp.asarray(wave[:, 1:])
    params = init_rnn(1, 16, 1, rng, backend=xp.__name__)
    history = train(params, rnn_loss, x, y, Adam(params, lr=0.02), epochs=300, progress=False)
    h, _ = rnn_forward(x, xp.zeros((n, 16)), params[0], params[1])
    y_hat, _ = temporal_dense_forward(h, params[2])
    error, copying = float(((y_hat - y)[:, 1:] ** 2).mean()), float(((x - y)[:, 1:] ** 2).mean())
    assert copying > 0.15 and error < 0.01, (error, copying, history.epoch_loss[::50])


def test_rnn_learns_the_sign_of_a_sum_with_a_last_step_loss(xp):
    """Label = 1 when the sum of 7 random +-1 inputs is positive, read off the last state only.
    Trained with truncated BPTT (k = 7 = T: the whole sequence) to at least 95% accuracy."""
    rng = np.random.default_rng(1)
    n, t = 256, 7
    x = xp.asarray(rng.choice([-1.0, 1.0], size=(n, t, 1)))
    y = xp.asarray((to_host(x).sum(axis=(1, 2)) > 0).astype(np.int64))
    params = init_rnn(1, 8, 2, rng, backend=xp.__name__)
    loss_and_grads = functools.partial(rnn_loss, loss="softmax_cross_entropy", last_only=True, truncate=t)
    train(params, loss_and_grads, x, y, Adam(params, lr=0.05), epochs=60, batch_size=64, rng=np.random.default_rng(0), progress=False)
    h, _ = rnn_forward(x, xp.zeros((n, 8)), params[0], params[1])
    logits = h[:, -1] @ params[2][:-1] + params[2][-1]
    accuracy = float((logits.argmax(axis=1) == y).mean())
    assert accuracy >= 0.95, accuracy
