"""The bias as a weight: the weight from a unit whose activation is always 1.

A weight matrix of a layer with D inputs and M outputs has shape (D + 1, M); its last row is
the bias. This module owns that convention; everything else calls it.

    with_ones(x) @ W   ==   x @ W[:-1] + W[-1]      (the second form never copies x)
"""
import numpy as np

from ._guard import answer_key
from .backend import array_namespace, get_backend


@answer_key
def with_ones(x):
    """x with a constant-1 column appended: (N, D) -> (N, D + 1). For teaching and pictures."""
    xp = array_namespace(x)
    return xp.concatenate([x, xp.ones((x.shape[0], 1), dtype=x.dtype)], axis=1)


def weights_part(W):
    """The (D, M) weights from the real inputs (a view)."""
    return W[:-1]


def bias_part(W):
    """The (M,) bias: the weights from the constant-1 unit (a view)."""
    return W[-1]


def join_bias(W, b):
    """(D, M) weights and (M,) bias -> one (D + 1, M) matrix."""
    xp = array_namespace(W, b)
    return xp.concatenate([W, xp.reshape(b, (1, -1))], axis=0)


def affine(x, W):
    """x @ W with the constant-1 unit: (N, D), (D + 1, M) -> (N, M), without copying x."""
    out = x @ W[:-1]
    out += W[-1]  # the bias added in place: no second (N, M) array
    return out


@answer_key
def affine_backward(dout, x, W):
    """Gradients of affine(x, W): (N, M) upstream -> dx (N, D), dW (D + 1, M).

    dW's last row is the bias gradient: the constant-1 input summed over the batch.
    """
    return dout @ W[:-1].T, affine_weight_grad(dout, x, W)


def affine_weight_grad(dout, x, W):
    """dW (D + 1, M) alone, for callers that need no dx (a network's first layer)."""
    xp = array_namespace(dout, x, W)
    dW = xp.empty(W.shape, dtype=xp.result_type(dout, x))
    xp.matmul(x.T, dout, out=dW[:-1])  # written straight into dW's rows: no temporary to copy
    dout.sum(axis=0, out=dW[-1])
    return dW


def init_weights(D, M, rng, scale=None, backend=None, dtype=np.float64):
    """A (D + 1, M) weight matrix: Gaussian weights with std ``scale`` (default 1/sqrt(D)), zero bias.

    ``rng`` is a numpy.random.Generator, so one seed gives the same weights on every backend.
    """
    scale = 1.0 / np.sqrt(D) if scale is None else scale
    W = np.zeros((D + 1, M), dtype=dtype)
    W[:-1] = rng.normal(0.0, scale, size=(D, M))
    return get_backend(backend).asarray(W)
