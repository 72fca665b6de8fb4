"""An emulated or replayed crate as a process of the command line: its sockets bound for the
command and let go whatever happens, the signals that end its run, and what it says at the end."""

from __future__ import annotations

import argparse
import contextlib
import signal
from collections.abc import Iterator
from typing import Any


class RunSignals:
    """A source's signals from run control, caught from the command's first moment: SIGTERM
    (stop) during start-up (the JIT, a file to read) ends the run cleanly too, instead of
    killing the crate before it could close its run; SIGUSR1 enables the trigger, sent to
    every crate at once when all are ready, so that they share the spill clock as crates do
    (each starting on its own, they were a second apart, and a stop cut that much)."""

    def __init__(self) -> None:
        self.publisher = None
        self.reason: str | None = None
        self.go = False
        self.previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, self._stop),
                         signal.SIGUSR1: signal.signal(signal.SIGUSR1, self._go)}

    def __enter__(self) -> RunSignals:
        return self

    def __exit__(self, *_: object) -> None:  # the command may run inside another program
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _stop(self, *_: object) -> None:
        self.reason = "asked to stop (SIGTERM)"
        if self.publisher is not None:
            self.publisher.request_stop(self.reason)

    def _go(self, *_: object) -> None:
        self.go = True
        if self.publisher is not None:
            self.publisher.enable_trigger()

    def attach(self, publisher) -> None:
        self.publisher = publisher
        if self.reason:
            publisher.request_stop(self.reason)
        if self.go:
            publisher.enable_trigger()


@contextlib.contextmanager
def publisher(publish, time_compressed: bool, pace: float, ids,
               args: argparse.Namespace, signals: RunSignals, faults=None) -> Iterator[Any]:
    """The crates' sockets, bound for the command and let go whatever happens (a replay of a
    damaged file, run inside another program, kept the default ports bound). ``faults``: the
    emulator's, for a crate whose endpoint disappears (``gone_source``)."""
    from emulator.publisher import Publisher

    endpoints = {sid: publish.endpoint(sid) for sid in ids}
    pub = Publisher(endpoints, time_compressed, pace, publish.send_hwm, publish.linger_s,
                    heartbeat=args.heartbeat, name=args.name,
                    wait_for_go=args.heartbeat is not None,  # under run control
                    commands=getattr(args, "commands", None),
                    curve=(args.keys, args.key) if getattr(args, "keys", None) else None,
                    curve_data=getattr(args, "curve_data", False),
                    endpoint_gone=None if faults is None or not faults.gone_source else
                    lambda sid, spill: faults.gone_s if sid == faults.gone_source and
                    faults.on(spill) else 0.0)
    signals.attach(pub)
    try:
        yield pub
    finally:
        pub.close()


def publish(pub, frames) -> int:
    print("publishing " + ", ".join(f"source {s}" for s in pub.sockets), flush=True)
    counters = pub.run(frames)
    for sid, c in counters.items():
        info = c.info(spill=False)
        print(f"source {sid}: {info['triggered']} events triggered, {info['sent']} sent, "
              f"{info['not_sent']} not sent")
    return 0
