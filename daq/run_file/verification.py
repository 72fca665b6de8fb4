"""Proof that a run file is what its writer wrote: every block's rows re-read and compared with
the CRC-32C stored beside them (``/blocks``). Every command that reads a run file's data
checks it first (:func:`open_verified`); ``--no-verify`` is for experts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from crc32c import crc32c

from daq.run_file import layout as L
from daq.run_file.reader import RunReader


def block_problems(run: RunReader, f: h5py.File, b: np.void, expected: int,
                   n_rows: int, state_rows: np.ndarray | None = None) -> list[str]:
    """What is wrong with one block (its row ``b`` of ``/blocks``): empty if it verifies.
    ``state_rows``: the ``first_row`` column of the file's ``/reco/state`` (format 2)."""
    lo, n = int(b["first_row"]), int(b["n_rows"])
    problems = []
    if lo != expected:
        problems.append(f"starts at row {lo}, not {expected}")
    if lo + n > n_rows:
        problems.append(f"rows {lo}-{lo + n} beyond the {n_rows} in the file")
        return problems
    for name, crc_field in L.ROW_DATASETS.items():
        ds = run._get(f, name)
        if ds is None or (name == L.SAMPLES and b[crc_field] == 0
                          and f.attrs["format"] == L.RECO_FORMAT):
            continue
        try:
            values = np.ascontiguousarray(ds[lo:lo + n])
        except (OSError, ValueError):
            problems.append(f"/{name} unreadable")
            continue
        if crc32c(values) != int(b[crc_field]):
            problems.append(f"/{name} checksum differs")
    if "crc_state" in b.dtype.names:  # format version 2: the block's batches, in order
        a, z = np.searchsorted(state_rows if state_rows is not None else np.zeros(0),
                               [lo, lo + n])
        try:
            mine = np.ascontiguousarray(f[L.RECO_STATE][a:z])
        except (OSError, ValueError, KeyError):
            problems.append(f"/{L.RECO_STATE} unreadable")
        else:
            if crc32c(mine) != int(b["crc_state"]):
                problems.append(f"/{L.RECO_STATE} checksum differs")
    return problems


def scan(run: RunReader, start: tuple[int, int] = (0, 0)) -> Iterator[dict[str, Any]]:
    """One record per block from ``start`` (file index, block): ``file``, ``block``,
    ``rows``, ``problems``; after each file's blocks, one with ``unverified_rows`` (rows
    after its last block: a writer killed between a block's data and its checksum row)."""
    for i, f in enumerate(run.files):
        if i < start[0]:
            continue
        blocks = f[L.BLOCKS][()]
        n_rows = run.rows(f)
        state_rows = _first_rows(f) if "crc_state" in blocks.dtype.names else None
        expected = 0
        for k, b in enumerate(blocks):
            lo, n = int(b["first_row"]), int(b["n_rows"])
            if (i, k) >= start:
                yield {"file": f.filename, "file_index": i, "block": k, "rows": [lo, lo + n],
                       "problems": block_problems(run, f, b, expected, n_rows, state_rows)}
            expected = lo + n
        yield {"file": f.filename, "file_index": i, "unverified_rows": max(0, n_rows - expected)}


def _first_rows(f: h5py.File) -> np.ndarray | None:
    """The ``first_row`` column of ``/reco/state`` (sorted: the rows tile the events)."""
    try:
        return f[L.RECO_STATE].fields("first_row")[()]
    except (OSError, ValueError, KeyError):
        return None


def report_of(records) -> dict[str, Any]:
    """The verification report from :func:`scan`'s records. ``ok`` is true when every block
    matches its checksums and no block is missing rows; unverified rows are not verified
    events."""
    report: dict[str, Any] = {"ok": True, "blocks": 0, "verified_events": 0, "bad_blocks": [],
                              "unverified_rows": 0, "good_blocks": []}
    for r in records:
        if "unverified_rows" in r:
            report["unverified_rows"] += r["unverified_rows"]
            continue
        report["blocks"] += 1
        if r["problems"]:
            report["ok"] = False
            report["bad_blocks"].append({k: r[k] for k in ("file", "block", "rows",
                                                           "problems")})
        else:
            report["verified_events"] += r["rows"][1] - r["rows"][0]
            report["good_blocks"].append([r["file_index"], r["block"]])
    return report


def verify(run: RunReader) -> dict[str, Any]:
    """Every block of the run checked (see :func:`report_of`)."""
    return report_of(scan(run))


def open_verified(path: str | Path, verify_blocks: bool = True) -> RunReader:
    """A run file to read, its blocks verified first (unless ``verify_blocks`` is False): a
    damaged block is a RunFileError naming it, not data read without a word."""
    run = RunReader(path)
    if not verify_blocks:
        return run
    try:
        for r in scan(run):
            if r.get("problems"):
                raise L.RunFileError(
                    f"{r['file']}: block {r['block']} (rows {r['rows'][0]}-{r['rows'][1]}) "
                    f"fails verification: {'; '.join(r['problems'])} ('na64daq recover' keeps "
                    "the intact blocks; --no-verify reads it anyway)")
    except Exception:
        run.close()
        raise
    return run
