"""The lesson 10 widget: the status line's numbers, recomputed from f's formula and central differences."""
import math
import re

import ipywidgets as widgets
import pytest

from backprop_ref.widgets import jacobians


def _number(status, name):
    drawn = status.split(" | ", 1)[1]
    return float(re.search(re.escape(name) + r" = (-?[\d.]+)", drawn).group(1))


def _f(x, y):
    return math.tanh(x * y + x) * x * y


def _central(g, v, h=1e-6):
    return (g(v + h) - g(v - h)) / (2 * h)


def not_written(root):
    raise NotImplementedError


def my_backprop(root):
    """A learner's: post-order with a visited set, then += into each parent."""
    order, seen = [], set()

    def visit(n):
        if id(n) not in seen:
            seen.add(id(n))
            for p in n.parents:
                visit(p)
            order.append(n)

    visit(root)
    for n in order:
        n.grad = 0.0
    root.grad = 1.0
    for n in reversed(order):
        for p, g in zip(n.parents, n.local_grads):
            p.grad += n.grad * g


def test_the_first_control_is_the_step_slider():
    first = next(iter(jacobians.backward_stepper(not_written).controls.values()))
    assert isinstance(first, widgets.IntSlider) and first.description == "step"


@pytest.mark.parametrize("backprop", [not_written, my_backprop])
@pytest.mark.parametrize("x, y", [(0.5, -1.2), (-1.3, 0.7), (2.0, 0.0)])
def test_status_gives_f_and_its_gradients(backprop, x, y):
    w = jacobians.backward_stepper(backprop)
    w.controls["x"].value, w.controls["y"].value = x, y
    status = w.status.value
    assert status.startswith(f"step = 9, x = {x:.2f}, y = {y:.2f} | ")
    assert _number(status, "f") == pytest.approx(_f(x, y), abs=1e-4)
    assert _number(status, "df/dx") == pytest.approx(_central(lambda v: _f(v, y), x), abs=1e-4)
    assert _number(status, "df/dy") == pytest.approx(_central(lambda v: _f(x, v), y), abs=1e-4)


def test_the_steps_replay_the_writes_up_to_the_full_gradient():
    """6 nodes zeroed, the seed, then one += per edge (7 edges): 14 writes; the leaves' grads end at df/dx, df/dy."""
    w = jacobians.backward_stepper(my_backprop)
    assert w.controls["step"].max == 14
    w.controls["step"].value = 0
    assert "nothing written yet" in w.status.value and _number(w.status.value, "x.grad") == 0
    w.controls["step"].value = 7
    assert "write 7: f.grad = 1.0000" in w.status.value  # the seed, after zeroing six nodes
    w.controls["step"].value = 14
    status = w.status.value
    assert _number(status, "x.grad") == pytest.approx(_central(lambda v: _f(v, -1.2), 0.5), abs=1e-4)
    assert _number(status, "y.grad") == pytest.approx(_central(lambda v: _f(0.5, v), -1.2), abs=1e-4)


def test_x_gets_two_writes_that_add_up():
    """x feeds a and b: its grad is written twice, the second time with the sum of both paths."""
    nodes, log = jacobians.build_graph(0.5, -1.2)
    del log[:]
    my_backprop(nodes["f"])
    writes = [v for n, v in log if n is nodes["x"]]
    assert len(writes) == 3 and writes[0] == 0.0 and writes[1] != 0  # zeroed, then once per use
    assert writes[2] == pytest.approx(_central(lambda v: _f(v, -1.2), 0.5), abs=1e-6)
