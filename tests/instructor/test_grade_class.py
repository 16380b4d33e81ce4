"""End to end: `backprop-course grade --workers 2` on a synthetic class (synthetic_class.py), as an instructor
runs it: every student's exact score and reason, reruns that change nothing, a SIGKILL mid-run, no
process left behind, feedback without hidden tests or anything online, and the class report."""
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

import synthetic_class as synthetic

pytestmark = pytest.mark.filterwarnings(r"ignore:Object of type <Submitted\w+> not in session")
ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "backprop_ref.cli"]


class Course:
    """A course in a temporary folder: submissions, autograded notebooks, gradebook, feedback, reports."""

    def __init__(self, root):
        self.root = Path(root)
        self.submitted, self.autograded = self.root / "submitted", self.root / "autograded"
        self.db, self.feedback = self.root / "gradebook.db", self.root / "feedback"

    def run(self, command, *extra, check=True, timeout=900):
        args = COMMAND + [command, *extra, "--course", str(ROOT), "--submitted", str(self.submitted), "--autograded", str(self.autograded),
                          "--db", str(self.db)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        if check:
            assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        return result

    def grade(self, *extra, **kwargs):
        return self.run("grade", synthetic.ASSIGNMENT, "--workers", "2", "--timeout", "5", *extra, **kwargs)

    def scores(self):
        with Gradebook(f"sqlite:///{self.db}") as gb:
            return {s.student.id: s.score for s in gb.find_assignment(synthetic.ASSIGNMENT).submissions}

    def outputs(self, student, grade_id):
        nb = nbformat.read(self.autograded / student / synthetic.ASSIGNMENT / synthetic.NOTEBOOK, as_version=4)
        cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
        return "\n".join(o.get("text", "") + o.get("evalue", "") for c in cells for o in c.get("outputs", []))


def processes_of(root):
    """Processes still running that belong to this class's grading: a sandbox's user, or our command."""
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            uid = entry.stat().st_uid
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if str(root) in command or (uid >= 2_000_000 and "sleep" in command):
            left.append(f"{entry.name}: {command[:120]}")
    return left


@pytest.fixture(scope="module")
def graded(tmp_path_factory, bubblewrap):
    """The synthetic class graded once with two workers, and the command's output."""
    course = Course(tmp_path_factory.mktemp("class"))
    cases = synthetic.students(course.submitted, course.db)
    synthetic.write_class(course.submitted, cases)
    start = time.monotonic()
    result = course.grade()
    course.seconds = time.monotonic() - start
    course.cases, course.first_output = cases, result.stdout
    return course


def test_every_student_gets_the_exact_score_and_reason(graded):
    scores = graded.scores()
    wrong = {s: (scores.get(s), expected) for s, (_, expected, _) in graded.cases.items() if scores.get(s) != expected}
    assert not wrong, f"students scored (got, expected): {wrong}\n{graded.first_output}"
    for student, (_, _, reasons) in graded.cases.items():
        for grade_id, fragment in reasons.items():
            assert fragment in graded.outputs(student, grade_id), f"{student}: {grade_id} does not say {fragment!r}"


def test_a_correct_part_keeps_its_points_beside_a_fatal_one(graded):
    """The parts of a student whose other function hangs, exits or exhausts memory are graded on their own."""
    for student in ("endless_loop", "exit_in_function", "memory_bomb", "syntax_error"):
        outputs = graded.outputs(student, synthetic.GRAD_TEST if student == "endless_loop" else synthetic.DESCENT_TEST)
        assert "1 of 1 parts passed" in outputs, f"{student}: the correct part did not pass:\n{outputs}"


def test_the_gradebook_is_intact_and_no_process_is_left(graded):
    assert sqlite3.connect(graded.db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert processes_of(graded.root) == []


def test_a_rerun_grades_nothing_and_changes_nothing(graded):
    before = graded.scores()
    files = {p: p.stat().st_mtime_ns for p in graded.autograded.glob(f"*/{synthetic.ASSIGNMENT}/*.ipynb")}
    result = graded.grade()
    assert "0 to grade" in result.stdout
    assert graded.scores() == before
    assert {p: p.stat().st_mtime_ns for p in files} == files


def test_a_changed_submission_is_graded_again_and_only_it(graded):
    path = graded.submitted / "blank" / synthetic.ASSIGNMENT / synthetic.NOTEBOOK
    original = path.read_text()
    try:
        path.write_text(synthetic.notebook(descent=synthetic.BLANK_DESCENT))
        result = graded.grade()
        assert "1 to grade" in result.stdout and graded.scores()["blank"] == 2
    finally:
        path.write_text(original)
        graded.grade()
    assert graded.scores()["blank"] == 0


def test_feedback_shows_results_and_hides_the_hidden_tests(graded):
    result = graded.run("feedback", synthetic.ASSIGNMENT, "--feedback", str(graded.feedback))
    pages = {p.parts[-3]: p.read_text() for p in graded.feedback.glob(f"*/{synthetic.ASSIGNMENT}/*.html")}
    assert set(pages) >= {s for s, (text, *_) in graded.cases.items()}, result.stdout
    for student, page in pages.items():
        assert "HIDDEN TESTS" not in page and "hidden=True" not in page, student
        assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page), f"{student}'s feedback loads from the web"
        assert "@import url(http" not in page
        if str(synthetic.ROOT) not in (graded.cases[student][0] or ""):  # unless the student's own code names it
            assert str(synthetic.ROOT) not in page and sys.prefix not in page, f"{student}'s feedback shows the grader's paths"
    assert "the 1/N is missing" in pages["no_mean"]
    assert "not a notebook that Jupyter can open" in pages["invalid_json"]


def test_the_report_has_every_score_and_the_class_summary(graded, tmp_path):
    result = graded.run("report", synthetic.ASSIGNMENT, "--out", str(tmp_path))
    rows = (tmp_path / "grades.csv").read_text().splitlines()
    header, body = rows[0].split(","), [r.split(",") for r in rows[1:]]
    assert header[1].startswith(synthetic.ASSIGNMENT) and any(synthetic.GRAD_TEST in h for h in header)
    got = {r[0]: float(r[1]) for r in body}
    assert got == {s: float(expected) for s, (_, expected, _) in graded.cases.items()}
    summary = (tmp_path / "summary.md").read_text()
    assert "the 1/N is missing" in summary and f"{len(graded.cases)} submissions" in summary
    copies = [line for line in summary.splitlines() if line.startswith("- `gradient_descent`:")]
    assert any("copier" in line and "original" in line for line in copies), summary
    assert summary in result.stdout


def test_sigkill_mid_run_then_rerun_loses_nothing(tmp_path, bubblewrap):
    """Kill `grade` at a random moment mid-run; the rerun finishes, with the scores of an uninterrupted run."""
    course = Course(tmp_path)
    cases = {f"student{i}": (synthetic.notebook() if i % 2 else synthetic.notebook(synthetic.BLANK_GRAD), 4 if i % 2 else 2)
             for i in range(8)}
    synthetic.write_class(course.submitted, {s: (text, score, {}) for s, (text, score) in cases.items()})
    args = COMMAND + ["grade", synthetic.ASSIGNMENT, "--workers", "2", "--submitted", str(course.submitted),
                      "--autograded", str(course.autograded), "--db", str(course.db)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = course.autograded / ".backprop" / "ledger" / synthetic.ASSIGNMENT
    deadline = time.monotonic() + 600
    while len(list(ledger.glob("*.json"))) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "grade finished before it could be killed: the test needs a bigger class"
    recorded = {p.stem: json.loads(p.read_text())["score"] for p in ledger.glob("*.json")}
    process.send_signal(signal.SIGKILL)
    process.wait()
    for _ in range(100):  # the workers and their sandboxes die with it
        if not processes_of(tmp_path):
            break
        time.sleep(0.1)
    assert processes_of(tmp_path) == []
    assert sqlite3.connect(course.db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    scores = course.scores()
    assert all(scores[s] == score for s, score in recorded.items()), "a grade recorded before the kill changed"
    result = course.grade()
    assert "to grade" in result.stdout
    assert course.scores() == {s: score for s, (_, score) in cases.items()}
    assert processes_of(tmp_path) == []


@pytest.mark.parametrize("args, message", [
    (["grade", "99_nothing"], "no assignment '99_nothing'"),
    (["grade", synthetic.ASSIGNMENT, "--workers", "0"], "--workers must be at least 1"),
    (["report", "99_nothing"], "no assignment '99_nothing'"),
    (["feedback", "99_nothing"], "no assignment '99_nothing'"),
])
def test_bad_input_is_one_sentence_and_a_non_zero_status(tmp_path, args, message):
    course = Course(tmp_path)
    course.submitted.mkdir()
    result = course.run(*args, check=False)
    assert result.returncode != 0 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_empty_folder_of_submissions_is_refused(tmp_path):
    course = Course(tmp_path)
    course.submitted.mkdir()
    result = course.run("grade", synthetic.ASSIGNMENT, check=False)
    assert result.returncode != 0 and "no submissions of 01_one_weight" in result.stderr


def test_zip_uploads_are_graded_like_folders(tmp_path, bubblewrap):
    import zipfile

    course = Course(tmp_path)
    course.submitted.mkdir()
    with zipfile.ZipFile(course.submitted / "zoe_01_one_weight.zip", "w") as z:
        z.writestr("01_one_weight/one_weight.ipynb", synthetic.notebook())
        z.writestr("__MACOSX/._one_weight.ipynb", "junk")
    (course.submitted / "yann.zip").write_bytes(b"this is not a zip")
    result = course.grade()
    assert course.scores() == {"zoe": 4.0, "yann": 0.0}, result.stdout
    assert "not a zip file" in result.stdout


def test_grade_records_what_nbgrader_autograde_records(graded, tmp_path):
    """The one writer records, per cell, the auto score, the needs-manual-grade flag and the auto comment that
    nbgrader's own SaveAutoGrades records for the same submissions."""
    import shutil

    from backprop_ref.instructor.course import Course as CourseConfig

    students = ["correct", "no_mean", "blank"]
    for student in students:
        shutil.copytree(graded.submitted / student, tmp_path / "submitted" / student)
    course = CourseConfig(submitted=tmp_path / "submitted", autograded=tmp_path / "autograded", db=tmp_path / "gb.db")
    course.ensure_in_gradebook(synthetic.ASSIGNMENT)
    api = course.api()
    for student in students:
        assert api.autograde(synthetic.ASSIGNMENT, student)["success"]

    def recorded(db):
        with Gradebook(f"sqlite:///{db}") as gb:
            rows = {}
            for student in students:
                notebook = gb.find_submission_notebook("one_weight", synthetic.ASSIGNMENT, student)
                rows.update({(student, g.name): (g.auto_score, g.needs_manual_grade) for g in notebook.grades})
                rows.update({(student, c.name): c.auto_comment for c in notebook.comments})
            return rows

    assert recorded(graded.db) == recorded(tmp_path / "gb.db")
