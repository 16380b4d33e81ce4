import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from backprop_ref.backend import cupy_available, get_backend

# Hypothesis: the default profile keeps `make test` quick; `HYPOTHESIS_PROFILE=soak` tries many more cases.
_common = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("default", max_examples=20, **_common)
settings.register_profile("soak", max_examples=500, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

_NO_GPU = "CuPy backend: CuPy is not installed or sees no NVIDIA GPU on this machine (pip install '.[gpu]' on one)"


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.skipif(not cupy_available(), reason=_NO_GPU))])
def xp(request):
    """The array module under test: NumPy always, CuPy where it imports and sees a device."""
    return get_backend(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)


@pytest.fixture(autouse=True, scope="session")
def _isolated_user_dirs(tmp_path_factory):
    """Keep Jupyter, IPython and matplotlib from writing into the home directory."""
    root = tmp_path_factory.mktemp("user-dirs")
    names = ["JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"]
    old = {n: os.environ.get(n) for n in names}
    for n in names:
        os.environ[n] = str(root / n.lower())
    os.environ.setdefault("MPLBACKEND", "Agg")
    yield
    for n, v in old.items():
        if v is None:
            os.environ.pop(n, None)
        else:
            os.environ[n] = v
