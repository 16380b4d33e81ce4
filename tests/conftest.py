import os
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from backprop_ref.backend import cupy_available, get_backend
from chromium import browser  # noqa: F401 (one Chromium for the session's browser tests, tests/browser and tests/deploy)

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


@pytest.fixture(scope="session")
def bubblewrap():
    """Tests of grading need the sandbox: they skip without bubblewrap, saying how to install it; with
    BACKPROP_REQUIRE_SANDBOX=1 (CI) that is a failure instead, so it is never assumed tested when it was not."""
    if shutil.which("bwrap") is None:
        if os.environ.get("BACKPROP_REQUIRE_SANDBOX", "") not in ("", "0"):
            pytest.fail("bwrap is not installed, and BACKPROP_REQUIRE_SANDBOX=1 requires it")
        pytest.skip("grading runs learner code in bubblewrap's sandbox: `sudo apt-get install bubblewrap`; "
                    "BACKPROP_REQUIRE_SANDBOX=1 turns this skip into a failure (CI)")
