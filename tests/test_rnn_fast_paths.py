"""rnn_forward and rnn_backward (the fast paths) give the numbers of the plain loops over one time step.

The plain loops below are the textbook BPTT written with rnn_step_forward and rnn_step_backward,
step by step, with every shared-weight gradient accumulated inside the loop; the fast paths
batch the matmuls that need not wait for the previous step. They must agree in float64 to
rounding (the sums over time are only added in another order).
"""
import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop_ref.backend import array_namespace, to_host
from backprop_ref.rnn import RNNCache, rnn_backward, rnn_forward, rnn_loss, rnn_step_backward, rnn_step_forward

TIGHT = dict(rtol=1e-11, atol=1e-12)


def plain_forward(x, h0, Wx, Wh):
    """(h (N, T, H), [step caches]): a loop over rnn_step_forward."""
    xp = array_namespace(x)
    hs, caches, h_t = [], [], h0
    for t in range(x.shape[1]):
        h_t, cache_t = rnn_step_forward(x[:, t], h_t, Wx, Wh)
        hs.append(h_t)
        caches.append(cache_t)
    return xp.stack(hs, axis=1), caches


def plain_backward(dh, caches, truncate=None):
    """(dx, dh0, dWx, dWh, dh_norms): a loop over rnn_step_backward, every share accumulated in the loop."""
    xp = array_namespace(dh)
    N, T, H = dh.shape
    k = T if truncate is None else truncate  # a window as long as the sequence is full BPTT
    dx = xp.zeros(dh.shape[:2] + (caches[0][0].shape[1],))
    dh0, dWx, dWh = xp.zeros((N, H)), xp.zeros(caches[0][2].shape), xp.zeros((H, H))
    g = xp.zeros(dh.shape)
    for s in range(T):
        dh_t = dh[:, s]
        for t in range(s, max(s - k, -1), -1):
            g[:, t] += dh_t
            dx_t, dh_t, dWx_t, dWh_t = rnn_step_backward(dh_t, caches[t])
            dx[:, t] += dx_t
            dWx += dWx_t
            dWh += dWh_t
        if s < k:
            dh0 += dh_t
    return dx, dh0, dWx, dWh, to_host(xp.sqrt((g * g).sum(axis=(0, 2))))


def problem(xp, seed, n, t, d, h, dtype=np.float64):
    """x, h0, Wx, Wh, dh: random, with Wh large enough that the state matters."""
    rng = np.random.default_rng(seed)
    shapes = [(n, t, d), (n, h), (d + 1, h), (h, h), (n, t, h)]
    scales = [1.0, 0.5, 1 / np.sqrt(d), 1.2 / np.sqrt(h), 1.0]
    return [xp.asarray(s * rng.normal(size=shape), dtype=dtype) for s, shape in zip(scales, shapes)]


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 5), t=st.integers(1, 7), d=st.integers(1, 6),
       h=st.integers(1, 6), k=st.one_of(st.none(), st.integers(1, 9)))
def test_the_fast_paths_equal_the_loops_over_one_step(xp, seed, n, t, d, h, k):
    x, h0, Wx, Wh, dh = problem(xp, seed, n, t, d, h)
    h_fast, cache = rnn_forward(x, h0, Wx, Wh)
    h_plain, caches = plain_forward(x, h0, Wx, Wh)
    np.testing.assert_allclose(to_host(h_fast), to_host(h_plain), **TIGHT)
    fast = rnn_backward(dh, cache, truncate=k)
    for name, got, want in zip(fast._fields, fast, plain_backward(dh, caches, truncate=k)):
        np.testing.assert_allclose(to_host(got), to_host(want), err_msg=name, **TIGHT)


@pytest.mark.parametrize("k", [None, 1, 3, 50])
def test_a_long_sequence_equals_the_loop_over_one_step(xp, k):
    """T = 40 steps of a 16-unit state: the batched sums over time add many terms."""
    x, h0, Wx, Wh, dh = problem(xp, 7, 6, 40, 5, 16)
    cache = rnn_forward(x, h0, Wx, Wh)[1]
    fast = rnn_backward(dh, cache, truncate=k)
    for name, got, want in zip(fast._fields, fast, plain_backward(dh, plain_forward(x, h0, Wx, Wh)[1], truncate=k)):
        np.testing.assert_allclose(to_host(got), to_host(want), err_msg=name, **TIGHT)


def test_the_cache_holds_every_step_cache(xp):
    """cache[t] is what rnn_step_forward returns at step t (lesson 8 reads cache[0]); len(cache) is T."""
    x, h0, Wx, Wh, _ = problem(xp, 1, 3, 4, 2, 5)
    cache = rnn_forward(x, h0, Wx, Wh)[1]
    caches = plain_forward(x, h0, Wx, Wh)[1]
    assert len(cache) == 4
    for t in [0, 1, 3, -1]:
        for got, want in zip(cache[t], caches[t]):
            np.testing.assert_allclose(to_host(got), to_host(want), **TIGHT)
    with pytest.raises(IndexError):
        cache[4]
    dh = xp.ones((3, 4, 5))
    for got, want in zip(rnn_backward(dh, copy.deepcopy(cache)), rnn_backward(dh, cache)):  # a copy still works
        np.testing.assert_array_equal(to_host(got), to_host(want))


def test_inputs_and_the_cache_are_left_unchanged(xp):
    """Neither pass writes into its inputs; h is a copy, so writing into it cannot change the gradients."""
    arrays = problem(xp, 2, 3, 5, 2, 4)
    copies = [a.copy() for a in arrays]
    x, h0, Wx, Wh, dh = arrays
    h, cache = rnn_forward(x, h0, Wx, Wh)
    first = rnn_backward(dh, cache, truncate=2)
    h[...] = 0
    for k in [None, 2]:
        rnn_backward(dh, cache, truncate=k)
    again = rnn_backward(dh, cache, truncate=2)
    for got, want in zip(again, first):
        np.testing.assert_array_equal(to_host(got), to_host(want))
    for a, copy in zip(arrays, copies):
        np.testing.assert_array_equal(to_host(a), to_host(copy))


@pytest.mark.parametrize("k", [None, 2])
def test_float32_stays_float32_and_near_float64(xp, k):
    x, h0, Wx, Wh, dh = problem(xp, 3, 4, 6, 3, 5)
    want_h, want_cache = rnn_forward(x, h0, Wx, Wh)
    want = rnn_backward(dh, want_cache, truncate=k)
    h, cache = rnn_forward(*(a.astype(np.float32) for a in (x, h0, Wx, Wh)))
    got = rnn_backward(dh.astype(np.float32), cache, truncate=k)
    assert h.dtype == np.float32 and all(a.dtype == np.float32 for a in got[:4])
    np.testing.assert_allclose(to_host(h), to_host(want_h), rtol=1e-4, atol=1e-5)
    for name, a, b in zip(got._fields, got, want):
        np.testing.assert_allclose(to_host(a), to_host(b), rtol=1e-4, atol=1e-4, err_msg=name)


def test_rnn_loss_equals_the_loops_over_one_step(xp):
    """The training step learners use: rnn_loss's gradients through the plain loops, mse on every step."""
    x, _, Wx, Wh, _ = problem(xp, 4, 3, 5, 2, 4)
    Wy = xp.asarray(np.random.default_rng(5).normal(size=(5, 2)))
    y = xp.asarray(np.random.default_rng(6).normal(size=(3, 5, 2)))
    _, (dWx, dWh, _) = rnn_loss([Wx, Wh, Wy], x, y)
    h, caches = plain_forward(x, xp.zeros((3, 4)), Wx, Wh)
    dh = ((h @ Wy[:-1] + Wy[-1]) - y) @ Wy[:-1].T / 3  # d/dh of (1/2N) sum over n, t of ||y_hat - y||^2, N = 3
    _, _, want_dWx, want_dWh, _ = plain_backward(dh, caches)
    np.testing.assert_allclose(to_host(dWx), to_host(want_dWx), **TIGHT)
    np.testing.assert_allclose(to_host(dWh), to_host(want_dWh), **TIGHT)


def test_a_cache_not_from_rnn_forward_is_refused(xp):
    x, h0, Wx, Wh, dh = problem(xp, 0, 2, 3, 2, 3)
    caches = plain_forward(x, h0, Wx, Wh)[1]
    with pytest.raises(TypeError, match=r"rnn_backward: cache must be the cache rnn_forward returned, got list"):
        rnn_backward(dh, caches)
    assert isinstance(rnn_forward(x, h0, Wx, Wh)[1], RNNCache)
