"""A new learner's first minutes, as `make lab` sets them up: the syllabus (course/index.ipynb) links
the first lesson's copy in my-work/, and "Run All" on it draws every widget, the ones below an
unwritten exercise included, while only the graded checks fail, saying the answer is not written yet."""
import json
import re
import time

import pytest

pytestmark = pytest.mark.browser


def wait_for_kernel(lab, path, seconds=60):
    """Until the notebook's own kernel is up and idle (Run All clicked before that is dropped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sessions = [s for s in lab.server.api("GET", "/api/sessions") if s["path"] == path]
        if sessions and sessions[0]["kernel"]["execution_state"] == "idle":
            lab.wait_kernel_idle(seconds)
            return
        lab.page.wait_for_timeout(250)
    pytest.fail(f"no idle kernel for {path} within {seconds} s")


def test_the_syllabus_opens_the_first_lesson_and_run_all_goes_past_unwritten_answers(lab):
    lab.open_notebook("index.ipynb", folder="course")
    lab.page.locator(".jp-RenderedMarkdown a", has_text="One weight, one error").first.click()
    lab.page.locator(".lm-TabBar-tab.lm-mod-current", has_text="one_weight.ipynb").wait_for(timeout=30_000)
    wait_for_kernel(lab, "my-work/01_one_weight/one_weight.ipynb")

    cells = json.loads((lab.server.root / "my-work" / "01_one_weight" / "one_weight.ipynb").read_text())["cells"]
    graded = [i for i, c in enumerate(cells) if c["metadata"].get("nbgrader", {}).get("grade")]
    shown = lab.run_all(metadata=cells, unwritten=True)

    for i in graded:
        assert any("is not written yet" in e for e in shown[i]["errors"]), \
            f"graded cell {i} of the learner's copy should fail saying its answer is not written yet"
    last_widget_cell = max(i for i, c in enumerate(cells) if "widgets" in "".join(c["source"]) or "_explorer(" in "".join(c["source"]))
    assert last_widget_cell > graded[0], "the test needs a widget below the first graded cell"
    count = lab.widgets().count()
    assert count >= 2, f"Run All stopped early: {count} lesson widget(s) drawn"
    last = lab.wait_widget_rendered(count - 1)
    assert re.search(r"using the reference gradient_descent", last.status), \
        f"the descent widget should run the reference while gradient_descent is unwritten, and say so: {last.status!r}"
