"""A crate waiting for its trigger, sent run control's SIGUSR1 at a random moment, many times:
how many never start (docs/run-control.md, Heartbeats). The crate's own wait (``RunSignals``
and ``Publisher.run``, forked, with no frames to send) against the wait it had before, kept
here for comparison: a ``threading.Event`` its handler set, which deadlocked when the handler
ran while the main thread held the event's lock.

    python bench/trigger_signal.py [--trials 20000] [--load 2] [--json]

``--load``: busy processes beside the crates (a loaded machine: the window is wider when the
waiting process is preempted in it). A crate that does not start within 2 s is hung: its stack
is printed (faulthandler) and it is killed.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daq.app.bench.machine import description as machine  # noqa: E402

PARALLEL = 16
HUNG_AFTER_S = 2.0


def crate_now() -> None:
    """The crate's wait for its trigger, as it is."""
    from daq.app.source_process import RunSignals
    from emulator.publisher import Publisher

    with RunSignals() as signals:
        pub = Publisher({}, time_compressed=False, wait_for_go=True)
        signals.attach(pub)
        pub.run(iter(()))


def crate_before() -> None:
    """The crate's wait for its trigger before 9f92abe: an Event set by the handler."""
    go = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: go.set())
    next_beat = 0.0
    while not go.is_set():
        now = time.monotonic()
        if now >= next_beat:  # the heartbeat, once a second
            next_beat = now + 1.0
            json.dumps({"counters": list(range(50))})
        go.wait(0.05)


def trials(wait, n: int, stacks: Path) -> dict:
    """``n`` crates forked ``PARALLEL`` at a time, each sent one SIGUSR1 60-200 ms after its
    start; the hung ones' stacks (innermost first) kept."""
    running: dict[int, list] = {}
    done, hung, hung_stacks = 0, 0, []
    t0 = time.monotonic()
    while done < n:
        while len(running) < PARALLEL and done + len(running) < n:
            pid = os.fork()
            if pid == 0:
                with open(stacks / f"{os.getpid()}.txt", "w") as fh:
                    faulthandler.register(signal.SIGQUIT, file=fh, all_threads=True)
                    try:
                        wait()
                    finally:
                        os._exit(0)
            running[pid] = [time.monotonic() + random.uniform(0.06, 0.2), None]
        now = time.monotonic()
        for pid, (due, sent) in list(running.items()):
            if sent is None and now >= due:
                os.kill(pid, signal.SIGUSR1)
                running[pid][1] = now
            elif sent is not None:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    del running[pid]
                    done += 1
                elif now - sent > HUNG_AFTER_S:
                    os.kill(pid, signal.SIGQUIT)
                    time.sleep(0.2)
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    hung += 1
                    hung_stacks.append((stacks / f"{pid}.txt").read_text())
                    del running[pid]
                    done += 1
        time.sleep(0.002)
    return {"signals": n, "hung": hung, "seconds": round(time.monotonic() - t0, 1),
            "first_hung_stack": hung_stacks[0] if hung_stacks else None}


def busy() -> None:
    while True:
        pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=20000)
    p.add_argument("--load", type=int, default=2, help="busy processes beside the crates")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    hogs = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.load)]
    for h in hogs:
        h.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = {"machine": machine(), "load": args.load,
                   "before": trials(crate_before, args.trials, Path(tmp)),
                   "now": trials(crate_now, args.trials, Path(tmp))}
    finally:
        for h in hogs:
            h.terminate()
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"{out['machine']}; {args.load} busy processes beside the crates")
    for name in ("before", "now"):
        r = out[name]
        print(f"{name:>7}: {r['signals']} triggers, {r['hung']} crates hung "
              f"({r['seconds']:.0f} s)")
    if out["before"]["first_hung_stack"]:
        print("the first hung crate before, innermost first:")
        print(out["before"]["first_hung_stack"])


if __name__ == "__main__":
    main()
