"""From a bin to its events (``docs/monitor.md``): the identifiers the tap sampled in a bin of
the energy plane or a class, the events themselves from the run file (waveforms, the
reconstruction's rows), and a "what if": the same events reconstructed again with a
proposed calibration, before it goes into the logbook. No Qt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daq.core import records as er
from daq.core.config_schema import ConfigError
from daq.core.detector import Detector
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.reco_config import recorded
from daq.run_file import layout as L
from daq.run_file.reader import RunReader
from monitor.histograms import PLANE_GEV
from monitor.snapshot import Snapshot


def plane_bin(e_ecal_gev: float, e_hcal_gev: float) -> tuple[int, int] | None:
    """The energy plane's bin of a point (GeV), or None outside it."""
    lo, hi, n = PLANE_GEV
    i, j = (int(np.floor((e - lo) / (hi - lo) * n)) for e in (e_ecal_gev, e_hcal_gev))
    return (i, j) if 0 <= i < n and 0 <= j < n else None


def events_in_bin(snap: Snapshot, i: int, j: int) -> list[tuple[int, int]]:
    """The (spill, event) the tap keeps for bin (i, j) of the plane, latest last."""
    rows = snap.arrays.get(("run", "plane_events"))
    if rows is None:
        return []
    sel = rows[(rows[:, 0] == i) & (rows[:, 1] == j)]
    return sorted({(int(s), int(e)) for s, e in sel[:, 2:]})


def events_of_class(snap: Snapshot, cls: int) -> list[tuple[int, int]]:
    rows = snap.arrays.get(("run", "class_events"))
    if rows is None:
        return []
    return sorted({(int(s), int(e)) for s, e in rows[rows[:, 0] == cls][:, 1:]})


@dataclass
class Event:
    spill: int
    event: int
    row: int  # in the run
    events: np.ndarray  # one row of BUILT_DTYPE
    samples: np.ndarray  # (channels, samples) uint16
    reco: np.ndarray  # one row of RECO_DTYPE
    channels: np.ndarray  # (channels,) CHANNEL_DTYPE
    state: np.ndarray | None = None  # its batch's /reco/state row (None: none recorded)


class RunEvents:
    """Events of a run file by (spill, event). Reads what was flushed (a growing file too)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.reader = RunReader(self.path)
        self.detector = Detector.from_text(self.reader.provenance("detector_map"),
                                           f"{path} map")
        self.constants = CalibrationConstants.from_dict(
            self.reader.provenance_json("calibration"), self.detector.n_channels)
        #: what the run was reconstructed with (its pulse shape, cuts)
        self.reco_config = recorded(self.reader.provenance_json("reco_config", missing_ok=True))

    def close(self) -> None:
        self.reader.close()

    def find(self, ids: list[tuple[int, int]]) -> list[Event]:
        """The events with these identifiers that the file holds, in the order asked."""
        self.reader.refresh()
        ev = self.reader.column(L.EVENTS)
        key = {(int(s), int(e)): k for k, (s, e) in enumerate(zip(ev["spill"], ev["event"],
                                                                  strict=True))}
        out = []
        for spill, event in ids:
            row = key.get((spill, event))
            if row is not None:
                out.append(self._read(row, spill, event))
        return out

    def _read(self, row: int, spill: int, event: int) -> Event:
        offset = 0
        for f in self.reader.files:  # a rotated run continues in further files
            n = self.reader.rows(f)
            if row < offset + n:
                k = row - offset
                parts = {name: self.reader.read_rows(f[name], k, k + 1)[0]
                         for name in (L.EVENTS, L.SAMPLES, L.RECO, L.CHANNELS) if name in f}
                if L.SAMPLES not in parts:
                    raise ConfigError(f"{self.path}: the run file keeps no raw samples")
                return Event(spill, event, row, parts[L.EVENTS], parts[L.SAMPLES],
                             parts[L.RECO], parts[L.CHANNELS], self._state(f, k))
            offset += n
        raise ConfigError(f"{self.path}: no row {row}")

    def _state(self, f, k: int) -> np.ndarray | None:
        """The ``/reco/state`` row of the batch that holds row ``k`` of file ``f``."""
        states = f.get(L.RECO_STATE)
        if states is None:
            return None
        rows = states[()]
        hit = np.flatnonzero((rows["first_row"] <= k) & (k < rows["first_row"] + rows["n_rows"])
                             & (rows["recorded"] == 1))
        return rows[hit[0]] if len(hit) else None

    def what_if(self, events: list[Event], adc_per_gev: dict[str, float],
                blinded: bool = True) -> list[dict[str, Any]]:
        """The events reconstructed with the file's configuration, constants and each
        event's recorded learnt state (the online values again), and then with the proposed
        gains (ADC per GeV, per channel named; the others as in the file) and the same
        state, so that the two differ by the calibration only: per event the energies
        before and after. An event the proposal would put in the signal box shows none
        while blinded."""
        from daq.reco.reconstruction import LearntState, Reconstruction

        if not events:
            return []
        proposed = CalibrationConstants(**{
            k: getattr(self.constants, k).copy() for k in (
                "gev_per_adc", "time_offset_ns", "pedestal_adc", "reference_correction")},
            tag="proposed", pulse_templates=self.constants.pulse_templates)
        for name, gain in adc_per_gev.items():
            proposed.gev_per_adc[self.detector.index(name)] = 1.0 / gain
        old = Reconstruction(self.detector, self.reco_config, self.constants)
        new = Reconstruction(self.detector, self.reco_config, proposed)
        before, after = [], []
        for e in events:  # one at a time: each with the state of its own batch
            state = None if e.state is None else LearntState(e.state["pedestal_adc"],
                                                             e.state["drift_sums"])
            samples, table = e.samples[None], e.events[None]
            before.append(old(samples, table, state)[0][0])
            after.append(new(samples, table, state or old.last_state)[0][0])
        out = []
        for e, b, a in zip(events, before, after, strict=True):
            hidden = blinded and a["event_class"] == er.SIGNAL_BOX
            out.append({"spill": e.spill, "event": e.event,
                        "e_ecal_gev": (float(b["e_ecal_gev"]), None if hidden else
                                       float(a["e_ecal_gev"])),
                        "e_hcal_gev": (float(b["e_hcal_gev"][:2].sum()), None if hidden else
                                       float(a["e_hcal_gev"][:2].sum())),
                        "class": (er.CLASS_NAMES[b["event_class"]], "blinded" if hidden else
                                  er.CLASS_NAMES[a["event_class"]])})
        return out


def read_proposal(path: str | Path, detector: Detector) -> dict[str, float]:
    """A proposed calibration: a value table of ADC per GeV per channel (what ``calib``
    would write as ``adc_per_gev``), each > 0."""
    from daq.core.channel_table import ValueTableError, read_value_table

    try:
        table = read_value_table(path, detector)
    except ValueTableError as exc:
        raise ConfigError(f"proposed calibration: {exc}") from None
    bad = [n for n, v in table.items() if not v > 0]
    if bad:
        raise ConfigError(f"proposed calibration {path}: {bad[0]} must be > 0 ADC/GeV")
    return table
