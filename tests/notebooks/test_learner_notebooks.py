"""A learner's fresh copy runs top to bottom, and exactly its graded test cells fail, saying why in one short
report: no traceback into the grader, no stray values printed. So does a copy whose every answer has a bug
(it raises, or returns an array of the wrong shape): every widget and demo cell goes on with the reference,
saying so in one line."""
import re
import shutil

import pytest
from jupyter_client import KernelManager
from nbclient import NotebookClient

from course_notebooks import EXERCISES, is_answer_cell, is_test_cell, notebooks, read


def run_all(path, tmp_path, edit=None):
    """The learner copy at ``path``, changed by ``edit(nb)``, run top to bottom as Run All does (errors kept)."""
    shutil.copy(path, tmp_path / path.name)
    nb = read(tmp_path / path.name)
    if edit:
        edit(nb)
    # The kernel talks over Unix sockets in tmp_path: with TCP, a port picked free can be taken before the kernel
    # binds it, and the client then waits for a kernel that listens elsewhere (seen on these busy machines).
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    NotebookClient(nb, km=km, timeout=300, startup_timeout=300, allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


@pytest.mark.parametrize("path", notebooks(EXERCISES), ids=lambda p: str(p.relative_to(EXERCISES)))
def test_only_graded_cells_fail_before_the_learner_writes_anything(path, tmp_path):
    nb = run_all(path, tmp_path)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert not setup.outputs, f"{path.name}: the set-up cell shows {setup.outputs[0]}; it should show nothing"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        where = f"{path.name}, cell {i} ({cell.metadata.get('nbgrader', {}).get('grade_id', 'not graded')})"
        if is_test_cell(cell):
            assert errors, f"{where}: a graded test cell passed on an unwritten answer"
            error = errors[0]
            assert error.ename == "NotImplementedError" or (error.ename == "CheckFailed" and "is not written yet" in error.evalue), \
                f"{where}: failed with {error.ename}: {error.evalue[:300]}; expected the check to say the answer is not written yet"
            shown = "\n".join(error.traceback)
            assert error.ename != "CheckFailed" or "File " not in shown and ".py" not in shown and len(error.traceback) < 10, \
                f"{where}: the learner sees more than the check's report:\n{shown}"
        else:
            assert not errors, f"{where}: failed in a learner's fresh copy: {errors[0].ename}: {errors[0].evalue[:300]}"


BUGS = {  # what each answer does instead of its job
    "raises": "    raise RuntimeError(\"a learner's bug\")",
    "wrong shape": "    return np.zeros((7, 3, 1))",
}


def with_bugs(bug):
    """Every answer cell's function replaced by one with ``bug`` (same name, any arguments)."""
    def edit(nb):
        for cell in nb.cells:
            if is_answer_cell(cell):
                names = re.findall(r"^def (\w+)\(", cell.source, re.M)
                cell.source = "\n\n".join(f"def {name}(*args, **kwargs):\n{BUGS[bug]}\n" for name in names)
    return edit


@pytest.mark.parametrize("bug", sorted(BUGS))
@pytest.mark.parametrize("path", notebooks(EXERCISES), ids=lambda p: str(p.relative_to(EXERCISES)))
def test_run_all_goes_to_the_end_when_every_answer_has_a_bug(path, bug, tmp_path):
    nb = run_all(path, tmp_path, with_bugs(bug))
    said = ""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        where = f"{path.name}, cell {i}, every answer {bug}"
        assert not errors, f"{where}: {errors[0].ename}: {errors[0].evalue[:300]}"
        said += "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    if "learner_or_reference" in "".join(c.source for c in nb.cells) or "widgets" in nb.cells[0].source:
        assert "the reference" in said, f"{path.name}: no cell said that the reference stands in for the buggy answer"
