"""The emulator as real processes publishing on real ZeroMQ sockets."""

import re
import subprocess
import sys
import time

import pytest
import zmq

from daq.core.wire_format import FrameKind, decode
from emulator.frames_file import read_run


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "daq.app.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _collect(detector, base: int, sources, rcvhwm: int = 1000, pause_s: float = 0.0,
             timeout_s: float = 120.0, slow_s: float = 0.0):
    """Receive every source's frames until its EOR; return {source: [Frame, ...]}."""
    ctx = zmq.Context()
    socks = {}
    try:
        for sid in sources:
            s = ctx.socket(zmq.PULL)
            s.setsockopt(zmq.RCVHWM, rcvhwm)
            s.setsockopt(zmq.RCVBUF, 65536)
            s.connect(f"tcp://127.0.0.1:{base + sid}")
            socks[sid] = s
        time.sleep(pause_s)  # a consumer that is late or stuck
        frames = {sid: [] for sid in sources}
        poller = zmq.Poller()
        for s in socks.values():
            poller.register(s, zmq.POLLIN)
        deadline = time.monotonic() + timeout_s
        open_sources = set(sources)
        while open_sources and time.monotonic() < deadline:
            time.sleep(slow_s)
            for s, _ in poller.poll(1000):
                sid = next(k for k, v in socks.items() if v is s)
                f = decode(s.recv_multipart(copy=False), detector)
                frames[sid].append(f)
                if f.kind is FrameKind.EOR:
                    open_sources.discard(sid)
        assert not open_sources, f"no end of run from sources {open_sources}"
        return frames
    finally:
        for s in socks.values():
            s.close(linger=0)
        ctx.term()


def test_every_source_publishes_a_complete_run(detector, tmp_path, source_base_port):
    base = source_base_port
    truth_file = tmp_path / "truth.h5"
    proc = _start(["emulate", "--spills", "2", "--set", "spill.duration_s=0.2",
                   "--set", f"publish.base_port={base}", "--truth", str(truth_file)])
    try:
        frames = _collect(detector, base, detector.source_ids)
    finally:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    event_ids = None
    for sid, fs in frames.items():
        kinds = [f.kind for f in fs]
        assert kinds[0] is FrameKind.SOR and kinds[-1] is FrameKind.EOR
        assert kinds.count(FrameKind.SOS) == kinds.count(FrameKind.EOS) == 2
        received = sum(f.n_events for f in fs)
        eor = fs[-1].info
        assert eor["triggered"] == eor["sent"] == received and eor["not_sent"] == 0
        ids = [(f.spill, int(e)) for f in fs for e in f.events["event"]]
        assert len(set(ids)) == len(ids)
        if event_ids is None:
            event_ids = ids
        assert ids == event_ids  # every crate read every trigger: the builder can assemble
        assert f"source {sid}: {received} events triggered, {received} sent, 0 not sent" in out
    # the truth travelled on a side file, event for event, never in the frames
    truth = read_run(truth_file)
    assert truth.samples == {}
    assert list(zip(truth.event_spill, truth.events["event"], strict=True)) == event_ids
    assert len(truth.truth["class"]) == len(event_ids)


def test_real_time_source_counts_what_a_stuck_consumer_did_not_take(detector, source_base_port):
    base = source_base_port
    proc = _start(["emulate", "--real-time", "--source", "1", "--set", "spill.duration_s=1.0",
                   "--set", "spill.pause_s=0.0", "--set", "trigger.physics_rate_hz=20000.0",
                   "--set", "publish.send_hwm=1", "--set", f"publish.base_port={base}"])
    try:
        frames = _collect(detector, base, [1], rcvhwm=1, pause_s=3.0)[1]
    finally:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    eos = next(f for f in frames if f.kind is FrameKind.EOS).info
    received = sum(f.n_events for f in frames)
    assert eos["not_sent"] > 0, "the stuck consumer should have cost events"
    assert eos["triggered"] == eos["sent"] + eos["not_sent"]
    assert received == eos["sent"]  # nothing lost silently: what was sent arrived


def test_frames_still_queued_when_a_source_finishes_arrive_intact(detector, source_base_port):
    """Zero-copy frames outlive the source's last line: a slow consumer gets them all, and
    every one passes its checksums (they used to be freed under ZeroMQ at exit)."""
    base = source_base_port
    procs = [_start(["emulate", "--source", str(sid), "--spills", "2",
                     "--set", "spill.duration_s=1.0", "--set", f"publish.base_port={base}"])
             for sid in detector.source_ids]
    try:
        frames = _collect(detector, base, detector.source_ids, rcvhwm=2, slow_s=0.05)
    finally:
        for p in procs:
            p.communicate(timeout=60)
    for fs in frames.values():  # decode() with the map raised on any corrupted frame
        assert sum(f.n_events for f in fs) == fs[-1].info["sent"] > 0


@pytest.mark.parametrize("args, words", [
    (["emulate", "--intensity", "-1"], ["--intensity", "-1 is outside [0, inf)"]),
    (["emulate", "--set", "beam.intensity_per_spill=-1"], ["beam.intensity_per_spill = -1.0",
                                                           ">= 0"]),
    (["emulate", "--source", "9"], ["unknown source id 9"]),
    (["emulate", "--set", "beam.colour=1"], ["beam.colour", "unknown key"]),
    (["emulate", "--set", "digitizer.trigger_offset_ns=395.0"], ["readout window"]),
    (["replay", "/nonexistent/run.h5"], ["/nonexistent/run.h5", "no such file"]),
    (["emulate", "--detector", "/nonexistent/map.toml"], ["cannot read detector map"]),
])
def test_user_errors_are_one_line(args, words):
    proc = subprocess.run([sys.executable, "-m", "daq.app.cli", *args], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(r"na64daq( \w+)?: error: ", lines[0]), proc.stderr
    for w in words:
        assert w in lines[0]


def test_replay_reads_its_file_before_it_binds_a_port():
    """A bad file is said as such even while the default crate ports are taken (by a running
    DAQ, or here by this test): the file is read before any port is bound."""
    from emulator.config import EmulatorConfig

    publish = EmulatorConfig().publish
    ctx = zmq.Context()
    held = []
    try:
        for sid in (1, 2, 3, 4):
            s = ctx.socket(zmq.PUSH)
            try:
                s.bind(publish.endpoint(sid))
            except zmq.ZMQError:  # already taken by someone else: taken all the same
                s.close(linger=0)
                continue
            held.append(s)
        proc = subprocess.run([sys.executable, "-m", "daq.app.cli", "replay",
                               "/nonexistent/run.h5"], capture_output=True, text=True,
                              timeout=120)
    finally:
        for s in held:
            s.close(linger=0)
        ctx.term()
    assert proc.returncode == 2 and "no such file" in proc.stderr, proc.stderr


def test_a_source_whose_supervisor_died_does_not_wait_for_ever(tmp_path, source_base_port):
    """Under run control (a heartbeat endpoint), a real-time crate whose supervisor and
    builder are gone mid-spill ends its run and exits. (Four crates of a killed test run
    were once found sleeping on, SIGTERM or not, in a state not reproduced here.)"""
    import os

    script = tmp_path / "parent.py"
    script.write_text(
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-m', 'daq.app.cli', 'emulate', '--source', '1',"
        f" '--heartbeat', 'ipc://{tmp_path}/hb', '--set', 'publish.base_port={source_base_port}',"
        " '--set', 'publish.send_hwm=1', '--set', 'spill.duration_s=5.0', '--real-time'],"
        " stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)\n"
        "p.stdout.readline()\n"  # 'publishing source 1': it knows its parent, waits to go
        "import os, signal, time, zmq\n"
        "pull = zmq.Context().socket(zmq.PULL)\n"  # a builder that takes a little, then dies
        f"pull.connect('tcp://127.0.0.1:{source_base_port + 1}')\n"
        "os.kill(p.pid, signal.SIGUSR1)\n"  # the trigger enabled
        "pull.recv_multipart(); time.sleep(0.5)\n"
        "print(p.pid, flush=True)\n"
        "os._exit(0)\n")  # and the 'supervisor' with its 'builder' are gone
    pid = int(subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             timeout=60).stdout)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, 9)
    raise AssertionError("the orphaned source was still waiting after 60 s")


def test_a_crate_busy_without_sending_keeps_beating(tmp_path):
    """While it closes its truth file after the run (seconds for a long run) a crate still
    beats: taken for dead, its finished run ended in error (1 run in 5 of a crew trial)."""
    import json

    from conftest import wait_until

    from emulator.publisher import Publisher

    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.bind(f"ipc://{tmp_path}/hb")
    pub = Publisher({}, heartbeat=f"ipc://{tmp_path}/hb", name="source-1", heartbeat_s=0.1)
    beats = []

    def heard():
        while pull.poll(0):
            beats.append(json.loads(pull.recv()))
        return len(beats)

    try:
        with pub.beating():
            assert wait_until(lambda: heard() >= 5, 10)  # from a thread, the caller busy
        assert all(b["name"] == "source-1" for b in beats)
    finally:
        pub.close()
        ctx.destroy(linger=0)
