"""Where a silent process is stuck: every DAQ process writes the Python stack of each of its
threads to its log on ``STACK_SIGNAL`` (``faulthandler``, from C, so even a main thread that
waits for ever on a lock answers), and the supervisor, before it acts on a process that
stopped beating, asks for it and names the place in the run's error (``docs/run-control.md``,
Heartbeats). Two crates silent in CI runs said only "no heartbeat for 3.0 s"."""

from __future__ import annotations

import faulthandler
import re
import signal

#: the signal that asks for the stacks (SIGQUIT: a thread dump, as in a JVM; the DAQ's
#: processes are in sessions of their own, so a crew's Ctrl-\ does not reach them)
STACK_SIGNAL = signal.SIGQUIT
#: our packages: the frame in them that called into a library is the one to name
OURS = ("daq", "emulator", "monitor", "calib")

_HEADER = re.compile(r"^(Current thread|Thread) 0x[0-9a-f]+ \(most recent call first\):$")
_FRAME = re.compile(r'^  File "(.*)", line (\d+) in (.*)$')


def answer_stack_requests() -> None:
    """This process writes its threads' stacks to standard error on ``STACK_SIGNAL``."""
    faulthandler.register(STACK_SIGNAL, file=2, all_threads=True, chain=False)


def stuck_at(log_tail: str) -> str:
    """Where the last stack dump in ``log_tail`` has the main thread: its innermost frame and,
    if that is in a library, the frame of ours that called it; "" if there is no dump."""
    stack = _main_thread(_last_dump(log_tail.splitlines()))
    if not stack:
        return ""
    where = f"{stack[0][2]} ({_short(stack[0][0])}:{stack[0][1]})"
    ours = next((f for f in stack if _is_ours(f[0])), None)
    if ours is not None and ours is not stack[0]:
        where += f", called from {ours[2]} ({_short(ours[0])}:{ours[1]})"
    return where


def _last_dump(lines: list[str]) -> list[list[tuple[str, int, str]]]:
    """The threads (each its frames, innermost first) of the last dump: the run of header,
    frame and blank lines around the last header."""
    last = max((i for i, line in enumerate(lines) if _HEADER.match(line)), default=None)
    if last is None:
        return []
    start = last
    while start > 0 and (_HEADER.match(lines[start - 1]) or _FRAME.match(lines[start - 1])
                         or not lines[start - 1].strip()):
        start -= 1
    threads: list[list[tuple[str, int, str]]] = []
    for line in lines[start:]:
        if _HEADER.match(line):
            threads.append([])
        elif (m := _FRAME.match(line)) and threads:
            threads[-1].append((m[1], int(m[2]), m[3]))
        elif line.strip() and threads:
            break  # the process wrote on after the dump
    return threads


def _main_thread(threads: list[list[tuple[str, int, str]]]) -> list[tuple[str, int, str]]:
    """The thread whose outermost frame is a program's start (``python -m`` or a script)."""
    for frames in threads:
        if frames and frames[-1][2] in ("<module>", "_run_module_as_main"):
            return frames
    return threads[0] if threads else []


def _is_ours(path: str) -> bool:
    parts = path.replace("\\", "/").split("/")
    return any(p in OURS for p in parts[:-1])


def _short(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]
