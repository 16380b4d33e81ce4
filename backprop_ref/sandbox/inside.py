"""The program in the sandbox: the learner's cells in an IPython shell, their functions called on plain data.

``Sandbox`` (sandbox/bubblewrap.py) starts it inside bubblewrap with the learner edition of
backprop_ref first on sys.path, its end of the door on two file descriptors, and the limits to set.
Before any learner code runs it sets those limits (which the learner's code cannot raise again),
imports what every lesson imports, and says it is ready. Then it answers, one message at a time:

    {"op": "run", "code", "timeout"}      ->  {"outputs": [...]}   nbformat outputs of the cell
    {"op": "lookup", "name"}              ->  {"value": ...}       a callable comes back as a handle
    {"op": "call", "function", "args", "kwargs", "timeout"}  ->  {"value": ...} or {"error": {...}}

While a call runs, the learner's code may call a function that the grader sent as an argument: that
goes out as {"op": "callback", "function", "args"} and the grader answers {"value"} or {"error"}.
Nothing here is trusted: the grader checks every answer, and kills this process when it is done,
when it is late, or when it says something the grader did not ask for.
"""
import json
import os
import resource
import shutil
import signal
import sys
import traceback

import numpy

from ..engine import Node
from .wire import Channel, decode, encode

OUTPUT_LIMIT = 200_000  # characters of text a cell may print; the rest is cut
WIDGET_TEXT = "[an interactive widget: open the notebook in JupyterLab to use it]"


class OutOfTime(BaseException):
    """Raised in the learner's code when its time is up (a BaseException, so `except Exception` lets it through)."""


def main(read_fd, write_fd, limits_json):
    limits = json.loads(limits_json)
    _set_limits(limits)
    channel = Channel(read_fd, write_fd)
    shell = _start_shell()
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):  # what the learner's code writes to the raw descriptors goes nowhere
        os.dup2(devnull, fd)
    channel.send({"ready": True})
    Server(channel, shell).serve()


def _set_limits(limits):
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))


def _start_shell():
    """An IPython shell whose outputs are collected per cell, after importing what the lessons import."""
    cache = os.environ.get("BACKPROP_MATPLOTLIB_CACHE")
    if cache:  # matplotlib wants a writable config folder; copying its font cache there saves a rebuild
        shutil.copytree(cache, os.environ["MPLCONFIGDIR"], dirs_exist_ok=True)
    import ipywidgets
    import matplotlib
    import matplotlib.pyplot  # noqa: F401 (imported now, so a lesson's first cell does not pay for it)
    import numpy  # noqa: F401

    import backprop_ref  # noqa: F401
    import backprop_ref.widgets  # noqa: F401

    from ._shell import GradingShell

    shell = GradingShell.instance(colors="NoColor")
    shell.display_formatter.active_types = ["text/plain"]  # what cells print; nothing is drawn
    shell.display_formatter.formatters["text/plain"].for_type(
        ipywidgets.Widget, lambda obj, p, cycle: p.text(WIDGET_TEXT))
    matplotlib.use("Agg")
    return shell


class Server:
    def __init__(self, channel, shell):
        self.channel, self.shell = channel, shell
        self.exported = {}  # handle -> a callable of the learner's that the grader may call
        self.pid = os.getpid()  # a child the learner's code forked must not answer in this process's name
        self.request = None

    def reply(self, message):
        if os.getpid() != self.pid:
            os._exit(0)  # a fork of this process finished a cell: it goes, silently
        self.channel.send({**message, "id": self.request})

    def export(self, fn):
        handle = len(self.exported) + 1
        self.exported[handle] = fn
        return handle

    def serve(self):
        while True:
            message = self.channel.receive()
            self.request, op = message.get("id"), message.get("op")
            if op == "run":
                self.reply({"outputs": self.run(message["code"], message["timeout"])})
            elif op == "lookup":
                self.reply(self.lookup(message["name"]))
            elif op == "call":
                self.reply(self.call(message))
            else:
                self.reply({"error": {"type": "ProtocolError", "message": f"unknown op {op!r}", "where": ""}})

    def run(self, code, timeout):
        shell = self.shell
        shell.outputs, shell.cell_timeout = [], timeout
        with _alarm(timeout), _captured(shell):
            try:
                shell.run_cell(code, store_history=True)
            except OutOfTime:
                shell.outputs.append(_error("TimeoutError", f"this cell did not finish within {timeout:g} s", []))
        return _limited(shell.outputs)

    def lookup(self, name):
        if name not in self.shell.user_ns:
            return {"missing": True}
        return {"value": encode(self.shell.user_ns[name], self.export)}

    def call(self, message):
        fn = self.exported.get(message.get("function"))
        if fn is None:
            return {"error": {"type": "LookupError", "message": "no such function", "where": ""}}
        args = decode(message.get("args", []), self._callback)
        kwargs = decode(message.get("kwargs", {"$dict": []}), self._callback)
        with _alarm(message["timeout"]), _silenced():
            try:
                value = fn(*args, **kwargs)
            except OutOfTime:
                return {"error": {"type": "OutOfTime", "message": "", "where": ""}}
            except BaseException as e:  # the learner's code raised: the grader words the message
                return {"error": _describe(e)}
        # the arguments as the call left them: the grader copies them back into its own, so that a function
        # that changes its inputs in place does so here as it would in one process
        return {"value": encode(_plain(value), self.export), "inputs": encode(_data(args))}

    def _callback(self, handle, name):
        server = self

        def grader_function(*args):
            if os.getpid() != server.pid:
                raise RuntimeError(f"{name} is the grader's: it cannot be called from a process your code started")
            server.reply({"op": "callback", "function": handle, "args": encode(list(args))})
            answer = server.channel.receive()
            if "error" in answer:
                raise ValueError(f"{name}: {answer['error']}")
            return decode(answer["value"])

        grader_function.__name__ = grader_function.__qualname__ = name
        return grader_function


def _data(value):
    """Arrays, engine graphs (their grads are a backward pass's output) and containers of them as they are;
    anything else (the grader's functions) as None."""
    if isinstance(value, (list, tuple)):
        return type(value)(_data(v) for v in value) if type(value) in (list, tuple) else None
    if isinstance(value, dict):
        return {k: _data(v) for k, v in value.items()} if type(value) is dict else None
    return value if isinstance(value, (numpy.ndarray, Node)) else None


def _plain(value):
    """Array-likes (a torch tensor, a matrix) as NumPy arrays; containers element by element."""
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value) if type(value) in (list, tuple) else list(map(_plain, value))
    if not isinstance(value, (int, float, str, bytes, dict)) and hasattr(value, "__array__"):
        try:
            import numpy

            return numpy.asarray(value)
        except Exception:  # not convertible: described as an object instead
            return value
    return value


def _describe(e):
    try:
        message = str(e)[:2000]
    except Exception:  # an exception whose str() raises
        message = "(no message)"
    from .._tracebacks import learner_location

    return {"type": type(e).__name__[:100], "message": message, "where": learner_location(e)}


def _error(ename, evalue, traceback_lines):
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback_lines}


def _limited(outputs):
    left = OUTPUT_LIMIT
    kept = []
    for output in outputs:
        if output["output_type"] == "stream":
            if left <= 0:
                continue
            if len(output["text"]) > left:
                output["text"] = output["text"][:left] + "\n... (output cut: the cell printed too much)\n"
            left -= len(output["text"])
        kept.append(output)
    return kept


class _alarm:
    """OutOfTime in the learner's code after ``seconds``, and again every 0.25 s if it is caught."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        signal.signal(signal.SIGALRM, self._expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds, 0.25)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)

    @staticmethod
    def _expire(signum, frame):
        raise OutOfTime()


class _captured:
    """sys.stdout and sys.stderr go into the shell's outputs as stream outputs."""

    def __init__(self, shell):
        self.shell = shell

    def __enter__(self):
        self.saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Stream(self.shell, "stdout"), _Stream(self.shell, "stderr")

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self.saved


class _silenced(_captured):
    """What the learner's function prints while it is being checked is dropped."""

    def __init__(self):
        super().__init__(None)


class _Stream:
    def __init__(self, shell, name):
        self.shell, self.name = shell, name

    def write(self, text):
        if self.shell is None or not isinstance(text, str):
            return len(text) if isinstance(text, str) else 0
        outputs = self.shell.outputs
        if outputs and outputs[-1]["output_type"] == "stream" and outputs[-1]["name"] == self.name:
            if len(outputs[-1]["text"]) < OUTPUT_LIMIT:
                outputs[-1]["text"] += text
        else:
            outputs.append({"output_type": "stream", "name": self.name, "text": text})
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


if __name__ == "__main__":
    try:
        main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
    except Exception:  # the grader sees the end of the channel; this says why, for whoever reads the log
        traceback.print_exc()
        sys.exit(3)
