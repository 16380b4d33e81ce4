import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop_ref._checks import ShapeError
from backprop_ref.activations import ACTIVATIONS
from backprop_ref.bias import bias_part, weights_part
from backprop_ref.mlp import init_mlp, mlp_backward, mlp_forward, mlp_loss
from oracle import assert_matches_finite_differences, assert_matches_torch, import_torch

seeds = st.integers(0, 2**32 - 1)
networks = st.tuples(
    st.lists(st.integers(1, 5), min_size=2, max_size=5),  # layer sizes: input, hidden..., output
    st.lists(st.sampled_from(sorted(ACTIVATIONS)), min_size=4, max_size=4),
    st.integers(1, 5),  # batch
    seeds,
)


def build(xp, sizes, names, n, seed):
    rng = np.random.default_rng(seed)
    weights = init_mlp(sizes, rng, backend=xp.__name__, scale=1.0)
    for W in weights:  # random biases: zero ones put ReLU-type pre-activations exactly on the kink
        W[-1] = xp.asarray(rng.normal(size=W.shape[1]))
    activations = names[: len(weights)]
    return weights, activations, xp.asarray(rng.normal(size=(n, sizes[0]))), xp.asarray(rng.normal(size=(n, sizes[-1])))


@given(networks)
def test_backward_matches_finite_differences(xp, network):
    weights, activations, x, dout = build(xp, *network)
    dx, grads = mlp_backward(dout, mlp_forward(x, weights, activations)[1])
    params = {"x": x, **{f"W{l}": W for l, W in enumerate(weights)}}
    analytic = {"x": dx, **{f"W{l}": dW for l, dW in enumerate(grads)}}
    assert_matches_finite_differences(lambda: mlp_forward(x, weights, activations)[0], params, analytic, dout=dout)


def torch_mlp(activations):
    import torch

    fns = {
        "identity": lambda z: z,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
        "softmax": lambda z: torch.softmax(z, dim=-1),
    }

    def forward(x, **weights):
        a = x
        for l, name in enumerate(activations):
            W = weights[f"W{l}"]
            a = fns[name](a @ W[:-1] + W[-1])
        return a

    return forward


@given(networks)
def test_backward_matches_torch(xp, network):
    import_torch()
    weights, activations, x, dout = build(xp, *network)
    dx, grads = mlp_backward(dout, mlp_forward(x, weights, activations)[1])
    inputs = {"x": x, **{f"W{l}": W for l, W in enumerate(weights)}}
    analytic = {"x": dx, **{f"W{l}": dW for l, dW in enumerate(grads)}}
    assert_matches_torch(torch_mlp(activations), inputs, analytic, dout=dout)


def test_the_classic_picture_input_hidden_hidden_ii_output(xp, rng):
    """Input layer (4) -> hidden layer (5) -> hidden layer II (3) -> output layer (2)."""
    weights = init_mlp([4, 5, 3, 2], rng, backend=xp.__name__)
    assert [tuple(W.shape) for W in weights] == [(5, 5), (6, 3), (4, 2)]
    assert all(float(abs(bias_part(W)).max()) == 0.0 for W in weights)
    x, y = xp.asarray(rng.normal(size=(7, 4))), xp.asarray(rng.integers(0, 2, size=7))
    loss, grads = mlp_loss(weights, x, y, ["sigmoid", "tanh", "identity"])
    assert [g.shape for g in grads] == [W.shape for W in weights]
    assert loss == pytest.approx(np.log(2), abs=0.3)  # small random weights: near chance
    assert_matches_finite_differences(
        lambda: mlp_loss(weights, x, y, ["sigmoid", "tanh", "identity"])[0],
        {f"W{l}": W for l, W in enumerate(weights)},
        {f"W{l}": g for l, g in enumerate(grads)},
    )


def test_init_is_deterministic_given_a_seed():
    a = init_mlp([3, 4, 2], np.random.default_rng(1))
    b = init_mlp([3, 4, 2], np.random.default_rng(1))
    c = init_mlp([3, 4, 2], np.random.default_rng(2))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(weights_part(a[0]), weights_part(c[0]))


def test_bad_networks_are_described(rng):
    weights = init_mlp([3, 4, 2], rng)
    x = rng.normal(size=(5, 3))
    with pytest.raises(ValueError, match=r"2 weight matrices need 2 activations, got 1"):
        mlp_forward(x, weights, ["tanh"])
    with pytest.raises(TypeError, match=r"one name per layer \(2 here\), e.g. \['tanh', 'identity'\], got the string 'tanh'"):
        mlp_forward(x, weights, "tanh")
    with pytest.raises(ShapeError, match=r"layer 0 has 4 outputs, so layer 1's weights must have 5 rows .* got shape \(4, 2\)"):
        mlp_forward(x, [weights[0], np.ones((4, 2))], ["tanh", "identity"])
    with pytest.raises(ShapeError, match=r"dense_forward: x has shape \(5, 2\)"):
        mlp_forward(x[:, :2], weights, ["tanh", "identity"])
    with pytest.raises(ValueError, match=r"at least the input and output sizes, got \[3\]"):
        init_mlp([3], rng)
