"""A vanilla (tanh) recurrent network and backpropagation through time (BPTT).

Glossary: N batch, T time, D input, H hidden, K outputs. One time step is

    h_t = tanh([x_t, 1] @ Wx + h_{t-1} @ Wh)        x_t: (N, D), h_t: (N, H), h_{-1} = h0

with Wx (D + 1, H) (its last row the bias, see bias.py) and Wh (H, H), the same at every step.
As in CS231n the network is built in two steps: one time step (forward beside backward), then
the loop over time. In the backward loop the gradient that flows from step t + 1 back into h_t
has its own name, ``dh_next``, and the gradients of the shared weights are accumulated
(``dWx += ...``, ``dWh += ...``): every step adds its share. rnn_forward and rnn_backward give the
same numbers as those loops over the steps, but do every matmul that need not wait for the
previous step once for all T steps together, outside the loop.

    params = init_rnn(D, H, K, rng)                      # [Wx, Wh, Wy]
    loss, grads = rnn_loss(params, x, y)                 # x: (N, T, D), y: (N, T, K)
"""
from typing import Any, NamedTuple

import numpy as np

from ._checks import ShapeError, check_ndim, check_same_shape, check_shape
from ._guard import answer_key
from .activations import tanh_backward, tanh_forward
from .backend import array_namespace, get_backend, to_host
from .bias import affine, affine_backward, init_weights
from .layers import dense_backward, dense_forward
from .losses import get_loss


def _check_rnn_inputs(where, x, h_prev, h_name, Wx, Wh):
    """x: (N, D) or (N, T, D), already checked; h_prev, Wx and Wh must agree with it and each other."""
    N, D = x.shape[0], x.shape[-1]
    check_ndim(where, "Wh", Wh, 2, "(H, H)")
    H = Wh.shape[1]
    check_shape(where, "Wh", Wh, (H, H), "= (H, H): square, hidden to hidden")
    check_ndim(where, "Wx", Wx, 2, "(D + 1, H)")
    check_shape(where, "Wx", Wx, (D + 1, H), f"= (D + 1, H) with D = {D} from x and H = {H} from Wh (the last row is the bias)")
    check_ndim(where, h_name, h_prev, 2, "(N, H)")
    check_shape(where, h_name, h_prev, (N, H), f"= (N, H) with N = {N} from x and H = {H} from Wh")


# ---------------------------------------------------------------------------------------------
# One time step.


def rnn_step_forward(x, h_prev, Wx, Wh):
    """h_next = tanh([x, 1] @ Wx + h_prev @ Wh)

    x: (N, D)   h_prev: (N, H)   Wx: (D + 1, H), last row the bias   Wh: (H, H)
    ->   h_next: (N, H), cache = (x, h_prev, Wx, Wh, h_next)
    """
    where = "rnn_step_forward"
    check_ndim(where, "x", x, 2, "(N, D)")
    _check_rnn_inputs(where, x, h_prev, "h_prev", Wx, Wh)
    h_next, _ = tanh_forward(affine(x, Wx) + h_prev @ Wh)
    return h_next, (x, h_prev, Wx, Wh, h_next)


@answer_key
def rnn_step_backward(dh_next, cache):
    """dz = dh_next * (1 - h_next**2)        (through the tanh; z is the pre-activation)
    dx = dz @ Wx[:-1].T,   dWx = [x, 1].T @ dz,   dh_prev = dz @ Wh.T,   dWh = h_prev.T @ dz

    dh_next: (N, H), the gradient of the loss with respect to this step's output h_next
    ->   dx: (N, D), dh_prev: (N, H), dWx: (D + 1, H), dWh: (H, H)
    """
    x, h_prev, Wx, Wh, h_next = cache
    check_same_shape("rnn_step_backward", "dh_next", dh_next, "h_next", h_next)
    dz = tanh_backward(dh_next, h_next)
    dx, dWx = affine_backward(dz, x, Wx)
    dh_prev = dz @ Wh.T
    dWh = h_prev.T @ dz
    return dx, dh_prev, dWx, dWh


# ---------------------------------------------------------------------------------------------
# The loop over time.


class RNNCache(tuple):
    """rnn_forward's cache: the T step caches, in order, as rnn_step_forward returns them.

    cache[t] = (x[:, t], h_prev, Wx, Wh, h_next), its states views into ``cache.states``, a
    (T + 1, N, H) time-major buffer with states[0] = h0 and states[t + 1] = h_t: each step's state
    is one contiguous block, and states[:-1] are all the steps' h_prev at once. rnn_backward reads
    the whole arrays, cache.x, cache.Wx, cache.Wh and cache.states.
    """

    def __new__(cls, x, Wx, Wh, states):
        cache = super().__new__(cls, ((x[:, t], states[t], Wx, Wh, states[t + 1]) for t in range(x.shape[1])))
        cache.x, cache.Wx, cache.Wh, cache.states = x, Wx, Wh, states
        return cache

    def __getnewargs__(self):  # what copy and pickle pass to __new__ to rebuild it
        return self.x, self.Wx, self.Wh, self.states


def rnn_forward(x, h0, Wx, Wh):
    """Run rnn_step_forward over the T time steps: h[:, t] = tanh([x[:, t], 1] @ Wx + h[:, t-1] @ Wh).

    x: (N, T, D)   h0: (N, H), the state before step 0   Wx: (D + 1, H)   Wh: (H, H)
    ->   h: (N, T, H), every hidden state; cache: an RNNCache, the T step caches in order

    The same numbers as a loop over rnn_step_forward, computed faster: the input projections
    [x_t, 1] @ Wx of all T steps do not depend on the state, so they are one matmul before the loop,
    and the loop only adds h_{t-1} @ Wh and takes the tanh, in place, in a preallocated buffer.
    """
    where = "rnn_forward"
    check_ndim(where, "x", x, 3, "(N, T, D)")
    _check_rnn_inputs(where, x, h0, "h0", Wx, Wh)
    if x.shape[1] == 0:
        raise ShapeError(f"{where}: x must have at least one time step (T >= 1), got shape {tuple(x.shape)}")
    xp = array_namespace(x, h0, Wx, Wh)
    N, T, D = x.shape
    H = Wh.shape[0]
    states = xp.empty((T + 1, N, H), dtype=xp.result_type(x, h0, Wx, Wh))  # time-major: see RNNCache
    states[0] = h0
    states[1:] = xp.transpose(affine(x.reshape(N * T, D), Wx).reshape(N, T, H), (1, 0, 2))  # all T steps' [x_t, 1] @ Wx
    carried = xp.empty((N, H), dtype=states.dtype)  # h_{t-1} @ Wh, written in place each step
    for t in range(T):
        z = states[t + 1]  # holds [x_t, 1] @ Wx; becomes the pre-activation, then h_t
        z += xp.matmul(states[t], Wh, out=carried)
        xp.tanh(z, out=z)
    h = xp.ascontiguousarray(xp.transpose(states[1:], (1, 0, 2)))  # a copy: writing into h cannot change the cache
    return h, RNNCache(x, Wx, Wh, states)


class RNNGrads(NamedTuple):
    """What rnn_backward returns (unpacks like a tuple: dx, dh0, dWx, dWh, dh_norms = ...)."""

    dx: Any  # (N, T, D)
    dh0: Any  # (N, H)
    dWx: Any  # (D + 1, H)
    dWh: Any  # (H, H)
    dh_norms: np.ndarray  # (T,) on the host: the size of the gradient reaching each hidden state


def _check_truncate(truncate):
    if truncate is None:
        return
    if isinstance(truncate, bool) or not isinstance(truncate, (int, np.integer)):
        raise TypeError(f"rnn_backward: truncate must be a positive int (a window of time steps) or None, got {truncate!r}")
    if truncate < 1:
        raise ValueError(f"rnn_backward: truncate must be a positive int (a window of time steps) or None, got {truncate}")


@answer_key
def rnn_backward(dh, cache, truncate=None):
    """Backpropagation through time: the gradients of every input and shared weight.

    dh: (N, T, H), the upstream gradient of every hidden state (from per-time-step losses; a loss
        on the last state only has dh zero except dh[:, -1])
    cache: from rnn_forward   truncate: None (full BPTT) or a window k >= 1 (truncated BPTT)
    ->   RNNGrads(dx: (N, T, D), dh0: (N, H), dWx: (D + 1, H), dWh: (H, H), dh_norms: (T,) NumPy)

    Full BPTT walks back once. The gradient reaching h_t is dh[:, t] (the loss reads h_t) plus
    dh_next (step t + 1 reads h_t): dL/dh_t = dh[:, t] + dh_next. Step t's backward turns it into
    step t's share of dx, dWx, dWh, and into the dh_next of step t - 1. What leaves step 0 is dh0.

    Truncated BPTT, truncate = k. Write L = sum_s L_s, where L_s = sum(dh[:, s] * h_s) is the part
    of the loss that reads h_s. The gradient of each L_s is followed back through at most k steps,
    s, s-1, ..., s-k+1, and then dropped: it is the exact gradient of L_s with the state h_{s-k}
    held constant, and it reaches x, Wx and Wh at those k steps only. The initial state h0 is an
    input, never a computed state, so it is never cut off: when the window reaches step 0
    (s - k + 1 <= 0, i.e. s < k) there is nothing to cut and L_s's gradient flows on into dh0.
    So k >= T is full BPTT, and k = 1 sends each dh[:, s] into step s alone (x_s and step s's share
    of Wx, Wh) and into dh0 only for s = 0. It takes O(T * k) step backwards (full BPTT: O(T)).

    dh_norms[t] = sqrt(sum over n, j of g_t[n, j]**2), where g_t (N, H) is the total gradient the
    backward pass sends into h_t: dL/dh_t for full BPTT; with truncation, the sum of the L_s
    gradients whose windows cover step t. Plot it over t to see gradients vanish or explode.

    The same numbers as a loop over rnn_step_backward, computed faster: only dh_next has to walk
    back step by step; step t's shares of dx, dWx and dWh are linear in its dz, so the loop keeps
    every step's dz and they are summed over time by three matmuls after it.
    """
    where = "rnn_backward"
    _check_truncate(truncate)
    if not isinstance(cache, RNNCache):
        raise TypeError(f"{where}: cache must be the cache rnn_forward returned, got {type(cache).__name__}")
    x, Wx, Wh, states = cache.x, cache.Wx, cache.Wh, cache.states
    N, T, D = x.shape
    H = Wh.shape[0]
    check_ndim(where, "dh", dh, 3, "(N, T, H)")
    check_shape(where, "dh", dh, (N, T, H), "= (N, T, H), the shape of rnn_forward's h")
    xp = array_namespace(dh, Wx)
    dtype = xp.result_type(dh, Wx)
    dh_t = xp.transpose(dh, (1, 0, 2))  # a time-major view: dh_t[t] is dh[:, t]
    g = xp.zeros((T, N, H), dtype=dtype)  # g[t], the total gradient reaching h_t (dh_norms)
    dz = xp.multiply(states[1:], states[1:], dtype=dtype)  # one buffer, reused in place: first h_t**2, ...
    xp.subtract(1.0, dz, out=dz)  # ... then tanh'(z_t) = 1 - h_t**2, which becomes dz[t] = g[t] * tanh'(z_t)
    Wh_T = xp.ascontiguousarray(Wh.T)  # copied once: BLAS multiplies small blocks by a transposed view at half speed
    if truncate is None:
        dh_next = xp.zeros((N, H), dtype=dtype)  # the gradient flowing into h_t from step t + 1
        for t in reversed(range(T)):
            xp.add(dh_t[t], dh_next, out=g[t])
            dz[t] *= g[t]  # through the tanh: step t's gradient before it
            xp.matmul(dz[t], Wh_T, out=dh_next)  # into h_{t-1}: dh_prev of rnn_step_backward
        dh0 = dh_next
    else:
        k = truncate
        tanh_grad = dz  # it holds tanh'(z_t) until it is multiplied by g below
        dh0 = xp.zeros((N, H), dtype=dtype)
        for s in range(T):  # the part of the loss that reads h_s ...
            g_s = dh_t[s]  # ... and its gradient reaching h_t, from t = s back to t = s - k + 1
            for t in range(s, max(s - k, -1), -1):
                g[t] += g_s
                g_s = (g_s * tanh_grad[t]) @ Wh_T  # one step further back: the gradient reaching h_{t-1}
            if s < k:  # the window reached step 0, so what left it is L_s's gradient of h0
                dh0 += g_s
        dz *= g  # dz is linear in g: the windows' shares at step t add up before the tanh
    dz_rows = dz.reshape(T * N, H)
    dWh = states[:-1].reshape(T * N, H).T @ dz_rows  # every step's h_prev.T @ dz, summed over time
    dz_batch_major = xp.ascontiguousarray(xp.transpose(dz, (1, 0, 2))).reshape(N * T, H)  # rows in x's order
    dx, dWx = affine_backward(dz_batch_major, x.reshape(N * T, D), Wx)  # every step's dx and [x_t, 1].T @ dz
    dh_norms = to_host(xp.sqrt(xp.einsum("tnh,tnh->t", g, g)))  # sum(g[t]**2) without a (T, N, H) temporary
    return RNNGrads(dx.reshape(N, T, D), dh0, dWx, dWh, dh_norms)


# ---------------------------------------------------------------------------------------------
# A dense layer at every time step.


def temporal_dense_forward(h, Wy):
    """out[:, t] = [h[:, t], 1] @ Wy at every time step t: one dense layer, shared over time.

    h: (N, T, H)   Wy: (H + 1, K), last row the bias   ->   out: (N, T, K), cache = (h, Wy)
    (computed as one dense layer on the N * T rows of h reshaped to (N * T, H))
    """
    where = "temporal_dense_forward"
    check_ndim(where, "h", h, 3, "(N, T, H)")
    check_ndim(where, "Wy", Wy, 2, "(H + 1, K)")
    N, T, H = h.shape
    check_shape(where, "Wy", Wy, (H + 1, None), f"= (H + 1, K) with H = {H} from h (the last row is the bias)")
    out = affine(h.reshape(N * T, H), Wy)
    return out.reshape(N, T, Wy.shape[1]), (h, Wy)


@answer_key
def temporal_dense_backward(dout, cache):
    """dh[:, t] = dout[:, t] @ Wy[:-1].T;   dWy = sum over t of [h[:, t], 1].T @ dout[:, t]

    dout: (N, T, K)   ->   dh: (N, T, H), dWy: (H + 1, K)
    """
    h, Wy = cache
    N, T, H = h.shape
    K = Wy.shape[1]
    check_ndim("temporal_dense_backward", "dout", dout, 3, "(N, T, K)")
    check_shape("temporal_dense_backward", "dout", dout, (N, T, K), "= (N, T, K), the shape of the forward output")
    dh, dWy = affine_backward(dout.reshape(N * T, K), h.reshape(N * T, H), Wy)
    return dh.reshape(N, T, H), dWy


# ---------------------------------------------------------------------------------------------
# Weights and the loss of a whole network.


def init_rnn(D, H, K, rng, backend=None, dtype=np.float64):
    """[Wx (D + 1, H), Wh (H, H), Wy (H + 1, K)] for an RNN with a dense readout.

    Wx and Wy are Gaussian with std 1/sqrt(fan-in) and zero bias (bias.init_weights). Wh is a
    random orthogonal matrix: h @ Wh has the same norm as h, so at the start the state carried
    from step to step is neither blown up nor squashed to nothing (only tanh' <= 1 shrinks it).
    ``rng`` is a numpy.random.Generator, so one seed gives the same weights on every backend.
    """
    Wx = init_weights(D, H, rng, backend=backend, dtype=dtype)
    q, r = np.linalg.qr(rng.normal(size=(H, H)))
    Wh = get_backend(backend).asarray(q * np.sign(np.diag(r)), dtype=dtype)  # signs fixed: uniformly random
    Wy = init_weights(H, K, rng, backend=backend, dtype=dtype)
    return [Wx, Wh, Wy]


def _check_targets(where, y, lead, K, meaning):
    """y: lead + (K,) values or one-hot rows, or lead-shaped integer class labels."""
    shape = tuple(y.shape)
    if shape == lead + (K,) or (shape == lead and y.dtype.kind in "iu"):
        return
    raise ShapeError(
        f"{where}: y must have shape {lead + (K,)} = {meaning} (K = {K} outputs, from Wy), or {lead} "
        f"integer labels for softmax_cross_entropy; got shape {shape} of dtype {y.dtype}"
    )


def rnn_loss(params, x, y, loss="mse", last_only=False, truncate=None):
    """Loss of an RNN with a dense readout on (x, y), and the gradient of every weight: (loss, grads).

    params: [Wx (D + 1, H), Wh (H, H), Wy (H + 1, K)]   x: (N, T, D)   h0 = 0
    loss: a name from backprop_ref.losses   truncate: None, or the BPTT window k (see rnn_backward)
    ->   loss: float, grads: [dWx, dWh, dWy], shaped like params

    Every step scored (last_only=False): y_hat[:, t] = [h[:, t], 1] @ Wy, y_hat: (N, T, K);
        y: (N, T, K), or (N, T) integer labels for softmax_cross_entropy. The loss is summed over
        outputs *and time steps* and averaged over the batch only (as CS231n's temporal softmax):
            L = (1/N) * sum over n, t of loss(y_hat[n, t], y[n, t])
        i.e. T times the named loss of the (N * T, K) rows, which averages over all N * T rows.
    Last step only (last_only=True): y_hat = [h[:, -1], 1] @ Wy, y_hat: (N, K);
        y: (N, K), or (N,) integer labels; L = the named loss, averaged over the batch.

    The signature (params, x, y) -> (loss, grads) is the one ``train`` expects; pass the other
    arguments with functools.partial(rnn_loss, last_only=True).
    """
    where = "rnn_loss"
    if len(params) != 3:
        raise ValueError(f"{where}: params must be [Wx, Wh, Wy], got {len(params)} arrays")
    Wx, Wh, Wy = params
    check_ndim(where, "x", x, 3, "(N, T, D)")
    check_ndim(where, "Wh", Wh, 2, "(H, H)")
    check_ndim(where, "Wy", Wy, 2, "(H + 1, K)")
    N, T, _ = x.shape
    H, K = Wh.shape[0], Wy.shape[1]
    check_shape(where, "Wy", Wy, (H + 1, K), f"= (H + 1, K) with H = {H} from Wh (the last row is the bias)")
    xp = array_namespace(x, Wx, Wh, Wy)
    h, cache = rnn_forward(x, xp.zeros((N, H), dtype=x.dtype), Wx, Wh)
    loss_fn = get_loss(loss)
    if last_only:
        _check_targets(where, y, (N,), K, "(N, K)")
        y_hat, dense_cache = dense_forward(h[:, -1], Wy)
        value, dy_hat = loss_fn(y_hat, y)
        dh_last, dWy = dense_backward(dy_hat, dense_cache)
        dh = xp.zeros_like(h)
        dh[:, -1] = dh_last
    else:
        _check_targets(where, y, (N, T), K, "(N, T, K)")
        y_hat, dense_cache = temporal_dense_forward(h, Wy)
        value, dy_hat = loss_fn(y_hat.reshape(N * T, K), y.reshape(N * T, *y.shape[2:]))
        value, dy_hat = T * value, T * dy_hat.reshape(N, T, K)  # a mean over N, not over N * T
        dh, dWy = temporal_dense_backward(dy_hat, dense_cache)
    grads = rnn_backward(dh, cache, truncate=truncate)
    return value, [grads.dWx, grads.dWh, dWy]
