"""What users install: the wheel built from this tree, used from a folder outside it. The
source tree imported by the tests once hid a wheel without ``monitor.panels``: the installed
monitor could not start and every end-of-run PNG failed."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import FIXED_PHYSICS, free_base_port, private_endpoint_values

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("daq", "monitor", "emulator", "calib")


def _source_modules() -> set[str]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def test_the_tests_import_the_installed_package_unless_it_is_editable():
    """The README's test command runs the installed package; only an editable install (a
    developer's choice) may point at the source tree."""
    import daq

    direct = importlib.metadata.distribution("na64daq").read_text("direct_url.json")
    editable = bool(direct and json.loads(direct).get("dir_info", {}).get("editable"))
    inside = Path(daq.__file__).resolve().is_relative_to(ROOT)
    assert editable or not inside, f"daq imported from the source tree: {daq.__file__}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel of a copy of this tree (the tree itself stays clean), unpacked: what pip
    puts into site-packages."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    anywhere = shutil.ignore_patterns("__pycache__", "*.egg-info")
    top = {".git", ".venv", "build", "runs", "logs", "tests", "bench", "docs"}  # not daq/app/bench
    shutil.copytree(ROOT, src, ignore=lambda d, names: set(anywhere(d, names)) | (
        top & set(names) if Path(d) == ROOT else set()))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "-w", str(tmp / "dist"), str(src)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    (wheel,) = (tmp / "dist").glob("na64daq-*.whl")
    site = tmp / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return site


def _env(site: Path, tmp: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(site), PYTHONSAFEPATH="1",
                QT_QPA_PLATFORM="offscreen", NA64DAQ_DB=str(tmp / "runs.db"),
                XDG_CONFIG_HOME=str(tmp / "config"))


def test_every_module_of_the_source_tree_is_installed_and_imports(installed, tmp_path):
    script = ("import importlib, json, pkgutil, sys\n"
              f"names = {sorted(_source_modules())!r}\n"
              "where = {n: importlib.import_module(n).__file__ for n in names}\n"
              "print(json.dumps(where))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, env=_env(installed, tmp_path), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    where = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(where) == len(_source_modules()) > 80
    outside = {n: f for n, f in where.items() if not Path(f).is_relative_to(installed)}
    assert not outside, outside
    entry = (installed / "na64daq-0.1.0.dist-info" / "entry_points.txt").read_text()
    assert "na64daq = daq.app.cli:main" in entry


def test_the_installed_monitor_renders_and_demo_writes_its_end_of_run_png(
        installed, tmp_path, write_run):
    write_run(tmp_path)
    env = _env(installed, tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    png = tmp_path / "all.png"
    r = subprocess.run([sys.executable, "-m", "daq.app.cli", "monitor", "--file",
                        str(tmp_path / "run_000007.h5"), "--snapshot", str(png)], cwd=work,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert png.stat().st_size > 100_000

    sets = [f'endpoints.{k}="{v}"' for k, v in private_endpoint_values(tmp_path).items()]
    sets += ["emulator.spill.duration_s=0.5",
             f"emulator.publish.base_port={free_base_port(4)}",
             *(f"emulator.{k}={v}" for k, v in FIXED_PHYSICS.items())]
    r = subprocess.run([sys.executable, "-m", "daq.app.cli", "demo", "--no-gui", "--spills", "1",
                        "--out", str(tmp_path / "runs"), *(x for s in sets for x in ("--set", s))],
                       cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    made = tmp_path / "runs" / "run_000001.monitor.png"
    assert made.stat().st_size > 100_000, r.stdout
    assert f"run 1: monitor PNG written: {made}" in r.stdout, r.stdout[-2000:]
