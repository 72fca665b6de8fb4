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
