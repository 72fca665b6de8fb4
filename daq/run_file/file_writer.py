"""Writes run files (``docs/file-format.md``): provenance first, then blocks of events with a
checksum each, flushed so that SWMR readers see them, rotating to a new file at a size limit.

Speed comes from writing whole blocks of whole chunks (never single events, never shapes left
for h5py to guess) and a byte-shuffle + LZ4 compressor; see ``bench/file_ingest.py``.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from crc32c import crc32c

from daq.core.detector import Detector
from daq.core.run_database import software_version
from daq.run_file import layout as L
from daq.run_file.sample_chunks import DIRECT, SampleChunkWriter

_FAILED_FILES: list = []  # see RunFileWriter.close
#: a spill's events, as its ledger counts what the writer did with them
SPILL_COUNTS = ("complete", "incomplete", "not_written")


@dataclass
class FileHeader:
    """What every file of a run carries before its data."""

    run: int
    detector: Detector
    provenance: dict[str, str]  # dataset name -> text (JSON, or the map's TOML)
    attrs: dict[str, Any] = field(default_factory=dict)  # e.g. truth_file, source_file
    format: str = L.FORMAT
    raw: bool = True  # a re-reconstruction links to its source's samples instead
    name: str | None = None  # one file of this name (recovery, re-reconstruction), no sequence
    run_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class WriterSettings:
    chunk_events: int = 128
    block_events: int = 1024
    compression: str = "blosc-lz4"
    max_file_mb: float = 0.0  # 0: never rotate


class RunFileWriter:
    """One run's file sequence. A failed write (disk full, ...) is remembered in ``failed``:
    from then on events are counted as not written, and what was flushed before stays
    readable."""

    def __init__(self, directory: str | Path, header: FileHeader, settings: WriterSettings):
        self.directory = Path(directory)
        self.header = header
        self.settings = settings
        self.index = 0
        self.failed: str | None = None
        self.pending: list[tuple[np.ndarray, ...]] = []
        self.pending_states: list[np.ndarray] = []
        self.n_pending = 0
        #: spill -> its events written (complete, incomplete) or not, by the events' own
        #: spill: a later spill's events may come before an earlier spill's end (a crate
        #: that lost its EOS), and counting up to the EOS gave them to the wrong spill
        self.counts: dict[int, dict[str, int]] = {}
        self.written_events = 0  # this run
        self.written_bytes = 0  # raw samples, uncompressed
        self.paths: list[Path] = []
        self.f: h5py.File | None = None
        #: why the next file of the sequence could not be created (the run goes on in this
        #: one, over its size), or None
        self.rotation_refused: str | None = None
        try:
            self._open()
        except OSError as exc:
            self.failed = str(exc)
            raise

    # -- files -----------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.paths[-1]

    def _open(self) -> None:
        """File ``index`` of the run; nothing changes if it cannot be created."""
        h = self.header
        path = self.directory / (h.name or L.file_name(h.run, self.index))
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            f = h5py.File(path, "w-", libver=L.LIBVER)  # never over a file already taken
        except OSError as exc:
            raise OSError(f"{path}: cannot create ({_reason(exc)})") from None
        self.paths.append(path)
        self.f = f
        self.sample_chunks: SampleChunkWriter | None = None
        f.attrs.update(format=h.format, format_version=L.FORMAT_VERSION, run=h.run,
                       run_uuid=h.run_uuid, file_index=self.index,
                       created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
                       software_version=software_version(), host=socket.gethostname(),
                       raw_compression=self.settings.compression if h.raw else "",
                       truth_file="")
        f.attrs.update(L.provenance_attrs({**h.provenance, "detector_map": h.detector.text,
                                           **{k: str(v) for k, v in h.attrs.items()}}))
        f.attrs.update(h.attrs)
        prov = f.create_group(L.PROVENANCE)
        for name, text in h.provenance.items():
            prov.create_dataset(name, data=text, dtype=h5py.string_dtype())
        prov.create_dataset("detector_map", data=h.detector.text, dtype=h5py.string_dtype())
        prov["channels"] = L.channel_table(h.detector)
        n_ch, n_s = h.detector.n_channels, h.detector.samples_per_channel
        chunk = self.settings.chunk_events
        packed = L.compression(self.settings.compression)  # the tables compress well too
        self.ds = {L.EVENTS: self._growing(L.EVENTS, (), chunk),
                   L.RECO: self._growing(L.RECO, (), chunk, **packed),
                   L.CHANNELS: self._growing(L.CHANNELS, (n_ch,), chunk, **packed)}
        if h.raw:
            self.ds[L.SAMPLES] = self._growing(L.SAMPLES, (n_ch, n_s), chunk, np.uint16,
                                               **packed)
            self.ds[L.SAMPLES].attrs.update(
                channels=[c.name for c in h.detector.channels],
                sample_period_ns=h.detector.sample_period_ns)
            if self.settings.compression in DIRECT:
                self.sample_chunks = SampleChunkWriter(self.ds[L.SAMPLES],
                                                       self.settings.compression)
        elif "source_file" in h.attrs:
            f["raw"] = h5py.ExternalLink(h.attrs["source_file"], "/raw")
        for name in (L.BLOCKS, L.SPILLS):
            self.ds[name] = self._growing(name, (), 64)
        self.ds[L.RECO_STATE] = self._growing(L.RECO_STATE, (), 64, L.state_dtype(n_ch))
        for name in (L.SPILL_LEDGERS, L.RUN_END):  # JSON lines in bytes: SWMR readers cannot
            self.ds[name] = self._growing(name, (), 4096, np.uint8)  # follow variable strings
        if h.attrs.get("truth_file"):
            f["truth"] = h5py.ExternalLink(h.attrs["truth_file"], "/truth")
        f.swmr_mode = True  # from here on readers may open the file; no new objects
        f.flush()

    def _growing(self, name: str, shape: tuple, chunk: int, dtype=None, **kw) -> h5py.Dataset:
        ds = self.f.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape),
                                   dtype=dtype or L.DTYPES[name], chunks=(chunk, *shape), **kw)
        units = L.UNITS[name]
        ds.attrs.update(units=units if isinstance(units, str) else json.dumps(units),
                        description=L.DESCRIPTIONS[name])
        return ds

    def _rotate(self) -> None:
        """On in the next file of the sequence; if it cannot be created (the directory
        became unwritable), on in this one, over its size: the run's data are not lost to
        a file-size convenience. Tried again at the next block."""
        current = self.f
        self.index += 1
        try:
            self._open()
        except OSError as exc:
            self.index -= 1
            self.rotation_refused = str(exc)
            return
        self.rotation_refused = None
        current.close()

    # -- data ------------------------------------------------------------------------------
    def append(self, events: np.ndarray, samples: np.ndarray | None, reco: np.ndarray,
               channels: np.ndarray, state: np.ndarray | None = None) -> None:
        """Queue a batch; it is written with the next block (HDF5 is fastest in big blocks).
        ``state``: its ``/reco/state`` row (``layout.state_row``; default: none recorded)."""
        if self.failed:
            self._tally(events, "not_written")
            return
        if state is None:
            state = L.state_row(self.header.detector.n_channels, len(events), None)
        self.pending.append((events, samples, reco, channels))
        self.pending_states.append(state)
        self.n_pending += len(events)
        if self.n_pending >= self.settings.block_events:
            self.write_block()

    def write_block(self) -> None:
        """Write the queued batches as one block with its checksums and flush; on failure count
        them not written (the spill's ledger then says exactly what is in the file)."""
        if not self.pending:
            return
        batches, self.pending, n = self.pending, [], self.n_pending
        states, self.pending_states = np.concatenate(self.pending_states), []
        self.n_pending = 0
        columns = {name: i for i, name in enumerate(L.ROW_DATASETS)}  # append()'s order
        direct = self.sample_chunks is not None
        # one array per dataset (h5py writes one big selection far faster than many small
        # ones), but the samples go straight from the batches to compressed chunks
        values = {name: _concat_rows([b[i] for b in batches]) for name, i in columns.items()
                  if name in self.ds and not (direct and name == L.SAMPLES)}
        block = np.zeros(1, L.BLOCK_DTYPE)
        try:
            n0 = self.ds[L.EVENTS].shape[0]
            for name, v in values.items():
                ds = self.ds[name]
                ds.resize(n0 + n, axis=0)
                ds[n0:] = v
                block[L.ROW_DATASETS[name]] = crc32c(v)
            if direct:
                samples = [np.ascontiguousarray(b[1]) for b in batches]
                self.ds[L.SAMPLES].resize(n0 + n, axis=0)
                self.sample_chunks.append(samples)
                crc = 0
                for a in samples:
                    crc = crc32c(a, crc)
                block["crc_samples"] = crc
            block["first_row"], block["n_rows"], block["time_unix_s"] = n0, n, time.time()
            states["first_row"] = n0 + np.concatenate(([0], np.cumsum(states["n_rows"])[:-1]))
            block["crc_state"] = crc32c(states)
            append_rows(self.ds[L.RECO_STATE], states)
            append_rows(self.ds[L.BLOCKS], block)
            self.f.flush()
            self._drop_cached_pages()
        except (OSError, RuntimeError, ValueError) as exc:  # HDF5 raises all three
            self._tally(values[L.EVENTS], "not_written")
            self.failed = f"{self.path}: write failed ({_reason(exc)})"
            raise OSError(self.failed) from None
        self.written_events += n
        self._tally(values[L.EVENTS])
        if L.SAMPLES in self.ds:
            self.written_bytes += sum(b[1].nbytes for b in batches)
        limit = self.settings.max_file_mb
        if limit and not self.header.name and os.path.getsize(self.path) >= limit * 1e6:
            self._rotate()

    def _drop_cached_pages(self) -> None:
        """Tell the kernel that the file's written pages will not be read again (it starts
        writing back the dirty ones and frees the clean ones). Otherwise the page cache grows
        by every byte written: on this project's VM, once a run had written some 3-4 GB, new
        cache pages cost the writer 2.5 times as much per event (12 -> 30 us), and the memory
        is the other processes'."""
        try:
            os.posix_fadvise(self.f.id.get_vfd_handle(), 0, 0, os.POSIX_FADV_DONTNEED)
        except (AttributeError, OSError, ValueError):  # not Linux, or not a plain file
            pass

    def flush(self) -> None:
        if not self.failed:
            self.write_block()

    def write_spill(self, row: np.ndarray, ledger: dict[str, Any]) -> None:
        """The spill's ``/spills`` row and full ledger, flushed (after the spill's events)."""
        if self.failed:
            return
        try:
            append_rows(self.ds[L.SPILLS], row)
            append_rows(self.ds[L.SPILL_LEDGERS], _json_line(ledger))
            self.f.flush()
        except (OSError, RuntimeError, ValueError) as exc:  # HDF5 raises all three
            self.failed = f"{self.path}: write failed ({_reason(exc)})"

    def _tally(self, events: np.ndarray, key: str | None = None) -> None:
        """Count events under their spills: written (complete or not), or as ``key``."""
        for spill in np.unique(events["spill"]).tolist():
            of = events[events["spill"] == spill]
            c = self.counts.setdefault(spill, dict.fromkeys(SPILL_COUNTS, 0))
            if key is not None:
                c[key] += len(of)
            else:
                complete = int(of["complete"].sum())
                c["complete"] += complete
                c["incomplete"] += len(of) - complete

    def take_spill_counts(self, spill: int) -> dict[str, int]:
        """Spill ``spill``'s counts, at its end (``SPILL_COUNTS``)."""
        return self.counts.pop(spill, dict.fromkeys(SPILL_COUNTS, 0))

    def close(self, run_end: dict[str, Any] | None) -> None:
        """Write what is queued and, if the run ended, its ledger and summary; close."""
        if self.f is None:
            return
        if not self.failed:
            try:
                self.write_block()
                if run_end is not None:
                    append_rows(self.ds[L.RUN_END], _json_line(run_end))
                self.f.close()
            except (OSError, RuntimeError):
                pass  # counted; the run's ledger still reaches the run record
        if self.failed:
            # HDF5 crashes when the objects of a file whose write failed are released (h5py
            # issue 914): keep them for the life of the process, which then exits without
            # the library's clean-up. What was flushed before the failure stays readable.
            _FAILED_FILES.append((self.f, self.ds))
        self.f = None
        self.ds = {}


def append_rows(ds: h5py.Dataset, values: np.ndarray) -> None:
    """Grow a dataset of unlimited first axis by ``values``."""
    n = ds.shape[0]
    ds.resize(n + len(values), axis=0)
    ds[n:] = values


def _concat_rows(arrays: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate`` along the rows, as bytes: 16x faster for structured arrays."""
    first = arrays[0]
    raw = [np.ascontiguousarray(a).reshape(len(a), -1).view(np.uint8) for a in arrays]
    return np.concatenate(raw).view(first.dtype).reshape(-1, *first.shape[1:])


def _json_line(value: Any) -> np.ndarray:
    return np.frombuffer((json.dumps(value) + "\n").encode(), np.uint8)


def directory_problem(directory: str | os.PathLike) -> str | None:
    """Why ``directory`` cannot take a new run file now, or None. A file is created and
    removed there: permissions, a read-only or immutable directory and a full disk all show
    (``os.access`` ignores some of these for root)."""
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".na64daq-probe-"):
            pass
    except OSError as exc:
        return f"{directory}: cannot create a file ({exc.strerror or exc})"
    return None


def _reason(exc: BaseException) -> str:
    """The useful part of an HDF5 error ('No space left on device', ...)."""
    text = str(exc)
    for known in ("No space left on device", "File too large", "Permission denied",
                  "Read-only file system", "Disk quota exceeded"):
        if known in text:
            return known.lower()
    errno_text = os.strerror(exc.errno) if getattr(exc, "errno", None) else ""
    return errno_text or text.split("(")[0].strip() or exc.__class__.__name__
