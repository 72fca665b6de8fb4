"""Reading run files: a run (one file or a rotated sequence) as numpy columns in chunks, the
reconstruction as a pandas DataFrame. Opens files while they are written (SWMR) and files whose
writer died; anything that is not a sound run file is a :class:`RunFileError`.

    with RunReader("runs/run_000012.h5") as run:
        for chunk in run.chunks(["events", "reco/events"]):
            ...
        df = run.reco_dataframe()
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from daq.run_file import layout as L
from daq.run_file.structure_check import check_structure


class RunReader:
    def __init__(self, path: str | Path, allow_short: bool = False):
        """``allow_short``: open a file shorter than it should be (truncated, or its writer
        ran out of space): for recovery, which trusts only verified blocks."""
        path = Path(path)
        self.files: list[h5py.File] = []
        try:
            for p in L.sequence(path):
                self.files.append(L.open_h5(p, allow_short=allow_short))
            self._check()
        except Exception:
            self.close()
            raise
        self.path = path
        first = self.files[0]
        self.format = str(first.attrs["format"])
        self.run = int(first.attrs["run"])
        self.run_uuid = str(first.attrs["run_uuid"])

    def _check(self) -> None:
        uid = None
        for k, f in enumerate(self.files):
            where = f.filename
            fmt = f.attrs.get("format")
            if fmt not in (L.FORMAT, L.RECO_FORMAT):
                raise L.RunFileError(f"{where}: not a na64daq run file (format attribute "
                                     f"{fmt!r})")
            version = f.attrs.get("format_version")
            if version not in L.READABLE_VERSIONS:
                raise L.RunFileError(f"{where}: run-file format version {version}; this "
                                     "na64daq reads versions "
                                     f"{', '.join(map(str, L.READABLE_VERSIONS))}")
            if f.attrs.get("file_index") != k:
                raise L.RunFileError(f"{where}: file {f.attrs.get('file_index')} of its run "
                                     f"where file {k} was expected (a file of the sequence "
                                     "is missing)")
            if uid is not None and f.attrs.get("run_uuid") != uid:
                raise L.RunFileError(f"{where}: belongs to another run than "
                                     f"{self.files[0].filename} (run_uuid differs)")
            uid = f.attrs.get("run_uuid")
            check_structure(f)  # before any object is opened: nothing points elsewhere
            for name in (L.EVENTS, L.RECO, L.CHANNELS, L.BLOCKS, L.SPILLS, L.RUN_END,
                         L.PROVENANCE):
                if name not in f:
                    raise L.RunFileError(f"{where}: damaged run file (no /{name})")
            for name in (L.EVENTS, L.RECO, L.CHANNELS, L.BLOCKS, L.SPILLS):
                if f[name].dtype not in (L.DTYPES[name], L.OLDER_DTYPES.get(name)):
                    raise L.RunFileError(f"{where}: damaged run file (/{name} has type "
                                         f"{f[name].dtype})")

    # -- what the run is -------------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        return {k: (v.item() if hasattr(v, "item") else v)
                for k, v in self.files[0].attrs.items()}

    @property
    def has_raw(self) -> bool:
        return self._get(self.files[0], L.SAMPLES) is not None

    def provenance(self, name: str) -> str:
        ds = self.files[0][L.PROVENANCE].get(name)
        if ds is None:
            raise L.RunFileError(f"{self.files[0].filename}: no provenance {name!r}")
        value = ds[()]
        return value.decode() if isinstance(value, bytes) else str(value)

    def provenance_json(self, name: str, missing_ok: bool = False) -> Any:
        """``missing_ok``: None for a provenance that files of an older writer lack."""
        if missing_ok and name not in self.files[0][L.PROVENANCE]:
            return None
        try:
            return json.loads(self.provenance(name))
        except ValueError:
            raise L.RunFileError(f"{self.files[0].filename}: provenance {name!r} is not "
                                 "JSON") from None

    def rows(self, f: h5py.File) -> int:
        """Events of one file up to its last flush (every row dataset has them)."""
        names = [n for n in L.ROW_DATASETS if self._get(f, n) is not None]
        return min(f[n].shape[0] for n in names)

    @property
    def n_events(self) -> int:
        return sum(self.rows(f) for f in self.files)

    def refresh(self) -> None:
        """See what the writer has flushed since (a reader open during the run)."""
        for f in self.files:
            for name in (*L.ROW_DATASETS, L.BLOCKS, L.SPILLS, L.SPILL_LEDGERS, L.RUN_END,
                         L.RECO_STATE):
                ds = self._get(f, name)
                if ds is not None:
                    ds.refresh()

    # -- data ------------------------------------------------------------------------------
    def chunks(self, names: Sequence[str] = (L.EVENTS, L.RECO), chunk_events: int = 4096
               ) -> Iterator[dict[str, np.ndarray]]:
        """The run's rows ``chunk_events`` at a time: a dict name -> array per chunk."""
        for f in self.files:
            n = self.rows(f)
            dsets = {name: self._need(f, name) for name in names}
            for lo in range(0, n, chunk_events):
                hi = min(lo + chunk_events, n)
                yield {name: self.read_rows(ds, lo, hi) for name, ds in dsets.items()}

    def batches(self, names: Sequence[str] = (L.EVENTS, L.SAMPLES)
                ) -> Iterator[tuple[np.void, dict[str, np.ndarray]]]:
        """The run's rows batch by batch as they were reconstructed, each with its
        ``/reco/state`` row; a RunFileError if a file records no state (format version 1)
        or its state rows do not tile its events."""
        for f in self.files:
            states = self._get(f, L.RECO_STATE)
            if states is None:
                raise L.RunFileError(f"{f.filename}: records no learnt state per batch "
                                     "(format version 1); '--relearn' learns it afresh")
            n = self.rows(f)
            dsets = {name: self._need(f, name) for name in names}
            expected = 0
            for row in self.read_rows(states, 0, states.shape[0]):
                lo, hi = int(row["first_row"]), int(row["first_row"] + row["n_rows"])
                if hi > n:  # a block whose events were not flushed
                    break
                if lo != expected:
                    raise L.RunFileError(f"{f.filename}: /{L.RECO_STATE} does not tile the "
                                         f"events (a batch at row {lo}, {expected} expected)")
                expected = hi
                yield row, {name: self.read_rows(ds, lo, hi) for name, ds in dsets.items()}
            if expected != n:
                raise L.RunFileError(f"{f.filename}: /{L.RECO_STATE} covers {expected} of "
                                     f"its {n} events")

    def column(self, name: str, field: str | None = None) -> np.ndarray:
        """A whole dataset (or one field of it) over every file of the run."""
        parts = []
        for f in self.files:
            ds = self._need(f, name)
            n = self.rows(f) if name in L.ROW_DATASETS else ds.shape[0]
            values = self.read_rows(ds, 0, n)
            parts.append(values[field] if field else values)
        return np.concatenate(parts)

    def spills(self) -> np.ndarray:
        return self.column(L.SPILLS)

    def spill_ledgers(self) -> list[dict[str, Any]]:
        return [x for f in self.files for x in _json_lines(f[L.SPILL_LEDGERS])]

    def run_end(self) -> dict[str, Any] | None:
        """The run's final ledger and summary; None if the run did not close."""
        lines = _json_lines(self.files[-1][L.RUN_END])
        return lines[0] if lines else None

    def reco_dataframe(self):
        """The event table and the per-event reconstruction as one pandas DataFrame; vector
        fields become columns ``name_0``, ``name_1``, ..."""
        import pandas as pd

        events, reco = self.column(L.EVENTS), self.column(L.RECO)
        return pd.DataFrame(flat_columns(events) | flat_columns(reco))

    # -- internals -------------------------------------------------------------------------
    @staticmethod
    def _get(f: h5py.File, name: str) -> h5py.Dataset | None:
        try:
            return f.get(name)
        except (KeyError, OSError):  # an external link whose file is gone
            return None

    def _need(self, f: h5py.File, name: str) -> h5py.Dataset:
        ds = self._get(f, name)
        if ds is None:
            raise L.RunFileError(f"{f.filename}: no /{name}")
        return ds

    @staticmethod
    def read_rows(ds: h5py.Dataset, lo: int, hi: int) -> np.ndarray:
        """Rows lo..hi-1 of a dataset, or a RunFileError naming the damage."""
        try:
            return ds[lo:hi]
        except (OSError, ValueError) as exc:
            raise L.RunFileError(f"{ds.file.filename}: /{ds.name.lstrip('/')} rows {lo}-{hi} "
                                 f"cannot be read ({str(exc).split('(')[0].strip()})") from None

    def close(self) -> None:
        for f in self.files:
            try:
                f.close()
            except OSError:
                pass
        self.files = []

    def __enter__(self) -> RunReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json_lines(ds: h5py.Dataset) -> list[Any]:
    try:
        text = ds[()].tobytes().decode()
        return [json.loads(line) for line in text.splitlines() if line]
    except (OSError, ValueError):
        raise L.RunFileError(f"{ds.file.filename}: /{ds.name.lstrip('/')} is damaged "
                             "(not JSON lines)") from None


def flat_columns(table: np.ndarray) -> dict[str, np.ndarray]:
    """The fields of a structured array as 1-d columns (``e_hcal_gev_0``, ...): what pandas
    and ROOT trees take."""
    out = {}
    for name in table.dtype.names:
        col = table[name]
        if col.ndim == 1:
            out[name] = col
        else:
            for k in range(col.shape[1]):
                out[f"{name}_{k}"] = col[:, k]
    return out
