"""The syllabus (course/README.md and course/index.ipynb) lists every lesson in order, with its time and points,
links the learner's own copies (my-work/, never the generated exercises/), and names the functions each
lesson has the learner write in the order the lesson asks for them."""
import ast
import re

import pytest

from course_notebooks import COURSE, SOLUTIONS, is_answer_cell, is_test_cell, nbgrader, notebooks, read

ROW = re.compile(r"^\| *(\d+) *\| *\[([^\]]+)\]\(([^)]+)\) *\| *(\d+) min *\| *(\d+) *\|", re.MULTILINE)
# A lesson's row, its last column: "You write", backquoted function names.
YOU_WRITE = re.compile(r"^\| *(\d+) *\| *\[[^\]]+\]\([^)]+\) *\|[^|\n]*\|[^|\n]*\| *([^|\n]*?) *\| *$", re.MULTILINE)
TOTAL = re.compile(r"^\| *\| *\*\*Part (\d+)\*\* *\| *\*\*(\d+) min\*\* *\| *\*\*(\d+)\*\* *\|", re.MULTILINE)


def points_of(path):
    return sum(nbgrader(c)["points"] for c in read(path).cells if is_test_cell(c))


def syllabus_texts():
    yield "course/README.md", (COURSE / "README.md").read_text(), "../my-work/"
    index = read(COURSE / "index.ipynb")
    yield "course/index.ipynb", "\n".join(c.source for c in index.cells if c.cell_type == "markdown"), "../my-work/"


@pytest.mark.parametrize("name, text, folder", list(syllabus_texts()), ids=["README", "index"])
def test_syllabus_links_every_lesson_in_order_with_its_points(name, text, folder):
    rows = ROW.findall(text)
    lessons = notebooks(SOLUTIONS)
    assert [link for _, _, link, _, _ in rows] == [f"{folder}{p.relative_to(SOLUTIONS)}" for p in lessons], f"{name}: the lesson table must link every lesson, in order, into {folder}"
    for (number, title, link, minutes, points), path in zip(rows, lessons):
        assert int(number) == int(path.parent.name[:2]), f"{name}: {title} is numbered {number}"
        assert int(points) == points_of(path), f"{name}: {title} is listed with {points} points; its test cells give {points_of(path)}"
        heading = read(path).cells[0].source
        assert heading.startswith(f"# {int(number)}. {title}") and f"*About {minutes} minutes.*" in heading, \
            f"{name}: {title}, {minutes} min, but the lesson's title cell says {heading.splitlines()[:3]}"
    # each part's table ends with its total row, the sums of the lessons listed since the previous total
    totals = list(TOTAL.finditer(text))
    assert [int(t.group(1)) for t in totals] == [1, 2], f"{name}: a total row per part (| | **Part 1** | **M min** | **P** |)"
    start = 0
    for total in totals:
        part = [r for r in ROW.finditer(text) if start <= r.start() < total.start()]
        assert part, f"{name}: part {total.group(1)} lists no lesson"
        assert int(total.group(2)) == sum(int(r.group(4)) for r in part), \
            f"{name}: part {total.group(1)}'s total time is not the sum of its lessons'"
        assert int(total.group(3)) == sum(int(r.group(5)) for r in part), \
            f"{name}: part {total.group(1)}'s total points are not the sum of its lessons'"
        start = total.end()


def functions_written(path):
    """The functions a lesson's answer cells define, in the notebook's order: what the learner writes."""
    return [node.name for cell in read(path).cells if is_answer_cell(cell)
            for node in ast.parse(cell.source).body if isinstance(node, ast.FunctionDef)]


@pytest.mark.parametrize("name, text, folder", list(syllabus_texts()), ids=["README", "index"])
def test_syllabus_names_what_each_lesson_has_you_write_in_the_lessons_order(name, text, folder):
    rows = {int(number): re.findall(r"`([^`]+)`", cell) for number, cell in YOU_WRITE.findall(text)}
    lessons = notebooks(SOLUTIONS)
    assert sorted(rows) == [int(p.parent.name[:2]) for p in lessons], f"{name}: a lesson row without its 'You write' column"
    for path in lessons:
        listed, written = rows[int(path.parent.name[:2])], functions_written(path)
        assert listed == written, (f"{name}: lesson {path.parent.name} lists {listed} under 'You write'; "
                                   f"the notebook asks for {written}, in that order")
