"""The monitor tap: takes the workers' samples of the data (it may miss some; it never slows
the writer path), fills the monitor's histograms (``monitor/histogram_server.py``), measures the
latency from the builder to here, and publishes snapshots to any number of viewers
(``docs/monitor.md``)."""

from __future__ import annotations

import threading
import time

import numpy as np
import zmq

from daq.conditions import ConditionsError, ask_database, blinded, in_force
from daq.core import built_batch
from daq.core.detector import Detector
from daq.core.process_shell import ProcessShell, bind, drain
from daq.processes.daq_config import DaqConfig
from daq.processes.worker import online_setup
from emulator.emulator import expected_yields
from monitor import saved_histograms
from monitor import snapshot as proto
from monitor.alarm_handler import AlarmCommandError, AlarmHandler
from monitor.histogram_server import HistogramServer, reference
from monitor.histograms import HistogramFiller

LATENCY_MEMORY = 20000
SAVE_DRAIN_S = 3.0  # at the end of a run, batches still arriving are taken this long


class LatencyRecord:
    """The last LATENCY_MEMORY batch latencies (s) and their percentiles, put in the counters
    before every heartbeat: the final counters include the batches after the last summary."""

    def __init__(self, counters: dict):
        self.values_s = np.zeros(LATENCY_MEMORY)
        self.n = 0
        self.counters = counters
        counters["latency_p50_s"] = counters["latency_p99_s"] = None

    def add(self, latency_s: float) -> None:
        self.values_s[self.n % LATENCY_MEMORY] = latency_s
        self.n += 1

    def update_counters(self) -> None:
        if self.n:
            p50, p99 = np.percentile(self.values_s[:min(self.n, LATENCY_MEMORY)], [50, 99])
            self.counters["latency_p50_s"], self.counters["latency_p99_s"] = float(p50), float(p99)


def histogram_server(cfg: DaqConfig, detector: Detector) -> HistogramServer:
    """The server the tap fills: the nominal energy scale, the reconstruction's class cuts."""
    reco_cfg, constants = online_setup(cfg, detector)
    filler = HistogramFiller(detector, constants.gev_per_adc_in_force(), reco_cfg)
    # the emulator's yields are the expectation only for the emulator's own crates; a replayed
    # file (NA64's raw data above all) is compared with the run's own baseline spills
    emulated = cfg.run.sources == "emulator"
    follows_beam = cfg.emulator.trigger.physics_rate_hz < 0  # else per-EOT yields mean nothing
    yields = expected_yields(cfg.emulator, detector) if emulated and follows_beam else None

    def reference_for(run: int | None) -> dict:
        """What the run's panels compare with: its constants and LED references in force."""
        return reference(online_setup(cfg, detector, run)[1], yields,
                         cfg.emulator.trigger.physics_prescale,
                         in_force(detector, "reference_adc", run))

    return HistogramServer(detector, filler, cfg.tap.window_spills,
                           lambda run: blinded(detector, run, reco_cfg.classes.blinded),
                           reference_for,
                           AlarmHandler(detector, alarm_logbook(detector),
                                        ConditionsAlarmStore(detector)),
                           BaselineLoader(detector))


class BaselineLoader:
    """The reference run's histograms for the alarms' first spills, read in the background:
    the file is read in a child process (``daq/run_file/isolated.py``), seconds when the run's
    crates start on the same cores, and a tap that waited for it dropped the first batches
    (a false rate drop). ``start`` begins when run control names the run, before its crates
    start; ``__call__`` (the handler's new run, which starts without a reference) if it did
    not; ``apply``, from the tap's loop, hands it over when read, if the run is still the one
    it was read for. None (no database, no reference, a damaged file): the alarms wait for
    the run's own spills."""

    def __init__(self, detector: Detector):
        self.detector = detector
        self.run: int | None = None
        self.read: list = []  # [baseline] once the thread is done

    def start(self, run: int) -> None:
        if run != self.run:
            self.run, self.read = run, []
            threading.Thread(target=self._read, args=(run, self.read), daemon=True).start()

    def __call__(self, run: int | None) -> None:
        if run is not None:
            self.start(run)

    def _read(self, run: int, into: list) -> None:
        from daq.core.run_database import RunDatabase, RunDatabaseError
        from monitor.reference import alarm_baseline

        try:
            db = RunDatabase()
        except RunDatabaseError:
            into.append(None)
            return
        try:
            into.append(alarm_baseline(db, self.detector, run))
        except (OSError, ValueError, KeyError):
            into.append(None)
        finally:
            db.close()

    def apply(self, server: HistogramServer) -> None:
        if self.read and server.run == self.run:
            baseline, self.read = self.read[0], []
            if baseline is not None:
                server.alarms.baseline.reference = baseline


def alarm_logbook(detector: Detector):
    """Alarm transitions into the conditions database's logbook (kind ``alarm``)."""
    def write(text: str, author: str, run: int | None) -> None:
        if ask_database(detector, lambda c: c.add_note(text, "alarm", author, run)) is None:
            raise ConditionsError("no conditions database")
    return write


class ConditionsAlarmStore:
    """The alarms' handling in the conditions database (``alarm_state``): a new tap restores
    what the crew acknowledged and shelved."""

    def __init__(self, detector: Detector):
        self.detector = detector

    def load(self) -> dict:
        return ask_database(self.detector, lambda c: c.alarm_states()) or {}

    def save(self, name: str, kept: dict) -> None:
        if ask_database(self.detector, lambda c: c.save_alarm_state(name, kept) or True) is None:
            raise ConditionsError("no conditions database")


def main(cfg: DaqConfig, detector: Detector, name: str = "tap") -> None:
    server = histogram_server(cfg, detector)
    server.filler.warm_up()  # compile before the first heartbeat, not in the middle of a run
    shell = ProcessShell.for_daq(name, cfg)
    pull = shell.ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 4)
    bind(pull, cfg.endpoints, "tap", shell.data_guard)
    pub = shell.ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 2)  # a slow viewer loses snapshots; the tap never waits
    pub.setsockopt(zmq.LINGER, 0)
    bind(pub, cfg.endpoints, "tap_publish", shell.guard, "feed")
    n_ch, n_s = detector.n_channels, detector.samples_per_channel
    frozen = False
    c = server.counters
    c.update(frozen=False, offered=None, dropped=None)
    shell.counters = c
    latency = LatencyRecord(c)
    shell.before_beat = latency.update_counters
    period_s = 1.0 / cfg.tap.publish_hz
    next_publish = time.monotonic() + period_s

    def take() -> None:
        for b in built_batch.decode_all(drain(pull, 64), n_ch, n_s, c):
            if b.reco is None:
                continue
            t_first = float(b.header["t_first_fragment"])
            latency.add(time.time() - t_first)
            c["newest_unix_s"] = max(c.get("newest_unix_s") or 0.0, t_first)  # to screen
            rows = np.asarray(b.header.get("waveform_rows", []), np.int64)
            server.add_batch(int(b.header.get("run") or 0), int(b.header["spill"]),
                             b.events, b.reco, b.channels, b.samples, rows)

    baseline = server.baseline_for  # a BaselineLoader: hands over what it has read
    while not shell.exiting:
        baseline.apply(server)
        if not frozen and pull.poll(20):
            shell.worked()
            take()
        elif frozen:
            time.sleep(0.05)
        cmd = shell.command()
        if cmd and cmd.get("cmd") in ("freeze", "unfreeze"):
            frozen = cmd["cmd"] == "freeze"
            c["frozen"] = frozen
        elif cmd and cmd.get("cmd") == "run" and type(cmd.get("run")) is int:
            baseline.start(cmd["run"])  # read while the run's crates start
        elif cmd and cmd.get("cmd") == "save" and cmd.get("run") == server.run:
            deadline = time.monotonic() + SAVE_DRAIN_S  # what the workers still sent
            while pull.poll(200) and time.monotonic() < deadline:
                take()
            server.end_run()  # the last spill's checks, before the run's summary
            c["run_summary"] = server.run_summary()
            c["saved"] = _save(server, str(cmd.get("path", "")))
            c["saved_run"] = server.run
            shell.beat(force=True)
        elif cmd and cmd.get("cmd") == "alarm" and isinstance(cmd.get("request"), dict):
            try:
                server.alarms.command(cmd["request"])
                c["alarm_refused"] = None
            except AlarmCommandError as exc:
                c["alarm_refused"] = str(exc)
        elif cmd and cmd.get("cmd") == "daq_state" and isinstance(cmd.get("state"), dict):
            server.set_daq_state(cmd["state"])
            c["offered"], c["dropped"] = _offered(cmd["state"])
        if time.monotonic() > next_publish:
            next_publish = max(next_publish + period_s, time.monotonic())
            latency.update_counters()
            try:
                pub.send_multipart(server.snapshot(), zmq.NOBLOCK, copy=False)
            except zmq.Again:
                pass
        shell.beat()
    shell.close()


def _save(server: HistogramServer, path: str) -> str:
    """The run's histograms into ``path``; what happened, for the counters."""
    try:
        saved_histograms.save(proto.decode(server.snapshot()), path)
        return path
    except (OSError, ValueError) as exc:
        return f"failed: {exc}"


def _offered(state: dict) -> tuple[int | None, int | None]:
    """Rows the workers offered the tap, and those they dropped because it was full."""
    workers = [p.get("counters") or {} for n, p in (state.get("processes") or {}).items()
               if n.startswith("worker")]
    if not workers:
        return None, None
    dropped = sum(int(w.get("tap_dropped", 0)) for w in workers)
    return sum(int(w.get("tap_sent", 0)) for w in workers) + dropped, dropped
