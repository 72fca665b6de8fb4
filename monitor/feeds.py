"""Where the window's snapshots come from, each in a background thread that keeps only the
latest (``docs/monitor.md``): the tap's PUB endpoint (live), or a run file read and followed
as it grows through the same histogram server the tap runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from daq.conditions import blinded, in_force
from daq.core.config_schema import ConfigError
from daq.core.detector import Detector
from daq.core.link_security import connect_curve
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.reco_config import recorded
from daq.run_file import layout as L
from daq.run_file.isolated import isolated
from daq.run_file.reader import RunReader
from monitor import snapshot as proto
from monitor.histogram_server import HistogramServer, reference
from monitor.histograms import HistogramFiller

FILE_BLOCK_EVENTS = 4096  # rows read at a time from a run file
FILE_WAVEFORMS_PER_BLOCK = 4
FOLLOW_POLL_S = 0.5  # a growing file is looked at again this often


class Feed:
    """The latest snapshot, and what went wrong on the way."""

    live = False

    def __init__(self, period_s: float):
        self.period_s = period_s  # how often a snapshot is expected
        self.latest: proto.Snapshot | None = None
        self.received = 0
        self.bad_messages = 0
        self.last_error: str | None = None
        self.finished = False  # a file read to its end (nothing more will come)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=type(self).__name__)

    def start(self) -> Feed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def stale(self, now_monotonic_s: float | None = None) -> bool:
        """No snapshot, or none for 3 periods while more were expected."""
        if self.latest is None:
            return True
        return not self.finished and self.latest.age_s(now_monotonic_s) > 3 * self.period_s

    def _run(self) -> None:
        raise NotImplementedError


class LiveFeed(Feed):
    """The tap's snapshots. ZeroMQ reconnects by itself when the DAQ comes back."""

    live = True

    def __init__(self, endpoint: str, period_s: float = 0.5, curve_keys=None):
        """``curve_keys``: (keyring, this viewer's key, the DAQ's key) when the feed uses
        CURVE (``docs/security.md``)."""
        super().__init__(period_s)
        self.endpoint = endpoint
        self.curve_keys = curve_keys

    def _run(self) -> None:
        ctx = zmq.Context()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.setsockopt(zmq.RCVHWM, 4)
        sub.setsockopt(zmq.LINGER, 0)
        if self.curve_keys is not None:
            connect_curve(sub, *self.curve_keys)
        sub.connect(self.endpoint)
        try:
            while not self._stop.is_set():
                if not sub.poll(100):
                    continue
                while True:  # every message is checked (and counted); the newest kept
                    try:
                        parts = sub.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    self.received += 1
                    try:
                        self.latest = proto.decode([p.buffer for p in parts])
                    except proto.SnapshotError as exc:
                        self.bad_messages += 1
                        self.last_error = str(exc)
        finally:
            ctx.destroy(linger=0)


class SavedFeed(Feed):
    """A run's saved monitor histograms (``monitor/saved_histograms.py``): one snapshot."""

    def __init__(self, path: str | Path):
        super().__init__(period_s=1.0)
        from monitor import saved_histograms

        self.path = Path(path)
        self.latest = isolated(saved_histograms.load, str(self.path))  # a file from elsewhere
        self.received = 1
        self.finished = True

    def _run(self) -> None:
        pass


#: (recorded DAQ configuration, detector) -> (expected yields per EOT or None, prescale)
ExpectedYields = Callable[[dict[str, Any], Detector], tuple[dict[str, float] | None, float]]


def _no_yields(daq_config: dict[str, Any], detector: Detector) -> tuple[None, float]:
    return None, 1.0


class FileFeed(Feed):
    """A run file through the tap's histogram server, followed while it grows (SWMR) until
    its run ends."""

    def __init__(self, path: str | Path, follow: bool = True, period_s: float = 0.5,
                 expected: ExpectedYields | None = None):
        """``expected``: from a run's recorded DAQ configuration, the yields per EOT and the
        prescale its source was set to give (the emulator knows them), or (None, 1)."""
        super().__init__(period_s)
        self.path = Path(path)
        self.follow = follow
        self.reader = RunReader(self.path)  # refuses a file that is not a run file, at once
        run = self.reader
        self.detector = Detector.from_text(run.provenance("detector_map"), f"{path} map")
        constants = CalibrationConstants.from_dict(run.provenance_json("calibration"),
                                                   self.detector.n_channels)
        try:
            config = recorded(run.provenance_json("reco_config", missing_ok=True))
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        self.server = HistogramServer(self.detector, HistogramFiller(
            self.detector, constants.gev_per_adc_in_force(), config),  # the run's own cuts
            blinding=lambda r: blinded(self.detector, r, config.classes.blinded))
        self.server.reference_for = lambda r: reference(
            constants, *(expected or _no_yields)(
                run.provenance_json("daq_config", missing_ok=True) or {}, self.detector),
            in_force(self.detector, "reference_adc", r))
        self.rows_read = 0

    def _run(self) -> None:
        try:
            self.read_all()
        except (L.RunFileError, OSError, ValueError) as exc:
            self.last_error = str(exc)
            self.finished = True
            self._publish()
        finally:
            self.reader.close()

    def read_all(self) -> None:
        """The background thread's work (a caller without a thread may do it itself): every
        row flushed so far, then, following, whatever the writer flushes, until the run
        ends. Rows are read as flushed, without the block checksums (``inspect --verify``
        proves a file; a damaged block stops the feed with its one-line reason)."""
        run = self.reader
        done = [0] * len(run.files)
        next_publish = 0.0
        while not self._stop.is_set():
            run.refresh()
            progressed = False
            for k, f in enumerate(run.files):
                n = run.rows(f)
                while done[k] < n and not self._stop.is_set():
                    hi = min(done[k] + FILE_BLOCK_EVENTS, n)
                    self._add_rows(f, done[k], hi)
                    done[k] = hi
                    progressed = True
                    if time.monotonic() > next_publish:
                        next_publish = time.monotonic() + self.period_s
                        self._publish()
            end = run.run_end()
            ended = end is not None
            self._ledgers(end)
            if ended:
                self.server.end_run()  # the last spill's checks
            if ended or not self.follow:
                self.finished = ended or not self.follow
                self._publish()
                return
            if not progressed:
                self._publish()
                self._stop.wait(FOLLOW_POLL_S)

    def _ledgers(self, end: dict | None) -> None:
        """The file's spill ledgers, and the run's at its end, for the DAQ panel."""
        for ledger in self.reader.spill_ledgers():
            self.server.set_daq_state({"run": self.reader.run, "spill_ledger": ledger})
        record = self.reader.provenance_json("run_record", missing_ok=True)
        self.server.daq = {"state": "file", "run": self.reader.run,
                           "ledger": (end or {}).get("ledger"),
                           "run_started_unix_s": record.get("start_time")
                           if isinstance(record, dict) else None}

    def _add_rows(self, f, lo: int, hi: int) -> None:
        read = self.reader.read_rows
        events = read(f[L.EVENTS], lo, hi)
        reco = read(f[L.RECO], lo, hi)
        channels = read(f[L.CHANNELS], lo, hi)
        rows = np.linspace(0, hi - lo - 1, FILE_WAVEFORMS_PER_BLOCK).astype(np.int64)
        rows = np.unique(rows)
        samples = f.get(L.SAMPLES)
        waveforms = (np.stack([read(samples, lo + r, lo + r + 1)[0] for r in rows])
                     if samples is not None else None)
        run_number = self.reader.run
        for spill in np.unique(events["spill"]):  # the server takes one spill at a time
            sel = np.flatnonzero(events["spill"] == spill)
            w = np.isin(rows, sel)
            self.server.add_batch(run_number, int(spill), events[sel], reco[sel],
                                  channels[sel], waveforms[w] if waveforms is not None else None,
                                  np.searchsorted(sel, rows[w]))
        self.rows_read += hi - lo
        self.server.counters["offered"] = self.rows_read

    def _publish(self) -> None:
        parts = self.server.snapshot()
        self.latest = proto.decode([bytes(p) for p in parts])
        self.received += 1
