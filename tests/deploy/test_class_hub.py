"""`make hub` and `make hub-stop` (deploy/jupyterhub/hub.py): a demo class hub on one machine, started
and stopped twice over, with what a class needs of it checked from the outside and as a learner."""
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def as_user(user, *command):
    """``command`` as ``user``, with nothing of this process's environment or working directory."""
    return subprocess.run([shutil.which("runuser"), "-u", user, "--", *command], cwd="/", env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_make_hub_and_hub_stop_run_the_demo():
    make = subprocess.run(["make", "-n", "hub", "hub-stop", "VENV=.venv"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert "deploy/jupyterhub/hub.py start" in make.stdout and "deploy/jupyterhub/hub.py stop" in make.stdout, make.stdout


def test_start_prints_the_url_and_every_account_and_answers_on_loopback_only(class_hub):
    printed = class_hub.started.stdout
    assert f"{class_hub.url}/" in printed
    for user, password in class_hub.accounts().items():
        assert user in printed and password in printed
    assert set(class_hub.accounts()) == {class_hub.instructor, *class_hub.learners}
    with urllib.request.urlopen(f"http://127.0.0.1:{class_hub.port}/hub/login", timeout=60) as response:
        assert response.status == 200
    elsewhere = [a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
                 if not a[4][0].startswith("127.")]
    for address in elsewhere:
        with socket.socket() as s, pytest.raises(OSError):
            s.settimeout(10)
            s.connect((address, class_hub.port))


def test_a_second_start_is_the_same_hub(class_hub):
    pid = (class_hub.root / "state" / "launched.pid").read_text()
    again = class_hub.run("start")
    assert "already running" in again.stdout
    assert (class_hub.root / "state" / "launched.pid").read_text() == pid
    assert all(password in again.stdout for password in class_hub.accounts().values())


def test_homes_and_the_hub_state_are_private_and_the_exchange_cannot_be_taken_over(class_hub):
    for user in (class_hub.instructor, *class_hub.learners):
        home = Path(pwd.getpwnam(user).pw_dir)
        assert home.parent == class_hub.root / "home" and mode(home) == 0o700 and home.stat().st_uid == pwd.getpwnam(user).pw_uid
    assert mode(class_hub.root / "state") == 0o700
    exchange = class_hub.root / "exchange"
    assert mode(exchange) == 0o1777
    course = exchange / "backprop-course"
    assert course.stat().st_uid == pwd.getpwnam(class_hub.instructor).pw_uid and mode(course) == 0o755
    learner, other = class_hub.learners
    for command in (["mv", str(course), str(exchange / "stolen")], ["ls", str(class_hub.root / "state")],
                    ["ls", pwd.getpwnam(other).pw_dir], ["ls", pwd.getpwnam(class_hub.instructor).pw_dir]):
        assert as_user(learner, *command).returncode != 0, f"a learner could {' '.join(command)}"
    assert course.is_dir()


def test_the_shared_environment_runs_for_a_learner_and_holds_no_solution(class_hub):
    learner = class_hub.learners[0]
    venv = class_hub.root / "venv"
    ran = as_user(learner, str(venv / "bin" / "python"), "-c",
                  "import backprop_ref, nbgrader, jupyterhub; print(backprop_ref.__file__)")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith(str(venv)), "the course comes from its wheel in the shared venv, not a clone"
    # every notebook a learner can read in the demo's folder (but nbgrader's own test files): no solution,
    # no hidden test, no solutions/ folder
    found = as_user(learner, "grep", "-rlE", "--include=*.ipynb", "--exclude-dir=nbgrader", "BEGIN (SOLUTION|HIDDEN TESTS)",
                    str(class_hub.root))
    assert found.stdout == "", f"a learner can read solutions: {found.stdout[:500]}"
    assert all("Permission denied" in line for line in found.stderr.splitlines()), found.stderr  # the private folders
    assert found.stdout == "", f"a learner can read solutions: {found.stdout[:500]}"
    assert not as_user(learner, "find", str(class_hub.root), "-name", "solutions").stdout
    assert as_user(learner, "test", "-r", str(pwd.getpwnam(class_hub.instructor).pw_dir + "/backprop-course/solutions")).returncode


def test_a_learner_has_no_formgrader_and_the_instructor_has_it_framed_by_their_lab(class_hub):
    learner = class_hub.login(class_hub.learners[0])
    disabled = _disabled_extensions(learner)
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"} <= disabled
    assert "@jupyter/nbgrader:assignment-list" not in disabled, "learners fetch and submit from the Assignments tab"
    assert learner.get("/formgrader")[0] == 404
    teacher = class_hub.login(class_hub.instructor)
    assert not {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"} & _disabled_extensions(teacher)
    status, headers, _ = teacher.get("/formgrader/manage_assignments")
    assert status == 200 and "frame-ancestors 'self'" in headers.get("Content-Security-Policy", "")
    status, _, assignments = teacher.get("/formgrader/api/assignments")
    assert status == 200 and "01_one_weight" in assignments, "the formgrader works on the instructor's course folder"


def _disabled_extensions(session):
    """The JupyterLab extensions the user's server turns off (its page config)."""
    status, _, page = session.get("/lab")
    assert status == 200, page[:500]
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page,
                                  re.S).group(1))
    return set(config.get("disabledExtensions", []))


def test_stop_ends_every_process_and_removes_what_the_demo_made_and_is_idempotent(class_hub):
    users = [class_hub.instructor, *class_hub.learners]
    uids = {pwd.getpwnam(u).pw_uid for u in users}
    running = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _uid(p) in uids]
    assert running, "the two logins above left servers running"
    hub = int((class_hub.root / "state" / "launched.pid").read_text())
    stopped = class_hub.run("stop")
    assert "stopped" in stopped.stdout
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _uid(p) in uids], "a server outlived the hub"
    assert not _alive(hub), "the hub outlived stop"
    for user in users:
        with pytest.raises(KeyError):
            pwd.getpwnam(user)
    for name in ("home", "exchange", "state", "config"):
        assert not (class_hub.root / name).exists(), f"stop left {name}/"
    assert class_hub.run("stop").returncode == 0


def _uid(proc):
    try:
        return proc.stat().st_uid
    except OSError:
        return None


def _alive(pid):
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")
    except OSError:
        return False
