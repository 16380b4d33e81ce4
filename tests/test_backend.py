import os
import pathlib
import re

import numpy as np
import pytest

import backprop_ref
from backprop_ref import backend
from backprop_ref.backend import array_namespace, asarray, backend_name, get_backend, to_host


def test_numpy_is_the_default(monkeypatch):
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    assert get_backend() is np and backend_name() == "numpy"
    assert array_namespace(np.ones(2), 3.0, None) is np


def test_environment_variable_and_argument_choose_the_backend(monkeypatch):
    monkeypatch.setenv(backend.ENV_VAR, "CuPy")
    assert backend_name() == "cupy"
    assert backend_name("numpy") == "numpy"  # the argument wins
    monkeypatch.setenv(backend.ENV_VAR, "jax")
    with pytest.raises(ValueError, match=r"unknown backend 'jax'; expected one of \('numpy', 'cupy'\)"):
        get_backend()


def test_asking_for_cupy_without_it_says_how_to_install():
    try:
        import cupy
    except ImportError:
        with pytest.raises(ImportError, match=r"backend 'cupy' was asked for .*pip install 'backprop-course\[gpu\]'"):
            get_backend("cupy")
    else:
        assert get_backend("cupy") is cupy


def test_to_host_and_asarray_round_trip(xp):
    a = asarray([[1.0, 2.0]], backend=xp.__name__)
    assert array_namespace(a) is xp
    host = to_host(a)
    assert type(host) is np.ndarray and host.tolist() == [[1.0, 2.0]]
    assert to_host(3.5) == 3.5
    assert [type(v) for v in to_host([a, a])] == [np.ndarray, np.ndarray]


def test_mixing_host_and_device_arrays_is_refused():
    class FakeCupyArray:  # array_namespace looks only at the type's module
        shape = (2,)

    FakeCupyArray.__module__ = "cupy._core.core"
    with pytest.raises(TypeError, match="mix of NumPy and CuPy arrays"):
        array_namespace(np.ones(2), FakeCupyArray())


def test_only_the_backend_module_imports_cupy():
    root = pathlib.Path(backprop_ref.__file__).parent
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "backend.py" and re.search(r"^\s*(import|from)\s+cupy", p.read_text(), re.M)
    ]
    assert offenders == []


def test_use_is_the_notebooks_gpu_switch(monkeypatch):
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    assert backend.use("numpy") is None  # a notebook's set-up cell ends with it, and shows nothing
    assert get_backend() is np and os.environ[backend.ENV_VAR] == "numpy"
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        backend.use("gpu")


@pytest.mark.skipif(backend.cupy_available(), reason="tests the error on a machine without a GPU")
def test_use_cupy_without_a_gpu_says_so_and_changes_nothing(monkeypatch):
    monkeypatch.setenv(backend.ENV_VAR, "numpy")
    with pytest.raises((ImportError, RuntimeError), match="cupy"):
        backend.use("cupy")
    assert get_backend() is np


def test_in_the_grading_sandbox_the_gpu_switch_falls_back_to_numpy_and_says_so(monkeypatch, capsys):
    monkeypatch.setenv("BACKPROP_SANDBOX", "1")
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    backend.use("cupy")
    assert get_backend() is np
    assert "grading runs on the CPU" in capsys.readouterr().out


def test_checks_give_the_learner_inputs_on_the_chosen_device(monkeypatch):
    """With the GPU switch on, a check hands the learner's function device arrays (a stand-in device here)."""
    import sys
    import types

    from backprop_ref.grading import grade

    class DeviceArray(np.ndarray):
        pass

    fake_cupy = types.ModuleType("cupy")
    fake_cupy.asarray = lambda a: np.array(a).view(DeviceArray)
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setenv(backend.ENV_VAR, "cupy")  # what backend.use("cupy") sets
    seen = []

    def sigmoid_backward(da, z):
        seen.append((type(da), type(z)))
        s = 1 / (1 + np.exp(-z))
        return da * s * (1 - s)

    assert grade("sigmoid_backward", sigmoid_backward).passed
    assert seen and all(kinds == (DeviceArray, DeviceArray) for kinds in seen)
