"""Mutation suite for lesson 11's per_example_grads: realistic wrong per-example gradients fail on the visible and
the hidden check, and the report names the known ones; correct answers written in different styles pass. The
slow test runs every one of them over 200 hidden seeds."""
import numpy as np
import pytest

from backprop_ref.grading.core import _judge_case
from backprop_ref.grading.exercises import claims
from mutants import assert_fails_naming, assert_passes, soak

SEEDS = (0, 1, 2)  # the default run's hidden seeds


def test_the_reference_passes_its_own_targets():
    """The reference G agrees with the central differences of the per-example losses on every case of a few seeds."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        for dims in list(claims.PER_EXAMPLE_GRADS.visible_dims) + claims.PER_EXAMPLE_GRADS.hidden_dims(rng):
            case = claims.PER_EXAMPLE_GRADS.make_case(rng, dims)
            verdicts = _judge_case(claims.PER_EXAMPLE_GRADS, case, dict(case.reference), rng)
            assert all(v.passed for v in verdicts.values()), (case.label, verdicts)


def test_the_mean_of_the_per_example_gradients_is_the_batch_gradient(rng):
    """What the lesson claims: G averaged over the batch is the gradient of the batch's mean loss."""
    import backprop_ref as bp

    case = claims.PER_EXAMPLE_GRADS.make_case(rng, {"N": 7, "D": 3, "C": 4})
    x, y, W = case.args
    _, (dW,) = bp.mlp_loss([W], x, y, ["identity"])
    np.testing.assert_allclose(case.reference["G"].mean(axis=0), dW, rtol=1e-12, atol=1e-14)


# correct versions, written differently --------------------------------------------------------------
def vectorised(x, y, W):
    x1 = np.hstack([x, np.ones((len(x), 1))])
    z = x1 @ W
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return np.einsum("nd,nc->ndc", x1, p)


def loops(x, y, W):
    """One example at a time, np.outer, no max-shift (the logits here are small enough)."""
    N = len(y)
    G = np.zeros((N,) + W.shape)
    for n in range(N):
        a = np.append(x[n], 1.0)
        e = np.exp(a @ W)
        delta = e / e.sum()
        delta[y[n]] -= 1
        G[n] = np.outer(a, delta)
    return G


def broadcast_one_hot(x, y, W):
    """Weights and bias rows apart, the one-hot labels from np.eye, written into an empty array."""
    N, D = x.shape
    logits = x @ W[:-1] + W[-1]
    shifted = logits - np.log(np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)) \
        - logits.max(axis=1, keepdims=True)
    delta = np.exp(shifted) - np.eye(W.shape[1])[y]
    G = np.empty((N, D + 1, W.shape[1]))
    G[:, :D] = x[:, :, None] * delta[:, None, :]
    G[:, D] = delta
    return G


def batch_of_one(x, y, W):
    """Lesson 7's batch gradient, taken on a batch of one example at a time (then its 1/N is 1)."""
    out = []
    for n in range(len(y)):
        xn, yn = x[n : n + 1], y[n : n + 1]
        z = xn @ W[:-1] + W[-1]
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        dz = (p - np.eye(W.shape[1])[yn]) / len(yn)
        out.append(np.vstack([xn.T @ dz, dz.sum(axis=0)]))
    return np.stack(out)


CORRECT = [vectorised, loops, broadcast_one_hot, batch_of_one]


@pytest.mark.parametrize("impl", CORRECT)
def test_correct_versions_pass(impl):
    assert_passes("per_example_grads", impl, seeds=SEEDS)


# wrong versions, as learners write them -------------------------------------------------------------
def _wrong(error="right", rows="last", per="example", layout="ndc"):
    """A learner's per_example_grads with one mistake switched on by name."""

    def impl(x, y, W):
        N, C = len(y), W.shape[1]
        x1 = {"last": np.hstack([x, np.ones((N, 1))]), "first": np.hstack([np.ones((N, 1)), x]), "none": x}[rows]
        z = np.hstack([x, np.ones((N, 1))]) @ W
        axis = 0 if error == "batch softmax" else 1
        p = np.exp(z - z.max(axis=axis, keepdims=True))
        p /= p.sum(axis=axis, keepdims=True)
        Y = np.eye(C)[y]
        delta = {"right": p - Y, "batch softmax": p - Y, "numbers": p - y[:, None], "logits": z - Y,
                 "sign": Y - p, "1/N": (p - Y) / N}[error]
        G = np.einsum("nd,nc->ndc", x1, delta)
        if per == "mean":
            G = np.broadcast_to(G.mean(axis=0), G.shape).copy()
        elif per == "sum":
            G = np.broadcast_to(G.sum(axis=0), G.shape).copy()
        elif per == "batch":
            G = G.mean(axis=0)
        return G.transpose(0, 2, 1) if layout == "ncd" else G

    return impl


def bias_row_averaged(x, y, W):
    """The bias row divided by N, as if it were a batch mean: no known fingerprint."""
    G = vectorised(x, y, W)
    G[:, -1] /= len(y)
    return G


def error_without_the_label(x, y, W):
    """p alone, no - Y: a forgotten subtraction, no known fingerprint."""
    x1 = np.hstack([x, np.ones((len(x), 1))])
    z = x1 @ W
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return np.einsum("nd,nc->ndc", x1, p / p.sum(axis=1, keepdims=True))


MUTANTS = {
    "divided by N": (_wrong(error="1/N"), "G[n] is divided by N"),
    "the batch mean for everyone": (_wrong(per="mean"), "batch's mean gradient"),
    "the batch sum for everyone": (_wrong(per="sum"), "batch's summed gradient"),
    "one batch gradient": (_wrong(per="batch"), "G is the batch's gradient, one (D + 1, C) array"),
    "no bias row": (_wrong(rows="none"), "G has no bias row"),
    "bias row first": (_wrong(rows="first"), "the bias row is first"),
    "transposed": (_wrong(layout="ncd"), "your G looks transposed"),
    "labels as numbers": (_wrong(error="numbers"), "the labels are used as numbers"),
    "softmax over the batch": (_wrong(error="batch softmax"), "the softmax is taken over the batch"),
    "logits for probabilities": (_wrong(error="logits"), "uses the logits, not the probabilities"),
    "sign flipped": (_wrong(error="sign"), "the signs are flipped"),
    "bias row averaged": (bias_row_averaged, None),
    "p without - Y": (error_without_the_label, None),
}


@pytest.mark.parametrize("name", MUTANTS)
def test_wrong_versions_fail_and_are_named(name):
    impl, mistake = MUTANTS[name]
    assert_fails_naming("per_example_grads", impl, mistake, seeds=SEEDS)


def test_every_named_mistake_has_a_mutant():
    named = [m for _, m in MUTANTS.values() if m is not None]
    for mistake in claims.PER_EXAMPLE_GRADS.mistakes:
        assert sum(m in mistake.message for m in named) == 1, mistake.message


@pytest.mark.slow
def test_no_wrong_verdict_over_200_hidden_seeds():
    soak("per_example_grads", MUTANTS, CORRECT)


# predicted_spread ---------------------------------------------------------------------------------
def spread_flat(G, B):
    flat = G.reshape(len(G), -1)
    return np.sqrt(((flat - flat.mean(axis=0)) ** 2).sum(axis=1).mean() / B)


def spread_trace(G, B):
    """tr(Sigma) / B: the variances of the entries, summed."""
    return float(np.sqrt(G.var(axis=0).sum() / B))


def spread_loop(G, B):
    mean = sum(G[n] for n in range(len(G))) / len(G)
    total = 0.0
    for n in range(len(G)):
        total += float(np.sum((G[n] - mean) ** 2))
    return (total / len(G) / B) ** 0.5


def spread_norms(G, B):
    """The distances' norms from np.linalg.norm, then B as a batch of B examples' variance."""
    distances = np.linalg.norm((G - G.mean(axis=0)).reshape(len(G), -1), axis=1)
    return np.sqrt(np.mean(distances**2)) / np.sqrt(B)


SPREAD_CORRECT = [spread_flat, spread_trace, spread_loop, spread_norms]


@pytest.mark.parametrize("impl", SPREAD_CORRECT)
def test_predicted_spread_correct_versions_pass(impl):
    assert_passes("predicted_spread", impl, seeds=SEEDS)


def _spread_wrong(centre=True, ddof=0, per_entry=False, root="sqrt", how="rms"):
    def impl(G, B):
        flat = G.reshape(len(G), -1)
        d = flat - flat.mean(axis=0) if centre else flat
        squares = (d**2).mean(axis=1) if per_entry else (d**2).sum(axis=1)
        single = np.sqrt(squares.sum() / (len(G) - ddof)) if how == "rms" else np.sqrt(squares).mean()
        return {"sqrt": single / np.sqrt(B), "B": single / B, "none": single, "times": single * np.sqrt(B),
                "variance": single**2 / B}[root]

    return impl


def spread_max_entry(G, B):
    """The largest entry's standard deviation: no known fingerprint."""
    return float(G.reshape(len(G), -1).std(axis=0).max() / np.sqrt(B))


SPREAD_MUTANTS = {
    "divided by B": (_spread_wrong(root="B"), "the spread is divided by B"),
    "no 1/sqrt(B)": (_spread_wrong(root="none"), "the spread has no 1/sqrt(B)"),
    "times sqrt(B)": (_spread_wrong(root="times"), "multiplied by sqrt(B)"),
    "variance": (_spread_wrong(root="variance"), "the square root is missing"),
    "not centred": (_spread_wrong(centre=False), "not measured from the full-batch gradient"),
    "N - 1": (_spread_wrong(ddof=1), "divided by N - 1"),
    "per entry": (_spread_wrong(per_entry=True), "averaged over the entries"),
    "mean distance": (_spread_wrong(how="mean"), "the mean of the distances"),
    "largest entry's spread": (spread_max_entry, None),
}


@pytest.mark.parametrize("name", SPREAD_MUTANTS)
def test_predicted_spread_wrong_versions_fail_and_are_named(name):
    impl, mistake = SPREAD_MUTANTS[name]
    with np.errstate(divide="ignore", invalid="ignore"):  # N - 1 = 0 on a batch of one
        assert_fails_naming("predicted_spread", impl, mistake, seeds=SEEDS)


def test_every_named_spread_mistake_has_a_mutant():
    named = [m for _, m in SPREAD_MUTANTS.values() if m is not None]
    for mistake in claims.PREDICTED_SPREAD.mistakes:
        assert sum(m in mistake.message for m in named) == 1, mistake.message


@pytest.mark.slow
def test_predicted_spread_no_wrong_verdict_over_200_hidden_seeds():
    with np.errstate(divide="ignore", invalid="ignore"):
        soak("predicted_spread", SPREAD_MUTANTS, SPREAD_CORRECT)
