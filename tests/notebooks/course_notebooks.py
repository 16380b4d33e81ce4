"""The course's notebooks and what their nbgrader cells say, for the notebook tests."""
import ast
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
COURSE = ROOT / "course"


def notebooks(folder):
    return sorted(p for p in folder.glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def assignment_of(path):
    return path.parent.name


def read(path):
    return nbformat.read(path, as_version=4)


def nbgrader(cell):
    return cell.metadata.get("nbgrader", {})


def is_test_cell(cell):
    """An nbgrader "autograder tests" cell: graded, not a solution."""
    meta = nbgrader(cell)
    return cell.cell_type == "code" and meta.get("grade", False) and not meta.get("solution", False)


def is_answer_cell(cell):
    meta = nbgrader(cell)
    return cell.cell_type == "code" and meta.get("solution", False) and not meta.get("grade", False)


def checks_called(source):
    """[(exercise id, part, hidden)] for every `check("id", fn, part=..., hidden=...)` in a cell."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check":
            keywords = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in ("part", "hidden")}
            found.append((ast.literal_eval(node.args[0]), keywords.get("part"), keywords.get("hidden", False)))
    return found


def test_id(cell_source):
    """The assertion nbgrader's cell shows is the docstring's first line; the test id is in it."""
    return cell_source.strip().splitlines()[0]
