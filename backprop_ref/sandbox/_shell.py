"""The IPython shell of the sandbox: cells run as in a kernel, and what they show is collected as outputs.

Without a kernel there is no frontend: results, displays and tracebacks go into ``shell.outputs`` as
nbformat output dicts (execute_result, display_data, error), which the grader copies into the
autograded notebook. ``inside.py`` adds stdout and stderr as stream outputs.
"""
from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell


class _ResultHook(DisplayHook):
    """A cell's last expression becomes an execute_result output."""

    def write_output_prompt(self):
        pass

    def write_format_data(self, format_dict, md_dict=None):
        self.shell.outputs.append({"output_type": "execute_result", "execution_count": self.prompt_count,
                                   "data": dict(format_dict), "metadata": {}})

    def finish_displayhook(self):
        self._is_active = False


class _DisplayCollector(DisplayPublisher):
    """display(...) (and matplotlib's figures) becomes a display_data output."""

    def publish(self, data, metadata=None, *args, **kwargs):
        self.shell.outputs.append({"output_type": "display_data", "data": dict(data), "metadata": {}})

    def clear_output(self, wait=False):
        self.shell.outputs.clear()


class GradingShell(InteractiveShell):
    displayhook_class = _ResultHook
    display_pub_class = _DisplayCollector
    outputs = []

    def enable_gui(self, gui=None):
        """%matplotlib inline asks for a GUI event loop; there is none to start here."""

    def _showtraceback(self, etype, evalue, stb):
        from .inside import OutOfTime

        if isinstance(evalue, OutOfTime):
            self.outputs.append({"output_type": "error", "ename": "TimeoutError",
                                 "evalue": f"this cell did not finish within {self.cell_timeout:g} s", "traceback": []})
            return
        try:
            text = str(evalue)
        except Exception:  # an exception whose str() raises
            text = "(no message)"
        self.outputs.append({"output_type": "error", "ename": getattr(etype, "__name__", "Error"),
                             "evalue": text, "traceback": list(stb)})

    cell_timeout = 0.0
