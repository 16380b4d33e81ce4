"""nbgrader's configuration for this course.

nbgrader finds it when run from this folder (`cd course && nbgrader ...`), and JupyterLab's
formgrader finds it through JUPYTER_CONFIG_PATH, which `make lab` points here.
The course root is the repository: solutions/ is nbgrader's source, exercises/ its release.
"""
import os

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
c.Exchange.root = os.path.join(here, "exchange")  # a shared folder on a multi-user hub

# Every check finishes in seconds; a cell still running after a minute is a learner's endless loop.
c.Execute.timeout = 60
# A deleted test cell is put back and graded, instead of silently leaving its points ungraded.
c.OverwriteCells.add_missing_cells = True
