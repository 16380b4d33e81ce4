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
from chromium import require_browser
from lab_driver import Lab

REPO = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="session")
def browser_available():
    require_browser()


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
# The browser (the session's Chromium is the fixture `browser` of tests/chromium.py, in tests/conftest.py)


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
