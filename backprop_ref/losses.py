"""Losses. Each returns (loss, gradient of the loss with respect to its first argument).

One rule for all of them: **sum over outputs, mean over the batch** (axis 0, size N). That 1/N
is where learners' gradients most often go wrong, so each docstring repeats it.
"""
from ._checks import ShapeError, check_finite, check_float, check_ndim, check_same_shape
from ._guard import answer_key
from .backend import array_namespace


@answer_key
def mse_loss(y_hat, y):
    """Half the squared error, summed over outputs, averaged over the batch.

    y_hat, y: (N, K) or (N,)
    L = (1 / 2N) * sum((y_hat - y)**2)          dy_hat = (y_hat - y) / N
    """
    where = "mse_loss"
    check_float(where, "y_hat", y_hat)
    check_same_shape(where, "y", y, "y_hat", y_hat)
    xp = array_namespace(y_hat, y)
    check_finite(where, "y_hat", y_hat, xp)
    n = y_hat.shape[0]
    diff = y_hat - y
    return float((diff * diff).sum()) / (2 * n), diff / n


def _one_hot_targets(where, y, logits, xp):
    """Targets as (N, C) probabilities: integer labels (N,) or one-hot/probability rows (N, C)."""
    n, c = logits.shape
    if y.ndim == 1:
        if y.dtype.kind not in "iu":
            raise TypeError(f"{where}: 1-D targets must be integer class labels, got dtype {y.dtype}")
        if y.shape[0] != n:
            raise ShapeError(f"{where}: y has {y.shape[0]} labels but logits has N = {n} rows")
        if y.size and (int(y.min()) < 0 or int(y.max()) >= c):
            raise ValueError(f"{where}: labels must lie in 0..{c - 1} (C = {c} classes), got {int(y.min())}..{int(y.max())}")
        Y = xp.zeros((n, c), dtype=logits.dtype)
        Y[xp.arange(n), y] = 1
        return Y
    check_same_shape(where, "y (one-hot)", y, "logits", logits)
    return y


@answer_key
def softmax_cross_entropy(logits, y):
    """Softmax followed by cross-entropy, from logits, summed over classes, averaged over the batch.

    logits: (N, C); y: (N,) integer labels or (N, C) one-hot / probability rows.
    p = softmax(logits);  L = -(1/N) * sum(y * log p)          dlogits = (p - y) / N
    log p is computed as logits - logsumexp(logits), which never overflows.
    """
    where = "softmax_cross_entropy"
    check_ndim(where, "logits", logits, 2, "(N, C)")
    xp = array_namespace(logits, y)
    check_finite(where, "logits", logits, xp)
    Y = _one_hot_targets(where, y, logits, xp)
    n = logits.shape[0]
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p -= xp.log(xp.exp(log_p).sum(axis=1, keepdims=True))  # in place: the shifted logits become log p
    loss = -float((Y * log_p).sum()) / n
    dlogits = xp.exp(log_p) - Y  # p - Y in the dtype of both (Y may be a float64 one-hot)
    dlogits /= n  # in place
    return loss, dlogits


@answer_key
def sigmoid_binary_cross_entropy(logits, y):
    """Sigmoid followed by binary cross-entropy, from logits, summed over outputs, averaged over the batch.

    logits, y: (N, K) or (N,), y in [0, 1].
    p = sigmoid(z);  L = -(1/N) * sum(y log p + (1 - y) log(1 - p))          dz = (p - y) / N
    Computed as max(z, 0) - z*y + log(1 + exp(-|z|)), which never overflows.
    """
    where = "sigmoid_binary_cross_entropy"
    check_float(where, "logits", logits)
    check_same_shape(where, "y", y, "logits", logits)
    xp = array_namespace(logits, y)
    check_finite(where, "logits", logits, xp)
    n = logits.shape[0]
    loss = float((xp.maximum(logits, 0) - logits * y + xp.log1p(xp.exp(-xp.abs(logits)))).sum()) / n
    p = 0.5 * (1.0 + xp.tanh(0.5 * logits))
    return loss, (p - y) / n


LOSSES = {
    "mse": mse_loss,
    "softmax_cross_entropy": softmax_cross_entropy,
    "sigmoid_binary_cross_entropy": sigmoid_binary_cross_entropy,
}


def get_loss(name):
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}") from None


def accuracy(logits, y):
    """Fraction of rows whose largest logit is at the label (y: (N,) labels or (N, C) one-hot)."""
    labels = y if y.ndim == 1 else y.argmax(axis=1)
    return float((logits.argmax(axis=1) == labels).mean())
