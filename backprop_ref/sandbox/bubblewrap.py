"""Learner code in a bubblewrap sandbox, and the grader's end of the door to it.

    with Sandbox(edition, folder, Limits(memory_mb=2048)) as sandbox:
        outputs = sandbox.run_cell(code, timeout=60)       # nbformat outputs, checked
        dense_backward = sandbox.lookup("dense_backward")  # a RemoteFunction
        dx, dW = dense_backward(dout, (x, W))              # plain arrays in, plain arrays out

The sandbox (what it does not protect is in the README, "What the sandbox protects"):
- bubblewrap's namespaces: mount, pid, network (none at all), IPC, UTS. The root is an empty tmpfs with,
  read-only, the system's libraries, the Python installation, the learner edition of backprop_ref and
  this one submission's folder; /tmp is a small private tmpfs. No home, gradebook, solutions or other
  submission exists in it: the course folders it is told of (and a clone the package runs from) are
  covered by an empty tmpfs wherever a bound folder holds them. It dies with the grader (--die-with-parent) and has its own session.
- The learner's code runs as an unprivileged user: as root, a user id of its own that owns no file
  (setpriv), else the caller's id in a user namespace; no capabilities, no_new_privs.
- Limits set before the learner's first line (inside.py), which it cannot raise: address space, CPU
  seconds, processes, file size, open files. Every cell and call has a deadline; after it, and a
  grace, the whole process tree is killed (the pid namespace ends with its first process).
When the process ends (os._exit, a signal, a limit), the sandbox starts again and replays the cells
that ran before, so the functions they defined can still be graded.
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._guard import DelegationError
from ..grading.core import GradingTimeout, LearnerProcessEnded
from ..engine import Node
from .wire import Channel, ChannelClosed, WireError, decode, encode, graph_nodes

GRACE = 2.0  # seconds past a deadline before the process tree is killed (the learner's code is told first)
START_TIMEOUT = 120.0  # seconds for Python and the lessons' imports to start in the sandbox (about 1 s)
MAX_RESTARTS = 3  # per submission: after that, what is left is not graded
EDITION_MOUNT = "/opt/backprop-course"  # where the learner edition of backprop_ref is seen inside
SUBMISSION_MOUNT = "/submission"
_BOOT = ("import sys; sys.path.insert(0, {edition!r}); from backprop_ref.sandbox.inside import main; "
         "main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])")
COURSE = Path(__file__).resolve().parents[2]  # the repository or site-packages: never shown whole
CLONE = COURSE if (COURSE / "solutions").exists() else None  # a course repository backprop_ref runs from
_SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")  # bound whole, read-only
_OUTPUT_TYPES = {"stream", "execute_result", "display_data", "error"}
_TEXT_LIMIT = 1_000_000


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start on this machine (no bwrap, namespaces refused). Grading stops: learner code
    never runs outside it."""


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048  # address space of each process (NumPy and OpenBLAS reserve some: leave headroom)
    cpu_seconds: int = 600  # CPU time of each process
    processes: int = 64  # processes and threads of the sandbox's user
    file_mb: int = 64  # the largest file it may write
    tmp_mb: int = 256  # the size of its /tmp
    open_files: int = 256

    def rlimits(self):
        return {"RLIMIT_AS": self.memory_mb << 20, "RLIMIT_CPU": self.cpu_seconds, "RLIMIT_NPROC": self.processes,
                "RLIMIT_FSIZE": self.file_mb << 20, "RLIMIT_NOFILE": self.open_files, "RLIMIT_CORE": 0}


class RemoteFunction:
    """A function of the learner's that stays in the sandbox; calling it sends the arguments through the door.

    Its time limit is the check's (grading.core.learner_deadline()), or ``default_timeout`` outside one.
    """

    def __init__(self, sandbox, handle, name, looked_up):
        self.sandbox, self.handle, self.__name__ = sandbox, handle, name
        self.__qualname__ = name
        self.looked_up = looked_up  # by name (found again after a restart) or returned by a call (lost with it)
        self.generation = sandbox.generation

    def __call__(self, *args, **kwargs):
        return self.sandbox.call(self, args, kwargs)

    def __repr__(self):
        return f"<your function {self.__name__}, in the grader's sandbox>"


class Sandbox:
    """One submission's sandbox: learner cells run in it in order; their functions are called from here."""

    def __init__(self, edition, folder, limits=Limits(), default_timeout=60.0, hidden=()):
        """hidden: folders the learner's code must not see (the course folder: solutions, gradebook, key)."""
        self.edition, self.folder, self.limits = Path(edition), Path(folder), limits
        self.hidden = tuple(Path(h).resolve() for h in hidden)
        self.default_timeout = default_timeout
        self.process = None
        self.generation = 0  # one more at every start: handles of an earlier process are void
        self.restarts = 0
        self.history = []  # (code, timeout) of the cells that ran and left the process alive
        self.ended = ""  # why the last process ended, when it did
        self.requests = 0  # every request has an id, which its answer must carry

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    # -----------------------------------------------------------------------------------------
    # The learner's cells.

    def run_cell(self, code, timeout):
        """Run one cell; return its outputs (a list of nbformat output dicts). A cell that ends the process
        or runs past its time gets an error output that says so, and is not replayed after a restart."""
        if not self._running():
            return [_error_output("SandboxError", self.ended)]
        self._send({"op": "run", "code": code, "timeout": timeout})
        try:
            answer = self._receive(time.monotonic() + timeout + GRACE)
        except GradingTimeout:
            return [_error_output("TimeoutError", f"this cell did not finish within {timeout:g} s, and was stopped")]
        except LearnerProcessEnded as e:
            return [_error_output("SandboxError", f"this cell {e}; the cells after it ran in a new process, "
                                                  f"with the cells before it run again")]
        self.history.append((code, timeout))
        return clean_outputs(answer.get("outputs"))

    def lookup(self, name):
        """The learner's ``name`` (a RemoteFunction if it is callable), or NameError if no cell defined it."""
        if not self._running():
            raise LearnerProcessEnded(self.ended)
        self._send({"op": "lookup", "name": name})
        answer = self._receive(time.monotonic() + self.default_timeout)
        if answer.get("missing"):
            raise NameError(f"name {name!r} is not defined")
        return decode(answer.get("value"), lambda handle, _: RemoteFunction(self, handle, name, looked_up=True))

    def call(self, function, args, kwargs):
        from ..grading.core import learner_deadline

        if not self._running():
            raise LearnerProcessEnded(self.ended)
        if function.generation != self.generation:
            if not function.looked_up:
                raise LearnerProcessEnded(f"was lost: the process that made {function.__name__} ended")
            function = self.lookup(function.__name__)
        deadline = learner_deadline() or time.monotonic() + self.default_timeout
        grader_functions = []

        def export(fn):
            grader_functions.append(fn)
            return len(grader_functions)

        self._send({"op": "call", "function": function.handle, "args": encode(list(args), export),
                    "kwargs": encode(kwargs, export), "timeout": max(deadline - time.monotonic(), 0.01)})
        while True:
            answer = self._receive(deadline + GRACE)
            if answer.get("op") == "callback":
                self._answer_callback(answer, grader_functions)
            elif "value" in answer:
                _copy_back(list(args), decode(answer.get("inputs")))
                return decode(answer["value"], lambda handle, name: RemoteFunction(self, handle, name, looked_up=False))
            elif "error" in answer:
                raise remote_error(answer["error"])
            else:
                self._kill()
                raise LearnerProcessEnded("sent the grader a message it did not ask for, and was stopped")

    def _answer_callback(self, message, grader_functions):
        """The learner's code calls a function the grader passed to it (e.g. numerical_gradient's f)."""
        handle = message.get("function")
        try:
            fn = grader_functions[handle - 1]
            args = decode(message.get("args"))
            if not isinstance(args, list):
                raise TypeError("arguments must be a list")
            value = {"value": encode(fn(*args))}
        except Exception as e:  # the learner called it wrongly: that is their error, raised in their code
            value = {"error": f"{type(e).__name__}: {e}"}
        self.channel.send(value)

    def _send(self, message):
        self.requests += 1
        self.channel.send({**message, "id": self.requests})

    # -----------------------------------------------------------------------------------------
    # The process.

    def start(self):
        """Start the sandbox (SandboxUnavailable if it cannot start) and wait until it is ready."""
        to_inside, from_grader = os.pipe()
        from_inside, to_grader = os.pipe()
        self._log, self._info = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        command = sandbox_command(self.edition, self.folder, self.limits, to_inside, to_grader, self._info.fileno(),
                                  self.hidden)
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                            pass_fds=(to_inside, to_grader, self._info.fileno()))
        finally:
            os.close(to_inside)
            os.close(to_grader)
        self.channel = Channel(from_inside, from_grader)
        self.generation += 1
        try:
            ready = self.channel.receive(time.monotonic() + START_TIMEOUT)
        except (TimeoutError, WireError):
            self._kill()
            raise SandboxUnavailable(f"the grading sandbox did not start: {self._log_tail() or 'no message'}") from None
        if not ready.get("ready"):
            self._kill()
            raise SandboxUnavailable("the grading sandbox did not start: it sent no greeting")

    def close(self):
        self._kill()

    def _running(self):
        """Whether a process is there to talk to, restarting it (and replaying the history) if it ended."""
        if self.process is not None and self.process.poll() is None:
            return True
        if self.restarts >= MAX_RESTARTS:
            self.ended = (f"was not run: the grader's sandbox ended {self.restarts + 1} times on this notebook "
                          f"(last: {self.ended}), and grading stopped there")
            return False
        self.restarts += 1
        self._kill()
        self.start()
        history, self.history = self.history, []
        for code, timeout in history:  # outputs were recorded the first time
            self.run_cell(code, timeout)
            if self.process.poll() is not None:
                break
        return self.process.poll() is None

    def _receive(self, deadline):
        """The answer to the last request (a callback it asks for meanwhile included)."""
        try:
            answer = self.channel.receive(deadline)
            if answer.get("id") != self.requests:
                raise WireError("an answer to another request")
            return answer
        except TimeoutError:
            self._kill()
            self.ended = "ran past its time limit and was stopped"
            raise GradingTimeout() from None
        except ChannelClosed:
            self.ended = self._describe_end()
            raise LearnerProcessEnded(self.ended) from None
        except WireError:
            self._kill()
            self.ended = "sent the grader a message it could not read, and was stopped"
            raise LearnerProcessEnded(self.ended) from None
        except BaseException:  # interrupted here (Ctrl-C, a signal): the answer may still come, so no talk after it
            self._kill()
            self.ended = "was stopped by the grader"
            raise

    def _describe_end(self):
        try:
            code = self.process.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            self._kill()
            return "closed its end of the grader's channel, and was stopped"
        self._kill()
        if code > 128:  # bwrap reports a signal as 128 + its number
            sig = code - 128
            why = {signal.SIGKILL: "was killed (SIGKILL): it ran out of memory, or killed itself or its process group",
                   signal.SIGXCPU: f"used up its CPU time ({self.limits.cpu_seconds} s) and was stopped",
                   signal.SIGXFSZ: f"wrote a file over the limit of {self.limits.file_mb} MB and was stopped",
                   signal.SIGSEGV: "crashed (segmentation fault)"}
            return why.get(sig, f"ended on signal {_signal_name(sig)}")
        return f"ended the process (exit status {code}: os._exit, sys.exit in a thread, or a crash)"

    def _kill(self):
        """End the sandbox's first process, and so (the kernel sees to it) every process of its pid namespace;
        bwrap returns once they are all gone."""
        if self.process is not None:
            if self.process.poll() is None:
                with contextlib.suppress(OSError, ValueError):
                    self._info.seek(0)
                    os.kill(json.loads(self._info.read())["child-pid"], signal.SIGKILL)
                try:
                    self.process.wait(timeout=GRACE)
                except subprocess.TimeoutExpired:
                    self.process.kill()  # then --die-with-parent ends the namespace
                    self.process.wait()
        if getattr(self, "channel", None) is not None:
            for fd in (self.channel.read_fd, self.channel.write_fd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.channel = None

    def _log_tail(self):
        self._log.seek(0)
        return self._log.read()[-2000:].decode("utf-8", "replace").strip()


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


# ---------------------------------------------------------------------------------------------
# What comes back through the door.


def _copy_back(sent, after):
    """Write into the arrays (and lists) the grader sent what the call left in the sandbox's copies, so a function
    that changes its inputs in place does it here too (the checks require inputs unchanged). A changed shape,
    which cannot be written back, shows as NaN."""
    if isinstance(sent, np.ndarray) and isinstance(after, np.ndarray):
        if after.shape == sent.shape:
            np.copyto(sent, after, casting="unsafe")
        elif sent.dtype.kind in "fc":
            sent[...] = np.nan
        else:
            sent[...] = ~sent  # a value each entry did not have
    elif isinstance(sent, (list, tuple)) and isinstance(after, (list, tuple)):
        for s, a in zip(sent, after):
            _copy_back(s, a)
        if isinstance(sent, list):  # entries removed or appended
            del sent[len(after):]
            sent.extend(after[len(sent):])
    elif isinstance(sent, dict) and isinstance(after, dict):
        for key in sent.keys() & after.keys():
            _copy_back(sent[key], after[key])
    elif isinstance(sent, Node):
        _copy_back_graph(sent, after)


def _copy_back_graph(sent, after):
    """Each node of the graph sent gets the value, grad and local gradients of the node in the same place (the
    wire's order) of the graph that came back; a graph whose shape changed (other parents, a node more or
    less), which cannot be matched, leaves every value and grad NaN."""
    mine = graph_nodes(sent)
    theirs = graph_nodes(after) if isinstance(after, Node) else []
    index = {id(n): i for i, n in enumerate(theirs)}

    def shape(nodes, where):
        return [(n.op, [where[id(p)] for p in n.parents], len(n.local_grads)) for n in nodes]

    if shape(mine, {id(n): i for i, n in enumerate(mine)}) != (shape(theirs, index) if theirs else None):
        for node in mine:
            node.value = node.grad = float("nan")
        return
    for node, back in zip(mine, theirs):
        node.value, node.grad, node.local_grads = back.value, back.grad, back.local_grads


def remote_error(info):
    """The exception the learner's code raised in the sandbox, raised here: a built-in one as itself (a learner's
    ValueError is a ValueError), DelegationError as itself, any other as an Exception of the same name; with
    ``.where``, the learner's line it came from."""
    import builtins

    if not isinstance(info, dict):
        info = {}
    name = info.get("type") if isinstance(info.get("type"), str) and info.get("type", "").isidentifier() else "Exception"
    if name == "OutOfTime":
        return GradingTimeout()
    message = str(info.get("message", ""))[:2000]
    builtin = getattr(builtins, name, None)
    error = None
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        with contextlib.suppress(Exception):  # a few need more arguments than a message
            error = builtin(message)
    if error is None:
        error = type(name, (DelegationError if name == "DelegationError" else Exception,), {})(message)
    error.where = str(info.get("where", ""))[:500]
    return error


def clean_outputs(outputs):
    """The outputs a cell sent, keeping only what a notebook may hold from the learner: text (streams, errors,
    text/plain). No HTML, no scripts, no images reach the instructor's browser."""
    kept = []
    for output in outputs if isinstance(outputs, list) else []:
        kind = output.get("output_type") if isinstance(output, dict) else None
        if kind not in _OUTPUT_TYPES:
            continue
        if kind == "stream":
            kept.append({"output_type": "stream", "name": "stderr" if output.get("name") == "stderr" else "stdout",
                         "text": _text(output.get("text"))})
        elif kind == "error":
            lines = output.get("traceback") if isinstance(output.get("traceback"), list) else []
            kept.append(_error_output(_text(output.get("ename"))[:200], _text(output.get("evalue")),
                                      [_text(line) for line in lines[:200]]))
        else:
            data = output.get("data") if isinstance(output.get("data"), dict) else {}
            item = {"output_type": kind, "data": {"text/plain": _text(data.get("text/plain"))}, "metadata": {}}
            if kind == "execute_result":
                count = output.get("execution_count")
                item["execution_count"] = count if isinstance(count, int) and not isinstance(count, bool) else None
            kept.append(item)
    return kept


def _text(value):
    return value[:_TEXT_LIMIT] if isinstance(value, str) else ""


def _error_output(ename, evalue, traceback_lines=()):
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": list(traceback_lines)}


# ---------------------------------------------------------------------------------------------
# The bubblewrap command.


def sandbox_command(edition, folder, limits, read_fd, write_fd, info_fd, hidden=()):
    """The command line that starts inside.py in a new sandbox (see the module's docstring); bwrap writes the
    pid of the sandbox's first process to ``info_fd``; ``hidden`` folders are covered wherever they are bound."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap is not installed (`sudo apt-get install bubblewrap`): grading runs "
                                 "learner code only inside its sandbox")
    covered = {Path(h).resolve() for h in hidden} | ({CLONE} if CLONE else set())
    binds = python_paths(covered)
    package = Path(__file__).resolve().parents[1]  # backprop_ref as installed here: hidden behind the edition
    args = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv", "--info-fd", str(info_fd), "--tmpfs", "/",
            # /tmp first: a Python installed under /tmp (a venv in a fresh clone there) is bound into it after
            "--perms", "1777", "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp"]
    for target in _parents(binds + [Path(EDITION_MOUNT), Path(SUBMISSION_MOUNT)], binds):
        args += ["--perms", "0755", "--dir", str(target)]  # bwrap would make them 0700: unreadable for the learner
    system = []
    for name in _SYSTEM:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            system.append(host)
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "localtime"):
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    # Outer folders first, so that a course under a bound folder (a venv, /usr) is covered after it is bound
    # and a venv inside a covered clone is bound after the cover.
    mounts = [(path, 0, ["--ro-bind", str(path), str(path)]) for path in system + binds]
    mounts += [(h, 1, ["--tmpfs", str(h)]) for h in covered if any(_inside(h, bound) for bound in system + binds)]
    for _, _, mount in sorted(mounts, key=lambda m: (len(m[0].parts), m[1])):
        args += mount
    if any(_inside(package, path) for path in binds):  # a non-editable install: the edition covers it
        args += ["--ro-bind", str(Path(edition) / "backprop_ref"), str(package)]
    args += ["--ro-bind", str(edition), EDITION_MOUNT, "--ro-bind", str(folder), SUBMISSION_MOUNT,
             "--proc", "/proc", "--dev", "/dev", "--chdir", SUBMISSION_MOUNT]
    environment = {
        "HOME": "/tmp/home", "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/matplotlib", "BACKPROP_MATPLOTLIB_CACHE": f"{EDITION_MOUNT}/matplotlib",
        "IPYTHONDIR": "/tmp/ipython", "NBGRADER_EXECUTION": "autograde", "BACKPROP_SANDBOX": "1",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name, value in environment.items():
        args += ["--setenv", name, value]
    if os.geteuid() == 0:
        # bwrap as root needs no user namespace; the learner's code then runs as a user id of its own,
        # unique to this grading process, that owns no file and whose process count is its alone.
        uid = str(2_000_000 + os.getpid())
        user = [shutil.which("setpriv") or "setpriv", "--reuid", uid, "--regid", uid, "--clear-groups",
                "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]
    else:
        args += ["--unshare-user", "--disable-userns"]
        user = []
    boot = _BOOT.format(edition=EDITION_MOUNT)
    return args + ["--"] + user + [sys.executable, "-I", "-c", boot, str(read_fd), str(write_fd),
                                   json.dumps(limits.rlimits())]


def python_paths(covered=()):
    """The folders of the Python installation the sandbox needs (its prefixes and site-packages, with those
    a .pth file adds: an environment layered on another), outermost only, leaving out the system's (bound
    as a whole) unless a covered folder holds them (a venv in a clone under /usr)."""
    import site

    layered = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(), *layered}
    found = []
    for path in sorted(Path(p).resolve() for p in candidates if Path(p).is_dir()):
        if path.parts[1:2] and path.parts[1] in _SYSTEM and not any(_inside(path, c) for c in covered):
            continue
        if not any(_inside(path, other) for other in found):
            found.append(path)
    return found


def _inside(path, folder):
    path, folder = Path(path), Path(folder)
    return path == folder or folder in path.parents


def _parents(paths, binds):
    """Folders to create for the mount points, outermost first, outside every bound folder."""
    made = set()
    for path in paths:
        for parent in reversed(Path(path).parents):
            if parent not in (Path("/"), Path("/tmp")) and not any(_inside(parent, b) for b in binds):
                made.add(parent)
    return sorted(made, key=lambda p: (len(p.parts), str(p)))
