"""Driving JupyterLab in a browser page: open a notebook, Run All, read and move the lesson widgets.

Read from the page's own model through ``window.jupyterapp`` (the server runs with
--LabApp.expose_app_in_browser=True), because in the DOM a traceback and a stderr warning look alike.
"""
import os
import re
import time
from dataclasses import dataclass

KERNEL_IDLE = re.compile(r"Python 3.*\|\s*Idle")
# A widget drawn as text: "VBox(children=(...", "Explorer(children=(HBox(...": no widget manager in the page.
WIDGET_REPR = re.compile(r"\b[A-Za-z_]\w*\(children=\(")
# ----------------------------------------------------------------------------------------------
# Driving JupyterLab


class NotebookRunError(AssertionError):
    pass


# Reads the open notebook, per cell: its kind and prompt as drawn, the text of each drawn output (with
# its mime type), and the errors in its model (window.jupyterapp: the server runs with
# --LabApp.expose_app_in_browser; the DOM draws a traceback and a stderr stream alike).
_READ_CELLS = """() => {
    const shell = window.jupyterapp && window.jupyterapp.shell;
    let panel = shell && shell.currentWidget;
    if (shell && !(panel && panel.content && panel.content.model)) {
        panel = [...shell.widgets('main')].find((w) => w.content && w.content.model && w.content.model.cells);
    }
    const model = panel && panel.content && panel.content.model;
    const errors = (i) => {
        if (!model || i >= model.cells.length) return [];
        const json = model.cells.get(i).toJSON();
        return (json.outputs || []).filter((o) => o.output_type === 'error').map((o) =>
            [...(o.traceback || []), ''].join('\\n').replace(/\\u001b\\[[0-9;]*m/g, '') || `${o.ename}: ${o.evalue}`);
    };
    const root = panel ? panel.node : document;  // the current notebook's cells only
    return [...root.querySelectorAll('.jp-Notebook .jp-Cell')].map((cell, i) => ({
        code: cell.classList.contains('jp-CodeCell'),
        prompt: (cell.querySelector('.jp-InputPrompt') || {}).textContent || '',
        outputs: [...cell.querySelectorAll('.jp-OutputArea-output')].map((o) => ({
            mime: o.getAttribute('data-mime-type') || '',
            text: (o.textContent || '').slice(0, 4000),
        })),
        errors: errors(i),
        model: !!model,
    }));
}"""

_CLOSE_ALL = """() => {
    for (const widget of [...window.jupyterapp.shell.widgets('main')]) {
        if (widget.context && widget.context.model) widget.context.model.dirty = false;
        widget.dispose();
    }
}"""

_KERNEL_STATUS = """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].map((e) => e.textContent).join(' ; ')"""


@dataclass
class WidgetState:
    """What one ``.bp-widget`` shows: its status line, plot image and first control's readout."""
    classes: list
    status: str
    image: str  # the plot's <img> src (a data: URL); "" when there is none
    readouts: list
    sliders: int
    selects: int

    @property
    def name(self):
        """Its own CSS classes, to say which widget: "bp-widget bp-overflow"."""
        return " ".join(c for c in self.classes if c.startswith("bp-"))

    @property
    def settings(self):
        """The status line's controls part, as {name: readout text}: "w = 3.50, lr = 0.10" -> {...}."""
        return parse_pairs(self.status.split(" | ", 1)[0])

    @property
    def numbers(self):
        """The status line's numbers part, as {name: text}: "E = 0.81, dE/dw = -1.20" -> {...}."""
        return parse_pairs(self.status.split(" | ", 1)[1]) if " | " in self.status else {}


def parse_pairs(text):
    return {k.strip(): v.strip() for k, v in re.findall(r"([^=,|]+?)\s=\s([^,|]+)", text)}


_READ_WIDGET = """(w) => {
    const own = (sel) => [...w.querySelectorAll(sel)].filter((e) => e.closest('.bp-widget') === w);
    const status = own('.bp-status')[0];
    const img = own('.bp-plot img')[0];
    return {
        classes: [...w.classList],
        status: status ? status.textContent.trim() : '',
        image: img ? (img.getAttribute('src') || '') : '',
        readouts: own('.widget-readout').map((r) => r.textContent.trim()),
        sliders: own('.noUi-handle').length,
        selects: own('select').length,
    };
}"""


class Lab:
    """Drives one JupyterLab page: open a notebook, Run All, read and move lesson widgets."""

    def __init__(self, page, server):
        self.page = page
        self.server = server
        self.timeout = float(os.environ.get("BACKPROP_BROWSER_TIMEOUT", "120"))

    # --- opening and running -------------------------------------------------------------------

    def goto(self, path="lab", query=""):
        sep = "&" if query else ""
        self.page.goto(f"{self.server.url}/{path}?reset{sep}{query}&token={self.server.token}")

    def app_loaded(self):
        return self.page.url.startswith(self.server.url) and self.page.evaluate(
            "() => !!(window.jupyterapp && window.jupyterapp.shell)")

    def close_all(self):
        """Close every tab in the main area, discarding changes (no "Save your work?" dialog)."""
        self.page.evaluate(_CLOSE_ALL)

    def open_notebook(self, relpath, folder="solutions"):
        """Open <folder>/<relpath> (alone in the main area) and wait until its kernel is idle."""
        path = f"{folder}/{relpath}"
        if self.app_loaded():  # a page a previous test left: JupyterLab is loaded already
            self.close_all()
            self.server.shutdown_sessions()
            self.page.evaluate("(path) => window.jupyterapp.commands.execute('docmanager:open', {path})", path)
        else:
            self.goto(f"lab/tree/{path}")
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=60_000)
        self.wait_kernel_idle(60)

    def kernel_status(self):
        return self.page.evaluate(_KERNEL_STATUS)

    def wait_kernel_idle(self, seconds):
        deadline = time.monotonic() + seconds
        while not KERNEL_IDLE.search(self.kernel_status()):
            if time.monotonic() > deadline:
                raise NotebookRunError(f"the kernel was not idle within {seconds:.0f} s; status bar: {self.kernel_status()!r}")
            self.page.wait_for_timeout(200)

    def menu(self, *labels):
        """Click through the menu bar: menu("Run", "Run All Cells")."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(labels[0])}$")).click()
        for label in labels[1:]:
            self.page.locator(".lm-Menu:visible .lm-Menu-itemLabel",
                              has_text=re.compile(rf"^{re.escape(label)}$")).first.click()

    def cells(self):
        return self.page.evaluate(_READ_CELLS)

    def run_all(self, metadata=None, unwritten=False):
        """Run > Run All Cells, then wait until every code cell has run and the kernel is idle.

        Fails fast when a widget shows as its text repr (the widget manager is not loaded) or a cell
        shows a traceback. ``metadata``: the notebook's cells (from the .ipynb), to name graded cells.
        ``unwritten``: a learner's fresh copy, whose graded test cells may (only) fail saying so.
        """
        __tracebackhide__ = True
        self.menu("Run", "Run All Cells")
        started = time.monotonic()
        deadline = started + self.timeout
        while True:
            cells = self.cells()
            self._fail_on_bad_outputs(cells, metadata, unwritten)
            prompts = [c["prompt"].strip() for c in cells if c["code"]]
            done = all(re.fullmatch(r"\[\d+\]:", p) for p in prompts)
            if done and KERNEL_IDLE.search(self.kernel_status()):
                return cells
            if time.monotonic() > deadline:
                waiting = [i for i, c in enumerate(cells) if c["code"] and not re.fullmatch(r"\[\d+\]:", c["prompt"].strip())]
                raise NotebookRunError(
                    f"Run All did not finish within {self.timeout:.0f} s (BACKPROP_BROWSER_TIMEOUT): cells "
                    f"{waiting} have not run (prompts {[cells[i]['prompt'] for i in waiting][:5]}); "
                    f"status bar: {self.kernel_status()!r}")
            self.page.wait_for_timeout(250)

    @staticmethod
    def _fail_on_bad_outputs(cells, metadata, unwritten=False):
        __tracebackhide__ = True
        if cells and not cells[0]["model"]:
            raise NotebookRunError("cannot read the notebook's model in the page (window.jupyterapp is missing: "
                                   "is the server running with --LabApp.expose_app_in_browser=True?)")
        for index, cell in enumerate(cells):
            for output in cell["outputs"]:
                text = output["text"]
                if output["mime"] == "text/plain" and WIDGET_REPR.search(text):
                    raise NotebookRunError(
                        f"cell {index} shows a widget as text ({text[:80]!r}...) instead of drawing it: "
                        "JupyterLab's widget manager (jupyterlab_widgets, @jupyter-widgets/jupyterlab-manager) "
                        "is not loaded")
                if "Error displaying widget" in text:
                    raise NotebookRunError(f"cell {index}: the widget manager could not draw a widget: {text[:300]!r}")
            for error in cell["errors"]:
                role = ""
                if metadata and index < len(metadata):
                    nbg = metadata[index].get("metadata", {}).get("nbgrader", {})
                    if unwritten and nbg.get("grade") and not nbg.get("solution") and "is not written yet" in error:
                        continue
                    if nbg.get("grade"):
                        role = f" (graded test cell {nbg.get('grade_id')!r})"
                    elif nbg.get("solution"):
                        role = f" (answer cell {nbg.get('grade_id')!r})"
                raise NotebookRunError(f"cell {index}{role} raised an error:\n{error[-2500:]}")

    # --- lesson widgets ----------------------------------------------------------------------------

    def widgets(self):
        return self.page.locator(".bp-widget")

    def widget_state(self, index):
        return WidgetState(**self.widgets().nth(index).evaluate(_READ_WIDGET))

    def wait_widget_rendered(self, index, seconds=20):
        """Wait until widget ``index`` has a status line with text and a plot image."""
        deadline = time.monotonic() + seconds
        while True:
            state = self.widget_state(index)
            if state.status and state.image:
                return state
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"widget {index} ({state.name}) did not render within {seconds} s: "
                    f"status {state.status!r}, plot image {'present' if state.image else 'missing'}")
            self.page.wait_for_timeout(100)

    def wait_widget(self, index, condition, what, seconds=20):
        deadline = time.monotonic() + seconds
        while True:
            state = self.widget_state(index)
            if condition(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"widget {index} ({state.name}): {what} within {seconds} s; "
                                     f"status line is {state.status!r}")
            self.page.wait_for_timeout(100)

    # --- evidence ------------------------------------------------------------------------------

    def save_evidence(self, folder, name):
        """Screenshots of the page and of each lesson widget, and the page's HTML. Returns the paths."""
        saved = []
        folder.mkdir(parents=True, exist_ok=True)
        try:
            path = folder / f"{name}.png"
            self.page.screenshot(path=str(path), timeout=10_000)
            saved.append(path)
            path = folder / f"{name}.html"
            path.write_text(self.page.content(), encoding="utf-8")
            saved.append(path)
            widgets = self.page.locator(".bp-widget, .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            widgets = widgets.or_(self.page.locator(".jp-OutputArea-output", has_text=WIDGET_REPR))
            for i in range(min(widgets.count(), 12)):
                path = folder / f"{name}-output{i}.png"
                widgets.nth(i).screenshot(path=str(path), timeout=5_000)
                saved.append(path)
        except Exception as error:  # evidence is best effort; the failure itself is what matters
            saved.append(f"(screenshots stopped: {type(error).__name__}: {error})")
        return saved
