"""Full Jacobians from backprop.

A backward pass computes a vector-Jacobian product: given dout = dL/dout it returns
dout @ J. Feeding it each unit vector e_c in turn reads the Jacobian off one row at a time,
so a network with C outputs needs C backward passes (and one forward pass).
"""
from ._guard import answer_key
from .backend import array_namespace
from .mlp import mlp_backward, mlp_forward


@answer_key
def jacobian(forward, backward, x):
    """J[n, c, d] = d out[n, c] / d x[n, d], by one backward pass per output unit.

    forward(x) -> (out, cache) with x: (N, D), out: (N, C); backward(dout, cache) -> dx: (N, D).
    Rows of the batch must not interact (true of any network applied sample by sample), which
    is what lets each backward pass serve the whole batch at once.
    Returns J: (N, C, D).
    """
    out, cache = forward(x)
    xp = array_namespace(out, x)
    n, c = out.shape
    J = xp.empty((n, c, x.shape[1]), dtype=xp.result_type(out, x))
    for k in range(c):
        e_k = xp.zeros_like(out)
        e_k[:, k] = 1
        J[:, k, :] = backward(e_k, cache)
    return J


def mlp_jacobian(x, weights, activations):
    """The Jacobian of an MLP's output with respect to its input: (N, D) -> (N, C, D)."""
    return jacobian(
        lambda x: mlp_forward(x, weights, activations),
        lambda dout, caches: mlp_backward(dout, caches)[0],
        x,
    )
