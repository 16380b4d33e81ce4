"""The nbgrader exchange on one machine, with a temporary exchange folder: the instructor releases lesson 1,
two learners fetch it, answer (one right, one wrong) and submit, the instructor collects and grades with
`backprop-course grade`, releases the feedback, and each learner fetches a page with their own result."""
import json
import subprocess
import sys

import pytest
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.utils import capture_log, temp_attrs

import synthetic_class as synthetic
from backprop_ref.instructor.course import Course

pytestmark = pytest.mark.filterwarnings(r"ignore:Object of type <Submitted\w+> not in session")


def _as_learner(exchange_root, home, student):
    """nbgrader's API as a learner sees it: their own folder, the course's exchange."""
    course = Course(synthetic.ROOT)
    config = course.config
    config.Exchange.root = str(exchange_root)
    config.CourseDirectory.root = config.Exchange.assignment_dir = str(home)
    config.CourseDirectory.student_id = student  # several learners, one Unix user: each her own cache
    config.Exchange.cache = str(home / ".nbgrader-cache")
    return NbGraderAPI(config=config)


def _exchange(api, step, assignment):
    with temp_attrs(api.coursedir, assignment_id=assignment):
        result = capture_log(getattr(api.exchange, step)(coursedir=api.coursedir, authenticator=api.authenticator, parent=api))
    assert result["success"], f"{step} failed:\n{result.get('log', '')}\n{result.get('error', '')}"


def test_release_fetch_submit_collect_grade_and_feedback(tmp_path, bubblewrap):
    exchange, root = tmp_path / "exchange", tmp_path / "course"
    exchange.mkdir()
    course = Course(synthetic.ROOT, submitted=root / "submitted", autograded=root / "autograded", db=root / "gradebook.db",
                    feedback=root / "feedback")
    course.config.Exchange.root = str(exchange)
    course.config.ExchangeCollect.check_owner = False  # the learners are one Unix user here: no ownership rule
    course.ensure_in_gradebook(synthetic.ASSIGNMENT)
    instructor = course.api()
    released = instructor.release_assignment(synthetic.ASSIGNMENT)
    assert released["success"], released.get("log", "") + released.get("error", "")

    answers = {"ada": synthetic.notebook(), "ben": synthetic.notebook(grad=synthetic.WRONG_GRAD)}
    for student, text in answers.items():
        home = tmp_path / student
        home.mkdir()
        learner = _as_learner(exchange, home, student)
        _exchange(learner, "FetchAssignment", synthetic.ASSIGNMENT)
        fetched = home / synthetic.ASSIGNMENT / synthetic.NOTEBOOK
        assert json.loads(fetched.read_text())["cells"], "the fetched notebook is empty"
        fetched.write_text(text)
        _exchange(learner, "Submit", synthetic.ASSIGNMENT)

    collected = instructor.collect(synthetic.ASSIGNMENT)
    assert collected["success"], collected
    assert sorted(p.name for p in (root / "submitted").iterdir()) == ["ada", "ben"]
    grade = subprocess.run([sys.executable, "-m", "backprop_ref.cli", "grade", synthetic.ASSIGNMENT, "--workers", "2",
                            "--submitted", str(root / "submitted"), "--autograded", str(root / "autograded"),
                            "--db", str(root / "gradebook.db")], capture_output=True, text=True, timeout=600)
    assert grade.returncode == 0, grade.stdout + grade.stderr
    with Gradebook(course.db_url) as gb:
        scores = {s.student.id: s.score for s in gb.find_assignment(synthetic.ASSIGNMENT).submissions}
    assert scores == {"ada": 4.0, "ben": 2.0}

    assert instructor.generate_feedback(synthetic.ASSIGNMENT)["success"]
    assert instructor.release_feedback(synthetic.ASSIGNMENT)["success"]
    for student, score in (("ada", "4.0 / 4.0"), ("ben", "2.0 / 4.0")):
        learner = _as_learner(exchange, tmp_path / student, student)
        _exchange(learner, "FetchFeedback", synthetic.ASSIGNMENT)
        pages = list((tmp_path / student / synthetic.ASSIGNMENT / "feedback").rglob("*.html"))
        assert len(pages) == 1, pages
        page = pages[0].read_text()
        assert f"Score: {score}" in page and "HIDDEN TESTS" not in page
        assert ("dw is wrong" in page) == (student == "ben")
