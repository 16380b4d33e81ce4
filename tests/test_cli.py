"""The learner's side of `backprop-course` in a clone: `lab` (what `make lab` runs) copies the lessons into
my-work/ and opens course/index.ipynb, whose links lead into those copies, at a URL that is the syllabus's;
elsewhere it writes a syllabus into the work folder. And every command ends quietly when its reader stops
early (`backprop-course exercises | head`)."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backprop_ref import cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def clone(tmp_path, monkeypatch):
    """A clone's layout in a temporary folder (the lessons, the syllabus, the course's configuration), as the
    command sees it: so that my-work/ is made there, not in this repository."""
    root = tmp_path / "clone"
    shutil.copytree(REPO / "exercises", root / "exercises")
    (root / "course").mkdir()
    shutil.copy(REPO / "course" / "index.ipynb", root / "course" / "index.ipynb")
    (root / "course" / "nbgrader_config.py").write_text("c = get_config()  # noqa: F821\n")
    (root / "pyproject.toml").write_text("")
    monkeypatch.setattr(cli, "ROOT", root)
    monkeypatch.setattr(cli, "COURSE_DIR", root / "course")
    return root


def links(notebook):
    cells = json.loads(Path(notebook).read_text())["cells"]
    return re.findall(r"\]\(([^)]+\.ipynb)\)", "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown"))


def lab(capsys, *args):
    assert cli.main(["lab", *args, "--print-command"]) == 0
    return shlex.split(capsys.readouterr().out.strip().splitlines()[-1])


def test_lab_in_a_clone_fills_my_work_and_opens_the_course_syllabus_at_its_url(clone, capsys, monkeypatch):
    monkeypatch.chdir(clone / "course")  # the default folder does not depend on where the command runs
    command = lab(capsys)
    lessons = sorted((clone / "exercises").glob("*/*.ipynb"))
    for path in lessons:
        assert (clone / "my-work" / path.relative_to(clone / "exercises")).read_bytes() == path.read_bytes()
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={clone}" in command, "the formgrader needs the course under JupyterLab's root"
    assert "--LabApp.default_url=/lab/tree/course/index.ipynb" in command, command
    syllabus = clone / "course" / "index.ipynb"
    targets = [(syllabus.parent / link).resolve() for link in links(syllabus)]
    assert targets == [(clone / "my-work" / p.relative_to(clone / "exercises")).resolve() for p in lessons], \
        "course/index.ipynb must link every lesson's copy in my-work/, in order"
    assert not (clone / "my-work" / cli.SYLLABUS).exists()


def test_lab_elsewhere_writes_a_syllabus_linking_the_copies_and_keeps_the_learners_files(clone, tmp_path, capsys):
    work = tmp_path / "elsewhere"
    command = lab(capsys, str(work), "--no-browser")
    assert f"--ServerApp.root_dir={work}" in command and "--LabApp.default_url=/lab/tree/syllabus.ipynb" in command
    assert command[-1] == "--no-browser"
    lessons = [p.relative_to(clone / "exercises").as_posix() for p in sorted((clone / "exercises").glob("*/*.ipynb"))]
    assert links(work / cli.SYLLABUS) == lessons

    first = work / lessons[0]
    first.write_text(first.read_text().replace("raise NotImplementedError()", "return 42"))
    (work / cli.SYLLABUS).write_text((work / cli.SYLLABUS).read_text().replace("Part 1", "Part 1 (my notes)"))
    lab(capsys, str(work))
    assert "return 42" in first.read_text() and "my notes" in (work / cli.SYLLABUS).read_text()


def test_lab_hands_jupyter_the_course_configuration_in_a_clone(clone, capsys, monkeypatch):
    """Without --print-command the command becomes JupyterLab (exec), with the course's nbgrader
    configuration on JUPYTER_CONFIG_PATH for the formgrader, as `make lab` had it."""
    started = {}

    def execve(path, argv, env):
        started.update(path=path, argv=argv, env=env)
        raise SystemExit(0)

    monkeypatch.setattr(cli.os, "execve", execve)
    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    with pytest.raises(SystemExit):
        cli.main(["lab"])
    assert started["path"] == sys.executable and started["argv"][:3] == [sys.executable, "-m", "jupyterlab"]
    assert started["env"]["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0] == str(clone / "course")


def test_make_lab_runs_backprop_course_lab():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "-n", "lab"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert any(re.fullmatch(r"\S*/backprop-course lab *", line) for line in dry.stdout.splitlines()), \
        f"`make lab` should be the learners' one command:\n{dry.stdout}"


def run_into_a_closed_pipe(*args, cwd=None):
    """Run the command with its stdout a pipe whose reader has already gone (as `| head` after its lines)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "backprop_ref.cli", *args], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=300, cwd=cwd)
    finally:
        os.close(write)


@pytest.mark.parametrize("args", [["exercises"], ["--help"], ["workspace", "{tmp}/work"],
                                  ["lab", "{tmp}/work", "--print-command"]], ids=["exercises", "help", "workspace", "lab"])
def test_a_reader_that_stops_early_ends_the_command_quietly(args, tmp_path):
    result = run_into_a_closed_pipe(*[a.format(tmp=tmp_path) for a in args], cwd=tmp_path)
    assert result.stderr == "", f"no traceback, no 'Exception ignored': {result.stderr}"
    # 141 as for a program that SIGPIPE ended (`yes | head`); argparse's help already ignores a closed pipe.
    assert result.returncode == (0 if args == ["--help"] else cli.SIGPIPE_STATUS)
