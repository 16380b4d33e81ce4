"""Mutation suite for the recurrent exercises (and the MLP Jacobian): realistic wrong answers fail on the
visible and the hidden check, and the report names the known ones; correct answers written in different
styles pass. The slow test runs every one of them over 200 hidden seeds."""

import numpy as np
import pytest

from backprop_ref.fixed_point import fixed_point_forward
from backprop_ref.grading.core import _judge_case
from backprop_ref.grading.exercises import recurrent
from backprop_ref.rnn import rnn_forward
from mutants import assert_fails, assert_passes, soak


def test_the_differenced_forward_passes_are_the_reference_ones(rng):
    """The lean forward passes the grader differences equal backprop_ref's, and the windowed one equals
    the plain forward pass at the unperturbed inputs (only its gradient is truncated)."""
    x, h0, Wx, Wh, _ = recurrent._rnn_inputs(rng, 3, 5, 2, 4)
    h, _ = rnn_forward(x, h0, Wx, Wh)
    np.testing.assert_allclose(recurrent._states(x, h0, Wx, Wh), h, rtol=0, atol=1e-15)
    for k in (1, 2, 5, 7):
        np.testing.assert_allclose(recurrent._windowed_states(x, h0, Wx, Wh, k, h), h, rtol=0, atol=1e-15)
    W = 0.5 * Wh / np.linalg.norm(Wh, 2)
    s, _ = fixed_point_forward(x[:, 0], W, Wx, tol=1e-14)
    np.testing.assert_allclose(recurrent._fixed_point(x[:, 0], W, Wx, np.zeros_like(s)), s, atol=1e-14)


@pytest.mark.parametrize("exercise", recurrent.EXERCISES, ids=lambda e: e.id)
def test_the_reference_backward_passes_its_own_targets(exercise):
    """On the visible case and the hidden ones of a few seeds, the reference answer (rnn_backward with
    truncate=k for truncated_bptt) agrees with the central differences the verdict uses."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        for dims in list(exercise.visible_dims) + exercise.hidden_dims(rng):
            case = exercise.make_case(rng, dims)
            verdicts = _judge_case(exercise, case, dict(case.reference), rng)
            assert all(v.passed for v in verdicts.values()), (case.label, verdicts)


# rnn_step_backward ----------------------------------------------------------------------------
def step_vectorised(dh_next, cache):
    x, h_prev, Wx, Wh, h_next = cache
    dz = dh_next * (1 - h_next**2)
    return dz @ Wx[:-1].T, dz @ Wh.T, np.vstack([x.T @ dz, dz.sum(axis=0)]), h_prev.T @ dz


def step_with_ones(dh_next, cache):
    x, h_prev, Wx, Wh, h_next = cache
    x1 = np.hstack([x, np.ones((x.shape[0], 1))])
    dz = dh_next - dh_next * h_next * h_next
    return (dz @ Wx.T)[:, :-1], dz @ Wh.T, x1.T @ dz, h_prev.T @ dz


def step_einsum(dh_next, cache):
    x, h_prev, Wx, Wh, h_next = cache
    dz = np.einsum("nh,nh->nh", dh_next, 1 - np.square(h_next))
    dWx = np.empty_like(Wx)
    dWx[:-1] = np.einsum("nd,nh->dh", x, dz)
    dWx[-1] = np.einsum("nh->h", dz)
    return np.einsum("nh,dh->nd", dz, Wx[:-1]), np.einsum("nj,ij->ni", dz, Wh), dWx, np.einsum("ni,nj->ij", h_prev, dz)


def step_loops(dh_next, cache):
    x, h_prev, Wx, Wh, h_next = cache
    dx, dh_prev, dWx, dWh = np.zeros_like(x), np.zeros_like(h_prev), np.zeros_like(Wx), np.zeros_like(Wh)
    for n in range(x.shape[0]):
        dz = dh_next[n] * (1 - h_next[n] ** 2)
        dx[n] = Wx[:-1] @ dz
        dh_prev[n] = Wh @ dz
        dWx[:-1] += np.outer(x[n], dz)
        dWx[-1] += dz
        dWh += np.outer(h_prev[n], dz)
    return dx, dh_prev, dWx, dWh


# float32 inside is not among them: where a unit saturates, 1 - h**2 from a float32 h loses the digits
# that the 1e-4 relative tolerance asks for (about 1 hidden check in 1000 fails).
STEP_CORRECT = [step_vectorised, step_with_ones, step_einsum, step_loops]


@pytest.mark.parametrize("impl", STEP_CORRECT)
def test_rnn_step_backward_correct_variants_pass(impl):
    assert_passes("rnn_step_backward", impl)


def _step_variant(derivative="h_next", back="Wh.T", dWh="h_prev.T @ dz", dWx="right", dx="Wx[:-1]"):
    def impl(dh_next, cache):
        x, h_prev, Wx, Wh, h_next = cache
        a = {"h_next": h_next, "h_prev": h_prev, "tanh(h_next)": np.tanh(h_next)}.get(derivative)
        dz = dh_next if derivative == "none" else dh_next * (1 - a**2)
        dWx_ = {
            "right": np.vstack([x.T @ dz, dz.sum(axis=0)]),
            "no bias": x.T @ dz,
            "transposed": np.vstack([x.T @ dz, dz.sum(axis=0)]).T,
            "bias averaged": np.vstack([x.T @ dz, dz.mean(axis=0)]),
        }[dWx]
        dWh_ = {"h_prev.T @ dz": h_prev.T @ dz, "dz.T @ h_prev": dz.T @ h_prev, "h_next.T @ dz": h_next.T @ dz}[dWh]
        dx_ = dz @ (Wx[:-1] if dx == "Wx[:-1]" else Wx).T
        return dx_, dz @ (Wh.T if back == "Wh.T" else Wh), dWx_, dWh_

    return impl


def step_tanh_derivative_1_minus_h(dh_next, cache):
    x, h_prev, Wx, Wh, h_next = cache
    dz = dh_next * (1 - h_next)
    return dz @ Wx[:-1].T, dz @ Wh.T, np.vstack([x.T @ dz, dz.sum(axis=0)]), h_prev.T @ dz


STEP_MUTANTS = {
    "no tanh'": (_step_variant(derivative="none"), "the tanh derivative is missing"),
    "tanh' of h_prev": (_step_variant(derivative="h_prev"), "the tanh derivative uses h_prev"),
    "tanh twice": (_step_variant(derivative="tanh(h_next)"), "tanh is applied twice"),
    "dh_prev through Wh": (_step_variant(back="Wh"), "instead of Wh.T"),
    "dWh transposed": (_step_variant(dWh="dz.T @ h_prev"), "your dWh looks transposed"),
    "dWh from h_next": (_step_variant(dWh="h_next.T @ dz"), "dWh uses h_next"),
    "dWx without the bias row": (_step_variant(dWx="no bias"), "dWx has no bias row"),
    "dx with the bias weights": (_step_variant(dx="Wx"), "dx includes the bias row"),
    "dWx transposed": (_step_variant(dWx="transposed"), "your dWx looks transposed"),
    "bias averaged": (_step_variant(dWx="bias averaged"), None),
    "tanh' = 1 - h": (step_tanh_derivative_1_minus_h, None),
}


@pytest.mark.parametrize("name", STEP_MUTANTS)
def test_rnn_step_backward_mutants_fail_with_their_name(name):
    impl, mistake = STEP_MUTANTS[name]
    assert_fails("rnn_step_backward", impl, mistake)


# bptt ------------------------------------------------------------------------------------------
def _step_back(dh_t, x_t, h_prev, Wx, Wh, h_t):
    """A learner's rnn_step_backward, with the cache unpacked."""
    dz = dh_t * (1 - h_t**2)
    return dz @ Wx[:-1].T, dz @ Wh.T, np.vstack([x_t.T @ dz, dz.sum(axis=0)]), h_prev.T @ dz


def bptt_steps(dh, x, h0, Wx, Wh, h):
    """Built on the step function, as CS231n does."""
    dx, dWx, dWh = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(dh.shape[1])):
        h_prev = h[:, t - 1] if t > 0 else h0
        dx[:, t], dh_next, dWx_t, dWh_t = _step_back(dh[:, t] + dh_next, x[:, t], h_prev, Wx, Wh, h[:, t])
        dWx += dWx_t
        dWh += dWh_t
    return dx, dh_next, dWx, dWh


def bptt_stored(dh, x, h0, Wx, Wh, h):
    """First every dz (the gradient of each step's pre-activation, all stored), then all shares at once."""
    T = dh.shape[1]
    dz = np.empty_like(dh)
    carry = np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        dz[:, t] = (dh[:, t] + carry) * (1 - h[:, t] ** 2)
        carry = dz[:, t] @ Wh.T
    prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    dWx = np.concatenate([np.einsum("ntd,nth->dh", x, dz), dz.sum(axis=(0, 1))[None]])
    return dz @ Wx[:-1].T, carry, dWx, np.einsum("nti,ntj->ij", prev, dz)


def bptt_ones_in_place(dh, x, h0, Wx, Wh, h):
    """x with a ones column, shares added in place, the states read as a list with h0 in front."""
    N, T, D = x.shape
    x1 = np.concatenate([x, np.ones((N, T, 1))], axis=2)
    states = [h0] + [h[:, t] for t in range(T)]
    dx = np.empty((N, T, D))
    dWx, dWh = np.zeros(Wx.shape), np.zeros(Wh.shape)
    g = np.zeros(h0.shape)
    for t in range(T, 0, -1):
        g += dh[:, t - 1]
        g *= 1 - states[t] ** 2
        dx[:, t - 1] = (g @ Wx.T)[:, :D]
        np.add(dWx, x1[:, t - 1].T @ g, out=dWx)
        dWh += np.einsum("ni,nj->ij", states[t - 1], g)
        g = g @ Wh.T
    return dx, g, dWx, dWh


BPTT_CORRECT = [bptt_steps, bptt_stored, bptt_ones_in_place]


@pytest.mark.parametrize("impl", BPTT_CORRECT)
def test_bptt_correct_variants_pass(impl):
    assert_passes("bptt", impl)


def _bptt_variant(carry=True, keep_all=True, dWh_state="h[t-1]", h0_in_dWh=True, dh0="dh_next", derivative="h[t]",
                  back="Wh.T", carry_past_tanh=False, dx_bias=False, dWx_bias=True):
    def impl(dh, x, h0, Wx, Wh, h):
        N, T, D = x.shape
        dx = np.zeros((N, T, D + 1)) if dx_bias else np.zeros_like(x)
        dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
        dh_next = np.zeros_like(h0)
        reaching_h_0 = None
        for t in reversed(range(T)):
            h_prev = h[:, t - 1] if t > 0 else (h0 if h0_in_dWh else np.zeros_like(h0))
            g = dh[:, t] + dh_next if carry and not carry_past_tanh else dh[:, t]
            reaching_h_0 = g
            a = h[:, t] if derivative == "h[t]" else (h[:, t - 1] if t > 0 else h0)
            dz = g * (1 - a**2)
            if carry_past_tanh:
                dz = dz + dh_next
            dx[:, t] = dz @ (Wx if dx_bias else Wx[:-1]).T
            dWx_t = np.vstack([x[:, t].T @ dz, dz.sum(axis=0)])
            dWh_t = (h_prev if dWh_state == "h[t-1]" else h[:, t]).T @ dz
            if keep_all:
                dWx += dWx_t
                dWh += dWh_t
            else:
                dWx, dWh = dWx_t, dWh_t
            dh_next = dz @ (Wh.T if back == "Wh.T" else Wh)
        dh0_ = {"dh_next": dh_next, "zero": np.zeros_like(h0), "reaching h[:, 0]": reaching_h_0}[dh0]
        return dx, dh0_, (dWx if dWx_bias else dWx[:-1]), dWh

    return impl


def bptt_forward_in_time(dh, x, h0, Wx, Wh, h):
    """Walks the steps forwards, carrying the gradient the wrong way."""
    dx, dWx, dWh = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh)
    dh_next = np.zeros_like(h0)
    for t in range(dh.shape[1]):
        h_prev = h[:, t - 1] if t > 0 else h0
        dx[:, t], dh_next, dWx_t, dWh_t = _step_back(dh[:, t] + dh_next, x[:, t], h_prev, Wx, Wh, h[:, t])
        dWx += dWx_t
        dWh += dWh_t
    return dx, dh_next, dWx, dWh


def bptt_bias_row_averaged_over_time(dh, x, h0, Wx, Wh, h):
    dx, dh0, dWx, dWh = bptt_steps(dh, x, h0, Wx, Wh, h)
    dWx[-1] /= dh.shape[1]
    return dx, dh0, dWx, dWh


BPTT_MUTANTS = {
    "dh_next not carried": (_bptt_variant(carry=False), "is not carried back"),
    "shares assigned, not added": (_bptt_variant(keep_all=False), "one time step's share only"),
    "dWh from h[t]": (_bptt_variant(dWh_state="h[t]"), "dWh uses h[:, t]"),
    "h0 forgotten in dWh": (_bptt_variant(h0_in_dWh=False), "step 0's share of dWh is missing"),
    "dh0 zero": (_bptt_variant(dh0="zero"), "dh0 is zero"),
    "dh0 one step short": (_bptt_variant(dh0="reaching h[:, 0]"), "dh0 is the gradient reaching h[:, 0]"),
    "tanh' of the previous state": (_bptt_variant(derivative="h[t-1]"), "uses the previous state"),
    "back through Wh": (_bptt_variant(back="Wh"), "instead of Wh.T"),
    "dh_next past tanh'": (_bptt_variant(carry_past_tanh=True), "skips the tanh derivative"),
    "dx with the bias weights": (_bptt_variant(dx_bias=True), "dx includes the bias row"),
    "dWx without the bias row": (_bptt_variant(dWx_bias=False), "dWx has no bias row"),
    "forwards in time": (bptt_forward_in_time, None),
    "bias row averaged over time": (bptt_bias_row_averaged_over_time, None),
}


@pytest.mark.parametrize("name", BPTT_MUTANTS)
def test_bptt_mutants_fail_with_their_name(name):
    impl, mistake = BPTT_MUTANTS[name]
    assert_fails("bptt", impl, mistake)


# truncated_bptt --------------------------------------------------------------------------------
def truncated_windows(dh, x, h0, Wx, Wh, h, k):
    """Each dh[:, s] walks back through its own window of k steps."""
    dx, dh0, dWx, dWh = np.zeros_like(x), np.zeros_like(h0), np.zeros_like(Wx), np.zeros_like(Wh)
    for s in range(dh.shape[1]):
        g = dh[:, s]
        for t in range(s, max(s - k, -1), -1):
            h_prev = h[:, t - 1] if t > 0 else h0
            dx_t, g, dWx_t, dWh_t = _step_back(g, x[:, t], h_prev, Wx, Wh, h[:, t])
            dx[:, t] += dx_t
            dWx += dWx_t
            dWh += dWh_t
        if s < k:
            dh0 += g
    return dx, dh0, dWx, dWh


def truncated_one_pass(dh, x, h0, Wx, Wh, h, k):
    """One walk back, carrying the k gradients still alive separately (live[j] came from s = t + j); the
    step's shares are linear in dz, so they are taken once from the sum of the live gradients."""
    N, T, D = x.shape
    dx, dWx, dWh = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh)
    x1 = np.concatenate([x, np.ones((N, T, 1))], axis=2)
    live = np.zeros((k, N, Wh.shape[0]))
    for t in range(T - 1, -1, -1):
        live = np.concatenate([dh[None, :, t], live[:-1]])  # the oldest one has walked its k steps: dropped
        dz = live * (1 - h[:, t] ** 2)
        dz_sum = dz.sum(axis=0)
        h_prev = h[:, t - 1] if t > 0 else h0
        dx[:, t] = dz_sum @ Wx[:-1].T
        dWx += x1[:, t].T @ dz_sum
        dWh += h_prev.T @ dz_sum
        live = dz @ Wh.T
    return dx, live.sum(axis=0), dWx, dWh


def truncated_via_bptt(dh, x, h0, Wx, Wh, h, k):
    """Full BPTT (the learner's own bptt) on each window, with the loss on its last state only."""
    dx, dh0, dWx, dWh = np.zeros_like(x), np.zeros_like(h0), np.zeros_like(Wx), np.zeros_like(Wh)
    for s in range(dh.shape[1]):
        a = max(s - k + 1, 0)
        dh_window = np.zeros((dh.shape[0], s + 1 - a, dh.shape[2]))
        dh_window[:, -1] = dh[:, s]
        start = h0 if a == 0 else h[:, a - 1]
        dx_w, dstart, dWx_w, dWh_w = bptt_stored(dh_window, x[:, a : s + 1], start, Wx, Wh, h[:, a : s + 1])
        dx[:, a : s + 1] += dx_w
        dWx += dWx_w
        dWh += dWh_w
        if a == 0:
            dh0 += dstart
    return dx, dh0, dWx, dWh


TRUNCATED_CORRECT = [truncated_windows, truncated_one_pass, truncated_via_bptt]


@pytest.mark.parametrize("impl", TRUNCATED_CORRECT)
def test_truncated_bptt_correct_variants_pass(impl):
    assert_passes("truncated_bptt", impl)


def _truncated_variant(window=lambda k: k, stop=-1, dh0_when=lambda s, k: s < k, overwrite_dx=False, dWh_state="h[t-1]",
                       dh0_zero=False):
    def impl(dh, x, h0, Wx, Wh, h, k):
        dx, dh0, dWx, dWh = np.zeros_like(x), np.zeros_like(h0), np.zeros_like(Wx), np.zeros_like(Wh)
        w = window(k)
        for s in range(dh.shape[1]):
            g = dh[:, s]
            for t in range(s, max(s - w, stop), -1):
                h_prev = h[:, t - 1] if t > 0 else h0
                dx_t, g, dWx_t, dWh_t = _step_back(g, x[:, t], h_prev if dWh_state == "h[t-1]" else h[:, t], Wx, Wh, h[:, t])
                dx[:, t] = dx_t if overwrite_dx else dx[:, t] + dx_t
                dWx += dWx_t
                dWh += dWh_t
            if dh0_when(s, k) and not dh0_zero:
                dh0 += g
        return dx, dh0, dWx, dWh

    return impl


def truncated_in_chunks(dh, x, h0, Wx, Wh, h, k):
    """Drops dh_next at the chunk boundaries t = k - 1, 2k - 1, ... of one backward walk."""
    dx, dWx, dWh = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(dh.shape[1])):
        if (t + 1) % k == 0:
            dh_next = np.zeros_like(h0)
        h_prev = h[:, t - 1] if t > 0 else h0
        dx[:, t], dh_next, dWx_t, dWh_t = _step_back(dh[:, t] + dh_next, x[:, t], h_prev, Wx, Wh, h[:, t])
        dWx += dWx_t
        dWh += dWh_t
    return dx, dh_next, dWx, dWh


def truncated_ignoring_k(dh, x, h0, Wx, Wh, h, k):
    return bptt_steps(dh, x, h0, Wx, Wh, h)


def truncated_dh0_from_every_window(dh, x, h0, Wx, Wh, h, k):
    return _truncated_variant(dh0_when=lambda s, k: True)(dh, x, h0, Wx, Wh, h, k)


def truncated_window_counted_in_time_from_the_end(dh, x, h0, Wx, Wh, h, k):
    """Full BPTT over the last k steps only, the earlier steps untouched."""
    T = dh.shape[1]
    a = max(T - k, 0)
    dx, dh0, dWx, dWh = np.zeros_like(x), np.zeros_like(h0), np.zeros_like(Wx), np.zeros_like(Wh)
    start = h0 if a == 0 else h[:, a - 1]
    dx[:, a:], dstart, dWx, dWh = bptt_steps(dh[:, a:], x[:, a:], start, Wx, Wh, h[:, a:])
    return dx, dstart if a == 0 else dh0, dWx, dWh


TRUNCATED_MUTANTS = {
    "window k + 1": (_truncated_variant(window=lambda k: k + 1, dh0_when=lambda s, k: s < k + 1), "one step too long"),
    "window k - 1": (_truncated_variant(window=lambda k: k - 1, dh0_when=lambda s, k: s < k - 1), "one step too short"),
    "full BPTT": (truncated_ignoring_k, "the truncation is ignored"),
    "k = 1 always": (_truncated_variant(window=lambda k: 1, dh0_when=lambda s, k: s < 1), "as if k = 1"),
    "chunks": (truncated_in_chunks, "fixed chunk boundaries"),
    "step 0 never walked": (_truncated_variant(stop=0), "step 0 is never walked through"),
    "dh0 condition off by one": (_truncated_variant(dh0_when=lambda s, k: s <= k), "dh0 gets one window too many"),
    "dx overwritten": (_truncated_variant(overwrite_dx=True), "keeps only the last window's share"),
    "dh0 zero": (_truncated_variant(dh0_zero=True), "dh0 is zero"),
    "dWh from h[t]": (_truncated_variant(dWh_state="h[t]"), "dWh uses h[:, t]"),
    "dh0 from every window": (truncated_dh0_from_every_window, None),
    "last k steps only": (truncated_window_counted_in_time_from_the_end, None),
}


@pytest.mark.parametrize("name", TRUNCATED_MUTANTS)
def test_truncated_bptt_mutants_fail_with_their_name(name):
    impl, mistake = TRUNCATED_MUTANTS[name]
    assert_fails("truncated_bptt", impl, mistake)


# fixed_point_backward --------------------------------------------------------------------------
def _gradients(delta, x, U, s):
    return delta @ U[:-1].T, s.T @ delta, np.vstack([x.T @ delta, delta.sum(axis=0)])


def fp_relax(ds, x, W, U, s):
    """Relax the adjoint until it stops changing."""
    fprime = 1 - s**2
    lam = np.zeros_like(ds)
    while True:
        new = ds + (lam * fprime) @ W.T
        if np.abs(new - lam).max() < 1e-12:
            break
        lam = new
    return _gradients(new * fprime, x, U, s)


def fp_solve_per_sample(ds, x, W, U, s):
    """lam_n (I - diag(f'_n) W.T) = ds_n, solved sample by sample."""
    delta = np.empty_like(ds)
    H = W.shape[0]
    for n in range(ds.shape[0]):
        fprime = 1 - s[n] ** 2
        lam = np.linalg.solve((np.eye(H) - fprime[:, None] * W.T).T, ds[n])
        delta[n] = lam * fprime
    return _gradients(delta, x, U, s)


def fp_batched_solve(ds, x, W, U, s):
    """lam = ds + (lam * f') @ W.T, as columns: (I - W diag(f'_n)) lam_n = ds_n, one batched solve."""
    fprime = 1 - s * s
    A = np.eye(W.shape[0])[None] - np.einsum("ij,nj->nij", W, fprime)
    delta = fprime * np.linalg.solve(A, ds[..., None])[..., 0]
    return _gradients(delta, x, U, s)


def fp_unrolled(ds, x, W, U, s, steps=150):
    """Backprop through time through 150 steps of the forward relaxation, from zeros (the tests of
    backprop_ref.fixed_point show it is the same gradient once the relaxation has converged)."""
    u = x @ U[:-1] + U[-1]
    states = [np.zeros_like(s)]
    for _ in range(steps):
        states.append(np.tanh(states[-1] @ W + u))
    dW, du = np.zeros_like(W), np.zeros_like(u)
    g = ds
    for k in range(steps, 0, -1):
        dz = g * (1 - states[k] ** 2)
        dW += states[k - 1].T @ dz
        du += dz
        g = dz @ W.T
    return du @ U[:-1].T, dW, np.vstack([x.T @ du, du.sum(axis=0)])


def fp_fixed_iterations(ds, x, W, U, s):
    """A fixed budget of 80 adjoint steps, updated in place (far more than the contraction needs)."""
    fprime = 1 - s**2
    lam = ds.copy()
    for _ in range(80):
        lam[...] = ds + (lam * fprime) @ W.T
    return _gradients(lam * fprime, x, U, s)


FP_CORRECT = [fp_relax, fp_solve_per_sample, fp_batched_solve, fp_unrolled, fp_fixed_iterations]


@pytest.mark.parametrize("impl", FP_CORRECT)
def test_fixed_point_backward_correct_variants_pass(impl):
    assert_passes("fixed_point_backward", impl)


def _fp_variant(M="W.T", relax=True, in_relaxation=True, in_delta=True, after_W=False, derivative="s",
                dW="s.T @ delta", dU_bias=True, dx_bias=False):
    def impl(ds, x, W, U, s):
        z = s @ W + x @ U[:-1] + U[-1]
        fprime = 1 - (s if derivative == "s" else z) ** 2
        g = fprime if in_relaxation else 1.0
        lam = np.zeros_like(ds) if relax else ds
        for _ in range(500 if relax else 0):
            new = ds + ((lam @ (W.T if M == "W.T" else W)) * g if after_W else (lam * g) @ (W.T if M == "W.T" else W))
            done = np.abs(new - lam).max() < 1e-12
            lam = new
            if done:
                break
        delta = lam * fprime if in_delta else lam
        dx = delta @ (U.T if dx_bias else U[:-1].T)
        dW_ = s.T @ delta if dW == "s.T @ delta" else delta.T @ s
        dU = np.vstack([x.T @ delta, delta.sum(axis=0)]) if dU_bias else x.T @ delta
        return dx, dW_, dU

    return impl


def fp_too_few_steps(ds, x, W, U, s):
    """Two adjoint steps: not converged."""
    fprime = 1 - s**2
    lam = ds
    for _ in range(2):
        lam = ds + (lam * fprime) @ W.T
    return _gradients(lam * fprime, x, U, s)


def fp_derivative_1_minus_s(ds, x, W, U, s):
    fprime = 1 - s
    lam = ds
    for _ in range(200):
        lam = ds + (lam * fprime) @ W.T
    return _gradients(lam * fprime, x, U, s)


FP_MUTANTS = {
    "W instead of W.T": (_fp_variant(M="W"), "fed back through W instead of W.T"),
    "no relaxation": (_fp_variant(relax=False), "the adjoint is not relaxed"),
    "no tanh'": (_fp_variant(in_relaxation=False, in_delta=False), "the tanh derivative is missing: lam"),
    "no tanh' after relaxing": (_fp_variant(in_delta=False), "missing after the relaxation"),
    "no tanh' inside the relaxation": (_fp_variant(in_relaxation=False), "missing inside the relaxation"),
    "tanh' after W.T": (_fp_variant(after_W=True), "on the wrong side of W.T"),
    # named where its relaxation converges; with |1 - z**2| > 1 it often diverges, and nothing can be named
    "tanh' of z": (_fp_variant(derivative="z"), None),
    "dW transposed": (_fp_variant(dW="delta.T @ s"), "your dW looks transposed"),
    "dU without the bias row": (_fp_variant(dU_bias=False), "dU has no bias row"),
    "dx with the bias weights": (_fp_variant(dx_bias=True), "dx includes the bias row"),
    "two adjoint steps": (fp_too_few_steps, None),
    "tanh' = 1 - s": (fp_derivative_1_minus_s, None),
}


@pytest.mark.parametrize("name", FP_MUTANTS)
def test_fixed_point_backward_mutants_fail_with_their_name(name):
    impl, mistake = FP_MUTANTS[name]
    assert_fails("fixed_point_backward", impl, mistake)


# jacobian --------------------------------------------------------------------------------------
def _mlp_states(x, weights):
    """[x, a_1, ..., a_L, out]: tanh hidden layers, identity output."""
    a = [x]
    for l, W in enumerate(weights):
        z = a[-1] @ W[:-1] + W[-1]
        a.append(z if l == len(weights) - 1 else np.tanh(z))
    return a


def jac_reverse(x, weights):
    """One backward pass per output unit, dout = e_c."""
    a = _mlp_states(x, weights)
    N, C = a[-1].shape
    J = np.zeros((N, C, x.shape[1]))
    for c in range(C):
        g = np.zeros((N, C))
        g[:, c] = 1.0
        for l in range(len(weights) - 1, -1, -1):
            if l < len(weights) - 1:
                g = g * (1 - a[l + 1] ** 2)
            g = g @ weights[l][:-1].T
        J[:, c] = g
    return J


def jac_forward_mode(x, weights):
    """Forward mode: carry d a_l / d x, (N, width, D), through the layers with einsum."""
    a = _mlp_states(x, weights)
    N, D = x.shape
    Jl = np.broadcast_to(np.eye(D), (N, D, D))
    for l, W in enumerate(weights):
        Jl = np.einsum("km,nkd->nmd", W[:-1], Jl)
        if l < len(weights) - 1:
            Jl = (1 - a[l + 1] ** 2)[:, :, None] * Jl
    return Jl


def jac_per_sample(x, weights):
    """Sample by sample, the chain rule as a product of matrices: W_L.T diag(f'_{L-1}) ... diag(f'_1) W_1.T."""
    J = []
    for n in range(x.shape[0]):
        a = _mlp_states(x[n : n + 1], weights)
        M = weights[0][:-1].T
        for l in range(1, len(weights)):
            M = weights[l][:-1].T @ np.diag(1 - a[l][0] ** 2) @ M
        J.append(M)
    return np.array(J)


def jac_tiled(x, weights):
    """All C backward passes in one: x repeated C times, dout the rows of the identity."""
    N, D = x.shape
    C = weights[-1].shape[1]
    a = _mlp_states(np.repeat(x, C, axis=0), weights)
    g = np.tile(np.eye(C), (N, 1))
    for l in range(len(weights) - 1, -1, -1):
        if l < len(weights) - 1:
            g *= 1 - a[l + 1] ** 2
        g = g @ weights[l][:-1].T
    return g.reshape(N, C, D)


JAC_CORRECT = [jac_reverse, jac_forward_mode, jac_per_sample, jac_tiled]


@pytest.mark.parametrize("impl", JAC_CORRECT)
def test_jacobian_correct_variants_pass(impl):
    assert_passes("jacobian", impl)


def _jac_variant(dout="e_c", hidden_derivative=True, output_tanh=False, derivative_of="a"):
    def impl(x, weights):
        L = len(weights)
        a, zs = [x], []
        for l, W in enumerate(weights):
            zs.append(a[-1] @ W[:-1] + W[-1])
            a.append(zs[-1] if l == L - 1 else np.tanh(zs[-1]))
        N, C = a[-1].shape
        J = np.zeros((N, C, x.shape[1]))
        for c in range(C):
            g = np.ones((N, C)) if dout == "ones" else np.eye(C)[[c] * N]
            for l in range(L - 1, -1, -1):
                if l < L - 1 and hidden_derivative:
                    g = g * (1 - (a[l + 1] if derivative_of == "a" else zs[l]) ** 2)
                if l == L - 1 and output_tanh:
                    g = g * (1 - a[L] ** 2)
                g = g @ weights[l][:-1].T
            J[:, c] = g
        return J

    return impl


JAC_MUTANTS = {
    "transposed": (lambda x, w: jac_reverse(x, w).transpose(0, 2, 1), "your J looks transposed"),
    "first sample, (C, D)": (lambda x, w: jac_reverse(x, w)[0], "J is one (C, D) Jacobian, the first sample's"),
    "first sample for all": (lambda x, w: np.repeat(jac_reverse(x[:1], w), len(x), axis=0), "every sample got the first"),
    "summed over the batch": (lambda x, w: jac_reverse(x, w).sum(axis=0), "J is summed over the batch"),
    "no tanh'": (_jac_variant(hidden_derivative=False), "the tanh derivative is missing"),
    "output as tanh": (_jac_variant(output_tanh=True), "the identity output layer is treated as tanh"),
    "dout = ones": (_jac_variant(dout="ones"), "every row of J is the same"),
    "signs flipped": (lambda x, w: -jac_reverse(x, w), "the signs are flipped"),
    "tanh' of z": (_jac_variant(derivative_of="z"), None),
    "no batch axis, summed with keepdims": (lambda x, w: jac_reverse(x, w).mean(axis=0, keepdims=True), None),
}


@pytest.mark.parametrize("name", JAC_MUTANTS)
def test_jacobian_mutants_fail_with_their_name(name):
    impl, mistake = JAC_MUTANTS[name]
    assert_fails("jacobian", impl, mistake)


# many seeds ------------------------------------------------------------------------------------
SUITES = {
    "rnn_step_backward": (STEP_CORRECT, STEP_MUTANTS),
    "jacobian": (JAC_CORRECT, JAC_MUTANTS),
    "bptt": (BPTT_CORRECT, BPTT_MUTANTS),
    "truncated_bptt": (TRUNCATED_CORRECT, TRUNCATED_MUTANTS),
    "fixed_point_backward": (FP_CORRECT, FP_MUTANTS),
}


def test_every_recurrent_exercise_has_a_suite():
    assert set(SUITES) == {e.id for e in recurrent.EXERCISES}
    for exercise_id, (correct, mutants) in SUITES.items():
        named = [m for _, m in mutants.values() if m]
        assert len(correct) >= 3 and len(named) >= 6 and len(set(named)) == len(named), exercise_id


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id", SUITES)
def test_no_wrong_verdict_over_200_hidden_seeds(exercise_id):
    """Every mutant fails (and is named, where it has a name) and every correct variant passes on hidden
    checks with seeds 0..199."""
    correct, mutants = SUITES[exercise_id]
    soak(exercise_id, mutants, correct, exclusive=False)
