"""A demo class hub on one machine: `make hub` starts it, `make hub-stop` stops it (both idempotent).

    python deploy/jupyterhub/hub.py start | stop | clean       (as root)

start: Unix users (an instructor and HUB_LEARNERS learners, homes at 0700 under HUB_ROOT/home); a shared
environment made from a Python every user can read, with the course installed from its wheel (no
solutions/ anywhere a learner can read); configurable-http-proxy from the npm registry; the exchange at 1777
with the course's folder made by the instructor; the instructor's course folder (solutions/, exercises/,
course/) in their home; per-role Jupyter config; JupyterHub on 127.0.0.1, its state folder at 0700. It
prints the URL and the accounts. stop: ends every process it started (the hub, the proxy, and the class's
users' servers and kernels, by pid), removes the users, their homes, the exchange and the state, and keeps
the installed software (venv/, proxy/) for the next start; clean removes that too.

Settings (environment): HUB_ROOT (/srv/backprop-hub), HUB_PORT (8000; the proxy's API and the hub take
the next two), HUB_LEARNERS (2), HUB_PREFIX (bpc-: the users are <prefix>instructor, <prefix>learner1, ...).
"""
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ROOT = Path(os.environ.get("HUB_ROOT", "/srv/backprop-hub"))
PORT = int(os.environ.get("HUB_PORT", "8000"))
PREFIX = os.environ.get("HUB_PREFIX", "bpc-")
LEARNERS = int(os.environ.get("HUB_LEARNERS", "2"))
# The servers' Python must be readable by every user (pyenv's, under root's home, is not).
BASE_PYTHON = os.environ.get("HUB_PYTHON", "/usr/bin/python3")
STATE, VENV, PROXY, EXCHANGE, HOMES = (ROOT / name for name in ("state", "venv", "proxy", "exchange", "home"))
COURSE_ID = "backprop-course"
START_TIMEOUT = 180  # seconds for the hub to answer: generous on a busy 2-core machine


class HubError(Exception):
    """What stops `make hub`: one sentence that says what to do."""


def main(argv):
    command = argv[0] if argv else ""
    if command not in ("start", "stop", "clean"):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        if os.geteuid() != 0:
            raise HubError("a class hub makes Unix users and runs their servers as them: run it as root (sudo make hub)")
        os.umask(0o022)  # what the demo installs is readable by the class; what is private gets its own mode
        return {"start": start, "stop": stop, "clean": clean}[command]()
    except HubError as e:
        print(f"hub {command}: {e}", file=sys.stderr)
        return 2


def instructor():
    return f"{PREFIX}instructor"


def learners():
    return [f"{PREFIX}learner{i}" for i in range(1, LEARNERS + 1)]


# start


def start():
    if hub_pid() is not None:
        print("The class hub is already running.")
        return announce()
    for tool in ("useradd", "userdel", "chpasswd", "npm", "node"):
        if shutil.which(tool) is None:
            raise HubError(f"it needs {tool}, which is not on PATH (Debian: apt-get install passwd nodejs npm)")
    STATE.mkdir(parents=True, exist_ok=True)
    ROOT.chmod(0o755)
    STATE.chmod(0o700)
    install()
    accounts = make_users()
    make_course_folders()
    launch()
    (STATE / "accounts.json").write_text(json.dumps(accounts, indent=1))
    (STATE / "accounts.json").chmod(0o600)
    return announce()


def install():
    """The shared environment (from BASE_PYTHON, readable by all) with the course's wheel, and the proxy."""
    if not os.access(BASE_PYTHON, os.X_OK) or subprocess.run([BASE_PYTHON, "-c", "import ensurepip, venv"],
                                                              capture_output=True).returncode:
        raise HubError(f"{BASE_PYTHON} cannot make a venv (Debian: apt-get install python3-venv), or set HUB_PYTHON "
                       f"to a Python outside any private home")
    wheels = ROOT / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)])
    wheel = next(wheels.glob("backprop_course-*.whl"))
    requirements = HERE / "requirements.txt"
    with zipfile.ZipFile(wheel) as archive:  # its contents, not the zip's bytes (they hold build times)
        contents = sorted(f"{i.filename} {i.CRC}" for i in archive.infolist())
    stamp = hashlib.sha256(requirements.read_bytes() + "\n".join(contents).encode()).hexdigest()
    marker = VENV / ".installed"
    if not (marker.exists() and marker.read_text() == stamp):
        if not (VENV / "bin" / "python").exists():
            run([BASE_PYTHON, "-m", "venv", str(VENV)])
            run([VENV / "bin" / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
        run([VENV / "bin" / "python", "-m", "pip", "install", "--quiet", "-r", str(requirements)])
        run([VENV / "bin" / "python", "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps", str(wheel)])
        run([VENV / "bin" / "python", "-m", "pip", "install", "--quiet", f"{wheel}[course]"])
        # JupyterLab's news pop-up would cover the lessons' outputs: off for everyone
        overrides = VENV / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
        overrides.parent.mkdir(parents=True, exist_ok=True)
        overrides.write_text(json.dumps({"@jupyterlab/apputils-extension:notification":
                                         {"fetchNews": "false", "checkForUpdates": False}}, indent=1))
        marker.write_text(stamp)
    if not (PROXY / "node_modules" / ".bin" / "configurable-http-proxy").exists():
        PROXY.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, PROXY / name)
        run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=PROXY)


def make_users():
    """The class's Unix users, each with a fresh password: {name: password}. Only users this demo made are
    ever changed or removed (state/users.json lists them before they exist)."""
    made = made_users()
    accounts = {}
    HOMES.mkdir(exist_ok=True)
    for name in [instructor(), *learners()]:
        if name not in made:
            if user_exists(name):
                raise HubError(f"a user {name} already exists and this demo did not make it: set HUB_PREFIX")
            made.append(name)
            (STATE / "users.json").write_text(json.dumps(made))
            run(["useradd", "--create-home", "--home-dir", str(HOMES / name), "--shell", "/bin/bash", "--user-group",
                 "-K", "HOME_MODE=0700", name])
        (HOMES / name).chmod(0o700)  # whatever useradd's defaults: no learner reads another's work
        accounts[name] = secrets.token_urlsafe(9)
        run(["chpasswd"], input=f"{name}:{accounts[name]}\n")
    return accounts


def make_course_folders():
    """The exchange (1777: anyone may add, no one may replace another's) with the course's folder made by the
    instructor; the instructor's course folder; the per-role Jupyter config."""
    teacher = pwd.getpwnam(instructor())
    EXCHANGE.mkdir(exist_ok=True)
    EXCHANGE.chmod(0o1777)
    course_exchange = EXCHANGE / COURSE_ID
    course_exchange.mkdir(exist_ok=True)
    os.chown(course_exchange, teacher.pw_uid, teacher.pw_gid)
    course_exchange.chmod(0o755)
    folder = HOMES / instructor() / "backprop-course"
    if not folder.exists():
        for name in ("solutions", "exercises"):
            shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        (folder / "course").mkdir()
        shutil.copy(REPO / "course" / "nbgrader_config.py", folder / "course")
        run(["chown", "-R", f"{teacher.pw_uid}:{teacher.pw_gid}", str(folder)])
    config = ROOT / "config"
    shutil.rmtree(config, ignore_errors=True)
    shutil.copytree(HERE / "config", config)


def launch():
    env = {"PATH": f"{VENV / 'bin'}:{Path(shutil.which('node')).parent}:/usr/local/bin:/usr/bin:/bin",
           "HUB_ROOT": str(ROOT), "HUB_PORT": str(PORT), "HUB_INSTRUCTOR": instructor(),
           "HUB_LEARNERS": ",".join(learners()), "LANG": "C.UTF-8"}
    with open(STATE / "hub.log", "ab") as log:
        hub = subprocess.Popen([str(VENV / "bin" / "jupyterhub"), "-f", str(HERE / "jupyterhub_config.py")],
                               cwd=STATE, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)  # its own process group: stop ends it by pid
    (STATE / "launched.pid").write_text(str(hub.pid))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/hub/login", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    tail = (STATE / "hub.log").read_text(errors="replace")[-2000:]
    stop()
    raise HubError(f"JupyterHub did not answer on 127.0.0.1:{PORT} within {START_TIMEOUT} s; its log ended:\n{tail}")


def announce():
    accounts = json.loads((STATE / "accounts.json").read_text())
    print(f"The class hub: http://localhost:{PORT}/ (on 127.0.0.1 only; each user's server at "
          f"http://<user>.localhost:{PORT}/)")
    for name, password in accounts.items():
        print(f"  {'instructor' if name == instructor() else 'learner':10}  {name:20}  password {password}")
    print(f"The instructor's course folder is ~{instructor()}/backprop-course; stop the hub with `make hub-stop`.")
    return 0


# stop


def stop():
    """End every process the demo started, by pid, then remove what it made but the installed software."""
    ended = end(demo_pids())
    for name in reversed(made_users()):
        if user_exists(name):
            run(["userdel", "--remove", name], check=False)
    for path in (HOMES, EXCHANGE, ROOT / "config", ROOT / "wheels", STATE):
        shutil.rmtree(path, ignore_errors=True)
    print(f"The class hub is stopped ({ended} processes ended); {ROOT} keeps venv/ and proxy/ "
          f"(`make hub-clean` removes them).")
    return 0


def clean():
    stop()
    shutil.rmtree(ROOT, ignore_errors=True)
    print(f"Removed {ROOT}.")
    return 0


def demo_pids():
    """The hub, the proxy, and every process of the class's users."""
    pids = {pid for pid in (read_pid("launched.pid"), read_pid("hub.pid"), read_pid("proxy.pid")) if pid}
    uids = {pwd.getpwnam(name).pw_uid for name in made_users() if user_exists(name)}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid in uids:
                    pids.add(int(entry.name))
            except OSError:
                pass  # it ended meanwhile
    return pids


def end(pids, grace=20.0):
    """SIGTERM, then SIGKILL what is left after ``grace`` seconds; the number of processes that were alive."""
    alive = {pid for pid in pids if signal_pid(pid, signal.SIGTERM)}
    ended = len(alive)
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = {pid for pid in alive if signal_pid(pid, 0)}
    for pid in alive:
        signal_pid(pid, signal.SIGKILL)
    return ended


def hub_pid():
    """The pid of the running hub, or None."""
    pid = read_pid("launched.pid")
    if pid and signal_pid(pid, 0):
        return pid
    return None


# helpers


def read_pid(name):
    try:
        return int((STATE / name).read_text().strip())
    except (OSError, ValueError):
        return None


def signal_pid(pid, sig):
    """Send ``sig``; whether the process was there (a zombie counts as gone)."""
    try:
        if Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z"):
            return False
        os.kill(pid, sig)
        return True
    except (OSError, ValueError):
        return False


def made_users():
    try:
        return json.loads((STATE / "users.json").read_text())
    except (OSError, ValueError):
        return []


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def run(command, check=True, **kwargs):
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=900, **kwargs)
    if check and result.returncode:
        raise HubError(f"{' '.join(map(str, command))} failed ({result.returncode}): {(result.stderr or result.stdout)[-800:]}")
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
