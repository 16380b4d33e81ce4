"""``backprop-course report``: every score as a CSV, and what the class got wrong.

- ``grades.csv``: a row per student; a column per assignment (its total) and per part (a test cell).
- ``summary.md``: per assignment, the score distribution, the parts most often failed, the named
  mistakes the checks reported most often ("Likely cause: ..." in the autograded notebooks), and the
  answers that are near-copies of each other or of the reference (similarity.near_copies).
Scores come from the gradebook (manual grades included); the rest from the autograded notebooks.
"""
import collections
import csv
import re
import statistics
from pathlib import Path

import nbformat

from . import similarity
from .course import CourseError

_CAUSE = re.compile(r"Likely cause: (.+)")


def report(course, assignment, out_dir, out):
    """Write grades.csv and summary.md into ``out_dir`` (default: reports/ beside the gradebook); print the summary."""
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gb:
        graded = [a.name for a in gb.assignments if a.submissions]
        if assignment is not None:
            if assignment not in {a.name for a in gb.assignments}:
                raise CourseError(f"the gradebook has no assignment {assignment!r}; it has: {', '.join(graded) or 'none'}")
            graded = [assignment]
        if not graded:
            raise CourseError(f"nothing is graded yet in {course.db_url}: run backprop-course grade ASSIGNMENT first")
        students = sorted(s.id for s in gb.students)
        scores, parts = {}, {}  # (student, assignment) -> (score, max); assignment -> [(notebook, part, points)]
        part_scores = {}  # (student, assignment, notebook, part) -> score
        for name in graded:
            parts[name] = [(nb.name, cell.name, cell.max_score) for nb in gb.find_assignment(name).notebooks
                           for cell in sorted(nb.grade_cells, key=lambda c: c.name)]
            for submission in gb.find_assignment(name).submissions:
                scores[submission.student.id, name] = (submission.score, submission.max_score)
                for notebook in submission.notebooks:
                    for g in notebook.grades:
                        part_scores[submission.student.id, name, notebook.name, g.name] = g.score
    out_dir = Path(out_dir) if out_dir else _default_folder(course)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(out_dir / "grades.csv", students, graded, parts, scores, part_scores)
    summary = "\n".join(_summary(course, name, students, parts[name], scores, part_scores) for name in graded)
    (out_dir / "summary.md").write_text(summary, encoding="utf-8")
    print(summary, file=out)
    print(f"wrote {out_dir / 'grades.csv'} ({len(students)} students, {len(graded)} assignments) and {out_dir / 'summary.md'}",
          file=out)
    return 0


def _default_folder(course):
    url = course.db_url
    return (Path(url[len("sqlite:///"):]).parent if url.startswith("sqlite:///") else Path.cwd()) / "reports"


def _write_csv(path, students, graded, parts, scores, part_scores):
    header = ["student"]
    for name in graded:
        header += [f"{name} (of {_points(parts[name]):g})"] + [f"{name}/{part} (of {points:g})" for _, part, points in parts[name]]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for student in students:
            row = [student]
            for name in graded:
                total = scores.get((student, name))
                row.append("" if total is None else f"{total[0]:g}")
                row += ["" if total is None else f"{part_scores.get((student, name, nb, part), 0):g}" for nb, part, _ in parts[name]]
            writer.writerow(row)


def _points(parts):
    return sum(points for *_, points in parts)


def _summary(course, name, students, parts, scores, part_scores):
    submitted = [s for s in students if (s, name) in scores]
    totals = [scores[s, name][0] for s in submitted]
    most = _points(parts)
    lines = [f"## {name}", "", f"{len(submitted)} submissions of {len(students)} students; "
             f"mean {statistics.mean(totals):.2f} / {most:g}, median {statistics.median(totals):g}", "",
             "| score | students |", "|---|---|"]
    for low, high, count in _histogram(totals, most):
        lines.append(f"| {low:g} to {high:g} | {'#' * count} {count} |")
    failing = sorted(((sum(part_scores.get((s, name, nb, part), 0) < points for s in submitted), part, points)
                      for nb, part, points in parts), reverse=True)
    lines += ["", "Parts most often failed:", ""]
    lines += [f"- `{part}` ({points:g} points): failed by {count} of {len(submitted)}" for count, part, points in failing[:5] if count]
    causes, answers, references, stubs = _read_autograded(course, name, submitted)
    lines += ["", "Most common named mistakes:", ""]
    lines += [f"- {count} x {cause}" for cause, count in causes.most_common(8)] or ["- none named"]
    lines += ["", "Near-copies (normalised code, answers long enough to tell):", ""]
    copies = []
    for exercise, by_student in sorted(answers.items()):
        for a, b, ratio in similarity.near_copies(by_student, reference=references.get(exercise), stub=stubs.get(exercise)):
            copies.append(f"- `{exercise}`: {a} and {b} ({ratio:.0%} alike)")
    lines += copies or ["- none"]
    return "\n".join(lines) + "\n"


def _histogram(totals, most, bins=5):
    width = most / bins if most else 1
    counts = collections.Counter(min(int(t // width), bins - 1) for t in totals)
    return [(k * width, (k + 1) * width, counts[k]) for k in range(bins)]


def _read_autograded(course, name, students):
    """The named mistakes of the failed test cells, each student's answer cells, the reference's, the stubs."""
    causes, answers = collections.Counter(), collections.defaultdict(dict)
    references, stubs = {}, {}
    for path in sorted((course.path("source") / name).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and cell.cell_type == "code":
                references[meta["grade_id"]] = re.sub(r"\s*### (BEGIN|END) SOLUTION", "", cell.source)
    for student in students:
        for path in sorted((course.path("autograded") / student / name).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            if nb.metadata.get("backprop_placeholder"):
                continue
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("solution") and cell.cell_type == "code":
                    answers[meta["grade_id"]][student] = cell.source
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        causes.update(set(_CAUSE.findall(output.get("evalue", ""))))
    for exercise in answers:
        stubs[exercise] = _stub(course, name, exercise)
    return causes, answers, references, stubs


def _stub(course, name, exercise):
    """The answer cell as learners got it (the release version, from the gradebook)."""
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gb:
        for nb in gb.find_assignment(name).notebooks:
            for cell in nb.source_cells:
                if cell.name == exercise:
                    return cell.source
    return None
