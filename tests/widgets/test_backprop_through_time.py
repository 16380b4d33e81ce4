"""The lesson 8 widgets: the numbers on their status lines, recomputed here by central differences of the RNN's
forward pass written out from its formula, h_t = tanh([x_t, 1] Wx + h_{t-1} Wh)."""
import re

import ipywidgets as widgets
import numpy as np
import pytest

from backprop_ref.widgets import backprop_through_time as lesson
from test_rnn import windowed_states

EPS = 1e-6


def _unwritten(*args):
    raise NotImplementedError()


def _number(status, name):
    """The number after `name = ` (or `name `) in the part of the status line after the controls' readouts."""
    drawn = status.split(" | ", 1)[1]
    return float(re.search(re.escape(name) + r" =? ?(-?[\d.]+(?:e[-+]?\d+)?)", drawn).group(1))


def _states(x, h0, Wx, Wh, start=0):
    """h (N, T - start, H): the states from step start on, h0 the state before step start."""
    h, out = h0, []
    for t in range(start, x.shape[1]):
        h = np.tanh(x[:, t] @ Wx[:-1] + Wx[-1] + h @ Wh)
        out.append(h)
    return np.stack(out, axis=1)


def _last_state_gradient_norm(scale, t, T=lesson.T_NORMS):
    """||dL/dh_t|| for L = g . h_{T-1}: central differences of the steps after t, run from a perturbed h_t."""
    x, h0, Wx, Wh, g = lesson.network(scale, T)
    h_t = _states(x, h0, Wx, Wh)[:, t]
    if t == T - 1:
        return np.linalg.norm(g)
    grad = np.zeros(h_t.shape[1])
    for j in range(len(grad)):
        e = np.zeros_like(h_t)
        e[0, j] = EPS
        up, down = (_states(x, h_t + s * e, Wx, Wh, start=t + 1)[0, -1] @ g for s in (1, -1))
        grad[j] = (up - down) / (2 * EPS)
    return np.linalg.norm(grad)


def test_every_first_control_is_a_slider():
    for explorer in (lesson.gradient_norms_explorer(), lesson.influence_explorer(), lesson.window_explorer(_unwritten)):
        assert isinstance(next(iter(explorer.controls.values())), (widgets.FloatSlider, widgets.IntSlider))


def test_the_network_s_Wh_has_the_spectral_radius_of_the_slider():
    _, _, _, Wh, g = lesson.network(1.3, 5)
    np.testing.assert_allclose(np.linalg.svd(Wh, compute_uv=False), 1.3)
    assert np.linalg.norm(g) == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.5])
def test_gradient_norms_status_gives_the_first_and_last_norms(scale):
    w = lesson.gradient_norms_explorer()
    w.controls["scale"].value = scale
    status = w.status.value
    assert status.startswith(f"scale = {scale:.2f} | ")
    first = _last_state_gradient_norm(scale, 0)
    assert _number(status, "||dL/dh_0||") == pytest.approx(first, rel=1e-3, abs=1e-9)
    assert _number(status, f"||dL/dh_{lesson.T_NORMS - 1}||") == pytest.approx(1.0, rel=1e-3)
    assert _number(status, "ratio") == pytest.approx(first, rel=1e-3, abs=1e-9)


def test_gradients_vanish_below_one_and_explode_above():
    assert _last_state_gradient_norm(0.7, 0) < 1e-3 < 10 < _last_state_gradient_norm(1.5, 0)


def _jacobian_norm(scale, t, s, T=lesson.T_INFLUENCE):
    """|dh_t/dx_s| by central differences of the forward pass (D = 1: one input per step)."""
    x, h0, Wx, Wh, _ = lesson.network(scale, T)
    e = np.zeros_like(x)
    e[0, s, 0] = EPS
    up, down = (_states(x + sign * e, h0, Wx, Wh)[0, t] for sign in (1, -1))
    return np.linalg.norm((up - down) / (2 * EPS))


@pytest.mark.parametrize("scale", [0.6, 1.0, 1.45])
def test_influence_status_gives_the_jacobian_norms(scale):
    w = lesson.influence_explorer()
    w.controls["scale"].value = scale
    status, last = w.status.value, lesson.T_INFLUENCE - 1
    assert status.startswith(f"scale = {scale:.2f} | ")
    assert _number(status, f"|dh_{last}/dx_{last}|") == pytest.approx(_jacobian_norm(scale, last, last), rel=1e-4)
    assert _number(status, f"|dh_{last}/dx_0|") == pytest.approx(_jacobian_norm(scale, last, 0), rel=1e-3, abs=1e-9)
    assert _number(status, "largest above the diagonal") == 0


def test_the_heatmap_is_the_jacobian_norm_everywhere_and_the_future_does_not_move_the_past():
    J = lesson.influence(1.2, T=6)
    expected = np.array([[_jacobian_norm(1.2, t, s, T=6) for s in range(6)] for t in range(6)])
    np.testing.assert_allclose(J, expected, rtol=1e-5, atol=1e-9)
    assert not np.triu(expected, k=1).any()


def _gradients(forward, dh, inputs):
    """Central differences of sum(dh * forward(**inputs)) for every input."""
    grads = []
    for name, value in inputs.items():
        grad = np.zeros(value.shape)
        for i in np.ndindex(value.shape):
            e = np.zeros(value.shape)
            e[i] = EPS
            up, down = (np.sum(dh * forward(**dict(inputs, **{name: value + sign * e}))) for sign in (1, -1))
            grad[i] = (up - down) / (2 * EPS)
        grads.append(grad)
    return grads


def _rel(a, b):
    a, b = (np.concatenate([np.ravel(v) for v in grads]) for grads in (a, b))
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("k", [1, 4, lesson.T_WINDOW])
def test_window_status_compares_truncated_full_and_windowed_gradients(k):
    dh, x, h0, Wx, Wh = lesson.window_problem()
    inputs = {"x": x, "h0": h0, "Wx": Wx, "Wh": Wh}
    full = _gradients(lambda x, h0, Wx, Wh: _states(x, h0, Wx, Wh), dh, inputs)
    frozen = list(_states(x, h0, Wx, Wh).transpose(1, 0, 2))  # the states the windows start from, held constant
    windowed = _gradients(lambda x, h0, Wx, Wh: np.stack(windowed_states(np.tanh, x, h0, Wx, Wh, k, frozen), axis=1),
                          dh, inputs)
    w = lesson.window_explorer(_unwritten)  # the reference's truncated BPTT
    w.controls["k"].value = k
    status = w.status.value
    assert status.startswith(f"k = {k} | ")
    assert _number(status, "truncated vs full: relative error") == pytest.approx(_rel(windowed, full), rel=1e-3, abs=1e-8)
    assert _number(status, "windowed loss:") < 1e-6


def test_window_explorer_runs_the_learner_s_function_and_says_so():
    def wrong(dh, x, h0, Wx, Wh, h, k):  # full BPTT's shapes, all zeros
        return np.zeros(x.shape), np.zeros(h0.shape), np.zeros(Wx.shape), np.zeros(Wh.shape)

    w = lesson.window_explorer(wrong)
    assert _number(w.status.value, "windowed loss:") == pytest.approx(1.0)
    assert w.status.value.endswith("(your truncated_bptt)")


def test_an_unwritten_function_falls_back_to_the_reference_and_says_so():
    w = lesson.window_explorer(_unwritten)
    assert _number(w.status.value, "windowed loss:") < 1e-6
    assert w.status.value.endswith("(the reference's truncated_bptt)")
