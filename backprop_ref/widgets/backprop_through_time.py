"""Lesson 8 widgets: how far back a gradient reaches in an RNN, and what truncating it keeps.

- ``gradient_norms_explorer()``: a loss on the last state of a 30-step RNN whose Wh is ``scale`` times an
  orthogonal matrix (so every singular value of Wh, and its spectral radius, is ``scale``). It plots
  ||dL/dh_t|| against t on a log scale: below 1 it vanishes going back, above 1 it explodes (as far as tanh's
  saturation lets it).
- ``influence_explorer()``: the same network over 20 steps; a heatmap of |dh_t/dx_s| (the norm of how much
  state h_t moves per unit of input x_s), zero above the diagonal: the future does not move the past.
- ``window_explorer(truncated_bptt)``: the learner's truncated BPTT with window k (learner_or_reference)
  against full BPTT and against central differences of the windowed loss, of which it is the exact gradient.
- ``reference_bptt``: the reference with the bptt exercise's signature, for the lesson's training loop.

The networks are fixed by a seed; the numbers on each status line can be recomputed from ``network`` and
``window_problem`` by anyone (tests/widgets/test_backprop_through_time.py does, with finite differences).
"""
import ipywidgets as widgets
import numpy as np
from matplotlib.colors import LogNorm

from .._guard import answer_key
from ..gradcheck import numerical_gradient
from ..rnn import rnn_backward, rnn_forward
from ._base import Explorer, learner_or_reference

H = 32  # hidden units of the network of the first two widgets (one input, D = 1)
T_NORMS, T_INFLUENCE = 30, 20  # time steps of the first widget and of the heatmap


def network(scale, T, seed=0):
    """x (1, T, 1), h0 (1, H), Wx (2, H), Wh (H, H) = scale * an orthogonal matrix, g (H,) of norm 1.

    The inputs are small (std 0.05, times weights of std 1), so the states start near tanh's linear part
    and the size of Wh decides what happens to a gradient going back."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(H, H)))
    Wh = scale * q * np.sign(np.diag(r))
    Wx = np.vstack([rng.normal(size=(1, H)), np.zeros((1, H))])
    x = 0.05 * rng.normal(size=(1, T, 1))
    g = rng.normal(size=H)
    return x, np.zeros((1, H)), Wx, Wh, g / np.linalg.norm(g)


@answer_key
def last_state_gradient_norms(scale, T=T_NORMS):
    """||dL/dh_t|| for t = 0..T-1, where L = g . h_{T-1}: the loss reads the last state only."""
    x, h0, Wx, Wh, g = network(scale, T)
    h, cache = rnn_forward(x, h0, Wx, Wh)
    dh = np.zeros(h.shape)
    dh[0, -1] = g
    return rnn_backward(dh, cache).dh_norms


def gradient_norms_explorer(scale=1.0):
    """A slider for the scale of Wh; the plot: ||dL/dh_t|| against t, log scale, for L = g . h_29."""

    def draw(fig, scale):
        norms = last_state_gradient_norms(scale)
        ax = fig.add_subplot(1, 1, 1)
        ax.semilogy(np.arange(T_NORMS), norms, "o-", ms=3, color="tab:red")
        ax.axhline(1.0, color="0.6", lw=0.8, ls="--")
        ax.set(xlabel="time step t", ylabel="||dL/dh_t||", ylim=(1e-12, 1e4),
               title=f"the loss reads h_{T_NORMS - 1}; Wh = {scale:.2f} x orthogonal: its gradient going back in time")
        first, last = norms[0], norms[-1]
        return f"||dL/dh_0|| = {first:.3e}, ||dL/dh_{T_NORMS - 1}|| = {last:.3e}, ratio = {first / last:.3e}"

    slider = widgets.FloatSlider(value=scale, min=0.5, max=1.5, step=0.05, description="scale",
                                 readout_format=".2f", continuous_update=False)
    return Explorer(draw, {"scale": slider}, figsize=(9, 3.4), css_class="bp-gradient-norms")


@answer_key
def influence(scale, T=T_INFLUENCE):
    """J (T, T): J[t, s] = ||dh_t/dx_s|| (the Frobenius norm of the (H, D) Jacobian), 0 for s > t.

    Forward in time: dh_s/dx_s = tanh'(z_s) times x's row of Wx; then each step multiplies by Wh and tanh'."""
    x, h0, Wx, Wh, _ = network(scale, T)
    h, _ = rnn_forward(x, h0, Wx, Wh)
    h = h[0]  # (T, H): one sequence
    J = np.zeros((T, T))
    for s in range(T):
        dh = Wx[:-1] * (1 - h[s] ** 2)  # (D, H): row d is dh_s / dx_s[d]
        J[s, s] = np.linalg.norm(dh)
        for t in range(s + 1, T):
            dh = (dh @ Wh) * (1 - h[t] ** 2)
            J[t, s] = np.linalg.norm(dh)
    return J


def influence_explorer(scale=1.0):
    """A slider for the scale of Wh; the plot: the heatmap of |dh_t/dx_s|, log colours, blank above the diagonal."""

    def draw(fig, scale):
        J = influence(scale)
        T = len(J)
        ax = fig.add_subplot(1, 1, 1)
        shown = np.ma.masked_where(J == 0, J)
        image = ax.imshow(shown, norm=LogNorm(vmin=1e-8, vmax=10), cmap="viridis", origin="upper")
        fig.colorbar(image, ax=ax, label="|dh_t / dx_s|")
        ax.set(xlabel="input x_s, step s", ylabel="state h_t, step t",
               title=f"how much each input moves each later state (Wh = {scale:.2f} x orthogonal)")
        above = J[np.triu_indices(T, k=1)]
        return (f"|dh_{T - 1}/dx_{T - 1}| = {J[-1, -1]:.3e}, |dh_{T - 1}/dx_0| = {J[-1, 0]:.3e}, "
                f"largest above the diagonal = {above.max():.1e}")

    slider = widgets.FloatSlider(value=scale, min=0.5, max=1.5, step=0.05, description="scale",
                                 readout_format=".2f", continuous_update=False)
    return Explorer(draw, {"scale": slider}, figsize=(7, 4.6), css_class="bp-influence")


# ---------------------------------------------------------------------------------------------
# Truncated BPTT against full BPTT and against the windowed loss.

T_WINDOW = 12


def window_problem(seed=1):
    """dh (2, T, 4), x (2, T, 2), h0 (2, 4), Wx (3, 4), Wh (4, 4): the loss L = sum(dh * h) reads every state."""
    rng = np.random.default_rng(seed)
    N, D, Hw = 2, 2, 4
    x = rng.normal(size=(N, T_WINDOW, D))
    h0 = 0.5 * rng.normal(size=(N, Hw))
    Wx = np.vstack([rng.normal(size=(D, Hw)) / np.sqrt(D), 0.3 * rng.normal(size=(1, Hw))])
    Wh = 1.2 * rng.normal(size=(Hw, Hw)) / np.sqrt(Hw)
    dh = rng.normal(size=(N, T_WINDOW, Hw))
    return dh, x, h0, Wx, Wh


@answer_key
def reference_bptt(dh, x, h0, Wx, Wh, h):
    """The reference, with the exercise's signature: (dx, dh0, dWx, dWh) of full BPTT (for the lesson's training)."""
    return tuple(rnn_backward(dh, rnn_forward(x, h0, Wx, Wh)[1])[:4])


@answer_key
def reference_truncated_bptt(dh, x, h0, Wx, Wh, h, k):
    """The reference, with the exercise's signature: (dx, dh0, dWx, dWh) of truncated BPTT, window k."""
    return tuple(rnn_backward(dh, rnn_forward(x, h0, Wx, Wh)[1], truncate=k)[:4])


@answer_key
def full_and_windowed(k):
    """Full BPTT's (dx, dh0, dWx, dWh), and central differences of the windowed loss with window k."""
    from ..grading.exercises.recurrent import _windowed_states  # the grader's own: not in the sandbox's edition

    dh, x, h0, Wx, Wh = window_problem()
    h, cache = rnn_forward(x, h0, Wx, Wh)
    full = tuple(rnn_backward(dh, cache)[:4])
    inputs = {"x": x.copy(), "h0": h0.copy(), "Wx": Wx.copy(), "Wh": Wh.copy()}

    def windowed(name):
        def f(value):
            args = dict(inputs, **{name: value})
            return _windowed_states(args["x"], args["h0"], args["Wx"], args["Wh"], k, h)
        return f

    differences = tuple(numerical_gradient(windowed(name), inputs[name].copy(), dh) for name in inputs)
    return full, differences


def relative_error(a, b):
    """||a - b|| / ||b|| over all four gradients together."""
    a, b = (np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in grads]) for grads in (a, b))
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def window_explorer(truncated_bptt_fn, k=3):
    """A slider for the window k; the plot: ||dx[:, t]|| per step from the learner's truncated BPTT (or the
    reference's until theirs is written), from full BPTT, and from differencing the windowed loss."""
    truncated = learner_or_reference(truncated_bptt_fn, reference_truncated_bptt, "truncated_bptt")

    def draw(fig, k):
        dh, x, h0, Wx, Wh = window_problem()
        h, _ = rnn_forward(x, h0, Wx, Wh)
        yours = tuple(np.asarray(g, dtype=np.float64) for g in truncated(dh, x.copy(), h0.copy(), Wx.copy(), Wh.copy(), h.copy(), k))
        full, differences = full_and_windowed(k)
        ax = fig.add_subplot(1, 1, 1)
        t = np.arange(T_WINDOW)
        for grads, style, name in ((full, "s-", "full BPTT"), (yours, "o-", f"truncated, k = {k}"),
                                   (differences, "x", "differences of the windowed loss")):
            ax.semilogy(t, np.linalg.norm(grads[0], axis=(0, 2)), style, label=name, ms=6, alpha=0.8)
        ax.set(xlabel="time step t", ylabel="||dx[:, t]||", title=f"the gradient reaching each input ({truncated.note})")
        ax.legend(fontsize=8)
        whose = "the reference's" if truncated.using_reference else "your"
        return (f"truncated vs full: relative error {relative_error(yours, full):.3e}, truncated vs differences of "
                f"the windowed loss: {relative_error(yours, differences):.1e} ({whose} truncated_bptt)")

    slider = widgets.IntSlider(value=k, min=1, max=T_WINDOW, step=1, description="k", readout_format="d",
                               continuous_update=False)
    return Explorer(draw, {"k": slider}, figsize=(9, 3.6), css_class="bp-window")

