import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop_ref._checks import ShapeError
from backprop_ref.activations import ACTIVATIONS, get_activation, sigmoid_forward, softmax
from backprop_ref.backend import to_host
from oracle import assert_matches_finite_differences, assert_matches_torch, import_torch

shapes = st.tuples(st.integers(1, 5), st.integers(1, 6))
seeds = st.integers(0, 2**32 - 1)


def away_from_kinks(z):
    """Keep ReLU-type inputs farther than the finite-difference step from the kink at 0."""
    return np.where(z >= 0, z + 0.1, z - 0.1)


def torch_tensor(a):
    import torch

    return torch.tensor(to_host(a))


def random_input(xp, shape, seed):
    rng = np.random.default_rng(seed)
    return xp.asarray(away_from_kinks(rng.normal(scale=2.0, size=shape))), xp.asarray(rng.normal(size=shape))


def torch_activation(name):
    torch = import_torch()
    return {
        "identity": lambda z: z,
        "sigmoid": lambda z: torch.sigmoid(z),
        "tanh": lambda z: torch.tanh(z),
        "relu": lambda z: torch.relu(z),
        "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
        "softmax": lambda z: torch.softmax(z, dim=-1),
    }[name]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(shape=shapes, seed=seeds)
def test_backward_matches_finite_differences(xp, name, shape, seed):
    z, da = random_input(xp, shape, seed)
    forward, backward = get_activation(name)
    _, cache = forward(z)
    assert_matches_finite_differences(lambda: forward(z)[0], {"z": z}, {"z": backward(da, cache)}, dout=da)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(shape=shapes, seed=seeds)
def test_forward_and_backward_match_torch(xp, name, shape, seed):
    torch_fn = torch_activation(name)
    z, da = random_input(xp, shape, seed)
    forward, backward = get_activation(name)
    a, cache = forward(z)
    expected = torch_fn(z=torch_tensor(z)).numpy()
    np.testing.assert_allclose(to_host(a), expected, rtol=1e-12, atol=1e-14)
    assert_matches_torch(torch_fn, {"z": z}, {"z": backward(da, cache)}, dout=da)


def test_sigmoid_and_softmax_do_not_overflow(xp):
    z = xp.asarray([[-1000.0, 0.0, 1000.0]])
    a, _ = sigmoid_forward(z)
    np.testing.assert_allclose(to_host(a), [[0.0, 0.5, 1.0]])
    p = softmax(z)
    np.testing.assert_allclose(to_host(p), [[0.0, 0.0, 1.0]])


def test_relu_derivative_at_the_kink_is_zero(xp):
    forward, backward = get_activation("relu")
    z = xp.asarray([[-1.0, 0.0, 2.0]])
    _, cache = forward(z)
    np.testing.assert_array_equal(to_host(backward(xp.ones_like(z), cache)), [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_integer_input_is_refused_with_its_dtype(name):
    forward, _ = get_activation(name)
    with pytest.raises(TypeError, match=rf"{name}_forward: z must be a floating-point array .* got dtype int"):
        forward(np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"identity"}))
def test_backward_refuses_mismatched_upstream_gradient(name):
    forward, backward = get_activation(name)
    _, cache = forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=rf"{name}_backward: da must have the same shape as .*\(2, 3\), got \(3, 2\)"):
        backward(np.ones((3, 2)), cache)


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; expected one of \['identity'"):
        get_activation("swish")
