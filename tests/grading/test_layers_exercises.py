"""Mutation suite for the layer exercises: realistic wrong answers fail (and are named), correct ones in
different styles pass."""
import numpy as np
import pytest

from mutants import assert_fails, assert_passes


# dense_backward -------------------------------------------------------------------------------
def dense_vectorised(dout, cache):
    x, W = cache
    return dout @ W[:-1].T, np.vstack([x.T @ dout, dout.sum(axis=0)])


def dense_with_ones(dout, cache):
    x, W = cache
    x1 = np.hstack([x, np.ones((x.shape[0], 1))])
    return (dout @ W.T)[:, :-1], x1.T @ dout


def dense_einsum(dout, cache):
    x, W = cache
    dW = np.empty_like(W)
    dW[:-1] = np.einsum("nd,nm->dm", x, dout)
    dW[-1] = np.einsum("nm->m", dout)
    return np.einsum("nm,dm->nd", dout, W[:-1]), dW


def dense_loops(dout, cache):
    x, W = cache
    dx, dW = np.zeros_like(x), np.zeros_like(W)
    for n in range(x.shape[0]):
        dW[:-1] += np.outer(x[n], dout[n])
        dW[-1] += dout[n]
        dx[n] = W[:-1] @ dout[n]
    return dx, dW


def dense_float32(dout, cache):
    x, W = cache
    dx, dW = dense_vectorised(dout.astype(np.float32), (x.astype(np.float32), W.astype(np.float32)))
    return dx, dW


@pytest.mark.parametrize("impl", [dense_vectorised, dense_with_ones, dense_einsum, dense_loops, dense_float32])
def test_dense_backward_correct_variants_pass(impl):
    assert_passes("dense_backward", impl)


DENSE_MUTANTS = {
    "transposed dW": (lambda d, c: (dense_vectorised(d, c)[0], dense_vectorised(d, c)[1].T), "looks transposed"),
    "no bias row": (lambda d, c: (dense_vectorised(d, c)[0], c[0].T @ d), "dW has no bias row"),
    "bias averaged": (
        lambda d, c: (d @ c[1][:-1].T, np.vstack([c[0].T @ d, d.mean(axis=0)])),
        "averaged over the batch",
    ),
    "bias from the first example": (
        lambda d, c: (d @ c[1][:-1].T, np.vstack([c[0].T @ d, d[0]])),
        "not summed over the batch",
    ),
    "bias zero": (lambda d, c: (d @ c[1][:-1].T, np.vstack([c[0].T @ d, np.zeros(d.shape[1])])), "bias row of dW is zero"),
    "dx with the bias weights": (lambda d, c: (d @ c[1].T, dense_vectorised(d, c)[1]), "dx includes the bias row"),
    "signs flipped": (lambda d, c: tuple(-g for g in dense_vectorised(d, c)), "signs are flipped"),
    "dW over N": (lambda d, c: (d @ c[1][:-1].T, dense_vectorised(d, c)[1] / d.shape[0]), "scaled by 1/N"),
    "dx not transposed": (lambda d, c: (d @ c[1][:-1], dense_vectorised(d, c)[1]), None),
    "x instead of dout in the bias": (
        lambda d, c: (d @ c[1][:-1].T, np.vstack([c[0].T @ d, c[0].sum(axis=0)[: d.shape[1]]])),
        None,
    ),
}


@pytest.mark.parametrize("name", DENSE_MUTANTS)
def test_dense_backward_mutants_fail_with_their_name(name):
    impl, mistake = DENSE_MUTANTS[name]
    assert_fails("dense_backward", impl, mistake)
