"""Where in the learner's code an exception came from, for messages (in the notebook and in the sandbox)."""
import sysconfig
import traceback

_STDLIB = sysconfig.get_paths()["stdlib"]


def _library_file(filename):
    """The course's own files, and installed libraries (numpy): not where a learner's bug is."""
    return "backprop_ref" in filename or "site-packages" in filename or filename.startswith(_STDLIB)


def learner_location(exc):
    """" (in f, your code, line 3: x = y)" for the last traceback line that is not library code, or ""."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _library_file(f.filename)]
    if not frames:
        return ""
    f = frames[-1]
    where = "your code" if f.filename.startswith("<") or "ipykernel" in f.filename else f.filename
    return f" (in {f.name}, {where}, line {f.lineno}: {(f.line or '').strip()})"
