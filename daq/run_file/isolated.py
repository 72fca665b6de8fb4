"""Reading a file from elsewhere in a child process, for the processes that run for hours (the
tap, the monitor window): libhdf5 is C, and a crafted file that crashes it there would take
the whole process down with it; in a child it takes the child, and the caller gets a
:class:`RunFileError`. The child is a new interpreter (``python -m daq.run_file.isolated``),
not a fork: the callers have threads (Qt, ZeroMQ)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from daq.run_file.layout import RunFileError

T = TypeVar("T")


def isolated(fn: Callable[..., T], *args: Any, timeout_s: float = 120.0) -> T:
    """``fn(*args)`` in a child process: its result, or its exception raised here; a child that
    dies (a crash in libhdf5) or takes longer than ``timeout_s`` gives a :class:`RunFileError`.
    ``fn`` and its arguments and result must pickle (a module's function, arrays, dicts)."""
    try:
        done = subprocess.run([sys.executable, "-m", "daq.run_file.isolated"],
                              input=pickle.dumps((fn, args)), capture_output=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise RunFileError(f"{_name(fn, args)}: reading took longer than {timeout_s:g} s: "
                           "given up") from None
    try:
        ok, value = pickle.loads(done.stdout)
    except Exception:  # noqa: BLE001 - the child died without an answer
        code = done.returncode
        death = f"signal {-code}" if code < 0 else f"exit code {code}"
        raise RunFileError(f"{_name(fn, args)}: reading it crashed the reader ({death}): "
                           "refused") from None
    if ok:
        return value
    raise value


def _child() -> None:
    answer = os.fdopen(os.dup(1), "wb")  # what the code run prints goes to stderr, not here
    os.dup2(2, 1)
    fn, args = pickle.loads(sys.stdin.buffer.read())
    try:
        result = (True, fn(*args))
    except Exception as exc:  # noqa: BLE001 - handed to the caller, who raises it
        result = (False, exc)
    try:
        out = pickle.dumps(result)
    except Exception as exc:  # noqa: BLE001 - an exception that does not pickle
        out = pickle.dumps((False, RunFileError(f"{exc.__class__.__name__}: {exc}")))
    answer.write(out)
    answer.close()


def _name(fn: Callable[..., Any], args: tuple) -> str:
    paths = [str(a) for a in args if isinstance(a, (str, Path))]
    return paths[0] if paths else fn.__name__


def vet_run_file(path: str | Path, timeout_s: float = 120.0) -> None:
    """Before a long-running process opens ``path`` itself: a child opens it (the layout and
    structure checks) and reads its metadata and each dataset's first and last rows, where a
    crafted file would crash libhdf5. What a writer appends later is not vetted (a file
    followed while it grows is our own DAQ's)."""
    isolated(_touch_run_file, str(path), timeout_s=timeout_s)


def _touch_run_file(path: str) -> None:
    import h5py

    from daq.run_file.reader import RunReader

    def touch(_: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            if obj.shape and obj.shape[0]:
                obj[0], obj[obj.shape[0] - 1]
            elif not obj.shape:
                obj[()]

    with RunReader(path) as run:
        for f in run.files:
            f.visititems(touch)  # hard links only: the allowed external links stay closed


if __name__ == "__main__":
    _child()
