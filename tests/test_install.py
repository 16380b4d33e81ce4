"""A learner who installs the course with pip, not a clone: the wheel carries the lessons (the learner
notebooks of exercises/, byte for byte, and the syllabus) and never the solutions; installed in a fresh
virtual environment, `backprop-course lab FOLDER` copies every lesson into FOLDER and starts JupyterLab on
a syllabus that links those copies, printing a URL that opens it; the instructor's commands say in one
sentence that they need a clone.

The wheel is built from a copy of the working tree (the files git does not ignore) in a temporary folder,
offline (--no-build-isolation: this environment's setuptools, which the test extra asks for); the virtual environment gets it with
--no-deps, and finds the dependencies in this environment's site-packages through a .pth file (a venv
made from this one with --system-site-packages would see the system's packages, not these).
"""
import importlib.metadata
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest brings tomli
    import tomli as tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
OFFLINE = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


# Without git (a source tree from an archive): everything but what .gitignore names.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "my-work", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                    ".hypothesis", ".ipynb_checkpoints", "gradebook.db", "grading.key", "submitted",
                                    "autograded", "feedback", "reports")


def _working_tree(destination):
    """Copy the files of the working tree that git does not ignore (what a fresh clone would hold)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, timeout=60) if shutil.which("git") else None
    if listed is None or listed.returncode != 0:
        shutil.copytree(REPO, destination, ignore=NOT_SOURCE, dirs_exist_ok=True)
        return
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _run(command, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 300)
    return subprocess.run(command, **kwargs)


def _build_requirements_unmet():
    """What pyproject's [build-system] requires that this environment lacks, one phrase each."""
    unmet = []
    for line in tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]:
        wanted = Requirement(line)
        try:
            have = importlib.metadata.version(wanted.name)
        except importlib.metadata.PackageNotFoundError:
            unmet.append(f"{wanted} (not installed)")
            continue
        if not wanted.specifier.contains(have, prereleases=True):
            unmet.append(f"{wanted} (this environment has {wanted.name} {have})")
    return unmet


def test_the_test_extra_installs_what_the_offline_wheel_build_needs():
    """A newcomer's `make venv` (Python 3.11's venv: setuptools 65.5) must give the build backend that
    [build-system] asks for, since the wheel below is built without build isolation (offline)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    test_extra = {canonicalize_name(Requirement(r).name): Requirement(r) for r in project["project"]["optional-dependencies"]["test"]}
    for line in project["build-system"]["requires"]:
        wanted = Requirement(line)
        listed = test_extra.get(canonicalize_name(wanted.name))
        assert listed is not None, f"the test extra should list {wanted} ([build-system] requires it)"
        assert listed.specifier == wanted.specifier, f"the test extra asks for {listed}, [build-system] for {wanted}"
    assert not _build_requirements_unmet(), f"this environment cannot build the wheel offline: {_build_requirements_unmet()}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the wheel, the source copy it was built from, the venv's bin folder, an environment for commands)."""
    tmp = tmp_path_factory.mktemp("pip-install")
    source, dist, venv = tmp / "source", tmp / "dist", tmp / "venv"
    unmet = _build_requirements_unmet()
    assert not unmet, (f"the wheel is built offline with this environment's build backend, and it lacks "
                       f"{', '.join(unmet)}: `make venv` installs it (the test extra)")
    _working_tree(source)
    env = dict(os.environ, PIP_CACHE_DIR=str(tmp / "pip-cache"), **OFFLINE)
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dist),
                  str(source)], cwd=source, env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = dist.glob("backprop_course-*.whl")

    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "backprop-course-test-deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    done = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", str(wheel)], env=env)
    assert done.returncode == 0, done.stdout + done.stderr

    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHONPATH"))}
    user = tmp / "user"
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        run_env[name] = str(user / name.lower())
    run_env["HOME"] = str(user / "home")
    # the dependencies' commands (nbgrader runs alembic) are this environment's, as their packages are
    run_env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), run_env.get("PATH", "")])
    run_env["JUPYTER_PATH"] = os.path.join(sys.prefix, "share", "jupyter")  # and their data (nbconvert's templates)
    where = _run([str(python), "-c", "import backprop_ref; print(backprop_ref.__file__)"], env=run_env, cwd=tmp)
    assert where.stdout.startswith(purelib), f"backprop_ref should come from the wheel, not {where.stdout}{where.stderr}"
    return wheel, source, venv / "bin", run_env


def test_the_wheel_holds_every_lesson_and_the_syllabus_and_no_solution(installed):
    wheel, source, _, _ = installed
    lessons = sorted((source / "exercises").glob("*/*.ipynb"))
    assert len(lessons) >= 7
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        packaged = {n for n in names if n.startswith("backprop_ref/lessons/")}
        expected = {f"backprop_ref/lessons/{p.relative_to(source / 'exercises').as_posix()}" for p in lessons}
        assert packaged == expected | {"backprop_ref/lessons/index.ipynb"}, "the wheel must carry exactly the lessons and the syllabus"
        for path in lessons:
            name = f"backprop_ref/lessons/{path.relative_to(source / 'exercises').as_posix()}"
            assert archive.read(name) == path.read_bytes(), f"{name} differs from exercises/"
        assert archive.read("backprop_ref/lessons/index.ipynb") == (source / "course" / "index.ipynb").read_bytes()

        solutions = {p.read_bytes() for p in (source / "solutions").glob("*/*.ipynb")}
        assert solutions, "the source copy should hold solutions/, to show they stay out"
        for name in names:
            assert "solutions" not in name.split("/"), f"{name}: the instructor's notebooks must not be in the wheel"
            data = archive.read(name)
            assert data not in solutions, f"{name} is a solution notebook"
            for marker in (b"BEGIN SOLUTION", b"BEGIN HIDDEN TESTS"):
                assert marker not in data, f"{name} holds {marker.decode()!r}"


def test_installed_workspace_copies_every_lesson_with_a_syllabus_that_links_them(installed, tmp_path):
    _, source, bin_dir, env = installed
    work = tmp_path / "my lessons"  # a space, as in many home folders
    result = _run([str(bin_dir / "backprop-course"), "workspace", str(work)], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lessons = sorted((source / "exercises").glob("*/*.ipynb"))
    for path in lessons:
        copy = work / path.relative_to(source / "exercises")
        assert copy.read_bytes() == path.read_bytes(), f"{copy} is not the lesson"
    syllabus = json.loads((work / "syllabus.ipynb").read_text())
    links = re.findall(r"\]\(([^)]+\.ipynb)\)", "".join("".join(c["source"]) for c in syllabus["cells"]))
    assert links == [p.relative_to(source / "exercises").as_posix() for p in lessons], \
        "the syllabus in the work folder must link every lesson's copy in that folder, in order"

    answered = work / lessons[0].relative_to(source / "exercises")
    answered.write_text(answered.read_text().replace("raise NotImplementedError()", "return 42"))
    again = _run([str(bin_dir / "backprop-course"), "workspace", str(work)], env=env, cwd=tmp_path)
    assert again.returncode == 0 and "already" in again.stdout, again.stdout + again.stderr
    assert "return 42" in answered.read_text(), "a second run must never overwrite a learner's copy"


@pytest.mark.parametrize("command", ["build", "generate", "collect 01_one_weight", "grade 01_one_weight", "feedback 01_one_weight", "report"])
def test_installed_instructor_commands_outside_a_course_folder_say_so_in_one_sentence(installed, tmp_path, command):
    _, _, bin_dir, env = installed
    result = _run([str(bin_dir / "backprop-course"), *command.split()], env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "no course folder" in result.stderr and "--course" in result.stderr, result.stderr
    named = _run([str(bin_dir / "backprop-course"), *command.split(), "--course", str(tmp_path)], env=env, cwd=tmp_path)
    assert named.returncode == 2 and "is not a course folder" in named.stderr, named.stdout + named.stderr


def test_an_instructor_grades_a_class_in_a_course_folder_anywhere_with_the_wheel(installed, tmp_path, bubblewrap):
    """The course installed from its wheel (no clone beside it) and a course folder elsewhere, as on a hub: the
    commands find the folder they are run in, or the one --course names, and keep everything there."""
    from instructor import synthetic_class as synthetic

    _, source, bin_dir, env = installed
    folder = tmp_path / "class of 2027"
    for part in ("solutions", "course"):
        shutil.copytree(source / part, folder / part)
    answers = {"ada": synthetic.notebook(), "ben": synthetic.notebook(grad=synthetic.WRONG_GRAD)}
    for student, text in answers.items():
        target = folder / "course" / "submitted" / student / synthetic.ASSIGNMENT / synthetic.NOTEBOOK
        target.parent.mkdir(parents=True)
        target.write_text(text)
    command = str(bin_dir / "backprop-course")

    graded = _run([command, "grade", synthetic.ASSIGNMENT, "--workers", "1"], env=env, cwd=folder / "course", timeout=900)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{folder / 'course' / 'gradebook.db'}") as gb:
        scores = {s.student.id: s.score for s in gb.find_assignment(synthetic.ASSIGNMENT).submissions}
    assert scores == {"ada": 4.0, "ben": 2.0}, graded.stdout
    assert (folder / "course" / "grading.key").is_file(), "the hidden checks' key belongs to the course folder"

    for step in (["feedback", synthetic.ASSIGNMENT], ["report"], ["build", synthetic.ASSIGNMENT]):
        done = _run([command, *step, "--course", str(folder)], env=env, cwd=tmp_path, timeout=600)
        assert done.returncode == 0, f"{step}: {done.stdout}{done.stderr}"
    pages = {p.parts[-3]: p.read_text() for p in (folder / "course" / "feedback").rglob("*.html")}
    assert sorted(pages) == ["ada", "ben"] and "Score: 2.0 / 4.0" in pages["ben"] and "HIDDEN TESTS" not in pages["ben"]
    assert "ben" in (folder / "course" / "reports" / "grades.csv").read_text()
    built = folder / "exercises" / synthetic.ASSIGNMENT / synthetic.NOTEBOOK
    assert built.read_bytes() == (source / "exercises" / synthetic.ASSIGNMENT / synthetic.NOTEBOOK).read_bytes()
    said = "".join(r.stdout + r.stderr for r in (graded, done))
    assert str(REPO / "solutions") not in said and str(REPO / "course") not in said, "nothing may come from this clone"


def test_installed_lab_runs_jupyterlab_of_this_environment_on_the_work_folder(installed, tmp_path):
    _, _, bin_dir, env = installed
    work = tmp_path / "work"
    result = _run([str(bin_dir / "backprop-course"), "lab", str(work), "--print-command", "--no-browser"],
                  env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    command = shlex.split(result.stdout.strip().splitlines()[-1])
    assert command[:3] == [str(bin_dir / "python"), "-m", "jupyterlab"], command
    assert f"--ServerApp.root_dir={work}" in command and "--LabApp.default_url=/lab/tree/syllabus.ipynb" in command
    assert command[-1] == "--no-browser", "options the command does not know go to jupyter lab"
    assert len(list(work.glob("*/*.ipynb"))) >= 7 and (work / "syllabus.ipynb").is_file()


def _wait_for_url(process, log, seconds):
    """The URL JupyterLab prints for a person to open (on a machine without a browser)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        found = re.search(r"http://127\.0\.0\.1:(\d+)(/[^\s?]*)\?token=", text)
        if found:
            return int(found.group(1)), found.group(2), text
        if process.poll() is not None:
            pytest.fail(f"backprop-course lab exited with {process.returncode} before printing a URL:\n{text[-3000:]}")
        time.sleep(0.25)
    pytest.fail(f"backprop-course lab printed no URL within {seconds} s:\n{log.read_text(errors='replace')[-3000:]}")


def _wait_for_port(process, log, port, seconds):
    """Jupyter Server prints its URL before its event loop binds the port: wait until the port accepts."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            pass
        if process.poll() is not None:
            pytest.fail(f"backprop-course lab exited with {process.returncode} after printing its URL:\n"
                        f"{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.25)
    pytest.fail(f"port {port} took no connection within {seconds} s:\n{log.read_text(errors='replace')[-3000:]}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the session this test started
            process.wait(timeout=30)


def test_installed_lab_prints_a_url_that_opens_the_syllabus(installed, tmp_path):
    """A real JupyterLab on loopback, as on a machine without a browser: the URL it prints is the syllabus's,
    and so is where / sends a browser."""
    _, _, bin_dir, env = installed
    work, log, token = tmp_path / "work", tmp_path / "lab.log", secrets.token_hex(16)
    command = [str(bin_dir / "backprop-course"), "lab", str(work), "--no-browser", "--ServerApp.ip=127.0.0.1",
               "--ServerApp.port=0", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               "--ServerApp.terminals_enabled=False"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=dict(env, PYTHONUNBUFFERED="1"), stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        port, path, text = _wait_for_url(process, log, seconds=180)
        assert path == "/lab/tree/syllabus.ipynb", f"the printed URL opens {path}, not the syllabus:\n{text[-2000:]}"
        _wait_for_port(process, log, port, seconds=120)
        base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
        with urllib.request.urlopen(urllib.request.Request(f"{base}{path}", headers=auth), timeout=60) as page:
            html = page.read().decode()
        assert re.search(r'"treePath": *"syllabus\.ipynb"', html), "JupyterLab's page should open syllabus.ipynb"
        with urllib.request.urlopen(urllib.request.Request(f"{base}/api/contents/syllabus.ipynb?content=0",
                                                           headers=auth), timeout=60) as answer:
            assert json.loads(answer.read())["type"] == "notebook"
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(urllib.request.Request(f"{base}/", headers=auth), timeout=60)
        assert redirect.value.code in (301, 302) and redirect.value.headers["Location"].startswith(path)
    finally:
        _stop(process)
