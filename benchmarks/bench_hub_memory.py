"""Memory of a class hub (deploy/jupyterhub), for deploy/jupyterhub/SCALE.md: the hub, the proxy, the
instructor's server, a learner's idle server, and a working one (lesson 1, answered, run in JupyterLab).

    sudo .venv/bin/python benchmarks/bench_hub_memory.py

It starts a demo hub in a temporary HUB_ROOT (as the tests do: its own users, removed after), drives
Chromium like a learner, and prints the resident memory (RSS, MiB) of each part's processes.
"""
import pwd
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "deploy"), str(ROOT / "tests")]  # tests/deploy's conftest first

from chromium import launch  # noqa: E402
from conftest import ClassHub  # noqa: E402 (tests/deploy's)
from instructor import synthetic_class as synthetic  # noqa: E402
from test_class_in_chromium import Learner, instructor  # noqa: E402


def rss_mib(pids):
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) if "VmRSS" in status else 0
    return total / 1024


def processes_of(user, name=None):
    uid = pwd.getpwnam(user).pw_uid
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                if name is None or name in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
        except OSError:
            pass
    return found


def wait_until_run(page, timeout_ms=600_000):
    """Until every code cell in view has an execution count and the kernel has been idle for three polls."""
    page.wait_for_function("""() => {
        const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
        return prompts.length > 0 && prompts.every(t => /\\[\\d+\\]/.test(t));
    }""", timeout=timeout_ms)
    idle, deadline = 0, time.monotonic() + timeout_ms / 1000
    while idle < 3 and time.monotonic() < deadline:  # and the kernel idle: cells out of view are not drawn
        states = page.evaluate("""async () => {
            const base = window.location.pathname.split('/lab')[0];
            const xsrf = document.cookie.split('; ').find(c => c.startsWith('_xsrf='))?.split('=')[1];
            return (await (await fetch(`${base}/api/kernels`, {headers: {'X-XSRFToken': xsrf}})).json())
                .map(k => k.execution_state);
        }""")
        idle = idle + 1 if states and all(state == "idle" for state in states) else 0
        time.sleep(2)


def main():
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="backprop-hub-bench-"))
    root.chmod(0o755)
    hub = ClassHub(root)
    rows = []
    try:
        hub.run("start")
        state = root / "state"
        rows.append(("hub (JupyterHub)", rss_mib([int((state / "launched.pid").read_text())])))
        rows.append(("proxy (configurable-http-proxy)", rss_mib([int((state / "proxy.pid").read_text())])))
        released = instructor(hub, "backprop-course build 01_one_weight && nbgrader release_assignment 01_one_weight")
        assert released.returncode == 0, released.stderr
        with sync_playwright() as playwright:
            browser = launch(playwright, root / "chromium-home")
            teacher = Learner(browser, hub, hub.instructor)
            time.sleep(5)
            rows.append(("instructor's server, idle", rss_mib(processes_of(hub.instructor))))
            teacher.close()
            learner = Learner(browser, hub, hub.learners[0])
            time.sleep(5)
            rows.append(("learner's server, idle", rss_mib(processes_of(hub.learners[0]))))
            learner.fetch("01_one_weight")
            learner.write("01_one_weight/one_weight.ipynb", synthetic.notebook())  # answered: Run All goes to the end
            page = learner.page
            page.goto(f"http://{learner.user}.localhost:{hub.port}/user/{learner.user}/lab/tree/01_one_weight/one_weight.ipynb")
            page.locator(".jp-Notebook").wait_for(timeout=120_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").click()
            page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()
            wait_until_run(page)
            server = rss_mib(processes_of(learner.user, "jupyterhub-singleuser"))
            kernel = rss_mib(processes_of(learner.user, "ipykernel"))
            rows.append(("learner's server, lesson 1 run: the server", server))
            rows.append(("learner's server, lesson 1 run: its kernel", kernel))
            learner.close()
            browser.close()
    finally:
        hub.run("stop", check=False)
        hub.run("clean", check=False)
    print("| part | RSS (MiB) |\n|---|---|")
    for name, mib in rows:
        print(f"| {name} | {mib:.0f} |")


if __name__ == "__main__":
    main()
