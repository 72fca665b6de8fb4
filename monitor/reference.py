"""Reference histograms (``docs/monitor.md``): which earlier run to compare with (the last good
run of the same beam energy, trigger and HV version, or the crew's choice), its histograms
(saved monitor file, or its run file filled by the file feed's code), the overlay scaled to
the same integral with its ratio, and the shape tests (chi2, Kolmogorov-Smirnov). No Qt."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from daq.core.config_schema import ConfigError
from daq.core.detector import Detector
from daq.core.run_database import RunDatabase
from daq.run_file.isolated import isolated
from daq.run_file.layout import file_name, monitor_file_name
from monitor.alarm_checks import MAJOR, MINOR
from monitor.histograms import HistogramSet, histogram_specs
from monitor.snapshot import Snapshot

GOOD_STATES = ("finished", "stopped")
MIN_ENTRIES = 50  # either histogram below this: the shape tests say "too few"
CHI2_MIN_BIN = 5  # bins with fewer entries in both histograms are left out of the chi2
SEARCHED_RUNS = 200  # the automatic choice looks this far back (the tap asks at each run)


@dataclass
class ReferenceChoice:
    run: int | None
    path: Path | None
    how: str  # "automatic", "chosen", or why there is none
    differences: list[str] = field(default_factory=list)
    why: str = ""  # in words, for the Reference tab
    skipped: list[str] = field(default_factory=list)  # later runs passed over, and for what


def conditions(record: dict[str, Any], hv_version: int | None) -> dict[str, Any]:
    """What must match for a run to be another's reference: beam energy, trigger, HV."""
    cfg = record.get("config") or {}
    em = cfg.get("emulator") or {}
    trigger = {k: v for k, v in (em.get("trigger") or {}).items() if not k.endswith("_rate_hz")}
    return {"beam energy [GeV]": (em.get("beam") or {}).get("energy_gev"),
            "trigger": trigger, "HV version": hv_version}


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    out = []
    for key in a:
        if a[key] != b.get(key):
            if isinstance(a[key], dict) and isinstance(b.get(key), dict):
                keys = sorted(k for k in set(a[key]) | set(b[key])
                              if a[key].get(k) != b[key].get(k))
                out += [f"{key} {k}: {a[key].get(k)} here, {b[key].get(k)} in the reference"
                        for k in keys]
            else:
                out.append(f"{key}: {a[key]} here, {b.get(key)} in the reference")
    return out


def _files(record: dict[str, Any]) -> Path | None:
    """The run's monitor file, else its run file, if either is on disk."""
    directory = Path(((record.get("config") or {}).get("writer") or {}).get("directory", "."))
    for name in (monitor_file_name(record["run"]), file_name(record["run"])):
        if (directory / name).exists():
            return directory / name
    return None


def _balanced(record: dict[str, Any]) -> bool:
    return bool((record.get("ledger") or {}).get("balanced"))


def choose(db: RunDatabase, detector: Detector, run: int, chosen: int | str | None = None
           ) -> ReferenceChoice:
    """The reference of ``run``: ``chosen`` (a run number or a file) if given, else the last
    good earlier run with the same conditions; differences are listed either way."""
    from daq.conditions import Conditions

    cond = Conditions(db, detector)

    def hv(r: int) -> int | None:
        v = cond.lookup("hv_v", r)
        return v.id if v is not None else None

    here = db.run(run)
    mine = conditions(here, hv(run)) if here else {}
    if isinstance(chosen, str) and not chosen.isdigit():
        path = Path(chosen)
        if not path.exists():
            raise ConfigError(f"reference {chosen}: no such file")
        return ReferenceChoice(None, path, "chosen (a file: conditions unknown)")
    if chosen is not None:
        record = db.run(int(chosen))
        if record is None:
            raise ConfigError(f"reference run {chosen}: not in the run database")
        path = _files(record)
        if path is None:
            raise ConfigError(f"reference run {chosen}: neither its monitor file nor its run "
                              "file is on disk")
        return ReferenceChoice(record["run"], path, "chosen",
                               differences(mine, conditions(record, hv(record["run"]))),
                               why=f"run {record['run']}, chosen by the crew")
    latest_good = None
    skipped: list[str] = []
    rows = db.db.execute("SELECT run, state FROM runs WHERE run < ? ORDER BY run DESC LIMIT ?",
                         (run, SEARCHED_RUNS)).fetchall()
    for r, state in rows:
        record = db.run(r)
        why_not = _unfit(record, state)
        if why_not:
            skipped.append(f"run {r}: {why_not}")
            continue
        theirs = conditions(record, hv(r))
        summary = record.get("summary") or {}
        unknown = ("" if "major_alarms_not_cleared" in summary else
                   " (its alarms were not recorded)")
        if not differences(mine, theirs):
            return ReferenceChoice(r, _files(record), "automatic", why=(
                f"run {r} is the latest earlier run that ended {state}, balanced, with no "
                f"alarm failing or major alarm left raised{unknown}, the same beam energy, "
                "trigger and HV version"), skipped=skipped)
        latest_good = latest_good or (r, _files(record), differences(mine, theirs), state)
    if latest_good is not None:
        r, path, diffs, state = latest_good
        return ReferenceChoice(r, path, "automatic: no run with the same conditions, the latest "
                               "good one", diffs, why=(
                                   f"run {r} is the latest earlier run that ended {state}, "
                                   "balanced, with no major alarm left raised; no earlier run "
                                   "had the same conditions"), skipped=skipped)
    return ReferenceChoice(None, None, "no good earlier run with its files on disk",
                           skipped=skipped)


def _unfit(record: dict[str, Any], state: str) -> str | None:
    """Why a run cannot be a reference, or None."""
    if state not in GOOD_STATES:
        return f"it ended {state}"
    if not _balanced(record):
        return "its ledger did not balance"
    summary = record.get("summary") or {}
    faulty = summary.get("major_alarms_not_cleared")
    if faulty:
        return (f"major alarm{'s' if len(faulty) > 1 else ''} {', '.join(faulty)} not cleared "
                "at its end")
    # a minor alarm still failing at the end left its fault in the run's histograms: a run
    # with a hot cell, taken as the next run's reference, raised a false dead channel there
    failing = sorted({a.get("name") for a in summary.get("alarms") or []
                      if a.get("severity") in (MINOR, MAJOR)})
    if failing:
        return (f"alarm{'s' if len(failing) > 1 else ''} {', '.join(failing)} still failing "
                "at its end")
    if _files(record) is None:
        return "neither its monitor file nor its run file is on disk"
    return None


def alarm_baseline(db: RunDatabase, detector: Detector, run: int | None
                   ) -> tuple[HistogramSet, list[dict[str, Any]], str] | None:
    """For the alarms' first spills of ``run``: the automatically chosen reference (same
    conditions, saved monitor file: quick to read in the tap) as a baseline, its run scope
    with one row per spill; None without one."""
    from monitor.saved_histograms import is_saved_histograms

    if run is None:
        return None
    choice = choose(db, detector, run)
    if choice.how != "automatic" or choice.path is None or not isolated(
            is_saved_histograms, str(choice.path)):  # even its format is read in a child
        return None
    return baseline_of(load(choice.path), detector, f"reference run {choice.run}")


def baseline_of(snap: Snapshot, detector: Detector, name: str
                ) -> tuple[HistogramSet, list[dict[str, Any]], str] | None:
    """A snapshot's run scope as the alarms' baseline, with one row per spill."""
    h = HistogramSet(histogram_specs(detector.n_channels))
    for histogram, a in h.arrays.items():
        saved = snap.arrays.get(("run", histogram))
        if saved is None or saved.shape != a.shape:
            return None  # another histogram set: no baseline rather than a wrong one
        a[:] = saved
    rows = snap.header.get("spills") or []
    n = max(int(snap.header.get("spill") or 0), len(rows), 1)
    exposure = snap.header.get("exposure") or {}
    eot = float(exposure.get("eot") or sum(r.get("eot") or 0.0 for r in rows))
    error = float(exposure.get("eot_error") or 0.0)
    per_spill = [{"eot": eot / n, "eot_error": error / np.sqrt(n)}] * n  # the run's spills
    return h, per_spill, name


def load(path: str | Path) -> Snapshot:
    """A reference's histograms: its saved monitor file, or its run file read to the end. Read
    in a child process (``daq/run_file/isolated.py``): the tap and the window run for hours,
    and a crafted file that crashes libhdf5 must not take them down; even which of the two
    it is is read there."""
    return isolated(_read, str(path))


def _read(path: str) -> Snapshot:
    from monitor.feeds import FileFeed
    from monitor.saved_histograms import is_saved_histograms
    from monitor.saved_histograms import load as load_saved

    if is_saved_histograms(path):
        return load_saved(path)
    feed = FileFeed(path, follow=False)
    feed.read_all()
    if feed.latest is None:
        raise ConfigError(f"{path}: {feed.last_error or 'no histograms'}")
    return feed.latest


def one_dimensional(snap: Snapshot, name: str, scope: str = "run") -> np.ndarray:
    """A histogram as counts per bin: the set's 1-D ones, the plane's projections
    (``energy_plane:E_ECAL``, ``energy_plane:E_HCAL``) and the first column of 2-D sums."""
    if name.startswith("energy_plane:"):
        plane = snap.hist("energy_plane", scope)
        return plane.sum(1) if name.endswith("E_ECAL") else plane.sum(0)
    a = snap.hist(name, scope)
    return a if a.ndim == 1 else a[:, 0]


def scaled(h: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference scaled to the same integral, the ratio data/reference and its error
    (Poisson, both)."""
    h, ref = np.asarray(h, float), np.asarray(ref, float)
    scale = h.sum() / ref.sum() if ref.sum() > 0 else 0.0
    r = ref * scale
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(r > 0, h / r, np.nan)
        err = ratio * np.sqrt(np.where(h > 0, 1 / h, 0) + np.where(ref > 0, 1 / ref, 0))
    return r, ratio, np.where(r > 0, err, np.nan)


def chi2_test(h: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    """Chi2 of two shapes (both errors: the two-sample chi2 of unweighted histograms), over
    bins with at least CHI2_MIN_BIN entries in either; p-value for bins - 1 degrees."""
    h, ref = np.asarray(h, float), np.asarray(ref, float)
    n, m = h.sum(), ref.sum()
    if n < MIN_ENTRIES or m < MIN_ENTRIES:
        return {"result": "too few", "entries": (n, m)}
    use = (h >= CHI2_MIN_BIN) | (ref >= CHI2_MIN_BIN)
    if use.sum() < 2:
        return {"result": "too few", "entries": (n, m)}
    a, b = h[use], ref[use]
    chi2 = float((((np.sqrt(m / n) * a - np.sqrt(n / m) * b) ** 2) / (a + b)).sum())
    ndf = int(use.sum() - 1)
    return {"result": "ok", "chi2": chi2, "ndf": ndf, "p": float(stats.chi2.sf(chi2, ndf))}


def ks_test(h: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    """Kolmogorov-Smirnov distance of the binned cumulative distributions and its p-value
    for the effective number of entries (conservative for binned data)."""
    h, ref = np.asarray(h, float), np.asarray(ref, float)
    n, m = h.sum(), ref.sum()
    if n < MIN_ENTRIES or m < MIN_ENTRIES:
        return {"result": "too few", "entries": (n, m)}
    d = float(np.abs(np.cumsum(h) / n - np.cumsum(ref) / m).max())
    effective = n * m / (n + m)
    return {"result": "ok", "distance": d,
            "p": float(stats.kstwobign.sf(d * np.sqrt(effective)))}
