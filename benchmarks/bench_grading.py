"""How long grading a class takes: `backprop-course grade` serial and with 2 workers, beside plain
`nbgrader autograde` (learner code in nbgrader's own kernel, no sandbox), measured in the same run.

    .venv/bin/python benchmarks/bench_grading.py [--students 20] [--nbgrader-students 5] [--markdown FILE]

A synthetic class: three in four students hand in the solutions' answers in the learner copies, the
rest the learner copies untouched. Lesson 1 alone, then the whole course (every lesson). Printed per
submission (one student, one lesson) and per student (the whole course); plain nbgrader grades
``--nbgrader-students`` of the class, because it takes several seconds a notebook (its time per
submission does not depend on how many there are).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def answered(assignment):
    """The learner copy with every answer cell holding the solution's code (markers removed)."""
    release = json.loads(next((ROOT / "exercises" / assignment).glob("*.ipynb")).read_text())
    solution = json.loads(next((ROOT / "solutions" / assignment).glob("*.ipynb")).read_text())
    answers = {c["metadata"]["nbgrader"]["grade_id"]: re.sub(r"\s*### (BEGIN|END) SOLUTION", "", "".join(c["source"]))
               for c in solution["cells"] if c["metadata"].get("nbgrader", {}).get("solution")}
    for cell in release["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return json.dumps(release)


def write_class(submitted, assignments, students):
    for assignment in assignments:
        name = next((ROOT / "exercises" / assignment).glob("*.ipynb")).name
        full, blank = answered(assignment), (ROOT / "exercises" / assignment / name).read_text()
        for k in range(students):
            folder = submitted / f"student{k:02d}" / assignment
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(full if k % 4 else blank)


def grade_with_backprop_course(root, assignments, workers):
    """The whole class, one `grade` per assignment (the gradebook made beforehand, as for nbgrader)."""
    from backprop_ref.instructor.course import Course

    course = Course(ROOT, db=root / f"gradebook-{workers}.db")
    for assignment in assignments:
        course.ensure_in_gradebook(assignment)
    start = time.perf_counter()
    for assignment in assignments:
        subprocess.run([sys.executable, "-m", "backprop_ref.cli", "grade", assignment, "--workers", str(workers),
                        "--submitted", str(root / "submitted"), "--autograded", str(root / f"autograded-{workers}"),
                        "--db", str(root / f"gradebook-{workers}.db")], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def grade_with_nbgrader(root, assignments, students):
    """nbgrader autograde as it comes: its own Execute, in a kernel, as the instructor."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.source_directory = str(ROOT / "solutions")
    config.CourseDirectory.release_directory = str(root / "release")
    config.CourseDirectory.autograded_directory = str(root / "autograded-nbgrader")
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook-nbgrader.db'}"
    config.Execute.timeout = 60
    api = NbGraderAPI(config=config)
    for assignment in assignments:
        assert api.generate_assignment(assignment)["success"], assignment
    start = time.perf_counter()
    for assignment in assignments:
        for k in range(students):
            assert api.autograde(assignment, f"student{k:02d}")["success"], assignment
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--nbgrader-students", type=int, default=5)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]  # nbgrader runs alembic
    import warnings

    warnings.filterwarnings("ignore")
    everything = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
            os.environ[name] = str(Path(tmp) / "home" / name.lower())
        for label, assignments in (("lesson 1", everything[:1]), ("whole course", everything)):
            root = Path(tmp) / label.replace(" ", "-")
            write_class(root / "submitted", assignments, args.students)
            serial = grade_with_backprop_course(root, assignments, 1)
            parallel = grade_with_backprop_course(root, assignments, 2)
            nbgrader = grade_with_nbgrader(root, assignments, args.nbgrader_students)
            per = len(assignments)
            rows.append((label, per, serial / args.students, parallel / args.students, nbgrader / args.nbgrader_students))
            shutil.rmtree(root)
    lines = [f"Grading a synthetic class of {args.students} students ({os.cpu_count()} CPUs; plain nbgrader on "
             f"{args.nbgrader_students} of them). Seconds per student (= per submission for lesson 1).", "",
             "| what | notebooks | grade, 1 worker | grade, 2 workers | speed-up | plain nbgrader autograde | nbgrader / grade (1 worker) |",
             "|---|---|---|---|---|---|---|"]
    for label, per, serial, parallel, nbgrader in rows:
        lines.append(f"| {label} | {per} | {serial:.2f} | {parallel:.2f} | {serial / parallel:.2f}x | {nbgrader:.2f} | "
                     f"{nbgrader / serial:.2f}x |")
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
