"""``backprop-course grade``: a whole class's submissions, in parallel, into nbgrader's gradebook.

Each submission (one student's folder, ``<submitted>/<student>/<assignment>/``, or a zip of it) goes
through the same preprocessors as ``nbgrader autograde`` (course/nbgrader_config.py: the learner's
cells in the sandbox, the verdicts here). Workers do everything but writing; this process alone
writes the gradebook, one submission at a time, then moves its autograded notebooks into place and
records its fingerprint in a ledger (``<autograded>/.backprop/ledger``). So:

- a rerun grades only what is new, changed, or was left unfinished (``--force``: everything again);
- a run killed at any point loses nothing: a submission is done only once its grades are committed,
  and hidden checks draw their seeds from the submission itself, so grading it again gives the same scores;
- a submission that cannot be read (invalid JSON, an empty notebook, another assignment's notebook,
  a missing notebook) scores 0 with the reason in every test cell, and the class goes on.
"""
import concurrent.futures
import contextlib
import ctypes
import fcntl
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import uuid
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from ..grading.autograde import METADATA_KEY, REJECTED, SourceNotebook
from ..sandbox.bubblewrap import SandboxUnavailable
from ..sandbox.edition import build_edition
from .course import CourseError

_WRITERS = ("SaveAutoGrades", "AssignLatePenalties")  # the pipeline's gradebook writers: this process does their work
_ZIP_LIMIT = 64 << 20  # bytes a notebook in a zip may unpack to


@dataclass
class Submission:
    student: str
    assignment: str
    folder: Path  # <submitted>/<student>/<assignment>
    notebooks: list  # the assignment's notebook names, from the gradebook
    fingerprint: str = ""
    result: dict = field(default_factory=dict)


def grade(course, assignment, workers=None, timeout=None, memory_mb=None, force=False, out=sys.stdout):
    """Grade every submission of ``assignment``; return the number that could not be graded (0: all done)."""
    # nbgrader with SQLAlchemy 2.1 warns on every submission it writes; the grades are right
    warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session")
    warnings.filterwarnings("ignore", module="nbformat")  # a student's notebook without cell ids: it is read as is
    course.check_assignment(assignment)
    workers = workers or os.cpu_count() or 1
    submitted, autograded = course.path("submitted"), course.path("autograded")
    if not submitted.is_dir():
        raise CourseError(f"no folder of submissions at {submitted} (give one with --submitted)")
    unpack_zips(submitted, assignment, out)
    students = sorted(p.parent.name for p in submitted.glob(f"*/{assignment}") if p.is_dir())
    if not students:
        raise CourseError(f"no submissions of {assignment} in {submitted}: expected {submitted}/<student>/"
                          f"{assignment}/*.ipynb, or zip files of them")
    if course.ensure_in_gradebook(assignment):
        print(f"added {assignment} to the gradebook", file=out)
    work = autograded / ".backprop"
    with _exclusive(work / "lock"):
        shutil.rmtree(work / "staging", ignore_errors=True)  # what a killed run left half done
        notebooks = _notebooks(course, assignment)
        identity = _grader_identity(course, assignment, notebooks)
        todo, unchanged = [], []
        for student in students:
            s = Submission(student, assignment, submitted / student / assignment, notebooks)
            s.fingerprint = _fingerprint(s.folder, identity)
            done = _ledger(work, s).exists() and json.loads(_ledger(work, s).read_text()).get("fingerprint") == s.fingerprint
            (unchanged if done and not force and (autograded / student / assignment).is_dir() else todo).append(s)
        print(f"{assignment}: {len(students)} submissions, {len(todo)} to grade, {len(unchanged)} unchanged", file=out)
        if not todo:
            return 0
        config = _worker_config(course, timeout, memory_mb, work)
        return _run(course, config, todo, work, workers, out)


def _run(course, config, todo, work, workers, out):
    from tqdm import tqdm

    failed = 0
    with _pool(config, work, workers) as pool, tqdm(total=len(todo), desc="grading", unit="submission", file=sys.stderr,
                                             disable=None) as bar:
        futures = {pool.submit(autograde_submission, s): s for s in todo}
        for future in concurrent.futures.as_completed(futures):
            s = futures[future]
            try:
                s.result = future.result()
            except SandboxUnavailable:
                raise  # nothing is graded without the sandbox
            except Exception as e:  # the grader's own failure, not the student's: left ungraded, said loudly
                failed += 1
                bar.write(f"{s.student}: could not be graded ({type(e).__name__}: {e}); run grade again once fixed", file=out)
                bar.update()
                continue
            record(course, config, s, work)
            reasons = "; ".join(sorted(set(s.result["reasons"])))
            bar.write(f"{s.student:20s} {s.result['score']:g}/{s.result['max_score']:g}" + (f"  ({reasons})" if reasons else ""),
                      file=out)
            bar.update()
    return failed


# ---------------------------------------------------------------------------------------------
# Workers: everything up to the gradebook.


_worker = {}  # the configuration, set once in each worker


def _worker_config(course, timeout, memory_mb, work):
    config = course.config
    config.SandboxedExecute.edition = str(build_edition(work / "edition"))  # once per run, for every sandbox
    if timeout is not None:
        config.SandboxedExecute.timeout = float(timeout)
    if memory_mb is not None:
        config.SandboxedExecute.memory_mb = int(memory_mb)
    return config


@contextlib.contextmanager
def _pool(config, work, workers):
    """Worker processes that die with this one (so does each sandbox, with its worker); one worker: in here."""
    if workers == 1:
        _start_worker(config, work, die_with_parent=False)
        yield _InProcess()
        return
    context = multiprocessing.get_context("fork")  # workers inherit the imports: no start-up per worker
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                                initargs=(config, work)) as pool:
        try:
            yield pool
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            raise


class _InProcess:
    def submit(self, fn, *args):
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except BaseException as e:
            future.set_exception(e)
        return future


def _start_worker(config, work, die_with_parent=True):
    if die_with_parent:
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before the line above
            os._exit(1)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _worker.update(config=config, staging=work / "staging")


def autograde_submission(s):
    """Sanitize and execute (the sandbox) each notebook of a submission into a staging folder, and work out what
    nbgrader's SaveAutoGrades would write for it; no gradebook writes."""
    config = _worker["config"]
    preprocessors = [p for p in list(config.Autograde.sanitize_preprocessors) + list(config.Autograde.autograde_preprocessors)
                     if p.__name__ not in _WRITERS]
    db_url = config.CourseDirectory.db_url
    staging = _worker["staging"] / f"{s.student}-{uuid.uuid4().hex[:8]}"
    _copy_files(s.folder, staging)
    source_files = Path(config.CourseDirectory.root) / config.CourseDirectory.source_directory / s.assignment
    _copy_files(source_files, staging, skip_notebooks=True)  # the instructor's data files, as nbgrader does
    reasons, grades = [], {}
    for name in s.notebooks:
        info = {"student": s.student, "assignment": s.assignment, "notebook": name, "db_url": db_url}
        resources = {"nbgrader": info, "metadata": {"path": str(staging)}, "unique_key": name, REJECTED: ""}
        nb, resources[REJECTED] = read_submitted(s.folder / f"{name}.ipynb", info)
        for preprocessor in preprocessors:
            nb, resources = preprocessor(config=config)(nb, resources)
        rejected = nb.metadata.get(METADATA_KEY, {}).get("rejected")
        if rejected:
            reasons.append(rejected)
        grades[name] = auto_grades(nb)
        nbformat.write(nb, staging / f"{name}.ipynb")
    return {"staging": str(staging), "reasons": reasons, "grades": grades}


def auto_grades(nb):
    """What nbgrader's SaveAutoGrades writes for a notebook: {"scores": {cell: auto score}, "comments": {cell: auto
    comment}}, by nbgrader's own rules, so that one writer can record a whole submission at once."""
    from nbgrader import utils

    scores, comments = {}, {}
    for cell in nb.cells:
        name = cell.metadata.get("nbgrader", {}).get("grade_id")
        if utils.is_grade(cell):
            scores[name] = utils.determine_grade(cell)[0]
        if utils.is_solution(cell) or utils.is_task(cell):
            unchanged = cell.metadata.nbgrader.get("checksum") == utils.compute_checksum(cell)
            comments[name] = "No response." if unchanged and not utils.is_task(cell) else None
    return {"scores": scores, "comments": comments}


def read_submitted(path, info):
    """The submitted notebook, or a placeholder (the gradebook's cells, no answers) and why it cannot be graded."""
    if not path.exists():
        return _placeholder(info, f"{path.name} was not submitted"), f"{path.name} was not submitted"
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # not JSON, not a notebook: the student's file, described
        reason = f"{path.name} is not a notebook that Jupyter can open ({_first_line(e)})"
        return _placeholder(info, reason), reason
    return nb, ""


def _placeholder(info, reason):
    """A notebook of the gradebook's cells (the release version: no solutions), marked not graded."""
    source = SourceNotebook(info["db_url"], info["assignment"], info["notebook"])
    cells = [nbformat.v4.new_markdown_cell(f"**Not graded: {reason}.** Every part of this notebook scores 0.")]
    for name, kind, text, checksum in source.cells:
        new = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        cells.append(new(text, metadata=source.metadata(name, checksum)))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["backprop_placeholder"] = True
    return nb


def _first_line(e):
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def _copy_files(source, target, skip_notebooks=False):
    target.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if path.is_symlink() or ".ipynb_checkpoints" in relative.parts or (skip_notebooks and path.suffix == ".ipynb"):
            continue
        if path.is_dir():
            (target / relative).mkdir(parents=True, exist_ok=True)
        elif path.is_file() and not (path.suffix == ".ipynb" and path.parent == source):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative)


# ---------------------------------------------------------------------------------------------
# The one writer.


def record(course, config, s, work):
    """Write a graded submission to the gradebook in one transaction, then put its notebooks in place, then its
    ledger."""
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties
    from nbgrader.utils import parse_utc

    staging = Path(s.result["staging"])
    timestamp = course_timestamp(s.folder)
    try:
        kwargs = {"timestamp": parse_utc(timestamp)} if timestamp else {}
    except (ValueError, OverflowError):  # not a time nbgrader wrote: the submission counts as on time
        timestamp, kwargs = "", {}
    with Gradebook(course.db_url) as gb:
        gb.update_or_create_student(s.student)
        gb.update_or_create_submission(s.assignment, s.student, **kwargs)
        for name, found in s.result["grades"].items():
            notebook = gb.find_submission_notebook(name, s.assignment, s.student)
            for grade in notebook.grades:  # SaveAutoGrades' rule: a manual score stays, and asks for review
                if grade.name in found["scores"]:
                    grade.auto_score = found["scores"][grade.name]
                    grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
            for comment in notebook.comments:
                if comment.name in found["comments"]:
                    comment.auto_comment = found["comments"][comment.name]
        gb.db.commit()
    for name in s.notebooks:  # derived from the scores just written: recomputed if a run is cut short here
        info = {"student": s.student, "assignment": s.assignment, "notebook": name, "db_url": course.db_url}
        AssignLatePenalties(config=config)(nbformat.v4.new_notebook(), {"nbgrader": info})
    with Gradebook(course.db_url) as gb:
        submission = gb.find_submission(s.assignment, s.student)
        score, max_score = submission.score, submission.max_score
    if timestamp:
        (staging / "timestamp.txt").write_text(timestamp)
    final = course.path("autograded") / s.student / s.assignment
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        old = work / "staging" / f"old-{uuid.uuid4().hex[:8]}"
        final.rename(old)
        staging.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(final)
    s.result.update(score=score, max_score=max_score)
    _write_atomically(_ledger(work, s), json.dumps({"fingerprint": s.fingerprint, "score": score,
                                                     "max_score": max_score, "reasons": s.result["reasons"]}))


def course_timestamp(folder):
    path = Path(folder) / "timestamp.txt"
    return path.read_text().strip() if path.exists() else ""


def _ledger(work, s):
    return work / "ledger" / s.assignment / f"{s.student}.json"


def _write_atomically(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    os.replace(partial, path)


def _notebooks(course, assignment):
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gb:
        return sorted(n.name for n in gb.find_assignment(assignment).notebooks)


def _grader_identity(course, assignment, notebooks):
    """What the grades depend on besides the submission: the gradebook's cells and the grading code."""
    from .. import __version__

    digest = hashlib.sha256(__version__.encode())
    for name in notebooks:
        source = SourceNotebook(course.db_url, assignment, name)
        for cell in source.cells:
            digest.update(repr(cell).encode())
    for path in sorted((Path(__file__).resolve().parents[1] / "grading").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _fingerprint(folder, identity):
    digest = hashlib.sha256(identity.encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _exclusive(lock):
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CourseError(f"another backprop-course grade is writing to {lock.parent.parent}: wait for it to finish") from None
        yield


# ---------------------------------------------------------------------------------------------
# Zip files, as students upload them.


def unpack_zips(submitted, assignment, out):
    """Each <submitted>/<student>.zip (or <student>_<assignment>.zip) into <submitted>/<student>/<assignment>/,
    notebooks only, when the zip is newer than what was unpacked before."""
    for archive in sorted(submitted.glob("*.zip")):
        student = re.sub(rf"[-_ ]*{re.escape(assignment)}$", "", archive.stem)
        student = re.sub(r"[^A-Za-z0-9_.@-]", "_", student).strip("._") or "unnamed"
        target = submitted / student / assignment
        if target.exists() and target.stat().st_mtime >= archive.stat().st_mtime:
            continue
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        try:
            with zipfile.ZipFile(archive) as z:
                for member in z.infolist():
                    if (member.filename.endswith(".ipynb") and "__MACOSX" not in member.filename
                            and ".ipynb_checkpoints" not in member.filename and member.file_size <= _ZIP_LIMIT):
                        (target / Path(member.filename).name).write_bytes(z.read(member))
        except (zipfile.BadZipFile, OSError) as e:
            print(f"{archive.name}: not a zip file that can be read ({e}); {student} is graded as submitting nothing",
                  file=out)
        else:
            print(f"unpacked {archive.name} into {target}", file=out)
        uploaded = datetime.fromtimestamp(archive.stat().st_mtime, timezone.utc)
        (target / "timestamp.txt").write_text(uploaded.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
