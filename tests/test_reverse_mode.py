"""The reverse-mode engine: every op's local gradients and backprop's grads against central differences, and
against PyTorch's autograd where it is installed."""
import math

import pytest

from backprop_ref import engine
from backprop_ref.engine import Node


def build(a, b, c, lib):
    """One expression with every op, a used many times (a * a too), in the engine (lib=engine), in floats or in
    torch (any lib with tanh, exp, log and relu)."""
    d = a * a + b * c - a / (c ** 2 + 1.0)
    e = lib.tanh(d) * 2.0 - lib.exp(b * 0.5) + lib.log(c * c + 0.5)
    return e * a + lib.relu(b - 0.3) ** 3 - (-c) + 3.0 / (1.0 + a * a)


class _floats:
    tanh, exp, log = math.tanh, math.exp, math.log

    @staticmethod
    def relu(v):
        return max(v, 0.0)


POINTS = [(0.7, 1.3, -0.4), (-1.1, 0.2, 0.9), (0.3, -0.8, 1.7)]


@pytest.mark.parametrize("point", POINTS)
def test_value_and_grads_match_central_differences(point):
    leaves = [Node(v) for v in point]
    root = build(*leaves, engine)
    assert root.value == pytest.approx(build(*point, _floats), rel=1e-12)
    engine.backprop(root)
    h = 1e-6
    for i, leaf in enumerate(leaves):
        up, down = list(point), list(point)
        up[i] += h
        down[i] -= h
        numeric = (build(*up, _floats) - build(*down, _floats)) / (2 * h)
        assert leaf.grad == pytest.approx(numeric, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("point", POINTS)
def test_grads_match_pytorch_autograd(point):
    torch = pytest.importorskip("torch")
    leaves = [Node(v) for v in point]
    root = build(*leaves, engine)
    engine.backprop(root)
    tensors = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in point]
    out = build(*tensors, torch)
    out.backward()
    assert root.value == pytest.approx(out.item(), rel=1e-12)
    for leaf, t in zip(leaves, tensors):
        assert leaf.grad == pytest.approx(t.grad.item(), rel=1e-10, abs=1e-12)


def test_a_node_used_twice_by_one_op_lists_it_twice_and_gets_both_parts():
    x = Node(3.0)
    y = x * x
    assert y.parents == (x, x) and y.local_grads == (3.0, 3.0)
    engine.backprop(y)
    assert x.grad == 6.0 and y.grad == 1.0


def test_backprop_twice_gives_the_same_grads():
    x = Node(0.5)
    y = (x * x).tanh() + x
    engine.backprop(y)
    first = x.grad
    engine.backprop(y)
    assert x.grad == first


def test_the_order_puts_parents_first_and_each_node_once():
    x = Node(1.0)
    a = x * 2.0
    b = a + x
    c = a * b
    order = engine.topological_order(c)
    assert len(order) == len({id(n) for n in order}) == 5 and order[-1] is c
    position = {id(n): i for i, n in enumerate(order)}
    assert all(position[id(p)] < position[id(n)] for n in order for p in n.parents)


def test_a_deep_chain_needs_no_recursion():
    x = Node(0.1)
    y = x
    for _ in range(5_000):  # deeper than Python's recursion limit
        y = y + 0.0
    engine.backprop(y)
    assert x.grad == 1.0


def test_bad_inputs_say_what_was_expected():
    with pytest.raises(TypeError, match="Nodes and numbers, got str"):
        Node(1.0) + "2"
    with pytest.raises(TypeError, match="power must be a number"):
        Node(1.0) ** Node(2.0)
    with pytest.raises(ValueError, match="one local gradient per parent"):
        Node(1.0, parents=(Node(2.0),))
