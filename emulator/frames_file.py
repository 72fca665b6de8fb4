"""The emulator's own HDF5 file: the frames' content (event tables and samples per source) and
the truth, so that replay can re-stream a run byte for byte and tests can compare with truth.
A truth file written beside a published run has the same layout without the samples.
Layout in ``docs/emulator.md``. (The DAQ's run files are a different, later format.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from daq.core.config_schema import to_dict
from daq.core.run_database import software_version
from daq.core.wire_format import EVENT_DTYPE
from daq.run_file.file_writer import append_rows
from daq.run_file.layout import FORMAT as DAQ_FORMAT
from daq.run_file.layout import (
    LIBVER,
    RunFileError,  # one error for every kind of run file
    provenance_attrs,
)
from daq.run_file.structure_check import check_structure
from emulator.config import CLASS_NAMES, RunSection
from emulator.emulator import Batch, Emulator, SpillPlan

FORMAT = "na64daq-emulated-run"
FORMAT_VERSION = 1
SPILL_DTYPE = np.dtype([("spill", "<u4"), ("start_ns", "<u8"), ("end_ns", "<u8"),
                        ("n_events", "<u4")])
#: Per-event truth datasets and their units (pileup_* are per pileup particle).
TRUTH_UNITS = {
    "class": "", "deposit_gev": "GeV", "e_ecal_gev": "GeV", "e_preshower_gev": "GeV",
    "e_hcal_module_gev": "GeV", "t_peak_ns": "ns", "gain_factor": "", "n_pileup": "",
    "n_pileup_window": "", "pileup_event": "", "pileup_time_ns": "ns", "pileup_class": "",
}


class EmulatedRunWriter:
    """Appends batches as they are generated; flushes at the end of every spill."""

    def __init__(self, path: str | Path, emulator: Emulator, with_samples: bool = True):
        self.path = Path(path)
        try:
            # HDF5 1.10 reads it. No chunk cache: rows are appended, never read back, and with
            # one (1 MB a dataset, HDF5's default) the truth-writing crate's memory grew with
            # every row written: 0.21 MB a spill, 300 MB over 8 hours of beam (measured with
            # h5py alone, 20 datasets of 1,024-row chunks filled 128 rows at a time: 140 MB
            # more over 133 MB written; without the cache, none)
            self.file = h5py.File(self.path, "w", libver=LIBVER, rdcc_nbytes=0)
        except OSError as exc:
            raise RunFileError(f"{self.path}: cannot create ({exc})") from None
        cfg, det = emulator.cfg, emulator.detector
        f = self.file
        f.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, run=cfg.run.number,
                       seed=cfg.run.seed, batch_events=cfg.run.batch_events,
                       start_time_ns=cfg.run.start_time_ns,
                       config=json.dumps(to_dict(cfg)), detector_map=det.path,
                       class_names=json.dumps(CLASS_NAMES),
                       software_version=software_version(),
                       **provenance_attrs({"config": json.dumps(to_dict(cfg)),
                                           "detector_map": det.text}))
        self.n_events = 0
        self.events = _growing(f, "events", (), EVENT_DTYPE, 1024)
        self.event_spill = _growing(f, "event_spill", (), np.uint32, 1024)
        self.spills = _growing(f, "spills", (), SPILL_DTYPE, 64)
        self.samples = {}
        for src in det.sources if with_samples else ():
            shape = (len(src.channels), det.samples_per_channel)
            ds = _growing(f, f"sources/{src.id}/samples", shape, np.uint16, cfg.run.batch_events,
                          compression="lzf")
            ds.attrs.update(units="ADC counts",
                            channels=[det.channels[i].name for i in src.channels])
            self.samples[src.id] = ds
        cal = f.create_group("calibration_truth")
        cal["hv_v"] = emulator.hv_v
        cal["adc_per_gev"] = emulator.adc_per_gev
        cal["pedestal_adc"] = emulator.pedestal
        cal["channel"] = np.array([c.name for c in det.channels], dtype="S")
        self.truth: dict[str, h5py.Dataset] = {}

    def append(self, batch: Batch) -> None:
        n = len(batch.events)
        append_rows(self.events, batch.events)
        append_rows(self.event_spill, np.full(n, batch.spill, np.uint32))
        for sid, ds in self.samples.items():
            append_rows(ds, batch.samples[sid])
        for name, values in batch.truth.items():
            if name in ("event", "trigger"):
                continue
            if name == "pileup_event":
                values = values + self.n_events  # make it a global event index
            if name not in self.truth:
                self.truth[name] = _growing(self.file, f"truth/{name}", values.shape[1:],
                                            values.dtype, 1024)
                self.truth[name].attrs["units"] = TRUTH_UNITS.get(name, "")
            append_rows(self.truth[name], values)
        self.n_events += n

    def end_spill(self, plan: SpillPlan) -> None:
        rec = np.array([(plan.spill, plan.start_ns, plan.end_ns, len(plan.triggers))],
                       SPILL_DTYPE)
        append_rows(self.spills, rec)
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def write_run(emulator: Emulator, path: str | Path) -> EmulatedRunWriter:
    """Emulate the configured run into ``path``."""
    writer = EmulatedRunWriter(path, emulator)
    try:
        for spill in range(1, emulator.cfg.run.spills + 1):
            plan = emulator.spill_plan(spill)
            for batch in emulator.batches(plan):
                writer.append(batch)
            writer.end_spill(plan)
    finally:
        writer.close()
    return writer


@dataclass
class EmulatedRun:
    """An emulated run loaded into memory."""

    path: Path
    run: int
    batch_events: int
    start_time_ns: int
    spills: np.ndarray  # SPILL_DTYPE
    events: np.ndarray  # EVENT_DTYPE
    event_spill: np.ndarray
    samples: dict[int, np.ndarray]
    truth: dict[str, np.ndarray]
    config: dict


def read_run(path: str | Path, truth: bool = True, verify_blocks: bool = True) -> EmulatedRun:
    """Load an emulated run (or a DAQ's run file, its blocks verified unless
    ``verify_blocks`` is False); a file that is not one gives a :class:`RunFileError`."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise RunFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise RunFileError(f"{path}: not a readable HDF5 file ({exc})") from None
    with f:
        if f.attrs.get("format") == DAQ_FORMAT:
            f.close()
            return read_daq_run(path, verify_blocks)
        if f.attrs.get("format") != FORMAT:
            raise RunFileError(f"{path}: not an emulated run file (format attribute "
                               f"{f.attrs.get('format')!r})")
        if f.attrs.get("format_version") != FORMAT_VERSION:
            raise RunFileError(f"{path}: emulated-run format version "
                               f"{f.attrs.get('format_version')} is not {FORMAT_VERSION}")
        check_structure(f)
        try:
            spills = f["spills"][()]
            events = f["events"][()]
            event_spill = f["event_spill"][()]
            sources = f.get("sources", {})
            samples = {int(k): sources[k]["samples"][()] for k in sources}
            tr = {k: f["truth"][k][()] for k in f["truth"]} if truth and "truth" in f else {}
            run = EmulatedRun(path, int(f.attrs["run"]), int(f.attrs["batch_events"]),
                              int(f.attrs["start_time_ns"]), spills, events, event_spill,
                              samples, tr, json.loads(f.attrs["config"]))
        except (KeyError, OSError, ValueError) as exc:
            raise RunFileError(f"{path}: damaged emulated run ({exc})") from None
    n = len(events)
    if events.dtype != EVENT_DTYPE or len(event_spill) != n or any(
            len(s) != n for s in samples.values()):
        raise RunFileError(f"{path}: damaged emulated run (tables of different lengths)")
    if int(spills["n_events"].sum()) != n:
        raise RunFileError(f"{path}: damaged emulated run (spill table counts "
                           f"{int(spills['n_events'].sum())} events, event table {n})")
    return run


def read_daq_run(path: str | Path, verify_blocks: bool = True) -> EmulatedRun:
    """A run file written by the DAQ, as the replay needs it: the events with their spills'
    start and end times and each source's share of the samples, in the batching of the
    configuration it was taken with. Replayed, an emulated run gives its original frames
    byte for byte (its incomplete events, if any, with zeros for the missing crates)."""
    from daq.core.detector import Detector, DetectorMapError
    from daq.run_file import layout as L
    from daq.run_file.verification import open_verified

    with open_verified(path, verify_blocks) as run:
        try:
            detector = Detector.from_text(run.provenance("detector_map"), f"{path} map")
        except DetectorMapError as exc:
            raise RunFileError(f"{path}: damaged provenance ({exc})") from None
        config = run.provenance_json("daq_config").get("emulator", {})
        built = run.column(L.EVENTS)
        samples = run.column(L.SAMPLES)
        spill_rows = run.spills()
    events = np.zeros(len(built), EVENT_DTYPE)
    for name in ("event", "trigger", "trigger_time_ns"):
        events[name] = built[name]
    numbers, counts = np.unique(built["spill"], return_counts=True)
    n_per_spill = dict(zip(numbers.tolist(), counts.tolist(), strict=True))
    spills = np.zeros(len(spill_rows), SPILL_DTYPE)
    for name in ("spill", "start_ns", "end_ns"):
        spills[name] = spill_rows[name]
    spills["n_events"] = [n_per_spill.get(int(s), 0) for s in spill_rows["spill"]]
    if int(spills["n_events"].sum()) != len(events):
        raise RunFileError(f"{path}: events of spills without an end-of-spill row (a run that "
                           "did not close: 'na64daq recover' it first)")
    by_source = {sid: np.ascontiguousarray(samples[:, np.asarray(detector.source(sid).channels)])
                 for sid in detector.source_ids}
    run_cfg = config.get("run", {})
    start = int(run_cfg.get("start_time_ns", spills["start_ns"][0] if len(spills) else 0))
    batch = int(run_cfg.get("batch_events", RunSection().batch_events))
    return EmulatedRun(Path(path), int(run.run), batch, start, spills, events,
                       built["spill"].astype(np.uint32), by_source, {}, config)


def _growing(f: h5py.File, name: str, shape: tuple, dtype, chunk: int, **kw) -> h5py.Dataset:
    return f.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                            chunks=(chunk, *shape), **kw)
