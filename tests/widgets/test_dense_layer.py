"""The lesson 3 widgets: the numbers on their status lines, computed here from the formulas."""
import re

import ipywidgets as widgets
import numpy as np
import pytest

from backprop_ref.widgets import dense_layer


def _numbers(status, name):
    """The number after `name` in the part of the status line after the controls' readouts."""
    drawn = status.split(" | ", 1)[1]
    return float(re.search(re.escape(name) + r"\s*=?\s*(-?[\d.]+)", drawn).group(1))


def _accuracy(w1, w2, b):
    x, y = dense_layer.blobs()
    a = 1 / (1 + np.exp(-(w1 * x[:, 0] + w2 * x[:, 1] + b)))
    return np.mean((a > 0.5) == (y == 1))


def test_the_first_control_is_a_slider():
    for make in (dense_layer.decision_line, dense_layer.activation_slopes):
        assert isinstance(next(iter(make().controls.values())), widgets.FloatSlider)


def test_decision_line_states_its_distance_from_the_origin_and_its_accuracy():
    w = dense_layer.decision_line()
    w.controls["w1"].value, w.controls["w2"].value, w.controls["b"].value = 0.5, 1.5, -2.0
    status = w.status.value
    assert status.startswith("w1 = 0.50, w2 = 1.50, b = -2.00, bias_unit = True | ")
    assert _numbers(status, "distance from origin") == pytest.approx(2.0 / np.hypot(0.5, 1.5), abs=0.005)
    assert _numbers(status, "accuracy") == pytest.approx(100 * _accuracy(0.5, 1.5, -2.0), abs=0.5)


def test_without_the_constant_1_unit_the_line_is_pinned_to_the_origin():
    w = dense_layer.decision_line()
    w.controls["bias_unit"].value = False
    w.controls["w1"].value, w.controls["w2"].value = 1.0, -0.4
    status = w.status.value
    assert "pinned to the origin" in status and "distance 0.00" in status
    assert w.controls["b"].disabled
    assert _numbers(status, "accuracy") == pytest.approx(100 * _accuracy(1.0, -0.4, 0.0), abs=0.5)
    w.controls["b"].value = 4.0  # b is ignored: the same line, the same accuracy
    assert w.status.value.split(" | ")[1] == status.split(" | ")[1]
    w.controls["bias_unit"].value = True
    assert not w.controls["b"].disabled
    assert _numbers(w.status.value, "distance from origin") == pytest.approx(4.0 / np.hypot(1.0, -0.4), abs=0.005)


def test_the_classes_need_the_bias():
    """No line through the origin separates the two classes; the default line with its bias does."""
    through_origin = max(_accuracy(np.cos(t), np.sin(t), 0.0) for t in np.linspace(0, 2 * np.pi, 361))
    assert through_origin < 0.8
    assert _accuracy(1.0, 1.0, -3.0) == 1.0


def test_decision_line_opens_unsolved_with_the_bias_left_to_find():
    """The learner opens the widget to separate the classes: it must not open with them separated."""
    w = dense_layer.decision_line()
    values = {name: control.value for name, control in w.controls.items()}
    assert values["bias_unit"] and not w.controls["b"].disabled
    assert _numbers(w.status.value, "accuracy") <= 75
    assert _accuracy(values["w1"], values["w2"], values["b"]) <= 0.75
    w.controls["b"].value = -3.0  # the move the lesson asks for solves it
    assert _numbers(w.status.value, "accuracy") == 100


def test_no_line_when_both_weights_are_zero():
    w = dense_layer.decision_line()
    w.controls["b"].value = -3.0
    w.controls["w1"].value, w.controls["w2"].value = 0.0, 0.0
    assert "no line" in w.status.value
    assert _numbers(w.status.value, "a") == pytest.approx(1 / (1 + np.exp(3.0)), abs=0.005)  # sigmoid(b), b = -3
    assert dense_layer.distance_from_origin(dense_layer.unit_weights(0.0, 0.0, 1.0)) is None


@pytest.mark.parametrize("name, a, slope", [
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    ("tanh", np.tanh, lambda z: 1 / np.cosh(z) ** 2),
    ("relu", lambda z: max(z, 0.0), lambda z: float(z > 0)),
])
def test_activation_slopes_shows_a_and_its_derivative(name, a, slope):
    w = dense_layer.activation_slopes()
    w.controls["activation"].value = name
    for z in (-1.3, 0.7, 2.4):
        w.controls["z"].value = z
        status = w.status.value
        assert status.startswith(f"z = {z:.2f}, activation = {name} | ")
        assert _numbers(status, "a") == pytest.approx(a(z), abs=0.0005)
        assert _numbers(status, "da/dz") == pytest.approx(slope(z), abs=0.0005)
        assert _numbers(status, "finite difference") == pytest.approx(slope(z), abs=0.0005)


def test_relu_at_its_kink():
    w = dense_layer.activation_slopes()
    w.controls["activation"].value = "relu"
    w.controls["z"].value = 0.3
    for _ in range(3):  # steps of 0.1 down to 0 leave float dust; the widget still sees the kink
        w.controls["z"].value = w.controls["z"].value - 0.1
    status = w.status.value
    assert "kink" in status
    assert _numbers(status, "da/dz") == 0.0
    assert _numbers(status, "finite difference") == pytest.approx(0.5)
