"""exercises/ is exactly what nbgrader generates from solutions/ (`make exercises`)."""
import pytest

from backprop_ref.cli import generate_exercises
from backprop_ref.instructor.course import Course
from course_notebooks import EXERCISES, ROOT, SOLUTIONS, notebooks


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    into = tmp_path_factory.mktemp("exercises")
    assert generate_exercises(into=into, course=Course(ROOT)) == 0, "nbgrader could not generate the learner notebooks (see the log above)"
    return into


@pytest.mark.parametrize("path", notebooks(SOLUTIONS), ids=lambda p: str(p.relative_to(SOLUTIONS)))
def test_learner_notebook_is_what_nbgrader_generates(path, regenerated):
    relative = path.relative_to(SOLUTIONS)
    committed = EXERCISES / relative
    assert committed.exists(), f"exercises/{relative} is missing: run `make exercises`"
    assert committed.read_bytes() == (regenerated / relative).read_bytes(), \
        f"exercises/{relative} differs from what nbgrader generates from solutions/{relative}: " \
        f"it was edited by hand or solutions/ changed since; run `make exercises` (never edit exercises/)"


def test_no_learner_notebook_without_a_solution():
    stray = {p.relative_to(EXERCISES) for p in notebooks(EXERCISES)} - {p.relative_to(SOLUTIONS) for p in notebooks(SOLUTIONS)}
    assert not stray, f"exercises/ has notebooks with no source in solutions/: {sorted(map(str, stray))}"
