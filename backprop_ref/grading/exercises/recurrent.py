"""Exercises on recurrent networks: one RNN step, backpropagation through time (full and truncated),
fixed-point recurrent backprop, and the Jacobian of an MLP.

Glossary as in backprop_ref.rnn: N batch, T time, D input, H hidden, C outputs. Wx (D + 1, H) and
U (D + 1, H) carry the bias as their last row. Every verdict is float64 central differences of a
forward pass (Gradient targets); the reference backward gives shapes and the known wrong answers.

- rnn_step_backward, bptt: the gradients of sum(h * dh) over the forward pass's states. The
  differenced forward is ``_states`` below, the formula of backprop_ref.rnn.rnn_forward written out
  without its argument checks, so the hundreds of forward passes of one check stay cheap (the tests
  check it equals rnn_forward).
- truncated_bptt: truncated BPTT is not the gradient of the loss, so differencing the forward pass
  would fail every correct answer. It is, though, the exact gradient of another function, the
  windowed loss  L_k = sum over s of sum(dh[:, s] * g_s),  where g_s is h_s recomputed through the
  steps max(s - k + 1, 0) .. s only, starting from the state h_{s-k} frozen at its forward value (a
  constant: perturbing x, Wx or Wh does not move it) or, when s - k < 0, from h0 itself, which is an
  input and never cut off. At the unperturbed inputs every g_s equals h_s, and differentiating L_k
  gives exactly rnn_backward(dh, cache, truncate=k) (its docstring's definition; the tests check the
  two agree). So the target is still central differences of a forward pass (``_windowed_states``,
  the T windows run side by side in k steps, the formula of the oracle in tests/test_rnn.py),
  independent of the reference backward.
  Value targets against rnn_backward(truncate=k) would have worked too; differencing keeps one kind
  of verdict, with the same tolerances and messages, for every gradient of the course.
- fixed_point_backward: the gradients of sum(s*(x, W, U) * ds), where s* is relaxed again, to
  max |s_{k+1} - s_k| < 1e-14, for every perturbed input (starting from the unperturbed fixed point,
  which the contraction makes safe and quick). W has spectral norm 0.5, so both relaxations converge
  fast; how many adjoint steps a learner takes does not matter as long as lam has converged.
- jacobian: J is not the gradient of one scalar, but it is the gradient of one: stack C copies of x
  as X (N, C, D) and let F(X) = sum over n, c of out(X[:, c])[n, c]. Rows of the batch do not
  interact, so dF/dX[n, c, d] = d out[n, c] / d x[n, d] = J[n, c, d]: a Gradient target on X.

Hidden checks put a general case first (every size >= 2, D != H), so a report's "Likely cause" is
read off a case where the known mistakes all differ, then the awkward ones (a size of 1, k = 1,
k >= T, a single time step).
"""
import numpy as np

from ...bias import affine as _affine
from ...bias import affine_backward as _affine_backward
from ...fixed_point import fixed_point_backward as _fixed_point_backward
from ...fixed_point import fixed_point_forward as _fixed_point_forward
from ...jacobian import mlp_jacobian as _mlp_jacobian
from ...mlp import mlp_forward as _mlp_forward
from ...rnn import rnn_backward as _rnn_backward
from ...rnn import rnn_forward as _rnn_forward
from ...rnn import rnn_step_backward as _rnn_step_backward
from ...rnn import rnn_step_forward as _rnn_step_forward
from ..core import Case, Exercise, Gradient, Mistake, Part
from ._common import awkward_dims, label, mlp_activations, random_mlp_weights, vjp_targets

_FIXED_POINT_TOL = 1e-14  # how tightly the fixed point is relaxed for the verdict and the references


# ---------------------------------------------------------------------------------------------
# The RNN, written out for the finite differences (no argument checks: a forward pass is a few
# microseconds).


def _step(x_t, h_prev, Wx, Wh):
    return np.tanh(_affine(x_t, Wx) + h_prev @ Wh)


def _states(x, h0, Wx, Wh):
    """h: (N, T, H), every state of the forward pass (rnn_forward's h)."""
    h, states = h0, []
    for t in range(x.shape[1]):
        h = _step(x[:, t], h, Wx, Wh)
        states.append(h)
    return np.stack(states, axis=1)


def _windowed_states(x, h0, Wx, Wh, k, frozen):
    """(N, T, H): h_s recomputed through steps max(s - k + 1, 0) .. s, from the constant frozen[:, s - k]
    (the forward pass's state, not recomputed) or from h0 when s - k < 0. Its values are the forward
    pass's; the gradients of sum(dh * it) are truncated BPTT with window k.

    The T windows run side by side, in k steps: at step i, window s takes time step s - k + 1 + i,
    or waits at h0 while that is below 0 (x is padded in front with k - 1 steps to keep slices simple)."""
    N, T, D = x.shape
    k = min(k, T)  # a window reaching past step 0 starts from h0 all the same
    padded = np.concatenate([np.zeros((N, k - 1, D)), x], axis=1)
    h = np.repeat(h0[:, None], T, axis=1)  # h[:, s]: window s's state
    h[:, k:] = frozen[:, : T - k]
    waits = np.arange(T)[None, :, None] < k - 1 - np.arange(k)[:, None, None]  # (k, T, 1): step i of window s waits
    for i in range(k):
        new = _step(padded[:, i : i + T], h, Wx, Wh)
        h = np.where(waits[i], h, new)
    return h


def _rnn_inputs(rng, N, T, D, H):
    """x (N, T, D), h0 (N, H), Wx (D + 1, H), Wh (H, H), dh (N, T, H): scaled so tanh is neither
    saturated nor linear, and the gradient carried back a step keeps a good share of its size."""
    x = rng.normal(size=(N, T, D))
    h0 = 0.5 * rng.normal(size=(N, H))
    Wx = np.vstack([rng.normal(size=(D, H)) / np.sqrt(D), 0.3 * rng.normal(size=(1, H))])
    Wh = rng.normal(size=(H, H)) / np.sqrt(H)
    dh = rng.normal(size=(N, T, H))
    return x, h0, Wx, Wh, dh


def _rnn_data(dh, x, h0, Wx, Wh, h):
    """What the mistakes read: the inputs, and prev[t] = the state step t reads (h0 for t = 0)."""
    prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    return {"dh": dh, "x": x, "h0": h0, "Wx": Wx, "Wh": Wh, "h": h, "prev": prev}


# ---------------------------------------------------------------------------------------------
# rnn_step_backward(dh_next, cache) -> (dx, dh_prev, dWx, dWh), cache = (x, h_prev, Wx, Wh, h_next)


def _rnn_step_case(rng, dims):
    N, D, H = dims["N"], dims["D"], dims["H"]
    x, h_prev, Wx, Wh, dh = _rnn_inputs(rng, N, 1, D, H)
    x, dh_next = x[:, 0].copy(), dh[:, 0].copy()
    h_next, cache = _rnn_step_forward(x, h_prev, Wx, Wh)
    dx, dh_prev, dWx, dWh = _rnn_step_backward(dh_next, cache)
    targets = vjp_targets(_step, {"x_t": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh}, dh_next)
    return Case(
        args=(dh_next, cache),
        targets={"dx": targets["x_t"], "dh_prev": targets["h_prev"], "dWx": targets["Wx"], "dWh": targets["Wh"]},
        reference={"dx": dx, "dh_prev": dh_prev, "dWx": dWx, "dWh": dWh},
        label=label(dims),
        data={"x": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh, "h_next": h_next, "dh_next": dh_next},
    )


def _step_with(c, dz=None, **override):
    """The step's four gradients from dz (default: the right one), with some replaced."""
    d = c.data
    if dz is None:
        dz = d["dh_next"] * (1 - d["h_next"] ** 2)
    out = {
        "dx": dz @ d["Wx"][:-1].T,
        "dh_prev": dz @ d["Wh"].T,
        "dWx": _affine_backward(dz, d["x"], d["Wx"])[1],
        "dWh": d["h_prev"].T @ dz,
    }
    out.update({k: v(dz) for k, v in override.items()})
    return out


def _step_dz(c, derivative_of):
    return c.data["dh_next"] * (1 - derivative_of(c.data) ** 2)


RNN_STEP_BACKWARD = Exercise(
    id="rnn_step_backward",
    signature="rnn_step_backward(dh_next, cache) -> (dx, dh_prev, dWx, dWh)   # cache = (x, h_prev, Wx, Wh, h_next)",
    lesson="08_backprop_through_time",
    outputs=("dx", "dh_prev", "dWx", "dWh"),
    parts=(Part("dx", 1, ("dx",)), Part("dh_prev", 1, ("dh_prev",)), Part("dWx", 1, ("dWx",)), Part("dWh", 1, ("dWh",))),
    make_case=_rnn_step_case,
    visible_dims=({"N": 3, "D": 2, "H": 4},),
    hidden_dims=lambda rng: awkward_dims(rng, ["N", "D", "H"], high=5),
    shape_names={"dx": "(N, D)", "dh_prev": "(N, H)", "dWx": "(D + 1, H)", "dWh": "(H, H)"},
    mistakes=(
        Mistake("the tanh derivative is missing: first dz = dh_next * (1 - h_next**2), the gradient of the "
                "pre-activation, then every gradient is built from dz", lambda c: _step_with(c, c.data["dh_next"])),
        Mistake("the tanh derivative uses h_prev: tanh' belongs to this step's output, 1 - h_next**2",
                lambda c: _step_with(c, _step_dz(c, lambda d: d["h_prev"]))),
        Mistake("tanh is applied twice in the derivative: h_next is already tanh(z), so tanh'(z) = 1 - h_next**2, "
                "not 1 - tanh(h_next)**2", lambda c: _step_with(c, _step_dz(c, lambda d: np.tanh(d["h_next"])))),
        Mistake("dh_prev goes back through Wh instead of Wh.T: h_prev @ Wh is undone by dz @ Wh.T",
                lambda c: _step_with(c, dh_prev=lambda dz: dz @ c.data["Wh"])),
        Mistake("your dWh looks transposed: dWh = h_prev.T @ dz (row i: from hidden unit i of h_prev)",
                lambda c: _step_with(c, dWh=lambda dz: dz.T @ c.data["h_prev"])),
        Mistake("dWh uses h_next; the weights Wh multiply the previous state, so dWh = h_prev.T @ dz",
                lambda c: _step_with(c, dWh=lambda dz: c.data["h_next"].T @ dz)),
        Mistake("dWx has no bias row: the bias is the weight from the constant-1 input, so dWx needs a last row, "
                "dz summed over the batch", lambda c: _step_with(c, dWx=lambda dz: c.data["x"].T @ dz)),
        Mistake("dx includes the bias row's weights: use Wx[:-1] (the constant-1 unit is not an input)",
                lambda c: _step_with(c, dx=lambda dz: dz @ c.data["Wx"].T)),
        Mistake("your dWx looks transposed: it should have one row per input unit (D + 1 rows, the bias last)",
                lambda c: _step_with(c, dWx=lambda dz: _affine_backward(dz, c.data["x"], c.data["Wx"])[1].T)),
    ),
)


# ---------------------------------------------------------------------------------------------
# bptt(dh, x, h0, Wx, Wh, h) -> (dx, dh0, dWx, dWh): full backpropagation through time


def _bptt_case(rng, dims):
    N, T, D, H = dims["N"], dims["T"], dims["D"], dims["H"]
    x, h0, Wx, Wh, dh = _rnn_inputs(rng, N, T, D, H)
    h, cache = _rnn_forward(x, h0, Wx, Wh)
    grads = _rnn_backward(dh, cache)
    targets = vjp_targets(_states, {"x": x, "h0": h0, "Wx": Wx, "Wh": Wh}, dh)
    return Case(
        args=(dh, x, h0, Wx, Wh, h),
        targets={"dx": targets["x"], "dh0": targets["h0"], "dWx": targets["Wx"], "dWh": targets["Wh"]},
        reference={"dx": grads.dx, "dh0": grads.dh0, "dWx": grads.dWx, "dWh": grads.dWh},
        label=label(dims),
        data=_rnn_data(dh, x, h0, Wx, Wh, h),
    )


def _bptt_with(c, carry=True, carry_past_tanh=False, derivative="h", back="Wh.T", dWh_state="prev", keep="all",
               h0_in_dWh=True):
    """Full BPTT with one twist, as a learner might write it -> {dx, dh0, dWx, dWh}.

    carry: add dh_next to dh[:, t]   carry_past_tanh: add dh_next after the tanh' step, to dz
    derivative: the state tanh' is taken of ("h": h_t, right; "prev": h_{t-1})   back: "Wh.T" or "Wh"
    dWh_state: the state in dWh ("prev": h_{t-1}, right; "h": h_t)   keep: "all" steps' weight shares,
    or only the one of step 0 / T - 1   h0_in_dWh: False leaves step 0's share out of dWh
    """
    d = c.data
    dh, x, Wx, Wh, h, prev = d["dh"], d["x"], d["Wx"], d["Wh"], d["h"], d["prev"]
    N, T, H = dh.shape
    dx = np.zeros(x.shape)
    dWx_t, dWh_t = [None] * T, [None] * T
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        g = dh[:, t] + (dh_next if carry and not carry_past_tanh else 0)
        dz = g * (1 - (h[:, t] if derivative == "h" else prev[:, t]) ** 2)
        if carry_past_tanh:
            dz = dz + dh_next
        dx[:, t] = dz @ Wx[:-1].T
        dWx_t[t] = _affine_backward(dz, x[:, t], Wx)[1]
        dWh_t[t] = (prev[:, t] if dWh_state == "prev" else h[:, t]).T @ dz
        if t == 0 and not h0_in_dWh:
            dWh_t[t] = np.zeros((H, H))
        dh_next = dz @ (Wh.T if back == "Wh.T" else Wh)
    pick = {"all": slice(None), "first": slice(0, 1), "last": slice(T - 1, T)}[keep]
    return {"dx": dx, "dh0": dh_next, "dWx": sum(dWx_t[pick]), "dWh": sum(dWh_t[pick])}


def _reaching_h(c):
    """The gradient reaching each state h[:, t] in full BPTT: (N, T, H)."""
    d = c.data
    dh, h, Wh = d["dh"], d["h"], d["Wh"]
    g, dh_next = np.zeros(dh.shape), 0
    for t in reversed(range(dh.shape[1])):
        g[:, t] = dh[:, t] + dh_next
        dh_next = (g[:, t] * (1 - h[:, t] ** 2)) @ Wh.T
    return g


_BPTT_MISTAKES = (
    Mistake("the gradient from step t + 1 is not carried back: the gradient reaching h_t is dh[:, t] plus "
            "dh_next, the dh_prev that step t + 1's backward returned",
            lambda c: _bptt_with(c, carry=False)),
    Mistake("dWx and dWh hold one time step's share only: the weights are shared by every step, so "
            "accumulate each step's share (dWx += ..., dWh += ...)", lambda c: _bptt_with(c, keep="first")),
    Mistake("dWh uses h[:, t], the state step t computes; step t multiplies Wh by the state it reads, "
            "h[:, t-1] (h0 for t = 0)", lambda c: _bptt_with(c, dWh_state="h")),
    Mistake("step 0's share of dWh is missing: step 0 reads h0, so it adds h0.T @ dz to dWh",
            lambda c: _bptt_with(c, h0_in_dWh=False)),
    Mistake("dWx and dWh hold one time step's share only: the weights are shared by every step, so "
            "accumulate each step's share (dWx += ..., dWh += ...)", lambda c: _bptt_with(c, keep="last")),
    Mistake("dh0 is zero: dh0 is the gradient that leaves step 0's backward (dh_next after the loop)",
            lambda c: {"dh0": np.zeros(c.data["h0"].shape)}),
    Mistake("dh0 is the gradient reaching h[:, 0], the state step 0 computes; h0 is one step further back: "
            "pass that gradient through step 0's backward", lambda c: {"dh0": _reaching_h(c)[:, 0]}),
    Mistake("the tanh derivative uses the previous state: step t's tanh' is 1 - h[:, t]**2, from the state it computes",
            lambda c: _bptt_with(c, derivative="prev")),
    Mistake("the gradient goes back through Wh instead of Wh.T: h_prev @ Wh is undone by dz @ Wh.T",
            lambda c: _bptt_with(c, back="Wh")),
    Mistake("dh_next skips the tanh derivative: add it to dh[:, t] first, then multiply the sum by 1 - h[:, t]**2",
            lambda c: _bptt_with(c, carry_past_tanh=True)),
    Mistake("dx includes the bias row's weights: use Wx[:-1] (the constant-1 unit is not an input)",
            lambda c: {"dx": np.einsum("nth,dh->ntd", _reaching_h(c) * (1 - c.data["h"] ** 2), c.data["Wx"])}),
    Mistake("dWx has no bias row: the bias is the weight from the constant-1 input, so dWx needs a last row, "
            "dz summed over the batch and over time", lambda c: {"dWx": _bptt_with(c)["dWx"][:-1]}),
)

def _bptt_hidden_dims(rng):
    """awkward_dims over N, T, D, H, general cases first; the first one has T >= 3 (T = 2 swaps sizes
    with the largest), so keeping one step's share of dWh and leaving out step 0's differ there."""
    dims = awkward_dims(rng, ["N", "T", "D", "H"], high=4)
    first = dims[0]
    if first["T"] < 3:
        largest = max(first, key=first.get)
        first["T"], first[largest] = first[largest], first["T"]
    return dims


_BPTT_SHAPES = {"dx": "(N, T, D)", "dh0": "(N, H)", "dWx": "(D + 1, H)", "dWh": "(H, H)"}
_BPTT_PARTS = (Part("dx", 1, ("dx",)), Part("dh0", 1, ("dh0",)), Part("dWx", 1, ("dWx",)), Part("dWh", 2, ("dWh",)))

BPTT = Exercise(
    id="bptt",
    signature="bptt(dh, x, h0, Wx, Wh, h) -> (dx, dh0, dWx, dWh)   # h: (N, T, H), the forward pass's states",
    lesson="08_backprop_through_time",
    outputs=("dx", "dh0", "dWx", "dWh"),
    parts=_BPTT_PARTS,
    make_case=_bptt_case,
    visible_dims=({"N": 3, "T": 4, "D": 2, "H": 3},),
    hidden_dims=_bptt_hidden_dims,
    shape_names=_BPTT_SHAPES,
    mistakes=_BPTT_MISTAKES,
)


# ---------------------------------------------------------------------------------------------
# truncated_bptt(dh, x, h0, Wx, Wh, h, k) -> (dx, dh0, dWx, dWh)


def _truncated_case(rng, dims):
    N, T, D, H, k = dims["N"], dims["T"], dims["D"], dims["H"], dims["k"]
    x, h0, Wx, Wh, dh = _rnn_inputs(rng, N, T, D, H)
    h, cache = _rnn_forward(x, h0, Wx, Wh)
    grads = _rnn_backward(dh, cache, truncate=k)
    frozen = h.copy()
    targets = vjp_targets(lambda x, h0, Wx, Wh: _windowed_states(x, h0, Wx, Wh, k, frozen),
                          {"x": x, "h0": h0, "Wx": Wx, "Wh": Wh}, dh)
    data = _rnn_data(dh, x, h0, Wx, Wh, h)
    data["k"] = k
    return Case(
        args=(dh, x, h0, Wx, Wh, h, k),
        targets={"dx": targets["x"], "dh0": targets["h0"], "dWx": targets["Wx"], "dWh": targets["Wh"]},
        reference={"dx": grads.dx, "dh0": grads.dh0, "dWx": grads.dWx, "dWh": grads.dWh},
        label=label(dims),
        data=data,
    )


def _windows(c, k, stop=-1, dh0_when=None, overwrite_dx=False, dWh_state="prev"):
    """Truncated BPTT as a learner might write it -> {dx, dh0, dWx, dWh}: each dh[:, s] walks back through
    steps s, s-1, ... down to (not including) max(s - k, stop); what is left is added to dh0 when
    dh0_when(s) (right: s < k). k = 0 walks no step at all. dWh_state: "prev" (right) or "h", the state
    dWh multiplies dz by."""
    d = c.data
    dh, x, Wx, Wh, h, prev = d["dh"], d["x"], d["Wx"], d["Wh"], d["h"], d["prev"]
    dh0_when = dh0_when or (lambda s: s < k)
    dx, dh0 = np.zeros(x.shape), np.zeros(d["h0"].shape)
    dWx, dWh = np.zeros(Wx.shape), np.zeros(Wh.shape)
    for s in range(dh.shape[1]):
        g = dh[:, s]
        for t in range(s, max(s - k, stop), -1):
            dz = g * (1 - h[:, t] ** 2)
            dx[:, t] = dz @ Wx[:-1].T + (0 if overwrite_dx else dx[:, t])
            dWx += _affine_backward(dz, x[:, t], Wx)[1]
            dWh += (prev[:, t] if dWh_state == "prev" else h[:, t]).T @ dz
            g = dz @ Wh.T
        if dh0_when(s):
            dh0 += g
    return {"dx": dx, "dh0": dh0, "dWx": dWx, "dWh": dWh}


def _chunks(c):
    """One backward walk that drops dh_next at fixed chunk boundaries (steps k - 1, 2k - 1, ...)."""
    d = c.data
    dh, x, Wx, Wh, h, prev, k = d["dh"], d["x"], d["Wx"], d["Wh"], d["h"], d["prev"], d["k"]
    dx, dWx, dWh = np.zeros(x.shape), np.zeros(Wx.shape), np.zeros(Wh.shape)
    dh_next = np.zeros(d["h0"].shape)
    for t in reversed(range(dh.shape[1])):
        if (t + 1) % k == 0:
            dh_next = np.zeros_like(dh_next)
        dz = (dh[:, t] + dh_next) * (1 - h[:, t] ** 2)
        dx[:, t] = dz @ Wx[:-1].T
        dWx += _affine_backward(dz, x[:, t], Wx)[1]
        dWh += prev[:, t].T @ dz
        dh_next = dz @ Wh.T
    return {"dx": dx, "dh0": dh_next, "dWx": dWx, "dWh": dWh}


def _truncated_hidden_dims(rng):
    """A general case first (2 < k < T - 1, so 1, k - 1, k, k + 1 and T steps all differ), then N = 1,
    k = 1, k = T, k > T, a single time step, D = 1 and H = 1; D != H wherever both exceed 1."""

    def sizes(n, high=6):
        return [int(v) for v in rng.choice(np.arange(2, high + 1), size=n, replace=False)]

    N, D, H = sizes(3, high=4)
    T = int(rng.integers(5, 7))
    dims = [{"N": N, "T": T, "D": D, "H": H, "k": int(rng.integers(3, T - 1))}]
    N, D, H = sizes(3)
    T = int(rng.integers(3, 6))
    dims.append({"N": 1, "T": T, "D": D, "H": H, "k": int(rng.integers(2, T))})
    N, D, H = sizes(3)
    dims.append({"N": N, "T": int(rng.integers(3, 6)), "D": D, "H": 1, "k": 1})
    N, D, H = sizes(3)
    T = int(rng.integers(2, 5))
    dims.append({"N": N, "T": T, "D": 1, "H": H, "k": T})
    N, D, H = sizes(3)
    T = int(rng.integers(2, 5))
    dims.append({"N": N, "T": T, "D": D, "H": H, "k": T + int(rng.integers(1, 4))})
    N, D, H = sizes(3)
    dims.append({"N": N, "T": 1, "D": D, "H": H, "k": int(rng.integers(1, 3))})
    return dims


TRUNCATED_BPTT = Exercise(
    id="truncated_bptt",
    signature="truncated_bptt(dh, x, h0, Wx, Wh, h, k) -> (dx, dh0, dWx, dWh)   # each dh[:, s] goes back k steps",
    lesson="08_backprop_through_time",
    outputs=("dx", "dh0", "dWx", "dWh"),
    parts=_BPTT_PARTS,
    make_case=_truncated_case,
    visible_dims=({"N": 2, "T": 6, "D": 3, "H": 4, "k": 3},),
    hidden_dims=_truncated_hidden_dims,
    shape_names=_BPTT_SHAPES,
    mistakes=(
        Mistake("the window is one step too long: each dh[:, s] goes back through the k steps s, s-1, ..., s-k+1 "
                "(range(s, max(s - k, -1), -1)), then stops", lambda c: _windows(c, c.data["k"] + 1)),
        Mistake("the window is one step too short: each dh[:, s] goes back through the k steps s, s-1, ..., s-k+1 "
                "(range(s, max(s - k, -1), -1)), then stops", lambda c: _windows(c, c.data["k"] - 1)),
        Mistake("the truncation is ignored: this is full BPTT; each dh[:, s] must stop after k steps "
                "(the state h_{s-k} is held constant)", lambda c: _windows(c, c.data["dh"].shape[1])),
        Mistake("the gradient is cut at every step, as if k = 1: each dh[:, s] goes back through k steps, "
                "s down to s-k+1", lambda c: _windows(c, 1)),
        Mistake("the gradient is cut at fixed chunk boundaries (every k steps of the sequence); here each "
                "dh[:, s] goes back k steps from its own s, so the windows of different s overlap",
                _chunks),
        Mistake("step 0 is never walked through: with range(s, max(s - k, 0), -1) the window stops at step 1; "
                "use max(s - k, -1), so a window that reaches the start includes step 0",
                lambda c: _windows(c, c.data["k"], stop=0)),
        Mistake("dh0 gets one window too many: only a window that walks through step 0 (s < k) reaches h0; "
                "for s = k the window ends at h[:, 0], which is held constant",
                lambda c: _windows(c, c.data["k"], dh0_when=lambda s: s <= c.data["k"])),
        Mistake("dx[:, t] keeps only the last window's share: several windows pass through step t, so "
                "accumulate (dx[:, t] += ...)", lambda c: _windows(c, c.data["k"], overwrite_dx=True)),
        Mistake("dh0 is zero: the windows of s < k reach step 0, and what leaves step 0's backward is "
                "their gradient of h0", lambda c: {"dh0": np.zeros(c.data["h0"].shape)}),
        Mistake("dWh uses h[:, t], the state step t computes; step t multiplies Wh by the state it reads, "
                "h[:, t-1] (h0 for t = 0)", lambda c: _windows(c, c.data["k"], dWh_state="h")),
    ),
)


# ---------------------------------------------------------------------------------------------
# fixed_point_backward(ds, x, W, U, s) -> (dx, dW, dU)


def _relaxed(step, v, tol=_FIXED_POINT_TOL, max_iter=10_000):
    """Iterate v = step(v) until max |step(v) - v| < tol; a diverging or stuck iteration raises
    (for a Mistake, that means it does not apply to this case)."""
    with np.errstate(all="ignore"):
        for _ in range(max_iter):
            v_new = step(v)
            change = float(np.abs(v_new - v).max(initial=0.0))
            if not change < np.inf:
                break
            if change < tol:
                return v_new
            v = v_new
    raise ArithmeticError("a relaxation of the grader did not converge")


def _fixed_point(x, W, U, s0):
    u = _affine(x, U)
    return _relaxed(lambda s: np.tanh(s @ W + u), s0)


def _fixed_point_case(rng, dims):
    N, D, H = dims["N"], dims["D"], dims["H"]
    x = rng.normal(size=(N, D))
    W = rng.normal(size=(H, H))
    W *= 0.5 / np.linalg.norm(W, 2)
    U = np.vstack([rng.normal(size=(D, H)) / np.sqrt(D), 0.5 * rng.normal(size=(1, H))])
    ds = rng.normal(size=(N, H))
    s, cache = _fixed_point_forward(x, W, U, tol=_FIXED_POINT_TOL)
    dx, dW, dU = _fixed_point_backward(ds, cache, tol=_FIXED_POINT_TOL)
    start = s.copy()  # every perturbed relaxation starts from the unperturbed fixed point
    targets = vjp_targets(lambda x, W, U: _fixed_point(x, W, U, start), {"x": x, "W": W, "U": U}, ds)
    return Case(
        args=(ds, x, W, U, s),
        targets={"dx": targets["x"], "dW": targets["W"], "dU": targets["U"]},
        reference={"dx": dx, "dW": dW, "dU": dU},
        label=label(dims),
        data={"ds": ds, "x": x, "W": W, "U": U, "s": s, "z": s @ W + _affine(x, U)},
    )


def _adjoint_with(c, relax=True, M="W.T", derivative="s", in_relaxation=True, in_delta=True, after_W=False):
    """Fixed-point backprop with one twist -> {dx, dW, dU, and delta = dL/dz*}.

    relax: False takes lam = ds (no feedback)   M: the matrix lam is fed back through ("W.T", right, or "W")
    derivative: f' from "s" (1 - s**2, right) or "z" (1 - z**2)   in_relaxation / in_delta: where f' is used
    after_W: f' applied after the feedback matrix, lam = ds + (lam @ W.T) * f'
    """
    d = c.data
    ds, x, W, U, s = d["ds"], d["x"], d["W"], d["U"], d["s"]
    fprime = 1 - (s if derivative == "s" else d["z"]) ** 2
    M = W.T if M == "W.T" else W
    g = fprime if in_relaxation else 1.0
    if not relax:
        lam = ds
    elif after_W:
        lam = _relaxed(lambda lam: ds + (lam @ M) * g, np.zeros_like(ds))
    else:
        lam = _relaxed(lambda lam: ds + (lam * g) @ M, np.zeros_like(ds))
    delta = lam * fprime if in_delta else lam
    dU = _affine_backward(delta, x, U)[1]
    return {"dx": delta @ U[:-1].T, "dW": s.T @ delta, "dU": dU, "delta": delta}


FIXED_POINT_BACKWARD = Exercise(
    id="fixed_point_backward",
    signature="fixed_point_backward(ds, x, W, U, s) -> (dx, dW, dU)   # s: the fixed point s = tanh(s @ W + [x, 1] @ U)",
    lesson="09_fixed_point",
    outputs=("dx", "dW", "dU"),
    parts=(Part("dx", 1, ("dx",)), Part("dW", 2, ("dW",)), Part("dU", 1, ("dU",))),
    make_case=_fixed_point_case,
    visible_dims=({"N": 3, "D": 2, "H": 4},),
    hidden_dims=lambda rng: awkward_dims(rng, ["N", "D", "H"], high=4),
    shape_names={"dx": "(N, D)", "dW": "(H, H)", "dU": "(D + 1, H)"},
    mistakes=(
        Mistake("the adjoint is fed back through W instead of W.T: relax lam = ds + (lam * (1 - s**2)) @ W.T",
                lambda c: _adjoint_with(c, M="W")),
        Mistake("the adjoint is not relaxed: lam = ds leaves out everything fed back through W; iterate "
                "lam = ds + (lam * (1 - s**2)) @ W.T until it stops changing", lambda c: _adjoint_with(c, relax=False)),
        Mistake("the tanh derivative is missing: lam = ds + (lam * (1 - s**2)) @ W.T, then delta = lam * (1 - s**2)",
                lambda c: _adjoint_with(c, in_relaxation=False, in_delta=False)),
        Mistake("the tanh derivative is missing after the relaxation: the gradients use delta = lam * (1 - s**2), "
                "not lam", lambda c: _adjoint_with(c, in_delta=False)),
        Mistake("the tanh derivative is missing inside the relaxation: lam = ds + (lam * (1 - s**2)) @ W.T",
                lambda c: _adjoint_with(c, in_relaxation=False)),
        Mistake("the tanh derivative is on the wrong side of W.T: lam = ds + (lam * (1 - s**2)) @ W.T, "
                "not ds + (lam @ W.T) * (1 - s**2)", lambda c: _adjoint_with(c, after_W=True)),
        Mistake("the tanh derivative is taken of the pre-activation z: s = tanh(z), so tanh'(z) = 1 - s**2",
                lambda c: _adjoint_with(c, derivative="z")),
        Mistake("your dW looks transposed: dW = s.T @ delta (row i: from unit i of the state fed back)",
                lambda c: {"dW": _adjoint_with(c)["dW"].T}),
        Mistake("dU has no bias row: the bias is the weight from the constant-1 input, so dU needs a last row, "
                "delta summed over the batch", lambda c: {"dU": _adjoint_with(c)["dU"][:-1]}),
        Mistake("dx includes the bias row's weights: use U[:-1] (the constant-1 unit is not an input)",
                lambda c: {"dx": _adjoint_with(c)["delta"] @ c.data["U"].T}),
    ),
)


# ---------------------------------------------------------------------------------------------
# jacobian(x, weights) -> J (N, C, D) of an MLP: tanh hidden layers, identity output


def _jacobian_case(rng, dims):
    N, D, H, C, L = dims["N"], dims["D"], dims["H"], dims["C"], dims["L"]
    sizes = [D] + [H] * L + [C]
    weights = random_mlp_weights(rng, sizes)
    x = rng.normal(size=(N, D))
    activations = mlp_activations(len(weights))
    J = _mlp_jacobian(x, weights, activations)
    stacked = np.repeat(x[:, None, :], C, axis=1)  # X (N, C, D): the copy X[:, c] feeds output c only
    picks = np.eye(C)

    def f():
        out, _ = _mlp_forward(stacked.reshape(N * C, D), weights, activations)
        return float((out.reshape(N, C, C) * picks).sum())

    return Case(
        args=(x, weights),
        targets={"J": Gradient(f, stacked)},
        reference={"J": J},
        label=label(dims),
        data={"x": x, "weights": weights, "out": _mlp_forward(x, weights, activations)[0]},
    )


def _jacobian_hidden_dims(rng):
    """awkward_dims over N, D, H, C, general cases first; L hidden layers: 2 in the first case, else 1 or 2."""
    dims = awkward_dims(rng, ["N", "D", "H", "C"], high=4)
    return [dict(d, L=2 if i == 0 else int(rng.integers(1, 3))) for i, d in enumerate(dims)]


def _linear_jacobian(c):
    """The Jacobian with every tanh' left out: the product of the weight matrices, for every sample."""
    product = c.data["weights"][0][:-1]
    for W in c.data["weights"][1:]:
        product = product @ W[:-1]
    return np.broadcast_to(product.T, c.reference["J"].shape)


def _more_than_one_sample(J):
    if J.shape[0] < 2:
        raise ValueError("with one sample this mistake looks like a missing batch axis")
    return J


JACOBIAN = Exercise(
    id="jacobian",
    signature="jacobian(x, weights) -> J   # J[n, c, d] = d out[n, c] / d x[n, d], J: (N, C, D); tanh hidden layers, "
              "identity output; weights[l]: (D_l + 1, D_(l+1)), last row the bias",
    lesson="10_jacobians",
    outputs=("J",),
    parts=(Part("J", 2, ("J",)),),
    make_case=_jacobian_case,
    visible_dims=({"N": 3, "D": 4, "H": 5, "C": 2, "L": 2},),
    hidden_dims=_jacobian_hidden_dims,
    shape_names={"J": "(N, C, D)"},
    mistakes=(
        Mistake("your J looks transposed: J[n, c, d] = d out[n, c] / d x[n, d], so J is (N, C, D), one row per output",
                lambda c: {"J": c.reference["J"].transpose(0, 2, 1)}),
        Mistake("J is one (C, D) Jacobian, the first sample's: every sample has its own, J[n] = d out[n] / d x[n], "
                "so J is (N, C, D)", lambda c: {"J": _more_than_one_sample(c.reference["J"])[0]}),
        Mistake("every sample got the first sample's Jacobian: J[n] = d out[n] / d x[n] depends on x[n] (through tanh')",
                lambda c: {"J": np.broadcast_to(_more_than_one_sample(c.reference["J"])[:1], c.reference["J"].shape)}),
        Mistake("J is summed over the batch: keep one Jacobian per sample, J[n] = d out[n] / d x[n], J: (N, C, D)",
                lambda c: {"J": _more_than_one_sample(c.reference["J"]).sum(axis=0)}),
        Mistake("J has no batch axis: it must be (N, C, D), one (C, D) Jacobian per sample, even for N = 1",
                lambda c: {"J": c.reference["J"][0]}),
        Mistake("the tanh derivative is missing: going back through a hidden layer multiplies by 1 - a**2, "
                "its output's derivative", lambda c: {"J": _linear_jacobian(c)}),
        Mistake("the identity output layer is treated as tanh: its derivative is 1, not 1 - out**2",
                lambda c: {"J": c.reference["J"] * (1 - c.data["out"] ** 2)[:, :, None]}),
        Mistake("every row of J is the same: the backward pass got dout = ones (the gradient of the sum of the "
                "outputs); for row c, feed the unit vector e_c (dout[:, c] = 1, the rest 0)",
                lambda c: {"J": np.broadcast_to(c.reference["J"].sum(axis=1, keepdims=True), c.reference["J"].shape)}),
        Mistake("the signs are flipped", lambda c: {"J": -c.reference["J"]}),
    ),
)

EXERCISES = [RNN_STEP_BACKWARD, JACOBIAN, BPTT, TRUNCATED_BPTT, FIXED_POINT_BACKWARD]
