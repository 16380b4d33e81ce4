"""The learner edition of backprop_ref: the only copy of the package the grader's sandbox can read.

``build_edition(folder)`` writes ``folder/backprop_ref``, a copy of this package in which

- every ``@answer_key`` function keeps its name and arguments and loses its body and docstring:
  calling it raises DelegationError, and reading the file shows no answer;
- no comment is left (each module is written back from its syntax tree);
- ``grading/`` is a stub whose ``check`` only says that checks run in the grader: the exercises'
  definitions hold reference answers, and verdicts are not computed in the sandbox anyway;
- the grader's own modules (the sandbox's outside, the instructor's commands) are left out;
- the digits held out for grading fit_digits (data.held_out) are not in its data file.

It is compiled to bytecode, and matplotlib's font cache is built beside it, so that a sandbox starts
in about a second.
"""
import ast
import compileall
import gzip
import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np

PACKAGE = Path(__file__).resolve().parents[1]
LEFT_OUT = {"grading", "instructor", "cli.py", "sandbox/bubblewrap.py", "sandbox/edition.py"}
_GRADING_STUB = '''"""The grader's copy of backprop_ref has no checks: they run outside this sandbox, on what your functions return."""
from .._guard import DelegationError


def check(exercise_id, implementation, *args, **kwargs):
    print(f"{exercise_id}: checked by the grader")
'''


def build_edition(folder):
    """Write the learner edition into ``folder`` (made if missing); return ``folder``. A folder that already
    holds the edition of this very package (its STAMP: a digest of the package's files) is kept as it is."""
    folder = Path(folder)
    stamp = _package_digest()
    if (folder / "STAMP").exists() and (folder / "STAMP").read_text() == stamp:
        return folder
    target = folder / "backprop_ref"
    (folder / "STAMP").unlink(missing_ok=True)
    if target.exists():
        shutil.rmtree(target)
    for source in sorted(PACKAGE.rglob("*")):
        relative = source.relative_to(PACKAGE)
        if "__pycache__" in relative.parts or _left_out(relative) or source.is_dir():
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".py":
            destination.write_text(strip_answers(source.read_text(encoding="utf-8")), encoding="utf-8")
        elif source.name == "digits.csv.gz":
            _write_public_digits(destination)
        elif source.suffix != ".pyc":
            shutil.copyfile(source, destination)
    (target / "grading").mkdir()
    (target / "grading" / "__init__.py").write_text(_GRADING_STUB, encoding="utf-8")
    compileall.compile_dir(str(target), quiet=1, legacy=False)
    _build_matplotlib_cache(folder / "matplotlib")
    for path in [folder, *folder.rglob("*")]:  # readable by the sandbox's user, whatever the umask
        path.chmod(0o755 if path.is_dir() else 0o644)
    (folder / "STAMP").write_text(stamp)  # last: a build cut short is built again
    return folder


def _package_digest():
    import matplotlib

    digest = hashlib.sha256(f"{sys.version} {matplotlib.__version__}".encode())
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _left_out(relative):
    return relative.parts[0] in LEFT_OUT or relative.as_posix() in LEFT_OUT


def strip_answers(source):
    """``source`` with the body of every @answer_key function replaced by a raise, and no comments."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(map(_is_answer_key, node.decorator_list)):
            node.body = ast.parse(
                "from backprop_ref._guard import DelegationError\n"
                f"raise DelegationError({node.name!r} + \" is the course's reference answer, and the grader's copy of "
                "backprop_ref does not have it: compute it with your own code (you may call your own functions)\")"
            ).body
    return ast.unparse(tree) + "\n"


def _is_answer_key(decorator):
    name = decorator.attr if isinstance(decorator, ast.Attribute) else getattr(decorator, "id", None)
    return name == "answer_key"


def _write_public_digits(destination):
    from ..data import _digits_table, held_out

    table = _digits_table()
    public = table[~held_out(table[:, 64].astype(np.int64))]
    with gzip.open(destination, "wt", encoding="ascii") as f:
        np.savetxt(f, public, fmt="%d", delimiter=",")


def _build_matplotlib_cache(folder):
    """matplotlib's font list (made once, in about a second, in this process's cache), copied into each sandbox."""
    import matplotlib
    import matplotlib.font_manager  # noqa: F401 (loading it writes the font list when it is missing)

    folder.mkdir(parents=True, exist_ok=True)
    for fontlist in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
        shutil.copyfile(fontlist, folder / fontlist.name)
