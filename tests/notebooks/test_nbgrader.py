"""nbgrader's own view: every solution validates, and `nbgrader autograde` with the course's configuration
(the trusted path: learner cells in the sandbox, verdicts in the grader) gives full marks to the solutions
and zero (without crashing) to an untouched learner copy. (How long grading takes per notebook is
measured by benchmarks/bench_grading.py, not asserted here: these machines are shared and noisy.)"""
import json
import os
import shutil
import sys

import pytest
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.validator import Validator

from backprop_ref.instructor.course import Course
from course_notebooks import EXERCISES, ROOT, SOLUTIONS, assignment_of, notebooks

# nbgrader 0.9 with SQLAlchemy 2.1 warns on every autograde (the scores are still right); the suite
# turns RuntimeWarnings, which SAWarning is, into errors.
pytestmark = pytest.mark.filterwarnings(r"ignore:Object of type <Submitted\w+> not in session")

# The first and the heaviest lesson in every run, all of them in the slow group: nbval already runs every
# solution top to bottom in every run, and grading the solutions (below) is what validate predicts.
QUICK = {"01_one_weight", "07_ocr"}


def quick_or_slow(values, assignment):
    return [pytest.param(v, marks=() if assignment(v) in QUICK else pytest.mark.slow) for v in values]


@pytest.mark.parametrize("path", quick_or_slow(notebooks(SOLUTIONS), assignment_of),
                         ids=lambda p: str(p.relative_to(SOLUTIONS)))
def test_solution_passes_nbgrader_validate(path, tmp_path):
    shutil.copy(path, tmp_path / path.name)  # validate executes in the notebook's folder
    result = Validator().validate(str(tmp_path / path.name))
    assert not result.get("failed") and not result.get("type_changed"), \
        f"nbgrader validate says {path.relative_to(SOLUTIONS)} fails: " + "\n---\n".join(
            f"{c.get('source', '')[:300]}\n{c.get('error', '')[-800:]}" for c in result.get("failed", []))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course in a temporary folder: solutions/ as source, alice submits the solutions, bob the learner copies."""
    patch = pytest.MonkeyPatch()
    patch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])  # nbgrader runs alembic
    root = tmp_path_factory.mktemp("course")
    config = Course(ROOT).config  # the course's own nbgrader configuration, folders moved into root
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.source_directory = str(SOLUTIONS)
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    for name in ("release", "submitted", "autograded", "feedback"):
        setattr(config.CourseDirectory, f"{name}_directory", name)
    api = NbGraderAPI(config=config)
    for student, folder in (("alice", SOLUTIONS), ("bob", EXERCISES)):
        for path in notebooks(folder):
            target = root / "submitted" / student / assignment_of(path)
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target / path.name)
    for assignment in sorted({assignment_of(p) for p in notebooks(SOLUTIONS)}):
        result = api.generate_assignment(assignment)
        assert result["success"], result.get("log", "") + result.get("error", "")
    yield api, root
    patch.undo()


# Autograde takes ~10 s a lesson: QUICK's in every run, all of them in the slow group.
ASSIGNMENTS = quick_or_slow(sorted({assignment_of(p) for p in notebooks(SOLUTIONS)}), lambda a: a)


@pytest.mark.parametrize("student, full_marks", [("alice", True), ("bob", False)])
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_autograde(course, assignment, student, full_marks):
    api, root = course
    result = api.autograde(assignment, student)
    assert result["success"], f"autograde of {student}'s {assignment} failed:\n{result.get('log', '')[-3000:]}\n{result.get('error', '')}"
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        score, max_score = submission.score, submission.max_score
    assert max_score > 0
    if full_marks:
        assert score == max_score, f"the solution of {assignment} scored {score} of {max_score} under autograde"
    else:
        assert score == 0, f"an untouched learner copy of {assignment} scored {score} of {max_score}"


def test_plain_nbgrader_autograde_takes_the_trusted_path(course):
    """`nbgrader autograde` itself, with the course's configuration: the cheat that once scored a blank
    notebook 4/4 (an IPython hook turning every later cell into `pass`) scores 0, and says why."""
    api, root = course
    cheat = json.loads((EXERCISES / "01_one_weight" / "one_weight.ipynb").read_text())
    answer = next(c for c in cheat["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "one_weight_grad")
    answer["source"] += "\nget_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"
    target = root / "submitted" / "mallory" / "01_one_weight"
    target.mkdir(parents=True)
    (target / "one_weight.ipynb").write_text(json.dumps(cheat))
    result = api.autograde("01_one_weight", "mallory")
    assert result["success"], result.get("log", "")[-3000:]
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission("01_one_weight", "mallory").score == 0
    graded = (root / "autograded" / "mallory" / "01_one_weight" / "one_weight.ipynb").read_text()
    assert "is not written yet" in graded
