"""How long nbgrader takes to autograde each assignment, against a trivial notebook graded in the same run.

    .venv/bin/python benchmarks/bench_autograde.py

The trivial notebook (import the course, one test cell) measures the floor: kernel start-up and
nbgrader's own work. Each assignment's ratio to it shows what its widgets and training add under
NBGRADER_EXECUTION (the course's goal: a few seconds beyond that floor).
"""
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbgrader.apps import NbGraderAPI
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[1]


def trivial_notebook():
    test = nbformat.v4.new_code_cell('"""import works."""\nimport backprop_ref\nassert backprop_ref.__version__')
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "floor",
                                 "points": 1, "schema_version": 3}
    return nbformat.v4.new_notebook(cells=[test], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def main():
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]  # nbgrader runs alembic
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
            os.environ[name] = str(root / "home" / name.lower())
        source = root / "source"
        shutil.copytree(ROOT / "solutions", source)
        nbformat.write(trivial_notebook(), (source / "00_floor").mkdir(parents=True) or source / "00_floor" / "floor.ipynb")
        config = Config()
        config.CourseDirectory.root = str(root)
        config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
        api = NbGraderAPI(config=config)
        assignments = sorted(p.name for p in source.iterdir() if p.is_dir())
        for a in assignments:
            assert api.generate_assignment(a)["success"], a
            shutil.copytree(source / a, root / "submitted" / "alice" / a)
        seconds = {}
        for a in assignments:
            start = time.perf_counter()
            result = api.autograde(a, "alice")
            seconds[a] = time.perf_counter() - start
            assert result["success"], result.get("log")
        floor = seconds.pop("00_floor")
        print(f"{'assignment':22s} {'seconds':>8s} {'/ floor':>8s}")
        print(f"{'(trivial notebook)':22s} {floor:8.1f} {1:8.2f}")
        for a, s in seconds.items():
            print(f"{a:22s} {s:8.1f} {s / floor:8.2f}")


if __name__ == "__main__":
    main()
