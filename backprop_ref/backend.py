"""The one module that knows about array libraries: NumPy by default, CuPy on a GPU.

Compute functions find their library from their inputs, once, at the top:

    xp = array_namespace(x, W)

so the same code runs on NumPy and CuPy arrays. Code that *creates* arrays (weights, data)
asks ``get_backend(backend)``: the ``backend`` argument if given, else the environment
variable ``BACKPROP_BACKEND`` (``numpy`` or ``cupy``), else NumPy. ``to_host`` brings any
array back to NumPy for plotting.
"""
import os

import numpy as np

ENV_VAR = "BACKPROP_BACKEND"
BACKENDS = ("numpy", "cupy")


def _is_cupy_array(a):
    # Looking at the type's module avoids importing CuPy just to ask.
    return type(a).__module__.split(".")[0] == "cupy"


def _import_cupy():
    try:
        import cupy
    except ImportError as e:
        raise ImportError(
            "backend 'cupy' was asked for but CuPy is not installed; "
            "install it with `pip install 'backprop-course[gpu]'` on a machine with an NVIDIA GPU"
        ) from e
    return cupy


def array_namespace(*arrays):
    """The array module (numpy or cupy) that the given arrays live in.

    Non-arrays (Python scalars, None) are ignored. Mixing NumPy and CuPy arrays is an error,
    because it would silently copy between host and device.
    """
    kinds = {_is_cupy_array(a) for a in arrays if hasattr(a, "shape")}
    if kinds == {True, False}:
        raise TypeError(
            "got a mix of NumPy and CuPy arrays; move them to one device first "
            "(backprop_ref.backend.asarray(x, backend=...) or to_host(x))"
        )
    return _import_cupy() if kinds == {True} else np


def backend_name(backend=None):
    """Resolve a backend name: the argument, else $BACKPROP_BACKEND, else 'numpy'."""
    name = (backend or os.environ.get(ENV_VAR) or "numpy").lower()
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {BACKENDS} (argument or ${ENV_VAR})")
    return name


def get_backend(backend=None):
    """The array module to create new arrays with (see the module docstring for the rule)."""
    return _import_cupy() if backend_name(backend) == "cupy" else np


def use(backend):
    """Make ``backend`` ('numpy' or 'cupy') the one new arrays are created on, from now on.

    This is the notebooks' GPU switch: it sets $BACKPROP_BACKEND, so data, weights and the
    inputs of grading checks all go to that device. Asking for 'cupy' without a usable GPU
    is an error that says so, rather than a silent fall-back; only in the grader's sandbox, which
    has no GPU, it falls back to 'numpy' and says so.
    """
    name = backend_name(backend)
    if name == "cupy" and "BACKPROP_SANDBOX" in os.environ:  # see backprop_ref.sandbox: no GPU there
        print("backprop_ref: grading runs on the CPU, so this notebook uses NumPy here (USE_GPU is ignored)")
        name = "numpy"
    if name == "cupy" and not cupy_available():
        _import_cupy()  # says how to install CuPy when that is what is missing
        raise RuntimeError("backend 'cupy' was asked for but CuPy sees no NVIDIA GPU on this machine; use 'numpy'")
    os.environ[ENV_VAR] = name  # and nothing returned: a notebook's set-up cell shows nothing


def asarray(x, backend=None, dtype=None):
    """``x`` as an array of the chosen backend (copies between host and device if needed)."""
    xp = get_backend(backend)
    if xp is np and _is_cupy_array(x):
        x = x.get()
    return xp.asarray(x, dtype=dtype)


def to_host(x):
    """A NumPy array (or the value unchanged if it is not an array): use before plotting."""
    if _is_cupy_array(x):
        return x.get()
    if isinstance(x, (list, tuple)):
        return type(x)(to_host(v) for v in x)
    return x


def cupy_available():
    """True when CuPy imports and sees at least one GPU."""
    try:
        cupy = _import_cupy()
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, or CUDA errors when no driver/device is present
        return False
