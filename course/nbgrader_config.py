"""nbgrader's configuration for this course.

nbgrader finds it when run from this folder (`cd course && nbgrader ...`), and JupyterLab's
formgrader finds it through JUPYTER_CONFIG_PATH, which `make lab` (`backprop-course lab`) points here.
The course root is the course folder (this clone, or a copy of its solutions/ and course/ anywhere): solutions/
is nbgrader's source, exercises/ its release.
"""
import os

from nbgrader.preprocessors import NbGraderPreprocessor

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

from backprop_ref.grading import autograde
from backprop_ref.instructor.feedback import OfflineFeedbackExporter


class LetRunAllPassUnwrittenAnswers(NbGraderPreprocessor):
    """Tag the learner copies' graded test cells "raises-exception".

    Until an answer is written its check fails, and JupyterLab's Run All would stop there, leaving
    every widget below it undrawn. With the tag, Run All goes on (grading is unchanged: nbgrader
    scores a test cell by its error output). The solutions never get the tag: it would hide a broken
    answer from nbval.
    """

    def preprocess_cell(self, cell, resources, index):
        nbgrader = cell.metadata.get("nbgrader", {})
        if nbgrader.get("grade") and not nbgrader.get("solution"):
            tags = cell.metadata.setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")
        return cell, resources


here = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "backprop-course"
c.CourseDirectory.root = os.path.dirname(here)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# What instructors collect and grade stays in course/ (and out of git, see .gitignore).
c.CourseDirectory.submitted_directory = "course/submitted"
c.CourseDirectory.autograded_directory = "course/autograded"
c.CourseDirectory.feedback_directory = "course/feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")
# The exchange (release, fetch, submit, collect, feedback) on one machine. nbgrader only lists, fetches and
# submits through a folder that already exists and is writable, and logs "Unwritable directory" otherwise
# (the formgrader at every start): course/exchange/ is kept in git (its .gitignore) so that it exists.
# A class on a hub names its own exchange in BACKPROP_EXCHANGE (deploy/jupyterhub: mode 1777, the course's
# folder in it made by the instructor, so no learner can replace it).
c.Exchange.root = os.environ.get("BACKPROP_EXCHANGE") or os.path.join(here, "exchange")
# Collecting takes only submissions owned by the learner they name, and their times from the kernel
# (backprop_ref/instructor/collect.py): `nbgrader collect`, the formgrader and `backprop-course collect` alike.
c.ExchangeFactory.collect = "backprop_ref.instructor.collect.OwnedCollect"

c.GenerateAssignment.preprocessors.append(LetRunAllPassUnwrittenAnswers)
# Every check finishes in seconds; a cell still running after a minute is a learner's endless loop.
c.Execute.timeout = 60

# Grading takes the trusted path, however it is started (nbgrader autograde, the formgrader's button,
# backprop-course grade): the learner's cells run in a sandbox, the test cells and verdicts in the grader.
c.Autograde.sanitize_preprocessors, c.Autograde.autograde_preprocessors = autograde.pipeline()
c.SandboxedExecute.timeout = 60  # hidden checks' seeds come from grading.key, made beside the gradebook (gitignored)
# A deleted test cell is put back and graded, instead of silently leaving its points ungraded.
c.OverwriteCells.add_missing_cells = True
# Feedback (backprop-course feedback, or the formgrader's button) shows no hidden test and loads nothing online.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests]
c.GenerateFeedback.exporter_class = OfflineFeedbackExporter
