"""Settings for the whole test run, notebooks (nbval) included: kept here so they apply before any kernel starts."""
import os
import shutil
import tempfile

_USER_DIRS = ["JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"]
_saved = {}


def pytest_configure(config):
    """Keep Jupyter, IPython and matplotlib (in this process and in kernels) from writing into $HOME."""
    root = tempfile.mkdtemp(prefix="backprop-course-user-dirs-")
    config._backprop_user_dirs = root
    for name in _USER_DIRS + ["MPLBACKEND"]:
        _saved[name] = os.environ.get(name)
    for name in _USER_DIRS:
        os.environ[name] = os.path.join(root, name.lower())
    os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_unconfigure(config):
    for name, value in _saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(getattr(config, "_backprop_user_dirs", ""), ignore_errors=True)
