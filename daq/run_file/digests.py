"""SHA-256 of every column of a run's reconstruction: "bit for bit" made checkable."""

from __future__ import annotations

import hashlib

import numpy as np

from daq.run_file import layout as L
from daq.run_file.reader import RunReader

#: The reconstruction's datasets whose columns a reproduction must match.
RECONSTRUCTED = (L.RECO, L.CHANNELS)


def column_digests(run: RunReader, names: tuple[str, ...] = RECONSTRUCTED,
                   chunk_events: int = 4096) -> dict[str, str]:
    """``dataset:column`` -> SHA-256 (hex) of the column's bytes over every event of the run,
    in row order (per-channel columns: events x channels, row-major)."""
    hashes: dict[str, hashlib._Hash] = {}
    for chunk in run.chunks(names, chunk_events):
        for name, table in chunk.items():
            for field in table.dtype.names:
                key = f"{name}:{field}"
                h = hashes.setdefault(key, hashlib.sha256())
                h.update(np.ascontiguousarray(table[field]).tobytes())
    return {k: h.hexdigest() for k, h in hashes.items()}


def differing(a: dict[str, str], b: dict[str, str]) -> list[str]:
    """The columns whose digests differ, or that one side lacks."""
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per value, how many representable floats lie between ``a`` and ``b`` (0: identical,
    NaN and NaN included; a NaN against a number: the largest integer)."""
    kind = {4: np.int32, 8: np.int64}[a.dtype.itemsize]
    ia, ib = (np.ascontiguousarray(x).view(kind).astype(np.int64) for x in (a, b))
    # the sign-magnitude bits as one ordered integer line
    ia = np.where(ia < 0, np.iinfo(kind).min - ia, ia)
    ib = np.where(ib < 0, np.iinfo(kind).min - ib, ib)
    out = np.abs(ia - ib)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    out[nan_a & nan_b] = 0
    out[nan_a ^ nan_b] = np.iinfo(np.int64).max
    return out


def compare_columns(a, b, columns: list[str], chunk_events: int = 4096
                    ) -> dict[str, dict[str, int]]:
    """For each ``dataset:column`` of two runs (``RunReader``), how many values differ and,
    for floats, by at most how many ULP: what "within a few ULP" is checked with."""
    names = sorted({c.split(":")[0] for c in columns})
    out = {c: {"values_differing": 0, "max_ulp": 0} for c in columns}
    for ca, cb in zip(a.chunks(names, chunk_events), b.chunks(names, chunk_events),
                      strict=True):
        for c in columns:
            name, field = c.split(":")
            x, y = ca[name][field], cb[name][field]
            if x.dtype.kind == "f":
                d = ulp_distance(x, y)
                out[c]["values_differing"] += int(np.count_nonzero(d))
                out[c]["max_ulp"] = max(out[c]["max_ulp"], int(d.max(initial=0)))
            else:
                out[c]["values_differing"] += int(np.count_nonzero(x != y))
    return out


#: floats this many representable values apart are within rounding: what another platform
#: (compiler, CPU, numba or LLVM version) may give for the same arithmetic
ROUNDING_ULP = 16


def rounding_report(a, b, chunk_events: int = 4096) -> dict:
    """Two reconstructions of one run (``RunReader``) compared as a reproduction elsewhere
    must be: every float within ``ROUNDING_ULP``, and every class and flag identical except
    in events whose floats are all within rounding (one of their values then sits within
    rounding of a cut). Returns ``max_ulp``, ``events_differing`` ([spill, event, within
    rounding]) and ``within_rounding`` (the verdict)."""
    max_ulp, differing_events = 0, []
    for ca, cb in zip(a.chunks((L.EVENTS, *RECONSTRUCTED), chunk_events),
                      b.chunks((L.EVENTS, *RECONSTRUCTED), chunk_events), strict=True):
        n = len(ca[L.EVENTS])
        event_ulp = np.zeros(n, np.int64)
        other = np.zeros(n, bool)
        for name in RECONSTRUCTED:
            for field in ca[name].dtype.names:
                x, y = ca[name][field].reshape(n, -1), cb[name][field].reshape(n, -1)
                if x.dtype.kind == "f":
                    event_ulp = np.maximum(event_ulp, ulp_distance(x, y).max(axis=1, initial=0))
                else:
                    other |= (x != y).any(axis=1)
        max_ulp = max(max_ulp, int(event_ulp.max(initial=0)))
        for k in np.flatnonzero(other):
            ev = ca[L.EVENTS][k]
            differing_events.append([int(ev["spill"]), int(ev["event"]),
                                     bool(event_ulp[k] <= ROUNDING_ULP)])
    return {"max_ulp": max_ulp, "events_differing": differing_events,
            "within_rounding": max_ulp <= ROUNDING_ULP
            and all(e[2] for e in differing_events)}
