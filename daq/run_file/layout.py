"""Every name, type and unit of a run file (``docs/file-format.md``), in one place, so that the
writer, the reader, the verification and the recovery cannot disagree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from daq.core.built_batch import BUILT_DTYPE
from daq.core.records import CHANNEL_DTYPE, RECO_DTYPE

FORMAT = "na64daq-run"
RECO_FORMAT = "na64daq-reco"  # a re-reconstruction of a run file (``na64daq reco``)
#: 2: the learnt state of every batch (``reco/state``), and the HDF5 1.10 file format
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
#: The oldest HDF5 file format that keeps SWMR: what HDF5 1.10 (Debian's tools, MATLAB, C++
#: programs) reads. Newer libraries write newer object headers otherwise.
LIBVER = ("v110", "v110")

EVENTS = "events"
SAMPLES = "raw/samples"
RECO = "reco/events"
CHANNELS = "reco/channels"
RECO_STATE = "reco/state"
BLOCKS = "blocks"
SPILLS = "spills"
SPILL_LEDGERS = "spill_ledgers"
RUN_END = "run_end"
PROVENANCE = "provenance"
#: The per-event datasets, each with its block checksum column, in the order the writer's
#: ``append`` takes them.
ROW_DATASETS = {EVENTS: "crc_events", SAMPLES: "crc_samples", RECO: "crc_reco",
                CHANNELS: "crc_channels"}

BLOCK_DTYPE_V1 = np.dtype([("first_row", "<u8"), ("n_rows", "<u4"), ("crc_events", "<u4"),
                           ("crc_samples", "<u4"), ("crc_reco", "<u4"),
                           ("crc_channels", "<u4"), ("time_unix_s", "<f8")])
#: version 2: and the CRC-32C of the block's ``/reco/state`` rows
BLOCK_DTYPE = np.dtype(BLOCK_DTYPE_V1.descr + [("crc_state", "<u4")])
SPILL_DTYPE = np.dtype([("spill", "<u4"), ("start_ns", "<u8"), ("end_ns", "<u8"),
                        ("triggered", "<i8"), ("written_complete", "<i8"),
                        ("written_incomplete", "<i8"), ("rejected", "<i8"),
                        ("dropped_by_policy", "<i8"), ("unaccounted", "<i8"), ("balanced", "u1"),
                        ("eot_estimate", "<f8"), ("eot_error", "<f8"),
                        ("gain_drift_first", "<f4"), ("gain_drift_last", "<f4")])


def state_dtype(n_channels: int) -> np.dtype:
    """``/reco/state``: per reconstructed batch, its rows and the state it was reconstructed
    with (``daq.reco.reconstruction.LearntState``); ``recorded`` 0: none came with it."""
    return np.dtype([("first_row", "<u8"), ("n_rows", "<u4"), ("recorded", "u1"),
                     ("pedestal_adc", "<f8", (n_channels, 2)), ("drift_sums", "<f8", (6,))])


def state_row(n_channels: int, n_rows: int, state: Any) -> np.ndarray:
    """One ``/reco/state`` row for a batch of ``n_rows`` events from the state a worker sent
    (``{"pedestal_adc": [[even, odd], ...], "drift_sums": [6 numbers]}``); anything else,
    or nothing, gives a row with ``recorded`` 0 and NaNs."""
    row = np.zeros(1, state_dtype(n_channels))
    row["n_rows"] = n_rows
    try:
        ped = np.array(state["pedestal_adc"], np.float64)
        drift = np.array(state["drift_sums"], np.float64)
        if ped.shape != (n_channels, 2) or drift.shape != (6,):
            raise ValueError("shape")
    except (TypeError, KeyError, ValueError):
        row["pedestal_adc"] = np.nan
        row["drift_sums"] = np.nan
        return row
    row["recorded"] = 1
    row["pedestal_adc"] = ped
    row["drift_sums"] = drift
    return row


CHANNEL_INFO_DTYPE = np.dtype([("name", "S16"), ("detector", "S8"), ("source", "<u2"),
                               ("module", "<i2"), ("x", "<i2"), ("y", "<i2")])

#: units and descriptions written as attributes of every dataset
UNITS: dict[str, Any] = {
    EVENTS: {"spill": "", "event": "", "trigger": "1 physics, 2 calibration, 3 random",
             "complete": "0/1", "missing": "bit k: k-th source of the map missing",
             "trigger_time_ns": "ns since the start of the spill"},
    SAMPLES: "ADC counts",
    RECO: {name: ("GeV" if name.startswith("e_") else "cells" if name.startswith("ecal_")
                  and name.endswith("cells") else "") for name in RECO_DTYPE.names},
    CHANNELS: {"amplitude_adc": "ADC counts", "time_ns": "ns from the window start",
               "n_pulses": "", "flags": "pulse flags (docs/reconstruction.md)"},
    BLOCKS: {"first_row": "", "n_rows": "", "crc_events": "CRC-32C",
             "crc_samples": "CRC-32C", "crc_reco": "CRC-32C", "crc_channels": "CRC-32C",
             "time_unix_s": "s", "crc_state": "CRC-32C"},
    SPILLS: {name: "" for name in SPILL_DTYPE.names} | {
        "start_ns": "ns, the crates' clock (SOS)", "end_ns": "ns, the crates' clock (EOS)",
        "eot_estimate": "electrons", "eot_error": "electrons"},
    SPILL_LEDGERS: "JSON lines, UTF-8 bytes",
    RUN_END: "JSON lines, UTF-8 bytes",
    RECO_STATE: {"first_row": "", "n_rows": "", "recorded": "0/1",
                 "pedestal_adc": "ADC counts (channels x even/odd)",
                 "drift_sums": "weighted sums n, t, t^2, r, t r, r^2 (t in s, r = E/E_beam)"},
}
DESCRIPTIONS = {
    EVENTS: "one row per built event, in the builder's order",
    SAMPLES: "MSADC samples (events x channels in the map's order x samples)",
    RECO: "per-event reconstruction (docs/reconstruction.md)",
    CHANNELS: "per-channel in-time pulse (events x channels)",
    BLOCKS: "one row per written block: CRC-32C of each dataset's rows",
    SPILLS: "one row per end of spill: loss ledger, electrons on target, gain drift",
    SPILL_LEDGERS: "each spill's full ledger with every stage's counters",
    RUN_END: "the run's ledger and summary, once the run has ended",
    RECO_STATE: "one row per reconstructed batch: its rows and the learnt state it was "
                "reconstructed with (docs/reconstruction.md)",
}
#: what a reader also accepts, from files of format version 1
OLDER_DTYPES = {BLOCKS: BLOCK_DTYPE_V1}
DTYPES = {EVENTS: BUILT_DTYPE, RECO: RECO_DTYPE, CHANNELS: CHANNEL_DTYPE, BLOCKS: BLOCK_DTYPE,
          SPILLS: SPILL_DTYPE}


class RunFileError(ValueError):
    """A run file is missing, unreadable, damaged or not what it claims to be."""


def provenance_attrs(texts: dict[str, str]) -> dict[str, str]:
    """What every file says of its making beside ``software_version``: the SHA-256 of all its
    inputs (every provenance text, by name), of its configuration (the DAQ's and the
    reconstruction's) and its calibration's tag."""
    import hashlib
    import json

    def sha(*parts: str) -> str:
        h = hashlib.sha256()
        for part in parts:
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()

    try:
        tag = str(json.loads(texts.get("calibration") or "{}").get("tag", ""))
    except (ValueError, AttributeError):
        tag = ""
    return {"inputs_sha256": sha(*(f"{k}={texts[k]}" for k in sorted(texts))),
            "config_sha256": sha(texts.get("daq_config", ""), texts.get("reco_config", "")),
            "calibration_tag": tag}


def compression(name: str) -> dict[str, Any]:
    """The h5py keywords of a raw-sample compressor (``writer.compression``)."""
    if name == "none":
        return {}
    if name == "gzip":
        return {"compression": "gzip", "compression_opts": 1, "shuffle": True}
    import hdf5plugin  # registers the filters with HDF5

    shuffle = hdf5plugin.Blosc.BITSHUFFLE if name.endswith("bitshuffle") else \
        hdf5plugin.Blosc.SHUFFLE
    return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=shuffle))


def file_name(run: int, index: int = 0) -> str:
    """``run_NNNNNN.h5``, then ``run_NNNNNN_001.h5``, ... for the rotated continuation files."""
    return f"run_{run:06d}.h5" if index == 0 else f"run_{run:06d}_{index:03d}.h5"


def truth_file_name(run: int) -> str:
    """The emulator's truth of an emulated run, written beside its run file by one source."""
    return f"run_{run:06d}.truth.h5"


def monitor_file_name(run: int) -> str:
    """The run's monitor histograms, saved beside its run file (``docs/monitor.md``)."""
    return f"run_{run:06d}.monitor.h5"


_SEQUENCE = re.compile(r"run_(\d{6,})(?:_(\d{3,}))?\.h5")


def sequence(path: Path) -> list[Path]:
    """The files of the run that ``path`` belongs to, in order: ``path`` alone unless its name
    is a run file's (``run_NNNNNN[_KKK].h5``)."""
    m = _SEQUENCE.fullmatch(path.name)
    if m is None:
        return [path]
    run = int(m.group(1))
    found = [path.parent / file_name(run)]
    for p in sorted(path.parent.glob(f"run_{run:06d}_*.h5")):
        m2 = _SEQUENCE.fullmatch(p.name)
        if m2 and m2.group(2):
            found.append(p)
    return [p for p in found if p.exists()] or [path]


def channel_table(detector) -> np.ndarray:
    """``/provenance/channels``: the map's channels, readable without the TOML."""
    return np.array([(c.name.encode(), c.detector.encode(), c.source, c.module, c.x, c.y)
                     for c in detector.channels], CHANNEL_INFO_DTYPE)


def open_h5(path: Path, allow_short: bool = False) -> h5py.File:
    """Open a run file for reading (always SWMR: a file being written, or whose writer died,
    opens too) with a :class:`RunFileError` naming what is wrong."""
    import hdf5plugin  # noqa: F401 - the raw samples' filters

    try:
        missing = shortfall(path)
        if missing and not allow_short:
            raise RunFileError(f"{path}: truncated ({missing} bytes missing); 'na64daq "
                               "recover' saves the blocks that are intact")
        return h5py.File(path, "r", swmr=True)
    except FileNotFoundError:
        raise RunFileError(f"{path}: no such file") from None
    except (OSError, RuntimeError) as exc:  # HDF5 raises either for a damaged file
        reason = str(exc).split("(", 1)[0].strip() or exc.__class__.__name__
        if not path.exists():
            reason = "no such file"
        elif path.stat().st_size < 512:
            reason = f"truncated ({path.stat().st_size} bytes)"
        raise RunFileError(f"{path}: not a readable HDF5 file ({reason})") from None


def shortfall(path: Path) -> int:
    """How many bytes ``path`` lacks. HDF5 reads what lies past the end of a file as zeros
    (and may loop on zeroed metadata): a truncated file would give zeros for data. The
    end-of-file address in the superblock (versions 2 and 3: ``LIBVER`` writes 3) says how
    long the file must be. A writer that ran out of space leaves such a short file too,
    intact up to its last flush."""
    with open(path, "rb") as fh:
        head = fh.read(48)
    if head[:8] != b"\x89HDF\r\n\x1a\n" or head[8] not in (2, 3) or head[9] != 8:
        return 0  # not ours: HDF5 itself will say what it is
    return max(0, int.from_bytes(head[28:36], "little") - path.stat().st_size)
