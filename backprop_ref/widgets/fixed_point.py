"""Lesson 9 widgets: a recurrent layer relaxed to its fixed point, forward and backward.

The layer is s = tanh(s @ W + [x, 1] @ U), relaxed from s_0 = 0 by s_k = tanh(s_(k-1) @ W + u).

- ``residuals()``: the change max|s_k - s_(k-1)| of the forward relaxation and max|lam_k - lam_(k-1)| of the
  adjoint one, per iteration on a log scale, as a slider moves the spectral norm of W (W = scale * W1, W1 of
  spectral norm 1) from 0.3 past 1. Both fall on straight lines with the same slope (the adjoint relaxation
  iterates the transpose of the forward one's Jacobian); near 1 they take ever longer, past it the state
  swings back and forth and never settles.
- ``fixed_point_vs_bptt(fixed_point_backward)``: dW from the learner's fixed_point_backward against BPTT
  through k steps of the relaxation from zeros, the relative difference as k grows: it falls geometrically,
  while the states BPTT stores grow with k. Fixed-point backprop stores one state, whatever k.
"""
import warnings

import ipywidgets as widgets
import numpy as np

from .._guard import answer_key
from ..bias import affine
from ..fixed_point import _relax, fixed_point_backward, fixed_point_forward
from ..rnn import rnn_backward, rnn_forward
from ._base import Explorer, learner_or_reference

TOL = 1e-8  # both relaxations stop when the change is below this
MAX_ITER = 300  # ... or raise (forward) after this many iterations
K_MAX = 60  # BPTT through up to K_MAX relaxation steps


def residual_problem(N=4, D=2, H=8, seed=0):
    """x (N, D), W1 (H, H) of spectral norm 1, U (D + 1, H), ds (N, H): the residuals widget's layer.

    W1 = -(I + B B^T / |B B^T|) / 2 (normalised): symmetric, every eigenvalue in [-1, -1/2], negative
    feedback. Below scale 1 the relaxation is a contraction; past it the state overshoots, flips sign at every
    step and settles into a swing. The drive is small, so tanh' is near 1 at the fixed point."""
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(H, H))
    W1 = -(np.eye(H) + B @ B.T / np.linalg.norm(B @ B.T, 2)) / 2
    W1 /= np.linalg.norm(W1, 2)
    x = rng.normal(size=(N, D))
    U = 0.3 * np.vstack([rng.normal(size=(D, H)) / np.sqrt(D), 0.5 * rng.normal(size=(1, H))])
    return x, W1, U, rng.normal(size=(N, H))


def gradient_problem(N=4, D=2, H=8, seed=1):
    """x (N, D), W1 (H, H) Gaussian of spectral norm 1, U (D + 1, H), ds (N, H): the BPTT widget's layer."""
    rng = np.random.default_rng(seed)
    W1 = rng.normal(size=(H, H))
    W1 /= np.linalg.norm(W1, 2)
    x = rng.normal(size=(N, D))
    U = np.vstack([rng.normal(size=(D, H)) / np.sqrt(D), 0.5 * rng.normal(size=(1, H))])
    return x, W1, U, rng.normal(size=(N, H))


@answer_key
def relaxation_changes(x, W, U, ds):
    """(forward changes, adjoint changes or None): max|s_k - s_(k-1)| for each forward iteration, and
    max|lam_k - lam_(k-1)| for each adjoint one where the forward relaxation settled (None where it did not:
    there is no fixed point to relax the adjoint around)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # not settling is what the widget shows
        s, cache = fixed_point_forward(x, W, U, tol=TOL, max_iter=MAX_ITER, on_fail="warn")
        if cache.changes[-1] >= TOL:
            return cache.changes, None
        fixed_point_backward(ds, cache, tol=TOL, max_iter=MAX_ITER, on_fail="warn")
    return cache.changes, cache.adjoint_changes


def _settled(changes):
    if changes[-1] < TOL:
        return f"settled in {len(changes)} iterations"
    return f"did not settle in {len(changes)} iterations"


def residuals(scale=0.6):
    """The two relaxations' changes per iteration; a widget to display. Slider: the spectral norm of W."""
    x, W1, U, ds = residual_problem()
    controls = {"scale": widgets.FloatSlider(value=scale, min=0.3, max=1.6, step=0.05, description="scale",
                                             readout_format=".2f", continuous_update=False)}

    def draw(fig, scale):
        forward, adjoint = relaxation_changes(x, scale * W1, U, ds)
        ax = fig.add_subplot(1, 1, 1)
        ax.semilogy(np.arange(1, len(forward) + 1), forward, color="C0", label="forward: max|s_k - s_(k-1)|")
        if adjoint is not None:
            ax.semilogy(np.arange(1, len(adjoint) + 1), adjoint, color="C3", linestyle="--",
                        label="adjoint: max|lam_k - lam_(k-1)|")
        ax.axhline(TOL, color="0.5", linestyle=":", linewidth=1, label=f"tol = {TOL:g}")
        ax.set(xlim=(0, MAX_ITER), ylim=(TOL / 100, 10), xlabel="iteration k", ylabel="change",
               title=f"W = {scale:.2f} x W1 (spectral norm {scale:.2f})")
        ax.legend(loc="lower left", fontsize=8)
        fig.tight_layout()
        back = "not run (no fixed point)" if adjoint is None else _settled(adjoint)
        return f"forward {_settled(forward)}, backward {back}"

    return Explorer(draw, controls, figsize=(8, 3.4), css_class="bp-fixed-point-residuals")


@answer_key
def reference_relax(x, W, U, tol, max_iter):
    """relax with the exercise's contract: from zeros, the first state whose change is below tol, else
    ConvergenceError."""
    u = affine(x, U)
    s, _ = _relax("relax", "s", lambda s: np.tanh(s @ W + u), np.zeros((x.shape[0], W.shape[1])), tol, max_iter,
                  "raise", W)
    return s


@answer_key
def reference_fixed_point_backward(ds, x, W, U, s):
    """fixed_point_backward with the exercise's signature (the fixed point s is relaxed again for the cache)."""
    _, cache = fixed_point_forward(x, W, U, tol=1e-13)
    return fixed_point_backward(ds, cache, tol=1e-13)


@answer_key
def bptt_dW(x, W, U, ds, k):
    """dW of L = sum(ds * s_k), BPTT through the k relaxation steps s_1 .. s_k from s_0 = 0 (an RNN whose input
    is x at every step)."""
    N, H = ds.shape
    h, cache = rnn_forward(np.repeat(x[:, None], k, axis=1), np.zeros((N, H)), U, W)
    dh = np.zeros(h.shape)
    dh[:, -1] = ds
    return rnn_backward(dh, cache).dWh


def relative_difference(a, b):
    """|a - b| / |b|, Frobenius norms."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def fixed_point_vs_bptt(fixed_point_backward_fn, k=10, scale=0.8):
    """dW from fixed_point_backward_fn(ds, x, W, U, s) -> (dx, dW, dU) against BPTT through k relaxation steps;
    a widget to display. Sliders: k (first), the spectral norm of W."""
    backward = learner_or_reference(fixed_point_backward_fn, reference_fixed_point_backward, "fixed_point_backward")
    x, W1, U, ds = gradient_problem()
    N, H = ds.shape
    curves = {}  # scale -> (dW from fixed-point backprop, the relative difference of BPTT for k = 1 .. K_MAX)
    note = widgets.HTML()
    note.add_class("bp-note")
    controls = {
        "k": widgets.IntSlider(value=k, min=1, max=K_MAX, step=1, description="k", readout_format="d",
                               continuous_update=False),
        "scale": widgets.FloatSlider(value=scale, min=0.3, max=0.95, step=0.05, description="scale",
                                     readout_format=".2f", continuous_update=False),
    }

    def draw(fig, k, scale):
        W = scale * W1
        if scale not in curves:
            s, _ = fixed_point_forward(x, W, U, tol=1e-13)
            dW = np.asarray(backward(ds, x, W, U, s)[1], dtype=np.float64)
            curves[scale] = dW, [relative_difference(bptt_dW(x, W, U, ds, j), dW) for j in range(1, K_MAX + 1)]
        note.value = backward.note
        _, differences = curves[scale]
        ax = fig.add_subplot(1, 2, 1)
        ax.semilogy(np.arange(1, K_MAX + 1), differences, color="C0")
        ax.semilogy([k], [differences[k - 1]], "o", color="C3")
        ax.set(xlabel="k, relaxation steps BPTT goes back through", ylabel="|dW_bptt - dW_fp| / |dW_fp|",
               ylim=(1e-16, 10), title=f"spectral norm of W {scale:.2f}")
        ax = fig.add_subplot(1, 2, 2)
        ax.bar(["BPTT, k steps", "fixed point"], [k * N * H, N * H], color=["C0", "C2"])
        ax.set(ylabel="numbers stored for the backward pass", ylim=(0, K_MAX * N * H * 1.05),
               title=f"states kept: {k} against 1")
        fig.tight_layout()
        return (f"relative difference of dW at k: {differences[k - 1]:.2e}; stored: BPTT k x N x H = {k * N * H}, "
                f"fixed point N x H = {N * H}")

    explorer = Explorer(draw, controls, figsize=(9, 3.4), css_class="bp-fixed-point-bptt")
    explorer.children = explorer.children + (note,)
    return explorer
