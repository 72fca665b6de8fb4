"""Shared fixtures: the shipped detector map and emulated spills with their truth."""

from __future__ import annotations

import math
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # Qt tests never need a display
# Every process a test starts (``python -m daq.app.cli ...`` from the repository's root) imports
# the installed package, as a user's would, never the source tree beside it
os.environ["PYTHONSAFEPATH"] = "1"

import numpy as np
import pytest

from daq.core.config_schema import load
from daq.core.detector import Detector
from emulator.config import EmulatorConfig
from emulator.emulator import Emulator


@pytest.fixture(autouse=True)
def own_user_files(tmp_path_factory, monkeypatch):
    """Every test, and every process it starts, has its own conditions database and its own
    per-user data and settings folders: none reads or writes the user's."""
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("NA64DAQ_DB", str(home / "na64daq.db"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))


@pytest.fixture(scope="session")
def detector() -> Detector:
    return Detector.load()


def _make_emulator(detector: Detector, **overrides) -> Emulator:
    return Emulator(load(EmulatorConfig, None, overrides), detector)


def _emulate_spill(emulator: Emulator, spill: int = 1) -> dict[str, np.ndarray]:
    """Every batch of one spill, concatenated: event table fields, truth, samples per source."""
    batches = list(emulator.batches(emulator.spill_plan(spill)))
    out: dict[str, np.ndarray] = {}
    for key in batches[0].truth:
        if key == "pileup_event":
            starts = np.cumsum([0] + [len(b.events) for b in batches[:-1]])
            out[key] = np.concatenate([b.truth[key] + s for b, s in zip(batches, starts,
                                                                       strict=True)])
        else:
            out[key] = np.concatenate([b.truth[key] for b in batches])
    out["trigger_time_ns"] = np.concatenate([b.events["trigger_time_ns"] for b in batches])
    for sid in batches[0].samples:
        out[f"samples_{sid}"] = np.concatenate([b.samples[sid] for b in batches])
    return out


#: A spill rich in calibration triggers (an open sample of the beam) and in rare classes.
RICH = {
    "trigger.physics_rate_hz": 3000.0,
    "trigger.calibration_rate_hz": 6000.0,
    "trigger.random_rate_hz": 1500.0,
    "spill.duration_s": 1.0,
    "beam.intensity_per_spill": 5e6 / 4.8,  # the rate of 5e6 e-/spill over 4.8 s
    "classes.dimuon_boost": 2e5,
    "classes.electronuclear_boost": 10.0,
    "classes.signal_probability": 1e-3,
    "classes.signal_boost": 10.0,
    "beam.hadron_fraction": 0.05,
}


@pytest.fixture(scope="session")
def make_emulator(detector):
    """Factory: an emulator with dotted-key overrides, ``make_emulator(**{"beam.aim_x": 2})``."""
    return lambda **overrides: _make_emulator(detector, **overrides)


@pytest.fixture(scope="session")
def emulate_spill():
    """Function: every batch of one spill of an emulator, concatenated (truth and samples)."""
    return _emulate_spill


@pytest.fixture(scope="session")
def rich_emulator(detector) -> Emulator:
    return _make_emulator(detector, **RICH)


@pytest.fixture(scope="session")
def rich_spill(rich_emulator) -> dict[str, np.ndarray]:
    return _emulate_spill(rich_emulator)


def private_endpoint_values(directory) -> dict[str, str]:
    """Every DAQ endpoint (but the sources' host) on an ipc path in ``directory``."""
    from daq.processes.daq_config import ipc_endpoints

    return {k.removeprefix("endpoints."): v for k, v in ipc_endpoints(directory).items()}


def free_base_port(n_sources: int) -> int:
    """A base port such that base+1 .. base+n are free right now (sources bind them), below
    the kernel's ephemeral range: a port from that range, free when chosen, was taken by some
    connection's local end before the source bound it (the builder's own connections to the
    sources use such ports), the source could not bind, and the run failed with a source that
    never answered (the killed-writer test's 'no heartbeat for 16606.5 s')."""
    import random
    import socket

    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(100):
        base = random.randrange(10000, max(low, 10100) - n_sources - 1)
        held = []
        try:
            for k in range(1, n_sources + 1):
                t = socket.socket()
                held.append(t)
                t.bind(("127.0.0.1", base + k))
            return base
        except OSError:
            continue
        finally:
            for t in held:
                t.close()
    raise RuntimeError("no free ports")


#: The DAQ fixtures' physics trigger: a fixed rate, since a 0.5 s spill of the beam's 5e6 e-
#: would trigger ten times as often; an emulator that must plan the same triggers as such a
#: DAQ takes it too (``make_emulator(**FIXED_PHYSICS, ...)``)
FIXED_PHYSICS = {"trigger.physics_rate_hz": 1000.0}


@pytest.fixture
def source_base_port(detector) -> int:
    """A base port whose source ports (base + source id) are free."""
    return free_base_port(max(detector.source_ids))


@pytest.fixture
def private_endpoints(tmp_path) -> dict[str, str]:
    """Every DAQ endpoint on an ipc path of this test's own: tests never collide."""
    ipc = tmp_path / "ipc"
    ipc.mkdir(exist_ok=True)
    return private_endpoint_values(ipc)


@pytest.fixture
def daq_toml(tmp_path, private_endpoints, source_base_port):
    """A DAQ configuration file on private endpoints, ports and directories."""
    config = tmp_path / "daq.toml"
    endpoints = "\n".join(f'{k} = "{v}"' for k, v in private_endpoints.items())
    config.write_text(f"[endpoints]\n{endpoints}\n[writer]\ndirectory = '{tmp_path}/runs'\n"
                      f"[emulator.spill]\nduration_s = 0.5\n"
                      f"[emulator.trigger]\nphysics_rate_hz = "
                      f"{FIXED_PHYSICS['trigger.physics_rate_hz']}\n"
                      f"[emulator.publish]\nbase_port = {source_base_port}\n")
    return config


@pytest.fixture
def daq(tmp_path, detector):
    """Factory of supervised DAQs on private endpoints, files and run database; each is shut
    down at the end of the test, whatever happened."""
    from daq.core.run_database import RunDatabase
    from daq.processes.daq_config import DaqConfig
    from daq.processes.supervisor import Supervisor

    made = []

    def make(**overrides):
        ipc = tmp_path / f"ipc{len(made)}"
        ipc.mkdir()
        values = {f"endpoints.{k}": v for k, v in private_endpoint_values(ipc).items()}
        values.update({
            "emulator.publish.base_port": free_base_port(max(detector.source_ids)),
            "writer.directory": str(tmp_path / "runs"),
            "emulator.spill.duration_s": 0.5,
            **{f"emulator.{k}": v for k, v in FIXED_PHYSICS.items()},
            "emulator.run.spills": 2,
            "tap.end_of_run_png": False,  # a Qt process per run: tested once, on its own
        })
        values.update(overrides)
        cfg = load(DaqConfig, None, values)
        sup = Supervisor(cfg, db=RunDatabase(tmp_path / "runs.db"), log=lambda m: None)
        made.append(sup)
        return sup

    yield make
    for sup in made:
        sup.close()


@pytest.fixture
def daq_run(tmp_path, daq_toml):
    """Factory of a real ``na64daq run`` (a process of its own, as the crew starts it) on the
    test's configuration with ``--set`` overrides, returned once configured: (its process,
    its run-control endpoint). Each is resumed and shut down at the end, or killed."""
    import signal
    import subprocess
    import sys

    from daq.core.config_schema import ConfigError
    from daq.core.control_protocol import ask
    from daq.processes.daq_config import DaqConfig

    control = load(DaqConfig, str(daq_toml)).endpoints.control
    started = []

    def start(**sets):
        daq = subprocess.Popen(
            [sys.executable, "-m", "daq.app.cli", "run", "--config", str(daq_toml),
             *(x for k, v in sets.items() for x in ("--set", f"{k}={v}"))],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=dict(os.environ, NA64DAQ_DB=str(tmp_path / "runs.db")))
        started.append(daq)
        said = [daq.stdout.readline()]  # "DAQ configured; ..." once every process beats
        while said[-1] and "DAQ configured" not in said[-1]:
            said.append(daq.stdout.readline())
        assert said[-1], "".join(said)
        return daq, control

    yield start
    for daq in started:
        if daq.poll() is None:
            daq.send_signal(signal.SIGCONT)
            try:
                ask(control, "shutdown", 10)
                daq.wait(30)
            except (ConfigError, subprocess.TimeoutExpired):
                daq.kill()
                daq.wait()


@pytest.fixture(scope="session")
def reconstructed(detector, rich_emulator):
    """The rich spill through the reconstruction: (reco table, channel results, truth, events),
    with the samples in the detector map's channel order."""
    from daq.reco.reconstruction import Reconstruction

    rec = Reconstruction(detector)
    parts = []
    for b in rich_emulator.batches(rich_emulator.spill_plan(1)):
        reco, ch = rec(b.samples_in_map_order(detector), b.events)
        parts.append((reco, ch, b.truth, b.events, b.nearest_pileup_ns()))
    reco = np.concatenate([p[0] for p in parts])
    ch = {k: np.concatenate([getattr(p[1], k) for p in parts]) for k in (
        "amplitude_adc", "time_ns", "flags", "n_pulses", "energy_gev")}
    truth = {k: np.concatenate([p[2][k] for p in parts]) for k in (
        "class", "trigger", "e_ecal_gev", "n_pileup_window", "t_peak_ns", "deposit_gev")}
    truth["nearest_pileup_ns"] = np.concatenate([p[4] for p in parts])
    return reco, ch, truth, np.concatenate([p[3] for p in parts])


def reconstructed_batches(em: Emulator, detector: Detector, spills) -> list[list[tuple]]:
    """Emulated spills as the workers hand them to the writer: per spill a list of (events,
    samples, reco, channels, state) batches, reconstructed with the nominal constants (state:
    the ``/reco/state`` row of what the batch was reconstructed with)."""
    from daq.reco.reconstruction import Reconstruction
    from daq.run_file.layout import state_row

    rec = Reconstruction(detector)
    out = []
    for spill in spills:
        batches = []
        for b in em.batches(em.spill_plan(spill)):
            samples = b.samples_in_map_order(detector)
            events = b.built_events()
            reco, ch = rec(samples, events)
            batches.append((events, samples, reco, ch.table(),
                            state_row(detector.n_channels, len(events),
                                      rec.last_state.record())))
        out.append(batches)
    return out


def write_run_file(directory, detector: Detector, spills: list[list[tuple]], close=True,
                   **settings):
    """Write reconstructed spills as run 7 with the real file writer, as the DAQ's writer does
    (nominal constants recorded, ledgers per spill); the writer (``close`` False leaves the run
    open)."""
    import json

    from daq.core.ledger import spill_ledger, sum_ledgers
    from daq.reco.calibration_constants import CalibrationConstants
    from daq.run_file.file_writer import FileHeader, RunFileWriter, WriterSettings
    from daq.run_file.spill_figures import SpillFigures

    constants = CalibrationConstants.nominal(detector)
    constants.tag = "t"
    header = FileHeader(7, detector, {"daq_config": "{}",
                                      "calibration": json.dumps(constants.to_dict()),
                                      "run_record": '{"run": 7}'})
    out = RunFileWriter(directory, header, WriterSettings(**settings))
    figures = SpillFigures(detector)
    ledgers = []
    for k, batches in enumerate(spills, start=1):
        for batch in batches:
            out.append(*batch)
            figures.add(batch[0], batch[2], batch[3])
        out.write_block()
        n = sum(len(b[0]) for b in batches)
        ledger = spill_ledger(k, {"builder": {"triggered": n}}, out.take_spill_counts(k))
        out.write_spill(figures.row(ledger), ledger)
        ledgers.append(ledger)
    if close:
        out.close({"ledger": sum_ledgers(ledgers, {}), "events": out.written_events})
    return out


@pytest.fixture(scope="session")
def run_batches(detector, make_emulator):
    """Three short emulated spills at 5e6 e-/spill, reconstructed."""
    em = make_emulator(**{"spill.duration_s": 0.4, "trigger.random_rate_hz": 500.0,
                          "beam.intensity_per_spill": 5e6 * 0.4 / 4.8})  # 5e6 e-/4.8 s spill
    return reconstructed_batches(em, detector, (1, 2, 3))


@pytest.fixture(scope="session")
def write_run(detector, run_batches):
    """Function: write ``run_batches`` as run 7 into a directory (``spills`` limits the
    spills, ``close`` False leaves the run open); the writer."""
    def write(directory, spills=3, close=True, **settings):
        return write_run_file(directory, detector, run_batches[:spills], close, **settings)

    return write


def log_tails(sup, chars: int = 1500) -> dict[str, str]:
    """The end of each process's log: what an assertion on a supervised DAQ should show when it
    fails (pytest removes old test directories, and the logs with them)."""
    return {p.name: p.read_text(errors="replace")[-chars:]
            for p in sorted(sup.workdir.glob("*.log"))}


def run_to_end(sup, timeout_s: float = 180.0, during=None) -> dict:
    """Configure and start a supervised DAQ, poll it until its run ends (calling ``during``
    meanwhile); its ledger."""
    sup.configure()
    assert sup.state == "configured", sup.error
    sup.start()
    deadline = time.monotonic() + timeout_s
    while sup.state == "running" and time.monotonic() < deadline:
        sup.poll(0.1)
        if during is not None and sup.state == "running":
            during(sup)
    assert sup.state != "running", "the run did not end"
    return sup.ledger


def compiled_after_warm_up(modules: list[str], warm_up: str, work: str) -> list[str]:
    """Run ``warm_up``, then ``work`` (Python source, run in that order in one namespace) in a
    process of its own, as a DAQ process runs them; the numba kernels of ``modules`` that had
    to compile (or load) a new type signature during ``work``. There must be none: mid-run,
    with a cold cache, a compilation is seconds without a heartbeat. In this process earlier
    tests have compiled every signature already, which once hid a kernel whose one-event and
    many-event batches have different types (`na64daq demo` in a clean install stalled)."""
    import json
    import subprocess
    import sys
    import textwrap

    script = "\n".join([
        "import importlib, json",
        "from numba.core.dispatcher import Dispatcher",
        textwrap.dedent(warm_up),
        f"modules = [importlib.import_module(m) for m in {modules!r}]",
        "kernels = {f'{m.__name__}.{k}': v for m in modules for k, v in vars(m).items()"
        " if isinstance(v, Dispatcher)}",
        "before = {k: set(v.overloads) for k, v in kernels.items()}",
        textwrap.dedent(work),
        "print(json.dumps([f'{k}{s}' for k, v in kernels.items() for s in v.overloads"
        " if s not in before[k]]))"])
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def filler(detector):
    """The monitor's histogram filler: 0.01 GeV/ADC everywhere, a 100 GeV beam, the box of
    [001] (E_ECAL < 50 GeV, E_HCAL < 1 GeV), blinded."""
    from daq.reco.reco_config import RecoConfig
    from monitor.histograms import HistogramFiller

    return HistogramFiller(detector, np.full(detector.n_channels, 0.01), RecoConfig())


def compiled_and_python(kernel, *args):
    """Runs a numba ``kernel`` compiled and as plain Python (``py_func``) on copies of the same
    arguments, asserts that both return the same and leave the same in the arrays they fill,
    and returns the compiled call's result and arguments (for the test's own known answers)."""
    import copy

    compiled_args, python_args = copy.deepcopy(args), copy.deepcopy(args)
    compiled = kernel(*compiled_args)
    python = kernel.py_func(*python_args)
    np.testing.assert_allclose(np.asarray(compiled, dtype=float),
                               np.asarray(python, dtype=float), rtol=1e-12, atol=1e-12)
    for a, b in zip(compiled_args, python_args, strict=True):
        if isinstance(a, np.ndarray):
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-12,
                                       atol=1e-12)
    return compiled, compiled_args


def wait_until(predicate, timeout_s: float = 30.0) -> bool:
    """Whether ``predicate()`` came true within ``timeout_s`` (looked at every 20 ms)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def run_file(tmp_path, write_run):
    """``write_run``'s three spills as run 7 in the test's directory."""
    write_run(tmp_path)
    return tmp_path / "run_000007.h5"


@pytest.fixture
def heard():
    """An AlarmSound whose tones are only counted (``heard.played``): no speaker in a test."""
    from monitor.alarm_sound import AlarmSound

    return AlarmSound(lambda: None)


@pytest.fixture
def file_window(qtbot, run_file, heard):
    """The monitor's window (offscreen) on ``run_file``, read to its end."""
    from monitor.feeds import FileFeed
    from monitor.window import MonitorWindow

    feed = FileFeed(run_file).start()
    assert wait_until(lambda: feed.finished)
    window = MonitorWindow(feed, feed.detector, remember=False, sound=heard)
    qtbot.addWidget(window)
    yield window
    feed.stop()


def reconstruction_digests(path) -> dict[str, str]:
    """SHA-256 of every column of a file's reconstruction (``reco/events``, ``reco/channels``),
    read with h5py directly, not with the code under test."""
    import hashlib

    import h5py

    with h5py.File(path, "r") as f:
        return {f"{name}:{field}": hashlib.sha256(
            np.ascontiguousarray(f[name][field]).tobytes()).hexdigest()
            for name in ("reco/events", "reco/channels") for field in f[name].dtype.names}


def analytic_template(rise_ns: float, order: int = 4, step_ns: float = 1.0,
                      end_ns: float = 250.0):
    """A learnt pulse template of the analytic shape s^n exp(n (1 - s)) sampled from its
    start, written here from the formula (not the code's)."""
    from daq.reco.channel_templates import ChannelTemplate

    t = np.arange(-math.ceil(rise_ns), end_ns + step_ns, step_ns)
    s = np.maximum((t + rise_ns) / rise_ns, 0.0)
    return ChannelTemplate(float(t[0]), step_ns, s ** order * np.exp(order * (1.0 - s)), 500)


STEPPED_CLOCK = '''"""The wall clock of every Python process started with this on its
path, stepped by the seconds in $NA64DAQ_TEST_CLOCK_STEP (a file, read every 0.1 s): as NTP
steps a machine's clock. The monotonic clock is not stepped, as the kernel's is not."""
import os
import time

_path = os.environ.get("NA64DAQ_TEST_CLOCK_STEP")
_real = time.time
_read = [0.0, 0.0]


def _stepped():
    now = _real()
    if now - _read[0] > 0.1:
        try:
            with open(_path) as fh:
                _read[1] = float(fh.read() or 0.0)
        except (OSError, ValueError):
            pass
        _read[0] = now
    return now + _read[1]


if _path:
    time.time = _stepped
'''


@pytest.fixture
def stepped_clock(tmp_path, monkeypatch):
    """Function: step the wall clock of the DAQ processes started from now on by ``seconds``
    (a ``sitecustomize`` on their path replaces ``time.time``; this process's clock is its
    own)."""
    where = tmp_path / "stepped_clock"
    where.mkdir()
    (where / "sitecustomize.py").write_text(STEPPED_CLOCK)
    step = where / "step"
    step.write_text("0")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(where), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("NA64DAQ_TEST_CLOCK_STEP", str(step))
    return lambda seconds: step.write_text(repr(float(seconds)))


def raised_alarms(db, run: int) -> list[str]:
    """The alarms raised in ``run``, as the alarm server wrote them into the run's logbook
    ('NAME raised SEVERITY (spill N): text')."""
    rows = db.db.execute("SELECT text FROM logbook WHERE run = ? AND text LIKE "
                         "'[alarm] % raised %' ORDER BY id", (run,)).fetchall()
    return [text.removeprefix("[alarm] ") for (text,) in rows]
