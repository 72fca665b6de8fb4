"""End-to-end DAQ throughput, the whole chain as ``na64daq run`` starts it: replayed waveforms
-> ZeroMQ -> builder -> workers (the reconstruction, or its stub) -> writer (HDF5), with the
monitor tap, for a sustained run; next to the ceiling, bare ZeroMQ loopback throughput for the
same frames, measured in the same run (``bench/daq_throughput.py`` is its command line)."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
import tomllib
from pathlib import Path

import zmq

from daq.app.bench.machine import description as machine_description
from daq.app.bench.stages import trigger_mix
from daq.core.config_schema import load
from daq.core.detector import Detector
from daq.core.run_database import RunDatabase
from daq.core.wire_format import decode
from daq.processes.daq_config import DaqConfig, ipc_endpoints
from daq.processes.supervisor import Supervisor
from daq.raw.channel_map import EMULATED_MAP
from emulator.config import EmulatorConfig
from emulator.date_export import write_date
from emulator.date_replay import DateReplay
from emulator.emulator import Emulator
from emulator.frames_file import read_run, write_run
from emulator.replay import Replay

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _sink(endpoint: str, n_frames: int, ready, curve: tuple | None = None) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    if curve is not None:  # (server's public key, this client's public and secret keys)
        s.curve_serverkey, s.curve_publickey, s.curve_secretkey = curve
    s.connect(endpoint)
    ready.set()
    for _ in range(n_frames):
        s.recv_multipart(copy=False)


def zmq_ceiling(replay: Replay | DateReplay, seconds: float = 5.0, curve: bool = False) -> dict:
    """Bare PUSH/PULL over tcp loopback, the same frames, one producer, one consumer; with
    ``curve``, encrypted with CURVE (what the data links cost, without the DAQ around)."""
    items = list(replay.frames())
    frames = [p for _, _, p in items]
    first = items[0][1]  # every crate reads every event: one crate's frames count them
    n_events_per_pass = sum(decode(p).n_events for _, sid, p in items if sid == first)
    passes = 1
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    client = None
    if curve:
        push.curve_publickey, push.curve_secretkey = server = zmq.curve_keypair()
        push.curve_server = True
        client = (server[0], *zmq.curve_keypair())
    port = push.bind_to_random_port("tcp://127.0.0.1")
    total = len(frames) * 50
    ready = mp.Event()
    proc = mp.Process(target=_sink, args=(f"tcp://127.0.0.1:{port}", total, ready, client))
    proc.start()
    ready.wait()
    t0 = time.perf_counter()
    sent = 0
    for passes in range(1, 51):  # noqa: B007 - the count is the result
        for parts in frames:
            push.send_multipart(parts, copy=False)
            sent += 1
        if time.perf_counter() - t0 > seconds:
            break
    while sent < total:  # let the sink finish its count
        push.send(b"")
        sent += 1
    proc.join()
    dt = time.perf_counter() - t0
    ctx.destroy()
    mb = sum(sum(memoryview(x).nbytes for x in p) for p in frames) * passes / 1e6
    return {"events_per_s": n_events_per_pass * passes / dt, "mb_per_s": mb / dt}


def measure(args: argparse.Namespace, tmp: Path, on_start=None, ceiling: bool = True) -> dict:
    """``on_start(supervisor)``: called once the run is started (a viewer attached, frozen,
    killed: ``bench/monitor_freeze.py``); ``ceiling``: also measure bare ZeroMQ."""
    detector = Detector.load()
    emulator_overrides = {**trigger_mix(args.events), "run.batch_events": args.source_batch}
    emulator = Emulator(load(EmulatorConfig, None, emulator_overrides), detector)
    raw = getattr(args, "date", False)  # the same run as NA64's raw data (DATE)
    if raw:
        replay_file = tmp / "cdr01001-000001.dat"
        write_date(emulator, replay_file, [1])
        replay = DateReplay([replay_file], EMULATED_MAP, detector)
    else:
        replay_file = tmp / "replay.h5"
        write_run(emulator, replay_file)
        replay = Replay(read_run(replay_file, truth=False), detector)
    ceilings = {"zmq_ceiling": zmq_ceiling(replay) if ceiling else None}
    if getattr(args, "curve_ceiling", False):
        ceilings["zmq_ceiling_curve"] = zmq_ceiling(replay, curve=True)

    overrides = {} if args.tcp else ipc_endpoints(tmp)
    overrides.update({"run.sources": "replay", "run.replay_file": str(replay_file),
                      "run.replay_repeat": 1000, "workers.count": args.workers,
                      "writer.directory": str(tmp / "runs"),
                      "workers.reconstruction": "stub" if args.stub else "full"})
    if raw:  # DATE keeps no trigger phase (docs/raw-format.md)
        overrides["reco.pulses.trigger_phase"] = "unknown"
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            overrides[key] = value  # a bare word is a string
    cfg = load(DaqConfig, None, overrides)
    sup = Supervisor(cfg, db=RunDatabase(tmp / "runs.db"), log=lambda m: None)
    try:
        sup.configure()
        if args.freeze_tap:
            for _ in range(5):
                sup.send("tap", "freeze")
                sup.poll(0.1)
        sup.start()
        if on_start is not None:
            on_start(sup)
        while not sup.procs["writer"].counters.get("written_events"):
            sup.poll(0.05)  # measure from the first written event: start-up is not throughput
        cpu0 = {p.name: cpu_seconds(p.popen.pid) for p in sup.procs.all()}
        w0 = sup.procs["writer"].counters
        n0, b0, t0 = w0["written_events"], w0["written_bytes"], time.monotonic()
        while time.monotonic() - t0 < args.seconds:
            sup.poll(0.2)
        w1 = sup.procs["writer"].counters
        dt = time.monotonic() - t0
        cpu = {p.name: (cpu_seconds(p.popen.pid) - cpu0.get(p.name, 0.0)) / dt
               for p in sup.procs.all()}
        latency = sup.procs["tap"].counters.get("latency_p99_s")
        sup.stop()
        ledger = sup.ledger
    finally:
        sup.close()
    n = w1["written_events"] - n0
    result = {
        "machine": machine_description(), "seconds": dt, "workers": args.workers,
        "reconstruction": "stub" if args.stub else "full",
        "tap_frozen": args.freeze_tap,
        "events_per_s": n / dt, "mb_per_s": (w1["written_bytes"] - b0) / dt / 1e6,
        "cpu_cores_per_stage": {k: round(v, 2) for k, v in sorted(cpu.items())},
        "latency_p99_s": latency, **ceilings,
        "ledger": {k: ledger.get(k) for k in ("triggered", "written_complete",
                                              "written_incomplete", "rejected",
                                              "dropped_by_policy", "unaccounted", "balanced")},
    }
    return result
