"""The `backprop-course` command: for learners (`exercises`) and instructors (`generate`)."""
import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COURSE_DIR = ROOT / "course"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="backprop-course", description="backprop-course: tools for learners and instructors")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("exercises", help="list every graded exercise: id, points, signature")
    generate = commands.add_parser("generate", help="generate the learner notebooks (exercises/) from solutions/ with nbgrader")
    generate.add_argument("assignments", nargs="*", help="assignment folders under solutions/ (default: all)")
    generate.add_argument("--into", type=Path, help="write the learner notebooks here instead of exercises/")
    workspace = commands.add_parser("workspace", help="copy the learner notebooks you do not have yet into your work folder")
    workspace.add_argument("folder", nargs="?", type=Path, default=ROOT / "my-work", help="default: my-work/ beside exercises/")
    args = parser.parse_args(argv)
    if args.command == "exercises":
        from .grading import list_exercises

        print(list_exercises())
    elif args.command == "generate":
        return generate_exercises(args.assignments, args.into)
    elif args.command == "workspace":
        for path in make_workspace(args.folder):
            print(f"new: {path}")
    return 0


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
    # nbgrader runs `alembic` from PATH to create the gradebook: use this environment's.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config, PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    root = Path(config.CourseDirectory.root)
    if into is not None:
        into = Path(into).resolve()
        into.mkdir(parents=True, exist_ok=True)
        config.CourseDirectory.release_directory = str(into)
        config.CourseDirectory.db_url = "sqlite:///" + str(into / "gradebook.db")
    source = root / config.CourseDirectory.source_directory
    names = list(assignments) or sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    api = NbGraderAPI(config=Config(config))
    failed = []
    for name in names:
        if not (source / name).is_dir():
            print(f"no assignment {name!r} in {source}; the assignments are: {', '.join(sorted(p.name for p in source.iterdir() if p.is_dir()))}", file=sys.stderr)
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
