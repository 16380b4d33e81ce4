"""The lesson 2 widget: the graph's numbers on the status line, computed here from the formulas."""
import math
import re

import ipywidgets as widgets
import numpy as np
import pytest

from backprop_ref.gradcheck import numerical_gradient
from backprop_ref.widgets import chain_rule


def _number(status, name):
    """The number after `name = ` in the part of the status line after the controls' readouts."""
    drawn = status.split(" | ", 1)[1]
    return float(re.search(re.escape(name) + r" = (-?[\d.]+)", drawn).group(1))


def _f(x, y, z):
    return x / (1 + math.exp(-(x * y + z)))


def _central(g, v, h=1e-6):
    return (g(v + h) - g(v - h)) / (2 * h)


def test_the_first_control_is_a_slider():
    first = next(iter(chain_rule.graph_explorer().controls.values()))
    assert isinstance(first, widgets.FloatSlider) and first.readout_format == ".2f"


@pytest.mark.parametrize("x, y, z", [(1.0, -2.0, 0.5), (-1.3, 0.7, 2.2), (0.0, 3.0, -3.0), (2.5, 2.5, 0.0)])
def test_status_gives_f_and_its_gradients(x, y, z):
    w = chain_rule.graph_explorer()
    w.controls["x"].value, w.controls["y"].value, w.controls["z"].value = x, y, z
    status = w.status.value
    assert status.startswith(f"x = {x:.2f}, y = {y:.2f}, z = {z:.2f}, backward = False | ")
    assert _number(status, "f") == pytest.approx(_f(x, y, z), abs=1e-4)
    assert _number(status, "df/dx") == pytest.approx(_central(lambda v: _f(v, y, z), x), abs=1e-4)
    assert _number(status, "df/dy") == pytest.approx(_central(lambda v: _f(x, v, z), y), abs=1e-4)
    assert _number(status, "df/dz") == pytest.approx(_central(lambda v: _f(x, y, v), z), abs=1e-4)


def test_x_gets_its_gradient_from_two_paths_added():
    values, local, grads, paths = chain_rule.graph_values(1.0, -2.0, 0.5)
    s = 1 / (1 + math.exp(1.5))
    assert paths["directly"] == pytest.approx(s) and paths["through p"] == pytest.approx(s * (1 - s) * -2.0)
    assert grads["x"] == pytest.approx(paths["directly"] + paths["through p"])
    status = chain_rule.graph_explorer().status.value
    assert f"({paths['through p']:.3f} through p + {paths['directly']:.3f} directly)" in status


def test_every_node_gradient_is_the_next_ones_times_the_local_gradient():
    values, local, grads, _ = chain_rule.graph_values(0.7, 1.2, -0.4)
    assert values["f"] == pytest.approx(_f(0.7, 1.2, -0.4))
    assert local["q", "s"] == pytest.approx(values["s"] * (1 - values["s"]))
    for (a, b), g in local.items():
        if a != "x":  # x alone has two edges out
            assert grads[a] == pytest.approx(grads[b] * g)
    assert grads["x"] == pytest.approx(grads["p"] * local["x", "p"] + grads["f"] * local["x", "f"])


def test_the_backward_checkbox_keeps_the_numbers_and_changes_the_picture():
    w = chain_rule.graph_explorer()
    before = w.status.value
    w.controls["backward"].value = True
    assert w.status.value.replace("backward = True", "backward = False") == before


def test_reference_graph_backward_matches_central_differences():
    rng = np.random.default_rng(0)
    x, y, z, dout = (rng.normal(size=(2, 3)) for _ in range(4))
    dx, dy, dz = chain_rule.graph_backward_reference(x, y, z, dout)
    forward = chain_rule.graph_forward
    np.testing.assert_allclose(dx, numerical_gradient(lambda v: forward(v, y, z), x.copy(), dout), atol=1e-8)
    np.testing.assert_allclose(dy, numerical_gradient(lambda v: forward(x, v, z), y.copy(), dout), atol=1e-8)
    np.testing.assert_allclose(dz, numerical_gradient(lambda v: forward(x, y, v), z.copy(), dout), atol=1e-8)
