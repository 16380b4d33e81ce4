"""Fixtures for tests that run learner code in the grader's sandbox (bubblewrap; see ``bubblewrap`` in
tests/conftest.py for what happens without it)."""
import pytest

from backprop_ref.sandbox.bubblewrap import Sandbox, SandboxUnavailable
from backprop_ref.sandbox.edition import build_edition

@pytest.fixture(scope="session")
def edition(tmp_path_factory, bubblewrap):
    """The learner edition of backprop_ref, built once for the session."""
    return build_edition(tmp_path_factory.mktemp("edition"))


@pytest.fixture
def submission(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    folder.chmod(0o755)
    return folder


@pytest.fixture
def sandbox(edition, submission):
    """A started sandbox on an empty submission folder; closed (its processes gone) after the test."""
    box = Sandbox(edition, submission, default_timeout=30)
    try:
        box.start()
    except SandboxUnavailable as e:
        pytest.fail(f"bwrap is installed but the sandbox does not start: {e}")
    yield box
    box.close()


@pytest.fixture
def cell(sandbox):
    """cell(code, timeout=30) -> (what it printed, its error output or None), run in the sandbox."""

    def run(code, timeout=30):
        outputs = sandbox.run_cell(code, timeout)
        text = "".join(o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout")
        errors = [o for o in outputs if o["output_type"] == "error"]
        return text, errors[0] if errors else None

    return run
