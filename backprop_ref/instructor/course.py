"""The course as nbgrader configures it, for the instructor's commands.

A course folder holds solutions/ (nbgrader's source) and course/: its nbgrader configuration
(course/nbgrader_config.py), the gradebook, the grading key and the collected, autograded and feedback
folders. A clone of the repository is one; so is a copy of those two folders anywhere, graded with the
package installed from its wheel. The commands work on the course folder they are run in (or below),
or the one named with --course: nothing is looked up beside the installed package.
"""
import copy
import os
import sys
import tempfile
from pathlib import Path

from traitlets.config import Config, PyFileConfigLoader

CONFIG = Path("course") / "nbgrader_config.py"  # what makes a folder a course folder


class CourseError(Exception):
    """Bad input to an instructor's command: the message is one sentence that says what to do."""


def find_course(folder=None):
    """The course folder: ``folder`` if given, else the working directory or the nearest folder above it
    that holds course/nbgrader_config.py (as git finds its repository)."""
    if folder is not None:
        folder = Path(folder).expanduser().resolve()
        if not (folder / CONFIG).is_file():
            raise CourseError(f"{folder} is not a course folder: it has no {CONFIG} (a course folder holds "
                              f"solutions/ and course/, as a clone of the course repository does)")
        return folder
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG).is_file():
            return candidate
    raise CourseError(f"there is no course folder in {here} or above it (a folder with solutions/ and {CONFIG}, "
                      f"as a clone of the course repository has): run the command there or name it with --course DIR")


class Course:
    """nbgrader's configuration of a course folder, with a command's overrides, and the paths it names."""

    def __init__(self, folder=None, submitted=None, autograded=None, db=None, feedback=None):
        self.folder = find_course(folder)
        config_file = self.folder / CONFIG
        # nbgrader runs tools (alembic) from PATH: this environment's come first
        os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
        self.config = Config(PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config())
        directory = self.config.CourseDirectory
        for name, value in (("submitted_directory", submitted), ("autograded_directory", autograded),
                            ("feedback_directory", feedback)):
            if value is not None:
                setattr(directory, name, str(Path(value).resolve()))
        if db is not None:
            db = str(db)
            directory.db_url = db if "://" in db else "sqlite:///" + str(Path(db).resolve())
        directory.root = directory.get("root", str(self.folder))  # nbgrader's default is the working directory
        self.root = Path(directory.root)

    def path(self, name):
        """A folder of the course: source, release, submitted, autograded or feedback."""
        default = {"source": "source", "release": "release", "submitted": "submitted", "autograded": "autograded",
                   "feedback": "feedback"}[name]
        return self.root / self.config.CourseDirectory.get(f"{name}_directory", default)

    @property
    def db_url(self):
        return self.config.CourseDirectory.get("db_url", "sqlite:///" + str(self.root / "gradebook.db"))

    def assignments(self):
        source = self.path("source")
        return sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")) if source.is_dir() else []

    def check_assignment(self, assignment):
        if assignment not in self.assignments():
            raise CourseError(f"no assignment {assignment!r} in {self.path('source')}; the assignments are: "
                              f"{', '.join(self.assignments()) or 'none'}")

    def api(self, **directories):
        """nbgrader's Python API on this course (directories: overrides, e.g. release_directory=...)."""
        from nbgrader.apps import NbGraderAPI

        config = copy.deepcopy(self.config)  # overrides apply to this API only
        for name, value in directories.items():
            setattr(config.CourseDirectory, name, value)
        return NbGraderAPI(config=config)

    def ensure_in_gradebook(self, assignment):
        """Put the assignment (its notebooks and cells) in the gradebook if it is not there: a fresh course
        grades. The learner copies are generated into a temporary folder, leaving the release alone."""
        from nbgrader.api import Gradebook, MissingEntry

        if self.db_url.startswith("sqlite:///"):
            Path(self.db_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        with Gradebook(self.db_url) as gb:
            try:
                if gb.find_assignment(assignment).notebooks:
                    return False
            except MissingEntry:
                pass
        with tempfile.TemporaryDirectory() as release:
            result = self.api(release_directory=release).generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise CourseError(f"nbgrader could not put {assignment} in the gradebook: "
                              f"{(result.get('error') or result.get('log', ''))[-500:]}")
        return True
