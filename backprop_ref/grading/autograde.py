"""The trusted path: nbgrader's autograde with the learner's code in a sandbox and the verdicts out of its reach.

Two nbgrader preprocessors, configured in course/nbgrader_config.py (so ``nbgrader autograde``, the
formgrader's Autograde button and ``backprop-course grade`` all take this path):

- ``CheckSubmission`` (before nbgrader's OverwriteCells): puts back deleted test cells and marks a
  notebook that is empty or belongs to another assignment, so that every part scores 0 with that reason.
- ``SandboxedExecute`` (instead of nbgrader's Execute): runs every code cell of the learner's in the
  sandbox (backprop_ref.sandbox), in order. Each test cell runs here instead, with the instructor's
  source from the gradebook (never the submission's): its ``check`` draws the cases, calls the learner's
  functions through the sandbox's door, compares what comes back with float64 central differences of
  the reference, and writes the verdict as the cell's output, which nbgrader then scores (an error
  output scores 0). Nothing the learner's code does to its own process reaches this one.

Hidden checks draw their seeds from a key kept beside the gradebook (HMAC of the student, the cell and
the submission), so regrading the same submission gives the same score, and no learner can know them.
"""
import builtins
import contextlib
import hashlib
import hmac
import functools
import io
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Integer, Unicode

from ..sandbox.bubblewrap import COURSE, Limits, Sandbox, SandboxUnavailable, python_paths
from ..sandbox.edition import build_edition
from .core import GradingTimeout, LearnerProcessEnded, learner_code_elsewhere
from .grade import grade

METADATA_KEY = "backprop_grading"  # notebook metadata CheckSubmission writes (and clears first)
REJECTED = "backprop_rejected"  # resources key: why a submission cannot be graded, known before it is read


def pipeline():
    """nbgrader's autograde preprocessors with this module's in place: (sanitize, autograde) lists."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute, OverwriteCells

    sanitize = list(Autograde.class_traits()["sanitize_preprocessors"].default())
    sanitize.insert(sanitize.index(OverwriteCells), CheckSubmission)
    autograde = [SandboxedExecute if p is Execute else p for p in Autograde.class_traits()["autograde_preprocessors"].default()]
    return sanitize, autograde


def is_test_cell(cell):
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


class SourceNotebook:
    """The instructor's notebook as the gradebook holds it: its cells in order, what each is, its test cells."""

    def __init__(self, db_url, assignment, notebook):
        with Gradebook(db_url) as gb:
            source = gb.find_notebook(notebook, assignment)
            points = {c.name: c.max_score for c in source.grade_cells}
            solutions = {c.name for c in source.solution_cells}
            tasks = {c.name for c in source.task_cells}
            self.cells = [(c.name, c.cell_type, c.source, c.checksum) for c in source.source_cells]
            self.flags = {c.name: _flags(c.name, points, solutions, tasks, c.locked) for c in source.source_cells}
            self.tests = {name: text for name, kind, text, _ in self.cells
                          if name in points and name not in solutions and kind == "code"}
            self.db_url, self.id = db_url, source.id

    def metadata(self, name, checksum):
        """A cell's metadata as the gradebook has it: {"nbgrader": ...}."""
        return {"nbgrader": {**self.flags[name], "grade_id": name, "checksum": checksum, "schema_version": 3}}

    def others(self):
        """{(assignment, notebook): its cells' ids} for every other notebook of the gradebook."""
        with Gradebook(self.db_url) as gb:
            return {(n.assignment.name, n.name): {c.name for c in n.source_cells}
                    for a in gb.assignments for n in a.notebooks if n.id != self.id}


def _flags(name, points, solutions, tasks, locked):
    flags = {"grade": name in points, "solution": name in solutions, "locked": locked, "task": name in tasks}
    if name in points:
        flags["points"] = points[name]
    return flags


class CheckSubmission(NbGraderPreprocessor):
    """Make the notebook's nbgrader cells say what the gradebook says they are, put deleted test cells back,
    and say why when the notebook cannot be this assignment's at all.

    A cell's nbgrader flags come from the gradebook, never from the submission: a cell that claims an id
    the gradebook does not know loses its nbgrader metadata (it is the learner's own cell), and a test
    cell is a test cell even if its metadata was edited to call it an answer.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        source = SourceNotebook(info["db_url"], info["assignment"], info["notebook"])
        nb.metadata.pop(METADATA_KEY, None)  # only the grader writes it
        reason = resources.get(REJECTED) or _rejection(nb, source, info)
        for cell in nb.cells:
            name = _grade_id(cell)
            if name not in source.flags:  # the learner's own cell, or a duplicate DeduplicateIds emptied
                cell.metadata.pop("nbgrader", None)
            else:
                cell.metadata["nbgrader"].update(source.flags[name])
        if reason:
            nb.metadata[METADATA_KEY] = {"rejected": reason}
        _restore_test_cells(nb, source)
        return nb, resources


def _rejection(nb, source, info):
    """Why no part of the notebook can be graded, or ""."""
    if not any(c.cell_type == "code" and c.source.strip() for c in nb.cells if _grade_id(c) not in source.tests):
        return "the notebook has no code of yours: it is empty, or every code cell was deleted"
    ids = {_grade_id(c) for c in nb.cells if _grade_id(c)}
    if not ids or ids & set(source.flags):
        return ""
    for (assignment, notebook), theirs in source.others().items():
        if len(ids & theirs) > len(ids) / 2:
            return (f"this is the notebook {notebook}.ipynb of the assignment {assignment}, submitted as "
                    f"{info['notebook']}.ipynb of {info['assignment']}")
    return f"none of its cells are those of {info['notebook']}.ipynb of {info['assignment']}"


def _restore_test_cells(nb, source):
    """Every test cell of the source, once: a deleted one goes back after the cell that preceded it."""
    present = {_grade_id(c): i for i, c in enumerate(nb.cells) if _grade_id(c)}
    for k, (name, kind, text, checksum) in enumerate(source.cells):
        if name not in source.tests or name in present:
            continue
        earlier = [present[n] for n, *_ in source.cells[:k] if n in present]
        at = max(earlier) + 1 if earlier else len(nb.cells)
        nb.cells.insert(at, nbformat.v4.new_code_cell(text, metadata=source.metadata(name, checksum)))
        present = {_grade_id(c): i for i, c in enumerate(nb.cells) if _grade_id(c)}


class SandboxedExecute(NbGraderPreprocessor):
    """Run the learner's cells in the sandbox and the test cells here (see the module's docstring)."""

    timeout = Float(60.0, help="seconds a cell of the learner's code may run").tag(config=True)
    memory_mb = Integer(Limits.memory_mb, help="address space of each process in the sandbox (MB)").tag(config=True)
    processes = Integer(Limits.processes, help="processes and threads the sandbox may have").tag(config=True)
    cpu_seconds = Integer(Limits.cpu_seconds, help="CPU seconds of each process in the sandbox").tag(config=True)
    edition = Unicode("", help="a learner edition of backprop_ref built for this run (default: built once here)").tag(config=True)
    key_file = Unicode("", help="the secret for hidden checks' seeds (default: grading.key beside the gradebook)").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        source = SourceNotebook(info["db_url"], info["assignment"], info["notebook"])
        rejected = nb.metadata.get(METADATA_KEY, {}).get("rejected")
        seeds = _Seeds(self._key(info["db_url"]), info, nb)
        limits = Limits(memory_mb=self.memory_mb, processes=self.processes, cpu_seconds=self.cpu_seconds)
        with _submission_copy(resources.get("metadata", {}).get("path") or ".") as folder, \
                _LazySandbox(self.edition or shared_edition(), folder, limits, self.timeout,
                             self._course_folders(info["db_url"])) as sandbox:
            for count, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
                name = _grade_id(cell)
                if name in source.tests:  # the gradebook says it is a test cell, whatever the notebook says
                    outputs = ([_error("Not graded", rejected)] if rejected
                               else run_test_cell(source.tests[name], sandbox, seeds.for_cell(name)))
                elif rejected:
                    outputs = []
                else:
                    outputs = [_scrubbed(o) for o in sandbox.get().run_cell(cell.source, self.timeout)]
                cell.outputs = [nbformat.from_dict(o) for o in outputs]
                cell.execution_count = count
        return nb, resources

    def _key(self, db_url):
        path = Path(self.key_file) if self.key_file else _beside_gradebook(db_url, "grading.key")
        return grading_key(path)

    def _course_folders(self, db_url):
        """What the learner's code must never see: the course (solutions, submissions), the gradebook's folder
        and the key's."""
        folders = [_beside_gradebook(db_url, "grading.key").parent]
        if self.key_file:
            folders.append(Path(self.key_file).resolve().parent)
        if self.config.CourseDirectory.get("root"):
            folders.append(Path(self.config.CourseDirectory.root))
        return folders


def run_test_cell(source, sandbox, seeds):
    """Run a test cell's (trusted) source here, its learner names looked up in the sandbox; its outputs."""
    reports = []

    def check(exercise_id, implementation, part=None, hidden=False, seed=None, raises=True):
        if hidden and seed is None:
            seed = seeds()
        result = grade(exercise_id, implementation, part=part, hidden=hidden, seed=seed)
        if raises and not result.passed:
            raise AssertionError(str(result))
        reports.append(str(result))
        return result

    printed = io.StringIO()
    names = _LearnerNames(sandbox, {"check": check})
    try:
        with learner_code_elsewhere(), contextlib.redirect_stdout(printed):
            exec(compile(source, "<test cell>", "exec"), {"__builtins__": builtins}, names)
    except SandboxUnavailable:
        raise  # grading stops: it never goes on without the sandbox
    except AssertionError as e:
        return _stdout(printed.getvalue() + "".join(r + "\n" for r in reports)) + [_error("AssertionError", str(e))]
    except NameError as e:
        missing = getattr(e, "name", None) or str(e)
        return [_error("NameError", f"{missing} is not defined: no cell of your notebook defines it (was its answer "
                                    f"cell deleted or renamed, or did the cell fail to run?)")]
    except GradingTimeout:
        return [_error("TimeoutError", "your notebook's process stopped answering, and was stopped")]
    except LearnerProcessEnded as e:
        return [_error("SandboxError", f"your notebook's process {e}")]
    except Exception as e:  # a broken test cell (the instructor's): the part is not passed, and says why
        return [_error(type(e).__name__, str(e))]
    return _stdout(printed.getvalue() + "".join(r + "\n" for r in reports))


class _LearnerNames(dict):
    """A test cell's namespace: its own names first, then builtins, then the learner's, from the sandbox."""

    def __init__(self, sandbox, own):
        super().__init__(own)
        self.sandbox = sandbox

    def __missing__(self, name):
        if hasattr(builtins, name):
            raise KeyError(name)  # the lookup goes on to the builtins
        try:
            return self.sandbox.get().lookup(name)
        except NameError:
            raise KeyError(name) from None


class _Seeds:
    """Hidden checks' seeds: HMAC(key, student, assignment, notebook, cell, call, the notebook's code)."""

    def __init__(self, key, info, nb):
        code = "\0".join(c.source for c in nb.cells if c.cell_type == "code" and not is_test_cell(c))
        self.key = key
        self.base = "\0".join([info["student"], info["assignment"], info["notebook"],
                               hashlib.sha256(code.encode()).hexdigest()])

    def for_cell(self, name):
        calls = iter(range(1, 1000))

        def next_seed():
            message = f"{self.base}\0{name}\0{next(calls)}".encode()
            return int.from_bytes(hmac.new(self.key, message, hashlib.sha256).digest()[:8], "big") >> 1

        return next_seed


def grading_key(path):
    """The course's secret for hidden seeds, made (readable by its owner only) the first time, atomically:
    two graders starting at once agree on one key."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".grading-key-", delete=False) as f:
            f.write(secrets.token_hex(32))  # NamedTemporaryFile is mode 0600
        try:
            os.link(f.name, path)  # fails if another grader made it first: then its key is the key
        except FileExistsError:
            pass
        finally:
            os.unlink(f.name)
    return bytes.fromhex(path.read_text().strip())


def _beside_gradebook(db_url, name):
    if db_url.startswith("sqlite:///"):
        return Path(db_url[len("sqlite:///"):]).resolve().parent / name
    return Path.cwd() / name


class _LazySandbox:
    """The submission's sandbox, started when a cell first needs it (a rejected notebook never does)."""

    def __init__(self, edition, folder, limits, timeout, hidden):
        self.arguments = (edition, folder, limits, timeout, hidden)
        self.sandbox = None

    def get(self):
        if self.sandbox is None:
            edition, folder, limits, timeout, hidden = self.arguments
            self.sandbox = Sandbox(edition, folder, limits, default_timeout=timeout, hidden=hidden)
            self.sandbox.start()
        return self.sandbox

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.sandbox is not None:
            self.sandbox.close()


@contextlib.contextmanager
def _submission_copy(folder):
    """A copy of the submission's folder that the sandbox's user can read (and nothing else in it)."""
    with tempfile.TemporaryDirectory(prefix="backprop-submission-") as copy:
        target = Path(copy) / "submission"
        shutil.copytree(folder, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"), symlinks=True)
        for path in [target, *target.rglob("*")]:
            if not path.is_symlink():  # a link is copied as a link: what it names is not in the sandbox
                path.chmod(0o755 if path.is_dir() else 0o644)
        yield target


_editions = {}
_editions_lock = threading.Lock()


def shared_edition():
    """A learner edition built once per process (for nbgrader autograde, which grades one notebook at a time)."""
    with _editions_lock:
        if "path" not in _editions:
            _editions["folder"] = tempfile.TemporaryDirectory(prefix="backprop-learner-edition-")
            _editions["path"] = str(build_edition(_editions["folder"].name))
        return _editions["path"]


@functools.lru_cache(maxsize=1)
def _grader_paths():
    return [(str(p), "<python>") for p in python_paths()] + [(str(COURSE), "<course>")]


def _scrubbed(output):
    """The output with the grader's paths (its Python, the course) replaced by placeholders."""

    def scrub(text):
        for path, placeholder in _grader_paths():
            text = text.replace(path, placeholder)
        return text

    if output["output_type"] == "stream":
        output["text"] = scrub(output["text"])
    elif output["output_type"] == "error":
        output["evalue"] = scrub(output["evalue"])
        output["traceback"] = [scrub(line) for line in output["traceback"]]
    return output


def _stdout(text):
    return [{"output_type": "stream", "name": "stdout", "text": text}] if text else []


def _error(ename, evalue):
    """An error output with the message and no traceback: nothing of the grader's code or paths."""
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}
