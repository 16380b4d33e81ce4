"""A multilayer perceptron of any depth: dense layers, each followed by an activation.

The classic picture, input layer -> hidden layer -> hidden layer II -> output layer, is

    weights = init_mlp([D, H1, H2, C], rng)
    out, caches = mlp_forward(x, weights, ["tanh", "tanh", "identity"])
    dx, grads = mlp_backward(dout, caches)

The forward pass keeps one cache per layer; the backward pass walks them in reverse and
returns the gradient of every weight matrix (each (D_l + 1, D_{l+1}), last row the bias).
"""
from ._checks import ShapeError
from ._guard import answer_key
from .activations import get_activation
from .bias import affine_weight_grad, init_weights
from .layers import dense_backward, dense_forward
from .losses import get_loss


def init_mlp(sizes, rng, backend=None, dtype=None, scale=None):
    """Weights for layer sizes [D, H1, ..., C]: a list of (sizes[l] + 1, sizes[l+1]) matrices."""
    if len(sizes) < 2:
        raise ValueError(f"init_mlp: sizes must list at least the input and output sizes, got {sizes}")
    kwargs = {} if dtype is None else {"dtype": dtype}
    return [init_weights(d, m, rng, scale=scale, backend=backend, **kwargs) for d, m in zip(sizes[:-1], sizes[1:])]


def _check_activations(weights, activations):
    if isinstance(activations, str):
        raise TypeError(
            f"mlp: activations must be a list with one name per layer ({len(weights)} here), "
            f"e.g. {['tanh'] * (len(weights) - 1) + ['identity']}, got the string {activations!r}"
        )
    if len(activations) != len(weights):
        raise ValueError(f"mlp: {len(weights)} weight matrices need {len(weights)} activations, got {len(activations)}")
    for l, (W, W_next) in enumerate(zip(weights[:-1], weights[1:])):
        if W_next.shape[0] != W.shape[1] + 1:
            raise ShapeError(
                f"mlp: layer {l} has {W.shape[1]} outputs, so layer {l + 1}'s weights must have "
                f"{W.shape[1] + 1} rows (the last one the bias), got shape {tuple(W_next.shape)}"
            )


def mlp_forward(x, weights, activations):
    """x: (N, D) -> out: (N, C), caches (one (dense_cache, backward_fn, act_cache) per layer)."""
    _check_activations(weights, activations)
    caches = []
    a = x
    for W, name in zip(weights, activations):
        forward, backward = get_activation(name)
        z, dense_cache = dense_forward(a, W)
        a, act_cache = forward(z)
        caches.append((dense_cache, backward, act_cache))
    return a, caches


@answer_key
def mlp_backward(dout, caches):
    """dout: (N, C) -> dx: (N, D), grads: list of dW, one per layer, shaped like the weights."""
    return _backward(dout, caches, input_grad=True)


def _backward(dout, caches, input_grad):
    """mlp_backward; with input_grad=False dx is None and the first layer's dx matmul is skipped."""
    grads = []
    da = dout
    for l in reversed(range(len(caches))):
        dense_cache, backward, act_cache = caches[l]
        dz = backward(da, act_cache)
        if l == 0 and not input_grad:
            da, dW = None, affine_weight_grad(dz, *dense_cache)  # training needs no dL/dx: a third of layer 0's work
        else:
            da, dW = dense_backward(dz, dense_cache)
        grads.append(dW)
    return da, grads[::-1]


def mlp_loss(weights, x, y, activations, loss="softmax_cross_entropy"):
    """Loss of the network on (x, y) and the gradient of every weight matrix: (loss, grads).

    ``loss`` names a function of backprop_ref.losses (applied to the last layer's output).
    The signature (params, x, y) -> (loss, grads) is the one ``train`` expects; dL/dx is not computed.
    """
    out, caches = mlp_forward(x, weights, activations)
    value, dout = get_loss(loss)(out, y)
    _, grads = _backward(dout, caches, input_grad=False)
    return value, grads
