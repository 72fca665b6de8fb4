"""Hostile HDF5 files given to every command that reads a run file: truncated, bit-flipped, of
a foreign layout, and files that point elsewhere (external links, external storage, virtual
datasets: h5py reads other local files through them). Each gets one line naming the problem,
never a traceback, and nothing of the file pointed at comes out."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from daq.app.cli import main
from daq.run_file import layout as L

SECRET = b"SECRET-never-print-me-"


def _secrets(tmp_path):
    """A file the user can read and never meant to share, as HDF5 and as raw bytes."""
    data = np.frombuffer(SECRET * 64, np.uint8)
    with h5py.File(tmp_path / "secret.h5", "w") as f:
        f["data"] = data
        f["truth"] = data
    (tmp_path / "secret.bin").write_bytes(SECRET * 4096)
    return tmp_path / "secret.h5", tmp_path / "secret.bin"


def _hostile(path, how, tmp_path):
    secret_h5, secret_bin = _secrets(tmp_path)
    if how == "truncated":
        with open(path, "r+b") as fh:
            fh.truncate(path.stat().st_size * 2 // 3)
    elif how == "bit-flipped":  # the superblock and object headers sit in the first KB
        raw = bytearray(path.read_bytes())
        rng = np.random.default_rng(5)
        for at in rng.integers(0, min(len(raw), 4096), 24):
            raw[at] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(raw))
    elif how == "foreign layout":
        with h5py.File(path, "w") as f:
            f["x"] = np.arange(10)
            f.create_group("g")["y"] = 1.0
    elif how == "our attributes, foreign layout":
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
        with h5py.File(path, "w") as f:
            f.attrs.update(attrs)
            f["x"] = np.arange(10)
    else:
        with h5py.File(path, "r+") as f:
            if how == "external link":
                del f[L.EVENTS]
                f[L.EVENTS] = h5py.ExternalLink(str(secret_h5), "/data")
            elif how == "truth linked to another file":
                if "truth" in f:
                    del f["truth"]
                f["truth"] = h5py.ExternalLink(str(secret_h5), "/truth")
            elif how == "soft link":
                del f[L.EVENTS]
                f[L.EVENTS] = h5py.SoftLink("/" + L.BLOCKS)
            elif how == "external storage":
                dtype = f[L.EVENTS].dtype
                n = secret_bin.stat().st_size // dtype.itemsize
                del f[L.EVENTS]
                f.create_dataset(L.EVENTS, (n,), dtype, external=[(str(secret_bin), 0,
                                                                   n * dtype.itemsize)])
            elif how == "virtual dataset":
                layout = h5py.VirtualLayout((len(SECRET) * 64,), np.uint8)
                layout[:] = h5py.VirtualSource(str(secret_h5), "data", (len(SECRET) * 64,))
                f.create_virtual_dataset("reco/leak", layout)
    return path


HOSTILE = ["truncated", "bit-flipped", "foreign layout", "our attributes, foreign layout",
           "external link", "truth linked to another file", "soft link", "external storage",
           "virtual dataset"]
POINTS_ELSEWHERE = {"external link": "external link", "truth linked to another file":
                    "external link", "soft link": "SoftLink", "external storage":
                    "another file", "virtual dataset": "virtual dataset"}


def _commands(path, tmp_path):
    out = tmp_path / "out"
    return [["inspect", str(path)], ["inspect", "--verify", "--json", str(path)],
            ["recover", str(path), "--out", str(out) + ".recovered.h5"],
            ["export", "--root", str(path), "--out", str(out) + ".root"],
            ["reco", str(path), "--out", str(out) + ".reco.h5"],
            ["replay", str(path)],
            ["calib", "hv", "--from", str(path), "--target", "2500"],
            ["calib", "ecal", "--from", str(path)],
            ["calib", "hcal", "--from", str(path)],
            ["calib", "templates", "--from", str(path)]]


@pytest.mark.parametrize("how", HOSTILE)
def test_every_run_file_command_refuses_a_hostile_file_in_one_line(
        tmp_path, write_run, capsys, monkeypatch, how):
    monkeypatch.setenv("NA64DAQ_DB", str(tmp_path / "conditions.db"))
    path = _hostile(write_run(tmp_path).path, how, tmp_path)
    for argv in _commands(path, tmp_path):
        code = main(argv)
        out, err = capsys.readouterr()
        assert SECRET not in (out + err).encode(), (argv, out, err)
        if how == "bit-flipped" and code == 0:  # the flips may miss what a command reads
            continue
        if how == "truncated" and argv[0] == "recover":  # its job: the intact blocks saved
            assert code == 0 and "truncated" in out, out
            continue
        assert code == 2, (argv, code, out[-500:], err[-500:])
        err = err.strip()
        assert err.startswith("na64daq: error: ") and "\n" not in err, (argv, err)
        if how in POINTS_ELSEWHERE:
            assert POINTS_ELSEWHERE[how] in err, (argv, err)
    for made in tmp_path.glob("out*"):  # nothing written holds the secret either
        assert SECRET not in made.read_bytes(), made


@pytest.mark.parametrize("how", ["external link", "virtual dataset", "foreign layout"])
def test_the_monitor_refuses_a_hostile_file_in_one_line(tmp_path, write_run, how):
    path = _hostile(write_run(tmp_path).path, how, tmp_path)
    r = subprocess.run([sys.executable, "-m", "daq.app.cli", "monitor", "--file", str(path),
                        "--snapshot", str(tmp_path / "shot.png")], capture_output=True,
                       text=True, timeout=300, env=dict(os.environ, QT_QPA_PLATFORM="offscreen",
                                                        NA64DAQ_DB=str(tmp_path / "c.db")))
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert SECRET.decode() not in r.stdout + r.stderr
    assert r.stderr.strip().count("\n") == 0, r.stderr
