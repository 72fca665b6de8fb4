"""The histogram server: the monitor's histograms in three scopes (run, spill, the last N
spills), the per-spill strip-chart rows, the latest waveform of every channel, and consistent
snapshots of all of it (``docs/monitor.md``). Fed by the tap's batches or a run file's blocks;
one thread, so a snapshot is never half filled."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from daq.core.config_schema import to_dict
from daq.core.detector import Detector
from daq.core.ledger import COUNTS
from daq.reco.blinding import blind
from daq.reco.calibration_constants import CalibrationConstants
from daq.run_file.spill_figures import SpillFigures
from monitor import snapshot as proto
from monitor.alarm_checks import StateData
from monitor.alarm_handler import AlarmHandler
from monitor.histograms import (
    CLASS_BINS,
    TRIGGER_NAMES,
    EventSample,
    HistogramFiller,
    HistogramSet,
)

SCOPES = ("run", "spill", "window")
STRIP_SPILLS = 200
WAVEFORM_FIELDS = ("spill", "event", "amplitude_adc", "time_ns", "flags", "pedestal_adc")


def reference(constants: CalibrationConstants, yields: dict[str, float] | None,
              physics_prescale: float, led_reference_adc: np.ndarray | None = None
              ) -> dict[str, Any]:
    """The snapshot's ``reference``: the pedestals in force (mean of even and odd, ADC), the
    LED reference amplitudes in force (``reference_adc``, when the conditions have them), the
    physics trigger's prescale, and the expected per-EOT yields before it when the data are
    emulated (``emulator.emulator.expected_yields``)."""
    ped = np.nanmean(constants.pedestal_adc, axis=1) if np.isfinite(
        constants.pedestal_adc).any() else np.full(len(constants.pedestal_adc), np.nan)
    out = {"pedestal_adc": _json_floats(ped), "physics_prescale": physics_prescale,
           **(yields or {})}
    if led_reference_adc is not None:
        out["led_reference_adc"] = _json_floats(led_reference_adc)
    return out


class HistogramServer:
    def __init__(self, detector: Detector, filler: HistogramFiller, window_spills: int = 10,
                 blinding: Callable[[int | None], bool] | None = None,
                 reference_for: Callable[[int | None], dict[str, Any]] | None = None,
                 alarms: AlarmHandler | None = None,
                 baseline_for: Callable[[int | None], tuple | None] | None = None):
        """``blinding``: whether a run is blinded, and ``reference_for``: the run's
        ``reference``, both asked at each new run (the conditions database); without them
        the filler's setting and ``reference`` as set stand. ``alarms``: the checks run
        beside the histograms (a handler without a logbook by default); ``baseline_for``:
        the reference run's baseline for the first spills of a run (``monitor.reference``)."""
        self.detector = detector
        self.filler = filler
        self.blinding = blinding
        self.reference_for = reference_for
        self.window_spills = int(window_spills)
        self.counters: dict[str, Any] = {"taken": 0, "batches": 0, "malformed": 0}
        self.daq: dict[str, Any] = {}  # the supervisor's last state (live feed only)
        self.daq_received_s: float | None = None
        self.baseline_for = baseline_for
        self.alarms = alarms or AlarmHandler(detector)
        #: what the panels compare with: expected yields, the pedestals in force
        self.reference: dict[str, Any] = {}
        self.seq = 0
        self.run: int | None = None
        self._new_run(None)

    def _new_run(self, run: int | None) -> None:
        self.run = run
        self.alarms.new_run(run, self.baseline_for(run) if self.baseline_for else None)
        if self.blinding is not None:
            self.filler.blinded = self.blinding(run)
        if self.reference_for is not None:
            self.reference = self.reference_for(run)
        self.spill: int | None = None
        self.ended = False  # the run's end closed its last spill (end_run)
        self.closed_spills = 0
        self.run_set = self.filler.new_set()  # closed spills
        self.spill_set = self.filler.new_set()
        self.closed: deque[HistogramSet] = deque(maxlen=max(self.window_spills - 1, 1))
        self.rows: deque[dict[str, Any]] = deque(maxlen=STRIP_SPILLS)
        self.eot = SpillFigures(self.detector)
        self.closed_eot = [0.0, 0.0]  # the run's closed spills: EOT and its variance
        self.event_sample = EventSample()
        n_ch, n_s = self.detector.n_channels, self.detector.samples_per_channel
        self.waveform_samples = np.zeros((n_ch, n_s), np.uint16)
        self.waveform_info = {k: np.full(n_ch, np.nan) for k in WAVEFORM_FIELDS}
        self.counters["taken"] = self.counters["batches"] = 0
        self.spill_ledgers: dict[int, dict[str, Any]] = {}

    def set_daq_state(self, state: dict[str, Any]) -> None:
        """The supervisor's state (processes, ledger so far); the writer's last spill ledger
        is kept by spill for the strip charts."""
        self.daq = state
        self.daq_received_s = time.time()
        ledger = state.get("spill_ledger")
        if isinstance(ledger, dict) and state.get("run") == self.run and "spill" in ledger:
            self.spill_ledgers[int(ledger["spill"])] = {
                k: ledger.get(k) for k in ("spill", *COUNTS, "cut_by_stop", "balanced")}

    # -- filling -----------------------------------------------------------------------------
    def add_batch(self, run: int, spill: int, events: np.ndarray, reco: np.ndarray,
                  channels: np.ndarray | None, waveforms: np.ndarray | None = None,
                  waveform_rows: np.ndarray | None = None) -> None:
        """One batch of one spill; ``waveforms`` are the full samples of rows
        ``waveform_rows`` of the batch."""
        if run != self.run:
            self._new_run(run)
        if self.spill is None:
            self.spill = spill
        events, reco, channels, kept = blind(events, reco, channels, self.filler.blinded)
        if waveforms is not None and waveform_rows is not None:
            keep = np.isin(waveform_rows, kept)  # a blinded event's waveform is never kept
            waveforms, rows = waveforms[keep], np.searchsorted(kept, waveform_rows[keep])
        else:
            waveforms, rows = None, None
        if spill > self.spill and not self.ended:
            self._close_spill()
            self.spill = spill
        target = self.spill_set
        if spill < self.spill or self.ended:  # a late batch of a closed spill: the run's
            target = self.filler.new_set()  # totals only
        self.filler.fill(target, events, reco, channels, waveforms)
        self.filler.sample(self.event_sample, events, reco)
        if target is not self.spill_set:
            self.run_set.add(target)
        else:
            self.eot.add(events, None, channels)
        if waveforms is not None and len(waveforms):
            self._keep_waveforms(spill, events, channels, waveforms, rows)
        self.counters["taken"] += len(events)
        self.counters["batches"] += 1

    def _keep_waveforms(self, spill: int, events: np.ndarray, channels: np.ndarray | None,
                        waveforms: np.ndarray, rows: np.ndarray) -> None:
        """The latest sampled waveform of every delivered channel."""
        last = waveforms[-1].astype(np.int64)
        delivered = last.max(1) > 0
        self.waveform_samples[delivered] = waveforms[-1][delivered]
        w = self.waveform_info
        w["spill"][delivered] = spill
        w["event"][delivered] = events["event"][rows[-1]]
        w["pedestal_adc"][delivered] = last[delivered, :self.filler.pedestal_samples].mean(1)
        if channels is not None:
            ch = channels[rows[-1]]
            for name in ("amplitude_adc", "time_ns", "flags"):
                w[name][delivered] = ch[name][delivered]

    def end_run(self) -> None:
        """The run has ended: its last spill closes now (its spill checks run), and nothing
        is open any more."""
        if self.spill is not None and not self.ended:
            self._close_spill()
            self.ended = True

    def run_summary(self) -> dict[str, Any]:
        """What the run's record keeps of the monitor (``docs/run-control.md``): closed
        spills, EOT, and the alarms not ``ok``."""
        return {"run": self.run, "spills": self.closed_spills, "eot": self.closed_eot[0],
                "eot_error": float(np.sqrt(self.closed_eot[1])), **self.alarms.run_summary()}

    def _close_spill(self) -> None:
        row = self._row(live=False)
        self.closed_spills += 1
        self.rows.append(row)
        self.closed_eot[0] += row["eot"] or 0.0
        self.closed_eot[1] += (row["eot_error"] or 0.0) ** 2
        self.run_set.add(self.spill_set)
        closed = self.spill_set.copy()
        if self.window_spills > 1:
            self.closed.append(closed)
        self.alarms.spill_closed(self.spill, closed, row, self.reference)
        self.spill_set.reset()
        self.eot = SpillFigures(self.detector)

    def _row(self, live: bool) -> dict[str, Any]:
        """The current spill's strip-chart row."""
        h = self.spill_set
        eot, eot_error = self.eot.electrons_on_target()
        drift = h["calibration_drift"]
        return {"spill": self.spill, "live": live, "taken": int(h["triggers"].sum()),
                "calibration_tags": h["calibration_tags"][:2].tolist(),
                # the gain drift check's quantity: calibration electrons' E/E_beam, corrected
                "calibration_ratio": (float(drift[:, 1].sum() / drift[:, 0].sum())
                                      if drift[:, 0].sum() else None),
                "classes": dict(zip(CLASS_BINS, h["classes"].tolist(), strict=True)),
                "triggers": dict(zip(TRIGGER_NAMES, h["triggers"].tolist(), strict=True)),
                "tags": h["physics_tags"].tolist(), "eot": eot, "eot_error": eot_error,
                "blinded": self.filler.blinded}

    # -- what is shown -----------------------------------------------------------------------
    def scope(self, name: str) -> HistogramSet:
        out = self.spill_set.copy()
        if name == "run":
            out.add(self.run_set)
        elif name == "window":
            for h in self.closed:
                out.add(h)
        return out

    def snapshot(self, now: float | None = None) -> list[Any]:
        """The next snapshot's message parts (``monitor/snapshot.py``)."""
        self.seq += 1
        arrays = [(name, scope, a) for scope in SCOPES
                  for name, a in self.scope(scope).arrays.items()]
        arrays.append(("waveform_samples", "latest", self.waveform_samples))
        arrays += [(name, "run", a) for name, a in self.event_sample.arrays()]
        rows = list(self.rows)
        if self.spill is not None and not self.ended:
            rows.append(self._row(live=True))
        for r in rows:
            r["ledger"] = self.spill_ledgers.get(r["spill"])
        now = now or time.time()
        self.alarms.state(StateData(
            now, self.daq, None if self.daq_received_s is None else now - self.daq_received_s,
            self.counters, self.spill_ledgers, self.run))
        live_eot = rows[-1] if rows and rows[-1]["live"] else {}
        exposure = {"eot": self.closed_eot[0] + (live_eot.get("eot") or 0.0),
                    "eot_error": float(np.sqrt(self.closed_eot[1] + (
                        live_eot.get("eot_error") or 0.0) ** 2))}
        header = {"seq": self.seq, "time_unix_s": now, "run": self.run,
                  "exposure": exposure,
                  "spill": self.spill, "closed_spills": self.closed_spills,
                  "blinded": self.filler.blinded,
                  "reco_config": to_dict(self.filler.reco),
                  "counters": dict(self.counters), "spills": rows,
                  "waveforms": {k: _json_floats(v) for k, v in self.waveform_info.items()},
                  "daq": self.daq, "reference": self.reference,
                  "daq_age_s": None if self.daq_received_s is None else now - self.daq_received_s,
                  "alarms": self.alarms.header(),
                  "channels": [c.name for c in self.detector.channels]}
        return proto.encode(header, arrays)


def _json_floats(a: np.ndarray) -> list[float | None]:
    return [None if np.isnan(x) else float(x) for x in a]
