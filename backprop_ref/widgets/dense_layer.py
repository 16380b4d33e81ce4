"""Lesson 3 widgets: one unit's decision line with and without the constant-1 unit; activations and their slopes."""
import ipywidgets as widgets
import numpy as np

from ..activations import get_activation, sigmoid_forward
from ..bias import affine
from ._base import Explorer

ACTIVATION_NAMES = ("sigmoid", "tanh", "relu")
_A_LIMITS = {"sigmoid": (-0.1, 1.1), "tanh": (-1.2, 1.2), "relu": (-0.5, 4.5)}


# ---------------------------------------------------------------------------------------------
# The decision line of one sigmoid unit with two inputs


def blobs(n_per_class=20, seed=3):
    """Two classes of 2-D points, both well away from the origin: x (2n, 2), y (2n,) labels 0 and 1.

    Seen from the origin the two classes lie in almost the same direction, so no line through the
    origin separates them: the unit needs its bias.
    """
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal([0.7, 0.7], 0.3, size=(n_per_class, 2)),
                   rng.normal([2.0, 2.0], 0.3, size=(n_per_class, 2))])
    return x, np.repeat([0, 1], n_per_class)


def unit_weights(w1, w2, b, bias_unit=True):
    """The unit's W, shape (3, 1): w1, w2, then the weight b from the constant-1 unit (0 when it is off)."""
    return np.array([[w1], [w2], [b if bias_unit else 0.0]])


def unit_output(x, W):
    """a = sigmoid([x, 1] @ W): x (N, 2), W (3, 1) -> a (N,)."""
    return sigmoid_forward(affine(x, W))[0][:, 0]


def distance_from_origin(W):
    """Distance from the origin to the decision line [x, 1] @ W = 0: |b| / |w|; None if w = 0 (no line)."""
    norm = float(np.hypot(W[0, 0], W[1, 0]))
    return None if norm == 0 else abs(float(W[2, 0])) / norm


def accuracy(x, y, W):
    """Fraction of points on their own class's side of the line (a > 0.5 means class 1)."""
    return float(((unit_output(x, W) > 0.5) == (y == 1)).mean())


def decision_line(n_per_class=20, seed=3):
    """A sigmoid unit a = sigmoid(w1 x1 + w2 x2 + b) on two classes of points.

    The line where a = 0.5 is w1 x1 + w2 x2 + b = 0. Its distance from the origin is |b| / |w|, so
    without the constant-1 unit (b = 0) the line always passes through the origin: w1 and w2 only
    turn it. The right panel shows each point at its z = [x, 1] @ W on the sigmoid.

    It opens unsolved, with b = 0: the line passes through the origin and every point is called class 1,
    so the learner has the line to move (w1 = w2 = 1, b = -3 separates the classes).
    """
    x, y = blobs(n_per_class, seed)
    lo, hi = -0.6, 3.2
    grid = np.linspace(lo, hi, 120)
    g1, g2 = np.meshgrid(grid, grid)
    plane = np.column_stack([g1.ravel(), g2.ravel()])
    z_axis = np.linspace(-8, 8, 200)
    b_slider = widgets.FloatSlider(value=0.0, min=-6.0, max=6.0, step=0.1, description="b",
                                   readout_format=".2f", continuous_update=False)

    def draw(fig, w1, w2, b, bias_unit):
        b_slider.disabled = not bias_unit  # no constant-1 unit, no weight from it
        W = unit_weights(w1, w2, b, bias_unit)
        a_plane = unit_output(plane, W).reshape(g1.shape)
        ax, ax_z = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
        ax.imshow(a_plane, extent=(lo, hi, lo, hi), origin="lower", cmap="RdBu_r", vmin=0, vmax=1, alpha=0.35)
        for label, color in ((0, "tab:blue"), (1, "tab:red")):
            ax.scatter(*x[y == label].T, s=14, color=color, label=f"class {label}")
        ax.plot(0, 0, "k+", ms=10)
        d = distance_from_origin(W)
        if d is not None:
            ax.contour(g1, g2, a_plane, levels=[0.5], colors="k")
            w = W[:2, 0]
            foot = -W[2, 0] * w / (w @ w)  # the point of the line nearest the origin
            ax.plot([0, foot[0]], [0, foot[1]], "k:", lw=1)
            if d > 0.3:
                ax.text(*(foot / 2), f" {d:.2f}", fontsize=8)
        ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="$x_1$", ylabel="$x_2$", aspect="equal",
               title="a = 0.5 on the line" + ("" if bias_unit else " (pinned to the origin)"))
        ax.legend(loc="upper left", fontsize=7)

        z = affine(x, W)[:, 0]
        ax_z.plot(z_axis, sigmoid_forward(z_axis)[0], color="0.5")
        for label, color in ((0, "tab:blue"), (1, "tab:red")):
            ax_z.scatter(z[y == label], sigmoid_forward(z[y == label])[0], s=14, color=color)
        ax_z.axvline(0, color="k", lw=0.8)
        ax_z.set(xlim=(-8, 8), ylim=(-0.05, 1.05), xlabel="z = w1 x1 + w2 x2" + (" + b" if bias_unit else ""),
                 ylabel="a = sigmoid(z)", title="each point at its z")
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.3)

        acc = accuracy(x, y, W)
        right = round(acc * len(y))
        if d is None:
            where = f"no line: w1 = w2 = 0, a = {a_plane[0, 0]:.2f} everywhere"
        elif bias_unit:
            where = f"distance from origin {d:.2f}"
        else:
            where = "b ignored, line pinned to the origin (distance 0.00)"
        return f"{where}, accuracy {acc:.0%} ({right}/{len(y)})"

    controls = {
        "w1": widgets.FloatSlider(value=1.0, min=-3.0, max=3.0, step=0.1, description="w1",
                                  readout_format=".2f", continuous_update=False),
        "w2": widgets.FloatSlider(value=1.0, min=-3.0, max=3.0, step=0.1, description="w2",
                                  readout_format=".2f", continuous_update=False),
        "b": b_slider,
        "bias_unit": widgets.Checkbox(value=True, description="constant-1 unit", indent=False),
    }
    return Explorer(draw, controls, figsize=(9, 3.6), css_class="bp-decision-line")


# ---------------------------------------------------------------------------------------------
# Activations: a(z) and its slope da/dz, the factor each backward pass multiplies by


def slope(name, z):
    """da/dz at z (an array) from the reference backward pass: backward(da = 1, cache)."""
    forward, backward = get_activation(name)
    z = np.asarray(z, dtype=np.float64)
    a, cache = forward(z)
    return backward(np.ones_like(z), cache)


def finite_difference(name, z, h=1e-4):
    """(a(z + h) - a(z - h)) / 2h: the slope measured, not derived."""
    forward, _ = get_activation(name)
    z = np.asarray(z, dtype=np.float64)
    return (forward(z + h)[0] - forward(z - h)[0]) / (2 * h)


def activation_slopes():
    """An activation a(z) with its tangent at z (left) and its derivative da/dz (right).

    The backward pass of an activation is dz = da * (da/dz): the slope on the right is the factor it
    multiplies by. The status compares that slope with a central difference of the forward pass.
    """
    z_axis = np.linspace(-5, 5, 401)

    def draw(fig, z, activation):
        z = round(z, 6) + 0.0  # slider steps leave float dust (1e-17 is not the kink); + 0.0 turns -0.0 into 0.0
        forward, _ = get_activation(activation)
        a = float(forward(np.array([z]))[0][0]) + 0.0
        s = float(slope(activation, np.array([z]))[0])
        fd = float(finite_difference(activation, np.array([z]))[0])
        ax_a, ax_d = fig.subplots(1, 2)
        ax_a.plot(z_axis, forward(z_axis)[0], color="tab:blue")
        near = np.linspace(z - 1.2, z + 1.2, 2)
        ax_a.plot(near, a + s * (near - z), color="tab:orange", label=f"slope {s:.3f}")
        ax_a.plot(z, a, "ko", ms=5)
        ax_a.set(xlim=(-5, 5), ylim=_A_LIMITS[activation], xlabel="z", ylabel="a", title=f"a = {activation}(z)")
        ax_a.legend(loc="upper left", fontsize=8)
        ax_d.plot(z_axis, slope(activation, z_axis), color="tab:orange")
        ax_d.plot(z, s, "ko", ms=5)
        ax_d.set(xlim=(-5, 5), ylim=(-0.1, 1.1), xlabel="z", ylabel="da/dz",
                 title="da/dz: what backward multiplies da by")
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.3)
        text = f"a = {a:.3f}, da/dz = {s:.3f}, finite difference {fd:.3f}"
        if activation == "relu" and z == 0:
            text += " (at the kink z = 0 there is no derivative; backward takes 0)"
        return text

    controls = {
        "z": widgets.FloatSlider(value=0.5, min=-4.0, max=4.0, step=0.1, description="z",
                                 readout_format=".2f", continuous_update=False),
        "activation": widgets.ToggleButtons(options=list(ACTIVATION_NAMES), value="sigmoid"),
    }
    return Explorer(draw, controls, figsize=(9, 3.4), css_class="bp-activation-slopes")
