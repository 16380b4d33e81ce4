"""Browser tests: the course's notebooks in JupyterLab, in headless Chromium driven by Playwright.

One JupyterLab server and one browser serve the whole session:

- ``lab_server`` runs ``python -m jupyter lab`` on a free port, on a temporary copy of the notebooks
  (``solutions/`` copied to ``<tmp>/root/solutions``, so outputs never land in the repository), with
  Jupyter's, IPython's and matplotlib's user folders in the temporary folder, and the course's nbgrader
  configuration found through JUPYTER_CONFIG_PATH (``course/``) with the course root and gradebook moved
  into the temporary folder. It is stopped at the end of the session, kernels included.
- ``browser`` is Chromium (``/usr/bin/chromium``, or ``$BACKPROP_CHROMIUM``) launched by Playwright.
- ``lab`` gives each test a fresh page and a :class:`Lab` driver (open a notebook, Run All, read widgets).
  When a test fails, screenshots of the page and of every lesson widget are saved under
  ``$BACKPROP_SCREENSHOTS`` (default: pytest's temporary folder) and their paths are printed in the
  failure report.

Without Playwright or Chromium the tests skip, saying how to enable them; with
``BACKPROP_REQUIRE_BROWSER=1`` (CI) that is a failure instead.

Knobs (environment variables):

- ``BACKPROP_CHROMIUM``: the Chromium (or Chrome) binary.
- ``BACKPROP_BROWSER_NOTEBOOKS``: run the notebooks of this folder (``NN_name/name.ipynb``) instead of
  ``solutions/``.
- ``BACKPROP_BROWSER_TIMEOUT``: seconds a notebook's "Run All" may take (default 120).
- ``BACKPROP_BROWSER_DISABLE_EXTENSIONS``: comma-separated JupyterLab extensions to disable (written to
  the server's ``labconfig/page_config.json``), e.g. ``@jupyter-widgets/jupyterlab-manager`` to see the
  tests catch a JupyterLab without the widget manager.
- ``BACKPROP_BROWSER_EXTRA_LAB_ARGS``: more command-line arguments for ``jupyter lab`` (shell syntax).
- ``BACKPROP_SCREENSHOTS``: where failure screenshots go.
"""
import importlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backprop_ref.cli import make_workspace

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOW_TO_ENABLE = (
    "To run the browser tests: `pip install playwright` (in this virtual environment) and install "
    "Chromium (Debian/Ubuntu: `sudo apt-get install chromium`), or set BACKPROP_CHROMIUM to a "
    "Chromium or Chrome binary. BACKPROP_REQUIRE_BROWSER=1 turns this skip into a failure (CI)."
)
# A widget drawn as text: "VBox(children=(...", "Explorer(children=(HBox(...": no widget manager in the page.
WIDGET_REPR = re.compile(r"\b[A-Za-z_]\w*\(children=\(")
KERNEL_IDLE = re.compile(r"Python 3.*\|\s*Idle")


# ----------------------------------------------------------------------------------------------
# What to run


def notebooks_folder():
    """The folder whose ``NN_name/*.ipynb`` notebooks are served: solutions/ unless overridden."""
    return Path(os.environ.get("BACKPROP_BROWSER_NOTEBOOKS") or REPO / "solutions").resolve()


def notebooks():
    return sorted(notebooks_folder().glob("*/*.ipynb"))


def has_widgets(path):
    """True when a notebook's code displays widgets (it mentions backprop_ref.widgets or widgets.)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # unreadable: let the test say so
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            source = "".join(cell.get("source", ""))
            if "backprop_ref.widgets" in source or "widgets." in source:
                return True
    return False


def widget_notebooks():
    """Notebooks with widgets, as paths relative to the notebooks folder ("01_one_weight/one_weight.ipynb")."""
    root = notebooks_folder()
    return [p.relative_to(root).as_posix() for p in notebooks() if has_widgets(p)]


def pytest_generate_tests(metafunc):
    if "widget_notebook" in metafunc.fixturenames:
        found = widget_notebooks()
        if found:
            metafunc.parametrize("widget_notebook", found, ids=[p.split("/")[0] for p in found])
        else:
            metafunc.parametrize(
                "widget_notebook",
                [pytest.param(None, marks=pytest.mark.skip(reason=f"no notebook with widgets in {notebooks_folder()}"))],
                ids=["none"],
            )


# ----------------------------------------------------------------------------------------------
# Is there a browser?


def chromium_path():
    explicit = os.environ.get("BACKPROP_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    if os.access(DEFAULT_CHROMIUM, os.X_OK):
        return DEFAULT_CHROMIUM
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_problem():
    """None when Playwright and Chromium are both here, else what is missing."""
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        return "the Python package playwright is not installed"
    if chromium_path() is None:
        where = os.environ.get("BACKPROP_CHROMIUM") or f"{DEFAULT_CHROMIUM} or on PATH"
        return f"Chromium was not found ({where})"
    return None


@pytest.fixture(scope="session")
def browser_available():
    problem = browser_problem()
    if problem:
        message = f"browser tests: {problem}. {HOW_TO_ENABLE}"
        if os.environ.get("BACKPROP_REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail(message.replace("turns this skip into a failure", "is set, so this fails"), pytrace=False)
        pytest.skip(message)


# ----------------------------------------------------------------------------------------------
# The JupyterLab server


def _write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


@dataclass
class LabServer:
    url: str
    token: str
    root: Path  # the server's root_dir, also nbgrader's course root
    notebooks: Path  # root / "solutions"
    log: Path
    process: subprocess.Popen = field(repr=False)

    def api(self, method, path, body=None, timeout=10):
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"},
            data=None if body is None else json.dumps(body).encode(),
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines=40):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def shutdown_sessions(self):
        """Shut down every kernel the server runs (between tests, so kernels do not pile up)."""
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}")
        except (OSError, ValueError):
            pass


def _prepare(tmp):
    """The server's folders: root (notebooks copy), Jupyter/IPython/matplotlib user dirs, settings."""
    root = tmp / "root"
    source = notebooks_folder()
    if not source.is_dir():
        pytest.fail(f"browser tests: no notebooks folder {source}", pytrace=False)
    shutil.copytree(source, root / "solutions", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for path in (root / "solutions").glob("*/*.ipynb"):
        # In the copy: no outputs or execution counts (every prompt "[ ]:" until Run All reaches it),
        # and a kernelspec (without one JupyterLab asks which kernel to start; the course uses python3).
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
        nb.setdefault("metadata", {}).setdefault("kernelspec", {
            "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"})
        path.write_text(json.dumps(nb, indent=1), encoding="utf-8")

    # The learner's side, as `make lab` sets it up: the syllabus and the learner copies in my-work/.
    (root / "course").mkdir()
    shutil.copy(REPO / "course" / "index.ipynb", root / "course" / "index.ipynb")
    make_workspace(root / "my-work", exercises=REPO / "exercises")

    dirs = {name: tmp / name.lower() for name in
            ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)

    settings = tmp / "lab-user-settings"
    # No "get Jupyter news?" toast over the page, no update check.
    _write_json(settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
                {"fetchNews": "false", "checkForUpdates": False})
    # Every cell in the DOM (no windowing), so the tests see every output.
    _write_json(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
                {"windowingMode": "none"})

    disabled = [name.strip() for name in os.environ.get("BACKPROP_BROWSER_DISABLE_EXTENSIONS", "").split(",") if name.strip()]
    if disabled:
        _write_json(dirs["JUPYTER_CONFIG_DIR"] / "labconfig" / "page_config.json",
                    {"disabledExtensions": {name: True for name in disabled}})

    # nbgrader: the course's own config (course/nbgrader_config.py), with the course root and the
    # gradebook moved here. The first folder of JUPYTER_CONFIG_PATH wins.
    override = tmp / "nbgrader-override"
    override.mkdir()
    (tmp / "exchange").mkdir()
    (override / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(tmp / 'gradebook.db')!r}\n"
        f"c.Exchange.root = {str(tmp / 'exchange')!r}\n",
        encoding="utf-8",
    )
    config_path = os.pathsep.join([str(override), str(REPO / "course")])
    return root, dirs, settings, config_path


@pytest.fixture(scope="session")
def lab_server(browser_available, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jupyterlab")
    root, dirs, settings, config_path = _prepare(tmp)
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "JUPYTER_CONFIG_PATH", "JUPYTER_PATH")}
    env.update({name: str(path) for name, path in dirs.items()})
    env["JUPYTER_CONFIG_PATH"] = config_path
    env["PYTHONUNBUFFERED"] = "1"
    # As in an activated virtual environment: nbgrader runs the `alembic` command when it creates a gradebook.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0",  # the server takes a free port and writes it to jpserver-<pid>.json
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: the tests read cell outputs from the model
        f"--LabApp.workspaces_dir={tmp / 'lab-workspaces'}",
        f"--LabApp.user_settings_dir={settings}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # jupyter lab refuses to run as root without it
    command += shlex.split(os.environ.get("BACKPROP_BROWSER_EXTRA_LAB_ARGS", ""))

    log = tmp / "jupyterlab.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = LabServer("", token, root, root / "solutions", log, process)
    try:
        _wait_listening(server, dirs["JUPYTER_RUNTIME_DIR"] / f"jpserver-{process.pid}.json", seconds=90)
        yield server
    finally:
        server.shutdown_sessions()
        _stop(process)


def _wait_listening(server, info_file, seconds):
    """Wait until the server answers /api/status with our token; fail at once if it dies."""
    deadline = time.monotonic() + seconds
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {server.process.returncode} before it answered. "
                        f"Log {server.log}:\n{server.log_tail()}", pytrace=False)
        if not server.url and info_file.exists():
            try:
                server.url = f"http://127.0.0.1:{json.loads(info_file.read_text())['port']}"
            except (OSError, ValueError, KeyError):
                pass
        if server.url:
            try:
                if "started" in server.api("GET", "/api/status", timeout=2):
                    return
            except Exception:  # not up yet (refused, reset, half-written answer)
                pass
        if time.monotonic() > deadline:
            pytest.fail(f"JupyterLab did not answer within {seconds} s ({server.url or 'no port yet'}). "
                        f"Log {server.log}:\n{server.log_tail()}", pytrace=False)
        time.sleep(0.25)


def _stop(process):
    """SIGTERM (the server shuts its kernels down); SIGKILL its process group if it is still there after 15 s."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group this fixture created (start_new_session)
        process.wait(timeout=10)


# ----------------------------------------------------------------------------------------------
# The browser


@pytest.fixture(scope="session")
def browser(browser_available, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("chromium-home")  # its crash-report database, not ~/.config/chromium
    env = dict(os.environ, XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"))
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS,
                                              env=env)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory):
    explicit = os.environ.get("BACKPROP_SCREENSHOTS")
    if explicit:
        path = Path(explicit)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("browser-screenshots")


@pytest.fixture(scope="session")
def browser_context(browser, lab_server):
    """One browser context for the session (each test opens its own page in it)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    # The network here is closed: anything not from our server would only hang, so refuse it at once.
    ours = re.escape(lab_server.url)
    context.route(re.compile(rf"^(?!{ours}/|data:|blob:).*"), lambda route: route.abort())
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="session")
def _pages():
    return {}  # the page the next test reuses, while tests pass


@pytest.fixture
def lab(request, browser_context, lab_server, screenshot_dir, _pages):
    """A :class:`Lab` driver on the session's JupyterLab; every kernel is shut down after the test.

    Tests share one page while they pass (JupyterLab loads once; each test closes what the previous
    one opened); after a failure the page is closed and the next test gets a fresh one.
    """
    page = _pages.pop("page", None)
    if page is None or page.is_closed():
        page = browser_context.new_page()
    driver = Lab(page, lab_server)
    try:
        yield driver
    finally:
        failed = getattr(request.node, "_browser_failed", True)
        if failed or page.is_closed():
            page.close()
        else:
            _pages["page"] = page
        lab_server.shutdown_sessions()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item._browser_failed = report.failed
    if report.when != "call" or not report.failed:
        return
    driver = item.funcargs.get("lab") if hasattr(item, "funcargs") else None
    folder = item.funcargs.get("screenshot_dir") if hasattr(item, "funcargs") else None
    if driver is None or folder is None:
        return
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("::", 1)[-1])
    saved = driver.save_evidence(Path(folder), name)
    report.sections.append(("browser screenshots", "Saved on failure:\n" + "\n".join(str(p) for p in saved)
                            + f"\nJupyterLab log: {driver.server.log}"))


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
