"""A demo class hub (deploy/jupyterhub/hub.py) for the tests, on a free port, in a temporary HUB_ROOT, with
users of a prefix of its own (made by the hub, removed when it stops).

The software the hub installs (its venv, the proxy) is made once per session; each module starts its own
hub on it and stops it at the end. Skips unless this runs as root with node and npm (the hub makes Unix
users and installs the proxy from the npm registry); BACKPROP_REQUIRE_HUB=1 (CI) makes that a failure.
"""
import http.client
import http.cookiejar
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HUB = REPO / "deploy" / "jupyterhub" / "hub.py"


def free_port_block(size=3):
    """A port whose next ``size - 1`` are free too (the hub takes three in a row)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + size < 65536 and all(_free(port + i) for i in range(size)):
            return port
    raise RuntimeError("no block of free ports on 127.0.0.1")


def _free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class ClassHub:
    """hub.py with this test's settings, and what a test reads of the running hub."""

    def __init__(self, root):
        self.root = Path(root)
        self.port = free_port_block()
        self.prefix = f"t{secrets.token_hex(2)}-"
        self.env = dict(os.environ, HUB_ROOT=str(self.root), HUB_PORT=str(self.port), HUB_PREFIX=self.prefix,
                        HUB_LEARNERS="2")
        self.instructor = f"{self.prefix}instructor"
        self.learners = [f"{self.prefix}learner1", f"{self.prefix}learner2"]
        self.url = f"http://localhost:{self.port}"

    def run(self, command, check=True):
        result = subprocess.run([sys.executable, str(HUB), command], env=self.env, capture_output=True, text=True,
                                timeout=900)
        if check:
            assert result.returncode == 0, f"hub.py {command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        return result

    def accounts(self):
        return json.loads((self.root / "state" / "accounts.json").read_text())

    def login(self, user):
        """A urllib opener logged in as ``user`` (its server spawned): ``get(path)`` on their server's origin."""
        return Session(self, user)


class _Loopback(http.client.HTTPConnection):
    """<user>.localhost is loopback, as browsers resolve it (glibc does not)."""

    def connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)


class _LoopbackHandler(urllib.request.HTTPHandler):
    def http_open(self, request):
        return self.do_open(_Loopback, request)


class Session:
    def __init__(self, hub, user):
        self.hub, self.user = hub, user
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(_LoopbackHandler, urllib.request.HTTPCookieProcessor(self.jar))
        self.open(f"{hub.url}/hub/login")
        xsrf = next(c.value for c in self.jar if c.name == "_xsrf")
        form = urllib.parse.urlencode({"username": user, "password": hub.accounts()[user], "_xsrf": xsrf}).encode()
        self.open(f"{hub.url}/hub/login?next=", data=form)
        self.open(f"{hub.url}/hub/spawn")
        self.origin = f"http://{user}.localhost:{hub.port}/user/{user}"
        self.wait_for_server()

    def open(self, url, data=None, timeout=120):
        return self.opener.open(url, data=data, timeout=timeout)

    def wait_for_server(self, attempts=180):
        for _ in range(attempts):  # about 3 minutes on a busy machine; a spawn takes seconds
            try:
                # a page, not the API: the server's OAuth with the hub runs on a page's redirects
                with self.open(f"{self.origin}/lab") as response:
                    if response.status == 200 and response.url.startswith(self.origin):
                        return
            except OSError:
                pass
            time.sleep(1)
        raise AssertionError(f"{self.user}'s server did not come up")

    def get(self, path):
        """(status, headers, body) of a GET on the user's server."""
        try:
            with self.open(f"{self.origin}{path}") as response:
                return response.status, response.headers, response.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode(errors="replace")


@pytest.fixture(scope="session")
def hub_root():
    """A HUB_ROOT every user may traverse (pytest's own folders are 0700), made once per session."""
    missing = [tool for tool in ("useradd", "npm", "node", "runuser") if shutil.which(tool) is None]
    reason = ("a class hub makes Unix users (root only: CI runs as root)" if os.geteuid() != 0 else
              f"a class hub needs {', '.join(missing)} (Debian: apt-get install nodejs npm)" if missing else None)
    if reason:
        if os.environ.get("BACKPROP_REQUIRE_HUB", "") not in ("", "0"):
            pytest.fail(f"{reason}, and BACKPROP_REQUIRE_HUB=1 requires it")
        pytest.skip(reason + "; BACKPROP_REQUIRE_HUB=1 turns this skip into a failure (CI)")
    root = Path(tempfile.mkdtemp(prefix="backprop-hub-"))
    root.chmod(0o755)
    yield root
    subprocess.run([sys.executable, str(HUB), "clean"], env=dict(os.environ, HUB_ROOT=str(root)),
                   capture_output=True, timeout=300)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def class_hub(hub_root):
    hub = ClassHub(hub_root)
    try:
        hub.started = hub.run("start")
        yield hub
    finally:
        hub.run("stop", check=False)
