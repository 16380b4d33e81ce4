"""Everything about the package is in pyproject.toml but this: a wheel carries the lessons.

A learner who installs with pip (no clone) gets the learner notebooks of exercises/ and the syllabus
(course/index.ipynb) inside the package, in backprop_ref/lessons/, copied there when the wheel is built,
so that `backprop-course lab` has lessons to copy. exercises/ stays their one source (generated from
solutions/ by `make exercises`); the instructor's notebooks (solutions/: answers, hidden tests) never go in.
An editable install (`make venv`) copies nothing: in a clone the commands read exercises/ itself.
"""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
LESSONS = Path("backprop_ref") / "lessons"  # in the package, as backprop_ref/cli.py's PACKAGED_LESSONS reads them


def lesson_files():
    """[(source, path in the package)]: every learner notebook of exercises/, and the syllabus."""
    notebooks = sorted((HERE / "exercises").glob("*/*.ipynb"))
    if not notebooks:
        raise SystemExit(f"no learner notebooks in {HERE / 'exercises'} (run `make exercises`): "
                         "a package without them would give learners no lessons")
    files = [(path, LESSONS / path.relative_to(HERE / "exercises")) for path in notebooks]
    return files + [(HERE / "course" / "index.ipynb", LESSONS / "index.ipynb")]


class BuildPyWithLessons(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        for source, target in lesson_files():
            destination = Path(self.build_lib) / target
            self.mkpath(str(destination.parent))
            self.copy_file(str(source), str(destination), preserve_mode=False)


setup(cmdclass={"build_py": BuildPyWithLessons})
