"""The terminal a DAQ command runs in (``docs/run-control.md``, the crew's contract): the
signals that stop a run (Ctrl-C, SIGTERM, and SIGHUP when the terminal is closed or an SSH
session drops), and the output, whose reader may go away under it (a closed pipe, a hung-up
terminal). Either stops the run as Ctrl-C does; lost output then goes to /dev/null, so that
no later line can kill the command before it has closed the run."""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
from typing import Any

REASONS = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM",
           signal.SIGHUP: "SIGHUP (the terminal was closed)"}


class StopSignals:
    """SIGINT (Ctrl-C, to the whole process group), SIGTERM and SIGHUP: a clean stop, the same
    as ``ctl stop``. Set explicitly, since a shell that starts a program in the background has
    it ignore SIGINT (the demo ran on through it), and SIGHUP's default killed ``demo`` and
    left every process of its DAQ running."""

    def __init__(self) -> None:
        self.received: str | None = None
        self.previous = {sig: signal.signal(sig, self._on) for sig in REASONS}

    def _on(self, signum: int, _frame: Any) -> None:
        self.received = self.received or REASONS[signal.Signals(signum)]

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class Output:
    """Standard output and error that survive their reader going away: the first write that
    fails (EPIPE, EIO) sets ``lost`` to the reason and sends both to /dev/null."""

    def __init__(self) -> None:
        self.lost: str | None = None
        self.previous = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = _Guarded(sys.stdout, self), _Guarded(sys.stderr, self)

    def lose(self, exc: OSError) -> None:
        if self.lost is None:
            self.lost = f"standard output lost ({errno.errorcode.get(exc.errno, exc)})"
        null = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):  # what the interpreter and C code write later goes nowhere too
            os.dup2(null, fd)
        os.close(null)

    def restore(self) -> None:
        sys.stdout, sys.stderr = self.previous


class _Guarded(io.TextIOBase):
    def __init__(self, stream, output: Output):
        self.stream = stream
        self.output = output

    def write(self, text: str) -> int:
        if self.output.lost is None:
            try:
                self.stream.write(text)
            except OSError as exc:
                self.output.lose(exc)
        return len(text)

    def flush(self) -> None:
        if self.output.lost is None:
            try:
                self.stream.flush()
            except OSError as exc:
                self.output.lose(exc)

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.output.lost is None and self.stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding


def stop_reason(signals: StopSignals, output: Output) -> str | None:
    """Why the command must stop its run now, or None."""
    return signals.received or output.lost
