"""Lesson 2 widget: the computational graph of f = sigmoid(x * y + z) * x, forward and backward.

Forward: p = x * y,  q = p + z,  s = sigmoid(q),  f = s * x.
Backward, reusing each node's gradient for the nodes before it:
    df/ds = x,  df/dq = df/ds * s * (1 - s),  df/dp = df/dz = df/dq,  df/dy = df/dp * x,
    df/dx = df/dp * y + s     (x reaches f along two paths, and their gradients add).
"""
import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Circle

from .._guard import answer_key
from ..activations import sigmoid_forward
from ._base import Explorer


def graph_forward(x, y, z):
    """f = sigmoid(x * y + z) * x, elementwise; x, y, z, f: the same shape (or numbers)."""
    return sigmoid_forward(np.asarray(x * y + z, dtype=np.float64))[0] * x


@answer_key
def graph_backward_reference(x, y, z, dout):
    """(dx, dy, dz) of sum(f * dout), elementwise; every array the shape of x."""
    s = sigmoid_forward(np.asarray(x * y + z, dtype=np.float64))[0]
    dq = dout * x * s * (1 - s)  # through f = s * x, then s = sigmoid(q)
    return dq * y + dout * s, dq * x, dq  # dx: the path through q plus the direct one


@answer_key
def graph_values(x, y, z):
    """Every node's forward value, every edge's local gradient, and every node's df/dnode, for numbers x, y, z.

    Returns (values, local, grads): values and grads by node name (x, y, z, p, q, s, f); local by edge
    (from, to). dx_paths holds df/dx along each of x's two paths.
    """
    p = x * y
    q = p + z
    s = float(sigmoid_forward(np.array(q))[0])
    f = s * x
    values = dict(x=x, y=y, z=z, p=p, q=q, s=s, f=f)
    local = {("x", "p"): y, ("y", "p"): x, ("p", "q"): 1.0, ("z", "q"): 1.0, ("q", "s"): s * (1 - s),
             ("s", "f"): x, ("x", "f"): s}
    grads = {"f": 1.0}
    grads["s"] = grads["f"] * local["s", "f"]
    grads["q"] = grads["s"] * local["q", "s"]
    grads["p"] = grads["q"] * local["p", "q"]
    grads["z"] = grads["q"] * local["z", "q"]
    grads["y"] = grads["p"] * local["y", "p"]
    paths = {"through p": grads["p"] * local["x", "p"], "directly": grads["f"] * local["x", "f"]}
    grads["x"] = sum(paths.values())
    return values, local, grads, paths


# where each node sits, what it shows, and each edge's local gradient written out
_NODES = {"x": (0.0, 2.55, "x"), "y": (0.0, 1.1, "y"), "z": (0.0, 0.0, "z"), "p": (2.2, 1.85, "×"),
          "q": (4.2, 0.9, "+"), "s": (6.0, 0.9, "σ"), "f": (7.8, 1.6, "×")}
_LOCAL_TEXT = {("x", "p"): "y", ("y", "p"): "x", ("p", "q"): "1", ("z", "q"): "1", ("q", "s"): "s(1-s)",
               ("s", "f"): "x", ("x", "f"): "s"}


def _draw_graph(ax, values, local, grads, paths, backward):
    r = 0.28
    for (a, b), g in local.items():
        (xa, ya, _), (xb, yb, _) = _NODES[a], _NODES[b]
        bend = -0.12 if (a, b) == ("x", "f") else 0.0  # x's direct edge to f arcs over the rest
        ax.annotate("", xy=(xb, yb), xytext=(xa, ya),
                    arrowprops=dict(arrowstyle="-|>", color="0.45", lw=1, shrinkA=12, shrinkB=12,
                                    connectionstyle=f"arc3,rad={bend}"))
        mx, my = (xa + xb) / 2, (ya + yb) / 2 + (0.62 if bend else 0.0)
        text = _LOCAL_TEXT[a, b] + ("" if _LOCAL_TEXT[a, b] == "1" else f" = {g:.2f}")
        ax.text(mx, my + 0.06, text, ha="center", va="bottom", fontsize=8,
                color="tab:purple", bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    for name, (cx, cy, symbol) in _NODES.items():
        ax.add_patch(_circle(cx, cy, r, name in "xyz"))
        ax.text(cx, cy, symbol, ha="center", va="center", fontsize=11)
        ax.text(cx, cy + r + 0.05, f"{name} = {values[name]:.2f}", ha="center", va="bottom", fontsize=9)
        if backward:
            text = f"df/d{name} = {grads[name]:.3f}"
            if name == "x":  # two paths, added
                text += "\n= " + " + ".join(f"{g:.3f}" for g in paths.values())
            ax.text(cx, cy - r - 0.05, text, ha="center", va="top", fontsize=9, color="tab:red")
    ax.set(xlim=(-0.7, 8.5), ylim=(-0.6, 3.4), aspect="equal")
    ax.axis("off")


def _circle(cx, cy, r, is_input):
    return Circle((cx, cy), r, fc="#dde8f5" if is_input else "#f5ecd0", ec="0.3", lw=1)


def graph_explorer(x=1.0, y=-2.0, z=0.5, backward=False):
    """Sliders for x, y, z redraw the graph of f = sigmoid(x * y + z) * x: each node's value (black), each
    edge's local gradient (purple) and, with "backward" ticked, each node's df/dnode (red): the gradient of
    a node is the gradient of the node after it times the local gradient of the edge between them."""

    def draw(fig, x, y, z, backward):
        values, local, grads, paths = graph_values(x, y, z)
        ax = fig.add_axes([0.01, 0.02, 0.98, 0.86])
        _draw_graph(ax, values, local, grads, paths, backward)
        fig.suptitle("f = sigmoid(x y + z) x:  forward values, local gradients on the edges"
                     + (", df/dnode in red" if backward else ""), fontsize=10)
        two = " + ".join(f"{g:.3f} {how}" for how, g in paths.items())
        return (f"f = {values['f']:.4f}, df/dx = {grads['x']:.4f} ({two}), df/dy = {grads['y']:.4f}, "
                f"df/dz = {grads['z']:.4f}")

    def slider(name, value):
        return widgets.FloatSlider(value=value, min=-3.0, max=3.0, step=0.1, description=name,
                                   readout_format=".2f", continuous_update=False)

    controls = {"x": slider("x", x), "y": slider("y", y), "z": slider("z", z),
                "backward": widgets.Checkbox(value=backward, description="backward", indent=False)}
    return Explorer(draw, controls, figsize=(9, 3.5), css_class="bp-chain-rule")
