"""The `backprop-course` command: for learners (`lab`, `workspace`, `exercises`) and instructors (`build`,
`validate`, `collect`, `grade`, `feedback`, `report`). Bad input ends it with one sentence and a non-zero status.

The instructor's commands work on a course folder (solutions/ and course/, see instructor/course.py): the
one they are run in, or --course DIR, wherever the package is installed from.

Where the lessons come from: in a clone of the course repository, `exercises/` (generated from `solutions/`)
and the syllabus `course/index.ipynb`; in a package installed with pip, the copies of both that the wheel
carries in `backprop_ref/lessons/` (setup.py puts them there; `solutions/` is never in a package).
"""
import argparse
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
COURSE_DIR = ROOT / "course"
PACKAGED_LESSONS = Path(__file__).resolve().parent / "lessons"
SYLLABUS = "syllabus.ipynb"  # the syllabus in a work folder, its links relative to that folder
SYLLABUS_LINKS = "../my-work/"  # how course/index.ipynb links the lessons (from course/ into my-work/)
# What the lessons need in JupyterLab: the package's dependencies, so a broken environment only lacks them.
LAB_PACKAGES = ("jupyterlab", "ipywidgets", "matplotlib")
COURSE_EXTRA = "pip install 'backprop-course[course]'"  # the instructor's side: nbgrader
SIGPIPE_STATUS = 141  # 128 + SIGPIPE, the status a shell reports for `yes | head`


class UsageError(Exception):
    """Bad input or a missing piece: the message is one sentence that says what to do."""


def in_a_clone(root=None):
    """True in a clone of the course repository (its exercises/ beside the package), False when installed."""
    root = ROOT if root is None else Path(root)
    return (root / "pyproject.toml").is_file() and (root / "exercises").is_dir()


def lessons(root=None):
    """(folder of the learner notebooks, the syllabus): exercises/ and course/index.ipynb in a clone,
    the package's copies of them when installed with pip."""
    root = ROOT if root is None else Path(root)
    if in_a_clone(root):
        return root / "exercises", root / "course" / "index.ipynb"
    return PACKAGED_LESSONS, PACKAGED_LESSONS / "index.ipynb"


def default_work_folder(root=None):
    """my-work/ beside exercises/ in a clone; my-work/ in the current folder when installed with pip."""
    root = ROOT if root is None else Path(root)
    return root / "my-work" if in_a_clone(root) else Path.cwd() / "my-work"


def main(argv=None):
    """Run the command; a reader that stops early (`backprop-course exercises | head`) ends it quietly."""
    try:
        status = _main(argv)
        sys.stdout.flush()  # here, so that a closed pipe is seen now and not at exit
        return status
    except BrokenPipeError:
        # Python's recipe: nothing more can reach the reader; send what is left to /dev/null, so that
        # the flush at exit does not fail again, and end as a program killed by SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return SIGPIPE_STATUS


def _main(argv):
    # jsonschema (under nbformat) builds an IRI grammar at import, 2.5 s of every command, for a format
    # that no notebook uses: without the module, it skips that check.
    sys.modules.setdefault("rfc3987_syntax", None)
    parser = argparse.ArgumentParser(prog="backprop-course", description="backprop-course: tools for learners and instructors")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("exercises", help="list every graded exercise: id, points, signature")
    folder_help = "your work folder (default: my-work/ beside exercises/ in a clone, ./my-work when installed with pip)"
    lab = commands.add_parser(
        "lab", help="copy the lessons you do not have yet into your work folder and open the syllabus in JupyterLab",
        description="Copy the lessons you do not have yet into your work folder (never overwriting one: it holds "
                    "your answers), then start JupyterLab there on the syllabus. Any other option goes to "
                    "`jupyter lab` (e.g. --no-browser, --port=8890).")
    lab.add_argument("folder", nargs="?", type=Path, help=folder_help)
    lab.add_argument("--print-command", action="store_true",
                     help="copy the lessons, then print the JupyterLab command instead of running it")
    workspace = commands.add_parser("workspace", help="copy the lessons you do not have yet into your work folder")
    workspace.add_argument("folder", nargs="?", type=Path, help=folder_help)

    build = commands.add_parser("build", aliases=["generate"], help="regenerate the learner notebooks (exercises/) from solutions/")
    build.add_argument("assignments", nargs="*", help="assignment folders under solutions/ (default: all)")
    build.add_argument("--into", type=Path, help="write the learner notebooks here instead of exercises/")
    _course_folder_option(build)
    validate = commands.add_parser("validate", help="run notebooks as nbgrader validates them; non-zero status if one fails")
    validate.add_argument("notebooks", nargs="+", help="notebook files")
    _course_folder_option(validate)
    collect = commands.add_parser("collect", help="collect an assignment's submissions from nbgrader's exchange, "
                                                 "refusing any not owned by the learner it names")
    collect.add_argument("assignment")
    _course_options(collect)
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
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.jupyter_args = extra
    try:
        return _run(args)
    except _errors() as e:
        print(f"backprop-course {args.command}: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        if (e.name or "").partition(".")[0] == "backprop_ref":
            raise
        print(f"backprop-course {args.command}: it needs the Python package {e.name}, which this Python ({sys.executable}) "
              f"does not have: {COURSE_EXTRA}", file=sys.stderr)
        return 2


def _course_folder_option(parser):
    parser.add_argument("--course", type=Path, metavar="DIR",
                        help="the course folder, with solutions/ and course/ (default: the one the command is run in)")


def _course_options(parser):
    _course_folder_option(parser)
    parser.add_argument("--submitted", type=Path, metavar="DIR", help="the submissions: <DIR>/<student>/<assignment>/*.ipynb, or zip files")
    parser.add_argument("--autograded", type=Path, metavar="DIR", help="where the autograded notebooks go")
    parser.add_argument("--db", metavar="URL", help="the gradebook: a database URL or a SQLite file (default: the course's)")


def _errors():
    """The exceptions that mean bad input (their message is the sentence to print); the instructor's come
    with nbgrader, which a learner's installation may not have."""
    errors = [UsageError]
    for module, name in ((".instructor.course", "CourseError"), (".sandbox.bubblewrap", "SandboxUnavailable")):
        try:
            errors.append(getattr(importlib.import_module(module, __package__), name))
        except ImportError:
            pass
    return tuple(errors)


def _run(args):
    if args.command == "exercises":
        from .grading import list_exercises

        print(list_exercises())
        return 0
    if args.command in ("workspace", "lab"):
        folder = Path(args.folder) if args.folder is not None else default_work_folder()
        root, syllabus = setup_workspace(folder, sys.stdout)
        if args.command == "workspace":
            return 0
        return open_lab(root, syllabus, args.jupyter_args, print_only=args.print_command)
    from .instructor.course import Course

    if args.command in ("build", "generate"):
        course = Course(args.course)
        if not course.path("source").is_dir():
            raise UsageError(f"it regenerates the learner notebooks from the instructor's, and there is no "
                             f"{course.path('source')}")
        return generate_exercises(args.assignments, args.into, course)
    if args.command == "validate":
        from .instructor.validate import validate

        return 1 if validate(Course(args.course), args.notebooks, sys.stdout) else 0
    course = Course(args.course, submitted=args.submitted, autograded=args.autograded, db=args.db,
                    feedback=getattr(args, "feedback", None))
    if args.command == "collect":
        from .instructor.collect import collect

        return 1 if collect(course, args.assignment, sys.stdout) else 0
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


def make_workspace(folder, exercises=None):
    """Copy each learner notebook that is not yet in ``folder``; never touch one that is (it holds your answers).

    Learners work in their own copies, so updating the course (git pull, make exercises, pip install -U)
    never overwrites an answer. Returns the notebooks copied.
    exercises: where the learner notebooks are (default: this installation's, see lessons()).
    """
    exercises = Path(exercises) if exercises is not None else lessons()[0]
    sources = sorted(exercises.glob("*/*.ipynb"))
    if not sources:
        raise UsageError(f"there are no lessons in {exercises}: "
                         + ("run `make exercises`" if in_a_clone() else "reinstall the package (pip install --force-reinstall backprop-course)"))
    copied = []
    for source in sources:
        target = Path(folder) / source.relative_to(exercises)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            copied.append(target)
    return copied


def syllabus_for(folder, syllabus):
    """The syllabus as a notebook whose links open the lessons in ``folder`` (from ``folder``/syllabus.ipynb)."""
    nb = json.loads(Path(syllabus).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = source.replace(f"]({SYLLABUS_LINKS}", "](")
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def setup_workspace(folder, out):
    """Copy the lessons not yet in ``folder`` (make_workspace) and find the syllabus that links them.

    In a clone with the usual folder (my-work/ beside exercises/) that is course/index.ipynb, and JupyterLab's
    root is the repository (the formgrader needs the course under it); anywhere else the syllabus is written
    into the folder as syllabus.ipynb (once: a copy the learner changed is kept) and the folder is the root.
    Returns (JupyterLab's root folder, the syllabus); prints what it did to ``out``.
    """
    folder = Path(folder).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a folder for your lessons")
    exercises, syllabus = lessons()
    copied = make_workspace(folder, exercises)
    for path in copied:
        print(f"new: {path}", file=out)
    total = len(list(exercises.glob("*/*.ipynb")))
    if not copied:
        print(f"all {total} lessons are already in {folder} (your copies: they are never overwritten)", file=out)
    if in_a_clone() and folder == (ROOT / "my-work").resolve():
        return ROOT, syllabus
    text, target = syllabus_for(folder, syllabus), folder / SYLLABUS
    if not target.exists():
        target.write_text(text, encoding="utf-8")
        print(f"new: {target}", file=out)
    elif target.read_text(encoding="utf-8") != text:
        print(f"kept your {target} (this version of the course has another syllabus: delete yours to get it)", file=out)
    return folder, target


def lab_command(root, syllabus, jupyter_args=()):
    """The `jupyter lab` command that serves ``root`` and opens ``syllabus``: its printed URL (the one to open on
    a machine without a browser) is the syllabus's, not the Lab's home."""
    page = "/lab/tree/" + quote(Path(syllabus).resolve().relative_to(Path(root).resolve()).as_posix())
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}", f"--LabApp.default_url={page}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in jupyter_args:
        command.append("--allow-root")  # containers and CI machines often run as root; Jupyter refuses it unless told
    return command + list(jupyter_args)


def open_lab(root, syllabus, jupyter_args=(), print_only=False):
    """Start JupyterLab on the syllabus (or, print_only, print the command); returns its exit status."""
    command = lab_command(root, syllabus, jupyter_args)
    env = dict(os.environ)
    # nbgrader runs tools (alembic) from PATH: this environment's come first.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    course_config = COURSE_DIR / "nbgrader_config.py"
    if course_config.is_file() and Path(root).resolve() == ROOT.resolve():
        # The formgrader (Nbgrader > Formgrader) reads the course's nbgrader configuration from here.
        paths = [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
        if str(COURSE_DIR) not in paths:
            env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(COURSE_DIR)] + paths)
    if print_only:
        print(subprocess.list2cmdline(command) if os.name == "nt" else shlex.join(command))
        return 0
    missing = [name for name in LAB_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"the lessons need {', '.join(missing)}, which this Python ({sys.executable}) does not have: "
                         + ("run `make venv`" if in_a_clone() else "pip install --force-reinstall backprop-course"))
    print(f"opening {syllabus} in JupyterLab (Ctrl-C twice stops it)", flush=True)
    if os.name == "posix":
        os.execve(sys.executable, command, env)  # Jupyter takes this process over: Ctrl-C and signals go to it
    return subprocess.call(command, env=env)


def generate_exercises(assignments=(), into=None, course=None):
    """Run nbgrader generate_assignment for each assignment of ``course`` (default: the course folder this
    is run in); return 0 if all succeeded, else 1.

    into: a folder for the learner notebooks (the sync test generates into a temporary one);
    the gradebook then goes there too, so the course's own gradebook is left alone.
    """
    from .instructor.course import Course

    course = course if course is not None else Course()
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
