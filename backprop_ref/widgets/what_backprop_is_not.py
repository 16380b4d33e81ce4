"""Lesson 11: what backprop is, and what it is not. Two experiments that move.

- ``four_optimisers()``: one neuron (a weight and a bias) learns a 1-D class boundary; backprop gives the
  gradient at every point, and four learning rules (SGD, momentum, Nesterov, Adam: bp.optim's) turn the
  same gradients into four paths from the same start. Lesson 6 raced the rules on made-up surfaces in
  four panels; here they share one panel and one loss computed from data.
- ``minibatch_spread(per_example_grads, predicted_spread)``: the learner's per-example gradients of a softmax
  classifier on the two spirals; mini-batches of B examples (drawn with replacement) give gradients scattered
  around the full-batch one, and their measured spread is set beside the learner's prediction (the single
  examples' spread divided by sqrt(B)).

The pure parts (the data, the loss, ``sampled_batches``) take no display, so tests can check their numbers.
"""
import ipywidgets as widgets
import numpy as np

from .. import optim
from .._guard import answer_key
from ..activations import softmax
from ..bias import with_ones
from ..backend import to_host
from ._base import Explorer, learner_or_reference
from .optimisers import OPTIMISERS, Surface, diverged, trajectory
from .static_backprop import spirals

# ---------------------------------------------------------------------------------------------
# One neuron, p = sigmoid(w x + b), learning which of two overlapping classes a number x belongs to.

NEURON_START = (-3.0, 3.0)  # (w, b): a boundary the wrong way round, far from the minimum
NEURON_LR = 0.1  # the slider's starting learning rate
NEURON_STEPS = 60
RULES = {"SGD": optim.sgd_step, "momentum": optim.momentum_step, "Nesterov": optim.nesterov_step,
         "Adam": optim.adam_step}


def neuron_data(n_per_class=20, seed=2):
    """x (2 n_per_class,) numbers around -1 (class 0) and +1 (class 1), overlapping; t (2 n_per_class,) 0/1."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-1.0, 1.0, n_per_class), rng.normal(1.0, 1.0, n_per_class)])
    return x, np.repeat([0.0, 1.0], n_per_class)


def neuron_loss(w, b, x, t):
    """Mean binary cross-entropy of p = sigmoid(w x + b); w, b: arrays of one shape, -> that shape."""
    z = np.asarray(w)[..., None] * x + np.asarray(b)[..., None]
    return np.mean(np.logaddexp(0, z) - t * z, axis=-1)  # -t log p - (1 - t) log(1 - p), written stably


def neuron_gradient(w, x, t):
    """Backprop through the neuron: dL/dz = (p - t) / N, then dL/dw = sum(dz x), dL/db = sum(dz); w = (w, b)."""
    p = 1 / (1 + np.exp(-(w[0] * x + w[1])))
    dz = (p - t) / len(x)
    return np.array([dz @ x, dz.sum()])


def neuron_surface():
    x, t = neuron_data()
    return Surface(f=lambda w, b: neuron_loss(w, b, x, t), grad=lambda w: neuron_gradient(w, x, t),
                   start=NEURON_START, xlim=(-4.0, 7.0), ylim=(-2.5, 4.0), minimum=_minimum(x, t))


def _minimum(x, t, steps=2000):
    """Where the loss is lowest (Newton's method on a convex loss)."""
    w = np.zeros(2)
    X = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-X @ w))
        step = np.linalg.solve(X.T @ (X * (p * (1 - p))[:, None]), X.T @ (p - t))
        w = w - step
        if np.abs(step).max() < 1e-12:
            break
    return tuple(w)


def four_optimisers(lr=NEURON_LR, steps=NEURON_STEPS):
    """One panel: the four rules' paths on the neuron's loss, from the same start; beside it, their losses.

    Controls: lr (first; logarithmic), steps. Status: each rule's loss after the steps, and the first
    gradient, which all four are given."""
    surface = neuron_surface()
    grid = {}

    def draw(fig, lr, steps):
        if not grid:  # the contours never change: compute them on the first draw
            w, b = np.meshgrid(np.linspace(*surface.xlim, 100), np.linspace(*surface.ylim, 100))
            grid.update(w=w, b=b, f=surface.f(w, b))
        ax, curves = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
        ax.contour(grid["w"], grid["b"], grid["f"], levels=np.geomspace(grid["f"].min() * 1.01, grid["f"].max(), 14),
                   colors="0.75", linewidths=0.6)
        finals = []
        for i, name in enumerate(OPTIMISERS):
            path, losses = trajectory(name, RULES[name], surface, lr, steps)
            shown = np.all(np.abs(path) < 50, axis=1)
            ax.plot(path[shown, 0], path[shown, 1], ".-", color=f"C{i}", markersize=3, linewidth=1, label=name)
            curves.plot(np.arange(len(losses)), losses, color=f"C{i}", label=name)
            finals.append(f"{name} " + ("diverged" if diverged(path) or not np.isfinite(losses[-1]) else f"{losses[-1]:.4f}"))
        ax.plot(*surface.start, "o", mfc="none", mec="k", mew=1.5, markersize=8)
        ax.plot(*surface.minimum, marker="*", color="k", markersize=10, linestyle="none")
        ax.set(xlim=surface.xlim, ylim=surface.ylim, xlabel="weight $w$", ylabel="bias $b$",
               title="same start, same gradients, four rules")
        ax.legend(fontsize=7, loc="lower right")
        floor = float(surface.f(*surface.minimum))
        curves.axhline(floor, color="k", linestyle=":", linewidth=1)
        curves.set(xlabel="step", ylabel="loss (cross-entropy)", ylim=(0.9 * floor, float(surface.f(*surface.start)) * 1.05),
                   title=f"lowest possible loss {floor:.4f} (dotted)")
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9, wspace=0.3)
        g = surface.grad(np.array(surface.start))
        return f"loss after {steps} steps: " + ", ".join(finals) + f"; first gradient ({g[0]:.4f}, {g[1]:.4f}) for all four"

    controls = {
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=-2.0, max=0.6, step=0.1, description="lr",
                                     readout_format=".3g", continuous_update=False),
        "steps": widgets.IntSlider(value=steps, min=5, max=200, step=5, description="steps", readout_format="d",
                                   continuous_update=False),
    }
    for control in controls.values():
        control.layout.width = "260px"
    return Explorer(draw, controls, figsize=(9, 3.8), css_class="bp-four-optimisers")


# ---------------------------------------------------------------------------------------------
# Mini-batch gradients of a softmax classifier on the two spirals.

BATCHES = 400  # mini-batches drawn for each batch size
B_MAX = 64


def classifier_weights(seed=3):
    """The one-layer softmax classifier the widget differentiates: W (3, 2), the bias its last row."""
    return np.random.default_rng(seed).normal(size=(3, 2))


@answer_key
def reference_per_example_grads(x, y, W):
    """The reference for the lesson's exercise: G[n] = [x[n], 1] (outer) (p[n] - onehot(y[n]))."""
    delta = softmax(with_ones(x) @ W)
    delta[np.arange(len(y)), y] -= 1
    return with_ones(x)[:, :, None] * delta[:, None, :]


@answer_key
def reference_predicted_spread(G, B):
    """The reference for the lesson's exercise: sqrt(mean over n of |G[n] - G.mean(0)|^2 / B)."""
    flat = np.asarray(to_host(G), dtype=np.float64).reshape(len(G), -1)
    return float(np.sqrt(((flat - flat.mean(axis=0)) ** 2).sum(axis=1).mean() / B))


def sampled_batches(G, B, batches=BATCHES, seed=0):
    """Mini-batch gradients from per-example ones G (N, ...): ``batches`` batches of B examples drawn with
    replacement (rng = default_rng(seed + B), indices integers(0, N, (batches, B))).

    -> (batch_grads (batches, ...), measured): the batch gradients and their root-mean-square distance from the
       full-batch gradient G.mean(0)."""
    G = np.asarray(to_host(G), dtype=np.float64)
    picks = np.random.default_rng(seed + B).integers(0, len(G), size=(batches, B))
    batch_grads = G[picks].mean(axis=1)
    measured = np.sqrt(((batch_grads - G.mean(axis=0)) ** 2).reshape(batches, -1).sum(axis=1).mean())
    return batch_grads, float(measured)


def minibatch_spread(per_example_grads_fn, predicted_spread_fn, B=4):
    """Batch size B (first control): the mini-batch gradients of two weights around the full-batch one, and
    the measured spread against the prediction, with the learner's per_example_grads and predicted_spread.
    Status: B's measured and predicted spreads, and how far the batches' mean lies from the full-batch gradient
    (it is unbiased: only chance keeps it off zero)."""
    grads_of = learner_or_reference(per_example_grads_fn, reference_per_example_grads, "per_example_grads")
    predicted_of = learner_or_reference(predicted_spread_fn, reference_predicted_spread, "predicted_spread")
    x, y = (to_host(a) for a in spirals())
    W = classifier_weights()
    note = widgets.HTML()
    note.add_class("bp-note")
    found = {}

    def draw(fig, B):
        if "G" not in found:  # the learner's function runs once, when the widget first draws
            G = np.asarray(to_host(grads_of(x, y, W)), dtype=np.float64)  # a wrong shape: the reference's
            found["G"] = G
            found["line"] = [float(predicted_of(G, b)) for b in range(1, B_MAX + 1)]
            note.value = grads_of.note + "; " + predicted_of.note
        G = found["G"]
        full = G.mean(axis=0)
        batch_grads, measured = sampled_batches(G, B)
        predicted = found["line"][B - 1]
        found[B] = measured
        ax, curve = fig.subplots(1, 2)
        ax.scatter(G[:, 0, 0], G[:, 1, 0], s=6, color="0.8", label="single examples (B = 1)")
        ax.scatter(batch_grads[:, 0, 0], batch_grads[:, 1, 0], s=6, color="C0", alpha=0.5, label=f"batches of {B}")
        ax.plot(full[0, 0], full[1, 0], marker="*", color="k", markersize=12, linestyle="none", label="full batch")
        ax.set(xlabel="dW[0, 0]", ylabel="dW[1, 0]", title="mini-batch gradients of two weights")
        ax.legend(fontsize=7, loc="upper right")
        sizes = np.arange(1, B_MAX + 1)
        curve.loglog(sizes, found["line"], color="k", linewidth=1, label="predicted_spread(G, B)")
        tried = sorted(k for k in found if isinstance(k, int))
        curve.loglog(tried, [found[k] for k in tried], "o", color="C0", markersize=4, label="measured")
        curve.loglog([B], [measured], "o", color="C3", markersize=8)
        curve.set(xlabel="batch size B", ylabel="spread around the full gradient", title="spread shrinks like 1/sqrt(B)")
        curve.legend(fontsize=7)
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9, wspace=0.3)
        off = float(np.sqrt(((batch_grads.mean(axis=0) - full) ** 2).sum()))
        return (f"spread {measured:.4f}, predicted {predicted:.4f}; "
                f"mean of the {BATCHES} batches off the full gradient by {off:.4f}")

    controls = {"B": widgets.IntSlider(value=B, min=1, max=B_MAX, step=1, description="B", readout_format="d",
                                       continuous_update=False)}
    controls["B"].layout.width = "320px"
    explorer = Explorer(draw, controls, figsize=(9, 3.6), css_class="bp-minibatch-spread")
    explorer.children = explorer.children + (note,)
    return explorer
