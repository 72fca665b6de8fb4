"""The kill matrix's frozen half (docs/reliability.md): each kind of DAQ process frozen with
SIGSTOP mid-run (and the builder also killed), on a real DAQ at the beam's pace. A frozen
process is noticed within the heartbeat limit and raises its one alarm (the run's error
naming it, or the worker's restart; the tap, the alarm server, none); a worker or the tap is
replaced and nothing is lost; a crate or the builder puts the run in error, naming it, and
the stop still succeeds, with the file closed and every event either written or counted in
the ledger (without a builder, the writer closes the file with the crates' counts)."""

import os
import signal
import time

import pytest
from conftest import raised_alarms, wait_until

from daq.run_file.reader import RunReader

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("victim, sig", [("source-2", signal.SIGSTOP),
                                         ("builder", signal.SIGKILL),
                                         ("builder", signal.SIGSTOP),
                                         ("worker-1", signal.SIGSTOP),
                                         ("tap", signal.SIGSTOP)])
def test_a_frozen_or_killed_process_is_noticed_and_the_run_still_stops(daq, victim, sig):
    sup = daq(**{"emulator.spill.duration_s": 2.0, "emulator.run.spills": 3,
                 "emulator.spill.pause_s": 0.5, "emulator.spill.time_compressed": False})
    said = []  # when the supervisor decided (its teardown of the run follows, in the poll)
    sup.log = lambda message: said.append((time.monotonic(), message))
    sup.configure()
    sup.start()
    hit, noticed = None, None
    deadline = time.monotonic() + 90
    try:
        while sup.state == "running" and time.monotonic() < deadline:
            sup.poll(0.05)
            if hit is None and sup.procs["writer"].counters.get("written_events", 0) > 0:
                process = sup.procs[victim].popen
                os.kill(process.pid, sig)
                hit = time.monotonic()
            if hit is not None and noticed is None:
                noticed = next((t for t, m in said if t > hit and victim in m), None)
        assert hit is not None, f"the run ended before {victim} was hit"
        assert noticed is not None, (sup.state, sup.error)
        limit = sup.cfg.run.dead_after_s if sig == signal.SIGSTOP else 0.0
        assert noticed - hit < limit + 1.5  # the heartbeat limit, and the polling
        # its one alarm: the run's error naming it, or the worker's restart; the tap is the
        # alarm server, and its replacement counts restarts from its own start: none
        if victim != "tap":
            assert wait_until(lambda: (sup.poll(0.05), raised_alarms(sup.db, sup.run))[1], 15)
            (alarm,) = raised_alarms(sup.db, sup.run)
        if victim == "worker-1":
            assert alarm.startswith("process not answering raised MINOR: 1 restarts"), alarm
        elif victim != "tap":
            assert alarm.startswith("run error raised MAJOR: ") and victim in alarm, alarm
        if victim in ("worker-1", "tap"):  # replaced: the run goes on and loses nothing
            assert sup.outcome == "stopped" and sup.ledger["balanced"], (sup.error, sup.ledger)
            assert sup.ledger["written_incomplete"] == 0 and sup.ledger["unaccounted"] == 0
            assert process.poll() is not None  # the frozen one was killed
            assert victim != "tap" or raised_alarms(sup.db, sup.run) == []
            return
        assert sup.state == "error" and victim in sup.error, sup.error
        reason = "stopped answering" if sig == signal.SIGSTOP else "exited with code"
        assert reason in sup.error, sup.error
        path = sup.procs["writer"].counters["file"]
        t0 = time.monotonic()
        sup.stop()  # always succeeds
        assert time.monotonic() - t0 < sup.cfg.run.stop_timeout_s
        assert sup.state == "configured" and process.poll() is not None
        with RunReader(path) as f:  # closed with what was taken, and its ledger
            n, end = f.n_events, f.run_end()
        assert n > 0 and end is not None
        ledger = end["ledger"]
        if victim == "builder":  # no end of run came: the crates' counts, the loss counted
            assert ledger["balanced"] is False and ledger["written"] == n
            assert ledger["unaccounted"] == ledger["triggered"] - n >= 0
            assert "builder" in ledger["closed_because"]
        record = sup.db.run(sup.run)
        assert record["state"] == "error" and record["ledger"]["triggered"] >= n
    finally:
        if hit is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)


def test_a_frozen_supervisor_resumed_finds_its_processes_alive_and_the_run_goes_on(
        tmp_path, daq_run):
    """SIGSTOP of the supervisor (a crew's Ctrl-Z on ``na64daq run``: its children are in
    sessions of their own, so only it stops) for longer than the heartbeat limit and than the
    monitor's patience, then SIGCONT. Data taking went on without it; the monitor raised one
    alarm, the DAQ's state gone stale; once resumed the supervisor must not take the
    heartbeats still in flight for dead processes (it did: "writer stopped answering (no
    heartbeat for 10.1 s)", and the run ended in error). The crew's stop then ends the run,
    whole."""
    from daq.core.config_schema import load
    from daq.core.control_protocol import ask
    from daq.core.run_database import RunDatabase
    from daq.processes.daq_config import DaqConfig
    from monitor.alarm_checks import FeedStale

    daq, control = daq_run(**{
        "emulator.spill.duration_s": 2.0, "emulator.spill.pause_s": 0.5,
        "emulator.run.spills": 20, "emulator.spill.time_compressed": "false",
        "tap.end_of_run_png": "false"})
    assert ask(control, "start")["ok"]

    def written() -> int:
        return ask(control, "status")["written_events"] or 0

    assert wait_until(lambda: written() > 0, 60)
    os.kill(daq.pid, signal.SIGSTOP)
    dead_after_s = load(DaqConfig, None).run.dead_after_s
    time.sleep(max(2 * dead_after_s, FeedStale.WINDOW_S + 2.0))  # the fault's size
    os.kill(daq.pid, signal.SIGCONT)
    status = ask(control, "status")
    assert status["state"] == "running", status.get("error")
    after = written()
    assert wait_until(lambda: written() > after, 30)  # the run goes on, watched again
    status = ask(control, "status")
    assert status["state"] == "running", status.get("error")
    assert ask(control, "stop")["ok"]
    assert wait_until(lambda: ask(control, "status")["state"] == "configured", 60)
    status = ask(control, "status")
    ledger = status["ledger"]
    assert status["outcome"] == "stopped", status
    assert ledger["balanced"] and ledger["unaccounted"] == 0, ledger
    assert ledger["written_incomplete"] == 0, ledger
    db = RunDatabase(tmp_path / "runs.db")
    assert db.run(status["run"])["summary"]["stop_reason"] == "ctl stop"
    (alarm,) = raised_alarms(db, status["run"])
    assert alarm.startswith("monitor feed stale raised MAJOR: no state from the DAQ"), alarm
    db.close()
