"""A learner's fresh copy runs top to bottom, and exactly its graded test cells fail, saying why in one short
report: no traceback into the grader, no stray values printed."""
import shutil

import pytest
from jupyter_client import KernelManager
from nbclient import NotebookClient

from course_notebooks import EXERCISES, is_test_cell, notebooks, read


@pytest.mark.parametrize("path", notebooks(EXERCISES), ids=lambda p: str(p.relative_to(EXERCISES)))
def test_only_graded_cells_fail_before_the_learner_writes_anything(path, tmp_path):
    shutil.copy(path, tmp_path / path.name)
    nb = read(tmp_path / path.name)
    # The kernel talks over Unix sockets in tmp_path: with TCP, a port picked free can be taken before the kernel
    # binds it, and the client then waits for a kernel that listens elsewhere (seen on these busy machines).
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    NotebookClient(nb, km=km, timeout=300, startup_timeout=300, allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
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
