"""The monitor's checks (``docs/monitor.md``, Alarms): what each tests, its statistics, its
minimum statistics, its guidance and the panel that shows it. Spill checks test a closed spill
against a baseline of earlier spills; state checks test the DAQ's state at every publish.
No Qt here: the tap runs them."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from daq.core.detector import Detector
from daq.core.ledger import written
from monitor.histograms import DRIFT_S, HistogramSet

OK, TOO_FEW, MINOR, MAJOR = "ok", "too few", "minor", "major"
RANK = {OK: 0, TOO_FEW: 0, MINOR: 1, MAJOR: 2}
P_FAIL = 1e-4  # an item fails a statistical test below this p-value (one-sided)
Z_FAIL = float(stats.norm.isf(P_FAIL))  # 3.72
FILTER = (2, 3)  # a statistical item raises after failing in 2 of its last 3 tested spills
BASELINE_SPILLS = (3, 20)  # a spill check needs 3 baseline spills, and sums at most 20
BASELINE_GAP = 2  # the spills just before the tested one stay out of its baseline
EARLY_S = 1.0  # "early in the spill" for the saturation check

Items = dict[str, tuple[str, str]]  # item -> (severity, one line)


@dataclass
class SpillData:
    """What a spill check reads: the tested spill, its baseline, the run's references."""

    spill: int
    h: HistogramSet
    row: dict[str, Any]
    base: HistogramSet | None
    base_rows: list[dict[str, Any]]
    reference: dict[str, Any]
    detector: Detector
    base_name: str = "baseline"  # or "reference run N": the start of a run has no own
    #: what each check compared, for the panels to draw the same (``docs/monitor.md``): per
    #: spill (scalars, into the spill's row) and per channel (the latest tested spill)
    drawn: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def base_spills(self) -> int:
        return len(self.base_rows)


@dataclass
class StateData:
    """What a state check reads: the DAQ's last state, when it came, the tap's counters."""

    now_s: float
    daq: dict[str, Any]
    daq_age_s: float | None
    counters: dict[str, Any]
    spill_ledgers: dict[int, dict[str, Any]]
    run: int | None


@dataclass(frozen=True)
class Check:
    name: str
    panel: str
    guidance: str
    kind: str  # "spill" or "state"
    test: Callable[..., Items]
    exact: bool = False  # no statistics: no filter
    delay_s: float = 0.0  # state checks: the condition must last this long
    #: state checks' items that need no delay: counts, which do not flicker
    undelayed: tuple[str, ...] = ()


# -- statistics ----------------------------------------------------------------------------
def fewer(k: float, n: float, k0: float, n0: float) -> float:
    """p-value of ``k`` successes in ``n`` trials being this few, given ``k0`` in ``n0``
    (Fisher's exact test, one-sided: the baseline's uncertainty is in it)."""
    return float(stats.hypergeom.cdf(k, n + n0, k + k0, n))


def more(k: float, n: float, k0: float, n0: float) -> float:
    return float(stats.hypergeom.sf(k - 1, n + n0, k + k0, n))


def rate_fewer(k: float, exposure: float, k0: float, exposure0: float) -> float:
    """p-value of ``k`` counts in ``exposure`` being this few against ``k0`` in ``exposure0``
    (Poisson rates, conditional binomial test)."""
    return float(stats.binom.cdf(k, k + k0, exposure / (exposure + exposure0)))


def rate_more(k: float, exposure: float, k0: float, exposure0: float) -> float:
    return float(stats.binom.sf(k - 1, k + k0, exposure / (exposure + exposure0)))


def mean_var(n: float, s: float, ss: float) -> tuple[float, float]:
    """Mean and variance from a count, a sum and a sum of squares."""
    m = s / n
    return m, max(ss / n - m * m, 0.0)


def _beam(h: HistogramSet) -> float:
    return float(h["triggers"][0] + h["triggers"][1])


def _no_beam(d: SpillData) -> Items | None:
    """Checks that need beam say 'too few' in a spill without it (beam off says why)."""
    if _beam(d.h) == 0 or d.base is None or d.base_spills < BASELINE_SPILLS[0]:
        why = ("no beam in this spill" if _beam(d.h) == 0 else
               f"{d.base_spills} baseline spills (needs {BASELINE_SPILLS[0]})")
        return {"all": (TOO_FEW, why)}
    return None


def _names(d: SpillData) -> list[str]:
    return [c.name for c in d.detector.channels]


# -- spill checks --------------------------------------------------------------------------
def _hits(d: SpillData):
    """Per channel: its name, in-time hits and events in the spill and in the baseline."""
    h, b = d.h, d.base
    for c, name in enumerate(_names(d)):
        yield (name, h["channel_hits"][c], h["channel_events"][c], b["channel_hits"][c],
               b["channel_events"][c])


def dead_channel(d: SpillData) -> Items:
    if (short := _no_beam(d)) is not None:
        return short
    out: Items = {}
    tested = 0
    for name, k, n, k0, n0 in _hits(d):
        if n == 0 or n0 == 0 or n * k0 / n0 < 10:
            continue
        tested += 1
        if (k / n) < 0.5 * (k0 / n0) and fewer(k, n, k0, n0) < P_FAIL:
            out[name] = (MAJOR, f"{name}: {k / n:.3g} hits/event, {d.base_name} "
                                f"{k0 / n0:.3g}")
    return out if tested else {"all": (TOO_FEW, "no channel with 10 hits expected")}


def hot_channel(d: SpillData) -> Items:
    if (short := _no_beam(d)) is not None:
        return short
    out: Items = {}
    for name, k, n, k0, n0 in _hits(d):
        if n < 200 or n0 < 200:
            continue
        occ, occ0 = k / n, k0 / n0
        if occ > 2 * occ0 and occ - occ0 > 0.05 and more(k, n, k0, n0) < P_FAIL:
            out[name] = (MINOR, f"{name}: {occ:.3g} hits/event, {d.base_name} {occ0:.3g}")
    return out


def pedestal_jump(d: SpillData) -> Items:
    """Against the pedestal in force; where none is, against the baseline's mean (both
    spreads), and the text says so: a default run has no pedestal calibration."""
    ref = d.reference.get("pedestal_adc") or []
    ped = d.h["channel_pedestal"]
    base = d.base["channel_pedestal"] if d.base is not None and (
        d.base_spills >= BASELINE_SPILLS[0]) else None
    n_ch = len(ped)
    delta_adc, error_adc = np.full(n_ch, np.nan), np.full(n_ch, np.nan)
    against = [""] * n_ch
    out: Items = {}
    for c, name in enumerate(_names(d)):
        if ped[c, 0] < 10:
            continue
        m, v = mean_var(*ped[c])
        if c < len(ref) and ref[c] is not None:
            m0, spread, against[c] = ref[c], np.sqrt(v / ped[c, 0]), "in force"
        elif base is not None and base[c, 0] >= 10:
            m0, v0 = mean_var(*base[c])
            spread, against[c] = np.sqrt(v / ped[c, 0] + v0 / base[c, 0]), d.base_name
        else:
            continue
        delta = m - m0
        sigma = np.hypot(spread, 0.3)
        delta_adc[c], error_adc[c] = delta, sigma
        if abs(delta) > 3 and abs(delta) / sigma > 5:
            what = (f"the {m0:.1f} in force" if against[c] == "in force" else
                    f"the {d.base_name}'s {m0:.1f} (no pedestal in force)")
            out[name] = (MAJOR if abs(delta) > 10 else MINOR,
                         f"{name}: {m:.1f} ADC, {delta:+.1f} from {what}")
    tested = np.isfinite(delta_adc)
    if not tested.any():
        return {"all": (TOO_FEW, "no pedestal in force and no baseline yet, or fewer than 10 "
                                 "quiet waveforms")}
    kinds = sorted({a for a in against if a})
    d.channels["pedestal jump"] = {"delta_adc": delta_adc, "error_adc": error_adc,
                                   "limit_adc": 3.0, "against": " and ".join(kinds)}
    return out


def srd_efficiency(d: SpillData) -> Items:
    if (short := _no_beam(d)) is not None:
        return short
    n, k = d.h["calibration_tags"][:2]
    n0, k0 = d.base["calibration_tags"][:2]
    if n < 30 or n0 < 30:
        return {"all": (TOO_FEW, f"{n:.0f} calibration electrons (needs 30)")}
    p0 = k0 / n0
    spread = np.sqrt(max(p0 * (1 - p0), 1e-12) * (1 / n + 1 / n0))
    d.drawn["SRD efficiency"] = {"measured": k / n, "error": np.sqrt(max(
        k / n * (1 - k / n), 1e-12) / n), "baseline": p0, "limit": p0 - max(
        0.05, Z_FAIL * spread), "against": d.base_name}
    if k0 / n0 - k / n > 0.05 and fewer(k, n, k0, n0) < P_FAIL:
        return {"all": (MAJOR, f"SRD tags {k / n:.1%} of calibration electrons, "
                               f"{d.base_name} {k0 / n0:.1%}")}
    return {}


def _relative(m: float, v: float, n: float, m0: float, v0: float, n0: float,
              floor: float) -> tuple[float, float, float]:
    """Relative change of a mean, its significance (z) and its error, with a systematic
    floor."""
    delta = m / m0 - 1
    sigma = float(np.hypot(np.sqrt(v / n + v0 / n0) / m0, floor))
    return delta, abs(delta) / sigma, sigma


def _size(delta: float) -> str:
    return MAJOR if abs(delta) > 0.10 else MINOR


def gain_drift(d: SpillData) -> Items:
    if (short := _no_beam(d)) is not None:
        return short
    out: Items = {}
    led, led0 = d.h["channel_led"], d.base["channel_led"]
    ratio, error = np.full(len(led), np.nan), np.full(len(led), np.nan)
    for c, name in enumerate(_names(d)):
        if led[c, 0] < 5 or led0[c, 0] < 5:
            continue
        delta, z, sigma = _relative(*mean_var(*led[c]), led[c, 0], *mean_var(*led0[c]),
                                    led0[c, 0], 0.002)
        ratio[c], error[c] = 1 + delta, sigma
        if abs(delta) > 0.02 and z > Z_FAIL:
            out[name] = (_size(delta), f"{name}: LED pulse {delta:+.1%} from the "
                                       f"{d.base_name}")
    if np.isfinite(ratio).any():
        d.channels["gain drift"] = {"led_ratio": ratio, "led_error": error, "limit": 0.02,
                                    "against": d.base_name}
    drift, drift0 = d.h["calibration_drift"], d.base["calibration_drift"]
    n, n0 = drift[:, 0].sum(), drift0[:, 0].sum()
    if n >= 30 and n0 >= 30:
        m, v = mean_var(n, drift[:, 1].sum(), drift[:, 3].sum())
        m0, v0 = mean_var(n0, drift0[:, 1].sum(), drift0[:, 3].sum())
        delta, z, sigma = _relative(m, v, n, m0, v0, n0, 0.002)
        half = m0 * max(0.02, Z_FAIL * sigma)  # outside both: fails
        d.drawn["gain drift"] = {"measured": m, "error": np.sqrt(v / n), "baseline": m0,
                                 "limits": [m0 - half, m0 + half], "against": d.base_name}
        if abs(delta) > 0.02 and z > Z_FAIL:
            out["calibration peak"] = (_size(delta), f"calibration peak {delta:+.1%} from the "
                                                     f"{d.base_name}")
    times = np.flatnonzero(drift[:, 0])
    if len(times) >= 2:  # the spill's two halves, in its drift bins
        half = (times[0] + times[-1] + 1) // 2
        first, second = drift[:half], drift[half:]
        if first[:, 0].sum() >= 30 and second[:, 0].sum() >= 30:
            m1, v1 = mean_var(first[:, 0].sum(), first[:, 1].sum(), first[:, 3].sum())
            m2, v2 = mean_var(second[:, 0].sum(), second[:, 1].sum(), second[:, 3].sum())
            delta, z, _ = _relative(m2, v2, second[:, 0].sum(), m1, v1, first[:, 0].sum(),
                                    0.002)
            if abs(delta) > 0.02 and z > Z_FAIL:
                out["along the spill"] = (_size(delta), f"second half of the spill {delta:+.1%}"
                                                        " from the first (corrected)")
    return out


def rate_drop(d: SpillData) -> Items:
    if (short := _no_beam(d)) is not None:
        return short
    k, k0, spills = _beam(d.h), _beam(d.base), d.base_spills
    if k0 / spills < 100:
        return {"all": (TOO_FEW, f"{k0 / spills:.0f} beam triggers per baseline spill")}
    mean = k0 / spills  # below both the ratio and the binomial test's limit (normal approx.)
    d.drawn["rate drop"] = {"measured": k, "baseline": mean, "limit": min(
        0.5 * mean, mean - Z_FAIL * np.sqrt(mean * (1 + 1 / spills))), "against": d.base_name}
    if k < 0.5 * k0 / spills and rate_fewer(k, 1, k0, spills) < P_FAIL:
        return {"all": (MINOR, f"{k:.0f} beam triggers, {d.base_name} {k0 / spills:.0f} per "
                               "spill")}
    return {}


def beam_off(d: SpillData) -> Items:
    others = float(d.h["triggers"][2] + d.h["triggers"][3])
    if _beam(d.h) == 0 and others > 0:
        return {"all": (MAJOR, f"spill {d.spill}: no physics or calibration trigger "
                               f"({others:.0f} random and LED)")}
    return {}


def incomplete_events(d: SpillData) -> Items:
    if d.base is None or d.base_spills < BASELINE_SPILLS[0]:
        return {"all": (TOO_FEW, f"{d.base_spills} baseline spills")}
    n, n0 = d.h["triggers"].sum(), d.base["triggers"].sum()
    if n < 100:
        return {"all": (TOO_FEW, f"{n:.0f} events (needs 100)")}
    out: Items = {}
    for sid in d.detector.source_ids:
        first = d.detector.source(sid).channels[0]
        k = n - d.h["channel_events"][first]
        k0 = n0 - d.base["channel_events"][first]
        if k / n - k0 / n0 > 0.01 and more(k, n, k0, n0) < P_FAIL:
            out[f"source {sid}"] = (MAJOR, f"source {sid} missing from {k / n:.1%} of events, "
                                           f"{d.base_name} {k0 / n0:.1%}")
    return out


def dimuon_yield(d: SpillData) -> Items:
    if (short := _no_beam(d)) is not None:
        return short
    k = float(d.h["physics_tags"][3])
    eot = float(d.row.get("eot") or 0.0) * _complete(d.h)  # muon tags need complete events
    prescale = float(d.reference.get("physics_prescale") or 1.0)
    expected = d.reference.get("dimuons_per_eot")
    if eot <= 0 or _complete(d.h) < 0.5:
        return {"all": (TOO_FEW, "no EOT estimate, or most physics triggers incomplete")}
    # the spill's EOT estimate counts beam-counter pulses in random triggers: ~15 % per
    # spill at 5e6 e-, more than the dimuons' Poisson error; both go into the test
    rel2 = (float(d.row.get("eot_error") or 0.0) / float(d.row["eot"])) ** 2
    if expected:
        mu = expected * eot / prescale
        what = "expected"
    else:
        k0 = float(d.base["physics_tags"][3])
        raw0 = sum(r.get("eot") or 0.0 for r in d.base_rows)
        eot0 = raw0 * _complete(d.base)
        mu = k0 * eot / eot0 if eot0 > 0 else 0.0
        what = d.base_name
        rel2 += 1.0 / max(k0, 1.0) + sum((r.get("eot_error") or 0.0) ** 2
                                         for r in d.base_rows) / max(raw0, 1.0) ** 2
    if mu < 10:
        return {"all": (TOO_FEW, f"{mu:.1f} dimuons expected (needs 10)")}
    sigma = np.sqrt(mu + mu * mu * rel2)
    z = (k - mu) / sigma
    per = 1e9 * prescale / eot
    half = max(0.3 * mu, Z_FAIL * sigma)  # outside both: fails
    d.drawn["dimuon yield"] = {"measured": k * per, "expected": mu * per, "error": sigma * per,
                               "limits": [(mu - half) * per, (mu + half) * per],
                               "against": what}
    if abs(k / mu - 1) > 0.3 and abs(z) > Z_FAIL:
        return {"all": (MINOR, f"{k * per:.0f} dimuons per 1e9 EOT, {what} {mu * per:.0f}")}
    return {}


def _complete(h: HistogramSet) -> float:
    """The fraction of physics triggers that were complete (the tags count those only)."""
    return float(h["physics_tags"][0] / h["triggers"][0]) if h["triggers"][0] else 0.0


def srd_accidentals(d: SpillData) -> Items:
    if (short := _no_beam(d)) is not None:
        return short
    n, k = d.h["physics_tags"][0], d.h["physics_tags"][2]
    n0, k0 = d.base["physics_tags"][0], d.base["physics_tags"][2]
    if n0 == 0 or n * k0 / n0 < 20:
        return {"all": (TOO_FEW, "fewer than 20 side-band tags expected")}
    p0 = k0 / n0
    d.drawn["SRD accidentals"] = {"measured": k / n, "baseline": p0, "limit": max(
        1.5 * p0, p0 + Z_FAIL * np.sqrt(p0 * (1 - p0) * (1 / n + 1 / n0))),
        "against": d.base_name}
    if (k / n) > 1.5 * (k0 / n0) and more(k, n, k0, n0) < P_FAIL:
        return {"all": (MINOR, f"side-band tags {k / n:.2%} of physics triggers, "
                               f"{d.base_name} {k0 / n0:.2%}")}
    return {}


def early_saturation(d: SpillData) -> Items:
    drift = d.h["calibration_drift"]
    edge = int(round(EARLY_S / (DRIFT_S[1] - DRIFT_S[0]) * drift.shape[0]))
    early, late = drift[:edge], drift[edge:]
    n1, n2 = early[:, 0].sum(), late[:, 0].sum()
    if n1 < 20 or n2 < 20:
        return {"all": (TOO_FEW, f"{n1:.0f} early and {n2:.0f} later calibration electrons "
                                 "(needs 20 each)")}
    # uncorrected: the reconstruction's intra-spill drift correction is learnt from these
    # electrons as a straight line, and absorbs part of an early deficit; the spread is the
    # corrected one's (the correction is a smooth factor)
    _m, v1 = mean_var(n1, early[:, 1].sum(), early[:, 3].sum())
    _m, v2 = mean_var(n2, late[:, 1].sum(), late[:, 3].sum())
    m1, m2 = early[:, 2].sum() / n1, late[:, 2].sum() / n2
    delta, z, sigma = _relative(m1, v1, n1, m2, v2, n2, 0.002)
    d.drawn["early saturation"] = {"early": m1, "later": m2, "delta": delta,
                                   "limit": -max(0.02, Z_FAIL * sigma)}
    if delta < -0.02 and z > Z_FAIL:
        return {"all": (MAJOR if delta < -0.05 else MINOR,
                        f"E/E_beam {delta:+.1%} in the first {EARLY_S:g} s of the spill")}
    return {}


# -- state checks --------------------------------------------------------------------------
def _running(s: StateData) -> bool:
    return s.daq.get("state") == "running" and s.daq.get("run") == s.run


def ledger_imbalance(s: StateData) -> Items:
    if not s.spill_ledgers:
        return {"all": (TOO_FEW, "no spill ledger yet")}
    return {f"spill {n}": (MAJOR, f"spill {n}: triggered {led.get('triggered')}, written "
                                  f"{written(led)}, rejected {led.get('rejected')}: does not "
                                  "balance")
            for n, led in s.spill_ledgers.items() if led.get("balanced") is False}



#: a process named at the start of the supervisor's error (``docs/run-control.md``)
ERROR_PROCESS = re.compile(r"(source-(?:\d+|all)|builder|writer|tap|worker-\d+)\b")


def run_error(s: StateData) -> Items:
    """The run in error, under the process the supervisor's reason names (a crate, the
    builder or the writer that died or froze: the run cannot go on without it)."""
    if not s.daq:
        return {"all": (TOO_FEW, "no state from the DAQ")}
    if s.daq.get("state") != "error":
        return {}
    error = str(s.daq.get("error") or "no reason given")
    m = ERROR_PROCESS.match(error)
    return {m.group(1) if m else "run": (MAJOR, f"run {s.daq.get('run')} in error: "
                                                f"{error[:300]}")}


def _counters(daq: dict[str, Any], process: str) -> dict[str, Any]:
    """A DAQ process's counters from the DAQ's state ({} when it has none)."""
    return ((daq.get("processes") or {}).get(process) or {}).get("counters") or {}


def run_storage(s: StateData) -> Items:
    """The writer's word on the run directory: a write that failed (a full disk), or a
    directory that cannot take a new file (the next run cannot start, the run's next file
    cannot be opened: it grows past its size instead)."""
    writer = _counters(s.daq, "writer")
    if not writer:
        return {"all": (TOO_FEW, "no writer counters")}
    out: Items = {}
    if writer.get("failed"):
        out["write"] = (MAJOR, f"writer: {writer['failed']}")
    if writer.get("directory_problem"):
        out["directory"] = (MAJOR, f"{writer['directory_problem']}: the next run cannot start")
    elif writer.get("rotation_refused"):
        out["directory"] = (MINOR, f"{writer['rotation_refused']}: the run's file grows past "
                                   "writer.max_file_mb")
    return out


def _builder_rejected(daq: dict[str, Any]) -> dict[str, int]:
    builder = _counters(daq, "builder")
    return {str(sid): sum(int(v) for v in (st.get("rejected") or {}).values())
            for sid, st in (builder.get("sources") or {}).items() if isinstance(st, dict)}


class RejectedFrames:
    """Frames of a source rejected since the run started (the builder's counters)."""

    def __init__(self) -> None:
        self.run: int | None = None
        self.start: dict[str, int] = {}

    def __call__(self, s: StateData) -> Items:
        counts = _builder_rejected(s.daq)
        if not counts or s.daq.get("run") != s.run:
            return {"all": (TOO_FEW, "no builder counters for this run")}
        if self.run != s.run:
            self.run, self.start = s.run, counts
        return {f"source {sid}": (MINOR, f"source {sid}: {n - self.start.get(sid, 0)} frames "
                                         "rejected since the run started")
                for sid, n in counts.items() if n > self.start.get(sid, 0)}


class ProcessNotAnswering:
    """A process silent for 3 s or dead while running; restarts since the run started."""

    SILENT_S = 3.0

    def __init__(self) -> None:
        self.run: int | None = None
        self.restarts0 = 0

    def __call__(self, s: StateData) -> Items:
        if not s.daq or s.daq_age_s is None:
            return {"all": (TOO_FEW, "no state from the DAQ")}
        if not _running(s):
            return {}
        out: Items = {}
        for name, p in (s.daq.get("processes") or {}).items():
            age = p.get("heartbeat_age_s")
            if p.get("role") == "source" and not p.get("alive"):
                continue  # a crate ends with its spills; one that fails fails the run
            if not p.get("alive") or (age is not None and age > self.SILENT_S):
                out[name] = (MAJOR, f"{name}: " + ("dead" if not p.get("alive") else
                                                   f"no heartbeat for {age:.0f} s"))
        restarts = sum((s.daq.get("restarts") or {}).values())
        if self.run != s.run:
            self.run, self.restarts0 = s.run, restarts
        if restarts > self.restarts0:
            out["restarts"] = (MINOR, f"{restarts - self.restarts0} restarts this run: "
                                      f"{s.daq.get('restarts')}")
        return out


class FeedStale:
    """The writer writes and the tap takes nothing, or the DAQ's state stops coming. The
    writer's count reaches the tap through its heartbeat and the supervisor's share (1 s
    each): late, so the tap must have taken nothing for WINDOW_S + LAG_S while
    the writer's count moved in the last WINDOW_S (at the beam's pace, 15 s pauses, the
    late count made it alarm about 10 s after every spill)."""

    WINDOW_S = 10.0
    LAG_S = 5.0  # two heartbeats, the share, a publish period: 2-3 s seen, with margin

    def __init__(self) -> None:
        self.history: deque[tuple[float, float, float]] = deque()

    def __call__(self, s: StateData) -> Items:
        if not s.daq or s.daq_age_s is None:
            return {"all": (TOO_FEW, "no state from the DAQ")}
        if s.daq.get("state") == "running" and s.daq_age_s > self.WINDOW_S:
            return {"all": (MAJOR, f"no state from the DAQ for {s.daq_age_s:.0f} s")}
        if not _running(s):
            self.history.clear()
            return {}
        writer = _counters(s.daq, "writer")
        written = float(writer.get("written_events") or 0)
        taken = float(s.counters.get("taken") or 0)
        self.history.append((s.now_s, written, taken))
        span = self.WINDOW_S + self.LAG_S
        while self.history and self.history[0][0] < s.now_s - span:
            self.history.popleft()
        t0, _w0, k0 = self.history[0]
        recent = [w for t, w, _k in self.history if t >= s.now_s - self.WINDOW_S]
        if s.now_s - t0 >= span - 1.0 and written > recent[0] and taken == k0:
            return {"all": (MAJOR, f"the writer wrote {written - recent[0]:.0f} events in the "
                                   f"last {self.WINDOW_S:.0f} s, the monitor took none in "
                                   f"{s.now_s - t0:.0f} s")}
        return {}


def checks() -> tuple[Check, ...]:
    """The checks of ``docs/monitor.md``'s table, in its order (state checks with memory are
    made anew for each evaluator)."""
    return (
        Check("dead channel", "Detector maps",
              "A channel has far fewer hits than in the previous spills: PMT or HV off, a "
              "cable, or its digitizer. Look at its waveform (Detector maps, click the cell); "
              "check its HV in the logbook; call the detector expert.", "spill", dead_channel),
        Check("hot channel", "Detector maps",
              "A channel fires far more often than before: noise or light leak. Look at its "
              "waveforms; if it persists, note it in the logbook and call the detector expert.",
              "spill", hot_channel),
        Check("pedestal jump", "Calibration health",
              "A channel's pedestal moved away from the value in force: the energies of that "
              "channel are off. Check the digitizer; take a pedestal run and write the new "
              "pedestals (calib) after the expert's approval.", "spill", pedestal_jump),
        Check("SRD efficiency", "Physics rates",
              "Fewer calibration electrons carry an SRD tag: SRD HV, timing or the beam's "
              "tune. The signal selection's efficiency falls with it. Call the SRD expert.",
              "spill", srd_efficiency),
        Check("gain drift", "Calibration health",
              "A gain moved: LED pulses of a channel, the calibration peak, or the energy "
              "along the spill. Compare with the HV in force (Logbook); if real, the "
              "calibration expert decides on a new calibration.", "spill", gain_drift),
        Check("rate drop", "Physics rates",
              "Fewer beam triggers per spill than before: lower beam intensity or a trigger "
              "problem. Ask the SPS/beam operators (CCC) about the intensity; check the "
              "trigger rates on the DAQ tab.", "spill", rate_drop),
        Check("beam off", "Overview",
              "A spill without beam triggers: the beam is off or blocked upstream. Ask the "
              "CCC; note it in the logbook; the DAQ may keep running.", "spill", beam_off,
              exact=True),
        Check("ledger imbalance", "DAQ",
              "A spill's events do not add up (triggered != written + rejected): data may be "
              "lost. Note the spill in the logbook, keep the run file, call the DAQ expert.",
              "state", ledger_imbalance, exact=True),
        Check("run error", "DAQ",
              "The run stopped in error; the text names the process it lost. What was taken is "
              "in the run file (na64daq inspect --verify). Stop (it always succeeds) and start "
              "a new run; if it happens again, call the DAQ expert.", "state", run_error,
              exact=True),
        Check("run storage", "DAQ",
              "The run's data cannot be written where they should: a full disk, or a run "
              "directory that became unwritable (permissions, a read-only or lost mount). "
              "What was written is in the run file; free space or mend the directory, then "
              "start a new run (a start is refused until then); call the DAQ expert.", "state",
              run_storage, exact=True),
        Check("incomplete events", "DAQ",
              "A crate is missing from more events than before: it stopped sending or its "
              "link is bad. Check the crate's process on the DAQ tab; stop the run and "
              "restart if it does not recover; call the DAQ expert.", "spill",
              incomplete_events),
        Check("rejected frames", "DAQ",
              "The event builder rejected frames of a crate (malformed or out of order). Look "
              "at the builder's counters on the DAQ tab and call the DAQ expert.", "state",
              RejectedFrames(), exact=True),
        Check("process not answering", "DAQ",
              "A DAQ process stopped answering or was restarted. The supervisor restarts "
              "workers and the tap by itself; if it repeats, stop the run and call the DAQ "
              "expert.", "state", ProcessNotAnswering(), delay_s=3.0,
              undelayed=("restarts",)),
        Check("monitor feed stale", "DAQ",
              "The monitor gets no data while the writer writes, or no state from the DAQ: "
              "what you see is old. The data are being taken. No data: restart the monitor. "
              "No state: run control is stopped or gone; look at the terminal running "
              "'na64daq run' (a Ctrl-Z there is undone with 'fg'). Call the DAQ expert if it "
              "persists.", "state", FeedStale(), delay_s=0.0),
        Check("dimuon yield", "Physics rates",
              "The dimuons per electron on target are off their reference: the muon "
              "counters, the HCAL or the EOT estimate. Check the muon counters on Detector "
              "maps and the beam counters.", "spill", dimuon_yield),
        Check("SRD accidentals", "Physics rates",
              "More accidental SRD tags than before: higher intensity or a noisy SRD. Check "
              "the beam intensity; the signal selection may need a tighter window.", "spill",
              srd_accidentals),
        Check("early saturation", "Calibration health",
              "Energies are low early in the spill: PMT saturation at the spill's high "
              "instantaneous intensity (in NA64 it made signal-like events in a few spills). "
              "Ask the CCC for a smoother spill; note the spills in the logbook.", "spill",
              early_saturation),
    )


CHECK_NAMES = tuple(c.name for c in checks())


@dataclass
class Baseline:
    """The run's closed spills (their histograms and rows) for spill checks' baselines; until
    the run has BASELINE_SPILLS[0] of its own, its reference run's (``reference``: its run
    scope, its spill rows and its name), when there is one."""

    sets: deque = field(default_factory=lambda: deque(maxlen=BASELINE_SPILLS[1] + BASELINE_GAP))
    rows: deque = field(default_factory=lambda: deque(maxlen=BASELINE_SPILLS[1] + BASELINE_GAP))
    reference: tuple[HistogramSet, list[dict[str, Any]], str] | None = None

    def data(self, spill: int, h: HistogramSet, row: dict[str, Any], reference: dict[str, Any],
             detector: Detector) -> SpillData:
        sets = list(self.sets)[:-BASELINE_GAP] if len(self.sets) > BASELINE_GAP else []
        rows = list(self.rows)[:-BASELINE_GAP] if len(self.rows) > BASELINE_GAP else []
        if len(sets) < BASELINE_SPILLS[0] and self.reference is not None:
            base, ref_rows, name = self.reference
            return SpillData(spill, h, row, base, ref_rows, reference, detector, name)
        base = None
        if sets:
            base = sets[0].copy()
            for other in sets[1:]:
                base.add(other)
        return SpillData(spill, h, row, base, rows, reference, detector)

    def append(self, h: HistogramSet, row: dict[str, Any]) -> None:
        self.sets.append(h)
        self.rows.append(row)
