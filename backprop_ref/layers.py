"""The dense (fully connected) layer, forward beside backward, with the bias as a weight.

W has shape (D + 1, M): the last row is the bias, the weight from a constant-1 input unit.
"""
from ._checks import ShapeError, check_ndim
from ._guard import answer_key
from .bias import affine, affine_backward


def dense_forward(x, W):
    """out = [x, 1] @ W

    x: (N, D)   W: (D + 1, M)   ->   out: (N, M), cache = (x, W)
    """
    check_ndim("dense_forward", "x", x, 2, "(N, D)")
    check_ndim("dense_forward", "W", W, 2, "(D + 1, M)")
    if W.shape[0] != x.shape[1] + 1:
        raise ShapeError(
            f"dense_forward: x has shape {tuple(x.shape)} (D = {x.shape[1]}), so W must have shape "
            f"(D + 1, M) = ({x.shape[1] + 1}, M) with the bias as its last row; got W of shape {tuple(W.shape)}"
        )
    return affine(x, W), (x, W)


@answer_key
def dense_backward(dout, cache):
    """dx = dout @ W[:-1].T,   dW = [x, 1].T @ dout   (the bias row sums dout over the batch)

    dout: (N, M)   ->   dx: (N, D), dW: (D + 1, M)
    """
    x, W = cache
    if tuple(dout.shape) != (x.shape[0], W.shape[1]):
        raise ShapeError(
            f"dense_backward: dout must have shape (N, M) = ({x.shape[0]}, {W.shape[1]}), got {tuple(dout.shape)}"
        )
    return affine_backward(dout, x, W)
