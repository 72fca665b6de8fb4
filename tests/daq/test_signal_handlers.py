"""Every signal handler the DAQ installs takes no lock. A handler runs in the main thread
between two bytecodes, perhaps while that thread holds the very lock the handler wants: it
then waits for ever. A crate's trigger handler that set a ``threading.Event`` the main thread
was waiting on could do so, and the crate fell silent at its trigger."""

from __future__ import annotations

import signal
import sys
import threading

import pytest

from daq.app.source_process import RunSignals
from daq.app.terminal import StopSignals
from daq.core.process_shell import PARENT_DEATH_SIGNAL, ProcessShell
from emulator.publisher import Publisher

LOCKS = (type(threading.Lock()), type(threading.RLock()))


def _locks_taken(sig: int) -> list[str]:
    """The locks the handler installed for ``sig`` takes, called as the interpreter would."""
    handler = signal.getsignal(sig)
    taken = []

    def profile(frame, event, arg) -> None:
        if event == "c_call" and isinstance(getattr(arg, "__self__", None), LOCKS) \
                and arg.__name__ in ("acquire", "__enter__", "acquire_lock"):
            taken.append(f"{type(arg.__self__).__name__}.{arg.__name__} in "
                         f"{frame.f_code.co_qualname}")

    sys.setprofile(profile)
    try:
        handler(sig, None)
    finally:
        sys.setprofile(None)
    return taken


@pytest.fixture
def restored_handlers():
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT,
                                              signal.SIGHUP, PARENT_DEATH_SIGNAL)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def test_the_probe_sees_a_handler_that_takes_a_lock(restored_handlers):
    event = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: event.set())
    assert _locks_taken(signal.SIGUSR1)
    assert event.is_set()


@pytest.mark.timeout(30)
def test_a_crates_handlers_take_no_lock(tmp_path, restored_handlers):
    """The trigger (SIGUSR1), the stop (SIGTERM) and the supervisor's death, as a crate
    waiting for its trigger under run control has them."""
    with RunSignals() as signals:
        pub = Publisher({3: f"ipc://{tmp_path}/source-3"}, time_compressed=False,
                        heartbeat=f"ipc://{tmp_path}/heartbeat", name="source-3",
                        wait_for_go=True)
        try:
            signals.attach(pub)
            assert not pub.go
            assert _locks_taken(signal.SIGUSR1) == []
            assert pub.go
            assert _locks_taken(signal.SIGTERM) == []
            assert pub.stop_reason == "asked to stop (SIGTERM)"
            assert _locks_taken(PARENT_DEATH_SIGNAL) == []
            assert pub.shell.orphaned
        finally:
            pub.close()


@pytest.mark.timeout(30)
def test_a_components_and_the_terminals_handlers_take_no_lock(tmp_path, restored_handlers):
    shell = ProcessShell("writer", f"ipc://{tmp_path}/heartbeat", None, 1.0)
    try:
        assert _locks_taken(signal.SIGTERM) == []
        assert shell.exiting
        assert _locks_taken(PARENT_DEATH_SIGNAL) == []
        assert shell.orphaned
    finally:
        shell.close(final_beat=False)
    stop = StopSignals()
    try:
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
            assert _locks_taken(sig) == []
        assert stop.received == "SIGHUP (the terminal was closed)"
    finally:
        stop.restore()
