"""``backprop-course feedback``: each student's feedback, as nbgrader makes it, with nothing a learner must not see.

The course configuration (course/nbgrader_config.py) makes nbgrader's generate_feedback, which this
command and the formgrader's button both run, leave out the hidden tests' source (ClearHiddenTests)
and load nothing from the internet: math is turned into MathML when the page is made, the CSS is
inline, and no script comes from a CDN (instructor/offline_math.py). The test cells show the checks'
messages, which carry no traceback and no path of the grader's.
"""
from pathlib import Path

from nbconvert import HTMLExporter

from .course import CourseError
from .offline_math import MATH_FONTS, MathToMathML


class OfflineFeedbackExporter(HTMLExporter):
    """nbgrader's feedback page without the line that loads MathJax from a CDN, math made MathML instead.

    (nbgrader's feedback template replaces nbconvert's whole header, so MathJax is its only script.)"""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.raw_template = _feedback_template()
        self.register_preprocessor(MathToMathML)


def _feedback_template():
    import nbgrader

    path = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates" / "feedback" / "index.html.j2"
    text = path.read_text(encoding="utf-8")
    if "{{ mathjax() }}" not in text:
        raise RuntimeError(f"nbgrader's feedback template ({path}) no longer loads MathJax as this course expects")
    return text.replace("{{ mathjax() }}", f'<style type="text/css">{MATH_FONTS}</style>')


def feedback(course, assignment, out):
    """Generate feedback HTML for every autograded submission of ``assignment``; return the number that failed."""
    course.check_assignment(assignment)
    autograded = course.path("autograded")
    students = sorted(p.parent.name for p in autograded.glob(f"*/{assignment}") if p.is_dir())
    if not students:
        raise CourseError(f"nothing of {assignment} is graded in {autograded}: run backprop-course grade {assignment} first")
    api = course.api()
    failed = 0
    for student in students:
        result = api.generate_feedback(assignment, student, force=True)
        if result["success"]:
            for page in sorted((course.path("feedback") / student / assignment).glob("*.html")):
                print(f"{student:20s} {page}", file=out)
        else:
            failed += 1
            print(f"{student:20s} failed: {(result.get('error') or result.get('log', ''))[-300:]}", file=out)
    return failed
