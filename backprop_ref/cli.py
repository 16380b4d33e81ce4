"""The `backprop-course` command: for learners (`exercises`, `workspace`) and instructors (`build`, `validate`,
`grade`, `feedback`, `report`). Bad input ends it with one sentence and a non-zero status."""
import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COURSE_DIR = ROOT / "course"


def main(argv=None):
    # jsonschema (under nbformat) builds an IRI grammar at import, 2.5 s of every command, for a format
    # that no notebook uses: without the module, it skips that check.
    sys.modules.setdefault("rfc3987_syntax", None)
    parser = argparse.ArgumentParser(prog="backprop-course", description="backprop-course: tools for learners and instructors")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("exercises", help="list every graded exercise: id, points, signature")
    workspace = commands.add_parser("workspace", help="copy the learner notebooks you do not have yet into your work folder")
    workspace.add_argument("folder", nargs="?", type=Path, default=ROOT / "my-work", help="default: my-work/ beside exercises/")

    build = commands.add_parser("build", aliases=["generate"], help="regenerate the learner notebooks (exercises/) from solutions/")
    build.add_argument("assignments", nargs="*", help="assignment folders under solutions/ (default: all)")
    build.add_argument("--into", type=Path, help="write the learner notebooks here instead of exercises/")
    validate = commands.add_parser("validate", help="run notebooks as nbgrader validates them; non-zero status if one fails")
    validate.add_argument("notebooks", nargs="+", help="notebook files")
    grade = commands.add_parser("grade", help="grade every submission of an assignment, learner code sandboxed, into the gradebook")
    grade.add_argument("assignment")
    _course_options(grade)
    grade.add_argument("--workers", type=int, help="submissions graded at once (default: the number of CPUs)")
    grade.add_argument("--timeout", type=float, help="seconds a cell of a learner's code may run (default: the course's, 60)")
    grade.add_argument("--memory", type=int, metavar="MB", help="memory of each process in the sandbox (default 2048)")
    grade.add_argument("--force", action="store_true", help="grade again what is already graded and unchanged")
    feedback = commands.add_parser("feedback", help="per-student feedback HTML: results and messages, no hidden tests, nothing online")
    feedback.add_argument("assignment")
    _course_options(feedback)
    feedback.add_argument("--feedback", type=Path, metavar="DIR", help="where the HTML goes (default: the course's feedback folder)")
    report = commands.add_parser("report", help="a CSV of every score and a summary of the class")
    report.add_argument("assignment", nargs="?", help="one assignment (default: all in the gradebook)")
    _course_options(report)
    report.add_argument("--out", type=Path, help="folder for grades.csv and summary.md (default: the course folder)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except _errors() as e:
        print(f"backprop-course {args.command}: {e}", file=sys.stderr)
        return 2


def _course_options(parser):
    parser.add_argument("--submitted", type=Path, metavar="DIR", help="the submissions: <DIR>/<student>/<assignment>/*.ipynb, or zip files")
    parser.add_argument("--autograded", type=Path, metavar="DIR", help="where the autograded notebooks go")
    parser.add_argument("--db", metavar="URL", help="the gradebook: a database URL or a SQLite file (default: the course's)")


def _errors():
    from .instructor.course import CourseError
    from .sandbox.bubblewrap import SandboxUnavailable

    return (CourseError, SandboxUnavailable)


def _run(args):
    if args.command == "exercises":
        from .grading import list_exercises

        print(list_exercises())
        return 0
    if args.command == "workspace":
        for path in make_workspace(args.folder):
            print(f"new: {path}")
        return 0
    if args.command in ("build", "generate"):
        return generate_exercises(args.assignments, args.into)
    from .instructor.course import Course

    if args.command == "validate":
        from .instructor.validate import validate

        return 1 if validate(Course(), args.notebooks, sys.stdout) else 0
    course = Course(submitted=args.submitted, autograded=args.autograded, db=args.db,
                    feedback=getattr(args, "feedback", None))
    if args.command == "grade":
        from .instructor.grade import grade

        if args.workers is not None and args.workers < 1:
            raise _errors()[0](f"--workers must be at least 1, got {args.workers}")
        return 1 if grade(course, args.assignment, workers=args.workers, timeout=args.timeout, memory_mb=args.memory,
                          force=args.force) else 0
    if args.command == "feedback":
        from .instructor.feedback import feedback

        return 1 if feedback(course, args.assignment, sys.stdout) else 0
    from .instructor.report import report

    return report(course, args.assignment, args.out, sys.stdout)


def make_workspace(folder, exercises=ROOT / "exercises"):
    """Copy each learner notebook that is not yet in ``folder``; never touch one that is (it holds your answers).

    Learners work in their own copies, so updating the course (git pull, make exercises) never
    overwrites an answer. Returns the notebooks copied.
    """
    copied = []
    for source in sorted(exercises.glob("*/*.ipynb")):
        target = Path(folder) / source.relative_to(exercises)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            copied.append(target)
    return copied


def generate_exercises(assignments=(), into=None, course_dir=COURSE_DIR):
    """Run nbgrader generate_assignment for each assignment; return 0 if all succeeded, else 1.

    into: a folder for the learner notebooks (the sync test generates into a temporary one);
    the gradebook then goes there too, so the course's own gradebook is left alone.
    """
    from .instructor.course import Course

    course = Course(course_dir)
    directories = {}
    if into is not None:
        into = Path(into).resolve()
        into.mkdir(parents=True, exist_ok=True)
        directories = {"release_directory": str(into), "db_url": "sqlite:///" + str(into / "gradebook.db")}
    names = list(assignments) or course.assignments()
    api = course.api(**directories)
    failed = []
    for name in names:
        if name not in course.assignments():
            print(f"no assignment {name!r} in {course.path('source')}; the assignments are: {', '.join(course.assignments())}",
                  file=sys.stderr)
            failed.append(name)
            continue
        result = api.generate_assignment(name, force=True, create=True)
        if result["success"]:
            print(f"generated {name}")
        else:
            print(f"nbgrader could not generate {name}:\n{result.get('log', '')}\n{result.get('error', '')}", file=sys.stderr)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
