"""`backprop-course collect` with two real Unix users (made here, removed after): each submits through
nbgrader's exchange as nbgrader submit does, the second also forges submissions in the first's name, and
the instructor's collect takes only what each learner owns, reports every forgery with its owner, leaves
it in the exchange, and writes the time the kernel recorded, not the one the learner claimed."""
import datetime
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from nbgrader.utils import parse_utc

import synthetic_class as synthetic
from backprop_ref.instructor.course import Course

pytestmark = pytest.mark.filterwarnings(r"ignore:Object of type <Submitted\w+> not in session")
COMMAND = [sys.executable, "-m", "backprop_ref.cli"]
CLAIMED = "2020-01-01 00:00:00.000000 UTC"  # what a learner writes in timestamp.txt to look on time
DUE = datetime.datetime(2021, 1, 1)


@pytest.fixture(scope="module")
def learners():
    """Two Unix users with no home and no login shell; removed after the tests."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("two real learners need Unix users, which only root can make (useradd): CI runs as root")
    names = [f"bpc{role}{secrets.token_hex(3)}" for role in ("ada", "ben")]
    try:
        for name in names:
            subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True,
                           capture_output=True, timeout=60)
        yield names
    finally:
        for name in names:
            subprocess.run(["userdel", name], capture_output=True, timeout=60)


def as_user(user, script, cwd):
    """Run a shell script as ``user`` (their rights only), as a learner's terminal would."""
    result = subprocess.run(["runuser", "-u", user, "--", "sh", "-ec", script], cwd=cwd, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, f"{user}: {script}\n{result.stderr}"


@pytest.fixture(scope="module")
def collected(learners, tmp_path_factory, bubblewrap):
    """A class where ada submits her right answer, ben his wrong one, and ben forges in ada's name."""
    ada, ben = learners
    # The exchange lies where the learners can reach it (pytest's own folders are the instructor's, 0700).
    base = Path(tempfile.mkdtemp(prefix="backprop-exchange-"))
    base.chmod(0o755)
    exchange = base / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)
    course = tmp_path_factory.mktemp("course")
    env = dict(os.environ, BACKPROP_EXCHANGE=str(exchange))
    instructor = Course(synthetic.ROOT, submitted=course / "submitted", db=course / "gradebook.db")
    instructor.config.Exchange.root = str(exchange)
    instructor.ensure_in_gradebook(synthetic.ASSIGNMENT)
    with Gradebook(instructor.db_url) as gb:
        gb.update_or_create_assignment(synthetic.ASSIGNMENT, duedate=DUE)
    released = instructor.api().release_assignment(synthetic.ASSIGNMENT)
    assert released["success"], released.get("log", "") + released.get("error", "")
    inbound = exchange / "backprop-course" / "inbound"

    answers = {ada: synthetic.notebook(), ben: synthetic.notebook(grad=synthetic.WRONG_GRAD)}
    for user, text in answers.items():
        home = base / user
        home.mkdir()
        (home / synthetic.NOTEBOOK).write_text(text)
        uid = pwd.getpwnam(user).pw_uid
        os.chown(home, uid, uid)
        os.chown(home / synthetic.NOTEBOOK, uid, uid)
        home.chmod(0o700)

    def submit(user, name, *extra):
        """What nbgrader submit does, by hand: a folder in inbound/, the notebook and timestamp.txt."""
        folder = inbound / f"{name}+{synthetic.ASSIGNMENT}+2030-01-01 00:00:00.000000 UTC+{secrets.token_hex(8)}"
        as_user(user, f'mkdir "{folder}"; cp {synthetic.NOTEBOOK} "{folder}/"; echo "{CLAIMED}" > "{folder}/timestamp.txt"'
                + "".join(f"; {command.format(folder=folder)}" for command in extra), cwd=base / user)
        return folder

    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    genuine = {ada: submit(ada, ada), ben: submit(ben, ben)}
    after = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    forged = {
        "in ada's name": submit(ben, ada),
        "a link to the instructor's notebook": submit(ben, ben, f'ln -s "{synthetic.RELEASE}" "{{folder}}/solution.ipynb"'),
        "no such user": submit(ben, "nobody-of-this-name"),
        "not nbgrader's name": submit(ben, "x"),
    }
    as_user(ben, f'mkdir "{inbound}/{ada}+{synthetic.ASSIGNMENT}+garbage"', cwd=base / ben)
    result = subprocess.run(COMMAND + ["collect", synthetic.ASSIGNMENT, "--course", str(synthetic.ROOT),
                                       "--submitted", str(course / "submitted"), "--db", str(course / "gradebook.db")],
                            env=env, capture_output=True, text=True, timeout=300)
    yield dict(result=result, learners=learners, genuine=genuine, forged=forged, inbound=inbound, course=course,
               env=env, window=(before, after))
    shutil.rmtree(base, ignore_errors=True)


def test_forged_submissions_are_refused_reported_with_their_owner_and_left_in_the_exchange(collected):
    result, (ada, ben) = collected["result"], collected["learners"]
    assert result.returncode == 1, "a refused submission gives status 1\n" + result.stdout + result.stderr
    refused = [line for line in result.stdout.splitlines() if line.startswith("refused ")]
    for why, folder in collected["forged"].items():
        lines = [line for line in refused if str(folder) in line]
        assert len(lines) == 1, f"the forgery ({why}) is not reported once:\n{result.stdout}"
        assert folder.is_dir(), f"the forgery ({why}) must stay in the exchange for the instructor to look at"
    assert f"it names {ada} but it is owned by {ben}" in result.stdout
    assert "solution.ipynb is a symbolic link" in result.stdout
    assert "there is no Unix user nobody-of-this-name" in result.stdout
    assert f"{ada}+{synthetic.ASSIGNMENT}+garbage" in result.stdout  # a name nbgrader cannot parse is no crash
    assert sorted(p.name for p in (collected["course"] / "submitted").iterdir()) == sorted([ada, ben])
    assert not list((collected["course"] / "submitted").rglob("solution.ipynb"))


def test_each_learner_s_own_submission_is_collected_with_the_kernel_s_time_not_the_claimed_one(collected):
    before, after = collected["window"]
    for user in collected["learners"]:
        stamp = parse_utc((collected["course"] / "submitted" / user / synthetic.ASSIGNMENT / "timestamp.txt").read_text())
        # the kernel's clock for ctime is coarse (a tick behind time.time()): a second of slack, not a timing
        assert before - datetime.timedelta(seconds=1) <= stamp <= after + datetime.timedelta(seconds=1), stamp


def test_the_real_submissions_are_graded_and_late_by_the_kernel_s_time(collected):
    ada, ben = collected["learners"]
    course = collected["course"]
    grade = subprocess.run(COMMAND + ["grade", synthetic.ASSIGNMENT, "--course", str(synthetic.ROOT), "--workers", "2",
                                      "--submitted", str(course / "submitted"), "--autograded", str(course / "autograded"),
                                      "--db", str(course / "gradebook.db")],
                           env=collected["env"], capture_output=True, text=True, timeout=600)
    assert grade.returncode == 0, grade.stdout + grade.stderr
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submissions = {s.student.id: s for s in gb.find_assignment(synthetic.ASSIGNMENT).submissions}
        assert {name: s.score for name, s in submissions.items()} == {ada: 4.0, ben: 2.0}
        # due in 2021, claimed 2020, submitted now: late, as the kernel's time says
        assert all(s.total_seconds_late > 0 for s in submissions.values())


def test_a_second_collect_takes_nothing_new_and_still_refuses_the_forgeries(collected):
    course = collected["course"]
    stamp = (course / "submitted" / collected["learners"][0] / synthetic.ASSIGNMENT / "timestamp.txt").read_text()
    again = subprocess.run(COMMAND + ["collect", synthetic.ASSIGNMENT, "--course", str(synthetic.ROOT),
                                      "--submitted", str(course / "submitted"), "--db", str(course / "gradebook.db")],
                           env=collected["env"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "nothing new to collect" in again.stdout, again.stdout + again.stderr
    assert sum(line.startswith("refused ") for line in again.stdout.splitlines()) == len(collected["forged"]) + 1
    assert (course / "submitted" / collected["learners"][0] / synthetic.ASSIGNMENT / "timestamp.txt").read_text() == stamp


def test_nbgrader_s_own_collect_follows_the_rule_too(collected, tmp_path):
    """`nbgrader collect` and the formgrader's Collect button run nbgrader's API on the course's configuration."""
    ada, ben = collected["learners"]
    course = Course(synthetic.ROOT, submitted=tmp_path / "submitted", db=collected["course"] / "gradebook.db")
    course.config.Exchange.root = collected["env"]["BACKPROP_EXCHANGE"]
    result = course.api().collect(synthetic.ASSIGNMENT)
    assert result["success"], result
    assert sorted(p.name for p in (tmp_path / "submitted").iterdir()) == sorted([ada, ben])
    notebook = (tmp_path / "submitted" / ada / synthetic.ASSIGNMENT / synthetic.NOTEBOOK).read_text()
    assert notebook == (collected["genuine"][ada] / synthetic.NOTEBOOK).read_text(), "ada's is her own, not ben's forgery"


def test_a_submission_that_changes_while_it_is_copied_is_refused_and_the_earlier_copy_kept(tmp_path, monkeypatch):
    """The checks run before the copy; a learner who swaps a file for a link in between is caught after it."""
    from backprop_ref.instructor import collect as module

    exchange = tmp_path / "exchange"
    exchange.mkdir()
    course = Course(synthetic.ROOT, submitted=tmp_path / "submitted", db=tmp_path / "gradebook.db")
    course.config.Exchange.root = str(exchange)
    course.config.ExchangeCollect.check_owner = False  # one Unix user here: the race, not the owner, is tested
    course.ensure_in_gradebook(synthetic.ASSIGNMENT)
    assert course.api().release_assignment(synthetic.ASSIGNMENT)["success"]
    inbound = exchange / "backprop-course" / "inbound"

    def submit(stamp, text):
        folder = inbound / f"ada+{synthetic.ASSIGNMENT}+{stamp}+{secrets.token_hex(8)}"
        folder.mkdir()
        (folder / synthetic.NOTEBOOK).write_text(text)
        return folder

    submit("2030-01-01 00:00:00.000000 UTC", synthetic.notebook())
    monkeypatch.setenv("BACKPROP_EXCHANGE", str(exchange))
    first = module.collect(course, synthetic.ASSIGNMENT, sys.stdout)
    assert first == []
    kept = tmp_path / "submitted" / "ada" / synthetic.ASSIGNMENT
    before = {p.name: p.read_bytes() for p in kept.iterdir()}

    later = submit("2030-01-02 00:00:00.000000 UTC", synthetic.notebook(grad=synthetic.WRONG_GRAD))
    copytree = shutil.copytree

    def copy_then_swap(src, dst, **kwargs):
        copied = copytree(src, dst, **kwargs)
        (Path(src) / synthetic.NOTEBOOK).unlink()
        (Path(src) / synthetic.NOTEBOOK).symlink_to(synthetic.RELEASE)
        return copied

    monkeypatch.setattr(module.shutil, "copytree", copy_then_swap)
    refused = module.collect(course, synthetic.ASSIGNMENT, sys.stdout)
    assert [s.folder for s in refused] == [later] and "changed while it was collected" in refused[0].refused
    assert {p.name: p.read_bytes() for p in kept.iterdir()} == before, "the earlier collected copy is intact"
    assert not list(kept.parent.glob(".*")), "no half-made copy is left beside it"
