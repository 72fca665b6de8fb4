"""The DAQ as the crew runs it (docs/run-control.md, "The crew's contract"): stops at any
moment of beam-paced multi-spill runs, Ctrl-C and SIGTERM, beam pace without loss, stray frames
and hostile messages against a running DAQ. Real processes on real sockets."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import zmq
from conftest import FIXED_PHYSICS, log_tails, run_to_end, wait_until

from daq.core import built_batch
from daq.core.run_database import RunDatabase
from daq.core.wire_format import EVENT_DTYPE, FrameKind, encode_control, encode_events
from daq.run_file import layout as L
from daq.run_file.reader import RunReader
from daq.run_file.verification import verify

#: beam-paced spills short enough for the suite: 1 s spills, 1 s pauses (longer than the
#: builder's 0.5 s timeout here, as the 15 s SPS pause is longer than its default 1 s); the
#: counters a stop waits for come with the heartbeats, here every 0.1 s, and the crates send
#: frames of 64 events, so that a spill's events arrive while it lasts; random triggers at
#: 200 Hz, so that a spill cut after a quarter of a second has its EOT estimate (at the default
#: 20 Hz, 5 expected: none at all in 0.7 % of such stops, and an estimate of 0)
PACED = {"emulator.run.batch_events": 64, "emulator.spill.time_compressed": False,
         "emulator.trigger.random_rate_hz": 200.0,
         "emulator.spill.duration_s": 1.0,
         "emulator.spill.pause_s": 1.0, "emulator.run.spills": 3, "builder.timeout_s": 0.5,
         "emulator.beam.intensity_per_spill": 5e6 / 4.8, "run.heartbeat_s": 0.1}


def _planned(make_emulator, sup):
    """The emulator's trigger plan of each spill of the supervisor's run."""
    e = sup.cfg.emulator
    em = make_emulator(**FIXED_PHYSICS,
                       **{"spill.duration_s": e.spill.duration_s, "run.number": sup.run,
                          "spill.pause_s": e.spill.pause_s,
                          "trigger.random_rate_hz": e.trigger.random_rate_hz,
                          "beam.intensity_per_spill": e.beam.intensity_per_spill})
    return [em.spill_plan(s) for s in range(1, e.run.spills + 1)]


def _closed_spill(sup) -> int:
    return ((sup.procs["writer"].counters.get("spill_ledger") or {}).get("spill") or 0)


def _built(sup) -> int:
    return sup.procs["builder"].counters.get("built_events") or 0


#: events of a spill built before a stop inside it: about a quarter of its 1 s (its EOT
#: estimate then rests on ~50 random triggers, not on none)
QUARTER_SPILL = 256

#: when to stop, as what the DAQ reports (never a time): at once, the crates still starting;
#: once a quarter of the first spill is built (the writer counts its events per block); once
#: it closed (a 1 s pause follows); once a quarter of the third spill is built
MOMENTS = {
    "before-first-event": None,
    "mid-spill": lambda sup, seen: _built(sup) >= QUARTER_SPILL and _closed_spill(sup) == 0,
    "between-spills": lambda sup, seen: _closed_spill(sup) == 1,
    "last-spill": lambda sup, seen: _closed_spill(sup) == 2 and _built(sup) >= QUARTER_SPILL
    + seen.setdefault("at_second_close", _built(sup)),
}


def _stop_when(sup, moment, timeout_s=90.0):
    """Start a run and stop it once ``MOMENTS[moment]`` holds."""
    sup.configure()
    assert sup.state == "configured", sup.error
    sup.start()
    when, seen = MOMENTS[moment], {}
    if when is not None:
        assert wait_until(lambda: (sup.poll(0.02), sup.state != "running" or when(sup, seen))[1],
                          timeout_s)
    assert sup.state == "running", f"the run ended before the stop: {sup.error}"
    sup.stop()


@pytest.mark.parametrize("moment, spills", [("before-first-event", 0), ("mid-spill", 1),
                                            ("between-spills", 1), ("last-spill", 3)])
def test_a_stop_at_any_moment_ends_stopped_with_a_verified_file_and_a_balanced_ledger(
        daq, make_emulator, moment, spills):
    sup = daq(**PACED)
    _stop_when(sup, moment)
    assert sup.state == "configured" and sup.outcome == "stopped", (sup.error, log_tails(sup))
    ledger = sup.ledger
    assert ledger["balanced"] and ledger["unaccounted"] == 0, ledger
    assert ledger["spills"] == spills
    rec = sup.db.run(sup.run)
    assert rec["state"] == "stopped" and rec["ledger"]["triggered"] == ledger["triggered"]
    with RunReader(sup.procs["writer"].counters["file"]) as f:
        report = verify(f)
        events, rows = f.column("events"), f.spills()
        assert f.run_end() is not None  # closed
    assert report["ok"] and report["unverified_rows"] == 0
    assert len(events) == ledger["triggered"]
    # the stop is one trigger inhibit for every crate: no event is cut in two
    assert ledger["written_incomplete"] == (events["complete"] == 0).sum() == 0, ledger
    plans = _planned(make_emulator, sup)
    for row in rows:  # every spill row on the crates' clock, its EOT from its real length
        plan = plans[row["spill"] - 1]
        taken = events[events["spill"] == row["spill"]]
        assert row["start_ns"] == plan.start_ns
        assert np.array_equal(np.sort(taken["event"]), np.arange(1, len(taken) + 1))
        if len(taken) < len(plan.triggers):  # the cut spill: it ends at its last event
            assert row["end_ns"] == plan.start_ns + int(taken["trigger_time_ns"][-1])
        else:
            assert row["end_ns"] == plan.end_ns
        fraction = (row["end_ns"] - row["start_ns"]) / (plan.end_ns - plan.start_ns)
        eot = sup.cfg.emulator.beam.intensity_per_spill * fraction
        assert abs(row["eot_estimate"] - eot) < 4 * row["eot_error"] + 0.1 * eot, row
    if moment == "mid-spill":  # stopped inside the first spill: it was cut
        assert 0 < len(events) < 0.9 * len(plans[0].triggers)
    if moment == "between-spills":  # in the pause: the first spill whole, nothing of the second
        assert len(events) == len(plans[0].triggers)


def test_a_stop_cuts_no_event_even_when_a_crate_hears_it_late(daq):
    """At the beam's pace a stop is one trigger inhibit for every crate, on run control's
    clock. A crate that handles its stop late (busy, or not scheduled on a loaded machine;
    here frozen for the fault's size when the stop comes) must still end on the trigger the
    others end on: each crate took the moment it handled the signal as the stop, and a loaded
    CI machine found 64 of 12,079 events incomplete; frozen, every event the late crate read
    out beyond the others' is incomplete."""
    sup = daq(**{**PACED, "emulator.spill.duration_s": 30.0, "emulator.run.spills": 1,
                 "builder.timeout_s": 5.0})  # the freeze is no crate silent to the builder
    sup.configure()
    sup.start()
    assert wait_until(lambda: (sup.poll(0.02), sup.state != "running" or
                               _built(sup) >= QUARTER_SPILL)[1], 90)
    late = sup.procs.role("source")[0].popen.pid
    os.kill(late, signal.SIGSTOP)
    resume = threading.Timer(1.0, os.kill, (late, signal.SIGCONT))  # the fault's size
    resume.start()
    try:
        sup.stop()
    finally:
        resume.join()
    ledger = sup.ledger
    assert sup.outcome == "stopped", (sup.error, log_tails(sup))
    assert ledger["balanced"] and ledger["unaccounted"] == 0, ledger
    assert ledger["written_complete"] >= QUARTER_SPILL
    assert ledger["written_incomplete"] == 0, ledger


def test_beam_paced_spills_lose_nothing_even_when_the_wall_clock_steps(daq, make_emulator,
                                                                        stepped_clock):
    """Pace 2 (1 s spills and pauses as 0.5 s: still longer than the builder's timeout). The
    machine's wall clock is stepped an hour forward in the first spill and two hours back in
    the second, as NTP may: the builder's timeouts run on the monotonic clock."""
    sup = daq(**{**PACED, "emulator.spill.pace": 2.0, "builder.timeout_s": 0.3})
    steps = []

    def step(s):
        spill = _closed_spill(s)
        if not steps and _built(s) > 0:
            stepped_clock(3600.0)
            steps.append(spill)
        elif len(steps) == 1 and spill >= 1:
            stepped_clock(-3600.0)
            steps.append(spill)

    ledger = run_to_end(sup, during=step)
    assert len(steps) == 2, steps
    with RunReader(sup.procs["writer"].counters["file"]) as f:  # the steps took effect
        written_s = f.files[0][L.BLOCKS]["time_unix_s"] - time.time()
    assert written_s[0] > 3000 and written_s[-1] < -3000, written_s
    assert sup.outcome == "stopped" and ledger["balanced"], (sup.error, log_tails(sup))
    sources = ledger["stages"]["sources"]
    assert all(s["not_sent"] == 0 for s in sources.values())  # the crates sent everything...
    assert ledger["written_incomplete"] == 0  # ...so nothing may be incomplete
    assert ledger["written_complete"] == sum(len(p.triggers) for p in _planned(make_emulator,
                                                                               sup))


def _demo(tmp_path, daq_toml, *extra, ignore_sigint=False):
    env = dict(os.environ, NA64DAQ_DB=str(tmp_path / "runs.db"))

    def setup():  # a shell's background job: SIGINT ignored, the demo must stop all the same
        os.setsid()
        if ignore_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        [sys.executable, "-m", "daq.app.cli", "demo", "--no-gui", "--config", str(daq_toml),
         "--spills", "3", "--out", str(tmp_path / "runs"),
         "--set", "emulator.spill.time_compressed=false", "--set", "emulator.spill.pause_s=1.0",
         "--set", "emulator.spill.duration_s=1.0", *extra],
        env=env, preexec_fn=setup, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("sig, ignore_sigint", [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["sigint-to-the-group", "sigterm"])
def test_ctrl_c_or_sigterm_stops_the_demo_cleanly(tmp_path, daq_toml, sig, ignore_sigint):
    demo = _demo(tmp_path, daq_toml, ignore_sigint=ignore_sigint)
    run_file = tmp_path / "runs" / "run_000001.h5"
    assert wait_until(lambda: run_file.exists() or demo.poll() is not None, 120)
    created = run_file.stat().st_size
    # into the run: the first block of events flushed to the file
    assert wait_until(lambda: run_file.stat().st_size > created or demo.poll() is not None, 60)
    os.killpg(demo.pid, sig)  # as a terminal sends Ctrl-C: to the whole process group
    out, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, out
    assert "stopping" in out and "balanced" in out, out
    rec = RunDatabase(tmp_path / "runs.db").run()
    assert rec["state"] == "stopped" and rec["ledger"]["balanced"], rec
    assert rec["ledger"]["spills"] < 3  # it did not run on to the end
    with RunReader(run_file) as f:
        assert verify(f)["ok"] and f.run_end() is not None


def _read_until(proc, pattern: str, timeout_s: float) -> str:
    """What ``proc`` printed until ``pattern`` appeared (progress lines end in a carriage
    return, not a newline: read as it comes)."""
    import re
    import select

    out, fd = "", proc.stdout.fileno()
    deadline = time.monotonic() + timeout_s
    while not re.search(pattern, out) and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if select.select([fd], [], [], 0.5)[0]:
            out += os.read(fd, 65536).decode(errors="replace")
    assert re.search(pattern, out), out
    return out


def _daq_processes(tmp_path) -> list[str]:
    """Processes of a DAQ of this test (their command lines name its directory)."""
    left = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = open(f"/proc/{d}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(tmp_path) in cmd and int(d) != os.getpid():
                left.append(cmd)
    return left


@pytest.mark.parametrize("how", ["sighup", "stdout-reader-gone"])
def test_a_terminal_that_goes_away_stops_the_run_cleanly_and_leaves_nothing(tmp_path,
                                                                            daq_toml, how):
    """A closed terminal or a dropped SSH session (SIGHUP), or the reader of the demo's
    output gone (a closed pipe), mid-run at the beam's pace: it exited 129 before, the
    record said 'running' for ever, no file, and every process ran on as an orphan."""
    demo = _demo(tmp_path, daq_toml, "--set", "emulator.spill.pace=2", "--spills", "8")
    _read_until(demo, r"run 1: +[\d.]+ s, [1-9]\d* events written", 120)
    if how == "sighup":
        os.killpg(demo.pid, signal.SIGHUP)  # the terminal's whole process group
    else:
        demo.stdout.close()  # the next line the demo prints has no reader
    demo.wait(90)
    assert demo.returncode == 0
    assert _daq_processes(tmp_path) == []  # nothing left behind, nothing holds a port
    rec = RunDatabase(tmp_path / "runs.db").run()
    assert rec["state"] == "stopped" and rec["ledger"]["balanced"], rec
    assert rec["ledger"]["spills"] < 8  # it stopped, rather than ran on to the end
    assert rec["summary"]["stop_reason"] == ("SIGHUP (the terminal was closed)"
                                             if how == "sighup" else
                                             "standard output lost (EPIPE)")
    record = json.loads((tmp_path / "runs" / "logs" / "run-1.record.json").read_text())
    assert record["state"] == "stopped"
    with RunReader(tmp_path / "runs" / "run_000001.h5") as f:
        assert verify(f)["ok"] and f.run_end() is not None


def _push(ctx, endpoint, bind=True):
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.LINGER, 2000)
    for attempt in range(50):  # a port just let go of may take a moment to be free again
        try:
            (s.bind if bind else s.connect)(endpoint)
            return s
        except zmq.ZMQError:
            if attempt == 49:
                raise
            time.sleep(0.1)


def test_stray_frames_and_markers_cannot_open_end_or_grow_a_run(daq, make_emulator, detector):
    """Between runs, a well-formed SOR for run 999 on a source's port and a SOR marker pushed
    to the writer; during a run, frames with absurd spill numbers, a second SOR, an EOR of
    another run. Nothing opens a file, the run writes every event, and the builder's memory
    stays bounded."""
    sup = daq(**{"run.sources": "external"})
    sup.configure()
    ctx = zmq.Context()
    sid = detector.source_ids[1]
    n_ch, n_s = len(detector.source(sid).channels), detector.samples_per_channel
    try:
        stray = _push(ctx, sup.cfg.source_endpoint(sid))
        stray.send_multipart(encode_control(FrameKind.SOR, 999, 0, sid, n_ch, n_s, 1))
        writer_in = _push(ctx, sup.cfg.endpoints.writer, bind=False)
        writer_in.send_multipart(built_batch.marker(1, "SOR", 999, 0, {"run": 999}))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            sup.poll(0.1)
            b, w = sup.procs["builder"].counters, sup.procs["writer"].counters
            if b.get("rejected_between_runs") and w.get("foreign_items"):
                break
        assert b["rejected_between_runs"][str(sid)] == {"uncommanded_sor": 1}
        assert w["foreign_items"] == 1
        stray.close(linger=0)
        writer_in.close(linger=0)

        run = sup.start()
        em = make_emulator(**FIXED_PHYSICS,
                           **{"spill.duration_s": 0.5, "run.spills": 2, "run.number": run})
        socks = {s: _push(ctx, sup.cfg.source_endpoint(s)) for s in detector.source_ids}
        time.sleep(0.5)
        rss0 = _rss_mb(sup.procs["builder"].popen.pid)
        hostile = 0
        for _, s, parts in em.frames():
            socks[s].send_multipart(parts)
            kind = FrameKind(parts[0][6])
            if s == sid and kind is FrameKind.SOR:
                socks[s].send_multipart(parts)  # a second SOR
                socks[s].send_multipart(encode_control(FrameKind.EOR, run + 1, 0, s, n_ch,
                                                       n_s, 1))  # an EOR of another run
            if s == sid and kind is FrameKind.EVENTS and hostile < 300:
                for spill in (4_000_000_000 - hostile, 10 + hostile):  # far, and just far
                    table = np.frombuffer(parts[1], EVENT_DTYPE).copy()
                    samples = np.frombuffer(parts[2], "<u2").reshape(len(table), n_ch, n_s)
                    table["event"] = np.arange(1, len(table) + 1) + 10_000 * hostile
                    socks[s].send_multipart(encode_events(run, spill, s, 0, table, samples))
                    hostile += 1
        deadline = time.monotonic() + 60
        while sup.state == "running" and time.monotonic() < deadline:
            sup.poll(0.1)
        rss1 = _rss_mb(sup.procs["builder"].popen.pid)
    finally:
        for s in locals().get("socks", {}).values():
            s.close(linger=0)
        ctx.destroy(linger=0)
    ledger = sup.ledger
    assert sup.outcome == "stopped" and ledger["balanced"], (sup.error, ledger)
    triggered = sum(len(em.spill_plan(k).triggers) for k in (1, 2))
    assert ledger["triggered"] == ledger["written_complete"] == triggered
    assert ledger["spills"] == 2  # no spill row for a hostile spill number
    rejected = ledger["stages"]["builder_per_source"][str(sid)]["rejected"]
    assert rejected == {"spill_out_of_window": hostile, "repeated_sor": 1, "wrong_run": 1}
    assert rss1 - rss0 < 200, (rss0, rss1)  # 300 frames of new spills: bounded
    files = os.listdir(sup.cfg.writer.directory)
    assert "run_000999.h5" not in files and f"run_{run:06d}.h5" in files


def _rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _request(ctx, endpoint, parts, timeout_s=30.0):
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    s.send_multipart(parts)
    assert s.poll(int(timeout_s * 1000)), f"no answer to {parts[0][:40]!r}"
    answer = json.loads(s.recv())
    s.close()
    return answer


def test_no_single_message_kills_or_misleads_run_control(tmp_path, daq_toml):
    """``na64daq run`` under malformed control requests and forged heartbeats: every request
    answered, the run unharmed; SIGTERM then stops and shuts it down cleanly."""
    from daq.core.config_schema import load
    from daq.processes.daq_config import DaqConfig

    cfg = load(DaqConfig, str(daq_toml))
    env = dict(os.environ, NA64DAQ_DB=str(tmp_path / "runs.db"))
    daq = subprocess.Popen([sys.executable, "-m", "daq.app.cli", "run", "--config", str(daq_toml),
                            "--set", "emulator.spill.time_compressed=false", "--set",
                            "emulator.run.spills=2"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    ctx = zmq.Context()
    try:
        assert "configured" in daq.stdout.readline()
        control = cfg.endpoints.control
        deep = b"[" * 2000 + b"]" * 2000  # within the size limit, past the parser's depth
        for parts, error in (
                ([b'{"command": "status"}', b"more"], "one message part"),
                ([deep], "not a JSON command"),
                ([b" " * 10_000_000], "bytes: at most"),
                ([b'["start"]'], "JSON object"),
                ([b'{"command": "launch"}'], "unknown command"),
                ([b"\xff\xfe"], "not a JSON command")):
            answer = _request(ctx, control, parts)
            assert answer["ok"] is False and error in answer["error"], answer
        assert _request(ctx, control, [b'{"command": "configure"}'])["ok"]  # listed: exists
        assert _request(ctx, control, [b'{"command": "start"}'])["state"] == "running"
        beats = _push(ctx, cfg.endpoints.heartbeat, bind=False)
        forged = {"name": "writer", "pid": 1, "time": 0, "token": "guess",
                  "counters": {"failed": "forged: disk full"}}
        for raw in ([b"[1, 2]"], [b"{}", b"{}"], [json.dumps(forged).encode()],
                    [json.dumps(dict(forged, name="nobody")).encode()], [b"[" * 100_000]):
            beats.send_multipart(raw)
        assert wait_until(lambda: sum(_request(ctx, control, [b'{"command": "status"}'])[
            "bad_heartbeats"].values()) >= 5, 30)
        status = _request(ctx, control, [b'{"command": "status"}'])
        assert status["state"] == "running", status  # the forged failure was not acted on
        assert status["bad_heartbeats"] == {"not JSON": 1, "schema": 1, "multipart": 1,
                                            "token": 1, "unknown process": 1}, status
        beats.close()
        daq.send_signal(signal.SIGTERM)
        out, _ = daq.communicate(timeout=60)
    finally:
        ctx.destroy(linger=0)
        if daq.poll() is None:
            daq.kill()
    assert daq.returncode == 0, out
    rec = RunDatabase(tmp_path / "runs.db").run()
    assert rec["state"] == "stopped" and rec["ledger"]["balanced"], (out, rec)


@pytest.mark.parametrize("process, key", [("builder", "builder_work"), ("writer", "writer")])
def test_a_process_that_fails_at_configure_is_named_in_one_line_with_its_cause(
        tmp_path, daq_toml, process, key):
    """A process cannot bind its endpoint (a port held by another socket first): demo says so
    in one line with the process's own error, naming the configuration key, no traceback."""
    import socket

    env = dict(os.environ, NA64DAQ_DB=str(tmp_path / "runs.db"))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "daq.app.cli", "demo", "--no-gui", "--config",
                            str(daq_toml), "--out", str(tmp_path / "runs"),
                            "--set", f'endpoints.{key}="tcp://127.0.0.1:{port}"'],
                           env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 2, r.stdout + r.stderr
    err = r.stderr.strip()
    assert "Traceback" not in r.stdout + r.stderr and "\n" not in err, err
    assert err.startswith(f"na64daq: error: the DAQ could not start: {process} exited with "
                          "code"), err
    assert f"endpoints.{key} = tcp://127.0.0.1:{port}: cannot bind" in err, err
    assert "Address already in use" in err, err


def test_recover_ends_within_seconds_on_any_truncation_of_a_daq_run_file(daq, tmp_path):
    """A file the DAQ wrote, cut at 10, 50 and 99 %: HDF5 looped for ever in the chunk index
    of such files (recover was still asleep after 900 s). Each recover ends, in one line, and
    what it keeps is the original's rows."""
    sup = daq(**{"emulator.run.spills": 1, "emulator.spill.duration_s": 1.5,
                 "writer.block_events": 256})
    run_to_end(sup)
    assert sup.outcome == "stopped", sup.error
    path = sup.procs["writer"].counters["file"]
    with RunReader(path) as f:
        original = f.column("raw/samples")
    size = os.path.getsize(path)
    kept = {}
    for fraction in (0.10, 0.50, 0.99):
        cut = tmp_path / f"cut{int(fraction * 100)}.h5"
        cut.write_bytes(open(path, "rb").read()[: int(size * fraction)])
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "daq.app.cli", "recover", "--json", str(cut)],
                           capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
        assert took < 60, (fraction, took)  # within seconds (5 s per hung read, once a file)
        assert "Traceback" not in r.stderr, r.stderr
        if r.returncode == 2:  # nothing verifiable: said in one line
            assert r.stderr.count("\n") == 1 and "nothing to recover" in r.stderr, r.stderr
            kept[fraction] = 0
            continue
        assert r.returncode == 0, r.stderr
        result = json.loads(r.stdout)
        with RunReader(result["file"]) as f:
            rows = f.column("raw/samples")
        assert np.array_equal(rows, original[: len(rows)])  # a prefix: what was before the cut
        kept[fraction] = result["events"]
    assert kept[0.99] >= len(original) - 2 * 256 and kept[0.10] <= kept[0.50] <= kept[0.99]


def test_a_killed_builder_leaves_the_crates_triggered_count_on_record(daq):
    """kill -9 of the builder mid-run: the run ends in error, and its record still says what
    the crates triggered (from their last heartbeats), what was written, and the difference."""
    sup = daq(**PACED)
    sup.configure()
    sup.start()
    deadline = time.monotonic() + 60
    while sup.state == "running" and time.monotonic() < deadline:
        sup.poll(0.05)
        if sup.procs["writer"].counters.get("written_events", 0) > 0:
            os.kill(sup.procs["builder"].popen.pid, signal.SIGKILL)
            break
    while sup.state == "running" and time.monotonic() < deadline:
        sup.poll(0.05)
    assert sup.state == "error" and "builder" in sup.error, sup.error
    ledger = sup.db.run(sup.run)["ledger"]
    assert not ledger["balanced"] and ledger["triggered"] > 0
    assert ledger["unaccounted"] == ledger["triggered"] - ledger["written"]
    with RunReader(sup.procs["writer"].counters["file"]) as f:
        assert f.n_events <= ledger["triggered"]
    sup.stop()
    assert sup.state == "configured"
