"""nbgrader's JupyterLab extension, in a real browser: Nbgrader > Formgrader shows the course.

The server finds the course's nbgrader configuration (course/nbgrader_config.py) through
JUPYTER_CONFIG_PATH, as `make lab` arranges it; the fixture moves the course root (a copy of
solutions/) and the gradebook into a temporary folder. The formgrader's "Manage Assignments" page must
list every assignment folder of solutions/ and report no set-up problem.
"""
import re

import pytest

pytestmark = pytest.mark.browser


def test_formgrader_lists_the_course_assignments(lab):
    assignments = sorted(p.name for p in lab.server.notebooks.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
    assert assignments, f"no assignment folder (NN_name/*.ipynb) in {lab.server.notebooks}"

    lab.goto("lab")
    lab.page.wait_for_selector(".lm-MenuBar-itemLabel >> text=Nbgrader", timeout=60_000)
    lab.menu("Nbgrader", "Formgrader")

    frame = lab.page.frame_locator("iframe[src*='formgrader']")
    frame.locator("text=Manage Assignments").first.wait_for(timeout=60_000)
    for name in assignments:
        # One table row per assignment, its name in td.name (filled in by the page's JavaScript from
        # /formgrader/api/assignments, which reads the gradebook and the source folder).
        frame.locator("td.name", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")).first.wait_for(timeout=30_000)

    # Set-up problems (course root outside the server root, no exchange, a failing API call) show as alerts.
    alerts = frame.locator(".alert-danger:visible, .alert-warning:visible, .modal:visible")
    assert alerts.count() == 0, "the formgrader reports a problem:\n" + "\n".join(alerts.all_inner_texts())
