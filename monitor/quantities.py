"""What the panels show, derived from a snapshot's sums (no Qt): per-channel means, strip-chart
series per spill, expected yields. The checks of the alarm issue read the same functions."""

from __future__ import annotations

from typing import Any

import numpy as np

from daq.reco.reco_config import SrdSection
from monitor.histograms import DRIFT_S
from monitor.snapshot import Snapshot


def sideband_to_window(srd: SrdSection) -> float:
    """Side-band tags scaled to the in-time window's width: the accidental tags expected in
    it (``docs/reconstruction.md``, SRD: 1,814 side-band tags gave 45.3 accidentals)."""
    return 2 * srd.window_ns / (srd.sideband_hi_ns - srd.sideband_lo_ns)

CHANNEL_QUANTITIES = {  # name -> (label, unit)
    "occupancy": ("occupancy", "hits/event"),
    "mean_energy": ("mean energy", "GeV"),
    "mean_time": ("mean pulse time", "ns"),
    "pedestal": ("pedestal", "ADC"),
}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def channel_means(snap: Snapshot, scope: str = "run") -> dict[str, np.ndarray]:
    """Per channel: occupancy, mean energy and time of in-time pulses, pedestal, LED mean."""
    hits = snap.hist("channel_hits", scope)
    ped = snap.hist("channel_pedestal", scope)
    led = snap.hist("channel_led", scope)
    return {"occupancy": _ratio(hits, snap.hist("channel_events", scope)),
            "mean_energy": _ratio(snap.hist("channel_energy_sum", scope), hits),
            "mean_time": _ratio(snap.hist("channel_time_sum", scope), hits),
            "pedestal": _ratio(ped[:, 1], ped[:, 0]),
            "led_adc": _ratio(led[:, 1], led[:, 0])}


def _ledger(row: dict[str, Any], key: str) -> float:
    ledger = row.get("ledger") or {}
    value = ledger.get(key)
    return float(value) if value is not None else np.nan


def spill_series(snap: Snapshot) -> dict[str, np.ndarray]:
    """One value per spill row of the snapshot (the live spill last)."""
    rows = snap.header.get("spills") or []
    col = {"spill": np.array([r["spill"] for r in rows], float)}
    col["live"] = np.array([bool(r.get("live")) for r in rows], bool)  # the open spill
    col["taken"] = np.array([r["taken"] for r in rows], float)
    col["beam"] = np.array([(r.get("triggers") or {}).get("physics", 0)
                            + (r.get("triggers") or {}).get("calibration", 0) for r in rows],
                           float)
    for key in ("triggered", "rejected", "dropped_by_policy", "written_complete",
                "written_incomplete"):
        col[key] = np.array([_ledger(r, key) for r in rows])
    col["written"] = col["written_complete"] + col["written_incomplete"]
    col["eot"] = np.array([r.get("eot") or 0.0 for r in rows], float)
    tags = np.array([r["tags"] for r in rows], float).reshape(-1, 4)
    prescale = float((snap.header.get("reference") or {}).get("physics_prescale") or 1.0)
    col["dimuons"] = tags[:, 3]  # muon-tagged physics triggers, pileup or not
    col["dimuons_per_1e9_eot"] = _ratio(col["dimuons"] * prescale * 1e9, col["eot"])
    col["srd_fraction"] = _ratio(tags[:, 1], tags[:, 0])
    col["srd_accidental_fraction"] = _ratio(tags[:, 2], tags[:, 0]) * sideband_to_window(
        snap.reco_config.srd)
    col["sideband_fraction"] = _ratio(tags[:, 2], tags[:, 0])  # what the check tests
    cal = np.array([r.get("calibration_tags") or [0, 0] for r in rows], float).reshape(-1, 2)
    col["srd_efficiency"] = _ratio(cal[:, 1], cal[:, 0])  # on calibration electrons
    col["calibration_ratio"] = np.array([np.nan if r.get("calibration_ratio") is None else
                                         r["calibration_ratio"] for r in rows], float)
    complete = np.array([sum(v for k, v in r["classes"].items() if k != "incomplete")
                         for r in rows], float)
    for name in ("other", "dimuon (I)", "E_ECAL+E_HCAL = E_beam (II)", "pileup (III)"):
        col[f"fraction {name}"] = _ratio(np.array([r["classes"].get(name, 0) for r in rows],
                                                  float), complete)
    col["incomplete"] = np.array([r["classes"].get("incomplete", 0) for r in rows], float)
    return col


def check_series(snap: Snapshot, check: str) -> dict[str, np.ndarray]:
    """What an alarm check compared in each closed spill (``spills[i].checks``,
    ``docs/monitor.md``), aligned with :func:`spill_series`: one array per number (NaN where
    the check did not test), ``limits`` split into ``limit_low`` and ``limit_high``."""
    rows = snap.header.get("spills") or []
    out: dict[str, np.ndarray] = {}
    for i, r in enumerate(rows):
        for key, v in ((r.get("checks") or {}).get(check) or {}).items():
            pairs = (("limit_low", v[0]), ("limit_high", v[1])) if key == "limits" and \
                isinstance(v, list) and len(v) == 2 else ((key, v),)
            for k, x in pairs:
                if isinstance(x, (int, float)) and not isinstance(x, bool):
                    out.setdefault(k, np.full(len(rows), np.nan))[i] = x
    return out


def check_baseline(snap: Snapshot, check: str) -> str:
    """What the latest tested spill of ``check`` was compared with (``baseline``,
    ``reference run N``, ``expected``), or ''."""
    for r in reversed(snap.header.get("spills") or []):
        against = ((r.get("checks") or {}).get(check) or {}).get("against")
        if against:
            return str(against)
    return ""


def drift_along_spill(snap: Snapshot, scope: str = "window") -> tuple[np.ndarray, ...]:
    """Time-bin centres (s), mean E/E_beam of calibration electrons corrected, uncorrected."""
    d = snap.hist("calibration_drift", scope)
    edges = np.linspace(DRIFT_S[0], DRIFT_S[1], d.shape[0] + 1)
    return 0.5 * (edges[1:] + edges[:-1]), _ratio(d[:, 1], d[:, 0]), _ratio(d[:, 2], d[:, 0])
