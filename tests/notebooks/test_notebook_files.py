"""The committed notebooks: no outputs, valid nbgrader metadata, and cells that agree with the grading registry."""
import ast

import pytest
from nbgrader.nbgraderformat import MetadataValidator

from backprop_ref.grading import EXERCISES
from course_notebooks import (
    COURSE, EXERCISES as EXERCISES_DIR, SOLUTIONS, assignment_of, checks_called, is_answer_cell, is_test_cell,
    nbgrader, notebooks, read,
)

ALL = notebooks(SOLUTIONS) + notebooks(EXERCISES_DIR) + sorted(COURSE.glob("*.ipynb"))
GRADED = notebooks(SOLUTIONS) + notebooks(EXERCISES_DIR)


def _name(path):
    return str(path.relative_to(SOLUTIONS.parent))


def test_there_are_notebooks():
    assert notebooks(SOLUTIONS), "no notebooks in solutions/"
    assert [p.relative_to(SOLUTIONS) for p in notebooks(SOLUTIONS)] == [p.relative_to(EXERCISES_DIR) for p in notebooks(EXERCISES_DIR)], \
        "exercises/ must hold one learner notebook per solution notebook: run `make exercises`"


@pytest.mark.parametrize("path", ALL, ids=_name)
def test_committed_without_outputs(path):
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, \
                f"{_name(path)}, cell {i}: has outputs; clear them before committing (Edit > Clear Outputs of All Cells)"


@pytest.mark.parametrize("path", GRADED, ids=_name)
def test_nbgrader_metadata_is_valid_and_grade_ids_unique(path):
    nb = read(path)
    MetadataValidator().validate_nb(nb)
    ids = [nbgrader(c)["grade_id"] for c in nb.cells if nbgrader(c)]
    assert len(ids) == len(set(ids)), f"{_name(path)}: repeated grade ids {sorted(i for i in ids if ids.count(i) > 1)}"


@pytest.mark.parametrize("path", notebooks(SOLUTIONS), ids=_name)
def test_answer_cells_define_one_function_named_after_a_registered_exercise(path):
    for cell in filter(is_answer_cell, read(path).cells):
        exercise_id = nbgrader(cell)["grade_id"]
        assert exercise_id in EXERCISES, f"{_name(path)}: answer cell {exercise_id!r} is not a registered exercise"
        assert EXERCISES[exercise_id].lesson == assignment_of(path), \
            f"{exercise_id} is registered for lesson {EXERCISES[exercise_id].lesson!r}, but its answer cell is in {_name(path)}"
        body = ast.parse(cell.source).body
        assert [type(node) for node in body] == [ast.FunctionDef] and body[0].name == exercise_id, \
            f"{_name(path)}: answer cell {exercise_id!r} must hold just `def {exercise_id}(...)`, so nothing runs until it is checked"
        assert "### BEGIN SOLUTION" in cell.source, f"{_name(path)}: answer cell {exercise_id!r} has no solution region"


@pytest.mark.parametrize("path", notebooks(SOLUTIONS), ids=_name)
def test_test_cells_grade_each_part_of_each_exercise_with_its_points(path):
    graded = {}
    for cell in filter(is_test_cell, read(path).cells):
        meta = nbgrader(cell)
        calls = checks_called(cell.source)
        assert calls, f"{_name(path)}: test cell {meta['grade_id']!r} calls no check()"
        assert {(i, p) for i, p, _ in calls} == {calls[0][:2]}, f"{_name(path)}: test cell {meta['grade_id']!r} checks more than one part"
        exercise_id, part = calls[0][:2]
        assert {hidden for *_, hidden in calls} == {False, True}, \
            f"{_name(path)}: test cell {meta['grade_id']!r} needs a visible check and a hidden one (hidden=True, in ### BEGIN HIDDEN TESTS)"
        assert "### BEGIN HIDDEN TESTS" in cell.source
        assert meta["grade_id"] == f"{exercise_id}_{part}", f"{_name(path)}: test cell {meta['grade_id']!r} should be named {exercise_id}_{part}"
        points = {p.name: p.points for p in EXERCISES[exercise_id].parts}
        assert meta["points"] == points[part], f"{_name(path)}: {meta['grade_id']} gives {meta['points']} points; the check's part is worth {points[part]}"
        graded[(exercise_id, part)] = meta["points"]
    expected = {(e.id, p.name) for e in EXERCISES.values() if e.lesson == assignment_of(path) for p in e.parts}
    assert set(graded) == expected, f"{_name(path)}: parts without a test cell {sorted(expected - set(graded))}, test cells of other lessons {sorted(set(graded) - expected)}"
