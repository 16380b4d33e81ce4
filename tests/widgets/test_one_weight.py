"""The lesson 1 widgets: the numbers on their status lines, computed here from the formulas."""
import re

import ipywidgets as widgets
import numpy as np
import pytest

from backprop_ref.widgets import one_weight


def _number(status, name):
    """The number after `name` in the part of the status line after the controls' readouts."""
    drawn = status.split(" | ", 1)[1]
    return float(re.search(re.escape(name) + r"\s*=?\s*(-?[\d.]+(?:e[+-]?\d+)?)", drawn).group(1))


def _E(w):
    x, t = one_weight.toy_data()
    return sum((w * xn - tn) ** 2 for xn, tn in zip(x, t)) / (2 * len(x))


def _descend(w, lr, steps):
    x, t = one_weight.toy_data()
    ws = [w]
    for _ in range(steps):
        w -= lr * sum((w * xn - tn) * xn for xn, tn in zip(x, t)) / len(x)
        ws.append(w)
    return ws


def test_the_first_control_is_a_slider_that_moves_something():
    for make in (one_weight.error_explorer, one_weight.descent_explorer):
        first = next(iter(make().controls.values()))
        assert isinstance(first, widgets.FloatSlider) and first.readout_format == ".2f"


def test_toy_data_has_its_best_weight_inside_the_slider_range():
    x, t = one_weight.toy_data()
    assert x.shape == t.shape == (12,) and x.dtype == np.float64
    assert one_weight.W_RANGE[0] + 1 < one_weight.best_weight(x, t) < one_weight.W_RANGE[1] - 1


def test_error_explorer_states_E_and_whether_it_went_up_or_down():
    w = one_weight.error_explorer()
    status = w.status.value
    assert status.startswith("w = 3.00, h = 0.50 | ") and "from" not in status  # no previous w yet
    assert _number(status, "E") == pytest.approx(_E(3.0), abs=1e-4)
    w.controls["w"].value = 3.1  # away from the valley at ~1.8: E goes up
    status = w.status.value
    assert status.startswith("w = 3.10, h = 0.50 | ")
    assert _number(status, "E") == pytest.approx(_E(3.1), abs=1e-4)
    assert f"(up from {_E(3.0):.4f} at w = 3.00)" in status
    w.controls["w"].value = 1.5
    assert f"(down from {_E(3.1):.4f} at w = 3.10)" in w.status.value


def test_the_finite_difference_approaches_the_derivative_as_h_shrinks():
    x, t = one_weight.toy_data()
    w = one_weight.error_explorer()
    w.controls["w"].value = 0.5
    derivative = np.mean((0.5 * x - t) * x)
    gaps = []
    for h in (1.0, 0.5, 0.1, 0.01):
        w.controls["h"].value = h
        status = w.status.value
        fd = (_E(0.5 + h) - _E(0.5)) / h
        assert _number(status, "finite difference") == pytest.approx(fd, abs=1e-4)
        assert _number(status, "derivative") == pytest.approx(derivative, abs=1e-4)
        assert _number(status, "gap") == pytest.approx(h * np.mean(x * x) / 2, abs=1e-4)
        gaps.append(_number(status, "gap"))
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 0.02
    assert "from" not in w.status.value  # only h moved: E is where it was


def test_reference_gradient_descent_matches_the_update_rule():
    x, t = one_weight.toy_data()
    ws = one_weight.reference_gradient_descent(4.5, x, t, 0.3, 7)
    assert ws.shape == (8,) and ws[0] == 4.5
    np.testing.assert_allclose(ws, _descend(4.5, 0.3, 7), rtol=1e-12)


@pytest.mark.parametrize("lr, regime", [(0.02, "crawls"), (0.3, "converges"), (0.8, "oscillates, converging"),
                                        (1.3, "oscillates, diverging")])
def test_descent_regimes_follow_lr_times_the_curvature(lr, regime):
    x, t = one_weight.toy_data()
    assert one_weight.descent_regime(lr, x) == regime
    gaps = np.array(_descend(4.5, lr, 30)) - one_weight.best_weight(x, t)
    assert (abs(gaps[-1]) < abs(gaps[0])) == ("diverging" not in regime)
    assert (abs(gaps[-1]) > 0.1 * abs(gaps[0])) == (regime == "crawls" or "diverging" in regime)
    assert bool(np.all(np.sign(gaps[1:]) != np.sign(gaps[:-1]))) == ("oscillates" in regime)  # across the valley


def test_descent_explorer_runs_the_learners_function_and_reports_the_path():
    calls = []

    def yours(w, x, t, lr, steps):
        calls.append((w, lr, steps))
        return _descend(w, lr, steps)  # a list, as a learner's loop builds it

    d = one_weight.descent_explorer(yours)
    d.controls["lr"].value = 0.25
    d.controls["steps"].value = 6
    status = d.status.value
    assert status.startswith("lr = 0.25, steps = 6 | ") and "using your gradient_descent" in status
    assert calls[-1] == (4.5, 0.25, 6)
    ws = _descend(4.5, 0.25, 6)
    assert re.search(r"w: 4\.500 -> ([-\d.]+)", status).group(1) == f"{ws[-1]:.4g}"
    assert re.search(r"E: [\d.]+ -> ([-\d.e+]+)", status).group(1) == f"{_E(ws[-1]):.4g}"
    x, _ = one_weight.toy_data()
    assert f"lr = 2 / mean(x**2) = {2 / np.mean(x * x):.2f}" in status


def test_descent_explorer_falls_back_to_the_reference_and_says_so():
    def unwritten(w, x, t, lr, steps):
        raise NotImplementedError()

    for d in (one_weight.descent_explorer(unwritten), one_weight.descent_explorer()):
        d.controls["lr"].value = 0.9
        status = d.status.value
        assert "using the reference gradient_descent" in status and "write yours" in status
        assert re.search(r"w: 4\.500 -> ([-\d.]+)", status).group(1) == f"{_descend(4.5, 0.9, 10)[-1]:.4g}"
        assert "oscillates, converging" in status


def test_a_diverging_path_is_reported_and_still_drawn():
    d = one_weight.descent_explorer()
    d.controls["lr"].value = 1.5
    d.controls["steps"].value = 40
    status = d.status.value
    assert "oscillates, diverging" in status
    last = float(re.search(r"w: 4\.500 -> (\S+),", status).group(1))
    assert abs(last) > 1e6 and last == pytest.approx(_descend(4.5, 1.5, 40)[-1], rel=1e-3)
