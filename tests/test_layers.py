"""The layers of ``docs/architecture.md``, as import contracts (``pyproject.toml``,
``[tool.importlinter]``), checked on the installed package; and proof that the check sees an
upward import hidden inside a function."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(config: Path, python_path: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=python_path) if python_path else dict(os.environ)
    return subprocess.run([str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
                          capture_output=True, text=True, env=env, timeout=120,
                          cwd=config.parent if python_path else "/")


def test_the_installed_package_keeps_every_contract():
    result = lint_imports(PYPROJECT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    kept = re.search(r"Contracts: (\d+) kept, (\d+) broken", result.stdout)
    assert kept and kept.group(2) == "0" and int(kept.group(1)) >= 4, result.stdout[-2000:]


def test_an_upward_import_inside_a_function_breaks_a_contract(tmp_path):
    """A tree with the four packages and one lazy import from the reconstruction into the
    monitor: the same contracts must fail on it, naming the line."""
    for module in ("daq/core/detector.py", "daq/reco/event_class.py", "daq/building/x.py",
                   "daq/run_file/x.py", "daq/raw/x.py", "daq/processes/x.py", "daq/app/x.py",
                   "daq/conditions.py", "emulator/x.py", "calib/x.py", "monitor/histograms.py"):
        path = tmp_path / module
        for parent in [p for p in path.relative_to(tmp_path).parents if str(p) != "."]:
            (tmp_path / parent / "__init__.py").parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / parent / "__init__.py").touch()
        path.write_text("")
    (tmp_path / "daq/reco/event_class.py").write_text(
        "def classify():\n    from monitor.histograms import fill  # noqa\n    return fill\n")
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    result = lint_imports(tmp_path / "pyproject.toml", str(tmp_path))
    assert result.returncode != 0, result.stdout[-2000:]
    assert "daq.reco.event_class -> monitor.histograms (l.2)" in result.stdout, result.stdout
