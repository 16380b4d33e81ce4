"""``backprop-course validate``: nbgrader's validation of notebooks, with an exit status that says how it went.

It runs each notebook on this machine, as Run All would (it is for a learner's own notebook, or an
instructor's; submissions are graded with ``grade``, in the sandbox).
"""
import html
import re
from pathlib import Path

import nbformat

from .course import CourseError


def validate(course, paths, out):
    """Validate each notebook; print PASS or FAIL and why; return the number that failed."""
    from nbgrader.validator import Validator

    if not paths:
        raise CourseError("give the notebooks to validate, e.g. backprop-course validate my-work/01_one_weight/one_weight.ipynb")
    failed = 0
    for path in map(Path, paths):
        problem = _unreadable(path)
        if not problem:
            result = Validator(config=course.config).validate(str(path))
            problem = _describe(result)
        print(f"{'FAIL' if problem else 'PASS'} {path}" + (f"\n{problem}" if problem else ""), file=out)
        failed += bool(problem)
    return failed


def _unreadable(path):
    if not path.is_file():
        return f"  no such file: {path}"
    if path.suffix != ".ipynb":
        return f"  {path.name} is not a notebook (.ipynb)"
    try:
        nbformat.validate(nbformat.read(path, as_version=4))
    except Exception as e:  # not JSON, or not a notebook: say which line
        return f"  {path.name} is not a notebook that Jupyter can open: {str(e).strip().splitlines()[0][:300]}"
    return ""


def _describe(result):
    lines = []
    for cell in result.get("type_changed", []):
        lines.append(f"  a cell was changed from {cell['old_type']} to {cell['new_type']}: {_first_line(cell['source'])}")
    for cell in result.get("changed", []):
        lines.append(f"  a cell you may not edit was edited: {_first_line(cell['source'])}")
    for cell in result.get("failed", []):
        error = html.unescape(re.sub(r"<[^>]+>", "", cell.get("error", ""))).strip()
        lines.append(f"  a test fails: {_first_line(cell['source'])}\n" + "\n".join("    " + l for l in error.splitlines()[-12:]))
    return "\n".join(lines)


def _first_line(source):
    return (source.strip().splitlines() or [""])[0][:120]
