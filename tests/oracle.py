"""The independent oracles every backward is checked against: float64 central differences and,
where it is installed, PyTorch's autograd. One helper each, so each test case is one line."""
import os

import numpy as np
import pytest

from backprop_ref.backend import to_host
from backprop_ref.gradcheck import check_gradients


def assert_matches_finite_differences(f, params, grads, dout=None, rtol=1e-5, atol=1e-8):
    """f() reads the float64 arrays in params (changed in place); grads holds the analytic gradients."""
    report = check_gradients(f, params, grads, dout=dout, rtol=rtol, atol=atol)
    assert report.passed, "backward disagrees with central differences:\n" + str(report)


# PyTorch's CPU build: torch from PyPI is the CUDA build on Linux, several GB of wheels.
INSTALL_TORCH_CPU = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


def import_torch():
    """PyTorch, or a skip that says why; under BACKPROP_REQUIRE_ORACLES=1 (CI) a missing torch fails."""
    try:
        import torch
    except ImportError:
        message = f"PyTorch is not installed (its CPU build: {INSTALL_TORCH_CPU}): no autograd oracle"
        if os.environ.get("BACKPROP_REQUIRE_ORACLES") == "1":
            pytest.fail(message + ", and BACKPROP_REQUIRE_ORACLES=1 requires it")
        pytest.skip(message)
    return torch


def torch_gradients(fn, inputs, dout=None):
    """Gradients of sum(fn(**inputs) * dout) by PyTorch autograd, as NumPy arrays.

    fn takes and returns torch tensors; inputs are arrays (NumPy or CuPy), copied to float64 tensors.
    Skips the test, saying why, when PyTorch is not installed.
    """
    torch = import_torch()
    tensors = {k: torch.tensor(np.asarray(to_host(v), dtype=np.float64), requires_grad=True) for k, v in inputs.items()}
    out = fn(**tensors)
    seed = torch.ones_like(out) if dout is None else torch.tensor(np.asarray(to_host(dout), dtype=np.float64))
    out.backward(seed)
    return {k: t.grad.numpy() for k, t in tensors.items()}


def assert_matches_torch(fn, inputs, grads, dout=None, rtol=1e-7, atol=1e-10):
    """Compare analytic grads {name: array} with PyTorch autograd of fn over the same inputs."""
    expected = torch_gradients(fn, inputs, dout)
    for name, g in expected.items():
        np.testing.assert_allclose(to_host(grads[name]), g, rtol=rtol, atol=atol, err_msg=f"d{name} vs PyTorch autograd")
