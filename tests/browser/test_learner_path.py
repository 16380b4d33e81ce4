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


# (the link's text in the syllabus, the copy it opens, what a widget below an unwritten answer says)
LESSONS = [
    ("One weight, one error", "01_one_weight/one_weight.ipynb", r"using the reference gradient_descent"),
    ("Backprop through time", "08_backprop_through_time/backprop_through_time.ipynb", r"the reference's truncated_bptt"),
]


@pytest.mark.parametrize("title, notebook, reference_note", LESSONS, ids=["lesson 1", "lesson 8"])
def test_the_syllabus_opens_a_lesson_and_run_all_goes_past_unwritten_answers(lab, title, notebook, reference_note):
    lab.open_notebook("index.ipynb", folder="course")
    lab.page.locator(".jp-RenderedMarkdown a", has_text=title).first.click()
    lab.page.locator(".lm-TabBar-tab.lm-mod-current", has_text=notebook.split("/")[1]).wait_for(timeout=30_000)
    wait_for_kernel(lab, f"my-work/{notebook}")

    cells = json.loads((lab.server.root / "my-work" / notebook).read_text())["cells"]
    graded = [i for i, c in enumerate(cells) if c["metadata"].get("nbgrader", {}).get("grade")]
    shown = lab.run_all(metadata=cells, unwritten=True)

    for i in graded:
        assert any("is not written yet" in e for e in shown[i]["errors"]), \
            f"graded cell {i} of the learner's copy should fail saying its answer is not written yet"
    last_widget_cell = max(i for i, c in enumerate(cells) if "widgets" in "".join(c["source"]) or "_explorer(" in "".join(c["source"]))
    assert last_widget_cell > graded[0], "the test needs a widget below the first graded cell"
    count = lab.widgets().count()
    assert count >= 2, f"Run All stopped early: {count} lesson widget(s) drawn"
    statuses = [lab.wait_widget_rendered(i).status for i in range(count)]
    assert any(re.search(reference_note, s) for s in statuses), \
        f"a widget should run the reference while the learner's answer is unwritten, and say so: {statuses!r}"
