"""Activation functions, each forward beside its backward.

    forward(z) -> (a, cache)          backward(da, cache) -> dz

z and a have the same shape (any shape; softmax works along the last axis). da is the upstream
gradient dL/da, dz the gradient dL/dz. ``ACTIVATIONS`` maps each name to its (forward, backward).
"""
from ._checks import check_float, check_same_shape
from ._guard import answer_key
from .backend import array_namespace


def identity_forward(z):
    """a = z"""
    check_float("identity_forward", "z", z)
    return z, None


@answer_key
def identity_backward(da, cache):
    """dz = da"""
    return da


def sigmoid_forward(z):
    """a = 1 / (1 + exp(-z)), computed as (1 + tanh(z / 2)) / 2 so it never overflows."""
    check_float("sigmoid_forward", "z", z)
    xp = array_namespace(z)
    a = 0.5 * (1.0 + xp.tanh(0.5 * z))
    return a, a


@answer_key
def sigmoid_backward(da, a):
    """dz = da * a * (1 - a)"""
    check_same_shape("sigmoid_backward", "da", da, "the forward output", a)
    return da * a * (1.0 - a)


def tanh_forward(z):
    """a = tanh(z)"""
    check_float("tanh_forward", "z", z)
    a = array_namespace(z).tanh(z)
    return a, a


@answer_key
def tanh_backward(da, a):
    """dz = da * (1 - a**2)"""
    check_same_shape("tanh_backward", "da", da, "the forward output", a)
    # da * (1 - a * a), step by step in one buffer: a large step's fresh temporaries cost more than the
    # arithmetic (page faults), and training calls this on every hidden layer.
    xp = array_namespace(da, a)
    dz = xp.empty(a.shape, dtype=xp.result_type(da, a))
    xp.multiply(a, a, out=dz)
    xp.subtract(1.0, dz, out=dz)
    xp.multiply(dz, da, out=dz)
    return dz if dz.ndim else dz[()]  # a scalar for scalars, as da * (1 - a * a) gives


def relu_forward(z):
    """a = max(z, 0). The derivative at the kink z = 0 is taken as 0."""
    check_float("relu_forward", "z", z)
    return z * (z > 0), z


@answer_key
def relu_backward(da, z):
    """dz = da where z > 0, else 0"""
    check_same_shape("relu_backward", "da", da, "the forward input", z)
    return da * (z > 0)


def leaky_relu_forward(z, alpha=0.01):
    """a = z where z > 0, else alpha * z"""
    check_float("leaky_relu_forward", "z", z)
    xp = array_namespace(z)
    return xp.where(z > 0, z, alpha * z), (z, alpha)


@answer_key
def leaky_relu_backward(da, cache):
    """dz = da where z > 0, else alpha * da"""
    z, alpha = cache
    check_same_shape("leaky_relu_backward", "da", da, "the forward input", z)
    return array_namespace(da, z).where(z > 0, da, alpha * da)


def softmax(z):
    """p = exp(z) / sum(exp(z)) along the last axis, shifted by the max so it never overflows."""
    xp = array_namespace(z)
    e = xp.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_forward(z):
    """a = softmax(z) along the last axis."""
    check_float("softmax_forward", "z", z)
    a = softmax(z)
    return a, a


@answer_key
def softmax_backward(da, a):
    """dz = a * (da - sum(da * a)), the sum along the last axis (the softmax Jacobian, applied)."""
    check_same_shape("softmax_backward", "da", da, "the forward output", a)
    return a * (da - (da * a).sum(axis=-1, keepdims=True))


ACTIVATIONS = {
    "identity": (identity_forward, identity_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "softmax": (softmax_forward, softmax_backward),
}


def get_activation(name):
    """(forward, backward) for an activation name."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None
