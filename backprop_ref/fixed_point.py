"""Fixed-point recurrent backpropagation (Almeida 1987, Pineda 1987).

A recurrent layer that runs until it settles. Its state is the fixed point

    s* = f(z*),   z* = s* @ W + u,   u = [x, 1] @ U        x: (N, D), s*: (N, H), W: (H, H), U: (D + 1, H)

found by relaxation: s_{k+1} = f(s_k @ W + u) from s_0 (zeros by default), with u held fixed,
until max |s_{k+1} - s_k| < tol. The gradient needs no unrolling: differentiating s* = f(s* @ W + u)
gives the *adjoint* equation for lam = dL/ds* (the upstream ds plus everything fed back through W)

    lam = ds + (lam * f'(z*)) @ W.T

which is relaxed the same way, from lam_0 = 0. Then, with delta = lam * f'(z*) = dL/dz*,

    dW = s*.T @ delta        dU = [x, 1].T @ delta        dx = delta @ U[:-1].T

Both relaxations surely converge when the map is a contraction: when the spectral norm of W is
below 1 / max f' (1 for tanh, 4 for sigmoid). init_fixed_point sets it to 0.5. The adjoint
relaxation is the backward pass of the forward one run for ever: it equals backpropagation
through time through all the relaxation steps (the tests check this with rnn_backward).

    params = init_fixed_point(D, H, K, rng)              # [W, U, Wy]
    loss, grads = fixed_point_loss(params, x, y)         # Wy reads the fixed point out
"""
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import ConvergenceError, check_ndim, check_same_shape, check_shape
from ._guard import answer_key
from .activations import get_activation
from .backend import array_namespace, get_backend, to_host
from .bias import affine, affine_backward, init_weights
from .layers import dense_backward, dense_forward
from .losses import get_loss

DEFAULT_TOL = {np.dtype("float64"): 1e-10, np.dtype("float32"): 1e-5, np.dtype("float16"): 1e-2}


@dataclass
class FixedPointCache:
    """What fixed_point_backward needs, and how the relaxations went (for lessons and plots)."""

    x: Any  # (N, D)
    W: Any  # (H, H)
    U: Any  # (D + 1, H)
    s: Any  # (N, H), the fixed point s* = f(z*)
    activation: str  # the name of f
    act_cache: Any  # the activation's cache at z*: what its backward needs for f'(z*)
    changes: list  # max |s_{k+1} - s_k| at each forward iteration
    adjoint_changes: list = None  # max |lam_{k+1} - lam_k| at each adjoint iteration (set by the backward)

    @property
    def iterations(self):
        """How many forward iterations the relaxation took."""
        return len(self.changes)

    @property
    def adjoint_iterations(self):
        """How many adjoint iterations the backward pass took (None before it has run)."""
        return None if self.adjoint_changes is None else len(self.adjoint_changes)


def _check_relaxation(where, tol, max_iter, on_fail):
    if not (isinstance(max_iter, (int, np.integer)) and not isinstance(max_iter, bool) and max_iter >= 1):
        raise ValueError(f"{where}: max_iter must be a whole number >= 1, got {max_iter!r}")
    if not tol > 0:
        raise ValueError(f"{where}: tol must be > 0, got {tol!r}")
    if on_fail not in ("raise", "warn"):
        raise ValueError(f"{where}: on_fail must be 'raise' or 'warn', got {on_fail!r}")


def _hint(W):
    norm = float(np.linalg.norm(to_host(W), 2))
    return (
        f"The spectral norm of W is {norm:.3g}; relaxation surely converges when it is below "
        f"1 / max f' (1 for tanh, 4 for sigmoid): scale W down (init_fixed_point(..., contraction=0.5)) or raise max_iter."
    )


def _relax(where, name, step, v, tol, max_iter, on_fail, W):
    """Iterate v = step(v) until max |v_new - v| < tol -> (v, the list of changes, one per iteration).

    name: the iterate's name in messages ("s" or "lam"). Not settling within max_iter iterations
    raises ConvergenceError (on_fail="raise") or warns and returns the last v (on_fail="warn");
    a non-finite iterate always raises, since there is nothing left to return.
    """
    xp = array_namespace(v, W)
    changes = []
    for k in range(1, max_iter + 1):
        with np.errstate(over="ignore", invalid="ignore"):  # NumPy would warn; overflow is caught below
            v_new = step(v)
        change = float(xp.abs(v_new - v).max())
        changes.append(change)
        if not math.isfinite(change):
            raise ConvergenceError(
                f"{where}: the relaxation of {name} diverged: {name} holds NaN or inf after {k} iteration(s). "
                f"Check x and the weights for NaN/inf. {_hint(W)}"
            )
        v = v_new
        if change < tol:
            return v, changes
    message = (
        f"{where}: the relaxation of {name} did not converge in {max_iter} iterations: the last change "
        f"max|{name}_(k+1) - {name}_k| = {change:.3g} is not below tol = {tol:.3g}. {_hint(W)}"
    )
    if on_fail == "raise":
        raise ConvergenceError(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    return v, changes


@answer_key  # lesson 9's relax is this relaxation
def fixed_point_forward(x, W, U, activation="tanh", tol=None, max_iter=1000, s0=None, on_fail="raise"):
    """Relax s = f(s @ W + [x, 1] @ U) to its fixed point s*.

    x: (N, D)   W: (H, H)   U: (D + 1, H), last row the bias   s0: (N, H) start (default zeros)
    activation: the name of f   tol: stop when max |s_{k+1} - s_k| < tol (default 1e-10 in float64,
    1e-5 in float32)   max_iter: the iteration budget   on_fail: "raise" (ConvergenceError) or "warn"
    ->   s: (N, H), the fixed point; cache: FixedPointCache (cache.iterations, cache.changes)
    """
    where = "fixed_point_forward"
    check_ndim(where, "x", x, 2, "(N, D)")
    check_ndim(where, "W", W, 2, "(H, H)")
    N, D, H = x.shape[0], x.shape[1], W.shape[0]
    check_shape(where, "W", W, (H, H), "= (H, H): square, the state feeds back into itself")
    check_ndim(where, "U", U, 2, "(D + 1, H)")
    check_shape(where, "U", U, (D + 1, H), f"= (D + 1, H) with D = {D} from x and H = {H} from W (the last row is the bias)")
    if s0 is not None:
        check_ndim(where, "s0", s0, 2, "(N, H)")
        check_shape(where, "s0", s0, (N, H), f"= (N, H) with N = {N} from x and H = {H} from W")
    xp = array_namespace(x, W, U, s0)
    forward, _ = get_activation(activation)
    u = affine(x, U)  # the input's drive, the same at every iteration
    tol = DEFAULT_TOL.get(u.dtype, 1e-5) if tol is None else tol
    _check_relaxation(where, tol, max_iter, on_fail)
    s = xp.zeros((N, H), dtype=u.dtype) if s0 is None else s0
    s, changes = _relax(where, "s", lambda s: forward(s @ W + u)[0], s, tol, max_iter, on_fail, W)
    s, act_cache = forward(s @ W + u)  # one more step, to keep z* = s* @ W + u for the backward pass
    return s, FixedPointCache(x, W, U, s, activation, act_cache, changes)


@answer_key
def fixed_point_backward(ds, cache, tol=None, max_iter=1000, on_fail="raise"):
    """Relax the adjoint lam = ds + (lam * f'(z*)) @ W.T, then read the gradients off it.

    ds: (N, H), the upstream gradient of s*   cache: from fixed_point_forward
    tol, max_iter, on_fail: as in fixed_point_forward, for the adjoint relaxation
    ->   dx: (N, D), dW: (H, H), dU: (D + 1, H)
    with delta = lam * f'(z*) (N, H):   dW = s*.T @ delta,   dU = [x, 1].T @ delta,   dx = delta @ U[:-1].T
    The adjoint iterations are recorded in cache.adjoint_changes (cache.adjoint_iterations).
    """
    where = "fixed_point_backward"
    c = cache
    check_same_shape(where, "ds", ds, "s*", c.s)
    xp = array_namespace(ds, c.s)
    _, backward = get_activation(c.activation)
    tol = DEFAULT_TOL.get(xp.result_type(ds, c.s), 1e-5) if tol is None else tol
    _check_relaxation(where, tol, max_iter, on_fail)
    lam = xp.zeros_like(ds)
    lam, c.adjoint_changes = _relax(
        where, "lam", lambda lam: ds + backward(lam, c.act_cache) @ c.W.T, lam, tol, max_iter, on_fail, c.W
    )
    delta = backward(lam, c.act_cache)  # lam * f'(z*) = dL/dz*
    dW = c.s.T @ delta
    dx, dU = affine_backward(delta, c.x, c.U)
    return dx, dW, dU


def init_fixed_point(D, H, K, rng, backend=None, dtype=np.float64, contraction=0.5):
    """[W (H, H), U (D + 1, H), Wy (H + 1, K)] for a fixed-point layer with a dense readout.

    W is Gaussian, rescaled so its spectral norm is ``contraction``: below 1, the relaxation with
    tanh (or sigmoid) is a contraction and converges from any start. U and Wy are Gaussian with
    std 1/sqrt(fan-in) and zero bias (bias.init_weights).
    """
    W = rng.normal(size=(H, H))
    W *= contraction / np.linalg.norm(W, 2)
    U = init_weights(D, H, rng, backend=backend, dtype=dtype)
    Wy = init_weights(H, K, rng, backend=backend, dtype=dtype)
    return [get_backend(backend).asarray(W, dtype=dtype), U, Wy]


def fixed_point_loss(params, x, y, loss="softmax_cross_entropy", activation="tanh", tol=None, max_iter=1000):
    """Loss of a fixed-point layer with a dense readout on (x, y), and the gradients: (loss, grads).

    params: [W (H, H), U (D + 1, H), Wy (H + 1, K)]   x: (N, D)   y: what the named loss takes
    out = [s*, 1] @ Wy: (N, K), scored by the named loss (summed over outputs, averaged over the batch)
    ->   loss: float, grads: [dW, dU, dWy], shaped like params
    tol and max_iter apply to both relaxations. The signature (params, x, y) is the one ``train`` expects.
    """
    if len(params) != 3:
        raise ValueError(f"fixed_point_loss: params must be [W, U, Wy], got {len(params)} arrays")
    W, U, Wy = params
    s, cache = fixed_point_forward(x, W, U, activation, tol=tol, max_iter=max_iter)
    out, dense_cache = dense_forward(s, Wy)
    value, dout = get_loss(loss)(out, y)
    ds, dWy = dense_backward(dout, dense_cache)
    _, dW, dU = fixed_point_backward(ds, cache, tol=tol, max_iter=max_iter)
    return value, [dW, dU, dWy]
