"""Headless Chromium for the browser tests (tests/browser, tests/deploy): where it is, how it is launched,
and the skip (or, with BACKPROP_REQUIRE_BROWSER=1, the failure) when it is missing."""
import importlib
import os
import shutil

import pytest

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


def require_browser():
    """Skip (or fail, with BACKPROP_REQUIRE_BROWSER=1) when Playwright or Chromium is missing."""
    problem = browser_problem()
    if problem:
        message = f"browser tests: {problem}. {HOW_TO_ENABLE}"
        if os.environ.get("BACKPROP_REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail(message.replace("turns this skip into a failure", "is set, so this fails"), pytrace=False)
        pytest.skip(message)


def launch(playwright, home):
    """Chromium, its profile and crash reports in ``home`` (not ~/.config/chromium)."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"))
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS, env=env)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """The session's headless Chromium (a fixture: conftest files import it)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright, tmp_path_factory.mktemp("chromium-home"))
        try:
            yield chromium
        finally:
            chromium.close()
