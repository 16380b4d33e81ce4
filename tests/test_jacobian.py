import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from backprop_ref.backend import to_host
from backprop_ref.gradcheck import numerical_gradient
from backprop_ref.jacobian import mlp_jacobian
from backprop_ref.mlp import init_mlp, mlp_forward
from oracle import import_torch

networks = st.tuples(st.lists(st.integers(1, 4), min_size=2, max_size=4), st.integers(1, 4), st.integers(0, 2**32 - 1))
ACTS = ["tanh", "sigmoid", "softmax"]


def build(xp, sizes, n, seed):
    rng = np.random.default_rng(seed)
    weights = init_mlp(sizes, rng, backend=xp.__name__, scale=1.0)
    activations = (ACTS * 2)[: len(weights) - 1] + ["tanh"]
    return weights, activations, xp.asarray(rng.normal(size=(n, sizes[0])))


@given(networks)
def test_jacobian_matches_finite_differences(xp, network):
    weights, activations, x = build(xp, *network)
    J = to_host(mlp_jacobian(x, weights, activations))
    n, c, d = J.shape
    for k in range(c):
        e_k = xp.zeros((n, c))
        e_k[:, k] = 1
        numeric = to_host(numerical_gradient(lambda x: mlp_forward(x, weights, activations)[0], x, dout=e_k))
        np.testing.assert_allclose(J[:, k, :], numeric, rtol=1e-6, atol=1e-9, err_msg=f"row {k} of the Jacobian")


@given(networks)
def test_jacobian_matches_torch(xp, network):
    torch = import_torch()
    from test_mlp import torch_mlp

    weights, activations, x = build(xp, *network)
    J = to_host(mlp_jacobian(x, weights, activations))
    forward = torch_mlp(activations)
    tw = {f"W{l}": torch.tensor(to_host(W)) for l, W in enumerate(weights)}
    for i, row in enumerate(to_host(x)):
        expected = torch.autograd.functional.jacobian(lambda v: forward(v[None], **tw)[0], torch.tensor(row))
        np.testing.assert_allclose(J[i], expected.numpy(), rtol=1e-10, atol=1e-12)
