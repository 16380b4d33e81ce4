"""The lesson 9 widgets: the relaxations' iteration counts and the gap between BPTT through k steps and fixed-point
backprop, recomputed here with plain loops and a linear solve (not with backprop_ref's relaxation)."""
import re

import ipywidgets as widgets
import numpy as np
import pytest

from backprop_ref.widgets import fixed_point


def _relaxed(step, v, tol, max_iter):
    """(v, iterations, settled): v = step(v) until max|change| < tol, at most max_iter times."""
    for k in range(1, max_iter + 1):
        new = step(v)
        change = np.abs(new - v).max()
        v = new
        if change < tol:
            return v, k, True
    return v, max_iter, False


def iterations(scale, tol=1e-8, max_iter=300):
    """(forward iterations, settled), (adjoint iterations, settled) or None: the residuals widget's layer at scale."""
    x, W1, U, ds = fixed_point.residual_problem()
    W, u = scale * W1, x @ U[:-1] + U[-1]
    s, k, settled = _relaxed(lambda s: np.tanh(s @ W + u), np.zeros(ds.shape), tol, max_iter)
    if not settled:
        return (k, False), None
    fprime = 1 - np.tanh(s @ W + u) ** 2
    _, j, adjoint_settled = _relaxed(lambda lam: ds + (lam * fprime) @ W.T, np.zeros(ds.shape), tol, max_iter)
    return (k, True), (j, adjoint_settled)


def _said(counted):
    k, settled = counted
    return f"settled in {k} iterations" if settled else f"did not settle in {k} iterations"


@pytest.mark.parametrize("scale", [0.3, 0.6, 0.9, 1.0, 1.6])
def test_the_residuals_status_gives_each_relaxations_iterations(scale):
    explorer = fixed_point.residuals()
    explorer.controls["scale"].value = scale
    forward, adjoint = iterations(scale)
    backward = "not run (no fixed point)" if adjoint is None else _said(adjoint)
    assert explorer.status.value == f"scale = {scale:.2f} | forward {_said(forward)}, backward {backward}"


def test_the_scale_slider_comes_first_and_goes_from_a_contraction_past_1():
    explorer = fixed_point.residuals()
    slider = next(iter(explorer.controls.values()))
    assert isinstance(slider, widgets.FloatSlider) and slider.min <= 0.3 and slider.max >= 1.5
    _, W1, _, _ = fixed_point.residual_problem()
    assert np.linalg.norm(W1, 2) == pytest.approx(1.0)
    assert iterations(0.3)[0][1] and not iterations(1.2)[0][1]  # it settles below 1 and not past it


def fixed_point_dW(ds, x, W, U, s):
    """(dx, dW, dU) through the fixed point, by a linear solve per sample: (I - W diag(f')) lam_n = ds_n."""
    fprime = 1 - s**2
    H = W.shape[0]
    lam = np.stack([np.linalg.solve(np.eye(H) - W * f, d) for f, d in zip(fprime, ds)])
    delta = lam * fprime
    return delta @ U[:-1].T, s.T @ delta, np.vstack([x.T @ delta, delta.sum(axis=0)])


def bptt_dW(x, W, U, ds, k):
    """dW of sum(ds * s_k), s_k after k relaxation steps from zeros, by walking back through the k steps."""
    u = x @ U[:-1] + U[-1]
    states = [np.zeros(ds.shape)]
    for _ in range(k):
        states.append(np.tanh(states[-1] @ W + u))
    dW, g = np.zeros(W.shape), ds
    for t in range(k, 0, -1):
        dz = g * (1 - states[t] ** 2)
        dW += states[t - 1].T @ dz
        g = dz @ W.T
    return dW


def difference(k, scale):
    x, W1, U, ds = fixed_point.gradient_problem()
    W = scale * W1
    u = x @ U[:-1] + U[-1]
    s, _, _ = _relaxed(lambda s: np.tanh(s @ W + u), np.zeros(ds.shape), 1e-15, 10_000)
    exact = fixed_point_dW(ds, x, W, U, s)[1]
    return np.linalg.norm(bptt_dW(x, W, U, ds, k) - exact) / np.linalg.norm(exact)


def _gap(status):
    m = re.search(r"relative difference of dW at k: (\S+); stored: BPTT k x N x H = (\d+), fixed point N x H = (\d+)$",
                  status)
    assert m, status
    return float(m[1]), int(m[2]), int(m[3])


@pytest.mark.parametrize("k, scale", [(1, 0.8), (10, 0.8), (25, 0.95), (60, 0.5)])
def test_the_bptt_status_gives_the_relative_difference_at_k(k, scale):
    explorer = fixed_point.fixed_point_vs_bptt(fixed_point_dW)
    explorer.controls["scale"].value = scale
    explorer.controls["k"].value = k
    assert explorer.status.value.startswith(f"k = {k}, scale = {scale:.2f} | ")
    gap, bptt, fixed = _gap(explorer.status.value)
    expected = difference(k, scale)
    assert gap == pytest.approx(expected, rel=2e-3, abs=1e-13)  # the status rounds to 3 digits
    N, H = fixed_point.gradient_problem()[3].shape
    assert (bptt, fixed) == (k * N * H, N * H)


def test_bptt_tends_to_the_fixed_point_gradient_as_k_grows():
    gaps = [difference(k, 0.8) for k in (1, 5, 10, 20)]
    assert gaps[0] > 0.1 and all(a > 10 * b for a, b in zip(gaps, gaps[1:])) and gaps[-1] < 1e-8


def test_the_learners_fixed_point_backward_is_used_and_said_so():
    doubled = fixed_point.fixed_point_vs_bptt(lambda *args: tuple(2 * g for g in fixed_point_dW(*args)))
    assert _gap(doubled.status.value)[0] == pytest.approx(0.5, rel=1e-3)  # |g - 2g| / |2g|, BPTT at k = 10 being g
    assert "using your fixed_point_backward" in doubled.children[-1].value
    first = next(iter(doubled.controls.values()))
    assert isinstance(first, widgets.IntSlider) and first.description == "k"


def test_an_unwritten_fixed_point_backward_falls_back_to_the_reference():
    def fixed_point_backward(ds, x, W, U, s):
        raise NotImplementedError

    explorer = fixed_point.fixed_point_vs_bptt(fixed_point_backward)
    assert _gap(explorer.status.value)[0] == pytest.approx(difference(10, 0.8), rel=2e-3)
    assert "using the reference fixed_point_backward" in explorer.children[-1].value


def test_the_reference_relax_keeps_the_contract():
    """reference_relax, which stands in for an unwritten relax in the lesson's training, returns the first settled
    iterate and raises where it does not settle."""
    x, W1, U, _ = fixed_point.residual_problem()
    u = x @ U[:-1] + U[-1]
    s, _, _ = _relaxed(lambda s: np.tanh(s @ (0.5 * W1) + u), np.zeros((x.shape[0], W1.shape[0])), 1e-9, 1000)
    np.testing.assert_allclose(fixed_point.reference_relax(x, 0.5 * W1, U, 1e-9, 1000), s, rtol=0, atol=1e-15)
    with pytest.raises(RuntimeError, match="did not converge"):
        fixed_point.reference_relax(x, 1.5 * W1, U, 1e-9, 100)


def test_nothing_is_computed_in_the_grading_sandbox(monkeypatch):
    monkeypatch.setenv("BACKPROP_SANDBOX", "1")

    def fixed_point_backward(ds, x, W, U, s):
        raise AssertionError("the widget ran fixed_point_backward where no one sees it")

    assert fixed_point.residuals().status.value == ""
    assert fixed_point.fixed_point_vs_bptt(fixed_point_backward).status.value == ""
