"""Lesson 10 widget: your backprop(root), replayed write by write on a small expression graph.

    a = x * y,   b = a + x,   c = tanh(b),   f = c * a

x and a are each used twice, so their grads come from two places and must add up. The graph is built from
engine Nodes whose class records every write to ``.grad``; the learner's backprop runs once per drawing, and
the "step" slider shows the grads after its first k writes (zeroing, the seed, then one += per edge).
"""
import ipywidgets as widgets
from matplotlib.patches import Circle

from ..engine import Node
from ..engine import backprop as reference_backprop
from ._base import Explorer, learner_or_reference

# where each node sits, and how it is labelled
_LAYOUT = {"x": (0.0, 2.2), "y": (0.0, 0.0), "a": (2.4, 0.6), "b": (4.6, 2.2), "c": (6.8, 2.2), "f": (8.6, 0.9)}
_FORMULA = {"x": "x", "y": "y", "a": "a = x·y", "b": "b = a + x", "c": "c = tanh b", "f": "f = c·a"}


class _Recording(Node):
    """An engine Node that notes every write to its grad in its graph's log: (node, new grad)."""

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        log = self.__dict__.get("_log")
        if name == "grad" and log is not None:
            try:
                log.append((self, float(value)))
            except (TypeError, ValueError):  # not a number: shown as such
                log.append((self, float("nan")))


def build_graph(x, y):
    """{name: Node} of the widget's graph at inputs x, y, every node recording its grad's writes into one log."""
    X, Y = Node(x), Node(y)
    a = X * Y
    b = a + X
    c = b.tanh()
    f = c * a
    nodes = {"x": X, "y": Y, "a": a, "b": b, "c": c, "f": f}
    log = []
    for node in nodes.values():
        node.__class__ = _Recording
        object.__setattr__(node, "_log", log)
    return nodes, log


def replay(nodes, log, k):
    """Every node's grad after the first k writes of the log (the graph is built with every grad 0)."""
    name_of = {id(n): name for name, n in nodes.items()}
    grads = {name: 0.0 for name in nodes}
    for node, value in log[:k]:
        grads[name_of.get(id(node), "?")] = value
    return grads


def _draw(ax, nodes, grads, just):
    r = 0.42
    for name, node in nodes.items():
        for parent, local in zip(node.parents, node.local_grads):
            pname = next(n for n, v in nodes.items() if v is parent)
            (xa, ya), (xb, yb) = _LAYOUT[pname], _LAYOUT[name]
            twice = sum(p is parent for p in node.parents) > 1
            ax.annotate("", xy=(xb, yb), xytext=(xa, ya), arrowprops=dict(
                arrowstyle="-|>", color="0.45", lw=1, shrinkA=16, shrinkB=16))
            ax.text((xa + xb) / 2, (ya + yb) / 2 + 0.08, f"{local:.2f}" + (" (x2)" if twice else ""), ha="center",
                    fontsize=8, color="tab:purple", bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
    for name, node in nodes.items():
        cx, cy = _LAYOUT[name]
        ax.add_patch(Circle((cx, cy), r, fc="#ffd9a8" if name == just else "#dde8f5" if not node.parents else "#f5ecd0",
                            ec="tab:red" if name == just else "0.3", lw=2 if name == just else 1))
        ax.text(cx, cy, _FORMULA[name].split(" = ")[-1] if node.parents else name, ha="center", va="center", fontsize=9)
        ax.text(cx, cy + r + 0.06, f"{name} = {node.value:.3f}", ha="center", va="bottom", fontsize=9)
        ax.text(cx, cy - r - 0.06, f"grad {grads[name]:.3f}", ha="center", va="top", fontsize=9, color="tab:red")
    ax.set(xlim=(-0.8, 9.4), ylim=(-0.9, 3.2), aspect="equal")
    ax.axis("off")


def backward_stepper(backprop, step=9, x=0.5, y=-1.2):
    """Your backprop(root) on f = tanh(x y + x) * (x y), replayed one write to a grad at a time ("step"), for
    inputs set by the x and y sliders. Black: each node's value; purple: each edge's local gradient; red: each
    node's grad after that many writes (the node written last is highlighted)."""
    backward = learner_or_reference(backprop, reference_backprop, "backprop")

    def draw(fig, step, x, y):
        nodes, log = build_graph(x, y)
        del log[:]  # building the graph set every grad to 0: that is where the replay starts
        backward(nodes["f"])
        n = len(log)
        if controls["step"].max != n:
            controls["step"].max = max(n, 1)
        k = min(step, n)
        grads = replay(nodes, log, k)
        final = replay(nodes, log, n)
        just = replay_name(nodes, log, k)
        ax = fig.add_axes([0.01, 0.02, 0.98, 0.86])
        _draw(ax, nodes, grads, just)
        fig.suptitle(f"after {k} of {n} writes to a grad ({backward.note})", fontsize=10)
        last = f"{just}.grad = {grads[just]:.4f}" if just else "nothing written yet"
        return (f"f = {nodes['f'].value:.4f}, df/dx = {final['x']:.4f}, df/dy = {final['y']:.4f} (all {n} writes); "
                f"write {k}: {last}; x.grad = {grads['x']:.4f}, y.grad = {grads['y']:.4f}")

    def slider(name, value):
        return widgets.FloatSlider(value=value, min=-2.0, max=2.0, step=0.1, description=name,
                                   readout_format=".2f", continuous_update=False)

    controls = {"step": widgets.IntSlider(value=step, min=0, max=14, description="step", continuous_update=False),
                "x": slider("x", x), "y": slider("y", y)}
    return Explorer(draw, controls, figsize=(9, 3.6), css_class="bp-backward-stepper")


def replay_name(nodes, log, k):
    """The name of the node written at write k (1-based), or "" before the first."""
    if k == 0:
        return ""
    node = log[k - 1][0]
    return next((name for name, n in nodes.items() if n is node), "?")
