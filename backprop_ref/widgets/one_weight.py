"""Lesson 1 widgets: the error of one weight as a curve, its slope, and gradient descent down it.

A single neuron y = w * x (no bias) fits targets t; its error E(w) = (1/2N) * sum((w * x - t)**2) is a
parabola in w, with slope dE/dw = (1/N) * sum((w * x - t) * x).
"""
import ipywidgets as widgets
import numpy as np

from .._guard import answer_key
from ..backend import to_host
from ._base import Explorer, learner_or_reference

W_RANGE = (-1.0, 5.0)


def toy_data(N=12, seed=0):
    """x, t: (N,) float64; t is about 1.8 * x plus noise, so the best weight is near 1.8."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 2.0, size=N)
    return x, 1.8 * x + 0.3 * rng.normal(size=N)


def error(w, x, t):
    """E(w) = (1/2N) * sum((w * x - t)**2); w a number or an array of weights (one E per weight)."""
    w = np.asarray(w, dtype=np.float64)[..., None]
    return 0.5 * np.mean((w * x - t) ** 2, axis=-1)


@answer_key
def derivative(w, x, t):
    """dE/dw = (1/N) * sum((w * x - t) * x)."""
    return float(np.mean((w * x - t) * x))


def finite_difference(w, x, t, h):
    """The forward difference (E(w + h) - E(w)) / h. E is a parabola, so it is off from dE/dw by exactly
    h * mean(x**2) / 2: halve h and the gap halves."""
    return float((error(w + h, x, t) - error(w, x, t)) / h)


def best_weight(x, t):
    """The w where dE/dw = 0: sum(x * t) / sum(x * x)."""
    return float(x @ t / (x @ x))


def _fit_panel(ax, x, t, w):
    """The data, the line y = w * x, and each example's error w * x - t as a vertical segment."""
    ax.vlines(x, t, w * x, color="tab:red", lw=1, alpha=0.7)
    ax.scatter(x, t, s=14, color="k", zorder=3, label="targets t")
    grid = np.array([0.0, 2.2])
    ax.plot(grid, w * grid, color="tab:blue", label=f"y = {w:.2f} x")
    ax.set(xlim=(0, 2.2), ylim=(-1, 7), xlabel="x", ylabel="y", title="the neuron's fit, errors in red")
    ax.legend(loc="upper left", fontsize=7)


def error_explorer(N=12, seed=0):
    """Move w and watch E(w): the fit (left), the error curve with the tangent at w and the secant of the
    finite difference over h (right). The status says whether E went up or down since the last w, and
    compares the finite-difference slope with the derivative."""
    x, t = toy_data(N, seed)
    curve_w = np.linspace(*W_RANGE, 200)
    curve_E = error(curve_w, x, t)
    previous = {}  # the last w drawn, and its E

    def draw(fig, w, h):
        E, dw, fd = float(error(w, x, t)), derivative(w, x, t), finite_difference(w, x, t, h)
        ax_fit, ax = fig.subplots(1, 2)
        _fit_panel(ax_fit, x, t, w)

        ax.plot(curve_w, curve_E, color="0.5", label="E(w)")
        span = np.array([-1.0, 1.0])
        ax.plot(w + span, E + dw * span, color="tab:blue", label=f"tangent, slope {dw:.3f}")
        ax.plot([w, w + h], [E, float(error(w + h, x, t))], "o--", color="tab:orange", ms=3,
                label=f"secant over h, slope {fd:.3f}")
        ax.plot(w, E, "o", color="tab:blue", ms=6)
        ax.set(xlim=W_RANGE, ylim=(-0.5, float(curve_E.max()) * 1.05), xlabel="w", ylabel="E",
               title="the error of one weight")
        ax.legend(loc="upper center", fontsize=7)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.25)

        if "w" not in previous or previous["w"] == w:
            move = ""
        else:
            way = "up" if E > previous["E"] else "down" if E < previous["E"] else "unchanged"
            move = f" ({way} from {previous['E']:.4f} at w = {previous['w']:.2f})"
        previous.update(w=w, E=E)
        return (f"E = {E:.4f}{move}, slope: finite difference {fd:.4f}, derivative {dw:.4f}, "
                f"gap {fd - dw:.4f} = h * mean(x**2) / 2")

    controls = {
        "w": widgets.FloatSlider(value=3.0, min=W_RANGE[0], max=W_RANGE[1], step=0.1, description="w",
                                 readout_format=".2f", continuous_update=False),
        "h": widgets.FloatSlider(value=0.5, min=0.01, max=1.0, step=0.01, description="h",
                                 readout_format=".2f", continuous_update=False),
    }
    return Explorer(draw, controls, figsize=(9, 3.5), css_class="bp-one-weight")


# ---------------------------------------------------------------------------------------------
# Gradient descent down the error curve


@answer_key
def reference_gradient_descent(w, x, t, lr, steps):
    """ws: (steps + 1,), ws[0] = w, then w = w - lr * dE/dw, steps times."""
    ws = [float(w)]
    for _ in range(steps):
        ws.append(ws[-1] - lr * derivative(ws[-1], x, t))
    return np.array(ws)


def _not_written(*args):
    raise NotImplementedError


def descent_regime(lr, x):
    """What the steps do. E is a parabola with curvature a = mean(x**2), so each step multiplies the distance
    to the best weight by 1 - lr * a: it crawls when that is near 1, zig-zags when it is negative, and
    diverges when it is below -1, that is for lr > 2 / a."""
    factor = 1 - lr * float(np.mean(x * x))
    if factor > 0.9:
        return "crawls"
    if factor >= 0:
        return "converges"
    if factor > -1:
        return "oscillates, converging"
    return "oscillates, diverging" if factor < -1 else "oscillates forever"


def descent_explorer(gradient_descent=None, w0=4.5, N=12, seed=0):
    """Gradient descent from w0 on the error curve of error_explorer, run by ``gradient_descent(w, x, t, lr,
    steps) -> ws`` (yours; the reference while yours raises NotImplementedError). Move the learning rate:
    small steps crawl, big ones zig-zag across the valley, and above 2 / mean(x**2) they fly out of it."""
    x, t = toy_data(N, seed)
    run = learner_or_reference(gradient_descent or _not_written, reference_gradient_descent, "gradient_descent")
    best = best_weight(x, t)
    curvature = float(np.mean(x * x))

    def draw(fig, lr, steps):
        ws = np.asarray(to_host(run(w0, x, t, lr, steps)), dtype=np.float64).ravel()
        Es = error(ws, x, t)
        ax, ax_E = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
        # the valley, widened to the path's weights up to 8 from the best one: a diverging path leaves the picture
        left = max(best - 8, min(W_RANGE[0], float(np.nanmin(ws)) - 0.3))
        right = min(best + 8, max(W_RANGE[1], float(np.nanmax(ws)) + 0.3))
        curve_w = np.linspace(left, right, 200)
        curve_E = error(curve_w, x, t)
        ax.plot(curve_w, curve_E, color="0.5")
        ax.plot(ws, Es, "-o", color="tab:blue", ms=3, lw=1)
        ax.plot(ws[0], Es[0], "o", color="k", ms=6, label=f"start w = {w0:.2f}")
        ax.axvline(best, color="tab:green", lw=0.8, ls=":", label=f"best w = {best:.2f}")
        ax.set(xlim=(left, right), ylim=(-0.03 * curve_E.max(), 1.05 * curve_E.max()), xlabel="w", ylabel="E",
               title=f"{len(ws) - 1} steps with lr = {lr:.2f}")
        ax.legend(loc="lower left", fontsize=7)
        ax_E.semilogy(np.arange(len(ws)), np.maximum(Es, 1e-12), "-o", color="tab:blue", ms=3)
        ax_E.axhline(float(error(best, x, t)), color="tab:green", lw=0.8, ls=":")
        ax_E.set(xlabel="step k", ylabel="E(w_k)", title="the error, step by step")
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.28)
        return (f"w: {ws[0]:.3f} -> {ws[-1]:.4g}, E: {Es[0]:.4f} -> {Es[-1]:.4g}; "
                f"{descent_regime(lr, x)} (diverges above lr = 2 / mean(x**2) = {2 / curvature:.2f}); {run.note}")

    controls = {
        "lr": widgets.FloatSlider(value=0.10, min=0.01, max=1.5, step=0.01, description="lr",
                                  readout_format=".2f", continuous_update=False),
        "steps": widgets.IntSlider(value=10, min=1, max=40, description="steps", readout_format="d",
                                   continuous_update=False),
    }
    return Explorer(draw, controls, figsize=(9, 3.5), css_class="bp-descent")
