import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop_ref._checks import NotFiniteError, ShapeError
from backprop_ref.backend import to_host
from backprop_ref.losses import accuracy, mse_loss, sigmoid_binary_cross_entropy, softmax_cross_entropy
from oracle import assert_matches_finite_differences, assert_matches_torch, import_torch

seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(1, 6)


def problem(xp, seed, n, c, targets):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(n, c))
    if targets == "labels":
        y = rng.integers(0, c, size=n)
    elif targets == "one_hot":
        y = np.eye(c)[rng.integers(0, c, size=n)]
    elif targets == "probabilities":
        y = rng.dirichlet(np.ones(c), size=n)
    else:  # real-valued or {0, 1} targets with the logits' shape
        y = rng.normal(size=(n, c)) if targets == "real" else rng.integers(0, 2, size=(n, c)).astype(float)
    return xp.asarray(logits), xp.asarray(y)


def torch_mse(y_hat, y):
    return ((y_hat - y) ** 2).sum() / (2 * y_hat.shape[0])


def torch_softmax_ce(logits, y):
    import torch

    if y.ndim == 1:
        return torch.nn.functional.cross_entropy(logits, y.long(), reduction="sum") / logits.shape[0]
    return -(y * torch.log_softmax(logits, dim=1)).sum() / logits.shape[0]


def torch_bce(logits, y):
    import torch

    return torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum") / logits.shape[0]


CASES = [
    (mse_loss, torch_mse, "real"),
    (softmax_cross_entropy, torch_softmax_ce, "labels"),
    (softmax_cross_entropy, torch_softmax_ce, "one_hot"),
    (softmax_cross_entropy, torch_softmax_ce, "probabilities"),
    (sigmoid_binary_cross_entropy, torch_bce, "binary"),
]
IDS = ["mse", "softmax_ce-labels", "softmax_ce-one_hot", "softmax_ce-probabilities", "sigmoid_bce"]


@pytest.mark.parametrize("loss_fn, torch_fn, targets", CASES, ids=IDS)
@given(seed=seeds, n=sizes, c=sizes)
def test_gradient_matches_finite_differences(xp, loss_fn, torch_fn, targets, seed, n, c):
    logits, y = problem(xp, seed, n, c, targets)
    _, grad = loss_fn(logits, y)
    assert_matches_finite_differences(lambda: loss_fn(logits, y)[0], {"logits": logits}, {"logits": grad})


@pytest.mark.parametrize("loss_fn, torch_fn, targets", CASES, ids=IDS)
@given(seed=seeds, n=sizes, c=sizes)
def test_value_and_gradient_match_torch(xp, loss_fn, torch_fn, targets, seed, n, c):
    torch = import_torch()
    logits, y = problem(xp, seed, n, c, targets)
    value, grad = loss_fn(logits, y)
    y_t = torch.tensor(to_host(y))
    expected = torch_fn(torch.tensor(to_host(logits)), y_t).item()
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert_matches_torch(lambda logits: torch_fn(logits, y_t), {"logits": logits}, {"logits": grad})


def test_loss_is_a_mean_over_the_batch_and_a_sum_over_outputs(xp):
    y_hat, y = xp.asarray([[1.0, 2.0], [0.0, 0.0]]), xp.zeros((2, 2))
    value, grad = mse_loss(y_hat, y)
    assert value == pytest.approx((1 + 4) / (2 * 2))
    np.testing.assert_allclose(to_host(grad), [[0.5, 1.0], [0.0, 0.0]])


@pytest.mark.parametrize("scale", [1.0, 1e2, 1e4, 1e6])
def test_softmax_cross_entropy_is_stable_for_huge_logits(xp, scale):
    logits = xp.asarray([[1.0, -1.0, 0.5]]) * scale
    value, grad = softmax_cross_entropy(logits, xp.asarray([1]))
    # the correct class is behind the best one by 2 * scale: the loss is ~2 * scale, the gradient p - y
    assert np.isfinite(value) and np.isfinite(to_host(grad)).all()
    if scale >= 1e2:
        assert value == pytest.approx(2 * scale, rel=1e-6)
        np.testing.assert_allclose(to_host(grad), [[1.0, -1.0, 0.0]], atol=1e-12)


def test_sigmoid_bce_is_stable_for_huge_logits(xp):
    value, grad = sigmoid_binary_cross_entropy(xp.asarray([[1e6], [-1e6]]), xp.asarray([[0.0], [0.0]]))
    assert value == pytest.approx(1e6 / 2)
    np.testing.assert_allclose(to_host(grad), [[0.5], [0.0]])


def test_softmax_ce_gradient_is_p_minus_y():
    logits = np.array([[2.0, 0.0, -1.0]])
    p = np.exp(logits) / np.exp(logits).sum()
    _, grad = softmax_cross_entropy(logits, np.array([0]))
    np.testing.assert_allclose(grad, p - [[1, 0, 0]])


def test_accuracy():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    assert accuracy(logits, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    assert accuracy(logits, np.eye(2)[[0, 1, 1]]) == pytest.approx(2 / 3)


def test_bad_targets_are_named():
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: labels must lie in 0..3 \(C = 4 classes\), got 0..4"):
        softmax_cross_entropy(logits, np.array([0, 1, 4]))
    with pytest.raises(ShapeError, match=r"y has 2 labels but logits has N = 3 rows"):
        softmax_cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(TypeError, match=r"1-D targets must be integer class labels, got dtype float64"):
        softmax_cross_entropy(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ShapeError, match=r"logits must have 2 dimensions \(N, C\), got shape \(4,\)"):
        softmax_cross_entropy(np.zeros(4), np.array([0]))
    with pytest.raises(ShapeError, match=r"mse_loss: y must have the same shape as y_hat \(3, 4\), got \(4, 3\)"):
        mse_loss(logits, np.zeros((4, 3)))


@pytest.mark.parametrize("loss_fn", [mse_loss, softmax_cross_entropy, sigmoid_binary_cross_entropy])
def test_non_finite_predictions_are_refused(loss_fn):
    logits = np.array([[0.0, np.nan], [np.inf, 1.0]])
    with pytest.raises(NotFiniteError, match=rf"{loss_fn.__name__}: \w+ holds 2 non-finite value\(s\)"):
        loss_fn(logits, np.zeros((2, 2)))
